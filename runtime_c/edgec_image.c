/* edgec model image interpreter (edgec_image.h; the format is codegen/image.py's docstring).
 * check() validates every byte run() will trust; run() then decodes each call's arguments into
 * pointers and integers and calls the kernel, the same function the generated C calls. */
#include <string.h>
#include "edgec.h"
#include "edgec_image.h"

#ifndef EDGEC_IMAGE_DEFAULT
#define EDGEC_IMAGE_DEFAULT 1
#endif
#ifndef EDGEC_IMAGE_WITH_MEMCPY
#define EDGEC_IMAGE_WITH_MEMCPY 1
#endif
#ifndef EDGEC_IMAGE_WITH_CONV2D_S8
#define EDGEC_IMAGE_WITH_CONV2D_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_CONV2D_COLS_S8
#define EDGEC_IMAGE_WITH_CONV2D_COLS_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_DEPTHWISE_CONV2D_S8
#define EDGEC_IMAGE_WITH_DEPTHWISE_CONV2D_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_FULLY_CONNECTED_S8
#define EDGEC_IMAGE_WITH_FULLY_CONNECTED_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_ADD_S8
#define EDGEC_IMAGE_WITH_ADD_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_MUL_S8
#define EDGEC_IMAGE_WITH_MUL_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_MAXPOOL_S8
#define EDGEC_IMAGE_WITH_MAXPOOL_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_AVGPOOL_S8
#define EDGEC_IMAGE_WITH_AVGPOOL_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_LUT_S8
#define EDGEC_IMAGE_WITH_LUT_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_SOFTMAX_S8
#define EDGEC_IMAGE_WITH_SOFTMAX_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_SOFTMAX_TFLM_S8
#define EDGEC_IMAGE_WITH_SOFTMAX_TFLM_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_TRANSPOSE_S8
#define EDGEC_IMAGE_WITH_TRANSPOSE_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_PAD_S8
#define EDGEC_IMAGE_WITH_PAD_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_PAD_ROWS_S8
#define EDGEC_IMAGE_WITH_PAD_ROWS_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_CONCAT_S8
#define EDGEC_IMAGE_WITH_CONCAT_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_UPSAMPLE_S8
#define EDGEC_IMAGE_WITH_UPSAMPLE_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_SLICE_S8
#define EDGEC_IMAGE_WITH_SLICE_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_RESIZE_S8
#define EDGEC_IMAGE_WITH_RESIZE_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_MEAN_S8
#define EDGEC_IMAGE_WITH_MEAN_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_PRELU_S8
#define EDGEC_IMAGE_WITH_PRELU_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_CONV2D_S16
#define EDGEC_IMAGE_WITH_CONV2D_S16 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_FULLY_CONNECTED_S16
#define EDGEC_IMAGE_WITH_FULLY_CONNECTED_S16 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_ADD_S16
#define EDGEC_IMAGE_WITH_ADD_S16 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_MAXPOOL_S16
#define EDGEC_IMAGE_WITH_MAXPOOL_S16 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_AVGPOOL_S16
#define EDGEC_IMAGE_WITH_AVGPOOL_S16 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_REQUANTIZE_S8_S16
#define EDGEC_IMAGE_WITH_REQUANTIZE_S8_S16 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_REQUANTIZE_S16_S8
#define EDGEC_IMAGE_WITH_REQUANTIZE_S16_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_LSTM_S8
#define EDGEC_IMAGE_WITH_LSTM_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_GRU_S8
#define EDGEC_IMAGE_WITH_GRU_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_CONV2D_WIDE_S8
#define EDGEC_IMAGE_WITH_CONV2D_WIDE_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_FULLY_CONNECTED_WIDE_S8
#define EDGEC_IMAGE_WITH_FULLY_CONNECTED_WIDE_S8 EDGEC_IMAGE_DEFAULT
#endif

/* Which kernels this build carries, by id (the order of EDGEC_IMAGE_KERNELS). */
static const uint8_t present[EDGEC_IMAGE_N_KERNELS] = {
    EDGEC_IMAGE_WITH_MEMCPY, EDGEC_IMAGE_WITH_CONV2D_S8, EDGEC_IMAGE_WITH_CONV2D_COLS_S8,
    EDGEC_IMAGE_WITH_DEPTHWISE_CONV2D_S8, EDGEC_IMAGE_WITH_FULLY_CONNECTED_S8, EDGEC_IMAGE_WITH_ADD_S8,
    EDGEC_IMAGE_WITH_MUL_S8, EDGEC_IMAGE_WITH_MAXPOOL_S8, EDGEC_IMAGE_WITH_AVGPOOL_S8, EDGEC_IMAGE_WITH_LUT_S8,
    EDGEC_IMAGE_WITH_SOFTMAX_S8, EDGEC_IMAGE_WITH_SOFTMAX_TFLM_S8, EDGEC_IMAGE_WITH_TRANSPOSE_S8,
    EDGEC_IMAGE_WITH_PAD_S8, EDGEC_IMAGE_WITH_PAD_ROWS_S8, EDGEC_IMAGE_WITH_CONCAT_S8, EDGEC_IMAGE_WITH_UPSAMPLE_S8,
    EDGEC_IMAGE_WITH_SLICE_S8, EDGEC_IMAGE_WITH_RESIZE_S8, EDGEC_IMAGE_WITH_MEAN_S8, EDGEC_IMAGE_WITH_PRELU_S8,
    EDGEC_IMAGE_WITH_CONV2D_S16, EDGEC_IMAGE_WITH_FULLY_CONNECTED_S16, EDGEC_IMAGE_WITH_ADD_S16,
    EDGEC_IMAGE_WITH_MAXPOOL_S16, EDGEC_IMAGE_WITH_AVGPOOL_S16, EDGEC_IMAGE_WITH_REQUANTIZE_S8_S16,
    EDGEC_IMAGE_WITH_REQUANTIZE_S16_S8, EDGEC_IMAGE_WITH_LSTM_S8, EDGEC_IMAGE_WITH_GRU_S8,
    EDGEC_IMAGE_WITH_CONV2D_WIDE_S8, EDGEC_IMAGE_WITH_FULLY_CONNECTED_WIDE_S8,
};

