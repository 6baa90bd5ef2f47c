"""The command line as users run it: happy path, --json, determinism, and bad input that must give
one line on stderr and a non-zero exit, never a traceback."""
import json
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

from conftest import CASES, DATA, require
from edgec.compiler.importers.runtime_float import why

EDGEC = [sys.executable, "-m", "edgec.cli.main"]


def edgec(*args, cwd=None):
    return subprocess.run(EDGEC + [str(a) for a in args], capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(r, *words):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [l for l in r.stderr.splitlines() if l.startswith("edgec: error")]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_build_verify_run_targets(digits_files, tmp_path):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    d = digits_files
    r = edgec("build", CASES["digits_cnn"].path, "--target", "cortex-m4", "-o", tmp_path / "out", "--calibration", d / "calib.npy")
    assert r.returncode == 0, r.stderr
    assert "peak RAM (arena)" in r.stdout and "Conv2D" in r.stdout
    for f in ("model.h", "model.c", "weights.c", "edgec.h", "edgec_conv2d_s8.c", "report.json"):
        assert (tmp_path / "out" / f).is_file(), f
    assert "int edgec_digits_torch_cnn_run(const int8_t *input, int8_t *output);" in (tmp_path / "out" / "model.h").read_text()
    for target in ("host", "cortex-m4"):
        r = edgec("verify", tmp_path / "out", "--on", target, "--input", d / "samples.npy", "--json")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["bit_exact"] is True and res["target"] == target and res["samples"] == 25 and res["mismatches"] == 0
        assert "top1_agreement" in res["float_agreement"]
    r = edgec("run", tmp_path / "out", d / "samples.npy", "--on", "cortex-m4", "-o", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (25, 10) and y.dtype == np.float32
    r = edgec("run", tmp_path / "out", d / "samples.npy", "--on", "host", "-o", tmp_path / "q.npy", "--raw")
    q = np.load(tmp_path / "q.npy")
    assert q.dtype == np.int8
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    np.testing.assert_array_equal(y, ((q.astype(np.float64) - rep["output"]["zero_point"]) * rep["output"]["scale"]).astype(np.float32))
    r = edgec("targets", "--json")
    names = [t["name"] for t in json.loads(r.stdout)]
    assert {"host", "cortex-m4"} <= set(names)


def test_build_is_deterministic(digits_files, tmp_path):
    for out in ("a", "b"):
        r = edgec("build", CASES["kws"].path, "-o", tmp_path / out, "--calibration", DATA / "kws_input_float_dequant.npy", "--json")
        assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def _unsupported_model(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("Hardmax", ["a"], ["b"], name="hardmax_1"),
             helper.make_node("MeanVarianceNormalization", ["b"], ["y"], name="mvn_2")]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y])), path)


def test_bad_inputs_give_one_line_errors(digits_files, tmp_path):
    d = digits_files
    model = CASES["digits_cnn"].path
    assert_one_line_error(edgec("build", tmp_path / "missing.onnx", "-c", d / "calib.npy"), "missing.onnx", "no such file")
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes((DATA / "vww_96_tf2onnx.onnx").read_bytes()[:3000])
    assert_one_line_error(edgec("build", trunc, "-c", d / "calib.npy", "-o", tmp_path / "o"), "trunc.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xff" * 100)
    assert_one_line_error(edgec("build", garbage, "-c", d / "calib.npy", "-o", tmp_path / "o"), "garbage.onnx")
    _unsupported_model(tmp_path / "unsup.onnx")
    r = edgec("build", tmp_path / "unsup.onnx", "-c", d / "calib.npy", "-o", tmp_path / "o")
    assert_one_line_error(r, "unsup.onnx", "cannot be compiled: 2 unsupported node(s)")
    assert r.returncode == 2 and r.stderr.splitlines()[-2:] == ["  node hardmax_1 (Hardmax): unsupported op",
                                                                "  node mvn_2 (MeanVarianceNormalization): unsupported op"
                                                                + why("MeanVarianceNormalization")], r.stderr
    np.save(tmp_path / "wrong.npy", np.zeros((5, 7), np.float32))
    assert_one_line_error(edgec("build", model, "-c", tmp_path / "wrong.npy", "-o", tmp_path / "o"), "(5, 7)", "(1, 1, 8, 8)")
    assert_one_line_error(edgec("build", model, "-t", "cortex-m99", "-c", d / "calib.npy", "-o", tmp_path / "o"), "cortex-m99")
    assert_one_line_error(edgec("build", model, "-o", tmp_path / "o"), "--calibration")
    assert_one_line_error(edgec("verify", tmp_path / "nothing", "--input", d / "samples.npy"), "not an edgec build")
    assert_one_line_error(edgec("frobnicate"), "frobnicate")
    assert not (tmp_path / "o").exists(), "a failed build must not leave an output directory"


