/* MaxPool2D and AvgPool2D over the valid (unpadded) taps of each window; the output keeps the
 * input's quantization.  Average: the sum of the valid taps divided by their count, rounded half
 * away from zero (edgec_avgpool_pad_s8: by the taps in the input grown by the counted padding, each
 * counted padding tap adding pad_value).  Row bands as in edgec_conv_common.h: `in` starts at input row in_row0; output rows
 * [out_row0, out_row0 + out_rows) go to `out`.  Twins: reference.maxpool_s8, reference.avgpool_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

/* Per output pixel, the window's valid rows and columns are found once; each channel then walks them
 * with one pointer (four or five instructions per tap), channels innermost in memory.  Every
 * parameter in a local: stores through int8_t pointers may alias *p.  Inlined into each entry with
 * `average` a constant, so that a firmware linked with --gc-sections carries only the pool its model
 * uses, each without the other's loop. */
/* The length of [start, start + k) within [lo, hi). */
static int32_t edgec_pool_span(int32_t start, int32_t k, int32_t lo, int32_t hi)
{
    const int32_t a = start > lo ? start : lo, b = start + k < hi ? start + k : hi;
    return b > a ? b - a : 0;
}

#if defined(__GNUC__)
#define EDGEC_POOL_NEST static inline __attribute__((always_inline)) void
#else
#define EDGEC_POOL_NEST static void
#endif
EDGEC_POOL_NEST edgec_pool_s8(const EDGEC_ROM edgec_pool_params *p, const int8_t *in, int32_t in_row0, int8_t *out, int32_t out_row0,
                              int32_t out_rows, const int32_t average, const EDGEC_ROM edgec_avgpool_pad_params *cp)
{
    const int32_t c_n = p->c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, out_w = p->out_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, pad_top = p->pad_top, pad_left = p->pad_left;
    const int32_t batch = p->batch, act_min = p->act_min, act_max = p->act_max;
    int32_t n, oy, ox, c, ky, kx;
    for (n = 0; n < batch; n++)
        for (oy = out_row0; oy < out_row0 + out_rows; oy++) {
            const int32_t iy0 = oy * stride_h - pad_top;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in_h - iy0 < k_h ? in_h - iy0 : k_h;
            for (ox = 0; ox < out_w; ox++) {
                const int32_t ix0 = ox * stride_w - pad_left;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
                const int32_t rows = ky1 > ky0 ? ky1 - ky0 : 0, cols = kx1 > kx0 ? kx1 - kx0 : 0;
                int32_t count = rows * cols, extra = 0;
                const int32_t skip = (in_w - cols) * c_n;         /* from a row's last tap to the next row's first */
                const int8_t *base = in + ((n * in_h + iy0 + ky0 - in_row0) * in_w + ix0 + kx0) * c_n;
                if (cp) {                                         /* counted padding: a wider divisor */
                    const int32_t counted = edgec_pool_span(iy0, k_h, -cp->count_top, in_h + cp->count_bottom) *
                                            edgec_pool_span(ix0, k_w, -cp->count_left, in_w + cp->count_right);
                    extra = (counted - count) * cp->pad_value;
                    count = counted;
                }
                for (c = 0; c < c_n; c++) {
                    const int8_t *x = base + c;
                    int32_t v;
                    if (average) {
                        int32_t sum = extra;
                        for (ky = 0; ky < rows; ky++, x += skip)
                            for (kx = 0; kx < cols; kx++, x += c_n)
                                sum += *x;
                        v = sum >= 0 ? (sum + count / 2) / count : -((-sum + count / 2) / count);
                    } else {
                        int32_t m = -129;
                        for (ky = 0; ky < rows; ky++, x += skip)
                            for (kx = 0; kx < cols; kx++, x += c_n)
                                m = *x > m ? *x : m;
                        v = m;
                    }
                    *out++ = edgec_clamp_s8(v, act_min, act_max);
                }
            }
        }
}

void edgec_maxpool_s8(const EDGEC_ROM edgec_pool_params *p, const int8_t *in, int32_t in_row0, int8_t *out,
                      int32_t out_row0, int32_t out_rows)
{
    edgec_pool_s8(p, in, in_row0, out, out_row0, out_rows, 0, 0);
}

void edgec_avgpool_s8(const EDGEC_ROM edgec_pool_params *p, const int8_t *in, int32_t in_row0, int8_t *out,
                      int32_t out_row0, int32_t out_rows)
{
    edgec_pool_s8(p, in, in_row0, out, out_row0, out_rows, 1, 0);
}

void edgec_avgpool_pad_s8(const EDGEC_ROM edgec_avgpool_pad_params *p, const int8_t *in, int32_t in_row0, int8_t *out,
                          int32_t out_row0, int32_t out_rows)
{
    edgec_pool_s8(&p->pool, in, in_row0, out, out_row0, out_rows, 1, p);
}
