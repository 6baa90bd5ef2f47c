"""Images in, results out, through the CLI as a user types it: darknet's photos (tests/data/dog.jpg,
person.jpg) through `edgec run` / `edgec verify` on yolo-fastest (detections with boxes in the
pixels of the original photo) and on ResNet-8 built with --preprocess and --labels (top-k with
names); --json shapes; --preprocess / --labels / image refusals as one-line errors.

The exact checks hold the CLI's answers against this file's own preprocessing (Pillow, written out
here, not edgec.host.preprocess) run through the integer reference: the C equals it bit for bit, so the
detections and scores must be equal, not close."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import CASES, DATA, cli, extra, one_line_error, require
from edgec.compiler import reference
from edgec.host.postprocess import decode_yolo, detections, iou
from edgec.verification.verify import Built

DOG, PERSON = DATA / "dog.jpg", DATA / "person.jpg"
COCO = (DATA / "coco.names").read_text().splitlines()
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def pixels(path, size, mode="RGB") -> np.ndarray:
    """The photo as the tests expect a model to see it: Pillow bilinear resize of the whole image."""
    with Image.open(path) as im:
        return np.asarray(im.convert(mode).resize(size, Image.BILINEAR), np.float64)


def int_reference(built: Built, xs: np.ndarray) -> np.ndarray:
    """Dequantized outputs of the integer reference (what the C computes bit for bit)."""
    q = reference.run_batch(built.int_graph, built.quantize_input(xs.astype(np.float32)))
    return built.dequantize_output(q).reshape((len(xs),) + tuple(built.output_shape[1:]))


def pixel_boxes(found, w, h):
    out = []
    for d in found:
        cx, cy, bw, bh = d["box"]
        out.append({"class": d["class"], "label": COCO[d["class"]], "score": d["score"],
                    "box": [round(float(min(max(v, 0.0), lim)), 2) for v, lim in
                            [((cx - bw / 2) * w, w), ((cy - bh / 2) * h, h), ((cx + bw / 2) * w, w), ((cy + bh / 2) * h, h)]]})
    return out


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    d = tmp_path_factory.mktemp("yolo-images")
    dog = np.load(DATA / "yolo-fastest-1.1_dog320_input_NCHW.npy").transpose(0, 2, 3, 1)
    np.save(d / "calib.npy", np.concatenate([dog, extra("yolo_crops") / np.float32(255)]).astype(np.float32))
    r = cli("build", DATA / "yolo-fastest-1.1.cfg", "-t", "host", "-o", d / "out", "-c", d / "calib.npy",
            "--labels", DATA / "coco.names")
    assert r.returncode == 0, r.stderr
    assert "images in: RGB 320x320 NHWC, pixel * 0.00392157 (darknet [net]: pixels / 255)" in r.stdout
    assert "labels: 80 (person, bicycle, car, motorbike, aeroplane, ...)" in r.stdout
    return d, Built(str(d / "out"))


def test_yolo_build_records_darknet_preprocessing_decode_and_labels(yolo):
    _, built = yolo
    assert built.preprocess == {"width": 320, "height": 320, "channels": 3, "layout": "nhwc", "color": "rgb",
                                "scale": 1 / 255, "mean": [0.0] * 3, "std": [1.0] * 3, "resize": "stretch",
                                "from": "darknet [net]: pixels / 255"}
    assert built.labels == COCO
    spec = built.decode
    assert spec["kind"] == "yolo" and spec["classes"] == 80 and spec["net_hw"] == [320, 320]
    assert [h["grid"] for h in spec["heads"]] == [[10, 10], [20, 20]]
    assert (spec["conf_threshold"], spec["nms_threshold"]) == (0.25, 0.45)


def test_run_on_photos_gives_detections_in_pixels_of_the_original(yolo, tmp_path):
    require("cc")
    d, built = yolo
    r = cli("run", d / "out", DOG, PERSON, "--json", "--results", tmp_path / "found.json", "-o", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["shape"] == [2, 1500, 85] and info["output"] == str(tmp_path / "y.npy")
    rows = info["results"]
    assert json.loads((tmp_path / "found.json").read_text()) == {"results": rows}
    assert [(x["sample"], x["image"], x["width"], x["height"]) for x in rows] == [(0, str(DOG), 768, 576), (1, str(PERSON), 640, 424)]
    for row in rows:
        assert set(row) == {"sample", "image", "width", "height", "detections"}
        assert all(set(x) == {"class", "label", "score", "box"} for x in row["detections"])
    # the same photos preprocessed here, through the integer reference: equal detections, boxes in photo pixels
    xs = np.stack([pixels(p, (320, 320)) / 255 for p in (DOG, PERSON)])
    ref = int_reference(built, xs)
    assert np.array_equal(np.load(tmp_path / "y.npy"), ref)
    for row, y, (w, h) in zip(rows, ref, ((768, 576), (640, 424))):
        assert row["detections"] == pixel_boxes(detections(decode_yolo(y, built.decode)), w, h)
    labels = lambda row: {x["label"] for x in row["detections"]}
    assert {"dog", "bicycle", "car"} <= labels(rows[0]) and {"person", "dog"} <= labels(rows[1])
    # the same objects as the float model finds in the same photo (int8 vs float: IoU, not equality)
    flo = reference.run(built.float_graph, xs[:1].astype(np.float32))[built.float_graph.outputs[0]][0]
    float_found = pixel_boxes(detections(decode_yolo(flo, built.decode)), 768, 576)
    corners = lambda b: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1])
    for name in ("dog", "bicycle", "car"):
        best = next(f for f in float_found if f["label"] == name)
        assert max(iou(corners(best["box"]), corners(x["box"])) for x in rows[0]["detections"] if x["label"] == name) >= 0.7
    # people read it as text; --raw decodes the int8 outputs to the same detections
    text = cli("run", d / "out", DOG)
    assert text.returncode == 0 and f"{DOG} (768x576): {len(rows[0]['detections'])} detections" in text.stdout
    dog = next(x for x in rows[0]["detections"] if x["label"] == "dog")
    assert f"  dog              {dog['score']:.3f}  box {dog['box'][0]:.0f},{dog['box'][1]:.0f} - " in text.stdout
    raw = cli("run", d / "out", DOG, "--raw", "--json", check_json=True)
    assert raw["dtype"] == "int8" and raw["results"] == rows[:1]


def test_verify_takes_photos(yolo):
    require("cc")
    d, _ = yolo
    r = cli("verify", d / "out", "-i", DOG, "-i", PERSON, "--json", check_json=True)
    assert r["bit_exact"] is True and r["samples"] == 2 and r["mismatches"] == 0


def test_arrays_still_decode_with_boxes_in_model_input_pixels(yolo, tmp_path):
    require("cc")
    d, built = yolo
    x = np.load(DATA / "yolo-fastest-1.1_dog320_input_NCHW.npy").transpose(0, 2, 3, 1)
    np.save(tmp_path / "dog.npy", x)
    rows = cli("run", d / "out", tmp_path / "dog.npy", "--json", check_json=True)["results"]
    assert rows[0]["sample"] == 0 and "image" not in rows[0]
    assert rows[0]["detections"] == pixel_boxes(detections(decode_yolo(int_reference(built, x)[0], built.decode)), 320, 320)


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    """ResNet-8 (CIFAR-10, takes raw 0..255 pixels NHWC) built with --preprocess scale=1 and --labels."""
    d = tmp_path_factory.mktemp("resnet-images")
    np.save(d / "calib.npy", CASES["resnet"].calibration())
    (d / "cifar10.txt").write_text("\n".join(CIFAR10) + "\n")
    r = cli("build", CASES["resnet"].path, "-t", "host", "-o", d / "out", "-c", d / "calib.npy",
            "--preprocess", "scale=1", "--labels", d / "cifar10.txt")
    assert r.returncode == 0, r.stderr
    assert "images in: RGB 32x32 NHWC, pixel * 1 (--preprocess scale=1)" in r.stdout
    return d, Built(str(d / "out"))


def test_classifier_with_labels_gives_top_k_with_names(resnet, tmp_path):
    require("cc")
    d, built = resnet
    assert built.labels == CIFAR10 and built.decode == {"kind": "classes", "classes": 10}
    info = cli("run", d / "out", DOG, PERSON, "--json", "-o", tmp_path / "y.npy", check_json=True)
    y = np.load(tmp_path / "y.npy")
    xs = np.stack([pixels(p, (32, 32)) for p in (DOG, PERSON)])         # raw 0..255, as scale=1 says
    assert np.array_equal(y, int_reference(built, xs))
    for row, out in zip(info["results"], y):
        assert set(row) == {"sample", "image", "width", "height", "top"}
        order = np.argsort(-out, kind="stable")[:5]
        assert row["top"] == [{"class": int(c), "label": CIFAR10[c], "score": float(out[c])} for c in order]
    assert info["results"][1]["top"][0]["label"] == "horse"          # person.jpg: a woman beside her horse
    three = cli("run", d / "out", PERSON, "--top-k", "3")
    first = info["results"][1]["top"]
    assert three.returncode == 0
    assert f"{PERSON} (640x424): " + ", ".join(f"{t['label']} {t['score']:.3f}" for t in first[:3]) + "\n" in three.stdout
    one_line_error(cli("run", d / "out", PERSON, "--top-k", "0"), "--top-k")


def test_preprocess_mean_std_nchw_gray_matches_the_formula(tmp_path):
    """The brief's full syntax on an NCHW model (digits CNN, [1, 1, 8, 8]): gray, resized, (p*scale - mean) / std."""
    require("cc")
    np.save(tmp_path / "calib.npy", CASES["digits_cnn"].calibration())
    r = cli("build", CASES["digits_cnn"].path, "-t", "host", "-o", tmp_path / "out", "-c", tmp_path / "calib.npy", "--json",
            "--preprocess", "scale=1/255, mean=0.5, std=0.25, layout=nchw, color=gray", check_json=True)
    assert r["preprocess"] == {"width": 8, "height": 8, "channels": 1, "layout": "nchw", "color": "gray", "scale": 1 / 255,
                               "mean": [0.5], "std": [0.25], "resize": "stretch",
                               "from": "--preprocess scale=1/255, mean=0.5, std=0.25, layout=nchw, color=gray"}
    x = ((pixels(DOG, (8, 8), "L") * (1 / 255) - 0.5) / 0.25)[None, None]
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    assert cli("run", tmp_path / "out", DOG, "-o", tmp_path / "a.npy").returncode == 0
    assert cli("run", tmp_path / "out", tmp_path / "x.npy", "-o", tmp_path / "b.npy").returncode == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_preprocess_and_labels_refusals_are_one_line(tmp_path):
    cnn, ad = CASES["digits_cnn"].path, CASES["ad01"].path
    np.save(tmp_path / "calib.npy", CASES["digits_cnn"].calibration()[:50])
    np.save(tmp_path / "ad.npy", CASES["ad01"].calibration()[:20])
    (tmp_path / "nine.txt").write_text("\n".join(str(i) for i in range(9)) + "\n")
    build = lambda *a: cli("build", *a, "-t", "host", "-o", tmp_path / "o")
    one_line_error(build(cnn, "-c", tmp_path / "calib.npy", "--preprocess", "scale=abc"), "scale='abc' is not a number")
    one_line_error(build(cnn, "-c", tmp_path / "calib.npy", "--preprocess", "size=32"), "no key 'size'", "keys: scale, mean, std")
    one_line_error(build(cnn, "-c", tmp_path / "calib.npy", "--preprocess", "layout=chw"), "layout='chw' is not one of nhwc, nchw")
    one_line_error(build(cnn, "-c", tmp_path / "calib.npy", "--preprocess", "mean=0.4,0.5"), "2 values for 1 channels")
    one_line_error(build(cnn, "-c", tmp_path / "calib.npy", "--preprocess", "color=rgb"), "color=rgb does not fit an input of 1 channel")
    one_line_error(build(ad, "-c", tmp_path / "ad.npy", "--preprocess", "scale=1"), "needs an image input", "(1, 640)")
    one_line_error(build(cnn, "-c", tmp_path / "calib.npy", "--labels", tmp_path / "nine.txt"),
                   "nine.txt", "9 labels for a model of 10 classes")
    one_line_error(build(ad, "-c", tmp_path / "ad.npy", "--labels", tmp_path / "nine.txt"),
                   "nine.txt", "neither a detector's nor one score per class")
    one_line_error(build(cnn, "-c", tmp_path / "calib.npy", "--labels", tmp_path / "none.txt"), "none.txt", "not found")
    assert not (tmp_path / "o").exists()


