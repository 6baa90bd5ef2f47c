"""ONNX → IR.  The only code that knows the ONNX format.

Shapes: the IR's are static.  Dynamic input dims come from `--input-shape` or the calibration data
(builder.fix_input_shape); the shape computations exporters write (Shape, Gather, Slice, Cast, Concat,
Unsqueeze, Squeeze, Range, Div, Floor, Mul, ConstantOfShape, Expand, Equal, Where, ...) then fold to
constants here, so no shape arithmetic reaches the IR.

Layout: the IR is NHWC, ONNX is NCHW.  Every ONNX value maps to an IR tensor plus a permutation
`perm` with  onnx_value == np.transpose(ir_value, perm).  Conv/pool outputs live in the IR as NHWC
(perm (0,3,1,2)); ONNX Transposes only change `perm` (tf2onnx's input Transpose costs nothing);
an IR Transpose is emitted only where an op needs the ONNX element order (Reshape/Flatten of a
feature map, graph outputs), and a pass folds those into the following FullyConnected weights.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError, EdgecError
from ..ir import Graph
from ..shapes import same_pads
from .reasons import MAX_REASONS, Reasons  # noqa: F401  (MAX_REASONS: the cap, read here by tests)
from .onnx_arg import arg, topk
from .onnx_cumsum import cumsum
from .onnx_l2norm import lp_normalization, reduce_l2
from .onnx_reduce import clip_tensor_bounds, prelu, reduce, reduce_min, reduce_sum, variadic
from .onnx_einsum import einsum
from .onnx_lstm import gather_step, gru as onnx_gru, lstm as onnx_lstm, rnn as onnx_rnn
from .. import resize
from .. import elementwise
from .lowering import conv_transpose
from .runtime_float import why as runtime_float_why
from .onnx_qdq import QOPERATORS, dequantize_linear, qoperator_to_qdq, quantize_linear, weight_scales
from .builder import (MAX_FILE_BYTES, GraphBuilder, check_file_size, check_node_count, check_shape,
                      element_count, fix_input_shape, given_by_name, limit_hint, importer_entry, shown)

NCHW_IN_NHWC = (0, 3, 1, 2)
CORRUPT = "the file may be corrupt; check it with onnx.checker.check_model and re-export it"
#: ONNX element types a constant may have (numeric, fixed size); their numpy dtypes.
CONST_TYPES = {1: np.float32, 11: np.float64, 10: np.float16, 3: np.int8, 2: np.uint8, 5: np.int16, 4: np.uint16,
               6: np.int32, 12: np.uint32, 7: np.int64, 13: np.uint64, 9: np.bool_}
#: the repeated field each element type keeps its values in when they are not in raw_data
TYPED_FIELD = {1: "float_data", 11: "double_data", 7: "int64_data", 12: "uint64_data", 13: "uint64_data"}
#: inputs each op takes (min, max) and the ones that may be left empty ("")
ARITY = {"DepthToSpace": (1, 1), "Conv": (2, 3), "Gemm": (2, 3), "MatMul": (2, 2), "Add": (2, 2), "Sub": (2, 2), "Mul": (2, 2),
         "Relu": (1, 1), "Clip": (1, 3), "LeakyRelu": (1, 1), "Sigmoid": (1, 1), "Tanh": (1, 1), "MaxPool": (1, 1),
         "HardSigmoid": (1, 1), "HardSwish": (1, 1), "Mish": (1, 1), "Elu": (1, 1), "Selu": (1, 1), "Softplus": (1, 1),
         "Softsign": (1, 1), "Exp": (1, 1), "Erf": (1, 1), "Gelu": (1, 1),
         "AveragePool": (1, 1), "GlobalAveragePool": (1, 1), "GlobalMaxPool": (1, 1), "BatchNormalization": (5, 5),
         "Reshape": (2, 2), "Flatten": (1, 1), "Squeeze": (1, 2), "Unsqueeze": (1, 2), "Transpose": (1, 1),
         "Pad": (1, 4), "Concat": (1, 1 << 30), "Softmax": (1, 1), "LogSoftmax": (1, 1), "Identity": (1, 1), "Dropout": (1, 3),
         "Constant": (0, 0), "QuantizeLinear": (2, 3), "DequantizeLinear": (2, 3),
         # shape computations, folded to constants once the input shapes are known
         "Shape": (1, 1), "Size": (1, 1), "Gather": (2, 2), "Slice": (1, 5), "Cast": (1, 1), "Range": (3, 3),
         "Div": (2, 2), "Floor": (1, 1), "Ceil": (1, 1), "Neg": (1, 1), "ConstantOfShape": (1, 1), "Expand": (2, 2),
         "Equal": (2, 2), "Less": (2, 2), "Greater": (2, 2), "Not": (1, 1), "Where": (3, 3),
         "ReduceMean": (1, 2), "ReduceMax": (1, 2), "ReduceMin": (1, 2), "ReduceSum": (1, 2), "Sum": (1, 1 << 30), "Max": (1, 1 << 30), "Min": (1, 1 << 30),
         "PRelu": (2, 2), "Einsum": (1, 1 << 30), "LSTM": (3, 8), "GRU": (3, 6), "RNN": (3, 6),
         "Split": (1, 2), "Resize": (1, 4), "Upsample": (1, 2), "ConvTranspose": (2, 3), "Mod": (2, 2),
         # element-wise primitives of computed tensors (compiler/elementwise.py)
         **{op: (1, 1) for op in ("Abs", "Log", "Sqrt", "Reciprocal", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh",
                                  "Cosh", "Asinh", "Acosh", "Atanh", "Round", "Sign", "Celu", "Shrink",
                                  "ThresholdedRelu")},
         **{op: (2, 2) for op in ("LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Pow")}}


@dataclass
class _Val:
    ir: str
    perm: tuple


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def load_onnx(path: str):
    import onnx
    from google.protobuf.message import DecodeError

    if not os.path.isfile(path):
        raise ModelFormatError("no such file", where=path, hint="check the path")
    check_file_size(path)
    try:
        model = onnx.load(path, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError, RecursionError, TypeError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"not a readable ONNX model ({type(e).__name__})", where=path,
                               hint="re-export the model; the file may be truncated") from None
    if not model.graph.node:
        raise ModelFormatError("the ONNX graph has no nodes", where=path,
                               hint="the file may be truncated or not an ONNX model")
    check_node_count(len(model.graph.node), "nodes", path)
    if len(model.graph.sparse_initializer):
        raise UnsupportedOpError("the model has sparse initializers", where=path,
                                 hint="save it with dense initializers")
    _load_external_data(model, path)
    return model


def _tensors_with_data(model):
    """Every TensorProto in the main graph that carries data: initializers and node attributes."""
    g = model.graph
    yield from g.initializer
    for n in g.node:
        for a in n.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors


def _external_path(loc: str, model_dir: str, path: str, name: str) -> str:
    """The file an external-data location names, refused unless it stays inside the model's directory."""
    norm = loc.replace("\\", "/")
    escapes = (not loc or "\x00" in loc or norm.startswith("/") or os.path.isabs(loc) or re.match(r"^[A-Za-z]:", norm)
               or ".." in norm.split("/"))
    full = os.path.realpath(os.path.join(model_dir, norm)) if not escapes else ""
    base = os.path.realpath(model_dir)
    if escapes or os.path.commonpath([full, base]) != base or full == base:
        raise ModelFormatError(f"tensor {shown(name)}: external data location '{shown(loc)}' is not a file inside the "
                               "model's directory", where=path,
                               hint="external data must be a relative path below the .onnx file's directory; "
                                    "edgec refuses locations that are absolute, contain '..' or leave it through a link")
    if not os.path.isfile(full):
        raise ModelFormatError(f"tensor {shown(name)}: external data file '{shown(loc)}' does not exist", where=path,
                               hint="copy the data file the model was saved with beside the .onnx file")
    return full


def _load_external_data(model, path: str) -> None:
    """Reads the external data of every tensor into raw_data, safely: only files inside the model's
    directory, only the bytes the tensor's shape needs, and no more than MAX_FILE_BYTES in all."""
    from onnx import TensorProto
    model_dir = os.path.dirname(os.path.abspath(path))
    total = 0
    for t in _tensors_with_data(model):
        if t.data_location != TensorProto.EXTERNAL:
            continue
        name = t.name
        info = {e.key: e.value for e in t.external_data}
        full = _external_path(info.get("location", ""), model_dir, path, name)
        if t.data_type not in CONST_TYPES:
            raise UnsupportedOpError(f"tensor {shown(name)} has element type {_type_name(t.data_type)}", where=path,
                                     hint="edgec reads numeric constants (float, int, bool)")
        dims = check_shape(t.dims, f"tensor {shown(name)}", path, allow_empty=True)
        need = element_count(dims) * np.dtype(CONST_TYPES[t.data_type]).itemsize
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", need))
        except ValueError:
            raise ModelFormatError(f"tensor {shown(name)}: external data offset/length "
                                   f"'{shown(info.get('offset'))}'/'{shown(info.get('length'))}' are not integers",
                                   where=path, hint=CORRUPT) from None
        size = os.path.getsize(full)
        if offset < 0 or length != need or offset + need > size:
            raise ModelFormatError(f"tensor {shown(name)} of shape {dims} needs {need:,} bytes of external data; "
                                   f"'{shown(info['location'])}' gives length {length:,} at offset {offset:,} "
                                   f"of a {size:,}-byte file", where=path,
                                   hint="the data file does not belong to this model; re-save them together")
        total += need
        if total > MAX_FILE_BYTES:
            raise ModelFormatError(f"external data of more than {MAX_FILE_BYTES:,} bytes", where=path,
                                   hint=limit_hint(f"{MAX_FILE_BYTES:,} bytes of weights"))
        with open(full, "rb") as f:
            f.seek(offset)
            t.raw_data = f.read(need)
        del t.external_data[:]
        t.data_location = TensorProto.DEFAULT


def _type_name(data_type: int) -> str:
    from onnx import TensorProto
    try:
        return TensorProto.DataType.Name(data_type)
    except ValueError:
        return str(data_type)


def tensor_to_array(t, path: str) -> np.ndarray:
    """A TensorProto's values as numpy, after checking its type, its shape against the resource limits
    and its data against its shape (so nothing is allocated from a shape the file does not back)."""
    from onnx import TensorProto, numpy_helper
    what = f"tensor {shown(t.name)}"
    if t.data_location == TensorProto.EXTERNAL:
        raise ModelFormatError(f"{what} has external data that was not loaded", where=path, hint=CORRUPT)
    if t.data_type not in CONST_TYPES:
        raise UnsupportedOpError(f"{what} has element type {_type_name(t.data_type)}", where=path,
                                 hint="edgec reads numeric constants (float, int, bool)")
    dims = check_shape(t.dims, what, path, allow_empty=True)
    n = element_count(dims)
    dtype = np.dtype(CONST_TYPES[t.data_type])
    if t.HasField("raw_data"):
        have, need = len(t.raw_data), n * dtype.itemsize
    else:
        have, need = len(getattr(t, TYPED_FIELD.get(t.data_type, "int32_data"))), n
    if have != need:
        raise ModelFormatError(f"{what} of shape {dims} needs {need:,} {'bytes' if t.HasField('raw_data') else 'values'}, "
                               f"the file holds {have:,}", where=path, hint=CORRUPT)
    try:
        return np.asarray(numpy_helper.to_array(t))
    except (ValueError, TypeError) as e:
        raise ModelFormatError(f"{what} is malformed ({type(e).__name__}: {shown(str(e))[:100]})", where=path,
                               hint=CORRUPT) from None


