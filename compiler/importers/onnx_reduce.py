"""ONNX reductions, variadic and gate ops, written with the IR ops that already have kernels.

- ReduceMean / ReduceMax over any set of axes that is contiguous in the tensor's IR layout (H,W of a
  feature map, its channels, the last axes of a matrix), keepdims either way, axes as an attribute
  (opset < 18) or as an input (opset 18, what PyTorch's dynamo exporter writes for `x.mean([2, 3])`).
  The reduced block is an average/max pool: the IR tensor [.., A, R, B ..] is read as [1, A, R, B]
  (a Reshape moves no data) and pooled with a 1 x R window.  Over a feature map's H,W that is the
  global pool itself; over its channels it is a pool along the NHWC tensor's last axis.
- ReduceMin / ReduceSum over the same axes (axes an input from opset 13, as ReduceSum has it, or an
  attribute): min(x) = -max(-x), a ReduceMax between two Muls by -1 (each a requantization: int8
  negation is exact up to the one rounding of the new scale); sum(x) = N * mean(x), a ReduceMean then
  a Mul by the reduced element count N (the mean's int8 grid scaled by N: no precision lost to it).
- Sum / Max / Min of any number of inputs: a chain of binary ops.  Max(a, b) = a + relu(b - a) and
  Min(a, b) = a - relu(a - b) for two computed tensors (each step an int8 kernel); against a constant
  scalar they are a Clip.  A Clip with a bound computed at run time is Min(Max(x, min), max) of these.
- PRelu: one slope is LeakyRelu (a lookup table); per-channel slopes s give
  PRelu(x) = s * x + (1 - s) * relu(x) (two per-channel Muls by constants and an Add).

Each handler writes ONNX nodes of ops the importer already knows (or IR nodes directly) and hands them
to the importer's own handlers, so layout, broadcasting and quantization stay where they are defined.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError

CORRUPT = "the file may be corrupt; check it with onnx.checker.check_model and re-export it"


def reduce_axes(imp, node, a, rank):
    """The reduced ONNX axes (sorted, non-negative), or None for 'no reduction' (noop_with_empty_axes)."""
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = imp.const_in(node, 1, f"{node.op_type} axes")
    axes = [] if axes is None else [int(x) for x in np.asarray(axes).reshape(-1)]
    if any(not -rank <= x < rank for x in axes) or len({x % rank for x in axes}) != len(axes):
        raise ModelFormatError(f"{node.op_type} axes {axes} of a rank-{rank} tensor", where=imp.where(node), hint=CORRUPT)
    if not axes:
        return None if imp.a_int(node, a, "noop_with_empty_axes", 0) else list(range(rank))
    return sorted(x % rank for x in axes)


def reduce(pool_op, fold):
    """ReduceMean (pool_op "AvgPool2D", fold np.mean) or ReduceMax ("MaxPool2D", np.max)."""
    def handler(imp, node, a):
        x = node.input[0]
        rank = len(imp.shape(x))
        axes = reduce_axes(imp, node, a, rank)
        keep = imp.a_int(node, a, "keepdims", 1)
        if x in imp.consts:
            c = np.asarray(imp.consts[x], np.float32)
            imp.set_const(node, c if axes is None else fold(c, axis=tuple(axes), keepdims=bool(keep)).astype(np.float32))
            return
        v = imp.val(x)
        if axes is None:
            imp.set(node.output[0], v.ir, v.perm)
            return
        perm, ir = v.perm, v.ir
        pos = sorted(perm[j] for j in axes)
        if pos != list(range(pos[0], pos[-1] + 1)):          # not one block in the IR layout: in ONNX order?
            ir, perm, pos = imp.plain(x), tuple(range(rank)), axes
            if pos != list(range(pos[0], pos[-1] + 1)):
                raise UnsupportedOpError(f"{node.op_type} over axes {axes} that are not adjacent", where=imp.where(node),
                                         hint="reduce over adjacent axes (H and W, or the channels)")
        shape = imp.tensors[ir].shape
        name = node.name or node.output[0]
        kept = tuple(1 if i in pos else d for i, d in enumerate(shape))
        if len(shape) == 4 and pos == [1, 2]:                 # a feature map's H, W: the global pool
            out = imp.emit(pool_op, name, [ir], node.output[0], {"kernel": tuple(shape[1:3]), "strides": (1, 1),
                                                                 "pads": (0, 0, 0, 0), "act": None})
        else:
            block = (1, math.prod(shape[:pos[0]]), math.prod(shape[pos[0]:pos[-1] + 1]), math.prod(shape[pos[-1] + 1:]))
            rows = imp.emit("Reshape", f"{name}_rows", [ir], f"{node.output[0]}_rows", {"shape": block})
            pooled = imp.emit(pool_op, name, [rows], f"{node.output[0]}_pooled",
                              {"kernel": (1, block[2]), "strides": (1, 1), "pads": (0, 0, 0, 0), "act": None})
            out = imp.emit("Reshape", f"{name}_kept", [pooled], node.output[0], {"shape": kept})
        if keep:
            imp.set(node.output[0], out, perm)
            return
        left = [i for i in range(len(shape)) if i not in pos]          # IR axes that stay, in IR order
        squeezed = imp.emit("Reshape", f"{name}_squeezed", [out], f"{node.output[0]}_squeezed",
                            {"shape": tuple(shape[i] for i in left)})
        imp.set(node.output[0], squeezed, tuple(left.index(perm[j]) for j in range(rank) if j not in axes))
    return handler


def reduce_min(imp, node, a):
    """ReduceMin = -ReduceMax(-x) (see the module docstring); constants fold."""
    if node.input[0] in imp.consts:
        return reduce("MaxPool2D", np.min)(imp, node, a)
    minus = _const(imp, node, "minus_one", -1.0)
    neg = _sub_node(imp, node, "Mul", [node.input[0], minus], "negated")
    peak = _sub_node(imp, node, "ReduceMax", [neg] + list(node.input[1:]), "max", **_kept_attrs(a))
    _sub_node(imp, node, "Mul", [peak, minus], "")


def reduce_sum(imp, node, a):
    """ReduceSum = count * ReduceMean(x) (see the module docstring); constants fold."""
    if node.input[0] in imp.consts:
        return reduce("AvgPool2D", np.sum)(imp, node, a)
    rank = len(imp.shape(node.input[0]))
    axes = reduce_axes(imp, node, a, rank)
    if axes is None:                                            # noop_with_empty_axes and no axes: x itself
        imp.dispatch(node, "Identity")
        return
    count = math.prod(int(imp.shape(node.input[0])[i]) for i in axes)
    mean = _sub_node(imp, node, "ReduceMean", list(node.input), "mean", **_kept_attrs(a))
    _sub_node(imp, node, "Mul", [mean, _const(imp, node, "count", float(count))], "")


def _kept_attrs(a):
    return {k: v for k, v in a.items() if k in ("axes", "keepdims", "noop_with_empty_axes")}


def _const(imp, node, tag, value):
    """An ONNX-level constant for the nodes a handler writes."""
    name = f"{node.output[0]}::{tag}"
    imp.consts[name] = np.asarray(value, np.float32)
    return name


def _sub_node(imp, node, op, inputs, tag, **attrs):
    """Runs the importer's handler for an ONNX node `op` written here; returns its output's name."""
    from onnx import helper
    out = f"{node.output[0]}::{tag}" if tag else node.output[0]
    sub = helper.make_node(op, inputs, [out], name=f"{node.name or node.output[0]}_{tag}" if tag else node.name, **attrs)
    imp.dispatch(sub)
    return out


def _scalar_const(imp, name):
    return name in imp.consts and np.asarray(imp.consts[name]).size == 1


def variadic(kind):
    """Sum, Max or Min of one or more inputs."""
    def pair(imp, node, x, y, tag):
        if kind == "Sum":
            return _sub_node(imp, node, "Add", [x, y], tag)
        if _scalar_const(imp, x) and y not in imp.consts:
            x, y = y, x
        if x not in imp.consts and _scalar_const(imp, y):          # against a constant: a Clip
            bounds = [y, ""] if kind == "Max" else ["", y]
            return _sub_node(imp, node, "Clip", [x] + bounds, tag)
        if x in imp.consts and y in imp.consts:
            out = f"{node.output[0]}::{tag}" if tag else node.output[0]
            imp.consts[out] = (np.maximum if kind == "Max" else np.minimum)(np.asarray(imp.consts[x], np.float32),
                                                                            np.asarray(imp.consts[y], np.float32))
            return out
        # max(a, b) = a + relu(b - a);  min(a, b) = a - relu(a - b)
        d = _sub_node(imp, node, "Sub", [y, x] if kind == "Max" else [x, y], f"{tag}diff")
        r = _sub_node(imp, node, "Relu", [d], f"{tag}relu")
        return _sub_node(imp, node, "Add" if kind == "Max" else "Sub", [x, r], tag)

    def handler(imp, node, a):
        ins = [i for i in node.input if i]
        if len(ins) == 1:
            imp.dispatch(node, "Identity")
            return
        acc = ins[0]
        for k, nxt in enumerate(ins[1:]):
            last = k == len(ins) - 2
            acc = pair(imp, node, acc, nxt, "" if last else f"part{k}")
    return handler


def clip_tensor_bounds(imp, node):
    """Clip whose min or max is a tensor computed by the model (PyTorch's TorchScript exporter writes
    one for torch.clamp with 0-d tensor bounds, e.g. clamp(y, y.mean(), y.amax())): Min(Max(x, min),
    max), as ONNX defines Clip, each a Max / Min above (a Clip again where that bound is a constant
    scalar); a bound may broadcast against x."""
    x, lo, hi = (list(node.input) + ["", ""])[:3]
    rank = len(imp.shape(x))

    def same_rank(b, tag):
        """A computed bound of lower rank (a 0-d mean) broadcasts as ONNX does: leading 1s prepended."""
        shape = imp.shape(b)
        if b in imp.consts or len(shape) >= rank:
            return b
        imp.consts[f"{node.output[0]}::{tag}_shape"] = np.array((1,) * (rank - len(shape)) + tuple(shape), np.int64)
        return _sub_node(imp, node, "Reshape", [b, f"{node.output[0]}::{tag}_shape"], f"{tag}_rank")
    if lo:
        x = _sub_node(imp, node, "Max", [x, same_rank(lo, "min")], "min" if hi else "")
    if hi:
        _sub_node(imp, node, "Min", [x, same_rank(hi, "max")], "")


def prelu(imp, node, a):
    slope = np.asarray(imp.const_in(node, 1, "PRelu slope"), np.float32)
    x = node.input[0]
    if slope.size == 1:
        _sub_node(imp, node, "LeakyRelu", [x], "", alpha=float(slope.reshape(-1)[0]))
        return
    scaled = _sub_node(imp, node, "Mul", [x, _const(imp, node, "slope", slope)], "negative")
    relu = _sub_node(imp, node, "Relu", [x], "relu")
    rest = _sub_node(imp, node, "Mul", [relu, _const(imp, node, "one_minus_slope", 1 - slope)], "positive")
    _sub_node(imp, node, "Add", [scaled, rest], "")
