"""The agent's side of a rollout (IoT Jobs, device API) and its heartbeat (the device shadow).

Poll: StartNextPendingJobExecution for this thing.  A `new_model` job's package is fetched and
checked (fleet/device.py: the job's sha256, the manifest signature against the bundle's fleet key,
then every file streamed up to its signed size), its files written as they are checked into a
directory beside `<models>/<name>/<version>/` that is then renamed into place, and loaded under the
model's name, replacing the running version in one step (models.py):
the old version serves until the new one is loaded, and stays if anything fails.  The execution
is then SUCCEEDED with statusDetails {model_name, model_version, previous_version}, or FAILED with
{reason} (what was refused, one line).  Other job types are REJECTED.

Anti-rollback (models.py): a version older than the newest this device accepted for the model fails
the job before anything is downloaded, unless the job document carries a downgrade allowance
(`edgec fleet deploy --allow-downgrade-from V --key K`): {"allowance": {"type": "edgec-downgrade/1",
model_name, model_version, model_package_sha256, from_version}, "signature": <as manifest.sig>}, signed
by a key the device trusts over the allowance's canonical JSON.  It lets exactly that package replace
exactly `from_version`; once the device has gone past from_version it no longer applies.

After a rollout the model's directory keeps `edgec_models_retain` versions (default 2: the running
one and the newest other); older ones are removed.  A staging directory a crash left behind is
removed when the agent starts (server.py).

Heartbeat: every `edgec_heartbeat_seconds` the agent reports its metrics (models, versions,
inference counts, latency percentiles, RAM use, capture backlog) as the reported state of the named
shadow `edgec-agent` of its thing; `edgec fleet status` and the dashboard read it from there.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from ..compiler.errors import EdgecError
from ..compiler.outdir import swap_dir
from ..package import archive as pkg
from ..package import signing

from .models import private_dir

SHADOW = "edgec-agent"


class _Writer:
    """A file being written from a descriptor: every byte or an OSError (short writes are continued)."""

    def __init__(self, fd: int):
        self.fd = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _detail(text: str) -> str:
    return str(text).replace("\n", " ")[:1000]          # IoT Jobs: statusDetails values are strings <= 1024


class Rollouts:
    def __init__(self, agent):
        self.agent = agent
        cfg = agent.config
        self.poll = float(cfg.get("edgec_jobs_poll_seconds", 10))
        self.beat = float(cfg.get("edgec_heartbeat_seconds", 30))
        self.thing = cfg.get("edgec_thing_name", agent.device_name)
        self.retain = max(1, int(cfg.get("edgec_models_retain", 2)))
        self._stop = threading.Event()
        self._kick = threading.Event()
        self.threads = []
        self._clients = {}
        self.history = []                                # what this agent did, newest last

    def start(self) -> "Rollouts":
        for fn, period in ((self._poll_loop, self.poll), (self._beat_loop, self.beat)):
            if period > 0:
                t = threading.Thread(target=fn, name=fn.__name__, daemon=True)
                t.start()
                self.threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self.threads:
            t.join(timeout=10)

    def _client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.agent.device.client(service)
        return self._clients[service]

    def _refresh(self) -> None:
        self._clients.clear()
        self.agent.device._creds = None

    def _loop(self, period: float, step, what: str) -> None:
        while not self._stop.is_set():
            try:
                step()
            except Exception as e:                                  # cloud unreachable, credentials expired
                self.agent.log(f"{what} failed, will retry: {type(e).__name__}: {str(e)[:300]}")
                self._refresh()
            self._stop.wait(period)

    def _poll_loop(self):
        self._loop(self.poll, self.poll_once, "job poll")

    def _beat_loop(self):
        self._loop(self.beat, self.heartbeat, "heartbeat")

    # ---- jobs ------------------------------------------------------------------------------
    def poll_once(self) -> None:
        while not self._stop.is_set():
            jobs = self._client("iot-jobs-data")
            ex = jobs.start_next_pending_job_execution(thingName=self.thing, statusDetails={"agent": "edgec"}).get("execution")
            if not ex:
                return
            status, details = self.execute(ex)
            jobs.update_job_execution(thingName=self.thing, jobId=ex["jobId"], status=status, statusDetails=details,
                                      expectedVersion=ex["versionNumber"])
            self.history.append({"job_id": ex["jobId"], "status": status, **details})
            self.agent.log(f"job {ex['jobId']}: {status} {details}")
            self.heartbeat()

    def execute(self, ex: dict) -> tuple[str, dict]:
        """One job execution: its document checked, the rollout (`roll_out`), and the status IoT Jobs gets.
        Every device kind shares this; what installing means is `roll_out`'s."""
        doc = ex.get("jobDocument")
        try:
            doc = json.loads(doc) if isinstance(doc, str) else (doc or {})
        except ValueError:
            return "REJECTED", {"reason": "job document is not JSON"}
        if doc.get("type") != "new_model":
            return "REJECTED", {"reason": _detail(f"job type {doc.get('type')!r} is not new_model")}
        name, version = doc.get("model_name"), doc.get("model_version")
        previous = self.running_version(name)
        try:
            pkg.check_name_version(name, version)
            now = self.roll_out(doc, name, version)
        except Exception as e:                                  # S3 unreachable, disk full: the job fails, the agent lives
            why = e if isinstance(e, EdgecError) else f"{type(e).__name__}: {e}"
            return "FAILED", {"reason": _detail(why), "model_name": str(name), "model_version": str(version),
                              "running_version": str(self.running_version(name) or "none")}
        return "SUCCEEDED", {"model_name": name, "model_version": now, "previous_version": str(previous or "none")}

    def running_version(self, name) -> str | None:
        """The version of model `name` this device serves now, or None."""
        return self.agent._version_of(name) if name else None

    def roll_out(self, doc: dict, name: str, version: str) -> str:
        """Installs and loads a job's package (or raises); the version now served."""
        previous = self.running_version(name)
        allowed_from = self.allowance(doc, name, version)
        self.agent.store.check_version(name, version, allowed_from)       # before downloading anything
        where = self.install(name, version, doc)
        m = self.agent.store.load(str(where), name, replace=True, allow_downgrade_from=allowed_from)
        self.agent.log(f"rolled out {name} {version} (was {previous or 'not loaded'})")
        try:
            for v in self.prune(name):
                self.agent.log(f"pruned {name} {v} (keeping {self.retain} versions)")
        except OSError as e:
            self.agent.log(f"could not prune old versions of {name}: {e.strerror}")
        return m.version

    def prune(self, name: str) -> list:
        """Keep the `edgec_models_retain` (default 2) newest installed versions of a model under
        <models>/<name>/, the running one always among them and any directory a loaded model came from."""
        d = self.agent.models_dir / name
        running = self.agent._version_of(name)
        loaded = {str(Path(m.url)) for m in self.agent.store.list()}
        versions = [p for p in d.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
        versions.sort(key=lambda p: (p.name != running, -p.stat().st_mtime))
        removed = []
        for p in versions[self.retain:]:
            if str(p.resolve()) not in loaded:
                shutil.rmtree(p)
                removed.append(p.name)
        return removed

    def allowance(self, doc: dict, name: str, version: str) -> str | None:
        """The version a job's signed downgrade allowance lets this model go back from, or None.
        Its signature must be by a trusted key, and it must name this model, version and package."""
        d = doc.get("downgrade")
        if d is None:
            return None
        if not isinstance(d, dict) or not isinstance(d.get("allowance"), dict) or not isinstance(d.get("signature"), dict):
            raise EdgecError("the job's downgrade allowance is not {allowance, signature}")
        a, sig = d["allowance"], d["signature"]
        kid = sig.get("key_id")
        if not isinstance(kid, str) or kid not in self.agent.store.keys:
            raise EdgecError(f"the downgrade allowance is signed by key {kid}, which this device does not trust")
        try:
            signing.check(self.agent.store.keys[kid], signing.canonical_json(a), sig)
        except signing.SignatureError as e:
            raise EdgecError(f"the downgrade allowance does not verify: {e}") from None
        want = {"type": pkg.DOWNGRADE, "model_name": name, "model_version": version,
                "model_package_sha256": doc.get("model_package_sha256")}
        for k, v in want.items():
            if a.get(k) != v:
                raise EdgecError(f"the downgrade allowance is for {k} {a.get(k)!r}, this job has {v!r}")
        if not isinstance(a.get("from_version"), str):
            raise EdgecError("the downgrade allowance names no from_version")
        return a["from_version"]

    def install(self, name: str, version: str, doc: dict) -> Path:
        """Fetch and verify a job's package straight into <models>/<name>/.<version>-XXXX/ (each file
        written as it is checked), then put that in place of <models>/<name>/<version>/ whole."""
        final = self.agent.models_dir / name / version
        private_dir(final.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))

        def create(path: str, *args) -> _Writer:
            f = tmp / path
            private_dir(f.parent)
            return _Writer(os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        try:
            r, manifest = self.agent.device.fetch_package(doc, sink=create, workdir=final.parent)
            if (manifest["name"], manifest["version"]) != (name, version):
                raise EdgecError(f"package is {manifest['name']} {manifest['version']}, the job asks for {name} {version}")
            for f, data in ((pkg.MANIFEST, r["manifest_json"]), (pkg.SIGNATURE, r["manifest_sig"])):
                with create(f) as w:
                    w.write(data)
            swap_dir(tmp, final, final.with_name(f".{version}-old-{os.getpid()}"))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    # ---- heartbeat -------------------------------------------------------------------------
    def report(self) -> None:
        """The device's metrics, the time and its latest jobs into the shadow `fleet status` reads."""
        m = self.agent.metrics()
        m["heartbeat"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        m["jobs"] = self.history[-5:]
        self._client("iot-data").update_thing_shadow(thingName=self.thing, shadowName=SHADOW,
                                                     payload=json.dumps({"state": {"reported": m}}).encode())

    def heartbeat(self) -> None:
        self.report()
        self.agent.store.save()                          # the inference counts, should the agent be killed
