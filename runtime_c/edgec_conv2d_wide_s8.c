/* One-group Conv2D over wide weights: flash traded for speed where the --flash budget allows
 * (passes/plan_wide.py chooses the layers).  Twin: reference.conv2d_s8.
 *
 * The weights come pre-sign-extended in the wide quad layout (edgec_wide_c.h, codegen/layouts.py
 * wide_quad_layout) and each output channel's requantization prepared at compile time (edgec_wide_rq; the
 * layer's activation range is the whole int8 range, codegen checks).  For each pair of output pixels both
 * windows are sign-extended once into the columns scratch (edgec_cols_put4's order), then
 * edgec_wide_quads runs every output channel quad over them: loads and SMLADs only, with the
 * requantization and stores in the same loop.  A lone last pixel is computed as a pair with itself, its
 * outputs stored twice in place; a channel count's last 1-3 channels (not a multiple of 4) go through an
 * 8-byte staging block.  `bias` arrives with the input zero
 * point folded in (edgec_conv_common.h), inside the records (whose first word says whether their zero
 * point is apart), so padding taps read in_zp.  Row bands as edgec_conv2d_s8.  `cols`: 4-aligned,
 * 2 * K4 int16 (K4 = k_h * k_w * in_c rounded up to 4) and 6 int32 after them, then (in_c not a
 * multiple of 4) K4 bytes to stage a window. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

#if defined(EDGEC_WIDE_ASM)             /* the DSP variant of edgec_dot.h, optimizing: its SXTB16 and asm */
#define EDGEC_WIDE_PUT16
/* m * 4 fours of one pixel's columns from m * 16 int8 at x (edgec_wide_put's copy), four fours an
 * iteration: the four word loads back to back (pipelined), the eight SXTB16, then the eight stores back
 * to back, 28 cycles against 40 for the C two fours at a time.  The columns' end. */
static inline int16_t *edgec_wide_put16(int16_t *dst, const int8_t *x, int32_t m)
{
    const int8_t *const end = x + 16 * m;
    int32_t a, b, c, d, a1, b1, c1, d1;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[a], [%[x]]\n\t"
        "ldr %[b], [%[x], #4]\n\t"
        "ldr %[c], [%[x], #8]\n\t"
        "ldr %[d], [%[x], #12]\n\t"
        "adds %[x], %[x], #16\n\t"
        "sxtb16 %[a1], %[a], ror #8\n\t"
        "sxtb16 %[a], %[a]\n\t"
        "sxtb16 %[b1], %[b], ror #8\n\t"
        "sxtb16 %[b], %[b]\n\t"
        "sxtb16 %[c1], %[c], ror #8\n\t"
        "sxtb16 %[c], %[c]\n\t"
        "sxtb16 %[d1], %[d], ror #8\n\t"
        "sxtb16 %[d], %[d]\n\t"
        "str %[a], [%[o]]\n\t"
        "str %[a1], [%[o], #4]\n\t"
        "str %[b], [%[o], #16]\n\t"
        "str %[b1], [%[o], #20]\n\t"
        "str %[c], [%[o], #32]\n\t"
        "str %[c1], [%[o], #36]\n\t"
        "str %[d], [%[o], #48]\n\t"
        "str %[d1], [%[o], #52]\n\t"
        "adds %[o], %[o], #64\n\t"
        "cmp %[x], %[e]\n\t"
        "bne 1b\n\t"
        : [x] "+r"(x), [o] "+r"(dst), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d), [a1] "=&r"(a1), [b1] "=&r"(b1),
          [c1] "=&r"(c1), [d1] "=&r"(d1)
        : [e] "r"(end)
        : "cc", "memory");
    return dst;
}
#endif

/* n fours of one pixel's columns (every 8th int16 four) from n * 4 int8 at x, or all `zp` (x null). */
static void edgec_wide_put(int16_t *dst, const int8_t *x, int32_t n, int32_t zp)
{
    if (x) {
#if defined(EDGEC_WIDE_PUT16)
        if (n >= 4) {
            dst = edgec_wide_put16(dst, x, n >> 2);
            x += 16 * (n >> 2);
            n &= 3;
        }
#endif
        for (; n >= 2; n -= 2, dst += 16, x += 8) {     /* two fours an iteration: the hot loop of window convs */
            edgec_cols_put4(dst, x);
            edgec_cols_put4(dst + 8, x + 4);
        }
        if (n > 0)
            edgec_cols_put4(dst, x);
    } else
        for (; n > 0; n--, dst += 8)
            dst[0] = dst[1] = dst[2] = dst[3] = (int16_t)zp;
}

