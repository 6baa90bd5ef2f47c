"""Keras 2 .h5 and Keras 3 .keras files, read without TensorFlow: the float reference reproduces the
shared Keras outputs, and the int8 builds are bit-exact on the host and Cortex-M4 and agree with Keras."""
import json
import zipfile

import h5py
import numpy as np
import pytest

from edgec.compiler import reference
from edgec.driver.build import import_model
from edgec.compiler.errors import ModelFormatError, UnsupportedOpError
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import verify, run
from conftest import DATA, KERAS_CASES, KERAS_REFERENCE, data, require


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_float_reference_matches_keras(name):
    case = KERAS_CASES[name]
    want = data(KERAS_REFERENCE[name])
    g = import_model(case.path)
    for graph in (g, canonicalize(g)):
        x = case.inputs()[:len(want)]
        got = reference.run_batch(graph, x.reshape((len(x),) + graph.tensors[graph.inputs[0]].shape)).reshape(want.shape)
        # Keras computed these in float32; 1e-4 of the output's range covers its rounding (ad01: 5e-5).
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_int8_bit_exact_and_agrees_with_keras(built, name):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    out, inputs, report = built(name)
    for target in ("host", "cortex-m4"):
        r = verify(str(out), target, str(inputs))
        assert r["bit_exact"], r
    assert r["float_helpers"] == []
    want = data(KERAS_REFERENCE[name])
    np.save(out.parent / "shared.npy", np.load(inputs)[:len(want)])
    y, _ = run(str(out), "host", str(out.parent / "shared.npy"))
    y = y.reshape(want.shape)
    if name == "ad01_h5":
        x = data("ad_inputs_float_x640.npy")
        assert ((y - x) ** 2).mean() <= 1.10 * ((want - x) ** 2).mean()
    elif name == "digits_keras":
        labels = data("digits_y_test.npy")
        acc_int, acc_float = (y.argmax(1) == labels).mean(), (want.argmax(1) == labels).mean()
        assert acc_int >= acc_float - 0.01, (acc_int, acc_float)
    else:
        assert (y.argmax(1) == want.argmax(1)).all()


def _h5_with_config(path, config):
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.4.0"
        f.create_group("model_weights")


def test_unknown_layers_are_all_listed(tmp_path):
    layers = [{"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 4]}},
              {"class_name": "Dense", "config": {"name": "d", "units": 2}},
              {"class_name": "ConvLSTM2D", "config": {"name": "rnn_1"}},
              {"class_name": "ConvLSTM1D", "config": {"name": "convlstm_7"}}]
    _h5_with_config(tmp_path / "m.h5", {"class_name": "Sequential", "config": {"name": "s", "layers": layers}})
    with pytest.raises(UnsupportedOpError, match=r"the model cannot be compiled: 2 unsupported layer\(s\)") as e:
        import_model(str(tmp_path / "m.h5"))
    assert e.value.reasons == ["layer rnn_1 (ConvLSTM2D): unsupported layer",
                               "layer convlstm_7 (ConvLSTM1D): unsupported layer"]


def test_truncated_and_malformed_files_are_one_line_errors(tmp_path):
    for src, cut in (("vww_96.h5", 5000), ("vww_96.keras", 5000), ("digits_keras_cnn.keras", 20000)):
        p = tmp_path / f"cut_{src}"
        p.write_bytes((DATA / src).read_bytes()[:cut])
        with pytest.raises(ModelFormatError) as e:
            import_model(str(p))
        assert "\n" not in str(e.value) and p.name in str(e.value)
    weights_only = tmp_path / "w.h5"
    with h5py.File(weights_only, "w") as f:
        f.create_group("conv2d")
    with pytest.raises(ModelFormatError, match="no model_config"):
        import_model(str(weights_only))
    z = tmp_path / "nocfg.keras"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("metadata.json", "{}")
    with pytest.raises(ModelFormatError, match="config.json"):
        import_model(str(z))
