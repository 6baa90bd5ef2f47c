"""Resize (nearest, linear, zeros, strided, TFLite Micro's) of NHWC feature maps; the arithmetic and the
compile-time tap tables are compiler/resize.py's.  Kernel: runtime_c/edgec_resize_s8.c.  The output
keeps the input's quantization ("zeros" taps write its zero point)."""
from __future__ import annotations

from .. import resize
from .base import OpDef


def quantize(q, node):
    if q.tflm and node.attrs["mode"] == "linear":           # a .tflite's RESIZE_BILINEAR: TFLite Micro's taps
        node.attrs["mode"] = "tflm"
    node.attrs["zp"] = q.same_as_input(node).scalar_zp       # what "zeros" taps write


def emit(e, s):
    node, a, ish, osh = s.node, s.node.attrs, s.ish, s.osh
    (y0, y1, wy), (x0, x1, wx) = resize.int_taps(node, ish)
    tabs = {k: e.array(v, f"{k}_{node.name}", "int16_t", f"Resize {k}") for k, v in
            (("y0", y0), ("y1", y1), ("wy", wy), ("x0", x0), ("x1", x1), ("wx", wx))}
    p = e.param("edgec_resize_params", s.base, dict(batch=ish[0], in_h=ish[1], in_w=ish[2], c=ish[3], out_h=osh[1],
                                                     out_w=osh[2], zp=a["zp"]))
    return e.call("edgec_resize_s8", f"&{p}", tabs["y0"], tabs["y1"], tabs["wy"], tabs["x0"], tabs["x1"], tabs["wx"],
                  s.ins[0], s.out)


def macs(graph, node):
    return 4 * graph.tensors[node.outputs[0]].size if node.attrs["mode"] in ("linear", "tflm") else 0


DEFS = [OpDef("Resize", "x NHWC; attrs size (oh, ow), mode nearest|linear|zeros|strided, coord, nearest, scale, offset "
                        "(compiler/resize.py)", resize.out_shape, float_ref=resize.resize_f32, int8_ref=resize.resize_s8,
              quantize=quantize, emit=emit, kernel_file="edgec_resize_s8.c", macs=macs)]
