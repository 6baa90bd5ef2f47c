"""`edgec agent run|load|unload|list|describe|predict|capture-status`, `edgec monitor drift` and
`edgec dashboard`, plus `register(app)`, which adds them to the main app (one call in cli/main.py).

The client commands talk to a running agent over its gRPC socket (`-a`, default the env
EDGEC_AGENT_ADDRESS or unix://$XDG_RUNTIME_DIR/edgec/agent.sock); a gRPC error becomes one line naming its
status code.  Every command has --json."""
from __future__ import annotations

import json
import os
import sys
from typing import List, Optional

import typer

from ..compiler.errors import EdgecError

from .package_cmd import emit_json

agent_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="The device agent (SageMaker Edge Agent interface over gRPC) and its client.")
monitor_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Watch a fleet's models in the field.")

JSON = typer.Option(False, "--json")
ENDPOINT = typer.Option(None, "--endpoint-url", help="AWS-compatible endpoint, e.g. the local cloud (env EDGEC_AWS_ENDPOINT)")
REGION = typer.Option(None, "--region", help="AWS region")
PROFILE = typer.Option(None, "--profile", help="AWS profile")


def _default_address() -> str:
    from ..agent.server import DEFAULT_ADDRESS
    return os.environ.get("EDGEC_AGENT_ADDRESS") or DEFAULT_ADDRESS


ADDRESS = typer.Option(None, "--address", "-a", help="the agent's gRPC address: unix:///PATH or HOST:PORT "
                                                      "(default: env EDGEC_AGENT_ADDRESS, else unix://$XDG_RUNTIME_DIR/edgec/agent.sock "
                                                      "or unix://~/.local/state/edgec/run/agent.sock)")


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app, name="agent")
    app.add_typer(monitor_app, name="monitor")
    app.command("dashboard")(dashboard)


def _check_address(address: str | None) -> str:
    address = address or _default_address()
    if address.startswith("unix:"):
        if not address.startswith("unix:///") or len(address) <= len("unix:///"):
            raise EdgecError(f"address '{address}' is not unix:///ABSOLUTE/PATH")
    elif ":" not in address or not address.rsplit(":", 1)[1].isdigit():
        raise EdgecError(f"address '{address}' is neither unix:///PATH nor HOST:PORT")
    return address


CAPTURE_BUFFER_WAIT_S = 60.0   # predict --capture over a file longer than the agent's buffer waits for uploads to drain it
AGENT_START_WAIT_S = 5.0     # an agent started just before (`edgec agent run ... &` in a script) answers well within this


def _client(address):
    from ..agent.client import AgentClient
    c = AgentClient(_check_address(address))
    c.wait_ready(AGENT_START_WAIT_S)
    return c


def _model_line(m: dict) -> str:
    i, o = m["inputs"][0], m["outputs"][0]
    return (f"{m['name']:<16} {m['version']:<10} {m['ram_bytes']:>10,} B  in {i['name']} {i['shape']}  out {o['name']} {o['shape']}  "
            f"{m['inference_count']:>8} inferences  {m['url']}")


@agent_app.command("run")
def run(config: str = typer.Option(..., "--config", "-c", help="agent.json (as `edgec fleet register` writes it)"),
        address: Optional[str] = ADDRESS,
        ram_budget: Optional[str] = typer.Option(None, "--ram-budget", help="RAM all loaded models may use together, "
                                                                            "e.g. 256K (default: edgec_ram_budget_bytes of the config, else no limit)"),
        as_json: bool = JSON):
    """Run the agent until SIGTERM/Ctrl-C: gRPC on the socket, captures, rollouts and heartbeat."""
    from ..agent.server import run as do_run

    def ready(info):
        if as_json:
            typer.echo(json.dumps(info, sort_keys=True))
        else:
            budget = f"{info['ram_budget_bytes']:,} B" if info["ram_budget_bytes"] else "no limit"
            typer.echo(f"edgec agent {info['device']} (fleet {info['fleet']}) on {info['address']}, RAM budget {budget}, "
                       f"models: {', '.join(info['models']) or 'none'}, rollouts {'on' if info['rollouts'] else 'off'}")
        sys.stdout.flush()
    do_run(config, _check_address(address), ram_budget, ready)   # returns only by raising Interrupted


