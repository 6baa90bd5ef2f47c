"""Keras 3's own architecture definitions (keras.applications, weights=None) at microcontroller size, as
a Keras user deploys them: saved as .keras and exported by Keras 3 to ONNX (model.export), each built
for cortex-m7 within --ram 512K --flash 2M and checked bit for bit on the host against the integer
reference, with the float agreement issue 18 asks for.

MobileNetV3Small brings what the hand-written zoo does not: its Rescaling preprocessing layer,
hard_silu (Keras 3's name of hard-swish) as Activation layers and squeeze-excite with hard_sigmoid
gates; MobileNetV2 the ReLU(6) layers and ZeroPadding2D before strided depthwise convs.

Their heads are logits (classifier_activation=None) with the teacher's 10 classes, trained as the
zoo's Keras networks are (zoo_mobile.keras_distill: 40 Adam steps of distillation from MLPerf Tiny's
ResNet-8 on 128 photo crops).  Untrained, with their softmax heads, the float model gave one answer
for nearly every crop (a softmax of random logits near 0.1 everywhere): top-1 1.0 and 36.1 dB for
both, an agreement that says nothing, so the test now also asks the float top-1 to take more than one
class.  MobileNetV2 needs the zoo's smooth start too (zoo_mobile.keras_settle: box-like depthwise
filters, small residual branches): distilled from Keras's initializers it reached 16.2 dB / top-1
0.81, from the smooth start 28.9 dB / 0.97; MobileNetV3Small distils from Keras's initializers (28.2
dB / 0.88 for both files; from the smooth start its training diverged, 9.2 dB).  Measured on 32
held-out crops.  (The .keras file's 50.4 dB / 1.0 measured before was agreement with a misread
network: its gates' `x + 3.0` and `* (1.0 / 6.0)` were dropped, tests/test_keras_operations.py.)"""
import os

import numpy as np
import pytest

from edgec.driver.build import build
from edgec.compiler import reference
from edgec.verification.verify import Built, verify
from conftest import require
from testkit.zoo_mobile import KERAS_APP_SIZE, KERAS_APPS, KERAS_APPS_SETTLED, images, keras_app_input, keras_distill, keras_settle

os.environ.setdefault("KERAS_BACKEND", "torch")

SIZE = KERAS_APP_SIZE


@pytest.fixture(scope="module")
def trained():
    """name -> the distilled Keras model; trained once per module."""
    import keras
    made = {}

    def get(name):
        if name not in made:
            keras.utils.set_random_seed(1)
            model = KERAS_APPS[name](keras.applications)
            if name in KERAS_APPS_SETTLED:
                keras_settle(model)
            photos = images(SIZE, 128, seed=101).transpose(0, 2, 3, 1)
            made[name] = keras_distill(model, photos, model_x=keras_app_input(name, photos))
        return made[name]
    return get


@pytest.fixture(scope="module")
def built(trained, tmp_path_factory):
    """(name, fmt) -> (out dir, test inputs, report); each file written and built once per module."""
    made = {}

    def get(name, fmt):
        if (name, fmt) not in made:
            d = tmp_path_factory.mktemp(f"{name}{fmt.replace('.', '_')}")
            model = trained(name)
            cal = keras_app_input(name, images(SIZE, 32, seed=11).transpose(0, 2, 3, 1))
            x = keras_app_input(name, images(SIZE, 32, seed=12).transpose(0, 2, 3, 1))
            path = d / f"m{fmt}"
            if fmt == ".keras":
                model.save(path)
            else:
                model.export(str(path), format="onnx", verbose=False)
            np.save(d / "cal.npy", cal)
            np.save(d / "x.npy", x)
            report = build(str(path), "cortex-m7", str(d / "out"), str(d / "cal.npy"), ram="512K", flash="2M")
            made[name, fmt] = (d, x, report)
        return made[name, fmt]
    return get


@pytest.mark.parametrize("fmt", [".keras", ".onnx"])
@pytest.mark.parametrize("name", sorted(KERAS_APPS))
def test_keras_application_builds_for_cortex_m7_and_is_bit_exact(trained, built, name, fmt):
    require("cc")
    model = trained(name)
    tmp_path, x, report = built(name, fmt)
    t = report["totals"]          # the build refuses a model over the budgets; say what it took
    assert t["arena_bytes"] + t["io_bytes"] <= 512 * 1024 and t["weight_bytes"] <= 2 * 1024 * 1024, t
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(x), r
    keras_out = np.asarray(model.predict(x, verbose=0))
    assert len(np.unique(keras_out.argmax(1))) > 1
    # the agreement below is with edgec's float graph: it must be the network Keras runs (the .keras
    # file's hard-sigmoid numbers were once dropped, and the int8 build agreed with that other network)
    f = reference.run_batch(Built(str(tmp_path / "out")).float_graph, x[:4]).reshape(keras_out[:4].shape)
    assert 10 * np.log10((keras_out[:4] ** 2).sum() / ((keras_out[:4] - f) ** 2).sum()) >= 80.0
    fa = r["float_agreement"]
    assert fa["top1_agreement"] >= 0.9 or fa["sqnr_db"] >= 25.0, fa


@pytest.mark.parametrize("name", sorted(KERAS_APPS))
def test_keras_file_and_its_onnx_export_plan_the_same_arena(built, name):
    """RAM that does not depend on the exporter: MobileNetV3Small's ONNX export writes each hard-sigmoid
    gate as relu6(x + 3) / 6, whose /6 fold_batchnorm folds into the conv before it (46,240 B against
    the .keras file's 38,100 B before that fold)."""
    a, b = built(name, ".keras")[2]["totals"], built(name, ".onnx")[2]["totals"]
    assert abs(a["arena_bytes"] - b["arena_bytes"]) <= 0.05 * a["arena_bytes"], (a, b)
    assert a["macs"] == b["macs"], (a, b)
