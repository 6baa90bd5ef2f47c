"""Model images vs generated code, measured in one run (issue 20): for the four MLPerf Tiny models and
three tiny ones (a streaming wake-word detector, a digits MLP, a digits CNN in row bands), where a
kernel call's decoding weighs most,

* image bytes (model.edgecimg: header, schedule, weights and parameters, self-test) against the
  generated weights (report.json's weight_bytes: what weights.c puts in flash);
* the interpreter's code: .text of edgec_image.o for cortex-m4 (-O2, the target's flags), with the
  sha256 check and without it (-DEDGEC_IMAGE_NO_HASH), libsodium and the kernels not counted;
* instructions per inference on QEMU's Cortex-M4 of the image run (edgec_image_run and the kernels)
  and of the generated code of the same build, and their ratio;
* the decoding per kernel call: edgec_image_run's own instructions (the kernels' not counted) per
  call it makes, beside the generated run()'s own per call (which only passes constants);
* bit-exactness of both against the integer reference.

The issue's bound: the image at most 5% more instructions than the generated code.  It is checked
here, not in a unit test (instruction counts are a measurement): the bench exits 1 if any model
exceeds RATIO_MAX or is not bit-exact.

A build whose planner chose what the image format cannot hold is rebuilt with --optimize speed for
both sides, and the row says so.

usage: python bench/image.py [--json] [--samples N] [--models kws,wake_word,...]"""
import json
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))            # the repository root, for testkit
from testkit.cases import CASES  # noqa: E402

from edgec.driver.build import build  # noqa: E402
from edgec.codegen.image import calls_per_run, read_header  # noqa: E402
from edgec.verification.image_exec import execute_image  # noqa: E402
from edgec.compiler.targets import get_target  # noqa: E402
from edgec.verification.toolchain import BARE_CFLAGS, COMMON_CFLAGS  # noqa: E402
from edgec.verification.verify import Built  # noqa: E402

MODELS = ("kws", "vww", "resnet", "ad01", "wake_word", "digits_mlp", "digits_cnn")
RATIO_MAX = 1.05


def interpreter_text(no_hash: bool) -> tuple:
    """(.text bytes of edgec_image.o, of which edgec_image_run's) for cortex-m4."""
    t = get_target("cortex-m4")
    runtime = Path(str(resources.files("edgec.runtime_c").joinpath("edgec_image.c"))).parent
    with tempfile.TemporaryDirectory() as d:
        obj = Path(d) / "edgec_image.o"
        subprocess.run([t.cc, *COMMON_CFLAGS, *t.cflags, *BARE_CFLAGS, *(["-DEDGEC_IMAGE_NO_HASH"] if no_hash else []),
                        f"-I{runtime}", f"-I{resources.files('edgec.verification.harness')}", "-c",
                        str(runtime / "edgec_image.c"), "-o", str(obj)], check=True)
        out = subprocess.run([t.nm.replace("-nm", "-size"), "-A", str(obj)], capture_output=True, text=True, check=True)
        syms = subprocess.run([t.nm, "-S", str(obj)], capture_output=True, text=True, check=True)
    run = next(int(l.split()[1], 16) for l in syms.stdout.splitlines() if l.endswith(" edgec_image_run"))
    return sum(int(l.split()[1]) for l in out.stdout.splitlines() if l.startswith(".text")), run


def _source(name: str, n: int, work: Path):
    """(model path, calibration path or None, inputs () -> int8 given the build) of a bench model."""
    if name == "wake_word":                  # testkit/tflite_models.py's: int8 .tflite, state, uint8 output
        from testkit.tflite_models import int8_frames, wake_word_model
        (work / "ww.tflite").write_bytes(wake_word_model(5))
        return str(work / "ww.tflite"), None, lambda b: int8_frames(n, b.input_shape, 8)
    case = CASES[name]
    np.save(work / f"{name}_calib.npy", case.calibration())
    return case.path, str(work / f"{name}_calib.npy"), lambda b: b.quantize_input(case.inputs()[:n])


