"""Softmax and LogSoftmax over the last axis.

Kernels: runtime_c/edgec_softmax_s8.c (edgec_softmax_s8, TFLite Micro's edgec_softmax_tflm_s8 for
imported .tflite models, edgec_log_softmax_s8).  Softmax's output quantization is fixed (1/256, -128);
LogSoftmax's arithmetic is compiler/log_softmax.py's."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from .. import gemmlowp
from .. import log_softmax
from .base import OpDef, same_shape


def softmax_f32(node, x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_s8(node, x):
    """exp(s*(x - max)) from a compile-time table of round(2^K * exp(-s*d)), d = 0..255, then
    out = -128 + round_half_up(e * 256 / sum) clamped to 127: output scale 1/256, zero point -128.
    Mode "tflm" (imported .tflite models): TFLite Micro's arithmetic instead, see softmax_tflm_s8."""
    if node.attrs.get("mode") == "tflm":
        return softmax_tflm_s8(node, x)
    table = np.asarray(node.attrs["exp_table"], dtype=np.int64)
    xi = x.astype(np.int64)
    d = xi.max(axis=-1, keepdims=True) - xi
    e = table[d]
    s = e.sum(axis=-1, keepdims=True)
    out = (e * 256 + s // 2) // s - 128
    return np.minimum(out, 127).astype(np.int8)


def softmax_tflm_s8(node, x):
    """TFLite Micro's int8 softmax (reference_ops::Softmax, gemmlowp fixed point): exp_table[d] is
    exp(-d * s * beta) in Q0.31 as TFLM computes it (0 below diff_min); the row sum of the exps
    rescaled to Q12.19, its reciprocal by Newton-Raphson, and out = RDBP(SRDHM(recip, e), bits) - 128."""
    table = np.asarray(node.attrs["exp_table"], dtype=np.int64)
    xi = x.astype(np.int64)
    e = table[xi.max(axis=-1, keepdims=True) - xi]
    total = fp.rounding_divide_by_pot(e, 12).sum(axis=-1, keepdims=True)
    recip, bits_over_unit = gemmlowp.get_reciprocal(total, gemmlowp.ACCUMULATION_INTEGER_BITS)
    out = fp.rounding_divide_by_pot(fp.saturating_rounding_doubling_high_mul(recip, e), bits_over_unit + 23) - 128
    return np.clip(out, -128, 127).astype(np.int8)


def emit_softmax(e, s):
    g, node, a, ish = s.graph, s.node, s.node.attrs, s.ish
    rows = g.tensors[node.inputs[0]].size // ish[-1]
    if a.get("mode") == "tflm":          # imported .tflite: TFLite Micro's arithmetic
        t = e.array(np.asarray(a["exp_table"], np.int32), f"exp{s.index}_{node.name}", "int32_t",
                    "exp(-s*beta*d) in Q0.31, as TFLite's gemmlowp exp_on_negative_values")
        return e.call("edgec_softmax_tflm_s8", t, rows, ish[-1], s.ins[0], s.out)
    t = e.array(np.asarray(a["exp_table"], np.int32), f"exp{s.index}_{node.name}", "int32_t",
                f"round(2^{a['exp_bits']} * exp(-s*d))")
    return e.call("edgec_softmax_s8", t, rows, ish[-1], s.ins[0], s.out)


def quantize_log_softmax(q, node):
    given = q.given_acts.get(node.outputs[0])
    if given is not None and (float(given[0]), int(given[1])) != (log_softmax.OUT_SCALE, log_softmax.OUT_ZERO_POINT):
        q.requant_after.add(node.name)        # a QDQ model's own output scale, after the kernel's
    q.set_act(node.outputs[0], log_softmax.OUT_SCALE, log_softmax.OUT_ZERO_POINT)
    node.attrs.update(log_softmax.tables(q.qof(node.inputs[0]).scalar_scale, q.g.tensors[node.inputs[0]].shape[-1]))


def emit_log_softmax(e, s):
    node, a = s.node, s.node.attrs
    tabs = [e.array(np.asarray(a[k], np.int32), f"{k[:3]}{s.index}_{node.name}", "int32_t", what) for k, what in
            (("exp_table", f"round(2^{a['exp_bits']} * exp(-s*d))"), ("d_table", "s*d in output steps, Q16"),
             ("log_table", "ln(1 + (j + 1/2) / 256) in output steps, Q16"))]
    cols = s.ish[-1]
    return e.call("edgec_log_softmax_s8", *tabs, a["exp_bits"], a["ln2_q"], s.graph.tensors[node.inputs[0]].size // cols, cols,
                  s.ins[0], s.out)


def _out_size(graph, node):
    return graph.tensors[node.outputs[0]].size


DEFS = [
    OpDef("Softmax", "x over the last axis; attrs mode \"tflm\" (imported .tflite): TFLite Micro's integer arithmetic",
          same_shape, float_ref=softmax_f32, int8_ref=softmax_s8, quantize=lambda q, node: q.softmax(node),
          emit=emit_softmax, kernel_file="edgec_softmax_s8.c", macs=_out_size),
    OpDef("LogSoftmax", "x over the last axis (compiler/log_softmax.py)", same_shape,
          float_ref=log_softmax.log_softmax_f32, int8_ref=log_softmax.log_softmax_s8, quantize=quantize_log_softmax,
          emit=emit_log_softmax, kernel_file="edgec_softmax_s8.c", macs=_out_size),
]
