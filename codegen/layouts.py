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


def wide_layout(w: np.ndarray) -> np.ndarray:
    """One-group Conv2D weights (OHWI) as edgec_conv2d_wide_s8 reads them (runtime_c/edgec_dot.h, wide
    layout): the pair layout's values pre-sign-extended to int16, each four of a channel as inputs 0 2 1 3
    (the order SXTB16 gives the columns), two int16s a word with the first in the low half, as int32
    words (4-aligned, so the kernel loads them with LDM).  Per channel pair and four inputs: (a0 a2)
    (a1 a3) (b0 b2) (b1 b3).  Flash: twice the pair layout's bytes."""
    p = interleave(w, 2).astype(np.int64).reshape(-1, 4)[:, [0, 2, 1, 3]]     # [pairs * groups * 2][4]
    lo, hi = p[:, 0::2], p[:, 1::2]                                          # (0, 1) and (2, 3) of 0 2 1 3
    return (((hi & 0xFFFF) << 16) | (lo & 0xFFFF)).astype(np.uint32).view(np.int32).reshape(-1)


def wide_requant(bias, channels, out_zp: int) -> np.ndarray:
    """The records of edgec_conv2d_wide_s8 (runtime_c/edgec_dot.h, edgec_wide_rq), int32: a mode word,
    then per channel pair b0 b1 b0 b1 (the folded biases that start pixel 0's and pixel 1's sums) and each
    channel's m, R, c, sh, from `channels` ([C, 3] m, R, sh: fixedpoint.wide_channels).  Mode 0 (the
    faster loop) folds the zero point into R (R + zp * 2^sh), where that stays under 2^30 in magnitude
    for every channel, and c = 2^30 + R * 2^31 mod 2^32; mode 1 keeps it apart: c = zp.  An odd channel
    count's padding channel repeats the last channel (its outputs are not stored)."""
    b, ch = np.asarray(bias, np.int64), np.asarray(channels, np.int64)
    if len(b) % 2:
        b, ch = np.append(b, b[-1]), np.concatenate([ch, ch[-1:]])
    folded = ch[:, 1] + int(out_zp) * (np.int64(1) << ch[:, 2])
    apart = int(not (np.abs(folded) < (1 << 30)).all())
    r = ch[:, 1] if apart else folded
    c = np.full_like(r, int(out_zp)) if apart else (0x40000000 + ((r & 1) << 31)) & 0xFFFFFFFF
    rec = np.stack([ch[:, 0], r, c, ch[:, 2]], axis=1).reshape(-1, 8)          # [pairs][channel 0, 1][4]
    bb = b.reshape(-1, 2)
    words = np.concatenate([[apart], np.concatenate([bb, bb, rec], axis=1).reshape(-1)])
    return (words & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def wide_quad_layout(w: np.ndarray) -> np.ndarray:
    """One-group Conv2D weights (OHWI) as edgec_conv2d_wide_s8's loop reads them (runtime_c/edgec_wide_c.h,
    edgec_wide_quads): sign-extended to int16 as wide_layout, but output channels four by four (O rounded
    up to 4 with zero channels), and per quad and four inputs the eight words c0 (i0 i2), c1 (i0 i2),
    c2 (i0 i2), c3 (i0 i2), c0 (i1 i3), c1 (i1 i3), c2 (i1 i3), c3 (i1 i3): the order in which the loop
    takes them two at a time with LDM, each pair of words against both pixels' inputs.  Flash: twice the
    quad-interleaved bytes."""
    q = interleave(w, 4).astype(np.int64).reshape(-1, 4, 4)                    # [quads * groups][channel][input]
    words = (q[:, :, 0:2] & 0xFFFF) | ((q[:, :, 2:4] & 0xFFFF) << 16)           # [.][channel][half]: (i0 i2), (i1 i3)
    return words.transpose(0, 2, 1).astype(np.uint32).view(np.int32).reshape(-1)


def wide_quad_requant(bias, channels, out_zp: int) -> np.ndarray:
    """The records of edgec_conv2d_wide_s8's loop (edgec_wide_quads): wide_requant's mode word and channel
    records, channels four by four (padding channels repeat the last, their outputs not stored): per quad
    the eight folded biases that start its sums, b0 b1 b0 b1 b2 b3 b2 b3 (pixel 0's and pixel 1's sums of
    channels 0 and 1, then of 2 and 3), then each channel's m, R, c, sh: 24 words.  With the zero point
    apart (mode 1) c is what it is where folded, 2^30 + R * 2^31 mod 2^32, and the zero point sits in the
    shift word's bits 8 and up (sh + 256 * zp): the DSP loop then requantizes as where it is folded, plus
    one add."""
    b, ch = np.asarray(bias, np.int64), np.asarray(channels, np.int64)
    pad = -len(b) % 4
    if pad:
        b, ch = np.append(b, [b[-1]] * pad), np.concatenate([ch] + [ch[-1:]] * pad)
    words = wide_requant(b, ch, out_zp)
    pairs = words[1:].reshape(-1, 2, 12)                                        # [quads][pair][b0 b1 b0 b1, two records]
    quads = np.concatenate([pairs[:, 0, :4], pairs[:, 1, :4], pairs[:, 0, 4:], pairs[:, 1, 4:]], axis=1)
    if words[0]:                                                                # zero point apart
        rec = quads[:, 8:].reshape(-1, 4).astype(np.int64)                      # m, R, c = zp, sh
        rec[:, 3] += 256 * rec[:, 2]
        rec[:, 2] = (0x40000000 + ((rec[:, 1] & 1) << 31)) & 0xFFFFFFFF
        quads[:, 8:] = (rec & 0xFFFFFFFF).astype(np.uint32).view(np.int32).reshape(-1, 16)
    return np.concatenate([words[:1], quads.reshape(-1)]).astype(np.int32)
