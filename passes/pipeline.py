"""The ordered pass lists: the one place that says what runs, in which order."""
from .infer_shapes import infer_shapes
from .fold_constants import fold_constants
from .fold_batchnorm import fold_batchnorm
from .sink_reshape import sink_reshape
from .fold_transpose_fc import fold_transpose_fc
from .collapse_transpose import collapse_transpose
from .fuse_activations import fuse_activations
from .fuse_gated_activations import fuse_gated_activations
from .collapse_elementwise import collapse_elementwise
from .fuse_l2_normalize import fuse_l2_normalize
from .fold_pad import fold_pad
from .eliminate_dead import eliminate_dead
from .slice_fc_rows import slice_fc_rows
from .fold_recurrent_last_step import fold_recurrent_last_step
from .compose_slices import compose_slices
from .bind_concat import bind_concat
from .quantize import quantize
from .plan_memory import plan_memory
from .plan_scratch import plan_scratch
from .plan_wide import plan_wide
from .schedule import schedule
from .tile import tile

CANONICAL = [infer_shapes, fold_constants, sink_reshape, fold_batchnorm, fold_transpose_fc, fuse_gated_activations,
             fuse_l2_normalize, collapse_elementwise, fuse_activations,
             fold_pad, collapse_transpose, slice_fc_rows, eliminate_dead, fold_recurrent_last_step, compose_slices,
             bind_concat]


def canonicalize(graph, log=None):
    for p in CANONICAL:
        graph = p(graph)
        if log:
            log(p.__name__, graph)
    return graph


PLANNING = [schedule, tile, plan_memory, plan_wide, plan_scratch]


def plan(graph):
    for p in PLANNING:
        graph = p(graph)
    return graph


__all__ = ["CANONICAL", "canonicalize", "quantize", "plan", "PLANNING"]