def row(name: str, n: int, work: Path) -> dict:
    path, calib, inputs = _source(name, n, work)
    out = work / name
    rep = build(path, "cortex-m4", str(out), calib)
    optimize = "ram"
    if "refused" in rep["image"]:
        optimize = "speed"
        rep = build(path, "cortex-m4", str(out), calib, optimize="speed")
    b = Built(str(out))
    img = (out / "model.edgecimg").read_bytes()
    h = read_header(img)
    q = inputs(b)
    want = b.expected(q).reshape(n, -1)
    flip_in, flip_out = np.int8(-128 if h["flags"] & 1 else 0), np.int8(-128 if h["flags"] & 2 else 0)
    raw, ex = execute_image("cortex-m4", img, (q ^ flip_in).tobytes(), h["input_bytes"], h["output_bytes"],
                            h["arena_bytes"])
    gen, gex = b.execute("cortex-m4", q)
    img_insn, gen_insn = ex.instructions // n, gex.instructions // n
    calls = calls_per_run(img)
    gen_run = gex.per_function.get(f"edgec_{b.report['model']}_run", 0) // n
    return {"model": name, "optimize": optimize, "image_bytes": len(img), "weight_bytes": rep["totals"]["weight_bytes"],
            "image_data_bytes": h["data"][1], "schedule_bytes": h["schedule"][1], "calls": calls,
            "selftest_bytes": h["selftests"] * (h["input_bytes"] + 32),
            "image_insns": img_insn, "generated_insns": gen_insn, "ratio": round(img_insn / gen_insn, 5),
            "decode_per_call": round(ex.per_function.get("edgec_image_run", 0) / n / calls, 1),
            "generated_run_per_call": round(gen_run / calls, 1),
            "bit_exact_image": bool(((np.frombuffer(raw, np.int8).reshape(n, -1) ^ flip_out) == want).all()),
            "bit_exact_generated": bool((gen.reshape(n, -1) == want).all()), "samples": n}


def main(argv):
    n = int(argv[argv.index("--samples") + 1]) if "--samples" in argv else 2
    models = argv[argv.index("--models") + 1].split(",") if "--models" in argv else MODELS
    (text, run), (text_no_hash, _) = interpreter_text(False), interpreter_text(True)
    code = {"interpreter_text_bytes": text, "interpreter_text_bytes_no_hash": text_no_hash, "run_text_bytes": run}
    with tempfile.TemporaryDirectory(prefix="edgec-bench-image-") as d:
        rows = [row(m, n, Path(d)) for m in models]
    bad = [r["model"] for r in rows
           if r["ratio"] > RATIO_MAX or not (r["bit_exact_image"] and r["bit_exact_generated"])]
    if "--json" in argv:
        print(json.dumps({"models": rows, **code, "ratio_max": RATIO_MAX, "over": bad}, indent=2))
    else:
        print(f"interpreter (edgec_image.o .text, cortex-m4 -O2): {code['interpreter_text_bytes']} B "
              f"({code['interpreter_text_bytes_no_hash']} B without the sha256 check; edgec_image_run {run} B, the rest "
              "mostly check(); libsodium and kernels not counted)")
        print(f"{'model':<10} {'opt':<6} {'image B':>9} {'weights B':>10} {'+%':>6} {'calls':>5} "
              f"{'image insn/inf':>15} {'generated':>12} {'ratio':>8} {'decode/call':>11} {'gen/call':>8}  bit-exact")
        for r in rows:
            print(f"{r['model']:<10} {r['optimize']:<6} {r['image_bytes']:>9,} {r['weight_bytes']:>10,} "
                  f"{100 * (r['image_bytes'] / r['weight_bytes'] - 1):>5.1f}% {r['calls']:>5} {r['image_insns']:>15,} "
                  f"{r['generated_insns']:>12,} {r['ratio']:>8.4f} {r['decode_per_call']:>11} "
                  f"{r['generated_run_per_call']:>8}  {r['bit_exact_image'] and r['bit_exact_generated']}")
        if bad:
            print(f"over {RATIO_MAX}x or not bit-exact: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):     # a bench takes minutes: asking never starts it
        sys.exit(print(__doc__))
    sys.exit(main(sys.argv[1:]))
