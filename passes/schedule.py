"""schedule: order the nodes so that the bytes of live activations peak as low as possible.

Where a graph branches (ResNet skips, yolo routes, Concat fan-in), the order decides which tensors
wait: computing a ResNet block's 1x1 shortcut conv last keeps its input alive through the block,
computing it first keeps its (smaller) output alive instead.

* The start is `structural_order`: depth first from the outputs, inputs in slot order.  It depends
  only on the graph, not on the order the file listed the nodes in, and so does everything below
  (all ties are broken by it): the same network from two exporters (Keras lists a ShuffleNet unit's
  branches the other way round from its own ONNX export) gets the same schedule, tiles and arena.
* Exact: a dynamic program over the sets of executed nodes that can occur (down-sets of the DAG):
  best[S] = lowest peak that reaches S.  The order is first cut at the nodes every schedule passes
  alone (all earlier nodes are their ancestors, all later ones their descendants, no tensor skips
  them): the ranges between are independent, and each gets its own program, so a CNN of thousands
  of nodes costs a sum of small programs.  A range is exact while its states stay under MAX_STATES.
  Each range lowers its own peak, not only the whole graph's: once tile has cut the largest peak
  (a CNN's stem), the next range's peak is the arena.
* Among orders of equal peak, the one whose peak is lowest once row-band tiling (passes/tile.py)
  keeps the intermediates of adjacent row-local ops out of the arena (`_Costs.banded`): a branch's
  pointwise -> depthwise pair run back to back can be tiled, split by the other branch it cannot.
* Beyond that, for that range, a documented heuristic: repeatedly run the ready node that leaves the
  fewest live bytes (ties: frees the most, then the structural order).
* The result is never worse than the structural order, range by range: each range keeps the
  searched order only when its (peak, tiled peak) is lower (the structural order wins ties, so the
  pass is idempotent).

Live bytes count the storage `plan_memory` will place in the arena (aliases of the same bytes —
Reshape outputs, the inputs a Concat binds into its output — count once); the graph input and
output live in the caller's buffers.
"""
from __future__ import annotations

from dataclasses import replace

from ..compiler.ir import Graph
from ..compiler.plan import ScheduleFacts
from ..compiler.ops import table as ops_table

MAX_STATES = 200_000
ROW_LOCAL = tuple(ops_table("window"))     # the ops a row-band tiled stage chains (passes/tile.py)


class _Costs:
    """Sizes and readers per storage root: Reshape outputs, and Lut outputs whose input has no other
    reader (run in place), share their input's root; the inputs a Concat binds (passes/bind_concat.py:
    their producers write into its output) share the Concat output's, whole from the first of them
    written — as plan_memory will place them."""

    def __init__(self, g: Graph):
        self.g = g
        prod = g.producer()
        consumers = g.consumers()
        self.root = {}
        for t in g.activations():
            r = t
            while r in prod and not g.tensors[prod[r].inputs[0]].is_const and (
                    prod[r].op == "Reshape" or (prod[r].op == "Lut" and len(consumers.get(prod[r].inputs[0], [])) == 1
                                                and prod[r].inputs[0] not in g.inputs)):
                r = prod[r].inputs[0]
            self.root[t] = r
        joined = {}                                 # a bound input's root -> the Concat output's root
        for n in g.nodes:
            for t, bound in zip(n.inputs, n.attrs.get("bound", [])) if n.op == "Concat" else ():
                if bound and self.root[t] != self.root[n.outputs[0]]:
                    joined[self.root[t]] = self.root[n.outputs[0]]
        for t, r in self.root.items():
            while r in joined:
                r = joined[r]
            self.root[t] = r
        self.external = {self.root[t] for t in list(g.inputs) + list(g.outputs)}
        self.size = {}
        for t, r in self.root.items():
            self.size[r] = max(self.size.get(r, 0), g.tensors[t].nbytes)
        self.readers = {}
        for i, n in enumerate(g.nodes):
            for t in n.inputs:
                if t in self.root:
                    self.readers.setdefault(self.root[t], set()).add(i)
        self.out_root = [{self.root[o] for o in n.outputs} for n in g.nodes]
        self.in_root = [{self.root[t] for t in n.inputs if t in self.root} for n in g.nodes]
        # the bytes a row-band tiled stage (passes/tile.py) would keep out of the arena at each step:
        # an intermediate between two row-local ops, each with one activation input, read by nothing
        # else, while its reader runs, and while its writer runs less the reader's output (the stage
        # writes it band by band from its first node on); in between it is whole
        self.banded = [0] * len(g.nodes)
        bound = {t for n in g.nodes if n.op == "Concat" for t, b in zip(n.inputs, n.attrs.get("bound", [])) if b}
        index = {n.name: i for i, n in enumerate(g.nodes)}
        members = {}
        for r in self.root.values():
            members[r] = members.get(r, 0) + 1

        def row_local(n):
            acts = [t for t in n.inputs if not g.tensors[t].is_const]
            return (n.op in ROW_LOCAL and len(acts) == 1 and len(g.tensors[acts[0]].shape) == 4
                    and len(g.tensors[n.outputs[0]].shape) == 4 and g.tensors[n.outputs[0]].shape[0] == 1)
        for i, n in enumerate(g.nodes):
            t = n.outputs[0] if n.outputs else None
            readers = consumers.get(t, [])
            if (t is not None and row_local(n) and len(readers) == 1 and row_local(readers[0]) and self.root[t] == t
                    and t not in self.external and readers[0].outputs[0] not in bound
                    and members[t] == 1):
                self.banded[i] += max(0, self.size[t] - self.size.get(self.root[readers[0].outputs[0]], 0))
                self.banded[index[readers[0].name]] += self.size[t]

    def arena(self, r):
        return 0 if r in self.external else self.size[r]


