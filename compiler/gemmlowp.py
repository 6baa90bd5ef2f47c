"""gemmlowp's fixed-point math functions, as TFLite / TFLite Micro use them, in integers only.

TFLite Micro's int8 Softmax does not use a float exp table: it evaluates exp() of the rescaled
input difference with gemmlowp's `exp_on_negative_values` (a Taylor polynomial around -1/8 plus
a barrel shifter of exp(-2^k) constants) in Q5.26 → Q0.31, sums Rescale<12>(exp) in Q12.19, and
normalises with `GetReciprocal` (Newton-Raphson 1/(1+x) in Q2.29).  To be bit-exact with it,
edgec does the same arithmetic:

- at compile time (importers/tflite.py): `softmax_tflm_params` turns the input scale and beta into
  TFLite's (input_multiplier, input_left_shift, diff_min), and `softmax_tflm_exp_table` evaluates
  exp for each of the 256 possible differences max - x (an int8 row has no others), 0 where the
  difference is below diff_min (TFLite skips those: they add nothing and give -128);
- at run time (reference.softmax_s8 in "tflm" mode and runtime_c/edgec_softmax_s8.c): the sum,
  the reciprocal and the final rounding shift, with `get_reciprocal` here as the numpy twin of
  the C.

Every function works on numpy int64 arrays holding int32 values (or Python ints) and wraps or
saturates exactly as the C++ does; `edgec.compiler.fixedpoint` supplies the two primitives
(saturating rounding doubling high multiply, rounding divide by a power of two).
"""
from __future__ import annotations

import math

import numpy as np

from .fixedpoint import round_half_away, rounding_divide_by_pot, saturating_rounding_doubling_high_mul, wrap32

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
SCALED_DIFF_INTEGER_BITS = 5        # TFLite's kScaledDiffIntegerBits: exp's input is Q5.26
ACCUMULATION_INTEGER_BITS = 12      # kAccumulationIntegerBits: the sum of exps is Q12.19

_srdhm = saturating_rounding_doubling_high_mul
_rdbp = rounding_divide_by_pot


def _i64(x):
    return np.asarray(x, dtype=np.int64)


def saturating_shift_left(x, exponent: int):
    """gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0 (Rescale to fewer integer bits)."""
    x = _i64(x)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, wrap32(x << exponent)))


def rounding_half_sum(a, b):
    s = _i64(a) + _i64(b)
    v = s + np.where(s >= 0, 1, -1)
    return np.where(v >= 0, v // 2, -((-v) // 2))          # C division truncates toward zero


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant_term = 1895147668          # exp(-1/8)
    constant_1_over_3 = 715827883
    x = wrap32(_i64(a) + (1 << 28))     # a + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _rdbp(x4, 2)
    poly = _rdbp(wrap32(_srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return wrap32(constant_term + _srdhm(constant_term, wrap32(x + poly)))


_BARREL = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242)]


def exp_on_negative_values(a, integer_bits: int = SCALED_DIFF_INTEGER_BITS):
    """gemmlowp::exp_on_negative_values: a is a Q(integer_bits).(31-integer_bits) value <= 0, the result Q0.31."""
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap32((a & (one_quarter - 1)) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_shift_left(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where(remainder & bit, _srdhm(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a):
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap32(1515870810 + _srdhm(half_denominator, -1010580540))        # 48/17 - 32/17 * d
    for _ in range(3):
        half_denominator_times_x = _srdhm(half_denominator, x)
        one_minus = wrap32((1 << 29) - half_denominator_times_x)
        x = wrap32(x + saturating_shift_left(_srdhm(x, one_minus), 2))
    return saturating_shift_left(x, 1)


def count_leading_zeros32(x):
    """Leading zero bits of x as a uint32 (x > 0 here)."""
    x = _i64(x) & 0xFFFFFFFF
    n = np.zeros_like(x)
    for bits in (16, 8, 4, 2, 1):
        small = x < (1 << (32 - bits))
        n = np.where(small, n + bits, n)
        x = np.where(small, x << bits, x)
    return np.where(x == 0, n + 1, n)


def get_reciprocal(x, x_integer_digits: int):
    """TFLite's GetReciprocal: (1/x as Q0.31 of x shifted to [1, 2), num_bits_over_unit)."""
    x = _i64(x)
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap32(((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def quantize_multiplier_tflite(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier exactly (double-rounding build): like edgec.compiler.fixedpoint's, but
    shifts above 30 are kept (softmax's multiplier can reach 2^31 - 1)."""
    if real == 0.0:
        return 0, 0
    mant, shift = math.frexp(real)
    q = round_half_away(mant * (1 << 31))
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q), int(shift)


def softmax_tflm_params(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """TFLite's PreprocessSoftmaxScaling + CalculateInputRadius for int8 input (double rounding build):
    (input_multiplier, input_left_shift, diff_min)."""
    real = min(float(beta) * float(input_scale) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier_tflite(real)
    if left_shift < 0:
        raise ValueError(f"softmax input scale {input_scale} x beta {beta} is too small for TFLite's int8 softmax")
    max_input_rescaled = (((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS))
                          / (1 << left_shift))
    diff_min = -int(math.floor(max_input_rescaled))
    return multiplier, left_shift, diff_min


def softmax_tflm_attrs(input_scale: float, beta: float = 1.0) -> dict:
    """The integer attrs of a Softmax node in TFLite Micro's arithmetic (mode "tflm"), as the C kernel
    edgec_softmax_tflm_s8 and its twin read them: for imported .tflite and QDQ models."""
    m, ls, dmin = softmax_tflm_params(input_scale, beta)
    return dict(mode="tflm", beta=beta, input_multiplier=m, input_left_shift=ls, diff_min=dmin,
                exp_table=softmax_tflm_exp_table(input_scale, beta))


def softmax_tflm_exp_table(input_scale: float, beta: float = 1.0) -> np.ndarray:
    """exp of each int8 difference d = max - x (0..255) as TFLite Micro computes it, Q0.31 int32;
    0 where -d < diff_min (TFLite leaves those out of the sum and outputs -128 for them)."""
    multiplier, left_shift, diff_min = softmax_tflm_params(input_scale, beta)
    diff = -np.arange(256, dtype=np.int64)
    # MultiplyByQuantizedMultiplierGreaterThanOne (double rounding): SRDHM(diff * 2^left_shift, m)
    rescaled = _srdhm(wrap32(diff << left_shift), multiplier)
    table = exp_on_negative_values(rescaled)
    return np.where(diff >= diff_min, table, 0).astype(np.int32)
