"""Host-side pre-processing: image files (PNG, JPEG, anything Pillow reads) → the model's input.

Why it exists: a camera model is trained on pixels that were resized and normalised in one
particular way, and a user holding a photo should not have to know that way to try the model.
The way is decided once, at build time, and kept beside the model (report.json, the package
manifest), so `edgec run`, `edgec verify`, `edgec agent predict` and `edgec.cli.api` all turn an image
into exactly the tensor the model was calibrated for.

The spec (a dict, `report["preprocess"]`):
  width, height, channels   the model input's image size (from its input shape)
  layout                    "nhwc" or "nchw": how the model takes the image
  color                     "rgb", "bgr" or "gray" (gray for one channel)
  scale, mean, std          value = (pixel * scale - mean[c]) / std[c], pixel in 0..255
  resize                    "stretch": the whole image resized to width x height (Pillow bilinear),
                            so a box's relative coordinates are relative to the original image too
  from                      where the spec came from (darknet [net], a Keras layer, --preprocess)

Defaults: a Darknet model normalises pixels to [0, 1] (darknet's image loader divides by 255);
a Keras model whose input goes straight into a Rescaling or Normalization layer has that layer
in its graph, so it takes raw 0..255 pixels.  Any other model (ONNX, TFLite, other Keras models)
takes images only when `edgec build --preprocess` says how; its syntax (`parse`):

    --preprocess scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225,layout=nchw,color=rgb

comma-separated KEY=VALUE; mean and std take one value or one per channel (the values after
`mean=` up to the next KEY= belong to it); scale is a number or a fraction a/b; every key is
optional (defaults: scale=1, mean=0, std=1, layout from the input shape, color rgb or gray), so
`--preprocess scale=1` says "raw 0..255 pixels".  Given for a Darknet or Keras model, the keys
given replace the defaults.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..compiler.errors import InputDataError

KEYS = ("scale", "mean", "std", "layout", "color")
LAYOUTS = ("nhwc", "nchw")
COLORS = ("rgb", "bgr", "gray")
SYNTAX = "e.g. --preprocess scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225,layout=nchw,color=rgb"
#: Files read as arrays (as before images were accepted); anything else is tried as an image.
ARRAY_EXTENSIONS = (".npy", ".npz")
_ARRAY_MAGIC = (b"\x93NUMPY", b"PK\x03\x04")


def _number(key: str, text: str) -> float:
    t = text.strip()
    try:
        if "/" in t:
            a, b = t.split("/", 1)
            v = float(a) / float(b)
        else:
            v = float(t)
    except (ValueError, ZeroDivisionError):
        raise InputDataError(f"--preprocess {key}={text!r} is not a number", hint=SYNTAX) from None
    if not math.isfinite(v):
        raise InputDataError(f"--preprocess {key}={text!r} is not a finite number", hint=SYNTAX)
    return v


def parse(text: str) -> dict:
    """The --preprocess text → {key: value} of the keys it gives (scale float, mean/std lists of
    floats, layout and color lower-case words).  Refuses unknown keys and malformed values."""
    values, key = {}, None
    for token in str(text).split(","):
        token = token.strip()
        if "=" in token:
            key, v = (s.strip() for s in token.split("=", 1))
            key = key.lower()
            if key not in KEYS:
                raise InputDataError(f"--preprocess has no key '{key}'", hint=f"keys: {', '.join(KEYS)}; {SYNTAX}")
            if key in values:
                raise InputDataError(f"--preprocess gives {key}= twice", hint=SYNTAX)
            values[key] = [v]
        elif token and key in ("mean", "std"):
            values[key].append(token)
        elif token or key is None:
            raise InputDataError(f"--preprocess: '{token or text}' is not KEY=VALUE", hint=SYNTAX)
    out = {}
    for k, vs in values.items():
        if k in ("layout", "color"):
            word = vs[0].lower()
            allowed = LAYOUTS if k == "layout" else COLORS
            if word not in allowed:
                raise InputDataError(f"--preprocess {k}={vs[0]!r} is not one of {', '.join(allowed)}", hint=SYNTAX)
            out[k] = word
        elif k == "scale":
            out[k] = _number(k, vs[0])
            if out[k] <= 0:
                raise InputDataError(f"--preprocess scale={vs[0]} must be positive", hint=SYNTAX)
        else:
            out[k] = [_number(k, v) for v in vs]
            if k == "std" and any(s <= 0 for s in out[k]):
                raise InputDataError(f"--preprocess std={','.join(vs)} must be positive", hint=SYNTAX)
    return out


def model_default(meta: dict) -> dict | None:
    """What the model file itself says about its pixels (see the module doc), or None."""
    if meta.get("format") == "darknet":
        return {"scale": 1 / 255, "from": "darknet [net]: pixels / 255"}
    if meta.get("input_rescaling"):
        return {"scale": 1.0, "from": f"Keras {meta['input_rescaling']} layer in the model: raw 0..255 pixels"}
    return None


def _layout(shape: tuple, meta: dict) -> str | None:
    if meta.get("format") in ("darknet", "keras", "tflite"):
        return "nhwc"
    last, first = shape[3] in (1, 3), shape[1] in (1, 3)
    if last and not first:
        return "nhwc"
    if first and not last:
        return "nchw"
    return None


def resolve(input_shape, meta: dict, option: str | None, where: str | None = None) -> dict | None:
    """The spec a build records: the model's default (model_default) with the --preprocess keys
    on top; None when neither says anything (the model takes arrays only), or when only the
    model's default does and its input is not an image (a Keras Normalization over features)."""
    given = parse(option) if option else {}
    base = model_default(meta)
    if base is None and not option:
        return None
    shape = tuple(int(d) for d in input_shape)
    if not option and not (len(shape) == 4 and shape[0] == 1 and shape[3] in (1, 3)):
        return None
    if len(shape) != 4 or shape[0] != 1:
        raise InputDataError(f"--preprocess needs an image input [1, H, W, C] or [1, C, H, W]; the model takes {shape}",
                             where=where, hint="leave --preprocess out: this model takes .npy samples")
    layout = given.get("layout") or _layout(shape, meta)
    if layout is None:
        raise InputDataError(f"cannot tell whether the input {shape} is NHWC or NCHW", where=where,
                             hint="add layout=nhwc or layout=nchw to --preprocess")
    h, w, c = shape[1:] if layout == "nhwc" else (shape[2], shape[3], shape[1])
    if c not in (1, 3):
        raise InputDataError(f"an image input has 1 (gray) or 3 (color) channels; the {layout.upper()} input {shape} "
                             f"has {c}", where=where, hint="check layout= in --preprocess")
    color = given.get("color") or ("gray" if c == 1 else "rgb")
    if (color == "gray") != (c == 1):
        raise InputDataError(f"color={color} does not fit an input of {c} channel{'s' * (c > 1)}", where=where,
                             hint="gray for one channel, rgb or bgr for three")
    stats = {}
    for k in ("mean", "std"):
        v = given.get(k, [0.0 if k == "mean" else 1.0])
        if len(v) not in (1, c):
            raise InputDataError(f"--preprocess {k}= has {len(v)} values for {c} channels", where=where,
                                 hint=f"give one value or {c}")
        stats[k] = [float(x) for x in (v * c if len(v) == 1 else v)]
    src = [base["from"]] if base else []
    if given:
        src.append("--preprocess " + option.strip())
    return {"width": w, "height": h, "channels": c, "layout": layout, "color": color,
            "scale": float(given.get("scale", base["scale"] if base else 1.0)), **stats,
            "resize": "stretch", "from": "; ".join(src)}


