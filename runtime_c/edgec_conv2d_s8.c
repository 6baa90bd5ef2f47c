/* Conv2D (incl. grouped and depthwise), int8 in/out, int8 per-channel weights, int32 bias.
 * Twin: reference.conv2d_s8.  Padding taps contribute nothing (they equal the input zero point).
 * Row bands (patch-based execution): `in` holds input rows from in_row0 on, and the call computes
 * output rows [out_row0, out_row0 + out_rows) into `out` (which points at row out_row0).
 * A whole-tensor call is (0, 0, out_h).  Output pixels are out_stride elements apart (out_c, or the
 * channel count of a Concat whose slice this conv writes).
 *
 * `bias` arrives with the input zero point folded in at compile time: bias[oc] - in_zp * sum(w[oc]) over
 * all taps, so the inner loops are plain int8 dot products; a window that hangs over the padding adds
 * back in_zp * w for its missing taps.  The integer sum equals the reference's sum of (x - zp) * w
 * plus bias, wrapped to 32 bits as the reference wraps it (the bias is added in unsigned arithmetic,
 * so a saturated bias of a near-dead channel wraps instead of overflowing). 
 * Three loop nests, chosen by shape: pointwise (1x1, stride 1, no padding, one group) as a matrix
 * product; depthwise (one input and one output channel per group); general. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

static int8_t *edgec_conv_px(const EDGEC_ROM edgec_conv2d_params *p, int8_t *out, int32_t n, int32_t out_rows, int32_t row, int32_t ox)
{
    return out + ((size_t)(n * out_rows + row) * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_stride;
}

static inline int8_t edgec_conv_out(const EDGEC_ROM edgec_conv2d_params *p, uint32_t bias, int32_t dot, int32_t multiplier, int32_t shift)
{
    const int32_t v = edgec_mbqm((int32_t)(bias + (uint32_t)dot), multiplier, shift) + p->out_zp;
    return edgec_clamp_s8(v, p->act_min, p->act_max);
}

static void edgec_conv_pointwise(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                 const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                 int32_t out_row0, int32_t out_rows)
{
    /* A matrix product of pixels x output channels, two by two so that each load feeds two MACs. */
    const int32_t k = p->in_c, pixels = out_rows * p->out_w, stride = p->out_stride;
    int32_t n, oc, px;
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(p->in_h * p->in_w * k) + (size_t)((out_row0 - in_row0) * p->in_w * k);
        int8_t *dst = edgec_conv_px(p, out, n, out_rows, 0, 0);
        for (oc = 0; oc < p->out_c; oc += 2) {
            const int32_t two = oc + 1 < p->out_c;
            const EDGEC_ROM int8_t *w0 = weights + oc * k, *w1 = two ? w0 + k : w0;
            const int32_t oc1 = two ? oc + 1 : oc;
            for (px = 0; px < pixels; px += 2) {
                const int32_t pair = px + 1 < pixels;
                const int8_t *x0 = img + px * k, *x1 = pair ? x0 + k : x0;
                int32_t acc[4] = {0, 0, 0, 0};
                int8_t *y0 = dst + px * stride;
                edgec_dot2x2_s8(x0, x1, w0, w1, k, acc);
                y0[oc] = edgec_conv_out(p, (uint32_t)bias[oc], acc[0], multiplier[oc], shift[oc]);
                if (two)
                    y0[oc1] = edgec_conv_out(p, (uint32_t)bias[oc1], acc[1], multiplier[oc1], shift[oc1]);
                if (pair) {
                    y0[stride + oc] = edgec_conv_out(p, (uint32_t)bias[oc], acc[2], multiplier[oc], shift[oc]);
                    if (two)
                        y0[stride + oc1] = edgec_conv_out(p, (uint32_t)bias[oc1], acc[3], multiplier[oc1], shift[oc1]);
                }
            }
        }
    }
}

static int32_t edgec_first_tap(int32_t i0, int32_t dil);
static int32_t edgec_end_tap(int32_t i0, int32_t dil, int32_t k, int32_t size);

