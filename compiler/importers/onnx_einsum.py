"""ONNX Einsum, lowered at import to ops the importer already has (issue 18: models users bring write
small contractions as einsum: a 1x1 convolution "bchw,oc->bohw", a per-token projection "bij,jk->bik",
a per-feature scale "bi,i->bi").

The equation's labels sort the operands' axes; what the lowering writes depends on which operands are
computed:
- one computed tensor X and one constant W (either order): the labels of X alone that the output keeps
  are the rows, the labels of both that the output drops are contracted, the labels of W alone are the
  output features.  X is transposed to (rows..., contracted...) and read as a [P, K] matrix, W at
  compile time as [K, M] (W's own dropped labels summed, X's own dropped labels contracted with ones),
  one MatMul by a constant (a FullyConnected), then the result is reshaped to (rows..., features...)
  and transposed to the output's order.  When nothing is contracted and every label of W is one of X's
  and kept ("bi,i->bi", "bchw,c->bchw"), it is a Mul by W laid out along X's axes.
- two computed tensors, the labels of one among the other's ("bi,bi->b", "bchw,bc->bhw"): a Mul (the
  smaller one transposed / reshaped to broadcast along the other's axes), a ReduceSum over the dropped
  labels, a Transpose to the output's order.
- one computed tensor: a ReduceSum over the dropped labels and a Transpose.
Anything else (a label repeated in one operand -- a diagonal --, a label kept from both operands next
to a contraction, three operands, two computed operands with labels of their own) is refused with the
equation named.  Each step goes through the importer's own handler (Transpose, Reshape, MatMul, Mul,
ReduceSum), so layout, broadcasting and quantization stay where they are defined.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError

HINT = ("supported: one computed operand times a constant (a contraction, or a product over the computed "
        "tensor's own labels), two computed operands one of whose labels are all the other's, or one operand")


def einsum(imp, node, a):
    eq = a.get("equation")
    eq = eq.decode() if isinstance(eq, bytes) else eq
    if not isinstance(eq, str) or not node.input:
        raise ModelFormatError("Einsum without an equation", where=imp.where(node))
    eq = eq.replace(" ", "")
    if "->" not in eq:                       # implicit output: the labels seen once, in alphabetical order
        lhs = eq
        seen = [c for c in lhs if c.isalpha()]
        eq = lhs + "->" + "".join(sorted(c for c in set(seen) if seen.count(c) == 1))
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    if len(terms) != len(node.input):
        raise ModelFormatError(f"Einsum {eq!r} names {len(terms)} operands, the node has {len(node.input)}",
                               where=imp.where(node))
    ranks = [len(imp.shape(i)) for i in node.input]
    terms, out = _expand_ellipsis(imp, node, eq, terms, out, ranks)

    def refuse(why):
        return UnsupportedOpError(f"Einsum {eq!r}: {why}", where=imp.where(node), hint=HINT)
    for t, r in zip(terms, ranks):
        if len(t) != r:
            raise ModelFormatError(f"Einsum {eq!r}: {t!r} labels a rank-{r} operand", where=imp.where(node))
        if len(set(t)) != len(t):
            raise refuse(f"the label repeated in {t!r} (a diagonal)")
    if len(set(out)) != len(out) or any(c not in "".join(terms) for c in out):
        raise ModelFormatError(f"Einsum {eq!r}: an output label repeated or not among the inputs'", where=imp.where(node))
    dims = {}
    for t, i in zip(terms, node.input):
        for c, d in zip(t, imp.shape(i)):
            if dims.setdefault(c, d) != d:
                raise refuse(f"label {c!r} is {dims[c]} and {d} (broadcast)")
    computed = [k for k, i in enumerate(node.input) if i not in imp.consts]
    if not computed:
        imp.consts[node.output[0]] = np.einsum(eq, *[np.asarray(imp.consts[i], np.float32) for i in node.input])
        return
    if len(terms) == 1:
        return _reduce_transpose(imp, node, node.input[0], terms[0], out, dims)
    if len(terms) != 2:
        raise refuse(f"{len(terms)} operands")
    if len(computed) == 1:
        k = computed[0]
        x, lx, lw = node.input[k], terms[k], terms[1 - k]
        w = np.asarray(imp.consts[node.input[1 - k]], np.float32)
        kept_both = [c for c in lw if c in lx and c in out]
        contracted = [c for c in lx if c in lw and c not in out]
        if kept_both and not contracted and all(c in lx and c in out for c in lw) and sorted(out) == sorted(lx):
            return _scale(imp, node, x, lx, w, lw, out)
        if kept_both:
            raise refuse(f"label(s) {''.join(kept_both)} of both operands kept next to a contraction")
        return _contract(imp, node, x, lx, w, lw, out, dims)
    (x, lx), (y, ly) = zip(node.input, terms)
    if not set(ly) <= set(lx):
        (x, lx), (y, ly) = (y, ly), (x, lx)
    if not set(ly) <= set(lx):
        raise refuse("two computed operands, each with labels of its own (a product of computed matrices)")
    yb = _along(imp, node, y, ly, lx, dims, "y")
    prod = _sub(imp, node, "Mul", [x, yb], "mul")
    return _reduce_transpose(imp, node, prod, lx, out, dims)


def _expand_ellipsis(imp, node, eq, terms, out, ranks):
    """'...' as upper-case labels, right-aligned (the broadcast axes of each operand)."""
    if "..." not in eq:
        return terms, out
    pool = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    n = max(r - (len(t) - 3) for t, r in zip(terms, ranks) if "..." in t)
    if n < 0 or n > len(pool):
        raise ModelFormatError(f"Einsum {eq!r}: its ellipsis does not fit the operands", where=imp.where(node))
    fill = "".join(pool[:n])
    terms = [t.replace("...", fill[n - (r - (len(t) - 3)):]) if "..." in t else t for t, r in zip(terms, ranks)]
    return terms, out.replace("...", fill)


def _const(imp, node, tag, value, dtype=np.float32):
    name = f"{node.output[0]}::einsum_{tag}"
    imp.consts[name] = np.asarray(value, dtype)
    return name


def _sub(imp, node, op, inputs, tag, **attrs):
    """Runs the importer's handler for an ONNX node `op` written here; returns its output's name (the
    node's own output when tag is None)."""
    from onnx import helper
    out = f"{node.output[0]}::einsum_{tag}" if tag else node.output[0]
    imp.dispatch(helper.make_node(op, inputs, [out], name=f"{node.name or node.output[0]}_{tag or 'out'}", **attrs))
    return out


def _transpose(imp, node, x, have, want, tag):
    have, want = list(have), list(want)
    if have == want:
        return x
    return _sub(imp, node, "Transpose", [x], tag, perm=[have.index(c) for c in want])


def _reshape(imp, node, x, shape, tag):
    return _sub(imp, node, "Reshape", [x, _const(imp, node, f"{tag}_shape", shape, np.int64)], tag)


def _finish(imp, node, x, have, out, dims):
    """x labelled `have` (a permutation of `out`) -> the node's output."""
    have, out = list(have), list(out)
    if have == out:
        return _sub(imp, node, "Identity", [x], None)
    return _sub(imp, node, "Transpose", [x], None, perm=[have.index(c) for c in out])


def _contract(imp, node, x, lx, w, lw, out, dims):
    rows = [c for c in lx if c not in lw and c in out]
    own = [c for c in lx if c not in lw and c not in out]          # summed: contracted with ones
    contracted = [c for c in lx if c in lw and c not in out] + own
    feats = [c for c in lw if c not in lx and c in out]
    w_dropped = [c for c in lw if c not in lx and c not in out]    # summed at compile time
    w = w.sum(axis=tuple(lw.index(c) for c in w_dropped)) if w_dropped else w
    wl = [c for c in lw if c not in w_dropped]
    w = w.reshape(w.shape + (1,) * len(own))
    wl = wl + own
    w = np.broadcast_to(w, tuple(dims[c] for c in wl))
    wm = np.transpose(w, [wl.index(c) for c in contracted + feats]).reshape(
        math.prod(dims[c] for c in contracted), math.prod(dims[c] for c in feats))
    t = _transpose(imp, node, x, lx, rows + contracted, "x")
    m = _reshape(imp, node, t, (math.prod(dims[c] for c in rows), wm.shape[0]), "rows")
    y = _sub(imp, node, "MatMul", [m, _const(imp, node, "w", wm)], "matmul")
    y = _reshape(imp, node, y, tuple(dims[c] for c in rows + feats), "unrows")
    return _finish(imp, node, y, rows + feats, out, dims)


def _along(imp, node, y, ly, lx, dims, tag):
    """y (labels ly, a subset of lx) laid along lx's axes: transposed to lx's order, size 1 elsewhere."""
    order = [c for c in lx if c in ly]
    t = _transpose(imp, node, y, ly, order, f"{tag}_t")
    if len(order) == len(lx):
        return t
    return _reshape(imp, node, t, tuple(dims[c] if c in ly else 1 for c in lx), f"{tag}_b")


def _scale(imp, node, x, lx, w, lw, out):
    order = [c for c in lx if c in lw]
    w = np.transpose(w, [lw.index(c) for c in order]).reshape([w.shape[lw.index(c)] if c in lw else 1 for c in lx])
    y = _sub(imp, node, "Mul", [x, _const(imp, node, "scale", w)], "mul")
    return _finish(imp, node, y, lx, out, None)


def _reduce_transpose(imp, node, x, lx, out, dims):
    drop = [k for k, c in enumerate(lx) if c not in out]
    if drop:
        if imp.opset >= 13:
            x = _sub(imp, node, "ReduceSum", [x, _const(imp, node, "axes", drop, np.int64)], "sum", keepdims=0)
        else:
            x = _sub(imp, node, "ReduceSum", [x], "sum", axes=drop, keepdims=0)
        lx = "".join(c for c in lx if c in out)
    return _finish(imp, node, x, list(lx), list(out), dims)
