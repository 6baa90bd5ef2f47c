"""StridedSlice: every step-th element of each axis from a start, forwards or (negative step) backwards
(TFLite's STRIDED_SLICE with strides other than 1; strides of 1 are edgec's Slice).

plan() is TFLite Micro's index logic (strided_slice_logic.h StartForAxis / StopForAxis, as its
StridedSlicePrepare uses them), evaluated at compile time, so the IR op and the C kernel only see a
start, a step and a count per axis:
  start: begin (or, with the axis's begin_mask bit, the first element in the step's direction; a
         shrink axis takes it too), + size when negative, clamped to [0, size] (step > 0) or
         [-1, size - 1] (step < 0);
  stop:  start + 1 on a shrink axis; else end (end_mask: past the last element in the step's
         direction), + size when negative, clamped likewise;
  count: ceil((stop - start) / step), at least 0.
TFLite Micro sets ellipsis_mask and new_axis_mask to 0 and never reads `offset`, where TensorFlow honours
them: a file that sets them means two different slices, so edgec refuses it (plan returns a reason).
C: runtime_c/edgec_strided_slice_s8.c (four nested loops over the padded 4-D box).
"""
from __future__ import annotations

import math

import numpy as np

_LOW, _HIGH = -(1 << 31), (1 << 31) - 1


def _clamp(v, lo, hi):
    return hi if v > hi else lo if v < lo else v


def plan(shape, begin, end, strides, opt) -> tuple[list, list, list, list] | str:
    """(start, step, count, kept axes) per axis, or the reason TFLite Micro's slice is not this one."""
    if opt.get("ellipsis_mask") or opt.get("new_axis_mask"):
        return "an ellipsis or new-axis mask (TFLite Micro ignores them, TensorFlow does not)"
    if opt.get("offset"):
        return "offset = true (TFLite Micro ignores it, TensorFlow does not)"
    if not len(begin) == len(end) == len(strides) == len(shape) or len(shape) > 4:
        return f"begin, end and strides of {len(begin)}, {len(end)}, {len(strides)} values for a rank-{len(shape)} tensor"
    starts, steps, counts, keep = [], [], [], []
    for i, size in enumerate(shape):
        step = int(strides[i])
        if step == 0:
            return "a stride of 0"
        shrink = bool(opt.get("shrink_axis_mask", 0) >> i & 1)
        if shrink and step < 0:
            return f"a negative stride on shrink axis {i} (TFLite Micro's kernel writes no output for it)"
        lo, hi = (0, size) if step > 0 else (-1, size - 1)
        start = int(begin[i])
        if opt.get("begin_mask", 0) >> i & 1:
            start = _LOW if step > 0 else _HIGH
        start = _clamp(start + size if start < 0 else start, lo, hi)
        if shrink:
            stop = start + 1
        else:
            stop = int(end[i])
            if opt.get("end_mask", 0) >> i & 1:
                stop = _HIGH if step > 0 else _LOW
            stop = _clamp(stop + size if stop < 0 else stop, lo, hi)
        count = max(0, math.ceil((stop - start) / step))
        if count and not 0 <= start + (count - 1) * step < size:
            return f"a shrink axis {i} indexed at {start} of {size}"
        starts.append(start)
        steps.append(step)
        counts.append(count)
        if not shrink:
            keep.append(i)
    if 0 in counts:
        return "an empty result"
    return starts, steps, counts, keep


def out_shape(node, shapes):
    return [tuple(int(c) for c in node.attrs["count"])]


def strided_slice_any(node, x):
    """Twin of edgec_strided_slice_s8 (and the float op): x at start + k * step on every axis."""
    a = node.attrs
    idx = [s + k * np.arange(c) for s, k, c in zip(a["begin"], a["step"], a["count"])]
    return x[np.ix_(*idx)]