static void edgec_conv_depthwise(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                 const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                 int32_t out_row0, int32_t out_rows)
{
    const int32_t c_n = p->in_c, taps = p->k_h * p->k_w, zp = p->in_zp;
    const int32_t step_x = p->dil_w * c_n, step_y = p->dil_h * p->in_w * c_n;
    int32_t n, c, oy, ox, ky, kx, t;
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(p->in_h * p->in_w * c_n);
        for (c = 0; c < c_n; c++) {
            const EDGEC_ROM int8_t *w = weights + c * taps;
            int32_t wsum = 0;
            for (t = 0; t < taps; t++)
                wsum += w[t];
            for (oy = out_row0; oy < out_row0 + out_rows; oy++) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                const int32_t ky0 = edgec_first_tap(iy0, p->dil_h), ky1 = edgec_end_tap(iy0, p->dil_h, p->k_h, p->in_h);
                int8_t *y = edgec_conv_px(p, out, n, out_rows, oy - out_row0, 0) + c;
                for (ox = 0; ox < p->out_w; ox++, y += p->out_stride) {
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    const int32_t kx0 = edgec_first_tap(ix0, p->dil_w), kx1 = edgec_end_tap(ix0, p->dil_w, p->k_w, p->in_w);
                    /* index of the window's top-left tap; negative over the padding, so only valid taps
                     * are ever added to the pointer */
                    const int32_t base = ((iy0 - in_row0) * p->in_w + ix0) * c_n + c;
                    int32_t acc = 0;
                    if (ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w) {   /* window inside the image */
                        const int8_t *row = img + base;
                        if (p->k_h == 3 && p->k_w == 3) {
                            const int8_t *r1 = row + step_y, *r2 = r1 + step_y;
                            /* each int8 product in int, summed in int32_t (int may be 16 bits) */
                            acc = row[0] * w[0];
                            acc += row[step_x] * w[1];
                            acc += row[2 * step_x] * w[2];
                            acc += r1[0] * w[3];
                            acc += r1[step_x] * w[4];
                            acc += r1[2 * step_x] * w[5];
                            acc += r2[0] * w[6];
                            acc += r2[step_x] * w[7];
                            acc += r2[2 * step_x] * w[8];
                        } else {
                            for (ky = 0; ky < p->k_h; ky++)
                                for (kx = 0; kx < p->k_w; kx++)
                                    acc += row[ky * step_y + kx * step_x] * w[ky * p->k_w + kx];
                        }
                    } else {                     /* over the padding: valid taps, and zp * the missing weights */
                        int32_t valid = 0;
                        for (ky = ky0; ky < ky1; ky++)
                            for (kx = kx0; kx < kx1; kx++) {
                                const int32_t wv = w[ky * p->k_w + kx];
                                acc += img[base + ky * step_y + kx * step_x] * wv;
                                valid += wv;
                            }
                        acc += zp * (wsum - valid);
                    }
                    *y = edgec_conv_out(p, (uint32_t)bias[c], acc, multiplier[c], shift[c]);
                }
            }
        }
    }
}

/* First and one-past-last kernel tap whose input row (or column) lies inside [0, size). */
static int32_t edgec_first_tap(int32_t i0, int32_t dil)
{
    return i0 < 0 ? (-i0 + dil - 1) / dil : 0;
}

static int32_t edgec_end_tap(int32_t i0, int32_t dil, int32_t k, int32_t size)
{
    const int32_t e = size - i0 <= 0 ? 0 : (size - i0 + dil - 1) / dil;
    return e < k ? e : k;
}

/* Sum of one output channel's weights over the taps that fall on padding. */
static int32_t edgec_missing_taps(const EDGEC_ROM int8_t *wo, const EDGEC_ROM edgec_conv2d_params *p, int32_t cg,
                                  int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1)
{
    int32_t ky, kx, ic, sum = 0;
    for (ky = 0; ky < p->k_h; ky++)
        for (kx = 0; kx < p->k_w; kx++)
            if (ky < ky0 || ky >= ky1 || kx < kx0 || kx >= kx1)
                for (ic = 0; ic < cg; ic++)
                    sum += wo[(ky * p->k_w + kx) * cg + ic];
    return sum;
}

