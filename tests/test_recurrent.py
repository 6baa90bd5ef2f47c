"""Recurrent layers (the IR LSTM, compiler/recurrent.py) end to end: LSTM keyword-spotting models built
here in PyTorch (both ONNX exporters, batch_first and not) and in Keras 3 (return_sequences both ways),
calibrated on real MFCC features, imported, checked in float against onnxruntime / Keras, built to int8
with TFLite Micro's integer LSTM arithmetic, and the C checked bit for bit against the integer reference
on the host and on the emulated Cortex-M4.  Unsupported LSTM variants are refused with one line naming
the node."""
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (test-only oracle)
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model, tflite_graphs  # noqa: E402
from edgec.compiler.errors import UnsupportedOpError  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.compiler.recurrent import sigmoid16, sigmoid_table, tanh16, tanh_params  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402
from conftest import require  # noqa: E402
from torch_nets import F, T, export_torch  # noqa: E402


def onnx_outputs(path, x):
    s = ort.InferenceSession(path)
    return np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i + 1]})[0] for i in range(len(x))])


def check_build(model, mfcc, tmp_path, expect_float, targets=("host",), op="LSTM"):
    x, xpath = mfcc
    g = canonicalize(import_model(model))
    rnn = [n for n in g.nodes if n.op == op]
    assert len(rnn) == 1
    rows, hid = g.tensors[rnn[0].inputs[2]].shape
    ours = reference.run_batch(g, x[:, None]).reshape(expect_float.shape)
    np.testing.assert_allclose(ours, expect_float, atol=2e-5)                # the import is the model
    report = build(model, "cortex-m4", str(tmp_path / "out"), xpath)
    assert report["totals"]["macs"] >= T * rows * (F + hid)                # the recurrent layer's MACs are counted
    results = {}
    for target in targets:
        r = verify(str(tmp_path / "out"), target, xpath)
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(x), r
        results[target] = r
    fa = results[targets[0]]["float_agreement"]
    assert fa["sqnr_db"] >= 25 or fa["top1_agreement"] >= 0.9, fa
    return report, results


@pytest.mark.parametrize("batch_first,last,dynamo", [(True, "h_n", False), (False, "y", False), (True, "y", True)])
def test_torch_lstm_kws_onnx_is_bit_exact_on_host(tmp_path, mfcc, batch_first, last, dynamo):
    require("cc")
    path = export_torch(tmp_path / "kws.onnx", 32, batch_first, last, dynamo)
    node = [n for n in onnx.load(path).graph.node if n.op_type == "LSTM"]
    assert len(node) == 1
    check_build(path, mfcc, tmp_path, onnx_outputs(path, mfcc[0]))


def test_torch_lstm64_kws_bit_exact_on_cortex_m4(tmp_path, mfcc):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    path = export_torch(tmp_path / "kws64.onnx", 64, True, "h_n", False, seed=3)
    report, r = check_build(path, mfcc, tmp_path, onnx_outputs(path, mfcc[0]), ("host", "cortex-m4"))
    assert r["cortex-m4"]["float_helpers"] == []
    assert r["cortex-m4"]["instructions_per_inference"] > report["totals"]["macs"]
    # the LSTM's working state (cell int16 [64], hidden int8 [64] twice) is its only arena use
    assert report["totals"]["arena_bytes"] <= 4 * 64 + 64


def keras_kws(return_sequences, units, cell="LSTM"):
    keras.utils.set_random_seed(7)
    i = keras.Input((T, F), batch_size=1)
    y = getattr(keras.layers, cell)(units, return_sequences=return_sequences)(i)
    if return_sequences:
        y = keras.layers.Conv1D(8, 5, strides=4, activation="relu")(y)
        y = keras.layers.Flatten()(y)
    y = keras.layers.Dense(12)(y)
    y = keras.layers.Softmax()(keras.layers.Rescaling(4.0)(y))
    return keras.Model(i, y)


