/* One-group Conv2D over wide weights: flash traded for speed where the --flash budget allows
 * (passes/plan_wide.py chooses the layers).  Twin: reference.conv2d_s8.
 *
 * The weights come pre-sign-extended in the wide layout (edgec_dot.h, codegen/layouts.py) and each
 * output channel's requantization prepared at compile time (edgec_wide_rq; the layer's activation range
 * is the whole int8 range, codegen checks).  For each pair of output pixels both windows are sign-
 * extended once into the columns scratch (edgec_cols_put4's order), then edgec_wide_pairs runs every
 * output channel pair over them: loads and SMLADs only, with the requantization and stores in the same
 * loop.  A lone last pixel is computed as a pair with itself, its outputs stored twice in place; an odd
 * channel count's last channel goes through a 4-byte staging block.  `bias` arrives with the input zero
 * point folded in (edgec_conv_common.h), inside the records (whose first word says whether their zero
 * point is apart), so padding taps read in_zp.  Row bands as edgec_conv2d_s8.  `cols`: 4-aligned,
 * 2 * K4 int16 (K4 = k_h * k_w * in_c rounded up to 4) and 5 int32 after them, then (in_c not a
 * multiple of 4) K4 bytes to stage a window. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

/* n fours of one pixel's columns (every 8th int16 four) from n * 4 int8 at x, or all `zp` (x null). */
static void edgec_wide_put(int16_t *dst, const int8_t *x, int32_t n, int32_t zp)
{
    for (; n > 0; n--, dst += 8) {
        if (x) {
            edgec_cols_put4(dst, x);
            x += 4;
        } else {
            dst[0] = dst[1] = dst[2] = dst[3] = (int16_t)zp;
        }
    }
}

/* The window of output pixel (oy, ox) into columns slot `dst` (cols + 4 * slot): inputs in the weights'
 * (ky, kx, ic) order, padding taps as in_zp, inputs past K as 0.  With in_c a multiple of 4 each tap
 * goes four inputs at a time from the input; otherwise the window is first gathered as bytes into
 * `stage`. */
static void edgec_wide_gather(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *img, int32_t in_row0, int32_t oy, int32_t ox,
                              int16_t *dst, int8_t *stage)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, zp = p->in_zp;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left, n_tap = in_c >> 2;
    int32_t ky, kx;
    if ((in_c & 3) == 0) {
        for (ky = 0; ky < k_h; ky++) {
            const int32_t iy = iy0 + ky * p->dil_h;
            for (kx = 0; kx < k_w; kx++, dst += 8 * n_tap) {
                const int32_t ix = ix0 + kx * p->dil_w;
                const int32_t inside = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
                edgec_wide_put(dst, inside ? img + ((iy - in_row0) * in_w + ix) * in_c : (const int8_t *)0, n_tap, zp);
            }
        }
        return;
    }
    {
        const int32_t k = k_h * k_w * in_c, k4 = (k + 3) & ~3;
        int8_t *s = stage;
        int32_t i;
        if (k_h == 1 && k_w == 1 && iy0 >= 0 && iy0 < in_h && ix0 >= 0 && ix0 < in_w) {
            const int8_t *x = img + ((iy0 - in_row0) * in_w + ix0) * in_c;
            for (i = 0; i < in_c; i++)
                *s++ = x[i];
        } else {
            for (ky = 0; ky < k_h; ky++) {
                const int32_t iy = iy0 + ky * p->dil_h;
                for (kx = 0; kx < k_w; kx++) {
                    const int32_t ix = ix0 + kx * p->dil_w;
                    const int32_t inside = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
                    const int8_t *x = img + (inside ? ((iy - in_row0) * in_w + ix) * in_c : 0);
                    for (i = 0; i < in_c; i++)
                        *s++ = inside ? x[i] : (int8_t)zp;
                }
            }
        }
        for (i = k; i < k4; i++)
            *s++ = 0;
        edgec_wide_put(dst, stage, k4 >> 2, 0);
    }
}

void edgec_conv2d_wide_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                          const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols)
{
    const int32_t k4 = (p->k_h * p->k_w * p->in_c + 3) & ~3, groups = k4 >> 2, out_w = p->out_w, out_c = p->out_c;
    const int32_t stride = p->out_stride, pixels = out_rows * out_w, pairs = out_c >> 1, batch = p->batch;
    const int32_t image = p->in_h * p->in_w * p->in_c, apart = records[0];
    const EDGEC_ROM int32_t *w_odd = weights + 4 * groups * pairs, *rq = records + 1, *rq_odd = rq + 12 * pairs;
    int8_t *const stage = (int8_t *)(void *)(cols + 2 * k4 + 10);          /* after the columns and 5 int32 */
    int32_t n, px;
    for (n = 0; n < batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)image;
        int8_t *y = out + (size_t)(n * pixels) * (size_t)stride;
        for (px = 0; px < pixels; px += 2, y += 2 * stride) {
            const int32_t both = px + 1 < pixels, step = both ? stride : 0, px1 = both ? px + 1 : px;
            edgec_wide_gather(p, img, in_row0, out_row0 + px / out_w, px % out_w, cols, stage);
            edgec_wide_gather(p, img, in_row0, out_row0 + px1 / out_w, px1 % out_w, cols + 4, stage);
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
