"""`edgec monitor watch`: each model's drift and health as CloudWatch metrics, on a schedule, and alarms.

Every `--period` it reads what the fleet reports and publishes (PutMetricData, namespace `edgec`,
dimensions Fleet and Model), per model:
  InputDriftPSI   largest per-feature PSI of the captures of the last `--window` against the
                  model's baseline (fleet.monitor.drift; only for models given a --baseline)
  OutputDriftPSI  PSI of the predicted-class shares against the baseline's (classifiers)
  Captures        captures in that window
  LatencyP95Ms    largest p95 latency any agent reports for the model (heartbeats)
  Inferences      inferences the agents report, summed
  Devices         agents serving the model
  JobFailures     failed, rejected or timed-out executions of the model's jobs still in progress
  CaptureBacklog  captures waiting in the spools of the agents serving it
`--alarm METRIC>THRESHOLD` (>, >=, <, <=; metric names as above or drift, output-drift, p95,
failures, backlog) puts one CloudWatch alarm per model, `edgec-<fleet>-<model>-<Metric>` (Maximum over
one `--alarm-period`), which CloudWatch evaluates (the local cloud does it as CloudWatch does,
fleet/alarms.py).  `edgec release` aborts a rollout while one of the model's alarms is in ALARM, and
the dashboard lists them.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from ..compiler.errors import EdgecError

from .aws import Cloud, aws_step
from .rollout import status

NAMESPACE = "edgec"
METRICS = {"InputDriftPSI": "None", "OutputDriftPSI": "None", "Captures": "Count", "LatencyP95Ms": "Milliseconds",
           "Inferences": "Count", "Devices": "Count", "JobFailures": "Count", "CaptureBacklog": "Count"}
ALIASES = {"drift": "InputDriftPSI", "input-drift": "InputDriftPSI", "output-drift": "OutputDriftPSI", "p95": "LatencyP95Ms",
           "latency": "LatencyP95Ms", "failures": "JobFailures", "backlog": "CaptureBacklog", "captures": "Captures"}
OPS = {">": "GreaterThanThreshold", ">=": "GreaterThanOrEqualToThreshold", "<": "LessThanThreshold", "<=": "LessThanOrEqualToThreshold"}
FAILED = ("numberOfFailedThings", "numberOfRejectedThings", "numberOfTimedOutThings")


def alarm_name(fleet: str, model: str, metric: str) -> str:
    return f"edgec-{fleet}-{model}-{metric}"


def parse_alarm(text: str) -> tuple[str, str, float]:
    """'InputDriftPSI>0.25' -> (metric, CloudWatch comparison operator, threshold)."""
    m = re.fullmatch(r"\s*([A-Za-z0-9-]+)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*", str(text))
    metric = ALIASES.get(m.group(1).lower(), m.group(1)) if m else None
    if not m or metric not in METRICS:
        raise EdgecError(f"--alarm '{text}' is not METRIC>THRESHOLD with a metric among {', '.join(METRICS)}",
                         hint="e.g. --alarm InputDriftPSI>0.25 or --alarm p95>40")
    return metric, OPS[m.group(2)], float(m.group(3))


def measure(cloud: Cloud, fleet: str, baselines: dict, window_s: float, models: list | None = None) -> dict:
    """{model: {metric: value}} now, and {reason: count} of what readers skipped."""
    from .monitor import drift
    st = status(cloud, fleet)
    out, skipped = {}, dict(st.get("skipped") or {})
    for d in st["devices"]:
        a = d.get("agent") or {}
        for m in a.get("models", []):
            row = out.setdefault(m["name"], {"Inferences": 0, "Devices": 0, "CaptureBacklog": 0})
            row["Inferences"] += m["inferences"]
            row["Devices"] += 1
            row["CaptureBacklog"] += a.get("capture", {}).get("backlog", 0) or 0
            p95 = m["latency_ms"]["p95"]
            if p95 is not None:
                row["LatencyP95Ms"] = max(row.get("LatencyP95Ms", 0.0), float(p95))
    for j in st["jobs"]:
        if j.get("model_name") and j["status"] == "IN_PROGRESS":
            row = out.setdefault(j["model_name"], {"Inferences": 0, "Devices": 0, "CaptureBacklog": 0})
            row["JobFailures"] = row.get("JobFailures", 0) + sum(j["counts"].get(k, 0) for k in FAILED)
    since = (datetime.now(timezone.utc) - timedelta(seconds=window_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for model, baseline in baselines.items():
        row = out.setdefault(model, {"Inferences": 0, "Devices": 0, "CaptureBacklog": 0})
        try:
            r = drift(cloud, fleet, model, baseline, since=since)
        except EdgecError as e:
            if "no captures" not in str(e):
                raise
            row["Captures"] = 0
            continue
        row.update(Captures=r["captures"], InputDriftPSI=r["max_feature_psi"])
        if "outputs" in r:
            row["OutputDriftPSI"] = r["outputs"]["psi"]
        for why, n in r.get("skipped", {}).items():
            skipped[why] = skipped.get(why, 0) + n
    for row in out.values():
        row.setdefault("JobFailures", 0)
    if models:
        out = {k: v for k, v in out.items() if k in models}
    return {"models": out, "skipped": skipped}


def publish(cloud: Cloud, fleet: str, measured: dict) -> int:
    cw, now, n = cloud.client("cloudwatch"), datetime.now(timezone.utc), 0
    data = [{"MetricName": metric, "Dimensions": [{"Name": "Fleet", "Value": fleet}, {"Name": "Model", "Value": model}],
             "Value": float(value), "Unit": METRICS[metric], "Timestamp": now}
            for model, row in sorted(measured.items()) for metric, value in sorted(row.items())]
    with aws_step("put the fleet's metrics (PutMetricData)"):
        for i in range(0, len(data), 20):                    # at most 20 datums per call (older limit, still safe)
            cw.put_metric_data(Namespace=NAMESPACE, MetricData=data[i:i + 20])
            n += len(data[i:i + 20])
    return n


def put_alarms(cloud: Cloud, fleet: str, models: list, alarms: list, period_s: int) -> list:
    cw, names = cloud.client("cloudwatch"), []
    with aws_step("put the alarms (PutMetricAlarm)"):
        for model in sorted(models):
            for metric, op, threshold in alarms:
                name = alarm_name(fleet, model, metric)
                cw.put_metric_alarm(AlarmName=name, Namespace=NAMESPACE, MetricName=metric, Statistic="Maximum",
                                    Dimensions=[{"Name": "Fleet", "Value": fleet}, {"Name": "Model", "Value": model}],
                                    Period=period_s, EvaluationPeriods=1, Threshold=threshold, ComparisonOperator=op,
                                    TreatMissingData="missing",
                                    AlarmDescription=f"edgec monitor watch: {metric} of {model} in fleet {fleet}")
                names.append(name)
    return names


def alarm_states(cloud: Cloud, fleet: str) -> list:
    """The fleet's edgec alarms: name, model, metric, state, reason, threshold (for the dashboard and status)."""
    from .rollout import all_pages
    cw = cloud.client("cloudwatch")
    with aws_step("read the fleet's alarms"):
        alarms = all_pages(cw, "describe_alarms", "MetricAlarms", AlarmNamePrefix=f"edgec-{fleet}-")
    out = []
    for a in alarms:
        dims = {d["Name"]: d["Value"] for d in a.get("Dimensions", [])}
        if dims.get("Fleet") != fleet:
            continue
        out.append({"name": a["AlarmName"], "model": dims.get("Model"), "metric": a.get("MetricName"),
                    "state": a.get("StateValue"), "reason": a.get("StateReason", ""), "threshold": a.get("Threshold"),
                    "comparison": a.get("ComparisonOperator"),
                    "updated": a["StateUpdatedTimestamp"].isoformat() if hasattr(a.get("StateUpdatedTimestamp"), "isoformat") else None})
    return sorted(out, key=lambda a: a["name"])


def watch(cloud: Cloud, fleet: str, baselines: dict, period_s: float, count: int | None, window_s: float,
          alarms: list, alarm_period_s: int, models: list | None = None, emit=lambda rec: None) -> list:
    """Measure and publish every period (`count` times, None: until stopped); alarms put once per model seen."""
    from .provision import fleet_info
    fleet_info(cloud, fleet)                                  # no such fleet: one line, before the loop
    alarmed, records, i = set(), [], 0
    while count is None or i < count:
        t0 = time.monotonic()
        m = measure(cloud, fleet, baselines, window_s, models)
        sent = publish(cloud, fleet, m["models"])
        new = sorted(set(m["models"]) - alarmed)
        names = put_alarms(cloud, fleet, new, alarms, alarm_period_s) if alarms and new else []
        alarmed |= set(new)
        rec = {"time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "metrics": m["models"], "datums": sent,
               "alarms_put": names, "skipped": m["skipped"]}
        records.append(rec)
        emit(rec)
        i += 1
        if count is not None and i >= count:
            break
        time.sleep(max(0.0, period_s - (time.monotonic() - t0)))
    return records
