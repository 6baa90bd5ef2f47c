"""`edgec package`: a build directory -> one signed, deterministic tar.gz a device can trust.

Layout of the archive (flat, no top directory):
  manifest.json      canonical JSON: what the model is (name, version, I/O, quantization, memory),
                     where it came from (source sha256, edgec version) and the sha256 of every file;
                     for image models how images become the input, for detectors and classifiers
                     how outputs decode and the class names (report.json's preprocess/decode/labels)
  manifest.sig       detached signature of manifest.json's exact bytes (see signing.py)
  report.json, edgec_model.npz   the build's report and graphs (the agent reads I/O quantization)
  src/...            the generated C and build fragments, as `edgec build` wrote them
  lib/libmodel.so    that C compiled for the device's CPU (hostlib.py)

Same inputs -> byte-identical archive: entries in a fixed order, mtime 0, owner 0/0 with no names,
mode 0644, ustar headers (no pax timestamps), gzip header without name and with mtime 0.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import zlib
from pathlib import Path

from edgec import __version__
from edgec.errors import EdgecError

from . import signing
from .hostlib import LIBRARY, build_library, get_device_target, host_device_target
from .signing import SignatureError

FORMAT = "edgec-package/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
ARTIFACT = "edgec_model.npz"
#: Model names as the retired Edge Manager agent accepted them (also safe in S3 keys and job ids).
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
SOURCE_FILES = ("CMakeLists.txt", "edgec.mk")
#: report.json keys the manifest carries for the agent and the dashboard: image preprocessing, how
#: outputs decode (YOLO heads, classes), class names.
IMAGE_IO = ("preprocess", "decode", "labels")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_name_version(name: str, version: str) -> None:
    if not NAME_RE.match(name or "") or len(name) > 63:
        raise EdgecError(f"model name '{name}' is not allowed", hint="use letters, digits and single hyphens, e.g. kws or kws-v2")
    if not VERSION_RE.match(version or ""):
        raise EdgecError(f"version '{version}' is not allowed", hint="use letters, digits, '.', '_', '+', '-', e.g. 1.2.0")


def _read_build(out_dir: Path) -> tuple[dict, dict]:
    """report.json and the files that go into the package, keyed by their path in the archive."""
    if not out_dir.is_dir():
        raise EdgecError("not a directory", where=str(out_dir), hint="pass the directory `edgec build -o` wrote")
    missing = [f for f in ("model.h", "model.c", "weights.c", "report.json", ARTIFACT) if not (out_dir / f).is_file()]
    if missing:
        raise EdgecError(f"not an edgec build directory (missing {', '.join(missing)})", where=str(out_dir),
                         hint="run `edgec build MODEL -o DIR` first")
    try:
        report = json.loads((out_dir / "report.json").read_text())
    except ValueError:
        raise EdgecError("report.json is not valid JSON", where=str(out_dir / "report.json"), hint="rebuild") from None
    for key in ("model", "target", "input", "output", "totals"):
        if key not in report:
            raise EdgecError(f"report.json has no '{key}'", where=str(out_dir), hint="rebuild with this edgec version")
    files = {"report.json": (out_dir / "report.json").read_bytes(), ARTIFACT: (out_dir / ARTIFACT).read_bytes()}
    for f in sorted(out_dir.iterdir()):
        if f.is_file() and (f.suffix in (".c", ".h") or f.name in SOURCE_FILES):
            files[f"src/{f.name}"] = f.read_bytes()
    return report, files


def _io_spec(t: dict) -> dict:
    return {k: t[k] for k in ("name", "shape", "dtype", "scale", "zero_point", "bytes") if k in t}


def build_manifest(name: str, version: str, report: dict, files: dict, device_target: str) -> dict:
    totals, budget = report["totals"], report.get("budget", {})
    source_sha = report.get("source_sha256")
    return {
        "format": FORMAT, "name": name, "version": version, "edgec_version": __version__,
        "model": report["model"], "entry": f"edgec_{report['model']}_run", "library": f"lib/{LIBRARY}",
        "source": report.get("source"),
        "source_sha256": source_sha or sha256(files[ARTIFACT]),
        "source_sha256_of": "source model" if source_sha else ARTIFACT,
        "target": report["target"], "device_target": device_target,
        "inputs": [_io_spec(report["input"])], "outputs": [_io_spec(report["output"])],
        "memory": {"arena_bytes": totals.get("arena_bytes"), "io_bytes": totals.get("io_bytes"),
                   "weight_bytes": totals.get("weight_bytes"), "ram_budget_bytes": budget.get("ram_bytes"),
                   "flash_budget_bytes": budget.get("flash_bytes")},
        "files": {p: {"sha256": sha256(d), "size": len(d)} for p, d in sorted(files.items())},
        # how the host side feeds images and reads answers (edgec.preprocess / edgec.postprocess), when it applies
        **{k: report[k] for k in IMAGE_IO if report.get(k) is not None},
    }


def tar_gz(files: dict) -> bytes:
    """Deterministic tar.gz of {archive path: bytes}: manifest first, then sorted."""
    order = [p for p in (MANIFEST, SIGNATURE) if p in files] + sorted(p for p in files if p not in (MANIFEST, SIGNATURE))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in order:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(files[path]), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[path]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".edgec-", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def create(out_dir: str, name: str, version: str, key_path: str, output: str, device_target: str | None = None) -> dict:
    """Package a build directory; returns a summary (path, sha256, size, key id, files)."""
    check_name_version(name, version)
    key = signing.load_private(key_path)
    report, files = _read_build(Path(out_dir))
    device = get_device_target(device_target or host_device_target())
    files[f"lib/{LIBRARY}"] = build_library(Path(out_dir), report, device)
    manifest = build_manifest(name, version, report, files, device.name)
    body = signing.canonical_json(manifest)
    sig = signing.sign(key, body)
    files[MANIFEST], files[SIGNATURE] = body, signing.canonical_json(sig)
    data = tar_gz(files)
    _write_atomic(Path(output), data)
    return {"package": str(output), "sha256": sha256(data), "size": len(data), "name": name, "version": version,
            "key_id": sig["key_id"], "algorithm": sig["algorithm"], "device_target": device.name,
            "target": report["target"], "files": len(manifest["files"])}


def read_members(data: bytes, where: str) -> dict:
    """{path: bytes} of a package; only regular files with plain relative names, each once."""
    members = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar:
                if not m.isfile():
                    raise SignatureError(f"entry '{m.name}' is not a regular file", where=where)
                parts = m.name.split("/")
                if m.name.startswith("/") or ".." in parts or "" in parts or m.name in members:
                    raise SignatureError(f"entry '{m.name}' has an unsafe or repeated name", where=where)
                members[m.name] = tar.extractfile(m).read()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
        raise SignatureError(f"not a readable tar.gz ({str(e) or type(e).__name__})", where=where) from None
    return members


def check_members(members: dict, public_key, where: str) -> dict:
    """The manifest, once the signature and every file's hash and the file list all check out."""
    for f in (MANIFEST, SIGNATURE):
        if f not in members:
            raise SignatureError(f"{f} is missing: the package is unsigned", where=where)
    try:
        sig_doc = json.loads(members[SIGNATURE])
    except ValueError:
        raise SignatureError(f"{SIGNATURE} is not JSON", where=where) from None
    try:
        signing.check(public_key, members[MANIFEST], sig_doc)
    except SignatureError as e:
        raise SignatureError(str(e), where=where) from None
    manifest = json.loads(members[MANIFEST])
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise SignatureError(f"manifest format {manifest.get('format')!r} is not {FORMAT}", where=where)
    listed, present = set(manifest["files"]), set(members) - {MANIFEST, SIGNATURE}
    if listed - present:
        raise SignatureError(f"file missing from the package: {sorted(listed - present)[0]}", where=where)
    if present - listed:
        raise SignatureError(f"file not in the manifest: {sorted(present - listed)[0]}", where=where)
    for path in sorted(listed):
        want, data = manifest["files"][path], members[path]
        if len(data) != want.get("size") or sha256(data) != want.get("sha256"):
            raise SignatureError(f"{path} does not match its sha256 in the manifest (altered)", where=where)
    return manifest


def verify(package: str, pubkey: str) -> dict:
    """Check a package file against a trusted public key; returns the manifest and the package sha256."""
    public_key = signing.load_public(pubkey)
    try:
        data = Path(package).read_bytes()
    except OSError as e:
        raise SignatureError(f"cannot read package: {e.strerror}", where=str(package)) from None
    manifest = check_members(read_members(data, str(package)), public_key, str(package))
    return {"package": str(package), "sha256": sha256(data), "size": len(data), "key_id": signing.key_id(public_key),
            "name": manifest["name"], "version": manifest["version"], "files": len(manifest["files"]), "manifest": manifest}
