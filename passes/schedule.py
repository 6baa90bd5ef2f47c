"""schedule: order the nodes so that the bytes of live activations peak as low as possible.

Where a graph branches (ResNet skips, yolo routes, Concat fan-in), the order decides which tensors
wait: computing a ResNet block's 1x1 shortcut conv last keeps its input alive through the block,
computing it first keeps its (smaller) output alive instead.

* Exact: a dynamic program over the sets of executed nodes that can occur (down-sets of the DAG):
  best[S] = lowest peak that reaches S.  Linear chains have one down-set per step, so it is cheap
  for CNNs; it is used while the number of states stays under MAX_STATES.
* Beyond that, a documented heuristic: repeatedly run the ready node that leaves the fewest live
  bytes (ties: frees the most, then original order).
* The result is never worse than the original topological order: all candidates are scored with
  `peak_live_bytes` and the best is kept (the original order wins ties, so the pass is idempotent).

Live bytes count the storage `plan_memory` will place in the arena (aliases of the same bytes —
Reshape outputs — count once); the graph input and output live in the caller's buffers.
"""
from __future__ import annotations

from dataclasses import replace

from edgec.ir import Graph

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


def _exact(g: Graph, c: _Costs):
    n = len(g.nodes)
    preds = _preds(g)
    full = (1 << n) - 1
    produced_by = {}
    for i in range(n):
        for r in c.out_root[i]:
            produced_by[r] = i

    def live_after(mask):
        total = 0
        for r, i in produced_by.items():
            if mask >> i & 1 and any(not (mask >> j & 1) for j in c.readers.get(r, ())):
                total += c.arena(r)
        return total

    best = {0: (0, None, None)}          # mask -> (peak, previous mask, node)
    frontier = [0]
    while frontier:
        nxt = {}
        for mask in frontier:
            peak = best[mask][0]
            base = live_after(mask)
            for v in range(n):
                if mask >> v & 1 or any(not (mask >> p & 1) for p in preds[v]):
                    continue
                new_out = sum(c.arena(r) for r in c.out_root[v] if produced_by.get(r) == v)
                step_peak = max(peak, base + new_out)
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
        order.append(v)
        mask = prev
    return order[::-1]


def _greedy(g: Graph, c: _Costs):
    preds = _preds(g)
    done, order, live = set(), [], set()
    while len(order) < len(g.nodes):
        ready = [v for v in range(len(g.nodes)) if v not in done and preds[v] <= done]

        def score(v):
            after = {r for r in live | c.out_root[v] if not c.readers.get(r, set()) <= done | {v}}
            freed = sum(c.arena(r) for r in live - after)
            return (sum(c.arena(r) for r in after), -freed, v)
        v = min(ready, key=score)
        done.add(v)
        order.append(v)
        live = {r for r in live | c.out_root[v] if not c.readers.get(r, set()) <= done}
    return order


def schedule(graph: Graph) -> Graph:
    g = graph.toposorted()
    c = _Costs(g)
    candidates = [list(range(len(g.nodes)))]
    exact = _exact(g, c)
    candidates.append(exact if exact is not None else _greedy(g, c))
    best, best_peak = None, None
    for order in candidates:
        h = g.copy()
        h.nodes = [replace(g.nodes[i]) for i in order]
        peak = peak_live_bytes(h)
        if best_peak is None or peak < best_peak:
            best, best_peak = h, peak
    best.meta["schedule"] = {"peak_live_bytes": best_peak, "method": "exact" if exact is not None else "greedy",
                             "topological_peak": peak_live_bytes(g)}
    return best