#define SIG(id, name, sig, ptype) sig,
static const char *const signature[EDGEC_IMAGE_N_KERNELS] = {EDGEC_IMAGE_KERNELS(SIG)};
#undef SIG
#define PSIZE(id, name, sig, ptype) (uint16_t)sizeof(ptype),
static const uint16_t param_bytes[EDGEC_IMAGE_N_KERNELS] = {EDGEC_IMAGE_KERNELS(PSIZE)};
#undef PSIZE
#define NAME(id, name, sig, ptype) #name,
static const char *const kernel_names[EDGEC_IMAGE_N_KERNELS] = {EDGEC_IMAGE_KERNELS(NAME)};
#undef NAME

/* Header fields (byte offsets; codegen/image.py HEADER). */
enum {
    H_VERSION = 8, H_TOTAL = 12, H_SHA = 16, H_ENDIAN = 48, H_ABI = 52, H_NAME = 56, H_MVERSION = 88,
    H_ARENA = 104, H_STATE_OFF = 108, H_STATE_BYTES = 112, H_INCOPY_OFF = 116, H_IN_BYTES = 120, H_OUT_BYTES = 124,
    H_FLAGS = 128, H_IN_Q = 132, H_OUT_Q = 144, H_NKERNELS = 156, H_KERNELS = 160, H_NCALLS = 164, H_SCHED = 168,
    H_SCHED_LEN = 172, H_DATA = 176, H_DATA_LEN = 180, H_STATE_INIT = 184, H_NTESTS = 188, H_TESTS = 192
};
#define BODY_FROM 48u          /* the sha256 covers bytes [48, total): everything after the hash */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *edgec_image_kernel_name(int32_t id)
{
    return id >= 0 && id < EDGEC_IMAGE_N_KERNELS ? kernel_names[id] : "?";
}

/* Bytes equal (the runtime needs only memcpy and memset from a C library). */
static int same(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    uint8_t d = 0;
    while (n--)
        d |= (uint8_t)(*a++ ^ *b++);
    return d == 0;
}

