/* Conv2D with int16 activations and int8 weights (TFLite's "16x8" mode), grouped and depthwise
 * (groups == channels) included: TFLite's reference ConvPerChannel / DepthwiseConvPerChannel for
 * int16 input.  Twin: reference.conv2d_s16.
 * Activations are symmetric (zero point 0), so padding taps are skipped and nothing is folded; each
 * output is acc = bias + sum of x * w over the valid taps in int64 (every product fits int32), then
 * TFLite's int64 requantization (edgec_mbqm64) and the activation clamp in int16.  Weights OHWI
 * ([out_c][k_h][k_w][in_c / groups]), bias int64 per output channel.
 * Row bands as in edgec_conv_common.h: `in` holds input rows from in_row0 on, the call computes output
 * rows [out_row0, out_row0 + out_rows) into `out` (which points at row out_row0); output pixels are
 * out_stride elements apart.  Products are formed in int32_t explicitly (`int` is 16 bits on AVR). */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_conv2d_s16(const EDGEC_ROM edgec_conv2d_params *p, const int16_t *in, int32_t in_row0, const EDGEC_ROM int8_t *weights,
                      const EDGEC_ROM int64_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int16_t *out,
                      int32_t out_row0, int32_t out_rows)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_w = p->out_w, out_c = p->out_c;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t cg = in_c / p->groups, og = out_c / p->groups, taps = k_h * k_w * cg;
    const int32_t lo = p->act_min, hi = p->act_max, stride = p->out_stride;
    int32_t n, oy, ox, oc, ky, kx, c;
    for (n = 0; n < p->batch; n++)
        for (oy = out_row0; oy < out_row0 + out_rows; oy++)
            for (ox = 0; ox < out_w; ox++) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                int16_t *y = out + ((n * out_rows + oy - out_row0) * out_w + ox) * stride;
                for (oc = 0; oc < out_c; oc++) {
                    const EDGEC_ROM int8_t *w = weights + oc * taps;
                    const int32_t c0 = (oc / og) * cg;
                    int64_t acc = 0;
                    for (ky = 0; ky < k_h; ky++) {
                        const int32_t iy = iy0 + ky * dil_h;
                        if (iy < 0 || iy >= in_h)
                            continue;
                        for (kx = 0; kx < k_w; kx++) {
                            const int32_t ix = ix0 + kx * dil_w;
                            const int16_t *x;
                            const EDGEC_ROM int8_t *wk;
                            if (ix < 0 || ix >= in_w)
                                continue;
                            x = in + ((n * in_h + iy - in_row0) * in_w + ix) * in_c + c0;
                            wk = w + (ky * k_w + kx) * cg;
                            for (c = 0; c < cg; c++)
                                acc += (int32_t)x[c] * (int32_t)wk[c];
                        }
                    }
                    acc += bias[oc];
                    y[oc] = edgec_clamp_s16(edgec_mbqm64(acc, multiplier[oc], shift[oc]), lo, hi);
                }
            }
}
