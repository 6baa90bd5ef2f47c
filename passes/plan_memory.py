"""plan_memory: give every activation a place — the caller's input or output buffer, or an offset in
one static arena — from tensor lifetimes over the node order.

* Reshape never moves data: its output aliases its input (same bytes, same place).
* Lut (every element-wise unary op), Add/Sub/Mul on an operand shaped like their output, and
  Requantize int16 -> int8, run in place when that input dies there.
* A tiled stage with a "shift" (passes/tile.py) writes its output over its dying input, `shift` bytes
  below it: each row band's output lands on input rows no band reads any more (TinyEngine-style
  in-place execution, at row granularity, for any row-local op).
* Sizes are bytes: an int16 activation takes two per element (Tensor.nbytes).
* The graph input is read from the caller's buffer and the graph output is written straight into
  the caller's buffer, so neither costs arena bytes.
* State tensors (Graph.state: a streaming model's resource variables) live in their own static
  buffer ("where": "state", offsets in Graph.plan.state_size bytes), never overwritten by a node;
  the tensors assigned to them live to the end of the run, when the C copies them into the state.
* The remaining buffers are packed by several strategies (first fit largest first, as TFLM does; by
  breadth = size x lifetime; earliest first; best fit largest first) and the smallest arena wins.
  Offsets are 4-byte aligned for word access.

The result is `Graph.plan`, a compiler/plan.MemoryPlan: arena_size, strategy, buffers {tensor: {"where",
"offset", "size", ...}}, scratch {node: {"offset", "size", "step"}}; `validate_plan` checks that no two live
buffers overlap.  Scratch buffers (Graph.scratch: node -> bytes, chosen by plan_scratch) live
only while their node runs.
"""
from __future__ import annotations

import bisect
from typing import NamedTuple

import numpy as np

from ..compiler.ir import Graph
from ..compiler.plan import MemoryPlan
from ..compiler.recurrent import scratch_bytes

ALIGN = 4


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _in_place_candidates(graph: Graph, node) -> list:
    """Inputs whose bytes the node may overwrite with its output: element i of the output is written
    only after element i of that input was read (Lut; Add/Sub/Mul on an operand shaped like the output)."""
    if node.op == "Lut":
        return [node.inputs[0]]
    if node.op == "Requantize" and graph.tensors[node.inputs[0]].dtype == "int16":
        return [node.inputs[0]]             # int8 byte i is written after int16 element i (bytes 2i, 2i+1) was read
    if node.op in ("Add", "Sub", "Mul"):
        out_shape = graph.tensors[node.outputs[0]].shape
        return [t for t in node.inputs if not graph.tensors[t].is_const and graph.tensors[t].shape == out_shape]
    return []


def _groups(graph: Graph, no_in_place=frozenset()):
    """Union tensors that share storage; returns {tensor: root}.  Linear: each group keeps its members
    and the facts the checks need (holds the graph input / output, largest tensor, last reader)."""
    states = [s.tensor for s in graph.state]
    parent = {t: t for t in graph.activations() + states}
    members = {t: [t] for t in parent}
    last_use = {}
    for step, node in enumerate(graph.nodes):
        for i in node.inputs:
            last_use[i] = step
    inputs, outputs = set(graph.inputs) | set(states), set(graph.outputs)
    keep = outputs | {s.next for s in graph.state if s.next in parent}
    has_input = {t: t in inputs for t in parent}          # not to be overwritten: the caller's input, a state
    has_output = {t: t in keep for t in parent}           # live to the end of the run
    biggest = {t: graph.tensors[t].nbytes for t in parent}
    last = {t: last_use.get(t, -1) for t in parent}
    edges = {t: {t} & (set(graph.inputs) | set(graph.outputs)) for t in parent}   # the caller's buffers it holds

    def find(t):
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    def union(t, root):
        """The group of t joins root's group (root stays the root)."""
        r = find(t)
        if r == root:
            return
        parent[r] = root
        small, big = sorted((members.pop(r), members[root]), key=len)
        big.extend(small)
        members[root] = big
        has_input[root] |= has_input[r]
        has_output[root] |= has_output[r]
        biggest[root] = max(biggest[root], biggest[r])
        last[root] = max(last[root], last[r])
        edges[root] |= edges[r]

    # each caller buffer is its own: a group holds at most one graph input or output (two outputs, one
    # a Reshape of the other, are two buffers the caller gives: that Reshape becomes a copy)
    one_edge = lambda a, b: len(edges[find(a)] | edges[find(b)]) <= 1

    # A group that takes in the graph output lives in the caller's output buffer: none of its tensors
    # may need more bytes than the output (an int16 tensor requantized in place to an int8 output).
    fits_caller = lambda root, out: out not in outputs or biggest[root] <= graph.tensors[out].nbytes
    for step, node in enumerate(graph.nodes):
        for t, bound in zip(node.inputs, node.attrs.get("bound", [])) if node.op == "Concat" else ():
            if bound:                                  # the producer writes inside the Concat's buffer
                union(t, find(node.outputs[0]))
        src = node.inputs[0] if node.inputs else None
        if src is None or graph.tensors[src].is_const:
            continue
        if node.op == "Reshape":
            root = find(src)
            if not (has_input[root] and node.outputs[0] in outputs) and fits_caller(root, node.outputs[0]) \
                    and one_edge(root, node.outputs[0]):
                union(node.outputs[0], root)
        elif node.name not in no_in_place:
            for cand in _in_place_candidates(graph, node):
                root = find(cand)
                dies_here = last[root] <= step and not has_output[root]
                if dies_here and not has_input[root] and fits_caller(root, node.outputs[0]) and one_edge(root, node.outputs[0]):
                    union(node.outputs[0], root)
                    break
    return {t: find(t) for t in parent}


