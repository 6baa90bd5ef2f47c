"""A channels-first (PyTorch) model's input Transpose runs band by band (issues 18/22: RAM independent
of the exporter).  edgec keeps feature maps NHWC, so an NCHW graph starts with Transpose(NCHW -> NHWC);
that op is row-local in H (compiler/ops/layout.py transpose_window), so a patch-based stage
(passes/tile.py) starts with it (edgec_transpose_rows_s8) and the transposed input never sits whole in
the arena.  A small CNN on a 3 x 96 x 96 input with a stride-2 stem, from both PyTorch exporters,
against the same network exported with an NHWC input (no Transpose in its graph): bit-exact on the
host and on the emulated Cortex-M4."""
import warnings

import numpy as np
import torch

from conftest import require
from edgec.driver.build import build
from edgec.verification.verify import Built, verify

warnings.filterwarnings("ignore", module="torch")
SHAPE = (1, 3, 96, 96)


class StemNet(torch.nn.Module):
    """Stride-2 3 x 3 stem, depthwise-separable block, max pool, stride-2 conv, global pool, classifier."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(11)
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = torch.nn.Conv2d(8, 16, 1)
        self.down = torch.nn.Conv2d(16, 24, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(24, 5)
        for m in (self.stem, self.dw, self.pw, self.down, self.fc):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.4
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1

    def forward(self, x):
        y = torch.relu(self.stem(x))
        y = torch.relu(self.pw(torch.relu(self.dw(y))))
        y = torch.nn.functional.max_pool2d(y, 2)
        y = torch.relu(self.down(y))
        return self.fc(y.mean((2, 3)))


class ChannelsLast(torch.nn.Module):
    """The same network taking NHWC: its export's Transpose to NCHW cancels against edgec's own."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.permute(0, 3, 1, 2))


def export(model, shape, path, exporter):
    x = torch.zeros(shape)
    if exporter == "dynamo":
        torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=18, verbose=False)
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=13)
    return str(path)


def test_an_nchw_input_is_transposed_band_by_band_and_bit_exact(tmp_path):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    net = StemNet().eval()
    rng = np.random.default_rng(5)
    xs = rng.uniform(0, 1, (16,) + SHAPE[1:]).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    np.save(tmp_path / "x_nhwc.npy", np.ascontiguousarray(xs.transpose(0, 2, 3, 1)))
    np.save(tmp_path / "check.npy", xs[:3])
    nhwc = build(export(ChannelsLast(net), (1, 96, 96, 3), tmp_path / "nhwc.onnx", "torchscript"), "cortex-m4",
                 str(tmp_path / "nhwc"), str(tmp_path / "x_nhwc.npy"))["totals"]["arena_bytes"]
    assert "transpose" not in (tmp_path / "nhwc" / "model.c").read_text()
    for exporter in ("torchscript", "dynamo"):
        out = tmp_path / exporter
        report = build(export(net, SHAPE, tmp_path / f"{exporter}.onnx", exporter), "cortex-m4", str(out),
                       str(tmp_path / "x.npy"))
        g = Built(str(out)).int_graph
        first = g.nodes[0]
        assert first.op == "Transpose" and tuple(first.attrs["perm"]) == (0, 2, 3, 1), first
        stage = g.tiling[0]
        assert stage["nodes"][0] == first.name and len(stage["nodes"]) > 1, stage
        t = g.tensors[first.outputs[0]]                       # the transposed input: only a band of it
        band = g.plan.buffers[t.name]["size"]
        assert band == stage["band_bytes"][0] < t.nbytes // 4, (band, t.nbytes)
        stem_out = g.tensors[g.nodes[1].outputs[0]].nbytes
        arena = report["totals"]["arena_bytes"]
        assert arena < t.nbytes + stem_out and arena <= nhwc + band, (arena, nhwc, band, t.nbytes, stem_out)
        assert "edgec_transpose_rows_s8(" in (out / "model.c").read_text()
        for target in ("host", "cortex-m4"):
            r = verify(str(out), target, str(tmp_path / "check.npy"))
            assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 3, (exporter, target, r)
