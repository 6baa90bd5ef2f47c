"""L2 normalization along one axis: y = x / max(||x||_2, eps) (F.normalize(x, dim), ONNX LpNormalization
p=2, Keras UnitNormalization, TFLite L2_NORMALIZATION), and ReduceL2, the norm itself, which exists only
between passes: the exporters spell F.normalize as ReduceL2 -> Clip(min=eps) -> Expand -> Div, and
passes/fuse_l2_normalize.py makes that one L2Normalize (a ReduceL2 left over has no integer kernel).

Integer arithmetic: TFLite's int8 L2Normalization (reference_integer_ops::L2Normalization), so an int8
.tflite runs as TFLite Micro runs it: per row, the sum of squared (x - zp) in int32, its inverse square
root as a Q31 multiplier and a shift by TFLite's GetInvSqrtQuantizedMultiplierExp (Newton-Raphson in
gemmlowp fixed point, 5 iterations from 1), and y = clamp(mbqm(x - zp, m, shift + 7)), the 128 of the output
scale folded into the shift.  The
output's quantization is fixed, scale 1/128 and zero point 0, as TFLite fixes it (|y| <= 1).  The
result does not depend on the input's scale (x / ||x|| is scale-free), so nothing is computed at compile
time but the layout.  eps: a row whose int8 values are all the zero point gives 0, as max(0, eps) does.

Kernel: runtime_c/edgec_l2norm_s8.c (twin: l2norm_s8 below)."""
from __future__ import annotations

import numpy as np

from ..fixedpoint import multiply_by_quantized_multiplier, rounding_divide_by_pot, saturating_rounding_doubling_high_mul, wrap32
from ..gemmlowp import INT32_MAX, saturating_shift_left
from .common import around_axis, check_axis
from .base import OpDef, same_shape

OUT_SCALE, OUT_ZERO_POINT = 1.0 / 128, 0
MAX_COUNT = 1 << 15          # 255^2 * count stays inside the int32 sum TFLite keeps



def check(op, attrs, shapes, consts):
    check_axis(op, shapes[0], attrs["axis"], MAX_COUNT, "the int32 sum of squares")


def reduce_l2_shape(node, s):
    axis = node.attrs["axis"]
    if node.attrs.get("keep", True):
        return [tuple(1 if i == axis else d for i, d in enumerate(s[0]))]
    return [tuple(d for i, d in enumerate(s[0]) if i != axis)]


def reduce_l2_f32(node, x):
    n = np.sqrt(np.sum(np.asarray(x, np.float64) ** 2, axis=node.attrs["axis"], keepdims=True))
    return n.reshape(reduce_l2_shape(node, [x.shape])[0])


def l2norm_f32(node, x):
    x = np.asarray(x, np.float64)
    n = np.sqrt(np.sum(x * x, axis=node.attrs["axis"], keepdims=True))
    return x / np.maximum(n, node.attrs.get("eps", 0.0))


def inv_sqrt(v: int) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp(v, kReverseShift = -1): (m, s) with 1/sqrt(v) ~
    m * 2^(s - 31), s <= 0.  Integers only, each step as the C++ takes it."""
    if v <= 1:
        return INT32_MAX, 0
    shift = 11
    while v >= 1 << 29:
        v //= 4
        shift += 1
    pairs = (32 - v.bit_length() - 1) // 2 - 1          # (CountLeadingZeros(v) - 1) / 2 - 1
    shift -= pairs
    v <<= 2 * pairs
    srdhm = lambda a, b: int(saturating_rounding_doubling_high_mul(a, b))
    half_input = int(rounding_divide_by_pot(v >> 1, 1))   # F3 input, SaturatingRoundingMultiplyByPOT<-1>
    half_three = (1 << 28) + (1 << 27)                  # 1.5 in F3
    x = 1 << 28                                         # F3::One()
    for _ in range(5):
        x3 = int(saturating_shift_left(srdhm(srdhm(x, x), x), 6))           # Rescale<3>(x * x * x): F9 -> F3
        x = int(saturating_shift_left(wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 3))
    x = srdhm(x, 1518500250)                            # * sqrt(2) / 2 in F0
    if shift < 0:
        x = int(wrap32(x << -shift))
        shift = 0
    return x, -shift


def l2norm_s8(node, x):
    a = node.attrs
    outer, count, inner = around_axis(x.shape, a["axis"])
    d = np.asarray(x, np.int64).reshape(outer, count, inner) - a["in_zp"]
    sq = wrap32((d * d).sum(axis=1))                    # [outer, inner]
    out = np.empty_like(d)
    for o in range(outer):
        for i in range(inner):
            m, s = inv_sqrt(int(sq[o, i]))
            out[o, :, i] = multiply_by_quantized_multiplier(d[o, :, i], m, s + 7)     # * 128 folded into the shift
    return np.clip(out, -128, 127).astype(np.int8).reshape(x.shape)


def quantize(q, node):
    given = q.given_acts.get(node.outputs[0])
    if given is not None and (float(given[0]), int(given[1])) != (OUT_SCALE, OUT_ZERO_POINT):
        q.requant_after.add(node.name)              # a pre-quantized model's own output scale, after the kernel's
    q.set_act(node.outputs[0], OUT_SCALE, OUT_ZERO_POINT)
    node.attrs["in_zp"] = q.qof(node.inputs[0]).scalar_zp


def emit(e, s):
    outer, count, inner = around_axis(s.ish, s.node.attrs["axis"])
    p = e.param("edgec_l2norm_params", s.base, dict(outer=outer, count=count, inner=inner,
                                                     in_zp=s.node.attrs["in_zp"]))
    return e.call("edgec_l2norm_s8", f"&{p}", s.ins[0], s.out)


def _macs(graph, node):
    return 2 * graph.tensors[node.inputs[0]].size


DEFS = [OpDef("L2Normalize", "x; attrs axis (IR axis), eps (on the norm): x / max(||x||, eps); output scale 1/128",
              same_shape, check=check, float_ref=l2norm_f32, int8_ref=l2norm_s8, quantize=quantize, emit=emit,
              kernel_file="edgec_l2norm_s8.c", macs=_macs),
        OpDef("ReduceL2", "x; attrs axis (IR axis), keep: sqrt(sum x^2) (fused into L2Normalize before quantization)",
              reduce_l2_shape, check=check, float_ref=reduce_l2_f32)]
