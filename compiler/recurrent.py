"""Recurrent layers: the IR op LSTM, its float and integer references, its quantization rule and its scratch.

One op for every importer: a unidirectional LSTM over the whole (fixed) sequence, zero initial state.
Inputs x [N, T, I], weights W [4H, I], recurrent weights R [4H, H], bias [4H]; the gates in the order
i, f, c (the candidate, "g" in PyTorch), o, as TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM and Keras keep them
(ONNX's i, o, f, c is reordered by its importer).  Output: every hidden state [N, T, H]
(return_sequences) or the last one [N, H].

The integer arithmetic is TFLite Micro's integer LSTM (kernels/lstm_eval: int8 activations and weights,
int16 cell state and gates), per step t and unit j:
    gate pre-activation  = sat16(fc16(x_t, W) + fc16(h_{t-1}, R))  in Q3.12 (scale 2^-12), where
                           fc16(v, M)[r] = sat16(mbqm(sum_k (v_k - zp_v) M[r,k] + b[r], m[r], s[r]))
                           (the bias only on the input side; per-row multipliers here, per gate in TFLite)
    i, f, o = sigmoid16(pre), g = tanh16(pre)                       in Q0.15 (scale 2^-15)
    c = sat16(mbqm(f * c, 2^-15 * s_c / s_c)) ; c = sat16(c + mbqm(i * g, 2^-30 / s_c)) [; clip]
    h = clamp8(mbqm(tanh16_c(c) * o, 2^-30 / s_h) + zp_h)
with the cell scale s_c a power of two 2^p.  sigmoid16 / tanh16 are TFLite's int16 Logistic / Tanh:
the input times 3 (tanh of the cell: rescaled by 3 * 2^(p + 12)) indexes a 256-entry table of
sigmoid(k / 24) in Q0.16 with linear interpolation on the remaining 9 (sigmoid) or 8 (tanh) bits.
The table is a compile-time attr (`sigmoid_table`), so the C kernel (runtime_c/edgec_lstm_s8.c) and
the twin here read the same numbers.

Calibration needs the ranges of every hidden state and every cell state, which the op's output alone
does not show: the float node carries two more outputs, the hidden and the cell states of every step
([N, T, H] each), that only calibration reads; quantize drops them.
"""
from __future__ import annotations

import math

import numpy as np

from . import fixedpoint as fp

GATE_SCALE_POWER = -12          # gate pre-activations in Q3.12
GATE_OUT_POWER = -15            # gate activations in Q0.15


def sigmoid_table() -> np.ndarray:
    """sigmoid(k / 24) in Q0.16 for k = 0..255, as TFLite's int16 Logistic / Tanh interpolate it.
    Linear interpolation between samples of the concave sigmoid falls short of it mid-segment by
    d_k = s((k + 1/2) / 24) - (s(k / 24) + s((k + 1) / 24)) / 2; each sample is raised by d_k / 2 (the
    error then splits evenly above and below), rounded half away from zero.  The last entry is 65535:
    the interpolation ends on the saturated value that the kernels give past the table."""
    k = np.arange(256, dtype=np.float64)
    s = lambda v: 65536.0 / (1.0 + np.exp(-v / 24.0))
    d = s(k + 0.5) - (s(k) + s(k + 1.0)) / 2
    t = np.minimum(fp.round_half_away(s(k) + d / 2), 65535)
    t[-1] = 65535
    return t.astype(np.uint16)


# ---------------------------------------------------------------------------------------------
# float reference


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def lstm_f32(node, x, w, r, b):
    """Float LSTM; returns y, or (y, every hidden state, every cell state) when the node has the two
    calibration outputs."""
    x = _in_time_order(node, np.asarray(x, np.float64))
    n, t_len, _ = x.shape
    hid = r.shape[1]
    w, r, b = (np.asarray(v, np.float64) for v in (w, r, b))
    clip = float(node.attrs.get("cell_clip") or 0.0)
    h = np.zeros((n, hid))
    c = np.zeros((n, hid))
    hs, cs = np.zeros((n, t_len, hid)), np.zeros((n, t_len, hid))
    xw = x @ w.T + b
    for t in range(t_len):
        z = xw[:, t] + h @ r.T
        i, f, g, o = _sig(z[:, :hid]), _sig(z[:, hid:2 * hid]), np.tanh(z[:, 2 * hid:3 * hid]), _sig(z[:, 3 * hid:])
        c = f * c + i * g
        if clip > 0:
            c = np.clip(c, -clip, clip)
        h = o * np.tanh(c)
        hs[:, t], cs[:, t] = h, c
    y = _in_time_order(node, hs) if node.attrs.get("return_sequences") else hs[:, -1]
    return (y, hs, cs) if len(node.outputs) == 3 else y


