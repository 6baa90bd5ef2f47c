"""MnasNet 0.5 and the EfficientNet-lite-like network written with Keras 3 layers (testkit/zoo_mobile.py,
keras_models: the functional API, padding="same", BatchNormalization, ReLU / ReLU6, Add skips), the
zoo members keras.applications does not have (issue 18 part 6: every member from Keras 3 too).

Each is trained as its PyTorch twin is (zoo_mobile.keras_distill: 40 Adam steps of distillation from
MLPerf Tiny's trained ResNet-8 on 128 photo crops, with model.train_on_batch; BatchNorm statistics taken
afresh after), saved as .keras and exported by Keras 3 to ONNX (model.export(format="onnx"), torch
backend: Keras's asymmetric "same" padding of the strided convs as explicit Pad nodes).  Both files
build for cortex-m7 with --ram 512K --flash 2M on 32 photo crops (seed 11), their float reference
equals Keras's / onnxruntime's output, their C on the host equals the integer reference bit for bit
on 32 held-out crops (seed 12), the float model's top-1 takes more than one class there, and the int8
model agrees with it (top-1 >= 0.9 or SQNR >= 25 dB).  Both files plan the same arena, and each
network's ONNX build runs bit-exact in QEMU's Cortex-M7.

Measured when written (32 held-out crops, either file): MnasNet 0.5 top-1 0.97 / 25.5 dB,
EfficientNet-lite top-1 0.97 / 24.3 dB.  Untrained (Keras's default initializers, BatchNorm statistics
from photos) they were chaotic as zoo_mobile says deep random networks are; trained without the
box-like depthwise initializer and the small residual branches, MnasNet reached only 21.7 dB."""
import os

import numpy as np
import pytest

from edgec.driver.build import build
from edgec.verification.verify import verify
from testkit.zoo_mobile import assert_zoo_member, images, keras_make, ort_run
from conftest import require

os.environ.setdefault("KERAS_BACKEND", "torch")

NAMES = ["efficientnet_lite", "mnasnet_05"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """(name, ".keras" | ".onnx") -> (model path, out dir, test inputs path, report, Keras's float output);
    each network trained once, both files built once per module."""
    made = {}

    def get(name, fmt):
        if (name, fmt) not in made:
            d = tmp_path_factory.mktemp(name)
            model, size = keras_make(name)
            cal = images(size, 32, seed=11).transpose(0, 2, 3, 1)
            test = np.ascontiguousarray(images(size, 32, seed=12).transpose(0, 2, 3, 1))
            np.save(d / "calib.npy", cal)
            np.save(d / "test.npy", test)
            want = np.asarray(model.predict(test, verbose=0))
            model.save(d / f"{name}.keras")
            model.export(str(d / f"{name}.onnx"), format="onnx", verbose=False)
            for f in (".keras", ".onnx"):
                path = d / f"{name}{f}"
                report = build(str(path), "cortex-m7", str(d / f"out{f}"), str(d / "calib.npy"), ram="512K",
                               flash="2M")
                made[name, f] = (path, d / f"out{f}", d / "test.npy", report, want)
        return made[name, fmt]
    return get


@pytest.mark.parametrize("fmt", [".keras", ".onnx"])
@pytest.mark.parametrize("name", NAMES)
def test_keras_zoo_model_fits_m7_is_bit_exact_and_agrees_with_float(zoo, name, fmt):
    require("cc")
    path, out, inputs, report, keras_out = zoo(name, fmt)
    xs = np.load(inputs)
    want = keras_out if fmt == ".keras" else ort_run(path, xs)
    np.testing.assert_allclose(want, keras_out, rtol=1e-3, atol=1e-4 * float(np.abs(keras_out).max()))
    assert_zoo_member(out, inputs, report, xs, want)


@pytest.mark.parametrize("name", NAMES)
def test_keras_file_and_its_onnx_export_plan_the_same_arena(zoo, name):
    """One Keras network, two files: the ONNX export's explicit Pad nodes fold into the convs (RAM does
    not depend on the exporter), and the MACs and weights are the same."""
    a, b = zoo(name, ".keras")[3]["totals"], zoo(name, ".onnx")[3]["totals"]
    assert abs(a["arena_bytes"] - b["arena_bytes"]) <= 0.05 * a["arena_bytes"], (a, b)
    assert a["macs"] == b["macs"] and a["weight_bytes"] == b["weight_bytes"], (a, b)


@pytest.mark.parametrize("name", NAMES)
def test_keras_onnx_export_is_bit_exact_on_emulated_m7(zoo, name, tmp_path):
    """The Keras 3 ONNX export in QEMU's Cortex-M7: the C on the core equals the integer reference bit
    for bit on two held-out crops, with no float helper linked."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    _, out, inputs, report, _ = zoo(name, ".onnx")
    np.save(tmp_path / "two.npy", np.load(inputs)[:2])
    r = verify(str(out), "cortex-m7", str(tmp_path / "two.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["float_helpers"] == [], r
    assert r["instructions_per_inference"] > report["totals"]["macs"], r
