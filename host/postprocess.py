"""Host-side post-processing of raw model outputs (float, after dequantization).

YOLO heads stay raw in the integer graph (sigmoid/exp of a few thousand values costs more on the MCU
than it is worth and is usually done only for cells above a threshold); `decode_yolo` turns the
concatenated raw heads into OpenCV's layout — per row x, y, w, h (relative to the image),
objectness, then per-class scores objectness*sigmoid(class), zeroed at or below `class_threshold` —
and `detections` applies a confidence threshold and per-class greedy NMS.

`decode_spec` is what a build records about its outputs (report["decode"], the package manifest):
a YOLO head's geometry and thresholds, or the number of classes of a classifier; `results` turns
a batch of outputs into what a person asks for — detections with boxes in the pixels of the
original images, or the top-k classes — with the class names of `edgec build --labels`."""
from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decode_yolo(raw: np.ndarray, yolo_meta: dict, class_threshold: float = 0.2) -> np.ndarray:
    """raw [rows, 5+classes] (one sample) → decoded [rows, 5+classes]."""
    raw = np.asarray(raw, np.float64).reshape(-1, raw.shape[-1])
    net_h, net_w = yolo_meta["net_hw"]
    out, start = [], 0
    for head in yolo_meta["heads"]:
        gh, gw = head["grid"]
        anchors = np.asarray(head["anchors"], np.float64)
        a = len(anchors)
        r = raw[start:start + gh * gw * a].reshape(gh, gw, a, -1)
        start += gh * gw * a
        s = head.get("scale_x_y", 1.0)
        cols = np.arange(gw)[None, :, None]
        rows = np.arange(gh)[:, None, None]
        d = np.empty_like(r)
        d[..., 0] = (cols + _sigmoid(r[..., 0]) * s - (s - 1) / 2) / gw
        d[..., 1] = (rows + _sigmoid(r[..., 1]) * s - (s - 1) / 2) / gh
        d[..., 2] = np.exp(r[..., 2]) * anchors[:, 0] / net_w
        d[..., 3] = np.exp(r[..., 3]) * anchors[:, 1] / net_h
        d[..., 4] = _sigmoid(r[..., 4])
        probs = d[..., 4:5] * _sigmoid(r[..., 5:])
        d[..., 5:] = np.where(probs > class_threshold, probs, 0.0)
        out.append(d.reshape(-1, r.shape[-1]))
    return np.concatenate(out).astype(np.float32)


def iou(a, b) -> float:
    """Boxes as (cx, cy, w, h)."""
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def detections(decoded: np.ndarray, conf_threshold: float = 0.25, nms_threshold: float = 0.45) -> list:
    """[{"class", "score", "box": (cx, cy, w, h)}], best first, after per-class greedy NMS."""
    found = []
    for row in decoded:
        cls = int(np.argmax(row[5:]))
        score = float(row[5 + cls])
        if score > conf_threshold:
            found.append({"class": cls, "score": score, "box": tuple(float(v) for v in row[:4])})
    found.sort(key=lambda d: -d["score"])
    kept = []
    for d in found:
        if all(k["class"] != d["class"] or iou(k["box"], d["box"]) <= nms_threshold for k in kept):
            kept.append(d)
    return kept


#: Thresholds `edgec run`, `agent predict` and the dashboard use for detectors (darknet's defaults).
CONF_THRESHOLD, NMS_THRESHOLD, CLASS_THRESHOLD = 0.25, 0.45, 0.2
TOP_K = 5


def decode_spec(meta: dict, input_shape, output_shape, labels: list | None = None) -> dict | None:
    """How the outputs of a model are read: {"kind": "yolo", net_hw, heads, classes, thresholds} for
    a Darknet detector, {"kind": "classes", "classes": K} for a classifier (output [1, K], K > 1, not
    the size of the input: an autoencoder is not one; K <= 1000 unless labels name them), else None."""
    if meta.get("yolo"):
        y = meta["yolo"]
        heads = [{"grid": [int(v) for v in h["grid"]], "classes": int(h["classes"]), "scale_x_y": float(h.get("scale_x_y", 1.0)),
                  "anchors": [[float(a) for a in an] for an in h["anchors"]]} for h in y["heads"]]
        return {"kind": "yolo", "net_hw": [int(v) for v in y["net_hw"]], "heads": heads, "classes": heads[0]["classes"],
                "conf_threshold": CONF_THRESHOLD, "nms_threshold": NMS_THRESHOLD, "class_threshold": CLASS_THRESHOLD}
    out, size = tuple(output_shape), int(np.prod(output_shape))
    if len(out) == 2 and out[0] == 1 and size > 1 and size != int(np.prod(input_shape)) and (size <= 1000 or labels):
        return {"kind": "classes", "classes": size}
    return None


