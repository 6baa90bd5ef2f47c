"""More Keras 3 layers issue 18 found refused in .keras files while their ONNX exports built: the 1-D
family (causal dilated Conv1D, ZeroPadding1D, Cropping1D, UpSampling1D, Conv1DTranspose,
GlobalMaxPooling1D), Dense over the last axis of a rank-3 input, TimeDistributed, ELU, RepeatVector,
Resizing and the layers that do nothing at inference (noise, dropout, regularization, Identity).

Each model, saved as .keras: edgec's float reference equals Keras's own output, the int8 C is bit-exact
with the integer reference, its output is within 30 dB SQNR of Keras's float, and it plans the same
arena as the model's Keras-3 ONNX export (the two importers map the layers onto the same IR ops).
And a layer edgec cannot compile is one reason line: the layers after it, checked with the shape
Keras recorded, add no echo of it."""
import json
import os

import h5py
import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (test-only oracle)

from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.verification.verify import run, sqnr_db, verify  # noqa: E402
from conftest import cli, extra, require  # noqa: E402

L = keras.layers


def audio():
    """A small TCN-style keyword spotter: causal dilated convs, then the 1-D reshaping layers."""
    i = keras.Input((49, 10))
    x = i
    for d in (1, 2, 4):
        x = L.Conv1D(12, 3, padding="causal", dilation_rate=d, activation="relu")(x)
    x = L.SpatialDropout1D(0.2)(x)
    x = L.ZeroPadding1D((1, 2))(x)                                        # 52
    x = L.MaxPooling1D(2)(x)                                              # 26
    x = L.Cropping1D((2, 0))(x)                                           # 24
    x = L.Conv1D(10, 3, strides=2, padding="causal", activation="relu")(x)  # 12
    x = L.UpSampling1D(3)(x)                                              # 36
    x = L.Conv1DTranspose(8, 4, strides=2, padding="same", activation="relu")(x)   # 72
    x = L.Conv1DTranspose(6, 3, padding="valid")(x)                        # 74
    return keras.Model(i, L.Dense(5)(L.GlobalMaxPooling1D()(x)))


def sensor():
    """Per-step features of a multichannel window: TimeDistributed and Dense on rank 3, noise layers,
    ELU, then a summary repeated over a short horizon (RepeatVector) and read out per step."""
    i = keras.Input((10, 48))
    x = L.GaussianNoise(0.3)(i)
    x = L.TimeDistributed(L.Dense(16, activation="relu"))(x)
    x = L.Dense(12)(x)                                                    # rank 3: over the last axis
    x = L.ELU(alpha=0.7)(x)
    x = L.AlphaDropout(0.1)(L.GaussianDropout(0.2)(x))
    s = L.Reshape((10, 12, 4))(i)
    s = L.TimeDistributed(L.Conv1D(6, 3, padding="same", activation="relu"))(s)   # each step a sequence
    s = L.TimeDistributed(L.GlobalMaxPooling1D())(s)                      # [10, 6]
    x = L.Concatenate()([x, L.ActivityRegularization(l1=0.01)(s)])
    x = L.GlobalAveragePooling1D()(L.Identity()(x))
    x = L.RepeatVector(4)(x)                                              # [4, 18]
    x = L.TimeDistributed(L.Dense(3))(x)
    return keras.Model(i, L.Flatten()(x))


def image(nearest=False):
    """Resizing down, up by 2 and by non-integer factors, bilinear; or, `nearest`, up by 2 (a repeat:
    Upsample) and by 3/2 (through the tap table) nearest, which torch cannot export to ONNX."""
    i = keras.Input((48, 48, 3))
    x = L.Resizing(32, 32)(i)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)   # 16
    x = L.Resizing(32, 32, interpolation="nearest" if nearest else "bilinear")(x)
    x = L.Conv2D(8, 3, strides=2, activation="relu")(x)                    # 15
    x = L.Resizing(10, 20, interpolation="bilinear")(x)
    if nearest:
        x = L.Resizing(15, 30, interpolation="nearest")(x)
    x = L.SpatialDropout2D(0.1)(x)
    return keras.Model(i, L.Dense(4)(L.GlobalAveragePooling2D()(x)))


def _frames():
    return np.ascontiguousarray(extra("kws_shift")[:16, :, :, 0]).astype(np.float32)


def _windows():
    """kws feature frames as 10-step windows of 48 values (a multichannel sensor-like signal)."""
    return np.ascontiguousarray(extra("kws_shift")[:16, :, :, 0].reshape(16, -1)[:, :480].reshape(16, 10, 48))


