"""ONNX ReduceMin and ReduceSum (compiler/importers/onnx_reduce.py: -ReduceMax(-x) and N * ReduceMean)
over a feature map's H,W and over its channels, keepdims either way, with the axes as each opset writes
them (ReduceSum's are an input from opset 13, ReduceMin's from 18), in a hand-written graph and in a
PyTorch block (torch.amin / amax, sum) from both exporters.  Each: float reference == onnxruntime, C on
the host == integer reference bit for bit, integer output within 25 dB SQNR of float."""
import numpy as np
import onnx
import pytest

from conftest import require
from onnx_nets import SIZE, OnnxNet, check_photo_net, photos  # noqa: F401  (photos: the calibration fixture)
from testkit.zoo_mobile import export


def _reduce(n, op, x, axes, keepdims):
    """The axes as the opset writes them: an input for ReduceSum from 13 and for every Reduce from 18."""
    if n.opset >= 18 or (op == "ReduceSum" and n.opset >= 13):
        return n.op(op, x, n.const(np.array(axes, np.int64)), keepdims=keepdims)
    return n.op(op, x, axes=axes, keepdims=keepdims)


def min_sum_net(path, opset):
    """Per-channel minimum over H,W (keepdims), a spatial gate from the sum over the
    channels (keepdims), the minimum over the channels (no keepdims) as a second gate, and the sum over
    H,W (no keepdims) less the first minimum as the output."""
    n = OnnxNet(opset, 7)
    a = n.conv("x", 3, 8)
    low = _reduce(n, "ReduceMin", a, [2, 3], 1)                                        # [1, 8, 1, 1]
    shifted = n.op("Mul", n.op("Flatten", low), n.const(np.float32(-1.0)))            # [1, 8]
    gate = n.op("Sigmoid", _reduce(n, "ReduceSum", n.op("Relu", a), [1], 1))             # [1, 1, H, W]
    b = n.op("Mul", n.conv(n.op("Relu", n.op("Mul", a, gate)), 8, 8, k=1), n.const(np.float32(0.5)))
    floor = _reduce(n, "ReduceMin", b, [1], 0)                                          # [1, H, W]
    c = n.op("Mul", b, n.op("Unsqueeze", n.op("Sigmoid", floor), n.const(np.array([1], np.int64))))
    total = _reduce(n, "ReduceSum", c, [2, 3], 0)                                       # [1, 8]
    return n.save(path, n.op("Add", total, shifted))


@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_min_and_sum_net_matches_onnxruntime_and_is_bit_exact(tmp_path, photos, opset):
    require("cc")
    path = min_sum_net(tmp_path / "minsum.onnx", opset)
    ops = [n.op_type for n in onnx.load(path).graph.node]
    assert ops.count("ReduceMin") == 2 and ops.count("ReduceSum") == 2, ops
    check_photo_net(path, photos, tmp_path / "out")


def _range_block():
    """A block as users write one: the sum over the channels is a spatial weight; each output channel's
    range over the map (amax - amin) and the mean of the minimum over the channels join its sum."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(3)
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.head = nn.Conv2d(6, 4, 1)

        def forward(self, x):
            a = self.conv(x)
            w = torch.sigmoid(torch.relu(a).sum(1, keepdim=True))
            y = self.head(a * w)
            span = torch.amax(y, dim=(2, 3)) - torch.amin(y, dim=(2, 3))
            floor = torch.amin(y, dim=1).mean((1, 2)).unsqueeze(1)
            return y.sum(dim=(2, 3)) / 64 + span + floor
    return Block().eval()


@pytest.mark.parametrize("exporter", ["ts13", "dynamo"])
def test_pytorch_amin_and_sum_from_both_exporters(tmp_path, photos, exporter):
    require("cc")
    path = export(_range_block(), SIZE, tmp_path / "block.onnx", exporter)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"ReduceMin", "ReduceSum", "ReduceMax"} <= ops, ops
    check_photo_net(path, photos, tmp_path / "out")
