"""torch nn.RNN through the dynamo exporter (issue 18): torch.export unrolls the recurrence into
MatMul / Add / Tanh steps, and adds h0's folded recurrent term, a [1, 1, H] constant, to the first
[1, H] step; ONNX broadcasting makes the sum [1, 1, H], and the later steps add [1, 1, H] and [1, H]
tensors.  The importer reshapes an element-wise op's lower-rank computed operand to the highest rank
(importers/onnx.py _same_rank), as ONNX broadcasting prepends unit axes.

Models: a two-layer ReLU RNN (time-major) and a bidirectional tanh RNN feeding a classifier, from the
dynamo exporter (opset 18; the TorchScript exporter writes an ONNX RNN node).  Each: float reference
== onnxruntime, the C on the host == the integer reference bit for bit, int8 within 30 dB of float;
the bidirectional net also on the emulated Cortex-M4."""
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from conftest import require
from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import verify

warnings.filterwarnings("ignore", module="torch")


class Tagger(torch.nn.Module):
    """Time-major two-layer ReLU RNN, a per-step linear head: [T, 1, F] -> [T, 1, 4]."""

    def __init__(self):
        super().__init__()
        self.rnn, self.head = torch.nn.RNN(5, 12, 2, nonlinearity="relu"), torch.nn.Linear(12, 4)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


class BiClassifier(torch.nn.Module):
    """Batch-first bidirectional tanh RNN, the last step's two directions classified: [1, T, F] -> [1, 3]."""

    def __init__(self):
        super().__init__()
        self.rnn, self.head = torch.nn.RNN(7, 10, batch_first=True, bidirectional=True), torch.nn.Linear(20, 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("net,shape", [(Tagger, (9, 1, 5)), (BiClassifier, (1, 8, 7))])
def test_dynamo_unrolled_rnn_is_bit_exact(tmp_path, net, shape):
    require("cc")
    torch.manual_seed(6)
    rng = np.random.default_rng(1)
    xs = np.tanh(rng.standard_normal((8,) + shape)).astype(np.float32)
    path = tmp_path / "m.onnx"
    torch.onnx.export(net().eval(), (torch.from_numpy(xs[0]),), str(path), dynamo=True, opset_version=18)
    g = canonicalize(import_model(str(path)))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = np.stack([sess.run(None, {sess.get_inputs()[0].name: x})[0] for x in xs[:4]])
    got = np.stack([reference.run(g, x)[g.outputs[0]] for x in xs[:4]]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "x.npy", xs)
    m4 = net is BiClassifier
    build(str(path), "cortex-m4" if m4 else "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    for target in ("host", "cortex-m4") if m4 else ("host",):
        r = verify(str(tmp_path / "out"), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), (target, r)
        assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]
