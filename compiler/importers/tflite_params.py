"""What the .tflite importer's modules share of TFLite's options: the fused activation codes as float
clamps and SAME padding.  (The integer parameters TFLite's kernels derive from the scales, activation
ranges, multipliers, Add's left shift, are the quantize pass's: passes/quantize.py, "tflm" arithmetic.)"""
from __future__ import annotations


#: TFLite's fused activation codes: NONE, RELU, RELU_N1_TO_1, RELU6 as real clamp ranges.
ACTIVATIONS = {0: None, 1: (0.0, float("inf")), 2: (-1.0, 1.0), 3: (0.0, 6.0)}


def same_padding(in_size: int, out_size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """ComputePaddingWithOffset: (before, after); TFLite puts the odd pixel after."""
    eff = (k - 1) * dilation + 1
    total = max(0, (out_size - 1) * stride + eff - in_size)
    return total // 2, total - total // 2
