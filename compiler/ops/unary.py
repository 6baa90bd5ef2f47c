"""The element-wise unary ops (Relu ... Gelu) and Lut, what each becomes in the integer graph.

Float graphs run each op's formula; quantize (passes/quantize.py, q.unary) tabulates it over the 256
int8 input values into a "Lut" node, so one kernel (runtime_c/edgec_lut_s8.c) runs them all.  A new
unary op is one entry in UNARY below (and its importers' lines)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFormatError
from .base import OpDef, same_shape
from .checks import finite


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(n, x):
    if n.attrs.get("approximate", "none") == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _check_clip(op, attrs, shapes, consts):
    lo, hi = finite(attrs["min"], "Clip min", True), finite(attrs["max"], "Clip max", True)
    if lo >= hi:
        raise ModelFormatError(f"Clip min {lo} is not below max {hi}")


#: name -> (ir.OPS text, float function (node, x), attribute check or None)
UNARY = {
    "Relu": ("x", lambda n, x: np.maximum(x, 0), None),
    "Clip": ("x; attrs min, max", lambda n, x: np.clip(x, n.attrs["min"], n.attrs["max"]), _check_clip),
    "LeakyRelu": ("x; attrs alpha", lambda n, x: np.where(x >= 0, x, x * n.attrs["alpha"]),
                  lambda op, attrs, shapes, consts: finite(attrs["alpha"], "LeakyRelu alpha")),
    "Sigmoid": ("x", lambda n, x: _sigmoid(x), None),
    "Tanh": ("x", lambda n, x: np.tanh(x), None),
    "Swish": ("x * sigmoid(x)", lambda n, x: x * _sigmoid(x), None),
    "HardSigmoid": ("clip(alpha * x + beta, 0, 1); attrs alpha, beta",
                    lambda n, x: np.clip(n.attrs["alpha"] * x + n.attrs["beta"], 0, 1),
                    lambda op, attrs, shapes, consts: (finite(attrs["alpha"], "HardSigmoid alpha"),
                                                       finite(attrs["beta"], "HardSigmoid beta"))),
    "HardSwish": ("x * relu6(x + 3) / 6", lambda n, x: x * np.clip(x + 3, 0, 6) / 6, None),
    "Mish": ("x * tanh(softplus(x))", lambda n, x: x * np.tanh(np.logaddexp(0, x)), None),
    "Elu": ("x if x > 0 else alpha * (exp(x) - 1); attrs alpha",
            lambda n, x: np.where(x > 0, x, n.attrs["alpha"] * np.expm1(np.minimum(x, 0))), None),
    "Selu": ("gamma * (x if x > 0 else alpha * (exp(x) - 1)); attrs alpha, gamma",
             lambda n, x: n.attrs["gamma"] * np.where(x > 0, x, n.attrs["alpha"] * np.expm1(np.minimum(x, 0))), None),
    "Softplus": ("log(1 + exp(x))", lambda n, x: np.logaddexp(0, x), None),
    "Softsign": ("x / (1 + |x|)", lambda n, x: x / (1 + np.abs(x)), None),
    "Exp": ("exp(x)", lambda n, x: np.exp(x), None),
    "Erf": ("erf(x)", lambda n, x: _erf(x), None),
    "Gelu": ("x * (1 + erf(x / sqrt 2)) / 2; attrs approximate \"none\" | \"tanh\" (the tanh formula)", _gelu, None),
}


def lut_s8(node, x):
    table = np.asarray(node.attrs["table"], dtype=np.int8)
    return table[x.astype(np.int64) + 128]


def emit_lut(e, s):
    a, osh = s.node.attrs, s.osh
    t = e.array(np.asarray(a["table"], np.int8), f"lut{s.index}_{s.node.name}", "int8_t", f"{a['function']} table")
    n = s.graph.tensors[s.node.outputs[0]].size if s.band is None else e.scaled(s.band["out_rows"], osh[2] * osh[3])
    return e.call("edgec_lut_s8", t, s.ins[0], s.out, n)


DEFS = [OpDef(name, doc, same_shape, check=check, float_ref=fn, quantize=lambda q, node: q.unary(node), unary=True)
        for name, (doc, fn, check) in UNARY.items()] + [
    OpDef("Lut", "x; attrs table (256 int8: out = table[x + 128]), function (the op it was): integer graphs only, "
                 "what quantize makes of a unary op", same_shape, int8_ref=lut_s8, emit=emit_lut,
          kernel_file="edgec_lut_s8.c", window=lambda graph, node: (1, 1, 1, 0)),
]
