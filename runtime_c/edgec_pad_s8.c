/* Padding of a rank <= 4 tensor: constant (with the zero point, real 0), or edge / reflect.
 * Twin: compiler/ops/layout.py pad_s8. */
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

/* Output rows [out_row0, out_row0 + out_rows) of the Pad of a [1, H, W, C] tensor, to `out`, from `in`
 * holding input rows from in_row0 on (a patch-based stage's row band, see edgec_conv_common.h).
 * Twin: the same rows of reference.pad_s8. */
void edgec_pad_rows_s8(const EDGEC_ROM edgec_pad_params *p, const int8_t *in, int32_t in_row0, int8_t *out,
                       int32_t out_row0, int32_t out_rows)
{
    const EDGEC_ROM int32_t *is = p->in_shape, *os = p->out_shape, *b = p->before;
    const int32_t out_row = os[2] * os[3];
    int32_t y, x;
    for (y = out_row0; y < out_row0 + out_rows; y++, out += out_row) {
        const int32_t iy = y - b[1];
        memset(out, (int)p->value, (size_t)out_row);
        if (iy < 0 || iy >= is[1])
            continue;
        for (x = 0; x < is[2]; x++)
            memcpy(out + (x + b[2]) * os[3] + b[3], in + ((iy - in_row0) * is[2] + x) * is[3], (size_t)is[3]);
    }
}

/* The input index an output index `o` along an axis of `n` input elements reads, `before` of them
 * padded in front: the nearest border element (edge, mode 1) or its mirror image about the border
 * element (reflect, mode 2: -1 reads 1, n reads n - 2), reflected again while it falls outside. */
static int32_t border_source(int32_t o, int32_t before, int32_t n, int32_t mode)
{
    int32_t i = o - before;
    if (mode == 1 || n == 1)
        return i < 0 ? 0 : (i >= n ? n - 1 : i);
    while (i < 0 || i >= n)
        i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

void edgec_pad_border_s8(const EDGEC_ROM edgec_pad_border_params *p, const int8_t *in, int8_t *out)
{
    const EDGEC_ROM int32_t *is = p->in_shape, *os = p->out_shape, *b = p->before;
    const int32_t mode = p->mode;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < os[0]; i0++) {
        const int32_t s0 = border_source(i0, b[0], is[0], mode);
        for (i1 = 0; i1 < os[1]; i1++) {
            const int32_t s1 = border_source(i1, b[1], is[1], mode);
            for (i2 = 0; i2 < os[2]; i2++, out += os[3]) {
                const int8_t *src = in + ((s0 * is[1] + s1) * is[2] + border_source(i2, b[2], is[2], mode)) * is[3];
                if (os[3] == is[3]) {
                    memcpy(out, src, (size_t)is[3]);
                    continue;
                }
                for (i3 = 0; i3 < os[3]; i3++)
                    out[i3] = src[border_source(i3, b[3], is[3], mode)];
            }
        }
    }
}
