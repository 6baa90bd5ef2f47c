/* Resize of an NHWC tensor by tables made at compile time (compiler/resize.py): output row y reads
 * input rows y0[y] and y1[y] with weights (1024 - wy[y], wy[y]), columns likewise; y0 or x0 of -1
 * writes the zero point (ConvTranspose's inserted zeros).  Bilinear, nearest in every ONNX
 * coordinate mode, and zero insertion are the same loop.  The output keeps the input's
 * quantization; one rounding shift (edgec_rdbp) by 20 bits.  Twin: resize.resize_s8. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

#define EDGEC_RESIZE_ONE 1024

void edgec_resize_s8(const EDGEC_ROM edgec_resize_params *p, const EDGEC_ROM int16_t *y0, const EDGEC_ROM int16_t *y1,
                     const EDGEC_ROM int16_t *wy, const EDGEC_ROM int16_t *x0, const EDGEC_ROM int16_t *x1,
                     const EDGEC_ROM int16_t *wx, const int8_t *in, int8_t *out)
{
    int32_t n, y, x, c;
    const int32_t row = p->in_w * p->c;
    for (n = 0; n < p->batch; n++) {
        const int8_t *img = in + n * p->in_h * row;
        for (y = 0; y < p->out_h; y++) {
            const int32_t ty0 = y0[y], wy1 = wy[y], wy0 = EDGEC_RESIZE_ONE - wy1;
            const int8_t *top = img + (ty0 < 0 ? 0 : ty0) * row, *bot = img + y1[y] * row;
            for (x = 0; x < p->out_w; x++) {
                const int32_t tx0 = x0[x], wx1 = wx[x], wx0 = EDGEC_RESIZE_ONE - wx1;
                const int32_t a = (tx0 < 0 ? 0 : tx0) * p->c, b = x1[x] * p->c;
                if (ty0 < 0 || tx0 < 0) {
                    for (c = 0; c < p->c; c++)
                        *out++ = (int8_t)p->zp;
                    continue;
                }
                for (c = 0; c < p->c; c++) {
                    const int32_t t = top[a + c] * wx0 + top[b + c] * wx1;
                    const int32_t u = bot[a + c] * wx0 + bot[b + c] * wx1;
                    *out++ = edgec_clamp_s8(edgec_rdbp(t * wy0 + u * wy1, 20), -128, 127);
                }
            }
        }
    }
}
