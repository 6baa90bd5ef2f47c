"""LogSoftmax over the last axis: the op family's tables, float reference and integer twin.

PyTorch classifiers end in log_softmax as often as in softmax (NLLLoss training), and the log of an
int8 softmax is useless (every probability under 1/256 is log 0), so the integer kernel computes the
log directly, as TFLite's int8 LOG_SOFTMAX does, with TFLite's output quantization: scale 16/256, zero
point 127 (real 0 at 127, the scale covering log-probabilities down to -16).

For a row of int8 inputs x (scale s) and d = max(x) - x, in integers only:
    sum = sum of exp_table[d]          exp_table[d] = round(2^K * exp(-s d)), K as Softmax's (sum < 2^31)
    e   = floor(log2 sum)              sum >= 2^K: the row's maximum contributes exactly 2^K
    j   = the 8 bits of sum after its leading one
    L   = (e - K) * ln2_q + log_table[j]     ln(sum / 2^K) in units of 2^-P output steps
    out = 127 - ((d_table[d] + L + 2^(P-1)) >> P), clamped to int8
where d_table[d] = round(2^P s d / s_out) (saturated where the output saturates anyway), ln2_q =
round(2^P ln 2 / s_out) and log_table[j] = round(2^P ln(1 + (j + 1/2) / 256) / s_out): the log of the
mantissa to within ln(1 + 1/512) < 0.002, a thirtieth of an output step.
Twin of edgec_log_softmax_s8 (runtime_c/edgec_softmax_s8.c)."""
from __future__ import annotations

import math

import numpy as np

from .fixedpoint import round_half_away

OUT_SCALE = 16.0 / 256.0
OUT_ZERO_POINT = 127
P = 16                                  # fraction bits of the output-step sums


def exp_bits(cols: int) -> int:
    """K: the largest that keeps a row of `cols` terms of at most 2^K under 2^31 (Softmax's rule)."""
    return min(22, 30 - max(1, math.ceil(math.log2(cols))))


def tables(in_scale: float, cols: int) -> dict:
    """The node's integer attributes for an int8 input of scale `in_scale` and rows of `cols`."""
    k = exp_bits(cols)
    d = np.arange(256)
    exp_table = round_half_away((1 << k) * np.exp(-in_scale * d))
    d_table = np.minimum(round_half_away((1 << P) * in_scale * d / OUT_SCALE), 256 << P)
    log_table = round_half_away((1 << P) * np.log1p((np.arange(256) + 0.5) / 256) / OUT_SCALE)
    return {"exp_table": exp_table.astype(np.int32), "exp_bits": k, "d_table": d_table.astype(np.int32),
            "log_table": log_table.astype(np.int32), "ln2_q": int(round_half_away((1 << P) * math.log(2) / OUT_SCALE))}


def log_softmax_f32(node, x):
    m = x.max(axis=-1, keepdims=True)
    return (x - m) - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def log_softmax_s8(node, x):
    a = node.attrs
    xi = x.astype(np.int64)
    d = xi.max(axis=-1, keepdims=True) - xi
    total = np.asarray(a["exp_table"], np.int64)[d].sum(axis=-1, keepdims=True)
    e = np.floor(np.log2(total)).astype(np.int64)            # exact: total < 2^31 is an integer
    e = np.where((1 << (e + 1)) <= total, e + 1, np.where((1 << e) > total, e - 1, e))
    j = ((total << (30 - e)) >> 22) & 255
    big = (e - a["exp_bits"]) * a["ln2_q"] + np.asarray(a["log_table"], np.int64)[j]
    out = OUT_ZERO_POINT - ((np.asarray(a["d_table"], np.int64)[d] + big + (1 << (P - 1))) >> P)
    return np.clip(out, -128, 127).astype(np.int8)
