/* GRU over a whole sequence, zero initial state (the reset gate applied after the recurrent product:
 * ONNX linear_before_reset=1, PyTorch, Keras 3's reset_after), in the integer LSTM's arithmetic: int8
 * activations and weights, int16 gates in Q3.12 / Q0.15 through TFLite's int16 sigmoid / tanh.
 * Twin: recurrent.gru_s8 (compiler/recurrent.py), which documents the arithmetic.
 *
 * Unit by unit, as edgec_lstm_s8: scratch holds the previous and the new hidden state (int8 [H] each).
 * Weights come unit by unit in the quad layout of edgec_dot.h: unit j's rows of gates z, r, n and a zero
 * row (rows j, H + j, 2H + j of [3H][I] and [3H][H]) interleaved by fours of inputs; bias_x = bias - in_zp * sum(W row), bias_h =
 * recurrent bias - h_zp * sum(R row) (codegen folds them); multiplier / shift: the 3H input rows, then
 * the 3H recurrent rows.  p->reverse: a backward direction, as edgec_lstm_s8's.
 * Products in int32_t explicitly (`int` is 16 bits on AVR). */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

/* One side (input or recurrent) of gate row `row` in Q3.12, from its dot product. */
static int32_t edgec_gru_side(int32_t acc, const EDGEC_ROM int32_t *bias, int32_t row, const EDGEC_ROM int32_t *multiplier,
                              const EDGEC_ROM int32_t *shift)
{
    return edgec_sat16(edgec_mbqm((int32_t)((uint32_t)bias[row] + (uint32_t)acc), multiplier[row], shift[row]));
}

void edgec_gru_s8(const EDGEC_ROM edgec_gru_params *p, const int8_t *in, const EDGEC_ROM int8_t *w,
                  const EDGEC_ROM int8_t *r, const EDGEC_ROM int32_t *bias_x, const EDGEC_ROM int32_t *bias_h,
                  const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift,
                  const EDGEC_ROM uint16_t *table, int8_t *out, void *scratch)
{
    const int32_t hid = p->hidden, steps = p->steps, in_f = p->in_features, rows = 3 * p->hidden;
    const int32_t in4 = (in_f + 3) & ~3, hid4 = (hid + 3) & ~3;
    const EDGEC_ROM int32_t *mh = multiplier + rows, *sh = shift + rows;
    int8_t *h_prev = (int8_t *)scratch;
    int8_t *h_new = h_prev + ((hid + 1) / 2) * 2;
    int32_t b, t, j;
    for (b = 0; b < p->batch; b++) {
        for (j = 0; j < hid; j++)
            h_prev[j] = (int8_t)p->h_zp;
        for (t = 0; t < steps; t++) {
            const int32_t ts = p->reverse ? steps - 1 - t : t;     /* the step read and written */
            const int8_t *x = in + (b * steps + ts) * in_f;
            for (j = 0; j < hid; j++) {
                int32_t ax[4] = {0, 0, 0, 0}, ah[4] = {0, 0, 0, 0}, z, rg, rn, n, hp, hq;
                edgec_dot1x4q_s8(x, w + j * 4 * in4, in_f, ax);          /* the unit's gates z, r, n (and a zero row) */
                edgec_dot1x4q_s8(h_prev, r + j * 4 * hid4, hid, ah);
                z = edgec_sigmoid16(edgec_sat16(edgec_gru_side(ax[0], bias_x, j, multiplier, shift) +
                                                        edgec_gru_side(ah[0], bias_h, j, mh, sh)), table);
                rg = edgec_sigmoid16(edgec_sat16(edgec_gru_side(ax[1], bias_x, hid + j, multiplier, shift) +
                                                         edgec_gru_side(ah[1], bias_h, hid + j, mh, sh)), table);
                rn = edgec_sat16(edgec_mbqm(rg * edgec_gru_side(ah[2], bias_h, 2 * hid + j, mh, sh), p->q15_multiplier,
                                                p->q15_shift));
                n = edgec_tanh16(edgec_sat16(edgec_gru_side(ax[2], bias_x, 2 * hid + j, multiplier, shift) + rn), 3, 0, table);
                hp = edgec_sat16(edgec_mbqm((int32_t)h_prev[j] - p->h_zp, p->in15_multiplier, p->in15_shift));
                hq = edgec_sat16(n + edgec_mbqm(z * (hp - n), p->q15_multiplier, p->q15_shift));
                h_new[j] = edgec_clamp_s8(edgec_mbqm(hq, p->out_multiplier, p->out_shift) + p->h_zp, -128, 127);
            }
            for (j = 0; j < hid; j++)
                h_prev[j] = h_new[j];
            if (p->return_sequences)
                for (j = 0; j < hid; j++)
                    out[(b * steps + ts) * hid + j] = h_new[j];
        }
        if (!p->return_sequences)
            for (j = 0; j < hid; j++)
                out[b * hid + j] = h_prev[j];
    }
}
