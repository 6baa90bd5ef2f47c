"""The device agent's speed, measured through its real gRPC socket: KWS DS-CNN and ResNet-8
(cortex-m4 builds, packaged and signed) loaded into one `edgec agent run` subprocess, captures
to disk (fsync'ed before each acknowledgement, as in the field).

- Predict latency, one client, sequential calls: p50 / p95 per model (client-side, round trip),
  and the library call alone (the agent's own measurement, from the heartbeat metrics' source);
- CaptureData per second, one client, sequential (each acknowledged only once on disk);
- Predict per second with 8 concurrent clients over both models.

usage: python bench/agent.py [--calls N] [--json]      (from the repo root)"""
from __future__ import annotations

import json
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))            # the repository root, for testkit
from testkit.cases import CASES  # noqa: E402

from edgec.agent.client import AgentClient  # noqa: E402
from edgec.driver.build import build  # noqa: E402
from edgec.package import archive as package, signing  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return 1e3 * xs[min(len(xs) - 1, int(p * len(xs)))]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    calls = int(argv[argv.index("--calls") + 1]) if "--calls" in argv else 200
    out = {"calls": calls}
    with tempfile.TemporaryDirectory(prefix="edgec-bench-agent-") as tmp:
        t = Path(tmp)
        signing.generate(str(t / "keys"))
        xs = {}
        for name in ("kws", "resnet"):
            case = CASES[name]
            np.save(t / f"{name}.npy", case.calibration()[:20])
            build(case.path, "cortex-m4", str(t / name), str(t / f"{name}.npy"), name)
            package.create(str(t / name), name, "1.0.0", str(t / "keys/signing.pem"), str(t / f"{name}.tar.gz"))
            xs[name] = case.inputs()[:8]
        dev = t / "dev"
        (dev / "signing").mkdir(parents=True)
        (dev / "signing/package-signing.pub").write_bytes((t / "keys/signing.pub").read_bytes())
        (dev / "agent.json").write_text(json.dumps({
            "sagemaker_edge_core_device_name": "bench", "sagemaker_edge_core_device_fleet_name": "bench",
            "sagemaker_edge_core_root_certs_path": "signing", "sagemaker_edge_core_capture_data_destination": "Disk",
            "sagemaker_edge_core_capture_data_buffer_size": 100000, "sagemaker_edge_core_capture_data_batch_size": 50,
            "sagemaker_edge_core_capture_data_push_period_seconds": 1}))
        addr = f"unix://{t}/agent.sock"
        proc = subprocess.Popen([sys.executable, "-m", "edgec.cli.main", "agent", "run", "-c", str(dev / "agent.json"), "-a", addr, "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            select.select([proc.stdout], [], [], 60)
            proc.stdout.readline()
            with AgentClient(addr) as c:
                c.wait_ready(10)
                for name in xs:
                    c.load(str(t / f"{name}.tar.gz"), name)
                for name, x in xs.items():
                    shape = c.describe(name)["inputs"][0]["shape"]
                    lat = []
                    for k in range(calls):
                        t0 = time.perf_counter()
                        c.predict(name, x[k % len(x)].reshape(shape))
                        lat.append(time.perf_counter() - t0)
                    out[f"{name}_predict_ms"] = {"p50": round(pct(lat, 0.5), 3), "p95": round(pct(lat, 0.95), 3)}
                shape = c.describe("kws")["inputs"][0]["shape"]
                t_in = c.tensor(xs["kws"][0].reshape(shape))
                t_out = c.predict_tensors("kws", t_in)
                t0 = time.perf_counter()
                for _ in range(calls):
                    c.capture("kws", [t_in], [t_out])
                out["captures_per_s"] = round(calls / (time.perf_counter() - t0), 1)
            lat, done = [], []

            def hammer(i):
                name = ("kws", "resnet")[i % 2]
                with AgentClient(addr) as c:
                    shape = c.describe(name)["inputs"][0]["shape"]
                    for k in range(calls // 4):
                        c.predict(name, xs[name][k % 8].reshape(shape))
                        done.append(1)
            t0 = time.perf_counter()
            threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            out["predict_per_s_8_clients"] = round(len(done) / (time.perf_counter() - t0), 1)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    if "--json" in argv:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:<26} {v}")
    return 0


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):     # a bench takes minutes: asking never starts it
        sys.exit(print(__doc__))
    sys.exit(main())
