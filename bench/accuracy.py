"""Accuracy of edgec's int8 models against the float model, per calibration method, next to TFLite's
own int8 model of the same network (MLPerf Tiny reference .tflite, run by TFLite Micro).

Per model: the float metric, edgec int8 with each calibration method (with bias correction, and the
default method without it), TFLite int8, and the RAM (arena + input/output) and flash (weights,
biases, multipliers, tables) of each.  Metrics:
  digits_cnn      accuracy on the 450 labelled test digits (calibrated on the 1,347 training digits);
  digits_keras    the same for the Keras 3 CNN (.keras, edgec's Keras importer)
  kws/vww/resnet  top-1 agreement with the float model and output SQNR vs float (dB)
  ad01            reconstruction MSE of the 40 real frames (TFLite int8 is +8% over float)
ResNet-8 and VWW are calibrated on their 28 real inputs (testkit/cases.py) and scored on 300
held-out photo crops (testkit/heldout.py), so that one flipped borderline image is 0.3%, not 3.6%.
KWS and AD have no held-out data: edgec calibrates by 2-fold cross calibration (each half of the
inputs is evaluated by a build calibrated on the other half; no input is scored by a model
calibrated on it).  TFLite's models were calibrated by MLPerf on their own data.
edgec's int8 outputs come from the integer reference, which the generated C equals bit for bit
(tests/test_models.py); TFLite's from the `tflite-micro` host interpreter.  digits_cnn has no
TFLite int8 model (making one needs TensorFlow's converter).

"edgec mixed" is mixed precision (edgec.verification.precision) with the goal top-1 agreement within 0.5% of
float on the calibration inputs (AD: output SQNR >= TFLite's + 10 dB); where even every candidate
in int16 misses that goal on those inputs, the column shows all candidates int16 (marked "all").

usage: python bench/accuracy.py [--json] [--only kws,ad01] [--methods minmax,mse] [--folds 2] [--ablation]   (from the repo root)"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # the repository root, for testkit
from testkit.cases import CASES as _CASES, DATA, KERAS_CASES, data  # noqa: E402

from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import compile_graph, import_model, build  # noqa: E402
from edgec.compiler.calibrate import DEFAULT_METHOD, METHODS  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.verification.verify import Built, sqnr_db  # noqa: E402

#: held-out evaluation images: model -> (crop size, count, scale to the model's input range)
HELDOUT = {"resnet": (32, 300, 1.0), "vww": (96, 300, 1 / 255)}
TFLITE = {"kws": "kws_ref_model.tflite", "vww": "vww_96_int8.tflite", "resnet": "pretrainedResnet_quant.tflite",
          "ad01": "ad01_int8.tflite"}
CASES = {**_CASES, "digits_keras": KERAS_CASES["digits_keras"]}
MODELS = ("digits_cnn", "digits_keras", "kws", "vww", "resnet", "ad01")
#: the digits models: calibrated on the training digits, scored on the labelled test digits
DIGITS = ("digits_cnn", "digits_keras")
FOLDS = 2


def metric_kind(name: str) -> str:
    return "accuracy" if name in DIGITS else {"ad01": "mse"}.get(name, "top1")


def eval_set(name: str):
    """(calibration inputs, evaluation inputs, labels or None); the MLPerf models share one set."""
    case = CASES[name]
    if name in DIGITS:
        return case.calibration(), case.inputs(), data("digits_y_test.npy")
    xs = case.inputs()
    if name in HELDOUT:
        from testkit.heldout import photo_crops
        size, n, scale = HELDOUT[name]
        return xs, photo_crops(size, n) * np.float32(scale), None
    return xs, xs, None


def float_graph(name: str):
    return canonicalize(import_model(CASES[name].path))


def int8_outputs(built: Built, xs: np.ndarray) -> np.ndarray:
    """The int8 model's dequantized outputs (N, ...): the integer reference, what the C computes."""
    xs = xs.reshape((len(xs),) + tuple(built.input_shape))
    return built.dequantize_output(reference.run_batch(built.int_graph, built.quantize_input(xs)))


