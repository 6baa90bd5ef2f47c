"""Every C kernel against its numpy twin, bit for bit, on hypothesis-drawn shapes, attributes and data.

Each example is a one-op float graph (plus constants) that goes through the real pipeline —
calibrate, quantize, plan, codegen — and is compiled with the host cc under UBSan + ASan (any
undefined behaviour or out-of-bounds access fails the example).  Calibration sees a
narrower range than the test samples, so inputs clip and outputs saturate: the edges are exercised."""
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from edgec.compiler import reference
from edgec.compiler.errors import TargetError
from edgec.driver.build import compile_graph
from edgec.compiler.ir import Graph, Node, Tensor
from edgec.passes.plan_scratch import MIN_K4
from edgec.passes.plan_wide import CODE_RESERVE
from edgec.verification.verify import Built
from conftest import require
from op_graphs import acts, check, dims, drawn_conv, graph_of

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(h=dims, w=dims, c=st.integers(1, 6), mult=st.integers(1, 3), k=st.integers(1, 3), stride=st.integers(1, 2),
       dil=st.integers(1, 2), pads=st.tuples(*[st.integers(0, 2)] * 4), depthwise=st.booleans(), act=acts,
       seed=st.integers(0, 2**16))
def test_conv2d(tmp_path, h, w, c, mult, k, stride, dil, pads, depthwise, act, seed):
    rng = np.random.default_rng(seed)
    h, w, groups, out_c, wts = drawn_conv(rng, h, w, c, mult, k, dil, pads, depthwise)
    g = graph_of("Conv2D", (1, h, w, c), {"strides": (stride, stride), "dilations": (dil, dil), "pads": pads,
                                            "groups": groups, "act": act}, [wts, rng.normal(0, 1, out_c)])
    check(tmp_path, g, rng)


@SETTINGS
@given(k=st.integers(1, 40), m=st.integers(1, 20), act=acts, seed=st.integers(0, 2**16))
def test_fully_connected(tmp_path, k, m, act, seed):
    rng = np.random.default_rng(seed)
    g = graph_of("FullyConnected", (1, k), {"act": act}, [rng.normal(0, 1, (m, k)), rng.normal(0, 3, m)])
    check(tmp_path, g, rng)


@SETTINGS
@given(op=st.sampled_from(["Add", "Sub", "Mul"]), shape=st.tuples(dims, dims, st.integers(1, 5)),
       bcast=st.sampled_from(["same", "channel", "scalar", "row"]), act=acts, seed=st.integers(0, 2**16))
def test_elementwise_binary(tmp_path, op, shape, bcast, act, seed):
    rng = np.random.default_rng(seed)
    x_shape = (1,) + shape
    cshape = {"same": x_shape, "channel": (shape[-1],), "scalar": (1,), "row": (1, 1, shape[1], 1)}[bcast]
    g = graph_of(op, x_shape, {"act": act}, [rng.normal(0, 4, cshape)])
    check(tmp_path, g, rng)


@SETTINGS
@given(op=st.sampled_from(["Add", "Sub", "Mul"]), shape=st.tuples(dims, dims, st.integers(1, 5)), seed=st.integers(0, 2**16))
def test_elementwise_two_activations(tmp_path, op, shape, seed):
    """Both operands are activations with different scales (a ResNet skip connection)."""
    rng = np.random.default_rng(seed)
    pre = [Node("Mul", "pre_a", ["x", "ka"], ["a"], {"act": None}), Node("Relu", "pre_b", ["x"], ["b"], {})]
    g = graph_of(op, (1,) + shape, {"act": None}, [], pre, {"ka": np.array([rng.uniform(-5, 5)])})
    check(tmp_path, g, rng)


def add_sub_graph(op, shape, bcast, rng):
    """op of two activations with different scales (a ResNet skip connection: the flat loop), or of an
    activation and a constant channel vector (bcast: the broadcast walk)."""
    if bcast:
        return graph_of(op, (1,) + shape, {"act": None}, [rng.normal(0, 4, shape[-1:])])
    # a goes through a (1x1) pool, so that a and b are not both element-wise functions of x, which
    # collapse_elementwise would fold into one table: the Add/Sub kernel runs
    pool = {"kernel": (1, 1), "strides": (1, 1), "pads": (0, 0, 0, 0), "act": None}
    pre = [Node("MaxPool2D", "pre_p", ["x"], ["p"], pool), Node("Mul", "pre_a", ["p", "ka"], ["a"], {"act": None}),
           Node("Relu", "pre_b", ["x"], ["b"], {})]
    return graph_of(op, (1,) + shape, {"act": None}, [], pre, {"ka": np.array([rng.uniform(-5, 5)])})


