"""int8 MEAN from .tflite, bit-exact with TensorFlow Lite Micro (reference_ops::QuantizedMeanOrSum: the sum
requantized by s_in / s_out with 1/count folded into the multiplier), over H,W of NHWC (global average
pooling, keep_dims or not) and over any run of adjacent axes; and a small classifier ending
CONV_2D -> MEAN -> FULLY_CONNECTED -> SOFTMAX, as converted Keras classifiers end, on the host and on the
emulated Cortex-M4.  Also int8 PRELU (TFLM's two multipliers) and RESIZE_BILINEAR (TFLM's Q10 taps), alone
on random shapes and inside a RESIZE_BILINEAR -> CONV_2D -> PRELU -> MEAN -> FC -> SOFTMAX variant."""
import numpy as np
import pytest

from conftest import require
from testkit.tflite_writer import Model
from testkit.tflite_models import int32_bias, int32_const, int8_weights, quant_tensor
from testkit.tflm import check_one_op, int8_inputs, tflm_stream

from edgec.compiler import reference
from edgec.driver.build import build, tflite_graphs
from edgec.verification.verify import Built


def _mean_model(shape, axes, keep, s_in, z_in, s_out, z_out):
    m = Model()
    out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    x, y = quant_tensor(m, "x", shape, s_in, z_in), quant_tensor(m, "y", out, s_out, z_out)
    m.op("MEAN", [x, int32_const(m, "axes", [a - len(shape) if k % 2 else a for k, a in enumerate(axes)])], [y],
         keep_dims=keep)
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


@pytest.mark.parametrize("seed", range(8))
def test_int8_mean_equals_tflite_micro(tmp_path, seed):
    """Random shapes, axes (H,W of NHWC or a run of adjacent axes, some given negative), keep_dims, scales
    and zero points (the same as the output's or not); the reference and the host C against TFLM."""
    rng = np.random.default_rng(900 + seed)
    rank = 4 if seed < 4 else int(rng.integers(2, 5))
    shape = tuple(int(d) for d in rng.integers(1, 9, rank))
    if seed < 4:
        axes = (1, 2)
    else:
        a0 = int(rng.integers(0, rank))
        axes = tuple(range(a0, min(rank, a0 + int(rng.integers(1, 3)))))
    s_in = float(rng.uniform(0.01, 0.2))
    same = seed % 4 == 3
    s_out, z_in = (s_in, int(rng.integers(-20, 20))) if same else (s_in * float(rng.uniform(0.1, 2.0)),
                                                                   int(rng.integers(-128, 128)))
    # the output zero point near where the means land (a saturated output would prove little)
    z_out = z_in if same else int(np.clip(round(s_in * z_in / s_out), -128, 127)) + int(rng.integers(-10, 10))
    model = _mean_model(shape, axes, bool(seed % 2), np.float32(s_in), z_in, np.float32(s_out), z_out)
    xs = int8_inputs(rng, shape)
    q = check_one_op(tmp_path, model, xs, "mean")
    assert [n.op for n in q.nodes] == ["Mean"]
    assert len(np.unique(tflm_stream(model, xs))) > 1


def test_int8_mean_of_a_large_image_and_tiny_ratio_equals_tflite_micro(tmp_path):
    """Counts that clamp TFLM's folding shift (count > 2^k, s_in / s_out tiny or large)."""
    rng = np.random.default_rng(5)
    for k, (shape, s_in, s_out) in enumerate((((1, 40, 37, 3), 0.5, 0.002), ((2, 3, 5, 6), 1e-4, 0.9),
                                              ((1, 64, 64, 2), 0.02, 0.02 / 3))):
        model = _mean_model(shape, (1, 2), k != 1, np.float32(s_in), 5, np.float32(s_out), -7)
        check_one_op(tmp_path, model, int8_inputs(rng, shape, 3), f"mean{k}")


