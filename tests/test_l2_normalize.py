"""L2 normalization (issue 18: embedding nets end in F.normalize): TFLite's int8 L2Normalization kernel
(integer inverse square root, output scale 1/128) from F.normalize(x, dim=1) as both PyTorch exporters
spell it (ReduceL2 -> Clip(min=eps) -> Expand -> Div, fused by passes/fuse_l2_normalize.py), ONNX
LpNormalization and Keras UnitNormalization.  The C (host; the emulated Cortex-M4 once) equals the
integer reference bit for bit, the float reference equals onnxruntime / Keras, and the int8 output's
SQNR against the float model is measured.  An RMS norm (a mean of squares, not a sum) stays refused."""
import os
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from conftest import canonical_before, check_float_pass, onnx_file, require
from testkit.image_run import image_equals_reference
from edgec.compiler import reference
from edgec.compiler.errors import EdgecError
from edgec.compiler.importers.onnx import import_onnx
from edgec.driver.build import build
from edgec.passes.fuse_l2_normalize import fuse_l2_normalize
from edgec.verification.verify import Built, verify

os.environ.setdefault("KERAS_BACKEND", "torch")
warnings.filterwarnings("ignore", module="torch")


class Embedder(torch.nn.Module):
    """A small embedding net: a conv feature map normalized per pixel over its channels (dim=1 of NCHW),
    pooled, projected to a 16-d embedding and normalized (dim=1)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(9)
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 12, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(12, 16)
        for m in (self.c1, self.c2, self.fc):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.4
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1

    def forward(self, x):
        y = torch.nn.functional.normalize(torch.relu(self.c1(x)), dim=1)
        y = torch.relu(self.c2(y)).mean((2, 3))
        return torch.nn.functional.normalize(self.fc(y), dim=1)


def _export(net, shape, path, exporter):
    x = torch.zeros(shape)
    if exporter == "dynamo":
        torch.onnx.export(net, (x,), path, dynamo=True, opset_version=18, verbose=False)
    else:
        torch.onnx.export(net, (x,), path, dynamo=False, opset_version=13)
    return path


def _ort(path, xs):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.stack([s.run(None, {s.get_inputs()[0].name: x[None]})[0][0] for x in xs])


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_f_normalize_embedding_is_bit_exact(tmp_path, exporter):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    xs = np.random.default_rng(3).uniform(0, 1, (32, 3, 12, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    path = _export(Embedder().eval(), (1, 3, 12, 12), str(tmp_path / "m.onnx"), exporter)
    out = tmp_path / "out"
    build(path, "cortex-m4", str(out), str(tmp_path / "x.npy"))
    b = Built(str(out))
    ops = [n.op for n in b.int_graph.nodes]
    assert ops.count("L2Normalize") == 2 and "ReduceL2" not in ops and "Elementwise" not in ops, ops
    assert [n.attrs["axis"] for n in b.int_graph.nodes if n.op == "L2Normalize"] == [3, 1]    # NHWC channels, features
    ref = reference.run_batch(b.float_graph, xs)
    np.testing.assert_allclose(ref.reshape(32, -1), _ort(path, xs).reshape(32, -1), atol=1e-5)
    q = b.int_graph.tensors[b.int_graph.outputs[0]].quant
    assert (float(q.scalar_scale), q.scalar_zp) == (1 / 128, 0)
    for target in ("host", "cortex-m4") if exporter == "dynamo" else ("host",):
        r = verify(str(out), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 32, (target, r)
    assert r["float_agreement"]["sqnr_db"] > 25, r["float_agreement"]
    assert image_equals_reference(str(out), xs[:4])              # the model image: kernel 35, l2norm_s8
    print(f"{exporter}: SQNR {r['float_agreement']['sqnr_db']} dB")


def test_the_pass_keeps_the_float_answer_and_leaves_rms_norm_alone(tmp_path):
    """fuse_l2_normalize before/after on the imported graph; an RMS norm x / sqrt(mean(x^2) + eps) (a mean,
    not the L2 form) is not fused and is still refused as a normalization by its own input."""
    path = _export(Embedder().eval(), (1, 3, 12, 12), str(tmp_path / "m.onnx"), "torchscript")
    g = canonical_before(import_onnx(path), fuse_l2_normalize)
    xs = np.random.default_rng(0).uniform(0, 1, (4, 3, 12, 12)).astype(np.float32)
    after = check_float_pass(fuse_l2_normalize, g, xs)
    assert [n.op for n in after.nodes].count("L2Normalize") == 2

    class RMS(torch.nn.Module):
        def forward(self, x):
            return x / torch.sqrt((x * x).mean(1, keepdim=True) + 1e-6)
    rms = _export(RMS(), (1, 8), str(tmp_path / "rms.onnx"), "torchscript")
    np.save(tmp_path / "r.npy", np.random.default_rng(1).normal(0, 1, (8, 8)).astype(np.float32))
    with pytest.raises(EdgecError) as e:
        build(rms, "host", str(tmp_path / "rms"), str(tmp_path / "r.npy"))
    assert "normaliz" in str(e.value), str(e.value)


def test_onnx_lp_normalization_and_keras_unit_normalization_are_bit_exact(tmp_path):
    import keras
    w = helper.make_tensor("w", TensorProto.FLOAT, [6, 4, 1, 1], np.random.default_rng(2).normal(0, 1, 24).tolist())
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"]),
             helper.make_node("LpNormalization", ["h"], ["y"], axis=1, p=2)]
    path = onnx_file(tmp_path, nodes, [1, 4, 5, 5], [1, 6, 5, 5], [w])
    xs = np.random.default_rng(4).normal(0, 1, (24, 4, 5, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    build(path, "host", str(tmp_path / "lp"), str(tmp_path / "x.npy"))
    b = Built(str(tmp_path / "lp"))
    assert "L2Normalize" in [n.op for n in b.int_graph.nodes]
    np.testing.assert_allclose(reference.run_batch(b.float_graph, xs).reshape(24, -1), _ort(path, xs).reshape(24, -1), atol=1e-5)
    r = verify(str(tmp_path / "lp"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["float_agreement"]["sqnr_db"] > 25, r

    keras.utils.set_random_seed(2)
    i = keras.Input((10,))
    h = keras.layers.Dense(12, activation="relu")(i)
    model = keras.Model(i, keras.layers.UnitNormalization()(keras.layers.Dense(8)(h)))
    model.save(tmp_path / "k.keras")
    ks = np.random.default_rng(5).normal(0, 1, (40, 10)).astype(np.float32)
    np.save(tmp_path / "k.npy", ks)
    build(str(tmp_path / "k.keras"), "host", str(tmp_path / "k"), str(tmp_path / "k.npy"))
    b = Built(str(tmp_path / "k"))
    assert b.int_graph.nodes[-1].op == "L2Normalize"
    np.testing.assert_allclose(reference.run_batch(b.float_graph, ks).reshape(40, -1), model.predict(ks, verbose=0), atol=1e-5)
    r = verify(str(tmp_path / "k"), "host", str(tmp_path / "k.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["float_agreement"]["sqnr_db"] > 25, r
    sqnr = r["float_agreement"]["sqnr_db"]
    # its ONNX export spells it x * min(1 / sqrt(sum(x * x)), 1e12): not the L2 form, it compiles as a table of
    # the sum and an int8 Mul (no L2Normalize), and is bit-exact too
    model.export(str(tmp_path / "k.onnx"), format="onnx", verbose=False)
    build(str(tmp_path / "k.onnx"), "host", str(tmp_path / "ko"), str(tmp_path / "k.npy"))
    r = verify(str(tmp_path / "ko"), "host", str(tmp_path / "k.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["float_agreement"]["sqnr_db"] > 25, r
    print(f"Keras UnitNormalization: .keras {sqnr} dB (L2Normalize), ONNX export {r['float_agreement']['sqnr_db']} dB")


@pytest.mark.parametrize("seed", range(4))
def test_int8_tflite_l2_normalization_equals_tflite_micro(tmp_path, seed):
    """int8 L2_NORMALIZATION over the last axis of random shapes, input scales and zero points (rows
    near the zero point too: the inverse square root's small-sum branch), against TFLite Micro; and the
    float .tflite's float reference against x / max(||x||, 1e-6)."""
    from testkit.tflite_models import quant_tensor
    from testkit.tflite_writer import Model
    from testkit.tflm import check_one_op, int8_inputs
    rng = np.random.default_rng(70 + seed)
    shape = ((1, 16), (1, 3, 5, 8), (2, 7, 300), (1, 4, 4, 1))[seed]
    m = Model()
    zp = int(rng.integers(-40, 40))
    x = quant_tensor(m, "x", shape, np.float32(rng.uniform(0.01, 0.2)), zp)
    y = quant_tensor(m, "y", shape, np.float32(1 / 128), 0)
    m.op("L2_NORMALIZATION", [x], [y])
    m.inputs, m.outputs = [x], [y]
    xs = int8_inputs(rng, shape, 6)
    xs[0] = zp                                                           # a zero vector
    xs[1] = np.clip(zp + rng.integers(-1, 2, shape), -128, 127)          # sums of squares of 0, 1, 2 ...
    q = check_one_op(tmp_path, m.bytes(), xs, f"l2norm{seed}")
    assert [n.op for n in q.nodes] == ["L2Normalize"]

    f = Model()
    fx, fy = f.tensor("x", (1, 6), np.float32), f.tensor("y", (1, 6), np.float32)
    f.op("L2_NORMALIZATION", [fx], [fy])
    f.inputs, f.outputs = [fx], [fy]
    (tmp_path / "f.tflite").write_bytes(f.bytes())
    from edgec.driver.build import tflite_graphs
    g, _ = tflite_graphs(str(tmp_path / "f.tflite"))
    v = rng.normal(0, 1, (1, 6)).astype(np.float32)
    np.testing.assert_allclose(reference.run(g, v)[g.outputs[0]], v / np.linalg.norm(v), rtol=1e-6)