def describe(spec: dict) -> str:
    """One line for people: 'RGB 320x320 NHWC, pixel * 0.00392157 (darknet [net]: pixels / 255)'."""
    norm = f"pixel * {spec['scale']:.6g}"
    if any(spec["mean"]):
        norm = f"({norm} - {','.join(f'{m:g}' for m in spec['mean'])})"
    if any(s != 1 for s in spec["std"]):
        norm += f" / {','.join(f'{s:g}' for s in spec['std'])}"
    return f"{spec['color'].upper()} {spec['width']}x{spec['height']} {spec['layout'].upper()}, {norm} ({spec['from']})"


def is_array_file(path) -> bool:
    """True for .npy/.npz files (by name, or by content whatever the name): read with load_array."""
    if str(path).lower().endswith(ARRAY_EXTENSIONS):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return False
    return head.startswith(_ARRAY_MAGIC)


def read_image(path, spec: dict) -> tuple[np.ndarray, dict]:
    """One image file → ([1, ...input shape] float32, {"file", "width", "height"} of the original).
    EXIF orientation is applied first, so sizes and boxes are those of the image as it is viewed."""
    from PIL import Image, ImageOps

    path = str(path)
    if not os.path.isfile(path):
        raise InputDataError("input file not found", where=path)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            size = im.size
            im = im.convert("L" if spec["color"] == "gray" else "RGB")
            im = im.resize((spec["width"], spec["height"]), Image.BILINEAR)
            px = np.asarray(im, dtype=np.float64)
    except Image.DecompressionBombError as e:
        raise InputDataError(f"image too large ({e})", where=path) from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:         # Pillow's ways of saying "not an image I read"
        raise InputDataError(f"not a readable image or .npy/.npz file ({str(e) or type(e).__name__})", where=path,
                             hint="pass PNG/JPEG images or .npy/.npz samples") from None
    if px.ndim == 2:
        px = px[:, :, None]
    if spec["color"] == "bgr":
        px = px[:, :, ::-1]
    x = (px * spec["scale"] - np.asarray(spec["mean"])) / np.asarray(spec["std"])
    if spec["layout"] == "nchw":
        x = x.transpose(2, 0, 1)
    return x[None].astype(np.float32), {"file": path, "width": int(size[0]), "height": int(size[1])}


