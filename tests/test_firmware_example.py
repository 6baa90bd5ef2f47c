"""examples/firmware: a Makefile firmware that adds the generated model with the two lines of its
edgec.mk, links with edgec's startup code, and classifies test digits under QEMU (mps2-an386)."""
import shutil
import subprocess
from pathlib import Path

from conftest import require

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_firmware_example_builds_and_classifies(tmp_path):
    require("make", "edgec", "arm-none-eabi-gcc", "qemu-system-arm")
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns("build"))
    for sample in (0, 7):
        r = subprocess.run(["make", "-s", "-C", str(work / "firmware"), "run", f"SAMPLE={sample}"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        line = [l for l in (r.stdout + r.stderr).splitlines() if l.startswith("predicted digit")][-1]   # semihosting console: stderr
        predicted, label = line.split()[2], line.split()[4].rstrip(")")
        assert predicted == label, line
    cmake = (work / "firmware" / "build" / "model" / "CMakeLists.txt").read_text()
    assert "add_library(edgec_digits_cnn STATIC" in cmake
