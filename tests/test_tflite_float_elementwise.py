"""Float .tflite element-wise primitives (ABS, NEG, LOG, SQRT, RSQRT, SIN, COS, EXP, SQUARE, FLOOR, CEIL,
ROUND, DIV, MAXIMUM, MINIMUM) and LOG_SOFTMAX (importers/tflite_elementwise.py): each operator alone
against TFLite Micro's float kernel, then small CNNs whose chains of them (softsign as ABS, ADD, DIV;
RSQRT of EXP; clamps by MAXIMUM / MINIMUM of a scalar) collapse into one table each, calibrated,
quantized and built for the host: the C bit-exact with the integer reference and close to TFLM's float
output.  A chain over two different tensors and a DIV by zero are refused by name."""
import numpy as np
import pytest

from conftest import require
from testkit.tflite_writer import Model
from testkit.tflm import tflm_run

from edgec.compiler import reference
from edgec.driver.build import build, tflite_graphs
from edgec.compiler.errors import UnsupportedOpError
from edgec.verification.verify import Built, sqnr_db, verify

F = np.float32


def _write(tmp_path, blob: bytes, name="m.tflite") -> str:
    p = tmp_path / name
    p.write_bytes(blob)
    return str(p)


def _one_op(name, shape, params=(), **options) -> bytes:
    """A float model of one operator over x; `params`: its constant inputs after x."""
    m = Model()
    x, y = m.tensor("x", shape, F), m.tensor("y", shape, F)
    m.op(name, [x] + [m.tensor(f"p{k}", None, F, data=p) for k, p in enumerate(params)], [y], **options)
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


#: operator -> (constant operands, the IR ops it imports as, positive inputs only)
ONE_OP = {"ABS": ((), ["Elementwise"], False), "NEG": ((), ["Elementwise"], False),
          "LOG": ((), ["Elementwise"], True), "SQRT": ((), ["Elementwise"], True),
          "RSQRT": ((), ["Elementwise"], True), "SIN": ((), ["Elementwise"], False),
          "COS": ((), ["Elementwise"], False), "EXP": ((), ["Exp"], False), "SQUARE": ((), ["Elementwise"], False),
          "FLOOR": ((), ["Elementwise"], False), "CEIL": ((), ["Elementwise"], False),
          "ROUND": ((), ["Elementwise"], False), "LOG_SOFTMAX": ((), ["LogSoftmax"], False),
          "DIV": (([F(-2.5)],), ["Mul"], False), "MAXIMUM": (([F(0.3)],), ["Elementwise"], False),
          "MINIMUM": ((np.full((1, 1, 1, 3), -0.4, F),), ["Elementwise"], False)}


@pytest.mark.parametrize("name", ONE_OP)
def test_float_elementwise_op_imports_as_tflite_micro_runs_it(tmp_path, name):
    params, ops, positive = ONE_OP[name]
    model = _one_op(name, (1, 4, 5, 3), [np.asarray(p, F) for p in params], **({"act": 0} if name == "DIV" else {}))
    fgraph, q = tflite_graphs(_write(tmp_path, model))
    assert q is None and [n.op for n in fgraph.nodes] == ops
    xs = np.random.default_rng(3).normal(0, 3, (6, 1, 4, 5, 3)).astype(F)
    xs[0, 0, 0, 0] = [0.5, -1.5, 2.5]                      # ROUND's ties go to even, as TFLite's
    if positive:
        xs = np.abs(xs) + F(0.01)
    want = tflm_run(model, xs)
    got = reference.run_batch(fgraph, xs)
    assert np.allclose(got, want.reshape(got.shape), rtol=2e-6, atol=1e-6)


