/* Add / Sub (Sub has a negative b multiplier), TFLite's int8 scheme: both operands are moved to a
 * common fine grid (<< left_shift, then scaled), summed, and rescaled to the output.  Twin: reference.add_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_add_s8(const edgec_add_params *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    const edgec_broadcast4 *bc = &p->bc;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < bc->shape[0]; i0++)
        for (i1 = 0; i1 < bc->shape[1]; i1++)
            for (i2 = 0; i2 < bc->shape[2]; i2++)
                for (i3 = 0; i3 < bc->shape[3]; i3++) {
                    const int32_t ia = i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2] + i3 * bc->a_stride[3];
                    const int32_t ib = i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2] + i3 * bc->b_stride[3];
                    const int32_t xa = (int32_t)((uint32_t)((int32_t)a[ia] - p->a_zp) << p->left_shift);
                    const int32_t xb = (int32_t)((uint32_t)((int32_t)b[ib] - p->b_zp) << p->left_shift);
                    const int32_t sum = edgec_mbqm(xa, p->a_multiplier, p->a_shift) + edgec_mbqm(xb, p->b_multiplier, p->b_shift);
                    *out++ = edgec_clamp_s8(edgec_mbqm(sum, p->multiplier, p->shift) + p->out_zp, p->act_min, p->act_max);
                }
}
