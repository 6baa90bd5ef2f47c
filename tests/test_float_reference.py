"""Rung 1 of the ladder: the float reference interpreter matches onnxruntime on every real model."""
import numpy as np
import onnxruntime as ort
import pytest

from edgec.compiler import reference
from edgec.compiler.importers.onnx import import_onnx
from edgec.passes.pipeline import canonicalize
from conftest import CASES


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_matches_onnxruntime(name):
    case = CASES[name]
    xs = case.inputs()[:8]
    sess = ort.InferenceSession(case.path, providers=["CPUExecutionProvider"])
    feed = sess.get_inputs()[0]
    imported = import_onnx(case.path)
    canonical = canonicalize(imported)
    for x in xs:
        x = x.reshape([d if isinstance(d, int) else 1 for d in feed.shape]).astype(np.float32)
        want = sess.run(None, {feed.name: x})[0]
        for g in (imported, canonical):
            got = reference.run(g, x)[g.outputs[0]].reshape(want.shape)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
