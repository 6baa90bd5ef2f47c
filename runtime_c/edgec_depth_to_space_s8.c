/* DepthToSpace of an NHWC tensor (ONNX DepthToSpace): each pixel's channels, in blocks, become a
 * block x block patch of output pixels.  Output channel c of patch position (i, j) is input channel
 * (i*block + j)*C' + c (DCR) or c*block*block + i*block + j (CRD), C' = in_c / (block*block).
 * Output keeps the input's quantization.  Twin: compiler/ops/depth_to_space.py, depth_to_space_any. */
#include "edgec.h"

void edgec_depth_to_space_s8(const EDGEC_ROM edgec_depth_to_space_params *p, const int8_t *in, int8_t *out)
{
    int32_t n, y, x, c;
    const int32_t b = p->block, oc = p->in_c / (p->block * p->block);
    const int32_t oh = p->in_h * b, ow = p->in_w * b;
    for (n = 0; n < p->batch; n++)
        for (y = 0; y < oh; y++)
            for (x = 0; x < ow; x++) {
                const int32_t k = (y % b) * b + x % b;      /* the position in the block */
                const int8_t *src = in + ((n * p->in_h + y / b) * p->in_w + x / b) * p->in_c;
                if (p->crd)
                    for (c = 0; c < oc; c++)
                        *out++ = src[c * b * b + k];
                else
                    for (c = 0; c < oc; c++)
                        *out++ = src[k * oc + c];
            }
}
