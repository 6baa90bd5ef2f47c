"""Resampling and data-movement op families from issue 18 (Resize/Upsample in every coordinate mode,
ConvTranspose, Split, Slice of activations, ceil_mode pooling, 1-D conv/pool, channel shuffle
reshapes), each on its own small graph: the float reference equals onnxruntime, and the generated C
equals the integer reference bit for bit (host, sanitizers on; one graph on the emulated Cortex-M7).
The graphs are written with onnx.helper so that every attribute value is reached, not only the ones
PyTorch happens to export; tests/test_zoo_misc.py covers the exporters' own idioms."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.compiler.ir import Graph, Node, Tensor
from edgec.passes.collapse_transpose import collapse_transpose, collapsed
from edgec.passes.pipeline import canonicalize
from edgec.compiler.resize import axis_taps
from edgec.verification.verify import verify
from conftest import extra, onnx_file, require


_model = onnx_file


def _photos(shape):
    """Real calibration data: crops of the VWW photos, as NCHW [N, C, H, W] with C <= 3 (or more, repeated)."""
    n, c, h, w = shape
    x = extra("vww_crops")[:12, :h, :w].astype(np.float32) / 255
    x = np.concatenate([x] * (-(-c // 3)), axis=3)[..., :c]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _check(tmp_path, path, x, target="host", rtol=1e-5):
    sess = ort.InferenceSession(path)
    want = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    g = canonicalize(import_model(path))
    got = reference.run_batch(g, x[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-5)
    np.save(tmp_path / "x.npy", x)
    build(path, target, str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), target, str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(x), r
    assert r["float_agreement"]["sqnr_db"] >= 25, r
    return g, r


def _conv(name, cin, cout, inp, out, rng, k=1):
    w = helper.make_tensor(f"{name}_w", TensorProto.FLOAT, (cout, cin, k, k), rng.normal(0, 0.5, (cout, cin, k, k)).ravel())
    return helper.make_node("Conv", [inp, f"{name}_w"], [out], name=name, pads=[k // 2] * 4), w


RESIZE_CASES = {
    # (mode, coordinate_transformation_mode, nearest_mode, sizes or scales)
    "bilinear_align_corners_9x11": ("linear", "align_corners", "floor", ("sizes", (9, 11))),
    "bilinear_half_pixel_x1.5": ("linear", "half_pixel", "floor", ("scales", (1.5, 1.5))),
    "bilinear_pytorch_half_pixel_to_1x8": ("linear", "pytorch_half_pixel", "floor", ("sizes", (1, 8))),
    "bilinear_asymmetric_x2x3": ("linear", "asymmetric", "floor", ("scales", (2.0, 3.0))),
    "nearest_half_pixel_round_prefer_ceil": ("nearest", "half_pixel", "round_prefer_ceil", ("scales", (2.0, 2.0))),
    "nearest_align_corners_downscale": ("nearest", "align_corners", "round_prefer_floor", ("sizes", (3, 4))),
    "nearest_tf_half_pixel_for_nn_ceil": ("nearest", "tf_half_pixel_for_nn", "ceil", ("scales", (1.0, 2.5))),
}


@pytest.mark.parametrize("case", sorted(RESIZE_CASES))
def test_resize_modes_match_onnxruntime_and_c_is_bit_exact(tmp_path, case):
    require("cc")
    mode, coord, nearest, (kind, hw) = RESIZE_CASES[case]
    rng = np.random.default_rng(1)
    conv, w = _conv("pre", 3, 5, "x", "a", rng, 3)
    if kind == "sizes":
        extra_in = ["", "", "sizes"]
        c = helper.make_tensor("sizes", TensorProto.INT64, (4,), [1, 5, *hw])
        oh, ow = hw
    else:
        extra_in = ["", "scales"]
        c = helper.make_tensor("scales", TensorProto.FLOAT, (4,), [1, 1, *hw])
        oh, ow = int(6 * hw[0]), int(7 * hw[1])
    r = helper.make_node("Resize", ["a"] + extra_in, ["y"], mode=mode, coordinate_transformation_mode=coord,
                         nearest_mode=nearest)
    path = _model(tmp_path, [conv, r], [1, 3, 6, 7], [1, 5, oh, ow], [w, c], name=case)
    g, _ = _check(tmp_path, path, _photos((1, 3, 6, 7)))
    assert {n.op for n in g.nodes} & {"Resize", "Upsample"}     # Upsample where the taps are a plain repeat


def test_nearest_integer_resize_and_upsample_are_the_copy_kernel(tmp_path):
    """asymmetric + floor by integer factors (PyTorch's nearest, ONNX Upsample) needs no tables."""
    require("cc")
    rng = np.random.default_rng(2)
    conv, w = _conv("pre", 3, 4, "x", "a", rng)
    s = helper.make_tensor("s", TensorProto.FLOAT, (4,), [1, 1, 2, 3])
    up = helper.make_node("Upsample", ["a", "s"], ["y"], mode="nearest")
    path = _model(tmp_path, [conv, up], [1, 3, 5, 4], [1, 4, 10, 12], [w, s], opset=9, name="up")
    g, _ = _check(tmp_path, path, _photos((1, 3, 5, 4)))
    assert "Upsample" in {n.op for n in g.nodes} and "Resize" not in {n.op for n in g.nodes}


@pytest.mark.parametrize("stride,pads,out_pad,groups,k,dil", [
    ((2, 2), (1, 1, 1, 1), (1, 1), 1, 3, 1),          # the decoder's usual 3x3 / stride 2 / output_padding 1
    ((2, 3), (0, 2, 1, 0), (1, 0), 2, 3, 1),          # asymmetric pads, grouped, different strides
    ((2, 2), (3, 3, 3, 3), (0, 0), 1, 3, 1),          # pads beyond k - 1: cropped after the conv
    ((1, 1), (1, 1, 1, 1), (0, 0), 1, 3, 2),          # dilated, stride 1: no zero insertion
])
def test_conv_transpose_matches_onnxruntime_and_c_is_bit_exact(tmp_path, stride, pads, out_pad, groups, k, dil):
    require("cc")
    rng = np.random.default_rng(3)
    cin, cout_g, h, w_ = 4, 3, 6, 5
    conv, cw = _conv("pre", 3, cin, "x", "a", rng)
    wt = helper.make_tensor("wt", TensorProto.FLOAT, (cin, cout_g, k, k), rng.normal(0, 0.4, (cin, cout_g, k, k)).ravel())
    bias = helper.make_tensor("bt", TensorProto.FLOAT, (cout_g * groups,), rng.normal(0, 0.1, cout_g * groups))
    ct = helper.make_node("ConvTranspose", ["a", "wt", "bt"], ["y"], strides=list(stride), pads=list(pads),
                          output_padding=list(out_pad), group=groups, dilations=[dil, dil])
    oh = (h - 1) * stride[0] - pads[0] - pads[2] + dil * (k - 1) + out_pad[0] + 1
    ow = (w_ - 1) * stride[1] - pads[1] - pads[3] + dil * (k - 1) + out_pad[1] + 1
    path = _model(tmp_path, [conv, ct], [1, 3, h, w_], [1, cout_g * groups, oh, ow], [cw, wt, bias], name="ct")
    _check(tmp_path, path, _photos((1, 3, h, w_)))


def test_split_both_forms_and_slices_with_negative_axes(tmp_path):
    """Split with sizes as an input (opset 13) and with num_outputs (opset 18, uneven last part), and
    Slice of an activation on a negative axis with an end past the dimension."""
    require("cc")
    rng = np.random.default_rng(4)
    conv, w = _conv("pre", 3, 7, "x", "a", rng)
    for opset in (13, 18):
        if opset == 13:
            sizes = helper.make_tensor("sizes", TensorProto.INT64, (3,), [2, 4, 1])
            split = helper.make_node("Split", ["a", "sizes"], ["p", "q", "r"], axis=1)
            inits = [w, sizes]
        else:
            split = helper.make_node("Split", ["a"], ["p", "q", "r"], axis=1, num_outputs=3)   # 3, 3, 1
            inits = [w]
        st = helper.make_tensor("st", TensorProto.INT64, (2,), [1, -3])
        en = helper.make_tensor("en", TensorProto.INT64, (2,), [1 << 40, 1 << 40])
        ax = helper.make_tensor("ax", TensorProto.INT64, (2,), [-1, -2])
        sl = helper.make_node("Slice", ["q", "st", "en", "ax"], ["q2"])
        sp = helper.make_node("Slice", ["p", "st", "en", "ax"], ["p2"])
        sr = helper.make_node("Slice", ["r", "st", "en", "ax"], ["r2"])
        cat = helper.make_node("Concat", ["r2", "p2", "q2"], ["y"], axis=1)
        path = _model(tmp_path, [conv, split, sl, sp, sr, cat], [1, 3, 6, 6], [1, 7, 3, 5], inits + [st, en, ax],
                      opset=opset, name=f"split{opset}")
        (tmp_path / str(opset)).mkdir()
        _check(tmp_path / str(opset), path, _photos((1, 3, 6, 6)))


def test_strided_and_flipping_slices_of_h_and_w_match_onnxruntime(tmp_path):
    """YOLOv5's Focus (x[..., ::2, ::2] and x[..., 1::2, ::2] concatenated on channels) and a flip
    with step -2 on W: Slice steps on H and W are Resize "strided" taps."""
    require("cc")
    rng = np.random.default_rng(8)
    conv, w = _conv("pre", 3, 4, "x", "a", rng)

    def sl(name, inp, starts, ends, axes, steps):
        ts = [helper.make_tensor(f"{name}_{k}", TensorProto.INT64, (len(v),), v)
              for k, v in (("s", starts), ("e", ends), ("a", axes), ("p", steps))]
        return helper.make_node("Slice", [inp] + [t.name for t in ts], [name], name=name), ts
    parts = [sl("p0", "a", [0, 0], [1 << 40, 1 << 40], [2, 3], [2, 2]),
             sl("p1", "a", [1, 0], [1 << 40, 1 << 40], [2, 3], [2, 2]),
             sl("p2", "a", [-2, 0, 1], [-(1 << 40), 1 << 40, 3], [-1, 2, 1], [-2, 2, 1])]
    nodes = [conv] + [p[0] for p in parts] + [helper.make_node("Concat", ["p0", "p1", "p2"], ["y"], axis=1)]
    inits = [w] + [t for p in parts for t in p[1]]
    path = _model(tmp_path, nodes, [1, 3, 8, 10], [1, 10, 4, 5], inits, name="focus")
    g, _ = _check(tmp_path, path, _photos((1, 3, 8, 10)))
    assert sum(n.op == "Resize" for n in g.nodes) == 3


def test_expand_of_an_activation_is_a_nearest_repeat(tmp_path):
    """Unsqueeze -> Expand -> Reshape of a computed map (how Keras's ONNX export writes UpSampling2D),
    with the Expand's target computed by an integer Mod (fmod=0: the divisor's sign) from constants."""
    require("cc")
    rng = np.random.default_rng(9)
    conv, w = _conv("pre", 3, 4, "x", "a", rng)
    consts = [helper.make_tensor("ax", TensorProto.INT64, (2,), [3, 5]),
              helper.make_tensor("t", TensorProto.INT64, (6,), [-9, 14, 25, 12, -3, 13]),
              helper.make_tensor("m", TensorProto.INT64, (6,), [10] * 6),
              helper.make_tensor("out", TensorProto.INT64, (4,), [1, 4, 10, 21])]
    nodes = [conv, helper.make_node("Unsqueeze", ["a", "ax"], ["u"]),                     # [1, 4, 5, 1, 7, 1]
             helper.make_node("Mod", ["t", "m"], ["ex"]),              # Python's sign rule: [1, 4, 5, 2, 7, 3]
             helper.make_node("Expand", ["u", "ex"], ["e"]),
             helper.make_node("Reshape", ["e", "out"], ["y"])]
    path = _model(tmp_path, nodes, [1, 3, 5, 7], [1, 4, 10, 21], [w] + consts, name="expand")
    g, _ = _check(tmp_path, path, _photos((1, 3, 5, 7)))
    assert "Concat" in {n.op for n in g.nodes}


def test_slices_with_a_step_on_channels_are_strided_slices(tmp_path):
    """Steps on an axis other than H and W (every other channel; the channels reversed, step -1, as a
    time reversal is on a sequence) read through the StridedSlice op in the tensor's NHWC layout."""
    require("cc")
    inits = [helper.make_tensor(n, TensorProto.INT64, (1,), [v]) for n, v in
             (("st", 0), ("en", 6), ("ax", 1), ("sp", 2), ("st2", -1), ("en2", -(1 << 40)), ("sp2", -1))]
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("Slice", ["a", "st", "en", "ax", "sp"], ["p0"], name="strided"),
             helper.make_node("Slice", ["a", "st2", "en2", "ax", "sp2"], ["p1"], name="flipped"),
             helper.make_node("Concat", ["p0", "p1"], ["y"], axis=1)]
    path = _model(tmp_path, nodes, [1, 6, 6, 6], [1, 9, 6, 6], inits, name="step")
    g, _ = _check(tmp_path, path, _photos((1, 6, 6, 6)))
    assert sum(n.op == "StridedSlice" for n in g.nodes) == 2


