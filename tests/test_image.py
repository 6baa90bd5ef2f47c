"""Model images (issue 20, parts 1-2): `edgec build` / `edgec image` write the model as data
(codegen/image.py) and runtime_c/edgec_image.c runs it through the generated code's kernels.

The image run equals the generated-code build bit for bit (and both the integer reference) on real
models, on the host and on QEMU's Cortex-M4, within 5% of its instructions; a firmware refuses a
truncated, foreign, tampered, out-of-bounds or unsupported image in one line, before anything runs."""
from __future__ import annotations

import hashlib
import os
import struct

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import torch  # noqa: E402

from edgec.driver.build import build  # noqa: E402
from edgec.codegen.image import (ARG_ARENA, ARG_DATA, BODY_FROM, KIND_SHIFT, LOOP, OFFSET_MASK, golden_inputs,  # noqa: E402
                                 kernel_table, read_header, records)
from edgec.verification.image_exec import check_image, execute_image  # noqa: E402
from edgec.verification.verify import Built  # noqa: E402
from conftest import CASES, cli, one_line_error, require  # noqa: E402


def _image(out):
    return (out / "model.edgecimg").read_bytes()


def _run_image(target, img, q):
    h = read_header(img)
    raw, ex = execute_image(target, img, np.ascontiguousarray(q, np.int8).tobytes(), h["input_bytes"],
                            h["output_bytes"], h["arena_bytes"])
    return np.frombuffer(raw, np.int8).reshape((len(q),) + (-1,)), ex


def _same_as_generated(out, xs, targets):
    """The image in out/ against the generated C of the same build, per target: bit for bit, and the
    instructions of both on emulated cores; returns {target: (image insns, generated insns)}."""
    b = Built(str(out))
    assert "refused" not in b.report["image"], b.report["image"]
    img = _image(out)
    q = b.quantize_input(xs)
    want = b.expected(q).reshape(len(q), -1)
    counts = {}
    for target in targets:
        got, ex = _run_image(target, img, q)
        gen, gex = b.execute(target, q)
        np.testing.assert_array_equal(gen.reshape(len(q), -1), want)
        np.testing.assert_array_equal(got, want)
        counts[target] = (ex.instructions, gex.instructions)
    return counts


@pytest.mark.parametrize("name,n", [("kws", 3), ("ad01", 3)])
def test_mlperf_image_is_bit_exact_with_generated_code_within_5_percent(built, name, n):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    out, inputs, report = built(name)
    xs = np.load(inputs)[:n]
    counts = _same_as_generated(out, xs, ("host", "cortex-m4"))
    img_insns, gen_insns = counts["cortex-m4"]
    assert gen_insns > 0 and img_insns <= 1.05 * gen_insns, counts
    h = read_header(_image(out))
    assert h["name"] == report["model"] and h["selftests"] == 4 and h["kernel_abi"] == kernel_table()[0]
    # the self-test's golden inputs are the build's first calibration samples, and the image passes it
    np.testing.assert_array_equal(golden_inputs(_image(out)).reshape(4, -1),
                                  Built(str(out)).quantize_input(np.load(out.parent / "calib.npy")[:4]).reshape(4, -1))
    code, line, _, err = check_image(_image(out), selftest=True)
    assert code == 0 and "selftest ok (4 golden inputs)" in err, (line, err)


