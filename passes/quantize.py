"""quantize: float graph with calibration ranges → int8 graph, per the TFLite int8 spec.

Activations int8 asymmetric (scale, zero point from the calibrated range, which always holds 0);
weights int8 symmetric per output channel; biases int32 at scale s_in*s_w; each node gets the
integer parameters its kernel needs (Q31 multipliers and shifts, zero points, clamps, tables) as
attrs, read by both the integer reference and codegen.  Element-wise unary ops become 256-entry
lookup tables ("Lut"); Softmax gets an exp table.  All float math of the product happens here.
"""
import math
from dataclasses import replace

import numpy as np

from edgec.errors import EdgecError
from edgec.fixedpoint import quantize_multiplier, round_half_away
from edgec.gemmlowp import softmax_tflm_exp_table, softmax_tflm_params
from edgec.ir import Graph, Node, Quant, Tensor, ELEMENTWISE_UNARY, unique_name
from edgec.reference import FLOAT_UNARY, conv2d_f32

SIGMOID_Q = (1.0 / 256, -128)
TANH_Q = (1.0 / 128, 0)
SOFTMAX_Q = (1.0 / 256, -128)
ADD_LEFT_SHIFT = 20


def activation_quant(lo: float, hi: float) -> tuple:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0 / 255.0
    zp = int(np.clip(round_half_away(-128 - lo / scale), -128, 127))
    return scale, zp


def _q(scale, zp):
    return Quant(np.float64(scale), np.int64(zp))


def quantize_values(x, scale, zp):
    return np.clip(round_half_away(np.asarray(x, np.float64) / scale) + zp, -128, 127).astype(np.int8)


def _clamp(act, scale, zp):
    if act is None:
        return -128, 127
    lo, hi = act
    qlo = -128 if not math.isfinite(lo) else int(np.clip(zp + round_half_away(lo / scale), -128, 127))
    qhi = 127 if not math.isfinite(hi) else int(np.clip(zp + round_half_away(hi / scale), -128, 127))
    return qlo, qhi


#: A bias is held in int32 at scale s_in*s_w; it may take at most this much of the int32 range (the
#: rest is for the products).  A channel whose weights are ~0 but whose bias is not (a BatchNorm with
#: gamma ~0 folded in: MobileNet's VWW has such channels) gets a weight scale large enough for that,
#: as TFLite's converter does; otherwise its bias saturates, its multiplier underflows to 0 and the
#: channel outputs a constant 0 instead of relu(bias).
BIAS_HEADROOM = float(1 << 30)


def quantize_weights(w, bias=None, s_in=None):
    """Symmetric int8 per output channel (axis 0): (int8 weights, float64 scale per channel).
    With the float bias and the input scale, no channel's scale is below |bias| / (s_in * BIAS_HEADROOM)."""
    w = np.asarray(w, np.float64)
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    s_w = np.where(amax > 0, amax / 127.0, 1.0)
    if bias is not None:
        s_w = np.maximum(s_w, np.abs(np.asarray(bias, np.float64)) / (s_in * BIAS_HEADROOM))
    wq = np.clip(round_half_away(w / s_w.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127).astype(np.int8)
    return wq, s_w


def weight_error_shift(node, mean_in, dw):
    """Bias correction: the mean shift of each output channel that the weight error dw (quantized
    minus float weights) causes, on the calibration inputs whose mean is mean_in.  The layer is linear
    before its activation, so this is the layer with weights dw and no bias applied to the mean input,
    averaged over output positions (padding included)."""
    mean_in = np.asarray(mean_in, np.float64)
    if node.op == "FullyConnected":
        y = mean_in.reshape(-1, dw.shape[1]) @ dw.T
    else:
        y = conv2d_f32(replace(node, attrs={**node.attrs, "act": None}), mean_in, dw, np.zeros(dw.shape[0]))
    return y.reshape(-1, dw.shape[0]).mean(axis=0)


def _multipliers(reals):
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).reshape(-1)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


