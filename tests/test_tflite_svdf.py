"""TFLite SVDF (int8, TFLite Micro's integer arithmetic with its int16 activation state) streamed over 120
steps, bit-exact with TensorFlow Lite Micro at every step on the integer reference, the host C and the
emulated Cortex-M4.

An SVDF keeps the last `memory` features of each filter in a variable tensor that TFLite Micro carries
between invocations: edgec makes it a persistent state buffer (the resource variables' mechanism, reset()
puts back TFLM's zeros).  The models are written with testkit/tflite_writer.py on random shapes: rank 1 and
rank > 1, batch 1 and 2, with and without bias, fused RELU or none (TFLM's integer kernel applies no fused
activation; edgec computes what it computes), a state zero point other than 0, and a keyword-spotter
stack of two SVDFs and a FULLY_CONNECTED.  TFLM itself crashes on an SVDF without bias (its Prepare reads
the absent bias's scale): for those the oracle is the same model with a zero bias, what TFLM's kernel
computes when the bias is absent."""
import numpy as np
import pytest

from conftest import require
from testkit.tflm import tflm_stream
from testkit.tflite_writer import Model

from edgec.compiler import reference
from edgec.driver.build import build, tflite_graphs
from edgec.verification.verify import Built

STEPS = 120


def _svdf(m, rng, x, s_in, batch, n_in, filters, memory, rank, bias, act, state_zp, name, s_out, zp_out):
    """One SVDF layer on tensor x: its weights (int8 feature, int16 time), bias (or none), int16 state."""
    s_wf, s_st, s_wt = (float(rng.uniform(*r)) for r in ((0.002, 0.02), (0.004, 0.05), (0.00001, 0.00005)))
    wf = m.tensor(f"{name}/wf", (filters, n_in), data=rng.integers(-127, 128, (filters, n_in)), scale=s_wf)
    wt = m.tensor(f"{name}/wt", (filters, memory), np.int16, data=rng.integers(-8000, 8000, (filters, memory)),
                  scale=s_wt)
    units = filters // rank
    data = rng.integers(-3000, 3000, units) if bias == "random" else np.zeros(units)
    b = m.tensor(f"{name}/bias", (units,), np.int32, data=data, scale=np.float32(s_st) * np.float32(s_wt)) \
        if bias else -1
    st = m.tensor(f"{name}/state", (batch, filters * memory), np.int16, scale=s_st, zp=state_zp, variable=True)
    y = m.tensor(f"{name}/out", (batch, units), scale=s_out, zp=zp_out)
    m.op("SVDF", [x, wf, wt, b, st], [y], rank=rank, act=act)
    return y


def svdf_model(seed: int, bias: str | None, stack: bool = False) -> tuple[bytes, tuple]:
    """A random single SVDF (or, `stack`, SVDF -> SVDF -> FULLY_CONNECTED as a keyword spotter).  `bias`:
    "random", "zeros" (the no-bias oracle), None (no bias tensor)."""
    rng = np.random.default_rng(seed)
    batch = 1 + seed % 2
    n_in, memory = int(rng.integers(1, 12)), int(rng.integers(1, 9))
    rank = 1 if seed % 3 == 0 else int(rng.integers(2, 4))
    filters = rank * int(rng.integers(1, 7))
    act, state_zp = int(seed % 2), (0 if seed % 4 else int(rng.integers(-20, 20)))
    m = Model()
    x = m.tensor("x", (batch, n_in), scale=0.05, zp=int(rng.integers(-10, 10)))
    y = _svdf(m, rng, x, 0.05, batch, n_in, filters, memory, rank, bias, act, state_zp, "svdf", 0.08, -4)
    if stack:
        units = filters // rank
        y2 = _svdf(m, rng, y, 0.08, batch, units, 2 * rank, 4, rank, bias, 1, 0, "svdf_1", 0.05, 2)
        w = m.tensor("fc/w", (3, 2), data=rng.integers(-127, 128, (3, 2)), scale=0.01)
        fb = m.tensor("fc/b", (3,), np.int32, data=rng.integers(-500, 500, 3), scale=np.float32(0.05) * np.float32(0.01))
        y = m.tensor("logits", (batch, 3), scale=0.02, zp=0)
        m.op("FULLY_CONNECTED", [y2, w, fb], [y], act=0)
    m.inputs, m.outputs = [x], [y]
    return m.bytes(), (batch, n_in)


