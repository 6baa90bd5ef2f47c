"""Peak RAM: edgec against TensorFlow Lite Micro and the layer-wise bound, measured in one run.

For the four MLPerf Tiny models: edgec's arena (and arena + the input/output buffers + the stack
estimate from -fstack-usage on cortex-m4, since TFLM's arena holds input and output too; TFLM's own
stack is not counted), the layer-wise lower bound (the largest input+output pair of any one layer,
which is what TFLM / X-CUBE-AI-style per-layer execution cannot go below), and TFLM's smallest
working arena for the same model's int8 .tflite (tflite-micro PyPI package on this host, found by
bisection).  Needs ../shared/models (or EDGEC_SHARED_MODELS) for the .tflite files and
`pip install tflite-micro`.

usage: python bench/memory.py [--json]"""
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))            # the repository root, for testkit
from testkit.cases import CASES  # noqa: E402

from edgec.driver.build import build  # noqa: E402
from edgec.verification.verify import Built, verify  # noqa: E402

SHARED = Path(os.environ.get("EDGEC_SHARED_MODELS", HERE.parent.parent / "shared" / "models"))
TFLITE = {"kws": "kws_ref_model.tflite", "vww": "vww_96_int8.tflite", "resnet": "pretrainedResnet_quant.tflite",
          "ad01": "ad01_int8.tflite"}


def tflm_arena(path: Path) -> int:
    from tflite_micro.python.tflite_micro import runtime

    def runs(size):
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)                               # TFLM prints every failed allocation
        try:
            it = runtime.Interpreter.from_file(str(path), arena_size=size)
            d = it.get_input_details(0)
            it.set_input(np.zeros(d["shape"], d["dtype"]), 0)
            it.invoke()
            return True
        except Exception:
            return False
        finally:
            os.dup2(saved, 2)
            os.close(devnull)
            os.close(saved)
    lo, hi = 256, 1 << 22
    while hi - lo > 16:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if runs(mid) else (mid, hi)
    return hi


def layer_wise_bound(graph) -> int:
    best = 0
    for n in graph.nodes:
        if n.op == "Reshape":
            continue
        ins = sum(graph.tensors[t].nbytes for t in n.inputs if not graph.tensors[t].is_const)
        best = max(best, ins + graph.tensors[n.outputs[0]].nbytes)
    return best


def main():
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, tfl in TFLITE.items():
            case = CASES[name]
            np.save(Path(tmp) / f"{name}.npy", case.calibration())
            rep = build(case.path, "cortex-m4", str(Path(tmp) / name), str(Path(tmp) / f"{name}.npy"))
            g = Built(str(Path(tmp) / name)).int_graph
            t = rep["totals"]
            np.save(Path(tmp) / f"{name}_one.npy", case.inputs()[:1])
            stack = verify(str(Path(tmp) / name), "cortex-m4", str(Path(tmp) / f"{name}_one.npy"))["stack_bytes_bound"]
            rows[name] = {"edgec_arena": t["arena_bytes"], "stack": stack,
                          "edgec_ram": t["arena_bytes"] + t["io_bytes"] + stack,
                          "layer_wise_bound": layer_wise_bound(g), "tflm_arena": tflm_arena(SHARED / "tflite" / tfl),
                          "tiled_stages": len(g.tiling)}
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=2))
        return
    print("| model | edgec arena B | stack B (M4) | edgec arena + I/O + stack B | layer-wise bound B | TFLM arena B (host) | edgec RAM / TFLM | arena / bound | tiled stages |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['edgec_arena']:,} | {r['stack']} | {r['edgec_ram']:,} | {r['layer_wise_bound']:,} | {r['tflm_arena']:,} | "
              f"{r['edgec_ram'] / r['tflm_arena']:.2f} | {r['edgec_arena'] / r['layer_wise_bound']:.2f} | {r['tiled_stages']} |")


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):     # a bench takes minutes: asking never starts it
        sys.exit(print(__doc__))
    main()
