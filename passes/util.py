"""Small graph queries shared by passes."""
from edgec.ir import Graph


def sole_consumer(graph: Graph, tensor: str):
    """The one node reading `tensor`, or None when it has several readers or is a graph output."""
    if tensor in graph.outputs:
        return None
    readers = graph.consumers().get(tensor, [])
    return readers[0] if len(readers) == 1 else None


def bypass(graph: Graph, node) -> None:
    """Remove `node` (one input, one output) by renaming its output to its input everywhere."""
    src, dst = node.inputs[0], node.outputs[0]
    graph.nodes = [n for n in graph.nodes if n is not node]
    for n in graph.nodes:
        n.inputs = [src if i == dst else i for i in n.inputs]
    graph.outputs = [src if o == dst else o for o in graph.outputs]
