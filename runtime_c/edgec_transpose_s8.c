/* Transpose of a tensor of rank <= 4 (shapes padded with leading 1s).  Twin: numpy.transpose. */
#include "edgec.h"

/* The output's shape and, per output axis, the input stride it walks. */
static void walk(const EDGEC_ROM edgec_transpose_params *p, int32_t os[4], int32_t s[4])
{
    int32_t stride[4], k;
    stride[3] = 1;
    for (k = 2; k >= 0; k--)
        stride[k] = stride[k + 1] * p->in_shape[k + 1];
    for (k = 0; k < 4; k++) {
        os[k] = p->in_shape[p->perm[k]];
        s[k] = stride[p->perm[k]];
    }
}

void edgec_transpose_s8(const EDGEC_ROM edgec_transpose_params *p, const int8_t *in, int8_t *out)
{
    int32_t os[4], s[4], i0, i1, i2, i3;
    walk(p, os, s);
    for (i0 = 0; i0 < os[0]; i0++)
        for (i1 = 0; i1 < os[1]; i1++)
            for (i2 = 0; i2 < os[2]; i2++)
                for (i3 = 0; i3 < os[3]; i3++)
                    *out++ = in[i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3]];
}

/* Output rows [out_row0, out_row0 + out_rows) (axis 1 of the padded output, whose axis 0 is 1) of the
 * same transpose, to `out` (the band's first row), from the whole input: a patch-based stage's first
 * node (passes/tile.py), e.g. NCHW -> NHWC, whose output rows r read input rows r of every channel.
 * Twin: the same rows of numpy.transpose. */
void edgec_transpose_rows_s8(const EDGEC_ROM edgec_transpose_params *p, const int8_t *in, int8_t *out,
                             int32_t out_row0, int32_t out_rows)
{
    int32_t os[4], s[4], i1, i2, i3;
    walk(p, os, s);
    for (i1 = out_row0; i1 < out_row0 + out_rows; i1++)
        for (i2 = 0; i2 < os[2]; i2++) {
            const int8_t *src = in + i1 * s[1] + i2 * s[2];
            for (i3 = 0; i3 < os[3]; i3++)
                *out++ = src[i3 * s[3]];
        }
}
