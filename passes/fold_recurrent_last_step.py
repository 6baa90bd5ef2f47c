"""fold_recurrent_last_step: an LSTM/GRU returning every step, of which only the last is read, returns
the last step only.

Exporters read a recurrent layer's final hidden state in different ways: PyTorch's TorchScript exporter
from Y_h (edgec's LSTM then returns the last step), its dynamo exporter as `y[:, -1]` on the full
sequence Y (a Slice of the last step).  Without this pass the second keeps the whole [N, T, H] sequence
in the arena for one step of it (49 x 64 bytes instead of 64 for a keyword model); with it both exports
plan the same RAM.  The Slice becomes a Reshape of the [N, H] result to its [N, 1, H] shape (Reshapes
are aliases: no data moves).  Runs after eliminate_dead, which removes the exporters' no-op Reshapes
between the two.  A backward LSTM/GRU (attr reverse) ends on step 0: its Slice of step 0 folds alike."""
from ..compiler.ir import Graph

from .util import sole_consumer


def fold_recurrent_last_step(graph: Graph) -> Graph:
    g = graph.copy()
    readers = g.consumers()
    for node in g.nodes:
        if node.op not in ("LSTM", "GRU") or not node.attrs.get("return_sequences"):
            continue
        y = node.outputs[0]
        n, t, h = g.tensors[y].shape
        s = sole_consumer(g, y, readers)
        last = 0 if node.attrs.get("reverse") else t - 1          # a backward walk ends on step 0
        if s is None or s.op != "Slice" or tuple(s.attrs["begin"]) != (0, last, 0) or tuple(s.attrs["end"]) != (n, last + 1, h):
            continue
        node.attrs["return_sequences"] = False
        g.tensors[y].shape = (n, h)
        s.op, s.attrs = "Reshape", {"shape": (n, 1, h)}
    return g
