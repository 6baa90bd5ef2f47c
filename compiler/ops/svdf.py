"""SvdfState and Svdf: TFLite's SVDF split in two (compiler/svdf.py): the state shifted with the newest
feature (int16 state), then the time products, rank sum and bias.  Integer graphs come from .tflite
files only: the quantize rule takes the file's integers and derives TFLite Micro's multipliers.
Kernel: runtime_c/edgec_svdf_s8.c (edgec_svdf_state_s16, edgec_svdf_s8)."""
from __future__ import annotations

import numpy as np

from .. import svdf
from ..errors import EdgecError
from ..fixedpoint import quantize_multiplier
from .base import OpDef


def quantize(q, node):
    """TFLite Micro's SVDF Prepare: the multipliers of float32 products of the float32 scales, s_in * s_wf /
    s_state (SvdfState) and s_state * s_wt / s_out (Svdf); weights, bias and the int16 state as the file gives them."""
    if q.g.tensors[node.inputs[1]].dtype not in ("int8", "int16"):
        raise EdgecError(f"{node.op} node {node.name} has float weights: edgec takes SVDF from int8 .tflite files only",
                         where=f"node {node.name}")
    f32 = np.float32
    a, w, b = (q.qof(node.inputs[0]), q.qof(node.inputs[1]),
               q.qof(node.inputs[2] if node.op == "SvdfState" else node.outputs[0]))
    m, s = quantize_multiplier(float(f32(a.scalar_scale) * f32(w.scalar_scale) / f32(b.scalar_scale)))
    if node.op == "SvdfState":
        node.attrs.update(in_zp=a.scalar_zp, state_zp=b.scalar_zp, multiplier=m, shift=s)
    else:
        node.attrs.update(state_zp=a.scalar_zp, out_zp=b.scalar_zp, multiplier=m, shift=s, act=None)


def emit(e, s):
    """SvdfState (shift + int16 feature into the new state) or Svdf (time, rank sum, bias, int8 output)."""
    g, node, a = s.graph, s.node, s.node.attrs
    st = g.tensors[node.inputs[2] if node.op == "SvdfState" else node.inputs[0]].shape
    w = g.tensors[node.inputs[1]]
    filters = w.shape[0]
    memory = st[1] // filters
    fields = dict(batch=st[0], in_features=w.shape[1] if node.op == "SvdfState" else 0, filters=filters,
                  memory=memory, rank=a.get("rank", 1), in_zp=a.get("in_zp", 0), state_zp=a["state_zp"],
                  out_zp=a.get("out_zp", 0), multiplier=a["multiplier"], shift=a["shift"])
    p = e.param("edgec_svdf_params", s.base, fields)
    fn = "edgec_svdf_state_s16" if node.op == "SvdfState" else "edgec_svdf_s8"
    return e.call(fn, f"&{p}", s.ins[0], s.ins[1], s.ins[2], s.out)


DEFS = [
    OpDef("SvdfState", "x [B,I], weights_feature [F,I], state [B,F*M]; attrs memory: the state shifted, newest feature "
                       "last (compiler/svdf.py; int16 state in integer graphs)", svdf.state_out_shape,
          float_ref=svdf.svdf_state_f32, int16_ref=svdf.svdf_state_s16, quantize=quantize, emit=emit, kernel_file16="edgec_svdf_s8.c",
          macs=lambda graph, node: graph.tensors[node.outputs[0]].size // node.attrs["memory"]
          * graph.tensors[node.inputs[1]].shape[1]),     # one dot product of the input per filter and batch row
    OpDef("Svdf", "state [B,F*M], weights_time [F,M], bias [F/rank]; attrs rank, act (compiler/svdf.py)",
          svdf.out_shape, float_ref=svdf.svdf_f32, int8_ref=svdf.svdf_s8, quantize=quantize, emit=emit, kernel_file="edgec_svdf_s8.c",
          macs=lambda graph, node: graph.tensors[node.inputs[0]].size),   # the time products over every memory
]
