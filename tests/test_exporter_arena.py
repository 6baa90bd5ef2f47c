"""Issue 18 item 4: RAM does not depend on the exporter.  The same network from two exporters, or
with every tensor and node renamed, plans the same arena: the memory planner breaks ties between equal
buffers by their place in the (structural) node order, never by name (passes/plan_memory.py), and a
PyTorch (NCHW) file whose first tiled stage starts with the input's Transpose can take one-row bands,
which keep the transposed input's band small enough for the Keras (NHWC) file's arena
(passes/tile.py tile_counts)."""
import os
import warnings
from dataclasses import replace

import numpy as np
import pytest

from conftest import data, require
from edgec.compiler.calibrate import calibrate
from edgec.compiler.ir import Graph
from edgec.driver.build import build, import_model
from edgec.passes.pipeline import canonicalize, plan, quantize
from edgec.passes.plan_memory import validate_plan
from edgec.verification.verify import verify

warnings.filterwarnings("ignore", module="torch")


def planned(graph: Graph, samples: np.ndarray) -> Graph:
    """The build's planning of a canonical float graph (calibrated on `samples`), without codegen."""
    q = quantize(calibrate(graph, samples))
    q.meta["optimize"] = "ram"
    return plan(q)


def renamed(graph: Graph) -> Graph:
    """The graph with every tensor and node renamed, the alphabetical order of the new names the
    reverse of the old ones' (what a name tie-break would notice)."""
    tensors = {t: f"t{len(graph.tensors) - i:05d}" for i, t in enumerate(sorted(graph.tensors))}
    nodes = {n: f"n{len(graph.nodes) - i:05d}" for i, n in enumerate(sorted(n.name for n in graph.nodes))}
    h = graph.copy()
    h.tensors = {tensors[k]: replace(v, name=tensors[k]) for k, v in graph.tensors.items()}
    h.nodes = [replace(n, name=nodes[n.name], inputs=[tensors[t] for t in n.inputs],
                       outputs=[tensors[t] for t in n.outputs]) for n in graph.nodes]
    h.inputs, h.outputs = [tensors[t] for t in graph.inputs], [tensors[t] for t in graph.outputs]
    return h


def ad_samples():
    return np.load(os.path.join(os.path.dirname(__file__), "data", "ad_inputs_float_x640.npy"))[:32, None]


def test_ad01_from_keras_h5_and_tf2onnx_plans_one_arena():
    """MLPerf Tiny's AD autoencoder (ten Dense layers, eight of 128 units: equal buffers everywhere)
    from its Keras .h5 and its tf2onnx export: one arena (256 B from the .h5, 264 B from the ONNX
    file when ties were broken by tensor name)."""
    x = ad_samples()
    arenas = {}
    for f in ("ad01.h5", "ad01_tf2onnx.onnx"):
        g = planned(canonicalize(import_model(os.path.join(os.path.dirname(__file__), "data", f))), x)
        validate_plan(g)
        arenas[f] = g.plan.arena_size
    assert len(set(arenas.values())) == 1, arenas


def test_renamed_graph_plans_the_same_buffers():
    """Every tensor and node of the AD autoencoder renamed (names sorting the other way round): the
    same arena, and every buffer at the same offset."""
    g = canonicalize(import_model(os.path.join(os.path.dirname(__file__), "data", "ad01.h5")))
    h = renamed(g)
    a, b = planned(g, ad_samples()), planned(h, ad_samples())
    assert a.plan.arena_size == b.plan.arena_size
    to_new = {t: f"t{len(g.tensors) - i:05d}" for i, t in enumerate(sorted(g.tensors))}
    for t, buf in a.plan.buffers.items():
        other = b.plan.buffers[to_new[t]]
        assert (buf["where"], buf["offset"], buf["size"]) == (other["where"], other["offset"], other["size"]), t


def test_audio_cnn_from_both_torch_exporters_plans_one_arena(tmp_path):
    """The 1-D audio CNN (tests/zoo_misc.py) from PyTorch's TorchScript and dynamo exporters: one
    arena (2,860 B and 2,800 B when ties were broken by tensor name; both exporters name every tensor
    differently)."""
    import zoo_misc
    model, shape = zoo_misc.make_audio_cnn()
    x = zoo_misc.audio()[:, None]
    arenas = {}
    for exporter, opset in (("torchscript", 13), ("dynamo", 18)):
        path = zoo_misc.export(model, shape, tmp_path / f"audio_{exporter}.onnx", exporter, opset)
        g = planned(canonicalize(import_model(path)), x)
        validate_plan(g)
        arenas[exporter] = g.plan.arena_size
    assert len(set(arenas.values())) == 1, arenas


