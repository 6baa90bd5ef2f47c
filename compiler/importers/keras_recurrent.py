"""Keras LSTM -> the IR LSTM (compiler/recurrent.py): Keras 3 (and 2) LSTM layers with the default
activations (tanh, sigmoid), forward, not stateful, returning the last hidden state or all of them.
Keras keeps the gates in the IR's order (i, f, c, o): kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H]."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .recurrent import emit_lstm


def lstm(b, name, cfg, ins, w):
    reasons = []
    if cfg.get("activation", "tanh") != "tanh" or cfg.get("recurrent_activation", "sigmoid") != "sigmoid":
        reasons.append(f"activation {cfg.get('activation')!r} / recurrent_activation {cfg.get('recurrent_activation')!r} "
                       "(only tanh / sigmoid)")
    for key, what in (("go_backwards", "go_backwards"), ("stateful", "stateful"), ("return_state", "return_state")):
        if cfg.get(key):
            reasons.append(what)
    if reasons:
        raise UnsupportedOpError("LSTM with " + "; ".join(reasons),
                                 hint="edgec compiles forward, stateless LSTMs with the default activations")
    if not w or len(w) < 2:
        raise UnsupportedOpError("LSTM without its weights", hint="save the model with its weights")
    kernel, recurrent = np.asarray(w[0]), np.asarray(w[1])
    units = recurrent.shape[0]
    bias = np.asarray(w[2]) if cfg.get("use_bias", True) and len(w) > 2 else np.zeros(4 * units, np.float32)
    return emit_lstm(b, name, ins[0], kernel.T, recurrent.T, bias, bool(cfg.get("return_sequences")))
