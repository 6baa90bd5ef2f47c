/* CumSum along one axis, the tensor seen as [outer, count, inner]: (x - in_zp) accumulated in int32
 * (from the end with reverse; exclusive: the sum before each element), each running sum requantized
 * once, y = clamp(out_zp + mbqm(acc)).  Twin: compiler/ops/cumsum.cumsum_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_cumsum_s8(const EDGEC_ROM edgec_cumsum_params *p, const int8_t *in, int8_t *out)
{
    const int32_t step = p->reverse ? -p->inner : p->inner;
    int32_t o, i, k;
    for (o = 0; o < p->outer; o++) {
        for (i = 0; i < p->inner; i++) {
            const int32_t first = o * p->count * p->inner + i + (p->reverse ? (p->count - 1) * p->inner : 0);
            int32_t acc = 0;
            for (k = 0; k < p->count; k++) {
                const int32_t at = first + k * step;
                const int32_t v = in[at] - p->in_zp;
                if (!p->exclusive)
                    acc += v;
                out[at] = edgec_clamp_s8(edgec_mbqm(acc, p->multiplier, p->shift) + p->out_zp, -128, 127);
                if (p->exclusive)
                    acc += v;
            }
        }
    }
}
