"""`edgec package`: a build directory -> one signed, deterministic tar.gz a device can trust.

Files in the archive (flat, no top directory):
  manifest.json      canonical JSON: what the model is (name, version, I/O, quantization, memory),
                     where it came from (source sha256, edgec version), the sha256 and size of every
                     other file, and the sha256 and length of the payload (below); for image models how
                     images become the input, for detectors and classifiers how outputs decode and the
                     class names (report.json's preprocess/decode/labels)
  manifest.sig       detached signature of manifest.json's exact bytes (see signing.py)
  report.json, edgec_model.npz   the build's report and graphs (the agent reads I/O quantization)
  src/...            the generated C and build fragments, as `edgec build` wrote them
  lib/libmodel.so    that C compiled for the device's CPU (hostlib.py), for a Linux device target; for a
                     microcontroller target (--device-target cortex-m4) instead:
  device/model.edgecimg  the build's model image (codegen/image.py): data only, no code
  device/model.edgm      its signed device manifest (device_manifest.py: name, version, security
                     counter, downgrade flag, the image's sha256), which the firmware checks itself

The file is two gzip members, which gzip, tar and Python read as one tar.gz:
  head     manifest.json and manifest.sig as tar entries in deflate *stored* blocks (no compression):
           its bytes follow from those two files alone, so the verifier rebuilds it and compares
  payload  every other file in sorted order, then the two zero blocks that end a tar, at zlib level
           9; the signed manifest holds its sha256 and length
So every byte of a package is fixed by the signed manifest and its signature (which has one accepted
form, signing.py): appended bytes, a second gzip member or a re-compressed payload are refused, and a
package's sha256 names its signed content.

Verification (`verify_file`, used by `edgec package verify`, publish, deploy, the monitor, and the
agent's LoadModel and rollouts) reads the manifest and the signature first (at most MAX_MANIFEST and
MAX_SIGNATURE bytes, whatever the tar headers claim), checks the signature, then streams the payload:
each entry must be the next file the manifest lists, with its signed size, and is inflated only up to
that size while its sha256 is taken; the payload's raw bytes are hashed on the way.  Nothing is held
in memory beyond a chunk; a caller that wants the files gets them through `sink`.

Same inputs -> byte-identical archive: entries in a fixed order, mtime 0, owner 0/0 with no names,
mode 0644, ustar headers (no pax timestamps), gzip headers without name and with mtime 0.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import stat
import struct
import tarfile
import tempfile
import zlib
from pathlib import Path

from ..compiler import __version__
from ..compiler.errors import EdgecError
from ..compiler.serialize import ARTIFACT

from . import signing
from .hostlib import LIBRARY, build_library, get_device_target, host_device_target
from . import device_manifest
from .names import NAME_RE, VERSION_RE, check_name_version, version_key  # noqa: F401  (package.X for its users)
from .signing import SignatureError

FORMAT = "edgec-package/2"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
SOURCE_FILES = ("CMakeLists.txt", "edgec.mk")
#: report.json keys the manifest carries for the agent and the dashboard: image preprocessing, how
#: outputs decode (YOLO heads, classes), class names.
IMAGE_IO = ("preprocess", "decode", "labels")
#: Most bytes manifest.json and manifest.sig may have, whatever their tar headers say.
MAX_MANIFEST, MAX_SIGNATURE = 1 << 20, 16 << 10
#: Compressed bytes read past the payload's signed length before giving up (to name what differs).
SLACK = 64 << 10
CHUNK = 64 << 10
#: gzip member headers: deflate, no flags, mtime 0, XFL (0: stored, 2: best compression), OS unknown.
HEAD_GZIP, PAYLOAD_GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: A job document's signed permission to go back to an older version (agent/rollout.py).
DOWNGRADE = "edgec-downgrade/1"


def downgrade_allowance(private_key, name: str, version: str, package_sha256: str, from_version: str) -> dict:
    """{"allowance", "signature"}: devices whose newest accepted version of `name` is `from_version`
    may load this package (`version`, `package_sha256`), though it is older."""
    allowance = {"type": DOWNGRADE, "model_name": name, "model_version": version, "model_package_sha256": package_sha256,
                 "from_version": from_version}
    return {"allowance": allowance, "signature": signing.sign(private_key, signing.canonical_json(allowance))}


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
    n_in, n_out = len(report.get("inputs", [0])), len(report.get("outputs", [0]))
    if n_in != 1 or n_out != 1:
        raise EdgecError(f"a package holds a model of one input and one output (the agent and the device image run "
                         f"those); this build has {n_in} input{'s' * (n_in != 1)} and {n_out} output{'s' * (n_out != 1)}",
                         where=str(out_dir),
                         hint="link the build's C (model.c) into the firmware instead")
    files = {"report.json": (out_dir / "report.json").read_bytes(), ARTIFACT: (out_dir / ARTIFACT).read_bytes()}
    for f in sorted(out_dir.iterdir()):
        if f.is_file() and (f.suffix in (".c", ".h") or f.name in SOURCE_FILES):
            files[f"src/{f.name}"] = f.read_bytes()
    return report, files


def _io_spec(t: dict) -> dict:
    return {k: t[k] for k in ("name", "shape", "dtype", "scale", "zero_point", "bytes", "c_api", "quantize") if k in t}


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
        # how the host side feeds images and reads answers (edgec.host.preprocess / edgec.host.postprocess), when it applies
        **{k: report[k] for k in IMAGE_IO if report.get(k) is not None},
    }


def _tar_header(path: str, size: int) -> bytes:
    info = tarfile.TarInfo(path)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")


def _tar_entry(path: str, data: bytes) -> bytes:
    return _tar_header(path, len(data)) + data + bytes(-len(data) % 512)


def _gzip_trailer(raw: bytes) -> bytes:
    return struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)


def _stored_gzip(raw: bytes) -> bytes:
    """One gzip member of deflate stored blocks: the same bytes for the same input, whatever the zlib."""
    out = [HEAD_GZIP]
    blocks = [raw[i:i + 0xFFFF] for i in range(0, len(raw), 0xFFFF)] or [b""]
    for i, b in enumerate(blocks):
        out.append(bytes([1 if i == len(blocks) - 1 else 0]) + struct.pack("<HH", len(b), len(b) ^ 0xFFFF) + b)
    out.append(_gzip_trailer(raw))
    return b"".join(out)


def head(files: dict) -> bytes:
    """The first gzip member: the tar entries of manifest.json and manifest.sig (those present)."""
    return _stored_gzip(b"".join(_tar_entry(p, files[p]) for p in (MANIFEST, SIGNATURE) if p in files))


def payload(files: dict) -> bytes:
    """The second gzip member: every other file's tar entry in sorted order, then the end of the tar."""
    raw = b"".join(_tar_entry(p, files[p]) for p in sorted(files) if p not in (MANIFEST, SIGNATURE)) + bytes(1024)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return PAYLOAD_GZIP + c.compress(raw) + c.flush() + _gzip_trailer(raw)


