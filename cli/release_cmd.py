"""`edgec release`: build -> verify -> accuracy gate -> package -> publish -> canary -> watch -> fleet
(edgec.fleet.release), for CI pipelines: progress lines on stderr, --json with every stage's result,
exit 0 when released, 1 when a gate failed (stopped, or aborted and rolled back), 2 on bad input."""
from __future__ import annotations

from typing import Optional

import typer

from .package_cmd import emit_json


def release(model: str = typer.Argument(..., help="the trained model file (as for `edgec build`)"),
            target: str = typer.Option(..., "--target", "-t", help="build target; verified bit-exact on its emulator"),
            calibration: str = typer.Option(..., "--calibration", "-c", help="calibration data (.npz with x and labels y "
                                                                          "for the accuracy gate, or .npy); also the drift baseline"),
            fleet: str = typer.Option(..., "--fleet"), version: str = typer.Option(..., "--version"),
            key: str = typer.Option(..., "--key", help="the fleet's private package key (signs the package and any rollback)"),
            name: Optional[str] = typer.Option(None, "--name", help="model name in the fleet (default: from the file name)"),
            canary: str = typer.Option("10%", "--canary", help="share of the devices that get it first"),
            max_accuracy_drop: str = typer.Option("1%", "--max-accuracy-drop", help="largest top-1 drop int8 vs float"),
            min_sqnr: Optional[float] = typer.Option(None, "--min-sqnr", help="smallest output SQNR (dB) int8 vs float"),
            max_p95_ms: Optional[float] = typer.Option(None, "--max-p95-ms", help="largest p95 latency on the canary"),
            max_drift_psi: float = typer.Option(0.25, "--max-drift-psi", help="largest input PSI of the canary's captures"),
            min_captures: int = typer.Option(0, "--min-captures", help="captures the canary must have sent"),
            max_failures: int = typer.Option(0, "--max-failures", help="failed job executions tolerated"),
            watch: str = typer.Option("5m", "--watch", help="how long the canary is watched, e.g. 30s, 5m"),
            canary_timeout: str = typer.Option("10m", "--canary-timeout", help="time for the canary to take the job"),
            fleet_timeout: str = typer.Option("30m", "--fleet-timeout", help="time for the rest of the fleet"),
            rollout_rate: Optional[str] = typer.Option(None, "--rollout-rate", help="fleet stage: at most N devices per minute"),
            abort_failure_percent: Optional[float] = typer.Option(None, "--abort-failure-percent"),
            abort_min_devices: Optional[int] = typer.Option(None, "--abort-min-devices"),
            timeout_minutes: Optional[int] = typer.Option(None, "--timeout-minutes"),
            verify_samples: int = typer.Option(20, "--verify-samples", help="calibration samples run on the emulator"),
            work: Optional[str] = typer.Option(None, "--work", help="build and package go here (default release-NAME-VERSION/)"),
            poll: str = typer.Option("2s", "--poll", help="how often jobs, alarms and heartbeats are read"),
            endpoint_url: Optional[str] = typer.Option(None, "--endpoint-url", help="AWS-compatible endpoint (env EDGEC_AWS_ENDPOINT)"),
            region: Optional[str] = typer.Option(None, "--region"), profile: Optional[str] = typer.Option(None, "--profile"),
            as_json: bool = typer.Option(False, "--json")):
    """Release a model to a fleet: build, verify bit-exact, accuracy gate, package, publish, canary, watch, whole fleet."""
    from ..fleet.aws import Cloud
    from ..fleet.release import Release
    tag = f"release {name or model} {version}"
    r = Release(Cloud(endpoint_url, region, profile), model, target, calibration, fleet, version, key, name=name, work=work,
                canary=canary, max_accuracy_drop=max_accuracy_drop, min_sqnr=min_sqnr, max_p95_ms=max_p95_ms,
                max_drift_psi=max_drift_psi, min_captures=min_captures, max_failures=max_failures, watch=watch,
                canary_timeout=canary_timeout, fleet_timeout=fleet_timeout, verify_samples=verify_samples, poll=poll, rollout_rate=rollout_rate,
                abort_percent=abort_failure_percent, abort_min=abort_min_devices, timeout_minutes=timeout_minutes,
                log=lambda line: typer.echo(f"{tag}: {line}", err=True)).run()
    if as_json:
        emit_json(r)
    else:
        for s in r["stages"]:
            typer.echo(f"{s['stage']:<9} {'ok' if s['ok'] else 'FAILED':<7} {s['seconds']:>7.1f} s  {s.get('summary') or s.get('reason', '')}")
        typer.echo(f"{r['name']} {r['version']}: {r['result']}" + (f" (failed at {r['failed_stage']})" if r["failed_stage"] else ""))
    raise typer.Exit(0 if r["result"] == "released" else 1)
