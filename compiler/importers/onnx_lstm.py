"""ONNX LSTM -> the IR LSTM (compiler/recurrent.py): the default activations (Sigmoid, Tanh, Tanh), zero
(or absent) initial state, no peepholes, full-length sequences, as torch.nn.LSTM exports it (batch_first
or not, either exporter).  Everything else is refused with one line naming the node.  ONNX's gate
order i, o, f, c becomes the IR's i, f, c, o; its two biases (input and recurrent) are summed.
Directions: "reverse" is the op's `reverse` attr (the kernel walks time backwards), "bidirectional"
one op per direction (weights [2, ...], the forward's first) whose outputs stack on ONNX's
num_directions axis.  GRU alike; RNN (tanh) as the GRU of recurrent.emit_simple_rnn."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .recurrent import emit_gru, emit_lstm, emit_simple_rnn

ONNX_TO_IR_GATES = (0, 2, 3, 1)          # i, o, f, c -> i, f, c, o
DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh", "Tanh"]
DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}   # reverse, per direction


def _gates(a, hid):
    return np.concatenate([a[k * hid:(k + 1) * hid] for k in ONNX_TO_IR_GATES], axis=0)


def _used(imp) -> set:
    if not hasattr(imp, "_lstm_used"):
        g = imp.model.graph
        imp._lstm_used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    return imp._lstm_used


def lstm(imp, node, a):
    where = imp.where(node)
    inputs = list(node.input) + [""] * (8 - len(node.input))
    x_name, w_name, r_name, b_name, seq_name, h0_name, c0_name, p_name = inputs[:8]
    hid = imp.a_int(node, a, "hidden_size", 0)
    layout = imp.a_int(node, a, "layout", 0)
    xs = list(imp.shape(x_name))
    reasons = []
    dirs = _directions(imp, node, a, reasons)
    acts = _activations(a, DEFAULT_ACTIVATIONS, dirs)
    if acts != DEFAULT_ACTIVATIONS * len(dirs):
        reasons.append(f"activations {acts} (only the default Sigmoid, Tanh, Tanh)")
    if a.get("activation_alpha") or a.get("activation_beta"):
        reasons.append("activation_alpha/activation_beta")
    if a.get("clip") is not None:
        reasons.append("clip (ONNX clips the gate pre-activations, which TFLite's integer LSTM does not)")
    if imp.a_int(node, a, "input_forget", 0):
        reasons.append("input_forget=1 (coupled input and forget gates)")
    if p_name and (p_name not in imp.consts or np.any(imp.consts[p_name])):
        reasons.append("peephole weights P")
    for nm, what in ((h0_name, "initial_h"), (c0_name, "initial_c")):
        if nm and (nm not in imp.consts or np.any(imp.consts[nm])):
            reasons.append(f"a non-zero or computed {what} (edgec's LSTM starts from a zero state)")
    if len(xs) != 3:
        reasons.append(f"an input of shape {xs} (want [time, batch, features] or, layout=1, [batch, time, features])")
    t_len, n = (xs[1], xs[0]) if layout == 1 and len(xs) == 3 else (xs[0], xs[1]) if len(xs) == 3 else (0, 0)
    if seq_name and (seq_name not in imp.consts or np.any(np.asarray(imp.consts[seq_name]) != t_len)):
        reasons.append("sequence_lens shorter than the sequence (edgec runs every step)")
    if node.output[2:3] and node.output[2] and node.output[2] in _used(imp):
        reasons.append("its cell state output Y_c is used (edgec's LSTM gives the hidden states)")
    for nm, what in ((w_name, "W"), (r_name, "R")):
        if nm not in imp.consts:
            reasons.append(f"computed weights {what}")
    if reasons:
        raise UnsupportedOpError("LSTM with " + "; ".join(reasons), where=where)
    w, r, bias, hid, x, name, y_name, yh_name = _operands(imp, node, "LSTM", 4, hid, len(dirs), layout)
    ys = [emit_lstm(imp, _dir_name(name, dirs, d), x, _gates(w[d], hid), _gates(r[d], hid),
                    _gates(bias[d, :4 * hid] + bias[d, 4 * hid:], hid), return_sequences=bool(y_name), reverse=rev)
          for d, rev in enumerate(dirs)]
    _outputs(imp, name, ys, dirs, y_name, yh_name, n, t_len, hid, layout)


def gather_step(imp, node, a) -> bool:
    """Gather of one constant index from a computed tensor (`y[:, -1]`, how exporters pick a recurrent
    layer's last step): a Slice of that index and a Reshape dropping the axis.  False: not that case."""
    if node.input[0] in imp.consts or node.input[1] not in imp.consts:
        return False
    idx = np.asarray(imp.consts[node.input[1]])
    if idx.size != 1 or idx.ndim != 0 or idx.dtype.kind not in "iu":
        return False
    src = list(imp.shape(node.input[0]))
    axis = imp.a_int(node, a, "axis", 0)
    if not -len(src) <= axis < len(src) or not -src[axis % len(src)] <= int(idx) < src[axis % len(src)]:
        return False
    axis %= len(src)
    k = int(idx) % src[axis]
    x = imp.plain(node.input[0])
    name = node.name or node.output[0]
    begin = tuple(k if i == axis else 0 for i in range(len(src)))
    end = tuple(k + 1 if i == axis else d for i, d in enumerate(src))
    y = imp.emit("Slice", f"{name}_slice", [x], f"{name}_slice", {"begin": begin, "end": end})
    out = [d for i, d in enumerate(src) if i != axis]
    imp.set(node.output[0], imp.emit("Reshape", name, [y], node.output[0], {"shape": tuple(out)}), tuple(range(len(out))))
    return True


def gru(imp, node, a):
    """ONNX GRU with linear_before_reset=1 (as PyTorch exports nn.GRU), forward, default activations
    (Sigmoid, Tanh), zero initial state; gates z, r, h already in the IR's order."""
    where = imp.where(node)
    inputs = list(node.input) + [""] * (6 - len(node.input))
    x_name, w_name, r_name, b_name, seq_name, h0_name = inputs[:6]
    layout = imp.a_int(node, a, "layout", 0)
    xs = list(imp.shape(x_name))
    reasons = []
    dirs = _directions(imp, node, a, reasons)
    acts = _activations(a, ["Sigmoid", "Tanh"], dirs)
    if acts != ["Sigmoid", "Tanh"] * len(dirs):
        reasons.append(f"activations {acts} (only the default Sigmoid, Tanh)")
    if not imp.a_int(node, a, "linear_before_reset", 0):
        reasons.append("linear_before_reset=0 (edgec's GRU applies the reset gate after the recurrent product, "
                       "as PyTorch and Keras 3 do)")
    t_len, n = _sequence_reasons(imp, a, xs, layout, w_name, r_name, seq_name, h0_name, "GRU", reasons)
    if reasons:
        raise UnsupportedOpError("GRU with " + "; ".join(reasons), where=where)
    w, r, bias, hid, x, name, y_name, yh_name = _operands(imp, node, "GRU", 3, imp.a_int(node, a, "hidden_size", 0),
                                                          len(dirs), layout)
    ys = [emit_gru(imp, _dir_name(name, dirs, d), x, w[d], r[d], bias[d, :3 * hid], bias[d, 3 * hid:],
                   return_sequences=bool(y_name), reverse=rev) for d, rev in enumerate(dirs)]
    _outputs(imp, name, ys, dirs, y_name, yh_name, n, t_len, hid, layout)


def _operands(imp, node, cell, gates, hid, nd, layout) -> tuple:
    """The constant operands and names of an ONNX LSTM (4 gates), GRU (3) or RNN (1) node, per direction:
    (W [nd, gates*hid, in], R [nd, gates*hid, hid], B [nd, 2*gates*hid] (zeros when absent), hid (the
    hidden_size attribute, else R's width), X in the IR's [N, T, I], the node's name, the Y and Y_h
    outputs the model reads ("" for one it does not))."""
    inputs = list(node.input) + [""] * (4 - len(node.input))
    x_name, w_name, r_name, b_name = inputs[:4]
    r = np.asarray(imp.consts[r_name], np.float32)
    hid = hid or r.shape[-1]
    w = np.asarray(imp.consts[w_name], np.float32).reshape(nd, gates * hid, -1)
    r = r.reshape(nd, gates * hid, -1)
    size = nd * 2 * gates * hid
    bias = np.asarray(imp.consts[b_name], np.float32).reshape(-1) if b_name else np.zeros(size, np.float32)
    if bias.size != size:
        raise UnsupportedOpError(f"{cell} bias of {bias.size} values for hidden_size {hid} and {nd} direction(s) "
                                 f"(want {size})", where=imp.where(node))
    x = imp.in_layout(x_name, (0, 1, 2) if layout == 1 else (1, 0, 2))      # IR [N, T, I]
    used = _used(imp)
    y_name = node.output[0] if node.output and node.output[0] in used else ""
    yh_name = node.output[1] if len(node.output) > 1 and node.output[1] in used else ""
    return w, r, bias.reshape(nd, 2 * gates * hid), hid, x, node.name or node.output[0], y_name, yh_name


def _sequence_reasons(imp, a, xs, layout, w_name, r_name, seq_name, h0_name, cell, reasons) -> tuple:
    """What a GRU or RNN node asks that edgec's recurrent kernels do not do (appended to `reasons`):
    clipping or activation parameters, an initial state, an input not [time, batch, features], a
    sequence_lens shorter than the sequence, computed weights.  Returns (time steps, batch)."""
    if a.get("clip") is not None or a.get("activation_alpha") or a.get("activation_beta"):
        reasons.append("clip / activation_alpha / activation_beta")
    if h0_name and (h0_name not in imp.consts or np.any(imp.consts[h0_name])):
        reasons.append(f"a non-zero or computed initial_h (edgec's {cell} starts from a zero state)")
    if len(xs) != 3:
        reasons.append(f"an input of shape {xs} (want [time, batch, features] or, layout=1, [batch, time, features])")
    t_len, n = (xs[1], xs[0]) if layout == 1 and len(xs) == 3 else (xs[0], xs[1]) if len(xs) == 3 else (0, 0)
    if seq_name and (seq_name not in imp.consts or np.any(np.asarray(imp.consts[seq_name]) != t_len)):
        reasons.append("sequence_lens shorter than the sequence (edgec runs every step)")
    for nm, what in ((w_name, "W"), (r_name, "R")):
        if nm not in imp.consts:
            reasons.append(f"computed weights {what}")
    return t_len, n


def rnn(imp, node, a):
    """ONNX RNN (torch.nn.RNN with nonlinearity tanh): h = tanh(W x + Wb + R h + Rb), as the GRU of
    recurrent.emit_simple_rnn; directions as the LSTM's."""
    where = imp.where(node)
    inputs = list(node.input) + [""] * (6 - len(node.input))
    x_name, w_name, r_name, b_name, seq_name, h0_name = inputs[:6]
    layout = imp.a_int(node, a, "layout", 0)
    xs = list(imp.shape(x_name))
    reasons = []
    dirs = _directions(imp, node, a, reasons)
    acts = _activations(a, ["Tanh"], dirs)
    if acts != ["Tanh"] * len(dirs):
        reasons.append(f"activations {acts} (only Tanh: edgec's RNN is the GRU's tanh candidate)")
    t_len, n = _sequence_reasons(imp, a, xs, layout, w_name, r_name, seq_name, h0_name, "RNN", reasons)
    if reasons:
        raise UnsupportedOpError("RNN with " + "; ".join(reasons), where=where)
    w, r, bias, hid, x, name, y_name, yh_name = _operands(imp, node, "RNN", 1, imp.a_int(node, a, "hidden_size", 0),
                                                          len(dirs), layout)
    ys = [emit_simple_rnn(imp, _dir_name(name, dirs, d), x, w[d], r[d], bias[d, :hid] + bias[d, hid:],
                          return_sequences=bool(y_name), reverse=rev) for d, rev in enumerate(dirs)]
    _outputs(imp, name, ys, dirs, y_name, yh_name, n, t_len, hid, layout)


def _directions(imp, node, a, reasons) -> tuple:
    """The node's directions as `reverse` flags (forward: (False,), bidirectional: (False, True))."""
    direction = imp.a_str(node, a, "direction", "forward")
    if direction not in DIRECTIONS:
        reasons.append(f"direction {direction!r} (forward, reverse or bidirectional)")
        return (False,)
    return DIRECTIONS[direction]


def _activations(a, default, dirs) -> list:
    return [s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s)
            for s in (a.get("activations") or default * len(dirs))]