def tar_gz(files: dict) -> bytes:
    """The package of {archive path: bytes}: the head, then the payload (see above)."""
    return head(files) + payload(files)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".edgec-", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def create(out_dir: str, name: str, version: str, key_path: str, output: str, device_target: str | None = None,
           security_counter: int | None = None, allow_downgrade: bool = False) -> dict:
    """Package a build directory; returns a summary (path, sha256, size, key id, files).  A
    microcontroller device target (hostlib kind "mcu") takes the model image and a signed device
    manifest with `security_counter` (and the downgrade flag) instead of a shared library."""
    check_name_version(name, version)
    key = signing.load_private(key_path)
    report, files = _read_build(Path(out_dir))
    device = get_device_target(device_target or host_device_target())
    if device.kind == "mcu":
        files.update(device_manifest.mcu_files(Path(out_dir), report, key, name, version, security_counter, allow_downgrade))
    else:
        if security_counter is not None or allow_downgrade:
            raise EdgecError("--security-counter and --allow-downgrade are for microcontroller device targets",
                             hint="Linux devices refuse older versions by themselves; see `edgec fleet deploy --allow-downgrade-from`")
        files[f"lib/{LIBRARY}"] = build_library(Path(out_dir), report, device)
    manifest = build_manifest(name, version, report, files, device.name)
    if device.kind == "mcu":
        manifest["library"] = device_manifest.IMAGE_FILE
        manifest["device"] = {"kind": "mcu", "image": device_manifest.IMAGE_FILE, "manifest": device_manifest.DEVICE_MANIFEST_FILE,
                              "security_counter": security_counter, "allow_downgrade": bool(allow_downgrade)}
    rest = payload(files)                           # first: the manifest signs its hash and length
    manifest["payload"] = {"sha256": sha256(rest), "size": len(rest)}
    body = signing.canonical_json(manifest)
    sig = signing.sign(key, body)
    files[MANIFEST], files[SIGNATURE] = body, signing.canonical_json(sig)
    data = head(files) + rest
    _write_atomic(Path(output), data)
    return {"package": str(output), "sha256": sha256(data), "size": len(data), "name": name, "version": version,
            "key_id": sig["key_id"], "algorithm": sig["algorithm"], "device_target": device.name,
            "target": report["target"], "files": len(manifest["files"]),
            **({"security_counter": security_counter, "allow_downgrade": bool(allow_downgrade)} if device.kind == "mcu" else {})}


