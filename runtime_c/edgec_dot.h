/* int8 dot product, the inner loop of conv and fully-connected: portable C.
 * Targets with a faster variant (see compiler/targets.py, kernel_variants) ship that file under this
 * name instead; every variant returns exactly the same integer. */
#ifndef EDGEC_DOT_H
#define EDGEC_DOT_H
#include <stdint.h>

static inline int32_t edgec_dot_s8(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t acc = 0, i = 0;
    for (; i + 4 <= n; i += 4)
        acc += (int32_t)x[i] * w[i] + (int32_t)x[i + 1] * w[i + 1] + (int32_t)x[i + 2] * w[i + 2] + (int32_t)x[i + 3] * w[i + 3];
    for (; i < n; i++)
        acc += (int32_t)x[i] * w[i];
    return acc;
}

#endif
