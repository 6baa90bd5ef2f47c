"""Shared fixtures: the seven real models with their real calibration data and inputs.

Each model is built once per session (cortex-m4 target) into a temporary directory."""
from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


def data(name):
    return np.load(DATA / name)


def extra(key):
    with np.load(DATA / "extra_inputs.npz") as z:
        return z[key]


@dataclass
class Case:
    model: str
    calibration: object     # () -> float array in the model's input layout
    inputs: object          # () -> the real inputs checked bit for bit (shared reference inputs + >= 20 extra)

    @property
    def path(self):
        return str(DATA / self.model)


def _digits(n=None):
    x = data("digits_X_train_float_0to1_x64.npy")
    return x if n is None else x[:n]


CASES = {
    "mnist": Case("mnist.simplified.onnx", lambda: extra("mnist14")[:200], lambda: extra("mnist14")[200:230]),
    "digits_cnn": Case("digits_torch_cnn.onnx", lambda: _digits().reshape(-1, 1, 8, 8),
                       lambda: data("digits_X_test_float_0to1_x64.npy").reshape(-1, 1, 8, 8)),
    "digits_mlp": Case("digits_torch_mlp.onnx", lambda: _digits(), lambda: data("digits_X_test_float_0to1_x64.npy")),
    "kws": Case("kws_ref_model.onnx",
                lambda: np.concatenate([data("kws_input_float_dequant.npy"), extra("kws_shift")]),
                lambda: np.concatenate([data("kws_input_float_dequant.npy"), extra("kws_shift")])),
    "resnet": Case("pretrainedResnet_tf2onnx.onnx",
                   lambda: np.concatenate([data("ic_input_float_0to255_NHWC.npy"), extra("ic_crops").astype(np.float32)]),
                   lambda: np.concatenate([data("ic_input_float_0to255_NHWC.npy"), extra("ic_crops").astype(np.float32)])),
    "vww": Case("vww_96_tf2onnx.onnx",
                lambda: np.concatenate([data("vww_input_float_0to1_NHWC.npy"), extra("vww_crops") / np.float32(255)]),
                lambda: np.concatenate([data("vww_input_float_0to1_NHWC.npy"), extra("vww_crops") / np.float32(255)])),
    "ad01": Case("ad01_tf2onnx.onnx", lambda: data("ad_inputs_float_x640.npy"), lambda: data("ad_inputs_float_x640.npy")),
}


def _vww():
    return np.concatenate([data("vww_input_float_0to1_NHWC.npy"), extra("vww_crops") / np.float32(255)])


def _ic():
    return np.concatenate([data("ic_input_float_0to255_NHWC.npy"), extra("ic_crops").astype(np.float32)])


#: Keras models; `reference` is the shared Keras output for the first len(reference) inputs.
KERAS_CASES = {
    "vww_h5": Case("vww_96.h5", _vww, _vww),
    "vww_keras": Case("vww_96.keras", _vww, _vww),
    "resnet_h5": Case("pretrainedResnet.h5", _ic, _ic),
    "resnet_keras": Case("pretrainedResnet.keras", _ic, _ic),
    "ad01_h5": Case("ad01.h5", lambda: data("ad_inputs_float_x640.npy"), lambda: data("ad_inputs_float_x640.npy")),
    "digits_keras": Case("digits_keras_cnn.keras", lambda: _digits().reshape(-1, 8, 8, 1),
                         lambda: data("digits_X_test_float_0to1_x64.npy").reshape(-1, 8, 8, 1)),
}
KERAS_REFERENCE = {"vww_h5": "vww_96_h5_output.npy", "vww_keras": "vww_96_h5_output.npy",
                   "resnet_h5": "ic_pretrainedResnet_h5_output.npy", "resnet_keras": "ic_pretrainedResnet_h5_output.npy",
                   "ad01_h5": "ad01_h5_output.npy", "digits_keras": "digits_keras_cnn_test_probs.npy"}


def require(*tools):
    """Fail (not skip) when a tool the suite needs is missing: a skipped check proves nothing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: install the README's test set-up (apt packages gcc-arm-none-eabi qemu-system-arm)")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """name -> (out dir, inputs .npy path, report); builds lazily, once per session."""
    from edgec.build import build
    cache = {}

    def get(name):
        if name not in cache:
            case = {**CASES, **KERAS_CASES}[name]
            d = tmp_path_factory.mktemp(name)
            np.save(d / "calib.npy", case.calibration())
            np.save(d / "inputs.npy", case.inputs())
            report = build(case.path, "cortex-m4", str(d / "out"), str(d / "calib.npy"))
            cache[name] = (d / "out", d / "inputs.npy", report)
        return cache[name]
    return get


@pytest.fixture(scope="session")
def digits_files(tmp_path_factory):
    """calib.npy (300 training digits) and samples.npy (25 test digits), for the CLI tests."""
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "calib.npy", np.load(DATA / "digits_X_train_float_0to1_x64.npy")[:300])
    np.save(d / "samples.npy", np.load(DATA / "digits_X_test_float_0to1_x64.npy")[:25])
    return d


def one_line_error(r, *words):
    """A CLI run (returncode/stdout/stderr) that failed the way bad input must: non-zero exit, no
    traceback, exactly one "edgec: error" line on stderr, holding each of `words`.  Returns the line."""
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr + r.stdout
    lines = [l for l in r.stderr.splitlines() if l.startswith("edgec: error")]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def cli(*args, env=None, check_json=False):
    """The CLI's main() in this process (same parsing, errors and output as a subprocess, without an
    interpreter start per call); `env` entries are set for the call."""
    from contextlib import redirect_stderr, redirect_stdout
    from types import SimpleNamespace
    from edgec.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in (env or {}).items():
            mp.setenv(k, v)
        if env and "EDGEC_AWS_ENDPOINT" in env:                 # the local cloud, not a profile's
            for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                mp.delenv(k, raising=False)
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(a) for a in args])
    if check_json:
        assert code == 0, err.getvalue()
        return json.loads(out.getvalue())
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
