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
 * edgec_conv2d_s8 picks its loop nest by shape: pointwise (1x1, stride 1, no padding, one group) as a
 * matrix product; small windows (one group, at most EDGEC_PATCH_MAX taps x channels) gathered into a
 * patch once per pixel; general.  Depthwise convs have their own entry, edgec_depthwise_conv2d_s8,
 * chosen by codegen, with channel-interleaved weights. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

/* First and one-past-last kernel tap whose input row (or column) lies inside [0, size). */
static int32_t edgec_first_tap(int32_t i0, int32_t dil)
{
    return i0 >= 0 ? 0 : (dil == 1 ? -i0 : (-i0 + dil - 1) / dil);      /* no division when undilated */
}

static int32_t edgec_end_tap(int32_t i0, int32_t dil, int32_t k, int32_t size)
{
    const int32_t e = size - i0 <= 0 ? 0 : (dil == 1 ? size - i0 : (size - i0 + dil - 1) / dil);
    return e < k ? e : k;
}

static int8_t *edgec_conv_px(const EDGEC_ROM edgec_conv2d_params *p, int8_t *out, int32_t n, int32_t out_rows, int32_t row, int32_t ox)
{
    return out + ((size_t)(n * out_rows + row) * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_stride;
}

static inline int8_t edgec_conv_out(const EDGEC_ROM edgec_conv2d_params *p, uint32_t bias, int32_t dot, int32_t multiplier, int32_t shift)
{
    return edgec_requant_s8(bias, dot, multiplier, shift, p->out_zp, p->act_min, p->act_max);
}

static void edgec_conv_pointwise(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                 const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                 int32_t out_row0, int32_t out_rows)
{
    /* A matrix product of pixels x output channels, two by two so that each load feeds two MACs.
     * Parameters live in locals: an int8_t store may alias *p, which would force reloads. */
    const int32_t k = p->in_c, pixels = out_rows * p->out_w, stride = p->out_stride, out_c = p->out_c;
    const int32_t out_zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    int32_t n, oc, px;
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(p->in_h * p->in_w * k) + (size_t)((out_row0 - in_row0) * p->in_w * k);
        int8_t *dst = edgec_conv_px(p, out, n, out_rows, 0, 0);
        for (oc = 0; oc < out_c; oc += 2) {
            const int32_t two = oc + 1 < out_c;
            const EDGEC_ROM int8_t *w0 = weights + oc * k, *w1 = two ? w0 + k : w0;
            const int32_t oc1 = two ? oc + 1 : oc;
            const uint32_t b0 = (uint32_t)bias[oc], b1 = (uint32_t)bias[oc1];
            const int32_t m0 = multiplier[oc], m1 = multiplier[oc1], s0 = shift[oc], s1 = shift[oc1];
            for (px = 0; px < pixels; px += 2) {
                const int32_t pair = px + 1 < pixels;
                const int8_t *x0 = img + px * k, *x1 = pair ? x0 + k : x0;
                int32_t acc[4] = {0, 0, 0, 0};
                int8_t *y0 = dst + px * stride;
                edgec_dot2x2_s8(x0, x1, w0, w1, k, acc);
                y0[oc] = edgec_requant_s8(b0, acc[0], m0, s0, out_zp, lo, hi);
                if (two)
                    y0[oc1] = edgec_requant_s8(b1, acc[1], m1, s1, out_zp, lo, hi);
                if (pair) {
                    y0[stride + oc] = edgec_requant_s8(b0, acc[2], m0, s0, out_zp, lo, hi);
                    if (two)
                        y0[stride + oc1] = edgec_requant_s8(b1, acc[3], m1, s1, out_zp, lo, hi);
                }
            }
        }
    }
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

/* Output pixels ox and ox + 1 of a one-group conv whose windows both lie inside the input; x0 points
 * at the first window's top-left tap.  Channels two at a time through the 2x2 dot product. */
static void edgec_conv_pixel_pair(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *x0, const EDGEC_ROM int8_t *weights,
                                  const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift,
                                  int8_t *px)
{
    const int32_t in_c = p->in_c, k_h = p->k_h, run = p->k_w * in_c, wstride = k_h * run, out_c = p->out_c;
    const int32_t row = p->dil_h * p->in_w * in_c, out_stride = p->out_stride;
    const int32_t out_zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    const int8_t *x1 = x0 + p->stride_w * in_c;
    int32_t oc, ky;
    for (oc = 0; oc < out_c; oc += 2) {
        const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
        const EDGEC_ROM int8_t *w0 = weights + oc * wstride, *w1 = weights + oc1 * wstride;
        int32_t acc[4] = {0, 0, 0, 0};
        for (ky = 0; ky < k_h; ky++)
            edgec_dot2x2_s8(x0 + ky * row, x1 + ky * row, w0 + ky * run, w1 + ky * run, run, acc);
        px[oc] = edgec_requant_s8((uint32_t)bias[oc], acc[0], multiplier[oc], shift[oc], out_zp, lo, hi);
        px[out_stride + oc] = edgec_requant_s8((uint32_t)bias[oc], acc[2], multiplier[oc], shift[oc], out_zp, lo, hi);
        if (oc1 != oc) {
            px[oc1] = edgec_requant_s8((uint32_t)bias[oc1], acc[1], multiplier[oc1], shift[oc1], out_zp, lo, hi);
            px[out_stride + oc1] = edgec_requant_s8((uint32_t)bias[oc1], acc[3], multiplier[oc1], shift[oc1], out_zp, lo, hi);
        }
    }
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
                if (ky0 == 0 && ky1 == k_h && kx0 == 0 && ox + 1 < p->out_w && p->groups == 1 && p->dil_w == 1
                    && ix0 + p->stride_w + k_w <= in_w) {
                    /* two whole windows side by side: each kernel row is a contiguous run in both, so
                     * two pixels x two channels share every load (as the pointwise matrix product) */
                    edgec_conv_pixel_pair(p, img + ((iy0 - in_row0) * in_w + ix0) * in_c, weights, bias, multiplier, shift, px);
                    ox++;
                    continue;
                }
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

#define EDGEC_PATCH_MAX 64      /* bytes of one gathered window, on the stack */

/* Small windows (e.g. a first layer over 1-channel audio or images): gather the window once per output
 * pixel, the padding filled with the input zero point (which the folded bias cancels exactly), then
 * one contiguous dot product per output channel, two channels per pass. */
static void edgec_conv_patch(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                             const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                             int32_t out_row0, int32_t out_rows)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, out_c = p->out_c;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left, out_w = p->out_w, out_stride = p->out_stride;
    const int32_t out_zp = p->out_zp, act_min = p->act_min, act_max = p->act_max, k = k_h * k_w * in_c;
    const int8_t zp = (int8_t)p->in_zp;
    int8_t patch[EDGEC_PATCH_MAX];
    int32_t n, oy, ox, oc, ky, kx, c;
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(in_h * in_w * in_c);
        for (oy = out_row0; oy < out_row0 + out_rows; oy++) {
            int8_t *y = out + ((size_t)(n * out_rows + oy - out_row0) * (size_t)out_w) * (size_t)out_stride;
            for (ox = 0; ox < out_w; ox++, y += out_stride) {
                int8_t *dst = patch;
                for (ky = 0; ky < k_h; ky++) {
                    const int32_t iy = oy * stride_h - pad_top + ky * dil_h;
                    for (kx = 0; kx < k_w; kx++) {
                        const int32_t ix = ox * stride_w - pad_left + kx * dil_w;
                        if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                            for (c = 0; c < in_c; c++)
                                *dst++ = zp;
                        } else {
                            const int8_t *src = img + ((iy - in_row0) * in_w + ix) * in_c;
                            for (c = 0; c < in_c; c++)
                                *dst++ = src[c];
                        }
                    }
                }
                for (oc = 0; oc + 2 <= out_c; oc += 2) {
                    int32_t acc[2] = {0, 0};
                    edgec_dot1x2_s8(patch, weights + oc * k, weights + (oc + 1) * k, k, acc);
                    y[oc] = edgec_requant_s8((uint32_t)bias[oc], acc[0], multiplier[oc], shift[oc], out_zp, act_min, act_max);
                    y[oc + 1] = edgec_requant_s8((uint32_t)bias[oc + 1], acc[1], multiplier[oc + 1], shift[oc + 1], out_zp, act_min, act_max);
                }
                if (oc < out_c)
                    y[oc] = edgec_requant_s8((uint32_t)bias[oc], edgec_dot_s8(patch, weights + oc * k, k), multiplier[oc], shift[oc],
                                             out_zp, act_min, act_max);
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
    else if (p->groups == 1 && p->k_h * p->k_w * p->in_c <= EDGEC_PATCH_MAX)
        edgec_conv_patch(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else
        edgec_conv_general(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}

/* Depthwise taps of one output pixel for channels [c, c + 4): sums over the valid taps
 * [ky0, ky1) x [kx0, kx1) into acc, and the weights of the taps over the padding into missing (the
 * caller adds zp * missing, the padding's value).  `base` indexes the window's top-left tap in img and
 * is negative over the padding: only valid taps are ever read, by index. */
static void edgec_dw_taps4(const int8_t *img, int32_t base, const EDGEC_ROM int8_t *wc, int32_t c_n, int32_t k_h, int32_t k_w,
                           int32_t step_x, int32_t step_y, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1,
                           int32_t acc[4], int32_t missing[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, v0 = 0, v1 = 0, v2 = 0, v3 = 0, ky, kx;
    const int32_t whole = ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
    if (whole) {                               /* the common case: no padding sums in the loop */
        int32_t i = base;
        const EDGEC_ROM int8_t *w = wc;
        for (ky = 0; ky < k_h; ky++, i += step_y - k_w * step_x)
            for (kx = 0; kx < k_w; kx++, i += step_x, w += c_n) {
                a0 += img[i] * w[0];           /* each int8 product in int, summed in int32_t */
                a1 += img[i + 1] * w[1];
                a2 += img[i + 2] * w[2];
                a3 += img[i + 3] * w[3];
            }
    } else {
        for (ky = ky0; ky < ky1; ky++) {
            int32_t i = base + ky * step_y + kx0 * step_x;
            const EDGEC_ROM int8_t *w = wc + (ky * k_w + kx0) * c_n;
            for (kx = kx0; kx < kx1; kx++, i += step_x, w += c_n) {
                const int8_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
                a0 += img[i] * w0;
                a1 += img[i + 1] * w1;
                a2 += img[i + 2] * w2;
                a3 += img[i + 3] * w3;
                v0 += w0; v1 += w1; v2 += w2; v3 += w3;
            }
        }
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
    missing[0] = missing[1] = missing[2] = missing[3] = 0;
    if (!whole) {
        int32_t t;
        for (t = 0; t < k_h * k_w; t++) {
            missing[0] += wc[t * c_n];
            missing[1] += wc[t * c_n + 1];
            missing[2] += wc[t * c_n + 2];
            missing[3] += wc[t * c_n + 3];
        }
        missing[0] -= v0; missing[1] -= v1; missing[2] -= v2; missing[3] -= v3;
    }
}

/* Depthwise conv (one input and one output channel per group), channels innermost.  Codegen passes
 * the weights re-laid out as [k_h][k_w][C] (HWC) so that, for one output pixel, consecutive channels
 * read consecutive input and weight bytes: four channels per pass share the window's bounds and
 * addresses, worked out once per pixel.  Twin: reference.conv2d_s8. */
void edgec_depthwise_conv2d_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0,
                               const EDGEC_ROM int8_t *weights, const EDGEC_ROM int32_t *bias,
                               const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows)
{
    /* every parameter in a local: stores through int8_t pointers may alias *p, so the compiler would
     * otherwise reload each field after each output byte */
    const int32_t c_n = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left, out_w = p->out_w, out_stride = p->out_stride;
    const int32_t zp = p->in_zp, out_zp = p->out_zp, act_min = p->act_min, act_max = p->act_max;
    const int32_t step_x = dil_w * c_n, step_y = dil_h * in_w * c_n;
    int32_t n, oy, ox, c, j;
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(in_h * in_w * c_n);
        for (oy = out_row0; oy < out_row0 + out_rows; oy++) {
            const int32_t iy0 = oy * stride_h - pad_top;
            const int32_t ky0 = edgec_first_tap(iy0, dil_h), ky1 = edgec_end_tap(iy0, dil_h, k_h, in_h);
            int8_t *y = out + ((size_t)(n * out_rows + oy - out_row0) * (size_t)out_w) * (size_t)out_stride;
            for (ox = 0; ox < out_w; ox++, y += out_stride) {
                const int32_t ix0 = ox * stride_w - pad_left;
                const int32_t kx0 = edgec_first_tap(ix0, dil_w), kx1 = edgec_end_tap(ix0, dil_w, k_w, in_w);
                const int32_t base = ((iy0 - in_row0) * in_w + ix0) * c_n;
                for (c = 0; c < c_n; c += 4) {
                    int32_t acc[4], missing[4];
                    if (c + 4 <= c_n) {
                        edgec_dw_taps4(img, base + c, weights + c, c_n, k_h, k_w, step_x, step_y, ky0, ky1, kx0, kx1, acc, missing);
                    } else {             /* the last 1-3 channels: one at a time */
                        for (j = 0; c + j < c_n; j++) {
                            int32_t ky, kx, t, a = 0, all = 0, valid = 0;
                            const EDGEC_ROM int8_t *wc = weights + c + j;
                            for (t = 0; t < k_h * k_w; t++)
                                all += wc[t * c_n];
                            for (ky = ky0; ky < ky1; ky++)
                                for (kx = kx0; kx < kx1; kx++) {
                                    const int8_t wv = wc[(ky * k_w + kx) * c_n];
                                    a += img[base + c + j + ky * step_y + kx * step_x] * wv;
                                    valid += wv;
                                }
                            acc[j] = a;
                            missing[j] = all - valid;
                        }
                    }
                    for (j = 0; j < 4 && c + j < c_n; j++)
                        y[c + j] = edgec_requant_s8((uint32_t)bias[c + j], acc[j] + zp * missing[j], multiplier[c + j], shift[c + j],
                                                    out_zp, act_min, act_max);
                }
            }
        }
    }
}