def test_div_by_a_computed_tensor_and_its_fused_clamp_follow_tflite_micro(tmp_path):
    """x / exp(x) (the divisor computed) with a fused RELU6, x / c by a per-channel constant (RELU: a Mul
    by the reciprocal) and c / x."""
    m = Model()
    x, e, y = m.tensor("x", (1, 3, 4, 2), F), m.tensor("e", (1, 3, 4, 2), F), m.tensor("y", (1, 3, 4, 2), F)
    m.op("EXP", [x], [e])
    m.op("DIV", [x, e], [y], act=3)
    m.inputs, m.outputs = [x], [y]
    blob = m.bytes()
    g, _ = tflite_graphs(_write(tmp_path, blob))
    assert [n.op for n in g.nodes] == ["Exp", "Elementwise"]
    xs = np.random.default_rng(5).normal(0, 3, (5, 1, 3, 4, 2)).astype(F)
    assert np.allclose(reference.run_batch(g, xs), tflm_run(blob, xs).reshape(xs.shape), rtol=2e-6, atol=1e-6)
    per_channel = _one_op("DIV", (1, 3, 4, 2), [np.asarray([[[[0.5, -4.0]]]], F)], act=1)
    g, _ = tflite_graphs(_write(tmp_path, per_channel, "c.tflite"))
    assert [n.op for n in g.nodes] == ["Mul"] and g.nodes[0].attrs["act"] == (0.0, float("inf"))
    assert np.allclose(reference.run_batch(g, xs), tflm_run(per_channel, xs).reshape(xs.shape), rtol=2e-6, atol=1e-6)
    m = Model()                                               # c / x: the constant first, x computed
    x, y = m.tensor("x", (1, 3, 4, 2), F), m.tensor("y", (1, 3, 4, 2), F)
    m.op("DIV", [m.tensor("c", (1,), F, data=[3.0]), x], [y], act=0)
    m.inputs, m.outputs = [x], [y]
    blob = m.bytes()
    g, _ = tflite_graphs(_write(tmp_path, blob, "r.tflite"))
    assert [n.op for n in g.nodes] == ["Elementwise"] and g.nodes[0].inputs[1] == "x"
    assert np.allclose(reference.run_batch(g, xs), tflm_run(blob, xs).reshape(xs.shape), rtol=2e-6, atol=1e-6)


def _conv(m, rng, x, y, cin, cout, k=3):
    w = rng.normal(0, np.sqrt(2.0 / (k * k * cin)), (cout, k, k, cin)).astype(F)
    m.op("CONV_2D", [x, m.tensor(f"w_{y}", None, F, data=w), m.tensor(f"b_{y}", None, F, data=rng.normal(0, 0.1, cout))],
         [y], padding=0, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=0)


def abs_log_softmax_model(seed: int) -> bytes:
    """conv 3x3 -> ABS -> conv 3x3 -> LOG_SOFTMAX over the channels of every pixel."""
    rng = np.random.default_rng(seed)
    m = Model()
    x, c1, a, c2, y = (m.tensor(n, (1, 8, 8, c), F) for n, c in (("x", 2), ("c1", 6), ("a", 6), ("c2", 7), ("y", 7)))
    _conv(m, rng, x, c1, 2, 6)
    m.op("ABS", [c1], [a])
    _conv(m, rng, a, c2, 6, 7)
    m.op("LOG_SOFTMAX", [c2], [y])
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


def chains_model(seed: int) -> bytes:
    """conv -> softsign written as x / (1 + |x|) (ABS, ADD 1, DIV) -> conv -> RSQRT(EXP(x)) -> conv ->
    clamp by MAXIMUM(-0.5) and MINIMUM(1.5) -> SQUARE -> NEG -> SIN -> conv: three chains, three tables."""
    rng = np.random.default_rng(seed)
    m = Model()
    t = lambda n, c: m.tensor(n, (1, 8, 8, c), F)
    one = lambda n, v: m.tensor(n, (1,), F, data=[v])
    x, c1, a, d, s = t("x", 2), t("c1", 6), t("a", 6), t("d", 6), t("s", 6)
    _conv(m, rng, x, c1, 2, 6)
    m.op("ABS", [c1], [a])
    m.op("ADD", [a, one("one", 1.0)], [d], act=0)
    m.op("DIV", [c1, d], [s], act=0)
    c2, e, r, c3 = t("c2", 5), t("e", 5), t("r", 5), t("c3", 4)
    _conv(m, rng, s, c2, 6, 5)
    m.op("EXP", [c2], [e])
    m.op("RSQRT", [e], [r])
    _conv(m, rng, r, c3, 5, 4)
    hi, lo, sq, ng, sn, y = t("hi", 4), t("lo", 4), t("sq", 4), t("ng", 4), t("sn", 4), t("y", 3)
    m.op("MAXIMUM", [c3, one("lo_bound", -0.5)], [hi])
    m.op("MINIMUM", [hi, one("hi_bound", 1.5)], [lo])
    m.op("SQUARE", [lo], [sq])
    m.op("NEG", [sq], [ng])
    m.op("SIN", [ng], [sn])
    _conv(m, rng, sn, y, 4, 3)
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


