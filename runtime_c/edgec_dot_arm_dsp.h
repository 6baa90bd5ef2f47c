/* int8 dot product for Armv7E-M (Cortex-M4/M7) with the DSP extension: four int8 pairs per step,
 * sign-extended two at a time (SXTB16) and multiply-accumulated two at a time (SMLAD).  Shipped as
 * edgec_dot.h for targets whose kernel_variants name it; the same integer as the portable loop. */
#ifndef EDGEC_DOT_H
#define EDGEC_DOT_H
#include <stdint.h>
#include <arm_acle.h>

/* 32-bit rotate right by 8: gcc folds it into SXTB16's own rotation. */
static inline uint32_t edgec_ror8(uint32_t v) { return (v >> 8) | (v << 24); }

static inline int32_t edgec_dot_s8(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t acc = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t xa, wa;
        __builtin_memcpy(&xa, x + i, 4);       /* one (unaligned) word load each: fine on v7E-M */
        __builtin_memcpy(&wa, w + i, 4);
        acc = __smlad(__sxtb16(xa), __sxtb16(wa), acc);                    /* bytes 0 and 2 */
        acc = __smlad(__sxtb16(edgec_ror8(xa)), __sxtb16(edgec_ror8(wa)), acc);  /* bytes 1 and 3 */
    }
    for (; i < n; i++)
        acc += (int32_t)x[i] * w[i];
    return acc;
}

#endif
