"""The models an agent serves: signed packages checked, their shared libraries loaded, a RAM budget.

`ModelStore.load(url, name)` accepts a package (.tar.gz) or an unpacked package directory only when
the manifest's signature is by one of the trusted keys and every file matches its sha256 (the same
checks as `edgec package verify`, package/archive.py), the package's device target is this machine's,
and the model fits the RAM budget beside the models already loaded.  The library that runs is the
one whose bytes were verified: they are written, as they are hashed, into a memfd only the agent
holds, which is sealed and dlopen'ed through /proc/self/fd (Library), so nothing can swap it between
the check and the load, no file of it exists, and two loads of one package never share the
library's static arena.

Anti-rollback: the store keeps, per model name, the newest version it has accepted (versions.json
in the agent's state, written durably before the new version serves).  A package older than that
(package.version_key order) is refused with FAILED_PRECONDITION, by LoadModel and by rollouts alike,
and across restarts, unless the caller passes a downgrade allowance: a rollout does so only for a
job document carrying an allowance signed by a trusted key (rollout.py), for exactly the version
that is the record now (`allow_downgrade_from`); the record then goes down to the allowed version.

A model counts arena + I/O + weight bytes against the budget (the arena and the weights of the
library are both resident on a Linux device).  Calls into one model are serialized (the generated
run function is not reentrant: one static arena); different models run in parallel (ctypes drops
the GIL during the call).  Replacing a model (`replace=True`, what a rollout does) loads the new
version beside the old one, switches the name over in one step and closes the old library once
its in-flight call has returned: a request never sees a missing model.
"""
from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from ..compiler.errors import EdgecError
from ..package import archive as pkg
from ..package import signing
from ..package.hostlib import host_device_target
from ..package.loaded import Closed as _Closed
from ..package.loaded import Library, Model, write_all
from ..package.loaded import ServingError as AgentError
from ..package.signing import MalformedSignature, SignatureError


def private_dir(path: Path, mode: int = 0o700) -> Path:
    """A directory of the agent's user, whatever the umask: missing components are made 0700 and the
    directory itself gets `mode` (0700 for state; the socket's run directory is 0750)."""
    path = Path(path)
    missing, p = [], path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
    os.chmod(path, mode)
    return path


def fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    """A file written whole or not at all: a private temporary file beside it (0600), every byte
    written, fsync'ed, renamed into place, the directory fsync'ed; the temporary file is removed on
    any failure."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_state(path: Path, obj) -> None:
    """A JSON state file, written as write_file writes."""
    write_file(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def state_error(e: OSError, what: str) -> AgentError:
    """A failed write of the agent's state: RESOURCE_EXHAUSTED when the disk has no room, else INTERNAL."""
    code = "RESOURCE_EXHAUSTED" if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "INTERNAL"
    return AgentError(code, f"{what}: {e.strerror}")


#: DataType values of agent.proto that Predict accepts, with their numpy dtypes.
FLOAT32, INT8 = 5, 7
DTYPES = {FLOAT32: np.dtype("<f4"), INT8: np.dtype("i1")}
DTYPE_NAMES = {0: "UINT8", 1: "INT16", 2: "INT32", 3: "INT64", 4: "FLOAT16", 5: "FLOAT32", 6: "FLOAT64", 7: "INT8"}


