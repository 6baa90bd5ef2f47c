/* Any int8 -> int8 element-wise function (Relu, Clip, LeakyRelu, Sigmoid, Tanh, ...) as a 256-entry
 * table built at compile time.  Twin: reference.lut_s8. */
#include "edgec.h"

void edgec_lut_s8(const EDGEC_ROM int8_t *table, const int8_t *in, int8_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++)
        out[i] = table[(int32_t)in[i] + 128];
}
