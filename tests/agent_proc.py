"""The device agent as a real process (`edgec agent run` serving gRPC on a unix socket) and a device's
directory without a cloud: test_agent.py's, shared by the tests of the clients and of the release."""
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from conftest import read_json_line
from edgec.agent.client import AgentClient

#: the CLI as a subprocess, as a user runs it
EDGEC = [sys.executable, "-m", "edgec.cli.main"]


class AgentProc:
    """`edgec agent run` as a subprocess; stderr to a file (its log), the ready line read from stdout."""

    def __init__(self, config: Path, sock: Path, *extra, env=None, preexec=None):
        self.config, self.sock, self.extra, self.env, self.preexec = config, sock, extra, env, preexec
        self.log = config.parent / f"agent-{sock.stem}.log"
        self.start()

    def start(self):
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen(EDGEC + ["agent", "run", "-c", str(self.config), "-a", self.address, *self.extra, "--json"],
                                         stdout=subprocess.PIPE, stderr=err, text=True, env=self.env, preexec_fn=self.preexec)
        self.info = read_json_line(self.proc, "edgec agent run", self.log)
        assert self.info["pid"] == self.proc.pid
        return self

    @property
    def address(self):
        return f"unix://{self.sock}"

    def client(self):
        c = AgentClient(self.address)
        c.wait_ready(10)
        return c

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            assert self.proc.wait(timeout=20) == 143, self.log.read_text()   # stopped by SIGTERM, cleanly
        text = self.log.read_text()
        assert "Traceback" not in text, text


def device_dir(base: Path, name: str, models, **capture) -> Path:
    """A device without a cloud: trusted key, captures to disk (the retired agent's Disk destination)."""
    dev = base / name
    (dev / "signing").mkdir(parents=True)
    shutil.copy(models["keys"] / "signing.pub", dev / "signing" / "package-signing.pub")
    cfg = {"sagemaker_edge_core_device_name": name, "sagemaker_edge_core_device_fleet_name": "bench",
           "sagemaker_edge_core_root_certs_path": "signing", "sagemaker_edge_core_capture_data_destination": "Disk",
           "sagemaker_edge_core_capture_data_disk_path": "capture", "sagemaker_edge_core_folder_prefix": "demo_capture",
           **{f"sagemaker_edge_core_capture_data_{k}": v for k, v in capture.items()}}
    (dev / "agent.json").write_text(json.dumps(cfg))
    return dev
