""".tflite operators whose IR form is a lowering or a few layout ops: what the TFLite converter writes for
Keras Conv2DTranspose (TRANSPOSE_CONV), pixel shuffles (DEPTH_TO_SPACE), tf.stack / tf.unstack (PACK /
UNPACK), reductions other than MEAN (SUM, REDUCE_MAX, REDUCE_MIN) and a matrix product by a constant
(BATCH_MATMUL, as a Keras Dense on a rank-3 tensor or an einsum can be converted).

- TRANSPOSE_CONV (inputs: output shape, filter [out, kh, kw, in], x, optional bias): TFLite's padding is
  the forward conv's from the output to the input (kernels/padding.h: total = (out' - 1) * s + k - n_out,
  half of it on top / left), the rest of the full output at the bottom / right.  That is ONNX's
  ConvTranspose with pads (t, l, b, r), or output_padding where the declared output is larger, so
  lowering.conv_transpose writes it: zero insertion and a stride-1 Conv2D, the fused activation its clamp.
  In an int8 file the zero-inserted map keeps the input's quantization (the inserted taps are its zero
  point, so each output's int32 sum is TFLite Micro's scatter sum) and the conv takes the file's int8
  filter, flipped, with its scales and int32 bias: the quantize pass gives it TFLite's conv arithmetic.
- DEPTH_TO_SPACE: TensorFlow's order, out[h*b + i, w*b + j, c] = in[h, w, (i*b + j) * C' + c], is the IR
  DepthToSpace in DCR mode.
- PACK: each input reshaped with the new axis of 1, then one Concat; UNPACK: one Slice and one Reshape
  per output (the split's own ops).
- SUM / REDUCE_MAX / REDUCE_MIN over adjacent axes (ReducerOptions keep_dims): a Mean times the reduced
  count, a max pool over the reduced block, and -max(-x), as the ONNX importer writes ReduceSum,
  ReduceMax and ReduceMin (importers/onnx_reduce.py says why each is exact in int8).
- BATCH_MATMUL of a computed x [..., M, K] by a constant [K, N] (adj_y: [N, K]), leading ones of the
  constant dropped: a FullyConnected over the rows of x.
In int8 files TRANSPOSE_CONV, and DEPTH_TO_SPACE, PACK, UNPACK and REDUCE_MAX (copies: TFLite Micro
requires the output quantized as the input, and so does edgec), are taken; SUM, REDUCE_MIN and
BATCH_MATMUL have TFLite Micro arithmetic of their own, not implemented: refused by name."""
from __future__ import annotations

import math

import numpy as np

from .. import mean
from ..ir import Node, Tensor, unique_name
from ..shapes import output_shapes
from .lowering import conv_transpose
from .tflite_params import ACTIVATIONS

OPS = ("TRANSPOSE_CONV", "DEPTH_TO_SPACE", "PACK", "UNPACK", "SUM", "REDUCE_MAX", "REDUCE_MIN", "BATCH_MATMUL")
#: the ones an int8 file may have (the copies keep their input's quantization)
INT8_OPS = ("TRANSPOSE_CONV", "DEPTH_TO_SPACE", "PACK", "UNPACK", "REDUCE_MAX")
#: inputs whose values must be constant: the output shape, the filter and the bias of TRANSPOSE_CONV,
#: the axes of the reductions, the constant operand of BATCH_MATMUL
CONSTANT_INPUTS = {"TRANSPOSE_CONV": (0, 1, 3), "SUM": (1,), "REDUCE_MAX": (1,), "REDUCE_MIN": (1,), "BATCH_MATMUL": (1,)}


def options(name: str, o) -> dict:
    """The options table of one of OPS, as plain values."""
    if name == "TRANSPOSE_CONV":
        return {"padding": o.Padding(), "stride": (o.StrideH(), o.StrideW()), "act": o.FusedActivationFunction()}
    if name == "DEPTH_TO_SPACE":
        return {"block": o.BlockSize()}
    if name in ("PACK", "UNPACK"):
        return {"axis": o.Axis()}
    if name in ("SUM", "REDUCE_MAX", "REDUCE_MIN"):
        return {"keep_dims": bool(o.KeepDims())}
    if name == "BATCH_MATMUL":
        return {"adj_x": bool(o.AdjX()), "adj_y": bool(o.AdjY())}
    return {}


