"""Models of several inputs and outputs (issue 18): sensor fusion (an image and a vector), detectors and
multi-task nets with several heads (one of them read again by a later layer), and a streaming step
exported with its state as an explicit input and output ((x, h) -> (y, h')).

Each is built by its framework here (a two-input Keras functional model, saved as .keras and exported
to ONNX by Keras itself; torch nets exported by both torch.onnx exporters), compiled with calibration
data in an .npz keyed by input name, and its C (one pointer per input and per output, in the model's
order) is held bit for bit against the integer reference, output by output, on the host and on the
emulated Cortex-M4; the float reference against the framework's own outputs.  What several inputs or
outputs cannot have yet (the model image, packages, mixed precision) is refused in one line."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from conftest import cli, one_line_error, require  # noqa: E402

from edgec.compiler import reference  # noqa: E402
from edgec.compiler.data import InputSamples  # noqa: E402
from edgec.driver.build import build  # noqa: E402
from edgec.verification.verify import Built, verify  # noqa: E402


def keras_fusion(path):
    """An image branch (conv) and a vector branch (dense) fused into class scores; the vector branch's
    features are a second output (and are read by the fusion layer)."""
    import keras
    keras.utils.set_random_seed(3)
    img, vec = keras.Input((8, 8, 1), name="img"), keras.Input((5,), name="vec")
    a = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu", name="conv")(img))
    b = keras.layers.Dense(6, activation="tanh", name="feat")(vec)
    y = keras.layers.Dense(3, name="cls")(keras.layers.Concatenate()([a, b]))
    m = keras.Model([img, vec], [y, b])
    m.save(path)
    return m


@pytest.fixture(scope="module")
def fusion(tmp_path_factory):
    d = tmp_path_factory.mktemp("fusion")
    m = keras_fusion(str(d / "fusion.keras"))
    rng = np.random.default_rng(0)
    x = {"img": rng.random((24, 8, 8, 1)).astype(np.float32), "vec": rng.normal(size=(24, 5)).astype(np.float32)}
    m([x["img"][:1], x["vec"][:1]])
    m.export(str(d / "fusion.onnx"), format="onnx")          # Keras' own ONNX export (torch backend)
    np.savez(d / "cal.npz", **x)
    np.savez(d / "swapped.npz", vec=x["vec"], img=x["img"])   # keys in another order: the names decide
    reps = {model: build(str(d / model), "host", str(d / f"out_{model.replace('.', '_')}"), str(d / "cal.npz"), name="fusion")
            for model in ("fusion.keras", "fusion.onnx")}
    return d, m, x, reps


def test_keras_two_inputs_two_outputs_and_its_onnx_export_are_bit_exact(fusion):
    d, m, x, reps = fusion
    want = [np.asarray(v) for v in m.predict([x["img"], x["vec"]], verbose=0)]
    for model, rep in reps.items():
        out = d / f"out_{model.replace('.', '_')}"
        assert [i["name"] for i in rep["inputs"]] == ["img", "vec"] and len(rep["outputs"]) == 2
        assert rep["totals"]["io_bytes"] == 64 + 5 + 3 + 6
        assert "one input and one output" in rep["image"]["refused"]
        h = (out / "model.h").read_text()
        outs = "int8_t *out_cls, int8_t *out_feat" if model.endswith(".keras") else "int8_t *out_"
        assert f"int edgec_fusion_run(const int8_t *in_img, const int8_t *in_vec, {outs}" in h
        for i, macro in zip(rep["inputs"], ("IMG", "VEC")):      # each input's own quantization, by name
            assert f"#define EDGEC_FUSION_INPUT_{macro}_ZERO_POINT ({i['zero_point']})" in h
        b = Built(str(out))
        got = reference.run_batch_outputs(b.float_graph, InputSamples({t: x[n] for t, n in zip(b.float_graph.inputs,
                                                                                                 ("img", "vec"))}))
        for w, o in zip(want, b.float_graph.outputs):          # the float reference is Keras' model
            np.testing.assert_allclose(got[o].reshape(w.shape), w, atol=2e-5)
        for cal in ("cal.npz",) + (("swapped.npz",) if model.endswith(".keras") else ()):
            r = verify(str(out), "host", str(d / cal))
            assert r["bit_exact"] and all(o["bit_exact"] for o in r["outputs"]), r
            assert min(o["float_agreement"]["sqnr_db"] for o in r["outputs"]) > 30, r["outputs"]


def test_several_io_inputs_are_refused_in_one_line(fusion, tmp_path):
    d, _, x, _ = fusion
    np.savez(tmp_path / "no_vec.npz", img=x["img"])
    r = cli("build", d / "fusion.keras", "-t", "host", "-o", tmp_path / "o", "-c", tmp_path / "no_vec.npz")
    one_line_error(r, "no array for input vec", "no_vec.npz", "it holds img")
    np.save(tmp_path / "img.npy", x["img"])
    one_line_error(cli("build", d / "fusion.keras", "-t", "host", "-o", tmp_path / "o", "-c", tmp_path / "img.npy"),
                   "2 inputs", "img, vec", ".npz")
    np.savez(tmp_path / "short.npz", img=x["img"], vec=x["vec"][:5])
    one_line_error(cli("build", d / "fusion.keras", "-t", "host", "-o", tmp_path / "o", "-c", tmp_path / "short.npz"),
                   "img: 24", "vec: 5")
    one_line_error(cli("build", d / "fusion.keras", "-t", "host", "-o", tmp_path / "o", "-c", d / "cal.npz",
                       "--min-sqnr", "30"), "mixed precision", "2 inputs and 2 outputs")
    built = d / "out_fusion_keras"
    one_line_error(cli("verify", built, "-i", tmp_path / "no_vec.npz"), "no array for input vec")
    one_line_error(cli("image", built), "one input and one output", "2 inputs and 2 outputs")
    assert cli("keygen", "-o", tmp_path / "keys").returncode == 0
    one_line_error(cli("package", built, "--name", "fusion", "--version", "1.0.0", "--key", tmp_path / "keys" / "signing.pem",
                       "-o", tmp_path / "p.tar.gz"), "one input and one output")
    r = cli("run", built, d / "cal.npz", "-o", tmp_path / "y.npz", "--json", check_json=True)
    with np.load(tmp_path / "y.npz") as z:                  # several outputs: an .npz keyed by output name
        assert sorted(z.files) == sorted(r["shape"]) == ["cls", "feat"] and z["cls"].shape == (24, 3)
        y = {k: z[k] for k in z.files}
    v = cli("verify", built, "-i", d / "cal.npz", "--json", check_json=True)
    assert v["bit_exact"] and [o["name"] for o in v["outputs"]] == ["cls", "feat"]
    from edgec.cli import api
    got = api.run(api.load(str(built)), {"vec": x["vec"][:4], "img": x["img"][:4]})    # {name: array} in, by name out
    assert all(np.array_equal(got[k], y[k][:4]) for k in y)


class Heads:
    """A detector-like net: a head read again by the next layer, a deeper head, and a second view of the
    first head (sigmoid) - three outputs made at different depths."""

    @staticmethod
    def make():
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(s):
                super().__init__()
                s.a, s.h1 = nn.Conv2d(2, 8, 3, 2, 1), nn.Conv2d(8, 4, 1)
                s.b, s.h2 = nn.Conv2d(4, 6, 3, 2, 1), nn.Linear(6 * 4 * 4, 5)

            def forward(s, x):
                h1 = s.h1(torch.relu(s.a(x)))
                return h1, s.h2(torch.relu(s.b(h1)).flatten(1)), torch.sigmoid(h1)
        torch.manual_seed(1)
        return Net().eval()


@pytest.mark.parametrize("dynamo", [False, True])
def test_torch_heads_one_read_again_are_bit_exact_per_output(tmp_path, dynamo):
    import torch
    net = Heads.make()
    path = str(tmp_path / "heads.onnx")
    torch.onnx.export(net, (torch.rand(1, 2, 16, 16),), path, dynamo=dynamo, input_names=["x"],
                      output_names=["boxes", "scores", "mask"], **({} if dynamo else {"opset_version": 13}))
    xs = np.random.default_rng(2).random((12, 2, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", xs)
    rep = build(path, "cortex-m4", str(tmp_path / "o"), str(tmp_path / "x.npy"))
    assert [o["name"] for o in rep["outputs"]] == ["boxes", "scores", "mask"]
    with torch.no_grad():
        want = net(torch.from_numpy(xs))
    b = Built(str(tmp_path / "o"))
    got = reference.run_batch_outputs(b.float_graph, xs)
    for w, o in zip(want, b.float_graph.outputs):
        np.testing.assert_allclose(got[o].reshape(w.shape), w.numpy(), atol=2e-5)
    targets = ["host"] + (["cortex-m4"] if dynamo else [])
    for target in targets:
        if target != "host":
            require("arm-none-eabi-gcc", "qemu-system-arm")
        r = verify(str(tmp_path / "o"), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"] and [o["bit_exact"] for o in r["outputs"]] == [True] * 3, (target, r)
        assert all(o["float_agreement"]["sqnr_db"] > 35 for o in r["outputs"]), r["outputs"]


FEEDBACK_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "model.h"
/* Firmware's loop over a stream: stdin holds the initial state, then the frames; h_next is copied into h. */
int main(void)
{
    static int8_t x[EDGEC_STEP_INPUT_X_SIZE], h[EDGEC_STEP_INPUT_H_SIZE], y[EDGEC_STEP_OUTPUT_Y_SIZE],
                  h_next[EDGEC_STEP_OUTPUT_H_NEXT_SIZE];
    if (fread(h, 1, sizeof h, stdin) != sizeof h)
        return 1;
    while (fread(x, 1, sizeof x, stdin) == sizeof x) {
        edgec_step_run(x, h, y, h_next);
        memcpy(h, h_next, sizeof h);
        fwrite(y, 1, sizeof y, stdout);
    }
    return 0;
}
"""


