"""Padding that counts (issue 18, "models users bring"): average pools whose divisor includes their
padding (PyTorch's default count_include_pad=True, ONNX AveragePool count_include_pad=1, as
Inception-like blocks use a 3x3 stride-1 average beside their convolutions) and F.pad with a non-zero
constant.

The average pool carries the counted part of its padding (AvgPool2D count_pads, compiler/ops/pool.py):
the divisor is fixed by the window's overlap with the input grown by it (ceil_mode's extra rows stay
uncounted, as in PyTorch), each counted tap adds the zero point, and edgec_avgpool_pad_s8 runs it.  A
constant Pad writes its value quantized in its input's scale; -inf before a max pool (the "same"
pooling idiom) folds into the pool, where it can never win.

Each model from PyTorch's TorchScript (opset 13) and dynamo (opset 18) exporters: float reference ==
onnxruntime, the C on the host == the integer reference bit for bit, the int8 output within 30 dB of
float; the image net also on the emulated Cortex-M4."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import require
from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import verify
from testkit.zoo_mobile import ort_run

warnings.filterwarnings("ignore", module="torch")


class InceptionBlock(torch.nn.Module):
    """A stem and an Inception-A-like block: a 1x1 branch, a 3x3 branch, an average-pool branch
    (3x3 stride 1 pad 1, padding counted) and a max-pool branch padded TF-"same" with -inf; then a
    stride-2 ceil-mode average (its ceil row is not counted) after an F.pad of 0.25."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b1, self.b3 = torch.nn.Conv2d(8, 4, 1), torch.nn.Conv2d(8, 4, 3, padding=1)
        self.bp = torch.nn.Conv2d(8, 4, 1)
        self.head = torch.nn.Conv2d(20, 6, 3)

    def forward(self, x):
        x = self.stem(x)
        pool = self.bp(F.avg_pool2d(x, 3, 1, 1))
        mx = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 2, 1)
        y = torch.cat([self.b1(x), torch.relu(self.b3(x)), pool, mx], 1)
        y = self.head(F.pad(y, (1, 1, 1, 1), value=0.25))
        return F.avg_pool2d(y, 3, 2, 1, ceil_mode=True)


class AudioNet(torch.nn.Module):
    """1-D: a counted-padding average over time (AvgPool1d(5, 2, 2)), a conv over an F.pad of -0.5."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv1d(6, 12, 3), torch.nn.Conv1d(12, 5, 3)
        self.pool = torch.nn.AvgPool1d(5, 2, 2)

    def forward(self, x):
        y = self.pool(torch.tanh(self.c1(x)))
        return self.c2(F.pad(y, (2, 0), value=-0.5))


def _inputs(shape, n, seed):
    rng = np.random.default_rng(seed)
    axes = np.meshgrid(*[np.linspace(0, 1, d) for d in shape[1:]], indexing="ij")
    xs = np.zeros((n,) + shape, np.float32)
    for i in range(n):
        for c in range(shape[0]):
            f = rng.uniform(0.5, 3, len(axes))
            xs[i, c] = np.sin(sum(2 * np.pi * fk * a for fk, a in zip(f, axes)) + rng.uniform(0, 6))
    return xs + 0.1 * rng.standard_normal(xs.shape).astype(np.float32)


@pytest.mark.parametrize("dynamo", [False, True])
@pytest.mark.parametrize("net,shape", [(InceptionBlock, (3, 12, 12)), (AudioNet, (6, 40))])
def test_counted_padding_and_constant_pads_are_bit_exact(tmp_path, net, shape, dynamo):
    require("cc")
    torch.manual_seed(4)
    xs = _inputs(shape, 16, seed=3)
    path = tmp_path / "m.onnx"
    torch.onnx.export(net().eval(), (torch.from_numpy(xs[:1]),), str(path), dynamo=dynamo, opset_version=18 if dynamo else 13)
    g = canonicalize(import_model(str(path)))
    counted = sorted(n.attrs.get("count_pads") for n in g.nodes if n.op == "AvgPool2D")
    values = sorted(n.attrs.get("value") for n in g.nodes if n.op == "Pad")
    if net is InceptionBlock:        # the -inf pad folded into its max pool; 0.25 stays a Pad
        assert counted == [(1, 1, 1, 1)] * 2 and values == [0.25], (counted, values)
        assert [n.attrs["pads"] for n in g.nodes if n.op == "MaxPool2D"] == [(0, 0, 1, 1)]
    else:
        assert counted == [(0, 2, 0, 2)] and values == [-0.5], (counted, values)
    want = np.concatenate([ort_run(path, x[None]) for x in xs[:4]])
    got = reference.run_batch(g, xs[:4, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    np.save(tmp_path / "x.npy", xs)
    m4 = net is InceptionBlock and dynamo
    build(str(path), "cortex-m4" if m4 else "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    for target in ("host", "cortex-m4") if m4 else ("host",):
        r = verify(str(tmp_path / "out"), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), (target, r)
        assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]
