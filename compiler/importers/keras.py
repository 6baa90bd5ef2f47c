"""Keras → IR, without TensorFlow or Keras: the model config is JSON, the weights are HDF5 (h5py).

Reads Keras 2 / tf.keras `.h5` files (root attribute `model_config`, weights under `model_weights/<layer>`
in the order of the group's `weight_names`) and Keras 3 `.keras` zips (`config.json` +
`model.weights.h5`, weights under `layers/<layer>/vars/<i>` in creation order).  Keras is channels-last,
so feature maps are already NHWC.  Sequential and functional models; one call per layer (shared
layers are refused)."""
from __future__ import annotations

import io
import json
import lzma
import os
import re
import zipfile
import zlib

import numpy as np

from .keras_recurrent import bidirectional as keras_bidirectional, gru as keras_gru, lstm as keras_lstm
from .keras_recurrent import simple_rnn as keras_simple_rnn
from .keras_einsum import einsum_dense
from .keras_ops import OPERATIONS, get_item, is_operation, tensors_only
from .runtime_float import why as runtime_float_why
from ..errors import EdgecError, InputDataError, ModelFormatError, UnsupportedOpError
from ..ir import Graph
from .lowering import conv_transpose, maximum, minimum, prelu
from .. import elementwise, resize
from .builder import (MAX_FILE_BYTES, GraphBuilder, check_node_count, check_file_size, check_shape, limit_hint,
                      importer_entry, shown, fix_input_shape, given_by_name)
from .reasons import Reasons

MAX_JSON_BYTES = 16 << 20        # config.json / model_config: real ones are kilobytes
RESAVE = "the file may be truncated or altered; re-save the model"
#: why a Lambda layer is refused, and what to do (its function is Python bytecode, not a layer config)
LAMBDA_WHY = (" — a Lambda layer's Python function is saved as Python bytecode, not as a layer config edgec can "
              "read; rewrite it with built-in Keras layers, or export the model to ONNX with "
              "model.export('model.onnx', format='onnx') and compile that")
#: what reading a damaged archive or HDF5 file raises (zipfile, zlib, lzma, bz2, h5py), besides EdgecError
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, NotImplementedError, EOFError,
               zipfile.BadZipFile, zlib.error, lzma.LZMAError, RecursionError)


def _layers_of(config: dict) -> tuple[list, bool]:
    cfg = config.get("config", {})
    layers = cfg if isinstance(cfg, list) else cfg.get("layers") if isinstance(cfg, dict) else None
    if not isinstance(layers, list):
        raise ModelFormatError("model config has no layer list")
    return layers, config.get("class_name") == "Sequential"


def _check_layers(layers: list, path: str) -> None:
    """Each layer is {"class_name": str, "config": {...}} with a string name: the shape of every Keras config."""
    check_node_count(len(layers), "layers", path)
    for i, l in enumerate(layers):
        cfg = l.get("config") if isinstance(l, dict) else None
        name = (l.get("name") or cfg.get("name")) if isinstance(cfg, dict) else None
        if not isinstance(cfg, dict) or not isinstance(l.get("class_name"), str) or not isinstance(name, str):
            raise ModelFormatError(f"layer {i} of the model config is malformed (it needs a class_name, a name and a "
                                   "config)", where=path, hint=RESAVE)


def _json(raw, what: str, path: str) -> dict:
    """A JSON object from a member or an attribute, size-checked and refused cleanly when it is not one."""
    if isinstance(raw, np.ndarray) and raw.shape == ():
        raw = raw.item()
    if not isinstance(raw, (str, bytes)):
        raise ModelFormatError(f"{what} is not text (it is {type(raw).__name__})", where=path, hint=RESAVE)
    if len(raw) > MAX_JSON_BYTES:
        raise ModelFormatError(f"{what} of {len(raw):,} bytes is larger than the {MAX_JSON_BYTES:,} edgec reads",
                               where=path, hint=limit_hint(f"{MAX_JSON_BYTES:,} bytes of model config"))
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as e:        # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelFormatError(f"{what} is not valid JSON ({type(e).__name__})", where=path, hint=RESAVE) from None
    if not isinstance(obj, dict):
        raise ModelFormatError(f"{what} is not a JSON object", where=path, hint=RESAVE)
    return obj


def _check_members(z: zipfile.ZipFile, path: str) -> None:
    """A .keras archive is read in memory, never extracted; still, a member whose name would leave the
    archive's directory (absolute, a drive, '..') marks an altered or hostile file: refuse it by name."""
    for name in z.namelist():
        norm = name.replace("\\", "/")
        if "\x00" in name or norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in norm.split("/"):
            raise ModelFormatError(f"archive member '{shown(name)}' points outside the archive's directory", where=path,
                                   hint="a Keras archive holds config.json, metadata.json and model.weights.h5; "
                                        "this one was altered: re-save the model")


def _member(z: zipfile.ZipFile, name: str, limit: int, path: str) -> bytes:
    """A member's bytes, refused before decompression when it would unpack to more than `limit` (zip bombs);
    zipfile stops at the declared size, so a member that lies about its size cannot get past the limit."""
    info = z.getinfo(name)
    if info.file_size > limit:
        raise ModelFormatError(f"archive member {name} unpacks to {info.file_size:,} bytes, more than the {limit:,} "
                               "edgec reads", where=path, hint=limit_hint(f"{limit:,} bytes for {name}"))
    return z.read(info)


class _Weights:
    """Per-layer weight arrays in creation order, from either file layout: `keras3` is the .keras
    archive's `layers/<name>/vars/<i>`; otherwise the legacy `model_weights/<layer>` + `weight_names`.
    Every dataset is checked (numeric, shape within the resource limits) before it is read."""

    def __init__(self, h5, keras3: bool):
        import h5py
        self.h5, self.keras3, self.h5py = h5, keras3, h5py
        self.by_name = {}
        if keras3 and isinstance(h5.get("layers"), h5py.Group):
            for key, grp in h5["layers"].items():
                if not isinstance(grp, h5py.Group):
                    continue
                vars_ = grp.get("vars")
                name = vars_.attrs.get("name", key) if isinstance(vars_, h5py.Group) else key
                name = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
                if isinstance(name, str):
                    self.by_name[name] = grp
                self.by_name.setdefault(key, grp)

    def array(self, ds, what: str) -> np.ndarray:
        if not isinstance(ds, self.h5py.Dataset):
            raise ModelFormatError(f"weight {shown(what)} is not a dataset", hint=RESAVE)
        if ds.dtype.kind not in "fiub":
            raise ModelFormatError(f"weight {shown(what)} has dtype {ds.dtype}, not a number", hint=RESAVE)
        check_shape(ds.shape if ds.shape is not None else "(null)", f"weight {shown(what)}", None, allow_empty=True)
        return np.asarray(ds[()])

    def get(self, layer: str) -> list:
        if self.keras3:
            grp = self.by_name.get(layer)
            v = grp.get("vars") if grp is not None else None
            if isinstance(v, self.h5py.Group) and not len(v) and isinstance(grp.get("cell"), self.h5py.Group):
                v = grp["cell"].get("vars")           # a recurrent layer keeps its weights in its cell
            if isinstance(v, self.h5py.Group) and not len(v) and isinstance(grp.get("layer"), self.h5py.Group):
                v = grp["layer"].get("vars")          # TimeDistributed keeps them in the layer it wraps
            if isinstance(v, self.h5py.Group) and not len(v) and all(
                    isinstance(grp.get(k), self.h5py.Group) for k in ("forward_layer", "backward_layer")):
                out = []                              # Bidirectional: the forward layer's weights, then the backward's
                for k in ("forward_layer", "backward_layer"):
                    cv = grp[k].get("cell/vars")
                    out += [self.array(cv[str(i)], f"{layer}/{k}/cell/vars/{i}") for i in range(len(cv))] \
                        if isinstance(cv, self.h5py.Group) else []
                return out
            if not isinstance(v, self.h5py.Group):
                return []
            return [self.array(v[str(i)], f"{layer}/vars/{i}") for i in range(len(v))]
        root = self.h5["model_weights"] if "model_weights" in self.h5 else self.h5
        if not isinstance(root, self.h5py.Group) or layer not in root:
            return []
        grp = root[layer]
        if not isinstance(grp, self.h5py.Group):
            raise ModelFormatError(f"model_weights/{shown(layer)} is not a group", hint=RESAVE)
        names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in grp.attrs.get("weight_names", [])]
        if not all(isinstance(n, str) for n in names):
            raise ModelFormatError(f"weight_names of layer {shown(layer)} are not names", hint=RESAVE)
        return [self.array(grp[n], n) for n in names]


