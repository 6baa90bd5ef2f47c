"""Float .tflite files of public architectures, laid out as the TFLite converter writes them
(testkit/keras_tflite.py): Keras's MobileNetV2 (keras.applications, alpha 0.35), the MLPerf Tiny DS-CNN
keyword model's layer pattern, a small U-Net and a convolutional autoencoder whose decoder is Keras
Conv2DTranspose (TRANSPOSE_CONV, SAME and VALID).  Each file runs in TFLite Micro as its Keras model does
(the writer's check), edgec quantizes it from calibration samples, the C is bit-exact with the integer
reference, and it plans the arena of the same model read from its .keras file."""
import os

import numpy as np
import pytest

from conftest import require
from edgec.driver.build import build
from edgec.testkit.keras_tflite import float_tflite
from edgec.testkit.tflm import tflm_run
from edgec.verification.verify import verify

os.environ.setdefault("KERAS_BACKEND", "torch")


def _mobilenet_v2():
    import keras
    return keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3), classes=10, alpha=0.35,
                                          classifier_activation=None)


def _ds_cnn():
    """Zhang et al. 2017, "Hello Edge" DS-CNN: a strided 10x4 conv, depthwise-separable blocks, average pool."""
    import keras
    from keras import layers as L
    i = keras.Input((49, 10, 1))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(24, (10, 4), strides=2, padding="same", use_bias=False)(i)))
    for _ in range(2):
        x = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)))
        x = L.ReLU()(L.BatchNormalization()(L.Conv2D(24, 1, use_bias=False)(x)))
    x = L.Flatten()(L.AveragePooling2D((25, 5))(L.Dropout(0.2)(x)))
    return keras.Model(i, L.Dense(12, activation="softmax")(x))


def _unet():
    """Ronneberger et al. 2015, one level: conv, pool, conv, upsample, concatenate the skip, separable conv."""
    import keras
    from keras import layers as L
    i = keras.Input((32, 32, 1))
    a = L.Conv2D(8, 3, padding="same", activation="relu")(i)
    b = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(L.MaxPooling2D(2)(a))))
    d = L.Concatenate()([a, L.UpSampling2D(2)(b)])
    d = L.SeparableConv2D(8, 3, padding="same", activation="relu")(d)
    return keras.Model(i, L.Conv2D(2, 1, activation="sigmoid")(d))


def _autoencoder():
    """A denoising convolutional autoencoder (Keras's example of one): strided convs down, Conv2DTranspose up
    (3x3 SAME with a fused ReLU, then 2x2 VALID), a sigmoid 1x1 conv out."""
    import keras
    from keras import layers as L
    i = keras.Input((28, 28, 1))
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(i)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(16, 2, strides=2, padding="valid")(x)
    return keras.Model(i, L.Conv2D(1, 1, activation="sigmoid")(x))


@pytest.mark.parametrize("make,dynamic_batch", [(_mobilenet_v2, False), (_ds_cnn, False), (_ds_cnn, True), (_unet, False),
                                                (_autoencoder, False)],
                         ids=["mobilenet_v2", "ds_cnn", "ds_cnn_dynamic_batch", "unet", "autoencoder"])
def test_float_tflite_of_an_architecture_quantizes_bit_exact_and_plans_as_its_keras_file(tmp_path, make, dynamic_batch):
    """dynamic_batch: Flatten written as a converter writes it for an unknown batch (SHAPE, STRIDED_SLICE, PACK
    into RESHAPE's new shape), which edgec folds at import (importers/tflite_shape_ops.py)."""
    require("cc")
    import keras
    keras.utils.set_random_seed(0)
    model = make()
    rng = np.random.default_rng(1)
    for layer in model.layers:          # trained-looking statistics, so no layer collapses to a constant
        if type(layer).__name__ == "BatchNormalization":
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                               rng.uniform(0.5, 2, n)])
    blob = float_tflite(model, dynamic_batch)
    x = rng.uniform(-1, 1, (10, 1) + tuple(model.input_shape[1:])).astype(np.float32)
    want = model.predict(x[:, 0], verbose=0)
    got = tflm_run(blob, x, 1 << 20).reshape(want.shape)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-5), "the writer's file is not the Keras model"
    (tmp_path / "m.tflite").write_bytes(blob)
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x[:, 0])
    arenas = []
    for f in ("m.tflite", "m.keras"):
        out = str(tmp_path / f"out_{f[2:]}")
        arenas.append(build(str(tmp_path / f), "host", out, str(tmp_path / "x.npy"))["totals"]["arena_bytes"])
    r = verify(str(tmp_path / "out_tflite"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0, r
    assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]
    assert arenas[0] == arenas[1], arenas
