"""Ops and layers whose float math depends on run-time statistics of their own input, so no
compile-time constant or lookup table can stand for it (issue 18: "a clear error that names the
node"): the reason line of such an unsupported node says why, and what a user can do instead.
One table for every importer; an op not here is refused with the plain "unsupported" line."""

#: op / layer class -> why it cannot be made integer
NORMALIZES_BY_ITS_INPUT = ("normalizes each sample by the mean and variance of its own activations, float math "
                           "computed at run time that edgec's integer-only C cannot precompute; use "
                           "BatchNormalization (folded into the conv) or remove it")
RUNTIME_FLOAT = {"LayerNormalization": NORMALIZES_BY_ITS_INPUT, "InstanceNormalization": NORMALIZES_BY_ITS_INPUT,
                 "GroupNormalization": NORMALIZES_BY_ITS_INPUT, "MeanVarianceNormalization": NORMALIZES_BY_ITS_INPUT}


def why(op: str) -> str:
    """' — <reason>' for an op in RUNTIME_FLOAT, else ''."""
    return f" — {RUNTIME_FLOAT[op]}" if op in RUNTIME_FLOAT else ""
