"""quantize: float graph with calibration ranges → int8 graph, per the TFLite int8 spec.

Activations int8 asymmetric (scale, zero point from the calibrated range, which always holds 0);
weights int8 symmetric per output channel; biases int32 at scale s_in*s_w; each node gets the
integer parameters its kernel needs (Q31 multipliers and shifts, zero points, clamps, tables) as
attrs, read by both the integer reference and codegen.  Element-wise unary ops become 256-entry
lookup tables ("Lut"); Softmax gets an exp table.  All float math of the product happens here.

int16 activations (TFLite's "16x8" mode), per tensor: graph.meta["precision"] = {activation tensor:
"int16" | "int8"} (missing: int8).  An int16 activation is symmetric, scale max(|lo|, |hi|) / 32767,
zero point 0; weights stay int8 per channel, biases become int64.  A node runs in int16 iff its output
is int16; where one of its activation inputs has the other precision, a Requantize node (int8 <-> int16)
named <tensor>_s16 / <tensor>_s8 is inserted before it (one per tensor and precision, shared).  Only
outputs of SUPPORTED_S16 ops can be int16, never the graph's input or output (the C API is int8);
int16_candidates(graph) says which tensors can be and why the others cannot, and quantize refuses
(one EdgecError listing all) any other request.

Pre-quantized models: meta["given_quant"] gives scales and zero points (a QDQ ONNX model's), or, for an
int8 .tflite, every tensor typed with the file's exact integers and "arithmetic": "tflm": the rules then
keep the file's weights and quantization and use TFLite Micro's formulas where they differ from edgec's
own (activation clamps in float32, copy ops keeping the file's output quantization, element-wise ops as
tables of TFLM's fixed point from compiler/tflm.py, Resize's integer taps, SVDF's and the LSTM's
parameters from the file's states).  The importer derives no integer parameter itself.
"""
import math
from dataclasses import replace

import numpy as np

from ..compiler.errors import EdgecError, UnsupportedOpError
from ..compiler.fixedpoint import quantize_multiplier, round_half_away
from ..compiler import tflm
from ..compiler.gemmlowp import softmax_tflm_attrs
from ..compiler.ir import Graph, Node, Quant, Tensor, unique_name
from ..compiler.ops import REGISTRY, table
from ..compiler.plan import StateVar
from ..compiler.reference import FLOAT_UNARY, conv2d_f32

SIGMOID_Q = (1.0 / 256, -128)
TANH_Q = (1.0 / 128, 0)
SOFTMAX_Q = (1.0 / 256, -128)
ADD_LEFT_SHIFT = 20


#: The least activation scale.  A calibrated range of a few 1e-20 (a layer of a randomly initialised
#: deep network whose values decayed to float noise) would give requantization multipliers of 1e20,
#: which no int32 multiplier and shift can hold; at this floor such a tensor is 0 to within 2.6e-7, and
#: every real model's ranges are far above it.
MIN_ACTIVATION_SCALE = 1e-9


def activation_quant(lo: float, hi: float) -> tuple:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max((hi - lo) / 255.0, MIN_ACTIVATION_SCALE) if hi > lo else 1.0 / 255.0
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


def _clamp_tflm(act, scale, zp):
    """TFLite's CalculateActivationRangeQuantized: zp + round(f / scale) with the division in float32."""
    if act is None:
        return -128, 127

    def q(f):
        return int(np.clip(zp + round_half_away(float(np.float32(f) / np.float32(scale))), -128, 127))
    lo, hi = act
    return (q(lo) if math.isfinite(lo) else -128), (q(hi) if math.isfinite(hi) else 127)


def given_tensor(name, shape, spec) -> Tensor:
    """A tensor as a pre-quantized file gives it (meta["given_quant"]["tensors"]: dtype, data, scale,
    zero point, axis)."""
    return Tensor(name, tuple(shape), spec["dtype"], spec.get("data"),
                  Quant(spec["scale"], spec["zero_point"], spec.get("axis")))


#: A bias is held in int32 at scale s_in*s_w; it may take at most this much of the int32 range (the
#: rest is for the products).  A channel whose weights are ~0 but whose bias is not (a BatchNorm with
#: gamma ~0 folded in: MobileNet's VWW has such channels) gets a weight scale large enough for that,
#: as TFLite's converter does; otherwise its bias saturates, its multiplier underflows to 0 and the
#: channel outputs a constant 0 instead of relu(bias).
BIAS_HEADROOM = float(1 << 30)


