"""Keras EinsumDense (issue 18), from a .keras file and from Keras 3's own ONNX export: a sequence net
whose layers are written as einsums -- a multi-head projection "btf,fhd->bthd" (bias over both
feature labels, ReLU), a per-head mix "bthd,hde->bte" (bias over e only), an output with its axes
swapped "bte,ek->bkt" -- and a plain "ab,bc->ac" head.  The .keras import lowers each to a
FullyConnected between Transposes and Reshapes (compiler/importers/keras_einsum.py); the ONNX export
goes through the ONNX importer's Einsum lowering.  Each: float reference == Keras, the C on the host
== the integer reference bit for bit, int8 within 30 dB of float.  An equation that keeps a kernel
label is refused naming the equation."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import cli, require  # noqa: E402
from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402

L = keras.layers


def _model():
    keras.utils.set_random_seed(3)
    i = keras.Input((9, 6))
    y = L.EinsumDense("btf,fhd->bthd", output_shape=(9, 2, 4), bias_axes="hd", activation="relu")(i)
    y = L.EinsumDense("bthd,hde->bte", output_shape=(9, 5), bias_axes="e")(y)
    y = L.EinsumDense("bte,ek->bkt", output_shape=(3, 9))(y)
    y = L.Flatten()(y)
    m = keras.Model(i, L.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c", activation="tanh")(y))
    for v in m.weights:                          # biases away from zero, so that they are exercised
        if len(v.shape) <= 2 and "bias" in v.path:
            v.assign(np.random.default_rng(1).uniform(-0.5, 0.5, v.shape).astype(np.float32))
    return m


@pytest.mark.parametrize("fmt", ["keras", "onnx"])
def test_einsum_dense_is_bit_exact(tmp_path, fmt):
    require("cc")
    m = _model()
    xs = np.random.default_rng(4).standard_normal((10, 9, 6)).astype(np.float32)
    path = tmp_path / f"m.{fmt}"
    m(xs[:1])                                    # Keras' ONNX export needs a model that has been called
    if fmt == "keras":
        m.save(path)
    else:
        m.export(str(path), format="onnx", verbose=False)
    g = canonicalize(import_model(str(path)))
    assert "FullyConnected" in {n.op for n in g.nodes}
    want = np.asarray(m.predict(xs[:4], verbose=0))
    got = np.stack([reference.run(g, x[None])[g.outputs[0]][0] for x in xs[:4]])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
    assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]


def test_einsum_dense_keeping_a_kernel_label_is_refused_by_equation(tmp_path):
    i = keras.Input((5, 6))
    m = keras.Model(i, L.EinsumDense("btf,tf->bt", output_shape=5)(i))
    m.save(tmp_path / "m.keras")
    r = cli("build", tmp_path / "m.keras", "--target", "host", "-o", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "EinsumDense 'btf,tf->bt'" in r.stderr and "'t' of the kernel kept in the output" in r.stderr, r.stderr
