/* The columns loop nest of a one-group int8 conv over a scratch the memory plan gives it
 * (passes/plan_scratch.py).  Twin: reference.conv2d_s8.  Row bands, the folded bias and the pair
 * layout: edgec_conv_common.h. */
#include "edgec_conv_common.h"

/* n groups of four inputs of one pixel's columns (every 8th int16 four), all `v` (the padding's in_zp). */
static void edgec_cols_fill(int16_t *dst, int32_t n, int32_t v)
{
    for (; n > 0; n--, dst += 8)
        dst[0] = dst[1] = dst[2] = dst[3] = (int16_t)v;
}

static void edgec_cols_copy(int16_t *dst, const int8_t *src, int32_t n)
{
    for (; n > 0; n--, dst += 8, src += 4)
        edgec_cols_put4(dst, src);
}

/* The window of output pixel (oy, ox) into one pixel's columns (`dst` = cols + 4 * slot): inputs in the
 * weights' (ky, kx, ic) order, padding taps as in_zp, the inputs from K up to K4 as 0.  With in_c a
 * multiple of 4 whole kernel rows (or taps) go four inputs at a time; otherwise the window is first
 * gathered as bytes into `stage` (K4 bytes after the columns). */
static void edgec_cols_gather(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *img, int32_t in_row0, int32_t oy, int32_t ox,
                              int32_t k4, int16_t *dst, int8_t *stage)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t zp = p->in_zp, iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t kx0 = edgec_first_tap(ix0, dil_w), kx1 = edgec_end_tap(ix0, dil_w, k_w, in_w);
    if ((in_c & 3) == 0) {
        const int32_t n_tap = in_c >> 2, n_row = k_w * n_tap;
        int32_t ky, kx;
        for (ky = 0; ky < k_h; ky++, dst += 8 * n_row) {
            const int32_t iy = iy0 + ky * dil_h, row = (iy - in_row0) * in_w * in_c;    /* row: used only inside */
            if (iy < 0 || iy >= in_h)
                edgec_cols_fill(dst, n_row, zp);
            else if (dil_w == 1 && kx0 == 0 && kx1 == k_w)
                edgec_cols_copy(dst, img + row + ix0 * in_c, n_row);
            else
                for (kx = 0; kx < k_w; kx++) {
                    if (kx >= kx0 && kx < kx1)
                        edgec_cols_copy(dst + 8 * kx * n_tap, img + row + (ix0 + kx * dil_w) * in_c, n_tap);
                    else
                        edgec_cols_fill(dst + 8 * kx * n_tap, n_tap, zp);
                }
        }
        return;
    }
    edgec_gather(p, img, in_row0, oy, ox, k4, stage);
    edgec_cols_copy(dst, stage, k4 >> 2);
}

/* One-group conv over a columns scratch (any window, stride, dilation, padding, in_c): for each pair of
 * output pixels both windows are sign-extended into `cols` once, then every channel pair runs one
 * unbroken dot product over them (edgec_dot2x2c_s8).  A lone last pixel is gathered twice and stored once.
 * An entry point of its own, so that a firmware linked with --gc-sections carries this loop nest only
 * when its model calls it (8-bit parts count every byte of flash). */
void edgec_conv2d_cols_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                          const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                          int32_t out_row0, int32_t out_rows, int16_t *cols)
{
    const int32_t k4 = (p->k_h * p->k_w * p->in_c + 3) & ~3, groups = k4 >> 2;
    const int32_t out_w = p->out_w, out_c = p->out_c, stride = p->out_stride, pixels = out_rows * out_w;
    int8_t *const stage = (int8_t *)(void *)(cols + 2 * k4);
    edgec_outq o;
    edgec_ch c[2];
    int32_t n, px, oc;
    edgec_outq_init(&o, p, multiplier, shift, out_c);
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(p->in_h * p->in_w * p->in_c);
        int8_t *y = edgec_conv_px(p, out, n, out_rows, 0, 0);
        for (px = 0; px < pixels; px += 2, y += 2 * stride) {
            const int32_t both = px + 1 < pixels, px1 = both ? px + 1 : px;
            edgec_cols_gather(p, img, in_row0, out_row0 + px / out_w, px % out_w, k4, cols, stage);
            edgec_cols_gather(p, img, in_row0, out_row0 + px1 / out_w, px1 % out_w, k4, cols + 4, stage);
            for (oc = 0; oc < out_c; oc += 2) {
                const int32_t two = edgec_pair_load(c, &o, bias, multiplier, shift, oc, out_c);
                int32_t acc[4] = {0, 0, 0, 0};
                edgec_dot2x2c_s8(cols, weights + oc * k4, groups, acc);
                if (both)
                    edgec_block_out(y + oc, stride, c, &o, two, acc);
                else
                    edgec_pair_out(y + oc, c, &o, two, acc[0], acc[1]);
            }
        }
    }
}
