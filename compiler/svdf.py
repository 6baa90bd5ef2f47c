"""SVDF (TFLite's rank-r "singular value decomposition filter", the keyword spotters' streaming layer) as two
IR ops around a persistent state.

An SVDF keeps, per batch row and filter f, the last M feature values in its state [B, F*M] (filter f's
memory is state[b, f*M:(f+1)*M], oldest first).  Each invocation:
  1. SvdfState(x, weights_feature, state) -> new_state: every memory moves one step left (the oldest
     value drops out) and the newest slot gets the feature  sum_c weights_feature[f, c] * x[b, c];
  2. Svdf(new_state, weights_time, bias) -> y: per filter the dot product with weights_time[f, :], the
     `rank` filters of unit u summed, plus bias[u] (then the fused activation, in float).
The state is a streaming model's persistent state (Graph.state, the mechanism resource variables
use): new_state is copied into it at the end of the run, and reset() puts back the initial zeros.  Two
nodes, not one, so that the state buffer is only ever read by a node (the C copies the new value in
after the last node, as for a resource variable) and the arena holds the new one meanwhile.

int8 (imported .tflite): TFLite Micro's integer arithmetic (EvalIntegerSvdfReference) with its int16
state: the feature is requantized by effective_scale_1 = float32(s_in * s_wf / s_state) to int16
(plus the state's zero point, then saturated), the time products are int16 x int16 summed in int32,
bias int32 added, the sum requantized by effective_scale_2 = float32(s_state * s_wt / s_out) to the
int8 output and clamped to [-128, 127].  TFLite Micro's integer kernel applies no fused activation
(only its float kernel does); edgec does the same so the C is bit-exact with it.
C: runtime_c/edgec_svdf_s8.c (edgec_svdf_state_s16, edgec_svdf_s8).
"""
from __future__ import annotations

import numpy as np

from . import fixedpoint as fp


def state_out_shape(node, shapes):
    return [shapes[2]]


def out_shape(node, shapes):
    b = shapes[0][0]
    filters = shapes[1][0]
    return [(b, filters // int(node.attrs["rank"]))]


def _shifted(state, m):
    """Each filter's memory one step left (the newest slot left for the caller)."""
    s = state.reshape(state.shape[0], -1, m)
    return np.concatenate([s[:, :, 1:], s[:, :, -1:]], axis=2)


def svdf_state_f32(node, x, wf, state):
    m = int(node.attrs["memory"])
    s = _shifted(np.asarray(state, np.float32), m)
    s[:, :, -1] = x.reshape(x.shape[0], -1).astype(np.float32) @ wf.astype(np.float32).T
    return s.reshape(state.shape).astype(np.float32)


def svdf_f32(node, st, wt, bias):
    rank, m = int(node.attrs["rank"]), wt.shape[1]
    s = st.reshape(st.shape[0], -1, m).astype(np.float32)
    per_filter = np.einsum("bfm,fm->bf", s, wt.astype(np.float32))
    y = per_filter.reshape(st.shape[0], -1, rank).sum(axis=2) + bias.astype(np.float32)
    act = node.attrs.get("act")
    return (y if act is None else np.clip(y, *act)).astype(np.float32)


def svdf_state_s16(node, x, wf, state):
    """Twin of edgec_svdf_state_s16: shift, then the int16 feature (TFLM's saturating requantization)."""
    a = node.attrs
    m = int(a["memory"])
    s = _shifted(np.asarray(state, np.int16), m).astype(np.int64)
    dot = (x.reshape(x.shape[0], -1).astype(np.int64) - a["in_zp"]) @ wf.astype(np.int64).T
    feat = fp.multiply_by_quantized_multiplier(fp.wrap32(dot), a["multiplier"], a["shift"]) + a["state_zp"]
    s[:, :, -1] = np.clip(feat, -32768, 32767)
    return s.reshape(state.shape).astype(np.int16)


def svdf_s8(node, st, wt, bias):
    """Twin of edgec_svdf_s8: int32 sums of int16 x int16 (wrapping as the C's do), rank reduction, bias,
    requantization to int8."""
    a = node.attrs
    rank, m = int(a["rank"]), wt.shape[1]
    s = st.reshape(st.shape[0], -1, m).astype(np.int64) - a["state_zp"]
    per_filter = fp.wrap32((s * wt.astype(np.int64)[None]).sum(axis=2))
    acc = fp.wrap32(per_filter.reshape(st.shape[0], -1, rank).sum(axis=2) + bias.astype(np.int64)[None])
    y = fp.multiply_by_quantized_multiplier(acc, a["multiplier"], a["shift"]) + a["out_zp"]
    return np.clip(y, -128, 127).astype(np.int8)
