"""plan_scratch: give one-group convs the columns scratch of their fastest loop nest where RAM allows.

The columns loop nest (edgec_conv2d_cols_s8, runtime_c/edgec_conv2d_s8.c) sign-extends the windows of
two output pixels into a scratch of 2 x K4 int16 (K4 = k_h * k_w * in_c rounded up to 4; plus K4
bytes to stage a window whose in_c is not a multiple of 4) once, then runs every channel pair over
them in one unbroken dot product; without a scratch the conv takes edgec_conv2d_s8's other loop
nests, which need no extra RAM.  The scratch is an arena buffer that lives only while its conv runs,
so it often fits in a gap the activations leave at that step.

* `--optimize speed` (graph.meta["optimize"]): every one-group conv gets its scratch.
* `--optimize ram` (the default): a conv gets its scratch only where the arena does not grow, tried
  by MACs, largest first: the least-RAM result stays exactly as small.

Runs after plan_memory, whose plan is the one to keep when no conv gets a scratch.  Sets
graph.meta["scratch"] (node -> bytes) and re-plans memory with it (plan["scratch"] has offsets)."""
from __future__ import annotations

import math

from edgec.ir import Graph
from edgec.report import macs

from .plan_memory import plan_memory


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
    wanted = {n.name: b for n in g.nodes if (b := cols_bytes(g, n))}
    if g.meta.get("optimize") == "speed":
        g.meta["scratch"] = wanted
        return plan_memory(g)
    limit = g.meta["plan"]["arena_size"]
    work = {n.name: macs(g, n) for n in g.nodes if n.name in wanted}
    chosen = {}
    for name in sorted(wanted, key=lambda n: (-work[n], n)):
        g.meta["scratch"] = dict(chosen, **{name: wanted[name]})
        if plan_memory(g).meta["plan"]["arena_size"] <= limit:
            chosen[name] = wanted[name]
    g.meta["scratch"] = chosen
    return plan_memory(g) if chosen else g
