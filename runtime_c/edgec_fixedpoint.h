/* The one rounding rule, in C.  Twin of compiler/fixedpoint.py (gemmlowp / TFLite requantization):
 * x * M, with M = multiplier * 2^(shift-31), rounds ties upward in the doubling high multiply
 * (gemmlowp's nudge) and half away from zero in the final shift.  Assumes two's-complement int32 and arithmetic right shifts of negative
 * values, as gcc and clang give on every supported target. */
#ifndef EDGEC_FIXEDPOINT_H
#define EDGEC_FIXEDPOINT_H
#include <stdint.h>
#include "edgec_target.h"

static inline int32_t edgec_srdhm(int32_t a, int32_t b)
{
    /* gemmlowp adds 2^30 (ab >= 0) or 1 - 2^30 (ab < 0) and divides by 2^31 truncating toward zero;
     * for ab < 0 that equals adding 2^30 and shifting right arithmetically (flooring): with
     * -ab - 2^30 = q*2^31 + r, both give -(q + (r > 0)).  So: one multiply-accumulate and a shift
     * (SMLAL on Armv7-M).  tests/test_fixedpoint.py checks the identity and the C on the edge grid. */
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    return (int32_t)(((int64_t)a * (int64_t)b + (INT64_C(1) << 30)) >> 31);
}

static inline int32_t edgec_rdbp(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - UINT32_C(1));
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

EDGEC_HELPER int32_t edgec_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return edgec_rdbp(edgec_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int8_t edgec_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* TFLite's int16x8 requantization, MultiplyByQuantizedMultiplier(int64_t x, int32_t m, int shift):
 * the Q31 multiplier reduced to 15 bits ((m + 2^15) >> 16, 0x7FFF from m >= 0x7FFF0000 on), one
 * rounding term and an arithmetic right shift by 15 - shift, then a (wrapping) cast to int32.
 * Valid for m >= 0, -31 <= shift <= 7 and |x| < 2^47 (quantize keeps int16 nodes inside them).
 * Twin: fixedpoint.multiply_by_quantized_multiplier_int64. */
EDGEC_HELPER int32_t edgec_mbqm64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < INT32_C(0x7FFF0000) ? (int64_t)((multiplier + INT32_C(32768)) >> 16) : INT64_C(0x7FFF);
    const int32_t total = 15 - shift;
    return (int32_t)((x * reduced + (INT64_C(1) << (total - 1))) >> total);
}

static inline int16_t edgec_clamp_s16(int32_t v, int32_t lo, int32_t hi)
{
    return (int16_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* One output of a conv or fully-connected layer: the accumulator plus the (zero-point folded) bias,
 * added modulo 2^32 as the reference wraps it, requantized, offset and clamped to the activation. */
EDGEC_HELPER int8_t edgec_requant_s8(uint32_t bias, int32_t acc, int32_t multiplier, int32_t shift,
                                      int32_t out_zp, int32_t act_min, int32_t act_max)
{
    return edgec_clamp_s8(edgec_mbqm((int32_t)(bias + (uint32_t)acc), multiplier, shift) + out_zp, act_min, act_max);
}

/* TFLite's int16 gate arithmetic, shared by the recurrent kernels (edgec_lstm_s8.c, edgec_gru_s8.c):
 * saturation to int16 and the table-interpolated int16 Logistic and Tanh.  Twins in compiler/recurrent.py. */
static inline int32_t edgec_sat16(int32_t v)
{
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/* TFLite's int16 Logistic of a Q3.12 value: Q0.15. */
static inline int32_t edgec_sigmoid16(int32_t v, const EDGEC_ROM uint16_t *table)
{
    const int32_t x = v * 3;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = a >> 9;
    uint32_t res;
    if (uh >= 255u) {
        res = UINT32_C(0x7FFF) << 10;
    } else {
        const uint32_t ua = table[uh], ub = table[uh + 1u];
        res = (ua << 9) + (a & 0x1FFu) * (ub - ua);
    }
    res = x >= 0 ? res + (UINT32_C(1) << 9) : (UINT32_C(1) << 25) - res + (UINT32_C(1) << 9) - 1u;
    return (int32_t)(res >> 10);
}

/* TFLite's int16 Tanh: the input rescaled to 3 x Q3.12 by (v * mult + round) >> shift; Q0.15 out. */
static inline int32_t edgec_tanh16(int32_t v, int32_t mult, int32_t shift, const EDGEC_ROM uint16_t *table)
{
    const int32_t rnd = shift > 0 ? (INT32_C(1) << (shift - 1)) : 0;
    const int32_t x = (v * mult + rnd) >> shift;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = a >> 8;
    int32_t res;
    if (uh >= 255u) {
        res = INT32_C(0xFFFF) << 8;
    } else {
        const uint32_t ua = table[uh], ub = table[uh + 1u];
        res = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
    }
    res = x >= 0 ? res - (INT32_C(1) << 23) + (INT32_C(1) << 7) : -res + (INT32_C(1) << 23) + (INT32_C(1) << 7) - 1;
    return res >> 8;
}

#endif
