"""TFLite flatbuffer → edgec's IR: int8 files keep their own scales and zero points; float files are
imported as float models and quantized from --calibration like an ONNX or Keras model.

A fully-integer .tflite (int8 activations with their scale and zero point, int8 weights symmetric
per channel or per tensor, int32 biases) is already quantized: there is nothing to calibrate.  This
importer reads it with the `tflite` package (the flatbuffer schema's generated Python; no
TensorFlow) into the model's float graph (below) and the file's quantization, meta["given_quant"]:
every tensor with its dtype, scale and zero point, the constants' exact integers, and "arithmetic":
"tflm".  The quantize pass, the one place edgec's integer arithmetic is declared (passes/quantize.py
and the op rules in compiler/ops/), derives every kernel parameter from those, with TFLite's own
formulas where they differ from edgec's, so that the generated C computes exactly what TFLite Micro's
kernels compute: per-channel multipliers QuantizeMultiplier(double(s_in) * double(s_w[c]) /
double(s_out)), fused activation clamps CalculateActivationRangeQuantized (float32 `zp + round(f /
scale)`), Add's left_shift = 20, Softmax's gemmlowp exp ("tflm" mode), element-wise ops as tables of
TFLM's fixed point (compiler/tflm.py), copy ops keeping the file's quantization.  This file keeps
what is the format's: layouts, SAME padding (input padding contributes zero: TFLite skips
out-of-image taps), fused activations as float clamps, shapes and checks.

Edges: a QUANTIZE first (float32 or uint8 → int8) and a DEQUANTIZE / QUANTIZE last (int8 → float32 or
uint8), the converter's defaults, are dropped and the C takes and gives the int8 tensors between
them.  A uint8 edge must be the int8 one moved by 128 (same scale): the C API stays int8, so the
file's uint8 value v is the int8 value v - 128, at the file's zero point - 128 (meta["edges"]).

The float graph of an int8 file is its dequantized float twin: each int8 weight and int32 bias
turned back into float (w * s_w, b * s_in * s_w) and float activations.  `verify` holds the
int8 output against it, so for a .tflite "float agreement" measures what int8 activations cost
this model, not the distance to the float model it was converted from (the file does not hold it).

A float .tflite (float32 activations) is read by the same code into the float graph alone, with
more ops than the int8 path (FLOAT_SUPPORTED): float16 weights, with or without the DEQUANTIZE ops
the converter writes in front of them, and weights of dynamic-range quantized files (int8 with
scales) are turned into float32 at import; build() calibrates and quantizes it.
"""
from __future__ import annotations

import os
import re
import struct

import numpy as np

from . import tflite_lstm
from . import tflite_svdf
from . import tflite_elementwise
from . import tflite_lowered
from . import tflite_shape_ops
from .. import mean
from ..errors import EdgecError, ModelFormatError, UnsupportedOpError
from ..ir import Graph, Node, Quant, Tensor, unique_name
from ..plan import StateVar
from .builder import check_padded, check_node, importer_entry
from ..shapes import output_shapes
from .tflite_params import ACTIVATIONS, same_padding
from .tflite_streaming import INT8_OPS, StreamingOps, STREAMING_OPTIONS, streaming_options, resolve_variables

MAX_FILE_BYTES = 256 << 20
MAX_TENSOR_ELEMENTS = 1 << 26
#: TensorType codes of the schema
FLOAT32, FLOAT16, INT32, UINT8, INT64, INT16, INT8 = 0, 1, 2, 3, 4, 7, 9
TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
              8: "complex64", 9: "int8", 10: "float64", 17: "int4", 18: "bfloat16"}
#: ActivationFunctionType → the float clamp it means (None: no clamp); TANH / SIGN_BIT are refused
SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD",
             "SOFTMAX", "RESHAPE", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM")
#: float32 operators → the IR op; the int8 ones plus what the IR has a float op for
UNARY = {"LOGISTIC": ("Sigmoid", {}), "TANH": ("Tanh", {}), "RELU": ("Relu", {}),
         "RELU6": ("Clip", {"min": 0.0, "max": 6.0}), "RELU_N1_TO_1": ("Clip", {"min": -1.0, "max": 1.0}),
         "LEAKY_RELU": ("LeakyRelu", {}),
         "HARD_SWISH": ("HardSwish", {}), "ELU": ("Elu", {"alpha": 1.0}), "GELU": ("Gelu", {})}
FLOAT_SUPPORTED = SUPPORTED + tuple(UNARY) + ("MUL", "SUB", "CONCATENATION", "MEAN", "PAD", "PADV2", "EXPAND_DIMS",
                                             "TRANSPOSE", "SLICE", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR",
                                             "PRELU")
#: the int8 path also takes the streaming models' operators (importers/tflite_streaming.py)
SUPPORTED = SUPPORTED + tuple(op for op in INT8_OPS if op not in SUPPORTED)
SUPPORTED = SUPPORTED + ("SVDF",)                 # int8 with its int16 state (importers/tflite_svdf.py)
SUPPORTED = SUPPORTED + tflite_lowered.INT8_OPS  # importers/tflite_lowered.py
SUPPORTED, FLOAT_SUPPORTED = SUPPORTED + ("L2_NORMALIZATION",), FLOAT_SUPPORTED + ("L2_NORMALIZATION",)  # ops/l2norm.py
SUPPORTED, FLOAT_SUPPORTED = SUPPORTED + ("ARG_MAX", "ARG_MIN"), FLOAT_SUPPORTED + ("ARG_MAX", "ARG_MIN")  # ops/argmax.py
FLOAT_SUPPORTED = FLOAT_SUPPORTED + ("STRIDED_SLICE",)    # Slice or StridedSlice (compiler/strided_slice.py)
FLOAT_SUPPORTED = FLOAT_SUPPORTED + tflite_elementwise.OPS  # primitives, EXP, LOG_SOFTMAX (importers/tflite_elementwise.py)
FLOAT_SUPPORTED = FLOAT_SUPPORTED + ("SPLIT", "SPLIT_V") + tflite_lowered.OPS  # importers/tflite_lowered.py
#: operators whose inputs after the first are constant parameters (shapes, axes, paddings)
PARAM_INPUTS = ("RESHAPE", "MEAN", "PAD", "PADV2", "EXPAND_DIMS", "TRANSPOSE", "SLICE", "RESIZE_NEAREST_NEIGHBOR",
                "RESIZE_BILINEAR")
CORRUPT = "the file may be truncated or corrupt; re-export it from the TFLite converter"
FLOAT_HINT = ("convert with inference_input_type = inference_output_type = tf.int8 (or tf.uint8) so the model takes "
              "and gives integers through QUANTIZE / DEQUANTIZE edges, or keep the whole model float (edgec "
              "quantizes a float .tflite from --calibration samples.npy)")


def _opcode_names():
    import tflite
    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


class _T:
    """One TFLite tensor, read out of the flatbuffer."""

    def __init__(self, index, name, shape, type_, data, scale, zero_point, axis):
        self.index, self.name, self.shape, self.type = index, name, tuple(int(d) for d in shape), type_
        self.data, self.scale, self.zero_point, self.axis = data, scale, zero_point, axis

    @property
    def type_name(self):
        return TYPE_NAMES.get(self.type, f"type {self.type}")

    @property
    def quantized(self):
        return self.scale is not None and len(self.scale) > 0


def _read(path: str):
    import tflite

    if not os.path.isfile(path):
        raise ModelFormatError("no such file", where=path, hint="check the path")
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise ModelFormatError(f"the model file is {size:,} bytes, more than edgec reads ({MAX_FILE_BYTES:,})",
                               where=path)
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFormatError("not a TFLite flatbuffer (no TFL3 file identifier)", where=path, hint=CORRUPT)
    names = _opcode_names()
    try:
        model = tflite.Model.GetRootAs(buf, 0)
        if model.SubgraphsLength() < 1:
            raise ModelFormatError("the model has no subgraph", where=path, hint=CORRUPT)
        graphs = [_subgraph(model, model.Subgraphs(k), names, buf) for k in range(model.SubgraphsLength())]
    except (struct.error, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError, OverflowError) as e:
        # the flatbuffers runtime reads lazily: a truncated or garbled file fails wherever a field is read
        raise ModelFormatError(f"cannot read the TFLite flatbuffer ({type(e).__name__})", where=path,
                               hint=CORRUPT) from None
    for tensors, ops, inputs, outputs in graphs:
        _check_subgraph(path, tensors, ops, inputs, outputs)
    return graphs