def option_classes() -> dict:
    import tflite
    return {"TRANSPOSE_CONV": tflite.TransposeConvOptions, "DEPTH_TO_SPACE": tflite.DepthToSpaceOptions,
            "PACK": tflite.PackOptions, "UNPACK": tflite.UnpackOptions, "SUM": tflite.ReducerOptions,
            "REDUCE_MAX": tflite.ReducerOptions, "REDUCE_MIN": tflite.ReducerOptions,
            "BATCH_MATMUL": tflite.BatchMatMulOptions}


def check(imp, name, ins, outs, opt, bad) -> None:
    """What this module takes of each operator; anything else is named through `bad`."""
    t = imp.tensors
    if any(k >= len(ins) or (ins[k] >= 0 and t[ins[k]].data is None) for k in CONSTANT_INPUTS.get(name, ())
           if not (name == "TRANSPOSE_CONV" and k == 3 and len(ins) < 4)):
        bad(f"{name} whose {'output shape, filter or bias' if name == 'TRANSPOSE_CONV' else 'parameters'} are not constant")
        return
    x = t[ins[2] if name == "TRANSPOSE_CONV" else ins[0]]
    r = len(x.shape)
    if not imp.is_float and name == "TRANSPOSE_CONV":
        w = t[ins[1]]
        if w.type != 9 or not w.quantized or np.any(w.zero_point != 0) or (len(w.scale) > 1 and w.axis != 0):
            bad("TRANSPOSE_CONV whose filter is not int8, symmetric, per tensor or per output channel")
            return
        if len(ins) > 3 and ins[3] >= 0 and t[ins[3]].type != 2:
            bad("TRANSPOSE_CONV whose bias is not int32 (an int16x8 file)")
            return
    elif not imp.is_float and any(t[i].quantized and t[o].quantized and (float(t[i].scale[0]), int(t[i].zero_point[0])) !=
                                  (float(t[o].scale[0]), int(t[o].zero_point[0])) for i in ins[:1] for o in outs) \
            or not imp.is_float and name == "PACK" and len({(float(t[i].scale[0]), int(t[i].zero_point[0])) for i in ins}) > 1:
        bad(f"int8 {name} whose output is quantized unlike its input (TFLite Micro requires them equal)")
        return
    if name == "TRANSPOSE_CONV":
        w, o = t[ins[1]], t[outs[0]]
        if "stride" not in opt:
            bad("TRANSPOSE_CONV without its options (strides, padding)")
        elif r != 4 or len(w.shape) != 4 or w.shape[3] != x.shape[3] or len(o.shape) != 4:
            bad(f"TRANSPOSE_CONV of a {list(x.shape)} input by a {list(w.shape)} filter (NHWC and [out, kh, kw, in])")
        elif any(v < 1 for v in opt.get("stride", ())) or opt.get("padding", 0) not in (0, 1):
            bad("TRANSPOSE_CONV with invalid strides or padding")
        elif _pads(x.shape, w.shape, o.shape, opt) is None:
            bad(f"TRANSPOSE_CONV whose output {list(o.shape)} its input {list(x.shape)}, filter and strides cannot give")
        elif opt.get("act", 0) not in ACTIVATIONS:
            bad("TRANSPOSE_CONV with a fused activation other than NONE/RELU/RELU6/RELU_N1_TO_1")
    elif name == "DEPTH_TO_SPACE":
        b = opt.get("block", 0)
        if r != 4 or b < 1 or x.shape[3] % (b * b):
            bad(f"DEPTH_TO_SPACE of block {b} on a {list(x.shape)} tensor")
    elif name in ("PACK", "UNPACK"):
        rank = r + 1 if name == "PACK" else r
        if not -rank <= opt.get("axis", 0) < rank or (name == "PACK" and len({tuple(t[i].shape) for i in ins}) != 1):
            bad(f"{name} along axis {opt.get('axis', 0)} of rank-{r} tensors of different shapes" if name == "PACK"
                else f"UNPACK along axis {opt.get('axis', 0)} of a rank-{r} tensor")
        elif name == "UNPACK" and x.shape[opt.get("axis", 0) % r] != len(outs):
            bad(f"UNPACK of {x.shape[opt.get('axis', 0) % r]} into {len(outs)} outputs")
    elif name in ("SUM", "REDUCE_MAX", "REDUCE_MIN"):
        axes = _axes(imp, ins, r)
        if axes is None or not axes or not mean.adjacent(np.asarray(axes), r):
            bad(f"{name} over axes {t[ins[1]].data.reshape(-1).tolist()[:8]} of a rank-{r} tensor "
                "(edgec reduces adjacent axes)")
    elif name == "BATCH_MATMUL":
        w = t[ins[1]]
        if opt.get("adj_x") or r < 2 or w.type != 0 or w.data.ndim < 2 or any(d != 1 for d in w.data.shape[:-2]) or \
                w.data.shape[-1 if opt.get("adj_y") else -2] != x.shape[-1]:
            bad(f"BATCH_MATMUL other than of a computed [..., M, K] by a constant float32 [K, N] "
                f"(here {list(x.shape)} by {list(w.shape)}{', adj_x' if opt.get('adj_x') else ''})")


