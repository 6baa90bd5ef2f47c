"""Lowerings several importers share: a framework op written with IR ops that already exist."""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from .builder import check_shape


def conv_transpose(b, name, x, w, bias, strides, pads, output_padding, dilations, groups, out=None, act=None,
                   weights=None):
    """ConvTranspose of NHWC `x` (weights w [C_in, C_out/groups, kh, kw], ONNX's layout; pads
    (t, l, b, r) as ONNX means them) as zero insertion -- the Resize op's "zeros" taps put input
    pixel (i, j) at (s*i, s*j) and real zero between -- then a stride-1 Conv2D with the flipped,
    transposed kernel and padding d*(k-1) - pad (+ output_padding at the end).  Padding larger
    than d*(k-1) is cropped by a Slice.  `act`: the conv's clamp (a fused activation); `weights`:
    how the conv's weights and bias become tensors, (OHWI array) -> (weights, bias) names, where the
    importer has its own (an int8 file's integers and scales); else float constants.  Returns the output
    tensor."""
    n, h, wd, c = b.shape_of(x)
    cin, cout_g, kh, kw = w.shape
    if groups < 1 or cin != c or cin % groups:
        raise ModelFormatError(f"transposed-convolution weights {w.shape} for {c} input channels in {groups} groups")
    s, d, op = tuple(strides), tuple(dilations), tuple(output_padding)
    if any(o >= max(st, dl) for o, st, dl in zip(op, s, d)):
        raise ModelFormatError(f"output_padding {op} must be smaller than the stride {s} or dilation {d}")
    cin_g, cout = cin // groups, cout_g * groups
    # the equivalent conv: W'[g*cout_g + o, i, y, x] = W[g*cin_g + i, o, kh-1-y, kw-1-x], as OHWI
    wg = np.asarray(w, np.float32).reshape(groups, cin_g, cout_g, kh, kw)[:, :, :, ::-1, ::-1]
    ohwi = np.ascontiguousarray(np.transpose(wg, (0, 2, 3, 4, 1)).reshape(cout, kh, kw, cin_g))
    zh, zw = (h - 1) * s[0] + 1, (wd - 1) * s[1] + 1
    check_shape((n, zh, zw, c), f"{name}'s zero-inserted input", b.context)
    if s != (1, 1):
        x = b.emit("Resize", f"{name}_zero_insert", [x], None,
                   {"size": (zh, zw), "mode": "zeros", "scale": (float(s[0]), float(s[1]))})
    full = [dl * (k - 1) for dl, k in zip(d, (kh, kw))]
    p = [full[0] - pads[0], full[1] - pads[1], full[0] - pads[2] + op[0], full[1] - pads[3] + op[1]]
    crop = [max(-v, 0) for v in p]
    if weights is not None:
        wn, bn = weights(ohwi)
    else:
        wn = b.const(f"{out or name}_weights", ohwi)
        bn = b.const(f"{out or name}_bias", np.zeros(cout, np.float32) if bias is None else np.asarray(bias, np.float32))
    attrs = {"strides": (1, 1), "dilations": d, "pads": tuple(max(v, 0) for v in p), "groups": groups, "act": act}
    y = b.emit("Conv2D", name, [x, wn, bn], None if any(crop) else out, attrs)
    if any(crop):
        _, yh, yw, _ = b.shape_of(y)
        y = b.emit("Slice", f"{name}_crop", [y], out, {"begin": (0, crop[0], crop[1], 0),
                                                       "end": (n, yh - crop[2], yw - crop[3], cout)})
    return y


def maximum(b, name, x, y, out=None):
    """max(x, y) = x + relu(y - x), exact in float; in int8 each step requantizes like any Sub/Add."""
    d = b.emit("Sub", f"{name}_diff", [y, x], None, {"act": None})
    return b.emit("Add", name, [x, b.emit("Relu", f"{name}_excess", [d])], out, {"act": None})


def minimum(b, name, x, y, out=None):
    """min(x, y) = x - relu(x - y)."""
    d = b.emit("Sub", f"{name}_diff", [x, y], None, {"act": None})
    return b.emit("Sub", name, [x, b.emit("Relu", f"{name}_excess", [d])], out, {"act": None})


def prelu(b, name, x, alpha, out=None):
    """PReLU with a constant slope (broadcast over x's trailing axes): relu(x) + alpha * (x - relu(x))."""
    pos = b.emit("Relu", f"{name}_pos", [x])
    neg = b.emit("Sub", f"{name}_neg", [x, pos], None, {"act": None})
    scaled = b.emit("Mul", f"{name}_slope", [neg, b.const(f"{name}_alpha", np.asarray(alpha, np.float32))], None,
                    {"act": None})
    return b.emit("Add", name, [pos, scaled], out, {"act": None})
