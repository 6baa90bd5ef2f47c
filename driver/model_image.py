"""The model image beside the generated C: what `edgec build` writes into the output directory and what
`edgec image OUT/` (re)makes from a build (format: codegen/image.py; interpreter: runtime_c/edgec_image.c).

Golden inputs for the self-test: the first GOLDEN calibration samples (fewer for large inputs:
golden_count) (quantized as the C's caller
does), or given samples; a pre-quantized model built without samples gets GOLDEN deterministic
pseudo-random int8 inputs (seeded by the model's name), since its outputs still come from the
integer reference and prove the interpreter all the same."""
from __future__ import annotations

import hashlib
import os
import zlib

import numpy as np

from ..codegen.image import GOLDEN, GOLDEN_BYTES, IMAGE_FILE, check_one_io, golden_inputs, read_header, write_image
from ..compiler.errors import EdgecError, InputDataError
from ..compiler.ir import Graph
from ..passes.quantize import quantize_values


def quantize_input(q: Graph, xs: np.ndarray) -> np.ndarray:
    """Float samples -> the int8 input, as verify.Built.quantize_input."""
    inq = q.tensors[q.inputs[0]].quant
    if q.meta.get("input_quantize") == "float32":
        return quantize_values(np.asarray(xs, np.float32) / np.float32(inq.scalar_scale), 1.0, inq.scalar_zp)
    return quantize_values(xs, inq.scalar_scale, inq.scalar_zp)


def golden_count(q: Graph) -> int:
    """GOLDEN inputs, fewer (at least one) for inputs so large they would outweigh small models' weights."""
    return max(1, min(GOLDEN, GOLDEN_BYTES // max(1, q.tensors[q.inputs[0]].size)))


def golden(q: Graph, name: str, samples=None) -> np.ndarray:
    shape, n = tuple(q.tensors[q.inputs[0]].shape), golden_count(q)
    if samples is not None and len(samples):
        return quantize_input(q, np.asarray(samples)[:n]).reshape((-1,) + shape)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return rng.integers(-128, 128, (n,) + shape).astype(np.int8)


def summary(img: bytes) -> dict:
    """report.json's "image" entry."""
    h = read_header(img)
    return {"file": IMAGE_FILE, "bytes": len(img), "sha256": hashlib.sha256(img).hexdigest(),
            "body_sha256": h["sha256"], "format": h["format"], "kernel_abi": h["kernel_abi"], "kernels": h["kernels"],
            "calls": h["calls"], "arena_bytes": h["arena_bytes"], "data_bytes": h["data"][1], "selftests": h["selftests"],
            "version": h["version"]}


def for_build(q: Graph, gen: dict, name: str, samples, log=lambda m: None) -> tuple:
    """(image bytes or None, report entry): a model the format cannot hold still builds, and says why."""
    try:
        check_one_io(q)
        img = write_image(q, gen, name, golden(q, name, samples))
    except EdgecError as e:
        log(f"no model image: {e.headline}")
        return None, {"refused": e.headline}
    return img, summary(img)


def make_image(out_dir: str, samples_path: str | None = None, version: str = "1") -> dict:
    """`edgec image OUT/`: the image of a build, written to OUT/model.edgecimg; returns its summary.
    Golden inputs: `samples_path`, else those of the image already there, else as a build picks them."""
    from ..codegen.header import header_facts
    from ..codegen.c import generate
    from ..verification.verify import Built
    built = Built(out_dir)
    q = built.int_graph
    check_one_io(q)
    name = built.report["model"]
    path = os.path.join(out_dir, IMAGE_FILE)
    if samples_path is not None:
        xs, _ = built.inputs(samples_path)
        g = quantize_input(q, xs[:golden_count(q)])
    elif os.path.isfile(path):
        try:
            g = golden_inputs(open(path, "rb").read())
        except EdgecError:
            g = golden(q, name)
    else:
        g = golden(q, name)
    if not str(version) or len(str(version).encode()) > 15:
        raise InputDataError(f"--model-version '{version}' must be 1 to 15 bytes")
    c_std = "c99"
    gen = generate(q, name, dict(header_facts(q, built.report.get("source") or name), c_std=c_std))
    img = write_image(q, gen, name, g.reshape((-1,) + tuple(built.input_shape)), version)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(img)
    os.replace(tmp, path)
    return dict(summary(img), path=path)
