"""`edgec agent run`: the device agent, a drop-in for the retired SageMaker Edge Agent.

It serves `AWS.SageMaker.Edge.Agent` (agent.proto) over gRPC on a unix socket, with the retired
agent's status codes (FLEET.md), from the configuration `edgec fleet register` writes (agent.json,
the retired agent's `sagemaker_edge_*` keys; paths relative to the file's directory).  edgec adds:

  edgec_ram_budget_bytes     RAM all loaded models may use together (default: no limit)
  edgec_models_path          where rollouts install packages, <models>/<name>/<version>/ (default: models)
  edgec_state_path           the agent's own state: loaded models, version record (default: agent-state)
  edgec_models_retain        versions of a model kept installed after a rollout (default 2)
  edgec_capture_spool_bytes  bytes of captures that may wait for upload (default 64 MiB)
  edgec_jobs_poll_seconds    how often to ask IoT Jobs for a rollout (default 10; 0: never)
  edgec_heartbeat_seconds    how often to report to the device shadow (default 30; 0: never)
  edgec_aws_endpoint_url     the local cloud (what `fleet register` writes when it used one)

Modes do not depend on the umask: state, models and capture directories are 0700, files in them
0600; the socket is 0660 (the agent's user and group) in a run directory the agent makes 0750 (the
default: $XDG_RUNTIME_DIR/edgec/, else ~/.local/state/edgec/run/), and a socket directory others
may write (such as /tmp) is refused.  Model libraries live only in memfds (models.Library).

Threads: the gRPC pool; the capture uploader (capture.py); the rollout poller and the heartbeat
(rollout.py), both only when the configuration has a credential provider.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc

from ..compiler.errors import EdgecError, Interrupted

from . import agent_pb2 as pb
from . import agent_pb2_grpc as pb_grpc
from . import shm
from .capture import CaptureSpool
from .models import DTYPES, FLOAT32, INT8, AgentError, ModelStore, load_trusted_keys, private_dir, write_file

def default_address() -> str:
    """unix://$XDG_RUNTIME_DIR/edgec/agent.sock, else unix://~/.local/state/edgec/run/agent.sock: a
    directory of the agent's user, never a shared one like /tmp where another user can take the name."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "edgec" if runtime and os.path.isabs(runtime) and os.path.isdir(runtime) \
        else Path.home() / ".local" / "state" / "edgec" / "run"
    return f"unix://{base / 'agent.sock'}"


DEFAULT_ADDRESS = default_address()


