/* The wide path's portable C (passes/plan_wide.py, codegen/layouts.py): included by every edgec_dot.h
 * variant, so the wide kernel files compile for every target.  A variant with its own requantization
 * of one output defines EDGEC_WIDE_RQ_OWN and its edgec_wide_rq before including this; one with its
 * own loops defines EDGEC_WIDE_ASM and its edgec_wide_quads / edgec_wide_dot1x4 (Armv7E-M: SMLAD). */
#ifndef EDGEC_WIDE_C_H
#define EDGEC_WIDE_C_H

/* Wide layouts (codegen/layouts.py): weights pre-sign-extended, two int16s a word (the first in the low
 * half), each four of inputs as 0 2 1 3 (the columns' order), the last four zero-padded.  A FullyConnected's
 * (wide_layout): the pair layout's order, a channel pair's two channels one after the other per four
 * inputs: (a0 a2) (a1 a3) (b0 b2) (b1 b3).  A one-group conv's (wide_quad_layout): channels four by four,
 * per four inputs (a0 a2) (b0 b2) (c0 c2) (d0 d2) (a1 a3) (b1 b3) (c1 c3) (d1 d3).  Flash for speed: SMLAD
 * then takes weights as they are. */
/* One output of the wide path: the sum x (bias included) requantized with a channel's prepared record
 * r = {m, R, c, sh} (codegen/layouts.py, wide_requant; fixedpoint.wide_channels): t, the high word of
 * x * m + 2^30 - [x < 0] 2^31, then (t + R) >> sh, plus the zero point where the record does not fold
 * it into R (`zp_apart`: then c is the zero point), saturated to int8.  With r = -shift, R = 2^(r-2)
 * (+ zp * 2^(r-1) where folded) and sh = r - 1 this is the reference's two roundings
 * floor((x * m + 2^30 + 2^(30 + r) - [x < 0] 2^31) / 2^(31 + r)) (edgec_rq_prepare's form); codegen
 * keeps t + R inside int32.  Folded records carry c = 2^30 + R * 2^31 (mod 2^32) for the DSP variant. */
#ifndef EDGEC_WIDE_RQ_OWN
EDGEC_HELPER int8_t edgec_wide_rq(const EDGEC_ROM int32_t *r, int32_t x, int32_t zp_apart)
{
    const int64_t n = (int64_t)x * r[0] + (x < 0 ? -(INT64_C(1) << 30) : (INT64_C(1) << 30));
    const int32_t v = (((int32_t)(n >> 32) + r[1]) >> r[3]) + (zp_apart ? r[2] : 0);
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}
#endif

/* The weights of a wide-layout word as the int8 values codegen widened (its bytes 0 and 2: the low byte of
 * each int16), and a columns entry (a sign-extended input or the zero point) as its int8: the portable
 * loops multiply int8 by int8 in `int`, as edgec_dot2x2p_s8 does (8-bit cores use their 8x8 multiplier),
 * and give the DSP loops' integers for every layout codegen writes (a model image's weights of other
 * values give other integers, never undefined behaviour). */
static inline int8_t edgec_w16lo(int32_t v)
{
    return (int8_t)(uint8_t)((uint32_t)v & 0xFFu);
}

static inline int8_t edgec_w16hi(int32_t v)
{
    return (int8_t)(uint8_t)(((uint32_t)v >> 16) & 0xFFu);
}

/* Two pixels (columns slots 0 and 1, `groups` fours of inputs) x every one of `quads` channel quads
 * in the quad layout (codegen/layouts.py, wide_quad_layout).  `rq`: per quad 24 words (the biases
 * b0 b1 b0 b1 b2 b3 b2 b3 that start pixel 0's and pixel 1's sums of channels 0 and 1, then of 2 and 3;
 * then each channel's record, `apart` saying whether the zero point is apart from R: edgec_wide_rq, but
 * with the zero point apart in the shift word's bits 8 and up, c as where it is folded); the
 * outputs of pixel 0 at y[0..3] and of pixel 1 `stride` bytes after them.  `cols` has room for six words
 * after the columns (the DSP variant's sentinel). */
