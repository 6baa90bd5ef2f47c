"""The ops that move int8 values without arithmetic: Reshape, Transpose, Pad, Concat, Slice, Upsample.

Each keeps its input's quantization (TFLite's int8 spec) but Concat, which requantizes inputs whose
scale differs from its output's.  Kernels: runtime_c/edgec_transpose_s8.c, edgec_pad_s8.c,
edgec_concat_s8.c, edgec_slice_s8.c, edgec_upsample_s8.c; a Reshape is an alias (or one memcpy)."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from ..errors import EdgecError, ModelFormatError
from .base import OpDef
from .checks import check_shape, ints, rank, short
from .common import pad4


def _same_as_input(q, node):
    q.same_as_input(node)


# -- Reshape ---------------------------------------------------------------------------------------
def reshape_shape(node, s):
    shape = tuple(node.attrs["shape"])
    if int(np.prod(shape)) != int(np.prod(s[0])):
        raise EdgecError(f"cannot reshape {s[0]} to {shape}", where=f"node {node.name} (Reshape)")
    return [shape]


def reshape_any(n, x):
    return x.reshape(n.attrs["shape"])


def emit_reshape(e, s):
    if s.ins[0] == s.out:
        return None
    return e.call("memcpy", s.out, s.ins[0], s.graph.tensors[s.node.outputs[0]].nbytes)


# -- Transpose -------------------------------------------------------------------------------------
def check_transpose(op, attrs, shapes, consts):
    perm = ints(attrs["perm"], len(shapes[0]), "Transpose perm", 0)
    if sorted(perm) != list(range(len(shapes[0]))):
        raise ModelFormatError(f"Transpose perm {perm} is not a permutation of the {len(shapes[0])} axes")


#: NCHW -> NHWC: what a channels-first model's graph does to its input first (edgec computes NHWC)
TO_CHANNELS_LAST = (0, 2, 3, 1)


def transpose_window(graph, node):
    """NCHW -> NHWC is row-local in H: NHWC output rows r0..r1 are input rows r0..r1 of every channel,
    so a patch-based stage may start with it and keep only a band of the transposed tensor (a PyTorch
    model's transposed input need not sit whole in the arena through the stem).  Its input's rows lie
    along axis 2, not 1, and are strided across channels: passes/tile.py lets it only start a stage
    (whole input) and never writes a stage's output over such an input.  Other permutations: None."""
    return (1, 1, 1, 0) if tuple(node.attrs["perm"]) == TO_CHANNELS_LAST else None


def emit_transpose(e, s):
    r = len(s.ish)
    perm = tuple(range(4 - r)) + tuple(p + 4 - r for p in s.node.attrs["perm"])
    p = e.param("edgec_transpose_params", s.base, dict(in_shape=pad4(s.ish), perm=perm))
    if s.band is not None:                                   # output rows of a patch-based stage's band
        return e.call("edgec_transpose_rows_s8", f"&{p}", s.ins[0], s.out, s.r0, s.rn)
    return e.call("edgec_transpose_s8", f"&{p}", s.ins[0], s.out)


# -- Pad -------------------------------------------------------------------------------------------
def pad_shape(node, s):
    r = len(s[0])
    p = node.attrs["pads"]
    return [tuple(d + p[i] + p[i + r] for i, d in enumerate(s[0]))]


#: a Pad's modes besides constant: the border element repeated, or the input mirrored about its border
#: element (ONNX "edge" / "reflect", numpy's names too); the C kernel's mode numbers
BORDER_MODES = {"edge": 1, "reflect": 2}


def pad_f32(node, x):
    r = x.ndim
    p, mode = node.attrs["pads"], node.attrs.get("mode", "constant")
    if mode == "constant":                   # `value`: the real constant (F.pad(..., value=c)), 0 if absent
        return np.pad(x, [(p[i], p[i + r]) for i in range(r)], constant_values=node.attrs.get("value", 0.0))
    return np.pad(x, [(p[i], p[i + r]) for i in range(r)], mode=mode)


def pad_s8(node, x):
    r = x.ndim
    p, mode = node.attrs["pads"], node.attrs.get("mode", "constant")
    if mode in BORDER_MODES:
        return np.pad(x, [(p[i], p[i + r]) for i in range(r)], mode=mode)
    return np.pad(x, [(p[i], p[i + r]) for i in range(r)], constant_values=node.attrs["pad_value"])


def quantize_pad(q, node):
    """The constant `value` (0: the output's zero point, which is the input's but where a .tflite gives the
    output its own) quantized at the output's scale, saturating at the int8 ends (-inf, the max pool idiom,
    becomes the least int8: it never wins a max)."""
    q.same_as_input(node)
    qo = q.qof(node.outputs[0])
    v = np.clip(node.attrs.get("value", 0.0) / qo.scalar_scale, -1e9, 1e9)     # the scale's own precision
    node.attrs["pad_value"] = int(np.clip(qo.scalar_zp + fp.round_half_away(v), -128, 127))


def pad_window(graph, node):
    """Row-local when constant: output row r is input row r - top.  An edge or reflect Pad reads rows
    far from its output row (the border, the mirror image), so it runs whole: None."""
    return None if node.attrs.get("mode", "constant") != "constant" else (1, 1, 1, node.attrs["pads"][1])


def emit_pad(e, s):
    a, ish, r = s.node.attrs, s.ish, len(s.ish)
    before = (0,) * (4 - r) + tuple(a["pads"][:r])
    if a.get("mode", "constant") in BORDER_MODES:
        p = e.param("edgec_pad_border_params", s.base, dict(in_shape=pad4(ish), before=before, out_shape=pad4(s.osh),
                                                             mode=BORDER_MODES[a["mode"]]))
        return e.call("edgec_pad_border_s8", f"&{p}", s.ins[0], s.out)
    p = e.param("edgec_pad_params", s.base, dict(in_shape=pad4(ish), before=before, out_shape=pad4(s.osh),
                                                  value=a["pad_value"]))
    if s.band is not None:                                   # a row band of a patch-based stage
        return e.call("edgec_pad_rows_s8", f"&{p}", s.ins[0], s.r_in, s.out, s.r0, s.rn)
    return e.call("edgec_pad_s8", f"&{p}", s.ins[0], s.out)


# -- Concat ----------------------------------------------------------------------------------------
def check_concat(op, attrs, shapes, consts):
    ax = attrs["axis"]
    r = len(shapes[0])
    if not isinstance(ax, int) or not 0 <= ax < r:
        raise ModelFormatError(f"Concat axis {ax} of rank-{r} inputs")
    for s in shapes[1:]:
        if len(s) != r or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != ax):
            raise ModelFormatError(f"Concat of shapes {short(shapes)} along axis {ax}")