def _subgraph(model, sg, names, buf):
    """(tensors, ops, inputs, outputs) of one subgraph."""
    tensors = [_tensor(model, sg.Tensors(i), i, buf) for i in range(sg.TensorsLength())]
    ops = []
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        oc = model.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            name = "CUSTOM:" + (oc.CustomCode() or b"?").decode("utf-8", "replace")
        ops.append((name, [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else [],
                    [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else [], _options(name, op)))
    inputs = [int(i) for i in sg.InputsAsNumpy()] if sg.InputsLength() else []
    outputs = [int(i) for i in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
    return tensors, ops, inputs, outputs


def _check_subgraph(path, tensors, ops, inputs, outputs):
    for i in inputs + outputs + [t for _, ins, outs, _ in ops for t in ins + outs]:
        if i >= len(tensors) or i < -1:
            raise ModelFormatError(f"an operator refers to tensor {i}, the subgraph has {len(tensors)}", where=path,
                                   hint=CORRUPT)
    for t in tensors:
        if any(d < 0 for d in t.shape) or int(np.prod(t.shape, dtype=np.float64)) > MAX_TENSOR_ELEMENTS:
            raise ModelFormatError(f"tensor {t.name!r} has shape {list(t.shape)}", where=path,
                                   hint="edgec compiles static shapes of at most 2^26 elements; " + CORRUPT)
        if t.data is not None and t.data.shape != t.shape and not (t.data.size == 0):
            raise ModelFormatError(f"tensor {t.name!r} holds {t.data.size} values, its shape {list(t.shape)} needs "
                                   f"{int(np.prod(t.shape))}", where=path, hint=CORRUPT)
        if t.quantized and (len(t.zero_point) != len(t.scale) or not np.all(np.isfinite(t.scale))
                            or np.any(t.scale <= 0)):
            raise ModelFormatError(f"tensor {t.name!r} has invalid quantization (scales {t.scale[:4]}, zero points "
                                   f"{t.zero_point[:4]})", where=path, hint=CORRUPT)


def _tensor(model, t, index, buf) -> _T:
    name = (t.Name() or b"").decode("utf-8", "replace")
    shape = t.ShapeAsNumpy() if t.ShapeLength() else []
    data = None
    b = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
    if b is not None:
        if b.Offset() > 1:                                   # large models keep buffers after the flatbuffer
            raw = np.frombuffer(buf, np.uint8, count=int(b.Size()), offset=int(b.Offset()))
        elif b.DataLength():
            raw = b.DataAsNumpy()
        else:
            raw = None
        if raw is not None:
            dtype = {FLOAT32: np.float32, INT32: np.int32, INT8: np.int8, UINT8: np.uint8, INT64: np.int64,
                     INT16: np.int16, FLOAT16: np.float16}.get(t.Type())
            if dtype is not None:
                data = np.frombuffer(np.asarray(raw, np.uint8).tobytes(), dtype=dtype)
                data = data.reshape(tuple(int(d) for d in shape)) if data.size == int(np.prod(shape, dtype=np.int64)) else data
    q = t.Quantization()
    scale = zp = None
    axis = 0
    if q is not None and q.ScaleLength():
        scale = q.ScaleAsNumpy().astype(np.float32)
        zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(len(scale), np.int64)
        axis = int(q.QuantizedDimension())
    return _T(index, name, shape, t.Type(), data, scale, zp, axis)


def _options(name: str, op) -> dict:
    import tflite

    table = op.BuiltinOptions()
    cls = {"CONV_2D": tflite.Conv2DOptions, "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
           "FULLY_CONNECTED": tflite.FullyConnectedOptions, "AVERAGE_POOL_2D": tflite.Pool2DOptions,
           "MAX_POOL_2D": tflite.Pool2DOptions, "ADD": tflite.AddOptions, "SOFTMAX": tflite.SoftmaxOptions,
           "SUB": tflite.SubOptions, "MUL": tflite.MulOptions, "CONCATENATION": tflite.ConcatenationOptions,
           "LEAKY_RELU": tflite.LeakyReluOptions, "MEAN": tflite.ReducerOptions, "GELU": tflite.GeluOptions,
           "RESIZE_NEAREST_NEIGHBOR": tflite.ResizeNearestNeighborOptions,
           "UNIDIRECTIONAL_SEQUENCE_LSTM": tflite.UnidirectionalSequenceLSTMOptions, **STREAMING_OPTIONS(),
           "SVDF": tflite.SVDFOptions, "DIV": tflite.DivOptions, **tflite_shape_ops.option_classes(),
           **tflite_lowered.option_classes()}.get(name)
    if cls is None or table is None:
        return {}
    o = cls()
    o.Init(table.Bytes, table.Pos)
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return {"padding": o.Padding(), "stride": (o.StrideH(), o.StrideW()),
                "dilation": (o.DilationHFactor(), o.DilationWFactor()), "act": o.FusedActivationFunction()}
    if name == "FULLY_CONNECTED":
        return {"act": o.FusedActivationFunction(), "weights_format": o.WeightsFormat(), "keep_num_dims": o.KeepNumDims()}
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return {"padding": o.Padding(), "stride": (o.StrideH(), o.StrideW()),
                "filter": (o.FilterHeight(), o.FilterWidth()), "act": o.FusedActivationFunction()}
    if name in ("ADD", "SUB", "MUL", "DIV"):
        return {"act": o.FusedActivationFunction()}
    if name == "SOFTMAX":
        return {"beta": float(o.Beta())}
    if name == "CONCATENATION":
        return {"axis": o.Axis(), "act": o.FusedActivationFunction()}
    if name == "LEAKY_RELU":
        return {"alpha": float(o.Alpha())}
    if name == "MEAN":
        return {"keep_dims": bool(o.KeepDims())}
    if name == "GELU":
        return {"approximate": bool(o.Approximate())}
    if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        return tflite_lstm.options(o)
    if name == "SVDF":
        return tflite_svdf.options(o)
    if name == "RESIZE_NEAREST_NEIGHBOR":
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    if name in tflite_lowered.OPS:
        return tflite_lowered.options(name, o)
    if name == "GATHER":
        return tflite_shape_ops.options(name, o)
    return streaming_options(name, o)


# ---------------------------------------------------------------------------------------------


ARITY = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 3, "ADD": 2, "SUB": 2, "MUL": 2, "MEAN": 2, "PAD": 2,
         "PADV2": 3, "TRANSPOSE": 2, "SLICE": 3, "RESIZE_NEAREST_NEIGHBOR": 2, **{name: 1 for name in UNARY},
         "STRIDED_SLICE": 4, "SPLIT": 2, "SPLIT_V": 3, "QUANTIZE": 1, "DEPTH_TO_SPACE": 1, "UNPACK": 1, "SUM": 2,
         "REDUCE_MAX": 2, "REDUCE_MIN": 2, "BATCH_MATMUL": 2,
         **{name: 2 if name in tflite_elementwise.BINARY else 1 for name in tflite_elementwise.OPS}}


def _moved_by_128(u: _T, q: _T) -> bool:
    """uint8 tensor u is int8 tensor q moved by 128: same scale, zero point + 128 (the converter's uint8 edges)."""
    return u.quantized and q.quantized and len(u.scale) == len(q.scale) == 1 and \
        np.float32(u.scale[0]) == np.float32(q.scale[0]) and int(u.zero_point[0]) == int(q.zero_point[0]) + 128


def _edge(file_t: _T, q: _T) -> dict:
    """What the file's own input or output was, where edgec dropped its QUANTIZE / DEQUANTIZE."""
    e = {"file_dtype": file_t.type_name}
    if file_t.type == UINT8:
        e.update(file_scale=float(file_t.scale[0]), file_zero_point=int(file_t.zero_point[0]),
                 note="the C API takes / gives the file's uint8; edgec's int8 inside is its value v as (int8_t)(v - 128) "
                      "(v ^ 0x80), at the file's zero point - 128")
    return e


def _nearest_is_repeat(n_in: int, n_out: int, half_pixel: bool) -> bool:
    """TFLite's RESIZE_NEAREST_NEIGHBOR source index, floor((i + offset) * float32(n_in / n_out)), is
    i // (n_out / n_in) for every output index i: the resize is a repeat (edgec's Upsample)."""
    if n_out % n_in or n_out > 1 << 16:
        return False
    scale = np.float32(n_in) / np.float32(n_out)
    i = np.arange(n_out, dtype=np.float32)
    src = np.minimum(np.floor((i + np.float32(0.5 if half_pixel else 0.0)) * scale).astype(np.int64), n_in - 1)
    return bool(np.array_equal(src, np.arange(n_out) // (n_out // n_in)))


def _activation_inputs(name: str, ins: list) -> list:
    """The inputs of an operator that are activations (the rest are weights and constant parameters)."""
    if name in ("ADD", "SUB", "MUL", "CONCATENATION", "PACK") + tuple(tflite_elementwise.BINARY):
        return ins
    return ins[2:3] if name == "TRANSPOSE_CONV" else ins[1:2] if name == "SPLIT" else ins[:1]


class TfliteImporter(StreamingOps):
    def __init__(self, path: str):
        self.path = path
        graphs = _read(path)
        self.tensors, _, self.inputs, self.outputs = graphs[0]
        # resource variables (streaming models): the main subgraph's ops without them, and the state
        self.ops, self.state, self.alias = resolve_variables(path, graphs)
        self.names: dict = {}                 # tflite tensor index -> IR name
        self.used: set = set()
        self.fg: dict = {}                    # float twin tensors
        self.qg: dict = {}                    # int8 tensors
        self.fnodes: list = []
        self.node_names: set = set()
        self.is_float = False                 # a float32 model: the float graph alone, calibrated by build()
        self.edges: dict = {}                 # "input" / "output" -> the file's own edge, where one was dropped

    # -- checks ---------------------------------------------------------------------------------
    def strip_edges(self):
        """A model converted without inference_input/output_type = int8 takes and gives float through a
        QUANTIZE first and a DEQUANTIZE last; with tf.uint8 it takes and gives uint8 through a QUANTIZE
        (uint8 → int8) first and a QUANTIZE (int8 → uint8) last.  edgec's C takes and gives int8, so those
        ops are dropped and the int8 tensors between them become the model's input and output.  The caller
        quantizes with the INPUT_* defines as TFLite's QUANTIZE does (round(x / scale) + zero point, the
        division in float32: `verify` and `run` do so, meta["input_quantize"]).  A uint8 edge is dropped
        only when the int8 tensor is the uint8 one moved by 128 (same scale, zero point - 128: what the
        converter writes, and TFLite's requantize is then exactly v - 128), so uint8 v is int8 v - 128."""
        t = self.tensors
        if len(self.inputs) == 1 and t[self.inputs[0]].type in (FLOAT32, UINT8):
            x = t[self.inputs[0]]
            users = [k for k, (_, ins, _, _) in enumerate(self.ops) if x.index in ins]
            if len(users) == 1 and self.ops[users[0]][0] == "QUANTIZE" and len(self.ops[users[0]][2]) == 1:
                q = t[self.ops[users[0]][2][0]]
                if q.type == INT8 and q.quantized and (x.type == FLOAT32 or _moved_by_128(x, q)):
                    self.edges["input"] = _edge(x, q)
                    self.inputs = [q.index]
                    del self.ops[users[0]]
        if len(self.outputs) == 1 and t[self.outputs[0]].type in (FLOAT32, UINT8):
            y = t[self.outputs[0]]
            makers = [k for k, (_, _, outs, _) in enumerate(self.ops) if y.index in outs]
            if len(makers) == 1 and self.ops[makers[0]][0] == ("DEQUANTIZE" if y.type == FLOAT32 else "QUANTIZE") \
                    and len(self.ops[makers[0]][1]) >= 1 and self.ops[makers[0]][1][0] >= 0:
                q = t[self.ops[makers[0]][1][0]]
                if q.type == INT8 and q.quantized and (y.type == FLOAT32 or _moved_by_128(y, q)):
                    self.edges["output"] = _edge(y, q)
                    self.outputs = [q.index]
                    del self.ops[makers[0]]

    def prepare_float(self):
        """A float model's constants in float32: float16 ones converted, integer ones with scales (the
        weights of a dynamic-range quantized file) dequantized, and a DEQUANTIZE of a constant (how the
        converter writes fp16 weights) replaced by the constant it makes."""
        for x in self.tensors:
            if x.data is None or x.data.shape != x.shape:
                continue
            if x.type == FLOAT16:
                x.data, x.type = x.data.astype(np.float32), FLOAT32
            elif x.type in (INT8, UINT8, INT16) and x.quantized and len(x.scale) in (1, x.shape[x.axis] if
                                                                                     0 <= x.axis < len(x.shape) else 1):
                shape = [1] * len(x.shape)
                if len(x.scale) > 1:
                    shape[x.axis] = len(x.scale)
                s, z = x.scale.astype(np.float64).reshape(shape), x.zero_point.astype(np.float64).reshape(shape)
                x.data, x.type, x.scale, x.zero_point = ((x.data - z) * s).astype(np.float32), FLOAT32, None, None
            if x.type == FLOAT32 and not np.all(np.isfinite(x.data)):
                raise ModelFormatError(f"constant {x.name!r} holds NaN or infinite values", where=self.path,
                                       hint="the weights are corrupt; re-export the model")
        keep = []
        for name, ins, outs, opt in self.ops:
            src = self.tensors[ins[0]] if name == "DEQUANTIZE" and len(ins) == 1 and ins[0] >= 0 else None
            if src is not None and src.data is not None and src.type == FLOAT32 and len(outs) == 1 \
                    and self.tensors[outs[0]].type == FLOAT32:
                out = self.tensors[outs[0]]
                if src.data.shape != out.shape:
                    raise ModelFormatError(f"DEQUANTIZE of {src.name!r} {list(src.data.shape)} into {out.name!r} "
                                           f"{list(out.shape)}", where=self.path, hint=CORRUPT)
                out.data = src.data
                continue
            keep.append((name, ins, outs, opt))
        self.ops = keep

    def check(self):
        t = self.tensors
        if not self.inputs or not self.outputs:
            raise ModelFormatError(f"the model has {len(self.inputs)} inputs and {len(self.outputs)} outputs",
                                   where=self.path, hint=CORRUPT)
        io = [t[i] for i in self.inputs + self.outputs]
        self.is_float = all(x.type == FLOAT32 for x in io)
        if self.is_float:
            self.prepare_float()
        else:
            for x in io:
                if x.type == INT16 or (x.type == FLOAT32 and self.int16_dequantized(x.index)):
                    raise UnsupportedOpError(
                        f"the model's {'input' if x is io[0] else 'output'} is int16" +
                        (" (a DEQUANTIZE from int16)" if x.type == FLOAT32 else "") +
                        ": edgec's C API takes and gives int8 (or the file's uint8), int16 only inside the model",
                        where=self.path, hint="end (and start) the model with a QUANTIZE to (from) int8, or convert "
                                              "it with inference_input_type / inference_output_type = tf.int8")
                if x.type == FLOAT32 or (x.type == UINT8 and not self.uint8_edge(x.index)):
                    several = len(self.inputs) + len(self.outputs) > 2
                    raise UnsupportedOpError(
                        f"the model's {'input' if x.index in self.inputs else 'output'} {x.name!r} is {x.type_name} and "
                        + ("not int8: with several inputs or outputs edgec takes and gives the int8 tensors themselves"
                           if several else "not a QUANTIZE / DEQUANTIZE edge to or from int8"),
                        where=self.path, hint="convert with inference_input_type = inference_output_type = tf.int8, or "
                                              "keep the whole model float (edgec quantizes a float .tflite from "
                                              "--calibration samples)" if several else FLOAT_HINT)
        ready = set(self.inputs) | {i for i, x in enumerate(t) if x.data is not None} | {s["read"] for s in self.state} \
            | set(self.alias)                         # READ_VARIABLE: the state, or the value assigned before it
        ready |= {i for name, ins, _, _ in self.ops if name == "UNIDIRECTIONAL_SEQUENCE_LSTM" for i in ins[18:20]}  # state variables
        ready |= {ins[4] for name, ins, _, _ in self.ops if name == "SVDF" and len(ins) == 5}    # SVDF's state
        for k, (name, ins, outs, _) in enumerate(self.ops):
            missing = [i for i in ins if i >= 0 and i not in ready]
            if missing:
                raise ModelFormatError(f"operator {k} ({name}) reads tensor {t[missing[0]].name!r} before any operator "
                                       "writes it (TFLite runs operators in the order listed)", where=self.path,
                                       hint=CORRUPT)
            ready.update(outs)
        for o in self.outputs:
            if o not in ready:
                raise ModelFormatError(f"no operator writes the model's output {t[o].name!r}", where=self.path, hint=CORRUPT)
        reached = set(self.inputs)
        for _, ins, outs, _ in self.ops:
            if reached.intersection(ins):
                reached.update(outs)
        for o in self.outputs:
            if o not in reached or o in self.inputs:
                raise UnsupportedOpError(f"the model's output {t[o].name!r} is not computed from its inputs: there is "
                                         "nothing to compile", where=self.path, hint=CORRUPT)
        problems: dict = {}

        def bad(what, k):
            problems.setdefault(what, []).append(k)
        supported = FLOAT_SUPPORTED if self.is_float else SUPPORTED
        for k, (name, ins, outs, opt) in enumerate(self.ops):
            if name not in supported:
                if name == "QUANTIZE" and not self.is_float:
                    bad("QUANTIZE other than at the model's edges (float32 or uint8 in, uint8 out)", k)
                elif name == "DEQUANTIZE":
                    bad("DEQUANTIZE " + ("of a non-constant tensor" if self.is_float else "other than at the output"),
                        k)
                else:
                    bad(name, k)
                continue
            if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
                tflite_lstm.check(self, ins, outs, opt, lambda what: bad(what, k))
                continue
            if name == "SVDF":
                tflite_svdf.check(self, ins, outs, opt, lambda what: bad(what, k))
                continue
            needed = ins[:2] if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") else \
                ins[:3] if name == "TRANSPOSE_CONV" else ins   # bias: optional
            if (len(outs) != 1 and name not in ("SPLIT", "SPLIT_V", "UNPACK")) or not ins or min(needed + outs) < 0 or \
                    any(0 in t[i].shape for i in ins + outs if i >= 0):
                bad(f"{name} with a missing or empty tensor", k)
                continue
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D") and "stride" not in opt:
                bad(f"{name} without its options (strides, padding)", k)
                continue
            opt.setdefault("act", 0)                  # TFLite's default where an operator's options are absent
            if self.is_float:
                self.check_float_op(name, ins, outs, opt, lambda what: bad(what, k))
            else:
                self.check_int8_op(name, ins, outs, opt, lambda what: bad(what, k))
            if any(v < 1 for key in ("stride", "dilation", "filter") for v in opt.get(key, ())) or \
                    opt.get("padding", 0) not in (0, 1):
                bad(f"{name} with invalid strides, dilations, filter size or padding", k)
                continue
            if opt.get("act", 0) not in ACTIVATIONS:
                bad(f"{name} with a fused activation other than NONE/RELU/RELU6/RELU_N1_TO_1", k)
            if name == "FULLY_CONNECTED" and opt.get("weights_format", 0) != 0:
                bad("FULLY_CONNECTED with shuffled weights", k)
            if name == "SOFTMAX" and opt.get("beta", 1.0) != 1.0:
                bad("SOFTMAX with beta != 1", k)
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
                if len(t[ins[0]].shape) != 4 or len(t[outs[0]].shape) != 4:
                    bad(f"{name} on a tensor of rank {len(t[ins[0]].shape)}", k)
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(ins) > 1 and len(t[ins[1]].shape) != 4:
                bad(f"{name} with weights of rank {len(t[ins[1]].shape)}", k)
            if name == "FULLY_CONNECTED" and len(ins) > 1 and len(t[ins[1]].shape) != 2:
                bad(f"{name} with weights of rank {len(t[ins[1]].shape)}", k)
            if len(ins) != ARITY.get(name, len(ins)) \
                    and not (name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(ins) == 2):
                bad(f"{name} with {len(ins)} inputs", k)

        if problems:
            listed = "; ".join(f"{what} ({len(ks)}x, first at operator {ks[0]})" for what, ks in problems.items())
            raise UnsupportedOpError(f"unsupported TFLite operators: {listed}", where=self.path,
                                     hint=f"edgec imports {'float32' if self.is_float else 'int8'} "
                                          + ", ".join(supported))

    def check_int8_op(self, name, ins, outs, opt, bad):
        t = self.tensors
        if name in ("ARG_MAX", "ARG_MIN"):               # an int32 / int64 index output: edgec's is int8
            self.check_arg(name, ins, outs, bad)
            outs = []
        acts = [t[i] for i in _activation_inputs(name, ins) + outs if i >= 0]
        for a in acts:
            if a.type != INT8 and not (name == "QUANTIZE" and a.type == UINT8 and self.uint8_edge(a.index)) \
                    and not (name == "QUANTIZE" and a.type == INT16):      # int8 <-> int16 (Requantize)
                bad(f"{name} on {a.type_name} tensors (edgec imports int8 activations)")
                break
            if not a.quantized:
                bad(f"{name} on an int8 tensor without quantization parameters")
                break
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            if len(ins) < 2 or t[ins[1]].data is None or t[ins[1]].type != INT8 or not t[ins[1]].quantized:
                bad(f"{name} whose weights are not constant int8")
            elif np.any(t[ins[1]].zero_point != 0):
                bad(f"{name} with asymmetric weights (nonzero weight zero point)")
            elif len(t[ins[1]].scale) > 1 and t[ins[1]].axis != (3 if name == "DEPTHWISE_CONV_2D" else 0):
                bad(f"{name} with weights quantized along axis {t[ins[1]].axis}")
            if len(ins) > 2 and ins[2] >= 0 and (t[ins[2]].data is None or t[ins[2]].type != INT32):
                bad(f"{name} whose bias is not constant int32")
        if name == "SOFTMAX":
            o = t[outs[0]]
            if o.quantized and (float(o.scale[0]) != 1.0 / 256 or int(o.zero_point[0]) != -128):
                bad("SOFTMAX whose int8 output is not scale 1/256, zero point -128 (TFLite Micro refuses it too)")
            elif o.shape and o.shape[-1] > 256:        # TFLM's final shift would pass 31 (it checks and stops)
                bad("SOFTMAX over more than 256 values")
        if name == "L2_NORMALIZATION" and (float(t[outs[0]].scale[0]), int(t[outs[0]].zero_point[0])) != (1 / 128, 0):
            bad("L2_NORMALIZATION whose int8 output is not scale 1/128, zero point 0 (TFLite refuses it too)")
        if name in INT8_OPS:
            self.check_streaming_op(name, ins, outs, opt, bad)
        if name in tflite_lowered.INT8_OPS:
            tflite_lowered.check(self, name, ins, outs, opt, bad)
        if name in ("CONCATENATION", "PAD", "PADV2", "TRANSPOSE", "SLICE", "RESIZE_NEAREST_NEIGHBOR", "MEAN"):
            self.check_params(name, ins, outs, opt, bad)
        if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
            i, o = t[ins[0]], t[outs[0]]
            if i.quantized and o.quantized and (float(i.scale[0]), int(i.zero_point[0])) != \
                    (float(o.scale[0]), int(o.zero_point[0])):
                bad(f"{name} whose output quantization differs from its input's")

    def check_arg(self, name, ins, outs, bad):
        t = self.tensors
        axis = t[ins[1]].data if len(ins) == 2 else None
        if axis is None or axis.size != 1 or t[outs[0]].type not in (INT32, INT64):
            bad(f"{name} without one constant axis and an int32 / int64 output")
        elif not -len(t[ins[0]].shape) <= int(axis.reshape(-1)[0]) < len(t[ins[0]].shape):
            bad(f"{name} over axis {int(axis.reshape(-1)[0])} of a rank-{len(t[ins[0]].shape)} tensor")

    def check_float_op(self, name, ins, outs, opt, bad):
        """What the float path takes of an operator: float32 activations, constant float32 weights and
        constant parameters (shapes, axes, paddings) that mean what an IR op does."""
        t = self.tensors
        if name in ("ARG_MAX", "ARG_MIN"):
            self.check_arg(name, ins, outs, bad)
            outs = []
        operands = _activation_inputs(name, ins)
        if all(t[i].data is not None for i in operands):
            bad(f"{name} on constant inputs only")
            return
        for a in [t[i] for i in operands + outs]:
            if a.type != FLOAT32:
                bad(f"{name} on {a.type_name} tensors (a float model's activations are float32)")
                return
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w = t[ins[1]] if len(ins) > 1 else None
            if w is None or w.data is None or w.type != FLOAT32 or w.data.shape != w.shape:
                bad(f"{name} whose weights are not constant float32, float16 or int8 with scales")
            if len(ins) > 2 and ins[2] >= 0 and (t[ins[2]].data is None or t[ins[2]].type != FLOAT32):
                bad(f"{name} whose bias is not constant float32")
            return
        if name == "PRELU":
            self.check_prelu(ins, bad)
        if name in ("STRIDED_SLICE", "SPLIT", "SPLIT_V"):       # TFLite Micro's index logic, as for int8
            self.check_streaming_op(name, ins, outs, opt, bad)
        if name in tflite_lowered.OPS:
            tflite_lowered.check(self, name, ins, outs, opt, bad)
            return
        if name in tflite_elementwise.OPS:
            tflite_elementwise.check(self, name, ins, outs, opt, bad)
        self.check_params(name, ins, outs, opt, bad)

    def check_params(self, name, ins, outs, opt, bad):
        """Constant parameters (axes, paddings, perms, slices) that mean what an IR op does: float and int8."""
        t = self.tensors
        r = len(t[ins[0]].shape)
        if name == "CONCATENATION" and (not -r <= opt.get("axis", 0) < r or len({len(t[i].shape) for i in ins}) != 1):
            bad(f"CONCATENATION along axis {opt.get('axis', 0)} of tensors of rank {r}")
        if name == "CONCATENATION" and opt.get("act", 0):
            bad("CONCATENATION with a fused activation (TFLite refuses it too)")
        if name not in PARAM_INPUTS or name in ("RESHAPE", "EXPAND_DIMS") or len(ins) != ARITY.get(name, len(ins)):
            return
        params = [t[i] for i in ins[1:]]
        value_type = FLOAT32 if self.is_float else INT8
        types = [(value_type,) if name == "PADV2" and j == 1 else (INT32, INT64) for j in range(len(params))]
        if any(p.data is None or p.data.size != int(np.prod(p.shape)) or p.type not in ok
               for p, ok in zip(params, types)):
            bad(f"{name} whose {'paddings' if 'PAD' in name else 'parameters'} are not constant")
            return
        x = t[ins[0]]
        v = [p.data.astype(np.int64).reshape(-1) if p.type != FLOAT32 else p.data.reshape(-1) for p in params]
        if name == "MEAN":                                # the Mean op (compiler/mean.py) or, float H,W, AvgPool2D
            if any(not -r <= a < r for a in v[0]) or not mean.adjacent(v[0], r):
                bad(f"{'float' if self.is_float else 'int8'} MEAN over axes {v[0].tolist()[:8]} of a rank-{r} tensor "
                    "(edgec reduces adjacent axes)")
        elif name in ("PAD", "PADV2"):
            if v[0].size != 2 * r or np.any(v[0] < 0):
                bad(f"{name} with paddings {v[0].tolist()[:8]} for a rank-{r} tensor")
            elif name == "PADV2" and (v[1].size != 1 or (self.is_float and float(v[1][0]) != 0.0)):
                bad("PADV2 with a constant value other than 0")
        elif name == "TRANSPOSE":
            if sorted(v[0].tolist()) != list(range(r)):
                bad(f"TRANSPOSE with perm {v[0].tolist()[:8]} of a rank-{r} tensor")
        elif name == "SLICE":
            b, size = v
            if b.size != r or size.size != r or np.any(b < 0) or np.any((size < 1) & (size != -1)) or \
                    any(int(bb) + (int(s) if s != -1 else d - int(bb)) > d or (s == -1 and bb >= d)
                        for bb, s, d in zip(b, size, x.shape)):
                bad(f"SLICE from {b.tolist()[:8]} of size {size.tolist()[:8]} of a tensor of shape {list(x.shape)[:8]}")
        elif name == "RESIZE_BILINEAR":                   # float (the int8 checks are in tflite_streaming.py)
            if r != 4 or v[0].size != 2 or (opt.get("align_corners") and opt.get("half_pixel_centers")):
                bad("RESIZE_BILINEAR other than on a 4-D tensor with at most one of align_corners, half_pixel_centers")
        elif name == "RESIZE_NEAREST_NEIGHBOR":
            if r != 4 or v[0].size != 2 or opt.get("align_corners"):
                bad("RESIZE_NEAREST_NEIGHBOR other than on a 4-D tensor without align_corners")
            elif any(o < i or o % i or not _nearest_is_repeat(i, o, opt.get("half_pixel_centers", False))
                     for i, o in zip(x.shape[1:3], v[0].tolist())):
                bad("RESIZE_NEAREST_NEIGHBOR other than by a whole factor (edgec repeats each pixel)")

    # -- tensors --------------------------------------------------------------------------------
    def uint8_edge(self, i: int) -> bool:
        """A uint8 model input read by QUANTIZE alone, or output written by one: edgec's int8 at zero point - 128."""
        t = self.tensors[i]
        if t.type != UINT8 or not t.quantized or i not in self.inputs + self.outputs or \
                len(self.inputs) + len(self.outputs) > 2:         # edges are dropped for one input and one output
            return False
        ops = [name for name, ins, outs, _ in self.ops if i in ins + outs]
        return ops == ["QUANTIZE"]

    def int16_dequantized(self, i: int) -> bool:
        """Float tensor i is a DEQUANTIZE of an int16 tensor."""
        return any(name == "DEQUANTIZE" and i in outs and ins and ins[0] >= 0 and self.tensors[ins[0]].type == INT16
                   for name, ins, outs, _ in self.ops)

    def name(self, i: int) -> str:
        if i in self.alias:                   # READ_VARIABLE after ASSIGN_VARIABLE: the assigned tensor
            return self.name(self.alias[i])
        if i not in self.names:
            t = self.tensors[i]
            base = re.sub(r"\s+", "_", t.name.split(";")[0]) or f"t{i}"
            n = unique_name(self.used, base)
            self.used.add(n)
            self.names[i] = n
        return self.names[i]

    def act(self, i: int) -> str:
        """An activation tensor: float in the float graph, int8 (its own scale and zero point) in the int8 one."""
        n = self.name(i)
        if n not in self.fg:
            t = self.tensors[i]
            self.fg[n] = Tensor(n, t.shape, "float32")
            if not self.is_float:
                self.qg[n] = Tensor(n, t.shape, "int16" if t.type == INT16 else "int8", None,
                                    Quant(np.float64(t.scale[0]), np.int64(self.qparams(i)[1])))
        return n

    def qparams(self, i: int) -> tuple[float, int]:
        """(scale, zero point) of int8 tensor i; a uint8 edge is int8 at zero point - 128 (uint8 v is int8 v - 128)."""
        t = self.tensors[i]
        return float(t.scale[0]), int(t.zero_point[0]) - (128 if t.type == UINT8 else 0)

    def const_operand(self, i: int) -> str:
        """A constant int8 operand of Add: the int8 data in the int graph, dequantized in the float twin;
        a float model's constant operand as it is."""
        n = self.name(i)
        t = self.tensors[i]
        if self.is_float:
            self.fg[n] = Tensor(n, t.shape, "float32", np.ascontiguousarray(t.data, np.float32).reshape(t.shape))
            return n
        s, z = self.qparams(i)
        self.qg[n] = Tensor(n, t.shape, "int8", t.data.astype(np.int8), Quant(np.float64(s), np.int64(z)))
        self.fg[n] = Tensor(n, t.shape, "float32", ((t.data.astype(np.float64) - z) * s).astype(np.float32))
        return n

    def weights(self, wi: int, bi: int, x_scale: float, w_int: np.ndarray, channels: int):
        """(weights name, bias name, per-channel weight scales) for a conv/FC: int8/int32 in the int graph,
        dequantized in the float twin.  w_int is already in edgec's layout (output channels first)."""
        wt = self.tensors[wi]
        s_w = np.asarray(wt.scale, np.float32)
        s_w = np.broadcast_to(s_w, (channels,)).copy() if s_w.size == 1 else s_w
        if s_w.size != channels:
            raise UnsupportedOpError(f"weights {wt.name!r} have {s_w.size} scales for {channels} output channels",
                                     where=self.path, hint=CORRUPT)
        wn = self.name(wi)
        bn = self.name(bi) if bi >= 0 else unique_name(self.used, wn + "_bias")
        self.used.add(bn)
        bias = (self.tensors[bi].data.astype(np.int32).reshape(-1) if bi >= 0 else np.zeros(channels, np.int32))
        if bias.size != channels:
            raise UnsupportedOpError(f"bias {bn!r} has {bias.size} values for {channels} output channels",
                                     where=self.path, hint=CORRUPT)
        s64 = s_w.astype(np.float64)
        bscale = float(x_scale) * s64
        shape_w = (-1,) + (1,) * (w_int.ndim - 1)
        self.qg[wn] = Tensor(wn, w_int.shape, "int8", w_int, Quant(s64, np.zeros(channels, np.int64), 0))
        self.qg[bn] = Tensor(bn, bias.shape, "int32", bias, Quant(bscale, np.zeros(channels, np.int64), 0))
        self.fg[wn] = Tensor(wn, w_int.shape, "float32", (w_int * s64.reshape(shape_w)).astype(np.float32))
        self.fg[bn] = Tensor(bn, bias.shape, "float32", (bias * bscale).astype(np.float32))
        return wn, bn, s_w

    def float_weights(self, wi: int, bi: int, w: np.ndarray, channels: int):
        """(weights name, bias name) of a float model's conv/FC; w is already in edgec's layout."""
        wn = self.name(wi)
        bn = self.name(bi) if bi >= 0 else unique_name(self.used, wn + "_bias")
        self.used.add(bn)
        bias = self.tensors[bi].data.astype(np.float32).reshape(-1) if bi >= 0 else np.zeros(channels, np.float32)
        if bias.size != channels:
            raise UnsupportedOpError(f"bias {bn!r} has {bias.size} values for {channels} output channels",
                                     where=self.path, hint=CORRUPT)
        self.fg[wn] = Tensor(wn, w.shape, "float32", np.ascontiguousarray(w, np.float32))
        self.fg[bn] = Tensor(bn, bias.shape, "float32", bias)
        return wn, bn

    def node(self, op: str, out_index, ins: list, outs: list, fattrs: dict):
        """One node of the float graph (an int8 file's float twin, whose integer parameters the quantize
        pass derives), named after its TFLite output tensor (or `out_index` when a str)."""
        base = out_index if isinstance(out_index, str) else self.tensors[out_index].name.split(";")[0]
        name = unique_name(self.node_names, re.sub(r"\s+", "_", base) or op)
        self.node_names.add(name)
        self.fnodes.append(Node(op, name, list(ins), list(outs), dict(fattrs)))

    def extra_act(self, base: str, shape: tuple, like_index: int) -> str:
        """A tensor the .tflite does not have (FC's implicit flatten), quantized as tensor `like_index`."""
        n = unique_name(self.used, base)
        self.used.add(n)
        t = self.tensors[like_index]
        if not self.is_float:
            self.qg[n] = Tensor(n, tuple(shape), "int8", None, Quant(np.float64(t.scale[0]), np.int64(t.zero_point[0])))
        self.fg[n] = Tensor(n, tuple(shape), "float32")
        return n

    # -- ops --------------------------------------------------------------------------------------
    def run(self) -> Graph:
        self.ops = tflite_shape_ops.fold(self.tensors, self.ops)     # a dynamic batch's shape arithmetic
        self.strip_edges()
        self.check()
        for k, (name, ins, outs, opt) in enumerate(self.ops):
            try:
                if name in UNARY:
                    self.unary(name, ins, outs, opt)
                elif self.is_float and name in tflite_elementwise.OPS:
                    tflite_elementwise.import_op(self, name, ins, outs, opt)
                elif name in tflite_lowered.OPS:
                    tflite_lowered.import_op(self, name, ins, outs, opt)
                else:
                    getattr(self, "op_" + name)(ins, outs, opt)
            except (ValueError, EdgecError) as e:     # a multiplier TFLite's arithmetic cannot represent
                if isinstance(e, EdgecError) and e.where:
                    raise
                raise UnsupportedOpError(f"operator {k} ({name}): {e}", where=self.path,
                                         hint="check the tensor scales the converter wrote") from None
        self.check_shapes()
        firsts = {n.name.split("/")[0] for n in self.fnodes if "/" in n.name}
        if len(firsts) == 1:                          # "functional_1/conv2d/Relu" -> "conv2d/Relu" in reports
            prefix = next(iter(firsts)) + "/"
            short = [n.name[len(prefix):] if n.name.startswith(prefix) else n.name for n in self.fnodes]
            if len(set(short)) == len(short) and all(short):
                for k, s in enumerate(short):
                    self.fnodes[k].name = s
        stem = os.path.splitext(os.path.basename(self.path))[0]
        xs, ys = [self.act(i) for i in self.inputs], [self.act(o) for o in self.outputs]
        meta = {"source": os.path.abspath(self.path), "format": "tflite", "input_layout": "NHWC, as the .tflite declares it"
                if len(self.tensors[self.inputs[0]].shape) == 4 else "as the .tflite declares it",
                "input_names": [self.tensors[i].name for i in self.inputs],
                "output_names": [self.tensors[o].name for o in self.outputs]}
        if self.is_float:
            return Graph(stem, self.fnodes, self.fg, xs, ys, meta)
        single = len(self.inputs) == 1 and len(self.outputs) == 1
        for kind, i in ((("input", self.inputs[0]), ("output", self.outputs[0])) if single else ()):
            if self.tensors[i].type == UINT8 and kind not in self.edges:      # a uint8 edge through a requantizing QUANTIZE
                self.edges[kind] = _edge(self.tensors[i], None)
        meta["edges"] = self.edges
        fstate, qstate = self.state_meta()
        if self.edges.get("input", {}).get("file_dtype") == "float32":
            meta["input_quantize"] = "float32"         # the file's QUANTIZE: round(x / scale) in float32, as TFLite
        return Graph(stem, self.fnodes, self.fg, xs, ys, dict(meta, dequantized_from="tflite",
                                                               given_quant=self.given_quant(qstate)), state=fstate)

    def given_quant(self, qstate: list) -> dict:
        """meta["given_quant"] of an int8 file: every tensor as the file gives it ("tensors": dtype, exact
        integer data of constants, scale, zero point, axis; "activations": (scale, zero point)), TFLite
        Micro's arithmetic ("arithmetic": "tflm") and the integer initial state ("state": Graph.state's
        StateVars as dicts).  The quantize pass derives every node's integer parameters from them (passes/quantize.py,
        compiler/ops/)."""
        tensors = {n: {"dtype": t.dtype, "data": t.data, "scale": t.quant.scale, "zero_point": t.quant.zero_point,
                       "axis": t.quant.axis} for n, t in self.qg.items()}
        acts = {n: (float(t.quant.scalar_scale), t.quant.scalar_zp) for n, t in self.qg.items() if t.data is None}
        return dict(arithmetic="tflm", activations=acts, tensors=tensors,
                    **({"state": [v.as_dict() for v in qstate]} if qstate else {}))      # meta stays plain data

    def state_meta(self) -> tuple[list, list]:
        """Graph.state of the float twin and the int8 graph: per variable a node reads, its state tensor,
        the tensor assigned to it at the end of a run (None: never reassigned) and its initial values."""
        if not self.state:
            return [], []
        read = {i for n in self.fnodes for i in n.inputs}
        fs, qs = [], []
        for s in self.state:
            tname = self.name(s["read"])
            if tname not in read:
                continue
            scale, zp = self.qparams(s["read"])
            nxt = self.name(s["next"]) if s["next"] is not None and not isinstance(s["next"], str) else s["next"]
            if nxt is not None and nxt not in self.qg:
                self.act(s["next"])
            entry = (s["key"][1] or s["key"][0], tname, nxt)
            qs.append(StateVar(*entry, init=s["init"].astype(s.get("dtype", np.int8))))
            fs.append(StateVar(*entry, init=((s["init"].astype(np.float64) - zp) * scale).astype(np.float32)))
        return fs, qs

    def check_shapes(self):
        """Every output shape the file declares must follow from its node's inputs and attributes (the C
        kernels index by them), and grouped weights must fit the input's channels.  A float model's nodes
        are also held to the IR's contract (builder.check_node), as every other importer's are."""
        g = self.fg if self.is_float else self.qg
        for node in self.fnodes:
            ins = [g[i].shape for i in node.inputs]
            where = f"operator {node.name} ({node.op})"
            if node.op == "Conv2D" and (ins[0][3] != node.attrs["groups"] * ins[1][3] or ins[1][0] % node.attrs["groups"]):
                raise ModelFormatError(f"{where}: weights {list(ins[1])} do not fit an input of {ins[0][3]} channels",
                                       where=self.path, hint=CORRUPT)
            if node.op == "FullyConnected" and (ins[0][1] != ins[1][1] or ins[2][0] != ins[1][0]):
                raise ModelFormatError(f"{where}: weights {list(ins[1])} do not fit the input {list(ins[0])}",
                                       where=self.path, hint=CORRUPT)
            try:
                if node.op in ("Conv2D", "MaxPool2D", "AvgPool2D"):
                    check_padded(ins[0], node.attrs["pads"])       # kernels read a padded copy of the input
                if self.is_float:
                    check_node(node.op, node.attrs, ins, [g[i].data for i in node.inputs])
                want = output_shapes(node, ins)[0]
            except EdgecError as e:
                raise ModelFormatError(f"{where}: {e}", where=self.path, hint=CORRUPT) from None
            got = g[node.outputs[0]].shape
            if tuple(want) != tuple(got):
                raise ModelFormatError(f"{where}: the file says its output is {list(got)}, its inputs give {list(want)}",
                                       where=self.path, hint=CORRUPT)

    def _conv(self, ins, outs, opt, depthwise: bool):
        t = self.tensors
        x, o = t[ins[0]], t[outs[0]]
        w = t[ins[1]].data
        _, in_h, in_w, in_c = x.shape
        _, out_h, out_w, out_c = o.shape
        if depthwise:                       # [1, kh, kw, C*m] -> [C*m, kh, kw, 1], groups = C
            w_int = np.ascontiguousarray(np.transpose(w, (3, 1, 2, 0)))
            groups = in_c
        else:                               # OHWI already; grouped conv when the filter is shallower
            w_int = np.ascontiguousarray(w)
            groups = in_c // w.shape[3]
        kh, kw = w_int.shape[1:3]
        (sh, sw), (dh, dw) = opt["stride"], opt["dilation"]
        if opt["padding"] == 0:
            pt, pb = same_padding(in_h, out_h, kh, sh, dh)
            pl, pr = same_padding(in_w, out_w, kw, sw, dw)
        else:
            pt = pl = 0
            pb = max(0, (out_h - 1) * sh + (kh - 1) * dh + 1 - in_h)
            pr = max(0, (out_w - 1) * sw + (kw - 1) * dw + 1 - in_w)
        fattrs = {"strides": (sh, sw), "dilations": (dh, dw), "pads": (pt, pl, pb, pr), "groups": groups,
                  "act": ACTIVATIONS[opt["act"]]}
        if self.is_float:
            wn, bn = self.float_weights(ins[1], ins[2] if len(ins) > 2 else -1, w_int, out_c)
            self.node("Conv2D", outs[0], [self.act(ins[0]), wn, bn], [self.act(outs[0])], fattrs)
            return
        wn, bn, _ = self.weights(ins[1], ins[2] if len(ins) > 2 else -1, self.qparams(ins[0])[0], w_int, out_c)
        self.node("Conv2D", outs[0], [self.act(ins[0]), wn, bn], [self.act(outs[0])], fattrs)

    def op_CONV_2D(self, ins, outs, opt):
        self._conv(ins, outs, opt, depthwise=False)

    def op_DEPTHWISE_CONV_2D(self, ins, outs, opt):
        self._conv(ins, outs, opt, depthwise=True)

    def op_FULLY_CONNECTED(self, ins, outs, opt):
        t = self.tensors
        w = t[ins[1]].data
        m, k = w.shape
        x = self.act(ins[0])
        if len(t[ins[0]].shape) != 2 or t[ins[0]].shape[-1] != k:          # TFLite flattens to [-1, K]
            flat = self.extra_act(f"{x}_flat", (int(np.prod(t[ins[0]].shape)) // k, k), ins[0])
            self.node("Reshape", flat, [x], [flat], {"shape": self.fg[flat].shape})
            x = flat
        n = self.fg[x].shape[0]
        y = self.act(outs[0])
        direct = tuple(t[outs[0]].shape) == (n, m)
        fc_out = y if direct else self.extra_act(f"{y}_2d", (n, m), outs[0])
        if self.is_float:
            wn, bn = self.float_weights(ins[1], ins[2] if len(ins) > 2 else -1, w, m)
            self.node("FullyConnected", outs[0], [x, wn, bn], [fc_out], {"act": ACTIVATIONS[opt["act"]]})
        else:
            wn, bn, _ = self.weights(ins[1], ins[2] if len(ins) > 2 else -1, self.qparams(ins[0])[0],
                                     np.ascontiguousarray(w), m)
            self.node("FullyConnected", outs[0], [x, wn, bn], [fc_out], {"act": ACTIVATIONS[opt["act"]]})
        if not direct:                                                      # keep_num_dims
            self.node("Reshape", f"{y}_keep_dims", [fc_out], [y], {"shape": tuple(t[outs[0]].shape)})

    def _pool(self, op, ins, outs, opt):
        t = self.tensors
        _, in_h, in_w, _ = t[ins[0]].shape
        _, out_h, out_w, _ = t[outs[0]].shape
        (kh, kw), (sh, sw) = opt["filter"], opt["stride"]
        if opt["padding"] == 0:
            pt, pb = same_padding(in_h, out_h, kh, sh, 1)
            pl, pr = same_padding(in_w, out_w, kw, sw, 1)
        else:
            pt = pl = 0
            pb = max(0, (out_h - 1) * sh + kh - in_h)
            pr = max(0, (out_w - 1) * sw + kw - in_w)
        self.node(op, outs[0], [self.act(ins[0])], [self.act(outs[0])],
                  {"kernel": (kh, kw), "strides": (sh, sw), "pads": (pt, pl, pb, pr), "act": ACTIVATIONS[opt["act"]]})

    def op_AVERAGE_POOL_2D(self, ins, outs, opt):
        self._pool("AvgPool2D", ins, outs, opt)

    def op_MAX_POOL_2D(self, ins, outs, opt):
        self._pool("MaxPool2D", ins, outs, opt)

    def op_RESHAPE(self, ins, outs, opt):
        shape = tuple(self.tensors[outs[0]].shape)
        self.node("Reshape", outs[0], [self.act(ins[0])], [self.act(outs[0])], {"shape": shape})

    op_SQUEEZE = op_RESHAPE

    def op_UNIDIRECTIONAL_SEQUENCE_LSTM(self, ins, outs, opt):
        tflite_lstm.import_op(self, ins, outs, opt)

    def op_SVDF(self, ins, outs, opt):
        tflite_svdf.import_op(self, ins, outs, opt)

    def op_SOFTMAX(self, ins, outs, opt):
        self.node("Softmax", outs[0], [self.act(ins[0])], [self.act(outs[0])], {})

    def op_ARG_MAX(self, ins, outs, opt, op="ArgMax"):
        """The index along a constant axis, ties to the first (as TFLite); edgec's output is the index as
        int8 (scale 1, zero point 0, compiler/ops/argmax.py) where the file's is int32 or int64."""
        x = self.tensors[ins[0]]
        n = self.name(outs[0])
        shape = self.tensors[outs[0]].shape
        self.fg[n] = Tensor(n, shape, "float32")
        if not self.is_float:
            self.qg[n] = Tensor(n, shape, "int8", None, Quant(np.float64(1.0), np.int64(0)))
        axis = int(self.tensors[ins[1]].data.reshape(-1)[0]) % len(x.shape)
        self.node(op, outs[0], [self.act(ins[0])], [n], {"axis": axis, "keep": False, "select_last": False})

    def op_ARG_MIN(self, ins, outs, opt):
        self.op_ARG_MAX(ins, outs, opt, "ArgMin")

    def op_L2_NORMALIZATION(self, ins, outs, opt):
        """Over the last axis; float: x / max(||x||, 1e-6) as TFLite's float kernel; int8: its integer one."""
        self.node("L2Normalize", outs[0], [self.act(ins[0])], [self.act(outs[0])],
                  {"axis": len(self.tensors[ins[0]].shape) - 1, "eps": 1e-6})

    def op_ADD(self, ins, outs, opt):
        if self.is_float:
            self.binary("Add", ins, outs, opt)
            return
        self.int8_binary("Add", ins, outs, opt)

    # -- float models only ------------------------------------------------------------------------
    def binary(self, op, ins, outs, opt):
        names = [self.const_operand(i) if self.tensors[i].data is not None else self.act(i) for i in ins[:2]]
        self.node(op, outs[0], names, [self.act(outs[0])], {"act": ACTIVATIONS[opt["act"]]})

    def op_SUB(self, ins, outs, opt):
        self.binary("Sub", ins, outs, opt) if self.is_float else self.int8_binary("Sub", ins, outs, opt)

    def op_MUL(self, ins, outs, opt):
        self.binary("Mul", ins, outs, opt) if self.is_float else self.int8_binary("Mul", ins, outs, opt)

    def unary(self, name, ins, outs, opt):
        op, attrs = UNARY[name]
        if name == "LEAKY_RELU":
            attrs = {"alpha": opt.get("alpha", 0.0)}          # the schema's default
        elif name == "GELU":
            attrs = {"approximate": "tanh" if opt.get("approximate") else "none"}
        if not self.is_float:                                 # TFLite Micro's int8 arithmetic as a table
            self.lut_unary(name, ins, outs, opt, op, attrs)
            return
        self.node(op, outs[0], [self.act(ins[0])], [self.act(outs[0])], dict(attrs))

    op_EXPAND_DIMS = op_RESHAPE

    def op_CONCATENATION(self, ins, outs, opt):
        names = [self.const_operand(i) if self.tensors[i].data is not None else self.act(i) for i in ins]
        axis = opt.get("axis", 0) % len(self.tensors[outs[0]].shape)
        self.node("Concat", outs[0], names, [self.act(outs[0])], {"axis": axis})

    def op_MEAN(self, ins, outs, opt):
        """int8: a Mean node (TFLite Micro's integer MEAN over adjacent axes); float: MEAN over height and
        width of NHWC is a whole-image average pool (+ a reshape without keep_dims), other adjacent axes a
        Mean node (quantize gives it TFLM's arithmetic)."""
        shape = self.tensors[ins[0]].shape
        axes = tuple(sorted(int(a) % len(shape) for a in self.tensors[ins[1]].data.reshape(-1)))
        if self.is_float and not (len(shape) == 4 and axes == (1, 2)):
            self.node("Mean", outs[0], [self.act(ins[0])], [self.act(outs[0])],
                      {"axes": axes, "keep": bool(opt.get("keep_dims"))})
            return
        if not self.is_float:                     # quantize gives it TFLite Micro's arithmetic (compiler/mean.py)
            self.node("Mean", outs[0], [self.act(ins[0])], [self.act(outs[0])],
                      {"axes": axes, "keep": bool(opt.get("keep_dims"))})
            return
        n, h, w, c = self.tensors[ins[0]].shape
        attrs = {"kernel": (h, w), "strides": (1, 1), "pads": (0, 0, 0, 0), "act": None}
        y = self.act(outs[0])
        if tuple(self.tensors[outs[0]].shape) == (n, 1, 1, c):
            self.node("AvgPool2D", outs[0], [self.act(ins[0])], [y], attrs)
            return
        pooled = self.extra_act(f"{y}_pooled", (n, 1, 1, c), outs[0])
        self.node("AvgPool2D", pooled, [self.act(ins[0])], [pooled], attrs)
        self.node("Reshape", outs[0], [pooled], [y], {"shape": tuple(self.tensors[outs[0]].shape)})

    def op_PAD(self, ins, outs, opt):
        p = self.tensors[ins[1]].data.astype(np.int64).reshape(-1, 2)
        pads = tuple(int(v) for v in p[:, 0]) + tuple(int(v) for v in p[:, 1])
        attrs = {"pads": pads}
        if not self.is_float and len(ins) > 2:   # int8 PADV2: its constant (TFLite: at the output's scale)
            s, z = self.qparams(outs[0])
            value = int(self.tensors[ins[2]].data.reshape(-1)[0])
            if value != z:
                attrs["value"] = (value - z) * s
        self.node("Pad", outs[0], [self.act(ins[0])], [self.act(outs[0])], attrs)

    op_PADV2 = op_PAD

    def op_TRANSPOSE(self, ins, outs, opt):
        perm = tuple(int(v) for v in self.tensors[ins[1]].data.reshape(-1))
        self.node("Transpose", outs[0], [self.act(ins[0])], [self.act(outs[0])], {"perm": perm})

    def op_SLICE(self, ins, outs, opt):
        shape = self.tensors[ins[0]].shape
        begin = [int(v) for v in self.tensors[ins[1]].data.reshape(-1)]
        size = [int(v) for v in self.tensors[ins[2]].data.reshape(-1)]
        end = tuple(d if s == -1 else b + s for b, s, d in zip(begin, size, shape))
        self.node("Slice", outs[0], [self.act(ins[0])], [self.act(outs[0])], {"begin": tuple(begin), "end": end})

    def op_RESIZE_NEAREST_NEIGHBOR(self, ins, outs, opt):
        (_, h, w, _), (oh, ow) = self.tensors[ins[0]].shape, [int(v) for v in self.tensors[ins[1]].data.reshape(-1)]
        self.node("Upsample", outs[0], [self.act(ins[0])], [self.act(outs[0])], {"scale": (oh // h, ow // w)})


@importer_entry
def import_tflite(path: str) -> Graph:
    """The dequantized float twin of a fully-integer .tflite, with the file's quantization in
    meta["given_quant"] (the quantize pass makes the int8 graph from it, with TFLite Micro's formulas:
    nothing to calibrate); the float graph of a float .tflite, which build() calibrates and quantizes
    like an ONNX model."""
    return TfliteImporter(path).run()
