/* int8 dot product for Armv6-M (Cortex-M0/M0+/M1), shipped as edgec_dot.h on cortex-m0 (see
 * compiler/targets.py, kernel_variants); every function returns exactly the integers of the portable
 * edgec_dot.h.
 *
 * Thumb-1 has LDRSB only with a register offset, and 8 low registers for loads and MULS.  The pair and
 * quad dot products are short inline-asm loops built around that: one index register walks the inputs
 * and the weights together (a pair layout group of four inputs sits at wp + 8g, input 4g + j at
 * wp + 4g + (4g + j), so a base advanced by 4 a group and the same index reach it), every input and
 * weight is one LDRSB, every MAC one MULS and one ADD into a sum kept in a high register.  2x2 pair:
 * 68 instructions per 16 MACs (4.25), 1x2 pair 4.5, 1x4 quad 3.9; gcc's code for the portable loop
 * took 6.3 before its loop overhead.  The requantization's 64-bit multiply is four 32-bit MULS
 * (edgec_srdhm_m0) instead of libgcc's __aeabi_lmul. */
#ifndef EDGEC_DOT_H
#define EDGEC_DOT_H
#include <stdint.h>
#include "edgec_target.h"
#include "edgec_fixedpoint.h"

/* The dot products are inlined into every loop nest: out of line, their callers' int32_t acc[4] = {0}
 * lives in memory and gcc zeroes it with a call to memset (about 160 instructions on Armv6-M). */
#if defined(__GNUC__)
#define EDGEC_M0_LOOP static inline __attribute__((always_inline))
#else
#define EDGEC_M0_LOOP static inline
#endif

/* Pair layout (codegen writes it for one-group convs): the weights of output channels 2j and 2j + 1
 * alternate in groups of four, a0 a1 a2 a3 b0 b1 b2 b3 a4 ..., the last group zero-padded.  Two pixels
 * x the pair: acc[0] += x0 . a, acc[1] += x0 . b, acc[2] += x1 . a, acc[3] += x1 . b.  Each group runs
 * channel a over both pixels, then channel b (the inputs read twice: there are no registers to keep
 * them); the inputs of a last partial group are read only up to n. */
#define EDGEC_M0_TAP2(x0, x1, w, i, p, q, u, s0, s1)                                                          \
    "ldrsb " p ", [" x0 ", " i "]\n\tldrsb " q ", [" x1 ", " i "]\n\tldrsb " u ", [" w ", " i "]\n\t"          \
    "muls " p ", " u "\n\tmuls " q ", " u "\n\tadd " s0 ", " p "\n\tadd " s1 ", " q "\n\tadds " i ", #1\n\t"
