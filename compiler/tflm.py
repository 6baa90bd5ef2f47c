"""TFLite Micro's int8 element-wise arithmetic, evaluated at compile time for each of the 256 int8 inputs:
gemmlowp's fixed-point logistic and tanh on the input rescaled to Q4.27 (reference_integer_ops::Logistic /
Tanh), LeakyRelu's two multipliers, HardSwish's int16 fixed point, Requantize's one multiplier.  The C
reads the table (runtime_c/edgec_lut_s8.c): bit-exact by construction.  The quantize pass makes these
tables for a .tflite's int8 ops ("tflm" arithmetic, `lut`); the formulas are TFLite's, in one place."""
from __future__ import annotations

import math

import numpy as np

from .fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, round_half_away, wrap32
from .fixedpoint import rounding_divide_by_pot, saturating_rounding_doubling_high_mul
from .gemmlowp import INT32_MAX, exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1, rounding_half_sum, \
    saturating_shift_left


_V = np.arange(-128, 128, dtype=np.int64)


def _frexp_multiplier(real: float) -> tuple[int, int]:
    """TFLM's Logistic / Tanh prepare: q = frexp(real), multiplier = TfLiteRound(q * 2^31)."""
    q, shift = math.frexp(real)
    return int(round_half_away(q * (1 << 31))), int(shift)


def _input_radius(integer_bits: int, left_shift: int) -> int:
    """CalculateInputRadius(integer_bits, left_shift, 31)."""
    return int(math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift)))


def _q4(in_scale: float, in_zp: int):
    """(input - zp, rescaled to Q4.27, radius) as TFLM's int8 Logistic / Tanh compute them."""
    mult, shift = _frexp_multiplier(float(np.float32(in_scale)) * float(1 << 27))
    if mult >= 1 << 31:
        raise ValueError(f"input scale {in_scale} gives a multiplier TFLite cannot represent")
    x = _V - in_zp
    return x, multiply_by_quantized_multiplier(x, mult, shift), _input_radius(4, shift)


def logistic_table(in_scale: float, in_zp: int) -> np.ndarray:
    """reference_integer_ops::Logistic (int8, output scale 1/256 zero point -128): gemmlowp::logistic of
    the Q4.27 input, RoundingDivideByPOT(., 23) - 128; saturated beyond the input radius."""
    x, a, radius = _q4(in_scale, in_zp)
    pos = a > 0
    abs_a = np.where(pos, a, -a)
    result_pos = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_a, 4))
    res = np.where(a == 0, 1 << 30, np.where(pos, result_pos, wrap32(INT32_MAX - result_pos)))
    out = np.clip(rounding_divide_by_pot(res, 23) - 128, -128, 127)
    out = np.where(x <= -radius, -128, np.where(x >= radius, 127, out))
    return out.astype(np.int8)


