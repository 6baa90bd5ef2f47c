/* Soft-float baseline kernels (bench only): see float_kernels.c. */
#ifndef F32_KERNELS_H
#define F32_KERNELS_H
#include <stdint.h>
#include "edgec_target.h"

typedef struct {
    int32_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left, groups;
    float act_min, act_max;
} f32_conv_params;

typedef struct {
    int32_t in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top, pad_left, is_max;
    float act_min, act_max;
} f32_pool_params;

void f32_conv2d(const EDGEC_ROM f32_conv_params *p, const float *in, const EDGEC_ROM float *w,
                const EDGEC_ROM float *bias, float *out);
void f32_fully_connected(int32_t in_features, int32_t out_features, const float *in, const EDGEC_ROM float *w,
                         const EDGEC_ROM float *bias, float act_min, float act_max, float *out);
void f32_pool(const EDGEC_ROM f32_pool_params *p, const float *in, float *out);
void f32_add(int32_t n, const float *a, const float *b, float act_min, float act_max, float *out);
void f32_softmax(int32_t rows, int32_t cols, const float *in, float *out);

#endif
