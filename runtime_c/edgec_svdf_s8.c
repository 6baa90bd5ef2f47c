/* SVDF with TFLite Micro's int8 arithmetic and its int16 state [batch, filters * memory] (filter f's
 * memory is state[f * memory .. (f + 1) * memory), oldest first).  Two calls per invocation:
 *   edgec_svdf_state_s16: every memory one step left, the newest slot the feature
 *     clamp16(state_zp + mbqm(sum_c wf[f][c] * (x[c] - in_zp))), into the new state (the arena);
 *   edgec_svdf_s8: per unit, bias + the `rank` filters' sums of weights_time * (state - state_zp),
 *     requantized to int8 (TFLite Micro's integer SVDF applies no fused activation).
 * The old state is the persistent state buffer, read as bytes (memcpy: it is only byte-aligned); the run
 * copies the new state over it after the last node.  Sums are int32 with two's-complement wrap (uint32
 * arithmetic, no signed overflow), as on the targets TFLM runs on.  Twins: svdf.svdf_state_s16, svdf.svdf_s8. */
#include <string.h>
#include "edgec.h"
#include "edgec_fixedpoint.h"

void edgec_svdf_state_s16(const EDGEC_ROM edgec_svdf_params *p, const int8_t *in, const int8_t *weights_feature,
                          const int8_t *state, int16_t *new_state)
{
    const int32_t batch = p->batch, n_in = p->in_features, filters = p->filters, memory = p->memory;
    int32_t b, f, c;
    for (b = 0; b < batch; b++) {
        const int8_t *x = in + b * n_in;
        for (f = 0; f < filters; f++) {
            const int32_t row = (b * filters + f) * memory;
            const int8_t *w = weights_feature + f * n_in;
            uint32_t dot = 0;
            int32_t v;
            if (memory > 1)                           /* the memory one step left: bytes, any alignment */
                memcpy(new_state + row, state + 2 * (row + 1), (size_t)(memory - 1) * sizeof(int16_t));
            for (c = 0; c < n_in; c++)
                dot += (uint32_t)((int32_t)w[c] * ((int32_t)x[c] - p->in_zp));
            v = p->state_zp + edgec_mbqm((int32_t)dot, p->multiplier, p->shift);
            new_state[row + memory - 1] = (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
        }
    }
}

void edgec_svdf_s8(const EDGEC_ROM edgec_svdf_params *p, const int16_t *state, const int16_t *weights_time,
                   const int32_t *bias, int8_t *out)
{
    const int32_t batch = p->batch, filters = p->filters, memory = p->memory, rank = p->rank;
    const int32_t units = filters / rank;
    int32_t b, u, r, m;
    for (b = 0; b < batch; b++) {
        for (u = 0; u < units; u++) {
            uint32_t acc = (uint32_t)bias[u];
            for (r = 0; r < rank; r++) {
                const int32_t f = u * rank + r;
                const int16_t *s = state + (b * filters + f) * memory;
                const int16_t *w = weights_time + f * memory;
                for (m = 0; m < memory; m++)
                    acc += (uint32_t)((int32_t)w[m] * ((int32_t)s[m] - p->state_zp));
            }
            out[b * units + u] = edgec_clamp_s8(edgec_mbqm((int32_t)acc, p->multiplier, p->shift) + p->out_zp, -128, 127);
        }
    }
}
