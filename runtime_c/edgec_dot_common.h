/* The part of the int8 dot-product header that every variant of edgec_dot.h without loops of its own for
 * it shares (the portable edgec_dot.h, Cortex-M0's edgec_dot_armv6m.h, AVR's edgec_dot_avr.h): the columns
 * and depthwise helpers in C, the 3x3 depthwise lines left off, which layers may take the prepared
 * requantization, and a run of it.  Private to those headers: each includes it after its own loops and
 * its edgec_rq, edgec_rq_prepare and edgec_rq_s8, so that a variant holds only what differs. */
#ifndef EDGEC_DOT_COMMON_H
#define EDGEC_DOT_COMMON_H
#include <stdint.h>
#include "edgec_target.h"

/* Columns layout (edgec_conv2d_cols_s8, a scratch the memory plan gives a one-group conv): the windows of two
 * output pixels as int16, four inputs at a time, pixel 0's four then pixel 1's, each four in the order
 * x0 x2 x1 x3 (the lanes that SXTB16 makes of a pair-layout weight word).  Group g of pixel s starts at
 * cols + 8 * g + 4 * s.  Sign-extending the window once per pixel, not once per channel pair, is what
 * makes this loop nest cheaper than the ones over int8 input. */
EDGEC_HELPER void edgec_cols_put4(int16_t *dst, const int8_t *src)
{
    dst[0] = src[0];
    dst[1] = src[2];
    dst[2] = src[1];
    dst[3] = src[3];
}

/* Two pixels (columns layout) x a pair of channels (pair layout) over `groups` fours of inputs:
 * acc[2 * s + j] += x_s . w_j. */
