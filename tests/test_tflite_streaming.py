"""Stateful streaming .tflite models (resource variables) and the ops streaming wake-word models use,
bit-exact with TensorFlow Lite Micro.

The models are written with testkit/tflite_writer.py (builders and the wake-word model in
testkit/tflite_models.py) as the converter writes streaming keyword spotters: an init subgraph run by
CALL_ONCE assigns each variable its initial constant; the main subgraph reads the variables (VAR_HANDLE + READ_VARIABLE), concatenates the new frame to the past
ones, keeps the newest with STRIDED_SLICE and writes them back (ASSIGN_VARIABLE).  TFLM's interpreter
keeps the variables between invocations, so one interpreter over a sequence of inputs is the oracle of
a stream; edgec's C (host and QEMU Cortex-M4) runs the same sequence through successive run() calls.
Each new int8 op (STRIDED_SLICE, CONCATENATION, SPLIT, SPLIT_V, LOGISTIC, TANH, LEAKY_RELU, QUANTIZE)
also has a single-op test against TFLM on random shapes and parameters."""
import json
import subprocess
import sys

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

from conftest import require
from testkit.tflite_models import (int32_bias, int32_const, int8_frames, int8_weights, quant_tensor, resource_variable,
                                   wake_word_model)
from testkit.tflite_writer import Model
from testkit.tflm import all_int8, check_one_op, int8_inputs, tflm_stream

from edgec.compiler import reference
from edgec.driver.build import build, tflite_graphs
from edgec.verification.verify import Built

STEPS = 120
CLI = [sys.executable, "-m", "edgec.cli.main"]


@pytest.fixture(scope="module")
def wake_word(tmp_path_factory):
    d = tmp_path_factory.mktemp("wake")
    model = wake_word_model(3)
    (d / "ww.tflite").write_bytes(model)
    return d, model


def test_wake_word_stream_imports_with_its_state(wake_word):
    d, model = wake_word
    fgraph, q = tflite_graphs(str(d / "ww.tflite"))
    assert [s.variable for s in q.state] == ["stream", "stream_1"]
    assert q.meta["edges"]["output"]["file_dtype"] == "uint8"
    xs = int8_frames(STEPS, (1, 1, 1, 12), 1)
    want = tflm_stream(model, xs)
    assert want.dtype == np.uint8 and len(np.unique(want)) > 20
    got = reference.run_batch(q, xs)                                     # one stream, state carried
    assert np.array_equal((got.astype(np.int16) + 128).astype(np.uint8), want.reshape(got.shape))
    fresh = tflm_stream(model, xs, reset_each=True)
    assert not np.array_equal(fresh, want)                               # the state matters
    assert np.array_equal(reference.run_batch(q, xs, stream=False).astype(np.int16) + 128, fresh.reshape(got.shape))


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_wake_word_stream_c_equals_tflite_micro_at_every_step(wake_word, tmp_path, target):
    """120 steps of one stream, TFLM's uint8 outputs at every step; the C API takes int8 frames and
    gives uint8 (as the file), the state is static RAM beside the arena, and --reset-each runs each
    frame from the initial state as a fresh TFLM interpreter does."""
    require("cc") if target == "host" else require("arm-none-eabi-gcc", "qemu-system-arm")
    d, model = wake_word
    report = build(str(d / "ww.tflite"), target, str(tmp_path / "out"))
    assert report["totals"]["state_bytes"] == 24 + 48 and [s["variable"] for s in report["state"]] == ["stream", "stream_1"]
    assert report["output"]["c_api"] == {"dtype": "uint8", "scale": 1 / 256, "zero_point": 0}
    header = (tmp_path / "out" / "model.h").read_text()
    assert "void edgec_ww_reset(void);" in header and "int edgec_ww_run(const int8_t *input, uint8_t *output);" in header
    assert "#define EDGEC_WW_STATE_SIZE 72" in header
    built = Built(str(tmp_path / "out"))
    xs = int8_frames(STEPS, (1, 1, 1, 12), 2)
    want = tflm_stream(model, xs).reshape((STEPS,) + tuple(built.output_shape))
    got, ex = built.execute(target, xs)
    assert np.array_equal((got.astype(np.int16) + 128).astype(np.uint8), want)
    if target == "cortex-m4":
        assert not ex.float_helpers
    fresh = tflm_stream(model, xs[:30], reset_each=True).reshape((30,) + tuple(built.output_shape))
    got, _ = built.execute(target, xs[:30], reset_each=True)
    assert np.array_equal((got.astype(np.int16) + 128).astype(np.uint8), fresh)


