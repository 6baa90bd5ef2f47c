"""Conv2D (any groups, depthwise included) and FullyConnected: the weighted ops.

Kernels: runtime_c/edgec_conv2d_s8.c (and the depthwise / columns / wide loop nests codegen picks per
node), edgec_fully_connected_s8.c, their 16x8 twins edgec_conv2d_s16.c and edgec_fully_connected_s16.c.
Their C calls stay in codegen/c.py (emit None): the weight layouts and loop nests are codegen's."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from ..errors import ModelFormatError
from .base import OpDef
from .checks import check_padded, ints, rank
from .common import act_float, conv_out, grouped_conv, patches, requant, requant_s16


def _check_conv(op, attrs, shapes, consts):
    rank(op, shapes, 0, 4, "NHWC input"), rank(op, shapes, 1, 4, "OHWI weight")
    o, kh, kw, ci = shapes[1]
    groups = attrs["groups"]
    ints(attrs["strides"], 2, "strides", 1), ints(attrs["dilations"], 2, "dilations", 1)
    ints(attrs["pads"], 4, "pads", 0)
    if not isinstance(groups, int) or groups < 1 or o % groups or ci * groups != shapes[0][3]:
        raise ModelFormatError(f"Conv2D weights {shapes[1]} with groups={groups} do not fit an input of "
                               f"{shapes[0][3]} channels")
    if shapes[2] != (o,):
        raise ModelFormatError(f"Conv2D bias of shape {shapes[2]} for {o} output channels")
    check_padded(shapes[0], attrs["pads"])


def _check_fc(op, attrs, shapes, consts):
    rank(op, shapes, 0, 2), rank(op, shapes, 1, 2, "[out, in] weight")
    if shapes[0][1] != shapes[1][1] or shapes[2] != (shapes[1][0],):
        raise ModelFormatError(f"FullyConnected weights {shapes[1]} and bias {shapes[2]} do not fit an input "
                               f"of shape {shapes[0]}")


def _conv2d_shape(node, s):
    n, h, w, _ = s[0]
    o, kh, kw, _ = s[1]
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = node.attrs["strides"], node.attrs["dilations"], node.attrs["pads"]
    return [(n, conv_out(h, kh, sh, dh, pt, pb), conv_out(w, kw, sw, dw, pl, pr), o)]


def conv2d_f32(node, x, w, b):
    a = node.attrs
    p = patches(x.astype(np.float64), w.shape[1:3], a["strides"], a["dilations"], a["pads"], 0.0)
    return act_float(grouped_conv(p, w, a["groups"]) + b, a.get("act"))


def fully_connected_f32(node, x, w, b):
    return act_float(x.astype(np.float64) @ w.T.astype(np.float64) + b, node.attrs.get("act"))


def conv2d_s8(node, x, w, bias):
    a = node.attrs
    xs = x.astype(np.float64) - a["in_zp"]
    p = patches(xs, w.shape[1:3], a["strides"], a["dilations"], a["pads"], 0.0)
    acc = np.rint(grouped_conv(p, w, a["groups"])).astype(np.int64) + bias
    return requant(fp.wrap32(acc), a)


def fully_connected_s8(node, x, w, bias):
    a = node.attrs
    acc = np.rint((x.astype(np.float64) - a["in_zp"]) @ w.T.astype(np.float64)).astype(np.int64) + bias
    return requant(fp.wrap32(acc), a)


def conv2d_s16(node, x, w, bias):
    """TFLite's reference_integer_ops::ConvPerChannel for int16 input (and DepthwiseConvPerChannel:
    groups == channels): acc = sum(x * w) + bias in int64, no input zero point, padding taps skipped."""
    a = node.attrs
    p = patches(x.astype(np.float64), w.shape[1:3], a["strides"], a["dilations"], a["pads"], 0.0)
    acc = np.rint(grouped_conv(p, w, a["groups"])).astype(np.int64) + bias.astype(np.int64)
    return requant_s16(acc, a)


def fully_connected_s16(node, x, w, bias):
    acc = np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64) + bias.astype(np.int64)
    return requant_s16(acc, node.attrs)


def _conv_macs(graph, node):
    w = graph.tensors[node.inputs[1]].shape
    return graph.tensors[node.outputs[0]].size * w[1] * w[2] * w[3]


def _conv_window(graph, node):
    a = node.attrs
    return graph.tensors[node.inputs[1]].shape[1], a["strides"][0], a["dilations"][0], a["pads"][0]


DEFS = [
    OpDef("Conv2D", "x, weights OHWI, bias; attrs strides, dilations, pads (t,l,b,r), groups, act",
          _conv2d_shape, arity=(3, 3), check=_check_conv, float_ref=conv2d_f32, int8_ref=conv2d_s8,
          int16_ref=conv2d_s16, quantize=lambda q, node: q.weighted(node, axis=0),
          quantize16=lambda q, node: q.weighted16(node), kernel_file="edgec_conv2d_s8.c",
          kernel_file16="edgec_conv2d_s16.c", macs=_conv_macs, window=_conv_window),
    OpDef("FullyConnected", "x [N,K], weights [M,K], bias [M]; attrs act",
          lambda n, s: [(s[0][0], s[1][0])], arity=(3, 3), check=_check_fc, float_ref=fully_connected_f32,
          int8_ref=fully_connected_s8, int16_ref=fully_connected_s16, quantize=lambda q, node: q.weighted(node, axis=0),
          quantize16=lambda q, node: q.weighted16(node), kernel_file="edgec_fully_connected_s8.c",
          kernel_file16="edgec_fully_connected_s16.c",
          macs=lambda g, node: g.tensors[node.outputs[0]].size * g.tensors[node.inputs[1]].shape[1]),
]
