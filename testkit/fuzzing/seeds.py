"""Seeds: the cases fuzzing starts from, the real models in tests/data and examples/ and small synthetic
ones that reach the importer code the real ones do not (every ONNX op, external data, every Darknet section)."""
from __future__ import annotations

import functools
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cases import DATA, ROOT

EXAMPLES = ROOT / "examples"

FORMATS = ("onnx", "keras", "darknet", "tflite")


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


def keras2_h5() -> bytes:
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
    from edgec.compiler.importers.darknet import parse_cfg
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


def set_net_size(cfg_text: str, size: int) -> str:
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
    keras_seeds.append(Case("keras", "small.h5", {"small.h5": keras2_h5()}, "small.h5"))
    fastest = set_net_size((DATA / "yolo-fastest-1.1.cfg").read_text(), 64)
    darknet_seeds = [Case("darknet", "yolo-fastest-1.1.cfg", {"yolo.cfg": fastest.encode(),
                                                              "yolo.weights": (DATA / "yolo-fastest-1.1.weights").read_bytes()},
                          "yolo.cfg")]
    for name, text in (("detect", DARKNET_DETECT_CFG), ("classify", DARKNET_CLASSIFY_CFG), ("avgpool", DARKNET_AVGPOOL_CFG)):
        darknet_seeds.append(Case("darknet", f"{name}.cfg", {f"{name}.cfg": text.encode(),
                                                              f"{name}.weights": darknet_weights(text)}, f"{name}.cfg"))
    tflite_seeds = [Case("tflite", p.name, {p.name: p.read_bytes()}, p.name) for p in
                    (DATA / "kws_ref_model.tflite", DATA / "ad01_int8.tflite")]
    return {"onnx": onnx_seeds, "keras": keras_seeds, "darknet": darknet_seeds, "tflite": tflite_seeds}
