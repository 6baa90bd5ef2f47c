"""GraphBuilder: what every importer needs to emit IR — unique names, constants, nodes with their
output shapes inferred on the spot, and the IR spelling of the activations frameworks name.
Importers subclass it and add only what their format needs."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from ..ir import Graph, Node, Tensor, unique_name
from ..shapes import output_shapes, same_pads


class GraphBuilder:
    def __init__(self):
        self.tensors: dict = {}
        self.nodes: list = []
        self._node_names: set = set()

    def add_tensor(self, base, shape, data=None):
        name = unique_name(self.tensors, base)
        self.tensors[name] = Tensor(name, tuple(int(d) for d in shape), "float32" if data is None else str(data.dtype),
                                    None if data is None else np.ascontiguousarray(data))
        return name

    def const(self, base, array):
        return self.add_tensor(base, np.asarray(array).shape, np.asarray(array, dtype=np.float32))

    def emit(self, op, name, inputs, out_base=None, attrs=None):
        node = Node(op, unique_name(self._node_names, name), list(inputs), [], attrs or {})
        self._node_names.add(node.name)
        shapes = output_shapes(node, [self.tensors[i].shape for i in inputs])
        node.outputs = [self.add_tensor(out_base or name, shapes[0])]
        self.nodes.append(node)
        return node.outputs[0]

    def shape_of(self, tensor):
        return self.tensors[tensor].shape

    def conv2d(self, name, x, w_ohwi, bias, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1):
        """pads: (t, l, b, r), or "same" / "valid" as TensorFlow and Darknet mean them."""
        kernel = w_ohwi.shape[1:3]
        if isinstance(pads, str):
            pads = same_pads(self.shape_of(x)[1:3], kernel, strides, dilations) if pads == "same" else (0, 0, 0, 0)
        w = self.const(f"{name}_weights", w_ohwi)
        b = self.const(f"{name}_bias", np.zeros(w_ohwi.shape[0]) if bias is None else bias)
        return self.emit("Conv2D", name, [x, w, b], name, {"strides": tuple(strides), "dilations": tuple(dilations),
                                                            "pads": tuple(pads), "groups": int(groups), "act": None})

    def dense(self, name, x, w_mk, bias):
        w = self.const(f"{name}_weights", w_mk)
        b = self.const(f"{name}_bias", np.zeros(w_mk.shape[0]) if bias is None else bias)
        return self.emit("FullyConnected", name, [x, w, b], name, {"act": None})

    def pool(self, op, name, x, kernel, strides, pads):
        if isinstance(pads, str):
            pads = same_pads(self.shape_of(x)[1:3], kernel, strides, (1, 1)) if pads == "same" else (0, 0, 0, 0)
        return self.emit(op, name, [x], name, {"kernel": tuple(kernel), "strides": tuple(strides), "pads": tuple(pads), "act": None})

    def batchnorm(self, name, x, gamma, beta, mean, var, eps):
        ins = [x] + [self.const(f"{name}_{k}", v) for k, v in zip(("scale", "bias", "mean", "var"), (gamma, beta, mean, var))]
        return self.emit("BatchNorm", name, ins, name, {"epsilon": float(eps)})

    def activation(self, name, x, kind: str, where: str = "", **params):
        """Framework activation names → IR ops; 'linear' is no op."""
        kind = kind.lower()
        simple = {"relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}), "logistic": ("Sigmoid", {}), "tanh": ("Tanh", {}),
                  "relu6": ("Clip", {"min": 0.0, "max": 6.0}), "swish": ("Swish", {}), "silu": ("Swish", {}),
                  "mish": ("Mish", {}), "softmax": ("Softmax", {}),
                  "leaky": ("LeakyRelu", {"alpha": params.get("alpha", 0.1)}),
                  "leaky_relu": ("LeakyRelu", {"alpha": params.get("alpha", 0.2)}),
                  "hard_sigmoid": ("HardSigmoid", {"alpha": params.get("alpha", 0.2), "beta": 0.5}),
                  "hard_swish": ("HardSwish", {})}
        if kind in ("linear", "none", ""):
            return x
        if kind not in simple:
            raise UnsupportedOpError(f"activation '{kind}'", where=where or name,
                                     hint=f"supported: linear, {', '.join(sorted(simple))}")
        op, attrs = simple[kind]
        return self.emit(op, f"{name}_{kind}", [x], f"{name}_{kind}", attrs)

    def graph(self, name, inputs, outputs, meta) -> Graph:
        return Graph(name, self.nodes, self.tensors, list(inputs), list(outputs), meta)
