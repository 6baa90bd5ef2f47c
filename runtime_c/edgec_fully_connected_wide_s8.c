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

/* One copy of the loop nest, the records' mode (`apart`, their first word) a variable: a few
 * instructions an output against K MACs, where a copy per mode cost half a kilobyte of flash. */
void edgec_fully_connected_wide_s8(const EDGEC_ROM edgec_fully_connected_params *p, const int8_t *in, const EDGEC_ROM int32_t *weights,
                                   const EDGEC_ROM int32_t *records, int8_t *out)
{
    const int32_t k = p->in_features, groups = k >> 2, tail = k & 3, words = 4 * ((k + 3) >> 2), m_n = p->out_features;
    const int32_t pairs = (m_n + 1) >> 1, batch = p->batch, apart = records[0];
    const EDGEC_ROM int32_t *rq = records + 1;
    int32_t n, j;
    for (n = 0; n < batch; n++) {
        const int8_t *x = in + n * k;
        int8_t *y = out + n * m_n;
        for (j = 0; j < pairs; j += 2, y += 4) {
            const int32_t two = j + 1 < pairs;       /* a lone last pair runs as both pairs; stored once */
            const EDGEC_ROM int32_t *r0 = rq + 12 * j, *r1 = two ? r0 + 12 : r0;
            const EDGEC_ROM int32_t *w0 = weights + words * j, *w1 = weights + words * (j + two);
            int32_t acc[4];
            acc[0] = r0[0];
            acc[1] = r0[1];
            acc[2] = r1[0];
            acc[3] = r1[1];
            edgec_wide_dot1x4(x, groups, w0, w1, acc);
            if (tail) {                             /* the last 1-3 inputs as a four, zeros after them */
                int8_t last[4] = {0, 0, 0, 0};
                last[0] = x[4 * groups];
                if (tail > 1)
                    last[1] = x[4 * groups + 1];
                if (tail > 2)
                    last[2] = x[4 * groups + 2];
                edgec_wide_dot1x4(last, 1, w0 + 4 * groups, w1 + 4 * groups, acc);
            }
            y[0] = edgec_wide_rq(r0 + 4, acc[0], apart);         /* 1-4 outputs: m_n - 2j of them */
            if (2 * j + 1 < m_n)
                y[1] = edgec_wide_rq(r0 + 8, acc[1], apart);
            if (2 * j + 2 < m_n)
                y[2] = edgec_wide_rq(r1 + 4, acc[2], apart);
            if (2 * j + 3 < m_n)
                y[3] = edgec_wide_rq(r1 + 8, acc[3], apart);
        }
    }
}
