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
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler import reference
from edgec.driver.build import build
from edgec.verification.verify import Built, verify
from zoo_mobile import export, images, ort_run
from conftest import require

SIZE = 16


def _w(rng, *shape, scale=0.4):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


class _Net:
    """An onnx.helper graph under construction: input x [1, 3, SIZE, SIZE]."""

    def __init__(self, opset, seed=0):
        self.opset, self.rng = opset, np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, value):
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op, *inputs, **attrs):
        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"{op}_{self.n}", **attrs))
        return out

    def conv(self, x, cin, cout, k=3, **attrs):
        return self.op("Conv", x, self.const(_w(self.rng, cout, cin, k, k)), self.const(_w(self.rng, cout, scale=0.1)),
                       pads=[k // 2] * 4, **attrs)

    def reduce(self, op, x, axes, keepdims):
        """ReduceMean/ReduceMax the way the opset writes it: axes an attribute before 18, an input from 18."""
        if self.opset >= 18:
            return self.op(op, x, self.const(np.array(axes, np.int64)), keepdims=keepdims)
        return self.op(op, x, axes=axes, keepdims=keepdims)

    def save(self, path, y):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
        m = helper.make_model(helper.make_graph(self.nodes, "ops", [x], [], self.inits),
                              opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = 8
        shapes = {v.name: v for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
        m.graph.output.append(shapes[y])
        onnx.checker.check_model(m, full_check=True)
        onnx.save(m, str(path))
        return path


def gates_net(path, opset):
    """Squeeze-excite with a HardSigmoid gate, PRelu per channel and with one slope, ReduceMax over the
    channels (keepdims) as a spatial gate, Softmax over the channel axis of a feature map."""
    n = _Net(opset, 1)
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
    n = _Net(opset, 2)
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
    n = _Net(opset, 3)
    m = n.reduce("ReduceMean", n.conv("x", 3, 4), [1], 0)                                     # [1, H, W]
    m = n.op("MatMul", m, n.const(_w(n.rng, SIZE, SIZE, scale=0.3)))                             # [1, H, W] @ [W, W]
    x2 = n.op("Reshape", m, n.const(np.array([SIZE, SIZE], np.int64)))                          # [H, W]
    left = n.op("MatMul", n.const(_w(n.rng, 6, SIZE, scale=0.3)), x2)                          # [6, W]
    g = n.op("Gemm", left, n.const(_w(n.rng, 5, 6)), n.const(_w(n.rng, 5, scale=0.1)), transA=1, transB=1)  # [W, 5]
    right = n.op("MatMul", n.op("Relu", g), n.const(_w(n.rng, 5, 7)))                          # [W, 7]
    return n.save(path, n.op("Softmax", right, axis=0))


NETS = {"gates": gates_net, "variadic": variadic_net, "matrix": matrix_net}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    np.save(d / "calib.npy", images(SIZE, 48, seed=21))
    np.save(d / "test.npy", images(SIZE, 12, seed=22))
    return d


def _check(model_path, photos, out, min_sqnr=25.0):
    """float reference == onnxruntime (to float rounding), C on the host == integer reference bit for
    bit, integer output close to the float one.  Returns verify's result."""
    build(str(model_path), "cortex-m7", str(out), str(photos / "calib.npy"), ram="512K", flash="2M")
    xs = np.load(photos / "test.npy")
    want = ort_run(model_path, xs)
    b = Built(str(out))
    got = reference.run_batch(b.float_graph, xs[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    r = verify(str(out), "host", str(photos / "test.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
    assert r["float_agreement"]["sqnr_db"] >= min_sqnr, r["float_agreement"]
    return r


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("net", sorted(NETS))
def test_op_family_net_matches_onnxruntime_and_is_bit_exact(tmp_path, photos, net, opset):
    require("cc")
    path = NETS[net](tmp_path / f"{net}.onnx", opset)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"gates": {"PRelu", "HardSigmoid", "ReduceMax", "Softmax"}, "variadic": {"Sum", "Max", "Min", "Clip", "Div"},
            "matrix": {"MatMul", "Gemm", "ReduceMean", "Softmax"}}[net] <= ops
    _check(path, photos, tmp_path / "out")


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
    _check(path, photos, tmp_path / "out")


def test_uses_the_families_cannot_take_are_all_listed_by_node(tmp_path):
    """A reduction over axes that are adjacent in neither layout and a PRelu whose slope is computed:
    one error line, exit 2, each node named on its own line."""
    from conftest import cli, one_line_error
    n = _Net(18, 4)
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
    assert "PRelu_" in reasons[1] and "PRelu slope must be a constant" in reasons[1], reasons
