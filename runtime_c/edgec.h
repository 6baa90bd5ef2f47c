/* edgec runtime: integer-only int8 (and int16-activation) kernels in portable C99.
 * No floating point, no malloc; only <stdint.h>, <stddef.h>, <string.h>.
 * Every kernel has a numpy twin in compiler/reference.py; the two agree bit for bit.
 * Layout: activations NHWC, Conv2D weights OHWI (O, KH, KW, C/groups), FullyConnected [out, in]. */
#ifndef EDGEC_H
#define EDGEC_H
#include <stddef.h>
#include <stdint.h>
#include "edgec_target.h"

typedef struct {
    int32_t batch, in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, groups;
    int32_t in_zp, out_zp, act_min, act_max;
    int32_t out_stride;   /* elements between output pixels: out_c, or more when writing into a Concat's slice */
} edgec_conv2d_params;

typedef struct {
    int32_t batch, in_features, out_features;
    int32_t in_zp, out_zp, act_min, act_max;
} edgec_fully_connected_params;

/* Element-wise ops broadcast over 4-D shapes: a stride of 0 repeats an operand along that axis. */
typedef struct {
    int32_t shape[4], a_stride[4], b_stride[4];
} edgec_broadcast4;

/* Add / Sub.  The int8 kernel reads the operands' fields (a_zp ... b_shift) only through the tables
 * codegen builds from them; the int16 kernel computes with them. */
typedef struct {
    edgec_broadcast4 bc;
    int32_t a_zp, b_zp, left_shift, a_multiplier, a_shift, b_multiplier, b_shift;
    int32_t multiplier, shift, out_zp, act_min, act_max;
} edgec_add_params;

typedef struct {
    edgec_broadcast4 bc;
    int32_t a_zp, b_zp, multiplier, shift, out_zp, act_min, act_max;
} edgec_mul_params;

typedef struct {
    int32_t batch, in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int32_t act_min, act_max;
} edgec_pool_params;

/* An average pool whose count includes padding (ONNX count_include_pad=1, a zero Pad folded in): the
 * divisor is the window's overlap with the input grown by count_top/left/bottom/right, every counted
 * tap outside the input adds pad_value (the input zero point: real 0). */
typedef struct {
    edgec_pool_params pool;
    int32_t count_top, count_left, count_bottom, count_right, pad_value;
} edgec_avgpool_pad_params;

typedef struct {
    int32_t in_shape[4], perm[4];
} edgec_transpose_params;

typedef struct {
    int32_t in_shape[4], before[4], out_shape[4], value;
} edgec_pad_params;

/* An edge or reflect Pad (mode 1: the border element repeated; 2: mirrored about the border element). */
typedef struct {
    int32_t in_shape[4], before[4], out_shape[4], mode;
} edgec_pad_border_params;

/* One Concat input copied into its slice of the output, requantized when its scale differs. */
typedef struct {
    int32_t outer, in_inner, out_inner, offset, requant, in_zp, multiplier, shift, out_zp;
} edgec_concat_params;

typedef struct {
    int32_t batch, in_h, in_w, c, scale_h, scale_w;
} edgec_upsample_params;

typedef struct {
    int32_t batch, in_h, in_w, in_c, block, crd;
} edgec_depth_to_space_params;

typedef struct {
    int32_t in_shape[4], begin[4], end[4];
} edgec_slice_params;

/* Resize (edgec_resize_s8.c): tables of two taps and a Q10 weight per output row and column. */
typedef struct {
    int32_t batch, in_h, in_w, c, out_h, out_w, zp;
} edgec_resize_params;

/* Mean over adjacent axes (edgec_mean_s8.c): [outer, count, inner], TFLite Micro's integer MEAN. */
typedef struct {
    int32_t outer, count, inner, in_zp, out_zp, multiplier, shift;
} edgec_mean_params;

