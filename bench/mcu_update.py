"""A model update on the emulated microcontroller (fleet/mcu.py, verification/harness/mcu_device.c):
real models built for cortex-m4, their image sent to the firmware in QEMU over its UART in 1 KB
frames, staged into a slot of the file-backed flash, hashed, its Ed25519 manifest verified, self-tested
(golden inputs through the interpreter), activated, loaded and self-tested in service.

Per model: image bytes vs the generated weights, the update's wall time in QEMU (without the
counting plugin) and its instructions (with it, by function), and the UART inference round trip.

usage: python bench/mcu_update.py [--models digits_cnn,kws] [--json]      (from the repo root)"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))            # the repository root, for testkit
from testkit.cases import CASES  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402
from edgec.driver.build import build  # noqa: E402
from edgec.package import device_manifest  # noqa: E402
from edgec.fleet import mcu  # noqa: E402
from edgec.compiler.targets import get_target  # noqa: E402
from edgec.verification.toolchain import harness_tool, read_profile  # noqa: E402
from edgec.verification.verify import Built  # noqa: E402


def measure(name: str, work: Path, key, elf) -> dict:
    case = CASES[name]
    np.save(work / f"{name}-calib.npy", case.calibration()[:200])
    report = build(case.path, "cortex-m4", str(work / name), str(work / f"{name}-calib.npy"))
    img = (work / name / "model.edgecimg").read_bytes()
    man = device_manifest.make(key, img, name.replace("_", "-"), "1.0.0", 1)
    flash, prof = work / f"{name}.flash", work / f"{name}.prof"
    link = mcu.Link("cortex-m4", elf, flash)
    start = time.monotonic()
    link.install(man, img)
    seconds = time.monotonic() - start
    b = Built(str(work / name))
    q = b.quantize_input(case.inputs()[:5])
    start = time.monotonic()
    got = np.stack([np.frombuffer(link.infer(x.tobytes()), np.int8) for x in q])
    per_inference = (time.monotonic() - start) / len(q)
    link.close()
    exact = bool(np.array_equal(got, b.expected(q).reshape(len(q), -1)))
    flash.unlink()
    link = mcu.Link("cortex-m4", elf, flash, extra=["-plugin", f"{harness_tool('insncount.so')},out={prof}"])
    link.install(man, img)
    link.close()
    p = read_profile(get_target("cortex-m4"), elf, prof)
    return {"model": name, "image_bytes": len(img), "weight_bytes": report["totals"]["weight_bytes"],
            "update_seconds": round(seconds, 2), "update_instructions": p.instructions,
            "top_functions": dict(list(p.per_function.items())[:6]), "inference_round_trip_s": round(per_inference, 3),
            "bit_exact": exact}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="digits_cnn,kws")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    key = ed25519.Ed25519PrivateKey.generate()
    elf = mcu.firmware("cortex-m4", mcu.public_key_raw(key.public_key()))
    with tempfile.TemporaryDirectory(prefix="edgec-mcu-bench-") as d:
        rows = [measure(m, Path(d), key, elf) for m in args.models.split(",")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['model']}: image {r['image_bytes']:,} B (weights {r['weight_bytes']:,} B); update {r['update_seconds']} s in "
              f"QEMU, {r['update_instructions']:,} instructions; inference round trip {r['inference_round_trip_s']} s; "
              f"bit-exact {r['bit_exact']}")
        print("   " + ", ".join(f"{k} {v:,}" for k, v in r["top_functions"].items()))


if __name__ == "__main__":
    main()
