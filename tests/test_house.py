"""The house rules that a reader relies on, checked from the source with `ast` (nothing is imported):

- the package's files import each other in layers, bottom up, and never upwards (README, Architecture);
- no import circle between files, lazy imports inside functions included (they hide circles best);
- no private name (a leading underscore) is imported from another file;
- the fast suite's marker tables (tests/conftest.py) name tests that exist.

The import path -> file rule: the repository root is the package `edgec`, so `edgec.<folder>.<module>` is
`<folder>/<module>.py` (pyproject's package-dir says no more than that, and a test holds it)."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Bottom up: a file imports from its own layer and the layers below it only.  A module of compiler/
#: that is not named here is taken to be IR level (an op family's arithmetic, like mean.py or prelu.py);
#: a name ending in "." places a whole folder.
LAYERS = [
    ("ir", ["edgec", "edgec.compiler", "edgec.compiler.ops.", "edgec.compiler.errors", "edgec.compiler.ir", "edgec.compiler.shapes",
            "edgec.compiler.reference", "edgec.compiler.fixedpoint", "edgec.compiler.gemmlowp", "edgec.compiler.targets",
            "edgec.compiler.serialize", "edgec.compiler.data", "edgec.compiler.outdir", "edgec.runtime_c",
            "edgec.verification.harness"]),
    ("host", ["edgec.host."]),
    ("importers", ["edgec.compiler.importers."]),
    ("passes", ["edgec.passes.", "edgec.compiler.calibrate"]),
    ("codegen", ["edgec.codegen."]),
    ("verification", ["edgec.verification."]),
    ("reports", ["edgec.reports."]),
    ("driver", ["edgec.driver."]),
    ("package", ["edgec.package."]),
    ("fleet", ["edgec.fleet."]),
    ("agent", ["edgec.agent."]),
    ("cli", ["edgec.cli."]),
]

#: Imports that go up a layer today, each with what it takes and where that belongs; the moves of
#: issue 17 remove them.  The test fails on a new one, and on one of these that is gone (strike it).
KNOWN_UPWARD = {
}


def package_files() -> dict:
    """module name -> file, from pyproject's package-dir and packages (the one rule from import path to file)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = cfg["package-dir"]

    def folder(pkg):
        parts = pkg.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in dirs:
                return ROOT / dirs[".".join(parts[:i])] / Path(*parts[i:])
        raise AssertionError(f"{pkg} is in no package-dir")

    files = {}
    for pkg in cfg["packages"]:
        for f in sorted(folder(pkg).glob("*.py")):
            files[pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"] = f
    return files


def test_import_path_is_the_folder_path():
    """The one rule a newcomer can say: edgec.<folder>.<module> is <folder>/<module>.py, from the repository root,
    and inside the package imports are relative, so they resolve by path too (protoc's generated agent_pb2*.py
    are left as it writes them)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert cfg["package-dir"] == {"edgec": "."}
    for pkg in cfg["packages"]:
        assert (ROOT / Path(*pkg.split(".")[1:]) / "__init__.py").is_file(), pkg
    files = package_files()
    absolute = [f"{f.relative_to(ROOT)}:{n.lineno}" for f in files.values() if not f.name.endswith(("_pb2.py", "_pb2_grpc.py"))
                for n in ast.walk(ast.parse(f.read_text()))
                if isinstance(n, ast.ImportFrom) and not n.level and (n.module or "").split(".")[0] == "edgec"]
    assert not absolute, f"write these imports relative (from ..compiler.ir import Graph): {absolute}"


def imports(files: dict) -> list:
    """(importer, imported module, name or None, line) for every import of the package's own modules,
    at any depth of the file (relative imports resolved by path)."""
    out = []
    for mod, f in files.items():
        here = mod.split(".") if f.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                pairs = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                pairs = [(base, a.name) for a in node.names]
            else:
                continue
            for target, name in pairs:
                if target != "edgec" and not target.startswith("edgec."):
                    continue
                if name and f"{target}.{name}" in files:       # from edgec import build: the file build.py
                    target, name = f"{target}.{name}", None
                assert target in files, f"{f.relative_to(ROOT)}:{node.lineno} imports {target}, which is no file"
                if target != mod:
                    out.append((mod, target, name, node.lineno))
    return out


def layer_of(mod: str) -> int:
    best = None
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            if mod == n or (n.endswith(".") and mod.startswith(n)):
                if best is None or len(n) > best[0]:
                    best = (len(n), i)
    if best is None:
        assert mod.startswith("edgec.compiler.") and mod.count(".") == 2, f"{mod}: no layer (add it to LAYERS)"
        return 0
    return best[1]


@pytest.fixture(scope="module")
def graph():
    files = package_files()
    return files, imports(files)


def test_every_import_goes_down_the_layers(graph):
    files, edges = graph
    upward = {}
    for a, b, _, line in edges:
        if layer_of(b) > layer_of(a):
            upward.setdefault((a, b), f"{files[a].relative_to(ROOT)}:{line} ({LAYERS[layer_of(a)][0]} -> {LAYERS[layer_of(b)][0]})")
    new = {k: v for k, v in upward.items() if k not in KNOWN_UPWARD}
    gone = set(KNOWN_UPWARD) - set(upward)
    assert not new, "imports from a higher layer:\n" + "\n".join(f"  {a} -> {b} at {w}" for (a, b), w in new.items())
    assert not gone, f"no longer imported upwards, strike from KNOWN_UPWARD: {sorted(gone)}"


def test_no_import_circles(graph):
    """Tarjan's strongly connected components over file -> file imports: each must be one file."""
    files, edges = graph
    succ = {m: set() for m in files}
    for a, b, _, _ in edges:
        succ[a].add(b)
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(files):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_no_private_name_is_imported_from_another_file(graph):
    _, edges = graph
    private = [f"{a}:{line} takes {b}.{name}" for a, b, name, line in edges
               if name and name.startswith("_") and not (name.startswith("__") and name.endswith("__"))]
    assert not private, "\n".join(private)


def test_the_layer_rules_see_real_imports(graph):
    """The walk finds what the package is known to import (an empty graph would pass everything above)."""
    files, edges = graph
    pairs = {(a, b) for a, b, _, _ in edges}
    assert {("edgec.driver.build", "edgec.codegen.c"), ("edgec.passes.pipeline", "edgec.passes.quantize"),
            ("edgec.cli.main", "edgec.driver.build"), ("edgec.agent.models", "edgec.package.archive")} <= pairs
    assert len(files) > 100 and len(pairs) > 200
    assert layer_of("edgec.passes.quantize") < layer_of("edgec.codegen.c") < layer_of("edgec.verification.verify") < layer_of("edgec.cli.main")


def test_the_marker_tables_name_tests_that_exist():
    """A renamed test or file would silently leave the fast suite's tables (tests/conftest.py)."""
    from conftest import CLOUD_FILES, SLOW
    assert SLOW and all((ROOT / "tests" / f).is_file() for f in CLOUD_FILES), CLOUD_FILES
    for fname, names in SLOW.items():
        tree = ast.parse((ROOT / "tests" / fname).read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert set(names) <= defined, (fname, set(names) - defined)
