"""Build generated C for a target and run it: natively (host) or in the target's emulator.

Used by `verify` and `run`.  Per-inference instruction counts come from a QEMU TCG plugin
(harness/insncount.c, built once per machine into ~/.cache/edgec)."""
from __future__ import annotations

import bisect
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .cycles import cost_table as cycle_costs
from .stack import bound as stack_bound
from ..compiler.errors import ToolchainError, TargetError
from ..compiler.targets import Target

COMMON_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra")
BARE_CFLAGS = ("-ffreestanding", "-ffunction-sections", "-fdata-sections")
#: Soft-float helpers of libgcc: any of these in an object means floating point slipped in.
FLOAT_HELPER = re.compile(r"^(__aeabi_[fd]\w*|__aeabi_[iul]+2[fd]|__aeabi_[fd]2\w+|__\w*[sd]f\w*|__\w*[sd]f[0-9]?)$")
HARNESS_FUNCS = {"main", "Reset_Handler", "fault", "sh_open", "sh_call", "sh_read", "sh_write", "sh_close",
                 "paint", "deepest", "put_decimal",          # the semihosting harness's stack painting
                 "_start", "edgec_rv_reset", "edgec_rv_trap", "edgec_rv_trap_entry",
                 "__vectors", "__ctors_end", "__do_copy_data", "__do_clear_bss", "__bad_interrupt", "_exit",
                 "__stop_program", "__init"}
EMULATOR_TIMEOUT_S = 1800


@dataclass
class Execution:
    outputs: bytes
    instructions: int | None = None        # executed instructions in the model's code, all samples
    per_function: dict | None = None
    text_bytes: int | None = None
    float_helpers: list | None = None
    stack_bytes: int | None = None          # worst case of one inference: call graph x -fstack-usage frames
    call_site_instructions: list | None = None  # per call in run(), in code order, all samples
    cycles: int | None = None               # exact (simavr) or estimated (cost model) cycles, all samples
    per_function_cycles: dict | None = None
    call_site_cycles: list | None = None
    cycles_kind: str | None = None          # "exact" or "estimated"
    stack_measured: int | None = None       # high-water mark in the emulator (painting / SP tracking)


def harness_file(name: str) -> Path:
    return Path(str(resources.files("edgec.verification.harness").joinpath(name)))


