"""The op families mobile CNNs need, each in small models of its own (not the zoo's): squeeze-excite
gates (GlobalAveragePool -> 1x1 conv -> HardSigmoid -> Mul broadcast over the channels), PRelu (one
slope and per channel), Softmax over any axis, Sum/Max/Min of several inputs (against a constant
too), Clip with its bounds as inputs, Div/Sub/Mul by constants, ReduceMean/ReduceMax over H,W and
over the channels with keepdims either way and the axes as an attribute (opset 13) or an input
(opset 18), Gemm with transA/transB, MatMul with the constant on either side.

Each model is checked three ways: its float reference against onnxruntime (the importer means what
ONNX means), its generated C on the host against the integer reference bit for bit, and the integer
result against the float one.  Calibration and test inputs are crops of tests/data's photos."""
import numpy as np
import onnx
import pytest

from testkit.zoo_mobile import export
from conftest import require
from onnx_nets import SIZE, OnnxNet, check_photo_net, photos, random_weights  # noqa: F401  (photos: the calibration fixture)


def gates_net(path, opset):
    """Squeeze-excite with a HardSigmoid gate, PRelu per channel and with one slope, ReduceMax over the
    channels (keepdims) as a spatial gate, Softmax over the channel axis of a feature map."""
    n = OnnxNet(opset, 1)
    a = n.op("PRelu", n.conv("x", 3, 8), n.const(np.linspace(0.05, 0.4, 8, dtype=np.float32).reshape(8, 1, 1)))
    s = n.conv(n.op("Relu", n.conv(n.op("GlobalAveragePool", a), 8, 4, k=1)), 4, 8, k=1)
    b = n.op("Mul", a, n.op("HardSigmoid", s, alpha=1 / 6, beta=0.5))
    spatial = n.op("Sigmoid", n.reduce("ReduceMax", b, [1], 1))                 # [1, 1, H, W]
    c = n.op("PRelu", n.op("Mul", b, spatial), n.const(np.array([0.2], np.float32)))
    return n.save(path, n.op("Softmax", n.conv(c, 8, 6, k=1), axis=1))


def variadic_net(path, opset):
    """Sum of three tensors, Max/Min of two tensors and against a constant, Clip with its bounds as
    inputs, Div/Sub/Mul by constants (per channel too), ReduceMean over the channels without keepdims
    and over H,W with it."""
    n = OnnxNet(opset, 2)
    c1, c2, c3 = (n.conv("x", 3, 8) for _ in range(3))
    s = n.op("Sum", c1, c2, c3)
    mx = n.op("Max", c1, c2, n.const(np.array(-0.5, np.float32)))
    mn = n.op("Min", c3, c1)
    clip = n.op("Clip", s, n.const(np.array(-2.0, np.float32)), n.const(np.array(3.0, np.float32)))
    d = n.op("Div", clip, n.const(np.array(2.5, np.float32)))
    e = n.op("Sub", d, n.const(np.linspace(-0.3, 0.3, 8, dtype=np.float32).reshape(8, 1, 1)))
    f = n.op("Mul", n.op("Add", e, n.op("Sub", mx, mn)), n.const(np.linspace(0.5, 1.5, 8, dtype=np.float32).reshape(8, 1, 1)))
    chan = n.reduce("ReduceMean", f, [1], 0)                                         # [1, H, W]
    g = n.op("Mul", f, n.op("Unsqueeze", chan, n.const(np.array([1], np.int64))))
    pooled = n.reduce("ReduceMean", g, [2, 3], 1)                                    # [1, 8, 1, 1]
    return n.save(path, n.op("Flatten", n.op("Add", pooled, n.reduce("ReduceMax", g, [-1, -2], 1))))


def matrix_net(path, opset):
    """MatMul with the constant first (W @ X) and second (of a rank-3 tensor too), Gemm with transA
    and transB, Softmax over the first axis of a matrix."""
    n = OnnxNet(opset, 3)
    m = n.reduce("ReduceMean", n.conv("x", 3, 4), [1], 0)                                     # [1, H, W]
    m = n.op("MatMul", m, n.const(random_weights(n.rng, SIZE, SIZE, scale=0.3)))  # [1, H, W] @ [W, W]
    x2 = n.op("Reshape", m, n.const(np.array([SIZE, SIZE], np.int64)))                          # [H, W]
    left = n.op("MatMul", n.const(random_weights(n.rng, 6, SIZE, scale=0.3)), x2)  # [6, W]
    g = n.op("Gemm", left, n.const(random_weights(n.rng, 5, 6)), n.const(random_weights(n.rng, 5, scale=0.1)), transA=1, transB=1)  # [W, 5]
    right = n.op("MatMul", n.op("Relu", g), n.const(random_weights(n.rng, 5, 7)))  # [W, 7]
    return n.save(path, n.op("Softmax", right, axis=0))


