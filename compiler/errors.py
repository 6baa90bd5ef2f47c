"""Errors users can act on.  The CLI prints `str(err)` on one line and exits non-zero; no traceback."""


class EdgecError(Exception):
    """Base class: the message says where (file, node, op) and what to do."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None, facts: dict | None = None):
        self.where, self.hint, self.facts = where, hint, facts or {}
        parts = [f"{where}: {message}" if where else message]
        if hint:
            parts.append(hint)
        super().__init__(" — ".join(parts).replace("\n", " "))


class ModelFormatError(EdgecError):
    """The model file is missing, truncated or not what its extension says."""


class UnsupportedOpError(EdgecError):
    """One or more ops cannot be compiled; every offending node is named in one message."""


class InputDataError(EdgecError):
    """Calibration or sample data does not fit the model."""


class ToolchainError(EdgecError):
    """A cross-compiler or emulator is missing or failed."""


class TargetError(EdgecError):
    """Unknown target, or the model does not fit it."""
