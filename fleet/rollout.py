"""`edgec fleet publish`, `deploy` and `status`: packages in S3, rollouts as IoT Jobs, what runs where.

- publish: the package must verify against the fleet's trusted key; it goes to
  `s3://BUCKET/models/<name>/<version>/<name>-<version>.tar.gz` (manifest.json and manifest.sig
  beside it) with a conditional write, so a published version is never replaced: the same bytes
  again is a no-op, different bytes are refused.
- deploy: one IoT Job aimed at the fleet's thing group (IoT gives each member thing an execution)
  with FLEET.md's job document plus the package's sha256, size and signature, and the rollout, abort and
  timeout configs passed through.  The job id is derived from fleet, model and version, so a re-run
  finds the job it already made.  Devices refuse a version older than the newest they accepted;
  `downgrade_from` (with the fleet's private key) adds a signed allowance to go back from exactly
  that version to this one (agent/rollout.py).
- status: devices, their certificates, every job execution of theirs, and the model each device
  runs: what its agent reported in statusDetails on success (model_name/model_version), else the
  version of its latest succeeded edgec job.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

from ..compiler.errors import EdgecError

from ..package import archive as package, signing
from .aws import Cloud, Progress, aws_step, error_code, names
from .provision import existing, fleet_info

JOB_TYPE = "new_model"


def model_key(name: str, version: str) -> str:
    return f"models/{name}/{version}/{name}-{version}.tar.gz"


def fleet_public_key(cloud: Cloud, fleet: str, info: dict):
    from cryptography.hazmat.primitives import serialization
    with aws_step("read the fleet's package key"):
        pem = cloud.client("s3").get_object(Bucket=info["bucket"], Key=names(fleet)["key_object"])["Body"].read()
    return serialization.load_pem_public_key(pem)


def _put_once(s3, bucket: str, key: str, data: bytes, what: str, progress: Progress) -> None:
    """Write an object only if it is absent; identical bytes already there are fine, others refused."""
    from botocore.exceptions import ClientError
    digest = hashlib.sha256(data).hexdigest()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*", Metadata={"sha256": digest})
        progress.add("created", "object", f"s3://{bucket}/{key}")
        return
    except ClientError as e:
        if error_code(e) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise
    old = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if hashlib.sha256(old).hexdigest() != digest:
        raise EdgecError(f"s3://{bucket}/{key} is already published with different content "
                         f"(sha256 {hashlib.sha256(old).hexdigest()[:16]}…, this {what} {digest[:16]}…)",
                         hint="a published version is never replaced: publish a new version")
    progress.add("exists", "object", f"s3://{bucket}/{key}")


def fetch_verified(s3, bucket: str, key: str, public_key, sink=None) -> dict | None:
    """A published package, streamed from S3 into a temporary file and verified (package.verify_file);
    None if there is no such object."""
    import tempfile
    where = f"s3://{bucket}/{key}"
    with aws_step(f"read {where}"):
        obj = existing(lambda: s3.get_object(Bucket=bucket, Key=key), ("NoSuchKey", "404"))
        if obj is None:
            return None
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as f:
            for chunk in obj["Body"].iter_chunks(64 << 10):
                f.write(chunk)
            f.seek(0)
            return package.verify_file(f, where, lambda kid: public_key, sink)


def publish(cloud: Cloud, pkg: str, fleet: str) -> dict:
    info = fleet_info(cloud, fleet)
    key = fleet_public_key(cloud, fleet, info)
    try:
        f = open(pkg, "rb")
    except OSError as e:
        raise EdgecError(f"cannot read package: {e.strerror}", where=pkg) from None
    with f:
        r = package.verify_file(f, pkg, lambda kid: key)
        f.seek(0)
        data = f.read(r["size"] + 1)
    if package.sha256(data) != r["sha256"]:
        raise EdgecError("the package changed while it was being published", where=pkg)
    manifest = r["manifest"]
    name, version = manifest["name"], manifest["version"]
    s3, progress, bucket = cloud.client("s3"), Progress(), info["bucket"]
    obj = model_key(name, version)
    with aws_step(f"publish {name} {version}", progress):
        _put_once(s3, bucket, obj, data, "package", progress)          # the guard: first, and conditional
        prefix = obj.rsplit("/", 1)[0]
        _put_once(s3, bucket, f"{prefix}/{package.MANIFEST}", r["manifest_json"], "manifest", progress)
        _put_once(s3, bucket, f"{prefix}/{package.SIGNATURE}", r["manifest_sig"], "signature", progress)
    new = any(s["action"] == "created" and s["name"].endswith(".tar.gz") for s in progress.steps)
    return {"fleet": fleet, "name": name, "version": version, "bucket": bucket, "key": obj, "uri": f"s3://{bucket}/{obj}",
            "sha256": package.sha256(data), "size": len(data), "key_id": signing.key_id(key),
            "published": "new" if new else "already published (identical)", "steps": progress.steps}


def job_id_for(fleet: str, name: str, version: str) -> str:
    jid = re.sub(r"[^a-zA-Z0-9_-]", "_", f"{fleet}-{name}-{version}")
    return jid if len(jid) <= 64 else jid[:47] + "-" + hashlib.sha256(jid.encode()).hexdigest()[:16]


def _rate(text: str | None) -> int | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(/\s*min)?\s*", str(text))
    if not m or not 1 <= int(m.group(1)) <= 1000:
        raise EdgecError(f"rollout rate '{text}' is not N or N/min with 1 <= N <= 1000")
    return int(m.group(1))


def job_configs(rollout_rate=None, abort_percent=None, abort_min=None, timeout_minutes=None) -> dict:
    """CreateJob's rollout, abort and timeout configs from the CLI's knobs (only those given)."""
    kw = {}
    rate = _rate(rollout_rate)
    if rate:
        kw["jobExecutionsRolloutConfig"] = {"maximumPerMinute": rate}
    if abort_min is not None and abort_percent is None:
        raise EdgecError("--abort-min-devices needs --abort-failure-percent")
    if abort_percent is not None:
        if not 0 < abort_percent <= 100 or (abort_min is not None and abort_min < 1):
            raise EdgecError("--abort-failure-percent must be in (0, 100] and --abort-min-devices at least 1")
        kw["abortConfig"] = {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": float(abort_percent),
                                               "minNumberOfExecutedThings": int(abort_min or 1)}]}
    if timeout_minutes is not None:
        if not 1 <= timeout_minutes <= 10080:
            raise EdgecError("--timeout-minutes must be between 1 and 10080 (7 days)")
        kw["timeoutConfig"] = {"inProgressTimeoutInMinutes": int(timeout_minutes)}
    return kw


def deploy(cloud: Cloud, fleet: str, name: str, version: str, job_id: str | None = None, downgrade_from: str | None = None,
           key_path: str | None = None, things: list | None = None, **knobs) -> dict:
    """`things`: only these devices of the fleet (a canary, a rollback), as thing targets; else the
    fleet's thing group."""
    package.check_name_version(name, version)
    configs = job_configs(**knobs)
    private = None
    if downgrade_from is not None:
        package.check_name_version(name, downgrade_from)
        if package.version_key(downgrade_from) <= package.version_key(version):
            raise EdgecError(f"--allow-downgrade-from {downgrade_from} is not newer than --version {version}",
                             hint="name the version the devices run now, which this deployment replaces with an older one")
        if key_path is None:
            raise EdgecError("--allow-downgrade-from needs --key: the allowance is signed with the fleet's package key")
        private = signing.load_private(key_path)
    elif key_path is not None:
        raise EdgecError("--key signs a downgrade allowance; pass --allow-downgrade-from too")
    info = fleet_info(cloud, fleet)
    key = fleet_public_key(cloud, fleet, info)
    s3, iot, bucket, obj = cloud.client("s3"), cloud.client("iot"), info["bucket"], model_key(name, version)
    if private is not None and signing.key_id(private.public_key()) != signing.key_id(key):
        raise EdgecError(f"--key is key {signing.key_id(private.public_key())}, not the fleet's package key {signing.key_id(key)}",
                         hint="devices accept an allowance only from a key they trust")
    r = fetch_verified(s3, bucket, obj, key)                          # deploy only what the devices will accept
    if r is None:
        raise EdgecError(f"{name} {version} is not published in s3://{bucket}", hint=f"run `edgec fleet publish PKG --fleet {fleet}` first")
    with aws_step("list the fleet's devices"):
        devices = all_pages(iot, "list_things_in_thing_group", "things", thingGroupName=fleet)
    if not devices:
        raise EdgecError(f"fleet '{fleet}' has no devices", hint=f"register some with `edgec fleet register {fleet} DEVICE...`")
    targets = [info["thing_group_arn"]]
    if things is not None:
        strangers = sorted(set(things) - set(devices))
        if strangers or not things:
            raise EdgecError(f"not devices of fleet '{fleet}': {', '.join(strangers) or 'none given'}")
        with aws_step("look up the devices"):
            targets = [iot.describe_thing(thingName=t)["thingArn"] for t in sorted(set(things))]
        devices = sorted(set(things))
    document = {"type": JOB_TYPE, "model_name": name, "model_version": version, "model_package_bucket": bucket,
                "model_package_key": obj, "model_package_sha256": r["sha256"], "model_package_size": r["size"],
                "model_signature": json.loads(r["manifest_sig"]), "fleet": fleet}
    if private is not None:
        document["downgrade"] = package.downgrade_allowance(private, name, version, r["sha256"], downgrade_from)
    job_id = job_id or job_id_for(fleet, name, version)
    doc = json.dumps(document, sort_keys=True)
    with aws_step(f"IoT job {job_id}"):
        old = existing(lambda: iot.describe_job(jobId=job_id), ("ResourceNotFoundException",))
        if old is not None:
            old_doc = iot.get_job_document(jobId=job_id)["document"]
            if json.loads(old_doc) != document:
                raise EdgecError(f"job {job_id} exists with another document", hint="pass --job-id to start a new rollout")
            return {"fleet": fleet, "job_id": job_id, "job_arn": old["job"]["jobArn"], "created": False,
                    "targets": old["job"].get("targets", []), "devices": len(devices), "document": document, **configs}
        r = iot.create_job(jobId=job_id, targets=targets, document=doc, targetSelection="SNAPSHOT",
                           description=f"edgec: {name} {version} to " + (f"{len(devices)} devices of " if things else "")
                           + f"fleet {fleet}", **configs)
    return {"fleet": fleet, "job_id": job_id, "job_arn": r["jobArn"], "created": True, "targets": targets,
            "devices": len(devices), "document": document, **configs}


