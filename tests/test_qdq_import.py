"""Pre-quantized ONNX models (QDQ and QOperator) imported with their own scales and zero points.

- The MLPerf Tiny QDQ models (converted from the int8 .tflite files) build without calibration and
  their C output equals TensorFlow Lite Micro's on the .tflite, bit for bit: real inputs plus 100
  random ones on the host, real plus random ones in QEMU's Cortex-M4.
- Models quantized here by onnxruntime's own quantizer (quantize_static, QOperator and QDQ formats,
  int8 per-channel) from float models built with onnx.helper: every quantized op is within 1 LSB of
  onnxruntime (which requantizes in float; edgec in Q31 fixed point, as TFLite), except an average
  pool that changes scale (onnxruntime's QLinearAveragePool): edgec averages in the input's scale then
  requantizes, two roundings, within 2 LSB.  The generated C equals edgec's integer reference.
- What cannot be imported is refused in one line that names the node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import DATA, data, extra, require
from testkit.tflm import random_inputs, tflm_run

from edgec.compiler import reference
from edgec.driver.build import build
from edgec.compiler.errors import EdgecError
from edgec.verification.verify import Built

#: QDQ model -> (the .tflite it was converted from, real float inputs in the model's input layout)
MLPERF = {
    "kws_ref_model_qdq.onnx": ("kws_ref_model.tflite", lambda: np.concatenate([data("kws_input_float_dequant.npy"),
                                                                              extra("kws_shift")[:8]])),
    "vww_96_int8_qdq.onnx": ("vww_96_int8.tflite", lambda: data("vww_input_float_0to1_NHWC.npy")),
    "pretrainedResnet_quant_qdq.onnx": ("pretrainedResnet_quant.tflite",
                                        lambda: data("ic_input_float_0to255_NHWC.npy")),
}


@pytest.fixture(scope="module")
def mlperf(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            out = tmp_path_factory.mktemp(name.split(".")[0]) / "out"
            report = build(str(DATA / name), "cortex-m4", str(out))
            assert report["calibration_samples"] == 0
            assert report["quantization"] == "from the model's QuantizeLinear/DequantizeLinear nodes"
            b = Built(str(out))
            real = b.quantize_input(MLPERF[name][1]().reshape((-1,) + tuple(b.input_shape)))
            cache[name] = (b, (DATA / MLPERF[name][0]).read_bytes(), real)
        return cache[name]
    return get


@pytest.mark.parametrize("name", MLPERF)
def test_qdq_host_c_equals_tflite_micro(mlperf, name):
    require("cc")
    built, tflite, real = mlperf(name)
    q_in = np.concatenate([real, random_inputs(built, 100, 11)])
    want = tflm_run(tflite, q_in).reshape((len(q_in),) + tuple(built.output_shape))
    got, _ = built.execute("host", q_in)
    diff = (got != want).reshape(len(q_in), -1).any(axis=1)
    assert not diff.any(), f"{name}: {int(diff.sum())} of {len(q_in)} samples differ from TFLM"
    assert len(np.unique(want)) > 10                               # not a saturated output


@pytest.mark.parametrize("name", MLPERF)
def test_qdq_cortex_m4_c_equals_tflite_micro(mlperf, name):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    built, tflite, real = mlperf(name)
    q_in = np.concatenate([real, random_inputs(built, 12, 12)])
    want = tflm_run(tflite, q_in).reshape((len(q_in),) + tuple(built.output_shape))
    got, ex = built.execute("cortex-m4", q_in)
    assert np.array_equal(got, want)
    assert not ex.float_helpers


def test_qdq_keeps_the_files_scales(mlperf):
    """The input, output and every weight scale are the file's, not recomputed."""
    built, _, _ = mlperf("kws_ref_model_qdq.onnx")
    g = built.int_graph
    x, y = g.tensors[g.inputs[0]].quant, g.tensors[g.outputs[0]].quant
    assert (np.float32(x.scalar_scale), x.scalar_zp) == (np.float32(0.5847029), 83)
    assert (y.scalar_scale, y.scalar_zp) == (1 / 256, -128)
    model = onnx.load(str(DATA / "kws_ref_model_qdq.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    given = {tuple(np.round(np.asarray(inits[n.input[1]], np.float64).reshape(-1), 12)) for n in model.graph.node
             if n.op_type == "DequantizeLinear" and inits.get(n.input[0]) is not None and inits[n.input[0]].dtype == np.int8
             and inits[n.input[0]].ndim >= 2}
    used = [tuple(np.round(np.asarray(g.tensors[n.inputs[1]].quant.scale, np.float64).reshape(-1), 12))
            for n in g.nodes if n.op in ("Conv2D", "FullyConnected")]
    assert len(used) == 10 and all(u in given or len(set(u)) == 1 and (u[0],) in given for u in used)


# ---------------------------------------------------------------------------------------------
# models quantized by onnxruntime's quantizer


def _float_model(nodes, inits, in_shape, out_shape):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _ort_quantize(model, path, xs, fmt, activations="QInt8"):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": x[None]} for x in xs])

        def get_next(self):
            return next(self.it, None)
    float_path = str(path) + ".float.onnx"
    onnx.save(model, float_path)
    quantize_static(float_path, str(path), Reader(), quant_format=getattr(QuantFormat, fmt),
                    activation_type=getattr(QuantType, activations), weight_type=QuantType.QInt8, per_channel=True)
    return str(path)


def _ort_vs_edgec(path, xs, tmp_path, target="host"):
    """(edgec's int8 outputs, onnxruntime's outputs requantized to int8, the built model)."""
    import onnxruntime as ort
    out = tmp_path / "out"
    build(path, target, str(out))
    b = Built(str(out))
    opts = ort.SessionOptions()         # QDQ as written (DQ -> float op -> Q): fused, onnxruntime's x86 int8
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL     # kernels saturate 16-bit pairs
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {"x": x[None]})[0] for x in xs])
    q = b.int_graph.tensors[b.int_graph.outputs[0]].quant
    want_q = np.clip(np.round(want / float(q.scalar_scale)) + int(q.scalar_zp), -128, 127).astype(np.int64)
    got = reference.run_batch(b.int_graph, b.quantize_input(xs.reshape((len(xs),) + tuple(b.input_shape))))
    return got.reshape(want_q.shape).astype(np.int64), want_q, b


