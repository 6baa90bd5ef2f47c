"""Integer-only nonlinearities, and their stated error against float.

Every element-wise unary op becomes a 256-entry int8 lookup table built at compile time (the C
kernel and its twin are held bit for bit in test_kernels.py).  The table holds, for each int8 input,
the int8 value nearest to f of that input's real value, so for a real input x inside the calibrated
ranges the int8 model's answer is within

    |f~(x) - f(x)|  <=  s_out / 2  +  L * s_in / 2

(output rounding, plus input rounding times L, the largest slope of f on the input range).  Here that
bound is checked on random real inputs through the integer reference, per op and input scale.
Softmax (edgec's exp-table softmax and TFLite Micro's, mode "tflm") is within 1/256 of float
softmax plus its input's quantization (checked below).  The ONNX importer reads every op, and the
float reference equals onnxruntime on it."""
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgec.compiler import reference
from edgec.compiler.calibrate import calibrate
from edgec.compiler.gemmlowp import softmax_tflm_attrs
from edgec.compiler.importers.onnx import import_onnx
from edgec.compiler.ir import ELEMENTWISE_UNARY, Graph, Node, Tensor
from edgec.passes.quantize import quantize, quantize_values
from edgec.passes.pipeline import canonicalize

ATTRS = {"Clip": {"min": -0.5, "max": 2.0}, "LeakyRelu": {"alpha": 0.1}, "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
         "Elu": {"alpha": 1.0}, "Selu": {"alpha": 1.6732632, "gamma": 1.050701}, "Gelu": {"approximate": "none"}}


def unary_graph(op, n=64):
    g = Graph("u", [Node(op, "standalone", ["x"], ["y"], dict(ATTRS.get(op, {})))],
              {"x": Tensor("x", (1, n)), "y": Tensor("y", None)}, ["x"], ["y"])
    return canonicalize(g)


def slope(op, node, lo, hi):
    """The largest |f'| on [lo, hi], measured on a fine grid (with a 1% margin)."""
    xs = np.linspace(lo, hi, 200_001)
    ys = reference.FLOAT_UNARY[op](node, xs)
    return 1.01 * float(np.max(np.abs(np.diff(ys) / np.diff(xs))))


@pytest.mark.parametrize("op", ELEMENTWISE_UNARY)
@pytest.mark.parametrize("scale", [0.05, 0.5, 2.0])
def test_lookup_table_error_against_float_is_within_the_stated_bound(op, scale):
    rng = np.random.default_rng(abs(hash((op, scale))) % 2**32)
    g = unary_graph(op)
    calib = rng.normal(0.3, scale, (32, 1, 64)).astype(np.float32)
    q = quantize(calibrate(g, calib))
    assert q.nodes[-1].op == "Lut" and q.nodes[-1].attrs["function"] == op
    qi, qo = q.tensors["x"].quant, q.tensors["y"].quant
    s_in, z_in, s_out, z_out = qi.scalar_scale, qi.scalar_zp, qo.scalar_scale, qo.scalar_zp
    lo_in, hi_in = s_in * (-128 - z_in), s_in * (127 - z_in)
    xs = rng.uniform(lo_in, hi_in, (200, 1, 64))
    y = reference.run_batch(q, quantize_values(xs, s_in, z_in))
    got = (y.astype(np.float64) - z_out) * s_out
    want = reference.FLOAT_UNARY[op](q.nodes[-1], xs)
    inside = (want >= s_out * (-128 - z_out)) & (want <= s_out * (127 - z_out))     # not saturated by the output range
    assert inside.mean() > 0.5
    bound = s_out / 2 + slope(op, q.nodes[-1], lo_in, hi_in) * s_in / 2 + 1e-9
    err = np.abs(got - want)[inside]
    assert err.max() <= bound, f"{op} scale {scale}: error {err.max():.4g} > bound {bound:.4g}"


def softmax_graph(cols):
    g = Graph("s", [Node("Softmax", "sm", ["x"], ["y"], {})], {"x": Tensor("x", (4, cols)), "y": Tensor("y", None)},
              ["x"], ["y"])
    return canonicalize(g)