/* PRelu (edgec_prelu_s8.c): n elements, alpha repeating every `period`, TFLite Micro's two multipliers. */
typedef struct {
    int32_t n, period, in_zp, alpha_zp, out_zp, m1, s1, m2, s2;
} edgec_prelu_params;

/* ArgMax / ArgMin (edgec_argmax_s8.c): [outer, count, inner], an int8 index (count <= 128) per (outer, inner). */
typedef struct {
    int32_t outer, count, inner, select_min, select_last;
} edgec_argmax_params;

/* L2 normalization (edgec_l2norm_s8.c): [outer, count, inner], TFLite's int8 L2Normalization (output 1/128, 0). */
typedef struct {
    int32_t outer, count, inner, in_zp;
} edgec_l2norm_params;

/* CumSum (edgec_cumsum_s8.c): [outer, count, inner], int32 running sums requantized once. */
typedef struct {
    int32_t outer, count, inner, exclusive, reverse, in_zp, out_zp, multiplier, shift;
} edgec_cumsum_params;

/* TopK (edgec_topk_s8.c): [rows, count <= 128] -> [rows, k] values or int8 indices. */
typedef struct {
    int32_t rows, count, k, largest, indices;
} edgec_topk_params;

/* StridedSlice (edgec_strided_slice_s8.c): a box of every step-th element (steps may be negative), rank <= 4
 * padded with leading 1s. */
typedef struct {
    int32_t in_shape[4], begin[4], step[4], count[4];
} edgec_strided_slice_params;

/* SVDF (edgec_svdf_s8.c): TFLite Micro's int8 SVDF with its int16 state [batch, filters * memory]. */
typedef struct {
    int32_t batch, in_features, filters, memory, rank, in_zp, state_zp, out_zp, multiplier, shift;
} edgec_svdf_params;

/* Requantize between int8 and int16 activations: n elements, out = clamp(out_zp + mbqm(in - in_zp)). */
typedef struct {
    int32_t n, in_zp, out_zp, multiplier, shift;
} edgec_requantize_params;

/* Unidirectional LSTM (runtime_c/edgec_lstm_s8.c): TFLite Micro's integer LSTM arithmetic. */
typedef struct {
    int32_t batch, steps, in_features, hidden, return_sequences, in_zp, h_zp, tanh_mult, tanh_shift;
    int32_t fc_multiplier, fc_shift, ig_multiplier, ig_shift, out_multiplier, out_shift, cell_clip;
    int32_t reverse;        /* 1: walk time from the last step to the first (a backward direction) */
} edgec_lstm_params;

/* GRU (runtime_c/edgec_gru_s8.c), in the integer LSTM's arithmetic. */
typedef struct {
    int32_t batch, steps, in_features, hidden, return_sequences, in_zp, h_zp;
    int32_t q15_multiplier, q15_shift, in15_multiplier, in15_shift, out_multiplier, out_shift;
    int32_t reverse;        /* 1: walk time from the last step to the first (a backward direction) */
} edgec_gru_params;

/* Conv and pools compute a band of output rows [out_row0, out_row0 + out_rows) from an input buffer
 * that starts at input row in_row0 (patch-based execution); (0, 0, out_h) is the whole tensor. */
void edgec_conv2d_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                     const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                     int32_t out_row0, int32_t out_rows);
/* The same for one-group convs with a columns scratch `cols`: 4-aligned, 2 * K4 int16 (K4 = k_h * k_w *
 * in_c rounded up to 4), plus K4 bytes when in_c is not a multiple of 4, which the memory plan gives a
 * conv where RAM allows (passes/plan_scratch.py).  The fastest loop nest for windows larger than 1x1. */
void edgec_conv2d_cols_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                          const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                          int32_t out_row0, int32_t out_rows, int16_t *cols);
/* Pointwise one-group convs over wide weights (int16, two a word: codegen/layouts.py wide_layout) and
 * per-channel requantization records (wide_requant), where the --flash budget allows
 * (passes/plan_wide.py); `cols`: a 4-aligned scratch of 2 * K4 int16 and 6 int32 (plan_wide.cols_bytes). */
