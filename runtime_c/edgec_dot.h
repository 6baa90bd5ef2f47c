/* int8 dot product, the inner loop of conv and fully-connected: portable C.  Each int8 x int8 product
 * is formed in `int` (exact even where int is 16 bits: |p| <= 2^14), which lets 8-bit cores use their
 * 8x8 multiplier instead of a 32-bit multiply routine, and is accumulated in int32_t.
 * Targets with a faster variant (see compiler/targets.py, kernel_variants) ship that file under this
 * name instead; every variant returns exactly the same integer.  The part that the portable, Cortex-M0
 * and AVR variants share is edgec_dot_common.h, which each includes at its end. */
#ifndef EDGEC_DOT_H
#define EDGEC_DOT_H
#include <stdint.h>
#include "edgec_target.h"
#include "edgec_fixedpoint.h"

/* Pair layout (codegen writes it for one-group convs): the weights of output channels 2j and 2j + 1
 * alternate in groups of four, a0 a1 a2 a3 b0 b1 b2 b3 a4 ..., the last group zero-padded, so that
 * one pass over the pair reads one stream.  Element i of the pair's first channel is at
 * wp[8 * (i / 4) + i % 4], of the second 4 bytes further.  Two pixels x the pair, over n inputs:
 * acc[0] += x0 . a, acc[1] += x0 . b, acc[2] += x1 . a, acc[3] += x1 . b. */
EDGEC_HELPER void edgec_dot2x2p_s8(const int8_t *x0, const int8_t *x1, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    int32_t i, j, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (i = 0; i < n; i += 4, wp += 8) {       /* a group: four inputs of each channel */
        const int32_t m = n - i < 4 ? n - i : 4;
        for (j = 0; j < m; j++) {
            const int8_t p = x0[i + j], q = x1[i + j], u = wp[j], v = wp[4 + j];
            a0 += p * u;                       /* each product in int: exact where int is 16 bits */
            a1 += p * v;
            a2 += q * u;
            a3 += q * v;
        }
    }
    acc[0] += a0;
    acc[1] += a1;
    acc[2] += a2;
    acc[3] += a3;
}

/* One pixel x a pair of channels (pair layout): acc[0] += x . a, acc[1] += x . b. */
EDGEC_HELPER void edgec_dot1x2p_s8(const int8_t *x, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    int32_t i, j, a0 = 0, a1 = 0;
    for (i = 0; i < n; i += 4, wp += 8) {
        const int32_t m = n - i < 4 ? n - i : 4;
        for (j = 0; j < m; j++) {
            const int8_t p = x[i + j];
            a0 += p * wp[j];
            a1 += p * wp[4 + j];
        }
    }
    acc[0] += a0;
    acc[1] += a1;
}

/* Quad layout (codegen writes it for fully-connected layers): output channels 4j .. 4j + 3 alternate in
 * groups of four inputs (16 bytes a group, the last zero-padded).  One input vector x four channels:
 * acc[c] += x . w_c.  Channels past the last (out_features % 4) have zero weights. */
EDGEC_HELPER void edgec_dot1x4q_s8(const int8_t *x, const EDGEC_ROM int8_t *wq, int32_t n, int32_t *acc)
{
    int32_t i, j, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (i = 0; i < n; i += 4, wq += 16) {
        const int32_t m = n - i < 4 ? n - i : 4;
        for (j = 0; j < m; j++) {
            const int8_t p = x[i + j];
            a0 += p * wq[j];
            a1 += p * wq[4 + j];
            a2 += p * wq[8 + j];
            a3 += p * wq[12 + j];
        }
    }
    acc[0] += a0;
    acc[1] += a1;
    acc[2] += a2;
    acc[3] += a3;
}

#include "edgec_wide_c.h"

/* Requantization prepared once per output channel.  Here it keeps the multiplier and shift and gives
 * edgec_requant_s8's integer; variants may precompute more.  Which layers may use it at all:
 * edgec_rq_fast (edgec_dot_common.h). */
typedef struct {
    int32_t multiplier, shift;
} edgec_rq;

EDGEC_HELPER void edgec_rq_prepare(edgec_rq *q, int32_t multiplier, int32_t shift)
{
    q->multiplier = multiplier;
    q->shift = shift;
}

/* requant(bias + acc) + out_zp, saturated to int8: edgec_requant_s8 over the whole int8 range. */
static inline int8_t edgec_rq_s8(const edgec_rq *q, uint32_t bias, int32_t acc, int32_t out_zp)
{
    return edgec_clamp_s8(edgec_mbqm((int32_t)(bias + (uint32_t)acc), q->multiplier, q->shift) + out_zp, -128, 127);
}

#include "edgec_dot_common.h"    /* columns, depthwise, edgec_rq_fast, edgec_rq_run_s8 */

#endif