@pytest.mark.parametrize("mode", ["edgec", "tflm"])
@pytest.mark.parametrize("cols", [2, 10, 100])
def test_softmax_error_against_float(mode, cols):
    rng = np.random.default_rng(cols)
    calib = rng.normal(0, 3, (16, 4, cols)).astype(np.float32)
    q = quantize(calibrate(softmax_graph(cols), calib))
    qi = q.tensors["x"].quant
    if mode == "tflm":                       # TFLite Micro's arithmetic, as an imported .tflite or QDQ model has it
        q.nodes[-1].attrs.update(softmax_tflm_attrs(qi.scalar_scale))
    xq = rng.integers(-128, 128, (100, 4, cols)).astype(np.int8)
    y = (reference.run_batch(q, xq).astype(np.float64) + 128) / 256
    x = (xq.astype(np.float64) - qi.scalar_zp) * qi.scalar_scale         # the real values the int8 inputs mean
    want = np.exp(x - x.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    assert np.abs(y - want).max() <= 1 / 256 + 1e-12


#: ONNX op -> (opset, attributes): every unary op the importer maps to a lookup table
ONNX_UNARY = {"HardSigmoid": (13, {"alpha": 0.25, "beta": 0.4}), "HardSwish": (14, {}), "Mish": (18, {}),
              "Elu": (13, {"alpha": 0.7}), "Selu": (13, {}), "Softplus": (13, {}), "Softsign": (13, {}),
              "Exp": (13, {}), "Erf": (13, {}), "Gelu": (20, {}), "Sigmoid": (13, {}), "Tanh": (13, {}),
              "LeakyRelu": (13, {"alpha": 0.3})}


@pytest.mark.parametrize("op", sorted(ONNX_UNARY) + ["Gelu_tanh"])
def test_onnx_unary_ops_import_and_match_onnxruntime(tmp_path, op):
    name, opset, attrs = (("Gelu", 20, {"approximate": "tanh"}) if op == "Gelu_tanh" else (op,) + ONNX_UNARY[op])
    g = helper.make_graph([helper.make_node(name, ["x"], ["y"], **attrs)], "m",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 50])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 50])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    path = str(tmp_path / "m.onnx")
    onnx.save(m, path)
    x = np.linspace(-4, 4, 50, dtype=np.float32).reshape(1, 50)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    graph = import_onnx(path)
    assert [n.op for n in graph.nodes] == [name]
    got = reference.run(graph, x)[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert math.isfinite(float(np.abs(got).max()))


@pytest.mark.parametrize("op", ["Elu", "Selu", "Softplus", "Softsign", "Exp", "Erf", "Gelu"])
def test_generated_c_equals_the_reference(tmp_path, op):
    """The lookup-table kernel is one for every op (its bit-exactness: test_kernels.py); the ops added
    with their tables here run through it on the host too."""
    from conftest import require
    from edgec.driver.build import compile_graph
    from edgec.verification.verify import Built
    require("cc")
    rng = np.random.default_rng(3)
    compile_graph(unary_graph(op), rng.normal(0, 1.5, (16, 1, 64)).astype(np.float32), "host", str(tmp_path / "o"),
                  "k", "test")
    built = Built(str(tmp_path / "o"))
    q_in = rng.integers(-128, 128, (20, 1, 64)).astype(np.int8)
    got, _ = built.execute("host", q_in)
    assert np.array_equal(got, reference.run_batch(built.int_graph, q_in))


def _gated(gate_nodes, extra_out=False):
    nodes = gate_nodes + [Node("Mul", "mul", ["x", gate_nodes[-1].outputs[0]], ["y"], {"act": None})]
    tensors = {"x": Tensor("x", (1, 4, 4, 3)), "y": Tensor("y", None)}
    tensors.update({n.outputs[0]: Tensor(n.outputs[0], None) for n in gate_nodes})
    outputs = ["y"]
    if extra_out:                                   # the gate is also read elsewhere: it must stay
        nodes.append(Node("Relu", "other", [gate_nodes[-1].outputs[0]], ["z"], {}))
        tensors["z"] = Tensor("z", None)
        nodes.append(Node("Add", "join", ["y", "z"], ["w"], {"act": None}))
        tensors["w"] = Tensor("w", None)
        outputs = ["w"]
    return Graph("gated", nodes, tensors, ["x"], outputs)


@pytest.mark.parametrize("gate, fused", [
    ([Node("Sigmoid", "sig", ["x"], ["s"], {})], "Swish"),
    ([Node("HardSigmoid", "hs", ["x"], ["s"], {"alpha": 1 / 6, "beta": 0.5})], "HardSwish"),
    ([Node("Softplus", "sp", ["x"], ["p"], {}), Node("Tanh", "th", ["p"], ["s"], {})], "Mish"),
    ([Node("HardSigmoid", "hs", ["x"], ["s"], {"alpha": 0.2, "beta": 0.5})], None),     # not h-swish's gate
])
@pytest.mark.parametrize("shared_gate", [False, True])
def test_fuse_gated_activations_before_and_after(gate, fused, shared_gate):
    from edgec.passes.fuse_gated_activations import fuse_gated_activations
    from edgec.passes.infer_shapes import infer_shapes
    before = infer_shapes(_gated([Node(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs)) for n in gate],
                                 shared_gate))
    after = fuse_gated_activations(before)
    ops = [n.op for n in after.nodes]
    if fused and not shared_gate:
        assert ops == [fused] and after.nodes[0].inputs == ["x"]
    else:
        assert ops == [n.op for n in before.nodes]
    x = np.random.default_rng(0).normal(0, 2, (1, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(reference.run(after, x)[after.outputs[0]], reference.run(before, x)[before.outputs[0]],
                               rtol=1e-6, atol=1e-6)
