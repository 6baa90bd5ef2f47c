"""Build, verify (host + cortex-m4) and measure the seven real models of the test suite; print a
markdown table with the peer numbers of TFLite Micro + CMSIS-NN measured on this emulator
(../shared/PEERS.md, same QEMU instruction counter) as ratios.

usage: python bench/models_table.py [--json] [--only kws,vww,...]   (from the repo root; a few minutes)"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # the repository root, for testkit
from testkit.cases import CASES, KERAS_CASES, DATA, Case, data, extra  # noqa: E402

from edgec.driver.build import build  # noqa: E402
from edgec.verification.verify import verify, run  # noqa: E402

# TFLM + CMSIS-NN on qemu mps2-an386 (instructions/inference, arena bytes), from PEERS.md
PEERS = {"kws": (7.58e6, 22820), "vww": (23.8e6, 100708), "resnet": (29.8e6, 54996), "ad01": (0.583e6, 2580),
         "vww_h5": (23.8e6, 100708), "vww_keras": (23.8e6, 100708), "resnet_h5": (29.8e6, 54996),
         "resnet_keras": (29.8e6, 54996), "ad01_h5": (0.583e6, 2580)}


def _dog():
    return np.load(DATA / "yolo-fastest-1.1_dog320_input_NCHW.npy").transpose(0, 2, 3, 1)


YOLO = Case("yolo-fastest-1.1.cfg", lambda: np.concatenate([_dog(), extra("yolo_crops") / np.float32(255)]).astype(np.float32),
            _dog)
BUDGETS = {"yolo": {"ram": "1M", "flash": "2M"}}


def main():
    rows = []
    cases = {**CASES, **KERAS_CASES, "yolo": YOLO}
    if "--only" in sys.argv:
        cases = {k: cases[k] for k in sys.argv[sys.argv.index("--only") + 1].split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in cases.items():
            d = Path(tmp) / name
            d.mkdir()
            np.save(d / "calib.npy", case.calibration())
            np.save(d / "inputs.npy", case.inputs())
            rep = build(case.path, "cortex-m4", str(d / "out"), str(d / "calib.npy"), **BUDGETS.get(name, {}))
            host = verify(str(d / "out"), "host", str(d / "inputs.npy"))
            m4 = verify(str(d / "out"), "cortex-m4", str(d / "inputs.npy"))
            row = {"model": case.model, "layers": len(rep["layers"]), "ops": sorted({l["op"] for l in rep["layers"]}), "macs": rep["totals"]["macs"],
                   "arena": rep["totals"]["arena_bytes"], "weights": rep["totals"]["weight_bytes"],
                   "flash_m4": m4["code_and_weights_bytes"], "insns": m4["instructions_per_inference"],
                   "samples": m4["samples"], "bit_exact": host["bit_exact"] and m4["bit_exact"],
                   "agreement": m4["float_agreement"]}
            if name == "digits_cnn":
                np.save(d / "test.npy", data("digits_X_test_float_0to1_x64.npy"))
                y, _ = run(str(d / "out"), "host", str(d / "test.npy"))
                row["accuracy"] = float((y.reshape(len(y), -1).argmax(1) == data("digits_y_test.npy")).mean())
            rows.append((name, row))
    if "--json" in sys.argv:
        print(json.dumps(dict(rows), indent=2))
        return
    print("| model | layers | MACs | arena B (TFLM) | flash B (weights / +code) | M4 instr/inference (TFLM+CMSIS-NN) | samples | bit-exact | vs float |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        peer = PEERS.get(name)
        arena = f"{r['arena']:,}" + (f" ({peer[1]:,}, x{r['arena'] / peer[1]:.2f})" if peer else "")
        insns = f"{r['insns'] / 1e6:.2f} M" + (f" ({peer[0] / 1e6:.2f} M, x{r['insns'] / peer[0]:.2f})" if peer else "")
        a = r["agreement"]
        agree = (f"top-1 {a['top1_agreement']:.3f}, " if "top1_agreement" in a else "") + f"SQNR {a['sqnr_db']} dB"
        if "accuracy" in r:
            agree += f", accuracy {r['accuracy']:.3f}"
        print(f"| {r['model']} | {r['layers']} | {r['macs']:,} | {arena} | {r['weights']:,} / {r['flash_m4']:,} | "
              f"{insns} | {r['samples']} | {'yes' if r['bit_exact'] else 'NO'} | {agree} |")


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):     # a bench takes minutes: asking never starts it
        sys.exit(print(__doc__))
    main()
