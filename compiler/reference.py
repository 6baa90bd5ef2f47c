"""The numpy reference interpreter: one function per op and dtype.

`run(graph, x)` on a float graph gives the float answer (checked against onnxruntime); on a
quantized graph it gives the integer answer, which is the contract: the generated C must equal it
bit for bit.  Each `*_s8` function here is the twin of `runtime_c/edgec_<op>_s8.c`, each `*_s16` one
of `runtime_c/edgec_<op>_s16.c`; a node whose output tensor is int16 runs its op's `*_s16` twin.

Integer sums are formed in float64 (exact: every partial sum of int8 products is far below 2^53)
so numpy's BLAS can do them, then turned back to int64.
"""
from __future__ import annotations

import numpy as np

from .errors import InputDataError
from .ir import Graph
from .ops import REGISTRY, table
from .ops.requantize import requantize  # noqa: F401
from .ops.conv import conv2d_f32, conv2d_s8, conv2d_s16, fully_connected_f32, fully_connected_s8, fully_connected_s16  # noqa: F401

# ---------------------------------------------------------------------------------------------
# Every op brings its own reference functions (compiler/ops/); these tables are views of the registry.
# (Names other modules import from here stay importable.)

#: The float functions of the unary element-wise ops (programs of Elementwise nodes call them).
FLOAT_UNARY = {name: d.float_ref for name, d in REGISTRY.items() if d.unary}

#: Float graphs: op -> fn(node, *inputs).
FLOAT_OPS = table("float_ref")

#: Integer graphs (twins of runtime_c/; every attr they read is set by passes/quantize.py): op -> fn.
INT_OPS = table("int8_ref")

#: int16 activations (TFLite's 16x8 mode): twins of runtime_c/edgec_<op>_s16.c.  Activations int16
#: symmetric (zero point 0), weights int8 per channel, bias int64, int64 accumulation, requantized by
#: fixedpoint.multiply_by_quantized_multiplier_int64 (TFLite's int64 MultiplyByQuantizedMultiplier).
#: A node runs these when its output tensor is int16 (passes/quantize.py: its activation inputs are
#: int16 too); ops not here have int8 kernels only.  Sums of int16 x int8 products stay far below 2^53,
#: so float64 sums are exact here too.
INT16_OPS = table("int16_ref")

# ---------------------------------------------------------------------------------------------


def is_quantized(graph: Graph) -> bool:
    return bool(graph.meta.get("quantized"))


def initial_state(graph: Graph) -> dict:
    """{state tensor: its initial values} of a stateful graph (Graph.state, a streaming .tflite), else {}."""
    return {s.tensor: np.array(s.init) for s in graph.state}


def run(graph: Graph, x, keep_all: bool = False, state: dict | None = None):
    """Run one sample (batch as in the graph).  `x`: array for the single input, or {name: array}.
    Returns {output name: array}, or every tensor's value with keep_all (calibration, diagnostics).
    A stateful graph reads its state tensors from `state` ({tensor: values}, initial_state() when None)
    and, as the C does at the end of a run, `state` then holds the values assigned to them."""
    quantized = is_quantized(graph)
    if state is None:
        state = initial_state(graph)
    ops = INT_OPS if quantized else FLOAT_OPS
    feeds = x if isinstance(x, dict) else {graph.inputs[0]: x}
    env = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        v = np.asarray(feeds[name])
        if v.size != t.size:
            raise InputDataError(f"input {name} needs shape {t.shape}, got {v.shape}")
        env[name] = v.reshape(t.shape).astype(np.int8 if quantized else np.float32)
    for name, v in state.items():
        env[name] = np.asarray(v).reshape(graph.tensors[name].shape)
    for node in graph.nodes:
        args = [env[i] if i in env else graph.tensors[i].data for i in node.inputs]
        wide = quantized and graph.tensors[node.outputs[0]].dtype == "int16"
        out = (INT16_OPS if wide else ops)[node.op](node, *args)
        for o, v in zip(node.outputs, out if len(node.outputs) > 1 else [out]):
            env[o] = v if quantized else np.asarray(v, dtype=np.float32)
    for s in graph.state:
        if s.next is not None:
            state[s.tensor] = np.array(env[s.next] if s.next in env else graph.tensors[s.next].data)
    if keep_all:
        return env
    return {o: env[o] for o in graph.outputs}


def run_batch(graph: Graph, xs: np.ndarray, stream: bool = True) -> np.ndarray:
    """Run each sample of xs ([N, ...input shape]) and stack the first output: [N, ...output shape].
    A stateful graph takes the samples as one stream, in order, its state carried from each to the next
    (as the C's successive runs do); `stream=False` starts every sample from the initial state."""
    state = initial_state(graph)
    return np.stack([run(graph, x, state=state if stream else None)[graph.outputs[0]] for x in xs])


def run_batch_outputs(graph: Graph, xs, stream: bool = True) -> dict:
    """run_batch for every output: {output name: [N, ...output shape]}, in graph.outputs order.  `xs`: an
    [N, ...] array (one input) or data.InputSamples (several)."""
    state = initial_state(graph)
    runs = [run(graph, x, state=state if stream else None) for x in xs]
    return {o: np.stack([r[o] for r in runs]) for o in graph.outputs}
