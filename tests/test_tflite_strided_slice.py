"""STRIDED_SLICE with strides other than 1 (negative too), begin / end / shrink masks, bit-exact with
TensorFlow Lite Micro on random shapes: the integer reference and the host C (and one on the emulated
Cortex-M4).  edgec evaluates TFLite Micro's index logic at import (compiler/strided_slice.py), including
where it differs from TensorFlow's (a shrink axis with its begin_mask bit starts at the first element);
masks TFLite Micro ignores (ellipsis, new axis) and `offset` are refused with one line."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from testkit.tflite_models import int32_const, quant_tensor
from testkit.tflm import check_one_op, int8_inputs, tflm_stream
from testkit.tflite_writer import Model

from edgec.compiler import reference
from edgec.driver.build import build, tflite_graphs
from edgec.verification.verify import Built


def _tflm_slice(shape, begin, end, strides, bmask, emask, shrink):
    """numpy's view of TFLite Micro's slice (its StartForAxis / StopForAxis), to size the output tensor."""
    idx = []
    for i, d in enumerate(shape):
        k = strides[i]
        lo, hi = (0, d) if k > 0 else (-1, d - 1)
        b = (-(1 << 31) if k > 0 else (1 << 31) - 1) if bmask >> i & 1 else begin[i]
        b = min(max(b + d if b < 0 else b, lo), hi)
        if shrink >> i & 1:
            idx.append(b)
            continue
        e = ((1 << 31) - 1 if k > 0 else -(1 << 31)) if emask >> i & 1 else end[i]
        e = min(max(e + d if e < 0 else e, lo), hi)
        idx.append(np.arange(b, e, k))
    return idx


def random_slice(rng, rank):
    while True:
        shape = tuple(int(d) for d in rng.integers(1, 7, rank))
        strides = [int(rng.choice([-3, -2, -1, 1, 2, 3])) for _ in shape]
        if all(k == 1 for k in strides):
            continue
        begin = [int(rng.integers(-d - 1, d + 1)) for d in shape]
        end = [int(rng.integers(-d - 1, d + 2)) for d in shape]
        bmask, emask = int(rng.integers(0, 1 << rank)), int(rng.integers(0, 1 << rank))
        shrink = int(rng.integers(0, 1 << rank)) if rng.random() < 0.4 else 0
        strides = [abs(k) if shrink >> i & 1 else k for i, k in enumerate(strides)]   # TFLM writes nothing else
        if all(k == 1 for k in strides):
            continue
        idx = _tflm_slice(shape, begin, end, strides, bmask, emask, shrink)
        if any(np.ndim(i) == 0 and not 0 <= i < d for i, d in zip(idx, shape)):
            continue
        ranges = [np.atleast_1d(i) for i in idx]
        if any(r.size == 0 for r in ranges) or all(shrink >> i & 1 for i in range(rank)):
            continue
        out_shape = tuple(r.size for i, r in enumerate(ranges) if not shrink >> i & 1)
        want = np.arange(int(np.prod(shape))).reshape(shape)[np.ix_(*ranges)].reshape(out_shape)
        return shape, begin, end, strides, bmask, emask, shrink, out_shape, want


def slice_model(shape, begin, end, strides, out_shape, **masks) -> bytes:
    m = Model()
    x, y = quant_tensor(m, "x", shape, 0.1, 3), quant_tensor(m, "y", out_shape, 0.1, 3)
    m.op("STRIDED_SLICE", [x, int32_const(m, "b", begin), int32_const(m, "e", end), int32_const(m, "s", strides)], [y], **masks)
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


@pytest.mark.parametrize("seed", range(10))
def test_strided_slice_with_strides_equals_tflite_micro(tmp_path, seed):
    """Random rank-1..4 shapes, strides in +-1..3 (at least one not 1), begins and ends past either side,
    begin / end masks, shrink axes (with their begin_mask bits too)."""
    require("cc")
    rng = np.random.default_rng(900 + seed)
    shape, begin, end, strides, bmask, emask, shrink, out_shape, want = random_slice(rng, int(rng.integers(1, 5)))
    model = slice_model(shape, begin, end, strides, out_shape, begin_mask=bmask, end_mask=emask,
                        shrink_axis_mask=shrink)
    xs = int8_inputs(rng, shape)
    q = check_one_op(tmp_path, model, xs, f"strided_slice_{seed}")
    assert "StridedSlice" in [n.op for n in q.nodes]
    # the index logic itself: the sample's values at the positions numpy's view of TFLM's logic gives
    assert np.array_equal(reference.run_batch(q, xs)[0].reshape(-1), xs[0].reshape(-1)[want.reshape(-1)])


def test_strided_slice_shrink_axis_with_begin_mask_starts_at_the_first_element(tmp_path):
    """TFLite Micro's StartForAxis applies the begin_mask bit before the shrink: row 0, not row 3."""
    require("cc")
    model = slice_model((5, 4), [3, 3], [4, -5], [1, -1], (4,), begin_mask=1, shrink_axis_mask=1)
    xs = int8_inputs(np.random.default_rng(1), (5, 4))
    check_one_op(tmp_path, model, xs, "shrink_begin")
    path = tmp_path / "shrink_begin.tflite"
    _, q = tflite_graphs(str(path))
    assert np.array_equal(reference.run_batch(q, xs)[:, ::1], xs[:, 0, ::-1])