def require_tools(target: Target) -> None:
    tools = [target.cc] + ([target.emulator[0]] if target.emulator and target.emulator[0] not in HARNESS_TOOLS else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise ToolchainError(f"{', '.join(missing)} not found for target {target.name}",
                             hint=f"install with: sudo apt-get install {' '.join(target.apt)}")


def run_tool(cmd, cwd=None, stdin=None, timeout=600, what="command"):
    try:
        return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{what} did not finish within {timeout} s", where=" ".join(map(str, cmd[:3]))) from None
    except OSError as e:
        raise ToolchainError(f"cannot run {cmd[0]}: {e.strerror}") from None


#: Lines that only frame a complaint: where it happened, or the driver's summary of a tool's failure.
_CONTEXT = re.compile(r"(: In function\b|: in function\b|: At top level:|In file included from|^from \S+:\d+[,:]|"
                      r"^collect2: error: ld returned|^compilation terminated|: note: |^\s*\||^\s*\d+\s*\|)")
#: The leading directories of a tool or a temporary file: /usr/lib/gcc/.../bin/ld -> ld.
_DIRS = re.compile(r"(?<![\w.])(?:/[^\s:/()`']+)+/(?=[^\s:/()`']+)")


def first_error(stderr: bytes | str) -> str:
    """The tool's first real error line: a compiler's first `error:`, else the linker's first own
    complaint (an undefined reference, a relaxation or overflow error), never only the driver's
    "collect2: error: ld returned 1 exit status"; directories are cut from paths."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    real = [l for l in lines if not _CONTEXT.search(l)]
    pick = (next((l for l in real if re.search(r"\b(fatal )?error:", l)), None)
            or next((l for l in real if "undefined reference" in l), None)
            or next((l for l in real if not re.search(r"\bwarning:", l)), None)
            or (lines[-1] if lines else "no message"))
    return _DIRS.sub("", pick)


def compile_objects(target: Target, sources, workdir: Path, defines=(), include=()):
    objs = []
    flags = list(COMMON_CFLAGS) + list(target.cflags) + ([] if target.emulator is None else list(BARE_CFLAGS))
    flags.append("-fstack-usage")
    for src in sources:
        obj = workdir / (Path(src).stem + ".o")
        cmd = [target.cc, *flags, *[f"-D{d}" for d in defines], *[f"-I{i}" for i in include], "-c", str(src), "-o", str(obj)]
        r = run_tool(cmd, what=f"compiling {Path(src).name}")
        if r.returncode != 0:
            raise ToolchainError(f"{target.cc} failed on {Path(src).name}: {first_error(r.stderr)}")
        objs.append(obj)
    return objs


def float_helpers(target: Target, objs) -> list:
    """Undefined soft-float helper symbols referenced by the given objects."""
    found = set()
    for obj in objs:
        r = run_tool([target.nm, "-u", str(obj)], what="nm")
        for line in r.stdout.decode().split("\n"):
            sym = line.split()[-1] if line.split() else ""
            if FLOAT_HELPER.match(sym):
                found.add(sym)
    return sorted(found)


def link(target: Target, objs, workdir: Path) -> Path:
    exe = workdir / "model.elf"
    if target.emulator is None:
        cmd = [target.cc, *target.cflags, *map(str, objs), "-o", str(exe)]
    elif target.ldscript is None:                       # the toolchain's own start-up code and memory map
        cmd = [target.cc, *target.cflags, "-Wl,--gc-sections", *map(str, objs), "-o", str(exe)]
    else:
        cmd = [target.cc, *target.cflags, "-nostdlib", "-T", str(harness_file(target.ldscript)), "-Wl,--gc-sections",
               f"-Wl,--defsym=RAM_SIZE={target.ram}", f"-Wl,--defsym=FLASH_SIZE={target.flash}",
               *map(str, objs), "-lgcc", "-o", str(exe)]
    r = run_tool(cmd, what="linking")
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace")
        m = re.search(r"region `(\w+)' overflowed by (\d+) bytes", msg)
        if m:
            what = {"RAM": "RAM", "FLASH": "flash", "data": "RAM", "text": "flash"}.get(m.group(1), m.group(1))
            limit = target.ram if what == "RAM" else target.flash
            raise TargetError(f"the model does not fit {target.name}: {what} overflows by {m.group(2)} bytes "
                              f"(the target has {limit} bytes, incl. the verification harness's buffers)")
        if re.search(r"section `\.(text|data|bss)' (will not fit in|is not within) region", msg):   # GNU ld on AVR
            over = sorted({w for w, region in (("flash", "text"), ("RAM", "data")) if f"region `{region}'" in msg})
            raise TargetError(f"the model does not fit {target.name}: {' and '.join(over)} overflow "
                              f"(the target has {target.ram} B RAM, {target.flash} B flash, incl. the verification harness)",
                              hint="choose a bigger part (--ram/--flash at build) or a smaller model")
        raise ToolchainError(f"linking for {target.name} failed: {first_error(r.stderr)}")
    return exe


#: Runners built from the harness's C on first use: name -> (source, cc arguments after it, apt hint).
HARNESS_TOOLS = {
    "insncount.so": ("insncount.c", ["-shared", "-fPIC"], "gcc"),
    "avrrun": ("avrrun.c", ["-I/usr/include/simavr", "-lsimavr"], "gcc libsimavr-dev"),
}


def harness_tool(name: str) -> Path:
    """A harness runner (the QEMU counting plugin, the simavr runner), built once per machine into
    ~/.cache/edgec and keyed by its source's hash."""
    src_name, args, apt = HARNESS_TOOLS[name]
    src = harness_file(src_name)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("EDGEC_CACHE", Path.home() / ".cache" / "edgec"))
    built = cache / f"{digest}-{name}"
    if not built.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f"{digest}-{os.getpid()}.tmp-{name}"
        r = run_tool(["cc", "-O2", str(src), *args, "-o", str(tmp)], what=f"building {name}")
        if r.returncode != 0:
            raise ToolchainError(f"cannot build the harness's {name}: {first_error(r.stderr)}",
                                 hint=f"install with: sudo apt-get install {apt}")
        os.replace(tmp, built)
    return built