def test_failed_build_keeps_previous_output(digits_files, tmp_path):
    d = digits_files
    out = tmp_path / "out"
    assert edgec("build", CASES["digits_mlp"].path, "-o", out, "-c", d / "calib.npy").returncode == 0
    before = (out / "model.c").read_bytes()
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3), np.float32))
    assert edgec("build", CASES["digits_mlp"].path, "-o", out, "-c", tmp_path / "wrong.npy").returncode != 0
    assert (out / "model.c").read_bytes() == before


def test_missing_emulator_names_apt_packages(digits_files, tmp_path):
    out = tmp_path / "out"
    assert edgec("build", CASES["digits_mlp"].path, "-o", out, "-c", digits_files / "calib.npy").returncode == 0
    env_path = tmp_path / "bin"
    env_path.mkdir()
    (env_path / "python").symlink_to(sys.executable)
    r = subprocess.run([str(env_path / "python"), "-m", "edgec.cli.main", "verify", str(out), "--on", "cortex-m4",
                        "--input", str(digits_files / "samples.npy")], capture_output=True, text=True, env={"PATH": str(env_path)})
    assert_one_line_error(r, "gcc-arm-none-eabi", "qemu-system-arm", "apt-get install")


def test_keras_and_darknet_bad_inputs_through_the_cli(digits_files, tmp_path):
    d = digits_files
    cut = tmp_path / "cut.h5"
    cut.write_bytes((DATA / "vww_96.h5").read_bytes()[:4096])
    assert_one_line_error(edgec("build", cut, "-c", d / "calib.npy", "-o", tmp_path / "o"), "cut.h5", "truncated")
    cut = tmp_path / "cut.keras"
    cut.write_bytes((DATA / "vww_96.keras").read_bytes()[:4096])
    assert_one_line_error(edgec("build", cut, "-c", d / "calib.npy", "-o", tmp_path / "o"), "cut.keras")
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("[net]\nwidth=8\nheight=8\n[convolutional]\nfilters=two\n")
    (tmp_path / "bad.weights").write_bytes(b"\0" * 20)
    assert_one_line_error(edgec("build", cfg, "-c", d / "calib.npy", "-o", tmp_path / "o"), "line 5", "filters=two")
    assert_one_line_error(edgec("build", DATA / "yolo-fastest-1.1.cfg", tmp_path / "bad.weights", "-c", d / "calib.npy",
                                "-o", tmp_path / "o"), "weights end early")
    assert_one_line_error(edgec("build", CASES["digits_cnn"].path, "--ram", "lots", "-c", d / "calib.npy"), "'lots' is not a size")
    assert not (tmp_path / "o").exists()


def test_tiny_model_fits_an_atmega_class_budget_and_says_so(tmp_path):
    np.save(tmp_path / "calib.npy", np.load(DATA / "extra_inputs.npz")["mnist14"][:100])
    r = edgec("build", CASES["mnist"].path, "--ram", "2K", "--flash", "32K", "-o", tmp_path / "out", "-c", tmp_path / "calib.npy")
    assert r.returncode == 0, r.stderr
    assert "fits cortex-m4: RAM" in r.stdout and "headroom" in r.stdout
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["budget"] == {"ram_bytes": 2048, "flash_bytes": 32768}
    assert rep["totals"]["arena_bytes"] + rep["totals"]["io_bytes"] <= 2048
    mem = rep["memory"]
    assert len(mem["timeline"]) == len(rep["layers"]) and max(mem["timeline"]) == mem["peak_live_bytes"]
    assert mem["peak_live_bytes"] <= rep["totals"]["arena_bytes"]
    r = edgec("build", CASES["mnist"].path, "--ram", "512", "-o", tmp_path / "small", "-c", tmp_path / "calib.npy", "--json")
    assert r.returncode != 0
    facts = json.loads(r.stdout)
    assert facts["ram_budget"] == 512 and facts["ram_needed"] > 512 and facts["peak_tensors"]
    assert "over by" in facts["error"]
