"""Shared fixtures: the seven real models (testkit/cases.py) built once per session (cortex-m4 target)
into a temporary directory, and the CLI run in this process."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

# The real models and their data live in testkit/cases.py (bench/ measures them too); the tests take
# them from here.
from testkit.cases import CASES, DATA, KERAS_CASES, KERAS_REFERENCE, Case, data, extra  # noqa: F401


def require(*tools):
    """Fail (not skip) when a tool the suite needs is missing: a skipped check proves nothing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: install the README's test set-up (apt packages gcc-arm-none-eabi qemu-system-arm)")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """name -> (out dir, inputs .npy path, report); builds lazily, once per session."""
    from edgec.build import build
    cache = {}

    def get(name):
        if name not in cache:
            case = {**CASES, **KERAS_CASES}[name]
            d = tmp_path_factory.mktemp(name)
            np.save(d / "calib.npy", case.calibration())
            np.save(d / "inputs.npy", case.inputs())
            report = build(case.path, "cortex-m4", str(d / "out"), str(d / "calib.npy"))
            cache[name] = (d / "out", d / "inputs.npy", report)
        return cache[name]
    return get


@pytest.fixture(scope="session")
def digits_files(tmp_path_factory):
    """calib.npy (300 training digits) and samples.npy (25 test digits), for the CLI tests."""
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "calib.npy", np.load(DATA / "digits_X_train_float_0to1_x64.npy")[:300])
    np.save(d / "samples.npy", np.load(DATA / "digits_X_test_float_0to1_x64.npy")[:25])
    return d


def one_line_error(r, *words):
    """A CLI run (returncode/stdout/stderr) that failed the way bad input must: non-zero exit, no
    traceback, exactly one "edgec: error" line on stderr, holding each of `words`.  Returns the line."""
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr + r.stdout
    lines = [l for l in r.stderr.splitlines() if l.startswith("edgec: error")]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def cli(*args, env=None, check_json=False):
    """The CLI's main() in this process (same parsing, errors and output as a subprocess, without an
    interpreter start per call); `env` entries are set for the call."""
    from contextlib import redirect_stderr, redirect_stdout
    from types import SimpleNamespace
    from edgec.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in (env or {}).items():
            mp.setenv(k, v)
        if env and "EDGEC_AWS_ENDPOINT" in env:                 # the local cloud, not a profile's
            for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                mp.delenv(k, raising=False)
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(a) for a in args])
    if check_json:
        assert code == 0, err.getvalue()
        return json.loads(out.getvalue())
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())

