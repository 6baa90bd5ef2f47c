"""fold_transpose_fc: Transpose → Reshape(flatten) → FullyConnected becomes Reshape → FullyConnected
with the weight columns permuted.

The ONNX importer keeps feature maps NHWC and emits a Transpose wherever a model flattens a
feature map in NCHW order (PyTorch's Flatten before Linear).  Permuting the constant weights once
at compile time removes that data movement from the device entirely."""
import numpy as np

from ..compiler.ir import Graph, Tensor, unique_name
from .util import carry_given_weights, sole_consumer


def fold_transpose_fc(graph: Graph) -> Graph:
    g = graph.copy()
    readers, gone = g.consumers(), set()
    for t in [n for n in g.nodes if n.op == "Transpose"]:
        r = sole_consumer(g, t.outputs[0], readers)
        fc = r and r.op == "Reshape" and sole_consumer(g, r.outputs[0], readers)
        if not fc or fc.op != "FullyConnected" or not g.tensors[fc.inputs[1]].is_const:
            continue
        perm = t.attrs["perm"]
        src = g.tensors[t.inputs[0]].shape
        if perm[0] != 0 or len(g.tensors[r.outputs[0]].shape) != 2 or g.tensors[r.outputs[0]].shape[0] != src[0]:
            continue
        inner = tuple(p - 1 for p in perm[1:])
        idx = np.transpose(np.arange(int(np.prod(src[1:]))).reshape(src[1:]), inner).reshape(-1)
        w = g.tensors[fc.inputs[1]].data
        wp = np.empty_like(w)
        wp[:, idx] = w
        name = unique_name(g.tensors, f"{fc.inputs[1]}_nhwc")
        g.tensors[name] = Tensor(name, wp.shape, "float32", wp)
        carry_given_weights(g, fc.inputs[1], name)      # columns move; each output row keeps its scale
        fc.inputs[1] = name
        r.inputs = [t.inputs[0]]
        readers[t.inputs[0]] = [r if n is t else n for n in readers.get(t.inputs[0], [])]
        gone.add(id(t))
    g.nodes = [n for n in g.nodes if id(n) not in gone]
    return g
