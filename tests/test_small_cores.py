"""The small cores' own dot products and requantization (runtime_c/edgec_dot_avr.h on atmega328p in
simavr, runtime_c/edgec_dot_armv6m.h on cortex-m0 in QEMU) against the integer reference, bit for bit,
where they are most likely to break:

* every product maximal (weights that all quantize to +-127, inputs pinned at +127 or -128): the AVR
  loops keep 24-bit sums in registers, safe for 127 groups of four inputs (508 products), so dot
  products longer than that (here 522 to 1023 inputs) must be split into chunks and flushed into the
  int32 sums, or they would wrap;
* lengths that are not a multiple of four (the last partial group runs in C, reading no input past n)
  and channel counts that are not a multiple of the pair or quad (padding channels);
* the pair loop over two pixels and the one-pixel loop."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from op_graphs import check, graph_of

TARGETS = ["atmega328p", "cortex-m0"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("sign,shift", [(1.0, 50.0), (-1.0, -50.0), (-1.0, 50.0)])
def test_fully_connected_longer_than_one_chunk_with_maximal_products(tmp_path, target, sign, shift):
    """1023 inputs x 5 outputs (a quad and a padded one): 1023 products of 127 * 127 (or 128 * 127)
    sum to about 2^24, past what 24 bits hold."""
    rng = np.random.default_rng(22)
    w = np.full((5, 1023), sign)
    w[3] *= -1.0                                    # one channel of the other sign
    g = graph_of("FullyConnected", (1, 1023), {"act": None}, [w, rng.normal(0, 1, 5)])
    check(tmp_path, g, rng, target=target, shift=shift)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("pixels,in_c", [(2, 522), (1, 523)])
def test_pointwise_conv_longer_than_one_chunk_with_maximal_products(tmp_path, target, pixels, in_c):
    """A pointwise conv over two pixels (the 2x2 pair loop) or one (the 1x2 loop) with in_c inputs a
    pixel and three output channels (a pair and a padded one); the 2 KB part holds no more input."""
    rng = np.random.default_rng(in_c)
    w = np.full((3, 1, 1, in_c), -1.0)
    g = graph_of("Conv2D", (1, 1, pixels, in_c), {"strides": (1, 1), "dilations": (1, 1), "pads": (0, 0, 0, 0), "groups": 1, "act": None},
                 [w, rng.normal(0, 1, 3)])
    check(tmp_path, g, rng, target=target, shift=-50.0)


@pytest.mark.parametrize("target", TARGETS)
def test_requantization_over_drawn_multipliers_and_shifts(tmp_path, target):
    """The requantization without a 64-bit multiply (AVR: 16 MULs in asm; M0: four 32-bit MULS) over
    outputs of many scales: channel weights spread over six orders of magnitude give multipliers and
    shifts from small to large, and inputs of both signs give sums of both signs."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 1, (24, 3, 3, 4)) * (10.0 ** rng.uniform(-3, 3, (24, 1, 1, 1)))
    g = graph_of("Conv2D", (1, 5, 5, 4), {"strides": (1, 1), "dilations": (1, 1), "pads": (1, 1, 1, 1), "groups": 1, "act": None},
                 [w, rng.normal(0, 1, 24)])
    check(tmp_path, g, rng, target=target)


@pytest.mark.emulator         # the targets are drawn, so the collection rule does not see them
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), h=st.integers(1, 6), w=st.integers(1, 6), c=st.integers(1, 9), k=st.integers(1, 3),
       out_c=st.integers(1, 5), stride=st.integers(1, 2), fc=st.booleans(), seed=st.integers(0, 2**16))
