"""Stateful streaming .tflite models (resource variables) and the ops streaming wake-word models use,
bit-exact with TensorFlow Lite Micro.

The models are written here with tests/tflite_writer.py as the converter writes streaming keyword
spotters: an init subgraph run by CALL_ONCE assigns each variable its initial constant; the main
subgraph reads the variables (VAR_HANDLE + READ_VARIABLE), concatenates the new frame to the past
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
from tflite_writer import Model

from edgec import reference
from edgec.build import build
from edgec.importers.tflite import import_tflite
from edgec.verify import Built

STEPS = 120
CLI = [sys.executable, "-m", "edgec.cli.main"]


def tflm_stream(model: bytes, xs: np.ndarray, reset_each: bool = False) -> np.ndarray:
    """TFLM's outputs for xs fed in order to one interpreter (its variables carried between invocations),
    or to a fresh interpreter each (`reset_each`)."""
    it = None
    outs = []
    for x in xs:
        if it is None or reset_each:
            it = runtime.Interpreter.from_bytes(model, arena_size=1 << 16)
        it.set_input(x.reshape(it.get_input_details(0)["shape"]), 0)
        it.invoke()
        outs.append(it.get_output(0).copy())
    return np.stack(outs)


def _q(m, name, shape, scale, zp, dtype=np.int8):
    return m.tensor(name, shape, dtype, scale=scale, zp=zp)


def _weights(m, name, shape, rng, axis, channels):
    return m.tensor(name, shape, data=rng.integers(-127, 128, shape).astype(np.int8),
                    scale=rng.uniform(0.004, 0.03, channels), axis=axis)


def _bias(m, name, n, rng):
    return m.tensor(name, (n,), np.int32, data=rng.integers(-2000, 2000, n))


def _i32(m, name, values):
    return m.tensor(name, None, np.int32, data=np.asarray(values, np.int32))


def _variable(m, init_sg, name, shape, scale, zp, init):
    """A resource variable: its VAR_HANDLE + ASSIGN_VARIABLE of `init` in the init subgraph, and its handle
    and READ_VARIABLE in the main one; returns (handle tensor, read tensor)."""
    h0 = init_sg.tensor(f"{name}_h0", (), "resource")
    c = init_sg.tensor(f"{name}_init", shape, data=init, scale=scale, zp=zp)
    init_sg.op("VAR_HANDLE", [], [h0], shared_name=name)
    init_sg.op("ASSIGN_VARIABLE", [h0, c], [])
    h = m.tensor(f"{name}_h", (), "resource")
    r = _q(m, f"{name}_read", shape, scale, zp)
    m.op("VAR_HANDLE", [], [h], shared_name=name)
    m.op("READ_VARIABLE", [h], [r])
    return h, r


def wake_word_model(seed: int) -> bytes:
    """A streaming wake-word detector in the shape of the ones shipped to ESP32 firmware, with the op set
    of issue 19's first finding: each call takes one frame of 12 features; a ring buffer (state 1) keeps
    the last 2 frames, a conv over 3 frames (VALID in time) gives 16 channels, a second ring buffer
    (state 2, of conv outputs, sliced with masks and a negative begin) feeds a depthwise conv over 4
    steps, SPLIT_V cuts the 16 channels in 10 + 6 that a CONCATENATION puts back in the other order,
    a fully connected layer gives 2 logits, LOGISTIC, and a QUANTIZE to a uint8 output (scale 1/256,
    zero point 0: the converter's uint8 output)."""
    rng = np.random.default_rng(seed)
    m = Model()
    init = m.subgraph()
    x = _q(m, "frame", (1, 1, 1, 12), 0.08, -3)
    m.op("CALL_ONCE", [], [], init_subgraph_index=1)
    h1, s1 = _variable(m, init, "stream", (1, 2, 1, 12), 0.08, -3, np.full((1, 2, 1, 12), -3))
    cat1 = _q(m, "stream/concat", (1, 3, 1, 12), 0.08, -3)
    m.op("CONCATENATION", [s1, x], [cat1], axis=1)
    keep1 = _q(m, "stream/keep", (1, 2, 1, 12), 0.08, -3)
    m.op("STRIDED_SLICE", [cat1, _i32(m, "b1", [0, 1, 0, 0]), _i32(m, "e1", [1, 3, 1, 12]), _i32(m, "st1", [1, 1, 1, 1])],
         [keep1])
    m.op("ASSIGN_VARIABLE", [h1, keep1], [])
    c1 = _q(m, "conv", (1, 1, 1, 16), 0.05, -128)
    m.op("CONV_2D", [cat1, _weights(m, "w1", (16, 3, 1, 12), rng, 0, 16), _bias(m, "b_c1", 16, rng)], [c1],
         padding=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=1)
    h2, s2 = _variable(m, init, "stream_1", (1, 3, 1, 16), 0.05, -128,
                       rng.integers(-128, -100, (1, 3, 1, 16)))            # a non-trivial initial state
    cat2 = _q(m, "stream_1/concat", (1, 4, 1, 16), 0.05, -128)
    m.op("CONCATENATION", [s2, c1], [cat2], axis=1)
    keep2 = _q(m, "stream_1/keep", (1, 3, 1, 16), 0.05, -128)
    m.op("STRIDED_SLICE", [cat2, _i32(m, "b2", [0, -3, 0, 0]), _i32(m, "e2", [0, 0, 0, 0]), _i32(m, "st2", [1, 1, 1, 1])],
         [keep2], begin_mask=0b1101, end_mask=0b1111)
    m.op("ASSIGN_VARIABLE", [h2, keep2], [])
    d1 = _q(m, "dw", (1, 1, 1, 16), 0.04, -20)
    m.op("DEPTHWISE_CONV_2D", [cat2, _weights(m, "w2", (1, 4, 1, 16), rng, 3, 16), _bias(m, "b_d1", 16, rng)], [d1],
         padding=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, depth_multiplier=1, act=0)
    a, b = _q(m, "split_a", (1, 1, 1, 10), 0.04, -20), _q(m, "split_b", (1, 1, 1, 6), 0.04, -20)
    m.op("SPLIT_V", [d1, _i32(m, "sizes", [10, -1]), _i32(m, "axis", [3])], [a, b], num_splits=2)
    ba = _q(m, "swapped", (1, 1, 1, 16), 0.04, -20)
    m.op("CONCATENATION", [b, a], [ba], axis=-1)
    f1 = _q(m, "logits", (1, 2), 0.12, 10)
    m.op("FULLY_CONNECTED", [ba, _weights(m, "w3", (2, 16), rng, 0, 2), _bias(m, "b_f1", 2, rng)], [f1], act=0)
    p = _q(m, "prob", (1, 2), 1 / 256, -128)
    m.op("LOGISTIC", [f1], [p])
    y = _q(m, "prob_u8", (1, 2), 1 / 256, 0, dtype=np.uint8)
    m.op("QUANTIZE", [p], [y])
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


def _frames(n, shape, seed):
    """A stream of int8 frames: a slow wave (so successive frames are related) plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    wave = 60 * np.sin(t / 7.0 + np.arange(int(np.prod(shape)))[None, :] / 3.0)
    return np.clip(wave + rng.normal(0, 25, wave.shape), -128, 127).astype(np.int8).reshape((n,) + tuple(shape))


@pytest.fixture(scope="module")
def wake_word(tmp_path_factory):
    d = tmp_path_factory.mktemp("wake")
    model = wake_word_model(3)
    (d / "ww.tflite").write_bytes(model)
    return d, model


def test_wake_word_stream_imports_with_its_state(wake_word):
    d, model = wake_word
    fgraph, q = import_tflite(str(d / "ww.tflite"))
    assert [s["variable"] for s in q.meta["state"]] == ["stream", "stream_1"]
    assert q.meta["edges"]["output"]["file_dtype"] == "uint8"
    xs = _frames(STEPS, (1, 1, 1, 12), 1)
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
    xs = _frames(STEPS, (1, 1, 1, 12), 2)
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
    xs = _frames(40, (1, 1, 1, 12), 3)
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
