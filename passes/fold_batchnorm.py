"""fold_batchnorm: fold per-output-channel affine ops into the Conv2D / FullyConnected before them.

Folds BatchNorm, and Mul/Add/Sub by a per-channel constant (how tf2onnx writes Keras BatchNorm after
Dense, and how MatMul+bias arrives), into the producer's weights and bias.  A BatchNorm with no
producer to fold into becomes Mul + Add by constants, which quantize like any element-wise op.

Also a Mul by a positive scalar after a Relu or Clip of such a producer: c * clip(x, lo, hi) =
clip(c * x, c * lo, c * hi) for c > 0, so the scale goes into the weights and bias and the bounds.
Exporters write hard-sigmoid so (Keras 3 on PyTorch: relu6(x + 3) / 6, the /6 a Mul by 1/6 after the
clamp); left alone, the Mul is one more int8 tensor and rounding per squeeze-excite gate.  And a
HardSigmoid after such a producer becomes a Clip(0, 1) of it, its alpha and beta in the weights and
bias: the ONNX op and the hand-written relu6(x + 3) / 6 give one integer graph.
"""
import numpy as np

from ..compiler.ir import Graph, Node, Tensor, unique_name
from .util import sole_consumer, absorb

FOLDS_INTO = ("Conv2D", "FullyConnected")


def _per_channel(c: np.ndarray, channels: int):
    """c as a [channels] vector when it broadcasts only along the last axis, else None."""
    if c.ndim and any(d != 1 for d in c.shape[:-1]):
        return None
    flat = c.reshape(-1)
    if flat.size not in (1, channels):
        return None
    return np.broadcast_to(flat, (channels,)).astype(np.float64)


