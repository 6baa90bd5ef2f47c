"""What the planning passes hand each other and codegen, typed: attributes of Graph (compiler/ir.py)
instead of untyped graph.meta keys, so a reader finds who writes a field and who reads it here, and a
misspelt field is an AttributeError rather than a silent .get() default.

    Graph.plan      MemoryPlan   passes/plan_memory.py (re-planned by plan_scratch, plan_wide, tile)
    Graph.tiling    [Stage]      passes/tile.py
    Graph.scratch   {node: bytes} passes/plan_scratch.py (columns scratches it chose; plan.scratch places them)
    Graph.wide      WideLayers   passes/plan_wide.py
    Graph.state     [StateVar]   the TFLite importers (resource variables, SVDF's state)
    Graph.schedule  ScheduleFacts passes/schedule.py

graph.meta keeps what is free-form: the importer's notes on the source (format, names, layout), the
build's requests (optimize, ram_budget, flash_budget, precision), and the quantization notes.

The per-tensor buffer and per-stage records stay dicts (their fields are read by subscript in many
places); their fields are listed by the TypedDicts Buffer and Stage.  compiler/serialize.py writes all
of these under their old meta keys in their old form, so a build directory's edgec_model.npz reads the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict


class Buffer(TypedDict, total=False):
    """Where one activation lives (MemoryPlan.buffers[tensor]).  Written by plan_memory.memory_plan; read by
    codegen/c.py (pointers), reports/layers.py, passes/tile.py and plan_scratch.py (what is live when)."""
    where: str              # "arena", "input", "output" or "state"
    offset: int             # bytes into the arena / the state (0 for the caller's buffers)
    size: int               # bytes (a tiled stage's intermediate: its band only)
    first: int              # first and last step its group is live
    last: int
    root: str               # the tensor whose storage it shares (Reshape aliases, in-place ops)
    band: bool              # an intermediate of a tiled stage (passes/tile.py)
    slice: Any              # (first element, pixel stride) inside a Concat's output, or None
    group_offset: int       # arena only: the whole group's bytes (a shifted stage's input and output)
    group_size: int


class Scratch(TypedDict):
    """A kernel's scratch in the arena (MemoryPlan.scratch[node]), live only at its node's step."""
    offset: int
    size: int
    step: int


@dataclass(frozen=True)
class MemoryPlan:
    """The memory plan.  Written by passes/plan_memory.py (memory_plan; plan_scratch._into_gaps adds
    scratches in the gaps); read by codegen/c.py, codegen/recurrent.py, codegen/image.py,
    reports/layers.py, and by tile / plan_scratch / plan_wide to weigh candidates."""
    arena_size: int                                     # bytes of the static arena run() takes
    strategy: str                                       # the packing strategy that won (plan_memory.STRATEGIES)
    buffers: dict = field(default_factory=dict)         # tensor -> Buffer
    scratch: dict = field(default_factory=dict)         # node -> Scratch
    state_size: int | None = None                       # bytes of the persistent state; None: a stateless graph

    def as_dict(self) -> dict:
        """The plan as meta["plan"] held it (compiler/serialize.py)."""
        return {"arena_size": self.arena_size, "strategy": self.strategy, "buffers": self.buffers,
                **({"state_size": self.state_size} if self.state_size is not None else {}), "scratch": self.scratch}

    @classmethod
    def from_dict(cls, d: dict) -> "MemoryPlan":
        return cls(d["arena_size"], d["strategy"], d["buffers"], d.get("scratch", {}), d.get("state_size"))


class Stage(TypedDict, total=False):
    """A patch-based stage (Graph.tiling).  Written by passes/tile.py; read by plan_memory (band bytes,
    lifetimes, the shift), codegen/c.py (_stage_loop) and reports/layers.py."""
    nodes: list             # node names, in order
    tiles: int              # row bands
    bands: list             # per band, per node: (in_row0, out_row0, out_rows)
    band_bytes: list        # per node: its output band's bytes
    reverse: bool           # bands run bottom up
    shift: int              # bytes the output sits below its input when it overwrites it, or None
    instructions: int       # estimated extra Cortex-M4 instructions per inference
    extra_macs: int
    saves_bytes: int        # arena bytes the stage saves (set by tile._prune)


@dataclass(frozen=True)
class WideLayers:
    """The layers given pre-sign-extended ("wide") weights.  Written by passes/plan_wide.py; read by
    plan_memory (their columns scratch), plan_scratch (not twice), codegen/c.py (the wide kernels),
    compiler/ops/costs.py (their flash), reports/layers.py and driver/build.py."""
    layers: dict = field(default_factory=dict)          # node -> columns scratch bytes (0: none, a FullyConnected)
    flash_bytes: int = 0                                # the flash the trade costs

    def __contains__(self, node: str) -> bool:
        return node in self.layers

    def __bool__(self) -> bool:
        return bool(self.layers)


@dataclass(frozen=True, eq=False)
class StateVar:
    """One persistent variable of a stateful graph (a streaming .tflite's resource variable, an SVDF's
    state).  Written by the TFLite importers; read by compiler/reference.py, plan_memory (its static
    buffer), schedule, tile, codegen/c.py (the copies after the last node) and reports/layers.py."""
    variable: str           # the variable's name in the model
    tensor: str             # the state tensor nodes read
    next: str | None        # the tensor assigned to it at the end of a run (None: never reassigned)
    init: Any               # its initial values (numpy array)

    def as_dict(self) -> dict:
        return {"variable": self.variable, "tensor": self.tensor, "next": self.next, "init": self.init}

    @classmethod
    def from_dict(cls, d: dict) -> "StateVar":
        return cls(d["variable"], d["tensor"], d["next"], d["init"])


@dataclass(frozen=True)
class ScheduleFacts:
    """What passes/schedule.py found; read by reports/layers.py (schedule_method) and tests."""
    peak_live_bytes: int
    method: str             # "exact" or "greedy"
    topological_peak: int   # the structural order's peak, for comparison

    def as_dict(self) -> dict:
        return {"peak_live_bytes": self.peak_live_bytes, "method": self.method, "topological_peak": self.topological_peak}
