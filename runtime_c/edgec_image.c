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
#ifndef EDGEC_IMAGE_WITH_TRANSPOSE_ROWS_S8
#define EDGEC_IMAGE_WITH_TRANSPOSE_ROWS_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_PAD_S8
#define EDGEC_IMAGE_WITH_PAD_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_ARGMAX_S8
#define EDGEC_IMAGE_WITH_ARGMAX_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_L2NORM_S8
#define EDGEC_IMAGE_WITH_L2NORM_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_CUMSUM_S8
#define EDGEC_IMAGE_WITH_CUMSUM_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_TOPK_S8
#define EDGEC_IMAGE_WITH_TOPK_S8 EDGEC_IMAGE_DEFAULT
#endif
#ifndef EDGEC_IMAGE_WITH_PAD_BORDER_S8
#define EDGEC_IMAGE_WITH_PAD_BORDER_S8 EDGEC_IMAGE_DEFAULT
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
    EDGEC_IMAGE_WITH_CONV2D_WIDE_S8, EDGEC_IMAGE_WITH_FULLY_CONNECTED_WIDE_S8, EDGEC_IMAGE_WITH_PAD_BORDER_S8,
    EDGEC_IMAGE_WITH_TRANSPOSE_ROWS_S8, EDGEC_IMAGE_WITH_ARGMAX_S8, EDGEC_IMAGE_WITH_L2NORM_S8,
    EDGEC_IMAGE_WITH_CUMSUM_S8, EDGEC_IMAGE_WITH_TOPK_S8,
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

/* The elements of a box of `n` dimensions (or counts), each in [lo, 2^31); -1 if one is not or the
 * box has 2^31 elements or more.  Products of two such stay inside int64_t. */
static int64_t box(const int32_t *dims, int n, int32_t lo)
{
    int64_t e = 1;
    while (n--) {
        if (!IN(*dims, lo, BIG))
            return -1;
        e *= *dims++;
        if (e > BIG)
            return -1;
    }
    return e;
}

/* The elements an operand walked with 4-D broadcast strides spans: 1 + the largest index. */
static int64_t span(const int32_t *shape, const int32_t *stride)
{
    int64_t last = 0;
    int k;
    for (k = 0; k < 4; k++) {
        if (!IN(stride[k], 0, 0xFFFFFF) || box(shape, 4, 1) < 0)
            return -1;
        last += (int64_t)(shape[k] - 1) * stride[k];
    }
    return last + 1;
}

/* need <= len, need known (>= 0) */
#define FITS(need, len) ((need) >= 0 && (int64_t)(need) <= (int64_t)(len))

/* The elementwise, layout and requantizing kernels: what they read and write from their parameter
 * struct, in bytes, against their pointers' extents.  in/out: the argument indices of the tensor read
 * and the tensor written (and of a second operand, b). */
