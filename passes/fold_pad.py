"""fold_pad: a constant (zero) Pad over H and W that feeds convolutions and pools becomes their padding.

Exporters write padding as a node of its own where the framework's conv cannot say it: Keras 3 on
PyTorch pads "same" stride-2 convolutions explicitly (PyTorch convs pad symmetrically), F.pad before a
conv, ZeroPadding2D.  Left alone, the padded tensor is a whole extra activation live next to the
conv's input, and the Pad is a node the row-band tiling does not run through, so the same network
needs several times the RAM of the exporter that wrote the padding into the conv.

What is folded, and why it is exact:
* Conv2D (any groups, asymmetric pads): the conv's own padding is real 0 -- in the integer graph
  the input zero point, which is exactly what the quantized Pad writes.  Always folded.
* MaxPool2D pads by "absent" (never wins).  A Pad's zeros may win a window, so they fold only where
  they cannot change it: no window reads them, or the input is known non-negative (after a ReLU,
  clip at >= 0, sigmoid ...: in int8 every value is then >= the zero point) and every window still
  reads at least one real element.
* AvgPool2D counts a Pad's zeros: they fold into its counted padding (count_pads, the part of its
  pads the average counts, compiler/ops/pool.py), so always, unless the pool's pads would then reach
  its window.
* A constant Pad of a non-zero value c (F.pad(..., value=c)) folds only into a MaxPool2D, and only
  where c cannot win: no window reads it, or every window reads a real element and c <= every real
  value (c = -inf, the "same" max pool idiom; c <= 0 over a non-negative input).  Elsewhere it runs as
  a Pad of its own writing c quantized.
* An edge Pad (repeating the border: Keras 3 on PyTorch pads "same" pools so, asymmetric ones) folds
  only into a MaxPool2D each of whose windows reads at least one real element: a window is a
  contiguous block, so it then holds the border row/column each repeated value copies, and the copy
  cannot change its max.  An edge Pad left standing runs as a Pad of its own (not tiled).
* A reflect Pad never folds (its values are mirror images), nor merges with another.
* Pad followed by Pad: one Pad with the summed pads (so a chain folds as a whole), of one mode.
* Pad followed by a Transpose (its only reader): the Transpose first, then the Pad, so a Pad in the
  model's own layout (an NCHW model's input) meets the conv after the layout change.
Where the Pad has other readers, it stays for them.  The Pad's own quantization equals its input's
(quantize.q_Pad), so the conv reading the Pad's input sees the same scale and zero point.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..compiler.ir import Graph

#: ops whose output is >= 0 whatever their input (real values)
NONNEG_OPS = ("Relu", "Sigmoid", "HardSigmoid", "Softmax", "Exp", "Softplus")
#: ops whose output values are taken from their (first) input's values, or averages of them
SAME_SIGN_OPS = ("MaxPool2D", "AvgPool2D", "Pad", "Reshape", "Transpose", "Slice", "Upsample", "Concat")


def fold_pad(graph: Graph) -> Graph:
    g = graph.copy()
    prod, readers, gone = g.producer(), g.consumers(), set()
    nonneg_memo: dict = {}
    for node in g.nodes:
        if node.op != "Pad" or node.outputs[0] in g.outputs:
            continue
        src, out = node.inputs[0], node.outputs[0]
        users = readers.get(out, [])
        if len(users) == 1 and users[0].op == "Transpose" and users[0].outputs[0] not in g.outputs:
            _swap_with_transpose(g, node, users[0], prod, readers)   # the Pad is met again at the Transpose's place
            continue
        folded = [u for u in users if _foldable(g, u, node, prod, nonneg_memo)]
        for u in folded:
            if u.op == "Pad":
                u.attrs["pads"] = tuple(a + b for a, b in zip(u.attrs["pads"], node.attrs["pads"]))
            else:
                t, l, b, r = _hw_pads(node)
                if u.op == "AvgPool2D":          # the zeros count: inside the pool's own (uncounted) padding
                    u.attrs["count_pads"] = tuple(a + b for a, b in zip(u.attrs.get("count_pads") or (0,) * 4,
                                                                        (t, l, b, r)))
                u.attrs["pads"] = tuple(a + b for a, b in zip(u.attrs["pads"], (t, l, b, r)))
            u.inputs[0] = src
            readers.setdefault(src, []).append(u)
        readers[out] = [u for u in users if u not in folded]
        if not readers[out]:
            gone.add(id(node))
            readers[src] = [u for u in readers[src] if u is not node]
            del prod[out]
            g.tensors.pop(out, None)
    g.nodes = [n for n in g.nodes if id(n) not in gone]
    return g


def _swap_with_transpose(g: Graph, pad, tr, prod, readers) -> None:
    """Pad -> Transpose becomes Transpose -> Pad (pads permuted alike), so a Pad written in the model's
    own layout (NCHW before the importer's layout Transpose) meets the conv it pads.  The two node
    objects swap roles, so the order stays topological."""
    src, mid, out, pads, perm = pad.inputs[0], pad.outputs[0], tr.outputs[0], pad.attrs["pads"], tr.attrs["perm"]
    r = len(perm)
    x = g.tensors[src]
    g.tensors[mid] = replace(x, name=mid, shape=tuple(x.shape[p] for p in perm))
    pad.op, pad.name, tr.op, tr.name = tr.op, tr.name, pad.op, pad.name
    mode = {k: pad.attrs[k] for k in ("mode", "value") if k in pad.attrs}
    pad.inputs, pad.outputs, pad.attrs = [src], [mid], {"perm": tuple(perm)}
    tr.inputs, tr.outputs, tr.attrs = [mid], [out], {"pads": tuple(pads[p] for p in perm) + tuple(pads[p + r] for p in perm),
                                                     **mode}
    prod[mid], prod[out] = pad, tr
    readers[src] = [pad if u is pad else u for u in readers.get(src, [])]
    readers[mid] = [tr]


def _hw_pads(pad) -> tuple | None:
    """(top, left, bottom, right) of a Pad on an NHWC tensor that pads only H and W, else None."""
    p = pad.attrs["pads"]
    if len(p) != 8 or p[0] or p[3] or p[4] or p[7]:
        return None
    return p[1], p[2], p[5], p[6]


def _foldable(g: Graph, user, pad, prod, memo) -> bool:
    out = pad.outputs[0]
    if not user.inputs or user.inputs[0] != out or user.inputs.count(out) != 1:
        return False
    if pad.attrs.get("mode") == "reflect":
        return False                       # its values are mirror images: no conv or pool padding is that
    value = pad.attrs.get("value", 0.0)
    if user.op == "Pad":
        return len(user.attrs["pads"]) == len(pad.attrs["pads"]) and user.attrs.get("mode") == pad.attrs.get("mode") \
            and user.attrs.get("value", 0.0) == value
    if user.op not in ("Conv2D", "MaxPool2D", "AvgPool2D") or _hw_pads(pad) is None:
        return False
    if pad.attrs.get("mode") == "edge":
        if user.op != "MaxPool2D" or tuple(user.attrs.get("dilations", (1, 1))) != (1, 1):
            return False
        n_real, _ = _window_counts(g.tensors[pad.inputs[0]].shape, _hw_pads(pad), user)
        return bool((n_real > 0).all())
    if value != 0.0:
        if user.op != "MaxPool2D" or tuple(user.attrs.get("dilations", (1, 1))) != (1, 1):
            return False
        n_real, n_pad = _window_counts(g.tensors[pad.inputs[0]].shape, _hw_pads(pad), user)
        below = value == -np.inf or (value <= 0 and _nonneg(g, pad.inputs[0], prod, memo))
        return bool(not n_pad.any() or ((n_real > 0).all() and below))
    if user.op == "Conv2D":
        return True
    if user.op == "AvgPool2D":
        (kh, kw), pads = user.attrs["kernel"], [a + b for a, b in zip(user.attrs["pads"], _hw_pads(pad))]
        return max(pads[0], pads[2]) < kh and max(pads[1], pads[3]) < kw
    n_real, n_zero = _window_counts(g.tensors[pad.inputs[0]].shape, _hw_pads(pad), user)
    return bool(not n_zero.any() or ((n_real > 0).all() and _nonneg(g, pad.inputs[0], prod, memo)))


def _window_counts(in_shape, pads, pool):
    """Per output window of `pool` reading Pad(x): how many real elements of x it reads, how many of
    the Pad's zeros (the pool's own padding is neither)."""
    _, h, w, _ = in_shape
    t, l, b, r = pads
    real = np.pad(np.ones((h, w), np.int64), ((t, b), (l, r)))
    every = np.ones_like(real)
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = pool.attrs["kernel"], pool.attrs["strides"], pool.attrs["pads"]

    def sums(m):
        m = np.pad(m, ((pt, pb), (pl, pr)))
        win = np.lib.stride_tricks.sliding_window_view(m, (kh, kw))[::sh, ::sw]
        return win.sum(axis=(2, 3))
    n_real = sums(real)
    return n_real, sums(every) - n_real


def _nonneg(g: Graph, tensor: str, prod, memo) -> bool:
    """True when every real value of `tensor` is >= 0 by construction (what makes a zero pad unable to
    win a max).  Follows value-preserving ops back, iteratively (graphs of thousands of nodes)."""
    stack = [tensor]
    while stack:
        t = stack[-1]
        if t in memo:
            stack.pop()
            continue
        p = prod.get(t)
        if p is None:
            memo[t] = False
            stack.pop()
            continue
        act = p.attrs.get("act")
        if p.op in NONNEG_OPS or (p.op == "Clip" and p.attrs["min"] >= 0) or (act is not None and act[0] >= 0):
            memo[t] = True
            stack.pop()
            continue
        if p.op not in SAME_SIGN_OPS:
            memo[t] = False
            stack.pop()
            continue
        srcs = [i for i in (p.inputs if p.op == "Concat" else p.inputs[:1]) if not g.tensors[i].is_const]
        todo = [i for i in srcs if i not in memo]
        if todo:
            stack.extend(todo)
            continue
        memo[t] = all(memo[i] for i in srcs)
        stack.pop()
    return memo[tensor]
