"""Add, Sub, Mul: element-wise binary ops with numpy broadcasting and a fused activation clamp.

Kernels: runtime_c/edgec_elementwise_s8.c (edgec_add_s8 / edgec_mul_s8; Sub is an Add whose second
multiplier is negative), edgec_elementwise_s16.c (edgec_add_s16, TFLite's 16x8 Add)."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from ..errors import EdgecError
from .base import OpDef
from .common import act_float, broadcast_strides, pad4, requant


def broadcast_shape(node, s):
    try:
        return [tuple(np.broadcast_shapes(*s))]
    except ValueError:
        raise EdgecError(f"shapes {s} do not broadcast", where=f"node {node.name} ({node.op})") from None


def add_s8(node, x, y):
    """TFLite's int8 Add: both inputs scaled to a common 2^-20 grid, summed, rescaled (Sub: b's multiplier < 0)."""
    a = node.attrs
    sx = fp.multiply_by_quantized_multiplier((x.astype(np.int64) - a["a_zp"]) << a["left_shift"], a["a_multiplier"], a["a_shift"])
    sy = fp.multiply_by_quantized_multiplier((y.astype(np.int64) - a["b_zp"]) << a["left_shift"], a["b_multiplier"], a["b_shift"])
    return requant(fp.wrap32(sx + sy), a)


def mul_s8(node, x, y):
    a = node.attrs
    prod = (x.astype(np.int64) - a["a_zp"]) * (y.astype(np.int64) - a["b_zp"])
    return requant(prod, a)


def add_s16(node, x, y):
    """TFLite's int16 Add (general scales): as add_s8 with left_shift 15 and zero points 0."""
    a = node.attrs
    sx = fp.multiply_by_quantized_multiplier(x.astype(np.int64) << a["left_shift"], a["a_multiplier"], a["a_shift"])
    sy = fp.multiply_by_quantized_multiplier(y.astype(np.int64) << a["left_shift"], a["b_multiplier"], a["b_shift"])
    out = fp.multiply_by_quantized_multiplier(fp.wrap32(sx + sy), a["multiplier"], a["shift"])
    return np.clip(out, a["act_min"], a["act_max"]).astype(np.int16)


def add_tables(a: dict) -> tuple:
    """An int8 Add/Sub's operands moved to its common grid, for every int8 value v (index v + 128):
    add_s8's sx and sy, by the same integer arithmetic, so edgec_add_s8 reads per element
    what the twin computes and stays bit-exact by construction (2 KB of flash per node)."""
    v = np.arange(-128, 128, dtype=np.int64)
    return tuple(fp.multiply_by_quantized_multiplier((v - a[f"{k}_zp"]) << a["left_shift"], a[f"{k}_multiplier"],
                                                     a[f"{k}_shift"]).astype(np.int32) for k in "ab")


ADD_KEYS = ("a_zp", "b_zp", "left_shift", "a_multiplier", "a_shift", "b_multiplier", "b_shift",
            "multiplier", "shift", "out_zp", "act_min", "act_max")


def emit(e, s):
    g, node, a = s.graph, s.node, s.node.attrs
    o4 = pad4(s.osh)
    bc = {"shape": o4, "a_stride": broadcast_strides(g.tensors[node.inputs[0]].shape, o4),
          "b_stride": broadcast_strides(g.tensors[node.inputs[1]].shape, o4)}
    if node.op == "Mul":
        p = e.param("edgec_mul_params", s.base, dict(bc=bc, a_zp=a["a_zp"], b_zp=a["b_zp"], multiplier=a["multiplier"],
                                                      shift=a["shift"], out_zp=a["out_zp"], act_min=a["act_min"], act_max=a["act_max"]))
        return e.call("edgec_mul_s8", f"&{p}", s.ins[0], s.ins[1], s.out)
    p = e.param("edgec_add_params", s.base, dict(bc=bc, **{k: a[k] for k in ADD_KEYS}))
    if s.s16:
        return e.call("edgec_add_s16", f"&{p}", s.ins[0], s.ins[1], s.out)
    t = e.array(np.concatenate(add_tables(a)), f"add{s.index}_{node.name}", "int32_t",
                "the operands on the common grid: [v + 128] = mbqm((v - a_zp) << left_shift, a_multiplier, a_shift), "
                "then b's 256 likewise")
    return e.call("edgec_add_s8", f"&{p}", t, s.ins[0], s.ins[1], s.out)


def _out_size(graph, node):
    return graph.tensors[node.outputs[0]].size


_DOC = "a, b (numpy broadcasting); attrs act"
DEFS = [
    OpDef("Add", _DOC, broadcast_shape, arity=(2, 2), float_ref=lambda n, a, b: act_float(a + b, n.attrs.get("act")),
          int8_ref=add_s8, int16_ref=add_s16, quantize=lambda q, node: q.add(node, sign=1),
          quantize16=lambda q, node: q.add16(node), emit=emit, kernel_file="edgec_elementwise_s8.c",
          kernel_file16="edgec_elementwise_s16.c", macs=_out_size),
    OpDef("Sub", _DOC, broadcast_shape, arity=(2, 2), float_ref=lambda n, a, b: act_float(a - b, n.attrs.get("act")),
          int8_ref=add_s8, quantize=lambda q, node: q.add(node, sign=-1), emit=emit,
          kernel_file="edgec_elementwise_s8.c", macs=_out_size),
    OpDef("Mul", _DOC, broadcast_shape, arity=(2, 2), float_ref=lambda n, a, b: act_float(a * b, n.attrs.get("act")),
          int8_ref=mul_s8, quantize=lambda q, node: q.mul(node), emit=emit, kernel_file="edgec_elementwise_s8.c",
          macs=_out_size),
]