static uint32_t length(const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* [off, off + n) inside [0, size), without overflow. */
static int inside(uint32_t off, uint32_t n, uint32_t size)
{
    return off <= size && n <= size - off;
}

#if !defined(EDGEC_IMAGE_NO_HASH)
#include "edgec_crypto.h"
static int sha256_equal(const uint8_t *data, uint32_t len, const uint8_t *want)
{
    uint8_t got[32];
    edgec_sha256(got, data, len);
    return same(got, want, 32);
}
#endif

static int fail(edgec_image_info *info, int code, int32_t call)
{
    if (info)
        info->bad_call = call;
    return code;
}

/* What a call's arguments may point into; `rows` is the enclosing loop's row table (NULL outside one). */
typedef struct {
    const uint8_t *img;
    uint32_t data_off, data_end, plan, state_bytes, in_bytes, out_bytes;
    const uint8_t *rows;
    uint32_t tiles, width;
} limits;

/* A pointer argument of kind `kind` (s: its signature letter) at [val, val + n). */
static int region_ok(const limits *c, uint32_t id, char s, uint32_t kind, uint32_t val, uint32_t n)
{
    switch (kind) {
    case EDGEC_IMAGE_ARG_ARENA:
        return s != 'p' && inside(val, n, c->plan) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;  /* not the state's bytes */
    case EDGEC_IMAGE_ARG_STATE:
        return s != 'p' && inside(val, n, c->state_bytes) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    case EDGEC_IMAGE_ARG_INPUT:
        return s == 'r' && inside(val, n, c->in_bytes) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    case EDGEC_IMAGE_ARG_OUTPUT:
        return s != 'p' && inside(val, n, c->out_bytes) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    case EDGEC_IMAGE_ARG_DATA:
        if (s == 'w' || val < c->data_off || !inside(val, n, c->data_end) || (val & 3u))
            return EDGEC_IMAGE_E_BOUNDS;
        return s == 'p' && n != param_bytes[id] ? EDGEC_IMAGE_E_SCHEDULE : EDGEC_IMAGE_OK;
    default:
        return EDGEC_IMAGE_E_SCHEDULE;
    }
}

#define BIG 0x7FFFFFFFll
/* x in [lo, hi] */
#define IN(x, lo, hi) ((int64_t)(x) >= (int64_t)(lo) && (int64_t)(x) <= (int64_t)(hi))

/* x rounded up to a multiple of `to`, a power of two */
static int64_t up(int64_t x, int64_t to)
{
    return (x + to - 1) & ~(to - 1);
}

/* The bytes a row-band kernel (conv, pools) touches, from its parameters: the input rows it reads from
 * in_row0 on, the output rows it writes; 0 when the parameters themselves are impossible. */
static int band_ok(int64_t batch, int64_t in_h, int64_t in_w, int64_t in_c, int64_t out_h, int64_t out_w,
                   int64_t out_c, int64_t out_stride, int64_t k_h, int64_t stride, int64_t dil, int64_t pad,
                   int64_t in_row0, int64_t out_row0, int64_t out_rows, int64_t elem, uint32_t in_len, uint32_t out_len)
{
    int64_t lo, hi, in_need, out_need;
    if (!IN(batch, 1, 0xFFFF) || !IN(in_h, 1, 0xFFFF) || !IN(in_w, 1, 0xFFFF) || !IN(in_c, 1, 0xFFFF)
        || !IN(out_h, 1, 0xFFFF) || !IN(out_w, 1, 0xFFFF) || !IN(out_c, 1, 0xFFFF) || !IN(out_stride, out_c, 0xFFFF)
        || !IN(k_h, 1, 0xFFFF) || !IN(stride, 1, 0xFFFF) || !IN(dil, 1, 0xFFFF) || !IN(pad, 0, 0xFFFF)
        || !IN(out_row0, 0, out_h) || !IN(out_rows, 0, out_h - out_row0) || !IN(in_row0, 0, in_h))
        return 0;
    if (batch > 1 && (in_row0 != 0 || out_row0 != 0 || out_rows != out_h))
        return 0;                                        /* bands are for one image */
    if (out_rows == 0)
        return 1;
    lo = out_row0 * stride - pad;
    lo = lo < 0 ? 0 : lo;
    hi = (out_row0 + out_rows - 1) * stride - pad + dil * (k_h - 1) + 1;
    hi = hi > in_h ? in_h : hi;
    if (lo < in_row0)
        return 0;
    in_need = batch > 1 ? batch * in_h * in_w * in_c : (hi > in_row0 ? (hi - in_row0) * in_w * in_c : 0);
    out_need = ((batch * out_rows * out_w - 1) * out_stride + out_c);
    return in_need * elem <= in_len && out_need * elem <= out_len;
}

/* Wide requantization records (image data, fixed: the first word the mode, then 12 words a channel
 * pair): shifts of 0..31, |R| < 2^30 (t + R stays an int32), a zero point kept apart within int8's reach. */
static int wide_records_ok(const uint8_t *rec, int64_t pairs)
{
    int64_t j, ch;
    for (j = 0; j < pairs; j++)
        for (ch = 0; ch < 2; ch++) {
            const uint8_t *r = rec + 4 * (1 + 12 * j + 4 + 4 * ch);
            const int64_t big_r = (int32_t)rd32(r + 4), c = (int32_t)rd32(r + 8), sh = (int32_t)rd32(r + 12);
            if (!IN(sh, 0, 31) || !IN(big_r, -(INT64_C(1) << 30) + 1, (INT64_C(1) << 30) - 1) || (rd32(rec) && !IN(c, -255, 255)))
                return 0;
        }
    return 1;
}

/* What each kernel reads and writes, from its parameters and integers, within the extents its
 * pointer arguments were checked for (one band's values).  Kernels not listed here read their
 * parameter structs as given: see edgec_image.h. */
static int shapes_ok(const uint8_t *img, uint32_t id, const uint8_t *a, const int64_t *v, const uint32_t *len)
{
#define PARAMS(T) ((const T *)(const void *)(img + rd32(a + 4)))     /* argument 0, the parameter struct */
    switch (id) {
    case 0:                                                 /* memcpy(dst, src, n) */
        return IN(v[2], 0, len[0]) && v[2] <= len[1] ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    case 9:                                                 /* lut(table, in, out, n) */
        return len[0] >= 256u && IN(v[3], 0, len[1]) && v[3] <= len[2] ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    case 10: case 11:                                       /* softmax(table, rows, cols, in, out) */
        return len[0] >= 1024u && IN(v[1], 0, 0xFFFF) && IN(v[2], 1, 0xFFFF) && v[1] * v[2] <= len[3]
            && v[1] * v[2] <= len[4] ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    case 4: case 22: {                                      /* fully connected (p, in, w, bias, mult, shift, out) */
        const edgec_fully_connected_params *f = PARAMS(edgec_fully_connected_params);
        const int64_t e = id == 22 ? 2 : 1, batch = f->batch, k = f->in_features, m = f->out_features;
        if (!IN(batch, 1, 0xFFFF) || !IN(k, 1, 0xFFFFF) || !IN(m, 1, 0xFFFF))
            return EDGEC_IMAGE_E_BOUNDS;
        return batch * k * e <= len[1] && (id == 22 ? m * k : up(m, 4) * up(k, 4)) <= len[2]
            && m * 4 * e <= len[3] && m * 4 <= len[4] && m * 4 <= len[5] && batch * m * e <= len[6]
            ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    }
    case 1: case 2: case 3: case 21: {                      /* conv (p, in, in_row0, w, bias, mult, shift, out, r0, rows[, cols]) */
        const edgec_conv2d_params *q = PARAMS(edgec_conv2d_params);
        const int64_t e = id == 21 ? 2 : 1, taps = (int64_t)q->k_h * q->k_w;
        const int32_t g = q->groups;
        int64_t wbytes;
        if (!IN(g, 1, 0xFFFF) || !IN(q->k_w, 1, 0xFFFF) || !IN(q->stride_w, 1, 0xFFFF) || !IN(q->dil_w, 1, 0xFFFF)
            || !IN(q->pad_left, 0, 0xFFFF) || !IN(q->in_c, 1, 0xFFFF) || !IN(q->out_c, 1, 0xFFFF)
            || q->in_c % g || q->out_c % g || !IN(taps, 1, 0xFFFF) || (id == 3 && (q->in_c != q->out_c || g != q->in_c)))
            return EDGEC_IMAGE_E_BOUNDS;
        wbytes = id == 3 ? up(q->in_c, 4) * taps : (id != 21 && g == 1) ? up(q->out_c, 2) * up(taps * q->in_c, 4)
                                                                       : (int64_t)q->out_c * taps * (q->in_c / g);
        if (wbytes > len[3] || (int64_t)q->out_c * 4 * e > len[4] || (int64_t)q->out_c * 4 > len[5]
            || (int64_t)q->out_c * 4 > len[6])
            return EDGEC_IMAGE_E_BOUNDS;
        if (id == 2 && 4 * up(taps * q->in_c, 4) + (q->in_c % 4 ? up(taps * q->in_c, 4) : 0) > len[10])
            return EDGEC_IMAGE_E_BOUNDS;
        return band_ok(q->batch, q->in_h, q->in_w, q->in_c, q->out_h, q->out_w, q->out_c, q->out_stride, q->k_h,
                       q->stride_h, q->dil_h, q->pad_top, v[2], v[8], v[9], e, len[1], len[7])
            ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    }
    case 31: {                                              /* wide fully connected (p, in, weights, records, out) */
        const edgec_fully_connected_params *f = PARAMS(edgec_fully_connected_params);
        const int64_t batch = f->batch, k = f->in_features, m = f->out_features, pairs = up(m, 2) / 2;
        if (!IN(batch, 1, 0xFFFF) || !IN(k, 1, 0xFFFF) || !IN(m, 1, 0xFFFF) || batch * k > len[1] || 4 * pairs * up(k, 4) > len[2]
            || 4 * (1 + 12 * pairs) > len[3] || batch * m > len[4] || rd32(a + 12u * 3) != EDGEC_IMAGE_ARG_DATA
            || !wide_records_ok(img + rd32(a + 12u * 3 + 4), pairs))
            return EDGEC_IMAGE_E_BOUNDS;
        return EDGEC_IMAGE_OK;
    }
    case 30: {                  /* wide one-group conv (p, in, in_row0, weights, records, out, r0, rows, cols) */
        const edgec_conv2d_params *q = PARAMS(edgec_conv2d_params);
        const int64_t pairs = up(q->out_c, 2) / 2, taps = (int64_t)q->k_h * q->k_w, k4 = up(taps * q->in_c, 4);
        const uint8_t *rec = img + rd32(a + 12u * 4 + 4);
        if (!IN(q->k_w, 1, 0xFFFF) || !IN(q->stride_w, 1, 0xFFFF) || !IN(q->dil_w, 1, 0xFFFF) || !IN(q->pad_left, 0, 0xFFFF)
            || !IN(q->in_c, 1, 0xFFFF) || !IN(q->out_c, 1, 0xFFFF) || !IN(taps, 1, 0xFFFF) || q->groups != 1
            || 4 * pairs * k4 > len[3] || 4 * (1 + 12 * pairs) > len[4] || 4 * k4 + 20 + (q->in_c % 4 ? k4 : 0) > len[8]
            || rd32(a + 12u * 4) != EDGEC_IMAGE_ARG_DATA)
            return EDGEC_IMAGE_E_BOUNDS;
        if (!wide_records_ok(rec, pairs))
            return EDGEC_IMAGE_E_BOUNDS;
        return band_ok(q->batch, q->in_h, q->in_w, q->in_c, q->out_h, q->out_w, q->out_c, q->out_stride, q->k_h, q->stride_h,
                       q->dil_h, q->pad_top, v[2], v[6], v[7], 1, len[1], len[5]) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    }
    case 7: case 8: case 24: case 25: {                     /* pools (p, in, in_row0, out, r0, rows) */
        const edgec_pool_params *q = PARAMS(edgec_pool_params);
        if (!IN(q->k_w, 1, 0xFFFF) || !IN(q->stride_w, 1, 0xFFFF) || !IN(q->pad_left, 0, 0xFFFF))
            return EDGEC_IMAGE_E_BOUNDS;
        return band_ok(q->batch, q->in_h, q->in_w, q->c, q->out_h, q->out_w, q->c, q->c, q->k_h, q->stride_h, 1,
                       q->pad_top, v[2], v[4], v[5], id >= 24 ? 2 : 1, len[1], len[3]) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    }
    default:
        return EDGEC_IMAGE_OK;
    }
}

/* One call's arguments against its kernel's signature and the regions they point into.  A banded
 * argument (in a loop) is value + r[row] * m; a banded pointer covers r[row + 1] rows of m bytes,
 * checked for every band of the loop's table. */
static int check_call(const limits *c, uint32_t id, uint32_t nargs, const uint8_t *a)
{
    const char *sig = signature[id];
    uint32_t k, b, lens[EDGEC_IMAGE_MAX_ARGS];
    int r;
    if (nargs != length(sig))
        return EDGEC_IMAGE_E_SCHEDULE;
    for (k = 0; k < nargs; k++, a += 12) {
        const uint32_t word = rd32(a), kind = word & 0xFFu, row = (word >> 9) & 0x7Fu, m = word >> 16;
        const uint32_t val = rd32(a + 4), n = rd32(a + 8);
        const char s = sig[k];
        lens[k] = n;
        if (word & EDGEC_IMAGE_ARG_BANDED) {
            if (!c->rows || row + (s != 'i') >= c->width || kind == EDGEC_IMAGE_ARG_DATA)
                return EDGEC_IMAGE_E_SCHEDULE;
            lens[k] = 0;
        } else if (word >> 8) {
            return EDGEC_IMAGE_E_SCHEDULE;
        }
        if (s == 'i') {
            if (kind != EDGEC_IMAGE_ARG_INT)
                return EDGEC_IMAGE_E_SCHEDULE;
            continue;
        }
        if (!(word & EDGEC_IMAGE_ARG_BANDED)) {
            if ((r = region_ok(c, id, s, kind, val, n)) != EDGEC_IMAGE_OK)
                return r;
            continue;
        }
        for (b = 0; b < c->tiles; b++) {
            const uint8_t *t = c->rows + 4u * (b * c->width + row);
            const int32_t row0 = (int32_t)rd32(t), rows = (int32_t)rd32(t + 4);
            const uint64_t off = (uint64_t)val + (uint64_t)(uint32_t)row0 * m, ext = (uint64_t)(uint32_t)rows * m;
            if (row0 < 0 || rows < 0 || off > 0xFFFFFFFFu || ext > 0xFFFFFFFFu)
                return EDGEC_IMAGE_E_BOUNDS;
            if ((r = region_ok(c, id, s, kind, (uint32_t)off, (uint32_t)ext)) != EDGEC_IMAGE_OK)
                return r;
        }
    }
    a -= 12u * nargs;
    for (b = 0; b < (c->rows ? c->tiles : 1u); b++) {    /* every band's integers and extents */
        int64_t ints[EDGEC_IMAGE_MAX_ARGS];
        for (k = 0; k < nargs; k++) {
            const uint32_t word = rd32(a + 12u * k), row = (word >> 9) & 0x7Fu, m = word >> 16;
            const int32_t rv = (word & EDGEC_IMAGE_ARG_BANDED) ? (int32_t)rd32(c->rows + 4u * (b * c->width + row)) : 0;
            ints[k] = (int64_t)(int32_t)rd32(a + 12u * k + 4) + (int64_t)rv * m;
            if ((word & EDGEC_IMAGE_ARG_BANDED) && sig[k] != 'i')       /* rows r[row + 1] of m bytes */
                lens[k] = (uint32_t)rd32(c->rows + 4u * (b * c->width + row + 1)) * m;
        }
        if ((r = shapes_ok(c->img, id, a, ints, lens)) != EDGEC_IMAGE_OK)
            return r;
    }
    return EDGEC_IMAGE_OK;
}

int edgec_image_check(const uint8_t *img, uint32_t len, uint32_t arena_len, edgec_image_info *info)
{
    static const uint32_t endian = 0x01020304u;
    uint32_t total, i, nk, ncalls, sched, sched_len, data_off, data_len, arena, state_off, state_bytes, in_bytes,
        out_bytes, ntests, tests, state_init, loop_left = 0;
    const uint8_t *p, *end;
    limits lim;
    if (info) {
        memset(info, 0, sizeof *info);
        info->missing_kernel = -1;
        info->bad_call = -1;
    }
    if (((uintptr_t)img & 7u) != 0)
        return EDGEC_IMAGE_E_ALIGN;
    if (len < EDGEC_IMAGE_HEADER_BYTES)
        return EDGEC_IMAGE_E_SHORT;
    if (!same(img, (const uint8_t *)"EDGECIMG", 8))
        return EDGEC_IMAGE_E_MAGIC;
    if (rd32(img + H_VERSION) != EDGEC_IMAGE_FORMAT || !same(img + H_ENDIAN, (const uint8_t *)&endian, 4))
        return EDGEC_IMAGE_E_FORMAT;
    total = rd32(img + H_TOTAL);
    if (total < EDGEC_IMAGE_HEADER_BYTES || total > len)
        return EDGEC_IMAGE_E_SHORT;
    if (rd32(img + H_ABI) != EDGEC_IMAGE_KERNEL_ABI)
        return EDGEC_IMAGE_E_ABI;
#if !defined(EDGEC_IMAGE_NO_HASH)
    if (!sha256_equal(img + BODY_FROM, total - BODY_FROM, img + H_SHA))
        return EDGEC_IMAGE_E_HASH;
#endif
    arena = rd32(img + H_ARENA);
    state_off = rd32(img + H_STATE_OFF);
    state_bytes = rd32(img + H_STATE_BYTES);
    in_bytes = rd32(img + H_IN_BYTES);
    out_bytes = rd32(img + H_OUT_BYTES);
    nk = rd32(img + H_NKERNELS);
    ncalls = rd32(img + H_NCALLS);
    sched = rd32(img + H_SCHED);
    sched_len = rd32(img + H_SCHED_LEN);
    data_off = rd32(img + H_DATA);
    data_len = rd32(img + H_DATA_LEN);
    state_init = rd32(img + H_STATE_INIT);
    ntests = rd32(img + H_NTESTS);
    tests = rd32(img + H_TESTS);
    if (info) {
        memcpy(info->name, img + H_NAME, 31);
        memcpy(info->version, img + H_MVERSION, 15);
        info->arena_bytes = arena;
        info->input_bytes = in_bytes;
        info->output_bytes = out_bytes;
        info->state_bytes = state_bytes;
        info->flags = rd32(img + H_FLAGS);
        info->input_zp = (int32_t)rd32(img + H_IN_Q);
        info->input_scale_q31 = (int32_t)rd32(img + H_IN_Q + 4);
        info->input_scale_shift = (int32_t)rd32(img + H_IN_Q + 8);
        info->output_zp = (int32_t)rd32(img + H_OUT_Q);
        info->output_scale_q31 = (int32_t)rd32(img + H_OUT_Q + 4);
        info->output_scale_shift = (int32_t)rd32(img + H_OUT_Q + 8);
        info->calls = ncalls;
        info->selftests = ntests;
    }
    /* sections inside the image, after the header; regions inside the arena */
    if (nk > EDGEC_IMAGE_N_KERNELS || rd32(img + H_KERNELS) < EDGEC_IMAGE_HEADER_BYTES
        || !inside(rd32(img + H_KERNELS), 4u * nk, total) || sched < EDGEC_IMAGE_HEADER_BYTES
        || !inside(sched, sched_len, total) || data_off < EDGEC_IMAGE_HEADER_BYTES || !inside(data_off, data_len, total)
        || !inside(state_off, state_bytes, arena) || (state_off & 3u) || (sched & 3u)
        || (state_bytes && (state_init < data_off || !inside(state_init, state_bytes, data_off + data_len)))
        || in_bytes == 0 || out_bytes == 0 || ntests > 0xFFFFu
        || (ntests && (tests < EDGEC_IMAGE_HEADER_BYTES
                       || !inside(tests, ntests * (in_bytes + 32u), total) || in_bytes > 0xFFFFFFu)))
        return EDGEC_IMAGE_E_BOUNDS;
    if ((rd32(img + H_FLAGS) & EDGEC_IMAGE_FLAG_INPUT_U8)
        && ((rd32(img + H_INCOPY_OFF) & 3u) || !inside(rd32(img + H_INCOPY_OFF), in_bytes, arena)
            || rd32(img + H_INCOPY_OFF) < state_off + state_bytes))
        return EDGEC_IMAGE_E_BOUNDS;
    /* the kernels it needs: listed first, so a firmware names the missing one before anything else */
    for (i = 0; i < nk; i++) {
        uint32_t id = rd32(img + rd32(img + H_KERNELS) + 4u * i);
        if (id >= EDGEC_IMAGE_N_KERNELS || !present[id]) {
            if (info)
                info->missing_kernel = (int32_t)id;
            return EDGEC_IMAGE_E_KERNEL;
        }
    }
    if (arena > arena_len)
        return EDGEC_IMAGE_E_ARENA;
    /* every call: a known kernel this build carries, listed in the header, arguments that fit */
    lim.img = img;
    lim.data_off = data_off;
    lim.data_end = data_off + data_len;
    lim.plan = state_off;
    lim.state_bytes = state_bytes;
    lim.in_bytes = in_bytes;
    lim.out_bytes = out_bytes;
    lim.rows = 0;
    lim.tiles = lim.width = 0;
    p = img + sched;
    end = p + sched_len;
    for (i = 0; i < ncalls; i++) {
        uint32_t id, nargs, j, listed = 0;
        int r;
        if (end - p < 4)
            return fail(info, EDGEC_IMAGE_E_BOUNDS, (int32_t)i);
        id = rd32(p) & 0xFFFFu;
        nargs = rd32(p) >> 16;
        if (nargs > EDGEC_IMAGE_MAX_ARGS || (uint32_t)(end - p - 4) < 12u * nargs)
            return fail(info, EDGEC_IMAGE_E_BOUNDS, (int32_t)i);
        if (id == EDGEC_IMAGE_LOOP) {        /* (tiles, row table, row entries per band, calls in the body) */
            const uint8_t *a = p + 4;
            uint32_t tiles = rd32(a + 4), tab = rd32(a + 16), tab_len = rd32(a + 20), width = rd32(a + 28),
                     body = rd32(a + 40);
            if (nargs != 4 || lim.rows || rd32(a) != EDGEC_IMAGE_ARG_INT || rd32(a + 12) != EDGEC_IMAGE_ARG_DATA
                || rd32(a + 24) != EDGEC_IMAGE_ARG_INT || rd32(a + 36) != EDGEC_IMAGE_ARG_INT || tiles == 0
                || tiles > 0xFFFFu || width == 0 || width > 128u || body == 0 || body >= ncalls - i)
                return fail(info, EDGEC_IMAGE_E_SCHEDULE, (int32_t)i);
            if (tab < data_off || (tab & 3u) || !inside(tab, tab_len, data_off + data_len) || tab_len / 4u / width < tiles)
                return fail(info, EDGEC_IMAGE_E_BOUNDS, (int32_t)i);
            lim.rows = img + tab;
            lim.tiles = tiles;
            lim.width = width;
            loop_left = body;
            p += 4u + 12u * nargs;
            continue;
        }
        for (j = 0; j < nk; j++)
            listed |= rd32(img + rd32(img + H_KERNELS) + 4u * j) == id;
        if (id >= EDGEC_IMAGE_N_KERNELS || !listed)
            return fail(info, EDGEC_IMAGE_E_SCHEDULE, (int32_t)i);
        r = check_call(&lim, id, nargs, p + 4);
        if (r != EDGEC_IMAGE_OK)
            return fail(info, r, (int32_t)i);
        p += 4u + 12u * nargs;
        if (loop_left && --loop_left == 0)
            lim.rows = 0;
    }
    if (p != end)
        return EDGEC_IMAGE_E_SCHEDULE;
    return EDGEC_IMAGE_OK;
}

/* The arguments of one call as the kernel takes them. */
#define P(k, T) ((T)ptr[k])
#define V(k) (val[k])

int edgec_image_run(const uint8_t *img, uint8_t *arena, const void *in, void *out)
{
    const uint32_t *h = (const uint32_t *)(const void *)img;      /* check() proved the header and its alignment */
    const uint32_t flags = h[H_FLAGS / 4], ncalls = h[H_NCALLS / 4];
    const uint32_t *p = (const uint32_t *)(const void *)(img + h[H_SCHED / 4]);
    uint8_t *state = arena + h[H_STATE_OFF / 4];
    const int8_t *input = (const int8_t *)in;
    const uint32_t *loop = p;
    const int32_t *table = 0, *rows = 0;
    uint32_t c, k, tiles = 0, width = 0, body = 0, left = 0, band = 0;
    uintptr_t base[6];                                     /* by argument kind (check() allows only these) */
    if (((uintptr_t)arena & 3u) != 0)
        return EDGEC_IMAGE_E_ARENA;
    if (flags & EDGEC_IMAGE_FLAG_INPUT_U8) {              /* the file's uint8 -> int8 (v - 128), in the arena */
        int8_t *copy = (int8_t *)(arena + h[H_INCOPY_OFF / 4]);
        const uint8_t *u = (const uint8_t *)in;
        for (k = 0; k < h[H_IN_BYTES / 4]; k++)
            copy[k] = (int8_t)(u[k] ^ 0x80u);
        input = copy;
    }
    base[EDGEC_IMAGE_ARG_INT] = 0;
    base[EDGEC_IMAGE_ARG_ARENA] = (uintptr_t)arena;
    base[EDGEC_IMAGE_ARG_INPUT] = (uintptr_t)input;
    base[EDGEC_IMAGE_ARG_OUTPUT] = (uintptr_t)out;
    base[EDGEC_IMAGE_ARG_STATE] = (uintptr_t)state;
    base[EDGEC_IMAGE_ARG_DATA] = (uintptr_t)img;
    for (c = 0; c < ncalls; c++) {
        void *ptr[EDGEC_IMAGE_MAX_ARGS];
        int32_t val[EDGEC_IMAGE_MAX_ARGS];
        const uint32_t id = p[0] & 0xFFFFu, nargs = p[0] >> 16;
        const uint32_t *a = p + 1;
        if (id == EDGEC_IMAGE_LOOP) {                      /* a patch-based stage: its body once per band */
            tiles = p[2];
            table = rows = (const int32_t *)(const void *)(img + p[5]);
            width = p[8];
            body = left = p[11];
            band = 0;
            p += 1u + 3u * nargs;
            loop = p;
            continue;
        }
        for (k = 0; k < nargs; k++, a += 3) {              /* an integer, or a region's base + offset */
            uint32_t v = a[1];
            if (a[0] & EDGEC_IMAGE_ARG_BANDED)             /* value + r[row] * m */
                v += (uint32_t)rows[(a[0] >> 9) & 0x7Fu] * (a[0] >> 16);
            val[k] = (int32_t)v;
            ptr[k] = (void *)(base[a[0] & 0xFFu] + v);
        }
        switch (id) {
#if EDGEC_IMAGE_WITH_MEMCPY
        case 0: memcpy(ptr[0], ptr[1], (size_t)V(2)); break;
#endif
#if EDGEC_IMAGE_WITH_CONV2D_S8
        case 1: edgec_conv2d_s8(P(0, const edgec_conv2d_params *), P(1, const int8_t *), V(2), P(3, const int8_t *),
                                P(4, const int32_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, int8_t *), V(8), V(9));
            break;
#endif
#if EDGEC_IMAGE_WITH_CONV2D_COLS_S8
        case 2: edgec_conv2d_cols_s8(P(0, const edgec_conv2d_params *), P(1, const int8_t *), V(2), P(3, const int8_t *),
                                     P(4, const int32_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, int8_t *),
                                     V(8), V(9), P(10, int16_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_DEPTHWISE_CONV2D_S8
        case 3: edgec_depthwise_conv2d_s8(P(0, const edgec_conv2d_params *), P(1, const int8_t *), V(2),
                                          P(3, const int8_t *), P(4, const int32_t *), P(5, const int32_t *),
                                          P(6, const int32_t *), P(7, int8_t *), V(8), V(9));
            break;
#endif
#if EDGEC_IMAGE_WITH_FULLY_CONNECTED_S8
        case 4: edgec_fully_connected_s8(P(0, const edgec_fully_connected_params *), P(1, const int8_t *),
                                         P(2, const int8_t *), P(3, const int32_t *), P(4, const int32_t *),
                                         P(5, const int32_t *), P(6, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_ADD_S8
        case 5: edgec_add_s8(P(0, const edgec_add_params *), P(1, const int32_t *), P(2, const int8_t *),
                             P(3, const int8_t *), P(4, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_MUL_S8
        case 6: edgec_mul_s8(P(0, const edgec_mul_params *), P(1, const int8_t *), P(2, const int8_t *), P(3, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_MAXPOOL_S8
        case 7: edgec_maxpool_s8(P(0, const edgec_pool_params *), P(1, const int8_t *), V(2), P(3, int8_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_AVGPOOL_S8
        case 8: edgec_avgpool_s8(P(0, const edgec_pool_params *), P(1, const int8_t *), V(2), P(3, int8_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_LUT_S8
        case 9: edgec_lut_s8(P(0, const int8_t *), P(1, const int8_t *), P(2, int8_t *), V(3)); break;
#endif
#if EDGEC_IMAGE_WITH_SOFTMAX_S8
        case 10: edgec_softmax_s8(P(0, const int32_t *), V(1), V(2), P(3, const int8_t *), P(4, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_SOFTMAX_TFLM_S8
        case 11: edgec_softmax_tflm_s8(P(0, const int32_t *), V(1), V(2), P(3, const int8_t *), P(4, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_TRANSPOSE_S8
        case 12: edgec_transpose_s8(P(0, const edgec_transpose_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_PAD_S8
        case 13: edgec_pad_s8(P(0, const edgec_pad_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_PAD_ROWS_S8
        case 14: edgec_pad_rows_s8(P(0, const edgec_pad_params *), P(1, const int8_t *), V(2), P(3, int8_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_CONCAT_S8
        case 15: edgec_concat_s8(P(0, const edgec_concat_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_UPSAMPLE_S8
        case 16: edgec_upsample_s8(P(0, const edgec_upsample_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_SLICE_S8
        case 17: edgec_slice_s8(P(0, const edgec_slice_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_RESIZE_S8
        case 18: edgec_resize_s8(P(0, const edgec_resize_params *), P(1, const int16_t *), P(2, const int16_t *),
                                 P(3, const int16_t *), P(4, const int16_t *), P(5, const int16_t *), P(6, const int16_t *),
                                 P(7, const int8_t *), P(8, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_MEAN_S8
        case 19: edgec_mean_s8(P(0, const edgec_mean_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_PRELU_S8
        case 20: edgec_prelu_s8(P(0, const edgec_prelu_params *), P(1, const int8_t *), P(2, const int8_t *), P(3, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_CONV2D_S16
        case 21: edgec_conv2d_s16(P(0, const edgec_conv2d_params *), P(1, const int16_t *), V(2), P(3, const int8_t *),
                                  P(4, const int64_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, int16_t *), V(8), V(9));
            break;
#endif
#if EDGEC_IMAGE_WITH_FULLY_CONNECTED_S16
        case 22: edgec_fully_connected_s16(P(0, const edgec_fully_connected_params *), P(1, const int16_t *),
                                           P(2, const int8_t *), P(3, const int64_t *), P(4, const int32_t *),
                                           P(5, const int32_t *), P(6, int16_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_ADD_S16
        case 23: edgec_add_s16(P(0, const edgec_add_params *), P(1, const int16_t *), P(2, const int16_t *), P(3, int16_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_MAXPOOL_S16
        case 24: edgec_maxpool_s16(P(0, const edgec_pool_params *), P(1, const int16_t *), V(2), P(3, int16_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_AVGPOOL_S16
        case 25: edgec_avgpool_s16(P(0, const edgec_pool_params *), P(1, const int16_t *), V(2), P(3, int16_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_REQUANTIZE_S8_S16
        case 26: edgec_requantize_s8_s16(P(0, const edgec_requantize_params *), P(1, const int8_t *), P(2, int16_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_REQUANTIZE_S16_S8
        case 27: edgec_requantize_s16_s8(P(0, const edgec_requantize_params *), P(1, const int16_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_LSTM_S8
        case 28: edgec_lstm_s8(P(0, const edgec_lstm_params *), P(1, const int8_t *), P(2, const int8_t *), P(3, const int8_t *),
                               P(4, const int32_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, const int32_t *),
                               P(8, const uint16_t *), P(9, int8_t *), ptr[10]);
            break;
#endif
#if EDGEC_IMAGE_WITH_CONV2D_WIDE_S8
        case 30: edgec_conv2d_wide_s8(P(0, const edgec_conv2d_params *), P(1, const int8_t *), V(2), P(3, const int32_t *),
                                      P(4, const int32_t *), P(5, int8_t *), V(6), V(7), P(8, int16_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_FULLY_CONNECTED_WIDE_S8
        case 31: edgec_fully_connected_wide_s8(P(0, const edgec_fully_connected_params *), P(1, const int8_t *),
                                               P(2, const int32_t *), P(3, const int32_t *), P(4, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_GRU_S8
        case 29: edgec_gru_s8(P(0, const edgec_gru_params *), P(1, const int8_t *), P(2, const int8_t *), P(3, const int8_t *),
                              P(4, const int32_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, const int32_t *),
                              P(8, const uint16_t *), P(9, int8_t *), ptr[10]);
            break;
#endif
        default: return EDGEC_IMAGE_E_KERNEL;          /* check() refused it already */
        }
        p += 1u + 3u * nargs;
        if (body && --left == 0) {                         /* the end of a stage's body: the next band, or on */
            if (++band < tiles) {
                rows = table + band * width;
                p = loop;
                left = body;
                c -= body;
            } else {
                body = 0;
            }
        }
    }
    if (flags & EDGEC_IMAGE_FLAG_OUTPUT_U8) {             /* to the file's uint8: v + 128 */
        uint8_t *u = (uint8_t *)out;
        for (k = 0; k < h[H_OUT_BYTES / 4]; k++)
            u[k] = (uint8_t)(u[k] ^ 0x80u);
    }
    return EDGEC_IMAGE_OK;
}

void edgec_image_reset(const uint8_t *img, uint8_t *arena)
{
    const uint32_t *h = (const uint32_t *)(const void *)img;
    if (h[H_STATE_BYTES / 4])
        memcpy(arena + h[H_STATE_OFF / 4], img + h[H_STATE_INIT / 4], h[H_STATE_BYTES / 4]);
}

int edgec_image_selftest(const uint8_t *img, uint8_t *arena, void *out)
{
#if !defined(EDGEC_IMAGE_NO_HASH)
    const uint32_t *h = (const uint32_t *)(const void *)img;
    const uint32_t n = h[H_NTESTS / 4], in_bytes = h[H_IN_BYTES / 4], out_bytes = h[H_OUT_BYTES / 4];
    const uint8_t *tests = img + h[H_TESTS / 4];
    uint32_t t;
    int ok = 1;
    edgec_image_reset(img, arena);
    for (t = 0; t < n; t++) {
        edgec_image_run(img, arena, tests + t * in_bytes, out);
        ok &= sha256_equal((const uint8_t *)out, out_bytes, tests + n * in_bytes + 32u * t);
    }
    edgec_image_reset(img, arena);
    return ok ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_SELFTEST;
#else
    (void)img;
    (void)arena;
    (void)out;
    return EDGEC_IMAGE_E_SELFTEST;                   /* no sha256 in this build: nothing is proven */
#endif
}
