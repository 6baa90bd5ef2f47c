"""Automatic mixed precision: the cheapest int8/int16 assignment of activations that keeps accuracy.

`edgec build --max-accuracy-drop 1%` (labelled data: `--calibration data.npz` holding `x` and `y`)
keeps top-1 accuracy on those samples within the bound of the float model's; without labels the
float model's own top-1 answers are the labels (top-1 agreement >= 1 - bound).  `--min-sqnr DB`
instead asks every sample's output SQNR against float to reach DB (regression models, such as
autoencoders, have no top-1).

Search (greedy, then pruned; every step is the integer reference on the samples, what the C
computes bit for bit):
1. all int8; done if it meets the bound;
2. each int16 candidate (passes.quantize.int16_candidates) promoted alone, ranked by how much it
   raises the output SQNR over all-int8 per byte of RAM it costs;
3. promote in that order until the bound is met (all candidates int16 is the last resort; if even
   that misses, the build says so and stops);
4. drop again, latest first, every promotion the bound does not need.
The report lists each kept promotion with its RAM (arena) and flash cost, measured by planning the
model with and without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..compiler import reference
from ..compiler.errors import InputDataError
from ..compiler.ir import Graph
from .verify import sqnr_db


@dataclass
class Goal:
    """What the search must keep: `max_drop` (a fraction: 0.01 is 1%) of top-1 accuracy (with
    `labels`) or of top-1 agreement with float (without), or `min_sqnr_db` on every sample."""
    max_drop: float | None = None
    min_sqnr_db: float | None = None
    labels: np.ndarray | None = None

    def describe(self) -> str:
        if self.min_sqnr_db is not None:
            return f"output SQNR >= {self.min_sqnr_db:g} dB on every sample"
        what = "top-1 accuracy" if self.labels is not None else "top-1 agreement with the float model"
        return f"{what} within {100 * self.max_drop:g}% of float"


@dataclass
class Score:
    metric: float                  # accuracy / agreement (higher is better) or the worst sample's SQNR
    sqnr_db: float                 # output SQNR over all samples, the ranking signal
    ok: bool = False


@dataclass
class Result:
    precision: dict
    goal: str
    float_metric: float
    int8: Score
    chosen: Score
    steps: list = field(default_factory=list)
    promotions: list = field(default_factory=list)

    def as_dict(self) -> dict:
        def score(s):               # JSON has no infinity: an exact output's SQNR is reported as null
            return {k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in vars(s).items()}
        return {"goal": self.goal, "float_metric": self.float_metric, "int8": score(self.int8),
                "mixed": score(self.chosen), "int16_tensors": sorted(self.precision), "promotions": self.promotions,
                "search_steps": len(self.steps)}


class _Search:
    def __init__(self, calibrated: Graph, samples: np.ndarray, goal: Goal, log):
        from ..passes.quantize import quantize, quantize_values
        self.quantize, self.quantize_values, self.g, self.goal, self.log = quantize, quantize_values, calibrated, goal, log
        self.xs = samples
        self.ref = reference.run_batch(calibrated, samples).reshape(len(samples), -1).astype(np.float64)
        if goal.labels is not None and len(goal.labels) != len(samples):
            raise InputDataError(f"{len(goal.labels)} labels for {len(samples)} samples",
                                 hint="the .npz needs one label in y per sample in x")
        if goal.min_sqnr_db is None and self.ref.shape[1] < 2:
            raise InputDataError("--max-accuracy-drop needs a classifier (an output with several classes)",
                                 hint="use --min-sqnr DB for a model whose output is not a class score")
        truth = goal.labels if goal.labels is not None else self.ref.argmax(1)
        self.truth = None if goal.min_sqnr_db is not None else np.asarray(truth).reshape(-1)
        self.float_metric = float(np.mean(self.ref.argmax(1) == self.truth)) if self.truth is not None else None
        self.cache: dict = {}

    def outputs(self, precision: dict) -> np.ndarray:
        g = self.g.copy()
        g.meta["precision"] = dict(precision)
        q = self.quantize(g)
        inq = q.tensors[q.inputs[0]].quant
        xq = self.quantize_values(self.xs, inq.scalar_scale, inq.scalar_zp)      # as the caller of the C does
        outq = q.tensors[q.outputs[0]].quant
        y = reference.run_batch(q, xq).reshape(len(self.xs), -1).astype(np.float64)
        return (y - outq.scalar_zp) * outq.scalar_scale

    def score(self, promoted) -> Score:
        key = frozenset(promoted)
        if key not in self.cache:
            out = self.outputs({t: "int16" for t in key})
            total = sqnr_db(self.ref, out)
            if self.truth is None:
                worst = min(sqnr_db(r, o) for r, o in zip(self.ref, out))
                s = Score(float(worst), float(total), bool(worst >= self.goal.min_sqnr_db))
            else:
                m = float(np.mean(out.argmax(1) == self.truth))
                s = Score(m, float(total), bool(m >= self.float_metric - self.goal.max_drop - 1e-12))
            self.cache[key] = s
        return self.cache[key]

    def run(self, candidates: list, cost) -> Result:
        base = self.score(())
        res = Result({}, self.goal.describe(), self.float_metric, base, base)
        ref = "" if self.float_metric is None else f"; float {self.float_metric:.4g}"
        self.log(f"mixed precision: all int8 gives {_fmt(base)} (goal: {res.goal}{ref})")
        if base.ok or not candidates:
            res.steps.append(((), base))
            return res
        gain = {}
        for i, t in enumerate(candidates):
            gain[t] = (self.score((t,)).sqnr_db - base.sqnr_db) / max(1, cost((t,)))
            if (i + 1) % 8 == 0:
                self.log(f"mixed precision: ranked {i + 1}/{len(candidates)} candidates")
        order = sorted(candidates, key=lambda t: (-gain[t], candidates.index(t)))
        chosen: list = []
        for t in order:
            chosen.append(t)
            s = self.score(chosen)
            res.steps.append((tuple(chosen), s))
            self.log(f"mixed precision: + {t} -> {_fmt(s)}")
            if s.ok:
                break
        if not res.steps[-1][1].ok:
            res.chosen = res.steps[-1][1]
            return res
        for t in reversed(chosen[:-1]):                       # the greedy order may have taken more than needed
            trial = [c for c in chosen if c != t]
            s = self.score(trial)
            if s.ok:
                chosen = trial
                res.steps.append((tuple(chosen), s))
                self.log(f"mixed precision: - {t} (not needed) -> {_fmt(s)}")
        res.precision = {t: "int16" for t in chosen}
        res.chosen = self.score(chosen)
        return res


def _fmt(s: Score) -> str:
    return f"{s.metric:.4g} (output SQNR {s.sqnr_db:.1f} dB){'' if s.ok else ', misses the goal'}"


def search(calibrated: Graph, samples: np.ndarray, goal: Goal, plan_cost, log=lambda m: None) -> Result:
    """The cheapest int16 set for `goal` (see the module docstring).  `calibrated`: a calibrated
    float graph (calibrate()'s output); `plan_cost(precision) -> (arena bytes, flash bytes)` plans
    the model quantized with that precision."""
    from ..passes.quantize import int16_candidates
    base_ram, base_flash = plan_cost({})
    costs: dict = {}

    def cost(promoted):
        key = frozenset(promoted)
        if key not in costs:
            ram, flash = plan_cost({t: "int16" for t in key})
            costs[key] = (ram - base_ram) + (flash - base_flash)
        return costs[key]

    candidates = [t for t, why in int16_candidates(calibrated).items() if why is None]
    s = _Search(calibrated, samples, goal, log)
    res = s.run(candidates, cost)
    if res.precision:
        ram, flash = plan_cost(res.precision)
        for t in res.precision:
            r, f = plan_cost({k: v for k, v in res.precision.items() if k != t})
            res.promotions.append({"tensor": t, "ram_bytes": ram - r, "flash_bytes": flash - f})
        res.promotions.append({"total": True, "ram_bytes": ram - base_ram, "flash_bytes": flash - base_flash})
    return res
