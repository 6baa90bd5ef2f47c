"""One-op float graphs built in the IR, and the check of their C against the integer reference on
saturating samples, through the real pipeline (calibrate, quantize, plan, codegen; UBSan + ASan on the
host): test_kernels.py's, shared by the tests of kernels, memory planning, wide weights, resampling and
the small cores (and the hypothesis strategies the int16 kernels draw their convs with)."""
import numpy as np
from hypothesis import strategies as st

from edgec.compiler import reference
from edgec.driver.build import compile_graph
from edgec.compiler.ir import Graph, Node, Tensor
from edgec.compiler.calibrate import calibrate
from edgec.passes.pipeline import canonicalize, quantize
from edgec.verification.verify import Built
from conftest import require


def graph_of(op, x_shape, attrs, consts=(), extra_inputs=(), named_consts=None):
    """x -> op(x, *consts) -> y; consts are float arrays that become constant tensors.  With
    extra_inputs (nodes reading x, or each other), op reads their last outputs instead; named_consts feed
    those nodes."""
    tensors = {"x": Tensor("x", tuple(x_shape))}
    for k, v in (named_consts or {}).items():
        tensors[k] = Tensor(k, v.shape, "float32", v.astype(np.float32))
    ins = ["x"]
    for i, c in enumerate(consts):
        tensors[f"c{i}"] = Tensor(f"c{i}", c.shape, "float32", c.astype(np.float32))
        ins.append(f"c{i}")
    nodes = list(extra_inputs)
    for n in extra_inputs:
        for o in n.outputs:
            tensors[o] = Tensor(o, None)
    if extra_inputs:                    # op reads the extra nodes' outputs that no other extra node reads
        inner = {i for n in extra_inputs for i in n.inputs}
        ins = [o for n in extra_inputs for o in n.outputs if o not in inner]
    tensors["y"] = Tensor("y", None)
    nodes.append(Node(op, "op", ins, ["y"], attrs))
    g = Graph("k", nodes, tensors, ["x"], ["y"])
    return canonicalize(g)


def check(tmp_path, g, rng, scale=1.0, target="host", shift=0.0, edit=None, optimize="ram", flash=None):
    """Compile g for `target` and compare its C with the integer reference on saturating samples
    (`shift` moves the samples' mean: with shift >> scale nearly every input sits at +127).  `edit`
    changes the quantized graph in place before it is compiled (attrs calibration does not give)."""
    from edgec.compiler.targets import get_target, with_budget
    t = get_target(target)
    require(t.cc, *([] if t.emulator is None or t.sample_io == "stdio" else [t.emulator[0]]))
    shape = g.tensors["x"].shape
    calib = rng.normal(0, scale, (8,) + shape).astype(np.float32)
    samples = (rng.normal(shift, scale * 2.0, (16,) + shape)).astype(np.float32)
    out = tmp_path / "out"
    quantized = None
    if edit is not None:
        quantized = quantize(calibrate(g, calib))
        edit(quantized)
    compile_graph(g, calib, target if flash is None else with_budget(t, flash=flash), str(out), "k", "test", quantized=quantized,
                  optimize=optimize)
    built = Built(str(out))
    q_in = built.quantize_input(samples)
    want = reference.run_batch(built.int_graph, q_in)
    got, _ = built.execute(target, q_in, sanitize=target == "host")     # UBSan + ASan on the host
    assert np.array_equal(got, want), f"C and reference differ in {int((got != want).sum())} values"
    return built


#: hypothesis strategies: a drawn dimension, and a drawn fused activation (none, ReLU, ReLU6, a clamp)
dims = st.integers(1, 7)
acts = st.sampled_from([None, (0.0, np.inf), (0.0, 6.0), (-1.0, 1.0)])


def drawn_conv(rng, h, w, c, mult, k, dil, pads, depthwise):
    """(h, w, groups, out_c, weights OHWI) of a drawn conv: the input grown until one window fits, and
    channel 0 nearly dead (tiny weights: a tiny scale and an extreme multiplier)."""
    if h + pads[0] + pads[2] < dil * (k - 1) + 1 or w + pads[1] + pads[3] < dil * (k - 1) + 1:
        h, w = h + dil * k, w + dil * k
    groups = c if depthwise else 1
    out_c = c * mult if depthwise else mult * 2
    wts = rng.normal(0, 1, (out_c, k, k, c // groups))
    wts[0] *= 1e-3
    return h, w, groups, out_c, wts
