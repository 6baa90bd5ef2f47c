"""The shape arithmetic a dynamic-batch export leaves in a .tflite, folded at import.

A model converted with its batch left unknown (shape_signature [-1, ...]: a Keras model whose input batch
is None, a SavedModel's signature) computes some shapes at run time.  Flatten becomes SHAPE -> STRIDED_SLICE
(the batch) -> PACK([batch, -1]) -> RESHAPE, and a tf.reshape of sizes taken from tf.shape(x) a chain of
the same operators with GATHER, MUL or CONCATENATION.  edgec compiles the one static shape the file also
records (batch 1, each tensor's `shape`), so every such operator whose inputs are known is evaluated
here, in order, and its output becomes a constant: what reads it (RESHAPE's new shape, a PAD's paddings)
then has constant parameters as usual.  Only integer tensors are folded; float arithmetic stays the
model's, and an operator that cannot be folded stays to be imported or refused by name."""
from __future__ import annotations

import numpy as np

from .. import strided_slice

FOLDABLE = ("SHAPE", "STRIDED_SLICE", "SLICE", "PACK", "CONCATENATION", "RESHAPE", "SQUEEZE", "EXPAND_DIMS",
            "GATHER", "ADD", "SUB", "MUL", "FLOOR_DIV", "CAST", "REDUCE_PROD")
INT_TYPES = {2: np.int32, 4: np.int64}           # TensorType INT32, INT64


def option_classes() -> dict:
    import tflite
    return {"GATHER": tflite.GatherOptions}          # PACK's options: tflite_lowered.py reads them


def options(name: str, o) -> dict:
    if name == "GATHER":
        return {"axis": o.Axis(), "batch_dims": o.BatchDims()}
    return {}


def fold(tensors: list, ops: list) -> list:
    """ops without the integer shape operators whose inputs are known; their outputs' data set in tensors."""
    kept = []
    for op in ops:
        name, ins, outs, opt = op
        value = _value(tensors, name, ins, outs, opt) if name in FOLDABLE and len(outs) == 1 else None
        if value is None:
            kept.append(op)
            continue
        tensors[outs[0]].data = value
    return kept


def _value(tensors, name, ins, outs, opt):
    """The output of one operator as a constant array of its declared shape and integer type, or None."""
    out = tensors[outs[0]]
    if out.type not in INT_TYPES or any(i < 0 for i in ins) or not ins:
        return None
    if name == "SHAPE":
        v = np.asarray(tensors[ins[0]].shape, np.int64)
    else:
        args = [tensors[i].data for i in ins]
        if any(a is None or tensors[i].type not in INT_TYPES for a, i in zip(args, ins)):
            return None
        try:
            v = _evaluate(name, [np.asarray(a, np.int64).reshape(tensors[i].shape) for a, i in zip(args, ins)], opt)
        except (ValueError, IndexError, TypeError):
            return None
    if v is None or v.size != int(np.prod(out.shape, dtype=np.int64)):
        return None
    return np.asarray(v).astype(INT_TYPES[out.type]).reshape(out.shape)


def _evaluate(name, a, opt):
    if name == "STRIDED_SLICE":
        p = strided_slice.plan(a[0].shape, a[1].reshape(-1), a[2].reshape(-1), a[3].reshape(-1), opt) if len(a) == 4 else "?"
        if isinstance(p, str):
            return None
        starts, steps, counts, _ = p
        v = a[0]
        for axis, (s, k, c) in enumerate(zip(starts, steps, counts)):
            v = np.take(v, s + k * np.arange(c), axis=axis)
        return v
    if name == "SLICE":
        begin, size = a[1].reshape(-1), a[2].reshape(-1)
        return a[0][tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))]
    if name == "PACK":
        return np.stack(a, axis=opt.get("axis", 0))
    if name == "CONCATENATION":
        return np.concatenate(a, axis=opt.get("axis", 0))
    if name in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CAST"):
        return a[0]
    if name == "GATHER":
        return np.take(a[0], a[1], axis=opt.get("axis", 0)) if not opt.get("batch_dims") else None
    if name == "REDUCE_PROD":
        return np.prod(a[0], axis=tuple(int(x) for x in a[1].reshape(-1)))
    if len(a) != 2:
        return None
    if name == "FLOOR_DIV":
        return np.floor_divide(a[0], a[1]) if np.all(a[1] != 0) else None
    return {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}[name](a[0], a[1])
