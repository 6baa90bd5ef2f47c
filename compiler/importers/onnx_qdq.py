"""Pre-quantized ONNX: QDQ (QuantizeLinear / DequantizeLinear around float ops) and QOperator
(QLinearConv, QLinearMatMul, QLinearAdd, ...) graphs, imported with their own scales and zero points.

How: the ONNX importer reads such a graph as its dequantized float twin and notes, per IR tensor,
the quantization the file gives it (`meta["given_quant"]`); `quantize` then uses those scales and
zero points instead of calibrated ranges, and TFLite's int8 arithmetic for every kernel (the
converters that write QDQ graphs, tf2onnx and onnxruntime's quantizer, follow the TFLite int8 spec):

- DequantizeLinear of a constant (int8 weights, int32 biases) folds to the float constant; the
  weights keep their scales (per tensor or per output channel) for quantize, which recovers the
  very int8 values from them (exact: |q| <= 128 survives float32).  Int32 biases are recovered the
  same way, exactly while |bias| < 2^22 (float32's integer range with margin), which holds for
  every model here.
- QuantizeLinear / DequantizeLinear of an activation are aliases in the float twin (no fake
  quantization); the tensor they sit on gets their (scale, zero point).  A QuantizeLinear after
  Relu/Clip quantizes the op the activation fuses into (fuse_activations gives the fused op the
  Relu's output), as TFLite's fused activations mean.  A second QuantizeLinear of one value with
  other parameters (onnxruntime folds a Relu into one so) becomes a Clip to the range it holds,
  which quantize makes a requantizing lookup table.
- uint8 activations (onnxruntime's default QUInt8) become int8 with zero point - 128: the same
  real values, and edgec's C API is int8 (the caller quantizes with the INPUT_* defines).
- QOperator nodes are rewritten into the QDQ form first (`qoperator_to_qdq`), so one path imports
  both.
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError
from .builder import shown

#: QOperator op → (float op, the positions of its quantized inputs as (value, scale, zero point),
#: position of the output (scale, zero point), position of an int32 bias or None)
QOPERATORS = {
    "QLinearConv": ("Conv", [(0, 1, 2), (3, 4, 5)], (6, 7), 8),
    "QLinearMatMul": ("MatMul", [(0, 1, 2), (3, 4, 5)], (6, 7), None),
    "QLinearAdd": ("Add", [(0, 1, 2), (3, 4, 5)], (6, 7), None),
    "QLinearMul": ("Mul", [(0, 1, 2), (3, 4, 5)], (6, 7), None),
    "QLinearAveragePool": ("AveragePool", [(0, 1, 2)], (3, 4), None),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", [(0, 1, 2)], (3, 4), None),
    "QLinearSigmoid": ("Sigmoid", [(0, 1, 2)], (3, 4), None),
    "QLinearLeakyRelu": ("LeakyRelu", [(0, 1, 2)], (3, 4), None),
    "QLinearSoftmax": ("Softmax", [(0, 1, 2)], (3, 4), None),
    "QGemm": ("Gemm", [(0, 1, 2), (3, 4, 5)], (7, 8), 6),
}
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
#: attributes of the QOperator node that the float op does not take
DROPPED_ATTRS = {"channels_last", "opset", "domain"}
QUANT_HINT = "edgec imports int8/uint8 activations with int8 symmetric weights (TFLite's int8 spec)"


def qoperator_to_qdq(model) -> None:
    """Rewrite QOperator nodes of `model` (in place) into DequantizeLinear → float op → QuantizeLinear."""
    from onnx import helper, numpy_helper

    graph = model.graph
    if not any(n.op_type in QOPERATORS for n in graph.node):
        return
    inits = {i.name: i for i in graph.initializer}
    taken = {i.name for i in graph.initializer} | {o for n in graph.node for o in n.output} | \
        {i.name for i in graph.input}

    def fresh(base):
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    nodes = []
    for node in graph.node:
        if node.op_type not in QOPERATORS:
            nodes.append(node)
            continue
        op, qins, (ys, yzp), bias = QOPERATORS[node.op_type]
        ins = list(node.input)
        where = f"node {shown(node.name or node.output[0])} ({node.op_type})"
        need = max([max(t) for t in qins] + [yzp])
        if len(ins) <= need or any(not ins[i] for t in qins for i in t[:2]) or not ins[ys]:
            raise ModelFormatError(f"{where} has {len(ins)} inputs, it needs {need + 1}", hint="the file may be corrupt")
        float_ins = []
        for k, (v, s, z) in enumerate(qins):
            out = fresh(f"{ins[v]}_dequantized")
            nodes.append(helper.make_node("DequantizeLinear", [ins[v], ins[s]] + ([ins[z]] if ins[z] else []), [out],
                                          name=fresh(f"{node.name or node.output[0]}_dq{k}"),
                                          axis=_weight_axis(node, op) if k == 1 else 1))
            float_ins.append(out)
        if bias is not None and len(ins) > bias and ins[bias]:
            xs, ws = ins[qins[0][1]], ins[qins[1][1]]
            if xs not in inits or ws not in inits:
                raise UnsupportedOpError(f"{where}: scales must be constants", hint=QUANT_HINT)
            bscale = (numpy_helper.to_array(inits[xs]).astype(np.float32) *
                      numpy_helper.to_array(inits[ws]).astype(np.float32)).astype(np.float32)
            sname = fresh(f"{ins[bias]}_scale")
            graph.initializer.append(numpy_helper.from_array(bscale, sname))
            out = fresh(f"{ins[bias]}_dequantized")
            nodes.append(helper.make_node("DequantizeLinear", [ins[bias], sname], [out],
                                          name=fresh(f"{node.name or node.output[0]}_dqb"), axis=0))
            float_ins.append(out)
        y = fresh(f"{node.output[0]}_float")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name not in DROPPED_ATTRS}
        nodes.append(helper.make_node(op, float_ins, [y], name=fresh(f"{node.name or node.output[0]}_float"), **attrs))
        nodes.append(helper.make_node("QuantizeLinear", [y, ins[ys]] + ([ins[yzp]] if len(ins) > yzp and ins[yzp] else []),
                                      list(node.output[:1]), name=fresh(f"{node.name or node.output[0]}_q")))
    del graph.node[:]
    graph.node.extend(nodes)


def _weight_axis(node, op: str) -> int:
    """The axis of the second operand that holds the output channels (where per-channel scales run)."""
    from onnx import helper
    trans_b = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "transB"), 0)
    return 0 if op == "Conv" or (op == "Gemm" and trans_b) else 1


def _per_axis(v: np.ndarray, axis: int, rank: int) -> np.ndarray:
    """A scale / zero point (scalar or 1-D along `axis`) shaped to broadcast against a rank-`rank` array."""
    v = np.asarray(v)
    if v.size == 1 or rank == 0:
        return v.reshape(())
    shape = [1] * rank
    shape[axis] = v.size
    return v.reshape(shape)


def _params(imp, node, a, x_rank):
    scale = imp.const_in(node, 1, f"{node.op_type} scale")
    zp = imp.const_in(node, 2, f"{node.op_type} zero point")
    scale = np.asarray(scale, np.float64).reshape(-1)
    if not scale.size or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ModelFormatError(f"scale {scale[:4].tolist()} is not positive and finite", where=imp.where(node),
                               hint="the file may be corrupt")
    zdtype = np.asarray(zp).dtype if zp is not None else np.dtype(np.uint8 if node.op_type == "QuantizeLinear" else np.int8)
    zp = np.zeros(scale.size, np.int64) if zp is None else np.asarray(zp, np.int64).reshape(-1)
    if zp.size != scale.size:
        raise ModelFormatError(f"{scale.size} scales and {zp.size} zero points", where=imp.where(node),
                               hint="the file may be corrupt")
    axis = imp.a_int(node, a, "axis", 1)
    if scale.size > 1:
        if not -x_rank <= axis < x_rank:
            raise ModelFormatError(f"axis {axis} of a rank-{x_rank} tensor", where=imp.where(node),
                                   hint="the file may be corrupt")
        axis %= x_rank
    return scale, zp, zdtype, axis


def _act_params(imp, node, scale, zp, zdtype):
    """(scale, int8 zero point) of an activation; uint8 is shifted to int8."""
    if scale.size != 1:
        raise UnsupportedOpError(f"{node.op_type} of an activation with {scale.size} scales (per-channel)",
                                 where=imp.where(node), hint="edgec quantizes activations per tensor; " + QUANT_HINT)
    z = int(zp[0])
    if zdtype == np.uint8:
        z -= 128
    elif zdtype != np.int8:
        raise UnsupportedOpError(f"{zdtype} activations", where=imp.where(node), hint=QUANT_HINT)
    if not -128 <= z <= 127:
        raise ModelFormatError(f"zero point {int(zp[0])} is out of the {zdtype} range", where=imp.where(node),
                               hint="the file may be corrupt")
    return float(scale[0]), z


def dequantize_linear(imp, node, a):
    x = node.input[0]
    if x in imp.consts:
        q = np.asarray(imp.consts[x])
        scale, zp, _, axis = _params(imp, node, a, q.ndim)
        if q.dtype.kind not in "iu":
            raise ModelFormatError(f"DequantizeLinear of a {q.dtype} constant", where=imp.where(node),
                                   hint="the file may be corrupt")
        if scale.size > 1 and q.shape[axis] != scale.size:
            raise ModelFormatError(f"{scale.size} scales along axis {axis} of a constant of shape {q.shape}",
                                   where=imp.where(node), hint="the file may be corrupt")
        value = (q.astype(np.float64) - _per_axis(zp, axis, q.ndim)) * _per_axis(scale, axis, q.ndim)
        imp.consts[node.output[0]] = value
        imp.dq_consts[node.output[0]] = {"scale": scale, "zero_point": zp, "axis": axis if scale.size > 1 else None,
                                         "dtype": str(q.dtype)}
        return
    v = imp.val(x)
    scale, zp, zdtype, _ = _params(imp, node, a, len(v.perm))
    imp.note_act(v.ir, *_act_params(imp, node, scale, zp, zdtype), node)
    imp.vals[node.output[0]] = v


def quantize_linear(imp, node, a):
    x = node.input[0]
    if x in imp.consts:                          # float weights + Q + DQ (fake-quantized export): quantize them
        c = np.asarray(imp.consts[x], np.float64)
        scale, zp, zdtype, axis = _params(imp, node, a, c.ndim)
        info = np.iinfo(zdtype) if zdtype.kind in "iu" else np.iinfo(np.int8)
        q = np.round(c / _per_axis(scale, axis, c.ndim)) + _per_axis(zp, axis, c.ndim)   # ONNX: half to even
        imp.consts[node.output[0]] = np.clip(q, info.min, info.max).astype(zdtype)
        return
    v = imp.val(x)
    scale, zp, zdtype, _ = _params(imp, node, a, len(v.perm))
    params = _act_params(imp, node, scale, zp, zdtype)
    if imp.given_acts.get(v.ir, params) != params:
        # a second quantization of the same value (onnxruntime folds a Relu into one this way): a Clip to
        # the range this one can hold, which quantize turns into a requantizing lookup table
        s, z = params
        ir = imp.emit("Clip", node.name or node.output[0], [v.ir], node.output[0],
                      {"min": s * (-128 - z), "max": s * (127 - z)})
        imp.note_act(ir, *params, node)
        imp.set(node.output[0], ir, v.perm)
        return
    imp.note_act(v.ir, *params, node)
    imp.vals[node.output[0]] = v


def weight_scales(imp, onnx_name: str, ir_name: str, out_axis: int, channels: int, node) -> None:
    """Note the given scales of a weight constant (a DequantizeLinear output) for IR tensor `ir_name`,
    whose axis 0 is the ONNX constant's axis `out_axis` (the output channels)."""
    info = imp.dq_consts.get(onnx_name)
    if info is None:
        return
    if np.any(info["zero_point"] != 0):
        raise UnsupportedOpError("asymmetric weights (nonzero weight zero point)", where=imp.where(node),
                                 hint=QUANT_HINT)
    if info["axis"] is not None and info["axis"] != out_axis:
        raise UnsupportedOpError(f"weights quantized along axis {info['axis']} (not the output channels)",
                                 where=imp.where(node), hint=QUANT_HINT)
    scale = np.broadcast_to(info["scale"], (channels,)) if info["scale"].size == 1 else info["scale"]
    imp.given_weights[ir_name] = [float(s) for s in scale]
