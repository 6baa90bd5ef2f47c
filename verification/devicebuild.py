"""Build and run small device programs (firmware around runtime_c's device libraries: crypto, slots)
natively or in a target's emulator, with the emulator harness's start-up and semihosting.

A model build goes through toolchain.execute; this is for programs that are not a model: the
crypto known-answer driver, the slot library's update scenarios, an emulated device's firmware.
The libsodium objects come from crypto_source (fetched and hash-checked once per machine)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from . import crypto_source
from ..compiler.targets import Target
from .toolchain import harness_file, run_tool, compile_objects, link, require_tools

EMULATED = ("EDGEC_SEMIHOST=1",)


def runtime_file(name: str) -> Path:
    return Path(str(resources.files("edgec.runtime_c").joinpath(name)))


def build_program(target: Target, sources, workdir: Path, defines=(), include=(), crypto: bool = False):
    """Compile `sources` (plus edgec_crypto.c and libsodium's verify path if `crypto`) for target and
    link them; returns (elf, {"program": objects, "crypto": objects})."""
    require_tools(target)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    emulated = target.emulator is not None
    harness_dir = harness_file("semihost.h").parent
    runtime_dir = runtime_file("edgec_crypto.h").parent
    inc = [*include, runtime_dir] + ([harness_dir] if emulated else [])
    defs = list(defines) + (list(EMULATED) if emulated else [])
    objs = {"program": [], "crypto": []}
    if crypto:
        lib = crypto_source.fetch()
        lib_inc = list(lib.include) + ([lib.freestanding_include] if emulated else [])
        lib_dir = workdir / "crypto"
        lib_dir.mkdir(exist_ok=True)
        objs["crypto"] = compile_objects(target, [*lib.sources, runtime_file("edgec_crypto.c")], lib_dir,
                                         lib.defines, [runtime_dir, *lib_inc] + ([harness_dir] if emulated else []))
        inc += lib_inc
    prog_dir = workdir / "program"
    prog_dir.mkdir(exist_ok=True)
    extra = [harness_file(target.startup)] if emulated and target.startup else []
    objs["program"] = compile_objects(target, [*sources, *extra], prog_dir, defs, inc)
    return link(target, objs["program"] + objs["crypto"], workdir), objs


def command(target: Target, exe: Path) -> list:
    """argv that runs the program: the ELF itself, or the emulator with it (semihosting files are
    opened relative to the working directory)."""
    return [str(exe)] if target.emulator is None else [*target.emulator, "-kernel", str(exe)]


def run_program(target: Target, exe: Path, cwd: Path, stdin: bytes | None = None, timeout: int = 600):
    return run_tool(command(target, exe), cwd=cwd, stdin=stdin, timeout=timeout, what=f"the program on {target.name}")


def code_bytes(target: Target, exe: Path, objects) -> dict:
    """Bytes the linked program keeps of the functions and constants defined in `objects`:
    {"text": code, "rodata": constants}, by the linked ELF's symbol sizes (--gc-sections has
    dropped whatever nothing calls)."""
    kind = {}                                   # by the objects' sections: the harness's link script
    for obj in objects:                         # puts .rodata into the output .text
        r = run_tool([target.nm, "--defined-only", str(obj)], what="nm")
        for p in (l.split() for l in r.stdout.decode().splitlines()):
            if len(p) == 3 and p[1] in "tTwWrR":
                kind[p[2]] = "text" if p[1] in "tTwW" else "rodata"
    r = run_tool([target.nm, "-S", "--defined-only", str(exe)], what="nm")
    sizes = {"text": 0, "rodata": 0}
    for p in (l.split() for l in r.stdout.decode().splitlines()):
        if len(p) == 4 and p[3] in kind:
            sizes[kind[p[3]]] += int(p[1], 16)
    return sizes
