"""tile: patch-based execution (MCUNetV2) for the memory-heaviest stretch of a CNN.

A stage is a chain of row-local ops (Conv2D of any groups, MaxPool2D, AvgPool2D, Lut, a Pad that
fold_pad could not fold into its reader) where each node
reads only the previous node's output.  Executed in T horizontal bands of its last output, the stage
keeps only a band of each intermediate tensor alive (the rows the next op needs, halo included),
while its input and output stay whole.  A stage may also write its output over its dying input (a
"shift", overlap_shift: every band's output rows land on input rows no band reads any more; bands run
top down or, `reverse`, bottom up so that consecutive stages need not drift the same way), which
brings a layer below its own input + output, as TinyEngine's in-place depthwise does, for any
row-local chain and without recomputation.  Where a stage's intermediates would be recomputed at the
bands' seams (a 3x3 conv after a 3x3 conv: ResNet-8's first block), they may instead be line buffers
(carry_rows): each band buffer keeps the rows the next band needs and its node computes only new
rows, so the stage costs no recomputation, only a small move per band, at the price of every
intermediate staying live through the stage.  The search runs twice, without and with line buffers,
and keeps the smaller arena, then the fewer instructions (ResNet-8: 8 bands recomputing 1.03 M MACs,
36,440 B, became 16 line-buffered bands, 35,416 B).

Choosing per stage by instruction cost: each candidate's extra instructions are estimated
(stage_instructions: recomputed rows at the layer's instructions per row, plus the set-up of every
band call after the first, measured on Cortex-M4).  Each round looks at the step where the most bytes
are live and takes, among the stages that lower it (and the live bytes overall), the cheapest one that
brings it to the goal, else the one that frees the most per instruction; a stage may replace one it
overlaps (more bands, other direction).  All stages together stay under MAX_EXTRA of the model's
estimated instructions; stages the final arena does not need are dropped.  The goal is an explicit
`--ram` budget (graph.meta["ram_budget"]: tile only as far as it needs, nothing when the untiled
plan fits), else the least RAM.  Each kept stage records "instructions" (estimated extra) and
"saves_bytes" (the arena without it minus the arena with all), for the report.
`edgec build --optimize speed` (graph.meta["optimize"]) turns it off: no recomputation, more RAM.

Results are unchanged by construction: every output element is computed by the same integer
arithmetic from the same input elements, so the integer reference (which ignores tiling) stays the
contract and the emulator proves the C.  The pass writes `Graph.tiling`: a list of stages
{"nodes", "tiles", "bands": [[(in_row0, out_row0, out_rows) per node] per tile], "band_bytes",
"shift", "reverse", "instructions", "saves_bytes", and "carry" where the stage keeps line buffers},
read by plan_memory (sizes, lifetimes, the
output over the input) and codegen (the band loop).
"""
from __future__ import annotations

import copy

import numpy as np

from ..compiler.ir import Graph
from ..compiler.plan import MemoryPlan
from ..compiler.ops import REGISTRY, table as ops_table
from ..compiler.ops.costs import macs
from .plan_memory import Layout, layout, live_bytes, pack

