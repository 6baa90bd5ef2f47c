/* PRelu with TFLite Micro's int8 arithmetic: two requantizations, one for x >= 0 and one for alpha * x;
 * element i of x uses alpha[i % period] (alpha broadcast from the right).  Twin: prelu.prelu_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_prelu_s8(const EDGEC_ROM edgec_prelu_params *p, const int8_t *in, const int8_t *alpha, int8_t *out)
{
    int32_t i, k = 0;
    for (i = 0; i < p->n; i++) {
        const int32_t v = (int32_t)in[i] - p->in_zp;
        const int32_t y = v >= 0 ? edgec_mbqm(v, p->m1, p->s1)
                                 : edgec_mbqm(v * ((int32_t)alpha[k] - p->alpha_zp), p->m2, p->s2);
        out[i] = edgec_clamp_s8(y + p->out_zp, -128, 127);
        if (++k == p->period)
            k = 0;
    }
}
