"""Import + build time of big graphs: is every stage linear in the number of nodes?

A synthetic ONNX model of N nodes (testkit/synthetic.py `chain_model`): blocks of two 3x3 convolutions of
the same 8x8x8 feature map, added and rectified (Conv, Conv, Add, Relu: 4 ONNX nodes), chained N/4
times.  PyTorch exports of MobileNetV3 / EfficientNet-lite have 1-3 k nodes.

Each size is imported (edgec.driver.build.import_model) and built for cortex-m4 with a 64 MB flash budget
(1,500 convs need 2.5 MB): the canonical passes, then what `edgec build` does after them (calibration
on 4 samples, quantization, schedule, tiling, memory plan, codegen, writing out/), timed by stage.
A warm-up build of 40 nodes runs first, so one-time costs (module imports) are not counted.  The baseline is the smallest size of the same run:
the ratio of time per node at N to time per node at the baseline is ~1 for a linear stage and
grows with N for a quadratic one.

usage: python bench/big_graph.py [--nodes 300,1000,3000] [--json]"""
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
from testkit.synthetic import chain_model  # noqa: E402


def measure(nodes: int, workdir: Path) -> dict:
    """Seconds per stage for one size (the same stages `edgec build` runs)."""
    import onnx
    from edgec.driver import build as b
    from edgec.passes.pipeline import canonicalize
    from edgec.compiler.targets import get_target, with_budget
    model = chain_model(nodes)
    path = workdir / f"chain{nodes}.onnx"
    onnx.save(model, path)
    samples = np.random.default_rng(1).uniform(0, 1, (4, 1, 8, 8, 8)).astype(np.float32)
    t = {}
    t0 = time.perf_counter()
    g = b.import_model(str(path))
    t["import"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = canonicalize(g)
    t["canonicalize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    b.compile_graph(g, samples, with_budget(get_target("cortex-m4"), flash="64M"), str(workdir / f"out{nodes}"), "chain",
                    str(path), log=lambda m: None)
    t["compile"] = time.perf_counter() - t0      # calibrate, quantize, plan, codegen, write
    t["total"] = sum(t.values())
    return {"nodes": len(model.graph.node), "ir_nodes": len(g.nodes), "seconds": {k: round(v, 3) for k, v in t.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", default="300,1000,3000", help="comma-separated sizes; the first is the baseline")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.nodes.split(",")]
    with tempfile.TemporaryDirectory(prefix="edgec-big-") as tmp:
        measure(40, Path(tmp))                   # warm-up: imports and first-use caches are not per node
        rows = [measure(n, Path(tmp)) for n in sizes]
    base = rows[0]
    for r in rows:
        r["per_node_vs_baseline"] = {k: round((v / r["nodes"]) / (base["seconds"][k] / base["nodes"]), 2)
                                     if base["seconds"][k] > 0 else None for k, v in r["seconds"].items()}
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    stages = list(base["seconds"])
    print(f"{'ONNX nodes':>10} {'IR nodes':>9} " + " ".join(f"{s + ' s':>14}" for s in stages)
          + f"   time/node vs {base['nodes']} nodes (1.0 = linear)")
    for r in rows:
        print(f"{r['nodes']:>10} {r['ir_nodes']:>9} " + " ".join(f"{r['seconds'][s]:>14.3f}" for s in stages)
              + "   " + ", ".join(f"{s} {r['per_node_vs_baseline'][s]}" for s in stages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
