"""Synthetic models for tests and benchmarks that need sizes no real model file has."""
from __future__ import annotations

import numpy as np


def chain_model(nodes: int, channels: int = 8, size: int = 8, seed: int = 0, branches: int = 2):
    """An ONNX model of `nodes` nodes with input x [1, C, H, W].  branches=2: blocks of two 3x3
    convolutions of the same feature map, added and rectified (Conv, Conv, Add, Relu; `nodes` rounded
    down to a multiple of 4); branches=1: Conv, Relu blocks (a plain chain, every stretch tileable).
    Each weight is 1/branches of an identity kernel plus noise, so a block's output is about its
    input and activations keep their range through thousands of layers."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    eye = np.zeros((channels, channels, 3, 3), np.float32)
    eye[np.arange(channels), np.arange(channels), 1, 1] = 1.0 / branches
    per_block = 2 if branches == 1 else branches + 2
    body, inits, prev = [], [], "x"
    for b in range(max(1, nodes // per_block)):
        outs = []
        for k in "ab"[:branches]:
            w = eye + rng.normal(0, 0.02, eye.shape).astype(np.float32)
            inits += [numpy_helper.from_array(w, f"w{b}{k}"),
                      numpy_helper.from_array(rng.normal(0, 0.01, channels).astype(np.float32), f"b{b}{k}")]
            body.append(helper.make_node("Conv", [prev, f"w{b}{k}", f"b{b}{k}"], [f"c{b}{k}"], name=f"conv{b}{k}",
                                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
            outs.append(f"c{b}{k}")
        if branches > 1:
            body.append(helper.make_node("Add", outs, [f"s{b}"], name=f"add{b}"))
            outs = [f"s{b}"]
        body.append(helper.make_node("Relu", outs, [f"r{b}"], name=f"relu{b}"))
        prev = f"r{b}"
    graph = helper.make_graph(body, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, channels, size, size])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