def test_drawn_convs_and_fully_connected_layers(tmp_path, target, h, w, c, k, out_c, stride, fc, seed):
    """Drawn shapes through every one-group loop nest that calls the small cores' dot products (pointwise,
    kernel rows with borders, gathered patches for in_c not a multiple of 4, fully-connected), with
    drawn weights, biases and saturating inputs."""
    rng = np.random.default_rng(seed)
    if fc:
        g = graph_of("FullyConnected", (1, h * w * c), {"act": None}, [rng.normal(0, 1, (out_c, h * w * c)), rng.normal(0, 1, out_c)])
    else:
        g = graph_of("Conv2D", (1, h + 2, w + 2, c), {"strides": (stride, stride), "dilations": (1, 1), "pads": (k // 2,) * 4,
                                                      "groups": 1, "act": None},
                     [rng.normal(0, 1, (out_c, k, k, c)), rng.normal(0, 1, out_c)])
    check(tmp_path, g, rng, target=target)


#: (h, w, in_c, k, stride, pads, dilation) of one-group convs through the patch loop nest (in_c not a multiple
#: of 4, K rounded up to 4 at most 64): a first layer over one channel, 3x3 padded (K4 12: ten windows
#: gathered at a time, 72 pixels: seven full gathers and a last one of two), 5x5 stride 2 unpadded (K4 28:
#: four at a time, 25 pixels: the last window alone through the one-pixel loop), 2x2 stride 2 (K4 4: one
#: gather of 9, odd), 3x3 over 7 channels (K4 64: two at a time) and a dilated 3x3 (the general gather).
PATCH_SHAPES = [(8, 9, 1, 3, 1, (1, 1, 1, 1), 1), (14, 14, 1, 5, 2, (0, 0, 0, 0), 1), (6, 6, 1, 2, 2, (0, 0, 0, 0), 1),
                (4, 5, 7, 3, 1, (1, 0, 1, 2), 1), (7, 7, 1, 3, 1, (2, 2, 2, 2), 2)]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("h,w,c,k,stride,pads,dil", PATCH_SHAPES)
def test_first_layer_windows_gathered_as_many_as_fit(tmp_path, target, h, w, c, k, stride, pads, dil):
    """The patch loop nest gathers as many windows as its 128-byte buffer holds (an even number), interior
    windows by plain row copies and border ones with the zero point, then runs every channel pair over
    all of them; five output channels (two pairs and a padded one), channel 0 nearly dead (tiny weights:
    a tiny scale, an extreme multiplier and a saturated bias), inputs of both signs."""
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    wts = rng.normal(0, 1, (5, k, k, c))
    wts[0] *= 1e-3
    g = graph_of("Conv2D", (1, h, w, c), {"strides": (stride, stride), "dilations": (dil, dil), "pads": pads, "groups": 1, "act": None},
                 [wts, rng.normal(0, 1, 5)])
    built = check(tmp_path, g, rng, target=target)
    assert "edgec_conv2d_patch_s8(" in (tmp_path / "out" / "model.c").read_text()
    assert built.int_graph.nodes[-1].op == "Conv2D"


def test_small_core_rounding_identities_on_the_edge_grid():
    """The integer identities the small cores' requantization is built on, over the edge grid of sums x,
    multipliers m >= 0 and right shifts r (the emulator tests above run the instructions):
    Cortex-M0's doubling high multiply from four 16 x 16 products, (x * m + 2^30) >> 31 =
    2 hh + (hl >> 15) + ((hl & 0x7FFF) + (ll >> 16) + lh + 2^14) >> 15, and both cores' rounding shift,
    edgec_rdbp(v, r) = (((v - [v < 0]) >> (r - 1)) + 1) >> 1, whose + 1 cannot wrap (v <= 2^31 - 2)."""
    from edgec.compiler import fixedpoint as fp
    xs = [-(1 << 31), -(1 << 31) + 1, -(1 << 30) - 1, -(1 << 30), -65537, -65536, -32769, -129, -3, -2, -1, 0, 1, 2, 3, 127,
          32767, 65535, 65536, (1 << 30), (1 << 31) - 2, (1 << 31) - 1]
    ms = [0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 1 << 30, (1 << 30) + 1, 1518500250, (1 << 31) - 1]
    for x in xs:
        xl, xh = x & 0xFFFF, x >> 16
        for m in ms:
            ml, mh = m & 0xFFFF, m >> 16
            ll, lh, hl, hh = xl * ml, xl * mh, xh * ml, xh * mh
            v = 2 * hh + (hl >> 15) + (((hl & 0x7FFF) + (ll >> 16) + lh + 0x4000) >> 15)
            assert (hl & 0x7FFF) + (ll >> 16) + lh + 0x4000 < 1 << 32 and lh < 1 << 31
            assert v == (x * m + (1 << 30)) >> 31 == int(fp.multiply_by_quantized_multiplier(x, m, 0)), (x, m)
            assert v <= (1 << 31) - 2
            for r in range(1, 32):
                w = (v - (v < 0)) >> (r - 1)
                assert w + 1 < 1 << 31
                assert (w + 1) >> 1 == int(fp.multiply_by_quantized_multiplier(x, m, -r)), (x, m, r)


#: (h, w, c, stride, pads, input shift) of 3x3 depthwise convs through Cortex-M0's depthwise (the quad
#: loop nest with its Armv6-M 3x3 taps, runtime_c/edgec_dot_armv6m.h): odd widths, stride 2, symmetric and
#: lopsided padding (rows padded into the strip, word or byte copies), a row too wide for the strip (its
#: border pixels through the edge taps), channel counts that are not a multiple of 4 (the tail channels),
#: none, and inputs pinned at +127 (every product maximal).
DEPTHWISE_SHAPES = [(7, 9, 8, 1, (1, 1, 1, 1), 0.0), (9, 7, 12, 2, (1, 0, 1, 1), 0.0), (6, 11, 6, 1, (1, 1, 1, 1), 0.0),
                    (5, 5, 4, 2, (0, 0, 0, 0), 0.0), (4, 30, 8, 1, (1, 1, 1, 1), 0.0), (5, 6, 10, 1, (0, 0, 0, 0), 0.0),
                    (7, 5, 16, 1, (1, 1, 1, 1), 50.0)]


@pytest.mark.parametrize("h,w,c,stride,pads,shift", DEPTHWISE_SHAPES)
def test_cortex_m0_depthwise_3x3_equals_the_twin(tmp_path, h, w, c, stride, pads, shift):
    """Cortex-M0's 3x3 depthwise taps and the rows around them, bit for bit with the twin, with drawn weights
    (one channel nearly dead, so its multiplier differs by orders of magnitude)."""
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    wts = rng.normal(0, 1, (c, 3, 3, 1))
    wts[0] *= 1e-3
    g = graph_of("Conv2D", (1, h, w, c), {"strides": (stride, stride), "dilations": (1, 1), "pads": pads, "groups": c, "act": None},
                 [wts, rng.normal(0, 1, c)])
    check(tmp_path, g, rng, target="cortex-m0", shift=shift)
