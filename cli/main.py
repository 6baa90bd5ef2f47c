"""The `edgec` command: thin — parses, calls the library, prints.  Bad input never shows a traceback:
an EdgecError (or a file/permission problem) becomes one line on stderr and a non-zero exit."""
from __future__ import annotations

import math
import os
import signal
import sys
from typing import List, Optional

import typer

from ..compiler import __version__
from ..compiler.errors import EdgecError, Interrupted
from .results import emit_json

try:                                    # typer >= 0.16 vendors click
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:                     # pragma: no cover - older typer uses click itself
    from click.exceptions import ClickException as _ClickException

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compile trained models to integer-only C99 for microcontrollers, bit-exact with a reference.")


def _log(quiet: bool):
    return (lambda msg: None) if quiet else (lambda msg: typer.echo(f"edgec: {msg}", err=True))


@app.command()
def build(model: str = typer.Argument(..., help="model file: .onnx, Keras .h5/.keras, Darknet .cfg or .tflite"),
          weights: Optional[str] = typer.Argument(None, help="Darknet .weights (default: beside the .cfg, same stem)"),
          target: str = typer.Option("cortex-m4", "--target", "-t", help="see `edgec targets`"),
          output: str = typer.Option("out", "--output", "-o", help="output directory: new, empty, or an earlier edgec output (replaced only on success)"),
          calibration: Optional[str] = typer.Option(None, "--calibration", "-c",
                                                    help=".npy/.npz with N float samples in the model's input layout"),
          name: Optional[str] = typer.Option(None, "--name", help="C name of the model (default: the file's stem)"),
          ram: Optional[str] = typer.Option(None, "--ram", help="RAM budget instead of the target's (e.g. 1M); "
                                                                  "row bands only as far as it needs"),
          flash: Optional[str] = typer.Option(None, "--flash", help="flash budget instead of the target's (e.g. 2M)"),
          optimize: str = typer.Option("ram", "--optimize", help="ram: least RAM (row bands, some recomputation); "
                                                                 "speed: every layer once, whole"),
          calibration_method: Optional[str] = typer.Option(None, "--calibration-method",
                                                           help="activation ranges: minmax (default), percentile, mse "
                                                                "or entropy (README, Calibration)"),
          bias_correction: bool = typer.Option(False, "--bias-correction/--no-bias-correction",
                                               help="correct conv/FC biases for the mean shift weight quantization causes"),
          max_accuracy_drop: Optional[str] = typer.Option(
              None, "--max-accuracy-drop", help="mixed precision: make the fewest activations int16 that keep top-1 "
                                                "within this of float (e.g. 1%) on the --calibration data (.npz: x, y)"),
          min_sqnr: Optional[float] = typer.Option(None, "--min-sqnr", help="mixed precision for non-classifiers: "
                                                   "every calibration sample's output SQNR vs float at least this (dB)"),
          preprocess: Optional[str] = typer.Option(
              None, "--preprocess", help="how images become the input: comma-separated KEY=VALUE of scale (a number "
                                         "or a/b), mean and std (one value or one per channel), layout (nhwc|nchw), "
                                         "color (rgb|bgr|gray); value = (pixel 0..255 * scale - mean) / std, e.g. "
                                         "scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225,layout=nchw"),
          labels: Optional[str] = typer.Option(None, "--labels", help="class names, one per line (kept in report.json)"),
          input_shape: Optional[List[str]] = typer.Option(
              None, "--input-shape", help="shape of an input with dynamic dimensions: 1,3,48,192, or by name "
                                          "x=1,3,48,192 (repeat for several inputs); default: from the calibration data"),
          state: Optional[List[str]] = typer.Option(
              None, "--state", help="a streaming step's state as input and output, IN=OUT (e.g. h=h_next; repeat for "
                                    "several): both get one quantization, so firmware copies OUT into IN between steps"),
          as_json: bool = typer.Option(False, "--json", help="print report.json instead of the table")):
    """Import, quantize, plan and generate C for MODEL into the output directory."""
    from ..driver.build import build as do_build
    from ..reports.layers import format_table
    report = do_build(model, target, output, calibration, name, log=_log(as_json), weights=weights, ram=ram, flash=flash,
                      optimize=optimize, calibration_method=calibration_method, bias_correction=bias_correction,
                      max_accuracy_drop=max_accuracy_drop, min_sqnr=min_sqnr, preprocess=preprocess, labels=labels,
                      input_shapes=input_shape, state=state)
    if as_json:
        emit_json(report)
    else:
        typer.echo(format_table(report))
        if report.get("preprocess"):
            from ..host.preprocess import describe
            typer.echo(f"images in: {describe(report['preprocess'])}")
        if report.get("labels"):
            names = report["labels"]
            typer.echo(f"labels: {len(names)} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
        typer.echo(f"wrote {output.rstrip('/')}/ (model.h, model.c, weights.c, {len(report['runtime_files'])} runtime files, report.json)")


def _print_cost(r: dict, profile: bool) -> None:
    """The cost lines of verify/run; with --profile the per-layer table (instructions, and cycles
    where the target gives them: exact on AVR, estimated by the cost model on Cortex-M)."""
    if "instructions_per_inference" in r:
        cyc = (f"; cycles per inference: {r['cycles_per_inference']:,} ({r['cycles_kind']})"
               if "cycles_per_inference" in r else "")
        typer.echo(f"instructions per inference: {r['instructions_per_inference']:,}{cyc}; "
                   f"soft-float helpers: {', '.join(r.get('float_helpers') or []) or 'none'}")
    if profile and r.get("layers"):
        has_cyc = "cycles" in r["layers"][0]
        head = f"{'#':>3}  {'layer':<32} {'op':<16} {'MACs':>12} {'instructions':>14} {'instr/MAC':>9}"
        typer.echo(head + (f" {'cycles':>14} {'cyc/MAC':>8}" if has_cyc else ""))
        for l in r["layers"]:
            per_mac = f"{l['instructions'] / l['macs']:.2f}" if l["macs"] else "-"
            line = f"{l['index']:>3}  {l['name'][-32:]:<32} {l['op']:<16} {l['macs']:>12,} {l['instructions']:>14,} {per_mac:>9}"
            if has_cyc:
                cpm = f"{l['cycles'] / l['macs']:.2f}" if l["macs"] else "-"
                line += f" {l['cycles']:>14,} {cpm:>8}"
            typer.echo(line)
    elif profile:
        typer.echo("per-layer counts need an emulated target (--on cortex-m4, rv32imc, atmega328p, ...)")


@app.command()
def verify(out_dir: str = typer.Argument(..., help="a build directory"),
           on: str = typer.Option("host", "--on", help="host or an emulated target (see `edgec targets`)"),
           input: List[str] = typer.Option(..., "--input", "-i", help=".npy/.npz float samples, or image files "
                                                                     "(repeat -i) for a build that takes images"),
           profile: bool = typer.Option(False, "--profile", help="print executed instructions/cycles per layer (emulated targets)"),
           sanitize: bool = typer.Option(False, "--sanitize", help="host only: build with UBSan + ASan; any undefined "
                                                                   "behaviour or memory error fails the run"),
           layers: bool = typer.Option(False, "--layers", help="per-layer SQNR of the int8 model vs the float one "
                                                               "(also kept in report.json)"),
           reset_each: bool = typer.Option(False, "--reset-each", help="stateful (streaming) models: run every "
                                           "sample from the initial state instead of as one stream"),
           as_json: bool = typer.Option(False, "--json")):
    """Run the generated C on a target and compare it bit for bit with the integer reference."""
    from ..verification.verify import verify as do_verify
    r = do_verify(out_dir, on, input, sanitize, layers=layers, reset_each=reset_each)
    if as_json:
        emit_json(r)
    else:
        fa = r["float_agreement"]
        for o in r.get("outputs", []):              # several outputs: each one's own line
            ofa = o["float_agreement"]
            typer.echo(f"output {o['name']} {o['shape']}: {'bit-exact' if o['bit_exact'] else 'NOT bit-exact'}, "
                       + (f"top-1 agreement {ofa['top1_agreement']:.3f}, " if "top1_agreement" in ofa else "")
                       + f"max abs error {ofa['max_abs_error']:.4g}, SQNR {ofa['sqnr_db']} dB")
        status = "bit-exact" if r["bit_exact"] else f"NOT bit-exact: {r['mismatches']} of {r['samples']} samples differ"
        typer.echo(f"{r['model']} on {r['target']}: {r['samples']} samples, {status}")
        if r.get("stream"):
            typer.echo(r["stream"]["note"])
        parts = [f"top-1 agreement {fa['top1_agreement']:.3f}"] if "top1_agreement" in fa else []
        parts += [f"max abs error {fa['max_abs_error']:.4g}", f"SQNR {fa['sqnr_db']} dB"]
        typer.echo("vs float reference: " + ", ".join(parts))
        if r.get("sanitized"):
            typer.echo("UBSan + ASan: no undefined behaviour, no memory error")
        _print_cost(r, profile)
        if layers:
            _print_layer_sqnr(r["layer_sqnr"])
    raise typer.Exit(0 if r["bit_exact"] else 1)


def _print_layer_sqnr(rows: list) -> None:
    """verify --layers: each layer's SQNR (int8 vs float), what the layer itself loses (its output's
    SQNR minus its input's), the biggest loss marked: where the model loses its accuracy."""
    loss = [r["input_sqnr_db"] - r["sqnr_db"] if r["input_sqnr_db"] is not None and math.isfinite(r["input_sqnr_db"])
            and math.isfinite(r["sqnr_db"]) else None for r in rows]
    worst = max((x for x in loss if x is not None), default=None)
    typer.echo(f"{'#':>3}  {'layer':<32} {'op':<16} {'SQNR dB':>8} {'loss dB':>8} {'max abs err':>12}")
    for r, x in zip(rows, loss):
        mark = "  <- largest loss" if worst is not None and worst > 0 and x == worst else ""
        typer.echo(f"{r['index']:>3}  {r['name'][-32:]:<32} {r['op']:<16} {r['sqnr_db']:>8} "
                   f"{'-' if x is None else f'{x:.1f}':>8} {r['max_abs_error']:>12.4g}{mark}")


@app.command()
def run(out_dir: str = typer.Argument(..., help="a build directory, or a package .tar.gz (a microcontroller package runs its model image)"),
        samples: List[str] = typer.Argument(..., help=".npy/.npz float samples, or image files for a build that takes images"),
        on: str = typer.Option("host", "--on"),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="write the outputs (N, ...) to this .npy"),
        raw: bool = typer.Option(False, "--raw", help="write the int8 outputs instead of dequantized floats"),
        top_k: int = typer.Option(5, "--top-k", min=1, help="classifiers: how many classes to show per sample"),
        results_file: Optional[str] = typer.Option(None, "--results", help="write the detections / top-k per sample "
                                                                            "as JSON to this file"),
        profile: bool = typer.Option(False, "--profile", help="print executed instructions/cycles per layer (emulated targets)"),
        reset_each: bool = typer.Option(False, "--reset-each", help="stateful (streaming) models: run every "
                                        "sample from the initial state instead of as one stream"),
        as_json: bool = typer.Option(False, "--json")):
    """Run the compiled C on a target: detections or top-k classes per sample, outputs (N, ...) to a .npy file."""
    from .results import check_results_option, decoded, print_results, save_outputs
    from ..verification.verify import Built, run_samples
    if out_dir.endswith((".tar.gz", ".tgz")) and os.path.isfile(out_dir):     # a package: its image on the target
        from ..fleet.mcu import package_built
        built = package_built(out_dir)
    else:
        built = Built(out_dir)
    check_results_option(results_file, built.decode)
    xs, images = built.inputs(samples)
    out, costs = run_samples(built, on, xs, raw, reset_each)
    rows = decoded(built.decode, built.labels, out, images, top_k,
                   (built.outq.scalar_scale, built.outq.scalar_zp) if raw else None)
    save_outputs(output, out, results_file, rows)
    several = isinstance(out, dict)             # several outputs: {name: (N, ...)}
    info = {"output": output, "shape": {k: list(v.shape) for k, v in out.items()} if several else list(out.shape),
            "dtype": str(next(iter(out.values())).dtype if several else out.dtype), "target": on, **costs}
    if rows is not None:
        info["results"] = rows
    if as_json:
        emit_json(info)
    else:
        print_results(rows)
        if costs.get("stream"):
            typer.echo(costs["stream"])
        shown = (", ".join(f"{k} {tuple(v.shape)}" for k, v in out.items()) if several else tuple(out.shape))
        typer.echo(f"{'wrote ' + output if output else 'outputs'}: {info['dtype']} {shown} computed on {on}"
                   + (f"; results in {results_file}" if results_file else ""))
        _print_cost(info, profile)


