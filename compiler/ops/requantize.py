"""Requantize: int8 <-> int16 (integer graphs only), inserted by quantize where a tensor's precision
differs from its reader's, and a .tflite's QUANTIZE.  Kernels: runtime_c/edgec_requantize_s16.c
(edgec_requantize_s8_s16, _s16_s8, _s16_s16)."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from .base import OpDef, same_shape


def requantize(node, x):
    """out = clamp(out_zp + mbqm(x - in_zp, multiplier, shift)) to the output dtype's range (attr out_dtype)."""
    a = node.attrs
    v = fp.multiply_by_quantized_multiplier(x.astype(np.int64) - a["in_zp"], a["multiplier"], a["shift"]) + a["out_zp"]
    info = np.iinfo(a["out_dtype"])
    return np.clip(v, info.min, info.max).astype(a["out_dtype"])


def emit(e, s):
    g, node, a = s.graph, s.node, s.node.attrs
    p = e.param("edgec_requantize_params", s.base, dict(n=g.tensors[node.outputs[0]].size, in_zp=a["in_zp"],
                                                         out_zp=a["out_zp"], multiplier=a["multiplier"], shift=a["shift"]))
    pair = "s8_s16" if a["out_dtype"] == "int16" else "s16_s8"
    if a["out_dtype"] == "int16" and g.tensors[node.inputs[0]].dtype == "int16":
        pair = "s16_s16"                                   # a .tflite's int16 -> int16 QUANTIZE
    return e.call(f"edgec_requantize_{pair}", f"&{p}", s.ins[0], s.out)


DEFS = [OpDef("Requantize", "x; attrs in_zp, out_zp, multiplier, shift, out_dtype (integer graphs only: int8 <-> int16, "
                            "inserted by quantize where a tensor's precision differs from its reader's)", same_shape,
              int8_ref=requantize, int16_ref=requantize, emit=emit, kernel_file16="edgec_requantize_s16.c",
              macs=lambda graph, node: graph.tensors[node.outputs[0]].size)]
