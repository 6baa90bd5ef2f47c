"""The ordered pass lists: the one place that says what runs, in which order."""
from edgec.passes.infer_shapes import infer_shapes
from edgec.passes.fold_constants import fold_constants
from edgec.passes.fold_batchnorm import fold_batchnorm
from edgec.passes.sink_reshape import sink_reshape
from edgec.passes.fold_transpose_fc import fold_transpose_fc
from edgec.passes.collapse_transpose import collapse_transpose
from edgec.passes.fuse_activations import fuse_activations
from edgec.passes.fuse_gated_activations import fuse_gated_activations
from edgec.passes.collapse_elementwise import collapse_elementwise
from edgec.passes.fold_pad import fold_pad
from edgec.passes.eliminate_dead import eliminate_dead
from edgec.passes.fold_recurrent_last_step import fold_recurrent_last_step
from edgec.passes.bind_concat import bind_concat
from edgec.passes.quantize import quantize
from edgec.passes.plan_memory import plan_memory
from edgec.passes.plan_scratch import plan_scratch
from edgec.passes.plan_wide import plan_wide
from edgec.passes.schedule import schedule
from edgec.passes.tile import tile

CANONICAL = [infer_shapes, fold_constants, sink_reshape, fold_batchnorm, fold_transpose_fc, fuse_gated_activations,
             collapse_elementwise, fuse_activations,
             fold_pad, collapse_transpose, eliminate_dead, fold_recurrent_last_step, bind_concat]


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
