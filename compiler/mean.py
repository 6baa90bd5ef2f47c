"""Mean: the average of a tensor over a run of adjacent axes (TFLite's MEAN, keep_dims or not).

A run of adjacent axes makes the tensor [outer, count, inner]: the kernel sums `count` values for each
(outer, inner) pair, so H,W of an NHWC tensor (global average pooling, what every converted Keras
classifier ends with) and any single axis are one loop nest.

int8 (imported .tflite): TFLite Micro's integer arithmetic for MEAN (reference_ops::QuantizedMeanOrSum).
Its QuantizeMultiplier(s_in / s_out) = (m, shift) absorbs 1/count at prepare time: with
k = min(floor(log2 count), 32, 31 + shift), m' = (m << k) // count (int64, truncated) and shift' = shift - k;
then y = clamp(out_zp + MultiplyByQuantizedMultiplier(sum(x) - in_zp * count, m', shift')).  mean_params
does the folding here, at compile time; the C (runtime_c/edgec_mean_s8.c) only sums and requantizes.
"""
from __future__ import annotations

import numpy as np

from . import fixedpoint as fp


def split(shape, axes) -> tuple[int, int, int]:
    """(outer, count, inner) of a tensor reduced over the adjacent `axes`."""
    a0, a1 = min(axes), max(axes) + 1
    return int(np.prod(shape[:a0])), int(np.prod(shape[a0:a1])), int(np.prod(shape[a1:]))


def adjacent(axes, rank: int) -> bool:
    a = sorted(int(x) % rank for x in axes)
    return len(a) > 0 and len(set(a)) == len(a) and a == list(range(a[0], a[0] + len(a)))


def out_shape(node, shapes):
    s, axes = shapes[0], node.attrs["axes"]
    if node.attrs.get("keep", True):
        return [tuple(1 if i in axes else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i not in axes)]


def mean_params(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite Micro's folding of 1/count into the (multiplier, shift) of s_in / s_out."""
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return int((multiplier << k) // count), int(shift - k)


def mean_f32(node, x):
    return np.mean(x, axis=tuple(node.attrs["axes"]), keepdims=node.attrs.get("keep", True)).astype(np.float32)


def mean_s8(node, x):
    """Twin of edgec_mean_s8."""
    a = node.attrs
    outer, count, inner = split(x.shape, a["axes"])
    s = x.astype(np.int64).reshape(outer, count, inner).sum(axis=1) - a["in_zp"] * count
    y = fp.multiply_by_quantized_multiplier(fp.wrap32(s), a["multiplier"], a["shift"]) + a["out_zp"]
    return np.clip(y, -128, 127).astype(np.int8).reshape(out_shape(node, [x.shape])[0])
