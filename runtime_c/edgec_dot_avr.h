/* int8 dot product for 8-bit AVR (ATmega, avr-gcc), shipped as edgec_dot.h on atmega328p (see
 * compiler/targets.py, kernel_variants); every function returns exactly the integers of the portable
 * edgec_dot.h.
 *
 * The pair and quad dot products run in hand-written loops (edgec_avr_dot*, naked functions below): one
 * group of four inputs at a time, the group's inputs held in registers, each weight read once from
 * flash (LPM Z+) and multiplied with MULS into every pixel's sum.  The sums are 24 bits wide in
 * registers, not 32: a product of int8 values lies in [-2^14, 2^14], so biased by +2^14 it is an
 * unsigned 16-bit value that three ADD/ADC add without sign extension, and 127 groups (508 products)
 * stay inside 24 bits whatever the weights and inputs; the C wrappers split longer runs into such
 * chunks, and each chunk's sums, bias taken off, go into the int32 accumulators.  These loops take
 * 8.7 (2x2), 9.7 (1x4) and 10.4 (1x2) cycles per MAC, loads included; avr-gcc's code for the portable
 * loop (32-bit adds around a 16-bit product) took about 47.
 *
 * Why not 16-bit partial sums: int16 holds the sum of two such products only (2 * 127 * 128 < 2^15),
 * so a sum proven safe from the weights would have to be flushed every second product, which is what
 * the bias above already costs (4 cycles a product either way), and the 2x2 loop has no registers
 * left for the partial sums.  The 24-bit sums need no proof and no per-layer flag.
 *
 * The requantization is one more naked function (edgec_avr_rq): the doubling high multiply in 16 MULs
 * instead of the 64-bit multiply of edgec_fixedpoint.h, which avr-gcc builds from libgcc's 64-bit
 * helpers (about 800 cycles an output), the rounding right shift by bytes, then bits, instead of
 * avr-gcc's one-bit-a-pass shift loops, and the zero point and saturation in 16 bits. */
#ifndef EDGEC_DOT_H
#define EDGEC_DOT_H
#include <stdint.h>
#include "edgec_target.h"
#include "edgec_fixedpoint.h"

/* Most groups of four inputs in one chunk of 24-bit sums (biased sums up to 2 * 127 * 2^16 < 2^24). */
#define EDGEC_AVR_CHUNK 127

/* One product (r1:r0, in [-2^14, 2^14]) into a 24-bit sum a0:a1:a2, biased by +2^14 (r15 holds 0x40,
 * added to the high byte) so that it is an unsigned 16-bit value: three ADD/ADC (r14 holds zero) and
 * no sign extension.  A chunk of c groups gives each sum 4c products, c * 2^16 of bias, which the
 * flush takes off: the biased sum stays within [0, 2c * 2^16], inside 24 unsigned bits for c <= 127. */
#define EDGEC_AVR_ADD24(a0, a1, a2) "add r1, r15\n\tadd " #a0 ", r0\n\tadc " #a1 ", r1\n\tadc " #a2 ", r14\n\t"
/* The biased 24-bit sum a0:a1:a2 added into the int32 at Z + off, minus the chunk's bias (r15 = c). */
#define EDGEC_AVR_FLUSH(a0, a1, a2, off)                                                                         \
    "ldd r18, Z+" #off "\n\tldd r19, Z+" #off "+1\n\tldd r20, Z+" #off "+2\n\tldd r21, Z+" #off "+3\n\t"            \
    "add r18, " #a0 "\n\tadc r19, " #a1 "\n\tadc r20, " #a2 "\n\tadc r21, r14\n\tsub r20, r15\n\tsbc r21, r14\n\t"   \
    "std Z+" #off ", r18\n\tstd Z+" #off "+1, r19\n\tstd Z+" #off "+2, r20\n\tstd Z+" #off "+3, r21\n\t"
#define EDGEC_AVR_SAVE "push r2\n\tpush r3\n\tpush r4\n\tpush r5\n\tpush r6\n\tpush r7\n\tpush r8\n\tpush r9\n\tpush r10\n\t" \
    "push r11\n\tpush r12\n\tpush r13\n\tpush r14\n\tpush r15\n\t"
