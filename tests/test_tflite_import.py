"""Pre-quantized TFLite int8 models imported with their own scales, bit-exact with TensorFlow Lite Micro.

The four MLPerf Tiny reference int8 models (KWS DS-CNN, VWW MobileNetV1, ResNet-8, AD autoencoder) are
built for cortex-m4 straight from their .tflite (no calibration), and the generated C is held against
TFLite Micro's own output (the `tflite-micro` package's host interpreter, reference kernels) on the
shared real inputs, extra real crops and 100 random int8 inputs each on the host, and on the real
inputs plus random ones in QEMU's Cortex-M4.  Every intermediate tensor of edgec's integer reference is
also compared with TFLM's (kPreserveAllTensors), so a saturated softmax cannot hide a difference
upstream.  Single-op models written with testkit/tflite_writer.py reach the importer's other branches
(SAME padding with odd sizes, depth multiplier, max pool, broadcast Add with a constant, implicit
flatten), float and uint8 edges, and the errors (float I/O into an int8 body, unsupported ops, corrupt
files).  Float .tflite files (float32 or float16 weights) are imported float, checked against TFLM's
float kernels, and built from --calibration like an ONNX model."""
import json
import subprocess
import sys

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

from conftest import DATA, data, extra, require
from testkit.tflite_writer import Model
from testkit.tflm import random_inputs, tflm_run

from edgec.compiler import reference
from edgec.driver.build import build, tflite_graphs
from edgec.compiler.errors import ModelFormatError, UnsupportedOpError
from edgec.compiler.importers.tflite import TfliteImporter, import_tflite
from edgec.passes.quantize import quantize, quantize_values
from edgec.verification.verify import Built, sqnr_db