def all_pages(client, op: str, key: str, **kw) -> list:
    """Every item of a paged list call."""
    return [x for page in client.get_paginator(op).paginate(**kw) for x in page.get(key, [])]


def _iso(t) -> str | None:
    return t.isoformat() if hasattr(t, "isoformat") else t


def status(cloud: Cloud, fleet: str, job_id: str | None = None) -> dict:
    info = fleet_info(cloud, fleet)
    iot, docs, jobs, devices, skipped = cloud.client("iot"), {}, {}, [], Counter()
    with aws_step(f"status of fleet {fleet}"):
        for thing in sorted(all_pages(iot, "list_things_in_thing_group", "things", thingGroupName=fleet)):
            certs = [p for p in all_pages(iot, "list_thing_principals", "principals", thingName=thing) if ":cert/" in p]
            cert_status = [iot.describe_certificate(certificateId=c.rsplit("/", 1)[-1])["certificateDescription"]["status"] for c in certs]
            summaries = all_pages(iot, "list_job_executions_for_thing", "executionSummaries", thingName=thing)
            executions = []
            for s in summaries:
                jid = s["jobId"]
                if job_id and jid != job_id:
                    continue
                if jid not in docs:
                    docs[jid] = json.loads(iot.get_job_document(jobId=jid).get("document") or "{}")
                    jobs[jid] = iot.describe_job(jobId=jid)["job"]
                ex = iot.describe_job_execution(jobId=jid, thingName=thing)["execution"]
                details = (ex.get("statusDetails") or {}).get("detailsMap", {}) or {}
                executions.append({"job_id": jid, "status": ex["status"], "model_name": docs[jid].get("model_name"),
                                   "model_version": docs[jid].get("model_version"), "status_details": details,
                                   "last_updated": _iso(ex.get("lastUpdatedAt"))})
            executions.sort(key=lambda e: e["last_updated"] or "")
            ok = [e for e in executions if e["status"] == "SUCCEEDED" and e["model_name"]]
            running = None
            if ok:
                last = ok[-1]
                running = {"model_name": last["status_details"].get("model_name", last["model_name"]),
                           "model_version": last["status_details"].get("model_version", last["model_version"])}
            devices.append({"name": thing, "certificates": cert_status, "executions": executions, "running": running,
                            "agent": clean_report(agent_report(cloud, thing), skipped)})
    job_rows = [{"job_id": j, "status": d["status"], "comment": d.get("comment"), "model_name": docs[j].get("model_name"),
                 "model_version": docs[j].get("model_version"), "counts": {k: v for k, v in (d.get("jobProcessDetails") or {}).items()
                                                                             if k.startswith("numberOf")},
                 "abort_config": d.get("abortConfig"), "timeout_config": d.get("timeoutConfig"),
                 "rollout_config": d.get("jobExecutionsRolloutConfig")} for j, d in sorted(jobs.items())]
    return {"fleet": fleet, "bucket": info["bucket"], "output": info.get("output"), "role_alias": info.get("role_alias"),
            "devices": devices, "jobs": job_rows, "skipped": dict(sorted(skipped.items()))}