EDGEC_HELPER void edgec_wide_quads_c(int16_t *cols, int32_t groups, const EDGEC_ROM int32_t *w, const EDGEC_ROM int32_t *rq,
                                     int32_t quads, int8_t *y, int32_t stride, int32_t apart)
{
    int32_t j, g, s, c;
    for (j = 0; j < quads; j++, rq += 24, y += 4) {
        uint32_t acc[8];                            /* pixel s, channel c at 4 * (c / 2) + 2 * s + c % 2; wraps as the reference */
        for (c = 0; c < 8; c++)
            acc[c] = (uint32_t)rq[c];
        for (g = 0; g < groups; g++, w += 8, cols += 8) {
            for (s = 0; s < 2; s++) {
                /* pixel s's inputs 0 2 1 3 of the four times (w0, w2), (w1, w3) of each channel */
                const int8_t i0 = (int8_t)cols[4 * s], i2 = (int8_t)cols[4 * s + 1], i1 = (int8_t)cols[4 * s + 2], i3 = (int8_t)cols[4 * s + 3];
                for (c = 0; c < 4; c++) {
                    const int32_t u = w[c], v = w[4 + c];
                    acc[4 * (c >> 1) + 2 * s + (c & 1)] += (uint32_t)(int32_t)(i0 * edgec_w16lo(u) + i2 * edgec_w16hi(u)) +
                                                           (uint32_t)(int32_t)(i1 * edgec_w16lo(v) + i3 * edgec_w16hi(v));
                }
            }
        }
        cols -= 8 * groups;
        for (c = 0; c < 4; c++) {
            /* a quad record with the zero point apart holds it in the shift word's bits 8 and up
             * (wide_quad_requant): back to edgec_wide_rq's record */
            const EDGEC_ROM int32_t *r = rq + 8 + 4 * c;
            const int32_t sh = (int32_t)((uint32_t)r[3] & 0xFFu), zp = (r[3] - sh) / 256;
            const int32_t rec[4] = {r[0], r[1], apart ? zp : r[2], sh};
            for (s = 0; s < 2; s++)
                y[s * stride + c] = edgec_wide_rq(rec, (int32_t)acc[4 * (c >> 1) + 2 * s + (c & 1)], apart);
        }
    }
}

/* One input vector (int8, `groups` whole fours: the caller stages a last 1-3 inputs as a four with
 * zeros after them, the layout zero-pads the weights' last four) x two channel pairs of the wide layout,
 * pair 0's weights at w0 and pair 1's at w1 (the same pair twice for a lone last pair):
 * acc[c] += x . w_c, channels 0 and 1 of pair 0, then pair 1's, wrapping as the reference. */
EDGEC_HELPER void edgec_wide_dot1x4_c(const int8_t *x, int32_t groups, const EDGEC_ROM int32_t *w0, const EDGEC_ROM int32_t *w1,
                                      int32_t *acc)
{
    uint32_t a[4];
    int32_t g, c;
    for (c = 0; c < 4; c++)
        a[c] = (uint32_t)acc[c];
    for (g = 0; g < groups; g++, x += 4, w0 += 4, w1 += 4) {
        const int8_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        for (c = 0; c < 4; c++) {
            const EDGEC_ROM int32_t *wc = (c < 2 ? w0 : w1) + 2 * (c & 1);      /* (w0, w2), (w1, w3) */
            const int32_t u = wc[0], v = wc[1];
            a[c] += (uint32_t)(int32_t)(x0 * edgec_w16lo(u) + x2 * edgec_w16hi(u)) + (uint32_t)(int32_t)(x1 * edgec_w16lo(v) + x3 * edgec_w16hi(v));
        }
    }
    for (c = 0; c < 4; c++)
        acc[c] = (int32_t)a[c];
}

#ifndef EDGEC_WIDE_ASM
#define edgec_wide_quads edgec_wide_quads_c
#define edgec_wide_dot1x4 edgec_wide_dot1x4_c
#endif

#endif
