"""Every reason a model cannot compile, at once, one line each: what the importers (ONNX, Keras,
Darknet) share to collect them while they go on checking the rest of the model, and to raise them as
one UnsupportedOpError (the CLI prints its headline, then each reason on a line of its own, exit 2).

Three kinds are counted in the headline: unsupported ops (nodes, layers, cfg sections), inputs of
dynamic shape that nothing fixes, and unsupported attribute / config values or uses."""
from __future__ import annotations

from ..errors import EdgecError, UnsupportedOpError

MAX_REASONS = 200                    # lines of a refused model's reasons: real models have a few


def reason_line(e: EdgecError, file: str, where: str) -> str:
    """One line of a refused model's reasons: where in the model (the file is said once) and what."""
    text = str(e)
    if text.startswith(f"{file}: "):
        text = text[len(file) + 2:]
    prefix = where[len(file) + 2:] if where.startswith(f"{file}: ") else where
    return text if text.startswith(prefix) else f"{prefix}: {text}"


class Reasons:
    """The reasons collected so far.  `unit`: what the model is made of ("node", "layer", "section")."""

    def __init__(self, file: str, unit: str = "node"):
        self.file, self.unit = file, unit
        self.lines: list = []        # the first MAX_REASONS; the others are only counted
        self.total = self.unsupported = self.dynamic = 0

    def __bool__(self) -> bool:
        return self.total > 0

    def __len__(self) -> int:
        return self.total

    @property
    def full(self) -> bool:
        """True once MAX_REASONS lines are kept: a caller may pass line=None then (counted, not written)."""
        return len(self.lines) >= MAX_REASONS

    def _add(self, line) -> None:
        self.total += 1
        if not self.full:
            self.lines.append(line() if callable(line) else line)

    def op(self, line) -> None:
        """An op / layer class / section the importer does not have."""
        self._add(line)
        self.unsupported += 1

    def input(self, line: str) -> None:
        """An input whose dynamic dimensions nothing fixes (builder.fix_input_shape's reason)."""
        self._add(line)
        self.dynamic += 1

    def value(self, e: EdgecError, where: str) -> None:
        """An UnsupportedOpError of one node or layer: an attribute or config value, or a use."""
        self._add(lambda: reason_line(e, self.file, where))

    def raise_all(self, supported: str | None = None) -> None:
        """Raise them as one UnsupportedOpError, if there are any.  `supported`: the list of what is
        supported, for the hint when something unsupported was named."""
        if not self.total:
            return
        kinds = [f"{self.unsupported:,} unsupported {self.unit}(s)"] if self.unsupported else []
        kinds += [f"{self.dynamic} input(s) of dynamic shape"] if self.dynamic else []
        other = self.total - self.unsupported - self.dynamic
        kinds += [f"{other:,} unsupported attribute value(s) or use(s)"] if other else []
        lines = self.lines                    # a crafted file's million nodes: the first ones say enough
        if self.total > len(lines):
            lines = lines + [f"… and {self.total - len(lines):,} more"]
        raise UnsupportedOpError(f"the model cannot be compiled: {', '.join(kinds)}", where=self.file,
                                 hint=supported if self.unsupported else None, reasons=lines)
