"""Wide one-group convs and fully-connected layers (passes/plan_wide.py, runtime_c/edgec_conv2d_wide_s8.c,
edgec_fully_connected_wide_s8.c): int16 pre-sign-extended weights and compile-time requantization records
where the flash budget allows, on Armv7E-M.

The records' arithmetic against the Python twin on the edge grid (both modes, as the DSP loop computes
them), the loop nest against the integer reference on drawn shapes (the portable C on the host under
UBSan + ASan, the hand-allocated SMLAD loop in QEMU), and the pass's choice under flash budgets."""
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from edgec.compiler import fixedpoint as fp, reference
from edgec.driver.build import compile_graph
from edgec.compiler.calibrate import calibrate
from edgec.codegen.layouts import wide_layout, wide_quad_layout, wide_quad_requant, wide_requant, interleave
from edgec.passes import plan_wide as plan_wide_module
from edgec.passes.plan_memory import plan_memory
from edgec.passes.plan_wide import CODE_RESERVE, plan_wide
from edgec.passes.pipeline import quantize
from edgec.reports.layers import weight_bytes
from edgec.compiler.targets import get_target
from edgec.verification.verify import Built
from conftest import require
from op_graphs import graph_of

XS = [-(1 << 31), -(1 << 31) + 1, -(1 << 30) - 1, -(1 << 30), -65537, -129, -3, -2, -1, 0, 1, 2, 3, 127, 65535, 1 << 30,
      (1 << 31) - 1]
MS = [1, 1 << 30, (1 << 30) + 1, 1518500250, (1 << 31) - 1]


def _dsp_output(rec, x, apart):
    """What the DSP loop computes for one sum x and a channel record (m, R, c, sh), with Python integers:
    folded: hi = R + (x asr 31), lo = c - (hi << 31) mod 2^32; apart: lo = 2^30 | (x & 2^31); then
    SMLAL, the shift, (apart) the zero point c, SSAT."""
    m, r, c, sh = (int(v) for v in rec)
    s = -1 if x < 0 else 0
    hi = r + s
    lo = ((0x40000000 | (x & 0x80000000)) if apart else (c - (hi << 31))) & 0xFFFFFFFF
    acc = ((hi << 32) + lo + x * m) >> 32                       # the 64-bit SMLAL, its high word
    assert -(1 << 31) <= acc < (1 << 31), "t + R overflowed"
    v = (acc >> sh) + (c if apart else 0)
    return min(127, max(-128, v))


def test_wide_requant_records_on_the_edge_grid():
    """edgec_wide_rq's prepared records give the reference's requantization + zero point, saturated, for
    every right shift of 2..31 bits, both with the zero point folded into R (where it fits) and apart."""
    for r in range(2, 32):
        for zp in (-128, -5, 0, 77, 127):
            for m in MS:
                ch = fp.wide_channels([0], np.ones((1, 1)), [m], [-r], zp, -128, 127)
                assert ch is not None
                words = wide_requant([0], ch, zp)
                apart = int(words[0])
                rec = words[5:9].astype(np.int64)                  # channel 0's record of the (padded) pair
                for x in XS:
                    want = min(127, max(-128, int(fp.multiply_by_quantized_multiplier(np.int64(x), m, -r)) + zp))
                    assert _dsp_output(rec, x, apart) == want, (x, m, r, zp, apart)
                    if not apart:
                        assert _dsp_output(np.array([m, 1 << (r - 2), zp, r - 1]), x, 1) == want


def test_wide_channels_take_constant_channels_and_refuse_the_rest():
    """A dead channel (m = 0) and one whose whole sum range requantizes to one value become constant
    records (also under a left shift); a clamped activation range, or a shift of r <= 1 that can change
    the output, has none."""
    ch = fp.wide_channels([5, 1000], np.ones((2, 3)), [0, 1 << 30], [0, -40 + 9], -128, -128, 127)
    assert ch is not None and ch[0, 0] == 0 and ch[0, 1] == 1 + 2 * 0
    assert fp.wide_channels([0], np.ones((1, 1)), [1 << 30], [-4], -128, -128, 100) is None
    assert fp.wide_channels([0], np.full((1, 64), 100), [1 << 30], [-1], 0, -128, 127) is None
    assert fp.wide_channels([0], np.full((1, 64), 100), [1 << 30], [3], 0, -128, 127) is None
    ch = fp.wide_channels([10], np.zeros((1, 4)), [1714931340], [2], -128, -128, 127)          # a zero channel's
    want = min(127, max(-128, int(fp.multiply_by_quantized_multiplier(np.int64(10), 1714931340, 2)) - 128))
    assert ch is not None and ch[0, 0] == 0 and (ch[0, 1] - 1) // 2 == want + 128


