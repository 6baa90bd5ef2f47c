"""Dynamic shapes: `--input-shape`, dims taken from the calibration data, shape subgraphs folded once
the shapes are known, and a refused model listing every reason (dynamic dims among them) at once.

The models are PyTorch modules exported here by the TorchScript-based exporter with dynamic batch,
height and width, and small graphs written with onnx.helper; their float reference is checked
against onnxruntime and their C bit for bit on the host."""
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.driver.build import build, import_model
from edgec.compiler.errors import InputDataError, UnsupportedOpError
from edgec.compiler.importers.builder import fix_input_shape, parse_input_shapes
from edgec.compiler.importers.runtime_float import why
from edgec.verification.verify import Built, verify
from edgec.compiler import reference
from conftest import require

EDGEC = [sys.executable, "-m", "edgec.cli.main"]


def edgec(*args):
    return subprocess.run(EDGEC + [str(a) for a in args], capture_output=True, text=True)


def _export(module, path, sample, opset=13):
    import torch
    torch.onnx.export(module.eval(), sample, str(path), dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "y": {0: "n"}}, opset_version=opset)
    return path


def _shape_net():
    """A CNN whose graph computes shapes at run time: Shape/Gather/Unsqueeze/Concat feed its Reshapes,
    arange + expand give Range/ConstantOfShape/Equal/Where/Expand, h // 2 a Div, and view(n, -1) the
    classic flatten."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv2d(3, 8, 3, padding=1, stride=2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 5)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            n, c, h, w = y.shape
            idx = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1)
            y = y + idx.expand(n, c, h, w) * 0.01
            y = y.reshape(n, c * 2, h // 2, -1)
            y = self.pool(y)
            return self.fc(y.view(y.size(0), -1))
    return Net()


@pytest.fixture(scope="module")
def shape_model(tmp_path_factory):
    import torch
    d = tmp_path_factory.mktemp("shapes")
    path = _export(_shape_net(), d / "shape_net.onnx", torch.randn(1, 3, 16, 16))
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Range", "ConstantOfShape", "Expand", "Where",
            "Equal", "Cast", "Div", "Mul"} <= ops, ops
    dims = [d.dim_param or d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["n", 3, "h", "w"]
    return d, path


def _ort(path, x):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": s[None]})[0] for s in x])


def test_dims_from_the_calibration_data_fold_the_shape_subgraph(shape_model):
    """The calibration data (N, 3, 48, 192) fixes h and w (the batch is 1): every shape computation
    folds to a constant, the float reference equals onnxruntime at that shape, the C is bit-exact."""
    require("cc")
    d, path = shape_model
    x = np.random.default_rng(0).uniform(-1, 1, (12, 3, 48, 192)).astype(np.float32)
    np.save(d / "calib48.npy", x)
    report = build(str(path), "cortex-m4", str(d / "out48"), str(d / "calib48.npy"))
    assert report["input"]["shape"] == [1, 3, 48, 192]
    built = Built(str(d / "out48"))
    assert {n.op for n in built.float_graph.nodes} <= {"Conv2D", "Add", "Transpose", "Reshape", "AvgPool2D",
                                                      "FullyConnected"}
    got = reference.run_batch(built.float_graph, x[:4, None]).reshape(4, 5)
    assert np.abs(got - _ort(path, x[:4])).max() < 1e-5
    r = verify(str(d / "out48"), "host", str(d / "calib48.npy"))
    assert r["bit_exact"] and r["float_agreement"]["sqnr_db"] > 25, r


def test_input_shape_option_builds_the_shape_it_names(shape_model):
    """--input-shape (unnamed, and by name) fixes the dims; the calibration data must then fit it."""
    d, path = shape_model
    x = np.random.default_rng(1).uniform(-1, 1, (8, 3, 32, 64)).astype(np.float32)
    np.save(d / "calib32.npy", x)
    for spec in ("1,3,32,64", "x=1,3,32,64"):
        r = edgec("build", path, "-o", d / "out32", "-c", d / "calib32.npy", "--input-shape", spec, "--json")
        assert r.returncode == 0, r.stderr
    built = Built(str(d / "out32"))
    assert list(built.input_shape) == [1, 3, 32, 64]
    got = reference.run_batch(built.float_graph, x[:3, None]).reshape(3, 5)
    assert np.abs(got - _ort(path, x[:3])).max() < 1e-5
    # a shape the calibration data does not fit is refused by the data check, naming both
    r = edgec("build", path, "-o", d / "bad", "-c", d / "calib32.npy", "--input-shape", "x=1,3,48,192")
    assert r.returncode == 2 and "(8, 3, 32, 64)" in r.stderr and "(1, 3, 48, 192)" in r.stderr, r.stderr


def test_nothing_fixing_a_dynamic_input_names_it_and_suggests_input_shape(shape_model, tmp_path):
    d, path = shape_model
    r = edgec("build", path, "-o", tmp_path / "o")                        # no calibration data: nothing fixes h, w
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert [l for l in lines if l.startswith("edgec: error")] == [
        "edgec: error: shape_net.onnx: the model cannot be compiled: 1 input(s) of dynamic shape"]
    assert lines[-1] == ("  input x [n, 3, h, w]: dimensions 2 (h), 3 (w) are dynamic and no calibration data fixes "
                         "them — give the shape with --input-shape x=1,3,H,W")
    np.save(tmp_path / "other.npy", np.zeros((4, 1, 8, 8), np.float32))
    r = edgec("build", path, "-o", tmp_path / "o", "-c", tmp_path / "other.npy")
    assert r.returncode == 2 and "the calibration data's shape (4, 1, 8, 8) does not fix them" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_a_refused_model_lists_every_reason_one_per_line(tmp_path):
    """Dynamic dims, unsupported ops by node name and an unsupported attribute value, all at once:
    nodes after an unsupported one are still checked (ONNX shape inference stands in for its output)."""
    import torch
    from torch import nn

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.pool = nn.MaxPool2d(2, dilation=2)      # dilated pooling: still refused
            self.fc = nn.Linear(8, 5)
            self.norm = nn.InstanceNorm2d(8)

        def forward(self, x):
            a = self.conv(x)
            y = self.pool(a * a.prod(1, keepdim=True))
            return self.fc(torch.logsumexp(self.norm(y), 2, keepdim=True).mean((2, 3)))
    path = _export(Bad(), tmp_path / "bad.onnx", torch.randn(1, 3, 16, 16))
    r = edgec("build", path, "-o", tmp_path / "o")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    head = [l for l in lines if l.startswith("edgec: error")]
    assert len(head) == 1 and head[0].startswith(
        "edgec: error: bad.onnx: the model cannot be compiled: 3 unsupported node(s), 1 input(s) of dynamic shape, "
        "1 unsupported attribute value(s) or use(s) — supported ONNX ops: "), head
    assert lines[lines.index(head[0]) + 1:] == [
        "  input x [n, 3, h, w]: dimensions 2 (h), 3 (w) are dynamic and no calibration data fixes them — give the "
        "shape with --input-shape x=1,3,H,W",
        "  node /ReduceProd (ReduceProd): unsupported op",
        "  node /pool/MaxPool (MaxPool): dilated pooling",
        "  node /norm/InstanceNormalization (InstanceNormalization): unsupported op" + why("InstanceNormalization"),
        "  node /ReduceLogSumExp (ReduceLogSumExp): unsupported op"]
    with pytest.raises(UnsupportedOpError) as e:               # the library: one exception, the same reasons
        import_model(str(path), input_shapes={"x": (1, 3, 16, 16)})
    assert e.value.reasons == ["node /ReduceProd (ReduceProd): unsupported op",
                               "node /pool/MaxPool (MaxPool): dilated pooling",
                               "node /norm/InstanceNormalization (InstanceNormalization): unsupported op"
                               + why("InstanceNormalization"),
                               "node /ReduceLogSumExp (ReduceLogSumExp): unsupported op"]


def _graph(nodes, inits, x_dims, y_dims, opset=13):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_dims)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_hand_written_shape_subgraph_folds(tmp_path, opset):
    """Shape with Slice, Squeeze, Size, Floor of a float Div, Ceil, Cast back to int64, ConstantOfShape
    with a value, Range and Expand compute a Reshape target and a bias; with x [?, 6, ?] from the data
    (N, 6, 4) they all fold and the result equals onnxruntime."""
    sq_axes = {"axes": [0]} if opset < 13 else {}
    sq_in = ["g0"] if opset < 13 else ["g0", "zero"]
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "one", "three"], ["hw"]),                      # [6, 4]
        helper.make_node("Gather", ["hw", "zero"], ["g0"]),                             # [6]
        helper.make_node("Squeeze", sq_in, ["c"], **sq_axes),                            # 6
        helper.make_node("Size", ["x"], ["numel"]),                                      # 24
        helper.make_node("Cast", ["numel"], ["numel_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["numel_f", "two_f"], ["half_f"]),                      # 12.0
        helper.make_node("Floor", ["half_f"], ["half_fl"]),
        helper.make_node("Ceil", ["half_fl"], ["half_c"]),
        helper.make_node("Cast", ["half_c"], ["half"], to=TensorProto.INT64),            # 12
        helper.make_node("Div", ["numel", "half"], ["k"]),                               # 2 (integer Div)
        helper.make_node("Unsqueeze", ["k"] + (["zero"] if opset >= 13 else []), ["k1"],
                         **({} if opset >= 13 else {"axes": [0]})),
        helper.make_node("Concat", ["one", "k1", "minus1"], ["target"], axis=0),         # [1, 2, -1]
        helper.make_node("Reshape", ["x", "target"], ["r"]),                             # [1, 2, 12]
        helper.make_node("ConstantOfShape", ["target_abs"], ["ones"],
                         value=numpy_helper.from_array(np.array([0.5], np.float32))),     # [1, 2, 12] of 0.5
        helper.make_node("Cast", ["c"], ["c_f"], to=TensorProto.FLOAT),
        helper.make_node("Range", ["zero_f", "c_f", "one_f"], ["ramp6"]),                # 0..5
        helper.make_node("Concat", ["ramp6", "ramp6"], ["ramp"], axis=0),                # 12 values
        helper.make_node("Expand", ["ramp", "target_abs"], ["bias"]),                     # [1, 2, 12]
        helper.make_node("Add", ["r", "bias"], ["rb"]),
        helper.make_node("Mul", ["rb", "ones"], ["y"]),
    ]
    inits = {"zero": np.array([0], np.int64), "one": np.array([1], np.int64),
             "three": np.array([3], np.int64), "minus1": np.array([-1], np.int64), "two_f": np.array(2.0, np.float32),
             "target_abs": np.array([1, 2, 12], np.int64), "zero_f": np.array(0.0, np.float32),
             "one_f": np.array(1.0, np.float32)}
    model = _graph(nodes, inits, ["n", 6, "t"], ["n", 2, 12], opset)
    onnx.checker.check_model(model)
    path = tmp_path / "hand.onnx"
    onnx.save(model, path)
    x = np.random.default_rng(2).standard_normal((5, 6, 4)).astype(np.float32)
    g = import_model(str(path), sample_shape=x.shape)
    assert g.tensors[g.inputs[0]].shape == (1, 6, 4)
    assert {n.op for n in g.nodes} <= {"Reshape", "Add", "Mul"}, [n.op for n in g.nodes]
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for s in x:
        want = sess.run(None, {"x": s[None]})[0]
        assert np.allclose(reference.run(g, s[None])[g.outputs[0]], want, atol=1e-6)


def test_input_shape_values_are_checked():
    assert parse_input_shapes(["1,3,48,192"]) == {None: (1, 3, 48, 192)}
    assert parse_input_shapes(["x=1,3,48,192", "mask=1,48"]) == {"x": (1, 3, 48, 192), "mask": (1, 48)}
    for bad in (["1,3,,4"], ["x=1,0,4"], ["=1,2"], ["x=1,2", "x=1,3"], ["1,2", "y=1,3"]):
        with pytest.raises(InputDataError, match="--input-shape"):
            parse_input_shapes(bad)


def test_input_shape_must_name_an_input_and_keep_its_static_dims(shape_model, tmp_path):
    d, path = shape_model
    with pytest.raises(InputDataError, match=r"--input-shape names image, which is not an input of the model \(its inputs: x\)"):
        import_model(str(path), input_shapes={"image": (1, 3, 8, 8)})
    with pytest.raises(InputDataError, match=r"does not fit input x, declared \[n, 3, h, w\] \(dimension 1 is 3\)"):
        import_model(str(path), input_shapes={"x": (1, 4, 8, 8)})
    with pytest.raises(InputDataError, match=r"--input-shape is for ONNX and Keras models"):
        import_model(str(tmp_path / "m.cfg"), input_shapes={None: (1, 8, 8, 3)})


def test_reasons_of_a_crafted_file_stop_at_a_bound(tmp_path):
    """Every reason of a real model is listed; a file of 5,000 unsupported nodes gets the first 200
    and how many more, not 5,000 lines."""
    from edgec.compiler.importers.onnx import MAX_REASONS
    nodes = [helper.make_node("Hardmax", ["x" if i == 0 else f"t{i - 1}"], [f"t{i}" if i < 4999 else "y"], name=f"s{i}",
                              axis=1) for i in range(5000)]
    path = tmp_path / "hardmaxes.onnx"
    onnx.save(_graph(nodes, {}, [1, 4], [1, 4]), path)
    with pytest.raises(UnsupportedOpError, match="the model cannot be compiled: 5,000 unsupported node") as e:
        import_model(str(path))
    assert len(e.value.reasons) == MAX_REASONS + 1 == 201
    assert e.value.reasons[0] == "node s0 (Hardmax): unsupported op" and e.value.reasons[-1] == "… and 4,800 more"


def test_the_suggested_shape_follows_the_inputs_layout_whatever_the_file_format():
    """An ONNX file written by Keras 3 declares an NHWC input [batch, ?, ?, 3]: the hint writes H, W where they
    are, not N, H (the first guess for an ONNX file was NCHW); a sequence [batch, ?, 10] is told its steps, T."""
    for declared, example in (([None, None, None, 3], "x=1,H,W,3"), ([None, 3, None, None], "x=1,3,H,W"),
                              ([None, None, 10], "x=1,T,10")):
        dims, reason = fix_input_shape("x", declared, None, None)
        assert reason.endswith(f"--input-shape {example}"), reason
        assert None not in dims
