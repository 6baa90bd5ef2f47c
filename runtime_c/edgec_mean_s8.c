/* Mean over a run of adjacent axes, the tensor seen as [outer, count, inner]: TFLite Micro's integer
 * MEAN, y = clamp(out_zp + mbqm(sum - in_zp * count)) with 1/count folded into the multiplier at compile
 * time (compiler/mean.py).  Twin: mean.mean_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_mean_s8(const EDGEC_ROM edgec_mean_params *p, const int8_t *in, int8_t *out)
{
    int32_t o, i, k;
    for (o = 0; o < p->outer; o++) {
        for (i = 0; i < p->inner; i++) {
            const int8_t *src = in + o * p->count * p->inner + i;
            uint32_t sum = 0;              /* modulo 2^32, as TFLM's int32 sum wraps (no signed overflow) */
            for (k = 0; k < p->count; k++) {
                const int32_t v = src[k * p->inner];
                sum += (uint32_t)v;
            }
            sum -= (uint32_t)p->in_zp * (uint32_t)p->count;
            out[o * p->inner + i] = edgec_clamp_s8(edgec_mbqm((int32_t)sum, p->multiplier, p->shift) + p->out_zp, -128, 127);
        }
    }
}