#: model file -> real inputs (float, in the model's input layout): the shared ones first, then extra real crops
MODELS = {
    "kws": ("kws_ref_model.tflite", lambda: data("kws_input_float_dequant.npy"), lambda: extra("kws_shift")),
    "vww": ("vww_96_int8.tflite", lambda: data("vww_input_float_0to1_NHWC.npy"), lambda: extra("vww_crops") / np.float32(255)),
    "resnet": ("pretrainedResnet_quant.tflite", lambda: data("ic_input_float_0to255_NHWC.npy"),
               lambda: extra("ic_crops").astype(np.float32)),
    "ad01": ("ad01_int8.tflite", lambda: data("ad_inputs_float_x640.npy"), lambda: np.zeros((0, 640), np.float32)),
}
RANDOM_HOST, RANDOM_M4, EXTRA_M4 = 100, 20, 24


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (Built, .tflite bytes, real int8 inputs, extra real int8 inputs); built once for cortex-m4."""
    cache = {}

    def get(name):
        if name not in cache:
            fname, real, more = MODELS[name]
            out = tmp_path_factory.mktemp(name) / "out"
            report = build(str(DATA / fname), "cortex-m4", str(out))
            assert report["calibration_samples"] == 0 and report["quantization"] == "from the .tflite file"
            b = Built(str(out))
            def q(xs):
                return b.quantize_input(xs.reshape((len(xs),) + tuple(b.input_shape)))
            cache[name] = (b, (DATA / fname).read_bytes(), q(real()), q(more()))
        return cache[name]
    return get


@pytest.mark.parametrize("name", MODELS)
def test_host_c_equals_tflite_micro(models, name):
    require("cc")
    built, model, real, more = models(name)
    q_in = np.concatenate([real, more, random_inputs(built, RANDOM_HOST, 1)])
    want = tflm_run(model, q_in).reshape((len(q_in),) + tuple(built.output_shape))
    got, _ = built.execute("host", q_in)
    diff = (got != want).reshape(len(q_in), -1).any(axis=1)
    assert not diff.any(), f"{name}: {int(diff.sum())} of {len(q_in)} samples differ from TFLM (first {int(np.argmax(diff))})"
    n = len(real) + len(more)                                   # the numpy twin too, on the real inputs
    assert np.array_equal(reference.run_batch(built.int_graph, q_in[:n]), want[:n])


@pytest.mark.parametrize("name", MODELS)
def test_cortex_m4_c_equals_tflite_micro(models, name):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    built, model, real, more = models(name)
    q_in = np.concatenate([real, more[:EXTRA_M4], random_inputs(built, RANDOM_M4, 2)])
    want = tflm_run(model, q_in).reshape((len(q_in),) + tuple(built.output_shape))
    got, ex = built.execute("cortex-m4", q_in)
    assert np.array_equal(got, want), f"{name}: {int((got != want).any(axis=-1).sum())} samples differ from TFLM on M4"
    assert not ex.float_helpers                                         # no soft-float helper linked


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_equals_tflite_micro(models, name):
    """edgec's integer reference against TFLM's own intermediate tensors, layer by layer."""
    built, model, real, _ = models(name)
    imp = TfliteImporter(str(DATA / MODELS[name][0]))
    q = quantize(imp.run())                   # the int8 graph from the file's own quantization
    index = {v: k for k, v in imp.names.items()}
    it = runtime.Interpreter.from_bytes(model, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    compared, xs = 0, np.concatenate([real[:2], random_inputs(built, 3, 3)])
    for x in xs:
        it.set_input(x.reshape(it.get_input_details(0)["shape"]), 0)
        it.invoke()
        env = reference.run(q, x, keep_all=True)
        for node in q.nodes:
            t = node.outputs[0]
            if t in index:
                want = it.GetTensor(index[t], 0)["tensor_data"]
                assert np.array_equal(env[t], want.reshape(env[t].shape)), f"{name}: layer {node.name} differs"
                compared += 1
    assert compared == len(xs) * len(q.nodes)


@pytest.mark.parametrize("name", MODELS)
def test_the_file_gives_its_quantization_and_quantize_derives_every_parameter(name):
    """One source of integer arithmetic (issue 17): an int8 file imports as its float twin plus the file's
    quantization (meta given_quant, TFLite Micro's "tflm" arithmetic); no node carries an integer parameter
    until the quantize pass derives them all, and the int8 graph keeps the file's weights and biases."""
    g = import_tflite(str(DATA / MODELS[name][0]))
    given = g.meta["given_quant"]
    integer = {"multiplier", "shift", "act_min", "act_max", "in_zp", "out_zp", "left_shift", "exp_table", "table"}
    assert given["arithmetic"] == "tflm" and all(t.dtype == "float32" for t in g.tensors.values())
    assert not any(integer & set(n.attrs) for n in g.nodes)
    q = quantize(g)
    assert all(integer & set(n.attrs) for n in q.nodes if n.op != "Reshape")
    consts = {n: t for n, t in given["tensors"].items() if t["data"] is not None}
    assert {t["dtype"] for t in consts.values()} == {"int8", "int32"}
    assert all(q.tensors[n].dtype == t["dtype"] and np.array_equal(q.tensors[n].data, t["data"]) for n, t in consts.items())


def test_cli_build_without_calibration_and_verify(tmp_path):
    require("cc")
    cli = [sys.executable, "-m", "edgec.cli.main"]
    np.save(tmp_path / "x.npy", np.concatenate([data("kws_input_float_dequant.npy"), extra("kws_shift")[:5]]))
    r = subprocess.run(cli + ["build", str(DATA / "kws_ref_model.tflite"), "--target", "cortex-m4", "-o", str(tmp_path / "out")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"]["zero_point"] == 83 and report["output"]["scale"] == 1 / 256
    assert "Softmax" in (tmp_path / "out" / "model.c").read_text() and "edgec_softmax_tflm_s8" in \
        (tmp_path / "out" / "model.c").read_text()
    r = subprocess.run(cli + ["verify", str(tmp_path / "out"), "--on", "host", "--input", str(tmp_path / "x.npy"), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["bit_exact"] and res["samples"] == 6
    assert res["float_agreement"]["top1_agreement"] == 1.0     # against the dequantized float twin


# ---------------------------------------------------------------------------------------------
# single-op and small models written here, against TFLM


def _q(m, name, shape, scale, zp):
    return m.tensor(name, shape, scale=scale, zp=zp)


def _weights(m, name, shape, rng, axis, channels):
    w = rng.integers(-127, 128, shape).astype(np.int8)
    return m.tensor(name, shape, data=w, scale=rng.uniform(0.002, 0.02, channels), axis=axis)


def _bias(m, name, n, rng):
    return m.tensor(name, (n,), np.int32, data=rng.integers(-3000, 3000, n))


def zoo_model(rng, edges=None) -> bytes:
    """conv (SAME, stride 2, odd sizes, RELU6) -> depthwise (x2, SAME, dilation 2) -> max pool (SAME 3x3/2)
    -> Add of a broadcast int8 constant (RELU) -> avg pool (SAME 2x2/1: padding out of the count)
    -> FC on the 4-D tensor (implicit flatten) -> reshape -> softmax.  `edges` "float32": without the
    softmax (whose saturation would hide an input LSB), a QUANTIZE first and a DEQUANTIZE last (the
    converter's default); "uint8": QUANTIZE uint8 -> int8 first and int8 -> uint8 last
    (inference_input_type = inference_output_type = tf.uint8)."""
    m = Model()
    x = _q(m, "x", (1, 9, 7, 3), 0.05, 7)
    c1 = _q(m, "c1", (1, 5, 4, 6), 0.08, -20)
    m.op("CONV_2D", [x, _weights(m, "w1", (6, 3, 3, 3), rng, 0, 6), _bias(m, "b1", 6, rng)], [c1],
         padding=0, stride_h=2, stride_w=2, dilation_h=1, dilation_w=1, act=3)
    d1 = _q(m, "d1", (1, 5, 4, 12), 0.06, 5)
    m.op("DEPTHWISE_CONV_2D", [c1, _weights(m, "w2", (1, 3, 3, 12), rng, 3, 12), _bias(m, "b2", 12, rng)], [d1],
         padding=0, stride_h=1, stride_w=1, dilation_h=2, dilation_w=2, depth_multiplier=2, act=0)
    p1 = _q(m, "p1", (1, 3, 2, 12), 0.06, 5)
    m.op("MAX_POOL_2D", [d1], [p1], padding=0, stride_h=2, stride_w=2, filter_h=3, filter_w=3, act=0)
    k = m.tensor("k", (1, 1, 1, 12), data=rng.integers(-128, 128, (1, 1, 1, 12)), scale=0.03, zp=-3)
    a1 = _q(m, "a1", (1, 3, 2, 12), 0.07, -128)
    m.op("ADD", [p1, k], [a1], act=1)
    p2 = _q(m, "p2", (1, 3, 2, 12), 0.07, -128)
    m.op("AVERAGE_POOL_2D", [a1], [p2], padding=0, stride_h=1, stride_w=1, filter_h=2, filter_w=2, act=0)
    f1 = _q(m, "f1", (1, 10), 0.25, 3)
    m.op("FULLY_CONNECTED", [p2, _weights(m, "w3", (10, 72), rng, 0, 1), _bias(m, "b3", 10, rng)], [f1], act=0)
    shape = m.tensor("shape", (2,), np.int32, data=[1, 10])
    r1 = _q(m, "r1", (1, 10), 0.25, 3)
    m.op("RESHAPE", [f1, shape], [r1], new_shape=[1, 10])
    m.inputs, m.outputs = [x], [r1]
    if edges is None:
        y = _q(m, "y", (1, 10), 1 / 256, -128)
        m.op("SOFTMAX", [r1], [y], beta=1.0)
        m.outputs = [y]
    else:
        kind = np.float32 if edges == "float32" else np.uint8
        xe = m.tensor("x_edge", (1, 9, 7, 3), kind, scale=None if edges == "float32" else 0.05, zp=7 + 128)
        ye = m.tensor("y_edge", (1, 10), kind, scale=None if edges == "float32" else 0.25, zp=3 + 128)
        m.ops.insert(0, ("QUANTIZE", [xe], [x], {}))
        m.op("DEQUANTIZE" if edges == "float32" else "QUANTIZE", [r1], [ye])
        m.inputs, m.outputs = [xe], [ye]
    return m.bytes()


def test_small_model_with_other_branches_equals_tflite_micro(tmp_path):
    require("cc")
    rng = np.random.default_rng(7)
    model = zoo_model(rng)
    (tmp_path / "zoo.tflite").write_bytes(model)
    build(str(tmp_path / "zoo.tflite"), "host", str(tmp_path / "out"))
    built = Built(str(tmp_path / "out"))
    q_in = random_inputs(built, 100, 8)
    want = tflm_run(model, q_in).reshape((len(q_in),) + tuple(built.output_shape))
    assert len(np.unique(want)) > 20                                     # not a saturated softmax
    assert np.array_equal(reference.run_batch(built.int_graph, q_in), want)
    got, _ = built.execute("host", q_in)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("scale", [1e-4, 0.003, 0.0625, 0.5847029, 1.0, 4.0, 30.0])
@pytest.mark.parametrize("cols", [1, 3, 12, 256])
def test_softmax_equals_tflite_micro(tmp_path, scale, cols):
    """The compile-time exp table and the run-time reciprocal against TFLM's softmax, over scales where
    every exp is ~1 (tiny) to where differences fall below diff_min (large)."""
    rng = np.random.default_rng(cols)
    m = Model()
    x, y = _q(m, "x", (4, cols), scale, 11), _q(m, "y", (4, cols), 1 / 256, -128)
    m.op("SOFTMAX", [x], [y], beta=1.0)
    m.inputs, m.outputs = [x], [y]
    (tmp_path / "s.tflite").write_bytes(m.bytes())
    _, q = tflite_graphs(str(tmp_path / "s.tflite"))
    spreads = rng.integers(0, 256, 40)
    q_in = np.stack([rng.integers(-128, -127 + s, (4, cols)) + rng.integers(0, 256 - s) for s in spreads]).astype(np.int8)
    assert np.array_equal(reference.run_batch(q, q_in), tflm_run(m.bytes(), q_in))


# ---------------------------------------------------------------------------------------------
# errors


def _fc_model(dtype_x=np.int8, weights_float=False, io_float=False, extra_ops=()):
    m = Model()
    if weights_float:
        x, y = m.tensor("x", (1, 4), np.float32), m.tensor("y", (1, 2), np.float32)
        m.op("FULLY_CONNECTED", [x, m.tensor("w", (2, 4), np.float32, data=np.ones((2, 4))),
                                 m.tensor("b", (2,), np.float32, data=np.zeros(2))], [y], act=0)
        m.inputs, m.outputs = [x], [y]
        return m
    x = m.tensor("x", (1, 4), scale=0.1, zp=0)
    w = m.tensor("w", (2, 4), data=np.ones((2, 4)), scale=0.01)
    y = m.tensor("y", (1, 2), scale=0.1, zp=0)
    m.op("FULLY_CONNECTED", [x, w, m.tensor("b", (2,), np.int32, data=np.zeros(2))], [y], act=0)
    first, last = x, y
    for k, op in enumerate(extra_ops):
        nxt = m.tensor(f"e{k}", (1, 2), scale=0.1, zp=0)
        m.op(op, [last], [nxt])
        last = nxt
    if io_float:
        xf, yf = m.tensor("xf", (1, 4), np.float32), m.tensor("yf", (1, 2), np.float32)
        m.ops.insert(0, ("QUANTIZE", [xf], [x], {}))                 # operators are listed in execution order
        m.op("DEQUANTIZE", [last], [yf])
        first, last = xf, yf
    m.inputs, m.outputs = [first], [last]
    return m


def _write(tmp_path, m, name="m.tflite"):
    p = tmp_path / name
    p.write_bytes(m.bytes())
    return str(p)


def test_float_input_into_an_int8_body_is_refused_with_a_hint(tmp_path):
    fgraph, q = tflite_graphs(_write(tmp_path, _fc_model(weights_float=True)))     # a float model: imported float
    assert q is None and [n.op for n in fgraph.nodes] == ["FullyConnected"]
    m = _fc_model()
    m.tensors[m.inputs[0]] = ("x", (1, 4), np.dtype(np.float32), None, None, None, 0)   # float input, no QUANTIZE
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(_write(tmp_path, m))
    assert "input 'x' is float32" in str(e.value) and "tf.int8" in str(e.value)


def test_float_io_edges_are_dropped_and_the_float_results_equal_tflite_micro(tmp_path):
    """QUANTIZE first / DEQUANTIZE last (a model converted without int8 I/O types): the C takes and gives
    int8, and quantizing / dequantizing as verify and run do gives TFLM's float outputs exactly."""
    require("cc")
    m = _fc_model(io_float=True)
    build(_write(tmp_path, m), "host", str(tmp_path / "out"))
    built = Built(str(tmp_path / "out"))
    assert built.int_graph.meta["edges"] == {"input": {"file_dtype": "float32"}, "output": {"file_dtype": "float32"}}
    xs = np.random.default_rng(4).normal(0, 5, (50, 1, 4)).astype(np.float32)
    got, _ = built.execute("host", built.quantize_input(xs))
    want = tflm_run(m.bytes(), xs)
    assert np.array_equal(built.dequantize_output(got), want.reshape(got.shape))


def test_unsupported_ops_are_all_named_in_one_error(tmp_path):
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(_write(tmp_path, _fc_model(extra_ops=("GELU", "ELU", "GELU", "LOGISTIC"))))
    msg = str(e.value)
    assert "GELU (2x" in msg and "ELU (1x" in msg and "FULLY_CONNECTED" in msg   # the hint lists what is supported
    assert "LOGISTIC whose int8 output is not scale 1/256" in msg                      # TFLM's kernel assumes it


def test_corrupt_files_give_one_line_errors(tmp_path):
    good = (DATA / "kws_ref_model.tflite").read_bytes()
    for name, blob in [("junk.tflite", b"\x00" * 64), ("cut.tflite", good[:3000]), ("empty.tflite", b"")]:
        (tmp_path / name).write_bytes(blob)
        with pytest.raises((ModelFormatError, UnsupportedOpError)):
            tflite_graphs(str(tmp_path / name))
    r = subprocess.run([sys.executable, "-m", "edgec.cli.main", "build", str(tmp_path / "cut.tflite"), "--target", "host",
                        "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("edgec: error")]) == 1, r.stderr


# ---------------------------------------------------------------------------------------------
# int8 models with float or uint8 edges, against TFLM on the file's own edge types


def _write_bytes(tmp_path, blob: bytes, name="m.tflite") -> str:
    p = tmp_path / name
    p.write_bytes(blob)
    return str(p)


def _edge_inputs(n, seed):
    """Float inputs for zoo_model's input (scale 0.05, zero point 7): values at the rounding ties of
    x / 0.05, where TFLite's float32 division and a float64 one round apart, then normal ones."""
    ties = ((np.arange(-140, 125) + 0.5) * np.float32(0.05)).astype(np.float32)
    normal = np.random.default_rng(seed).normal(0, 3, (n - 2, 1, 9, 7, 3)).astype(np.float32)
    return np.concatenate([np.resize(ties, (2, 1, 9, 7, 3)), normal])


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_int8_model_with_float_edges_equals_tflite_micro(tmp_path, target):
    """QUANTIZE float32 -> int8 first, DEQUANTIZE last: TFLM runs the file on float inputs; edgec's C runs
    the int8 body on the inputs quantized as verify / run do, and its outputs dequantized are TFLM's
    floats exactly (DEQUANTIZE is one-to-one, so the int8 body values are TFLM's too).  The tie inputs
    quantize differently with a float64 division: the caller's quantization is TFLite's, in float32."""
    require("cc") if target == "host" else require("arm-none-eabi-gcc", "qemu-system-arm")
    model = zoo_model(np.random.default_rng(7), edges="float32")
    build(_write_bytes(tmp_path, model), target, str(tmp_path / "out"))
    built = Built(str(tmp_path / "out"))
    xs = _edge_inputs(40 if target == "host" else 12, 9)
    q_in = built.quantize_input(xs)
    q64 = quantize_values(xs, built.inq.scalar_scale, built.inq.scalar_zp)         # the division in float64
    assert (q_in != q64).sum() > 100
    got, ex = built.execute(target, q_in)
    want = tflm_run(model, xs)
    assert len(np.unique(want)) > 50
    assert np.array_equal(built.dequantize_output(got), want.reshape(got.shape))
    assert np.array_equal(got, reference.run_batch(built.int_graph, q_in))
    assert not np.array_equal(reference.run_batch(built.int_graph, q64), got)     # so the test sees a wrong rounding
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"]["scale"] == np.float32(0.05) and report["input"]["zero_point"] == 7
    assert report["output"]["scale"] == 0.25 and report["output"]["zero_point"] == 3
    assert report["input"]["model_edge"] == report["output"]["model_edge"] == {"file_dtype": "float32"}
    header = (tmp_path / "out" / "model.h").read_text()
    assert "input is float32: quantize as its QUANTIZE does" in header and "INPUT_ZERO_POINT (7)" in header
    np.save(tmp_path / "x.npy", xs)                                   # `edgec run` / `verify` take the float inputs
    cli = [sys.executable, "-m", "edgec.cli.main"]
    if target == "cortex-m4":
        assert not ex.float_helpers
        r = subprocess.run(cli + ["verify", str(tmp_path / "out"), "--on", "cortex-m4", "--input", str(tmp_path / "x.npy"),
                                  "--json"], capture_output=True, text=True)
        assert r.returncode == 0 and json.loads(r.stdout)["bit_exact"], r.stderr
        return
    r = subprocess.run(cli + ["run", str(tmp_path / "out"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "y.npy").reshape(want.shape), want)
    r = subprocess.run(cli + ["verify", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["bit_exact"], r.stderr


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_int8_model_with_uint8_edges_equals_tflite_micro(tmp_path, target):
    """QUANTIZE uint8 -> int8 first and int8 -> uint8 last, at the same scale with the zero point moved by
    128: edgec's int8 inside is uint8 v - 128 (zero points - 128), the C API takes and gives the file's
    uint8 (Built.execute moves the int8 samples there and back), and TFLM's uint8 outputs are edgec's int8
    ones + 128 on uint8 inputs - 128; report.json and model.h say so."""
    require("cc") if target == "host" else require("arm-none-eabi-gcc", "qemu-system-arm")
    model = zoo_model(np.random.default_rng(7), edges="uint8")
    build(_write_bytes(tmp_path, model), target, str(tmp_path / "out"))
    built = Built(str(tmp_path / "out"))
    u_in = np.random.default_rng(5).integers(0, 256, (60 if target == "host" else 12, 1, 9, 7, 3)).astype(np.uint8)
    got, _ = built.execute(target, (u_in.astype(np.int16) - 128).astype(np.int8))
    want = tflm_run(model, u_in)
    assert want.dtype == np.uint8 and len(np.unique(want)) > 50
    assert np.array_equal((got.astype(np.int16) + 128).astype(np.uint8), want.reshape(got.shape))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"]["zero_point"] == 7 and report["input"]["model_edge"]["file_zero_point"] == 135
    assert report["output"]["zero_point"] == 3 and report["output"]["model_edge"]["file_zero_point"] == 131
    assert "(v - 128)" in report["input"]["model_edge"]["note"]
    header = (tmp_path / "out" / "model.h").read_text()
    assert "input is uint8 (zero point 135), and so is the C API's; inside, its value v is int8 (v - 128)" in header
    assert "output is uint8 (zero point 131)" in header
    assert "int edgec_m_run(const uint8_t *input, uint8_t *output);" in header
    assert report["input"]["c_api"] == {"dtype": "uint8", "scale": report["input"]["scale"], "zero_point": 135}


def test_uint8_input_without_a_quantize_is_refused(tmp_path):
    """A uint8 edge is taken through its QUANTIZE (a plain shift by 128 or a requantization, see
    test_tflite_streaming.py); a uint8 input fed straight to a kernel is not."""
    m = _fc_model()
    m.tensors[m.inputs[0]] = ("x", (1, 4), np.dtype(np.uint8), None, np.float32([0.1]), np.int64([128]), 0)
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(_write(tmp_path, m))
    assert "input 'x' is uint8 and not a QUANTIZE" in str(e.value)


# ---------------------------------------------------------------------------------------------
# float .tflite: imported float, quantized from --calibration


def _he(rng, shape, fan_in):
    return rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)


def float_cnn(seed: int, weights: str = "float32") -> bytes:
    """A small float CNN with random weights for 14x14 digits: conv 3x3 (RELU) -> depthwise 3x3/2 (RELU6)
    -> conv 1x1 (RELU) -> max pool 2x2/2 -> FC on the 4-D tensor (implicit flatten) -> softmax.
    `weights` "float16": stored as float16, the convs' (weights and one bias) through DEQUANTIZE ops as the
    converter writes them, the FC's fed straight in; "float16-as-float32": the same values in float32."""
    rng = np.random.default_rng(seed)
    m = Model()

    def const(name, data, dequantize=True):
        if weights == "float32":
            return m.tensor(name, data.shape, np.float32, data=data)
        if weights == "float16-as-float32":
            return m.tensor(name, data.shape, np.float32, data=data.astype(np.float16).astype(np.float32))
        half = m.tensor(name + "_fp16", data.shape, np.float16, data=data.astype(np.float16))
        if not dequantize:
            return half
        out = m.tensor(name, data.shape, np.float32)
        m.op("DEQUANTIZE", [half], [out])
        return out

    def bias(name, n, dequantize=False):
        data = rng.normal(0, 0.05, n).astype(np.float32)
        return const(name, data) if dequantize else m.tensor(name, (n,), np.float32, data=data)

    geometry = dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1)
    x = m.tensor("x", (1, 14, 14, 1), np.float32)
    c1 = m.tensor("c1", (1, 14, 14, 8), np.float32)
    m.op("CONV_2D", [x, const("w1", _he(rng, (8, 3, 3, 1), 9)), bias("b1", 8, True)], [c1], padding=0, act=1,
         **geometry)
    d1 = m.tensor("d1", (1, 7, 7, 8), np.float32)
    m.op("DEPTHWISE_CONV_2D", [c1, const("w2", _he(rng, (1, 3, 3, 8), 9)), bias("b2", 8)], [d1], padding=0, act=3,
         depth_multiplier=1, **dict(geometry, stride_h=2, stride_w=2))
    c2 = m.tensor("c2", (1, 7, 7, 16), np.float32)
    m.op("CONV_2D", [d1, const("w3", _he(rng, (16, 1, 1, 8), 8)), bias("b3", 16)], [c2], padding=1, act=1, **geometry)
    p1 = m.tensor("p1", (1, 3, 3, 16), np.float32)
    m.op("MAX_POOL_2D", [c2], [p1], padding=1, stride_h=2, stride_w=2, filter_h=2, filter_w=2, act=0)
    f1 = m.tensor("f1", (1, 10), np.float32)
    m.op("FULLY_CONNECTED", [p1, const("w4", _he(rng, (10, 144), 144), dequantize=False), bias("b4", 10)], [f1], act=0)
    y = m.tensor("y", (1, 10), np.float32)
    m.op("SOFTMAX", [f1], [y], beta=1.0)
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


def _digits14():
    """Real 14x14 digits, NHWC: 200 to calibrate on, 100 others to check."""
    xs = extra("mnist14").reshape(-1, 14, 14, 1)
    return xs[:200], xs[200:]


@pytest.mark.parametrize("weights", ["float32", "float16"])
def test_float_tflite_is_quantized_from_calibration(tmp_path, weights):
    """A float .tflite builds with --calibration like an ONNX or Keras model, its C is bit-exact with the
    integer reference on the host (`edgec verify`), and after quantization it agrees with the float model
    as TFLM runs it (float16 weights: TFLM has no float16 DEQUANTIZE, so its oracle is the same file with
    those float16 values stored in float32)."""
    require("cc")
    cal, test = _digits14()
    np.save(tmp_path / "cal.npy", cal)
    np.save(tmp_path / "x.npy", test)
    model = _write_bytes(tmp_path, float_cnn(3, weights))
    same_in_float32 = float_cnn(3, "float32" if weights == "float32" else "float16-as-float32")
    oracle = tflm_run(same_in_float32, test).reshape(len(test), 10)
    fgraph, q = tflite_graphs(model)
    assert q is None and not fgraph.meta.get("dequantized_from")
    assert np.allclose(reference.run_batch(fgraph, test).reshape(oracle.shape), oracle, rtol=1e-5, atol=1e-6)
    cli = [sys.executable, "-m", "edgec.cli.main"]
    r = subprocess.run(cli + ["build", model, "--target", "host", "--calibration", str(tmp_path / "cal.npy"),
                              "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["calibration_samples"] == 200 and report["quantization"] == "calibrated by edgec"
    r = subprocess.run(cli + ["verify", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["bit_exact"] and res["samples"] == 100
    built = Built(str(tmp_path / "out"))
    got, _ = built.execute("host", built.quantize_input(test))
    deq = built.dequantize_output(got).reshape(oracle.shape)
    top1, sqnr = float((deq.argmax(1) == oracle.argmax(1)).mean()), sqnr_db(oracle, deq)
    print(f"{weights} float .tflite after quantization vs TFLM float: top-1 {top1:.3f}, SQNR {sqnr:.1f} dB")
    assert top1 >= 0.9 and sqnr >= 25


def test_float_tflite_without_calibration_says_to_pass_it(tmp_path):
    model = _write_bytes(tmp_path, float_cnn(3))
    r = subprocess.run([sys.executable, "-m", "edgec.cli.main", "build", model, "--target", "host", "-o",
                        str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("edgec: error")]
    assert len(errors) == 1 and "float" in errors[0] and "pass --calibration" in errors[0], r.stderr
    assert not (tmp_path / "out").exists()


def _one_op(name, in_shape, out_shape, params=(), **options) -> bytes:
    """A float model of one operator; `params` are its constant inputs after the first."""
    m = Model()
    x = m.tensor("x", in_shape, np.float32)
    ins = [x] + [m.tensor(f"p{k}", None, p.dtype, data=p) for k, p in enumerate(params)]
    y = m.tensor("y", out_shape, np.float32)
    m.op(name, ins, [y], **options)
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


def _i32(v):
    return np.asarray(v, np.int32)


_ROW = np.asarray([[[[0.5, -2.0, 3.0]]]], np.float32)
FLOAT_OPS = {       # name -> (model, IR ops)
    "LOGISTIC": (_one_op("LOGISTIC", (1, 4, 4, 3), (1, 4, 4, 3)), ["Sigmoid"]),
    "TANH": (_one_op("TANH", (1, 4, 4, 3), (1, 4, 4, 3)), ["Tanh"]),
    "RELU": (_one_op("RELU", (1, 4, 4, 3), (1, 4, 4, 3)), ["Relu"]),
    "RELU6": (_one_op("RELU6", (1, 4, 4, 3), (1, 4, 4, 3)), ["Clip"]),
    "LEAKY_RELU": (_one_op("LEAKY_RELU", (1, 4, 4, 3), (1, 4, 4, 3), alpha=0.3), ["LeakyRelu"]),
    "HARD_SWISH": (_one_op("HARD_SWISH", (1, 4, 4, 3), (1, 4, 4, 3)), ["HardSwish"]),
    "ELU": (_one_op("ELU", (1, 4, 4, 3), (1, 4, 4, 3)), ["Elu"]),
    "ADD": (_one_op("ADD", (1, 4, 4, 3), (1, 4, 4, 3), [_ROW], act=2), ["Add"]),
    "SUB": (_one_op("SUB", (1, 4, 4, 3), (1, 4, 4, 3), [_ROW], act=3), ["Sub"]),
    "MUL": (_one_op("MUL", (1, 4, 4, 3), (1, 4, 4, 3), [_ROW], act=1), ["Mul"]),
    "CONCATENATION": (_one_op("CONCATENATION", (1, 4, 4, 3), (1, 4, 4, 5), [np.ones((1, 4, 4, 2), np.float32)],
                              axis=-1), ["Concat"]),
    "MEAN": (_one_op("MEAN", (1, 4, 5, 3), (1, 3), [_i32([1, 2])], keep_dims=False), ["AvgPool2D", "Reshape"]),
    "MEAN keep_dims": (_one_op("MEAN", (1, 4, 5, 3), (1, 1, 1, 3), [_i32([-2, 1])], keep_dims=True), ["AvgPool2D"]),
    "PAD": (_one_op("PAD", (1, 4, 4, 3), (1, 5, 7, 3), [_i32([[0, 0], [1, 0], [1, 2], [0, 0]])]), ["Pad"]),
    "PADV2": (_one_op("PADV2", (1, 4, 4, 3), (1, 5, 7, 3), [_i32([[0, 0], [1, 0], [1, 2], [0, 0]]),
                                                           np.zeros(1, np.float32)]), ["Pad"]),
    "EXPAND_DIMS": (_one_op("EXPAND_DIMS", (1, 12), (1, 1, 12), [_i32([1])]), ["Reshape"]),
    "SQUEEZE": (_one_op("SQUEEZE", (1, 1, 1, 12), (12,)), ["Reshape"]),
    "TRANSPOSE": (_one_op("TRANSPOSE", (1, 4, 5, 3), (1, 3, 4, 5), [_i32([0, 3, 1, 2])]), ["Transpose"]),
    "SLICE": (_one_op("SLICE", (1, 4, 5, 3), (1, 2, 3, 3), [_i32([0, 1, 2, 0]), _i32([1, 2, -1, -1])]), ["Slice"]),
    "RESIZE_NEAREST_NEIGHBOR": (_one_op("RESIZE_NEAREST_NEIGHBOR", (1, 3, 4, 2), (1, 6, 12, 2), [_i32([6, 12])]),
                                ["Upsample"]),
    "RESIZE_NEAREST_NEIGHBOR half_pixel_centers": (_one_op("RESIZE_NEAREST_NEIGHBOR", (1, 3, 4, 2), (1, 9, 8, 2),
                                                           [_i32([9, 8])], half_pixel_centers=True), ["Upsample"]),
    "AVERAGE_POOL_2D": (_one_op("AVERAGE_POOL_2D", (1, 5, 5, 2), (1, 3, 3, 2), padding=0, stride_h=2, stride_w=2,
                                filter_h=3, filter_w=3, act=0), ["AvgPool2D"]),
    "SOFTMAX": (_one_op("SOFTMAX", (2, 7), (2, 7), beta=1.0), ["Softmax"]),
}


@pytest.mark.parametrize("name", FLOAT_OPS)
def test_float_op_imports_as_tflite_micro_runs_it(tmp_path, name):
    """Each float operator's IR mapping against TFLM's float kernel, on random inputs."""
    model, ops = FLOAT_OPS[name]
    fgraph, q = tflite_graphs(_write_bytes(tmp_path, model))
    assert q is None and [n.op for n in fgraph.nodes] == ops
    xs = np.random.default_rng(1).normal(0, 3, (6,) + tuple(fgraph.tensors[fgraph.inputs[0]].shape)).astype(np.float32)
    want = tflm_run(model, xs)
    got = reference.run_batch(fgraph, xs)
    assert np.allclose(got, want.reshape(got.shape), rtol=1e-6, atol=1e-6)


def test_float_ops_tflite_micro_lacks_follow_their_formulas(tmp_path):
    """RELU_N1_TO_1 and GELU (TFLM has no float kernel for either): TFLite's formulas."""
    from math import erf
    xs = np.random.default_rng(2).normal(0, 2, (4, 1, 4, 4, 3)).astype(np.float32)
    g, _ = tflite_graphs(_write_bytes(tmp_path, _one_op("RELU_N1_TO_1", (1, 4, 4, 3), (1, 4, 4, 3)), "r.tflite"))
    assert np.array_equal(reference.run_batch(g, xs), np.clip(xs, -1, 1))
    for approximate in (False, True):
        gelu = _one_op("GELU", (1, 4, 4, 3), (1, 4, 4, 3), approximate=approximate)
        g, _ = tflite_graphs(_write_bytes(tmp_path, gelu))
        x = xs.astype(np.float64)
        want = (0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))) if approximate
                else 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2))))
        assert np.allclose(reference.run_batch(g, xs), want, rtol=1e-5, atol=1e-6)


def float_ops_model(seed: int) -> bytes:
    """The float-only operators in one network over 8x8x2: PAD -> conv -> HARD_SWISH -> (LOGISTIC * it) ->
    SUB const -> concat with a TANH branch -> LEAKY_RELU -> RESIZE x2 -> SLICE -> ELU -> TRANSPOSE twice
    -> MEAN (H, W) -> FC."""
    rng = np.random.default_rng(seed)
    m = Model()
    f = np.float32

    def t(name, shape):
        return m.tensor(name, shape, f)
    x, xp, c1 = t("x", (1, 8, 8, 2)), t("xp", (1, 10, 10, 2)), t("c1", (1, 8, 8, 6))
    m.op("PAD", [x, m.tensor("pads", None, np.int32, data=[[0, 0], [1, 1], [1, 1], [0, 0]])], [xp])
    m.op("CONV_2D", [xp, m.tensor("w1", None, f, data=_he(rng, (6, 3, 3, 2), 18)),
                     m.tensor("b1", None, f, data=rng.normal(0, 0.1, 6))], [c1],
         padding=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=0)
    hs, sg, gated, sub = t("hs", (1, 8, 8, 6)), t("sg", (1, 8, 8, 6)), t("gated", (1, 8, 8, 6)), t("sub", (1, 8, 8, 6))
    m.op("HARD_SWISH", [c1], [hs])
    m.op("LOGISTIC", [c1], [sg])
    m.op("MUL", [hs, sg], [gated], act=0)
    m.op("SUB", [gated, m.tensor("k", None, f, data=rng.normal(0, 0.3, (1, 1, 1, 6)))], [sub], act=0)
    th, cat, lr = t("th", (1, 8, 8, 6)), t("cat", (1, 8, 8, 12)), t("lr", (1, 8, 8, 12))
    m.op("TANH", [c1], [th])
    m.op("CONCATENATION", [sub, th], [cat], axis=3, act=0)
    m.op("LEAKY_RELU", [cat], [lr], alpha=0.2)
    up, sl, el = t("up", (1, 16, 16, 12)), t("sl", (1, 4, 6, 12)), t("el", (1, 4, 6, 12))
    m.op("RESIZE_NEAREST_NEIGHBOR", [lr, m.tensor("size", None, np.int32, data=[16, 16])], [up])
    m.op("SLICE", [up, m.tensor("begin", None, np.int32, data=[0, 2, 1, 0]),
                   m.tensor("len", None, np.int32, data=[1, 4, 6, -1])], [sl])
    m.op("ELU", [sl], [el])
    tr, back, mean = t("tr", (1, 4, 12, 6)), t("back", (1, 4, 6, 12)), t("mean", (1, 12))
    m.op("TRANSPOSE", [el, m.tensor("perm", None, np.int32, data=[0, 1, 3, 2])], [tr])
    m.op("TRANSPOSE", [tr, m.tensor("perm2", None, np.int32, data=[0, 1, 3, 2])], [back])
    m.op("MEAN", [back, m.tensor("axes", None, np.int32, data=[1, 2])], [mean], keep_dims=False)
    y = t("y", (1, 5))
    m.op("FULLY_CONNECTED", [mean, m.tensor("w2", None, f, data=_he(rng, (5, 12), 12)),
                             m.tensor("b2", None, f, data=np.zeros(5))], [y], act=0)
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


def test_float_ops_model_is_quantized_and_bit_exact(tmp_path):
    """The float-only operators through calibrate -> quantize -> C: bit-exact with the integer reference on
    the host, and close to TFLM's float output (every layer is 27-39 dB from edgec's float reference)."""
    require("cc")
    model = float_ops_model(4)
    rng = np.random.default_rng(6)
    cal = rng.normal(0, 1, (64, 1, 8, 8, 2)).astype(np.float32)
    xs = rng.normal(0, 1, (40, 1, 8, 8, 2)).astype(np.float32)
    want = tflm_run(model, xs).reshape(len(xs), 5)
    fgraph, _ = tflite_graphs(_write_bytes(tmp_path, model))
    assert np.allclose(reference.run_batch(fgraph, xs).reshape(want.shape), want, rtol=1e-5, atol=1e-6)
    np.save(tmp_path / "cal.npy", cal)
    build(str(tmp_path / "m.tflite"), "host", str(tmp_path / "out"), calibration=str(tmp_path / "cal.npy"))
    built = Built(str(tmp_path / "out"))
    q_in = built.quantize_input(xs.reshape((len(xs),) + tuple(built.input_shape)))
    got, _ = built.execute("host", q_in)
    assert np.array_equal(got, reference.run_batch(built.int_graph, q_in))
    deq = built.dequantize_output(got).reshape(want.shape)
    sqnr = sqnr_db(want, deq)
    print(f"float ops model after quantization vs TFLM float: SQNR {sqnr:.1f} dB")
    assert sqnr >= 25


def test_float_model_weights_of_other_types_are_dequantized_at_import(tmp_path):
    """Dynamic-range files keep int8 weights with scales (per channel here) in a float model: the float
    graph holds them dequantized, as it holds float16 ones converted."""
    m = Model()
    x, y = m.tensor("x", (1, 4), np.float32), m.tensor("y", (1, 3), np.float32)
    q = np.arange(-6, 6).reshape(3, 4).astype(np.int8)
    w = m.tensor("w", (3, 4), np.int8, data=q, scale=[0.5, 0.25, 2.0], axis=0)
    m.op("FULLY_CONNECTED", [x, w, m.tensor("b", (3,), np.float16, data=[1, 2, 3])], [y], act=0)
    m.inputs, m.outputs = [x], [y]
    g, _ = tflite_graphs(_write(tmp_path, m))
    fc = g.nodes[0]
    assert np.array_equal(g.tensors[fc.inputs[1]].data, q * np.float32([[0.5], [0.25], [2.0]]))
    assert np.array_equal(g.tensors[fc.inputs[2]].data, np.float32([1, 2, 3]))


def test_float_unsupported_ops_are_all_named_in_one_error(tmp_path):
    m = Model()
    x, a, b, c, d = (m.tensor(n, (1, 4, 4, 3), np.float32) for n in "xabcd")
    e = m.tensor("e", (1, 1, 4, 1), np.float32)
    m.op("SQUARED_DIFFERENCE", [x, x], [a])
    m.op("CONCATENATION", [a], [b], axis=3, act=1)
    m.op("SQUARED_DIFFERENCE", [b, b], [c])
    m.op("DEQUANTIZE", [c], [d])
    m.op("MEAN", [d, m.tensor("axes", None, np.int32, data=[1, 3])], [e], keep_dims=True)
    m.inputs, m.outputs = [x], [e]
    with pytest.raises(UnsupportedOpError) as err:
        tflite_graphs(_write(tmp_path, m))
    msg = str(err.value)
    assert "SQUARED_DIFFERENCE (2x" in msg and "CONCATENATION with a fused activation" in msg
    assert "DEQUANTIZE of a non-constant tensor" in msg and "float MEAN over axes [1, 3] of a rank-4" in msg
    assert "float32 CONV_2D" in msg and "LOGISTIC" in msg                       # the hint lists what is supported
