"""Darknet cfg + weights: yolo-fastest reproduces OpenCV's outputs, builds to int8 for a Cortex-M4 with an
STM32H7-class budget, runs bit-exact in the emulator and finds the same objects as float; yolov3-tiny
with random weights in the real format imports, is refused for cortex-m4 on flash, builds for the host."""
import json
import subprocess
import sys

import numpy as np
import pytest

from edgec.compiler import reference
from edgec.driver.build import build, import_model
from edgec.compiler.errors import ModelFormatError, TargetError, UnsupportedOpError
from edgec.compiler.importers.darknet import parse_cfg
from edgec.passes.pipeline import canonicalize
from edgec.host.postprocess import decode_yolo, detections, iou
from edgec.verification.verify import Built, verify, run
from conftest import DATA, extra, require

CFG = DATA / "yolo-fastest-1.1.cfg"
COCO = (DATA / "coco.names").read_text().split("\n")


def dog_hwc():
    return np.load(DATA / "yolo-fastest-1.1_dog320_input_NCHW.npy").transpose(0, 2, 3, 1)


def test_float_reference_reproduces_opencv():
    g = canonicalize(import_model(str(CFG)))
    raw = reference.run(g, dog_hwc())[g.outputs[0]][0]
    got = decode_yolo(raw, g.meta["yolo"])
    want = np.concatenate([np.load(DATA / "yolo-fastest-1.1_dog320_opencv_yolo_out0.npy"),
                           np.load(DATA / "yolo-fastest-1.1_dog320_opencv_yolo_out1.npy")])
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-3