@pytest.mark.parametrize("make, tables, min_sqnr", [(abs_log_softmax_model, 1, 25), (chains_model, 3, 20)])
def test_float_model_with_primitives_is_quantized_and_bit_exact(tmp_path, make, tables, min_sqnr):
    """Float reference equals TFLM's float run; after calibration each chain is one Lut (only convs, tables
    and the LogSoftmax kernel left); the host C equals the integer reference bit for bit (`verify`), and
    the int8 output stays close to TFLM's float one."""
    require("cc")
    model = make(7)
    rng = np.random.default_rng(8)
    cal = rng.normal(0, 1, (64, 1, 8, 8, 2)).astype(F)
    xs = rng.normal(0, 1, (30, 1, 8, 8, 2)).astype(F)
    want = tflm_run(model, xs)
    path = _write(tmp_path, model)
    fgraph, _ = tflite_graphs(path)
    assert np.allclose(reference.run_batch(fgraph, xs).reshape(want.shape), want, rtol=1e-5, atol=1e-5)
    np.save(tmp_path / "cal.npy", cal)
    np.save(tmp_path / "x.npy", xs)
    build(path, "host", str(tmp_path / "out"), calibration=str(tmp_path / "cal.npy"))
    res = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert res["bit_exact"] and res["samples"] == len(xs)
    built = Built(str(tmp_path / "out"))
    ops = [n.op for n in built.int_graph.nodes]
    assert ops.count("Lut") == tables and set(ops) <= {"Conv2D", "Lut", "LogSoftmax"}, ops
    got, _ = built.execute("host", built.quantize_input(xs.reshape((len(xs),) + tuple(built.input_shape))))
    sqnr = sqnr_db(want.reshape(len(xs), -1), built.dequantize_output(got).reshape(len(xs), -1))
    print(f"{make.__name__} after quantization vs TFLM float: SQNR {sqnr:.1f} dB")
    assert sqnr >= min_sqnr


def test_maximum_of_two_branches_and_div_by_zero_are_refused_by_name(tmp_path):
    """MAXIMUM of two different convs has no table: build names the node; a DIV by a constant holding zero
    is refused at import with the other reasons."""
    rng = np.random.default_rng(9)
    m = Model()
    x, c1, c2, y = m.tensor("x", (1, 6, 6, 2), F), m.tensor("c1", (1, 6, 6, 3), F), m.tensor("c2", (1, 6, 6, 3), F), \
        m.tensor("branch_max", (1, 6, 6, 3), F)
    _conv(m, rng, x, c1, 2, 3)
    _conv(m, rng, x, c2, 2, 3)
    m.op("MAXIMUM", [c1, c2], [y])
    m.inputs, m.outputs = [x], [y]
    np.save(tmp_path / "cal.npy", rng.normal(0, 1, (8, 1, 6, 6, 2)).astype(F))
    with pytest.raises(UnsupportedOpError) as e:
        build(_write(tmp_path, m.bytes()), "host", str(tmp_path / "out"), calibration=str(tmp_path / "cal.npy"))
    assert "branch_max" in str(e.value) and "max(c1, c2)" in str(e.value) and "2 computed tensors" in str(e.value)
    bad = _one_op("DIV", (1, 4, 5, 3), [np.asarray([[[[1.0, 0.0, 2.0]]]], F)], act=0)
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(_write(tmp_path, bad, "z.tflite"))
    assert "DIV by a constant that holds zero" in str(e.value)