class _KerasImporter(GraphBuilder):
    def __init__(self, path, config, weights, keras_version, input_shapes=None, sample_shape=None):
        super().__init__(os.path.basename(path))
        self.path, self.config, self.w = path, config, weights
        self.input_shapes, self.sample_shape = input_shapes or {}, sample_shape
        self.reasons = Reasons(os.path.basename(path), "layer")
        self.guessed = False         # a layer's output is a stand-in: later shape errors may be its echo
        self.keras3 = keras_version.startswith("3")
        self.out = {}                # keras layer name -> IR tensor
        self.input_rescaling = None  # the Rescaling/Normalization layer the input goes into, if any
        self.stood_in = set()        # layers whose output is a stand-in (see _stand_in)
        self.frames = set()          # IR tensors [T, H, W, C] holding a Keras [1, T, H, W, C] (see _input)
        self.prev_stood_in = False   # Sequential: the previous layer's output is one

    def where(self, layer):
        cfg = layer.get("config") if isinstance(layer, dict) else None
        name = (layer.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)) if isinstance(layer, dict) else None
        cls = layer.get("class_name") if isinstance(layer, dict) else None
        return f"{os.path.basename(self.path)}: layer {shown(name or '?')} ({shown(cls or '?')})"

    def run(self) -> Graph:
        """Every reason the model cannot compile is collected (self.reasons: unsupported layer classes,
        inputs of dynamic shape nothing fixes, unsupported config values) and raised at once.  A layer
        that cannot be imported passes its first input on as a stand-in, so the layers after it are
        still checked; once anything is a stand-in, errors of other kinds are taken as its echo."""
        layers, sequential = _layers_of(self.config)
        _check_layers(layers, os.path.basename(self.path))
        self.given = given_by_name(self.input_shapes, _input_names(layers, sequential), os.path.basename(self.path))
        inputs, blocked = [], set()
        prev = None
        # an unsupported layer class is refused whatever else holds: errors of other kinds may be its echo
        self.guessed = any(not _supported(l) for l in layers)
        for i, layer in enumerate(layers):
            self.context = self.where(layer)
            name = layer.get("name") or layer["config"].get("name")
            try:
                if blocked and not sequential and layer["class_name"] != "InputLayer" and blocked & set(self._inbound(layer)):
                    blocked.add(name)                     # reads what could not be stood in for
                    continue
                if not _supported(layer):
                    self.reasons.op(f"layer {shown(name)} ({shown(layer['class_name'])}): unsupported layer"
                                    f"{' (a Keras operation called with arguments other than tensors)' if is_operation(layer) else ''}"
                                    f"{LAMBDA_WHY if layer['class_name'] == 'Lambda' else runtime_float_why(layer['class_name'])}")
                    prev = self._stand_in(layer, name, prev, sequential, blocked)
                    continue
                prev = self._layer(layer, prev, inputs, sequential)
                self.prev_stood_in = False
            except UnsupportedOpError as e:
                self.reasons.value(e, self.where(layer))
                prev = self._stand_in(layer, name, prev, sequential, blocked)
            except EdgecError as e:
                if self.guessed and not isinstance(e, InputDataError):
                    prev = self._stand_in(layer, name, prev, sequential, blocked)
                    continue
                if e.where is None:
                    raise type(e)(str(e), where=self.where(layer)) from None
                raise
            except (KeyError, IndexError, ValueError, TypeError, AttributeError, ZeroDivisionError, OverflowError,
                    RecursionError, OSError, RuntimeError) as e:
                if self.guessed:
                    prev = self._stand_in(layer, name, prev, sequential, blocked)
                    continue
                raise ModelFormatError(f"malformed layer config or weights ({type(e).__name__}: {shown(str(e))[:120]})",
                                       where=self.where(layer), hint=RESAVE) from None
        self.reasons.raise_all(f"supported layers: {', '.join(sorted(LAYERS))}")
        self.context = self.source
        if sequential:
            outputs = [prev] if prev is not None else []
        else:
            try:
                outputs = [self.out[_key(ref)] for ref in _refs(self.config["config"]["output_layers"])]
            except (KeyError, IndexError, TypeError):
                raise ModelFormatError("the model config's output_layers do not name layers of the model",
                                       where=os.path.basename(self.path), hint=RESAVE) from None
        name = os.path.splitext(os.path.basename(self.path))[0]
        meta = {"source": os.path.abspath(self.path), "format": "keras"}
        if self.input_rescaling:
            meta["input_rescaling"] = self.input_rescaling
        if not sequential and (len(inputs) > 1 or len(outputs) > 1):     # the C API and .npz keys use the layers' names
            meta["output_names"] = [ref[0] for ref in _refs(self.config["config"]["output_layers"])]
        return self.graph(name, inputs, outputs, meta)

    def _input(self, name, shape):
        """The input tensor: dynamic (None) dims from --input-shape, else from the calibration data
        where that is unambiguous; else a placeholder and a reason naming them (the batch is 1)."""
        if not isinstance(shape, (list, tuple)) or len(shape) < 2:
            raise ModelFormatError(f"input shape {shown(shape)[:60]} is not [batch, dims...]", hint=RESAVE)
        declared = [None] + [d if d is None else int(d) for d in shape[1:]]
        samples = self.sample_shape() if callable(self.sample_shape) else self.sample_shape
        dims, why = fix_input_shape(name, declared, self.given.get(name),
                                    tuple(int(d) for d in samples) if samples is not None and None in declared[1:] else None,
                                    [d if d is not None else n for d, n in zip(declared, _dim_names(len(declared)))],
                                    channels_last=True)
        if why:
            self.reasons.input(why)
            self.guessed = True
        if len(dims) == 5 and dims[0] == 1:   # a clip of frames [1, T, H, W, C]: T in the batch, for
            t = self.add_tensor(name, list(dims[1:]))   # TimeDistributed 2-D layers (_time_distributed)
            self.frames.add(t)
            return t
        return self.add_tensor(name, list(dims))

    def _stand_in(self, layer, name, prev, sequential, blocked):
        """A layer that could not be imported: its first input stands in for its output (most layers
        keep the shape), so the layers after it are still checked.  Returns the new `prev`."""
        self.guessed = True
        self.stood_in.add(name)
        self.prev_stood_in = True
        if sequential:
            return prev
        try:
            refs = self._inbound(layer)
        except EdgecError:
            refs = []
        if refs and isinstance(refs[0], str) and refs[0] in self.out:
            self.out[name] = self.out[refs[0]]
            return self.out[name]
        blocked.add(name)
        return prev

    def _layer(self, layer, prev, inputs, sequential):
        cfg = layer["config"]
        name = layer.get("name") or cfg.get("name")
        if name in self.out:
            raise UnsupportedOpError(f"a second layer named {shown(name)}", hint="layer names must be unique")
        if layer["class_name"] == "InputLayer":
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            prev = self.out[name] = self._input(name, shape)
            inputs.append(prev)
            return prev
        if sequential:
            if prev is None:                      # Keras 2 Sequential without InputLayer
                shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
                if not shape:
                    raise ModelFormatError("the first layer declares no input shape", where=self.where(layer))
                prev = self._input("input", shape)
                inputs.append(prev)
            ins = self._recorded([prev], [self.prev_stood_in], layer)
        else:
            refs = self._inbound(layer)
            missing = [r for r in refs if not isinstance(r, str) or r not in self.out]
            if missing or not refs:
                raise ModelFormatError(f"inputs {shown(missing)[:80] if missing else '(none)'} are not earlier layers",
                                       hint="the layer list is not in call order or names unknown layers; " + RESAVE)
            ins = self._recorded([self.out[n] for n in refs], [n in self.stood_in for n in refs], layer)
            if len(ins) != 1 and layer["class_name"] not in MERGING and not is_operation(layer):
                raise UnsupportedOpError(f"{layer['class_name']} called on {len(ins)} inputs",
                                         hint=f"only {', '.join(MERGING)} take several inputs")
        framed = bool(self.frames) and any(t in self.frames for t in ins)
        if framed:
            ins = self._clip_in(layer, name, ins)
        if layer["class_name"] in ("Rescaling", "Normalization") and all(t in inputs for t in ins):
            self.input_rescaling = layer["class_name"]     # it normalises raw pixels: edgec.host.preprocess
        self.layer = layer                                 # the whole entry, for ops whose arguments ride in it
        prev = self.out[name] = _handler(layer)(self, name, cfg, ins, self.w.get(name))
        if isinstance(prev, list):                         # a layer of several outputs (Bidirectional, merge_mode None)
            for k, t in enumerate(prev):
                self.out[_key((name, 0, k))] = t
            prev = self.out[name] = prev[0]
        if framed and layer["class_name"] in PER_FRAME_ANYWHERE:
            self.frames.add(prev)
        return prev

    def _clip_in(self, layer, name, ins):
        """The inputs of a layer reading a clip of frames (an IR [T, H, W, C] for Keras' [1, T, H, W, C],
        _input): Flatten and Reshape see it as [1, T, H*W*C] (the same element order); TimeDistributed
        and element-wise layers take the frames as they are; any other layer would mistake T for the
        batch, and is refused."""
        cls = layer["class_name"]
        if cls in ("Flatten", "Reshape") and ins[0] in self.frames:
            t, h, w, c = self.shape_of(ins[0])
            return [self.emit("Reshape", f"{name}_clip", [ins[0]], None, {"shape": (1, t, h * w * c)})] + ins[1:]
        if cls not in ("TimeDistributed", *PER_FRAME_ANYWHERE) or (cls != "TimeDistributed" and len(ins) != 1):
            raise UnsupportedOpError(f"{cls} of a rank-5 clip of frames",
                                     hint="wrap per-frame layers in TimeDistributed; end the frames with "
                                          "TimeDistributed(Flatten / GlobalAveragePooling2D) or Flatten")
        return ins

    def _recorded(self, ins, stood_in, layer):
        """Inputs that are stand-ins (a layer that could not be imported passed its input on) are replaced
        by a placeholder of the shape Keras 3 recorded for them (the inbound node's tensor shapes, a
        Sequential layer's build_config), so a layer after an unsupported one that changes the shape
        (GlobalMaxPooling1D -> Dense) is checked as it really is instead of raising echo reasons."""
        if not any(stood_in):
            return ins
        shapes = _recorded_shapes(layer)
        out = []
        for k, (t, stood) in enumerate(zip(ins, stood_in)):
            shape = shapes[k] if k < len(shapes) else None
            if stood and isinstance(shape, list) and len(shape) >= 2 and \
                    all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape[1:]):
                t = self.add_tensor(f"{t}_stand_in", [1] + shape[1:])
            out.append(t)
        return out

    def _inbound(self, layer) -> list:
        nodes = layer.get("inbound_nodes") or []
        if not isinstance(nodes, list) or len(nodes) != 1:
            raise UnsupportedOpError(f"layer called {len(nodes) if isinstance(nodes, list) else '?'} times "
                                     "(shared layers are not supported)", where=self.where(layer))
        node = nodes[0]
        if isinstance(node, dict):                     # Keras 3: {"args": [...], "kwargs": {...}}
            names = []
            stack = [node.get("args", [])]
            while stack:                               # iterative: the JSON may nest deeply
                v = stack.pop()
                if isinstance(v, dict):
                    if v.get("class_name") == "__keras_tensor__":
                        names.append(_key(v["config"]["keras_history"]))
                    else:
                        stack.extend(reversed(list(v.values())))
                elif isinstance(v, list):
                    stack.extend(reversed(v))
            return names
        return [_key(ref) for ref in node]             # Keras 2: [[name, node, tensor, kwargs], ...]


