"""plan_scratch: give one-group convs the columns scratch of their fastest loop nest where RAM allows.

The columns loop nest (edgec_conv2d_cols_s8, runtime_c/edgec_conv2d_cols_s8.c) sign-extends the windows of
two output pixels into a scratch of 2 x K4 int16 (K4 = k_h * k_w * in_c rounded up to 4; plus K4
bytes to stage a window whose in_c is not a multiple of 4) once, then runs every channel pair over
them in one unbroken dot product; without a scratch the conv takes edgec_conv2d_s8's other loop
nests, which need no extra RAM.  The scratch is an arena buffer that lives only while its conv runs,
so it often fits in a gap the activations leave at that step.

* `--optimize speed` (graph.meta["optimize"]): every one-group conv gets its scratch.
* `--optimize ram` (the default): a conv gets its scratch only where the arena does not grow, tried
  by MACs, largest first: the least-RAM result stays exactly as small.  Each try re-plans the arena
  with the scratch added while that work (convs x buffers) stays under EXACT_WORK; past it (graphs of
  thousands of convs) a scratch goes into a gap the plan leaves at its conv's step below the arena
  size, and the rest of the plan stays as it is: linear, and never a byte more.

Runs after plan_memory, whose plan is the one to keep when no conv gets a scratch.  Sets
Graph.scratch (node -> bytes) and re-plans memory with it (Graph.plan.scratch has offsets)."""
from __future__ import annotations

import math
from dataclasses import replace

from ..compiler.ir import Graph
from ..compiler.ops.costs import macs

from .plan_memory import ALIGN, memory_plan, plan_memory


#: convs x arena buffers up to which each conv's scratch is tried by re-planning the whole arena
EXACT_WORK = 20_000
#: Shorter dot products than this many inputs spend more on the per-block requantization than the
#: columns save (measured on Cortex-M4: K4 = 28 first layers of VWW and ResNet-8 are faster without).
MIN_K4 = 32


def cols_bytes(graph: Graph, node) -> int | None:
    """Bytes of the node's columns scratch, or None where the columns loop nest does not pay: other
    kernels, and pointwise convs (1x1, stride 1, no padding), whose own loop nest streams the weights of
    a channel pair over all pixels with its requantization prepared once and is faster."""
    if node.op != "Conv2D" or node.attrs.get("groups", 1) != 1:
        return None
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    wshape = graph.tensors[node.inputs[1]].shape
    pointwise = tuple(wshape[1:3]) == (1, 1) and tuple(node.attrs["strides"]) == (1, 1) and not any(node.attrs["pads"])
    k4 = -(-math.prod(wshape[1:]) // 4) * 4
    if x.dtype != "int8" or y.dtype != "int8" or pointwise or k4 < MIN_K4:
        return None
    return 2 * 2 * k4 + (k4 if wshape[3] % 4 else 0)      # two pixels' int16 columns (+ a byte stage)


def plan_scratch(graph: Graph) -> Graph:
    g = graph.copy()
    wanted = {n.name: b for n in g.nodes if (b := cols_bytes(g, n)) and n.name not in g.wide}
    if g.meta.get("optimize") == "speed":
        g.scratch = wanted
        return plan_memory(g)
    limit = g.plan.arena_size
    work = {n.name: macs(g, n) for n in g.nodes if n.name in wanted}
    order = sorted(wanted, key=lambda n: (-work[n], n))
    if len(order) * len(g.plan.buffers) > EXACT_WORK:
        return _into_gaps(g, order, wanted)
    chosen = {}
    for name in order:
        g.scratch = dict(chosen, **{name: wanted[name]})
        if memory_plan(g).arena_size <= limit:
            chosen[name] = wanted[name]
    g.scratch = chosen
    return plan_memory(g) if chosen else g


def _into_gaps(g: Graph, order, wanted) -> Graph:
    """Each scratch at the lowest aligned offset where nothing is live at its conv's step and it ends
    within the arena; the plan's other buffers keep their places."""
    plan = g.plan
    limit = plan.arena_size
    step_of = {n.name: i for i, n in enumerate(g.nodes)}
    roots = [dict(b, offset=b.get("group_offset", b["offset"]), size=b.get("group_size", b["size"]))   # whole groups
             for t, b in plan.buffers.items() if b["where"] == "arena" and t == b["root"]]
    # the buffers live at each step that has a wanted conv: one sweep over the steps
    at = {}
    steps = sorted({step_of[n] for n in order})
    starts = sorted(roots, key=lambda b: b["first"])
    active, k = [], 0
    for s in steps:
        while k < len(starts) and starts[k]["first"] <= s:
            active.append(starts[k])
            k += 1
        active = [b for b in active if b["last"] >= s]
        at[s] = sorted((b["offset"], b["size"]) for b in active)
    chosen, placed = {}, {}
    for name in order:
        s, need = step_of[name], wanted[name]
        cursor, off = 0, None
        for o, size in at[s]:
            if o - cursor >= need:
                off = cursor
                break
            cursor = max(cursor, -(-(o + size) // ALIGN) * ALIGN)
        if off is None and limit - cursor >= need:
            off = cursor
        if off is None:
            continue
        chosen[name] = need
        placed[name] = {"offset": off, "size": need, "step": s}
        at[s] = sorted(at[s] + [(off, need)])
    g.scratch = chosen
    g.plan = replace(plan, scratch={**plan.scratch, **placed})    # keep the needed ones (LSTM)
    return g