def concat_slices(graph: Graph) -> dict:
    """{tensor: (element offset inside the Concat output, pixel stride or None)} for bound Concat
    inputs and the Reshape inputs aliased to them.  Strided slices (channels of an NHWC map) are
    written by a Conv2D at a pixel stride of the concatenated channel count."""
    prod = graph.producer()
    out = {}
    for node in graph.nodes:
        if node.op != "Concat" or not any(node.attrs.get("bound", [])):
            continue
        axis, shape = node.attrs["axis"], graph.tensors[node.outputs[0]].shape
        contiguous = int(np.prod(shape[:axis])) == 1
        inner = int(np.prod(shape[axis + 1:]))
        offset = 0
        for t, bound in zip(node.inputs, node.attrs["bound"]):
            if bound:
                entry = (offset * inner, None) if contiguous else (offset, shape[3])
                out[t] = entry
                if prod[t].op == "Reshape":
                    out[prod[t].inputs[0]] = entry
            offset += graph.tensors[t].shape[axis]
    return out


def scratch_key(node: str) -> str:
    """A node's scratch among the tensor buffers (NUL first: no tensor name starts with it)."""
    return "\0" + node


def _lifetimes(graph: Graph, root_of):
    life = {}
    n = len(graph.nodes)
    for t in graph.inputs:
        life[root_of[t]] = [0, 0]
    for s in graph.state:                           # persistent: live over the whole run
        life[root_of[s.tensor]] = [0, n]
    for step, node in enumerate(graph.nodes):
        for t in node.outputs:
            r = root_of[t]
            life.setdefault(r, [step, step])
            life[r][0] = min(life[r][0], step)
            life[r][1] = max(life[r][1], step)
        for t in node.inputs:
            if t in root_of:
                life[root_of[t]][1] = max(life[root_of[t]][1], step)
    for t in graph.outputs:
        life[root_of[t]][1] = n
    for s in graph.state:
        if s.next in root_of:                       # copied into the state after the last node
            life[root_of[s.next]][1] = n
    return life


#: Buffers living longer than this many steps are checked against every placement; shorter ones are
#: found by their first step (bisect), so placing stays near-linear on long graphs.
_LONG = 8


def place_buffers(order, sizes, life, best_fit=False):
    """Place buffers in `order`: first fit (lowest offset) or best fit (the smallest gap that holds it,
    else on top), against the buffers already placed whose lifetimes overlap."""
    starts, short, long_ = [], [], []              # short: (start, end, offset, size), sorted by start
    offsets = {}
    for b in order:
        s, (lo, hi) = sizes[b], life[b]
        i = bisect.bisect_left(starts, lo - _LONG)
        j = bisect.bisect_right(starts, hi)
        clashes = sorted([(o, sz) for a, z, o, sz in short[i:j] if not (z < lo or hi < a)]
                         + [(o, sz) for a, z, o, sz in long_ if not (z < lo or hi < a)])
        gaps, cursor = [], 0
        for o, sz in clashes:
            if o - cursor >= s:
                gaps.append((o - cursor, cursor))
            cursor = max(cursor, _align(o + sz))
        if gaps:
            off = min(gaps)[1] if best_fit else min(g[1] for g in gaps)
        else:
            off = cursor
        offsets[b] = off
        if hi - lo > _LONG:
            long_.append((lo, hi, off, s))
        else:
            k = bisect.bisect_right(starts, lo)
            starts.insert(k, lo)
            short.insert(k, (lo, hi, off, s))
    size = max((offsets[b] + sizes[b] for b in offsets), default=0)
    return offsets, _align(size)


