"""The parts of the TFLite importer that streaming models need: resource variables (state carried from one
invocation to the next), the copy ops (STRIDED_SLICE, SPLIT, SPLIT_V, int8 CONCATENATION) and the int8
element-wise ops that become one 256-entry table (LOGISTIC, TANH, LEAKY_RELU, QUANTIZE).

Resource variables.  A streaming keyword spotter keeps the last frames (or layer outputs) between
calls: its main subgraph starts with CALL_ONCE(init subgraph), which assigns each variable its initial
constant once; then VAR_HANDLE gives a variable's handle (named by container and shared_name),
READ_VARIABLE its bytes and ASSIGN_VARIABLE replaces them (TFLite Micro copies bytes: no requantization).
edgec evaluates the init subgraph at import (its ASSIGN_VARIABLEs of constants are the initial values)
and turns every variable the main subgraph reads into a state tensor: a persistent int8 buffer outside
the arena, read in place by the nodes that read the variable, and overwritten at the end of each run by
the value the last ASSIGN_VARIABLE gave it (Graph.state: one entry per variable, with its
tensor, the tensor assigned to it and the initial values).  A READ_VARIABLE after an ASSIGN_VARIABLE of
the same variable within one run reads the assigned tensor, as TFLite does.  A ring buffer of past
frames (READ -> CONCATENATION with the new frame -> STRIDED_SLICE of the newest -> ASSIGN) is this
mechanism and nothing more.

The int8 element-wise ops are TFLite Micro's integer arithmetic evaluated here, at compile time, for
each of the 256 int8 inputs: gemmlowp's fixed-point logistic and tanh on the input rescaled to Q4.27
(reference_integer_ops::Logistic / Tanh), LeakyRelu's two multipliers, Requantize's one.  The C reads
the table (runtime_c/edgec_lut_s8.c): bit-exact by construction, with the same tables in reference.py.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError
from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, round_half_away, wrap32
from ..gemmlowp import INT32_MAX, exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1, rounding_half_sum, \
    saturating_shift_left
from ..fixedpoint import rounding_divide_by_pot, saturating_rounding_doubling_high_mul
from ..ir import Node
from .tflite_params import ACTIVATIONS, activation_range, add_params
from .. import prelu
from .. import strided_slice

VARIABLE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")
#: int8 operators this file imports (added to the importer's SUPPORTED list)
INT8_OPS = ("STRIDED_SLICE", "SPLIT", "SPLIT_V", "CONCATENATION", "LOGISTIC", "TANH", "LEAKY_RELU", "QUANTIZE",
            "EXPAND_DIMS", "PAD", "PADV2", "TRANSPOSE", "SLICE", "SUB", "MUL", "HARD_SWISH", "RESIZE_NEAREST_NEIGHBOR",
            "MEAN", "PRELU", "RESIZE_BILINEAR")
RESOURCE = 13          # TensorType RESOURCE
INT16 = 7              # TensorType INT16 (QUANTIZE's int16 side)


def STREAMING_OPTIONS():
    import tflite
    return {"VAR_HANDLE": tflite.VarHandleOptions, "CALL_ONCE": tflite.CallOnceOptions,
            "STRIDED_SLICE": tflite.StridedSliceOptions, "SPLIT": tflite.SplitOptions, "SPLIT_V": tflite.SplitVOptions,
            "RESIZE_BILINEAR": tflite.ResizeBilinearOptions}


def streaming_options(name: str, o) -> dict:
    if name == "VAR_HANDLE":
        return {"container": (o.Container() or b"").decode("utf-8", "replace"),
                "shared_name": (o.SharedName() or b"").decode("utf-8", "replace")}
    if name == "CALL_ONCE":
        return {"init_subgraph_index": int(o.InitSubgraphIndex())}
    if name == "STRIDED_SLICE":
        return {"begin_mask": o.BeginMask(), "end_mask": o.EndMask(), "ellipsis_mask": o.EllipsisMask(),
                "new_axis_mask": o.NewAxisMask(), "shrink_axis_mask": o.ShrinkAxisMask(), "offset": bool(o.Offset())}
    if name in ("SPLIT", "SPLIT_V"):
        return {"num_splits": int(o.NumSplits())}
    if name == "RESIZE_BILINEAR":
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    return {}


# ---------------------------------------------------------------------------------------------
# resource variables


def resolve_variables(path: str, graphs: list) -> tuple[list, list, dict]:
    """Main subgraph ops without the variable ops, the variables it reads, and the aliases READ_VARIABLE
    after ASSIGN_VARIABLE makes.  Returns (ops, state, alias): state is a list of dicts {key, read (tensor
    index), next (tensor index or None), init (array)}, alias {read tensor index: assigned tensor index}."""
    tensors, ops = graphs[0][0], graphs[0][1]
    if not any(name in VARIABLE_OPS for name, *_ in ops):
        if len(graphs) > 1:
            raise UnsupportedOpError(f"the model has {len(graphs)} subgraphs and no CALL_ONCE that runs them",
                                     where=path, hint="edgec compiles one subgraph, plus the init subgraph of "
                                                      "resource variables (no IF / WHILE control flow)")
        return ops, [], {}
    problems = []
    init: dict = {}
    called = set()
    for name, ins, outs, opt in ops:
        if name != "CALL_ONCE":
            continue
        k = opt.get("init_subgraph_index", -1)
        if not 0 < k < len(graphs):
            raise ModelFormatError(f"CALL_ONCE runs subgraph {k}, the model has {len(graphs)}", where=path,
                                   hint="the file may be truncated or corrupt")
        called.add(k)
        st, sops = graphs[k][0], graphs[k][1]
        handles = {}
        for sname, sins, souts, sopt in sops:
            if sname == "VAR_HANDLE" and souts:
                handles[souts[0]] = (sopt.get("container", ""), sopt.get("shared_name", ""))
            elif sname == "ASSIGN_VARIABLE" and len(sins) == 2 and sins[0] in handles and st[sins[1]].data is not None:
                init[handles[sins[0]]] = st[sins[1]]
            else:
                problems.append(f"{sname} in the init subgraph {k} (edgec takes VAR_HANDLE and ASSIGN_VARIABLE of "
                                "constants there)")
    others = set(range(1, len(graphs))) - called
    if others:
        problems.append(f"subgraphs {sorted(others)} that no CALL_ONCE runs (IF / WHILE control flow)")
    handles, state, alias, assigned, keep = {}, {}, {}, {}, []
    for k, (name, ins, outs, opt) in enumerate(ops):
        if name == "CALL_ONCE":
            continue
        if name == "VAR_HANDLE":
            if len(outs) != 1:
                problems.append(f"VAR_HANDLE with {len(outs)} outputs (operator {k})")
                continue
            handles[outs[0]] = (opt.get("container", ""), opt.get("shared_name", ""))
            continue
        if name in ("READ_VARIABLE", "ASSIGN_VARIABLE"):
            want = (1, 1) if name == "READ_VARIABLE" else (2, 0)
            if (len(ins), len(outs)) != want or ins[0] not in handles:
                problems.append(f"{name} (operator {k}) not of a VAR_HANDLE's variable")
                continue
            key = handles[ins[0]]
            if name == "ASSIGN_VARIABLE":
                assigned[key] = ins[1]
                if key in state:
                    state[key]["next"] = ins[1]
                continue
            t = tensors[outs[0]]
            if key in assigned:                        # read after an assignment in this run: the assigned value
                alias[outs[0]] = assigned[key]
                continue
            if key in state:
                alias[outs[0]] = state[key]["read"]
                continue
            if key not in init:
                problems.append(f"READ_VARIABLE of variable {key[1]!r} that no init subgraph assigns")
                continue
            v = init[key]
            if t.type != 9 or v.type != 9:
                problems.append(f"resource variable {key[1]!r} of type {t.type_name} (edgec keeps int8 state)")
                continue
            if v.data.size != int(np.prod(t.shape)) or not t.quantized:
                problems.append(f"resource variable {key[1]!r}: its initial value has {v.data.size} values, "
                                f"READ_VARIABLE gives {list(t.shape)}" + ("" if t.quantized else " without quantization"))
                continue
            state[key] = {"key": key, "read": outs[0], "next": None, "init": np.asarray(v.data, np.int8).reshape(t.shape)}
            continue
        keep.append((name, ins, outs, opt))
    for entry in state.values():
        nxt = entry["next"]
        if nxt is not None and (tensors[nxt].type != 9 or int(np.prod(tensors[nxt].shape)) != entry["init"].size):
            problems.append(f"ASSIGN_VARIABLE of {list(tensors[nxt].shape)} {tensors[nxt].type_name} to variable "
                            f"{entry['key'][1]!r} of {list(entry['init'].shape)} int8")
    if problems:
        raise UnsupportedOpError("resource variables edgec cannot keep: " + "; ".join(problems), where=path,
                                 hint="edgec keeps int8 resource variables initialised by a CALL_ONCE init subgraph")
    return keep, list(state.values()), alias


# ---------------------------------------------------------------------------------------------
# TFLite Micro's int8 element-wise arithmetic, for every int8 input (index v + 128)

_V = np.arange(-128, 128, dtype=np.int64)


def _frexp_multiplier(real: float) -> tuple[int, int]:
    """TFLM's Logistic / Tanh prepare: q = frexp(real), multiplier = TfLiteRound(q * 2^31)."""
    q, shift = math.frexp(real)
    return int(round_half_away(q * (1 << 31))), int(shift)


