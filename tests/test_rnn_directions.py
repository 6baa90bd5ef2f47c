"""Recurrent layers in both directions and the simple RNN, end to end (issue 18): Keras Bidirectional
(LSTM, GRU; .keras and its ONNX export, whose time reversal is a Slice with step -1), PyTorch
bidirectional two-layer GRU / LSTM (ONNX direction="bidirectional", both exporters), Keras SimpleRNN
(.keras and its ONNX export, whose mask step is a Where over a constant condition) and torch nn.RNN
(ONNX RNN).  Each is imported and checked in float against its framework, built to int8, and the C
checked bit for bit against the integer reference; SQNR against float on the real KWS MFCC input.  A
backward direction is the LSTM/GRU op's `reverse` attr: the kernel walks time from the last step."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (test-only oracle)
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from edgec.compiler import reference  # noqa: E402
from edgec.compiler.errors import UnsupportedOpError  # noqa: E402
from edgec.compiler.ir import Graph  # noqa: E402
from edgec.compiler.importers.builder import GraphBuilder  # noqa: E402
from edgec.compiler.importers.recurrent import emit_lstm  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.passes.fold_recurrent_last_step import fold_recurrent_last_step  # noqa: E402
from edgec.passes.infer_shapes import infer_shapes  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402
from conftest import require  # noqa: E402

T, F = 49, 10              # MFCC frames x coefficients, as the MLPerf Tiny KWS input
L = keras.layers


@pytest.fixture(scope="module")
def mfcc_short(mfcc, tmp_path_factory):
    """Frames 20..31 of the same inputs: for Keras' ONNX exports, which unroll every step into its own
    nodes (12 steps keep the test short)."""
    x = np.ascontiguousarray(mfcc[0][:, 20:20 + SHORT])
    path = tmp_path_factory.mktemp("mfcc_short") / "mfcc.npy"
    np.save(path, x)
    return x, str(path)


SHORT = 12


def onnx_outputs(path, x):
    s = ort.InferenceSession(path)
    return np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i + 1]})[0] for i in range(len(x))])


def check(model, mfcc, tmp_path, expect_float, ops, targets=("host",), min_sqnr=30.0):
    """Float import == the framework; the int8 C == the integer reference bit for bit on every target;
    SQNR of the int8 output against float >= min_sqnr.  `ops`: the recurrent ops the import must hold."""
    x, xpath = mfcc
    g = canonicalize(import_model(model))
    assert sorted(n.op for n in g.nodes if n.op in ("LSTM", "GRU")) == sorted(ops)
    ours = reference.run_batch(g, x[:, None]).reshape(expect_float.shape)
    np.testing.assert_allclose(ours, expect_float, atol=3e-5)                # the import is the model
    out = str(tmp_path / f"out_{os.path.basename(model)}")
    report = build(model, "cortex-m4", out, xpath)
    results = {}
    for target in targets:
        r = verify(out, target, xpath)
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(x), r
        results[target] = r
    fa = results[targets[0]]["float_agreement"]
    assert fa["sqnr_db"] >= min_sqnr, fa
    return report, results


def keras_model(body, seed=7, steps=T):
    keras.utils.set_random_seed(seed)
    i = keras.Input((steps, F), batch_size=1)
    y = body(i)
    if len(y.shape) == 3:
        y = L.Flatten()(L.Conv1D(8, 5, strides=4, activation="relu")(y))
    return keras.Model(i, L.Dense(12)(y))


def keras_both(m, tmp_path, name):
    """The model as .keras and as Keras' own ONNX export."""
    kpath, opath = str(tmp_path / f"{name}.keras"), str(tmp_path / f"{name}.onnx")
    m.save(kpath)
    m(np.zeros((1,) + tuple(m.inputs[0].shape[1:]), np.float32))   # Keras exports only a called model
    m.export(opath, format="onnx", verbose=False)
    return kpath, opath


def check_keras_both(body, seed, tmp_path, mfcc, mfcc_short, ops, name):
    """The .keras file over the whole 49 frames; Keras' ONNX export (the steps unrolled: no recurrent
    op) of the same layers over 12 frames."""
    m = keras_model(body, seed)
    path = str(tmp_path / f"{name}.keras")
    m.save(path)
    check(path, mfcc, tmp_path, np.asarray(m.predict(mfcc[0], batch_size=1, verbose=0)), ops)
    short = keras_model(body, seed, SHORT)
    kpath, opath = keras_both(short, tmp_path, f"{name}_short")
    expect = np.asarray(short.predict(mfcc_short[0], batch_size=1, verbose=0))
    np.testing.assert_allclose(onnx_outputs(opath, mfcc_short[0]), expect, atol=1e-5)
    check(opath, mfcc_short, tmp_path, expect, [], min_sqnr=25.0)
    return path, opath


