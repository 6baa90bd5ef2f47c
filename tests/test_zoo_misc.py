"""Issue 18 part 6, second half: ShuffleNetV2 0.5x, SqueezeNet 1.1, a 1-D audio CNN and a small
Resize/ConvTranspose segmenter (tests/zoo_misc.py), exported by both PyTorch exporters (TorchScript
at opsets 13 and 17, dynamo), each built for cortex-m7 with --ram 512K --flash 2M on real calibration
data (VWW photo crops; KWS MFCC frames), float reference == onnxruntime, C bit-exact on the host (the
audio CNN also in QEMU on the Cortex-M7), float agreement top-1 >= 0.9 or SQNR >= 25 dB."""
import warnings

import numpy as np
import onnxruntime as ort
import pytest

import zoo_misc
from zoo_misc import audio
from conftest import data, extra, require
from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.passes.pipeline import canonicalize
from edgec.verification.verify import verify

warnings.filterwarnings("ignore", module="torch")


def images(size):
    x = np.concatenate([data("vww_input_float_0to1_NHWC.npy"), extra("vww_crops") / np.float32(255)])
    o = (96 - size) // 2
    return np.ascontiguousarray(x[:, o:o + size, o:o + size].transpose(0, 3, 1, 2)).astype(np.float32)


CASES = [("audio_cnn", "torchscript", 13), ("audio_cnn", "torchscript", 17), ("audio_cnn", "dynamo", 18),
         ("tiny_seg", "torchscript", 13), ("tiny_seg", "torchscript", 17), ("tiny_seg", "dynamo", 18),
         ("shufflenet_v2_05", "torchscript", 13), ("shufflenet_v2_05", "dynamo", 18),
         ("squeezenet_11", "torchscript", 17), ("squeezenet_11", "dynamo", 18)]


