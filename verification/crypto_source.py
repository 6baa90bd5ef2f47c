"""The C crypto the device runtime uses (SHA-256, Ed25519 verification): libsodium's own portable C,
never hand-written crypto.

libsodium is not vendored.  Its source ships inside PyPI's sdist of pynacl (pinned below and in
constraints.txt): `fetch()` downloads that exact sdist with pip into the user cache (EDGEC_CACHE,
else $XDG_CACHE_HOME/edgec, else ~/.cache/edgec), refuses it unless its SHA-256 is the pinned one,
and extracts only the files the verify path needs.  An offline machine can point EDGEC_PYNACL_SDIST
at a copy of the same tarball (checked against the same hash).

What is compiled: SHA-256 and SHA-512 ("cp", portable C), crypto_verify, the ref10 Ed25519 group
code with its 32-bit field arithmetic (fe_25_5, the same on the host and on a Cortex-M: no 128-bit
integers) and the ref10 sign/open files (open.c verifies; sign.c holds the hash prefix open.c uses,
the rest is dropped by --gc-sections).  libsodium's utils.c / core.c need an operating system
(mmap, random numbers), so runtime_c/edgec_crypto.c defines the three helpers the verify path calls
(sodium_memzero, sodium_memcmp, sodium_is_zero); a freestanding build gets empty <stdlib.h> and
<sys/types.h> (only <stddef.h>'s types are used) and the firmware's memcpy/memset/memmove/abort.

Licence: libsodium is ISC (Copyright (c) 2013-2026 Frank Denis); verification/LICENSE.libsodium is its
text, which the sdist also carries (src/libsodium/LICENSE) and which a firmware shipping these
objects must reproduce.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..compiler.data import file_sha256
from ..compiler.errors import ToolchainError

PYNACL_VERSION = "1.6.2"
SDIST = f"pynacl-{PYNACL_VERSION}.tar.gz"
SDIST_SHA256 = "018494d6d696ae03c7e656e5e74cdfd8ea1326962cc401bcf018f1ed8436811c"
_ROOT = f"pynacl-{PYNACL_VERSION}/src/libsodium/src/libsodium/"

#: The translation units of the verify path, relative to libsodium's src/libsodium.
SOURCES = (
    "crypto_hash/sha256/cp/hash_sha256_cp.c",
    "crypto_hash/sha512/cp/hash_sha512_cp.c",
    "crypto_verify/verify.c",
    "crypto_core/ed25519/ref10/ed25519_ref10.c",
    "crypto_sign/ed25519/ref10/open.c",
    "crypto_sign/ed25519/ref10/sign.c",
)
#: Directories whose headers those files include (the public headers and private/ live in include/sodium).
HEADER_DIRS = ("include/sodium", "crypto_core/ed25519/ref10/fe_25_5", "crypto_sign/ed25519/ref10")
#: CONFIGURED: the headers' "undocumented build" warning is for builds without a config.h; these
#: defines are the config.h of a static, portable little-endian build (x86-64 host, Cortex-M).
DEFINES = ("CONFIGURED=1", "SODIUM_STATIC=1", "NATIVE_LITTLE_ENDIAN=1")
_FREESTANDING = {"stdlib.h": "#include <stddef.h>\nvoid abort(void);\n", "sys/types.h": "#include <stddef.h>\n"}


@dataclass(frozen=True)
class CryptoSources:
    """What a build adds to compile libsodium's verify path.  `include` are the headers of the
    library (put them before the firmware's own); `freestanding_include` is only for toolchains
    without a C library (the emulator harness's)."""
    sources: tuple
    include: tuple
    defines: tuple
    freestanding_include: Path
    license: Path

    def objects_flags(self, freestanding: bool) -> list:
        """cc flags for the library's own files: its defines and include dirs."""
        inc = list(self.include) + ([self.freestanding_include] if freestanding else [])
        return [*(f"-D{d}" for d in self.defines), *(f"-I{i}" for i in inc)]


def cache_dir() -> Path:
    if os.environ.get("EDGEC_CACHE"):
        return Path(os.environ["EDGEC_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgec"


def _download(into: Path) -> Path:
    given = os.environ.get("EDGEC_PYNACL_SDIST")
    if given:
        return Path(given)
    cmd = [sys.executable, "-m", "pip", "download", f"pynacl=={PYNACL_VERSION}", "--no-binary", ":all:",
           "--no-deps", "-d", str(into)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    got = into / SDIST
    if r.returncode != 0 or not got.exists():
        last = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise ToolchainError(f"cannot download libsodium's source (pynacl=={PYNACL_VERSION} sdist from PyPI): {last}",
                             hint=f"set EDGEC_PYNACL_SDIST to a downloaded {SDIST} (sha256 {SDIST_SHA256})")
    return got


def fetch() -> CryptoSources:
    """libsodium's verify-path sources, fetched and checked once per machine."""
    cache = cache_dir()
    dest = cache / f"libsodium-pynacl-{PYNACL_VERSION}-{SDIST_SHA256[:12]}"
    if not (dest / "LICENSE").exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".libsodium-") as tmp:
            tmp = Path(tmp)
            tarball = _download(tmp)
            digest = file_sha256(tarball)
            if digest != SDIST_SHA256:
                raise ToolchainError(f"{tarball.name} has sha256 {digest}, not the pinned {SDIST_SHA256}: refused",
                                     hint="the download was altered or is another release; remove it and retry")
            out = tmp / "libsodium"
            wanted = {_ROOT + s for s in SOURCES}
            with tarfile.open(tarball) as tar:
                for m in tar.getmembers():
                    name = m.name
                    keep = name in wanted or (m.isfile() and name.endswith(".h")
                                              and any(name.startswith(_ROOT + d + "/") for d in HEADER_DIRS))
                    if name == f"pynacl-{PYNACL_VERSION}/src/libsodium/LICENSE":
                        (out).mkdir(parents=True, exist_ok=True)
                        (out / "LICENSE").write_bytes(tar.extractfile(m).read())
                    elif keep and m.isfile():
                        target = out / name[len(_ROOT):]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(tar.extractfile(m).read())
            for rel, text in _FREESTANDING.items():
                (out / "freestanding" / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / "freestanding" / rel).write_text(text)
            missing = [s for s in SOURCES if not (out / s).exists()]
            if missing or not (out / "LICENSE").exists():
                raise ToolchainError(f"{SDIST} lacks {', '.join(missing) or 'LICENSE'}")
            try:
                os.replace(out, dest)           # atomic: a concurrent fetch either wins or finds it done
            except OSError:
                if not (dest / "LICENSE").exists():
                    raise
                shutil.rmtree(out, ignore_errors=True)
    return CryptoSources(tuple(dest / s for s in SOURCES), (dest / "include" / "sodium",), DEFINES, dest / "freestanding", dest / "LICENSE")
