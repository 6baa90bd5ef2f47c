"""DepthToSpace (the first op added through the op registry, compiler/ops/depth_to_space.py): a sub-pixel
convolution head (conv to b*b*C' channels, DepthToSpace, conv) in ONNX's DCR and CRD channel orders and
two block sizes: the float reference equals onnxruntime, the generated C equals the integer reference
bit for bit on the host (sanitizers on), calibrated on real photo crops."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.compiler.errors import EdgecError
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import verify
from conftest import extra, onnx_file, require


def _model(tmp_path, block, mode, c_out=2, size=6):
    rng = np.random.default_rng(block * 7 + len(mode))
    c_mid = block * block * c_out
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, (c_mid, 3, 3, 3), rng.normal(0, 0.4, (c_mid, 3, 3, 3)).ravel())
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, (3, c_out, 3, 3), rng.normal(0, 0.4, (3, c_out, 3, 3)).ravel())
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("DepthToSpace", ["r"], ["d"], blocksize=block, mode=mode),
             helper.make_node("Conv", ["d", "w2"], ["y"], pads=[1, 1, 1, 1])]
    return onnx_file(tmp_path, nodes, [1, 3, size, size], [1, 3, size * block, size * block], [w1, w2],
                     name=f"d2s_{block}_{mode}")


def _photos(size):
    x = extra("vww_crops")[:16, :size, :size].astype(np.float32) / 255
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("block,mode", [(2, "DCR"), (2, "CRD"), (3, "DCR"), (3, "CRD")])
def test_depth_to_space_matches_onnxruntime_and_c_is_bit_exact(tmp_path, block, mode):
    require("cc")
    path = _model(tmp_path, block, mode)
    x = _photos(6)
    sess = ort.InferenceSession(path)
    want = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    g = canonicalize(import_model(path))
    assert [n.op for n in g.nodes if n.op == "DepthToSpace"] == ["DepthToSpace"]
    got = reference.run_batch(g, x[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.save(tmp_path / "x.npy", x)
    report = build(path, "host", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    assert "edgec_depth_to_space_s8.c" in (tmp_path / "out" / "edgec.mk").read_text(), report
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(x), r
    assert r["float_agreement"]["sqnr_db"] >= 25, r


def test_depth_to_space_block_must_divide_the_channels(tmp_path):
    """A block whose square does not divide the channels is refused by the op's check, naming the node."""
    path = _model(tmp_path, 2, "DCR")
    m = onnx.load(path)
    m.graph.node[2].attribute[0].i = 3           # blocksize 3 over 8 channels
    onnx.save(m, path)
    with pytest.raises(EdgecError, match=r"DepthToSpace block 3 does not divide 8 channels"):
        import_model(path)
