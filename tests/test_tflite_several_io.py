""".tflite files of several inputs and outputs (a sensor-fusion net: an image and a vector in, a class score
and a feature map out), float and fully int8, as the C API of several inputs takes them (one pointer per
input and per output, in the file's order; samples in an .npz keyed by input name).  The float file is
calibrated and quantized: its float graph equals TFLite Micro's float outputs, and the C is bit-exact with
the integer reference.  The int8 file keeps its own quantization: the integer reference equals TFLite
Micro's int8 outputs, and the C is bit-exact with it.  An int8 file whose several edges are float (the
converter's QUANTIZE / DEQUANTIZE) is refused in one line naming the edge."""
import numpy as np
import pytest

from conftest import require
from edgec.compiler import reference
from edgec.compiler.data import InputSamples
from edgec.compiler.errors import UnsupportedOpError
from edgec.driver.build import build, tflite_graphs
from edgec.testkit.tflite_writer import Model
from edgec.testkit.tflm import tflm_run_io
from edgec.verification.verify import verify

F = np.float32
I8 = {"img": (0.04, 3), "vec": (0.03, -5), "c": (0.05, -10), "m": (0.03, -20), "f": (0.05, 2), "score": (0.06, 1),
      "pool": (0.05, -10)}


def _fusion(int8: bool, float_edges: bool = False) -> bytes:
    """img (1, 6, 6, 3) -> conv 3x3 (RELU) -> c; mean of c over H, W + dense(vec) -> score (1, 4); max pool
    2x2 of c -> pool (1, 3, 3, 4).  Outputs: score, pool."""
    rng = np.random.default_rng(3)
    m = Model()

    def act(name, shape):
        if not int8:
            return m.tensor(name, shape, F)
        s, z = I8[name]
        return m.tensor(name, shape, scale=s, zp=z)

    def weights(name, shape, axis, channels):
        if not int8:
            return m.tensor(name, None, F, data=rng.normal(0, 0.3, shape).astype(F))
        return m.tensor(name, shape, data=rng.integers(-127, 128, shape).astype(np.int8),
                        scale=rng.uniform(0.004, 0.02, channels), axis=axis)

    def bias(name, n):
        if not int8:
            return m.tensor(name, None, F, data=rng.normal(0, 0.1, n).astype(F))
        return m.tensor(name, (n,), np.int32, data=rng.integers(-500, 500, n))

    img, vec = act("img", (1, 6, 6, 3)), act("vec", (1, 5))
    c = act("c", (1, 6, 6, 4))
    m.op("CONV_2D", [img, weights("w1", (4, 3, 3, 3), 0, 4), bias("b1", 4)], [c],
         padding=0, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=1)
    mean = act("m", (1, 4))
    m.op("MEAN", [c, m.tensor("axes", None, np.int32, data=np.array([1, 2], np.int32))], [mean], keep_dims=False)
    f = act("f", (1, 4))
    m.op("FULLY_CONNECTED", [vec, weights("w2", (4, 5), 0, 1), bias("b2", 4)], [f], act=0)
    score, pool = act("score", (1, 4)), act("pool", (1, 3, 3, 4))
    m.op("ADD", [mean, f], [score], act=0)
    m.op("MAX_POOL_2D", [c], [pool], padding=1, stride_h=2, stride_w=2, filter_h=2, filter_w=2, act=0)
    m.inputs, m.outputs = [img, vec], [score, pool]
    if float_edges:
        x_edge = m.tensor("img_float", (1, 6, 6, 3), F)
        m.ops.insert(0, ("QUANTIZE", [x_edge], [img], {}))
        m.inputs = [x_edge, vec]
    return m.bytes()


def _samples(rng, n=12):
    return {"img": rng.uniform(-1, 1, (n, 1, 6, 6, 3)).astype(F), "vec": rng.uniform(-1, 1, (n, 1, 5)).astype(F)}


def test_float_tflite_of_two_inputs_and_two_outputs_quantizes_bit_exact(tmp_path):
    require("cc")
    blob = _fusion(int8=False)
    (tmp_path / "fusion.tflite").write_bytes(blob)
    g, q = tflite_graphs(str(tmp_path / "fusion.tflite"))
    assert q is None and len(g.inputs) == 2 and len(g.outputs) == 2
    x = _samples(np.random.default_rng(1))
    want = tflm_run_io(blob, [x["img"], x["vec"]], 2)
    got = reference.run_batch_outputs(g, InputSamples({g.inputs[0]: x["img"][:, 0], g.inputs[1]: x["vec"][:, 0]}))
    for o, w in zip(g.outputs, want):
        assert np.allclose(got[o], w.reshape(got[o].shape), rtol=1e-5, atol=1e-5), o
    np.savez(tmp_path / "cal.npz", img=x["img"][:, 0], vec=x["vec"][:, 0])
    rep = build(str(tmp_path / "fusion.tflite"), "host", str(tmp_path / "out"), str(tmp_path / "cal.npz"))
    assert rep["totals"]["arena_bytes"] > 0
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "cal.npz"))
    assert r["bit_exact"] and r["mismatches"] == 0, r


def test_int8_tflite_of_two_inputs_and_two_outputs_equals_tflite_micro(tmp_path):
    require("cc")
    blob = _fusion(int8=True)
    (tmp_path / "fusion.tflite").write_bytes(blob)
    _, q = tflite_graphs(str(tmp_path / "fusion.tflite"))
    assert len(q.inputs) == 2 and len(q.outputs) == 2
    rng = np.random.default_rng(2)
    qs = {"img": rng.integers(-128, 128, (12, 1, 6, 6, 3)).astype(np.int8),
          "vec": rng.integers(-128, 128, (12, 1, 5)).astype(np.int8)}
    want = tflm_run_io(blob, [qs["img"], qs["vec"]], 2)
    got = reference.run_batch_outputs(q, InputSamples({q.inputs[0]: qs["img"][:, 0], q.inputs[1]: qs["vec"][:, 0]}))
    for o, w in zip(q.outputs, want):
        assert np.array_equal(got[o], w.reshape(got[o].shape)), o
    # the same integers as float samples (x = (q - zp) * scale quantizes back to q): the C equals the reference
    np.savez(tmp_path / "x.npz", **{k: ((v[:, 0].astype(np.float64) - I8[k][1]) * I8[k][0]).astype(F) for k, v in qs.items()})
    build(str(tmp_path / "fusion.tflite"), "host", str(tmp_path / "out"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npz"))
    assert r["bit_exact"] and r["mismatches"] == 0, r


def test_several_edges_one_of_them_float_are_refused_naming_it(tmp_path):
    (tmp_path / "fusion.tflite").write_bytes(_fusion(int8=True, float_edges=True))
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(str(tmp_path / "fusion.tflite"))
    assert "'img_float'" in str(e.value) and "float32" in str(e.value) and "several inputs" in str(e.value), str(e.value)
