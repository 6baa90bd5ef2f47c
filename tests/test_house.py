"""The house rules that a reader relies on, checked from the source with `ast` (nothing is imported):

- the package's files import each other in layers, bottom up, and never upwards (README, Architecture);
- no import circle between files, lazy imports inside functions included (they hide circles best);
- no private name (a leading underscore) is imported from another file;
- the fast suite's marker tables (tests/conftest.py) name tests that exist;
- bench/ and testkit/ take nothing from tests/; no test file imports another test file, and no file of
  tests/, bench/ or testkit/ takes a private name from another (the package's white-box names aside).

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


# ---- tests/, bench/ and testkit/ -----------------------------------------------------------------
# bench/ measures what the tests check through testkit/ (the repository-root package both import),
# never through tests/ (a test file's helper moves with the test, and a benchmark broke with it); a
# helper two test files share lives in a helper module (tests/<name>.py without the test_ prefix, or
# testkit/) under a public name, never taken from another test file (stop 27's CI failed to collect
# when a refactor removed a private name another test file imported).

#: The package's private names that tests take (test file, module, name): none.  A white-box test
#: imports a public name (the ONNX and TFLite importers' classes, the planner's packing orders, the
#: tile search's make_stage); the test fails on a new private one, and on one listed here that is gone.
KNOWN_PRIVATE_IN_TESTS: set = set()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@pytest.fixture(scope="module")
def suite_imports():
    """file (relative) -> [(module, name or None, line)] for every import in tests/*.py, bench/*.py and
    testkit/ (at any depth: lazy imports inside functions too), plus (module, attribute, line) for each
    private attribute read off a plainly imported module (`import zoo_misc; zoo_misc._x`)."""
    out = {}
    files = sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "bench").glob("*.py")) \
        + sorted((ROOT / "testkit").rglob("*.py"))
    for f in files:
        rows, plain = [], {}
        tree = ast.parse(f.read_text(), str(f))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    rows.append((a.name, None, node.lineno))
                    plain[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom):
                rows += [("." * node.level + (node.module or ""), a.name, node.lineno) for a in node.names]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                    and node.value.id in plain:
                rows.append((plain[node.value.id], node.attr, node.lineno))
        out[str(f.relative_to(ROOT))] = rows
    return out


def _ours(module: str) -> bool:
    """A module of this repository: the package, testkit, a file of tests/ or bench/ (by its bare name), or relative."""
    top = module.split(".")[0]
    return module.startswith(".") or top in ("edgec", "testkit", "tests") or \
        any((ROOT / d / f"{top}.py").is_file() for d in ("tests", "bench"))


def test_bench_and_testkit_take_nothing_from_tests(suite_imports):
    """No bench/ or testkit/ file imports a module of tests/ or puts tests/ on sys.path."""
    tests_modules = {f.stem for f in (ROOT / "tests").glob("*.py")} | {"tests"}
    bad = [f"{f}:{line} imports {mod}" for f, rows in suite_imports.items() if not f.startswith("tests/")
           for mod, _, line in rows if mod.split(".")[0] in tests_modules]
    for f in sorted((ROOT / "bench").glob("*.py")) + sorted((ROOT / "testkit").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.path.insert", "sys.path.append") \
                    and any(isinstance(c, ast.Constant) and c.value == "tests" for c in ast.walk(node)):
                bad.append(f"{f.relative_to(ROOT)}:{node.lineno} puts tests/ on sys.path")
    assert not bad, "move what both use into testkit/:\n" + "\n".join(bad)


def test_no_test_file_imports_another_test_file(suite_imports):
    """A test file takes shared helpers and fixtures from conftest.py or a helper module, never from a
    test_*.py file (whose helpers change with its tests)."""
    bad = [f"{f}:{line} imports {mod}" for f, rows in suite_imports.items()
           for mod, _, line in rows if mod.split(".")[0].startswith("test_")]
    assert not bad, "\n".join(bad)


def test_no_private_name_is_taken_by_tests_bench_or_testkit(suite_imports):
    """No file of tests/, bench/ or testkit/ imports a private name from another file (a helper module's
    or the package's), beyond the package's white-box names in KNOWN_PRIVATE_IN_TESTS."""
    taken = {(f, mod, name) for f, rows in suite_imports.items() for mod, name, _ in rows
             if name and _private(name) and _ours(mod)}
    new, gone = taken - KNOWN_PRIVATE_IN_TESTS, KNOWN_PRIVATE_IN_TESTS - taken
    assert not new, "give these a public name in a helper module (tests/<name>.py or testkit/):\n" + \
        "\n".join(f"  {f} takes {mod}.{name}" for f, mod, name in sorted(new))
    assert not gone, f"no longer imported, strike from KNOWN_PRIVATE_IN_TESTS: {sorted(gone)}"


def test_the_suite_import_walk_sees_real_imports(suite_imports):
    """The walk finds what is known to be imported (an empty walk would pass everything above)."""
    assert len(suite_imports) > 80
    assert ("testkit.tflm", "check_one_op") in {(m, n) for m, n, _ in suite_imports["tests/test_tflite_mean.py"]}
    assert ("testkit.zoo_mobile", "keras_models") in {(m, n) for m, n, _ in suite_imports["bench/zoo_table.py"]}
    assert ("edgec.passes.tile", "make_stage") in {(m, n) for m, n, _ in suite_imports["tests/test_memory.py"]}
