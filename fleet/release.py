"""`edgec release`: a trained model to the whole fleet in one command, for CI pipelines.

Stages, each a call into the code behind the single commands (no copies), each a gate:
  build     edgec.driver.build.build: import, quantize, plan, C
  verify    edgec.verification.verify.verify on the target's emulator: the C equals the integer reference bit for bit
  accuracy  the int8 model against the float one on the calibration data: top-1 accuracy drop (with
            the labels `y` of an .npz) or top-1 disagreement (without), at most --max-accuracy-drop;
            models that are not classifiers: output SQNR, at least --min-sqnr when given
  package   fleet.package.create, signed with --key
  publish   fleet.rollout.publish (never replacing a published version)
  canary    fleet.rollout.deploy to N% of the devices (those with an agent heartbeat in the last
            5 minutes first),
            and every canary device must take it
  watch     for --watch: the canary job's failures, p95 latency of the new version from the canary
            agents' heartbeats, input drift of the canary's captures of the new version against
            the calibration data (fleet.monitor.drift), and the model's CloudWatch alarms
            (`edgec-<fleet>-<model>-*`, as `edgec monitor watch --alarm` makes them): an alarm that
            goes into ALARM after the canary was deployed aborts at once (one already in ALARM
            before is reported in the canary stage, not taken as this release's doing)
  fleet     fleet.rollout.deploy to the rest of the fleet (with --rollout-rate and the abort knobs),
            watched the same way until every device finished
A failed gate before anything was deployed stops the release.  After that it aborts: the release's
jobs are canceled (force: in-progress executions too) and every device that took the new version is
given back the version it ran before, by a job carrying a downgrade allowance signed with --key
(agents refuse older versions otherwise).  A device that ran no version of the model before keeps
the new one, and the result says so.

The result has every stage's outcome ({stage, ok, seconds, ...}); `result` is `released`,
`stopped` (a gate failed before deployment) or `rolled back`.
"""
from __future__ import annotations

import math
import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from ..compiler.errors import EdgecError

from .aws import Cloud, aws_step
from .rollout import all_pages, deploy, job_id_for, publish, status

