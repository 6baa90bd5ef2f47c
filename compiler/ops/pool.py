"""MaxPool2D and AvgPool2D (padding excluded from the average's count), with a fused activation clamp.

Kernels: runtime_c/edgec_pool_s8.c and edgec_pool_s16.c (the output has the input's type and
quantization); both run over row bands in patch-based stages."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from ..errors import ModelFormatError
from .base import OpDef
from .checks import check_padded, ints, rank
from .common import act_float, conv_out, pool_counts, pool_windows


def check(op, attrs, shapes, consts):
    rank(op, shapes, 0, 4, "NHWC input")
    k = ints(attrs["kernel"], 2, "kernel", 1)
    ints(attrs["strides"], 2, "strides", 1)
    t, l, b, r = ints(attrs["pads"], 4, "pads", 0)
    if max(t, b) >= k[0] or max(l, r) >= k[1]:
        raise ModelFormatError(f"pads {attrs['pads']} of a {k[0]}x{k[1]} pooling window: padding must be "
                               "smaller than the window")
    check_padded(shapes[0], attrs["pads"])


def shape(node, s):
    n, h, w, c = s[0]
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"]
    return [(n, conv_out(h, kh, sh, 1, pt, pb), conv_out(w, kw, sw, 1, pl, pr), c)]


def maxpool_f32(node, x):
    return act_float(pool_windows(x, node, -np.inf).max(axis=(3, 4)), node.attrs.get("act"))


def avgpool_f32(node, x):
    s = pool_windows(x.astype(np.float64), node, 0.0).sum(axis=(3, 4))
    return act_float(s / pool_counts(x.shape, node), node.attrs.get("act"))


def maxpool_s8(node, x):
    """Twin of edgec_maxpool_s8 and edgec_maxpool_s16: the output has the input's type."""
    a = node.attrs
    m = pool_windows(x.astype(np.int64), node, -(1 << 20)).max(axis=(3, 4))
    return np.clip(m, a["act_min"], a["act_max"]).astype(x.dtype)


def avgpool_s8(node, x):
    """Twin of edgec_avgpool_s8 and edgec_avgpool_s16: the output has the input's type."""
    a = node.attrs
    s = pool_windows(x.astype(np.int64), node, 0).sum(axis=(3, 4))
    avg = fp.divide_round_half_away(s, pool_counts(x.shape, node))
    return np.clip(avg, a["act_min"], a["act_max"]).astype(x.dtype)


def emit(e, s):
    a, ish, osh = s.node.attrs, s.ish, s.osh
    p = e.param("edgec_pool_params", s.base, dict(
        batch=ish[0], in_h=ish[1], in_w=ish[2], c=ish[3], out_h=osh[1], out_w=osh[2], k_h=a["kernel"][0], k_w=a["kernel"][1],
        stride_h=a["strides"][0], stride_w=a["strides"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
        act_min=a["act_min"], act_max=a["act_max"]))
    fn = ("edgec_maxpool_" if s.node.op == "MaxPool2D" else "edgec_avgpool_") + ("s16" if s.s16 else "s8")
    return e.call(fn, f"&{p}", s.ins[0], s.r_in, s.out, s.r0, s.rn)


def macs(graph, node):
    return graph.tensors[node.outputs[0]].size * node.attrs["kernel"][0] * node.attrs["kernel"][1]


def window(graph, node):
    a = node.attrs
    return a["kernel"][0], a["strides"][0], 1, a["pads"][0]


_COMMON = dict(check=check, quantize=lambda q, node: q.pool(node), quantize16=lambda q, node: q.pool16(node), emit=emit,
               kernel_file="edgec_pool_s8.c", kernel_file16="edgec_pool_s16.c", macs=macs, window=window)
DEFS = [
    OpDef("MaxPool2D", "x; attrs kernel, strides, pads", shape, float_ref=maxpool_f32, int8_ref=maxpool_s8,
          int16_ref=maxpool_s8, **_COMMON),
    OpDef("AvgPool2D", "x; attrs kernel, strides, pads (padding excluded from the count)", shape, float_ref=avgpool_f32,
          int8_ref=avgpool_s8, int16_ref=avgpool_s8, **_COMMON),
]