/* Two pixels' columns (slots 0 and 1) from n * 4 int8 each at x0 and x1: a pointwise conv's inputs
 * are its columns already, but for the sign extension. */
static void edgec_wide_put2(int16_t *dst, const int8_t *x0, const int8_t *x1, int32_t n)
{
#if defined(EDGEC_WIDE_ASM)
    /* two fours an iteration: the four word loads back to back, eight SXTB16 and one STM of the eight
     * columns words (slot 0's two, slot 1's two, twice): 26 cycles against 36 for the C; an odd last four
     * likewise */
    register int16_t *o __asm__("r0") = dst;
    register const int8_t *u __asm__("r1") = x0, *v __asm__("r2") = x1;
    register int32_t k __asm__("r3") = n;
    __asm__ volatile(
        "asrs r12, %[k], #1\n\t"
        "beq 2f\n\t"
        "1:\n\t"
        "ldr r4, [%[u]], #4\n\t"
        "ldr r6, [%[v]], #4\n\t"
        "ldr r8, [%[u]], #4\n\t"
        "ldr r10, [%[v]], #4\n\t"
        "sxtb16 r5, r4, ror #8\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r7, r6, ror #8\n\t"
        "sxtb16 r6, r6\n\t"
        "sxtb16 r9, r8, ror #8\n\t"
        "sxtb16 r8, r8\n\t"
        "sxtb16 r11, r10, ror #8\n\t"
        "sxtb16 r10, r10\n\t"
        "stm %[o]!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "subs r12, r12, #1\n\t"
        "bne 1b\n\t"
        "2:\n\t"
        "lsls r12, %[k], #31\n\t"                 /* n odd: its last four */
        "beq 3f\n\t"
        "ldr r4, [%[u]]\n\t"
        "ldr r6, [%[v]]\n\t"
        "sxtb16 r5, r4, ror #8\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r7, r6, ror #8\n\t"
        "sxtb16 r6, r6\n\t"
        "stm %[o], {r4, r5, r6, r7}\n\t"
        "3:\n\t"
        : [o] "+r"(o), [u] "+r"(u), [v] "+r"(v), [k] "+r"(k)
        :
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
#else
    for (; n > 0; n--, dst += 8, x0 += 4, x1 += 4) {
        edgec_cols_put4(dst, x0);
        edgec_cols_put4(dst + 4, x1);
    }
#endif
}

/* n bytes from x, a word at a time (unaligned word loads where the core has them). */
EDGEC_PATH void edgec_wide_bytes(int8_t *dst, const int8_t *x, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, x += 4)
        __builtin_memcpy(dst, x, 4);
    for (; n > 0; n--)
        *dst++ = *x++;
}

#if !defined(EDGEC_WIDE_ASM)             /* (the DSP variant's gather1 puts such windows as columns) */
/* A window inside the image, undilated across: k_h runs of `row` bytes `line` apart, a word at a time;
 * the end of what it wrote. */
static int8_t *edgec_wide_rows(int8_t *s, const int8_t *x, int32_t k_h, int32_t row, int32_t line)
{
    for (; k_h > 0; k_h--, x += line) {
        const int8_t *q = x, *const e = x + row;
        for (; e - q >= 4; q += 4, s += 4)
            __builtin_memcpy(s, q, 4);
        while (q < e)
            *s++ = *q++;
    }
    return s;
}
#endif

/* The window of output pixel (oy, ox) into columns slot `dst` (cols + 4 * slot): inputs in the weights'
 * (ky, kx, ic) order, padding taps as in_zp, inputs past K as 0.  The first and one-past-last kernel
 * column inside the image, undilated: kx0, kx1.  in_c a multiple of 4 (edgec_wide_gather4): four inputs
 * at a time straight from the input, a kernel row at a time where all its columns are inside.
 * Otherwise (edgec_wide_gather1, a first layer's few channels) the window is staged as bytes in
 * `stage`: k_h runs when it lies inside, else per kernel row its left padding, one run of the input and
 * its right padding (a tap at a time when dilated across). */
