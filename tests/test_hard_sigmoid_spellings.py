"""PyTorch's hard-swish network, spelled with nn.Hardswish / nn.Hardsigmoid or by hand (x * relu6(x + 3) / 6
and relu6(x + 3) / 6), exported by both torch exporters (TorchScript and dynamo): one integer network.

fold_batchnorm turns a HardSigmoid after a conv into a Clip(0, 1) of the conv (alpha and beta in its
weights and bias), as it folds the hand-written gate's + 3 and / 6: the gate is the conv's clamp in
both spellings (before, the ONNX op kept a HardSigmoid table: one node and one rounding more, 45.20 dB
against 45.22 on this network).  The hand-written hard-swish becomes one table too (collapse_elementwise,
named Elementwise rather than HardSwish): the four files' integer outputs are equal, bit for bit, and
the C is bit-exact with them on the host.  Photo crops as inputs."""
import numpy as np
import torch
import torch.nn.functional as F

from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.passes.fold_batchnorm import fold_batchnorm
from edgec.verification.verify import Built, verify
from conftest import canonical_before, require
from testkit.zoo_mobile import images

SIZE = 40


class HardNet(torch.nn.Module):
    """A stem with hard-swish, an inverted residual whose squeeze-excite gate is a hard sigmoid, a head."""

    def __init__(self, by_hand: bool):
        super().__init__()
        self.by_hand = by_hand
        g = torch.Generator().manual_seed(4)
        self.stem, self.bn = torch.nn.Conv2d(3, 12, 3, 2, 1), torch.nn.BatchNorm2d(12)
        self.expand, self.dw = torch.nn.Conv2d(12, 24, 1), torch.nn.Conv2d(24, 24, 3, 1, 1, groups=24)
        self.squeeze, self.excite = torch.nn.Conv2d(24, 8, 1), torch.nn.Conv2d(8, 24, 1)
        self.project, self.fc = torch.nn.Conv2d(24, 12, 1), torch.nn.Linear(12, 5)
        for m in self.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.data = torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5
                m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1
        self.bn.running_mean = torch.randn(12, generator=g) * 0.1
        self.bn.running_var = torch.rand(12, generator=g) + 0.5

    def hswish(self, x):
        return x * F.relu6(x + 3) / 6 if self.by_hand else F.hardswish(x)

    def hsigmoid(self, x):
        return F.relu6(x + 3) / 6 if self.by_hand else F.hardsigmoid(x)

    def forward(self, x):
        x = self.hswish(self.bn(self.stem(x)))
        y = self.hswish(self.dw(self.hswish(self.expand(x))))
        y = y * self.hsigmoid(self.excite(F.relu(self.squeeze(y.mean((2, 3), keepdim=True)))))
        return self.fc((x + self.project(y)).mean((2, 3)))


def test_hard_sigmoid_after_a_conv_folds_into_its_clamp(tmp_path):
    x = images(SIZE, 4, seed=5)
    path = tmp_path / "m.onnx"
    torch.onnx.export(HardNet(False).eval(), torch.from_numpy(x[:1]), str(path), dynamo=False, opset_version=13)
    g = canonical_before(import_model(str(path)), fold_batchnorm)
    gates = lambda graph: sum(n.op == "HardSigmoid" for n in graph.nodes)
    before = [(n.op, tuple(n.inputs), dict(n.attrs)) for n in g.nodes]
    after = fold_batchnorm(g)
    assert [(n.op, tuple(n.inputs), dict(n.attrs)) for n in g.nodes] == before, "fold_batchnorm mutated its argument"
    assert gates(after) == gates(g) - 1     # the excite gate; each hard-swish's (x * HardSigmoid(x)) stays
    assert any(n.op == "Clip" and n.attrs == {"min": 0.0, "max": 1.0} for n in after.nodes)
    for xi in x:
        want = reference.run(g, xi[None])[g.outputs[0]]
        got = reference.run(after, xi[None])[after.outputs[0]]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


def test_both_spellings_from_both_exporters_are_one_integer_network(tmp_path):
    require("cc")
    torch.manual_seed(0)
    base = HardNet(False).eval()
    cal, x = images(SIZE, 24, seed=11), images(SIZE, 16, seed=12)
    np.save(tmp_path / "cal.npy", cal)
    np.save(tmp_path / "x.npy", x)
    outs, seqs = {}, {}
    for by_hand in (False, True):
        m = HardNet(by_hand).eval()
        m.load_state_dict(base.state_dict())
        for dynamo in (False, True):
            key = f"{'hand' if by_hand else 'module'}_{'dynamo' if dynamo else 'ts'}"
            path = tmp_path / f"{key}.onnx"
            torch.onnx.export(m, torch.from_numpy(x[:1]), str(path), dynamo=dynamo, opset_version=18 if dynamo else 13)
            build(str(path), "host", str(tmp_path / key), str(tmp_path / "cal.npy"))
            b = Built(str(tmp_path / key))
            outs[key] = reference.run_batch(b.int_graph, b.quantize_input(x))
            seqs[key] = ["Lut" if n.op in ("Lut", "HardSwish", "Elementwise") else n.op for n in b.int_graph.nodes]
    first = next(iter(outs))
    assert all(np.array_equal(outs[first], v) for v in outs.values())
    assert all(s == seqs[first] for s in seqs.values()), seqs
    assert "HardSigmoid" not in str(seqs)
    for key in ("module_ts", "hand_dynamo"):
        r = verify(str(tmp_path / key), "host", str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(x), r
        assert r["float_agreement"]["sqnr_db"] >= 20.0, r["float_agreement"]
