"""A signed package's shared library loaded in this process: what the device agent serves and what
`fleet monitor` runs a baseline through, so both layers above the package format share one loader.

The library lives in a sealed memfd (Library): the bytes that were verified are the bytes that run.
Errors carry the gRPC status code the retired agent used (ServingError; the agent calls it AgentError)."""
from __future__ import annotations

import ctypes
import fcntl
import os
import threading
import time
from collections import deque

import numpy as np

from ..compiler.errors import EdgecError
from ..compiler.fixedpoint import quantize_float_input


def write_all(fd: int, data: bytes) -> None:
    """Every byte to fd, continuing after short writes (a full disk or a file size limit ends with an
    OSError, never with a partial file reported as written)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class ServingError(EdgecError):
    """An error with the gRPC status code the retired agent used for it (FLEET.md)."""

    def __init__(self, code: str, message: str, **kw):
        super().__init__(message, **kw)
        self.code = code


def quantize(x, scale: float, zero_point: int, division: str = "float64") -> np.ndarray:
    """float -> int8 exactly as `edgec run` does (fixedpoint.quantize_float_input): `division` "float32" for a
    .tflite whose own QUANTIZE edge edgec dropped (the package's input spec says "quantize": "float32")."""
    return quantize_float_input(x, scale, zero_point, division)


class Library:
    """A verified shared library in memory only the agent holds: a memfd (no name in any directory,
    so no other user can open, replace or change it), written as the package is checked, then
    sealed against every further write, and dlopen'ed through /proc/self/fd.  The descriptor stays
    open while the library is loaded, so its path names this file and no other."""

    SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE

    def __init__(self, name: str):
        self.fd = os.memfd_create(f"edgec-{name}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)

    def write(self, data: bytes) -> None:
        write_all(self.fd, data)

    def seal(self) -> "Library":
        fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, self.SEALS)
        return self

    @property
    def path(self) -> str:
        return f"/proc/self/fd/{self.fd}"

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Model:
    """One loaded package: its manifest and its library's run function."""

    def __init__(self, name: str, url: str, manifest: dict, key_id: str, library: "Library | bytes"):
        """`library`: the verified library in a sealed memfd (or its bytes, which go into one here)."""
        self.name, self.url, self.manifest, self.key_id = name, url, manifest, key_id
        self.version = manifest["version"]
        self.manifest_sha256 = manifest.get("_sha256", "")
        (inp,), (out,) = manifest["inputs"], manifest["outputs"]
        self.input, self.output = inp, out
        self.in_bytes, self.out_bytes = int(np.prod(inp["shape"])), int(np.prod(out["shape"]))
        mem = manifest.get("memory", {})
        self.ram_bytes = sum(int(mem.get(k) or 0) for k in ("arena_bytes", "io_bytes", "weight_bytes"))
        self.lock = threading.Lock()
        self.closed = False
        self.inferences = 0
        self.latencies = deque(maxlen=2048)          # seconds, of the latest Predict calls
        if not isinstance(library, Library):
            lib = Library(name)
            try:
                lib.write(library)
            except BaseException:
                lib.discard()
                raise
            library = lib
        self._library = library.seal()                # the descriptor stays open while the library is loaded
        try:
            self._lib = ctypes.CDLL(library.path)
            self._run = getattr(self._lib, manifest["entry"])
        except (OSError, AttributeError) as e:
            library.discard()
            raise ServingError("FAILED_PRECONDITION", f"cannot load its library: {e}", where=url) from None
        self._run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._run.restype = ctypes.c_int
        self._in = ctypes.create_string_buffer(self.in_bytes)
        self._out = ctypes.create_string_buffer(self.out_bytes)

    # ---- tensors ---------------------------------------------------------------------------
    def quantize(self, x: np.ndarray) -> np.ndarray:
        return quantize(x, self.input["scale"], self.input["zero_point"], self.input.get("quantize", "float64"))

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        s, zp = self.output["scale"], self.output["zero_point"]
        return ((q.astype(np.float64) - zp) * s).astype(np.float32)

    def run_int8(self, q_in: bytes) -> bytes:
        """One inference on raw int8 bytes; the caller holds no lock (this takes the model's)."""
        with self.lock:
            if self.closed:
                raise Closed()
            t0 = time.perf_counter()
            if self.input.get("c_api", {}).get("dtype") == "uint8":       # a .tflite's uint8 edge: v = q ^ 0x80
                q_in = bytes(b ^ 0x80 for b in q_in[:self.in_bytes])
            ctypes.memmove(self._in, q_in, self.in_bytes)
            rc = self._run(self._in, self._out)
            out = self._out.raw
            if self.output.get("c_api", {}).get("dtype") == "uint8":
                out = bytes(b ^ 0x80 for b in out)
            self.latencies.append(time.perf_counter() - t0)
            self.inferences += 1
        if rc != 0:
            raise ServingError("INTERNAL", f"{self.manifest['entry']} returned {rc}")
        return out

    def close(self) -> None:
        """Wait for the call in flight, then unload the library."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            handle = self._lib._handle
            self._run = self._lib = None
        try:
            import _ctypes
            _ctypes.dlclose(handle)
        except (ImportError, OSError):
            pass
        self._library.discard()                      # after dlclose: its /proc/self/fd name is free again

    def stats(self) -> dict:
        lat = sorted(self.latencies)
        pct = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3, 3)) if lat else (lambda p: None)
        return {"name": self.name, "version": self.version, "inferences": self.inferences, "ram_bytes": self.ram_bytes,
                "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99)}}

    def describe(self) -> dict:
        return {"name": self.name, "url": self.url, "version": self.version, "model": self.manifest.get("model"),
                "target": self.manifest.get("target"), "device_target": self.manifest.get("device_target"),
                "key_id": self.key_id, "package_sha256": self.manifest_sha256, "ram_bytes": self.ram_bytes,
                "inference_count": self.inferences, "inputs": [self.input], "outputs": [self.output]}


class Closed(Exception):
    """The model was replaced or unloaded between lookup and call: look it up again."""
