"""Shared fixtures: the seven real models (testkit/cases.py) built once per session (cortex-m4 target)
into a temporary directory, the CLI run in this process, and the markers of the fast suite."""
from __future__ import annotations

import ast
import functools
import io
import json
import re
import select
import shutil
import warnings
from pathlib import Path

import numpy as np
import time

import pytest

# The real models and their data live in testkit/cases.py (bench/ measures them too); the tests take
# them from here.
from testkit.cases import CASES, DATA, KERAS_CASES, KERAS_REFERENCE, Case, data, extra  # noqa: F401


def require(*tools):
    """Fail (not skip) when a tool the suite needs is missing: a skipped check proves nothing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: install the README's test set-up (apt packages gcc-arm-none-eabi qemu-system-arm)")
    _check_marks(tools)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """name -> (out dir, inputs .npy path, report); builds lazily, once per session."""
    from edgec.driver.build import build
    cache = {}

    def get(name):
        if name not in cache:
            case = {**CASES, **KERAS_CASES}[name]
            d = tmp_path_factory.mktemp(name)
            np.save(d / "calib.npy", case.calibration())
            np.save(d / "inputs.npy", case.inputs())
            report = build(case.path, "cortex-m4", str(d / "out"), str(d / "calib.npy"))
            cache[name] = (d / "out", d / "inputs.npy", report)
        return cache[name]
    return get


@pytest.fixture(scope="session")
def digits_files(tmp_path_factory):
    """calib.npy (300 training digits) and samples.npy (25 test digits), for the CLI tests."""
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "calib.npy", np.load(DATA / "digits_X_train_float_0to1_x64.npy")[:300])
    np.save(d / "samples.npy", np.load(DATA / "digits_X_test_float_0to1_x64.npy")[:25])
    return d


def one_line_error(r, *words):
    """A CLI run (returncode/stdout/stderr) that failed the way bad input must: non-zero exit, no
    traceback, exactly one "edgec: error" line on stderr, holding each of `words`.  Returns the line."""
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr + r.stdout
    lines = [l for l in r.stderr.splitlines() if l.startswith("edgec: error")]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def read_json_line(proc, what, log, timeout=60):
    """The first stdout line of a server started with --json (its ready line), parsed; the test fails
    with the server's log when none comes within `timeout`."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        pytest.fail(f"{what} did not start: {Path(log).read_text()}")
    return json.loads(line)


