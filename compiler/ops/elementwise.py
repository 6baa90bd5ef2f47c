"""Elementwise: a program of primitive element-wise steps over up to three inputs (compiler/elementwise.py),
what importers make of ops edgec has no kernel for (Floor, Where, Pow, Celu, ...).  Float graphs only:
passes/collapse_elementwise.py makes chains of them functions of one tensor, which quantize tabulates
into a Lut like a unary op; others are refused."""
from __future__ import annotations

import numpy as np

from .. import elementwise
from .base import OpDef
from .binary import broadcast_shape
from .unary import UNARY

#: The unary ops' float functions, which programs may call (reference.FLOAT_UNARY is the same table).
_UNARY_FNS = {name: fn for name, (_, fn, _) in UNARY.items()}


def quantize(q, node):
    """A chain collapse_elementwise made a function of one tensor: a table like any unary op.  Values
    the function leaves undefined (log 0, 0/0) saturate (inf) or give the zero point (nan)."""
    def fn(n, x):
        y = elementwise.evaluate(n.attrs["program"], [x], _UNARY_FNS, np.float64)
        return np.nan_to_num(y, nan=0.0, posinf=1e30, neginf=-1e30)
    q.unary(node, fn)


DEFS = [OpDef("Elementwise", "xs... (numpy broadcasting); attrs program: primitive element-wise steps "
                             "(compiler/elementwise.py); float graphs only: one-input programs become Lut, others are "
                             "refused", broadcast_shape, arity=(1, 3),
              float_ref=lambda n, *xs: elementwise.evaluate(n.attrs["program"], list(xs), _UNARY_FNS),
              quantize=quantize)]
