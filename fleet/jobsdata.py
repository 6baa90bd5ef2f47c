"""The device side of IoT Jobs (the `iot-jobs-data` API), on moto's own IoT records.

moto 5.2 stores jobs and per-thing executions but answers every data-plane call with 500, never
expands a thing-group target into per-thing executions, leaves executions QUEUED when a job is
canceled and never updates a job's status or jobProcessDetails.  `JobsData` adds those rules, so
that `describe_job`/`describe_job_execution` through moto show what a device did:

- GetPendingJobExecutions, StartNextPendingJobExecution, DescribeJobExecution (`$next` too),
  UpdateJobExecution with IoT Jobs' status rules: a device may set IN_PROGRESS, SUCCEEDED, FAILED
  or REJECTED; terminal executions do not change; `expectedVersion` guards concurrent updates.
- `sync` (run before and after every IoT request): group targets -> one execution per member
  thing (SNAPSHOT: the members at the first sync; CONTINUOUS: later members too), cancel
  propagation (QUEUED -> CANCELED; IN_PROGRESS too when forced), in-progress and step timeouts
  (-> TIMED_OUT), abortConfig (failure threshold reached -> job CANCELED, queued executions
  canceled), job status (IN_PROGRESS until every execution is terminal, then COMPLETED) and the
  jobProcessDetails counts.
- rollout rates (jobExecutionsRolloutConfig): an execution is offered to its device (pending,
  start-next, `$next`) only once it has been notified, and at most `maximumPerMinute` executions of
  a job are notified in any minute (at 1/min the second device gets the job a minute after the
  first); `exponentialRate` starts at baseRatePerMinute and multiplies the rate by incrementFactor
  each time rateIncreaseCriteria's number of notified (or succeeded) things is reached again.
  Executions not yet notified stay QUEUED (and are canceled with their job).
`minute` scales IoT's minutes so rates and timeouts can be exercised in seconds.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

TERMINAL = {"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "REMOVED", "CANCELED"}
EXECUTED = {"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT"}
DEVICE_SETTABLE = {"IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"}
FAILURES = {"FAILED": {"FAILED"}, "REJECTED": {"REJECTED"}, "TIMED_OUT": {"TIMED_OUT"},
            "ALL": {"FAILED", "REJECTED", "TIMED_OUT"}}
COUNTS = {"QUEUED": "numberOfQueuedThings", "IN_PROGRESS": "numberOfInProgressThings",
          "SUCCEEDED": "numberOfSucceededThings", "FAILED": "numberOfFailedThings",
          "REJECTED": "numberOfRejectedThings", "CANCELED": "numberOfCanceledThings",
          "REMOVED": "numberOfRemovedThings", "TIMED_OUT": "numberOfTimedOutThings"}


class JobsError(Exception):
    """An IoT Jobs error as the service returns it: HTTP status, error code, message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)     # moto keeps naive UTC


