"""Darknet (.cfg + .weights) → IR.  The only code that knows the Darknet formats.

cfg: `[section]` headers and `key=value` lines; `#`/`;` start comments; when a key repeats, the first
value counts (darknet's option_find returns the first match).  weights: int32 major, minor, revision,
then `seen` (int64 when major*10+minor >= 2, else int32), then float32 per layer in cfg order —
convolutional: biases, [BN scales, rolling means, rolling variances], weights (O, I/groups, KH, KW);
connected: biases, weights (out, in), [BN scales, means, variances].

The model takes HWC images ([1, H, W, C], as cameras deliver them), not darknet's planar CHW.
[yolo] layers stay raw: each head is reshaped to [1, H*W*anchors, 5+classes] and the heads are
concatenated into one output; box decoding runs on the host (edgec.host.postprocess.decode_yolo) from
the head geometry kept in the graph's meta.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import EdgecError, ModelFormatError, UnsupportedOpError
from ..ir import Graph
from .builder import GraphBuilder, check_file_size, limit_hint, importer_entry, shown
from .reasons import Reasons

MAX_CFG_BYTES = 4 << 20
INT_LIMIT = 1 << 31             # a cfg integer beyond int32 is not a layer size darknet could use
DARKNET_BN_EPS = 1e-6     # darknet normalizes with (x - mean) / (sqrt(var) + .000001)


def parse_cfg(text: str, path: str) -> list:
    """[(section type, {key: value}, header line number, {key: line number})]."""
    sections = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]") or len(line) < 3:
                raise ModelFormatError(f"line {no}: malformed section header '{line[:40]}'", where=path)
            sections.append((line[1:-1].strip().lower(), {}, no, {}))
            continue
        if "=" not in line:
            raise ModelFormatError(f"line {no}: expected key=value, got '{line[:40]}'", where=path)
        if not sections:
            raise ModelFormatError(f"line {no}: option before the first [section]", where=path)
        key, value = (part.strip() for part in line.split("=", 1))
        if key not in sections[-1][1]:
            sections[-1][1][key], sections[-1][3][key] = value, no
    if not sections or sections[0][0] not in ("net", "network"):
        raise ModelFormatError("the cfg must start with a [net] section", where=path)
    return sections


class _Opts:
    def __init__(self, d, kind, line, where, key_lines=None):
        self.d, self.kind, self.line, self.where = d, kind, line, where
        self.key_lines = key_lines or {}

    def at(self, key):
        return self.key_lines.get(key, self.line)

    def int(self, key, default=None):
        v = self.d.get(key)
        if v is None:
            if default is None:
                raise ModelFormatError(f"line {self.line}: [{self.kind}] needs '{key}'", where=self.where)
            return default
        try:
            n = int(float(v))
        except (ValueError, OverflowError):
            raise ModelFormatError(f"line {self.at(key)}: {key}={v} is not a number", where=self.where) from None
        if not -INT_LIMIT < n < INT_LIMIT:
            raise ModelFormatError(f"line {self.at(key)}: {key}={v} is out of range", where=self.where,
                                   hint="the cfg is corrupt")
        return n

    def float(self, key, default):
        try:
            f = float(self.d.get(key, default))
        except ValueError:
            raise ModelFormatError(f"line {self.at(key)}: {key}={self.d[key]} is not a number", where=self.where) from None
        if not np.isfinite(f):
            raise ModelFormatError(f"line {self.at(key)}: {key}={self.d[key]} is not a finite number", where=self.where)
        return f

    def ints(self, key):
        try:
            vals = [int(v) for v in self.d.get(key, "").split(",") if v.strip()]
        except ValueError:
            raise ModelFormatError(f"line {self.at(key)}: {key}={self.d[key]} is not a list of integers", where=self.where) from None
        if any(not -INT_LIMIT < v < INT_LIMIT for v in vals):
            raise ModelFormatError(f"line {self.at(key)}: {key}= has a value out of range", where=self.where,
                                   hint="the cfg is corrupt")
        return vals

    def str(self, key, default):
        return self.d.get(key, default).strip().lower()


class _Weights:
    def __init__(self, path):
        self.path = path
        try:
            check_file_size(path, "weights file")
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise ModelFormatError(f"cannot read weights: {e.strerror}", where=path) from None
        if len(raw) < 16:
            raise ModelFormatError(f"weights file of {len(raw)} bytes has no header", where=path)
        major, minor, revision = (int(v) for v in np.frombuffer(raw[:12], "<i4"))
        big_seen = (major * 10 + minor) >= 2 and major < 1000 and minor < 1000
        self.header = (int(major), int(minor), int(revision))
        self.offset = 12 + (8 if big_seen else 4)
        self.raw = raw

    def take(self, n: int, layer: str) -> np.ndarray:
        need = n * 4
        if n < 0 or self.offset + need > len(self.raw):
            raise ModelFormatError(f"weights end early at {layer}: it needs {need} bytes at offset {self.offset}, "
                                   f"the file has {len(self.raw) - self.offset} left", where=self.path,
                                   hint="the .weights file does not belong to this .cfg")
        a = np.frombuffer(self.raw, "<f4", n, self.offset).astype(np.float32)
        self.offset += need
        return a

    def finish(self):
        extra = len(self.raw) - self.offset
        if extra:
            raise ModelFormatError(f"weights file has {extra} bytes more than the cfg needs ({self.offset} used of "
                                   f"{len(self.raw)})", where=self.path, hint="the .weights file does not belong to this .cfg")


SUPPORTED = ("convolutional", "conv", "maxpool", "max", "avgpool", "avg", "route", "shortcut", "upsample", "dropout",
             "connected", "conn", "softmax", "soft", "yolo")


class _DarknetImporter(GraphBuilder):
    def __init__(self, cfg_path, weights_path, sections):
        super().__init__(os.path.basename(cfg_path))
        self.cfg_path, self.sections = cfg_path, sections
        self.w = _Weights(weights_path)
        self.outs = []            # IR tensor of each layer
        self.yolo = []
        self.reasons = Reasons(os.path.basename(cfg_path), "section")

    def run(self) -> Graph:
        """Every reason the cfg cannot compile (unsupported sections, unsupported option values) is
        collected and raised at once.  A layer that cannot be imported passes its input on as a stand-in,
        so the layers after it are still checked; once anything is a stand-in, errors of other kinds
        (a shape that no longer fits, weights that end early) are taken as its echo."""
        name = os.path.basename(self.cfg_path)
        reasons = self.reasons
        # an unsupported section is refused whatever else holds, and may consume weights: from the start,
        # errors of other kinds (weights that end early, shapes) may be its echo and are not reported
        guessed = any(kind not in SUPPORTED for kind, _, _, _ in self.sections[1:])
        net = _Opts(self.sections[0][1], "net", self.sections[0][2], name, self.sections[0][3])
        h, w, c = net.int("height"), net.int("width"), net.int("channels", 3)
        if h <= 0 or w <= 0 or c <= 0:
            raise ModelFormatError(f"input {h}x{w}x{c} is not a sensible size", where=name)
        self.context = f"{name}: [net] (cfg line {self.sections[0][2]})"
        x = self.add_tensor("image", (1, h, w, c))
        prev = x
        for i, (kind, d, line, key_lines) in enumerate(self.sections[1:]):
            if kind not in SUPPORTED:                  # first, and cheap: a crafted cfg has a million of them
                if reasons.full:
                    reasons.op(None)
                else:
                    reasons.op(f"layer {i} ([{shown(kind)}], cfg line {line}): unsupported section")
                self.outs.append(prev)                 # its input stands in for its output
                continue
            o = _Opts(d, kind, line, name, key_lines)
            self.context = f"{name}: layer {i} ({kind}, cfg line {line})"
            try:
                prev = getattr(self, "l_" + {"conv": "convolutional", "max": "maxpool", "avg": "avgpool",
                                             "conn": "connected", "soft": "softmax"}.get(kind, kind))(i, o, prev)
            except UnsupportedOpError as e:
                reasons.value(e, self.context)
                guessed = True
            except EdgecError as e:
                if guessed and isinstance(e, ModelFormatError):
                    self.outs.append(prev)
                    continue
                if e.where is None:
                    raise type(e)(str(e), where=self.context) from None
                raise
            except (KeyError, IndexError, ValueError, TypeError, ZeroDivisionError, OverflowError) as e:
                if guessed:
                    self.outs.append(prev)
                    continue
                raise ModelFormatError(f"malformed layer ({type(e).__name__}: {shown(str(e))[:120]})", where=self.context,
                                       hint="the cfg is corrupt or does not fit this importer") from None
            self.outs.append(prev)
        reasons.raise_all("supported sections: " + ", ".join(s for s in SUPPORTED if s not in ("conv", "max", "avg", "conn", "soft")))
        self.context = name
        self.w.finish()
        if self.yolo:
            heads = [y["tensor"] for y in self.yolo]
            out = heads[0] if len(heads) == 1 else self.emit("Concat", "yolo_heads", heads, None, {"axis": 1})
        else:
            out = prev
        meta = {"source": os.path.abspath(self.cfg_path), "format": "darknet", "input_layout": "NHWC (HWC image)",
                "weights_header": list(self.w.header)}
        if self.yolo:
            meta["yolo"] = {"net_hw": [h, w], "heads": [{k: v for k, v in y.items() if k != "tensor"} for y in self.yolo]}
        return self.graph(os.path.splitext(name)[0], [x], [out], meta)

    def fmap(self, x, o):
        """The layer's input as [1, H, W, C]; after a [connected] or [avgpool] there is none."""
        shape = self.shape_of(x)
        if len(shape) != 4:
            raise ModelFormatError(f"line {o.line}: [{o.kind}] needs a feature map, its input has shape {shape}",
                                   where=os.path.basename(self.cfg_path))
        return shape

    def ref(self, i, rel_or_abs):
        j = i + rel_or_abs if rel_or_abs < 0 else rel_or_abs
        if not 0 <= j < i:
            raise ModelFormatError(f"layer {i} refers to layer {rel_or_abs}, which does not exist before it",
                                   where=os.path.basename(self.cfg_path))
        return self.outs[j]

    # -- layers ---------------------------------------------------------------------------------
    def l_convolutional(self, i, o, x):
        n, size, stride = o.int("filters", 1), o.int("size", 1), o.int("stride", 1)
        groups = o.int("groups", 1)
        pad = size // 2 if o.int("pad", 0) else o.int("padding", 0)      # darknet: pad=1 wins over padding=
        cin = self.fmap(x, o)[3]
        if groups < 1 or cin % groups or n % groups or n < 1 or size < 1 or stride < 1 or pad < 0:
            raise ModelFormatError(f"line {o.line}: filters={n}, groups={groups}, size={size} do not fit {cin} input channels",
                                   where=os.path.basename(self.cfg_path))
        what = f"layer {i} (convolutional, cfg line {o.line})"
        bias = self.w.take(n, what)
        if o.int("batch_normalize", 0):
            scales, mean, var = self.w.take(n, what), self.w.take(n, what), self.w.take(n, what)
        weights = self.w.take(n * (cin // groups) * size * size, what).reshape(n, cin // groups, size, size)
        if o.int("batch_normalize", 0):
            k = self._bn_factor(scales, var, o)
            weights = weights * k[:, None, None, None]
            bias = bias - mean * k
        y = self.conv2d(f"conv_{i}", x, np.transpose(weights, (0, 2, 3, 1)), bias, (stride, stride), (1, 1),
                        (pad, pad, pad, pad), groups)
        return self._activation(f"conv_{i}", y, o.str("activation", "logistic"))

    def _activation(self, name, y, kind):
        """The layer's activation; one darknet has and edgec has not is a reason, and the layer goes on
        without it (its shape is the same), so the layers after it are still checked."""
        try:
            return self.activation(name, y, kind, alpha=0.1)
        except UnsupportedOpError as e:
            self.reasons.value(e, self.context)
            return y

    def _bn_factor(self, scales, var, o):
        if not (var >= 0).all():
            raise ModelFormatError(f"line {o.line}: the batch-norm variances in the weights are negative or NaN",
                                   where=self.w.path, hint="the .weights file is corrupt or does not belong to this .cfg")
        return scales / (np.sqrt(var) + DARKNET_BN_EPS)

    def l_maxpool(self, i, o, x):
        self.fmap(x, o)
        size = o.int("size", 1)
        stride = o.int("stride", size)
        padding = o.int("padding", size - 1)
        if size < 1 or stride < 1 or padding < 0:
            raise ModelFormatError(f"line {o.line}: [maxpool] size={size}, stride={stride}, padding={padding}",
                                   where=os.path.basename(self.cfg_path), hint="size and stride must be >= 1")
        before = padding // 2
        return self.pool("MaxPool2D", f"maxpool_{i}", x, (size, size), (stride, stride),
                         (before, before, padding - before, padding - before))

    def l_avgpool(self, i, o, x):
        _, h, w, c = self.fmap(x, o)
        y = self.pool("AvgPool2D", f"avgpool_{i}", x, (h, w), (1, 1), (0, 0, 0, 0))
        return self.emit("Reshape", f"avgpool_{i}_flat", [y], None, {"shape": (1, c)})

    def l_route(self, i, o, x):
        layers = [self.ref(i, v) for v in o.ints("layers")]
        if not layers:
            raise ModelFormatError(f"line {o.line}: [route] needs layers=", where=os.path.basename(self.cfg_path))
        y = layers[0] if len(layers) == 1 else self.emit("Concat", f"route_{i}", layers, None, {"axis": 3})
        groups, gid = o.int("groups", 1), o.int("group_id", 0)
        if groups < 1 or not 0 <= gid < groups:
            raise ModelFormatError(f"line {o.line}: [route] groups={groups}, group_id={gid}",
                                   where=os.path.basename(self.cfg_path), hint="group_id must be in 0..groups-1")
        if groups > 1:
            self.fmap(y, o)
            shape = self.shape_of(y)
            part = shape[3] // groups
            y = self.emit("Slice", f"route_{i}_group{gid}", [y], None,
                          {"begin": (0, 0, 0, gid * part), "end": (shape[0], shape[1], shape[2], (gid + 1) * part)})
        return y

    def l_shortcut(self, i, o, x):
        refs = o.ints("from")
        if len(refs) != 1:
            raise ModelFormatError(f"line {o.line}: [shortcut] needs one from= layer, got {len(refs)}",
                                   where=os.path.basename(self.cfg_path))
        other = self.ref(i, refs[0])
        if self.shape_of(other) != self.shape_of(x):
            raise UnsupportedOpError(f"line {o.line}: [shortcut] of shapes {self.shape_of(x)} and {self.shape_of(other)}",
                                     where=os.path.basename(self.cfg_path))
        y = self.emit("Add", f"shortcut_{i}", [x, other], None, {"act": None})
        return self._activation(f"shortcut_{i}", y, o.str("activation", "linear"))

    def l_upsample(self, i, o, x):
        self.fmap(x, o)
        s = o.int("stride", 2)
        if s < 1:
            raise UnsupportedOpError(f"line {o.line}: [upsample] stride={s}", where=os.path.basename(self.cfg_path),
                                     hint="only upsampling by an integer stride >= 1 is supported")
        return self.emit("Upsample", f"upsample_{i}", [x], None, {"scale": (s, s)})

    def l_dropout(self, i, o, x):
        return x

    def l_connected(self, i, o, x):
        shape = self.shape_of(x)
        if len(shape) == 4:                      # darknet flattens CHW
            if shape[1] * shape[2] > 1:
                x = self.emit("Transpose", f"connected_{i}_chw", [x], None, {"perm": (0, 3, 1, 2)})
            x = self.emit("Reshape", f"connected_{i}_flat", [x], None, {"shape": (1, int(np.prod(shape[1:])))})
        n, k = o.int("output", 1), self.shape_of(x)[1]
        if n < 1 or len(self.shape_of(x)) != 2:
            raise ModelFormatError(f"line {o.line}: [connected] output={n} on an input of shape {self.shape_of(x)}",
                                   where=os.path.basename(self.cfg_path), hint="output must be >= 1")
        what = f"layer {i} (connected, cfg line {o.line})"
        bias = self.w.take(n, what)
        weights = self.w.take(n * k, what).reshape(n, k)
        if o.int("batch_normalize", 0):
            scales, mean, var = self.w.take(n, what), self.w.take(n, what), self.w.take(n, what)
            kk = self._bn_factor(scales, var, o)
            weights, bias = weights * kk[:, None], bias - mean * kk
        y = self.dense(f"connected_{i}", x, weights, bias)
        return self._activation(f"connected_{i}", y, o.str("activation", "logistic"))

    def l_softmax(self, i, o, x):
        if len(self.shape_of(x)) != 2:
            x = self.emit("Reshape", f"softmax_{i}_flat", [x], None, {"shape": (1, int(np.prod(self.shape_of(x)[1:])))})
        return self.emit("Softmax", f"softmax_{i}", [x], None)

    def l_yolo(self, i, o, x):
        _, h, w, c = self.fmap(x, o)
        classes = o.int("classes", 20)
        anchors = o.ints("anchors")
        mask = o.ints("mask") or list(range(len(anchors) // 2))
        if classes < 0 or len(anchors) % 2 or not mask or any(not 0 <= m < len(anchors) // 2 for m in mask):
            raise ModelFormatError(f"line {o.line}: [yolo] classes={classes}, mask={mask} with {len(anchors)} anchor "
                                   "values", where=os.path.basename(self.cfg_path),
                                   hint="anchors are w,h pairs and mask picks among them")
        if c != len(mask) * (5 + classes):
            raise ModelFormatError(f"line {o.line}: [yolo] expects {len(mask) * (5 + classes)} channels, gets {c}",
                                   where=os.path.basename(self.cfg_path))
        t = self.emit("Reshape", f"yolo_{i}", [x], None, {"shape": (1, h * w * len(mask), 5 + classes)})
        self.yolo.append({"tensor": t, "grid": [h, w], "classes": classes,
                          "anchors": [[anchors[2 * m], anchors[2 * m + 1]] for m in mask],
                          "scale_x_y": o.float("scale_x_y", 1.0)})
        return x


@importer_entry
def import_darknet(cfg_path: str, weights_path: str | None = None) -> Graph:
    if not os.path.isfile(cfg_path):
        raise ModelFormatError("no such file", where=cfg_path, hint="check the path")
    if weights_path is None:
        weights_path = os.path.splitext(cfg_path)[0] + ".weights"
        if not os.path.isfile(weights_path):
            raise ModelFormatError(f"no weights: {os.path.basename(weights_path)} is not beside the cfg", where=cfg_path,
                                   hint="pass the .weights file after the .cfg")
    if os.path.getsize(cfg_path) > MAX_CFG_BYTES:
        raise ModelFormatError(f"cfg of {os.path.getsize(cfg_path):,} bytes is larger than the {MAX_CFG_BYTES:,} edgec "
                               "reads", where=cfg_path, hint=limit_hint(f"{MAX_CFG_BYTES:,} bytes of cfg"))
    try:
        with open(cfg_path, encoding="utf-8", errors="strict") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"not a readable text cfg ({type(e).__name__})", where=cfg_path) from None
    return _DarknetImporter(cfg_path, weights_path, parse_cfg(text, os.path.basename(cfg_path))).run()
