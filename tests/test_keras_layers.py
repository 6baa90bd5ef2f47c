"""Every Keras layer the importer claims, against Keras itself: models built in the test with Keras 3
(torch backend, test-only oracle), saved as .keras and as legacy .h5, imported without Keras,
compared in float, then built to int8 and checked bit for bit on the host."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (test-only oracle; pip install -e '.[test]')

from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402
from conftest import require  # noqa: E402

L = keras.layers


def model_mixed():
    i = keras.Input((12, 12, 3))
    x = L.Rescaling(1 / 2.0, offset=-0.5)(i)
    x = L.ZeroPadding2D(((1, 0), (2, 1)))(x)
    x = L.SeparableConv2D(6, 3, activation="swish")(x)
    a = L.Conv2D(6, 1, activation="hard_sigmoid")(x)
    b = L.LeakyReLU(negative_slope=0.2)(x)
    x = L.Multiply()([a, b])
    c = L.GlobalMaxPooling2D()(x)
    d = L.GlobalAveragePooling2D()(x)
    x = L.Concatenate()([c, d])
    x = L.Dense(5)(x)
    return keras.Model(i, L.Softmax()(x))


def model_conv1d():
    return keras.Sequential([keras.Input((20, 4)), L.Conv1D(6, 3, padding="same"), L.ReLU(max_value=6.0),
                             L.Conv1D(4, 3, strides=2, activation="tanh"), L.Flatten(), L.Dropout(0.5),
                             L.Dense(3, activation="sigmoid")])


def model_depthwise():
    i = keras.Input((8, 8, 2))
    x = L.Normalization(mean=[0.5, -1.0], variance=[4.0, 0.25])(i)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("silu")(x)
    # "same" average pooling: Keras' torch backend counts its zero padding, TensorFlow does not (edgec
    # follows TensorFlow, which wrote the real .h5 files), so the oracle is only trusted with "valid" here.
    y = L.AveragePooling2D(2, strides=2, padding="valid")(x)
    z = L.MaxPooling2D(3, strides=2, padding="same")(x)
    x = L.Subtract()([y, z])
    x = L.Add()([x, L.Conv2D(4, 1, activation="relu6")(y)])
    x = L.Reshape((4 * 4 * 4,))(x)
    return keras.Model(i, L.Dense(2, activation="relu")(x))


MODELS = {"mixed": (model_mixed, (12, 12, 3)), "conv1d": (model_conv1d, (20, 4)), "depthwise": (model_depthwise, (8, 8, 2))}


@pytest.mark.parametrize("fmt", [".keras", ".h5"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_layer_zoo_matches_keras_and_is_bit_exact(tmp_path, name, fmt):
    require("cc")
    make, shape = MODELS[name]
    keras.utils.set_random_seed(7)
    model = make()
    rng = np.random.default_rng(3)
    if name == "depthwise":                     # non-trivial BatchNorm statistics
        bn = next(l for l in model.layers if isinstance(l, L.BatchNormalization))
        bn.set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 1, 4), rng.normal(0, 1, 4), rng.uniform(0.5, 2, 4)])
    path = tmp_path / f"m{fmt}"
    model.save(path)
    x = rng.normal(0, 1, (16,) + shape).astype(np.float32)
    want = np.asarray(model.predict(x, verbose=0))
    g = import_model(str(path))
    got = reference.run_batch(g, x[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "x.npy", x)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"], r