class OnnxImporter(GraphBuilder):
    def __init__(self, model, path, input_shapes=None, sample_shape=None):
        """input_shapes: {input name or None: dims} (--input-shape); sample_shape: the calibration
        data's shape, or a function giving it (called only when an input has dynamic dims)."""
        import onnx
        from onnx import numpy_helper
        super().__init__(os.path.basename(path))
        self.onnx, self.nh = onnx, numpy_helper
        self.model, self.path = model, path
        self.input_shapes, self.sample_shape = dict(input_shapes or {}), sample_shape
        self._inferred = None                # ONNX shape inference, made when a node cannot be imported
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.consts: dict = {}
        self.vals: dict = {}
        self.materialized: dict = {}
        self.dq_consts: dict = {}        # ONNX constant -> its DequantizeLinear parameters (QDQ models)
        self.given_acts: dict = {}       # IR tensor -> (scale, zero point) a Q/DQ node gives it
        self.given_weights: dict = {}    # IR weights -> per-output-channel scales the file gives

    # -- helpers -----------------------------------------------------------------------------
    def where(self, node):
        return f"{os.path.basename(self.path)}: node {shown(node.name or '?')} ({shown(node.op_type)})"

    def dispatch(self, node, op=None):
        """Runs the handler of `op` (default: the node's own op type) on an ONNX node, for handlers that
        lower one op into others (onnx_reduce.py)."""
        HANDLERS[op or node.op_type](self, node, self.attrs(node))

    def attrs(self, node):
        out = {}
        for a in node.attribute:
            try:
                out[a.name] = self.onnx.helper.get_attribute_value(a)
            except (ValueError, TypeError) as e:
                raise ModelFormatError(f"attribute {shown(a.name)} is malformed ({shown(str(e))[:80]})",
                                       where=self.where(node), hint=CORRUPT) from None
        return out

    def shape(self, onnx_name):
        if onnx_name in self.consts and onnx_name not in self.vals:
            return self.consts[onnx_name].shape
        v = self.val(onnx_name)
        ir_shape = self.tensors[v.ir].shape
        return tuple(ir_shape[p] for p in v.perm)

    def in_layout(self, onnx_name, want):
        """IR tensor holding `onnx_name` with  onnx == transpose(ir, want)."""
        v = self.val(onnx_name)
        if v.perm == tuple(want):
            return v.ir
        key = (onnx_name, tuple(want))
        if key not in self.materialized:
            perm = tuple(v.perm[i] for i in _inverse(want))
            src_shape = self.tensors[v.ir].shape
            moved = [p for p in perm if src_shape[p] != 1]
            if moved == sorted(moved):            # only size-1 axes move: same bytes, just a reshape
                new_shape = tuple(src_shape[p] for p in perm)
                self.materialized[key] = self.emit("Reshape", f"{onnx_name}_relayout", [v.ir], f"{v.ir}_relayout",
                                                   {"shape": new_shape})
            else:
                self.materialized[key] = self.emit("Transpose", f"{onnx_name}_to_onnx_order", [v.ir],
                                                   f"{v.ir}_transposed", {"perm": perm})
        return self.materialized[key]

    def plain(self, onnx_name):
        """IR tensor in ONNX element order."""
        return self.in_layout(onnx_name, tuple(range(len(self.shape(onnx_name)))))

    def feature_map(self, onnx_name, node):
        if len(self.shape(onnx_name)) != 4:
            raise UnsupportedOpError(f"only 2-D spatial (4-D NCHW) inputs are supported, got shape {self.shape(onnx_name)}",
                                     where=self.where(node))
        return self.in_layout(onnx_name, NCHW_IN_NHWC)

    def const_in(self, node, i, what):
        name = node.input[i] if i < len(node.input) else ""
        if not name:
            return None
        if name in self.vals:                   # computed from the model's input: folding cannot help
            raise UnsupportedOpError(f"{what} is computed from the input, where edgec needs constant weights",
                                     where=self.where(node), hint="a product of two computed tensors (attention's "
                                     "Q·K^T, a computed slope) is not supported; folding cannot make it constant")
        if name not in self.consts:
            raise UnsupportedOpError(f"{what} must be a constant", where=self.where(node),
                                     hint="fold it to an initializer (e.g. onnxsim) first")
        return self.consts[name]

    def set_const(self, node, value):
        """A node computed on constants: its output is a constant too (size-checked before it exists)."""
        self.consts[node.output[0]] = value

    # typed attributes: a wrong type or count names the attribute instead of failing somewhere later
    def a_int(self, node, a, key, default):
        v = a.get(key, default)
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise ModelFormatError(f"attribute {key}={_show(v)} is not an integer", where=self.where(node), hint=CORRUPT)
        return int(v)

    def a_ints(self, node, a, key, default, n=None, minimum=None):
        v = a.get(key, default)
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, (int, np.integer)) for x in v):
            raise ModelFormatError(f"attribute {key}={_show(v)} is not a list of integers", where=self.where(node),
                                   hint=CORRUPT)
        if (n is not None and len(v) != n) or (minimum is not None and any(x < minimum for x in v)):
            want = f"{n} integers" if n is not None else "integers"
            raise ModelFormatError(f"attribute {key}={_show(list(v))} must be {want}"
                                   f"{f' >= {minimum}' if minimum is not None else ''}", where=self.where(node),
                                   hint=CORRUPT)
        return tuple(int(x) for x in v)

    def a_float(self, node, a, key, default):
        v = a.get(key, default)
        if not isinstance(v, (int, float, np.number)) or isinstance(v, bool) or not math.isfinite(float(v)):
            raise ModelFormatError(f"attribute {key}={_show(v)} is not a finite number", where=self.where(node),
                                   hint=CORRUPT)
        return float(v)

    def a_str(self, node, a, key, default):
        v = a.get(key, default)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if not isinstance(v, str):
            raise ModelFormatError(f"attribute {key}={_show(v)} is not a string", where=self.where(node), hint=CORRUPT)
        return v

    def check_node_io(self, node, known):
        """Input counts, inputs that exist before the node, outputs that are new: the checks onnx.checker
        makes, done here so a cut or cyclic graph is refused by name instead of failing in a handler."""
        lo, hi = ARITY.get(node.op_type, (0, 1 << 30))      # an unsupported op: its inputs must exist all the same
        n = len(node.input)
        while n and not node.input[n - 1]:           # trailing empty names are omitted optional inputs
            n -= 1
        if not lo <= n <= hi:
            takes = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi < 1 << 30 else f"at least {lo}"
            raise ModelFormatError(f"{node.op_type} takes {takes} inputs, the node has {n}", where=self.where(node),
                                   hint=CORRUPT)
        empty = [i for i in range(lo) if not node.input[i]]
        if empty:
            raise ModelFormatError(f"required input {empty[0]} of {node.op_type} is empty", where=self.where(node),
                                   hint=CORRUPT)
        for name in node.input[:n]:
            if name and name not in known:
                raise ModelFormatError(f"input '{shown(name)}' is not a graph input, an initializer or the output of an "
                                       "earlier node", where=self.where(node),
                                       hint="the graph is cut or not in topological order; " + CORRUPT)
        if not node.output or not node.output[0]:
            raise ModelFormatError("the node has no output", where=self.where(node), hint=CORRUPT)
        for name in node.output:
            if name and name in known:
                raise ModelFormatError(f"output '{shown(name)}' is already produced by another node or is an input",
                                       where=self.where(node), hint=CORRUPT)
            if name:
                known.add(name)

    def note_act(self, ir, scale, zp, node):
        """The quantization a QuantizeLinear / DequantizeLinear gives activation `ir` (see onnx_qdq)."""
        old = self.given_acts.get(ir)
        if old is not None and old != (scale, zp):
            raise UnsupportedOpError(f"tensor {shown(ir)} is quantized twice, as (scale {old[0]:.6g}, zero point "
                                     f"{old[1]}) and (scale {scale:.6g}, zero point {zp})", where=self.where(node),
                                     hint="a QDQ model should quantize each tensor once; re-export it")
        self.given_acts[ir] = (scale, zp)

    # -- graph ---------------------------------------------------------------------------------
    def run(self) -> Graph:
        """Every reason the model cannot compile is collected and raised together: unsupported ops (by
        node), inputs with dynamic dimensions nothing fixes (`fix_input_shape`), unsupported attribute
        values.  After a node that fails, its outputs get stand-ins of the shape ONNX shape inference
        gives them and the nodes after it are checked too; where there is no shape, the nodes reading
        them are skipped.  Once anything is a placeholder, shape mismatches are not reported (they
        would only echo it)."""
        qoperator_to_qdq(self.model)
        g = self.model.graph
        file = os.path.basename(self.path)
        for init in g.initializer:
            self.consts[init.name] = tensor_to_array(init, file)
        reasons, blocked = Reasons(file, "node"), set()
        inputs = []
        declared = [vi for vi in g.input if vi.name not in self.consts]
        given = self._given_shapes(declared)
        guessed = False                     # an input shape is a placeholder: shape errors may be its echo
        for vi in declared:
            tt = vi.type.tensor_type
            if tt.elem_type not in (self.onnx.TensorProto.FLOAT, self.onnx.TensorProto.INT8, self.onnx.TensorProto.UINT8):
                raise UnsupportedOpError(f"input {shown(vi.name)} is {_type_name(tt.elem_type)}, not float32, int8 or "
                                         "uint8", where=file)
            static = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
            labels = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
                      for d in tt.shape.dim]
            dims, why = fix_input_shape(vi.name, static, given.get(vi.name),
                                        self._samples() if len(declared) == 1 and None in static else None, labels)
            if why:
                reasons.input(why)
                guessed = True
            self.context = f"{file}: input {shown(vi.name)}"
            name = self.add_tensor(vi.name, dims)
            self.vals[vi.name] = _Val(name, tuple(range(len(dims))))
            inputs.append(name)
        known = set(self.consts) | set(self.vals)
        for node in g.node:
            self.context = self.where(node)
            self.check_node_io(node, known)
            if node.op_type not in HANDLERS:
                reasons.op(f"node {shown(node.name or '?')} ({shown(node.op_type)}): unsupported op{runtime_float_why(node.op_type)}")
                guessed |= self._stand_in(node, blocked)
                continue
            if any(i in blocked for i in node.input):
                blocked.update(node.output)
                continue
            try:
                HANDLERS[node.op_type](self, node, self.attrs(node))
            except UnsupportedOpError as e:
                reasons.value(e, self.where(node))
                guessed |= self._stand_in(node, blocked)
            except ModelFormatError as e:
                if not guessed:
                    if e.where is None:
                        raise ModelFormatError(str(e), where=self.where(node)) from None
                    raise
                blocked.update(node.output)       # most likely the placeholder shape's doing
            except EdgecError as e:
                if e.where is None:
                    raise type(e)(str(e), where=self.where(node)) from None
                raise
            except (KeyError, IndexError, ValueError, TypeError, ZeroDivisionError, OverflowError) as e:
                if guessed:
                    blocked.update(node.output)
                    continue
                raise ModelFormatError(f"malformed node ({type(e).__name__}: {shown(str(e))[:120]})",
                                       where=self.where(node), hint=CORRUPT) from None
        reasons.raise_all(f"supported ONNX ops: {', '.join(sorted(set(HANDLERS) | set(QOPERATORS)))}")
        self.context = self.source
        outputs = []
        for vo in g.output:
            if vo.name not in self.vals:
                raise UnsupportedOpError(f"output {shown(vo.name)} is a constant or is not computed",
                                         where=os.path.basename(self.path),
                                         hint="the graph output must be computed from the input")
            outputs.append(self.plain(vo.name))
        name = os.path.splitext(os.path.basename(self.path))[0]
        meta = {"source": os.path.abspath(self.path), "format": "onnx",
                "input_names": [vi.name for vi in g.input if vi.name not in self.consts],
                "output_names": [vo.name for vo in g.output]}
        if self.given_acts or self.given_weights:
            meta["given_quant"] = self.given_quant(inputs)
        return self.graph(name, inputs, outputs, meta)

    def _stand_in(self, node, blocked: set) -> bool:
        """Outputs of a node that cannot be imported, as tensors of the shapes ONNX shape inference
        gives them, so the nodes after it are still checked for reasons of their own; outputs of
        unknown shape block the nodes that read them.  True when a stand-in was made."""
        if self._inferred is None:
            self._inferred = self._infer_shapes()
        made = False
        for out in node.output:
            dims = self._inferred.get(out)
            if out and dims is not None and min(dims, default=1) >= 1:
                self.vals[out] = _Val(self.add_tensor(f"{out}_stand_in", dims), tuple(range(len(dims))))
                made = True
            elif out:
                blocked.add(out)
        return made

    def _infer_shapes(self) -> dict:
        """{value: static ONNX shape} from onnx.shape_inference, the inputs at the shapes they were given."""
        m = self.onnx.ModelProto()
        m.CopyFrom(self.model)
        for vi in m.graph.input:
            if vi.name in self.vals:
                dims = self.shape(vi.name)
                del vi.type.tensor_type.shape.dim[:]
                for d in dims:
                    vi.type.tensor_type.shape.dim.add().dim_value = d
        try:
            vis = self.onnx.shape_inference.infer_shapes(m).graph.value_info
        except Exception:                        # an exporter's invalid graph: no stand-ins, only blocking
            return {}
        out = {}
        for vi in vis:
            dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
            if vi.type.tensor_type.HasField("shape") and None not in dims:
                out[vi.name] = tuple(dims)
        return out

    def _given_shapes(self, declared) -> dict:
        """--input-shape by input name (an unnamed one is the model's only input)."""
        return given_by_name(self.input_shapes, [vi.name for vi in declared], os.path.basename(self.path))

    def _samples(self):
        s = self.sample_shape() if callable(self.sample_shape) else self.sample_shape
        return None if s is None else tuple(int(d) for d in s)

    def given_quant(self, inputs) -> dict:
        """meta["given_quant"] of a QDQ model.  The input's quantization is the one its first
        DequantizeLinear gives it, possibly behind layout-only ops (tf2onnx's Reshape/Transpose)."""
        acts = dict(self.given_acts)
        producer = {n.outputs[0]: n for n in self.nodes}
        for ir in list(acts):
            t = ir
            while t in producer and producer[t].op in ("Reshape", "Transpose") and producer[t].inputs[0] not in acts:
                t = producer[t].inputs[0]
                acts[t] = acts[ir]
        missing = [i for i in inputs if i not in acts]
        if missing:
            raise UnsupportedOpError(f"the QDQ model's input {shown(missing[0])} is not dequantized by a "
                                     "DequantizeLinear", where=os.path.basename(self.path),
                                     hint="a pre-quantized model starts with QuantizeLinear or DequantizeLinear")
        return {"activations": {k: [float(s), int(z)] for k, (s, z) in acts.items()},
                "weights": dict(self.given_weights)}

    def val(self, onnx_name) -> _Val:
        """The IR value of `onnx_name`; a constant used as data becomes an IR constant tensor."""
        if onnx_name not in self.vals:
            c = np.asarray(self.consts[onnx_name], dtype=np.float32)
            self.vals[onnx_name] = _Val(self.const(onnx_name, c), tuple(range(c.ndim)))
        return self.vals[onnx_name]

    def set(self, onnx_name, ir, perm):
        self.vals[onnx_name] = _Val(ir, tuple(perm))


