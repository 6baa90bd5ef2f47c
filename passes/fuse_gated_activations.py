"""fuse_gated_activations: x * sigmoid(x) becomes Swish(x), x * hard_sigmoid(x) HardSwish(x) and
x * tanh(softplus(x)) Mish(x).

Exporters spell these activations as a gate and a Mul (PyTorch's SiLU before ONNX had the op,
TensorFlow's swish, MobileNetV3's h-swish).  Unfused, the int8 graph quantizes the gate to int8
and multiplies two int8 tensors: two roundings and a Mul kernel.  Fused, it is one lookup table
built from the float function: one rounding, no multiply."""
from ..compiler.ir import Graph, Node

from .util import sole_consumer

#: gate chain (from x outward) -> the activation it makes, with the attrs the gate must have
GATES = {("Sigmoid",): "Swish", ("HardSigmoid",): "HardSwish", ("Softplus", "Tanh"): "Mish"}


def _gate_of(g: Graph, prod: dict, readers: dict, t: str, x: str):
    """The activation Mul(x, t) makes when t is a gate of x that only the Mul reads, with its nodes."""
    chain = []
    while t in prod and len(chain) < 2:
        node = prod[t]
        chain.insert(0, node)
        if node.inputs[0] == x:
            break
        t = node.inputs[0]
    ops = tuple(n.op for n in chain)
    if not chain or chain[0].inputs[0] != x or ops not in GATES:
        return None, []
    if any(sole_consumer(g, n.outputs[0], readers) is None for n in chain):
        return None, []
    if ops == ("HardSigmoid",) and (abs(chain[0].attrs["alpha"] - 1 / 6) > 1e-6 or abs(chain[0].attrs["beta"] - 0.5) > 1e-6):
        return None, []
    return GATES[ops], chain


def fuse_gated_activations(graph: Graph) -> Graph:
    g = graph.copy()
    prod, readers, replaced = g.producer(), g.consumers(), {}
    for mul in [n for n in g.nodes if n.op == "Mul" and n.attrs.get("act") is None and len(n.inputs) == 2]:
        a, b = mul.inputs
        for x, gate in ((a, b), (b, a)):
            if g.tensors[x].is_const or g.tensors[gate].is_const:
                continue
            op, chain = _gate_of(g, prod, readers, gate, x)
            if op is None or g.tensors[x].shape != g.tensors[mul.outputs[0]].shape:
                continue
            fused = Node(op, mul.name, [x], list(mul.outputs), {})
            replaced[id(mul)] = fused
            prod[mul.outputs[0]] = fused
            readers[x] = [fused if n is mul else n for n in readers.get(x, []) if not any(n is c for c in chain)]
            for c in chain:
                replaced[id(c)] = None
                prod.pop(c.outputs[0], None)
                g.tensors.pop(c.outputs[0], None)
            break
    g.nodes = [replaced.get(id(n), n) for n in g.nodes if replaced.get(id(n), n) is not None]
    return g