void edgec_conv2d_wide_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                          const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols);
/* Its entry points by window gather (codegen/c.py, wide_entry): wide_pw 1x1, stride 1, unpadded, in_c a
 * multiple of 4; wide4 in_c a multiple of 4; wide3x9 k_h 3, k_w * in_c 9, undilated (a 3x3 over RGB); wide1 any. */
void edgec_conv2d_wide_pw_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                             const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols);
void edgec_conv2d_wide4_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                           const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols);
void edgec_conv2d_wide1_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int32_t *weights,
                           const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0, int32_t out_rows, int16_t *cols);
void edgec_conv2d_wide3x9_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0,
                             const EDGEC_ROM int32_t *weights, const EDGEC_ROM int32_t *records, int8_t *out, int32_t out_row0,
                             int32_t out_rows, int16_t *cols);
/* Depthwise (groups == in_c == out_c): weights as [k_h][k_w][C], channels innermost. */
void edgec_depthwise_conv2d_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0,
                               const EDGEC_ROM int8_t *weights, const EDGEC_ROM int32_t *bias,
                               const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows);
/* Each conv loop nest as an entry point of its own: codegen picks the nest from the layer's shapes by the
 * rule the two dispatchers above apply at run time (codegen/c.py, conv_entry) and calls it, so a firmware
 * linked with --gc-sections carries only the nests its model calls.  Each takes only the shapes that pick
 * it: pointwise 1x1, stride 1, unpadded, groups 1; rows groups 1, in_c a multiple of 4; patch groups 1,
 * k_h * k_w * in_c at most 64; taps any non-depthwise conv; depthwise lines 3x3, stride 1, undilated,
 * 3 * (max(out_rows, out_w) + 3) <= 160; depthwise quads any depthwise conv. */
void edgec_conv2d_pointwise_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                               const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                               int32_t out_row0, int32_t out_rows);
void edgec_conv2d_rows_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                          const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                          int32_t out_row0, int32_t out_rows);
void edgec_conv2d_patch_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                           const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                           int32_t out_row0, int32_t out_rows);
void edgec_conv2d_taps_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                          const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                          int32_t out_row0, int32_t out_rows);
void edgec_depthwise_conv2d_lines_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                     const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                     int32_t out_row0, int32_t out_rows);
void edgec_depthwise_conv2d_quads_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                     const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                     int32_t out_row0, int32_t out_rows);
void edgec_depthwise_conv2d_planes_s8(const EDGEC_ROM edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                                      const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out,
                                      int32_t out_row0, int32_t out_rows);
void edgec_fully_connected_s8(const EDGEC_ROM edgec_fully_connected_params *p, const int8_t *in, const EDGEC_ROM int8_t *weights,
                              const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out);
/* The same over wide weights (a pointwise conv's wide layout) and requantization records, where the
 * --flash budget allows (passes/plan_wide.py). */
void edgec_fully_connected_wide_s8(const EDGEC_ROM edgec_fully_connected_params *p, const int8_t *in, const EDGEC_ROM int32_t *weights,
                                   const EDGEC_ROM int32_t *records, int8_t *out);
/* tables[v + 128] (tables[256 + v + 128]): operand a (b) of value v moved to the common grid, as the
 * twin computes it, mbqm((v - a_zp) << left_shift, a_multiplier, a_shift) (codegen tabulates it). */
void edgec_add_s8(const EDGEC_ROM edgec_add_params *p, const EDGEC_ROM int32_t *tables, const int8_t *a, const int8_t *b, int8_t *out);
void edgec_mul_s8(const EDGEC_ROM edgec_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out);
void edgec_maxpool_s8(const EDGEC_ROM edgec_pool_params *p, const int8_t *in, int32_t in_row0, int8_t *out,
                      int32_t out_row0, int32_t out_rows);
