"""GraphBuilder: what every importer needs to emit IR — unique names, constants, nodes with their
output shapes inferred on the spot, and the IR spelling of the activations frameworks name.
Importers subclass it and add only what their format needs.

Model files are untrusted input.  Everything an importer emits passes through here and is checked
against the IR's contract (`check_node`) and against the resource limits below before the rest of
the pipeline sees it, so a malformed or hostile file ends in a ModelFormatError that names the file
and the node, never in an exception deep inside a pass or an allocation of absurd size."""
from __future__ import annotations

import functools
import math
import os

import numpy as np

from ..errors import EdgecError, InputDataError, ModelFormatError, UnsupportedOpError
from ..ir import Graph, Node, Tensor, unique_name
from ..shapes import output_shapes, same_pads
from ..ops import REGISTRY
# moved to compiler/ops/checks.py (op definitions check attributes with them); importers still take them from here
from ..ops.checks import (MAX_TENSOR_ELEMENTS, LIMIT_HINT, limit_hint, element_count, check_shape, check_padded,  # noqa: F401
                          human as _human, short as _short)
from .. import elementwise

#: Resource limits, checked before anything of that size is allocated.  They are memory, not counts:
#: any number of nodes is fine while the graph fits.  edgec's targets have kilobytes to a few
#: megabytes of memory, so a model past these is corrupt or hostile rather than big; each is still far
#: above the largest model a microcontroller runs (yolo-fastest: 1.4 MB of weights, 410 K elements in
#: its largest activation; PyTorch exports of MobileNetV3 / EfficientNet-lite: 1-3 k nodes, 3-20 MiB).
MAX_GRAPH_BYTES = 1 << 30            # the imported graph in the compiler: its tensors as float32 + NODE_BYTES a node
NODE_BYTES = 2 << 10                 # a node with its output tensor, as Python objects (measured: ~1.5 KiB)
MAX_FILE_BYTES = 256 << 20           # a model or weights file: 256 MiB
def check_file_size(path: str, what: str = "model file") -> int:
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise ModelFormatError(f"{what} of {size:,} bytes ({_human(size)}) is larger than the "
                               f"{_human(MAX_FILE_BYTES)} edgec reads", where=path, hint=limit_hint(_human(MAX_FILE_BYTES)))
    return size


def check_node_count(n: int, what: str, where: str | None) -> None:
    """Before importing `n` nodes / layers: refused when their bookkeeping alone (NODE_BYTES each)
    would pass MAX_GRAPH_BYTES, with the size."""
    if n * NODE_BYTES > MAX_GRAPH_BYTES:
        raise ModelFormatError(f"{n:,} {what} need at least {_human(n * NODE_BYTES)} of compiler memory "
                               f"({NODE_BYTES:,} B each), more than the {_human(MAX_GRAPH_BYTES)} edgec gives a model",
                               where=where, hint=limit_hint(f"{_human(MAX_GRAPH_BYTES)} of compiler memory"))


def listing(items, limit: int = 20) -> str:
    """items joined by commas, the first `limit` of them and how many more."""
    items = list(items)
    shown_items = ", ".join(items[:limit])
    return shown_items + (f", … and {len(items) - limit:,} more" if len(items) > limit else "")


def parse_input_shapes(specs) -> dict:
    """`--input-shape` values -> {input name or None: dims}: "1,3,48,192" (the model's one input) or
    "x=1,3,48,192" (input x), each at most once."""
    out = {}
    for spec in specs or ():
        text = str(spec).strip()
        name, _, dims = text.rpartition("=") if "=" in text else (None, "", text)
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(","))
        except ValueError:
            shape = ()
        if not shape or any(d < 1 for d in shape) or (name is not None and not name.strip()):
            raise InputDataError(f"--input-shape {shown(text)!r} is not a shape",
                                 hint="write the dimensions, e.g. --input-shape 1,3,48,192, or name the input: "
                                      "--input-shape x=1,3,48,192")
        key = name.strip() if name is not None else None
        if key in out:
            raise InputDataError(f"--input-shape gives {'input ' + shown(key) if key else 'the input'} twice")
        out[key] = shape
    if None in out and len(out) > 1:
        raise InputDataError("--input-shape mixes a shape without a name with named ones",
                             hint="name every input: --input-shape x=1,3,48,192 --input-shape y=1,10")
    return out


