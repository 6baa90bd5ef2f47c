"""plan_wide: give one-group convs and fully-connected layers wide weights (pre-sign-extended int16) where
the flash budget allows.

On cores whose dot product multiplies 16-bit pairs (SMLAD: Target.wide_weights), int8 weights cost two
SXTB16 per word on every pass over them.  Stored as int16 (codegen/layouts.py, wide_quad_layout and
wide_layout) with each channel's requantization prepared at compile time (wide_quad_requant, wide_requant), a conv over its sign-extended windows
runs as loads and SMLADs only (runtime_c/edgec_conv2d_wide_s8.c; a FullyConnected, one input vector at a time, loads and
sign-extends each input word once for four outputs: edgec_fully_connected_wide_s8.c): flash for speed.  The trade is taken where the
flash budget allows: graph.meta["flash_budget"] (set by the build for such targets; absent: nothing
is widened) minus the weights as they stand and CODE_RESERVE for the code; layers by MACs per extra
byte of flash (output pixels), most first, while they fit.  Nodes whose arrays are the same (same_arrays:
a layer applied again, an exporter's unrolled loop) are stored once (codegen/c.py), so they are counted
once and widened together or not at all.  A layer also needs its requantization
in edgec_wide_rq's range (fixedpoint.wide_channels).  Each chosen conv gets a columns scratch in the arena
(two pixels' int16 windows, six words for the loop's sentinel four) for the step it runs, instead of the
columns loop nest's (plan_scratch).

Runs after plan_memory, like plan_scratch: with --optimize speed every layer that fits the flash gets
its scratch; by default (least RAM) a conv is widened only while the scratches leave the arena within
RAM_SHARE of its size without them (tried by re-planning, while convs x buffers stay under
EXACT_WORK), a FullyConnected (no scratch) wherever the flash allows.  Sets Graph.wide (compiler/plan.WideLayers:
node -> scratch bytes, and the flash the trade costs), and re-plans memory."""
from __future__ import annotations

import math

import numpy as np

from ..compiler.fixedpoint import wide_channels
from ..compiler.ir import Graph
from ..compiler.plan import WideLayers
from ..compiler.ops.costs import macs, weight_bytes, wide_extra_bytes

from .plan_memory import memory_plan, plan_memory

#: by default the widened convs' scratches may grow the arena by this share of it, no more: a few hundred
#: bytes on MLPerf Tiny's KWS and ResNet-8 (1.7%) for a quarter to a third fewer instructions; 0 keeps
#: the arena exactly as small as without them
RAM_SHARE = 1 / 32
#: candidates x arena buffers up to which each widened conv's scratch is tried by re-planning the arena
EXACT_WORK = 20_000
#: flash kept for code, parameters and tables when weighing the budget (an M4 image without its weights
#: is about 20 KB)
CODE_RESERVE = 64 * 1024


def one_group_conv(graph: Graph, node) -> bool:
    """A one-group int8 Conv2D (edgec_conv2d_wide_s8: any window, stride, dilation and padding)."""
    if node.op != "Conv2D" or node.attrs.get("groups", 1) != 1:
        return False
    return graph.tensors[node.inputs[0]].dtype == "int8" and graph.tensors[node.outputs[0]].dtype == "int8"


def fully_connected(graph: Graph, node) -> bool:
    """An int8 FullyConnected (edgec_fully_connected_wide_s8: one input vector, sign-extended per pass)."""
    return (node.op == "FullyConnected" and graph.tensors[node.inputs[0]].dtype == "int8"
            and graph.tensors[node.outputs[0]].dtype == "int8")


