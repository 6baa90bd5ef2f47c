"""Run a model image the way a firmware does: runtime_c/edgec_image.c and the kernels, built for a target.

`execute_image` puts the image into flash as a const array behind a run() of the generated code's
signature, so the same harnesses (host stdin/stdout, QEMU semihosting with the instruction counter)
run it as they run generated code.  `check_image` builds the host tool (harness/main_image.c) with a
chosen kernel set and returns its one line: how a firmware accepts or refuses an image."""
from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from ..codegen.c import CONV_FILES, KERNEL_FILE, KERNEL_FILE_S16, KERNEL_SHARED, RUNTIME_COMMON, WIDE_FILES
from ..compiler.targets import get_target
from .devicebuild import build_program, run_program
from .toolchain import Execution, harness_file, execute

RUN_NAME = "edgec_image_model"
#: functions that check an image before it runs (once, not per inference)
CHECK_FUNCS = ("edgec_image_check", "check_call", "region_ok", "shapes_ok", "band_ok", "sha256_equal", "edgec_image_reset")


def runtime_files() -> list:
    """The interpreter and every kernel: a firmware with the full kernel set."""
    kernels = set(KERNEL_FILE.values()) | set(CONV_FILES.values()) | set(KERNEL_FILE_S16.values()) | set(WIDE_FILES.values())
    return sorted(set(RUNTIME_COMMON) | kernels | {h for f in kernels for h in KERNEL_SHARED.get(f, ())}
                  | {"edgec_image.h", "edgec_image.c"})


def _c_bytes(data: bytes) -> str:
    return ",\n".join(", ".join(str(b) for b in data[i:i + 32]) for i in range(0, len(data), 32))


def image_dir(img: bytes, arena_bytes: int, in_bytes: int, out_bytes: int, where: Path) -> Path:
    """A source directory: the runtime, the image as flash data, and a run() that checks it once."""
    where.mkdir(parents=True, exist_ok=True)
    runtime = resources.files("edgec.runtime_c")
    for f in runtime_files():
        (where / f).write_bytes(runtime.joinpath(f).read_bytes())
    (where / "model.h").write_text(f"#include <stdint.h>\n#define EDGEC_IMAGE_MODEL_IN {in_bytes}\n"
                                   f"int {RUN_NAME}_run(const void *input, void *output);\n")
    (where / "image_model.c").write_text(
        "/* A model image in flash, run by the interpreter: checked on the first call. */\n"
        "#include <string.h>\n#include \"model.h\"\n#include \"edgec_image.h\"\n\n"
        f"static const uint8_t image[{len(img)}] __attribute__((aligned(8))) = {{\n{_c_bytes(img)}\n}};\n"
        f"static uint32_t arena[{max(1, (arena_bytes + 3) // 4)}];\n\n"
        "/* A firmware's load, the first time: check; a streaming model's initial state. */\n"
        "__attribute__((noinline)) int edgec_image_model_setup(void)\n{\n"
        "    static int checked = -1;\n"
        "    if (checked < 0) {\n"
        "        checked = edgec_image_check(image, sizeof image, sizeof arena, 0);\n"
        "        if (checked == EDGEC_IMAGE_OK)\n"
        "            edgec_image_reset(image, (uint8_t *)arena);\n"
        "    }\n"
        "    return checked;\n}\n\n"
        "/* A call after run(): its call site ends the measured run (compiler/image_exec._run_only). */\n"
        "__attribute__((noinline)) void edgec_image_model_done(void)\n{\n    __asm__ volatile(\"\");\n}\n\n"
        f"int {RUN_NAME}_run(const void *input, void *output)\n{{\n"
        "    int r = edgec_image_model_setup();\n"
        "    if (r != EDGEC_IMAGE_OK) {\n"
        f"        memset(output, 0x7f, {out_bytes});\n"
        "        return r;\n    }\n"
        "    r = edgec_image_run(image, (uint8_t *)arena, input, output);\n"
        "    edgec_image_model_done();\n"
        "    return r;\n}\n")
    return where


