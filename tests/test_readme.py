"""Every `sh` and `python` block of the README runs as written: the blocks of one section in order, in
a fresh directory holding a copy of `examples/` and the repository's `tests/` (the second Quick start
line is the CI job itself: tests/test_setup.py checks it is what .ci/run runs).

A README command that no longer works is a broken product for the user who pastes it."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require

REPO = Path(__file__).resolve().parent.parent
INSTALL = "pip install -e . -c constraints.txt && "


def _sections() -> dict:
    """{'## ' section title: [(language, block), ...]} in README order, the CI line left out."""
    out, title = {}, "top"
    for m in re.finditer(r"^## ([^\n]*)$|^```(sh|python)\n(.*?)^```", (REPO / "README.md").read_text(), re.S | re.M):
        if m.group(1):
            title = m.group(1)
        elif "apt-get update" not in m.group(3):
            out.setdefault(title, []).append((m.group(2), m.group(3)))
    return out


SECTIONS = _sections()


def test_the_readme_has_the_blocks_its_readers_need():
    titles = list(SECTIONS)
    assert titles[0] == "Quick start" and SECTIONS["Quick start"][0][1].startswith(INSTALL)
    for reader in ("Firmware engineers", "ML engineers", "Release engineers"):
        assert any(t.startswith(reader) for t in titles), (reader, titles)
    assert (REPO / "README.md").read_text().count("apt-get update") == 1


@pytest.mark.parametrize("title", list(SECTIONS), ids=[t.split(":")[0].replace(" ", "-") for t in SECTIONS])
def test_readme_section_runs_as_written(title, tmp_path):
    """Each block with bash -e (any failing line fails it; servers started with `&` are stopped at the
    end of the block) or python.  The Quick start's install is this environment's (the CI job ran it)."""
    require("edgec", "gcc", "make", "arm-none-eabi-gcc", "qemu-system-arm")
    shutil.copytree(REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("build", "out"))
    (tmp_path / "tests").symlink_to(REPO / "tests")
    stdout = stderr = ""
    for lang, block in SECTIONS[title]:
        if lang == "sh":
            script = block[len(INSTALL):] if block.startswith(INSTALL) else block
            stopper = "trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT\n"
            cmd = ["bash", "-euo", "pipefail", "-c", stopper + script]
        else:
            cmd = [sys.executable, "-c", block]
        r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
        stdout, stderr = stdout + r.stdout, stderr + r.stderr
        log = f"--- block\n{block}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
        assert r.returncode == 0, log
        assert "Traceback" not in r.stdout + r.stderr, log
        if "edgec verify" in block:
            assert "bit-exact" in r.stdout and "NOT bit-exact" not in r.stdout, log
        if "make -C examples/firmware run" in block:
            assert re.search(r"predicted digit: (\d) \(label \1\)", r.stdout + r.stderr), log   # semihosting: stderr
            assert (tmp_path / "out/digits-report.html").is_file() and (tmp_path / "out/digits-outputs.npy").is_file()
        if "--max-accuracy-drop" in block:
            assert (tmp_path / "out/digits-mixed/model.c").is_file() and '"mixed_precision"' in r.stdout, log
        if "--labels" in block:
            assert re.search(r"\b(dog|horse|cat|deer)\b", r.stdout) and (tmp_path / "out/resnet-results.json").is_file(), log
        if lang == "python":
            assert "'top'" in r.stdout and "'label'" in r.stdout, log
        if "edgec fleet status" in block:
            rows = [l.split() for l in r.stdout.splitlines() if re.match(r"dev-\d +ACTIVE ", l)]
            assert [(x[0], x[5]) for x in rows] == [(f"dev-{i}", "QUEUED") for i in (1, 2, 3)], log
            assert (tmp_path / "dashboard/index.html").is_file()


def test_the_first_screen_says_what_edgec_is_and_cites_only_the_repository():
    text = (REPO / "README.md").read_text()
    first = text[:text.index("## Quick start")]
    for word in ("ONNX", "Keras", "Darknet", "TFLite", "Cortex-M", "RV32IMC", "ATmega328P", "fleet", "agent", "bit for bit"):
        assert word in first, word
    for path in ("README.md", "agent/agent.proto", "examples/README.md", "examples/firmware/README.md"):
        assert "../shared" not in (REPO / path).read_text(), path
    release = next(b for t, blocks in SECTIONS.items() if t.startswith("Release") for _, b in blocks)
    assert "kws" not in release                                 # the bundled model is the digits CNN
