"""RAM that does not depend on the exporter (issue 18, part 4): the MLPerf Tiny VWW and ResNet-8 networks
exported by Keras 3 (torch backend: explicit, asymmetric Pad nodes before stride-2 convs) plan within 5% of
the arena of their tf2onnx exports, bit-exact; the fold_pad pass before/after on the float reference; and a
different model of the class (PyTorch F.pad before convs and pools) where the pass folds exactly the Pads
it may and keeps the others."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (test-only: Keras 3 writes the ONNX file a Keras user would bring)

from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.passes.fold_pad import fold_pad  # noqa: E402
from edgec.verification.verify import Built, verify  # noqa: E402
from conftest import DATA, canonical_before, check_float_pass, require  # noqa: E402
from testkit.cases import ic_inputs, vww_inputs  # noqa: E402
from torch_nets import PadBandNet  # noqa: E402

NETS = {"vww": ("vww_96.keras", "vww_96_tf2onnx.onnx", vww_inputs), "resnet": ("pretrainedResnet.keras",
                                                                               "pretrainedResnet_tf2onnx.onnx", ic_inputs)}


def _keras_onnx(src, path):
    m = keras.saving.load_model(str(DATA / src), compile=False)
    m(np.zeros((1,) + tuple(m.input_shape[1:]), np.float32))        # export needs a model that was called
    m.export(str(path), format="onnx")
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("keras_onnx")
    return {k: _keras_onnx(src, d / f"{k}_keras.onnx") for k, (src, _, _) in NETS.items()}



@pytest.mark.parametrize("net", sorted(NETS))
def test_fold_pad_before_after_on_the_keras_export(exported, net):
    xs = NETS[net][2]()[:2]
    g = canonical_before(import_model(str(exported[net])), fold_pad)
    assert sum(n.op == "Pad" for n in g.nodes) >= 2                     # the exporter's explicit padding
    after = check_float_pass(fold_pad, g, xs[:, None])
    assert not any(n.op == "Pad" for n in after.nodes)                 # every one lands in a conv


@pytest.mark.parametrize("net", sorted(NETS))
def test_keras_export_plans_within_5_percent_of_tf2onnx_and_is_bit_exact(exported, net, tmp_path):
    require("cc")
    _, tf2onnx, samples = NETS[net]
    xs = samples()
    np.save(tmp_path / "calib.npy", xs)
    np.save(tmp_path / "inputs.npy", xs[:8])
    arenas = {}
    for kind, path in (("keras", exported[net]), ("tf2onnx", DATA / tf2onnx)):
        out = tmp_path / kind
        report = build(str(path), "cortex-m4", str(out), str(tmp_path / "calib.npy"))
        arenas[kind] = report["totals"]["arena_bytes"]
        r = verify(str(out), "host", str(tmp_path / "inputs.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0, r
    assert abs(arenas["keras"] - arenas["tf2onnx"]) <= 0.05 * arenas["tf2onnx"], arenas


class PadNet(torch.nn.Module):
    """F.pad the ways PyTorch code writes TensorFlow's "same" and other asymmetric padding."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.dw = torch.nn.Conv2d(8, 8, 3, groups=8)
        self.mix = torch.nn.Conv2d(8, 8, 3)
        for m in (self.conv, self.dw, self.mix):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.3
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1

    def forward(self, x):
        x = F.relu(self.conv(F.pad(x, (0, 1, 0, 1))))                 # stride-2 "same": folded into the conv
        x = F.relu(self.dw(F.pad(x, (2, 0, 1, 1))))                   # asymmetric, into the depthwise conv
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1)), 2, 2)                # after a ReLU: the zeros cannot win, folded
        y = self.mix(F.pad(x, (1, 1, 1, 1)))                          # signed output
        a = F.max_pool2d(F.pad(y, (1, 1, 1, 1)), 3, 1)                # signed: a zero could win, kept
        b = F.avg_pool2d(F.pad(y, (1, 0, 1, 0)), 2, 1)                # the zeros count: the pool's counted padding
        return a + b