def _input_radius(integer_bits: int, left_shift: int) -> int:
    """CalculateInputRadius(integer_bits, left_shift, 31)."""
    return int(math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift)))


def _q4(in_scale: float, in_zp: int):
    """(input - zp, rescaled to Q4.27, radius) as TFLM's int8 Logistic / Tanh compute them."""
    mult, shift = _frexp_multiplier(float(np.float32(in_scale)) * float(1 << 27))
    if mult >= 1 << 31:
        raise ValueError(f"input scale {in_scale} gives a multiplier TFLite cannot represent")
    x = _V - in_zp
    return x, multiply_by_quantized_multiplier(x, mult, shift), _input_radius(4, shift)


def logistic_table(in_scale: float, in_zp: int) -> np.ndarray:
    """reference_integer_ops::Logistic (int8, output scale 1/256 zero point -128): gemmlowp::logistic of
    the Q4.27 input, RoundingDivideByPOT(., 23) - 128; saturated beyond the input radius."""
    x, a, radius = _q4(in_scale, in_zp)
    pos = a > 0
    abs_a = np.where(pos, a, -a)
    result_pos = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_a, 4))
    res = np.where(a == 0, 1 << 30, np.where(pos, result_pos, wrap32(INT32_MAX - result_pos)))
    out = np.clip(rounding_divide_by_pot(res, 23) - 128, -128, 127)
    out = np.where(x <= -radius, -128, np.where(x >= radius, 127, out))
    return out.astype(np.int8)


