"""TopK with a small constant k along the last axis (ONNX TopK, torch.topk): two single-output ops, so
an exporter's two outputs need no multi-output plumbing and an unused one is dropped as dead code.
TopKValues: the k largest (largest=0: smallest) values, in order, on the input's own quantization (a
selection moves no values: exact); TopKIndices: their indices as an int8 index tensor of scale 1, zero
point 0, as ArgMax's (compiler/ops/argmax.py), so the axis holds at most 128 entries.  Ties go to the
lower index first, as ONNX specifies; quantization is monotonic, so the order is the float order
wherever the int8 values do not tie.

Kernel: runtime_c/edgec_topk_s8.c (twin: topk_s8 below), one for both (`indices`)."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .base import OpDef

MAX_COUNT = 128


def check(op, attrs, shapes, consts):
    s, k = shapes[0], attrs["k"]
    if s[-1] > MAX_COUNT:
        raise UnsupportedOpError(f"{op} over {s[-1]} entries: edgec's TopK takes at most {MAX_COUNT}")
    if not 1 <= k <= s[-1]:
        raise UnsupportedOpError(f"{op} with k={k} of {s[-1]} entries")


def shape(node, s):
    return [tuple(s[0][:-1]) + (node.attrs["k"],)]


def _order(node, x):
    v = np.asarray(x)
    v = v.astype(np.float64) if v.dtype.kind == "f" else v.astype(np.int64)
    return np.argsort(-v if node.attrs.get("largest", True) else v, axis=-1, kind="stable")[..., :node.attrs["k"]]


def topk_f32(node, x):
    idx = _order(node, x)
    return (idx if node.op == "TopKIndices" else np.take_along_axis(np.asarray(x), idx, axis=-1)).astype(np.float32)


def topk_s8(node, x):
    idx = _order(node, x)
    return (idx if node.op == "TopKIndices" else np.take_along_axis(np.asarray(x), idx, axis=-1)).astype(np.int8)


def quantize(q, node):
    if node.op == "TopKIndices":
        q.set_act(node.outputs[0], 1.0, 0)
    else:
        q.same_as_input(node)


def emit(e, s):
    a = s.node.attrs
    count = s.ish[-1]
    p = e.param("edgec_topk_params", s.base, dict(rows=int(np.prod(s.ish[:-1])), count=count, k=a["k"],
                                                   largest=int(bool(a.get("largest", True))),
                                                   indices=int(s.node.op == "TopKIndices")))
    return e.call("edgec_topk_s8", f"&{p}", s.ins[0], s.out)


DOC = "x; attrs k, largest (the last axis; ties: lower index first)"
DEFS = [OpDef(name, DOC + what, shape, check=check, float_ref=topk_f32, int8_ref=topk_s8, quantize=quantize,
              emit=emit, kernel_file="edgec_topk_s8.c", macs=lambda graph, node: graph.tensors[node.inputs[0]].size)
        for name, what in (("TopKValues", ": the values, on x's quantization"),
                           ("TopKIndices", ": the indices, int8 scale 1"))]