def test_bad_images_and_images_for_array_models_are_one_line(yolo, resnet, tmp_path):
    d, _ = yolo
    (tmp_path / "cut.jpg").write_bytes(DOG.read_bytes()[:3000])
    (tmp_path / "notes.jpg").write_text("not a photo\n")
    one_line_error(cli("run", d / "out", tmp_path / "cut.jpg"), "cut.jpg", "not a readable image")
    one_line_error(cli("run", d / "out", tmp_path / "notes.jpg"), "notes.jpg", "not a readable image")
    one_line_error(cli("run", d / "out", tmp_path / "missing.jpg"), "missing.jpg", "not found")
    one_line_error(cli("verify", d / "out", "-i", DOG, "-i", tmp_path / "cut.jpg"), "cut.jpg")
    np.save(tmp_path / "x.npy", np.zeros((1, 320, 320, 3), np.float32))
    one_line_error(cli("run", d / "out", tmp_path / "x.npy", DOG), "x.npy", "one .npy/.npz file or image files")
    # a model built without preprocessing (KWS: MFCC features) takes no images
    np.save(tmp_path / "kws.npy", CASES["kws"].calibration()[:8])
    assert cli("build", CASES["kws"].path, "-t", "host", "-o", tmp_path / "kws", "-c", tmp_path / "kws.npy").returncode == 0
    one_line_error(cli("run", tmp_path / "kws", DOG), "dog.jpg", "model 'kws_ref_model' takes no images", "--preprocess")
    one_line_error(cli("verify", tmp_path / "kws", "-i", DOG), "dog.jpg", "takes no images")
    np.save(tmp_path / "ad.npy", CASES["ad01"].calibration()[:20])
    assert cli("build", CASES["ad01"].path, "-t", "host", "-o", tmp_path / "ad", "-c", tmp_path / "ad.npy").returncode == 0
    one_line_error(cli("run", tmp_path / "ad", tmp_path / "ad.npy", "--results", tmp_path / "r.json"),
                   "--results", "neither a detector nor a classifier")


