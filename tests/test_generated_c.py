"""Generated C and runtime_c/: no float anywhere, strict-warning clean, and stable (golden snapshot)."""
import re
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from edgec.driver.build import build
from edgec.compiler.targets import get_target
from conftest import CASES, DATA, require
from strict_c import compile_strictly_and_cppcheck

GOLDEN = Path(__file__).parent / "golden"
FLOAT_WORD = re.compile(r"\b(float|double)\b")
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Werror", "-c"]


@pytest.fixture(scope="module")
def mlp_out(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlp")
    np.save(d / "calib.npy", np.load(DATA / "digits_X_train_float_0to1_x64.npy")[:300])
    build(CASES["digits_mlp"].path, "cortex-m4", str(d / "out"), str(d / "calib.npy"))
    build(CASES["digits_mlp"].path, "host", str(d / "host"), str(d / "calib.npy"))
    return d / "out"


def test_runtime_c_has_no_float():
    runtime = Path(str(resources.files("edgec.runtime_c")))
    sources = sorted(runtime.glob("*.[ch]"))
    assert len(sources) >= 12
    for f in sources:
        assert not FLOAT_WORD.search(f.read_text()), f.name


def test_generated_c_has_no_float_and_compiles_strictly(mlp_out, tmp_path):
    require("cc", "arm-none-eabi-gcc")
    for f in mlp_out.glob("*.[ch]"):
        assert not FLOAT_WORD.search(f.read_text()), f.name
    harness = str(resources.files("edgec.verification.harness"))       # <string.h> for the libc-less cross toolchain
    host_out = mlp_out.parent / "host"                    # the cortex-m4 build carries the M4-only DSP dot product
    for out, cc, flags in ((host_out, "cc", []), (mlp_out, "arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft",
                                                                                 "-O2", "-ffreestanding", f"-I{harness}"])):
        for f in sorted(out.glob("*.c")):
            r = subprocess.run([cc, *STRICT, *flags, f"-I{out}", str(f), "-o", str(tmp_path / (f.stem + ".o"))],
                               capture_output=True, text=True)
            assert r.returncode == 0, (cc, f.name, r.stderr)


def test_golden_snapshot_digits_mlp(mlp_out):
    """The C for a small model is reviewed once and must not drift silently.  After an intended
    codegen change, refresh with:  EDGEC_UPDATE_GOLDEN=1 pytest tests/test_generated_c.py"""
    import os
    for name in ("model.h", "model.c", "weights.c"):
        got = (mlp_out / name).read_text()
        path = GOLDEN / "digits_torch_mlp" / name
        if os.environ.get("EDGEC_UPDATE_GOLDEN"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(got)
        assert got == path.read_text(), f"{name} differs from tests/golden/digits_torch_mlp/{name}"


def test_every_runtime_kernel_compiles_strictly_for_host_and_cortex_m(tmp_path):
    require("cc", "arm-none-eabi-gcc")
    runtime = Path(str(resources.files("edgec.runtime_c")))
    harness = str(resources.files("edgec.verification.harness"))
    from edgec.verification.crypto_source import fetch                # edgec_crypto.c includes libsodium's headers
    sodium = fetch()
    for f in sorted(runtime.glob("*.c")):
        for cc, flags in (("cc", ["-Wconversion"]), ("arm-none-eabi-gcc", ["-mcpu=cortex-m0", "-mthumb", "-O2", "-ffreestanding", f"-I{harness}"]),
                          ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-O2", "-ffreestanding", f"-I{harness}"])):
            if f.name == "edgec_crypto.c":
                flags = flags + sodium.objects_flags(freestanding=cc != "cc")
            r = subprocess.run([cc, *STRICT, *flags, str(f), "-o", str(tmp_path / "k.o")], capture_output=True, text=True)
            assert r.returncode == 0, (cc, f.name, r.stderr)
            if cc != "cc":
                nm = subprocess.run(["arm-none-eabi-nm", "-u", str(tmp_path / "k.o")], capture_output=True, text=True).stdout
                assert not re.search(r"__aeabi_[fd]|__aeabi_\w*2[fd]|__\w*[sd]f\d?\b", nm), (f.name, nm)


def test_dsp_variant_compiles_strictly_for_cortex_m4_and_m7(tmp_path):
    require("arm-none-eabi-gcc")
    import shutil
    runtime = Path(str(resources.files("edgec.runtime_c")))
    for f in runtime.glob("*.[ch]"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(runtime / "edgec_dot_arm_dsp.h", tmp_path / "edgec_dot.h")
    harness = str(resources.files("edgec.verification.harness"))
    for cpu in ("cortex-m4", "cortex-m7"):
        for src in ("edgec_conv2d_s8.c", "edgec_conv2d_cols_s8.c", "edgec_depthwise_conv2d_s8.c", "edgec_fully_connected_s8.c"):
            r = subprocess.run(["arm-none-eabi-gcc", *STRICT, f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=soft", "-O2", "-ffreestanding",
                                f"-I{harness}", str(tmp_path / src), "-o", str(tmp_path / "k.o")], capture_output=True, text=True)
            assert r.returncode == 0, (cpu, src, r.stderr)
            dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "k.o")], capture_output=True, text=True).stdout
            assert "smlad" in dis and "sxtb16" in dis, (cpu, src)