def test_a_torch_model_folds_the_pads_it_may_and_keeps_the_others(tmp_path):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((24, 3, 20, 24)).astype(np.float32)
    path = tmp_path / "padnet.onnx"
    torch.onnx.export(PadNet().eval(), torch.from_numpy(xs[:1]), str(path), dynamo=False, opset_version=13,
                      input_names=["x"], output_names=["y"])
    g = canonical_before(import_model(str(path)), fold_pad)
    assert sum(n.op == "Pad" for n in g.nodes) == 6
    after = check_float_pass(fold_pad, g, xs[:3, None])
    kept = [n for n in after.nodes if n.op == "Pad"]
    assert len(kept) == 1 and {r.op for n in kept for r in after.consumers()[n.outputs[0]]} == {"MaxPool2D"}
    assert [(n.attrs["pads"], n.attrs["count_pads"]) for n in after.nodes if n.op == "AvgPool2D"] == [((1, 1, 0, 0),) * 2]
    convs = [n.attrs["pads"] for n in after.nodes if n.op == "Conv2D"]
    assert convs == [(0, 0, 1, 1), (1, 2, 1, 0), (1, 1, 1, 1)]
    assert sorted(n.attrs["pads"] for n in after.nodes if n.op == "MaxPool2D") == [(0, 0, 0, 0), (0, 0, 1, 1)]
    with torch.no_grad():
        want = PadNet().eval()(torch.from_numpy(xs[:3])).numpy()
    canon = canonicalize(import_model(str(path)))
    got = np.stack([reference.run(canon, x[None])[canon.outputs[0]][0] for x in xs[:3]])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # the dynamo exporter writes some of these paddings into the convs itself: the same graph either way
    torch.onnx.export(PadNet().eval(), (torch.from_numpy(xs[:1]),), str(tmp_path / "dynamo.onnx"), dynamo=True,
                      opset_version=18)
    other = canonicalize(import_model(str(tmp_path / "dynamo.onnx")))
    assert [(n.op, n.attrs.get("pads")) for n in other.nodes] == [(n.op, n.attrs.get("pads")) for n in canon.nodes]
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "cortex-m4", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    for target in ("host", "cortex-m4"):
        r = verify(str(tmp_path / "out"), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0, r


@pytest.mark.parametrize("pads", [(1, 2, 2, 1), (1, 2, 20, 1)])
def test_a_pad_that_stays_is_tiled_like_any_row_band_stage(tmp_path, pads):
    """(1, 2, 20, 1): 20 rows of padding on top, so the first bands of the Pad's output are padding only
    (they read no input row; the stage still computes one row of its input there).  The stage starts at
    the NCHW input's Transpose (tests/test_transpose_band.py), in 4 bands: 20 rows, more than 14, make its
    first Pad band padding only."""
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    xs = np.random.default_rng(2).standard_normal((12, 3, 48, 48)).astype(np.float32)
    path = tmp_path / "padband.onnx"
    torch.onnx.export(PadBandNet(pads).eval(), torch.from_numpy(xs[:1]), str(path), dynamo=False, opset_version=13)
    np.save(tmp_path / "x.npy", xs)
    arenas = {}
    for opt in ("speed", "ram"):
        report = build(str(path), "cortex-m4", str(tmp_path / opt), str(tmp_path / "x.npy"), optimize=opt)
        arenas[opt] = report["totals"]["arena_bytes"]
    assert "edgec_pad_rows_s8(" in (tmp_path / "ram" / "model.c").read_text()      # the Pad runs band by band
    assert arenas["ram"] < 0.6 * arenas["speed"], arenas
    q = Built(str(tmp_path / "ram")).int_graph
    stage = next(st for st in q.tiling if any(n.endswith("Pad") for n in st["nodes"]))
    j = [n.endswith("Pad") for n in stage["nodes"]].index(True)
    only_padding = [b[j] for b in stage["bands"] if b[j][1] + b[j][2] <= pads[2]]
    assert bool(only_padding) == (pads[2] > 8), stage["bands"]
    for target in ("host", "cortex-m4"):
        r = verify(str(tmp_path / "ram"), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0, r