def _images():
    return (extra("vww_crops")[:16, 10:58, 30:78] / np.float32(255)).astype(np.float32)


@pytest.mark.parametrize("make,data,onnx", [(audio, _frames, True), (sensor, _windows, True), (image, _images, True),
                                            (lambda: image(True), _images, False)],
                         ids=["audio", "sensor", "image", "image-nearest"])
def test_more_keras_layers_match_keras_bit_exact_and_plan_as_the_onnx_export(tmp_path, make, data, onnx):
    require("cc")
    keras.utils.set_random_seed(5)
    model = make()
    x = data()
    want = np.asarray(model.predict(x, verbose=0))
    model.save(tmp_path / "m.keras")
    if onnx:
        model.export(str(tmp_path / "m.onnx"), format="onnx", verbose=False)
    got = reference.run_batch(import_model(str(tmp_path / "m.keras")), x[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.save(tmp_path / "x.npy", x)
    arenas = {}
    for kind in ("keras", "onnx") if onnx else ("keras",):
        report = build(str(tmp_path / f"m.{kind}"), "host", str(tmp_path / kind), str(tmp_path / "x.npy"))
        arenas[kind] = report["totals"]["arena_bytes"]
    r = verify(str(tmp_path / "keras"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0, r
    c_out, _ = run(str(tmp_path / "keras"), "host", str(tmp_path / "x.npy"))
    assert sqnr_db(want, c_out.reshape(want.shape)) >= 30, sqnr_db(want, c_out.reshape(want.shape))
    if onnx:
        assert arenas["keras"] <= arenas["onnx"], arenas


def test_an_unsupported_layer_is_one_reason_without_echoes(tmp_path):
    """A Lambda that changes the rank ([N, 32, 6] -> [N, 6]) and the layers after it: RepeatVector (rank 2
    only) and Dense are checked with the shape Keras recorded, not the Lambda's input standing in for it;
    the one reason says why a Lambda cannot be read and what to do."""
    i = keras.Input((32, 6))
    x = L.Conv1D(8, 3, padding="causal", name="conv")(i)
    x = L.Lambda(lambda t: keras.ops.mean(t, axis=1), name="mean")(x)
    x = L.RepeatVector(3, name="repeat")(x)
    x = L.Conv1D(4, 2, name="conv2")(x)
    x = L.Flatten(name="flat")(x)
    y = L.Dense(2, name="head")(x)
    keras.Model(i, y).save(tmp_path / "lam.keras", )
    r = cli("build", tmp_path / "lam.keras", "-o", tmp_path / "o")
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = r.stderr.splitlines()
    head = next(k for k, line in enumerate(lines) if line.startswith("edgec: error"))
    assert "1 unsupported layer(s) — " in lines[head] and "attribute" not in lines[head], lines[head]
    reasons = [line for line in lines[head + 1:] if line.startswith("  ")]
    assert len(reasons) == 1 and reasons[0].startswith("  layer mean (Lambda): unsupported layer — "), r.stderr
    assert "built-in Keras layers" in reasons[0] and "format='onnx'" in reasons[0], reasons[0]
    assert not (tmp_path / "o").exists()


def test_keras2_thresholded_relu(tmp_path):
    """Keras 2's ThresholdedReLU(theta) (x where x > theta, else 0; Keras 3 dropped the layer, its ReLU's
    threshold is the same function but at x == theta): a tf.keras .h5 file's config names it.  The file is
    Keras 3's .h5 of the model with ReLU(threshold=theta), its config entry renamed as Keras 2 writes it."""
    require("cc")
    keras.utils.set_random_seed(3)
    i = keras.Input((49, 10))
    x = L.Conv1D(8, 3, padding="causal")(i)
    x = L.ReLU(threshold=0.15, name="thr")(x)
    model = keras.Model(i, L.Dense(4)(L.GlobalAveragePooling1D()(x)))
    xs = _frames()
    want = np.asarray(model.predict(xs, verbose=0))
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        layer = next(entry for entry in cfg["config"]["layers"] if entry["config"]["name"] == "thr")
        layer["class_name"], layer["config"] = "ThresholdedReLU", {"name": "thr", "trainable": True, "theta": 0.15}
        f.attrs["model_config"] = json.dumps(cfg)
    got = reference.run_batch(import_model(str(tmp_path / "m.h5")), xs[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.save(tmp_path / "x.npy", xs)
    build(str(tmp_path / "m.h5"), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0, r
    assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]
