/* Nearest-neighbour upsampling of an NHWC tensor by integer factors (Darknet's [upsample],
 * Keras UpSampling2D).  Output keeps the input's quantization.  Twin: reference.upsample_any. */
#include "edgec.h"

void edgec_upsample_s8(const EDGEC_ROM edgec_upsample_params *p, const int8_t *in, int8_t *out)
{
    int32_t n, y, x, c;
    const int32_t oh = p->in_h * p->scale_h, ow = p->in_w * p->scale_w;
    for (n = 0; n < p->batch; n++)
        for (y = 0; y < oh; y++)
            for (x = 0; x < ow; x++) {
                const int8_t *src = in + ((n * p->in_h + y / p->scale_h) * p->in_w + x / p->scale_w) * p->c;
                for (c = 0; c < p->c; c++)
                    *out++ = src[c];
            }
}