def float_outputs(graph, xs: np.ndarray) -> np.ndarray:
    shape = tuple(graph.tensors[graph.inputs[0]].shape)
    return reference.run_batch(graph, xs.reshape((len(xs),) + shape))


def edgec_int8(graph, calib: np.ndarray, evalx: np.ndarray, method: str, bias_correction: bool, work: Path,
               folds: int = 1):
    """Build for cortex-m4 and return (dequantized outputs on evalx, report).  folds > 1: evalx is
    calib, split by index mod folds; fold k is scored by a build calibrated on the other folds."""
    shape = tuple(graph.tensors[graph.inputs[0]].shape)
    calib = calib.reshape((len(calib),) + shape)
    outs, report = None, None
    parts = [(calib, np.arange(len(evalx)))] if folds <= 1 else \
        [(calib[np.arange(len(calib)) % folds != k], np.flatnonzero(np.arange(len(evalx)) % folds == k)) for k in range(folds)]
    for k, (cal, idx) in enumerate(parts):
        out = work / f"{method}{int(bias_correction)}_{k}"
        report = compile_graph(graph, cal, "cortex-m4", str(out), "m", "bench", calibration_method=method,
                               bias_correction=bias_correction)
        y = int8_outputs(Built(str(out)), evalx[idx])
        if outs is None:
            outs = np.zeros((len(evalx),) + y.shape[1:], np.float32)
        outs[idx] = y
    return outs, report


def edgec_mixed(graph, calib: np.ndarray, evalx: np.ndarray, goal, work: Path):
    """(dequantized outputs on evalx, report, note): mixed precision searched on calib (see the
    module docstring); note is "all" when the goal was out of reach and every candidate is int16."""
    from edgec.compiler.errors import InputDataError
    from edgec.passes.quantize import int16_candidates
    shape = tuple(graph.tensors[graph.inputs[0]].shape)
    calib = calib.reshape((len(calib),) + shape)
    out, note = work / "mixed", ""
    try:
        report = compile_graph(graph, calib, "cortex-m4", str(out), "m", "bench", mixed=goal)
    except InputDataError:
        g = graph.copy()
        g.meta["precision"] = {t: "int16" for t, why in int16_candidates(graph).items() if why is None}
        report, note = compile_graph(g, calib, "cortex-m4", str(out), "m", "bench"), "all"
    return int8_outputs(Built(str(out)), evalx), report, note


def tflite_int8(name: str, xs: np.ndarray, work: Path):
    """TFLite Micro's dequantized outputs of the MLPerf int8 model on xs, and edgec's report of the same
    .tflite (RAM/flash; its C equals TFLM bit for bit, tests/test_tflite_import.py)."""
    from tflite_micro.python.tflite_micro import runtime
    path = DATA / TFLITE[name]
    out = work / "tflite"
    report = build(str(path), "cortex-m4", str(out))
    b = Built(str(out))
    q_in = b.quantize_input(xs.reshape((len(xs),) + tuple(b.input_shape)))
    it = runtime.Interpreter.from_bytes(path.read_bytes())
    res = []
    for x in q_in:
        it.set_input(x.reshape(it.get_input_details(0)["shape"]), 0)
        it.invoke()
        res.append(it.get_output(0).copy())
    return b.dequantize_output(np.stack(res).reshape((len(xs),) + tuple(b.output_shape))), report


def score(kind: str, ref: np.ndarray, out: np.ndarray, xs: np.ndarray, labels) -> dict:
    n = len(xs)
    r, o = ref.reshape(n, -1).astype(np.float64), out.reshape(n, -1).astype(np.float64)
    s = {"sqnr_db": round(sqnr_db(r, o), 2)}
    if kind == "mse":
        s["mse"] = float(((o - xs.reshape(n, -1)) ** 2).mean())
    else:
        s["top1_agreement"] = float((r.argmax(1) == o.argmax(1)).mean())
    if labels is not None:
        s["accuracy"] = float((o.argmax(1) == labels).mean())
    return s


