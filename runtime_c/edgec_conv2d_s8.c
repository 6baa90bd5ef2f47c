/* Conv2D with one group (and grouped convs that are not depthwise), int8 in/out, int8 per-channel
 * weights, int32 bias: edgec_conv2d_s8 and its loop nests.  Twin: reference.conv2d_s8.  Row bands, the
 * folded bias and the weight layouts: edgec_conv_common.h.  The columns nest over a scratch is
 * edgec_conv2d_cols_s8.c, depthwise edgec_depthwise_conv2d_s8.c.
 *
 * One-group convs pick their loop nest by shape: pointwise (1x1, stride 1, no padding) as a matrix
 * product; in_c a multiple of 4 straight from the input, each kernel row a contiguous run; small windows
 * gathered into patches; anything else tap by tap.  All of them work a pair of output channels at a
 * time over two pixels, so every weight load feeds two pixels and every input load two channels; the
 * per-channel requantization is prepared once per pair (edgec_rq_prepare) where the pair is the outer
 * loop. */
#include "edgec_conv_common.h"

EDGEC_PATH void edgec_conv_pointwise(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                 const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                 int32_t out_row0, int32_t out_rows)
{
    /* A matrix product of pixels x output channels, two by two: the pair is the outer loop, so its
     * weights stream and its requantization is prepared once per call. */
    const int32_t k = p->in_c, k4 = (k + 3) & ~3, pixels = out_rows * p->out_w, stride = p->out_stride, out_c = p->out_c;
    const int32_t batch = p->batch, image = p->in_h * p->in_w * k;
    edgec_outq o;
    edgec_ch c[2];
    int32_t n, oc, px;
    edgec_outq_init(&o, p, multiplier, shift, out_c);
    for (oc = 0; oc < out_c; oc += 2) {
        const EDGEC_ROM int8_t *wp = weights + oc * k4;
        const int32_t two = edgec_pair_load(c, &o, bias, multiplier, shift, oc, out_c);
        for (n = 0; n < batch; n++) {
            const int8_t *x = in + (size_t)n * (size_t)image + (size_t)((out_row0 - in_row0) * p->in_w * k);
            int8_t *y = edgec_conv_px(p, out, n, out_rows, 0, 0) + oc;
            for (px = 0; px + 2 <= pixels; px += 2, x += 2 * k, y += 2 * stride) {
                int32_t acc[4] = {0, 0, 0, 0};
                edgec_dot2x2p_s8(x, x + k, wp, k, acc);
                edgec_block_out(y, stride, c, &o, two, acc);
            }
            if (px < pixels) {
                int32_t acc[2] = {0, 0};
                edgec_dot1x2p_s8(x, wp, k, acc);
                edgec_pair_out(y, c, &o, two, acc[0], acc[1]);
            }
        }
    }
}

#define EDGEC_TAPS_MAX 9        /* per-tap weight sums of a pair kept on the stack up to this window size (3x3) */

/* Sums of a channel pair's weights (pair layout) over tap t's in_c inputs (in_c a multiple of 4), for
 * every tap: the padding's contribution of a border window is in_zp times the sums of its missing taps. */
static void edgec_pair_tap_sums(const EDGEC_ROM int8_t *wp, int32_t in_c, int32_t taps, int32_t *sums)
{
    int32_t t, i;
    for (t = 0; t < taps; t++, wp += 2 * in_c) {
        int32_t s0 = 0, s1 = 0;
        for (i = 0; i < in_c; i += 4) {
            const EDGEC_ROM int8_t *w = wp + 2 * i;
            s0 += w[0] + w[1] + w[2] + w[3];
            s1 += w[4] + w[5] + w[6] + w[7];
        }
        sums[2 * t] = s0;
        sums[2 * t + 1] = s1;
    }
}

/* Two whole windows side by side (x0 and x0 + pair_x), undilated across: each of the `rows` kernel rows
 * is one run of `run` bytes, `row` bytes apart in the input and consecutive in the pair layout.  Out of
 * line, so that around each run's 14-register loop only this function's few values are saved. */
