/* edgec model image interpreter: a model delivered as data (codegen/image.py writes it), run by the
 * same kernels the generated C calls.  C99, no malloc, no floating point.
 *
 * The image is data only: a header, a schedule of kernel calls (kernel id + typed arguments), the
 * weights and layer parameters, the initial state and a self-test.  edgec_image_check() proves, before
 * anything runs, that every argument of every call has the kind its kernel takes and that every
 * pointer argument with its extent lies inside the image (read-only data) or inside the caller's arena
 * / input / output, so a hostile image cannot make the interpreter read or write outside them through
 * the extents it declares.  For conv, pools, fully connected, memcpy, lut, softmax, add, mul,
 * transpose (its row bands too), pad, concat, upsample, slice, resize (its tap tables too), mean, prelu and requantize it
 * also bounds what the kernel touches from the layer's parameters and row band; the parameter structs
 * of pad_rows, LSTM and GRU are used as given (README, "Model images"): a device also checks the
 * image's signature.
 *
 * Byte order: the image is little-endian and its parameter structs are read in place, so it runs on
 * little-endian cores (all Cortex-M, RISC-V, AVR, x86); check refuses it elsewhere.
 *
 * The hash: check() compares the body's sha256 (edgec_crypto.h, libsodium's) with the header's, and
 * selftest() hashes the golden outputs; link edgec_crypto.c and libsodium's verify path
 * (compiler/crypto_source.py).  -DEDGEC_IMAGE_NO_HASH leaves both out: only for measuring run() where
 * another program checks the same image (compiler/image_exec.py), never in a firmware.
 *
 * The kernel set: a firmware chooses at compile time which kernels it carries.  By default all of them;
 * with -DEDGEC_IMAGE_DEFAULT=0 only those given as -DEDGEC_IMAGE_WITH_<NAME>=1 (e.g.
 * EDGEC_IMAGE_WITH_FULLY_CONNECTED_S8).  An image that needs a kernel the firmware lacks is refused
 * with EDGEC_IMAGE_E_KERNEL and the kernel's id in info->missing_kernel (edgec_image_kernel_name()).
 */
#ifndef EDGEC_IMAGE_H
#define EDGEC_IMAGE_H
#include <stdint.h>

#define EDGEC_IMAGE_FORMAT 2u
/* The kernels' calling conventions (ids, argument lists, parameter structs): bumped when any changes. */
#define EDGEC_IMAGE_KERNEL_ABI 3u          /* 3: the wide conv's weights and records by channel quads */
#define EDGEC_IMAGE_HEADER_BYTES 256u
#define EDGEC_IMAGE_MAX_ARGS 12

/* The kernel table: X(id, name, argument kinds, parameter struct).  Kinds: p = the layer's parameter
 * struct (image data, exactly its size), r = data read (image, arena, input, output or state), w = data
 * written (arena, output or state), i = an integer.  codegen/image.py reads this table. */
#define EDGEC_IMAGE_KERNELS(X) \
    X(0, memcpy, "wri", edgec_image_none) \
    X(1, conv2d_s8, "prirrrrwii", edgec_conv2d_params) \
    X(2, conv2d_cols_s8, "prirrrrwiiw", edgec_conv2d_params) \
    X(3, depthwise_conv2d_s8, "prirrrrwii", edgec_conv2d_params) \
    X(4, fully_connected_s8, "prrrrrw", edgec_fully_connected_params) \
    X(5, add_s8, "prrrw", edgec_add_params) \
    X(6, mul_s8, "prrw", edgec_mul_params) \
    X(7, maxpool_s8, "priwii", edgec_pool_params) \
    X(8, avgpool_s8, "priwii", edgec_pool_params) \
    X(9, lut_s8, "rrwi", edgec_image_none) \
    X(10, softmax_s8, "riirw", edgec_image_none) \
    X(11, softmax_tflm_s8, "riirw", edgec_image_none) \
    X(12, transpose_s8, "prw", edgec_transpose_params) \
    X(13, pad_s8, "prw", edgec_pad_params) \
    X(14, pad_rows_s8, "priwii", edgec_pad_params) \
    X(15, concat_s8, "prw", edgec_concat_params) \
    X(16, upsample_s8, "prw", edgec_upsample_params) \
    X(17, slice_s8, "prw", edgec_slice_params) \
    X(18, resize_s8, "prrrrrrrw", edgec_resize_params) \
    X(19, mean_s8, "prw", edgec_mean_params) \
    X(20, prelu_s8, "prrw", edgec_prelu_params) \
    X(21, conv2d_s16, "prirrrrwii", edgec_conv2d_params) \
    X(22, fully_connected_s16, "prrrrrw", edgec_fully_connected_params) \
    X(23, add_s16, "prrw", edgec_add_params) \
    X(24, maxpool_s16, "priwii", edgec_pool_params) \
    X(25, avgpool_s16, "priwii", edgec_pool_params) \
    X(26, requantize_s8_s16, "prw", edgec_requantize_params) \
    X(27, requantize_s16_s8, "prw", edgec_requantize_params) \
    X(28, lstm_s8, "prrrrrrrrww", edgec_lstm_params) \
    X(29, gru_s8, "prrrrrrrrww", edgec_gru_params) \
    X(30, conv2d_wide_s8, "prirrwiiw", edgec_conv2d_params) \
    X(31, fully_connected_wide_s8, "prrrw", edgec_fully_connected_params) \
    X(32, pad_border_s8, "prw", edgec_pad_border_params) \
    X(33, transpose_rows_s8, "prwii", edgec_transpose_params) \
    X(34, argmax_s8, "prw", edgec_argmax_params) \
    X(35, l2norm_s8, "prw", edgec_l2norm_params) \
    X(36, cumsum_s8, "prw", edgec_cumsum_params) \
    X(37, topk_s8, "prw", edgec_topk_params)
