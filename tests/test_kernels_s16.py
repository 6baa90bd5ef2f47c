"""Every int16-activation C kernel (TFLite's "16x8" mode) against its numpy twin, bit for bit, on
hypothesis-drawn shapes, attributes and data, on the host (UBSan + ASan), in QEMU's Cortex-M4 and,
for conv, depthwise conv and fully-connected, in simavr's ATmega328P.

As in tests/test_kernels.py each example is a small float graph that goes through the real pipeline
(calibrate, quantize with meta["precision"], plan, codegen):

    x (int8) -> Requantize -> [a pre node in int16] -> op in int16 -> y16 -> Requantize -> y (int8)

The graph's output is int8 (the C API's), which would hide the low bits of the kernel under test, so
the test reads every int16 tensor the moment it is written: the generated model.c gets, after each
call that writes an int16 tensor, a copy of that tensor's bytes into a tap buffer that the harness
returns ahead of the model's output.  Each tapped tensor must equal reference.run (keep_all) bit for
bit, and so must the int8 output.  The pre node (a 1x1 int16 conv) gives the op int16 inputs that
use every bit, not only the ~256 values an int8 tensor converts to; calibration sees a narrower range
than the samples, so outputs saturate."""
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from edgec.compiler import reference
from edgec.driver.build import compile_graph
from edgec.codegen.c import CONV_FILES
from edgec.compiler.ir import Graph, Node, Tensor
from edgec.passes.infer_shapes import infer_shapes
from edgec.passes.quantize import SUPPORTED_S16, int16_candidates
from edgec.passes.pipeline import canonicalize
from edgec.compiler.targets import get_target, with_sanitizers
from edgec.verification.toolchain import execute
from edgec.verification.verify import Built
from conftest import require
from op_graphs import acts, dims, drawn_conv

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EMULATED = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def graph16(op, x_shape, attrs, consts=(), pre=(), named_consts=None, op_inputs=None):
    """x -> pre nodes -> op(ins, *consts) -> y16 -> Reshape (flatten) -> y, with every tensor that can
    be int16 asked to be (so y16 and the pre nodes' outputs are; x and y stay int8)."""
    tensors = {"x": Tensor("x", tuple(x_shape))}
    for k, v in (named_consts or {}).items():
        tensors[k] = Tensor(k, v.shape, "float32", v.astype(np.float32))
    nodes = list(pre)
    for n in pre:
        tensors[n.outputs[0]] = Tensor(n.outputs[0], None)
    ins = list(op_inputs or ([pre[-1].outputs[0]] if pre else ["x"]))
    for i, c in enumerate(consts):
        tensors[f"c{i}"] = Tensor(f"c{i}", c.shape, "float32", c.astype(np.float32))
        ins.append(f"c{i}")
    tensors["y16"] = Tensor("y16", None)
    nodes.append(Node(op, "op", ins, ["y16"], attrs))
    shape = infer_shapes(Graph("k", nodes, tensors, ["x"], ["y16"])).tensors["y16"].shape
    tensors["y"] = Tensor("y", None)
    flat = (1, int(np.prod(shape))) if len(shape) == 4 else (int(np.prod(shape)),)
    nodes.append(Node("Reshape", "flatten", ["y16"], ["y"], {"shape": flat}))
    g = canonicalize(Graph("k", nodes, tensors, ["x"], ["y"]))
    g.meta["precision"] = {t: "int16" for t, why in int16_candidates(g).items() if why is None}
    assert "y16" in g.meta["precision"], int16_candidates(g)
    return g


