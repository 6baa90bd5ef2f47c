"""ONNX → IR.  The only code that knows the ONNX format.

Layout: the IR is NHWC, ONNX is NCHW.  Every ONNX value maps to an IR tensor plus a permutation
`perm` with  onnx_value == np.transpose(ir_value, perm).  Conv/pool outputs live in the IR as NHWC
(perm (0,3,1,2)); ONNX Transposes only change `perm` (tf2onnx's input Transpose costs nothing);
an IR Transpose is emitted only where an op needs the ONNX element order (Reshape/Flatten of a
feature map, graph outputs), and a pass folds those into the following FullyConnected weights.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError, EdgecError
from ..ir import Graph
from ..shapes import same_pads
from .builder import GraphBuilder

NCHW_IN_NHWC = (0, 3, 1, 2)


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
    try:
        model = onnx.load(path, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        raise ModelFormatError(f"not a readable ONNX model ({type(e).__name__})", where=path,
                               hint="re-export the model; the file may be truncated") from None
    if not model.graph.node:
        raise ModelFormatError("the ONNX graph has no nodes", where=path,
                               hint="the file may be truncated or not an ONNX model")
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise ModelFormatError(f"initializer {init.name} uses external data", where=path,
                                   hint="save the model with all tensors inside the .onnx file")
    return model


class _Importer(GraphBuilder):
    def __init__(self, model, path):
        import onnx
        from onnx import numpy_helper
        super().__init__()
        self.onnx, self.nh = onnx, numpy_helper
        self.model, self.path = model, path
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.consts: dict = {}
        self.vals: dict = {}
        self.materialized: dict = {}

    # -- helpers -----------------------------------------------------------------------------
    def where(self, node):
        return f"{os.path.basename(self.path)}: node {node.name or '?'} ({node.op_type})"

    def attrs(self, node):
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

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
        if name not in self.consts:
            raise UnsupportedOpError(f"{what} must be a constant", where=self.where(node),
                                     hint="fold it to an initializer (e.g. onnxsim) first")
        return self.consts[name]

    # -- graph ---------------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.model.graph
        for init in g.initializer:
            self.consts[init.name] = self.nh.to_array(init)
        missing = sorted({n.op_type for n in g.node if n.op_type not in HANDLERS})
        if missing:
            bad = [f"{n.name or '?'} ({n.op_type})" for n in g.node if n.op_type not in HANDLERS]
            raise UnsupportedOpError(f"{len(bad)} unsupported node(s): {', '.join(bad)}",
                                     where=os.path.basename(self.path),
                                     hint=f"supported ONNX ops: {', '.join(sorted(HANDLERS))}")
        inputs = []
        for vi in g.input:
            if vi.name in self.consts:
                continue
            tt = vi.type.tensor_type
            if tt.elem_type != self.onnx.TensorProto.FLOAT:
                raise UnsupportedOpError(f"input {vi.name} is not float32", where=os.path.basename(self.path))
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tt.shape.dim]
            name = self.add_tensor(vi.name, dims)
            self.vals[vi.name] = _Val(name, tuple(range(len(dims))))
            inputs.append(name)
        for node in g.node:
            try:
                HANDLERS[node.op_type](self, node, self.attrs(node))
            except EdgecError as e:
                if e.where is None:
                    raise type(e)(str(e), where=self.where(node)) from None
                raise
        outputs = []
        for vo in g.output:
            if vo.name not in self.vals:
                raise UnsupportedOpError(f"output {vo.name} is a constant", where=os.path.basename(self.path))
            outputs.append(self.plain(vo.name))
        name = os.path.splitext(os.path.basename(self.path))[0]
        return self.graph(name, inputs, outputs,
                     {"source": os.path.abspath(self.path), "format": "onnx",
                      "input_names": [vi.name for vi in g.input if vi.name not in self.consts],
                      "output_names": [vo.name for vo in g.output]})

    def val(self, onnx_name) -> _Val:
        """The IR value of `onnx_name`; a constant used as data becomes an IR constant tensor."""
        if onnx_name not in self.vals:
            c = np.asarray(self.consts[onnx_name], dtype=np.float32)
            self.vals[onnx_name] = _Val(self.const(onnx_name, c), tuple(range(c.ndim)))
        return self.vals[onnx_name]

    def set(self, onnx_name, ir, perm):
        self.vals[onnx_name] = _Val(ir, tuple(perm))


# -- op handlers ---------------------------------------------------------------------------------
def _pads2d(imp, node, a, in_hw, kernel, strides, dil=(1, 1)):
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        p = list(a.get("pads", [0, 0, 0, 0]))
        return (p[0], p[1], p[2], p[3])
    if auto == "VALID":
        return (0, 0, 0, 0)
    t, l, b, r = same_pads(in_hw, kernel, strides, dil)
    return (t, l, b, r) if auto == "SAME_UPPER" else (b, r, t, l)


def _conv(imp, node, a):
    w = imp.const_in(node, 1, "Conv weights")
    if w.ndim != 4:
        raise UnsupportedOpError(f"only 2-D convolution is supported (weights {w.shape})", where=imp.where(node))
    x = imp.feature_map(node.input[0], node)
    b = imp.const_in(node, 2, "Conv bias")
    if b is None:
        b = np.zeros(w.shape[0], np.float32)
    kernel = tuple(a.get("kernel_shape", w.shape[2:]))
    strides, dil = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
    hw = imp.tensors[x].shape[1:3]
    attrs = {"strides": strides, "dilations": dil, "pads": _pads2d(imp, node, a, hw, kernel, strides, dil),
             "groups": int(a.get("group", 1)), "act": None}
    wn = imp.const(f"{node.output[0]}_weights", np.transpose(w, (0, 2, 3, 1)))
    bn = imp.const(f"{node.output[0]}_bias", b)
    imp.set(node.output[0], imp.emit("Conv2D", node.name or node.output[0], [x, wn, bn], node.output[0], attrs),
            NCHW_IN_NHWC)


def _gemm(imp, node, a):
    if a.get("transA", 0):
        raise UnsupportedOpError("Gemm with transA=1", where=imp.where(node))
    if len(imp.shape(node.input[0])) != 2:
        raise UnsupportedOpError(f"Gemm input must be 2-D, got {imp.shape(node.input[0])}", where=imp.where(node))
    x = imp.plain(node.input[0])
    b = imp.const_in(node, 1, "Gemm B")
    w = (b if a.get("transB", 0) else b.T) * float(a.get("alpha", 1.0))
    c = imp.const_in(node, 2, "Gemm C")
    bias = np.zeros(w.shape[0], np.float32) if c is None else np.broadcast_to(c * float(a.get("beta", 1.0)), (w.shape[0],))
    _fc(imp, node, x, w, bias)


def _matmul(imp, node, a):
    if len(imp.shape(node.input[0])) != 2:
        raise UnsupportedOpError(f"MatMul input must be 2-D, got {imp.shape(node.input[0])}", where=imp.where(node))
    x = imp.plain(node.input[0])
    w = imp.const_in(node, 1, "MatMul B").T
    _fc(imp, node, x, w, np.zeros(w.shape[0], np.float32))


def _fc(imp, node, x, w, bias):
    wn = imp.const(f"{node.output[0]}_weights", np.ascontiguousarray(w, dtype=np.float32))
    bn = imp.const(f"{node.output[0]}_bias", np.asarray(bias, np.float32))
    imp.set(node.output[0], imp.emit("FullyConnected", node.name or node.output[0], [x, wn, bn], node.output[0],
                                     {"act": None}), (0, 1))


def _binary(op):
    def handler(imp, node, a):
        ia, ib = node.input[0], node.input[1]
        if ia in imp.consts and ib in imp.consts:
            fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
            imp.consts[node.output[0]] = fn(imp.consts[ia], imp.consts[ib]).astype(np.float32)
            return
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


def _unary(op):
    def handler(imp, node, a):
        v = imp.val(node.input[0])
        attrs = {}
        if op == "LeakyRelu":
            attrs = {"alpha": float(a.get("alpha", 0.01))}
        elif op == "Clip":
            lo = imp.const_in(node, 1, "Clip min") if imp.opset >= 11 else a.get("min")
            hi = imp.const_in(node, 2, "Clip max") if imp.opset >= 11 else a.get("max")
            attrs = {"min": -np.inf if lo is None else float(lo), "max": np.inf if hi is None else float(hi)}
        imp.set(node.output[0], imp.emit(op, node.name or node.output[0], [v.ir], node.output[0], attrs), v.perm)
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
        if a.get("ceil_mode", 0):
            raise UnsupportedOpError("ceil_mode=1", where=imp.where(node), hint="re-export with ceil_mode=0")
        if any(d != 1 for d in a.get("dilations", (1, 1))):
            raise UnsupportedOpError("dilated pooling", where=imp.where(node))
        x = imp.feature_map(node.input[0], node)
        kernel, strides = tuple(a["kernel_shape"]), tuple(a.get("strides", (1, 1)))
        pads = _pads2d(imp, node, a, imp.tensors[x].shape[1:3], kernel, strides)
        if op == "AvgPool2D" and a.get("count_include_pad", 0) and any(pads):
            raise UnsupportedOpError("count_include_pad=1 with padding", where=imp.where(node))
        imp.set(node.output[0], imp.emit(op, node.name or node.output[0], [x], node.output[0],
                                         {"kernel": kernel, "strides": strides, "pads": pads, "act": None}), NCHW_IN_NHWC)
    return handler


def _global_pool(op):
    def handler(imp, node, a):
        x = imp.feature_map(node.input[0], node)
        hw = imp.tensors[x].shape[1:3]
        imp.set(node.output[0], imp.emit(op, node.name or node.output[0], [x], node.output[0],
                                         {"kernel": hw, "strides": (1, 1), "pads": (0, 0, 0, 0), "act": None}),
                NCHW_IN_NHWC)
    return handler


def _batchnorm(imp, node, a):
    v = imp.val(node.input[0])
    params = [imp.const_in(node, i, "BatchNormalization parameters") for i in range(1, 5)]
    ins = [v.ir] + [imp.const(f"{node.output[0]}_{k}", p) for k, p in zip(("scale", "bias", "mean", "var"), params)]
    axis = v.perm[1] if len(v.perm) > 1 else 0
    if axis != len(v.perm) - 1:
        ins[0] = imp.in_layout(node.input[0], NCHW_IN_NHWC) if len(v.perm) == 4 else imp.plain(node.input[0])
        v = _Val(ins[0], NCHW_IN_NHWC if len(v.perm) == 4 else tuple(range(len(v.perm))))
    imp.set(node.output[0], imp.emit("BatchNorm", node.name or node.output[0], ins, node.output[0],
                                     {"epsilon": float(a.get("epsilon", 1e-5))}), v.perm)


def _reshape_to(imp, node, shape):
    x = imp.plain(node.input[0])
    imp.set(node.output[0], imp.emit("Reshape", node.name or node.output[0], [x], node.output[0],
                                     {"shape": tuple(int(s) for s in shape)}), tuple(range(len(shape))))


def _reshape(imp, node, a):
    target = [int(s) for s in imp.const_in(node, 1, "Reshape shape")]
    src = imp.shape(node.input[0])
    out = [src[i] if s == 0 and not a.get("allowzero", 0) else s for i, s in enumerate(target)]
    if -1 in out:
        known = int(np.prod([s for s in out if s != -1]))
        out[out.index(-1)] = int(np.prod(src)) // max(known, 1)
    if node.input[0] in imp.consts:
        imp.consts[node.output[0]] = imp.consts[node.input[0]].reshape(out)
        return
    _reshape_to(imp, node, out)


def _flatten(imp, node, a):
    src = imp.shape(node.input[0])
    axis = int(a.get("axis", 1)) % (len(src) or 1)
    _reshape_to(imp, node, (int(np.prod(src[:axis])), int(np.prod(src[axis:]))))


def _axes(imp, node, a):
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = imp.const_in(node, 1, "axes")
    return None if axes is None else [int(x) for x in np.asarray(axes).reshape(-1)]


def _squeeze(imp, node, a):
    src = imp.shape(node.input[0])
    axes = _axes(imp, node, a)
    axes = [i for i, d in enumerate(src) if d == 1] if axes is None else [x % len(src) for x in axes]
    _reshape_to(imp, node, [d for i, d in enumerate(src) if i not in axes])


def _unsqueeze(imp, node, a):
    src = list(imp.shape(node.input[0]))
    axes = _axes(imp, node, a)
    rank = len(src) + len(axes)
    for ax in sorted(x % rank for x in axes):
        src.insert(ax, 1)
    if node.input[0] in imp.consts:
        imp.consts[node.output[0]] = imp.consts[node.input[0]].reshape(src)
        return
    _reshape_to(imp, node, src)


def _transpose(imp, node, a):
    if node.input[0] in imp.consts:
        imp.consts[node.output[0]] = np.transpose(imp.consts[node.input[0]], a.get("perm"))
        return
    v = imp.val(node.input[0])
    p = a.get("perm", list(reversed(range(len(v.perm)))))
    imp.set(node.output[0], v.ir, tuple(v.perm[i] for i in p))


def _pad(imp, node, a):
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise UnsupportedOpError(f"Pad mode {mode}", where=imp.where(node), hint="only constant padding is supported")
    pads = imp.const_in(node, 1, "Pad pads") if imp.opset >= 11 else a.get("pads")
    value = imp.const_in(node, 2, "Pad value") if imp.opset >= 11 else a.get("value", 0.0)
    if value is not None and float(np.asarray(value).reshape(-1)[0]) != 0.0:
        raise UnsupportedOpError("Pad with a non-zero value", where=imp.where(node))
    if len(node.input) > 3 and node.input[3]:
        raise UnsupportedOpError("Pad with axes", where=imp.where(node))
    v = imp.val(node.input[0])
    r = len(v.perm)
    pads = [int(p) for p in pads]
    if min(pads) < 0:
        raise UnsupportedOpError("negative pads", where=imp.where(node))
    ir_pads = [0] * (2 * r)
    for j in range(r):
        ir_pads[v.perm[j]], ir_pads[v.perm[j] + r] = pads[j], pads[j + r]
    imp.set(node.output[0], imp.emit("Pad", node.name or node.output[0], [v.ir], node.output[0],
                                     {"pads": tuple(ir_pads)}), v.perm)


def _concat(imp, node, a):
    first = next(i for i in node.input if i not in imp.consts)
    perm = imp.val(first).perm
    ins = []
    for i in node.input:
        if i in imp.consts:
            ins.append(imp.const(f"{node.output[0]}_part", np.transpose(imp.consts[i], _inverse(perm))))
        else:
            ins.append(imp.in_layout(i, perm))
    axis = perm[int(a["axis"]) % len(perm)]
    imp.set(node.output[0], imp.emit("Concat", node.name or node.output[0], ins, node.output[0], {"axis": axis}), perm)


def _softmax(imp, node, a):
    r = len(imp.shape(node.input[0]))
    axis = int(a.get("axis", -1 if imp.opset >= 13 else 1)) % r
    v = imp.val(node.input[0])
    x = v.ir if v.perm[axis] == r - 1 else None
    perm = v.perm
    if x is None:
        x, perm = imp.plain(node.input[0]), tuple(range(r))
        if axis != r - 1:
            raise UnsupportedOpError(f"Softmax over axis {axis} of a rank-{r} tensor", where=imp.where(node),
                                     hint="only the last axis is supported")
    imp.set(node.output[0], imp.emit("Softmax", node.name or node.output[0], [x], node.output[0]), perm)


def _constant(imp, node, a):
    if "value" not in a:
        raise UnsupportedOpError("Constant without a tensor value", where=imp.where(node))
    imp.consts[node.output[0]] = imp.nh.to_array(a["value"])


HANDLERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _matmul,
    "Add": _binary("Add"), "Sub": _binary("Sub"), "Mul": _binary("Mul"),
    "Relu": _unary("Relu"), "Clip": _unary("Clip"), "LeakyRelu": _unary("LeakyRelu"),
    "Sigmoid": _unary("Sigmoid"), "Tanh": _unary("Tanh"),
    "MaxPool": _pool("MaxPool2D"), "AveragePool": _pool("AvgPool2D"),
    "GlobalAveragePool": _global_pool("AvgPool2D"), "GlobalMaxPool": _global_pool("MaxPool2D"),
    "BatchNormalization": _batchnorm,
    "Reshape": _reshape, "Flatten": _flatten, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Transpose": _transpose, "Pad": _pad, "Concat": _concat, "Softmax": _softmax,
    "Identity": _identity, "Dropout": _identity, "Constant": _constant,
}


def import_onnx(path: str) -> Graph:
    return _Importer(load_onnx(path), path).run()
