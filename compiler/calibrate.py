"""Calibration: run the float reference over real samples and choose each activation's int8 range.

The result rides on the graph so that `quantize(graph) -> graph` stays a pure pass:
  meta["ranges"]       tensor -> (lo, hi), the clipping range its int8 scale and zero point come from
  meta["input_means"]  tensor -> mean over the samples of each Conv2D/FullyConnected input (bias correction)
  meta["calibration"]  {"method", "samples", "bias_correction"}, copied into report.json

Methods (`--calibration-method`), all per tensor, on the calibration data:
  minmax      the observed min and max
  percentile  the PERCENTILE-th and (100 - PERCENTILE)-th percentiles
  mse         the range whose int8 quantization has the least mean squared error on the observed values
              (clipping error of the values outside, plus step^2/12 rounding noise for those inside)
  entropy     the range whose int8 histogram is closest to the observed one in KL divergence
              (TensorRT's entropy calibration, on edgec's asymmetric 256-level grid)
percentile, mse and entropy work on a BINS-bin histogram over the min..max range (exact zeros, which
an asymmetric grid holds exactly, counted on their own).  The model's input keeps its min..max range:
it is the data the caller quantizes, not an intermediate the model can saturate.  Ranges only move
scales and zero points, so the integer contract (C == integer reference) holds for every method.
"""
from __future__ import annotations

import numpy as np

from . import reference
from .errors import InputDataError
from .ir import Graph

METHODS = ("minmax", "percentile", "mse", "entropy")
DEFAULT_METHOD = "minmax"        # chosen by bench/accuracy.py on the real models (README, "Calibration")
#: Off by default: it raises the classifiers' output SQNR by 0.1-2.7 dB, but on yolo-fastest (few
#: calibration images) it moved the car box to IoU 0.71 of the float model's (0.86 without).
DEFAULT_BIAS_CORRECTION = False
PERCENTILE = 99.99
BINS = 2048
LEVELS = 255                     # steps of the int8 grid between lo and hi (256 values)
_CACHE_BYTES = 1 << 28           # keep the first pass's activations in memory up to this size
WEIGHTED = ("Conv2D", "FullyConnected")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise InputDataError(f"unknown calibration method '{method}'", hint=f"choose one of: {', '.join(METHODS)}")
    return method


def calibrate(graph: Graph, samples: np.ndarray, progress=None, method: str | None = None,
              bias_correction: bool | None = None) -> Graph:
    method = check_method(DEFAULT_METHOD if method is None else method)
    bias_correction = DEFAULT_BIAS_CORRECTION if bias_correction is None else bool(bias_correction)
    weighted_inputs = {n.inputs[0] for n in graph.nodes if n.op in WEIGHTED}
    lo: dict = {}
    hi: dict = {}
    sums: dict = {}
    cache, cached_bytes = [], 0
    for i, x in enumerate(samples):
        env = reference.run(graph, x, keep_all=True)
        for name, v in env.items():
            lo[name] = min(lo.get(name, np.inf), float(v.min()))
            hi[name] = max(hi.get(name, -np.inf), float(v.max()))
            if bias_correction and name in weighted_inputs:
                sums[name] = sums.get(name, 0.0) + v.astype(np.float64)
        if method != "minmax" and cache is not None:
            cached_bytes += sum(v.nbytes for v in env.values())
            cache = cache + [env] if cached_bytes <= _CACHE_BYTES else None
        if progress:
            progress(i + 1, len(samples))
    ranges = {k: (lo[k], hi[k]) for k in lo}
    if method != "minmax" and len(samples):
        envs = cache if cache is not None else (reference.run(graph, x, keep_all=True) for x in samples)
        hists = _histograms(envs, ranges)
        keep = set(graph.inputs)
        ranges = {k: r if k in keep else choose_range(method, *hists[k]) for k, r in ranges.items()}
    g = graph.copy()
    g.meta["ranges"] = ranges
    g.meta["calibration_samples"] = int(len(samples))
    g.meta["calibration"] = {"method": method, "samples": int(len(samples)), "bias_correction": bias_correction}
    if bias_correction and len(samples):
        g.meta["input_means"] = {k: v / len(samples) for k, v in sums.items()}
    return g


def _histograms(envs, ranges) -> dict:
    """tensor -> (counts [BINS] over [min(lo,0), max(hi,0)] without the exact zeros, zero count, edges)."""
    acc = {}
    for env in envs:
        for name, v in env.items():
            a, b = min(ranges[name][0], 0.0), max(ranges[name][1], 0.0)
            v = v.reshape(-1).astype(np.float64)
            nz = v[v != 0]
            counts, zeros = acc.get(name, (np.zeros(BINS, np.int64), 0))
            if b > a and nz.size:
                idx = np.minimum(((nz - a) * (BINS / (b - a))).astype(np.int64), BINS - 1)
                counts = counts + np.bincount(np.maximum(idx, 0), minlength=BINS)
            acc[name] = (counts, zeros + int(v.size - nz.size))
    out = {}
    for name, (counts, zeros) in acc.items():
        a, b = min(ranges[name][0], 0.0), max(ranges[name][1], 0.0)
        out[name] = (counts, zeros, np.linspace(a, b, BINS + 1))
    return out


