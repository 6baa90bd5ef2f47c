"""The one rounding rule, in Python.  Its C twin is runtime_c/edgec_fixedpoint.h; tests/test_fixedpoint.py
checks both on the same edge-case table.

Requantization follows gemmlowp / TFLite: a real multiplier M is stored as a Q31 integer m and a
power-of-two exponent (M = m * 2^(shift-31)); x*M is computed as
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x << max(shift,0), m), max(-shift,0))
which rounds ties upward in the high multiply (gemmlowp's nudge: -0.5 -> 0, +0.5 -> 1) and half away
from zero in the shift.

All functions work on numpy int64 arrays holding int32 values, and wrap/saturate exactly as the C does.
Float appears only in `quantize_multiplier`, which runs at compile time.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import EdgecError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def wrap32(x):
    """Two's-complement wrap to int32 (what a C cast from a wider/unsigned value does on every target we support)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a, b):
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    v = ab + nudge
    q = np.where(v >= 0, v >> 31, -((-v) >> 31))         # C integer division by 2^31 truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rounding_divide_by_pot(x, exponent):
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = wrap32(np.asarray(x, dtype=np.int64) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def multiply_by_quantized_multiplier_int64(x, multiplier, shift):
    """TFLite's int16x8 requantization, `MultiplyByQuantizedMultiplier(int64_t x, int32_t m, int shift)`
    (tensorflow/lite/kernels/internal/common.h): the Q31 multiplier is reduced to 15 bits,
    `(m + 2^15) >> 16` (0x7FFF from m >= 0x7FFF0000 on), and x * reduced is shifted right by
    total = 15 - shift with one rounding term 2^(total-1) (ties toward +infinity), then cast to int32
    (two's-complement wrap, as the C cast does).  Valid for 0 <= m, -31 <= shift <= 7 (total_shift
    8..46) and -2^47 <= x < 2^47 (so x * reduced fits int64); passes/quantize.py keeps every int16 node
    inside those bounds.  C twin: edgec_mbqm64 in runtime_c/edgec_fixedpoint.h."""
    x = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    total = 15 - np.asarray(shift, dtype=np.int64)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    return wrap32((x * reduced + (np.int64(1) << (total - 1))) >> total)


_RANGE_HINT = ("the model's weights or calibrated values are not finite or far out of range; "
               "check the weights (a corrupt file or a diverged training?)")


def quantize_multiplier(real: float) -> tuple[int, int]:
    """real -> (Q31 multiplier, shift) with real == m * 2^(shift-31); as TFLite's QuantizeMultiplier."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        raise EdgecError(f"a requantization multiplier is {real}", hint=_RANGE_HINT)
    mant, exp = math.frexp(real)           # real = mant * 2^exp, 0.5 <= |mant| < 1
    q = round_half_away(mant * (1 << 31))
    if abs(q) == (1 << 31):
        q //= 2
        exp += 1
    if exp < -31:                          # too small to represent: it is zero
        return 0, 0
    if exp > 30:
        raise EdgecError(f"a requantization multiplier is too large ({real:.3g})", hint=_RANGE_HINT)
    return int(q), int(exp)


def round_half_away(x):
    """Round half away from zero (compile-time float → int; the same rule the integer kernels use), exactly
    as C's round() / TFLite's TfLiteRound: the fraction is compared with 1/2, not floor(|x| + 0.5), which
    rounds the double just below 0.5 (0.49999999999999994) up because |x| + 0.5 rounds to 1.0."""
    if np.isscalar(x):
        a = abs(x)
        r = math.floor(a)
        return int(math.copysign(r + (1 if a - r >= 0.5 else 0), x))
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    r = np.floor(a)
    return (np.sign(x) * (r + (a - r >= 0.5))).astype(np.int64)


def quantize_float_input(x, scale: float, zero_point: int, division: str = "float64") -> np.ndarray:
    """A model's float input -> its int8 input: round_half_away(x / scale) + zero_point, clamped to int8.
    `division` "float32": x, scale and the quotient in float32, as a .tflite's own QUANTIZE edge computes it
    (TFLite and TFLite Micro: TfLiteRound(val / static_cast<float>(scale)); graph meta["input_quantize"]);
    "float64": the compiler's rule for the models it quantizes (passes/quantize.quantize_values).  `edgec
    run` / `verify` and the agent both quantize through here, so a float sample gives the same int8 input
    on every path, near ties too."""
    if division == "float32":
        q = np.asarray(x, np.float32) / np.float32(scale)
    else:
        q = np.asarray(x, np.float64) / float(scale)
    return np.clip(round_half_away(q) + int(zero_point), -128, 127).astype(np.int8)


def divide_round_half_away(num, den):
    """Integer division rounding half away from zero, as the C kernels do it (den > 0)."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    half = den // 2
    pos = (num + half) // den
    neg = -((-num + half) // den)
    return np.where(num >= 0, pos, neg)


def wide_channels(bias, weights, multiplier, shift, out_zp: int, act_min: int, act_max: int):
    """Each output channel's (m, R, sh) for runtime_c's edgec_wide_rq (codegen/layouts.py, wide_requant),
    or None where a channel has none.  edgec_wide_rq computes ((t + R) >> sh) + zp saturated to int8, t
    the high word of x * m + 2^30 - [x < 0] 2^31: with r = -shift, sh = r - 1 and R = 2^(r-2) that is
    this requantization for 2 <= r <= 31 and m > 0 (|t| <= 2^30, so t + R cannot overflow), and the
    clamp is the saturation when the activation range is all of int8.  A channel outside that range whose
    output cannot change (m = 0, or a scale so small that the whole range of its sum, bias -+ 255 *
    sum|w| inside int32 (shifted left: still), requantizes to one value c) becomes the constant record (0, 1 + 2 (c - zp), 1): t is
    0 or -1 there, and (t + 1 + 2 (c - zp)) >> 1 = c - zp."""
    if act_min != -128 or act_max != 127:
        return None
    m, s = np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)
    w = np.abs(np.asarray(weights, np.int64).reshape(len(m), -1)).sum(axis=1)
    b = np.asarray(bias, np.int64)
    out = []
    for c in range(len(m)):
        r, zp = int(-s[c]), int(out_zp)
        if m[c] < 0:
            return None
        if 2 <= r <= 31 and m[c] > 0:
            out.append((int(m[c]), 1 << (r - 2), r - 1))
            continue
        ends = (int(b[c]) - 255 * int(w[c]), int(b[c]) + 255 * int(w[c]))     # the sum's range
        if m[c] == 0:
            lo = hi = 0
        elif max(abs(v) for v in ends) << max(0, -r) >= 1 << 31:     # it may wrap, or its left shift may
            return None
        else:
            lo, hi = (int(multiply_by_quantized_multiplier(np.int64(v), int(m[c]), int(s[c]))) for v in ends)
        if lo != hi:
            return None
        out.append((0, 1 + 2 * (min(127, max(-128, lo + zp)) - zp), 1))
    return np.array(out, np.int64).reshape(-1, 3)