def _tapped_sources(built: Built, src, dst):
    """Copy the build's sources to dst with model.c instrumented: after the call of each node that
    writes an int16 tensor, that tensor's bytes go to edgec_tap; edgec_tap_run(input, output) runs
    the model and returns the taps followed by the model's own output.  Returns [(tensor, offset)]."""
    q = built.int_graph
    buffers = q.plan.buffers
    taps, total = [], 0
    text = (src / "model.c").read_text()
    lines = text.split("\n")
    for i, node in enumerate(q.nodes):
        t = node.outputs[0]
        if q.tensors[t].dtype != "int16":
            continue
        where = [k for k, l in enumerate(lines) if l.strip().startswith(f"/* {i}: {node.name} (")]
        assert len(where) == 1 and buffers[t]["where"] == "arena", (node.name, where)
        nbytes = q.tensors[t].nbytes
        if node.op == "Reshape":            # an alias: its bytes are its input's, tapped there
            continue
        lines.insert(where[0] + 2, f"    memcpy(edgec_tap + {total}, arena + {buffers[t]['offset']}, {nbytes});")
        taps.append((t, total))
        total += nbytes
    run = f"edgec_{built.report['model']}_run"
    out_bytes = built.int_graph.tensors[built.int_graph.outputs[0]].nbytes
    text = ("#include <string.h>\n" + "\n".join(lines).replace(f"int {run}(", f"static int8_t edgec_tap[{max(total, 1)}];\n\nint {run}(", 1)
            + f"\nint edgec_tap_run(const int8_t *input, int8_t *output);\n"
              f"int edgec_tap_run(const int8_t *input, int8_t *output)\n{{\n    {run}(input, output + {total});\n"
              f"    memcpy(output, edgec_tap, {total});\n    return 0;\n}}\n")
    dst.mkdir()
    for f in src.iterdir():
        if f.suffix in (".c", ".h"):
            shutil.copy(f, dst / f.name)
    (dst / "model.c").write_text(text)
    header = (dst / "model.h").read_text()              # the harness calls EDGEC_RUN = edgec_tap_run
    (dst / "model.h").write_text(header.replace("\n#endif", "\nint edgec_tap_run(const int8_t *input, int8_t *output);\n#endif"))
    return taps, total, out_bytes


def check16(tmp_path, g, rng, target="host", scale=1.0, samples=16, shift=0.0):
    """Build g for `target`; every int16 tensor (tapped as written) and the int8 output equal the twins.
    `shift` moves the samples' mean (shift >> scale: every input saturates)."""
    t = get_target(target)
    require(t.cc, *([] if t.emulator is None or t.sample_io == "stdio" else [t.emulator[0]]))
    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))       # one per hypothesis example
    shape = g.tensors["x"].shape
    calib = rng.normal(0, scale, (8,) + shape).astype(np.float32)
    xs = rng.normal(shift, scale * 2.0, (samples,) + shape).astype(np.float32)
    compile_graph(g, calib, target, str(tmp_path / "out"), "k", "test", optimize="speed")
    built = Built(str(tmp_path / "out"))
    q = built.int_graph
    assert q.tensors["y16"].dtype == "int16" and q.tensors["y"].dtype == "int8"
    assert any(n.op == "Requantize" for n in q.nodes)
    taps, total, out_bytes = _tapped_sources(built, tmp_path / "out", tmp_path / "tapped")
    q_in = built.quantize_input(xs)
    target_obj = with_sanitizers(t) if target == "host" else t
    work = tmp_path / "work"
    work.mkdir()
    ex = execute(target_obj, tmp_path / "tapped", "edgec_tap", int(np.prod(shape)), total + out_bytes,
                 np.ascontiguousarray(q_in, np.int8).tobytes(), work)
    assert t.emulator is None or ex.instructions > 0            # it ran in the emulator
    raw = np.frombuffer(ex.outputs, np.uint8).reshape(len(xs), total + out_bytes)
    for k, x in enumerate(q_in):
        env = reference.run(q, x, keep_all=True)
        for name, off in taps:
            want = env[name]
            got = raw[k, off:off + want.nbytes].copy().view("<i2").reshape(want.shape)
            assert np.array_equal(got, want), (name, k, int((got != want).sum()))
        got_out = raw[k, total:].copy().view(np.int8).reshape(env["y"].shape)
        assert np.array_equal(got_out, env["y"]), ("y", k)
    return built, taps, q_in


def _pre_conv(c, rng):
    """A 1x1 int16 conv x -> x16 (c channels): int16 values that use every bit."""
    return [Node("Conv2D", "pre", ["x", "pw", "pb"], ["x16"], {"strides": (1, 1), "dilations": (1, 1), "pads": (0, 0, 0, 0),
                                                             "groups": 1, "act": None})], \
        {"pw": rng.normal(0, 1, (c, 1, 1, c)), "pb": rng.normal(0, 0.5, c)}