def _key(ref):
    """The name of a layer's output in `out`: the layer's name for its first output (or only one), the
    name and the index after a unit separator for the others (a layer of several outputs:
    Bidirectional with merge_mode None).  `ref` is a keras_history / Keras 2 inbound ref
    [name, node, tensor, ...]."""
    name = ref[0]
    k = ref[2] if len(ref) > 2 and isinstance(ref[2], int) and not isinstance(ref[2], bool) else 0
    return name if not k or not isinstance(name, str) else f"{name}\x1f{k}"


def _recorded_shapes(layer) -> list:
    """The input shapes Keras 3 wrote for a layer: its inbound node's tensors (functional) or its
    build_config (Sequential); [] when there are none (Keras 2)."""
    nodes = layer.get("inbound_nodes")
    if isinstance(nodes, list) and len(nodes) == 1 and isinstance(nodes[0], dict):
        shapes, stack = [], [nodes[0].get("args", [])]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                if v.get("class_name") == "__keras_tensor__":
                    shapes.append((v.get("config") or {}).get("shape"))
                else:
                    stack.extend(reversed(list(v.values())))
            elif isinstance(v, list):
                stack.extend(reversed(v))
        return shapes
    build = layer.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    return [shape] if isinstance(shape, list) and all(not isinstance(d, list) for d in shape) else []


