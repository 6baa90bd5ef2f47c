"""OpDef: everything edgec knows about one IR op, in one record (issue 17, 2).

An op's file (compiler/ops/<family>.py) builds its OpDefs and lists them in DEFS; compiler/ops/__init__.py
collects them into REGISTRY, and every table that used to list ops by hand (ir.OPS, shapes.SHAPE_FNS,
builder.ARITY/check_node, reference.FLOAT_OPS/INT_OPS/INT16_OPS, quantize's q_ rules and SUPPORTED_S16,
codegen's KERNEL_FILE and kernel calls, report.macs, tile.TILEABLE) is now a lookup in it.

This file, like every op file, sits at the IR level: it imports nothing from importers, passes or
codegen.  What those layers hand an op (the quantizer, codegen's emitter) comes in as an argument, so
an op file describes the C call without importing codegen (see `emit` below)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class CallSite:
    """What codegen hands an op's `emit`: the node, its place in the graph and C expressions for its
    operands.  `ins`: pointer expressions of every input (constants become arrays in weights.c); `out`:
    of the output; `r_in`, `r0`, `rn`: the row arguments (in_row0, out_row0, out_rows) of a row-banded
    call in a patch-based stage, else "0", "0" and the output's height; `band`: the stage's band (None
    outside stages); `base`: the node's C name stem ("<index>_<node name>") for its params and arrays."""
    graph: object
    node: object
    index: int
    ins: list
    out: str
    r_in: str
    r0: str
    rn: str
    band: dict | None
    base: str

    @property
    def ish(self):
        return self.graph.tensors[self.node.inputs[0]].shape

    @property
    def osh(self):
        return self.graph.tensors[self.node.outputs[0]].shape

    @property
    def s16(self) -> bool:
        """The node runs in int16 (its output is int16: TFLite's 16x8 mode)."""
        return self.graph.tensors[self.node.outputs[0]].dtype == "int16"


@dataclass(frozen=True)
class OpDef:
    """One IR op.  Only `name`, `doc` and `shape` are required; a field left None means the op does not
    have that part (no integer kernel, no int16 kernel, no attribute check, ...).

    name         the IR op name (Node.op)
    doc          its inputs and attributes, as ir.OPS shows them
    arity        (least, most) inputs importers may give it (builder.check_node)
    check        check(op, attrs, shapes, consts): the IR contract of a node an importer emits; raises
                 ModelFormatError (edgec.compiler.ops.checks has the helpers)
    shape        shape(node, input shapes) -> [output shape, ...]
    float_ref    float_ref(node, *inputs) -> output: the float reference (onnxruntime's twin)
    int8_ref     int8_ref(node, *inputs): the integer reference, twin of the int8 C kernel
    int16_ref    likewise for nodes whose output is int16 (TFLite's 16x8 mode)
    quantize     quantize(q, node): sets the node's integer attrs and its output's quantization; `q` is
                 passes/quantize.py's quantizer, whose methods (calibrated, qof, set_act, weighted, ...)
                 are the shared rules
    quantize16   likewise for an int16 node; an op with one can have int16 outputs (SUPPORTED_S16)
    emit         emit(e, site) -> C statement(s) or None: the kernel call; `e` is codegen's emitter (its
                 array(), param() and ptr() make weights.c arrays, param structs and pointers; call(fn,
                 *args) writes each call and records it for the model image, codegen/calls.py), `site` a
                 CallSite.  None: codegen/c.py keeps the op's emitter (weight layouts and loop nests
                 that only codegen knows: Conv2D, FullyConnected, LSTM, GRU)
    kernel_file  the runtime_c/ file of its int8 kernel; kernel_file16 of its int16 one
    macs         macs(graph, node) -> multiply-accumulates (the report, tiling and scratch plans); None: 0
    window       window(graph, node) -> (kernel rows, stride, dilation, top pad): the op is row-local, and
                 a patch-based stage (passes/tile.py) may run it over row bands (or None for a node
                 the op's attributes make not row-local); window None: not tileable
    unary        an element-wise function of one input: a 256-entry Lut in the integer graph
    """
    name: str
    doc: str
    shape: Callable
    arity: tuple = (1, 1)
    check: Callable | None = None
    float_ref: Callable | None = None
    int8_ref: Callable | None = None
    int16_ref: Callable | None = None
    quantize: Callable | None = None
    quantize16: Callable | None = None
    emit: Callable | None = None
    kernel_file: str | None = None
    kernel_file16: str | None = None
    macs: Callable | None = None
    window: Callable | None = None
    unary: bool = False
    extra: dict = field(default_factory=dict)


def same_shape(node, s):
    """The shape function of an op whose output has its first input's shape."""
    return [s[0]]