@SETTINGS
@given(h=dims, w=dims, c=st.integers(1, 6), mult=st.integers(1, 3), k=st.integers(1, 3), stride=st.integers(1, 2),
       dil=st.integers(1, 2), pads=st.tuples(*[st.integers(0, 2)] * 4), depthwise=st.booleans(), act=acts, rich=st.booleans(),
       seed=st.integers(0, 2**16))
def test_conv2d_s16(tmp_path, h, w, c, mult, k, stride, dil, pads, depthwise, act, rich, seed):
    rng = np.random.default_rng(seed)
    h, w, groups, out_c, wts = drawn_conv(rng, h, w, c, mult, k, dil, pads, depthwise)
    pre, named = _pre_conv(c, rng) if rich else ([], {})
    g = graph16("Conv2D", (1, h, w, c), {"strides": (stride, stride), "dilations": (dil, dil), "pads": pads,
                                          "groups": groups, "act": act}, [wts, rng.normal(0, 1, out_c)], pre, named)
    built, _, _ = check16(tmp_path, g, rng)
    assert "edgec_conv2d_s16.c" in built.report["runtime_files"]
    assert not {*CONV_FILES.values(), "edgec_conv_common.h", "edgec_conv_common.c"} & set(built.report["runtime_files"])   # only the kernels the model uses


@SETTINGS
@given(h=dims, w=dims, c=st.integers(1, 4), m=st.integers(1, 20), act=acts, rich=st.booleans(), seed=st.integers(0, 2**16))
def test_fully_connected_s16_after_an_int16_reshape(tmp_path, h, w, c, m, act, rich, seed):
    """[1,h,w,c] -> (1x1 conv, int16) -> Reshape (int16 alias) -> FullyConnected (int16)."""
    rng = np.random.default_rng(seed)
    pre, named = _pre_conv(c, rng) if rich else ([], {})
    k = h * w * c
    pre = pre + [Node("Reshape", "flat16", [pre[-1].outputs[0] if pre else "x"], ["f16"], {"shape": (1, k)})]
    g = graph16("FullyConnected", (1, h, w, c), {"act": act}, [rng.normal(0, 1, (m, k)), rng.normal(0, 3, m)], pre, named)
    built, _, _ = check16(tmp_path, g, rng)
    assert built.int_graph.tensors["f16"].dtype == "int16"
    assert {"edgec_fully_connected_s16.c", "edgec_requantize_s16.c"} <= set(built.report["runtime_files"])


@SETTINGS
@given(shape=st.tuples(dims, dims, st.integers(1, 5)), bcast=st.sampled_from(["same", "channel", "scalar", "row"]), act=acts,
       rich=st.booleans(), seed=st.integers(0, 2**16))
def test_add_s16_with_a_constant(tmp_path, shape, bcast, act, rich, seed):
    rng = np.random.default_rng(seed)
    x_shape = (1,) + shape
    cshape = {"same": x_shape, "channel": (shape[-1],), "scalar": (1,), "row": (1, 1, shape[1], 1)}[bcast]
    pre, named = _pre_conv(shape[-1], rng) if rich else ([], {})
    g = graph16("Add", x_shape, {"act": act}, [rng.normal(0, 4, cshape)], pre, named)
    check16(tmp_path, g, rng)


@SETTINGS
@given(shape=st.tuples(dims, dims, st.integers(1, 5)), seed=st.integers(0, 2**16))
def test_add_s16_of_two_activations(tmp_path, shape, seed):
    """A ResNet skip: one operand an int16 conv output, the other an int8 tensor (Relu: a lookup table,
    int8 only) requantized to int16, with different scales."""
    rng = np.random.default_rng(seed)
    pre, named = _pre_conv(shape[-1], rng)
    pre = pre + [Node("Relu", "pre_b", ["x"], ["b"], {})]
    g = graph16("Add", (1,) + shape, {"act": None}, [], pre, named, op_inputs=["x16", "b"])
    built, taps, _ = check16(tmp_path, g, rng)
    assert built.int_graph.tensors["b"].dtype == "int8" and "b_s16" in dict(taps)


@SETTINGS
@given(op=st.sampled_from(["MaxPool2D", "AvgPool2D"]), h=dims, w=dims, c=st.integers(1, 5), k=st.integers(1, 3),
       stride=st.integers(1, 3), pad=st.integers(0, 1), act=acts, rich=st.booleans(), counted=st.booleans(),
       seed=st.integers(0, 2**16))
