"""What the commands share about their answers: `--json` output (emit_json), and for `edgec run` and
`edgec agent predict` the decoded results: detections or top-k per sample (edgec.host.postprocess.results),
printed for people, written as JSON with --results."""
from __future__ import annotations

import json
import math
from typing import Optional

import numpy as np
import typer

from ..compiler.errors import EdgecError


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def emit_json(obj) -> None:
    """Every command's --json: indented, sorted keys, non-finite floats as JSON can hold them."""
    typer.echo(json.dumps(_json_safe(obj), indent=2, sort_keys=True))



#: `run` / `agent predict` print the decoded results of at most this many samples (all are in --json / --results).
SHOWN_RESULTS = 10


def decoded(spec: dict | None, labels, out: np.ndarray, images, top_k: int, raw_scale=None) -> list | None:
    """results() of edgec.host.postprocess for a detector or classifier build, else None.  `raw_scale`:
    (scale, zero point) when `out` holds the int8 outputs (--raw): decoding reads the real values."""
    from ..host.postprocess import results
    if spec is None:
        return None
    if raw_scale is not None:
        out = ((out.astype(np.float64) - raw_scale[1]) * raw_scale[0]).astype(np.float32)   # as the float outputs are
    return results(spec, out, labels, images, top_k)


def check_results_option(path: Optional[str], spec: dict | None) -> None:
    """--results for a model whose outputs are neither detections nor classes is refused up front."""
    if path and spec is None:
        raise EdgecError("--results: the model is neither a detector nor a classifier, there is nothing to decode",
                         hint="write its outputs with -o OUTPUTS.npy")


def write_results(path: Optional[str], rows: list | None) -> None:
    """{"results": rows} as JSON (scores and boxes are finite numbers: plain JSON)."""
    if not path or rows is None:
        return
    try:
        with open(path, "w") as f:
            f.write(json.dumps({"results": rows}, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise EdgecError(f"cannot write {path}: {e.strerror}") from None


def save_outputs(output: Optional[str], out: np.ndarray, results_path: Optional[str], rows: list | None) -> None:
    """What `run` and `agent predict` write: the results JSON (--results) and the raw outputs .npy (-o)."""
    write_results(results_path, rows)
    if output:
        try:
            if isinstance(out, dict):           # several outputs: an .npz keyed by output name
                np.savez(output, **out)
            else:
                np.save(output, out)
        except OSError as e:
            raise EdgecError(f"cannot write {output}: {e.strerror}") from None


def print_results(rows: list | None) -> None:
    from ..host.postprocess import format_result
    for row in (rows or [])[:SHOWN_RESULTS]:
        typer.echo(format_result(row))
    if rows and len(rows) > SHOWN_RESULTS:
        typer.echo(f"... and {len(rows) - SHOWN_RESULTS} more samples (all of them with --json or --results FILE)")
