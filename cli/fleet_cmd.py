"""`edgec fleet create|register|publish|deploy|status` and `edgec cloud serve`, plus `register(app)`,
which adds these, `keygen` and `package` to the main app (one call in cli/main.py).

Every fleet command takes `--endpoint-url` (or EDGEC_AWS_ENDPOINT), `--region`, `--profile` as the
AWS CLI does, and `--json`.  Library errors are EdgecErrors, so main() prints them on one line."""
from __future__ import annotations

import signal
import threading
from typing import List, Optional

import typer

from ..compiler.errors import Interrupted

from .package_cmd import emit_json, keygen, package_app

fleet_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="Device fleets on AWS IoT + S3 (or the local cloud): create, register, publish, deploy, status.")
cloud_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The local cloud for tests and demos.")

ENDPOINT = typer.Option(None, "--endpoint-url", help="AWS-compatible endpoint, e.g. the local cloud (env EDGEC_AWS_ENDPOINT)")
REGION = typer.Option(None, "--region", help="AWS region (default: the profile's, or us-east-1 with --endpoint-url)")
PROFILE = typer.Option(None, "--profile", help="AWS profile")
JSON = typer.Option(False, "--json")


def register(app: typer.Typer) -> None:
    app.command()(keygen)
    app.add_typer(package_app, name="package")
    app.add_typer(fleet_app, name="fleet")
    app.add_typer(cloud_app, name="cloud")
    from .release_cmd import release
    app.command("release")(release)


def _cloud(endpoint_url, region, profile):
    from ..fleet.aws import Cloud
    return Cloud(endpoint_url, region, profile)


def _steps(steps) -> None:
    for s in steps:
        typer.echo(f"  {s['action']:<11} {s['kind']:<12} {s['name']}")


@fleet_app.command("create")
def create(fleet: str = typer.Argument(..., help="fleet name (letters, digits, hyphens)"),
           bucket: str = typer.Option(..., "--bucket", help="S3 bucket for packages and captures (created if missing)"),
           pubkey: str = typer.Option(..., "--pubkey", help="the package-signing public key the fleet trusts"),
           output: Optional[str] = typer.Option(None, "--output", help="capture location s3://BUCKET/PREFIX (default prefix: capture)"),
           role_arn: Optional[str] = typer.Option(None, "--role-arn", help="use this IAM role for device credentials instead of creating one"),
           endpoint_url: Optional[str] = ENDPOINT, region: Optional[str] = REGION, profile: Optional[str] = PROFILE,
           as_json: bool = JSON):
    """Create a device fleet: thing type, thing group, IAM role + role alias, device policy, bucket."""
    from ..fleet.provision import create_fleet
    r = create_fleet(_cloud(endpoint_url, region, profile), fleet, bucket, pubkey, output, role_arn)
    if as_json:
        return emit_json(r)
    typer.echo(f"fleet {fleet}: role alias {r['role_alias']}, policy {r['policy']}, captures to {r['output']}, "
               f"trusts package key {r['package_key_id']}")
    _steps(r["steps"])


@fleet_app.command("register")
def register_cmd(fleet: str = typer.Argument(...), devices: List[str] = typer.Argument(..., help="device (thing) names"),
                 out: str = typer.Option("devices", "--out", help="where each device's credential bundle goes (OUT/DEVICE/)"),
                 ca_file: Optional[str] = typer.Option(None, "--ca-file", help="CA of the credential endpoint (default: AWS's roots, or the local cloud's)"),
                 rotate: bool = typer.Option(False, "--rotate", help="issue new certificates and deactivate the old ones"),
                 endpoint_url: Optional[str] = ENDPOINT, region: Optional[str] = REGION, profile: Optional[str] = PROFILE,
                 as_json: bool = JSON):
    """Register devices: thing in the fleet, active certificate with the fleet policy, credential bundle."""
    from ..fleet.provision import register_devices
    r = register_devices(_cloud(endpoint_url, region, profile), fleet, devices, out, ca_file, rotate)
    if as_json:
        return emit_json(r)
    for d in r["devices"]:
        typer.echo(f"{d['thing_name']}: certificate {d['certificate_id'][:12]}…, bundle {d['bundle']}/ (agent.json, private.key 0600)")
    _steps(r["steps"])


@fleet_app.command("publish")
def publish(pkg: str = typer.Argument(..., help="a package from `edgec package`"),
            fleet: str = typer.Option(..., "--fleet"),
            endpoint_url: Optional[str] = ENDPOINT, region: Optional[str] = REGION, profile: Optional[str] = PROFILE,
            as_json: bool = JSON):
    """Verify a package against the fleet's key and upload it to s3://BUCKET/models/NAME/VERSION/ (never replacing)."""
    from ..fleet.rollout import publish as do_publish
    r = do_publish(_cloud(endpoint_url, region, profile), pkg, fleet)
    if as_json:
        return emit_json(r)
    typer.echo(f"{r['name']} {r['version']}: {r['published']} at {r['uri']} (sha256 {r['sha256']}, key {r['key_id']})")