def choose_range(method: str, counts: np.ndarray, zeros: int, edges: np.ndarray) -> tuple:
    """The (lo, hi) clipping range `method` picks from a histogram (never wider than min..max)."""
    a, b = float(edges[0]), float(edges[-1])
    if method == "minmax" or counts.sum() == 0 or b <= a:
        return a, b
    return {"percentile": _percentile, "mse": _mse, "entropy": _entropy}[check_method(method)](counts, zeros, edges)


def _percentile(counts, zeros, edges):
    full = counts.astype(np.float64).copy()
    full[_zero_bin(edges)] += zeros
    cum = np.cumsum(full) / full.sum()
    q = PERCENTILE / 100.0
    lo_bin = int(np.searchsorted(cum, 1.0 - q, side="right"))      # first bin holding more than the lower tail
    hi_bin = int(np.searchsorted(cum, q, side="left"))             # bin where the upper tail starts
    lo, hi = float(edges[lo_bin]), float(edges[hi_bin + 1])
    return min(lo, 0.0), max(hi, 0.0)


def _zero_bin(edges) -> int:
    return int(np.clip(np.searchsorted(edges, 0.0, side="right") - 1, 0, len(edges) - 2))


def _candidates(edges, steps):
    """Fractions of the min..max extent on each side of zero, finest near the full range."""
    a, b = float(edges[0]), float(edges[-1])
    f = np.linspace(1.0, 0.05, steps)             # widest first: ties keep the wider range
    los = a * f if a < 0 else np.zeros(1)
    his = b * f if b > 0 else np.zeros(1)
    return los, his


def _mse(counts, zeros, edges, steps=64):
    """Least expected squared error of quantizing the histogram's values to a 256-level grid on [lo, hi]:
    values outside are clipped (error to the bound, from bin centres), values inside add step^2/12.
    Exact zeros cost nothing (the grid holds 0 exactly).  Every (lo, hi) pair of the candidates."""
    c = 0.5 * (edges[:-1] + edges[1:])
    n = counts.astype(np.float64)
    los, his = _candidates(edges, steps)
    below = (np.maximum(los[:, None] - c[None, :], 0.0) ** 2) @ n          # [L]
    above = (np.maximum(c[None, :] - his[:, None], 0.0) ** 2) @ n          # [H]
    n_ge = (c[None, :] >= los[:, None]).astype(np.float64) @ n             # [L] mass at or above lo
    n_gt = (c[None, :] > his[:, None]).astype(np.float64) @ n              # [H] mass above hi
    inside = np.maximum(n_ge[:, None] - n_gt[None, :], 0.0)
    span = his[None, :] - los[:, None]
    err = below[:, None] + above[None, :] + inside * (span / LEVELS) ** 2 / 12.0
    err = np.where(span > 0, err, np.inf)
    i, j = np.unravel_index(int(np.argmin(err)), err.shape)
    return float(los[i]), float(his[j])


def _entropy(counts, zeros, edges, steps=96):
    """KL(P || Q) over the histogram bins inside each candidate range (values outside folded into the
    edge bins: P), Q being P's mass spread evenly inside each of the 255 grid steps; exact zeros,
    which every candidate grid holds exactly, are left out of both.  The candidates
    shrink both sides by the same fraction (one side for one-signed tensors), down to 255 bins."""
    a, b = float(edges[0]), float(edges[-1])
    full = counts.astype(np.float64)             # exact zeros left out: the grid holds 0 exactly
    z = _zero_bin(edges)
    width = (b - a) / BINS
    best, best_kl = (a, b), np.inf
    for f in np.linspace(1.0, LEVELS / BINS, steps):
        i0 = max(0, min(z, int(round(z - f * z))))
        i1 = min(BINS, max(z + 1, int(round(z + f * (BINS - z)))))
        if i1 - i0 < LEVELS:
            continue
        p = full[i0:i1].copy()
        p[0] += full[:i0].sum()
        p[-1] += full[i1:].sum()
        group = (np.arange(i1 - i0) * LEVELS) // (i1 - i0)
        nonzero = full[i0:i1] > 0
        mass = np.bincount(group, weights=full[i0:i1], minlength=LEVELS)
        used = np.bincount(group, weights=nonzero.astype(np.float64), minlength=LEVELS)
        q = np.where(nonzero, mass[group] / np.maximum(used[group], 1), 0.0)
        kl = _kl(p, q)
        if kl < best_kl:
            best_kl, best = kl, (a + i0 * width, a + i1 * width)
    return min(best[0], 0.0), max(best[1], 0.0)


def _kl(p, q, eps=1e-4):
    """KL divergence of normalised histograms; Q's empty bins where P has mass get eps of Q's mass
    (taken evenly from its other bins), as TensorRT and MXNet smooth them."""
    p = p / p.sum()
    zq = (q == 0) & (p > 0)
    q = q / q.sum() if q.sum() > 0 else q
    if zq.any():
        nz = q > 0
        take = eps * zq.sum() / max(1, nz.sum())
        q = np.where(zq, eps, np.where(nz, q - take, 0.0))
        q = np.maximum(q, 0.0)
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / np.maximum(q[m], 1e-300))))
