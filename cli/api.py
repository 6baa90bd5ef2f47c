"""edgec.cli.api: build a model, load it, run it on samples or photos, read its answers, from Python.

Why a module of its own: the commands print for people, while a program (a notebook, a test bench,
an application on a Linux device) wants values.  Each function is a thin wrapper over what the
command calls (`edgec build`, `edgec run`, the agent's package loading), so the two cannot drift
apart, and the preprocessing and decoding recorded at build time are the same ones the CLI and the
agent use.  It sits at the top with the CLI: it may call into every layer below.

    from . import api
    api.build("yolo-fastest-1.1.cfg", "out/", calibration="calib.npy", labels="coco.names",
              ram="1M", flash="2M")
    model = api.load("out/")                          # or api.load("yolo.tar.gz", pubkey="signing.pub")
    outputs = api.run(model, ["dog.jpg"])              # the compiled C's outputs, dequantized: [N, ...]
    api.decode(model, outputs, images=["dog.jpg"])     # [{"detections": [{"class", "label", "score", "box"}], ...}]
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..compiler.errors import EdgecError, InputDataError
from ..host.postprocess import TOP_K, results
from ..host.preprocess import image_sizes, load_inputs

__all__ = ["build", "load", "run", "decode", "Model"]


def build(model: str, output: str, *, calibration: str | None = None, target: str = "cortex-m4",
          weights: str | None = None, preprocess: str | None = None, labels: str | None = None, **options) -> dict:
    """`edgec build`: compile `model` into the directory `output`; returns report.json's content.
    `preprocess` is the --preprocess text (edgec.host.preprocess), `labels` a file of class names; other
    keywords are edgec.driver.build.build's (name, ram, flash, optimize, calibration_method, ...)."""
    from ..driver.build import build as do_build
    return do_build(model, target, output, calibration, weights=weights, preprocess=preprocess, labels=labels, **options)


class Model:
    """A build directory or a signed package, read back: what run() and decode() need.
    `report` is the build's report.json; `preprocess`, `decode_spec` and `labels` what it recorded
    about images and answers (None where it does not apply)."""

    def __init__(self, path: str, report: dict, built=None, manifest: dict | None = None, library: bytes | None = None):
        self.path, self.report, self.built, self.manifest, self.library = path, report, built, manifest, library

    @property
    def name(self) -> str:
        return self.report["model"]

    @property
    def input_shape(self) -> tuple:
        return tuple(self.report["input"]["shape"])

    @property
    def output_shape(self) -> tuple:
        return tuple(self.report["output"]["shape"])

    @property
    def preprocess(self) -> dict | None:
        return self.report.get("preprocess")

    @property
    def decode_spec(self) -> dict | None:
        return self.report.get("decode")

    @property
    def labels(self) -> list | None:
        return self.report.get("labels")

    def __repr__(self):
        kind = "package" if self.manifest else "build"
        return f"<edgec {kind} {self.name} {list(self.input_shape)} -> {list(self.output_shape)} from {self.path}>"


def load(path: str, *, pubkey: str | None = None) -> Model:
    """A build directory (`edgec build -o`), or a package (.tar.gz or unpacked) checked against
    `pubkey`: a package's library is run only once its signature and file hashes check out, the
    rule the device agent follows."""
    from ..verification.verify import Built
    p = Path(path)
    if p.is_dir() and (p / "report.json").is_file() and not (p / "manifest.json").is_file():
        built = Built(str(p))
        return Model(str(p), built.report, built=built)
    if not p.exists():
        raise EdgecError("no such build directory or package", where=str(path))
    if pubkey is None:
        raise EdgecError("a package is loaded only with the public key that signed it", where=str(path),
                         hint="api.load(PACKAGE, pubkey='signing.pub'), or load the build directory")
    from ..package import archive as package, signing
    public_key = signing.load_public(pubkey)
    kept = {}                          # the verifier streams each file to a sink: keep the report and library

    def sink(member, size, manifest):
        if member in ("report.json", manifest["library"]):
            kept[member] = package.Collect()
            return kept[member]
        return None
    if p.is_dir():
        r = package.verify_dir(str(p), str(p), lambda kid: public_key, sink)
    else:
        with open(p, "rb") as f:
            r = package.verify_file(f, str(p), lambda kid: public_key, sink)
    manifest = r["manifest"]
    try:
        report = json.loads(kept["report.json"].getvalue())
    except (KeyError, ValueError):
        raise EdgecError("the package holds no readable report.json", where=str(path)) from None
    return Model(str(p), report, manifest=manifest, library=kept[manifest["library"]].getvalue())