class BranchNet(torch.nn.Module):
    """Two branches joined by Concat and Add, depthwise and strided convs, both pools, a sigmoid (Lut),
    Linear and Softmax: most of the int8 kernels in one small model."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(3, 8, 1)
        self.dw = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = torch.nn.Conv2d(16, 16, 1)
        self.down = torch.nn.Conv2d(16, 12, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(12, 5)

    def forward(self, x):
        y = torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], 1)
        y = torch.nn.functional.max_pool2d(y, 2)
        y = y + self.pw(torch.relu(self.dw(y)))
        y = torch.sigmoid(self.down(y))
        y = torch.nn.functional.avg_pool2d(y, 3)
        return torch.softmax(self.fc(y.flatten(1)), 1)


class GRUNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(6, 10, batch_first=True)
        self.fc = torch.nn.Linear(10, 4)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y[:, -1])


@pytest.mark.parametrize("net,shape", [(BranchNet, (3, 12, 12)), (GRUNet, (7, 6))])
def test_small_torch_models_image_bit_exact_on_host_and_cortex_m4(tmp_path, net, shape):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    torch.manual_seed(3)
    xs = np.random.default_rng(4).standard_normal((40,) + shape).astype(np.float32)
    path = tmp_path / "net.onnx"
    torch.onnx.export(net().eval(), torch.from_numpy(xs[:1]), str(path), dynamo=False, opset_version=13)
    np.save(tmp_path / "x.npy", xs)
    build(str(path), "cortex-m4", str(tmp_path / "out"), str(tmp_path / "x.npy"), optimize="speed")
    counts = _same_as_generated(tmp_path / "out", xs[:5], ("host", "cortex-m4"))
    assert counts["cortex-m4"][0] <= 1.05 * counts["cortex-m4"][1] + 2000, counts   # + the calls' decoding


def test_cli_image_remakes_it_and_refuses_what_it_cannot_hold(built, tmp_path):
    out, inputs, report = built("digits_mlp")
    first = _image(out)
    r = cli("image", out, "--model-version", "7", "--json", check_json=True)
    img = _image(out)
    assert r["bytes"] == len(img) and r["version"] == "7" and r["kernels"] == ["fully_connected_s8"]   # dense layers under plan_wide.MIN_FC_MACS: int8
    assert read_header(img)["version"] == "7" and read_header(first)["version"] == "1"
    np.testing.assert_array_equal(golden_inputs(img), golden_inputs(first))   # the build's golden inputs kept
    code, line, _, err = check_image(img, selftest=True)
    assert code == 0, line
    one_line_error(cli("image", tmp_path / "nothing"), "not an edgec build directory")
    one_line_error(cli("image", out, "--model-version", "x" * 20), "--model-version")


@pytest.mark.parametrize("name", ["digits_cnn", "kws", "resnet"])
def test_a_patch_based_build_runs_its_stage_loop_from_the_image(built, name):
    """digits_cnn's default build runs its first layers in row bands (passes/tile.py), KWS its
    depthwise+pointwise pairs with each output over its input, every other pair bottom up (its row
    table lists the bands last first), ResNet-8 its first block's two convs with a line buffer (each
    band's kept rows moved by a banded memcpy): the image holds each stage as a LOOP record with
    banded arguments, and stays bit-exact and within 5%."""
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    out, inputs, _ = built(name)
    b = Built(str(out))
    assert b.int_graph.tiling
    img = _image(out)
    assert LOOP in _record_ids(img)
    # a row table whose last band asks for rows past the output: refused at the loop's first call
    loop_at = next(k for k, r in enumerate(records(img)) if r["id"] == LOOP)     # records before the loop
    loop = records(img)[loop_at]
    tiles, table, width = loop["args"][0][0], loop["args"][1][0] & OFFSET_MASK, loop["args"][2][0]
    stage = b.int_graph.tiling[0]
    # with line buffers a node's entries are in_row0, out_row0, out_off, out_rows, then its moves (a
    # memcpy each, before its call)
    moves = (width // len(stage["nodes"]) - 4) // 4 if stage.get("carry") else 0
    bad = bytearray(img)
    last = table + 4 * ((tiles - 1) * width + (3 if stage.get("carry") else 2))   # the last band's out_rows of the first node
    struct.pack_into("<i", bad, last, struct.unpack_from("<i", img, last)[0] + 5)
    code, line, _, _ = check_image(_rehash(bad))
    assert code == 3 and "out of bounds" in line and f"at call {loop_at + 1 + moves}" in line, line
    counts = _same_as_generated(out, np.load(inputs)[:5], ("host", "cortex-m4"))
    assert counts["cortex-m4"][0] <= 1.05 * counts["cortex-m4"][1], counts
    assert check_image(_image(out), selftest=True)[0] == 0


def test_the_image_is_built_from_the_calls_codegen_recorded_and_they_are_the_c(built):
    """codegen records each call as it emits it (codegen/calls.py) and the image's schedule is that record,
    never the C read back: written out, the record is exactly the calls of run() in model.c, in order, a
    patch-based stage's body inside its loop, and the image has one record per call (LOOP and END around
    a stage's body)."""
    from edgec.codegen.c import generate
    from edgec.codegen.calls import Loop
    from edgec.codegen.header import header_facts
    from edgec.driver.build import model_c_name
    out, _, _ = built("digits_cnn")
    b = Built(str(out))
    gen = generate(b.int_graph, model_c_name(b.report["model"]), dict(header_facts(b.int_graph, b.report["source"]), c_std="c99"))
    sites = [s for step in gen["record"] for s in step.sites]
    assert any(isinstance(s, Loop) for s in sites)
    texts = [c.text for s in sites for c in (s.body if isinstance(s, Loop) else (s,))]
    run = (out / "model.c").read_text()
    at = 0
    for t in texts:                                      # each recorded call in model.c, after the one before
        at = run.index(t, at) + len(t)
    assert len(records(_image(out))) == len(texts) + 2 * sum(isinstance(s, Loop) for s in sites)