def execute_image(target_name: str, img: bytes, samples: bytes, in_bytes: int, out_bytes: int, arena_bytes: int):
    """(raw outputs, Execution) of the image on a target; Execution.instructions counts run() only
    (the one-time check is taken out)."""
    target = get_target(target_name)
    with tempfile.TemporaryDirectory(prefix="edgec-img-") as work:
        src = image_dir(img, arena_bytes, in_bytes, out_bytes, Path(work) / "model")
        cfile = src / "edgec_image.c"           # the model harness links no libsodium: check_image proves the hash
        cfile.write_text("#define EDGEC_IMAGE_NO_HASH 1   /* measuring run() only */\n" + cfile.read_text())
        ex = execute(target, src, RUN_NAME, in_bytes, out_bytes, samples, Path(work))
    if ex.instructions is not None:
        ex.instructions = _run_only(ex)
    return ex.outputs, ex


def _run_only(ex: Execution) -> int:
    """edgec_image_run's instructions with the kernels it calls, every sample.  The harness marks the
    wrapper's call sites (setup, run, done) and counts from each to the next reached, so the run call's
    mark is run() alone, neither the one-time check nor the initial state's copy (a generated build
    has that in .data, copied at boot).  Without marks: the total less the setup's own functions."""
    marks = ex.call_site_instructions
    if marks and len(marks) == 3:
        return marks[1]
    return ex.instructions - sum(v for k, v in ex.per_function.items()
                                 if k in CHECK_FUNCS or "sha256" in k or k.startswith("edgec_image_model_"))


_TOOLS: dict = {}


def check_image(img: bytes, defines=(), samples: bytes = b"", selftest: bool = False, target_name: str = "host") -> tuple:
    """(exit code, first line of a refusal, output bytes, the tool's "ok" lines) of the image tool
    (harness/main_image.c, with the sha256 of edgec_crypto.c / libsodium) on an image, natively or in
    the target's emulator (there always with the self-test); `defines` pick the kernel set (e.g.
    "EDGEC_IMAGE_DEFAULT=0", "EDGEC_IMAGE_WITH_FULLY_CONNECTED_S8=1")."""
    target = get_target(target_name)
    runtime = Path(str(resources.files("edgec.runtime_c").joinpath("edgec_image.c"))).parent
    sizes = () if target.emulator is None else _device_buffers(img)
    key = (target.name, tuple(defines) + sizes)
    if key not in _TOOLS or not _TOOLS[key].exists():             # built once per kernel set in a process
        keep = Path(tempfile.mkdtemp(prefix="edgec-imgtool-"))
        atexit.register(shutil.rmtree, keep, True)
        sources = [runtime / f for f in runtime_files() if f.endswith(".c")] + [harness_file("main_image.c")]
        _TOOLS[key] = build_program(target, sources, keep / "build", key[1], [runtime], crypto=True)[0]
    exe = _TOOLS[key]
    with tempfile.TemporaryDirectory(prefix="edgec-imgrun-") as work:
        w = Path(work)
        run = w / "run"
        run.mkdir()
        (run / "image.bin").write_bytes(img)
        if target.emulator is None:
            r = subprocess.run([str(exe), str(run / "image.bin")] + (["--selftest"] if selftest else []),
                               input=samples, capture_output=True, timeout=600)
            out, said = r.stdout, r.stderr.decode(errors="replace")
            first = out.split(b"\n", 1)[0].decode(errors="replace") if r.returncode == 3 else ""
        else:
            (run / "in.bin").write_bytes(samples)
            r = run_program(target, exe, run)
            said = (r.stdout + r.stderr).decode(errors="replace")
            first = said.splitlines()[-1] if r.returncode == 3 and said.strip() else ""
            out = (run / "out.bin").read_bytes() if (run / "out.bin").exists() else b""
    return r.returncode, first, out, said


def _align8(n: int) -> int:
    return (n + 7) // 8 * 8


def _device_buffers(img: bytes) -> tuple:
    """The emulated tool's buffers, sized by what the header says (the image still checks itself)."""
    from ..codegen.image import read_header
    try:
        h = read_header(img)
        arena, io = h["arena_bytes"], max(h["input_bytes"], h["output_bytes"])
    except Exception:                           # not even a header: the check refuses it anyway
        arena, io = 64, 64
    return (f"IMAGE_MAX={_align8(len(img) + 8)}", f"ARENA_MAX={_align8(min(arena, 1 << 20) + 8)}",
            f"IO_MAX={min(io, 1 << 20) + 8}")


__all__ = ["execute_image", "check_image", "image_dir", "runtime_files", "Execution"]