#define EDGEC_AVR_RESTORE "pop r15\n\tpop r14\n\tpop r13\n\tpop r12\n\tpop r11\n\tpop r10\n\tpop r9\n\tpop r8\n\tpop r7\n\t" \
    "pop r6\n\tpop r5\n\tpop r4\n\tpop r3\n\tpop r2\n\t"
/* Sums and the zero register cleared, r15 = 0x40 (the bias's high byte). */
#define EDGEC_AVR_CLEAR "clr r2\n\tclr r3\n\tclr r4\n\tclr r5\n\tclr r6\n\tclr r7\n\tclr r8\n\tclr r9\n\tclr r10\n\tclr r11\n\t" \
    "clr r12\n\tclr r13\n\tclr r14\n\tldi r25, 0x40\n\tmov r15, r25\n\t"

/* One weight (LPM Z+ into r24) and its products: with input p into the sum s0:s1:s2 (EDGEC_AVR_MAC), and
 * the four weights of one channel's group over the inputs r20..r23 (EDGEC_AVR_MAC4, one pixel). */
#define EDGEC_AVR_LPM "lpm r24, Z+\n\t"
#define EDGEC_AVR_MAC(p, s0, s1, s2) "muls " #p ", r24\n\t" EDGEC_AVR_ADD24(s0, s1, s2)
#define EDGEC_AVR_MAC4(s0, s1, s2)                                                                                 \
    EDGEC_AVR_LPM EDGEC_AVR_MAC(r20, s0, s1, s2) EDGEC_AVR_LPM EDGEC_AVR_MAC(r21, s0, s1, s2)                       \
    EDGEC_AVR_LPM EDGEC_AVR_MAC(r22, s0, s1, s2) EDGEC_AVR_LPM EDGEC_AVR_MAC(r23, s0, s1, s2)
/* The one-pixel loops (pair and quad layout): x r25:r24, weights r23:r22, groups r20, acc r19:r18; the
 * group's four inputs in r20..r23, the weight r24, the count r25; X walks x, Z the weights.  `body` is one
 * group's products, `flush` the sums into acc. */
#define EDGEC_AVR_ONE_PIXEL(body, flush)                                                                           \
    EDGEC_AVR_SAVE "movw r26, r24\n\tmovw r30, r22\n\t" EDGEC_AVR_CLEAR "mov r25, r20\n\tpush r20\n\t"             \
    "1:\n\tld r20, X+\n\tld r21, X+\n\tld r22, X+\n\tld r23, X+\n\t" body "dec r25\n\tbreq 2f\n\trjmp 1b\n2:\n\t"   \
    "pop r15\n\tmovw r30, r18\n\t" flush "clr r1\n\t" EDGEC_AVR_RESTORE "ret\n\t"

/* Pair layout, two pixels: `groups` (1..127) whole groups, acc[0..3] += x0.a, x0.b, x1.a, x1.b.
 * Arguments (avr-gcc ABI): x0 r25:r24, x1 r23:r22, wp r21:r20, groups r18, acc r17:r16.  Sums: x0.a in
 * r2..r4, x0.b r5..r7, x1.a r8..r10, x1.b r11..r13; x0's four inputs r16..r19, x1's r20..r23 (MULS
 * takes r16..r31), the weight r24, the group count r25; X walks x0, Y x1, Z the weights.  Each weight
 * feeds both pixels (EDGEC_AVR_MAC2). */
