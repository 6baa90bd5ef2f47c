"""Keras 3's own architecture definitions (keras.applications, weights=None) at microcontroller size, as
a Keras user deploys them: saved as .keras and exported by Keras 3 to ONNX (model.export), each built
for cortex-m7 within --ram 512K --flash 2M and checked bit for bit on the host against the integer
reference, with the float agreement issue 18 asks for.

MobileNetV3Small brings what the hand-written zoo does not: its Rescaling preprocessing layer,
hard_silu (Keras 3's name of hard-swish) as Activation layers and squeeze-excite with hard_sigmoid
gates; MobileNetV2 the ReLU(6) layers and ZeroPadding2D before strided depthwise convs."""
import os

import numpy as np
import pytest

from edgec.build import build
from edgec.verify import verify
from conftest import require
from zoo_mobile import images

os.environ.setdefault("KERAS_BACKEND", "torch")

SIZE = 96
APPS = {"mobilenet_v2_035": lambda A: A.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None, classes=10),
        "mobilenet_v3_small_075": lambda A: A.MobileNetV3Small(input_shape=(SIZE, SIZE, 3), alpha=0.75, weights=None,
                                                               classes=10)}


@pytest.mark.parametrize("fmt", [".keras", ".onnx"])
@pytest.mark.parametrize("name", sorted(APPS))
def test_keras_application_builds_for_cortex_m7_and_is_bit_exact(tmp_path, name, fmt):
    require("cc")
    import keras
    keras.utils.set_random_seed(1)
    model = APPS[name](keras.applications)
    # channels-last photo crops; MobileNetV3 rescales raw pixels itself, MobileNetV2 takes [-1, 1]
    photos = images(SIZE, 40, seed=31).transpose(0, 2, 3, 1)
    pixels = "v3" in name
    x = (photos * 255.0 if pixels else photos * 2.0 - 1.0).astype(np.float32)
    model(x[:1])
    path = tmp_path / f"m{fmt}"
    if fmt == ".keras":
        model.save(path)
    else:
        model.export(str(path), format="onnx", verbose=False)
    np.save(tmp_path / "cal.npy", x[:32])
    np.save(tmp_path / "x.npy", x[32:])
    report = build(str(path), "cortex-m7", str(tmp_path / "out"), str(tmp_path / "cal.npy"), ram="512K", flash="2M")
    t = report["totals"]          # the build refuses a model over the budgets; say what it took
    assert t["arena_bytes"] + t["io_bytes"] <= 512 * 1024 and t["weight_bytes"] <= 2 * 1024 * 1024, t
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 8, r
    fa = r["float_agreement"]
    assert fa["top1_agreement"] >= 0.9 or fa["sqnr_db"] >= 25.0, fa
