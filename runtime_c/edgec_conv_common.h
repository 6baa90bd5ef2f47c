/* Private to the int8 conv kernels (edgec_conv2d_s8.c: the one-group loop nests and their dispatcher,
 * edgec_conv2d_cols_s8.c: the columns nest, edgec_depthwise_conv2d_s8.c: depthwise); not part of the
 * runtime's API (edgec.h).  Twin of all three: reference.conv2d_s8.
 *
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
 * - one group (edgec_conv2d_s8 with groups == 1, edgec_conv2d_cols_s8): the pair layout of edgec_dot.h,
 *   output channels two by two interleaved in groups of four over K4 = k_h * k_w * in_c rounded up to 4
 *   (zero-padded), an odd channel count padded with a zero channel.  Pair j starts at weights + 2 * j * K4.
 * - grouped (1 < groups, not depthwise): OHWI, as imported.
 * - depthwise (edgec_depthwise_conv2d_s8): the quad layout [ceil(C / 4)][k_h][k_w][4], channels
 *   zero-padded to a multiple of four.
 *
 * The helpers below are `static` (one copy in each file that calls them: the inner loops inline them);
 * EDGEC_CONV_SHARED marks them unused so a file that does not call one of them compiles warning-free.
 * Those off the inner loops are in edgec_conv_common.c, once for all three. */
#ifndef EDGEC_CONV_COMMON_H
#define EDGEC_CONV_COMMON_H
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

#if defined(__GNUC__)
#define EDGEC_CONV_SHARED static __attribute__((unused))
#else
#define EDGEC_CONV_SHARED static
#endif

/* First and one-past-last kernel tap whose input row (or column) lies inside [0, size). */
EDGEC_CONV_SHARED int32_t edgec_first_tap(int32_t i0, int32_t dil)
{
    return i0 >= 0 ? 0 : (dil == 1 ? -i0 : (-i0 + dil - 1) / dil);      /* no division when undilated */
}

EDGEC_CONV_SHARED int32_t edgec_end_tap(int32_t i0, int32_t dil, int32_t k, int32_t size)
{
    const int32_t e = size - i0 <= 0 ? 0 : (dil == 1 ? size - i0 : (size - i0 + dil - 1) / dil);
    return e < k ? e : k;
}

EDGEC_CONV_SHARED int8_t *edgec_conv_px(const EDGEC_ROM edgec_conv2d_params *p, int8_t *out, int32_t n, int32_t out_rows, int32_t row, int32_t ox)
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

/* Out of line in edgec_conv_common.c, once for all conv files: a layer's output constants (per call)
 * and the general requantization, for layers where edgec_rq_fast does not hold (a clamp inside the
 * int8 range, a shift outside the prepared form's: rare; the call costs about 7 instructions an
 * output next to the 25 of the requantization, and saves its inline copies: 0.6 KB in the pointwise
 * nest alone). */
void edgec_outq_init(edgec_outq *o, const EDGEC_ROM edgec_conv2d_params *p, const EDGEC_ROM int32_t *multiplier,
                     const EDGEC_ROM int32_t *shift, int32_t channels);
int8_t edgec_requant_any(uint32_t bias, int32_t acc, const edgec_ch *c, const edgec_outq *o);

EDGEC_CONV_SHARED void edgec_ch_load(edgec_ch *c, const edgec_outq *o, const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier,
                                     const EDGEC_ROM int32_t *shift, int32_t oc)
{
    c->bias = (uint32_t)bias[oc];
    c->multiplier = multiplier[oc];
    c->shift = shift[oc];
    (void)o;
    edgec_rq_prepare(&c->q, c->multiplier, c->shift);
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
        y[0] = edgec_requant_any(c[0].bias, a0, &c[0], o);
        if (two)
            y[1] = edgec_requant_any(c[1].bias, a1, &c[1], o);
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
EDGEC_CONV_SHARED int32_t edgec_pair_load(edgec_ch *c, const edgec_outq *o, const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier,
                                          const EDGEC_ROM int32_t *shift, int32_t oc, int32_t out_c)
{
    const int32_t two = oc + 1 < out_c;
    edgec_ch_load(&c[0], o, bias, multiplier, shift, oc);
    edgec_ch_load(&c[1], o, bias, multiplier, shift, two ? oc + 1 : oc);
    return two;
}

/* The window of output pixel (oy, ox) gathered into a patch: its taps in OHWI order, in_zp where it
 * hangs over the padding (the folded bias cancels it exactly), zeros up to k4 (where the weights are
 * zero too).  Undilated across, each kernel row is one padding run, one copy and another padding run; a
 * window inside the input is k_h plain copies.  EDGEC_HELPER: out of line on AVR, where its inlined copies
 * cost about 1 KB of the 32 KB of flash. */
EDGEC_HELPER void edgec_gather(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *img, int32_t in_row0, int32_t oy, int32_t ox, int32_t k4,
                               int8_t *patch)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, dil_w = p->dil_w;
    const int32_t ix0 = ox * p->stride_w - p->pad_left, row = k_w * in_c;
    const int32_t kx0 = edgec_first_tap(ix0, dil_w), kx1 = edgec_end_tap(ix0, dil_w, k_w, in_w);
    const int8_t zp = (int8_t)p->in_zp;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, dil_h = p->dil_h;
    int8_t *dst = patch;
    int32_t ky, kx, c;
    if (dil_w == 1 && iy0 >= 0 && iy0 + (k_h - 1) * dil_h < in_h && kx0 == 0 && kx1 == k_w) {
        /* a window inside the input (the interior of a first layer): k_h copies, no bounds */
        const int8_t *src = img + ((iy0 - in_row0) * in_w + ix0) * in_c;
        const int32_t step = dil_h * in_w * in_c;
        for (ky = 0; ky < k_h; ky++, src += step)
            for (c = 0; c < row; c++)
                *dst++ = src[c];
        while (dst < patch + k4)
            *dst++ = 0;
        return;
    }
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

#endif