@app.command()
def report(out_dir: str = typer.Argument(..., help="a build directory"),
           html: Optional[str] = typer.Option(None, "--html", help="also write a self-contained HTML page"),
           as_json: bool = typer.Option(False, "--json")):
    """Print a build's per-layer table and memory use; --html writes the page with the memory timeline."""
    from ..reports.layers import format_table
    from ..reports.html import write_html
    from ..verification.verify import Built
    rep = Built(out_dir).report
    if html:
        write_html(rep, html)
    if as_json:
        emit_json(rep)
        return
    typer.echo(format_table(rep))
    mem = rep["memory"]
    typer.echo(f"peak live arena bytes {mem['peak_live_bytes']:,} at step {mem['peak_step']} ({mem['peak_node']}): "
               + ", ".join(f"{p['tensor']} {p['size']:,} B" for p in mem["peak_tensors"][:4]))
    if html:
        typer.echo(f"wrote {html}")


@app.command()
def targets(as_json: bool = typer.Option(False, "--json")):
    """List the targets: compiler, emulator, RAM and flash."""
    from ..compiler.targets import TARGETS
    rows = [t.as_dict() for t in TARGETS.values()]
    if as_json:
        emit_json(rows)
        return
    for t in rows:
        mem = "unlimited" if t["ram_bytes"] is None else f"{t['ram_bytes'] // 1024} KB RAM / {t['flash_bytes'] // 1024} KB flash"
        typer.echo(f"{t['name']:<10} {mem:<28} {t['emulator']:<40} {t['description']}")