def stem_net_files(tmp_path, channels=16, size=96):
    """One network written twice, for PyTorch (NCHW, TorchScript ONNX export) and for Keras 3 (NHWC,
    .keras): a 3x3/2 conv stem and a 3x3/2 max pool (a ResNet/ShuffleNet-style stem), a stride-2 unit
    of two branches (a 3x3/2 conv, a 3x3/2 depthwise conv) concatenated, a 1x1 conv and four 3x3
    convs at 12x12, global average pooling and a 10-way Dense.  The pool's output has two readers, so
    the stem's tiled stage ends there, and it is the network's peak: from the PyTorch file the stage
    starts with the NCHW input's Transpose."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import torch
    from torch import nn
    c = channels

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
            self.left = nn.Sequential(nn.Conv2d(c, c, 3, 2, 1), nn.ReLU())
            self.right = nn.Sequential(nn.Conv2d(c, c, 3, 2, 1, groups=c), nn.ReLU())
            self.tail = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 1), nn.ReLU(),
                                      *[m for _ in range(4) for m in (nn.Conv2d(2 * c, 2 * c, 3, 1, 1), nn.ReLU())])
            self.fc = nn.Linear(2 * c, 10)

        def forward(self, x):
            x = self.stem(x)
            return self.fc(self.tail(torch.cat((self.left(x), self.right(x)), 1)).mean((2, 3)))

    torch.manual_seed(0)
    onnx_path = str(tmp_path / "stem.onnx")
    torch.onnx.export(Net().eval(), (torch.zeros(1, 3, size, size),), onnx_path, dynamo=False, opset_version=13)
    keras.utils.set_random_seed(0)
    L = keras.layers
    i = keras.Input((size, size, 3))
    x = L.MaxPooling2D(3, 2, padding="same")(L.Conv2D(c, 3, 2, padding="same", activation="relu")(i))
    x = L.Concatenate()([L.Conv2D(c, 3, 2, padding="same", activation="relu")(x),
                         L.DepthwiseConv2D(3, 2, padding="same", activation="relu")(x)])
    x = L.Conv2D(2 * c, 1, activation="relu")(x)
    for _ in range(4):
        x = L.Conv2D(2 * c, 3, padding="same", activation="relu")(x)
    keras_path = str(tmp_path / "stem.keras")
    keras.Model(i, L.Dense(10)(L.GlobalAveragePooling2D()(x))).save(keras_path)
    return onnx_path, keras_path


def test_nchw_stem_stage_plans_the_nhwc_arena_and_is_bit_exact(tmp_path):
    """The PyTorch file's first stage (Transpose, conv, pool) keeps a band of the transposed input that
    the Keras file's (conv, pool) does not: at most 16 bands, 2 pool rows, it reads 11 input rows (3,168
    B) and the PyTorch file planned 16,388 B against Keras's 13,824 B.  One-row bands (24: 7 input rows,
    2,016 B, and a 3-row conv band) bring it to the Keras arena.  The C of the one-row stage is
    bit-exact on the host."""
    require("cc")
    onnx_path, keras_path = stem_net_files(tmp_path)
    photos = data("vww_input_float_0to1_NHWC.npy")[:12]
    np.save(tmp_path / "nchw.npy", np.ascontiguousarray(photos.transpose(0, 3, 1, 2)))
    np.save(tmp_path / "nhwc.npy", photos)
    a = build(onnx_path, "cortex-m7", str(tmp_path / "torch"), str(tmp_path / "nchw.npy"), ram="512K", flash="2M")
    b = build(keras_path, "cortex-m7", str(tmp_path / "keras"), str(tmp_path / "nhwc.npy"), ram="512K", flash="2M")
    first = a["tiling"][0]
    assert a["layers"][first["layers"][0]]["op"] == "Transpose" and first["bands"] > 16, first
    assert a["totals"]["arena_bytes"] == b["totals"]["arena_bytes"], (a["totals"], b["totals"])
    r = verify(str(tmp_path / "torch"), "host", str(tmp_path / "nchw.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] >= 4, r