def test_keras_bidirectional_lstm_keras_and_its_onnx_export(tmp_path, mfcc, mfcc_short):
    """Bidirectional(LSTM) merged by concat: from .keras two LSTM ops (the backward one reverse); from
    the ONNX export (Keras unrolls the steps and flips the sequence with a Slice of step -1, a
    StridedSlice here) the element-wise form.  Both compile bit-exact."""
    require("cc")
    kpath, opath = check_keras_both(lambda i: L.Bidirectional(L.LSTM(16))(i), 7, tmp_path, mfcc, mfcc_short,
                                    ["LSTM", "LSTM"], "bilstm")
    assert [n.attrs.get("reverse", False) for n in import_model(kpath).nodes if n.op == "LSTM"] == [False, True]
    assert "StridedSlice" in [n.op for n in import_model(opath).nodes]


def test_keras_bidirectional_gru_concat_sequences_keras_and_its_onnx_export(tmp_path, mfcc, mfcc_short):
    """Bidirectional(GRU, return_sequences, merge_mode concat): the backward sequence is merged step by
    step with the forward one (Keras flips it back to input order; the reverse op writes it there)."""
    require("cc")
    check_keras_both(lambda i: L.Bidirectional(L.GRU(12, return_sequences=True))(i), 3, tmp_path, mfcc,
                     mfcc_short, ["GRU", "GRU"], "bigru")


def test_keras_bidirectional_lstm_sequences_averaged(tmp_path, mfcc):
    require("cc")
    m = keras_model(lambda i: L.Bidirectional(L.LSTM(12, return_sequences=True), merge_mode="ave")(i), seed=4)
    path = str(tmp_path / "ave.keras")
    m.save(path)
    check(path, mfcc, tmp_path, np.asarray(m.predict(mfcc[0], batch_size=1, verbose=0)), ["LSTM", "LSTM"])


def test_keras_go_backwards_sequence_is_in_walk_order(tmp_path, mfcc):
    """A lone go_backwards GRU returns its sequence in the order it walked (last step first)."""
    m = keras_model(lambda i: L.GRU(8, return_sequences=True, go_backwards=True)(i), seed=5)
    path = str(tmp_path / "gb.keras")
    m.save(path)
    g = canonicalize(import_model(path))
    assert "StridedSlice" in [n.op for n in g.nodes]
    x = mfcc[0][:4]
    np.testing.assert_allclose(reference.run_batch(g, x[:, None]).reshape(4, -1),
                               m.predict(x, batch_size=1, verbose=0), atol=3e-5)


class TorchBi(torch.nn.Module):
    """A two-layer bidirectional recurrent layer read both ways: the last step of the sequence (the
    forward's final state and the backward's first output) and the backward's final state h_n[-1]."""

    def __init__(self, cell, hidden, layers):
        super().__init__()
        self.rnn = getattr(torch.nn, cell)(F, hidden, num_layers=layers, bidirectional=True, batch_first=True)
        self.fc = torch.nn.Linear(3 * hidden, 12)

    def forward(self, x):
        y, h = self.rnn(x)
        h = h[0] if isinstance(h, tuple) else h
        return self.fc(torch.cat([y[:, -1], h[-1]], -1))


def export_bi(path, cell, hidden, layers, dynamo, seed=0):
    torch.manual_seed(seed)
    m = TorchBi(cell, hidden, layers).eval()
    if dynamo:
        torch.onnx.export(m, (torch.zeros(1, T, F),), str(path), dynamo=True, opset_version=18)
    else:
        torch.onnx.export(m, (torch.zeros(1, T, F),), str(path), dynamo=False, opset_version=17)
    return str(path)


@pytest.mark.parametrize("dynamo", [False, True])
def test_torch_bidirectional_two_layer_gru_both_exporters(tmp_path, mfcc, dynamo):
    require("cc")
    path = export_bi(tmp_path / "bigru.onnx", "GRU", 16, 2, dynamo)
    rnn = [n for n in onnx.load(path).graph.node if n.op_type == "GRU"]
    assert len(rnn) == 2 and all(a.s == b"bidirectional" for n in rnn for a in n.attribute if a.name == "direction")
    check(path, mfcc, tmp_path, onnx_outputs(path, mfcc[0]), ["GRU"] * 4)