#define EDGEC_AVR_MAC2(p, q, s0, s1, s2, t0, t1, t2) EDGEC_AVR_LPM EDGEC_AVR_MAC(p, s0, s1, s2) EDGEC_AVR_MAC(q, t0, t1, t2)
static __attribute__((naked, noinline, unused)) void edgec_avr_dot2x2(const int8_t *x0, const int8_t *x1, const EDGEC_ROM int8_t *wp,
                                                                   uint8_t groups, int32_t *acc)
{
    (void)x0; (void)x1; (void)wp; (void)groups; (void)acc;
    __asm__ volatile(
        EDGEC_AVR_SAVE "push r28\n\tpush r29\n\tpush r16\n\tpush r17\n\t"
        "movw r26, r24\n\tmovw r28, r22\n\tmovw r30, r20\n\t"
        EDGEC_AVR_CLEAR "mov r25, r18\n\tpush r18\n\t"
        "1:\n\t"
        "ld r16, X+\n\tld r17, X+\n\tld r18, X+\n\tld r19, X+\n\t"
        "ld r20, Y+\n\tld r21, Y+\n\tld r22, Y+\n\tld r23, Y+\n\t"
        EDGEC_AVR_MAC2(r16, r20, r2, r3, r4, r8, r9, r10) EDGEC_AVR_MAC2(r17, r21, r2, r3, r4, r8, r9, r10)
        EDGEC_AVR_MAC2(r18, r22, r2, r3, r4, r8, r9, r10) EDGEC_AVR_MAC2(r19, r23, r2, r3, r4, r8, r9, r10)
        EDGEC_AVR_MAC2(r16, r20, r5, r6, r7, r11, r12, r13) EDGEC_AVR_MAC2(r17, r21, r5, r6, r7, r11, r12, r13)
        EDGEC_AVR_MAC2(r18, r22, r5, r6, r7, r11, r12, r13) EDGEC_AVR_MAC2(r19, r23, r5, r6, r7, r11, r12, r13)
        "dec r25\n\tbreq 2f\n\trjmp 1b\n2:\n\t"
        "pop r15\n\tpop r17\n\tpop r16\n\tmovw r30, r16\n\t"
        EDGEC_AVR_FLUSH(r2, r3, r4, 0) EDGEC_AVR_FLUSH(r5, r6, r7, 4) EDGEC_AVR_FLUSH(r8, r9, r10, 8) EDGEC_AVR_FLUSH(r11, r12, r13, 12)
        "clr r1\n\tpop r29\n\tpop r28\n\t" EDGEC_AVR_RESTORE "ret\n\t");
}

/* Pair layout, one pixel: acc[0..1] += x.a, x.b (sums r2..r4 and r5..r7). */
static __attribute__((naked, noinline, unused)) void edgec_avr_dot1x2(const int8_t *x, const EDGEC_ROM int8_t *wp, uint8_t groups, int32_t *acc)
{
    (void)x; (void)wp; (void)groups; (void)acc;
    __asm__ volatile(EDGEC_AVR_ONE_PIXEL(EDGEC_AVR_MAC4(r2, r3, r4) EDGEC_AVR_MAC4(r5, r6, r7),
                                         EDGEC_AVR_FLUSH(r2, r3, r4, 0) EDGEC_AVR_FLUSH(r5, r6, r7, 4)));
}

/* Quad layout, one input vector x four channels: acc[0..3] += x.w_c (sums r2..r13, three bytes a channel). */
static __attribute__((naked, noinline, unused)) void edgec_avr_dot1x4(const int8_t *x, const EDGEC_ROM int8_t *wq, uint8_t groups, int32_t *acc)
{
    (void)x; (void)wq; (void)groups; (void)acc;
    __asm__ volatile(EDGEC_AVR_ONE_PIXEL(EDGEC_AVR_MAC4(r2, r3, r4) EDGEC_AVR_MAC4(r5, r6, r7) EDGEC_AVR_MAC4(r8, r9, r10)
                                         EDGEC_AVR_MAC4(r11, r12, r13),
                                         EDGEC_AVR_FLUSH(r2, r3, r4, 0) EDGEC_AVR_FLUSH(r5, r6, r7, 4) EDGEC_AVR_FLUSH(r8, r9, r10, 8)
                                         EDGEC_AVR_FLUSH(r11, r12, r13, 12)));
}

/* One channel of a last partial group (m < 4 inputs), one pixel: *acc += x . w over m.  Shared by
 * the wrappers below, which keep only their chunk loop: every byte of the 32 KB counts. */
EDGEC_HELPER void edgec_avr_tail(const int8_t *x, const EDGEC_ROM int8_t *w, uint8_t m, int32_t *acc)
{
    for (; m > 0; m--)
        *acc += *x++ * *w++;                    /* each product in int: exact where int is 16 bits */
}

/* Whether n inputs are whole groups of one chunk (1 to EDGEC_AVR_CHUNK of them): the usual case, which
 * the dot products below hand to their loop at once (a tail call), leaving the chunk loop and the last
 * partial group to the out-of-line edgec_avr_*_any: their frames cost about 100 cycles a call. */
