"""Keras 3 operations called on symbolic tensors in a functional model (`x[..., :c]`), which
config.json records as layers of their own (module keras.src.ops.*) with their arguments in the
inbound node rather than in the config.

- GetItem (`x[...]`): basic slicing with step 1 on any axes but the batch (`...` allowed) is a Slice;
  ShuffleNet's channel split is written this way in Keras 3.  Integer indexing (drops an axis), None
  (adds one) and steps other than 1 are refused by name.
- Add, Subtract, Multiply, Divide / TrueDivide (`x + 3.0`, `x * (1 / 6)`, `x / y`): their operands are
  the call's positional arguments, tensors or Python numbers.  keras.applications' MobileNetV3 writes
  its hard-sigmoid gate so (`ReLU(6.)(x + 3.0) * (1.0 / 6.0)`).  These share their class names with the
  merging layers (keras.layers.Add, ...), which take tensors only: read as those, the numbers were
  dropped and the gate became relu6(x), a different network (2.8 dB from Keras's own output).
- Any other operation is read as the layer of the same name only when its call is that layer's
  call (tensors only, no keyword arguments); otherwise it is refused by name, never guessed."""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError

RESAVE = "the file may be truncated or altered; re-save the model"


def _index_spec(layer):
    """The index argument of the call: the inbound node's second positional argument."""
    try:
        spec = layer["inbound_nodes"][0]["args"][1]
    except (KeyError, IndexError, TypeError):
        raise ModelFormatError("GetItem without its index in the inbound node", hint=RESAVE) from None
    return spec if isinstance(spec, list) else [spec]


def get_item(b, name, cfg, ins, w):
    shape = list(b.shape_of(ins[0]))
    spec = _index_spec(b.layer)
    kinds = [s.get("class_name") if isinstance(s, dict) else type(s).__name__ for s in spec]
    if kinds.count("__ellipsis__") > 1:
        raise ModelFormatError("an index with two ellipses", hint=RESAVE)
    if any(k not in ("__slice__", "__ellipsis__") for k in kinds):
        bad = next(k for k in kinds if k not in ("__slice__", "__ellipsis__"))
        what = {"int": "an integer index (it drops an axis)", "NoneType": "None (a new axis)"}.get(bad, f"index {bad}")
        raise UnsupportedOpError(f"x[...] with {what}",
                                 hint="slice with start:stop on the axes (keep every axis), e.g. x[..., :c]")
    if "__ellipsis__" in kinds:
        e = kinds.index("__ellipsis__")
        fill = len(shape) - (len(spec) - 1)
        spec = spec[:e] + [None] * fill + spec[e + 1:]
    spec = spec + [None] * (len(shape) - len(spec))
    if len(spec) != len(shape):
        raise UnsupportedOpError(f"x[...] with {len(spec)} indices for a rank-{len(shape)} tensor")
    begin, end = [], []
    for axis, (s, dim) in enumerate(zip(spec, shape)):
        c = (s or {}).get("config", {}) if s is not None else {}
        start, stop, step = c.get("start"), c.get("stop"), c.get("step")
        if step not in (None, 1):
            raise UnsupportedOpError(f"x[...] with step {step} on axis {axis}", hint="slice with step 1")
        lo = 0 if start is None else int(start) + (dim if int(start) < 0 else 0)
        hi = dim if stop is None else int(stop) + (dim if int(stop) < 0 else 0)
        lo, hi = min(max(lo, 0), dim), min(max(hi, 0), dim)
        if hi <= lo:
            raise UnsupportedOpError(f"x[...] leaves nothing of axis {axis} ({lo}:{hi} of {dim})")
        if axis == 0 and (lo, hi) != (0, dim):
            raise UnsupportedOpError("x[...] over the batch axis", hint="slice the other axes only")
        begin.append(lo)
        end.append(hi)
    if begin == [0] * len(shape) and end == shape:
        return ins[0]
    return b.emit("Slice", name, ins, None, {"begin": tuple(begin), "end": tuple(end)})


def is_operation(layer) -> bool:
    """A Keras 3 operation recorded as a layer (`x + 3.0`, `x[..., :c]`), not a keras.layers layer."""
    return isinstance(layer, dict) and str(layer.get("module") or "").startswith("keras.src.ops")


def _call(layer):
    """(positional args, kwargs) of the operation's one call."""
    try:
        node = layer["inbound_nodes"][0]
        args, kwargs = node.get("args", []), node.get("kwargs") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ModelFormatError("an operation without its call in the inbound node", hint=RESAVE) from None
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ModelFormatError("an operation whose call is not [args] and {kwargs}", hint=RESAVE)
    return args, kwargs


