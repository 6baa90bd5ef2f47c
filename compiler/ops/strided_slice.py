"""StridedSlice (steps may be negative); the planning is compiler/strided_slice.py's.  A copy: the
output keeps the input's quantization.  Kernel: runtime_c/edgec_strided_slice_s8.c."""
from __future__ import annotations

from .. import strided_slice
from .base import OpDef
from .common import pad4


def emit(e, s):
    a, ish, r = s.node.attrs, s.ish, len(s.ish)
    p = e.param("edgec_strided_slice_params", s.base, dict(
        in_shape=pad4(ish), begin=(0,) * (4 - r) + tuple(a["begin"]), step=(1,) * (4 - r) + tuple(a["step"]),
        count=(1,) * (4 - r) + tuple(a["count"])))
    return e.call("edgec_strided_slice_s8", f"&{p}", s.ins[0], s.out)


DEFS = [OpDef("StridedSlice", "x; attrs begin, step (may be negative), count per axis (compiler/strided_slice.py)",
              strided_slice.out_shape, float_ref=strided_slice.strided_slice_any,
              int8_ref=strided_slice.strided_slice_any, quantize=lambda q, node: q.same_as_input(node), emit=emit,
              kernel_file="edgec_strided_slice_s8.c")]