@agent_app.command("load")
def load(url: str = typer.Argument(..., help="a package .tar.gz or an unpacked package directory on the device"),
         name: str = typer.Option(..., "--name", help="the name to serve it under"),
         address: Optional[str] = ADDRESS, as_json: bool = JSON):
    """LoadModel: check the signature and hashes, load the library (within the RAM budget)."""
    from ..agent.client import AgentCallError
    with _client(address) as c:
        try:
            m, verb = c.load(os.path.abspath(url) if os.path.exists(url) else url, name), "loaded"
        except AgentCallError as e:
            # the same package already serving under this name (a rollout installed it first) is what
            # the user asked for: say so and succeed; anything else loaded there stays an error
            m = c.describe(name) if e.code == "ALREADY_EXISTS" else None
            if m is None or not os.path.isfile(url) or m.get("package_sha256") != _manifest_sha256(url):
                raise
            verb = "already loaded"
    if as_json:
        return emit_json({**m, "already_loaded": verb != "loaded"})
    typer.echo(f"{verb} {m['name']} {m['version']}: {m['ram_bytes']:,} B, signed by key {m['key_id']}")


def _manifest_sha256(path: str) -> str | None:
    """sha256 of a package's manifest.json, which the agent reports as the loaded package's identity."""
    import hashlib
    import tarfile
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.getmember("manifest.json")
            if member.size > 1 << 20:
                return None
            return hashlib.sha256(tar.extractfile(member).read()).hexdigest()
    except (OSError, KeyError, tarfile.TarError, AttributeError):
        return None


@agent_app.command("unload")
def unload(name: str = typer.Argument(...), address: Optional[str] = ADDRESS, as_json: bool = JSON):
    """UnLoadModel."""
    with _client(address) as c:
        c.unload(name)
    if as_json:
        return emit_json({"unloaded": name})
    typer.echo(f"unloaded {name}")


@agent_app.command("list")
def list_cmd(address: Optional[str] = ADDRESS, as_json: bool = JSON):
    """ListModels."""
    with _client(address) as c:
        models = c.list()
    if as_json:
        return emit_json(models)
    if not models:
        typer.echo("no models loaded")
    for m in models:
        typer.echo(_model_line(m))


@agent_app.command("describe")
def describe(name: str = typer.Argument(...), address: Optional[str] = ADDRESS, as_json: bool = JSON):
    """DescribeModel: version, RAM, signature key, tensor names, shapes and quantization."""
    with _client(address) as c:
        m = c.describe(name)
    if as_json:
        return emit_json(m)
    typer.echo(f"{m['name']} {m['version']} ({m['target']} build, {m['device_target']} library), {m['ram_bytes']:,} B, "
               f"key {m['key_id']}, {m['inference_count']} inferences, from {m['url']}")
    for kind in ("inputs", "outputs"):
        for t in m[kind]:
            typer.echo(f"  {kind[:-1]:<6} {t['name']:<16} {t['data_type']} {t['shape']}  int8 scale {t['scale']:.6g} zero point {t['zero_point']}")
    if m["preprocess"]:
        from ..host.preprocess import describe as describe_images
        typer.echo(f"  images in: {describe_images(m['preprocess'])}")
    if m["decode"]:
        what = "detections" if m["decode"]["kind"] == "yolo" else "top-k"
        names = m["labels"] or []
        typer.echo(f"  answers: {what} of {m['decode']['classes']} classes"
                   + (f" ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" if names else ""))