def by_size(bufs, sizes, life, pos):
    return sorted(bufs, key=lambda b: (-sizes[b], life[b][0], life[b][1], pos[b]))


def by_breadth(bufs, sizes, life, pos):
    """TFLM's order: longest-lived first among equals in size class (size x lifetime as breadth)."""
    return sorted(bufs, key=lambda b: (-(sizes[b] * (life[b][1] - life[b][0] + 1)), -sizes[b], life[b][0], pos[b]))


#: Each strategy orders the buffers by sizes and lifetimes; equal buffers by `pos`, their place in the
#: node order (the structural one, passes/schedule.py), never by tensor name: the same network from two
#: exporters (or two namings) packs the same way.
STRATEGIES = {
    "greedy_by_size": lambda bufs, sizes, life, pos: place_buffers(by_size(bufs, sizes, life, pos), sizes, life),
    "greedy_by_breadth": lambda bufs, sizes, life, pos: place_buffers(by_breadth(bufs, sizes, life, pos), sizes, life),
    # equal sizes: the one that lives longest into the run first (what is placed late packs around it)
    "greedy_by_size_latest_end": lambda bufs, sizes, life, pos: place_buffers(
        sorted(bufs, key=lambda b: (-sizes[b], -life[b][1], life[b][0], pos[b])), sizes, life),
    "greedy_by_start": lambda bufs, sizes, life, pos: place_buffers(
        sorted(bufs, key=lambda b: (life[b][0], -sizes[b], life[b][1], pos[b])), sizes, life),
    "best_fit_by_size": lambda bufs, sizes, life, pos: place_buffers(by_size(bufs, sizes, life, pos), sizes, life,
                                                              best_fit=True),
}


def _positions(g: Graph, root_of: dict, scratch: dict) -> dict:
    """Buffer -> its place in the node order: graph inputs and states first, then node by node its
    scratch and the groups its outputs start (slot order).  Unique per buffer, name-free."""
    pos = {}
    states = [s.tensor for s in g.state]
    for t in list(g.inputs) + states:
        if t in root_of:
            pos.setdefault(root_of[t], len(pos))
    for n in g.nodes:
        if scratch_key(n.name) in scratch:
            pos.setdefault(scratch_key(n.name), len(pos))
        for t in n.outputs:
            if t in root_of:
                pos.setdefault(root_of[t], len(pos))
    for t in root_of.values():                     # (every group has a writer or is an input; kept total)
        pos.setdefault(t, len(pos))
    return pos


def _tiled(g: Graph):
    """From Graph.tiling: band bytes of stage intermediates, nodes that must not run in place (a
    stage's first and last node: whole tensor on one side, band on the other), and lifetime fixes."""
    band, fixed, step = {}, set(), {n.name: i for i, n in enumerate(g.nodes)}
    by_name = {n.name: n for n in g.nodes}
    spans = []
    for st in g.tiling:
        nodes = [by_name[n] for n in st["nodes"]]
        for j, n in enumerate(nodes[:-1]):
            band[n.outputs[0]] = st["band_bytes"][j]
        fixed.update((nodes[0].name, nodes[-1].name))
        spans.append((step[nodes[0].name], step[nodes[-1].name], nodes, st))
    return band, fixed, spans


def _members(root_of: dict) -> dict:
    """{root: the tensors of its group}, in root_of's order."""
    members = {}
    for t, r in root_of.items():
        members.setdefault(r, []).append(t)
    return members


def _overlap(root_of: dict, life: dict, where: dict, spans, slices: dict, members: dict) -> dict:
    """A tiled stage with a "shift" (passes/tile.py) may write its output over its input: every band
    writes its output rows below the input rows that this band (one-node stage) or later bands still
    read, when the output starts `shift` bytes below the input.  Where the input's group dies within
    the stage and both groups are plain arena buffers (no caller buffer, state or Concat slice), the
    input's group joins the output's at that byte offset.  Updates root_of and life; returns
    {tensor: byte offset inside its group's buffer} for the tensors that do not start at its base.
    `members`: _members(root_of), left as it is (the joined groups get new lists)."""
    inner, members = {}, dict(members)
    for s0, s1, nodes, st in spans:
        if st.get("shift") is None:
            continue
        x = [t for t in nodes[0].inputs if t in root_of][0]
        y = nodes[-1].outputs[0]
        rx, ry = root_of[x], root_of[y]
        if (rx == ry or where.get(rx) != "arena" or where.get(ry) != "arena" or life[rx][1] > s1
                or any(t in slices for t in members[rx] + members[ry])):
            continue
        base = inner.get(y, 0) + st["shift"] - inner.get(x, 0)
        for t in members[rx]:
            inner[t] = inner.get(t, 0) + base
            root_of[t] = ry
        members[ry] = members[ry] + members.pop(rx)
        low = min(inner.get(t, 0) for t in members[ry])
        for t in members[ry]:
            inner[t] = inner.get(t, 0) - low
        life[ry] = [min(life[rx][0], life[ry][0]), max(life[rx][1], life[ry][1])]
        del life[rx], where[rx]
    return {t: o for t, o in inner.items() if o}