def import_op(imp, name, ins, outs, opt) -> None:
    """The IR nodes of one operator (checked by `check`) into the importer's float graph."""
    t = imp.tensors
    b = _Builder(imp, ins[2] if name == "TRANSPOSE_CONV" else ins[0])
    if name == "TRANSPOSE_CONV":
        x, w, o = t[ins[2]], t[ins[1]], t[outs[0]]
        pads, out_pad = _pads(x.shape, w.shape, o.shape, opt)
        bi = ins[3] if len(ins) > 3 else -1
        y = imp.act(outs[0])

        def weights(ohwi):          # the equivalent conv's: the file's own in an int8 file
            if imp.is_float:
                return imp.float_weights(ins[1], bi, ohwi, ohwi.shape[0])[:2]
            return imp.weights(ins[1], bi, imp.qparams(ins[2])[0], ohwi.astype(np.int8), ohwi.shape[0])[:2]
        conv_transpose(b, y, imp.act(ins[2]), np.transpose(np.asarray(w.data, np.float32), (3, 0, 1, 2)),
                       None, opt["stride"], pads, out_pad, (1, 1), 1, out=y, act=ACTIVATIONS[opt.get("act", 0)],
                       weights=weights)
    elif name == "DEPTH_TO_SPACE":
        b.emit("DepthToSpace", imp.act(outs[0]), [imp.act(ins[0])], imp.act(outs[0]),
               {"block": int(opt["block"]), "mode": "DCR"})
    elif name == "PACK":
        y = imp.act(outs[0])
        shape = t[ins[0]].shape
        axis = opt.get("axis", 0) % (len(shape) + 1)
        one = tuple(shape[:axis]) + (1,) + tuple(shape[axis:])
        parts = [b.emit("Reshape", f"{y}_part{k}", [imp.act(i)], None, {"shape": one}) for k, i in enumerate(ins)]
        b.emit("Concat", y, parts, y, {"axis": axis})
    elif name == "UNPACK":
        shape = t[ins[0]].shape
        axis = opt.get("axis", 0) % len(shape)
        for k, o in enumerate(outs):
            begin = [0] * len(shape)
            end = list(shape)
            begin[axis], end[axis] = k, k + 1
            piece = b.emit("Slice", f"{imp.act(o)}_slice", [imp.act(ins[0])], None, {"begin": tuple(begin), "end": tuple(end)})
            b.emit("Reshape", imp.act(o), [piece], imp.act(o), {"shape": tuple(t[o].shape)})
    elif name in ("SUM", "REDUCE_MAX", "REDUCE_MIN"):
        _reduce(imp, b, name, ins, outs, opt)
    elif name == "BATCH_MATMUL":
        _matmul(imp, b, ins, outs, opt)


class _Builder:
    """The builder lowering.py's functions take (shape_of, const, emit, context) over the importer's
    graph: a node's output is the named TFLite tensor when `out` is one, else a new tensor (in an int8 file
    quantized as TFLite tensor `like`: the copies' and the zero insertion's input)."""

    def __init__(self, imp, like: int):
        self.imp, self.context, self.like = imp, imp.path, like       # like: new tensors are quantized as it

    def shape_of(self, tensor):
        return self.imp.fg[tensor].shape

    def const(self, base, array):
        n = unique_name(self.imp.used, base)
        self.imp.used.add(n)
        a = np.ascontiguousarray(array, np.float32)
        self.imp.fg[n] = Tensor(n, a.shape, "float32", a)
        return n

    def emit(self, op, name, inputs, out=None, attrs=None):
        attrs = dict(attrs or {})
        shape = output_shapes(Node(op, name, list(inputs), [], attrs), [self.imp.fg[i].shape for i in inputs])[0]
        if out is None or out not in self.imp.fg:
            out = self.imp.extra_act(out or name, tuple(shape), self.like)
        self.imp.node(op, name, list(inputs), [out], attrs)
        return out