static void edgec_wide_gather4(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *img, int32_t in_row0, int32_t oy, int32_t ox,
                               int16_t *dst)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, zp = p->in_zp, dil_w = p->dil_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left, row = k_w * in_c;
    const int32_t runs = dil_w == 1 && ix0 >= 0 && ix0 + k_w <= in_w;
    int32_t ky, kx;
#if defined(EDGEC_WIDE_PUT16)
    if (runs && (row & 15) == 0 && iy0 >= 0 && iy0 + (k_h - 1) * p->dil_h < in_h) {    /* inside: kernel rows one after the other */
        const int8_t *x = img + ((iy0 - in_row0) * in_w + ix0) * in_c;
        const int32_t line = p->dil_h * in_w * in_c;
        for (ky = 0; ky < k_h; ky++, x += line)
            dst = edgec_wide_put16(dst, x, row >> 4);
        return;
    }
#endif
    for (ky = 0; ky < k_h; ky++, dst += 2 * row) {
        const int32_t iy = iy0 + ky * p->dil_h, in_row = iy >= 0 && iy < in_h;
        const int8_t *const x = img + ((iy - in_row0) * in_w + ix0) * in_c;        /* used only inside */
        if (runs)
            edgec_wide_put(dst, in_row ? x : (const int8_t *)0, row >> 2, zp);
        else
            for (kx = 0; kx < k_w; kx++) {
                const int32_t ix = ix0 + kx * dil_w;
                edgec_wide_put(dst + 2 * kx * in_c, in_row && ix >= 0 && ix < in_w ? x + kx * dil_w * in_c : (const int8_t *)0,
                               in_c >> 2, zp);
            }
    }
}

#if defined(EDGEC_WIDE_ASM)             /* the DSP variant of edgec_dot.h, optimizing: its SXTB16 and asm */
#define EDGEC_WIDE_ROWS_COLS
static inline void edgec_wide_put_word(int16_t *dst, uint32_t v)      /* edgec_cols_put4 of a word in hand */
{
    int8x4_t b;
    int16x2_t lo, hi;
    __builtin_memcpy(&b, &v, 4);
    lo = __sxtb16(b);
    hi = edgec_sxtb16_ror8(b);
    __builtin_memcpy(dst, &lo, 4);
    __builtin_memcpy(dst + 2, &hi, 4);
}

/* edgec_wide_gather1's window where it lies inside, undilated, its k_h runs of `row` >= 4 bytes: straight
 * into the columns a word at a time, without the staging copy.  A four that spans two runs is the end of
 * the first (a word load ending at the run's end, shifted down: row >= 4 keeps it inside the run) and
 * the start of the next (its first word, shifted up); the last four's bytes past K stay 0.  Word loads
 * and shifts only (a first layer's 3x3x3 window: 5 words and 5 partial fours, against 27 staged bytes). */
static void edgec_wide_rows_cols(int16_t *dst, const int8_t *x, int32_t k_h, int32_t row, int32_t line)
{
    uint32_t acc = 0, w;
    int32_t have = 0;                               /* bytes of the open four in acc, the first lowest */
    for (; k_h > 0; k_h--, x += line) {
        const int8_t *q = x, *const e = x + row;
        if (have) {
            __builtin_memcpy(&w, q, 4);
            edgec_wide_put_word(dst, acc | w << (8 * have));
            dst += 8;
            q += 4 - have;
        }
        for (; e - q >= 4; q += 4, dst += 8) {
            __builtin_memcpy(&w, q, 4);
            edgec_wide_put_word(dst, w);
        }
        have = (int32_t)(e - q);
        if (have) {
            __builtin_memcpy(&w, e - 4, 4);
            acc = w >> (8 * (4 - have));
        }
    }
    if (have)
        edgec_wide_put_word(dst, acc);
}

/* A 3x3x3 window (k_h = 3 runs of 9 bytes, a first layer's RGB 3x3) inside the image: its 27 inputs as
 * 7 fours straight from 9 word loads, the fours that span two runs put together with shifts (the last
 * four's byte past K is 0), no byte ever read outside the three runs.  About 40 cycles against 250 for
 * edgec_wide_gather1 with its parameter loads and run loop. */
