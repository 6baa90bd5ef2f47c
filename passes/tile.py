"""tile: patch-based execution (MCUNetV2) for the memory-heaviest stretch of a CNN.

A stage is a chain of row-local ops (Conv2D of any groups, MaxPool2D, AvgPool2D, Lut, a Pad that
fold_pad could not fold into its reader) where each node
reads only the previous node's output.  Executed in T horizontal bands of its last output, the stage
keeps only a band of each intermediate tensor alive (the rows the next op needs, halo included),
while its input and output stay whole.  Rows are recomputed where bands overlap: that costs MACs, so
the pass keeps a tiling only when it lowers the planned arena and adds at most MAX_EXTRA_MACS.
`edgec build --optimize speed` (graph.meta["optimize"]) turns it off: no recomputation, more RAM.

Results are unchanged by construction: every output element is computed by the same integer
arithmetic from the same input elements, so the integer reference (which ignores tiling) stays the
contract and the emulator proves the C.  The pass writes `meta["tiling"]`: a list of stages
{"nodes", "tiles", "bands": [[(in_row0, out_row0, out_rows) per node] per tile], "band_bytes"}, read
by plan_memory (sizes and lifetimes) and codegen (the band loop).
"""
from __future__ import annotations

import numpy as np

from edgec.ir import Graph
from edgec.report import macs
from .plan_memory import memory_plan

TILEABLE = ("Conv2D", "MaxPool2D", "AvgPool2D", "Lut", "Pad")
TILE_COUNTS = (2, 3, 4, 6, 8, 12, 16)
MAX_STAGE_LEN = 12
MAX_STAGES = 3
MAX_EXTRA_MACS = 0.20           # of the whole model's MACs
#: node-plans per round: every candidate stage is planned exactly while candidates x nodes stays under
#: this; past it (graphs of thousands of nodes) the candidates that save the most bytes at the peak
#: step are planned, at least MIN_PLANNED of them
PLAN_WORK = 20_000
MIN_PLANNED = 4


def _window(graph, node):
    """(kernel rows, stride, dilation, top pad) of a row-local op."""
    a = node.attrs
    if node.op == "Conv2D":
        return graph.tensors[node.inputs[1]].shape[1], a["strides"][0], a["dilations"][0], a["pads"][0]
    if node.op in ("MaxPool2D", "AvgPool2D"):
        return a["kernel"][0], a["strides"][0], 1, a["pads"][0]
    if node.op == "Pad":                            # output row r is input row r - top (or padding)
        return 1, 1, 1, a["pads"][1]
    return 1, 1, 1, 0


def _chain_ok(graph: Graph, nodes, consumers) -> bool:
    for j, n in enumerate(nodes):
        if n.op not in TILEABLE or len(graph.tensors[n.outputs[0]].shape) != 4 or graph.tensors[n.outputs[0]].shape[0] != 1:
            return False
        acts = [t for t in n.inputs if not graph.tensors[t].is_const]
        if len(acts) != 1 or len(graph.tensors[acts[0]].shape) != 4:
            return False
        if j > 0 and acts[0] != nodes[j - 1].outputs[0]:
            return False
        if j == len(nodes) - 1 and any(c.op == "Concat" and dict(zip(c.inputs, c.attrs.get("bound", []))).get(n.outputs[0])
                                       for c in consumers.get(n.outputs[0], [])):
            return False                           # it writes into a Concat's slice: keep it whole
        if j < len(nodes) - 1:
            out = n.outputs[0]
            if out in graph.outputs or [c.name for c in consumers.get(out, [])] != [nodes[j + 1].name]:
                return False
    return True


def stage_bands(graph: Graph, nodes, tiles: int):
    """Per tile, per node: (in_row0, out_row0, out_rows); None when a band would be empty."""
    height = graph.tensors[nodes[-1].outputs[0]].shape[1]
    if tiles > height:
        return None
    cuts = [round(t * height / tiles) for t in range(tiles + 1)]
    result = []
    for t in range(tiles):
        lo, hi = cuts[t], cuts[t + 1]
        if hi <= lo:
            return None
        out_bands = [None] * len(nodes)
        for j in range(len(nodes) - 1, -1, -1):
            out_bands[j] = (lo, hi)
            k, s, d, pt = _window(graph, nodes[j])
            in_h = graph.tensors[nodes[j].inputs[0]].shape[1]
            lo, hi = max(0, lo * s - pt), min(in_h, (hi - 1) * s - pt + d * (k - 1) + 1)
            if hi <= lo and nodes[j].op == "Pad":   # a band of padding only: it reads no row; keep one
                lo = min(lo, in_h - 1)
                hi = lo + 1
            if hi <= lo:
                return None
        result.append([(0 if j == 0 else out_bands[j - 1][0], out_bands[j][0], out_bands[j][1] - out_bands[j][0])
                       for j in range(len(nodes))])
    return result