def _w(rng, *shape):
    return rng.normal(0, 0.3, shape)


#: one quantized op each: name -> (nodes, initializers, input shape, output shape, the LSB bound)
def single_ops(rng):
    return {
        "conv_stride2_pads": ([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])],
                              {"w": _w(rng, 6, 4, 3, 3), "b": _w(rng, 6)}, [1, 4, 9, 9], [1, 6, 5, 5], 1),
        "depthwise": ([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], group=4)],
                      {"w": _w(rng, 4, 1, 3, 3), "b": _w(rng, 4)}, [1, 4, 7, 7], [1, 4, 7, 7], 1),
        "gemm": ([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], {"w": _w(rng, 7, 20), "b": _w(rng, 7)},
                 [1, 20], [1, 7], 1),
        "matmul": ([helper.make_node("MatMul", ["x", "w"], ["y"])], {"w": _w(rng, 20, 7)}, [1, 20], [1, 7], 1),
        "add_relu_branch": ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["x", "r"], ["y"])], {},
                            [1, 4, 5, 5], [1, 4, 5, 5], 1),
    }


#: onnxruntime's QOperator format only: its QLinearAveragePool may change scale (QDQ leaves a lone pool float)
def qoperator_only_ops():
    return {"avgpool_rescaled": ([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
                                 {}, [1, 4, 6, 6], [1, 4, 3, 3], 2)}


@pytest.mark.parametrize("fmt", ["QOperator", "QDQ"])
def test_onnxruntime_quantized_ops_within_one_lsb(tmp_path, fmt):
    rng = np.random.default_rng(0)
    cases = {**single_ops(rng), **(qoperator_only_ops() if fmt == "QOperator" else {})}
    for name, (nodes, inits, ishape, oshape, bound) in cases.items():
        xs = rng.normal(0, 1, (96,) + tuple(ishape[1:])).astype(np.float32)
        path = _ort_quantize(_float_model(nodes, inits, ishape, oshape), tmp_path / f"{name}.onnx", xs[:48], fmt)
        ops = {n.op_type for n in onnx.load(path).graph.node}
        assert "QuantizeLinear" in ops, f"{name}: onnxruntime left it float"
        got, want, _ = _ort_vs_edgec(path, xs, tmp_path / name)
        d = np.abs(got - want)
        assert d.max() <= bound, f"{fmt} {name}: {d.max()} LSB from onnxruntime"
        assert (d == 0).mean() > (0.3 if bound > 1 else 0.85), f"{fmt} {name}: only {(d == 0).mean():.2f} exact"


@pytest.mark.parametrize("fmt", ["QOperator", "QDQ"])
def test_onnxruntime_quantized_cnn(tmp_path, fmt):
    """conv -> relu -> maxpool -> depthwise -> relu -> 1x1 conv -> residual add -> global average pool ->
    flatten -> gemm -> softmax, quantized by onnxruntime; edgec's C equals its reference, and its
    class agrees with onnxruntime's."""
    require("cc")
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=8),
             helper.make_node("Relu", ["c2"], ["r2"]), helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"]),
             helper.make_node("Add", ["c3", "p1"], ["a1"]), helper.make_node("GlobalAveragePool", ["a1"], ["g1"]),
             helper.make_node("Flatten", ["g1"], ["f1"]), helper.make_node("Gemm", ["f1", "w4", "b4"], ["y0"], transB=1),
             helper.make_node("Softmax", ["y0"], ["y"])]
    inits = {"w1": _w(rng, 8, 3, 3, 3), "b1": _w(rng, 8), "w2": _w(rng, 8, 1, 3, 3), "b2": _w(rng, 8),
             "w3": _w(rng, 8, 8, 1, 1), "b3": _w(rng, 8), "w4": _w(rng, 5, 8), "b4": _w(rng, 5)}
    xs = rng.normal(0, 1, (64, 3, 12, 12)).astype(np.float32)
    path = _ort_quantize(_float_model(nodes, inits, [1, 3, 12, 12], [1, 5]), tmp_path / "cnn.onnx", xs[:32], fmt)
    got, want, built = _ort_vs_edgec(path, xs, tmp_path)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95
    assert np.abs(got - want).max() <= 8            # softmax output: a few LSB of logit difference, amplified
    q_in = built.quantize_input(xs)
    c_out, _ = built.execute("host", q_in)
    assert np.array_equal(c_out.reshape(got.shape), got)


