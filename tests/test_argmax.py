"""ArgMax / ArgMin (issue 18: a classifier's last op): torch.argmax(logits, dim=1), keepdim both ways, from
both PyTorch exporters; ONNX ArgMax / ArgMin with select_last_index over an inner axis (ties made on
purpose by a Relu); Keras ops.argmax.  The C (host, and the emulated Cortex-M4 once) equals the integer
reference bit for bit; the float reference equals onnxruntime / Keras; the int8 index agrees with the
float index wherever the int8 logits do not tie (index_agreement, measured)."""
import os
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from conftest import onnx_file, require
from testkit.image_run import image_equals_reference
from edgec.compiler import reference
from edgec.driver.build import build
from edgec.verification.verify import Built, verify

os.environ.setdefault("KERAS_BACKEND", "torch")
warnings.filterwarnings("ignore", module="torch")


class Classifier(torch.nn.Module):
    """A small image classifier (conv, pool, conv, global average, 10 logits) ending in argmax."""

    def __init__(self, keep):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.keep = keep
        self.c1 = torch.nn.Conv2d(1, 6, 3, padding=1)
        self.c2 = torch.nn.Conv2d(6, 12, 3, padding=1)
        self.fc = torch.nn.Linear(12, 10)
        for m in (self.c1, self.c2, self.fc):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1

    def forward(self, x):
        y = torch.nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        logits = self.fc(torch.relu(self.c2(y)).mean((2, 3)))
        return torch.argmax(logits, dim=1, keepdim=self.keep)


def _ort(path, xs):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.stack([s.run(None, {s.get_inputs()[0].name: x[None]})[0][0] for x in xs])