def _supported(layer) -> bool:
    """A Keras 3 operation (`x + 3.0`) is imported by keras_ops.OPERATIONS, or by the layer of the same
    name only when its call is that layer's call (tensors only): an operation's numbers are never
    dropped."""
    cls = layer["class_name"]
    if is_operation(layer) and cls not in OPERATIONS:
        return cls in LAYERS and tensors_only(layer)
    return cls in LAYERS or cls in OPERATIONS


def _handler(layer):
    """The importer of a supported layer entry (_supported)."""
    cls = layer["class_name"]
    return OPERATIONS[cls] if is_operation(layer) and cls in OPERATIONS else LAYERS[cls]


def _dim_names(rank: int) -> list:
    """What the dims of a channels-last Keras input are, for naming the dynamic ones."""
    return ["batch", "H", "W", "C"] if rank == 4 else ["batch", "steps", "C"] if rank == 3 else ["batch"] + ["?"] * (rank - 1)


def _input_names(layers: list, sequential: bool) -> list:
    """The names the model's inputs get (what --input-shape NAME= refers to)."""
    names = [l.get("name") or l["config"].get("name") for l in layers if l["class_name"] == "InputLayer"]
    return names if names or not sequential else ["input"]


def _refs(v):
    """output_layers is [name, 0, 0] or [[name, 0, 0], ...]."""
    return [v] if v and isinstance(v[0], str) else v


def _pos_ints(cfg, key, default, n=2):
    """cfg[key] as n positive integers (Keras writes 2 or [2, 2]), refused by name otherwise."""
    v = cfg.get(key, default)
    vals = tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
    if len(vals) != n or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in vals):
        raise ModelFormatError(f"{key}={shown(v)[:40]} is not {n} positive integer{'s' if n > 1 else ''}", hint=RESAVE)
    return vals


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def _padding(cfg):
    p = cfg.get("padding", "valid")
    if p not in ("same", "valid"):
        raise UnsupportedOpError(f"padding '{p}'")
    return p


def _check_channels_last(cfg):
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise UnsupportedOpError("data_format channels_first", hint="save the model channels_last")


def _act(b, name, x, cfg):
    kind = cfg.get("activation") or "linear"
    params = {"alpha": 1 / 6 if b.keras3 else 0.2} if kind == "hard_sigmoid" else {}   # Keras 3: relu6(x+3)/6
    return b.activation(name, x, kind, **params)


def _conv2d(b, name, cfg, ins, w):
    _check_channels_last(cfg)
    kernel, bias = w[0], (w[1] if cfg.get("use_bias", True) else None)
    groups = int(cfg.get("groups", 1))
    y = b.conv2d(name, ins[0], np.transpose(kernel, (3, 0, 1, 2)), bias, _pos_ints(cfg, "strides", 1),
                 _pos_ints(cfg, "dilation_rate", 1), _padding(cfg), groups)
    return _act(b, name, y, cfg)


def _depthwise(b, name, cfg, ins, w):
    _check_channels_last(cfg)
    kernel, bias = w[0], (w[1] if cfg.get("use_bias", True) else None)   # [kh, kw, c, mult]
    kh, kw, c, m = kernel.shape
    ohwi = np.transpose(kernel.reshape(kh, kw, c * m), (2, 0, 1))[..., None]   # out channel = c*m + j
    y = b.conv2d(name, ins[0], ohwi, bias, _pos_ints(cfg, "strides", 1), _pos_ints(cfg, "dilation_rate", 1),
                 _padding(cfg), c)
    return _act(b, name, y, cfg)


def _separable(b, name, cfg, ins, w):
    _check_channels_last(cfg)
    dw, pw = w[0], w[1]
    bias = w[2] if cfg.get("use_bias", True) else None
    kh, kw, c, m = dw.shape
    ohwi = np.transpose(dw.reshape(kh, kw, c * m), (2, 0, 1))[..., None]
    y = b.conv2d(f"{name}_depthwise", ins[0], ohwi, None, _pos_ints(cfg, "strides", 1), _pos_ints(cfg, "dilation_rate", 1),
                 _padding(cfg), c)
    y = b.conv2d(f"{name}_pointwise", y, np.transpose(pw, (3, 0, 1, 2)), bias)
    return _act(b, name, y, cfg)


def _conv1d(b, name, cfg, ins, w):
    """[N, L, C] as [N, 1, L, C] through Conv2D."""
    x, n = _as_rows(b, name, ins[0])
    kernel = w[0]                                                          # [k, cin/g, cout]
    bias = w[1] if cfg.get("use_bias", True) else None
    ohwi = np.transpose(kernel, (2, 0, 1))[:, None]                        # [cout, 1, k, cin/g]
    stride, dil = _pos_ints(cfg, "strides", 1, 1)[0], _pos_ints(cfg, "dilation_rate", 1, 1)[0]
    y = b.conv2d(name, x, ohwi, bias, (1, stride), (1, dil), _padding_1d(cfg, kernel.shape[0], dil),
                 int(cfg.get("groups", 1)))
    y = _unrows(b, name, y, n)
    return _act(b, name, y, cfg)


def _as_rows(b, name, x):
    """A 1-D layer's [N, L, C] as the [N, 1, L, C] map the 2-D ops take, and N to undo it with; the
    [N, T, L, C] input of a 1-D layer inside TimeDistributed already is one (T rows, each its own
    sequence: a (1, k) kernel never mixes them), returned as it is with None."""
    shape = b.shape_of(x)
    if len(shape) == 4:
        return x, None
    if len(shape) != 3:
        raise UnsupportedOpError(f"a 1-D layer on a rank-{len(shape)} input", hint="its input is [batch, steps, channels]")
    n, length, c = shape
    return b.emit("Reshape", f"{name}_as_2d", [x], None, {"shape": (n, 1, length, c)}), n


def _unrows(b, name, y, n):
    """_as_rows undone: [N, 1, L', C'] back to [N, L', C'] (n None: the rank-4 input stays rank 4)."""
    if n is None:
        return y
    _, _, lo, co = b.shape_of(y)
    return b.emit("Reshape", f"{name}_as_1d", [y], None, {"shape": (n, lo, co)})


def _padding_1d(cfg, k, dil):
    """A 1-D conv's padding as _padding gives it, or "causal": (k-1)*dilation zeros on the left only, so
    output step t sees inputs up to t (WaveNet, TCNs), as (t, l, b, r) of the [N, 1, L, C] map."""
    return (0, (k - 1) * dil, 0, 0) if cfg.get("padding") == "causal" else _padding(cfg)