# ---- reading: the signature first, then the payload streamed -------------------------------------

def _refuse(message: str) -> SignatureError:
    return SignatureError(message)


class _Gzip:
    """The decompressed bytes of the gzip member(s) of a file from an offset, produced only as far as
    asked (a bomb never inflates past what the caller wants), with each member's CRC and length
    checked at its end.  `limit` caps the raw bytes taken from the file; `digests` see every one."""

    def __init__(self, f, offset: int = 0, multi: bool = True, digests=(), limit: int | None = None):
        self.f, self.multi, self.digests, self.limit = f, multi, digests, limit
        f.seek(offset)
        self.raw = 0                     # raw bytes taken from the file
        self.buf = b""                   # raw bytes read, not given to a decompressor yet
        self.pending = b""               # raw bytes the current decompressor has not consumed
        self.d = None                    # the current member's decompressor (None between members)
        self.crc = self.size = self.members = 0
        self.ended = False

    def _fill(self) -> bool:
        if self.limit is not None and self.raw >= self.limit:
            raise _refuse(f"the payload runs past its signed length of {self.limit - SLACK:,} bytes")
        n = CHUNK if self.limit is None else min(CHUNK, self.limit - self.raw)
        chunk = self.f.read(n)
        if not chunk:
            return False
        self.raw += len(chunk)
        for d in self.digests:
            d.update(chunk)
        self.buf += chunk
        return True

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise _refuse("the gzip stream is cut short")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _zstring(self) -> None:
        for _ in range(4096):
            if self._take(1) == b"\0":
                return
        raise _refuse("a gzip header field is too long")

    def _start(self) -> bool:
        """Read a member's header; False at the end of the file."""
        if not self.buf and not self._fill():
            return False
        hdr = self._take(10)
        if hdr[:3] != b"\x1f\x8b\x08" or hdr[3] & 0xE0:
            raise _refuse("not a gzip file" if not self.members else "bytes after the last gzip member are not gzip")
        flags = hdr[3]
        if flags & 4:
            self._take(struct.unpack("<H", self._take(2))[0])
        for bit in (8, 16):
            if flags & bit:
                self._zstring()
        if flags & 2:
            self._take(2)
        self.d, self.crc, self.size = zlib.decompressobj(-15), 0, 0
        self.members += 1
        return True

    def read(self, n: int) -> bytes:
        """Up to n decompressed bytes: fewer only where the stream (or, if not multi, its member) ends."""
        out = []
        while n > 0 and not self.ended:
            if self.d is None:
                if (self.members and not self.multi) or not self._start():
                    self.ended = True
                    break
            if not self.pending:
                if not self.buf and not self._fill():
                    raise _refuse("the gzip stream is cut short")
                self.pending, self.buf = self.buf, b""
            piece = self.d.decompress(self.pending, n)
            self.pending = self.d.unconsumed_tail
            if piece:
                self.crc, self.size = zlib.crc32(piece, self.crc), self.size + len(piece)
                out.append(piece)
                n -= len(piece)
            if self.d.eof:
                self.buf, self.pending = self.d.unused_data + self.buf, b""     # (the tail repeats unused_data)
                crc, size = struct.unpack("<II", self._take(8))
                if (crc, size) != (self.crc, self.size & 0xFFFFFFFF):
                    raise _refuse("a gzip member's CRC or length does not match its data")
                self.d = None
        return b"".join(out)

    def at_file_end(self) -> bool:
        return not self.buf and not self.pending and not self.f.read(1)