def test_strided_slice_on_cortex_m4_equals_tflite_micro(tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    rng = np.random.default_rng(77)
    shape, begin, end, strides, bmask, emask, shrink, out_shape, _ = random_slice(rng, 4)
    model = slice_model(shape, begin, end, strides, out_shape, begin_mask=bmask, end_mask=emask,
                        shrink_axis_mask=shrink)
    path = tmp_path / "ss.tflite"
    path.write_bytes(model)
    build(str(path), "cortex-m4", str(tmp_path / "out"))
    xs = int8_inputs(rng, shape, 8)
    got, ex = Built(str(tmp_path / "out")).execute("cortex-m4", xs)
    assert np.array_equal(got.reshape(-1), tflm_stream(model, xs).reshape(-1)) and not ex.float_helpers


@pytest.mark.parametrize("masks,what", [({"ellipsis_mask": 1}, "TFLite Micro ignores"),
                                        ({"offset": True}, "TFLite Micro ignores"),
                                        ({"shrink_axis_mask": 1}, "writes no output")])
def test_strided_slice_tflite_micro_does_not_compute_is_refused_in_one_line(tmp_path, masks, what):
    """Masks TFLite Micro ignores, and a shrink axis with a negative stride (its kernel leaves the output
    unwritten): one line on stderr, exit 2."""
    path = tmp_path / "bad.tflite"
    shrunk = "shrink_axis_mask" in masks
    path.write_bytes(slice_model((4, 6), [1 if shrunk else 0, 1], [2 if shrunk else 4, 5], [-1 if shrunk else 1, 2],
                                 (2,) if shrunk else (4, 2), **masks))
    r = subprocess.run([sys.executable, "-m", "edgec.cli.main", "build", str(path), "--target", "host", "-o",
                        str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("edgec: error")]
    assert len(errors) == 1 and "STRIDED_SLICE" in errors[0] and what in errors[0]


def test_strided_slice_c_compiles_warning_free_for_every_target_and_passes_cppcheck(tmp_path):
    from strict_c import compile_strictly_and_cppcheck
    shape, begin, end, strides, bmask, emask, shrink, out_shape, _ = random_slice(np.random.default_rng(77), 4)
    (tmp_path / "ss.tflite").write_bytes(slice_model(shape, begin, end, strides, out_shape, begin_mask=bmask,
                                                     end_mask=emask, shrink_axis_mask=shrink))
    build(str(tmp_path / "ss.tflite"), "host", str(tmp_path / "out"))
    compile_strictly_and_cppcheck(tmp_path / "out", tmp_path, [("host", "cc"), ("host", "clang"), ("cortex-m0", None),
                                                               ("cortex-m4", None), ("rv32imc", None), ("atmega328p", None)])


def test_float_strided_slice_is_quantized_and_bit_exact(tmp_path):
    """A float .tflite: CONV_2D -> STRIDED_SLICE (every second row backwards, every third column) ->
    FULLY_CONNECTED, imported float (TFLM's float STRIDED_SLICE exactly), quantized from calibration
    (the slice keeps its input's scale), and the host C equals the integer reference."""
    require("cc")
    rng = np.random.default_rng(4)
    m = Model()
    x = m.tensor("x", (1, 6, 7, 2), np.float32)
    w = m.tensor("w", (4, 3, 3, 2), np.float32, data=rng.normal(0, 0.4, (4, 3, 3, 2)))
    b = m.tensor("b", (4,), np.float32, data=rng.normal(0, 0.1, 4))
    c = m.tensor("c", (1, 6, 7, 4), np.float32)
    m.op("CONV_2D", [x, w, b], [c], padding=0, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=1)
    s = m.tensor("s", (1, 3, 3, 4), np.float32)
    m.op("STRIDED_SLICE", [c, int32_const(m, "b0", [0, -1, 0, 0]), int32_const(m, "e0", [1, -7, 7, 4]), int32_const(m, "s0", [1, -2, 3, 1])],
         [s], begin_mask=0b1001, end_mask=0b1001)
    fw = m.tensor("fw", (3, 36), np.float32, data=rng.normal(0, 0.2, (3, 36)))
    fb = m.tensor("fb", (3,), np.float32, data=np.zeros(3))
    y = m.tensor("y", (1, 3), np.float32)
    m.op("FULLY_CONNECTED", [s, fw, fb], [y], act=0)
    m.inputs, m.outputs = [x], [y]
    path = tmp_path / "f.tflite"
    path.write_bytes(m.bytes())
    fgraph, q = tflite_graphs(str(path))
    assert q is None and "StridedSlice" in [n.op for n in fgraph.nodes]
    xs = rng.normal(0, 1, (16, 1, 6, 7, 2)).astype(np.float32)
    want = np.stack([tflm_stream(m.bytes(), x[None], reset_each=True)[0] for x in xs])
    assert np.allclose(reference.run_batch(fgraph, xs), want.reshape(16, 1, 3), rtol=1e-5, atol=1e-5)
    np.save(tmp_path / "cal.npy", xs)
    report = build(str(path), "host", str(tmp_path / "out"), calibration=str(tmp_path / "cal.npy"))
    assert "StridedSlice" in [l["op"] for l in report["layers"]]
    built = Built(str(tmp_path / "out"))
    q_in = built.quantize_input(xs)
    got, _ = built.execute("host", q_in)
    assert np.array_equal(got, built.expected(q_in))
    f = reference.run_batch(fgraph, xs).reshape(got.shape)
    err = built.dequantize_output(got) - f
    sqnr = 10 * np.log10(np.sum(f ** 2) / np.sum(err ** 2))
    assert sqnr > 25                                                        # the float agreement survives int8
