"""Errors users can act on.  The CLI prints `str(err)` on one line (and each of its reasons on a line
of its own) and exits non-zero; no traceback."""


class EdgecError(Exception):
    """Base class: the message says where (file, node, op) and what to do.  `reasons`: when several
    things stop the same step (every unsupported node, dynamic input, attribute value of a model),
    one line each; str() joins them, the CLI prints one per line under the message."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None, facts: dict | None = None,
                 reasons: list | None = None):
        self.where, self.hint, self.facts = where, hint, facts or {}
        self.reasons = [str(r).replace("\n", " ") for r in reasons or ()]
        self.headline = " — ".join([f"{where}: {message}" if where else message] + ([hint] if hint else [])).replace("\n", " ")
        parts = [f"{where}: {message}" if where else message]
        if self.reasons:
            parts[0] += ": " + "; ".join(self.reasons)
        if hint:
            parts.append(hint)
        super().__init__(" — ".join(parts).replace("\n", " "))

    def lines(self) -> list:
        """The error as the CLI prints it: the message (with where and hint), then each reason."""
        return [self.headline] + self.reasons if self.reasons else [str(self)]


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


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached edgec.  A BaseException, so `except Exception` blocks do not swallow it and
    the cleanup on the way out (temp directories, child processes) still runs; the CLI then prints one line
    and exits 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM), as shells do."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum
