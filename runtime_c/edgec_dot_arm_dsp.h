/* int8 dot product for Armv7E-M (Cortex-M4/M7) with the DSP extension: four int8 pairs per step,
 * sign-extended two at a time (SXTB16) and multiply-accumulated two at a time (SMLAD).  Shipped as
 * edgec_dot.h for targets whose kernel_variants name it; the same integer as the portable loop. */
#ifndef EDGEC_DOT_H
#define EDGEC_DOT_H
#include <stdint.h>
#include "edgec_target.h"
#include <arm_acle.h>

/* 32-bit rotate right by 8: gcc folds it into SXTB16's own rotation.  Words are held in the ACLE's
 * own types (int8x4_t in, int16x2_t out of SXTB16), so -Wconversion has nothing to say. */
static inline int8x4_t edgec_ror8(int8x4_t v)
{
    return (int8x4_t)(((uint32_t)v >> 8) | ((uint32_t)v << 24));
}

static inline int32_t edgec_dot_s8(const int8_t *x, const EDGEC_ROM int8_t *w, int32_t n)
{
    int32_t acc = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        int8x4_t xa, wa;
        __builtin_memcpy(&xa, x + i, 4);       /* one (unaligned) word load each: fine on v7E-M */
        __builtin_memcpy(&wa, w + i, 4);
        acc = __smlad(__sxtb16(xa), __sxtb16(wa), acc);                    /* bytes 0 and 2 */
        acc = __smlad(__sxtb16(edgec_ror8(xa)), __sxtb16(edgec_ror8(wa)), acc);  /* bytes 1 and 3 */
    }
    for (; i < n; i++)
        acc += (int32_t)x[i] * w[i];
    return acc;
}

/* Two dot products sharing the input: 3 word loads feed 4 SMLADs (8 MACs). */
static inline void edgec_dot1x2_s8(const int8_t *x, const EDGEC_ROM int8_t *w0, const EDGEC_ROM int8_t *w1, int32_t n, int32_t *acc)
{
    int32_t i = 0, a0 = 0, a1 = 0;
    for (; i + 4 <= n; i += 4) {
        int8x4_t p, u, v;
        int16x2_t p02, p13;
        __builtin_memcpy(&p, x + i, 4);
        __builtin_memcpy(&u, w0 + i, 4);
        __builtin_memcpy(&v, w1 + i, 4);
        p02 = __sxtb16(p); p13 = __sxtb16(edgec_ror8(p));
        a0 = __smlad(p02, __sxtb16(u), a0); a0 = __smlad(p13, __sxtb16(edgec_ror8(u)), a0);
        a1 = __smlad(p02, __sxtb16(v), a1); a1 = __smlad(p13, __sxtb16(edgec_ror8(v)), a1);
    }
    for (; i < n; i++) {
        const int32_t pp = x[i];
        a0 += pp * w0[i];
        a1 += pp * w1[i];
    }
    acc[0] += a0;
    acc[1] += a1;
}

/* Four dot products at once (two inputs x two weight rows): 4 word loads feed 8 SMLADs (16 MACs). */
static inline void edgec_dot2x2_s8(const int8_t *x0, const int8_t *x1, const EDGEC_ROM int8_t *w0, const EDGEC_ROM int8_t *w1, int32_t n,
                                   int32_t *acc)
{
    int32_t i = 0, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (; i + 4 <= n; i += 4) {
        int8x4_t p, q, u, v;
        int16x2_t p02, p13, q02, q13, u02, u13, v02, v13;
        __builtin_memcpy(&p, x0 + i, 4);
        __builtin_memcpy(&q, x1 + i, 4);
        __builtin_memcpy(&u, w0 + i, 4);
        __builtin_memcpy(&v, w1 + i, 4);
        p02 = __sxtb16(p); p13 = __sxtb16(edgec_ror8(p));
        q02 = __sxtb16(q); q13 = __sxtb16(edgec_ror8(q));
        u02 = __sxtb16(u); u13 = __sxtb16(edgec_ror8(u));
        v02 = __sxtb16(v); v13 = __sxtb16(edgec_ror8(v));
        a0 = __smlad(p02, u02, a0); a0 = __smlad(p13, u13, a0);
        a1 = __smlad(p02, v02, a1); a1 = __smlad(p13, v13, a1);
        a2 = __smlad(q02, u02, a2); a2 = __smlad(q13, u13, a2);
        a3 = __smlad(q02, v02, a3); a3 = __smlad(q13, v13, a3);
    }
    for (; i < n; i++) {
        const int32_t pp = x0[i], qq = x1[i], uu = w0[i], vv = w1[i];
        a0 += pp * uu;
        a1 += pp * vv;
        a2 += qq * uu;
        a3 += qq * vv;
    }
    acc[0] += a0;
    acc[1] += a1;
    acc[2] += a2;
    acc[3] += a3;
}

#endif
