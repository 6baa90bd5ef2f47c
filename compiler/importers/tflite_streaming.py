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

The int8 element-wise ops are their float ops here; the quantize pass makes each a 256-entry table of
TFLite Micro's integer arithmetic (compiler/tflm.py) from the file's scales.
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError
from .tflite_params import ACTIVATIONS
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


class StreamingOps:
    """The TfliteImporter's handlers of this file's operators (a mixin: self.tensors, self.node, self.act...)."""

    def lut_unary(self, name, ins, outs, opt, op, attrs):
        """int8 LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU: the float op, which the quantize pass makes a 256-entry
        table of TFLite Micro's arithmetic (compiler/tflm.py) from the file's scales."""
        self.node(op, outs[0], [self.act(ins[0])], [self.act(outs[0])], dict(attrs))

    def int8_binary(self, op, ins, outs, opt):
        """int8 ADD, SUB and MUL, either operand possibly constant (the file's int8): the quantize pass gives
        them TFLite's arithmetic (Add's left shift 20, Sub as Add with b's multiplier negated, Mul's one
        multiplier) from the file's scales."""
        names = [self.const_operand(i) if self.tensors[i].data is not None else self.act(i) for i in ins[:2]]
        self.node(op, outs[0], names, [self.act(outs[0])], {"act": ACTIVATIONS[opt["act"]]})

    def op_QUANTIZE(self, ins, outs, opt):
        """int8 -> int8 (or uint8, at zero point - 128) requantization, or with an int16 side (int8 <-> int16,
        int16 -> int16): a Clip without bounds in the float twin (the value passes through); the quantize
        pass makes it TFLite Micro's Requantize (clamp(out_zp + mbqm(v - in_zp, QuantizeMultiplier(double(s_in)
        / double(s_out))))): a table between int8 tensors, a Requantize node with an int16 side."""
        self.node("Clip", outs[0], [self.act(ins[0])], [self.act(outs[0])], {"min": -np.inf, "max": np.inf})

    def _slice(self, out_index, x, y, begin, end, out_shape):
        """A Slice of x (edgec's copy kernel), then a Reshape when the output drops axes."""
        full = tuple(e - b for b, e in zip(begin, end))
        if tuple(full) == tuple(out_shape):
            self.node("Slice", out_index, [x], [y], {"begin": tuple(begin), "end": tuple(end)})
            return
        mid = self.extra_act(f"{y}_slice", full, out_index)
        self.node("Slice", mid, [x], [mid], {"begin": tuple(begin), "end": tuple(end)})
        self.node("Reshape", out_index, [mid], [y], {"shape": tuple(out_shape)})

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
            self.node("StridedSlice", outs[0], [x], [y], attrs)
            return
        mid = self.extra_act(f"{y}_slice", tuple(counts), outs[0])
        self.node("StridedSlice", mid, [x], [mid], attrs)
        self.node("Reshape", outs[0], [mid], [y], {"shape": tuple(t[outs[0]].shape)})

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
        """PRelu: alpha a constant (int8 in an int8 file, float in a float one); quantize gives it TFLite
        Micro's two multipliers (compiler/prelu.py)."""
        self.node("PRelu", outs[0], [self.act(ins[0]), self.const_operand(ins[1])], [self.act(outs[0])], {})

    def op_RESIZE_BILINEAR(self, ins, outs, opt):
        """RESIZE_BILINEAR: edgec's linear Resize with TFLite's coordinates; quantize makes an int8 file's
        Resize TFLite Micro's integer taps (mode "tflm", resize.tflm_axis_taps)."""
        oh, ow = (int(v) for v in self.tensors[ins[1]].data.reshape(-1))
        coord = "align_corners" if opt.get("align_corners") else \
            "half_pixel" if opt.get("half_pixel_centers") else "asymmetric"
        self.node("Resize", outs[0], [self.act(ins[0])], [self.act(outs[0])],
                  {"size": (oh, ow), "mode": "linear", "coord": coord})

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
