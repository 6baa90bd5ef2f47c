/* Softmax over the last axis, integer only.  exp_table[d] = round(2^K * exp(-scale_in * d)), d = 0..255,
 * built at compile time with K chosen so a row's sum fits 31 bits.  Output scale 1/256, zero point -128:
 * out = min(127, (e * 256 + sum / 2) / sum - 128).  Twin: reference.softmax_s8.
 * edgec_softmax_tflm_s8 below is TFLite Micro's variant, for models imported from .tflite. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_softmax_s8(const EDGEC_ROM int32_t *exp_table, int32_t rows, int32_t cols, const int8_t *in, int8_t *out)
{
    int32_t r, c;
    for (r = 0; r < rows; r++) {
        const int8_t *x = in + r * cols;
        int8_t *y = out + r * cols;
        int32_t mx = -128;
        uint32_t sum = 0;
        for (c = 0; c < cols; c++)
            if (x[c] > mx)
                mx = x[c];
        for (c = 0; c < cols; c++)
            sum += (uint32_t)exp_table[mx - x[c]];
        for (c = 0; c < cols; c++) {
            const uint32_t q = ((uint32_t)exp_table[mx - x[c]] * 256u + sum / 2u) / sum;
            const int32_t v = (int32_t)q - 128;
            y[c] = (int8_t)(v > 127 ? 127 : v);
        }
    }
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: gemmlowp's one_over_one_plus_x_for_x_in_0_1, three
 * Newton-Raphson steps in Q2.29 (48/17 - 32/17 d to start).  Twin: gemmlowp.one_over_one_plus_x_for_x_in_0_1. */
static int32_t edgec_sat_shl(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - 1u);
    if (x > threshold)
        return INT32_MAX;
    if (x < -threshold)
        return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}

static int32_t edgec_one_over_one_plus_x(int32_t a)
{
    const int64_t s = (int64_t)a + INT32_MAX;
    const int32_t half_den = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = (int32_t)(INT32_C(1515870810) + edgec_srdhm(half_den, INT32_C(-1010580540)));
    int32_t i;
    for (i = 0; i < 3; i++) {
        const int32_t one_minus = (int32_t)((INT32_C(1) << 29) - edgec_srdhm(half_den, x));
        x = (int32_t)((uint32_t)x + (uint32_t)edgec_sat_shl(edgec_srdhm(x, one_minus), 2));
    }
    return edgec_sat_shl(x, 1);
}

/* TFLite Micro's int8 softmax (reference_ops::Softmax), for models imported from .tflite.
 * exp_table[d] = exp(-d * input_scale * beta) in Q0.31 exactly as TFLite's gemmlowp
 * exp_on_negative_values gives it (0 where TFLite skips the difference), built at compile time.
 * Per row: sum of the exps in Q12.19, its reciprocal (GetReciprocal), then
 * out = RDBP(SRDHM(recip, e), bits_over_unit + 23) - 128, clamped.  Twin: reference.softmax_tflm_s8. */
void edgec_softmax_tflm_s8(const EDGEC_ROM int32_t *exp_table, int32_t rows, int32_t cols, const int8_t *in, int8_t *out)
{
    int32_t r, c;
    for (r = 0; r < rows; r++) {
        const int8_t *x = in + r * cols;
        int8_t *y = out + r * cols;
        int32_t mx = -128, sum = 0, headroom = 0, exponent, recip;
        uint32_t u;
        for (c = 0; c < cols; c++)
            if (x[c] > mx)
                mx = x[c];
        for (c = 0; c < cols; c++)
            sum += edgec_rdbp(exp_table[mx - x[c]], 12);
        for (u = (uint32_t)sum; !(u & UINT32_C(0x80000000)); u <<= 1)   /* sum >= 2^19: exp(0) alone */
            headroom++;
        recip = edgec_one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - UINT32_C(0x80000000)));
        exponent = 12 - headroom + 23;
        for (c = 0; c < cols; c++) {
            const int32_t v = edgec_rdbp(edgec_srdhm(recip, exp_table[mx - x[c]]), exponent) - 128;
            y[c] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
        }
    }
}

/* LogSoftmax over the last axis, output scale 16/256, zero point 127 (TFLite's).  Per row:
 * sum = sum exp_table[max - x] (>= 2^exp_bits), its log in output steps scaled by 2^16 from the
 * position e of its leading one and the 8 bits after it, then out = 127 - ((d_table[d] + L + 2^15) >> 16).
 * Twin: compiler/log_softmax.py (log_softmax_s8), where the tables are made. */
void edgec_log_softmax_s8(const EDGEC_ROM int32_t *exp_table, const EDGEC_ROM int32_t *d_table, const EDGEC_ROM int32_t *log_table,
                          int32_t exp_bits, int32_t ln2_q, int32_t rows, int32_t cols, const int8_t *in, int8_t *out)
{
    int32_t r, c;
    for (r = 0; r < rows; r++) {
        const int8_t *x = in + r * cols;
        int8_t *y = out + r * cols;
        int32_t mx = -128, e = 30, big;
        uint32_t sum = 0;
        for (c = 0; c < cols; c++)
            if (x[c] > mx)
                mx = x[c];
        for (c = 0; c < cols; c++)
            sum += (uint32_t)exp_table[mx - x[c]];
        while (!(sum & (UINT32_C(1) << e)))              /* sum >= 2^exp_bits >= 1: ends */
            e--;
        big = (e - exp_bits) * ln2_q + log_table[((sum << (30 - e)) >> 22) & 255u];
        for (c = 0; c < cols; c++) {
            const int32_t v = 127 - ((d_table[mx - x[c]] + big + (INT32_C(1) << 15)) >> 16);
            y[c] = (int8_t)(v < -128 ? -128 : v);
        }
    }
}