def test_avr_variant_compiles_strictly_and_keeps_constants_in_flash(tmp_path):
    """On AVR the kernels read weights and parameters through __flash pointers (edgec_target_avr.h shipped
    as edgec_target.h): strict gnu99 (the named address space is a GNU C extension), -Wconversion included,
    and none of a kernel's constants may land in .data (which AVR copies into its 2 KB of SRAM)."""
    require("avr-gcc")
    import shutil
    runtime = Path(str(resources.files("edgec.runtime_c")))
    for f in runtime.glob("*.[ch]"):
        shutil.copy(f, tmp_path / f.name)
    for shipped, variant in get_target("atmega328p").kernel_variants:     # the AVR variants (edgec_target.h, edgec_dot.h)
        shutil.copy(runtime / variant, tmp_path / shipped)
    flags = [f if f != "-std=c99" else "-std=gnu99" for f in STRICT]
    assert len(list(tmp_path.glob("edgec_*_s16.c"))) == 5          # the int16 kernels are held to the same
    for src in sorted(tmp_path.glob("edgec_*_s8.c")) + sorted(tmp_path.glob("edgec_*_s16.c")):
        r = subprocess.run(["avr-gcc", "-mmcu=atmega328p", "-O2", "-Wconversion", *flags, str(src), "-o", str(tmp_path / "k.o")],
                           capture_output=True, text=True)
        assert r.returncode == 0, (src.name, r.stderr)
        sections = subprocess.run(["avr-size", "-A", str(tmp_path / "k.o")], capture_output=True, text=True).stdout
        data = [l.split() for l in sections.splitlines() if l.startswith(".data")]
        assert all(int(d[1]) == 0 for d in data), (src.name, sections)


@pytest.mark.parametrize("name", ["digits_cnn", "kws", "resnet"])
def test_real_models_compile_warning_free_for_every_target_and_pass_cppcheck(built, name, tmp_path):
    """The generated C plus the runtime it ships, as each target compiles it (its kernel variants in
    place), under -Wconversion -Wcast-align -Werror with gcc for host, cortex-m0, cortex-m4, rv32imc
    and atmega328p, with clang for the host; and cppcheck reports nothing.  KWS and ResNet-8 are not
    compiled for the ATmega328P: their weight arrays alone exceed its 16-bit address space."""
    out, _, _ = built(name)
    targets = [("host", "cc"), ("host", "clang"), ("cortex-m0", None), ("cortex-m4", None), ("rv32imc", None)]
    compile_strictly_and_cppcheck(out, tmp_path, targets + ([("atmega328p", None)] if name == "digits_cnn" else []))
