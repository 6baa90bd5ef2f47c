"""Automatic mixed precision (edgec.verification.precision): `edgec build --max-accuracy-drop` / `--min-sqnr`.

On the digits CNN with its 450 labelled test digits (x, y in one .npz): the bound is met by the
built C itself (measured here from the C's outputs, not from the search's numbers), the promotions
and their RAM/flash cost are in report.json, the C equals the integer reference, and goals that
cannot be met or options that make no sense end in one line."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATA, data, one_line_error, require

from edgec.compiler import reference
from edgec.driver.build import build, parse_fraction
from edgec.compiler.errors import InputDataError
from edgec.verification.verify import Built, sqnr_db

EDGEC = [sys.executable, "-m", "edgec.cli.main"]
MODEL = str(DATA / "digits_torch_cnn.onnx")


def cli(args):
    return subprocess.run(EDGEC + args, capture_output=True, text=True)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    d = tmp_path_factory.mktemp("mp")
    x, y = data("digits_X_test_float_0to1_x64.npy"), data("digits_y_test.npy")
    np.savez(d / "digits.npz", x=x, y=y)
    return d, x, y


def c_outputs(out, x):
    require("cc")
    b = Built(str(out))
    q_in = b.quantize_input(x.reshape((len(x),) + tuple(b.input_shape)))
    got, _ = b.execute("host", q_in)
    assert np.array_equal(got, reference.run_batch(b.int_graph, q_in))          # the C is the reference
    return b, b.dequantize_output(got).reshape(len(x), -1)


def float_outputs(b, x):
    return reference.run_batch(b.float_graph, x.reshape((len(x),) + tuple(b.input_shape))).reshape(len(x), -1)


def test_accuracy_bound_with_labels_is_met_by_the_c(digits):
    d, x, y = digits
    report = build(MODEL, "cortex-m4", str(d / "acc"), calibration=str(d / "digits.npz"), max_accuracy_drop="0.5%")
    mp = report["mixed_precision"]
    assert mp["goal"] == "top-1 accuracy within 0.5% of float" and mp["mixed"]["ok"]
    b, out = c_outputs(d / "acc", x)
    acc, float_acc = float(np.mean(out.argmax(1) == y)), float(np.mean(float_outputs(b, x).argmax(1) == y))
    assert acc >= float_acc - 0.005 and mp["float_metric"] == pytest.approx(float_acc)
    assert mp["mixed"]["metric"] == pytest.approx(acc)


def test_sqnr_goal_promotes_activations_and_reports_their_cost(digits):
    d, x, _ = digits
    int8 = build(MODEL, "cortex-m4", str(d / "int8"), calibration=str(d / "digits.npz"))
    report = build(MODEL, "cortex-m4", str(d / "sqnr"), calibration=str(d / "digits.npz"), min_sqnr=33.6)
    mp = report["mixed_precision"]
    assert not mp["int8"]["ok"] and mp["mixed"]["ok"] and mp["int16_tensors"]
    assert [p["tensor"] for p in mp["promotions"] if "tensor" in p] == mp["int16_tensors"]
    total = mp["promotions"][-1]
    t8, t16 = int8["totals"], report["totals"]
    assert total["ram_bytes"] == t16["arena_bytes"] + t16["io_bytes"] - t8["arena_bytes"] - t8["io_bytes"]
    assert total["flash_bytes"] == t16["weight_bytes"] - t8["weight_bytes"] > 0
    b, out = c_outputs(d / "sqnr", x)
    assert {t.dtype for t in b.int_graph.tensors.values() if not t.is_const} >= {"int8", "int16"}
    ref = float_outputs(b, x)
    worst = min(sqnr_db(r, o) for r, o in zip(ref, out))
    assert worst >= 33.6 and worst == pytest.approx(mp["mixed"]["metric"])
    _, out8 = c_outputs(d / "int8", x)
    assert min(sqnr_db(r, o) for r, o in zip(ref, out8)) < 33.6


def test_cli_unreachable_goal_and_bad_options_are_one_line_errors(digits, tmp_path):
    d, _, _ = digits
    cal = str(d / "digits.npz")
    one_line_error(cli(["build", MODEL, "-c", cal, "--min-sqnr", "60", "-o", str(tmp_path / "o")]),
                   "cannot reach output SQNR >= 60 dB")
    one_line_error(cli(["build", MODEL, "-c", cal, "--max-accuracy-drop", "150", "-o", str(tmp_path / "o")]),
                   "is not a fraction")
    one_line_error(cli(["build", MODEL, "-c", cal, "--max-accuracy-drop", "1%", "--min-sqnr", "30",
                            "-o", str(tmp_path / "o")]), "give one")
    np.savez(tmp_path / "bad.npz", x=data("digits_X_test_float_0to1_x64.npy"), y=np.zeros(7, np.int64))
    one_line_error(cli(["build", MODEL, "-c", str(tmp_path / "bad.npz"), "--max-accuracy-drop", "1%",
                            "-o", str(tmp_path / "o")]), "y holds 7")
    one_line_error(cli(["build", MODEL, "--max-accuracy-drop", "1%", "-o", str(tmp_path / "o")]),
                   "needs --calibration")
    assert not (tmp_path / "o").exists()


def test_parse_fraction():
    assert parse_fraction("1%") == 0.01 and parse_fraction("0.005") == 0.005 and parse_fraction(" 0.5% ") == 0.005
    for bad in ("1", "-1%", "abc", "100%", "nan"):
        with pytest.raises(InputDataError):
            parse_fraction(bad)
