"""Engines: the worker process (2 GiB address space, one case at a time, killed after 10 s) and the seeded
engine that drives it round-robin over the formats.  The coverage-guided engine (atheris) is
bench/fuzz_importers.py's: it runs checks.run_case in its own libFuzzer process."""
from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..cases import ROOT
from .checks import run_case, signature
from .mutators import seeded_case
from .seeds import Case

CASE_SECONDS = 10.0             # the bound for one case
CASE_MEMORY = 2 << 30           # RLIMIT_AS of the worker: 2 GiB of address space for the whole process


def _limit_child():
    resource.setrlimit(resource.RLIMIT_AS, (CASE_MEMORY, CASE_MEMORY))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()


def worker_main():
    """Reads case directories (one JSON line each) on stdin, answers one JSON line each on the real stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                        # anything the libraries print goes to stderr, not into the protocol
    import edgec.driver.build, edgec.passes.pipeline   # noqa: F401,E401 - import before the first case's clock starts
    import edgec.compiler.importers.onnx, edgec.compiler.importers.keras, edgec.compiler.importers.darknet  # noqa: F401,E401
    out.write("ready\n")
    for line in sys.stdin:
        msg = json.loads(line)
        d = Path(msg["dir"])
        case = Case(msg["fmt"], msg["seed"], {n: (d / "files" / n).read_bytes() for n in msg["files"]}, msg["entry"],
                    msg.get("weights"), msg.get("ops", []))
        res = run_case(case, d / "run", msg.get("compile", True))
        out.write(json.dumps(res) + "\n")


class Worker:
    """A child python running worker_main under the case limits; restarted after a hang or a death."""

    def __init__(self, scratch: Path, seconds: float = CASE_SECONDS):
        self.scratch, self.seconds = scratch, seconds
        self.proc = None
        self.log = scratch / "worker.log"
        self.tmp = scratch / "tmp"         # the worker's TMPDIR and HOME: must be empty after every case

    def start(self):
        self.tmp.mkdir(exist_ok=True)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(self.tmp), "HOME": str(self.tmp)}
        self.proc = subprocess.Popen([sys.executable, "-c", "from testkit.fuzzing.engines import worker_main; worker_main()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log, "wb"),
                                     text=True, env=env, preexec_fn=_limit_child, cwd=str(self.scratch))
        line = self._read(60.0)
        if line != "ready":
            raise RuntimeError(f"fuzz worker did not start: {line!r}; see {self.log}: "
                               f"{self.log.read_text(errors='replace')[-2000:]}")

    def _read(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        if not ready:
            return None
        return self.proc.stdout.readline().strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None

    def run(self, case: Case, compile_ok: bool = True) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        d = self.scratch / "case"
        shutil.rmtree(d, ignore_errors=True)
        (d / "files").mkdir(parents=True)
        for name, data in case.files.items():
            (d / "files" / name).parent.mkdir(parents=True, exist_ok=True)
            (d / "files" / name).write_bytes(data)
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps({"dir": str(d), "fmt": case.fmt, "seed": case.seed, "files": list(case.files),
                                          "entry": case.entry, "weights": case.weights, "ops": case.ops,
                                          "compile": compile_ok}) + "\n")
        self.proc.stdin.flush()
        line = self._read(self.seconds + 2.0)
        wall = time.perf_counter() - t0
        if line is None:
            self.stop()
            return {"outcome": "hang", "detail": f"no answer after {wall:.1f} s", "seconds": round(wall, 3)}
        if not line:
            code = self.proc.wait()
            self.proc = None
            tail = self.log.read_text(errors="replace")[-1500:]
            return {"outcome": "died", "detail": f"worker exited with {code}", "log": tail, "seconds": round(wall, 3)}
        res = json.loads(line)
        stray = sorted(p.name for p in self.tmp.iterdir())
        if stray:
            shutil.rmtree(self.tmp)
            self.tmp.mkdir()
            res.update(outcome="escape", detail=f"written to TMPDIR/HOME: {stray[:5]}")
        if res["seconds"] > self.seconds:
            res.update(outcome="slow", detail=f"{res['seconds']:.1f} s > {self.seconds:.0f} s [{res['stage']}]")
        return res


def run_seeded(formats, seed: int, cases_per_format: int | None = None, seconds: float | None = None,
               scratch: Path | None = None, compile_ok: bool = True, log=None) -> dict:
    """Seeded mutation fuzzing, round-robin over `formats`, until `cases_per_format` cases each or `seconds`.
    Returns {"cases": {fmt: n}, "outcomes": {...}, "findings": {signature: first result}, "seconds": s}."""
    own = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="edgec-fuzz-")) if own else scratch
    worker = Worker(scratch)
    stats = {"cases": {f: 0 for f in formats}, "outcomes": {}, "findings": {}, "seconds": 0.0, "seed": seed}
    t0 = time.perf_counter()
    try:
        i = 0
        while True:
            if cases_per_format is not None and i >= cases_per_format:
                break
            if seconds is not None and time.perf_counter() - t0 > seconds:
                break
            for fmt in formats:
                case = seeded_case(fmt, seed, i)
                res = worker.run(case, compile_ok)
                stats["cases"][fmt] += 1
                stats["outcomes"][res["outcome"]] = stats["outcomes"].get(res["outcome"], 0) + 1
                if res["outcome"] not in ("ok", "error"):
                    sig = f"{fmt}: {signature(res)}"
                    if sig not in stats["findings"]:
                        res.update(replay=f"{fmt}:{seed}:{i}", seed_model=case.seed, ops=case.ops, sha=case.sha())
                        stats["findings"][sig] = res
                        if log:
                            log(f"finding {sig}  (replay {fmt}:{seed}:{i}, {case.seed}, {case.ops})")
            i += 1
    finally:
        worker.stop()
        stats["seconds"] = round(time.perf_counter() - t0, 1)
        if own:
            shutil.rmtree(scratch, ignore_errors=True)
    return stats
