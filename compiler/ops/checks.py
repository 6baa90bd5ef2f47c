"""The checks an op's `check` (its IR contract for what importers emit) is written with: integer lists,
finite numbers, shapes within the resource limits.  They raise ModelFormatError without a `where`; the
importer's GraphBuilder adds the file and node.  (Moved from importers/builder.py, which imports them
back, so op definitions at the IR level can use them.)"""
from __future__ import annotations

import math

from ..errors import ModelFormatError

#: Resource limits, checked before anything of that size is allocated (importers/builder.py has the rest).
MAX_TENSOR_ELEMENTS = 1 << 26        # any one tensor (weights or activation): 64 Mi elements, 256 MiB as float32
LIMIT_HINT = ("the file is corrupt or was crafted: edgec compiles models for microcontrollers, and refuses "
              "sizes past {limit} before allocating them")


def limit_hint(limit: str) -> str:
    return LIMIT_HINT.format(limit=limit)


def element_count(shape) -> int:
    """Exact product of `shape` (Python ints: no overflow, whatever the dims)."""
    return math.prod(int(d) for d in shape)


def check_shape(shape, what: str, where: str | None, allow_empty: bool = False) -> tuple:
    """`shape` as a tuple of ints, refused when a dimension is below 1 (0 with allow_empty) or the
    tensor would hold more than MAX_TENSOR_ELEMENTS, with the size in the message."""
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError, OverflowError):
        raise ModelFormatError(f"{what} has a malformed shape {short(shape)}", where=where,
                               hint="the file may be corrupt; re-export the model") from None
    low = 0 if allow_empty else 1
    if any(d < low for d in dims):
        raise ModelFormatError(f"{what} has shape {dims}: every dimension must be at least {low}", where=where,
                               hint="the file may be corrupt; re-export the model with static, positive shapes")
    n = element_count(dims)
    if n > MAX_TENSOR_ELEMENTS:
        raise ModelFormatError(f"{what} of shape {short(dims)} has {n:,} elements ({human(4 * n)} as float32), "
                               f"more than the {MAX_TENSOR_ELEMENTS:,} edgec accepts in one tensor", where=where,
                               hint=limit_hint(f"{MAX_TENSOR_ELEMENTS:,} elements per tensor"))
    return dims


def human(nbytes: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{nbytes} B"


def short(v, limit: int = 80) -> str:
    s = str(v)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def ints(v, n: int | None, what: str, minimum: int) -> tuple:
    try:
        vals = tuple(int(x) for x in v)
    except (TypeError, ValueError, OverflowError):
        raise ModelFormatError(f"{what} {short(v)} is not a list of integers") from None
    if (n is not None and len(vals) != n) or any(x < minimum for x in vals):
        raise ModelFormatError(f"{what} {short(vals)} must be {f'{n} ' if n is not None else ''}integers >= {minimum}")
    return vals


def finite(v, what: str, allow_inf: bool = False) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        raise ModelFormatError(f"{what} {short(v)} is not a number") from None
    if math.isnan(f) or (not allow_inf and math.isinf(f)):
        raise ModelFormatError(f"{what} is {f}")
    return f


def check_padded(shape, pads) -> None:
    """Kernels read a padded copy of their input: it must fit the limits too."""
    n, h, w, c = shape
    t, l, b, r = (int(p) for p in pads)
    check_shape((n, h + t + b, w + l + r, c), "the padded input", None)


def rank(op: str, shapes: list, i: int, r: int, what: str = "input") -> None:
    """Input i of an `op` node must have rank r."""
    if len(shapes[i]) != r:
        raise ModelFormatError(f"{op} needs a rank-{r} {what}, got shape {shapes[i]}")
