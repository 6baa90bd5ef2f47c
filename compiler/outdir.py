"""The build's output directory: edgec replaces only a directory it made itself.

`build -o OUT` is often pointed at the wrong place: an existing project, `.`, an unset `$OUT` (""),
the home directory.  So OUT is replaced only when it is empty or holds edgec's marker file (written
into every output, listing the files edgec put there), and only when nothing but those files is in
it; anything else is refused before the build starts, with one line that says what to do.

Writing is staged: the new files go to a hidden directory beside OUT and are swapped in with two
renames once all of them are written, so a failed or interrupted build leaves the previous output
as it was and no temp directory behind.  Where OUT's parent is not writable (a rebuild into a
directory the user owns under a read-only parent), the stage lives inside OUT and the files are
renamed into place one by one; edgec's own old files are removed only after all new ones are
written."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .errors import EdgecError

MARKER = ".edgec-output"
_STAGE_PREFIX = ".edgec-stage-"


# What an output written before the marker existed (edgec <= 0.1.0 of 2026-12) holds: such a
# directory is still edgec's own when it has the model data and nothing but these names.
_LEGACY_NAMES = {"model.h", "model.c", "weights.c", "report.json", "edgec_model.npz", "CMakeLists.txt", "edgec.mk"}


def _own_files(out: Path) -> set | None:
    """The files edgec wrote into `out` (from its marker), or None when `out` is not edgec's output."""
    try:
        doc = json.loads((out / MARKER).read_text())
        return set(doc["files"]) | {MARKER}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    names = {p.name for p in out.iterdir() if not p.name.startswith(_STAGE_PREFIX)}
    legacy = {n for n in names if n in _LEGACY_NAMES or (n.startswith("edgec") and n.endswith((".c", ".h")))}
    return legacy if {"report.json", "edgec_model.npz"} <= names and legacy == names else None


def check_output_dir(text: str) -> Path:
    """The resolved output path if edgec may write it; else a one-line EdgecError that says why."""
    if not text or not text.strip():
        raise EdgecError("the output path is empty", where="-o",
                         hint="give a directory, e.g. -o out/model (an unset shell variable gives an empty -o)")
    out = Path(text).expanduser().resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if out == Path(out.anchor) or out == home or out == cwd or out in cwd.parents:
        what = ("the filesystem root" if out == Path(out.anchor) else "your home directory" if out == home
                else "the current directory" if out == cwd else "a parent of the current directory")
        raise EdgecError(f"the output directory is {what}; edgec writes a new directory, it never replaces that one",
                         where=text, hint="give a directory of its own, e.g. -o out/model")
    if out.exists() and not out.is_dir():
        raise EdgecError("the output path is a file, not a directory", where=text,
                         hint="give a directory, or move the file away")
    if out.is_dir():
        entries = {p.name for p in out.iterdir() if not p.name.startswith(_STAGE_PREFIX)}
        own = _own_files(out)
        if entries and own is None:
            raise EdgecError("the output directory is not empty and edgec did not make it (no "
                             f"{MARKER} file); edgec replaces only its own output", where=text,
                             hint="give a new or empty directory, or remove this one yourself")
        foreign = sorted(entries - (own or set()))
        if foreign:
            shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
            raise EdgecError(f"the output directory holds files edgec did not write ({shown})", where=text,
                             hint="move them out of it, or give another -o")
    return out


def write_output_dir(text: str, files: dict) -> Path:
    """Write {file name: bytes} as the directory `text` (checked again: it may have changed since)."""
    out = check_output_dir(text)
    marker = json.dumps({"written_by": f"edgec {__version__}", "files": sorted(files)}, indent=1) + "\n"
    files = {**files, MARKER: marker.encode()}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgecError(f"cannot create the output directory's parent ({e.strerror})", where=text) from None
    if os.access(out.parent, os.W_OK | os.X_OK):
        _swap_directory(out, files, text)
    else:
        _swap_files(out, files, text)
    return out


def _stage(where: Path, files: dict, text: str) -> Path:
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=where))
    except OSError as e:
        raise EdgecError(f"cannot write the output directory ({e.strerror})", where=text,
                         hint="check the directory's permissions and free space") from None
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        os.chmod(tmp, 0o755)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise EdgecError(f"cannot write the output directory ({e.strerror})", where=text,
                             hint="check free space and permissions") from None
        raise
    return tmp


def swap_dir(new: Path, final: Path, aside: Path) -> None:
    """Put the directory `new` at `final` with renames on one filesystem: a directory already at
    `final` moves to `aside` first (put back if the second rename fails) and is removed after, so
    `final` is always the old directory or the new one, never a mix.  (Build outputs; the agent's
    installed model versions.)"""
    if final.exists():
        os.replace(final, aside)
        try:
            os.replace(new, final)
        except BaseException:
            os.replace(aside, final)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(new, final)


def _swap_directory(out: Path, files: dict, text: str) -> None:
    """Stage beside OUT, then swap it in."""
    tmp = _stage(out.parent, files, text)
    old = None
    try:
        if out.exists():                # somewhere beside OUT to move the previous output aside
            old = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=out.parent))
        swap_dir(tmp, out, (old or out.parent) / "previous")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _swap_files(out: Path, files: dict, text: str) -> None:
    """OUT's parent is read-only: stage inside OUT, then rename each file into place."""
    if not out.is_dir():
        raise EdgecError(f"cannot create the output directory: {out.parent} is not writable", where=text,
                         hint="choose a directory you can write to")
    if not os.access(out, os.W_OK | os.X_OK):
        raise EdgecError("the output directory is not writable", where=text, hint="check its permissions")
    old_own = _own_files(out) or set()
    tmp = _stage(out, files, text)
    try:
        for name in sorted(files, key=lambda n: n == MARKER):    # the marker last: it lists what is there
            os.replace(tmp / name, out / name)
        for name in sorted(old_own - set(files)):
            (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
