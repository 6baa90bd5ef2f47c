"""Edge and reflect padding as a Pad of its own (issue 18, part 3 "Pad"): ReflectionPad2d /
ReplicationPad2d and F.pad(mode="reflect" | "replicate") before convolutions, as image-to-image and
audio models use them.  A conv pads with zeros, so neither folds into it (passes.fold_pad); the Pad runs
through edgec_pad_border_s8, which maps each output index to the input index it copies (the nearest
border element, or its mirror image about the border element), and is never tiled (its rows read
rows far from them).

Models, each from PyTorch's TorchScript (opset 13) and dynamo (opset 18) exporters: an image net with
a reflect pad before its first conv and an asymmetric replicate pad before its second, and a 1-D audio
net reflect-padding its time axis.  Each: float reference == onnxruntime, the C on the host == the
integer reference bit for bit, the int8 output within 30 dB of float; the image net also on the
emulated Cortex-M4."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import require
from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import verify
from testkit.zoo_mobile import ort_run

warnings.filterwarnings("ignore", module="torch")


class ImageNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 3)
        self.reflect, self.replicate = torch.nn.ReflectionPad2d(1), torch.nn.ReplicationPad2d((2, 0, 1, 1))

    def forward(self, x):
        return self.c2(self.replicate(torch.relu(self.c1(self.reflect(x)))))


class AudioNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv1d(10, 16, 5), torch.nn.Conv1d(16, 8, 3, stride=2)

    def forward(self, x):
        y = torch.relu(self.c1(F.pad(x, (2, 2), mode="reflect")))
        return self.c2(F.pad(y, (3, 1), mode="reflect")).mean(-1)


def _inputs(shape, n, seed):
    """Smooth random signals (sums of a few low-frequency waves), as images and audio features are."""
    rng = np.random.default_rng(seed)
    axes = np.meshgrid(*[np.linspace(0, 1, d) for d in shape[1:]], indexing="ij")
    xs = np.zeros((n,) + shape, np.float32)
    for i in range(n):
        for c in range(shape[0]):
            f = rng.uniform(0.5, 3, len(axes))
            xs[i, c] = np.sin(sum(2 * np.pi * fk * a for fk, a in zip(f, axes)) + rng.uniform(0, 6))
    return xs


@pytest.mark.parametrize("dynamo", [False, True])
@pytest.mark.parametrize("net,shape", [(ImageNet, (3, 16, 16)), (AudioNet, (10, 49))])
def test_reflect_and_edge_pads_before_convs_are_bit_exact(tmp_path, net, shape, dynamo):
    require("cc")
    torch.manual_seed(2)
    xs = _inputs(shape, 24, seed=7)
    path = tmp_path / "m.onnx"
    torch.onnx.export(net().eval(), (torch.from_numpy(xs[:1]),), str(path), dynamo=dynamo, opset_version=18 if dynamo else 13)
    g = canonicalize(import_model(str(path)))
    modes = sorted(n.attrs.get("mode", "constant") for n in g.nodes if n.op == "Pad")
    assert modes == (["edge", "reflect"] if net is ImageNet else ["reflect", "reflect"]), modes
    want = np.concatenate([ort_run(path, x[None]) for x in xs[:4]])
    got = reference.run_batch(g, xs[:4, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
    assert r["float_agreement"]["sqnr_db"] >= 30, r["float_agreement"]


def test_reflect_pad_is_bit_exact_on_the_emulated_cortex_m4(tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    torch.manual_seed(3)
    xs = _inputs((3, 16, 16), 6, seed=9)
    path = tmp_path / "m.onnx"
    torch.onnx.export(ImageNet().eval(), (torch.from_numpy(xs[:1]),), str(path), dynamo=False, opset_version=13)
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "cortex-m4", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "cortex-m4", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