def _dense(b, name, cfg, ins, w):
    """Keras applies Dense over the last axis: a rank-3+ input [..., K] is a FullyConnected over its
    rows (a Reshape to [rows, K] and back, aliases: no data moves), as the ONNX importer does MatMul."""
    x = ins[0]
    shape = tuple(b.shape_of(x))
    if len(shape) < 2:
        raise UnsupportedOpError(f"Dense on a rank-{len(shape)} input")
    if len(shape) > 2:
        x = b.emit("Reshape", f"{name}_rows", [x], None, {"shape": (int(np.prod(shape[:-1])), shape[-1])})
    y = b.dense(name, x, w[0].T, w[1] if cfg.get("use_bias", True) else None)
    y = _act(b, name, y, cfg)
    if len(shape) > 2:
        y = b.emit("Reshape", f"{name}_unrows", [y], None, {"shape": shape[:-1] + (b.shape_of(y)[-1],)})
    return y


def _batchnorm(b, name, cfg, ins, w):
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) else axis
    rank = len(b.shape_of(ins[0]))
    if axis % rank != rank - 1:
        raise UnsupportedOpError(f"BatchNormalization over axis {axis}", hint="only the channel (last) axis")
    w = list(w)
    ch = b.shape_of(ins[0])[-1]
    gamma = w.pop(0) if cfg.get("scale", True) else np.ones(ch)
    beta = w.pop(0) if cfg.get("center", True) else np.zeros(ch)
    return b.batchnorm(name, ins[0], gamma, beta, w[0], w[1], cfg.get("epsilon", 1e-3))


def _activation(b, name, cfg, ins, w):
    return _act(b, name, ins[0], cfg)


def _relu(b, name, cfg, ins, w):
    mx, slope, thr = cfg.get("max_value"), float(cfg.get("negative_slope", 0.0) or 0.0), float(cfg.get("threshold", 0.0) or 0.0)
    if thr != 0.0:
        raise UnsupportedOpError("ReLU with a threshold")
    if slope:
        y = b.emit("LeakyRelu", name, ins, None, {"alpha": slope})
        return y if mx is None else b.emit("Clip", f"{name}_max", [y], None, {"min": -np.inf, "max": float(mx)})
    if mx is None:
        return b.emit("Relu", name, ins)
    return b.emit("Clip", name, ins, None, {"min": 0.0, "max": float(mx)})


def _leaky(b, name, cfg, ins, w):
    alpha = cfg.get("negative_slope", cfg.get("alpha", 0.3))
    return b.emit("LeakyRelu", name, ins, None, {"alpha": float(alpha)})


def _binary(op):
    def f(b, name, cfg, ins, w):
        y = ins[0]
        for k, other in enumerate(ins[1:]):
            y = b.emit(op, name if k == len(ins) - 2 else f"{name}_{k}", [y, other], None, {"act": None})
        return y
    return f


def _concat(b, name, cfg, ins, w):
    rank = len(b.shape_of(ins[0]))
    return b.emit("Concat", name, ins, None, {"axis": int(cfg.get("axis", -1)) % rank})


def _pool(op, global_=False):
    def f(b, name, cfg, ins, w):
        _check_channels_last(cfg)
        x = ins[0]
        n, h, wd, c = b.shape_of(x)
        if global_:
            y = b.pool(op, name, x, (h, wd), (1, 1), (0, 0, 0, 0))
            if cfg.get("keepdims"):
                return y
            return b.emit("Reshape", f"{name}_flat", [y], None, {"shape": (n, c)})   # n: 1, or a clip's frames
        pool = _pos_ints(cfg, "pool_size", 2)
        strides = _pos_ints(cfg, "strides", None) if cfg.get("strides") else pool
        return b.pool(op, name, x, pool, strides, _padding(cfg))
    return f


def _flatten(b, name, cfg, ins, w):
    shape = b.shape_of(ins[0])
    return b.emit("Reshape", name, ins, None, {"shape": (shape[0], int(np.prod(shape[1:])))})


def _reshape(b, name, cfg, ins, w):
    target = [int(d) for d in cfg["target_shape"]]
    size = int(np.prod(b.shape_of(ins[0])[1:]))
    if -1 in target:
        target[target.index(-1)] = size // int(np.prod([d for d in target if d != -1]))
    return b.emit("Reshape", name, ins, None, {"shape": tuple([1] + target)})


def _identity(b, name, cfg, ins, w):
    return ins[0]


def _zero_pad(b, name, cfg, ins, w):
    _check_channels_last(cfg)
    p = cfg.get("padding", 1)
    if isinstance(p, int):
        (t, bt), (l, r) = (p, p), (p, p)
    else:
        (t, bt), (l, r) = [_pair(x) for x in p]
    return b.emit("Pad", name, ins, None, {"pads": (0, t, l, 0, 0, bt, r, 0)})


def _affine(b, name, x, mul, add):
    """x * mul + add with per-channel (or scalar) constants."""
    y = b.emit("Mul", f"{name}_mul", [x, b.const(f"{name}_k", np.atleast_1d(mul))], None, {"act": None})
    return b.emit("Add", name, [y, b.const(f"{name}_c", np.atleast_1d(add))], None, {"act": None})


def _rescaling(b, name, cfg, ins, w):
    return _affine(b, name, ins[0], np.asarray(cfg.get("scale", 1.0), np.float64), np.asarray(cfg.get("offset", 0.0), np.float64))


def _normalization(b, name, cfg, ins, w):
    if cfg.get("mean") is not None and not w:
        mean, var = np.asarray(cfg["mean"], np.float64), np.asarray(cfg["variance"], np.float64)
    else:
        mean, var = w[0].astype(np.float64), w[1].astype(np.float64)
    if cfg.get("invert"):
        raise UnsupportedOpError("Normalization with invert=True")
    k = 1.0 / np.sqrt(np.maximum(var, 1e-7))
    return _affine(b, name, ins[0], k.reshape(-1), (-mean * k).reshape(-1))


def _softmax(b, name, cfg, ins, w):
    axis = cfg.get("axis", -1)
    if (axis[0] if isinstance(axis, list) else axis) not in (-1, len(b.shape_of(ins[0])) - 1):
        raise UnsupportedOpError("Softmax over a non-last axis")
    return b.emit("Softmax", name, ins)


def _unit_normalization(b, name, cfg, ins, w):
    """x * rsqrt(max(sum(x^2), 1e-12)) over one axis: L2Normalize with eps 1e-6 on the norm (compiler/ops/l2norm.py)."""
    rank = len(b.shape_of(ins[0]))
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if not isinstance(axis, int) or isinstance(axis, bool) or not -rank < axis < rank or axis % rank == 0:
        raise UnsupportedOpError(f"UnitNormalization over axis {axis} of a rank-{rank} tensor",
                                 hint="normalize over one axis other than the batch (axis=-1)")
    return b.emit("L2Normalize", name, ins[:1], None, {"axis": axis % rank, "eps": 1e-6})


