/* A box of a rank <= 4 tensor (shapes padded with leading 1s): out = in[b0:e0, b1:e1, b2:e2, b3:e3].
 * Darknet's grouped [route] takes a channel slice with it.  Twin: reference.slice_any. */
#include "edgec.h"

void edgec_slice_s8(const EDGEC_ROM edgec_slice_params *p, const int8_t *in, int8_t *out)
{
    const EDGEC_ROM int32_t *s = p->in_shape, *b = p->begin, *e = p->end;
    int32_t i0, i1, i2, i3;
    for (i0 = b[0]; i0 < e[0]; i0++)
        for (i1 = b[1]; i1 < e[1]; i1++)
            for (i2 = b[2]; i2 < e[2]; i2++)
                for (i3 = b[3]; i3 < e[3]; i3++)
                    *out++ = in[((i0 * s[1] + i1) * s[2] + i2) * s[3] + i3];
}