@pytest.mark.parametrize("dynamo", [False, True])
def test_gru_step_with_its_state_fed_back_is_bit_exact_over_a_stream(tmp_path, dynamo):
    """A GRU cell step (x, h) -> (y, h'), h' also read by the output layer, built with --state h=h_next:
    h and h' get one quantization, so the firmware's loop copies h' into h.  Calibrated on the states
    of real streams; 40 steps of that loop in C equal the integer reference's loop byte for byte."""
    import subprocess
    import torch
    import torch.nn as nn

    class Step(nn.Module):
        def __init__(s):
            super().__init__()
            s.cell, s.fc = nn.GRUCell(4, 8), nn.Linear(8, 3)

        def forward(s, x, h):
            h2 = s.cell(x, h)
            return s.fc(h2), h2
    torch.manual_seed(4)
    net = Step().eval()
    rng = np.random.default_rng(5)
    xs, hs = rng.normal(size=(4, 10, 4)).astype(np.float32), []
    with torch.no_grad():                             # the states the step sees on 4 streams of 10 frames
        for stream in xs:
            h = torch.zeros(1, 8)
            for x in stream:
                hs.append(h.numpy()[0])
                h = net(torch.from_numpy(x[None]), h)[1]
    np.savez(tmp_path / "cal.npz", x=xs.reshape(-1, 4), h=np.stack(hs))
    path = str(tmp_path / "step.onnx")
    torch.onnx.export(net, (torch.rand(1, 4), torch.rand(1, 8)), path, input_names=["x", "h"],
                      output_names=["y", "h_next"], dynamo=dynamo, **({} if dynamo else {"opset_version": 13}))
    out = tmp_path / "o"
    rep = build(path, "host", str(out), str(tmp_path / "cal.npz"), name="step", state=["h=h_next"])
    assert rep["state"] == [{"input": "h", "output": "h_next"}]
    ins, outs = {i["name"]: i for i in rep["inputs"]}, {o["name"]: o for o in rep["outputs"]}
    assert (ins["h"]["scale"], ins["h"]["zero_point"]) == (outs["h_next"]["scale"], outs["h_next"]["zero_point"])
    h_text = (out / "model.h").read_text()
    assert "int edgec_step_run(const int8_t *in_x, const int8_t *in_h, int8_t *out_y, int8_t *out_h_next);" in h_text
    assert "copy output h_next into input h" in h_text
    (tmp_path / "main.c").write_text(FEEDBACK_MAIN)
    exe = tmp_path / "loop"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{out}", str(tmp_path / "main.c"),
                    *map(str, sorted(out.glob("*.c"))), "-o", str(exe)], check=True)
    b = Built(str(out))
    g = b.int_graph
    frames = rng.normal(size=(40, 1, 4)).astype(np.float32)
    qx = b.quantize_input(InputSamples({g.inputs[0]: frames, g.inputs[1]: np.zeros((40, 1, 8), np.float32)}))
    h0 = np.full(8, ins["h"]["zero_point"], np.int8)             # real 0
    ran = subprocess.run([str(exe)], input=h0.tobytes() + qx.arrays[g.inputs[0]].tobytes(), capture_output=True, check=True)
    got = np.frombuffer(ran.stdout, np.int8).reshape(40, 3)
    hq, want = h0.reshape(1, 8), []                                # the integer reference's loop
    for qf in qx.arrays[g.inputs[0]]:
        r = reference.run(g, {g.inputs[0]: qf, g.inputs[1]: hq})
        want.append(r[g.outputs[0]].reshape(3))
        hq = r[g.outputs[1]]
    assert np.array_equal(got, np.stack(want))
    hf, yf = torch.zeros(1, 8), []
    with torch.no_grad():
        for x in frames:
            y, hf = net(torch.from_numpy(x), hf)
            yf.append(y.numpy()[0])
    deq = (got.astype(np.float64) - outs["y"]["zero_point"]) * outs["y"]["scale"]
    assert np.abs(deq - np.stack(yf)).max() < 0.15                 # 40 steps on, the stream still follows float
    one_line_error(cli("build", path, "-t", "host", "-o", tmp_path / "o2", "-c", tmp_path / "cal.npz", "--state", "h=y"),
                   "--state h=y", "8 values", "3")


