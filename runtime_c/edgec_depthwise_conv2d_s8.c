/* Depthwise conv (one input and one output channel per group), int8 in/out, int8 per-channel weights in
 * the quad layout, int32 bias.  Twin: reference.conv2d_s8.  Row bands and the folded bias:
 * edgec_conv_common.h. */
#include "edgec_conv_common.h"

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
            y[j] = edgec_requant_any(ch[j].bias, acc[j], &ch[j], o);
    }
}

/* A run of `count` depthwise output pixels of one row, four channels, whose windows lie inside the
 * input: x at the first window's top-left tap, x_step and y_step between pixels. */
static void edgec_dw_run(const int8_t *x, int32_t x_step, int8_t *y, int32_t y_step, int32_t count, int32_t step_x, int32_t step_y,
                         int32_t k_h, int32_t k_w, const EDGEC_ROM int8_t *wq, const edgec_ch *ch, const edgec_outq *o)
{
    for (; count > 0; count--, x += x_step, y += y_step) {
#if defined(__ARM_ARCH_6M__)                   /* gcc for Armv6-M zeroes an initializer with a call to memset */
        int32_t acc[4];
        acc[0] = acc[1] = acc[2] = acc[3] = 0;
#else
        int32_t acc[4] = {0, 0, 0, 0};
#endif
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
#if defined(__ARM_ARCH_6M__)     /* no unaligned loads: gcc calls memcpy for each word; aligned words load whole */
        if ((((uintptr_t)x | (uintptr_t)c_n) & 3) == 0)
            for (; sx < hi; sx++, x += c_n)
                __builtin_memcpy(&strip[sx], __builtin_assume_aligned(x, 4), 4);
        else
            for (; sx < hi; sx++, x += c_n) {
                int8_t *d = (int8_t *)&strip[sx];
                d[0] = x[0];
                d[1] = x[1];
                d[2] = x[2];
                d[3] = x[3];
            }
#endif
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
                            y[i * o_run] = edgec_requant_any(0, acc[i], &ch, &o);
                    y += count * o_run;
                }
            }
        }
    }
}

#if defined(EDGEC_DW3P)
#define EDGEC_DW_TILE 512       /* int16s of the four channel planes of a 3x3 depthwise tile (edgec_dw_planes), on the stack: 1 KB (VWW: 768 saves 0.1 M instructions for 0.4 KB more stack, 384 costs 0.1 M for 0.25 KB less) */
#define EDGEC_DW_TACC 62        /* accumulators of a tile's outputs of one channel, on the stack (62, not 64: the planes' frame is the stack's peak) */
#define EDGEC_DW_BIAS (INT32_C(1) << 28)  /* |bias| below it: edgec_dw3p_rq's form applies (edgec_dw_planes) */
/* Once a call or a tile, not per channel: compiled for size (gcc's cold functions are), out of line:
 * 0.2 KB less code, and the channel loop's registers then fared better (KWS 3.681 -> 3.656 M
 * instructions, VWW 11.45 -> 11.40 M); the per-quad weight packing stays inline (cold: slower, larger). */
#if defined(__GNUC__)
#define EDGEC_DW_COLD static __attribute__((cold, noinline))
#else
#define EDGEC_DW_COLD static
#endif

/* int16s across a plane of a tile q outputs wide at stride s: the windows' positions, the odd
 * output's pass included (the passes go two outputs at a time), rounded up to even (word-aligned rows). */
static int32_t edgec_dw_pw(int32_t q, int32_t s)
{
    return ((((q + 1) & ~1) - 1) * s + 4) & ~1;
}

/* The tile of a 3x3 depthwise band (edgec_dw_planes): q outputs across, *r down, that costs the fewest
 * instructions an output by a rough count (three a converted input per channel, thirty a row of outputs
 * and forty a tile for the setting up; a pass of two for an odd q's last output: at stride 1 rows of 5
 * or more end in a pass of three instead, but leaving those out of the penalty chose no better tile on
 * KWS or VWW), or 0 where no tile of the planes fits. */