def wait_for(what, fn, timeout=30.0, every=0.2):
    """fn()'s first truthy value, polled every `every` seconds; the test fails naming `what` after `timeout`."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)


def cli(*args, env=None, check_json=False):
    """The CLI's main() in this process (same parsing, errors and output as a subprocess, without an
    interpreter start per call); `env` entries are set for the call."""
    from contextlib import redirect_stderr, redirect_stdout
    from types import SimpleNamespace
    from edgec.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in (env or {}).items():
            mp.setenv(k, v)
        if env and "EDGEC_AWS_ENDPOINT" in env:                 # the local cloud, not a profile's
            for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                mp.delenv(k, raising=False)
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(a) for a in args])
    if check_json:
        assert code == 0, err.getvalue()
        return json.loads(out.getvalue())
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


# --------------------------------------------------------------------------------------------------
# markers: `python -m pytest -m "not emulator and not cloud and not browser and not slow"` is the fast
# suite (README); CI runs everything.  They are given here, from what a test's code names, so that a
# new test file is marked without listing it anywhere:
#   emulator  the test's code (its body and the module-level helpers, constants and fixtures it uses,
#             in its file or taken from a helper module: tests/<name>.py, testkit/)
#             names a cross compiler or an emulator, as in require("arm-none-eabi-gcc", "qemu-system-arm");
#             or it reads a target's .cc/.emulator and names a target other than the host, as
#             require(t.cc, t.emulator[0]) after get_target("cortex-m4"); or one of its parameters is
#             such a target (parametrize("target", ["host", "cortex-m4"]) marks the second);
#             (building for a target without compiling, build(..., "cortex-m4"), is not emulator work)
#   browser   it names chromium (require("chromium"), tests/chromium.py);
#   cloud     it is in a file of the local AWS, the device agent or the fleet (CLOUD_FILES);
#   slow      it took more than ~10 s on one core, all its parameters together, when measured (SLOW;
#             tests/test_house.py checks the names exist).  With ~20 s the fast suite took ~10 min.
# A mark written on a test is kept as well.  require() warns when a test asks for an emulator's or
# Chromium's tools without the mark, so a test the rule misreads shows up in the warnings summary.
# --------------------------------------------------------------------------------------------------
CLOUD_FILES = {"test_agent.py", "test_fleet.py", "test_release.py", "test_clients.py"}

#: file -> its tests that took more than ~10 s of CPU (this process and its compilers) with all their
#: parameters, measured one by one on 2026-12-06; a module fixture's cost counts for its first user.
SLOW = {
    "test_big_graphs.py": {"test_a_3000_node_graph_builds_and_is_bit_exact_on_the_host"},
    "test_calibration.py": {"test_top1_agreement_with_float_at_least_tflite_int8"},
    "test_clip_tensor_bounds.py": {"test_clamp_with_computed_bounds_is_bit_exact"},
    "test_cli.py": {"test_bad_inputs_give_one_line_errors"},
    "test_darknet.py": {"test_yolov3_tiny_random_weights_flash_refusal_and_host_build"},
    "test_depth_to_space.py": {"test_depth_to_space_matches_onnxruntime_and_c_is_bit_exact"},
    "test_fold_pad.py": {"test_keras_export_plans_within_5_percent_of_tf2onnx_and_is_bit_exact"},
    "test_fuzz_importers.py": {"test_seeded_fuzz_run_finds_nothing"},
    "test_images.py": {"test_api_build_load_run_decode_are_the_cli_s", "test_run_on_photos_gives_detections_in_pixels_of_the_original"},
    "test_keras_layers.py": {"test_layer_zoo_matches_keras_and_is_bit_exact"},
    "test_kernels.py": {"test_conv2d"},
    "test_memory.py": {"test_convs_write_straight_into_concat_slices", "test_forced_tiling_is_bit_exact",
                       "test_stage_output_over_its_input_is_bit_exact"},
    "test_mixed_precision.py": {"test_cli_unreachable_goal_and_bad_options_are_one_line_errors"},
    "test_mobile_ops.py": {"test_op_family_net_matches_onnxruntime_and_is_bit_exact"},
    "test_models.py": {"test_generated_c_runs_clean_under_ubsan_and_asan", "test_mlperf_top1_agrees_with_float_on_shared_inputs"},
    "test_models_s16.py": {"test_mlperf_models_all_int16_bit_exact_under_sanitizers"},
    "test_qdq_import.py": {"test_qdq_host_c_equals_tflite_micro"},
    "test_resample_ops.py": {"test_resize_modes_match_onnxruntime_and_c_is_bit_exact"},
    "test_several_io.py": {"test_keras_two_inputs_two_outputs_and_its_onnx_export_are_bit_exact",
                           "test_several_io_inputs_are_refused_in_one_line",
                           "test_torch_heads_one_read_again_are_bit_exact_per_output",
                           "test_gru_step_with_its_state_fed_back_is_bit_exact_over_a_stream"},
    "test_tflite_import.py": {"test_float_tflite_is_quantized_from_calibration", "test_host_c_equals_tflite_micro"},
    "test_tflite_streaming.py": {"test_cli_run_and_verify_say_they_stream"},
    "test_zoo_misc.py": {"test_keras_zoo_matches_keras_builds_for_cortex_m7_and_is_bit_exact", "test_zoo_builds_for_cortex_m7_and_is_bit_exact",
                         "test_keras_onnx_export_of_shufflenet_folds_its_edge_pad_and_is_bit_exact"},
    "test_zoo_mobile.py": {"test_zoo_model_fits_m7_is_bit_exact_and_agrees_with_float"},
    "test_zoo_keras_mobile.py": {"test_keras_zoo_model_fits_m7_is_bit_exact_and_agrees_with_float"},
    "test_zoo_keras_apps.py": {"test_keras_application_builds_for_cortex_m7_and_is_bit_exact"},
}


@functools.lru_cache(maxsize=None)
def _emulated() -> tuple:
    """(cross compilers and emulators, targets other than the host), from edgec.compiler.targets: a new target counts."""
    from edgec.compiler.targets import TARGETS
    host = TARGETS["host"]
    tools = {"avrrun", "simavr"}
    for t in TARGETS.values():
        if t is not host:
            tools |= {t.cc} | ({t.emulator[0]} if t.emulator else set())
    return tools, set(TARGETS) - {"host"}


def _helper_file(module: str):
    """The file of a helper module that test files import names from (tests/<module>.py, testkit's
    modules), or None; conftest is left out (its require() names every tool, for its check of the marks)."""
    here = Path(__file__).resolve().parent
    if module.split(".")[0] == "testkit":
        f = here.parent.joinpath(*module.split(".")).with_suffix(".py")
    elif "." not in module and module != "conftest":
        f = here / f"{module}.py"
    else:
        return None
    return f if f.is_file() else None


_MODULES = {}


def _module(path: Path) -> "_Module":
    if path not in _MODULES:
        _MODULES[path] = _Module(path)
    return _MODULES[path]


class _Module:
    """One test file's top level: its functions, classes and constants by name, for the markers; and the
    names it imports from the test helper modules (at any depth), whose code counts as its own."""

    def __init__(self, path: Path):
        self.path, self.defs, self.imported = path, {}, {}
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    if isinstance(t, ast.Name):
                        self.defs[t.id] = node
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level and _helper_file(node.module):
                for a in node.names:
                    self.imported[a.asname or a.name] = (_helper_file(node.module), a.name)

    def words(self, name: str, visited: set = None) -> set:
        """Every string constant (docstrings aside), imported module name and `.cc`/`.emulator` read in
        `name`'s code and in what it uses from this module or takes from a helper module (decorators left
        out: a parametrize list names targets each instance may not use)."""
        seen, out, todo, seen_doc = set(), set(), [name], set()
        visited = set() if visited is None else visited
        while todo:
            n = todo.pop()
            if n not in self.defs and n in self.imported and self.imported[n] not in visited:
                visited.add(self.imported[n])       # a helper's code, as a test in another file uses it
                out |= _module(self.imported[n][0]).words(self.imported[n][1], visited)
            if n in seen or n not in self.defs:
                continue
            seen.add(n)
            node = self.defs[n]
            parts = [node.args, *node.body] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else \
                (node.body if isinstance(node, ast.ClassDef) else [node])
            for part in parts:
                for sub in ast.walk(part):
                    if isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Constant):
                        seen_doc.add(id(sub.value))     # a docstring says, it does not run
                    elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and id(sub) not in seen_doc:
                        out.add(sub.value)
                    elif isinstance(sub, ast.ImportFrom) and sub.module:
                        out.add(sub.module)
                    elif isinstance(sub, ast.Attribute) and sub.attr in ("cc", "emulator"):
                        out.add("." + sub.attr)         # a target's tools, required by what they are
                    elif isinstance(sub, ast.Name):
                        todo.append(sub.id)
                    elif isinstance(sub, ast.arg):
                        todo.append(sub.arg)            # a fixture defined in this file
        return out


def _param_words(item) -> set:
    out = set()
    for v in getattr(getattr(item, "callspec", None), "params", {}).values():
        for x in (v if isinstance(v, (list, tuple)) else [v]):
            if isinstance(x, str):
                out.add(x)
    return out


def _token(names):
    return re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")(?![\w-])")


_RUNNING = []          # the test being run, for require()'s check of its marks


def pytest_runtest_setup(item):
    _RUNNING[:] = [item]


def _check_marks(tools):
    """A test that requires an emulator's or a browser's tools but was not marked so (its code names them
    in a way the rule above does not read, e.g. through another module): say so, so the rule is fixed."""
    if not _RUNNING:
        return
    item, (emulator_tools, _) = _RUNNING[0], _emulated()
    for mark, needed in (("emulator", emulator_tools & set(tools)), ("browser", {"chromium"} & set(tools))):
        if needed and item.get_closest_marker(mark) is None:
            warnings.warn(f"{item.nodeid} requires {sorted(needed)} but is not marked {mark}: the fast suite "
                          f"would run it (tests/conftest.py, markers)")


def pytest_collection_modifyitems(config, items):
    tools, targets = _emulated()
    tool, target = _token(tools), _token(targets)
    modules = {}
    for item in items:
        path = Path(item.path)
        if path not in modules:
            modules[path] = _module(path)
        name = getattr(item, "originalname", None) or item.name
        words = modules[path].words(name)
        dynamic = {".cc", ".emulator"} & words and any(target.search(w) for w in words)
        if any(tool.search(w) for w in words) or _param_words(item) & targets or dynamic:
            item.add_marker(pytest.mark.emulator)
        if any("chromium" in w.lower() for w in words):
            item.add_marker(pytest.mark.browser)
        if path.name in CLOUD_FILES:
            item.add_marker(pytest.mark.cloud)
        if name in SLOW.get(path.name, ()):
            item.add_marker(pytest.mark.slow)


def onnx_file(tmp_path, nodes, x_shape, y_shape, inits=(), opset=13, name="m") -> str:
    """A one-input, one-output float ONNX model (input "x", output "y") made with onnx.helper, checked and
    saved as tmp_path/<name>.onnx: what the op tests that write their own graphs share."""
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = tmp_path / f"{name}.onnx"
    onnx.save(m, path)
    return str(path)


def canonical_before(graph, stop):
    """The canonical passes that run before the pass `stop` (passes/pipeline.py's order): the graph a
    pass's before/after test hands it."""
    from edgec.passes.pipeline import CANONICAL
    for p in CANONICAL[:CANONICAL.index(stop)]:
        graph = p(graph)
    return graph


def check_float_pass(pass_fn, graph, xs, atol=1e-5):
    """A float pass's before/after contract: it leaves its argument untouched, running it twice changes
    nothing more, the outputs keep their names, and the float reference gives the same answer on every
    x in xs (within float rounding: the pass may reassociate float math).  Returns the after graph."""
    import numpy as np
    from edgec.compiler import reference
    signature = lambda g: [(n.op, tuple(n.inputs), tuple(n.outputs), dict(n.attrs)) for n in g.nodes]
    before = signature(graph)
    after = pass_fn(graph)
    assert signature(graph) == before, f"{pass_fn.__name__} mutated its argument"
    again = pass_fn(after)
    assert [(n.op, tuple(n.inputs)) for n in again.nodes] == [(n.op, tuple(n.inputs)) for n in after.nodes]
    assert after.outputs == graph.outputs
    for x in xs:
        want = reference.run(graph, x)[graph.outputs[0]]
        got = reference.run(after, x)[after.outputs[0]]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol * max(1.0, float(np.abs(want).max())))
    return after


@pytest.fixture(scope="module")
def mfcc(tmp_path_factory):
    """(x, its .npy path): the real KWS MFCC input and its 24 time-shifted variants, [25, 49, 10] (frames x
    coefficients), scaled by 1/32 as a front end normalises features for a recurrent layer (raw MFCCs
    reach -123).  The recurrent tests' calibration and test data."""
    import numpy as np
    x = np.concatenate([data("kws_input_float_dequant.npy"), extra("kws_shift")])
    x = (x.reshape(-1, 49, 10) / 32).astype(np.float32)
    path = tmp_path_factory.mktemp("mfcc") / "mfcc.npy"
    np.save(path, x)
    return x, str(path)
