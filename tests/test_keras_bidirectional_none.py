"""Keras Bidirectional(merge_mode=None) (issue 18): the layer returns the forward and the backward
sequences as two outputs, and the layers after it read them by index (keras_history's tensor index;
compiler/importers/keras.py _key).  Model: a bidirectional LSTM over [T, F] features whose two
directions get their own Dense heads, concatenated, pooled over time; from a .keras file and from Keras
3's own ONNX export.  Each: float reference == Keras, the C on the host == the integer reference bit
for bit, int8 within 30 dB of float; the .keras build also on the emulated Cortex-M4."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import require  # noqa: E402
from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402

L = keras.layers


def _model():
    keras.utils.set_random_seed(5)
    i = keras.Input((8, 5))
    fwd, bwd = L.Bidirectional(L.LSTM(6, return_sequences=True), merge_mode=None)(i)
    y = L.Concatenate()([L.Dense(4, name="ahead")(fwd), L.Dense(3, name="behind")(bwd)])
    return keras.Model(i, L.GlobalAveragePooling1D()(y))


@pytest.mark.parametrize("fmt", ["keras", "onnx"])
def test_bidirectional_without_merge_is_bit_exact(tmp_path, fmt):
    require("cc")
    m = _model()
    xs = np.tanh(np.random.default_rng(6).standard_normal((10, 8, 5))).astype(np.float32)
    m(xs[:1])
    path = tmp_path / f"m.{fmt}"
    if fmt == "keras":
        m.save(path)
    else:
        m.export(str(path), format="onnx", verbose=False)
    g = canonicalize(import_model(str(path)))
    want = np.asarray(m.predict(xs[:4], verbose=0))
    got = np.stack([reference.run(g, x[None])[g.outputs[0]][0] for x in xs[:4]])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "x.npy", xs)
    m4 = fmt == "keras"
    build(str(path), "cortex-m4" if m4 else "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    for target in ("host", "cortex-m4") if m4 else ("host",):
        r = verify(str(tmp_path / "out"), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), (target, r)
        assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]
