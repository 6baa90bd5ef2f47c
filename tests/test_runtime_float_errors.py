"""Ops whose float math depends on run-time statistics of their own input (LayerNormalization over
activations, issue 18 part 3) are refused with a reason line that names the node and says why and what
to do, from PyTorch's TorchScript exporter at opset 17 and its dynamo exporter (both write one
LayerNormalization node) and from a Keras model, and spelled out op by op by an older opset or by hand;
exit 2, no traceback, every reason at once."""
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")

from conftest import cli, one_line_error  # noqa: E402


class Tagger(torch.nn.Module):
    """A conv front end, a LayerNorm over the pooled features (as transformer-style heads do), a Linear,
    and a GroupNorm over the feature map: two nodes, two reason lines."""

    def __init__(self):
        super().__init__()
        self.conv, self.gn = torch.nn.Conv2d(3, 8, 3), torch.nn.GroupNorm(2, 8)
        self.ln, self.fc = torch.nn.LayerNorm(8), torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.ln(self.gn(self.conv(x)).mean((2, 3))))


@pytest.mark.parametrize("dynamo", [False, True])
def test_torch_layer_norm_is_refused_naming_the_node_and_why(tmp_path, dynamo):
    path = tmp_path / "tagger.onnx"
    x = torch.zeros(1, 3, 16, 16)
    torch.onnx.export(Tagger().eval(), (x,), str(path), dynamo=dynamo, opset_version=18 if dynamo else 17)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((4, 3, 16, 16)).astype(np.float32))
    r = cli("build", path, "--target", "host", "-o", tmp_path / "o", "--calibration", tmp_path / "x.npy")
    one_line_error(r, "cannot be compiled")
    assert r.returncode == 2
    ln = [l for l in r.stderr.splitlines() if "(LayerNormalization): unsupported op" in l]
    assert len(ln) == 1 and "run time" in ln[0] and "BatchNormalization" in ln[0], r.stderr
    assert not (tmp_path / "o").exists()


def test_keras_layer_norm_over_activations_is_refused_naming_the_layer(tmp_path):
    import keras
    i = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3)(i)
    x = keras.layers.LayerNormalization(name="head_norm")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(i, keras.layers.Dense(4)(x)).save(tmp_path / "m.keras")
    r = cli("build", tmp_path / "m.keras", "-o", tmp_path / "o")
    one_line_error(r, "cannot be compiled")
    lines = [l for l in r.stderr.splitlines() if "layer head_norm (LayerNormalization): unsupported layer" in l]
    assert r.returncode == 2 and len(lines) == 1 and "run time" in lines[0], r.stderr


class SpelledOut(torch.nn.Module):
    """Normalizations an exporter writes out op by op: LayerNorm at opset 13 (TorchScript has no
    LayerNormalization op before 17: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div) and an RMS norm
    written by hand over a conv's channels (x / sqrt(mean(x^2) + eps))."""

    def __init__(self):
        super().__init__()
        self.conv, self.ln, self.fc = torch.nn.Conv2d(3, 8, 3), torch.nn.LayerNorm(8), torch.nn.Linear(8, 4)

    def forward(self, x):
        y = self.conv(x)
        y = y / torch.sqrt((y * y).mean(1, keepdim=True) + 1e-5)
        return self.fc(self.ln(y.mean((2, 3))))


def test_normalizations_spelled_out_by_the_exporter_are_refused_as_normalizations(tmp_path):
    """Each Div that divides a tensor by a statistic of itself gets the normalization reason, naming the
    Div node and the reduction, in one error, exit 2."""
    path = tmp_path / "spelled.onnx"
    torch.onnx.export(SpelledOut().eval(), (torch.zeros(1, 3, 12, 12),), str(path), dynamo=False, opset_version=13)
    np.save(tmp_path / "x.npy", np.random.default_rng(1).random((4, 3, 12, 12)).astype(np.float32))
    r = cli("build", path, "--target", "host", "-o", tmp_path / "o", "--calibration", tmp_path / "x.npy")
    one_line_error(r, "without an integer form")
    assert r.returncode == 2
    divs = [l for l in r.stderr.splitlines() if l.lstrip().startswith("node ") and "Div" in l]
    assert len(divs) == 2, r.stderr
    for line in divs:
        assert "a statistic of that input" in line and "LayerNormalization" in line and "run time" in line, line
    assert any("/ln/" in l for l in divs) and any("/ln/" not in l for l in divs), divs
    assert not (tmp_path / "o").exists()
