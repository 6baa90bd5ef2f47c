/* Conv2D (incl. grouped and depthwise), int8 in/out, int8 per-channel weights, int32 bias.
 * Twin: reference.conv2d_s8.  Padding taps contribute nothing (they equal the input zero point).
 * Row bands (patch-based execution): `in` holds input rows from in_row0 on, and the call computes
 * output rows [out_row0, out_row0 + out_rows) into `out` (which points at row out_row0).
 * A whole-tensor call is (0, 0, out_h).  Output pixels are out_stride elements apart (out_c, or the
 * channel count of a Concat whose slice this conv writes).
 *
 * `bias` arrives with the input zero point folded in at compile time: bias[oc] - in_zp * sum(w[oc]) over
 * all taps, so the inner loops are plain int8 dot products; a window that hangs over the padding adds
 * back in_zp * w for its missing taps (or reads in_zp for them).  The integer sum equals the
 * reference's sum of (x - zp) * w plus bias, wrapped to 32 bits as the reference wraps it (the bias is
 * added in unsigned arithmetic, so a saturated bias of a near-dead channel wraps instead of overflowing).
 *
 * Weight layouts (written by codegen, compiler side: codegen/c.py):
 * - one group (edgec_conv2d_s8 with groups == 1): the pair layout of edgec_dot.h, output channels two by
 *   two interleaved in groups of four over K4 = k_h * k_w * in_c rounded up to 4 (zero-padded), an odd
 *   channel count padded with a zero channel.  Pair j starts at weights + 2 * j * K4.
 * - grouped (1 < groups, not depthwise): OHWI, as imported.
 * - depthwise (edgec_depthwise_conv2d_s8): the quad layout [ceil(C / 4)][k_h][k_w][4], channels
 *   zero-padded to a multiple of four.
 * One-group convs pick their loop nest by shape: pointwise (1x1, stride 1, no padding) as a matrix
 * product; in_c a multiple of 4 straight from the input, each kernel row a contiguous run; small windows
 * gathered into patches; anything else tap by tap.  All of them work a pair of output channels at a
 * time over two pixels, so every weight load feeds two pixels and every input load two channels; the
 * per-channel requantization is prepared once per pair (edgec_rq_prepare) where the pair is the outer
 * loop. */
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

/* One output channel's requantization: its bias, multiplier and shift, and (layers where edgec_rq_fast
 * holds) the prepared form. */
typedef struct {
    uint32_t bias;
    int32_t multiplier, shift;
    edgec_rq q;
} edgec_ch;

/* A layer's output constants, in locals: stores through int8_t pointers may alias *p. */
typedef struct {
    int32_t fast, out_zp, act_min, act_max;
} edgec_outq;

static void edgec_ch_load(edgec_ch *c, const edgec_outq *o, const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier,
                          const EDGEC_ROM int32_t *shift, int32_t oc)
{
    c->bias = (uint32_t)bias[oc];
    c->multiplier = multiplier[oc];
    c->shift = shift[oc];
    (void)o;
    edgec_rq_prepare(&c->q, c->multiplier, c->shift);
}

static void edgec_outq_init(edgec_outq *o, const EDGEC_ROM edgec_conv2d_params *p, const EDGEC_ROM int32_t *multiplier,
                            const EDGEC_ROM int32_t *shift, int32_t channels)
{
    o->out_zp = p->out_zp;
    o->act_min = p->act_min;
    o->act_max = p->act_max;
    o->fast = edgec_rq_fast(multiplier, shift, channels, p->act_min, p->act_max);
}

/* The outputs of a channel pair (c[0], c[1]) at one pixel y; `two` is 0 for the padding channel of an
 * odd channel count, which is computed but not stored. */
EDGEC_HELPER void edgec_pair_out(int8_t *y, const edgec_ch *c, const edgec_outq *o, int32_t two, int32_t a0, int32_t a1)
{
    if (o->fast) {
        y[0] = edgec_rq_s8(&c[0].q, c[0].bias, a0, o->out_zp);
        if (two)
            y[1] = edgec_rq_s8(&c[1].q, c[1].bias, a1, o->out_zp);
    } else {
        y[0] = edgec_requant_s8(c[0].bias, a0, c[0].multiplier, c[0].shift, o->out_zp, o->act_min, o->act_max);
        if (two)
            y[1] = edgec_requant_s8(c[1].bias, a1, c[1].multiplier, c[1].shift, o->out_zp, o->act_min, o->act_max);
    }
}

