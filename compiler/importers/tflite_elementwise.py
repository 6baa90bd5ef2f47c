"""Float .tflite element-wise operators that have no IR op of their own, and LOG_SOFTMAX.

TFLite writes activations the converter could not match to a builtin as chains of primitives, as the
ONNX exporters do: softsign as x / (1 + |x|), log-sigmoid as -softplus(-x) with LOG and EXP, RMS-style
scalings with RSQRT, clamps with MAXIMUM / MINIMUM by a scalar.  A float file's primitive becomes an
`Elementwise` node holding its one-step program (compiler/elementwise.py); passes/collapse_elementwise.py
composes a chain that depends on one tensor into one program and quantize makes it a table.  A chain over
two different tensors (MAXIMUM of two branches) is refused there with every node named.

DIV by a constant is MUL by its reciprocal (a Mul node, as the ONNX importer does); by a computed tensor
it is the "div" primitive.  A fused activation of DIV is the program's last steps (max / min by the
clamp's bounds).  EXP is the IR's Exp op, LOG_SOFTMAX the IR's LogSoftmax (compiler/log_softmax.py).
Int8 files never reach this module: their operators keep TFLite Micro's own arithmetic (tflite.py)."""
from __future__ import annotations

import numpy as np

from ..elementwise import IN, STEP, primitive
from ..ir import Tensor, unique_name
from .tflite_params import ACTIVATIONS

#: float operators of one input -> the program over it (TFLite's ROUND is half to even, as np.round)
PROGRAMS = {**{name: primitive(name.lower(), 1) for name in ("ABS", "NEG", "LOG", "SQRT", "SIN", "COS", "FLOOR",
                                                             "CEIL", "ROUND")},
            "RSQRT": (("sqrt", IN()), ("reciprocal", STEP(0))),        # TFLite: 1.f / std::sqrt(x)
            "SQUARE": (("mul", IN(), IN()),)}
#: float operators of two inputs -> the primitive
BINARY = {"DIV": "div", "MAXIMUM": "max", "MINIMUM": "min"}
#: IR ops of their own
OWN = {"EXP": "Exp", "LOG_SOFTMAX": "LogSoftmax"}
OPS = tuple(PROGRAMS) + tuple(BINARY) + tuple(OWN)


def check(imp, name, ins, outs, opt, bad) -> None:
    """A DIV by a constant must not divide by zero (it becomes a multiplication by the reciprocal)."""
    if name == "DIV" and len(ins) == 2 and imp.tensors[ins[1]].data is not None \
            and not np.all(np.asarray(imp.tensors[ins[1]].data, np.float64)):
        bad("DIV by a constant that holds zero")


def _clamp_steps(program: tuple, act: int) -> tuple:
    """The program followed by a fused activation's clamp (max, then min, by its finite bounds)."""
    bounds = ACTIVATIONS[act]
    if bounds is None:
        return program
    steps = list(program)
    for fn, b in zip(("max", "min"), bounds):
        if np.isfinite(b):
            steps.append((fn, STEP(len(steps) - 1), float(b)))
    return tuple(steps)


def import_op(imp, name, ins, outs, opt) -> None:
    """One float operator of OPS into the importer's float graph."""
    t = imp.tensors
    if name in OWN:
        imp.node(OWN[name], outs[0], [imp.act(ins[0])], [imp.act(outs[0])], {})
        return
    if name in PROGRAMS:
        imp.node("Elementwise", outs[0], [imp.act(ins[0])], [imp.act(outs[0])], {"program": PROGRAMS[name]})
        return
    act = opt.get("act", 0)
    if name == "DIV" and t[ins[1]].data is not None:          # x / c: x * (1 / c)
        c = t[ins[1]]
        n = unique_name(imp.used, imp.name(ins[1]) + "_reciprocal")
        imp.used.add(n)
        imp.fg[n] = Tensor(n, c.shape, "float32",
                           (1.0 / np.asarray(c.data, np.float64)).astype(np.float32).reshape(c.shape))
        imp.node("Mul", outs[0], [imp.act(ins[0]), n], [imp.act(outs[0])], {"act": ACTIVATIONS[act]})
        return
    names = [imp.const_operand(i) if t[i].data is not None else imp.act(i) for i in ins[:2]]
    imp.node("Elementwise", outs[0], names, [imp.act(outs[0])],
             {"program": _clamp_steps(primitive(BINARY[name], 2), act)})
