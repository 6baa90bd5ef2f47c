"""Loading sample data (.npy / .npz) and fitting it to a model input."""
from __future__ import annotations

import hashlib
import os
import zipfile

import numpy as np

from .errors import InputDataError


def load_array(path: str, role: str = "data") -> np.ndarray:
    if not os.path.isfile(path):
        raise InputDataError(f"{role} file not found", where=path)
    try:
        obj = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise InputDataError(f"not a readable .npy/.npz file ({e})", where=path) from None
    if isinstance(obj, np.lib.npyio.NpzFile):
        with obj:
            keys = list(obj.keys())
            if not keys:
                raise InputDataError("the .npz file holds no arrays", where=path)
            key = "x" if "x" in keys else keys[0]
            return obj[key]
    return obj


def _squeezed(shape) -> tuple:
    return tuple(d for d in shape if d != 1)


def _transpose_hint(got: tuple, want: tuple) -> str | None:
    """`x.transpose(...)` that turns samples laid out as `got` into `want` (per sample, no batch axis),
    when `got` holds the same dims in another order; equal dims keep their order."""
    if len(got) != len(want) or sorted(got) != sorted(want) or got == want:
        return None
    free, axes = list(range(len(got))), []
    for d in want:
        j = next(j for j in free if got[j] == d)
        free.remove(j)
        axes.append(j + 1)
    layout = ""
    if len(want) == 3 and want[2] <= 4 < min(want[0], want[1]):
        layout = "this model takes NHWC images (channels last): "
    elif len(want) == 3 and want[0] <= 4 < min(want[1], want[2]):
        layout = "this model takes NCHW images (channels first): "
    return f"{layout}x.transpose({', '.join(map(str, [0] + axes))})"


def fit_samples(arr: np.ndarray, input_shape: tuple, path: str = "samples") -> np.ndarray:
    """[N, *input_shape] float32 from the ways users hold samples: one sample of exactly the input
    shape, N samples with the input's axes (size-1 axes such as a batch of 1 may be dropped or kept),
    or N flattened samples.  Anything else is refused, even with the right element count: an image
    in NCHW order for an NHWC model has as many values and would give wrong answers without a word."""
    if arr.dtype.kind not in "fiu":
        raise InputDataError(f"samples must be numeric, got dtype {arr.dtype}", where=path)
    shape = tuple(int(d) for d in input_shape)
    size = int(np.prod(shape))
    per_sample = tuple(arr.shape[1:])
    if arr.shape == shape and shape[0] == 1:
        out = arr.reshape((1,) + shape)
    elif (arr.ndim >= 1 and arr.shape[0] > 0 and int(np.prod(per_sample)) == size
          and (len(per_sample) == 1 or _squeezed(per_sample) == _squeezed(shape))):
        out = arr.reshape((arr.shape[0],) + shape)
    else:
        want = shape[1:] if shape[0] == 1 else shape
        expected = f"(N, {', '.join(map(str, want))})" + (f" or flattened (N, {size})" if len(want) > 1 else "")
        hint = _transpose_hint(_squeezed(per_sample), _squeezed(want)) if int(np.prod(per_sample)) == size else None
        raise InputDataError(f"samples of shape {arr.shape} do not fit the model input {shape}: expected {expected}",
                             where=path, hint=hint or f"pass an array of shape {expected.split(' or ')[0]}")
    out = out.astype(np.float32)
    if not np.isfinite(out).all():
        raise InputDataError("samples contain NaN or infinity", where=path)
    return out


def file_sha256(path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks (a model or a source tarball can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
