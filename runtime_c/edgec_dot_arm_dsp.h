/* int8 dot products and requantization for Armv7E-M (Cortex-M4/M7) with the DSP extension: four int8
 * pairs per step, sign-extended two at a time (SXTB16) and multiply-accumulated two at a time (SMLAD),
 * the requantization as two SMLALs and a shift.  Shipped as edgec_dot.h for targets whose
 * kernel_variants name it; every function gives exactly the integer of the portable edgec_dot.h. */
#ifndef EDGEC_DOT_H
#define EDGEC_DOT_H
#include <stdint.h>
#include "edgec_target.h"
#include "edgec_fixedpoint.h"
#include <arm_acle.h>

/* SXTB16 of the word rotated right by 8 (bytes 1 and 3).  gcc does not fold a C rotation into
 * SXTB16's own, so it is spelled out; words are held in the ACLE's own types (int8x4_t in,
 * int16x2_t out of SXTB16), so -Wconversion has nothing to say. */
static inline int16x2_t edgec_sxtb16_ror8(int8x4_t v)
{
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline int8x4_t edgec_ld4(const int8_t *x)        /* one (unaligned) word load: fine on v7E-M */
{
    int8x4_t v;
    __builtin_memcpy(&v, x, 4);
    return v;
}

static inline int8x4_t edgec_ld4w(const EDGEC_ROM int8_t *w)
{
    int8x4_t v;
    __builtin_memcpy(&v, w, 4);
    return v;
}

/* Pair layout (see the portable edgec_dot.h): two pixels x a pair of channels.  Per four inputs: three
 * word loads, six SXTB16 and a fourth load feed eight SMLADs (16 MACs) in 22 instructions.  The loop
 * needs 14 registers, which gcc's allocator finds when optimizing and not keeping a frame pointer;
 * unoptimized builds take the same loop in C (it spills, the integers are the same). */
static inline void edgec_dot2x2p_s8(const int8_t *x0, const int8_t *x1, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], k = n & ~3, i;
    if (k > 0) {
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
        int32_t p, p13, q, q13, u, u13;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[p], [%[x0]], #4\n\t"
            "ldr %[q], [%[x1]], #4\n\t"
            "ldr %[u], [%[w]], #8\n\t"
            "sxtb16 %[p13], %[p], ror #8\n\t"
            "sxtb16 %[p], %[p]\n\t"
            "sxtb16 %[q13], %[q], ror #8\n\t"
            "sxtb16 %[q], %[q]\n\t"
            "sxtb16 %[u13], %[u], ror #8\n\t"
            "sxtb16 %[u], %[u]\n\t"
            "smlad %[a0], %[p], %[u], %[a0]\n\t"
            "smlad %[a0], %[p13], %[u13], %[a0]\n\t"
            "smlad %[a2], %[q], %[u], %[a2]\n\t"
            "smlad %[a2], %[q13], %[u13], %[a2]\n\t"
            "ldr %[u], [%[w], #-4]\n\t"
            "sxtb16 %[u13], %[u], ror #8\n\t"
            "sxtb16 %[u], %[u]\n\t"
            "smlad %[a1], %[p], %[u], %[a1]\n\t"
            "smlad %[a1], %[p13], %[u13], %[a1]\n\t"
            "smlad %[a3], %[q], %[u], %[a3]\n\t"
            "smlad %[a3], %[q13], %[u13], %[a3]\n\t"
            "subs %[k], %[k], #4\n\t"
            "bne 1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x0] "+r"(x0), [x1] "+r"(x1), [w] "+r"(wp), [k] "+r"(k),
              [p] "=&r"(p), [p13] "=&r"(p13), [q] "=&r"(q), [q13] "=&r"(q13), [u] "=&r"(u), [u13] "=&r"(u13)
            :
            : "cc", "memory");
#else
        for (; k > 0; k -= 4, x0 += 4, x1 += 4, wp += 8) {
            const int8x4_t p = edgec_ld4(x0), q = edgec_ld4(x1), u = edgec_ld4w(wp), v = edgec_ld4w(wp + 4);
            const int16x2_t p02 = __sxtb16(p), p13 = edgec_sxtb16_ror8(p), q02 = __sxtb16(q), q13 = edgec_sxtb16_ror8(q);
            const int16x2_t u02 = __sxtb16(u), u13 = edgec_sxtb16_ror8(u), v02 = __sxtb16(v), v13 = edgec_sxtb16_ror8(v);
            a0 = __smlad(p02, u02, a0); a0 = __smlad(p13, u13, a0);
            a1 = __smlad(p02, v02, a1); a1 = __smlad(p13, v13, a1);
            a2 = __smlad(q02, u02, a2); a2 = __smlad(q13, u13, a2);
            a3 = __smlad(q02, v02, a3); a3 = __smlad(q13, v13, a3);
        }
#endif
    }
    for (i = 0; i < (n & 3); i++) {                /* the last 1-3 inputs, in the zero-padded last group */
        const int32_t pp = x0[i], qq = x1[i], uu = wp[i], vv = wp[4 + i];
        a0 += pp * uu;
        a1 += pp * vv;
        a2 += qq * uu;
        a3 += qq * vv;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Columns layout (see the portable edgec_dot.h): one word load and two SXTB16 put four inputs in place. */
static inline void edgec_cols_put4(int16_t *dst, const int8_t *src)
{
    const int8x4_t v = edgec_ld4(src);
    const int16x2_t lo = __sxtb16(v), hi = edgec_sxtb16_ror8(v);
    __builtin_memcpy(dst, &lo, 4);
    __builtin_memcpy(dst + 2, &hi, 4);
}

/* Two pixels (columns layout, already sign-extended) x a pair of channels: per four inputs, two weight
 * words and four input words in six loads that pipeline back to back, four SXTB16 and eight SMLADs (16
 * MACs) in 20 instructions and 24 cycles.  13 registers: the second pixel's words reuse the first's. */
static inline void edgec_dot2x2c_s8(const int16_t *cols, const EDGEC_ROM int8_t *wp, int32_t groups, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    if (groups > 0) {
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
        int32_t p, p13, u, u13, v, v13;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[u], [%[w]], #8\n\t"
            "ldr %[v], [%[w], #-4]\n\t"
            "ldr %[p], [%[x]], #16\n\t"
            "ldr %[p13], [%[x], #-12]\n\t"
            "sxtb16 %[u13], %[u], ror #8\n\t"
            "sxtb16 %[u], %[u]\n\t"
            "sxtb16 %[v13], %[v], ror #8\n\t"
            "sxtb16 %[v], %[v]\n\t"
            "smlad %[a0], %[p], %[u], %[a0]\n\t"
            "smlad %[a0], %[p13], %[u13], %[a0]\n\t"
            "smlad %[a1], %[p], %[v], %[a1]\n\t"
            "smlad %[a1], %[p13], %[v13], %[a1]\n\t"
            "ldr %[p], [%[x], #-8]\n\t"
            "ldr %[p13], [%[x], #-4]\n\t"
            "smlad %[a2], %[p], %[u], %[a2]\n\t"
            "smlad %[a2], %[p13], %[u13], %[a2]\n\t"
            "smlad %[a3], %[p], %[v], %[a3]\n\t"
            "smlad %[a3], %[p13], %[v13], %[a3]\n\t"
            "subs %[k], %[k], #1\n\t"
            "bne 1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(cols), [w] "+r"(wp), [k] "+r"(groups),
              [p] "=&r"(p), [p13] "=&r"(p13), [u] "=&r"(u), [u13] "=&r"(u13), [v] "=&r"(v), [v13] "=&r"(v13)
            :
            : "cc", "memory");
#else
        for (; groups > 0; groups--, cols += 8, wp += 8) {
            int16x2_t p, p13, q, q13;
            const int8x4_t u = edgec_ld4w(wp), v = edgec_ld4w(wp + 4);
            const int16x2_t u02 = __sxtb16(u), u13 = edgec_sxtb16_ror8(u), v02 = __sxtb16(v), v13 = edgec_sxtb16_ror8(v);
            __builtin_memcpy(&p, cols, 4);
            __builtin_memcpy(&p13, cols + 2, 4);
            __builtin_memcpy(&q, cols + 4, 4);
            __builtin_memcpy(&q13, cols + 6, 4);
            a0 = __smlad(p, u02, a0); a0 = __smlad(p13, u13, a0);
            a1 = __smlad(p, v02, a1); a1 = __smlad(p13, v13, a1);
            a2 = __smlad(q, u02, a2); a2 = __smlad(q13, u13, a2);
            a3 = __smlad(q, v02, a3); a3 = __smlad(q13, v13, a3);
        }
#endif
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One pixel x a pair of channels (pair layout): two loads of the pair's weights per input word. */
static inline void edgec_dot1x2p_s8(const int8_t *x, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], k, i;
    for (k = n >> 2; k > 0; k--, x += 4, wp += 8) {
        const int8x4_t p = edgec_ld4(x), u = edgec_ld4w(wp), v = edgec_ld4w(wp + 4);
        const int16x2_t p02 = __sxtb16(p), p13 = edgec_sxtb16_ror8(p);
        a0 = __smlad(p02, __sxtb16(u), a0); a0 = __smlad(p13, edgec_sxtb16_ror8(u), a0);
        a1 = __smlad(p02, __sxtb16(v), a1); a1 = __smlad(p13, edgec_sxtb16_ror8(v), a1);
    }
    for (i = 0; i < (n & 3); i++) {
        const int32_t pp = x[i];
        a0 += pp * wp[i];
        a1 += pp * wp[4 + i];
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* One input vector x four channels (quad layout): one input word expanded once feeds 8 SMLADs. */
static inline void edgec_dot1x4q_s8(const int8_t *x, const EDGEC_ROM int8_t *wq, int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], k, i;
    for (k = n >> 2; k > 0; k--, x += 4, wq += 16) {
        const int8x4_t p = edgec_ld4(x);
        const int16x2_t p02 = __sxtb16(p), p13 = edgec_sxtb16_ror8(p);
        int8x4_t w = edgec_ld4w(wq);
        a0 = __smlad(p02, __sxtb16(w), a0); a0 = __smlad(p13, edgec_sxtb16_ror8(w), a0);
        w = edgec_ld4w(wq + 4);
        a1 = __smlad(p02, __sxtb16(w), a1); a1 = __smlad(p13, edgec_sxtb16_ror8(w), a1);
        w = edgec_ld4w(wq + 8);
        a2 = __smlad(p02, __sxtb16(w), a2); a2 = __smlad(p13, edgec_sxtb16_ror8(w), a2);
        w = edgec_ld4w(wq + 12);
        a3 = __smlad(p02, __sxtb16(w), a3); a3 = __smlad(p13, edgec_sxtb16_ror8(w), a3);
    }
    for (i = 0; i < (n & 3); i++) {
        const int32_t pp = x[i];
        a0 += pp * wq[i];
        a1 += pp * wq[4 + i];
        a2 += pp * wq[8 + i];
        a3 += pp * wq[12 + i];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One tap of four channels into two pairs of accumulators. */
#define EDGEC_DW_TAP(xp, wp)                                                                            \
    do {                                                                                                \
        const int8x4_t xv_ = edgec_ld4(xp), wv_ = edgec_ld4w(wp);                                       \
        const int16x2_t x02_ = __sxtb16(xv_), x13_ = edgec_sxtb16_ror8(xv_);                            \
        const int16x2_t w02_ = __sxtb16(wv_), w13_ = edgec_sxtb16_ror8(wv_);                            \
        a0 = __smlabb(x02_, w02_, a0);                                                                  \
        a2 = __smlatt(x02_, w02_, a2);                                                                  \
        a1 = __smlabb(x13_, w13_, a1);                                                                  \
        a3 = __smlatt(x13_, w13_, a3);                                                                  \
    } while (0)

/* One depthwise tap as one asm statement, so that gcc cannot interleave taps (which spills): the
 * input word at xb + xo (or xb), the weight word at wp + off; it reads only the input and the weights,
 * which nothing writes while a kernel runs. */
#define EDGEC_DW_TAP_BODY                                                                               \
    "ldr %[t1], [%[w], %[f]]\n\t"                                                                       \
    "sxtb16 %[t2], %[t0], ror #8\n\t"                                                                   \
    "sxtb16 %[t0], %[t0]\n\t"                                                                           \
    "sxtb16 %[t3], %[t1], ror #8\n\t"                                                                   \
    "sxtb16 %[t1], %[t1]\n\t"                                                                           \
    "smlabb %[a0], %[t0], %[t1], %[a0]\n\t"                                                             \
    "smlatt %[a2], %[t0], %[t1], %[a2]\n\t"                                                             \
    "smlabb %[a1], %[t2], %[t3], %[a1]\n\t"                                                             \
    "smlatt %[a3], %[t2], %[t3], %[a3]\n\t"
#define EDGEC_DW_TAP_OUT                                                                                \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)
#define EDGEC_DW_TAP_RO(xb, xo, wp, off)                                                                \
    __asm__("ldr %[t0], [%[b], %[o]]\n\t" EDGEC_DW_TAP_BODY : EDGEC_DW_TAP_OUT : [b] "r"(xb), [o] "r"(xo), [w] "r"(wp), [f] "I"(off))
#define EDGEC_DW_TAP_R(xb, wp, off)                                                                     \
    __asm__("ldr %[t0], [%[b]]\n\t" EDGEC_DW_TAP_BODY : EDGEC_DW_TAP_OUT : [b] "r"(xb), [w] "r"(wp), [f] "I"(off))

/* Depthwise taps of four channels (quad layout of depthwise weights): per tap one input word and one
 * weight word, each split into channels 0/2 and 1/3, feed four 16x16 multiply-accumulates. */
static inline void edgec_dw4_s8(const int8_t *x, int32_t step_x, int32_t step_y, const EDGEC_ROM int8_t *w, int32_t k_h, int32_t k_w,
                                int32_t *acc)
{
    int32_t ky, kx, a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], t0, t1, t2, t3;
    for (ky = 0; ky < k_h; ky++)
        for (kx = 0; kx < k_w; kx++, w += 4)
            EDGEC_DW_TAP_R(x + ky * step_y + kx * step_x, w, 0);
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* 3x3 windows, unrolled: three row pointers, two column offsets, the nine weight words at fixed
 * offsets: 9 x 10 instructions for 36 MACs. */
static inline void edgec_dw4_3x3_s8(const int8_t *x, int32_t step_x, int32_t step_y, const EDGEC_ROM int8_t *w, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], t0, t1, t2, t3;
    const int8_t *r1 = x + step_y, *r2 = r1 + step_y;
    const int32_t s2 = 2 * step_x;
    EDGEC_DW_TAP_R(x, w, 0);
    EDGEC_DW_TAP_RO(x, step_x, w, 4);
    EDGEC_DW_TAP_RO(x, s2, w, 8);
    EDGEC_DW_TAP_R(r1, w, 12);
    EDGEC_DW_TAP_RO(r1, step_x, w, 16);
    EDGEC_DW_TAP_RO(r1, s2, w, 20);
    EDGEC_DW_TAP_R(r2, w, 24);
    EDGEC_DW_TAP_RO(r2, step_x, w, 28);
    EDGEC_DW_TAP_RO(r2, s2, w, 32);
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static inline void edgec_dw4_row_s8(const int8_t *x, int32_t step_x, int32_t kx0, int32_t kx1, int32_t k_w, const int8_t *pad,
                                    const EDGEC_ROM int8_t *w, int32_t *acc)
{
    int32_t kx, a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (kx = 0; kx < k_w; kx++, w += 4)
        EDGEC_DW_TAP(kx >= kx0 && kx < kx1 ? x + (kx - kx0) * step_x : pad, w);
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* 3x3 depthwise over three interleaved int16 lines (edgec_dw_rows3 of edgec_depthwise_conv2d_s8.c): position j of
 * the line in slot k at x[3 * j + k], so a window's taps are at fixed offsets from one pointer and slots
 * 0 and 1 of a position are one word.  Per window: three SMLADs over those words, three SMLABB/SMLABT
 * for slot 2; this variant takes that loop nest (edgec_dw3_lines). */
typedef struct {
    int32_t p[3][5];            /* per slot rotation `top`: the slot 0/1 pairs of taps 0, 1, 2; slot 2's taps 0/1; its tap 2 */
} edgec_dw3w;

/* int16s of a 3x3 depthwise's lines (edgec_dw_rows3) this variant takes out of `room`: all of them (its
 * paired 16-bit multiplies pay). */
EDGEC_HELPER int32_t edgec_dw3_lines(int32_t room)
{
    return room;
}

static inline int32_t edgec_pk16(int32_t lo, int32_t hi)
{
    return (int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16);
}

/* Channel `lane` of a quad-layout 3x3 depthwise weight block (tap (ky, kx) at wq[4 * (3 * ky + kx) + lane]),
 * a along the slots and b along the run: w(a, b) = tap (a, b), or tap (b, a) if `transposed`; packed
 * for each of the three slot rotations (a in slot (top + a) % 3). */
EDGEC_HELPER void edgec_dw3w_load(edgec_dw3w *w, const EDGEC_ROM int8_t *wq, int32_t transposed)
{
    int16_t t[9];
    int32_t a, b, top;
    for (a = 0; a < 3; a++)
        for (b = 0; b < 3; b++)
            t[3 * a + b] = wq[4 * (transposed ? 3 * b + a : 3 * a + b)];
    for (top = 0; top < 3; top++) {
        const int32_t k0 = (3 - top) % 3, k1 = (4 - top) % 3, k2 = (5 - top) % 3;     /* a in slots 0, 1, 2 */
        int32_t *q = w->p[top];
        q[0] = edgec_pk16(t[3 * k0], t[3 * k1]);
        q[1] = edgec_pk16(t[3 * k0 + 1], t[3 * k1 + 1]);
        q[2] = edgec_pk16(t[3 * k0 + 2], t[3 * k1 + 2]);
        q[3] = edgec_pk16(t[3 * k2], t[3 * k2 + 1]);
        q[4] = edgec_pk16(t[3 * k2 + 2], 0);
    }
}

static inline int32_t edgec_ldh2(const int16_t *x, int32_t i)     /* x[i], x[i + 1] as one (unaligned) word */
{
    int32_t v;
    __builtin_memcpy(&v, x + i, 4);
    return v;
}

static inline int32_t edgec_smlad32(int32_t x, int32_t y, int32_t acc)
{
    int16x2_t a, b;
    __builtin_memcpy(&a, &x, 4);
    __builtin_memcpy(&b, &y, 4);
    return __smlad(a, b, acc);
}

/* One window at position offset j (in int16s) of x. */
#define EDGEC_DW3_WIN(u, j)                                                                             \
    do {                                                                                                \
        u = edgec_smlad32(edgec_ldh2(x, (j)), p0, u);                                                   \
        u = edgec_smlad32(edgec_ldh2(x, (j) + 3), p1, u);                                               \
        u = edgec_smlad32(edgec_ldh2(x, (j) + 6), p2, u);                                               \
        u = __smlabb(edgec_ldh2(x, (j) + 2), s01, u);                                                   \
        u = __smlabt(edgec_ldh2(x, (j) + 5), s01, u);                                                   \
        u = __smlabb(edgec_ldh2(x, (j) + 8), s2, u);                                                    \
    } while (0)

/* `count` windows s positions apart from position 0 of x: acc[i] = bias + window i . w (wrapped as the
 * reference wraps), a in slot (top + a) % 3.  Word loads read slot 0 of the position after a window's
 * last (times nothing). */
EDGEC_HELPER void edgec_dw3_run_s16(const int16_t *x, int32_t s, int32_t count, const edgec_dw3w *w, int32_t top, uint32_t bias, int32_t *acc)
{
    const int32_t *q = w->p[top];
    const int32_t p0 = q[0], p1 = q[1], p2 = q[2], s01 = q[3], s2 = q[4], b = (int32_t)bias;
    if (s == 1)
        for (; count >= 2; count -= 2, x += 6, acc += 2) {
            int32_t u = b, v = b;
            EDGEC_DW3_WIN(u, 0);
            EDGEC_DW3_WIN(v, 3);
            acc[0] = u;
            acc[1] = v;
        }
    for (; count > 0; count--, x += 3 * s, acc++) {
        int32_t u = b;
        EDGEC_DW3_WIN(u, 0);
        acc[0] = u;
    }
}

/* 3x3 depthwise over one channel's int16 plane (edgec_dw_planes of edgec_depthwise_conv2d_s8.c): the
 * input positions of a row one after the other, rows `pw` int16s apart (pw even, rows word-aligned).
 * w: per kernel row ky the words (w0, w1) at w[2 * ky] and (w1, w2) at w[2 * ky + 1] (low half first).
 * Two outputs a pass from word loads only: stride 1, positions (x0 x1) (x2 x3) of each row give
 * u = x0 w0 + x1 w1 + x2 w2 (SMLAD, SMLABT) and v = x1 w0 + x2 w1 + x3 w2 (SMLATB, SMLAD); stride 2,
 * (x0 x1) (x2 x3) (x4 x5) give u from the first two words and v from the last two.  A pass of this
 * variant (EDGEC_DW3P): 6 (stride 2: 9) loads, 12 multiply-accumulates, 1 (2) pointer adds, one STRD
 * and the loop's compare and branch for 18 MACs: 22 (26) instructions. */
#define EDGEC_DW3P 1

/* The two sums u, v of a pass's first word (x0 x1) of each row (the pass's first half, both strides). */
#define EDGEC_DW3P_A                                                                                    \
    "ldr %[t], [%[x]]\n\t"                                                                              \
    "smlad %[u], %[t], %[w0], %[b]\n\t"                                                                 \
    "smlatb %[v], %[t], %[w0], %[b]\n\t"                                                                \
    "ldr %[t], [%[x], %[o]]\n\t"                                                                        \
    "smlad %[u], %[t], %[w2], %[u]\n\t"                                                                 \
    "smlatb %[v], %[t], %[w2], %[v]\n\t"                                                                \
    "ldr %[t], [%[x], %[o], lsl #1]\n\t"                                                                \
    "smlad %[u], %[t], %[w4], %[u]\n\t"                                                                 \
    "smlatb %[v], %[t], %[w4], %[v]\n\t"                                                                \
    "adds %[x], %[x], #4\n\t"
#define EDGEC_DW3P_W                                                                                    \
    "ldrd %[w0], %[w1], [%[t]]\n\t"                                                                     \
    "ldrd %[w2], %[w3], [%[t], #8]\n\t"                                                                 \
    "ldrd %[w4], %[w5], [%[t], #16]\n\t"
/* The row's end: acc's step back, end's step, x's step to the next row and the rows left, from the
 * caller's frame (memory operands: no registers, no copy onto the stack). */
#define EDGEC_DW3P_ROW                                                                                  \
    "ldr %[t], %[c0]\n\t"                                                                               \
    "ldr %[u], %[c1]\n\t"                                                                               \
    "ldr %[v], %[xstep]\n\t"                                                                            \
    "ldr %[b], %[bias]\n\t"               /* b again (the pass of three kept z in it), loads back to back */ \
    "add %[a], %[a], %[t]\n\t"                                                                          \
    "add %[e], %[e], %[u]\n\t"                                                                          \
    "add %[x], %[x], %[v]\n\t"                                                                          \
    "ldr %[t], %[stop]\n\t"                                                                             \
    "cmp %[a], %[t]\n\t"                                                                                \
    "bne 1b\n\t"

/* A tile's constants of the passes and of the requantization (edgec_dw3p_prepare), once a tile: the
 * asm reads them as memory operands, so that a channel sets up nothing but its own weights and sums. */
typedef struct {
    int32_t back, estep;        /* a pass row: acc's step back, end's step (bytes) */
    int32_t xstep, three;       /* x's step to the next row (bytes); 1: rows end in a pass of three (below), 2: stride 2 */
    int32_t *end, *stop;        /* the first row's end of passes; acc after the last row (the passes' and the requantization's) */
    int32_t o, rem;             /* bytes between plane rows; bytes of a requantized row's last 0-3 sums */
    int32_t ystep, rstep;       /* a requantized row: y's step from after it to the next, end's step (bytes) */
    int32_t *rend;              /* the first row's end of fours */
#if !defined(__OPTIMIZE__) || defined(EDGEC_NO_ASM)
    int32_t rows, q, pw;        /* as given (the C passes) */
#endif
} edgec_dw3p;

/* The passes: `rows` rows of q sums from a plane pw int16s wide at stride s into acc, q sums a row; the
 * requantization: `rrows` rows of rq sums from acc, their outputs `step` bytes apart and the rows'
 * first `ystep` apart.  A pass row at stride 1 of an odd q of 5 or more ends in a pass of three (a row
 * of 3 would have no pass before it); other odd rows' last pass's second sum is overwritten by the next
 * row's first. */
EDGEC_HELPER void edgec_dw3p_prepare(edgec_dw3p *P, int32_t *acc, int32_t pw, int32_t s, int32_t rows, int32_t q, int32_t rq, int32_t rrows,
                                     int32_t step, int32_t ystep)
{
    const int32_t three = s == 1 && (q & 1) && q >= 5, n = three ? (q - 3) >> 1 : (q + 1) >> 1;
    P->back = three ? 0 : 4 * (q - 2 * n);
    P->estep = 4 * q;
    P->xstep = 2 * s * pw - 4 * s * n - (three ? 8 : 0);
    P->three = s == 2 ? 2 : three;       /* the fields of the stack's peak frame: one for both */
    P->end = acc + 2 * n;
    P->stop = acc + rows * q;
    P->o = 2 * pw;
    P->ystep = ystep - rq * step;
    P->rstep = 4 * rq;
    P->rend = acc + (rq & ~3);
    (void)rrows;                          /* rrows * rq == rows * q: the requantization's rows end where the passes' do */
    P->rem = 4 * (rq & 3);
#if !defined(__OPTIMIZE__) || defined(EDGEC_NO_ASM)
    P->rows = rows;
    P->q = q;
    P->pw = pw;
#endif
}

/* The tile's rows of sums (edgec_dw3p_prepare) from x (the first window's top-left position) into acc:
 * acc[i] = bias + window i . w, wrapped as the reference wraps.  Two outputs a pass; the row loop is
 * inside the asm too (9 instructions a row). */
EDGEC_HELPER void edgec_dw3p_run(const edgec_dw3p *P, const int16_t *x, const int32_t *w, uint32_t bias, int32_t *acc)
{
    const int32_t b = (int32_t)bias;
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
    {
        /* the weights loaded by the asm (three LDRDs from t) into registers it picks */
        int32_t *end = P->end, *t = (int32_t *)w;
        int32_t u, v, bb = b, w0, w1, w2, w3, w4, w5;
        const int32_t o = P->o;                     /* bytes between rows: row 2 at x + 2 * o */
        if (P->three != 2)
            __asm__ volatile(
                EDGEC_DW3P_W
                "1:\n\t"
                EDGEC_DW3P_A
                "ldr %[t], [%[x]]\n\t"
                "smlabt %[u], %[t], %[w1], %[u]\n\t"
                "smlad %[v], %[t], %[w1], %[v]\n\t"
                "ldr %[t], [%[x], %[o]]\n\t"
                "smlabt %[u], %[t], %[w3], %[u]\n\t"
                "smlad %[v], %[t], %[w3], %[v]\n\t"
                "ldr %[t], [%[x], %[o], lsl #1]\n\t"
                "smlabt %[u], %[t], %[w5], %[u]\n\t"
                "smlad %[v], %[t], %[w5], %[v]\n\t"
                "strd %[u], %[v], [%[a]], #8\n\t"
                "cmp %[a], %[e]\n\t"
                "bne 1b\n\t"
                "ldr %[t], %[three]\n\t"
                "cmp %[t], #0\n\t"
                "beq 2f\n\t"
                /* the pass of three: (x0 x1) (x2 x3) (x4 x5) of each row, the third sum
                 * z = x2 w0 + x3 w1 + x4 w2 (SMLAD, SMLABT) in b's register (it starts at the bias) */
                EDGEC_DW3P_A
                "ldr %[t], [%[x]]\n\t"
                "smlabt %[u], %[t], %[w1], %[u]\n\t"
                "smlad %[v], %[t], %[w1], %[v]\n\t"
                "smlad %[b], %[t], %[w0], %[b]\n\t"
                "ldr %[t], [%[x], %[o]]\n\t"
                "smlabt %[u], %[t], %[w3], %[u]\n\t"
                "smlad %[v], %[t], %[w3], %[v]\n\t"
                "smlad %[b], %[t], %[w2], %[b]\n\t"
                "ldr %[t], [%[x], %[o], lsl #1]\n\t"
                "smlabt %[u], %[t], %[w5], %[u]\n\t"
                "smlad %[v], %[t], %[w5], %[v]\n\t"
                "smlad %[b], %[t], %[w4], %[b]\n\t"
                "adds %[x], %[x], #4\n\t"
                "ldr %[t], [%[x]]\n\t"
                "smlabt %[b], %[t], %[w1], %[b]\n\t"
                "ldr %[t], [%[x], %[o]]\n\t"
                "smlabt %[b], %[t], %[w3], %[b]\n\t"
                "ldr %[t], [%[x], %[o], lsl #1]\n\t"
                "smlabt %[b], %[t], %[w5], %[b]\n\t"
                "str %[u], [%[a]], #4\n\t"
                "str %[v], [%[a]], #4\n\t"
                "str %[b], [%[a]], #4\n\t"
                "2:\n\t"
                EDGEC_DW3P_ROW
                : [x] "+r"(x), [a] "+r"(acc), [t] "+r"(t), [u] "=&r"(u), [v] "=&r"(v), [e] "+r"(end), [b] "+r"(bb),
                  [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3), [w4] "=&r"(w4), [w5] "=&r"(w5)
                : [o] "r"(o),
                  [c0] "m"(P->back), [c1] "m"(P->estep), [xstep] "m"(P->xstep), [stop] "m"(P->stop), [three] "m"(P->three), [bias] "m"(b)
                : "cc", "memory");
        else
            __asm__ volatile(
                EDGEC_DW3P_W
                "1:\n\t"
                "ldr %[t], [%[x]]\n\t"
                "smlad %[u], %[t], %[w0], %[b]\n\t"
                "ldr %[t], [%[x], %[o]]\n\t"
                "smlad %[u], %[t], %[w2], %[u]\n\t"
                "ldr %[t], [%[x], %[o], lsl #1]\n\t"
                "smlad %[u], %[t], %[w4], %[u]\n\t"
                "adds %[x], %[x], #4\n\t"
                "ldr %[t], [%[x]]\n\t"
                "smlabt %[u], %[t], %[w1], %[u]\n\t"
                "smlad %[v], %[t], %[w0], %[b]\n\t"
                "ldr %[t], [%[x], %[o]]\n\t"
                "smlabt %[u], %[t], %[w3], %[u]\n\t"
                "smlad %[v], %[t], %[w2], %[v]\n\t"
                "ldr %[t], [%[x], %[o], lsl #1]\n\t"
                "smlabt %[u], %[t], %[w5], %[u]\n\t"
                "smlad %[v], %[t], %[w4], %[v]\n\t"
                "adds %[x], %[x], #4\n\t"
                "ldr %[t], [%[x]]\n\t"
                "smlabt %[v], %[t], %[w1], %[v]\n\t"
                "ldr %[t], [%[x], %[o]]\n\t"
                "smlabt %[v], %[t], %[w3], %[v]\n\t"
                "ldr %[t], [%[x], %[o], lsl #1]\n\t"
                "smlabt %[v], %[t], %[w5], %[v]\n\t"
                "strd %[u], %[v], [%[a]], #8\n\t"
                "cmp %[a], %[e]\n\t"
                "bne 1b\n\t"
                EDGEC_DW3P_ROW
                : [x] "+r"(x), [a] "+r"(acc), [t] "+r"(t), [u] "=&r"(u), [v] "=&r"(v), [e] "+r"(end), [b] "+r"(bb),
                  [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3), [w4] "=&r"(w4), [w5] "=&r"(w5)
                : [o] "r"(o),
                  [c0] "m"(P->back), [c1] "m"(P->estep), [xstep] "m"(P->xstep), [stop] "m"(P->stop), [bias] "m"(b)
                : "cc", "memory");
    }
#undef EDGEC_DW3P_W
#undef EDGEC_DW3P_A
#undef EDGEC_DW3P_ROW
#else
    {
        const int32_t wr[6] = {w[0], w[1], w[2], w[3], w[4], w[5]}, rows = P->rows, q = P->q, pw = P->pw, s = P->three == 2 ? 2 : 1, n2 = (q + 1) >> 1;
        int32_t ky, i, row;
        for (row = 0; row < rows; row++, x += s * pw, acc += q) {
            const int16_t *r[3];
            r[0] = x;
            r[1] = x + pw;
            r[2] = x + 2 * pw;
            for (i = 0; i < 2 * n2; i += 2) {
                int32_t u = b, v = b;
                for (ky = 0; ky < 3; ky++) {
                    const int32_t pp = edgec_ldh2(r[ky], 0), qq = edgec_ldh2(r[ky], 2);
                    u = edgec_smlad32(pp, wr[2 * ky], u);
                    u = __smlabt(qq, wr[2 * ky + 1], u);
                    if (s == 1) {
                        v = __smlatb(pp, wr[2 * ky], v);
                        v = edgec_smlad32(qq, wr[2 * ky + 1], v);
                    } else {
                        v = edgec_smlad32(qq, wr[2 * ky], v);
                        v = __smlabt(edgec_ldh2(r[ky], 4), wr[2 * ky + 1], v);
                    }
                    r[ky] += 2 * s;
                }
                acc[i] = u;
                acc[i + 1] = v;
            }
        }
    }
#endif
}

/* One sum (operand x of the asm around it) requantized as edgec_rq_s8 into hi, before the zero point and the
 * saturation: lo:hi starts at the record's rounding constant (operands loc, hic), plus x * m, minus the
 * tie correction (2^31 when x < 0, taken after the multiply: it borrows from the high word exactly when
 * x < 0 and bit 31 of the low word is clear), shifted by sh (operands lo, hi, t, m, sh named as in
 * edgec_rq_run_s8; the planes' edgec_dw3p_rq has its own SMMLAR form). */
#define EDGEC_RQ_HI(x)                                                                                  \
    "mov %[lo], %[loc]\n\t"                                                                             \
    "mov %[hi], %[hic]\n\t"                                                                             \
    "smlal %[lo], %[hi], %[" x "], %[m]\n\t"                                                             \
    "bic %[t], %[" x "], %[lo]\n\t"                                                                      \
    "sub %[hi], %[hi], %[t], lsr #31\n\t"                                                              \
    "asr %[hi], %[hi], %[sh]\n\t"

/* `rows` rows of q sums each (acc, one row after the other; q >= 2), each sum twice the channel's x
 * (bias included: the planes' weights and bias come doubled, edgec_dw_planes), requantized as edgec_rq_s8
 * and stored `step` bytes apart, the rows' first outputs `ystep` bytes apart: the planes'
 * requantization, one call a channel of a tile.  With shift = -r and 2x = u, the single floor
 * floor((x * m + 2^30 + 2^(30 + r) - [x < 0] 2^31) / 2^(31 + r)) (edgec_rq_prepare's form) is
 * floor((ra * 2^32 + u * m + 2^31) / 2^32) >> r with ra = 2^(r - 1) - [u < 0]: one SMMLAR from
 * ra + (u asr 31), then the shift; the zero point is folded into ra (+ zp * 2^r, exact before the shift).
 * Exact while |u| < 2^30 (the caller's bias bound) and r <= 22 (ra and the high word stay inside int32;
 * the caller checks both): 4 instructions an output before its store (the SMLAL form: 7), four outputs a
 * step.  ra: 2^(r - 1) + zp * 2^r.  0 without the asm: the caller then requantizes output by output. */
EDGEC_HELPER int32_t edgec_dw3p_rq(const edgec_dw3p *P, const int32_t *acc, int8_t *y, int32_t step, int32_t m, int32_t r, int32_t ra)
{
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
    {
        const int32_t *end = P->rend;
        const int32_t step3 = 3 * step;
        int32_t t, x0, x1, x2, x3;
#define EDGEC_DW3P_RQ(x)                                                                                \
    "add %[t], %[ra], %[" x "], asr #31\n\t"                                                              \
    "smmlar %[" x "], %[" x "], %[m], %[t]\n\t"
        __asm__ volatile(
            "1:\n\t"
            "cmp %[a], %[e]\n\t"                  /* four a step */
            "beq 3f\n\t"
            "2:\n\t"
            "ldrd %[x0], %[x1], [%[a]], #8\n\t"
            "ldrd %[x2], %[x3], [%[a]], #8\n\t"
            EDGEC_DW3P_RQ("x0")
            EDGEC_DW3P_RQ("x1")
            EDGEC_DW3P_RQ("x2")
            EDGEC_DW3P_RQ("x3")
            "asr %[x0], %[x0], %[r]\n\t"
            "asr %[x1], %[x1], %[r]\n\t"
            "asr %[x2], %[x2], %[r]\n\t"
            "asr %[x3], %[x3], %[r]\n\t"
            "ssat %[x0], #8, %[x0]\n\t"
            "ssat %[x1], #8, %[x1]\n\t"
            "ssat %[x2], #8, %[x2]\n\t"
            "ssat %[x3], #8, %[x3]\n\t"
            "strb %[x0], [%[y]]\n\t"
            "strb %[x1], [%[y], %[step]]\n\t"
            "strb %[x2], [%[y], %[step], lsl #1]\n\t"
            "strb %[x3], [%[y], %[step3]]\n\t"
            "add %[y], %[y], %[step], lsl #2\n\t"
            "cmp %[a], %[e]\n\t"
            "bne 2b\n\t"
            "3:\n\t"                                /* the row's last 0-3 one a step */
            "ldr %[x1], %[rem]\n\t"
            "add %[x1], %[x1], %[e]\n\t"
            "cmp %[a], %[x1]\n\t"
            "beq 5f\n\t"
            "4:\n\t"
            "ldr %[x0], [%[a]], #4\n\t"
            EDGEC_DW3P_RQ("x0")
            "asr %[x0], %[x0], %[r]\n\t"
            "ssat %[x0], #8, %[x0]\n\t"
            "strb %[x0], [%[y]]\n\t"
            "add %[y], %[y], %[step]\n\t"
            "cmp %[a], %[x1]\n\t"
            "bne 4b\n\t"
            "5:\n\t"
            "ldr %[x0], %[c0]\n\t"
            "ldr %[x1], %[c1]\n\t"
            "ldr %[t], %[stop]\n\t"
            "add %[y], %[y], %[x0]\n\t"
            "add %[e], %[e], %[x1]\n\t"
            "cmp %[a], %[t]\n\t"
            "bne 1b\n\t"
            : [a] "+r"(acc), [y] "+r"(y), [t] "=&r"(t), [e] "+r"(end), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3)
            : [step] "r"(step), [step3] "r"(step3), [ra] "r"(ra), [m] "r"(m), [r] "r"(r), [c0] "m"(P->ystep), [c1] "m"(P->rstep),
              [rem] "m"(P->rem), [stop] "m"(P->stop)
            : "cc", "memory");
#undef EDGEC_DW3P_RQ
        return 1;
    }
#else
    (void)P, (void)acc, (void)y, (void)step, (void)m, (void)r, (void)ra;
#endif
    return 0;
}

/* Wide layout (codegen/layouts.py, wide_layout): a one-group conv's weights pre-sign-extended, in the
 * pair layout's order with each four as 0 2 1 3 (the columns' order), two int16s a word (the first in the
 * low half), a channel pair's two channels one after the other per four inputs: (a0 a2) (a1 a3) (b0 b2)
 * (b1 b3); the last four zero-padded.  Flash for speed: SMLAD then takes weights as they are. */
/* One output of the wide path: the sum x (bias included) requantized with a channel's prepared record
 * r = {m, R, c, sh} (codegen/layouts.py, wide_requant; fixedpoint.wide_channels): t, the high word of
 * x * m + 2^30 - [x < 0] 2^31, then (t + R) >> sh, plus the zero point where the record does not fold
 * it into R (`zp_apart`: then c is the zero point), saturated to int8.  With r = -shift, R = 2^(r-2)
 * (+ zp * 2^(r-1) where folded) and sh = r - 1 this is the reference's two roundings
 * floor((x * m + 2^30 + 2^(30 + r) - [x < 0] 2^31) / 2^(31 + r)) (edgec_rq_prepare's form); codegen
 * keeps t + R inside int32.  Folded records carry c = 2^30 + R * 2^31 (mod 2^32) for the DSP variant. */
/* The wide path: its layout, records and portable loops are edgec_wide_c.h's; this variant brings its
 * own edgec_wide_rq (the record's form as the SMLAL loops below use it; edgec_wide_c.h says what a record
 * is) and, when optimizing, its own loops (EDGEC_WIDE_ASM: edgec_wide_c.h then leaves edgec_wide_quads
 * and edgec_wide_dot1x4 to them). */
#define EDGEC_WIDE_RQ_OWN
EDGEC_HELPER int8_t edgec_wide_rq(const EDGEC_ROM int32_t *r, int32_t x, int32_t zp_apart)
{
    /* here as the DSP loops do it: the 64-bit start (R + (x asr 31)) : lo, one SMLAL, the shift, SSAT */
    const int32_t m = r[0], big_r = r[1], c = r[2], sh = r[3];
    int32_t hi = big_r + (x < 0 ? -1 : 0), v;          /* x asr 31, without a shift of a signed value */
    uint32_t lo = zp_apart ? (((uint32_t)x & 0x80000000u) | 0x40000000u) : (uint32_t)c - ((uint32_t)hi << 31);
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(x), "r"(m));
    v = (hi >> sh) + (zp_apart ? c : 0);
    __asm__("ssat %0, #8, %1" : "=r"(v) : "r"(v));
    return (int8_t)v;
}
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
#define EDGEC_WIDE_ASM
#endif
#include "edgec_wide_c.h"

/* The DSP edgec_wide_dot1x4_c: per four inputs one load and two SXTB16 of the input, two LDMs of four
 * weight words and eight SMLADs (16 MACs in 13 instructions, four fours an iteration).  Fourteen
 * registers, hand-allocated. */
#define EDGEC_WIDE_FOUR_1X4                                                                             \
    "ldr r8, [%[x]], #4\n\t"                                                                            \
    "sxtb16 r9, r8, ror #8\n\t"                                                                         \
    "sxtb16 r8, r8\n\t"                                                                                 \
    "ldm %[w0]!, {r10, r11, r12, lr}\n\t"                                                               \
    "smlad r4, r8, r10, r4\n\t"                                                                         \
    "smlad r4, r9, r11, r4\n\t"                                                                         \
    "smlad r5, r8, r12, r5\n\t"                                                                         \
    "smlad r5, r9, lr, r5\n\t"                                                                          \
    "ldm %[w1]!, {r10, r11, r12, lr}\n\t"                                                               \
    "smlad r6, r8, r10, r6\n\t"                                                                         \
    "smlad r6, r9, r11, r6\n\t"                                                                         \
    "smlad r7, r8, r12, r7\n\t"                                                                         \
    "smlad r7, r9, lr, r7\n\t"
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
static __attribute__((noinline, unused)) void edgec_wide_dot1x4(const int8_t *x, int32_t groups, const EDGEC_ROM int32_t *w0,
                                                                const EDGEC_ROM int32_t *w1, int32_t *acc)
{
    if (groups > 0) {
        register const int8_t *xr __asm__("r0") = x;
        register const EDGEC_ROM int32_t *u __asm__("r1") = w0;
        register const EDGEC_ROM int32_t *v __asm__("r2") = w1;
        register int32_t k __asm__("r3") = groups + 3;
        register int32_t a0 __asm__("r4") = acc[0], a1 __asm__("r5") = acc[1], a2 __asm__("r6") = acc[2], a3 __asm__("r7") = acc[3];
        __asm__ volatile(
            "ands r8, %[k], #3\n\t"                     /* (groups + 3) / 4 iterations, the first */
            "lsr %[k], %[k], #2\n\t"                    /* entered so that it runs (groups - 1) % 4 + 1 */
            "beq 4f\n\t"                                 /* fours: (groups + 3) % 4 = 0 1 2 3 -> 4: 3: 2: 1: */
            "cmp r8, #2\n\t"
            "bcc 3f\n\t"
            "beq 2f\n\t"
            "1:\n\t" EDGEC_WIDE_FOUR_1X4 "2:\n\t" EDGEC_WIDE_FOUR_1X4 "3:\n\t" EDGEC_WIDE_FOUR_1X4 "4:\n\t" EDGEC_WIDE_FOUR_1X4
            "subs %[k], %[k], #1\n\t"
            "bne 1b\n\t"
            : [x] "+r"(xr), [w0] "+r"(u), [w1] "+r"(v), [k] "+r"(k), "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3)
            :
            : "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
    }
}
#endif

/* The sentinel four after the columns: its first word (0x80008000 folded records, 0x80000000 apart) is
 * below -2^24, which no columns word is (each half a sign-extended int8). */
#define EDGEC_WIDE_SENTINEL 0x80008000u
/* one sum (register a) requantized with the record in r8..r11, back into a: zero point folded */
#define EDGEC_WIDE_RQ_IN(a)                                                                             \
    "add lr, r9, " a ", asr #31\n\t"                                                                    \
    "sub r12, r10, lr, lsl #31\n\t"                                                                     \
    "smlal r12, lr, " a ", r8\n\t"                                                                      \
    "asr lr, lr, r11\n\t"                                                                               \
    "ssat " a ", #8, lr\n\t"
/* the quads' records with the zero point apart (wide_quad_requant): c as a folded record's, from R, and
 * the zero point in the shift word's bits 8 and up (ASR by a register reads its low byte only): the
 * folded form's five instructions and one add */
#define EDGEC_WIDE_QRQ_APART(a)                                                                         \
    "add lr, r9, " a ", asr #31\n\t"                                                                    \
    "sub r12, r10, lr, lsl #31\n\t"                                                                     \
    "smlal r12, lr, " a ", r8\n\t"                                                                      \
    "asr lr, lr, r11\n\t"                                                                               \
    "add lr, lr, r11, asr #8\n\t"                                                                       \
    "ssat " a ", #8, lr\n\t"

/* The DSP loop of edgec_wide_quads_c, hand-allocated: two pixels x four channels, so that each pair of
 * weight words (one LDM) serves both pixels and the per-quad work (biases, loop entry, the state kept
 * between quads) is shared by eight outputs.  Per half four (two inputs of both pixels): two LDRs of the
 * pixels' words (the columns' order: pixel 0's (i0 i2) (i1 i3), then pixel 1's), two LDMs of two weight
 * words and eight SMLADs: 32 MACs a four in 34 cycles (the pair loop: 36).  Fourteen registers: x, w, the
 * two input words r2 r3, the weights r12 lr, the eight sums r4-r11 (channel 0 and 1 of pixel 0, of pixel 1,
 * then channels 2 and 3 likewise: the biases' order).  No counter: it stops at the sentinel four after
 * the columns, checked once an iteration on the word the next four's load brought (the sentinel also says
 * the record mode).  The four fours an iteration
 * are entered at the address computed once per call (from groups % 4: the four fours' code is alike).  The sums are requantized channel by
 * channel with the record in r8-r11, so channels 2 and 3's four sums wait in the stack frame meanwhile;
 * what the loop keeps between quads (y, stride - 1, the records' pointer and end, the columns, the entry)
 * sits there too, as memory operands. */
#define EDGEC_WIDE_QHALF(ADVANCE)                                                                       \
    "ldm %[w]!, {r12, lr}\n\t"                  /* channels 0 and 1 */                                \
    "smlad r4, r2, r12, r4\n\t"                                                                        \
    "smlad r6, r3, r12, r6\n\t"                                                                        \
    "smlad r5, r2, lr, r5\n\t"                                                                         \
    "smlad r7, r3, lr, r7\n\t"                                                                         \
    "ldm %[w]!, {r12, lr}\n\t"                  /* channels 2 and 3 */                                \
    "smlad r8, r2, r12, r8\n\t"                                                                        \
    "smlad r10, r3, r12, r10\n\t"                                                                      \
    "smlad r9, r2, lr, r9\n\t"                                                                         \
    "smlad r11, r3, lr, r11\n\t"                                                                       \
    "ldr r3, [%[x], #8]\n\t"                    /* the pixels' next words */                          \
    "ldr r2, [%[x]], #" ADVANCE "\n\t"
/* a four: its (i0 i2) half against words already in r2 r3, then its (i1 i3) half; it ends with the next
 * four's (i0 i2) words (past the last: the sentinel) */
#define EDGEC_WIDE_QFOUR EDGEC_WIDE_QHALF("12") EDGEC_WIDE_QHALF("4")
/* one channel's two sums (registers a: pixel 0, b: pixel 1) with the next record */
#define EDGEC_WIDE_QREC(RQ, a, b) "ldm r2!, {r8, r9, r10, r11}\n\t" RQ(a) RQ(b)
/* the four results stored, stride - 1 in register s (r0, x, free until the next quad: shorter code) */
#define EDGEC_WIDE_QSTORE_IN(s)                                                                         \
    "ldr " s ", %[ks]\n\t"                                                                              \
    "strb r4, [r3], #1\n\t"                                                                            \
    "strb r6, [r3, " s "]\n\t"                                                                         \
    "strb r5, [r3], #1\n\t"                                                                            \
    "strb r7, [r3, " s "]\n\t"
#define EDGEC_WIDE_QSTORE EDGEC_WIDE_QSTORE_IN("r0")
#define EDGEC_WIDE_QTAIL(RQ)                                                                            \
    "str r8, %[s0]\n\t"                         /* channels 2 and 3 wait */                           \
    "str r9, %[s1]\n\t"                                                                                \
    "str r10, %[s2]\n\t"                                                                               \
    "str r11, %[s3]\n\t"                                                                               \
    "ldr r2, %[kq]\n\t"                         /* the quad's records */                              \
    "ldr r3, %[ky]\n\t"                                                                                \
    EDGEC_WIDE_QREC(RQ, "r4", "r6") EDGEC_WIDE_QREC(RQ, "r5", "r7") EDGEC_WIDE_QSTORE                   \
    "ldr r4, %[s0]\n\t"                                                                                \
    "ldr r5, %[s1]\n\t"                                                                                \
    "ldr r6, %[s2]\n\t"                                                                                \
    "ldr r7, %[s3]\n\t"                                                                                \
    EDGEC_WIDE_QREC(RQ, "r4", "r6") EDGEC_WIDE_QREC(RQ, "r5", "r7") EDGEC_WIDE_QSTORE                   \
    "str r3, %[ky]\n\t"                                                                                \
    "ldr r12, %[kn]\n\t"                        /* past the last quad's records? */                   \
    "cmp r2, r12\n\t"                                                                                  \
    "bne 7b\n\t"

#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
static __attribute__((noinline, unused)) void edgec_wide_quads(int16_t *cols, int32_t groups, const EDGEC_ROM int32_t *w,
                                                               const EDGEC_ROM int32_t *rq, int32_t quads, int8_t *y, int32_t stride,
                                                               int32_t apart)
{
    /* the frame: y, stride - 1, the records' pointer, their end, the columns, the entry, four sums */
    int32_t k_y = (int32_t)(intptr_t)y, k_s = stride - 1, k_q = (int32_t)(intptr_t)rq, k_n = (int32_t)(intptr_t)(rq + 24 * quads);
    int32_t k_b = (int32_t)(intptr_t)cols, k_e, s0, s1, s2, s3;
    register int16_t *x __asm__("r0") = cols;
    register const EDGEC_ROM int32_t *wr __asm__("r1") = w;
    register int32_t t __asm__("r3") = groups;
    *(int32_t *)(void *)(cols + 8 * groups) = (int32_t)(apart ? 0x80000000u : EDGEC_WIDE_SENTINEL);
    __asm__ volatile(
        "rsbs r3, %[t], #0\n\t"                     /* the first iteration runs (groups - 1) % 4 + 1 fours: */
        "and r3, r3, #3\n\t"                        /* it skips -groups % 4 of them, each 2f - 1f bytes */
        "adr.w r12, 1f\n\t"
        "adr.w lr, 2f\n\t"
        "sub lr, lr, r12\n\t"
        "mla r12, r3, lr, r12\n\t"
        "str r12, %[ke]\n\t"
        "ldr r2, %[kq]\n\t"
        "7:\n\t"                                    /* a quad: its biases start the sums */
        "ldm r2!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "str r2, %[kq]\n\t"
        "ldr %[x], %[kb]\n\t"
        "ldr r12, %[ke]\n\t"
        "ldr r3, [%[x], #8]\n\t"                    /* the first four's (i0 i2) words */
        "ldr r2, [%[x]], #4\n\t"
        "mov pc, r12\n\t"
        "1:\n\t" EDGEC_WIDE_QFOUR "2:\n\t" EDGEC_WIDE_QFOUR "5:\n\t" EDGEC_WIDE_QFOUR "4:\n\t" EDGEC_WIDE_QFOUR
        "cmp r2, #0xFF000000\n\t"                   /* a columns word, or a sentinel (below -2^24) */
        "bge 1b\n\t"
        "tst r2, #0x8000\n\t"
        "beq 8f\n\t"
        EDGEC_WIDE_QTAIL(EDGEC_WIDE_RQ_IN)
        "b 9f\n\t"
        "8:\n\t"                                    /* zero point apart: the two halves as a loop, for size */
        "str r8, %[s0]\n\t"
        "str r9, %[s1]\n\t"
        "str r10, %[s2]\n\t"
        "str r11, %[s3]\n\t"
        "ldr r2, %[kq]\n\t"
        "ldr r3, %[ky]\n\t"
        "movs r0, #2\n\t"                           /* halves (x is free until the next quad) */
        "b 83f\n\t"
        "81:\n\t"
        "ldr r4, %[s0]\n\t"                         /* channels 2 and 3 */
        "ldr r5, %[s1]\n\t"
        "ldr r6, %[s2]\n\t"
        "ldr r7, %[s3]\n\t"
        "83:\n\t"
        EDGEC_WIDE_QREC(EDGEC_WIDE_QRQ_APART, "r4", "r6") EDGEC_WIDE_QREC(EDGEC_WIDE_QRQ_APART, "r5", "r7")
        EDGEC_WIDE_QSTORE_IN("r12")                 /* (r0 counts) */
        "subs r0, r0, #1\n\t"
        "bne 81b\n\t"
        "str r3, %[ky]\n\t"
        "ldr r12, %[kn]\n\t"
        "cmp r2, r12\n\t"
        "bne 7b\n\t"
        "9:\n\t"
        : [x] "+r"(x), [w] "+r"(wr), [t] "+r"(t), [ky] "+m"(k_y), [kq] "+m"(k_q), [ke] "=m"(k_e), [s0] "=m"(s0), [s1] "=m"(s1),
          [s2] "=m"(s2), [s3] "=m"(s3)
        : [ks] "m"(k_s), [kn] "m"(k_n), [kb] "m"(k_b)
        : "r2", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
#endif

/* Requantization prepared per channel.  With shift = -r, 1 <= r <= 31, and multiplier >= 0, the
 * reference's rdbp(srdhm(x, m), r) (both roundings) is one floor:
 *   floor((x * m + 2^30 + 2^(30 + r) - [x < 0] * 2^31) / 2^(31 + r)),
 * (srdhm's nudge, rdbp's half and its tie-away-from-zero correction, which depends only on the sign of
 * x * m, folded into one constant), which is the high word of a 64-bit multiply-accumulate shifted
 * right by r - 1: two SMLALs from the constant lo/hi.  tests/test_fixedpoint.py checks it on the
 * edge grid against the Python twin. */
typedef struct {
    int32_t multiplier, sh, hi;
    uint32_t lo;
} edgec_rq;

EDGEC_HELPER int32_t edgec_rq_fast(const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int32_t n, int32_t act_min,
                                   int32_t act_max)
{
    int32_t i;
    if (act_min != -128 || act_max != 127)
        return 0;
    for (i = 0; i < n; i++)
        if (multiplier[i] < 0 || shift[i] > -1 || shift[i] < -31)
            return 0;
    return 1;
}

EDGEC_HELPER void edgec_rq_prepare(edgec_rq *q, int32_t multiplier, int32_t shift)
{
    const int32_t r = shift < 0 && shift >= -31 ? -shift : 1;     /* other shifts: edgec_rq_fast is 0 */
    q->multiplier = multiplier;
    q->sh = r - 1;
    q->lo = r == 1 ? UINT32_C(0xC0000000) : UINT32_C(0x40000000);      /* 2^30 + 2^(30 + r) */
    q->hi = r >= 2 ? (int32_t)(UINT32_C(1) << (r - 2)) : 0;
}

EDGEC_HELPER int8_t edgec_rq_s8(const edgec_rq *q, uint32_t bias, int32_t acc, int32_t out_zp)
{
    const int32_t x = (int32_t)(bias + (uint32_t)acc);           /* wraps as the reference wraps */
    const int32_t neg = (int32_t)((uint32_t)x >> 31), min = INT32_MIN;
    uint32_t lo = q->lo;
    int32_t hi = q->hi, y;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(neg), "r"(min));          /* - 2^31 if x < 0 */
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(x), "r"(q->multiplier));
    y = (hi >> q->sh) + out_zp;
    __asm__("ssat %0, #8, %1" : "=r"(y) : "r"(y));
    return (int8_t)y;
}

/* `count` sums (bias included) requantized as edgec_rq_s8 and stored `step` bytes apart: two an
 * iteration, 11 instructions an output.  The tie correction (- 2^31 when x < 0) is taken after the
 * multiply: it borrows from the high word exactly when x < 0 and bit 31 of the low word is clear, so
 * no register holds -2^31. */
EDGEC_HELPER void edgec_rq_run_s8(const int32_t *acc, int32_t count, int8_t *y, int32_t step, const edgec_rq *q, int32_t out_zp)
{
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
    if (count >= 2) {
        const int32_t *end = acc + (count & ~1);
        int32_t x0, x1, lo, hi, t;
        __asm__ volatile(
            "1:\n\t"
            "ldrd %[x0], %[x1], [%[a]], #8\n\t"
            EDGEC_RQ_HI("x0")
            "add %[hi], %[hi], %[zp]\n\t"
            "ssat %[hi], #8, %[hi]\n\t"
            "strb %[hi], [%[y]]\n\t"
            EDGEC_RQ_HI("x1")
            "add %[hi], %[hi], %[zp]\n\t"
            "ssat %[hi], #8, %[hi]\n\t"
            "strb %[hi], [%[y], %[step]]\n\t"
            "add %[y], %[y], %[step], lsl #1\n\t"
            "cmp %[a], %[end]\n\t"
            "bne 1b\n\t"
            : [a] "+r"(acc), [y] "+r"(y), [x0] "=&r"(x0), [x1] "=&r"(x1), [lo] "=&r"(lo), [hi] "=&r"(hi), [t] "=&r"(t)
            : [end] "r"(end), [step] "r"(step), [loc] "r"(q->lo), [hic] "r"(q->hi), [m] "r"(q->multiplier), [sh] "r"(q->sh),
              [zp] "r"(out_zp)
            : "cc", "memory");
        count &= 1;
    }
#endif
    for (; count > 0; count--, acc++, y += step)
        *y = edgec_rq_s8(q, 0, *acc, out_zp);
}
#undef EDGEC_RQ_HI

#endif