def test_wide_layout_is_the_pair_layout_sign_extended():
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (5, 1, 1, 7)).astype(np.int8)
    words = wide_layout(w).view(np.uint32).astype(np.int64)
    lo, hi = ((words & 0xFFFF) ^ 0x8000) - 0x8000, ((words >> 16) ^ 0x8000) - 0x8000
    got = np.stack([lo, hi], 1).reshape(-1, 4)[:, [0, 2, 1, 3]].reshape(-1)     # back to inputs 0 1 2 3
    assert np.array_equal(got, interleave(w, 2).astype(np.int64))


def test_wide_quad_layout_and_records_are_the_pair_forms_by_channel_quads():
    """A conv's quad layout holds the quad-interleaved weights sign-extended, per four the (i0 i2) words of
    its four channels and then their (i1 i3) words; its records are wide_requant's, by quads: the eight
    biases of both pixels' sums, then the four channels' records, padding channels repeating the last."""
    rng = np.random.default_rng(2)
    w = rng.integers(-128, 128, (6, 1, 2, 3)).astype(np.int8)                  # 6 channels: a padded second quad
    words = wide_quad_layout(w).view(np.uint32).astype(np.int64).reshape(-1, 2, 4)     # [quad, four][half][channel]
    lo, hi = ((words & 0xFFFF) ^ 0x8000) - 0x8000, ((words >> 16) ^ 0x8000) - 0x8000
    got = np.stack([lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]], 2)                 # [quad, four][channel][input 0 1 2 3]
    assert np.array_equal(got.reshape(-1), interleave(w, 4).astype(np.int64))
    ch = np.array([[1 << 30, 1 << 3, 5]] * 5 + [[3 << 28, 1 << 4, 6]])
    rec = wide_quad_requant(np.arange(6) * 10, ch, -3)
    pairs = wide_requant(list(np.arange(6) * 10) + [50, 50], np.concatenate([ch, ch[-1:], ch[-1:]]), -3)
    assert len(rec) == 1 + 2 * 24 and rec[0] == pairs[0]
    assert list(rec[1:9]) == [0, 10, 0, 10, 20, 30, 20, 30] and list(rec[25:33]) == [40, 50, 40, 50, 50, 50, 50, 50]
    assert np.array_equal(rec[9:25], np.concatenate([pairs[5:13], pairs[17:25]]))      # channels 0-3's records
    assert np.array_equal(rec[33:49], np.concatenate([pairs[29:37], pairs[41:49]]))
    # with the zero point apart (R + zp 2^sh past 2^30), a quad record is the folded form with c from R and
    # the zero point in the shift word's bits 8 and up: the DSP loop's five instructions and one add
    for r in range(20, 32):
        for m in MS:
            ch = fp.wide_channels([0], np.ones((1, 1)), [m], [-r], -128, -128, 127)
            rec = wide_quad_requant([7], ch, -128)
            if not rec[0]:
                continue
            assert rec[1:9].tolist() == [7] * 8
            mm, rr, c, sw = (int(v) for v in rec[9:13])
            for x in XS:
                want = min(127, max(-128, int(fp.multiply_by_quantized_multiplier(np.int64(x), m, -r)) - 128))
                hi = rr + (-1 if x < 0 else 0)
                lo = (c - (hi << 31)) & 0xFFFFFFFF
                acc = ((hi << 32) + lo + x * mm) >> 32
                assert -(1 << 31) <= acc < (1 << 31)
                assert min(127, max(-128, (acc >> (sw & 0xFF)) + (sw >> 8))) == want, (x, m, r)


def _pointwise_graph(rng, h, w, c, out_c, act, dead, zero):
    wts = rng.normal(0, 1, (out_c, 1, 1, c))
    if dead:
        wts[0] *= 1e-4                                # a near-dead channel: r far above 23 (the zero point apart)
    if zero and out_c > 1:
        wts[1] = 0.0                                  # multiplier 0: a constant record
    return graph_of("Conv2D", (1, h, w, c), {"strides": (1, 1), "dilations": (1, 1), "pads": (0, 0, 0, 0), "groups": 1,
                                              "act": act}, [wts, rng.normal(0, 1, out_c)])


