"""sink_reshape: a Reshape that keeps the channel axis moves after the element-wise ops that read it, and
after a zero Pad it only adds or drops size-1 axes around, so they meet the convolution before it.

Why: 1-D convolutions and pools run as 2-D ones on [N, 1, L, C], so every importer writes
Reshape(as 2-D) -> Conv2D -> Reshape(as 1-D) around them, and whatever the model applies to the 1-D
result lands behind that Reshape: the bias Add and ReLU Keras 3's ONNX export writes after a bias-less
Conv (Conv -> Add -> Relu), the ReLU of a .keras Conv1D(activation="relu"), the explicit Pad of a
strided "same" Conv1D.  Behind a Reshape, fold_batchnorm cannot fold the Add into the conv's bias,
fuse_activations cannot make the ReLU its clamp, fold_pad cannot make the Pad its padding: each stays a
layer of its own (an extra pass over the tensor and an int8 rounding).  Moved in front of the Reshape,
they fold as they do in 2-D models, and the Reshape pairs left meet and vanish (eliminate_dead).

What moves, for a Reshape R whose only reader is E (R not a graph output):
* E an element-wise unary op (every op of reference.FLOAT_UNARY: Relu, Clip, Sigmoid, ...), or
  Add/Sub/Mul with one constant operand that is a scalar or one value per channel, R keeping the last
  axis (the channels): E then reads R's input (the constant as a [C] or scalar vector, which broadcasts
  the same over any rank), and R reads E's result.  Exact: E acts per element (per channel), and R
  moves no data.
* R reading a zero Pad P (P's only reader), where R only inserts or removes size-1 axes: R first, then
  P with its pads moved to the matching axes.  Exact: the same elements, the same zeros.
E's (or R's) output name is kept for what follows, so graph outputs and later names are unchanged.
A pre-quantized model (QDQ) is left as it is: its given scales name the tensors as the file has them.
"""
from __future__ import annotations

import numpy as np

from ..compiler.ir import Graph, Node, Tensor, unique_name
from ..compiler.reference import FLOAT_UNARY
from .util import sole_consumer

BINARY = ("Add", "Sub", "Mul")


def sink_reshape(graph: Graph) -> Graph:
    """One walk over the Reshapes, each moved as far as it goes: linear in the graph (the node list's
    positions are kept in a map as nodes swap places)."""
    if graph.meta.get("given_quant"):
        return graph
    g = graph.copy()
    prod, readers = g.producer(), g.consumers()
    pos = {id(n): i for i, n in enumerate(g.nodes)}
    for r in [n for n in g.nodes if n.op == "Reshape"]:
        while True:
            e = sole_consumer(g, r.outputs[0], readers)
            if e is not None and _elementwise_moves(g, r, e):
                _swap_elementwise(g, r, e, prod, readers)
                _reorder(g, pos, r, e)
                continue
            p = prod.get(r.inputs[0])
            if p is not None and p.op == "Pad" and sole_consumer(g, p.outputs[0], readers) is r:
                pads = _pads_after(g, p, r)
                if pads is not None:
                    _swap_pad(g, p, r, pads, prod, readers)
                    _reorder(g, pos, p, r)
            break
    return g


def _channels(g, t):
    """The last axis's size; None for a 0-d tensor (a mean over every axis), which has no channel axis."""
    shape = g.tensors[t].shape
    return shape[-1] if shape else None


def _elementwise_moves(g, r, e) -> bool:
    if _channels(g, r.inputs[0]) != _channels(g, r.outputs[0]):
        return False
    if e.op in FLOAT_UNARY:
        return len(e.inputs) == 1
    if e.op not in BINARY or len(e.inputs) != 2:
        return False
    var = [i for i in e.inputs if not g.tensors[i].is_const]
    const = [i for i in e.inputs if g.tensors[i].is_const]
    return var == [r.outputs[0]] and len(const) == 1 and _per_channel(g, const[0], _channels(g, r.inputs[0])) is not None


def _per_channel(g, name, channels):
    """The constant as a [C] or [1] vector when it is a scalar or one value per channel, else None."""
    c = g.tensors[name].data
    if c.ndim and any(d != 1 for d in c.shape[:-1]):
        return None
    flat = c.reshape(-1)
    return flat if flat.size in (1, channels) else None


def _swap_elementwise(g, r, e, prod, readers):
    x, mid, out = r.inputs[0], r.outputs[0], e.outputs[0]
    new = unique_name(g.tensors, f"{out}_before_reshape")
    g.tensors[new] = Tensor(new, g.tensors[x].shape, g.tensors[out].dtype)
    ins = []
    for i in e.inputs:
        if i == mid:
            ins.append(x)
        else:
            vec = _per_channel(g, i, _channels(g, x))
            name = unique_name(g.tensors, f"{i}_per_channel")
            g.tensors[name] = Tensor(name, vec.shape, "float32", np.ascontiguousarray(vec, np.float32))
            ins.append(name)
    e.inputs, e.outputs = ins, [new]
    r.inputs, r.outputs = [new], [out]
    r.attrs = dict(r.attrs, shape=tuple(g.tensors[out].shape))
    del g.tensors[mid]
    prod[new], prod[out] = e, r
    prod.pop(mid, None)
    readers[x] = [e if n is r else n for n in readers.get(x, [])]
    readers[new] = [r]
    readers.pop(mid, None)


def _pads_after(g, p, r):
    """P's pads on R's axes when R only adds or drops size-1 axes of P's output, else None."""
    s_in, s_out = tuple(g.tensors[r.inputs[0]].shape), tuple(g.tensors[r.outputs[0]].shape)
    a_in = [i for i, d in enumerate(s_in) if d != 1]
    a_out = [j for j, d in enumerate(s_out) if d != 1]
    if [s_in[i] for i in a_in] != [s_out[j] for j in a_out]:
        return None
    rank = len(s_in)
    pads = p.attrs["pads"]
    before, after = [0] * len(s_out), [0] * len(s_out)
    for i in range(rank):
        if pads[i] or pads[rank + i]:
            if i not in a_in:
                return None
            j = a_out[a_in.index(i)]
            before[j], after[j] = pads[i], pads[rank + i]
    return tuple(before + after)


def _swap_pad(g, p, r, pads, prod, readers):
    x, mid, out = p.inputs[0], p.outputs[0], r.outputs[0]
    n = len(pads) // 2
    shape = tuple(d - pads[j] - pads[n + j] for j, d in enumerate(g.tensors[out].shape))
    new = unique_name(g.tensors, f"{out}_unpadded")
    g.tensors[new] = Tensor(new, shape, g.tensors[out].dtype)
    r.inputs, r.outputs = [x], [new]
    r.attrs = dict(r.attrs, shape=shape)
    p.inputs, p.outputs = [new], [out]
    p.attrs = dict(p.attrs, pads=pads)
    del g.tensors[mid]
    prod[new], prod[out] = r, p
    prod.pop(mid, None)
    readers[x] = [r if m is p else m for m in readers.get(x, [])]
    readers[new] = [p]
    readers.pop(mid, None)


def _reorder(g, pos, first, second):
    """`second` now runs before `first`: swap their places in the node list (they were adjacent in
    data flow, so nothing between them reads what either writes now)."""
    i, j = pos[id(first)], pos[id(second)]
    g.nodes[i], g.nodes[j] = second, first
    pos[id(first)], pos[id(second)] = j, i