def classifier_model(seed: int, keep: bool, prelu: bool = False) -> bytes:
    """CONV_2D (3x3, SAME, ReLU) -> MEAN over H,W -> FULLY_CONNECTED -> SOFTMAX: the tail of a converted
    Keras classifier (GlobalAveragePooling2D becomes MEAN, keep_dims false; a Reshape when it is true);
    with `prelu` the conv has no fused ReLU and a per-channel PRELU follows it (Keras PReLU), and the
    image comes in at half size through RESIZE_BILINEAR (half_pixel_centers)."""
    rng = np.random.default_rng(seed)
    m = Model()
    x = quant_tensor(m, "image", (1, 10, 12, 3), 0.02, -5)
    if prelu:
        small = quant_tensor(m, "small", (1, 5, 6, 3), 0.02, -5)
        m.op("RESIZE_BILINEAR", [small, int32_const(m, "size", [10, 12])], [x], half_pixel_centers=True)
    c = quant_tensor(m, "conv", (1, 10, 12, 8), 0.05, -20 if prelu else -128)
    m.op("CONV_2D", [x, int8_weights(m, "w1", (8, 3, 3, 3), rng, 0, 8), int32_bias(m, "b1", 8, rng)], [c],
         padding=0, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=0 if prelu else 1)
    if prelu:
        alpha = m.tensor("alpha", (1, 1, 8), data=rng.integers(-60, 128, (1, 1, 8)).astype(np.int8), scale=0.004,
                         zp=0)
        pr = quant_tensor(m, "prelu", (1, 10, 12, 8), 0.04, -60)
        m.op("PRELU", [c, alpha], [pr])
        c = pr
    g = quant_tensor(m, "gap", (1, 1, 1, 8) if keep else (1, 8), 0.03, -100)
    m.op("MEAN", [c, int32_const(m, "axes", [1, 2])], [g], keep_dims=keep)
    if keep:
        flat = quant_tensor(m, "flat", (1, 8), 0.03, -100)
        m.op("RESHAPE", [g, int32_const(m, "shape", [1, 8])], [flat])
        g = flat
    logits = quant_tensor(m, "logits", (1, 5), 0.1, 3)
    m.op("FULLY_CONNECTED", [g, int8_weights(m, "w2", (5, 8), rng, 0, 5, (0.002, 0.006) if prelu else (0.01, 0.03)), int32_bias(m, "b2", 5, rng)], [logits],
         act=0)
    p = quant_tensor(m, "prob", (1, 5), 1 / 256, -128)
    m.op("SOFTMAX", [logits], [p], beta=1.0)
    m.inputs, m.outputs = [small if prelu else x], [p]
    return m.bytes()


@pytest.mark.parametrize("target,keep,prelu", [("host", False, False), ("host", True, True),
                                               ("cortex-m4", False, False), ("cortex-m4", True, True)])
def test_classifier_conv_mean_fc_softmax_equals_tflite_micro(tmp_path, target, keep, prelu):
    require("cc") if target == "host" else require("arm-none-eabi-gcc", "qemu-system-arm")
    model = classifier_model(11, keep, prelu)
    path = tmp_path / "cls.tflite"
    path.write_bytes(model)
    _, q = tflite_graphs(str(path))
    assert "Mean" in [n.op for n in q.nodes] and ("PRelu" in [n.op for n in q.nodes]) == prelu
    rng = np.random.default_rng(3)
    xs = int8_inputs(rng, (1, 5, 6, 3) if prelu else (1, 10, 12, 3), 12)
    want = tflm_stream(model, xs)
    assert len(np.unique(want)) > 5
    assert np.array_equal(reference.run_batch(q, xs), want.reshape((12, 1, 5)))
    build(str(path), target, str(tmp_path / "out"))
    built = Built(str(tmp_path / "out"))
    got, ex = built.execute(target, xs)
    assert np.array_equal(got, want.reshape(got.shape))
    if target == "cortex-m4":
        assert not ex.float_helpers


