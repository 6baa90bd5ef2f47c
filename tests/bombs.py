"""Hostile packages for the verification tests: decompression bombs and their peak-memory probe."""
from __future__ import annotations

import struct
import subprocess
import sys
import tarfile
import zlib

GIB = 1 << 30


def tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def gzip_bomb(name: str, size: int = 2 * GIB) -> bytes:
    """One gzip member holding a tar with one `size`-byte member of zeros, about size / 1000 bytes long.
    Made without inflating anything: after a full flush deflate restarts, so every MiB of zeros
    compresses to the same bytes, and the CRC is taken over the same MiB again and again."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    mib, header = bytes(1 << 20), tar_header(name, size)
    out = [c.compress(header), c.flush(zlib.Z_FULL_FLUSH)]
    unit = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    out.append(unit * (size >> 20))
    for _ in range(size >> 20):
        crc = zlib.crc32(mib, crc)
    end = bytes(1024)
    out.append(c.compress(end) + c.flush())
    crc = zlib.crc32(end, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + b"".join(out)
            + struct.pack("<II", crc, (len(header) + size + len(end)) & 0xFFFFFFFF))


_PROBE = ("import resource, subprocess, sys, time; t = time.time(); "
          "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
          "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.time() - t); "
          "sys.stderr.write(r.stderr)")


def peak_rss(*cmd) -> tuple[int, int, float, str]:
    """Run cmd as the only child of a fresh probe process: (exit code, peak RSS in MiB, seconds, stderr)."""
    r = subprocess.run([sys.executable, "-c", _PROBE, *map(str, cmd)], capture_output=True, text=True)
    code, kib, secs = r.stdout.split()
    return int(code), int(kib) // 1024, float(secs), r.stderr


def vm_hwm(pid: int) -> int:
    """Peak resident memory of a running process, MiB (Linux /proc)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")