EDGEC_M0_LOOP void edgec_dot2x2p_s8(const int8_t *x0, const int8_t *x1, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i = 0, j, p, q, u;
    const int32_t end = n & ~3;
    const EDGEC_ROM int8_t *w = wp;
    if (end > 0)
        __asm__ volatile(
            ".syntax unified\n"                 /* gcc passes Thumb-1 inline asm in divided syntax */
            "1:\n\t"
            EDGEC_M0_TAP2("%[x0]", "%[x1]", "%[w]", "%[i]", "%[p]", "%[q]", "%[u]", "%[a0]", "%[a2]")
            EDGEC_M0_TAP2("%[x0]", "%[x1]", "%[w]", "%[i]", "%[p]", "%[q]", "%[u]", "%[a0]", "%[a2]")
            EDGEC_M0_TAP2("%[x0]", "%[x1]", "%[w]", "%[i]", "%[p]", "%[q]", "%[u]", "%[a0]", "%[a2]")
            EDGEC_M0_TAP2("%[x0]", "%[x1]", "%[w]", "%[i]", "%[p]", "%[q]", "%[u]", "%[a0]", "%[a2]")
            "subs %[i], #4\n\tadds %[w], #4\n\t"
            EDGEC_M0_TAP2("%[x0]", "%[x1]", "%[w]", "%[i]", "%[p]", "%[q]", "%[u]", "%[a1]", "%[a3]")
            EDGEC_M0_TAP2("%[x0]", "%[x1]", "%[w]", "%[i]", "%[p]", "%[q]", "%[u]", "%[a1]", "%[a3]")
            EDGEC_M0_TAP2("%[x0]", "%[x1]", "%[w]", "%[i]", "%[p]", "%[q]", "%[u]", "%[a1]", "%[a3]")
            EDGEC_M0_TAP2("%[x0]", "%[x1]", "%[w]", "%[i]", "%[p]", "%[q]", "%[u]", "%[a1]", "%[a3]")
            "cmp %[i], %[end]\n\tblt 1b\n\t.syntax divided\n\t"
            : [a0] "+h"(a0), [a1] "+h"(a1), [a2] "+h"(a2), [a3] "+h"(a3), [i] "+l"(i), [w] "+l"(w), [p] "=&l"(p), [q] "=&l"(q),
              [u] "=&l"(u)
            : [x0] "l"(x0), [x1] "l"(x1), [end] "h"(end)
            : "cc", "memory");
    wp += 2 * end;
    for (j = 0; j < (n & 3); j++) {
        const int32_t pj = x0[end + j], qj = x1[end + j], uj = wp[j], vj = wp[4 + j];
        a0 += pj * uj;
        a1 += pj * vj;
        a2 += qj * uj;
        a3 += qj * vj;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One pixel x a pair of channels (pair layout): acc[0] += x . a, acc[1] += x . b.  Bases wa and wb
 * = wa + 4 each advance by 4 a group. */
#define EDGEC_M0_TAP1(x, wa, wb, i, p, u, v)                                                                   \
    "ldrsb " p ", [" x ", " i "]\n\tldrsb " u ", [" wa ", " i "]\n\tldrsb " v ", [" wb ", " i "]\n\t"            \
    "muls " u ", " p "\n\tmuls " v ", " p "\n\tadd %[a0], " u "\n\tadd %[a1], " v "\n\tadds " i ", #1\n\t"
EDGEC_M0_LOOP void edgec_dot1x2p_s8(const int8_t *x, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], i = 0, j, p, u, v;
    const int32_t end = n & ~3;
    const EDGEC_ROM int8_t *wa = wp, *wb = wp + 4;
    if (end > 0)
        __asm__ volatile(
            ".syntax unified\n"                 /* gcc passes Thumb-1 inline asm in divided syntax */
            "1:\n\t"
            EDGEC_M0_TAP1("%[x]", "%[wa]", "%[wb]", "%[i]", "%[p]", "%[u]", "%[v]")
            EDGEC_M0_TAP1("%[x]", "%[wa]", "%[wb]", "%[i]", "%[p]", "%[u]", "%[v]")
            EDGEC_M0_TAP1("%[x]", "%[wa]", "%[wb]", "%[i]", "%[p]", "%[u]", "%[v]")
            EDGEC_M0_TAP1("%[x]", "%[wa]", "%[wb]", "%[i]", "%[p]", "%[u]", "%[v]")
            "adds %[wa], #4\n\tadds %[wb], #4\n\tcmp %[i], %[end]\n\tblt 1b\n\t.syntax divided\n\t"
            : [a0] "+h"(a0), [a1] "+h"(a1), [i] "+l"(i), [wa] "+l"(wa), [wb] "+l"(wb), [p] "=&l"(p), [u] "=&l"(u), [v] "=&l"(v)
            : [x] "l"(x), [end] "h"(end)
            : "cc", "memory");
    wp += 2 * end;
    for (j = 0; j < (n & 3); j++) {
        const int32_t pj = x[end + j];
        a0 += pj * wp[j];
        a1 += pj * wp[4 + j];
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* Quad layout (codegen writes it for fully-connected layers): output channels 4j .. 4j + 3 alternate in
 * groups of four inputs (16 bytes a group, the last zero-padded).  One input vector x four channels:
 * acc[c] += x . w_c.  Channel c's input 4g + j at wq + 12g + 4c + (4g + j): four bases, each advanced
 * by 12 a group, and the input's index. */
#define EDGEC_M0_TAP4(x, w0, w1, w2, w3, i, p, u)                                                              \
    "ldrsb " p ", [" x ", " i "]\n\t"                                                                            \
    "ldrsb " u ", [" w0 ", " i "]\n\tmuls " u ", " p "\n\tadd %[a0], " u "\n\t"                                 \
    "ldrsb " u ", [" w1 ", " i "]\n\tmuls " u ", " p "\n\tadd %[a1], " u "\n\t"                                 \
    "ldrsb " u ", [" w2 ", " i "]\n\tmuls " u ", " p "\n\tadd %[a2], " u "\n\t"                                 \
    "ldrsb " u ", [" w3 ", " i "]\n\tmuls " u ", " p "\n\tadd %[a3], " u "\n\tadds " i ", #1\n\t"
EDGEC_M0_LOOP void edgec_dot1x4q_s8(const int8_t *x, const EDGEC_ROM int8_t *wq, int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i = 0, j, p, u;
    const int32_t end = n & ~3;
    const EDGEC_ROM int8_t *w0 = wq, *w1 = wq + 4, *w2 = wq + 8, *w3 = wq + 12;
    if (end > 0)
        __asm__ volatile(
            ".syntax unified\n"                 /* gcc passes Thumb-1 inline asm in divided syntax */
            "1:\n\t"
            EDGEC_M0_TAP4("%[x]", "%[w0]", "%[w1]", "%[w2]", "%[w3]", "%[i]", "%[p]", "%[u]")
            EDGEC_M0_TAP4("%[x]", "%[w0]", "%[w1]", "%[w2]", "%[w3]", "%[i]", "%[p]", "%[u]")
            EDGEC_M0_TAP4("%[x]", "%[w0]", "%[w1]", "%[w2]", "%[w3]", "%[i]", "%[p]", "%[u]")
            EDGEC_M0_TAP4("%[x]", "%[w0]", "%[w1]", "%[w2]", "%[w3]", "%[i]", "%[p]", "%[u]")
            "adds %[w0], #12\n\tadds %[w1], #12\n\tadds %[w2], #12\n\tadds %[w3], #12\n\tcmp %[i], %[end]\n\tblt 1b\n\t.syntax divided\n\t"
            : [a0] "+h"(a0), [a1] "+h"(a1), [a2] "+h"(a2), [a3] "+h"(a3), [i] "+l"(i), [w0] "+l"(w0), [w1] "+l"(w1), [w2] "+l"(w2),
              [w3] "+l"(w3), [p] "=&l"(p), [u] "=&l"(u)
            : [x] "l"(x), [end] "h"(end)
            : "cc", "memory");
    wq += 4 * end;
    for (j = 0; j < (n & 3); j++) {
        const int32_t pj = x[end + j];
        a0 += pj * wq[j];
        a1 += pj * wq[4 + j];
        a2 += pj * wq[8 + j];
        a3 += pj * wq[12 + j];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Depthwise 3x3 taps of four channels (quad layout, edgec_dw4_s8's integers): one index i walks the
 * 36 weight bytes, so tap t's channel j is w + i with i = 4t + j, and the input base xb is kept at
 * x + off(t) - 4t, so that the same index reaches the input byte x + off(t) + j: per MAC one LDRSB of
 * input, one of weight, MULS, ADD into a sum in a high register and the index's ADDS; per tap one ADD
 * of xb (step_x - 4 along a kernel row, step_y - 2 step_x - 4 to the next).  5.2 instructions per MAC,
 * fully unrolled (gcc's code for the C loop took about 14). */
#define EDGEC_M0_DWJ(a)                                                                                           \
    "ldrsb %[p], [%[xb], %[i]]\n\tldrsb %[u], [%[w], %[i]]\n\tmuls %[u], %[p]\n\tadd " a ", %[u]\n\tadds %[i], #1\n\t"
#define EDGEC_M0_DWTAP EDGEC_M0_DWJ("%[a0]") EDGEC_M0_DWJ("%[a1]") EDGEC_M0_DWJ("%[a2]") EDGEC_M0_DWJ("%[a3]")
#define EDGEC_M0_DWROW EDGEC_M0_DWTAP "add %[xb], %[d1]\n\t" EDGEC_M0_DWTAP "add %[xb], %[d1]\n\t" EDGEC_M0_DWTAP
#define EDGEC_DW4_3X3 1
EDGEC_M0_LOOP void edgec_dw4_3x3_s8(const int8_t *x, int32_t step_x, int32_t step_y, const EDGEC_ROM int8_t *w, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i = 0, p, u;
    const int8_t *xb = x;
    const int32_t d1 = step_x - 4, d2 = step_y - 2 * step_x - 4;
    __asm__ volatile(
        ".syntax unified\n\t"             /* gcc passes Thumb-1 inline asm in divided syntax */
        EDGEC_M0_DWROW "add %[xb], %[d2]\n\t" EDGEC_M0_DWROW "add %[xb], %[d2]\n\t" EDGEC_M0_DWROW
        ".syntax divided\n\t"
        : [a0] "+h"(a0), [a1] "+h"(a1), [a2] "+h"(a2), [a3] "+h"(a3), [i] "+l"(i), [xb] "+l"(xb), [p] "=&l"(p), [u] "=&l"(u)
        : [w] "l"(w), [d1] "r"(d1), [d2] "r"(d2)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Requantization prepared once per output channel: the multiplier's 16-bit halves, the left shift
 * before the doubling high multiply, and the rounding right shift r after it as r - 1 (-1 for none).
 * edgec_rq_s8 gives edgec_requant_s8's integer over the whole int8 range; edgec_rq_fast also asks every
 * multiplier of the layer to be >= 0 (the range edgec_srdhm_m0 covers; quantize writes them in [0, 2^31)). */
typedef struct {
    int32_t m_lo, m_hi, left, r1;
} edgec_rq;

EDGEC_HELPER void edgec_rq_prepare(edgec_rq *q, int32_t multiplier, int32_t shift)
{
    q->m_lo = multiplier & 0xFFFF;
    q->m_hi = multiplier >> 16;
    q->left = shift > 0 ? shift : 0;
    q->r1 = shift > 0 ? -1 : -shift - 1;
}

/* edgec_srdhm(x, m) for m >= 0 without a 64-bit multiply: with x = xh * 2^16 + xl and m = mh * 2^16 + ml
 * (xl, ml unsigned), xl * m = a * 2^16 + (ll & 0xFFFF) with a = (ll >> 16) + lh (below 2^31), so
 * x * m = (hh * 2^16 + hl + a) * 2^16 + (ll & 0xFFFF) and, 2^30 being a multiple of 2^16,
 * (x * m + 2^30) >> 31 = 2 hh + (hl >> 15) + ((hl & 0x7FFF) + a + 2^14) >> 15 (the last sum unsigned,
 * below 2^32): four MULS, every term inside 32 bits, summed modulo 2^32 (the result fits in int32). */
static inline int32_t edgec_srdhm_m0(int32_t x, const edgec_rq *q)
{
    const uint32_t xl = (uint16_t)x;
    const int32_t xh = x >> 16;
    const uint32_t ll = xl * (uint32_t)q->m_lo, a = (ll >> 16) + xl * (uint32_t)q->m_hi;
    const int32_t hl = xh * q->m_lo, hh = xh * q->m_hi;
    return (int32_t)(((uint32_t)hh << 1) + (uint32_t)(hl >> 15) + (((uint32_t)(hl & 0x7FFF) + a + 0x4000u) >> 15));
}

/* requant(bias + acc) + out_zp, saturated to int8: edgec_requant_s8 over the whole int8 range.
 * edgec_rdbp(v, r) for r >= 1 is floor((u + 2^(r-1)) / 2^r) with u = v - [v < 0] (its threshold), which
 * is (w + 1) >> 1 with w = u >> (r - 1); v <= 2^31 - 2 (|x|, m <= 2^31), so w + 1 does not wrap. */
static inline int8_t edgec_rq_s8(const edgec_rq *q, uint32_t bias, int32_t acc, int32_t out_zp)
{
    int32_t v = edgec_srdhm_m0((int32_t)((bias + (uint32_t)acc) << q->left), q);
    if (q->r1 >= 0)
        v = (((v + (v >> 31)) >> q->r1) + 1) >> 1;
    return edgec_clamp_s8(v + out_zp, -128, 127);
}

#include "edgec_dot_common.h"    /* columns, depthwise, edgec_rq_fast, edgec_rq_run_s8 */
#include "edgec_wide_c.h"     /* the wide path in portable C (edgec_wide_c.h) */

#endif
