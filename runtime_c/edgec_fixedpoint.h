/* The one rounding rule, in C.  Twin of compiler/fixedpoint.py (gemmlowp / TFLite requantization):
 * x * M, with M = multiplier * 2^(shift-31), rounds ties upward in the doubling high multiply
 * (gemmlowp's nudge) and half away from zero in the final shift.  Assumes two's-complement int32 and arithmetic right shifts of negative
 * values, as gcc and clang give on every supported target. */
#ifndef EDGEC_FIXEDPOINT_H
#define EDGEC_FIXEDPOINT_H
#include <stdint.h>

static inline int32_t edgec_srdhm(int32_t a, int32_t b)
{
    int64_t ab, v;
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    ab = (int64_t)a * (int64_t)b;
    v = ab + (ab >= 0 ? (int64_t)(1L << 30) : (int64_t)(1L - (1L << 30)));
    /* division by 2^31 truncating toward zero, without a branch: bias negatives by 2^31 - 1 */
    return (int32_t)((v + ((v >> 63) & INT64_C(0x7FFFFFFF))) >> 31);
}

static inline int32_t edgec_rdbp(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - UINT32_C(1));
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t edgec_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return edgec_rdbp(edgec_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int8_t edgec_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

#endif
