"""Model images vs generated code, measured in one run (issue 20): for the four MLPerf Tiny models,

* image bytes (model.edgecimg: header, schedule, weights and parameters, self-test) against the
  generated weights (report.json's weight_bytes: what weights.c puts in flash);
* the interpreter's code: .text of edgec_image.o for cortex-m4 (-O2, the target's flags), with the
  sha256 check and without it (-DEDGEC_IMAGE_NO_HASH), libsodium and the kernels not counted;
* instructions per inference on QEMU's Cortex-M4 of the image run (edgec_image_run and the kernels)
  and of the generated code of the same build, and their ratio (the issue's target: <= 1.05);
* bit-exactness of both against the integer reference.

A build whose planner chose patch-based stages (which the image format cannot hold yet) is rebuilt
with --optimize speed for both sides, and the row says so.

usage: python bench/image.py [--json] [--samples N]"""
import json
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import CASES  # noqa: E402

from edgec.build import build  # noqa: E402
from edgec.codegen.image import read_header  # noqa: E402
from edgec.image_exec import execute_image  # noqa: E402
from edgec.targets import get_target  # noqa: E402
from edgec.toolchain import BARE_CFLAGS, COMMON_CFLAGS  # noqa: E402
from edgec.verify import Built  # noqa: E402

MODELS = ("kws", "vww", "resnet", "ad01")


def interpreter_text(no_hash: bool) -> int:
    t = get_target("cortex-m4")
    runtime = Path(str(resources.files("edgec.runtime_c").joinpath("edgec_image.c"))).parent
    with tempfile.TemporaryDirectory() as d:
        obj = Path(d) / "edgec_image.o"
        subprocess.run([t.cc, *COMMON_CFLAGS, *t.cflags, *BARE_CFLAGS, *(["-DEDGEC_IMAGE_NO_HASH"] if no_hash else []),
                        f"-I{runtime}", f"-I{resources.files('edgec.harness')}", "-c",
                        str(runtime / "edgec_image.c"), "-o", str(obj)], check=True)
        out = subprocess.run([t.nm.replace("-nm", "-size"), "-A", str(obj)], capture_output=True, text=True, check=True)
    return sum(int(l.split()[1]) for l in out.stdout.splitlines() if l.startswith(".text"))


def row(name: str, n: int, work: Path) -> dict:
    case = CASES[name]
    np.save(work / f"{name}_calib.npy", case.calibration())
    xs = case.inputs()[:n]
    out = work / name
    rep = build(case.path, "cortex-m4", str(out), str(work / f"{name}_calib.npy"))
    optimize = "ram"
    if "refused" in rep["image"]:
        optimize = "speed"
        rep = build(case.path, "cortex-m4", str(out), str(work / f"{name}_calib.npy"), optimize="speed")
    b = Built(str(out))
    img = (out / "model.edgecimg").read_bytes()
    h = read_header(img)
    q = b.quantize_input(xs)
    want = b.expected(q).reshape(n, -1)
    raw, ex = execute_image("cortex-m4", img, q.tobytes(), h["input_bytes"], h["output_bytes"], h["arena_bytes"])
    gen, gex = b.execute("cortex-m4", q)
    img_insn, gen_insn = ex.instructions // n, gex.instructions // n
    return {"model": name, "optimize": optimize, "image_bytes": len(img), "weight_bytes": rep["totals"]["weight_bytes"],
            "image_data_bytes": h["data"][1], "schedule_bytes": h["schedule"][1], "calls": h["calls"],
            "selftest_bytes": h["selftests"] * (h["input_bytes"] + 32),
            "image_insns": img_insn, "generated_insns": gen_insn, "ratio": round(img_insn / gen_insn, 5),
            "bit_exact_image": bool((np.frombuffer(raw, np.int8).reshape(n, -1) == want).all()),
            "bit_exact_generated": bool((gen.reshape(n, -1) == want).all()), "samples": n}


def main(argv):
    n = int(argv[argv.index("--samples") + 1]) if "--samples" in argv else 2
    code = {"interpreter_text_bytes": interpreter_text(False), "interpreter_text_bytes_no_hash": interpreter_text(True)}
    with tempfile.TemporaryDirectory(prefix="edgec-bench-image-") as d:
        rows = [row(m, n, Path(d)) for m in MODELS]
    if "--json" in argv:
        print(json.dumps({"models": rows, **code}, indent=2))
        return
    print(f"interpreter (edgec_image.o .text, cortex-m4 -O2): {code['interpreter_text_bytes']} B "
          f"({code['interpreter_text_bytes_no_hash']} B without the sha256 check; libsodium and kernels not counted)")
    print(f"{'model':<8} {'opt':<6} {'image B':>9} {'weights B':>10} {'+%':>6} {'calls':>5} "
          f"{'image insn/inf':>15} {'generated':>12} {'ratio':>8}  bit-exact")
    for r in rows:
        print(f"{r['model']:<8} {r['optimize']:<6} {r['image_bytes']:>9,} {r['weight_bytes']:>10,} "
              f"{100 * (r['image_bytes'] / r['weight_bytes'] - 1):>5.1f}% {r['calls']:>5} {r['image_insns']:>15,} "
              f"{r['generated_insns']:>12,} {r['ratio']:>8.4f}  {r['bit_exact_image'] and r['bit_exact_generated']}")


if __name__ == "__main__":
    main(sys.argv[1:])
