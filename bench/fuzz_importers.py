"""Fuzz edgec's importers for as long as you like, and print what ran and what it found.

Two engines share the seeds, mutators and checks of testkit/fuzzing/:

  seeded   (default) reproducible mutation fuzzing: case i of seed S is always the same files, so a
           finding replays with --replay FMT:S:I.  Each case runs in a worker process limited to 2 GiB
           of address space and killed after 10 s.
  atheris  coverage-guided (libFuzzer through atheris, `pip install atheris`): the fuzzer's input bytes
           drive the same mutators' choices; libFuzzer enforces the bounds (-timeout=10,
           -rss_limit_mb=2048) and stops at the first finding, saving its input under --save.

A case passes when it ends in success or a one-line EdgecError naming the model file, within the
bounds, without writing outside the -o directory.  Findings print with their exception, the innermost
edgec frame, and how to replay them; compile-stage exceptions outside the importers are listed apart
("downstream"), since they are bugs of the passes the imported graph went through.

usage: python bench/fuzz_importers.py [--seconds 300] [--formats onnx,keras,darknet] [--seed N]
                                      [--engine seeded|atheris] [--no-compile] [--save DIR] [--json]
       python bench/fuzz_importers.py --replay onnx:7:123 [--save DIR]
       python bench/fuzz_importers.py --engine atheris --replay-input DIR/crash-...
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))            # the repository root, for testkit (shared with tests/)
from testkit.fuzzing import checks, engines, mutators, seeds  # noqa: E402


class ProviderRng:
    """random.Random's methods the mutators use, drawn from atheris' FuzzedDataProvider."""

    def __init__(self, fdp):
        self.fdp = fdp

    def randrange(self, n):
        return self.fdp.ConsumeIntInRange(0, n - 1) if n > 1 else 0

    def randint(self, a, b):
        return self.fdp.ConsumeIntInRange(a, b) if b > a else a

    def choice(self, seq):
        return seq[self.randrange(len(seq))]

    def random(self):
        return self.fdp.ConsumeProbability()

    def randbytes(self, n):
        return self.fdp.ConsumeBytes(n).ljust(n, b"\0")


def downstream(res: dict) -> bool:
    """A compile-stage exception outside the importers: the imported graph was valid IR."""
    return res.get("outcome") == "crash" and res.get("stage") == "compile" and "compiler/importers/" not in res.get("where", "")


def save_case(case, res, directory: Path) -> Path:
    d = directory / f"{case.fmt}-{case.sha()}"
    d.mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        (d / name).write_bytes(data)
    (d / "finding.json").write_text(json.dumps({**res, "entry": case.entry, "ops": case.ops, "seed_model": case.seed},
                                               indent=1) + "\n")
    return d


def seeded(args) -> dict:
    formats = args.formats.split(",")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    print(f"seeded fuzzing of {', '.join(formats)} for {args.seconds:.0f} s, seed {seed}", flush=True)
    stats = engines.run_seeded(formats, seed, seconds=args.seconds, compile_ok=not args.no_compile,
                               log=lambda m: print("  " + m, flush=True))
    if args.save:
        for sig, res in stats["findings"].items():
            fmt, s, i = res["replay"].split(":")
            print(f"  saved {save_case(mutators.seeded_case(fmt, int(s), int(i)), res, Path(args.save))}")
    return stats


def replay(args) -> dict:
    fmt, seed, index = args.replay.split(":")
    case = mutators.seeded_case(fmt, int(seed), int(index))
    with tempfile.TemporaryDirectory() as d:
        w = engines.Worker(Path(d))
        try:
            res = w.run(case, not args.no_compile)
        finally:
            w.stop()
    print(f"{args.replay}: seed model {case.seed}, mutations {case.ops}")
    print(json.dumps(res, indent=1))
    if args.save:
        print(f"saved {save_case(case, res, Path(args.save))}")
    return res


# -- atheris ------------------------------------------------------------------------------------------
def atheris_child(args) -> None:
    """Runs inside the libFuzzer process (libFuzzer exits when done, so the parent reads its output)."""
    import atheris
    with atheris.instrument_imports(include=["edgec"]):
        import edgec.driver.build, edgec.passes.pipeline  # noqa: F401,E401
        import edgec.compiler.importers.onnx, edgec.compiler.importers.keras, edgec.compiler.importers.darknet  # noqa: F401,E401
    formats = args.formats.split(",")
    seeds.seeds()
    scratch = Path(tempfile.mkdtemp(prefix="edgec-atheris-"))
    compile_ok = not args.no_compile

    def one_input(data: bytes):
        rng = ProviderRng(atheris.FuzzedDataProvider(data))
        case = mutators.make_case(formats[rng.randrange(len(formats))], rng)
        res = checks.run_case(case, scratch / "run", compile_ok)
        print(f"EDGEC-CASE {case.fmt} {res['outcome']}", file=sys.stderr, flush=True) if args.verbose else None
        if downstream(res):
            print("EDGEC-DOWNSTREAM " + json.dumps({k: v for k, v in res.items() if k != "traceback"}), file=sys.stderr,
                  flush=True)
        elif res["outcome"] not in ("ok", "error"):
            raise RuntimeError("edgec fuzz finding: " + json.dumps({k: v for k, v in res.items() if k != "traceback"})
                               + "\n" + res.get("traceback", ""))

    argv = [sys.argv[0], f"-max_total_time={int(args.seconds)}", f"-timeout={int(engines.CASE_SECONDS)}",
            f"-rss_limit_mb={engines.CASE_MEMORY >> 20}", "-print_final_stats=1", "-max_len=4096"]
    if args.save:
        Path(args.save).mkdir(parents=True, exist_ok=True)
        argv.append(f"-artifact_prefix={os.path.join(args.save, '')}")
    if args.replay_input:
        argv.append(args.replay_input)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def run_atheris(args) -> dict:
    """Starts the libFuzzer child and reads its final stats."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--atheris-child", "--formats", args.formats,
           "--seconds", str(args.seconds)] + (["--no-compile"] if args.no_compile else []) + \
          (["--save", args.save] if args.save else []) + (["--replay-input", args.replay_input] if args.replay_input else [])
    print(f"atheris (libFuzzer) on {args.formats} for {args.seconds:.0f} s", flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.seconds + 120)
    out = p.stdout + p.stderr
    runs = re.search(r"Done (\d+) runs in (\d+) second", out) or re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    finding = None
    if p.returncode != 0:
        m = re.search(r"edgec fuzz finding: (\{.*\})", out)
        finding = json.loads(m.group(1)) if m else {"outcome": "libfuzzer", "detail": out[-3000:]}
        art = re.search(r"Test unit written to (\S+)", out)
        if art:
            finding["input"] = art.group(1)
    findings = {}
    for line in re.findall(r"EDGEC-DOWNSTREAM (\{.*\})", out):
        res = json.loads(line)
        findings.setdefault(checks.signature(res), res)
    if finding is not None:
        findings[checks.signature(finding) if "where" in finding or finding.get("outcome") in ("bad-message", "escape")
                 else finding["outcome"]] = finding
    stats = {"engine": "atheris", "formats": args.formats.split(","), "cases": int(runs.group(1)) if runs else 0,
             "seconds": round(time.perf_counter() - t0, 1), "returncode": p.returncode, "findings": findings}
    cov = re.findall(r"cov: (\d+) ft: (\d+)", out)
    if cov:
        stats["coverage"] = {"edges": int(cov[-1][0]), "features": int(cov[-1][1])}
    return stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="how long to fuzz (all formats together)")
    ap.add_argument("--formats", default="onnx,keras,darknet")
    ap.add_argument("--seed", type=int, default=None, help="seeded engine: the run's seed (default: random)")
    ap.add_argument("--engine", choices=("seeded", "atheris"), default="seeded")
    ap.add_argument("--no-compile", action="store_true", help="import and canonicalize only")
    ap.add_argument("--save", help="directory for the files of each finding")
    ap.add_argument("--replay", help="FMT:SEED:INDEX of a seeded case to run again")
    ap.add_argument("--replay-input", help="atheris: an input file (crash-*) to run again")
    ap.add_argument("--json", action="store_true", help="print the statistics as JSON")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--atheris-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.atheris_child:
        return atheris_child(args)
    if args.replay:
        res = replay(args)
        return 0 if res["outcome"] in ("ok", "error") else 1
    stats = run_atheris(args) if args.engine == "atheris" else seeded(args)
    importer = {k: v for k, v in stats["findings"].items() if not downstream(v)}
    down = {k: v for k, v in stats["findings"].items() if downstream(v)}
    if args.json:
        print(json.dumps({**stats, "findings": {k: {x: y for x, y in v.items() if x != "traceback"}
                                                for k, v in stats["findings"].items()}}, indent=1, default=str))
    else:
        cases = stats["cases"] if isinstance(stats["cases"], int) else sum(stats["cases"].values())
        per = "" if isinstance(stats["cases"], int) else " (" + ", ".join(f"{k} {v}" for k, v in stats["cases"].items()) + ")"
        print(f"\n{cases} cases{per} in {stats['seconds']} s ({cases / max(stats['seconds'], 1e-9):.1f}/s)")
        if "outcomes" in stats:
            print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["outcomes"].items())))
        if "coverage" in stats:
            print(f"coverage: {stats['coverage']['edges']} edges, {stats['coverage']['features']} features")
        for title, group in (("importer findings", importer), ("downstream findings (compile stage, outside the importers)", down)):
            print(f"{title}: {len(group) or 'none'}")
            for sig, res in group.items():
                print(f"  {sig}\n    replay: {res.get('replay', res.get('input', '?'))}  mutations: {res.get('ops', '?')}"
                      f"\n    {res.get('exception', res.get('outcome'))}: {str(res.get('message', res.get('detail', '')))[:200]}")
    return 1 if importer else 0


if __name__ == "__main__":
    sys.exit(main())