@pytest.fixture(scope="module")
def yolo_build(tmp_path_factory):
    d = tmp_path_factory.mktemp("yolo")
    np.save(d / "calib.npy", np.concatenate([dog_hwc(), extra("yolo_crops") / np.float32(255)]).astype(np.float32))
    np.save(d / "dog.npy", dog_hwc())
    r = subprocess.run([sys.executable, "-m", "edgec.cli.main", "build", str(CFG), str(DATA / "yolo-fastest-1.1.weights"),
                        "--target", "cortex-m4", "--ram", "1M", "--flash", "2M", "-o", str(d / "out"),
                        "--calibration", str(d / "calib.npy"), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return d, json.loads(r.stdout)


def test_yolo_int8_needs_an_h7_class_budget(tmp_path):
    np.save(tmp_path / "dog.npy", dog_hwc())
    with pytest.raises(TargetError, match=r"bytes of RAM.*cortex-m4 has 262,144"):
        build(str(CFG), "cortex-m4", str(tmp_path / "out"), str(tmp_path / "dog.npy"))


def test_yolo_int8_bit_exact_in_emulator_and_same_objects_as_float(yolo_build):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    d, report = yolo_build
    assert report["budget"] == {"ram_bytes": 1 << 20, "flash_bytes": 2 << 20}
    for target in ("host", "cortex-m4"):
        r = verify(str(d / "out"), target, str(d / "dog.npy"))
        assert r["bit_exact"], r
    assert r["float_helpers"] == []
    raw_int, _ = run(str(d / "out"), "host", str(d / "dog.npy"))
    built = Built(str(d / "out"))
    meta = built.float_graph.meta["yolo"]
    raw_float = reference.run(built.float_graph, dog_hwc())[built.float_graph.outputs[0]][0]
    found_float = detections(decode_yolo(raw_float, meta))
    found_int = detections(decode_yolo(raw_int[0], meta))
    for name in ("dog", "bicycle", "car"):
        cls = COCO.index(name)
        best_float = next(f for f in found_float if f["class"] == cls)
        best_iou = max(iou(best_float["box"], i["box"]) for i in found_int if i["class"] == cls)
        assert best_iou >= 0.8, (name, best_iou)


def _random_weights(cfg_path, out_path, seed=0):
    """Write darknet's weights format for a cfg of conv/maxpool/route/upsample/yolo layers (header 0.2.0)."""
    rng = np.random.default_rng(seed)
    sections = parse_cfg(cfg_path.read_text(), cfg_path.name)
    channels, chunks = [], [np.array([0, 2, 0], "<i4").tobytes(), np.array([0], "<i8").tobytes()]
    c = int(sections[0][1].get("channels", 3))
    for i, (kind, opts, _, _) in enumerate(sections[1:]):
        if kind == "convolutional":
            n, size = int(opts["filters"]), int(opts["size"])
            fan_in = c * size * size
            chunks.append(np.zeros(n, "<f4").tobytes())                     # biases
            if int(opts.get("batch_normalize", 0)):
                chunks += [np.ones(n, "<f4").tobytes(), np.zeros(n, "<f4").tobytes(), np.ones(n, "<f4").tobytes()]
            chunks.append(rng.normal(0, np.sqrt(2 / fan_in), n * fan_in).astype("<f4").tobytes())
            c = n
        elif kind == "route":
            idx = [int(v) for v in opts["layers"].split(",")]
            c = sum(channels[i + j if j < 0 else j] for j in idx)
        channels.append(c)
    out_path.write_bytes(b"".join(chunks))
    return sum(len(ch) for ch in chunks)


def test_yolov3_tiny_random_weights_flash_refusal_and_host_build(tmp_path):
    require("cc")
    cfg = tmp_path / "yolov3-tiny.cfg"
    cfg.write_text((DATA / "yolov3-tiny.cfg").read_text())
    _random_weights(cfg, tmp_path / "yolov3-tiny.weights")       # beside the cfg: found without naming it
    g = import_model(str(cfg))
    params = sum(t.size for t in g.tensors.values() if t.is_const)
    assert params > 8_800_000
    rng = np.random.default_rng(1)
    np.save(tmp_path / "x.npy", rng.uniform(0, 1, (2, 416, 416, 3)).astype(np.float32))
    with pytest.raises(TargetError, match=r"needs 8,\d{3},\d{3} bytes of flash for its weights \(cortex-m4 has 1,048,576, over by"):
        build(str(cfg), "cortex-m4", str(tmp_path / "m4"), str(tmp_path / "x.npy"))
    build(str(cfg), "host", str(tmp_path / "host"), str(tmp_path / "x.npy"))
    np.save(tmp_path / "one.npy", np.load(tmp_path / "x.npy")[:1])
    r = verify(str(tmp_path / "host"), "host", str(tmp_path / "one.npy"))
    assert r["bit_exact"], r


def test_weights_size_mismatch_names_layer_and_bytes(tmp_path):
    raw = (DATA / "yolo-fastest-1.1.weights").read_bytes()
    (tmp_path / "short.weights").write_bytes(raw[:-4000])
    with pytest.raises(ModelFormatError, match=r"weights end early at layer \d+ \(convolutional, cfg line \d+\): it needs \d+ bytes"):
        import_model(str(CFG), str(tmp_path / "short.weights"))
    (tmp_path / "long.weights").write_bytes(raw + b"\0" * 12)
    with pytest.raises(ModelFormatError, match="12 bytes more than the cfg needs"):
        import_model(str(CFG), str(tmp_path / "long.weights"))


def test_cfg_errors_name_the_line(tmp_path):
    cases = {"[net]\nwidth=8\nheight=8\n[convolutional\nfilters=2\n": "line 4: malformed section header",
             "[net]\nwidth=8\nheight=8\n[convolutional]\nfilters 2\n": "line 5: expected key=value",
             "width=8\n[net]\n": "line 1: option before the first",
             "[net]\nwidth=8\nheight=x8\n[maxpool]\n": "line 3: height=x8 is not a number",
             "[convolutional]\nfilters=2\n": "must start with a [net] section"}
    for text, msg in cases.items():
        (tmp_path / "m.cfg").write_text(text)
        (tmp_path / "m.weights").write_bytes(np.array([0, 2, 0, 0, 0], "<i4").tobytes())
        with pytest.raises(ModelFormatError, match=msg.replace("[", r"\[").replace("(", r"\(")):
            import_model(str(tmp_path / "m.cfg"))


def test_unknown_sections_all_listed(tmp_path):
    (tmp_path / "m.cfg").write_text("[net]\nwidth=8\nheight=8\nchannels=1\n[lstm]\n\n[crnn]\n[maxpool]\nsize=2\n")
    (tmp_path / "m.weights").write_bytes(np.array([0, 2, 0, 0, 0], "<i4").tobytes())
    with pytest.raises(UnsupportedOpError, match=r"the model cannot be compiled: 2 unsupported section\(s\)") as e:
        import_model(str(tmp_path / "m.cfg"))
    assert e.value.reasons == ["layer 0 ([lstm], cfg line 5): unsupported section",
                               "layer 1 ([crnn], cfg line 7): unsupported section"]


def test_repeated_keys_first_wins_and_comments_ignored(tmp_path):
    sections = parse_cfg("# comment\n[net]\n; other\nwidth = 16\nwidth=32\nheight=16\n", "m.cfg")
    assert sections[0][1]["width"] == "16"