def test_cli_run_and_verify_say_they_stream(wake_word, tmp_path):
    require("cc")
    d, model = wake_word
    r = subprocess.run(CLI + ["build", str(d / "ww.tflite"), "--target", "host", "-o", str(tmp_path / "out")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    xs = int8_frames(40, (1, 1, 1, 12), 3)
    built = Built(str(tmp_path / "out"))
    np.save(tmp_path / "x.npy", ((xs.astype(np.float32) + 3) * np.float32(0.08)))    # float frames, quantized back exactly
    assert np.array_equal(built.quantize_input(np.load(tmp_path / "x.npy")), xs)
    for extra, fresh in (([], False), (["--reset-each"], True)):
        r = subprocess.run(CLI + ["verify", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "--json"] + extra,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["bit_exact"] and res["stream"]["reset_each"] == fresh and res["stream"]["state_bytes"] == 72
        assert ("one stream" in res["stream"]["note"]) != fresh
        r = subprocess.run(CLI + ["run", str(tmp_path / "out"), str(tmp_path / "x.npy"), "--raw", "-o",
                                  str(tmp_path / "y.npy")] + extra, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert ("one stream" in r.stdout) != fresh and ("initial state" in r.stdout) == fresh
        want = tflm_stream(model, xs, reset_each=fresh)
        got = np.load(tmp_path / "y.npy")
        assert np.array_equal((got.astype(np.int16) + 128).astype(np.uint8).reshape(want.shape), want)


# ---------------------------------------------------------------------------------------------
# each new int8 op alone, on random shapes and parameters, against TFLM (reference and host C)


def _random_shape(rng, rank):
    return tuple(int(d) for d in rng.integers(1, 6, rank))


@pytest.mark.parametrize("seed", range(6))
def test_strided_slice_equals_tflite_micro(tmp_path, seed):
    """Random rank-1..4 shapes, begins and ends (negative too), begin / end masks, shrink_axis_mask."""
    rng = np.random.default_rng(100 + seed)
    rank = int(rng.integers(1, 5))
    while True:
        shape = _random_shape(rng, rank)
        begin = [int(rng.integers(-d, d)) for d in shape]
        end = [int(rng.integers(-d, d + 1)) for d in shape]
        bmask, emask = int(rng.integers(0, 1 << rank)), int(rng.integers(0, 1 << rank))
        shrink = int(rng.integers(0, 1 << rank)) if seed % 2 else 0
        idx = []
        for i in range(rank):
            if shrink >> i & 1:
                idx.append(begin[i])
                bmask &= ~(1 << i)
            else:
                idx.append(slice(None if bmask >> i & 1 else begin[i], None if emask >> i & 1 else end[i]))
        out = np.empty(shape)[tuple(idx)]
        if out.size and out.ndim:
            break
    m = Model()
    x, y = quant_tensor(m, "x", shape, 0.1, 3), quant_tensor(m, "y", out.shape, 0.1, 3)
    m.op("STRIDED_SLICE", [x, int32_const(m, "b", begin), int32_const(m, "e", end), int32_const(m, "s", [1] * rank)], [y],
         begin_mask=bmask, end_mask=emask, shrink_axis_mask=shrink)
    m.inputs, m.outputs = [x], [y]
    check_one_op(tmp_path, m.bytes(), int8_inputs(rng, shape), "strided_slice")


@pytest.mark.parametrize("seed", range(4))
def test_split_split_v_and_concatenation_equal_tflite_micro(tmp_path, seed):
    """SPLIT (equal parts) or SPLIT_V (sizes with a -1) along a random axis, the parts put back by a
    CONCATENATION in reverse order with a constant part between them."""
    rng = np.random.default_rng(200 + seed)
    rank = int(rng.integers(2, 5))
    shape = list(_random_shape(rng, rank))
    axis = int(rng.integers(-rank, rank))
    parts = int(rng.integers(2, 4))
    m = Model()
    if seed % 2 == 0:
        shape[axis] = parts * int(rng.integers(1, 3))
        sizes = [shape[axis] // parts] * parts
    else:
        sizes = [int(v) for v in rng.integers(1, 4, parts)]
        shape[axis] = sum(sizes)
    x = quant_tensor(m, "x", shape, 0.05, -7)
    outs = []
    for k, n in enumerate(sizes):
        s = list(shape)
        s[axis] = n
        outs.append(quant_tensor(m, f"part{k}", s, 0.05, -7))
    if seed % 2 == 0:
        m.op("SPLIT", [int32_const(m, "axis", [axis]), x], outs, num_splits=parts)
    else:
        given = list(sizes)
        given[int(rng.integers(0, parts))] = -1
        m.op("SPLIT_V", [x, int32_const(m, "sizes", given), int32_const(m, "axis", [axis])], outs, num_splits=parts)
    cs = list(shape)
    cs[axis] = 1
    const = m.tensor("k", cs, data=rng.integers(-128, 128, cs), scale=0.05, zp=-7)
    cat = list(shape)
    cat[axis] += 1
    y = quant_tensor(m, "y", cat, 0.05, -7)
    m.op("CONCATENATION", [outs[-1], const] + outs[-2::-1], [y], axis=axis)
    m.inputs, m.outputs = [x], [y]
    check_one_op(tmp_path, m.bytes(), int8_inputs(rng, shape), "split")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("op", ["LOGISTIC", "TANH", "LEAKY_RELU", "QUANTIZE"])
def test_elementwise_int8_op_equals_tflite_micro_on_every_value(tmp_path, op, seed):
    """Every int8 input through LOGISTIC / TANH (output scales TFLM fixes), LEAKY_RELU (random alpha) and
    QUANTIZE (requantization int8 -> int8) at random input (and output) scales and zero points."""
    rng = np.random.default_rng(300 + seed)
    s_in = float(np.exp(rng.uniform(np.log(0.002), np.log(0.5))))
    zp_in = int(rng.integers(-100, 100))
    out = {"LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}.get(op, (float(np.exp(rng.uniform(np.log(0.005), np.log(0.3)))),
                                                                 int(rng.integers(-100, 100))))
    m = Model()
    x, y = quant_tensor(m, "x", (1, 4), s_in, zp_in), quant_tensor(m, "y", (1, 4), *out)
    m.op(op, [x], [y], **({"alpha": float(rng.uniform(0.01, 0.5))} if op == "LEAKY_RELU" else {}))
    m.inputs, m.outputs = [x], [y]
    q = check_one_op(tmp_path, m.bytes(), all_int8(), op.lower())
    assert [n.op for n in q.nodes] == ["Lut"]


@pytest.mark.parametrize("seed", range(3))
def test_quantize_uint8_edges_that_rescale_equal_tflite_micro(tmp_path, seed):
    """uint8 input QUANTIZEd to int8 and an int8 output QUANTIZEd to uint8 at other scales and zero
    points (not the converter's plain shift by 128): the C API takes and gives uint8 as the file does."""
    rng = np.random.default_rng(400 + seed)
    m = Model()
    xu = quant_tensor(m, "x_u8", (1, 8), float(rng.uniform(0.01, 0.1)), int(rng.integers(0, 256)), np.uint8)
    x = quant_tensor(m, "x", (1, 8), float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128)))
    m.op("QUANTIZE", [xu], [x])
    f = quant_tensor(m, "f", (1, 6), 0.2, 5)
    m.op("FULLY_CONNECTED", [x, int8_weights(m, "w", (6, 8), rng, 0, 6), int32_bias(m, "b", 6, rng)], [f], act=0)
    yu = quant_tensor(m, "y_u8", (1, 6), float(rng.uniform(0.1, 0.4)), int(rng.integers(0, 256)), np.uint8)
    m.op("QUANTIZE", [f], [yu])
    m.inputs, m.outputs = [xu], [yu]
    xs = rng.integers(0, 256, (40, 1, 8)).astype(np.uint8)
    path = tmp_path / "u8.tflite"
    path.write_bytes(m.bytes())
    build(str(path), "host", str(tmp_path / "out"))
    built = Built(str(tmp_path / "out"))
    header = (tmp_path / "out" / "model.h").read_text()
    assert "int edgec_u8_run(const uint8_t *input, uint8_t *output);" in header
    want = tflm_stream(m.bytes(), xs)
    got, _ = built.execute("host", (xs.astype(np.int16) - 128).astype(np.int8))
    assert np.array_equal((got.astype(np.int16) + 128).astype(np.uint8), want.reshape(got.shape))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"]["c_api"]["dtype"] == "uint8" and report["input"]["c_api"]["zero_point"] == \
        report["input"]["model_edge"]["file_zero_point"]


# ---------------------------------------------------------------------------------------------
# a different stateful model: a ring buffer of past frames feeding a conv over time, and a recurrent
# state (the last output fed back), read again after its assignment in the same run


def ring_buffer_model(seed: int) -> bytes:
    """Each call takes 8 features; RESHAPE to a frame, a ring buffer of the last 4 frames (CONCATENATION
    + SLICE, not STRIDED_SLICE) under a conv 3x1 / stride 2 SAME (RELU6) over the 5 frames, a fully
    connected layer, then a recurrent state: the previous TANH output, requantized (QUANTIZE int8 ->
    int8) and concatenated to the features, a second FC and TANH give the new state (ASSIGN_VARIABLE);
    a READ_VARIABLE after that assignment reads the new value, ADDed to the one TANH gave."""
    rng = np.random.default_rng(seed)
    m = Model()
    init = m.subgraph()
    x = quant_tensor(m, "x", (1, 8), 0.06, 4)
    m.op("CALL_ONCE", [], [], init_subgraph_index=1)
    xr = quant_tensor(m, "x_frame", (1, 1, 1, 8), 0.06, 4)
    m.op("RESHAPE", [x, int32_const(m, "shape", [1, 1, 1, 8])], [xr], new_shape=[1, 1, 1, 8])
    hr, ring = resource_variable(m, init, "ring", (1, 4, 1, 8), 0.06, 4, rng.integers(-20, 20, (1, 4, 1, 8)))
    cat = quant_tensor(m, "ring/concat", (1, 5, 1, 8), 0.06, 4)
    m.op("CONCATENATION", [ring, xr], [cat], axis=1)
    newest = quant_tensor(m, "ring/newest", (1, 4, 1, 8), 0.06, 4)
    m.op("SLICE", [cat, int32_const(m, "begin", [0, 1, 0, 0]), int32_const(m, "size", [1, 4, 1, -1])], [newest])
    m.op("ASSIGN_VARIABLE", [hr, newest], [])
    c = quant_tensor(m, "conv_t", (1, 3, 1, 12), 0.04, -128)
    m.op("CONV_2D", [cat, int8_weights(m, "w1", (12, 3, 1, 8), rng, 0, 12), int32_bias(m, "b1", 12, rng)], [c],
         padding=0, stride_h=2, stride_w=1, dilation_h=1, dilation_w=1, act=3)
    f = quant_tensor(m, "features", (1, 6), 0.1, -5)
    m.op("FULLY_CONNECTED", [c, int8_weights(m, "w2", (6, 36), rng, 0, 6), int32_bias(m, "b2", 6, rng)], [f], act=0)
    hh, prev = resource_variable(m, init, "hidden", (1, 4), 1 / 128, 0, np.zeros((1, 4)))
    prev_q = quant_tensor(m, "hidden/requant", (1, 4), 0.1, -5)
    m.op("QUANTIZE", [prev], [prev_q])
    both = quant_tensor(m, "both", (1, 10), 0.1, -5)
    m.op("CONCATENATION", [f, prev_q], [both], axis=1)
    pre = quant_tensor(m, "pre", (1, 4), 0.03, 2)
    m.op("FULLY_CONNECTED", [both, int8_weights(m, "w3", (4, 10), rng, 0, 4), int32_bias(m, "b3", 4, rng)], [pre], act=0)
    h = quant_tensor(m, "h", (1, 4), 1 / 128, 0)
    m.op("TANH", [pre], [h])
    m.op("ASSIGN_VARIABLE", [hh, h], [])
    again = quant_tensor(m, "hidden_again", (1, 4), 1 / 128, 0)
    h2 = m.tensor("hidden_h2", (), "resource")
    m.op("VAR_HANDLE", [], [h2], shared_name="hidden")
    m.op("READ_VARIABLE", [h2], [again])
    y = quant_tensor(m, "y", (1, 4), 1 / 64, 1)
    m.op("ADD", [h, again], [y], act=0)
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_ring_buffer_and_recurrent_state_equal_tflite_micro_at_every_step(tmp_path, target):
    require("cc") if target == "host" else require("arm-none-eabi-gcc", "qemu-system-arm")
    model = ring_buffer_model(5)
    (tmp_path / "ring.tflite").write_bytes(model)
    report = build(str(tmp_path / "ring.tflite"), target, str(tmp_path / "out"))
    assert {s["variable"]: s["bytes"] for s in report["state"]} == {"ring": 32, "hidden": 4}
    built = Built(str(tmp_path / "out"))
    xs = int8_frames(STEPS, (1, 8), 6)
    want = tflm_stream(model, xs).reshape((STEPS,) + tuple(built.output_shape))
    assert len(np.unique(want)) > 20
    assert np.array_equal(reference.run_batch(built.int_graph, xs), want)
    got, ex = built.execute(target, xs)
    assert np.array_equal(got, want)
    if target == "cortex-m4":
        assert not ex.float_helpers


# ---------------------------------------------------------------------------------------------
# the data-movement ops in int8 (the float path had them): PAD / PADV2, TRANSPOSE, SLICE, EXPAND_DIMS


@pytest.mark.parametrize("seed", range(3))
def test_int8_data_movement_ops_equal_tflite_micro(tmp_path, seed):
    """A random 4-D tensor through PAD (the zero point fills) -> TRANSPOSE (random perm) -> SLICE (random
    box) -> PADV2 (an int8 constant fills) -> RESHAPE to 3-D -> EXPAND_DIMS back to 4-D."""
    rng = np.random.default_rng(500 + seed)
    shape = _random_shape(rng, 4)
    m = Model()
    s, zp = 0.07, int(rng.integers(-50, 50))
    x = quant_tensor(m, "x", shape, s, zp)
    pads = rng.integers(0, 3, (4, 2))
    p1s = tuple(int(d + a + b) for d, (a, b) in zip(shape, pads))
    p1 = quant_tensor(m, "p1", p1s, s, zp)
    m.op("PAD", [x, int32_const(m, "pads", pads)], [p1])
    perm = [int(v) for v in rng.permutation(4)]
    ts = tuple(p1s[k] for k in perm)
    tr = quant_tensor(m, "tr", ts, s, zp)
    m.op("TRANSPOSE", [p1, int32_const(m, "perm", perm)], [tr])
    begin = [int(rng.integers(0, d)) for d in ts]
    size = [int(rng.integers(1, d - b + 1)) for b, d in zip(begin, ts)]
    size[-1] = -1
    ss = tuple(sz if sz != -1 else d - b for sz, b, d in zip(size, begin, ts))
    sl = quant_tensor(m, "sl", ss, s, zp)
    m.op("SLICE", [tr, int32_const(m, "begin", begin), int32_const(m, "size", size)], [sl])
    pads2 = rng.integers(0, 2, (4, 2))
    p2s = tuple(int(d + a + b) for d, (a, b) in zip(ss, pads2))
    p2 = quant_tensor(m, "p2", p2s, s, zp)
    m.op("PADV2", [sl, int32_const(m, "pads2", pads2), m.tensor("value", (1,), data=[int(rng.integers(-128, 128))], scale=s,
                                                         zp=zp)], [p2])
    r3 = quant_tensor(m, "r3", (p2s[0] * p2s[1], p2s[2], p2s[3]), s, zp)
    m.op("RESHAPE", [p2, int32_const(m, "shape3", r3 and [p2s[0] * p2s[1], p2s[2], p2s[3]])], [r3],
         new_shape=[p2s[0] * p2s[1], p2s[2], p2s[3]])
    y = quant_tensor(m, "y", (p2s[0] * p2s[1], 1, p2s[2], p2s[3]), s, zp)
    m.op("EXPAND_DIMS", [r3, int32_const(m, "axis", [1])], [y])
    m.inputs, m.outputs = [x], [y]
    q = check_one_op(tmp_path, m.bytes(), int8_inputs(rng, shape), "movement")
    assert [n.op for n in q.nodes] == ["Pad", "Transpose", "Slice", "Pad", "Reshape", "Reshape"]


@pytest.mark.parametrize("seed", range(4))
def test_hard_swish_equals_tflite_micro_on_every_value(tmp_path, seed):
    rng = np.random.default_rng(600 + seed)
    m = Model()
    x = quant_tensor(m, "x", (1, 4), float(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))), int(rng.integers(-100, 100)))
    y = quant_tensor(m, "y", (1, 4), float(np.exp(rng.uniform(np.log(0.005), np.log(0.1)))), int(rng.integers(-100, 0)))
    m.op("HARD_SWISH", [x], [y])
    m.inputs, m.outputs = [x], [y]
    q = check_one_op(tmp_path, m.bytes(), all_int8(), "hard_swish")
    assert [n.op for n in q.nodes] == ["Lut"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("op", ["SUB", "MUL"])
def test_int8_sub_and_mul_equal_tflite_micro(tmp_path, op, seed):
    """Random scales, zero points and fused activation; the second operand a broadcast constant or an
    activation from a split of the input."""
    rng = np.random.default_rng(700 + seed)
    m = Model()
    sc = lambda: float(np.exp(rng.uniform(np.log(0.01), np.log(0.3))))
    zp = lambda: int(rng.integers(-60, 60))
    x = quant_tensor(m, "x", (1, 3, 4, 6), sc(), zp())
    if seed % 2:
        a, b = quant_tensor(m, "a", (1, 3, 4, 3), sc(), zp()), quant_tensor(m, "b", (1, 3, 4, 3), sc(), zp())
        ta = m.tensor("ta", None, np.int32, data=[3])
        m.op("SPLIT", [ta, x], [a, b], num_splits=2)
        ax = a
        # SPLIT's outputs keep the input's quantization in TFLM's copy: give them the input's
        m.tensors[a] = m.tensors[a][:4] + m.tensors[x][4:]
        m.tensors[b] = m.tensors[b][:4] + m.tensors[x][4:]
        other, shape = b, (1, 3, 4, 3)
    else:
        ax, shape = x, (1, 3, 4, 6)
        other = m.tensor("k", (1, 1, 1, 6), data=rng.integers(-128, 128, (1, 1, 1, 6)), scale=sc(), zp=zp())
    y = quant_tensor(m, "y", shape, sc() * (4 if op == "MUL" else 1), zp())
    m.op(op, [ax, other], [y], act=int(rng.integers(0, 2)))
    m.inputs, m.outputs = [x], [y]
    q = check_one_op(tmp_path, m.bytes(), int8_inputs(rng, (1, 3, 4, 6), 20), op.lower())
    assert q.nodes[-1].op == op.capitalize()


def test_planning_keeps_state_outside_the_arena_and_assigned_values_alive(tmp_path):
    """plan (schedule, tile, plan_memory) on the stateful ring-buffer graph: the reference gives the same
    stream before and after; the state tensors live in the state buffer (not the arena, not written by
    any node), the values assigned to them stay live to the end of the run, and no arena buffers overlap."""
    from edgec.passes.plan_memory import validate_plan
    from edgec.passes.pipeline import plan
    (tmp_path / "ring.tflite").write_bytes(ring_buffer_model(8))
    _, q = tflite_graphs(str(tmp_path / "ring.tflite"))
    q.meta["optimize"] = "ram"
    planned = plan(q)
    xs = int8_frames(30, (1, 8), 9)
    assert np.array_equal(reference.run_batch(q, xs), reference.run_batch(planned, xs))
    validate_plan(planned)
    buffers, n = planned.plan.buffers, len(planned.nodes)
    states = planned.state
    assert [buffers[s.tensor]["where"] for s in states] == ["state", "state"]
    assert planned.plan.state_size == 32 + 4
    written = {o for node in planned.nodes for o in node.outputs}
    for s in states:
        same = {t for t, b in buffers.items() if b["root"] == buffers[s.tensor]["root"]}
        assert not same & written                                  # no node writes into a state buffer
        if buffers[s.next]["where"] == "arena":
            assert buffers[s.next]["last"] == n                 # copied after the last node


def test_signed_package_runs_the_stream_through_its_uint8_library(wake_word, tmp_path):
    """A package's host library (the agent's and api.run's path) takes the int8 samples through the
    uint8 C API as the build does, and carries the state between calls: TFLM's stream exactly."""
    require("cc")
    from edgec.cli import api
    d, model = wake_word
    api.build(str(d / "ww.tflite"), str(tmp_path / "out"), target="host")
    edgec = lambda *a: subprocess.run(CLI + [str(x) for x in a], capture_output=True, text=True)
    assert edgec("keygen", "-o", tmp_path / "keys").returncode == 0
    r = edgec("package", tmp_path / "out", "--name", "ww", "--version", "1.0.0", "--key", tmp_path / "keys" / "signing.pem",
              "-o", tmp_path / "ww.tar.gz")
    assert r.returncode == 0, r.stderr
    pkg = api.load(str(tmp_path / "ww.tar.gz"), pubkey=str(tmp_path / "keys" / "signing.pub"))
    assert pkg.manifest["outputs"][0]["c_api"]["dtype"] == "uint8"
    xs = int8_frames(50, (1, 1, 1, 12), 4)
    raw = api.run(pkg, (xs.astype(np.float32) + 3) * np.float32(0.08), raw=True)
    want = tflm_stream(model, xs)
    assert np.array_equal((raw.astype(np.int16) + 128).astype(np.uint8).reshape(want.shape), want)


def test_variables_edgec_cannot_keep_are_refused_in_one_line(tmp_path):
    """A second subgraph no CALL_ONCE runs (IF / WHILE bodies), and a variable no init subgraph assigns:
    one error naming each, one line on stderr from the CLI, no traceback."""
    m = Model()
    m.subgraph()
    x, y = quant_tensor(m, "x", (1, 4), 0.1, 0), quant_tensor(m, "y", (1, 4), 0.1, 0)
    m.op("RESHAPE", [x, int32_const(m, "s", [1, 4])], [y], new_shape=[1, 4])
    m.inputs, m.outputs = [x], [y]
    (tmp_path / "two.tflite").write_bytes(m.bytes())
    with pytest.raises(Exception) as e:
        tflite_graphs(str(tmp_path / "two.tflite"))
    assert "2 subgraphs and no CALL_ONCE" in str(e.value)
    m = Model()
    init = m.subgraph()
    x = quant_tensor(m, "x", (1, 4), 0.1, 0)
    m.op("CALL_ONCE", [], [], init_subgraph_index=1)
    h, r = resource_variable(m, init, "v", (1, 4), 0.1, 0, np.zeros((1, 4)))
    init.ops.pop()                                                    # its ASSIGN_VARIABLE: never initialised
    g = init.tensor("junk", (1, 4), scale=0.1, zp=0)
    init.op("LOGISTIC", [g], [g])
    y = quant_tensor(m, "y", (1, 8), 0.1, 0)
    m.op("CONCATENATION", [r, x], [y], axis=1)
    m.inputs, m.outputs = [x], [y]
    (tmp_path / "v.tflite").write_bytes(m.bytes())
    r = subprocess.run(CLI + ["build", str(tmp_path / "v.tflite"), "--target", "host", "-o", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("edgec: error")]
    assert len(errors) == 1, r.stderr
    assert "LOGISTIC in the init subgraph 1" in errors[0] and "READ_VARIABLE of variable 'v' that no init" in errors[0]


@pytest.mark.parametrize("seed", range(3))
def test_int8_resize_nearest_neighbor_equals_tflite_micro(tmp_path, seed):
    """Whole-factor RESIZE_NEAREST_NEIGHBOR (edgec repeats pixels), with or without half_pixel_centers."""
    rng = np.random.default_rng(800 + seed)
    n, h, w, c = 1, int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    fh, fw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    m = Model()
    x, y = quant_tensor(m, "x", (n, h, w, c), 0.1, 7), quant_tensor(m, "y", (n, h * fh, w * fw, c), 0.1, 7)
    m.op("RESIZE_NEAREST_NEIGHBOR", [x, int32_const(m, "size", [h * fh, w * fw])], [y], half_pixel_centers=bool(seed % 2))
    m.inputs, m.outputs = [x], [y]
    q = check_one_op(tmp_path, m.bytes(), int8_inputs(rng, (n, h, w, c)), "resize")
    assert [nd.op for nd in q.nodes] == ["Upsample"]


def test_int8_concatenation_of_other_scales_is_refused_as_tflite_micro_refuses_it(tmp_path):
    m = Model()
    a, y = quant_tensor(m, "a", (1, 4), 0.1, 0), quant_tensor(m, "y", (1, 6), 0.2, 1)
    b = m.tensor("b", (1, 2), data=[[10, 20]], scale=0.5, zp=3)
    m.op("CONCATENATION", [a, b], [y], axis=1)
    m.inputs, m.outputs = [a], [y]
    (tmp_path / "c.tflite").write_bytes(m.bytes())
    with pytest.raises(RuntimeError):
        runtime.Interpreter.from_bytes(m.bytes(), arena_size=1 << 14)          # TFLM: cannot allocate
    with pytest.raises(Exception) as e:
        tflite_graphs(str(tmp_path / "c.tflite"))
    assert "CONCATENATION of int8 tensors quantized unlike its output" in str(e.value)
