"""The bridge of an emulated microcontroller device (issue 20, part 4): the on-device side a gateway,
or the firmware's own network stack, would be.  It runs the Linux agent's rollout loop
(agent/rollout.py) with another `roll_out`: the job's package is downloaded and verified here, and
its signed device manifest and model image go to the firmware (fleet/mcu.py: firmware, UART link,
frame protocol) in chunks; the job ends SUCCEEDED, or FAILED with the device's reason.  Its
heartbeat puts the model and version the device serves into the shadow the Linux agent reports to."""
from __future__ import annotations

import os
import socket
import struct
import threading
import time
from pathlib import Path

from ..compiler.errors import EdgecError
from ..package import archive as package
from ..package.device_manifest import DEVICE_MANIFEST_FILE, IMAGE_FILE
from ..fleet.mcu import CHUNK, DeviceStopped, FLASH_BYTES, Link, firmware, public_key_raw

from .rollout import Rollouts


class McuRollouts(Rollouts):
    """agent/rollout.py's poll and heartbeat loops; a job's package goes to the firmware."""

    def running_version(self, name) -> str | None:
        return self.agent.serving_version()

    def roll_out(self, doc: dict, name: str, version: str) -> str:
        self.agent.install(name, version, doc)
        return str(self.agent.serving_version())

    def heartbeat(self) -> None:
        self.report()