def test_torch_bidirectional_lstm_bit_exact_on_cortex_m4(tmp_path, mfcc):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    path = export_bi(tmp_path / "bilstm.onnx", "LSTM", 24, 1, False, seed=2)
    report, r = check(path, mfcc, tmp_path, onnx_outputs(path, mfcc[0]), ["LSTM", "LSTM"], ("host", "cortex-m4"))
    assert r["cortex-m4"]["float_helpers"] == []
    assert r["cortex-m4"]["instructions_per_inference"] > report["totals"]["macs"] >= 2 * T * 4 * 24 * (F + 24)


def test_keras_simple_rnn_keras_and_its_onnx_export(tmp_path, mfcc, mfcc_short):
    """SimpleRNN is the GRU with saturated gates; its ONNX export unrolls the steps with a mask
    where(t < T, h_new, h_old) whose constant condition picks h_new: no Where is left."""
    require("cc")
    _, opath = check_keras_both(lambda i: L.SimpleRNN(16)(i), 11, tmp_path, mfcc, mfcc_short, ["GRU"], "srnn")
    assert "Where" in [n.op_type for n in onnx.load(opath).graph.node]


def test_torch_rnn_tanh_and_relu_refused(tmp_path, mfcc):
    require("cc")
    torch.manual_seed(1)

    class M(torch.nn.Module):
        def __init__(self, nonlinearity):
            super().__init__()
            self.rnn = torch.nn.RNN(F, 16, batch_first=True, nonlinearity=nonlinearity, bidirectional=True)
            self.fc = torch.nn.Linear(32, 12)

        def forward(self, x):
            return self.fc(self.rnn(x)[0][:, -1])

    path = str(tmp_path / "rnn.onnx")
    torch.onnx.export(M("tanh").eval(), (torch.zeros(1, T, F),), path, dynamo=False, opset_version=13)
    assert [n.op_type for n in onnx.load(path).graph.node].count("RNN") == 1
    check(path, mfcc, tmp_path, onnx_outputs(path, mfcc[0]), ["GRU", "GRU"])
    relu = str(tmp_path / "relu.onnx")
    torch.onnx.export(M("relu").eval(), (torch.zeros(1, T, F),), relu, dynamo=False, opset_version=13)
    name = [n for n in onnx.load(relu).graph.node if n.op_type == "RNN"][0].name
    with pytest.raises(UnsupportedOpError) as e:
        import_model(relu)
    assert any(name in r and "activations ['Relu', 'Relu']" in r for r in e.value.reasons), e.value.reasons


@pytest.mark.parametrize("reverse", [True, False])
def test_fold_recurrent_last_step_of_a_backward_lstm(reverse):
    """A backward LSTM's final state is its step 0: the pass folds a Slice of step 0 (not of step T-1)
    into return_sequences=False; a forward LSTM's step 0 is not its final state and stays a Slice.  The
    reference gives the same answer before and after."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("bw")
    x = b.add_tensor("x", (1, 7, 3))
    h = 5
    y = emit_lstm(b, "l", x, rng.standard_normal((4 * h, 3)), rng.standard_normal((4 * h, h)),
                  rng.standard_normal(4 * h), True, reverse=reverse)
    s = b.emit("Slice", "first", [y], None, {"begin": (0, 0, 0), "end": (1, 1, h)})
    b.nodes[0].outputs = b.nodes[0].outputs[:1]               # as a float graph past calibration reads it
    g = infer_shapes(Graph("bw", b.nodes, b.tensors, [x], [s]))
    after = fold_recurrent_last_step(g)
    lstm = [n for n in after.nodes if n.op == "LSTM"][0]
    assert lstm.attrs["return_sequences"] is (not reverse)
    assert ("Slice" in [n.op for n in after.nodes]) is (not reverse)
    xs = rng.standard_normal((3, 1, 7, 3)).astype(np.float32)
    np.testing.assert_array_equal(reference.run_batch(g, xs), reference.run_batch(after, xs))


def test_bidirectional_variants_edgec_does_not_compute_are_all_refused_by_name(tmp_path):
    """A recurrent layer with another activation: one line on stderr naming it, exit 2, no traceback
    (merge_mode None, two outputs, compiles: tests/test_keras_bidirectional_none.py)."""
    import subprocess
    import sys
    i = keras.Input((T, F), batch_size=1)
    a, b = L.Bidirectional(L.LSTM(4), merge_mode=None, name="bi_none")(i)
    y = L.Bidirectional(L.GRU(4, activation="relu"), name="bi_relu")(i)
    path = str(tmp_path / "refused.keras")
    keras.Model(i, L.Concatenate()([a, b, y])).save(path)
    cli = os.path.join(os.path.dirname(sys.executable), "edgec")
    p = subprocess.run([cli, "build", path, "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert not any("bi_none" in ln for ln in lines), p.stderr
    assert any("bi_relu" in ln and "activation 'relu'" in ln for ln in lines), p.stderr
