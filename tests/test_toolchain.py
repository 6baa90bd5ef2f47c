"""The toolchain layer: what a failing compiler or linker tells the user, and the rv32imc harness
linking (and running) real models whatever their sizes."""
import re
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from edgec.verification import toolchain
from edgec.compiler.errors import ToolchainError
from edgec.compiler.targets import get_target, with_budget
from conftest import CASES, require

HARNESS = Path(str(resources.files("edgec.verification.harness")))


def _write(d, name, text):
    p = d / name
    p.write_text(text)
    return p


def test_a_failing_compile_names_the_compilers_first_error(tmp_path):
    require("cc")
    src = _write(tmp_path, "broken.c", "#include <stdint.h>\nint f(void) { int unused; return undeclared_thing; }\n"
                                       "int g(void) { return also_missing; }\n")
    with pytest.raises(ToolchainError) as e:
        toolchain.compile_objects(get_target("host"), [src], tmp_path)
    msg = str(e.value)
    assert "broken.c:2:" in msg and "error:" in msg and "undeclared_thing" in msg, msg
    assert "also_missing" not in msg and "In function" not in msg, msg


def test_a_failing_link_names_the_linkers_line_not_collect2(tmp_path):
    require("cc")
    src = _write(tmp_path, "main.c", "int missing_kernel(int);\nint main(void) { return missing_kernel(3); }\n")
    objs = toolchain.compile_objects(get_target("host"), [src], tmp_path)
    with pytest.raises(ToolchainError) as e:
        toolchain.link(get_target("host"), objs, tmp_path)
    msg = str(e.value)
    assert "undefined reference to `missing_kernel'" in msg, msg
    assert "collect2" not in msg and "ld returned" not in msg, msg


def test_a_cross_link_failure_names_ld_and_cuts_directories(tmp_path):
    """A linker complaint that does not say "error" (here: a missing library) is still the line shown,
    with the toolchain's and the scratch directory's paths cut down to file names."""
    t = get_target("rv32imc")
    require(t.cc)
    src = _write(tmp_path, "m.c", "int main(void) { return 0; }\n")
    objs = toolchain.compile_objects(t, [src], tmp_path)
    r = subprocess.run([t.cc, *t.cflags, "-nostdlib", *map(str, objs), "-lno_such_library", "-o", str(tmp_path / "x.elf")],
                       capture_output=True)
    assert r.returncode != 0 and b"collect2" in r.stderr
    line = toolchain.first_error(r.stderr)
    assert line.startswith("ld: ") and "no_such_library" in line and "collect2" not in line, line
    assert str(tmp_path) not in line and "/usr/lib" not in line, line


def test_first_error_keeps_relaxation_errors_and_skips_context_lines():
    """The message the rv32imc link of KWS gave before its fix: the ld line, not collect2's summary."""
    stderr = ("/usr/lib/gcc/riscv64-unknown-elf/12.2.0/../../../riscv64-unknown-elf/bin/ld: /tmp/edgec-x1/main_semihost.o"
              "(.text.startup.main+0x92): 14 bytes required for alignment to 16-byte boundary, but only 12 present\n"
              "/usr/lib/gcc/riscv64-unknown-elf/12.2.0/../../../riscv64-unknown-elf/bin/ld: can't relax section: bad value\n"
              "collect2: error: ld returned 1 exit status\n")
    assert toolchain.first_error(stderr) == ("ld: main_semihost.o(.text.startup.main+0x92): 14 bytes required for "
                                             "alignment to 16-byte boundary, but only 12 present")
    gcc = ("In file included from model.c:3:\nkernel.h: In function 'f':\nkernel.h:9:2: warning: unused variable 'x'\n"
           "kernel.h:10:5: error: expected ';' before 'return'\n   10 |     return 1\n      |     ^\n")
    assert toolchain.first_error(gcc) == "kernel.h:10:5: error: expected ';' before 'return'"


@pytest.mark.parametrize("in_bytes", [1, 49, 490, 3072])
def test_rv32imc_harness_links_and_aligns_every_semihosting_call(tmp_path, in_bytes):
    """The harness's semihosting sequence is 16-byte aligned inside relaxed, compressed code: with the
    padding emitted under .option norvc (12 bytes) these sample sizes failed to link ("14 bytes required
    for alignment to 16-byte boundary, but only 12 present"); every sequence must stay in one page."""
    t = get_target("rv32imc")
    require(t.cc)
    hd = HARNESS
    model = tmp_path / "model"
    model.mkdir()
    _write(model, "model.h", "#include <stdint.h>\nvoid edgec_m_run(const int8_t *in, int8_t *out);\n")
    src = _write(model, "model.c", "#include \"model.h\"\n"
                                   "void edgec_m_run(const int8_t *in, int8_t *out) { out[0] = (int8_t)(in[0] + 1); }\n")
    defines = ("EDGEC_RUN=edgec_m_run", f"EDGEC_IN_BYTES={in_bytes}", "EDGEC_OUT_BYTES=12")
    objs = toolchain.compile_objects(t, [src, hd / t.harness_main, hd / t.startup], tmp_path, defines, [model, hd])
    exe = toolchain.link(with_budget(t, ram="512K"), objs, tmp_path)
    dis = subprocess.run([t.nm.replace("-nm", "-objdump"), "-d", str(exe)], capture_output=True, text=True).stdout
    ebreaks = [int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\s+00100073\s+ebreak", dis, re.M)]
    assert len(ebreaks) >= 4, dis[-2000:]
    assert all((a - 4) % 16 == 0 for a in ebreaks), [hex(a) for a in ebreaks]


def test_kws_links_and_is_bit_exact_on_rv32imc_with_a_bigger_ram_budget(tmp_path):
    """KWS (16.5 KB of static RAM) did not link for rv32imc, and once linked with --ram 512K it could not
    run on a 16 KB board: the emulated memory is now the build's budget."""
    from edgec.driver.build import build
    from edgec.verification.verify import verify
    t = get_target("rv32imc")
    require(t.cc, t.emulator[0])
    case = CASES["kws"]
    np.save(tmp_path / "calib.npy", case.calibration())
    np.save(tmp_path / "inputs.npy", case.inputs()[:2])
    build(case.path, "rv32imc", str(tmp_path / "out"), str(tmp_path / "calib.npy"), ram="512K")
    r = verify(str(tmp_path / "out"), "rv32imc", str(tmp_path / "inputs.npy"))
    assert r["bit_exact"] and r["float_helpers"] == [], r
    assert r["instructions_per_inference"] > 2_000_000
    assert 0 < r["stack_bytes_measured"] <= r["stack_bytes_bound"], r


def test_a_trap_on_rv32imc_exits_with_its_cause_instead_of_looping(tmp_path):
    """A fault with a wild stack pointer: the trap entry takes a fresh stack, so QEMU exits with
    0xE0 + mcause (7: store access fault) rather than faulting in the handler for ever."""
    t = get_target("rv32imc")
    require(t.cc, t.emulator[0])
    hd = HARNESS
    src = _write(tmp_path, "wild.c", "int main(void) { __asm__ volatile(\"li sp, 0x10\\n sw zero, -4(sp)\"); return 0; }\n")
    objs = toolchain.compile_objects(t, [src, hd / t.startup], tmp_path, (), [hd])
    exe = toolchain.link(t, objs, tmp_path)
    r = subprocess.run([*t.emulator, "-kernel", str(exe)], capture_output=True, timeout=60)
    assert r.returncode == 0xE0 + 7 and b"TRAP" in r.stdout + r.stderr, (r.returncode, r.stdout, r.stderr)