EDGEC_DW_COLD int32_t edgec_dw_tile(int32_t out_w, int32_t out_rows, int32_t s, int32_t *r)
{
    int32_t k, best = 0, best_cost = 0;
    for (k = 1; k <= out_w; k++) {
        const int32_t q = (out_w + k - 1) / k, pw = edgec_dw_pw(q, s), room = EDGEC_DW_TILE / (4 * pw);
        int32_t rr, cost;
        if (q + 1 > EDGEC_DW_TACC || room < 3)
            continue;
        rr = (room - 3) / s + 1;
        rr = rr < out_rows ? rr : out_rows;
        rr = rr < (EDGEC_DW_TACC - 1) / q ? rr : (EDGEC_DW_TACC - 1) / q;
        if (k == 1 && rr == out_rows) {     /* the whole band in one tile */
            *r = rr;
            return q;
        }
        cost = (pw * ((rr - 1) * s + 3) * 3 + rr * 30 + 40 + (q & 1) * rr * 13) * 64 / (q * rr);
        if (!best || cost < best_cost) {
            best = q;
            best_cost = cost;
            *r = rr;
        }
        if (q == 1 || (k >= 8 && best))      /* narrower tiles only add conversion */
            break;
    }
    return best;
}

/* The padding of a tile (th rows from input row iy0, pw positions from input column ix0) in its four
 * int16 planes (pl + k * th * pw): in_zp at every position outside the input.  Once a tile: every four
 * channels then write only the positions inside (edgec_dw_in16). */
EDGEC_DW_COLD void edgec_dw_pad16(const EDGEC_ROM edgec_conv2d_params *p, int32_t iy0, int32_t ix0, int32_t th, int32_t pw, int16_t *pl)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, plane = th * pw;
    const int16_t zp = (int16_t)p->in_zp;
    const int32_t lo = -ix0 < 0 ? 0 : (-ix0 < pw ? -ix0 : pw), hi = in_w - ix0 < lo ? lo : (in_w - ix0 < pw ? in_w - ix0 : pw);
    int32_t row, j, k;
    for (row = 0; row < th; row++, pl += pw) {
        const int32_t inside = iy0 + row >= 0 && iy0 + row < in_h;
        for (j = 0; j < pw; j++) {
            if (inside && j == lo)
                j = hi;
            if (j < pw)
                for (k = 0; k < 4; k++)
                    pl[j + k * plane] = zp;
        }
    }
}

static inline void edgec_dw_put2(int16_t *d, uint32_t v)
{
    __builtin_memcpy(d, &v, 4);
}

/* A tile's input conversion (edgec_dw_in16), the same for every four channels: prepared once a tile
 * (eight words: the planes' frame is the stack's peak). */
typedef struct {
    int32_t xs, ds, pe, odd;    /* x's step from a row's end to the next row, d's (bytes); a row's pairs (bytes of d); an odd pixel */
    int16_t *stop, *d0;         /* d after the last row; the first row's first position inside (d0 == stop: none) */
    const int8_t *x0;           /* channel 0's pixel there (used only inside) */
    int32_t p1;                 /* bytes from a plane to the next */
} edgec_dw_cv;

/* The conversion of a tile th rows from input row iy0, pw positions from input column ix0, into the planes at pl. */
static void edgec_dw_cv_prepare(edgec_dw_cv *v, const EDGEC_ROM edgec_conv2d_params *p, const int8_t *img, int32_t in_row0, int32_t iy0,
                                int32_t ix0, int32_t th, int32_t pw, int16_t *pl)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, c_n = p->in_c;
    const int32_t lo = -ix0 < 0 ? 0 : (-ix0 < pw ? -ix0 : pw), hi = in_w - ix0 < lo ? lo : (in_w - ix0 < pw ? in_w - ix0 : pw);
    const int32_t r0 = -iy0 > 0 ? -iy0 : 0, r1 = in_h - iy0 < th ? in_h - iy0 : th, n = hi - lo;
    v->xs = (in_w - n) * c_n;
    v->ds = 2 * (pw - n);
    v->pe = 4 * (n >> 1);
    v->odd = n & 1;
    v->d0 = pl + r0 * pw + lo;
    v->stop = r1 > r0 && n > 0 ? pl + r1 * pw + lo : v->d0;
    v->x0 = img + ((iy0 + r0 - in_row0) * in_w + ix0 + lo) * c_n;      /* used only inside */
    v->p1 = 2 * th * pw;
}