def plan_memory(graph: Graph) -> Graph:
    g = graph.copy(drop_meta=("plan",))
    g.plan = memory_plan(g)
    return g


def memory_plan(g: Graph) -> MemoryPlan:
    """The plan of `g` as it stands (Graph.tiling, Graph.scratch), without copying the graph:
    what plan_memory stores, for passes that weigh many candidate plans (tile, plan_scratch)."""
    return pack(g, layout(g))


class Layout(NamedTuple):
    """Everything of a plan but the offsets: which tensors share a buffer, each buffer's bytes and
    lifetime.  Packing (the five STRATEGIES) costs most of a plan; the bytes live at each step
    (live_bytes) need only this, so the tiling search weighs a candidate on its layout and packs only
    those that could win."""
    root_of: dict           # tensor -> the root of its group
    where: dict             # root -> "arena", "output", "input" or "state"
    life: dict              # buffer (root or scratch key) -> [first step, last step]
    inner: dict             # tensor -> byte offset inside its group (a shifted stage's input)
    band: dict              # stage intermediate -> its band's bytes
    bufs: list              # the arena's buffers: group roots (by name), then scratch keys
    sizes: dict             # buffer -> aligned bytes
    scratch: dict           # scratch key -> bytes
    state_offsets: dict     # root -> offset in the state buffer
    state_size: int | None  # bytes of the state buffer, None for a stateless graph


def layout(g: Graph, memo: dict | None = None) -> Layout:
    """The groups, lifetimes and sizes of g's buffers as memory_plan packs them.  `memo`: a dict kept by
    a caller that plans one graph under many tilings (tile's search: the nodes, tensors, scratch and
    wide layers stay the same, only Graph.tiling changes), where what does not depend on the tiling is
    computed once: tensor bytes, the scratch, the Concat slices, and the groups and lifetimes for each
    set of nodes a tiling keeps from running in place (KWS: 3,141 tilings, 65 such sets)."""
    memo = {} if memo is None else memo
    band, no_in_place, spans = _tiled(g)
    key = ("groups", frozenset(no_in_place))
    if key not in memo:
        root_of = _groups(g, no_in_place)
        life = _lifetimes(g, root_of)
        rank, inputs, outputs = {}, set(g.inputs), set(g.outputs)
        states = [s.tensor for s in g.state]
        for t, r in root_of.items():               # a group holding the graph input / output / a state lives there
            rank[r] = max(rank.get(r, 0), 3 if t in states else 2 if t in inputs else 1 if t in outputs else 0)
        where = {r: ("arena", "output", "input", "state")[k] for r, k in rank.items()}
        memo[key] = root_of, life, where, _members(root_of)
    if "nbytes" not in memo:
        step_of = {n.name: i for i, n in enumerate(g.nodes)}
        needed = {n.name: b for n in g.nodes if (b := scratch_bytes(g, n))}     # kernels that cannot run without
        needed.update({k: b for k, b in g.wide.layers.items() if b})     # wide pointwise convs' columns (plan_wide)
        memo["scratch"] = {scratch_key(node): (nbytes, step_of[node])
                           for node, nbytes in sorted({**needed, **g.scratch}.items())}
        memo["slices"] = concat_slices(g)
        memo["nbytes"] = {t: g.tensors[t].nbytes for t in memo[key][0]}
    # the copies this tiling changes: _overlap joins groups, the stages stretch lifetimes (each a new
    # [first, last]: the memo's lists stay as they are)
    root_of, life, where = dict(memo[key][0]), dict(memo[key][1]), dict(memo[key][2])
    nbytes = memo["nbytes"]
    for s0, s1, nodes, st in spans:
        # A stage runs its nodes band by band: within a band, intermediate j still lives only from
        # node j to node j+1 (the next band reuses the same bytes), but the stage's input and output
        # are read and written by every band, so they span the whole stage.
        src = root_of[[t for t in nodes[0].inputs if t in root_of][0]]
        life[src] = [life[src][0], max(life[src][1], s1)]
        dst = root_of[nodes[-1].outputs[0]]
        life[dst] = [min(life[dst][0], s0), life[dst][1]]
        if st.get("carry"):     # line buffers (tile.carry_rows): each band buffer keeps rows for the next band
            for n in nodes[:-1]:
                r = root_of[n.outputs[0]]
                life[r] = [min(life[r][0], s0), max(life[r][1], s1)]
    states = [s.tensor for s in g.state]
    inner = _overlap(root_of, life, where, spans, memo["slices"], memo[key][3])
    state_offsets, state_size = {}, 0
    for t in states:
        state_offsets[root_of[t]] = state_size
        state_size = _align(state_size + g.tensors[t].nbytes)
    bufs = sorted(r for r in where if where[r] == "arena")
    sizes = {r: 0 for r in bufs}
    for t, r in root_of.items():
        if r in sizes:
            sizes[r] = max(sizes[r], _align(inner.get(t, 0) + band.get(t, nbytes[t])))
    scratch = {}
    for k, (size, step) in memo["scratch"].items():
        scratch[k] = size
        bufs.append(k)
        sizes[k] = _align(size)
        life[k] = [step, step]
    return Layout(root_of, where, life, inner, band, bufs, sizes, scratch, state_offsets,
                  state_size if states else None)