def given_by_name(given: dict, names: list, file: str) -> dict:
    """parse_input_shapes' result keyed by the model's input names (an unnamed shape is the model's
    only input); a shape without a name for a model of several inputs, or a name that is not an input,
    is refused."""
    given = dict(given or {})
    if None in given:
        if len(names) != 1:
            raise InputDataError(f"--input-shape has no input name and the model has {len(names)} inputs "
                                 f"({listing(shown(n) for n in names)})", where=file,
                                 hint="name the input: --input-shape NAME=1,3,48,192")
        given = {names[0]: given[None]}
    wrong = [k for k in given if k not in names]
    if wrong:
        raise InputDataError(f"--input-shape names {shown(wrong[0])}, which is not an input of the model (its "
                             f"inputs: {listing(shown(n) for n in names) or 'none'})", where=file)
    return given


def fix_input_shape(name: str, declared: list, given, sample_shape, labels=None, channels_last: bool = False):
    """The static shape of input `name` whose declared dims may be None (dynamic): `given` (its
    --input-shape), else the batch dim as 1 and the rest from the calibration data when that is
    unambiguous (`sample_shape`: the shape of the N samples, or None).  Returns (dims, None), or
    (placeholder dims, the reason no shape could be fixed) so an importer can go on checking.
    `channels_last`: the suggested shape writes H, W before the last dim (Keras), not as the last two."""
    rank = len(declared)
    labels = labels or [d if d is not None else "?" for d in declared]
    shown_decl = "[" + ", ".join(str(l) for l in labels) + "]"
    if given is not None:
        clash = [i for i, (d, g) in enumerate(zip(declared, given)) if d is not None and d != g]
        if len(given) != rank or clash:
            raise InputDataError(f"--input-shape {','.join(map(str, given))} does not fit input {shown(name)}, "
                                 f"declared {shown_decl}" + (f" (dimension {clash[0]} is {declared[clash[0]]})" if clash else
                                                              f" ({rank} dimensions)"),
                                 hint="give every dimension; only the dynamic ones may differ from the declaration")
        return tuple(given), None
    dims = list(declared)
    if rank >= 2 and dims[0] is None:
        dims[0] = 1                                   # the batch: edgec runs one sample at a time
    if None not in dims:
        return tuple(dims), None
    found = _from_samples(dims, sample_shape)
    if found is not None:
        return found, None
    missing = [i for i, d in enumerate(dims) if d is None]
    which = ", ".join(f"{i} ({labels[i]})" for i in missing)
    them = "them" if len(missing) > 1 else "it"
    data = (f"the calibration data's shape {tuple(sample_shape)} does not fix {them}" if sample_shape is not None
            else f"no calibration data fixes {them}")
    if rank >= 3 and declared[1] is None and declared[-1] is not None:
        channels_last = True                          # [?, ?, ?, 3]: an NHWC input whatever the file's format
    h = rank - 3 if channels_last else rank - 2
    names = {h: "H", h + 1: "W"} if rank >= 4 else {1: "T"} if rank == 3 and channels_last else {h: "H", h + 1: "W"}
    example = ",".join(str(d) if d is not None else names.get(i, "N") for i, d in enumerate(dims))
    reason = (f"input {shown(name)} {shown_decl}: dimension{'s' if len(missing) > 1 else ''} {which} "
              f"{'are' if len(missing) > 1 else 'is'} dynamic and {data} — give the shape with "
              f"--input-shape {shown(name)}={example}")
    return tuple(d if d is not None else DYNAMIC_PLACEHOLDER for d in dims), reason


#: What an unresolved dynamic dim stands for while an importer goes on looking for other reasons to refuse.
DYNAMIC_PLACEHOLDER = 64