def test_int8_mean_over_axes_apart_is_refused_in_one_line(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "m.tflite"
    path.write_bytes(_mean_model((1, 3, 4, 5), (1, 3), True, np.float32(0.1), 0, np.float32(0.1), 0))
    r = subprocess.run([sys.executable, "-m", "edgec.cli.main", "build", str(path), "--target", "host",
                        "--output", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "int8 MEAN over axes [1, -1] of a rank-4 tensor" in r.stderr


# ---------------------------------------------------------------------------------------------
# int8 PRELU: TFLite Micro's two multipliers


@pytest.mark.parametrize("seed", range(6))
def test_int8_prelu_equals_tflite_micro(tmp_path, seed):
    """Per-channel alpha (Keras PReLU with shared_axes [1, 2]), per-element alpha (no shared axes) and
    one alpha, random scales and zero points; alpha takes negative and positive slopes."""
    rng = np.random.default_rng(1000 + seed)
    shape = (1,) + tuple(int(d) for d in rng.integers(1, 7, 3))
    a_shape = [(shape[3],), (1, 1, shape[3]), shape[1:], (1,)][seed % 4]
    m = Model()
    x, y = quant_tensor(m, "x", shape, np.float32(rng.uniform(0.01, 0.1)), int(rng.integers(-50, 50))), \
        quant_tensor(m, "y", shape, np.float32(rng.uniform(0.01, 0.1)), int(rng.integers(-50, 50)))
    alpha = m.tensor("alpha", a_shape, data=rng.integers(-128, 128, a_shape).astype(np.int8),
                     scale=np.float32(rng.uniform(0.001, 0.01)), zp=int(rng.integers(-20, 20)))
    m.op("PRELU", [x, alpha], [y])
    m.inputs, m.outputs = [x], [y]
    model = m.bytes()
    xs = int8_inputs(rng, shape, 4)
    q = check_one_op(tmp_path, model, xs, "prelu")
    assert [n.op for n in q.nodes] == ["PRelu"]
    assert len(np.unique(tflm_stream(model, xs))) > 5


def test_int8_prelu_alpha_edgec_cannot_broadcast_is_refused(tmp_path):
    from edgec.compiler.errors import UnsupportedOpError
    m = Model()
    x, y = quant_tensor(m, "x", (1, 3, 4, 5), 0.05, 0), quant_tensor(m, "y", (1, 3, 4, 5), 0.05, 0)
    alpha = m.tensor("alpha", (3, 1, 5), data=np.ones((3, 1, 5), np.int8), scale=0.01, zp=0)
    m.op("PRELU", [x, alpha], [y])
    m.inputs, m.outputs = [x], [y]
    (tmp_path / "p.tflite").write_bytes(m.bytes())
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(str(tmp_path / "p.tflite"))
    assert "PRELU with alpha of shape [3, 1, 5] for input [1, 3, 4, 5]" in str(e.value)


# ---------------------------------------------------------------------------------------------
# int8 RESIZE_BILINEAR: edgec's Resize with TFLite Micro's Q10 taps


@pytest.mark.parametrize("seed", range(9))
def test_int8_resize_bilinear_equals_tflite_micro(tmp_path, seed):
    """Up and down by any size (not only whole factors), with align_corners, half_pixel_centers or neither."""
    rng = np.random.default_rng(1100 + seed)
    n, h, w, c = int(rng.integers(1, 3)), int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 4))
    oh, ow = int(rng.integers(1, 13)), int(rng.integers(1, 13))
    flags = [{}, {"align_corners": True}, {"half_pixel_centers": True}][seed % 3]
    m = Model()
    x, y = quant_tensor(m, "x", (n, h, w, c), 0.1, 7), quant_tensor(m, "y", (n, oh, ow, c), 0.1, 7)
    m.op("RESIZE_BILINEAR", [x, int32_const(m, "size", [oh, ow])], [y], **flags)
    m.inputs, m.outputs = [x], [y]
    q = check_one_op(tmp_path, m.bytes(), int8_inputs(rng, (n, h, w, c), 4), "bilinear")
    assert [nd.op for nd in q.nodes] == ["Resize"] and q.nodes[0].attrs["mode"] == "tflm"


@pytest.mark.parametrize("flags", [{}, {"align_corners": True}, {"half_pixel_centers": True}])
def test_float_resize_bilinear_imports_as_tflite_micro_runs_it(tmp_path, flags):
    """A float RESIZE_BILINEAR becomes Resize (linear, TF's coordinates) and agrees with TFLM's float
    kernel to float rounding."""
    rng = np.random.default_rng(7)
    m = Model()
    x, y = m.tensor("x", (1, 4, 5, 2), np.float32), m.tensor("y", (1, 7, 9, 2), np.float32)
    m.op("RESIZE_BILINEAR", [x, int32_const(m, "size", [7, 9])], [y], **flags)
    m.inputs, m.outputs = [x], [y]
    model = m.bytes()
    (tmp_path / "f.tflite").write_bytes(model)
    f, q = tflite_graphs(str(tmp_path / "f.tflite"))
    assert q is None and [n.op for n in f.nodes] == ["Resize"]
    xs = rng.normal(0, 1, (3, 1, 4, 5, 2)).astype(np.float32)
    want = tflm_stream(model, xs)
    got = reference.run_batch(f, xs)
    assert np.abs(got - want.reshape(got.shape)).max() < 1e-5


def test_float_model_with_resize_bilinear_and_mean_keeps_its_float_agreement(tmp_path):
    """A float .tflite CONV_2D -> PRELU -> RESIZE_BILINEAR (half_pixel_centers) -> MEAN (keep_dims) -> RESHAPE -> FC,
    quantized from --calibration: the C equals the integer reference and stays >= 25 dB from TFLM's float."""
    from edgec.verification.verify import sqnr_db
    require("cc")
    rng = np.random.default_rng(21)
    m = Model()
    f = np.float32
    x, c1, up = m.tensor("x", (1, 6, 6, 2), f), m.tensor("c1", (1, 6, 6, 8), f), m.tensor("up", (1, 11, 9, 8), f)
    m.op("CONV_2D", [x, m.tensor("w1", None, f, data=rng.normal(0, 0.3, (8, 3, 3, 2)).astype(f)),
                     m.tensor("b1", None, f, data=rng.normal(0, 0.1, 8).astype(f))], [c1],
         padding=0, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=0)
    pr = m.tensor("pr", (1, 6, 6, 8), f)
    m.op("PRELU", [c1, m.tensor("alpha", None, f, data=rng.uniform(-0.5, 0.5, (1, 1, 8)).astype(f))], [pr])
    m.op("RESIZE_BILINEAR", [pr, int32_const(m, "size", [11, 9])], [up], half_pixel_centers=True)
    g, flat, y = m.tensor("g", (1, 1, 1, 8), f), m.tensor("flat", (1, 8), f), m.tensor("y", (1, 4), f)
    m.op("MEAN", [up, int32_const(m, "axes", [1, 2])], [g], keep_dims=True)
    m.op("RESHAPE", [g, int32_const(m, "shape", [1, 8])], [flat])
    m.op("FULLY_CONNECTED", [flat, m.tensor("w2", None, f, data=rng.normal(0, 0.5, (4, 8)).astype(f)),
                             m.tensor("b2", None, f, data=np.zeros(4, f))], [y], act=0)
    m.inputs, m.outputs = [x], [y]
    model = m.bytes()
    (tmp_path / "m.tflite").write_bytes(model)
    cal = rng.normal(0, 1, (64, 1, 6, 6, 2)).astype(f)
    xs = rng.normal(0, 1, (40, 1, 6, 6, 2)).astype(f)
    want = tflm_stream(model, xs).reshape(len(xs), 4)
    fgraph, _ = tflite_graphs(str(tmp_path / "m.tflite"))           # the float import runs as TFLM's float kernels
    assert np.allclose(reference.run_batch(fgraph, xs).reshape(want.shape), want, rtol=1e-5, atol=1e-5)
    np.save(tmp_path / "cal.npy", cal)
    build(str(tmp_path / "m.tflite"), "host", str(tmp_path / "out"), calibration=str(tmp_path / "cal.npy"))
    built = Built(str(tmp_path / "out"))
    q_in = built.quantize_input(xs.reshape((len(xs),) + tuple(built.input_shape)))
    got, _ = built.execute("host", q_in)
    assert np.array_equal(got, reference.run_batch(built.int_graph, q_in))
    sqnr = sqnr_db(want, built.dequantize_output(got).reshape(want.shape))
    assert "PRelu" in [n.op for n in built.int_graph.nodes]
    print(f"float CONV -> PRELU -> RESIZE_BILINEAR -> MEAN -> FC after quantization vs TFLM float: SQNR {sqnr:.1f} dB")
    assert sqnr >= 25


@pytest.mark.parametrize("axes,keep", [((3,), True), ((1,), False), ((2, 3), True)])
def test_float_mean_over_other_axes_is_quantized_as_tflite_micro_computes_it(tmp_path, axes, keep):
    """A float MEAN over axes other than H,W becomes the Mean op: it matches TFLM's float MEAN, and after
    quantization from --calibration the C equals the integer reference and keeps >= 30 dB."""
    from edgec.verification.verify import sqnr_db
    require("cc")
    rng = np.random.default_rng(31)
    f = np.float32
    shape = (1, 5, 6, 7)
    out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    m = Model()
    x, y = m.tensor("x", shape, f), m.tensor("y", out, f)
    m.op("MEAN", [x, int32_const(m, "axes", list(axes))], [y], keep_dims=keep)
    m.inputs, m.outputs = [x], [y]
    model = m.bytes()
    (tmp_path / "m.tflite").write_bytes(model)
    fgraph, _ = tflite_graphs(str(tmp_path / "m.tflite"))
    assert [n.op for n in fgraph.nodes] == ["Mean"]
    xs = (rng.normal(0, 1, (30,) + shape) + np.linspace(-1, 1, 7).astype(f)).astype(f)
    want = tflm_stream(model, xs)
    assert np.allclose(reference.run_batch(fgraph, xs).reshape(want.shape), want, rtol=1e-5, atol=1e-6)
    np.save(tmp_path / "cal.npy", xs[:20])
    build(str(tmp_path / "m.tflite"), "host", str(tmp_path / "out"), calibration=str(tmp_path / "cal.npy"))
    built = Built(str(tmp_path / "out"))
    q_in = built.quantize_input(xs.reshape((len(xs),) + tuple(built.input_shape)))
    got, _ = built.execute("host", q_in)
    assert np.array_equal(got, reference.run_batch(built.int_graph, q_in))
    sqnr = sqnr_db(want.reshape(got.shape), built.dequantize_output(got))
    print(f"float MEAN over {axes} after quantization vs TFLM float: SQNR {sqnr:.1f} dB")
    assert sqnr >= 30
