"""TFLite's parameter formulas, as its kernels' Prepare steps compute them (in double from the float32
scales): activation ranges, conv multipliers, Add's parameters, SAME padding.  Shared by the .tflite
importer (tflite.py) and its int8 op mappings (tflite_streaming.py)."""
from __future__ import annotations

import numpy as np

from ..fixedpoint import quantize_multiplier, round_half_away

#: TFLite's fused activation codes: NONE, RELU, RELU_N1_TO_1, RELU6 as real clamp ranges.
ACTIVATIONS = {0: None, 1: (0.0, float("inf")), 2: (-1.0, 1.0), 3: (0.0, 6.0)}


def activation_range(act_code: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8: zp + round(f / scale) in float32, clamped to [-128, 127]."""
    def q(f):
        return int(zero_point) + round_half_away(float(np.float32(f) / np.float32(scale)))
    lo, hi = -128, 127
    if act_code in (1, 3):
        lo = max(lo, q(0.0))
    if act_code == 3:
        hi = min(hi, q(6.0))
    if act_code == 2:
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi


def conv_multipliers(s_in: float, s_w: np.ndarray, s_out: float) -> tuple[np.ndarray, np.ndarray]:
    """PopulateConvolutionQuantizationParams: double(s_in) * double(s_w[c]) / double(s_out) per channel."""
    pairs = [quantize_multiplier(float(s_in) * float(s) / float(s_out)) for s in np.asarray(s_w, np.float32).reshape(-1)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def add_params(s_a: float, s_b: float, s_out: float) -> dict:
    """TFLite's int8 Add (left_shift 20): QuantizeMultiplierSmallerThanOneExp of s_a / 2max, s_b / 2max
    and 2max / (2^20 s_out), all in double from the float32 scales."""
    twice_max = 2.0 * float(max(np.float32(s_a), np.float32(s_b)))
    am, ash = quantize_multiplier(float(s_a) / twice_max)
    bm, bsh = quantize_multiplier(float(s_b) / twice_max)
    om, osh = quantize_multiplier(twice_max / ((1 << 20) * float(s_out)))
    return dict(left_shift=20, a_multiplier=am, a_shift=ash, b_multiplier=bm, b_shift=bsh, multiplier=om, shift=osh)


def same_padding(in_size: int, out_size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """ComputePaddingWithOffset: (before, after); TFLite puts the odd pixel after."""
    eff = (k - 1) * dilation + 1
    total = max(0, (out_size - 1) * stride + eff - in_size)
    return total // 2, total - total // 2