/* The input of channels c..c+3 inside a tile (v), sign-extended into its four planes (edgec_dw_pad16):
 * two pixels a step, two word loads, four SXTB16 and four halfword packs giving each plane two
 * positions in one store; an odd pixel's four halfwords stored one by one.  Out of line (once per four
 * channels): inlined, its registers left the planes' 14-register pass asm none for its memory operands. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void edgec_dw_in16(const edgec_dw_cv *v, int32_t c, int32_t c_n)
{
    const int8_t *x = v->x0 + c;
    int16_t *d = v->d0;
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
    /* the rows in one asm (gcc spells the packs as shifts and ORs, and spilled the row loop's values):
     * per row its pairs, its odd pixel, then the steps to the next row, read from v */
    const int32_t p1 = v->p1, p2 = 2 * p1, p3 = 3 * p1;
    int32_t a, b, a13, b13, e, t, u;
    if (d == v->stop)
        return;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[e], %[c2]\n\t"
        "add %[e], %[e], %[d]\n\t"
        "cmp %[d], %[e]\n\t"
        "beq 3f\n\t"
        "2:\n\t"
        "ldr %[a], [%[x]]\n\t"
        "ldr %[b], [%[x], %[cn]]\n\t"
        "add %[x], %[x], %[cn], lsl #1\n\t"
        "sxtb16 %[a13], %[a], ror #8\n\t"
        "sxtb16 %[a], %[a]\n\t"
        "sxtb16 %[b13], %[b], ror #8\n\t"
        "sxtb16 %[b], %[b]\n\t"
        "pkhbt %[t], %[a], %[b], lsl #16\n\t"     /* the four packs, then the four stores back to back */
        "pkhtb %[u], %[b], %[a], asr #16\n\t"
        "pkhbt %[a], %[a13], %[b13], lsl #16\n\t"
        "pkhtb %[b], %[b13], %[a13], asr #16\n\t"
        "str %[t], [%[d]]\n\t"
        "str %[u], [%[d], %[p2]]\n\t"
        "str %[a], [%[d], %[p1]]\n\t"
        "str %[b], [%[d], %[p3]]\n\t"
        "adds %[d], %[d], #4\n\t"
        "cmp %[d], %[e]\n\t"
        "bne 2b\n\t"
        "3:\n\t"                                   /* the odd pixel: its four channels' halfwords */
        "ldr %[t], %[c3]\n\t"
        "cmp %[t], #0\n\t"
        "beq 4f\n\t"
        "ldr %[a], [%[x]]\n\t"
        "add %[x], %[x], %[cn]\n\t"
        "sxtb16 %[a13], %[a], ror #8\n\t"
        "sxtb16 %[a], %[a]\n\t"
        "lsr %[b], %[a], #16\n\t"
        "lsr %[b13], %[a13], #16\n\t"
        "strh %[a], [%[d]]\n\t"
        "strh %[a13], [%[d], %[p1]]\n\t"
        "strh %[b], [%[d], %[p2]]\n\t"
        "strh %[b13], [%[d], %[p3]]\n\t"
        "adds %[d], %[d], #2\n\t"
        "4:\n\t"                                   /* the next row */
        "ldr %[t], %[c0]\n\t"
        "ldr %[e], %[c1]\n\t"
        "ldr %[a], %[stop]\n\t"
        "add %[x], %[x], %[t]\n\t"
        "add %[d], %[d], %[e]\n\t"
        "cmp %[d], %[a]\n\t"
        "bne 1b\n\t"
        : [x] "+r"(x), [d] "+r"(d), [a] "=&r"(a), [b] "=&r"(b), [a13] "=&r"(a13), [b13] "=&r"(b13), [e] "=&r"(e), [t] "=&r"(t), [u] "=&r"(u)
        : [cn] "r"(c_n), [p1] "r"(p1), [p2] "r"(p2), [p3] "r"(p3), [c2] "m"(v->pe), [c3] "m"(v->odd),
          [c0] "m"(v->xs), [c1] "m"(v->ds), [stop] "m"(v->stop)
        : "cc", "memory");
#else
    const int32_t plane = v->p1 / 2, n = v->pe / 2 + v->odd;
    int32_t j;
    for (; d != v->stop; d += v->ds / 2, x += v->xs) {
        for (j = 0; j + 1 < n; j += 2, d += 2, x += 2 * c_n) {
            uint32_t a02, a13, b02, b13;
            const int16x2_t u = __sxtb16(edgec_ld4(x)), w = edgec_sxtb16_ror8(edgec_ld4(x)), uu = __sxtb16(edgec_ld4(x + c_n)),
                            vv = edgec_sxtb16_ror8(edgec_ld4(x + c_n));
            __builtin_memcpy(&a02, &u, 4);
            __builtin_memcpy(&a13, &w, 4);
            __builtin_memcpy(&b02, &uu, 4);
            __builtin_memcpy(&b13, &vv, 4);
            edgec_dw_put2(d, (a02 & 0xFFFFu) | b02 << 16);
            edgec_dw_put2(d + plane, (a13 & 0xFFFFu) | b13 << 16);
            edgec_dw_put2(d + 2 * plane, (b02 & 0xFFFF0000u) | a02 >> 16);
            edgec_dw_put2(d + 3 * plane, (b13 & 0xFFFF0000u) | a13 >> 16);
        }
        if (j < n) {
            d[0] = x[0];
            d[plane] = x[1];
            d[2 * plane] = x[2];
            d[3 * plane] = x[3];
            d++;
            x += c_n;
        }
    }
