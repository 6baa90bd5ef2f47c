"""`edgec device run`: an emulated microcontroller device (fleet/mcu.py) — the example firmware in
QEMU with its flash in a host file, and the host bridge that takes the fleet's jobs for it."""
from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Optional

import typer

device_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Emulated microcontroller devices: firmware in QEMU, rollouts through a host bridge.")


def register(app: typer.Typer) -> None:
    app.add_typer(device_app, name="device")


@device_app.command("run")
def run(bundle: str = typer.Option(..., "--bundle", help="the device's credential bundle (`edgec fleet register --out`)"),
        target: str = typer.Option("cortex-m4", "--target", help="the microcontroller (a device target of kind mcu)"),
        flash_image: str = typer.Option(..., "--flash-image", help="the device's flash, a host file (created erased)"),
        sock: Optional[str] = typer.Option(None, "--socket", help="serve inferences of the image in service on this unix socket"),
        chunk: int = typer.Option(1024, "--chunk-bytes", min=8, max=4000, help="image bytes per UART frame (whole 8-byte flash units)"),
        as_json: bool = typer.Option(False, "--json")):
    """Run the emulated device until SIGTERM/Ctrl-C: it takes `new_model` jobs, stages, checks and
    self-tests each image on the device, and reports its model in the agent's shadow."""
    from ..compiler.errors import EdgecError, Interrupted
    from ..agent.mcu_bridge import Bridge
    if chunk % 8:
        raise EdgecError(f"--chunk-bytes {chunk} is not a multiple of the flash's 8-byte program unit")
    log = lambda m: (sys.stderr.write(f"edgec device: {m}\n"), sys.stderr.flush())
    bridge = Bridge(bundle, target, flash_image, sock, chunk, log=log, qemu_log=sys.stderr)
    stop, got = threading.Event(), []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: (got.append(signum), stop.set()))
    bridge.start()
    st = bridge.link.status
    info = {"device": bridge.device_name, "fleet": bridge.fleet, "target": target, "pid": __import__("os").getpid(),
            "qemu_pid": bridge.link.pid, "flash_image": flash_image, "socket": sock,
            "serving": {k: st[k] for k in ("name", "version", "slot", "counter", "trial")}}
    if as_json:
        typer.echo(json.dumps(info, sort_keys=True))
    else:
        s = info["serving"]
        typer.echo(f"edgec device {info['device']} ({target}, QEMU pid {info['qemu_pid']}, flash {flash_image}): serving "
                   + (f"{s['name']} {s['version']} from slot {s['slot']}" if s["name"] else "nothing yet")
                   + f", security counter {s['counter']}")
    sys.stdout.flush()
    stop.wait()
    bridge.stop()
    raise Interrupted(got[0])
