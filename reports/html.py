"""report.json → one self-contained HTML page: the memory timeline (arena bytes live at each step,
the peak marked) as inline SVG, and the per-layer table.  No scripts, no external files."""
from __future__ import annotations


import jinja2

from ..compiler.errors import EdgecError

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("edgec.reports", "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined)


def timeline_bars(report: dict, width: int = 900, height: int = 220) -> list:
    mem = report["memory"]
    tl = mem["timeline"] or [0]
    top = max(max(tl), 1)
    bar = width / len(tl)
    return [{"x": round(i * bar, 2), "w": round(max(bar - 1, 1), 2), "h": round(v / top * (height - 20), 2),
             "y": round(height - v / top * (height - 20), 2), "bytes": v, "peak": i == mem["peak_step"],
             "node": mem["schedule"][i] if i < len(mem["schedule"]) else ""} for i, v in enumerate(tl)]


def write_html(report: dict, path: str) -> None:
    from .layers import profile_columns
    page = _ENV.get_template("report.html.j2").render(r=report, bars=timeline_bars(report), width=900, height=220,
                                                      profile_cols=profile_columns(report))
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        raise EdgecError(f"cannot write {path}: {e.strerror}") from None
