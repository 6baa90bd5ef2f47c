/* MaxPool2D and AvgPool2D of int16 activations (TFLite's int16 reference pooling): over the valid
 * (unpadded) taps of each window; the output keeps the input's quantization.  Average: the int32 sum
 * divided by the tap count, rounded half away from zero.  Row bands as in edgec_pool_s8.c.
 * Twins: reference.maxpool_s16, reference.avgpool_s16. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

static void edgec_pool_s16(const EDGEC_ROM edgec_pool_params *p, const int16_t *in, int32_t in_row0, int16_t *out,
                           int32_t out_row0, int32_t out_rows, int32_t average, const EDGEC_ROM edgec_avgpool_pad_params *cp)
{
    int32_t n, oy, ox, c, ky, kx;
    for (n = 0; n < p->batch; n++)
        for (oy = out_row0; oy < out_row0 + out_rows; oy++)
            for (ox = 0; ox < p->out_w; ox++)
                for (c = 0; c < p->c; c++) {
                    int32_t m = -32769, sum = 0, count = 0, v;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky;
                        if (iy < 0 || iy >= p->in_h)
                            continue;
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx;
                            if (ix < 0 || ix >= p->in_w)
                                continue;
                            v = in[((n * p->in_h + iy - in_row0) * p->in_w + ix) * p->c + c];
                            m = v > m ? v : m;
                            sum += v;
                            count++;
                        }
                    }
                    if (average && cp) {         /* counted padding taps: each adds pad_value */
                        const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                        const int32_t lo_y = iy0 > -cp->count_top ? iy0 : -cp->count_top;
                        const int32_t hi_y = iy0 + p->k_h < p->in_h + cp->count_bottom ? iy0 + p->k_h : p->in_h + cp->count_bottom;
                        const int32_t lo_x = ix0 > -cp->count_left ? ix0 : -cp->count_left;
                        const int32_t hi_x = ix0 + p->k_w < p->in_w + cp->count_right ? ix0 + p->k_w : p->in_w + cp->count_right;
                        const int32_t counted = (hi_y > lo_y ? hi_y - lo_y : 0) * (hi_x > lo_x ? hi_x - lo_x : 0);
                        sum += (counted - count) * cp->pad_value;
                        count = counted;
                    }
                    if (average)
                        v = sum >= 0 ? (sum + count / 2) / count : -((-sum + count / 2) / count);
                    else
                        v = m;
                    *out++ = edgec_clamp_s16(v, p->act_min, p->act_max);
                }
}

void edgec_maxpool_s16(const EDGEC_ROM edgec_pool_params *p, const int16_t *in, int32_t in_row0, int16_t *out,
                       int32_t out_row0, int32_t out_rows)
{
    edgec_pool_s16(p, in, in_row0, out, out_row0, out_rows, 0, 0);
}

void edgec_avgpool_s16(const EDGEC_ROM edgec_pool_params *p, const int16_t *in, int32_t in_row0, int16_t *out,
                       int32_t out_row0, int32_t out_rows)
{
    edgec_pool_s16(p, in, in_row0, out, out_row0, out_rows, 1, 0);
}

void edgec_avgpool_pad_s16(const EDGEC_ROM edgec_avgpool_pad_params *p, const int16_t *in, int32_t in_row0, int16_t *out,
                           int32_t out_row0, int32_t out_rows)
{
    edgec_pool_s16(&p->pool, in, in_row0, out, out_row0, out_rows, 1, p);
}
