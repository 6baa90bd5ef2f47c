/* FullyConnected: out[n, m] = requant(bias[m] + sum_k (in[n, k] - in_zp) * w[m, k]).  Twin: reference.fully_connected_s8.
 * `bias` arrives with the zero point folded in at compile time (bias[m] - in_zp * sum_k w[m, k]),
 * so the inner loop is a plain int8 dot product. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

static inline int8_t edgec_fc_out(const EDGEC_ROM edgec_fully_connected_params *p, int32_t bias, int32_t dot, int32_t multiplier, int32_t shift)
{
    const uint32_t total = (uint32_t)bias + (uint32_t)dot;     /* wraps as the reference does */
    return edgec_clamp_s8(edgec_mbqm((int32_t)total, multiplier, shift) + p->out_zp, p->act_min, p->act_max);
}

void edgec_fully_connected_s8(const EDGEC_ROM edgec_fully_connected_params *p, const int8_t *in, const EDGEC_ROM int8_t *weights,
                              const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out)
{
    const int32_t k = p->in_features;
    int32_t n, m;
    for (n = 0; n < p->batch; n++) {
        const int8_t *x = in + n * k;
        for (m = 0; m + 2 <= p->out_features; m += 2) {       /* two outputs per pass share the input loads */
            int32_t acc[2] = {0, 0};
            edgec_dot1x2_s8(x, weights + m * k, weights + (m + 1) * k, k, acc);
            *out++ = edgec_fc_out(p, bias[m], acc[0], multiplier[m], shift[m]);
            *out++ = edgec_fc_out(p, bias[m + 1], acc[1], multiplier[m + 1], shift[m + 1]);
        }
        if (m < p->out_features) {
            *out++ = edgec_fc_out(p, bias[m], edgec_dot_s8(x, weights + m * k, k), multiplier[m], shift[m]);
        }
    }
}
