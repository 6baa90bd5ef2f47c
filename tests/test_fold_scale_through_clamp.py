"""fold_batchnorm's scale through a clamp: a Mul by a positive scalar after a Relu / Clip of a conv
goes into the conv's weights and bias and the clamp's bounds (c * clip(x, lo, hi) = clip(c * x, c * lo,
c * hi) for c > 0).  Keras 3 on PyTorch writes hard-sigmoid gates so (relu6(x + 3) / 6: the /6 a Mul
after the clamp), and so does a PyTorch user writing it by hand; a negative or per-element scale, or a
clamp output read twice, stays.  Before/after on the float reference, and the C bit-exact."""
import numpy as np
import torch
import torch.nn.functional as F

from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.passes.fold_batchnorm import fold_batchnorm
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import verify
from conftest import canonical_before, require


class Gates(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.c1, self.c2, self.c3, self.c4 = (torch.nn.Conv2d(8 if i else 3, 8, 3 if i == 0 else 1) for i in range(4))
        for m in (self.c1, self.c2, self.c3, self.c4):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.4
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.2

    def forward(self, x):
        y = F.relu(self.c1(x))
        gate = F.relu6(self.c2(y) + 3) / 6                  # folds: the hand-written hard sigmoid
        half = torch.relu(self.c3(y)) * 0.5                  # folds: a Relu, a positive scale
        r = torch.relu(self.c4(y))
        neg = r * -0.25 + r                                  # r read twice, the scale negative: stays
        return y * gate + half + neg



def test_positive_scale_after_clamp_folds_into_the_conv_and_is_bit_exact(tmp_path):
    require("cc")
    xs = np.random.default_rng(3).random((16, 3, 20, 20)).astype(np.float32)
    path = tmp_path / "gates.onnx"
    torch.onnx.export(Gates().eval(), torch.from_numpy(xs[:1]), str(path), dynamo=False, opset_version=13)
    g = canonical_before(import_model(str(path)), fold_batchnorm)
    scalar_muls = lambda graph: sorted(float(graph.tensors[i].data.reshape(-1)[0]) for n in graph.nodes if n.op == "Mul"
                                       for i in n.inputs if graph.tensors[i].is_const and graph.tensors[i].data.size == 1)
    before = [(n.op, tuple(n.inputs), dict(n.attrs)) for n in g.nodes]
    after = fold_batchnorm(g)
    assert [(n.op, tuple(n.inputs), dict(n.attrs)) for n in g.nodes] == before, "fold_batchnorm mutated its argument"
    assert scalar_muls(after) == [-0.25], scalar_muls(after)       # 1/6 and 0.5 folded, -0.25 kept
    clips = [n.attrs for n in after.nodes if n.op == "Clip"]
    assert any(abs(a["max"] - 1.0) < 1e-6 and a["min"] == 0.0 for a in clips), clips
    for x in xs[:3]:
        want = reference.run(g, x[None])[g.outputs[0]]
        got = reference.run(after, x[None])[after.outputs[0]]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))
    with torch.no_grad():
        want = Gates().eval()(torch.from_numpy(xs[:3])).numpy()
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
    assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]
    got = reference.run_batch(canonicalize(import_model(str(path))), xs[:3, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))