def _stream(shape, seed, n=STEPS):
    """int8 frames: a slow wave (successive frames related, as audio features are) plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    wave = 70 * np.sin(t / 5.0 + np.arange(int(np.prod(shape)))[None, :] / 2.0)
    return np.clip(wave + rng.normal(0, 30, wave.shape), -128, 127).astype(np.int8).reshape((n,) + tuple(shape))


CASES = [(seed, bias) for seed, bias in zip(range(8), ["random", "random", None, "random", "random", None,
                                                         "random", "random"])]


@pytest.mark.parametrize("seed,bias", CASES)
def test_svdf_reference_and_host_c_equal_tflite_micro_over_a_stream(tmp_path, seed, bias):
    model, shape = svdf_model(seed, bias)
    oracle = model if bias else svdf_model(seed, "zeros")[0]
    path = tmp_path / "svdf.tflite"
    path.write_bytes(model)
    _, q = tflite_graphs(str(path))
    assert [n.op for n in q.nodes] == ["SvdfState", "Svdf"] and q.state[0].init.dtype == np.int16
    xs = _stream(shape, seed)
    want = tflm_stream(oracle, xs)
    assert len(np.unique(want)) > 8
    got = reference.run_batch(q, xs)
    assert np.array_equal(got, want.reshape(got.shape))
    fresh = tflm_stream(oracle, xs[:20], reset_each=True)
    assert np.array_equal(reference.run_batch(q, xs[:20], stream=False), fresh.reshape(got[:20].shape))
    require("cc")
    report = build(str(path), "host", str(tmp_path / "out"))
    assert report["totals"]["state_bytes"] >= 2 * int(np.prod(q.tensors[q.state[0].tensor].shape))
    c, _ = Built(str(tmp_path / "out")).execute("host", xs)
    assert np.array_equal(c, want.reshape(c.shape)), "the C differs from TFLM"


@pytest.mark.parametrize("seed,bias", [(0, "random"), (5, None)])
def test_single_svdf_streams_on_cortex_m4_as_tflite_micro(tmp_path, seed, bias):
    """Rank 1 with bias, no activation and a state zero point of its own (seed 0); rank > 1 without bias,
    RELU fused (seed 5): 120 steps on the emulated Cortex-M4."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    model, shape = svdf_model(seed, bias)
    oracle = model if bias else svdf_model(seed, "zeros")[0]
    path = tmp_path / "svdf.tflite"
    path.write_bytes(model)
    build(str(path), "cortex-m4", str(tmp_path / "out"))
    built = Built(str(tmp_path / "out"))
    xs = _stream(shape, 20 + seed)
    want = tflm_stream(oracle, xs).reshape((STEPS,) + tuple(built.output_shape))
    got, ex = built.execute("cortex-m4", xs)
    assert np.array_equal(got, want) and not ex.float_helpers


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_svdf_stack_streams_bit_exact_with_tflite_micro(tmp_path, target):
    """Two SVDFs (rank 2, RELU fused) and a FULLY_CONNECTED, 120 steps of one stream on host and QEMU M4;
    --reset-each runs each frame from the zero state as a fresh TFLM interpreter does."""
    require("cc") if target == "host" else require("arm-none-eabi-gcc", "qemu-system-arm")
    model, shape = svdf_model(7, "random", stack=True)
    path = tmp_path / "kws.tflite"
    path.write_bytes(model)
    report = build(str(path), target, str(tmp_path / "out"))
    assert [s["variable"] for s in report["state"]] == ["svdf/state", "svdf_1/state"]
    state = [l for l in report["layers"] if l["op"] in ("SvdfState", "Svdf")]
    # MACs: the feature (batch x filters x inputs) and the time products (batch x filters x memory) per layer
    assert [l["macs"] for l in state] == [2 * 18 * 11, 2 * 18 * 6, 2 * 6 * 6, 2 * 6 * 4]
    assert report["totals"]["state_bytes"] == 2 * (2 * 18 * 6 + 2 * 6 * 4)
    header = (tmp_path / "out" / "model.h").read_text()
    assert "void edgec_kws_reset(void);" in header
    built = Built(str(tmp_path / "out"))
    xs = _stream(shape, 11)
    want = tflm_stream(model, xs).reshape((STEPS,) + tuple(built.output_shape))
    assert len(np.unique(want)) > 8
    got, ex = built.execute(target, xs)
    assert np.array_equal(got, want)
    if target == "cortex-m4":
        assert not ex.float_helpers
    fresh = tflm_stream(model, xs[:25], reset_each=True).reshape((25,) + tuple(built.output_shape))
    got, _ = built.execute(target, xs[:25], reset_each=True)
    assert np.array_equal(got, fresh) and not np.array_equal(fresh, want[:25])


