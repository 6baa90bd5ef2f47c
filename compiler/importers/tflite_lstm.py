"""TFLite UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int16 cell state, as the TFLite
converter writes it) -> the IR LSTM (compiler/recurrent.py), whose integer arithmetic is TFLite Micro's.

The 24 inputs (TFLite's lstm_shared.h order): 0 input; 1-4 input-to-{input, forget, cell, output}
weights; 5-8 recurrent-to-the-same; 9-11 peepholes; 12-15 gate biases; 16-17 projection; 18 the hidden
(output) state and 19 the cell state, variables; 20-23 layer-norm coefficients.  edgec takes the
standard LSTM: every gate present, no peepholes, projection or layer norm, tanh cell activation.  The
states start from zero each inference (a fresh TFLite Micro interpreter, or one reset between runs)."""
from __future__ import annotations

import math

import numpy as np

from ..ir import Quant, Tensor, unique_name

REQUIRED = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 18, 19)
ABSENT = {9: "peephole weights", 10: "peephole weights", 11: "peephole weights", 16: "a projection",
          17: "a projection", 20: "layer normalisation", 21: "layer normalisation", 22: "layer normalisation",
          23: "layer normalisation"}
TANH = 4
INT8, INT16, INT32 = 9, 7, 2


def options(o) -> dict:
    """Its UnidirectionalSequenceLSTMOptions (the cell activation kept apart from the fused `act` the
    importer checks on other operators)."""
    return {"cell_act": o.FusedActivationFunction(), "cell_clip": float(o.CellClip()), "proj_clip": float(o.ProjClip()),
            "time_major": bool(o.TimeMajor())}


def check(imp, ins, outs, opt, bad) -> None:
    """Every reason this LSTM cannot be imported, through bad(what)."""
    t = imp.tensors
    ins = list(ins) + [-1] * (24 - len(ins))
    if len(outs) != 1 or any(ins[i] < 0 for i in REQUIRED):
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM without an input gate or a state tensor (CIFG LSTMs are not supported)")
        return
    kinds = sorted({what for i, what in ABSENT.items() if ins[i] >= 0})
    if kinds:
        bad(f"UNIDIRECTIONAL_SEQUENCE_LSTM with {', '.join(kinds)}")
    if opt.get("cell_act", TANH) != TANH:
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM with a cell activation other than TANH")
    x, h, c = t[ins[0]], t[ins[18]], t[ins[19]]
    if x.type != INT8 or h.type != INT8 or t[outs[0]].type != INT8 or c.type != INT16:
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM other than int8 activations with an int16 cell state")
        return
    if any(t[ins[i]].type != INT8 or t[ins[i]].data is None for i in range(1, 9)) or \
            any(t[ins[i]].type != INT32 or t[ins[i]].data is None for i in range(12, 16)):
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM with weights other than constant int8 and biases other than constant int32")
        return
    if any(t[ins[i]].scale is None or t[ins[i]].scale.size != 1 or np.any(t[ins[i]].zero_point) for i in range(1, 9)):
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM with weights not quantized per tensor, symmetrically")
    if not (x.quantized and h.quantized and c.quantized):
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM on tensors without quantization parameters")
    elif c.scale[0] <= 0 or 2.0 ** round(math.log2(c.scale[0])) != c.scale[0] or int(c.zero_point[0]) != 0:
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM whose cell state scale is not a power of two (zero point 0)")
    if len(x.shape) != 3 or (opt.get("time_major") and x.shape[1] != 1):
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM other than on [batch, time, features] (or time-major with batch 1)")
        return
    n, steps, feats = (x.shape[1], x.shape[0], x.shape[2]) if opt.get("time_major") else tuple(x.shape)
    hid = t[ins[5]].shape[-1] if len(t[ins[5]].shape) == 2 else -1
    want = {i: (hid, feats) for i in range(1, 5)} | {i: (hid, hid) for i in range(5, 9)} | {i: (hid,) for i in range(12, 16)}
    out_shape = (steps, n, hid) if opt.get("time_major") else (n, steps, hid)
    if hid < 1 or any(tuple(t[ins[i]].shape) != s or t[ins[i]].data.size != math.prod(s) for i, s in want.items()) or \
            math.prod(t[ins[18]].shape) != n * hid or math.prod(t[ins[19]].shape) != n * hid or tuple(t[outs[0]].shape) != out_shape:
        bad("UNIDIRECTIONAL_SEQUENCE_LSTM whose weights, biases, states or output do not fit its input "
            "(the file may be corrupt)")