def concat_shape(node, s):
    ax = node.attrs["axis"]
    out = list(s[0])
    out[ax] = sum(x[ax] for x in s)
    return [tuple(out)]


def concat_any(node, *xs):
    return np.concatenate(xs, axis=node.attrs["axis"])


def concat_s8(node, *xs):
    parts = []
    for x, rq in zip(xs, node.attrs["requant"]):
        if rq is None:
            parts.append(x)
        else:
            v = fp.multiply_by_quantized_multiplier(x.astype(np.int64) - rq["in_zp"], rq["multiplier"], rq["shift"])
            parts.append(np.clip(v + node.attrs["out_zp"], -128, 127).astype(np.int8))
    return np.concatenate(parts, axis=node.attrs["axis"])


def emit_concat(e, s):
    g, node, a, osh = s.graph, s.node, s.node.attrs, s.osh
    axis, offset, lines = a["axis"], 0, []
    outer = int(np.prod(osh[:axis]))
    out_inner = int(np.prod(osh[axis:]))
    for k, (t, ptr, rq, bound) in enumerate(zip(node.inputs, s.ins, a["requant"], a.get("bound", [False] * len(s.ins)))):
        in_inner = int(np.prod(g.tensors[t].shape[axis:]))
        if bound:                               # its producer already wrote this slice
            offset += in_inner
            continue
        p = e.param("edgec_concat_params", f"{s.base}_{k}", dict(
            outer=outer, in_inner=in_inner, out_inner=out_inner, offset=offset, requant=int(rq is not None),
            in_zp=rq["in_zp"] if rq else 0, multiplier=rq["multiplier"] if rq else 0, shift=rq["shift"] if rq else 0,
            out_zp=a["out_zp"]))
        lines.append(e.call("edgec_concat_s8", f"&{p}", ptr, s.out))
        offset += in_inner
    return "\n    ".join(lines) or None


