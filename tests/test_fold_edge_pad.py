"""Edge (replicate) padding before max pools: Keras 3 on PyTorch writes a "same" pool whose padding is
asymmetric (stride 2 over an even size, the ShuffleNet / ResNet stem pool) as Pad(mode="replicate")
then a valid pool, and its ONNX export carries Pad mode="edge".  fold_pad folds it into the max pool,
exact because every window of the pool reads a real element and so holds the border value each
repeated one copies.  A replicate Pad that cannot fold (before an average pool, which counts it) runs
as an edge Pad of its own (tests/test_border_pad.py has the edge and reflect Pad kernel).

Models here: a Keras 3 net with MaxPooling2D(padding="same") over an even and an odd size exported by
Keras to ONNX, and a PyTorch net with F.pad(mode="replicate") before max pools (one fold, one whose
windows would read only padding and must stay) exported by the TorchScript exporter."""
import os

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

os.environ.setdefault("KERAS_BACKEND", "torch")

from edgec.compiler import reference  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.passes.fold_pad import fold_pad  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402
from conftest import cli, canonical_before, require  # noqa: E402
from testkit.zoo_mobile import images  # noqa: E402



def _ort(path, xs):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {sess.get_inputs()[0].name: x[None]})[0] for x in xs])


def _keras_pool_net(avg=False):
    import keras
    keras.utils.set_random_seed(3)
    L = keras.layers
    i = keras.Input((32, 32, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same")(i)                   # signed values: a zero pad could win
    x = (L.AveragePooling2D if avg else L.MaxPooling2D)(3, 2, padding="same", name="pool_even")(x)   # 16 -> 8
    x = L.Conv2D(8, 3, padding="valid", activation="relu")(x)           # 8 -> 6
    x = L.MaxPooling2D(2, 2, padding="same", name="pool_odd")(L.Cropping2D(((0, 1), (0, 1)))(x))  # 5 -> 3
    return keras.Model(i, L.Dense(5)(L.Flatten()(x)))


def test_keras_same_max_pool_export_folds_and_is_bit_exact(tmp_path):
    """The edge Pads of Keras's ONNX export fold into the max pools (none left), the float graph equals
    onnxruntime, fold_pad's before/after give the same answer, and the C is bit-exact on the host."""
    require("cc")
    model = _keras_pool_net()
    xs = np.ascontiguousarray(images(32, 24, seed=5).transpose(0, 2, 3, 1))
    model.predict(xs[:1], verbose=0)
    path = tmp_path / "pools.onnx"
    model.export(str(path), format="onnx", verbose=False)
    g = canonical_before(import_model(str(path)), fold_pad)
    edge = [n for n in g.nodes if n.op == "Pad" and n.attrs.get("mode") == "edge"]
    assert len(edge) >= 2, [(n.op, n.attrs) for n in g.nodes]
    after = fold_pad(g)
    assert not [n for n in after.nodes if n.op == "Pad"], [(n.op, n.attrs) for n in after.nodes]
    assert any(sum(n.attrs["pads"]) for n in after.nodes if n.op == "MaxPool2D")
    for x in xs[:3]:
        want = reference.run(g, x[None])[g.outputs[0]]
        got = reference.run(after, x[None])[after.outputs[0]]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    canon = canonicalize(import_model(str(path)))
    want = _ort(path, xs[:4])
    got = reference.run_batch(canon, xs[:4, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r


class ReplicateNet(torch.nn.Module):
    def forward(self, x):
        y = torch.nn.functional.conv2d(x, torch.full((6, 3, 3, 3), 0.1) - torch.eye(3).repeat(2, 1)[:, :, None, None]
                                       .expand(6, 3, 3, 3) * 0.2)
        a = F.max_pool2d(F.pad(y, (1, 2, 0, 1), mode="replicate"), 3, 2)       # folds: every window reads y
        b = F.max_pool2d(F.pad(y, (0, 0, 2, 0), mode="replicate"), 2, 2)       # top window reads only padding
        return a.mean((2, 3)) + b.mean((2, 3))


def test_torch_replicate_pad_folds_only_where_every_window_reads_the_input(tmp_path):
    require("cc")
    xs = np.random.default_rng(4).standard_normal((16, 3, 18, 18)).astype(np.float32)
    path = tmp_path / "rep.onnx"
    torch.onnx.export(ReplicateNet().eval(), torch.from_numpy(xs[:1]), str(path), dynamo=False, opset_version=13)
    g = canonical_before(import_model(str(path)), fold_pad)
    after = fold_pad(g)
    kept = [n for n in after.nodes if n.op == "Pad"]
    assert len(kept) == 1 and kept[0].attrs["mode"] == "edge", [(n.op, n.attrs) for n in after.nodes]
    for x in xs[:3]:
        np.testing.assert_allclose(reference.run(after, x[None])[after.outputs[0]], reference.run(g, x[None])[g.outputs[0]],
                                   rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        want = ReplicateNet()(torch.from_numpy(xs[:3])).numpy()
    got = reference.run_batch(canonicalize(import_model(str(path))), xs[:3, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))   # the Pad that stays runs
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r


def test_keras_same_average_pool_with_edge_padding_runs_its_pad(tmp_path):
    """An average pool counts the repeated border, so its edge Pad cannot fold: it runs as an edge Pad
    of its own, bit-exact, with the float answer of onnxruntime."""
    model = _keras_pool_net(avg=True)
    xs = np.ascontiguousarray(images(32, 4, seed=5).transpose(0, 2, 3, 1))
    model.predict(xs[:1], verbose=0)
    path = tmp_path / "avg.onnx"
    model.export(str(path), format="onnx", verbose=False)
    canon = canonicalize(import_model(str(path)))
    assert [n.attrs["mode"] for n in canon.nodes if n.op == "Pad"] == ["edge"], [(n.op, n.attrs) for n in canon.nodes]
    want = _ort(path, xs[:4])
    got = reference.run_batch(canon, xs[:4, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    np.save(tmp_path / "x.npy", xs)
    r = cli("build", str(path), "--target", "host", "-o", str(tmp_path / "o"), "--calibration", str(tmp_path / "x.npy"))
    assert r.returncode == 0, r.stderr
    r = verify(str(tmp_path / "o"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
