/* Softmax over the last axis, integer only.  exp_table[d] = round(2^K * exp(-scale_in * d)), d = 0..255,
 * built at compile time with K chosen so a row's sum fits 31 bits.  Output scale 1/256, zero point -128:
 * out = min(127, (e * 256 + sum / 2) / sum - 128).  Twin: reference.softmax_s8. */
#include "edgec.h"

void edgec_softmax_s8(const EDGEC_ROM int32_t *exp_table, int32_t rows, int32_t cols, const int8_t *in, int8_t *out)
{
    int32_t r, c;
    for (r = 0; r < rows; r++) {
        const int8_t *x = in + r * cols;
        int8_t *y = out + r * cols;
        int32_t mx = -128;
        uint32_t sum = 0;
        for (c = 0; c < cols; c++)
            if (x[c] > mx)
                mx = x[c];
        for (c = 0; c < cols; c++)
            sum += (uint32_t)exp_table[mx - x[c]];
        for (c = 0; c < cols; c++) {
            const uint32_t q = ((uint32_t)exp_table[mx - x[c]] * 256u + sum / 2u) / sum;
            const int32_t v = (int32_t)q - 128;
            y[c] = (int8_t)(v > 127 ? 127 : v);
        }
    }
}