static int params_ok(const uint8_t *img, uint32_t id, const uint8_t *a, const uint32_t *len)
{
    const int32_t *q = (const int32_t *)(const void *)(img + (rd32(a) & EDGEC_IMAGE_OFFSET_MASK));
    int k;
    switch (id) {
    case 5: case 6: case 23: {            /* add_s8 (p, tables, a, b, out), mul_s8 / add_s16 (p, a, b, out) */
        const edgec_broadcast4 *bc = (const edgec_broadcast4 *)(const void *)q;
        const int64_t e = id == 23 ? 2 : 1, n = box(bc->shape, 4, 1);
        const uint32_t i = id == 5 ? 2u : 1u;
        return FITS(n * e, len[i + 2]) && FITS(span(bc->shape, bc->a_stride) * e, len[i])
            && FITS(span(bc->shape, bc->b_stride) * e, len[i + 1]) && (id != 5 || len[1] >= 2048u);
    }
    case 12: {                            /* transpose (p: in_shape, perm) */
        int seen = 0;
        for (k = 0; k < 4; k++)
            seen |= IN(q[4 + k], 0, 3) ? 1 << q[4 + k] : 16;
        return seen == 15 && FITS(box(q, 4, 1), len[1]) && FITS(box(q, 4, 1), len[2]);
    }
    case 13:                              /* pad (p: in_shape, before, out_shape) */
        for (k = 0; k < 4; k++)
            if (!IN(q[4 + k], 0, 0xFFFF) || (int64_t)q[4 + k] + q[k] > q[8 + k])
                return 0;
        return FITS(box(q, 4, 1), len[1]) && FITS(box(q + 8, 4, 1), len[2]);
    case 32:                              /* edge / reflect pad (p: in_shape, before, out_shape, mode) */
        for (k = 0; k < 4; k++)            /* every output index maps into [0, in_shape) whatever the pads */
            if (!IN(q[4 + k], 0, 0xFFFF) || (int64_t)q[4 + k] + q[k] > q[8 + k])
                return 0;
        return IN(q[12], 1, 2) && FITS(box(q, 4, 1), len[1]) && FITS(box(q + 8, 4, 1), len[2]);
    case 17: {                            /* slice (p: in_shape, begin, end) */
        int32_t n[4];
        for (k = 0; k < 4; k++) {
            if (!IN(q[4 + k], 0, q[k]) || !IN(q[8 + k], q[4 + k], q[k]))
                return 0;
            n[k] = q[8 + k] - q[4 + k];
        }
        return FITS(box(q, 4, 1), len[1]) && FITS(box(n, 4, 0), len[2]);
    }
    case 15:                              /* concat (p: outer, in_inner, out_inner, offset) */
        return box(q, 4, 0) >= 0 && (int64_t)q[3] + q[1] <= q[2] && FITS(box(q, 2, 0), len[1])
            && (q[0] == 0 || FITS((int64_t)(q[0] - 1) * q[2] + q[3] + q[1], len[2]));
    case 16: {                            /* upsample (p: batch, in_h, in_w, c, scale_h, scale_w) */
        const int64_t n = box(q, 4, 1), up = box(q + 4, 2, 1);
        return n >= 0 && up >= 0 && FITS(n, len[1]) && FITS(n * up, len[2]);
    }
    case 19:                              /* mean (p: outer, count, inner) */
        return FITS(box(q, 3, 0), len[1]) && box(q, 3, 0) >= 0 && FITS((int64_t)q[0] * q[2], len[2]);
    case 34:                              /* argmax (p: outer, count <= 128, inner; in, out: one index per outer, inner) */
        return box(q, 3, 1) >= 0 && q[1] <= 128 && FITS(box(q, 3, 1), len[1]) && FITS((int64_t)q[0] * q[2], len[2]);
    case 35:                              /* l2norm (p: outer, count, inner, in_zp) */
        return box(q, 3, 1) >= 0 && IN(q[3], -128, 127) && FITS(box(q, 3, 1), len[1]) && FITS(box(q, 3, 1), len[2]);
    case 36:                              /* cumsum (p: outer, count, inner, exclusive, reverse, in_zp, out_zp, m, shift) */
        return box(q, 3, 1) >= 0 && q[1] <= (1 << 23) && IN(q[5], -128, 127) && IN(q[6], -128, 127) && IN(q[8], -31, 30)
            && FITS(box(q, 3, 1), len[1]) && FITS(box(q, 3, 1), len[2]);
    case 37:                              /* topk (p: rows, count <= 128, k in [1, count]; in, out: rows x k) */
        return box(q, 2, 1) >= 0 && q[1] <= 128 && IN(q[2], 1, q[1]) && FITS(box(q, 2, 1), len[1])
            && FITS((int64_t)q[0] * q[2], len[2]);
    case 20:                              /* prelu (p: n, period; in, alpha, out) */
        return FITS(box(q, 1, 0), len[1]) && FITS(q[0], len[3]) && IN(q[1], 1, 0xFFFF) && FITS(q[1], len[2]);
    case 28: case 29: {   /* lstm / gru (p: batch, steps, in_features, hidden, return_sequences; in, w, r, bias_x,
                             bias_h, multiplier, shift, table, out, scratch): unit by unit, four rows a unit */
        const int64_t g = id == 28 ? 4 : 3, b = q[0], t = q[1], h = q[3];
        if (box(q, 4, 1) < 0 || !IN(q[4], 0, 1))
            return 0;
        return FITS(b * t * q[2], len[1]) && FITS(4 * h * up(q[2], 4), len[2]) && FITS(4 * h * up(h, 4), len[3])
            && FITS(4 * g * h, len[4]) && FITS(4 * g * h, len[5]) && FITS(8 * g * h, len[6]) && FITS(8 * g * h, len[7])
            && FITS(512, len[8]) && FITS(b * (q[4] ? t : 1) * h, len[9]) && FITS((id == 28 ? 2 * h : 0) + 2 * up(h, 2), len[10]);
    }
    case 26: case 27:                     /* requantize (p: n): int8 <-> int16 */
        return FITS(box(q, 1, 0) * (id == 27 ? 2 : 1), len[1]) && FITS(box(q, 1, 0) * (id == 26 ? 2 : 1), len[2]);
    case 18: {                            /* resize (p: batch, in_h, in_w, c, out_h, out_w; tap tables) */
        const int16_t *t[6];
        const int32_t shape_out[4] = {q[0], q[4], q[5], q[3]};
        const int64_t in = box(q, 4, 1), rows = box(q + 4, 1, 1), cols = box(q + 5, 1, 1);
        if (in < 0 || rows < 0 || cols < 0 || !FITS(in, len[7]) || !FITS(box(shape_out, 4, 1), len[8]))
            return 0;
        for (k = 0; k < 6; k++) {
            if (!FITS(2 * (k < 3 ? rows : cols), len[1 + k]))
                return 0;
            t[k] = (const int16_t *)(const void *)(img + (rd32(a + 4u * (uint32_t)(1 + k)) & EDGEC_IMAGE_OFFSET_MASK));
        }
        for (k = 0; k < rows; k++)        /* taps: row y0 below in_h (< 0: zero point), y1 inside */
            if (t[0][k] >= q[1] || !IN(t[1][k], 0, q[1] - 1))
                return 0;
        for (k = 0; k < cols; k++)
            if (t[3][k] >= q[2] || !IN(t[4][k], 0, q[2] - 1))
                return 0;
        return 1;
    }
    default:
        return 1;
    }
}