def read_labels(path: str) -> list:
    """One class name per line (trailing empty lines dropped), as darknet's coco.names."""
    from ..compiler.errors import InputDataError
    try:
        with open(path, encoding="utf-8") as f:
            lines = [l.strip() for l in f.read().splitlines()]
    except FileNotFoundError:
        raise InputDataError("labels file not found", where=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputDataError(f"not a readable text file of labels ({type(e).__name__})", where=path) from None
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise InputDataError("the labels file is empty", where=path, hint="one class name per line")
    return lines


def check_labels(labels: list, spec: dict | None, output_shape, where: str) -> None:
    """Labels must name each class of the model, no more, no fewer."""
    from ..compiler.errors import InputDataError
    if spec is None:
        raise InputDataError(f"--labels: the model's output {tuple(output_shape)} is neither a detector's nor one "
                             "score per class", where=where, hint="leave --labels out for this model")
    if len(labels) != spec["classes"]:
        raise InputDataError(f"{len(labels)} labels for a model of {spec['classes']} classes", where=where,
                             hint="one class name per line, in the order of the model's classes")


def _label(labels, c: int):
    return labels[c] if labels and 0 <= c < len(labels) else None


def results(spec: dict, outputs: np.ndarray, labels: list | None = None, images: list | None = None,
            top_k: int = TOP_K) -> list:
    """One dict per sample of `outputs` (float, dequantized; [N, ...]): {"detections": [{"class",
    "label", "score", "box"}]} best first, with box = [left, top, right, bottom] in pixels of the
    original image (images[i] width/height; of the model input when images is None), or {"top":
    [{"class", "label", "score"}]} of the k highest outputs (ties: the lower class first).  The
    score is the model's own output (a probability when it ends in softmax); label is None without
    labels.  Each row also says which sample it is: "sample" (its index), and for images "image"
    (the file), "width" and "height"."""
    outputs = np.asarray(outputs)
    rows = []
    for i in range(len(outputs)):
        y = np.asarray(outputs[i], np.float64)
        row = {"sample": i}
        if images:
            row.update(image=images[i]["file"], width=images[i]["width"], height=images[i]["height"])
        if spec["kind"] == "yolo":
            net_h, net_w = spec["net_hw"]
            w, h = (images[i]["width"], images[i]["height"]) if images else (net_w, net_h)
            found = detections(decode_yolo(y.reshape(-1, 5 + spec["classes"]), spec, spec["class_threshold"]),
                               spec["conf_threshold"], spec["nms_threshold"])
            dets = []
            for d in found:
                cx, cy, bw, bh = d["box"]
                edges = (((cx - bw / 2) * w, w), ((cy - bh / 2) * h, h), ((cx + bw / 2) * w, w), ((cy + bh / 2) * h, h))
                box = [min(max(v, 0.0), lim) for v, lim in edges]
                dets.append({"class": d["class"], "label": _label(labels, d["class"]), "score": d["score"],
                             "box": [round(float(v), 2) for v in box]})
            rows.append({**row, "detections": dets})
        else:
            v = y.reshape(-1)
            order = np.argsort(-v, kind="stable")[:max(1, top_k)]
            rows.append({**row, "top": [{"class": int(c), "label": _label(labels, int(c)), "score": float(v[c])} for c in order]})
    return rows


def _name(d: dict) -> str:
    return d["label"] if d["label"] is not None else f"class {d['class']}"


def format_result(row: dict) -> str:
    """A results() row for people: a line per detection under the image's name, or one line of top-k."""
    what = f"{row['image']} ({row['width']}x{row['height']})" if "image" in row else f"sample {row['sample']}"
    if "detections" in row:
        lines = [f"{what}: {len(row['detections'])} detection{'' if len(row['detections']) == 1 else 's'}"]
        for d in row["detections"]:
            x0, y0, x1, y1 = d["box"]
            lines.append(f"  {_name(d):<16} {d['score']:.3f}  box {x0:.0f},{y0:.0f} - {x1:.0f},{y1:.0f}")
        return "\n".join(lines)
    return f"{what}: " + ", ".join(f"{_name(d)} {d['score']:.3f}" for d in row["top"])
