"""Small graph queries shared by passes.

Passes that rewrite many nodes compute `graph.producer()` / `graph.consumers()` once, keep them up
to date as they rewrite, and drop removed nodes in one filter at the end: linear in the graph."""
from ..compiler.ir import Graph


def sole_consumer(graph: Graph, tensor: str, consumers: dict | None = None):
    """The one node reading `tensor`, or None when it has several readers or is a graph output.
    `consumers`: graph.consumers(), when the caller keeps it."""
    if tensor in graph.outputs:
        return None
    readers = (graph.consumers() if consumers is None else consumers).get(tensor, [])
    return readers[0] if len(readers) == 1 else None


def absorb(graph: Graph, node, producers: dict) -> None:
    """Fold away `node` (one variable input, one output), which alone reads the output of the node
    producing its input: that producer now writes `node`'s output.  The later name survives, so
    whatever names the result (a graph output, a QDQ model's given quantization of it) still holds.
    `producers` (graph.producer()) is updated; the caller drops `node` from graph.nodes."""
    src, dst = node.inputs[0], node.outputs[0]
    prod = producers[src]
    prod.outputs = [dst if o == src else o for o in prod.outputs]
    producers[dst] = prod
    del producers[src]
    graph.tensors.pop(src, None)


def carry_given_weights(graph: Graph, old: str, new: str) -> None:
    """A pass that re-creates a weights tensor under a new name with the same per-output-channel
    scale keeps the scales a pre-quantized (QDQ) model gives it."""
    given = graph.meta.get("given_quant", {}).get("weights", {})
    if old in given:
        given[new] = given[old]