TILEABLE = tuple(ops_table("window"))       # row-local ops (their OpDef.window, compiler/ops/)
TILE_COUNTS = (2, 3, 4, 6, 8, 12, 16)
#: ... and one output row per band, for a stage of up to this many output rows: the finest bands.  A
#: stage whose first node is the NCHW input's Transpose keeps a band of the transposed input that a
#: Keras (NHWC) file of the same network does not have (its first conv reads the caller's buffer);
#: ShuffleNetV2's stem (conv 3x3/2, pool 3x3/2 to 24 rows) at 16 bands still reads 2 pool rows, 11
#: input rows (3,168 B), at 24 bands 1 pool row, 7 input rows (2,016 B) and a 3-row conv band
#: instead of 5: the PyTorch file plans the Keras arena (tests/test_exporter_arena.py)
ONE_ROW_BANDS_UP_TO = 32
MAX_STAGE_LEN = 12
#: stages added or replaced, one per round (each round takes the cheapest stage that lowers the peak step);
#: more rounds walk further down in RAM at more instructions (24: KWS 9,556 B of arena for +9.5%
#: instructions, past issue 22's 0.5x TFLM), so the default stops here
MAX_ROUNDS = 16
MAX_EXTRA = 0.20                # of the whole model's estimated instructions, all stages together
#: Without a --ram goal, a stage (or its last bands) must free at least this many arena bytes per
#: instruction it adds to each inference (one byte per thousand instructions).
MIN_BYTES_PER_INSTRUCTION = 0.001
#: Estimated Cortex-M4 instructions of an untiled layer: INSTR_PER_MAC per MAC plus INSTR_PER_OUTPUT
#: per output element (requantization, window gathering: what makes a pointwise conv from 8 channels
#: cost 2.3 instructions per MAC and one from 64 channels 0.9); and BAND_SETUP per output element of
#: one row for each band call after the first.  Least-squares fits (relative error) to
#: `edgec verify --json --profile` per layer of the `--optimize speed` (untiled) cortex-m4 builds of
#: KWS, VWW and ResNet-8 with the planes depthwise and wide pointwise/conv kernels: pointwise within
#: 10% on all 19 layers, conv within 22% (the 3-channel first layers), depthwise 3.35-4.7 per MAC
#: (7.5 on VWW's last 3 x 3 maps); BAND_SETUP from the default (tiled) builds' per-layer instructions
#: minus the untiled ones, less the recomputed rows.  Depthwise: KWS (64 channels, 5 wide, 25 rows)
#: split into 2..8 bands adds 2.5, 2.1, 18, 30, 35 per element for 2, 3, 4, 6, 8 bands (the planes
#: kernel stages its tile again per call and bands under 8 rows cost it most), VWW's 4 bands 1-19;
#: 30 is the narrow-band value, so short bands are not under-estimated (its recomputed rows also cost
#: 1.4-2 per MAC more than untiled ones).  Pointwise and conv 0.1-0.55.  Pool and "other" (Lut,
#: Pad, and FullyConnected for the whole-model cap) were not re-measured.
INSTR_PER_MAC = {"depthwise": 3.8, "pointwise": 0.77, "conv": 0.76, "pool": 7.2, "other": 0.0}
INSTR_PER_OUTPUT = {"depthwise": 0.4, "pointwise": 12.0, "conv": 29.0, "pool": 40.0, "other": 4.0}
BAND_SETUP = {"depthwise": 30, "pointwise": 1, "conv": 1, "pool": 4, "other": 2}
#: Line buffers (carry_rows): the ops whose band buffers may keep rows between bands, and the estimated
#: instructions per byte of the kept rows' moves (one memcpy per intermediate and band)
CARRY_OPS = ("Conv2D", "MaxPool2D", "AvgPool2D")
COPY_PER_BYTE = 1.0
#: node-plans per round: every candidate stage is planned exactly while candidates x nodes stays under
#: this; past it (graphs of thousands of nodes) the candidates that save the most bytes at the peak
#: step are planned, at least MIN_PLANNED of them
PLAN_WORK = 20_000
MIN_PLANNED = 4


def _window(graph, node):
    """(kernel rows, stride, dilation, top pad) of a row-local op (its OpDef.window); one row for others."""
    d = REGISTRY.get(node.op)
    return d.window(graph, node) if d is not None and d.window is not None else (1, 1, 1, 0)


def _row_axis(graph: Graph, node) -> int:
    """The input axis a row-local op's window runs along: 1 (NHWC), or for a layout change (Transpose
    NCHW -> NHWC) the input axis that becomes its output's rows."""
    return node.attrs["perm"][1] if node.op == "Transpose" else 1


def _in_height(graph: Graph, node) -> int:
    return graph.tensors[node.inputs[0]].shape[_row_axis(graph, node)]


def _chain_ok(graph: Graph, nodes, consumers) -> bool:
    for j, n in enumerate(nodes):
        if (n.op not in TILEABLE or REGISTRY[n.op].window(graph, n) is None
                or len(graph.tensors[n.outputs[0]].shape) != 4 or graph.tensors[n.outputs[0]].shape[0] != 1):
            return False
        if j > 0 and _row_axis(graph, n) != 1:    # its input's rows are not a band of NHWC rows: only first
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


