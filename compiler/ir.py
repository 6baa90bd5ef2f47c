"""The one IR: tensors, nodes and graphs, NHWC, static shapes.

Importers produce it, passes transform it (always returning a new Graph), the reference
interpreter runs it, codegen reads it.  Nothing here knows a file format or C.

Ops are a closed set (see OPS).  Layout is NHWC for 4-D activations; weights of Conv2D are
OHWI (out, kernel h, kernel w, in/groups), of FullyConnected [out, in].
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field, replace

import networkx as nx
import numpy as np

#: The closed op set, with what each op's inputs are.  Keep in sync with reference.py and codegen.
OPS = {
    "Conv2D": "x, weights OHWI, bias; attrs strides, dilations, pads (t,l,b,r), groups, act",
    "FullyConnected": "x [N,K], weights [M,K], bias [M]; attrs act",
    "Add": "a, b (numpy broadcasting); attrs act",
    "Sub": "a, b (numpy broadcasting); attrs act",
    "Mul": "a, b (numpy broadcasting); attrs act",
    "MaxPool2D": "x; attrs kernel, strides, pads",
    "AvgPool2D": "x; attrs kernel, strides, pads (padding excluded from the count)",
    "Relu": "x",
    "Clip": "x; attrs min, max",
    "LeakyRelu": "x; attrs alpha",
    "Sigmoid": "x",
    "Tanh": "x",
    "Swish": "x * sigmoid(x)",
    "HardSigmoid": "clip(alpha * x + beta, 0, 1); attrs alpha, beta",
    "HardSwish": "x * relu6(x + 3) / 6",
    "Mish": "x * tanh(softplus(x))",
    "Elu": "x if x > 0 else alpha * (exp(x) - 1); attrs alpha",
    "Selu": "gamma * (x if x > 0 else alpha * (exp(x) - 1)); attrs alpha, gamma",
    "Softplus": "log(1 + exp(x))",
    "Softsign": "x / (1 + |x|)",
    "Exp": "exp(x)",
    "Erf": "erf(x)",
    "Gelu": "x * (1 + erf(x / sqrt 2)) / 2; attrs approximate \"none\" | \"tanh\" (the tanh formula)",
    "Elementwise": "xs... (numpy broadcasting); attrs program: primitive element-wise steps (compiler/elementwise.py); "
                   "float graphs only: one-input programs become Lut, others are refused",
    "LogSoftmax": "x over the last axis (compiler/log_softmax.py)",
    "Softmax": "x over the last axis; attrs mode \"tflm\" (imported .tflite): TFLite Micro's integer arithmetic",
    "Upsample": "x; attrs scale (sh, sw): nearest neighbour",
    "Resize": "x NHWC; attrs size (oh, ow), mode nearest|linear|zeros|strided, coord, nearest, scale, offset (compiler/resize.py)",
    "Slice": "x; attrs begin, end (per axis, step 1)",
    "Mean": "x; attrs axes (adjacent), keep (keep_dims) (compiler/mean.py)",
    "PRelu": "x, alpha (constant, broadcast from the right) (compiler/prelu.py)",
    "SvdfState": "x [B,I], weights_feature [F,I], state [B,F*M]; attrs memory: the state shifted, newest feature "
                 "last (compiler/svdf.py; int16 state in integer graphs)",
    "StridedSlice": "x; attrs begin, step (may be negative), count per axis (compiler/strided_slice.py)",
    "Svdf": "state [B,F*M], weights_time [F,M], bias [F/rank]; attrs rank, act (compiler/svdf.py)",
    "Reshape": "x; attrs shape (an alias: no data moves)",
    "Transpose": "x; attrs perm",
    "Pad": "x; attrs pads (before..., after...), constant zero; mode \"edge\" (repeat the border) only until fold_pad",
    "Concat": "xs...; attrs axis",
    "BatchNorm": "x, scale, bias, mean, var; attrs epsilon (folded away before quantization)",
    "Requantize": "x; attrs in_zp, out_zp, multiplier, shift, out_dtype (integer graphs only: int8 <-> int16, "
                  "inserted by quantize where a tensor's precision differs from its reader's)",
    "LSTM": "x [N,T,I], weights [4H,I], recurrent weights [4H,H], bias [4H] (gates i,f,c,o), zero initial state; "
            "attrs return_sequences, cell_clip; float graphs add two calibration outputs (see recurrent.py)",
    "GRU": "x [N,T,I], weights [3H,I], recurrent weights [3H,H], bias [3H], recurrent bias [3H] (gates z,r,n; the reset "
           "gate after the recurrent product); attrs return_sequences; float graphs add a calibration output",
}

#: Unary element-wise ops: in the integer graph each one becomes a 256-entry lookup table.
ELEMENTWISE_UNARY = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Swish", "HardSigmoid", "HardSwish", "Mish",
                     "Elu", "Selu", "Softplus", "Softsign", "Exp", "Erf", "Gelu")


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per-channel along `axis` when scale is an array."""
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    @property
    def scalar_scale(self) -> float:
        return float(np.asarray(self.scale).reshape(-1)[0])

    @property
    def scalar_zp(self) -> int:
        return int(np.asarray(self.zero_point).reshape(-1)[0])


