"""sink_reshape before/after, on the 1-D audio CNN of the zoo (tests/zoo_misc.py) as Keras 3 writes it
two ways: its own ONNX export (bias-less Conv -> Reshape -> Add(bias) -> Relu, an explicit Pad before
the strided conv's Reshape) and the .keras file (Conv1D(activation="relu") -> Reshape -> Relu), and on
a torch 1-D CNN from the TorchScript exporter (Conv1d -> ReLU -> Pad -> Conv1d, x * constant per
channel).  The pass keeps the float answer, leaves its argument alone and is idempotent; after the whole
canonical list the adds, ReLUs and pads are folded into the convs, and the two Keras forms are the same
network: the same layers, MACs and arena."""
import os

import numpy as np
import pytest

import zoo_misc
from conftest import canonical_before, check_float_pass, require
from zoo_misc import audio
from edgec.driver.build import build, import_model
from edgec.passes.sink_reshape import sink_reshape
from edgec.passes.pipeline import canonicalize


@pytest.fixture(scope="module")
def keras_audio(tmp_path_factory):
    """{"onnx" | "keras": path} of the zoo's Keras audio CNN, one model saved both ways."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    keras.utils.set_random_seed(5)
    d = tmp_path_factory.mktemp("keras_audio")
    model = zoo_misc.keras_models()["audio_cnn"][0]()
    x = np.ascontiguousarray(audio().transpose(0, 2, 1))
    model.predict(x[:1], verbose=0)
    model.export(str(d / "audio.onnx"), format="onnx", verbose=False)
    model.save(d / "audio.keras")
    np.save(d / "cal.npy", x)
    return {"onnx": d / "audio.onnx", "keras": d / "audio.keras", "x": x, "dir": d}


def _ops(g):
    return [n.op for n in g.nodes]


@pytest.mark.parametrize("src", ["onnx", "keras"])
def test_before_after_on_both_keras_forms(keras_audio, src):
    g = canonical_before(import_model(str(keras_audio[src])), sink_reshape)
    after = check_float_pass(sink_reshape, g, keras_audio["x"][:3, None])
    moved = {"onnx": ("Add",), "keras": ("Relu",)}[src]
    for op in moved:              # each now reads what a conv or pool writes, not a Reshape of it
        prod = g.producer()
        assert any(prod[n.inputs[0]].op == "Reshape" for n in g.nodes if n.op == op and n.inputs[0] in prod)
        prod = after.producer()
        assert not any(prod[n.inputs[0]].op == "Reshape" for n in after.nodes if n.op == op and n.inputs[0] in prod)
    if src == "onnx":             # the Pad: now the conv's own reader, on the 2-D view
        for graph, reader in ((g, "Reshape"), (after, "Conv2D")):
            readers = graph.consumers()
            assert [r.op for n in graph.nodes if n.op == "Pad" for r in readers[n.outputs[0]]] == [reader]
    full = canonicalize(import_model(str(keras_audio[src])))
    assert not {"Add", "Relu", "Pad"} & set(_ops(full)), _ops(full)


def test_both_keras_forms_build_the_same_network_bit_exact(keras_audio):
    require("cc")
    from edgec.verification.verify import verify
    d = keras_audio["dir"]
    reps = {src: build(str(keras_audio[src]), "cortex-m7", str(d / f"out_{src}"), str(d / "cal.npy"), ram="512K",
                       flash="2M") for src in ("onnx", "keras")}
    assert [l["op"] for l in reps["onnx"]["layers"]] == [l["op"] for l in reps["keras"]["layers"]]
    a, b = reps["onnx"]["totals"], reps["keras"]["totals"]
    assert (a["macs"], a["arena_bytes"], a["weight_bytes"]) == (b["macs"], b["arena_bytes"], b["weight_bytes"]), (a, b)
    assert a["layers"] == 11, reps["onnx"]["layers"]            # was 26 (ONNX) and 23 (.keras) behind the Reshapes
    for src in ("onnx", "keras"):
        r = verify(str(d / f"out_{src}"), "host", str(d / "cal.npy"))
        assert r["bit_exact"] and r["float_agreement"]["sqnr_db"] >= 25, r


def test_torch_1d_cnn_before_after(tmp_path):
    """A different model of the class: torch Conv1d -> ReLU, F.pad then a strided Conv1d, a per-channel
    scale, as the TorchScript exporter writes them (each 1-D op wrapped in Reshapes by the importer)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(2)
            self.c1, self.c2 = nn.Conv1d(10, 16, 3, padding=1), nn.Conv1d(16, 24, 3, stride=2)
            self.register_buffer("k", torch.linspace(0.5, 1.5, 24).reshape(1, 24, 1))

        def forward(self, x):
            y = F.relu(self.c1(x))
            y = torch.sigmoid(self.c2(F.pad(y, (1, 2))) * self.k)
            return y.mean(-1)
    path = zoo_misc.export(Net().eval(), (1, 10, 49), tmp_path / "net.onnx", "torchscript", 13)
    xs = audio()[:3, None]
    g = canonical_before(import_model(path), sink_reshape)
    after = check_float_pass(sink_reshape, g, xs)
    assert len(after.nodes) == len(g.nodes)
    full = canonicalize(import_model(path))
    assert not {"Pad", "Relu", "Mul"} & set(_ops(full)), _ops(full)