def narrow_add_clamp(q):
    """Clamp the Add/Sub to [out_zp + 5 (kept in -128..100), 120], as an imported model's fused Relu may
    (calibration puts act_min at -128); the kernels' clamp after the requantization is then live."""
    node = next(n for n in q.nodes if n.op in ("Add", "Sub"))
    node.attrs.update(act_min=int(np.clip(node.attrs["out_zp"] + 5, -128, 100)), act_max=120)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(["Add", "Sub"]), shape=st.tuples(dims, dims, st.integers(1, 5)), bcast=st.booleans(),
       narrow=st.booleans(), seed=st.integers(0, 2**16))
def test_cortex_m4_add_sub_equal_the_twin(tmp_path, op, shape, bcast, narrow, seed):
    """Add/Sub on Armv7E-M in QEMU: the operands' 256-entry tables, summed and requantized by the
    prepared SMLAL form (the flat loop) or the generic one (the broadcast walk), with and without a
    narrower clamp than the int8 range."""
    rng = np.random.default_rng(seed)
    check(tmp_path, add_sub_graph(op, shape, bcast, rng), rng, target="cortex-m4", edit=narrow_add_clamp if narrow else None)


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_sub_with_a_left_shifting_multiplier(tmp_path, target):
    """x - (1 + 1e-7) x: the calibrated output range is far below the operands' quantum, so the final
    multiplier is above 0.5 (shift >= 0).  edgec_rq_fast refuses it on Armv7E-M, and the tables go
    through the generic requantization (the broadcast walk); the host's flat loop takes it as it is."""
    rng = np.random.default_rng(3)
    pre = [Node("Mul", "pre_a", ["x", "ka"], ["a"], {"act": None}), Node("Mul", "pre_b", ["x", "kb"], ["b"], {"act": None})]
    g = graph_of("Sub", (1, 3, 4, 5), {"act": None}, [], pre, {"ka": np.full(5, 1.0), "kb": np.full(5, 1.0 + 1e-7)})
    built = check(tmp_path, g, rng, target=target)
    assert next(n for n in built.int_graph.nodes if n.op == "Sub").attrs["shift"] >= 0


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(["Add", "Sub"]), shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5)),
       bcast=st.booleans(), narrow=st.booleans(), seed=st.integers(0, 2**16))
def test_atmega328p_add_sub_read_their_tables_from_flash(tmp_path, op, shape, bcast, narrow, seed):
    """On AVR the Add/Sub tables are __flash data read through __flash pointers (LPM), in simavr."""
    rng = np.random.default_rng(seed)
    check(tmp_path, add_sub_graph(op, shape, bcast, rng), rng, target="atmega328p", edit=narrow_add_clamp if narrow else None)


@SETTINGS
@given(op=st.sampled_from(["MaxPool2D", "AvgPool2D"]), h=dims, w=dims, c=st.integers(1, 5), k=st.integers(1, 3),
       stride=st.integers(1, 3), pad=st.integers(0, 1), act=acts, counted=st.booleans(), seed=st.integers(0, 2**16))
@example(op="AvgPool2D", h=5, w=6, c=3, k=3, stride=2, pad=1, act=None, counted=True, seed=1)   # count_pads
def test_pool(tmp_path, op, h, w, c, k, stride, pad, act, counted, seed):
    rng = np.random.default_rng(seed)
    pad = min(pad, k - 1)
    h, w = max(h, k), max(w, k)
    attrs = {"kernel": (k, k), "strides": (stride, stride), "pads": (pad, pad, pad, pad), "act": act}
    if counted and op == "AvgPool2D":           # count_include_pad: all but the left padding counted
        attrs["count_pads"] = (pad, 0, pad, pad)
    g = graph_of(op, (1, h, w, c), attrs)
    check(tmp_path, g, rng)