@dataclass
class Profile:
    """A run's per-address counts mapped to functions.  `cycles` are exact (simavr) or None."""
    instructions: int
    per_function: dict
    cycles: int | None = None
    per_function_cycles: dict | None = None
    marks: list | None = None             # per call site: (instructions, cycles or None)
    stack: int | None = None              # measured high-water mark, when the runner tracks SP


def read_profile(target: Target, exe: Path, profile: Path) -> Profile:
    """Parse a runner's profile ("pc insns [cycles]" lines, "mark i insns [cycles]") against the ELF's
    symbols; harness functions are left out, so the totals are the model's own."""
    syms = []
    r = run_tool([target.nm, "-S", "--defined-only", str(exe)], what="nm")
    for line in r.stdout.decode().splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTwW":
            syms.append((int(p[0], 16) & ~1, int(p[1], 16), p[3]))
    syms.sort()
    starts = [s[0] for s in syms]
    per, per_cyc, marks, has_cycles, stack = {}, {}, [], False, None
    for line in profile.read_text().splitlines()[1:]:
        f = line.split()
        if f[0] == "stack":
            stack = int(f[1])
            continue
        if f[0] == "mark":
            marks.append((int(f[2]), int(f[3]) if len(f) > 3 else None))
            continue
        pc, n = int(f[0], 16), int(f[1])
        i = bisect.bisect_right(starts, pc) - 1
        name = syms[i][2] if i >= 0 and pc < syms[i][0] + syms[i][1] else "?"
        per[name] = per.get(name, 0) + n
        if len(f) > 2:
            has_cycles = True
            per_cyc[name] = per_cyc.get(name, 0) + int(f[2])
    model = {k: v for k, v in per.items() if k not in HARNESS_FUNCS and v}
    cyc = {k: per_cyc[k] for k in model} if has_cycles else None
    return Profile(sum(model.values()), dict(sorted(model.items(), key=lambda kv: -kv[1])),
                   sum(cyc.values()) if cyc else None, cyc, marks[:-1] if marks else None, stack)


CALL_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{2,8}\s+)*(?:bl|blx|jal|call|rcall)\s+(?:ra,)?\s*(?:0x)?[0-9a-f]+"
                       r"\s+(?:;\s*0x[0-9a-f]+\s+)?<([A-Za-z_]\w*)>")


def _symbol_address(target: Target, exe: Path, name: str) -> int:
    r = run_tool([target.nm, str(exe)], what="nm")
    for line in r.stdout.decode().splitlines():
        p = line.split()
        if len(p) == 3 and p[2] == name:
            return int(p[0], 16)
    raise ToolchainError(f"{name} not found in the linked image")


def _disassemble(target: Target, exe: Path) -> str:
    objdump = target.nm.replace("-nm", "-objdump") if target.nm.endswith("-nm") else "objdump"
    return run_tool([objdump, "-d", "--no-show-raw-insn", str(exe)], what="objdump").stdout.decode(errors="replace")


def call_sites(target: Target, exe: Path, run_name: str) -> list | None:
    """Addresses of the model's kernel calls inside run(), in code order, plus the address after the
    last one (where run() resumes before returning); None if they cannot be told apart."""
    text, inside, sites, after = _disassemble(target, exe).splitlines(), False, [], None
    for i, line in enumerate(text):
        if line.endswith(f"<{run_name}>:"):
            inside = True
            continue
        if inside and line.strip() == "":
            break
        m = inside and CALL_INSN.match(line)
        if m and (m.group(2).startswith("edgec_") or m.group(2) == "memcpy"):
            sites.append(int(m.group(1), 16))
            nxt = next((l for l in text[i + 1:] if re.match(r"^\s*[0-9a-f]+:", l)), None)
            after = int(nxt.split(":")[0], 16) if nxt else None
    return sites + [after] if sites and after is not None else None