class _Quantizer:
    def __init__(self, graph: Graph):
        self.src = graph
        self.g = graph.copy()
        # a pre-quantized (QDQ) model gives scales and zero points; calibration ranges fill in the rest
        given = graph.meta.get("given_quant") or {}
        self.given_acts = {k: tuple(v) for k, v in given.get("activations", {}).items()}
        self.given_weights = given.get("weights", {})
        self.ranges = graph.meta.get("ranges")
        if self.ranges is None and not given:
            raise EdgecError("the graph has no calibration ranges", hint="run calibrate() first")
        self.ranges = self.ranges or {}
        self.requant_after: set = set()     # nodes whose given output quantization differs from their input's
        self.means = graph.meta.get("input_means") or {}
        # Inputs bound into a Concat's buffer take the Concat's range (and so its scale): their
        # producers then write the final bytes and the Concat copies nothing.
        prod = self.g.producer()
        self.range_of = {}
        for node in self.g.nodes:
            for t, bound in zip(node.inputs, node.attrs.get("bound", [])):
                while bound and t is not None:
                    self.range_of[t] = node.outputs[0]
                    t = prod[t].inputs[0] if prod[t].op == "Reshape" else None

    def qof(self, name):
        return self.g.tensors[name].quant

    def set_act(self, name, scale, zp):
        t = self.g.tensors[name]
        t.dtype, t.quant = "int8", _q(scale, zp)

    def calibrated(self, name):
        if name in self.given_acts:
            self.set_act(name, *self.given_acts[name])
            return
        key = self.range_of.get(name, name)
        if key not in self.ranges:
            raise EdgecError(f"tensor {name} has no quantization: the pre-quantized model gives it none and there "
                             "is no calibration", where=f"tensor {name}",
                             hint="pass --calibration samples.npy to calibrate what the QDQ model leaves float")
        lo, hi = self.ranges[key]
        self.set_act(name, *activation_quant(lo, hi))

    def const_act(self, name):
        """A constant read as an activation (the other operand of Add/Mul): int8, its own range."""
        t = self.g.tensors[name]
        if t.dtype == "int8":
            return
        s, z = activation_quant(float(t.data.min()), float(t.data.max()))
        t.data, t.dtype, t.quant = quantize_values(t.data, s, z), "int8", _q(s, z)

    def run(self) -> Graph:
        for name in self.g.inputs:
            self.calibrated(name)
        for node in list(self.g.nodes):
            try:
                getattr(self, "q_" + ("Unary" if node.op in ELEMENTWISE_UNARY else node.op))(node)
                if node.name in self.requant_after:
                    self._insert_requant(node)
            except (ValueError, OverflowError, FloatingPointError) as e:     # e.g. weights near float32's max
                raise EdgecError(f"cannot quantize {node.op} node {node.name}: {e}", where=f"node {node.name}",
                                 hint="its weights or calibrated values are not finite or far out of range; "
                                      "check the model's weights (a corrupt or diverged training?)") from None
        self.g.meta["quantized"] = True
        if self.given_acts:
            self.g.meta["quantization"] = "from the model's QuantizeLinear/DequantizeLinear nodes"
        self.g.meta.pop("ranges", None)
        self.g.meta.pop("input_means", None)
        return self.g

    # -- per op ------------------------------------------------------------------------------
    def q_Conv2D(self, node):
        self._weighted(node, axis=0)

    def q_FullyConnected(self, node):
        self._weighted(node, axis=0)

    def _weighted(self, node, axis):
        x, wn, bn = node.inputs
        out = node.outputs[0]
        self.calibrated(out)
        s_in, zp_in = self.qof(x).scalar_scale, self.qof(x).scalar_zp
        s_out, zp_out = self.qof(out).scalar_scale, self.qof(out).scalar_zp
        w = self.src.tensors[wn].data.astype(np.float64)
        b = self.src.tensors[bn].data.astype(np.float64)
        if wn in self.given_weights:        # the file's int8 weights, exactly (|q| <= 128 survives float32)
            s_w = np.asarray(self.given_weights[wn], np.float64)
            wq = np.clip(round_half_away(w / s_w.reshape((-1,) + (1,) * (w.ndim - 1))), -128, 127).astype(np.int8)
        else:
            wq, s_w = quantize_weights(w, b, s_in)
        if x in self.means:                 # bias correction: undo the mean shift the weight error causes
            dw = wq.astype(np.float64) * s_w.reshape((-1,) + (1,) * (w.ndim - 1)) - w
            b = b - weight_error_shift(node, self.means[x], dw)
        bq = round_half_away(np.clip(b / (s_in * s_w), -(1 << 31), (1 << 31) - 1)).astype(np.int32)
        self.g.tensors[wn] = Tensor(wn, wq.shape, "int8", wq, Quant(s_w, np.zeros_like(s_w, np.int64), axis))
        self.g.tensors[bn] = Tensor(bn, bq.shape, "int32", bq, Quant(s_in * s_w, np.zeros_like(s_w, np.int64), 0))
        mult, shift = _multipliers(s_in * s_w / s_out)
        lo, hi = _clamp(node.attrs.get("act"), s_out, zp_out)
        node.attrs.update(in_zp=zp_in, out_zp=zp_out, multiplier=mult, shift=shift, act_min=lo, act_max=hi)

    def q_Add(self, node):
        self._add(node, sign=1)

    def q_Sub(self, node):
        self._add(node, sign=-1)

    def _add(self, node, sign):
        for i in node.inputs:
            if self.g.tensors[i].is_const:
                self.const_act(i)
        out = node.outputs[0]
        self.calibrated(out)
        qa, qb, qo = self.qof(node.inputs[0]), self.qof(node.inputs[1]), self.qof(out)
        twice_max = 2 * max(qa.scalar_scale, qb.scalar_scale)
        am, ash = quantize_multiplier(qa.scalar_scale / twice_max)
        bm, bsh = quantize_multiplier(qb.scalar_scale / twice_max)
        om, osh = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * qo.scalar_scale))
        lo, hi = _clamp(node.attrs.get("act"), qo.scalar_scale, qo.scalar_zp)
        node.attrs.update(left_shift=ADD_LEFT_SHIFT, a_zp=qa.scalar_zp, b_zp=qb.scalar_zp,
                          a_multiplier=am, a_shift=ash, b_multiplier=sign * bm, b_shift=bsh,
                          multiplier=om, shift=osh, out_zp=qo.scalar_zp, act_min=lo, act_max=hi)

    def q_Mul(self, node):
        for i in node.inputs:
            if self.g.tensors[i].is_const:
                self.const_act(i)
        out = node.outputs[0]
        self.calibrated(out)
        qa, qb, qo = self.qof(node.inputs[0]), self.qof(node.inputs[1]), self.qof(out)
        m, s = quantize_multiplier(qa.scalar_scale * qb.scalar_scale / qo.scalar_scale)
        lo, hi = _clamp(node.attrs.get("act"), qo.scalar_scale, qo.scalar_zp)
        node.attrs.update(a_zp=qa.scalar_zp, b_zp=qb.scalar_zp, multiplier=m, shift=s,
                          out_zp=qo.scalar_zp, act_min=lo, act_max=hi)

    def _same_as_input(self, node):
        """Pools and layout ops keep their input's quantization (TFLite's int8 spec).  A pre-quantized
        model that gives the output another one (onnxruntime's QLinearGlobalAveragePool does) gets a
        requantizing copy after the node: a one-input Concat."""
        qi = self.qof(node.inputs[0])
        given = self.given_acts.get(node.outputs[0])
        if given is not None and (float(given[0]), int(given[1])) != (float(qi.scalar_scale), int(qi.scalar_zp)):
            self.requant_after.add(node.name)
        self.set_act(node.outputs[0], qi.scalar_scale, qi.scalar_zp)
        return qi

    def _insert_requant(self, node):
        out = node.outputs[0]
        pre = unique_name(self.g.tensors, f"{out}_before_requant")
        t = self.g.tensors[out]
        self.g.tensors[pre] = Tensor(pre, t.shape, t.dtype, None, t.quant)
        node.outputs = [pre]
        copy = Node("Concat", unique_name({n.name for n in self.g.nodes}, f"{node.name}_requant"), [pre], [out],
                    {"axis": len(t.shape) - 1})
        self.g.nodes.insert(self.g.nodes.index(node) + 1, copy)
        self.q_Concat(copy)

    def q_MaxPool2D(self, node):
        qi = self._same_as_input(node)
        lo, hi = _clamp(node.attrs.get("act"), qi.scalar_scale, qi.scalar_zp)
        node.attrs.update(act_min=lo, act_max=hi)

    q_AvgPool2D = q_MaxPool2D

    def q_Reshape(self, node):
        self._same_as_input(node)

    q_Transpose = q_Upsample = q_Slice = q_Reshape

    def q_Pad(self, node):
        node.attrs["pad_value"] = self._same_as_input(node).scalar_zp

    def q_Unary(self, node):
        qi = self.qof(node.inputs[0])
        out = node.outputs[0]
        if out in self.given_acts:
            self.calibrated(out)
        elif node.op == "Sigmoid":
            self.set_act(out, *SIGMOID_Q)
        elif node.op == "Tanh":
            self.set_act(out, *TANH_Q)
        else:
            self.calibrated(out)
        qo = self.qof(out)
        real = qi.scalar_scale * (np.arange(-128, 128) - qi.scalar_zp)
        y = FLOAT_UNARY[node.op](node, real)
        table = quantize_values(y, qo.scalar_scale, qo.scalar_zp)
        node.attrs = {"function": node.op, **node.attrs, "table": table}
        node.op = "Lut"

    def q_Softmax(self, node):
        qi = self.qof(node.inputs[0])
        given = self.given_acts.get(node.outputs[0])
        if given is not None:                # pre-quantized: TFLite's softmax arithmetic, as the converter meant
            if (float(given[0]), int(given[1])) != SOFTMAX_Q:
                self.requant_after.add(node.name)        # onnxruntime's QDQ softmax: scale 1/255
            self.set_act(node.outputs[0], *SOFTMAX_Q)
            m, ls, dmin = softmax_tflm_params(qi.scalar_scale, 1.0)
            node.attrs.update(mode="tflm", beta=1.0, input_multiplier=m, input_left_shift=ls, diff_min=dmin,
                              exp_table=softmax_tflm_exp_table(qi.scalar_scale, 1.0))
            return
        self.set_act(node.outputs[0], *SOFTMAX_Q)
        cols = self.g.tensors[node.inputs[0]].shape[-1]
        k = min(22, 30 - max(1, math.ceil(math.log2(cols))))
        table = round_half_away((1 << k) * np.exp(-qi.scalar_scale * np.arange(256)))
        node.attrs.update(exp_table=table.astype(np.int32), exp_bits=k)

    def q_Concat(self, node):
        for i in node.inputs:
            if self.g.tensors[i].is_const:
                self.const_act(i)
        out = node.outputs[0]
        self.calibrated(out)
        qo = self.qof(out)
        requant = []
        for i in node.inputs:
            qi = self.qof(i)
            if (qi.scalar_scale, qi.scalar_zp) == (qo.scalar_scale, qo.scalar_zp):
                requant.append(None)
            else:
                m, s = quantize_multiplier(qi.scalar_scale / qo.scalar_scale)
                requant.append({"in_zp": qi.scalar_zp, "multiplier": m, "shift": s})
        node.attrs.update(out_zp=qo.scalar_zp, requant=requant)

    def q_BatchNorm(self, node):
        raise EdgecError("BatchNorm reached quantization", where=f"node {node.name}",
                         hint="fold_batchnorm must run first")


def quantize(graph: Graph) -> Graph:
    return _Quantizer(graph).run()