AGENT_SHADOW = "edgec-agent"


def agent_report(cloud: Cloud, thing: str) -> dict | None:
    """What the device's agent last reported (its heartbeat, in the thing's named shadow `edgec-agent`):
    models with versions, inference counts and latency percentiles, RAM use, capture backlog."""
    try:
        payload = cloud.client("iot-data").get_thing_shadow(thingName=thing, shadowName=AGENT_SHADOW)["payload"].read()
    except Exception as e:                              # no shadow yet (ResourceNotFound) or no iot-data access
        if error_code(e) in ("ResourceNotFoundException", "404"):
            return None
        raise
    try:
        doc = json.loads(payload)
    except ValueError:
        return {"_bad": "shadow is not JSON"}
    reported = doc.get("state", {}).get("reported") if isinstance(doc, dict) and isinstance(doc.get("state"), dict) else None
    return reported if isinstance(reported, dict) or reported is None else {"_bad": "reported state is not an object"}


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def clean_report(report: dict | None, skipped: Counter) -> dict | None:
    """An agent's report in the shape readers rely on: models with a name, a version, an inference
    count and latency percentiles (None where unknown), capture counts, RAM numbers.  Whatever does
    not fit (a model entry without a name, a heartbeat without latency_ms, a shadow that is not JSON)
    is dropped or filled in and counted in `skipped` by reason, never passed on to crash a reader."""
    if report is None:
        return None
    if "_bad" in report:
        skipped[report["_bad"]] += 1
        return None
    out = dict(report)
    models = report.get("models")
    if not isinstance(models, list):
        if models is not None:
            skipped["agent report whose models are not a list"] += 1
        models = []
    out["models"] = []
    for m in models:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            skipped["agent model entry without a name"] += 1
            continue
        lat = m.get("latency_ms")
        if not isinstance(lat, dict):
            skipped["agent model entry without latency_ms"] += 1
            lat = {}
        out["models"].append({**m, "version": str(m.get("version", "?")), "inferences": _num(m.get("inferences")) or 0,
                              "latency_ms": {k: _num(lat.get(k)) for k in ("p50", "p95", "p99")}})
    cap = report.get("capture")
    out["capture"] = {"backlog": 0, "uploaded": 0, **({k: v for k, v in cap.items() if _num(v) is not None or isinstance(v, str)}
                                                      if isinstance(cap, dict) else {})}
    for k in ("ram_used_bytes", "uptime_s"):         # a number or absent: never null or text, which the page formats
        if k in out and _num(out[k]) is None:
            del out[k]
    out["ram_budget_bytes"] = _num(out.get("ram_budget_bytes"))      # None: no budget
    if not isinstance(out.get("heartbeat"), str):
        out.pop("heartbeat", None)
    return out


