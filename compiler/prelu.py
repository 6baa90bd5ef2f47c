"""PRelu: x if x >= 0 else alpha * x, with a constant alpha tensor (TFLite's PRELU; Keras PReLU's slopes,
per channel with shared_axes=[1, 2], per element without).

alpha broadcasts against x from the right: its shape without leading 1s is x's trailing dims, so element i
of x uses alpha[i % alpha.size] (the "period") and the kernel needs no index arithmetic beyond that.

int8 (imported .tflite): TFLite Micro's arithmetic (reference_ops::BroadcastPrelu4DSlow), two multipliers
from QuantizeMultiplier: v = x - in_zp; y = out_zp + (v >= 0 ? mbqm(v, m1, s1) : mbqm(v * (a - alpha_zp), m2, s2)),
clamped, with m1, s1 for s_in / s_out and m2, s2 for s_in * s_alpha / s_out.  C: runtime_c/edgec_prelu_s8.c.
"""
from __future__ import annotations

import numpy as np

from . import fixedpoint as fp


def trailing(x_shape, alpha_shape) -> bool:
    """alpha's shape without leading 1s is x's trailing dims (the broadcasts edgec's kernel takes)."""
    a = list(alpha_shape)
    while a and a[0] == 1:
        a.pop(0)
    return len(a) <= len(x_shape) and tuple(a) == tuple(x_shape[len(x_shape) - len(a):])


def period(alpha_shape) -> int:
    return int(np.prod(alpha_shape)) if len(alpha_shape) else 1


def out_shape(node, shapes):
    return [shapes[0]]


def prelu_f32(node, x, alpha):
    return np.where(x >= 0, x, x * alpha).astype(np.float32)


def prelu_s8(node, x, alpha):
    """Twin of edgec_prelu_s8."""
    a = node.attrs
    p = period(alpha.shape)
    v = x.astype(np.int64).reshape(-1, p) - a["in_zp"]
    al = alpha.astype(np.int64).reshape(1, p) - a["alpha_zp"]
    pos = fp.multiply_by_quantized_multiplier(v, a["m1"], a["s1"])
    neg = fp.multiply_by_quantized_multiplier(v * al, a["m2"], a["s2"])
    y = np.where(v >= 0, pos, neg) + a["out_zp"]
    return np.clip(y, -128, 127).astype(np.int8).reshape(x.shape)
