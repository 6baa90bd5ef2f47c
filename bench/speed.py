"""Speed of the generated code, in one run: per model, instructions per inference and per MAC on
cortex-m4 and cortex-m0 (QEMU plugin; each core runs its own build: a cortex-m4 build's wide weights,
passes/plan_wide.py, are for the M4), the estimated Cortex-M4 cycles per MAC (the TRM cost model of
verification/cycles.py), exact AVR cycles (simavr) where the model fits an ATmega328P, and the speed-up
of integer-only code over a soft-float rendering of the same model (bench/float_c.py) built for the
same core.  TFLite Micro + CMSIS-NN's instruction counts on the same emulator and counter come from
../shared/PEERS.md.  Each int8 build is checked bit-exact on the samples it runs.  "M4 code without
weights" is the flash the model takes in the Cortex-M4 image linked with --gc-sections (kernels, run
function, layer parameters, libgcc helpers; the harness left out) minus its weight tensors.  Last, per
model, the five layers of the most estimated Cortex-M4 cycles (where the time goes).

usage: python bench/speed.py [--only kws,mnist,...] [--samples N] [--json]   (from the repo root)"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))            # the repository root, for testkit
sys.path.insert(0, str(HERE))
from testkit.cases import CASES  # noqa: E402

import float_c  # noqa: E402
from edgec.driver.build import build  # noqa: E402
from edgec.compiler.errors import EdgecError  # noqa: E402
from edgec.compiler.targets import get_target, with_budget  # noqa: E402
from edgec.verification.verify import Built, verify  # noqa: E402

#: TFLM + CMSIS-NN, instructions per inference on qemu mps2-an386 (PEERS.md, the same plugin).
TFLM_M4 = {"kws": 7.58e6, "vww": 23.8e6, "resnet": 29.8e6, "ad01": 0.583e6}
ORDER = ["digits_mlp", "mnist", "digits_cnn", "ad01", "kws", "vww", "resnet"]
#: issue 22's goals for the small cores: ATmega328P cycles per MAC, Cortex-M0 instructions per MAC
SMALL_GOALS = {"atmega328p": ("cycles", 30.0, "AVR cycles/MAC"), "cortex-m0": ("instructions", 8.0, "M0 instructions/MAC")}
#: the soft-float rendering keeps float activations and weights (4x the bytes); on the M4 board
#: (mps2-an386: 4 MB of code memory and of data memory) it gets the board's memory
FLOAT_BUDGET = {"cortex-m4": {"ram": "4M", "flash": "4M"}}


def _soft_float(target_name: str, built: Built, xs: np.ndarray):
    """Cycles (or instructions) per inference of the float rendering, or the reason it cannot run."""
    t = get_target(target_name)
    if target_name in FLOAT_BUDGET:
        t = with_budget(t, **FLOAT_BUDGET[target_name])
    try:
        _, ex = float_c.run(t, built, xs.reshape(len(xs), -1))
    except EdgecError as e:
        return None, str(e).split(":")[0][:40]
    return (ex.cycles or ex.instructions) // len(xs), None


def measure(name: str, tmp: Path, samples: int) -> dict:
    case = CASES[name]
    d = tmp / name
    d.mkdir()
    np.save(d / "calib.npy", case.calibration())
    np.save(d / "inputs.npy", case.inputs()[:samples])
    rep = build(case.path, "cortex-m4", str(d / "out"), str(d / "calib.npy"))
    macs = rep["totals"]["macs"]
    built = Built(str(d / "out"))
    xs = built.samples(str(d / "inputs.npy"))
    row = {"model": case.model, "macs": macs, "arena": rep["totals"]["arena_bytes"], "weight_bytes": rep["totals"]["weight_bytes"]}
    fast = build(case.path, "cortex-m4", str(d / "fast"), str(d / "calib.npy"), optimize="speed")
    r = verify(str(d / "fast"), "cortex-m4", str(d / "inputs.npy"))
    row["speed_build"] = {"arena": fast["totals"]["arena_bytes"], "instructions": r["instructions_per_inference"],
                          "cycles": r["cycles_per_inference"], "bit_exact": r["bit_exact"]}
    for target in ("cortex-m4", "cortex-m0", "atmega328p"):
        out = d / "out"
        try:
            if target != "cortex-m4":       # each core its own build (an M4 build carries M4-only wide weights)
                out = d / target
                build(case.path, target, str(out), str(d / "calib.npy"))
            r = verify(str(out), target, str(d / "inputs.npy"))
        except EdgecError as e:
            row[target] = {"fits": False, "why": str(e)[:80]}
            continue
        if not r["bit_exact"]:
            raise SystemExit(f"{name} on {target}: NOT bit-exact")
        cost = r.get("cycles_per_inference") or r["instructions_per_inference"]
        flt, why = _soft_float(target, built, xs)
        weights = rep["totals"]["weight_bytes"] if target == "cortex-m4" else Built(str(out)).report["totals"]["weight_bytes"]
        if target == "cortex-m4":        # where the time goes: the five layers of the most estimated cycles
            row["top_layers"] = [{k: lay.get(k) for k in ("name", "op", "macs", "instructions", "cycles")}
                                 for lay in sorted(r.get("layers", []), key=lambda lay: -(lay.get("cycles") or 0))[:5]]
        row[target] = {"fits": True, "instructions": r["instructions_per_inference"], "cycles": r.get("cycles_per_inference"),
                       "code_bytes": r["code_and_weights_bytes"] - weights,
                       "cycles_kind": r.get("cycles_kind"), "soft_float_cycles": flt,
                       "speedup_vs_soft_float": round(flt / cost, 2) if flt else None, "soft_float_note": why}
    return row


def _fmt(v, kind="int"):
    if v is None:
        return "-"
    return f"{v:,.0f}" if kind == "int" else f"{v:.2f}"


def table(rows: dict) -> str:
    head = ("| model | MACs | M4 instr | M4 instr/MAC | M4 est. cycles/MAC | vs TFLM+CMSIS-NN (instr) "
            "| `--optimize speed`: instr, est. cycles/MAC, vs TFLM, arena | M4 × soft-float "
            "| M0 instr/MAC | M0 × soft-float | AVR cycles | AVR cycles/MAC | AVR × soft-float | M4 code without weights |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rows.items():
        m4, m0, avr, macs = r["cortex-m4"], r["cortex-m0"], r["atmega328p"], r["macs"]

        def per_mac(t, key):
            return _fmt(t[key] / macs, "f") if t.get("fits") and t.get(key) else "-"

        def speedup(t):
            if not t.get("fits"):
                return "does not fit"
            return f"{t['speedup_vs_soft_float']:.1f}×" if t.get("speedup_vs_soft_float") else f"float: {t.get('soft_float_note')}"
        peer = f"{m4['instructions'] / TFLM_M4[name]:.2f}" if name in TFLM_M4 and m4.get("fits") else "-"
        sb = r["speed_build"]
        vs_tflm = f"{sb['instructions'] / TFLM_M4[name]:.2f}" if name in TFLM_M4 else "-"
        fast = f"{sb['instructions']:,}, {sb['cycles'] / macs:.2f}, {vs_tflm}, {sb['arena']:,} B (vs {r['arena']:,})"
        lines.append(f"| {r['model']} | {macs:,} | {_fmt(m4.get('instructions'))} | {per_mac(m4, 'instructions')} | "
                     f"{per_mac(m4, 'cycles')} | {peer} | {fast} | {speedup(m4)} | {per_mac(m0, 'instructions')} | {speedup(m0)} | "
                     f"{_fmt(avr.get('cycles')) if avr.get('fits') else 'does not fit'} | {per_mac(avr, 'cycles')} | {speedup(avr)} | "
                     f"{_fmt(m4.get('code_bytes'))} B |")
    return "\n".join(lines)


def top_layers(rows: dict) -> str:
    """Per model, the five layers of the most estimated Cortex-M4 cycles (default build, same run)."""
    lines = ["| model | layer | op | MACs | M4 instructions | est. cycles | cycles/MAC | share of the model |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows.values():
        total = r["cortex-m4"].get("cycles") or 0
        for lay in r.get("top_layers", []):
            c, macs = lay.get("cycles") or 0, lay.get("macs") or 0
            lines.append(f"| {r['model']} | {lay['name']} | {lay['op']} | {macs:,} | {lay.get('instructions') or 0:,} | {c:,} | "
                         f"{c / macs if macs else 0:.2f} | {100 * c / total if total else 0:.0f}% |")
    return "\n".join(lines)


def small_cores(rows: dict) -> str:
    """Per model that fits, the small cores' cost per MAC against the goal (same run as the table)."""
    lines = []
    for target, (key, goal, label) in SMALL_GOALS.items():
        cells = []
        for name, r in rows.items():
            t = r[target]
            if t.get("fits") and t.get(key):
                v = t[key] / r["macs"]
                cells.append(f"{name} {v:.2f} ({'met' if v <= goal else 'NOT met'})")
        lines.append(f"{label} (goal <= {goal:g}): " + ("; ".join(cells) if cells else "no model fits"))
    return "\n".join(lines)


def main():
    if "-h" in sys.argv or "--help" in sys.argv:        # the bench takes minutes: never start it by asking
        print(__doc__)
        return
    names = ORDER
    if "--only" in sys.argv:
        names = sys.argv[sys.argv.index("--only") + 1].split(",")
    samples = int(sys.argv[sys.argv.index("--samples") + 1]) if "--samples" in sys.argv else 2
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"measuring {name} ...", file=sys.stderr)
            rows[name] = measure(name, Path(tmp), samples)
    print(json.dumps(rows, indent=2) if "--json" in sys.argv else
          table(rows) + "\n\n" + small_cores(rows) + "\n\n" + top_layers(rows))


if __name__ == "__main__":
    main()
