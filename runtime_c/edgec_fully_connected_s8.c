/* FullyConnected: out[n, m] = requant(bias[m] + sum_k (in[n, k] - in_zp) * w[m, k]).  Twin: reference.fully_connected_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_fully_connected_s8(const edgec_fully_connected_params *p, const int8_t *in, const int8_t *weights,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *out)
{
    int32_t n, m, k;
    for (n = 0; n < p->batch; n++) {
        const int8_t *x = in + n * p->in_features;
        for (m = 0; m < p->out_features; m++) {
            const int8_t *w = weights + m * p->in_features;
            int32_t acc = bias[m];
            for (k = 0; k < p->in_features; k++)
                acc += ((int32_t)x[k] - p->in_zp) * (int32_t)w[k];
            acc = edgec_mbqm(acc, multiplier[m], shift[m]) + p->out_zp;
            *out++ = edgec_clamp_s8(acc, p->act_min, p->act_max);
        }
    }
}