#define EDGEC_AVR_ONE_CHUNK(n) ((uint16_t)((uint16_t)(n) - 4u) <= 4u * EDGEC_AVR_CHUNK - 4u && ((uint8_t)(n) & 3u) == 0)

/* Pair layout (codegen writes it for one-group convs): the weights of output channels 2j and 2j + 1
 * alternate in groups of four, a0 a1 a2 a3 b0 b1 b2 b3 a4 ..., the last group zero-padded.  Whole groups
 * go to the loops above in chunks; the inputs of a last partial group (n % 4) are read only up to n. */
EDGEC_HELPER void edgec_avr_dot2x2_any(const int8_t *x0, const int8_t *x1, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    uint16_t left = (uint16_t)n;                /* n <= the 2 KB of RAM the inputs come from */
    while (left >= 4) {
        const uint8_t c = (uint8_t)(left >= 4 * EDGEC_AVR_CHUNK ? EDGEC_AVR_CHUNK : left >> 2);
        edgec_avr_dot2x2(x0, x1, wp, c, acc);
        x0 += 4 * c;
        x1 += 4 * c;
        wp += 8 * c;
        left = (uint16_t)(left - 4u * c);
    }
    if (left) {
        edgec_avr_tail(x0, wp, (uint8_t)left, acc);
        edgec_avr_tail(x0, wp + 4, (uint8_t)left, acc + 1);
        edgec_avr_tail(x1, wp, (uint8_t)left, acc + 2);
        edgec_avr_tail(x1, wp + 4, (uint8_t)left, acc + 3);
    }
}

EDGEC_HELPER void edgec_dot2x2p_s8(const int8_t *x0, const int8_t *x1, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    if (EDGEC_AVR_ONE_CHUNK(n))
        edgec_avr_dot2x2(x0, x1, wp, (uint8_t)((uint16_t)n >> 2), acc);
    else
        edgec_avr_dot2x2_any(x0, x1, wp, n, acc);
}

/* One pixel x a pair of channels (pair layout): acc[0] += x . a, acc[1] += x . b. */
EDGEC_HELPER void edgec_avr_dot1x2_any(const int8_t *x, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    uint16_t left = (uint16_t)n;
    while (left >= 4) {
        const uint8_t c = (uint8_t)(left >= 4 * EDGEC_AVR_CHUNK ? EDGEC_AVR_CHUNK : left >> 2);
        edgec_avr_dot1x2(x, wp, c, acc);
        x += 4 * c;
        wp += 8 * c;
        left = (uint16_t)(left - 4u * c);
    }
    if (left) {
        edgec_avr_tail(x, wp, (uint8_t)left, acc);
        edgec_avr_tail(x, wp + 4, (uint8_t)left, acc + 1);
    }
}

EDGEC_HELPER void edgec_dot1x2p_s8(const int8_t *x, const EDGEC_ROM int8_t *wp, int32_t n, int32_t *acc)
{
    if (EDGEC_AVR_ONE_CHUNK(n))
        edgec_avr_dot1x2(x, wp, (uint8_t)((uint16_t)n >> 2), acc);
    else
        edgec_avr_dot1x2_any(x, wp, n, acc);
}

/* Quad layout (codegen writes it for fully-connected layers): output channels 4j .. 4j + 3 alternate in
 * groups of four inputs (16 bytes a group, the last zero-padded).  One input vector x four channels:
 * acc[c] += x . w_c.  Channels past the last (out_features % 4) have zero weights. */
EDGEC_HELPER void edgec_dot1x4q_s8(const int8_t *x, const EDGEC_ROM int8_t *wq, int32_t n, int32_t *acc)
{
    uint16_t left = (uint16_t)n;
    uint8_t c;
    while (left >= 4) {
        c = (uint8_t)(left >= 4 * EDGEC_AVR_CHUNK ? EDGEC_AVR_CHUNK : left >> 2);
        edgec_avr_dot1x4(x, wq, c, acc);
        x += 4 * c;
        wq += 16 * c;
        left = (uint16_t)(left - 4u * c);
    }
    for (c = 0; left && c < 4; c++)
        edgec_avr_tail(x, wq + 4 * c, (uint8_t)left, acc + c);
}

