"""ONNX Einsum (issue 18): the contractions small models write as einsum, lowered at import to ops
edgec has (compiler/importers/onnx_einsum.py): MatMul by a constant, Mul, ReduceSum, Transpose,
Reshape.

Models, from PyTorch's TorchScript (opset 13) and dynamo (opset 21) exporters:
- a keyword-spotting-like token net over [1, T, F] features: a per-frame projection "btf,fg->btg", a
  per-feature gain "btg,g->btg", a learnt pooling over time "btg,t->bg" and an outer product with a
  constant "bg,k->bgk" summed in the head;
- an image head: a 1x1 convolution written "nchw,kc->nkhw", a channel attention pooling between two
  computed tensors "nkhw,nk->nhw" and an element-wise product summed over channels "nkhw,nkhw->nhw".
Each: float reference == onnxruntime, the C on the host == the integer reference bit for bit, the int8
output within 30 dB of float; the image net also on the emulated Cortex-M4.  A product of two computed
matrices is refused in one line naming the equation."""
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from conftest import cli, one_line_error, require
from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import verify

warnings.filterwarnings("ignore", module="torch")


class TokenNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Parameter(torch.randn(10, 16) * 0.3)
        self.gain = torch.nn.Parameter(torch.rand(16) + 0.5)
        self.time = torch.nn.Parameter(torch.rand(12) / 6)
        self.spread = torch.nn.Parameter(torch.randn(3))

    def forward(self, x):
        h = torch.relu(torch.einsum("btf,fg->btg", x, self.proj))
        h = torch.einsum("btg,g->btg", h, self.gain)
        p = torch.einsum("btg,t->bg", h, self.time)
        return torch.einsum("bg,k->bgk", p, self.spread).sum(1)


class ImageHead(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.mix = torch.nn.Parameter(torch.randn(5, 6) * 0.4)

    def forward(self, x):
        y = torch.einsum("nchw,kc->nkhw", torch.relu(self.stem(x)), self.mix)
        att = torch.einsum("nkhw,nk->nhw", y, y.mean((2, 3)))
        return att + torch.einsum("nkhw,nkhw->nhw", y, torch.tanh(y))


class MatMulNet(torch.nn.Module):
    def forward(self, x):
        return torch.einsum("bij,bkj->bik", x, torch.tanh(x))


def _export(net, x, path, dynamo):
    torch.onnx.export(net, (torch.from_numpy(x),), str(path), dynamo=dynamo, opset_version=21 if dynamo else 13)


@pytest.mark.parametrize("dynamo", [False, True])
@pytest.mark.parametrize("net,shape", [(TokenNet, (12, 10)), (ImageHead, (3, 10, 10))])
def test_einsum_lowered_is_bit_exact(tmp_path, net, shape, dynamo):
    require("cc")
    torch.manual_seed(8)
    xs = np.random.default_rng(2).standard_normal((10,) + shape).astype(np.float32)
    path = tmp_path / "m.onnx"
    _export(net().eval(), xs[:1], path, dynamo)
    g = canonicalize(import_model(str(path)))
    assert "FullyConnected" in {n.op for n in g.nodes}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = np.stack([sess.run(None, {sess.get_inputs()[0].name: x[None]})[0] for x in xs[:4]])
    got = np.stack([reference.run(g, x[None])[g.outputs[0]] for x in xs[:4]]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    np.save(tmp_path / "x.npy", xs)
    m4 = net is ImageHead and not dynamo
    build(str(path), "cortex-m4" if m4 else "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    for target in ("host", "cortex-m4") if m4 else ("host",):
        r = verify(str(tmp_path / "out"), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), (target, r)
        assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]


def test_a_product_of_computed_matrices_is_refused_naming_the_equation(tmp_path):
    x = np.random.default_rng(0).standard_normal((1, 4, 6)).astype(np.float32)
    _export(MatMulNet().eval(), x, tmp_path / "mm.onnx", False)
    one_line_error(cli("build", tmp_path / "mm.onnx", "--target", "host", "-o", tmp_path / "out"), "cannot be compiled")
    r = cli("build", tmp_path / "mm.onnx", "--target", "host", "-o", tmp_path / "out")
    assert "Einsum 'bij,bkj->bik'" in r.stderr and "two computed operands" in r.stderr, r.stderr