/* Wide requantization records (image data, fixed: the first word the mode, then per block of `lanes`
 * channels, 2 for a fully connected layer's pairs and 4 for a conv's quads, 2 * lanes biases and each
 * channel's 4-word record): shifts of 0..31, |R| < 2^30 (t + R stays an int32), a zero point kept apart
 * (a quad's: in its shift word's bits 8 and up, codegen/layouts.py wide_quad_requant) within int8's reach. */
static int wide_records_ok(const uint8_t *rec, int64_t blocks, int64_t lanes)
{
    int64_t j, ch;
    for (j = 0; j < blocks; j++)
        for (ch = 0; ch < lanes; ch++) {
            const uint8_t *r = rec + 4 * (1 + 6 * lanes * j + 2 * lanes + 4 * ch);
            const int64_t big_r = (int32_t)rd32(r + 4), sw = (int32_t)rd32(r + 12);
            const int64_t apart_quad = lanes == 4 && rd32(rec);  /* a conv's: the zero point in sh's bits 8 and up */
            const int64_t sh = apart_quad ? (sw & 0xFF) : sw, c = apart_quad ? (sw - (sw & 0xFF)) / 256 : (int32_t)rd32(r + 8);
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
#define PARAMS(T) ((const T *)(const void *)(img + (rd32(a) & EDGEC_IMAGE_OFFSET_MASK)))   /* argument 0, the parameter struct */
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
            || 4 * (1 + 12 * pairs) > len[3] || batch * m > len[4] || rd32(a + 4u * 3) >> EDGEC_IMAGE_KIND_SHIFT != EDGEC_IMAGE_ARG_DATA
            || !wide_records_ok(img + (rd32(a + 4u * 3) & EDGEC_IMAGE_OFFSET_MASK), pairs, 2))
            return EDGEC_IMAGE_E_BOUNDS;
        return EDGEC_IMAGE_OK;
    }
    case 30: {                  /* wide one-group conv (p, in, in_row0, weights, records, out, r0, rows, cols) */
        const edgec_conv2d_params *q = PARAMS(edgec_conv2d_params);
        const int64_t quads = up(q->out_c, 4) / 4, taps = (int64_t)q->k_h * q->k_w, k4 = up(taps * q->in_c, 4);
        const uint8_t *rec = img + (rd32(a + 4u * 4) & EDGEC_IMAGE_OFFSET_MASK);
        if (!IN(q->k_w, 1, 0xFFFF) || !IN(q->stride_w, 1, 0xFFFF) || !IN(q->dil_w, 1, 0xFFFF) || !IN(q->pad_left, 0, 0xFFFF)
            || !IN(q->in_c, 1, 0xFFFF) || !IN(q->out_c, 1, 0xFFFF) || !IN(taps, 1, 0xFFFF) || q->groups != 1
            || 8 * quads * k4 > len[3] || 4 * (1 + 24 * quads) > len[4] || 4 * k4 + 20 + (q->in_c % 4 ? k4 : 0) > len[8]
            || rd32(a + 4u * 4) >> EDGEC_IMAGE_KIND_SHIFT != EDGEC_IMAGE_ARG_DATA)
            return EDGEC_IMAGE_E_BOUNDS;
        if (!wide_records_ok(rec, quads, 4))
            return EDGEC_IMAGE_E_BOUNDS;
        return band_ok(q->batch, q->in_h, q->in_w, q->in_c, q->out_h, q->out_w, q->out_c, q->out_stride, q->k_h, q->stride_h,
                       q->dil_h, q->pad_top, v[2], v[6], v[7], 1, len[1], len[5]) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    }
    case 14: {                            /* pad_rows (p, in, in_row0, out, r0, rows): [1, H, W, C], rows of a band */
        const int32_t *is = (const int32_t *)(const void *)(img + (rd32(a) & EDGEC_IMAGE_OFFSET_MASK));
        const int32_t *bf = is + 4, *os = is + 8;
        int64_t lo, hi;
        int k;
        for (k = 0; k < 4; k++)
            if (!IN(bf[k], 0, 0xFFFF) || (int64_t)bf[k] + is[k] > os[k])
                return EDGEC_IMAGE_E_BOUNDS;
        if (box(is, 4, 1) < 0 || box(os, 4, 1) < 0 || is[0] != 1 || os[0] != 1 || !IN(v[4], 0, os[1])
            || !IN(v[5], 0, os[1] - v[4]) || (int64_t)v[5] * os[2] * os[3] > len[3])
            return EDGEC_IMAGE_E_BOUNDS;
        lo = v[4] - bf[1] > 0 ? v[4] - bf[1] : 0;                  /* the input rows the band reads */
        hi = (int64_t)v[4] + v[5] - bf[1] < is[1] ? (int64_t)v[4] + v[5] - bf[1] : is[1];
        return hi <= lo || (lo >= v[2] && (hi - v[2]) * is[2] * is[3] <= len[1]) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    }
    case 33: {                            /* transpose_rows (p, in, out, r0, rows): whole input, rows of the output */
        const int32_t *q = PARAMS(int32_t);
        int32_t os[4], seen = 0;
        int k;
        for (k = 0; k < 4; k++) {
            seen |= IN(q[4 + k], 0, 3) ? 1 << q[4 + k] : 16;
            os[k] = seen & 16 ? 0 : q[q[4 + k]];
        }
        if (seen != 15 || !FITS(box(q, 4, 1), len[1]) || os[0] != 1 || !IN(v[3], 0, os[1]) || !IN(v[4], 0, os[1] - v[3])
            || (int64_t)v[4] * os[2] * os[3] > len[2])
            return EDGEC_IMAGE_E_BOUNDS;
        return EDGEC_IMAGE_OK;
    }
    case 7: case 8: case 24: case 25: {                     /* pools (p, in, in_row0, out, r0, rows) */
        const edgec_pool_params *q = PARAMS(edgec_pool_params);
        if (!IN(q->k_w, 1, 0xFFFF) || !IN(q->stride_w, 1, 0xFFFF) || !IN(q->pad_left, 0, 0xFFFF))
            return EDGEC_IMAGE_E_BOUNDS;
        return band_ok(q->batch, q->in_h, q->in_w, q->c, q->out_h, q->out_w, q->c, q->c, q->k_h, q->stride_h, 1,
                       q->pad_top, v[2], v[4], v[5], id >= 24 ? 2 : 1, len[1], len[3]) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    }
    default:
        return params_ok(img, id, a, len) ? EDGEC_IMAGE_OK : EDGEC_IMAGE_E_BOUNDS;
    }
}

