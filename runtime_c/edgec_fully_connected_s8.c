/* FullyConnected: out[n, m] = requant(bias[m] + sum_k (in[n, k] - in_zp) * w[m, k]).  Twin: reference.fully_connected_s8.
 * `bias` arrives with the zero point folded in at compile time (bias[m] - in_zp * sum_k w[m, k]),
 * so the inner loop is a plain int8 dot product.  Weights come in the quad layout of edgec_dot.h
 * (codegen/c.py quad_layout): four output channels at a time interleaved by fours of inputs, so one
 * pass over the input feeds four outputs; channels past out_features are zero padding. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

void edgec_fully_connected_s8(const EDGEC_ROM edgec_fully_connected_params *p, const int8_t *in, const EDGEC_ROM int8_t *weights,
                              const EDGEC_ROM int32_t *bias, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift, int8_t *out)
{
    const int32_t k = p->in_features, k4 = (k + 3) & ~3, m_n = p->out_features, batch = p->batch;
    const int32_t out_zp = p->out_zp, act_min = p->act_min, act_max = p->act_max;
    const int32_t fast = edgec_rq_fast(multiplier, shift, m_n, act_min, act_max);
    int32_t n, m, j;
    for (n = 0; n < batch; n++) {
        const int8_t *x = in + n * k;
        int8_t *y = out + n * m_n;
        for (m = 0; m < m_n; m += 4) {
            int32_t acc[4] = {0, 0, 0, 0};
            const int32_t lanes = m_n - m < 4 ? m_n - m : 4;
            edgec_dot1x4q_s8(x, weights + m * k4, k, acc);
            for (j = 0; j < lanes; j++) {
                if (fast) {
                    edgec_rq q;
                    edgec_rq_prepare(&q, multiplier[m + j], shift[m + j]);
                    y[m + j] = edgec_rq_s8(&q, (uint32_t)bias[m + j], acc[j], out_zp);
                } else {
                    y[m + j] = edgec_requant_s8((uint32_t)bias[m + j], acc[j], multiplier[m + j], shift[m + j], out_zp, act_min, act_max);
                }
            }
        }
    }
}
