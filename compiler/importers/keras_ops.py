"""Keras 3 operations called on symbolic tensors in a functional model (`x[..., :c]`), which
config.json records as layers of their own (module keras.src.ops.*) with their arguments in the
inbound node rather than in the config.

- GetItem (`x[...]`): basic slicing with step 1 on any axes but the batch (`...` allowed) is a Slice;
  ShuffleNet's channel split is written this way in Keras 3.  Integer indexing (drops an axis), None
  (adds one) and steps other than 1 are refused by name."""
from __future__ import annotations

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