@fleet_app.command("deploy")
def deploy(fleet: str = typer.Argument(...), model: str = typer.Option(..., "--model", help="model name"),
           version: str = typer.Option(..., "--version"),
           rollout_rate: Optional[str] = typer.Option(None, "--rollout-rate", help="at most N devices per minute (N or N/min)"),
           abort_failure_percent: Optional[float] = typer.Option(None, "--abort-failure-percent", help="cancel the rollout when this % of finished devices failed"),
           abort_min_devices: Optional[int] = typer.Option(None, "--abort-min-devices", help="...but only once this many devices finished (default 1)"),
           timeout_minutes: Optional[int] = typer.Option(None, "--timeout-minutes", help="an execution IN_PROGRESS longer than this is TIMED_OUT"),
           job_id: Optional[str] = typer.Option(None, "--job-id", help="job id (default FLEET-MODEL-VERSION)"),
           allow_downgrade_from: Optional[str] = typer.Option(None, "--allow-downgrade-from", help="devices refuse older versions; "
                                                              "allow going back to --version from exactly this one (signed with --key)"),
           key: Optional[str] = typer.Option(None, "--key", help="the fleet's private package key, to sign a downgrade allowance"),
           endpoint_url: Optional[str] = ENDPOINT, region: Optional[str] = REGION, profile: Optional[str] = PROFILE,
           as_json: bool = JSON):
    """Roll a published model out to the fleet as an IoT Job."""
    from ..fleet.rollout import deploy as do_deploy
    r = do_deploy(_cloud(endpoint_url, region, profile), fleet, model, version, job_id, rollout_rate=rollout_rate,
                  abort_percent=abort_failure_percent, abort_min=abort_min_devices, timeout_minutes=timeout_minutes,
                  downgrade_from=allow_downgrade_from, key_path=key)
    if as_json:
        return emit_json(r)
    verb = "created" if r["created"] else "already exists:"
    typer.echo(f"job {verb} {r['job_id']} — {model} {version} to fleet {fleet} ({r['devices']} devices)")


@fleet_app.command("status")
def status(fleet: str = typer.Argument(...), job: Optional[str] = typer.Option(None, "--job", help="only this job"),
           endpoint_url: Optional[str] = ENDPOINT, region: Optional[str] = REGION, profile: Optional[str] = PROFILE,
           as_json: bool = JSON):
    """Devices, their job executions and states, and the model version each runs."""
    from ..fleet.rollout import format_status, status as do_status
    r = do_status(_cloud(endpoint_url, region, profile), fleet, job)
    if as_json:
        return emit_json(r)
    typer.echo(format_status(r))


@cloud_app.command("serve")
def serve(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(5000, "--port", help="HTTP port (0: any free port)"),
          credentials_port: int = typer.Option(0, "--credentials-port", help="mTLS credential provider port (0: any free port)"),
          minute: str = typer.Option("60", "--minute", help="seconds in an IoT Jobs / CloudWatch minute, e.g. 2 or 2s "
                                                            "(shorten to see rollout rates, timeouts and alarms quickly)"),
          state: Optional[str] = typer.Option(None, "--state", help="keep the cloud's state (and ports) here across restarts "
                                                                    "(default $XDG_DATA_HOME/edgec/cloud)"),
          ephemeral: bool = typer.Option(False, "--ephemeral", help="keep nothing: an empty cloud every start"),
          as_json: bool = JSON):
    """Run the local cloud (moto + IoT Jobs data plane + credential provider + alarm evaluation) until interrupted."""
    from ..compiler.errors import EdgecError
    from ..fleet.cloudstate import default_dir
    from ..fleet.localcloud import LocalCloud
    try:
        seconds = float(minute[:-1] if minute.endswith("s") else minute)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise EdgecError(f"--minute '{minute}' is not a number of seconds in (0, 3600], e.g. 60 or 2s")
    if ephemeral and state:
        raise EdgecError("--ephemeral keeps nothing: leave out --state")
    state_dir = None if ephemeral else (state or default_dir())
    cloud = LocalCloud(host, port, credentials_port, seconds, state_dir).start()
    info = {"endpoint_url": cloud.endpoint_url, "credentials_endpoint": cloud.credentials_endpoint, "ca_file": cloud.ca_file,
            "state": str(cloud.state.path) if cloud.state else None, "restored": cloud.restored}
    if as_json:
        typer.echo(__import__("json").dumps(info, sort_keys=True))
    else:
        typer.echo(f"local cloud: AWS API at {info['endpoint_url']} (use --endpoint-url or EDGEC_AWS_ENDPOINT), "
                   f"credential provider at https://{info['credentials_endpoint']}; "
                   + (f"state in {info['state']} ({'restored' if info['restored'] else 'new'}); " if info["state"] else "nothing kept; ")
                   + "Ctrl-C stops it")
    stop, got = threading.Event(), [signal.SIGINT]
    signal.signal(signal.SIGTERM, lambda signum, frame: (got.insert(0, signum), stop.set()))
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        cloud.stop()
    raise Interrupted(got[0])           # stopped, cleanly, by a signal: 130 / 143 like every command
