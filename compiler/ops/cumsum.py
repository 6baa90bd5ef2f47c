"""CumSum: the running sum along one axis (ONNX CumSum with exclusive / reverse, torch.cumsum, Keras
ops.cumsum), e.g. over the time axis of a sequence model.

Integer arithmetic: the int8 values less their zero point are accumulated in int32 (exact: at most
255 * count, count <= 2^23), and each running sum is requantized once to the output's calibrated
scale, y = clamp(out_zp + mbqm(acc, m, shift)) with m * 2^shift = s_in / s_out, the one rounding rule.
exclusive: the sum before the element (0 for the first); reverse: the sums run from the end.

Kernel: runtime_c/edgec_cumsum_s8.c (twin: cumsum_s8 below)."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from .common import around_axis, check_axis
from .base import OpDef, same_shape

MAX_COUNT = 1 << 23



def check(op, attrs, shapes, consts):
    check_axis(op, shapes[0], attrs["axis"], MAX_COUNT, "the int32 running sum")


def _running(node, v):
    """Running sums of v ([outer, count, inner]) along axis 1, as the attributes say."""
    a = node.attrs
    if a.get("reverse"):
        v = v[:, ::-1]
    c = np.cumsum(v, axis=1)
    if a.get("exclusive"):
        c = np.concatenate([np.zeros_like(c[:, :1]), c[:, :-1]], axis=1)
    return c[:, ::-1] if a.get("reverse") else c


def cumsum_f32(node, x):
    outer, count, inner = around_axis(x.shape, node.attrs["axis"])
    return _running(node, np.asarray(x, np.float64).reshape(outer, count, inner)).reshape(x.shape)


def cumsum_s8(node, x):
    a = node.attrs
    outer, count, inner = around_axis(x.shape, a["axis"])
    acc = _running(node, np.asarray(x, np.int64).reshape(outer, count, inner) - a["in_zp"])
    y = fp.multiply_by_quantized_multiplier(acc, a["multiplier"], a["shift"]) + a["out_zp"]
    return np.clip(y, -128, 127).astype(np.int8).reshape(x.shape)


def quantize(q, node):
    q.calibrated(node.outputs[0])
    qi, qo = q.qof(node.inputs[0]), q.qof(node.outputs[0])
    m, s = fp.quantize_multiplier(qi.scalar_scale / qo.scalar_scale)
    node.attrs.update(in_zp=qi.scalar_zp, out_zp=qo.scalar_zp, multiplier=m, shift=s)


def emit(e, s):
    a = s.node.attrs
    outer, count, inner = around_axis(s.ish, a["axis"])
    p = e.param("edgec_cumsum_params", s.base, dict(outer=outer, count=count, inner=inner,
                                                     exclusive=int(bool(a.get("exclusive"))),
                                                     reverse=int(bool(a.get("reverse"))), in_zp=a["in_zp"],
                                                     out_zp=a["out_zp"], multiplier=a["multiplier"], shift=a["shift"]))
    return e.call("edgec_cumsum_s8", f"&{p}", s.ins[0], s.out)


DEFS = [OpDef("CumSum", "x; attrs axis (IR axis), exclusive, reverse", same_shape, check=check,
              float_ref=cumsum_f32, int8_ref=cumsum_s8, quantize=quantize, emit=emit, kernel_file="edgec_cumsum_s8.c",
              macs=lambda graph, node: graph.tensors[node.outputs[0]].size)]