@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 5), w=st.integers(1, 5), c=st.integers(1, 21), out_c=st.integers(1, 9),
       act=st.sampled_from([None, (0.0, np.inf)]), dead=st.booleans(), zero=st.booleans(), seed=st.integers(0, 2**16))
def test_wide_pointwise_equals_the_twin(tmp_path, h, w, c, out_c, act, dead, zero, seed):
    """A cortex-m4 build's wide pointwise conv (odd channel and pixel counts, in_c not a multiple of 4,
    both record modes) against the integer reference: its portable C on the host (UBSan + ASan) and the
    hand-allocated LDM/SMLAD loop in QEMU."""
    rng = np.random.default_rng(seed)
    g = _pointwise_graph(rng, h, w, c, out_c, act, dead, zero)
    _run_both(tmp_path, g, rng, rng.normal(0, 1, (8, 1, h, w, c)).astype(np.float32),
              rng.normal(0, 2.0, (12, 1, h, w, c)).astype(np.float32), "edgec_conv2d_wide")


def _run_both(tmp_path, g, rng, calib, samples, call):
    """Compile g for cortex-m4 with --optimize speed (every layer the flash allows widened, whatever its
    scratch costs: plan_wide), check the call is there, and run the build on the host (its portable C
    under UBSan + ASan) and in QEMU (the DSP loops) against the integer reference."""
    t = get_target("cortex-m4")
    require("cc", t.cc, t.emulator[0])
    out = tmp_path / "out"
    rep = compile_graph(g, calib, "cortex-m4", str(out), "k", "test", optimize="speed")   # a scratch whatever it costs
    built = Built(str(out))
    # widened exactly when the planner's rule allows it: a draw whose requantization the int16 records
    # cannot hold (a near-dead channel over a short dot product) stays int8, and must still be exact
    (node,) = [n for n in built.int_graph.nodes if n.op in ("Conv2D", "FullyConnected")]
    wide = plan_wide_module.eligible(built.int_graph, node)
    assert (call in (out / "model.c").read_text()) == wide
    # the report's flash line (both keys absent when no layer is wide)
    assert rep["totals"].get("wide_layers", 0) == int(wide) and (rep["totals"].get("wide_flash_bytes", 0) > 0) == wide
    q_in = built.quantize_input(samples)
    want = reference.run_batch(built.int_graph, q_in)
    for target in ("host", "cortex-m4"):
        got, _ = built.execute(target, q_in, sanitize=target == "host")
        assert np.array_equal(got, want), f"{target}: C and reference differ in {int((got != want).sum())} values"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 6), w=st.integers(1, 6), c=st.sampled_from([1, 3, 4, 5, 8]), out_c=st.integers(1, 7), k=st.integers(1, 3),
       stride=st.integers(1, 2), dil=st.integers(1, 2), pads=st.tuples(*[st.integers(0, 2)] * 4),
       act=st.sampled_from([None, (0.0, np.inf)]), seed=st.integers(0, 2**16))
def test_wide_window_conv_equals_the_twin(tmp_path, h, w, c, out_c, k, stride, dil, pads, act, seed):
    """A cortex-m4 build's wide conv with windows (strides, dilation, padding taps read as in_zp; in_c a
    multiple of 4, windows then put four inputs at a time, or not, windows then staged as bytes) against
    the integer reference, on the host and in QEMU."""
    rng = np.random.default_rng(seed)
    reach = dil * (k - 1) + 1
    h, w = max(h, reach - pads[0] - pads[2]), max(w, reach - pads[1] - pads[3])
    wts = rng.normal(0, 1, (out_c, k, k, c))
    wts[0] *= 1e-3
    g = graph_of("Conv2D", (1, h, w, c), {"strides": (stride, stride), "dilations": (dil, dil), "pads": pads, "groups": 1,
                                          "act": act}, [wts, rng.normal(0, 1, out_c)])
    _run_both(tmp_path, g, rng, rng.normal(0, 1, (8, 1, h, w, c)).astype(np.float32),
              rng.normal(0, 2.0, (12, 1, h, w, c)).astype(np.float32), "edgec_conv2d_wide")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 40), m=st.integers(1, 13), act=st.sampled_from([None, (0.0, np.inf)]), dead=st.booleans(),
       seed=st.integers(0, 2**16))