NETS = {"gates": gates_net, "variadic": variadic_net, "matrix": matrix_net}


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("net", sorted(NETS))
def test_op_family_net_matches_onnxruntime_and_is_bit_exact(tmp_path, photos, net, opset):
    require("cc")
    path = NETS[net](tmp_path / f"{net}.onnx", opset)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"gates": {"PRelu", "HardSigmoid", "ReduceMax", "Softmax"}, "variadic": {"Sum", "Max", "Min", "Clip", "Div"},
            "matrix": {"MatMul", "Gemm", "ReduceMean", "Softmax"}}[net] <= ops
    check_photo_net(path, photos, tmp_path / "out")


def _gate_module():
    """A PyTorch block as users write one: PReLU, a squeeze-excite of Linear layers (the timm/Keras form:
    mean -> Gemm -> ReLU -> Gemm -> hardsigmoid -> view(n, c, 1, 1) -> Mul over the channels), a spatial
    attention map from channel max and mean (torch.amax / mean over dim 1), clamp with tensor bounds,
    softmax over the channels."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(5)
            self.conv = nn.Conv2d(3, 12, 3, padding=1)
            self.prelu = nn.PReLU(12, init=0.1)
            self.fc1, self.fc2 = nn.Linear(12, 4), nn.Linear(4, 12)
            self.head = nn.Conv2d(12, 5, 1)
            self.register_buffer("lo", torch.tensor(-1.5))
            self.register_buffer("hi", torch.tensor(2.5))

        def forward(self, x):
            a = self.prelu(self.conv(x))
            gate = nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(a.mean((2, 3))))))
            a = a * gate.view(a.shape[0], a.shape[1], 1, 1)
            attn = torch.sigmoid(torch.amax(a, dim=1, keepdim=True) + a.mean(1, keepdim=True))
            y = torch.clamp(self.head(a * attn), self.lo, self.hi) / 2 - 0.25
            return torch.softmax(y, dim=1)
    return Block()


@pytest.mark.parametrize("exporter", ["ts13", "ts17", "dynamo"])
def test_pytorch_gate_block_from_both_exporters(tmp_path, photos, exporter):
    """The same module through the TorchScript exporter (opsets 13, 17) and the dynamo one (18): each
    idiom they write (ReduceMean with axes attribute or input, Clip bounds as inputs, HardSigmoid,
    PRelu, ReduceMax, Softmax over axis 1) imports to the same float function and bit-exact C."""
    require("cc")
    path = export(_gate_module().eval(), SIZE, tmp_path / "block.onnx", exporter)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"PRelu", "HardSigmoid", "ReduceMax", "Softmax"} <= ops, ops
    check_photo_net(path, photos, tmp_path / "out")


def test_uses_the_families_cannot_take_are_all_listed_by_node(tmp_path):
    """A reduction over axes that are adjacent in neither layout and a PRelu whose slope is computed:
    one error line, exit 2, each node named on its own line."""
    from conftest import cli, one_line_error
    n = OnnxNet(18, 4)
    a = n.conv("x", 3, 8)
    r1 = n.reduce("ReduceMean", a, [0, 3], 1)
    p = n.op("PRelu", a, n.op("Sigmoid", a))
    y = n.op("Add", n.op("Add", r1, p), n.reduce("ReduceMean", a, [1], 1))
    path = n.save(tmp_path / "bad.onnx", y)
    r = cli("build", path, "-o", tmp_path / "o")
    head = one_line_error(r, "bad.onnx", "the model cannot be compiled")
    assert r.returncode == 2, r
    lines = r.stderr.splitlines()
    reasons = lines[lines.index(head) + 1:]
    assert len(reasons) == 2, reasons
    assert "ReduceMean_" in reasons[0] and "not adjacent" in reasons[0], reasons
    assert "PRelu_" in reasons[1] and "PRelu slope is computed from the input" in reasons[1], reasons


def test_a_product_of_two_activations_is_named_as_such_not_sent_to_onnxsim(tmp_path):
    """Self-attention's scores x·xᵀ: the operand is computed from the input, so "fold it to an initializer"
    would send the user looking for a constant that cannot exist."""
    from conftest import cli, one_line_error
    n = OnnxNet(18, 4)
    a = n.conv("x", 3, 8)
    t = n.op("Transpose", a, perm=[0, 1, 3, 2])
    y = n.op("MatMul", a, t)
    path = n.save(tmp_path / "scores.onnx", y)
    r = cli("build", path, "-o", tmp_path / "o")
    one_line_error(r, "scores.onnx", "the model cannot be compiled")
    assert "MatMul B is computed from the input, where edgec needs constant weights" in r.stderr, r.stderr
    assert "onnxsim" not in r.stderr, r.stderr
