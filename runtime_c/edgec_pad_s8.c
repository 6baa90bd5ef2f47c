/* Constant padding of a rank <= 4 tensor with the zero point (real 0).  Twin: reference.pad_s8. */
#include <string.h>
#include "edgec.h"

void edgec_pad_s8(const EDGEC_ROM edgec_pad_params *p, const int8_t *in, int8_t *out)
{
    const EDGEC_ROM int32_t *is = p->in_shape, *os = p->out_shape, *b = p->before;
    int32_t i0, i1, i2;
    memset(out, (int)p->value, (size_t)(os[0] * os[1] * os[2] * os[3]));
    for (i0 = 0; i0 < is[0]; i0++)
        for (i1 = 0; i1 < is[1]; i1++)
            for (i2 = 0; i2 < is[2]; i2++) {
                const int8_t *src = in + ((i0 * is[1] + i1) * is[2] + i2) * is[3];
                int8_t *dst = out + (((i0 + b[0]) * os[1] + i1 + b[1]) * os[2] + i2 + b[2]) * os[3] + b[3];
                memcpy(dst, src, (size_t)is[3]);
            }
}
