"""Float inputs are quantized by one rule on every path, ties and near-ties included.

The paths: `edgec run` / `verify` (Built.quantize_input), a package's library as api.run and the device
agent load it (fleet.loaded.quantize), and the compiler's own rule for the models it quantizes
(passes/quantize.quantize_values).  All go through fixedpoint.quantize_float_input:
  - a .tflite whose float input edge (its QUANTIZE) edgec dropped divides in float32, as TFLite Micro's
    QUANTIZE does (TfLiteRound(val / float(scale))): float64 division gives another int8 value for
    about 1 in 10 inputs within a few float32 ulps of a tie, so the package carries the rule
    ("quantize": "float32" in its input spec);
  - other models divide in float64 (the compiler's rule);
  - both round half away from zero exactly as C's round(): the double just below 0.5 rounds to 0
    (floor(|x| + 0.5) gave 1).
The oracles are TFLite Micro itself (a QUANTIZE edge over a table of near-tie float32 inputs) and the C
library's round()."""
import ctypes
import ctypes.util
import subprocess
import sys

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

from conftest import require
from testkit.tflite_writer import Model

from edgec.cli import api
from edgec.package.loaded import quantize as agent_quantize
from edgec.compiler.fixedpoint import quantize_float_input, round_half_away
from edgec.passes.quantize import quantize_values

SCALES = [(0.0078125 * 1.1, 3), (0.0123, -7), (1 / 255, -128), (0.25, 0)]


def near_ties(scale: float, span: int = 140) -> np.ndarray:
    """float32 values at (k + 1/2) * scale for every k in range, and 1 and 2 float32 ulps either side."""
    s = np.float32(scale)
    out = []
    for k in range(-span, span):
        t = np.float32((k + 0.5) * float(s))
        lo = hi = t
        out.append(t)
        for _ in range(2):
            lo, hi = np.nextafter(lo, np.float32(-np.inf)), np.nextafter(hi, np.float32(np.inf))
            out += [lo, hi]
    return np.asarray(out, np.float32)


def tflm_quantize(xs: np.ndarray, scale: float, zp: int) -> np.ndarray:
    """TFLite Micro's QUANTIZE float32 -> int8 of xs (one invocation)."""
    m = Model()
    x = m.tensor("x", xs.shape, np.float32)
    y = m.tensor("y", xs.shape, np.int8, scale=scale, zp=zp)
    m.op("QUANTIZE", [x], [y])
    m.inputs, m.outputs = [x], [y]
    it = runtime.Interpreter.from_bytes(m.bytes(), arena_size=1 << 16)
    it.set_input(xs, 0)
    it.invoke()
    return it.get_output(0).copy()


@pytest.mark.parametrize("scale,zp", SCALES)
def test_float32_rule_equals_tflite_micro_quantize_at_ties(scale, zp):
    xs = near_ties(scale)
    want = tflm_quantize(xs, scale, zp)
    assert np.array_equal(quantize_float_input(xs, np.float32(scale), zp, "float32"), want)
    assert np.array_equal(agent_quantize(xs, float(np.float32(scale)), zp, "float32"), want)


def test_float64_division_differs_from_tflite_micro_near_ties():
    """Why the rule must travel with a .tflite package: the float64 rule disagrees with TFLM here."""
    scale, zp = SCALES[0]
    xs = near_ties(scale)
    assert np.sum(quantize_float_input(xs, float(np.float32(scale)), zp) != tflm_quantize(xs, scale, zp)) > 50


def test_compiler_rule_and_run_rule_agree_on_every_table_value():
    for scale, zp in SCALES:
        xs = near_ties(scale)
        assert np.array_equal(quantize_values(xs, scale, zp), quantize_float_input(xs, scale, zp))
        assert np.array_equal(agent_quantize(xs, scale, zp), quantize_float_input(xs, scale, zp))