EDGEC_HELPER void edgec_dot2x2c_s8(const int16_t *cols, const EDGEC_ROM int8_t *wp, int32_t groups, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; groups > 0; groups--, cols += 8, wp += 8) {
        int32_t j;
        for (j = 0; j < 4; j++) {               /* input i = (j & 1) * 2 + (j >> 1) of the group */
            const int32_t i = ((j & 1) << 1) | (j >> 1);
            const int8_t p = (int8_t)cols[j], q = (int8_t)cols[4 + j], u = wp[i], v = wp[4 + i];
            a0 += p * u;                        /* each product in int, as in edgec_dot2x2p_s8 */
            a1 += p * v;
            a2 += q * u;
            a3 += q * v;
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Depthwise taps of four channels (quad layout of depthwise weights: [C / 4][k_h][k_w][4], channels
 * zero-padded to a multiple of four): acc[j] += sum over the k_h x k_w window of x[j] * w[j], the tap
 * (ky, kx) at x + ky * step_y + kx * step_x.  Every tap must lie inside the input. */
EDGEC_HELPER void edgec_dw4_s8(const int8_t *x, int32_t step_x, int32_t step_y, const EDGEC_ROM int8_t *w, int32_t k_h, int32_t k_w,
                               int32_t *acc)
{
    int32_t ky, kx, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (ky = 0; ky < k_h; ky++)
        for (kx = 0; kx < k_w; kx++, w += 4) {
            const int8_t *r = x + ky * step_y + kx * step_x;
            a0 += r[0] * w[0];
            a1 += r[1] * w[1];
            a2 += r[2] * w[2];
            a3 += r[3] * w[3];
        }
    acc[0] += a0;
    acc[1] += a1;
    acc[2] += a2;
    acc[3] += a3;
}

/* The same, unrolled for 3x3 windows where a variant does so (a variant with its own defines
 * EDGEC_DW4_3X3 before including this header). */
#ifndef EDGEC_DW4_3X3
EDGEC_HELPER void edgec_dw4_3x3_s8(const int8_t *x, int32_t step_x, int32_t step_y, const EDGEC_ROM int8_t *w, int32_t *acc)
{
    edgec_dw4_s8(x, step_x, step_y, w, 3, 3, acc);
}
#endif

/* One kernel row of a depthwise window near the border, four channels: acc[j] += sum over kx < k_w
 * of v[j] * w[4 * kx + j], v the input at x + (kx - kx0) * step_x for kx0 <= kx < kx1 (x points at
 * tap kx0) and pad (the zero point, four times) for the taps over the padding. */
EDGEC_HELPER void edgec_dw4_row_s8(const int8_t *x, int32_t step_x, int32_t kx0, int32_t kx1, int32_t k_w, const int8_t *pad,
                                   const EDGEC_ROM int8_t *w, int32_t *acc)
{
    int32_t kx, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (kx = 0; kx < k_w; kx++, w += 4) {
        const int8_t *v = kx >= kx0 && kx < kx1 ? x + (kx - kx0) * step_x : pad;
        a0 += v[0] * w[0];
        a1 += v[1] * w[1];
        a2 += v[2] * w[2];
        a3 += v[3] * w[3];
    }
    acc[0] += a0;
    acc[1] += a1;
    acc[2] += a2;
    acc[3] += a3;
}

/* 3x3 depthwise over three interleaved int16 lines (edgec_dw_rows3 of edgec_depthwise_conv2d_s8.c): position j of
 * the line in slot k at x[3 * j + k].  Variants with paired 16-bit multiplies take that loop nest; here
 * edgec_dw3_lines says not to (on 8-bit cores an int16 x int16 product costs more than the int8 quad
 * loop), and the helpers below only give the integers the variants must give. */
typedef struct {
    int16_t w[9];
} edgec_dw3w;

/* int16s of a 3x3 depthwise's lines (edgec_dw_rows3) this variant takes out of `room`: none (the
 * loop nest is off). */
EDGEC_HELPER int32_t edgec_dw3_lines(int32_t room)
{
    (void)room;
    return 0;
}

/* Channel `lane` of a quad-layout 3x3 depthwise weight block (tap (ky, kx) at wq[4 * (3 * ky + kx) + lane]),
 * a along the slots and b along the run: w(a, b) = tap (a, b), or tap (b, a) if `transposed`. */
EDGEC_HELPER void edgec_dw3w_load(edgec_dw3w *w, const EDGEC_ROM int8_t *wq, int32_t transposed)
{
    int32_t a, b;
    for (a = 0; a < 3; a++)
        for (b = 0; b < 3; b++)
            w->w[3 * a + b] = wq[4 * (transposed ? 3 * b + a : 3 * a + b)];
}

/* `count` windows s positions apart from position 0 of x: acc[i] = bias + window i . w (wrapped as the
 * reference wraps), a in slot (top + a) % 3. */
EDGEC_HELPER void edgec_dw3_run_s16(const int16_t *x, int32_t s, int32_t count, const edgec_dw3w *w, int32_t top, uint32_t bias, int32_t *acc)
{
    int32_t i, a, b;
    for (i = 0; i < count; i++, x += 3 * s) {
        int32_t u = 0;
        for (a = 0; a < 3; a++)
            for (b = 0; b < 3; b++)
                u += (int32_t)x[3 * b + (top + a) % 3] * w->w[3 * a + b];
        acc[i] = (int32_t)(bias + (uint32_t)u);
    }
}

/* Whether a layer may use edgec_rq_s8 at all: its activation range is the whole int8 range and every
 * multiplier is >= 0, the range the small cores' requantization covers without a 64-bit multiply
 * (quantize writes them in [0, 2^31); the portable edgec_rq_s8 covers any, but asks the same so that
 * every variant takes the same path). */
EDGEC_HELPER int32_t edgec_rq_fast(const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int32_t n, int32_t act_min,
                                   int32_t act_max)
{
    int32_t i;
    (void)shift;
    for (i = 0; i < n; i++)
        if (multiplier[i] < 0)
            return 0;
    return act_min == -128 && act_max == 127;
}

/* `count` sums (bias included) requantized as edgec_rq_s8 and stored `step` bytes apart. */
EDGEC_HELPER void edgec_rq_run_s8(const int32_t *acc, int32_t count, int8_t *y, int32_t step, const edgec_rq *q, int32_t out_zp)
{
    for (; count > 0; count--, acc++, y += step)
        *y = edgec_rq_s8(q, 0, *acc, out_zp);
}

#endif