def quantize_weights(w, bias=None, s_in=None, headroom=BIAS_HEADROOM):
    """Symmetric int8 per output channel (axis 0): (int8 weights, float64 scale per channel).
    With the float bias and the input scale, no channel's scale is below |bias| / (s_in * headroom)."""
    w = np.asarray(w, np.float64)
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    s_w = np.where(amax > 0, amax / 127.0, 1.0)
    if bias is not None:
        s_w = np.maximum(s_w, np.abs(np.asarray(bias, np.float64)) / (s_in * headroom))
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
        # a .tflite gives every tensor in integers ("tensors": the file's exact int8 weights, int32 biases,
        # int8 / int16 activations) and wants TFLite Micro's formulas where they differ from edgec's own
        # ("arithmetic": "tflm"), and its integer initial state ("state")
        self.tflm = given.get("arithmetic") == "tflm"
        self.given_tensors = given.get("tensors", {})
        self.given_state = given.get("state")
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

    def set_const(self, name, data, dtype, scales):
        """Constant `name` as quantized `data` of `dtype`, symmetric with a scale per row (axis 0): what an
        op's rule (compiler/ops/, e.g. the LSTM's) gives its weights and biases."""
        self.g.tensors[name] = Tensor(name, data.shape, dtype, data, Quant(scales, np.zeros(len(scales), np.int64), 0))

    def const_act(self, name):
        """A constant read as an activation (the other operand of Add/Mul): int8, its own range."""
        t = self.g.tensors[name]
        if t.dtype == "int8":
            return
        s, z = activation_quant(float(t.data.min()), float(t.data.max()))
        t.data, t.dtype, t.quant = quantize_values(t.data, s, z), "int8", _q(s, z)

    def run(self) -> Graph:
        for name, spec in self.given_tensors.items():
            self.g.tensors[name] = given_tensor(name, self.g.tensors[name].shape, spec)
        for name in self.g.inputs:
            self.calibrated(name)
        self.wide = self.int16_tensors()
        for node in list(self.g.nodes):
            try:
                self.convert_inputs(node)        # Requantize where an input's precision is not the node's
                d = REGISTRY.get(node.op)          # the op's own rule (compiler/ops/); a q_ method here for an
                #                                    op added to the old tables (merged in parallel)
                rule = None if d is None else d.quantize16 if node.outputs[0] in self.wide else d.quantize
                if rule is not None:
                    rule(self, node)
                else:
                    getattr(self, ("q16_" if node.outputs[0] in self.wide else "q_") + node.op)(node)
                if node.name in self.requant_after:
                    self._insert_requant(node)
            except (ValueError, OverflowError, FloatingPointError, EdgecError) as e:   # e.g. weights near float32's max
                if self.tflm and not getattr(e, "where", None):     # scales of a .tflite TFLite's formulas cannot take
                    msg = str(e) if not isinstance(e, EdgecError) or not e.hint else str(e)[:-len(e.hint) - 3]
                    raise UnsupportedOpError(f"{node.op} node {node.name}: {msg}", where=self.g.meta.get("source"),
                                             hint="check the tensor scales the converter wrote") from None
                if isinstance(e, EdgecError):
                    raise
                raise EdgecError(f"cannot quantize {node.op} node {node.name}: {e}", where=f"node {node.name}",
                                 hint="its weights or calibrated values are not finite or far out of range; "
                                      "check the model's weights (a corrupt or diverged training?)") from None
        self.g.meta["quantized"] = True
        if self.tflm:
            for key in ("given_quant", "dequantized_from", "state"):
                self.g.meta.pop(key, None)
            self.g.meta["quantization"] = "from the .tflite file"
            if self.given_state:
                self.g.state = [StateVar.from_dict(v) for v in self.given_state]
        elif self.given_acts:
            self.g.meta["quantization"] = "from the model's QuantizeLinear/DequantizeLinear nodes"
        self.g.meta.pop("ranges", None)
        self.g.meta.pop("input_means", None)
        return self.g

    def clamp(self, act, scale, zp):
        """A fused activation's int8 clamp: edgec's (float64 division), or TFLite's
        CalculateActivationRangeQuantized (zp + round(f / scale) in float32) for a .tflite."""
        return _clamp_tflm(act, scale, zp) if self.tflm else _clamp(act, scale, zp)

    # -- the rules ops pick (their OpDef.quantize, compiler/ops/) ----------------------------------------
    def weighted(self, node, axis):
        """Conv2D / FullyConnected: int8 weights per output channel, int32 bias, one multiplier per channel."""
        x, wn, bn = node.inputs
        out = node.outputs[0]
        self.calibrated(out)
        s_in, zp_in = self.qof(x).scalar_scale, self.qof(x).scalar_zp
        s_out, zp_out = self.qof(out).scalar_scale, self.qof(out).scalar_zp
        if self.g.tensors[wn].dtype == "int8":     # the file's own integers (a .tflite), kept as they are
            s_w = np.asarray(self.g.tensors[wn].quant.scale, np.float64)
        else:
            s_w = self.weights_of(node, axis, s_in)
        mult, shift = _multipliers(s_in * s_w / s_out)
        lo, hi = self.clamp(node.attrs.get("act"), s_out, zp_out)
        node.attrs.update(in_zp=zp_in, out_zp=zp_out, multiplier=mult, shift=shift, act_min=lo, act_max=hi)

    def weights_of(self, node, axis, s_in):
        """A weighted node's float weights and bias quantized (int8 per channel, int32); its weight scales."""
        x, wn, bn = node.inputs
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
        return s_w

    def add(self, node, sign):
        """Add (sign 1) / Sub (-1): TFLite's int8 Add, both operands on a common 2^-20 grid."""
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
        lo, hi = self.clamp(node.attrs.get("act"), qo.scalar_scale, qo.scalar_zp)
        node.attrs.update(left_shift=ADD_LEFT_SHIFT, a_zp=qa.scalar_zp, b_zp=qb.scalar_zp,
                          a_multiplier=am, a_shift=ash, b_multiplier=sign * bm, b_shift=bsh,
                          multiplier=om, shift=osh, out_zp=qo.scalar_zp, act_min=lo, act_max=hi)

    def mul(self, node):
        for i in node.inputs:
            if self.g.tensors[i].is_const:
                self.const_act(i)
        out = node.outputs[0]
        self.calibrated(out)
        qa, qb, qo = self.qof(node.inputs[0]), self.qof(node.inputs[1]), self.qof(out)
        m, s = quantize_multiplier(qa.scalar_scale * qb.scalar_scale / qo.scalar_scale)
        lo, hi = self.clamp(node.attrs.get("act"), qo.scalar_scale, qo.scalar_zp)
        node.attrs.update(a_zp=qa.scalar_zp, b_zp=qb.scalar_zp, multiplier=m, shift=s,
                          out_zp=qo.scalar_zp, act_min=lo, act_max=hi)

    def same_as_input(self, node):
        """Pools and layout ops keep their input's quantization (TFLite's int8 spec).  A pre-quantized
        model that gives the output another one (onnxruntime's QLinearGlobalAveragePool does) gets a
        requantizing copy after the node: a one-input Concat."""
        qi = self.qof(node.inputs[0])
        if self.tflm:            # TFLite Micro copies the bytes: the output keeps the file's quantization
            return qi
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
        self.concat(copy)

    def pool(self, node):
        """MaxPool2D / AvgPool2D: the input's quantization, the fused activation as a clamp."""
        qi = self.same_as_input(node)
        lo, hi = self.clamp(node.attrs.get("act"), qi.scalar_scale, qi.scalar_zp)
        node.attrs.update(act_min=lo, act_max=hi)

    def unary(self, node, fn=None):
        """A unary element-wise op (or a one-input Elementwise program): a 256-entry table, op Lut."""
        if self.tflm:
            self.tflm_unary(node)
            return
        qi = self.qof(node.inputs[0])
        out = node.outputs[0]
        fixed = {"Sigmoid": SIGMOID_Q, "Tanh": TANH_Q}.get(node.op)
        if fixed and out not in self.given_acts:         # a pre-quantized model's own choice wins
            self.set_act(out, *fixed)
        else:
            self.calibrated(out)
        qo = self.qof(out)
        real = qi.scalar_scale * (np.arange(-128, 128) - qi.scalar_zp)
        y = (fn or FLOAT_UNARY[node.op])(node, real)
        table = quantize_values(y, qo.scalar_scale, qo.scalar_zp)
        node.attrs = {"function": node.op, **node.attrs, "table": table}
        node.op = "Lut"

    def tflm_unary(self, node):
        """A .tflite's element-wise op: TFLite Micro's int8 arithmetic as a table (compiler/tflm.py); its
        QUANTIZE (a Clip without bounds) with an int16 side: a Requantize node, TFLite's Requantize."""
        qi, qo = self.qof(node.inputs[0]), self.qof(node.outputs[0])
        dtypes = {self.g.tensors[t].dtype for t in (node.inputs[0], node.outputs[0])}
        if "int16" in dtypes and node.op == "Clip":
            m, s = quantize_multiplier(qi.scalar_scale / qo.scalar_scale)
            node.op, node.attrs = "Requantize", {"in_zp": qi.scalar_zp, "out_zp": qo.scalar_zp, "multiplier": m,
                                                 "shift": s, "out_dtype": self.g.tensors[node.outputs[0]].dtype}
            return
        made = tflm.lut(node.op, node.attrs, qi.scalar_scale, qi.scalar_zp, qo.scalar_scale, qo.scalar_zp)
        if made is None:
            raise EdgecError(f"{node.op} node {node.name} has no TFLite Micro int8 arithmetic in edgec",
                             where=f"node {node.name}")
        node.op, node.attrs = "Lut", {"table": np.asarray(made[0], np.int8), "function": made[1]}

    def softmax(self, node):
        qi = self.qof(node.inputs[0])
        given = self.given_acts.get(node.outputs[0])
        if given is not None:                # pre-quantized: TFLite's softmax arithmetic, as the converter meant
            if (float(given[0]), int(given[1])) != SOFTMAX_Q:
                self.requant_after.add(node.name)        # onnxruntime's QDQ softmax: scale 1/255
            self.set_act(node.outputs[0], *SOFTMAX_Q)
            node.attrs.update(softmax_tflm_attrs(qi.scalar_scale))
            return
        self.set_act(node.outputs[0], *SOFTMAX_Q)
        cols = self.g.tensors[node.inputs[0]].shape[-1]
        k = min(22, 30 - max(1, math.ceil(math.log2(cols))))
        table = round_half_away((1 << k) * np.exp(-qi.scalar_scale * np.arange(256)))
        node.attrs.update(exp_table=table.astype(np.int32), exp_bits=k)

    def concat(self, node):
        """Concat: the output calibrated; inputs of another scale requantized as they are copied."""
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

    # -- int16 activations (TFLite's 16x8 mode) --------------------------------------------------
    def int16_tensors(self) -> set:
        """The activations meta["precision"] asks for in int16; all refusals in one error."""
        self.converted, self.source_of = {}, {}
        asked = self.g.meta.get("precision") or {}
        bad = sorted(f"{t}: {p!r}" for t, p in asked.items() if p not in PRECISIONS)
        if bad:
            raise EdgecError(f"unknown precision for {', '.join(bad)}", hint='meta["precision"] maps tensors to "int8" or "int16"')
        wide = {t for t, p in asked.items() if p == "int16"}
        if not wide:
            return wide
        why = int16_candidates(self.src)
        refused = {t: why[t] if t in why else "not an activation tensor of the graph"
                   for t in sorted(wide) if t not in why or why[t] is not None}
        if refused:
            raise EdgecError("cannot make these tensors int16: " + "; ".join(f"{t} ({r})" for t, r in refused.items()),
                             hint=f"int16 activations come from {', '.join(sorted(SUPPORTED_S16))} nodes only; "
                                  "edgec.passes.quantize.int16_candidates(graph) lists the tensors that can be int16")
        return wide

    def convert_inputs(self, node):
        """Give the node its activation inputs in its own precision (int16 iff its output is int16):
        one Requantize node per converted tensor, placed before its first reader and shared by all
        readers, its output named <tensor>_s16 or <tensor>_s8."""
        if not self.wide:
            return
        want = "int16" if node.outputs[0] in self.wide else "int8"
        for k, t in enumerate(node.inputs):
            if self.g.tensors[t].is_const or self.g.tensors[t].dtype == want:
                continue
            if (t, want) not in self.converted:
                self.converted[(t, want)] = self._requantize(t, want, node)
            node.inputs[k] = self.converted[(t, want)]

    def _requantize(self, t, want, before):
        qi = self.qof(t)
        name = unique_name(self.g.tensors, f"{t}_s16" if want == "int16" else f"{t}_s8")
        self.g.tensors[name] = Tensor(name, self.g.tensors[t].shape, want)
        self.source_of[name] = t
        if want == "int16":             # symmetric over every value the int8 tensor can hold
            self.set_act16(name, max(qi.scalar_scale * (128 + qi.scalar_zp), qi.scalar_scale * (127 - qi.scalar_zp)) / 32767)
        else:                           # the int8 quantization of t's calibrated range
            self.range_of[name] = t
            self.calibrated(name)
        qo = self.qof(name)
        m, s = quantize_multiplier(qi.scalar_scale / qo.scalar_scale)
        rq = Node("Requantize", unique_name({n.name for n in self.g.nodes}, name), [t], [name],
                  {"in_zp": qi.scalar_zp, "out_zp": qo.scalar_zp, "multiplier": m, "shift": s, "out_dtype": want})
        self.g.nodes.insert(self.g.nodes.index(before), rq)
        return name

    def set_act16(self, name, scale):
        t = self.g.tensors[name]
        t.dtype, t.quant = "int16", _q(scale, 0)

    def calibrated16(self, name):
        if name not in self.ranges:
            raise EdgecError(f"tensor {name} is asked to be int16 but has no calibrated range", where=f"tensor {name}",
                             hint="calibrate the model (--calibration samples.npy) before promoting tensors to int16")
        self.set_act16(name, s16_scale(*self.ranges[name]))

    def const_act16(self, name):
        """A constant operand of an int16 Add: its own int16 copy, symmetric over its values."""
        data = np.asarray(self.src.tensors[name].data, np.float64)
        s = s16_scale(float(data.min()), float(data.max()))
        new = unique_name(self.g.tensors, f"{name}_s16")
        self.g.tensors[new] = Tensor(new, data.shape, "int16", quantize_values16(data, s), _q(s, 0))
        return new

    def weighted16(self, node):
        """TFLite's 16x8 conv / fully-connected: int16 input (zero point 0), int8 weights per channel,
        int64 bias at s_in*s_w, int64 accumulation, TFLite's int64 requantization, int16 output."""
        x, wn, bn = node.inputs
        out = node.outputs[0]
        self.calibrated16(out)
        s_in = self.qof(x).scalar_scale
        w = self.src.tensors[wn].data.astype(np.float64)
        b = self.src.tensors[bn].data.astype(np.float64)
        wq, s_w = quantize_weights(w, b, s_in, headroom=BIAS16_HEADROOM)
        src = self.source_of.get(x, x)
        if src in self.means:               # bias correction, as weighted
            dw = wq.astype(np.float64) * s_w.reshape((-1,) + (1,) * (w.ndim - 1)) - w
            b = b - weight_error_shift(node, self.means[src], dw)
        bq = round_half_away(np.clip(b / (s_in * s_w), -BIAS16_HEADROOM, BIAS16_HEADROOM)).astype(np.int64)
        # TFLite's int64 requantization takes shifts up to 7: no multiplier above MAX_MULTIPLIER16 (only a
        # degenerate layer, whose calibrated output range is far below what its weights can make, needs this)
        s_out = max(self.qof(out).scalar_scale, s_in * float(s_w.max()) / MAX_MULTIPLIER16)
        self.set_act16(out, s_out)
        self.g.tensors[wn] = Tensor(wn, wq.shape, "int8", wq, Quant(s_w, np.zeros_like(s_w, np.int64), 0))
        self.g.tensors[bn] = Tensor(bn, bq.shape, "int64", bq, Quant(s_in * s_w, np.zeros_like(s_w, np.int64), 0))
        mult, shift = _multipliers(s_in * s_w / s_out)
        lo, hi = _clamp16(node.attrs.get("act"), s_out)
        node.attrs.update(in_zp=0, out_zp=0, multiplier=mult, shift=shift, act_min=lo, act_max=hi)

    def add16(self, node):
        """TFLite's int16 Add with general scales: left shift 15, no zero points."""
        for k, i in enumerate(node.inputs):
            if self.g.tensors[i].is_const:
                node.inputs[k] = self.const_act16(i)
        out = node.outputs[0]
        self.calibrated16(out)
        sa, sb, so = (self.qof(t).scalar_scale for t in (node.inputs[0], node.inputs[1], out))
        twice_max = 2 * max(sa, sb)
        am, ash = quantize_multiplier(sa / twice_max)
        bm, bsh = quantize_multiplier(sb / twice_max)
        om, osh = quantize_multiplier(twice_max / ((1 << ADD16_LEFT_SHIFT) * so))
        lo, hi = _clamp16(node.attrs.get("act"), so)
        node.attrs.update(left_shift=ADD16_LEFT_SHIFT, a_zp=0, b_zp=0, a_multiplier=am, a_shift=ash, b_multiplier=bm,
                          b_shift=bsh, multiplier=om, shift=osh, out_zp=0, act_min=lo, act_max=hi)

    def same_as_input16(self, node):
        qi = self.qof(node.inputs[0])
        self.set_act16(node.outputs[0], qi.scalar_scale)
        return qi

    def pool16(self, node):
        lo, hi = _clamp16(node.attrs.get("act"), self.same_as_input16(node).scalar_scale)
        node.attrs.update(act_min=lo, act_max=hi)



