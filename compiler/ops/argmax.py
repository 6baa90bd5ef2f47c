"""ArgMax and ArgMin: the index of the largest (smallest) value along one axis (ONNX ArgMax / ArgMin with
keepdims and select_last_index, torch.argmax, Keras ops.argmax, TFLite ARG_MAX / ARG_MIN).

A classifier's last op.  Quantization is monotonic (q = round(x / s) + zp, s > 0), so the index of the
largest int8 value is the float argmax's, except where two logits that differed in float round to the
same int8 value: then the tie rule decides (the first index, or the last with select_last_index), as
in the integer reference.  That is the contract: the C equals the integer reference bit for bit, and
the float index agrees wherever the int8 logits do not tie.

Output: the index as an int8 tensor of scale 1 and zero point 0, so `real = q` is the index itself and
the C API stays `run(const int8_t *input, int8_t *output)`; the axis may therefore hold at most 128
entries (indices 0..127).  A longer axis is refused by name at import.

Kernel: runtime_c/edgec_argmax_s8.c (twin: arg_s8 below), one for both ops (`select_min`)."""
from __future__ import annotations

import numpy as np

from .common import around_axis, check_axis
from .base import OpDef

MAX_COUNT = 128          # int8 output: indices 0..127



def check(op, attrs, shapes, consts):
    check_axis(op, shapes[0], attrs["axis"], MAX_COUNT, "its int8 index output",
               hint=f"take the {op} of at most {MAX_COUNT} values (e.g. of logits of at most {MAX_COUNT} classes) "
                    "or end the model before it and take it on the host")


def shape(node, s):
    axis = node.attrs["axis"]
    if node.attrs.get("keep", True):
        return [tuple(1 if i == axis else d for i, d in enumerate(s[0]))]
    return [tuple(d for i, d in enumerate(s[0]) if i != axis)]


def _arg(node, x):
    a = node.attrs
    outer, count, inner = around_axis(x.shape, a["axis"])
    v = np.asarray(x).reshape(outer, count, inner)
    if node.op == "ArgMin":
        v = -v.astype(np.float64) if v.dtype.kind == "f" else -v.astype(np.int64)
    if a.get("select_last"):
        idx = count - 1 - np.argmax(v[:, ::-1, :], axis=1)
    else:
        idx = np.argmax(v, axis=1)
    return idx.reshape(shape(node, [x.shape])[0])


def arg_f32(node, x):
    """The index, as float (the float graph's tensors are float): onnxruntime's ArgMax, cast."""
    return _arg(node, x).astype(np.float32)


def arg_s8(node, x):
    """The index of the largest (smallest) int8 value; ties go to the first (select_last: the last)."""
    return _arg(node, x).astype(np.int8)


def quantize(q, node):
    """The output is the index itself: scale 1, zero point 0.  Nothing else to compute."""
    q.set_act(node.outputs[0], 1.0, 0)


def emit(e, s):
    a = s.node.attrs
    outer, count, inner = around_axis(s.ish, a["axis"])
    p = e.param("edgec_argmax_params", s.base, dict(outer=outer, count=count, inner=inner,
                                                     select_min=int(s.node.op == "ArgMin"),
                                                     select_last=int(bool(a.get("select_last")))))
    return e.call("edgec_argmax_s8", f"&{p}", s.ins[0], s.out)


def _macs(graph, node):
    return graph.tensors[node.inputs[0]].size


DOC = "x; attrs axis (IR axis), keep (keepdims), select_last (ties: the last index); int8 index output, scale 1"
DEFS = [OpDef(name, DOC, shape, check=check, float_ref=arg_f32, int8_ref=arg_s8, quantize=quantize, emit=emit,
              kernel_file="edgec_argmax_s8.c", macs=_macs)
        for name in ("ArgMax", "ArgMin")]
