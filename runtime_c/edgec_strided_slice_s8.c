/* A strided box of a rank <= 4 tensor (shapes padded with leading 1s): output element (k0, k1, k2, k3) is
 * in[begin[d] + k_d * step[d]] on every axis d, steps negative too (TFLite's STRIDED_SLICE; the start,
 * step and count come from TFLite Micro's index logic at compile time, compiler/strided_slice.py).
 * Twin: strided_slice.strided_slice_any. */
#include "edgec.h"

void edgec_strided_slice_s8(const EDGEC_ROM edgec_strided_slice_params *p, const int8_t *in, int8_t *out)
{
    const EDGEC_ROM int32_t *s = p->in_shape, *b = p->begin, *d = p->step, *n = p->count;
    int32_t k0, k1, k2, k3;
    for (k0 = 0; k0 < n[0]; k0++) {
        const int32_t i0 = b[0] + k0 * d[0];
        for (k1 = 0; k1 < n[1]; k1++) {
            const int32_t i1 = i0 * s[1] + b[1] + k1 * d[1];
            for (k2 = 0; k2 < n[2]; k2++) {
                const int32_t i2 = i1 * s[2] + b[2] + k2 * d[2];
                for (k3 = 0; k3 < n[3]; k3++)
                    *out++ = in[i2 * s[3] + b[3] + k3 * d[3]];
            }
        }
    }
}
