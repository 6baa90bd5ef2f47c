"""ONNX L2 normalization: LpNormalization (p = 2) is the IR's L2Normalize (compiler/ops/l2norm.py) over
the IR axis holding the ONNX axis; ReduceL2 over one axis is the IR's ReduceL2, which
passes/fuse_l2_normalize.py joins with what F.normalize(x, dim) exports after it (Clip(min=eps) or Max,
Expand, Div of x by it, from both PyTorch exporters) into one L2Normalize.  A constant input folds."""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError
from .onnx_reduce import CORRUPT, reduce_axes


def reduce_l2(imp, node, a):
    x = node.input[0]
    rank = len(imp.shape(x))
    axes = reduce_axes(imp, node, a, rank)
    keep = imp.a_int(node, a, "keepdims", 1)
    if x in imp.consts:
        c = np.asarray(imp.consts[x], np.float64)
        imp.set_const(node, c if axes is None else
                      np.sqrt((c * c).sum(axis=tuple(axes), keepdims=bool(keep))).astype(np.float32))
        return
    if axes is None:
        imp.dispatch(node, "Abs")
        return
    if len(axes) != 1:
        raise UnsupportedOpError(f"ReduceL2 over {len(axes)} axes {axes}", where=imp.where(node),
                                 hint="normalize over one axis (F.normalize(x, dim=1))")
    v = imp.val(x)
    ir_axis = v.perm[axes[0]]
    out = imp.emit("ReduceL2", node.name or node.output[0], [v.ir], node.output[0], {"axis": ir_axis, "keep": bool(keep)})
    if keep:
        imp.set(node.output[0], out, v.perm)
    else:
        imp.set(node.output[0], out, tuple(p - (p > ir_axis) for j, p in enumerate(v.perm) if j != axes[0]))


def lp_normalization(imp, node, a):
    x = node.input[0]
    rank = len(imp.shape(x))
    axis, p = imp.a_int(node, a, "axis", -1), imp.a_int(node, a, "p", 2)
    if not rank or not -rank <= axis < rank:
        raise ModelFormatError(f"LpNormalization axis {axis} of a rank-{rank} tensor", where=imp.where(node), hint=CORRUPT)
    if p != 2:
        raise UnsupportedOpError(f"LpNormalization with p={p}", where=imp.where(node), hint="use p=2 (L2 normalization)")
    v = imp.val(x)
    imp.set(node.output[0], imp.emit("L2Normalize", node.name or node.output[0], [v.ir], node.output[0],
                                     {"axis": v.perm[axis % rank], "eps": 0.0}), v.perm)
