"""Each canonical pass, before/after, on real models: the float reference gives the same answer,
the pass does not mutate its argument, and running it twice changes nothing more."""
import numpy as np
import pytest

from edgec.compiler import reference
from edgec.compiler.importers.onnx import import_onnx
from edgec.passes.pipeline import CANONICAL
from edgec.compiler.calibrate import calibrate
from edgec.passes.quantize import quantize
from edgec.passes.plan_memory import plan_memory, validate_plan
from conftest import CASES


def _signature(g):
    return [(n.op, n.name, tuple(n.inputs), tuple(n.outputs)) for n in g.nodes], sorted(g.tensors)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_pass_preserves_the_float_answer(name):
    case = CASES[name]
    xs = case.inputs()[:3]
    g = import_onnx(case.path)
    for p in CANONICAL:
        before_sig = _signature(g)
        after = p(g)
        assert _signature(g) == before_sig, f"{p.__name__} mutated its argument"
        assert _signature(p(after)) == _signature(after), f"{p.__name__} is not idempotent"
        for x in xs:
            want = reference.run(g, x)[g.outputs[0]]
            got = reference.run(after, x)[after.outputs[0]]
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
        g = after


def test_passes_remove_what_they_promise():
    g = import_onnx(CASES["digits_cnn"].path)
    for p in CANONICAL:
        g = p(g)
    ops = [n.op for n in g.nodes]
    assert "Transpose" not in ops and "Relu" not in ops and "BatchNorm" not in ops
    g = import_onnx(CASES["ad01"].path)
    for p in CANONICAL:
        g = p(g)
    assert [n.op for n in g.nodes] == ["FullyConnected"] * 10      # Mul/Add batchnorm and Relu folded


@pytest.mark.parametrize("name", sorted(CASES))
def test_memory_plan_is_valid_and_beats_no_reuse(name):
    case = CASES[name]
    g = import_onnx(case.path)
    for p in CANONICAL:
        g = p(g)
    q = plan_memory(quantize(calibrate(g, case.calibration()[:4])))
    validate_plan(q)
    arena_tensors = {b["root"]: b["size"] for b in q.plan.buffers.values() if b["where"] == "arena"}
    assert q.plan.arena_size <= sum((s + 3) // 4 * 4 for s in arena_tensors.values())
    assert q.plan.arena_size >= max(arena_tensors.values(), default=0)