#: Ops with int16 kernels (TFLite's 16x8 mode: int16 activations, int8 weights).  Only their outputs
#: can be int16; quantize converts between int8 and int16 with Requantize nodes where needed.
SUPPORTED_S16 = frozenset(table("quantize16"))
PRECISIONS = ("int8", "int16")
ADD16_LEFT_SHIFT = 15                 # TFLite's int16 Add (general scales)
BIAS16_HEADROOM = float(1 << 40)      # an int64 bias stays below 2^40 ...
ACC16_LIMIT = 1 << 47                 # ... so that bias + sum(x * w) stays below TFLite's 2^47
MAX_MULTIPLIER16 = 64.0               # requantization shift <= 7


def s16_scale(lo: float, hi: float) -> float:
    """Symmetric int16: scale max(|lo|, |hi|) / 32767, zero point 0."""
    amax = max(abs(lo), abs(hi))
    return amax / 32767.0 if amax > 0 else 1.0 / 32767.0


def quantize_values16(x, scale):
    return np.clip(round_half_away(np.asarray(x, np.float64) / scale), -32768, 32767).astype(np.int16)


def _clamp16(act, scale):
    if act is None:
        return -32768, 32767
    lo, hi = act
    qlo = -32768 if not math.isfinite(lo) else int(np.clip(round_half_away(lo / scale), -32768, 32767))
    qhi = 32767 if not math.isfinite(hi) else int(np.clip(round_half_away(hi / scale), -32768, 32767))
    return qlo, qhi


