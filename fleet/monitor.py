"""`edgec monitor drift`: what the fleet's devices see, against what the model was calibrated on.

Reads the captures the agents uploaded (`<prefix>/<fleet>/<model>/YYYY/MM/DD/HH/*.jsonl` in the
fleet's bucket, capture.py's layout, tensors inline or in their own objects) and compares:

- inputs, per feature: the feature axis is the last axis of the input whose size is not 1 (the
  channels of an NHWC image, the coefficients of a KWS spectrogram).  For each feature, mean and
  standard deviation of the baseline (the calibration data) and of the captures, the population
  stability index over the baseline's deciles (PSI = sum (p - q) ln(p / q), empty bins at 1e-4)
  and the two-sample Kolmogorov-Smirnov statistic (largest gap of the two empirical CDFs).
- outputs: the share of predictions per class (argmax) per hour of inference, and against the
  baseline's own class shares, which come from running the baseline through the published
  package's library (the very code the devices run), with their PSI.

Readers never stop at a bad record: stray objects (not in the layout), lines that are not JSON or
not capture records, tensors whose bytes do not fit their content type, and shapes that are not the
model's are skipped and counted by reason (`skipped`).

PSI below 0.1 reads as stable, 0.1 to 0.25 as moderate drift, above 0.25 as significant (the usual
credit-scoring reading); the verdict uses the largest per-feature PSI and the class-share PSI.
"""
from __future__ import annotations

import base64
import json
import re
from collections import Counter, defaultdict

import numpy as np

from ..compiler.errors import EdgecError

from .aws import Cloud, aws_step, error_code
from .provision import fleet_info
from .rollout import all_pages, fleet_public_key, fetch_verified, model_key

EPS = 1e-4
_CT = re.compile(r"^Tensor\[(\w+); ([\d, ]*)\]$")
_NP = {"FLOAT32": "<f4", "INT8": "i1", "UINT8": "u1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FLOAT64": "<f8", "FLOAT16": "<f2"}


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    p = np.maximum(np.asarray(expected, np.float64), EPS)
    q = np.maximum(np.asarray(actual, np.float64), EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_samples(base: np.ndarray, seen: np.ndarray, bins: int) -> float:
    edges = np.unique(np.quantile(base, np.linspace(0, 1, bins + 1)[1:-1]))
    b = np.bincount(np.searchsorted(edges, base, side="right"), minlength=len(edges) + 1) / len(base)
    s = np.bincount(np.searchsorted(edges, seen, side="right"), minlength=len(edges) + 1) / len(seen)
    return psi(b, s)


def ks(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a), np.sort(b)
    pts = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, pts, side="right") / len(a) - np.searchsorted(b, pts, side="right") / len(b))))


def verdict(value: float) -> str:
    return "significant" if value > 0.25 else "moderate" if value > 0.1 else "stable"


class BadRecord(Exception):
    """A capture record (or object) a reader skips; the message is the reason it is counted under."""


def _tensor(s3, t, bucket: str) -> tuple[np.ndarray, str]:
    if not isinstance(t, dict):
        raise BadRecord("tensor is not an object")
    m = _CT.match(str(t.get("observedContentType", "")))
    if not m or m.group(1) not in _NP:
        raise BadRecord("unknown tensor content type")
    if "data" in t:
        try:
            raw = base64.b64decode(t["data"], validate=True)
        except (ValueError, TypeError):
            raise BadRecord("tensor data is not base64") from None
    else:
        where = t.get("dataLocation")
        if not isinstance(where, str) or not where.startswith(f"s3://{bucket}/"):
            raise BadRecord("tensor data outside the fleet's bucket")
        try:
            raw = s3.get_object(Bucket=bucket, Key=where[len(f"s3://{bucket}/"):])["Body"].read()
        except Exception as e:
            if error_code(e) in ("NoSuchKey", "404"):
                raise BadRecord("tensor data object missing") from None
            raise
    shape = [int(x) for x in m.group(2).split(",") if x.strip()]
    dtype = np.dtype(_NP[m.group(1)])
    if len(raw) != int(np.prod(shape)) * dtype.itemsize:
        raise BadRecord("tensor bytes do not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape), m.group(1)


#: <prefix>/<fleet>/<model>/YYYY/MM/DD/HH/<object>.jsonl, relative to <prefix>/<fleet>/<model>/
_LAYOUT = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}/[^/]+\.jsonl$")


