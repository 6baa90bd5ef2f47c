"""bind_concat: let the producers of a Concat write straight into their slice of its output.

An input qualifies when a Conv2D produces it (directly, or through a Reshape when the slice is
contiguous), nothing else reads it, and it is not a graph input or output.  Along the channel axis
of an NHWC map the slice is strided: the conv writes each pixel's channels at a pixel stride of the
concatenated width.  Where everything before the concat axis has size 1 the slice is contiguous.
Such inputs are marked in `attrs["bound"]`; quantize gives them the Concat's scale (so no requant
is needed), plan_memory places them inside the Concat's buffer, and codegen emits no copy for them.
The float and integer reference are unaffected.
"""
import numpy as np

from ..compiler.ir import Graph


def _bindable(g: Graph, node, k: int, consumers: dict, prod: dict) -> bool:
    t = node.inputs[k]
    tensor = g.tensors[t]
    if tensor.is_const or t in g.inputs or t in g.outputs or node.inputs.count(t) != 1:
        return False
    if [c.name for c in consumers.get(t, [])] != [node.name] or t not in prod:
        return False
    out_shape = g.tensors[node.outputs[0]].shape
    axis = node.attrs["axis"]
    contiguous = int(np.prod(out_shape[:axis])) == 1
    p = prod[t]
    if p.op == "Conv2D":
        return contiguous or (len(out_shape) == 4 and axis == 3)
    if p.op == "Reshape" and contiguous:
        src = p.inputs[0]
        return (src in prod and prod[src].op == "Conv2D" and src not in g.outputs
                and [c.name for c in consumers.get(src, [])] == [p.name])
    return False


def bind_concat(graph: Graph) -> Graph:
    g = graph.copy()
    consumers, prod = g.consumers(), g.producer()
    for node in g.nodes:
        if node.op == "Concat":
            node.attrs["bound"] = [_bindable(g, node, k, consumers, prod) for k in range(len(node.inputs))]
    return g
