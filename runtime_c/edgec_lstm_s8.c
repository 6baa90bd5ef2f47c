/* Unidirectional LSTM over a whole sequence, zero initial state: TFLite Micro's integer LSTM arithmetic
 * (int8 activations and weights, int16 gates in Q3.12 / Q0.15 and int16 cell state of scale 2^p).
 * Twin: recurrent.lstm_s8 (compiler/recurrent.py), which documents the arithmetic.
 *
 * Each unit's four gates, its cell and its new hidden value depend only on x_t, h_{t-1} and its own
 * cell, so the kernel runs unit by unit (no gate buffers): scratch holds the cell state (int16 [H]) and
 * the previous and the new hidden state (int8 [H] each).  Weights come unit by unit in the quad layout
 * of edgec_dot.h: unit j's rows of gates i, f, c, o (rows j, H + j, 2H + j, 3H + j of [4H][I] and
 * [4H][H]) interleaved by fours of inputs, so one pass over x (and one over h) gives all four; bias_x = bias - in_zp * sum(W row), bias_h = -h_zp * sum(R row) (codegen folds them, added
 * modulo 2^32 as the twin wraps); multiplier / shift: the 4H input rows, then the 4H recurrent rows.
 * p->reverse: a backward direction, time walked from the last step to the first; each step's output is
 * written at its input step's place, the last state is step 0's.
 * Products in int32_t explicitly (`int` is 16 bits on AVR). */
#include "edgec.h"
#include "edgec_fixedpoint.h"
#include "edgec_dot.h"

/* Gate k's pre-activation in Q3.12 from the input side's and the recurrent side's dot products. */
static int32_t edgec_lstm_pre(int32_t row, int32_t rows, int32_t ax, int32_t ah, const EDGEC_ROM int32_t *bias_x,
                              const EDGEC_ROM int32_t *bias_h, const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift)
{
    const int32_t gx = edgec_sat16(edgec_mbqm((int32_t)((uint32_t)bias_x[row] + (uint32_t)ax), multiplier[row], shift[row]));
    const int32_t gh = edgec_sat16(edgec_mbqm((int32_t)((uint32_t)bias_h[row] + (uint32_t)ah), multiplier[rows + row],
                                              shift[rows + row]));
    return edgec_sat16(gx + gh);
}

void edgec_lstm_s8(const EDGEC_ROM edgec_lstm_params *p, const int8_t *in, const EDGEC_ROM int8_t *w,
                   const EDGEC_ROM int8_t *r, const EDGEC_ROM int32_t *bias_x, const EDGEC_ROM int32_t *bias_h,
                   const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift,
                   const EDGEC_ROM uint16_t *table, int8_t *out, void *scratch)
{
    const int32_t hid = p->hidden, steps = p->steps, in_f = p->in_features, rows = 4 * p->hidden;
    const int32_t in4 = (in_f + 3) & ~3, hid4 = (hid + 3) & ~3;
    int16_t *cell = (int16_t *)scratch;
    int8_t *h_prev = (int8_t *)scratch + 2 * hid;
    int8_t *h_new = h_prev + ((hid + 1) / 2) * 2;
    int32_t b, t, j;
    for (b = 0; b < p->batch; b++) {
        for (j = 0; j < hid; j++) {
            cell[j] = 0;
            h_prev[j] = (int8_t)p->h_zp;
        }
        for (t = 0; t < steps; t++) {
            const int32_t ts = p->reverse ? steps - 1 - t : t;     /* the step read and written */
            const int8_t *x = in + (b * steps + ts) * in_f;
            for (j = 0; j < hid; j++) {
                int32_t ax[4] = {0, 0, 0, 0}, ah[4] = {0, 0, 0, 0}, gi, gf, gg, go, c;
                edgec_dot1x4q_s8(x, w + j * 4 * in4, in_f, ax);          /* the unit's four gates at once */
                edgec_dot1x4q_s8(h_prev, r + j * 4 * hid4, hid, ah);
                gi = edgec_sigmoid16(edgec_lstm_pre(j, rows, ax[0], ah[0], bias_x, bias_h, multiplier, shift), table);
                gf = edgec_sigmoid16(edgec_lstm_pre(hid + j, rows, ax[1], ah[1], bias_x, bias_h, multiplier, shift), table);
                gg = edgec_tanh16(edgec_lstm_pre(2 * hid + j, rows, ax[2], ah[2], bias_x, bias_h, multiplier, shift), 3, 0, table);
                go = edgec_sigmoid16(edgec_lstm_pre(3 * hid + j, rows, ax[3], ah[3], bias_x, bias_h, multiplier, shift), table);
                c = edgec_sat16(edgec_mbqm(gf * (int32_t)cell[j], p->fc_multiplier, p->fc_shift));
                c = edgec_sat16(c + edgec_sat16(edgec_mbqm(gi * gg, p->ig_multiplier, p->ig_shift)));
                if (p->cell_clip > 0)
                    c = c < -p->cell_clip ? -p->cell_clip : (c > p->cell_clip ? p->cell_clip : c);
                cell[j] = (int16_t)c;
                h_new[j] = edgec_clamp_s8(edgec_mbqm(edgec_tanh16(c, p->tanh_mult, p->tanh_shift, table) * go,
                                                     p->out_multiplier, p->out_shift) + p->h_zp, -128, 127);
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
