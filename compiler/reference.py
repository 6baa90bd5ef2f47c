"""The numpy reference interpreter: one function per op and dtype.

`run(graph, x)` on a float graph gives the float answer (checked against onnxruntime); on a
quantized graph it gives the integer answer, which is the contract: the generated C must equal it
bit for bit.  Each `*_s8` function here is the twin of `runtime_c/edgec_<op>_s8.c`, each `*_s16` one
of `runtime_c/edgec_<op>_s16.c`; a node whose output tensor is int16 runs its op's `*_s16` twin.

Integer sums are formed in float64 (exact: every partial sum of int8 products is far below 2^53)
so numpy's BLAS can do them, then turned back to int64.
"""
from __future__ import annotations

import math

import numpy as np

from . import fixedpoint as fp
from . import gemmlowp
from . import resize
from . import mean
from . import prelu
from . import svdf
from . import strided_slice
from . import elementwise
from . import log_softmax
from .errors import InputDataError
from .ir import Graph
from .recurrent import gru_f32, gru_s8, lstm_f32, lstm_s8

# ---------------------------------------------------------------------------------------------
# shared helpers


def _patches(x, kernel, strides, dilations, pads, pad_value):
    """[N,H,W,C] -> [N,OH,OW,KH,KW,C] windows of the padded input."""
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr) = kernel, strides, dilations, pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=pad_value)
    win = np.lib.stride_tricks.sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
    win = win[:, ::sh, ::sw, :, ::dh, ::dw]             # [N,OH,OW,C,KH,KW]
    return np.moveaxis(win, 3, 5)


def _grouped_conv(patches, w, groups):
    """patches [N,OH,OW,KH,KW,C] (float64), w [O,KH,KW,C/g] -> [N,OH,OW,O] float64."""
    n, oh, ow, kh, kw, c = patches.shape
    o = w.shape[0]
    cg, og = c // groups, o // groups
    p = patches.reshape(n, oh, ow, kh, kw, groups, cg)
    wg = w.reshape(groups, og, kh, kw, cg).astype(np.float64)
    out = np.einsum("nyxhwgc,gohwc->nyxgo", p, wg, optimize=True)
    return out.reshape(n, oh, ow, o)


def _pool_windows(x, node, pad_value):
    a = node.attrs
    return _patches(x, a["kernel"], a["strides"], (1, 1), a["pads"], pad_value)


def _pool_counts(x_shape, node):
    ones = np.ones((1,) + tuple(x_shape[1:3]) + (1,), np.int64)
    return _pool_windows(ones, node, 0).sum(axis=(3, 4))  # [1,OH,OW,1]


def _act_float(y, act):
    if act is None:
        return y
    lo, hi = act
    return np.clip(y, lo, hi)


# ---------------------------------------------------------------------------------------------
# float ops


def conv2d_f32(node, x, w, b):
    a = node.attrs
    p = _patches(x.astype(np.float64), w.shape[1:3], a["strides"], a["dilations"], a["pads"], 0.0)
    return _act_float(_grouped_conv(p, w, a["groups"]) + b, a.get("act"))


def fully_connected_f32(node, x, w, b):
    return _act_float(x.astype(np.float64) @ w.T.astype(np.float64) + b, node.attrs.get("act"))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(n, x):
    if n.attrs.get("approximate", "none") == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


FLOAT_UNARY = {
    "Relu": lambda n, x: np.maximum(x, 0),
    "Clip": lambda n, x: np.clip(x, n.attrs["min"], n.attrs["max"]),
    "LeakyRelu": lambda n, x: np.where(x >= 0, x, x * n.attrs["alpha"]),
    "Sigmoid": lambda n, x: _sigmoid(x),
    "Tanh": lambda n, x: np.tanh(x),
    "Swish": lambda n, x: x * _sigmoid(x),
    "HardSigmoid": lambda n, x: np.clip(n.attrs["alpha"] * x + n.attrs["beta"], 0, 1),
    "HardSwish": lambda n, x: x * np.clip(x + 3, 0, 6) / 6,
    "Mish": lambda n, x: x * np.tanh(np.logaddexp(0, x)),
    "Elu": lambda n, x: np.where(x > 0, x, n.attrs["alpha"] * np.expm1(np.minimum(x, 0))),
    "Selu": lambda n, x: n.attrs["gamma"] * np.where(x > 0, x, n.attrs["alpha"] * np.expm1(np.minimum(x, 0))),
    "Softplus": lambda n, x: np.logaddexp(0, x),
    "Softsign": lambda n, x: x / (1 + np.abs(x)),
    "Exp": lambda n, x: np.exp(x),
    "Erf": lambda n, x: _erf(x),
    "Gelu": _gelu,
}


