/* Requantize between int8 and int16 activations, where a tensor's precision differs from its
 * reader's (inserted by passes/quantize.py): out[i] = clamp(out_zp + mbqm(in[i] - in_zp, multiplier,
 * shift)) to the output type's range, with the int8 kernels' requantization (edgec_mbqm).  One file,
 * one function per direction.  Twin: reference.requantize.
 * edgec_requantize_s16_s8 may run in place (out == in): int8 element i is written after int16
 * element i was read, and overlaps no later one. */
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_requantize_s8_s16(const EDGEC_ROM edgec_requantize_params *p, const int8_t *in, int16_t *out)
{
    const int32_t n = p->n, in_zp = p->in_zp, out_zp = p->out_zp, m = p->multiplier, s = p->shift;
    int32_t i;
    for (i = 0; i < n; i++)
        out[i] = edgec_clamp_s16(edgec_mbqm((int32_t)in[i] - in_zp, m, s) + out_zp, -32768, 32767);
}

void edgec_requantize_s16_s8(const EDGEC_ROM edgec_requantize_params *p, const int16_t *in, int8_t *out)
{
    const int32_t n = p->n, in_zp = p->in_zp, out_zp = p->out_zp, m = p->multiplier, s = p->shift;
    int32_t i;
    for (i = 0; i < n; i++)
        out[i] = edgec_clamp_s8(edgec_mbqm((int32_t)in[i] - in_zp, m, s) + out_zp, -128, 127);
}

/* int16 -> int16 (a .tflite's QUANTIZE between two int16 scales); may run in place too. */
void edgec_requantize_s16_s16(const EDGEC_ROM edgec_requantize_params *p, const int16_t *in, int16_t *out)
{
    const int32_t n = p->n, in_zp = p->in_zp, out_zp = p->out_zp, m = p->multiplier, s = p->shift;
    int32_t i;
    for (i = 0; i < n; i++)
        out[i] = edgec_clamp_s16(edgec_mbqm((int32_t)in[i] - in_zp, m, s) + out_zp, -32768, 32767);
}