def _pads(x_shape, w_shape, o_shape, opt):
    """((t, l, b, r), output_padding) of TRANSPOSE_CONV as ONNX ConvTranspose means them, or None where no
    padding gives the declared output.  TFLite's top / left padding is the forward conv's from the output:
    total = (out' - 1) * s + k - n_out, out' = ceil(n_out / s) (SAME) or the VALID count, halved; the
    bottom / right is what is left of the full output (n_in - 1) * s + k, or output padding if it is short."""
    pads, extra = [0, 0, 0, 0], [0, 0]
    for a in range(2):
        n_in, k, n_out, s = x_shape[1 + a], w_shape[1 + a], o_shape[1 + a], opt["stride"][a]
        forward = -(-n_out // s) if opt.get("padding", 0) == 0 else max(0, (n_out - k + s) // s)
        before = max(0, (forward - 1) * s + k - n_out) // 2
        after = (n_in - 1) * s + k - before - n_out
        if after < 0 and -after >= s:
            return None
        pads[a], pads[2 + a], extra[a] = before, max(after, 0), max(-after, 0)
    return tuple(pads), tuple(extra)


def _axes(imp, ins, rank):
    a = [int(v) for v in np.asarray(imp.tensors[ins[1]].data).reshape(-1)]
    if any(not -rank <= v < rank for v in a) or len({v % rank for v in a}) != len(a):
        return None
    return sorted(v % rank for v in a)


def _reduce(imp, b, name, ins, outs, opt):
    x, y = imp.act(ins[0]), imp.act(outs[0])
    shape = imp.tensors[ins[0]].shape
    axes = _axes(imp, ins, len(shape))
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    block = (1, math.prod(shape[:axes[0]]), math.prod(shape[axes[0]:axes[-1] + 1]), math.prod(shape[axes[-1] + 1:]))
    if name == "SUM":
        m = b.emit("Mean", f"{y}_mean", [x], None, {"axes": tuple(axes), "keep": True})
        r = b.emit("Mul", f"{y}_sum", [m, b.const(f"{y}_count", np.float32(block[2]))], None, {"act": None})
    else:
        src = x if name == "REDUCE_MAX" else b.emit("Mul", f"{y}_negated", [x, b.const(f"{y}_minus_one", np.float32(-1))],
                                                    None, {"act": None})
        rows = b.emit("Reshape", f"{y}_rows", [src], None, {"shape": block})
        pooled = b.emit("MaxPool2D", f"{y}_max", [rows], None,
                        {"kernel": (1, block[2]), "strides": (1, 1), "pads": (0, 0, 0, 0), "act": None})
        r = b.emit("Reshape", f"{y}_kept", [pooled], None, {"shape": kept})
        if name == "REDUCE_MIN":
            r = b.emit("Mul", f"{y}_min", [r, b.const(f"{y}_minus_one", np.float32(-1))], None, {"act": None})
    b.emit("Reshape", y, [r], y, {"shape": tuple(imp.tensors[outs[0]].shape)})


def _matmul(imp, b, ins, outs, opt):
    x, y = imp.act(ins[0]), imp.act(outs[0])
    shape = imp.tensors[ins[0]].shape
    w = np.asarray(imp.tensors[ins[1]].data, np.float32)
    w = w.reshape(w.shape[-2:])
    w_nk = w if opt.get("adj_y") else w.T
    k = shape[-1]
    rows = b.emit("Reshape", f"{y}_rows", [x], None, {"shape": (math.prod(shape) // k, k)}) if len(shape) != 2 else x
    fc = b.emit("FullyConnected", y, [rows, b.const(f"{y}_weights", w_nk), b.const(f"{y}_bias", np.zeros(w_nk.shape[0]))],
                None if len(shape) != 2 else y, {"act": None})
    if len(shape) != 2:
        b.emit("Reshape", f"{y}_shaped", [fc], y, {"shape": tuple(imp.tensors[outs[0]].shape)})