def test_round_half_away_is_c_round_on_an_edge_case_table():
    """C's round() (libm through ctypes) on exact halves, their neighbours and the double below 0.5."""
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.round.restype, libm.round.argtypes = ctypes.c_double, [ctypes.c_double]
    below_half = float(np.nextafter(0.5, 0.0))                       # 0.49999999999999994
    table = [0.5, 1.5, 2.5, 126.5, 127.5, below_half, 1 - below_half, 2.0 ** 52 - 0.5, 2.0 ** 51 + 0.5, 0.0,
             float(np.nextafter(1.5, 0.0)), float(np.nextafter(2.5, 3.0)), 1e-300, 3.0]
    table += [-v for v in table]
    want = [int(libm.round(v)) for v in table]
    assert [round_half_away(v) for v in table] == want                  # scalar (compile-time) path
    assert round_half_away(np.asarray(table)).tolist() == want          # array path
    assert round_half_away(below_half) == 0 and quantize_float_input(np.asarray([below_half]), 1.0, 0)[0] == 0


def _edge_model(scale: float, zp: int, n: int) -> bytes:
    """float32 [1, n] -> QUANTIZE -> int8 -> RESHAPE -> int8 [n]: the int8 output is TFLM's quantization."""
    m = Model()
    x = m.tensor("x", (1, n), np.float32)
    q = m.tensor("q", (1, n), np.int8, scale=scale, zp=zp)
    y = m.tensor("y", (n,), np.int8, scale=scale, zp=zp)
    shape = m.tensor("shape", None, np.int32, data=np.asarray([n], np.int32))
    m.op("QUANTIZE", [x], [q])
    m.op("RESHAPE", [q, shape], [y], new_shape=[n])
    m.inputs, m.outputs = [x], [y]
    return m.bytes()


def test_run_and_package_quantize_a_tflite_float_edge_as_tflite_micro(tmp_path):
    """`edgec run` (the build) and the signed package's library (api.run, the agent's code) give TFLM's
    int8 for near-tie float inputs of a .tflite with a float input edge."""
    require("cc")
    scale, zp = SCALES[0]
    table = near_ties(scale)
    n = 100
    xs = table[: len(table) // n * n].reshape(-1, 1, n)
    model = _edge_model(scale, zp, n)
    (tmp_path / "edge.tflite").write_bytes(model)
    want = np.stack([tflm_quantize(x, scale, zp).reshape(-1) for x in xs])
    report = api.build(str(tmp_path / "edge.tflite"), str(tmp_path / "out"), target="host")
    assert report["input"]["quantize"] == "float32"
    built = api.load(str(tmp_path / "out"))
    assert np.array_equal(api.run(built, xs, raw=True).reshape(want.shape), want)
    edgec = lambda *a: subprocess.run([sys.executable, "-m", "edgec.cli.main"] + [str(v) for v in a],
                                      capture_output=True, text=True)
    assert edgec("keygen", "-o", tmp_path / "keys").returncode == 0
    r = edgec("package", tmp_path / "out", "--name", "edge", "--version", "1.0.0", "--key",
              tmp_path / "keys" / "signing.pem", "-o", tmp_path / "edge.tar.gz")
    assert r.returncode == 0, r.stderr
    pkg = api.load(str(tmp_path / "edge.tar.gz"), pubkey=str(tmp_path / "keys" / "signing.pub"))
    assert pkg.manifest["inputs"][0]["quantize"] == "float32"
    assert np.array_equal(api.run(pkg, xs, raw=True).reshape(want.shape), want)


def test_agent_describes_the_float32_rule_so_raw_clients_quantize_as_tflite_micro(tmp_path):
    """`edgec agent predict --raw` quantizes on the client from DescribeModel's metadata: the agent's
    message carries the package's division rule (Quantization.division) and the client's dict gives it back."""
    from types import SimpleNamespace
    from edgec.agent.client import model_dict
    from edgec.agent.server import model_message
    from edgec.package.archive import build_manifest
    scale, zp = SCALES[1]
    (tmp_path / "edge.tflite").write_bytes(_edge_model(scale, zp, 8))
    report = api.build(str(tmp_path / "edge.tflite"), str(tmp_path / "out"), target="host")
    manifest = build_manifest("edge", "1.0.0", report, {}, "host")
    served = SimpleNamespace(name="edge", url="file:///edge.tar.gz", manifest=manifest, version="1.0.0",
                             input=manifest["inputs"][0], output=manifest["outputs"][0], ram_bytes=0,
                             manifest_sha256="", key_id="", inferences=0)
    spec = model_dict(model_message(served))["inputs"][0]
    assert spec["division"] == "float32"
    xs = near_ties(scale)
    assert np.array_equal(agent_quantize(xs, spec["scale"], spec["zero_point"], spec["division"]),
                          tflm_quantize(xs, scale, zp))
