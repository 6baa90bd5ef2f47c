"""Activations that exporters spell as element-wise chains (compiler/elementwise.py,
passes/collapse_elementwise.py): each chain that depends on one tensor becomes one lookup table.

The models are built here: a PyTorch stack of activations torch has and ONNX does not name (or names
in ops edgec had no kernel for), through both exporters; a Keras 3 model with the activation names
Keras 3 added; a hand-written ONNX graph for what must be refused."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgec.compiler import elementwise, reference
from edgec.driver.build import build, import_model
from edgec.compiler.errors import UnsupportedOpError
from edgec.compiler.ir import Graph, Node, Tensor
from edgec.passes.collapse_elementwise import collapse_elementwise
from edgec.passes.eliminate_dead import eliminate_dead
from edgec.passes.infer_shapes import infer_shapes
from edgec.verification.verify import Built, verify
from conftest import require
from testkit.zoo_mobile import export, images, ort_run

SIZE = 16


def _const(g, name, v):
    g.tensors[name] = Tensor(name, (), data=np.asarray(v, np.float32))
    return name


def _chains_graph():
    """Chains over one input x: softsign (x / (1 + |x|)) and tanhshrink (x - tanh x), joined by a Mul
    into the output, and tanhshrink also read by a Softmax (not element-wise) into a second output."""
    t = {n: Tensor(n, None) for n in ("a", "b", "soft", "th", "shrink", "sig", "out1", "out2")}
    t["x"] = Tensor("x", (2, 5, 7))
    g = Graph("chains", [], t, ["x"], ["out1", "out2"])
    one = _const(g, "one", 1.0)
    g.nodes = [
        Node("Elementwise", "abs", ["x"], ["a"], {"program": elementwise.primitive("abs", 1)}),
        Node("Add", "plus1", ["a", one], ["b"], {"act": None}),
        Node("Elementwise", "div", ["x", "b"], ["soft"], {"program": elementwise.primitive("div", 2)}),
        Node("Tanh", "tanh", ["x"], ["th"], {}),
        Node("Sub", "tanhshrink", ["x", "th"], ["shrink"], {"act": None}),
        Node("Sigmoid", "sig", ["soft"], ["sig"], {}),
        Node("Mul", "mix", ["sig", "shrink"], ["out1"], {"act": None}),
        Node("Softmax", "sm", ["shrink"], ["out2"], {}),
    ]
    return infer_shapes(g)


def test_collapse_before_and_after_runs_the_same_function():
    before = _chains_graph()
    after = eliminate_dead(collapse_elementwise(before))
    x = np.random.default_rng(0).normal(0, 2, (2, 5, 7)).astype(np.float32)
    for out in ("out1", "out2"):
        np.testing.assert_allclose(reference.run(after, x)[out], reference.run(before, x)[out], rtol=1e-6, atol=1e-6)
    by_out = {n.outputs[0]: n for n in after.nodes}
    assert sorted(by_out) == ["out1", "out2", "shrink"]
    # tanhshrink is read outside its chain (by the Softmax): one node over x of its own
    assert by_out["shrink"].op == "Elementwise" and by_out["shrink"].inputs == ["x"]
    assert elementwise.describe(by_out["shrink"].attrs["program"]) == "sub(x, Tanh(x))"
    # sigmoid(softsign(x)) * tanhshrink(x) is a function of x: one table's worth of program
    assert by_out["out1"].op == "Elementwise" and by_out["out1"].inputs == ["x"]
    assert elementwise.describe(by_out["out1"].attrs["program"]) == \
        "mul(Sigmoid(div(x, add(abs(x), 1))), sub(x, Tanh(x)))"


def test_a_primitive_over_two_tensors_is_refused_with_every_node_named():
    t = {n: Tensor(n, None) for n in ("r", "w1", "w2")}
    t.update(x=Tensor("x", (1, 6)), y=Tensor("y", (1, 6)))
    g = Graph("two", [Node("Relu", "r", ["y"], ["r"], {}),
                      Node("Elementwise", "pick", ["x", "x", "r"], ["w1"], {"program": elementwise.primitive("where", 3)}),
                      Node("Elementwise", "ratio", ["w1", "r"], ["w2"], {"program": elementwise.primitive("div", 2)})],
              t, ["x", "y"], ["w2"])
    with pytest.raises(UnsupportedOpError) as e:
        collapse_elementwise(infer_shapes(g))
    lines = e.value.lines()
    assert "2 element-wise node(s) without an integer form" in lines[0]
    assert lines[1].startswith("node pick: where(x, x, r) reads 2 computed tensors (r, x)")
    assert lines[2].startswith("node ratio: div(w1, r) reads 2 computed tensors (r, w1)")


def _torch_stack():
    import torch
    from torch import nn

    class Stack(nn.Module):
        """One conv per activation, each activation one that exporters spell as a chain of primitives."""
        ACTS = [nn.CELU(0.7), nn.Softshrink(0.2), nn.LogSigmoid(), nn.Softsign(), nn.Softplus(beta=2.0),
                nn.GELU("tanh"), nn.Tanhshrink(), torch.abs, nn.Hardtanh(-0.5, 0.8), nn.Hardshrink(0.05)]

        def __init__(self):
            super().__init__()
            torch.manual_seed(11)
            self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1) for i in range(len(self.ACTS)))
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            for conv, act in zip(self.convs, self.ACTS):
                x = act(conv(x))
            return -self.head(x)
    return Stack().eval()


@pytest.mark.parametrize("exporter", ["ts13", "ts17", "dynamo"])
def test_pytorch_activation_chains_from_both_exporters(tmp_path, exporter):
    """Where/Greater/Less (shrinks), Log (log-sigmoid), Abs and Div by a computed tensor (softsign), Pow
    (tanh-GELU), a Where-guarded softplus, Celu, Neg: float equals onnxruntime, the C equals the integer
    reference bit for bit, and every chain is one table."""
    require("cc")
    path = export(_torch_stack(), SIZE, tmp_path / "acts.onnx", exporter)
    xs = images(SIZE, 8, seed=4)
    np.save(tmp_path / "cal.npy", images(SIZE, 32, seed=5))
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "cal.npy"))
    b = Built(str(tmp_path / "out"))
    want = ort_run(path, xs)
    got = reference.run_batch(b.float_graph, xs[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    assert [n.op for n in b.int_graph.nodes].count("Conv2D") == 11
    # between the convs only tables (the Transposes and Reshapes are the NCHW input and output)
    assert {n.op for n in b.int_graph.nodes} <= {"Conv2D", "Lut", "Transpose", "Reshape"}, \
        {n.op for n in b.int_graph.nodes}
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 8, r
    assert r["float_agreement"]["sqnr_db"] >= 20.0, r["float_agreement"]


def test_keras3_activation_names(tmp_path):
    """The names Keras 3 added, as Activation layers and as a layer's activation, against Keras itself."""
    require("cc")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    L = keras.layers
    keras.utils.set_random_seed(3)
    names = ["hard_silu", "celu", "soft_shrink", "log_sigmoid", "squareplus", "sparse_plus", "tanh_shrink",
             "hard_tanh", "sparse_sigmoid", "hard_shrink"]
    i = keras.Input((10, 10, 3))
    x = i
    for k, name in enumerate(names):
        x = L.Conv2D(6, 3, padding="same", activation=name if k % 2 else None)(x)
        if k % 2 == 0:
            x = L.Activation(name)(x)
    model = keras.Model(i, L.Conv2D(3, 1)(x))
    path = tmp_path / "m.keras"
    model.save(path)
    rng = np.random.default_rng(9)
    x = rng.normal(0, 1, (16, 10, 10, 3)).astype(np.float32)
    want = np.asarray(model.predict(x, verbose=0))
    g = import_model(str(path))
    got = reference.run_batch(g, x[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "x.npy", x)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0, r


def test_onnx_named_activations_match_onnxruntime(tmp_path):
    """Celu, Shrink and ThresholdedRelu, as ONNX defines them (onnxruntime is the oracle)."""
    nodes = [helper.make_node("Celu", ["x"], ["a"], alpha=0.6), helper.make_node("Shrink", ["a"], ["b"], bias=0.1, lambd=0.3),
             helper.make_node("ThresholdedRelu", ["b"], ["c"], alpha=0.05), helper.make_node("Abs", ["x"], ["d"]),
             helper.make_node("Sqrt", ["d"], ["e"]), helper.make_node("Add", ["c", "e"], ["y"])]
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 40])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 40])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = str(tmp_path / "m.onnx")
    onnx.save(m, path)
    x = np.linspace(-3, 3, 40, dtype=np.float32).reshape(1, 40)
    want = ort_run(path, x)
    graph = import_model(path)
    got = reference.run(graph, x)[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