def _is_tensor(v) -> bool:
    return isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def tensors_only(layer) -> bool:
    """The operation's call passes tensors only (possibly in one list) and no keyword arguments: the
    call of the layer of the same name."""
    try:
        args, kwargs = _call(layer)
    except ModelFormatError:
        return False
    flat = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    return not kwargs and bool(flat) and all(_is_tensor(a) for a in flat)


def _arithmetic(op):
    """x (op) y over two operands, each a tensor or a number; a number is a one-element constant that
    broadcasts.  x / c is x * (1 / c); c / x and x / y have no int8 kernel and are refused."""
    def f(b, name, cfg, ins, w):
        args, kwargs = _call(b.layer)
        if len(args) != 2 or kwargs:
            raise UnsupportedOpError(f"{b.layer.get('class_name')} called with {len(args)} positional and "
                                     f"{len(kwargs)} keyword arguments", hint="write it as x (op) y of two operands")
        if not all(_is_tensor(a) or _is_number(a) for a in args):
            bad = next(a for a in args if not (_is_tensor(a) or _is_number(a)))
            raise UnsupportedOpError(f"{b.layer.get('class_name')} of {type(bad).__name__} "
                                     f"{'(a constant array)' if isinstance(bad, (list, dict)) else ''}".rstrip(),
                                     hint="use a tensor or a Python number as each operand")
        if not any(_is_tensor(a) for a in args):
            raise UnsupportedOpError(f"{b.layer.get('class_name')} of two numbers", hint=RESAVE)
        kind = op
        if op == "Div":
            if not _is_number(args[1]):
                raise UnsupportedOpError("division by a tensor (no int8 kernel)",
                                         hint="divide by a constant, or multiply by a tensor")
            if args[1] == 0:
                raise UnsupportedOpError("division by the constant 0")
            args, kind = [args[0], 1.0 / float(args[1])], "Mul"
        if not all(abs(float(a)) <= np.finfo(np.float32).max for a in args if _is_number(a)):   # NaN fails too
            raise UnsupportedOpError(f"{b.layer.get('class_name')} of a number that is not a finite float32", hint=RESAVE)
        operands, tensors = [], iter(ins)
        for k, a in enumerate(args):
            operands.append(next(tensors) if _is_tensor(a) else
                            b.const(f"{name}_c{k}", np.array([float(a)], np.float32)))
        return b.emit(kind, name, operands, None, {"act": None})
    return f


def _arg(op):
    """ops.argmax / ops.argmin(x, axis, keepdims): the IR's ArgMax / ArgMin (ties: the first index, as
    NumPy's); Keras tensors are channels-last like the IR, so the axis is the IR's.  axis=None (the
    index into the flattened tensor) is refused."""
    def f(b, name, cfg, ins, w):
        rank = len(b.shape_of(ins[0]))
        axis = cfg.get("axis", -1)
        if not isinstance(axis, int) or isinstance(axis, bool) or not -rank < axis < rank or axis % rank == 0:
            raise UnsupportedOpError(f"ops.{op.lower()} over axis {axis} of a rank-{rank} tensor",
                                     hint="take it over one axis other than the batch, e.g. axis=-1")
        return b.emit(op, name, ins[:1], None, {"axis": axis % rank, "keep": bool(cfg.get("keepdims", False)),
                                                "select_last": False})
    return f


def _cumsum(b, name, cfg, ins, w):
    """ops.cumsum(x, axis): the IR's CumSum over that axis (channels-last, as the IR).  axis=None (the
    running sum of the flattened tensor) is refused."""
    rank = len(b.shape_of(ins[0]))
    axis = cfg.get("axis")
    if not isinstance(axis, int) or isinstance(axis, bool) or not -rank < axis < rank or axis % rank == 0:
        raise UnsupportedOpError(f"ops.cumsum over axis {axis} of a rank-{rank} tensor",
                                 hint="take it over one axis other than the batch, e.g. axis=1 (time)")
    return b.emit("CumSum", name, ins[:1], None, {"axis": axis % rank, "exclusive": False, "reverse": False})


OPERATIONS = {"Add": _arithmetic("Add"), "Subtract": _arithmetic("Sub"), "Multiply": _arithmetic("Mul"),
              "Divide": _arithmetic("Div"), "TrueDivide": _arithmetic("Div"), "GetItem": get_item,
              "Argmax": _arg("ArgMax"), "Argmin": _arg("ArgMin"),
              "Cumsum": _cumsum}