def _latency(m: dict) -> str:
    p50 = m["latency_ms"]["p50"]
    return f"p50 {p50} ms" if p50 is not None else "no latency yet"


def _words(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r" \1", camel).lower()


def format_status(st: dict) -> str:
    """The status as a table for people: one row per device and job execution, then one per job."""
    lines = [f"fleet {st['fleet']}: {len(st['devices'])} devices, packages in s3://{st['bucket']}, captures to {st['output']}"]
    lines.append(f"{'DEVICE':<20} {'CERT':<9} {'JOB':<36} {'MODEL':<20} {'STATUS':<12} {'RUNNING':<20}")
    for d in st["devices"]:
        cert = ",".join(d["certificates"]) or "none"
        running = f"{d['running']['model_name']} {d['running']['model_version']}" if d["running"] else "-"
        for e in d["executions"] or [None]:
            job, model, state = ("-", "-", "-") if e is None else (e["job_id"], f"{e['model_name']} {e['model_version']}", e["status"])
            lines.append(f"{d['name']:<20} {cert:<9} {job:<36} {model:<20} {state:<12} {running:<20}")
    for d in st["devices"]:
        a = d.get("agent")
        if a:
            models = ", ".join(f"{m['name']} {m['version']} ({m['inferences']} inferences, {_latency(m)})"
                               for m in a.get("models", [])) or "no models"
            cap = a.get("capture", {})
            lines.append(f"agent {d['name']}: heartbeat {a.get('heartbeat') or 'never'}, {models}; RAM {a.get('ram_used_bytes') or 0:,} B"
                         f" of {a.get('ram_budget_bytes') or 'unlimited'}; captures uploaded {cap.get('uploaded', 0)}, backlog {cap.get('backlog', 0)}")
    for j in st["jobs"]:
        c = j["counts"]
        counts = ", ".join(f"{_words(k[8:-6])} {v}" for k, v in sorted(c.items()) if v)   # numberOfTimedOutThings -> timed out
        lines.append(f"job {j['job_id']}: {j['status']}" + (f" ({j['comment']})" if j.get("comment") else "")
                     + (f" — {counts}" if counts else ""))
    if st.get("skipped"):
        lines.append(f"skipped {sum(st['skipped'].values())} bad agent report entries: "
                     + ", ".join(f"{n} {why}" for why, n in st["skipped"].items()))
    return "\n".join(lines)