EDGEC_PATH void edgec_window2x2p(const int8_t *x0, int32_t pair_x, int32_t row, const EDGEC_ROM int8_t *wp, int32_t rows, int32_t run,
                                 int32_t *acc)
{
    int32_t r;
    for (r = 0; r < rows; r++)
        edgec_dot2x2p_s8(x0 + r * row, x0 + r * row + pair_x, wp + 2 * r * run, run, acc);
}

/* One-group conv with in_c a multiple of 4: each kernel row (each tap, when dilated across) is a run
 * of whole 4-groups both in the input and in the pair layout, so runs go straight to the pair dot
 * products.  Two pixels side by side with whole windows share every load; the others (near the
 * borders) run one at a time over their valid taps and add in_zp times the missing taps' weights. */
EDGEC_PATH void edgec_conv_rows(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                            const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                            int32_t out_row0, int32_t out_rows)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, out_w = p->out_w, out_c = p->out_c;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left, zp = p->in_zp, stride = p->out_stride, batch = p->batch;
    const int32_t k4 = k_h * k_w * in_c, row = dil_h * in_w * in_c, tap_x = dil_w * in_c, taps = k_h * k_w;
    /* a window's kernel row: one run of k_w * in_c bytes when undilated across, else k_w runs of in_c */
    const int32_t runs = dil_w == 1 ? 1 : k_w, run = dil_w == 1 ? k_w * in_c : in_c;
    const int32_t pair_x = stride_w * in_c, reach = (k_w - 1) * dil_w;
    edgec_outq o;
    edgec_ch c[2];
    int32_t sums[2 * EDGEC_TAPS_MAX];
    int32_t n, oc, oy, ox, ky, kx;
    edgec_outq_init(&o, p, multiplier, shift, out_c);
    for (oc = 0; oc < out_c; oc += 2) {
        const EDGEC_ROM int8_t *wp = weights + oc * k4;
        const int32_t two = edgec_pair_load(c, &o, bias, multiplier, shift, oc, out_c);
        int32_t have_sums = 0;
        for (n = 0; n < batch; n++) {
            const int8_t *img = in + (size_t)n * (size_t)(in_h * in_w * in_c);
            for (oy = out_row0; oy < out_row0 + out_rows; oy++) {
                const int32_t iy0 = oy * stride_h - pad_top;
                const int32_t ky0 = edgec_first_tap(iy0, dil_h), ky1 = edgec_end_tap(iy0, dil_h, k_h, in_h);
                const int32_t rows_whole = ky0 == 0 && ky1 == k_h;
                const int32_t rowofs = (iy0 - in_row0) * in_w * in_c;     /* negative over the padding: used only inside */
                int8_t *y = edgec_conv_px(p, out, n, out_rows, oy - out_row0, 0) + oc;
                for (ox = 0; ox < out_w;) {
                    const int32_t ix0 = ox * stride_w - pad_left;
                    if (rows_whole && ix0 >= 0 && ox + 1 < out_w && ix0 + stride_w + reach < in_w) {
                        /* two whole windows side by side */
                        const int8_t *x0 = img + rowofs + ix0 * in_c;
                        int32_t acc[4] = {0, 0, 0, 0};
                        if (runs == 1)
                            edgec_window2x2p(x0, pair_x, row, wp, k_h, run, acc);
                        else
                            for (ky = 0; ky < k_h; ky++)
                                for (kx = 0; kx < runs; kx++)
                                    edgec_dot2x2p_s8(x0 + ky * row + kx * tap_x, x0 + ky * row + kx * tap_x + pair_x,
                                                     wp + 2 * (ky * k_w * in_c + kx * run), run, acc);
                        edgec_block_out(y, stride, c, &o, two, acc);
                        ox += 2;
                        y += 2 * stride;
                        continue;
                    }
                    {
                        const int32_t kx0 = edgec_first_tap(ix0, dil_w), kx1 = edgec_end_tap(ix0, dil_w, k_w, in_w);
                        /* offsets stepped from row to row and tap to tap: no multiply per kernel row or tap (a
                         * 32-bit multiply is a library call on 8-bit cores) */
                        const int32_t wrow = 2 * k_w * in_c, wtap = 2 * in_c;
                        int32_t xr = rowofs + ky0 * row + ix0 * in_c, wr = ky0 * wrow;
                        int32_t acc[2] = {0, 0};
                        for (ky = ky0; ky < ky1; ky++, xr += row, wr += wrow) {
                            if (dil_w == 1) {
                                if (kx1 > kx0)
                                    edgec_dot1x2p_s8(img + xr + kx0 * in_c, wp + wr + kx0 * wtap, (kx1 - kx0) * in_c, acc);
                            } else {
                                for (kx = kx0; kx < kx1; kx++)
                                    edgec_dot1x2p_s8(img + xr + kx * tap_x, wp + wr + kx * wtap, in_c, acc);
                            }
                        }
                        if (!(rows_whole && kx0 == 0 && kx1 == k_w)) {     /* add in_zp * (weights of the missing taps) */
                            int32_t m0 = 0, m1 = 0;
                            if (taps <= EDGEC_TAPS_MAX) {
                                const int32_t *sum = sums;
                                if (!have_sums) {
                                    edgec_pair_tap_sums(wp, in_c, taps, sums);
                                    have_sums = 1;
                                }
                                for (ky = 0; ky < k_h; ky++) {
                                    const int32_t gone = ky < ky0 || ky >= ky1;
                                    for (kx = 0; kx < k_w; kx++, sum += 2)
                                        if (gone || kx < kx0 || kx >= kx1) {
                                            m0 += sum[0];
                                            m1 += sum[1];
                                        }
                                }
                            } else {
                                for (ky = 0; ky < k_h; ky++)
                                    for (kx = 0; kx < k_w; kx++)
                                        if (ky < ky0 || ky >= ky1 || kx < kx0 || kx >= kx1) {
                                            int32_t s[2];
                                            edgec_pair_tap_sums(wp + 2 * (ky * k_w + kx) * in_c, in_c, 1, s);
                                            m0 += s[0];
                                            m1 += s[1];
                                        }
                            }
                            acc[0] += zp * m0;
                            acc[1] += zp * m1;
                        }
                        edgec_pair_out(y, c, &o, two, acc[0], acc[1]);
                        ox++;
                        y += stride;
                    }
                }
            }
        }
    }
}

