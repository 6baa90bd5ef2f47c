"""C for the recurrent ops (compiler/recurrent.py): the LSTM's kernel call and its constant arrays."""
from __future__ import annotations

import numpy as np

from ..compiler.fixedpoint import wrap32
from ..compiler.recurrent import tanh_params

from .layouts import quad_layout


def unit_quads(w: np.ndarray, gates: int) -> np.ndarray:
    """Gate rows [gates * H, K] regrouped unit by unit (row 4j + k = gate k of unit j; a zero row when
    there are three gates) in the quad layout: what edgec_lstm_s8 / edgec_gru_s8 read."""
    hid = w.shape[0] // gates
    units = np.zeros((hid, 4, w.shape[1]), np.int8)
    units[:, :gates] = w.reshape(gates, hid, -1).transpose(1, 0, 2)
    return quad_layout(units.reshape(4 * hid, -1))


def _reverse(a) -> dict:
    """The params' `reverse` field, written only when set (a designated initializer leaves it 0), so a
    forward layer's C is the same as before the field existed."""
    return {"reverse": 1} if a.get("reverse") else {}


def lstm_call(e, i: int, node) -> str:
    """edgec_lstm_s8 with the zero points folded into per-row biases (as _folded_bias does for FC)."""
    g, a = e.graph, node.attrs
    x, wn, rn, bn = node.inputs
    ish = g.tensors[x].shape
    w = g.tensors[wn].data.astype(np.int64)
    r = g.tensors[rn].data.astype(np.int64)
    hid = r.shape[1]
    base = f"{i}_{node.name}"
    bias_x = wrap32(g.tensors[bn].data.astype(np.int64) - a["in_zp"] * w.sum(axis=1)).astype(np.int32)
    bias_h = wrap32(-a["h_zp"] * r.sum(axis=1)).astype(np.int32)
    wp = e.array(unit_quads(w.astype(np.int8), 4), f"w{i}_{node.name}", "int8_t", f"{wn}, unit by unit in the quad layout")
    rp = e.array(unit_quads(r.astype(np.int8), 4), f"r{i}_{node.name}", "int8_t", f"{rn}, unit by unit in the quad layout")
    bx = e.array(bias_x, f"bx{i}_{node.name}", "int32_t", f"{bn} - in_zp * sum(weights row)")
    bh = e.array(bias_h, f"bh{i}_{node.name}", "int32_t", "-h_zp * sum(recurrent weights row)")
    m = e.array(np.concatenate([a["x_multiplier"], a["h_multiplier"]]).astype(np.int32), f"m{i}_{node.name}",
                "int32_t", "Q31 multipliers to the Q3.12 gates: input rows, then recurrent rows")
    s = e.array(np.concatenate([a["x_shift"], a["h_shift"]]).astype(np.int32), f"s{i}_{node.name}", "int32_t", "shifts")
    tab = e.array(np.asarray(a["sigmoid_table"], np.uint16), f"sig{i}_{node.name}", "uint16_t",
                  "sigmoid(k / 24) in Q0.16: the int16 sigmoid / tanh interpolation table")
    tm, ts = tanh_params(a["cell_power"])
    p = e.param("edgec_lstm_params", base, dict(
        batch=ish[0], steps=ish[1], in_features=ish[2], hidden=hid, return_sequences=int(bool(a.get("return_sequences"))),
        in_zp=a["in_zp"], h_zp=a["h_zp"], tanh_mult=tm, tanh_shift=ts, fc_multiplier=a["fc_multiplier"],
        fc_shift=a["fc_shift"], ig_multiplier=a["ig_multiplier"], ig_shift=a["ig_shift"],
        out_multiplier=a["out_multiplier"], out_shift=a["out_shift"], cell_clip=a["cell_clip"], **_reverse(a)))
    return e.call("edgec_lstm_s8", f"&{p}", e.ptr(x), wp, rp, bx, bh, m, s, tab, e.ptr(node.outputs[0]),
                  e.scratch(node.name, "(void *)"))


def gru_call(e, i: int, node) -> str:
    """edgec_gru_s8 with the zero points folded into per-row biases."""
    g, a = e.graph, node.attrs
    x, wn, rn, bwn, brn = node.inputs
    ish = g.tensors[x].shape
    w = g.tensors[wn].data.astype(np.int64)
    r = g.tensors[rn].data.astype(np.int64)
    hid = r.shape[1]
    base = f"{i}_{node.name}"
    bias_x = wrap32(g.tensors[bwn].data.astype(np.int64) - a["in_zp"] * w.sum(axis=1)).astype(np.int32)
    bias_h = wrap32(g.tensors[brn].data.astype(np.int64) - a["h_zp"] * r.sum(axis=1)).astype(np.int32)
    wp = e.array(unit_quads(w.astype(np.int8), 3), f"w{i}_{node.name}", "int8_t", f"{wn}, unit by unit in the quad layout")
    rp = e.array(unit_quads(r.astype(np.int8), 3), f"r{i}_{node.name}", "int8_t", f"{rn}, unit by unit in the quad layout")
    bx = e.array(bias_x, f"bx{i}_{node.name}", "int32_t", f"{bwn} - in_zp * sum(weights row)")
    bh = e.array(bias_h, f"bh{i}_{node.name}", "int32_t", f"{brn} - h_zp * sum(recurrent weights row)")
    m = e.array(np.concatenate([a["x_multiplier"], a["h_multiplier"]]).astype(np.int32), f"m{i}_{node.name}",
                "int32_t", "Q31 multipliers to the Q3.12 gates: input rows, then recurrent rows")
    s = e.array(np.concatenate([a["x_shift"], a["h_shift"]]).astype(np.int32), f"s{i}_{node.name}", "int32_t", "shifts")
    tab = e.array(np.asarray(a["sigmoid_table"], np.uint16), f"sig{i}_{node.name}", "uint16_t",
                  "sigmoid(k / 24) in Q0.16: the int16 sigmoid / tanh interpolation table")
    p = e.param("edgec_gru_params", base, dict(
        batch=ish[0], steps=ish[1], in_features=ish[2], hidden=hid, return_sequences=int(bool(a.get("return_sequences"))),
        in_zp=a["in_zp"], h_zp=a["h_zp"], q15_multiplier=a["q15_multiplier"], q15_shift=a["q15_shift"],
        in15_multiplier=a["in15_multiplier"], in15_shift=a["in15_shift"], out_multiplier=a["out_multiplier"],
        out_shift=a["out_shift"], **_reverse(a)))
    return e.call("edgec_gru_s8", f"&{p}", e.ptr(x), wp, rp, bx, bh, m, s, tab, e.ptr(node.outputs[0]),
                  e.scratch(node.name, "(void *)"))
