"""Keras EinsumDense (issue 18: the dense layer models write as an einsum, "btf,fg->btg" a per-step
projection, "abc,cde->abde" a multi-head one), as a FullyConnected between Transposes and Reshapes.

The equation's input labels are the kept ones (in the output: the batch, the steps ...) and the
contracted ones (in the kernel, not in the output); the kernel's other labels are the output features.
The input is transposed to (kept..., contracted...) and read as a [rows, K] matrix, the kernel as
[M, K], the bias (bias_axes: some of the feature labels, broadcast over the others) as M values; the
FullyConnected's output is reshaped to (kept..., features...) and transposed to the output's order.
Anything else (a kernel label kept in the output, an input label neither kept nor contracted, a bias
over a kept label, a label repeated) is refused with the equation named.  The activation is applied
by the caller (keras.py), element-wise after the layout ops."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError

HINT = "edgec compiles EinsumDense whose kernel holds the contracted labels and the output features"


def einsum_dense(b, name, cfg, ins, w):
    eq = cfg.get("equation")
    if not isinstance(eq, str) or "->" not in eq or eq.count(",") != 1 or "." in eq:
        raise UnsupportedOpError(f"EinsumDense equation {eq!r}", hint=HINT)
    lhs, lo = eq.replace(" ", "").split("->")
    lx, lw = lhs.split(",")
    x = ins[0]
    shape = tuple(b.shape_of(x))
    kernel = np.asarray(w[0], np.float32)
    if len(lx) != len(shape) or len(lw) != kernel.ndim:
        raise ModelFormatError(f"EinsumDense {eq!r} does not label its input {shape} and kernel {kernel.shape}")
    if any(len(set(t)) != len(t) for t in (lx, lw, lo)):
        raise UnsupportedOpError(f"EinsumDense {eq!r}: a label repeated", hint=HINT)
    kept = [c for c in lx if c in lo]
    contracted = [c for c in lx if c not in lo]
    feats = [c for c in lw if c not in lx]
    bias_axes = cfg.get("bias_axes") or ""
    why = ([f"{c!r} of the kernel kept in the output" for c in lw if c in lx and c in lo] +
           [f"{c!r} of the input neither kept nor in the kernel" for c in contracted if c not in lw] +
           [f"{c!r} of the kernel not in the output" for c in feats if c not in lo] +
           [f"a bias over {c!r}" for c in bias_axes if c not in feats])
    if why or sorted(lo) != sorted(kept + feats):
        raise UnsupportedOpError(f"EinsumDense {eq!r}: " + ("; ".join(why) or "output labels"), hint=HINT)
    dims = dict(zip(lx, shape)) | dict(zip(lw, kernel.shape))
    wm = np.transpose(kernel, [lw.index(c) for c in contracted + feats]).reshape(
        math.prod(dims[c] for c in contracted), math.prod(dims[c] for c in feats))
    bias = None
    if bias_axes and len(w) > 1:
        bias = np.broadcast_to(_bias_along(np.asarray(w[1], np.float32), bias_axes, lo, feats, dims),
                               tuple(dims[c] for c in feats)).reshape(-1)
    order = kept + contracted
    if order != list(lx):
        x = b.emit("Transpose", f"{name}_in", [x], None, {"perm": tuple(lx.index(c) for c in order)})
    x = b.emit("Reshape", f"{name}_rows", [x], None,
               {"shape": (math.prod(dims[c] for c in kept), wm.shape[0])})
    y = b.dense(name, x, np.ascontiguousarray(wm.T), bias)
    y = b.emit("Reshape", f"{name}_unrows", [y], None, {"shape": tuple(dims[c] for c in kept + feats)})
    have = kept + feats
    if have != list(lo):
        y = b.emit("Transpose", f"{name}_out", [y], None, {"perm": tuple(have.index(c) for c in lo)})
    return y


def _bias_along(bias, bias_axes, lo, feats, dims):
    """Keras' bias: the output's trailing labels from the first bias axis on, size 1 where not a bias
    axis -> laid along the feature labels."""
    tail = lo[min(lo.index(c) for c in bias_axes):]
    bias = bias.reshape([dims[c] if c in bias_axes else 1 for c in tail])
    bias = bias.reshape([dims[c] if c in bias_axes else 1 for c in tail if c in feats])
    present = [c for c in tail if c in feats]
    return bias.transpose([present.index(c) for c in feats if c in present]).reshape(
        [dims[c] if c in bias_axes else 1 for c in feats])