# -- Slice -----------------------------------------------------------------------------------------
def check_slice(op, attrs, shapes, consts):
    b, e = ints(attrs["begin"], len(shapes[0]), "Slice begin", 0), ints(attrs["end"], len(shapes[0]), "Slice end", 1)
    if any(x >= y or y > d for x, y, d in zip(b, e, shapes[0])):
        raise ModelFormatError(f"Slice {b}..{e} of shape {shapes[0]}")


def slice_any(node, x):
    return x[tuple(slice(b, e) for b, e in zip(node.attrs["begin"], node.attrs["end"]))]


def emit_slice(e, s):
    a, ish, r = s.node.attrs, s.ish, len(s.ish)
    p = e.param("edgec_slice_params", s.base, dict(in_shape=pad4(ish), begin=(0,) * (4 - r) + tuple(a["begin"]),
                                                    end=(1,) * (4 - r) + tuple(a["end"])))
    return e.call("edgec_slice_s8", f"&{p}", s.ins[0], s.out)


# -- Upsample --------------------------------------------------------------------------------------
def check_upsample(op, attrs, shapes, consts):
    rank(op, shapes, 0, 4, "NHWC input")
    ints(attrs["scale"], 2, "Upsample scale", 1)


def upsample_any(node, x):
    sh, sw = node.attrs["scale"]
    return np.repeat(np.repeat(x, sh, axis=1), sw, axis=2)


def emit_upsample(e, s):
    a, ish = s.node.attrs, s.ish
    p = e.param("edgec_upsample_params", s.base, dict(batch=ish[0], in_h=ish[1], in_w=ish[2], c=ish[3],
                                                       scale_h=a["scale"][0], scale_w=a["scale"][1]))
    return e.call("edgec_upsample_s8", f"&{p}", s.ins[0], s.out)


DEFS = [
    OpDef("Upsample", "x; attrs scale (sh, sw): nearest neighbour",
          lambda n, s: [(s[0][0], s[0][1] * n.attrs["scale"][0], s[0][2] * n.attrs["scale"][1], s[0][3])],
          check=check_upsample, float_ref=upsample_any, int8_ref=upsample_any, quantize=_same_as_input,
          emit=emit_upsample, kernel_file="edgec_upsample_s8.c"),
    OpDef("Slice", "x; attrs begin, end (per axis, step 1)",
          lambda n, s: [tuple(n.attrs["end"][i] - n.attrs["begin"][i] for i in range(len(s[0])))],
          check=check_slice, float_ref=slice_any, int8_ref=slice_any, quantize=_same_as_input, emit=emit_slice,
          kernel_file="edgec_slice_s8.c"),
    OpDef("Reshape", "x; attrs shape (an alias: no data moves)", reshape_shape,
          check=lambda op, attrs, shapes, consts: check_shape(attrs["shape"], "Reshape target", None),
          float_ref=reshape_any, int8_ref=reshape_any, int16_ref=reshape_any, quantize=_same_as_input,
          quantize16=lambda q, node: q.same_as_input16(node), emit=emit_reshape),
    OpDef("Transpose", "x; attrs perm", lambda n, s: [tuple(s[0][p] for p in n.attrs["perm"])],
          check=check_transpose, float_ref=lambda n, x: np.transpose(x, n.attrs["perm"]),
          int8_ref=lambda n, x: np.transpose(x, n.attrs["perm"]), quantize=_same_as_input, emit=emit_transpose,
          kernel_file="edgec_transpose_s8.c", window=transpose_window),
    OpDef("Pad", "x; attrs pads (before..., after...), constant `value` (0 if absent); mode \"edge\" (repeat the border) "
                 "or \"reflect\"",
          pad_shape,
          check=lambda op, attrs, shapes, consts: ints(attrs["pads"], 2 * len(shapes[0]), "Pad pads", 0),
          float_ref=pad_f32, int8_ref=pad_s8, quantize=quantize_pad, emit=emit_pad, kernel_file="edgec_pad_s8.c",
          window=pad_window),
    OpDef("Concat", "xs...; attrs axis", concat_shape, arity=(1, 1 << 30), check=check_concat, float_ref=concat_any,
          int8_ref=concat_s8, quantize=lambda q, node: q.concat(node), emit=emit_concat,
          kernel_file="edgec_concat_s8.c"),
]
