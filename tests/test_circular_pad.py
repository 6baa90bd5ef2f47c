"""Circular padding (Conv2d(padding_mode="circular"), common in models of periodic signals and
panoramas): the dynamo exporter writes ONNX Pad mode "wrap", the TorchScript exporter Slices and a
Concat.  Both import as the same copies, build bit-exact and plan the same arena."""
import warnings

import numpy as np
import torch
from torch import nn

from conftest import require
from edgec.driver.build import build
from edgec.verification.verify import verify

warnings.filterwarnings("ignore", module="torch")


class Ring(nn.Module):
    """A 1-D ring of sensors read as a 2-D map: circular convs around the ring, a plain one across it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 6, 3, padding=1, padding_mode="circular")
        self.b = nn.Conv2d(6, 6, (1, 5), padding=(0, 2), padding_mode="circular")
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        y = torch.relu(self.b(torch.relu(self.a(x))))
        return self.head(y.mean((2, 3)))


def test_circular_padding_from_both_exporters_is_bit_exact_and_plans_one_arena(tmp_path):
    require("cc")
    torch.manual_seed(0)
    model = Ring().eval()
    x = np.random.default_rng(1).uniform(-1, 1, (12, 2, 6, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    arenas = []
    for dynamo in (False, True):
        path = str(tmp_path / f"ring{int(dynamo)}.onnx")
        torch.onnx.export(model, torch.from_numpy(x[:1]), path, dynamo=dynamo, opset_version=18 if dynamo else 13)
        out = str(tmp_path / f"out{int(dynamo)}")
        arenas.append(build(path, "host", out, str(tmp_path / "x.npy"))["totals"]["arena_bytes"])
        r = verify(out, "host", str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0, r
        assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]
    import onnx
    assert "wrap" in {a.s.decode() for n in onnx.load(str(tmp_path / "ring1.onnx")).graph.node if n.op_type == "Pad"
                      for a in n.attribute if a.name == "mode"}, "the dynamo export no longer writes Pad mode wrap"
    assert arenas[0] == arenas[1], arenas