def _dir_name(name, dirs, d):
    return name if len(dirs) == 1 else f"{name}_{'backward' if dirs[d] else 'forward'}"


def _outputs(imp, name, ys, dirs, y_name, yh_name, n, t_len, hid, layout):
    """ONNX's Y ([T, D, N, H], layout 1: [N, T, D, H]) and Y_h ([D, N, H], layout 1: [N, D, H]) from the
    IR outputs of the D directions (every step [N, T, H] when Y is read, else the last [N, H]); a
    backward direction's last state is its step 0."""
    nd = len(dirs)
    sfx = [""] if nd == 1 else ["_forward", "_backward"]
    if y_name:
        y4 = [imp.emit("Reshape", f"{name}_Y{sfx[d]}", [y], y_name if nd == 1 else None, {"shape": (n, t_len, 1, hid)})
              for d, y in enumerate(ys)]
        y4 = y4[0] if nd == 1 else imp.emit("Concat", f"{name}_Y", y4, y_name, {"axis": 2})
        imp.set(y_name, y4, (0, 1, 2, 3) if layout == 1 else (1, 2, 0, 3))
    if yh_name:
        hs = []
        for d, (y, rev) in enumerate(zip(ys, dirs)):
            last = y
            if y_name:
                k = 0 if rev else t_len - 1
                last = imp.emit("Slice", f"{name}_last{sfx[d]}", [y], f"{name}_last{sfx[d]}",
                                {"begin": (0, k, 0), "end": (n, k + 1, hid)})
            hs.append(imp.emit("Reshape", f"{name}_Y_h{sfx[d]}", [last], yh_name if nd == 1 else None,
                               {"shape": (n, 1, hid)}))
        h3 = hs[0] if nd == 1 else imp.emit("Concat", f"{name}_Y_h", hs, yh_name, {"axis": 1})
        imp.set(yh_name, h3, (0, 1, 2) if layout == 1 else (1, 0, 2))