TERMINAL = {"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "REMOVED", "CANCELED"}
FAILED = {"FAILED", "REJECTED", "TIMED_OUT"}


class GateFailed(Exception):
    def __init__(self, reason: str, **facts):
        super().__init__(reason)
        self.reason, self.facts = reason, facts


def _aware(t) -> datetime:
    if not isinstance(t, datetime):
        return datetime.min.replace(tzinfo=timezone.utc)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def parse_duration(text, what: str) -> float:
    """"90", "90s", "5m", "1h" -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(text))
    if not m:
        raise EdgecError(f"{what} '{text}' is not a duration such as 30s, 5m or 1h")
    return float(m.group(1)) * {"ms": 1e-3, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def parse_percent(text, what: str) -> float:
    s = str(text).strip()
    try:
        v = float(s[:-1]) if s.endswith("%") else float(s)
    except ValueError:
        v = float("nan")
    if not 0 < v <= 100:
        raise EdgecError(f"{what} '{text}' is not a percentage in (0, 100], e.g. 10%")
    return v


def package_name(model: str) -> str:
    """A package name (letters, digits, hyphens) from a model file's stem."""
    stem = Path(model).name.split(".")[0]
    name = re.sub(r"[^a-zA-Z0-9]+", "-", stem).strip("-")
    return name or "model"


class Release:
    def __init__(self, cloud: Cloud, model: str, target: str, calibration: str, fleet: str, version: str, key: str,
                 name: str | None = None, work: str | None = None, canary: str = "10%", max_accuracy_drop="1%",
                 min_sqnr: float | None = None, max_p95_ms: float | None = None, max_drift_psi: float = 0.25,
                 min_captures: int = 0, max_failures: int = 0, watch: str = "5m", canary_timeout: str = "10m",
                 fleet_timeout: str = "30m", verify_samples: int = 20, poll: str = "2s", rollout_rate=None,
                 abort_percent=None, abort_min=None, timeout_minutes=None, log=lambda line: None):
        from ..driver.build import parse_fraction
        from ..package import archive as package
        self.cloud, self.model, self.target, self.calibration, self.fleet = cloud, model, target, calibration, fleet
        self.version, self.key, self.log = version, key, log
        self.name = name or package_name(model)
        package.check_name_version(self.name, version)
        for path, what in ((model, "model"), (calibration, "calibration data"), (key, "key")):
            if not os.path.isfile(path):
                raise EdgecError(f"{what} file not found", where=path)
        self.canary_pct = parse_percent(canary, "--canary")
        self.max_drop = parse_fraction(max_accuracy_drop)
        self.min_sqnr, self.max_p95_ms, self.max_drift_psi = min_sqnr, max_p95_ms, max_drift_psi
        if min_captures < 0 or max_failures < 0 or not 1 <= verify_samples <= 1000:
            raise EdgecError("--min-captures and --max-failures must be >= 0, --verify-samples in 1..1000")
        self.min_captures, self.max_failures, self.verify_samples = min_captures, max_failures, verify_samples
        self.watch_s = parse_duration(watch, "--watch")
        self.canary_timeout_s = parse_duration(canary_timeout, "--canary-timeout")
        self.fleet_timeout_s = parse_duration(fleet_timeout, "--fleet-timeout")
        self.poll_s = max(0.2, parse_duration(poll, "--poll"))
        self.knobs = {"rollout_rate": rollout_rate, "abort_percent": abort_percent, "abort_min": abort_min,
                      "timeout_minutes": timeout_minutes}
        from .rollout import job_configs
        job_configs(**self.knobs)                       # a bad knob fails now, not after the build
        self.work = Path(work or f"release-{self.name}-{version}")
        self.stages, self.jobs, self.previous, self.updated = [], [], {}, set()
        self.started, self.already = None, []

    # ---- the run ---------------------------------------------------------------------------------
    def run(self) -> dict:
        steps = [("build", self.build), ("verify", self.verify), ("accuracy", self.accuracy), ("package", self.package),
                 ("publish", self.publish), ("canary", self.canary), ("watch", self.watch_canary), ("fleet", self.whole_fleet)]
        result, failed = "released", None
        for stage, fn in steps:
            t0 = time.monotonic()
            self.log(f"{stage} ...")
            try:
                try:
                    facts = fn() or {}
                except EdgecError as e:
                    if not self.jobs:
                        raise                                # bad input or no cloud: nothing deployed, exit 2
                    raise GateFailed(str(e)) from None       # the cloud failed mid-rollout: still roll back
            except GateFailed as e:
                self._record(stage, False, t0, {"reason": e.reason, **e.facts})
                self.log(f"{stage}: FAILED: {e.reason}")
                failed = stage
                break
            self._record(stage, True, t0, facts)
            self.log(f"{stage}: ok" + (f" ({facts['summary']})" if facts.get("summary") else ""))
        if failed is not None:
            result = "stopped"
            if self.jobs:
                t0 = time.monotonic()
                self.log("rollback ...")
                try:
                    facts = self.rollback()
                    self._record("rollback", True, t0, facts)
                    self.log(f"rollback: ok ({facts['summary']})")
                except GateFailed as e:
                    self._record("rollback", False, t0, {"reason": e.reason, **e.facts})
                    self.log(f"rollback: FAILED: {e.reason}")
                result = "rolled back"
        return {"model": self.model, "name": self.name, "version": self.version, "target": self.target, "fleet": self.fleet,
                "result": result, "failed_stage": failed, "stages": self.stages, "jobs": self.jobs, "work": str(self.work)}

    def _record(self, stage: str, ok: bool, t0: float, facts: dict) -> None:
        self.stages.append({"stage": stage, "ok": ok, "seconds": round(time.monotonic() - t0, 2), **facts})

    # ---- build, verify, accuracy, package, publish -------------------------------------------
    def build(self) -> dict:
        from ..driver.build import build
        from ..compiler.outdir import check_output_dir
        self.work.mkdir(parents=True, exist_ok=True)
        self.out = str(self.work / "build")
        check_output_dir(self.out)
        rep = build(self.model, self.target, self.out, self.calibration, self.name.replace("-", "_"),
                    log=lambda msg: self.log(f"  {msg}"))
        t = rep["totals"]
        return {"out": self.out, "ram_bytes": t["arena_bytes"] + t["io_bytes"], "flash_bytes": t["weight_bytes"],
                "summary": f"RAM {t['arena_bytes'] + t['io_bytes']:,} B, weights {t['weight_bytes']:,} B"}

    def _samples(self) -> np.ndarray:
        from ..verification.verify import Built
        self.built = Built(self.out)
        return self.built.samples(self.calibration)

    def verify(self) -> dict:
        from ..verification.verify import verify
        xs = self._samples()[: self.verify_samples]
        path = self.work / "verify-samples.npy"
        np.save(path, xs)
        r = verify(self.out, self.target, str(path))
        facts = {"target": self.target, "samples": r["samples"], "bit_exact": r["bit_exact"], "mismatches": r["mismatches"]}
        if "instructions_per_inference" in r:
            facts["instructions_per_inference"] = r["instructions_per_inference"]
        if not r["bit_exact"]:
            raise GateFailed(f"the C on {self.target} is not bit-exact with the reference: {r['mismatches']} of {r['samples']} samples differ",
                             **facts)
        return {**facts, "summary": f"{r['samples']} samples bit-exact on {self.target}"
                + (f", {r['instructions_per_inference']:,} instructions per inference" if "instructions_per_inference" in r else "")}

    def accuracy(self) -> dict:
        from ..compiler import reference
        from ..driver.build import load_labels
        from ..verification.verify import is_classifier, sqnr_db
        xs, b = self._samples(), self.built
        ref = reference.run_batch(b.float_graph, xs).reshape(len(xs), -1)
        deq = b.dequantize_output(reference.run_batch(b.int_graph, b.quantize_input(xs))).reshape(len(xs), -1)
        facts = {"samples": len(xs), "sqnr_db": round(sqnr_db(ref, deq), 2)}
        if is_classifier(b):
            y = load_labels(self.calibration, len(xs))
            if y is not None:
                f_acc, q_acc = float((ref.argmax(1) == y).mean()), float((deq.argmax(1) == y).mean())
                facts.update(float_top1=round(f_acc, 4), int8_top1=round(q_acc, 4), drop=round(f_acc - q_acc, 4), against="labels")
            else:
                agree = float((ref.argmax(1) == deq.argmax(1)).mean())
                facts.update(top1_agreement=round(agree, 4), drop=round(1 - agree, 4), against="float top-1")
            facts["max_drop"] = self.max_drop
            if facts["drop"] > self.max_drop + 1e-12:
                raise GateFailed(f"top-1 drops {100 * facts['drop']:.2f}% against {facts['against']}, more than "
                                 f"--max-accuracy-drop {100 * self.max_drop:.2f}%", **facts)
            summary = (f"top-1 {100 * facts['float_top1']:.1f}% float, {100 * facts['int8_top1']:.1f}% int8"
                       if "float_top1" in facts else f"top-1 agreement with float {100 * facts['top1_agreement']:.1f}%")
        else:
            summary = f"output SQNR {facts['sqnr_db']} dB"
        if self.min_sqnr is not None and facts["sqnr_db"] < self.min_sqnr:
            raise GateFailed(f"output SQNR {facts['sqnr_db']} dB is below --min-sqnr {self.min_sqnr}", **facts)
        return {**facts, "summary": summary}

    def package(self) -> dict:
        from ..package import archive as package
        self.pkg = str(self.work / f"{self.name}-{self.version}.tar.gz")
        r = package.create(self.out, self.name, self.version, self.key, self.pkg)
        return {"package": self.pkg, "sha256": r.get("sha256"), "summary": self.pkg}

    def publish(self) -> dict:
        r = publish(self.cloud, self.pkg, self.fleet)
        return {"uri": r["uri"], "published": r["published"], "key_id": r["key_id"], "summary": f"{r['uri']}: {r['published']}"}

    # ---- the fleet --------------------------------------------------------------------------------
    def _running(self, st: dict) -> dict:
        """{device: version of this model it runs, or None}."""
        out = {}
        for d in st["devices"]:
            r = d.get("running") if d.get("running") and d["running"].get("model_name") == self.name else None
            v = r["model_version"] if r else None
            for m in (d.get("agent") or {}).get("models", []):
                if m["name"] == self.name:
                    v = m["version"]
            out[d["name"]] = v
        return out

    def canary(self) -> dict:
        st = status(self.cloud, self.fleet)
        devices = [d["name"] for d in st["devices"]]
        if not devices:
            raise EdgecError(f"fleet '{self.fleet}' has no devices", hint=f"register some with `edgec fleet register {self.fleet} DEVICE...`")
        self.previous = self._running(st)
        recent = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        alive = [d["name"] for d in st["devices"] if ((d.get("agent") or {}).get("heartbeat") or "") >= recent]
        self.already = self._alarms()                    # in ALARM before this release: reported, not its doing
        self.started = datetime.now(timezone.utc) - timedelta(seconds=1)     # CloudWatch times are whole seconds
        n = max(1, math.ceil(self.canary_pct * len(devices) / 100))
        if len(devices) > 1:
            n = min(n, len(devices) - 1)                     # a canary is never the whole fleet
        order = sorted(devices, key=lambda name: (name not in alive, name))
        self.canaries, self.rest = sorted(order[:n]), sorted(order[n:])
        r = self._deploy(self.canaries, "canary")
        self._wait(r["job_id"], self.canaries, self.canary_timeout_s, "canary")
        return {"devices": self.canaries, "job_id": r["job_id"], "previous": {d: self.previous.get(d) for d in self.canaries},
                "alarms_already_in_alarm": self.already,
                "summary": f"{len(self.canaries)} of {len(devices)} devices ({', '.join(self.canaries)}) run {self.version}"}

    def _deploy(self, things: list, part: str, **extra) -> dict:
        version = extra.pop("version", self.version)
        job_id = job_id_for(self.fleet, self.name, f"{self.version}-{part}")
        r = deploy(self.cloud, self.fleet, self.name, version, job_id=job_id, things=things, **extra)
        self.jobs.append({"job_id": r["job_id"], "part": part, "version": version, "devices": things})
        return r

    def _executions(self, job_id: str) -> dict:
        iot = self.cloud.client("iot")
        with aws_step(f"executions of job {job_id}"):
            return {e["thingArn"].rsplit("/", 1)[-1]: e["jobExecutionSummary"]["status"]
                    for e in all_pages(iot, "list_job_executions_for_job", "executionSummaries", jobId=job_id)}

    def _alarms(self, since: datetime | None = None) -> list:
        """The model's CloudWatch alarms (those `edgec monitor watch --alarm` makes) in ALARM; with
        `since`, only those that went into ALARM from then on."""
        cw = self.cloud.client("cloudwatch")
        with aws_step("read the model's alarms"):
            alarms = all_pages(cw, "describe_alarms", "MetricAlarms", AlarmNamePrefix=f"edgec-{self.fleet}-{self.name}-")
        return [{"alarm": a["AlarmName"], "reason": a.get("StateReason", "")} for a in alarms if a.get("StateValue") == "ALARM"
                and (since is None or _aware(a.get("StateUpdatedTimestamp")) >= since)]

    def _check(self, job_id: str, stage: str) -> dict:
        ex = self._executions(job_id)
        self.updated |= {d for d, s in ex.items() if s == "SUCCEEDED"}
        failed = {d: s for d, s in ex.items() if s in FAILED}
        if len(failed) > self.max_failures:
            raise GateFailed(f"{len(failed)} {stage} device(s) failed the job ({', '.join(f'{d} {s}' for d, s in sorted(failed.items()))}), "
                             f"more than --max-failures {self.max_failures}", executions=ex)
        alarms = self._alarms(self.started)
        if alarms:
            raise GateFailed(f"alarm {alarms[0]['alarm']} is in ALARM: {alarms[0]['reason']}", alarms=alarms, executions=ex)
        return ex

    def _wait(self, job_id: str, things: list, timeout: float, stage: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            ex = self._check(job_id, stage)
            if len(ex) >= len(things) and all(s in TERMINAL for s in ex.values()):
                if any(s != "SUCCEEDED" for s in ex.values()) and stage == "canary":
                    raise GateFailed(f"not every canary device took {self.version}: "
                                     + ", ".join(f"{d} {s}" for d, s in sorted(ex.items()) if s != "SUCCEEDED"), executions=ex)
                return ex
            if time.monotonic() > deadline:
                waiting = sorted(d for d, s in ex.items() if s not in TERMINAL)
                raise GateFailed(f"{stage} devices did not finish job {job_id} within {timeout:g} s: {', '.join(waiting)}", executions=ex)
            time.sleep(self.poll_s)

    def _p95(self) -> dict:
        st = status(self.cloud, self.fleet)
        out = {}
        for d in st["devices"]:
            if d["name"] in self.canaries:
                for m in (d.get("agent") or {}).get("models", []):
                    if m["name"] == self.name and m["version"] == self.version and m["latency_ms"]["p95"] is not None:
                        out[d["name"]] = m["latency_ms"]["p95"]
        return out

    def watch_canary(self) -> dict:
        from .monitor import drift
        job_id = self.jobs[-1]["job_id"]
        end = time.monotonic() + self.watch_s
        while time.monotonic() < end:
            self._check(job_id, "canary")
            time.sleep(min(self.poll_s, max(0.0, end - time.monotonic())))
        ex = self._check(job_id, "canary")
        facts = {"seconds_watched": self.watch_s, "executions": ex, "p95_ms": self._p95()}
        worst = max(facts["p95_ms"].values(), default=None)
        if self.max_p95_ms is not None and worst is not None and worst > self.max_p95_ms:
            raise GateFailed(f"p95 latency {worst} ms on the canary is above --max-p95-ms {self.max_p95_ms}", **facts)
        try:
            d = drift(self.cloud, self.fleet, self.name, self.calibration, version=self.version)
            captures = d["captures"]
            facts.update(devices_captured=d["devices"], captures=captures, drift=d["drift"], max_feature_psi=d["max_feature_psi"],
                         output_psi=d.get("outputs", {}).get("psi"))
        except EdgecError as e:
            if "no captures" not in str(e):
                raise
            captures = 0
            facts.update(captures=0, drift="no captures")
        if captures < self.min_captures:
            raise GateFailed(f"{captures} captures of {self.version} from the canary, fewer than --min-captures {self.min_captures}", **facts)
        if captures and facts["max_feature_psi"] > self.max_drift_psi:
            raise GateFailed(f"input drift on the canary: max feature PSI {facts['max_feature_psi']:.3f} above --max-drift-psi "
                             f"{self.max_drift_psi} ({facts['drift']})", **facts)
        return {**facts, "summary": f"{len(ex)} canary devices, p95 {worst if worst is not None else '-'} ms, "
                                    f"{captures} captures, drift {facts['drift']}"}

    def whole_fleet(self) -> dict:
        if not self.rest:
            return {"devices": [], "summary": "the canary was the whole fleet"}
        r = self._deploy(self.rest, "fleet", **self.knobs)
        ex = self._wait(r["job_id"], self.rest, self.fleet_timeout_s, "fleet")
        bad = {d: s for d, s in ex.items() if s != "SUCCEEDED"}
        return {"devices": self.rest, "job_id": r["job_id"], "executions": ex,
                "summary": f"{len(ex) - len(bad)} more devices run {self.version}" + (f", {len(bad)} did not" if bad else "")}

    # ---- abort -----------------------------------------------------------------------------------
    def rollback(self) -> dict:
        iot = self.cloud.client("iot")
        canceled = []
        for j in list(self.jobs):
            with aws_step(f"cancel job {j['job_id']}"):
                job = iot.describe_job(jobId=j["job_id"])["job"]
                if job["status"] == "IN_PROGRESS":
                    iot.cancel_job(jobId=j["job_id"], force=True, comment=f"edgec release {self.version} aborted")
                    canceled.append(j["job_id"])
        st = status(self.cloud, self.fleet)
        now = self._running(st)
        took = sorted(d for d in self.updated | {d for d, v in now.items() if v == self.version}
                      if self.previous.get(d) != self.version)
        groups, kept = {}, []
        for d in took:
            prev = self.previous.get(d)
            (groups.setdefault(prev, []) if prev else kept).append(d)
        restored, problems = {}, []
        for prev, things in sorted(groups.items()):
            try:
                r = self._deploy(things, f"rollback-{prev}", version=prev, downgrade_from=self.version, key_path=self.key)
                ex = self._wait_plain(r["job_id"], things, self.canary_timeout_s)
            except (GateFailed, EdgecError) as e:
                problems.append(f"{', '.join(things)} to {prev}: {e}")
                continue
            restored.update({d: prev for d, s in ex.items() if s == "SUCCEEDED"})
            problems += [f"{d} {s}" for d, s in ex.items() if s != "SUCCEEDED"]
        facts = {"canceled_jobs": canceled, "restored": restored, "kept_new_version": kept}
        if problems:
            raise GateFailed("rollback incomplete: " + "; ".join(problems), **facts)
        return {**facts, "summary": (f"{len(restored)} devices back on " + ", ".join(sorted(set(restored.values()))) if restored
                                     else "no device had taken the new version")
                + (f"; {', '.join(kept)} ran no earlier version and keep {self.version}" if kept else "")}

    def _wait_plain(self, job_id: str, things: list, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            ex = self._executions(job_id)
            if len(ex) >= len(things) and all(s in TERMINAL for s in ex.values()):
                return ex
            if time.monotonic() > deadline:
                raise GateFailed(f"job {job_id} did not finish within {timeout:g} s", executions=ex)
            time.sleep(self.poll_s)