HARNESS_DATA = {"vectors", "edgec_vectors", "__vectors", "_sidata", "__trampolines_start"}


def _flash_bytes(target: Target, exe: Path) -> int:
    """Flash the model occupies in the linked image: the sizes (nm -S) of every code and constant
    symbol the link kept (kernels, weights, parameters, the libgcc helpers they call), harness left out."""
    r = run_tool([target.nm, "-S", "--defined-only", str(exe)], what="nm")
    total = 0
    for line in r.stdout.decode().splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTrRdDwWvV" and p[3] not in HARNESS_FUNCS and p[3] not in HARNESS_DATA:
            total += int(p[1], 16)
    return total


def sources_for(target: Target, model_dir: Path, workdir: Path) -> Path:
    """A copy of the build's sources with each kernel variant replaced by the one of the target that
    runs it: a Cortex-M4 build checked on the host (or on an M0) uses the portable kernels, on the
    M4 its DSP ones.  Every variant must give the reference's integers, so each run proves its own."""
    from ..compiler.targets import TARGETS
    src = workdir / "src"
    src.mkdir()
    runtime = resources.files("edgec.runtime_c")
    variant_names = {name for t in TARGETS.values() for name, _ in t.kernel_variants}   # files some target swaps
    for f in model_dir.iterdir():
        if f.suffix in (".c", ".h"):
            data = runtime.joinpath(target.runtime_source(f.name)).read_bytes() if f.name in variant_names else f.read_bytes()
            (src / f.name).write_bytes(data)
    return src


def _free_stack(target: Target, exe: Path) -> int | None:
    """Bytes between the end of static RAM and the top of the stack in the linked image: our harness's
    linker scripts (_ebss .. _estack) or avr-libc's (_end .. __stack, inclusive, data space at 0x800000)."""
    r = run_tool([target.nm, str(exe)], what="nm")
    syms = {p[2]: int(p[0], 16) for p in (l.split() for l in r.stdout.decode().splitlines()) if len(p) == 3}
    if "_estack" in syms and "_ebss" in syms:
        return syms["_estack"] - syms["_ebss"]
    if "__stack" in syms and "_end" in syms:
        return syms["__stack"] + 1 - (syms["_end"] & 0xFFFF)
    return None


def _check_stack_fits(target: Target, exe: Path, stack: int) -> None:
    """The linker checks static RAM, not the stack: refuse a build whose worst-case stack does not fit
    in the RAM left above it."""
    free = _free_stack(target, exe)
    if free is not None and stack > free:
        raise TargetError(f"the model does not fit {target.name}: its stack needs up to {stack} B and "
                          f"{free} B of RAM are left above static data (incl. the verification harness's sample buffers)",
                          hint="use a smaller model, or --ram for a bigger part")


