"""LogSoftmax (compiler/log_softmax.py, edgec_log_softmax_s8): the integer arithmetic against float,
the C against its twin on drawn and extreme rows, and classifiers that end in log_softmax from both
PyTorch exporters and from Keras 3."""
import os

import numpy as np
import pytest

from edgec.compiler import log_softmax, reference
from edgec.driver.build import build, compile_graph, import_model
from edgec.compiler.ir import Graph, Node, Tensor
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import Built, verify
from conftest import require
from testkit.zoo_mobile import export, images, ort_run


@pytest.mark.parametrize("scale, cols", [(0.004, 10), (0.05, 10), (0.2, 1000), (1.5, 3), (0.1, 1), (8.0, 40)])
def test_integer_log_softmax_is_within_half_a_step_and_the_log_table(scale, cols):
    """|out - float| <= s_out / 2 (the output rounding) + ln(1 + 1/512) (the mantissa's 8 bits), the float
    saturated at int8's floor (-15.94), on rows drawn over the whole int8 range."""
    node = Node("LogSoftmax", "l", ["x"], ["y"], log_softmax.tables(scale, cols))
    rng = np.random.default_rng(cols)
    x = rng.integers(-128, 128, (400, cols)).astype(np.int8)
    x[0], x[1] = 127, -128                                   # flat rows: log(1 / cols) each
    x[2, :] = -128
    x[2, 0] = 127                                            # one hot
    q = log_softmax.log_softmax_s8(node, x)
    want = log_softmax.log_softmax_f32(node, x.astype(np.float64) * scale)
    got = (q.astype(np.float64) - log_softmax.OUT_ZERO_POINT) * log_softmax.OUT_SCALE
    floor = (-128 - log_softmax.OUT_ZERO_POINT) * log_softmax.OUT_SCALE     # int8's least value
    bound = log_softmax.OUT_SCALE / 2 + np.log1p(1 / 512) + 1e-9
    assert np.abs(got - np.maximum(want, floor)).max() <= bound             # below the floor: saturated


def _graph(cols, rows=3):
    g = Graph("ls", [Node("LogSoftmax", "ls", ["x"], ["y"], {})],
              {"x": Tensor("x", (rows, cols)), "y": Tensor("y", None)}, ["x"], ["y"])
    return canonicalize(g)


@pytest.mark.parametrize("cols, spread", [(10, 2.0), (257, 0.3), (4, 40.0)])
def test_generated_c_equals_the_twin(tmp_path, cols, spread):
    require("cc")
    rng = np.random.default_rng(cols)
    compile_graph(_graph(cols), rng.normal(0, spread, (16, 3, cols)).astype(np.float32), "host", str(tmp_path / "o"),
                  "ls", "test")
    built = Built(str(tmp_path / "o"))
    q = rng.integers(-128, 128, (24, 3, cols)).astype(np.int8)
    q[0] = 127
    q[1] = -128
    got, _ = built.execute("host", q)
    assert np.array_equal(got, reference.run_batch(built.int_graph, q))


def _classifier():
    import torch
    from torch import nn

    class Net(nn.Module):
        """The MNIST-tutorial shape: convs, pooling, a linear head, log_softmax over the classes."""
        def __init__(self):
            super().__init__()
            torch.manual_seed(2)
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, stride=2)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = torch.relu(self.c2(torch.relu(self.c1(x))))
            return nn.functional.log_softmax(self.fc(x.mean((2, 3))), dim=1)
    return Net().eval()


@pytest.mark.parametrize("exporter", ["ts13", "dynamo"])
def test_pytorch_log_softmax_classifier_is_bit_exact_on_host_and_cortex_m4(tmp_path, exporter):
    require("cc")
    require("qemu-system-arm")
    path = export(_classifier(), 16, tmp_path / "net.onnx", exporter)
    np.save(tmp_path / "cal.npy", images(16, 32, seed=6))
    xs = images(16, 6, seed=7)
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "cortex-m4", str(tmp_path / "out"), str(tmp_path / "cal.npy"))
    b = Built(str(tmp_path / "out"))
    assert "LogSoftmax" in [n.op for n in b.int_graph.nodes]
    want = ort_run(path, xs)
    got = reference.run_batch(b.float_graph, xs[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for target in ("host", "cortex-m4"):
        r = verify(str(tmp_path / "out"), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 6, r
    # random weights: near-equal log-probabilities, so top-1 ties within an output step; SQNR is the measure
    assert r["float_agreement"]["sqnr_db"] >= 30.0, r["float_agreement"]


def test_keras_log_softmax_activation(tmp_path):
    require("cc")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(7, activation="log_softmax")])
    path = tmp_path / "m.keras"
    model.save(path)
    x = np.random.default_rng(5).normal(0, 1, (20, 12)).astype(np.float32)
    want = np.asarray(model.predict(x, verbose=0))
    g = import_model(str(path))
    np.testing.assert_allclose(reference.run_batch(g, x[:, None]).reshape(want.shape), want, rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "x.npy", x)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0, r
