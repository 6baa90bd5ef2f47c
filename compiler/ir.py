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

from .ops import REGISTRY
from .plan import MemoryPlan, ScheduleFacts, WideLayers

#: Graph's typed plan attributes (compiler/plan.py), copied by Graph.copy and saved by compiler/serialize.py
PLANNED = ("plan", "tiling", "scratch", "wide", "state", "schedule")

#: The closed op set, with what each op's inputs are: the registry's (compiler/ops/, each op declared once
#: with its shapes, references, quantize rule, C call and costs).
OPS = {name: d.doc for name, d in REGISTRY.items()}

#: Unary element-wise ops: in the integer graph each one becomes a 256-entry lookup table.
ELEMENTWISE_UNARY = tuple(name for name, d in REGISTRY.items() if d.unary)


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
    #: what the planning passes hand each other and codegen (compiler/plan.py says who writes and reads each)
    plan: MemoryPlan | None = None
    tiling: list = field(default_factory=list)          # [Stage]
    scratch: dict = field(default_factory=dict)         # node -> columns scratch bytes (plan_scratch)
    wide: WideLayers = field(default_factory=WideLayers)
    state: list = field(default_factory=list)           # [StateVar]
    schedule: ScheduleFacts | None = None

    def copy(self, drop_meta=()) -> "Graph":
        """A copy whose nodes/tensors can be changed freely; constant arrays are shared (treat them as immutable).
        `drop_meta`: meta entries or plan attributes (e.g. "plan") the caller replaces anyway, left out instead
        of deep-copied."""
        typed = {k: copy.deepcopy(getattr(self, k)) for k in PLANNED if k not in drop_meta}
        return Graph(self.name, [replace(n, inputs=list(n.inputs), outputs=list(n.outputs), attrs=copy.deepcopy(n.attrs))
                                 for n in self.nodes],
                     {k: replace(t) for k, t in self.tensors.items()}, list(self.inputs), list(self.outputs),
                     copy.deepcopy({k: v for k, v in self.meta.items() if k not in drop_meta}), **typed)

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
