"""ONNX ArgMax / ArgMin (opsets 11-21: axis, keepdims, select_last_index): the IR's ArgMax / ArgMin
(compiler/ops/argmax.py) over the IR axis that holds the ONNX axis, so no data moves.  torch.argmax(x,
dim, keepdim) exports as one such node from both PyTorch exporters.  A constant input folds."""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError

CORRUPT = "the file may be corrupt; check it with onnx.checker.check_model and re-export it"


def arg(op):
    def handler(imp, node, a):
        x = node.input[0]
        rank = len(imp.shape(x))
        axis = imp.a_int(node, a, "axis", 0)
        keep = imp.a_int(node, a, "keepdims", 1)
        last = imp.a_int(node, a, "select_last_index", 0)
        if not rank or not -rank <= axis < rank:
            raise ModelFormatError(f"{op} axis {axis} of a rank-{rank} tensor", where=imp.where(node), hint=CORRUPT)
        axis %= rank
        if x in imp.consts:
            c = np.asarray(imp.consts[x], np.float64)
            c = -c if op == "ArgMin" else c
            idx = (c.shape[axis] - 1 - np.argmax(np.flip(c, axis), axis=axis)) if last else np.argmax(c, axis=axis)
            imp.set_const(node, np.expand_dims(idx, axis) if keep else idx)
            return
        v = imp.val(x)
        ir_axis = v.perm[axis]
        out = imp.emit(op, node.name or node.output[0], [v.ir], node.output[0],
                       {"axis": ir_axis, "keep": bool(keep), "select_last": bool(last)})
        if keep:
            imp.set(node.output[0], out, v.perm)
        else:                        # the IR axes left, in IR order; each ONNX axis but `axis` keeps its place
            imp.set(node.output[0], out, tuple(p - (p > ir_axis) for j, p in enumerate(v.perm) if j != axis))
    return handler


def topk(imp, node, a):
    """TopK (opsets 10-21: K a constant input; axis, largest, sorted) along the IR's last axis: its two
    outputs are the IR's TopKValues and TopKIndices (compiler/ops/topk.py), each emitted when read."""
    x = node.input[0]
    rank = len(imp.shape(x))
    axis = imp.a_int(node, a, "axis", -1)
    k = np.asarray(imp.const_in(node, 1, "TopK K")).reshape(-1)
    if not rank or not -rank <= axis < rank or k.size != 1 or int(k[0]) < 1:
        raise ModelFormatError(f"TopK axis {axis}, K {k.tolist()} of a rank-{rank} tensor", where=imp.where(node),
                               hint=CORRUPT)
    axis %= rank
    v = imp.val(x)
    if v.perm[axis] != rank - 1:
        raise UnsupportedOpError(f"TopK along axis {axis}, not the last of the tensor's layout", where=imp.where(node),
                                 hint="take TopK along the last axis (the logits of a classifier)")
    attrs = {"k": int(k[0]), "largest": bool(imp.a_int(node, a, "largest", 1))}
    for op, out in zip(("TopKValues", "TopKIndices"), node.output):
        if out:
            imp.set(out, imp.emit(op, f"{node.name or node.output[0]}_{op[4:].lower()}", [v.ir], out, dict(attrs)), v.perm)
