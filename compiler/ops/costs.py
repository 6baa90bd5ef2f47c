"""What a node costs: multiply-accumulates (its OpDef's `macs`) and flash bytes.  IR level, so the passes
that weigh nodes (tile, plan_scratch, plan_wide) and the report read the same numbers without the passes
importing the report (moved from reports/layers.py, which imports them back)."""
from __future__ import annotations

import numpy as np

from . import REGISTRY


def macs(graph, node) -> int:
    """Multiply-accumulates of one node: its OpDef's `macs` (0 for an op that declares none)."""
    d = REGISTRY.get(node.op)
    return d.macs(graph, node) if d is not None and d.macs is not None else 0


def wide_extra_bytes(graph, node) -> int:
    """Flash a conv's wide form (passes/plan_wide.py) adds: its weights as int16 (a conv's channels
    rounded up to 4, a FullyConnected's to 2: codegen/layouts.py, wide_quad_layout and wide_layout), its
    requantization records, 24 words per channel quad or 12 per pair (wide_quad_requant, wide_requant),
    over the pair layout's weights and the bias, multiplier and shift arrays."""
    w = graph.tensors[node.inputs[1]]
    lanes = 2 if node.op == "FullyConnected" else 4
    k4, blocks = -(-int(np.prod(w.shape[1:])) // 4) * 4, -(-w.shape[0] // lanes)
    return 2 * lanes * blocks * k4 - 2 * -(-w.shape[0] // 2) * k4 + 4 * 6 * lanes * blocks - 12 * w.shape[0]


def weight_bytes(graph, node) -> int:
    """Flash bytes of this node's constants, multipliers and tables."""
    n = sum(graph.tensors[i].nbytes for i in node.inputs if graph.tensors[i].is_const)
    for key in ("multiplier", "shift"):
        v = node.attrs.get(key)
        if node.op in ("Conv2D", "FullyConnected") and v is not None:
            n += 4 * np.asarray(v).size
    if node.op == "Lut":
        n += 256
    if node.name in graph.wide:      # pre-sign-extended weights (passes/plan_wide.py)
        n += wide_extra_bytes(graph, node)
    if node.op in ("Add", "Sub") and graph.tensors[node.outputs[0]].dtype == "int8":
        n += 2 * 4 * 256                    # the operands' rescale tables (codegen/c.py, add_tables)
    if node.op == "Softmax":
        n += 4 * 256
    if node.op == "LogSoftmax":             # exp, difference and log tables
        n += 3 * 4 * 256
    if node.op in ("LSTM", "GRU"):          # weights unit by unit in quads (codegen/recurrent.py: inputs and a
        rows, h = graph.tensors[node.inputs[2]].shape   # GRU's fourth row padded), per-row multipliers, shifts
        i = graph.tensors[node.inputs[0]].shape[-1]     # and folded biases, the sigmoid table
        n += 4 * h * (-(-i // 4) * 4 + -(-h // 4) * 4) - rows * (i + h) + (20 if node.op == "LSTM" else 16) * rows + 2 * 256
    return int(n)
