""".tflite operators the converter writes for transposed convs, pixel shuffles, stacks, reductions and
matrix products by a constant (importers/tflite_lowered.py), float SPLIT / SPLIT_V, and a dynamic batch's
shape arithmetic (importers/tflite_shape_ops.py).  Float: each operator alone against TFLite Micro's float
kernel, then two small models that chain them (a sub-pixel super-resolution head; a pooled-statistics
head: SPLIT, REDUCE_MAX, SUM, PACK, BATCH_MATMUL), calibrated, quantized and built for the host, the C
bit-exact with the integer reference.  Int8 (TRANSPOSE_CONV and the copies DEPTH_TO_SPACE, PACK, UNPACK,
REDUCE_MAX): the integer reference and the host C equal TFLite Micro's int8 outputs exactly.  What cannot
be taken is refused by name."""
import numpy as np
import pytest

from conftest import require
from edgec.compiler import reference
from edgec.compiler.errors import UnsupportedOpError
from edgec.driver.build import build, tflite_graphs
from edgec.testkit.tflite_writer import Model
from edgec.testkit.tflm import check_one_op, tflm_run
from edgec.verification.verify import verify

F = np.float32
RNG = np.random.default_rng(7)


def _transpose_conv(padding, stride, k, n_in, n_out, act=0, bias=True, per_channel=True, int8=False):
    """One TRANSPOSE_CONV, float or int8 (input scale 0.05 / zp 4, output 0.2 / -7, per-channel or
    per-tensor int8 filter, int32 bias)."""
    m = Model()
    x_shape, y_shape = (1, n_in, n_in + 1, 3), (1, n_out, n_out + stride, 5)
    x = m.tensor("x", x_shape, scale=0.05, zp=4) if int8 else m.tensor("x", x_shape, F)
    y = m.tensor("y", y_shape, scale=0.2, zp=-7) if int8 else m.tensor("y", y_shape, F)
    w = m.tensor("w", (5, k, k, 3), data=RNG.integers(-127, 128, (5, k, k, 3)).astype(np.int8),
                 scale=RNG.uniform(0.005, 0.02, 5 if per_channel else 1), axis=0) if int8 else \
        m.tensor("w", None, F, data=RNG.normal(0, 1, (5, k, k, 3)).astype(F))
    ins = [m.tensor("shape", None, np.int32, data=np.array(y_shape, np.int32)), w, x]
    if bias:
        ins.append(m.tensor("b", (5,), np.int32, data=RNG.integers(-2000, 2000, 5)) if int8 else
                   m.tensor("b", None, F, data=RNG.normal(0, 1, 5).astype(F)))
    m.op("TRANSPOSE_CONV", ins, [y], padding=padding, stride_h=stride, stride_w=stride, act=act)
    m.inputs, m.outputs = [x], [y]
    return m.bytes(), x_shape


def _one_op(name, shape, out_shape, params=(), outs=1, int8=False, **options):
    """A model of one operator over x (PACK: of x twice), float or int8 (every activation at scale 0.05,
    zero point 4: the copies keep their input's quantization); `params`: its constant inputs after x."""
    m = Model()
    act = (lambda n, sh: m.tensor(n, sh, scale=0.05, zp=4)) if int8 else (lambda n, sh: m.tensor(n, sh, F))
    x = act("x", shape)
    ys = [act(f"y{k}", out_shape) for k in range(outs)]
    ins = [x, x] if name == "PACK" else [x] + [m.tensor(f"p{k}", None, np.asarray(p).dtype, data=p) for k, p in enumerate(params)]
    m.op(name, ins, ys, **options)
    m.inputs, m.outputs = [x], ys[-1:]
    return m.bytes(), shape


