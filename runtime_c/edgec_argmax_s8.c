/* ArgMax / ArgMin along one axis, the tensor seen as [outer, count, inner]: the index of the largest
 * (select_min: smallest) int8 value, ties to the first index (select_last: the last), written as an
 * int8 index (count <= 128).  Quantization is monotonic, so this is the real-valued index wherever the int8
 * values do not tie.  Twin: compiler/ops/argmax.arg_s8. */
#include "edgec.h"

void edgec_argmax_s8(const EDGEC_ROM edgec_argmax_params *p, const int8_t *in, int8_t *out)
{
    const int32_t sign = p->select_min ? -1 : 1;      /* the smallest value is the largest of -x */
    int32_t o, i, k;
    for (o = 0; o < p->outer; o++) {
        for (i = 0; i < p->inner; i++) {
            const int8_t *src = in + o * p->count * p->inner + i;
            int32_t best = sign * src[0], at = 0;
            for (k = 1; k < p->count; k++) {
                const int32_t v = sign * src[k * p->inner];
                if (p->select_last ? v >= best : v > best) {
                    best = v;
                    at = k;
                }
            }
            out[o * p->inner + i] = (int8_t)at;
        }
    }
}