def peak_live_bytes(graph: Graph) -> int:
    """Peak over steps of the arena bytes live while each node runs (its inputs and outputs included)."""
    return max((p for p, _ in _profile(_Costs(graph), range(len(graph.nodes)))), default=0)


def _profile(c: _Costs, order) -> list:
    """(arena bytes live, the same less what row bands would keep out) at each step when the nodes
    run in `order` (indices into c.g.nodes)."""
    done, live, out = set(), set(), []
    for i in order:
        live |= c.out_root[i]
        now = sum(c.arena(r) for r in live)
        out.append((now, now - c.banded[i]))
        done.add(i)
        live = {r for r in live if not c.readers.get(r, set()) <= done}
    return out


def predecessors(g: Graph):
    prod = {o: i for i, n in enumerate(g.nodes) for o in n.outputs}
    return [{prod[t] for t in n.inputs if t in prod} for n in g.nodes]


def segments(g: Graph, preds) -> list:
    """The topological order cut into ranges [a, b] that every schedule keeps apart: node b of a range
    has every earlier node as an ancestor and every later one as a descendant, and no tensor skips
    over it.  Ranges are scheduled one after the other, each on its own (linear for CNN chains)."""
    n = len(g.nodes)
    cover, has_reader = [0] * (n + 1), [False] * n
    for w in range(n):
        for u in preds[w]:
            has_reader[u] = True
            if w - u > 1:                          # the tensor u -> w is live across u+1 .. w-1
                cover[u + 1] += 1
                cover[w] -= 1
    first_sink = next((u for u in range(n) if not has_reader[u]), n)
    last_source = max((w for w in range(n) if not preds[w]), default=-1)
    ranges, start, acc = [], 0, 0
    for p in range(n):
        acc += cover[p]
        if acc == 0 and last_source <= p <= first_sink:
            ranges.append((start, p))
            start = p + 1
    if start < n:
        ranges.append((start, n - 1))
    return ranges


def _producers(c: _Costs, n: int) -> dict:
    """Storage root -> the nodes that write it (several for a Concat's bound inputs)."""
    produced_by = {}
    for i in range(n):
        for r in c.out_root[i]:
            produced_by.setdefault(r, []).append(i)
    return produced_by


def _exact(g: Graph, c: _Costs, preds, produced_by, a: int, b: int):
    """Lowest-peak order of nodes a..b (all earlier nodes done, none later), as a dynamic program
    over the down-sets of the range: best[S] = lowest peak of the range's own steps that reaches S.
    (order, peak), or None past MAX_STATES."""
    k = b - a + 1
    full = (1 << k) - 1
    # the storage live in the range: (written before a, local writers mask, local readers mask, read
    # after b, bytes); it is live from its first writer on
    roots = []
    for r, writers in produced_by.items():
        readers = c.readers.get(r, ())
        before = any(i < a for i in writers)
        local = sum(1 << (i - a) for i in writers if a <= i <= b)
        if (local or (before and any(j >= a for j in readers))) and c.arena(r):
            roots.append((before, local, sum(1 << (j - a) for j in readers if a <= j <= b),
                          any(j > b for j in readers), c.arena(r)))
    local_preds = [sum(1 << (p - a) for p in preds[v] if p >= a) for v in range(a, b + 1)]

    def live_after(mask):
        return sum(size for before, w, rd, later, size in roots
                   if (before or w & mask) and (later or rd & ~mask))

    writes = [[(w, size) for before, w, rd, later, size in roots if w >> v & 1 and not before] for v in range(k)]

    def new_out(mask, v):                    # what v writes that no earlier writer made live
        return sum(size for w, size in writes[v] if not w & mask)

    banded = c.banded[a:b + 1]
    best = {0: ((0, 0), None, None)}         # mask -> ((peak, peak less row bands), previous mask, node)
    frontier = [0]
    while frontier:
        nxt = {}
        for mask in frontier:
            peak, tiled = best[mask][0]
            base = live_after(mask)
            for v in range(k):
                if mask >> v & 1 or local_preds[v] & ~mask:
                    continue
                now = base + new_out(mask, v)
                step_peak = (max(peak, now), max(tiled, now - banded[v]))
                m2 = mask | (1 << v)
                if m2 not in best or step_peak < best[m2][0] or (step_peak == best[m2][0] and v < best[m2][2]):
                    best[m2] = (step_peak, mask, v)
                    nxt[m2] = True
                if len(best) > MAX_STATES:
                    return None
        frontier = sorted(nxt)
    order, mask = [], full
    while mask:
        _, prev, v = best[mask]
        order.append(a + v)
        mask = prev
    return order[::-1], best[full][0]