ONE_OP = {
    "transpose_conv_same_3x3_s2": lambda: _transpose_conv(0, 2, 3, 4, 8),
    "transpose_conv_same_4x4_s2_relu": lambda: _transpose_conv(0, 2, 4, 4, 8, act=1),
    "transpose_conv_valid_3x3_s2_relu6": lambda: _transpose_conv(1, 2, 3, 4, 9, act=3),
    "transpose_conv_same_3x3_s1_no_bias": lambda: _transpose_conv(0, 1, 3, 5, 5, bias=False),
    "transpose_conv_same_1x1_s2": lambda: _transpose_conv(0, 2, 1, 4, 8),     # one row short: output padding
    "depth_to_space": lambda: _one_op("DEPTH_TO_SPACE", (1, 3, 4, 8), (1, 6, 8, 2), block_size=2),
    "sum_hw": lambda: _one_op("SUM", (1, 4, 5, 6), (1, 6), [np.array([1, 2], np.int32)], keep_dims=False),
    "sum_c_keep": lambda: _one_op("SUM", (1, 4, 5, 6), (1, 4, 5, 1), [np.array([3], np.int32)], keep_dims=True),
    "reduce_max_last": lambda: _one_op("REDUCE_MAX", (1, 4, 5, 6), (1, 4, 5), [np.array([-1], np.int32)]),
    "reduce_min_hw_keep": lambda: _one_op("REDUCE_MIN", (1, 4, 5, 6), (1, 1, 1, 6), [np.array([1, 2], np.int32)],
                                          keep_dims=True),
    "batch_matmul": lambda: _one_op("BATCH_MATMUL", (1, 7, 6), (1, 7, 4), [RNG.normal(0, 1, (6, 4)).astype(F)]),
    "batch_matmul_adj_y": lambda: _one_op("BATCH_MATMUL", (1, 7, 6), (1, 7, 4), [RNG.normal(0, 1, (1, 4, 6)).astype(F)],
                                          adj_y=True),
    "unpack": lambda: _one_op("UNPACK", (1, 3, 4, 2), (1, 4, 2), outs=3, num=3, axis=1),
    "split_v": lambda: _one_op("SPLIT_V", (1, 4, 6), (1, 4, 3), [np.array([3, -1], np.int32), np.array([2], np.int32)],
                               outs=2, num_splits=2),
}


@pytest.mark.parametrize("case", ONE_OP)
def test_float_operator_imports_as_tflite_micro_runs_it(tmp_path, case):
    blob, shape = ONE_OP[case]()
    (tmp_path / "m.tflite").write_bytes(blob)
    g, q = tflite_graphs(str(tmp_path / "m.tflite"))
    assert q is None
    xs = RNG.normal(0, 1, (4,) + shape).astype(F)
    want = tflm_run(blob, xs)
    got = reference.run_batch(g, xs)
    assert np.allclose(got, want.reshape(got.shape), rtol=1e-5, atol=1e-5), case


def _conv(m, x, cin, cout, hw, k=3, act=1):
    y = m.tensor(f"c{len(m.ops)}", (1,) + hw + (cout,), F)
    m.op("CONV_2D", [x, m.tensor(f"w{len(m.ops)}", None, F, data=RNG.normal(0, 0.4, (cout, k, k, cin)).astype(F)),
                     m.tensor(f"b{len(m.ops)}", None, F, data=RNG.normal(0, 0.1, cout).astype(F))], [y],
         padding=0, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=act)
    return y


def _super_resolution():
    """ESPCN's tail (Shi et al. 2016): a conv to 3 * r^2 channels, then DEPTH_TO_SPACE by r = 2."""
    m = Model()
    x = m.tensor("x", (1, 8, 8, 3), F)
    y = m.tensor("y", (1, 16, 16, 3), F)
    m.op("DEPTH_TO_SPACE", [_conv(m, _conv(m, x, 3, 8, (8, 8)), 8, 12, (8, 8), act=0)], [y], block_size=2)
    m.inputs, m.outputs = [x], [y]
    return m.bytes(), (1, 8, 8, 3)


