/* FullyConnected: out[n, m] = requant(bias[m] + sum_k (in[n, k] - in_zp) * w[m, k]).  Twin: reference.fully_connected_s8.
 * `bias` arrives with the zero point folded in at compile time (bias[m] - in_zp * sum_k w[m, k]),
 * so the inner loop is a plain int8 dot product. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

void edgec_fully_connected_s8(const edgec_fully_connected_params *p, const int8_t *in, const int8_t *weights,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *out)
{
    int32_t n, m;
    for (n = 0; n < p->batch; n++) {
        const int8_t *x = in + n * p->in_features;
        for (m = 0; m < p->out_features; m++) {
            const int8_t *w = weights + m * p->in_features;
            int32_t acc = 0;
            uint32_t total;
            acc = edgec_dot_s8(x, w, p->in_features);
            total = (uint32_t)bias[m] + (uint32_t)acc;      /* wraps as the reference does */
            acc = edgec_mbqm((int32_t)total, multiplier[m], shift[m]) + p->out_zp;
            *out++ = edgec_clamp_s8(acc, p->act_min, p->act_max);
        }
    }
}
