"""collapse_transpose: a Transpose becomes Reshape -> Transpose of the fewest axes -> Reshape.

Size-1 axes carry no order, and input axes that stay next to each other in the same order under the
permutation move as one block, so they can be merged.  ShuffleNet's channel shuffle (Reshape to
[N, g, C/g, H, W], swap g and C/g, Reshape back) reaches the IR as a rank-5 Transpose; collapsed it
is a rank-3 or rank-4 one, which the kernel (at most 4 axes) runs, and a Transpose that only moves
size-1 axes disappears into a Reshape (an alias: no data moves).  The data order is unchanged, so
the reference gives the same values before and after.

One Transpose keeps its four axes: NCHW -> NHWC of one image with more than one channel (a PyTorch
model's input), because a patch-based stage (passes/tile.py) can run it band by band as its first op
(its OpDef.window) and keep only a band of the transposed tensor; collapsed to [C, H*W] -> [H*W, C]
it would sit whole in the arena.  The kernel takes the same time either way."""
from ..compiler.ir import Graph, Node, Tensor, unique_name
from ..compiler.ops import REGISTRY


def collapsed(shape, perm):
    """(shape of the merged input axes, permutation of them), size-1 axes dropped."""
    keep = [i for i in range(len(shape)) if shape[i] != 1]
    rank = {p: k for k, p in enumerate(keep)}                  # position among the kept input axes
    blocks = []                                                # runs of consecutive kept input axes
    for p in (p for p in perm if shape[p] != 1):               # input axes in output order
        if blocks and rank[blocks[-1][-1]] + 1 == rank[p]:
            blocks[-1].append(p)
        else:
            blocks.append([p])
    by_input = sorted(range(len(blocks)), key=lambda b: blocks[b][0])
    new_shape = []
    for b in by_input:
        size = 1
        for p in blocks[b]:
            size *= shape[p]
        new_shape.append(size)
    return tuple(new_shape), tuple(by_input.index(b) for b in range(len(blocks)))


def collapse_transpose(graph: Graph) -> Graph:
    g = graph.copy()
    nodes, names = [], {n.name for n in g.nodes}
    for node in g.nodes:
        if node.op != "Transpose":
            nodes.append(node)
            continue
        src = g.tensors[node.inputs[0]]
        shape, perm = collapsed(tuple(src.shape), tuple(node.attrs["perm"]))
        if len(perm) == len(src.shape) or (len(src.shape) == 4 and src.shape[0] == 1 and len(perm) > 1
                                           and REGISTRY["Transpose"].window(g, node) is not None):
            nodes.append(node)                                  # or a row-local one: tileable
            continue
        out = node.outputs[0]
        if perm == tuple(range(len(perm))):                     # only size-1 axes moved
            nodes.append(Node("Reshape", node.name, [node.inputs[0]], [out], {"shape": tuple(g.tensors[out].shape)}))
            continue
        a = unique_name(g.tensors, f"{node.inputs[0]}_collapsed")
        g.tensors[a] = Tensor(a, shape, src.dtype, None, src.quant)
        b = unique_name(g.tensors, f"{out}_collapsed")
        g.tensors[b] = Tensor(b, tuple(shape[p] for p in perm), src.dtype, None, g.tensors[out].quant)
        first = unique_name(names, f"{node.name}_merge")
        names.add(first)
        last = unique_name(names, f"{node.name}_split")
        names.add(last)
        nodes += [Node("Reshape", first, [node.inputs[0]], [a], {"shape": shape}),
                  Node("Transpose", node.name, [a], [b], {"perm": perm}),
                  Node("Reshape", last, [b], [out], {"shape": tuple(g.tensors[out].shape)})]
    g.nodes = nodes
    return g