#define EDGEC_WIDE_WIN3X9
static inline void edgec_wide_win3x9(int16_t *dst, const int8_t *x, int32_t line)
{
    const int8_t *const x1 = x + line, *const x2 = x1 + line;
    uint32_t a0, a1, a2, b0, b1, b2, c0, c1, c2;
    __builtin_memcpy(&a0, x, 4);                    /* run 0: bytes 0-3, 4-7, 5-8 */
    __builtin_memcpy(&a1, x + 4, 4);
    __builtin_memcpy(&a2, x + 5, 4);
    __builtin_memcpy(&b0, x1, 4);                   /* run 1: 0-3, 3-6, 5-8 */
    __builtin_memcpy(&b1, x1 + 3, 4);
    __builtin_memcpy(&b2, x1 + 5, 4);
    __builtin_memcpy(&c0, x2, 4);                   /* run 2: 0-3, 2-5, 5-8 */
    __builtin_memcpy(&c1, x2 + 2, 4);
    __builtin_memcpy(&c2, x2 + 5, 4);
    edgec_wide_put_word(dst, a0);                   /* inputs 0-3 */
    edgec_wide_put_word(dst + 8, a1);               /* 4-7 */
    edgec_wide_put_word(dst + 16, a2 >> 24 | b0 << 8);      /* 8, then run 1's 0-2 */
    edgec_wide_put_word(dst + 24, b1);              /* run 1's 3-6 */
    edgec_wide_put_word(dst + 32, b2 >> 16 | c0 << 16);     /* its 7-8, run 2's 0-1 */
    edgec_wide_put_word(dst + 40, c1);              /* run 2's 2-5 */
    edgec_wide_put_word(dst + 48, c2 >> 8);         /* its 6-8 and a 0 */
}
#endif

static void edgec_wide_gather1(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *img, int32_t in_row0, int32_t oy, int32_t ox,
                               int16_t *dst, int8_t *stage)
{
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, zp = p->in_zp, dil_w = p->dil_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left, row = k_w * in_c;
    const int32_t k4 = (k_h * row + 3) & ~3;
    const int32_t kx0 = ix0 < 0 ? (-ix0 < k_w ? -ix0 : k_w) : 0, kx1 = in_w - ix0 < k_w ? (in_w - ix0 > kx0 ? in_w - ix0 : kx0) : k_w;
    const int32_t inside = dil_w == 1 && kx0 == 0 && kx1 == k_w && iy0 >= 0 && iy0 + (k_h - 1) * p->dil_h < in_h;
    int8_t *s = stage;
#if defined(EDGEC_WIDE_ROWS_COLS)
    if (inside && row >= 4) {           /* (runs under 4 bytes: as padded, every tap inside) */
        edgec_wide_rows_cols(dst, img + ((iy0 - in_row0) * in_w + ix0) * in_c, k_h, row, p->dil_h * in_w * in_c);
        return;
    }
#else
    if (inside)
        s = edgec_wide_rows(s, img + ((iy0 - in_row0) * in_w + ix0) * in_c, k_h, row, p->dil_h * in_w * in_c);
    else
#endif
    {                                   /* the whole window in_zp a word at a time, then the taps inside */
        const uint32_t zp4 = (uint32_t)(uint8_t)zp * 0x01010101u;
        int32_t ky;
        for (; s < stage + k4; s += 4)
            __builtin_memcpy(s, &zp4, 4);
        for (ky = 0, s = stage; ky < k_h; ky++, s += row) {
            const int32_t iy = iy0 + ky * p->dil_h;
            const int8_t *const x = img + ((iy - in_row0) * in_w + ix0) * in_c;    /* used only inside */
            if (iy < 0 || iy >= in_h)
                continue;
            if (dil_w == 1)
                edgec_wide_bytes(s + kx0 * in_c, x + kx0 * in_c, (kx1 - kx0) * in_c);
            else {
                int32_t kx;
                for (kx = 0; kx < k_w; kx++) {
                    const int32_t ix = ix0 + kx * dil_w;
                    if (ix >= 0 && ix < in_w)
                        edgec_wide_bytes(s + kx * in_c, x + kx * dil_w * in_c, in_c);
                }
            }
        }
    }
    while (s < stage + k4)                          /* inputs past K: 0 (the weights are 0 there too) */
        *s++ = 0;
    for (s = stage; s < stage + k4; s += 4, dst += 8)
        edgec_cols_put4(dst, s);
}

