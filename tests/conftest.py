"""Shared fixtures: the seven real models with their real calibration data and inputs.

Each model is built once per session (cortex-m4 target) into a temporary directory."""
from __future__ import annotations

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
            case = CASES[name]
            d = tmp_path_factory.mktemp(name)
            np.save(d / "calib.npy", case.calibration())
            np.save(d / "inputs.npy", case.inputs())
            report = build(case.path, "cortex-m4", str(d / "out"), str(d / "calib.npy"))
            cache[name] = (d / "out", d / "inputs.npy", report)
        return cache[name]
    return get