def tanh_table(in_scale: float, in_zp: int) -> np.ndarray:
    """reference_integer_ops::Tanh (int8, output scale 1/128 zero point 0): gemmlowp::tanh of the Q4.27
    input (exp of 2x: the same raw value read as Q5.26), RoundingDivideByPOT(., 24)."""
    x, a, radius = _q4(in_scale, in_zp)
    neg = a < 0
    n = np.where(neg, a, -a)                                     # -|a|
    e = exp_on_negative_values(n, 5)
    half_denominator = rounding_half_sum(e, INT32_MAX)
    y = wrap32(1515870810 + saturating_rounding_doubling_high_mul(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = wrap32((1 << 29) - saturating_rounding_doubling_high_mul(half_denominator, y))
        y = wrap32(y + saturating_shift_left(saturating_rounding_doubling_high_mul(y, one_minus), 2))
    t = saturating_shift_left(wrap32(y - (1 << 29)), 2)          # Rescale<0>(x - F2::One())
    res = np.where(a == 0, 0, np.where(neg, -t, t))
    out = np.clip(rounding_divide_by_pot(res, 24), -128, 127)
    out = np.where(x <= -radius, -128, np.where(x >= radius, 127, out))
    return out.astype(np.int8)


def requantize_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """reference_ops::Requantize: clamp(out_zp + MultiplyByQuantizedMultiplier(v - in_zp, QuantizeMultiplier(
    double(s_in) / double(s_out)))); an int8 <-> uint8 edge is this with the uint8 zero point - 128."""
    m, s = quantize_multiplier(float(in_scale) / float(out_scale))
    return np.clip(multiply_by_quantized_multiplier(_V - in_zp, m, s) + out_zp, -128, 127).astype(np.int8)


def leaky_relu_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int, alpha: float) -> np.ndarray:
    """reference_ops::QuantizeLeakyRelu: v - zp >= 0 scaled by s_in / s_out, else by alpha * s_in / s_out."""
    mi, si = quantize_multiplier(float(in_scale) / float(out_scale))
    ma, sa = quantize_multiplier(float(np.float32(in_scale) * np.float32(alpha)) / float(out_scale))
    x = _V - in_zp
    y = np.where(x >= 0, multiply_by_quantized_multiplier(x, mi, si), multiply_by_quantized_multiplier(x, ma, sa))
    return np.clip(y + out_zp, -128, 127).astype(np.int8)


def _srdhm16(a, b):
    """gemmlowp::SaturatingRoundingDoublingHighMul for int16."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    overflow = (a == b) & (a == -32768)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    q = ab + nudge
    high = np.where(q >= 0, q >> 15, -((-q) >> 15))          # C++ division truncates toward zero
    return np.where(overflow, 32767, high)


def _sat16(v):
    return np.clip(v, -32768, 32767)


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """reference_ops::HardSwish<int8> with TFLM's HardSwishPrepare: the input on a 2^7 finer grid, a
    "reluish" factor in int16 fixed point (multiplier 3/32768 apart), multiplied and shifted down; the
    multipliers come from float32 scales, QuantizeMultiplier, then rounded to int16."""
    f32 = np.float32
    hires = f32(1.0 / 128.0) * f32(in_scale)
    out_mult = float(hires / f32(out_scale))
    relu_mult = float(hires / f32(3.0 / 32768.0))

    def to16(real):
        m, e = quantize_multiplier(real)
        m16 = 32767 if m >= (1 << 31) - 1 - (1 << 15) else (m + (1 << 15)) >> 16
        return m16, e
    om, oe = to16(out_mult)
    if oe > 0:
        raise ValueError(f"HARD_SWISH output scale {out_scale} too small for TFLite's int8 kernel")
    rm, re_ = to16(relu_mult)
    v = (_V - in_zp).astype(np.int64)
    hires_v = wrap16(v * 128)
    pre_out = _srdhm16(hires_v, om)
    reluish = hires_v
    if re_ > 0:
        reluish = _sat16(reluish << (re_ - 1))
    reluish = _srdhm16(reluish, rm)
    if re_ > 0:
        reluish = _sat16(reluish << 1)
    if re_ < 0:
        reluish = rounding_divide_by_pot(reluish, -re_)
    reluish = (reluish + (1 << 15)) >> 1
    prod = reluish * pre_out                                   # SaturatingDoublingHighMul: (a * b) / 2^15, truncated
    pre = np.where(prod >= 0, prod >> 15, -((-prod) >> 15))
    pre = np.where((reluish == -32768) & (pre_out == -32768), 32767, wrap16(pre))
    out = rounding_divide_by_pot(pre, -oe) + out_zp
    return np.clip(out, -128, 127).astype(np.int8)


def wrap16(v):
    v = np.asarray(v, np.int64) & 0xFFFF
    return np.where(v >= 1 << 15, v - (1 << 16), v)


def lut(op: str, attrs: dict, in_scale: float, in_zp: int, out_scale: float, out_zp: int):
    """(table, function) of an element-wise op of a .tflite's float twin in TFLite Micro's int8 arithmetic
    (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU; QUANTIZE int8 -> int8 is a Clip without bounds), or None."""
    if op == "Sigmoid":
        return logistic_table(in_scale, in_zp), op
    if op == "Tanh":
        return tanh_table(in_scale, in_zp), op
    if op == "HardSwish":
        return hard_swish_table(in_scale, in_zp, out_scale, out_zp), op
    if op == "LeakyRelu":
        return leaky_relu_table(in_scale, in_zp, out_scale, out_zp, attrs.get("alpha", 0.0)), op
    if op == "Clip" and not np.isfinite(attrs.get("min", 0.0)) and not np.isfinite(attrs.get("max", 0.0)):
        return requantize_table(in_scale, in_zp, out_scale, out_zp), "Requantize"
    return None
