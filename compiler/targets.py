"""Targets are data: compiler, flags, emulator, memory.  Code paths never branch on a target's name,
only on these fields."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import TargetError


@dataclass(frozen=True)
class Target:
    name: str
    cc: str                      # compiler driver
    cflags: tuple                # CPU flags
    emulator: tuple | None       # argv prefix to run an ELF (None: runs natively)
    ram: int | None              # bytes; None = unlimited (host)
    flash: int | None
    nm: str | None = None        # symbol tool for profiles and the no-float check
    size: str | None = None
    apt: tuple = field(default_factory=tuple)   # Debian packages that provide the tools
    description: str = ""

    def as_dict(self):
        return {"name": self.name, "cc": self.cc, "cflags": list(self.cflags),
                "emulator": " ".join(self.emulator) if self.emulator else "native",
                "ram_bytes": self.ram, "flash_bytes": self.flash, "apt": list(self.apt), "description": self.description}


_ARM_APT = ("gcc-arm-none-eabi", "qemu-system-arm")
_QEMU_ARM = ("qemu-system-arm", "-display", "none", "-monitor", "none", "-serial", "none",
             "-semihosting-config", "enable=on,target=native")

TARGETS = {t.name: t for t in [
    Target("host", "cc", (), None, None, None, "nm", "size", ("gcc",), "this machine, the system C compiler"),
    Target("cortex-m0", "arm-none-eabi-gcc", ("-mcpu=cortex-m0", "-mthumb"), _QEMU_ARM + ("-M", "microbit"),
           16 * 1024, 256 * 1024, "arm-none-eabi-nm", "arm-none-eabi-size", _ARM_APT, "Armv6-M, QEMU micro:bit (nRF51)"),
    Target("cortex-m3", "arm-none-eabi-gcc", ("-mcpu=cortex-m3", "-mthumb"), _QEMU_ARM + ("-M", "mps2-an385"),
           64 * 1024, 256 * 1024, "arm-none-eabi-nm", "arm-none-eabi-size", _ARM_APT, "Armv7-M, QEMU MPS2 AN385"),
    Target("cortex-m4", "arm-none-eabi-gcc", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"),
           _QEMU_ARM + ("-M", "mps2-an386"), 256 * 1024, 1024 * 1024, "arm-none-eabi-nm", "arm-none-eabi-size",
           _ARM_APT, "Armv7E-M without FPU use, QEMU MPS2 AN386"),
]}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise TargetError(f"unknown target '{name}'", hint=f"choose one of: {', '.join(TARGETS)} (see `edgec targets`)")
    return TARGETS[name]