@functools.lru_cache(maxsize=None)
def _itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


@dataclass
class Tensor:
    name: str
    shape: tuple
    dtype: str = "float32"           # float32 | int8 | int16 | int32 | int64
    data: np.ndarray | None = None   # constants (weights) only
    quant: Quant | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(int(d) for d in self.shape) if self.shape is not None else 0

    @property
    def nbytes(self) -> int:
        return self.size * _itemsize(self.dtype)


@dataclass
class Node:
    op: str
    name: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    nodes: list
    tensors: dict
    inputs: list
    outputs: list
    meta: dict = field(default_factory=dict)

    def copy(self, drop_meta=()) -> "Graph":
        """A copy whose nodes/tensors can be changed freely; constant arrays are shared (treat them as immutable).
        `drop_meta`: meta entries the caller replaces anyway, left out instead of deep-copied."""
        return Graph(self.name, [replace(n, inputs=list(n.inputs), outputs=list(n.outputs), attrs=copy.deepcopy(n.attrs))
                                 for n in self.nodes],
                     {k: replace(t) for k, t in self.tensors.items()}, list(self.inputs), list(self.outputs),
                     copy.deepcopy({k: v for k, v in self.meta.items() if k not in drop_meta}))

    def producer(self) -> dict:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict:
        out: dict = {}
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n)
        return out

    def dag(self) -> nx.DiGraph:
        g = nx.DiGraph()
        prod = self.producer()
        for i, n in enumerate(self.nodes):
            g.add_node(n.name, index=i)
        for n in self.nodes:
            for t in n.inputs:
                if t in prod:
                    g.add_edge(prod[t].name, n.name)
        return g

    def toposorted(self) -> "Graph":
        """Nodes in a topological order, ties broken by the original order (deterministic)."""
        dag = self.dag()
        index = {n.name: i for i, n in enumerate(self.nodes)}
        order = list(nx.lexicographical_topological_sort(dag, key=lambda name: index[name]))
        by_name = {n.name: n for n in self.nodes}
        g = self.copy()
        g.nodes = [replace(by_name[n]) for n in order]
        return g

    def is_const(self, name: str) -> bool:
        return self.tensors[name].is_const

    def activations(self) -> list:
        """Non-constant tensors in first-use order."""
        seen, out = set(), []
        for name in list(self.inputs) + [o for n in self.nodes for o in n.outputs]:
            if name not in seen and not self.tensors[name].is_const:
                seen.add(name)
                out.append(name)
        return out


def unique_name(existing, base: str) -> str:
    if base not in existing:
        return base
    i = 1
    while f"{base}_{i}" in existing:
        i += 1
    return f"{base}_{i}"