@pytest.mark.parametrize("name,exporter,opset", CASES)
def test_zoo_builds_for_cortex_m7_and_is_bit_exact(tmp_path, name, exporter, opset):
    require("cc")
    model, shape = zoo_misc.MODELS[name]()
    x = audio() if name == "audio_cnn" else images(shape[-1])
    path = zoo_misc.export(model, shape, tmp_path / f"{name}.onnx", exporter, opset)
    sess = ort.InferenceSession(path)
    check = x[:3]
    want = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: s[None]})[0] for s in check])
    got = reference.run_batch(canonicalize(import_model(path)), check[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    np.save(tmp_path / "cal.npy", x if name == "audio_cnn" else x[:12])     # the photo models: 12 real crops
    np.save(tmp_path / "check.npy", x[:8])
    report = build(path, "cortex-m7", str(tmp_path / "out"), str(tmp_path / "cal.npy"), ram="512K", flash="2M")
    assert report["totals"]["arena_bytes"] <= 512 * 1024
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "check.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 8, r
    fa = r["float_agreement"]
    assert fa.get("top1_agreement", 0) >= 0.9 or fa["sqnr_db"] >= 25, fa


def test_audio_cnn_is_bit_exact_on_the_emulated_cortex_m7(tmp_path):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    model, shape = zoo_misc.make_audio_cnn()
    path = zoo_misc.export(model, shape, tmp_path / "audio.onnx", "dynamo", 18)
    np.save(tmp_path / "x.npy", audio())
    build(path, "cortex-m7", str(tmp_path / "out"), str(tmp_path / "x.npy"), ram="512K", flash="2M")
    r = verify(str(tmp_path / "out"), "cortex-m7", str(tmp_path / "x.npy"))
    assert r["bit_exact"] and r["float_helpers"] == [] and r["samples"] == len(audio()), r
    assert r["instructions_per_inference"] > 0


@pytest.mark.parametrize("name", ["audio_cnn", "tiny_seg", "squeezenet_11", "shufflenet_v2_05"])
def test_keras_zoo_matches_keras_builds_for_cortex_m7_and_is_bit_exact(tmp_path, name):
    """The Keras 3 definitions (torch backend) saved as .keras: imported float == Keras's own
    output, then the same build and host check as the ONNX exports.  The ShuffleNet splits its
    channels with x[..., :c] (a GetItem op in config.json) and shuffles them with Reshape / Permute /
    Reshape."""
    require("cc")
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    keras.utils.set_random_seed(5)
    make, shape = zoo_misc.keras_models()[name]
    model = make()
    x = audio().transpose(0, 2, 1) if name == "audio_cnn" else images(shape[0]).transpose(0, 2, 3, 1)
    x = np.ascontiguousarray(x)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    want = np.asarray(model.predict(x[:3], verbose=0))
    got = reference.run_batch(import_model(str(path)), x[:3, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    np.save(tmp_path / "cal.npy", x if name == "audio_cnn" else x[:12])
    np.save(tmp_path / "check.npy", x[:8])
    report = build(str(path), "cortex-m7", str(tmp_path / "out"), str(tmp_path / "cal.npy"), ram="512K", flash="2M")
    assert report["totals"]["arena_bytes"] <= 512 * 1024
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "check.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 8, r
    fa = r["float_agreement"]
    assert fa.get("top1_agreement", 0) >= 0.9 or fa["sqnr_db"] >= 25, fa


def keras_onnx_export(tmp_path, name):
    """The zoo's Keras 3 definition `name` (torch backend, seeded) exported by Keras to ONNX (and saved
    as `name`.keras beside it): its path, the NHWC images it takes, and onnxruntime's outputs for the
    first three."""
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    keras.utils.set_random_seed(5)
    make, shape = zoo_misc.keras_models()[name]
    model = make()
    x = np.ascontiguousarray(images(shape[0]).transpose(0, 2, 3, 1))
    model.predict(x[:1], verbose=0)
    path = str(tmp_path / f"{name}.onnx")
    model.export(path, format="onnx", verbose=False)
    model.save(tmp_path / f"{name}.keras")
    sess = ort.InferenceSession(path)
    return path, x, np.concatenate([sess.run(None, {sess.get_inputs()[0].name: s[None]})[0] for s in x[:3]])


def test_keras_segmenter_exported_by_keras_to_onnx_is_bit_exact(tmp_path):
    """Keras 3's own ONNX export (model.export(format="onnx"), torch backend) of the segmenter: its
    Conv2DTranspose padding arithmetic (Mod, Where, Slice) folds, its nearest UpSampling2D arrives as
    Unsqueeze -> Expand -> Reshape of an activation; float == onnxruntime and the C is bit-exact."""
    require("cc")
    path, x, want = keras_onnx_export(tmp_path, "tiny_seg")
    got = reference.run_batch(canonicalize(import_model(path)), x[:3, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "cal.npy", x[:12])
    np.save(tmp_path / "check.npy", x[:8])
    build(path, "cortex-m7", str(tmp_path / "out"), str(tmp_path / "cal.npy"), ram="512K", flash="2M")
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "check.npy"))
    assert r["bit_exact"] and r["float_agreement"]["sqnr_db"] >= 25, r


@pytest.mark.parametrize("name", ["audio_cnn", "squeezenet_11"])
def test_keras_onnx_export_of_the_zoo_is_bit_exact_and_plans_the_keras_arena(tmp_path, name):
    """Keras 3's own ONNX export (torch backend, opset 20) of SqueezeNet 1.1 (fire modules' Concat,
    GlobalAveragePooling2D as ReduceMean) and of the 1-D audio CNN (Conv1D / DepthwiseConv1D /
    SeparableConv1D as Conv over an Unsqueeze'd axis, pools as MaxPool / AveragePool with Pad, a
    Shape/Gather/Concat subgraph for the batch): float == onnxruntime, the C bit-exact on the host,
    float agreement (top-1 >= 0.9 or SQNR >= 25 dB), and the same arena as the .keras file of the same
    model (within 5%: RAM does not depend on the exporter)."""
    require("cc")
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    keras.utils.set_random_seed(5)
    make, shape = zoo_misc.keras_models()[name]
    model = make()
    x = audio().transpose(0, 2, 1) if name == "audio_cnn" else images(shape[0]).transpose(0, 2, 3, 1)
    x = np.ascontiguousarray(x)
    model.predict(x[:1], verbose=0)
    path = str(tmp_path / f"{name}.onnx")
    model.export(path, format="onnx", verbose=False)
    model.save(tmp_path / f"{name}.keras")
    sess = ort.InferenceSession(path)
    want = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: s[None]})[0] for s in x[:3]])
    got = reference.run_batch(canonicalize(import_model(path)), x[:3, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))
    np.save(tmp_path / "cal.npy", x if name == "audio_cnn" else x[:12])
    np.save(tmp_path / "check.npy", x[:8])
    reports = {src: build(str(tmp_path / f"{name}.{src}"), "cortex-m7", str(tmp_path / src), str(tmp_path / "cal.npy"),
                          ram="512K", flash="2M") for src in ("onnx", "keras")}
    r = verify(str(tmp_path / "onnx"), "host", str(tmp_path / "check.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 8, r
    fa = r["float_agreement"]
    assert fa.get("top1_agreement", 0) >= 0.9 or fa["sqnr_db"] >= 25, fa
    a, b = reports["onnx"]["totals"], reports["keras"]["totals"]
    assert abs(a["arena_bytes"] - b["arena_bytes"]) <= 0.05 * b["arena_bytes"], (a, b)


def test_keras_getitem_it_cannot_take_is_listed_by_layer(tmp_path):
    """x[...] forms that are not a Slice (an integer index drops an axis; a step of 2) are each one
    reason line naming the layer, exit 2, all at once."""
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from conftest import cli, one_line_error
    i = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(4, 1)(i)
    a = x[..., 0:1]                                        # a Slice: fine
    b = x[:, ::2, ::2, :]                                  # step 2
    c = x[..., 1]                                          # integer index
    y = keras.layers.Concatenate()([keras.layers.Flatten()(a), keras.layers.Flatten()(b), keras.layers.Flatten()(c)])
    path = tmp_path / "items.keras"
    keras.Model(i, y).save(path)
    r = cli("build", str(path), "-o", str(tmp_path / "o"))
    one_line_error(r, "cannot be compiled")
    lines = r.stderr.splitlines()
    assert r.returncode == 2
    assert any("(GetItem)" in l and "step 2 on axis 1" in l for l in lines), r.stderr
    assert any("(GetItem)" in l and "integer index" in l for l in lines), r.stderr


def test_keras_onnx_export_of_shufflenet_folds_its_edge_pad_and_is_bit_exact(tmp_path):
    """Keras 3's own ONNX export of the Keras ShuffleNetV2: its "same" stem max pool (3x3 stride 2 over
    48x48: padding 0 before, 1 after) arrives as an edge Pad (Keras on PyTorch pads pools by
    replicating the border), folded into the max pool; the channel split as Slice, the shuffle as
    Reshape / Transpose / Reshape.  float == onnxruntime, the C bit-exact on the host, float agreement,
    and the arena of the .keras file of the same model within 5%: the two files list each unit's
    branches in opposite orders, and the schedule starts from an order of the graph's structure, not
    the file's (passes/schedule.py; it was 20,736 B from the ONNX export, 31,104 B from the .keras
    file, now 20,736 B from both)."""
    require("cc")
    path, x, want = keras_onnx_export(tmp_path, "shufflenet_v2_05")
    graph = canonicalize(import_model(path))
    assert not [n for n in graph.nodes if n.op == "Pad"], "the edge Pad was not folded"
    got = reference.run_batch(graph, x[:3, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))
    np.save(tmp_path / "cal.npy", x[:12])
    np.save(tmp_path / "check.npy", x[:8])
    a = build(path, "cortex-m7", str(tmp_path / "out"), str(tmp_path / "cal.npy"), ram="512K", flash="2M")
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "check.npy"))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 8, r
    fa = r["float_agreement"]
    assert fa.get("top1_agreement", 0) >= 0.9 or fa["sqnr_db"] >= 25, fa
    b = build(path[:-len(".onnx")] + ".keras", "cortex-m7", str(tmp_path / "keras"), str(tmp_path / "cal.npy"),
              ram="512K", flash="2M")
    a, b = a["totals"]["arena_bytes"], b["totals"]["arena_bytes"]
    assert abs(a - b) <= 0.05 * b, (a, b)
