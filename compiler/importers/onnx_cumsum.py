"""ONNX CumSum (opsets 11-21: axis a constant input, exclusive, reverse): the IR's CumSum
(compiler/ops/cumsum.py) over the IR axis holding the ONNX axis, so no data moves.  torch.cumsum(x, dim)
exports as one such node from both PyTorch exporters.  A constant input folds."""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from .onnx_reduce import CORRUPT


def cumsum(imp, node, a):
    x = node.input[0]
    rank = len(imp.shape(x))
    axis = np.asarray(imp.const_in(node, 1, "CumSum axis")).reshape(-1)
    if axis.size != 1 or not rank or not -rank <= int(axis[0]) < rank:
        raise ModelFormatError(f"CumSum axis {axis.tolist()} of a rank-{rank} tensor", where=imp.where(node), hint=CORRUPT)
    axis = int(axis[0]) % rank
    exclusive, reverse = imp.a_int(node, a, "exclusive", 0), imp.a_int(node, a, "reverse", 0)
    if x in imp.consts:
        c = np.asarray(imp.consts[x])
        c = np.flip(c, axis) if reverse else c
        s = np.cumsum(c, axis=axis)
        if exclusive:
            s = np.concatenate([np.zeros_like(np.take(s, [0], axis=axis)), np.delete(s, -1, axis=axis)], axis=axis)
        imp.set_const(node, (np.flip(s, axis) if reverse else s).astype(c.dtype))
        return
    v = imp.val(x)
    imp.set(node.output[0], imp.emit("CumSum", node.name or node.output[0], [v.ir], node.output[0],
                                     {"axis": v.perm[axis], "exclusive": bool(exclusive), "reverse": bool(reverse)}),
            v.perm)
