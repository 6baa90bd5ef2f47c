"""System V shared memory, as the retired agent's clients used it for big tensors: a Tensor or an
AuxilaryData may carry a SharedMemoryHandle{size, offset, segment_id} (a `shmget` id) instead of
bytes, and the agent reads `size` bytes at `offset` of that segment.  The segment's size comes from
/proc/sysvipc/shm, so a handle that points past its end is refused (INVALID_ARGUMENT) instead of
faulting the agent."""
from __future__ import annotations

import ctypes
import ctypes.util

from .models import AgentError

SHM_RDONLY = 0o10000
_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        _libc.shmat.restype, _libc.shmat.argtypes = ctypes.c_void_p, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        _libc.shmdt.restype, _libc.shmdt.argtypes = ctypes.c_int, [ctypes.c_void_p]
    return _libc


def segment_size(segment_id: int) -> int | None:
    try:
        with open("/proc/sysvipc/shm") as f:
            next(f)
            for line in f:
                cols = line.split()
                if len(cols) > 3 and int(cols[1]) == segment_id:
                    return int(cols[3])
    except OSError:
        return None
    return None


def read(handle) -> bytes:
    """The bytes a SharedMemoryHandle names."""
    sid, off, size = int(handle.segment_id), int(handle.offset), int(handle.size)
    total = segment_size(sid)
    if total is None:
        raise AgentError("INVALID_ARGUMENT", f"shared memory segment {sid} does not exist")
    if off + size > total:
        raise AgentError("INVALID_ARGUMENT", f"shared memory handle (offset {off}, size {size}) goes past the end of "
                         f"segment {sid} ({total} bytes)")
    libc = _lib()
    addr = libc.shmat(sid, None, SHM_RDONLY)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        err = ctypes.get_errno()
        raise AgentError("INVALID_ARGUMENT", f"cannot attach shared memory segment {sid}: {__import__('os').strerror(err)}")
    try:
        return ctypes.string_at(addr + off, size)
    finally:
        libc.shmdt(addr)