def _record_ids(img: bytes) -> list:
    return [r["id"] for r in records(img)]


def _rehash(img: bytearray) -> bytes:
    img[16:48] = hashlib.sha256(bytes(img[BODY_FROM:])).digest()
    return bytes(img)


def _args(img: bytes):
    """(record index, byte offset of the argument's word, kind, offset, extent, byte offset of its
    extent word) of every pointer argument in the schedule (by its kernel's signature)."""
    sigs = {kid: sig for kid, sig in kernel_table()[1].values()}
    for k, r in enumerate(records(img)):
        for (word, _, extent, at), s in zip(r["args"], sigs.get(r["id"], "")):
            if s != "i":
                yield (k, at, word >> KIND_SHIFT, word & OFFSET_MASK, extent, at + 4 * len(r["args"]) * (2 if r["in_loop"] else 1))


def test_hostile_and_foreign_images_are_refused_in_one_line(built):
    require("cc")
    out, _, _ = built("kws")
    img = _image(out)
    assert check_image(img)[0] == 0
    cases = {"truncated": img[:len(img) // 2], "bad magic": b"EDGECIMX" + img[8:]}
    tampered = bytearray(img)
    tampered[read_header(img)["data"][0] + 100] ^= 0x40          # one weight bit
    cases["sha256 mismatch"] = bytes(tampered)
    # an arena offset pushed past the arena, with a valid hash: the bounds check, not the hash, refuses it
    k, at, kind, value, extent, ext_at = next(a for a in _args(img) if a[2] == ARG_ARENA)
    bad = bytearray(img)
    struct.pack_into("<I", bad, at, ARG_ARENA << KIND_SHIFT | read_header(img)["arena_bytes"] - extent + 4)
    cases["out of bounds"] = _rehash(bad)
    huge = bytearray(img)
    struct.pack_into("<I", huge, ext_at, 0xFFFFFFF0)              # an extent that would wrap around
    cases["out of bounds at call"] = _rehash(huge)
    # a parameter struct whose size is not its kernel's
    p = next(a for a in _args(img) if a[2] == ARG_DATA and a[0] == 0)
    short = bytearray(img)
    struct.pack_into("<I", short, p[5], p[4] - 4)
    cases["bad schedule"] = _rehash(short)
    # shapes inside a well-formed parameter struct that would make the first conv read past its input
    taller = bytearray(img)
    struct.pack_into("<i", taller, p[3], 2)                       # batch 2: twice the input it was given
    cases["out of bounds at the conv"] = _rehash(taller)
    other_abi = bytearray(img)
    struct.pack_into("<I", other_abi, 52, 99)
    cases["other kernel ABI"] = _rehash(other_abi)
    lines = {}
    for why, data in cases.items():
        code, lines[why], stdout, _ = check_image(data)
        assert code == 3 and lines[why].startswith("refused:") and why.split(" at ")[0] in lines[why], (why, lines[why])
        assert stdout.count(b"\n") == 1, stdout
    assert lines["out of bounds"].endswith(f"at call {k}") and lines["out of bounds at call"].endswith(f"at call {k}")
    assert lines["bad schedule"].endswith("at call 0") and lines["out of bounds at the conv"].endswith("at call 0")
    # golden outputs that disagree: the image checks, its self-test fails
    h = read_header(img)
    bad_golden = bytearray(img)
    bad_golden[h["selftest_offset"] + 4 * h["input_bytes"] + 3] ^= 1
    code, line, _, _ = check_image(_rehash(bad_golden), selftest=True)
    assert code == 3 and "self-test failed" in line


def test_a_firmware_without_a_kernel_refuses_the_image_naming_it(built):
    require("cc")
    out, _, _ = built("kws")
    img = _image(out)
    needs = read_header(img)["kernels"]
    assert "depthwise_conv2d_s8" in needs
    all_but = [f"EDGEC_IMAGE_WITH_{k.upper()}=1" for k in needs if k != "depthwise_conv2d_s8"]
    code, line, _, _ = check_image(img, ["EDGEC_IMAGE_DEFAULT=0", *all_but])
    assert code == 3 and line == "refused: code 5 (missing kernel): this firmware lacks kernel depthwise_conv2d_s8 (id 3)"
    # the same reduced set with the kernel added back accepts and runs it
    code, line, _, err = check_image(img, ["EDGEC_IMAGE_DEFAULT=0", *all_but, "EDGEC_IMAGE_WITH_DEPTHWISE_CONV2D_S8=1"],
                                     selftest=True)
    assert code == 0, line


def test_a_streaming_model_with_uint8_output_keeps_its_state_in_the_arena(tmp_path):
    """The wake-word detector of tests/test_tflite_streaming.py: two ring buffers of state (memcpy'd
    after each run), Concat, Slice, Lut and a uint8 output.  The image's state lives in the caller's
    arena after the plan's bytes; reset() starts a stream; a run of frames equals the reference's stream."""
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    from testkit.tflite_models import int8_frames, wake_word_model
    (tmp_path / "ww.tflite").write_bytes(wake_word_model(5))
    build(str(tmp_path / "ww.tflite"), "cortex-m4", str(tmp_path / "out"))
    b = Built(str(tmp_path / "out"))
    img = _image(tmp_path / "out")
    h = read_header(img)
    assert h["state_bytes"] > 0 and h["flags"] == 2 and "memcpy" in h["kernels"] and "slice_s8" in h["kernels"]
    q = int8_frames(10, b.input_shape, 8)
    want = b.expected(q).reshape(len(q), -1) ^ np.int8(-128)          # the API's uint8, as int8 bytes
    code, line, raw, err = check_image(img, samples=q.tobytes(), selftest=True)
    assert code == 0 and "selftest ok" in err, line
    np.testing.assert_array_equal(np.frombuffer(raw, np.int8).reshape(len(q), -1), want)
    got, _ = _run_image("cortex-m4", img, q)
    np.testing.assert_array_equal(got, want)


def test_uint8_edges_the_image_converts_in_the_arena(tmp_path):
    """A .tflite whose input and output are uint8 (QUANTIZE at both edges): run() takes and gives the
    file's uint8 as the generated code does, the input's int8 copy living in the arena's tail."""
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    from testkit.tflite_models import int32_bias, int8_weights, quant_tensor
    from testkit.tflite_writer import Model
    rng = np.random.default_rng(77)
    m = Model()
    xu = quant_tensor(m, "x_u8", (1, 12), 0.05, 131, np.uint8)
    x = quant_tensor(m, "x", (1, 12), 0.04, -7)
    m.op("QUANTIZE", [xu], [x])
    f = quant_tensor(m, "f", (1, 5), 0.15, 3)
    m.op("FULLY_CONNECTED", [x, int8_weights(m, "w", (5, 12), rng, 0, 5), int32_bias(m, "b", 5, rng)], [f], act=1)
    yu = quant_tensor(m, "y_u8", (1, 5), 0.2, 90, np.uint8)
    m.op("QUANTIZE", [f], [yu])
    m.inputs, m.outputs = [xu], [yu]
    (tmp_path / "u8.tflite").write_bytes(m.bytes())
    build(str(tmp_path / "u8.tflite"), "cortex-m4", str(tmp_path / "out"))
    b = Built(str(tmp_path / "out"))
    img = _image(tmp_path / "out")
    h = read_header(img)
    assert h["flags"] == 3 and h["input_copy_offset"] + h["input_bytes"] <= h["arena_bytes"]
    xs = rng.integers(0, 256, (9, 1, 12)).astype(np.uint8)
    q = (xs.astype(np.int16) - 128).astype(np.int8)                    # edgec's int8 inside
    want = (b.expected(q).reshape(len(q), -1).astype(np.int16) + 128).astype(np.uint8)
    code, line, raw, err = check_image(img, samples=xs.tobytes(), selftest=True)
    assert code == 0 and "selftest ok" in err, line
    np.testing.assert_array_equal(np.frombuffer(raw, np.uint8).reshape(len(q), -1), want)
    got, _ = _run_image("cortex-m4", img, xs.view(np.int8))
    np.testing.assert_array_equal(got.view(np.uint8), want)


def test_on_cortex_m4_the_firmware_checks_the_hash_and_self_tests_before_it_serves(built):
    """The image tool built as firmware for QEMU's Cortex-M4 (libsodium's sha256 on the core): it
    accepts KWS's image, passes the self-test, then serves bit-exact; a flipped weight bit and a
    firmware without a kernel are refused in one line before anything runs."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    out, inputs, _ = built("kws")
    img = _image(out)
    b = Built(str(out))
    q = b.quantize_input(np.load(inputs)[:3])
    code, line, raw, said = check_image(img, samples=q.tobytes(), target_name="cortex-m4")
    assert code == 0 and "selftest ok (4 golden inputs)" in said, (line, said)
    np.testing.assert_array_equal(np.frombuffer(raw, np.int8).reshape(3, -1), b.expected(q).reshape(3, -1))
    tampered = bytearray(img)
    tampered[read_header(img)["data"][0] + 7] ^= 1
    assert check_image(bytes(tampered), target_name="cortex-m4")[:2] == (3, "refused: code 9 (sha256 mismatch)")
    code, line, _, _ = check_image(img, ["EDGEC_IMAGE_DEFAULT=0", "EDGEC_IMAGE_WITH_CONV2D_S8=1"], target_name="cortex-m4")
    # (KWS's first conv takes the wide loop on the M4, passes/plan_wide.py: its lowest missing kernel is the depthwise)
    assert (code, line) == (3, "refused: code 5 (missing kernel): this firmware lacks kernel depthwise_conv2d_s8 (id 3)")


class LayoutNet(torch.nn.Module):
    """A PReLU, a product of two branches, a broadcast Add of the spatial mean, Pad (zero and reflect),
    nearest and bilinear resizing: the image's Add, Mul, Transpose, Pad, Upsample and Resize kernels."""

    def __init__(self):
        super().__init__()
        self.c = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.p = torch.nn.PReLU(8)
        self.c2 = torch.nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = self.p(self.c(x))
        y = y * self.c2(y)
        y = y + y.mean((2, 3), keepdim=True)
        y = torch.nn.functional.pad(y, (1, 2, 0, 1))
        y = torch.nn.functional.pad(y, (0, 1, 2, 0), mode="reflect")
        y = torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest")
        y = torch.nn.functional.interpolate(y, size=(9, 11), mode="bilinear", align_corners=False)
        return y.mean(1)


# kernel: (int32 field of its parameter struct, a value that makes it touch more than its extents)
BAD_PARAMETER = {"add_s8": (0, 2),            # bc.shape[0]: twice the output
                 "mul_s8": (0, 2),
                 "transpose_s8": (4, 7),      # perm[0]: no axis
                 "pad_s8": (7, 1000),         # before[3] past out_shape[3]
                 "pad_border_s8": (12, 3),    # mode: neither edge nor reflect
                 "upsample_s8": (5, 3),       # scale_w: a wider output
                 "resize_s8": (1, 1),         # in_h 1: the tap tables' rows fall outside it
                 "concat_s8": (3, 1000),      # offset past out_inner
                 "slice_s8": (11, 1000),      # end[3] past in_shape[3]
                 "lstm_s8": (1, 1000),        # steps: a longer sequence than the input holds
                 "gru_s8": (3, 1000),         # hidden: wider weights, state and output
                 "pad_rows_s8": (6, 1000),    # before[2] past out_shape[2], in a row band
                 "transpose_rows_s8": (5, 4)}  # perm[1]: no axis, in a row band


@pytest.mark.parametrize("which", ["layout", "wake_word", "LSTM", "GRU", "pad_rows"])
def test_parameters_that_would_leave_the_extents_are_refused(tmp_path, which):
    """edgec_image_check bounds what the layout and elementwise kernels touch from their parameter
    structs (not only the pointers' extents): each kernel's image runs bit-exact as built, and with one
    parameter pushed out of range it is refused, out of bounds at that call, before anything runs."""
    require("cc")
    if which == "layout":
        torch.manual_seed(1)
        xs = np.random.default_rng(2).standard_normal((30, 3, 6, 6)).astype(np.float32)
        torch.onnx.export(LayoutNet().eval(), torch.from_numpy(xs[:1]), str(tmp_path / "m.onnx"), dynamo=False,
                          opset_version=13)
        np.save(tmp_path / "x.npy", xs)
        build(str(tmp_path / "m.onnx"), "cortex-m4", str(tmp_path / "out"), str(tmp_path / "x.npy"), optimize="speed")
        q = Built(str(tmp_path / "out")).quantize_input(xs[:4])
    elif which == "pad_rows":                  # a Pad that stays, run band by band in a tiled stage
        from torch_nets import PadBandNet
        xs = np.random.default_rng(2).standard_normal((12, 3, 48, 48)).astype(np.float32)
        torch.onnx.export(PadBandNet().eval(), torch.from_numpy(xs[:1]), str(tmp_path / "m.onnx"), dynamo=False,
                          opset_version=13)
        np.save(tmp_path / "x.npy", xs)
        build(str(tmp_path / "m.onnx"), "cortex-m4", str(tmp_path / "out"), str(tmp_path / "x.npy"))
        q = Built(str(tmp_path / "out")).quantize_input(xs[:2])
    elif which in ("LSTM", "GRU"):
        from torch_nets import F, T, export_torch
        xs = np.random.default_rng(3).standard_normal((30, T, F)).astype(np.float32)
        np.save(tmp_path / "x.npy", xs)
        build(export_torch(tmp_path / "m.onnx", 16, True, "h_n", False, cell=which), "cortex-m4", str(tmp_path / "out"),
              str(tmp_path / "x.npy"))
        q = Built(str(tmp_path / "out")).quantize_input(xs[:4])
    else:
        from testkit.tflite_models import int8_frames, wake_word_model
        (tmp_path / "ww.tflite").write_bytes(wake_word_model(2))
        build(str(tmp_path / "ww.tflite"), "cortex-m4", str(tmp_path / "out"))
        q = int8_frames(4, Built(str(tmp_path / "out")).input_shape, 3)
    b = Built(str(tmp_path / "out"))
    img = _image(tmp_path / "out")
    h = read_header(img)
    code, line, raw, _ = check_image(img, samples=q.tobytes())
    assert code == 0, line
    flip = np.int8(-128 if h["flags"] & 2 else 0)
    np.testing.assert_array_equal(np.frombuffer(raw, np.int8).reshape(len(q), -1) ^ flip, b.expected(q).reshape(len(q), -1))
    names = {kid: n for n, (kid, _) in kernel_table()[1].items()}
    tried = set()
    for k, r in enumerate(records(img)):
        kernel = names.get(r["id"])
        if kernel not in BAD_PARAMETER or kernel in tried:
            continue
        tried.add(kernel)
        field, value = BAD_PARAMETER[kernel]
        bad = bytearray(img)
        struct.pack_into("<i", bad, (r["args"][0][0] & OFFSET_MASK) + 4 * field, value)
        code, line, _, _ = check_image(_rehash(bad))
        assert (code, line) == (3, f"refused: code 6 (out of bounds) at call {k}"), (kernel, line)
    if which == "pad_rows":                    # its NCHW input's Transpose starts the tiled stage
        assert {"pad_rows_s8", "transpose_rows_s8"} <= tried, tried
    else:
        assert tried == {"wake_word": {"concat_s8", "slice_s8"}, "LSTM": {"lstm_s8"}, "GRU": {"gru_s8"}}.get(
            which, set(BAD_PARAMETER) - {"concat_s8", "slice_s8", "lstm_s8", "gru_s8", "pad_rows_s8", "transpose_rows_s8"})
