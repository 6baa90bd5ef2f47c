"""The calls of run() as codegen emits them: codegen/c.py records each kernel call (its C function and
argument expressions) and each patch-based stage's band loop when it writes them, and codegen/image.py
builds the model image's schedule from that record, so the image never reads the C text back.

An argument expression is what the C passes: an integer literal, `&` and a parameter struct's name, or a
name / pointer expression of the emitter's symbols (arrays, activations, scratches, band expressions
`base + r[k] * m`), each of which the emitter registered with its meaning when it made it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    """One kernel call: `fn(args...);`.  Written by _Emitter.call (codegen/c.py); read by codegen/image.py."""
    fn: str                 # the C function (edgec_..._s8, memcpy)
    args: tuple             # its argument expressions, as the C has them

    @property
    def text(self) -> str:
        return f"{self.fn}({', '.join(self.args)});"


@dataclass(frozen=True)
class Loop:
    """A patch-based stage (codegen/c.py _stage_loop): `for (band = 0; band < tiles; band++)` over the
    row table `table` (`width` entries per band), running `body` once per band."""
    tiles: int
    table: str              # the name of the row table (an array of the emitter's)
    width: int
    body: tuple             # the Calls of one band


@dataclass(frozen=True)
class Step:
    """One step of run() (a node, a stage, a state copy): its comment and its Calls / Loop, in order;
    `sites` None when an emitter wrote C without recording it (the image refuses such a step)."""
    comment: str
    sites: tuple | None
