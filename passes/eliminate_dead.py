"""eliminate_dead: drop nodes nothing reads, Reshapes that change nothing, Reshape chains, and
tensors no node references."""
from ..compiler.ir import Graph


def eliminate_dead(graph: Graph) -> Graph:
    g = graph.copy()
    prod = g.producer()
    for node in g.nodes:                               # Reshape(Reshape(x)) -> Reshape(x)
        if node.op == "Reshape" and node.inputs[0] in prod and prod[node.inputs[0]].op == "Reshape":
            node.inputs = list(prod[node.inputs[0]].inputs)
    rename, kept = {}, []                              # Reshapes that change nothing: readers take their input
    for node in g.nodes:
        node.inputs = [rename.get(i, i) for i in node.inputs]
        if (node.op == "Reshape" and g.tensors[node.inputs[0]].shape == g.tensors[node.outputs[0]].shape
                and node.inputs[0] not in g.inputs):
            rename[node.outputs[0]] = node.inputs[0]
        else:
            kept.append(node)
    g.nodes = kept
    g.outputs = [rename.get(o, o) for o in g.outputs]
    live = set(g.outputs)
    kept = []
    for node in reversed(g.nodes):
        if any(o in live for o in node.outputs):
            kept.append(node)
            live.update(node.inputs)
    g.nodes = kept[::-1]
    used = set(g.inputs) | set(g.outputs) | {t for n in g.nodes for t in n.inputs + n.outputs}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used}
    return g