def tanh_table(in_scale: float, in_zp: int) -> np.ndarray:
    """reference_integer_ops::Tanh (int8, output scale 1/128 zero point 0): gemmlowp::tanh of the Q4.27
    input (exp of 2x: the same raw value read as Q5.26), RoundingDivideByPOT(., 24)."""
    x, a, radius = _q4(in_scale, in_zp)
    neg = a < 0
    n = np.where(neg, a, -a)                                     # -|a|
    e = exp_on_negative_values(n, 5)
    half_denominator = rounding_half_sum(e, INT32_MAX)
    y = wrap32(1515870810 + saturating_rounding_doubling_high_mul(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = wrap32((1 << 29) - saturating_rounding_doubling_high_mul(half_denominator, y))
        y = wrap32(y + saturating_shift_left(saturating_rounding_doubling_high_mul(y, one_minus), 2))
    t = saturating_shift_left(wrap32(y - (1 << 29)), 2)          # Rescale<0>(x - F2::One())
    res = np.where(a == 0, 0, np.where(neg, -t, t))
    out = np.clip(rounding_divide_by_pot(res, 24), -128, 127)
    out = np.where(x <= -radius, -128, np.where(x >= radius, 127, out))
    return out.astype(np.int8)


def requantize_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """reference_ops::Requantize: clamp(out_zp + MultiplyByQuantizedMultiplier(v - in_zp, QuantizeMultiplier(
    double(s_in) / double(s_out)))); an int8 <-> uint8 edge is this with the uint8 zero point - 128."""
    m, s = quantize_multiplier(float(in_scale) / float(out_scale))
    return np.clip(multiply_by_quantized_multiplier(_V - in_zp, m, s) + out_zp, -128, 127).astype(np.int8)


def leaky_relu_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int, alpha: float) -> np.ndarray:
    """reference_ops::QuantizeLeakyRelu: v - zp >= 0 scaled by s_in / s_out, else by alpha * s_in / s_out."""
    mi, si = quantize_multiplier(float(in_scale) / float(out_scale))
    ma, sa = quantize_multiplier(float(np.float32(in_scale) * np.float32(alpha)) / float(out_scale))
    x = _V - in_zp
    y = np.where(x >= 0, multiply_by_quantized_multiplier(x, mi, si), multiply_by_quantized_multiplier(x, ma, sa))
    return np.clip(y + out_zp, -128, 127).astype(np.int8)


def _srdhm16(a, b):
    """gemmlowp::SaturatingRoundingDoublingHighMul for int16."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    overflow = (a == b) & (a == -32768)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    q = ab + nudge
    high = np.where(q >= 0, q >> 15, -((-q) >> 15))          # C++ division truncates toward zero
    return np.where(overflow, 32767, high)


def _sat16(v):
    return np.clip(v, -32768, 32767)


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """reference_ops::HardSwish<int8> with TFLM's HardSwishPrepare: the input on a 2^7 finer grid, a
    "reluish" factor in int16 fixed point (multiplier 3/32768 apart), multiplied and shifted down; the
    multipliers come from float32 scales, QuantizeMultiplier, then rounded to int16."""
    f32 = np.float32
    hires = f32(1.0 / 128.0) * f32(in_scale)
    out_mult = float(hires / f32(out_scale))
    relu_mult = float(hires / f32(3.0 / 32768.0))

    def to16(real):
        m, e = quantize_multiplier(real)
        m16 = 32767 if m >= (1 << 31) - 1 - (1 << 15) else (m + (1 << 15)) >> 16
        return m16, e
    om, oe = to16(out_mult)
    if oe > 0:
        raise ValueError(f"HARD_SWISH output scale {out_scale} too small for TFLite's int8 kernel")
    rm, re_ = to16(relu_mult)
    v = (_V - in_zp).astype(np.int64)
    hires_v = wrap16(v * 128)
    pre_out = _srdhm16(hires_v, om)
    reluish = hires_v
    if re_ > 0:
        reluish = _sat16(reluish << (re_ - 1))
    reluish = _srdhm16(reluish, rm)
    if re_ > 0:
        reluish = _sat16(reluish << 1)
    if re_ < 0:
        reluish = rounding_divide_by_pot(reluish, -re_)
    reluish = (reluish + (1 << 15)) >> 1
    prod = reluish * pre_out                                   # SaturatingDoublingHighMul: (a * b) / 2^15, truncated
    pre = np.where(prod >= 0, prod >> 15, -((-prod) >> 15))
    pre = np.where((reluish == -32768) & (pre_out == -32768), 32767, wrap16(pre))
    out = rounding_divide_by_pot(pre, -oe) + out_zp
    return np.clip(out, -128, 127).astype(np.int8)


def wrap16(v):
    v = np.asarray(v, np.int64) & 0xFFFF
    return np.where(v >= 1 << 15, v - (1 << 16), v)


class StreamingOps:
    """The _Importer's handlers of this file's operators (a mixin: self.tensors, self.node, self.act...)."""

    def lut(self, op, out_index, ins, outs, fattrs, table, function):
        """A float op in the float twin, a 256-entry table (TFLite Micro's arithmetic) in the int8 graph."""
        self.node(op, out_index, ins, outs, fattrs, {})
        if self.qnodes:
            q = self.qnodes[-1]
            self.qnodes[-1] = Node("Lut", q.name, q.inputs, q.outputs, {"table": np.asarray(table, np.int8),
                                                                         "function": function})

    def lut_unary(self, name, ins, outs, opt, op, attrs):
        (si, zi), (so, zo) = self.qparams(ins[0]), self.qparams(outs[0])
        if name == "LOGISTIC":
            table = logistic_table(si, zi)
        elif name == "TANH":
            table = tanh_table(si, zi)
        elif name == "HARD_SWISH":
            table = hard_swish_table(si, zi, so, zo)
        else:
            table = leaky_relu_table(si, zi, so, zo, opt.get("alpha", 0.0))
        self.lut(op, outs[0], [self.act(ins[0])], [self.act(outs[0])], dict(attrs), table, op)

    def int8_binary(self, op, ins, outs, opt):
        """int8 SUB (TFLite's Add arithmetic, left shift 20, with b's multiplier negated) and MUL
        ((a - za)(b - zb) requantized by s_a s_b / s_out), either operand possibly constant."""
        names = [self.const_operand(i) if self.tensors[i].data is not None else self.act(i) for i in ins[:2]]
        (sa, za), (sb, zb) = self.qparams(ins[0]), self.qparams(ins[1])
        s_out, zp_out = self.qparams(outs[0])
        lo, hi = activation_range(opt["act"], s_out, zp_out)
        if op == "Sub":
            p = add_params(sa, sb, s_out)
            p["b_multiplier"] = -p["b_multiplier"]
        else:
            m, sh = quantize_multiplier(float(sa) * float(sb) / float(s_out))
            p = dict(multiplier=m, shift=sh)
        self.node(op, outs[0], names, [self.act(outs[0])], {"act": ACTIVATIONS[opt["act"]]},
                  dict(p, a_zp=za, b_zp=zb, out_zp=zp_out, act_min=lo, act_max=hi))

    def op_QUANTIZE(self, ins, outs, opt):
        """int8 -> int8 (or uint8, at zero point - 128) requantization: a table.  With an int16 side (int8 <->
        int16, int16 -> int16): a Requantize node, TFLite Micro's Requantize (clamp(out_zp + mbqm(v - in_zp,
        QuantizeMultiplier(double(s_in) / double(s_out))))) as edgec's int8 <-> int16 conversions compute it;
        the float twin passes the value through."""
        (si, zi), (so, zo) = self.qparams(ins[0]), self.qparams(outs[0])
        if INT16 in (self.tensors[ins[0]].type, self.tensors[outs[0]].type):
            m, s = quantize_multiplier(float(si) / float(so))
            out_dtype = "int16" if self.tensors[outs[0]].type == INT16 else "int8"
            self.node("Clip", outs[0], [self.act(ins[0])], [self.act(outs[0])], {"min": -np.inf, "max": np.inf}, {})
            q = self.qnodes[-1]
            self.qnodes[-1] = Node("Requantize", q.name, q.inputs, q.outputs, {"in_zp": zi, "out_zp": zo, "multiplier": m,
                                                                              "shift": s, "out_dtype": out_dtype})
            return
        self.lut("Clip", outs[0], [self.act(ins[0])], [self.act(outs[0])], {"min": -np.inf, "max": np.inf},
                 requantize_table(si, zi, so, zo), "Requantize")

    def _slice(self, out_index, x, y, begin, end, out_shape):
        """A Slice of x (edgec's copy kernel), then a Reshape when the output drops axes."""
        full = tuple(e - b for b, e in zip(begin, end))
        if tuple(full) == tuple(out_shape):
            self.node("Slice", out_index, [x], [y], {"begin": tuple(begin), "end": tuple(end)}, {})
            return
        mid = self.extra_act(f"{y}_slice", full, out_index)
        self.node("Slice", mid, [x], [mid], {"begin": tuple(begin), "end": tuple(end)}, {})
        self.node("Reshape", out_index, [mid], [y], {"shape": tuple(out_shape)}, {})

    def op_STRIDED_SLICE(self, ins, outs, opt):
        """TFLite Micro's start / stop logic at import (compiler/strided_slice.py): a Slice when every
        stride is 1, else a StridedSlice; then a Reshape when shrink_axis_mask drops axes."""
        t = self.tensors
        shape = t[ins[0]].shape
        starts, steps, counts, _ = strided_slice.plan(shape, *(t[i].data.reshape(-1) for i in ins[1:4]), opt)
        x, y = self.act(ins[0]), self.act(outs[0])
        if all(k == 1 for k in steps):
            self._slice(outs[0], x, y, starts, [b + c for b, c in zip(starts, counts)], t[outs[0]].shape)
            return
        attrs = {"begin": tuple(starts), "step": tuple(steps), "count": tuple(counts)}
        if tuple(counts) == tuple(t[outs[0]].shape):
            self.node("StridedSlice", outs[0], [x], [y], attrs, {})
            return
        mid = self.extra_act(f"{y}_slice", tuple(counts), outs[0])
        self.node("StridedSlice", mid, [x], [mid], attrs, {})
        self.node("Reshape", outs[0], [mid], [y], {"shape": tuple(t[outs[0]].shape)}, {})

    def _split(self, x_index, outs, sizes, axis):
        shape = self.tensors[x_index].shape
        x = self.act(x_index)
        start = 0
        for o, n in zip(outs, sizes):
            b = [0] * len(shape)
            e = list(shape)
            b[axis], e[axis] = start, start + n
            start += n
            self._slice(o, x, self.act(o), b, e, self.tensors[o].shape)

    def op_SPLIT(self, ins, outs, opt):
        shape = self.tensors[ins[1]].shape
        axis = int(self.tensors[ins[0]].data.reshape(-1)[0]) % len(shape)
        self._split(ins[1], outs, [shape[axis] // len(outs)] * len(outs), axis)

    def op_SPLIT_V(self, ins, outs, opt):
        shape = self.tensors[ins[0]].shape
        axis = int(self.tensors[ins[2]].data.reshape(-1)[0]) % len(shape)
        sizes = [int(v) for v in self.tensors[ins[1]].data.reshape(-1)]
        if -1 in sizes:
            sizes[sizes.index(-1)] = shape[axis] - (sum(sizes) + 1)
        self._split(ins[0], outs, sizes, axis)

    def op_PRELU(self, ins, outs, opt):
        """int8 PRELU: TFLite Micro's two multipliers (compiler/prelu.py), alpha a constant int8 operand;
        float: PRelu with its float alpha (quantize gives it the same arithmetic)."""
        if self.is_float:
            self.node("PRelu", outs[0], [self.act(ins[0]), self.const_operand(ins[1])], [self.act(outs[0])], {}, {})
            return
        (si, zi), (sa, za), (so, zo) = self.qparams(ins[0]), self.qparams(ins[1]), self.qparams(outs[0])
        m1, s1 = quantize_multiplier(si / so)
        m2, s2 = quantize_multiplier(si * sa / so)
        self.node("PRelu", outs[0], [self.act(ins[0]), self.const_operand(ins[1])], [self.act(outs[0])], {},
                  dict(in_zp=zi, alpha_zp=za, out_zp=zo, m1=m1, s1=s1, m2=m2, s2=s2))

    def op_RESIZE_BILINEAR(self, ins, outs, opt):
        """int8 RESIZE_BILINEAR: edgec's Resize with TFLite Micro's integer taps (resize.tflm_axis_taps);
        the float twin (and a float model) interpolates with the same coordinates in float."""
        oh, ow = (int(v) for v in self.tensors[ins[1]].data.reshape(-1))
        coord = "align_corners" if opt.get("align_corners") else \
            "half_pixel" if opt.get("half_pixel_centers") else "asymmetric"
        self.node("Resize", outs[0], [self.act(ins[0])], [self.act(outs[0])],
                  {"size": (oh, ow), "mode": "linear", "coord": coord},
                  {} if self.is_float else {"mode": "tflm", "zp": self.qparams(outs[0])[1]})

    def check_prelu(self, ins, bad):
        """PRELU's alpha: constant, int8 with one scale (int8 model) or float32 (float model), broadcast
        from the right."""
        t = self.tensors
        al = t[ins[1]] if len(ins) == 2 else None
        if self.is_float and (al is None or al.data is None or al.type not in (0, 1)):
            bad("PRELU whose alpha is not a constant float32 tensor")
        elif not self.is_float and (al is None or al.data is None or al.type != 9 or not al.quantized):
            bad("PRELU whose alpha is not a constant int8 tensor")
        elif not self.is_float and len(set(float(s) for s in al.scale)) > 1:
            bad("PRELU with per-channel alpha scales (TFLite Micro uses one alpha scale)")
        elif not prelu.trailing(t[ins[0]].shape, al.shape):
            bad(f"PRELU with alpha of shape {list(al.shape)} for input {list(t[ins[0]].shape)} "
                "(edgec broadcasts alpha over leading axes only)")

    def check_streaming_op(self, name, ins, outs, opt, bad):
        """The int8 checks of this file's operators (constant parameters, what TFLite Micro's kernels take)."""
        t = self.tensors
        if name == "RESIZE_BILINEAR":
            i, o = t[ins[0]], t[outs[0]]
            size = t[ins[1]] if len(ins) == 2 else None
            if size is None or size.data is None or size.data.size != 2 or len(i.shape) != 4:
                bad("RESIZE_BILINEAR whose size is not constant or whose input is not 4-D")
            elif opt.get("align_corners") and opt.get("half_pixel_centers"):
                bad("RESIZE_BILINEAR with both align_corners and half_pixel_centers (TFLite Micro refuses it too)")
            elif i.quantized and o.quantized and (float(i.scale[0]), int(i.zero_point[0])) != \
                    (float(o.scale[0]), int(o.zero_point[0])):
                bad("RESIZE_BILINEAR whose output quantization differs from its input's")
            return
        if name == "PRELU":
            self.check_prelu(ins, bad)
            return
        if name in ("STRIDED_SLICE", "SPLIT", "SPLIT_V"):
            params = ins[1:4] if name == "STRIDED_SLICE" else ins[:1] if name == "SPLIT" else ins[1:3]
            if any(t[i].data is None for i in params):
                bad(f"{name} whose parameters are not constant")
                return
        x = t[ins[1] if name == "SPLIT" else ins[0]]
        if name == "STRIDED_SLICE":
            p = strided_slice.plan(x.shape, *(t[i].data.reshape(-1) for i in ins[1:4]), opt) if len(ins) == 4 else \
                f"{len(ins)} inputs"
            if isinstance(p, str):
                bad(f"STRIDED_SLICE with {p}")
            elif tuple(c for k, c in enumerate(p[2]) if k in p[3]) != tuple(t[outs[0]].shape):
                bad(f"STRIDED_SLICE whose output {list(t[outs[0]].shape)} is not the slice's {p[2]} (the file may be corrupt)")
        elif name in ("SPLIT", "SPLIT_V"):
            axis = int(t[ins[0] if name == "SPLIT" else ins[2]].data.reshape(-1)[0])
            if not -len(x.shape) <= axis < len(x.shape):
                bad(f"{name} along axis {axis} of a rank-{len(x.shape)} tensor")
            elif name == "SPLIT" and x.shape[axis % len(x.shape)] % len(outs):
                bad(f"SPLIT of {x.shape[axis % len(x.shape)]} into {len(outs)} parts")
            elif name == "SPLIT_V":
                sizes = [int(v) for v in t[ins[1]].data.reshape(-1)]
                d = x.shape[axis % len(x.shape)]
                if len(sizes) != len(outs) or sizes.count(-1) > 1 or \
                        (sum(sizes) != d if -1 not in sizes else sum(sizes) + 1 > d):
                    bad(f"SPLIT_V of {d} into {sizes}")
        elif name == "LOGISTIC":
            o = t[outs[0]]
            if float(o.scale[0]) != 1.0 / 256 or int(o.zero_point[0]) != -128:
                bad("LOGISTIC whose int8 output is not scale 1/256, zero point -128 (TFLite Micro's kernel assumes it)")
        elif name == "TANH":
            o = t[outs[0]]
            if float(o.scale[0]) != 1.0 / 128 or int(o.zero_point[0]) != 0:
                bad("TANH whose int8 output is not scale 1/128, zero point 0 (TFLite Micro's kernel assumes it)")
        elif name == "CONCATENATION" and any(t[i].type != 9 for i in ins):
            bad("CONCATENATION of non-int8 tensors")
        elif name == "CONCATENATION" and any(t[i].quantized and t[outs[0]].quantized and
                                             (float(t[i].scale[0]), int(t[i].zero_point[0])) !=
                                             (float(t[outs[0]].scale[0]), int(t[outs[0]].zero_point[0])) for i in ins):
            bad("CONCATENATION of int8 tensors quantized unlike its output (TFLite Micro refuses it too)")