def _entry(z: _Gzip):
    """The next tar header as (name, size, header bytes); None for a zero block (the end of the tar)."""
    buf = z.read(512)
    if len(buf) < 512:
        raise _refuse("the tar stream is cut short")
    if buf == bytes(512):
        return None
    try:
        info = tarfile.TarInfo.frombuf(buf, "utf-8", "surrogateescape")
    except tarfile.HeaderError as e:
        raise _refuse(f"a tar header is not valid ({e})") from None
    if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise _refuse(f"entry '{info.name}' is not a regular file")
    return info.name, info.size, buf


def _small_member(z: _Gzip, name: str, cap: int) -> bytes:
    e = _entry(z)
    if e is None or e[0] != name:
        raise _refuse(f"{name} is missing: the package is unsigned")
    if e[1] > cap:
        raise _refuse(f"{name} claims {e[1]:,} bytes; at most {cap:,} are accepted")
    data = z.read(e[1])
    z.read(-e[1] % 512)
    if len(data) != e[1]:
        raise _refuse("the tar stream is cut short")
    return data


def _safe_path(p) -> bool:
    parts = p.split("/") if isinstance(p, str) else [""]
    return not p.startswith("/") and ".." not in parts and "" not in parts and "\\" not in p and p not in (MANIFEST, SIGNATURE)


def _check_manifest(manifest) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise _refuse(f"manifest format {got!r} is not {FORMAT}" + (" (made by an older edgec: package it again)"
                                                                   if got == "edgec-package/1" else ""))
    files, body = manifest.get("files"), manifest.get("payload")
    if not isinstance(files, dict) or not files:
        raise _refuse("the manifest lists no files")
    for path, meta in files.items():
        if not _safe_path(path):
            raise _refuse(f"entry '{path}' has an unsafe or reserved name")
        if (not isinstance(meta, dict) or not isinstance(meta.get("size"), int) or isinstance(meta.get("size"), bool)
                or meta["size"] < 0 or not SHA256_RE.match(str(meta.get("sha256")))):
            raise _refuse(f"the manifest's entry for {path} has no valid size and sha256")
    if (not isinstance(body, dict) or not isinstance(body.get("size"), int) or isinstance(body.get("size"), bool)
            or body["size"] <= 0 or not SHA256_RE.match(str(body.get("sha256")))):
        raise _refuse("the manifest signs no payload (sha256 and size)")
    for k in ("name", "version", "entry", "library"):
        if not isinstance(manifest.get(k), str):
            raise _refuse(f"the manifest has no {k}")
    if manifest["library"] not in files:
        raise _refuse(f"the manifest's library {manifest['library']} is not among its files")
    try:
        check_name_version(manifest["name"], manifest["version"])
    except EdgecError as e:
        raise _refuse(f"the manifest's {e}") from None


def check_signature(body: bytes, sig_bytes: bytes, key_for) -> tuple[dict, str]:
    """(manifest, key id) once manifest.sig is a valid signature of manifest.json by the key that
    `key_for(key_id)` returns (it raises for a key it does not trust)."""
    doc = signing.parse(sig_bytes)
    signing.check(key_for(doc["key_id"]), body, doc)
    try:
        manifest = json.loads(body)
    except ValueError:
        raise _refuse("manifest.json is not JSON") from None
    _check_manifest(manifest)
    return manifest, doc["key_id"]


