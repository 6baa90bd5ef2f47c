"""infer_shapes: recompute every non-input tensor's shape from its producer's op and attributes.

Importers may leave shapes they could not know; later passes rely on every activation having one."""
from ..compiler.ir import Graph
from ..compiler.shapes import output_shapes


def infer_shapes(graph: Graph) -> Graph:
    g = graph.copy()
    for node in g.nodes:
        shapes = output_shapes(node, [g.tensors[i].shape for i in node.inputs])
        for name, shape in zip(node.outputs, shapes):
            g.tensors[name].shape = shape
    return g
