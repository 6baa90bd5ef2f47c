"""Calibration: run the float reference over real samples and record each activation's range.

The result rides on the graph (`meta["ranges"]`) so that `quantize(graph) -> graph` stays a pure pass."""
from __future__ import annotations

import numpy as np

from . import reference
from .ir import Graph


def calibrate(graph: Graph, samples: np.ndarray, progress=None) -> Graph:
    lo: dict = {}
    hi: dict = {}
    for i, x in enumerate(samples):
        env = reference.run(graph, x, keep_all=True)
        for name, v in env.items():
            lo[name] = min(lo.get(name, np.inf), float(v.min()))
            hi[name] = max(hi.get(name, -np.inf), float(v.max()))
        if progress:
            progress(i + 1, len(samples))
    g = graph.copy()
    g.meta["ranges"] = {k: (lo[k], hi[k]) for k in lo}
    g.meta["calibration_samples"] = int(len(samples))
    return g
