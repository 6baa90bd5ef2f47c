"""TFLite SVDF (int8 input and output, int8 feature weights, int16 time weights, int32 bias, an int16
activation state) -> edgec's SvdfState + Svdf nodes (compiler/svdf.py) around a persistent state.

The five inputs (TFLite's order): 0 input [batch, input_size]; 1 weights_feature [filters, input_size];
2 weights_time [filters, memory]; 3 bias [units] (optional, -1); 4 the activation state
[batch, filters * memory], a variable tensor TFLite Micro keeps between invocations.  That state becomes
a state tensor of Graph.state, like a resource variable's: static RAM outside the arena, carried
from one run() to the next, zeros at start and after reset() (TFLite Micro clears an int16 variable
tensor to zero bytes).  TFLite Micro's Prepare reads the bias's scale without checking it exists, so an
SVDF without bias crashes it; edgec computes it as its kernel would (a zero bias).
"""
from __future__ import annotations

import numpy as np

from ..ir import Quant, Tensor, unique_name
from .tflite_params import ACTIVATIONS

INT8, INT16, INT32 = 9, 7, 2


def options(o) -> dict:
    return {"rank": int(o.Rank()), "act": o.FusedActivationFunction()}


def check(imp, ins, outs, opt, bad) -> None:
    """Every reason this SVDF cannot be imported, through bad(what)."""
    t = imp.tensors
    if len(ins) != 5 or len(outs) != 1 or min(ins[:3] + ins[4:] + outs) < 0:
        bad("SVDF without its input, weights, state or output")
        return
    x, wf, wt, st, y = t[ins[0]], t[ins[1]], t[ins[2]], t[ins[4]], t[outs[0]]
    bias = t[ins[3]] if ins[3] >= 0 else None
    if x.type != INT8 or y.type != INT8 or wf.type != INT8 or wt.type != INT16 or st.type != INT16 or \
            (bias is not None and bias.type != INT32):
        bad("SVDF other than int8 input and output, int8 feature and int16 time weights, int32 bias and an int16 "
            "state (TFLite Micro's int8 SVDF with its int16 state)")
        return
    if wf.data is None or wt.data is None or (bias is not None and bias.data is None):
        bad("SVDF whose weights or bias are not constant")
        return
    if sum(ins[4] in o_ins + o_outs for _, o_ins, o_outs, _ in imp.ops) > 1:
        bad("SVDF whose state tensor another operator also reads or writes (TFLite Micro keeps one per SVDF)")
    if st.data is not None and np.any(st.data):
        bad("SVDF whose state tensor holds values (TFLite Micro starts it at zero)")
    if not all(a.quantized for a in (x, wf, wt, st, y)) or any(a.scale.size != 1 for a in (wf, wt, st)):
        bad("SVDF whose tensors are not quantized per tensor")
        return
    if np.any(wf.zero_point) or np.any(wt.zero_point):
        bad("SVDF with asymmetric weights (nonzero weight zero point)")
    rank = int(opt.get("rank", 0))
    if opt.get("act", 0) not in ACTIVATIONS:
        bad("SVDF with a fused activation other than NONE/RELU/RELU6/RELU_N1_TO_1")
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2 or len(st.shape) != 2 or len(y.shape) != 2:
        bad("SVDF on tensors other than 2-D")
        return
    (b, n_in), (filters, memory) = x.shape, wt.shape
    if rank < 1 or filters % rank or wf.shape != (filters, n_in) or st.shape != (b, filters * memory) or \
            y.shape != (b, filters // rank) or (bias is not None and bias.data.size != filters // rank):
        bad(f"SVDF of rank {rank} whose weights {list(wf.shape)} {list(wt.shape)}, state {list(st.shape)} or output "
            f"{list(y.shape)} do not fit its input {list(x.shape)} (the file may be corrupt)")


def import_op(imp, ins, outs, opt) -> None:
    """The SvdfState and Svdf nodes (the file's integers given to quantize, which derives TFLite Micro's
    multipliers: compiler/ops/svdf.py) and the state entry (imp.state: TFLite Micro's zeros)."""
    t = imp.tensors
    rank = int(opt["rank"])
    wf_t, wt_t, st_t = t[ins[1]], t[ins[2]], t[ins[4]]
    filters, memory = wt_t.shape
    units = filters // rank
    x = imp.act(ins[0])
    y = imp.act(outs[0])
    s_wf, s_wt = float(wf_t.scale[0]), float(wt_t.scale[0])
    s_st, zp_st = float(st_t.scale[0]), int(st_t.zero_point[0])
    f32 = np.float32                                  # TFLM: float32 products

    state = imp.name(ins[4])
    quant = Quant(np.float64(s_st), np.int64(zp_st))
    imp.qg[state] = Tensor(state, st_t.shape, "int16", None, quant)
    imp.fg[state] = Tensor(state, st_t.shape, "float32")
    new = _unique(imp, f"{state}_next")
    imp.qg[new] = Tensor(new, st_t.shape, "int16", None, quant)
    imp.fg[new] = Tensor(new, st_t.shape, "float32")
    base = state.rsplit("/", 1)[0] or "svdf"
    wf_n, wt_n, b_n = (_unique(imp, f"{base}_{k}") for k in ("weights_feature", "weights_time", "bias"))
    wf = np.asarray(wf_t.data, np.int8).reshape(wf_t.shape)
    wt = np.asarray(wt_t.data, np.int16).reshape(wt_t.shape)
    bias = np.asarray(t[ins[3]].data, np.int32).reshape(-1) if ins[3] >= 0 else np.zeros(units, np.int32)
    s_b = float(f32(s_st) * f32(s_wt))
    for n, dtype, data, scale in ((wf_n, "int8", wf, s_wf), (wt_n, "int16", wt, s_wt), (b_n, "int32", bias, s_b)):
        imp.qg[n] = Tensor(n, data.shape, dtype, data, Quant(np.float64(scale), np.int64(0)))
        imp.fg[n] = Tensor(n, data.shape, "float32", (data.astype(np.float64) * scale).astype(np.float32))
    imp.node("SvdfState", new, [x, wf_n, state], [new], {"memory": int(memory)})
    imp.node("Svdf", outs[0], [new, wt_n, b_n], [y], {"rank": rank, "act": ACTIVATIONS[opt.get("act", 0)]})
    imp.state.append({"key": ("svdf", state), "read": ins[4], "next": new, "init": np.zeros(st_t.shape, np.int16),
                      "dtype": np.int16})


def _unique(imp, base):
    n = unique_name(imp.used, base)
    imp.used.add(n)
    return n
