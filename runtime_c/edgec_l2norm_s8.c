/* L2 normalization along one axis, the tensor seen as [outer, count, inner]: TFLite's int8
 * L2Normalization.  Per (outer, inner) row: the sum of squared (x - zp), its inverse square root as a
 * Q31 multiplier and a shift (TFLite's GetInvSqrtQuantizedMultiplierExp: Newton-Raphson in gemmlowp
 * fixed point), y = clamp(mbqm(x - zp, m, s + 7)); output scale 1/128, zero point 0.
 * Twin: compiler/ops/l2norm.l2norm_s8 (and inv_sqrt). */
#include "edgec.h"
#include "edgec_fixedpoint.h"

/* gemmlowp's SaturatingRoundingMultiplyByPOT<e>, e > 0 */
static int32_t sat_shl(int32_t x, int32_t e)
{
    const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - e)) - 1u);
    if (x > threshold)
        return INT32_MAX;
    if (x < -threshold)
        return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* 1/sqrt(v) ~ *m * 2^(*s - 31), *s <= 0 */
static void inv_sqrt(int32_t v, int32_t *m, int32_t *s)
{
    const int32_t half_three = (INT32_C(1) << 28) + (INT32_C(1) << 27);    /* 1.5 in Q3.28 */
    int32_t shift = 11, clz = 0, pairs, half_input, x, k;
    uint32_t u;
    if (v <= 1) {
        *m = INT32_MAX;
        *s = 0;
        return;
    }
    while (v >= (INT32_C(1) << 29)) {
        v /= 4;
        shift++;
    }
    for (u = (uint32_t)v; !(u & 0x80000000u); u <<= 1)
        clz++;
    pairs = (clz - 1) / 2 - 1;
    shift -= pairs;
    v = (int32_t)((uint32_t)v << (2 * pairs));
    half_input = edgec_rdbp(v >> 1, 1);
    x = INT32_C(1) << 28;                                   /* 1.0 in Q3.28 */
    for (k = 0; k < 5; k++) {
        const int32_t x3 = sat_shl(edgec_srdhm(edgec_srdhm(x, x), x), 6);
        x = sat_shl((int32_t)((uint32_t)edgec_srdhm(half_three, x) - (uint32_t)edgec_srdhm(half_input, x3)), 3);
    }
    x = edgec_srdhm(x, INT32_C(1518500250));                     /* sqrt(2) / 2 in Q0.31 */
    if (shift < 0) {
        x = (int32_t)((uint32_t)x << -shift);
        shift = 0;
    }
    *m = x;
    *s = -shift;
}

void edgec_l2norm_s8(const EDGEC_ROM edgec_l2norm_params *p, const int8_t *in, int8_t *out)
{
    int32_t o, i, k, m, s;
    for (o = 0; o < p->outer; o++) {
        for (i = 0; i < p->inner; i++) {
            const int32_t base = o * p->count * p->inner + i;
            uint32_t sq = 0;                   /* modulo 2^32, as TFLite's int32 sum */
            for (k = 0; k < p->count; k++) {
                const int32_t d = in[base + k * p->inner] - p->in_zp;
                sq += (uint32_t)(d * d);
            }
            inv_sqrt((int32_t)sq, &m, &s);
            for (k = 0; k < p->count; k++) {
                const int32_t d = in[base + k * p->inner] - p->in_zp;
                out[base + k * p->inner] = edgec_clamp_s8(edgec_mbqm(d, m, s + 7), -128, 127);
            }
        }
    }
}
