"""CumSum (issue 18): the running sum along the time or feature axis, int8 values less their zero point
accumulated in int32 and requantized once.  A sequence model with torch.cumsum over time from both
PyTorch exporters, ONNX CumSum with exclusive / reverse over each axis of a [1, T, F] tensor, Keras
ops.cumsum: the C (host; the emulated Cortex-M4 once) equals the integer reference bit for bit, the
float reference equals onnxruntime / Keras, and the SQNR against the float model is measured."""
import os
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from conftest import onnx_file, require
from testkit.image_run import image_equals_reference
from edgec.compiler import reference
from edgec.driver.build import build
from edgec.verification.verify import Built, verify

os.environ.setdefault("KERAS_BACKEND", "torch")
warnings.filterwarnings("ignore", module="torch")


class Accumulator(torch.nn.Module):
    """Conv1d features over 24 time steps, their running sum over time, a per-step projection and a
    mean over time into 3 scores."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(6)
        self.conv = torch.nn.Conv1d(4, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 3)
        for m in (self.conv, self.fc):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1

    def forward(self, x):
        h = torch.cumsum(torch.relu(self.conv(x)), dim=2) / 24.0
        return self.fc(h.transpose(1, 2)).mean(1)


def _ort(path, xs):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.stack([s.run(None, {s.get_inputs()[0].name: x[None]})[0][0] for x in xs])


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_torch_cumsum_over_time_is_bit_exact(tmp_path, exporter):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    xs = np.random.default_rng(8).normal(0, 1, (32, 4, 24)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    path = str(tmp_path / "m.onnx")
    x = torch.zeros(1, 4, 24)
    if exporter == "dynamo":
        torch.onnx.export(Accumulator().eval(), (x,), path, dynamo=True, opset_version=20, verbose=False)
    else:
        torch.onnx.export(Accumulator().eval(), (x,), path, dynamo=False, opset_version=14)
    out = tmp_path / "out"
    build(path, "cortex-m4", str(out), str(tmp_path / "x.npy"))
    b = Built(str(out))
    assert "CumSum" in [n.op for n in b.int_graph.nodes]
    np.testing.assert_allclose(reference.run_batch(b.float_graph, xs).reshape(32, -1), _ort(path, xs).reshape(32, -1),
                               atol=1e-5)
    for target in ("host", "cortex-m4") if exporter == "dynamo" else ("host",):
        r = verify(str(out), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 32, (target, r)
    assert r["float_agreement"]["sqnr_db"] > 25, r["float_agreement"]
    assert image_equals_reference(str(out), xs[:4])              # the model image: kernel 36, cumsum_s8
    print(f"{exporter}: SQNR {r['float_agreement']['sqnr_db']} dB")


@pytest.mark.parametrize("axis,exclusive,reverse", [(1, 1, 0), (1, 0, 1), (-1, 1, 1)])
def test_onnx_cumsum_exclusive_reverse(tmp_path, axis, exclusive, reverse):
    nodes = [helper.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)]
    ax = helper.make_tensor("axis", TensorProto.INT64, [], [axis])
    path = onnx_file(tmp_path, nodes, [1, 10, 6], [1, 10, 6], [ax], opset=14)
    xs = np.random.default_rng(3).normal(0.3, 1, (24, 10, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    build(path, "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    b = Built(str(tmp_path / "out"))
    node = next(n for n in b.int_graph.nodes if n.op == "CumSum")
    assert (node.attrs["exclusive"], node.attrs["reverse"]) == (bool(exclusive), bool(reverse))
    np.testing.assert_allclose(reference.run_batch(b.float_graph, xs).reshape(24, -1), _ort(path, xs).reshape(24, -1),
                               atol=1e-5)
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["float_agreement"]["sqnr_db"] > 25, r


def test_keras_ops_cumsum_is_bit_exact(tmp_path):
    import keras
    from keras import ops
    keras.utils.set_random_seed(4)
    i = keras.Input((16, 5))
    h = keras.layers.Conv1D(6, 3, padding="same", activation="relu")(i)
    model = keras.Model(i, keras.layers.Dense(2)(ops.cumsum(h, axis=1)))
    model.save(tmp_path / "m.keras")
    xs = np.random.default_rng(2).normal(0, 1, (32, 16, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    build(str(tmp_path / "m.keras"), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    b = Built(str(tmp_path / "out"))
    assert "CumSum" in [n.op for n in b.int_graph.nodes]
    np.testing.assert_allclose(reference.run_batch(b.float_graph, xs).reshape(32, -1),
                               model.predict(xs, verbose=0).reshape(32, -1), atol=1e-4)
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["float_agreement"]["sqnr_db"] > 25, r
    model.export(str(tmp_path / "m.onnx"), format="onnx", verbose=False)     # its ONNX export: CumSum
    build(str(tmp_path / "m.onnx"), "host", str(tmp_path / "onnx"), str(tmp_path / "x.npy"))
    assert "CumSum" in [n.op for n in Built(str(tmp_path / "onnx")).int_graph.nodes]
    r = verify(str(tmp_path / "onnx"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["float_agreement"]["sqnr_db"] > 25, r
