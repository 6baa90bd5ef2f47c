"""The op registry (issue 17, 2): every IR op declared once, in one file per op family.

    compiler/ops/base.py      OpDef (the fields an op declares) and CallSite (what codegen hands its emitter)
    compiler/ops/<family>.py  the ops of a family: their arithmetic and a DEFS list of OpDefs
    compiler/ops/TEMPLATE.md  how to add an op

REGISTRY maps op name -> OpDef.  The tables the rest of edgec used to keep by hand are views of it:
ir.OPS, shapes.SHAPE_FNS, builder.ARITY (and check_node), reference.FLOAT_OPS / INT_OPS / INT16_OPS /
FLOAT_UNARY, quantize's rules and SUPPORTED_S16, codegen/c.py's KERNEL_FILE / KERNEL_FILE_S16 and kernel
calls, report.macs, tile.TILEABLE.

This package is IR level: it imports edgec.compiler.errors, edgec.compiler.fixedpoint and the op-family arithmetic
modules of compiler/ only, never ir/shapes/reference (which import it) nor anything above."""
from __future__ import annotations

from . import (argmax, batchnorm, cumsum, l2norm, topk, binary, conv, depth_to_space, elementwise, layout, mean, pool, prelu, recurrent, requantize, resample,
               softmax, strided_slice, svdf, unary)
from .base import CallSite, OpDef

FAMILIES = (conv, binary, pool, unary, softmax, layout, resample, mean, prelu, strided_slice, svdf, recurrent,
            requantize, batchnorm, elementwise, depth_to_space, argmax, l2norm, cumsum, topk)

REGISTRY: dict = {}
for _family in FAMILIES:
    for _d in _family.DEFS:
        assert _d.name not in REGISTRY, f"op {_d.name} is declared twice"
        REGISTRY[_d.name] = _d


def table(field: str) -> dict:
    """{op name: its OpDef's `field`} for the ops that have one (not None): the views the old tables are."""
    return {name: getattr(d, field) for name, d in REGISTRY.items() if getattr(d, field) is not None}


def get(op: str) -> OpDef | None:
    return REGISTRY.get(op)


__all__ = ["CallSite", "OpDef", "REGISTRY", "get", "table"]