void edgec_avgpool_s8(const EDGEC_ROM edgec_pool_params *p, const int8_t *in, int32_t in_row0, int8_t *out,
                      int32_t out_row0, int32_t out_rows);
void edgec_avgpool_pad_s8(const EDGEC_ROM edgec_avgpool_pad_params *p, const int8_t *in, int32_t in_row0, int8_t *out,
                          int32_t out_row0, int32_t out_rows);
/* out[i] = table[in[i] + 128]; in == out is allowed. */
void edgec_lut_s8(const EDGEC_ROM int8_t *table, const int8_t *in, int8_t *out, int32_t n);
void edgec_softmax_s8(const EDGEC_ROM int32_t *exp_table, int32_t rows, int32_t cols, const int8_t *in, int8_t *out);
/* TFLite Micro's int8 softmax (gemmlowp fixed point), for imported .tflite models: exp_table in Q0.31. */
void edgec_softmax_tflm_s8(const EDGEC_ROM int32_t *exp_table, int32_t rows, int32_t cols, const int8_t *in, int8_t *out);
/* LogSoftmax over the last axis, output scale 16/256 and zero point 127; tables from compiler/log_softmax.py. */
void edgec_log_softmax_s8(const EDGEC_ROM int32_t *exp_table, const EDGEC_ROM int32_t *d_table, const EDGEC_ROM int32_t *log_table,
                          int32_t exp_bits, int32_t ln2_q, int32_t rows, int32_t cols, const int8_t *in, int8_t *out);
void edgec_transpose_s8(const EDGEC_ROM edgec_transpose_params *p, const int8_t *in, int8_t *out);
/* Output rows [out_row0, out_row0 + out_rows) of a transpose whose output's axis 0 is 1, from the whole
 * input, written from `out` on (a patch-based stage's first node: NCHW -> NHWC). */
void edgec_transpose_rows_s8(const EDGEC_ROM edgec_transpose_params *p, const int8_t *in, int8_t *out,
                             int32_t out_row0, int32_t out_rows);
void edgec_pad_s8(const EDGEC_ROM edgec_pad_params *p, const int8_t *in, int8_t *out);
void edgec_pad_border_s8(const EDGEC_ROM edgec_pad_border_params *p, const int8_t *in, int8_t *out);
void edgec_pad_rows_s8(const EDGEC_ROM edgec_pad_params *p, const int8_t *in, int32_t in_row0, int8_t *out,
                       int32_t out_row0, int32_t out_rows);
void edgec_concat_s8(const EDGEC_ROM edgec_concat_params *p, const int8_t *in, int8_t *out);
void edgec_upsample_s8(const EDGEC_ROM edgec_upsample_params *p, const int8_t *in, int8_t *out);
void edgec_depth_to_space_s8(const EDGEC_ROM edgec_depth_to_space_params *p, const int8_t *in, int8_t *out);
void edgec_slice_s8(const EDGEC_ROM edgec_slice_params *p, const int8_t *in, int8_t *out);
void edgec_resize_s8(const EDGEC_ROM edgec_resize_params *p, const EDGEC_ROM int16_t *y0, const EDGEC_ROM int16_t *y1,
                     const EDGEC_ROM int16_t *wy, const EDGEC_ROM int16_t *x0, const EDGEC_ROM int16_t *x1,
                     const EDGEC_ROM int16_t *wx, const int8_t *in, int8_t *out);