def test_wide_fully_connected_equals_the_twin(tmp_path, k, m, act, dead, seed):
    """A cortex-m4 build's wide FullyConnected (two channel pairs a pass, a lone last pair, an odd channel
    count, inputs past the last whole four) against the integer reference, on the host and in QEMU."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (m, k))
    if dead:
        w[0] *= 1e-4
    g = graph_of("FullyConnected", (1, k), {"act": act}, [w, rng.normal(0, 3, m)])
    _run_both(tmp_path, g, rng, rng.normal(0, 1, (8, 1, k)).astype(np.float32),
              rng.normal(0, 2.0, (12, 1, k)).astype(np.float32), "edgec_fully_connected_wide_s8(")


# (h, w, c, out_c, (k_h, k_w), stride, dil, pads (top, left, bottom, right)): each reaches one branch of the
# window gathers (edgec_wide_gather4 / edgec_wide_gather1) or the pointwise put: a first layer's 3 channels
# inside and over the bottom-right padding; one channel under a tall window over padding on every side;
# 4 channels with whole kernel rows inside and taps over the padding; dilation across (taps one by one)
# with 8 and 5 channels; a 1x1 conv that pads (not the pointwise put) and one that does not.
GATHER_SHAPES = [(9, 9, 3, 8, (3, 3), 2, 1, (0, 0, 1, 1)), (11, 6, 1, 5, (5, 2), 2, 1, (2, 1, 2, 1)),
                 (5, 6, 4, 3, (3, 3), 1, 1, (1, 1, 1, 1)), (6, 5, 8, 1, (2, 2), 1, 2, (1, 1, 0, 2)),
                 (5, 5, 5, 4, (2, 3), 1, 2, (1, 2, 0, 1)), (3, 4, 8, 6, (1, 1), 1, 1, (0, 0, 1, 1)),
                 (3, 5, 12, 7, (1, 1), 1, 1, (0, 0, 0, 0)),
                 (7, 9, 3, 6, (3, 3), 2, 1, (1, 1, 1, 1)), (5, 11, 1, 3, (3, 9), 1, 1, (0, 1, 0, 1))]    # wide3x9, padded on each side


def test_wide_gathers_every_branch(tmp_path):
    """The wide conv's window gathers on shapes that reach each of their branches, against the integer
    reference on the host (UBSan + ASan: no read outside the input) and in QEMU."""
    rng = np.random.default_rng(7)
    for i, (h, w, c, out_c, (kh, kw), stride, dil, pads) in enumerate(GATHER_SHAPES):
        wts = rng.normal(0, 1, (out_c, kh, kw, c))
        g = graph_of("Conv2D", (1, h, w, c), {"strides": (stride, stride), "dilations": (dil, dil), "pads": pads, "groups": 1,
                                              "act": None}, [wts, rng.normal(0, 1, out_c)])
        d = tmp_path / str(i)
        d.mkdir()
        _run_both(d, g, rng, rng.normal(0, 1, (8, 1, h, w, c)).astype(np.float32),
                  rng.normal(0, 2.0, (6, 1, h, w, c)).astype(np.float32), "edgec_conv2d_wide")


def test_wide_fully_connected_every_loop_entry(tmp_path):
    """The wide FullyConnected's DSP loop (four fours an iteration, entered at each of the four) and its
    staged last 1-3 inputs, with an odd output count and a lone last pair, against the reference."""
    rng = np.random.default_rng(11)
    for k, m in ((3, 5), (6, 4), (9, 7), (15, 2), (16, 5), (21, 3)):
        g = graph_of("FullyConnected", (1, k), {"act": None}, [rng.normal(0, 1, (m, k)), rng.normal(0, 3, m)])
        d = tmp_path / f"k{k}"
        d.mkdir()
        _run_both(d, g, rng, rng.normal(0, 1, (8, 1, k)).astype(np.float32),
                  rng.normal(0, 2.0, (6, 1, k)).astype(np.float32), "edgec_fully_connected_wide_s8(")


def test_plan_wide_follows_the_flash_budget():
    """plan_wide widens pointwise convs by MACs per extra byte of flash while they fit the budget (less the
    weights and CODE_RESERVE), gives each a scratch, and counts the flash in the report's weight bytes;
    the integer graph computes the same either way."""
    rng = np.random.default_rng(3)
    a = _pointwise_graph(rng, 6, 6, 8, 16, None, False, False)
    q = quantize(calibrate(a, rng.normal(0, 1, (8, 1, 6, 6, 8)).astype(np.float32)))
    node = q.nodes[0]
    before = sum(weight_bytes(q, n) for n in q.nodes)
    none = plan_wide(q)
    assert none.wide.layers == {} and none.wide.flash_bytes == 0        # no budget: a target without SMLAD
    q.meta["flash_budget"] = CODE_RESERVE + before
    assert plan_wide(q).wide.layers == {}                                       # no room left
    q.meta["flash_budget"] = CODE_RESERVE + before + 10_000
    wide = plan_wide(q)
    assert wide.wide.layers == {node.name: 2 * 2 * 8 + 24}             # two pixels' columns, the DSP loop's six words
    extra = wide.wide.flash_bytes
    assert extra == 2 * 8 * 8 + 48 * 8 - 12 * 16 and sum(weight_bytes(wide, n) for n in wide.nodes) == before + extra
    x = rng.integers(-128, 128, (2, 1, 6, 6, 8)).astype(np.int8)
    assert np.array_equal(reference.run_batch(q, x), reference.run_batch(wide, x))


def test_plan_wide_weighs_the_arena(monkeypatch):
    """By default a conv is widened only while its scratch keeps the arena within RAM_SHARE of its size;
    --optimize speed widens it whatever the scratch costs."""
    rng = np.random.default_rng(5)
    q = quantize(calibrate(_pointwise_graph(rng, 6, 6, 8, 16, None, False, False), rng.normal(0, 1, (8, 1, 6, 6, 8)).astype(np.float32)))
    q.meta["flash_budget"] = 1 << 20
    planned = plan_memory(q)
    arena = planned.plan.arena_size
    monkeypatch.setattr(plan_wide_module, "RAM_SHARE", 0.0)
    assert plan_wide(planned).wide.layers == {}                                 # its scratch would grow the arena
    planned.meta["optimize"] = "speed"
    fast = plan_wide(planned)
    assert list(fast.wide.layers) == [q.nodes[0].name]
    assert fast.plan.arena_size == arena + 2 * 2 * 8 + 24             # the scratch after the activations


def test_wide_pairs_every_loop_entry_and_word_gather(tmp_path):
    """The wide conv's DSP loop (edgec_wide_quads: four fours an iteration, no counter: it stops at the
    sentinel four after the columns) entered at each of the four with 1-5 fours of inputs, with channel
    counts that leave 0-3 channels past the last quad (staged) or no quad at all, and a first layer's window
    gathered a word at a time where it lies inside (edgec_wide_gather1): runs of 4, 5, 6 and 7 bytes, so a
    four spans two runs at each of its splits, against the reference on the host and in QEMU."""
    rng = np.random.default_rng(13)
    for c, out_c in ((4, 5), (8, 6), (12, 7), (16, 8), (20, 3)):
        d = tmp_path / f"pw{c}"
        d.mkdir()
        _run_both(d, _pointwise_graph(rng, 2, 3, c, out_c, None, False, False), rng, rng.normal(0, 1, (8, 1, 2, 3, c)).astype(np.float32),
                  rng.normal(0, 2.0, (6, 1, 2, 3, c)).astype(np.float32), "edgec_conv2d_wide")
    for i, (h, w, c, (kh, kw)) in enumerate([(6, 7, 1, (3, 4)), (5, 6, 5, (2, 1)), (5, 5, 3, (3, 2)), (6, 8, 7, (3, 1))]):
        g = graph_of("Conv2D", (1, h, w, c), {"strides": (1, 1), "dilations": (1, 1), "pads": (0, 0, 0, 0), "groups": 1, "act": None},
                     [rng.normal(0, 1, (3, kh, kw, c)), rng.normal(0, 1, 3)])
        d = tmp_path / f"win{i}"
        d.mkdir()
        _run_both(d, g, rng, rng.normal(0, 1, (8, 1, h, w, c)).astype(np.float32),
                  rng.normal(0, 2.0, (6, 1, h, w, c)).astype(np.float32), "edgec_conv2d_wide")