def parse_bytes(text) -> int | None:
    """'256K', '2M', '1G', 1000 -> bytes; None/'' -> None."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return text
    t = str(text).strip().upper().removesuffix("B")
    mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(t[-1:], 1)
    try:
        n = int(float(t[:-1] if t[-1:] in "KMG" else t) * mult)
    except ValueError:
        raise EdgecError(f"'{text}' is not a size (e.g. 262144, 256K, 2M)") from None
    if n <= 0:
        raise EdgecError(f"size '{text}' must be positive")
    return n


def _metadata(spec: dict, dtype: int) -> pb.TensorMetadata:
    return pb.TensorMetadata(name=spec.get("name") or "", data_type=dtype, shape=[int(s) for s in spec["shape"]],
                             quantization=pb.Quantization(scale=spec["scale"], zero_point=spec["zero_point"],
                                                           division=spec.get("quantize", "")))


def _json_or_empty(v) -> str:
    return json.dumps(v, sort_keys=True) if v else ""


def model_message(m) -> pb.Model:
    man = m.manifest
    return pb.Model(url=m.url, name=m.name, input_tensor_metadatas=[_metadata(m.input, FLOAT32)],
                    output_tensor_metadatas=[_metadata(m.output, FLOAT32)], version=m.version, ram_bytes=m.ram_bytes,
                    package_sha256=m.manifest_sha256, key_id=m.key_id, inference_count=m.inferences,
                    target=man.get("target", ""), device_target=man.get("device_target", ""),
                    preprocess_json=_json_or_empty(man.get("preprocess")), decode_json=_json_or_empty(man.get("decode")),
                    labels=[str(l) for l in man.get("labels") or []])


class Servicer(pb_grpc.AgentServicer):
    def __init__(self, agent: "Agent"):
        self.agent = agent

    def _call(self, context, fn):
        try:
            return fn()
        except AgentError as e:
            context.abort(getattr(grpc.StatusCode, e.code), str(e))
        except EdgecError as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))

    def LoadModel(self, request, context):
        def load():
            m = self.agent.store.load(request.url, request.name)
            self.agent.log(f"loaded {m.name} {m.version} ({m.ram_bytes:,} B) from {m.url}")
            return pb.LoadModelResponse(model=model_message(m))
        return self._call(context, load)

    def UnLoadModel(self, request, context):
        def unload():
            m = self.agent.store.unload(request.name)
            self.agent.log(f"unloaded {m.name} {m.version}")
            return pb.UnLoadModelResponse()
        return self._call(context, unload)

    def ListModels(self, request, context):
        return pb.ListModelsResponse(models=[model_message(m) for m in self.agent.store.list()])

    def DescribeModel(self, request, context):
        return self._call(context, lambda: pb.DescribeModelResponse(model=model_message(self.agent.store.get(request.name))))

    def Predict(self, request, context):
        def predict():
            if len(request.tensors) != 1:
                raise AgentError("INVALID_ARGUMENT", f"'{request.name}' takes one input tensor, got {len(request.tensors)}")
            t = request.tensors[0]
            data = shm.read(t.shared_memory_handle) if t.WhichOneof("data") == "shared_memory_handle" else t.byte_data
            md = t.tensor_metadata
            m0 = self.agent.store.get(request.name)
            if md.name and md.name != (m0.input.get("name") or ""):
                raise AgentError("INVALID_ARGUMENT", f"'{request.name}' has no input tensor '{md.name}' "
                                 f"(its input is '{m0.input.get('name')}')")
            m, out = self.agent.store.predict(request.name, data, md.data_type, list(md.shape))
            dtype = FLOAT32 if md.data_type == FLOAT32 else INT8
            return pb.PredictResponse(tensors=[pb.Tensor(tensor_metadata=_metadata(m.output, dtype),
                                                         byte_data=out.astype(DTYPES[dtype]).tobytes())])
        return self._call(context, predict)

    def CaptureData(self, request, context):
        def capture():
            try:
                model = self.agent.store.get(request.model_name)
            except AgentError:
                model = None
            self.agent.capture.submit(request, model)
            return pb.CaptureDataResponse()
        return self._call(context, capture)

    def GetCaptureDataStatus(self, request, context):
        status = self.agent.capture.status(request.capture_id)
        return pb.GetCaptureDataStatusResponse(status=pb.CaptureDataStatus.Value(status))


class Agent:
    def __init__(self, config_path: str, address: str = DEFAULT_ADDRESS, ram_budget=None, log=None):
        self.config_path = Path(config_path)
        try:
            self.config = json.loads(self.config_path.read_text())
        except OSError as e:
            raise EdgecError(f"cannot read the agent configuration: {e.strerror}", where=str(config_path)) from None
        except ValueError as e:
            raise EdgecError(f"the agent configuration is not JSON ({e})", where=str(config_path)) from None
        if not isinstance(self.config, dict):
            raise EdgecError("the agent configuration is not a JSON object", where=str(config_path))
        self.base = self.config_path.resolve().parent
        cfg = self.config
        self.device_name = cfg.get("sagemaker_edge_core_device_name") or "device"
        self.fleet = cfg.get("sagemaker_edge_core_device_fleet_name") or "fleet"
        self.address = address
        self.log = log or (lambda msg: print(f"edgec agent: {msg}", file=sys.stderr, flush=True))
        keys_dir = self.base / cfg.get("sagemaker_edge_core_root_certs_path", "signing")
        keys = load_trusted_keys(keys_dir)
        if not keys:
            raise EdgecError("no trusted package key", where=str(keys_dir),
                             hint="sagemaker_edge_core_root_certs_path must name a directory with the fleet's package-signing.pub")
        self.state_dir = self.base / cfg.get("edgec_state_path", "agent-state")
        self.models_dir = self.base / cfg.get("edgec_models_path", "models")
        budget = parse_bytes(ram_budget if ram_budget is not None else cfg.get("edgec_ram_budget_bytes"))
        self.store = ModelStore(keys, budget, self.state_dir / "models.json", versions_file=self.state_dir / "versions.json")
        self.device = None
        if cfg.get("sagemaker_edge_provider_aws_iot_cred_endpoint") and cfg.get("sagemaker_edge_provider_provider", "Aws") == "Aws":
            from ..fleet.device import Device
            self.device = Device.__new__(Device)
            self.device.dir, self.device.config, self.device.name, self.device._creds = self.base, cfg, self.device_name, None
        destination = cfg.get("sagemaker_edge_core_capture_data_destination", "Disk")
        if destination not in ("Cloud", "Disk"):
            raise EdgecError(f"sagemaker_edge_core_capture_data_destination is '{destination}', not Cloud or Disk")
        if destination == "Cloud" and self.device is None:
            raise EdgecError("captures go to the Cloud but the configuration has no credential provider",
                             hint="set sagemaker_edge_provider_aws_iot_cred_endpoint or use destination Disk")
        self.capture = CaptureSpool(cfg, self.base, device=self.device_name, fleet=self.fleet,
                                    model_version=self._version_of, put=self._put_cloud if destination == "Cloud" else self._put_disk,
                                    log=self.log)
        self.started = time.time()
        self.server = None
        self.stop_event = threading.Event()
        self._s3 = None
        self.rollouts = None

    def _version_of(self, name: str):
        try:
            return self.store.get(name).version
        except AgentError:
            return None

    # ---- capture destinations ------------------------------------------------------------------
    def _put_disk(self, key: str, data: bytes) -> str:
        path = self.capture.dir / key
        private_dir(path.parent)
        write_file(path, data)
        return str(path)

    def _put_cloud(self, key: str, data: bytes) -> str:
        bucket = self.config["sagemaker_edge_provider_s3_bucket_name"]
        from botocore.exceptions import ClientError
        for attempt in (0, 1):
            if self._s3 is None:
                self.device._creds = None                 # fresh credentials for a new client
                self._s3 = self.device.client("s3")
            try:
                self._s3.put_object(Bucket=bucket, Key=key, Body=data)
                return f"s3://{bucket}/{key}"
            except ClientError as e:
                if attempt or e.response.get("Error", {}).get("Code") not in ("ExpiredToken", "InvalidAccessKeyId",
                                                                             "InvalidToken", "AccessDenied"):
                    raise
                self._s3 = None                           # credentials expired: ask the provider again

    # ---- life cycle ----------------------------------------------------------------------------
    def start(self) -> "Agent":
        private_dir(self.state_dir)
        private_dir(self.models_dir)
        self._clean_models()
        self.store.restore(self.log)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"),
                                  options=[("grpc.max_receive_message_length", 64 * 1024 * 1024),
                                           ("grpc.max_send_message_length", 64 * 1024 * 1024)])
        pb_grpc.add_AgentServicer_to_server(Servicer(self), self.server)
        sock = None
        if self.address.startswith("unix://"):
            sock = Path(self.address[len("unix://"):])
            self._run_dir(sock.parent)
            if sock.is_socket():
                import socket
                probe = socket.socket(socket.AF_UNIX)
                try:
                    probe.connect(str(sock))
                    live = True
                except OSError:
                    live = False
                finally:
                    probe.close()
                if live:
                    raise EdgecError(f"another process serves {self.address}", hint="stop it or pick another -a address")
                sock.unlink()                             # a previous agent's, left by a crash
        umask = os.umask(0o117)                               # the socket is never more than 0660, not even briefly
        try:
            port = self.server.add_insecure_port(self.address)
        except RuntimeError as e:
            raise EdgecError(f"cannot listen on {self.address}: {e}") from None
        finally:
            os.umask(umask)
        if port == 0:
            raise EdgecError(f"cannot listen on {self.address}", hint="is another agent running there?")
        if sock is not None:
            os.chmod(sock, 0o660)                             # the agent's user and group may call it
        self.server.start()
        self.capture.start()
        if self.device is not None:
            from .rollout import Rollouts
            self.rollouts = Rollouts(self).start()
        return self

    def _clean_models(self) -> None:
        """What a rollout cut short left: its staging directory (.<version>-XXXX) or a version it was
        swapping out (.<version>-old-PID) under <models>/<name>/.  (Downloads are unnamed files.)"""
        import shutil
        for d in self.models_dir.glob("*/.*"):
            if d.is_dir() and not d.is_symlink():
                shutil.rmtree(d, ignore_errors=True)
                self.log(f"removed {d}, left by an interrupted rollout")

    def _run_dir(self, d: Path) -> None:
        """The socket's directory: made 0750 if missing; refused if others may write it (they could
        take the socket's name, or replace the socket)."""
        if not d.exists():
            private_dir(d, 0o750)
            return
        st = d.stat()
        if st.st_mode & 0o002:
            raise EdgecError(f"the socket's directory {d} is writable by others, who could take or replace the socket",
                             hint=f"use a private directory, e.g. the default {default_address()}")

    def stop(self) -> None:
        self.stop_event.set()
        if self.rollouts:
            self.rollouts.stop()
        if self.server:
            self.server.stop(grace=2).wait(5)
        self.capture.stop()
        try:
            self.store.save()                                 # inference counts survive the restart
        except OSError as e:
            self.log(f"could not record the inference counts: {e.strerror}")
        for m in self.store.list():
            m.close()

    def metrics(self) -> dict:
        return {"agent": "edgec", "device": self.device_name, "fleet": self.fleet, "pid": os.getpid(),
                "uptime_s": round(time.time() - self.started, 1),
                "models": [m.stats() for m in self.store.list()], "capture": self.capture.stats(),
                "ram_budget_bytes": self.store.budget, "ram_used_bytes": sum(m.ram_bytes for m in self.store.list())}


def run(config: str, address: str, ram_budget=None, ready=None) -> None:
    """Run until SIGTERM/SIGINT (then raise Interrupted, after a clean stop); `ready(info)` is called once the socket accepts calls."""
    agent = Agent(config, address, ram_budget).start()
    stop, got = threading.Event(), []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: (got.append(signum), stop.set()))
    if ready:
        ready({"address": address, "pid": os.getpid(), "device": agent.device_name, "fleet": agent.fleet,
               "models": [m.name for m in agent.store.list()], "ram_budget_bytes": agent.store.budget,
               "rollouts": agent.rollouts is not None})
    stop.wait()
    agent.stop()
    raise Interrupted(got[0])           # it serves until a signal stops it: 130 / 143 like every command