@app.command()
def version():
    """Print the edgec version."""
    typer.echo(__version__)


from .fleet_cmd import register as _register_fleet_commands  # noqa: E402  keygen, package, fleet, cloud
_register_fleet_commands(app)
from .agent_cmd import register as _register_agent_commands  # noqa: E402  agent, monitor, dashboard
_register_agent_commands(app)
from .image_cmd import register as _register_image_command  # noqa: E402  image
_register_image_command(app)
from .device_cmd import register as _register_device_command  # noqa: E402  device run
_register_device_command(app)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def main(argv: List[str] | None = None) -> int:
    """Exit codes: 0 success, 1 a check failed (verify not bit-exact), 2 bad input, 130 Ctrl-C, 143 SIGTERM."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:                  # not the main thread (an embedding program): keep its handler
        previous = None
    try:
        return _main(argv)
    finally:
        if previous is not None:        # called in-process (tests, an embedding program): leave its handler as it was
            signal.signal(signal.SIGTERM, previous)


def _main(argv: List[str] | None) -> int:
    try:
        rc = app(args=argv, standalone_mode=False)
        if rc == 130:                   # typer turns KeyboardInterrupt into Exit(130) and returns it
            raise Interrupted(signal.SIGINT)
        return rc if isinstance(rc, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except EdgecError as e:
        first, *reasons = e.lines()
        typer.echo(f"edgec: error: {first}", err=True)
        for line in reasons:                    # every reason of a refused model, one line each
            typer.echo(f"  {line}", err=True)
        if "--json" in (sys.argv[1:] if argv is None else argv):
            emit_json({"error": str(e), **e.facts, **({"reasons": e.reasons} if e.reasons else {})})
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted(Interrupted(signal.SIGINT))
    except Interrupted as e:
        return _interrupted(e)
    except _ClickException as e:
        typer.echo(f"edgec: error: {e.format_message()}", err=True)
        return e.exit_code
    except OSError as e:
        typer.echo(f"edgec: error: {e.filename or ''}: {e.strerror}", err=True)
        return 2


def _interrupted(e: Interrupted) -> int:
    try:
        typer.echo(f"edgec: stopped by {signal.Signals(e.signum).name}", err=True)
    except (KeyboardInterrupt, Interrupted):
        pass
    return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
