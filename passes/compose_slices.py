"""compose_slices: a Slice or StridedSlice of a slice becomes one slice of the original tensor.

Why: exporters write one crop as a chain of one-axis slices (Keras 3's ONNX export of Cropping2D
slices H, then W; torch's `x[:, :, 1:, :-2]` is two Slice nodes).  Each link is a copy, and the
planner must hold the intermediate beside its input and output: the same network read from a
`.keras` file, where the crop is one Slice, planned a smaller arena.  Composed, the chain is one copy
and the arena no longer depends on how the exporter spelled the crop.

Only a slice whose input is read by nothing else (and is not a graph output) is composed: then the
intermediate disappears; otherwise composing would keep the first slice's input live longer.
Slice ∘ Slice stays a Slice; any StridedSlice in the chain makes a StridedSlice
(start = start1 + step1 · start2, step = step1 · step2, count = count2 per axis).
"""
from ..compiler.ir import Graph

SLICES = ("Slice", "StridedSlice")


def _strided(node) -> tuple[list, list, list]:
    a = node.attrs
    if node.op == "StridedSlice":
        return list(a["begin"]), list(a["step"]), list(a["count"])
    return list(a["begin"]), [1] * len(a["begin"]), [e - b for b, e in zip(a["begin"], a["end"])]


def compose_slices(graph: Graph) -> Graph:
    g = graph.copy()
    consumers = g.consumers()
    prod = g.producer()
    gone = set()
    for node in g.nodes:                        # in order: an inner slice is already composed itself
        src = prod.get(node.inputs[0])
        if (node.op not in SLICES or src is None or src.op not in SLICES
                or len(consumers.get(src.outputs[0], [])) != 1 or src.outputs[0] in g.outputs):
            continue
        (b1, s1, _), (b2, s2, c2) = _strided(src), _strided(node)
        begin = [x + y * s for x, y, s in zip(b1, b2, s1)]
        step = [x * y for x, y in zip(s1, s2)]
        if src.op == node.op == "Slice":
            node.attrs = {"begin": begin, "end": [b + c for b, c in zip(begin, c2)]}
        else:
            node.op, node.attrs = "StridedSlice", {"begin": begin, "step": step, "count": list(c2)}
        node.inputs = [src.inputs[0]]
        consumers[src.inputs[0]] = [node if n is src else n for n in consumers[src.inputs[0]]]
        gone.add(src.name)                      # its one reader now reads its input
    g.nodes = [n for n in g.nodes if n.name not in gone]
    used = set(g.inputs) | set(g.outputs) | {t for n in g.nodes for t in n.inputs + n.outputs}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used}
    return g