def memory(report: dict) -> dict:
    t = report["totals"]
    return {"ram_bytes": t["arena_bytes"] + t["io_bytes"], "flash_bytes": t["weight_bytes"]}


def evaluate(name: str, methods=METHODS, folds: int = FOLDS, ablation: bool = False) -> dict:
    """All the numbers of one model's row (see the module docstring)."""
    kind = metric_kind(name)
    graph = float_graph(name)
    calib, xs, labels = eval_set(name)
    ref = float_outputs(graph, xs)
    f = 1 if name in DIGITS or name in HELDOUT else folds
    row = {"model": name, "metric": kind, "samples": int(len(xs)), "calibration_samples": int(len(calib)),
           "cross_calibration_folds": f, "float": score(kind, ref, ref, xs, labels), "edgec": {}}
    with tempfile.TemporaryDirectory(prefix="edgec-acc-") as tmp:
        work = Path(tmp)
        variants = [(m, True) for m in methods] + [(m, False) for m in methods if ablation or m == DEFAULT_METHOD]
        for method, bc in variants:
            out, report = edgec_int8(graph, calib, xs, method, bc, work, f)
            row["edgec"][method + ("" if bc else " (no bias correction)")] = {**score(kind, ref, out, xs, labels),
                                                                            **memory(report)}
        if name in TFLITE:
            out, report = tflite_int8(name, xs, work)
            row["tflite_int8"] = {**score(kind, ref, out, xs, labels), **memory(report)}
        from edgec.verification.precision import Goal
        goal = Goal(min_sqnr_db=row["tflite_int8"]["sqnr_db"] + 10) if kind == "mse" else Goal(max_drop=0.005)
        out, report, note = edgec_mixed(graph, calib, xs, goal, work)
        mp = report.get("mixed_precision", {})
        row["edgec_mixed"] = {**score(kind, ref, out, xs, labels), **memory(report), "note": note,
                              "int16_tensors": len(mp.get("int16_tensors", [])) if not note else "all"}
    return row


def _cell(kind: str, s: dict) -> str:
    db = f" ({s['sqnr_db']:.1f} dB)" if np.isfinite(s["sqnr_db"]) else ""
    if kind == "accuracy":
        return f"{s['accuracy']:.4f}{db}"
    if kind == "mse":
        return f"{s['mse']:.3f}{db}"
    return f"{s['top1_agreement']:.3f}{db}"


def table(rows) -> str:
    variants = list(rows[0]["edgec"])
    head = (["model", "metric", "float"] + [f"edgec {v}" for v in variants] +
            ["edgec mixed", "TFLite int8", "RAM / flash edgec", "RAM / flash edgec mixed", "RAM / flash TFLite"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    what = {"accuracy": "test accuracy (SQNR)", "mse": "recon. MSE (SQNR)", "top1": "top-1 agr. (SQNR)"}
    for r in rows:
        k = r["metric"]
        e = r["edgec"][variants[0]]
        t = r.get("tflite_int8")
        cells = [r["model"], what[k], _cell(k, r["float"]) if k != "top1" else "1.000"]
        cells += [_cell(k, r["edgec"][v]) for v in variants]
        m = r["edgec_mixed"]
        cells += [f"{_cell(k, m)} [{m['int16_tensors']} int16]"]
        cells += [_cell(k, t) if t else "n/a", f"{e['ram_bytes']:,} / {e['flash_bytes']:,}",
                  f"{m['ram_bytes']:,} / {m['flash_bytes']:,}",
                  f"{t['ram_bytes']:,} / {t['flash_bytes']:,}" if t else "n/a"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", default=",".join(MODELS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--folds", type=int, default=FOLDS)
    ap.add_argument("--ablation", action="store_true", help="every method without bias correction too")
    a = ap.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m]
    rows = [evaluate(n, methods, a.folds, a.ablation) for n in a.only.split(",") if n]
    print(json.dumps(rows, indent=2) if a.json else table(rows))


if __name__ == "__main__":
    main()
