"""fold_constants: evaluate nodes whose inputs are all constants once, at compile time (float graphs)."""
import numpy as np

from ..compiler.ir import Graph
from ..compiler.reference import FLOAT_OPS


def fold_constants(graph: Graph) -> Graph:
    g = graph.copy()
    kept = []
    for node in g.nodes:
        if node.inputs and all(g.tensors[i].is_const for i in node.inputs) and node.outputs[0] not in g.outputs:
            value = FLOAT_OPS[node.op](node, *[g.tensors[i].data for i in node.inputs])
            out = g.tensors[node.outputs[0]]
            out.data = np.asarray(value, dtype=np.float32)
        else:
            kept.append(node)
    g.nodes = kept
    return g