def _row(s3, line: str, bucket: str, model: str) -> dict:
    try:
        r = json.loads(line)
    except ValueError:
        raise BadRecord("not JSON") from None
    meta = r.get("eventMetadata") if isinstance(r, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("inferenceTime"), str) or len(meta["inferenceTime"]) < 13:
        raise BadRecord("no eventMetadata with an inferenceTime")
    if meta.get("modelName") != model:
        raise BadRecord("record of another model")
    ins, outs = r.get("deviceFleetInputs"), r.get("deviceFleetOutputs")
    if not isinstance(ins, list) or not isinstance(outs, list) or not ins or not outs:
        raise BadRecord("no input or output tensor")
    x, xt = _tensor(s3, ins[0], bucket)
    y, yt = _tensor(s3, outs[0], bucket)
    return {"time": meta["inferenceTime"], "version": str(meta.get("modelVersion") or ""), "device": str(meta.get("deviceId")),
            "input": x, "input_type": xt, "output": y, "output_type": yt}


def read_captures(cloud: Cloud, fleet: str, model: str, version: str | None = None, limit: int = 20000,
                  since: str | None = None) -> dict:
    """The captured records of one model: [{time, version, device, input, output}], where from, and
    `skipped`: {reason: count} of the objects and records that are not captures a reader can use
    (stray objects, lines that are not JSON, tensors whose bytes do not fit their shape, ...).
    One bad record never stops the others from being read.  `since` (an inferenceTime,
    YYYY-MM-DDTHH:MM:SS...Z): only captures from then on."""
    info = fleet_info(cloud, fleet)
    bucket, prefix = info["bucket"], info["output"].split("/", 3)[3] if info["output"].count("/") >= 3 else "capture"
    s3 = cloud.client("s3")
    base = f"{prefix.strip('/')}/{fleet}/{model}/"
    rows, skipped = [], Counter()
    with aws_step(f"read the captures of {model} in s3://{bucket}/{base}"):
        keys = sorted(o["Key"] for o in all_pages(s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=base) if o["Key"].endswith(".jsonl"))
        for k in keys:
            if not _LAYOUT.match(k[len(base):]):
                skipped["object outside the capture layout"] += 1
                continue
            for line in s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode(errors="replace").splitlines():
                if not line.strip():
                    continue
                try:
                    row = _row(s3, line, bucket, model)
                except BadRecord as e:
                    skipped[str(e)] += 1
                    continue
                if (version and row["version"] != version) or (since and row["time"] < since):
                    continue
                rows.append(row)
                if len(rows) >= limit:
                    break
    rows.sort(key=lambda r: r["time"])
    return {"bucket": bucket, "prefix": base, "objects": len(keys), "rows": rows, "skipped": dict(sorted(skipped.items()))}


def published(cloud: Cloud, fleet: str, model: str, version: str) -> tuple[dict, bytes]:
    """The published package's manifest and library bytes, verified against the fleet's key."""
    from ..package.archive import Collect
    info = fleet_info(cloud, fleet)
    lib = Collect()
    r = fetch_verified(cloud.client("s3"), info["bucket"], model_key(model, version), fleet_public_key(cloud, fleet, info),
                       sink=lambda path, size, manifest: lib if path == manifest["library"] else None)
    if r is None:
        raise EdgecError(f"{model} {version} is not published in s3://{info['bucket']}")
    return r["manifest"], lib.getvalue()


def baseline_outputs(manifest: dict, library: bytes, xs: np.ndarray) -> np.ndarray:
    """The baseline through the package's own library (what the devices run), dequantized."""
    from ..package.loaded import Model
    m = Model("baseline", "package", manifest, "", library)
    try:
        outs = [m.dequantize(np.frombuffer(m.run_int8(m.quantize(x).tobytes()), np.int8)) for x in xs]
    finally:
        m.close()
    return np.stack(outs)