/* The four outputs of a 2x2 block (pixels y and y + stride, the pair's channels), channel by channel
 * so that each channel's requantization constants are loaded once. */
EDGEC_HELPER void edgec_block_out(int8_t *y, int32_t stride, const edgec_ch *c, const edgec_outq *o, int32_t two, const int32_t *acc)
{
    if (o->fast) {
        y[0] = edgec_rq_s8(&c[0].q, c[0].bias, acc[0], o->out_zp);
        y[stride] = edgec_rq_s8(&c[0].q, c[0].bias, acc[2], o->out_zp);
        if (two) {
            y[1] = edgec_rq_s8(&c[1].q, c[1].bias, acc[1], o->out_zp);
            y[stride + 1] = edgec_rq_s8(&c[1].q, c[1].bias, acc[3], o->out_zp);
        }
    } else {
        edgec_pair_out(y, c, o, two, acc[0], acc[1]);
        edgec_pair_out(y + stride, c, o, two, acc[2], acc[3]);
    }
}

/* The pair (oc, oc + 1) of a one-group conv: its channel records (the second repeats the first for an odd
 * channel count's padding channel) and whether the second is real. */
static int32_t edgec_pair_load(edgec_ch *c, const edgec_outq *o, const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier,
                               const EDGEC_ROM int32_t *shift, int32_t oc, int32_t out_c)
{
    const int32_t two = oc + 1 < out_c;
    edgec_ch_load(&c[0], o, bias, multiplier, shift, oc);
    edgec_ch_load(&c[1], o, bias, multiplier, shift, two ? oc + 1 : oc);
    return two;
}

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
    int32_t n, oc, oy, ox, ky, kx, t;
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
                        int32_t acc[2] = {0, 0};
                        for (ky = ky0; ky < ky1; ky++) {
                            const int32_t xr = rowofs + ky * row + ix0 * in_c;
                            if (dil_w == 1) {
                                if (kx1 > kx0)
                                    edgec_dot1x2p_s8(img + xr + kx0 * in_c, wp + 2 * (ky * k_w + kx0) * in_c, (kx1 - kx0) * in_c, acc);
                            } else {
                                for (kx = kx0; kx < kx1; kx++)
                                    edgec_dot1x2p_s8(img + xr + kx * tap_x, wp + 2 * (ky * k_w + kx) * in_c, in_c, acc);
                            }
                        }
                        if (!(rows_whole && kx0 == 0 && kx1 == k_w)) {     /* add in_zp * (weights of the missing taps) */
                            int32_t m0 = 0, m1 = 0;
                            if (taps <= EDGEC_TAPS_MAX) {
                                if (!have_sums) {
                                    edgec_pair_tap_sums(wp, in_c, taps, sums);
                                    have_sums = 1;
                                }
                                for (ky = 0; ky < k_h; ky++)
                                    for (kx = 0; kx < k_w; kx++)
                                        if (ky < ky0 || ky >= ky1 || kx < kx0 || kx >= kx1) {
                                            t = ky * k_w + kx;
                                            m0 += sums[2 * t];
                                            m1 += sums[2 * t + 1];
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
#define EDGEC_PATCH_PIXELS 2    /* windows gathered at a time, on the stack */

/* The window of output pixel (oy, ox) gathered into a patch: its taps in OHWI order, in_zp where it
 * hangs over the padding (the folded bias cancels it exactly), zeros up to k4 (where the weights are
 * zero too).  Undilated across, each kernel row is one padding run, one copy and another padding run. */
static void edgec_gather(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *img, int32_t in_row0, int32_t oy, int32_t ox, int32_t k4,
                         int8_t *patch)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, dil_w = p->dil_w;
    const int32_t ix0 = ox * p->stride_w - p->pad_left, row = k_w * in_c;
    const int32_t kx0 = edgec_first_tap(ix0, dil_w), kx1 = edgec_end_tap(ix0, dil_w, k_w, in_w);
    const int8_t zp = (int8_t)p->in_zp;
    int8_t *dst = patch;
    int32_t ky, kx, c;
    for (ky = 0; ky < k_h; ky++) {
        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
        const int8_t *const end = dst + row;
        if (iy < 0 || iy >= in_h || kx1 <= kx0) {
            while (dst < end)
                *dst++ = zp;
            continue;
        }
        for (c = 0; c < kx0 * in_c; c++)
            *dst++ = zp;
        if (dil_w == 1) {
            const int8_t *src = img + ((iy - in_row0) * in_w + ix0 + kx0) * in_c;
            for (c = 0; c < (kx1 - kx0) * in_c; c++)
                *dst++ = src[c];
        } else {
            for (kx = kx0; kx < kx1; kx++) {
                const int8_t *src = img + ((iy - in_row0) * in_w + ix0 + kx * dil_w) * in_c;
                for (c = 0; c < in_c; c++)
                    *dst++ = src[c];
            }
        }
        while (dst < end)
            *dst++ = zp;
    }
    while (dst < patch + k4)
        *dst++ = 0;
}

/* Small windows (e.g. a first layer over 1-channel audio or 3-channel images): up to four pixels'
 * windows gathered, then every channel pair (its requantization prepared once) over them, two at a
 * time. */
EDGEC_PATH void edgec_conv_patch(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                             const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                             int32_t out_row0, int32_t out_rows)
{
    const int32_t out_w = p->out_w, out_c = p->out_c, stride = p->out_stride, pixels = out_rows * out_w;
    const int32_t k4 = (p->k_h * p->k_w * p->in_c + 3) & ~3;
    edgec_outq o;
    edgec_ch c[2];
    int8_t patch[EDGEC_PATCH_PIXELS][EDGEC_PATCH_MAX];
    int32_t n, px, oc, i, count;
    edgec_outq_init(&o, p, multiplier, shift, out_c);
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(p->in_h * p->in_w * p->in_c);
        int8_t *y = edgec_conv_px(p, out, n, out_rows, 0, 0);
        for (px = 0; px < pixels; px += count, y += count * stride) {
            count = pixels - px < EDGEC_PATCH_PIXELS ? pixels - px : EDGEC_PATCH_PIXELS;
            for (i = 0; i < count; i++)
                edgec_gather(p, img, in_row0, out_row0 + (px + i) / out_w, (px + i) % out_w, k4, patch[i]);
            for (oc = 0; oc < out_c; oc += 2) {
                const int32_t two = edgec_pair_load(c, &o, bias, multiplier, shift, oc, out_c);
                const EDGEC_ROM int8_t *wp = weights + oc * k4;
                for (i = 0; i + 2 <= count; i += 2) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    edgec_dot2x2p_s8(patch[i], patch[i + 1], wp, k4, acc);
                    edgec_block_out(y + i * stride + oc, stride, c, &o, two, acc);
                }
                if (i < count) {
                    int32_t acc[2] = {0, 0};
                    edgec_dot1x2p_s8(patch[i], wp, k4, acc);
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

/* Four channels of a depthwise output pixel: requantized and stored. */
EDGEC_HELPER void edgec_dw_out4(int8_t *y, const edgec_ch *ch, const edgec_outq *o, const int32_t *acc)
{
    if (o->fast) {
        y[0] = edgec_rq_s8(&ch[0].q, ch[0].bias, acc[0], o->out_zp);
        y[1] = edgec_rq_s8(&ch[1].q, ch[1].bias, acc[1], o->out_zp);
        y[2] = edgec_rq_s8(&ch[2].q, ch[2].bias, acc[2], o->out_zp);
        y[3] = edgec_rq_s8(&ch[3].q, ch[3].bias, acc[3], o->out_zp);
    } else {
        int32_t j;
        for (j = 0; j < 4; j++)
            y[j] = edgec_requant_s8(ch[j].bias, acc[j], ch[j].multiplier, ch[j].shift, o->out_zp, o->act_min, o->act_max);
    }
}

/* A run of `count` depthwise output pixels of one row, four channels, whose windows lie inside the
 * input: x at the first window's top-left tap, x_step and y_step between pixels. */
static void edgec_dw_run(const int8_t *x, int32_t x_step, int8_t *y, int32_t y_step, int32_t count, int32_t step_x, int32_t step_y,
                         int32_t k_h, int32_t k_w, const EDGEC_ROM int8_t *wq, const edgec_ch *ch, const edgec_outq *o)
{
    for (; count > 0; count--, x += x_step, y += y_step) {
        int32_t acc[4] = {0, 0, 0, 0};
        if (k_h == 3 && k_w == 3)               /* the common case, unrolled */
            edgec_dw4_3x3_s8(x, step_x, step_y, wq, acc);
        else
            edgec_dw4_s8(x, step_x, step_y, wq, k_h, k_w, acc);
        edgec_dw_out4(y, ch, o, acc);
    }
}

/* A depthwise output pixel whose window hangs over the padding, four channels: each kernel row's taps
 * read from the input where inside, the zero point's word `pad` where not.  rowofs indexes the
 * window's top row in img (negative over the padding: used only inside). */
EDGEC_PATH void edgec_dw_edge(const int8_t *img, int32_t rowofs, int32_t ix0, int32_t ky0, int32_t ky1, const EDGEC_ROM edgec_conv2d_params *p,
                          const int8_t *pad, const EDGEC_ROM int8_t *wq, int32_t *acc)
{
    const int32_t k_w = p->k_w, c_n = p->in_c, dil_w = p->dil_w, step_x = dil_w * c_n, step_y = p->dil_h * p->in_w * c_n;
    const int32_t kx0 = edgec_first_tap(ix0, dil_w), kx1 = edgec_end_tap(ix0, dil_w, k_w, p->in_w);
    int32_t ky;
    for (ky = 0; ky < p->k_h; ky++, wq += 4 * k_w) {
        if (ky >= ky0 && ky < ky1 && kx1 > kx0)
            edgec_dw4_row_s8(img + rowofs + ky * step_y + (ix0 + kx0 * dil_w) * c_n, step_x, kx0, kx1, k_w, pad, wq, acc);
        else
            edgec_dw4_row_s8(pad, step_x, 0, 0, k_w, pad, wq, acc);
    }
}

/* One output row of the last 1-3 channels (lanes) of a channel count that is not a multiple of 4: tap
 * by tap, one channel at a time, the padding read as in_zp. */
static void edgec_dw_tail(const int8_t *img, int32_t rowofs, int8_t *y, const EDGEC_ROM edgec_conv2d_params *p, int32_t lanes,
                              int32_t ky0, int32_t ky1, const EDGEC_ROM int8_t *wq, const edgec_ch *ch, const edgec_outq *o)
{
    const int32_t k_h = p->k_h, k_w = p->k_w, c_n = p->in_c, zp = p->in_zp;
    const int32_t step_x = p->dil_w * c_n, step_y = p->dil_h * p->in_w * c_n;
    int32_t ox, j, ky, kx;
    for (ox = 0; ox < p->out_w; ox++, y += p->out_stride) {
        const int32_t ix0 = ox * p->stride_w - p->pad_left;
        const int32_t kx0 = edgec_first_tap(ix0, p->dil_w), kx1 = edgec_end_tap(ix0, p->dil_w, k_w, p->in_w);
        for (j = 0; j < lanes; j++) {
            int32_t a = 0;
            for (ky = 0; ky < k_h; ky++)
                for (kx = 0; kx < k_w; kx++) {
                    const int32_t inside = ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1;
                    a += (inside ? img[rowofs + ky * step_y + ix0 * c_n + kx * step_x + j] : zp) * wq[(ky * k_w + kx) * 4 + j];
                }
            y[j] = edgec_requant_s8(ch[j].bias, a, ch[j].multiplier, ch[j].shift, o->out_zp, o->act_min, o->act_max);
        }
    }
}

#define EDGEC_DW_STRIP 48       /* words of the padded-rows strip of a depthwise border row, on the stack */

/* The k_h input rows under output row (iy0 = its first input row) of channels c..c+3, one word per
 * column from -pad_left on, strip_w columns, the padding (rows and columns outside the input) as in_zp:
 * every window of the row then lies inside the strip. */
static void edgec_dw_strip(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *img, int32_t in_row0, int32_t iy0, int32_t c,
                           int32_t strip_w, int32_t *strip)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, c_n = p->in_c, pad_left = p->pad_left, k_h = p->k_h, dil_h = p->dil_h;
    const uint32_t zp4 = (uint32_t)(uint8_t)p->in_zp * UINT32_C(0x01010101);
    /* the strip's columns [lo, hi) lie inside the input, the others over the padding */
    const int32_t lo = pad_left < strip_w ? pad_left : strip_w, hi = pad_left + in_w < strip_w ? pad_left + in_w : strip_w;
    int32_t ky, sx;
    for (ky = 0; ky < k_h; ky++, strip += strip_w) {
        const int32_t iy = iy0 + ky * dil_h;
        const int8_t *x = img + ((iy - in_row0) * in_w + lo - pad_left) * c_n + c;   /* used only inside */
        const int32_t inside = iy >= 0 && iy < in_h;
        for (sx = 0; sx < (inside ? lo : strip_w); sx++)
            __builtin_memcpy(&strip[sx], &zp4, 4);
        if (!inside)
            continue;
        for (; sx < hi; sx++, x += c_n)
            __builtin_memcpy(&strip[sx], x, 4);
        for (; sx < strip_w; sx++)
            __builtin_memcpy(&strip[sx], &zp4, 4);
    }
}

#define EDGEC_DW_ROWS 160       /* int16s of the three lines of a 3x3 depthwise (edgec_dw_rows3), on the stack */
#define EDGEC_DW_RUN 32         /* accumulators of a 3x3 depthwise run, on the stack */
#define EDGEC_DW_RUN_MIN 12     /* the shortest run (output row or column) that takes the lines */

/* One line of a 3x3 depthwise's input (edgec_dw_rows3) into slot `dst` of three interleaved int16 lines
 * (position j at dst[3 * j]): n positions from input coordinate u0 on, `step` bytes apart from img + at
 * (`at` indexes coordinate 0: used only inside), in_zp where the coordinate lies outside [0, len) or the
 * whole line does (!inside). */
static void edgec_dw_line16(const int8_t *img, int32_t at, int32_t inside, int32_t u0, int32_t len, int32_t step, int32_t n, int32_t zp,
                            int16_t *dst)
{
    const int32_t lo = !inside ? n : (-u0 < 0 ? 0 : (-u0 < n ? -u0 : n));
    const int32_t hi = !inside ? n : (len - u0 < lo ? lo : (len - u0 < n ? len - u0 : n));
    int32_t j;
    for (j = 0; j < lo; j++, dst += 3)
        *dst = (int16_t)zp;
    if (j < hi) {
        const int8_t *x = img + at + (u0 + j) * step;
        for (; j < hi; j++, dst += 3, x += step)
            *dst = *x;
    }
    for (; j < n; j++, dst += 3)
        *dst = (int16_t)zp;
}

/* 3x3 depthwise, undilated, on variants whose paired 16-bit multiplies pay (edgec_dw3_lines): one
 * channel at a time, its weights and requantization held for the whole plane.  The plane is swept in
 * lines along its longer output side (rows, or columns when the band is taller than wide: KWS's 25x5):
 * three input lines are sign-extended into three interleaved int16 lines on the stack, padding
 * included, as a ring (each input line is converted once per channel however many output lines read
 * it), so that every window lies inside them at fixed offsets from one pointer. */
EDGEC_PATH void edgec_dw_rows3(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                               const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows)
{
    const int32_t c_n = p->in_c, in_w = p->in_w, out_w = p->out_w, out_stride = p->out_stride, zp = p->in_zp;
    const int32_t cols = out_rows > out_w;               /* lines are input columns, runs go down them */
    /* the run: n_run outputs s_run apart, from input coordinate run0; e_run bytes and o_run output bytes per step */
    const int32_t n_run = cols ? out_rows : out_w, s_run = cols ? p->stride_h : p->stride_w, len_run = cols ? p->in_h : in_w;
    const int32_t run0 = cols ? out_row0 * p->stride_h - p->pad_top : -p->pad_left;
    const int32_t e_run = cols ? in_w * c_n : c_n, o_run = cols ? out_w * out_stride : out_stride;
    /* the lines: n_lines output lines from output line line0, s_line apart from input coordinate -pad_line */
    const int32_t n_lines = cols ? out_w : out_rows, line0 = cols ? 0 : out_row0, s_line = cols ? p->stride_w : p->stride_h;
    const int32_t len_line = cols ? in_w : p->in_h;
    const int32_t pad_line = cols ? p->pad_left : p->pad_top, e_line = cols ? c_n : in_w * c_n, o_line = cols ? out_stride : out_w * out_stride;
    /* a line's positions: the windows' and the one after the last window, whose slot 0 word loads read */
    const int32_t line_w = (n_run - 1) * s_run + 4;
    int16_t lines[EDGEC_DW_ROWS];
    int32_t acc[EDGEC_DW_RUN];
    edgec_outq o;
    edgec_ch ch;
    edgec_dw3w w;
    int32_t c, n, l, i, done;
    edgec_outq_init(&o, p, multiplier, shift, c_n);
    for (c = 0; c < c_n; c++) {
        edgec_dw3w_load(&w, weights + (c >> 2) * 36 + (c & 3), cols);
        edgec_ch_load(&ch, &o, bias, multiplier, shift, c);
        for (n = 0; n < p->batch; n++) {
            /* img + x0 + u * e_line: input line u of channel c (used only inside); u: the next line to convert */
            const int8_t *img = in + (size_t)n * (size_t)(p->in_h * in_w * c_n);
            const int32_t x0 = c - in_row0 * in_w * c_n;
            int32_t u = -pad_line;
            for (l = 0; l < n_lines; l++) {
                const int32_t u0 = (line0 + l) * s_line - pad_line, top = (u0 + pad_line) % 3;
                int8_t *y = out + (size_t)n * (size_t)(out_rows * out_w * out_stride) + (size_t)(l * o_line) + c;
                for (u = u > u0 ? u : u0; u < u0 + 3; u++)       /* the ring holds lines up to u - 1 */
                    edgec_dw_line16(img, x0 + u * e_line, u >= 0 && u < len_line, run0, len_run, e_run, line_w, zp, lines + (u + pad_line) % 3);
                for (done = 0; done < n_run; done += EDGEC_DW_RUN) {
                    const int32_t count = n_run - done < EDGEC_DW_RUN ? n_run - done : EDGEC_DW_RUN;
                    edgec_dw3_run_s16(lines + 3 * done * s_run, s_run, count, &w, top, ch.bias, acc);
                    if (o.fast)
                        edgec_rq_run_s8(acc, count, y, o_run, &ch.q, o.out_zp);
                    else
                        for (i = 0; i < count; i++)
                            y[i * o_run] = edgec_requant_s8(0, acc[i], ch.multiplier, ch.shift, o.out_zp, o.act_min, o.act_max);
                    y += count * o_run;
                }
            }
        }
    }
}

/* Depthwise conv (one input and one output channel per group), channels innermost, weights in the quad
 * layout.  Four channels at a time are the outer loop: their requantization is prepared once, and for
 * each output pixel one word of input and one of weights per tap feed the four channels.  Windows
 * inside the input go in runs (edgec_dw_run, 3x3 unrolled); a row with border pixels is padded into a
 * strip on the stack (edgec_dw_strip, up to EDGEC_DW_STRIP words) and then runs whole, and where it does
 * not fit its border pixels go kernel row by kernel row (edgec_dw_edge); the last 1-3 channels of a
 * channel count that is not a multiple of 4 one at a time.
 * Twin: reference.conv2d_s8. */
EDGEC_PATH void edgec_dw_quads(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                               const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows)
{
    /* every parameter in a local: stores through int8_t pointers may alias *p, so the compiler would
     * otherwise reload each field after each output byte */
    const int32_t c_n = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left, out_w = p->out_w, out_stride = p->out_stride;
    const int32_t batch = p->batch, taps = k_h * k_w, zp = p->in_zp;
    const int32_t step_x = dil_w * c_n, step_y = dil_h * in_w * c_n, reach = (k_w - 1) * dil_w;
    /* output columns whose windows lie inside the input across: [ox_lo, ox_hi) */
    const int32_t ox_lo0 = (pad_left + stride_w - 1) / stride_w;
    const int32_t last = in_w - 1 - reach + pad_left;                 /* ix0 + reach <= in_w - 1 */
    const int32_t ox_end = last < 0 ? 0 : last / stride_w + 1;
    const int32_t ox_lo = ox_lo0 < out_w ? ox_lo0 : out_w;
    const int32_t ox_hi = ox_end > out_w ? out_w : (ox_end < ox_lo ? ox_lo : ox_end);
    const int8_t pad[4] = {(int8_t)zp, (int8_t)zp, (int8_t)zp, (int8_t)zp};
    const int32_t strip_w = (out_w - 1) * stride_w + reach + 1, strip_words = k_h * strip_w;
    int32_t strip[EDGEC_DW_STRIP];
    edgec_outq o;
    edgec_ch ch[4];
    int32_t n, oy, ox, c, j;
    edgec_outq_init(&o, p, multiplier, shift, c_n);
    for (c = 0; c < c_n; c += 4) {
        const int32_t whole = c + 4 <= c_n, lanes = whole ? 4 : c_n - c;      /* the last 1-3 channels: lanes < 4 */
        const EDGEC_ROM int8_t *wq = weights + c * taps;
        for (j = 0; j < 4; j++)
            edgec_ch_load(&ch[j], &o, bias, multiplier, shift, c + (j < lanes ? j : 0));
        for (n = 0; n < batch; n++) {
            const int8_t *img = in + (size_t)n * (size_t)(in_h * in_w * c_n);
            for (oy = out_row0; oy < out_row0 + out_rows; oy++) {
                const int32_t iy0 = oy * stride_h - pad_top;
                const int32_t ky0 = edgec_first_tap(iy0, dil_h), ky1 = edgec_end_tap(iy0, dil_h, k_h, in_h);
                const int32_t rowofs = (iy0 - in_row0) * in_w * c_n + c;   /* negative over the padding: used only inside */
                /* the runs' columns; none where the rows hang over the padding */
                const int32_t lo = ky0 == 0 && ky1 == k_h ? ox_lo : out_w, hi = lo == out_w ? out_w : ox_hi;
                int8_t *y = out + ((size_t)(n * out_rows + oy - out_row0) * (size_t)out_w) * (size_t)out_stride + c;
                if (!whole) {                       /* the last 1-3 channels, tap by tap */
                    edgec_dw_tail(img, rowofs, y, p, lanes, ky0, ky1, wq, ch, &o);
                    continue;
                }
                /* a row with border pixels, where it fits: its k_h input rows padded into the strip, and
                 * the whole row one inside run over it (one call site: the run stays inlined) */
                const int32_t padded = (lo != 0 || hi != out_w) && strip_words <= EDGEC_DW_STRIP;
                const int32_t run_lo = padded ? 0 : lo, run_hi = padded ? out_w : hi;
                const int32_t run_step = padded ? 4 : c_n, run_dx = padded ? dil_w * 4 : step_x, run_dy = padded ? strip_w * 4 : step_y;
                if (padded)
                    edgec_dw_strip(p, img, in_row0, iy0, c, strip_w, strip);
                for (ox = 0; ox < out_w;) {
                    if (ox == run_lo && run_hi > run_lo) {
                        const int8_t *src = padded ? (const int8_t *)strip : img + rowofs + (ox * stride_w - pad_left) * c_n;
                        edgec_dw_run(src, stride_w * run_step, y, out_stride, run_hi - run_lo, run_dx, run_dy, k_h, k_w, wq, ch, &o);
                        y += (run_hi - run_lo) * out_stride;
                        ox = run_hi;
                        continue;
                    }
                    {
                        int32_t acc[4] = {0, 0, 0, 0};
                        edgec_dw_edge(img, rowofs, ox * stride_w - pad_left, ky0, ky1, p, pad, wq, acc);
                        edgec_dw_out4(y, ch, &o, acc);
                        ox++;
                        y += out_stride;
                    }
                }
            }
        }
    }
}

/* Twin: reference.conv2d_s8.  3x3 undilated, stride 1, runs of at least EDGEC_DW_RUN_MIN take the lines
 * where the variant has them (measured on MLPerf Tiny's KWS and VWW: a stride-2 plane converts four
 * inputs an output, and on short runs the per-line work outweighs the cheaper taps); everything else the
 * quads.  Two paths out of line, so a call's stack is the larger of their frames, not their sum. */
void edgec_depthwise_conv2d_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0,
                               const EDGEC_ROM int8_t *weights, const EDGEC_ROM int32_t *bias,
                               const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows)
{
    const int32_t run_max = out_rows > p->out_w ? out_rows : p->out_w;
    if (p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1 && p->stride_h == 1 && p->stride_w == 1 && run_max >= EDGEC_DW_RUN_MIN
        && 3 * (run_max + 3) <= edgec_dw3_lines(EDGEC_DW_ROWS))
        edgec_dw_rows3(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else
        edgec_dw_quads(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}