def cols_bytes(graph: Graph, node) -> int:
    """The scratch: a conv's two pixels' K4 int16 inputs (K4 = k_h * k_w * in_c rounded up to 4), six int32
    after them (the DSP loop's sentinel four, runtime_c/edgec_dot_arm_dsp.h edgec_wide_quads), and K4 bytes
    to stage a window whose in_c is not a multiple of 4; a FullyConnected needs none."""
    if node.op == "FullyConnected":
        return 0
    w = graph.tensors[node.inputs[1]].shape
    k4 = -(-math.prod(w[1:]) // 4) * 4
    return 2 * 2 * k4 + 6 * 4 + (k4 if w[3] % 4 else 0)


def channels(graph: Graph, node):
    """The conv's per-channel requantization for edgec_wide_rq (fixedpoint.wide_channels), or None."""
    a = node.attrs
    return wide_channels(graph.tensors[node.inputs[2]].data, graph.tensors[node.inputs[1]].data, a["multiplier"], a["shift"],
                         a["out_zp"], a["act_min"], a["act_max"])


#: a model whose FullyConnected layers all have fewer MACs keeps their int8 weights: widened, they would save
#: a few hundred cycles and link the wide kernel, 80 B more code on Cortex-M4 than the int8 one (MLPerf Tiny
#: KWS's one 64x12 dense); all or none, so that a firmware never links both kernels
MIN_FC_MACS = 4096


def small_dense(graph: Graph) -> bool:
    """Every FullyConnected of the graph is under MIN_FC_MACS (there is no other)."""
    return all(macs(graph, n) < MIN_FC_MACS for n in graph.nodes if n.op == "FullyConnected")


def eligible(graph: Graph, node, small_fc: bool | None = None) -> bool:
    if node.op == "FullyConnected" and (small_dense(graph) if small_fc is None else small_fc):
        return False
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    shape_ok = (one_group_conv(graph, node) and len(x.shape) == 4 and len(y.shape) == 4) or \
        (fully_connected(graph, node) and len(x.shape) == 2 and len(y.shape) == 2)
    return shape_ok and channels(graph, node) is not None


def same_arrays(graph: Graph, node) -> tuple:
    """What a weighted node's flash arrays are made of (op, constants' bytes, multipliers and shifts):
    nodes with the same key are stored once (codegen/c.py shares identical arrays), e.g. the steps of an
    exporter's unrolled loop, so their bytes and their wide form's extra bytes are counted once."""
    a = node.attrs
    return (node.op,) + tuple(graph.tensors[i].data.tobytes() if graph.tensors[i].is_const else None for i in node.inputs) \
        + tuple(None if a.get(k) is None else np.asarray(a[k]).tobytes() for k in ("multiplier", "shift", "out_zp", "act_min", "act_max", "in_zp"))


def plan_wide(graph: Graph) -> Graph:
    g = graph.copy()
    budget = g.meta.get("flash_budget")
    chosen, spent = {}, 0
    g.wide = WideLayers()
    if budget is not None:
        stored, seen = 0, set()
        for n in g.nodes:
            key = same_arrays(g, n) if n.op in ("Conv2D", "FullyConnected") else None
            stored += 0 if key in seen else weight_bytes(g, n)
            seen.add(key)
        room = budget - CODE_RESERVE - stored
        groups = {}                          # nodes whose arrays are the same: widened together, paid once
        small_fc = small_dense(g)
        for n in g.nodes:
            if eligible(g, n, small_fc):
                groups.setdefault(same_arrays(g, n), []).append(n)
        cands = [ns[0] for ns in groups.values()]
        also = {ns[0].name: ns[1:] for ns in groups.values()}
        limit = g.plan.arena_size * (1 + RAM_SHARE) if g.plan is not None else None
        exact = len(cands) * len(g.plan.buffers if g.plan is not None else ()) <= EXACT_WORK
        for n in sorted(cands, key=lambda n: (-macs(g, n) * (1 + len(also[n.name])) / max(1, wide_extra_bytes(g, n)), n.name)):
            if spent + wide_extra_bytes(g, n) > room:
                continue
            needs = {m.name: cols_bytes(g, m) for m in [n] + also[n.name]}   # a group is widened whole
            if any(needs.values()) and g.meta.get("optimize") != "speed" and limit is not None:
                # least RAM (the default): scratches may grow the arena by RAM_SHARE at most
                if not exact:
                    continue
                g.wide = WideLayers(dict(chosen, **needs))
                if memory_plan(g).arena_size > limit:
                    continue
            chosen.update(needs)
            spent += wide_extra_bytes(g, n)
    g.wide = WideLayers(chosen, spent)
    return plan_memory(g) if any(chosen.values()) and g.plan is not None else g
