/* FullyConnected over wide weights: flash traded for speed where the --flash budget allows
 * (passes/plan_wide.py chooses the layers).  Twin: reference.fully_connected_s8.
 *
 * The weights come pre-sign-extended in the wide layout of a one-group conv (edgec_dot.h,
 * codegen/layouts.py: [out, in] as [out, 1, 1, in]) and each output's requantization prepared at compile
 * time in the same records (edgec_wide_rq; the first word says whether their zero point is apart).  Per
 * input vector, two channel pairs at a time (edgec_wide_dot1x4: one input word, sign-extended once,
 * feeds four outputs), started from the records' folded biases.  No scratch. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

/* The layer with the records' mode a constant (`apart`), so that each copy's requantization is straight
 * code: four outputs a pass, the last pass's 1-3 one by one. */
static inline void edgec_fc_wide(const EDGEC_ROM edgec_fully_connected_params *p, const int8_t *in, const EDGEC_ROM int32_t *weights,
                                 const EDGEC_ROM int32_t *rq, int8_t *out, const int32_t apart)
{
    const int32_t k = p->in_features, groups = k >> 2, tail = k & 3, words = 4 * ((k + 3) >> 2), m_n = p->out_features;
    const int32_t pairs = (m_n + 1) >> 1, batch = p->batch;
    int32_t n, j, c;
    for (n = 0; n < batch; n++) {
        const int8_t *x = in + n * k;
        int8_t *y = out + n * m_n;
        for (j = 0; j < pairs; j += 2, y += 4) {
            const int32_t two = j + 1 < pairs;       /* a lone last pair runs as both pairs; stored once */
            const EDGEC_ROM int32_t *r0 = rq + 12 * j, *r1 = two ? r0 + 12 : r0;
            int32_t acc[4];
            acc[0] = r0[0];
            acc[1] = r0[1];
            acc[2] = r1[0];
            acc[3] = r1[1];
            edgec_wide_dot1x4(x, groups, tail, weights + words * j, weights + words * (j + two), acc);
            if (2 * j + 4 <= m_n) {
                y[0] = edgec_wide_rq(r0 + 4, acc[0], apart);
                y[1] = edgec_wide_rq(r0 + 8, acc[1], apart);
                y[2] = edgec_wide_rq(r1 + 4, acc[2], apart);
                y[3] = edgec_wide_rq(r1 + 8, acc[3], apart);
            } else {
                for (c = 0; 2 * j + c < m_n; c++)
                    y[c] = edgec_wide_rq((c < 2 ? r0 : r1) + 4 + 4 * (c & 1), acc[c], apart);
            }
        }
    }
}

void edgec_fully_connected_wide_s8(const EDGEC_ROM edgec_fully_connected_params *p, const int8_t *in, const EDGEC_ROM int32_t *weights,
                                   const EDGEC_ROM int32_t *records, int8_t *out)
{
    if (records[0])
        edgec_fc_wide(p, in, weights, records + 1, out, 1);
    else
        edgec_fc_wide(p, in, weights, records + 1, out, 0);
}
