"""Weight layouts: the byte orders in which runtime_c's kernels read int8 weights (runtime_c/edgec_dot.h).
Shared by the C emitters of codegen/c.py and codegen/recurrent.py."""
from __future__ import annotations

import numpy as np


def interleave(w: np.ndarray, lanes: int) -> np.ndarray:
    """[O, ...] int8 weights -> `lanes` output channels at a time interleaved in groups of four inputs:
    K = prod(...) rounded up to 4 and O to `lanes` with zeros, then [O/lanes][K/4][lanes][4], flattened."""
    o = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    k4, o4 = -(-k // 4) * 4, -(-o // lanes) * lanes
    padded = np.zeros((o4, k4), np.int8)
    padded[:o, :k] = w.reshape(o, k)
    return np.ascontiguousarray(padded.reshape(o4 // lanes, lanes, k4 // 4, 4).transpose(0, 2, 1, 3)).reshape(-1)


def pair_layout(w: np.ndarray) -> np.ndarray:
    """One-group Conv2D weights (OHWI) as edgec_conv2d_s8 reads them (runtime_c/edgec_dot.h, pair layout):
    output channels two by two, their K = kh*kw*C inputs interleaved by fours.  Flash: K and O rounded
    up to 4 and 2 (zeros), otherwise the same bytes."""
    return interleave(w, 2)


def quad_layout(w: np.ndarray) -> np.ndarray:
    """FullyConnected weights [out, in] as edgec_fully_connected_s8 reads them: four output channels
    at a time, interleaved by fours of inputs (K and O rounded up to 4 with zeros)."""
    return interleave(w, 4)


def dw_quad_layout(w: np.ndarray) -> np.ndarray:
    """Depthwise weights [C, kh, kw, 1] as edgec_depthwise_conv2d_s8 reads them: [C/4][kh][kw][4], the
    four channels of a tap in one word, C rounded up to 4 with zero channels."""
    c, kh, kw = w.shape[:3]
    c4 = -(-c // 4) * 4
    padded = np.zeros((c4, kh, kw), np.int8)
    padded[:c] = w[..., 0]
    return np.ascontiguousarray(padded.reshape(c4 // 4, 4, kh, kw).transpose(0, 2, 3, 1)).reshape(-1)