def _samples(model: Model, x) -> np.ndarray:
    if model.built is not None and len(model.built.int_graph.inputs) > 1:    # several inputs: an .npz path or {name: array}
        if isinstance(x, dict):
            from ..compiler.data import InputSamples, edge_names, fit_samples
            g = model.built.int_graph
            missing = [n for n in edge_names(g) if n not in x]
            if missing:
                raise InputDataError(f"no samples for input{'s' * (len(missing) > 1)} {', '.join(missing)}",
                                     hint=f"pass {{name: array}} for every input: {', '.join(edge_names(g))}")
            return InputSamples({t: fit_samples(np.asarray(x[n]), g.tensors[t].shape, f"samples[{n}]")
                                 for t, n in zip(g.inputs, edge_names(g))})
        return model.built.inputs(x)[0]
    if isinstance(x, (str, os.PathLike)) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], (str, os.PathLike))):
        return load_inputs(x, model.input_shape, model.preprocess, f"model '{model.name}'")[0]
    from ..compiler.data import fit_samples
    return fit_samples(np.asarray(x), model.input_shape, "samples")


def run(model: Model, x, *, on: str = "host", raw: bool = False) -> np.ndarray:
    """The compiled C's outputs [N, ...] for `x`: an array of N samples in the model's input layout
    (float), or a path / list of paths (.npy/.npz, or images, resized and normalised as the build
    records).  A build of several inputs takes {input name: array} or an .npz keyed so; several
    outputs come back as {output name: [N, ...]}.  Dequantized float32, or the int8 outputs with `raw`.  A build directory runs on the
    host or an emulated target (`on`, as `edgec run --on`); a package runs its own library (host)."""
    xs = _samples(model, x)
    if model.built is not None:
        from ..verification.verify import run_samples
        return run_samples(model.built, on, xs, raw)[0]
    if on != "host":
        raise EdgecError(f"a package runs its own library on this machine, not on '{on}'", where=model.path,
                         hint="load the build directory to run on an emulated target")
    from ..package.loaded import Model as Library
    lib = Library(model.name, model.path, model.manifest, "", model.library)     # loaded from a sealed memfd
    try:
        q = [np.frombuffer(lib.run_int8(lib.quantize(s).tobytes()), np.int8) for s in xs]
    finally:
        lib.close()
    out = np.stack(q).reshape((len(xs),) + model.output_shape)
    out = out if raw else lib.dequantize(out)
    return out.reshape((len(xs),) + model.output_shape[1:]) if model.output_shape[0] == 1 else out


def decode(model: Model, outputs, *, images=None, top_k: int = TOP_K) -> list:
    """What the outputs mean, one dict per sample: {"detections": [{"class", "label", "score",
    "box"}]} for a detector (after NMS; box = [left, top, right, bottom] in pixels of the original
    image when `images` — the paths given to run(), or (width, height) pairs — are passed, else of
    the model input), {"top": [{"class", "label", "score"}]} for a classifier.  int8 outputs (run
    with raw=True) are dequantized first."""
    spec = model.decode_spec
    if spec is None:
        raise EdgecError(f"model '{model.name}' is neither a detector nor a classifier: its outputs decode to nothing",
                         where=model.path)
    y = np.asarray(outputs)
    if y.dtype == np.int8:
        o = model.report["output"]
        y = ((y.astype(np.float64) - o["zero_point"]) * o["scale"]).astype(np.float32)   # as run() dequantizes
    if y.ndim == len(model.output_shape) - 1 and model.output_shape[0] == 1:
        y = y[None]                                     # one sample without its batch axis
    sizes = None
    if images is not None:
        paths = all(isinstance(i, (str, os.PathLike)) for i in images)
        sizes = [{"file": str(i) if paths else None, "width": int(w), "height": int(h)}
                 for i, (w, h) in zip(images, image_sizes(images) if paths else images)]
        if len(sizes) != len(y):
            raise InputDataError(f"{len(sizes)} images for {len(y)} outputs", hint="pass the images given to run()")
    return results(spec, y, model.labels, sizes, top_k)