def tile_counts(graph: Graph, nodes) -> tuple:
    """The band counts tried for a stage: TILE_COUNTS, and one row per band when its output has more
    rows than the largest of them (up to ONE_ROW_BANDS_UP_TO)."""
    height = graph.tensors[nodes[-1].outputs[0]].shape[1]
    return TILE_COUNTS + ((height,) if TILE_COUNTS[-1] < height <= ONE_ROW_BANDS_UP_TO else ())


def stage_bands(graph: Graph, nodes, tiles: int):
    """Per tile, per node: (in_row0, out_row0, out_rows); None when a band would be empty."""
    height = graph.tensors[nodes[-1].outputs[0]].shape[1]
    if tiles > height:
        return None
    cuts = [round(t * height / tiles) for t in range(tiles + 1)]
    # each node's window and input height, once for all bands (the search asks for many stages)
    windows = [(*_window(graph, n), _in_height(graph, n), n.op == "Pad") for n in nodes]
    result = []
    for t in range(tiles):
        lo, hi = cuts[t], cuts[t + 1]
        if hi <= lo:
            return None
        out_bands = [None] * len(nodes)
        for j in range(len(nodes) - 1, -1, -1):
            out_bands[j] = (lo, hi)
            k, s, d, pt, in_h, pad = windows[j]
            lo, hi = max(0, lo * s - pt), min(in_h, (hi - 1) * s - pt + d * (k - 1) + 1)
            if hi <= lo and pad:                    # a band of padding only: it reads no row; keep one
                lo = min(lo, in_h - 1)
                hi = lo + 1
            if hi <= lo:
                return None
        result.append([(0 if j == 0 else out_bands[j - 1][0], out_bands[j][0], out_bands[j][1] - out_bands[j][0])
                       for j in range(len(nodes))])
    return result


def _in_rows(graph: Graph, node, lo: int, hi: int):
    """The first input row and the end row a row-local op reads for its output rows [lo, hi)."""
    k, s, d, pt = _window(graph, node)
    in_h = _in_height(graph, node)
    return max(0, lo * s - pt), min(in_h, (hi - 1) * s - pt + d * (k - 1) + 1)