def softmax_f32(node, x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def maxpool_f32(node, x):
    return _act_float(_pool_windows(x, node, -np.inf).max(axis=(3, 4)), node.attrs.get("act"))


def avgpool_f32(node, x):
    s = _pool_windows(x.astype(np.float64), node, 0.0).sum(axis=(3, 4))
    return _act_float(s / _pool_counts(x.shape, node), node.attrs.get("act"))


def batchnorm_f32(node, x, scale, bias, mean, var):
    return (x - mean) / np.sqrt(var + node.attrs["epsilon"]) * scale + bias


def concat_any(node, *xs):
    return np.concatenate(xs, axis=node.attrs["axis"])


def upsample_any(node, x):
    sh, sw = node.attrs["scale"]
    return np.repeat(np.repeat(x, sh, axis=1), sw, axis=2)


def slice_any(node, x):
    return x[tuple(slice(b, e) for b, e in zip(node.attrs["begin"], node.attrs["end"]))]


def pad_f32(node, x):
    r = x.ndim
    p = node.attrs["pads"]
    if node.attrs.get("mode") == "edge":
        return np.pad(x, [(p[i], p[i + r]) for i in range(r)], mode="edge")
    return np.pad(x, [(p[i], p[i + r]) for i in range(r)])


FLOAT_OPS = {
    "Conv2D": conv2d_f32,
    "FullyConnected": fully_connected_f32,
    "Add": lambda n, a, b: _act_float(a + b, n.attrs.get("act")),
    "Sub": lambda n, a, b: _act_float(a - b, n.attrs.get("act")),
    "Mul": lambda n, a, b: _act_float(a * b, n.attrs.get("act")),
    "MaxPool2D": maxpool_f32,
    "AvgPool2D": avgpool_f32,
    "Softmax": softmax_f32,
    "LogSoftmax": log_softmax.log_softmax_f32,
    "BatchNorm": batchnorm_f32,
    "Reshape": lambda n, x: x.reshape(n.attrs["shape"]),
    "Transpose": lambda n, x: np.transpose(x, n.attrs["perm"]),
    "Pad": pad_f32,
    "Concat": concat_any,
    "Upsample": lambda n, x: upsample_any(n, x),
    "Slice": lambda n, x: slice_any(n, x),
    "LSTM": lstm_f32,
    "GRU": gru_f32,
    "Resize": resize.resize_f32,
    "Mean": mean.mean_f32,
    "PRelu": prelu.prelu_f32,
    "SvdfState": svdf.svdf_state_f32, "Svdf": svdf.svdf_f32,
    "StridedSlice": strided_slice.strided_slice_any,
    "Elementwise": lambda n, *xs: elementwise.evaluate(n.attrs["program"], list(xs), FLOAT_UNARY),
    **FLOAT_UNARY,
}

# ---------------------------------------------------------------------------------------------
# integer ops (twins of runtime_c/); every attr they read is set by passes/quantize.py


def _requant(acc, a):
    out = fp.multiply_by_quantized_multiplier(acc, a["multiplier"], a["shift"]) + a["out_zp"]
    return np.clip(out, a["act_min"], a["act_max"]).astype(np.int8)


def conv2d_s8(node, x, w, bias):
    a = node.attrs
    xs = x.astype(np.float64) - a["in_zp"]
    p = _patches(xs, w.shape[1:3], a["strides"], a["dilations"], a["pads"], 0.0)
    acc = np.rint(_grouped_conv(p, w, a["groups"])).astype(np.int64) + bias
    return _requant(fp.wrap32(acc), a)


def fully_connected_s8(node, x, w, bias):
    a = node.attrs
    acc = np.rint((x.astype(np.float64) - a["in_zp"]) @ w.T.astype(np.float64)).astype(np.int64) + bias
    return _requant(fp.wrap32(acc), a)


def add_s8(node, x, y):
    """TFLite's int8 Add: both inputs scaled to a common 2^-20 grid, summed, rescaled (Sub: b's multiplier < 0)."""
    a = node.attrs
    sx = fp.multiply_by_quantized_multiplier((x.astype(np.int64) - a["a_zp"]) << a["left_shift"], a["a_multiplier"], a["a_shift"])
    sy = fp.multiply_by_quantized_multiplier((y.astype(np.int64) - a["b_zp"]) << a["left_shift"], a["b_multiplier"], a["b_shift"])
    return _requant(fp.wrap32(sx + sy), a)


def mul_s8(node, x, y):
    a = node.attrs
    prod = (x.astype(np.int64) - a["a_zp"]) * (y.astype(np.int64) - a["b_zp"])
    return _requant(prod, a)


def maxpool_s8(node, x):
    """Twin of edgec_maxpool_s8 and edgec_maxpool_s16: the output has the input's type."""
    a = node.attrs
    m = _pool_windows(x.astype(np.int64), node, -(1 << 20)).max(axis=(3, 4))
    return np.clip(m, a["act_min"], a["act_max"]).astype(x.dtype)


def avgpool_s8(node, x):
    """Twin of edgec_avgpool_s8 and edgec_avgpool_s16: the output has the input's type."""
    a = node.attrs
    s = _pool_windows(x.astype(np.int64), node, 0).sum(axis=(3, 4))
    avg = fp.divide_round_half_away(s, _pool_counts(x.shape, node))
    return np.clip(avg, a["act_min"], a["act_max"]).astype(x.dtype)


def lut_s8(node, x):
    table = np.asarray(node.attrs["table"], dtype=np.int8)
    return table[x.astype(np.int64) + 128]


def softmax_s8(node, x):
    """exp(s*(x - max)) from a compile-time table of round(2^K * exp(-s*d)), d = 0..255, then
    out = -128 + round_half_up(e * 256 / sum) clamped to 127: output scale 1/256, zero point -128.
    Mode "tflm" (imported .tflite models): TFLite Micro's arithmetic instead, see softmax_tflm_s8."""
    if node.attrs.get("mode") == "tflm":
        return softmax_tflm_s8(node, x)
    table = np.asarray(node.attrs["exp_table"], dtype=np.int64)
    xi = x.astype(np.int64)
    d = xi.max(axis=-1, keepdims=True) - xi
    e = table[d]
    s = e.sum(axis=-1, keepdims=True)
    out = (e * 256 + s // 2) // s - 128
    return np.minimum(out, 127).astype(np.int8)


def softmax_tflm_s8(node, x):
    """TFLite Micro's int8 softmax (reference_ops::Softmax, gemmlowp fixed point): exp_table[d] is
    exp(-d * s * beta) in Q0.31 as TFLM computes it (0 below diff_min); the row sum of the exps
    rescaled to Q12.19, its reciprocal by Newton-Raphson, and out = RDBP(SRDHM(recip, e), bits) - 128."""
    table = np.asarray(node.attrs["exp_table"], dtype=np.int64)
    xi = x.astype(np.int64)
    e = table[xi.max(axis=-1, keepdims=True) - xi]
    total = fp.rounding_divide_by_pot(e, 12).sum(axis=-1, keepdims=True)
    recip, bits_over_unit = gemmlowp.get_reciprocal(total, gemmlowp.ACCUMULATION_INTEGER_BITS)
    out = fp.rounding_divide_by_pot(fp.saturating_rounding_doubling_high_mul(recip, e), bits_over_unit + 23) - 128
    return np.clip(out, -128, 127).astype(np.int8)


def pad_s8(node, x):
    r = x.ndim
    p = node.attrs["pads"]
    if node.attrs.get("mode") == "edge":
        return np.pad(x, [(p[i], p[i + r]) for i in range(r)], mode="edge")
    return np.pad(x, [(p[i], p[i + r]) for i in range(r)], constant_values=node.attrs["pad_value"])


def concat_s8(node, *xs):
    parts = []
    for x, rq in zip(xs, node.attrs["requant"]):
        if rq is None:
            parts.append(x)
        else:
            v = fp.multiply_by_quantized_multiplier(x.astype(np.int64) - rq["in_zp"], rq["multiplier"], rq["shift"])
            parts.append(np.clip(v + node.attrs["out_zp"], -128, 127).astype(np.int8))
    return np.concatenate(parts, axis=node.attrs["axis"])


INT_OPS = {
    "Conv2D": conv2d_s8,
    "FullyConnected": fully_connected_s8,
    "Add": add_s8,
    "Sub": add_s8,
    "Mul": mul_s8,
    "MaxPool2D": maxpool_s8,
    "AvgPool2D": avgpool_s8,
    "Lut": lut_s8,
    "Softmax": softmax_s8,
    "LogSoftmax": log_softmax.log_softmax_s8,
    "Reshape": lambda n, x: x.reshape(n.attrs["shape"]),
    "Transpose": lambda n, x: np.transpose(x, n.attrs["perm"]),
    "Pad": pad_s8,
    "Concat": concat_s8,
    "Upsample": upsample_any,
    "Slice": slice_any,
    "LSTM": lstm_s8,
    "GRU": gru_s8,
    "Resize": resize.resize_s8,
    "Mean": mean.mean_s8,
    "PRelu": prelu.prelu_s8,
    "Svdf": svdf.svdf_s8,
    "StridedSlice": strided_slice.strided_slice_any,
}

# ---------------------------------------------------------------------------------------------
# int16 activations (TFLite's 16x8 mode): twins of runtime_c/edgec_<op>_s16.c.  Activations int16
# symmetric (zero point 0), weights int8 per channel, bias int64, int64 accumulation, requantized by
# fixedpoint.multiply_by_quantized_multiplier_int64 (TFLite's int64 MultiplyByQuantizedMultiplier).
# A node runs these when its output tensor is int16 (passes/quantize.py: its activation inputs are
# int16 too).  Sums of int16 x int8 products stay far below 2^53, so float64 sums are exact here too.


def _requant_s16(acc, a):
    out = fp.multiply_by_quantized_multiplier_int64(acc, a["multiplier"], a["shift"])
    return np.clip(out, a["act_min"], a["act_max"]).astype(np.int16)


def conv2d_s16(node, x, w, bias):
    """TFLite's reference_integer_ops::ConvPerChannel for int16 input (and DepthwiseConvPerChannel:
    groups == channels): acc = sum(x * w) + bias in int64, no input zero point, padding taps skipped."""
    a = node.attrs
    p = _patches(x.astype(np.float64), w.shape[1:3], a["strides"], a["dilations"], a["pads"], 0.0)
    acc = np.rint(_grouped_conv(p, w, a["groups"])).astype(np.int64) + bias.astype(np.int64)
    return _requant_s16(acc, a)


def fully_connected_s16(node, x, w, bias):
    acc = np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64) + bias.astype(np.int64)
    return _requant_s16(acc, node.attrs)


def add_s16(node, x, y):
    """TFLite's int16 Add (general scales): as add_s8 with left_shift 15 and zero points 0."""
    a = node.attrs
    sx = fp.multiply_by_quantized_multiplier(x.astype(np.int64) << a["left_shift"], a["a_multiplier"], a["a_shift"])
    sy = fp.multiply_by_quantized_multiplier(y.astype(np.int64) << a["left_shift"], a["b_multiplier"], a["b_shift"])
    out = fp.multiply_by_quantized_multiplier(fp.wrap32(sx + sy), a["multiplier"], a["shift"])
    return np.clip(out, a["act_min"], a["act_max"]).astype(np.int16)


maxpool_s16, avgpool_s16 = maxpool_s8, avgpool_s8


def requantize(node, x):
    """Requantize (int8 <-> int16, inserted by quantize where precisions meet): out = clamp(out_zp +
    mbqm(x - in_zp, multiplier, shift)) to the output dtype's range (attr out_dtype).  Twins:
    edgec_requantize_s8_s16 and edgec_requantize_s16_s8 (runtime_c/edgec_requantize_s16.c)."""
    a = node.attrs
    v = fp.multiply_by_quantized_multiplier(x.astype(np.int64) - a["in_zp"], a["multiplier"], a["shift"]) + a["out_zp"]
    info = np.iinfo(a["out_dtype"])
    return np.clip(v, info.min, info.max).astype(a["out_dtype"])


INT_OPS["Requantize"] = requantize

#: The kernels of int16 nodes (output dtype int16), by op; ops not here have int8 kernels only.
INT16_OPS = {
    "Conv2D": conv2d_s16,
    "FullyConnected": fully_connected_s16,
    "Add": add_s16,
    "MaxPool2D": maxpool_s16,
    "AvgPool2D": avgpool_s16,
    "Reshape": INT_OPS["Reshape"],
    "Requantize": requantize,
    "SvdfState": svdf.svdf_state_s16,
}

# ---------------------------------------------------------------------------------------------


def is_quantized(graph: Graph) -> bool:
    return bool(graph.meta.get("quantized"))


def initial_state(graph: Graph) -> dict:
    """{state tensor: its initial values} of a stateful graph (meta["state"], a streaming .tflite), else {}."""
    return {s["tensor"]: np.array(s["init"]) for s in graph.meta.get("state", [])}


def run(graph: Graph, x, keep_all: bool = False, state: dict | None = None):
    """Run one sample (batch as in the graph).  `x`: array for the single input, or {name: array}.
    Returns {output name: array}, or every tensor's value with keep_all (calibration, diagnostics).
    A stateful graph reads its state tensors from `state` ({tensor: values}, initial_state() when None)
    and, as the C does at the end of a run, `state` then holds the values assigned to them."""
    quantized = is_quantized(graph)
    if state is None:
        state = initial_state(graph)
    ops = INT_OPS if quantized else FLOAT_OPS
    feeds = x if isinstance(x, dict) else {graph.inputs[0]: x}
    env = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        v = np.asarray(feeds[name])
        if v.size != t.size:
            raise InputDataError(f"input {name} needs shape {t.shape}, got {v.shape}")
        env[name] = v.reshape(t.shape).astype(np.int8 if quantized else np.float32)
    for name, v in state.items():
        env[name] = np.asarray(v).reshape(graph.tensors[name].shape)
    for node in graph.nodes:
        args = [env[i] if i in env else graph.tensors[i].data for i in node.inputs]
        wide = quantized and graph.tensors[node.outputs[0]].dtype == "int16"
        out = (INT16_OPS if wide else ops)[node.op](node, *args)
        for o, v in zip(node.outputs, out if len(node.outputs) > 1 else [out]):
            env[o] = v if quantized else np.asarray(v, dtype=np.float32)
    for s in graph.meta.get("state", []):
        if s["next"] is not None:
            state[s["tensor"]] = np.array(env[s["next"]] if s["next"] in env else graph.tensors[s["next"]].data)
    if keep_all:
        return env
    return {o: env[o] for o in graph.outputs}


def run_batch(graph: Graph, xs: np.ndarray, stream: bool = True) -> np.ndarray:
    """Run each sample of xs ([N, ...input shape]) and stack the first output: [N, ...output shape].
    A stateful graph takes the samples as one stream, in order, its state carried from each to the next
    (as the C's successive runs do); `stream=False` starts every sample from the initial state."""
    state = initial_state(graph)
    return np.stack([run(graph, x, state=state if stream else None)[graph.outputs[0]] for x in xs])