@pytest.mark.parametrize("return_sequences,targets", [(False, ("host", "cortex-m4")), (True, ("host",))])
def test_keras_lstm_kws_is_bit_exact(tmp_path, mfcc, return_sequences, targets):
    require("cc", *(("arm-none-eabi-gcc", "qemu-system-arm") if "cortex-m4" in targets else ()))
    m = keras_kws(return_sequences, 24)
    path = str(tmp_path / "kws.keras")
    m.save(path)
    expect = np.asarray(m.predict(mfcc[0], batch_size=1, verbose=0))
    check_build(path, mfcc, tmp_path, expect, targets)


@pytest.mark.parametrize("batch_first", [True, False])
def test_torch_gru_kws_onnx_is_bit_exact(tmp_path, mfcc, batch_first):
    require("cc", *(("arm-none-eabi-gcc", "qemu-system-arm") if batch_first else ()))
    path = export_torch(tmp_path / "gru.onnx", 32, batch_first, "h_n", False, seed=1, cell="GRU")
    check_build(path, mfcc, tmp_path, onnx_outputs(path, mfcc[0]), ("host", "cortex-m4") if batch_first else ("host",),
                op="GRU")


@pytest.mark.parametrize("return_sequences", [False, True])
def test_keras_gru_kws_is_bit_exact(tmp_path, mfcc, return_sequences):
    require("cc")
    m = keras_kws(return_sequences, 20, cell="GRU")
    path = str(tmp_path / "gru.keras")
    m.save(path)
    check_build(path, mfcc, tmp_path, np.asarray(m.predict(mfcc[0], batch_size=1, verbose=0)), op="GRU")


def test_gru_variants_are_refused(tmp_path):
    torch.manual_seed(0)
    p = str(tmp_path / "gru.onnx")
    torch.onnx.export(torch.nn.GRU(F, 8, batch_first=True).eval(), (torch.zeros(1, T, F),), p, dynamo=False, opset_version=13)
    m = onnx.load(p)
    node = [n for n in m.graph.node if n.op_type == "GRU"][0]
    for attr in node.attribute:
        if attr.name == "linear_before_reset":
            attr.i = 0
    onnx.save(m, p)
    with pytest.raises(UnsupportedOpError) as e:
        import_model(p)
    assert any(node.name in r and "linear_before_reset=0" in r for r in e.value.reasons), e.value.reasons
    i = keras.Input((T, F), batch_size=1)
    k = keras.Model(i, keras.layers.GRU(4, reset_after=False, name="old_gru")(i))
    k.save(str(tmp_path / "g.keras"))
    with pytest.raises(UnsupportedOpError, match=r"old_gru.*reset_after=False"):
        import_model(str(tmp_path / "g.keras"))