def test_uint8_activations_become_int8_with_shifted_zero_point(tmp_path):
    """onnxruntime's default QUInt8 activations: the same real values in int8 (zero point - 128)."""
    rng = np.random.default_rng(2)
    m = _float_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
                     {"w": _w(rng, 4, 2, 3, 3), "b": _w(rng, 4)}, [1, 2, 6, 6], [1, 4, 6, 6])
    xs = rng.normal(0, 1, (48, 2, 6, 6)).astype(np.float32)
    _ort_quantize(m, tmp_path / "u8.onnx", xs[:24], "QDQ", "QUInt8")
    model = onnx.load(str(tmp_path / "u8.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    zp = inits[next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "x").input[2]]
    assert zp.dtype == np.uint8
    got, want, b = _ort_vs_edgec(str(tmp_path / "u8.onnx"), xs, tmp_path)
    assert b.int_graph.tensors[b.int_graph.inputs[0]].quant.scalar_zp == int(zp) - 128
    assert np.abs(got - want).max() <= 1


# ---------------------------------------------------------------------------------------------
# refused, by name


def _qdq_conv(w_zero_point=0, act_scales=1):
    w = np.arange(-27, 27).reshape(2, 3, 3, 3).astype(np.int8)
    inits = [numpy_helper.from_array(w, "w_q"), numpy_helper.from_array(np.full(2, 0.01, np.float32), "w_s"),
             numpy_helper.from_array(np.full(2, w_zero_point, np.int8), "w_z"),
             numpy_helper.from_array(np.full(act_scales, 0.05, np.float32).reshape(() if act_scales == 1 else (act_scales,)), "x_s"),
             numpy_helper.from_array(np.zeros(act_scales, np.int8).reshape(() if act_scales == 1 else (act_scales,)), "x_z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_s", "x_z"], ["xq"], axis=1),
             helper.make_node("DequantizeLinear", ["xq", "x_s", "x_z"], ["xf"], axis=1),
             helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w"], axis=0, name="weights_dq"),
             helper.make_node("Conv", ["xf", "w"], ["y"], name="the_conv")]
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def test_refusals_name_the_node(tmp_path):
    onnx.save(_qdq_conv(w_zero_point=3), tmp_path / "asym.onnx")
    with pytest.raises(EdgecError, match="the_conv.*asymmetric weights"):
        build(str(tmp_path / "asym.onnx"), "host", str(tmp_path / "o1"))
    onnx.save(_qdq_conv(act_scales=3), tmp_path / "perchannel.onnx")
    with pytest.raises(EdgecError, match="QuantizeLinear.*per-channel"):
        build(str(tmp_path / "perchannel.onnx"), "host", str(tmp_path / "o2"))
    # the conv's output is never quantized: without --calibration there is nothing to take its scale from
    onnx.save(_qdq_conv(), tmp_path / "float_out.onnx")
    with pytest.raises(EdgecError, match="tensor y has no quantization.*--calibration"):
        build(str(tmp_path / "float_out.onnx"), "host", str(tmp_path / "o3"))
    np.save(tmp_path / "cal.npy", np.random.default_rng(0).normal(0, 1, (8, 3, 5, 5)).astype(np.float32))
    build(str(tmp_path / "float_out.onnx"), "host", str(tmp_path / "o4"), calibration=str(tmp_path / "cal.npy"))
    b = Built(str(tmp_path / "o4"))
    assert np.float32(b.int_graph.tensors[b.int_graph.inputs[0]].quant.scalar_scale) == np.float32(0.05)
