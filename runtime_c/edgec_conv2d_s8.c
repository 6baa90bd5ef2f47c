/* Conv2D (incl. grouped and depthwise), int8 in/out, int8 per-channel weights, int32 bias.
 * Twin: reference.conv2d_s8.  Padding taps contribute nothing (they equal the input zero point).
 * Row bands (patch-based execution): `in` holds input rows from in_row0 on, and the call computes
 * output rows [out_row0, out_row0 + out_rows) into `out` (which points at row out_row0).
 * A whole-tensor call is (0, 0, out_h).  Output pixels are out_stride elements apart (out_c, or the
 * channel count of a Concat whose slice this conv writes). */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_conv2d_s8(const edgec_conv2d_params *p, const int8_t *in, int32_t in_row0, const int8_t *weights,
                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *out,
                     int32_t out_row0, int32_t out_rows)
{
    const int32_t cg = p->in_c / p->groups, og = p->out_c / p->groups;
    int32_t n, oy, ox, oc, ky, kx, ic;
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + (size_t)n * (size_t)(p->in_h * p->in_w * p->in_c);
        for (oy = out_row0; oy < out_row0 + out_rows; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                int8_t *px = out + ((size_t)(n * out_rows + oy - out_row0) * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_stride;
                for (oc = 0; oc < p->out_c; oc++) {
                    const int32_t g = oc / og;
                    int32_t acc = bias[oc];
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h)
                            continue;
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                            const int8_t *ip, *wp;
                            if (ix < 0 || ix >= p->in_w)
                                continue;
                            ip = img + ((iy - in_row0) * p->in_w + ix) * p->in_c + g * cg;
                            wp = weights + ((oc * p->k_h + ky) * p->k_w + kx) * cg;
                            for (ic = 0; ic < cg; ic++)
                                acc += ((int32_t)ip[ic] - p->in_zp) * (int32_t)wp[ic];
                        }
                    }
                    acc = edgec_mbqm(acc, multiplier[oc], shift[oc]) + p->out_zp;
                    px[oc] = edgec_clamp_s8(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
