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


class InputSamples:
    """N samples of a model of several inputs, {input tensor: [N, *its shape] float32}, taken as one
    sequence of samples: len() is N, item i (and iteration) is sample i as {input tensor: array},
    which reference.run takes; a slice is the samples it selects.  A model of one input keeps its plain
    [N, *shape] array, so everything written for one input reads these the same way."""

    def __init__(self, arrays: dict):
        self.arrays = dict(arrays)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return InputSamples({k: v[i] for k, v in self.arrays.items()})
        return {k: v[i] for k, v in self.arrays.items()}

    def map(self, fn) -> "InputSamples":
        """fn(input tensor, its [N, ...] array) for each input, as new samples."""
        return InputSamples({k: fn(k, v) for k, v in self.arrays.items()})


def edge_names(graph, kind: str = "input") -> list:
    """The names users know a graph's inputs (or outputs) by, unique: the model file's own (meta
    input_names / output_names, an ONNX graph's) where the importer kept them, else the IR tensors' names."""
    tensors = graph.inputs if kind == "input" else graph.outputs
    given = graph.meta.get(f"{kind}_names") or []
    names = [str(g or t) for g, t in zip(given, tensors)] if len(given) == len(tensors) else list(tensors)
    # two outputs of one Keras layer share its name: the second and later are told apart by their position
    return [n if names.index(n) == i else f"{n}_{i}" for i, n in enumerate(names)]


def load_samples(path: str, graph, role: str = "calibration"):
    """The samples in `path` for `graph`'s inputs: [N, *shape] float32 (fit_samples) for a model of one
    input; for several, an .npz with one array per input, keyed by the input's name (edge_names), each
    fitted to its input and all with the same N, as InputSamples."""
    shapes = [graph.tensors[t].shape for t in graph.inputs]
    if len(shapes) == 1:
        return fit_samples(load_array(path, role), shapes[0], path)
    names = edge_names(graph)
    if not os.path.isfile(path):
        raise InputDataError(f"{role} file not found", where=path)
    if not path.endswith(".npz"):
        raise InputDataError(f"the model has {len(names)} inputs ({', '.join(names)}): its {role} data is an .npz "
                             "with one array per input, keyed by the input's name", where=path,
                             hint=f"np.savez(path, {', '.join(f'{n}=...' for n in names)})")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise InputDataError(f"not a readable .npz file ({e})", where=path) from None
    with z:
        keys = {n: n for n in names}
        if not set(names) & set(z.files) and set(z.files) == {f"arr_{i}" for i in range(len(names))}:
            keys = {n: f"arr_{i}" for i, n in enumerate(names)}      # np.savez(path, a, b): the inputs in order
        missing = [n for n in names if keys[n] not in z.files]
        if missing:
            raise InputDataError(f"the {role} .npz has no array for input{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(missing)} (it holds {', '.join(z.files) or 'nothing'})", where=path,
                                 hint=f"key one array per input by its name: {', '.join(names)}")
        arrays = {t: fit_samples(z[keys[n]], s, f"{path}[{keys[n]}]") for t, n, s in zip(graph.inputs, names, shapes)}
    counts = {n: len(a) for n, a in zip(names, arrays.values())}
    if len(set(counts.values())) != 1:
        raise InputDataError("the inputs' arrays hold different numbers of samples ("
                             + ", ".join(f"{n}: {c}" for n, c in counts.items()) + ")", where=path,
                             hint="give every input the same number of samples, in the same order")
    return InputSamples(arrays)
