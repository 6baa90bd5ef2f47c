"""BatchNorm: float graphs only; passes/fold_batchnorm.py folds it into the conv before it (or a
per-channel Mul/Add) before quantization, so it has no integer part."""
from __future__ import annotations

import numpy as np

from ..errors import EdgecError, ModelFormatError
from .base import OpDef, same_shape
from .checks import finite


def check(op, attrs, shapes, consts):
    c = shapes[0][-1] if shapes[0] else 0
    for what, s, data in zip(("scale", "bias", "mean", "variance"), shapes[1:], consts[1:]):
        if s != (c,) or data is None:
            raise ModelFormatError(f"BatchNorm {what} of shape {s} for {c} channels (must be a constant of shape ({c},))")
    eps = finite(attrs["epsilon"], "BatchNorm epsilon")
    if (np.asarray(consts[4], np.float64) + eps <= 0).any():
        raise ModelFormatError("BatchNorm variance + epsilon is not positive")


def batchnorm_f32(node, x, scale, bias, mean, var):
    return (x - mean) / np.sqrt(var + node.attrs["epsilon"]) * scale + bias


def quantize(q, node):
    raise EdgecError("BatchNorm reached quantization", where=f"node {node.name}", hint="fold_batchnorm must run first")


DEFS = [OpDef("BatchNorm", "x, scale, bias, mean, var; attrs epsilon (folded away before quantization)", same_shape,
              arity=(5, 5), check=check, float_ref=batchnorm_f32, quantize=quantize)]