class Bridge:
    """An emulated microcontroller device: the firmware in QEMU with its flash in `flash_path`, and
    the host side a gateway (or the firmware's own network stack) would be: credentials, jobs,
    package download and check, the shadow.  A QEMU that stops (killed: a power cut) is started
    again from its flash, and the job it was doing fails with that reason.  `socket_path` serves
    inferences of the image in service to local clients (`infer`)."""

    def __init__(self, bundle_dir: str, target_name: str, flash_path: str, socket_path: str | None = None,
                 chunk: int = CHUNK, log=None, qemu_log=None):
        from cryptography.hazmat.primitives import serialization
        from ..fleet import bundle
        from ..fleet.device import Device
        from ..package.hostlib import get_device_target
        dt = get_device_target(target_name)
        if dt.kind != "mcu":
            raise EdgecError(f"device target {target_name} is not a microcontroller",
                             hint="run Linux devices with `edgec agent run`; MCU targets: cortex-m4")
        self.device = Device(bundle_dir)
        self.config, self.device_name = self.device.config, self.device.name
        self.fleet = self.config.get("sagemaker_edge_core_device_fleet_name")
        key_file = self.device.dir / self.config["sagemaker_edge_core_root_certs_path"] / bundle.SIGNING_KEY
        self.key = serialization.load_pem_public_key(key_file.read_bytes())
        if not Path(flash_path).resolve().parent.is_dir():
            raise EdgecError("the flash image's directory does not exist", where=str(flash_path))
        if Path(flash_path).exists() and Path(flash_path).stat().st_size not in (0, FLASH_BYTES):
            raise EdgecError(f"the flash image has {Path(flash_path).stat().st_size:,} bytes, not this firmware's {FLASH_BYTES:,}",
                             where=str(flash_path), hint="give another --flash-image (a missing file starts erased)")
        self.target, self.flash, self.chunk = target_name, str(flash_path), chunk
        self._log, self.qemu_log = log, qemu_log
        self.elf = firmware(target_name, public_key_raw(self.key))
        self.started = time.time()
        self.inferences, self.latencies = 0, []
        self.restarts = 0
        self.link = Link(target_name, self.elf, self.flash, log=qemu_log)
        self.rollouts = McuRollouts(self)
        self.socket_path, self._server = socket_path, None

    def log(self, message: str) -> None:
        if self._log:
            self._log(message)

    def start(self) -> "Bridge":
        if self.socket_path:
            self._serve()
        self.rollouts.start()
        return self

    def stop(self) -> None:
        self.rollouts.stop()
        if self._server:
            self._server.close()
        self.link.close()

    def _restart(self) -> None:
        self.link.close()
        self.restarts += 1
        self.link = Link(self.target, self.elf, self.flash, log=self.qemu_log)
        self.log(f"device restarted (QEMU pid {self.link.pid}) from {self.flash}: serving {self.link.status['name']} {self.link.status['version']}")

    def _on_link(self, fn):
        try:
            return fn(self.link)
        except DeviceStopped as e:
            self._restart()
            raise DeviceStopped(f"{e}; restarted from its flash, serving {self.link.status['version'] or 'nothing'}") from None

    def serving_version(self) -> str | None:
        return self.link.status["version"]

    def install(self, name: str, version: str, doc: dict) -> dict:
        got = {}

        def sink(path, size, manifest):
            if path in (IMAGE_FILE, DEVICE_MANIFEST_FILE):
                got[path] = package.Collect()
                return got[path]
            return None
        self.log(f"job for {name} {version}: downloading")
        r, manifest = self.device.fetch_package(doc, sink=sink)
        if (manifest["name"], manifest["version"]) != (name, version):
            raise EdgecError(f"package is {manifest['name']} {manifest['version']}, the job asks for {name} {version}")
        if manifest.get("device_target") != self.target or set(got) != {IMAGE_FILE, DEVICE_MANIFEST_FILE}:
            raise EdgecError(f"package is built for {manifest.get('device_target')}, this device is {self.target}")
        return self._on_link(lambda link: link.install(got[DEVICE_MANIFEST_FILE].getvalue(), got[IMAGE_FILE].getvalue(),
                                                       self.chunk, self.log))

    def infer(self, data: bytes) -> bytes:
        t = time.monotonic()
        out = self._on_link(lambda link: link.infer(data))
        self.inferences += 1
        self.latencies = (self.latencies + [time.monotonic() - t])[-1000:]
        return out

    def metrics(self) -> dict:
        """The Linux agent's heartbeat shape (agent/server.py metrics), with the slots in service."""
        st = self.link.status
        lat = sorted(self.latencies)
        pct = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3, 3)) if lat else (lambda p: None)
        models = [] if st["name"] is None else [
            {"name": st["name"], "version": st["version"], "inferences": self.inferences, "ram_bytes": None,
             "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99)}}]
        return {"agent": "edgec-mcu", "device": self.device_name, "fleet": self.fleet, "pid": os.getpid(),
                "device_target": self.target, "uptime_s": round(time.time() - self.started, 1), "models": models,
                "capture": {"backlog": 0, "uploaded": 0}, "ram_budget_bytes": None,
                "slots": {"active": st["slot"], "trial": st["trial"], "security_counter": st["counter"],
                          "restarts": self.restarts}}

    def _serve(self) -> None:
        """Inferences for local clients on a unix socket: u32 length + input bytes in, i32 code +
        u32 length + output bytes back (code 0, or -1 with a one-line reason as the bytes)."""
        path = Path(self.socket_path)
        path.unlink(missing_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(path))
        srv.listen(4)
        self._server = srv

        def recv(c, n):
            b = b""
            while len(b) < n:
                part = c.recv(n - len(b))
                if not part:
                    raise ConnectionError
                b += part
            return b

        def client(c):
            with c:
                try:
                    while True:
                        data = recv(c, struct.unpack("<I", recv(c, 4))[0])
                        try:
                            out, code = self.infer(data), 0
                        except EdgecError as e:
                            out, code = str(e).encode(), -1
                        c.sendall(struct.pack("<iI", code, len(out)) + out)
                except (ConnectionError, OSError, struct.error):
                    return

        def accept():
            while True:
                try:
                    c, _ = srv.accept()
                except OSError:
                    return
                threading.Thread(target=client, args=(c,), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()


def infer(socket_path: str, data: bytes, timeout: float = 60) -> bytes:
    """One inference through a bridge's socket (`edgec device run --socket`)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(timeout)
        c.connect(str(socket_path))
        c.sendall(struct.pack("<I", len(data)) + data)
        head = b""
        while len(head) < 8:
            part = c.recv(8 - len(head))
            if not part:
                raise EdgecError("the device bridge closed the connection")
            head += part
        code, n = struct.unpack("<iI", head)
        body = b""
        while len(body) < n:
            part = c.recv(n - len(body))
            if not part:
                raise EdgecError("the device bridge closed the connection")
            body += part
    if code != 0:
        raise EdgecError(body.decode(errors="replace"))
    return body
