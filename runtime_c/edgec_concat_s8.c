/* One Concat input into its slice of the output: out[o, offset + i] = in[o, i], requantized when the
 * input's scale or zero point differs from the output's.  Twin: reference.concat_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_concat_s8(const EDGEC_ROM edgec_concat_params *p, const int8_t *in, int8_t *out)
{
    int32_t o, i;
    for (o = 0; o < p->outer; o++) {
        const int8_t *src = in + o * p->in_inner;
        int8_t *dst = out + o * p->out_inner + p->offset;
        for (i = 0; i < p->in_inner; i++) {
            if (p->requant)
                dst[i] = edgec_clamp_s8(edgec_mbqm((int32_t)src[i] - p->in_zp, p->multiplier, p->shift) + p->out_zp, -128, 127);
            else
                dst[i] = src[i];
        }
    }
}