#define EDGEC_PATCH_MAX 64      /* bytes of one gathered window (K rounded up to 4) */
#define EDGEC_PATCH_BYTES 128   /* the windows gathered at a time, on the stack: as many as fit, at least 2 */

/* Small windows (e.g. a first layer over 1-channel audio or 3-channel images): as many pixels' windows
 * as EDGEC_PATCH_BYTES holds gathered (an even number: a K of 9 to 12, as a 3x3 window over one
 * channel, takes 10 at a time), then every channel pair (its requantization prepared once) over them,
 * two at a time, so that the pair's set-up is shared by all of them and each dot product runs over a
 * whole window.  The gathered pixel walks rows and columns without a division. */
EDGEC_PATH void edgec_conv_patch(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                             const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                             int32_t out_row0, int32_t out_rows)
{
    const int32_t out_w = p->out_w, out_c = p->out_c, stride = p->out_stride, pixels = out_rows * out_w;
    const int32_t k4 = (p->k_h * p->k_w * p->in_c + 3) & ~3, per = (EDGEC_PATCH_BYTES / k4) & ~1;
    edgec_outq o;
    edgec_ch c[2];
    int8_t patch[EDGEC_PATCH_BYTES];
    int32_t n, px, oc, i, count;
    edgec_outq_init(&o, p, multiplier, shift, out_c);
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(p->in_h * p->in_w * p->in_c);
        int8_t *y = edgec_conv_px(p, out, n, out_rows, 0, 0);
        int32_t gy = out_row0, gx = 0;         /* the next window to gather */
        for (px = 0; px < pixels; px += count, y += count * stride) {
            count = pixels - px < per ? pixels - px : per;
            for (i = 0; i < count; i++) {
                edgec_gather(p, img, in_row0, gy, gx, k4, patch + i * k4);
                if (++gx == out_w) {
                    gx = 0;
                    gy++;
                }
            }
            for (oc = 0; oc < out_c; oc += 2) {
                const int32_t two = edgec_pair_load(c, &o, bias, multiplier, shift, oc, out_c);
                const EDGEC_ROM int8_t *wp = weights + oc * k4;
                for (i = 0; i + 2 <= count; i += 2) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    edgec_dot2x2p_s8(patch + i * k4, patch + (i + 1) * k4, wp, k4, acc);
                    edgec_block_out(y + i * stride + oc, stride, c, &o, two, acc);
                }
                if (i < count) {
                    int32_t acc[2] = {0, 0};
                    edgec_dot1x2p_s8(patch + i * k4, wp, k4, acc);
                    edgec_pair_out(y + i * stride + oc, c, &o, two, acc[0], acc[1]);
                }
            }
        }
    }
}