def image_sizes(paths) -> list:
    """(width, height) of each image as read_image sees it (EXIF orientation applied)."""
    from PIL import Image
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                w, h = im.size
                if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):     # rotated by 90 degrees: as exif_transpose
                    w, h = h, w
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise InputDataError(f"not a readable image ({str(e) or type(e).__name__})", where=str(p)) from None
        out.append((w, h))
    return out


def load_inputs(paths, input_shape, spec: dict | None, model: str = "the model", role: str = "input"):
    """Samples for a model from what a user passes: one .npy/.npz file (N samples, as before) or one
    or more image files.  Returns (xs [N, *input_shape] float32, images): images is None for an
    array file, else one {"file", "width", "height"} per sample."""
    from ..compiler.data import fit_samples, load_array

    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise InputDataError(f"no {role} given", hint="pass a .npy/.npz file or image files")
    arrays = [p for p in paths if is_array_file(p)]
    if arrays:
        if len(paths) > 1:
            raise InputDataError(f"give one .npy/.npz file or image files, not {len(paths)} files with "
                                 f"{len(arrays)} array{'s' * (len(arrays) > 1)} among them", where=str(arrays[0]))
        return fit_samples(load_array(str(paths[0]), role), input_shape, str(paths[0])), None
    if spec is None:
        raise InputDataError(f"{model} takes no images: its build records no image preprocessing", where=str(paths[0]),
                             hint="pass .npy/.npz samples, or rebuild with --preprocess (`edgec build --help`) if it is an image model")
    xs, images = zip(*(read_image(p, spec) for p in paths))
    return fit_samples(np.concatenate(xs), input_shape, str(paths[0])), list(images)
