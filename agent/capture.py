"""CaptureData: a bounded spool on disk, uploaded in batches in Edge Manager's capture layout.

A capture is checked against the loaded model first: at most one input and one output tensor, each
in the model's declared shape, FLOAT32 or INT8, with exactly that many bytes (else INVALID_ARGUMENT),
so what reaches the fleet's readers has the shape the model declares.
A capture is acknowledged only once its record is on disk (every byte written to a temporary file,
short writes continued, fsync'ed, renamed, directory fsync'ed), so an agent killed at any point
(kill -9 included) loses nothing it acknowledged: the next start finds the spool and uploads it.
The spool holds at most `capture_data_buffer_size` captures and `edgec_capture_spool_bytes` bytes
(default 64 MiB) not yet uploaded; beyond either, and when the disk has no room for the record
(ENOSPC, quota, file size limit: the temporary file is removed), CaptureData answers
RESOURCE_EXHAUSTED.

Uploading (one thread): when `capture_data_batch_size` captures wait, or the oldest has waited
`capture_data_push_period_seconds` (with `capture_data_periodic_upload`), a batch is formed: its
list of captures is written to `batches/<batch id>.json` first, then its objects are put, then its
captures are logged as uploaded and removed from the spool.  A batch interrupted by a crash is
uploaded again under the same keys with the same bytes, so S3 ends up with every capture once.

Objects (destination Cloud: S3 bucket `sagemaker_edge_provider_s3_bucket_name`; Disk: under the
capture directory), FLEET.md's layout:
    <folder_prefix>/<fleet>/<model>/YYYY/MM/DD/HH/<batch id>.jsonl      (hour of the inference)
one JSON record per line:
    {"eventMetadata": {"deviceFleetName", "deviceId", "eventId", "inferenceTime", "modelName", "modelVersion"},
     "eventVersion": "0", "deviceFleetInputs": [...], "deviceFleetOutputs": [...],
     "deviceFleetAuxiliaryInputs": [...], "deviceFleetAuxiliaryOutputs": [...]}
each tensor {"name", "data" (base64), "encoding": "BASE64", "mode": "Input"|"Output",
"observedContentType": "Tensor[FLOAT32; 1, 49, 10, 1]"}.  Data longer than
`capture_data_base64_embed_limit` bytes goes to its own object beside the batch,
`<capture id>-<input|output|auxin|auxout>-<i>.bin`, and the record names it in "dataLocation"
(s3://bucket/key, or the file path for Disk) instead of carrying "data".
"""
from __future__ import annotations

import base64
import errno
import json
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .models import DTYPE_NAMES, DTYPES, AgentError, private_dir, write_file

ENCODINGS = {0: "CSV", 1: "JSON", 2: "NONE", 3: "BASE64"}
#: google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
TIMESTAMP_MIN, TIMESTAMP_MAX = -62135596800, 253402300799
#: How far in the future an inference timestamp may lie (clock skew between processes).
SKEW_SECONDS = 2.0


#: The spool's default budget in bytes (edgec_capture_spool_bytes), beside the count of captures.
SPOOL_BYTES = 64 << 20
#: errnos that mean "no room": the caller should retry later, nothing was acknowledged.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _bytes(t) -> bytes:
    """A Tensor's or AuxilaryData's bytes, inline or in a shared memory segment (read at capture time)."""
    from . import shm
    return shm.read(t.shared_memory_handle) if t.WhichOneof("data") == "shared_memory_handle" else t.byte_data


def _checked(tensors, spec: dict, what: str, name: str) -> list:
    """The bytes of a capture's input or output tensors, refused (INVALID_ARGUMENT) unless each is the
    model's declared shape, in a type the agent speaks (FLOAT32 or INT8), with exactly its bytes."""
    if len(tensors) > 1:
        raise AgentError("INVALID_ARGUMENT", f"'{name}' has one {what} tensor; the capture has {len(tensors)}")
    out = []
    for t in tensors:
        md = t.tensor_metadata
        if md.data_type not in DTYPES:
            raise AgentError("INVALID_ARGUMENT", f"{what} tensor type {DTYPE_NAMES.get(md.data_type, md.data_type)} is "
                             f"not one '{name}' has (FLOAT32 or INT8)")
        if list(md.shape) != list(spec["shape"]):
            raise AgentError("INVALID_ARGUMENT", f"{what} tensor shape {list(md.shape)} is not '{name}' {what} "
                             f"{spec.get('name')} {list(spec['shape'])}")
        data = _bytes(t)
        want = int(np.prod(spec["shape"])) * DTYPES[md.data_type].itemsize
        if len(data) != want:
            raise AgentError("INVALID_ARGUMENT", f"{what} tensor has {len(data):,} bytes; {DTYPE_NAMES[md.data_type]} "
                             f"{list(spec['shape'])} is {want:,}")
        out.append(data)
    return out


