"""Output shapes of IR ops from their input shapes and attributes (one function per op)."""
from __future__ import annotations


from .ops import table
from .ops.common import conv_out  # noqa: F401  (importers take it from here)


def same_pads(in_hw, kernel, strides, dilations) -> tuple:
    """TensorFlow's "same" padding (extra padding at the end): (top, left, bottom, right)."""
    pads = []
    for size, k, st, d in zip(in_hw, kernel, strides, dilations):
        out = -(-size // st)
        total = max(0, (out - 1) * st + d * (k - 1) + 1 - size)
        pads.append((total // 2, total - total // 2))
    return (pads[0][0], pads[1][0], pads[0][1], pads[1][1])


#: op -> fn(node, input shapes) -> output shapes: the registry's (compiler/ops/).
SHAPE_FNS = table("shape")


def output_shapes(node, input_shapes) -> list:
    return [tuple(int(d) for d in sh) for sh in SHAPE_FNS[node.op](node, [tuple(x) for x in input_shapes])]
