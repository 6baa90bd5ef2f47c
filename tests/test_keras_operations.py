"""Keras 3 operations on symbolic tensors (`x + 3.0`, `x / 6.0`, `x * y`), which a .keras file records as
layers named like the merging layers (Add, Multiply, ...) with the numbers in the call's arguments.

Read as the merging layers, the numbers were dropped: keras.applications' MobileNetV3Small, whose
hard-sigmoid gates are ReLU(6.)(x + 3.0) * (1.0 / 6.0), became relu6(x) gates, 2.8 dB (top-1 0.34)
from Keras's own output; the int8 build agreed with that wrong float graph (50.4 dB) while its ONNX
export, the network Keras runs, gave 28.2 dB.  Read by keras_ops.OPERATIONS both files are one network:
124.9 and 124.5 dB from Keras in float, and 28.19 dB / top-1 0.875 int8 for both (32 held-out crops).

The network here is a different one of that class: a hard-swish stem, a squeeze-excite block whose gate
is spelled ReLU(6)(s + 3) / 6 (TrueDivide, not MobileNetV3's Multiply by 1/6), a hard-swish written by
hand as y * (ReLU(6)(y + 3) * (1 / 6)) (a Multiply operation of two tensors) and a constant subtracted
from a number (`0.5 - z`).  The .keras file and its Keras 3 ONNX export must give edgec the float
function Keras computes, the same integer graph, and the same agreement, bit-exact on the host; an
operation whose numbers have no reading (keras.ops.maximum(x, 0.5)) is refused by name, not guessed."""
import os

import numpy as np
import pytest

from edgec.compiler import reference
from edgec.driver.build import build
from edgec.verification.verify import Built, verify
from conftest import cli, require
from testkit.zoo_mobile import images

os.environ.setdefault("KERAS_BACKEND", "torch")

SIZE = 48


def gated_net():
    import keras
    from keras import layers as L
    keras.utils.set_random_seed(3)
    i = keras.Input((SIZE, SIZE, 3))
    x = L.Activation("hard_swish")(L.BatchNormalization()(L.Conv2D(16, 3, strides=2, padding="same")(i)))
    s = L.Conv2D(8, 1)(L.GlobalAveragePooling2D(keepdims=True)(x))
    s = L.Conv2D(16, 1)(L.ReLU()(s))
    x = L.Multiply()([x, L.ReLU(6.0)(s + 3.0) / 6.0])
    y = L.Conv2D(24, 1)(x)
    y = y * (L.ReLU(6.0)(y + 3.0) * (1.0 / 6.0))
    z = L.Conv2D(24, 3, strides=2, padding="same")(y)
    z = 0.5 - z
    out = L.Dense(10)(L.GlobalAveragePooling2D()(z))
    model = keras.Model(i, out)
    for layer in model.layers:                     # untrained BatchNorm statistics that are not the identity
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            rng = np.random.default_rng(5)
            layer.moving_mean.assign(rng.normal(0, 0.2, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))
    return model


def db(ref, x):
    return 10 * np.log10(float((ref * ref).sum()) / float(((ref - x) ** 2).sum()))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("kops")
    model = gated_net()
    cal = images(SIZE, 32, seed=11).transpose(0, 2, 3, 1).copy()
    x = images(SIZE, 32, seed=12).transpose(0, 2, 3, 1).copy()
    np.save(d / "cal.npy", cal)
    np.save(d / "x.npy", x)
    keras_out = np.asarray(model.predict(x, verbose=0)).reshape(len(x), -1)   # also: the model has been called
    model.save(d / "m.keras")
    model.export(str(d / "m.onnx"), format="onnx", verbose=False)
    reports = {fmt: build(str(d / f"m{fmt}"), "cortex-m7", str(d / fmt[1:]), str(d / "cal.npy"))
               for fmt in (".keras", ".onnx")}
    return d, x, keras_out, reports


def test_keras_file_and_its_onnx_export_are_the_function_keras_computes(files):
    d, x, keras_out, _ = files
    for fmt in ("keras", "onnx"):
        f = reference.run_batch(Built(str(d / fmt)).float_graph, x).reshape(len(x), -1)
        assert db(keras_out, f) >= 80.0, (fmt, db(keras_out, f))


def test_both_files_give_the_same_integer_graph_and_agreement_bit_exact(files):
    require("cc")
    d, x, _, _ = files
    graphs = {fmt: Built(str(d / fmt)).int_graph for fmt in ("keras", "onnx")}
    seq = {fmt: [(n.op, n.attrs.get("function")) for n in g.nodes] for fmt, g in graphs.items()}
    assert seq["keras"] == seq["onnx"], seq
    assert ("Lut", "HardSwish") in seq["keras"]           # both hard-swish spellings became one table
    assert sum(op == "Mul" for op, _ in seq["keras"]) == 1   # the excite Mul; the gates' /6 folded away
    fa = {}
    for fmt in ("keras", "onnx"):
        r = verify(str(d / fmt), "host", str(d / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(x), r
        fa[fmt] = r["float_agreement"]
    assert abs(fa["keras"]["sqnr_db"] - fa["onnx"]["sqnr_db"]) <= 1.0, fa
    assert fa["keras"]["sqnr_db"] >= 25.0, fa


def test_operations_without_an_integer_reading_are_refused_by_name_all_at_once(tmp_path):
    """keras.ops.maximum(x, 0.5) shares its name with the Maximum layer, which takes no numbers: refused,
    not read as that layer; a division by a tensor has no int8 kernel.  Both reasons in one error."""
    import keras
    i = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 1)(i)
    model = keras.Model(i, keras.ops.maximum(y, 0.5) / keras.layers.ReLU()(y))
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "cal.npy", np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype(np.float32))
    r = cli("build", tmp_path / "m.keras", "-o", tmp_path / "out", "-c", tmp_path / "cal.npy")
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
    assert "maximum" in r.stderr and "arguments other than tensors" in r.stderr, r.stderr
    assert "division by a tensor" in r.stderr, r.stderr
