"""slice_fc_rows: a FullyConnected whose output rows are read only by Slices of whole rows computes each
slice's rows where the slice is read: FC(x)[r0:r1] = FC(x[r0:r1]).

Keras 3's ONNX export of a recurrent layer computes the input projection of all time steps at once (one
MatMul of the [49, 10] features by the [10, 256] input kernel) and then Gathers step t's row inside the
unrolled loop; edgec kept the whole [49, 256] projection live in the arena through all 49 steps (12,544 of
the LSTM keyword model's 13,248 arena bytes, against 320 for its .keras build).  After this pass each
step projects its own row of the input (a Slice of the input's rows, then a FullyConnected over that row,
whose weights codegen stores once for all steps), so only a row is live at a time.  The same MACs.

The pattern: FullyConnected [R, K] -> [R, C], optionally through one Reshape (a view: [49, 1, 256] for
Keras's time-major projection, [1, 12, 16] for a batch-first one), read only by Slices that take rows
r0:r1 and everything else; the FullyConnected is not a
graph output.  Each Slice becomes Slice(x, rows r0:r1) -> FullyConnected (the same weights, bias and
activation) -> Reshape to the Slice's shape.  Slices that overlap (rows computed twice) and pre-quantized
(QDQ) models, whose given scales name the tensors they have, are left as they are."""
from __future__ import annotations

import math

from ..compiler.ir import Graph, Node, Tensor, unique_name


def _row_slice(node, shape, cols) -> tuple | None:
    """(r0, r1) when `node` is a Slice of whole rows of a view of `shape` of the [R, cols] result: the
    trailing dims hold a row (their product is cols) and are taken whole; of the leading ones (their
    product is R) all but one have size 1.  Else None."""
    k = next((k for k in range(len(shape) + 1) if math.prod(shape[k:]) == cols), None)
    if node.op != "Slice" or set(node.attrs) - {"begin", "end"} or k is None or k == 0:
        return None
    begin, end = tuple(node.attrs["begin"]), tuple(node.attrs["end"])
    big = [d for d in range(k) if shape[d] != 1]
    if len(big) > 1 or len(begin) != len(shape) or len(end) != len(shape):
        return None
    a = big[0] if big else 0
    if any(begin[d] != 0 or end[d] != shape[d] for d in range(len(shape)) if d != a):
        return None
    return (begin[a], end[a]) if 0 <= begin[a] < end[a] <= shape[a] else None


def slice_fc_rows(graph: Graph) -> Graph:
    if graph.meta.get("given_quant"):        # a pre-quantized model's scales name the tensors it has
        return graph
    g = graph.copy()
    readers = g.consumers()
    names = set(g.tensors) | {n.name for n in g.nodes}
    replace, drop = {}, set()
    for fc in g.nodes:
        if fc.op != "FullyConnected" or len(g.tensors[fc.outputs[0]].shape) != 2:
            continue
        y = fc.outputs[0]
        rows, cols = g.tensors[y].shape
        view, top = None, y
        if y in g.outputs or rows < 2:
            continue
        if len(readers.get(y, [])) == 1 and readers[y][0].op == "Reshape":
            view = readers[y][0]
            top = view.outputs[0]
            if top in g.outputs:
                continue
        slices = readers.get(top, [])
        spans = [_row_slice(s, g.tensors[top].shape, cols) for s in slices]
        if not slices or any(sp is None for sp in spans) or any(s.inputs[0] != top for s in slices) \
                or sum(r1 - r0 for r0, r1 in spans) > rows:        # no row computed twice: the same MACs
            continue
        x = fc.inputs[0]
        xt = g.tensors[x]
        if len(xt.shape) != 2 or xt.shape[0] != rows:
            continue
        for s, (r0, r1) in zip(slices, spans):
            xs = unique_name(names, f"{s.name}_rows")
            ys = unique_name(names | {xs}, f"{s.name}_fc")
            names.update((xs, ys))
            g.tensors[xs] = Tensor(xs, (r1 - r0, xt.shape[1]), xt.dtype)
            g.tensors[ys] = Tensor(ys, (r1 - r0, cols), g.tensors[y].dtype)
            replace[s.name] = [Node("Slice", xs, [x], [xs], {"begin": (r0, 0), "end": (r1, xt.shape[1])}),
                               Node("FullyConnected", ys, [xs] + list(fc.inputs[1:]), [ys],
                                    dict(fc.attrs)),
                               Node("Reshape", s.name, [ys], list(s.outputs), {"shape": tuple(g.tensors[s.outputs[0]].shape)})]
        drop.update({fc.name} | ({view.name} if view is not None else set()))
    if not replace:
        return graph
    nodes = []
    for n in g.nodes:
        if n.name in drop:
            continue
        nodes.extend(replace.get(n.name, [n]))
    g.nodes = nodes
    used = set(g.inputs) | set(g.outputs) | {t for n in g.nodes for t in n.inputs + n.outputs}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used}
    return g
