"""TensorFlow Lite Micro as the oracle of the .tflite tests: its outputs for a sequence of inputs (one
interpreter carrying its variables, or a fresh one each), and the check of a single-op model's integer
reference and host C against it, with the inputs those checks draw."""
from __future__ import annotations

import numpy as np
from tflite_micro.python.tflite_micro import runtime

from edgec.compiler import reference
from edgec.driver.build import build, tflite_graphs
from edgec.verification.verify import Built


def tflm_run(model_bytes: bytes, q_in: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """TFLM's outputs for each of q_in, in order, through one interpreter (its default arena unless
    `arena_size`: float models of a few layers already need more)."""
    it = runtime.Interpreter.from_bytes(model_bytes, **({"arena_size": arena_size} if arena_size else {}))
    outs = []
    for x in q_in:
        it.set_input(x.reshape(it.get_input_details(0)["shape"]), 0)
        it.invoke()
        outs.append(it.get_output(0).copy())
    return np.stack(outs)


def tflm_run_io(model_bytes: bytes, inputs: list, n_outputs: int, arena_size: int = 1 << 20) -> list:
    """TFLM's outputs for a model of several inputs and outputs: `inputs` in the file's order, each
    [N, ...]; returns n_outputs arrays [N, ...], in the file's order."""
    it = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)
    outs = [[] for _ in range(n_outputs)]
    for n in range(len(inputs[0])):
        for k, x in enumerate(inputs):
            it.set_input(x[n].reshape(it.get_input_details(k)["shape"]), k)
        it.invoke()
        for k in range(n_outputs):
            outs[k].append(it.get_output(k).copy())
    return [np.stack(o) for o in outs]


def tflm_stream(model: bytes, xs: np.ndarray, reset_each: bool = False) -> np.ndarray:
    """TFLM's outputs for xs fed in order to one interpreter (its variables carried between invocations),
    or to a fresh interpreter each (`reset_each`)."""
    it = None
    outs = []
    for x in xs:
        if it is None or reset_each:
            it = runtime.Interpreter.from_bytes(model, arena_size=1 << 16)
        it.set_input(x.reshape(it.get_input_details(0)["shape"]), 0)
        it.invoke()
        outs.append(it.get_output(0).copy())
    return np.stack(outs)


def check_one_op(tmp_path, model: bytes, xs: np.ndarray, name: str):
    """The integer reference and the host C (for the first few inputs) against TFLM on xs."""
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(model)
    _, q = tflite_graphs(str(path))
    want = tflm_stream(model, xs, reset_each=False)
    got = reference.run_batch(q, xs)
    u8 = want.dtype == np.uint8
    if u8:
        got = (got.astype(np.int16) + 128).astype(np.uint8)
    assert np.array_equal(got, want.reshape(got.shape)), name
    build(str(path), "host", str(tmp_path / f"out_{name}"))
    built = Built(str(tmp_path / f"out_{name}"))
    c, _ = built.execute("host", xs.astype(np.int16).astype(np.int8) if xs.dtype == np.int8 else
                         (xs.astype(np.int16) - 128).astype(np.int8))
    if u8:
        c = (c.astype(np.int16) + 128).astype(np.uint8)
    assert np.array_equal(c, want.reshape(c.shape)), f"{name}: the C differs from TFLM"
    return q


def int8_inputs(rng, shape, n=6):
    """n random int8 samples of `shape`."""
    return rng.integers(-128, 128, (n,) + tuple(shape)).astype(np.int8)


def all_int8(shape_tail=(4,)):
    """Every int8 value, as (64, *shape_tail) samples of 4."""
    return np.arange(-128, 128, dtype=np.int8).reshape((64, 1) + tuple(shape_tail))


def random_inputs(built, n, seed):
    """n random int8 inputs of a build's input shape."""
    return np.random.default_rng(seed).integers(-128, 128, (n,) + tuple(built.input_shape)).astype(np.int8)
