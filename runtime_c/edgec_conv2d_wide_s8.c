/* Pointwise Conv2D (1x1, stride 1, no padding, one group) over wide weights: flash traded for speed
 * where the --flash budget allows (passes/plan_wide.py chooses the layers).  Twin: reference.conv2d_s8.
 *
 * The weights come pre-sign-extended in the wide layout (edgec_dot.h, codegen/layouts.py) and each
 * output channel's requantization prepared at compile time (edgec_wide_rq; the layer's activation range
 * is the whole int8 range, its shifts right shifts of 2..31 bits, codegen checks).  For each pair of
 * output pixels both input vectors are sign-extended once into the columns scratch (edgec_cols_put4's
 * order), then edgec_wide_pairs runs every output channel pair over them: loads and SMLADs only, with
 * the requantization and stores in the same loop.  A lone last pixel is computed as a pair with itself,
 * its outputs stored twice in place; an odd channel count's last channel goes through a 4-byte
 * staging block.  `bias` arrives with the input zero point folded in (edgec_conv2d_s8.c), inside the
 * records (whose first word says whether their zero point is apart).  `cols`: 4-aligned, 2 * K4 int16
 * (K4 = in_c rounded up to 4) and 5 int32 after them. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

/* One pixel's in_c inputs into columns slot `dst` (cols + 4 * slot): whole fours by edgec_cols_put4,
 * the last partial four through a zero-padded word. */
static void edgec_wide_put(int16_t *dst, const int8_t *x, int32_t in_c)
{
    int32_t i;
    for (i = 0; i + 4 <= in_c; i += 4, dst += 8)
        edgec_cols_put4(dst, x + i);
    if (i < in_c) {
        int8_t last[4] = {0, 0, 0, 0};
        int32_t j;
        for (j = 0; i + j < in_c; j++)
            last[j] = x[i + j];
        edgec_cols_put4(dst, last);
    }
}

void edgec_conv2d_wide_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                          const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols)
{
    const int32_t k = p->in_c, groups = (k + 3) >> 2, out_w = p->out_w, out_c = p->out_c, stride = p->out_stride;
    const int32_t pixels = out_rows * out_w, pairs = out_c >> 1, image = p->in_h * p->in_w * k, batch = p->batch;
    const EDGEC_ROM int32_t *w_odd = weights + 4 * groups * pairs, *rq = records + 1, *rq_odd = rq + 12 * pairs;
    const int32_t apart = records[0];
    int32_t n, px;
    for (n = 0; n < batch; n++) {
        const int8_t *x = in + (size_t)n * (size_t)image + (size_t)((out_row0 - in_row0) * p->in_w * k);
        int8_t *y = out + (size_t)(n * pixels) * (size_t)stride;
        for (px = 0; px < pixels; px += 2, x += 2 * k, y += 2 * stride) {
            const int32_t both = px + 1 < pixels, step = both ? stride : 0;
            edgec_wide_put(cols, x, k);
            edgec_wide_put(cols + 4, both ? x + k : x, k);
            if (pairs > 0)
                edgec_wide_pairs(cols, groups, weights, rq, pairs, y, step, apart);
            if (out_c & 1) {                /* the last channel, with its zero padding channel, staged */
                int8_t t[4];
                edgec_wide_pairs(cols, groups, w_odd, rq_odd, 1, t, 2, apart);
                y[out_c - 1] = t[0];
                y[step + out_c - 1] = t[2];
            }
        }
    }
}