@agent_app.command("predict")
def predict(name: str = typer.Argument(...),
            samples: List[str] = typer.Argument(..., help=".npy/.npz with N samples in the model's input layout, or "
                                                          "image files for a model built to take images"),
            output: Optional[str] = typer.Option(None, "--output", "-o", help="write the outputs (N, ...) to this .npy"),
            raw: bool = typer.Option(False, "--raw", help="send int8 (quantized here) and get the model's int8 outputs"),
            capture: bool = typer.Option(False, "--capture", help="CaptureData each input and output after its Predict"),
            top_k: int = typer.Option(5, "--top-k", min=1, help="classifiers: how many classes to show per sample"),
            results_file: Optional[str] = typer.Option(None, "--results", help="write the detections / top-k per "
                                                                                "sample as JSON to this file"),
            address: Optional[str] = ADDRESS, as_json: bool = JSON):
    """Predict each sample (float32 in, dequantized float32 out; int8 with --raw); --capture also captures it.
    Images are resized and normalised as the package says; detectors and classifiers print their answers."""
    import time
    import numpy as np
    from ..package.loaded import quantize
    from ..host.preprocess import load_inputs
    from .results import check_results_option, decoded, print_results, save_outputs
    with _client(address) as c:
        m = c.describe(name)
        check_results_option(results_file, m["decode"])
        spec = m["inputs"][0]
        xs, images = load_inputs(samples, tuple(spec["shape"]), m["preprocess"], f"model '{name}'")
        outs, ids, lat = [], [], []
        for x in xs:
            x = quantize(x, spec["scale"], spec["zero_point"], spec["division"]) if raw else x
            t0 = time.perf_counter()
            if capture:
                y, cid = c.predict_and_capture(name, x, buffer_wait_s=CAPTURE_BUFFER_WAIT_S)
                ids.append(cid)
            else:
                y = c.predict(name, x)
            lat.append(time.perf_counter() - t0)
            outs.append(y)
    out = np.stack(outs)
    if out.ndim >= 2 and out.shape[1] == 1:
        out = out.reshape((len(xs),) + out.shape[2:])
    ospec = m["outputs"][0]
    rows = decoded(m["decode"], m["labels"], out, images, top_k, (ospec["scale"], ospec["zero_point"]) if raw else None)
    save_outputs(output, out, results_file, rows)
    info = {"model": name, "version": m["version"], "samples": len(xs), "dtype": str(out.dtype), "shape": list(out.shape),
            "capture_ids": ids, "mean_latency_ms": round(1e3 * sum(lat) / len(lat), 3), "output": output}
    if (m["decode"] or {}).get("kind") != "yolo":       # a detector's largest raw value is no class
        info["top1"] = out.reshape(len(xs), -1).argmax(1).tolist()
    if rows is not None:
        info["results"] = rows
    if as_json:
        return emit_json(info)
    print_results(rows)
    top1 = info.get("top1")
    typer.echo(f"{name} {m['version']}: {len(xs)} samples, "
               + (f"top-1 {top1[:20]}{' …' if len(top1) > 20 else ''}, " if top1 is not None and rows is None else "")
               + f"{info['mean_latency_ms']} ms per call" + (f", wrote {output}" if output else "")
               + (f", results in {results_file}" if results_file else "") + (f", {len(ids)} captures" if capture else ""))
    for cid in ids[:5]:
        typer.echo(f"  capture {cid}")


@agent_app.command("capture-status")
def capture_status(capture_id: str = typer.Argument(...), address: Optional[str] = ADDRESS, as_json: bool = JSON):
    """GetCaptureDataStatus: SUCCESS (uploaded), IN_PROGRESS (spooled), FAILURE or NOT_FOUND."""
    with _client(address) as c:
        status = c.capture_status(capture_id)
    if as_json:
        return emit_json({"capture_id": capture_id, "status": status})
    typer.echo(f"{capture_id}: {status}")


def _cloud(endpoint_url, region, profile):
    from ..fleet.aws import Cloud
    return Cloud(endpoint_url, region, profile)


@monitor_app.command("drift")
def drift(fleet: str = typer.Option(..., "--fleet"), model: str = typer.Option(..., "--model"),
          baseline: str = typer.Option(..., "--baseline", help=".npy/.npz float samples the model was calibrated on"),
          version: Optional[str] = typer.Option(None, "--version", help="only captures of this model version"),
          bins: int = typer.Option(10, "--bins", help="quantile bins of the population stability index"),
          endpoint_url: Optional[str] = ENDPOINT, region: Optional[str] = REGION, profile: Optional[str] = PROFILE,
          as_json: bool = JSON):
    """Input/output drift of captured data against the calibration data: PSI and KS per feature, classes over time."""
    from ..fleet.monitor import drift as do_drift, format_drift
    if bins < 2 or bins > 100:
        raise EdgecError("--bins must be between 2 and 100")
    r = do_drift(_cloud(endpoint_url, region, profile), fleet, model, baseline, version=version, bins=bins)
    if as_json:
        return emit_json(r)
    typer.echo(format_drift(r))