@pytest.mark.parametrize("exporter,keep", [("torchscript", False), ("dynamo", True)])
def test_torch_argmax_classifier_is_bit_exact(tmp_path, exporter, keep):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    xs = np.random.default_rng(7).uniform(0, 1, (48, 1, 12, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    path = str(tmp_path / "m.onnx")
    net = Classifier(keep).eval()
    if exporter == "dynamo":
        torch.onnx.export(net, (torch.zeros(1, 1, 12, 12),), path, dynamo=True, opset_version=21, verbose=False)
    else:
        torch.onnx.export(net, (torch.zeros(1, 1, 12, 12),), path, dynamo=False, opset_version=13)
    out = tmp_path / "out"
    build(path, "cortex-m4", str(out), str(tmp_path / "x.npy"))
    b = Built(str(out))
    assert b.int_graph.nodes[-1].op == "ArgMax" and b.output_shape == ((1, 1) if keep else (1,))
    ref = reference.run_batch(b.float_graph, xs)
    assert np.array_equal(ref.reshape(-1), _ort(path, xs).reshape(-1))         # the float index is onnxruntime's
    with torch.no_grad():
        assert np.array_equal(ref.reshape(-1), net(torch.from_numpy(xs)).numpy().reshape(-1))
    for target in ("host", "cortex-m4") if exporter == "dynamo" else ("host",):
        r = verify(str(out), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 48, (target, r)
    assert image_equals_reference(str(out), xs[:4])              # the model image: kernel 34, argmax_s8
    agree = r["float_agreement"]["index_agreement"]
    assert agree >= 0.9, r["float_agreement"]
    print(f"{exporter}: index agreement {agree:.3f}")


@pytest.mark.parametrize("op,axis,keep,last", [("ArgMax", 1, 1, 1), ("ArgMin", -1, 0, 0)])
def test_onnx_arg_select_last_index_over_any_axis(tmp_path, op, axis, keep, last):
    """[1, 6, 5] -> Relu (exact zeros: ties) -> ArgMax over axis 1 (not the last: `inner` > 1) with
    select_last_index, or ArgMin over the last axis without keepdims: both tie rules, against onnxruntime."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [5, 5], np.random.default_rng(2).normal(0, 1, 25).tolist())
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node(op, ["r"], ["a"], axis=axis, keepdims=keep, select_last_index=last),
             helper.make_node("Cast", ["a"], ["y"], to=TensorProto.FLOAT)]
    y_shape = {("ArgMax", 1): [1, 1, 5], ("ArgMin", 0): [1, 6]}[op, keep]
    path = onnx_file(tmp_path, nodes, [1, 6, 5], y_shape, [w])
    xs = np.random.default_rng(4).normal(0, 1, (40, 6, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    out = tmp_path / "out"
    build(path, "host", str(out), str(tmp_path / "x.npy"))
    b = Built(str(out))
    assert op in [n.op for n in b.int_graph.nodes]
    ref = reference.run_batch(b.float_graph, xs)
    assert np.array_equal(ref.reshape(40, -1), _ort(path, xs).reshape(40, -1))
    q = b.expected(b.quantize_input(xs))
    tied = 5 if last else 0                       # an all-zero column (ArgMax) / a row of zeros' minimum (ArgMin)
    assert (q == tied).any() and q.max() <= 5
    r = verify(str(out), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0, r
    assert r["float_agreement"]["index_agreement"] >= 0.8, r["float_agreement"]


def test_keras_ops_argmax_is_bit_exact(tmp_path):
    import keras
    from keras import ops
    keras.utils.set_random_seed(5)
    i = keras.Input((10, 10, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu")(i)
    h = keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(i, ops.argmax(h, axis=-1))
    model.save(tmp_path / "m.keras")
    xs = np.random.default_rng(1).uniform(0, 1, (40, 10, 10, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    out = tmp_path / "out"
    build(str(tmp_path / "m.keras"), "host", str(out), str(tmp_path / "x.npy"))
    b = Built(str(out))
    assert b.int_graph.nodes[-1].op == "ArgMax"
    ref = reference.run_batch(b.float_graph, xs)
    assert np.array_equal(ref.reshape(-1), np.asarray(model.predict(xs, verbose=0)).reshape(-1))
    r = verify(str(out), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["float_agreement"]["index_agreement"] >= 0.9, r
    model.export(str(tmp_path / "m.onnx"), format="onnx", verbose=False)     # ArgMax, then a Cast to int32
    build(str(tmp_path / "m.onnx"), "host", str(tmp_path / "onnx"), str(tmp_path / "x.npy"))
    assert Built(str(tmp_path / "onnx")).int_graph.nodes[-1].op == "ArgMax"
    r = verify(str(tmp_path / "onnx"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["float_agreement"]["index_agreement"] >= 0.9, r


def test_an_argmax_over_more_than_128_entries_is_refused_by_name(tmp_path):
    nodes = [helper.make_node("ArgMax", ["x"], ["a"], axis=1, keepdims=1),
             helper.make_node("Cast", ["a"], ["y"], to=TensorProto.FLOAT)]
    path = onnx_file(tmp_path, nodes, [1, 200], [1, 1])
    from edgec.compiler.errors import EdgecError
    from edgec.compiler.importers.onnx import import_onnx
    with pytest.raises(EdgecError) as e:
        import_onnx(path)
    assert "ArgMax over 200 values" in str(e.value) and "128" in str(e.value)


@pytest.mark.parametrize("op,axis", [("ARG_MAX", -1), ("ARG_MIN", 1)])
def test_int8_tflite_arg_max_equals_tflite_micro(tmp_path, op, axis):
    """int8 ARG_MAX / ARG_MIN (int32 index output in the file) over the last or a middle axis, against
    TFLite Micro: the same indices, ties included (few distinct values make many)."""
    from testkit.tflite_models import int32_const, quant_tensor
    from testkit.tflite_writer import Model
    from testkit.tflm import tflm_stream
    from edgec.driver.build import tflite_graphs
    shape = (1, 6, 10)
    out_shape = tuple(d for i, d in enumerate(shape) if i != axis % 3)
    m = Model()
    x = quant_tensor(m, "x", shape, np.float32(0.05), -3)
    y = m.tensor("y", out_shape, np.int32)
    m.op(op, [x, int32_const(m, "axis", [axis])], [y], output_type=2)
    m.inputs, m.outputs = [x], [y]
    path = tmp_path / "a.tflite"
    path.write_bytes(m.bytes())
    rng = np.random.default_rng(12)
    xs = rng.integers(-6, 6, (12,) + shape).astype(np.int8)          # few values: ties
    want = tflm_stream(m.bytes(), xs).reshape((12,) + out_shape)
    _, q = tflite_graphs(str(path))
    assert np.array_equal(reference.run_batch(q, xs).reshape(want.shape), want)
    build(str(path), "host", str(tmp_path / "out"))
    c, _ = Built(str(tmp_path / "out")).execute("host", xs)
    assert np.array_equal(c.reshape(want.shape), want)
