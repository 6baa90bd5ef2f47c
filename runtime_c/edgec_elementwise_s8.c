/* Add / Sub / Mul of two int8 tensors with 4-D broadcasting (a stride of 0 repeats an operand).
 * Add and Sub follow TFLite's int8 scheme: both operands are moved to a common fine grid
 * (<< left_shift, then scaled), summed, and rescaled (Sub has a negative b multiplier).  An operand's
 * rescaled value depends on its int8 value alone, so codegen tabulates it for all 256 values with the
 * reference's own arithmetic (tables[v + 128] for a == v, tables[256 + v + 128] for b == v): per
 * element two table reads, a wrapping sum and the final requantization.
 * Mul requantizes (a - a_zp) * (b - b_zp).  Twins: reference.add_s8, reference.mul_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

static int8_t edgec_add_one(const EDGEC_ROM edgec_add_params *p, const EDGEC_ROM int32_t *tables, int32_t a, int32_t b)
{
    return edgec_requant_s8((uint32_t)tables[a + 128], tables[b + 384], p->multiplier, p->shift, p->out_zp, p->act_min, p->act_max);
}

static int8_t edgec_mul_one(const EDGEC_ROM edgec_mul_params *p, int32_t a, int32_t b)
{
    const int32_t prod = (a - p->a_zp) * (b - p->b_zp);
    return edgec_clamp_s8(edgec_mbqm(prod, p->multiplier, p->shift) + p->out_zp, p->act_min, p->act_max);
}

/* Walk the broadcast output once; `p` is an edgec_add_params with its `tables`, or (tables null) an
 * edgec_mul_params. */
static void edgec_elementwise(const EDGEC_ROM edgec_broadcast4 *bc, const EDGEC_ROM void *p, const EDGEC_ROM int32_t *tables,
                              const int8_t *a, const int8_t *b, int8_t *out)
{
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < bc->shape[0]; i0++)
        for (i1 = 0; i1 < bc->shape[1]; i1++)
            for (i2 = 0; i2 < bc->shape[2]; i2++)
                for (i3 = 0; i3 < bc->shape[3]; i3++) {
                    const int32_t ia = i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2] + i3 * bc->a_stride[3];
                    const int32_t ib = i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2] + i3 * bc->b_stride[3];
                    *out++ = tables ? edgec_add_one((const EDGEC_ROM edgec_add_params *)p, tables, a[ia], b[ib])
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

/* No broadcasting (a residual Add) and a requantization edgec_rq_fast accepts: one flat pass, out of
 * line so that its loop has the registers to itself, with the parameters in locals since a store
 * through int8_t may alias *p and would force reloads.  ta and tb point at a's and b's entries for
 * value 0.  The prepared requantization saturates to int8; clamping that to [act_min, act_max] (inside
 * int8) gives what clamping the unsaturated value gives, so a fused activation clamps afterwards. */
EDGEC_PATH void edgec_add_flat(const EDGEC_ROM edgec_add_params *p, const EDGEC_ROM int32_t *ta, const EDGEC_ROM int32_t *tb,
                               const int8_t *a, const int8_t *b, int8_t *out, int32_t n)
{
    const int32_t out_zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    int32_t i;
    edgec_rq q;
    edgec_rq_prepare(&q, p->multiplier, p->shift);
    if (lo == -128 && hi == 127) {
        for (i = 0; i < n; i++)
            out[i] = edgec_rq_s8(&q, (uint32_t)ta[a[i]], tb[b[i]], out_zp);
    } else {
        for (i = 0; i < n; i++)
            out[i] = edgec_clamp_s8(edgec_rq_s8(&q, (uint32_t)ta[a[i]], tb[b[i]], out_zp), lo, hi);
    }
}

void edgec_add_s8(const EDGEC_ROM edgec_add_params *p, const EDGEC_ROM int32_t *tables, const int8_t *a, const int8_t *b, int8_t *out)
{
    const EDGEC_ROM int32_t *shape = p->bc.shape;
    if (edgec_row_major(shape, p->bc.a_stride) && edgec_row_major(shape, p->bc.b_stride)
        && edgec_rq_fast(&p->multiplier, &p->shift, 1, -128, 127))
        edgec_add_flat(p, tables + 128, tables + 384, a, b, out, shape[0] * shape[1] * shape[2] * shape[3]);
    else        /* broadcasting, or a requantization only edgec_requant_s8 covers (e.g. a left shift) */
        edgec_elementwise(&p->bc, p, tables, a, b, out);
}

void edgec_mul_s8(const EDGEC_ROM edgec_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    edgec_elementwise(&p->bc, p, 0, a, b, out);
}