def _stage(graph: Graph, nodes, tiles: int):
    bands = stage_bands(graph, nodes, tiles)
    if bands is None:
        return None
    band_bytes, extra = [], 0
    for j, n in enumerate(nodes):
        _, h, w, c = graph.tensors[n.outputs[0]].shape
        band_bytes.append(max(b[j][2] for b in bands) * w * c * np.dtype(graph.tensors[n.outputs[0]].dtype).itemsize)
        rows = sum(b[j][2] for b in bands)
        extra += macs(graph, n) * (rows - h) // h
    return {"nodes": [n.name for n in nodes], "tiles": tiles, "bands": bands, "band_bytes": band_bytes,
            "extra_macs": int(extra)}


def _arena(g: Graph, stages) -> int:
    """The arena with these stages."""
    return _plan_with(g, stages)["arena_size"]


def _plan_with(g: Graph, stages) -> dict:
    """memory_plan of g with meta["tiling"] = stages (set for the call, then put back)."""
    saved = g.meta.pop("tiling", None)
    g.meta["tiling"] = stages
    try:
        return memory_plan(g)
    finally:
        g.meta.pop("tiling")
        if saved is not None:
            g.meta["tiling"] = saved


def tile(graph: Graph) -> Graph:
    g = graph.copy()
    g.meta.pop("tiling", None)
    if g.meta.get("optimize") == "speed":            # every layer computed once, whole
        return g
    total_macs = max(1, sum(macs(g, n) for n in g.nodes))
    consumers = g.consumers()
    budget = max(MIN_PLANNED, PLAN_WORK // max(1, len(g.nodes)))
    chosen, best = [], _arena(g, [])
    used = set()
    for _ in range(MAX_STAGES):
        peak_step, sizes = _peak(g, chosen)
        candidates = []
        for start in range(max(0, peak_step - MAX_STAGE_LEN + 1), peak_step + 1):
            for end in range(max(start + 1, peak_step), min(len(g.nodes), start + MAX_STAGE_LEN)):
                nodes = g.nodes[start:end + 1]
                if any(n.name in used for n in nodes) or not _chain_ok(g, nodes, consumers):
                    continue
                for tiles in TILE_COUNTS:
                    st = _stage(g, nodes, tiles)
                    if st is None or sum(s["extra_macs"] for s in chosen) + st["extra_macs"] > MAX_EXTRA_MACS * total_macs:
                        continue
                    candidates.append((start, st))
        if len(candidates) > budget:                 # plan those that free the most bytes at the peak step
            candidates = sorted(candidates, key=lambda c: (-_saved_at(g, c[0], c[1], peak_step, sizes),
                                                           c[1]["extra_macs"]))[:budget]
        found = None
        for _, st in candidates:
            size = _arena(g, chosen + [st])
            if size < best and (found is None or (size, st["extra_macs"]) < (found[0], found[1]["extra_macs"])):
                found = (size, st)
        if found is None:
            break
        best = found[0]
        chosen.append(found[1])
        used.update(found[1]["nodes"])
    if chosen:
        g.meta["tiling"] = chosen
    return g


def _saved_at(g: Graph, start: int, st: dict, step: int, sizes: dict) -> int:
    """Bytes a stage frees at `step`: its intermediates live there shrink to their bands."""
    saved = 0
    for j, band in enumerate(st["band_bytes"][:-1]):
        if start + j <= step <= start + j + 1:
            saved += sizes.get(g.nodes[start + j].outputs[0], band) - band
    return saved


def _peak(graph: Graph, stages):
    """The step where the planned arena holds the most live bytes, and each tensor's planned size."""
    plan = _plan_with(graph, stages)
    roots = {b["root"]: b for b in plan["buffers"].values() if b["where"] == "arena"}.values()
    live = [0] * (len(graph.nodes) + 1)
    for b in roots:                                  # a difference array: linear in buffers and steps
        live[b["first"]] += b["size"]
        live[min(b["last"], len(graph.nodes) - 1) + 1] -= b["size"]
    best, acc, peak = 0, 0, None
    for s in range(len(graph.nodes)):
        acc += live[s]
        if peak is None or acc > peak:
            best, peak = s, acc
    return best, {t: b["size"] for t, b in plan["buffers"].items()}