#endif
}

/* (a & 0xFFFF) | b << 16 and (a & 0xFFFF0000) | b >> 16: one PKHBT, one PKHTB (gcc spells each as two
 * or three instructions). */
static inline uint32_t edgec_dw_pkbt(uint32_t a, uint32_t b)
{
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (a & 0xFFFFu) | b << 16;
#endif
}

static inline uint32_t edgec_dw_pktb(uint32_t a, uint32_t b)
{
#if defined(__OPTIMIZE__) && !defined(EDGEC_NO_ASM)
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (a & 0xFFFF0000u) | b >> 16;
#endif
}

/* The pass words (edgec_dw3p_run) of four channels' 3x3 weights, doubled (edgec_dw3p_rq takes twice
 * the sums; |2w| <= 256 stays inside int16), quad layout: tap t's four channels in one word at wq + 4 * t:
 * per kernel row three word loads, six SXTB16, six SADD16 and eight halfword packs give the four
 * channels' (w0, w1) and (w1, w2) at w[j][2 * ky] and w[j][2 * ky + 1]. */
static void edgec_dw_wq4(const EDGEC_ROM int8_t *wq, int32_t w[4][6])
{
    int32_t ky;
    for (ky = 0; ky < 3; ky++, wq += 12) {
        const int16x2_t e0 = __sxtb16(edgec_ld4w(wq)), e1 = __sxtb16(edgec_ld4w(wq + 4)), e2 = __sxtb16(edgec_ld4w(wq + 8));
        const int16x2_t o0 = edgec_sxtb16_ror8(edgec_ld4w(wq)), o1 = edgec_sxtb16_ror8(edgec_ld4w(wq + 4)), o2 = edgec_sxtb16_ror8(edgec_ld4w(wq + 8));
        const int16x2_t e0d = __sadd16(e0, e0), e1d = __sadd16(e1, e1), e2d = __sadd16(e2, e2);
        const int16x2_t o0d = __sadd16(o0, o0), o1d = __sadd16(o1, o1), o2d = __sadd16(o2, o2);
        uint32_t e[3], o[3];
        __builtin_memcpy(&e[0], &e0d, 4);
        __builtin_memcpy(&e[1], &e1d, 4);
        __builtin_memcpy(&e[2], &e2d, 4);
        __builtin_memcpy(&o[0], &o0d, 4);
        __builtin_memcpy(&o[1], &o1d, 4);
        __builtin_memcpy(&o[2], &o2d, 4);
        w[0][2 * ky] = (int32_t)edgec_dw_pkbt(e[0], e[1]);
        w[0][2 * ky + 1] = (int32_t)edgec_dw_pkbt(e[1], e[2]);
        w[2][2 * ky] = (int32_t)edgec_dw_pktb(e[1], e[0]);
        w[2][2 * ky + 1] = (int32_t)edgec_dw_pktb(e[2], e[1]);
        w[1][2 * ky] = (int32_t)edgec_dw_pkbt(o[0], o[1]);
        w[1][2 * ky + 1] = (int32_t)edgec_dw_pkbt(o[1], o[2]);
        w[3][2 * ky] = (int32_t)edgec_dw_pktb(o[1], o[0]);
        w[3][2 * ky + 1] = (int32_t)edgec_dw_pktb(o[2], o[1]);
    }
}

