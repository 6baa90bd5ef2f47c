"""Arithmetic several op families share: windows of a padded NHWC input, grouped dot products, the
int8 / int16 requantization of an accumulator, and the 4-D shapes the C kernels take.  (Moved here from
reference.py, shapes.py and codegen/c.py, which import them back, so op files need nothing above them.)"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from ..errors import EdgecError, UnsupportedOpError


def around_axis(shape, axis) -> tuple[int, int, int]:
    """(outer, count, inner) of `shape` around `axis`: the 3-D view the kernels along one axis walk
    (ArgMax, CumSum, L2Normalize)."""
    return int(np.prod(shape[:axis])), int(shape[axis]), int(np.prod(shape[axis + 1:]))


def check_axis(op, shape, axis, limit: int, bound: str, hint: str | None = None) -> None:
    """The axis exists and holds at most `limit` values; `bound` says what limits it."""
    if not 0 <= axis < len(shape):
        raise UnsupportedOpError(f"{op} over axis {axis} of a rank-{len(shape)} tensor")
    if shape[axis] > limit:
        raise UnsupportedOpError(f"{op} over {shape[axis]} values: {bound} holds at most {limit}", hint=hint)


def conv_out(size: int, k: int, stride: int, dil: int, pad_before: int, pad_after: int) -> int:
    return (size + pad_before + pad_after - dil * (k - 1) - 1) // stride + 1


def patches(x, kernel, strides, dilations, pads, pad_value):
    """[N,H,W,C] -> [N,OH,OW,KH,KW,C] windows of the padded input."""
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr) = kernel, strides, dilations, pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=pad_value)
    win = np.lib.stride_tricks.sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
    win = win[:, ::sh, ::sw, :, ::dh, ::dw]             # [N,OH,OW,C,KH,KW]
    return np.moveaxis(win, 3, 5)


def grouped_conv(patches, w, groups):
    """patches [N,OH,OW,KH,KW,C] (float64), w [O,KH,KW,C/g] -> [N,OH,OW,O] float64."""
    n, oh, ow, kh, kw, c = patches.shape
    o = w.shape[0]
    cg, og = c // groups, o // groups
    p = patches.reshape(n, oh, ow, kh, kw, groups, cg)
    wg = w.reshape(groups, og, kh, kw, cg).astype(np.float64)
    out = np.einsum("nyxhwgc,gohwc->nyxgo", p, wg, optimize=True)
    return out.reshape(n, oh, ow, o)


def pool_windows(x, node, pad_value):
    a = node.attrs
    return patches(x, a["kernel"], a["strides"], (1, 1), a["pads"], pad_value)


def pool_counts(x_shape, node):
    ones = np.ones((1,) + tuple(x_shape[1:3]) + (1,), np.int64)
    return pool_windows(ones, node, 0).sum(axis=(3, 4))  # [1,OH,OW,1]


def act_float(y, act):
    if act is None:
        return y
    lo, hi = act
    return np.clip(y, lo, hi)


def requant(acc, a):
    out = fp.multiply_by_quantized_multiplier(acc, a["multiplier"], a["shift"]) + a["out_zp"]
    return np.clip(out, a["act_min"], a["act_max"]).astype(np.int8)


def requant_s16(acc, a):
    out = fp.multiply_by_quantized_multiplier_int64(acc, a["multiplier"], a["shift"])
    return np.clip(out, a["act_min"], a["act_max"]).astype(np.int16)


def pad4(shape):
    shape = tuple(shape)
    if len(shape) > 4:
        raise EdgecError(f"tensors of rank {len(shape)} are not supported (at most 4)")
    return (1,) * (4 - len(shape)) + shape


def broadcast_strides(shape, out_shape):
    shape = pad4(shape)
    strides, acc = [0] * 4, 1
    for k in range(3, -1, -1):
        strides[k] = 0 if shape[k] == 1 and out_shape[k] != 1 else acc
        acc *= shape[k]
    return strides
