"""TopK with a small constant k on the last axis (issue 18): torch.topk(logits, 3) from both PyTorch
exporters, its values (on the logits' own quantization: a selection is exact) or its indices (int8,
scale 1, like ArgMax's), and ONNX TopK with largest=0 over a tensor with ties (lower index first, as
ONNX specifies).  The C (host; the emulated Cortex-M4 once) equals the integer reference bit for bit and
the float reference equals onnxruntime."""
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

warnings.filterwarnings("ignore", module="torch")


class Top3(torch.nn.Module):
    def __init__(self, which):
        super().__init__()
        g = torch.Generator().manual_seed(4)
        self.which = which
        self.fc1, self.fc2 = torch.nn.Linear(8, 16), torch.nn.Linear(16, 12)
        for m in (self.fc1, self.fc2):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1

    def forward(self, x):
        values, indices = torch.topk(self.fc2(torch.relu(self.fc1(x))), 3, dim=1)
        return values if self.which == "values" else indices


def _ort(path, xs):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.stack([s.run(None, {s.get_inputs()[0].name: x[None]})[0][0] for x in xs])


@pytest.mark.parametrize("exporter,which", [("torchscript", "values"), ("dynamo", "indices")])
def test_torch_topk_is_bit_exact(tmp_path, exporter, which):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    xs = np.random.default_rng(6).normal(0, 1, (32, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    path = str(tmp_path / "m.onnx")
    if exporter == "dynamo":
        torch.onnx.export(Top3(which).eval(), (torch.zeros(1, 8),), path, dynamo=True, opset_version=18, verbose=False)
    else:
        torch.onnx.export(Top3(which).eval(), (torch.zeros(1, 8),), path, dynamo=False, opset_version=13)
    out = tmp_path / "out"
    build(path, "cortex-m4", str(out), str(tmp_path / "x.npy"))
    b = Built(str(out))
    assert b.int_graph.nodes[-1].op == ("TopKValues" if which == "values" else "TopKIndices")
    np.testing.assert_allclose(reference.run_batch(b.float_graph, xs).reshape(32, -1), _ort(path, xs).reshape(32, -1),
                               atol=1e-5)
    for target in ("host", "cortex-m4") if exporter == "dynamo" else ("host",):
        r = verify(str(out), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 32, (target, r)
    assert image_equals_reference(str(out), xs[:4])              # the model image: kernel 37, topk_s8
    fa = r["float_agreement"]
    assert fa["index_agreement"] >= 0.9 if which == "indices" else fa["sqnr_db"] > 30, fa
    print(exporter, which, fa)


def test_onnx_topk_smallest_with_ties(tmp_path):
    """Relu makes exact zeros (ties): the k smallest are zeros, taken lower index first."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("TopK", ["r", "k"], ["v", "i"], axis=-1, largest=0),
             helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)]
    k = helper.make_tensor("k", TensorProto.INT64, [1], [4])
    path = onnx_file(tmp_path, nodes, [1, 3, 10], [1, 3, 4], [k])
    xs = np.random.default_rng(9).normal(0, 1, (24, 3, 10)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    build(path, "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    b = Built(str(tmp_path / "out"))
    assert b.int_graph.nodes[-1].op == "TopKIndices"
    np.testing.assert_array_equal(reference.run_batch(b.float_graph, xs).reshape(24, -1), _ort(path, xs).reshape(24, -1))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["float_agreement"]["index_agreement"] >= 0.9, r
