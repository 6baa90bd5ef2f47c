"""The shared library a device agent loads: the build's own C, compiled for the device's CPU.

A build for a microcontroller may ship an optimized kernel variant (e.g. the Arm DSP `edgec_dot.h`);
report.json names each one, and the library uses the portable file of the same name instead, the
same swap `edgec verify --on host` checks bit for bit.  The build is reproducible: sources are
compiled by relative name in a scratch directory, with the path mapped away and a fixed random
seed, so the same sources give a byte-identical library (the package's determinism depends on it).
"""
from __future__ import annotations

import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..compiler.errors import EdgecError, ToolchainError
from ..verification.toolchain import first_error

LIBRARY = "libmodel.so"
CFLAGS = ("-shared", "-fPIC", "-O2", "-std=c99", "-frandom-seed=edgec", "-Wl,--build-id=sha1", f"-Wl,-soname,{LIBRARY}")


@dataclass(frozen=True)
class DeviceTarget:
    """A Linux device CPU: which compiler builds for it and which ELF machine proves it did."""
    name: str
    machine: str            # platform.machine() of a host that can build natively
    cross_cc: str           # the Debian cross compiler
    elf_machine: int        # e_machine of the produced ELF
    apt: str
    #: "linux": the package carries lib/libmodel.so for the agent; "mcu": a microcontroller, the package
    #: carries the model image and its signed device manifest (fleet/mcu.py), no code
    kind: str = "linux"

    def compiler(self) -> str:
        if shutil.which(self.cross_cc):
            return self.cross_cc
        if platform.machine() == self.machine and shutil.which("cc"):
            return "cc"
        raise ToolchainError(f"no C compiler for device target {self.name}", hint=f"install with: sudo apt-get install {self.apt}")


DEVICE_TARGETS = {t.name: t for t in [
    DeviceTarget("linux-x86_64", "x86_64", "x86_64-linux-gnu-gcc", 62, "gcc"),
    DeviceTarget("linux-aarch64", "aarch64", "aarch64-linux-gnu-gcc", 183, "gcc-aarch64-linux-gnu"),
    DeviceTarget("cortex-m4", "", "arm-none-eabi-gcc", 40, "gcc-arm-none-eabi qemu-system-arm", kind="mcu"),
]}


def host_device_target() -> str:
    for t in DEVICE_TARGETS.values():
        if t.machine == platform.machine():
            return t.name
    return "linux-x86_64"


def get_device_target(name: str) -> DeviceTarget:
    if name not in DEVICE_TARGETS:
        raise EdgecError(f"unknown device target '{name}'", hint=f"choose one of: {', '.join(DEVICE_TARGETS)}")
    return DEVICE_TARGETS[name]


def build_library(build_dir: Path, report: dict, device: DeviceTarget) -> bytes:
    """Compile every .c of the build (variants swapped for their portable files) into one .so."""
    cc = device.compiler()
    runtime = resources.files("edgec.runtime_c")
    swapped = set(report.get("kernel_variants", {}))
    with tempfile.TemporaryDirectory(prefix="edgec-lib-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for f in sorted(build_dir.iterdir()):
            if f.suffix in (".c", ".h"):
                data = runtime.joinpath(f.name).read_bytes() if f.name in swapped else f.read_bytes()
                (src / f.name).write_bytes(data)
        sources = sorted(p.name for p in src.glob("*.c"))
        cmd = [cc, *CFLAGS, f"-ffile-prefix-map={src}=.", "-o", LIBRARY, *sources]
        try:
            r = subprocess.run(cmd, cwd=src, capture_output=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ToolchainError(f"cannot run {cc}: {e}") from None
        if r.returncode != 0:
            raise ToolchainError(f"{cc} could not build {LIBRARY}: {first_error(r.stderr)}", where=str(build_dir))
        lib = (src / LIBRARY).read_bytes()
    machine = int.from_bytes(lib[18:20], "little") if lib[:4] == b"\x7fELF" else None
    if machine != device.elf_machine:
        raise ToolchainError(f"{cc} produced ELF machine {machine}, not {device.name} ({device.elf_machine})")
    return lib