static void edgec_conv_general(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                               const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows)
{
    const int32_t in_c = p->in_c, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, zp = p->in_zp;
    const int32_t cg = in_c / p->groups, og = p->out_c / p->groups;
    const int32_t step_x = p->dil_w * in_c;
    int32_t n, oy, ox, oc, ky, kx;
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(p->in_h * in_w * in_c);
        for (oy = out_row0; oy < out_row0 + out_rows; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int32_t ky0 = edgec_first_tap(iy0, p->dil_h), ky1 = edgec_end_tap(iy0, p->dil_h, k_h, p->in_h);
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int32_t kx0 = edgec_first_tap(ix0, p->dil_w), kx1 = edgec_end_tap(ix0, p->dil_w, k_w, in_w);
                int8_t *px = edgec_conv_px(p, out, n, out_rows, oy - out_row0, ox);
                const int32_t whole = ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
                const int32_t row_dot = p->dil_w == 1 && cg == in_c;      /* a kernel row is one contiguous run */
                const int32_t wstride = k_h * k_w * cg;
                for (oc = 0; oc < p->out_c;) {
                    const EDGEC_ROM int8_t *wo = weights + oc * wstride;
                    const int8_t *base = img + ((iy0 - in_row0) * in_w + ix0 + kx0 * p->dil_w) * in_c + (oc / og) * cg;
                    if (row_dot && p->groups == 1 && oc + 1 < p->out_c) {   /* two output channels per pass */
                        int32_t acc2[2] = {0, 0};
                        for (ky = ky0; ky < ky1; ky++) {
                            const int32_t wofs = (ky * k_w + kx0) * cg;
                            edgec_dot1x2_s8(base + ky * p->dil_h * in_w * in_c, wo + wofs, wo + wstride + wofs, (kx1 - kx0) * cg, acc2);
                        }
                        if (!whole) {
                            acc2[0] += zp * edgec_missing_taps(wo, p, cg, ky0, ky1, kx0, kx1);
                            acc2[1] += zp * edgec_missing_taps(wo + wstride, p, cg, ky0, ky1, kx0, kx1);
                        }
                        px[oc] = edgec_conv_out(p, (uint32_t)bias[oc], acc2[0], multiplier[oc], shift[oc]);
                        px[oc + 1] = edgec_conv_out(p, (uint32_t)bias[oc + 1], acc2[1], multiplier[oc + 1], shift[oc + 1]);
                        oc += 2;
                        continue;
                    }
                    {
                        int32_t acc = 0;
                        for (ky = ky0; ky < ky1; ky++) {
                            const int8_t *ip = base + ky * p->dil_h * in_w * in_c;
                            const EDGEC_ROM int8_t *wp = wo + (ky * k_w + kx0) * cg;
                            if (row_dot)
                                acc += edgec_dot_s8(ip, wp, (kx1 - kx0) * cg);
                            else
                                for (kx = kx0; kx < kx1; kx++, ip += step_x, wp += cg)
                                    acc += edgec_dot_s8(ip, wp, cg);
                        }
                        if (!whole)                           /* taps over the padding: add back zp * w */
                            acc += zp * edgec_missing_taps(wo, p, cg, ky0, ky1, kx0, kx1);
                        px[oc] = edgec_conv_out(p, (uint32_t)bias[oc], acc, multiplier[oc], shift[oc]);
                        oc++;
                    }
                }
            }
        }
    }
}

void edgec_conv2d_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                     const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                     int32_t out_row0, int32_t out_rows)
{
    if (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 && p->pad_left == 0
        && p->groups == 1 && p->out_h == p->in_h && p->out_w == p->in_w)
        edgec_conv_pointwise(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else if (p->groups == p->in_c && p->out_c == p->in_c)
        edgec_conv_depthwise(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else
        edgec_conv_general(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}