def _show(v) -> str:
    s = shown(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _const_result_size(imp, node, shape):
    """Refuse a constant the node would compute before computing it (broadcasts can multiply sizes)."""
    check_shape(shape, f"constant {shown(node.output[0])}", imp.where(node), allow_empty=True)


# -- op handlers ---------------------------------------------------------------------------------
def _pads2d(imp, node, a, in_hw, kernel, strides, dil=(1, 1)):
    auto = imp.a_str(node, a, "auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        p = imp.a_ints(node, a, "pads", [0, 0, 0, 0], 4, 0)
        return (p[0], p[1], p[2], p[3])
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise ModelFormatError(f"auto_pad '{shown(auto)}'", where=imp.where(node),
                               hint="ONNX auto_pad is NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    t, l, b, r = same_pads(in_hw, kernel, strides, dil)
    return (t, l, b, r) if auto == "SAME_UPPER" else (b, r, t, l)


def _conv(imp, node, a):
    w = imp.const_in(node, 1, "Conv weights")
    if w.ndim not in (3, 4):
        raise UnsupportedOpError(f"only 1-D and 2-D convolution are supported (weights {w.shape})", where=imp.where(node))
    x, one_d = _spatial_in(imp, node, node.input[0], w.ndim == 3)
    if one_d:                                   # [O, I, k] as [O, I, 1, k] on [N, 1, T, C]
        w, a = w[:, :, None, :], _attrs_2d(imp, node, a)
    b = imp.const_in(node, 2, "Conv bias")
    if b is None:
        b = np.zeros(w.shape[0], np.float32)
    kernel = imp.a_ints(node, a, "kernel_shape", list(w.shape[2:]), 2, 1)
    if kernel != tuple(w.shape[2:]):
        raise ModelFormatError(f"kernel_shape {kernel} does not match the weights {w.shape}", where=imp.where(node),
                               hint=CORRUPT)
    strides = imp.a_ints(node, a, "strides", (1, 1), 2, 1)
    dil = imp.a_ints(node, a, "dilations", (1, 1), 2, 1)
    hw = imp.tensors[x].shape[1:3]
    attrs = {"strides": strides, "dilations": dil, "pads": _pads2d(imp, node, a, hw, kernel, strides, dil),
             "groups": imp.a_int(node, a, "group", 1), "act": None}
    wn = imp.const(f"{node.output[0]}_weights", np.transpose(w, (0, 2, 3, 1)))
    bn = imp.const(f"{node.output[0]}_bias", b)
    weight_scales(imp, node.input[1], wn, 0, w.shape[0], node)
    y = imp.emit("Conv2D", node.name or node.output[0], [x, wn, bn], f"{node.output[0]}_2d" if one_d else node.output[0],
                 attrs)
    _spatial_out(imp, node, y, one_d)


def _gemm(imp, node, a):
    if len(imp.shape(node.input[0])) != 2:
        raise UnsupportedOpError(f"Gemm input must be 2-D, got {imp.shape(node.input[0])}", where=imp.where(node))
    # transA: the IR tensor laid out as A^T, which is what the FullyConnected reads
    x = imp.in_layout(node.input[0], (1, 0)) if imp.a_int(node, a, "transA", 0) else imp.plain(node.input[0])
    b = imp.const_in(node, 1, "Gemm B")
    if b.ndim != 2:
        raise ModelFormatError(f"Gemm B must be a matrix, got shape {b.shape}", where=imp.where(node), hint=CORRUPT)
    trans_b = imp.a_int(node, a, "transB", 0)
    alpha = imp.a_float(node, a, "alpha", 1.0)
    if alpha != 1.0 and node.input[1] in imp.dq_consts:
        raise UnsupportedOpError(f"Gemm with alpha={alpha} on quantized weights", where=imp.where(node))
    w = (b if trans_b else b.T) * alpha
    c = imp.const_in(node, 2, "Gemm C")
    if c is not None and c.size not in (1, w.shape[0]):
        raise ModelFormatError(f"Gemm C of shape {c.shape} for {w.shape[0]} outputs", where=imp.where(node), hint=CORRUPT)
    bias = (np.zeros(w.shape[0], np.float32) if c is None
            else np.broadcast_to(c.reshape(-1) * imp.a_float(node, a, "beta", 1.0), (w.shape[0],)))
    _fc(imp, node, x, w, bias, 0 if trans_b else 1)


def _matmul(imp, node, a):
    """X @ W with W constant: a FullyConnected (X of rank > 2 as rows [prod(leading dims), K]).
    W @ X with W constant [M, K] and X [K, N]: the same on X^T, (W @ X)^T = X^T @ W^T, whose result is
    kept as the IR tensor of Y^T (the layout permutation says so; nothing moves)."""
    if node.input[0] in imp.consts and node.input[1] not in imp.consts:
        w = np.asarray(imp.consts[node.input[0]])
        if w.ndim != 2 or len(imp.shape(node.input[1])) != 2:
            raise UnsupportedOpError(f"MatMul of a constant {w.shape} by a tensor {imp.shape(node.input[1])}: only "
                                     "matrices", where=imp.where(node))
        x = imp.in_layout(node.input[1], (1, 0))
        _fc(imp, node, x, w, np.zeros(w.shape[0], np.float32), 0, weight_input=0, perm=(1, 0))
        return
    src = imp.shape(node.input[0])
    w = imp.const_in(node, 1, "MatMul B")
    if w.ndim != 2:
        raise UnsupportedOpError(f"MatMul B must be a matrix, got shape {w.shape}", where=imp.where(node))
    if len(src) < 2:
        raise UnsupportedOpError(f"MatMul input must be at least 2-D, got {src}", where=imp.where(node))
    x = imp.plain(node.input[0])
    if len(src) == 2:
        _fc(imp, node, x, w.T, np.zeros(w.shape[1], np.float32), 1)
        return
    rows = imp.emit("Reshape", f"{node.name or node.output[0]}_rows", [x], f"{node.output[0]}_rows",
                    {"shape": (math.prod(src[:-1]), src[-1])})
    _fc(imp, node, rows, w.T, np.zeros(w.shape[1], np.float32), 1)
    flat = imp.val(node.output[0]).ir
    imp.set(node.output[0], imp.emit("Reshape", f"{node.name or node.output[0]}_unrows", [flat],
                                     f"{node.output[0]}_unrows", {"shape": tuple(src[:-1]) + (w.shape[1],)}),
            tuple(range(len(src))))


def _fc(imp, node, x, w, bias, out_axis, weight_input=1, perm=(0, 1)):
    """FullyConnected with weights w [M, K]; `out_axis`: the ONNX weight axis that holds the M outputs."""
    wn = imp.const(f"{node.output[0]}_weights", np.ascontiguousarray(w, dtype=np.float32))
    bn = imp.const(f"{node.output[0]}_bias", np.asarray(bias, np.float32))
    weight_scales(imp, node.input[weight_input], wn, out_axis, w.shape[0], node)
    imp.set(node.output[0], imp.emit("FullyConnected", node.name or node.output[0], [x, wn, bn], node.output[0],
                                     {"act": None}), perm)


def _binary(kind):
    def handler(imp, node, a):
        ia, ib, op = node.input[0], node.input[1], kind
        if ia in imp.consts and ib in imp.consts:
            ca, cb = imp.consts[ia], imp.consts[ib]
            try:
                shape = np.broadcast_shapes(ca.shape, cb.shape)
            except ValueError:
                raise ModelFormatError(f"constants of shapes {ca.shape} and {cb.shape} do not broadcast",
                                       where=imp.where(node), hint=CORRUPT) from None
            _const_result_size(imp, node, shape)
            imp.set_const(node, _fold_arith(imp, node, op, ca, cb))
            return
        if op == "Div":                               # x / c is x * (1/c); c / x has no kernel
            if ib not in imp.consts:                  # x / f(x) and c / x: a primitive (compiler/elementwise.py)
                return _emit_elementwise(imp, node, elementwise.primitive("div", 2))
            c = np.asarray(imp.consts[ib], np.float64)
            if not np.all(c):
                raise ModelFormatError("Div by a constant that holds zero", where=imp.where(node), hint=CORRUPT)
            imp.consts[f"{node.output[0]}::reciprocal"] = (1.0 / c).astype(np.float32)
            ib, op = f"{node.output[0]}::reciprocal", "Mul"
        ia, ib = _same_rank(imp, node, (ia, ib))
        var = ia if ia not in imp.consts else ib
        perm = imp.val(var).perm
        ins = []
        for i in (ia, ib):
            if i in imp.consts:
                c = imp.consts[i].astype(np.float32)
                if c.ndim > len(perm):
                    raise UnsupportedOpError(f"constant of rank {c.ndim} broadcast to rank {len(perm)}", where=imp.where(node))
                c = c.reshape((1,) * (len(perm) - c.ndim) + c.shape)
                ins.append(imp.const(f"{node.output[0]}_const", np.transpose(c, _inverse(perm))))
            elif len(imp.shape(i)) == len(perm):
                ins.append(imp.in_layout(i, perm))
            else:
                raise UnsupportedOpError("operands of different rank", where=imp.where(node))
        imp.set(node.output[0], imp.emit(op, node.name or node.output[0], ins, node.output[0], {"act": None}), perm)
    return handler


def _fold_arith(imp, node, op, a, b):
    """Add/Sub/Mul/Div of constants: integer shape arithmetic stays integer (ONNX Div truncates toward
    zero), anything else is computed in float32 as the model would."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        a, b = a.astype(np.int64), b.astype(np.int64)
        if op == "Div":
            if not np.all(b):
                raise ModelFormatError("integer Div by zero", where=imp.where(node), hint=CORRUPT)
            q = np.abs(a) // np.abs(b)
            return np.where((a < 0) != (b < 0), -q, q)
        with np.errstate(all="ignore"):
            return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](a, b)
    a, b = a.astype(np.float32), b.astype(np.float32)
    return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b).astype(np.float32)


def _scalar(imp, node, v, what):
    if v is None:
        return None
    arr = np.asarray(v)
    if arr.size != 1:
        raise ModelFormatError(f"{what} must be a scalar, got shape {arr.shape}", where=imp.where(node), hint=CORRUPT)
    return float(arr.reshape(-1)[0])


def _unary(op):
    def handler(imp, node, a):
        v = imp.val(node.input[0])
        attrs = {}
        if op == "LeakyRelu":
            attrs = {"alpha": imp.a_float(node, a, "alpha", 0.01)}
        elif op == "HardSigmoid":
            attrs = {"alpha": imp.a_float(node, a, "alpha", 0.2), "beta": imp.a_float(node, a, "beta", 0.5)}
        elif op == "Elu":
            attrs = {"alpha": imp.a_float(node, a, "alpha", 1.0)}
        elif op == "Selu":          # ONNX's defaults, the float32 values of SELU's constants
            attrs = {"alpha": imp.a_float(node, a, "alpha", 1.67326319217681884765625),
                     "gamma": imp.a_float(node, a, "gamma", 1.05070102214813232421875)}
        elif op == "Gelu":
            approx = imp.a_str(node, a, "approximate", "none")
            if approx not in ("none", "tanh"):
                raise ModelFormatError(f"Gelu approximate={shown(approx)}", where=imp.where(node),
                                       hint="ONNX Gelu's approximate is 'none' or 'tanh'")
            attrs = {"approximate": approx}
        elif op == "Clip":
            if imp.opset >= 11 and any(b and b not in imp.consts for b in node.input[1:3]):
                clip_tensor_bounds(imp, node)           # bounds computed at run time
                return
            if imp.opset >= 11:
                lo, hi = imp.const_in(node, 1, "Clip min"), imp.const_in(node, 2, "Clip max")
            else:
                lo = a.get("min") if "min" in a else None
                hi = a.get("max") if "max" in a else None
            lo, hi = _scalar(imp, node, lo, "Clip min"), _scalar(imp, node, hi, "Clip max")
            attrs = {"min": -np.inf if lo is None else lo, "max": np.inf if hi is None else hi}
        imp.set(node.output[0], imp.emit(op, node.name or node.output[0], [v.ir], node.output[0], attrs), v.perm)
    return handler


def _same_rank(imp, node, names):
    """ONNX broadcasting prepends unit axes to the operands of lower rank.  A computed operand of lower
    rank than another operand (the dynamo exporter adds a [1, 1, H] constant -- h0's folded recurrent
    term -- to a [1, H] step of an unrolled nn.RNN, then [1, 1, H] and [1, H] steps to each other) is
    reshaped to the highest rank here, so every element-wise op sees operands of one rank."""
    r = max(len(imp.shape(i)) for i in names if i)
    out = []
    for k, i in enumerate(names):
        if i and i not in imp.consts and len(imp.shape(i)) < r:
            key, s = f"{i}::rank{r}", tuple(imp.shape(i))
            if key not in imp.vals:
                imp.set(key, imp.emit("Reshape", f"{node.name or node.output[0]}_rank{r}_{k}", [imp.plain(i)],
                                      f"{i}_rank{r}", {"shape": (1,) * (r - len(s)) + s}), tuple(range(r)))
            i = key
        out.append(i)
    return out


def _emit_elementwise(imp, node, program):
    """An Elementwise node over the ONNX node's inputs (constants laid out like the computed ones), for
    passes/collapse_elementwise.py to fold into a table when the chain depends on one tensor."""
    names = _same_rank(imp, node, list(node.input))
    var = next(i for i in names if i and i not in imp.consts)
    perm = imp.val(var).perm
    ins = []
    for k, i in enumerate(names):
        if i in imp.consts:
            c = np.asarray(imp.consts[i], np.float32)
            if c.ndim > len(perm):
                raise UnsupportedOpError(f"constant of rank {c.ndim} broadcast to rank {len(perm)}", where=imp.where(node))
            c = c.reshape((1,) * (len(perm) - c.ndim) + c.shape)
            ins.append(imp.const(f"{node.output[0]}_c{k}", np.transpose(c, _inverse(perm))))
        elif len(imp.shape(i)) == len(perm):
            ins.append(imp.in_layout(i, perm))
        else:
            raise UnsupportedOpError("operands of different rank", where=imp.where(node))
    imp.set(node.output[0], imp.emit("Elementwise", node.name or node.output[0], ins, node.output[0],
                                     {"program": program}), perm)


def _primitive(fn, fold=None):
    """An element-wise op: folded when its inputs are constants (shape arithmetic keeps its integer and
    boolean types through `fold`), else an Elementwise primitive."""
    def handler(imp, node, a):
        if all(i in imp.consts for i in node.input if i):
            return _elementwise_const(fold or elementwise.FNS[fn])(imp, node, a)
        _emit_elementwise(imp, node, elementwise.primitive(fn, len(node.input)))
    return handler


def _where(imp, node, a):
    """Where whose condition is a constant that picks one branch everywhere (Keras' export of a recurrent
    layer keeps a mask step `where(t < T, h_new, h_old)` that its fixed length makes all true) is that
    branch, when it already has the output's shape; else the Where primitive."""
    cond = imp.consts.get(node.input[0])
    if cond is not None and any(i not in imp.consts for i in node.input[1:]):
        c = np.asarray(cond).astype(bool)
        pick = node.input[1] if c.all() else node.input[2] if not c.any() else None
        out = np.broadcast_shapes(*(tuple(imp.shape(i)) for i in node.input)) if pick else None
        if pick and tuple(imp.shape(pick)) == out:
            return _alias(imp, pick, node.output[0])
    return _primitive("where", np.where)(imp, node, a)


def _alias(imp, src, dst):
    if src in imp.consts:
        imp.consts[dst] = imp.consts[src]
    else:
        imp.vals[dst] = imp.val(src)


def _named_elementwise(make):
    """An ONNX activation the IR spells as a program over its one input: make(imp, node, attrs) -> program."""
    def handler(imp, node, a):
        if node.input[0] in imp.consts:
            raise UnsupportedOpError(f"{node.op_type} of a constant", where=imp.where(node),
                                     hint="fold it to an initializer (e.g. onnxsim) first")
        _emit_elementwise(imp, node, make(imp, node, a))
    return handler


def _identity(imp, node, a):
    if node.input[0] in imp.consts:
        imp.consts[node.output[0]] = imp.consts[node.input[0]]
    else:
        imp.vals[node.output[0]] = imp.val(node.input[0])
    for extra in node.output[1:]:       # Dropout's mask output: never used at inference
        pass


def _pool(op):
    def handler(imp, node, a):
        if any(d != 1 for d in imp.a_ints(node, a, "dilations", ())):
            raise UnsupportedOpError("dilated pooling", where=imp.where(node))
        x, one_d = _spatial_in(imp, node, node.input[0], len(imp.shape(node.input[0])) == 3)
        if one_d:
            a = _attrs_2d(imp, node, a)
        if "kernel_shape" not in a:
            raise ModelFormatError("the pooling node has no kernel_shape", where=imp.where(node), hint=CORRUPT)
        kernel = imp.a_ints(node, a, "kernel_shape", None, 2, 1)
        strides = imp.a_ints(node, a, "strides", (1, 1), 2, 1)
        hw = imp.tensors[x].shape[1:3]
        pads = counted = _pads2d(imp, node, a, hw, kernel, strides)
        if imp.a_int(node, a, "ceil_mode", 0):
            pads = _ceil_pads(hw, kernel, strides, pads)
        attrs = {"kernel": kernel, "strides": strides, "pads": pads, "act": None}
        if op == "AvgPool2D" and imp.a_int(node, a, "count_include_pad", 0) and any(counted):
            attrs["count_pads"] = counted      # the declared padding counts, ceil_mode's extra does not
        y = imp.emit(op, node.name or node.output[0], [x], f"{node.output[0]}_2d" if one_d else node.output[0], attrs)
        _spatial_out(imp, node, y, one_d)
    return handler


def _ceil_pads(hw, kernel, strides, pads):
    """ceil_mode=1 as extra bottom/right padding, which pooling never reads (max ignores it, the
    average excludes it from the count): PyTorch's and onnxruntime's rule, the last window starts
    inside the input or its leading padding."""
    t, l, b, r = pads
    extra = []
    for n, k, s, lo, hi in zip(hw, kernel, strides, (t, l), (b, r)):
        out = -(-(n + lo + hi - k) // s) + 1
        if (out - 1) * s >= n + lo:
            out -= 1
        extra.append(max((out - 1) * s + k - (n + lo + hi), 0))
    return (t, l, b + extra[0], r + extra[1])


def _global_pool(op):
    def handler(imp, node, a):
        x, one_d = _spatial_in(imp, node, node.input[0], len(imp.shape(node.input[0])) == 3)
        hw = imp.tensors[x].shape[1:3]
        y = imp.emit(op, node.name or node.output[0], [x], f"{node.output[0]}_2d" if one_d else node.output[0],
                     {"kernel": hw, "strides": (1, 1), "pads": (0, 0, 0, 0), "act": None})
        _spatial_out(imp, node, y, one_d)
    return handler


def _spatial_in(imp, node, onnx_name, one_d):
    """(NHWC IR tensor, one_d): a 1-D feature map [N, C, T] is [N, 1, T, C], a free reshape of its
    [N, T, C] layout, so 1-D convolution and pooling run as 2-D with H = 1."""
    if not one_d:
        return imp.feature_map(onnx_name, node), False
    if len(imp.shape(onnx_name)) != 3:
        raise UnsupportedOpError(f"a 1-D op on an input of shape {imp.shape(onnx_name)} (needs [N, C, T])",
                                 where=imp.where(node))
    x = imp.in_layout(onnx_name, (0, 2, 1))
    n, t, c = imp.tensors[x].shape
    return imp.emit("Reshape", f"{node.name or node.output[0]}_as_2d", [x], f"{x}_as_2d", {"shape": (n, 1, t, c)}), True


def _spatial_out(imp, node, y, one_d):
    if not one_d:
        imp.set(node.output[0], y, NCHW_IN_NHWC)
        return
    n, _, t, c = imp.tensors[y].shape
    imp.set(node.output[0], imp.emit("Reshape", f"{node.name or node.output[0]}_as_1d", [y], node.output[0],
                                     {"shape": (n, t, c)}), (0, 2, 1))


def _attrs_2d(imp, node, a):
    """A 1-D node's spatial attributes as the 2-D ones of H = 1."""
    out = dict(a)
    for key in ("kernel_shape", "strides", "dilations", "output_padding"):
        if key in a:
            out[key] = (1,) + imp.a_ints(node, a, key, None, 1, 0)
    if "pads" in a:
        b, e = imp.a_ints(node, a, "pads", None, 2, 0)
        out["pads"] = (0, b, 0, e)
    return out


def _batchnorm(imp, node, a):
    v = imp.val(node.input[0])
    params = [imp.const_in(node, i, "BatchNormalization parameters") for i in range(1, 5)]
    ins = [v.ir] + [imp.const(f"{node.output[0]}_{k}", p) for k, p in zip(("scale", "bias", "mean", "var"), params)]
    axis = v.perm[1] if len(v.perm) > 1 else 0
    if axis != len(v.perm) - 1:
        ins[0] = imp.in_layout(node.input[0], NCHW_IN_NHWC) if len(v.perm) == 4 else imp.plain(node.input[0])
        v = _Val(ins[0], NCHW_IN_NHWC if len(v.perm) == 4 else tuple(range(len(v.perm))))
    imp.set(node.output[0], imp.emit("BatchNorm", node.name or node.output[0], ins, node.output[0],
                                     {"epsilon": imp.a_float(node, a, "epsilon", 1e-5)}), v.perm)


def _reshape_to(imp, node, shape):
    shape = tuple(int(s) for s in shape)
    v = imp.val(node.input[0])
    kept = _layout_reshape(imp, v, imp.shape(node.input[0]), shape)
    if isinstance(kept, dict):         # one Transpose brings each run together, the rest stays in place
        v = _Val(imp.in_layout(node.input[0], kept["want"]), kept["want"])
        kept = _layout_reshape(imp, v, imp.shape(node.input[0]), shape)
    if kept is not None:               # splits/merges of axes that sit together in the IR layout: no Transpose
        ir_shape, perm = kept
        imp.set(node.output[0], imp.emit("Reshape", node.name or node.output[0], [v.ir], node.output[0],
                                         {"shape": ir_shape}), perm)
        return
    x = imp.plain(node.input[0])
    imp.set(node.output[0], imp.emit("Reshape", node.name or node.output[0], [x], node.output[0],
                                     {"shape": shape}), tuple(range(len(shape))))


def _layout_reshape(imp, v, src, target):
    """(IR shape, perm) that does the Reshape of `v` (ONNX shape `src`) to `target` in its present IR
    layout; {"want": perm} when a layout with each run of axes together is one Transpose away; None
    for a tensor already in ONNX order (the plain path).

    The ONNX axes are grouped into runs whose product matches a run of target axes (a split or a
    merge).  When each run's axes are consecutive and in order in the IR layout too, every run is
    one contiguous block of memory and reshaping it there moves nothing: e.g. a channel shuffle's
    [N, C, H, W] -> [N, g, C/g, H, W] on an NHWC tensor is [N, H, W, g, C/g], and the Reshape back
    after swapping g and C/g needs one Transpose of those two axes only.  Size-1 axes go with their
    neighbours."""
    if tuple(v.perm) == tuple(range(len(src))):
        return None
    ir_shape = imp.tensors[v.ir].shape
    nz = [j for j in range(len(src)) if src[j] != 1]
    ir_rank = {p: k for k, p in enumerate(p for p in range(len(ir_shape)) if ir_shape[p] != 1)}
    groups, i, cur_s, cur_t, ps, pt = [], 0, [], [], 1, 1
    for t, d in enumerate(target):
        cur_t.append(t)
        pt *= d
        while ps < pt and i < len(nz):
            cur_s.append(nz[i])
            ps *= src[nz[i]]
            i += 1
        if ps == pt and cur_s:
            groups.append((cur_s, cur_t))
            cur_s, cur_t, ps, pt = [], [], 1, 1
    if i != len(nz) or ps != pt or not groups:
        return None
    groups[-1][1].extend(cur_t)                               # trailing size-1 target axes
    order, together = [], True
    for srcs, tgts in groups:
        pos = [ir_rank[v.perm[j]] for j in srcs]
        together &= pos == list(range(pos[0], pos[0] + len(pos)))
        order.append((min(pos), srcs, tgts))
    order.sort()
    if not together and len(groups) == 1:
        return None                    # everything moves: the plain path (a flatten fold_transpose_fc removes)
    if not together:
        axes = [j for _, srcs, _ in order for j in srcs] + [j for j in range(len(src)) if src[j] == 1]
        return {"want": tuple(axes.index(j) for j in range(len(src)))}
    new_shape, perm = [], [0] * len(target)
    for _, _, tgts in order:
        for t in tgts:
            perm[t] = len(new_shape)
            new_shape.append(target[t])
    return tuple(new_shape), tuple(perm)


def _const_reshape(imp, node, out):
    """Reshape of a constant: checked like the IR Reshape before numpy sees it."""
    c = imp.consts[node.input[0]]
    if any(d < 0 for d in out) or math.prod(out) != c.size:
        raise ModelFormatError(f"cannot reshape a constant of shape {c.shape} to {tuple(out)}", where=imp.where(node),
                               hint=CORRUPT)
    imp.set_const(node, c.reshape(out))


def _reshape(imp, node, a):
    target = [int(s) for s in np.asarray(imp.const_in(node, 1, "Reshape shape")).reshape(-1)]
    src = imp.shape(node.input[0])
    allowzero = imp.a_int(node, a, "allowzero", 0)
    if (not allowzero and any(s == 0 and i >= len(src) for i, s in enumerate(target))) or target.count(-1) > 1 \
            or any(s < -1 for s in target):
        raise ModelFormatError(f"Reshape to {target} of a tensor of shape {src}", where=imp.where(node), hint=CORRUPT)
    out = [src[i] if s == 0 and not allowzero else s for i, s in enumerate(target)]
    if -1 in out:
        known = math.prod(s for s in out if s != -1)
        out[out.index(-1)] = math.prod(src) // max(known, 1)
    if node.input[0] in imp.consts:
        _const_reshape(imp, node, out)
        return
    _reshape_to(imp, node, out)


def _flatten(imp, node, a):
    src = imp.shape(node.input[0])
    axis = imp.a_int(node, a, "axis", 1)
    if not -len(src) <= axis <= len(src):
        raise ModelFormatError(f"Flatten axis {axis} of a rank-{len(src)} tensor", where=imp.where(node), hint=CORRUPT)
    axis %= len(src) + 1
    out = (math.prod(src[:axis]), math.prod(src[axis:]))
    if node.input[0] in imp.consts:
        _const_reshape(imp, node, out)
        return
    _reshape_to(imp, node, out)


def _axes(imp, node, a, rank):
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = imp.const_in(node, 1, "axes")
    if axes is None:
        return None
    try:
        axes = [int(x) for x in np.asarray(axes).reshape(-1)]
    except (TypeError, ValueError):
        raise ModelFormatError(f"axes {_show(axes)} are not integers", where=imp.where(node), hint=CORRUPT) from None
    if any(not -rank <= x < rank for x in axes) or len({x % rank for x in axes}) != len(axes):
        raise ModelFormatError(f"axes {axes} for a rank-{rank} result", where=imp.where(node), hint=CORRUPT)
    return [x % rank for x in axes]


def _squeeze(imp, node, a):
    src = imp.shape(node.input[0])
    axes = _axes(imp, node, a, len(src)) if src else None
    axes = [i for i, d in enumerate(src) if d == 1] if axes is None else axes
    if any(src[x] != 1 for x in axes):
        raise ModelFormatError(f"Squeeze of axes {axes} of shape {src}: only size-1 axes can be removed",
                               where=imp.where(node), hint=CORRUPT)
    out = [d for i, d in enumerate(src) if i not in axes]
    if node.input[0] in imp.consts:
        _const_reshape(imp, node, out)
        return
    _reshape_to(imp, node, out)


def _unsqueeze(imp, node, a):
    src = list(imp.shape(node.input[0]))
    n = len(a.get("axes") or []) or (imp.const_in(node, 1, "axes").size if len(node.input) > 1 and node.input[1] else 0)
    if not n:
        raise ModelFormatError("Unsqueeze without axes", where=imp.where(node), hint=CORRUPT)
    for ax in sorted(_axes(imp, node, a, len(src) + n)):
        src.insert(ax, 1)
    if node.input[0] in imp.consts:
        _const_reshape(imp, node, src)
        return
    _reshape_to(imp, node, src)


def _perm(imp, node, a, rank):
    p = imp.a_ints(node, a, "perm", list(reversed(range(rank))))
    if sorted(p) != list(range(rank)):
        raise ModelFormatError(f"perm {list(p)} is not a permutation of the {rank} axes", where=imp.where(node),
                               hint=CORRUPT)
    return p


def _transpose(imp, node, a):
    if node.input[0] in imp.consts:
        c = imp.consts[node.input[0]]
        imp.set_const(node, np.transpose(c, _perm(imp, node, a, c.ndim)))
        return
    v = imp.val(node.input[0])
    p = _perm(imp, node, a, len(v.perm))
    imp.set(node.output[0], v.ir, tuple(v.perm[i] for i in p))


def _pad(imp, node, a):
    mode = imp.a_str(node, a, "mode", "constant")
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise UnsupportedOpError(f"Pad mode {shown(mode)}", where=imp.where(node),
                                 hint="constant, edge, reflect and wrap padding are supported")
    pads = imp.const_in(node, 1, "Pad pads") if imp.opset >= 11 else imp.a_ints(node, a, "pads", None)
    value = imp.const_in(node, 2, "Pad value") if imp.opset >= 11 else imp.a_float(node, a, "value", 0.0)
    value = float(np.asarray(value).reshape(-1)[0]) if mode == "constant" and value is not None and \
        np.asarray(value).size else 0.0
    if np.isnan(value):
        raise UnsupportedOpError("Pad with a NaN value", where=imp.where(node))
    if len(node.input) > 3 and node.input[3]:
        raise UnsupportedOpError("Pad with axes", where=imp.where(node))
    v = imp.val(node.input[0])
    r = len(v.perm)
    if pads is None:
        raise ModelFormatError("Pad without pads", where=imp.where(node), hint=CORRUPT)
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    if len(pads) != 2 * r:
        raise ModelFormatError(f"{len(pads)} pads for a rank-{r} tensor (needs {2 * r})", where=imp.where(node),
                               hint=CORRUPT)
    if min(pads, default=0) < 0:
        raise UnsupportedOpError("negative pads", where=imp.where(node))
    ir_pads = [0] * (2 * r)
    for j in range(r):
        ir_pads[v.perm[j]], ir_pads[v.perm[j] + r] = pads[j], pads[j + r]
    if mode == "wrap":
        imp.set(node.output[0], _wrap_pad(imp, node, v.ir, ir_pads), v.perm)
        return
    # edge padding (Keras 3 on PyTorch pads "same" pools that way) folds into the max pool it feeds
    # (passes.fold_pad); reflect padding (ReflectionPad2d, F.pad mode="reflect") runs as a Pad of its own
    attrs = {"pads": tuple(ir_pads)} if mode == "constant" else {"pads": tuple(ir_pads), "mode": mode}
    if value != 0.0:                    # F.pad(..., value=c): quantized in the Pad's scale (ops/layout.py)
        attrs["value"] = value
    imp.set(node.output[0], imp.emit("Pad", node.name or node.output[0], [v.ir], node.output[0], attrs), v.perm)


def _wrap_pad(imp, node, x: str, pads: list) -> str:
    """Circular padding (Pad mode "wrap": torch's padding_mode="circular" from the dynamo exporter) as what
    the TorchScript exporter writes for it: per padded axis, Concat(the last `before` rows, x, the first
    `after` rows).  Exact copies, so no kernel of its own."""
    name = node.name or node.output[0]
    r = len(pads) // 2
    for axis in range(r):
        before, after = pads[axis], pads[axis + r]
        if not before and not after:
            continue
        shape = imp.tensors[x].shape
        if max(before, after) > shape[axis]:
            raise UnsupportedOpError(f"wrap padding of {max(before, after)} on an axis of {shape[axis]}",
                                     where=imp.where(node), hint="circular padding takes at most the axis' size")

        def part(lo, hi, tag):
            begin, end = [0] * r, list(shape)
            begin[axis], end[axis] = lo, hi
            return imp.emit("Slice", f"{name}_{tag}{axis}", [x], None, {"begin": tuple(begin), "end": tuple(end)})
        parts = ([part(shape[axis] - before, shape[axis], "tail")] if before else []) + [x] + \
            ([part(0, after, "head")] if after else [])
        x = imp.emit("Concat", f"{name}_wrap{axis}", parts, None, {"axis": axis})
    return x


def _concat(imp, node, a):
    if "axis" not in a:
        raise ModelFormatError("Concat without axis", where=imp.where(node), hint=CORRUPT)
    axis = imp.a_int(node, a, "axis", 0)
    ranks = {len(imp.shape(i)) for i in node.input}
    if len(ranks) != 1 or not -min(ranks) <= axis < min(ranks):
        raise ModelFormatError(f"Concat along axis {axis} of tensors of ranks {sorted(ranks)}", where=imp.where(node),
                               hint=CORRUPT)
    variable = [i for i in node.input if i not in imp.consts]
    if not variable:                                  # all constant: fold
        parts = [imp.consts[i] for i in node.input]
        total = list(parts[0].shape)
        total[axis] = sum(p.shape[axis] for p in parts)
        _const_result_size(imp, node, total)
        imp.set_const(node, np.concatenate(parts, axis=axis))
        return
    perm = imp.val(variable[0]).perm
    ins = []
    for i in node.input:
        if i in imp.consts:
            ins.append(imp.const(f"{node.output[0]}_part", np.transpose(imp.consts[i], _inverse(perm))))
        else:
            ins.append(imp.in_layout(i, perm))
    axis = perm[axis % len(perm)]
    imp.set(node.output[0], imp.emit("Concat", node.name or node.output[0], ins, node.output[0], {"axis": axis}), perm)


def _softmax(imp, node, a, op="Softmax"):
    r = len(imp.shape(node.input[0]))
    axis = imp.a_int(node, a, "axis", -1 if imp.opset >= 13 else 1)
    if not r or not -r <= axis < r:
        raise ModelFormatError(f"{op} axis {axis} of a rank-{r} tensor", where=imp.where(node), hint=CORRUPT)
    axis %= r
    v = imp.val(node.input[0])
    x = v.ir if v.perm[axis] == r - 1 else None
    perm = v.perm
    if x is None:            # the IR's Softmax runs over the last axis: lay the tensor out with `axis` last
        order = [j for j in range(r) if j != axis] + [axis]          # ONNX axis held by each IR axis
        perm = tuple(order.index(j) for j in range(r))
        x = imp.in_layout(node.input[0], perm)
    imp.set(node.output[0], imp.emit(op, node.name or node.output[0], [x], node.output[0]), perm)


def _constant(imp, node, a):
    if "value" in a and isinstance(a["value"], imp.onnx.TensorProto):
        imp.consts[node.output[0]] = tensor_to_array(a["value"], os.path.basename(imp.path))
        return
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in a:
            v = a[key]
            if (isinstance(v, (list, tuple)) and not all(isinstance(x, (int, float)) for x in v)) or \
                    (not isinstance(v, (list, tuple, int, float))) or isinstance(v, bool):
                raise ModelFormatError(f"Constant {key}={_show(v)}", where=imp.where(node), hint=CORRUPT)
            _const_result_size(imp, node, (len(v),) if isinstance(v, (list, tuple)) else ())
            imp.consts[node.output[0]] = np.asarray(v, dtype)
            return
    raise UnsupportedOpError("Constant without a tensor or number value", where=imp.where(node))


# -- shape computations -----------------------------------------------------------------------------
# Exporters compute Reshape targets, Expand shapes and the like from the input's shape at run time
# (Shape -> Gather -> Unsqueeze -> Concat -> Reshape).  Once the input shape is fixed every such value
# is a constant: these ops fold on constants (Shape on any tensor) and are refused on activations.
def _consts_of(imp, node, *optional):
    """The inputs of a folding op as constants ('' -> None); a computed input is refused."""
    out = []
    for i, name in enumerate(node.input):
        if not name:
            out.append(None)
        elif name in imp.consts:
            out.append(np.asarray(imp.consts[name]))
        else:
            raise UnsupportedOpError(f"{node.op_type} of a computed tensor", where=imp.where(node),
                                     hint=f"edgec folds {node.op_type} on shapes and constants only")
    return out + [None] * (len(optional) - len(out))


def _shape(imp, node, a):
    dims = imp.shape(node.input[0])
    r = len(dims)
    start, end = imp.a_int(node, a, "start", 0), imp.a_int(node, a, "end", r)
    clip = lambda v: min(max(v + r if v < 0 else v, 0), r)
    imp.set_const(node, np.array(dims[clip(start):clip(end)], np.int64))


def _size(imp, node, a):
    imp.set_const(node, np.array(math.prod(imp.shape(node.input[0])), np.int64))


def _gather(imp, node, a):
    if gather_step(imp, node, a):           # one step of a computed tensor (onnx_lstm.gather_step)
        return
    data, idx = _consts_of(imp, node)
    axis = imp.a_int(node, a, "axis", 0)
    if not -data.ndim <= axis < max(data.ndim, 1) or idx.dtype.kind not in "iu":
        raise ModelFormatError(f"Gather of axis {axis} of shape {data.shape} by {idx.dtype} indices",
                               where=imp.where(node), hint=CORRUPT)
    axis %= data.ndim
    n = data.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ModelFormatError(f"Gather indices {_show(idx.tolist())} out of range for {n} entries",
                               where=imp.where(node), hint=CORRUPT)
    _const_result_size(imp, node, data.shape[:axis] + idx.shape + data.shape[axis + 1:])
    imp.set_const(node, np.take(data, np.where(idx < 0, idx + n, idx), axis=axis))


def _slice(imp, node, a):
    if node.input[0] not in imp.consts:
        _slice_activation(imp, node, a)
        return
    if imp.opset >= 10:
        data, starts, ends, axes, steps = _consts_of(imp, node, 0, 1, 2, 3, 4)
        if starts is None or ends is None:
            raise ModelFormatError("Slice without starts or ends", where=imp.where(node), hint=CORRUPT)
    else:
        (data,) = _consts_of(imp, node)
        starts, ends = np.array(imp.a_ints(node, a, "starts", [])), np.array(imp.a_ints(node, a, "ends", []))
        axes, steps = a.get("axes"), None
    starts, ends = [int(v) for v in starts.reshape(-1)], [int(v) for v in ends.reshape(-1)]
    axes = list(range(len(starts))) if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in steps.reshape(-1)]
    if not len(starts) == len(ends) == len(axes) == len(steps) or any(st == 0 for st in steps) or \
            any(not -data.ndim <= ax < data.ndim for ax in axes) or len({ax % data.ndim for ax in axes}) != len(axes):
        raise ModelFormatError(f"Slice starts {starts}, ends {ends}, axes {axes}, steps {steps} of shape {data.shape}",
                               where=imp.where(node), hint=CORRUPT)
    index = [slice(None)] * data.ndim
    for st, en, ax, step in zip(starts, ends, axes, steps):
        index[ax % data.ndim] = slice(st, en, step)
    imp.set_const(node, data[tuple(index)].copy())


def _is_index(imp, onnx_name) -> bool:
    """The value is an ArgMax / ArgMin index (a whole number: a Cast to another integer type keeps it;
    Keras's ONNX export casts ops.argmax's int64 to int32)."""
    ir = imp.val(onnx_name).ir
    return any(n.op in ("ArgMax", "ArgMin", "TopKIndices") and ir in n.outputs for n in imp.nodes)


def _cast(imp, node, a):
    to = imp.a_int(node, a, "to", 1)
    if to not in CONST_TYPES:
        raise UnsupportedOpError(f"Cast to {_type_name(to)}", where=imp.where(node))
    if node.input[0] not in imp.consts:
        if to in (imp.onnx.TensorProto.FLOAT, imp.onnx.TensorProto.DOUBLE, imp.onnx.TensorProto.FLOAT16) or (
                to != imp.onnx.TensorProto.BOOL and _is_index(imp, node.input[0])):
            imp.vals[node.output[0]] = imp.val(node.input[0])    # activations are float (an index is whole): no op
        else:                                     # to an integer (truncates) or bool (nonzero): a primitive
            _emit_elementwise(imp, node, elementwise.primitive("nonzero" if to == imp.onnx.TensorProto.BOOL else "trunc", 1))
        return
    (x,) = _consts_of(imp, node)
    with np.errstate(all="ignore"):
        imp.set_const(node, x.astype(CONST_TYPES[to]))


def _range(imp, node, a):
    start, limit, delta = (_one(imp, node, v, w) for v, w in zip(_consts_of(imp, node), ("start", "limit", "delta")))
    if delta == 0:
        raise ModelFormatError("Range with delta 0", where=imp.where(node), hint=CORRUPT)
    n = max(int(math.ceil((limit - start) / delta)), 0)
    _const_result_size(imp, node, (n,))
    dtype = np.asarray(imp.consts[node.input[0]]).dtype
    imp.set_const(node, (start + delta * np.arange(n)).astype(dtype))


def _one(imp, node, v, what):
    if v.size != 1 or not np.isfinite(v.astype(np.float64)).all():
        raise ModelFormatError(f"{node.op_type} {what} must be one finite number, got shape {v.shape}",
                               where=imp.where(node), hint=CORRUPT)
    return v.reshape(-1)[0].item()


def _elementwise_const(fn):
    def handler(imp, node, a):
        vals = _consts_of(imp, node)
        try:
            shape = np.broadcast_shapes(*(v.shape for v in vals))
        except ValueError:
            raise ModelFormatError(f"{node.op_type} of shapes {[v.shape for v in vals]} that do not broadcast",
                                   where=imp.where(node), hint=CORRUPT) from None
        _const_result_size(imp, node, shape)
        with np.errstate(all="ignore"):
            imp.set_const(node, np.asarray(fn(*vals)))
    return handler


def _constant_of_shape(imp, node, a):
    (shape,) = _consts_of(imp, node)
    dims = [int(d) for d in shape.reshape(-1)]
    if any(d < 0 for d in dims):
        raise ModelFormatError(f"ConstantOfShape of shape {dims}", where=imp.where(node), hint=CORRUPT)
    value = a.get("value")
    v = tensor_to_array(value, os.path.basename(imp.path)) if isinstance(value, imp.onnx.TensorProto) else np.zeros(1, np.float32)
    if v.size != 1:
        raise ModelFormatError(f"ConstantOfShape value of shape {v.shape} (one element)", where=imp.where(node),
                               hint=CORRUPT)
    _const_result_size(imp, node, dims)
    imp.set_const(node, np.full(dims, v.reshape(-1)[0], v.dtype))


def _expand(imp, node, a):
    if node.input[0] not in imp.consts:
        _expand_activation(imp, node)
        return
    x, shape = _consts_of(imp, node)
    dims = [int(d) for d in shape.reshape(-1)]
    try:
        out = np.broadcast_shapes(x.shape, tuple(dims))
    except ValueError:
        raise ModelFormatError(f"Expand of shape {x.shape} to {dims}", where=imp.where(node), hint=CORRUPT) from None
    _const_result_size(imp, node, out)
    imp.set_const(node, np.broadcast_to(x, out).copy())


# -- data movement and resampling on activations ---------------------------------------------------
def _slice_box(imp, node, onnx_name, begin, end):
    """IR Slice of the box [begin, end) given in ONNX axis order; the result keeps the input's layout."""
    v = imp.val(onnx_name)
    shape = imp.shape(onnx_name)
    if list(begin) == [0] * len(shape) and list(end) == list(shape):
        return v
    b, e = [0] * len(shape), list(imp.tensors[v.ir].shape)
    for j, p in enumerate(v.perm):
        b[p], e[p] = begin[j], end[j]
    return _Val(imp.emit("Slice", node.name or node.output[0], [v.ir], None, {"begin": tuple(b), "end": tuple(e)}), v.perm)


def _slice_activation(imp, node, a):
    """Slice of a computed tensor (a chunk, a channel range, a crop) along any axes, in the tensor's
    IR layout: no transpose is added for it.  Steps other than 1 (negative too: a flip) on H and W,
    e.g. YOLOv5's Focus x[..., ::2, ::2], read through the Resize op's "strided" taps."""
    shape = imp.shape(node.input[0])
    r = len(shape)
    if imp.opset >= 10:
        starts, ends, axes, steps = (imp.const_in(node, i, f"Slice {w}") for i, w in
                                     ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")))
    else:
        starts, ends = imp.a_ints(node, a, "starts", None), imp.a_ints(node, a, "ends", None)
        axes, steps = a.get("axes"), None
    if starts is None or ends is None:
        raise ModelFormatError("Slice without starts or ends", where=imp.where(node), hint=CORRUPT)
    starts, ends = [int(v) for v in np.asarray(starts).reshape(-1)], [int(v) for v in np.asarray(ends).reshape(-1)]
    axes = list(range(len(starts))) if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.asarray(steps).reshape(-1)]
    if not len(starts) == len(ends) == len(axes) == len(steps) or any(not -r <= ax < r for ax in axes) or \
            len({ax % r for ax in axes}) != len(axes) or 0 in steps:
        raise ModelFormatError(f"Slice starts {starts}, ends {ends}, axes {axes}, steps {steps} of shape {shape}",
                               where=imp.where(node), hint=CORRUPT)
    begin, end = [0] * r, list(shape)
    stepped = {}                                      # H/W axes read with a step: Resize "strided" taps
    if any(step != 1 and (r != 4 or ax % r not in (2, 3)) for ax, step in zip(axes, steps)):
        return _strided_slice_activation(imp, node, shape, starts, ends, axes, steps)
    for st, en, ax, step in zip(starts, ends, axes, steps):
        ax %= r
        d = shape[ax]
        if step != 1:
            lo, hi = (0, d) if step > 0 else (-1, d - 1)
            st, en = (min(max(x + d if x < 0 else x, lo), hi) for x in (st, en))
            count = len(range(st, en, step))
            if not count:
                raise UnsupportedOpError(f"Slice [{st}, {en}) step {step} of axis {ax} is empty", where=imp.where(node))
            stepped[ax] = (st, step, count)
            continue
        st, en = (min(max(x + d if x < 0 else x, 0), d) for x in (st, en))
        if en <= st:
            raise UnsupportedOpError(f"Slice [{st}, {en}) of axis {ax} is empty", where=imp.where(node))
        begin[ax], end[ax] = st, en
    if not stepped:
        imp.vals[node.output[0]] = _slice_box(imp, node, node.input[0], begin, end)
        return
    boxed = f"{node.output[0]}::box"
    imp.vals[boxed] = _slice_box(imp, node, node.input[0], begin, end)
    x = imp.feature_map(boxed, node)
    _, h, w, _ = imp.tensors[x].shape
    (oy, sy, ny), (ox, sx, nx) = stepped.get(2, (0, 1, h)), stepped.get(3, (0, 1, w))
    imp.set(node.output[0], imp.emit("Resize", f"{node.name or node.output[0]}_strided", [x], node.output[0],
                                     {"size": (ny, nx), "mode": "strided", "scale": (sy, sx), "offset": (oy, ox)}),
            NCHW_IN_NHWC)


def _strided_slice_activation(imp, node, shape, starts, ends, axes, steps):
    """Slice of a computed tensor with a step other than 1 on an axis other than an NCHW map's H and W
    (e.g. x[:, ::-1], the time reversal Keras' Bidirectional exports): the StridedSlice op (a copy that
    reads every step-th element, backwards for a negative step) in the tensor's IR layout."""
    r = len(shape)
    if r > 4:
        raise UnsupportedOpError(f"Slice with steps {steps} of a rank-{r} computed tensor", where=imp.where(node),
                                 hint="steps other than 1 are supported on tensors of rank 4 or less")
    v = imp.val(node.input[0])
    irs = imp.tensors[v.ir].shape
    begin, step_, count = [0] * r, [1] * r, list(irs)
    for st, en, ax, step in zip(starts, ends, axes, steps):
        ax %= r
        d = shape[ax]
        lo, hi = (0, d) if step > 0 else (-1, d - 1)
        st, en = (min(max(x + d if x < 0 else x, lo), hi) for x in (st, en))
        n = len(range(st, en, step))
        if not n:
            raise UnsupportedOpError(f"Slice [{st}, {en}) step {step} of axis {ax} is empty", where=imp.where(node))
        begin[v.perm[ax]], step_[v.perm[ax]], count[v.perm[ax]] = st, step, n
    imp.vals[node.output[0]] = _Val(imp.emit("StridedSlice", node.name or node.output[0], [v.ir], None,
                                             {"begin": tuple(begin), "step": tuple(step_), "count": tuple(count)}), v.perm)


def _split(imp, node, a):
    """Split (opset 13+: sizes as an input; 18+: num_outputs; before 13: the split attribute) as one
    Slice per output."""
    shape = imp.shape(node.input[0])
    r = len(shape)
    axis = imp.a_int(node, a, "axis", 0)
    if not -r <= axis < r:
        raise ModelFormatError(f"Split axis {axis} of a rank-{r} tensor", where=imp.where(node), hint=CORRUPT)
    axis %= r
    d, n = shape[axis], len(node.output)
    given = imp.const_in(node, 1, "Split sizes") if len(node.input) > 1 and node.input[1] else a.get("split")
    if given is not None:
        sizes = [int(v) for v in np.asarray(given).reshape(-1)]
    else:
        k = imp.a_int(node, a, "num_outputs", n)
        chunk = -(-d // max(k, 1))
        sizes = [min(chunk, d - i * chunk) for i in range(k)]
    if len(sizes) != n or sum(sizes) != d or min(sizes, default=0) < 1:
        raise ModelFormatError(f"Split of {d} into {sizes} for {n} outputs", where=imp.where(node), hint=CORRUPT)
    if node.input[0] in imp.consts:
        for out, part in zip(node.output, np.split(imp.consts[node.input[0]], np.cumsum(sizes)[:-1], axis=axis)):
            imp.consts[out] = part
        return
    offset = 0
    for out, size in zip(node.output, sizes):
        begin, end = [0] * r, list(shape)
        begin[axis], end[axis] = offset, offset + size
        offset += size
        v = imp.val(node.input[0])
        b, e = [0] * r, list(imp.tensors[v.ir].shape)
        b[v.perm[axis]], e[v.perm[axis]] = begin[axis], end[axis]
        imp.set(out, imp.emit("Slice", f"{node.name or node.output[0]}_{out}", [v.ir], out,
                              {"begin": tuple(b), "end": tuple(e)}), v.perm)


def _expand_activation(imp, node):
    """Expand (broadcast) of a computed tensor, as exporters write a nearest repeat (Keras's
    UpSampling2D: Unsqueeze -> Expand -> Reshape): each size-1 axis that grows to n becomes a Concat
    of n copies in the tensor's layout (copies of one scale: no requantization, exact)."""
    src = imp.shape(node.input[0])
    target = [int(d) for d in np.asarray(imp.const_in(node, 1, "Expand shape")).reshape(-1)]
    try:
        out = np.broadcast_shapes(tuple(src), tuple(target))
    except ValueError:
        raise ModelFormatError(f"Expand of shape {src} to {target}", where=imp.where(node), hint=CORRUPT) from None
    if len(out) != len(src):
        raise UnsupportedOpError(f"Expand of a computed tensor of rank {len(src)} to rank {len(out)}",
                                 where=imp.where(node), hint="only size-1 axes of the same rank can be expanded")
    check_shape(out, f"the Expand output {shown(node.output[0])}", imp.where(node))
    v = imp.val(node.input[0])
    for ax, (d, n) in enumerate(zip(src, out)):
        if d != n:
            v = _Val(imp.emit("Concat", f"{node.name or node.output[0]}_axis{ax}", [v.ir] * n, None,
                              {"axis": v.perm[ax]}), v.perm)
    imp.vals[node.output[0]] = v


def _resize(imp, node, a):
    """Resize (opset 10+) and Upsample (7-9) of an NCHW map over H and W: nearest in every rounding
    and coordinate mode, linear (bilinear).  Integer-factor asymmetric-floor nearest is Upsample (a
    copy loop); everything else the table-driven Resize op (compiler/resize.py)."""
    shape = imp.shape(node.input[0])
    if len(shape) != 4:
        raise UnsupportedOpError(f"{node.op_type} of a rank-{len(shape)} tensor", where=imp.where(node),
                                 hint="only 2-D (NCHW) resizing is supported")
    mode = imp.a_str(node, a, "mode", "nearest")
    if node.op_type == "Upsample" or imp.opset < 11:
        coord, nearest = "asymmetric", "floor"
        scales = imp.const_in(node, 1, "scales") if len(node.input) > 1 else a.get("scales")
        sizes = None
    else:
        coord = imp.a_str(node, a, "coordinate_transformation_mode", "half_pixel")
        nearest = imp.a_str(node, a, "nearest_mode", "round_prefer_floor")
        scales = imp.const_in(node, 2, "scales") if len(node.input) > 2 and node.input[2] else None
        sizes = imp.const_in(node, 3, "sizes") if len(node.input) > 3 and node.input[3] else None
        if imp.a_int(node, a, "antialias", 0):
            raise UnsupportedOpError("Resize with antialias=1", where=imp.where(node))
        if "axes" in a or imp.a_str(node, a, "keep_aspect_ratio_policy", "stretch") != "stretch":
            raise UnsupportedOpError("Resize with axes or keep_aspect_ratio_policy", where=imp.where(node))
    mode = {"bilinear": "linear"}.get(mode, mode)
    bad = [f"mode {mode}"] if mode not in ("nearest", "linear") else []
    bad += [f"coordinate_transformation_mode {coord}"] if coord not in resize.COORD_MODES else []
    bad += [f"nearest_mode {nearest}"] if mode == "nearest" and nearest not in resize.NEAREST_MODES else []
    if bad:
        raise UnsupportedOpError(f"{node.op_type} with {', '.join(bad)}", where=imp.where(node),
                                 hint="supported: nearest and linear, coordinate modes " + ", ".join(resize.COORD_MODES))
    n, c, h, w = shape
    if sizes is not None and np.asarray(sizes).size:
        dims = [int(v) for v in np.asarray(sizes).reshape(-1)]
        if len(dims) != 4 or dims[:2] != [n, c] or min(dims) < 1:
            raise UnsupportedOpError(f"{node.op_type} to sizes {dims} of shape {shape}", where=imp.where(node),
                                     hint="only H and W can be resized")
        oh, ow = dims[2], dims[3]
        sh, sw = oh / h, ow / w
    else:
        if scales is None or np.asarray(scales).size != 4:
            raise ModelFormatError(f"{node.op_type} without 4 scales or sizes", where=imp.where(node), hint=CORRUPT)
        sc = [float(v) for v in np.asarray(scales).reshape(-1)]
        if sc[:2] != [1.0, 1.0] or min(sc[2:]) <= 0 or not all(math.isfinite(v) for v in sc):
            raise UnsupportedOpError(f"{node.op_type} with scales {sc}", where=imp.where(node),
                                     hint="only H and W can be resized, by positive scales")
        sh, sw = sc[2], sc[3]
        oh, ow = int(math.floor(h * sh)), int(math.floor(w * sw))
    check_shape((n, oh, ow, c), f"the {node.op_type} output", imp.where(node))
    x = imp.feature_map(node.input[0], node)
    attrs = {"size": (oh, ow), "mode": mode, "coord": coord, "nearest": nearest, "scale": (sh, sw)}
    fh, fw = oh // h, ow // w
    probe = [resize.axis_taps(h, oh, sh, mode, coord, nearest), resize.axis_taps(w, ow, sw, mode, coord, nearest)]
    if mode == "nearest" and fh * h == oh and fw * w == ow and \
            all((t[0] == np.arange(len(t[0])) // f).all() for t, f in zip(probe, (fh, fw))):
        y = imp.emit("Upsample", node.name or node.output[0], [x], node.output[0], {"scale": (fh, fw)})
    else:
        y = imp.emit("Resize", node.name or node.output[0], [x], node.output[0], attrs)
    imp.set(node.output[0], y, NCHW_IN_NHWC)


def _depth_to_space(imp, node, a):
    """DepthToSpace of an NCHW map (the IR op, compiler/ops/depth_to_space.py)."""
    if len(imp.shape(node.input[0])) != 4:
        raise UnsupportedOpError(f"DepthToSpace of a rank-{len(imp.shape(node.input[0]))} tensor", where=imp.where(node))
    attrs = {"block": imp.a_int(node, a, "blocksize", 0), "mode": imp.a_str(node, a, "mode", "DCR")}
    y = imp.emit("DepthToSpace", node.name or node.output[0], [imp.feature_map(node.input[0], node)], node.output[0], attrs)
    imp.set(node.output[0], y, NCHW_IN_NHWC)


def _conv_transpose(imp, node, a):
    """ConvTranspose as zero insertion (the Resize op's "zeros" taps: input pixel (i, j) at (s*i, s*j),
    real zero between) followed by a stride-1 Conv2D with the flipped, transposed kernel and padding
    d*(k-1) - pad (+ output_padding at the end); padding larger than that is cropped by a Slice."""
    w = imp.const_in(node, 1, "ConvTranspose weights")
    if w.ndim not in (3, 4):
        raise UnsupportedOpError(f"only 1-D and 2-D ConvTranspose is supported (weights {w.shape})",
                                 where=imp.where(node))
    x, one_d = _spatial_in(imp, node, node.input[0], w.ndim == 3)
    if one_d:
        w, a = w[:, :, None, :], _attrs_2d(imp, node, a)
    if imp.a_str(node, a, "auto_pad", "NOTSET") not in ("NOTSET", "") or "output_shape" in a:
        raise UnsupportedOpError("ConvTranspose with auto_pad or output_shape", where=imp.where(node),
                                 hint="export with explicit pads and output_padding")
    groups = imp.a_int(node, a, "group", 1)
    cin, cout_g, kh, kw = w.shape
    n, h, wd, c = imp.tensors[x].shape
    if groups < 1 or cin != c or cin % groups:
        raise ModelFormatError(f"ConvTranspose weights {w.shape} for {c} input channels in {groups} groups",
                               where=imp.where(node), hint=CORRUPT)
    kernel = imp.a_ints(node, a, "kernel_shape", [kh, kw], 2, 1)
    if kernel != (kh, kw):
        raise ModelFormatError(f"kernel_shape {kernel} does not match the weights {w.shape}", where=imp.where(node),
                               hint=CORRUPT)
    s = imp.a_ints(node, a, "strides", (1, 1), 2, 1)
    d = imp.a_ints(node, a, "dilations", (1, 1), 2, 1)
    pt, pl, pb, pr = imp.a_ints(node, a, "pads", (0, 0, 0, 0), 4, 0)
    op = imp.a_ints(node, a, "output_padding", (0, 0), 2, 0)
    b = imp.const_in(node, 2, "ConvTranspose bias")
    y = conv_transpose(imp, node.name or node.output[0], x, w, b, s, (pt, pl, pb, pr), op, d, groups,
                       f"{node.output[0]}_2d" if one_d else node.output[0])
    _spatial_out(imp, node, y, one_d)


HANDLERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _matmul,
    "Add": _binary("Add"), "Sub": _binary("Sub"), "Mul": _binary("Mul"),
    "Relu": _unary("Relu"), "Clip": _unary("Clip"), "LeakyRelu": _unary("LeakyRelu"),
    "Sigmoid": _unary("Sigmoid"), "Tanh": _unary("Tanh"),
    **{op: _unary(op) for op in ("HardSigmoid", "HardSwish", "Mish", "Elu", "Selu", "Softplus", "Softsign", "Exp",
                                 "Erf", "Gelu")},
    "MaxPool": _pool("MaxPool2D"), "AveragePool": _pool("AvgPool2D"),
    "GlobalAveragePool": _global_pool("AvgPool2D"), "GlobalMaxPool": _global_pool("MaxPool2D"),
    "BatchNormalization": _batchnorm,
    "Reshape": _reshape, "Flatten": _flatten, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Transpose": _transpose, "Pad": _pad, "Concat": _concat, "Softmax": _softmax,
    "LogSoftmax": lambda imp, node, a: _softmax(imp, node, a, "LogSoftmax"),
    "Identity": _identity, "Dropout": _identity, "Constant": _constant, "Div": _binary("Div"),
    "Shape": _shape, "Size": _size, "Gather": _gather, "Slice": _slice, "Cast": _cast, "Range": _range,
    "ConstantOfShape": _constant_of_shape, "Expand": _expand,
    "Floor": _primitive("floor", np.floor), "Ceil": _primitive("ceil", np.ceil), "Neg": _primitive("neg", np.negative),
    "Equal": _primitive("equal", np.equal), "Less": _primitive("less", np.less), "Greater": _primitive("greater", np.greater),
    "Not": _primitive("not", np.logical_not), "Where": _where,
    "LessOrEqual": _primitive("less_equal", np.less_equal), "GreaterOrEqual": _primitive("greater_equal", np.greater_equal),
    "And": _primitive("and", np.logical_and), "Or": _primitive("or", np.logical_or), "Xor": _primitive("xor", np.logical_xor),
    **{op: _primitive(op.lower()) for op in ("Abs", "Log", "Sqrt", "Reciprocal", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
                                             "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Round", "Sign")},
    "Pow": _primitive("pow", lambda a, b: np.power(a, b) if a.dtype.kind == "f" else np.power(a.astype(np.float64), b).astype(a.dtype)),
    "Celu": _named_elementwise(lambda imp, node, a: elementwise.celu(imp.a_float(node, a, "alpha", 1.0))),
    "Shrink": _named_elementwise(lambda imp, node, a: elementwise.shrink(imp.a_float(node, a, "bias", 0.0),
                                                                         imp.a_float(node, a, "lambd", 0.5))),
    "ThresholdedRelu": _named_elementwise(lambda imp, node, a: elementwise.threshold(imp.a_float(node, a, "alpha", 1.0), 0.0)),
    "QuantizeLinear": quantize_linear, "DequantizeLinear": dequantize_linear,
    "ReduceMean": reduce("AvgPool2D", np.mean), "ReduceMax": reduce("MaxPool2D", np.max),
    "ReduceMin": reduce_min, "ReduceSum": reduce_sum,
    "Sum": variadic("Sum"), "Max": variadic("Max"), "Min": variadic("Min"), "PRelu": prelu,
    "LSTM": onnx_lstm, "GRU": onnx_gru, "RNN": onnx_rnn, "Einsum": einsum,
    "Split": _split, "Resize": _resize, "Upsample": _resize, "ConvTranspose": _conv_transpose,
    "DepthToSpace": _depth_to_space,
    "ArgMax": arg("ArgMax"), "ArgMin": arg("ArgMin"),
    "ReduceL2": reduce_l2, "LpNormalization": lp_normalization, "CumSum": cumsum,
    "TopK": topk,
    "Mod": lambda imp, node, a: _elementwise_const(np.fmod if imp.a_int(node, a, "fmod", 0) else np.mod)(imp, node, a),
}


@importer_entry
def import_onnx(path: str, input_shapes: dict | None = None, sample_shape=None) -> Graph:
    """input_shapes: {input name or None: dims} (`edgec build --input-shape`); sample_shape: the
    calibration data's shape (or a function giving it), for dynamic dims it fixes unambiguously."""
    return OnnxImporter(load_onnx(path), path, input_shapes, sample_shape).run()