def test_svdf_tflite_micro_would_not_run_as_edgec_does_is_refused_in_one_line(tmp_path):
    """An SVDF with int8 time weights and state (TFLM's other variant, not the converter's) and one whose
    state does not fit its weights: every reason, one line on stderr, exit 2."""
    import subprocess
    import sys
    rng = np.random.default_rng(5)
    m = Model()
    x = m.tensor("x", (1, 3), scale=0.05, zp=0)
    wf = m.tensor("wf", (4, 3), data=rng.integers(-127, 128, (4, 3)), scale=0.01)
    wt8 = m.tensor("wt8", (4, 2), data=rng.integers(-127, 128, (4, 2)), scale=0.01)
    st8 = m.tensor("st8", (1, 8), scale=0.02, zp=0, variable=True)
    y1 = m.tensor("y1", (1, 2), scale=0.05, zp=0)
    m.op("SVDF", [x, wf, wt8, -1, st8], [y1], rank=2)
    wt = m.tensor("wt", (4, 2), np.int16, data=rng.integers(-99, 99, (4, 2)), scale=0.001)
    st = m.tensor("st", (1, 7), np.int16, scale=0.02, zp=0, variable=True)
    y = m.tensor("y", (1, 2), scale=0.05, zp=0)
    m.op("SVDF", [x, wf, wt, -1, st], [y], rank=2)
    m.inputs, m.outputs = [x], [y]
    path = tmp_path / "bad.tflite"
    path.write_bytes(m.bytes())
    r = subprocess.run([sys.executable, "-m", "edgec.cli.main", "build", str(path), "--target", "host", "-o",
                        str(tmp_path / "out")], capture_output=True, text=True)
    errors = [line for line in r.stderr.splitlines() if line.startswith("edgec: error")]
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(errors) == 1
    assert "int16 state" in errors[0] and "do not fit its input" in errors[0]


def test_svdf_c_compiles_warning_free_for_every_target_and_passes_cppcheck(tmp_path):
    """The SVDF kernels and the int16 state copy under -Wconversion -Wcast-align -Werror for the host (gcc
    and clang), Cortex-M0/M4, RV32IMC and the ATmega328P (16-bit int), and cppcheck."""
    from strict_c import compile_strictly_and_cppcheck
    model, _ = svdf_model(7, "random", stack=True)
    (tmp_path / "kws.tflite").write_bytes(model)
    build(str(tmp_path / "kws.tflite"), "host", str(tmp_path / "out"))
    compile_strictly_and_cppcheck(tmp_path / "out", tmp_path, [("host", "cc"), ("host", "clang"), ("cortex-m0", None),
                                                               ("cortex-m4", None), ("rv32imc", None), ("atmega328p", None)])


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_svdf_beside_a_resource_variable_shares_the_state_buffer(tmp_path, target):
    """A resource variable (int8, the previous frame, from an init subgraph's non-zero constant) and an SVDF's
    int16 state in one state buffer: CONCATENATION of the previous and the new frame into an SVDF, 120 steps
    against TFLM; reset-each too."""
    require("cc") if target == "host" else require("arm-none-eabi-gcc", "qemu-system-arm")
    from testkit.tflite_models import resource_variable
    rng = np.random.default_rng(31)
    m = Model()
    init = m.subgraph()
    x = m.tensor("frame", (1, 6), scale=0.05, zp=2)
    m.op("CALL_ONCE", [], [], init_subgraph_index=1)
    h, prev = resource_variable(m, init, "prev", (1, 6), 0.05, 2, rng.integers(-60, 60, (1, 6)))
    both = m.tensor("both", (1, 12), scale=0.05, zp=2)
    m.op("CONCATENATION", [prev, x], [both], axis=1)
    m.op("ASSIGN_VARIABLE", [h, x], [])
    y = _svdf(m, rng, both, 0.05, 1, 12, 6, 5, 2, "random", 0, 0, "svdf", 0.05, 0)
    m.inputs, m.outputs = [x], [y]
    model = m.bytes()
    path = tmp_path / "mixed.tflite"
    path.write_bytes(model)
    report = build(str(path), target, str(tmp_path / "out"))
    assert [(s["variable"], s["bytes"]) for s in report["state"]] == [("prev", 6), ("svdf/state", 2 * 6 * 5)]
    built = Built(str(tmp_path / "out"))
    xs = _stream((1, 6), 8)
    want = tflm_stream(model, xs).reshape((STEPS,) + tuple(built.output_shape))
    assert len(np.unique(want)) > 8
    got, _ = built.execute(target, xs)
    assert np.array_equal(got, want)
    fresh = tflm_stream(model, xs[:20], reset_each=True).reshape((20,) + tuple(built.output_shape))
    got, _ = built.execute(target, xs[:20], reset_each=True)
    assert np.array_equal(got, fresh)
