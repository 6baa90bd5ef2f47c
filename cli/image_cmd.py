"""`edgec image OUT/`: the model image of a build (codegen/image.py), for firmware that loads models as data."""
from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def image(out_dir: str = typer.Argument(..., help="a build directory"),
              samples: Optional[str] = typer.Option(None, "--samples", help=".npy/.npz float samples: the first (up to 4) become "
                                                    "the self-test's golden inputs (default: the build's)"),
              model_version: str = typer.Option("1", "--model-version", help="the version the header carries (1-15 bytes)"),
              as_json: bool = typer.Option(False, "--json")):
        """Write OUT/model.edgecimg: header, schedule, weights and self-test, run by runtime_c/edgec_image.c."""
        from .results import emit_json
        from ..driver.model_image import make_image
        r = make_image(out_dir, samples, model_version)
        if as_json:
            emit_json(r)
            return
        typer.echo(f"wrote {r['path']}: {r['bytes']:,} bytes ({r['data_bytes']:,} of weights and parameters), "
                   f"{r['calls']} calls, kernels {', '.join(r['kernels'])}, arena {r['arena_bytes']:,} B, "
                   f"{r['selftests']} golden inputs")