/* 3x3 depthwise, undilated, stride 1 or 2 both ways, a channel count that is a multiple of 4, on variants
 * with the plane passes (EDGEC_DW3P): the band in tiles (edgec_dw_tile), each tile's padding written once
 * (edgec_dw_pad16), then four channels at a time their input sign-extended into four int16 planes
 * (edgec_dw_in16) and their weights packed (edgec_dw_wq4), then one channel at a time over its plane, its
 * weights in registers, two outputs a pass (edgec_dw3p_run), the tile's sums of the channel requantized
 * in one loop (edgec_dw3p_rq), both asm loops reading the tile's constants (edgec_dw3p_prepare) from the
 * frame.  The weights and the bias come doubled for edgec_dw3p_rq's SMMLAR form, where it applies (the
 * channel's bias and shift bounds); elsewhere the sums are 2 x . w alone and the general requantization
 * adds the bias.  Measured on MLPerf Tiny's KWS (Cortex-M4 estimated cycles, its four depthwise layers):
 * 6.2 -> 4.6 cycles a MAC. */
EDGEC_PATH void edgec_dw_planes(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                int32_t out_row0, int32_t out_rows, int32_t q, int32_t r)
{
    const int32_t c_n = p->in_c, in_w = p->in_w, in_h = p->in_h, out_w = p->out_w, out_stride = p->out_stride, s = p->stride_h;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left, batch = p->batch;
    int16_t pl[EDGEC_DW_TILE];
    int32_t acc[EDGEC_DW_TACC], w[4][6];
    edgec_outq o;
    edgec_dw3p P;
    edgec_dw_cv cv;
    int32_t c, n, ty, tx, j, oy, i;
    uint32_t shlim;
    int32_t zp2;
    edgec_outq_init(&o, p, multiplier, shift, c_n);
    shlim = o.fast ? 22u : 0u;
    zp2 = 2 * o.out_zp + 1;
    for (n = 0; n < batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(in_h * in_w * c_n);
        for (ty = 0; ty < out_rows; ty += r) {
            const int32_t rr = out_rows - ty < r ? out_rows - ty : r, th = (rr - 1) * s + 3, iy0 = (out_row0 + ty) * s - pad_top;
            for (tx = 0; tx < out_w; tx += q) {
                const int32_t qq = out_w - tx < q ? out_w - tx : q, pw = edgec_dw_pw(qq, s), rows = qq == out_w ? rr : 1;
                /* a tile as wide as the band: its rows' outputs one run (nq of them, once); else rr runs of qq */
                const int32_t nq = rows * qq, ystep = rows * out_w * out_stride;
                int8_t *const yt = out + ((size_t)(n * out_rows + ty) * (size_t)out_w + (size_t)tx) * (size_t)out_stride;
                edgec_dw3p_prepare(&P, acc, pw, s, rr, qq, nq, rows == rr ? 1 : rr, out_stride, ystep);
                edgec_dw_pad16(p, iy0, tx * s - pad_left, th, pw, pl);
                edgec_dw_cv_prepare(&cv, p, img, in_row0, iy0, tx * s - pad_left, th, pw, pl);
                for (c = 0; c < c_n; c += 4) {
                    edgec_dw_in16(&cv, c, c_n);
                    edgec_dw_wq4(weights + c * 9, w);
                    for (j = 0; j < 4; j++) {
                        const int32_t k = c + j, b = bias[k], sh = shift[k];
                        /* o.fast holds m >= 0 and 1 <= r <= 31 (shlim: r <= 22 where it does, none else); the bias
                         * bound keeps the doubled sums inside 2^30 (|sum of nine int8 products| < 2^18), as
                         * edgec_dw3p_rq needs; its ra = 2^(r - 1) + zp * 2^r = (2 zp + 1) 2^(r - 1) */
                        const int32_t quick = (uint32_t)(sh + 22) < shlim && (uint32_t)b + (uint32_t)EDGEC_DW_BIAS < 2u * (uint32_t)EDGEC_DW_BIAS;
                        const int16_t *x = pl + j * th * pw;
                        int8_t *y = yt + k;
                        /* the sums 2 (b + x . w) here, else 2 x . w (exact: 2^19 at most) and b added by the general
                         * requantization, which wraps b + x . w as the reference wraps it */
                        edgec_dw3p_run(&P, x, w[j], quick ? 2u * (uint32_t)b : 0u, acc);
                        if (quick && edgec_dw3p_rq(&P, acc, y, out_stride, multiplier[k], -sh,
                                                   zp2 * (INT32_C(1) << (-sh - 1))))
                            continue;
                        /* the rare rest (a clamp inside int8, a shift past the asm's, a bias past its bound, a
                         * one-output tile) output by output through the general requantization */
                        {
                            edgec_ch ch;
                            edgec_ch_load(&ch, &o, bias, multiplier, shift, k);
                            for (oy = 0; oy < rr; oy += rows, y += ystep)
                                for (i = 0; i < nq; i++)
                                    y[i * out_stride] = edgec_requant_any(quick ? 0u : (uint32_t)b, acc[oy * qq + i] / 2, &ch, &o);
                        }
                    }
                }
            }
        }
    }
}