/* The last 1-3 channels (out_c not a multiple of 4) with their zero padding channels, staged: both
 * pixels' outputs to y[0..rest) and `step` bytes after.  Apart from the nests, so that a firmware holds it
 * once. */
EDGEC_PATH void edgec_wide_rest(int16_t *cols, int32_t groups, const EDGEC_ROM int32_t *w, const EDGEC_ROM int32_t *rq, int8_t *y,
                                int32_t step, int32_t rest, int32_t apart)
{
    int8_t t[8];
    int32_t c;
    edgec_wide_quads(cols, groups, w, rq, 1, t, 4, apart);
    for (c = 0; c < rest; c++) {
        y[c] = t[c];
        y[step + c] = t[4 + c];
    }
}

/* The loop nest, with its window gather a constant (`how`: EDGEC_WIDE_PW, _4, _1 or _3X9), so that each entry
 * point below carries only its own: a firmware linked with --gc-sections then holds the gathers its
 * model's convs use (codegen picks the entry from the shapes, as conv_entry does; a model image calls
 * edgec_conv2d_wide_s8, which picks at run time). */
#define EDGEC_WIDE_PW 0
#define EDGEC_WIDE_4 4
#define EDGEC_WIDE_1 1
#define EDGEC_WIDE_3X9 9
#if defined(__GNUC__)
#define EDGEC_WIDE_NEST static inline __attribute__((always_inline)) void
#else
#define EDGEC_WIDE_NEST static void
#endif
EDGEC_WIDE_NEST edgec_wide_nest(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                                const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols,
                                const int32_t how)
{
    const int32_t k4 = (p->k_h * p->k_w * p->in_c + 3) & ~3, groups = k4 >> 2, out_w = p->out_w, out_c = p->out_c;
    const int32_t stride = p->out_stride, pixels = out_rows * out_w, quads = out_c >> 2, rest = out_c & 3, batch = p->batch;
    const int32_t image = p->in_h * p->in_w * p->in_c, apart = records[0];
    const EDGEC_ROM int32_t *w_rest = weights + 8 * groups * quads, *rq = records + 1, *rq_rest = rq + 24 * quads;
    int8_t *const stage = (int8_t *)(void *)(cols + 2 * k4 + 12);          /* after the columns and 6 int32 */
    const int32_t in_c = p->in_c;
    int32_t n, px;
#if defined(EDGEC_WIDE_WIN3X9)
    /* EDGEC_WIDE_3X9: the windows inside the image go through edgec_wide_win3x9 */
    const int32_t line = p->in_w * in_c, s_h = p->stride_h, s_w = p->stride_w, pad_t = p->pad_top, pad_l = p->pad_left;
    const int32_t in_h = p->in_h, in_w = p->in_w, k_w = p->k_w;
#endif
    for (n = 0; n < batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)image, *px_in = img + (out_row0 - in_row0) * p->in_w * in_c;
        int8_t *y = out + (size_t)(n * pixels) * (size_t)stride;
        int32_t oy = out_row0, ox = 0;              /* pixel px's place, kept without a division */
        for (px = 0; px < pixels; px += 2, y += 2 * stride) {
            const int32_t both = px + 1 < pixels, step = both ? stride : 0, px1 = both ? px + 1 : px;
            const int32_t oy1 = both && ox + 1 == out_w ? oy + 1 : oy, ox1 = !both ? ox : (ox + 1 == out_w ? 0 : ox + 1);
            if (how == EDGEC_WIDE_PW)       /* both pixels' inputs as they lie, four by four */
                edgec_wide_put2(cols, px_in + px * in_c, px_in + px1 * in_c, groups);
            else if (how == EDGEC_WIDE_4) {
                edgec_wide_gather4(p, img, in_row0, oy, ox, cols);
                edgec_wide_gather4(p, img, in_row0, oy1, ox1, cols + 4);
            } else if (how == EDGEC_WIDE_1) {
                edgec_wide_gather1(p, img, in_row0, oy, ox, cols, stage);
                edgec_wide_gather1(p, img, in_row0, oy1, ox1, cols + 4, stage);
            } else {                        /* EDGEC_WIDE_3X9 */
#if defined(EDGEC_WIDE_WIN3X9)
                const int32_t iy = oy * s_h - pad_t, ix = ox * s_w - pad_l, iy1 = oy1 * s_h - pad_t, ix1 = ox1 * s_w - pad_l;
                if (iy >= 0 && iy + 3 <= in_h && ix >= 0 && ix + k_w <= in_w)
                    edgec_wide_win3x9(cols, img + (iy - in_row0) * line + ix * in_c, line);
                else
#endif
                    edgec_wide_gather1(p, img, in_row0, oy, ox, cols, stage);
#if defined(EDGEC_WIDE_WIN3X9)
                if (iy1 >= 0 && iy1 + 3 <= in_h && ix1 >= 0 && ix1 + k_w <= in_w)
                    edgec_wide_win3x9(cols + 4, img + (iy1 - in_row0) * line + ix1 * in_c, line);
                else
#endif
                    edgec_wide_gather1(p, img, in_row0, oy1, ox1, cols + 4, stage);
            }
            ox += 2;                        /* the next pair's first pixel */
            while (how != EDGEC_WIDE_PW && ox >= out_w) {
                ox -= out_w;
                oy++;
            }
            if (quads > 0)
                edgec_wide_quads(cols, groups, weights, rq, quads, y, step, apart);
            if (rest)
                edgec_wide_rest(cols, groups, w_rest, rq_rest, y + out_c - rest, step, rest, apart);
        }
    }
}

