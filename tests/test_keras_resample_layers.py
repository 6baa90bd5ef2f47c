"""The Keras 3 layers issue 18 lists (Conv2DTranspose, UpSampling2D nearest and bilinear,
SeparableConv1D, DepthwiseConv1D, Cropping2D, Permute, GlobalAveragePooling1D, Maximum, Minimum,
Average, PReLU) against
Keras's own float output, saved as .keras, then int8 C bit-exact with the integer reference."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (test-only oracle)

from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402
from conftest import extra, require  # noqa: E402

L = keras.layers


def decoder():
    i = keras.Input((12, 12, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(i)                  # 6x6
    a = L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu")(x)          # 12x12
    b = L.Conv2DTranspose(6, 2, strides=2, padding="valid")(x)                           # 12x12
    c = L.UpSampling2D(2, interpolation="bilinear")(L.Conv2D(6, 1)(x))                    # 12x12
    d = L.UpSampling2D((2, 2))(L.Conv2D(6, 1)(x))
    y = L.Average()([L.Maximum()([a, b]), L.Minimum()([b, c, d]), d])
    y = L.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.8), shared_axes=[1, 2])(y)
    y = L.Cropping2D(((1, 2), (0, 3)))(y)                                                 # 9x9
    y = L.Conv2DTranspose(4, 3, strides=(1, 2), padding="valid")(y)                      # 11x19
    return keras.Model(i, L.Permute((3, 1, 2))(y))


def audio():
    i = keras.Input((49, 10))
    x = L.SeparableConv1D(16, 5, padding="same", activation="relu")(i)
    x = L.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.0, 0.5))(x)                # alpha per step and channel
    x = L.DepthwiseConv1D(3, strides=2, depth_multiplier=2, activation="relu")(x)
    x = L.Conv1D(12, 3, padding="same")(x)
    return keras.Model(i, L.Dense(5)(L.GlobalAveragePooling1D()(x)))


def _images():
    return (extra("vww_crops")[:16, 20:32, 40:52] / np.float32(255)).astype(np.float32)


def _frames():
    return np.ascontiguousarray(extra("kws_shift")[:16, :, :, 0]).astype(np.float32)


@pytest.mark.parametrize("make,data", [(decoder, _images), (audio, _frames)], ids=["decoder", "audio"])
def test_keras_resampling_and_1d_layers_match_keras_and_are_bit_exact(tmp_path, make, data):
    require("cc")
    keras.utils.set_random_seed(11)
    model = make()
    x = data()
    path = tmp_path / "m.keras"
    model.save(path)
    want = np.asarray(model.predict(x, verbose=0))
    got = reference.run_batch(import_model(str(path)), x[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.save(tmp_path / "x.npy", x)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0, r
    fa = r["float_agreement"]
    assert fa.get("top1_agreement", 0) >= 0.9 or fa["sqnr_db"] >= 25, fa      # issue 18's float-agreement bar
