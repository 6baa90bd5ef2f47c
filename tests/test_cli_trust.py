"""What a user must be able to trust the command line with, typed as a user types it: it never
deletes what it did not write, it never takes data in the wrong layout, and a signal stops it with
130 / 143 and the previous output intact (issue 16)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import CASES, DATA, one_line_error, require

EDGEC = [sys.executable, "-m", "edgec.cli.main"]


def edgec(*args, cwd=None, env=None):
    return subprocess.run(EDGEC + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def digits(digits_files):
    return digits_files


def _build(out, digits, cwd=None, env=None):
    return edgec("build", CASES["digits_mlp"].path, "-c", digits / "calib.npy", "-o", out, cwd=cwd, env=env)


def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _no_stage_left(parent: Path):
    left = [p.name for p in parent.iterdir() if p.name.startswith(".edgec-stage-")]
    assert not left, left


def test_a_directory_edgec_did_not_make_is_never_replaced(digits, tmp_path):
    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    (proj / "NOTES.md").write_text("my notes\n")
    (proj / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = _tree(proj)
    one_line_error(_build(proj, digits), "proj", "edgec did not make it", "remove this one yourself")
    assert _tree(proj) == before
    _no_stage_left(tmp_path)


def test_dot_empty_root_home_and_a_file_are_refused(digits, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine\n")
    one_line_error(_build(".", digits, cwd=work), "current directory", "-o out/model")
    one_line_error(_build("", digits, cwd=work), "output path is empty", "unset shell variable")
    one_line_error(_build("/", digits, cwd=work), "filesystem root")
    (work / "home").mkdir()
    one_line_error(_build("~", digits, cwd=work, env={"HOME": str(work / "home")}), "home directory")
    one_line_error(_build("..", digits, cwd=work), "parent of the current directory")
    one_line_error(_build("keep.txt", digits, cwd=work), "keep.txt", "is a file")
    assert (work / "keep.txt").read_text() == "mine\n"
    assert sorted(p.name for p in work.iterdir()) == ["home", "keep.txt"]


def test_rebuild_replaces_only_edgecs_own_output_and_refuses_added_files(digits, tmp_path):
    out = tmp_path / "out"
    r = _build(out, digits)
    assert r.returncode == 0, r.stderr
    assert (out / ".edgec-output").is_file() and (out / "model.c").is_file()
    first = _tree(out)
    r = _build(out, digits)                                      # a rebuild: same files, replaced
    assert r.returncode == 0, r.stderr
    assert _tree(out) == first
    (out / "NOTES.md").write_text("mine\n")
    one_line_error(_build(out, digits), "NOTES.md", "did not write")
    assert (out / "NOTES.md").read_text() == "mine\n" and (out / "model.c").read_bytes() == first["model.c"]
    _no_stage_left(tmp_path)


def test_an_output_written_before_the_marker_is_still_edgecs(digits, tmp_path):
    out = tmp_path / "old"
    assert _build(out, digits).returncode == 0
    (out / ".edgec-output").unlink()                              # as edgec 0.1.0 of 2026-11 wrote it:
    (out / "model.edgecimg").unlink()                             # no marker, no model image
    r = _build(out, digits)
    assert r.returncode == 0, r.stderr
    assert (out / ".edgec-output").is_file()


def test_rebuild_under_a_read_only_parent_swaps_the_files_in_place(digits, tmp_path, monkeypatch, capsys):
    """Root ignores directory modes, so the read-only parent is what os.access says; the CLI runs in-process."""
    from edgec.cli.main import main
    import edgec.compiler.outdir as outdir
    out = tmp_path / "ro" / "out"
    assert main(["build", CASES["digits_mlp"].path, "-c", str(digits / "calib.npy"), "-o", str(out)]) == 0
    (out / "report.json").write_text("stale\n")
    real_access = os.access
    monkeypatch.setattr(outdir.os, "access", lambda p, mode: False if Path(p) == out.parent else real_access(p, mode))
    assert main(["build", CASES["digits_mlp"].path, "-c", str(digits / "calib.npy"), "-o", str(out)]) == 0
    assert (out / "report.json").read_text().startswith("{")
    assert not [p for p in out.iterdir() if p.name.startswith(".edgec-stage-")]
    monkeypatch.setattr(outdir.os, "access", lambda p, mode: False)
    capsys.readouterr()
    assert main(["build", CASES["digits_mlp"].path, "-c", str(digits / "calib.npy"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "not writable" in err and ".edgec-stage" not in err


def _children(pid: int) -> list:
    """(pid, command name) of each live child process of `pid`."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for c in (task / "children").read_text().split():
            try:
                out.append((int(c), Path(f"/proc/{c}/comm").read_text().strip()))
            except OSError:
                pass
    return out


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (a container's pid 1 may never reap it)."""
    try:
        state = [l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("State:")][0]
    except (OSError, IndexError):
        return False
    return "zombie" not in state


def _signal_after(args, signum, line=None, child=None):
    """Start edgec; once stderr shows `line`, or once it runs a child process named like `child`,
    send it `signum`.  (returncode, stderr, the children it had then)."""
    proc = subprocess.Popen(EDGEC + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen, kids = [], []
    if line is not None:
        for text in proc.stderr:
            seen.append(text)
            if line in text:
                break
        time.sleep(0.3)
    else:
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline and not kids:
            kids = [k for k in _children(proc.pid) if child in k[1]]
            time.sleep(0.05)
    assert proc.poll() is None, "edgec ended before the signal"
    proc.send_signal(signum)
    _, rest = proc.communicate(timeout=120)
    return proc.returncode, "".join(seen) + rest, kids


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_build_exits_128_plus_it_and_keeps_the_previous_output(digits, tmp_path, signum, code):
    out = tmp_path / "out"
    assert _build(out, digits).returncode == 0
    before = _tree(out)
    np.save(tmp_path / "calib.npy", CASES["resnet"].calibration())
    rc, err, _ = _signal_after(["build", CASES["resnet"].path, "-c", tmp_path / "calib.npy", "-o", out],
                               signum, line="importing")
    assert rc == code, err
    assert "Traceback" not in err and f"stopped by {signal.Signals(signum).name}" in err
    assert _tree(out) == before
    _no_stage_left(tmp_path)


def test_ctrl_c_during_verify_on_an_emulator_is_not_success(built, tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    out, inputs, _ = built("resnet")
    rc, err, kids = _signal_after(["verify", out, "--on", "cortex-m4", "--input", inputs], signal.SIGINT, child="qemu")
    assert rc == 130, err
    assert "Traceback" not in err and "bit-exact" not in err and "stopped by SIGINT" in err
    time.sleep(0.5)
    assert kids and not [k for k in kids if _alive(k[0])], "the emulator outlived edgec"


def test_data_in_the_wrong_layout_is_refused_with_the_shape_it_needs(built, tmp_path):
    out, _, _ = built("resnet")                                    # input (1, 32, 32, 3)
    x = np.load(DATA / "ic_input_float_0to255_NHWC.npy")[:4]
    np.save(tmp_path / "nchw.npy", x.transpose(0, 3, 1, 2))
    np.save(tmp_path / "nhwc.npy", x)
    for cmd in (["run", out, tmp_path / "nchw.npy", "-o", tmp_path / "y.npy"],
                ["verify", out, "--input", tmp_path / "nchw.npy"]):
        one_line_error(edgec(*cmd), "(4, 3, 32, 32)", "(N, 32, 32, 3)", "x.transpose(0, 2, 3, 1)")
    assert not (tmp_path / "y.npy").exists()
    r = edgec("run", out, tmp_path / "nhwc.npy", "-o", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "y.npy").shape == (4, 10)


def test_darknet_calibration_in_nchw_says_how_to_fix_it(tmp_path):
    x = np.load(DATA / "yolo-fastest-1.1_dog320_input_NCHW.npy")                  # (1, 3, 320, 320)
    np.save(tmp_path / "calib.npy", np.repeat(x, 2, axis=0))
    r = edgec("build", DATA / "yolo-fastest-1.1.cfg", "-c", tmp_path / "calib.npy", "-o", tmp_path / "out")
    one_line_error(r, "(2, 3, 320, 320)", "(N, 320, 320, 3)", "this model takes NHWC images", "x.transpose(0, 2, 3, 1)")
    assert not (tmp_path / "out").exists()


def test_help_names_every_format_and_the_default_package_form():
    build_help = edgec("build", "--help").stdout
    for fmt in (".onnx", ".h5", ".keras", ".cfg", ".tflite"):
        assert fmt in build_help, fmt
    package_help = edgec("package", "--help").stdout
    for option in ("--name", "--version", "--key", "--device-target", "verify"):
        assert option in package_help, option


def test_main_called_in_process_leaves_the_callers_sigterm_handler(capsys):
    """edgec.cli.main.main() turns SIGTERM into a clean exit 143 while it runs; a program (or test
    run) that calls it keeps its own handler afterwards."""
    from edgec.cli.main import main
    before = signal.getsignal(signal.SIGTERM)
    assert main(["version"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before