def test_keras_rescaling_layer_means_raw_pixels(tmp_path):
    """A Keras model whose input goes into Rescaling takes raw 0..255 pixels: no --preprocess needed."""
    require("cc")
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    L = keras.layers
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((16, 16, 3)), L.Rescaling(1 / 127.5, offset=-1), L.Conv2D(4, 3, activation="relu"),
                          L.GlobalAveragePooling2D(), L.Dense(3, activation="softmax")])
    m.save(tmp_path / "tiny.keras")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "calib.npy", rng.integers(0, 256, (16, 16, 16, 3)).astype(np.float32))
    r = cli("build", tmp_path / "tiny.keras", "-t", "host", "-o", tmp_path / "out", "-c", tmp_path / "calib.npy",
            "--json", check_json=True)
    assert r["preprocess"]["scale"] == 1.0 and r["preprocess"]["layout"] == "nhwc"
    assert r["preprocess"]["from"] == "Keras Rescaling layer in the model: raw 0..255 pixels"
    info = cli("run", tmp_path / "out", DOG, "--json", check_json=True)
    built = Built(str(tmp_path / "out"))
    want = int_reference(built, pixels(DOG, (16, 16))[None])[0]
    assert info["results"][0]["top"] == [{"class": int(c), "label": None, "score": float(want[c])}
                                         for c in np.argsort(-want, kind="stable")]