/* The requantization of one output in one naked function, edgec_avr_rq(x, q, zp): x = bias + acc, shifted
 * left by q->left, then the three steps of edgec_requant_s8 over the whole int8 range:
 * - edgec_srdhm(x, m) = (x * m + 2^30) >> 31 for m >= 0 (its one special case needs m = INT32_MIN): the
 *   64-bit product from 16 MULs column by column (x taken as unsigned, then m * 2^32 subtracted when
 *   x < 0), bits 30 up only.  Columns accumulate in a rolling three bytes of r26, r27, r30, r31, r16
 *   (bytes 3..7 of the product end there); r17 is zero.
 * - edgec_rdbp(v, r), v >> r rounded half away from zero, as floor((u + 2^(r-1)) / 2^r) with
 *   u = v - [v < 0] (edgec_rdbp's threshold), computed without a carry past 32 bits as w = u >> (r - 1)
 *   (bytes while 8 or more bits are left, then bits), then (w >> 1) + (w & 1).
 * - + zp, saturated to int8: a v outside [-256, 255] saturates whatever zp (|zp| <= 128), one inside
 *   takes a 16-bit add and a clamp.
 * About 150 cycles an output, call included, against about 320 for the C around two helpers it replaces.
 * x r25..r22, q r21:r20 (m r21..r18 once loaded, left then right in r28), zp r18 (then r29); int8 in r24. */
#define EDGEC_AVR_MUL(i, j, t0, t1, t2) "mul r" #i ", r" #j "\n\tadd " #t0 ", r0\n\tadc " #t1 ", r1\n\tadc " #t2 ", r17\n\t"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wreturn-type"              /* the asm returns in r24 */
typedef struct {
    int32_t multiplier;
    uint8_t left, right;                    /* read by edgec_avr_rq at offsets 4 and 5 */
} edgec_rq;

