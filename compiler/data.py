"""Loading sample data (.npy / .npz) and fitting it to a model input."""
from __future__ import annotations

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


def fit_samples(arr: np.ndarray, input_shape: tuple, path: str = "samples") -> np.ndarray:
    """[N, *input_shape] float32 from the ways users hold samples: one sample of exactly the input
    shape, N samples with the input's leading batch axis of 1 dropped or kept, or N flattened samples."""
    if arr.dtype.kind not in "fiu":
        raise InputDataError(f"samples must be numeric, got dtype {arr.dtype}", where=path)
    shape = tuple(input_shape)
    size = int(np.prod(shape))
    if arr.shape == shape and shape[0] == 1:
        out = arr.reshape((1,) + shape)
    elif arr.ndim >= 1 and arr.shape[0] > 0 and int(np.prod(arr.shape[1:])) == size:
        out = arr.reshape((arr.shape[0],) + shape)
    else:
        raise InputDataError(f"samples of shape {arr.shape} do not fit the model input {shape}",
                             where=path, hint=f"pass an array of shape (N, {', '.join(map(str, shape[1:] if shape[0] == 1 else shape))})")
    out = out.astype(np.float32)
    if not np.isfinite(out).all():
        raise InputDataError("samples contain NaN or infinity", where=path)
    return out