def _pooled_statistics():
    """Two halves of a feature map pooled two ways (max over the map; its sum), stacked, and mixed by a
    constant matrix: SPLIT, REDUCE_MAX, SUM, PACK, BATCH_MATMUL, RESHAPE."""
    m = Model()
    x = m.tensor("x", (1, 6, 6, 2), F)
    f = _conv(m, x, 2, 8, (6, 6))
    a, b = m.tensor("a", (1, 6, 6, 4), F), m.tensor("b", (1, 6, 6, 4), F)
    m.op("SPLIT", [m.tensor("axis", None, np.int32, data=np.array([3], np.int32)), f], [a, b], num_splits=2)
    pa, pb = m.tensor("pa", (1, 4), F), m.tensor("pb", (1, 4), F)
    m.op("REDUCE_MAX", [a, m.tensor("hw", None, np.int32, data=np.array([1, 2], np.int32))], [pa], keep_dims=False)
    m.op("SUM", [b, m.tensor("hw2", None, np.int32, data=np.array([1, 2], np.int32))], [pb], keep_dims=False)
    s = m.tensor("stacked", (1, 2, 4), F)
    m.op("PACK", [pa, pb], [s], values_count=2, axis=1)
    mixed = m.tensor("mixed", (1, 2, 5), F)
    m.op("BATCH_MATMUL", [s, m.tensor("mix", None, F, data=RNG.normal(0, 0.5, (4, 5)).astype(F))], [mixed])
    y = m.tensor("y", (1, 10), F)
    m.op("RESHAPE", [mixed, m.tensor("shape", None, np.int32, data=np.array([1, 10], np.int32))], [y], new_shape=[1, 10])
    m.inputs, m.outputs = [x], [y]
    return m.bytes(), (1, 6, 6, 2)


@pytest.mark.parametrize("make", [_super_resolution, _pooled_statistics], ids=["super_resolution", "pooled_statistics"])
def test_model_of_these_operators_quantizes_bit_exact(tmp_path, make):
    require("cc")
    blob, shape = make()
    (tmp_path / "m.tflite").write_bytes(blob)
    xs = RNG.uniform(-1, 1, (16,) + shape).astype(F)
    g, _ = tflite_graphs(str(tmp_path / "m.tflite"))
    want = tflm_run(blob, xs)
    assert np.allclose(reference.run_batch(g, xs), want.reshape((16,) + g.tensors[g.outputs[0]].shape),
                       rtol=1e-4, atol=1e-4)
    np.save(tmp_path / "x.npy", xs[:, 0])
    build(str(tmp_path / "m.tflite"), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0, r
    assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]


def test_what_the_float_path_cannot_take_is_named(tmp_path):
    """A matrix product of two computed tensors, and a reduction over axes that are not adjacent: one
    error naming both."""
    m = Model()
    x = m.tensor("x", (1, 4, 5, 6), F)
    r = m.tensor("r", (1, 5), F)
    m.op("SUM", [x, m.tensor("axes", None, np.int32, data=np.array([1, 3], np.int32))], [r], keep_dims=False)
    p = m.tensor("p", (1, 5, 5), F)
    rr = m.tensor("rr", (1, 5, 1), F)
    m.op("RESHAPE", [r, m.tensor("s", None, np.int32, data=np.array([1, 5, 1], np.int32))], [rr], new_shape=[1, 5, 1])
    rt = m.tensor("rt", (1, 1, 5), F)
    m.op("RESHAPE", [r, m.tensor("s2", None, np.int32, data=np.array([1, 1, 5], np.int32))], [rt], new_shape=[1, 1, 5])
    m.op("BATCH_MATMUL", [rr, rt], [p])
    m.inputs, m.outputs = [x], [p]
    (tmp_path / "m.tflite").write_bytes(m.bytes())
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(str(tmp_path / "m.tflite"))
    text = str(e.value)
    assert "SUM over axes [1, 3]" in text and "adjacent" in text, text
    assert "BATCH_MATMUL" in text and "constant" in text, text


