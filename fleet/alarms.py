"""CloudWatch metric alarms evaluated on moto's state, as CloudWatch evaluates them (local cloud only).

moto 5.2 stores PutMetricAlarm's alarms and PutMetricData's datapoints but never evaluates an alarm:
its state stays where it was created.  `evaluate` does what CloudWatch does each period: for the
last EvaluationPeriods periods, the alarm's statistic (Average, Maximum, Minimum, Sum, SampleCount)
of the datapoints of exactly its namespace, metric name and dimensions; a period is breaching when
that value compares true with the threshold; the alarm is ALARM when at least DatapointsToAlarm
(default EvaluationPeriods) periods breach, INSUFFICIENT_DATA when there are no datapoints and
TreatMissingData is `missing` (the default; `breaching`/`notBreaching` count empty periods as
such, `ignore` keeps the state), else OK.  A state change is recorded with moto's update_state
(history and reason, as DescribeAlarms/DescribeAlarmHistory show them).

`scale` is seconds of wall time per CloudWatch second (the local cloud's `--minute` / 60), so a
60-second period lasts `--minute` seconds.  Against AWS, CloudWatch does this itself.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

OPS = {"GreaterThanThreshold": lambda v, t: v > t, "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
       "LessThanThreshold": lambda v, t: v < t, "LessThanOrEqualToThreshold": lambda v, t: v <= t}
WORDS = {"GreaterThanThreshold": "greater than", "GreaterThanOrEqualToThreshold": "greater than or equal to",
         "LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to"}
STATS = {"Average": lambda xs: sum(xs) / len(xs), "Maximum": max, "Minimum": min, "Sum": sum, "SampleCount": len}


def _ts(t) -> float:
    if isinstance(t, datetime):
        return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
    return float(t)


def _dims(ds) -> frozenset:
    return frozenset((d.name, d.value) for d in ds or [])


def evaluate(be, now: float, scale: float = 1.0) -> list:
    """Evaluate every metric alarm of one CloudWatch backend; the (alarm name, new state) changes."""
    from moto.cloudwatch.models import MetricDatum
    changes = []
    data = [d for d in list(be.metric_data) if isinstance(d, MetricDatum)]
    for alarm in list(be.alarms.values()):
        op, stat = OPS.get(alarm.comparison_operator), STATS.get(alarm.statistic)
        if op is None or stat is None or not alarm.metric_name or alarm.metric_data_queries:
            continue                                     # metric math, percentiles: not evaluated here
        period = max(1e-3, float(alarm.period or 60) * scale)
        n = max(1, int(alarm.evaluation_periods or 1))
        need = int(alarm.datapoints_to_alarm or n)
        want = _dims(alarm.dimensions)
        buckets = [[] for _ in range(n)]
        for d in data:
            if d.namespace == alarm.namespace and d.name == alarm.metric_name and _dims(d.dimensions) == want:
                age = now - _ts(d.timestamp)
                if 0 <= age < n * period:
                    buckets[n - 1 - int(age // period)].append(float(d.value))
        values = [stat(b) if b else None for b in buckets]
        present = [v for v in values if v is not None]
        missing = alarm.treat_missing_data or "missing"
        breaching = sum(1 for v in present if op(v, alarm.threshold)) + (len(values) - len(present) if missing == "breaching" else 0)
        if not present and missing == "ignore":
            continue
        if breaching >= need:
            state = "ALARM"
        elif not present and missing == "missing":
            state = "INSUFFICIENT_DATA"
        else:
            state = "OK"
        if state == alarm.state_value and alarm.state_reason.startswith(("Threshold Crossed", "Insufficient Data")):
            continue
        shown = ", ".join(f"{v:.4g}" for v in present[-5:])
        if state == "INSUFFICIENT_DATA":
            reason = f"Insufficient Data: {n} datapoints were unknown."
        else:
            reason = (f"Threshold Crossed: {breaching} out of the last {n} datapoints [{shown}] "
                      f"{'were' if breaching != 1 else 'was'} {WORDS[alarm.comparison_operator]} the threshold ({alarm.threshold:g}) "
                      f"(minimum {need} datapoint{'s' if need != 1 else ''} for {'ALARM' if state == 'ALARM' else 'OK -> ALARM'} transition).")
        if state == alarm.state_value:
            alarm.state_reason = reason                  # first evaluation of an alarm moto marked OK unchecked
            continue
        alarm.update_state(reason, json.dumps({"version": "1.0", "queryDate": datetime.fromtimestamp(now, timezone.utc).isoformat(),
                                               "statistic": alarm.statistic, "period": alarm.period, "threshold": alarm.threshold,
                                               "recentDatapoints": present}), state)
        changes.append((alarm.name, state))
    return changes


def evaluate_all(now: float, scale: float = 1.0) -> list:
    from moto.cloudwatch.models import cloudwatch_backends
    out = []
    for account in list(cloudwatch_backends.values()):
        for be in list(account.values()):
            out += evaluate(be, now, scale)
    return out
