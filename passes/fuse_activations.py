"""fuse_activations: Relu / Clip after an op that requantizes becomes that op's clamp (`act`).

In the integer graph a fused activation is free: it narrows the output clamp [act_min, act_max]."""
import numpy as np

from ..compiler.ir import Graph
from .util import sole_consumer, absorb

FUSES_INTO = ("Conv2D", "FullyConnected", "Add", "Sub", "Mul", "MaxPool2D", "AvgPool2D")


def fuse_activations(graph: Graph) -> Graph:
    g = graph.copy()
    prod, readers, gone = g.producer(), g.consumers(), set()
    for node in g.nodes:
        if node.op not in ("Relu", "Clip"):
            continue
        p = prod.get(node.inputs[0])
        if p is None or p.op not in FUSES_INTO or sole_consumer(g, node.inputs[0], readers) is not node:
            continue
        lo, hi = (0.0, np.inf) if node.op == "Relu" else (node.attrs["min"], node.attrs["max"])
        if p.attrs.get("act") is not None:
            plo, phi = p.attrs["act"]
            lo, hi = max(lo, plo), min(hi, phi)
        p.attrs["act"] = (float(lo), float(hi))
        absorb(g, node, prod)
        gone.add(id(node))
    g.nodes = [n for n in g.nodes if id(n) not in gone]
    return g
