/* FullyConnected with int16 activations and int8 weights (TFLite's "16x8" mode):
 * out[n, m] = clamp(mbqm64(bias[m] + sum_k in[n, k] * w[m, k])), the sum in int64, zero points 0,
 * per-channel multipliers.  Twin: reference.fully_connected_s16.  Products in int32_t explicitly
 * (`int` is 16 bits on AVR). */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_fully_connected_s16(const EDGEC_ROM edgec_fully_connected_params *p, const int16_t *in, const EDGEC_ROM int8_t *weights,
                               const EDGEC_ROM int64_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift,
                               int16_t *out)
{
    const int32_t k = p->in_features, outs = p->out_features, lo = p->act_min, hi = p->act_max;
    int32_t n, m, i;
    for (n = 0; n < p->batch; n++) {
        const int16_t *x = in + n * k;
        for (m = 0; m < outs; m++) {
            const EDGEC_ROM int8_t *w = weights + m * k;
            int64_t acc = 0;
            for (i = 0; i < k; i++)
                acc += (int32_t)x[i] * (int32_t)w[i];
            acc += bias[m];
            out[n * outs + m] = edgec_clamp_s16(edgec_mbqm64(acc, multiplier[m], shift[m]), lo, hi);
        }
    }
}
