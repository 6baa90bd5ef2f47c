"""Resize of NHWC feature maps, the general op behind ONNX Resize/Upsample, Keras UpSampling2D
(bilinear) and the zero insertion that lowers ConvTranspose to a convolution.

Every output row (column) reads at most two input rows (columns) with weights (1 - w, w).  Where
those come from is decided once, here, at compile time and in float64: ONNX's coordinate transforms
(half_pixel, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn), its nearest
rounding modes, linear interpolation, and "zeros" (input row i at output row i * stride, zero
elsewhere).  The integer kernel (runtime_c/edgec_resize_s8.c, twin `resize_s8`) only reads the
tables: indices, and w as an integer in Q`WEIGHT_BITS`; an index of -1 makes the output the zero point
(real zero).  The output keeps the input's quantization: a convex combination of int8 values stays in
int8, so no requantization is needed.
"""
from __future__ import annotations

import math

import numpy as np

from .fixedpoint import rounding_divide_by_pot

#: Fraction bits of the interpolation weights: |value| * 2^(2*bits) stays below 2^31 for int8 values.
WEIGHT_BITS = 10

COORD_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
MODES = ("nearest", "linear", "zeros", "strided", "tflm")


def source_coords(n_in: int, n_out: int, scale: float, coord: str) -> np.ndarray:
    """ONNX Resize's coordinate transform: for each output index the (float) input coordinate."""
    o = np.arange(n_out, dtype=np.float64)
    if coord == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if coord == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if n_out > 1 else np.zeros(n_out)
    if coord == "align_corners":
        return o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    if coord == "asymmetric":
        return o / scale
    if coord == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    raise ValueError(f"coordinate_transformation_mode {coord}")


