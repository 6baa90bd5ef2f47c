"""compose_slices: a chain of slices is one slice, so a crop costs one copy whichever way the exporter
spelled it (issue 18 item 4: the arena must not depend on the exporter)."""
import os
import warnings

import numpy as np
import torch
from torch import nn

from conftest import check_float_pass, require
from op_graphs import check
from edgec.compiler.ir import Graph, Node, Tensor
from edgec.passes.pipeline import canonicalize
from edgec.driver.build import build, import_model
from edgec.passes.compose_slices import compose_slices
from edgec.passes.infer_shapes import infer_shapes
from edgec.verification.verify import verify

os.environ.setdefault("KERAS_BACKEND", "torch")
warnings.filterwarnings("ignore", module="torch")


class Crops(nn.Module):
    """A crop written one axis at a time (one chain of three Slices), then the columns reversed and
    cropped (a gather, then a Slice)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = torch.relu(self.a(x))
        y = y[:, :, 2:][:, :, :, 1:-3][:, :, :-1]
        return self.b(y.flip(3)[:, :, :, 1:])


def _exported(tmp_path, dynamo):
    torch.manual_seed(0)
    path = str(tmp_path / f"crops{int(dynamo)}.onnx")
    torch.onnx.export(Crops().eval(), torch.zeros(1, 3, 20, 24), path, opset_version=18 if dynamo else 13, dynamo=dynamo)
    return path


def test_slice_chains_compose_into_one_slice_each_same_answer(tmp_path):
    xs = np.random.default_rng(1).uniform(-1, 1, (3, 1, 3, 20, 24)).astype(np.float32)
    for dynamo in (False, True):
        before = infer_shapes(import_model(_exported(tmp_path, dynamo)))
        slices = lambda g: [n.op for n in g.nodes if n.op in ("Slice", "StridedSlice")]
        assert len(slices(before)) >= 4, slices(before)
        after = check_float_pass(compose_slices, before, xs)
        assert slices(after) == ["Slice", "Slice"], slices(after)


def test_a_strided_slice_chain_composes_into_one_strided_slice_bit_exact(tmp_path):
    """Backwards every other row, then a crop, then a crop: one StridedSlice whose C is bit-exact."""
    g = Graph("chain", [Node("StridedSlice", "s0", ["x"], ["a"], {"begin": (0, 8, 1, 0), "step": (1, -2, 1, 1),
                                                                  "count": (1, 4, 8, 4)}),
                        Node("Slice", "s1", ["a"], ["b"], {"begin": (0, 1, 2, 0), "end": (1, 4, 7, 3)}),
                        Node("Slice", "s2", ["b"], ["y"], {"begin": (0, 0, 1, 1), "end": (1, 2, 5, 3)}),
                        Node("Relu", "r", ["a"], ["z"], {})],
              {"x": Tensor("x", (1, 9, 10, 4)), **{t: Tensor(t, None) for t in "abyz"}}, ["x"], ["y"])
    xs = np.random.default_rng(4).uniform(-1, 1, (3, 1, 9, 10, 4)).astype(np.float32)
    after = check_float_pass(compose_slices, infer_shapes(g), xs)
    assert [(n.op, n.inputs) for n in after.nodes if n.outputs == ["y"]] == [("Slice", ["a"])], \
        "s0 is read twice (by s1 and the Relu), so only the Slices s1 and s2 compose, into a Slice"
    g.nodes = g.nodes[:3]
    g.tensors = {k: v for k, v in g.tensors.items() if k != "z"}
    after = compose_slices(infer_shapes(g))
    assert [(n.op, n.inputs, n.attrs) for n in after.nodes] == [
        ("StridedSlice", ["x"], {"begin": [0, 6, 4, 1], "step": [1, -2, 1, 1], "count": [1, 2, 4, 2]})]
    check(tmp_path, canonicalize(g), np.random.default_rng(5))


def test_keras_crop_and_its_onnx_export_plan_the_same_arena_bit_exact(tmp_path):
    """Keras 3's ONNX export writes Cropping2D as a Slice per axis; the .keras file as one."""
    require("cc")
    import keras
    from keras import layers
    keras.utils.set_random_seed(2)
    m = keras.Sequential([keras.Input((18, 22, 2)), layers.Conv2D(6, 3, activation="relu"),
                          layers.Cropping2D(((2, 1), (0, 3))), layers.Conv2D(4, 3, strides=2), layers.Flatten(),
                          layers.Dense(3)])
    x = np.random.default_rng(3).uniform(0, 1, (10, 18, 22, 2)).astype(np.float32)
    m(x[:1])
    m.save(tmp_path / "crop.keras")
    m.export(str(tmp_path / "crop.onnx"), format="onnx", verbose=False)
    np.save(tmp_path / "x.npy", x)
    arenas = []
    for f in ("crop.keras", "crop.onnx"):
        out = str(tmp_path / f"out_{f.replace('.', '_')}")
        arenas.append(build(str(tmp_path / f), "host", out, str(tmp_path / "x.npy"))["totals"]["arena_bytes"])
        r = verify(out, "host", str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0, r
    assert arenas[0] == arenas[1], arenas
