"""MaxPool2D and AvgPool2D (padding excluded from the average's count), with a fused activation clamp.

AvgPool2D's optional `count_pads` (top, left, bottom, right) is padding that the average does count
(ONNX count_include_pad=1, PyTorch's default; a zero Pad folded into the pool): the divisor is the
window's overlap with the input grown by count_pads, each counted tap outside the input reading real 0
(the zero point).  It is a prefix of `pads` (ceil_mode's extra padding stays uncounted, as in PyTorch),
so the window geometry and row bands are those of `pads` alone.

Kernels: runtime_c/edgec_pool_s8.c and edgec_pool_s16.c (the output has the input's type and
quantization); both run over row bands in patch-based stages."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from ..errors import ModelFormatError
from .base import OpDef
from .checks import check_padded, ints, rank
from .common import act_float, conv_out, patches, pool_counts, pool_windows


def check(op, attrs, shapes, consts):
    rank(op, shapes, 0, 4, "NHWC input")
    k = ints(attrs["kernel"], 2, "kernel", 1)
    ints(attrs["strides"], 2, "strides", 1)
    t, l, b, r = ints(attrs["pads"], 4, "pads", 0)
    if max(t, b) >= k[0] or max(l, r) >= k[1]:
        raise ModelFormatError(f"pads {attrs['pads']} of a {k[0]}x{k[1]} pooling window: padding must be "
                               "smaller than the window")
    check_padded(shapes[0], attrs["pads"])
    if attrs.get("count_pads") is not None:
        cp = ints(attrs["count_pads"], 4, "count_pads", 0)
        if any(c > p for c, p in zip(cp, attrs["pads"])):
            raise ModelFormatError(f"count_pads {attrs['count_pads']} exceed the pads {attrs['pads']}")


def shape(node, s):
    n, h, w, c = s[0]
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"]
    return [(n, conv_out(h, kh, sh, 1, pt, pb), conv_out(w, kw, sw, 1, pl, pr), c)]


def maxpool_f32(node, x):
    return act_float(pool_windows(x, node, -np.inf).max(axis=(3, 4)), node.attrs.get("act"))


def counted(node) -> bool:
    return any(node.attrs.get("count_pads") or ())


def divisors(x_shape, node):
    """[1,OH,OW,1] divisor of each window: its taps inside the input grown by count_pads."""
    if not counted(node):
        return pool_counts(x_shape, node)
    ct, cl, cb, cr = node.attrs["count_pads"]
    pt, pl, pb, pr = node.attrs["pads"]
    ones = np.ones((1, x_shape[1] + ct + cb, x_shape[2] + cl + cr, 1), np.int64)
    a = node.attrs
    return patches(ones, a["kernel"], a["strides"], (1, 1), (pt - ct, pl - cl, pb - cb, pr - cr), 0).sum(axis=(3, 4))


def avgpool_f32(node, x):
    s = pool_windows(x.astype(np.float64), node, 0.0).sum(axis=(3, 4))
    return act_float(s / divisors(x.shape, node), node.attrs.get("act"))


def maxpool_s8(node, x):
    """Twin of edgec_maxpool_s8 and edgec_maxpool_s16: the output has the input's type."""
    a = node.attrs
    m = pool_windows(x.astype(np.int64), node, -(1 << 20)).max(axis=(3, 4))
    return np.clip(m, a["act_min"], a["act_max"]).astype(x.dtype)


def avgpool_s8(node, x):
    """Twin of edgec_avgpool_s8 and edgec_avgpool_s16: the output has the input's type."""
    a = node.attrs
    s = pool_windows(x.astype(np.int64), node, 0).sum(axis=(3, 4))
    d = divisors(x.shape, node)
    if counted(node):
        s = s + (d - pool_counts(x.shape, node)) * a["pad_value"]
    avg = fp.divide_round_half_away(s, d)
    return np.clip(avg, a["act_min"], a["act_max"]).astype(x.dtype)


def emit(e, s):
    a, ish, osh = s.node.attrs, s.ish, s.osh
    fields = dict(
        batch=ish[0], in_h=ish[1], in_w=ish[2], c=ish[3], out_h=osh[1], out_w=osh[2], k_h=a["kernel"][0], k_w=a["kernel"][1],
        stride_h=a["strides"][0], stride_w=a["strides"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
        act_min=a["act_min"], act_max=a["act_max"])
    fn = ("edgec_maxpool_" if s.node.op == "MaxPool2D" else "edgec_avgpool_") + ("s16" if s.s16 else "s8")
    if s.node.op == "AvgPool2D" and counted(s.node):
        ct, cl, cb, cr = a["count_pads"]
        p = e.param("edgec_avgpool_pad_params", s.base, dict(pool=fields, count_top=ct, count_left=cl, count_bottom=cb,
                                                             count_right=cr, pad_value=a["pad_value"]))
        fn = "edgec_avgpool_pad_" + ("s16" if s.s16 else "s8")
    else:
        p = e.param("edgec_pool_params", s.base, fields)
    return e.call(fn, f"&{p}", s.ins[0], s.r_in, s.out, s.r0, s.rn)


def macs(graph, node):
    return graph.tensors[node.outputs[0]].size * node.attrs["kernel"][0] * node.attrs["kernel"][1]


def window(graph, node):
    a = node.attrs
    return a["kernel"][0], a["strides"][0], 1, a["pads"][0]


_COMMON = dict(check=check, quantize=lambda q, node: q.pool(node), quantize16=lambda q, node: q.pool16(node), emit=emit,
               kernel_file="edgec_pool_s8.c", kernel_file16="edgec_pool_s16.c", macs=macs, window=window)
def quantize_avg(q, node):
    q.pool(node)
    node.attrs["pad_value"] = q.qof(node.inputs[0]).scalar_zp      # real 0 in the counted padding


def quantize_avg16(q, node):
    q.pool16(node)
    node.attrs["pad_value"] = q.qof(node.inputs[0]).scalar_zp


DEFS = [
    OpDef("MaxPool2D", "x; attrs kernel, strides, pads", shape, float_ref=maxpool_f32, int8_ref=maxpool_s8,
          int16_ref=maxpool_s8, **_COMMON),
    OpDef("AvgPool2D", "x; attrs kernel, strides, pads (padding excluded from the count), optional count_pads (the "
          "part of pads that is counted)", shape, float_ref=avgpool_f32,
          int8_ref=avgpool_s8, int16_ref=avgpool_s8, **{**_COMMON, "quantize": quantize_avg, "quantize16": quantize_avg16}),
]
