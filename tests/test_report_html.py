"""The HTML report renders in a real browser (Debian's headless Chromium): a non-empty screenshot,
the per-layer table and the memory timeline with its peak marked."""
import subprocess

import numpy as np

from conftest import CASES, DATA, require

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_page_renders_in_chromium(tmp_path):
    require("chromium")
    import sys
    np.save(tmp_path / "calib.npy", np.load(DATA / "digits_X_train_float_0to1_x64.npy")[:200])
    edgec = [sys.executable, "-m", "edgec.cli.main"]
    assert subprocess.run(edgec + ["build", CASES["digits_cnn"].path, "-o", str(tmp_path / "out"), "-c", str(tmp_path / "calib.npy")],
                          capture_output=True).returncode == 0
    r = subprocess.run(edgec + ["report", str(tmp_path / "out"), "--html", str(tmp_path / "report.html")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "peak live arena bytes" in r.stdout
    url = (tmp_path / "report.html").as_uri()
    shot = tmp_path / "shot.png"
    subprocess.run(CHROMIUM + [f"--user-data-dir={tmp_path / 'p1'}", "--window-size=1200,900", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    dom = subprocess.run(CHROMIUM + [f"--user-data-dir={tmp_path / 'p2'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<tr") == 1 + 6                      # header + six layers
    assert 'id="layers"' in dom and "FullyConnected" in dom
    assert dom.count('class="peak"') == 2                 # the peak bar and its table row