@example(op="AvgPool2D", h=5, w=6, c=3, k=3, stride=2, pad=1, act=None, rich=False, counted=True, seed=1)
def test_pool_s16(tmp_path, op, h, w, c, k, stride, pad, act, rich, counted, seed):
    rng = np.random.default_rng(seed)
    pad = min(pad, k - 1)
    h, w = max(h, k), max(w, k)
    pre, named = _pre_conv(c, rng) if rich else ([], {})
    attrs = {"kernel": (k, k), "strides": (stride, stride), "pads": (pad, pad, pad, pad), "act": act}
    if counted and op == "AvgPool2D":           # count_include_pad: all but the left padding counted
        attrs["count_pads"] = (pad, 0, pad, pad)
    g = graph16(op, (1, h, w, c), attrs, [], pre, named)
    check16(tmp_path, g, rng)


@EMULATED
@given(h=dims, w=dims, c=st.integers(1, 8), k=st.integers(1, 3), out_c=st.integers(1, 6),
       op=st.sampled_from(["conv", "dw", "fc", "add", "maxpool", "avgpool"]), seed=st.integers(0, 2**16))
def test_cortex_m4_s16_kernels_equal_the_twin(tmp_path, h, w, c, k, out_c, op, seed):
    """The same kernels compiled for Armv7E-M and run in QEMU (mps2-an386)."""
    rng = np.random.default_rng(seed)
    pre, named = _pre_conv(c, rng)
    if op == "fc":
        pre = pre + [Node("Reshape", "flat16", ["x16"], ["f16"], {"shape": (1, (h + 2) * (w + 2) * c)})]
        g = graph16("FullyConnected", (1, h + 2, w + 2, c), {"act": None},
                    [rng.normal(0, 1, (out_c, (h + 2) * (w + 2) * c)), rng.normal(0, 3, out_c)], pre, named)
    elif op in ("conv", "dw"):
        groups, oc = (c, c) if op == "dw" else (1, out_c)
        g = graph16("Conv2D", (1, h + 2, w + 2, c), {"strides": (1, 1), "dilations": (1, 1), "pads": (k // 2,) * 4,
                                                      "groups": groups, "act": None},
                    [rng.normal(0, 1, (oc, k, k, c // groups)), rng.normal(0, 1, oc)], pre, named)
    elif op == "add":
        g = graph16("Add", (1, h, w, c), {"act": (0.0, np.inf)}, [rng.normal(0, 4, (c,))], pre, named)
    else:
        g = graph16("MaxPool2D" if op == "maxpool" else "AvgPool2D", (1, h + 2, w + 2, c),
                    {"kernel": (k, k), "strides": (2, 2), "pads": (k // 2,) * 4, "act": None}, [], pre, named)
    check16(tmp_path, g, rng, target="cortex-m4")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c=st.integers(1, 4), k=st.integers(1, 3), op=st.sampled_from(["conv", "dw", "fc"]), sign=st.sampled_from([-1.0, 1.0]),
       seed=st.integers(0, 2**16))
def test_atmega328p_s16_kernels_at_the_int32_edges(tmp_path, c, k, op, sign, seed):
    """On AVR `int` is 16 bits: int16 x int8 products (32767 * 127, past 2^16) and their int64 sums must
    be formed in int32_t / int64_t explicitly.  Weights of one magnitude (all +-127) and a pre conv whose
    outputs saturate make every product near maximal; simavr runs the kernels (weights in flash)."""
    rng = np.random.default_rng(seed)
    h = w = 3
    pre, named = _pre_conv(c, rng)
    named["pw"], named["pb"] = np.full((c, 1, 1, c), 1.0), np.zeros(c)
    if op == "fc":
        pre = pre + [Node("Reshape", "flat16", ["x16"], ["f16"], {"shape": (1, h * w * c)})]
        g = graph16("FullyConnected", (1, h, w, c), {"act": None}, [np.full((2, h * w * c), sign), rng.normal(0, 1, 2)], pre, named)
    else:
        groups, oc = (c, c) if op == "dw" else (1, 2)
        g = graph16("Conv2D", (1, h, w, c), {"strides": (1, 1), "dilations": (1, 1), "pads": (k // 2,) * 4, "groups": groups,
                                             "act": None}, [np.full((oc, k, k, c // groups), sign), rng.normal(0, 1, oc)], pre, named)
    built, _, q_in = check16(tmp_path, g, rng, target="atmega328p", samples=4, shift=50.0)
    x16 = np.stack([reference.run(built.int_graph, x, keep_all=True)["x16"] for x in q_in])
    assert int(np.abs(x16).min()) >= 8192                # every product (x 127) is past 2^20


def test_supported_ops_and_refusals_are_stated():
    """quantize refuses (one error, every tensor with its reason) what has no int16 kernel or is the
    graph's input/output; int16_candidates gives the same reasons up front."""
    from edgec.compiler.calibrate import calibrate
    from edgec.compiler.errors import EdgecError
    from edgec.passes.quantize import quantize
    assert SUPPORTED_S16 == {"Conv2D", "FullyConnected", "Add", "MaxPool2D", "AvgPool2D", "Reshape"}
    rng = np.random.default_rng(0)
    pre = [Node("Softmax", "sm", ["x"], ["s"], {})]
    g = graph16("Add", (1, 6), {"act": None}, [rng.normal(0, 1, (6,))], pre)
    why = int16_candidates(g)
    assert why["y16"] is None and "Softmax" in why["s"] and "C API" in why["x"] and "C API" in why["y"]
    c = calibrate(g, rng.normal(0, 1, (4, 1, 6)).astype(np.float32))
    c.meta["precision"] = {"y16": "int16", "s": "int16", "y": "int16", "nope": "int16"}
    with pytest.raises(EdgecError) as e:
        quantize(c)
    msg = str(e.value)
    assert all(t in msg for t in ("s (made by Softmax", "y (a graph input or output", "nope (not an activation")), msg
    c.meta["precision"] = {"y16": "int12"}
    with pytest.raises(EdgecError, match="unknown precision"):
        quantize(c)
    c.meta["precision"] = {"y16": "int16"}
    q = quantize(c)                               # softmax int8 -> Requantize -> Add int16 -> Requantize -> Reshape
    assert [n.op for n in q.nodes] == ["Softmax", "Requantize", "Add", "Requantize", "Reshape"]
    assert [n.name for n in q.nodes if n.op == "Requantize"] == ["s_s16", "y16_s8"]
    assert q.tensors["y16"].quant.scalar_zp == 0 and q.tensors["y16"].dtype == "int16"
    sig = lambda g: [(n.op, n.name, n.inputs, n.outputs) for n in g.nodes]
    assert sig(quantize(c)) == sig(q)             # deterministic
    c.meta["precision"] = {}                      # all int8: no Requantize, no int16 tensor
    q8 = quantize(c)
    assert [n.op for n in q8.nodes] == ["Softmax", "Add", "Reshape"]
    assert {t.dtype for t in q8.tensors.values()} == {"int8"}


def test_generated_c_for_int16_declares_typed_arena_and_int64_biases(tmp_path):
    rng = np.random.default_rng(3)
    pre, named = _pre_conv(3, rng)
    g = graph16("Conv2D", (1, 5, 5, 3), {"strides": (1, 1), "dilations": (1, 1), "pads": (1, 1, 1, 1), "groups": 1, "act": None},
                [rng.normal(0, 1, (4, 3, 3, 3)), rng.normal(0, 1, 4)], pre, named)
    compile_graph(g, rng.normal(0, 1, (8, 1, 5, 5, 3)).astype(np.float32), "host", str(tmp_path / "out"), "k", "test")
    model_c = (tmp_path / "out" / "model.c").read_text()
    weights_c = (tmp_path / "out" / "weights.c").read_text()
    assert "int16_t *arena16 = (int16_t *)edgec_k_arena;" in model_c
    assert re.search(r"edgec_requantize_s8_s16\(&\w+, input, arena16 \+ \d+\);", model_c)
    assert re.search(r"edgec_conv2d_s16\(", model_c) and re.search(r"edgec_requantize_s16_s8\(&\w+, arena16 \+ \d+, ", model_c)
    assert re.search(r"const EDGEC_ROM int64_t edgec_k_b\d+_op\[4\]", weights_c)
    assert not re.search(r"\b(float|double)\b", model_c + weights_c)
    report = Built(str(tmp_path / "out")).report
    arena = {l["name"]: l["arena_size"] for l in report["layers"]}
    assert arena["op"] == 5 * 5 * 4 * 2                  # int16: two bytes per element