@SETTINGS
@given(op=st.sampled_from(["Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Swish", "HardSigmoid", "HardSwish", "Mish"]), n=st.integers(1, 300),
       scale=st.sampled_from([0.01, 1.0, 30.0]), seed=st.integers(0, 2**16))
def test_lookup_table_ops(tmp_path, op, n, scale, seed):
    rng = np.random.default_rng(seed)
    attrs = {"Clip": {"min": -0.5, "max": 2.0}, "LeakyRelu": {"alpha": 0.1}, "HardSigmoid": {"alpha": 0.2, "beta": 0.5}}.get(op, {})
    g = graph_of(op, (1, n), attrs)
    g.nodes[0].name = "standalone"          # not fused: nothing precedes it
    check(tmp_path, g, rng, scale)


@SETTINGS
@given(rows=st.integers(1, 4), cols=st.integers(1, 40), scale=st.sampled_from([0.1, 1.0, 10.0]), seed=st.integers(0, 2**16))
def test_softmax(tmp_path, rows, cols, scale, seed):
    rng = np.random.default_rng(seed)
    built = check(tmp_path, graph_of("Softmax", (rows, cols), {}), rng, scale)
    assert built.int_graph.tensors["y"].quant.scalar_zp == -128


@SETTINGS
@given(shape=st.tuples(dims, dims, dims), perm=st.permutations([1, 2, 3]), seed=st.integers(0, 2**16))
def test_transpose(tmp_path, shape, perm, seed):
    rng = np.random.default_rng(seed)
    check(tmp_path, graph_of("Transpose", (1,) + shape, {"perm": (0,) + tuple(perm)}), rng)


@SETTINGS
@given(shape=st.tuples(dims, dims, dims), pads=st.lists(st.integers(0, 2), min_size=8, max_size=8), seed=st.integers(0, 2**16))
def test_pad(tmp_path, shape, pads, seed):
    rng = np.random.default_rng(seed)
    pads[0] = pads[4] = 0
    check(tmp_path, graph_of("Pad", (1,) + shape, {"pads": tuple(pads)}), rng)