def overlap_shift(graph: Graph, nodes, bands, reverse: bool = False) -> int | None:
    """Where the stage's input may start relative to its output (bytes, input offset minus output
    offset) so that the output may overwrite it.  Band t writes its output rows after its first node
    has read its input rows (several nodes) or while it reads them (one node), so it must not touch
    an input row that band t's successor (several nodes) or band t itself (one node) still reads.
    Bands run top down: the output starts below the input (a positive shift) and each band's rows end
    below the first row still to be read; `reverse` (bands bottom up): the output starts above the
    input (a negative shift) and each band's rows begin above the last row still to be read.
    None when the input's rows are not contiguous (a Transpose NCHW -> NHWC reads every channel plane):
    no shift lets the output overwrite it."""
    if _row_axis(graph, nodes[0]) != 1:
        return None
    x = graph.tensors[nodes[0].inputs[0]]
    y = graph.tensors[nodes[-1].outputs[0]]
    in_row = x.shape[2] * x.shape[3] * np.dtype(x.dtype).itemsize
    out_row = y.shape[2] * y.shape[3] * np.dtype(y.dtype).itemsize
    need = 0
    for t, band in enumerate(bands):
        reader = t if len(nodes) == 1 else t - 1 if reverse else t + 1
        if not 0 <= reader < len(bands):
            continue
        rows = _in_rows(graph, nodes[0], bands[reader][0][1], bands[reader][0][1] + bands[reader][0][2])
        if reverse:
            need = max(need, rows[1] * in_row - band[-1][1] * out_row)
        else:
            need = max(need, (band[-1][1] + band[-1][2]) * out_row - rows[0] * in_row)
    need = -(-need // 4) * 4
    return -need if reverse else need


def carry_rows(graph: Graph, nodes, bands, reverse: bool = False):
    """Line buffers instead of recomputation: each intermediate's band buffer keeps, from one band to
    the next (in run order), the rows both need, moved to where the next band's rows put them, and the
    node computes only the rows the previous band had not (at least one: at the image's edge a band
    may need no new row of a node, which then computes its last row again).  Per band in run order, per node:
    [out_row0, out_off, out_rows, moves]: the first computed row, its row offset in the band buffer,
    the computed rows, and the kept rows' moves [dst_off, src_off, rows] (row offsets in the buffer;
    top down the kept rows go to the buffer's start, bottom up to its end; in pieces no longer than
    the distance moved, so that each is one memcpy of rows that do not overlap, done in order).  The
    last node writes the whole output: [out_row0, out_row0, out_rows, []].  None where no rows would
    be kept, and for a stage through ops other than convs and
    pools (an element-wise op runs in place: its input's rows could not be kept) or int16 outputs."""
    if len(nodes) < 2 or any(n.op not in CARRY_OPS or graph.tensors[n.outputs[0]].dtype != "int8" for n in nodes):
        return None
    last, kept, out, prev = len(nodes) - 1, False, [], None
    for band in (bands[::-1] if reverse else bands):
        row = []
        for j, (_, lo, n) in enumerate(band):
            if j == last or prev is None:
                row.append([lo, lo if j == last else 0, n, []])
                continue
            plo, phi = prev[j][1], prev[j][1] + prev[j][2]
            if (lo < plo) if not reverse else (lo + n > phi):
                return None
            # at least one computed row: where the image's edge leaves a band nothing new of this node,
            # its last (bottom up: first) row is computed again
            new = min(n, max(1, lo + n - phi) if not reverse else max(1, plo - lo))
            keep = max(0, n - new)
            if not reverse:             # keep [lo, lo + keep): from row offset d on to the start
                d = lo - plo
                moves = [[a, a + d, min(d, keep - a)] for a in range(0, keep, d)] if d else []
                row.append([lo + keep, keep, new, moves])
            else:                       # keep [lo + new, hi): from row offset s0 on to row offset new on
                d, s0 = plo - lo, lo + new - plo
                moves = [[new + max(0, a - d), s0 + max(0, a - d), a - max(0, a - d)] for a in range(keep, 0, -d)] if d else []
                row.append([lo, 0, new, moves])
            kept |= keep > 0
        out.append(row)
        prev = band
    return out if kept else None


def make_stage(graph: Graph, nodes, tiles: int, reverse: bool = False, carry: bool = False, bands=False):
    """One stage of `nodes` in `tiles` bands as the search weighs it (Graph.tiling's entry), or None
    where the bands (or, with `carry`, the line buffers) do not apply.  Tests force a tiling with it.
    `bands`: stage_bands(graph, nodes, tiles) when the caller has it (the search tries four variants
    of the same bands); it is only read."""
    if bands is False:
        bands = stage_bands(graph, nodes, tiles)
    if bands is None:
        return None
    carried = carry_rows(graph, nodes, bands, reverse) if carry else None
    if carry and carried is None:
        return None
    band_bytes, extra = [], 0
    for j, n in enumerate(nodes):
        _, h, w, c = graph.tensors[n.outputs[0]].shape
        band_bytes.append(max(b[j][2] for b in bands) * w * c * np.dtype(graph.tensors[n.outputs[0]].dtype).itemsize)
        rows = sum(b[j][2] for b in carried) if carried else sum(b[j][2] for b in bands)
        extra += macs(graph, n) * (max(rows, h) - h if carried else rows - h) // h
    st = {"nodes": [n.name for n in nodes], "tiles": tiles, "bands": bands, "band_bytes": band_bytes,
          "extra_macs": int(extra), "shift": overlap_shift(graph, nodes, bands, reverse), "reverse": reverse,
          "instructions": stage_instructions(graph, nodes, bands, carried)}
    if carried:
        st["carry"] = carried
    return st


class _Planner:
    """What one tile() call weighs again and again, computed once.  The graph does not change during
    the search (only the stages tried on it), so a stage is a function of (nodes, tiles, reverse,
    carry) and a plan a function of its stages: the rounds meet the same candidates around each peak,
    both searches (with and without line buffers) and _prune meet the same plans (KWS: 18,824
    make_stage calls of 1,504 stages, 8,822 plans of 3,141 tilings).  Plans are weighed first on their
    layout (plan_memory.layout: groups, lifetimes, sizes), which gives the bytes live at each step and
    a lower bound of the arena; a layout is packed only where the arena is needed (KWS: 59 of the
    3,141).  The search's choices are the same as when every candidate was planned in full."""

    def __init__(self, g: Graph):
        self.g = g
        self._stages, self._bands, self._plans, self._live, self._memo = {}, {}, {}, {}, {}

    def stage(self, nodes, tiles: int, reverse: bool = False, carry: bool = False):
        """make_stage, once per stage (the same dict each time: read only; _prune copies the stages
        it keeps before it writes "saves_bytes"); its four variants share one stage_bands."""
        names = tuple(n.name for n in nodes)
        key = (names, tiles, reverse, carry)
        if key not in self._stages:
            if (names, tiles) not in self._bands:
                self._bands[names, tiles] = stage_bands(self.g, nodes, tiles)
            self._stages[key] = make_stage(self.g, nodes, tiles, reverse, carry, self._bands[names, tiles])
        return self._stages[key]

    @staticmethod
    def _key(stages) -> tuple:
        """A tiling as memory_plan reads it: each stage is fixed by its nodes, bands and line buffers
        (in order: the stages' shifts are joined in that order)."""
        return tuple((tuple(s["nodes"]), s["tiles"], s["reverse"], "carry" in s) for s in stages)

    def layout(self, stages) -> Layout:
        """plan_memory.layout of g with Graph.tiling = stages (not kept: a layout holds a few dicts
        per tensor, and few are packed)."""
        return _with_tiling(self.g, stages, lambda g: layout(g, self._memo))

    def plan(self, stages) -> MemoryPlan:
        """memory_plan of g with Graph.tiling = stages."""
        key = self._key(stages)
        if key not in self._plans:
            self._plans[key] = pack(self.g, self.layout(stages))
        return self._plans[key]

    def arena(self, stages) -> int:
        """The arena with these stages."""
        return self.plan(stages).arena_size

    def live(self, stages) -> tuple:
        """Arena bytes live at each step with these stages (no packing), and the sum of their squares
        (what a round weighs a candidate's relief by)."""
        key = self._key(stages)
        if key not in self._live:
            live = live_bytes(self.g, self.layout(stages))
            self._live[key] = live, sum(v * v for v in live)
        return self._live[key]


def _with_tiling(g: Graph, stages, fn):
    """fn(g) with Graph.tiling = stages (set for the call, then put back)."""
    saved = g.tiling
    g.tiling = stages
    try:
        return fn(g)
    finally:
        g.tiling = saved


def _candidate_plan(p: _Planner, stages) -> tuple:
    """What a round weighs for one candidate (at most `budget` of them per round): the bytes live at
    each step and the sum of their squares (_Planner.live)."""
    return p.live(stages)


def _kind(graph: Graph, node) -> str:
    if node.op != "Conv2D":
        return "pool" if node.op in ("MaxPool2D", "AvgPool2D") else "other"
    w = graph.tensors[node.inputs[1]].shape
    if node.attrs.get("groups", 1) > 1:
        return "depthwise"
    return "pointwise" if tuple(w[1:3]) == (1, 1) else "conv"


def node_instructions(graph: Graph, node) -> float:
    """Estimated Cortex-M4 instructions of one whole (untiled) layer."""
    kind = _kind(graph, node)
    return INSTR_PER_MAC[kind] * macs(graph, node) + INSTR_PER_OUTPUT[kind] * graph.tensors[node.outputs[0]].size


def stage_instructions(graph: Graph, nodes, bands, carried=None) -> int:
    """Estimated instructions a stage adds to the untiled layers: its recomputed rows (halo overlap)
    at each layer's instructions per row, or with line buffers (`carried`, carry_rows) the kept rows'
    moves at COPY_PER_BYTE, and every band call after the first, which sets up each output channel of
    a row again (BAND_SETUP per output element of one row)."""
    extra = 0.0
    for j, n in enumerate(nodes):
        _, h, w, c = graph.tensors[n.outputs[0]].shape
        if carried:
            rows = max(h, sum(b[j][2] for b in carried))
            extra += COPY_PER_BYTE * sum(m[2] for b in carried for m in b[j][3]) * w * c
        else:
            rows = sum(b[j][2] for b in bands)
        extra += node_instructions(graph, n) * (rows - h) / h
        extra += BAND_SETUP[_kind(graph, n)] * w * c * (len(bands) - 1)
    return int(extra)


def _arena_goal(g: Graph) -> int | None:
    """Arena bytes the RAM budget leaves (graph.meta["ram_budget"], set by an explicit --ram): the
    budget minus the caller's input/output buffers and the state.  None: least RAM."""
    budget = g.meta.get("ram_budget")
    if budget is None:
        return None
    io = sum(g.tensors[t].nbytes for t in list(g.inputs) + list(g.outputs))
    state = sum(g.tensors[s.tensor].nbytes for s in g.state)
    return max(0, budget - io - state)


def tile(graph: Graph) -> Graph:
    g = graph.copy()
    g.tiling = []
    if g.meta.get("optimize") == "speed":            # every layer computed once, whole
        return g
    p = _Planner(g)
    goal = _arena_goal(g)
    base = p.arena([])
    if goal is not None and base <= goal:            # the budget holds the untiled plan: no recomputation
        return g
    cap = MAX_EXTRA * max(1.0, sum(node_instructions(g, n) for n in g.nodes))
    # two searches, the stages' intermediates recomputed (their band buffers may share bytes) or kept as
    # line buffers where they can (no recomputation, but each live through its stage, and the greedy
    # rounds then take other stages): the plan with the smaller arena, then fewer instructions
    best = None
    for carry in (False, True):
        chosen = _search(p, goal, base, cap, carry)
        key = (p.arena(chosen), sum(s["instructions"] for s in chosen))
        if best is None or key < best[0]:
            best = (key, chosen)
    if best[1]:
        g.tiling = copy.deepcopy(best[1])            # its own lists: the planner's stages share theirs
    return g


def _search(p: _Planner, goal, base: int, cap: float, carry_ok: bool) -> list:
    """The greedy rounds and _prune: the chosen stages; line buffers among the candidates if carry_ok."""
    g = p.g
    consumers = g.consumers()
    budget = max(MIN_PLANNED, PLAN_WORK // max(1, len(g.nodes)))
    chosen, arena = [], base
    variants = ((False, False), (True, False)) + (((False, True), (True, True)) if carry_ok else ())
    for _ in range(MAX_ROUNDS):
        if goal is not None and arena <= goal:
            break
        peak_step, sizes, live, profile = _peak(p, chosen)
        weight = p.live(chosen)[1]
        spent = sum(s["instructions"] for s in chosen)
        candidates = []
        for start in range(max(0, peak_step - MAX_STAGE_LEN + 1), peak_step + 1):
            for end in range(peak_step, min(len(g.nodes), start + MAX_STAGE_LEN)):
                nodes = g.nodes[start:end + 1]
                if not _chain_ok(g, nodes, consumers):
                    continue
                names = {n.name for n in nodes}
                kept = [s for s in chosen if not names & set(s["nodes"])]      # a candidate replaces what it overlaps
                kept_cost = sum(s["instructions"] for s in kept)
                for tiles in tile_counts(g, nodes):
                    for reverse, carry in variants:
                        st = p.stage(nodes, tiles, reverse, carry)
                        if st is None or kept_cost + st["instructions"] > cap:
                            continue
                        candidates.append((start, st, kept, st["instructions"] + kept_cost - spent))
        if len(candidates) > budget:                 # plan those that free the most bytes at the peak step
            candidates = sorted(candidates, key=lambda c: (-_saved_at(g, c[0], c[1], peak_step, sizes), c[3]))[:budget]
        floor = live - 1 if goal is None or live <= goal else goal
        found = None
        for _, st, kept, delta in candidates:
            prof, squares = _candidate_plan(p, kept + [st])
            now, less = prof[peak_step], weight - squares
            if now >= live or less <= 0:             # it must lower this step, and the live bytes overall
                continue
            # the cheapest stage that brings this step down to the goal (ties: the smaller arena); else
            # the most relief per instruction.  Only a tie needs the arena: the layouts are packed then
            key = (0, delta) if now <= floor else (1, -less / (1 + max(0, delta)), delta)
            if (found is None or key < found[0]
                    or key == found[0] and key[0] == 0 and p.arena(kept + [st]) < p.arena(found[1])):
                found = (key, kept + [st])
        if found is None:
            break
        chosen = found[1]
        arena = p.arena(chosen)
    return _prune(p, chosen, base, goal)


def _prune(p: _Planner, chosen: list, base: int, goal) -> list:
    """Cheapen the chosen stages, costliest first: drop a stage or give it fewer bands (either
    direction) where the arena stays within the goal (or the least arena found), or, without a goal,
    where the bytes given back are fewer than MIN_BYTES_PER_INSTRUCTION for each instruction saved.
    Then record what each kept stage saves: the arena without it minus the arena with all.
    An option whose live bytes at some step (a lower bound of its arena) already fail both tests is
    not packed."""
    g = p.g
    final = p.arena(chosen)
    if final >= base:
        return []
    limit = final if goal is None else max(final, goal)
    by_name = {n.name: n for n in g.nodes}
    changed = True
    while changed:
        changed = False
        for st in sorted(chosen, key=lambda s: -s["instructions"]):
            rest = [s for s in chosen if s is not st]
            nodes = [by_name[n] for n in st["nodes"]]
            options = [(None, 0)] + [(alt, alt["instructions"]) for t in tile_counts(g, nodes) if t < st["tiles"]
                                     for rev in (False, True) for carry in (False, True)
                                     if (alt := p.stage(nodes, t, rev, carry)) is not None]
            alt = None if st.get("carry") else p.stage(nodes, st["tiles"], st["reverse"], True)
            if alt is not None and alt["instructions"] < st["instructions"]:
                options.append((alt, alt["instructions"]))      # the same bands with line buffers
            now = p.arena(chosen)
            for alt, cost in sorted(options, key=lambda o: o[1]):
                stages = rest + ([alt] if alt else [])
                ok = lambda size: size <= limit or (goal is None and size - now < MIN_BYTES_PER_INSTRUCTION * (st["instructions"] - cost))
                if ok(max(p.live(stages)[0], default=0)) and ok(p.arena(stages)):
                    chosen = stages
                    changed = True
                    break
            if changed:
                break
    final = p.arena(chosen)
    if final >= base:
        return []
    chosen = [dict(st) for st in chosen]            # the planner's stages are shared: write on copies
    for st in chosen:
        st["saves_bytes"] = p.arena([s for s in chosen if s is not st]) - final
    step = {n.name: i for i, n in enumerate(g.nodes)}
    return sorted(chosen, key=lambda st: step[st["nodes"][0]])


def _saved_at(g: Graph, start: int, st: dict, step: int, sizes: dict) -> int:
    """Bytes a stage frees at `step`: its intermediates live there shrink to their bands."""
    saved = 0
    for j, band in enumerate(st["band_bytes"][:-1]):
        if start + j <= step <= start + j + 1:
            saved += sizes.get(g.nodes[start + j].outputs[0], band) - band
    return saved


def _peak(p: _Planner, stages):
    """The step where the planned arena holds the most live bytes, each tensor's planned size, the
    bytes live at that step and at every step."""
    plan = p.plan(stages)
    live = p.live(stages)[0]
    best = max(range(len(live)), key=lambda s: (live[s], -s)) if live else 0
    return best, {t: b["size"] for t, b in plan.buffers.items()}, (live[best] if live else 0), live