static __attribute__((naked, noinline, unused)) int8_t edgec_avr_rq(int32_t x, const edgec_rq *q, int8_t zp)
{
    (void)x; (void)q; (void)zp;
    __asm__ volatile(
        "push r16\n\tpush r17\n\tpush r28\n\tpush r29\n\t"
        "mov r29, r18\n\tmovw r30, r20\n\t"
        "ldd r18, Z+0\n\tldd r19, Z+1\n\tldd r20, Z+2\n\tldd r21, Z+3\n\tldd r28, Z+4\n\t"
        "tst r28\n\tbreq 1f\n"                          /* x <<= left */
        "0:\n\t"
        "lsl r22\n\trol r23\n\trol r24\n\trol r25\n\tdec r28\n\tbrne 0b\n"
        "1:\n\t"
        "ldd r28, Z+5\n\t"
        "clr r26\n\tclr r27\n\tclr r30\n\tclr r31\n\tclr r16\n\tclr r17\n\t"
        EDGEC_AVR_MUL(22, 18, r26, r27, r30) "clr r26\n\t"
        EDGEC_AVR_MUL(23, 18, r27, r30, r26) EDGEC_AVR_MUL(22, 19, r27, r30, r26) "clr r27\n\t"
        EDGEC_AVR_MUL(24, 18, r30, r26, r27) EDGEC_AVR_MUL(23, 19, r30, r26, r27) EDGEC_AVR_MUL(22, 20, r30, r26, r27) "clr r30\n\t"
        EDGEC_AVR_MUL(25, 18, r26, r27, r30) EDGEC_AVR_MUL(24, 19, r26, r27, r30) EDGEC_AVR_MUL(23, 20, r26, r27, r30)
        EDGEC_AVR_MUL(22, 21, r26, r27, r30)
        EDGEC_AVR_MUL(25, 19, r27, r30, r31) EDGEC_AVR_MUL(24, 20, r27, r30, r31) EDGEC_AVR_MUL(23, 21, r27, r30, r31)
        EDGEC_AVR_MUL(25, 20, r30, r31, r16) EDGEC_AVR_MUL(24, 21, r30, r31, r16)
        "mul r25, r21\n\tadd r31, r0\n\tadc r16, r1\n\t"
        "sbrs r25, 7\n\trjmp 2f\n\t"                     /* x < 0: the high word minus m */
        "sub r27, r18\n\tsbc r30, r19\n\tsbc r31, r20\n\tsbc r16, r21\n"
        "2:\n\t"
        "subi r26, 0xC0\n\tbrcs 3f\n\t"                  /* + 2^30 (0x40 in byte 3), carried up */
        "subi r27, 0xFF\n\tsbci r30, 0xFF\n\tsbci r31, 0xFF\n\tsbci r16, 0xFF\n"
        "3:\n\t"
        "lsl r26\n\trol r27\n\trol r30\n\trol r31\n\trol r16\n\t"   /* >> 31: bytes 4..7 shifted left by one */
        "mov r22, r27\n\tmov r23, r30\n\tmov r24, r31\n\tmov r25, r16\n\t"
        "tst r28\n\tbreq 7f\n\t"                         /* right == 0: v as it is */
        "sbrs r25, 7\n\trjmp 4f\n\t"                     /* u = v - [v < 0] */
        "subi r22, 1\n\tsbci r23, 0\n\tsbci r24, 0\n\tsbci r25, 0\n"
        "4:\n\t"
        "dec r28\n"                                      /* w = u >> (right - 1): bytes, then bits */
        "5:\n\t"
        "cpi r28, 8\n\tbrlo 6f\n\t"
        "mov r22, r23\n\tmov r23, r24\n\tmov r24, r25\n\tlsl r25\n\tsbc r25, r25\n\tsubi r28, 8\n\trjmp 5b\n"
        "6:\n\t"
        "tst r28\n\tbreq 8f\n"
        "9:\n\t"
        "asr r25\n\tror r24\n\tror r23\n\tror r22\n\tdec r28\n\tbrne 9b\n"
        "8:\n\t"
        "asr r25\n\tror r24\n\tror r23\n\tror r22\n\t"  /* (w >> 1) + (w & 1) */
        "adc r22, r17\n\tadc r23, r17\n\tadc r24, r17\n\tadc r25, r17\n"
        "7:\n\t"
        "mov r26, r25\n\tlsl r26\n\tsbc r26, r26\n\t"   /* r26: v's sign byte */
        "cp r25, r26\n\tbrne 10f\n\tcp r24, r26\n\tbrne 10f\n\tcp r23, r26\n\tbrne 10f\n\t"
        "mov r27, r29\n\tlsl r27\n\tsbc r27, r27\n\t"   /* v in [-256, 255]: + zp in 16 bits */
        "add r22, r29\n\tadc r23, r27\n\t"
        "mov r26, r22\n\tlsl r26\n\tsbc r26, r26\n\t"
        "cp r23, r26\n\tbrne 11f\n\t"
        "mov r24, r22\n\trjmp 12f\n"
        "10:\n\t"
        "mov r23, r25\n"                                 /* saturate by the sign in r23 */
        "11:\n\t"
        "ldi r24, 0x7F\n\tsbrc r23, 7\n\tldi r24, 0x80\n"
        "12:\n\t"
        "clr r1\n\tpop r29\n\tpop r28\n\tpop r17\n\tpop r16\n\tret\n\t");
}
#pragma GCC diagnostic pop

/* Requantization prepared once per output channel (edgec_rq above): the multiplier, and the shift split
 * into the left shift before the doubling high multiply and the rounding right shift after it.
 * edgec_rq_s8 gives edgec_requant_s8's integer over the whole int8 range; edgec_rq_fast asks every
 * multiplier of the layer to be >= 0 (edgec_avr_rq's range; quantize writes them in [0, 2^31)). */
EDGEC_HELPER void edgec_rq_prepare(edgec_rq *q, int32_t multiplier, int32_t shift)
{
    q->multiplier = multiplier;
    q->left = (uint8_t)(shift > 0 ? shift : 0);
    q->right = (uint8_t)(shift > 0 ? 0 : -shift);
}

/* requant(bias + acc) + out_zp, saturated to int8: edgec_requant_s8 over the whole int8 range. */
static inline int8_t edgec_rq_s8(const edgec_rq *q, uint32_t bias, int32_t acc, int32_t out_zp)
{
    return edgec_avr_rq((int32_t)(bias + (uint32_t)acc), q, (int8_t)out_zp);
}

#include "edgec_dot_common.h"    /* columns, depthwise, edgec_rq_fast, edgec_rq_run_s8 */
#include "edgec_wide_c.h"     /* the wide path in portable C (edgec_wide_c.h) */

#endif