/* One call's arguments (a: the argument words, then in a loop the band words, then the extents)
 * against its kernel's signature and the regions they point into, for every band of the enclosing
 * loop (once outside one).  A banded argument is word + r[k] * m; a banded pointer covers r[k + 1]
 * rows of m bytes.  What run() then computes from these words cannot leave the regions. */
static int check_call(const limits *c, uint32_t id, uint32_t nargs, const uint8_t *a)
{
    const char *sig = signature[id];
    const uint8_t *bands = a + 4u * nargs, *ext = bands + (c->rows ? 4u * nargs : 0u);
    uint32_t k, b, lens[EDGEC_IMAGE_MAX_ARGS];
    int64_t ints[EDGEC_IMAGE_MAX_ARGS];
    int r;
    if (nargs != length(sig))
        return EDGEC_IMAGE_E_SCHEDULE;
    for (b = 0; b < (c->rows ? c->tiles : 1u); b++) {
        for (k = 0; k < nargs; k++) {
            const uint32_t word = rd32(a + 4u * k), bw = c->rows ? rd32(bands + 4u * k) : 0u, row = bw & 0xFFu;
            const int64_t m = bw >> 8;
            const char s = sig[k];
            const uint8_t *t = bw ? c->rows + 4u * (b * c->width + row) : 0;     /* read once row < width */
            int64_t off, n = rd32(ext + 4u * k);
            if (bw && (m == 0 || row + (s != 'i') >= c->width || (s != 'i' && n)))
                return EDGEC_IMAGE_E_SCHEDULE;
            if (s == 'i') {
                ints[k] = (int64_t)(int32_t)word + (bw ? (int64_t)(int32_t)rd32(t) * m : 0);
                lens[k] = 0;
                if (n || !IN(ints[k], -BIG - 1, BIG))
                    return n ? EDGEC_IMAGE_E_SCHEDULE : EDGEC_IMAGE_E_BOUNDS;
                continue;
            }
            off = word & EDGEC_IMAGE_OFFSET_MASK;
            if (bw) {
                if ((int32_t)rd32(t) < 0 || (int32_t)rd32(t + 4) < 0)
                    return EDGEC_IMAGE_E_BOUNDS;
                off += (int64_t)rd32(t) * m;
                n = (int64_t)rd32(t + 4) * m;
            }
            if (off > EDGEC_IMAGE_OFFSET_MASK || n > 0xFFFFFFFFll)
                return EDGEC_IMAGE_E_BOUNDS;
            if ((r = region_ok(c, id, s, word >> EDGEC_IMAGE_KIND_SHIFT, (uint32_t)off, (uint32_t)n)) != EDGEC_IMAGE_OK)
                return r;
            ints[k] = off;
            lens[k] = (uint32_t)n;
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
        uint32_t w, id, nargs, bytes, j, listed = 0;
        int r;
        if (end - p < 4)
            return fail(info, EDGEC_IMAGE_E_BOUNDS, (int32_t)i);
        w = rd32(p);
        id = w & 0xFFu;
        nargs = (w >> 8) & 0xFFu;
        bytes = w >> 16;
        if (nargs > EDGEC_IMAGE_MAX_ARGS || (uint32_t)(end - p) < bytes)
            return fail(info, EDGEC_IMAGE_E_BOUNDS, (int32_t)i);
        if (bytes != 4u + 4u * nargs * (lim.rows && id != EDGEC_IMAGE_END ? 3u : 2u))
            return fail(info, EDGEC_IMAGE_E_SCHEDULE, (int32_t)i);
        if (id == EDGEC_IMAGE_LOOP) {        /* (tiles, row table, row entries per band) */
            const uint8_t *a = p + 4;
            uint32_t tiles = rd32(a), tab = rd32(a + 4) & EDGEC_IMAGE_OFFSET_MASK, tab_len = rd32(a + 16),
                     width = rd32(a + 8);
            if (nargs != 3 || lim.rows || rd32(a + 4) >> EDGEC_IMAGE_KIND_SHIFT != EDGEC_IMAGE_ARG_DATA
                || rd32(a + 12) || rd32(a + 20) || tiles == 0 || tiles > 0xFFFFu || width == 0 || width > 128u)
                return fail(info, EDGEC_IMAGE_E_SCHEDULE, (int32_t)i);
            if (tab < data_off || (tab & 3u) || !inside(tab, tab_len, data_off + data_len) || tab_len / 4u / width < tiles)
                return fail(info, EDGEC_IMAGE_E_BOUNDS, (int32_t)i);
            lim.rows = img + tab;
            lim.tiles = tiles;
            lim.width = width;
            loop_left = 0;
            p += bytes;
            continue;
        }
        if (id == EDGEC_IMAGE_END) {         /* a loop's end, after at least one call */
            if (nargs != 0 || !lim.rows || loop_left == 0)
                return fail(info, EDGEC_IMAGE_E_SCHEDULE, (int32_t)i);
            lim.rows = 0;
            p += bytes;
            continue;
        }
        if (!lim.rows != !(id & EDGEC_IMAGE_IN_LOOP))   /* a body's calls are marked, no others */
            return fail(info, EDGEC_IMAGE_E_SCHEDULE, (int32_t)i);
        id &= ~EDGEC_IMAGE_IN_LOOP;
        for (j = 0; j < nk; j++)
            listed |= rd32(img + rd32(img + H_KERNELS) + 4u * j) == id;
        if (id >= EDGEC_IMAGE_N_KERNELS || !listed)
            return fail(info, EDGEC_IMAGE_E_SCHEDULE, (int32_t)i);
        r = check_call(&lim, id, nargs, p + 4);
        if (r != EDGEC_IMAGE_OK)
            return fail(info, r, (int32_t)i);
        p += bytes;
        loop_left++;
    }
    if (lim.rows)                            /* a loop without its end */
        return EDGEC_IMAGE_E_SCHEDULE;
    if (p != end)
        return EDGEC_IMAGE_E_SCHEDULE;
    return EDGEC_IMAGE_OK;
}

/* The arguments of one call as the kernel takes them: a pointer is its kind's base + its offset,
 * base[kind] being the region's address less kind << 29, so that adding the whole word (kind bits
 * and offset) gives it; a parameter struct's kind is always the image's (check() proved it), so its
 * base needs no lookup; an integer is the word. */
#define P(k, T) ((T)(base[a[k] >> EDGEC_IMAGE_KIND_SHIFT] + a[k]))
#define PS(k, T) ((T)(data + a[k]))
#define V(k) ((int32_t)a[k])

int edgec_image_run(const uint8_t *img, uint8_t *arena, const void *in, void *out)
{
    const uint32_t *h = (const uint32_t *)(const void *)img;      /* check() proved the header and its alignment */
    const uint32_t flags = h[H_FLAGS / 4];
    const uint8_t *p = img + h[H_SCHED / 4], *const end = p + h[H_SCHED_LEN / 4], *loop = p;
    const uintptr_t data = (uintptr_t)img - ((uintptr_t)EDGEC_IMAGE_ARG_DATA << EDGEC_IMAGE_KIND_SHIFT);
    const int8_t *input = (const int8_t *)in;
    const int32_t *table = 0, *rows = 0;
    uint32_t k, tiles = 0, width = 0, band = 0;
    uint32_t copy[EDGEC_IMAGE_MAX_ARGS];                   /* a loop body's arguments, moved to the band */
    uintptr_t regions[8];                                  /* by kind (check() allows only 1-5) */
    const uintptr_t *base = regions;
#if defined(__GNUC__)
    __asm__("" : "+r"(base));     /* the table through a register: one load per pointer, not an sp offset too */
#endif
    if (((uintptr_t)arena & 3u) != 0)
        return EDGEC_IMAGE_E_ARENA;
    if (flags & EDGEC_IMAGE_FLAG_INPUT_U8) {              /* the file's uint8 -> int8 (v - 128), in the arena */
        int8_t *cp = (int8_t *)(arena + h[H_INCOPY_OFF / 4]);
        const uint8_t *u = (const uint8_t *)in;
        for (k = 0; k < h[H_IN_BYTES / 4]; k++)
            cp[k] = (int8_t)(u[k] ^ 0x80u);
        input = cp;
    }
    regions[0] = regions[6] = regions[7] = 0;
    regions[EDGEC_IMAGE_ARG_ARENA] = (uintptr_t)arena - ((uintptr_t)EDGEC_IMAGE_ARG_ARENA << EDGEC_IMAGE_KIND_SHIFT);
    regions[EDGEC_IMAGE_ARG_INPUT] = (uintptr_t)input - ((uintptr_t)EDGEC_IMAGE_ARG_INPUT << EDGEC_IMAGE_KIND_SHIFT);
    regions[EDGEC_IMAGE_ARG_OUTPUT] = (uintptr_t)out - ((uintptr_t)EDGEC_IMAGE_ARG_OUTPUT << EDGEC_IMAGE_KIND_SHIFT);
    regions[EDGEC_IMAGE_ARG_STATE] = (uintptr_t)(arena + h[H_STATE_OFF / 4])
                                     - ((uintptr_t)EDGEC_IMAGE_ARG_STATE << EDGEC_IMAGE_KIND_SHIFT);
    regions[EDGEC_IMAGE_ARG_DATA] = data;
    while (p != end) {
        const uint32_t w = *(const uint32_t *)(const void *)p;
        const uint32_t *a = (const uint32_t *)(const void *)p + 1;
        uint32_t id = w & 0xFFu;
        if (id >= EDGEC_IMAGE_N_KERNELS) {                /* no plain kernel call: a stage's records */
            if (id == EDGEC_IMAGE_LOOP) {                  /* its body once per band */
                tiles = a[0];
                table = rows = P(1, const int32_t *);
                width = a[2];
                band = 0;
                loop = p += w >> 16;
                continue;
            }
            if (id == EDGEC_IMAGE_END) {
                p += w >> 16;
                if (++band < tiles) {
                    rows = table + band * width;
                    p = loop;
                }
                continue;
            }
            {                                              /* a body's call: each word + r[k] * m */
                const uint32_t n = (w >> 8) & 0xFFu;
                for (k = 0; k < n; k++)
                    copy[k] = a[k] + (uint32_t)rows[a[n + k] & 0xFFu] * (a[n + k] >> 8);
                a = copy;
                id &= ~EDGEC_IMAGE_IN_LOOP;
                if (id >= EDGEC_IMAGE_N_KERNELS)
                    return EDGEC_IMAGE_E_KERNEL;           /* check() refused it already */
            }
        }
        switch (id) {
#if EDGEC_IMAGE_WITH_MEMCPY
        case 0: memcpy(P(0, void *), P(1, const void *), (size_t)V(2)); break;
#endif
#if EDGEC_IMAGE_WITH_CONV2D_S8
        case 1: edgec_conv2d_s8(PS(0, const edgec_conv2d_params *), P(1, const int8_t *), V(2), P(3, const int8_t *),
                                P(4, const int32_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, int8_t *), V(8), V(9));
            break;
#endif
#if EDGEC_IMAGE_WITH_CONV2D_COLS_S8
        case 2: edgec_conv2d_cols_s8(PS(0, const edgec_conv2d_params *), P(1, const int8_t *), V(2), P(3, const int8_t *),
                                     P(4, const int32_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, int8_t *),
                                     V(8), V(9), P(10, int16_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_DEPTHWISE_CONV2D_S8
        case 3: edgec_depthwise_conv2d_s8(PS(0, const edgec_conv2d_params *), P(1, const int8_t *), V(2),
                                          P(3, const int8_t *), P(4, const int32_t *), P(5, const int32_t *),
                                          P(6, const int32_t *), P(7, int8_t *), V(8), V(9));
            break;
#endif
#if EDGEC_IMAGE_WITH_FULLY_CONNECTED_S8
        case 4: edgec_fully_connected_s8(PS(0, const edgec_fully_connected_params *), P(1, const int8_t *),
                                         P(2, const int8_t *), P(3, const int32_t *), P(4, const int32_t *),
                                         P(5, const int32_t *), P(6, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_ADD_S8
        case 5: edgec_add_s8(PS(0, const edgec_add_params *), P(1, const int32_t *), P(2, const int8_t *),
                             P(3, const int8_t *), P(4, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_MUL_S8
        case 6: edgec_mul_s8(PS(0, const edgec_mul_params *), P(1, const int8_t *), P(2, const int8_t *), P(3, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_MAXPOOL_S8
        case 7: edgec_maxpool_s8(PS(0, const edgec_pool_params *), P(1, const int8_t *), V(2), P(3, int8_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_AVGPOOL_S8
        case 8: edgec_avgpool_s8(PS(0, const edgec_pool_params *), P(1, const int8_t *), V(2), P(3, int8_t *), V(4), V(5));
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
        case 12: edgec_transpose_s8(PS(0, const edgec_transpose_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_TRANSPOSE_ROWS_S8
        case 33: edgec_transpose_rows_s8(PS(0, const edgec_transpose_params *), P(1, const int8_t *), P(2, int8_t *), V(3), V(4));
            break;
#endif
#if EDGEC_IMAGE_WITH_ARGMAX_S8
        case 34: edgec_argmax_s8(PS(0, const edgec_argmax_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_L2NORM_S8
        case 35: edgec_l2norm_s8(PS(0, const edgec_l2norm_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_CUMSUM_S8
        case 36: edgec_cumsum_s8(PS(0, const edgec_cumsum_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_TOPK_S8
        case 37: edgec_topk_s8(PS(0, const edgec_topk_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_PAD_S8
        case 13: edgec_pad_s8(PS(0, const edgec_pad_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_PAD_BORDER_S8
        case 32: edgec_pad_border_s8(PS(0, const edgec_pad_border_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_PAD_ROWS_S8
        case 14: edgec_pad_rows_s8(PS(0, const edgec_pad_params *), P(1, const int8_t *), V(2), P(3, int8_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_CONCAT_S8
        case 15: edgec_concat_s8(PS(0, const edgec_concat_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_UPSAMPLE_S8
        case 16: edgec_upsample_s8(PS(0, const edgec_upsample_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_SLICE_S8
        case 17: edgec_slice_s8(PS(0, const edgec_slice_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_RESIZE_S8
        case 18: edgec_resize_s8(PS(0, const edgec_resize_params *), P(1, const int16_t *), P(2, const int16_t *),
                                 P(3, const int16_t *), P(4, const int16_t *), P(5, const int16_t *), P(6, const int16_t *),
                                 P(7, const int8_t *), P(8, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_MEAN_S8
        case 19: edgec_mean_s8(PS(0, const edgec_mean_params *), P(1, const int8_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_PRELU_S8
        case 20: edgec_prelu_s8(PS(0, const edgec_prelu_params *), P(1, const int8_t *), P(2, const int8_t *), P(3, int8_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_CONV2D_S16
        case 21: edgec_conv2d_s16(PS(0, const edgec_conv2d_params *), P(1, const int16_t *), V(2), P(3, const int8_t *),
                                  P(4, const int64_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, int16_t *), V(8), V(9));
            break;
#endif
#if EDGEC_IMAGE_WITH_FULLY_CONNECTED_S16
        case 22: edgec_fully_connected_s16(PS(0, const edgec_fully_connected_params *), P(1, const int16_t *),
                                           P(2, const int8_t *), P(3, const int64_t *), P(4, const int32_t *),
                                           P(5, const int32_t *), P(6, int16_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_ADD_S16
        case 23: edgec_add_s16(PS(0, const edgec_add_params *), P(1, const int16_t *), P(2, const int16_t *), P(3, int16_t *));
            break;
#endif
#if EDGEC_IMAGE_WITH_MAXPOOL_S16
        case 24: edgec_maxpool_s16(PS(0, const edgec_pool_params *), P(1, const int16_t *), V(2), P(3, int16_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_AVGPOOL_S16
        case 25: edgec_avgpool_s16(PS(0, const edgec_pool_params *), P(1, const int16_t *), V(2), P(3, int16_t *), V(4), V(5));
            break;
#endif
#if EDGEC_IMAGE_WITH_REQUANTIZE_S8_S16
        case 26: edgec_requantize_s8_s16(PS(0, const edgec_requantize_params *), P(1, const int8_t *), P(2, int16_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_REQUANTIZE_S16_S8
        case 27: edgec_requantize_s16_s8(PS(0, const edgec_requantize_params *), P(1, const int16_t *), P(2, int8_t *)); break;
#endif
#if EDGEC_IMAGE_WITH_LSTM_S8
        case 28: edgec_lstm_s8(PS(0, const edgec_lstm_params *), P(1, const int8_t *), P(2, const int8_t *), P(3, const int8_t *),
                               P(4, const int32_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, const int32_t *),
                               P(8, const uint16_t *), P(9, int8_t *), P(10, void *));
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
        case 29: edgec_gru_s8(PS(0, const edgec_gru_params *), P(1, const int8_t *), P(2, const int8_t *), P(3, const int8_t *),
                              P(4, const int32_t *), P(5, const int32_t *), P(6, const int32_t *), P(7, const int32_t *),
                              P(8, const uint16_t *), P(9, int8_t *), P(10, void *));
            break;
#endif
        default: return EDGEC_IMAGE_E_KERNEL;          /* check() refused it already */
        }
        p += w >> 16;
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