def check_name(name: str) -> None:
    if not pkg.NAME_RE.match(name or "") or len(name) > 63:
        raise AgentError("INVALID_ARGUMENT", f"model name '{name}' does not match ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


def load_trusted_keys(directory: Path) -> dict:
    """{key id: public key} of every *.pub / *.pem public key in the directory."""
    keys = {}
    for f in sorted(directory.glob("*")):
        if f.suffix in (".pub", ".pem") and f.is_file():
            try:
                k = signing.load_public(str(f))
            except EdgecError:
                continue
            keys[signing.key_id(k)] = k
    return keys


def package_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


class ModelStore:
    def __init__(self, trusted_keys: dict, ram_budget: int | None, state_file: Path | None = None,
                 device_target: str | None = None, versions_file: Path | None = None):
        self.keys, self.budget, self.state_file = trusted_keys, ram_budget, state_file
        self.device_target = device_target or host_device_target()
        self.versions_file = versions_file
        self.versions = self._read_versions()      # model name -> {"version": newest accepted, "at": when}
        self.models: dict[str, Model] = {}
        self.lock = threading.RLock()            # guards the name -> model map (never held during inference)
        self.loading: set[str] = set()

    # ---- loading -------------------------------------------------------------------------
    def _key_for(self, url: str):
        def key_for(kid: str):
            if kid not in self.keys:
                raise AgentError("FAILED_PRECONDITION", f"signed by key {kid}, which this device does not trust "
                                 f"(trusted: {', '.join(sorted(self.keys)) or 'none'})", where=url)
            return self.keys[kid]
        return key_for

    def _verify(self, url: str, name: str = "model") -> tuple[dict, str, Library, str]:
        """(manifest, key id, library, local path) of a package file or unpacked directory, verified
        as `edgec package verify` does: signature first, then every file streamed up to its signed
        size; the library's bytes go into a memfd as they are hashed (the caller owns it)."""
        lib = Library(name)
        try:
            return self._verify_into(url, lib)
        except BaseException:
            lib.discard()
            raise

    def _verify_into(self, url: str, lib: Library) -> tuple[dict, str, Library, str]:
        path = package_path(url)
        p = Path(path)
        sink = lambda member, size, manifest: lib if member == manifest["library"] else None
        try:
            if p.is_file():
                with open(p, "rb") as f:
                    r = pkg.verify_file(f, path, self._key_for(url), sink)
            elif p.is_dir():
                r = pkg.verify_dir(path, path, self._key_for(url), sink)
            else:
                raise AgentError("NOT_FOUND", "no package file or directory here", where=path)
        except MalformedSignature as e:
            raise AgentError("INVALID_ARGUMENT", f"refused: {e}") from None
        except SignatureError as e:
            raise AgentError("FAILED_PRECONDITION", f"refused: {e}") from None
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.ENOMEM):
                raise AgentError("RESOURCE_EXHAUSTED", f"no room for the library: {e.strerror}", where=path) from None
            raise AgentError("FAILED_PRECONDITION", f"cannot read the package: {e.strerror}", where=path) from None
        manifest = r["manifest"]
        if manifest.get("device_target") != self.device_target:
            raise AgentError("FAILED_PRECONDITION", f"package is built for {manifest.get('device_target')}, "
                             f"this device is {self.device_target}", where=url)
        if len(manifest.get("inputs") or []) != 1 or len(manifest.get("outputs") or []) != 1:
            raise AgentError("FAILED_PRECONDITION", "package has not one input and one output", where=url)
        manifest["_sha256"] = r["manifest_sha256"]
        return manifest, r["key_id"], lib, str(p.resolve())

    def _usage(self, excluding: str | None = None) -> list:
        return [(m.name, m.version, m.ram_bytes) for m in self.models.values() if m.name != excluding]

    def check_version(self, name: str, version: str, allow_downgrade_from: str | None = None) -> str | None:
        """The version record for `name` if `version` may load under it; FAILED_PRECONDITION if it is
        older than the newest this device accepted, unless the allowance names exactly that one."""
        with self.lock:
            newest = (self.versions.get(name) or {}).get("version")
        if newest is None or pkg.version_key(version) >= pkg.version_key(newest):
            return newest
        if allow_downgrade_from is not None and pkg.version_key(allow_downgrade_from) == pkg.version_key(newest):
            return newest
        raise AgentError("FAILED_PRECONDITION", f"{name} {version} is older than {newest}, the newest version this device "
                         f"has accepted for '{name}' (anti-rollback)" + (
                             f"; the downgrade allowance is from {allow_downgrade_from}, not {newest}" if allow_downgrade_from else ""),
                         hint=f"a downgrade needs an allowance signed by the fleet key: `edgec fleet deploy ... "
                              f"--version {version} --allow-downgrade-from {newest} --key KEY`")

    def _record_version(self, name: str, version: str) -> None:
        """Make `version` the record for `name` (durably, before it serves)."""
        with self.lock:
            new = {**self.versions, name: {"version": version, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
            if self.versions_file is not None:
                write_state(self.versions_file, new)
            self.versions = new

    def _read_versions(self) -> dict:
        if self.versions_file is None or not self.versions_file.exists():
            return {}
        try:
            data = json.loads(self.versions_file.read_text())
            if not isinstance(data, dict) or not all(isinstance(v, dict) and isinstance(v.get("version"), str) for v in data.values()):
                raise ValueError("not {name: {version}}")
        except (OSError, ValueError) as e:
            # the anti-rollback record must not quietly start over: refuse to run until someone looks
            raise EdgecError(f"the version record is unreadable ({e})", where=str(self.versions_file),
                             hint="restore it from a backup, or move it away to accept any signed version again") from None
        return data

    def load(self, url: str, name: str, replace: bool = False, allow_downgrade_from: str | None = None) -> Model:
        check_name(name)
        with self.lock:
            if (name in self.models and not replace) or name in self.loading:
                raise AgentError("ALREADY_EXISTS", f"a model named '{name}' is already loaded"
                                 + (f" (version {self.models[name].version})" if name in self.models else " (loading)"))
            self.loading.add(name)
        lib = None
        try:
            manifest, kid, lib, where = self._verify(url, name)
            newest = self.check_version(name, manifest["version"], allow_downgrade_from)
            need = sum(int((manifest.get("memory") or {}).get(k) or 0) for k in ("arena_bytes", "io_bytes", "weight_bytes"))
            with self.lock:
                others = self._usage(excluding=name if replace else None)
                used = sum(b for _, _, b in others)
                if self.budget is not None and used + need > self.budget:
                    what = ", ".join(f"{n} {v} {b:,} B" for n, v, b in others) or "nothing"
                    raise AgentError("RESOURCE_EXHAUSTED", f"model '{name}' needs {need:,} B of RAM; the budget is "
                                     f"{self.budget:,} B and {used:,} B are in use (loaded: {what})")
            model, lib = Model(name, where, manifest, kid, lib), None
            if manifest["version"] != newest:
                try:
                    self._record_version(name, manifest["version"])
                except OSError as e:
                    model.close()
                    raise state_error(e, f"cannot record version {manifest['version']} of '{name}'") from None
            with self.lock:
                old = self.models.get(name)
                self.models[name] = model
                try:
                    self._save()
                except OSError as e:                  # not recorded, so not loaded: put the old one back
                    if old is None:
                        del self.models[name]
                    else:
                        self.models[name] = old
                    model.close()
                    raise state_error(e, f"cannot record that '{name}' is loaded") from None
        finally:
            if lib is not None:                       # refused before a Model took the library over
                lib.discard()
            with self.lock:
                self.loading.discard(name)
        if old is not None:
            old.close()
        return model

    def unload(self, name: str) -> Model:
        with self.lock:
            m = self.models.pop(name, None)
            if m is None:
                raise AgentError("NOT_FOUND", f"no model named '{name}' is loaded")
            try:
                self._save()
            except OSError as e:
                self.models[name] = m
                raise state_error(e, f"cannot record that '{name}' is unloaded") from None
        m.close()
        return m

    def get(self, name: str) -> Model:
        with self.lock:
            m = self.models.get(name)
        if m is None:
            raise AgentError("NOT_FOUND", f"no model named '{name}' is loaded")
        return m

    def list(self) -> list:
        with self.lock:
            return sorted(self.models.values(), key=lambda m: m.name)

    # ---- inference ------------------------------------------------------------------------
    def predict(self, name: str, data: bytes, dtype: int, shape: list) -> tuple[Model, np.ndarray]:
        """(model, output): float32 in -> dequantized float32 out; INT8 in -> raw int8 out."""
        for _ in range(100):
            m = self.get(name)
            if dtype not in DTYPES:
                raise AgentError("INVALID_ARGUMENT", f"tensor type {DTYPE_NAMES.get(dtype, dtype)} is not accepted by "
                                 f"'{name}': send FLOAT32 (quantized by the agent) or INT8 (the model's own quantization)")
            if list(shape) != list(m.input["shape"]):
                raise AgentError("INVALID_ARGUMENT", f"tensor shape {list(shape)} does not match '{name}' input "
                                 f"{m.input['name']} {m.input['shape']}")
            want = m.in_bytes * DTYPES[dtype].itemsize
            if len(data) != want:
                raise AgentError("INVALID_ARGUMENT", f"tensor has {len(data)} bytes, {DTYPE_NAMES[dtype]} "
                                 f"{m.input['shape']} needs {want}")
            if dtype == FLOAT32:
                x = np.frombuffer(data, dtype=DTYPES[FLOAT32])
                if not np.isfinite(x).all():
                    raise AgentError("INVALID_ARGUMENT", "tensor contains NaN or infinity")
                q = m.quantize(x).tobytes()
            else:
                q = data
            try:
                out = np.frombuffer(m.run_int8(q), dtype=np.int8).reshape(m.output["shape"])
            except _Closed:
                continue                         # replaced by a new version meanwhile: use that one
            return m, (m.dequantize(out) if dtype == FLOAT32 else out)
        raise AgentError("UNAVAILABLE", f"model '{name}' kept being replaced; retry")

    # ---- persistence -----------------------------------------------------------------------
    def _save(self) -> None:
        """What is loaded, so a restarted agent serves the same models (written atomically)."""
        if self.state_file is None:
            return
        state = {m.name: {"url": m.url, "version": m.version, "inferences": m.inferences} for m in self.models.values()}
        write_state(self.state_file, state)

    def save(self) -> None:
        """Record what is loaded and the inference counts (on stop and with each heartbeat)."""
        with self.lock:
            self._save()

    def restore(self, log) -> None:
        if self.state_file is None or not self.state_file.is_file():
            return
        try:
            state = json.loads(self.state_file.read_text())
        except ValueError:
            log(f"ignoring unreadable {self.state_file}")
            return
        for name, entry in sorted(state.items()):
            try:
                m = self.load(entry["url"], name)
                count = entry.get("inferences")
                if m.version == entry.get("version") and isinstance(count, int) and count > 0:
                    m.inferences = count                 # the counter goes on across restarts
                log(f"restored {name} {entry.get('version')} from {entry['url']}")
            except EdgecError as e:
                log(f"could not restore {name}: {e}")
        self._save()