def content_type(dtype: int, shape) -> str:
    return f"Tensor[{DTYPE_NAMES.get(dtype, str(dtype))}; {', '.join(str(int(s)) for s in shape)}]"


class CaptureSpool:
    def __init__(self, config: dict, base: Path, *, device: str, fleet: str, model_version, put, log):
        """`put(key, bytes)` stores one object (S3 or disk); `model_version(name)` -> the loaded version."""
        c = lambda k, d: config.get(f"sagemaker_edge_core_capture_data_{k}", d)
        self.dir = base / str(c("disk_path", "capture"))
        self.spool, self.batches = self.dir / "spool", self.dir / "batches"
        self.buffer_size = int(c("buffer_size", 30))
        self.spool_bytes = int(config.get("edgec_capture_spool_bytes") or SPOOL_BYTES)
        self.batch_size = max(1, int(c("batch_size", 10)))
        self.push_period = float(c("push_period_seconds", 4))
        self.embed_limit = int(c("base64_embed_limit", 3072))
        self.periodic = bool(c("periodic_upload", True))
        self.prefix = str(config.get("sagemaker_edge_core_folder_prefix", "capture")).strip("/")
        self.device, self.fleet, self.model_version, self.put, self.log = device, fleet, model_version, put, log
        for d in (self.dir, self.spool, self.batches):
            private_dir(d)
        self.lock = threading.Condition()
        self.pending: dict[str, Path] = {}           # capture id -> spool file (not uploaded yet)
        self.sizes: dict[str, int] = {}              # capture id -> bytes of its spool file
        self.queued_at: dict[str, float] = {}
        self.in_batch: set[str] = set()
        self.done: dict[str, str] = {}               # capture id -> "SUCCESS" | "FAILURE"
        self.uploaded = self.failed = 0
        self.last_error = None
        self.seq = 0
        self._load()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="capture-upload", daemon=True)

    # ---- state from disk --------------------------------------------------------------------
    def _load(self) -> None:
        log = self.dir / "uploaded.log"
        if log.is_file():
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    self.done[parts[0]] = parts[1]
        self.uploaded = sum(1 for v in self.done.values() if v == "SUCCESS")       # since the device was set up
        self.failed = len(self.done) - self.uploaded
        for f in [*self.spool.glob("*.tmp"), *self.batches.glob("*.tmp")]:
            f.unlink()                               # never acknowledged / never formed
        for f in sorted(self.spool.glob("*.json")):
            seq, cid = f.stem.split("-", 1)
            self.seq = max(self.seq, int(seq))
            if cid in self.done:
                f.unlink()                           # uploaded; the crash came before the clean-up
            else:
                st = f.stat()
                self.pending[cid], self.sizes[cid], self.queued_at[cid] = f, st.st_size, st.st_mtime
        for b in self.batches.glob("*.json"):
            self.in_batch.update(json.loads(b.read_text())["captures"])

    def start(self) -> "CaptureSpool":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self.lock:
            self.lock.notify_all()
        self.thread.join(timeout=10)

    # ---- CaptureData ------------------------------------------------------------------------
    def submit(self, req, model) -> None:
        """Spool one CaptureData for the loaded `model` (None: not loaded), or raise an AgentError."""
        try:
            cid = str(uuid.UUID(req.capture_id))
        except (ValueError, TypeError, AttributeError):
            raise AgentError("INVALID_ARGUMENT", f"capture_id '{req.capture_id}' is not a UUID") from None
        if req.capture_id.lower() != cid:
            raise AgentError("INVALID_ARGUMENT", f"capture_id '{req.capture_id}' is not a UUID in its canonical form ({cid})")
        now = time.time()
        if req.HasField("inference_timestamp"):
            t = req.inference_timestamp
            if not TIMESTAMP_MIN <= t.seconds <= TIMESTAMP_MAX or not 0 <= t.nanos < 1_000_000_000:
                raise AgentError("INVALID_ARGUMENT", f"inference_timestamp {t.seconds} s + {t.nanos} ns is not a Timestamp "
                                 "(0001-01-01 to 9999-12-31 UTC, nanos in [0, 1e9))")
            ts = t.seconds + t.nanos / 1e9
        else:
            ts = now
        if ts > now + SKEW_SECONDS:
            raise AgentError("OUT_OF_RANGE", f"inference_timestamp {ts:.3f} is {ts - now:.1f} s in the future")
        if model is None:
            raise AgentError("NOT_FOUND", f"no model named '{req.model_name}' is loaded")
        tensors = (_checked(req.input_tensors, model.input, "input", model.name),
                   _checked(req.output_tensors, model.output, "output", model.name))
        data = json.dumps(self._record(req, cid, ts, *tensors), separators=(",", ":"), sort_keys=True).encode()
        with self.lock:
            if cid in self.pending or cid in self.done:
                raise AgentError("ALREADY_EXISTS", f"capture {cid} was already submitted")
            error = f" (last upload error: {self.last_error})" if self.last_error else ""
            if len(self.pending) >= self.buffer_size:
                raise AgentError("RESOURCE_EXHAUSTED", f"capture buffer full: {len(self.pending)} of {self.buffer_size} "
                                 f"captures wait for upload" + error)
            used = sum(self.sizes.values())
            if used + len(data) > self.spool_bytes:
                raise AgentError("RESOURCE_EXHAUSTED", f"capture spool full: {used:,} of {self.spool_bytes:,} bytes wait "
                                 f"for upload, this capture needs {len(data):,}" + error)
            self.seq += 1
            path = self.spool / f"{self.seq:012d}-{cid}.json"
            self.pending[cid], self.sizes[cid] = path, len(data)      # reserve the id, the slot and the bytes
        try:
            write_file(path, data)                   # every byte, fsync'ed, or nothing (no .tmp left)
        except OSError as e:
            with self.lock:
                self.pending.pop(cid, None)
                self.sizes.pop(cid, None)
            if e.errno in NO_ROOM:
                raise AgentError("RESOURCE_EXHAUSTED", f"no room to spool the capture ({e.strerror}); "
                                 "nothing of it was kept") from None
            raise AgentError("INTERNAL", f"cannot spool the capture: {e.strerror}") from None
        with self.lock:
            self.queued_at[cid] = time.time()
            self.lock.notify_all()

    def _record(self, req, cid: str, ts: float, inputs: list, outputs: list) -> dict:
        def tensors(ts_, datas, mode):
            out = []
            for t, data in zip(ts_, datas):
                md = t.tensor_metadata
                out.append({"name": md.name, "data": base64.b64encode(data).decode(), "encoding": "BASE64", "mode": mode,
                            "observedContentType": content_type(md.data_type, md.shape)})
            return out

        def aux(items, mode):
            out = []
            for a in items:
                out.append({"name": a.name, "data": base64.b64encode(_bytes(a)).decode(),
                            "encoding": ENCODINGS.get(a.encoding, "NONE"), "mode": mode})
            return out

        when = datetime.fromtimestamp(ts, timezone.utc)
        return {"eventMetadata": {"deviceFleetName": self.fleet, "deviceId": self.device, "eventId": cid,
                                  "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "modelName": req.model_name,
                                  "modelVersion": self.model_version(req.model_name) or ""},
                "eventVersion": "0",
                "deviceFleetInputs": tensors(req.input_tensors, inputs, "Input"),
                "deviceFleetOutputs": tensors(req.output_tensors, outputs, "Output"),
                "deviceFleetAuxiliaryInputs": aux(req.inputs, "Input"), "deviceFleetAuxiliaryOutputs": aux(req.outputs, "Output")}

    def status(self, capture_id: str) -> str:
        try:
            cid = str(uuid.UUID(capture_id))
        except (ValueError, TypeError):
            return "NOT_FOUND"
        with self.lock:
            if cid in self.done:
                return self.done[cid]
            return "IN_PROGRESS" if cid in self.pending else "NOT_FOUND"

    def stats(self) -> dict:
        with self.lock:
            return {"backlog": len(self.pending), "buffer_size": self.buffer_size, "backlog_bytes": sum(self.sizes.values()),
                    "spool_bytes": self.spool_bytes, "uploaded": self.uploaded,
                    "failed": self.failed, "last_error": self.last_error}

    # ---- upload -----------------------------------------------------------------------------
    def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                for b in sorted(self.batches.glob("*.json")):     # interrupted batches first, same keys
                    self._upload(b)
                batch = self._next_batch()
                if batch is not None:
                    self._upload(batch)
                    backoff = 0.5
                    continue
            except Exception as e:                              # the cloud is down or refuses: retry later
                self.last_error = f"{type(e).__name__}: {e}"[:300]
                self.log(f"capture upload failed, will retry: {self.last_error}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30)
                continue
            with self.lock:
                self.lock.wait(timeout=0.2)

    def _next_batch(self) -> Path | None:
        with self.lock:
            ready = [c for c in sorted(self.pending, key=lambda c: self.pending[c].name)
                     if c not in self.in_batch and c in self.queued_at]
            if not ready:
                return None
            oldest = min(self.queued_at[c] for c in ready)
            if len(ready) < self.batch_size and not (self.periodic and time.time() - oldest >= self.push_period):
                return None
            take = ready[:self.batch_size]
            self.in_batch.update(take)
            files = [self.pending[c].name for c in take]
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        batch = self.batches / f"{stamp}-{self.device}-{uuid.uuid4().hex[:12]}.json"
        try:
            write_file(batch, json.dumps({"captures": take, "files": files}).encode())
        except OSError:
            with self.lock:                          # not batched after all: the next try takes them again
                self.in_batch.difference_update(take)
            raise
        return batch

    def _upload(self, batch_file: Path) -> None:
        batch = json.loads(batch_file.read_text())
        batch_id = batch_file.stem
        with self.lock:
            logged = all(c in self.done for c in batch["captures"])
        if logged:                                             # uploaded and logged before a crash: clean up
            self._finish(batch_file, batch, {})
            return
        groups: dict[str, list] = {}
        failed = {}
        for cid, name in zip(batch["captures"], batch["files"]):
            try:
                rec = json.loads((self.spool / name).read_bytes())
            except (OSError, ValueError) as e:                 # a spool file the disk lost or garbled
                failed[cid] = f"{type(e).__name__}"
                continue
            meta = rec["eventMetadata"]
            hour = meta["inferenceTime"][:13].replace("-", "/").replace("T", "/")     # YYYY/MM/DD/HH
            folder = f"{self.prefix}/{self.fleet}/{meta['modelName']}/{hour}"
            for key, short in (("deviceFleetInputs", "input"), ("deviceFleetOutputs", "output"),
                               ("deviceFleetAuxiliaryInputs", "auxin"), ("deviceFleetAuxiliaryOutputs", "auxout")):
                for i, t in enumerate(rec[key]):
                    raw = base64.b64decode(t["data"])
                    if len(raw) > self.embed_limit:
                        del t["data"]
                        t["dataLocation"] = self.put(f"{folder}/{meta['eventId']}-{short}-{i}.bin", raw)
            groups.setdefault(folder, []).append(json.dumps(rec, separators=(",", ":"), sort_keys=True))
        for folder, lines in sorted(groups.items()):
            self.put(f"{folder}/{batch_id}.jsonl", ("\n".join(lines) + "\n").encode())
        self._finish(batch_file, batch, failed)

    def _finish(self, batch_file: Path, batch: dict, failed: dict) -> None:
        status = {c: "FAILURE" if c in failed else "SUCCESS" for c in batch["captures"] if c not in self.done}
        fd = os.open(self.dir / "uploaded.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a") as log:
            log.write("".join(f"{c} {s} {batch_file.stem}\n" for c, s in status.items()))
            log.flush()
            os.fsync(log.fileno())
        with self.lock:
            for c in batch["captures"]:
                self.done.setdefault(c, status.get(c, "SUCCESS"))
                f = self.pending.pop(c, None)
                self.sizes.pop(c, None)
                self.queued_at.pop(c, None)
                self.in_batch.discard(c)
                if f is not None and f.exists():
                    f.unlink()
            self.uploaded += sum(1 for v in status.values() if v == "SUCCESS")
            self.failed += len(failed)
            self.last_error = None
            self.lock.notify_all()
        batch_file.unlink()