@pytest.mark.parametrize("gather", [False, True], ids=["strided_slice", "gather"])
def test_shape_arithmetic_of_a_dynamic_batch_folds_at_import(tmp_path, gather):
    """tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1] * tf.shape(x)[2], 6]) as a converter leaves it for an
    unknown batch: SHAPE, STRIDED_SLICE (or GATHER), MUL, CONCATENATION into RESHAPE's new shape.  The chain
    folds to a constant (importers/tflite_shape_ops.py): one Reshape remains, equal to TFLite Micro (which
    here refuses the GATHER of a shape, so that variant is checked by its folded shape)."""
    m = Model()
    x, y = m.tensor("x", (1, 4, 5, 6), F), m.tensor("y", (1, 20, 6), F)
    i32 = lambda name, v: m.tensor(name, None, np.int32, data=np.array(v, np.int32))   # noqa: E731
    shape = m.tensor("shape", (4,), np.int32)
    m.op("SHAPE", [x], [shape], out_type=2)
    batch = m.tensor("batch", (1,), np.int32)
    m.op("STRIDED_SLICE", [shape, i32("b", [0]), i32("e", [1]), i32("s", [1])], [batch])
    h, w = m.tensor("h", (1,), np.int32), m.tensor("w", (1,), np.int32)
    if gather:
        m.op("GATHER", [shape, i32("i1", [1])], [h], axis=0)
        m.op("GATHER", [shape, i32("i2", [2])], [w], axis=0)
    else:
        m.op("STRIDED_SLICE", [shape, i32("b1", [1]), i32("e1", [2]), i32("s1", [1])], [h])
        m.op("STRIDED_SLICE", [shape, i32("b2", [2]), i32("e2", [3]), i32("s2", [1])], [w])
    n = m.tensor("n", (1,), np.int32)
    m.op("MUL", [h, w], [n], act=0)
    new = m.tensor("new", (3,), np.int32)
    m.op("CONCATENATION", [batch, n, i32("c", [6])], [new], axis=0, act=0)
    m.op("RESHAPE", [x, new], [y])
    m.inputs, m.outputs = [x], [y]
    blob = m.bytes()
    (tmp_path / "m.tflite").write_bytes(blob)
    g, _ = tflite_graphs(str(tmp_path / "m.tflite"))
    assert [nd.op for nd in g.nodes] == ["Reshape"] and g.nodes[0].attrs["shape"] == (1, 20, 6)
    if not gather:
        xs = RNG.normal(0, 1, (3, 1, 4, 5, 6)).astype(F)
        assert np.array_equal(reference.run_batch(g, xs), tflm_run(blob, xs).reshape(3, 1, 20, 6))


INT8_OP = {
    "transpose_conv_same_3x3_s2": lambda: _transpose_conv(0, 2, 3, 4, 8, int8=True),
    "transpose_conv_same_4x4_s2_relu": lambda: _transpose_conv(0, 2, 4, 4, 8, act=1, int8=True),
    "transpose_conv_valid_3x3_s2_relu6": lambda: _transpose_conv(1, 2, 3, 4, 9, act=3, int8=True),
    "transpose_conv_s1_no_bias_per_tensor": lambda: _transpose_conv(0, 1, 3, 5, 5, bias=False, per_channel=False, int8=True),
    "transpose_conv_1x1_s2_output_padding": lambda: _transpose_conv(0, 2, 1, 4, 8, int8=True),
    "depth_to_space": lambda: _one_op("DEPTH_TO_SPACE", (1, 3, 4, 8), (1, 6, 8, 2), int8=True, block_size=2),
    "pack": lambda: _one_op("PACK", (1, 3, 4), (1, 2, 3, 4), int8=True, values_count=2, axis=1),
    "unpack": lambda: _one_op("UNPACK", (1, 3, 4, 2), (1, 4, 2), outs=3, int8=True, num=3, axis=1),
    "reduce_max": lambda: _one_op("REDUCE_MAX", (1, 4, 5, 6), (1, 6), [np.array([1, 2], np.int32)], int8=True,
                                  keep_dims=False),
}


@pytest.mark.parametrize("case", INT8_OP)
def test_int8_operator_equals_tflite_micro(tmp_path, case):
    require("cc")
    blob, shape = INT8_OP[case]()
    xs = RNG.integers(-128, 128, (5,) + shape).astype(np.int8)
    check_one_op(tmp_path, blob, xs, case)


def test_int8_copy_quantized_unlike_its_input_is_refused(tmp_path):
    m = Model()
    x, y = m.tensor("x", (1, 3, 4, 8), scale=0.05, zp=4), m.tensor("y", (1, 6, 8, 2), scale=0.1, zp=4)
    m.op("DEPTH_TO_SPACE", [x], [y], block_size=2)
    m.inputs, m.outputs = [x], [y]
    (tmp_path / "m.tflite").write_bytes(m.bytes())
    with pytest.raises(UnsupportedOpError) as e:
        tflite_graphs(str(tmp_path / "m.tflite"))
    assert "int8 DEPTH_TO_SPACE whose output is quantized unlike its input" in str(e.value), str(e.value)
