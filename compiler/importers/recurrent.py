"""Recurrent layers for every importer: the IR LSTM (compiler/recurrent.py) emitted with its two
calibration outputs, after the checks the IR contract asks of it."""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError

GATES = "i, f, c, o"


def emit_lstm(b, name, x, w, r, bias, return_sequences: bool, cell_clip: float = 0.0, attrs=None,
              reverse: bool = False) -> str:
    """Emit LSTM(x [N, T, I]) with weights w [4H, I], recurrent weights r [4H, H] and bias [4H], gates in
    the order i, f, c, o; returns the output tensor ([N, T, H] or [N, H]).  `b`: a GraphBuilder.  reverse:
    the backward direction (time walked from the last step; every step's output at its input's place)."""
    xs = b.shape_of(x)
    w, r, bias = (np.asarray(v, np.float32) for v in (w, r, bias))
    if len(xs) != 3:
        raise ModelFormatError(f"LSTM needs a [batch, time, features] input, got shape {xs}")
    if r.ndim != 2 or r.shape[0] != 4 * r.shape[1] or w.shape != (r.shape[0], xs[2]) or bias.shape != (r.shape[0],):
        raise ModelFormatError(f"LSTM weights {w.shape}, recurrent weights {r.shape} and bias {bias.shape} do not "
                               f"fit {xs[2]} input features (want [4H, {xs[2]}], [4H, H], [4H])")
    wn = b.const(f"{name}_weights", np.ascontiguousarray(w))
    rn = b.const(f"{name}_recurrent_weights", np.ascontiguousarray(r))
    bn = b.const(f"{name}_bias", np.ascontiguousarray(bias))
    y = b.emit("LSTM", name, [x, wn, rn, bn], name, {"return_sequences": bool(return_sequences),
                                                    "cell_clip": float(cell_clip), **(attrs or {}),
                                                    **({"reverse": True} if reverse else {})})
    node = b.nodes[-1]
    n, t, hid = xs[0], xs[1], r.shape[1]
    node.outputs += [b.add_tensor(f"{name}_hidden_states", (n, t, hid)), b.add_tensor(f"{name}_cell_states", (n, t, hid))]
    return y


def emit_gru(b, name, x, w, r, bias, recurrent_bias, return_sequences: bool, reverse: bool = False) -> str:
    """Emit GRU(x [N, T, I]) with w [3H, I], r [3H, H], bias and recurrent_bias [3H] (gates z, r, n; the
    reset gate after the recurrent product); returns the output tensor ([N, T, H] or [N, H])."""
    xs = b.shape_of(x)
    w, r, bias, rb = (np.asarray(v, np.float32) for v in (w, r, bias, recurrent_bias))
    if len(xs) != 3:
        raise ModelFormatError(f"GRU needs a [batch, time, features] input, got shape {xs}")
    if r.ndim != 2 or r.shape[0] != 3 * r.shape[1] or w.shape != (r.shape[0], xs[2]) or \
            bias.shape != (r.shape[0],) or rb.shape != (r.shape[0],):
        raise ModelFormatError(f"GRU weights {w.shape}, recurrent weights {r.shape} and biases {bias.shape}, {rb.shape} "
                               f"do not fit {xs[2]} input features (want [3H, {xs[2]}], [3H, H], [3H], [3H])")
    names = [b.const(f"{name}_{k}", np.ascontiguousarray(v)) for k, v in
             (("weights", w), ("recurrent_weights", r), ("bias", bias), ("recurrent_bias", rb))]
    y = b.emit("GRU", name, [x] + names, name, {"return_sequences": bool(return_sequences),
                                                **({"reverse": True} if reverse else {})})
    node = b.nodes[-1]
    node.outputs += [b.add_tensor(f"{name}_hidden_states", (xs[0], xs[1], r.shape[1]))]
    return y


def emit_simple_rnn(b, name, x, w, r, bias, return_sequences: bool, reverse: bool = False) -> str:
    """Emit h_t = tanh(w x_t + r h_{t-1} + bias) (Keras SimpleRNN, ONNX RNN, torch nn.RNN with tanh): w [H, I],
    r [H, H], bias [H].  It is the GRU whose update gate is always 0 and reset gate always 1 (h = n =
    tanh(W x + b + 1 * (R h))): zero gate weights and gate biases of -/+SATURATE, so the IR keeps one
    recurrent kernel and one integer arithmetic.  The gates saturate exactly in float; in the integer
    GRU their pre-activations saturate at -/+8 in Q3.12, so z = 11 / 32768 and r = 32756 / 32768 (a
    3e-4 leak of h_{t-1}: far below int8's step).  The price is three gate rows computed for one."""
    w, r, bias = (np.asarray(v, np.float32) for v in (w, r, bias))
    hid = r.shape[0]
    zeros_w, zeros_r = np.zeros((2 * hid, w.shape[1]), np.float32), np.zeros((2 * hid, hid), np.float32)
    gate_bias = np.concatenate([np.full(hid, -SATURATE), np.full(hid, SATURATE)]).astype(np.float32)
    return emit_gru(b, name, x, np.concatenate([zeros_w, w]), np.concatenate([zeros_r, r]),
                    np.concatenate([gate_bias, bias]), np.zeros(3 * hid, np.float32), return_sequences, reverse)


SATURATE = 64.0     # sigmoid(-64) < 2e-28: the gates of emit_simple_rnn are 0 and 1 in float32/64
