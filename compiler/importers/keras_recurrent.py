"""Keras LSTM -> the IR LSTM (compiler/recurrent.py): Keras 3 (and 2) LSTM layers with the default
activations (tanh, sigmoid), forward, not stateful, returning the last hidden state or all of them.
Keras keeps the gates in the IR's order (i, f, c, o): kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H]."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .recurrent import emit_gru, emit_lstm


def _check(kind, cfg, w, extra, hint):
    """Refuses, in one error, what the IR's recurrent ops do not compute (other activations, `extra`
    reasons of the layer kind, go_backwards, stateful, return_state), and a layer without its weights."""
    reasons = []
    if cfg.get("activation", "tanh") != "tanh" or cfg.get("recurrent_activation", "sigmoid") != "sigmoid":
        reasons.append(f"activation {cfg.get('activation')!r} / recurrent_activation {cfg.get('recurrent_activation')!r} "
                       "(only tanh / sigmoid)")
    reasons += extra + [key for key in ("go_backwards", "stateful", "return_state") if cfg.get(key)]
    if reasons:
        raise UnsupportedOpError(f"{kind} with " + "; ".join(reasons), hint=hint)
    if not w or len(w) < 2:
        raise UnsupportedOpError(f"{kind} without its weights", hint="save the model with its weights")


def lstm(b, name, cfg, ins, w):
    _check("LSTM", cfg, w, [], "edgec compiles forward, stateless LSTMs with the default activations")
    kernel, recurrent = np.asarray(w[0]), np.asarray(w[1])
    units = recurrent.shape[0]
    bias = np.asarray(w[2]) if cfg.get("use_bias", True) and len(w) > 2 else np.zeros(4 * units, np.float32)
    return emit_lstm(b, name, ins[0], kernel.T, recurrent.T, bias, bool(cfg.get("return_sequences")))


def gru(b, name, cfg, ins, w):
    """Keras GRU with reset_after=True (Keras 3's default): kernel [I, 3H], recurrent_kernel [H, 3H], bias
    [2, 3H] (input and recurrent), gates z, r, h as the IR keeps them."""
    extra = [] if cfg.get("reset_after", True) else \
        ["reset_after=False (edgec's GRU applies the reset gate after the recurrent product)"]
    _check("GRU", cfg, w, extra, "edgec compiles forward, stateless GRUs with the default activations and reset_after")
    kernel, recurrent = np.asarray(w[0]), np.asarray(w[1])
    units = recurrent.shape[0]
    bias = np.asarray(w[2]).reshape(2, -1) if cfg.get("use_bias", True) and len(w) > 2 else np.zeros((2, 3 * units), np.float32)
    return emit_gru(b, name, ins[0], kernel.T, recurrent.T, bias[0], bias[1], bool(cfg.get("return_sequences")))
