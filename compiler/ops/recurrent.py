"""LSTM and GRU (zero initial state); the float, integer and quantize arithmetic is compiler/recurrent.py's.
Kernels: runtime_c/edgec_lstm_s8.c, edgec_gru_s8.c.  Their C calls stay in codegen/recurrent.py (emit
None): the weights are laid out unit by unit in quads, which only codegen knows."""
from __future__ import annotations

from .. import recurrent
from .base import OpDef


def macs(graph, node):
    """Every step: the gates' input and recurrent dot products."""
    n, t, i = graph.tensors[node.inputs[0]].shape
    g4, h = graph.tensors[node.inputs[2]].shape
    return n * t * g4 * (i + h)


DEFS = [
    OpDef("LSTM", "x [N,T,I], weights [4H,I], recurrent weights [4H,H], bias [4H] (gates i,f,c,o), zero initial state; "
                  "attrs return_sequences, cell_clip, reverse (time walked from the last step, outputs kept at "
                  "their steps); float graphs add two calibration outputs (see recurrent.py)",
          recurrent.lstm_shapes, arity=(4, 4), float_ref=recurrent.lstm_f32, int8_ref=recurrent.lstm_s8,
          quantize=recurrent.quantize_lstm, kernel_file="edgec_lstm_s8.c", macs=macs),
    OpDef("GRU", "x [N,T,I], weights [3H,I], recurrent weights [3H,H], bias [3H], recurrent bias [3H] (gates z,r,n; "
                 "the reset gate after the recurrent product); attrs return_sequences, reverse (as LSTM's); float "
                 "graphs add a calibration output", recurrent.gru_shapes, arity=(5, 5), float_ref=recurrent.gru_f32, int8_ref=recurrent.gru_s8,
          quantize=recurrent.quantize_gru, kernel_file="edgec_gru_s8.c", macs=macs),
]
