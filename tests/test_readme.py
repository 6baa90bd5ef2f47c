"""Every `sh` block of the README runs as written, in a fresh directory holding a copy of `examples/`
(the second Quick start line is the CI job itself: tests/test_setup.py checks it is what .ci/run runs).

A README command that no longer works is a broken product for the user who pastes it."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import require

REPO = Path(__file__).resolve().parent.parent
INSTALL = "pip install -e . -c constraints.txt && "


def _blocks() -> list:
    text = (REPO / "README.md").read_text()
    return [m.group(1) for m in re.finditer(r"^```sh\n(.*?)^```", text, re.S | re.M)]


def _section(block: str) -> str:
    text = (REPO / "README.md").read_text()
    head = [l for l in text[:text.index(block)].splitlines() if l.startswith("## ")]
    return head[-1][3:] if head else "top"


BLOCKS = [b for b in _blocks() if "apt-get update" not in b]


def test_the_readme_has_the_blocks_its_readers_need():
    sections = [_section(b) for b in BLOCKS]
    assert sections[0] == "Quick start" and BLOCKS[0].startswith(INSTALL)
    for reader in ("Firmware engineers", "ML engineers", "Release engineers"):
        assert any(s.startswith(reader) for s in sections), (reader, sections)
    assert len([b for b in _blocks() if "apt-get update" in b]) == 1


@pytest.mark.parametrize("block", BLOCKS, ids=[_section(b).split(":")[0].replace(" ", "-") for b in BLOCKS])
def test_readme_block_runs_as_written(block, tmp_path):
    """The block in bash with -e: any failing line fails it; servers it starts with `&` are stopped at
    the end.  The Quick start's install is this environment's (the CI job ran it)."""
    require("edgec", "gcc", "make", "arm-none-eabi-gcc", "qemu-system-arm")
    shutil.copytree(REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("build", "out"))
    script = block[len(INSTALL):] if block.startswith(INSTALL) else block
    stopper = "trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT\n"
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", stopper + script], cwd=tmp_path, capture_output=True,
                       text=True, timeout=900)
    log = f"--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    assert r.returncode == 0, log
    assert "Traceback" not in r.stdout + r.stderr, log
    section = _section(block)
    if "edgec verify" in script:
        assert "bit-exact" in r.stdout and "NOT bit-exact" not in r.stdout, log
    if section.startswith("Firmware"):
        assert re.search(r"predicted digit: (\d) \(label \1\)", r.stdout + r.stderr), log   # semihosting: stderr
        assert (tmp_path / "out/digits-report.html").is_file() and (tmp_path / "out/digits-outputs.npy").is_file()
    if section.startswith("ML"):
        assert (tmp_path / "out/digits-mixed/model.c").is_file() and '"mixed_precision"' in r.stdout, log
    if section.startswith("Release"):
        rows = [l.split() for l in r.stdout.splitlines() if re.match(r"dev-\d +ACTIVE ", l)]      # fleet status
        assert [(x[0], x[5]) for x in rows] == [(f"dev-{i}", "QUEUED") for i in (1, 2, 3)], log
        assert (tmp_path / "dashboard/index.html").is_file()
        assert "top-1" in r.stdout, log
