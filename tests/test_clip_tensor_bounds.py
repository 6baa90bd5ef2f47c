"""Clip with tensor bounds (issue 18, part 3): torch.clamp whose min and max are tensors the model
computes, from both PyTorch exporters.

- 0-d bounds (clamp(y, y.mean(), 0.5 * y.amax())): the TorchScript exporter writes an ONNX Clip whose
  min and max inputs are activations (ReduceMean / ReduceMax -> Cast -> Clip).  The importer makes it
  Min(Max(x, min), max), the bounds reshaped to x's rank as ONNX broadcasts them; the 0-d mean's
  Reshape used to crash sink_reshape (a 0-d tensor has no last axis).  PyTorch's dynamo exporter
  cannot export this model (its own failure, in torch), so it is checked on the next form.
- bound maps (clamp(y, conv(x), conv(x) + relu(conv(x))), one value per pixel broadcast over the
  channels): both exporters write Max / Min of two activations.

Each: float reference == onnxruntime, the C on the host == the integer reference bit for bit, and
the int8 output within 25 dB of float on real photo crops (held out from the calibration crops)."""
import contextlib
import io
import warnings

import numpy as np
import onnx
import pytest

from conftest import canonical_before, check_float_pass, require
from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.passes.pipeline import canonicalize
from edgec.passes.sink_reshape import sink_reshape
from edgec.verification.verify import verify
from testkit.heldout import photo_crops
from testkit.zoo_mobile import ort_run

warnings.filterwarnings("ignore", module="torch")


def _models():
    import torch
    from torch import nn

    class ScalarBounds(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return torch.clamp(y, y.mean(), 0.5 * y.amax())

    class MapBounds(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.lo, self.width = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 1, 1), nn.Conv2d(3, 1, 1)

        def forward(self, x):
            lo = self.lo(x)
            return torch.clamp(self.conv(x), lo, lo + torch.relu(self.width(x)))

    return {"scalar": ScalarBounds, "map": MapBounds}


def _photos(n, seed):
    """[n, 3, 16, 16] real photo crops, 0..1."""
    return np.ascontiguousarray((photo_crops(16, n, seed) / np.float32(255)).transpose(0, 3, 1, 2))


def _export(kind, exporter, path):
    import torch
    torch.manual_seed(0)
    model = _models()[kind]().eval()
    dynamo, opset = {"ts13": (False, 13), "ts17": (False, 17), "dynamo": (True, 18)}[exporter]
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model, (torch.from_numpy(_photos(1, 3)),), str(path), dynamo=dynamo, opset_version=opset,
                          input_names=["x"], output_names=["y"], external_data=False)
    return str(path)


@pytest.mark.parametrize("kind,exporter", [("scalar", "ts13"), ("scalar", "ts17"),
                                           ("map", "ts13"), ("map", "ts17"), ("map", "dynamo")])
def test_clamp_with_computed_bounds_is_bit_exact(tmp_path, kind, exporter):
    require("cc")
    path = _export(kind, exporter, tmp_path / f"{kind}.onnx")
    g = onnx.load(path).graph
    inits = {i.name for i in g.initializer} | {n.output[0] for n in g.node if n.op_type == "Constant"}
    if kind == "scalar":              # the idiom under test: a Clip whose bounds are computed
        clip = [n for n in g.node if n.op_type == "Clip"]
        assert len(clip) == 1 and all(b not in inits for b in clip[0].input[1:]), [n.op_type for n in g.node]
    else:
        assert {"Max", "Min"} <= {n.op_type for n in g.node}, [n.op_type for n in g.node]
    cal, check = _photos(32, 11), _photos(16, 12)
    want = ort_run(path, check[:4])
    got = reference.run_batch(canonicalize(import_model(path)), check[:4, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    np.save(tmp_path / "cal.npy", cal)
    np.save(tmp_path / "check.npy", check)
    build(path, "host", str(tmp_path / "out"), str(tmp_path / "cal.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "check.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 16, r
    assert r["float_agreement"]["sqnr_db"] >= 25, r["float_agreement"]


def test_sink_reshape_keeps_a_reshape_of_a_0d_tensor(tmp_path):
    """The 0-d mean reshaped to [1, 1, 1, 1] for the Clip's broadcast: sink_reshape gives the same float
    answer and moves nothing across it (it has no channel axis to keep)."""
    path = _export("scalar", "ts13", tmp_path / "scalar.onnx")
    g = canonical_before(import_model(path), sink_reshape)
    zero_d = [n for n in g.nodes if n.op == "Reshape" and g.tensors[n.inputs[0]].shape == ()]
    assert zero_d, [(n.op, g.tensors[n.inputs[0]].shape) for n in g.nodes]
    after = check_float_pass(sink_reshape, g, _photos(3, 12)[:, None])
    assert [n.op for n in after.nodes] == [n.op for n in g.nodes]