void edgec_mean_s8(const EDGEC_ROM edgec_mean_params *p, const int8_t *in, int8_t *out);
void edgec_prelu_s8(const EDGEC_ROM edgec_prelu_params *p, const int8_t *in, const int8_t *alpha, int8_t *out);
void edgec_argmax_s8(const EDGEC_ROM edgec_argmax_params *p, const int8_t *in, int8_t *out);
void edgec_l2norm_s8(const EDGEC_ROM edgec_l2norm_params *p, const int8_t *in, int8_t *out);
void edgec_cumsum_s8(const EDGEC_ROM edgec_cumsum_params *p, const int8_t *in, int8_t *out);
void edgec_topk_s8(const EDGEC_ROM edgec_topk_params *p, const int8_t *in, int8_t *out);
void edgec_strided_slice_s8(const EDGEC_ROM edgec_strided_slice_params *p, const int8_t *in, int8_t *out);
/* state: the old state's bytes (int16, read with memcpy: the state buffer is byte-aligned) */
void edgec_svdf_state_s16(const EDGEC_ROM edgec_svdf_params *p, const int8_t *in, const int8_t *weights_feature,
                          const int8_t *state, int16_t *new_state);
void edgec_svdf_s8(const EDGEC_ROM edgec_svdf_params *p, const int16_t *state, const int16_t *weights_time,
                   const int32_t *bias, int8_t *out);

/* int16 activations, int8 weights (TFLite's "16x8" mode): the same parameter structs with zero points 0,
 * int64 biases, TFLite's int64 requantization.  Conv2D takes any groups (depthwise too) with OHWI weights. */
void edgec_conv2d_s16(const EDGEC_ROM edgec_conv2d_params *p, const int16_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                      const EDGEC_ROM int64_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int16_t *out,
                      int32_t out_row0, int32_t out_rows);
void edgec_fully_connected_s16(const EDGEC_ROM edgec_fully_connected_params *p, const int16_t *in, const EDGEC_ROM int8_t *weights,
                               const EDGEC_ROM int64_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift,
                               int16_t *out);
void edgec_add_s16(const EDGEC_ROM edgec_add_params *p, const int16_t *a, const int16_t *b, int16_t *out);
void edgec_maxpool_s16(const EDGEC_ROM edgec_pool_params *p, const int16_t *in, int32_t in_row0, int16_t *out,
                       int32_t out_row0, int32_t out_rows);
void edgec_avgpool_s16(const EDGEC_ROM edgec_pool_params *p, const int16_t *in, int32_t in_row0, int16_t *out,
                       int32_t out_row0, int32_t out_rows);
void edgec_avgpool_pad_s16(const EDGEC_ROM edgec_avgpool_pad_params *p, const int16_t *in, int32_t in_row0, int16_t *out,
                           int32_t out_row0, int32_t out_rows);
/* int8 <-> int16 where precisions meet; edgec_requantize_s16_s8 may run in place (out == in). */
void edgec_requantize_s8_s16(const EDGEC_ROM edgec_requantize_params *p, const int8_t *in, int16_t *out);
void edgec_requantize_s16_s8(const EDGEC_ROM edgec_requantize_params *p, const int16_t *in, int8_t *out);
void edgec_requantize_s16_s16(const EDGEC_ROM edgec_requantize_params *p, const int16_t *in, int16_t *out);

/* scratch: 4-aligned, 2 * hidden + 2 * (hidden rounded up to 2) bytes (recurrent.scratch_bytes). */
void edgec_lstm_s8(const EDGEC_ROM edgec_lstm_params *p, const int8_t *in, const EDGEC_ROM int8_t *w,
                   const EDGEC_ROM int8_t *r, const EDGEC_ROM int32_t *bias_x, const EDGEC_ROM int32_t *bias_h,
                   const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift,
                   const EDGEC_ROM uint16_t *table, int8_t *out, void *scratch);
/* scratch: 4-aligned, 2 * (hidden rounded up to 2) bytes (recurrent.scratch_bytes). */
void edgec_gru_s8(const EDGEC_ROM edgec_gru_params *p, const int8_t *in, const EDGEC_ROM int8_t *w,
                  const EDGEC_ROM int8_t *r, const EDGEC_ROM int32_t *bias_x, const EDGEC_ROM int32_t *bias_h,
                  const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift,
                  const EDGEC_ROM uint16_t *table, int8_t *out, void *scratch);

#endif
