"""Targets are data: compiler, flags, emulator, memory.  Code paths never branch on a target's name,
only on these fields."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

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
    startup: str | None = "startup_cm.c"         # emulator harness: reset code and linker script
    ldscript: str | None = "cm.ld"               # (None: the toolchain's own C start-up and script)
    harness_main: str = "main_semihost.c"        # the emulator harness's main() and how it gets samples:
    sample_io: str = "semihosting"               # "semihosting" files, or "stdio" bytes (avrrun)
    harness_faults: int = 0xF0                   # exit codes from here up mean the program trapped
    kernel_variants: tuple = ()                  # (runtime file, the file shipped under its name) pairs
    cycle_model: str | None = None               # core timing table for estimated cycles (verification/cycles.py)
    call_push_bytes: int = 0                     # return address a call pushes outside the callee's frame
    wide_weights: bool = False                   # int16 weights pay where flash allows (passes/plan_wide.py)

    def runtime_source(self, fname: str) -> str:
        """The runtime_c/ file shipped as `fname` for this target (its optimized variant, if any)."""
        return dict(self.kernel_variants).get(fname, fname)

    @property
    def cycles_kind(self) -> str | None:
        """How `--profile` knows cycles here: "exact" (a cycle-accurate simulator), "estimated" (a
        per-instruction cost model), or None (instructions only)."""
        return "exact" if self.sample_io == "stdio" else ("estimated" if self.cycle_model else None)

    def as_dict(self):
        return {"name": self.name, "kernel_variants": dict(self.kernel_variants), "cc": self.cc, "cflags": list(self.cflags),
                "emulator": " ".join(self.emulator) if self.emulator else "native",
                "ram_bytes": self.ram, "flash_bytes": self.flash, "cycles": self.cycles_kind, "apt": list(self.apt), "description": self.description}


_ARM_APT = ("gcc-arm-none-eabi", "qemu-system-arm")
#: Armv7E-M DSP extension: the int8 dot product with SXTB16 + SMLAD.
_DSP = (("edgec_dot.h", "edgec_dot_arm_dsp.h"),)
_QEMU_ARM = ("qemu-system-arm", "-display", "none", "-monitor", "none", "-serial", "none",
             "-semihosting-config", "enable=on,target=native")

TARGETS = {t.name: t for t in [
    Target("host", "cc", (), None, None, None, "nm", "size", ("gcc",), "this machine, the system C compiler"),
    Target("cortex-m0", "arm-none-eabi-gcc", ("-mcpu=cortex-m0", "-mthumb"), _QEMU_ARM + ("-M", "microbit"),
           16 * 1024, 256 * 1024, "arm-none-eabi-nm", "arm-none-eabi-size", _ARM_APT, "Armv6-M, QEMU micro:bit (nRF51)", cycle_model="cortex-m0",
           kernel_variants=(("edgec_dot.h", "edgec_dot_armv6m.h"),)),
    Target("cortex-m3", "arm-none-eabi-gcc", ("-mcpu=cortex-m3", "-mthumb"), _QEMU_ARM + ("-M", "mps2-an385"),
           64 * 1024, 256 * 1024, "arm-none-eabi-nm", "arm-none-eabi-size", _ARM_APT, "Armv7-M, QEMU MPS2 AN385", cycle_model="cortex-m3"),
    Target("cortex-m4", "arm-none-eabi-gcc", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"),
           _QEMU_ARM + ("-M", "mps2-an386"), 256 * 1024, 1024 * 1024, "arm-none-eabi-nm", "arm-none-eabi-size",
           _ARM_APT, "Armv7E-M without FPU use, QEMU MPS2 AN386", kernel_variants=_DSP, cycle_model="cortex-m4",
           wide_weights=True),
    Target("cortex-m7", "arm-none-eabi-gcc", ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=soft"),
           _QEMU_ARM + ("-M", "mps2-an500"), 512 * 1024, 2048 * 1024, "arm-none-eabi-nm", "arm-none-eabi-size",
           _ARM_APT, "Armv7E-M (M7) without FPU use, QEMU MPS2 AN500", kernel_variants=_DSP, cycle_model="cortex-m7",
           wide_weights=True),
    Target("rv32imc", "riscv64-unknown-elf-gcc", ("-march=rv32imc", "-mabi=ilp32"),
           ("qemu-system-riscv32", "-display", "none", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-M", "virt", "-bios", "none"),
           16 * 1024, 4096 * 1024, "riscv64-unknown-elf-nm", "riscv64-unknown-elf-size",
           ("gcc-riscv64-unknown-elf", "qemu-system-misc"),
           "RV32IMC (SiFive FE310 budget: 16 KB RAM, 4 MB flash), QEMU virt with the budget as its memory map",
           startup="startup_rv.c", ldscript="rv.ld", harness_faults=0xE0),
    Target("atmega328p", "avr-gcc", ("-mmcu=atmega328p", "-std=gnu99"), ("avrrun", "-m", "atmega328p"),
           2 * 1024, 32 * 1024, "avr-nm", "avr-size", ("gcc-avr", "avr-libc", "binutils-avr", "libsimavr-dev"),
           "8-bit AVR (Arduino Uno), simavr (cycle-exact); weights in flash via __flash",
           startup=None, ldscript=None, harness_main="main_avr.c", sample_io="stdio", harness_faults=124, call_push_bytes=2,
           kernel_variants=(("edgec_target.h", "edgec_target_avr.h"), ("edgec_dot.h", "edgec_dot_avr.h"))),
]}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise TargetError(f"unknown target '{name}'", hint=f"choose one of: {', '.join(TARGETS)} (see `edgec targets`)")
    return TARGETS[name]


def parse_size(text) -> int:
    """'512K', '2M', '1048576' -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KkMm]?)[Bb]?\s*", str(text))
    if not m:
        raise TargetError(f"'{text}' is not a size", hint="write bytes, or a number with K or M (e.g. 512K, 2M)")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1 << 20}[m.group(2).lower()]


#: Undefined behaviour and memory errors stop the run (gcc or clang on the host).
SANITIZE_FLAGS = ("-fsanitize=undefined,address", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")


def with_sanitizers(target: Target) -> Target:
    """The host target built with UBSan + ASan: signed overflow, out-of-bounds access, misaligned
    loads, shifts past the width - any of which would also break bit-exactness between compilers."""
    if target.emulator is not None:
        raise TargetError(f"--sanitize runs on the host only, not on {target.name}",
                          hint="use --on host --sanitize (the sanitizers need the host's runtime libraries)")
    return replace(target, cflags=target.cflags + SANITIZE_FLAGS)


def with_budget(target: Target, ram=None, flash=None) -> Target:
    """The target with its RAM / flash replaced (a bigger part of the same core, e.g. an STM32H7)."""
    return replace(target, ram=target.ram if ram is None else parse_size(ram),
                   flash=target.flash if flash is None else parse_size(flash))
