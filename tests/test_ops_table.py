"""README's table of supported ops per importer (issue 18 part 6) is what bench/ops_table.py reads from
the importers' own tables: an op added to an importer without the README table regenerated fails here."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_ops_table_is_the_importers_tables():
    table = subprocess.run([sys.executable, str(REPO / "bench" / "ops_table.py")], capture_output=True, text=True,
                           check=True, cwd=REPO).stdout
    lines = table.strip().splitlines()
    assert len(lines) == 7 and lines[0].startswith("| importer |"), table
    for name in ("Conv", "LSTM", "Resize", "ConvTranspose"):
        assert f" {name}," in lines[2], (name, lines[2])
    for name in ("Conv2DTranspose", "UpSampling2D", "SeparableConv1D", "PReLU", "LSTM"):
        assert f" {name}," in lines[3] or lines[3].endswith(f" {name} |"), (name, lines[3])
    assert table in (REPO / "README.md").read_text(), "README's ops table differs: python bench/ops_table.py"
