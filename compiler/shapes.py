"""Output shapes of IR ops from their input shapes and attributes (one function per op)."""
from __future__ import annotations

import numpy as np

from .errors import EdgecError
from .ir import ELEMENTWISE_UNARY
from .recurrent import gru_shapes, lstm_shapes
from . import resize
from . import mean
from . import prelu
from . import svdf
from . import strided_slice


def conv_out(size: int, k: int, stride: int, dil: int, pad_before: int, pad_after: int) -> int:
    return (size + pad_before + pad_after - dil * (k - 1) - 1) // stride + 1


def same_pads(in_hw, kernel, strides, dilations) -> tuple:
    """TensorFlow's "same" padding (extra padding at the end): (top, left, bottom, right)."""
    pads = []
    for size, k, st, d in zip(in_hw, kernel, strides, dilations):
        out = -(-size // st)
        total = max(0, (out - 1) * st + d * (k - 1) + 1 - size)
        pads.append((total // 2, total - total // 2))
    return (pads[0][0], pads[1][0], pads[0][1], pads[1][1])


def _conv2d(node, s):
    n, h, w, _ = s[0]
    o, kh, kw, _ = s[1]
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = node.attrs["strides"], node.attrs["dilations"], node.attrs["pads"]
    return [(n, conv_out(h, kh, sh, dh, pt, pb), conv_out(w, kw, sw, dw, pl, pr), o)]


def _pool(node, s):
    n, h, w, c = s[0]
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"]
    return [(n, conv_out(h, kh, sh, 1, pt, pb), conv_out(w, kw, sw, 1, pl, pr), c)]


def _broadcast(node, s):
    try:
        return [tuple(np.broadcast_shapes(*s))]
    except ValueError:
        raise EdgecError(f"shapes {s} do not broadcast", where=f"node {node.name} ({node.op})") from None


def _reshape(node, s):
    shape = tuple(node.attrs["shape"])
    if int(np.prod(shape)) != int(np.prod(s[0])):
        raise EdgecError(f"cannot reshape {s[0]} to {shape}", where=f"node {node.name} (Reshape)")
    return [shape]


def _pad(node, s):
    r = len(s[0])
    p = node.attrs["pads"]
    return [tuple(d + p[i] + p[i + r] for i, d in enumerate(s[0]))]


def _concat(node, s):
    ax = node.attrs["axis"]
    out = list(s[0])
    out[ax] = sum(x[ax] for x in s)
    return [tuple(out)]


SHAPE_FNS = {
    "Conv2D": _conv2d,
    "FullyConnected": lambda n, s: [(s[0][0], s[1][0])],
    "Add": _broadcast, "Sub": _broadcast, "Mul": _broadcast, "Elementwise": _broadcast,
    "MaxPool2D": _pool, "AvgPool2D": _pool,
    **{op: (lambda n, s: [s[0]]) for op in ELEMENTWISE_UNARY}, "Softmax": lambda n, s: [s[0]],
    "LogSoftmax": lambda n, s: [s[0]],
    "Upsample": lambda n, s: [(s[0][0], s[0][1] * n.attrs["scale"][0], s[0][2] * n.attrs["scale"][1], s[0][3])],
    "Slice": lambda n, s: [tuple(n.attrs["end"][i] - n.attrs["begin"][i] for i in range(len(s[0])))],
    "Resize": resize.out_shape,
    "Mean": mean.out_shape,
    "PRelu": prelu.out_shape,
    "SvdfState": svdf.state_out_shape, "Svdf": svdf.out_shape,
    "StridedSlice": strided_slice.out_shape,
    "Requantize": lambda n, s: [s[0]],
    "BatchNorm": lambda n, s: [s[0]],
    "Reshape": _reshape,
    "Transpose": lambda n, s: [tuple(s[0][p] for p in n.attrs["perm"])],
    "Pad": _pad,
    "Concat": _concat,
    "LSTM": lstm_shapes,
    "GRU": gru_shapes,
}


def output_shapes(node, input_shapes) -> list:
    return [tuple(int(d) for d in sh) for sh in SHAPE_FNS[node.op](node, [tuple(x) for x in input_shapes])]
