"""Checks: one case imported (+ canonicalized + compiled when small) in this process, and what its outcome
means: success or a one-line EdgecError naming the file pass; anything else is a finding."""
from __future__ import annotations

import hashlib
import os
import shutil
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from ..cases import ROOT
from .seeds import Case

COMPILE_MACS = 20_000_000       # compile only models this small (the rest of the pipeline is checked, not benchmarked)
COMPILE_NODES = 80              # ... and this short: planning a 150-layer net takes seconds


def _snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            out[rel] = None if p.is_dir() and not p.is_symlink() else hashlib.sha256(
                p.read_bytes() if p.is_file() else os.readlink(p).encode()).hexdigest()
    return out


def _macs(g) -> int:
    total = 0
    for n in g.nodes:
        out = g.tensors[n.outputs[0]].shape
        if n.op == "Conv2D":
            w = g.tensors[n.inputs[1]].shape
            total += int(np.prod(out, dtype=object)) * int(np.prod(w[1:], dtype=object))
        elif n.op == "FullyConnected":
            total += int(np.prod(g.tensors[n.inputs[1]].shape, dtype=object))
        else:
            total += int(np.prod(out, dtype=object))
    return total


def _edgec_frame(tb) -> str:
    """file:line of the innermost frame in edgec's own code (where to fix it), else the innermost frame."""
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if str(ROOT) in f.filename and "/tests/" not in f.filename and "/testkit/" not in f.filename]
    f = (ours or frames or [None])[-1]
    return f"{os.path.relpath(f.filename, ROOT) if str(ROOT) in f.filename else f.filename}:{f.lineno} in {f.name}" if f else "?"


class _Noise(Exception):
    """The importer succeeded but warned (numpy overflow...): the CLI would print more than its output."""


def run_case(case: Case, scratch: Path, compile_ok: bool = True) -> dict:
    """Import (+ canonicalize + compile when small) one case in this process; returns the outcome."""
    from edgec.driver.build import compile_graph, import_model
    from edgec.compiler.data import InputSamples
    from edgec.compiler.errors import EdgecError
    from edgec.passes.pipeline import canonicalize

    if scratch.exists():
        shutil.rmtree(scratch)
    indir, outdir, cwd = scratch / "in", scratch / "out", scratch / "cwd"
    for d in (indir, outdir, cwd):
        d.mkdir(parents=True)
    for name, data in case.files.items():
        (indir / name).parent.mkdir(parents=True, exist_ok=True)
        (indir / name).write_bytes(data)
    before = _snapshot(scratch)
    here = os.getcwd()
    os.chdir(cwd)
    stage, t0 = "import", time.perf_counter()
    res = {"outcome": "ok"}
    caught = warnings.catch_warnings(record=True)
    seen = caught.__enter__()
    warnings.simplefilter("always")
    try:
        g = import_model(str(indir / case.entry), str(indir / case.weights) if case.weights else None)
        noisy = [w for w in seen if "/importers/" in w.filename]
        if noisy:                   # the CLI would print these on stderr around its one-line error
            raise _Noise(f"{noisy[0].category.__name__}: {noisy[0].message} at "
                         f"{os.path.relpath(noisy[0].filename, ROOT)}:{noisy[0].lineno}")
        stage = "canonicalize"
        g = canonicalize(g)
        if compile_ok and len(g.nodes) <= COMPILE_NODES and _macs(g) <= COMPILE_MACS:
            stage = "compile"
            rng = np.random.default_rng(0)
            arrays = {t: rng.uniform(0, 1, (2,) + tuple(g.tensors[t].shape)).astype(np.float32) for t in g.inputs}
            samples = arrays[g.inputs[0]] if len(g.inputs) == 1 else InputSamples(arrays)   # several inputs: each its own
            compile_graph(g, samples, "host", str(outdir / "o"), g.name, str(indir / case.entry))
    except _Noise as e:
        res = {"outcome": "warning", "detail": str(e)}
    except EdgecError as e:
        msg = str(e)
        res = {"outcome": "error", "message": msg}
        noisy = [w for w in seen if "/importers/" in w.filename]
        if noisy:
            res.update(outcome="warning", detail=f"{noisy[0].category.__name__}: {noisy[0].message} at "
                                                 f"{os.path.relpath(noisy[0].filename, ROOT)}:{noisy[0].lineno}")
        named = {case.entry, case.weights or case.entry[:-4] + ".weights"} if case.fmt == "darknet" else {case.entry}
        if len(msg.splitlines()) != 1 or not msg.isprintable():
            res.update(outcome="bad-message", detail="the message is not one printable line")
        elif stage == "import" and not any(n in msg for n in named):
            res.update(outcome="bad-message", detail="the message does not name the model file")
    except BaseException as e:       # noqa: BLE001 - every other exception is a finding
        res = {"outcome": "crash", "exception": type(e).__name__, "message": str(e)[:300],
               "where": _edgec_frame(e.__traceback__), "traceback": traceback.format_exc()[-3000:]}
    finally:
        caught.__exit__(None, None, None)
        os.chdir(here)
    res.update(stage=stage, seconds=round(time.perf_counter() - t0, 3))
    after = _snapshot(scratch)
    stray = sorted(k for k in after if k not in before and not (k == "out/o" or k.startswith("out/o/")))
    changed = sorted(k for k in before if after.get(k, "gone") != before[k])
    if stray or changed:
        res.update(outcome="escape", detail=f"written outside -o: {stray[:5]}; inputs changed: {changed[:5]}")
    shutil.rmtree(scratch, ignore_errors=True)
    return res


def signature(res: dict) -> str:
    """What makes two findings the same bug."""
    if res["outcome"] == "crash":
        return f"crash {res['exception']} at {res['where']}"
    if res["outcome"] in ("bad-message", "escape", "warning"):
        return f"{res['outcome']}: {res.get('detail')} [{res.get('stage')}]"
    return res["outcome"] + (f" ({res.get('detail')})" if res.get("detail") else "")
