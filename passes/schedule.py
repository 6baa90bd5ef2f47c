"""schedule: order the nodes so that the bytes of live activations peak as low as possible.

Where a graph branches (ResNet skips, yolo routes, Concat fan-in), the order decides which tensors
wait: computing a ResNet block's 1x1 shortcut conv last keeps its input alive through the block,
computing it first keeps its (smaller) output alive instead.

* Exact: a dynamic program over the sets of executed nodes that can occur (down-sets of the DAG):
  best[S] = lowest peak that reaches S.  The order is first cut at the nodes every schedule passes
  alone (all earlier nodes are their ancestors, all later ones their descendants, no tensor skips
  them): the ranges between are independent, and each gets its own program, so a CNN of thousands
  of nodes costs a sum of small programs.  A range is exact while its states stay under MAX_STATES.
* Beyond that, for that range, a documented heuristic: repeatedly run the ready node that leaves the
  fewest live bytes (ties: frees the most, then original order).
* The result is never worse than the original topological order: all candidates are scored with
  `peak_live_bytes` and the best is kept (the original order wins ties, so the pass is idempotent).

Live bytes count the storage `plan_memory` will place in the arena (aliases of the same bytes —
Reshape outputs — count once); the graph input and output live in the caller's buffers.
"""
from __future__ import annotations

from dataclasses import replace

from ..compiler.ir import Graph

MAX_STATES = 200_000


class _Costs:
    """Sizes and readers per storage root: Reshape outputs, and Lut outputs whose input has no other
    reader (run in place), share their input's root — as plan_memory will place them."""

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
        self.external = {self.root[t] for t in list(g.inputs) + list(g.outputs)}
        self.size = {r: g.tensors[r].nbytes for r in set(self.root.values())}
        self.readers = {}
        for i, n in enumerate(g.nodes):
            for t in n.inputs:
                if t in self.root:
                    self.readers.setdefault(self.root[t], set()).add(i)
        self.out_root = [{self.root[o] for o in n.outputs} for n in g.nodes]
        self.in_root = [{self.root[t] for t in n.inputs if t in self.root} for n in g.nodes]

    def arena(self, r):
        return 0 if r in self.external else self.size[r]


def peak_live_bytes(graph: Graph) -> int:
    """Peak over steps of the arena bytes live while each node runs (its inputs and outputs included)."""
    c = _Costs(graph)
    done, live, peak = set(), set(), 0
    for i, node in enumerate(graph.nodes):
        live |= c.out_root[i]
        peak = max(peak, sum(c.arena(r) for r in live))
        done.add(i)
        live = {r for r in live if not c.readers.get(r, set()) <= done}
    return peak


def _preds(g: Graph):
    prod = {o: i for i, n in enumerate(g.nodes) for o in n.outputs}
    return [{prod[t] for t in n.inputs if t in prod} for n in g.nodes]


def _segments(g: Graph, preds) -> list:
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
    produced_by = {}
    for i in range(n):
        for r in c.out_root[i]:
            produced_by[r] = i
    return produced_by


def _exact(g: Graph, c: _Costs, preds, produced_by, a: int, b: int, peak0: int):
    """Lowest-peak order of nodes a..b (all earlier nodes done, none later), as a dynamic program
    over the down-sets of the range: best[S] = lowest peak that reaches S, starting from peak0.
    (order, peak), or None past MAX_STATES."""
    k = b - a + 1
    full = (1 << k) - 1
    # the storage live in the range: (local producer or -1, local readers mask, read after b, bytes)
    roots = []
    for r, i in produced_by.items():
        readers = c.readers.get(r, ())
        if (a <= i <= b or (i < a and any(j >= a for j in readers))) and c.arena(r):
            roots.append((i - a if i >= a else -1, sum(1 << (j - a) for j in readers if a <= j <= b),
                          any(j > b for j in readers), c.arena(r)))
    local_preds = [sum(1 << (p - a) for p in preds[v] if p >= a) for v in range(a, b + 1)]
    new_out = [sum(c.arena(r) for r in c.out_root[v] if produced_by.get(r) == v) for v in range(a, b + 1)]

    def live_after(mask):
        return sum(size for i, rd, later, size in roots
                   if (i < 0 or mask >> i & 1) and (later or rd & ~mask))

    best = {0: (peak0, None, None)}          # mask -> (peak, previous mask, node)
    frontier = [0]
    while frontier:
        nxt = {}
        for mask in frontier:
            peak = best[mask][0]
            base = live_after(mask)
            for v in range(k):
                if mask >> v & 1 or local_preds[v] & ~mask:
                    continue
                step_peak = max(peak, base + new_out[v])
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
    """The lowest-peak order, range by range: exact where a range's down-sets stay under MAX_STATES,
    the greedy order elsewhere.  Returns (order, every range was exact)."""
    preds = _preds(g)
    produced_by = _producers(c, len(g.nodes))
    order, exact, peak = [], True, 0
    for a, b in _segments(g, preds):
        found = _exact(g, c, preds, produced_by, a, b, peak)
        if found is None:
            exact = False
            part = _greedy(g, c, preds, a, b)
        else:
            part, peak = found
        order += part
    return order, exact


def schedule(graph: Graph) -> Graph:
    g = graph.toposorted()
    c = _Costs(g)
    candidates = [list(range(len(g.nodes)))]
    order, exact = _search(g, c)
    candidates.append(order)
    best, best_peak = None, None
    for order in candidates:
        h = g.copy()
        h.nodes = [replace(g.nodes[i]) for i in order]
        peak = peak_live_bytes(h)
        if best_peak is None or peak < best_peak:
            best, best_peak = h, peak
    best.meta["schedule"] = {"peak_live_bytes": best_peak, "method": "exact" if exact else "greedy",
                             "topological_peak": peak_live_bytes(g)}
    return best
