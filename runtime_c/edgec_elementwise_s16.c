/* Add of two int16 tensors with 4-D broadcasting (a stride of 0 repeats an operand): TFLite's int16
 * Add with general scales, the int8 scheme with left_shift 15 and zero points 0: both operands moved
 * to a common grid (<< left_shift, then scaled), summed, rescaled, clamped in int16.
 * Twin: reference.add_s16. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

static int16_t edgec_add_one_s16(const EDGEC_ROM edgec_add_params *p, int32_t a, int32_t b)
{
    const int32_t xa = (int32_t)((uint32_t)(a - p->a_zp) << p->left_shift);
    const int32_t xb = (int32_t)((uint32_t)(b - p->b_zp) << p->left_shift);
    const int32_t sum = edgec_mbqm(xa, p->a_multiplier, p->a_shift) + edgec_mbqm(xb, p->b_multiplier, p->b_shift);
    return edgec_clamp_s16(edgec_mbqm(sum, p->multiplier, p->shift) + p->out_zp, p->act_min, p->act_max);
}

void edgec_add_s16(const EDGEC_ROM edgec_add_params *p, const int16_t *a, const int16_t *b, int16_t *out)
{
    const EDGEC_ROM edgec_broadcast4 *bc = &p->bc;
    int32_t i0, i1, i2, i3, k = 0;
    for (i0 = 0; i0 < bc->shape[0]; i0++)
        for (i1 = 0; i1 < bc->shape[1]; i1++)
            for (i2 = 0; i2 < bc->shape[2]; i2++)
                for (i3 = 0; i3 < bc->shape[3]; i3++) {
                    const int32_t ia = i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2] + i3 * bc->a_stride[3];
                    const int32_t ib = i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2] + i3 * bc->b_stride[3];
                    out[k++] = edgec_add_one_s16(p, a[ia], b[ib]);    /* element k is written after a[k], b[k] were read */
                }
}