def _from_samples(dims: list, sample_shape):
    """dims with the None ones from N samples of shape sample_shape: [N, *dims[1:]] (batch of 1
    dropped), [N, *dims], or [N, flat] when only one dim is unknown; None when they do not fit."""
    if sample_shape is None or len(sample_shape) < 2:
        return None
    rank = len(dims)
    fits = lambda cand: len(cand) == rank and all(d is None or d == c for d, c in zip(dims, cand)) and min(cand) >= 1
    for cand in ((1,) + tuple(sample_shape[1:]) if dims[0] in (None, 1) else None, tuple(sample_shape[1:])):
        if cand is not None and fits(cand):
            return cand
    if len(sample_shape) == 2 and dims.count(None) == 1:
        known = math.prod(d for d in dims if d is not None)
        if known and sample_shape[1] % known == 0:
            cand = tuple(sample_shape[1] // known if d is None else d for d in dims)
            if fits(cand):
                return cand
    return None


def shown(name) -> str:
    """A name from a model file as messages show it: printable, and cut when it is very long."""
    s = printable(str(name))
    return s if len(s) <= 120 else s[:100] + f"…({len(s)} chars)"


def printable(text: str) -> str:
    """`text` with every character that is not printable (newlines, terminal escapes, Unicode line
    separators, NUL...) written as a Python escape, so a message stays one line and cannot drive a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def importer_entry(fn):
    """Importer entry points.  An EdgecError whose message quotes the file (names, cfg lines) is made
    printable, so the CLI prints it on one line whatever the file holds.  Numpy arithmetic on the file's
    numbers runs without warnings (which would print on stderr): an overflow gives inf or NaN, and
    add_tensor refuses a constant that holds one, by name."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with np.errstate(all="ignore"):
                return fn(*args, **kwargs)
        except EdgecError as e:
            if e.args and isinstance(e.args[0], str):
                e.args = (printable(e.args[0]),) + e.args[1:]
            e.headline, e.reasons = printable(e.headline), [printable(r) for r in e.reasons]
            raise
    return wrapper


def _bare(e: EdgecError) -> str:
    """The message of `e` without its where and hint."""
    msg = e.args[0] if e.args else str(e)
    if e.where and msg.startswith(f"{e.where}: "):
        msg = msg[len(e.where) + 2:]
    if e.hint and msg.endswith(f" — {e.hint}"):
        msg = msg[:-len(e.hint) - 3]
    return msg


#: inputs of the IR ops importers emit (min, max), from the registry (compiler/ops/); every other op takes one
ARITY = {name: d.arity for name, d in REGISTRY.items() if d.arity != (1, 1)}


def check_node(op: str, attrs: dict, shapes: list, consts: list) -> None:
    """The IR contract of one node (ir.OPS) for what importers emit: ranks, channel counts, attribute
    ranges (the op's OpDef.check).  `consts`: the data of each input that is a constant, else None.
    Raises ModelFormatError (where is added by the caller)."""
    arity = ARITY.get(op, (1, 1))
    if not arity[0] <= len(shapes) <= arity[1]:
        raise ModelFormatError(f"{op} takes {arity[0] if arity[0] == arity[1] else f'at least {arity[0]}'} "
                               f"input(s), got {len(shapes)}")
    d = REGISTRY.get(op)
    if d is not None and d.check is not None:
        d.check(op, attrs, shapes, consts)


class GraphBuilder:
    def __init__(self, source: str = ""):
        self.tensors: dict = {}
        self.nodes: list = []
        self._node_names: set = set()
        self.source = source            # the model file's name, for messages
        self.context = source or None   # where the importer is (file, node/layer, op): the `where` of errors
        self.elements = 0               # of every tensor so far: with the node count, the graph's memory

    def add_tensor(self, base, shape, data=None):
        name = unique_name(self.tensors, base)
        what = f"{'constant' if data is not None else 'tensor'} {shown(base)}"
        shape = check_shape(shape, what, self.context)
        self.elements += element_count(shape)
        self.check_memory()
        if data is not None and data.dtype.kind == "f" and not np.isfinite(data).all():
            raise ModelFormatError(f"{what} holds NaN or infinite values", where=self.context,
                                   hint="the weights are corrupt (or the batch-norm variances negative); re-export the model")
        self.tensors[name] = Tensor(name, shape, "float32" if data is None else str(data.dtype),
                                    None if data is None else np.ascontiguousarray(data))
        return name

    def memory(self) -> int:
        """Bytes the graph built so far takes in the compiler (the measure MAX_GRAPH_BYTES limits)."""
        return 4 * self.elements + NODE_BYTES * len(self.nodes)

    def check_memory(self) -> None:
        if self.memory() > MAX_GRAPH_BYTES:
            raise ModelFormatError(f"the model needs more than {_human(MAX_GRAPH_BYTES)} of compiler memory: "
                                   f"{len(self.nodes):,} nodes and {self.elements:,} tensor elements so far, "
                                   f"{_human(self.memory())} ({NODE_BYTES:,} B a node, 4 B an element)",
                                   where=self.context, hint=limit_hint(f"{_human(MAX_GRAPH_BYTES)} of compiler memory"))

    def const(self, base, array):
        a = np.asarray(array)
        check_shape(a.shape, f"constant {shown(base)}", self.context)
        return self.add_tensor(base, a.shape, np.asarray(a, dtype=np.float32))

    def emit(self, op, name, inputs, out_base=None, attrs=None):
        attrs = attrs or {}
        node = Node(op, unique_name(self._node_names, name), list(inputs), [], attrs)
        in_shapes = [self.tensors[i].shape for i in inputs]
        try:
            check_node(op, attrs, in_shapes, [self.tensors[i].data for i in inputs])
            shapes = output_shapes(node, in_shapes)
        except EdgecError as e:
            raise ModelFormatError(f"{_bare(e)} (edgec node {shown(node.name)}, {op})", where=self.context,
                                   hint=e.hint or "the file may be corrupt; check the model with its framework") from None
        self._node_names.add(node.name)
        node.outputs = [self.add_tensor(out_base or name, shapes[0])]
        self.nodes.append(node)
        return node.outputs[0]

    def shape_of(self, tensor):
        return self.tensors[tensor].shape

    def conv2d(self, name, x, w_ohwi, bias, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1):
        """pads: (t, l, b, r), or "same" / "valid" as TensorFlow and Darknet mean them."""
        kernel = w_ohwi.shape[1:3]
        if isinstance(pads, str):
            pads = same_pads(self.shape_of(x)[1:3], kernel, strides, dilations) if pads == "same" else (0, 0, 0, 0)
        w = self.const(f"{name}_weights", w_ohwi)
        b = self.const(f"{name}_bias", np.zeros(w_ohwi.shape[0]) if bias is None else bias)
        return self.emit("Conv2D", name, [x, w, b], name, {"strides": tuple(strides), "dilations": tuple(dilations),
                                                            "pads": tuple(pads), "groups": int(groups), "act": None})

    def dense(self, name, x, w_mk, bias):
        w = self.const(f"{name}_weights", w_mk)
        b = self.const(f"{name}_bias", np.zeros(w_mk.shape[0]) if bias is None else bias)
        return self.emit("FullyConnected", name, [x, w, b], name, {"act": None})

    def pool(self, op, name, x, kernel, strides, pads):
        if isinstance(pads, str):
            pads = same_pads(self.shape_of(x)[1:3], kernel, strides, (1, 1)) if pads == "same" else (0, 0, 0, 0)
        return self.emit(op, name, [x], name, {"kernel": tuple(kernel), "strides": tuple(strides), "pads": tuple(pads), "act": None})

    def batchnorm(self, name, x, gamma, beta, mean, var, eps):
        ins = [x] + [self.const(f"{name}_{k}", v) for k, v in zip(("scale", "bias", "mean", "var"), (gamma, beta, mean, var))]
        return self.emit("BatchNorm", name, ins, name, {"epsilon": float(eps)})

    def activation(self, name, x, kind: str, **params):
        """Framework activation names → IR ops; 'linear' is no op."""
        if not isinstance(kind, str):
            raise UnsupportedOpError(f"activation {_short(kind)} is not a name", where=self.context)
        kind = kind.lower()
        simple = {"relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}), "logistic": ("Sigmoid", {}), "tanh": ("Tanh", {}),
                  "relu6": ("Clip", {"min": 0.0, "max": 6.0}), "swish": ("Swish", {}), "silu": ("Swish", {}),
                  "mish": ("Mish", {}), "softmax": ("Softmax", {}), "log_softmax": ("LogSoftmax", {}),
                  "leaky": ("LeakyRelu", {"alpha": params.get("alpha", 0.1)}),
                  "leaky_relu": ("LeakyRelu", {"alpha": params.get("alpha", 0.2)}),
                  "hard_sigmoid": ("HardSigmoid", {"alpha": params.get("alpha", 0.2), "beta": 0.5}),
                  "hard_swish": ("HardSwish", {}), "elu": ("Elu", {"alpha": params.get("alpha", 1.0)}),
                  "selu": ("Selu", {"alpha": 1.67326324235437728481, "gamma": 1.05070098735548049342}),
                  "softplus": ("Softplus", {}), "softsign": ("Softsign", {}), "exponential": ("Exp", {}),
                  "gelu": ("Gelu", {"approximate": "tanh" if params.get("approximate") else "none"}),
                  "hard_silu": ("HardSwish", {}), "hard_tanh": ("Clip", {"min": -1.0, "max": 1.0}),
                  "sparse_sigmoid": ("HardSigmoid", {"alpha": 0.5, "beta": 0.5})}
        programs = {"celu": lambda: elementwise.celu(params.get("alpha", 1.0)),      # Keras 3's defaults
                    "hard_shrink": lambda: elementwise.shrink(0.0, params.get("threshold", 0.5)),
                    "soft_shrink": lambda: elementwise.shrink(params.get("threshold", 0.5), params.get("threshold", 0.5)),
                    "squareplus": lambda: elementwise.squareplus(params.get("b", 4.0)),
                    "sparse_plus": elementwise.sparse_plus, "log_sigmoid": elementwise.log_sigmoid,
                    "tanh_shrink": elementwise.tanh_shrink}
        if kind in ("linear", "none", ""):
            return x
        if kind in programs:
            return self.emit("Elementwise", f"{name}_{kind}", [x], f"{name}_{kind}", {"program": programs[kind]()})
        if kind not in simple:
            raise UnsupportedOpError(f"activation '{shown(kind)}'", where=self.context,
                                     hint=f"supported: linear, {', '.join(sorted(simple) + sorted(programs))}")
        op, attrs = simple[kind]
        return self.emit(op, f"{name}_{kind}", [x], f"{name}_{kind}", attrs)

    def graph(self, name, inputs, outputs, meta) -> Graph:
        """The imported graph: `edgec_<model>_run(input, output)` for one input and one output, one pointer
        per input and per output, in the model's order, for several (codegen/c.py).  Every output must be
        computed from the inputs, and be a tensor of its own (the caller gives each output its buffer)."""
        where = self.source or None
        for what, names in (("input", inputs), ("output", outputs)):
            if not names:
                raise UnsupportedOpError(f"the model has 0 {what}s", where=where,
                                         hint="edgec compiles models with at least one input and one output")
        if len(set(inputs)) != len(inputs):
            raise UnsupportedOpError("the model lists an input twice", where=where, hint="check that the model file is whole")
        for o in outputs:
            if o in inputs:
                raise UnsupportedOpError("the model's output is its input: there is nothing to compile" if len(outputs) == 1
                                         else f"the model's output {shown(o)} is its input: nothing computes it", where=where,
                                         hint="check that the model file holds its layers" if len(outputs) == 1
                                         else "leave that output out of the model (the caller has the input)")
        twice = sorted({o for o in outputs if outputs.count(o) > 1})
        if twice:
            raise UnsupportedOpError(f"two of the model's outputs are the same tensor {shown(twice[0])}", where=where,
                                     hint="return it once; the caller can copy it")
        reached = set(inputs)
        for node in self.nodes:                 # emitted in order: producers come first
            if any(i in reached for i in node.inputs):
                reached.update(node.outputs)
        for o in outputs:
            if o not in reached:
                src = shown(inputs[0]) if len(inputs) == 1 else "any input"
                raise UnsupportedOpError(f"the output {shown(o)} does not depend on {'the input ' if len(inputs) == 1 else ''}{src}",
                                         where=where, hint="the output must be computed from the input; "
                                         "the file may be corrupt")
        return Graph(name, self.nodes, self.tensors, list(inputs), list(outputs), meta)
