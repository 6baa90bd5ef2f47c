"""Small int8 .tflite models written with testkit/tflite_writer.py as TensorFlow Lite's converter writes them:
the tensor builders of single-op and streaming models (per-tensor activations, per-channel int8
weights, int32 biases and constant operands, resource variables) and the streaming wake-word detector
with its input stream.

Shared by tests/ (test_tflite_streaming.py and the single-op .tflite tests, test_image.py) and bench/
(image.py measures the wake-word model), so that what the bench measures is what the tests check."""
from __future__ import annotations

import numpy as np

from testkit.tflite_writer import Model


def quant_tensor(m, name, shape, scale, zp, dtype=np.int8):
    """An activation tensor of `m` quantized per tensor (int8 unless `dtype` says)."""
    return m.tensor(name, shape, dtype, scale=scale, zp=zp)


def int8_weights(m, name, shape, rng, axis, channels, scales=(0.004, 0.03)):
    """Random int8 weights, quantized per channel along `axis` with scales drawn from `scales`."""
    return m.tensor(name, shape, data=rng.integers(-127, 128, shape).astype(np.int8),
                    scale=rng.uniform(*scales, channels), axis=axis)


def int32_bias(m, name, n, rng):
    """A random int32 bias of n values (the converter's bias: its scale is the input's times the weights')."""
    return m.tensor(name, (n,), np.int32, data=rng.integers(-2000, 2000, n))


def int32_const(m, name, values):
    """An int32 constant operand (begin/end/strides, axes, sizes, shapes, paddings)."""
    return m.tensor(name, None, np.int32, data=np.asarray(values, np.int32))


def resource_variable(m, init_sg, name, shape, scale, zp, init):
    """A resource variable: its VAR_HANDLE + ASSIGN_VARIABLE of `init` in the init subgraph, and its handle
    and READ_VARIABLE in the main one; returns (handle tensor, read tensor)."""
    h0 = init_sg.tensor(f"{name}_h0", (), "resource")
    c = init_sg.tensor(f"{name}_init", shape, data=init, scale=scale, zp=zp)
    init_sg.op("VAR_HANDLE", [], [h0], shared_name=name)
    init_sg.op("ASSIGN_VARIABLE", [h0, c], [])
    h = m.tensor(f"{name}_h", (), "resource")
    r = quant_tensor(m, f"{name}_read", shape, scale, zp)
    m.op("VAR_HANDLE", [], [h], shared_name=name)
    m.op("READ_VARIABLE", [h], [r])
    return h, r


def wake_word_model(seed: int) -> bytes:
    """A streaming wake-word detector in the shape of the ones shipped to ESP32 firmware, with the op set
    of issue 19's first finding: each call takes one frame of 12 features; a ring buffer (state 1) keeps
    the last 2 frames, a conv over 3 frames (VALID in time) gives 16 channels, a second ring buffer
    (state 2, of conv outputs, sliced with masks and a negative begin) feeds a depthwise conv over 4
    steps, SPLIT_V cuts the 16 channels in 10 + 6 that a CONCATENATION puts back in the other order,
    a fully connected layer gives 2 logits, LOGISTIC, and a QUANTIZE to a uint8 output (scale 1/256,
    zero point 0: the converter's uint8 output)."""
    rng = np.random.default_rng(seed)
    m = Model()
    init = m.subgraph()
    x = quant_tensor(m, "frame", (1, 1, 1, 12), 0.08, -3)
    m.op("CALL_ONCE", [], [], init_subgraph_index=1)
    h1, s1 = resource_variable(m, init, "stream", (1, 2, 1, 12), 0.08, -3, np.full((1, 2, 1, 12), -3))
    cat1 = quant_tensor(m, "stream/concat", (1, 3, 1, 12), 0.08, -3)
    m.op("CONCATENATION", [s1, x], [cat1], axis=1)
    keep1 = quant_tensor(m, "stream/keep", (1, 2, 1, 12), 0.08, -3)
    m.op("STRIDED_SLICE", [cat1, int32_const(m, "b1", [0, 1, 0, 0]), int32_const(m, "e1", [1, 3, 1, 12]), int32_const(m, "st1", [1, 1, 1, 1])],
         [keep1])
    m.op("ASSIGN_VARIABLE", [h1, keep1], [])
    c1 = quant_tensor(m, "conv", (1, 1, 1, 16), 1.0, -128)
    m.op("CONV_2D", [cat1, int8_weights(m, "w1", (16, 3, 1, 12), rng, 0, 16), int32_bias(m, "b_c1", 16, rng)], [c1],
         padding=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=1)
    h2, s2 = resource_variable(m, init, "stream_1", (1, 3, 1, 16), 1.0, -128,
                       rng.integers(-128, -100, (1, 3, 1, 16)))            # a non-trivial initial state
    cat2 = quant_tensor(m, "stream_1/concat", (1, 4, 1, 16), 1.0, -128)
    m.op("CONCATENATION", [s2, c1], [cat2], axis=1)
    keep2 = quant_tensor(m, "stream_1/keep", (1, 3, 1, 16), 1.0, -128)
    m.op("STRIDED_SLICE", [cat2, int32_const(m, "b2", [0, -3, 0, 0]), int32_const(m, "e2", [0, 0, 0, 0]), int32_const(m, "st2", [1, 1, 1, 1])],
         [keep2], begin_mask=0b1101, end_mask=0b1111)
    m.op("ASSIGN_VARIABLE", [h2, keep2], [])
    d1 = quant_tensor(m, "dw", (1, 1, 1, 16), 4.0, -20)
    m.op("DEPTHWISE_CONV_2D", [cat2, int8_weights(m, "w2", (1, 4, 1, 16), rng, 3, 16), int32_bias(m, "b_d1", 16, rng)], [d1],
         padding=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, depth_multiplier=1, act=0)
    a, b = quant_tensor(m, "split_a", (1, 1, 1, 10), 4.0, -20), quant_tensor(m, "split_b", (1, 1, 1, 6), 4.0, -20)
    m.op("SPLIT_V", [d1, int32_const(m, "sizes", [10, -1]), int32_const(m, "axis", [3])], [a, b], num_splits=2)
    ba = quant_tensor(m, "swapped", (1, 1, 1, 16), 4.0, -20)
    m.op("CONCATENATION", [b, a], [ba], axis=-1)
    f1 = quant_tensor(m, "logits", (1, 2), 0.08, 10)
    m.op("FULLY_CONNECTED", [ba, int8_weights(m, "w3", (2, 16), rng, 0, 2, (0.0003, 0.0006)), int32_bias(m, "b_f1", 2, rng)], [f1],
         act=0)
    p = quant_tensor(m, "prob", (1, 2), 1 / 256, -128)
    m.op("LOGISTIC", [f1], [p])
    y = quant_tensor(m, "prob_u8", (1, 2), 1 / 256, 0, dtype=np.uint8)
    m.op("QUANTIZE", [p], [y])
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


def int8_frames(n, shape, seed):
    """A stream of int8 frames: a slow wave (so successive frames are related) plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    wave = 60 * np.sin(t / 7.0 + np.arange(int(np.prod(shape)))[None, :] / 3.0)
    return np.clip(wave + rng.normal(0, 25, wave.shape), -128, 127).astype(np.int8).reshape((n,) + tuple(shape))
