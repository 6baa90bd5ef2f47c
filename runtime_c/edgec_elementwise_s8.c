/* Add / Sub / Mul of two int8 tensors with 4-D broadcasting (a stride of 0 repeats an operand).
 * Add and Sub follow TFLite's int8 scheme: both operands are moved to a common fine grid
 * (<< left_shift, then scaled), summed, and rescaled (Sub has a negative b multiplier).
 * Mul requantizes (a - a_zp) * (b - b_zp).  Twins: reference.add_s8, reference.mul_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

static int8_t edgec_add_one(const EDGEC_ROM edgec_add_params *p, int32_t a, int32_t b)
{
    const int32_t xa = (int32_t)((uint32_t)(a - p->a_zp) << p->left_shift);
    const int32_t xb = (int32_t)((uint32_t)(b - p->b_zp) << p->left_shift);
    const int32_t sum = edgec_mbqm(xa, p->a_multiplier, p->a_shift) + edgec_mbqm(xb, p->b_multiplier, p->b_shift);
    return edgec_clamp_s8(edgec_mbqm(sum, p->multiplier, p->shift) + p->out_zp, p->act_min, p->act_max);
}

static int8_t edgec_mul_one(const EDGEC_ROM edgec_mul_params *p, int32_t a, int32_t b)
{
    const int32_t prod = (a - p->a_zp) * (b - p->b_zp);
    return edgec_clamp_s8(edgec_mbqm(prod, p->multiplier, p->shift) + p->out_zp, p->act_min, p->act_max);
}

/* Walk the broadcast output once; `p` is an edgec_add_params (is_add) or an edgec_mul_params. */
static void edgec_elementwise(const EDGEC_ROM edgec_broadcast4 *bc, int32_t is_add, const EDGEC_ROM void *p,
                              const int8_t *a, const int8_t *b, int8_t *out)
{
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < bc->shape[0]; i0++)
        for (i1 = 0; i1 < bc->shape[1]; i1++)
            for (i2 = 0; i2 < bc->shape[2]; i2++)
                for (i3 = 0; i3 < bc->shape[3]; i3++) {
                    const int32_t ia = i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2] + i3 * bc->a_stride[3];
                    const int32_t ib = i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2] + i3 * bc->b_stride[3];
                    *out++ = is_add ? edgec_add_one((const EDGEC_ROM edgec_add_params *)p, a[ia], b[ib])
                                    : edgec_mul_one((const EDGEC_ROM edgec_mul_params *)p, a[ia], b[ib]);
                }
}

/* Whether an operand's strides walk it in plain row-major order over the output's shape. */
static int32_t edgec_row_major(const EDGEC_ROM int32_t *shape, const EDGEC_ROM int32_t *stride)
{
    int32_t ax, step = 1;
    for (ax = 3; ax >= 0; ax--) {
        if (shape[ax] > 1 && stride[ax] != step)
            return 0;
        step *= shape[ax];
    }
    return 1;
}

void edgec_add_s8(const EDGEC_ROM edgec_add_params *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    const EDGEC_ROM int32_t *shape = p->bc.shape;
    if (edgec_row_major(shape, p->bc.a_stride) && edgec_row_major(shape, p->bc.b_stride)) {
        /* no broadcasting (a residual Add): one flat pass with the parameters in locals, since a store
         * through int8_t may alias *p and would force reloads */
        const int32_t n = shape[0] * shape[1] * shape[2] * shape[3], left = p->left_shift;
        const int32_t a_zp = p->a_zp, b_zp = p->b_zp, am = p->a_multiplier, as = p->a_shift;
        const int32_t bm = p->b_multiplier, bs = p->b_shift, m = p->multiplier, s = p->shift;
        const int32_t out_zp = p->out_zp, lo = p->act_min, hi = p->act_max;
        int32_t i;
        for (i = 0; i < n; i++) {
            const int32_t xa = (int32_t)((uint32_t)(a[i] - a_zp) << left);
            const int32_t xb = (int32_t)((uint32_t)(b[i] - b_zp) << left);
            out[i] = edgec_clamp_s8(edgec_mbqm(edgec_mbqm(xa, am, as) + edgec_mbqm(xb, bm, bs), m, s) + out_zp, lo, hi);
        }
        return;
    }
    edgec_elementwise(&p->bc, 1, p, a, b, out);
}

void edgec_mul_s8(const EDGEC_ROM edgec_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    edgec_elementwise(&p->bc, 0, p, a, b, out);
}
