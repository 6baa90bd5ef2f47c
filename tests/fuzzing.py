"""Mutation fuzzing of edgec's importers: seeds, mutators and a sandboxed runner.

Used by tests/test_fuzz_importers.py (a bounded, deterministic run in CI) and bench/fuzz_importers.py
(longer runs on demand, seeded or coverage-guided with atheris).

A *case* is a set of files (the model, plus a Darknet .weights, an ONNX external-data file ...) made
from a real model by a few mutations: byte-level (bit flips, interesting bytes, truncation, chunk
deletion/duplication, splices between seeds of one format) and structure-aware (ONNX protobuf fields
through the onnx API, Keras config JSON, HDF5 datasets and attributes through h5py, .keras zip
members, Darknet cfg lines and weights headers).  Every mutator draws its choices from an `rng` with
the `random.Random` methods randrange/randint/choice/random/randbytes, so the same mutators run from
a seeded Random (reproducible: case = (seed, index)) or from atheris' FuzzedDataProvider.

The runner imports each case in a worker process with RLIMIT_AS = 2 GiB and a 10 s deadline, from an
empty working directory, then canonicalizes the graph and, when the model is small, compiles it for
the host into an `-o` directory.  A case passes when it ends in success or in an EdgecError whose
message is one printable line naming the model file, and when nothing was written outside `-o` and
the input files are unchanged.  Anything else is a finding: another exception (with the innermost
edgec frame), a dead worker (signal), a hang, a bad message, or a write outside `-o`.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import os
import random
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"

CASE_SECONDS = 10.0             # the bound for one case
CASE_MEMORY = 2 << 30           # RLIMIT_AS of the worker: 2 GiB of address space for the whole process
COMPILE_MACS = 20_000_000       # compile only models this small (the rest of the pipeline is checked, not benchmarked)
COMPILE_NODES = 80              # ... and this short: planning a 150-layer net takes seconds

FORMATS = ("onnx", "keras", "darknet", "tflite")


# --------------------------------------------------------------------------------------------------
# cases and seeds
# --------------------------------------------------------------------------------------------------
@dataclass
class Case:
    fmt: str
    seed: str
    files: dict                   # file name -> bytes, written side by side into the case's input directory
    entry: str                    # the model file given to import_model
    weights: str | None = None    # a Darknet .weights given explicitly
    ops: list = field(default_factory=list)   # what was done to the seed, for reports

    def mutated(self, op: str, **files) -> "Case":
        return Case(self.fmt, self.seed, {**self.files, **files}, self.entry, self.weights, self.ops + [op])

    def sha(self) -> str:
        h = hashlib.sha256()
        for k in sorted(self.files):
            h.update(k.encode() + b"\0" + self.files[k])
        return h.hexdigest()[:16]


def _strip_h5(path: Path) -> bytes:
    """A real Keras 2 .h5 without its optimizer state and training config (a quarter of the bytes)."""
    import h5py
    bio = io.BytesIO()
    with h5py.File(path, "r") as src, h5py.File(bio, "w") as dst:
        for k, v in src.attrs.items():
            if k != "training_config":
                dst.attrs[k] = v
        src.copy(src["model_weights"], dst, "model_weights")
    return bio.getvalue()


def _keras2_h5() -> bytes:
    """A small Keras 2 (tf.keras) .h5 written the way tf.keras writes one (model_config JSON, model_weights
    groups with weight_names), with the layers the real .h5 models do not use."""
    import h5py
    r = np.random.default_rng(3)

    def layer(cls, name, **cfg):
        return {"class_name": cls, "config": {"name": name, **cfg}}
    layers = [layer("InputLayer", "input_1", batch_input_shape=[None, 8, 8, 2], dtype="float32"),
              layer("ZeroPadding2D", "pad", padding=[[1, 1], [1, 1]], data_format="channels_last"),
              layer("SeparableConv2D", "sep", filters=4, kernel_size=[3, 3], strides=[1, 1], padding="valid",
                    data_format="channels_last", dilation_rate=[1, 1], depth_multiplier=1, activation="linear",
                    use_bias=True),
              layer("BatchNormalization", "bn", axis=[3], epsilon=0.001, center=True, scale=True),
              layer("ReLU", "relu6", max_value=6.0, negative_slope=0.0, threshold=0.0),
              layer("AveragePooling2D", "avg", pool_size=[2, 2], strides=[2, 2], padding="valid",
                    data_format="channels_last"),
              layer("Conv2D", "conv", filters=6, kernel_size=[1, 1], strides=[1, 1], padding="same",
                    data_format="channels_last", dilation_rate=[1, 1], groups=1, activation="hard_sigmoid",
                    use_bias=False),
              layer("GlobalMaxPooling2D", "gmp", data_format="channels_last"),
              layer("Dropout", "drop", rate=0.5),
              layer("Dense", "dense", units=3, activation="softmax", use_bias=True)]
    config = {"class_name": "Sequential", "config": {"name": "small", "layers": layers}}
    weights = {"sep": [("depthwise_kernel:0", (3, 3, 2, 1)), ("pointwise_kernel:0", (1, 1, 2, 4)), ("bias:0", (4,))],
               "bn": [("gamma:0", (4,)), ("beta:0", (4,)), ("moving_mean:0", (4,)), ("moving_variance:0", (4,))],
               "conv": [("kernel:0", (1, 1, 4, 6))], "dense": [("kernel:0", (6, 3)), ("bias:0", (3,))]}
    bio = io.BytesIO()
    with h5py.File(bio, "w") as f:
        f.attrs["keras_version"] = "2.4.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        mw = f.create_group("model_weights")
        for l in layers:
            name = l["config"]["name"]
            g = mw.create_group(name)
            ws = weights.get(name, [])
            g.attrs["weight_names"] = np.array([f"{name}/{w}".encode() for w, _ in ws])
            for w, shape in ws:
                data = r.uniform(0.5, 1.5, shape) if "variance" in w else r.standard_normal(shape) * 0.3
                g.create_dataset(f"{name}/{w}", data=data.astype("f4"))
    return bio.getvalue()


def _onnx_ops_model() -> bytes:
    """A small ONNX model that uses every op the importer handles (seeds the op handlers the real models skip)."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    r = np.random.default_rng(7)

    def init(name, shape, scale=0.3):
        return nh.from_array((r.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [init("conv_w", (4, 3, 3, 3)), init("conv_b", (4,)),
             nh.from_array(np.abs(r.standard_normal(4)).astype(np.float32) + 0.5, "bn_scale"), init("bn_bias", (4,)),
             init("bn_mean", (4,)), nh.from_array(np.abs(r.standard_normal(4)).astype(np.float32) + 0.5, "bn_var"),
             init("mul_k", (1, 8, 1, 1)), nh.from_array(np.array(0.25, np.float32), "sub_c"),
             nh.from_array(np.array(0.0, np.float32), "clip_lo"), nh.from_array(np.array(6.0, np.float32), "clip_hi"),
             nh.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
             nh.from_array(np.array([2, 3], np.int64), "sq_axes"), nh.from_array(np.array([2], np.int64), "usq_axes"),
             nh.from_array(np.array([1, 4], np.int64), "gmp_shape"),
             init("mm_w", (12, 6)), init("gemm_w", (5, 6)), init("gemm_b", (5,)),
             nh.from_array(np.array([1, -1], np.int64), "out_shape")]
    N = h.make_node
    nodes = [
        N("Pad", ["x", "pads"], ["xp"], name="pad", mode="constant"),
        N("Conv", ["xp", "conv_w", "conv_b"], ["c"], name="conv", kernel_shape=[3, 3], strides=[1, 1], pads=[0, 0, 0, 0]),
        N("BatchNormalization", ["c", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"], name="bn", epsilon=1e-5),
        N("LeakyRelu", ["bn"], ["lr"], name="leaky", alpha=0.1),
        N("AveragePool", ["lr"], ["ap"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        N("MaxPool", ["lr"], ["mp"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER"),
        N("Sigmoid", ["mp"], ["sg"], name="sigmoid"),
        N("Concat", ["ap", "sg"], ["cat"], name="concat", axis=1),
        N("Mul", ["cat", "mul_k"], ["mu"], name="mul"),
        N("Sub", ["mu", "sub_c"], ["su"], name="sub"),
        N("Clip", ["su", "clip_lo", "clip_hi"], ["cl"], name="clip"),
        N("Tanh", ["cl"], ["th"], name="tanh"),
        N("Transpose", ["th"], ["tt"], name="to_nhwc", perm=[0, 2, 3, 1]),
        N("Transpose", ["tt"], ["tb"], name="to_nchw", perm=[0, 3, 1, 2]),
        N("GlobalAveragePool", ["tb"], ["gap"], name="gap"),
        N("Squeeze", ["gap", "sq_axes"], ["sq"], name="squeeze"),
        N("Unsqueeze", ["sq", "usq_axes"], ["us"], name="unsqueeze"),
        N("Flatten", ["us"], ["fl"], name="flatten", axis=1),
        N("GlobalMaxPool", ["lr"], ["gmp"], name="gmp"),
        N("Reshape", ["gmp", "gmp_shape"], ["gmpf"], name="gmp_flat"),
        N("Concat", ["fl", "gmpf"], ["feat"], name="features", axis=1),
        N("Identity", ["feat"], ["idn"], name="identity"),
        N("Dropout", ["idn"], ["dr"], name="dropout"),
        N("MatMul", ["dr", "mm_w"], ["mm"], name="matmul"),
        N("Constant", [], ["mm_b"], name="bias_const", value=nh.from_array(np.full(6, 0.1, np.float32), "mm_b_value")),
        N("Add", ["mm", "mm_b"], ["ad"], name="add"),
        N("Relu", ["ad"], ["re"], name="relu"),
        N("Gemm", ["re", "gemm_w", "gemm_b"], ["gm"], name="gemm", transB=1, alpha=1.0, beta=1.0),
        N("Reshape", ["gm", "out_shape"], ["rs"], name="reshape"),
        N("Softmax", ["rs"], ["y"], name="softmax", axis=-1),
    ]
    graph = h.make_graph(nodes, "ops", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8])],
                         [h.make_tensor_value_info("y", T.FLOAT, [1, 5])], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 13)], ir_version=8).SerializeToString()


def _onnx_external_model() -> tuple[bytes, bytes]:
    """A Gemm whose weights live in an external data file beside the model, as onnx.save_model(...,
    save_as_external_data=True) writes them: (model bytes, data bytes)."""
    from onnx import TensorProto as T, helper as h
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    b = np.array([0.1, -0.2, 0.3], np.float32)
    blob = w.tobytes() + b.tobytes()
    inits = []
    for name, arr, off in (("w", w, 0), ("b", b, w.nbytes)):
        t = T(name=name, data_type=T.FLOAT, dims=arr.shape)
        t.data_location = T.EXTERNAL
        for k, v in (("location", "ext.bin"), ("offset", str(off)), ("length", str(arr.nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v
        inits.append(t)
    graph = h.make_graph([h.make_node("Gemm", ["x", "w", "b"], ["g"], name="fc", transB=1),
                          h.make_node("Relu", ["g"], ["y"], name="relu")], "ext",
                         [h.make_tensor_value_info("x", T.FLOAT, [1, 4])], [h.make_tensor_value_info("y", T.FLOAT, [1, 3])],
                         inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 13)], ir_version=8).SerializeToString(), blob


DARKNET_DETECT_CFG = """[net]
width=16
height=16
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=8
size=3
groups=2
pad=1
activation=mish

[shortcut]
from=-2
activation=linear

[route]
layers=-1
groups=2
group_id=1

[convolutional]
filters=4
size=1
activation=swish

[upsample]
stride=2

[route]
layers=-1,0

[convolutional]
filters=14
size=1
activation=linear

[yolo]
mask=0,1
anchors=2,3, 4,5, 6,7
classes=2
num=3
scale_x_y=1.05
"""

DARKNET_CLASSIFY_CFG = """[net]
width=12
height=12
channels=1

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[connected]
output=6
batch_normalize=1
activation=logistic

[dropout]
probability=.5

[connected]
output=5
activation=linear

[softmax]
groups=1
"""

DARKNET_AVGPOOL_CFG = """[net]
width=8
height=8
channels=2

[convolutional]
batch_normalize=1
filters=6
size=3
stride=2
pad=1
activation=relu6

[avgpool]

[connected]
output=3
activation=tanh
"""


def darknet_weights(cfg_text: str, seed: int = 0) -> bytes:
    """The darknet weights file a cfg needs (header 0.2.0, 64-bit `seen`), with random values and
    positive batch-norm variances.  Knows the sections of the synthetic cfgs above and yolo-fastest."""
    from edgec.importers.darknet import parse_cfg
    rng = np.random.default_rng(seed)
    secs = parse_cfg(cfg_text, "seed.cfg")
    net = secs[0][1]
    h, w, c = int(net["height"]), int(net["width"]), int(net.get("channels", 3))
    shapes, parts = [], []

    def floats(n, lo=-0.5, hi=0.5):
        parts.append(rng.uniform(lo, hi, n).astype("<f4").tobytes())

    for kind, d, _, _ in secs[1:]:
        if kind in ("convolutional", "conv"):
            n, size, stride = int(d.get("filters", 1)), int(d.get("size", 1)), int(d.get("stride", 1))
            groups = int(d.get("groups", 1))
            floats(n)
            if int(d.get("batch_normalize", 0)):
                floats(n, 0.5, 1.5), floats(n), floats(n, 0.5, 1.5)
            floats(n * (c // groups) * size * size)
            pad = size // 2 if int(d.get("pad", 0)) else int(d.get("padding", 0))
            h, w, c = (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1, n
        elif kind in ("maxpool", "max"):
            size = int(d.get("size", 1))
            stride = int(d.get("stride", size))
            padding = int(d.get("padding", size - 1))
            h, w = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
        elif kind in ("avgpool", "avg"):
            h, w = 1, 1
        elif kind == "upsample":
            s = int(d.get("stride", 2))
            h, w = h * s, w * s
        elif kind == "route":
            refs = [int(v) for v in d["layers"].split(",")]
            srcs = [shapes[len(shapes) + r] if r < 0 else shapes[r] for r in refs]
            h, w, c = srcs[0][0], srcs[0][1], sum(s[2] for s in srcs) // int(d.get("groups", 1))
        elif kind in ("connected", "conn"):
            n, k = int(d.get("output", 1)), h * w * c
            floats(n), floats(n * k)
            if int(d.get("batch_normalize", 0)):
                floats(n, 0.5, 1.5), floats(n), floats(n, 0.5, 1.5)
            h, w, c = 1, 1, n
        shapes.append((h, w, c))
    return np.array([0, 2, 0], "<i4").tobytes() + np.array([0], "<i8").tobytes() + b"".join(parts)


def _set_net_size(cfg_text: str, size: int) -> str:
    out = []
    in_net = False
    for line in cfg_text.splitlines():
        s = line.strip()
        if s.startswith("["):
            in_net = s.lower() in ("[net]", "[network]")
        if in_net and s.split("=")[0].strip() in ("width", "height"):
            line = f"{s.split('=')[0].strip()}={size}"
        out.append(line)
    return "\n".join(out) + "\n"


@functools.lru_cache(maxsize=None)
def seeds() -> dict:
    """format -> [Case]: the real models in tests/data and examples/, and small synthetic ones that reach
    the importer code the real ones do not (every ONNX op, external data, every Darknet section)."""
    onnx_seeds = [Case("onnx", p.name, {p.name: p.read_bytes()}, p.name) for p in
                  (DATA / "digits_torch_mlp.onnx", DATA / "digits_torch_cnn.onnx", DATA / "mnist.simplified.onnx",
                   DATA / "kws_ref_model.onnx", EXAMPLES / "digits_cnn.onnx")]
    onnx_seeds.append(Case("onnx", "ops.onnx", {"ops.onnx": _onnx_ops_model()}, "ops.onnx"))
    model, blob = _onnx_external_model()
    onnx_seeds.append(Case("onnx", "ext.onnx", {"ext.onnx": model, "ext.bin": blob}, "ext.onnx"))
    keras_seeds = [Case("keras", p.name, {p.name: p.read_bytes()}, p.name) for p in
                   (DATA / "digits_keras_cnn.keras", DATA / "pretrainedResnet.keras")]
    keras_seeds.append(Case("keras", "pretrainedResnet.h5", {"resnet.h5": _strip_h5(DATA / "pretrainedResnet.h5")},
                            "resnet.h5"))
    keras_seeds.append(Case("keras", "small.h5", {"small.h5": _keras2_h5()}, "small.h5"))
    fastest = _set_net_size((DATA / "yolo-fastest-1.1.cfg").read_text(), 64)
    darknet_seeds = [Case("darknet", "yolo-fastest-1.1.cfg", {"yolo.cfg": fastest.encode(),
                                                              "yolo.weights": (DATA / "yolo-fastest-1.1.weights").read_bytes()},
                          "yolo.cfg")]
    for name, text in (("detect", DARKNET_DETECT_CFG), ("classify", DARKNET_CLASSIFY_CFG), ("avgpool", DARKNET_AVGPOOL_CFG)):
        darknet_seeds.append(Case("darknet", f"{name}.cfg", {f"{name}.cfg": text.encode(),
                                                              f"{name}.weights": darknet_weights(text)}, f"{name}.cfg"))
    tflite_seeds = [Case("tflite", p.name, {p.name: p.read_bytes()}, p.name) for p in
                    (DATA / "kws_ref_model.tflite", DATA / "ad01_int8.tflite")]
    return {"onnx": onnx_seeds, "keras": keras_seeds, "darknet": darknet_seeds, "tflite": tflite_seeds}


# --------------------------------------------------------------------------------------------------
# interesting values
# --------------------------------------------------------------------------------------------------
INTS = [0, 1, -1, 2, 3, 7, 255, 256, -128, 65535, 2**31 - 1, -2**31, 2**31, 2**32 + 1, 2**40, 2**62, -2**63, 2**63 - 1]
FLOATS = [0.0, -0.0, 1.0, -1.0, 1e-45, 1e-7, 0.5, 1e30, -1e30, 3.4e38, 1e308, float("inf"), float("-inf"), float("nan")]
WORDS = ["", "same", "valid", "causal", "full", "channels_first", "relu", "linear", "leaky", "bogus", "SAME_UPPER",
         "SAME_LOWER", "VALID", "NOTSET", "reflect", "edge", "constant", "hard_sigmoid", "softmax", "a" * 300,
         "line1\nline2", "\x1b[31mred\x1b[0m", "sep\u2028arator", "..", "../../etc/passwd", "/etc/passwd", "\x00"]
NAMES = ["x", "", "a\nb", "c\rd", "\x1b]0;title\x07", "e\u2028f", "g\x85h", "n" * 5000, "../up", "/abs", "名前"]


def pick_int(rng):
    v = rng.choice(INTS)
    return v if rng.random() < 0.8 else v + rng.randint(-3, 3)


def pick_float(rng):
    return rng.choice(FLOATS) if rng.random() < 0.8 else (rng.random() - 0.5) * 10 ** rng.randint(-10, 40)


def pick_json(rng, depth=0):
    r = rng.randrange(8 if depth < 2 else 5)
    if r == 0:
        return None
    if r == 1:
        return pick_int(rng)
    if r == 2:
        return pick_float(rng)
    if r == 3:
        return rng.choice(WORDS)
    if r == 4:
        return rng.choice([True, False])
    if r == 5:
        return [pick_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if r == 6:
        return {rng.choice(["name", "config", "class_name", "x", ""]): pick_json(rng, depth + 1) for _ in range(rng.randrange(3))}
    return [pick_int(rng) for _ in range(rng.randrange(1, 5))]


# --------------------------------------------------------------------------------------------------
# byte-level mutators (any format)
# --------------------------------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng, other: bytes | None = None) -> tuple[bytes, str]:
    b = bytearray(data)
    n = len(b)
    kind = rng.randrange(7) if n else 5
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), "bitflip"
    if kind == 1:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(n)
            v = rng.choice([0, 0xFF, 0x7F, 0x80, 0x01, 0xFE])
            w = rng.choice([1, 2, 4, 8])
            b[i:i + w] = bytes([v]) * min(w, n - i)
        return bytes(b), "interesting-bytes"
    if kind == 2:
        return bytes(b[:rng.randrange(n)]), "truncate"
    if kind == 3:
        i = rng.randrange(n)
        j = min(n, i + rng.randint(1, max(1, n // rng.choice([2, 16, 256]))))
        return bytes(b[:i] + b[j:]), "delete-chunk"
    if kind == 4:
        i = rng.randrange(n)
        j = min(n, i + rng.randint(1, 64))
        k = rng.randrange(n + 1)
        return bytes(b[:k] + b[i:j] * rng.randint(1, 4) + b[k:]), "duplicate-chunk"
    if kind == 5:
        k = rng.randrange(n + 1)
        return bytes(b[:k] + rng.randbytes(rng.randint(1, 32)) + b[k:]), "insert-random"
    if other:
        i, j = rng.randrange(n), rng.randrange(len(other))
        return bytes(b[:i] + other[j:]), "splice"
    return bytes(b[:n // 2]), "truncate-half"


# --------------------------------------------------------------------------------------------------
# ONNX: protobuf fields through the onnx API
# --------------------------------------------------------------------------------------------------
ONNX_OPS = ["Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "MaxPool",
            "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Reshape", "Flatten", "Squeeze",
            "Unsqueeze", "Transpose", "Pad", "Concat", "Softmax", "Identity", "Dropout", "Constant", "Erf", ""]
ONNX_ATTRS = ["kernel_shape", "strides", "pads", "dilations", "group", "axis", "axes", "perm", "alpha", "beta", "transA",
              "transB", "auto_pad", "ceil_mode", "count_include_pad", "epsilon", "mode", "min", "max", "value", "allowzero"]
EXTERNAL_LOCATIONS = ["../outside.bin", "../../../../../../etc/passwd", "/etc/passwd", "sub/../../outside.bin",
                      "ext.bin", "missing.bin", "", ".", "..", "C:\\windows\\x.bin", "..\\x.bin", "ext.bin\x00.txt",
                      "./ext.bin", "sub/ext.bin"]


def _onnx_values(model) -> list:
    g = model.graph
    names = [i.name for i in g.input] + [i.name for i in g.initializer]
    for n in g.node:
        names += list(n.output)
    return names or ["x"]


def _mutate_tensor(t, rng) -> str:
    from onnx import TensorProto as T
    k = rng.randrange(7)
    if k == 0:
        dims = list(t.dims)
        r = rng.randrange(5)
        if r == 0:
            dims = [rng.choice([2**40, 2**31, 2**20, 0, -1, 3])] * rng.randint(1, 4)
        elif r == 1 and dims:
            dims[rng.randrange(len(dims))] = pick_int(rng)
        elif r == 2:
            dims.insert(rng.randrange(len(dims) + 1), rng.choice([1, 2, 0]))
        elif r == 3 and dims:
            dims.pop(rng.randrange(len(dims)))
        else:
            dims = [2**20, 2**20]
        del t.dims[:]
        t.dims.extend(max(-2**63, min(2**63 - 1, d)) for d in dims)
        return "tensor-dims"
    if k == 1:
        t.data_type = rng.choice([0, T.FLOAT, T.UINT8, T.INT8, T.INT32, T.INT64, T.STRING, T.BOOL, T.FLOAT16,
                                  T.DOUBLE, T.UINT64, T.COMPLEX64, T.BFLOAT16, 17, 21, 22, 99, 1000])
        return "tensor-dtype"
    if k == 2:
        if t.raw_data:
            t.raw_data = t.raw_data[:rng.randrange(len(t.raw_data) + 1)]
        else:
            t.raw_data = rng.randbytes(rng.randint(0, 64))
        return "tensor-raw-data"
    if k == 3:
        t.ClearField("raw_data")
        t.float_data.extend([pick_float(rng) for _ in range(rng.randint(0, 6))])
        return "tensor-float-data"
    if k == 4:
        t.data_location = T.EXTERNAL
        del t.external_data[:]
        for key, val in (("location", rng.choice(EXTERNAL_LOCATIONS)),
                         ("offset", rng.choice(["0", "4", "-8", "abc", str(2**40), ""])),
                         ("length", rng.choice(["48", "12", "0", "-1", str(2**62), "x"]))):
            if rng.random() < 0.9:
                e = t.external_data.add()
                e.key, e.value = key, val
        return "tensor-external"
    if k == 5:
        if t.raw_data:
            raw = bytearray(t.raw_data)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(raw) // 4) * 4 if len(raw) >= 4 else 0
                raw[i:i + 4] = np.array([rng.choice([np.nan, np.inf, -np.inf, 3.4e38])], "<f4").tobytes()[:len(raw) - i]
            t.raw_data = bytes(raw)
        return "tensor-nan"
    t.data_location = rng.choice([0, 1, 2, 5])
    return "tensor-data-location"


def _mutate_attribute(node, rng) -> str:
    from onnx import AttributeProto as A, helper as h
    if not node.attribute or rng.random() < 0.25:
        name = rng.choice(ONNX_ATTRS)
        r = rng.randrange(4)
        val = ([pick_int(rng) for _ in range(rng.randrange(6))] if r == 0 else pick_int(rng) if r == 1
               else pick_float(rng) if r == 2 else rng.choice(WORDS).encode("utf-8", "replace"))
        if isinstance(val, list) and not val:
            a = node.attribute.add()
            a.name, a.type = name, A.INTS
        else:
            node.attribute.append(h.make_attribute(name, val))
        return f"attr-add:{name}"
    a = node.attribute[rng.randrange(len(node.attribute))]
    r = rng.randrange(6)
    if r == 0:
        node.attribute.remove(a)
        return f"attr-drop:{a.name}"
    if r == 1:
        a.type = rng.choice([A.INT, A.INTS, A.FLOAT, A.FLOATS, A.STRING, A.TENSOR, A.GRAPH, 0, 99])
        return f"attr-type:{a.name}"
    if a.type == A.INT or r == 2:
        a.i = max(-2**63, min(2**63 - 1, pick_int(rng)))
    elif a.type == A.INTS or r == 3:
        del a.ints[:]
        a.ints.extend(max(-2**63, min(2**63 - 1, pick_int(rng))) for _ in range(rng.randrange(9)))
    elif a.type == A.FLOAT:
        a.f = pick_float(rng)
    elif a.type == A.STRING:
        a.s = rng.choice(WORDS).encode("utf-8", "replace")
    elif a.type == A.TENSOR:
        return "attr-" + _mutate_tensor(a.t, rng)
    else:
        a.f = pick_float(rng)
    return f"attr-value:{a.name}"


def mutate_onnx_model(data: bytes, rng) -> tuple[bytes, str]:
    import onnx
    m = onnx.ModelProto()
    m.ParseFromString(data)
    g = m.graph
    k = rng.randrange(12)
    if k == 0 and g.initializer:
        return _finish(m, "init-" + _mutate_tensor(g.initializer[rng.randrange(len(g.initializer))], rng))
    if k == 1 and g.node:
        return _finish(m, _mutate_attribute(g.node[rng.randrange(len(g.node))], rng))
    if k == 2 and g.node:
        n = g.node[rng.randrange(len(g.node))]
        n.op_type = rng.choice(ONNX_OPS)
        return _finish(m, f"op-type:{n.op_type}")
    if k == 3 and g.node:
        n = g.node[rng.randrange(len(g.node))]
        r = rng.randrange(5)
        vals = _onnx_values(m)
        if r == 0 and n.input:
            del n.input[rng.randrange(len(n.input))]
        elif r == 1:
            n.input.append(rng.choice(vals + ["", "nowhere"]))
        elif r == 2 and n.input:
            n.input[rng.randrange(len(n.input))] = rng.choice(vals + ["", "nowhere"] + list(n.output))
        elif r == 3 and n.output:
            n.output[rng.randrange(len(n.output))] = rng.choice(vals + ["", "dup"])
        else:
            del n.output[:]
        return _finish(m, "node-io")
    if k == 4 and g.node:
        nodes = list(g.node)
        r = rng.randrange(4)
        if r == 0:
            nodes.pop(rng.randrange(len(nodes)))
        elif r == 1:
            i = rng.randrange(len(nodes))
            nodes.insert(rng.randrange(len(nodes) + 1), copy.deepcopy(nodes[i]))
        elif r == 2:
            i, j = rng.randrange(len(nodes)), rng.randrange(len(nodes))
            nodes[i], nodes[j] = nodes[j], nodes[i]
        else:
            nodes = nodes[::-1]
        del g.node[:]
        g.node.extend(nodes)
        return _finish(m, "node-order")
    if k == 5:
        vals = _onnx_values(m)
        n = onnx.helper.make_node(rng.choice(ONNX_OPS[:-2]), [rng.choice(vals) for _ in range(rng.randint(0, 3))],
                                  [f"fuzz_{rng.randrange(100)}"], name=f"fuzz_node_{rng.randrange(100)}")
        for _ in range(rng.randrange(3)):
            _mutate_attribute(n, rng)
        g.node.insert(rng.randrange(len(g.node) + 1), n)
        if rng.random() < 0.5 and g.output:
            g.output[0].name = n.output[0]
        return _finish(m, f"node-insert:{n.op_type}")
    if k == 6 and g.input:
        vi = g.input[rng.randrange(len(g.input))]
        tt = vi.type.tensor_type
        r = rng.randrange(5)
        if r == 0 and tt.shape.dim:
            d = tt.shape.dim[rng.randrange(len(tt.shape.dim))]
            d.dim_value = max(-2**63, min(2**63 - 1, pick_int(rng)))
        elif r == 1:
            tt.elem_type = rng.choice([0, 2, 3, 6, 7, 10, 11, 99])
        elif r == 2:
            tt.shape.dim.add().dim_value = rng.choice([1, 2**20, 2**40, 0])
        elif r == 3 and tt.shape.dim:
            del tt.shape.dim[rng.randrange(len(tt.shape.dim))]
        else:
            vi.ClearField("type")
        return _finish(m, "graph-input")
    if k == 7:
        r = rng.randrange(4)
        vals = _onnx_values(m)
        if r == 0 and g.output:
            g.output[rng.randrange(len(g.output))].name = rng.choice(vals + ["nowhere"])
        elif r == 1:
            del g.output[:]
        elif r == 2 and g.input:
            del g.input[rng.randrange(len(g.input))]
        else:
            g.input.add().CopyFrom(g.input[0] if g.input else onnx.ValueInfoProto(name="extra"))
            g.input[-1].name = rng.choice(vals + ["extra"])
        return _finish(m, "graph-io")
    if k == 8:
        del m.opset_import[:]
        if rng.random() < 0.8:
            m.opset_import.add(domain=rng.choice(["", "ai.onnx", "com.microsoft"]),
                               version=rng.choice([1, 6, 7, 9, 10, 11, 12, 13, 17, 21, 99, 0, -1, 2**40]))
        return _finish(m, "opset")
    if k == 9:
        what = rng.randrange(3)
        nm = rng.choice(NAMES)
        if what == 0 and g.node:
            g.node[rng.randrange(len(g.node))].name = nm
        elif what == 1 and g.initializer:
            t = g.initializer[rng.randrange(len(g.initializer))]
            for n in g.node:
                for i, x in enumerate(n.input):
                    if x == t.name:
                        n.input[i] = nm
            t.name = nm
        else:
            m.graph.name = nm
        return _finish(m, "names")
    if k == 10 and g.node:
        n = g.node[rng.randrange(len(g.node))]
        for _ in range(rng.randint(1, 3)):
            _mutate_attribute(n, rng)
        return _finish(m, "attrs-many")
    if k == 11:
        # many nodes: an Identity chain far past any real model (resource limits)
        src = g.input[0].name if g.input else "x"
        count = rng.choice([10_001, 20_000])
        prev = src
        nodes = []
        for i in range(count):
            nodes.append(onnx.helper.make_node("Identity", [prev], [f"chain{i}"]))
            prev = f"chain{i}"
        g.node.extend(nodes)
        return _finish(m, f"many-nodes:{count}")
    return _finish(m, "noop")


def _finish(m, op):
    return m.SerializeToString(), op


def mutate_onnx(case: Case, rng) -> Case:
    r = rng.random()
    entry = case.files[case.entry]
    if r < 0.25:
        other = rng.choice(seeds()["onnx"]).files
        data, op = mutate_bytes(entry, rng, next(iter(other.values())))
        return case.mutated("bytes:" + op, **{case.entry: data})
    if r < 0.3 and len(case.files) > 1:
        side = next(k for k in case.files if k != case.entry)
        data, op = mutate_bytes(case.files[side], rng)
        return case.mutated(f"{side}:{op}", **{side: data})
    try:
        data, op = mutate_onnx_model(entry, rng)
    except Exception as e:          # the bytes are already not a parseable model: mutate them as bytes
        data, op = mutate_bytes(entry, rng)
        op = f"bytes({type(e).__name__}):{op}"
    return case.mutated(op, **{case.entry: data})


# --------------------------------------------------------------------------------------------------
# Keras: config JSON, HDF5 datasets/attributes (h5py), .keras zip members
# --------------------------------------------------------------------------------------------------
def _json_slots(obj, out, depth=0):
    if depth > 12:
        return
    if isinstance(obj, dict):
        for k in list(obj):
            out.append((obj, k))
            _json_slots(obj[k], out, depth + 1)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            out.append((obj, i))
            _json_slots(obj[i], out, depth + 1)


def _layers(cfg):
    c = cfg.get("config") if isinstance(cfg, dict) else None
    if isinstance(c, list):
        return c
    if isinstance(c, dict) and isinstance(c.get("layers"), list):
        return c["layers"]
    return None


KERAS_CLASSES = ["InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv1D", "Dense", "BatchNormalization",
                 "Activation", "ReLU", "LeakyReLU", "Add", "Subtract", "Multiply", "Concatenate", "MaxPooling2D",
                 "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Reshape", "Dropout",
                 "ZeroPadding2D", "Rescaling", "Normalization", "Softmax", "LSTM", "Lambda"]
KERAS_KEYS = ["filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation",
              "use_bias", "axis", "pool_size", "target_shape", "max_value", "negative_slope", "threshold", "alpha",
              "scale", "offset", "mean", "variance", "invert", "keepdims", "center", "epsilon", "batch_shape",
              "batch_input_shape", "depth_multiplier", "name"]


def mutate_config(cfg, rng) -> str:
    layers = _layers(cfg)
    k = rng.randrange(9)
    if k < 3 or not layers:
        slots = []
        _json_slots(cfg, slots)
        if not slots:
            return "config-empty"
        obj, key = rng.choice(slots)
        r = rng.randrange(4)
        if r == 0 and isinstance(obj, dict):
            del obj[key]
            return f"json-delete:{key}"
        if r == 1 and isinstance(obj, list) and len(obj) < 10_000:
            obj.insert(key, copy.deepcopy(obj[key]))
            return "json-duplicate"
        obj[key] = pick_json(rng)
        return f"json-set:{key}"
    layer = rng.choice(layers)
    lc = layer.get("config") if isinstance(layer, dict) else None
    if k == 3 and isinstance(layer, dict):
        layer["class_name"] = rng.choice(KERAS_CLASSES)
        return f"layer-class:{layer['class_name']}"
    if k == 4 and isinstance(lc, dict):
        key = rng.choice(KERAS_KEYS)
        lc[key] = pick_json(rng) if rng.random() < 0.6 else [pick_int(rng) for _ in range(rng.randint(1, 4))]
        return f"layer-key:{key}"
    if k == 5:
        i, j = rng.randrange(len(layers)), rng.randrange(len(layers))
        layers[i], layers[j] = layers[j], layers[i]
        return "layer-swap"
    if k == 6 and isinstance(layer, dict):
        nodes = layer.get("inbound_nodes")
        names = [l.get("name") or (l.get("config") or {}).get("name") for l in layers if isinstance(l, dict)]
        r = rng.randrange(4)
        if r == 0:
            layer["inbound_nodes"] = [] if rng.random() < 0.5 else [nodes, nodes] if nodes else [[["nowhere", 0, 0, {}]]]
        elif r == 1:
            layer["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__",
                                                 "config": {"keras_history": [rng.choice(names + ["nowhere"]), 0, 0]}}],
                                       "kwargs": {}}]
        elif r == 2:
            layer["inbound_nodes"] = [[[rng.choice(names + ["nowhere"]), 0, 0, {}]]]
        else:
            layer["inbound_nodes"] = pick_json(rng)
        return "layer-inbound"
    if k == 7:
        c = cfg.get("config")
        if isinstance(c, dict):
            c[rng.choice(["output_layers", "input_layers"])] = rng.choice(
                [[], ["nowhere", 0, 0], [["nowhere", 0, 0]], pick_json(rng), [[layers[0].get("name"), 0, 0]]
                 if isinstance(layers[0], dict) else None])
        return "io-layers"
    # resource limits: a layer list far past any microcontroller model
    count = rng.choice([10_001, 20_000])
    layers.extend(layers[-1] for _ in range(count))          # the same object: json.dumps writes it `count` times
    return f"many-layers:{count}"


def deep_json(depth=100_000) -> str:
    return "[" * depth + "]" * depth


def _h5_datasets(f):
    out = []
    f.visititems(lambda name, obj: out.append(name) if hasattr(obj, "dtype") else None)
    return out


def mutate_h5(data: bytes, rng, keras3: bool) -> tuple[bytes, str]:
    import h5py
    bio = io.BytesIO(data)
    with h5py.File(bio, "r+") as f:
        dsets = _h5_datasets(f)
        k = rng.randrange(7)
        if k <= 2 and dsets:
            name = rng.choice(dsets)
            old = f[name]
            shape = old.shape
            del f[name]
            r = rng.randrange(8)
            if r == 0:        # declared, never written: HDF5 stores no data for it
                f.create_dataset(name, shape=tuple(rng.choice([2**20, 2**15, 2**31]) for _ in range(rng.randint(1, 4))),
                                 dtype="f4", chunks=True, fillvalue=0)
            elif r == 1:
                new = tuple(max(1, d + rng.choice([-1, 1, 5])) for d in shape) if shape else (3,)
                f.create_dataset(name, data=np.zeros(new, "f4"))
            elif r == 2:
                f.create_dataset(name, data=np.array([b"text", b"x"], dtype=h5py.string_dtype()))
            elif r == 3:
                f.create_dataset(name, data=np.full(shape or (), np.nan, "f4"))
            elif r == 4:
                f.create_dataset(name, data=np.zeros((0,) + tuple(shape[1:]), "f4"))
            elif r == 5:
                f.create_dataset(name, data=np.float32(1.5))
            elif r == 6:
                f.create_dataset(name, data=np.zeros(shape or (2,), [("a", "i4"), ("b", "f8")]))
            else:
                f.create_group(name)
            return bio.getvalue(), f"h5-dataset:{r}"
        if k == 3 and dsets:
            del f[rng.choice(dsets)]
            return bio.getvalue(), "h5-delete"
        groups = []
        f.visititems(lambda n, o: groups.append(n) if not hasattr(o, "dtype") else None)
        if k == 4 and not keras3:
            grp = f[rng.choice([g for g in groups if g.count("/") == 1] or ["/"])]
            names = list(grp.attrs.get("weight_names", []))
            r = rng.randrange(5)
            val = ([b"nowhere:0"] if r == 0 else names[::-1] if r == 1 else np.array([1, 2, 3]) if r == 2
                   else names * 2 if r == 3 else np.array([rng.choice(NAMES).encode("utf-8")]))
            grp.attrs["weight_names"] = val
            return bio.getvalue(), f"h5-weight-names:{r}"
        if k == 4 and keras3 and groups:
            g = f[rng.choice(groups)]
            g.attrs["name"] = rng.choice([np.int64(3), b"\xff\xfe", "other", np.array([1.0, 2.0])])
            return bio.getvalue(), "h5-vars-name"
        if k == 5 and not keras3:
            key = rng.choice(["model_config", "keras_version", "backend"])
            r = rng.randrange(5)
            f.attrs[key] = (np.int64(7) if r == 0 else b"\xff\xfe\x00" if r == 1 else np.array([1, 2])
                            if r == 2 else json.dumps(pick_json(rng)) if r == 3 else deep_json(rng.choice([1000, 100_000])))
            return bio.getvalue(), f"h5-attr:{key}:{r}"
        if k == 6 and not keras3:
            raw = f.attrs["model_config"]
            cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            op = mutate_config(cfg, rng)
            f.attrs["model_config"] = json.dumps(cfg)
            return bio.getvalue(), op
    return bio.getvalue(), "h5-noop"


def _zip(members: list, compress=zipfile.ZIP_STORED) -> bytes:
    import warnings
    bio = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(bio, "w", compress) as z:
        warnings.simplefilter("ignore")                    # duplicate member names are one of the mutations
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name), data)
    return bio.getvalue()


def mutate_keras_zip(data: bytes, rng) -> tuple[bytes, str]:
    z = zipfile.ZipFile(io.BytesIO(data))
    members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    k = rng.randrange(7)
    names = [n for n, _ in members]
    if k <= 2 and "config.json" in names:
        i = names.index("config.json")
        cfg = json.loads(members[i][1])
        op = mutate_config(cfg, rng) if rng.random() < 0.9 else "config-deep"
        members[i] = ("config.json", (json.dumps(cfg) if op != "config-deep" else deep_json()).encode())
        return _zip(members), op
    if k == 3 and "model.weights.h5" in names:
        i = names.index("model.weights.h5")
        h5, op = mutate_h5(members[i][1], rng, keras3=True)
        members[i] = ("model.weights.h5", h5)
        return _zip(members), op
    if k == 4:
        bad = rng.choice(["../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "..\\evil.txt", "C:/evil.txt",
                          "sub/../config.json", "./config.json"])
        members.insert(rng.randrange(len(members) + 1), (bad, b"x"))
        return _zip(members), f"zip-member:{bad}"
    if k == 5:
        r = rng.randrange(4)
        if r == 0 and "metadata.json" in names:
            members[names.index("metadata.json")] = ("metadata.json", json.dumps(pick_json(rng)).encode())
        elif r == 1:
            members = [(n, d) for n, d in members if n != rng.choice(names)]
        elif r == 2:
            members.append((rng.choice(names), rng.randbytes(rng.randint(0, 100))))
        else:
            members = [(rng.choice(names) if j == 0 else n, d) for j, (n, d) in enumerate(members)]
        return _zip(members), f"zip-members:{r}"
    # header fields: compression method, flags, sizes of the central directory entries
    raw = bytearray(data)
    cd = raw.rfind(b"PK\x01\x02")
    if cd < 0:
        return bytes(raw), "zip-noop"
    field_, width, value = rng.choice([(10, 2, rng.choice([99, 14, 12, 1])), (8, 2, 1), (24, 4, 0xFFFFFFFF),
                                       (24, 4, 1 << 30), (20, 4, 0xFFFFFFFF), (42, 4, 0xFFFFFFF0)])
    raw[cd + field_:cd + field_ + width] = value.to_bytes(width, "little")
    return bytes(raw), f"zip-header:{field_}"


def mutate_keras(case: Case, rng) -> Case:
    data = case.files[case.entry]
    r = rng.random()
    try:
        if r < 0.2:
            data, op = mutate_bytes(data, rng)
            op = "bytes:" + op
        elif case.entry.endswith(".keras"):
            data, op = mutate_keras_zip(data, rng)
        else:
            data, op = mutate_h5(data, rng, keras3=False)
    except Exception as e:        # already unparseable by the mutator: fall back to bytes
        data, op = mutate_bytes(data, rng)
        op = f"bytes({type(e).__name__}):{op}"
    return case.mutated(op, **{case.entry: data})


# --------------------------------------------------------------------------------------------------
# Darknet: cfg lines and weights
# --------------------------------------------------------------------------------------------------
CFG_VALUES = ["0", "1", "-1", "2", "-2", "3", "100", "-2147483648", "2147483648", "99999999", "1e30", "1e400", "nan",
              "inf", "-inf", "", "1,", ",", "1,,2", "0x10", "1.5", "abc", "9" * 400, "-9" * 200, "1,2,3,4,5,6,7,8,9",
              "leaky", "linear", "logistic", "bogus", "0,0,0", "-1,-2", "-100", "5,-30"]
CFG_SECTIONS = ["convolutional", "maxpool", "avgpool", "route", "shortcut", "upsample", "dropout", "connected",
                "softmax", "yolo", "net", "region", "local", "crnn"]
CFG_KEYS = ["filters", "size", "stride", "pad", "padding", "groups", "group_id", "batch_normalize", "activation",
            "layers", "from", "output", "mask", "anchors", "classes", "num", "width", "height", "channels",
            "scale_x_y"]


def mutate_cfg(text: str, rng) -> tuple[str, str]:
    lines = text.splitlines()
    idx = [i for i, l in enumerate(lines) if "=" in l and not l.lstrip().startswith(("#", ";"))]
    heads = [i for i, l in enumerate(lines) if l.strip().startswith("[")]
    k = rng.randrange(10)
    if k <= 3 and idx:
        i = rng.choice(idx)
        key = lines[i].split("=", 1)[0].strip()
        lines[i] = f"{key}={rng.choice(CFG_VALUES)}"
        return "\n".join(lines) + "\n", f"cfg-value:{key}"
    if k == 4 and heads:
        i = rng.choice(heads)
        lines.insert(i + 1, f"{rng.choice(CFG_KEYS)}={rng.choice(CFG_VALUES)}")
        return "\n".join(lines) + "\n", "cfg-add-key"
    if k == 5 and heads:
        i = rng.choice(heads)
        lines[i] = f"[{rng.choice(CFG_SECTIONS)}]"
        return "\n".join(lines) + "\n", "cfg-section-type"
    if k == 6 and len(heads) > 2:
        a = rng.choice(heads[1:])
        nxt = [h for h in heads if h > a]
        b = nxt[0] if nxt else len(lines)
        block = lines[a:b]
        r = rng.randrange(3)
        if r == 0:
            del lines[a:b]
        elif r == 1:
            j = rng.choice(heads[1:])
            lines[j:j] = block
        else:
            lines[b:b] = block * rng.choice([2, 50])
        return "\n".join(lines) + "\n", f"cfg-section:{r}"
    if k == 7 and lines:
        i = rng.randrange(len(lines))
        r = rng.randrange(3)
        if r == 0:
            del lines[i]
        elif r == 1:
            lines.insert(i, rng.choice(["[", "[]", "key", "=", "=1", "[ ]", "[net", "x==1", "\x00", "\ufeff[net]", "\t"]))
        else:
            lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]
        return "\n".join(lines) + "\n", f"cfg-line:{r}"
    if k == 8:
        # resource limits: a section count or an input far past any real model
        r = rng.randrange(3)
        if r == 0:
            return text + "\n[dropout]\n" * rng.choice([20_000, 1_000_000]), "cfg-many-sections"
        if r == 1:
            return text + "\n[maxpool]\nsize=1\nstride=1\n" * 12_000, "cfg-many-layers"
        size = rng.choice([100_000, 2**31, 2**40])
        return _set_net_size(text, size), f"cfg-huge-input:{size}"
    return text.replace("\n", rng.choice(["\r\n", "\r", "\n\n"])), "cfg-newlines"


def mutate_weights(data: bytes, rng) -> tuple[bytes, str]:
    k = rng.randrange(4)
    if k == 0 and len(data) >= 16:
        b = bytearray(data)
        i = rng.choice([0, 4, 8, 12])
        b[i:i + 4] = np.array([rng.choice([0, 1, 2, 1000, -1, 2**31 - 1, -2**31])], "<i4").tobytes()
        return bytes(b), "weights-header"
    if k == 1 and len(data) >= 24:
        f = np.frombuffer(data, "<f4", offset=20, count=(len(data) - 20) // 4).copy()
        for _ in range(rng.randint(1, 8)):
            f[rng.randrange(len(f))] = rng.choice([np.nan, np.inf, -np.inf, -1.0, 0.0, 3.4e38])
        return data[:20] + f.tobytes() + data[20 + 4 * len(f):], "weights-floats"
    if k == 2:
        return data + rng.randbytes(rng.choice([1, 3, 4, 400])), "weights-extend"
    return data[:rng.randrange(len(data) + 1)], "weights-truncate"


def mutate_darknet(case: Case, rng) -> Case:
    cfg = case.entry
    weights = cfg[:-4] + ".weights"
    r = rng.random()
    if r < 0.6:
        text = case.files[cfg].decode("utf-8", "replace")
        text, op = mutate_cfg(text, rng)
        return case.mutated(op, **{cfg: text.encode("utf-8", "surrogatepass")})
    if r < 0.75:
        data, op = mutate_bytes(case.files[cfg], rng)
        return case.mutated("cfg-bytes:" + op, **{cfg: data})
    data, op = mutate_weights(case.files[weights], rng)
    return case.mutated(op, **{weights: data})


def mutate_tflite(case: Case, rng) -> Case:
    """Byte-level mutations of the flatbuffer (offsets, vtables, buffers), splicing the other seed."""
    other = next(iter(rng.choice(seeds()["tflite"]).files.values()))
    data, op = mutate_bytes(case.files[case.entry], rng, other)
    return case.mutated(op, **{case.entry: data})


MUTATORS = {"onnx": mutate_onnx, "keras": mutate_keras, "darknet": mutate_darknet, "tflite": mutate_tflite}


def make_case(fmt: str, rng) -> Case:
    case = rng.choice(seeds()[fmt])
    for _ in range(1 if rng.random() < 0.6 else rng.randint(2, 3)):
        case = MUTATORS[fmt](case, rng)
    return case


def seeded_case(fmt: str, seed: int, index: int) -> Case:
    """Case `index` of a seeded run: the same (fmt, seed, index) always gives the same files."""
    return make_case(fmt, random.Random(f"{fmt}:{seed}:{index}"))


# --------------------------------------------------------------------------------------------------
# running one case (inside the worker, or in-process under atheris)
# --------------------------------------------------------------------------------------------------
def _snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            out[rel] = None if p.is_dir() and not p.is_symlink() else hashlib.sha256(
                p.read_bytes() if p.is_file() else os.readlink(p).encode()).hexdigest()
    return out


def _macs(g) -> int:
    total = 0
    for n in g.nodes:
        out = g.tensors[n.outputs[0]].shape
        if n.op == "Conv2D":
            w = g.tensors[n.inputs[1]].shape
            total += int(np.prod(out, dtype=object)) * int(np.prod(w[1:], dtype=object))
        elif n.op == "FullyConnected":
            total += int(np.prod(g.tensors[n.inputs[1]].shape, dtype=object))
        else:
            total += int(np.prod(out, dtype=object))
    return total


def _edgec_frame(tb) -> str:
    """file:line of the innermost frame in edgec's own code (where to fix it), else the innermost frame."""
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if str(ROOT) in f.filename and "/tests/" not in f.filename]
    f = (ours or frames or [None])[-1]
    return f"{os.path.relpath(f.filename, ROOT) if str(ROOT) in f.filename else f.filename}:{f.lineno} in {f.name}" if f else "?"


class _Noise(Exception):
    """The importer succeeded but warned (numpy overflow...): the CLI would print more than its output."""


def run_case(case: Case, scratch: Path, compile_ok: bool = True) -> dict:
    """Import (+ canonicalize + compile when small) one case in this process; returns the outcome."""
    from edgec.build import compile_graph, import_model
    from edgec.errors import EdgecError
    from edgec.pipeline import canonicalize

    if scratch.exists():
        shutil.rmtree(scratch)
    indir, outdir, cwd = scratch / "in", scratch / "out", scratch / "cwd"
    for d in (indir, outdir, cwd):
        d.mkdir(parents=True)
    for name, data in case.files.items():
        (indir / name).parent.mkdir(parents=True, exist_ok=True)
        (indir / name).write_bytes(data)
    before = _snapshot(scratch)
    here = os.getcwd()
    os.chdir(cwd)
    stage, t0 = "import", time.perf_counter()
    res = {"outcome": "ok"}
    caught = warnings.catch_warnings(record=True)
    seen = caught.__enter__()
    warnings.simplefilter("always")
    try:
        g = import_model(str(indir / case.entry), str(indir / case.weights) if case.weights else None)
        noisy = [w for w in seen if "/importers/" in w.filename]
        if noisy:                   # the CLI would print these on stderr around its one-line error
            raise _Noise(f"{noisy[0].category.__name__}: {noisy[0].message} at "
                         f"{os.path.relpath(noisy[0].filename, ROOT)}:{noisy[0].lineno}")
        stage = "canonicalize"
        g = canonicalize(g)
        if compile_ok and len(g.nodes) <= COMPILE_NODES and _macs(g) <= COMPILE_MACS:
            stage = "compile"
            shape = g.tensors[g.inputs[0]].shape
            samples = np.random.default_rng(0).uniform(0, 1, (2,) + tuple(shape)).astype(np.float32)
            compile_graph(g, samples, "host", str(outdir / "o"), g.name, str(indir / case.entry))
    except _Noise as e:
        res = {"outcome": "warning", "detail": str(e)}
    except EdgecError as e:
        msg = str(e)
        res = {"outcome": "error", "message": msg}
        noisy = [w for w in seen if "/importers/" in w.filename]
        if noisy:
            res.update(outcome="warning", detail=f"{noisy[0].category.__name__}: {noisy[0].message} at "
                                                 f"{os.path.relpath(noisy[0].filename, ROOT)}:{noisy[0].lineno}")
        named = {case.entry, case.weights or case.entry[:-4] + ".weights"} if case.fmt == "darknet" else {case.entry}
        if len(msg.splitlines()) != 1 or not msg.isprintable():
            res.update(outcome="bad-message", detail="the message is not one printable line")
        elif stage == "import" and not any(n in msg for n in named):
            res.update(outcome="bad-message", detail="the message does not name the model file")
    except BaseException as e:       # noqa: BLE001 - every other exception is a finding
        res = {"outcome": "crash", "exception": type(e).__name__, "message": str(e)[:300],
               "where": _edgec_frame(e.__traceback__), "traceback": traceback.format_exc()[-3000:]}
    finally:
        caught.__exit__(None, None, None)
        os.chdir(here)
    res.update(stage=stage, seconds=round(time.perf_counter() - t0, 3))
    after = _snapshot(scratch)
    stray = sorted(k for k in after if k not in before and not (k == "out/o" or k.startswith("out/o/")))
    changed = sorted(k for k in before if after.get(k, "gone") != before[k])
    if stray or changed:
        res.update(outcome="escape", detail=f"written outside -o: {stray[:5]}; inputs changed: {changed[:5]}")
    shutil.rmtree(scratch, ignore_errors=True)
    return res


def signature(res: dict) -> str:
    """What makes two findings the same bug."""
    if res["outcome"] == "crash":
        return f"crash {res['exception']} at {res['where']}"
    if res["outcome"] in ("bad-message", "escape", "warning"):
        return f"{res['outcome']}: {res.get('detail')} [{res.get('stage')}]"
    return res["outcome"] + (f" ({res.get('detail')})" if res.get("detail") else "")


# --------------------------------------------------------------------------------------------------
# the worker process: 2 GiB address space, one case at a time, killed after 10 s
# --------------------------------------------------------------------------------------------------
def _limit_child():
    resource.setrlimit(resource.RLIMIT_AS, (CASE_MEMORY, CASE_MEMORY))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()


def worker_main():
    """Reads case directories (one JSON line each) on stdin, answers one JSON line each on the real stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                        # anything the libraries print goes to stderr, not into the protocol
    import edgec.build, edgec.pipeline   # noqa: F401,E401 - import before the first case's clock starts
    import edgec.importers.onnx, edgec.importers.keras, edgec.importers.darknet  # noqa: F401,E401
    out.write("ready\n")
    for line in sys.stdin:
        msg = json.loads(line)
        d = Path(msg["dir"])
        case = Case(msg["fmt"], msg["seed"], {n: (d / "files" / n).read_bytes() for n in msg["files"]}, msg["entry"],
                    msg.get("weights"), msg.get("ops", []))
        res = run_case(case, d / "run", msg.get("compile", True))
        out.write(json.dumps(res) + "\n")


class Worker:
    """A child python running worker_main under the case limits; restarted after a hang or a death."""

    def __init__(self, scratch: Path, seconds: float = CASE_SECONDS):
        self.scratch, self.seconds = scratch, seconds
        self.proc = None
        self.log = scratch / "worker.log"
        self.tmp = scratch / "tmp"         # the worker's TMPDIR and HOME: must be empty after every case

    def start(self):
        self.tmp.mkdir(exist_ok=True)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
               "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(self.tmp), "HOME": str(self.tmp)}
        self.proc = subprocess.Popen([sys.executable, "-c", "import fuzzing; fuzzing.worker_main()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log, "wb"),
                                     text=True, env=env, preexec_fn=_limit_child, cwd=str(self.scratch))
        line = self._read(60.0)
        if line != "ready":
            raise RuntimeError(f"fuzz worker did not start: {line!r}; see {self.log}: "
                               f"{self.log.read_text(errors='replace')[-2000:]}")

    def _read(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        if not ready:
            return None
        return self.proc.stdout.readline().strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None

    def run(self, case: Case, compile_ok: bool = True) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        d = self.scratch / "case"
        shutil.rmtree(d, ignore_errors=True)
        (d / "files").mkdir(parents=True)
        for name, data in case.files.items():
            (d / "files" / name).parent.mkdir(parents=True, exist_ok=True)
            (d / "files" / name).write_bytes(data)
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps({"dir": str(d), "fmt": case.fmt, "seed": case.seed, "files": list(case.files),
                                          "entry": case.entry, "weights": case.weights, "ops": case.ops,
                                          "compile": compile_ok}) + "\n")
        self.proc.stdin.flush()
        line = self._read(self.seconds + 2.0)
        wall = time.perf_counter() - t0
        if line is None:
            self.stop()
            return {"outcome": "hang", "detail": f"no answer after {wall:.1f} s", "seconds": round(wall, 3)}
        if not line:
            code = self.proc.wait()
            self.proc = None
            tail = self.log.read_text(errors="replace")[-1500:]
            return {"outcome": "died", "detail": f"worker exited with {code}", "log": tail, "seconds": round(wall, 3)}
        res = json.loads(line)
        stray = sorted(p.name for p in self.tmp.iterdir())
        if stray:
            shutil.rmtree(self.tmp)
            self.tmp.mkdir()
            res.update(outcome="escape", detail=f"written to TMPDIR/HOME: {stray[:5]}")
        if res["seconds"] > self.seconds:
            res.update(outcome="slow", detail=f"{res['seconds']:.1f} s > {self.seconds:.0f} s [{res['stage']}]")
        return res


def run_seeded(formats, seed: int, cases_per_format: int | None = None, seconds: float | None = None,
               scratch: Path | None = None, compile_ok: bool = True, log=None) -> dict:
    """Seeded mutation fuzzing, round-robin over `formats`, until `cases_per_format` cases each or `seconds`.
    Returns {"cases": {fmt: n}, "outcomes": {...}, "findings": {signature: first result}, "seconds": s}."""
    own = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="edgec-fuzz-")) if own else scratch
    worker = Worker(scratch)
    stats = {"cases": {f: 0 for f in formats}, "outcomes": {}, "findings": {}, "seconds": 0.0, "seed": seed}
    t0 = time.perf_counter()
    try:
        i = 0
        while True:
            if cases_per_format is not None and i >= cases_per_format:
                break
            if seconds is not None and time.perf_counter() - t0 > seconds:
                break
            for fmt in formats:
                case = seeded_case(fmt, seed, i)
                res = worker.run(case, compile_ok)
                stats["cases"][fmt] += 1
                stats["outcomes"][res["outcome"]] = stats["outcomes"].get(res["outcome"], 0) + 1
                if res["outcome"] not in ("ok", "error"):
                    sig = f"{fmt}: {signature(res)}"
                    if sig not in stats["findings"]:
                        res.update(replay=f"{fmt}:{seed}:{i}", seed_model=case.seed, ops=case.ops, sha=case.sha())
                        stats["findings"][sig] = res
                        if log:
                            log(f"finding {sig}  (replay {fmt}:{seed}:{i}, {case.seed}, {case.ops})")
            i += 1
    finally:
        worker.stop()
        stats["seconds"] = round(time.perf_counter() - t0, 1)
        if own:
            shutil.rmtree(scratch, ignore_errors=True)
    return stats
