"""Keras TimeDistributed over a clip of frames (issue 18): an input [1, T, H, W, C] is kept as the IR
[T, H, W, C] -- the time axis as the batch, each frame its own image -- so TimeDistributed(Conv2D /
MaxPooling2D / GlobalAveragePooling2D ...) is the 2-D layer over that batch, element-wise layers apply
to the frames unwrapped, and a layer ending in [T, F] (pooled frames) or Flatten gives the sequence
back (compiler/importers/keras.py _frames, _clip_in).  Any other layer reading the frames would take
T for the batch, and is refused by name.

Model: a small video classifier (per-frame conv, pool, a BatchNormalization applied to the clip
unwrapped, per-frame global pooling, a GRU over the frames) from a .keras file: float reference ==
Keras, the C on the host == the integer reference bit for bit, int8 within 30 dB of float.  (Keras 3's
ONNX export keeps rank-5 tensors, which the ONNX importer does not take.)"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from conftest import cli, require  # noqa: E402
from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402

L = keras.layers


def test_time_distributed_2d_layers_over_frames_are_bit_exact(tmp_path):
    require("cc")
    keras.utils.set_random_seed(7)
    i = keras.Input((4, 12, 12, 3))
    y = L.TimeDistributed(L.Conv2D(6, 3, strides=2, padding="same", activation="relu"))(i)
    y = L.TimeDistributed(L.MaxPooling2D(2))(y)
    y = L.BatchNormalization()(y)
    y = L.TimeDistributed(L.Conv2D(8, 3, padding="same"))(y)
    y = L.TimeDistributed(L.GlobalAveragePooling2D())(y)
    m = keras.Model(i, L.Dense(3)(L.GRU(8)(y)))
    bn = m.layers[3]
    bn.moving_mean.assign(np.linspace(0.1, 0.4, 6).astype(np.float32))
    bn.moving_variance.assign(np.linspace(0.5, 1.5, 6).astype(np.float32))
    xs = np.random.default_rng(8).random((10, 4, 12, 12, 3)).astype(np.float32)
    m.save(tmp_path / "clip.keras")
    g = canonicalize(import_model(str(tmp_path / "clip.keras")))
    assert g.tensors[g.inputs[0]].shape == (4, 12, 12, 3)
    want = np.asarray(m.predict(xs[:4], verbose=0))
    got = np.stack([reference.run(g, x)[g.outputs[0]][0] for x in xs[:4]])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "x.npy", xs)
    build(str(tmp_path / "clip.keras"), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
    assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]


def test_a_layer_that_would_take_time_for_the_batch_is_refused(tmp_path):
    i = keras.Input((3, 6, 6, 2))
    y = L.Dense(2, name="mixer")(L.TimeDistributed(L.Conv2D(4, 1))(i))     # Dense unwrapped: not per frame
    keras.Model(i, L.Flatten()(y)).save(tmp_path / "m.keras")
    r = cli("build", tmp_path / "m.keras", "--target", "host", "-o", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "mixer (Dense)" in r.stderr and "Dense of a rank-5 clip of frames" in r.stderr, r.stderr
