"""Host-side post-processing of raw model outputs (float, after dequantization).

YOLO heads stay raw in the integer graph (sigmoid/exp of a few thousand values costs more on the MCU
than it is worth and is usually done only for cells above a threshold); `decode_yolo` turns the
concatenated raw heads into OpenCV's layout — per row x, y, w, h (relative to the image),
objectness, then per-class scores objectness*sigmoid(class), zeroed at or below `class_threshold` —
and `detections` applies a confidence threshold and per-class greedy NMS."""
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
