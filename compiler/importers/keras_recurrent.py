"""Keras LSTM -> the IR LSTM (compiler/recurrent.py): Keras 3 (and 2) LSTM layers with the default
activations (tanh, sigmoid), not stateful, returning the last hidden state or all of them.
Keras keeps the gates in the IR's order (i, f, c, o): kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H].
GRU alike; SimpleRNN as the GRU of emit_simple_rnn.  go_backwards is the op's `reverse` attr (Keras
returns such a layer's sequence in the order it walked: reversed back by a StridedSlice); Bidirectional
is its forward and backward layers (the backward's sequence already in input order, as Keras flips it)
merged by merge_mode (concat, sum, ave, mul)."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .recurrent import emit_gru, emit_lstm, emit_simple_rnn


def _check(kind, cfg, w, extra, hint):
    """Refuses, in one error, what the IR's recurrent ops do not compute (other activations, `extra`
    reasons of the layer kind, stateful, return_state), and a layer without its weights."""
    reasons = []
    if cfg.get("activation", "tanh") != "tanh" or (kind != "SimpleRNN" and
                                                    cfg.get("recurrent_activation", "sigmoid") != "sigmoid"):
        reasons.append(f"activation {cfg.get('activation')!r} / recurrent_activation {cfg.get('recurrent_activation')!r} "
                       "(only tanh / sigmoid)")
    reasons += extra + [key for key in ("stateful", "return_state") if cfg.get(key)]
    if reasons:
        raise UnsupportedOpError(f"{kind} with " + "; ".join(reasons), hint=hint)
    if not w or len(w) < 2:
        raise UnsupportedOpError(f"{kind} without its weights", hint="save the model with its weights")


def _walk_order(b, name, y, cfg, in_time_order):
    """A go_backwards layer's sequence as Keras returns it standalone: in the order walked (last step first)."""
    if not cfg.get("go_backwards") or not cfg.get("return_sequences") or in_time_order:
        return y
    n, t, h = b.shape_of(y)
    return b.emit("StridedSlice", f"{name}_walk_order", [y], None, {"begin": (0, t - 1, 0), "step": (1, -1, 1),
                                                                     "count": (n, t, h)})


def lstm(b, name, cfg, ins, w, in_time_order=False):
    _check("LSTM", cfg, w, [], "edgec compiles stateless LSTMs with the default activations")
    kernel, recurrent = np.asarray(w[0]), np.asarray(w[1])
    units = recurrent.shape[0]
    bias = np.asarray(w[2]) if cfg.get("use_bias", True) and len(w) > 2 else np.zeros(4 * units, np.float32)
    y = emit_lstm(b, name, ins[0], kernel.T, recurrent.T, bias, bool(cfg.get("return_sequences")),
                  reverse=bool(cfg.get("go_backwards")))
    return _walk_order(b, name, y, cfg, in_time_order)


def simple_rnn(b, name, cfg, ins, w, in_time_order=False):
    """Keras SimpleRNN (tanh): kernel [I, H], recurrent_kernel [H, H], bias [H]."""
    _check("SimpleRNN", cfg, w, [], "edgec compiles stateless SimpleRNNs with activation tanh")
    kernel, recurrent = np.asarray(w[0]), np.asarray(w[1])
    bias = np.asarray(w[2]) if cfg.get("use_bias", True) and len(w) > 2 else np.zeros(recurrent.shape[0], np.float32)
    y = emit_simple_rnn(b, name, ins[0], kernel.T, recurrent.T, bias, bool(cfg.get("return_sequences")),
                        reverse=bool(cfg.get("go_backwards")))
    return _walk_order(b, name, y, cfg, in_time_order)


def gru(b, name, cfg, ins, w, in_time_order=False):
    """Keras GRU with reset_after=True (Keras 3's default): kernel [I, 3H], recurrent_kernel [H, 3H], bias
    [2, 3H] (input and recurrent), gates z, r, h as the IR keeps them."""
    extra = [] if cfg.get("reset_after", True) else \
        ["reset_after=False (edgec's GRU applies the reset gate after the recurrent product)"]
    _check("GRU", cfg, w, extra, "edgec compiles stateless GRUs with the default activations and reset_after")
    kernel, recurrent = np.asarray(w[0]), np.asarray(w[1])
    units = recurrent.shape[0]
    bias = np.asarray(w[2]).reshape(2, -1) if cfg.get("use_bias", True) and len(w) > 2 else np.zeros((2, 3 * units), np.float32)
    y = emit_gru(b, name, ins[0], kernel.T, recurrent.T, bias[0], bias[1], bool(cfg.get("return_sequences")),
                 reverse=bool(cfg.get("go_backwards")))
    return _walk_order(b, name, y, cfg, in_time_order)


LAYERS = {"LSTM": lstm, "GRU": gru, "SimpleRNN": simple_rnn}
MERGE = {"sum": "Add", "ave": "Add", "mul": "Mul"}


def bidirectional(b, name, cfg, ins, w):
    """Keras Bidirectional over an LSTM, GRU or SimpleRNN: the forward layer and the backward one (its own
    config, go_backwards, when saved; else the forward's reversed) on the same input, each with its own
    weights (the forward's first), merged on the feature axis (concat) or element-wise (sum, ave, mul), or both returned (None: a list)."""
    fwd = cfg.get("layer") if isinstance(cfg.get("layer"), dict) else {}
    bwd = cfg.get("backward_layer") if isinstance(cfg.get("backward_layer"), dict) else None
    bwd = bwd or {"class_name": fwd.get("class_name"), "config": {**(fwd.get("config") or {}), "go_backwards": True}}
    mode = cfg.get("merge_mode", "concat")
    kinds = (fwd.get("class_name"), bwd.get("class_name"))
    reasons = [f"a {k!r} layer (edgec's are LSTM, GRU, SimpleRNN)" for k in sorted(set(kinds) - set(LAYERS), key=str)]
    if mode not in ("concat", None, *MERGE):
        reasons.append(f"merge_mode {mode!r} (concat, sum, ave, mul or None)")
    fcfg, bcfg = fwd.get("config") or {}, bwd.get("config") or {}
    if fcfg.get("go_backwards") == bcfg.get("go_backwards", not fcfg.get("go_backwards")):
        reasons.append("both layers walking time the same way")
    if reasons:
        raise UnsupportedOpError("Bidirectional with " + "; ".join(reasons),
                                 hint="edgec compiles Bidirectional LSTM / GRU / SimpleRNN merged by concat, sum, ave, mul or None")
    n_fwd = 3 if fcfg.get("use_bias", True) else 2
    y_f = LAYERS[kinds[0]](b, f"{name}_forward", fcfg, ins, w[:n_fwd], in_time_order=True)
    y_b = LAYERS[kinds[1]](b, f"{name}_backward", bcfg, ins, w[n_fwd:], in_time_order=True)
    if mode is None:                                   # two outputs, the forward's first (keras.py _key)
        return [y_f, y_b]
    if mode == "concat":
        return b.emit("Concat", name, [y_f, y_b], None, {"axis": len(b.shape_of(y_f)) - 1})
    y = b.emit(MERGE[mode], name if mode != "ave" else f"{name}_sum", [y_f, y_b], None, {"act": None})
    if mode == "ave":
        y = b.emit("Mul", name, [y, b.const(f"{name}_half", np.array([0.5], np.float32))], None, {"act": None})
    return y
