"""PRelu with a constant alpha broadcast from the right (TFLite's int8 PRELU); the arithmetic is
compiler/prelu.py's.  Kernel: runtime_c/edgec_prelu_s8.c."""
from __future__ import annotations

from .. import prelu
from ..fixedpoint import quantize_multiplier
from .base import OpDef


def quantize(q, node):
    """alpha a constant activation, two multipliers."""
    q.const_act(node.inputs[1])
    out = node.outputs[0]
    q.calibrated(out)
    qi, qa, qo = q.qof(node.inputs[0]), q.qof(node.inputs[1]), q.qof(out)
    m1, s1 = quantize_multiplier(qi.scalar_scale / qo.scalar_scale)
    m2, s2 = quantize_multiplier(qi.scalar_scale * qa.scalar_scale / qo.scalar_scale)
    node.attrs.update(in_zp=qi.scalar_zp, alpha_zp=qa.scalar_zp, out_zp=qo.scalar_zp, m1=m1, s1=s1, m2=m2, s2=s2)


def emit(e, s):
    g, node, a = s.graph, s.node, s.node.attrs
    p = e.param("edgec_prelu_params", s.base, dict(
        n=g.tensors[node.outputs[0]].size, period=prelu.period(g.tensors[node.inputs[1]].shape), in_zp=a["in_zp"],
        alpha_zp=a["alpha_zp"], out_zp=a["out_zp"], m1=a["m1"], s1=a["s1"], m2=a["m2"], s2=a["s2"]))
    return e.call("edgec_prelu_s8", f"&{p}", s.ins[0], s.ins[1], s.out)


DEFS = [OpDef("PRelu", "x, alpha (constant, broadcast from the right) (compiler/prelu.py)", prelu.out_shape,
              arity=(2, 2), float_ref=prelu.prelu_f32, int8_ref=prelu.prelu_s8, quantize=quantize, emit=emit,
              kernel_file="edgec_prelu_s8.c")]