def live_bytes(g: Graph, lay: Layout) -> list:
    """Arena bytes live at each step of a layout: every group once with its whole extent, and the
    scratch (its unaligned bytes, as MemoryPlan.scratch records them).  A lower bound of the arena the
    layout packs into: buffers live at one step never share bytes."""
    live = [0] * (len(g.nodes) + 1)
    for b in lay.bufs:                               # a difference array: linear in buffers and steps
        size = lay.scratch.get(b, lay.sizes[b])
        first, last = lay.life[b]
        live[first] += size
        live[min(last, len(g.nodes) - 1) + 1] -= size
    acc, out = 0, []
    for s in range(len(g.nodes)):
        acc += live[s]
        out.append(acc)
    return out


def pack(g: Graph, lay: Layout) -> MemoryPlan:
    """The plan of a layout: its buffers packed by every strategy, the smallest arena kept."""
    root_of, where, life, inner, band = lay.root_of, lay.where, lay.life, lay.inner, lay.band
    pos = _positions(g, root_of, lay.scratch)
    bufs = sorted(lay.bufs, key=pos.__getitem__)
    best = None
    for name, strategy in STRATEGIES.items():
        offsets, size = strategy(bufs, lay.sizes, life, pos)
        if best is None or size < best[2]:
            best = (name, offsets, size)
    name, offsets, arena = best
    slices = concat_slices(g)
    buffers = {}
    for t, r in root_of.items():
        buffers[t] = {"where": where[r], "offset": lay.state_offsets.get(r, offsets.get(r, 0)) + inner.get(t, 0),
                      "size": band.get(t, g.tensors[t].nbytes),
                      "first": life[r][0], "last": life[r][1], "root": r, "band": t in band,
                      "slice": slices.get(t)}
        if where[r] == "arena":                    # the whole group's bytes (a shifted stage's input and output)
            buffers[t].update(group_offset=offsets[r], group_size=lay.sizes[r])
    return MemoryPlan(arena, name, buffers, {key[1:]: {"offset": offsets[key], "size": nbytes, "step": life[key][0]}
                                             for key, nbytes in lay.scratch.items()}, lay.state_size)


def validate_plan(graph: Graph) -> None:
    """Raise AssertionError when two arena buffers that are live at the same step overlap."""
    bufs = {}
    for t, b in graph.plan.buffers.items():
        if b["where"] == "arena" and t == b["root"]:
            bufs[b["root"]] = dict(b, offset=b.get("group_offset", b["offset"]), size=b.get("group_size", b["size"]))
    for node, b in graph.plan.scratch.items():
        bufs[scratch_key(node)] = dict(b, first=b["step"], last=b["step"])
    items = sorted(bufs.items())
    for i, (ra, a) in enumerate(items):
        assert a["offset"] + a["size"] <= graph.plan.arena_size, ra
        for rb, b in items[i + 1:]:
            live_together = not (a["last"] < b["first"] or b["last"] < a["first"])
            apart = a["offset"] + a["size"] <= b["offset"] or b["offset"] + b["size"] <= a["offset"]
            assert not live_together or apart, f"{ra} and {rb} overlap while both live"