def test_api_build_load_run_decode_are_the_cli_s(yolo, resnet, tmp_path):
    """edgec.cli.api gives what the commands give: the same outputs, the same detections and top-k."""
    require("cc")
    from edgec.cli import api
    from edgec.compiler.errors import EdgecError
    d, _ = yolo
    m = api.load(str(d / "out"))
    assert m.decode_spec["kind"] == "yolo" and m.labels == COCO and m.input_shape == (1, 320, 320, 3)
    y = api.run(m, [DOG, PERSON])
    cli_run = cli("run", d / "out", DOG, PERSON, "--json", check_json=True)
    assert api.decode(m, y, images=[DOG, PERSON]) == cli_run["results"]
    assert api.decode(m, y, images=[(768, 576), (640, 424)])[0]["detections"] == cli_run["results"][0]["detections"]
    raw = api.run(m, DOG, raw=True)
    assert raw.dtype == np.int8 and api.decode(m, raw, images=[DOG]) == cli_run["results"][:1]
    # api.build records --preprocess/--labels as the command does; a signed package runs its own library
    rd, _ = resnet
    report = api.build(CASES["resnet"].path, str(tmp_path / "out"), calibration=str(rd / "calib.npy"), target="host",
                       preprocess="scale=1", labels=str(rd / "cifar10.txt"))
    assert report["labels"] == CIFAR10 and report["preprocess"]["scale"] == 1.0
    assert cli("keygen", "-o", tmp_path / "keys").returncode == 0
    assert cli("package", tmp_path / "out", "--name", "resnet", "--version", "1.0.0", "--key", tmp_path / "keys" / "signing.pem",
               "-o", tmp_path / "resnet.tar.gz").returncode == 0
    with pytest.raises(EdgecError, match="loaded only with the public key that signed it"):
        api.load(str(tmp_path / "resnet.tar.gz"))
    pkg = api.load(str(tmp_path / "resnet.tar.gz"), pubkey=str(tmp_path / "keys" / "signing.pub"))
    built = api.load(str(tmp_path / "out"))
    xs = np.stack([pixels(p, (32, 32)) for p in (DOG, PERSON)]).astype(np.float32)
    from_pkg, from_dir = api.run(pkg, [DOG, PERSON]), api.run(built, xs)
    assert from_pkg.shape == (2, 10) and np.array_equal(from_pkg, from_dir)
    tops = api.decode(pkg, from_pkg, top_k=2)
    assert [[t["label"] for t in row["top"]] for row in tops] == [[CIFAR10[c] for c in np.argsort(-o, kind="stable")[:2]]
                                                                  for o in from_dir]
    np.save(tmp_path / "ad.npy", CASES["ad01"].calibration()[:20])
    api.build(CASES["ad01"].path, str(tmp_path / "ad"), calibration=str(tmp_path / "ad.npy"), target="host")
    ad = api.load(str(tmp_path / "ad"))
    with pytest.raises(EdgecError, match="neither a detector nor a classifier"):
        api.decode(ad, api.run(ad, tmp_path / "ad.npy"))
