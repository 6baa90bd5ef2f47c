/* Mul: out = requant((a - a_zp) * (b - b_zp)).  Twin: reference.mul_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_mul_s8(const edgec_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    const edgec_broadcast4 *bc = &p->bc;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < bc->shape[0]; i0++)
        for (i1 = 0; i1 < bc->shape[1]; i1++)
            for (i2 = 0; i2 < bc->shape[2]; i2++)
                for (i3 = 0; i3 < bc->shape[3]; i3++) {
                    const int32_t ia = i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2] + i3 * bc->a_stride[3];
                    const int32_t ib = i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2] + i3 * bc->b_stride[3];
                    const int32_t prod = ((int32_t)a[ia] - p->a_zp) * ((int32_t)b[ib] - p->b_zp);
                    *out++ = edgec_clamp_s8(edgec_mbqm(prod, p->multiplier, p->shift) + p->out_zp, p->act_min, p->act_max);
                }
}
