"""Keras and Darknet models that cannot compile list every reason at once, one line each, exit 2 and no
traceback, as ONNX models do (the collecting code is shared: edgec.compiler.importers.reasons); and `--input-shape`
(or the calibration data) builds a Keras model whose input has dynamic (None) dimensions."""
import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (test-only: the models a Keras user would bring)

from edgec.compiler import reference  # noqa: E402
from edgec.verification.verify import Built, verify  # noqa: E402
from conftest import cli, require  # noqa: E402
from edgec.compiler.importers.runtime_float import NORMALIZES_BY_ITS_INPUT, RUNTIME_FLOAT  # noqa: E402

L = keras.layers


def _refused(r):
    """(headline, reason lines) of a CLI run refused the way bad input must be: exit 2, no traceback."""
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = r.stderr.splitlines()
    heads = [i for i, l in enumerate(lines) if l.startswith("edgec: error")]
    assert len(heads) == 1, r.stderr
    return lines[heads[0]], lines[heads[0] + 1:]


def test_a_keras_model_that_cannot_compile_lists_every_reason(tmp_path):
    """A dynamic input, two layer classes edgec has not and a config value it does not take, all at once:
    the layers after an unsupported one are still checked (its input stands in for its output)."""
    i = keras.Input((None, None, 3), name="img")
    x = L.Conv2D(4, 3, padding="same", name="c1")(i)
    x = L.LayerNormalization(name="norm")(x)
    x = L.ReLU(threshold=0.5, name="thr")(x)
    x = L.Conv2D(4, 3, padding="same", name="c2")(x)
    x = L.GroupNormalization(groups=2, name="group")(x)
    x = L.Conv2D(2, 1, activation="relu", name="c3")(x)
    keras.Model(i, x).save(tmp_path / "bad.keras")
    head, reasons = _refused(cli("build", tmp_path / "bad.keras", "-o", tmp_path / "o"))
    assert head.startswith("edgec: error: bad.keras: the model cannot be compiled: 2 unsupported layer(s), 1 input(s) "
                           "of dynamic shape, 1 unsupported attribute value(s) or use(s) — supported layers: "), head
    assert reasons == [
        "  input img [batch, H, W, 3]: dimensions 1 (H), 2 (W) are dynamic and no calibration data fixes them — give "
        "the shape with --input-shape img=1,H,W,3",
        "  layer norm (LayerNormalization): unsupported layer — " + NORMALIZES_BY_ITS_INPUT,
        "  layer thr (ReLU): ReLU with a threshold",
        "  layer group (GroupNormalization): unsupported layer — " + RUNTIME_FLOAT["GroupNormalization"]]
    assert not (tmp_path / "o").exists()
    # the same model saved as legacy .h5, its shape given: the same layers, the input no longer a reason
    keras.saving.load_model(tmp_path / "bad.keras").save(tmp_path / "bad.h5")
    head, reasons = _refused(cli("build", tmp_path / "bad.h5", "-o", tmp_path / "o", "--input-shape", "1,16,16,3"))
    assert "2 unsupported layer(s), 1 unsupported attribute value(s)" in head and len(reasons) == 3, reasons


def _dynamic_model():
    i = keras.Input((None, None, 3), name="img")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c1")(i)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = L.Conv2D(12, 1, activation="relu", name="pw")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(i, L.Dense(4, activation="softmax", name="fc")(x))


def test_input_shape_builds_a_keras_model_with_dynamic_dims(tmp_path):
    require("cc")
    model = _dynamic_model()
    model.save(tmp_path / "dyn.keras")
    x = np.random.default_rng(3).uniform(0, 1, (16, 24, 40, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for out, extra in (("named", ["--input-shape", "img=1,24,40,3"]), ("unnamed", ["--input-shape", "1,24,40,3"]),
                       ("from_data", [])):                             # the calibration data fixes H, W alone
        r = cli("build", tmp_path / "dyn.keras", "-o", tmp_path / out, "-c", tmp_path / "x.npy", *extra)
        assert r.returncode == 0, r.stderr
        built = Built(str(tmp_path / out))
        assert list(built.input_shape) == [1, 24, 40, 3]
    want = model.predict(x[:4], verbose=0)
    got = reference.run_batch(built.float_graph, x[:4, None]).reshape(4, 4)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    v = verify(str(tmp_path / "named"), "host", str(tmp_path / "x.npy"))
    assert v["bit_exact"] and v["mismatches"] == 0, v
    # a name that is not an input, and a shape that contradicts a static dim, are one-line errors
    head, _ = _refused(cli("build", tmp_path / "dyn.keras", "-o", tmp_path / "o", "--input-shape", "image=1,24,40,3"))
    assert "--input-shape names image, which is not an input of the model (its inputs: img)" in head, head
    head, _ = _refused(cli("build", tmp_path / "dyn.keras", "-o", tmp_path / "o", "--input-shape", "1,24,40,4"))
    assert "does not fit input img, declared [batch, H, W, 3] (dimension 3 is 3)" in head, head


CFG = """[net]
width=8
height=8
channels=1

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=bent

[lstm]
output=4

[upsample]
stride=0

[crnn]

[maxpool]
size=2
stride=2

[convolutional]
filters=2
size=1
stride=1
pad=0
activation=leaky
"""


def test_a_darknet_cfg_that_cannot_compile_lists_every_reason(tmp_path):
    (tmp_path / "m.cfg").write_text(CFG)
    header = np.array([0, 2, 0, 0, 0], "<i4").tobytes()
    floats = np.random.default_rng(0).standard_normal(4 + 4 * 9 + 2 + 2 * 4).astype("<f4")   # the two convs
    (tmp_path / "m.weights").write_bytes(header + floats.tobytes())
    head, reasons = _refused(cli("build", tmp_path / "m.cfg", "-o", tmp_path / "o"))
    assert head.startswith("edgec: error: m.cfg: the model cannot be compiled: 2 unsupported section(s), "
                           "2 unsupported attribute value(s) or use(s) — supported sections: convolutional, "), head
    assert [r.split(" — ")[0] for r in reasons] == [
        "  layer 0 (convolutional, cfg line 6): activation 'bent'",
        "  layer 1 ([lstm], cfg line 13): unsupported section",
        "  layer 2 (upsample, cfg line 16): line 16: [upsample] stride=0",
        "  layer 3 ([crnn], cfg line 19): unsupported section"]
