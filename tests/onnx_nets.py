"""Small ONNX graphs written with onnx.helper on SIZE x SIZE photo crops, and their three-way check:
float reference against onnxruntime, host C against the integer reference bit for bit, integer result
against float.  Shared by test_mobile_ops.py and test_reduce_min_sum.py (the op families mobile CNNs need)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler import reference
from edgec.driver.build import build
from edgec.verification.verify import Built, verify
from testkit.zoo_mobile import images, ort_run

SIZE = 16


def random_weights(rng, *shape, scale=0.4):
    """float32 normal weights times `scale`."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


class OnnxNet:
    """An onnx.helper graph under construction: input x [1, 3, SIZE, SIZE]."""

    def __init__(self, opset, seed=0):
        self.opset, self.rng = opset, np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, value):
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op, *inputs, **attrs):
        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"{op}_{self.n}", **attrs))
        return out

    def conv(self, x, cin, cout, k=3, **attrs):
        return self.op("Conv", x, self.const(random_weights(self.rng, cout, cin, k, k)),
                       self.const(random_weights(self.rng, cout, scale=0.1)), pads=[k // 2] * 4, **attrs)

    def reduce(self, op, x, axes, keepdims):
        """ReduceMean/ReduceMax the way the opset writes it: axes an attribute before 18, an input from 18."""
        if self.opset >= 18:
            return self.op(op, x, self.const(np.array(axes, np.int64)), keepdims=keepdims)
        return self.op(op, x, axes=axes, keepdims=keepdims)

    def save(self, path, y):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
        m = helper.make_model(helper.make_graph(self.nodes, "ops", [x], [], self.inits),
                              opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = 8
        shapes = {v.name: v for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
        m.graph.output.append(shapes[y])
        onnx.checker.check_model(m, full_check=True)
        onnx.save(m, str(path))
        return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A directory with calib.npy (48 crops, seed 21) and test.npy (12 crops, seed 22) of SIZE x SIZE photos."""
    d = tmp_path_factory.mktemp("photos")
    np.save(d / "calib.npy", images(SIZE, 48, seed=21))
    np.save(d / "test.npy", images(SIZE, 12, seed=22))
    return d


def check_photo_net(model_path, photos, out, min_sqnr=25.0):
    """float reference == onnxruntime (to float rounding), C on the host == integer reference bit for
    bit, integer output close to the float one.  Returns verify's result."""
    build(str(model_path), "cortex-m7", str(out), str(photos / "calib.npy"), ram="512K", flash="2M")
    xs = np.load(photos / "test.npy")
    want = ort_run(model_path, xs)
    b = Built(str(out))
    got = reference.run_batch(b.float_graph, xs[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    r = verify(str(out), "host", str(photos / "test.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
    assert r["float_agreement"]["sqnr_db"] >= min_sqnr, r["float_agreement"]
    return r