def test_ceil_mode_pools_and_1d_conv_pool_match_onnxruntime(tmp_path):
    """1-D Conv / MaxPool (ceil_mode) / AveragePool (ceil_mode, padding excluded) / GlobalAveragePool
    on [N, C, T] MFCC frames (the KWS features), run as 2-D with H = 1."""
    require("cc")
    rng = np.random.default_rng(5)
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, (6, 10, 3), rng.normal(0, 0.3, (6, 10, 3)).ravel())
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 2], strides=[2]),
             helper.make_node("MaxPool", ["a"], ["b"], kernel_shape=[3], strides=[2], ceil_mode=1),
             helper.make_node("AveragePool", ["b"], ["c"], kernel_shape=[2], strides=[2], pads=[1, 0], ceil_mode=1),
             helper.make_node("GlobalAveragePool", ["c"], ["d"]),
             helper.make_node("Concat", ["d", "d"], ["y"], axis=2)]
    t1 = (49 + 3 - 3) // 2 + 1                 # 25
    t2 = -(-(t1 - 3) // 2) + 1                 # 12
    t3 = -(-(t2 + 1 - 2) // 2) + 1             # 7
    assert t3 == 7
    path = _model(tmp_path, nodes, [1, 10, 49], [1, 6, 2], [w1], name="audio1d")
    kws = np.concatenate([extra("kws_shift")])[..., 0].transpose(0, 2, 1)
    _check(tmp_path, path, np.ascontiguousarray(kws[:16]).astype(np.float32))


def test_2d_ceil_mode_max_pool_drops_a_window_starting_in_the_padding(tmp_path):
    require("cc")
    rng = np.random.default_rng(6)
    conv, w = _conv("pre", 3, 4, "x", "a", rng)
    pool = helper.make_node("MaxPool", ["a"], ["y"], kernel_shape=[2, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    # H: ceil((7 + 2 - 2) / 2) + 1 = 5, last window starts at 8 >= 7 + 1 -> 4;  W: ceil((8 + 2 - 3) / 2) + 1 = 5
    path = _model(tmp_path, [conv, pool], [1, 3, 7, 8], [1, 4, 4, 5], [w], name="ceil2d")
    _check(tmp_path, path, _photos((1, 3, 7, 8)))


def test_channel_shuffle_reshapes_stay_in_nhwc_with_one_transpose(tmp_path):
    """[N, C, H, W] -> [N, g, C/g, H, W] -> swap -> [N, C, H, W] between two convs: the reshapes are
    done in the NHWC layout and the only data movement left is one Transpose of (g, C/g)."""
    require("cc")
    rng = np.random.default_rng(7)
    c1, w1 = _conv("c1", 3, 6, "x", "a", rng)
    c2, w2 = _conv("c2", 6, 4, "d", "y", rng)
    s5 = helper.make_tensor("s5", TensorProto.INT64, (5,), [1, 3, 2, 5, 5])
    s4 = helper.make_tensor("s4", TensorProto.INT64, (4,), [1, 6, 5, 5])
    nodes = [c1, helper.make_node("Reshape", ["a", "s5"], ["b"]), helper.make_node("Transpose", ["b"], ["c"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["c", "s4"], ["d"]), c2]
    path = _model(tmp_path, nodes, [1, 3, 5, 5], [1, 4, 5, 5], [w1, w2, s5, s4], name="shuffle")
    g, _ = _check(tmp_path, path, _photos((1, 3, 5, 5)))
    moves = [n for n in g.nodes if n.op == "Transpose"]
    # the input's NCHW -> NHWC, the shuffle, and the NCHW graph output
    assert len(moves) == 3, [(n.name, n.attrs) for n in moves]
    # collapsed to the fewest axes, but the input's NCHW -> NHWC, which a tiled stage may run by rows
    assert all(len(n.attrs["perm"]) <= 3 or tuple(n.attrs["perm"]) == (0, 2, 3, 1) for n in moves)


def test_collapse_transpose_before_after_on_a_rank5_shuffle():
    """The pass on its own: rank-5 and size-1-only Transposes become Reshape/Transpose/Reshape or a
    Reshape, and the float reference gives the same values before and after."""
    t = {"x": Tensor("x", (1, 4, 4, 2, 3)), "y": Tensor("y", (1, 4, 4, 3, 2)), "z": Tensor("z", (1, 4, 4, 1, 6)),
         "u": Tensor("u", (1, 4, 1, 4, 6))}
    nodes = [Node("Transpose", "shuffle", ["x"], ["y"], {"perm": (0, 1, 2, 4, 3)}),
             Node("Reshape", "r", ["y"], ["z"], {"shape": (1, 4, 4, 1, 6)}),
             Node("Transpose", "ones", ["z"], ["u"], {"perm": (0, 1, 3, 2, 4)})]
    g = Graph("t", nodes, t, ["x"], ["u"])
    after = collapse_transpose(g)
    assert collapse_transpose(after).nodes == after.nodes                       # idempotent
    assert [len(n.attrs["perm"]) for n in after.nodes if n.op == "Transpose"] == [3]
    assert "Transpose" not in {n.op for n in after.nodes if n.name.startswith("ones")}
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(reference.run(g, x)["u"], reference.run(after, x)["u"])
    assert collapsed((2, 3, 4, 5, 6), (4, 3, 2, 1, 0)) == ((2, 3, 4, 5, 6), (4, 3, 2, 1, 0))
    assert collapsed((1, 12, 12, 48), (0, 3, 1, 2)) == ((144, 48), (1, 0))


def test_resize_taps_follow_the_onnx_coordinate_formulas():
    """Spot values of the compile-time tables (ONNX Resize's reference formulas)."""
    i0, i1, w = axis_taps(4, 8, 2.0, "linear", "half_pixel")
    assert list(i0[:3]) == [0, 0, 0] and list(i1[:3]) == [1, 1, 1] and np.allclose(w[:3], [0, 0.25, 0.75])
    i0, i1, w = axis_taps(3, 5, 5 / 3, "linear", "align_corners")
    assert np.allclose(i0 + w, [0, 0.5, 1, 1.5, 2])
    i0, _, w = axis_taps(3, 7, 2.0, "zeros")
    assert list(i0) == [0, -1, 1, -1, 2, -1, -1]


@pytest.mark.parametrize("attrs,shape", [
    ({"size": (7, 5), "mode": "linear", "coord": "half_pixel", "scale": (7 / 3, 5 / 4)}, (3, 4, 6)),
    ({"size": (2, 9), "mode": "linear", "coord": "align_corners", "scale": (0.4, 1.8)}, (5, 5, 3)),
    ({"size": (6, 8), "mode": "nearest", "coord": "half_pixel", "nearest": "round_prefer_ceil", "scale": (2.0, 2.0)},
     (3, 4, 2)),
    ({"size": (5, 7), "mode": "zeros", "scale": (2.0, 3.0)}, (3, 3, 4)),
    ({"size": (2, 3), "mode": "strided", "scale": (2, -2), "offset": (1, 5)}, (4, 6, 3)),
])
@pytest.mark.parametrize("shift", [0.0, 8.0])
def test_resize_kernel_is_bit_exact_with_sanitizers_and_saturating_inputs(tmp_path, attrs, shape, shift):
    """edgec_resize_s8 against resize.resize_s8 on the IR op directly (UBSan + ASan on the host), with
    inputs around zero and inputs that sit at +127 (the extremes of the Q20 sums)."""
    from op_graphs import check, graph_of
    check(tmp_path, graph_of("Resize", (1,) + shape, attrs), np.random.default_rng(len(shape) + int(shift)), shift=shift)