def import_op(imp, ins, outs, opt) -> None:
    """The LSTM node: float weights in the float twin, the file's integers and state scales given to
    quantize, which derives TFLite Micro's parameters (compiler/recurrent.py)."""
    t = imp.tensors
    ins = list(ins) + [-1] * (24 - len(ins))
    xi, yi = ins[0], outs[0]
    x, y = imp.act(xi), imp.act(yi)
    shape = tuple(int(d) for d in t[xi].shape)
    if opt.get("time_major"):                       # [T, 1, I] is [1, T, I] in memory
        n_t = (shape[1], shape[0], shape[2])
        flat = imp.extra_act(f"{x}_batch_major", n_t, xi)
        imp.node("Reshape", flat, [x], [flat], {"shape": n_t})
        x = flat
        out_shape = (1,) + tuple(int(d) for d in t[yi].shape)[:1] + tuple(int(d) for d in t[yi].shape)[2:]
        y_ir = imp.extra_act(f"{y}_batch_major", out_shape, yi)
    else:
        y_ir = y
    w = np.concatenate([t[ins[i]].data.reshape(t[ins[i]].shape).astype(np.int8) for i in (1, 2, 3, 4)])
    r = np.concatenate([t[ins[i]].data.reshape(t[ins[i]].shape).astype(np.int8) for i in (5, 6, 7, 8)])
    hid = r.shape[1]
    s_w = np.repeat([float(t[ins[i]].scale[0]) for i in (1, 2, 3, 4)], hid)
    s_r = np.repeat([float(t[ins[i]].scale[0]) for i in (5, 6, 7, 8)], hid)
    bias = np.concatenate([t[ins[i]].data.astype(np.int32).reshape(-1) for i in (12, 13, 14, 15)])
    s_x = imp.qparams(xi)[0]
    s_h, zp_h = imp.qparams(ins[18])
    base = imp.name(ins[1]).rsplit("/", 1)[0] or "lstm"
    names = []
    for suffix, q, data, scale in (("weights", "int8", w, s_w), ("recurrent_weights", "int8", r, s_r),
                                   ("bias", "int32", bias, s_x * s_w)):
        n = _unique(imp, f"{base}_{suffix}")
        imp.qg[n] = Tensor(n, data.shape, q, data, Quant(np.asarray(scale, np.float64), np.zeros(len(scale), np.int64), 0))
        imp.fg[n] = Tensor(n, data.shape, "float32", (data * (scale[:, None] if data.ndim == 2 else scale)).astype(np.float32))
        names.append(n)
    # the float LSTM's two calibration outputs, every hidden and cell state, at the file's state scales:
    # quantize (compiler/recurrent.py) derives TFLite Micro's parameters from them and drops them
    n_t = imp.fg[x].shape[:2]
    states = []
    for suffix, dtype, quant in (("hidden_states", "int8", Quant(np.float64(s_h), np.int64(zp_h))),
                                 ("cell_states", "int16", Quant(np.float64(t[ins[19]].scale[0]), np.int64(0)))):
        n = _unique(imp, f"{base}_{suffix}")
        imp.qg[n] = Tensor(n, n_t + (hid,), dtype, None, quant)
        imp.fg[n] = Tensor(n, n_t + (hid,), "float32")
        states.append(n)
    attrs = {"return_sequences": True, "cell_clip": float(opt.get("cell_clip", 0.0))}
    imp.node("LSTM", yi, [x] + names, [y_ir] + states, attrs)
    if opt.get("time_major"):
        imp.node("Reshape", f"{y}_time_major", [y_ir], [y], {"shape": tuple(int(d) for d in t[yi].shape)})


def _unique(imp, base):
    n = unique_name(imp.used, base)
    imp.used.add(n)
    return n