def _baselines(values: list) -> dict:
    """--baseline MODEL=FILE options (dashboard, monitor watch) as {model: file}."""
    baselines = {}
    for b in values:
        if "=" not in b:
            raise EdgecError(f"--baseline '{b}' is not MODEL=FILE")
        k, v = b.split("=", 1)
        baselines[k] = v
    return baselines


def dashboard(fleet: str = typer.Option(..., "--fleet"),
              out: Optional[str] = typer.Option(None, "--out", help="write index.html + data.json here instead of serving"),
              host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8080, "--port", help="0: any free port"),
              baseline: list[str] = typer.Option([], "--baseline", help="MODEL=calib.npy: drift charts against this data (repeatable)"),
              endpoint_url: Optional[str] = ENDPOINT, region: Optional[str] = REGION, profile: Optional[str] = PROFILE,
              as_json: bool = JSON):
    """The fleet dashboard: devices, model versions, heartbeats, jobs, inference counts, drift charts."""
    from ..fleet import dashboard as dash
    baselines = _baselines(baseline)
    cloud = _cloud(endpoint_url, region, profile)
    if out:
        r = dash.write(cloud, fleet, out, baselines)
        if as_json:
            return emit_json(r)
        typer.echo(f"wrote {r['page']} and {r['data']}: {r['devices']} devices, {r['models']} models")
        return
    dash.serve(cloud, fleet, host, port, baselines, ready=lambda info: (
        typer.echo(json.dumps(info, sort_keys=True) if as_json else f"dashboard of fleet {fleet} at {info['url']} (Ctrl-C stops it)"),
        sys.stdout.flush()))


@monitor_app.command("watch")
def watch(fleet: str = typer.Option(..., "--fleet"),
          baseline: List[str] = typer.Option([], "--baseline", help="MODEL=calib.npy: publish that model's drift against this data (repeatable)"),
          model: List[str] = typer.Option([], "--model", help="only these models (repeatable; default: every model the agents serve)"),
          period: str = typer.Option("60s", "--period", help="how often metrics are measured and published"),
          window: str = typer.Option("10m", "--window", help="drift over the captures of this last stretch of time"),
          count: Optional[int] = typer.Option(None, "--count", help="stop after this many periods (default: until stopped)"),
          alarm: List[str] = typer.Option([], "--alarm", help="METRIC>THRESHOLD: a CloudWatch alarm per model, e.g. InputDriftPSI>0.25 (repeatable)"),
          alarm_period: int = typer.Option(60, "--alarm-period", help="alarm period in seconds (CloudWatch: 10, 30 or a multiple of 60)"),
          endpoint_url: Optional[str] = ENDPOINT, region: Optional[str] = REGION, profile: Optional[str] = PROFILE,
          as_json: bool = JSON):
    """Publish each model's drift and health as CloudWatch metrics every period, with alarms on thresholds."""
    from ..fleet.release import parse_duration
    from ..fleet.watch import parse_alarm, watch as do_watch
    baselines = _baselines(baseline)
    for v in baselines.values():
        if not os.path.isfile(v):
            raise EdgecError("baseline file not found", where=v)
    alarms = [parse_alarm(a) for a in alarm]
    if alarm_period not in (10, 30) and (alarm_period < 60 or alarm_period % 60):
        raise EdgecError(f"--alarm-period {alarm_period} is not 10, 30 or a multiple of 60 seconds")
    if count is not None and count < 1:
        raise EdgecError("--count must be at least 1")
    period_s, window_s = parse_duration(period, "--period"), parse_duration(window, "--window")
    if period_s <= 0:
        raise EdgecError("--period must be more than 0 s")

    def emit(rec):
        if as_json:
            typer.echo(json.dumps(rec, sort_keys=True))
        else:
            for m, row in sorted(rec["metrics"].items()):
                typer.echo(f"{rec['time']} {fleet}/{m}: " + ", ".join(f"{k} {v:g}" for k, v in sorted(row.items())))
            for name in rec["alarms_put"]:
                typer.echo(f"{rec['time']} alarm {name}")
        sys.stdout.flush()
    do_watch(_cloud(endpoint_url, region, profile), fleet, baselines, period_s, count, window_s, alarms, alarm_period,
             list(model) or None, emit)
