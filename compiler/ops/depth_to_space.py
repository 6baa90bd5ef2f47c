"""DepthToSpace: blocks of channels become b x b pixels (ONNX DepthToSpace, DCR and CRD modes; the
sub-pixel convolution of super-resolution and segmentation heads).  In NHWC:

    out[n, h*b + i, w*b + j, c] = in[n, h, w, k],  k = (i*b + j)*C' + c  (DCR)  or  c*b*b + i*b + j  (CRD)

with C' = C / (b*b).  A copy: the output keeps the input's quantization.
Kernel: runtime_c/edgec_depth_to_space_s8.c (twin: depth_to_space_any)."""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from .base import OpDef
from .checks import rank

MODES = ("DCR", "CRD")


def check(op, attrs, shapes, consts):
    rank(op, shapes, 0, 4, "NHWC input")
    b, mode = attrs["block"], attrs["mode"]
    if not isinstance(b, int) or b < 1 or shapes[0][3] % (b * b):
        raise ModelFormatError(f"DepthToSpace block {b} does not divide {shapes[0][3]} channels into b*b groups")
    if mode not in MODES:
        raise ModelFormatError(f"DepthToSpace mode {mode!r} (must be one of {', '.join(MODES)})")


def shape(node, s):
    n, h, w, c = s[0]
    b = node.attrs["block"]
    return [(n, h * b, w * b, c // (b * b))]


def depth_to_space_any(node, x):
    """Float and integer reference alike (values are only moved)."""
    n, h, w, c = x.shape
    b = node.attrs["block"]
    if node.attrs["mode"] == "DCR":          # channel k = (i*b + j)*C' + c'
        y = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
    else:                                    # CRD: channel k = c'*b*b + i*b + j
        y = x.reshape(n, h, w, c // (b * b), b, b).transpose(0, 1, 4, 2, 5, 3)
    return np.ascontiguousarray(y).reshape(n, h * b, w * b, c // (b * b))


def emit(e, s):
    a, ish = s.node.attrs, s.ish
    p = e.param("edgec_depth_to_space_params", s.base, dict(batch=ish[0], in_h=ish[1], in_w=ish[2], in_c=ish[3],
                                                             block=a["block"], crd=int(a["mode"] == "CRD")))
    return e.call("edgec_depth_to_space_s8", f"&{p}", s.ins[0], s.out)


DEFS = [OpDef("DepthToSpace", "x NHWC; attrs block, mode \"DCR\" | \"CRD\" (ONNX's channel orders)", shape,
              check=check, float_ref=depth_to_space_any, int8_ref=depth_to_space_any,
              quantize=lambda q, node: q.same_as_input(node), emit=emit, kernel_file="edgec_depth_to_space_s8.c")]
