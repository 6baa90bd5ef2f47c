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

from test_kernels import check, graph_of

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