@SETTINGS
@given(shape=st.tuples(dims, dims, dims), axis=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_concat_with_requantization(tmp_path, shape, axis, seed):
    rng = np.random.default_rng(seed)
    pre = [Node("Mul", "pre_a", ["x", "ka"], ["a"], {"act": None}), Node("Relu", "pre_b", ["x"], ["b"], {})]
    g = graph_of("Concat", (1,) + shape, {"axis": axis}, [], pre, {"ka": np.array([rng.uniform(2, 9)])})
    check(tmp_path, g, rng)


@SETTINGS
@given(shape=st.tuples(dims, dims, dims), sh=st.integers(1, 3), sw=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_upsample(tmp_path, shape, sh, sw, seed):
    check(tmp_path, graph_of("Upsample", (1,) + shape, {"scale": (sh, sw)}), np.random.default_rng(seed))


@SETTINGS
@given(shape=st.tuples(dims, dims, dims), data=st.data(), seed=st.integers(0, 2**16))
def test_slice(tmp_path, shape, data, seed):
    begin, end = [0], [1]
    for d in shape:
        b = data.draw(st.integers(0, d - 1))
        begin.append(b)
        end.append(data.draw(st.integers(b + 1, d)))
    check(tmp_path, graph_of("Slice", (1,) + shape, {"begin": tuple(begin), "end": tuple(end)}), np.random.default_rng(seed))


#: The loop nests of edgec_conv2d_s8 / edgec_depthwise_conv2d_s8 (runtime_c/edgec_conv2d_s8.c, edgec_depthwise_conv2d_s8.c) and the
#: shapes that select them: pointwise (odd channel and pixel counts: the padded last group of the pair
#: layout, the padding channel, the lone last pixel), rows (in_c a multiple of 4; strides, dilation,
#: padding: pixel pairs, border pixels, missing-tap sums), patch (small windows), taps (in_c not a
#: multiple of 4 and a window over EDGEC_PATCH_MAX), grouped, depthwise (channel counts that are not a
#: multiple of 4, strides, dilation, padding; border rows through the padded strip), depthwise_wide
#: (rows too wide for the strip: border pixels kernel row by kernel row).  "columns" (conv_case only,
#: compiled with --optimize speed, which gives it its scratch): a one-group, not pointwise conv with
#: K4 >= MIN_K4, in_c a multiple of 4 (whole kernel rows expanded four inputs at a time, taps over the
#: padding filled) or not (windows staged as bytes).
#: a flash budget with no room for wide weights (passes/plan_wide.py): Armv7E-M builds keep the int8 loop nests
NO_WIDE = CODE_RESERVE
CONV_PATHS = ["pointwise", "rows", "patch", "taps", "grouped", "depthwise", "depthwise_wide"]
#: the entry points codegen calls for each (codegen/c.py conv_entry); a conv the memory plan gives a
#: columns scratch calls edgec_conv2d_cols_s8 instead
CONV_ENTRIES = {"pointwise": ["edgec_conv2d_pointwise_s8"], "rows": ["edgec_conv2d_rows_s8"], "patch": ["edgec_conv2d_patch_s8"],
                "taps": ["edgec_conv2d_taps_s8"], "grouped": ["edgec_conv2d_taps_s8"],
                "depthwise": ["edgec_depthwise_conv2d_lines_s8", "edgec_depthwise_conv2d_quads_s8", "edgec_depthwise_conv2d_planes_s8"],
                "depthwise_wide": ["edgec_depthwise_conv2d_lines_s8", "edgec_depthwise_conv2d_quads_s8",
                                   "edgec_depthwise_conv2d_planes_s8"]}


def _called_entry(tmp_path, path, shape, attrs, wts):
    """The entry point codegen called for a conv_case; one input and one output channel is depthwise."""
    path = "depthwise" if attrs["groups"] == shape[3] == wts.shape[0] else path
    if (path != "depthwise" and attrs["groups"] == 1 and wts.shape[1:3] == (1, 1) and tuple(attrs["strides"]) == (1, 1)
            and not any(attrs["pads"])):              # a drawn 1x1 stride-1 unpadded window is pointwise
        path = "pointwise"
    model_c = (tmp_path / "out" / "model.c").read_text()
    assert any(f"{e}(" in model_c for e in CONV_ENTRIES[path] + ["edgec_conv2d_cols_s8"]), (path, model_c[-400:])


def conv_case(path, draw, rng):
    """(x shape, attrs, weights, bias) of a Conv2D that takes `path`."""
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    k, stride, dil, groups = 1, 1, 1, 1
    pads = (0, 0, 0, 0)
    if path == "pointwise":
        c, out_c = draw(st.integers(1, 9)), draw(st.integers(1, 7))
    elif path in ("depthwise", "depthwise_wide"):
        c = draw(st.integers(1, 9))
        out_c, groups = c, c
        if path == "depthwise_wide":                 # 3 rows x >= 17 words: over EDGEC_DW_STRIP (48)
            h, w = draw(st.integers(1, 3)), draw(st.integers(17, 20))
    else:
        c = {"rows": draw(st.sampled_from([4, 8, 12])), "patch": draw(st.sampled_from([1, 2, 3, 5])),
             "taps": draw(st.sampled_from([3, 5, 6])), "grouped": draw(st.sampled_from([4, 6])),
             "columns": draw(st.sampled_from([3, 5, 8, 12, 36]))}[path]
        out_c = draw(st.integers(1, 5)) * (2 if path == "grouped" else 1)
        groups = 2 if path == "grouped" else 1
    if path != "pointwise":
        k = 5 if path == "taps" else 3 if path == "depthwise_wide" else draw(st.integers(1, 3))
        stride, dil = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        pads = draw(st.tuples(*[st.integers(0, 2)] * 4))
        if path == "patch":
            dil = 1 if k * k * c > 16 else dil
        if path == "columns":
            c = c if k * k * c >= MIN_K4 else 36
            stride = 2 if k == 1 else stride         # 1x1 stride 1 unpadded is pointwise: its own loop nest
    reach = dil * (k - 1) + 1
    h, w = max(h, reach - pads[0] - pads[2]), max(w, reach - pads[1] - pads[3])
    wts = rng.normal(0, 1, (out_c, k, k, c // groups))
    wts[0] *= 1e-3                                   # a near-dead channel: tiny scale, saturated bias
    attrs = {"strides": (stride, stride), "dilations": (dil, dil), "pads": pads, "groups": groups}
    return (1, h, w, c), attrs, wts, rng.normal(0, 1, out_c)


@settings(max_examples=36, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(CONV_PATHS), act=acts, data=st.data(), seed=st.integers(0, 2**16))
def test_conv2d_loop_nests(tmp_path, path, act, data, seed):
    """Each loop nest of the conv kernels against the twin on the host (UBSan + ASan)."""
    rng = np.random.default_rng(seed)
    shape, attrs, wts, bias = conv_case(path, data.draw, rng)
    check(tmp_path, graph_of("Conv2D", shape, dict(attrs, act=act), [wts, bias]), rng)
    _called_entry(tmp_path, path, shape, attrs, wts)


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(long=st.integers(12, 53), short=st.integers(1, 12), tall=st.booleans(), c=st.integers(1, 9),
       stride=st.sampled_from([(1, 1), (1, 1), (1, 1), (1, 2), (2, 1)]), pads=st.tuples(*[st.integers(0, 2)] * 4), act=acts,
       seed=st.integers(0, 2**16))
def test_cortex_m4_depthwise_3x3_lines(tmp_path, long, short, tall, c, stride, pads, act, seed):
    """The Armv7E-M variant's 3x3 depthwise loop nest for stride 1 and runs of 12 or more (edgec_dw_rows3:
    one channel at a time over three interleaved int16 lines, along rows or, where the output is taller
    than wide, down columns; any padding), and the quad loop it leaves the other planes to (strides of
    2, runs too long for its lines)."""
    rng = np.random.default_rng(seed)
    h, w = (long, short) if tall else (short, long)
    h, w = max(h, 3 - pads[0] - pads[2]), max(w, 3 - pads[1] - pads[3])
    wts = rng.normal(0, 1, (c, 3, 3, 1))
    wts[0] *= 1e-3                                   # a near-dead channel: tiny scale, saturated bias
    g = graph_of("Conv2D", (1, h, w, c), {"strides": stride, "dilations": (1, 1), "pads": pads, "groups": c, "act": act},
                 [wts, rng.normal(0, 1, c)])
    check(tmp_path, g, rng, target="cortex-m4")


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.sampled_from([1, 2, 3, 5, 6, 9, 25, 40]), w=st.sampled_from([1, 2, 3, 5, 6, 7, 12, 31, 49, 60]),
       quads=st.integers(1, 3), tail=st.sampled_from([0, 0, 0, 1, 3]), stride=st.integers(1, 2),
       pads=st.tuples(*[st.integers(0, 2)] * 4), act=acts, seed=st.integers(0, 2**16))
def test_cortex_m4_depthwise_3x3_planes(tmp_path, h, w, quads, tail, stride, pads, act, seed):
    """The Armv7E-M variant's 3x3 depthwise over int16 channel planes (edgec_dw_planes, stride 1 or 2,
    channels a multiple of 4: four channels sign-extended into planes with their padding, two outputs a
    pass): planes narrower than a pass (odd widths, one column), tiles split across and down (planes too
    large for the stack buffer: 49 and 60 wide, 40 tall), any padding; a channel count that is not a
    multiple of 4 (`tail`) takes the other nests."""
    rng = np.random.default_rng(seed)
    c = 4 * quads + tail
    h, w = max(h, 3 - pads[0] - pads[2]), max(w, 3 - pads[1] - pads[3])
    wts = rng.normal(0, 1, (c, 3, 3, 1))
    wts[0] *= 1e-3                                   # a near-dead channel: tiny scale, saturated bias
    g = graph_of("Conv2D", (1, h, w, c), {"strides": (stride, stride), "dilations": (1, 1), "pads": pads, "groups": c, "act": act},
                 [wts, rng.normal(0, 1, c)])
    check(tmp_path, g, rng, target="cortex-m4")
    assert ("edgec_depthwise_conv2d_planes_s8(" in (tmp_path / "out" / "model.c").read_text()) == (tail == 0)


@pytest.mark.parametrize("h,w,stride,act", [(25, 5, 1, None), (4, 7, 1, (0.0, 6.0)), (6, 9, 1, None), (5, 3, 1, None), (3, 1, 1, None),
                                            (6, 6, 1, (0.0, np.inf)), (9, 7, 2, None), (7, 13, 2, (-1.0, 1.0)), (40, 11, 1, None)])
def test_cortex_m4_depthwise_3x3_planes_rows(tmp_path, h, w, stride, act):
    """The planes' row shapes one by one (edgec_dw3p_run, edgec_dw3p_rq): odd rows of 5 or more at stride 1
    end in a pass of three (KWS's 25x5), rows of 1 and 3 and odd rows at stride 2 overwrite their last
    pass's second sum, the requantization's rows end in 0-3 sums after its fours, tiles split down (40
    tall); channel 0 near-dead (its shift and saturated bias take the general requantization), a clamp
    inside int8 takes it for all."""
    rng = np.random.default_rng(100 * h + 10 * w + stride)
    c = 8
    wts = rng.normal(0, 1, (c, 3, 3, 1))
    wts[0] *= 1e-3
    g = graph_of("Conv2D", (1, h, w, c), {"strides": (stride, stride), "dilations": (1, 1), "pads": (1, 1, 1, 1), "groups": c, "act": act},
                 [wts, rng.normal(0, 1, c)])
    check(tmp_path, g, rng, target="cortex-m4")
    assert "edgec_depthwise_conv2d_planes_s8(" in (tmp_path / "out" / "model.c").read_text()


@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(CONV_PATHS), act=acts, data=st.data(), seed=st.integers(0, 2**16))
def test_cortex_m4_conv2d_loop_nests(tmp_path, path, act, data, seed):
    """The same loop nests with the Armv7E-M variant (SMLAD pair products, SMLAL requantization) in QEMU,
    with no flash to spare for wide weights (passes/plan_wide.py; tests/test_wide_weights.py has those)."""
    rng = np.random.default_rng(seed)
    shape, attrs, wts, bias = conv_case(path, data.draw, rng)
    check(tmp_path, graph_of("Conv2D", shape, dict(attrs, act=act), [wts, bias]), rng, target="cortex-m4", flash=NO_WIDE)
    _called_entry(tmp_path, path, shape, attrs, wts)


def _check_columns(tmp_path, data, act, seed, target):
    rng = np.random.default_rng(seed)
    shape, attrs, wts, bias = conv_case("columns", data.draw, rng)
    check(tmp_path, graph_of("Conv2D", shape, dict(attrs, act=act), [wts, bias]), rng, target=target, optimize="speed", flash=NO_WIDE)
    assert "edgec_conv2d_cols_s8(" in (tmp_path / "out" / "model.c").read_text()     # the columns loop nest ran


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(act=acts, data=st.data(), seed=st.integers(0, 2**16))
def test_conv2d_columns(tmp_path, act, data, seed):
    """The columns loop nest (edgec_conv2d_cols_s8 over its scratch) against the twin on the host (UBSan + ASan)."""
    _check_columns(tmp_path, data, act, seed, "host")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(act=acts, data=st.data(), seed=st.integers(0, 2**16))
def test_cortex_m4_conv2d_columns(tmp_path, act, data, seed):
    """The same with the Armv7E-M variant (SXTB16 columns, the SMLAD 2x2 loop) in QEMU."""
    _check_columns(tmp_path, data, act, seed, "cortex-m4")


@pytest.mark.parametrize("target", ["host", "cortex-m4", "cortex-m0", "atmega328p"])
def test_conv2d_with_left_shifting_multipliers(tmp_path, target):
    """A conv whose calibrated output range is far below its products' quantum (two taps that cancel on
    the calibration data) gets multipliers above 0.5, i.e. shift >= 0 (a left shift): those layers take
    the generic requantization, not the prepared one (edgec_rq_fast), where the variant's prepared form
    needs a right shift (Armv7E-M), and the prepared one with its left shift on the small cores (Cortex-M0's
    C, AVR's asm); either way they must equal the twin."""
    from edgec.compiler.targets import get_target
    t = get_target(target)
    require(t.cc, *([] if t.emulator is None or t.sample_io == "stdio" else [t.emulator[0]]))   # avrrun: built on demand
    rng = np.random.default_rng(7)
    wts = np.array([[[[1.0], [-1.0]]], [[[0.5], [-0.5]]], [[[2.0], [-2.0]]]])          # [3, 1, 2, 1]
    g = graph_of("Conv2D", (1, 3, 5, 1), {"strides": (1, 1), "dilations": (1, 1), "pads": (0, 0, 0, 0), "groups": 1, "act": None},
                 [wts, np.zeros(3)])
    calib = np.repeat(rng.normal(0, 60, (8, 3, 1, 1)), 5, axis=2).astype(np.float32)   # constant along width: outputs 0
    out = tmp_path / "out"
    compile_graph(g, calib, target, str(out), "k", "test")
    built = Built(str(out))
    assert max(built.int_graph.nodes[0].attrs["shift"]) >= 0
    q_in = built.quantize_input(rng.normal(0, 60, (16, 1, 3, 5, 1)).astype(np.float32))
    want = reference.run_batch(built.int_graph, q_in)
    got, _ = built.execute(target, q_in, sanitize=target == "host")
    assert np.array_equal(got, want)


def test_dsp_requantization_identity_on_the_edge_grid():
    """edgec_dot_arm_dsp.h's edgec_rq_s8 computes rdbp(srdhm(x, m), r) as one floor,
    floor((x*m + 2^30 + 2^(30+r) - [x<0]*2^31) / 2^(31+r)), for m >= 0 and 1 <= r <= 31 (edgec_rq_fast);
    checked here against the Python twin on the edge grid (the QEMU tests run the instructions)."""
    from edgec.compiler import fixedpoint as fp
    xs = [-(1 << 31), -(1 << 31) + 1, -(1 << 30) - 1, -(1 << 30), -65537, -129, -3, -2, -1, 0, 1, 2, 3, 127, 65535,
          (1 << 30), (1 << 31) - 1]
    ms = [0, 1, 1 << 30, (1 << 30) + 1, 1518500250, (1 << 31) - 1]
    for r in range(1, 32):
        for x in xs:
            for m in ms:
                want = int(fp.multiply_by_quantized_multiplier(x, m, -r))
                got = (x * m + (1 << 30) + (1 << (30 + r)) - (1 << 31) * (x < 0)) >> (31 + r)
                assert got == want, (x, m, r)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=dims, w=dims, c=st.integers(1, 12), k=st.integers(1, 3), out_c=st.integers(1, 9), depthwise=st.booleans(),
       fc=st.booleans(), seed=st.integers(0, 2**16))
def test_cortex_m4_dsp_kernels_equal_the_twin(tmp_path, h, w, c, k, out_c, depthwise, fc, seed):
    """The Armv7E-M variant (SXTB16/SMLAD dot product) runs in QEMU against the same numpy twin."""
    rng = np.random.default_rng(seed)
    if fc:
        g = graph_of("FullyConnected", (1, h * w * c), {"act": None}, [rng.normal(0, 1, (out_c, h * w * c)), rng.normal(0, 3, out_c)])
    else:
        groups, oc = (c, c) if depthwise else (1, out_c)
        g = graph_of("Conv2D", (1, h + 2, w + 2, c), {"strides": (1, 1), "dilations": (1, 1), "pads": (k // 2,) * 4,
                                                      "groups": groups, "act": None},
                     [rng.normal(0, 1, (oc, k, k, c // groups)), rng.normal(0, 1, oc)])
    check(tmp_path, g, rng, target="cortex-m4")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 4), w=st.integers(1, 4), c=st.integers(1, 12), k=st.integers(1, 3), out_c=st.integers(1, 5),
       op=st.sampled_from(["conv", "dw", "fc"]),
       sign=st.sampled_from([-1.0, 1.0]), seed=st.integers(0, 2**16))
def test_atmega328p_kernels_equal_the_twin_at_the_int16_edges(tmp_path, h, w, c, k, out_c, op, sign, seed):
    """On AVR `int` is 16 bits: products of saturated int8 values (127 * 127) summed in int would
    overflow.  Weights of one magnitude (all quantize to +-127) and inputs pinned at +127 make every
    product maximal; the kernels (weights read from flash through __flash) must still equal the twin.
    Feature maps up to 6x6x12: larger ones leave the 2 KB part too little RAM beside the harness's
    sample buffers for the kernels' stack (a depthwise 6x7x12 does not fit: the next test)."""
    rng = np.random.default_rng(seed)
    if op == "fc":
        g = graph_of("FullyConnected", (1, h * w * c), {"act": None}, [np.full((out_c, h * w * c), sign), rng.normal(0, 1, out_c)])
    else:
        groups, oc = (c, c) if op == "dw" else (1, out_c)
        g = graph_of("Conv2D", (1, h + 2, w + 2, c), {"strides": (1, 1), "dilations": (1, 1), "pads": (k // 2,) * 4,
                                                      "groups": groups, "act": None},
                     [np.full((oc, k, k, c // groups), sign), rng.normal(0, 1, oc)])
    check(tmp_path, g, rng, target="atmega328p", shift=50.0)


def test_atmega328p_refuses_a_model_whose_stack_does_not_fit_naming_both_sizes(tmp_path):
    """A depthwise 6x7x12 leaves the 2 KB part less RAM above static data (its maps and the harness's
    sample buffers) than the kernels' worst-case stack: the build for verification refuses it with both
    sizes instead of running into the data."""
    rng = np.random.default_rng(5)
    g = graph_of("Conv2D", (1, 6, 7, 12), {"strides": (1, 1), "dilations": (1, 1), "pads": (1,) * 4, "groups": 12,
                                           "act": None}, [np.full((12, 2, 2, 1), 1.0), rng.normal(0, 1, 12)])
    with pytest.raises(TargetError) as e:
        check(tmp_path, g, rng, target="atmega328p", shift=50.0)
    m = re.search(r"its stack needs up to (\d+) B and (\d+) B of RAM are left", str(e.value))
    assert m and int(m.group(1)) > int(m.group(2)), str(e.value)


@SETTINGS
@given(rows=st.integers(1, 4), cols=st.one_of(st.integers(1, 40), st.just(256)), log_scale=st.floats(-9, 3.5),
       spread=st.integers(0, 255), seed=st.integers(0, 2**16))
def test_softmax_tflm(tmp_path, rows, cols, log_scale, spread, seed):
    """TFLite Micro's int8 softmax (mode "tflm", for imported .tflite models): edgec_softmax_tflm_s8 against
    reference.softmax_tflm_s8, over input scales from e^-9 to e^3.5 (tiny ones: many equal exps; large ones:
    differences below diff_min drop out) and rows whose values spread over `spread` steps.  The twin
    itself is checked against TFLM in tests/test_tflite_import.py."""
    from edgec.compiler.gemmlowp import softmax_tflm_exp_table
    from edgec.compiler.ir import Quant
    rng = np.random.default_rng(seed)
    scale = float(np.float32(np.exp(log_scale)))
    q = Graph("k", [Node("Softmax", "op", ["x"], ["y"], {"mode": "tflm", "exp_table": softmax_tflm_exp_table(scale)})],
              {"x": Tensor("x", (rows, cols), "int8", None, Quant(np.float64(scale), np.int64(rng.integers(-128, 128)))),
               "y": Tensor("y", (rows, cols), "int8", None, Quant(np.float64(1 / 256), np.int64(-128)))},
              ["x"], ["y"], {"quantized": True})
    f = Graph("k", [Node("Softmax", "op", ["x"], ["y"], {})], {"x": Tensor("x", (rows, cols)), "y": Tensor("y", (rows, cols))},
              ["x"], ["y"])
    compile_graph(f, np.zeros((0, rows, cols), np.float32), "host", str(tmp_path / "out"), "k", "test", quantized=q)
    built = Built(str(tmp_path / "out"))
    lo = int(rng.integers(-128, 128 - spread))
    q_in = rng.integers(lo, lo + spread + 1, (24, rows, cols)).astype(np.int8)
    want = reference.run_batch(built.int_graph, q_in)
    got, _ = built.execute("host", q_in)
    assert np.array_equal(got, want), f"C and reference differ in {int((got != want).sum())} values"
