"""Mean over adjacent axes (TFLite's int8 MEAN); the arithmetic is compiler/mean.py's.
Kernel: runtime_c/edgec_mean_s8.c."""
from __future__ import annotations

from .. import mean
from ..fixedpoint import quantize_multiplier
from .base import OpDef


def quantize(q, node):
    """The output calibrated, 1/count folded into s_in/s_out."""
    out = node.outputs[0]
    q.calibrated(out)
    qi, qo = q.qof(node.inputs[0]), q.qof(out)
    count = mean.split(q.g.tensors[node.inputs[0]].shape, node.attrs["axes"])[1]
    m, s = mean.mean_params(*quantize_multiplier(qi.scalar_scale / qo.scalar_scale), count)
    node.attrs.update(in_zp=qi.scalar_zp, out_zp=qo.scalar_zp, multiplier=m, shift=s)


def emit(e, s):
    a = s.node.attrs
    outer, count, inner = mean.split(s.ish, a["axes"])
    p = e.param("edgec_mean_params", s.base, dict(outer=outer, count=count, inner=inner, in_zp=a["in_zp"],
                                                   out_zp=a["out_zp"], multiplier=a["multiplier"], shift=a["shift"]))
    return e.call("edgec_mean_s8", f"&{p}", s.ins[0], s.out)


DEFS = [OpDef("Mean", "x; attrs axes (adjacent), keep (keep_dims) (compiler/mean.py)", mean.out_shape,
              float_ref=mean.mean_f32, int8_ref=mean.mean_s8, quantize=quantize, emit=emit,
              kernel_file="edgec_mean_s8.c")]