def drift(cloud: Cloud, fleet: str, model: str, baseline: str, version: str | None = None, bins: int = 10,
          since: str | None = None) -> dict:
    from ..compiler.data import fit_samples, load_array
    cap = read_captures(cloud, fleet, model, version, since=since)
    rows, skipped = cap["rows"], Counter(cap["skipped"])
    if not rows:
        raise EdgecError(f"no captures of model '{model}'" + (f" version {version}" if version else "")
                         + (f" since {since}" if since else "") +
                         f" in s3://{cap['bucket']}/{cap['prefix']}", hint="captures appear once agents upload CaptureData batches")
    versions = sorted({r["version"] for r in rows})
    manifest, library = published(cloud, fleet, model, version or versions[-1])
    spec_in, spec_out = manifest["inputs"][0], manifest["outputs"][0]
    shape = tuple(spec_in["shape"])
    base = fit_samples(load_array(baseline, "baseline"), shape, baseline)

    def real_input(r):
        x = r["input"].astype(np.float64)
        return (x - spec_in["zero_point"]) * spec_in["scale"] if r["input_type"] == "INT8" else x

    def real_output(r):
        y = r["output"].astype(np.float64)
        return (y - spec_out["zero_point"]) * spec_out["scale"] if r["output_type"] == "INT8" else y

    n_in, n_out = int(np.prod(shape)), int(np.prod(spec_out["shape"]))
    fits = [r for r in rows if r["input"].size == n_in and r["output"].size == n_out]
    if len(fits) < len(rows):
        skipped[f"shape not the model's {version or versions[-1]}"] += len(rows) - len(fits)
        rows = fits
    if not rows:
        raise EdgecError(f"no captures of model '{model}' fit its input {list(shape)} "
                         f"({sum(skipped.values())} bad records skipped)")
    seen = np.stack([real_input(r).reshape(shape) for r in rows])
    axis = max((i for i, s in enumerate(shape) if s > 1), default=len(shape) - 1)
    flat = lambda a: np.moveaxis(a, axis + 1, -1).reshape(-1, shape[axis])
    fb, fs = flat(base.astype(np.float64)), flat(seen)
    features = []
    for f in range(shape[axis]):
        features.append({"feature": f, "baseline_mean": float(fb[:, f].mean()), "baseline_std": float(fb[:, f].std()),
                         "mean": float(fs[:, f].mean()), "std": float(fs[:, f].std()),
                         "psi": round(psi_samples(fb[:, f], fs[:, f], bins), 4), "ks": round(ks(fb[:, f], fs[:, f]), 4)})
    out = {"fleet": fleet, "model": model, "versions": versions, "captures": len(rows), "objects": cap["objects"],
           "devices": sorted({r["device"] for r in rows}), "baseline": baseline, "baseline_samples": len(base),
           "first": rows[0]["time"], "last": rows[-1]["time"], "feature_axis": axis, "features": features,
           "input_psi": round(psi_samples(fb.ravel(), fs.ravel(), bins), 4),
           "max_feature_psi": max(f["psi"] for f in features), "skipped": dict(sorted(skipped.items()))}
    if 1 < n_out <= 1000:                                        # a classifier: class shares
        classes = [int(np.argmax(real_output(r))) for r in rows]
        b_classes = baseline_outputs(manifest, library, base[:1000]).reshape(min(len(base), 1000), -1).argmax(1)
        share = lambda cs: [float(c) for c in np.bincount(np.asarray(cs, int), minlength=n_out) / max(1, len(cs))]
        hours = defaultdict(list)
        for r, c in zip(rows, classes):
            hours[r["time"][:13]].append(c)
        out["outputs"] = {"classes": n_out, "baseline_share": share(b_classes), "captured_share": share(classes),
                          "psi": round(psi(share(b_classes), share(classes)), 4),
                          "by_hour": [{"hour": h, "count": len(cs), "share": share(cs),
                                       "top": Counter(cs).most_common(1)[0][0]} for h, cs in sorted(hours.items())]}
    worst = max(out["max_feature_psi"], out.get("outputs", {}).get("psi", 0.0))
    out["drift"] = verdict(worst)
    return out


def format_drift(r: dict) -> str:
    lines = [f"{r['model']} ({', '.join(r['versions'])}) in fleet {r['fleet']}: {r['captures']} captures from "
             f"{', '.join(r['devices'])}, {r['first']} .. {r['last']}; baseline {r['baseline_samples']} samples"
             + (f"; skipped {sum(r['skipped'].values())} bad records ("
                + ", ".join(f"{n} {why}" for why, n in r["skipped"].items()) + ")" if r.get("skipped") else ""),
             f"input drift: {r['drift'].upper()} (max feature PSI {r['max_feature_psi']:.3f}, all values PSI {r['input_psi']:.3f})",
             f"{'feature':>7} {'base mean':>10} {'base std':>9} {'mean':>10} {'std':>9} {'PSI':>7} {'KS':>6}"]
    for f in r["features"]:
        lines.append(f"{f['feature']:>7} {f['baseline_mean']:>10.4g} {f['baseline_std']:>9.4g} {f['mean']:>10.4g} "
                     f"{f['std']:>9.4g} {f['psi']:>7.3f} {f['ks']:>6.3f}  {verdict(f['psi'])}")
    o = r.get("outputs")
    if o:
        fmt = lambda s: " ".join(f"{100 * v:.0f}%" for v in s)
        lines.append(f"predicted classes: PSI {o['psi']:.3f} against the baseline through the package ({verdict(o['psi'])})")
        lines.append(f"  baseline  {fmt(o['baseline_share'])}")
        lines.append(f"  captured  {fmt(o['captured_share'])}")
        for h in o["by_hour"]:
            lines.append(f"  {h['hour']}h  {h['count']:>5} captures, most often class {h['top']}: {fmt(h['share'])}")
    return "\n".join(lines)
