/* Unidirectional LSTM over a whole sequence, zero initial state: TFLite Micro's integer LSTM arithmetic
 * (int8 activations and weights, int16 gates in Q3.12 / Q0.15 and int16 cell state of scale 2^p).
 * Twin: recurrent.lstm_s8 (compiler/recurrent.py), which documents the arithmetic.
 *
 * Each unit's four gates, its cell and its new hidden value depend only on x_t, h_{t-1} and its own
 * cell, so the kernel runs unit by unit (no gate buffers): scratch holds the cell state (int16 [H]) and
 * the previous and the new hidden state (int8 [H] each).  Weights are rows [4H][I] and [4H][H], gates
 * i, f, c, o; bias_x = bias - in_zp * sum(W row), bias_h = -h_zp * sum(R row) (codegen folds them, added
 * modulo 2^32 as the twin wraps); multiplier / shift: the 4H input rows, then the 4H recurrent rows.
 * Products in int32_t explicitly (`int` is 16 bits on AVR). */
#include "edgec.h"
#include "edgec_fixedpoint.h"

static int32_t edgec_sat16(int32_t v)
{
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/* TFLite's int16 Logistic of a Q3.12 value: Q0.15. */
static int32_t edgec_sigmoid16(int32_t v, const EDGEC_ROM uint16_t *table)
{
    const int32_t x = v * 3;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = a >> 9;
    uint32_t res;
    if (uh >= 255u) {
        res = UINT32_C(0x7FFF) << 10;
    } else {
        const uint32_t ua = table[uh], ub = table[uh + 1u];
        res = (ua << 9) + (a & 0x1FFu) * (ub - ua);
    }
    res = x >= 0 ? res + (UINT32_C(1) << 9) : (UINT32_C(1) << 25) - res + (UINT32_C(1) << 9) - 1u;
    return (int32_t)(res >> 10);
}

/* TFLite's int16 Tanh: the input rescaled to 3 x Q3.12 by (v * mult + round) >> shift; Q0.15 out. */
static int32_t edgec_tanh16(int32_t v, int32_t mult, int32_t shift, const EDGEC_ROM uint16_t *table)
{
    const int32_t rnd = shift > 0 ? (INT32_C(1) << (shift - 1)) : 0;
    const int32_t x = (v * mult + rnd) >> shift;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = a >> 8;
    int32_t res;
    if (uh >= 255u) {
        res = INT32_C(0xFFFF) << 8;
    } else {
        const uint32_t ua = table[uh], ub = table[uh + 1u];
        res = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
    }
    res = x >= 0 ? res - (INT32_C(1) << 23) + (INT32_C(1) << 7) : -res + (INT32_C(1) << 23) + (INT32_C(1) << 7) - 1;
    return res >> 8;
}

static int32_t edgec_lstm_gate(const EDGEC_ROM edgec_lstm_params *p, int32_t row, const int8_t *x, const int8_t *h,
                               const EDGEC_ROM int8_t *w, const EDGEC_ROM int8_t *r, const EDGEC_ROM int32_t *bias_x,
                               const EDGEC_ROM int32_t *bias_h, const EDGEC_ROM int32_t *multiplier,
                               const EDGEC_ROM int32_t *shift)
{
    const int32_t in = p->in_features, hid = p->hidden, rows = 4 * p->hidden;
    const EDGEC_ROM int8_t *wr = w + row * in;
    const EDGEC_ROM int8_t *rr = r + row * hid;
    int32_t k, ax = 0, ah = 0, gx, gh;
    for (k = 0; k < in; k++)
        ax += (int32_t)x[k] * (int32_t)wr[k];
    for (k = 0; k < hid; k++)
        ah += (int32_t)h[k] * (int32_t)rr[k];
    gx = edgec_sat16(edgec_mbqm((int32_t)((uint32_t)bias_x[row] + (uint32_t)ax), multiplier[row], shift[row]));
    gh = edgec_sat16(edgec_mbqm((int32_t)((uint32_t)bias_h[row] + (uint32_t)ah), multiplier[rows + row], shift[rows + row]));
    return edgec_sat16(gx + gh);
}

void edgec_lstm_s8(const EDGEC_ROM edgec_lstm_params *p, const int8_t *in, const EDGEC_ROM int8_t *w,
                   const EDGEC_ROM int8_t *r, const EDGEC_ROM int32_t *bias_x, const EDGEC_ROM int32_t *bias_h,
                   const EDGEC_ROM int32_t *multiplier, const EDGEC_ROM int32_t *shift,
                   const EDGEC_ROM uint16_t *table, int8_t *out, void *scratch)
{
    const int32_t hid = p->hidden, steps = p->steps, in_f = p->in_features;
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
            const int8_t *x = in + (b * steps + t) * in_f;
            for (j = 0; j < hid; j++) {
                const int32_t gi = edgec_sigmoid16(edgec_lstm_gate(p, j, x, h_prev, w, r, bias_x, bias_h, multiplier, shift), table);
                const int32_t gf = edgec_sigmoid16(edgec_lstm_gate(p, hid + j, x, h_prev, w, r, bias_x, bias_h, multiplier, shift), table);
                const int32_t gg = edgec_tanh16(edgec_lstm_gate(p, 2 * hid + j, x, h_prev, w, r, bias_x, bias_h, multiplier, shift),
                                                3, 0, table);
                const int32_t go = edgec_sigmoid16(edgec_lstm_gate(p, 3 * hid + j, x, h_prev, w, r, bias_x, bias_h, multiplier, shift), table);
                int32_t c = edgec_sat16(edgec_mbqm(gf * (int32_t)cell[j], p->fc_multiplier, p->fc_shift));
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
                    out[(b * steps + t) * hid + j] = h_new[j];
        }
        if (!p->return_sequences)
            for (j = 0; j < hid; j++)
                out[b * hid + j] = h_prev[j];
    }
}
