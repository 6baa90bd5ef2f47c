"""Model names and versions as packages, devices and the fleet take them: what a name and a version
may be (they become S3 keys, IoT thing attributes and file names) and the order of versions."""
from __future__ import annotations

import re

from ..compiler.errors import EdgecError

#: Model names as the retired Edge Manager agent accepted them (also safe in S3 keys and job ids).
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")


def check_name_version(name: str, version: str) -> None:
    if not NAME_RE.match(name or "") or len(name) > 63:
        raise EdgecError(f"model name '{name}' is not allowed", hint="use letters, digits and single hyphens, e.g. kws or kws-v2")
    if not VERSION_RE.match(version or ""):
        raise EdgecError(f"version '{version}' is not allowed", hint="use letters, digits, '.', '_', '+', '-', e.g. 1.2.0")


def version_key(version: str) -> tuple:
    """The order of versions, as semantic versioning has it: dot-separated numbers compare as numbers
    (missing ones count as 0: 1.2 = 1.2.0), a pre-release (after '-') comes before its release, build
    metadata (after '+') is ignored, and words compare as text, after numbers (1.0.0-rc1 < 1.0.0 < 1.0.1)."""
    core, dash, pre = version.partition("+")[0].partition("-")

    def parts(text):
        return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in re.split(r"[._]", text) if x)
    c = list(parts(core))
    while c and c[-1] == (0, 0, ""):
        c.pop()
    return tuple(c), 0 if dash else 1, parts(pre)