class Collect:
    """A sink's writer that keeps a file's bytes in memory (`getvalue()`)."""

    def __init__(self):
        self.parts = []

    def write(self, data: bytes) -> None:
        self.parts.append(bytes(data))

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def _copy(read, size: int, path: str, want: str, writer) -> None:
    """Stream `size` bytes through sha256 (and the writer, closed after if it has close());
    refuse unless they hash to `want`."""
    h, left = hashlib.sha256(), size
    try:
        while left:
            chunk = read(min(CHUNK, left))
            if not chunk:
                raise _refuse(f"{path} is cut short")
            h.update(chunk)
            if writer is not None:
                writer.write(chunk)
            left -= len(chunk)
    finally:
        if hasattr(writer, "close"):
            writer.close()
    if h.hexdigest() != want:
        raise _refuse(f"{path} does not match its sha256 in the manifest (altered)")


def _with_where(fn, where: str):
    try:
        return fn()
    except SignatureError as e:
        if e.where is None:
            raise type(e)(str(e), where=where) from None
        raise
    except (zlib.error, struct.error) as e:
        raise SignatureError(f"not a readable tar.gz ({e})", where=where) from None


def verify_file(f, where: str, key_for, sink=None) -> dict:
    """Check an open package file (seekable, binary): the signature first, then the payload streamed.

    `sink(path, size, manifest)` may return a writer for a file's bytes: they are written as they are
    hashed, then its close() (if any) is called; the caller discards what was written if this raises.  Returns the manifest, the signing key id, the
    sha256 and size of the whole file and of manifest.json, and manifest.json / manifest.sig's bytes."""
    def run():
        z = _Gzip(f)
        body = _small_member(z, MANIFEST, MAX_MANIFEST)
        sig = _small_member(z, SIGNATURE, MAX_SIGNATURE)
        manifest, kid = check_signature(body, sig, key_for)
        first = head({MANIFEST: body, SIGNATURE: sig})
        f.seek(0)
        if f.read(len(first)) != first:
            raise _refuse("the bytes before the payload are not the canonical encoding of manifest.json and "
                          "manifest.sig (unsigned bytes)")
        signed, files = manifest["payload"], manifest["files"]
        whole, body_hash = hashlib.sha256(first), hashlib.sha256()
        z = _Gzip(f, len(first), multi=False, digests=(whole, body_hash), limit=signed["size"] + SLACK)
        for path in sorted(files):
            e = _entry(z)
            if e is None:
                raise _refuse(f"file missing from the package: {path}")
            name, size, header = e
            if name != path:
                raise _refuse(f"file not in the manifest: {name}" if name not in files else
                              f"file missing from the package: {path}" if name > path else f"entry '{name}' is repeated or out of order")
            if size != files[path]["size"]:
                raise _refuse(f"{path} has {size:,} bytes, the manifest signs {files[path]['size']:,} (altered)")
            if header != _tar_header(path, size):
                raise _refuse(f"the tar header of {path} is not the canonical one (unsigned bytes)")
            _copy(z.read, size, path, files[path]["sha256"], sink(path, size, manifest) if sink else None)
            if z.read(-size % 512) != bytes(-size % 512):
                raise _refuse(f"the padding after {path} is not zero (unsigned bytes)")
        e = _entry(z)
        if e is not None:
            raise _refuse(f"file not in the manifest: {e[0]}" if e[0] not in files else f"entry '{e[0]}' is repeated")
        if z.read(512) != bytes(512) or z.read(1):
            raise _refuse("data after the end of the tar (unsigned bytes)")
        if not z.at_file_end():
            raise _refuse("bytes after the payload's gzip member (a second gzip member or appended data: unsigned)")
        if z.raw != signed["size"] or body_hash.hexdigest() != signed["sha256"]:
            raise _refuse(f"the payload ({z.raw:,} bytes) is not the one the manifest signs ({signed['size']:,} bytes, "
                          f"sha256 {signed['sha256'][:16]}…): its compressed bytes differ")
        return {"manifest": manifest, "key_id": kid, "sha256": whole.hexdigest(), "size": len(first) + z.raw,
                "manifest_sha256": sha256(body), "manifest_json": body, "manifest_sig": sig}
    return _with_where(run, where)