def test_an_output_that_is_a_view_of_another_gets_its_own_buffer(tmp_path):
    """y2 = Reshape(y1), both outputs, and a third from the second input: the caller's buffers are three,
    so the Reshape that would alias its input is a copy into out_y2 (memory planning keeps each graph
    input and output its own group)."""
    from onnx import TensorProto, helper as h, numpy_helper as nh, save
    rng = np.random.default_rng(6)
    inits = [nh.from_array(rng.normal(0, .4, (4, 2, 3, 3)).astype(np.float32), "w"),
             nh.from_array(np.array([1, -1], np.int64), "shp"), nh.from_array(rng.normal(0, .4, (3, 2)).astype(np.float32), "wb")]
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["y1"]),
             h.make_node("Reshape", ["y1", "shp"], ["y2"]), h.make_node("MatMul", ["b", "wb"], ["m"]),
             h.make_node("Tanh", ["m"], ["y3"])]
    vi = h.make_tensor_value_info
    g = h.make_graph(nodes, "views", [vi("x", TensorProto.FLOAT, [1, 2, 4, 4]), vi("b", TensorProto.FLOAT, [1, 3])],
                     [vi("y1", TensorProto.FLOAT, [1, 4, 4, 4]), vi("y2", TensorProto.FLOAT, [1, 64]),
                      vi("y3", TensorProto.FLOAT, [1, 2])], inits)
    save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), str(tmp_path / "views.onnx"))
    np.savez(tmp_path / "c.npz", rng.random((8, 2, 4, 4)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32))
    rep = build(str(tmp_path / "views.onnx"), "host", str(tmp_path / "o"), str(tmp_path / "c.npz"))  # arr_0, arr_1: in order
    assert rep["totals"]["io_bytes"] == 32 + 3 + 64 + 64 + 2
    c = (tmp_path / "o" / "model.c").read_text()
    assert "int edgec_views_run(const int8_t *in_x, const int8_t *in_b, int8_t *out_y1, int8_t *out_y2, int8_t *out_y3)" in c
    assert "memcpy(out_y2, out_y1, 64);" in c
    r = verify(str(tmp_path / "o"), "host", str(tmp_path / "c.npz"))
    assert r["bit_exact"] and len(r["outputs"]) == 3, r