def _conv2d_transpose(b, name, cfg, ins, w):
    """Keras kernel [kh, kw, out, in]; "same" gives in * stride, "valid" (in - 1) * stride + k (the
    padding TensorFlow puts on a strided transposed conv: the smaller half first)."""
    _check_channels_last(cfg)
    kernel, bias = w[0], (w[1] if cfg.get("use_bias", True) else None)
    kh, kw = kernel.shape[:2]
    s, d = _pos_ints(cfg, "strides", 1), _pos_ints(cfg, "dilation_rate", 1)
    if cfg.get("output_padding") is not None:
        raise UnsupportedOpError("Conv2DTranspose with output_padding", hint="use padding 'same' or 'valid'")
    _, h, wd, _ = b.shape_of(ins[0])
    pads = [0, 0, 0, 0]
    if _padding(cfg) == "same":
        for i, (n, k, st, dl) in enumerate(zip((h, wd), (kh, kw), s, d)):
            total = max((n - 1) * st + dl * (k - 1) + 1 - n * st, 0)
            pads[i], pads[i + 2] = total // 2, total - total // 2
    out_pad = [0, 0]
    for i, (k, st, dl) in enumerate(zip((kh, kw), s, d)):
        if _padding(cfg) == "same" and dl * (k - 1) + 1 < st:          # "same" still gives in * stride
            out_pad[i] = st - (dl * (k - 1) + 1)
    y = conv_transpose(b, name, ins[0], np.transpose(kernel, (3, 2, 0, 1)), bias, s, pads, out_pad, d, 1)
    return _act(b, name, y, cfg)


def _upsampling2d(b, name, cfg, ins, w):
    _check_channels_last(cfg)
    sh, sw = _pos_ints(cfg, "size", 2)
    how = cfg.get("interpolation", "nearest")
    if how == "nearest":
        return b.emit("Upsample", name, ins, None, {"scale": (sh, sw)})
    if how != "bilinear":
        raise UnsupportedOpError(f"UpSampling2D interpolation '{shown(how)}'", hint="nearest or bilinear")
    _, h, wd, _ = b.shape_of(ins[0])
    return b.emit("Resize", name, ins, None, {"size": (h * sh, wd * sw), "mode": "linear", "coord": "half_pixel",
                                              "scale": (float(sh), float(sw))})


def _cropping2d(b, name, cfg, ins, w):
    _check_channels_last(cfg)
    c = cfg.get("cropping", ((0, 0), (0, 0)))
    (t, bt), (l, r) = [_pair(x) for x in c] if isinstance(c, (list, tuple)) else ((c, c), (c, c))
    n, h, wd, ch = b.shape_of(ins[0])
    if t + bt >= h or l + r >= wd:
        raise UnsupportedOpError(f"Cropping2D of {(t, bt, l, r)} leaves nothing of {h}x{wd}")
    return b.emit("Slice", name, ins, None, {"begin": (0, t, l, 0), "end": (n, h - bt, wd - r, ch)})


def _permute(b, name, cfg, ins, w):
    dims = [int(d) for d in cfg["dims"]]
    if sorted(dims) != list(range(1, len(dims) + 1)):
        raise ModelFormatError(f"Permute dims {dims}", hint=RESAVE)
    return b.emit("Transpose", name, ins, None, {"perm": tuple([0] + dims)})


def _global_1d(op):
    """GlobalAveragePooling1D / GlobalMaxPooling1D: one (1, L) pool of the [N, 1, L, C] map."""
    def f(b, name, cfg, ins, w):
        _check_channels_last(cfg)
        x, n = _as_rows(b, name, ins[0])
        length, c = b.shape_of(x)[2:]
        y = b.pool(op, name, x, (1, length), (1, 1), (0, 0, 0, 0))
        lead = (n,) if n is not None else tuple(b.shape_of(x)[:2])
        return b.emit("Reshape", f"{name}_flat", [y], None, {"shape": lead + ((1, c) if cfg.get("keepdims") else (c,))})
    return f


_global_avg_1d = _global_1d("AvgPool2D")


def _depthwise_1d(b, name, cfg, ins, w, pointwise=False):
    """DepthwiseConv1D / SeparableConv1D: [N, L, C] as [N, 1, L, C] through the 2-D convs."""
    _check_channels_last(cfg)
    x, n = _as_rows(b, name, ins[0])
    c = b.shape_of(x)[-1]
    dw = w[0]                                                             # [k, c, mult]
    k, _, m = dw.shape
    ohwi = np.transpose(dw.reshape(k, c * m), (1, 0))[:, None, :, None]   # out channel = c*m + j
    stride, dil = _pos_ints(cfg, "strides", 1, 1)[0], _pos_ints(cfg, "dilation_rate", 1, 1)[0]
    bias = w[-1] if cfg.get("use_bias", True) else None
    y = b.conv2d(f"{name}_depthwise" if pointwise else name, x, ohwi, None if pointwise else bias, (1, stride),
                 (1, dil), _padding_1d(cfg, k, dil), c)
    if pointwise:
        y = b.conv2d(f"{name}_pointwise", y, np.transpose(w[1], (2, 0, 1))[:, None], bias)
    y = _unrows(b, name, y, n)
    return _act(b, name, y, cfg)


def _pool_1d(op):
    """MaxPooling1D / AveragePooling1D: [N, L, C] as [N, 1, L, C] through the 2-D pools."""
    def f(b, name, cfg, ins, w):
        _check_channels_last(cfg)
        x, n = _as_rows(b, name, ins[0])
        k = _pos_ints(cfg, "pool_size", 2, 1)[0]
        st = _pos_ints(cfg, "strides", None, 1)[0] if cfg.get("strides") else k
        y = b.pool(op, name, x, (1, k), (1, st), _padding(cfg))
        return _unrows(b, name, y, n)
    return f


def _extremum(fn):
    def f(b, name, cfg, ins, w):
        y = ins[0]
        for k, other in enumerate(ins[1:]):
            y = fn(b, name if k == len(ins) - 2 else f"{name}_{k}", y, other)
        return y
    return f


def _prelu(b, name, cfg, ins, w):
    """Keras stores alpha over the input's non-batch axes, size 1 along `shared_axes`."""
    alpha = np.asarray(w[0], np.float32)
    return prelu(b, name, ins[0], alpha.reshape((1,) + alpha.shape))


def _average(b, name, cfg, ins, w):
    y = _binary("Add")(b, f"{name}_sum", cfg, ins, w)
    return b.emit("Mul", name, [y, b.const(f"{name}_1_over_n", np.array([1.0 / len(ins)]))], None, {"act": None})