/* The tile of edgec_dw_planes for this call (q across, *r down), or 0 where it does not take it. */
static int32_t edgec_dw_planes_tile(const EDGEC_ROM edgec_conv2d_params *p, int32_t out_rows, int32_t *r)
{
    if (p->k_h != 3 || p->k_w != 3 || p->dil_h != 1 || p->dil_w != 1 || p->stride_h != p->stride_w || p->stride_h > 2 || (p->in_c & 3)
        || edgec_dw3_lines(EDGEC_DW_ROWS) != EDGEC_DW_ROWS)
        return 0;
    return edgec_dw_tile(p->out_w, out_rows, p->stride_h, r);
}
#define EDGEC_DW_PLANES(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows)                             \
    do {                                                                                                                   \
        int32_t r_, q_ = edgec_dw_planes_tile(p, out_rows, &r_);                                                           \
        if (q_) {                                                                                                          \
            edgec_dw_planes(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows, q_, r_);              \
            return;                                                                                                        \
        }                                                                                                                  \
    } while (0)
#else
#define EDGEC_DW_PLANES(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows) ((void)0)
#endif

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
#if defined(__ARM_ARCH_6M__)
                        int32_t acc[4];
                        acc[0] = acc[1] = acc[2] = acc[3] = 0;
#else
                        int32_t acc[4] = {0, 0, 0, 0};
#endif
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

/* Twin: reference.conv2d_s8.  The channel planes where they apply (EDGEC_DW_PLANES); else
 * 3x3 undilated, stride 1, runs of at least EDGEC_DW_RUN_MIN take the lines
 * where the variant has them (measured on MLPerf Tiny's KWS and VWW: a stride-2 plane converts four
 * inputs an output, and on short runs the per-line work outweighs the cheaper taps); everything else the
 * quads.  Two paths out of line, so a call's stack is the larger of their frames, not their sum. */
void edgec_depthwise_conv2d_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0,
                               const EDGEC_ROM int8_t *weights, const EDGEC_ROM int32_t *bias,
                               const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows)
{
    const int32_t run_max = out_rows > p->out_w ? out_rows : p->out_w;
    EDGEC_DW_PLANES(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    if (p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1 && p->stride_h == 1 && p->stride_w == 1 && run_max >= EDGEC_DW_RUN_MIN
        && 3 * (run_max + 3) <= edgec_dw3_lines(EDGEC_DW_ROWS))
        edgec_dw_rows3(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else
        edgec_dw_quads(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}

/* The depthwise loop nests as entry points of their own (edgec.h), for the generated code: --gc-sections
 * drops the nest a model does not call with the dispatcher above (the planes: its own entry, below).  The lines entry is codegen's pick
 * where the dispatcher would take the lines on a variant that has them (its shapes only: the lines
 * are on the stack); on a variant without them it runs the quads (a constant test, folded away). */
void edgec_depthwise_conv2d_lines_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                     const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                     int32_t out_row0, int32_t out_rows)
{
    if (edgec_dw3_lines(EDGEC_DW_ROWS) == EDGEC_DW_ROWS)
        edgec_dw_rows3(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
    else
        edgec_dw_quads(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}

void edgec_depthwise_conv2d_quads_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                     const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                     int32_t out_row0, int32_t out_rows)
{
    edgec_dw_quads(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
}

/* The planes entry, codegen's pick for the shapes edgec_dw_planes takes (3x3, undilated, stride 1 or 2
 * both ways, channels a multiple of 4), for which edgec_dw_tile always finds a tile (one output fits);
 * on a variant without the plane passes, the quads. */
void edgec_depthwise_conv2d_planes_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                      const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                      int32_t out_row0, int32_t out_rows)
{
#if defined(EDGEC_DW3P)
    int32_t r = 1;
    const int32_t q = edgec_dw_tile(p->out_w, out_rows, p->stride_h, &r);
    edgec_dw_planes(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows, q, r);
#else
    edgec_dw_quads(p, in, in_row0, weights, bias, multiplier, shift, out, out_row0, out_rows);
#endif
}