def int16_candidates(graph: Graph) -> dict:
    """{activation tensor: None if meta["precision"] may make it int16, else why not} for a canonical
    float graph (what quantize receives).  The mixed-precision search picks from the None ones."""
    prod = graph.producer()
    bound = set()                       # written in place into a Concat's (int8) output, Reshapes included
    for node in graph.nodes:
        for t, is_bound in zip(node.inputs, node.attrs.get("bound", [])):
            while is_bound and t in prod:
                bound.add(t)
                t = prod[t].inputs[0] if prod[t].op == "Reshape" else None
    given = ((graph.meta.get("given_quant") or {}).get("activations") or {})
    out = {}
    for t in graph.activations():
        node = prod.get(t)
        if t in graph.inputs or t in graph.outputs:
            out[t] = "a graph input or output: the C API takes and gives int8"
        elif node.op not in SUPPORTED_S16:
            out[t] = f"made by {node.op} node {node.name}, which has an int8 kernel only"
        elif t in bound:
            out[t] = "written in place into a Concat's int8 output"
        elif t in given:
            out[t] = "the pre-quantized model gives it an int8 quantization"
        elif node.op in ("Conv2D", "FullyConnected") and \
                int(np.prod(graph.tensors[node.inputs[1]].shape[1:])) * 127 * 32768 + BIAS16_HEADROOM >= ACC16_LIMIT:
            out[t] = "its dot products are too long for TFLite's int16 accumulator bound (2^47)"
        else:
            out[t] = None
    return out

def quantize(graph: Graph) -> Graph:
    return _Quantizer(graph).run()