class JobsData:
    def __init__(self, minute: float = 60.0):
        self.minute = minute

    # ---- state upkeep -------------------------------------------------------------------------
    def _executions(self, be, job_id=None, thing=None):
        return [e for (j, t), e in list(be.job_executions.items())
                if (job_id is None or j == job_id) and (thing is None or t == thing)]

    def _adopt(self, ex, now: float) -> None:
        """Give an execution moto created (or we did) the fields IoT Jobs keeps."""
        if not hasattr(ex, "edgec_queued"):
            ex.edgec_queued, ex.edgec_started, ex.edgec_deadline = now, None, None
            ex.execution_number, ex.version_number = 1, 1
        if not hasattr(ex, "edgec_notified"):
            ex.edgec_notified = None                      # _notify decides, at the rollout rate

    def _rate(self, cfg: dict, executions) -> int | None:
        """Executions a job may notify per minute now (None: no limit)."""
        if cfg.get("maximumPerMinute"):
            return int(cfg["maximumPerMinute"])
        exp = cfg.get("exponentialRate")
        if not exp:
            return None
        crit = exp.get("rateIncreaseCriteria") or {}
        if crit.get("numberOfSucceededThings"):
            done, step = sum(e.status == "SUCCEEDED" for e in executions), int(crit["numberOfSucceededThings"])
        else:
            done, step = sum(e.edgec_notified is not None for e in executions), int(crit.get("numberOfNotifiedThings") or 1)
        return min(1000, int(int(exp.get("baseRatePerMinute", 1)) * float(exp.get("incrementFactor", 1)) ** (done // max(1, step))))

    def _notify(self, job, executions, now: float) -> None:
        waiting = sorted((e for e in executions if e.edgec_notified is None), key=lambda e: (e.edgec_queued, e.thing_arn))
        rate = self._rate(job.job_executions_rollout_config or {}, executions)
        if rate is not None:
            recent = sum(1 for e in executions if e.edgec_notified is not None and now - e.edgec_notified < self.minute)
            waiting = waiting[:max(0, rate - recent)]
        for e in waiting:
            e.edgec_notified = now

    def _expand(self, be, job, now: float) -> None:
        continuous = (job.target_selection or "SNAPSHOT") == "CONTINUOUS" and job.status not in TERMINAL | {"COMPLETED"}
        if getattr(job, "edgec_expanded", False) and not continuous:
            return
        for target in job.targets or []:
            if ":thinggroup/" not in target:
                continue
            group = target.rsplit("/", 1)[-1]
            bogus = be.job_executions.get((job.job_id, group))
            if bogus is not None and bogus.thing_arn == target:      # moto's execution "for the group"
                del be.job_executions[(job.job_id, group)]
            members = [g for g in list(be.thing_groups.values()) if g.thing_group_name == group]
            for thing in list(members[0].things.values()) if members else []:
                if (job.job_id, thing.thing_name) not in be.job_executions:
                    from moto.iot.models import FakeJobExecution
                    ex = FakeJobExecution(job.job_id, thing.arn)
                    self._adopt(ex, now)
                    be.job_executions[(job.job_id, thing.thing_name)] = ex
        job.edgec_expanded = True

    def _set(self, ex, status: str, now: float) -> None:
        ex.status = status
        ex.version_number += 1
        ex.last_updated_at = _utc(now)

    def _abort_reason(self, job, executions) -> str | None:
        for c in (job.abort_config or {}).get("criteriaList", []):
            executed = [e for e in executions if e.status in EXECUTED]
            failed = [e for e in executed if e.status in FAILURES.get(c.get("failureType"), set())]
            if executed and len(executed) >= int(c.get("minNumberOfExecutedThings", 1)) \
                    and 100.0 * len(failed) >= float(c.get("thresholdPercentage", 100)) * len(executed):
                return (f"aborted by abortConfig: {len(failed)} of {len(executed)} executed things "
                        f"{c.get('failureType')} (threshold {c.get('thresholdPercentage')}%)")
        return None

    def sync(self, be, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for job in list(be.jobs.values()):
            self._expand(be, job, now)
            executions = self._executions(be, job.job_id)
            for ex in executions:
                self._adopt(ex, now)
            if job.status not in TERMINAL | {"COMPLETED", "DELETION_IN_PROGRESS"}:
                self._notify(job, executions, now)
            for ex in executions:
                if ex.status == "IN_PROGRESS" and ex.edgec_deadline is not None and now >= ex.edgec_deadline:
                    self._set(ex, "TIMED_OUT", now)
            if job.status not in ("CANCELED", "COMPLETED", "DELETION_IN_PROGRESS"):
                reason = self._abort_reason(job, executions)
                if reason:
                    job.status, job.reason_code, job.comment = "CANCELED", "ABORT_CONFIG", reason
            if job.status == "CANCELED":
                for ex in executions:
                    if ex.status == "QUEUED" or (ex.status == "IN_PROGRESS" and job.force):
                        self._set(ex, "CANCELED", now)
            elif job.status != "DELETION_IN_PROGRESS":
                done = bool(executions) and all(e.status in TERMINAL for e in executions) \
                    and (job.target_selection or "SNAPSHOT") != "CONTINUOUS"      # continuous jobs never complete
                if done and job.status != "COMPLETED":
                    job.status, job.completed_at = "COMPLETED", _utc(now)
                elif not done:
                    job.status = "IN_PROGRESS"
            counts = {v: 0 for v in COUNTS.values()}
            for ex in executions:
                counts[COUNTS[ex.status]] += 1
            job.job_process_details = {"processingTargets": [e.thing_arn for e in executions if e.status not in TERMINAL],
                                       **counts}

    # ---- the data-plane calls -------------------------------------------------------------------
    def _thing(self, be, thing: str) -> None:
        if not any(t.thing_name == thing for t in be.things.values()):
            raise JobsError(404, "ResourceNotFoundException", f"thing {thing} does not exist")

    def _summary(self, ex) -> dict:
        d = {"jobId": ex.job_id, "queuedAt": int(ex.edgec_queued), "lastUpdatedAt": int(ex.last_updated_at.replace(tzinfo=timezone.utc).timestamp()),
             "versionNumber": ex.version_number, "executionNumber": ex.execution_number}
        if ex.edgec_started is not None:
            d["startedAt"] = int(ex.edgec_started)
        return d

    def _execution(self, be, ex, thing: str, with_document: bool, now: float) -> dict:
        d = {**self._summary(ex), "thingName": thing, "status": ex.status, "statusDetails": dict(ex.status_details_map or {})}
        if ex.status == "IN_PROGRESS" and ex.edgec_deadline is not None:
            d["approximateSecondsBeforeTimedOut"] = max(0, int((ex.edgec_deadline - now) * 60 / self.minute))
        if with_document:
            d["jobDocument"] = be.jobs[ex.job_id].document
        return d

    def _next(self, be, thing: str):
        pending = [e for e in self._executions(be, thing=thing) if e.status == "IN_PROGRESS"
                   or (e.status == "QUEUED" and e.edgec_notified is not None)]
        pending.sort(key=lambda e: (e.status != "IN_PROGRESS", e.edgec_queued))
        return pending[0] if pending else None

    def _start(self, be, ex, details, step_minutes, now: float) -> None:
        self._set(ex, "IN_PROGRESS", now)
        ex.edgec_started = now
        timeout = (be.jobs[ex.job_id].timeout_config or {}).get("inProgressTimeoutInMinutes")
        limits = [m for m in (timeout, step_minutes) if m]
        ex.edgec_deadline = now + min(limits) * self.minute if limits else None
        if details is not None:
            ex.status_details_map = details

    def pending(self, be, thing: str) -> dict:
        self._thing(be, thing)
        mine = sorted(self._executions(be, thing=thing), key=lambda e: e.edgec_queued)
        return {"inProgressJobs": [self._summary(e) for e in mine if e.status == "IN_PROGRESS"],
                "queuedJobs": [self._summary(e) for e in mine if e.status == "QUEUED" and e.edgec_notified is not None]}

    def start_next(self, be, thing: str, body: dict) -> dict:
        self._thing(be, thing)
        now = time.time()
        ex = self._next(be, thing)
        if ex is None:
            return {}
        if ex.status == "QUEUED":
            self._start(be, ex, _details(body.get("statusDetails")), body.get("stepTimeoutInMinutes"), now)
        return {"execution": self._execution(be, ex, thing, True, now)}

    def describe(self, be, thing: str, job_id: str, with_document: bool, execution_number=None) -> dict:
        self._thing(be, thing)
        ex = self._next(be, thing) if job_id == "$next" else be.job_executions.get((job_id, thing))
        if ex is None or (execution_number is not None and int(execution_number) != ex.execution_number):
            raise JobsError(404, "ResourceNotFoundException", f"no execution of job {job_id} for thing {thing}")
        return {"execution": self._execution(be, ex, thing, with_document, time.time())}

    def update(self, be, thing: str, job_id: str, body: dict) -> dict:
        self._thing(be, thing)
        ex = be.job_executions.get((job_id, thing))
        if ex is None:
            raise JobsError(404, "ResourceNotFoundException", f"no execution of job {job_id} for thing {thing}")
        status, now = body.get("status"), time.time()
        if status not in DEVICE_SETTABLE:
            raise JobsError(400, "InvalidRequestException", f"a device cannot set status {status!r}; use one of {sorted(DEVICE_SETTABLE)}")
        if ex.status in TERMINAL:
            raise JobsError(409, "InvalidStateTransitionException", f"execution is {ex.status}, a terminal state")
        if body.get("expectedVersion") is not None and int(body["expectedVersion"]) != ex.version_number:
            raise JobsError(409, "VersionConflictException", f"expected version {body['expectedVersion']}, execution is at {ex.version_number}")
        details = _details(body.get("statusDetails"))
        if status == "IN_PROGRESS" and ex.status == "QUEUED":
            self._start(be, ex, details, body.get("stepTimeoutInMinutes"), now)
        else:
            self._set(ex, status, now)
            if details is not None:
                ex.status_details_map = details
            if status == "IN_PROGRESS" and body.get("stepTimeoutInMinutes"):
                ex.edgec_deadline = now + float(body["stepTimeoutInMinutes"]) * self.minute
        out = {}
        if body.get("includeJobExecutionState"):
            out["executionState"] = {"status": ex.status, "statusDetails": dict(ex.status_details_map or {}),
                                     "versionNumber": ex.version_number}
        if body.get("includeJobDocument"):
            out["jobDocument"] = be.jobs[job_id].document
        return out


def _details(details):
    if details is None:
        return None
    if not isinstance(details, dict) or len(details) > 10 or not all(isinstance(v, str) for v in details.values()):
        raise JobsError(400, "InvalidRequestException", "statusDetails must be at most 10 string values")
    return dict(details)


def error_body(e: JobsError) -> bytes:
    return json.dumps({"message": e.message}).encode()