def _steps_box(b, x, before, after):
    """(before, after) on the steps axis of a 1-D layer's input (axis -2: [N, L, C], or [N, T, L, C]
    inside TimeDistributed) as per-axis lists, refused by name unless they are non-negative integers."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (before, after)):
        raise ModelFormatError(f"({shown(before)}, {shown(after)}) is not two non-negative integers", hint=RESAVE)
    rank = len(b.shape_of(x))
    lo, hi = [0] * rank, [0] * rank
    lo[rank - 2], hi[rank - 2] = before, after
    return lo, hi


def _zero_pad_1d(b, name, cfg, ins, w):
    lo, hi = _steps_box(b, ins[0], *_pair(cfg.get("padding", 1)))
    return b.emit("Pad", name, ins, None, {"pads": tuple(lo + hi)})


def _cropping_1d(b, name, cfg, ins, w):
    lo, hi = _steps_box(b, ins[0], *_pair(cfg.get("cropping", 1)))
    shape = b.shape_of(ins[0])
    if lo[-2] + hi[-2] >= shape[-2]:
        raise UnsupportedOpError(f"Cropping1D of {(lo[-2], hi[-2])} leaves nothing of {shape[-2]} steps")
    return b.emit("Slice", name, ins, None, {"begin": tuple(lo), "end": tuple(d - h for d, h in zip(shape, hi))})


def _upsampling_1d(b, name, cfg, ins, w):
    """Each step repeated `size` times: nearest Upsample of the [N, 1, L, C] map by (1, size)."""
    x, n = _as_rows(b, name, ins[0])
    y = b.emit("Upsample", name, [x], None, {"scale": (1, _pos_ints(cfg, "size", 2, 1)[0])})
    return _unrows(b, name, y, n)


def _conv1d_transpose(b, name, cfg, ins, w):
    """Conv2DTranspose of the [N, 1, L, C] map with a (1, k) kernel (Keras kernel [k, out, in])."""
    x, n = _as_rows(b, name, ins[0])
    cfg2 = dict(cfg, strides=(1, _pos_ints(cfg, "strides", 1, 1)[0]), dilation_rate=(1, _pos_ints(cfg, "dilation_rate", 1, 1)[0]))
    if cfg.get("output_padding") is not None:
        raise UnsupportedOpError("Conv1DTranspose with output_padding", hint="use padding 'same' or 'valid'")
    y = _conv2d_transpose(b, name, cfg2, [x], [np.asarray(w[0])[None]] + list(w[1:]))
    return _unrows(b, name, y, n)


def _elu(b, name, cfg, ins, w):
    return b.emit("Elu", name, ins, None, {"alpha": float(cfg.get("alpha", 1.0))})


def _thresholded_relu(b, name, cfg, ins, w):
    """Keras 2's ThresholdedReLU: x where x > theta, else 0 (ONNX's ThresholdedRelu: the same program)."""
    return b.emit("Elementwise", name, ins, None, {"program": elementwise.threshold(float(cfg.get("theta", 1.0)), 0.0)})


def _resizing(b, name, cfg, ins, w):
    """Keras 3 resizes as torch's interpolate (align_corners False) and TensorFlow's half-pixel resize:
    bilinear is half_pixel linear, nearest is half_pixel rounding halves up ("nearest-exact"); an
    integer upscale that is a plain repeat is Upsample (a copy loop), as the ONNX importer decides."""
    _check_channels_last(cfg)
    _, h, wd, _ = b.shape_of(ins[0])
    oh, ow = _pos_ints({"size": (cfg.get("height"), cfg.get("width"))}, "size", None)
    how = cfg.get("interpolation", "bilinear")
    if how not in ("nearest", "bilinear"):
        raise UnsupportedOpError(f"Resizing interpolation '{shown(how)}'", hint="nearest or bilinear")
    if (cfg.get("crop_to_aspect_ratio") or cfg.get("pad_to_aspect_ratio")) and h * ow != wd * oh:
        raise UnsupportedOpError("Resizing that crops or pads to another aspect ratio",
                                 hint="resize to the input's aspect ratio, or crop/pad before the model")
    if cfg.get("antialias") and how == "bilinear" and (oh < h or ow < wd):
        raise UnsupportedOpError("Resizing down with antialias=True", hint="antialias=False")
    mode, coord, nearest = ("linear" if how == "bilinear" else "nearest"), "half_pixel", "round_prefer_ceil"
    fh, fw = oh // h, ow // wd
    probe = [resize.axis_taps(h, oh, oh / h, mode, coord, nearest), resize.axis_taps(wd, ow, ow / wd, mode, coord, nearest)]
    if mode == "nearest" and fh * h == oh and fw * wd == ow and \
            all((t[0] == np.arange(len(t[0])) // f).all() for t, f in zip(probe, (fh, fw))):
        return b.emit("Upsample", name, ins, None, {"scale": (fh, fw)})
    return b.emit("Resize", name, ins, None, {"size": (oh, ow), "mode": mode, "coord": coord, "nearest": nearest,
                                              "scale": (oh / h, ow / wd)})


def _repeat_vector(b, name, cfg, ins, w):
    """[N, F] -> [N, n, F]: n copies of the row (a Concat: one scale, exact)."""
    shape = b.shape_of(ins[0])
    if len(shape) != 2:
        raise UnsupportedOpError(f"RepeatVector of a rank-{len(shape)} input", hint="its input is [batch, features]")
    reps = _pos_ints(cfg, "n", None, 1)[0]
    x = b.emit("Reshape", f"{name}_row", ins, None, {"shape": (shape[0], 1, shape[1])})
    return x if reps == 1 else b.emit("Concat", name, [x] * reps, None, {"axis": 1})


#: layers TimeDistributed may wrap: applied to the whole [N, T, ...] tensor they compute the same as on
#: each step (they work over the last axis, element by element, or -- the 1-D layers, see _as_rows --
#: along axis -2 with a (1, k) window that never mixes steps)
PER_STEP = ("Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "Rescaling", "Conv1D",
            "DepthwiseConv1D", "SeparableConv1D", "Conv1DTranspose", "MaxPooling1D", "AveragePooling1D",
            "GlobalAveragePooling1D", "GlobalMaxPooling1D", "UpSampling1D", "ZeroPadding1D", "Cropping1D", "Flatten")


#: 2-D layers TimeDistributed may wrap over a clip of frames [1, T, H, W, C], which edgec keeps as
#: [T, H, W, C] (the time axis as the batch: each frame its own image, _input); a layer ending in a
#: rank-2 [T, F] (pooled or flattened frames) gives the sequence [1, T, F] back
PER_FRAME = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D", "AveragePooling2D", "BatchNormalization",
             "Activation", "ReLU", "LeakyReLU", "Dropout", "ZeroPadding2D", "Cropping2D", "UpSampling2D",
             "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Dense", "Rescaling")
#: layers that compute the same over a clip of frames unwrapped (element-wise)
PER_FRAME_ANYWHERE = ("Activation", "ReLU", "LeakyReLU", "Dropout", "BatchNormalization")


def _frames(b, name, cls, cfg, ins, w):
    """TimeDistributed(cls) over [T, H, W, C] frames: the 2-D layer over the T frames as a batch."""
    if cls not in PER_FRAME or cls not in LAYERS:
        raise UnsupportedOpError(f"TimeDistributed({shown(cls)}) over a clip of frames",
                                 hint=f"edgec compiles TimeDistributed over frames of {', '.join(PER_FRAME)}")
    if cls == "Flatten":
        shape = b.shape_of(ins[0])
        y = b.emit("Reshape", name, ins, None, {"shape": (shape[0], int(np.prod(shape[1:])))})
    else:
        y = LAYERS[cls](b, name, cfg, ins, w)
    shape = b.shape_of(y)
    if len(shape) == 4:
        b.frames.add(y)
        return y
    if len(shape) == 2:
        return b.emit("Reshape", f"{name}_steps", [y], None, {"shape": (1,) + tuple(shape)})
    raise UnsupportedOpError(f"TimeDistributed({shown(cls)}) giving rank-{len(shape) + 1} frames")


def _time_distributed(b, name, cfg, ins, w):
    inner = cfg.get("layer")
    cls = inner.get("class_name") if isinstance(inner, dict) else None
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict) or not isinstance(cls, str):
        raise ModelFormatError("TimeDistributed without the config of the layer it wraps", hint=RESAVE)
    if ins and ins[0] in b.frames:
        return _frames(b, name, cls, inner["config"], ins, w)
    if cls not in PER_STEP or cls not in LAYERS:
        raise UnsupportedOpError(f"TimeDistributed({shown(cls)})", hint=f"edgec compiles TimeDistributed of "
                                 f"{', '.join(PER_STEP)}; or apply the layer to the whole sequence")
    if cls == "Flatten":                                   # each step flattened: [N, T, ...] -> [N, T, prod]
        shape = b.shape_of(ins[0])
        return b.emit("Reshape", name, ins, None, {"shape": (shape[0], shape[1], int(np.prod(shape[2:])))})
    if len(b.shape_of(ins[0])) < 3:
        raise UnsupportedOpError(f"TimeDistributed of a rank-{len(b.shape_of(ins[0]))} input",
                                 hint="its input is [batch, steps, ...]")
    return LAYERS[cls](b, name, inner["config"], ins, w)


def _einsum_dense(b, name, cfg, ins, w):
    """EinsumDense (keras_einsum.py), then its activation."""
    return _act(b, name, einsum_dense(b, name, cfg, ins, w), cfg)


MERGING = ("Add", "Subtract", "Multiply", "Concatenate", "Average", "Maximum", "Minimum")

LAYERS = {
    "InputLayer": None, "Conv2D": _conv2d, "DepthwiseConv2D": _depthwise, "SeparableConv2D": _separable,
    "Conv1D": _conv1d, "Dense": _dense, "BatchNormalization": _batchnorm, "Activation": _activation,
    "ReLU": _relu, "LeakyReLU": _leaky, "Add": _binary("Add"), "Multiply": _binary("Mul"),
    "Subtract": _binary("Sub"), "Concatenate": _concat,
    "MaxPooling2D": _pool("MaxPool2D"), "AveragePooling2D": _pool("AvgPool2D"),
    "GlobalAveragePooling2D": _pool("AvgPool2D", True), "GlobalMaxPooling2D": _pool("MaxPool2D", True),
    "Flatten": _flatten, "Reshape": _reshape, "Dropout": _identity, "SpatialDropout2D": _identity,
    "ZeroPadding2D": _zero_pad, "Rescaling": _rescaling, "Normalization": _normalization, "Softmax": _softmax,
    "LSTM": keras_lstm, "GRU": keras_gru, "SimpleRNN": keras_simple_rnn, "Bidirectional": keras_bidirectional,
    "Conv2DTranspose": _conv2d_transpose, "UpSampling2D": _upsampling2d, "Cropping2D": _cropping2d, "Permute": _permute,
    "GlobalAveragePooling1D": _global_avg_1d, "DepthwiseConv1D": _depthwise_1d,
    "SeparableConv1D": lambda b, name, cfg, ins, w: _depthwise_1d(b, name, cfg, ins, w, pointwise=True),
    "Maximum": _extremum(maximum), "Minimum": _extremum(minimum), "PReLU": _prelu,
    "Average": _average, "MaxPooling1D": _pool_1d("MaxPool2D"), "AveragePooling1D": _pool_1d("AvgPool2D"),
    "GetItem": get_item,
    "ZeroPadding1D": _zero_pad_1d, "Cropping1D": _cropping_1d, "UpSampling1D": _upsampling_1d,
    "Conv1DTranspose": _conv1d_transpose, "GlobalMaxPooling1D": _global_1d("MaxPool2D"), "ELU": _elu,
    "ThresholdedReLU": _thresholded_relu, "UnitNormalization": _unit_normalization,
    "Resizing": _resizing, "RepeatVector": _repeat_vector, "TimeDistributed": _time_distributed, "EinsumDense": _einsum_dense,
    # no-ops at inference (noise, dropout and regularization act only in training)
    "Identity": _identity, "GaussianNoise": _identity, "GaussianDropout": _identity, "AlphaDropout": _identity,
    "ActivityRegularization": _identity, "SpatialDropout1D": _identity, "SpatialDropout3D": _identity,
}


@importer_entry
def import_keras(path: str, input_shapes: dict | None = None, sample_shape=None) -> Graph:
    """input_shapes ({input name or None: dims}, `--input-shape`) and sample_shape (the calibration
    data's shape, or a function giving it) fix dynamic (None) input dimensions."""
    import h5py

    if not os.path.isfile(path):
        raise ModelFormatError("no such file", where=path, hint="check the path")
    check_file_size(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                _check_members(z, path)
                names = set(z.namelist())
                if "config.json" not in names or "model.weights.h5" not in names:
                    raise ModelFormatError("not a Keras 3 .keras archive (config.json / model.weights.h5 missing)", where=path)
                config = _json(_member(z, "config.json", MAX_JSON_BYTES, path), "config.json", path)
                meta = (_json(_member(z, "metadata.json", MAX_JSON_BYTES, path), "metadata.json", path)
                        if "metadata.json" in names else {})
                h5 = h5py.File(io.BytesIO(_member(z, "model.weights.h5", MAX_FILE_BYTES, path)), "r")
            version = str(meta.get("keras_version", "3"))
            weights = _Weights(h5, keras3=True)
        else:
            h5 = h5py.File(path, "r")
            raw = h5.attrs.get("model_config")
            if raw is None:
                raise ModelFormatError("the HDF5 file has no model_config (weights-only file?)", where=path,
                                       hint="save the whole model with model.save('model.h5')")
            config = _json(raw, "model_config", path)
            version = h5.attrs.get("keras_version", b"2")
            version = version.decode("utf-8", "replace") if isinstance(version, bytes) else str(version)
            weights = _Weights(h5, keras3=False)          # legacy .h5 layout, also when Keras 3 wrote it
    except EdgecError:
        raise
    except READ_ERRORS as e:
        raise ModelFormatError(f"not a readable Keras file ({type(e).__name__}: {shown(str(e))[:120]})", where=path,
                               hint="the file may be truncated; re-save the model") from None
    try:
        return _KerasImporter(path, config, weights, version, input_shapes, sample_shape).run()
    except (OSError, KeyError, RuntimeError) as e:
        raise ModelFormatError(f"unreadable weights ({type(e).__name__}: {shown(str(e))[:120]})", where=path,
                               hint="the file may be truncated; re-save the model") from None
