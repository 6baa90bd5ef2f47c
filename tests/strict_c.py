"""Generated C compiled as each target compiles it, under the strictest warnings, and cppcheck over it:
the check of test_generated_c.py's real models, shared by the tests of other builds (int16 models, the
single-op .tflite models) that hold their C to the same bar."""
import subprocess
from importlib import resources

from conftest import require

STRICTEST = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wcast-align", "-Werror", "-O2", "-c"]


def compile_strictly_and_cppcheck(out, tmp_path, targets):
    """Every .c of build directory `out`, as each (target, compiler or None for the target's) compiles
    it with its kernel variants in place, under STRICTEST; then cppcheck over the output."""
    from edgec.compiler.targets import get_target
    from edgec.verification.toolchain import sources_for, BARE_CFLAGS
    require("cc", "clang", "cppcheck", "arm-none-eabi-gcc", "riscv64-unknown-elf-gcc", "avr-gcc")
    harness = str(resources.files("edgec.verification.harness"))       # <string.h> for the libc-less cross toolchains
    for tname, cc in targets:
        t = get_target(tname)
        work = tmp_path / f"{tname}-{cc or t.cc}"
        work.mkdir()
        src = sources_for(t, out, work)
        std = next((f for f in t.cflags if f.startswith("-std=")), "-std=c99")
        extra = [] if t.emulator is None else [*BARE_CFLAGS, f"-idirafter{harness}"]
        for f in sorted(src.glob("*.c")):
            r = subprocess.run([cc or t.cc, std, *STRICTEST, *t.cflags, *extra, f"-I{src}", str(f), "-o", str(work / (f.stem + ".o"))],
                               capture_output=True, text=True)
            assert r.returncode == 0, (tname, cc or t.cc, f.name, r.stderr[-2000:])
    r = subprocess.run(["cppcheck", "--enable=warning,style,portability,performance", "--std=c99", "--error-exitcode=1",
                        "--quiet", f"-I{out}", *map(str, sorted(out.glob("*.c")))], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