/* Everything else, tap by tap, the padding read as in_zp: grouped convs (1 < groups, not depthwise;
 * weights OHWI, one output channel at a time) and one-group convs with in_c not a multiple of 4 and a
 * window too large for a patch (pair layout).  Plain and slow; no model in the test set takes it. */
EDGEC_PATH void edgec_conv_taps(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                            const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                            int32_t out_row0, int32_t out_rows)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_w = p->k_w, out_c = p->out_c, zp = p->in_zp;
    const int32_t cg = in_c / p->groups, og = out_c / p->groups, k = p->k_h * k_w * cg, k4 = (k + 3) & ~3;
    edgec_outq o;
    edgec_ch c;
    int32_t n, oy, ox, oc, ky, kx, ic;
    edgec_outq_init(&o, p, multiplier, shift, out_c);
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(in_h * in_w * in_c);
        for (oy = out_row0; oy < out_row0 + out_rows; oy++)
            for (ox = 0; ox < p->out_w; ox++) {
                int8_t *y = edgec_conv_px(p, out, n, out_rows, oy - out_row0, ox);
                for (oc = 0; oc < out_c; oc++) {
                    /* pair layout (one group): channel oc's input i at 8 * (i / 4) + i % 4 of its pair, + 4 if odd */
                    const EDGEC_ROM int8_t *wo = p->groups == 1 ? weights + (oc & ~1) * k4 + (oc & 1) * 4 : weights + oc * k;
                    const int32_t first = (oc / og) * cg;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                        for (kx = 0; kx < k_w; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                            const int32_t inside = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
                            for (ic = 0; ic < cg; ic++) {
                                const int32_t i = (ky * k_w + kx) * cg + ic;
                                const int32_t xv = inside ? img[((iy - in_row0) * in_w + ix) * in_c + first + ic] : zp;
                                acc += xv * wo[p->groups == 1 ? 8 * (i >> 2) + (i & 3) : i];
                            }
                        }
                    }
                    edgec_ch_load(&c, &o, bias, multiplier, shift, oc);
                    y[oc] = edgec_requant_s8(c.bias, acc, c.multiplier, c.shift, o.out_zp, o.act_min, o.act_max);
                }
            }
    }
}
void edgec_conv2d_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                     const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                     int32_t out_row0, int32_t out_rows)
{
    const int32_t k4 = (p->k_h * p->k_w * p->in_c + 3) & ~3;
    if (p->groups != 1)
        edgec_conv_taps(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else if (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 && p->pad_left == 0
             && p->out_h == p->in_h && p->out_w == p->in_w)
        edgec_conv_pointwise(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else if ((p->in_c & 3) == 0)
        edgec_conv_rows(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else if (k4 <= EDGEC_PATCH_MAX)
        edgec_conv_patch(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else
        edgec_conv_taps(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}

/* The loop nests as entry points of their own (edgec.h): the generated code calls the one codegen picked,
 * so --gc-sections drops the others with the dispatcher above.  Each is a tail call into its nest. */
void edgec_conv2d_pointwise_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                               const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows)
{
    edgec_conv_pointwise(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}

void edgec_conv2d_rows_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                          const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                          int32_t out_row0, int32_t out_rows)
{
    edgec_conv_rows(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}

void edgec_conv2d_patch_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                           const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                           int32_t out_row0, int32_t out_rows)
{
    edgec_conv_patch(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}

void edgec_conv2d_taps_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                          const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                          int32_t out_row0, int32_t out_rows)
{
    edgec_conv_taps(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}
