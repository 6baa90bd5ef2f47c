"""QUANTIZE with an int16 side (int8 -> int16, int16 -> int16 requantization, int16 -> int8) inside an int8
.tflite, bit-exact with TensorFlow Lite Micro on every int8 input value at random scales and zero points:
the integer reference, the host C and the emulated Cortex-M4.  TFLite Micro computes each as its
Requantize (clamp(out_zp + MultiplyByQuantizedMultiplier(v - in_zp, QuantizeMultiplier(s_in / s_out)))),
which edgec's Requantize nodes compute; scales that push values past the int16 or int8 range check the
clamps.  int16 at the model's edges (an int16 input or output, a DEQUANTIZE from int16) is refused in one
line: edgec's C API is int8 (or the file's uint8)."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from testkit.tflite_models import quant_tensor
from testkit.tflm import all_int8, check_one_op, tflm_stream
from testkit.tflite_writer import Model

from edgec.driver.build import build
from edgec.verification.verify import Built


def chain_model(seed: int) -> bytes:
    """int8 x -> QUANTIZE -> int16 a -> QUANTIZE -> int16 b -> QUANTIZE -> int8 y (with a TANH after it, so
    the int8 tail runs an int8 kernel on the requantized values)."""
    rng = np.random.default_rng(seed)
    s_x, zp_x = float(np.exp(rng.uniform(np.log(0.005), np.log(0.5)))), int(rng.integers(-100, 100))
    # int16 scales up to 2^9 finer than x's (values near the int16 range; seed 3 past it: the clamp)
    s_a = s_x / float(np.exp2(rng.uniform(0, 9) if seed != 3 else 12.0))
    s_b = s_a * float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
    zp_a, zp_b = (0, 0) if seed % 2 == 0 else (int(rng.integers(-300, 300)), int(rng.integers(-300, 300)))
    s_y, zp_y = float(np.exp(rng.uniform(np.log(0.01), np.log(0.2)))), int(rng.integers(-50, 50))
    m = Model()
    x = quant_tensor(m, "x", (1, 4), s_x, zp_x)
    a = quant_tensor(m, "a16", (1, 4), s_a, zp_a, dtype=np.int16)
    b = quant_tensor(m, "b16", (1, 4), s_b, zp_b, dtype=np.int16)
    y = quant_tensor(m, "y", (1, 4), s_y, zp_y)
    t = quant_tensor(m, "t", (1, 4), 1 / 128, 0)
    m.op("QUANTIZE", [x], [a])
    m.op("QUANTIZE", [a], [b])
    m.op("QUANTIZE", [b], [y])
    m.op("TANH", [y], [t])
    m.inputs, m.outputs = [x], [t]
    return m.bytes()


@pytest.mark.parametrize("seed", range(6))
def test_int16_quantize_chain_equals_tflite_micro_on_every_value(tmp_path, seed):
    require("cc")
    q = check_one_op(tmp_path, chain_model(seed), all_int8(), f"q16_{seed}")
    assert [n.op for n in q.nodes] == ["Requantize", "Requantize", "Requantize", "Lut"]
    assert [q.tensors[n.outputs[0]].dtype for n in q.nodes] == ["int16", "int16", "int8", "int8"]


def test_int16_quantize_chain_on_cortex_m4_equals_tflite_micro(tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    model = chain_model(1)
    (tmp_path / "q16.tflite").write_bytes(model)
    build(str(tmp_path / "q16.tflite"), "cortex-m4", str(tmp_path / "out"))
    xs = all_int8()
    got, ex = Built(str(tmp_path / "out")).execute("cortex-m4", xs)
    assert np.array_equal(got.reshape(-1), tflm_stream(model, xs).reshape(-1)) and not ex.float_helpers


def _edge16_model(kind: str) -> bytes:
    m = Model()
    if kind == "input":
        x = quant_tensor(m, "x", (1, 4), 0.001, 0, dtype=np.int16)
        y = quant_tensor(m, "y", (1, 4), 0.1, 0)
        m.op("QUANTIZE", [x], [y])
    else:
        x = quant_tensor(m, "x", (1, 4), 0.1, 0)
        a = quant_tensor(m, "a", (1, 4), 0.001, 0, dtype=np.int16)
        m.op("QUANTIZE", [x], [a])
        if kind == "output":
            y = a
        else:
            y = m.tensor("y", (1, 4), np.float32)
            m.op("DEQUANTIZE", [a], [y])
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


@pytest.mark.parametrize("kind", ["input", "output", "dequantize"])
def test_int16_at_the_model_edges_is_refused_in_one_line(tmp_path, kind):
    path = tmp_path / f"{kind}.tflite"
    path.write_bytes(_edge16_model(kind))
    r = subprocess.run([sys.executable, "-m", "edgec.cli.main", "build", str(path), "--target", "host", "-o",
                        str(tmp_path / "out")], capture_output=True, text=True)
    errors = [line for line in r.stderr.splitlines() if line.startswith("edgec: error")]
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(errors) == 1
    assert "int16" in errors[0] and ("DEQUANTIZE" in errors[0]) == (kind == "dequantize")


def test_int16_requantize_c_compiles_warning_free_for_every_target_and_passes_cppcheck(tmp_path):
    from strict_c import compile_strictly_and_cppcheck
    (tmp_path / "q16.tflite").write_bytes(chain_model(1))
    build(str(tmp_path / "q16.tflite"), "host", str(tmp_path / "out"))
    compile_strictly_and_cppcheck(tmp_path / "out", tmp_path, [("host", "cc"), ("host", "clang"), ("cortex-m0", None),
                                                               ("cortex-m4", None), ("rv32imc", None), ("atmega328p", None)])