/* A 1x1 conv, stride 1, no padding, in_c a multiple of 4: its inputs are its columns. */
void edgec_conv2d_wide_pw_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                             const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols)
{
    edgec_wide_nest(p, in, in_row0, weights, records, out, out_row0, out_rows, cols, EDGEC_WIDE_PW);
}

/* Any other window, in_c a multiple of 4. */
void edgec_conv2d_wide4_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                           const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols)
{
    edgec_wide_nest(p, in, in_row0, weights, records, out, out_row0, out_rows, cols, EDGEC_WIDE_4);
}

/* in_c not a multiple of 4 (a first layer's few channels): windows staged as bytes. */
void edgec_conv2d_wide1_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                           const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols)
{
    edgec_wide_nest(p, in, in_row0, weights, records, out, out_row0, out_rows, cols, EDGEC_WIDE_1);
}

/* Three undilated runs of 9 bytes (a first layer's 3x3 over RGB, in_c = 3): the windows inside the
 * image as edgec_wide_win3x9 puts them (where the core has it), the others as wide1.  Its own entry, so
 * that only a model with such a layer links it. */
void edgec_conv2d_wide3x9_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0,
                             const EDGEC_ROM int32_t *weights, const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0,
                             int32_t out_rows, int16_t *cols)
{
    edgec_wide_nest(p, in, in_row0, weights, records, out, out_row0, out_rows, cols, EDGEC_WIDE_3X9);
}

/* The entry a model image calls: the same choice as codegen's (codegen/c.py, wide_entry), at run time. */
void edgec_conv2d_wide_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                          const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols)
{
    if ((p->in_c & 3) != 0 && p->k_h == 3 && p->k_w * p->in_c == 9 && p->dil_h == 1 && p->dil_w == 1)
        edgec_conv2d_wide3x9_s8(p, in, in_row0, weights, records, out, out_row0, out_rows, cols);
    else if ((p->in_c & 3) != 0)
        edgec_conv2d_wide1_s8(p, in, in_row0, weights, records, out, out_row0, out_rows, cols);
    else if (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
             p->in_h == p->out_h && p->in_w == p->out_w)
        edgec_conv2d_wide_pw_s8(p, in, in_row0, weights, records, out, out_row0, out_rows, cols);
    else
        edgec_conv2d_wide4_s8(p, in, in_row0, weights, records, out, out_row0, out_rows, cols);
}