def execute(target: Target, model_dir: Path, model_c_name: str, in_bytes: int, out_bytes: int,
            samples: bytes, workdir: Path, reset_each: bool = False, run_macro: str | None = None) -> Execution:
    """Compile model_dir's C with the target's harness, run every sample, return the raw outputs.
    The samples are one stream (a stateful model carries its state from each to the next) unless
    `reset_each`: then the harness calls the model's reset() before every sample.  `run_macro`: the
    harness's EDGEC_RUN(in, out) for a model of several inputs / outputs (a function-like macro handing
    run() its pointers into the sample's concatenated input and output bytes)."""
    require_tools(target)
    model_dir = sources_for(target, Path(model_dir), workdir)
    model_sources = sorted(model_dir.glob("*.c"))
    harness = "main_host.c" if target.emulator is None else target.harness_main
    defines = (run_macro or f"EDGEC_RUN={model_c_name}_run", f"EDGEC_IN_BYTES={in_bytes}", f"EDGEC_OUT_BYTES={out_bytes}") + \
        ((f"EDGEC_RESET={model_c_name}_reset",) if reset_each else ())
    harness_dir = harness_file("semihost.h").parent
    model_objs = compile_objects(target, model_sources, workdir, defines,
                                 [model_dir] + ([] if target.emulator is None else [harness_dir]))
    extra = [harness_file(harness)] + ([harness_file(target.startup)] if target.emulator and target.startup else [])
    harness_objs = compile_objects(target, extra, workdir, defines, [model_dir, harness_dir])
    exe = link(target, model_objs + harness_objs, workdir)
    stack = stack_bound(f"{model_c_name}_run", _disassemble(target, exe), model_objs + harness_objs, target.call_push_bytes)
    if target.emulator is None:
        r = run_tool([str(exe)], stdin=samples, timeout=EMULATOR_TIMEOUT_S, what="the host build")
        if r.returncode != 0:
            report = [l for l in r.stderr.decode(errors="replace").splitlines()
                      if "runtime error:" in l or "ERROR: AddressSanitizer" in l]
            raise ToolchainError(f"the host build exited with {r.returncode}"
                                 + (f": {report[0].strip()}" if report else ""))
        return Execution(r.stdout, text_bytes=_flash_bytes(target, exe), stack_bytes=stack)
    _check_stack_fits(target, exe, stack)
    rundir = workdir / "run"
    rundir.mkdir()
    prof = workdir / "profile.txt"
    sites = call_sites(target, exe, f"{model_c_name}_run")
    marks = workdir / "marks.txt"
    if sites:
        marks.write_text("".join(f"{a:x}\n" for a in sites))
    if target.sample_io == "stdio":             # avrrun: samples on stdin, outputs on stdout
        run_addr = _symbol_address(target, exe, f"{model_c_name}_run")
        runner = [str(harness_tool(target.emulator[0])), *target.emulator[1:], "-p", str(prof), "-s", f"{run_addr:x}"]
        cmd = runner + (["-k", str(marks)] if sites else []) + [str(exe)]
        stdin = (len(samples) // max(1, in_bytes)).to_bytes(4, "little") + samples
    else:
        plugin = f"{harness_tool('insncount.so')},out={prof}" + (f",marks={marks}" if sites else "")
        if target.cycle_model:
            costs = workdir / "costs.txt"
            costs.write_text(cycle_costs(target.cycle_model, _disassemble(target, exe)))
            plugin += f",costs={costs}"
        cmd = [*target.emulator, "-plugin", plugin, "-kernel", str(exe)]
        (rundir / "in.bin").write_bytes(samples)
        stdin = None
    r = run_tool(cmd, cwd=rundir, stdin=stdin, timeout=EMULATOR_TIMEOUT_S, what=f"{target.emulator[0]}")
    if r.returncode != 0:
        detail = "the program trapped" if r.returncode >= target.harness_faults else (r.stderr.decode(errors="replace").strip()[:200] or "")
        raise ToolchainError(f"{target.emulator[0]} exited with {r.returncode} running the model for {target.name}: {detail}")
    outputs = r.stdout if target.sample_io == "stdio" else (rundir / "out.bin").read_bytes()
    p = read_profile(target, exe, prof)
    measured = p.stack if p.stack is not None else (
        int((rundir / "stack.txt").read_text()) if (rundir / "stack.txt").exists() else None)
    return Execution(outputs, p.instructions, p.per_function, _flash_bytes(target, exe), float_helpers(target, model_objs),
                     stack, [m[0] for m in p.marks] if p.marks else None, p.cycles, p.per_function_cycles,
                     [m[1] for m in p.marks] if p.marks and p.cycles is not None else None,
                     target.cycles_kind if p.cycles is not None else None, measured)