def _greedy(g: Graph, c: _Costs, preds, a: int, b: int):
    """Nodes a..b (all earlier ones done): repeatedly the ready node that leaves the fewest live bytes
    (ties: frees the most, then the original order)."""
    done = set(range(a))
    live = {r for i in range(a) for r in c.out_root[i] if not c.readers.get(r, set()) <= done}
    waiting = {v: len({p for p in preds[v] if p >= a}) for v in range(a, b + 1)}
    succs = {}
    for v in range(a, b + 1):
        for p in preds[v]:
            if p >= a:
                succs.setdefault(p, []).append(v)
    ready, order = {v for v, w in waiting.items() if w == 0}, []
    while ready:
        def score(v):
            after = {r for r in live | c.out_root[v] if not c.readers.get(r, set()) <= done | {v}}
            freed = sum(c.arena(r) for r in live - after)
            return (sum(c.arena(r) for r in after), -freed, v)
        v = min(ready, key=score)
        ready.discard(v)
        done.add(v)
        order.append(v)
        live = {r for r in live | c.out_root[v] if not c.readers.get(r, set()) <= done}
        for w in succs.get(v, ()):
            waiting[w] -= 1
            if waiting[w] == 0:
                ready.add(w)
    return order


def _search(g: Graph, c: _Costs):
    """Per range (a, b, order of its nodes, exact): the order with the lowest peak of the range's own
    steps, exact where its down-sets stay under MAX_STATES, the greedy order elsewhere."""
    preds = predecessors(g)
    produced_by = _producers(c, len(g.nodes))
    parts = []
    for a, b in segments(g, preds):
        found = _exact(g, c, preds, produced_by, a, b)
        parts.append((a, b, found[0], True) if found is not None else (a, b, _greedy(g, c, preds, a, b), False))
    return parts


def structural_order(graph: Graph) -> Graph:
    """The nodes in an order that depends only on the graph's structure, not on the order the file
    listed them in: depth first from the graph outputs (then the state tensors a stateful model keeps,
    then any node no output reads), each node's inputs visited deepest first (slot order among equals),
    every node placed after its inputs (a post-order).  Two exporters' files of the same network (ONNX lists a
    ShuffleNet unit's branches the other way round from Keras) give the same order, so the schedule's
    ties, the tiled stages and the arena come out the same.  Depth first also keeps each chain of
    single-reader nodes together, as a row-band tiled stage needs (passes/tile.py)."""
    g = graph.toposorted()
    prod = {o: i for i, n in enumerate(g.nodes) for o in n.outputs}
    roots = list(g.outputs) + [s.next for s in g.state]
    roots = [prod[t] for t in roots if t in prod] + list(range(len(g.nodes)))
    depth = [0] * len(g.nodes)                     # the longest chain of nodes ending at each node
    for i, n in enumerate(g.nodes):
        depth[i] = 1 + max((depth[prod[t]] for t in n.inputs if t in prod), default=0)
    # inputs deepest first (Sethi-Ullman): a long chain (an unrolled loop's state) runs before a short
    # one (that step's input projection), so the short one's result is made just before it is read
    slots = [sorted(range(len(n.inputs)), key=lambda k, n=n: (-depth[prod[n.inputs[k]]] if n.inputs[k] in prod else 0, k))
             for n in g.nodes]
    placed, order = [False] * len(g.nodes), []
    for root in roots:
        if placed[root]:
            continue
        stack = [(root, 0)]                        # (node, next of its input slots to visit)
        while stack:
            v, k = stack[-1]
            ins, at = g.nodes[v].inputs, slots[v]
            while k < len(ins) and (ins[at[k]] not in prod or placed[prod[ins[at[k]]]]):
                k += 1
            if k < len(ins):
                stack[-1] = (v, k + 1)
                stack.append((prod[ins[at[k]]], 0))
            else:
                stack.pop()
                if not placed[v]:
                    placed[v] = True
                    order.append(v)
    h = g.copy()
    h.nodes = [replace(g.nodes[i]) for i in order]
    return h


def schedule(graph: Graph) -> Graph:
    g = structural_order(graph)
    c = _Costs(g)
    parts = _search(g, c)
    given = _profile(c, range(len(g.nodes)))
    found = _profile(c, [v for _, _, part, _ in parts for v in part])
    order = []
    for a, b, part, _ in parts:                    # per range, never worse than the structural order
        worst = lambda prof: (max(p for p, _ in prof[a:b + 1]), max(t for _, t in prof[a:b + 1]))
        order += part if worst(found) < worst(given) else range(a, b + 1)
    best = g.copy()
    best.nodes = [replace(g.nodes[i]) for i in order]
    best.schedule = ScheduleFacts(peak_live_bytes(best), "exact" if all(p[3] for p in parts) else "greedy",
                                  max((p for p, _ in given), default=0))
    return best
