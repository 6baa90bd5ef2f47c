/* int8 dot product, the inner loop of conv and fully-connected: portable C.  Each int8 x int8 product
 * is formed in `int` (exact even where int is 16 bits: |p| <= 2^14), which lets 8-bit cores use their
 * 8x8 multiplier instead of a 32-bit multiply routine, and is accumulated in int32_t.
 * Targets with a faster variant (see compiler/targets.py, kernel_variants) ship that file under this
 * name instead; every variant returns exactly the same integer. */
#ifndef EDGEC_DOT_H
#define EDGEC_DOT_H
#include <stdint.h>
#include "edgec_target.h"

EDGEC_HELPER int32_t edgec_dot_s8(const int8_t *x, const EDGEC_ROM int8_t *w, int32_t n)
{
    int32_t acc = 0, i = 0;
    for (; i + 4 <= n; i += 4) {        /* one int product at a time: int may be 16 bits (AVR) */
        acc += x[i] * w[i];
        acc += x[i + 1] * w[i + 1];
        acc += x[i + 2] * w[i + 2];
        acc += x[i + 3] * w[i + 3];
    }
    for (; i < n; i++)
        acc += x[i] * w[i];
    return acc;
}

/* Two dot products sharing the input: acc[j] += x . w_j (two output channels per pass). */
EDGEC_HELPER void edgec_dot1x2_s8(const int8_t *x, const EDGEC_ROM int8_t *w0, const EDGEC_ROM int8_t *w1, int32_t n, int32_t *acc)
{
    int32_t i, a0 = 0, a1 = 0;
    for (i = 0; i < n; i++) {
        const int8_t p = x[i];
        a0 += p * w0[i];
        a1 += p * w1[i];
    }
    acc[0] += a0;
    acc[1] += a1;
}

/* Four dot products at once (two inputs x two weight rows) over n values: acc[2*i + j] += x_i . w_j.
 * Sharing the loads is what makes the pointwise conv fast. */
EDGEC_HELPER void edgec_dot2x2_s8(const int8_t *x0, const int8_t *x1, const EDGEC_ROM int8_t *w0, const EDGEC_ROM int8_t *w1, int32_t n,
                                   int32_t *acc)
{
    int32_t i, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (i = 0; i < n; i++) {
        const int8_t p = x0[i], q = x1[i], u = w0[i], v = w1[i];
        a0 += p * u;
        a1 += p * v;
        a2 += q * u;
        a3 += q * v;
    }
    acc[0] += a0;
    acc[1] += a1;
    acc[2] += a2;
    acc[3] += a3;
}

#endif