#define EDGEC_IMAGE_N_KERNELS 38
typedef char edgec_image_none;            /* the "struct" of kernels without a parameter struct */

/* A schedule record (u32 words): word 0 is the kernel id (bits 0-6; bit 7 set in a loop's body), the
 * number of arguments (8-15) and the record's length in bytes (16-31); then one word per argument,
 * as the kernel takes it: an integer argument is the int32 itself; a pointer argument is its kind
 * (bits 29-31) and its byte offset (bits 0-28) in the region of that kind.  run() decodes a pointer
 * as base[kind] + offset, with no other test: check() has proven every word against the kernel's
 * signature and the regions first.  In a loop's body one band word per argument follows (k | m << 8:
 * add r[k] * m, r being the band's row entries; 0 for an argument no band moves).  Last, one extent
 * word per argument, the bytes a pointer covers (0 for integers and banded pointers, which cover
 * r[k + 1] rows of m bytes): only check() reads them. */
enum {
    EDGEC_IMAGE_ARG_ARENA = 1,    /* byte offset in the arena */
    EDGEC_IMAGE_ARG_INPUT = 2,    /* byte offset in the input */
    EDGEC_IMAGE_ARG_OUTPUT = 3,   /* byte offset in the output */
    EDGEC_IMAGE_ARG_STATE = 4,    /* byte offset in the state (kept in the arena, after the plan's bytes) */
    EDGEC_IMAGE_ARG_DATA = 5      /* byte offset in the image (weights, tables, parameter structs) */
};
#define EDGEC_IMAGE_KIND_SHIFT 29
#define EDGEC_IMAGE_OFFSET_MASK 0x1FFFFFFFu
/* Records that are no kernel.  LOOP (arguments: tiles, row table, entries per band) starts a
 * patch-based stage (passes/tile.py): the records up to its END, its body, run once per band. */
#define EDGEC_IMAGE_LOOP 0xFFu
#define EDGEC_IMAGE_END 0xFEu
#define EDGEC_IMAGE_IN_LOOP 0x80u         /* id bit of a body's call */

/* Results: 0 is success; each refusal has its own code. */
enum {
    EDGEC_IMAGE_OK = 0,
    EDGEC_IMAGE_E_SHORT = 1,      /* shorter than its header or than the length it declares */
    EDGEC_IMAGE_E_MAGIC = 2,      /* not an edgec model image */
    EDGEC_IMAGE_E_FORMAT = 3,     /* another format version, or big-endian core */
    EDGEC_IMAGE_E_ABI = 4,        /* built for another kernel ABI */
    EDGEC_IMAGE_E_KERNEL = 5,     /* needs a kernel this firmware does not carry (info->missing_kernel) */
    EDGEC_IMAGE_E_BOUNDS = 6,     /* a section, offset or extent outside the image, arena, input or output */
    EDGEC_IMAGE_E_SCHEDULE = 7,   /* a call whose arguments do not match its kernel */
    EDGEC_IMAGE_E_ARENA = 8,      /* the caller's arena is smaller than the image needs, or misaligned */
    EDGEC_IMAGE_E_HASH = 9,       /* the body's sha256 differs from the header's */
    EDGEC_IMAGE_E_SELFTEST = 10,  /* the golden inputs' outputs do not hash to the image's */
    EDGEC_IMAGE_E_ALIGN = 11      /* the image is not 8-byte aligned in memory */
};

typedef struct {
    char name[32], version[16];          /* NUL-terminated */
    uint32_t arena_bytes;                /* the arena the caller gives run(): plan + state + uint8 input copy */
    uint32_t input_bytes, output_bytes, state_bytes;
    uint32_t flags;                      /* EDGEC_IMAGE_FLAG_* */
    int32_t input_zp, input_scale_q31, input_scale_shift;    /* real = q31 * 2^(shift - 31) * (q - zp) */
    int32_t output_zp, output_scale_q31, output_scale_shift;
    uint32_t calls, selftests;
    int32_t missing_kernel;              /* with EDGEC_IMAGE_E_KERNEL: the kernel's id, else -1 */
    int32_t bad_call;                    /* with EDGEC_IMAGE_E_SCHEDULE / _BOUNDS in the schedule: the call, else -1 */
} edgec_image_info;

#define EDGEC_IMAGE_FLAG_INPUT_U8 1u     /* run() takes uint8 input (the model file's), v ^ 0x80 inside */
#define EDGEC_IMAGE_FLAG_OUTPUT_U8 2u    /* run() gives uint8 output */

/* Checks everything before anything runs (see above).  `arena_len`: the bytes the caller will give
 * run(); `info` may be NULL. */
int edgec_image_check(const uint8_t *img, uint32_t len, uint32_t arena_len, edgec_image_info *info);
/* Runs the schedule on one input.  Only for an image check() accepted with this arena size; `arena`
 * is 4-aligned and keeps the state between runs of a streaming model (call edgec_image_reset() once
 * before its first run). */
int edgec_image_run(const uint8_t *img, uint8_t *arena, const void *in, void *out);
/* Puts a streaming model's state back to its initial values (before a new stream). */
void edgec_image_reset(const uint8_t *img, uint8_t *arena);
/* Runs the golden inputs (from the initial state, as one stream; the state is reset after) and
 * compares the sha256 of their outputs with the image's: EDGEC_IMAGE_OK or EDGEC_IMAGE_E_SELFTEST.
 * `out` holds one output. */
int edgec_image_selftest(const uint8_t *img, uint8_t *arena, void *out);
/* "conv2d_s8" for a kernel id, "?" for an unknown one. */
const char *edgec_image_kernel_name(int32_t id);

#endif