def axis_taps(n_in: int, n_out: int, scale: float, mode: str, coord: str = "asymmetric",
              nearest: str = "floor", offset: int = 0) -> tuple:
    """(i0, i1, w) for one axis: output k = (1 - w[k]) * in[i0[k]] + w[k] * in[i1[k]], w in [0, 1]
    (float64); i0[k] = -1 means output k is zero.  "strided" reads in[offset + k * scale] (a Slice
    with a step, negative too, over H or W)."""
    if mode == "tflm":
        return tflm_axis_taps(n_in, n_out, coord)
    if mode == "strided":
        i0 = offset + int(scale) * np.arange(n_out)
        return i0, i0.copy(), np.zeros(n_out)
    if mode == "zeros":
        stride = max(int(round(scale)), 1)                 # "zeros" carries the integer stride as its scale
        k = np.arange(n_out)
        i0 = np.where((k % stride == 0) & (k // stride < n_in), k // stride, -1)
        return i0, np.maximum(i0, 0), np.zeros(n_out)
    if n_out == n_in and scale == 1.0:           # an axis that is not resized is copied (as onnxruntime does)
        k = np.arange(n_out)
        return k, k.copy(), np.zeros(n_out)
    x = source_coords(n_in, n_out, scale, coord)
    if mode == "nearest":
        r = {"round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5),
             "floor": np.floor, "ceil": np.ceil}[nearest](x)
        i0 = np.clip(r, 0, n_in - 1).astype(np.int64)
        return i0, i0.copy(), np.zeros(n_out)
    x = np.clip(x, 0, n_in - 1)
    i0 = np.floor(x).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, x - i0


def tflm_axis_taps(n_in: int, n_out: int, coord: str) -> tuple:
    """TFLite's integer bilinear taps (reference_ops::ResizeBilinearInteger): a Q10 scale rounded from
    n_in / n_out (or (n_in - 1) / (n_out - 1) with align_corners), the source coordinate v = k * scale
    (+ scale / 2 - 512 with half_pixel_centers), i0 = max(v / 1024 truncated, 0), i1 = min(ceil, n_in - 1),
    w = v - 1024 * i0: an exact Q10 weight (negative where v < 0, harmless as i0 == i1 there), so
    int_taps gives it back unchanged and the kernel's one rounding (half away from zero) is TFLM's."""
    if coord == "align_corners" and n_out > 1:
        s = ((1 << 10) * (n_in - 1) + (n_out - 1) // 2) // (n_out - 1)
    else:
        s = ((1 << 10) * n_in + n_out // 2) // n_out
    v = np.arange(n_out, dtype=np.int64) * s + ((s // 2 - (1 << 9)) if coord == "half_pixel" else 0)
    trunc = np.where(v < 0, -((-v) // 1024), v // 1024)
    i0 = np.maximum(trunc, 0)
    up = v + 1023
    i1 = np.minimum(np.where(up < 0, -((-up) // 1024), up // 1024), n_in - 1)
    return i0, i1, (v - 1024 * i0) / float(1 << WEIGHT_BITS)


def taps(node, in_shape) -> tuple:
    """Both axes' taps of a Resize node on an NHWC input."""
    a = node.attrs
    oh, ow = a["size"]
    sh, sw = a.get("scale") or (oh / in_shape[1], ow / in_shape[2])
    args = (a["mode"], a.get("coord", "asymmetric"), a.get("nearest", "floor"))
    oy, ox = a.get("offset", (0, 0))
    return axis_taps(in_shape[1], oh, sh, *args, offset=oy), axis_taps(in_shape[2], ow, sw, *args, offset=ox)


def int_taps(node, in_shape) -> tuple:
    """The kernel's tables: (i0, i1, w) per axis as int16, w rounded to Q`WEIGHT_BITS`."""
    out = []
    for i0, i1, w in taps(node, in_shape):
        q = np.floor(w * (1 << WEIGHT_BITS) + 0.5).astype(np.int64)
        out.append((i0.astype(np.int16), i1.astype(np.int16), q.astype(np.int16)))
    return tuple(out)


def _gather2(x, axis, i0, i1, w):
    a = np.take(x, np.maximum(i0, 0), axis=axis)
    b = np.take(x, i1, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = len(i0)
    w = w.reshape(shape)
    out = a * (1 - w) + b * w
    return np.where((i0 < 0).reshape(shape), 0.0, out)


def resize_f32(node, x):
    (hy0, hy1, wy), (wx0, wx1, wx) = taps(node, x.shape)
    y = _gather2(x.astype(np.float64), 1, hy0, hy1, wy)
    return _gather2(y, 2, wx0, wx1, wx).astype(np.float32)


def resize_s8(node, x):
    """Twin of edgec_resize_s8: rows then columns combined in one integer sum, one rounding shift."""
    (y0, y1, wy), (x0, x1, wx) = (tuple(np.asarray(t, np.int64) for t in ax) for ax in int_taps(node, x.shape))
    one = 1 << WEIGHT_BITS
    v = x.astype(np.int64)
    top = np.take(v, np.maximum(y0, 0), axis=1)
    bot = np.take(v, y1, axis=1)
    wy_, wx_ = wy.reshape(1, -1, 1, 1), wx.reshape(1, 1, -1, 1)

    def cols(r):
        return np.take(r, np.maximum(x0, 0), axis=2) * (one - wx_) + np.take(r, x1, axis=2) * wx_
    acc = cols(top) * (one - wy_) + cols(bot) * wy_
    out = rounding_divide_by_pot(acc, 2 * WEIGHT_BITS)
    zero = (y0 < 0).reshape(1, -1, 1, 1) | (x0 < 0).reshape(1, 1, -1, 1)
    out = np.where(zero, node.attrs["zp"], out)
    return np.clip(out, -128, 127).astype(np.int8)


def macs(node, in_shape) -> int:
    oh, ow = node.attrs["size"]
    return 4 * in_shape[0] * oh * ow * in_shape[3] if node.attrs["mode"] in ("linear", "tflm") else 0


def out_shape(node, shapes):
    s = shapes[0]
    return [(s[0], int(node.attrs["size"][0]), int(node.attrs["size"][1]), s[3])]


def scale_is_integer(n_in: int, n_out: int) -> bool:
    return n_in > 0 and n_out % n_in == 0 and math.isclose(n_out / n_in, round(n_out / n_in))
