"""The real models of the suite with their real calibration data and inputs (tests/data).

tests/conftest.py builds them once per session (its `built` fixture); bench/*.py measure them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


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


def vww_inputs():
    return np.concatenate([data("vww_input_float_0to1_NHWC.npy"), extra("vww_crops") / np.float32(255)])


def ic_inputs():
    return np.concatenate([data("ic_input_float_0to255_NHWC.npy"), extra("ic_crops").astype(np.float32)])


#: Keras models; `reference` is the shared Keras output for the first len(reference) inputs.
KERAS_CASES = {
    "vww_h5": Case("vww_96.h5", vww_inputs, vww_inputs),
    "vww_keras": Case("vww_96.keras", vww_inputs, vww_inputs),
    "resnet_h5": Case("pretrainedResnet.h5", ic_inputs, ic_inputs),
    "resnet_keras": Case("pretrainedResnet.keras", ic_inputs, ic_inputs),
    "ad01_h5": Case("ad01.h5", lambda: data("ad_inputs_float_x640.npy"), lambda: data("ad_inputs_float_x640.npy")),
    "digits_keras": Case("digits_keras_cnn.keras", lambda: _digits().reshape(-1, 8, 8, 1),
                         lambda: data("digits_X_test_float_0to1_x64.npy").reshape(-1, 8, 8, 1)),
}
KERAS_REFERENCE = {"vww_h5": "vww_96_h5_output.npy", "vww_keras": "vww_96_h5_output.npy",
                   "resnet_h5": "ic_pretrainedResnet_h5_output.npy", "resnet_keras": "ic_pretrainedResnet_h5_output.npy",
                   "ad01_h5": "ad01_h5_output.npy", "digits_keras": "digits_keras_cnn_test_probs.npy"}
