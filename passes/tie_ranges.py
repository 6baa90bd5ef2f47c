"""tie_ranges: tensors that are the same quantity at corresponding places of a repeated computation get
one calibrated range, so that quantization gives their nodes identical parameters, which codegen then
stores once (codegen/c.py shares identical arrays).

Exporters unroll loops (Keras 3's ONNX export of an LSTM: 49 steps, each a MatMul with the one recurrent
kernel, then Add / Slice / Sigmoid / Tanh / Mul), and models apply one layer to several inputs (a Siamese
branch, a block applied twice).  The weights of such nodes are equal, but calibration ranges each step's
activations on their own: every step gets its own scales, so its own multipliers, folded biases, Add
rescale tables and Sigmoid / Tanh tables (about 0.5 MB of the LSTM export's flash even with its kernels
stored once, against the 28 KB of the same model's LSTM op, which keeps one scale per gate and state
over all steps).  This pass applies the LSTM op's rule to the unrolled form: one range, the union of
the steps' ranges.

Corresponding nodes: first the weighted nodes (Conv2D, FullyConnected) of the same op and attributes
whose constant inputs are equal (the same tensor or the same values); then, to a fixed point,
(backward) the producers of the corresponding activation inputs of corresponding nodes, where they are
alike (same op, attributes and constant inputs), and (forward) alike consumers of corresponding tensors
whose inputs, position by position, are the same tensor or tied.  The activation inputs and the outputs
of corresponding nodes are tied.  Runs on the calibrated float graph (meta["ranges"]) just before
quantize; a graph without repeated weights is returned unchanged (no range moves)."""
from __future__ import annotations

import hashlib

import numpy as np

from ..compiler.ir import Graph

#: the ops whose equal constants start a correspondence (compiler/calibrate.py's WEIGHTED)
SEED_OPS = ("Conv2D", "FullyConnected")


def _norm(v):
    """A hashable form of an attribute value (arrays by dtype, shape and bytes)."""
    if isinstance(v, np.ndarray):
        return ("nd", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _norm(x)) for k, x in v.items()))
    if isinstance(v, np.generic):
        return v.item()
    return v


def signatures(graph: Graph) -> dict:
    """node name -> (op, attributes, each input's constant contents or None for an activation, outputs):
    two nodes with the same signature compute the same function of their activation inputs."""
    digest = {}
    for name, t in graph.tensors.items():
        if t.is_const:
            a = np.ascontiguousarray(t.data)
            digest[name] = (t.dtype, tuple(t.shape), hashlib.sha256(a.tobytes()).hexdigest())
    return {n.name: (n.op, _norm(n.attrs), tuple(digest.get(i) for i in n.inputs), len(n.outputs))
            for n in graph.nodes}


def tie_classes(graph: Graph) -> list:
    """Lists of activation tensors (each sorted, two or more) that are one quantity at corresponding
    places, in first-use order of their first tensor."""
    sig = signatures(graph)
    prod, cons = graph.producer(), graph.consumers()
    by = {n.name: n for n in graph.nodes}
    const = {k for k, t in graph.tensors.items() if t.is_const}
    parent: dict = {}

    def find(t):
        while parent.get(t, t) != t:
            parent[t] = parent.get(parent[t], parent[t])
            t = parent[t]
        return t

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    pairs, queue = set(), []

    def pair(a, b):
        key = tuple(sorted((a.name, b.name)))
        if a is not b and key not in pairs:
            pairs.add(key)
            queue.append((a, b))

    seeds: dict = {}
    for n in graph.nodes:
        if n.op in SEED_OPS and any(i in const for i in n.inputs):
            seeds.setdefault(sig[n.name], []).append(n)
    for group in seeds.values():
        for m in group[1:]:
            pair(group[0], m)
    while queue:
        while queue:
            a, b = queue.pop()
            for x, y in zip(a.inputs, b.inputs):           # backward: the steps before
                if x in const or y in const or x == y:
                    continue
                union(x, y)
                p, q = prod.get(x), prod.get(y)
                if p is not None and q is not None and sig[p.name] == sig[q.name] \
                        and p.outputs.index(x) == q.outputs.index(y):
                    pair(p, q)
            for x, y in zip(a.outputs, b.outputs):
                union(x, y)
        # every class: alike producers of its tensors, and alike consumers whose inputs are the same or
        # tied position by position, correspond (pairs form along chains from the first seed, so a class
        # can hold tensors whose nodes were never paired with each other)
        groups: dict = {}
        for t in sorted(set(parent) | set(parent.values())):
            r = find(t)
            if t in prod:
                groups.setdefault(("p", r, sig[prod[t].name], prod[t].outputs.index(t)), []).append(prod[t])
            for c in cons.get(t, []):
                ins = tuple(u if u in const else find(u) for u in c.inputs)
                groups.setdefault(("c", sig[c.name], ins), []).append(c)
        for nodes in groups.values():
            nodes = sorted({n.name: n for n in nodes}.values(), key=lambda n: n.name)
            for m, n in zip(nodes, nodes[1:]):
                pair(m, n)
    classes: dict = {}
    members = set(parent) | set(parent.values())
    for t in graph.activations():
        if t in members:
            classes.setdefault(find(t), []).append(t)
    return [sorted(ts) for ts in classes.values() if len(ts) > 1]


def tie_ranges(graph: Graph) -> Graph:
    ranges = graph.meta.get("ranges")
    if not ranges:
        return graph
    classes = [[t for t in ts if t in ranges] for ts in tie_classes(graph)]
    if not any(len(ts) > 1 for ts in classes):
        return graph
    g = graph.copy()
    for ts in classes:
        if len(ts) > 1:
            lo, hi = min(ranges[t][0] for t in ts), max(ranges[t][1] for t in ts)
            for t in ts:
                g.meta["ranges"][t] = (lo, hi)
    return g