def _try_fold(g: Graph, node, prod: dict, readers: dict) -> bool:
    var = next((i for i in node.inputs if not g.tensors[i].is_const), None)
    if var is None or var not in prod or sum(not g.tensors[i].is_const for i in node.inputs) != 1:
        return False
    p = prod[var]
    if p.op not in FOLDS_INTO or p.attrs.get("act") is not None or sole_consumer(g, var, readers) is not node:
        return False
    w, b = g.tensors[p.inputs[1]].data.astype(np.float64), g.tensors[p.inputs[2]].data.astype(np.float64)
    ch = w.shape[0]
    consts = [g.tensors[i].data for i in node.inputs if i != var]
    if node.op == "BatchNorm":
        scale, bias, mean, v = (_per_channel(c, ch) for c in consts)
        if any(x is None for x in (scale, bias, mean, v)):
            return False
        k = scale / np.sqrt(v + node.attrs["epsilon"])
        mul, add = k, bias - mean * k
    else:
        c = _per_channel(consts[0], ch)
        if c is None or (node.op == "Sub" and node.inputs[0] != var):
            return False
        mul, add = {"Mul": (c, np.zeros(ch)), "Add": (np.ones(ch), c), "Sub": (np.ones(ch), -c)}[node.op]
    wname = p.inputs[1]
    if np.any(mul != 1):                # a bias-only fold (Add/Sub) keeps the weights, and any given scales
        wname = unique_name(g.tensors, f"{p.outputs[0]}_weights_folded")
        wf = (w * mul.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
        g.tensors[wname] = Tensor(wname, wf.shape, "float32", wf)
    bname = unique_name(g.tensors, f"{p.outputs[0]}_bias_folded")
    bf = (b * mul + add).astype(np.float32)
    g.tensors[bname] = Tensor(bname, bf.shape, "float32", bf)
    p.inputs = [p.inputs[0], wname, bname]
    node.inputs = [var]
    absorb(g, node, prod)
    return True


def _try_scale_through_clamp(g: Graph, node, prod: dict, readers: dict) -> bool:
    """Mul(Clip/Relu(Conv(x)), c), c a positive scalar, with each tensor read only by the next: the
    Conv's weights and bias times c, the Clip's bounds times c, the Mul gone."""
    var = next((i for i in node.inputs if not g.tensors[i].is_const), None)
    if node.op != "Mul" or var is None or var not in prod or len(node.inputs) != 2 or node.attrs.get("act") is not None:
        return False
    if sum(not g.tensors[i].is_const for i in node.inputs) != 1:
        return False
    consts = [g.tensors[i].data for i in node.inputs if i != var]
    clamp = prod[var]
    if len(consts) != 1 or consts[0].size != 1 or not float(consts[0].reshape(-1)[0]) > 0 or \
            clamp.op not in ("Clip", "Relu") or sole_consumer(g, var, readers) is not node:
        return False
    conv = prod.get(clamp.inputs[0])
    if conv is None or conv.op not in FOLDS_INTO or conv.attrs.get("act") is not None or \
            sole_consumer(g, clamp.inputs[0], readers) is not clamp:
        return False
    c = float(consts[0].reshape(-1)[0])
    for k, what in ((1, "weights"), (2, "bias")):
        name = unique_name(g.tensors, f"{conv.outputs[0]}_{what}_scaled")
        v = (g.tensors[conv.inputs[k]].data.astype(np.float64) * c).astype(np.float32)
        g.tensors[name] = Tensor(name, v.shape, "float32", v)
        conv.inputs = conv.inputs[:k] + [name] + conv.inputs[k + 1:]
    if clamp.op == "Clip":
        clamp.attrs = dict(clamp.attrs, min=clamp.attrs["min"] * c, max=clamp.attrs["max"] * c)
    node.inputs = [var]
    absorb(g, node, prod)
    return True


def _try_hard_sigmoid(g: Graph, node, prod: dict, readers: dict) -> bool:
    """HardSigmoid(Conv(x)), the conv's output read only by it: clip(alpha * conv(x) + beta, 0, 1) is a
    Clip(0, 1) of the conv with weights alpha * W and bias alpha * b + beta.  PyTorch's nn.Hardsigmoid
    (ONNX HardSigmoid) so gives the integer graph of its hand-written spelling relu6(x + 3) / 6, whose
    + 3 and / 6 fold the same way: the gate is the conv's clamp (one rounding, no table)."""
    var = node.inputs[0]
    conv = prod.get(var)
    if node.op != "HardSigmoid" or conv is None or conv.op not in FOLDS_INTO or conv.attrs.get("act") is not None or \
            sole_consumer(g, var, readers) is not node:
        return False
    alpha, beta = float(node.attrs["alpha"]), float(node.attrs["beta"])
    for k, what, f in ((1, "weights", lambda v: v * alpha), (2, "bias", lambda v: v * alpha + beta)):
        name = unique_name(g.tensors, f"{conv.outputs[0]}_{what}_hard_sigmoid")
        v = f(g.tensors[conv.inputs[k]].data.astype(np.float64)).astype(np.float32)
        g.tensors[name] = Tensor(name, v.shape, "float32", v)
        conv.inputs = conv.inputs[:k] + [name] + conv.inputs[k + 1:]
    node.op, node.attrs = "Clip", {"min": 0.0, "max": 1.0}
    return True


def _split_batchnorm(g: Graph, node) -> list:
    """x*k + (bias - mean*k) as two element-wise ops over the last axis."""
    scale, bias, mean, v = (g.tensors[i].data.reshape(-1).astype(np.float64) for i in node.inputs[1:])
    k = scale / np.sqrt(v + node.attrs["epsilon"])
    kname = unique_name(g.tensors, f"{node.name}_k")
    g.tensors[kname] = Tensor(kname, k.shape, "float32", k.astype(np.float32))
    cname = unique_name(g.tensors, f"{node.name}_c")
    c = (bias - mean * k).astype(np.float32)
    g.tensors[cname] = Tensor(cname, c.shape, "float32", c)
    mid = unique_name(g.tensors, f"{node.outputs[0]}_scaled")
    g.tensors[mid] = Tensor(mid, g.tensors[node.inputs[0]].shape)
    return [Node("Mul", f"{node.name}_mul", [node.inputs[0], kname], [mid], {"act": None}),
            Node("Add", f"{node.name}_add", [mid, cname], list(node.outputs), {"act": None})]


def fold_batchnorm(graph: Graph) -> Graph:
    """One pass in node order: folding a node into its producer never makes an earlier node foldable
    (they cannot read its output), and the producer maps are kept as folds rewire outputs."""
    g = graph.copy()
    prod, readers, gone = g.producer(), g.consumers(), set()
    for node in g.nodes:
        if node.op in ("BatchNorm", "Mul", "Add", "Sub") and (_try_fold(g, node, prod, readers) or
                                                              _try_scale_through_clamp(g, node, prod, readers)):
            gone.add(id(node))
        elif node.op == "HardSigmoid":
            _try_hard_sigmoid(g, node, prod, readers)
    nodes = []
    for node in g.nodes:
        if id(node) in gone:
            continue
        nodes += _split_batchnorm(g, node) if node.op == "BatchNorm" else [node]
    g.nodes = nodes
    return g
