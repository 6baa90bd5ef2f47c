"""Element-wise functions without a kernel of their own, kept as small programs until they depend on one tensor.

Exporters write many activations as chains of primitive ops rather than as one named op: softshrink
and hardshrink as Where(Greater(x, l), ...), softsign as x / (1 + |x|), log-sigmoid as Log(Sigmoid(x)),
tanh-GELU with Pow, Softplus(beta) with a Where around its overflow guard, CELU, ThresholdedRelu.  No
primitive of such a chain has an int8 kernel, but a chain whose only computed input is one tensor is a
function of that tensor, and an int8 function of one int8 tensor is a 256-entry table: the same Lut
every other unary op becomes.

So importers emit each primitive as an `Elementwise` node whose attribute "program" is a one-step
program over the node's inputs; passes/collapse_elementwise.py composes the chains that depend on one
tensor into one-input programs (constants folded in); quantize turns those into tables.  An
`Elementwise` node that still reads two computed tensors after that has no integer form and is refused
by name.

A program is a tuple of steps; the last step is the result.  A step is (fn, arg, ...): FNS[fn] applied
to its args, or ("op", name, attrs, arg) for an IR unary op (reference.FLOAT_UNARY, e.g. a Sigmoid
inside a chain).  An arg is ("in", i) (input i of the node), ("step", j) (an earlier step) or a float.
"""
from __future__ import annotations

import numpy as np


def _where(c, a, b):
    return np.where(np.asarray(c) != 0, a, b)


#: primitive functions by name: float in, float out (comparisons give 0.0 / 1.0)
FNS = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "max": np.maximum, "min": np.minimum, "mod": np.fmod,
    "abs": np.abs, "neg": np.negative, "sign": np.sign, "log": np.log, "exp": np.exp, "sqrt": np.sqrt,
    "reciprocal": np.reciprocal, "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "floor": np.floor, "ceil": np.ceil,
    "round": np.round,                          # half to even, as ONNX Round
    "greater": lambda a, b: np.greater(a, b), "less": lambda a, b: np.less(a, b),
    "equal": lambda a, b: np.equal(a, b), "greater_equal": lambda a, b: np.greater_equal(a, b),
    "less_equal": lambda a, b: np.less_equal(a, b),
    "not": lambda a: np.equal(a, 0), "and": lambda a, b: (np.asarray(a) != 0) & (np.asarray(b) != 0),
    "or": lambda a, b: (np.asarray(a) != 0) | (np.asarray(b) != 0),
    "xor": lambda a, b: (np.asarray(a) != 0) ^ (np.asarray(b) != 0),
    "where": _where, "trunc": np.trunc, "nonzero": lambda a: np.not_equal(a, 0),
}
#: how many arguments each primitive takes
ARITY = {**{k: 2 for k in ("add", "sub", "mul", "div", "pow", "max", "min", "mod", "greater", "less", "equal",
                           "greater_equal", "less_equal", "and", "or", "xor")},
         **{k: 1 for k in ("abs", "neg", "sign", "log", "exp", "sqrt", "reciprocal", "sin", "cos", "tan", "asin", "acos",
                           "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "floor", "ceil",
                           "round", "not", "trunc", "nonzero")},
         "where": 3}


def IN(i: int = 0) -> tuple:
    return ("in", i)


def STEP(j: int) -> tuple:
    return ("step", j)


def primitive(fn: str, n_inputs: int) -> tuple:
    """The one-step program of a primitive over the node's inputs 0..n-1."""
    return ((fn,) + tuple(IN(i) for i in range(n_inputs)),)


def step_args(step: tuple) -> tuple:
    """The args of a step (for an IR op step, its one input)."""
    return step[3:] if step[0] == "op" else step[1:]


def evaluate(program, inputs: list, unary_ops: dict, dtype=np.float32):
    """The program's value on `inputs`; `unary_ops`: IR unary op name -> fn(node-like, x) (reference.FLOAT_UNARY,
    passed in so that this module stays below the reference).  Computed in `dtype`; IEEE specials
    (log 0, 0/0) come out as inf / nan as the model's framework gives them."""
    vals = []

    def arg(a):
        if isinstance(a, tuple):
            return np.asarray(inputs[a[1]] if a[0] == "in" else vals[a[1]], dtype)
        return dtype(a)

    with np.errstate(all="ignore"):
        for step in program:
            if step[0] == "op":
                _, name, attrs, x = step
                vals.append(np.asarray(unary_ops[name](_Attrs(dict(attrs)), arg(x)), dtype))
            else:
                vals.append(np.asarray(FNS[step[0]](*(arg(a) for a in step[1:])), dtype))
    return vals[-1]


class _Attrs:
    """What a FLOAT_UNARY function reads of its node: the attributes."""
    def __init__(self, attrs: dict):
        self.attrs = attrs


def describe(program, names=None) -> str:
    """A program as one readable line (reports, errors): f(x) in nested notation, inputs named by
    `names` (default x, x1, x2, ...)."""
    def arg(a, shown):
        if isinstance(a, tuple) and a[0] == "in":
            return names[a[1]] if names else "x" if a[1] == 0 else f"x{a[1]}"
        if isinstance(a, tuple):
            return shown[a[1]]
        return f"{float(a):g}"
    shown = []
    for step in program:
        if step[0] == "op":
            shown.append(f"{step[1]}({arg(step[3], shown)})")
        else:
            shown.append(f"{step[0]}({', '.join(arg(a, shown) for a in step[1:])})")
    return shown[-1]


# -- named functions that frameworks have and the IR spells as programs over one input (x = IN(0)) --------
def celu(alpha: float) -> tuple:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))"""
    return (("div", IN(), alpha), ("exp", STEP(0)), ("sub", STEP(1), 1.0), ("mul", STEP(2), alpha),
            ("min", STEP(3), 0.0), ("max", IN(), 0.0), ("add", STEP(5), STEP(4)))


def shrink(bias: float, lambd: float) -> tuple:
    """x - bias where x > lambd, x + bias where x < -lambd, else 0 (ONNX Shrink; hard: bias 0, soft: bias lambd)"""
    return (("greater", IN(), lambd), ("sub", IN(), bias), ("less", IN(), -lambd), ("add", IN(), bias),
            ("where", STEP(2), STEP(3), 0.0), ("where", STEP(0), STEP(1), STEP(4)))


def threshold(t: float, value: float) -> tuple:
    """x where x > t, else value (ONNX ThresholdedRelu: value 0)"""
    return (("greater", IN(), t), ("where", STEP(0), IN(), value))


def squareplus(b: float) -> tuple:
    """(x + sqrt(x^2 + b)) / 2"""
    return (("mul", IN(), IN()), ("add", STEP(0), b), ("sqrt", STEP(1)), ("add", IN(), STEP(2)), ("mul", STEP(3), 0.5))


def sparse_plus() -> tuple:
    """0 for x <= -1, (x + 1)^2 / 4 between, x for x >= 1"""
    return (("add", IN(), 1.0), ("mul", STEP(0), STEP(0)), ("mul", STEP(1), 0.25), ("greater_equal", IN(), 1.0),
            ("less_equal", IN(), -1.0), ("where", STEP(4), 0.0, STEP(2)), ("where", STEP(3), IN(), STEP(5)))


def log_sigmoid() -> tuple:
    """log(sigmoid(x)) = -softplus(-x), without its underflow"""
    return (("neg", IN()), ("op", "Softplus", (), STEP(0)), ("neg", STEP(1)))


def tanh_shrink() -> tuple:
    """x - tanh(x)"""
    return (("op", "Tanh", (), IN()), ("sub", IN(), STEP(0)))
