"""The set-up a fresh machine gets is the one CI tested: constraints.txt pins every package that
`pip install -e '.[test]'` brings, and the README's commands and .ci/run install through it."""
from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def _pins() -> dict:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _closure(root: str, extras: set) -> set:
    """Every distribution edgec[extras] needs on this machine, through each requirement's markers."""
    seen, todo = set(), [(root, frozenset(extras))]
    while todo:
        name, ex = todo.pop()
        for text in md.requires(name) or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (ex or {""})):
                continue
            dep = canonicalize_name(req.name)
            if (dep, frozenset(req.extras)) not in seen:
                seen.add((dep, frozenset(req.extras)))
                todo.append((dep, frozenset(req.extras)))
    return {n for n, _ in seen}


def test_every_test_dependency_is_pinned_and_installed_at_its_pin():
    pins = _pins()
    needed = _closure("edgec", {"test"})
    assert "grpcio-tools" in needed and "torch" in needed
    unpinned = sorted(needed - set(pins))
    assert not unpinned, f"add to constraints.txt: {unpinned}"
    drift = {n: (md.version(n), pins[n]) for n in needed if md.version(n).split("+")[0] != pins[n]}
    assert not drift, f"installed vs pinned: {drift}"


def test_readme_commands_and_ci_install_through_the_constraints():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    installs = re.findall(r"pip install -e \S+(?: -c \S+)?", readme) + re.findall(r"pip install -e \S+(?: -c \S+)?", ci)
    quick = [i for i in installs if i.startswith("pip install -e . ") or "[test]" in i]
    assert len(quick) >= 3, installs
    assert all(i.endswith("-c constraints.txt") for i in quick), quick
    second = [line for line in readme.splitlines() if "apt-get update" in line][0]
    assert second.strip() in ci
