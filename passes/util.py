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


def absorb(graph: Graph, node) -> None:
    """Remove `node` (one variable input, one output) after folding it into the node producing its
    input, which `node` alone reads: that producer now writes `node`'s output.  The later name
    survives, so whatever names the result (a graph output, a QDQ model's given quantization of it)
    still holds."""
    src, dst = node.inputs[0], node.outputs[0]
    prod = graph.producer()[src]
    prod.outputs = [dst if o == src else o for o in prod.outputs]
    graph.nodes = [n for n in graph.nodes if n is not node]
    graph.tensors.pop(src, None)


def carry_given_weights(graph: Graph, old: str, new: str) -> None:
    """A pass that re-creates a weights tensor under a new name with the same per-output-channel
    scale keeps the scales a pre-quantized (QDQ) model gives it."""
    given = graph.meta.get("given_quant", {}).get("weights", {})
    if old in given:
        given[new] = given[old]