def _open_regular(path: Path, rel: str, limit: int | None = None):
    """A file of an unpacked package, opened without following a symbolic link; (fd, size)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _refuse(f"{rel} is a symbolic link") from None
        if e.errno == errno.ENOENT:
            raise _refuse(f"{rel} is missing" + (": the package is unsigned" if rel in (MANIFEST, SIGNATURE) else "")) from None
        raise _refuse(f"cannot read {rel}: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _refuse(f"{rel} is not a regular file")
    if limit is not None and st.st_size > limit:
        os.close(fd)
        raise _refuse(f"{rel} has {st.st_size:,} bytes; at most {limit:,} are accepted")
    return fd, st.st_size


def verify_dir(directory: str, where: str, key_for, sink=None) -> dict:
    """Check an unpacked package directory the same way: manifest and signature first, then every
    listed file (no more, no fewer, no symbolic links), each read at most to its signed size."""
    root = Path(directory)

    def small(name, cap):
        fd, size = _open_regular(root / name, name, cap)
        with os.fdopen(fd, "rb") as fh:
            return fh.read(cap + 1)

    def run():
        body, sig = small(MANIFEST, MAX_MANIFEST), small(SIGNATURE, MAX_SIGNATURE)
        manifest, kid = check_signature(body, sig, key_for)
        present = set()
        for dirpath, dirs, names in os.walk(root):
            for n in dirs + names:
                p = Path(dirpath) / n
                if p.is_symlink():
                    raise _refuse(f"{p.relative_to(root).as_posix()} is a symbolic link")
            present.update((Path(dirpath) / n).relative_to(root).as_posix() for n in names)
        listed = set(manifest["files"])
        present -= {MANIFEST, SIGNATURE}
        if listed - present:
            raise _refuse(f"file missing from the package: {sorted(listed - present)[0]}")
        if present - listed:
            raise _refuse(f"file not in the manifest: {sorted(present - listed)[0]}")
        for path in sorted(listed):
            want = manifest["files"][path]
            fd, size = _open_regular(root / path, path)
            with os.fdopen(fd, "rb") as fh:
                if size != want["size"]:
                    raise _refuse(f"{path} has {size:,} bytes, the manifest signs {want['size']:,} (altered)")
                _copy(fh.read, size, path, want["sha256"], sink(path, size, manifest) if sink else None)
        return {"manifest": manifest, "key_id": kid, "sha256": None, "size": None, "manifest_sha256": sha256(body),
                "manifest_json": body, "manifest_sig": sig}
    return _with_where(run, where)


def read_members(data: bytes, where: str, limit: int = 256 << 20) -> dict:
    """{path: bytes} of a package, UNVERIFIED (for tools and tests that take packages apart): only
    regular files with plain relative names, each once, at most `limit` bytes in all."""
    members, total = {}, 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar:
                if not m.isfile():
                    raise SignatureError(f"entry '{m.name}' is not a regular file", where=where)
                parts = m.name.split("/")
                if m.name.startswith("/") or ".." in parts or "" in parts or m.name in members:
                    raise SignatureError(f"entry '{m.name}' has an unsafe or repeated name", where=where)
                total += m.size
                if total > limit:
                    raise SignatureError(f"more than {limit:,} bytes unpacked", where=where)
                members[m.name] = tar.extractfile(m).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise SignatureError(f"not a readable tar.gz ({str(e) or type(e).__name__})", where=where) from None
    return members


def verify(package: str, pubkey: str) -> dict:
    """Check a package file against a trusted public key; returns the manifest and the package sha256."""
    public_key = signing.load_public(pubkey)
    try:
        f = open(package, "rb")
    except OSError as e:
        raise SignatureError(f"cannot read package: {e.strerror}", where=str(package)) from None
    with f:
        r = verify_file(f, str(package), lambda kid: public_key)
    manifest = r["manifest"]
    return {"package": str(package), "sha256": r["sha256"], "size": r["size"], "key_id": signing.key_id(public_key),
            "name": manifest["name"], "version": manifest["version"], "files": len(manifest["files"]), "manifest": manifest}