def _in_time_order(node, seq):
    """The sequence [N, T, ...] in the order the op walks it (attr `reverse`: from the last step to the first,
    a backward direction), and back: every step's output stays at its input step's place, the last output
    is the state after the last step walked (ONNX's reverse direction, Keras' backward layer in
    Bidirectional)."""
    return seq[:, ::-1] if node.attrs.get("reverse") else seq


def lstm_shapes(node, s):
    n, t, _ = s[0]
    hid = s[2][1]
    y = (n, t, hid) if node.attrs.get("return_sequences") else (n, hid)
    return [y, (n, t, hid), (n, t, hid)][:len(node.outputs) or 3]     # importers emit it before naming outputs


# ---------------------------------------------------------------------------------------------
# integer reference (twin of runtime_c/edgec_lstm_s8.c)


def sigmoid16(v, table):
    """TFLite's int16 Logistic for a Q3.12 input (power-of-two case): Q0.15 out."""
    x = np.asarray(v, np.int64) * 3
    a = np.abs(x)
    uh = a >> 9
    idx = np.minimum(uh, 254)
    ua, ub = table[idx], table[idx + 1]
    res = np.where(uh >= 255, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    res = np.where(x >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1)
    return (res >> 10).astype(np.int64)


def tanh_params(power: int) -> tuple:
    """(input multiplier, right shift) of TFLite's int16 Tanh for an input of scale 2^power: the input is
    rescaled to Q3.12 times 3 ((v * mult + round) >> shift)."""
    left = 15 + power - 3
    if left >= 0:
        return 3 << left, 0
    return 3, -left


def tanh16(v, table, mult, shift):
    """TFLite's int16 Tanh: Q0.15 out (interpolating sigmoid(2x) on 8 bits)."""
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    x = (np.asarray(v, np.int64) * mult + rnd) >> shift
    a = np.abs(x)
    uh = a >> 8
    idx = np.minimum(uh, 254)
    ua, ub = table[idx], table[idx + 1]
    res = np.where(uh >= 255, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    res = np.where(x >= 0, res - (1 << 23) + (1 << 7), -res + (1 << 23) + (1 << 7) - 1)
    return res >> 8


def _sat16(v):
    return np.clip(v, -32768, 32767)


def lstm_s8(node, x, w, r, bias):
    a = node.attrs
    table = np.asarray(a["sigmoid_table"], np.int64)
    x = _in_time_order(node, x)
    n, t_len, _ = x.shape
    hid = r.shape[1]
    wf, rf = w.astype(np.float64), r.astype(np.float64)
    xm = (x.astype(np.float64) - a["in_zp"]) @ wf.T                      # [N, T, 4H], exact in float64
    xacc = np.rint(xm).astype(np.int64) + bias.astype(np.int64)
    gx = _sat16(fp.multiply_by_quantized_multiplier(fp.wrap32(xacc), a["x_multiplier"], a["x_shift"]))
    tm, ts = tanh_params(a["cell_power"])
    ys = np.zeros((n, t_len, hid), np.int8)
    for b in range(n):
        h = np.full(hid, a["h_zp"], np.int64)
        c = np.zeros(hid, np.int64)
        for t in range(t_len):
            hacc = np.rint((h.astype(np.float64) - a["h_zp"]) @ rf.T).astype(np.int64)
            gh = _sat16(fp.multiply_by_quantized_multiplier(fp.wrap32(hacc), a["h_multiplier"], a["h_shift"]))
            pre = _sat16(gx[b, t] + gh)
            i = sigmoid16(pre[:hid], table)
            f = sigmoid16(pre[hid:2 * hid], table)
            g = tanh16(pre[2 * hid:3 * hid], table, *tanh_params(GATE_SCALE_POWER))
            o = sigmoid16(pre[3 * hid:], table)
            c = _sat16(fp.multiply_by_quantized_multiplier(f * c, a["fc_multiplier"], a["fc_shift"]))
            ig = _sat16(fp.multiply_by_quantized_multiplier(i * g, a["ig_multiplier"], a["ig_shift"]))
            c = _sat16(c + ig)
            if a["cell_clip"] > 0:
                c = np.clip(c, -a["cell_clip"], a["cell_clip"])
            tc = tanh16(c, table, tm, ts)
            h = np.clip(fp.multiply_by_quantized_multiplier(tc * o, a["out_multiplier"], a["out_shift"]) + a["h_zp"],
                        -128, 127)
            ys[b, t] = h
    return _in_time_order(node, ys) if a.get("return_sequences") else ys[:, -1]


# ---------------------------------------------------------------------------------------------
# quantization (all float math here, at compile time)


def _rows(reals):
    pairs = [fp.quantize_multiplier(float(v)) for v in np.asarray(reals, np.float64).reshape(-1)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def cell_power(cmax: float) -> int:
    """The cell state's scale 2^p: the smallest p with 32767 * 2^p >= cmax (TFLite's cell state is
    always a power of two), between 2^-15 (Q0.15) and 2^-8 (cell values up to 128)."""
    if cmax <= 0 or not math.isfinite(cmax):
        return -15
    return int(min(max(math.ceil(math.log2(cmax / 32767.0)), -15), -8))


def weight_scales(w) -> np.ndarray:
    """Symmetric int8 scale per row (the weights of one gate unit)."""
    amax = np.abs(np.asarray(w, np.float64)).max(axis=1)
    return np.where(amax > 0, amax / 127.0, 1.0)


def quantize_lstm(q, node):
    """The quantize pass's rule for a float LSTM node (`q` is passes.quantize's _Quantizer).  The hidden
    state takes the calibrated range of every step's hidden state (it is fed back, so one int8 scale for
    all of them and for the output); the cell state the power of two that holds its calibrated range."""
    x, wn, rn, bn = node.inputs
    out, h_all, c_all = node.outputs
    qx = q.qof(x)
    s_x, zp_x = qx.scalar_scale, qx.scalar_zp
    if q.g.tensors[wn].dtype == "int8":   # a .tflite: its own integers, its hidden and cell states' given scales
        qh = q.qof(h_all)
        s_h, zp_h = qh.scalar_scale, qh.scalar_zp
        power = int(round(math.log2(q.qof(c_all).scalar_scale)))
        s_w, s_r = (np.asarray(q.g.tensors[t].quant.scale, np.float64) for t in (wn, rn))
    else:
        q.range_of[h_all] = h_all
        q.calibrated(h_all)
        qh = q.qof(h_all)
        s_h, zp_h = qh.scalar_scale, qh.scalar_zp
        lo, hi = q.ranges[c_all]
        power = cell_power(max(abs(lo), abs(hi)))
        q.set_act(out, s_h, zp_h)
        w = q.src.tensors[wn].data.astype(np.float64)
        r = q.src.tensors[rn].data.astype(np.float64)
        b = q.src.tensors[bn].data.astype(np.float64)
        s_w, s_r = weight_scales(w), weight_scales(r)
        wq = np.clip(fp.round_half_away(w / s_w[:, None]), -127, 127).astype(np.int8)
        rq = np.clip(fp.round_half_away(r / s_r[:, None]), -127, 127).astype(np.int8)
        bq = fp.round_half_away(np.clip(b / (s_x * s_w), -(1 << 31), (1 << 31) - 1)).astype(np.int32)
        q.set_const(wn, wq, "int8", s_w)
        q.set_const(rn, rq, "int8", s_r)
        q.set_const(bn, bq, "int32", s_x * s_w)
    clip = float(node.attrs.get("cell_clip") or 0.0)
    for t in (h_all, c_all):
        q.g.tensors.pop(t, None)
    node.outputs = [out]
    node.attrs.update(integer_attrs(s_x, zp_x, s_h, zp_h, s_w, s_r, power, clip))


def integer_attrs(s_x, zp_x, s_h, zp_h, s_w, s_r, power: int, cell_clip: float) -> dict:
    """The integer LSTM's attrs from its scales, as TFLite Micro prepares them (lstm_eval_common): the
    gate FCs' multipliers s_in * s_w / 2^-12 per row, the cell products' 2^-15 * s_c / s_c and
    2^-30 / s_c, the hidden state's 2^-30 / s_h (products in float64 of the float32 scales)."""
    gate = 2.0 ** GATE_SCALE_POWER
    xm, xs = _rows(float(s_x) * np.asarray(s_w, np.float64) / gate)
    hm, hs = _rows(float(s_h) * np.asarray(s_r, np.float64) / gate)
    s_c, s_o = 2.0 ** power, 2.0 ** GATE_OUT_POWER
    fcm, fcs = fp.quantize_multiplier(s_o * s_c / s_c)
    igm, igs = fp.quantize_multiplier(s_o * s_o / s_c)
    om, os_ = fp.quantize_multiplier(s_o * s_o / float(s_h))
    clip_q = int(min(max(cell_clip / s_c, -32768.0), 32767.0)) if cell_clip > 0 else 0
    return dict(in_zp=int(zp_x), h_zp=int(zp_h), x_multiplier=xm, x_shift=xs, h_multiplier=hm, h_shift=hs,
                cell_power=int(power), fc_multiplier=fcm, fc_shift=fcs, ig_multiplier=igm, ig_shift=igs,
                out_multiplier=om, out_shift=os_, cell_clip=clip_q, sigmoid_table=sigmoid_table())


def scratch_bytes(graph, node) -> int | None:
    """The integer LSTM's / GRU's working state in the arena while it runs: the LSTM's cell state (int16
    [H]) and the hidden state twice (int8 [H], the previous step's read while the new one is written)."""
    if node.op not in ("LSTM", "GRU") or graph.tensors[node.outputs[0]].dtype != "int8":
        return None
    hid = graph.tensors[node.inputs[2]].shape[1]
    return (2 * hid if node.op == "LSTM" else 0) + 2 * (-(-hid // 2) * 2)




# ---------------------------------------------------------------------------------------------
# GRU (ONNX's linear_before_reset=1, PyTorch's and Keras 3's reset_after=True): gates z, r, n.
#   z = sigmoid(Wz x + bz + Rz h + rz), r = sigmoid(Wr x + br + Rr h + rr),
#   n = tanh(Wn x + bn + r * (Rn h + rn)),  h = n + z * (h_prev - n)
# Integer, in the LSTM's style: both sides of every gate in Q3.12 (each with its own int32 bias), z and r
# through sigmoid16 into Q0.15, r * (Rn h + rn) brought back to Q3.12 (x 2^-15), n = tanh16; the previous
# hidden state moved to Q0.15 (mbqm(h - zp_h, s_h / 2^-15)), h = n + mbqm(z * (h_prev - n), 2^-15) in
# Q0.15 (z <= 32767 and |h_prev - n| <= 65535: the product fits int32), then requantized to int8.


def gru_f32(node, x, w, r, bw, br):
    x = _in_time_order(node, np.asarray(x, np.float64))
    n, t_len, _ = x.shape
    hid = r.shape[1]
    w, r, bw, br = (np.asarray(v, np.float64) for v in (w, r, bw, br))
    h = np.zeros((n, hid))
    hs = np.zeros((n, t_len, hid))
    xw = x @ w.T + bw
    for t in range(t_len):
        hr = h @ r.T + br
        z = _sig(xw[:, t, :hid] + hr[:, :hid])
        rr = _sig(xw[:, t, hid:2 * hid] + hr[:, hid:2 * hid])
        nn = np.tanh(xw[:, t, 2 * hid:] + rr * hr[:, 2 * hid:])
        h = nn + z * (h - nn)
        hs[:, t] = h
    y = _in_time_order(node, hs) if node.attrs.get("return_sequences") else hs[:, -1]
    return (y, hs) if len(node.outputs) == 2 else y


def gru_shapes(node, s):
    n, t, _ = s[0]
    hid = s[2][1]
    y = (n, t, hid) if node.attrs.get("return_sequences") else (n, hid)
    return [y, (n, t, hid)][:len(node.outputs) or 2]


def gru_s8(node, x, w, r, bw, br):
    a = node.attrs
    table = np.asarray(a["sigmoid_table"], np.int64)
    x = _in_time_order(node, x)
    n, t_len, _ = x.shape
    hid = r.shape[1]
    xacc = np.rint((x.astype(np.float64) - a["in_zp"]) @ w.astype(np.float64).T).astype(np.int64) + bw.astype(np.int64)
    gx = _sat16(fp.multiply_by_quantized_multiplier(fp.wrap32(xacc), a["x_multiplier"], a["x_shift"]))
    g_tanh = tanh_params(GATE_SCALE_POWER)
    ys = np.zeros((n, t_len, hid), np.int8)
    for b in range(n):
        h = np.full(hid, a["h_zp"], np.int64)
        for t in range(t_len):
            hacc = np.rint((h.astype(np.float64) - a["h_zp"]) @ r.astype(np.float64).T).astype(np.int64) + br.astype(np.int64)
            gh = _sat16(fp.multiply_by_quantized_multiplier(fp.wrap32(hacc), a["h_multiplier"], a["h_shift"]))
            z = sigmoid16(_sat16(gx[b, t, :hid] + gh[:hid]), table)
            rr = sigmoid16(_sat16(gx[b, t, hid:2 * hid] + gh[hid:2 * hid]), table)
            rn = _sat16(fp.multiply_by_quantized_multiplier(rr * gh[2 * hid:], a["q15_multiplier"], a["q15_shift"]))
            nn = tanh16(_sat16(gx[b, t, 2 * hid:] + rn), table, *g_tanh)
            hp = _sat16(fp.multiply_by_quantized_multiplier(h - a["h_zp"], a["in15_multiplier"], a["in15_shift"]))
            hq = _sat16(nn + fp.multiply_by_quantized_multiplier(z * (hp - nn), a["q15_multiplier"], a["q15_shift"]))
            h = np.clip(fp.multiply_by_quantized_multiplier(hq, a["out_multiplier"], a["out_shift"]) + a["h_zp"], -128, 127)
            ys[b, t] = h
    return _in_time_order(node, ys) if a.get("return_sequences") else ys[:, -1]


def quantize_gru(q, node):
    """The quantize pass's rule for a float GRU node, as quantize_lstm's."""
    x, wn, rn, bwn, brn = node.inputs
    out, h_all = node.outputs
    q.range_of[h_all] = h_all
    q.calibrated(h_all)
    qh = q.qof(h_all)
    s_h, zp_h = qh.scalar_scale, qh.scalar_zp
    q.set_act(out, s_h, zp_h)
    qx = q.qof(x)
    s_x, zp_x = qx.scalar_scale, qx.scalar_zp
    w, r = (q.src.tensors[k].data.astype(np.float64) for k in (wn, rn))
    bw, br = (q.src.tensors[k].data.astype(np.float64) for k in (bwn, brn))
    s_w, s_r = weight_scales(w), weight_scales(r)
    for name, v, s, bias, s_b in ((wn, w, s_w, None, None), (rn, r, s_r, None, None),
                                  (bwn, None, None, bw, s_x * s_w), (brn, None, None, br, s_h * s_r)):
        if v is not None:
            vq = np.clip(fp.round_half_away(v / s[:, None]), -127, 127).astype(np.int8)
            q.set_const(name, vq, "int8", s)
        else:
            bq = fp.round_half_away(np.clip(bias / s_b, -(1 << 31), (1 << 31) - 1)).astype(np.int32)
            q.set_const(name, bq, "int32", s_b)
    q.g.tensors.pop(h_all, None)
    node.outputs = [out]
    gate = 2.0 ** GATE_SCALE_POWER
    xm, xs = _rows(float(s_x) * s_w / gate)
    hm, hs = _rows(float(s_h) * s_r / gate)
    s_o = 2.0 ** GATE_OUT_POWER
    q15m, q15s = fp.quantize_multiplier(s_o)
    inm, ins_ = fp.quantize_multiplier(float(s_h) / s_o)
    om, os_ = fp.quantize_multiplier(s_o / float(s_h))
    node.attrs.update(in_zp=int(zp_x), h_zp=int(zp_h), x_multiplier=xm, x_shift=xs, h_multiplier=hm, h_shift=hs,
                      q15_multiplier=q15m, q15_shift=q15s, in15_multiplier=inm, in15_shift=ins_,
                      out_multiplier=om, out_shift=os_, sigmoid_table=sigmoid_table())
