"""Measure the zoo's Keras 3 builds for README's zoo table: MnasNet 0.5 and the EfficientNet-lite-like
network written with Keras 3 layers (tests/zoo_mobile.py keras_models, distilled as the tests do), each
saved as .keras and exported by Keras 3 to ONNX; built for cortex-m7 with --ram 512K --flash 2M on 32
photo crops (seed 11); float agreement on 32 held-out crops (seed 12) on the host; instructions per
inference and code + weights in QEMU's Cortex-M7 on 2 of them (bit-exact there too).

usage: python bench/zoo_table.py [--json] [--only mnasnet_05,efficientnet_lite]   (from the repo root; minutes)"""
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))                     # testkit
sys.path.insert(0, str(ROOT / "tests"))           # the zoo's definitions
from zoo_mobile import images, keras_make, keras_models  # noqa: E402

from edgec.build import build  # noqa: E402
from edgec.verify import verify  # noqa: E402

TITLES = {"mnasnet_05": "MnasNet 0.5, 10 classes (distilled)",
          "efficientnet_lite": "EfficientNet-lite-like, 10 classes (distilled)"}


def main():
    names = sorted(keras_models())
    if "--only" in sys.argv:
        names = sys.argv[sys.argv.index("--only") + 1].split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            d = Path(tmp) / name
            d.mkdir()
            model, size = keras_make(name)
            np.save(d / "cal.npy", images(size, 32, seed=11).transpose(0, 2, 3, 1))
            test = images(size, 32, seed=12).transpose(0, 2, 3, 1)
            np.save(d / "test.npy", test)
            np.save(d / "two.npy", test[:2])
            model.save(d / "m.keras")
            model.export(str(d / "m.onnx"), format="onnx", verbose=False)
            for fmt in ("keras", "onnx"):
                rep = build(str(d / f"m.{fmt}"), "cortex-m7", str(d / fmt), str(d / "cal.npy"), ram="512K", flash="2M")
                host = verify(str(d / fmt), "host", str(d / "test.npy"))
                m7 = verify(str(d / fmt), "cortex-m7", str(d / "two.npy"))
                t = rep["totals"]
                rows.append({"model": name, "file": fmt, "input": f"3x{size}x{size}", "macs": t["macs"],
                             "arena": t["arena_bytes"], "weights": t["weight_bytes"],
                             "code_and_weights": m7["code_and_weights_bytes"],
                             "instructions": m7["instructions_per_inference"],
                             "bit_exact_host": host["bit_exact"], "bit_exact_m7": m7["bit_exact"],
                             "top1": host["float_agreement"]["top1_agreement"],
                             "sqnr_db": float(host["float_agreement"]["sqnr_db"])})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        src = "Keras 3 `.keras`" if r["file"] == "keras" else "Keras 3 ONNX export"
        print(f"| {TITLES[r['model']]}, {src} | {r['input'].replace('x', '×')} | {r['macs']:,} | {r['arena']:,} B | "
              f"{r['weights']:,} B | {r['code_and_weights']:,} B | {r['instructions']:,} | "
              f"top-1 {r['top1']:.2g}, {r['sqnr_db']:.1f} dB |")


if __name__ == "__main__":
    main()
