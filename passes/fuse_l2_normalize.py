"""fuse_l2_normalize: x / broadcast(max(ReduceL2(x), eps)) becomes one L2Normalize(x) (compiler/ops/l2norm.py).

F.normalize(x, dim) exports, from both PyTorch exporters and opsets 13-21, as ReduceL2(x, dim, keepdims)
-> Clip(min=eps) -> Expand(x's shape) -> Div(x, that); the ONNX importer reads them as the IR's ReduceL2,
Clip (max +inf), a Concat of copies along the reduced axis (the Expand) and an Elementwise "div" of two
computed tensors.  Node by node that division has no integer form (collapse_elementwise refuses a Div by
a statistic of its own input); as a whole it is TFLite's int8 L2Normalization, one kernel.

Matched: an Elementwise whose program is one "div" of its two inputs (x, d), where d is reached from a
ReduceL2 of x with keep, through any of: Clip with min >= 0 and no upper bound (eps = the largest such
min), Relu, a Concat of copies of one tensor along the reduced axis.  Anything else (a Clip with an
upper bound, a mean instead of a sum of squares: LayerNorm / RMS norm) is left as it was, and refused
later with the reason collapse_elementwise gives.  Integer graphs are left alone."""
from ..compiler.ir import Graph, Node

DIV = (("div", ("in", 0), ("in", 1)),)


def _norm_of(d, prod, axis_of):
    """(ReduceL2 node, eps) when tensor `d` is max(ReduceL2(.), eps) broadcast along its axis, else None."""
    eps = 0.0
    while d in prod:
        p = prod[d]
        if p.op == "ReduceL2":
            return (p, eps) if p.attrs.get("keep", True) else None
        if p.op == "Clip" and float(p.attrs["max"]) == float("inf") and float(p.attrs["min"]) >= 0:
            eps = max(eps, float(p.attrs["min"]))
        elif p.op == "Relu":
            pass
        elif p.op == "Concat" and len(set(p.inputs)) == 1:
            axis_of.append(p.attrs["axis"])
        else:
            return None
        d = p.inputs[0]
    return None


def fuse_l2_normalize(graph: Graph) -> Graph:
    g = graph.copy()
    if any(t.dtype != "float32" for t in g.tensors.values() if not t.is_const):
        return g
    prod = g.producer()
    nodes = []
    for node in g.nodes:
        if (node.op == "Elementwise" and tuple(node.attrs.get("program", ())) == DIV and len(node.inputs) == 2
                and not any(g.tensors[i].is_const for i in node.inputs)):
            x, d = node.inputs
            copied_along = []
            found = _norm_of(d, prod, copied_along)
            if found is not None:
                r, eps = found
                axis = r.attrs["axis"]
                if (r.inputs[0] == x and all(a == axis for a in copied_along)
                        and g.tensors[node.outputs[0]].shape == g.tensors[x].shape):
                    node = Node("L2Normalize", node.name, [x], list(node.outputs), {"axis": axis, "eps": eps})
        nodes.append(node)
    g.nodes = nodes
    return g