def test_int16_sigmoid_and_tanh_follow_tflite_interpolation():
    """The twins' gate nonlinearities on every int16 input: monotone, odd / complementary as TFLite's
    int16 Logistic and Tanh are, within 2^-10 of the real functions over Q3.12."""
    table = sigmoid_table().astype(np.int64)
    v = np.arange(-32768, 32768, dtype=np.int64)
    s = sigmoid16(v, table)
    t = tanh16(v, table, *tanh_params(-12))
    assert (np.diff(s) >= 0).all() and (np.diff(t) >= 0).all()
    assert s.min() >= 0 and s.max() <= 32767 and t.min() >= -32768 and t.max() <= 32767
    real = v / 4096.0
    assert np.abs(s / 32768.0 - 1 / (1 + np.exp(-real))).max() < 2 ** -10
    assert np.abs(t / 32768.0 - np.tanh(real)).max() < 2 ** -10
    # the cell state's tanh at another scale (2^-11) is the same function of the real value
    t11 = tanh16(v // 2, table, *tanh_params(-11))
    assert np.abs(t11 - t).max() <= 64


def _rewrite_lstm(path, out, **attrs):
    m = onnx.load(path)
    node = [n for n in m.graph.node if n.op_type == "LSTM"][0]
    for k, v in attrs.items():
        node.attribute.append(onnx.helper.make_attribute(k, v))
    onnx.save(m, out)
    return out, node.name


def test_unsupported_lstm_variants_are_refused_naming_the_node(tmp_path):
    base = export_torch(tmp_path / "kws.onnx", 8, True, "h_n", False)
    p_clip, name = _rewrite_lstm(base, str(tmp_path / "clip.onnx"), clip=3.0, input_forget=1)
    with pytest.raises(UnsupportedOpError) as e:
        import_model(p_clip)
    assert any(name in r and "clip" in r and "input_forget=1" in r for r in e.value.reasons), e.value.reasons
    p_act, name = _rewrite_lstm(base, str(tmp_path / "act.onnx"), activations=["Sigmoid", "Relu", "Tanh"])
    with pytest.raises(UnsupportedOpError) as e:
        import_model(p_act)
    assert any(name in r and "activations ['Sigmoid', 'Relu', 'Tanh']" in r for r in e.value.reasons), e.value.reasons
    # the CLI: one line per reason on stderr, exit 2, no traceback
    cli = os.path.join(os.path.dirname(sys.executable), "edgec")
    p = subprocess.run([cli, "build", p_act, "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and name in p.stderr, p.stderr


def test_keras_lstm_with_other_activation_is_refused(tmp_path):
    i = keras.Input((T, F), batch_size=1)
    m = keras.Model(i, keras.layers.Dense(2)(keras.layers.LSTM(4, activation="relu", name="relu_lstm")(i)))
    path = str(tmp_path / "m.keras")
    m.save(path)
    with pytest.raises(UnsupportedOpError, match=r"relu_lstm.*activation 'relu'"):
        import_model(path)


# ---------------------------------------------------------------------------------------------
# TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM against TFLite Micro


def tflite_lstm(rng, n, t, i, h, time_major=False, cell_clip=0.0, cell_power=-11, head=False):
    """An int8 LSTM as the TFLite converter writes it: per-tensor int8 weights per gate, int32 biases,
    int8 hidden state and int16 cell state (scale 2^cell_power) as variables; optionally followed by a
    FULLY_CONNECTED on the flattened sequence."""
    from testkit.tflite_writer import Model
    m = Model()
    xs = (t, n, i) if time_major else (n, t, i)
    x = m.tensor("x", xs, scale=float(rng.uniform(0.01, 0.1)), zp=int(rng.integers(-20, 20)))
    ws = [m.tensor(f"lstm/w{k}", shape, data=rng.integers(-127, 128, shape), scale=float(rng.uniform(0.2, 1.0)) / 127)
          for k, shape in enumerate([(h, i)] * 4 + [(h, h)] * 4)]
    bs = [m.tensor(f"lstm/b{k}", (h,), np.int32, data=rng.integers(-3000, 3000, h)) for k in range(4)]
    s_h, zp_h = float(rng.uniform(0.004, 0.01)), int(rng.integers(-10, 10))
    hs = m.tensor("lstm/h", (n, h), scale=s_h, zp=zp_h, variable=True)
    cs = m.tensor("lstm/c", (n, h), np.int16, scale=2.0 ** cell_power, zp=0, variable=True)
    y = m.tensor("lstm/y", (t, n, h) if time_major else (n, t, h), scale=s_h, zp=zp_h)
    m.op("UNIDIRECTIONAL_SEQUENCE_LSTM", [x] + ws + [-1, -1, -1] + bs + [-1, -1, hs, cs, -1, -1, -1, -1], [y],
         act=4, cell_clip=cell_clip, proj_clip=0.0, time_major=time_major)
    m.inputs, m.outputs = [x], [y]
    if head:
        w = m.tensor("fc/w", (5, t * h), data=rng.integers(-127, 128, (5, t * h)), scale=0.002)
        z = m.tensor("fc/y", (n, 5), scale=0.05, zp=3)
        m.op("FULLY_CONNECTED", [y, w, m.tensor("fc/b", (5,), np.int32, data=rng.integers(-500, 500, 5))], [z], act=0)
        m.outputs = [z]
    return m.bytes(), xs


def tflm_fresh(model: bytes, xs) -> np.ndarray:
    """TFLite Micro on each sample from zero state (a fresh interpreter: the LSTM's states are variables)."""
    from tflite_micro.python.tflite_micro import runtime
    out = []
    for x in xs:
        it = runtime.Interpreter.from_bytes(model)
        it.set_input(x, 0)
        it.invoke()
        out.append(it.get_output(0).copy())
    return np.stack(out)


def test_tflite_lstm_reference_equals_tflite_micro_on_random_shapes(tmp_path):
    rng = np.random.default_rng(11)
    for case in range(12):
        n, t, i, h = int(rng.integers(1, 3)), int(rng.integers(1, 12)), int(rng.integers(1, 16)), int(rng.integers(1, 24))
        time_major = case % 4 == 3
        n = 1 if time_major else n
        model, xs = tflite_lstm(rng, n, t, i, h, time_major, cell_clip=(0.0, 2.5)[case % 2],
                                cell_power=(-11, -12, -10, -13)[case % 4])
        path = tmp_path / f"l{case}.tflite"
        path.write_bytes(model)
        _, q = tflite_graphs(str(path))
        x = rng.integers(-128, 128, (20,) + xs).astype(np.int8)
        want = tflm_fresh(model, x)
        assert len(np.unique(want)) > min(10, want[0].size // 2), (case, np.unique(want))   # not saturated
        assert np.array_equal(reference.run_batch(q, x).reshape(want.shape), want), (case, (n, t, i, h))


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_tflite_lstm_c_equals_tflite_micro(tmp_path, target):
    require("cc", *(("arm-none-eabi-gcc", "qemu-system-arm") if target != "host" else ()))
    from edgec.verification.verify import Built
    rng = np.random.default_rng(5 if target == "host" else 6)
    model, xs = tflite_lstm(rng, 2, 9, 10, 16, head=True)
    (tmp_path / "l.tflite").write_bytes(model)
    build(str(tmp_path / "l.tflite"), target, str(tmp_path / "out"))
    built = Built(str(tmp_path / "out"))
    x = rng.integers(-128, 128, (30,) + xs).astype(np.int8)
    want = tflm_fresh(model, x)
    got, _ = built.execute(target, x)
    assert np.array_equal(np.asarray(got).reshape(want.shape), want)


def test_tflite_lstm_variants_are_refused_in_one_error(tmp_path):
    from testkit.tflite_writer import Model
    rng = np.random.default_rng(0)
    m = Model()
    x = m.tensor("x", (1, 4, 3), scale=0.05, zp=0)
    ws = [m.tensor(f"w{k}", (2, 3 if k < 4 else 2), data=rng.integers(-5, 5, (2, 3 if k < 4 else 2)), scale=0.01)
          for k in range(8)]
    bs = [m.tensor(f"b{k}", (2,), np.int32, data=np.zeros(2)) for k in range(4)]
    peep = m.tensor("peep", (2,), data=np.ones(2), scale=0.01)
    hs = m.tensor("h", (1, 2), scale=0.01, zp=0, variable=True)
    cs = m.tensor("c", (1, 2), np.int16, scale=0.0003, zp=0, variable=True)
    y = m.tensor("y", (1, 4, 2), scale=0.01, zp=0)
    m.op("UNIDIRECTIONAL_SEQUENCE_LSTM", [x] + ws + [peep, -1, -1] + bs + [-1, -1, hs, cs, -1, -1, -1, -1], [y],
         act=1, cell_clip=0.0, proj_clip=0.0, time_major=False)
    m.inputs, m.outputs = [x], [y]
    (tmp_path / "bad.tflite").write_bytes(m.bytes())
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(str(tmp_path / "bad.tflite"))
    msg = str(e.value)
    assert "peephole weights" in msg and "cell activation other than TANH" in msg and "not a power of two" in msg, msg


def test_tflite_lstm_with_mismatched_tensors_is_refused_not_run(tmp_path):
    """A bias one value short would have the kernel read past it: refused at import, by operator."""
    from testkit.tflite_writer import Model
    rng = np.random.default_rng(1)
    good, _ = tflite_lstm(rng, 1, 4, 3, 5)
    m = Model()
    x = m.tensor("x", (1, 4, 3), scale=0.05, zp=0)
    ws = [m.tensor(f"w{k}", (5, 3 if k < 4 else 5), data=rng.integers(-5, 5, (5, 3 if k < 4 else 5)), scale=0.01)
          for k in range(8)]
    bs = [m.tensor(f"b{k}", (5 if k else 4,), np.int32, data=np.zeros(5 if k else 4)) for k in range(4)]
    hs = m.tensor("h", (1, 5), scale=0.01, zp=0, variable=True)
    cs = m.tensor("c", (1, 5), np.int16, scale=2.0 ** -11, zp=0, variable=True)
    y = m.tensor("y", (1, 4, 5), scale=0.01, zp=0)
    m.op("UNIDIRECTIONAL_SEQUENCE_LSTM", [x] + ws + [-1, -1, -1] + bs + [-1, -1, hs, cs, -1, -1, -1, -1], [y],
         act=4, cell_clip=0.0, proj_clip=0.0, time_major=False)
    m.inputs, m.outputs = [x], [y]
    (tmp_path / "good.tflite").write_bytes(good)
    (tmp_path / "bad.tflite").write_bytes(m.bytes())
    assert [n.op for n in tflite_graphs(str(tmp_path / "good.tflite"))[1].nodes] == ["LSTM"]
    with pytest.raises(UnsupportedOpError, match="do not fit its input.*first at operator 0"):
        tflite_graphs(str(tmp_path / "bad.tflite"))


def test_fold_recurrent_last_step_before_after_and_same_ram_from_both_exporters(tmp_path, mfcc):
    """The dynamo export reads y[:, -1] of the whole sequence; the pass makes the LSTM return the last
    step only: the reference gives the same answer before and after, and both PyTorch exporters' files
    plan the same arena."""
    from edgec.passes.eliminate_dead import eliminate_dead
    from edgec.passes.fold_recurrent_last_step import fold_recurrent_last_step
    from edgec.passes.infer_shapes import infer_shapes
    x = mfcc[0]
    dyn = export_torch(tmp_path / "dyn.onnx", 16, True, "y", True, seed=4)
    before = eliminate_dead(infer_shapes(import_model(dyn)))
    after = fold_recurrent_last_step(before)
    lstm_b = [n for n in before.nodes if n.op == "LSTM"][0]
    lstm_a = [n for n in after.nodes if n.op == "LSTM"][0]
    assert lstm_b.attrs["return_sequences"] and not lstm_a.attrs["return_sequences"]
    assert "Slice" in [n.op for n in before.nodes] and "Slice" not in [n.op for n in after.nodes]
    assert np.array_equal(reference.run_batch(before, x[:, None]), reference.run_batch(after, x[:, None]))
    ts = export_torch(tmp_path / "ts.onnx", 16, True, "y", False, seed=4)
    arenas = [build(p, "cortex-m4", str(tmp_path / f"o{k}"), mfcc[1])["totals"]["arena_bytes"] for k, p in enumerate((dyn, ts))]
    assert arenas[0] == arenas[1] <= 4 * 16 + 16, arenas
