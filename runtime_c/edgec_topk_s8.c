/* TopK along the last axis ([rows, count], count <= 128): the k largest (largest = 0: smallest) int8
 * values in order, ties to the lower index first, written as the values (on the input's quantization)
 * or as int8 indices.  k selection passes over a row, marking what is taken.  Twin:
 * compiler/ops/topk.topk_s8. */
#include "edgec.h"

void edgec_topk_s8(const EDGEC_ROM edgec_topk_params *p, const int8_t *in, int8_t *out)
{
    const int32_t sign = p->largest ? 1 : -1;
    int32_t r, j, c;
    for (r = 0; r < p->rows; r++) {
        const int8_t *x = in + r * p->count;
        uint32_t taken[4] = {0, 0, 0, 0};
        for (j = 0; j < p->k; j++) {
            int32_t best = -1, bv = 0;
            for (c = 0; c < p->count; c++) {
                const int32_t v = sign * x[c];
                if (taken[c >> 5] & (UINT32_C(1) << (c & 31)))
                    continue;
                if (best < 0 || v > bv) {
                    best = c;
                    bv = v;
                }
            }
            taken[best >> 5] |= UINT32_C(1) << (best & 31);
            out[r * p->k + j] = p->indices ? (int8_t)best : x[best];
        }
    }
}
