"""Scheduling and memory planning: optimal order on hand-checked graphs, never worse than
topological order on real models, valid plans on random lifetimes, aliasing and in-place execution."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgec.compiler.ir import Graph, Node, Tensor
from edgec.passes.plan_memory import STRATEGIES, plan_memory, validate_plan
from edgec.passes.schedule import peak_live_bytes, schedule
from conftest import CASES


def _chain_graph(order):
    """x -> big=FC(x) [1000 B] -> r=FC(big) [10 B];  x -> small=FC(x) [10 B];  y = r + small.
    Running `small` first keeps its 10 bytes alive through big's 1000: peak 1020; running it after
    r peaks at 1010."""
    t = {"x": Tensor("x", (1, 4)), "big": Tensor("big", (1, 250)), "r": Tensor("r", (1, 3)),
         "small": Tensor("small", (1, 3)), "y": Tensor("y", (1, 3))}
    for name, shape in (("w1", (250, 4)), ("w2", (3, 250)), ("w3", (3, 4))):
        t[name] = Tensor(name, shape, "float32", np.zeros(shape, np.float32))
        t[name + "b"] = Tensor(name + "b", (shape[0],), "float32", np.zeros(shape[0], np.float32))
    nodes = {"big": Node("FullyConnected", "big", ["x", "w1", "w1b"], ["big"], {"act": None}),
             "r": Node("FullyConnected", "r", ["big", "w2", "w2b"], ["r"], {"act": None}),
             "small": Node("FullyConnected", "small", ["x", "w3", "w3b"], ["small"], {"act": None}),
             "y": Node("Add", "y", ["r", "small"], ["y"], {"act": None})}
    return Graph("g", [nodes[n] for n in order], t, ["x"], ["y"])


def test_scheduler_finds_the_hand_checked_optimum():
    g = _chain_graph(["small", "big", "r", "y"])
    assert peak_live_bytes(g) == 1000 + 12 + 12
    s = schedule(g)
    assert [n.name for n in s.nodes] == ["big", "r", "small", "y"]
    assert peak_live_bytes(s) == 1000 + 12 == s.schedule.peak_live_bytes
    assert s.schedule.method == "exact"
    assert [n.name for n in schedule(s).nodes] == [n.name for n in s.nodes]      # idempotent


def test_scheduler_never_worse_than_topological_on_real_models():
    from edgec.driver.build import import_model
    from edgec.passes.pipeline import canonicalize
    for name in ("resnet", "kws", "vww", "digits_cnn"):
        g = canonicalize(import_model(CASES[name].path))
        s = schedule(g)
        assert peak_live_bytes(s) <= peak_live_bytes(g.toposorted())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 30), st.integers(0, 8)), min_size=1, max_size=40))
def test_every_strategy_gives_a_valid_packing(bufs):
    sizes = {f"b{i}": s for i, (s, _, _) in enumerate(bufs)}
    life = {f"b{i}": (a, a + d) for i, (_, a, d) in enumerate(bufs)}
    names = sorted(sizes)
    lower = max(sum(sizes[b] for b in names if life[b][0] <= t <= life[b][1]) for t in range(40))
    pos = {b: i for i, b in enumerate(names)}
    for strategy in STRATEGIES.values():
        offsets, arena = strategy(names, sizes, life, pos)
        assert arena >= lower
        for i, a in enumerate(names):
            assert offsets[a] % 4 == 0 and offsets[a] + sizes[a] <= arena
            for b in names[i + 1:]:
                overlap_time = not (life[a][1] < life[b][0] or life[b][1] < life[a][0])
                apart = offsets[a] + sizes[a] <= offsets[b] or offsets[b] + sizes[b] <= offsets[a]
                assert not overlap_time or apart


def test_aliases_and_in_place_in_real_plans(built):
    _, _, report = built("resnet")
    from edgec.verification.verify import Built
    out, _, _ = built("resnet")
    q = Built(str(out)).int_graph
    validate_plan(q)
    bufs = q.plan.buffers
    adds = [n for n in q.nodes if n.op == "Add"]
    assert adds and all(bufs[n.outputs[0]]["root"] in {bufs[i]["root"] for i in n.inputs} for n in adds)
    reshapes = [n for n in q.nodes if n.op == "Reshape"]
    assert all(bufs[n.outputs[0]]["root"] == bufs[n.inputs[0]]["root"] or bufs[n.outputs[0]]["where"] == "output"
               for n in reshapes)


from hypothesis import HealthCheck  # noqa: E402
from edgec.passes import pipeline  # noqa: E402
from edgec.passes.tile import make_stage, tile  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from op_graphs import check  # noqa: E402


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(4, 14), w=st.integers(1, 6), c=st.integers(1, 4), k=st.integers(1, 3), stride=st.integers(1, 2),
       tiles=st.integers(2, 6), pool=st.sampled_from(["MaxPool2D", "AvgPool2D"]), seed=st.integers(0, 2**16))
def test_forced_tiling_is_bit_exact(tmp_path, monkeypatch, h, w, c, k, stride, tiles, pool, seed):
    """conv -> leaky (Lut) -> depthwise conv -> pool, run in `tiles` row bands, equals the reference."""
    _forced_tiling(tmp_path, monkeypatch, h, w, c, k, stride, tiles, pool, seed, "host")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(4, 30), w=st.integers(1, 20), c=st.integers(1, 4), k=st.integers(1, 3), stride=st.integers(1, 2),
       tiles=st.integers(2, 6), pool=st.sampled_from(["MaxPool2D", "AvgPool2D"]), seed=st.integers(0, 2**16))
def test_forced_tiling_is_bit_exact_on_cortex_m4(tmp_path, monkeypatch, h, w, c, k, stride, tiles, pool, seed):
    """The same bands on the Armv7E-M variant, whose 3x3 depthwise sweeps a band along its rows or, where
    the band is taller than wide, down its columns (edgec_dw_rows3: runs of 12 or more)."""
    _forced_tiling(tmp_path, monkeypatch, h, w, c, k, stride, tiles, pool, seed, "cortex-m4")


def _forced_tiling(tmp_path, monkeypatch, h, w, c, k, stride, tiles, pool, seed, target):
    rng = np.random.default_rng(seed)
    pre = [Node("Conv2D", "c1", ["x", "w1", "b1"], ["a"], {"strides": (stride, 1), "dilations": (1, 1),
                                                           "pads": (k // 2, k // 2, k // 2, k // 2), "groups": 1, "act": None}),
           Node("LeakyRelu", "lr", ["a"], ["b"], {"alpha": 0.1}),
           Node("Conv2D", "dw", ["b", "w2", "b2"], ["d"], {"strides": (1, 1), "dilations": (1, 1), "pads": (1, 1, 1, 1),
                                                            "groups": 4, "act": None})]
    consts = {"w1": rng.normal(0, 1, (4, k, k, c)), "b1": rng.normal(0, 1, 4), "w2": rng.normal(0, 1, (4, 3, 3, 1)),
              "b2": rng.normal(0, 1, 4)}
    nodes = pre + [Node(pool, "pool", ["d"], ["y"], {"kernel": (2, 1), "strides": (1, 1), "pads": (0, 0, 1, 0), "act": None})]
    tensors = {"x": Tensor("x", (1, h, w, c)), **{t: Tensor(t, None) for t in "abdy"},
               **{k2: Tensor(k2, v.shape, "float32", v.astype(np.float32)) for k2, v in consts.items()}}
    g = canonicalize(Graph("k", nodes, tensors, ["x"], ["y"]))

    def forced(graph):
        out = graph.copy()
        stage = make_stage(out, out.nodes, tiles)
        if stage is not None:
            out.tiling = [stage]
        return out
    monkeypatch.setattr(pipeline, "PLANNING", [schedule, forced, plan_memory])
    built = check(tmp_path, g, rng, target=target)
    validate_plan(built.int_graph)
    if tiles <= built.int_graph.tensors["y"].shape[1]:
        assert built.int_graph.tiling[0]["tiles"] == tiles


def test_tiling_lowers_vww_and_resnet_below_the_layer_wise_bound(built):
    for name, layer_wise in (("vww", 55_296), ("resnet", 49_152)):
        _, _, report = built(name)
        assert report["totals"]["arena_bytes"] < layer_wise, (name, report["totals"]["arena_bytes"])


def _kws_scheduled():
    from edgec.driver.build import import_model
    from edgec.compiler.calibrate import calibrate
    from edgec.passes.pipeline import canonicalize, quantize
    g = canonicalize(import_model(CASES["kws"].path))
    return schedule(quantize(calibrate(g, CASES["kws"].calibration()[:1])))


def test_kws_runs_below_its_layer_wise_bound_with_outputs_over_inputs():
    """KWS (64 channels on 25 x 5 at every depthwise and pointwise layer): no layer-by-layer plan goes
    below the largest input + output, 16,000 B.  Stages whose output overwrites their dying input
    (a "shift") run it in at most 0.75x that without recomputing a row, at an estimated instruction
    cost within MAX_EXTRA; an explicit RAM budget that holds the untiled plan tiles nothing, and one
    in between tiles less (fewer estimated instructions) than the least-RAM plan."""
    from edgec.passes.tile import MAX_EXTRA, node_instructions
    q = _kws_scheduled()
    untiled = plan_memory(q).plan.arena_size
    assert untiled == 16_000
    least = plan_memory(tile(q))
    validate_plan(least)
    stages = least.tiling
    assert least.plan.arena_size <= 0.75 * untiled
    assert all(st["extra_macs"] == 0 and st["saves_bytes"] > 0 for st in stages)
    bufs, by_name = least.plan.buffers, {n.name: n for n in least.nodes}
    for st in stages:                               # the stage's input lives inside its output's buffer
        first, last = by_name[st["nodes"][0]], by_name[st["nodes"][-1]]
        assert bufs[first.inputs[0]]["root"] == bufs[last.outputs[0]]["root"]
        assert bufs[first.inputs[0]]["offset"] - bufs[last.outputs[0]]["offset"] == st["shift"]
    spent = sum(st["instructions"] for st in stages)
    assert 0 < spent <= MAX_EXTRA * sum(node_instructions(q, n) for n in q.nodes)
    io = q.tensors[q.inputs[0]].nbytes + q.tensors[q.outputs[0]].nbytes
    roomy = q.copy()
    roomy.meta["ram_budget"] = untiled + io
    assert "tiling" not in tile(roomy).meta
    mid = q.copy()
    mid.meta["ram_budget"] = (untiled + least.plan.arena_size) // 2 + io
    some = plan_memory(tile(mid))
    validate_plan(some)
    assert some.plan.arena_size <= mid.meta["ram_budget"] - io
    assert sum(st["instructions"] for st in some.tiling) < spent


@pytest.mark.emulator
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(3, 16), w=st.integers(1, 5), c=st.integers(1, 6), length=st.integers(1, 2), first=st.integers(1, 2),
       stride=st.integers(1, 2), tiles=st.integers(2, 6), reverse=st.booleans(), seed=st.integers(0, 2**16))
def test_stage_output_over_its_input_is_bit_exact(tmp_path, monkeypatch, h, w, c, length, first, stride, tiles, reverse, seed):
    """conv -> depthwise 3x3 (stride 1 or 2) -> pointwise -> pool: one or two of the middle layers run
    in row bands, top down or bottom up, writing their output over their input (shifted by
    overlap_shift), and the C equals the reference on the host and on cortex-m4."""
    rng = np.random.default_rng(seed)
    conv = lambda name, src, out, wshape, strides, pads, groups: Node(
        "Conv2D", name, [src, f"{name}_w", f"{name}_b"], [out],
        {"strides": strides, "dilations": (1, 1), "pads": pads, "groups": groups, "act": (0.0, np.inf)})
    nodes = [conv("c0", "x", "a", (c, 3, 3, 1), (1, 1), (1, 1, 1, 1), 1),
             conv("dw", "a", "b", (c, 3, 3, 1), (stride, 1), (1, 1, 1, 1), c),
             conv("pw", "b", "d", (c, 1, 1, c), (1, 1), (0, 0, 0, 0), 1),
             Node("MaxPool2D", "pool", ["d"], ["y"], {"kernel": (2, 1), "strides": (1, 1), "pads": (0, 0, 1, 0), "act": None})]
    consts = {"c0_w": (c, 3, 3, 1), "dw_w": (c, 3, 3, 1), "pw_w": (c, 1, 1, c)}
    consts = {**{k: rng.normal(0, 1, v) for k, v in consts.items()}, **{f"{n}_b": rng.normal(0, 1, c) for n in ("c0", "dw", "pw")}}
    tensors = {"x": Tensor("x", (1, h, w, 1)), **{t: Tensor(t, None) for t in "abdy"},
               **{k: Tensor(k, v.shape, "float32", v.astype(np.float32)) for k, v in consts.items()}}
    g = canonicalize(Graph("k", nodes, tensors, ["x"], ["y"]))
    span = slice(first, min(3, first + length))

    def forced(graph):
        out = graph.copy()
        stage = make_stage(out, out.nodes[span], tiles, reverse)
        if stage is not None:
            out.tiling = [stage]
        return out
    monkeypatch.setattr(pipeline, "PLANNING", [schedule, forced, plan_memory])
    for target in ("host", "cortex-m4"):
        built = check(tmp_path / target, g, rng, target=target)
        q = built.int_graph
        validate_plan(q)
        if q.tiling:
            nodes_ = q.nodes[span]
            bufs = q.plan.buffers
            assert bufs[nodes_[0].inputs[0]]["root"] == bufs[nodes_[-1].outputs[0]]["root"]
            assert bufs[nodes_[0].inputs[0]]["offset"] - bufs[nodes_[-1].outputs[0]]["offset"] == q.tiling[0]["shift"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 6), w=st.integers(1, 6), c=st.integers(1, 4), flat=st.booleans(), seed=st.integers(0, 2**16))
def test_convs_write_straight_into_concat_slices(tmp_path, h, w, c, flat, seed):
    """Two convs (and the input itself) concatenated: along channels (strided slices) or, flattened,
    along a contiguous axis. Bound producers write in place; the result equals the reference."""
    rng = np.random.default_rng(seed)
    conv = lambda name, src, out, o: Node("Conv2D", name, [src, f"{name}_w", f"{name}_b"], [out],
                                          {"strides": (1, 1), "dilations": (1, 1), "pads": (1, 1, 1, 1), "groups": 1,
                                           "act": (0.0, np.inf)})
    nodes = [conv("ca", "x", "a", 3), conv("cb", "x", "b", 2)]
    consts = {"ca_w": rng.normal(0, 1, (3, 3, 3, c)), "ca_b": rng.normal(0, 1, 3),
              "cb_w": rng.normal(0, 1, (2, 3, 3, c)), "cb_b": rng.normal(0, 1, 2)}
    if flat:
        nodes += [Node("Reshape", "ra", ["a"], ["fa"], {"shape": (1, h * w * 3)}),
                  Node("Reshape", "rb", ["b"], ["fb"], {"shape": (1, h * w * 2)}),
                  Node("Concat", "cat", ["fa", "fb"], ["y"], {"axis": 1})]
    else:
        nodes += [Node("Concat", "cat", ["a", "x", "b"], ["y"], {"axis": 3})]
    tensors = {"x": Tensor("x", (1, h, w, c)), **{t: Tensor(t, None) for t in ("a", "b", "fa", "fb", "y")},
               **{k: Tensor(k, v.shape, "float32", v.astype(np.float32)) for k, v in consts.items()}}
    g = canonicalize(Graph("k", nodes, tensors, ["x"], ["y"]))
    cat = next(n for n in g.nodes if n.op == "Concat")
    assert cat.attrs["bound"] == ([True, True] if flat else [True, False, True])
    built = check(tmp_path, g, rng)
    validate_plan(built.int_graph)
    q = built.int_graph
    qcat = next(n for n in q.nodes if n.op == "Concat")
    assert [r is None for r, b in zip(qcat.attrs["requant"], qcat.attrs["bound"]) if b] == [True, True]


def test_optimize_speed_trades_the_row_bands_ram_for_fewer_instructions(tmp_path):
    """digits_cnn tiles by default (least RAM; mnist.simplified no longer does: its one stage saves
    100 B for more than MAX_EXTRA of its measured-cost estimate); --optimize speed computes each layer
    once: no row bands, a bigger arena, fewer executed instructions, and the same bit-exact integers."""
    from edgec.driver.build import build
    from edgec.verification.verify import verify
    from conftest import require
    require("arm-none-eabi-gcc", "qemu-system-arm")
    case = CASES["digits_cnn"]
    np.save(tmp_path / "calib.npy", case.calibration())
    np.save(tmp_path / "x.npy", case.inputs()[:8])
    ram = build(case.path, "cortex-m4", str(tmp_path / "ram"), str(tmp_path / "calib.npy"))
    speed = build(case.path, "cortex-m4", str(tmp_path / "speed"), str(tmp_path / "calib.npy"), optimize="speed")
    assert any(l.get("band") for l in ram["layers"]) and not any(l.get("band") for l in speed["layers"])
    assert speed["totals"]["arena_bytes"] > ram["totals"]["arena_bytes"] and speed["optimize"] == "speed"
    r_ram, r_speed = (verify(str(tmp_path / d), "cortex-m4", str(tmp_path / "x.npy")) for d in ("ram", "speed"))
    assert r_ram["bit_exact"] and r_speed["bit_exact"]
    assert r_speed["instructions_per_inference"] < r_ram["instructions_per_inference"]


def test_columns_scratch_costs_no_ram_by_default_and_every_conv_gets_one_for_speed(built):
    """plan_scratch: by default (least RAM) a conv gets its columns scratch only where the arena stays
    exactly as small as without any; --optimize speed gives one to every conv that has a columns loop
    nest.  Both plans are valid (a scratch overlaps nothing live while its conv runs)."""
    from edgec.passes.plan_scratch import cols_bytes, plan_scratch
    from edgec.passes.plan_wide import cols_bytes as wide_cols_bytes
    from edgec.verification.verify import Built
    out, _, report = built("resnet")
    q = Built(str(out)).int_graph
    validate_plan(q)
    scratch = q.plan.scratch
    wide = {k for k, b in q.wide.layers.items() if b}        # widened convs' own scratches (plan_wide)
    eligible = {n.name for n in q.nodes if cols_bytes(q, n) and n.name not in wide} | wide
    assert scratch and set(scratch) <= eligible
    without = q.copy()
    without.scratch = {}
    assert plan_memory(without).plan.arena_size == report["totals"]["arena_bytes"]
    for name, s in scratch.items():
        node = next(n for n in q.nodes if n.name == name)
        assert s["size"] == (wide_cols_bytes(q, node) if name in wide else cols_bytes(q, node))
    fast = q.copy()
    fast.meta["optimize"] = "speed"
    fast.tiling = []
    fast = plan_scratch(plan_memory(fast))
    validate_plan(fast)
    assert set(fast.plan.scratch) == eligible
    assert fast.plan.arena_size > report["totals"]["arena_bytes"]


def test_report_timeline_counts_the_columns_scratch(built):
    """The report's memory timeline holds each scratch at its conv's step, so its peak is the arena's."""
    from edgec.reports.layers import memory_section
    from edgec.verification.verify import Built
    out, _, _ = built("resnet")
    q = Built(str(out)).int_graph
    mem = memory_section(q)
    scratch = q.plan.scratch
    assert scratch
    names = {t for b in mem["buffers"] for t in b["tensors"]}
    assert {f"{n} (columns scratch)" for n in scratch} <= names
    without = q.copy()
    without.plan = dataclasses.replace(q.plan, scratch={})
    bare = memory_section(without)["timeline"]
    for s in scratch.values():
        assert mem["timeline"][s["step"]] == bare[s["step"]] + s["size"]
    assert mem["peak_live_bytes"] <= q.plan.arena_size


def _reference_place(order, sizes, life, best_fit=False):
    """The packing as first written: every placed buffer checked against every new one (quadratic)."""
    placed, offsets = [], {}
    for b in order:
        s, (lo, hi) = sizes[b], life[b]
        clashes = sorted((o, sz) for o, sz, a, z in placed if not (z < lo or hi < a))
        gaps, cursor = [], 0
        for o, sz in clashes:
            if o - cursor >= s:
                gaps.append((o - cursor, cursor))
            cursor = max(cursor, (o + sz + 3) // 4 * 4)
        off = (min(gaps)[1] if best_fit else min(g[1] for g in gaps)) if gaps else cursor
        offsets[b] = off
        placed.append((off, s, lo, hi))
    return offsets


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3000), st.integers(0, 120), st.integers(0, 60)), min_size=1, max_size=60))
def test_packing_finds_the_same_places_as_the_quadratic_search(bufs):
    """place_buffers looks only at buffers whose lifetimes can overlap (short ones by their first step, long
    ones always): the offsets are those of checking every placed buffer, for every strategy's order."""
    from edgec.passes.plan_memory import by_breadth, by_size, place_buffers
    sizes = {f"b{i}": s for i, (s, _, _) in enumerate(bufs)}
    life = {f"b{i}": (a, a + d) for i, (_, a, d) in enumerate(bufs)}
    pos = {b: i for i, b in enumerate(sizes)}
    for order in (by_size(list(sizes), sizes, life, pos), by_breadth(list(sizes), sizes, life, pos), sorted(sizes)):
        for best_fit in (False, True):
            assert place_buffers(order, sizes, life, best_fit)[0] == _reference_place(order, sizes, life, best_fit)


def _random_dag(spec):
    """A graph from (size, inputs) pairs: node i reads the graph input or earlier outputs, every
    output nobody reads is concatenated into the graph output."""
    t = {"x": Tensor("x", (1, 4))}
    nodes, read = [], set()
    for i, (size, picks) in enumerate(spec):
        srcs = sorted({(["x"] + [f"t{j}" for j in range(i)])[p % (i + 1)] for p in picks})
        t[f"t{i}"] = Tensor(f"t{i}", (1, size))
        nodes.append(Node("Concat", f"n{i}", srcs, [f"t{i}"], {"axis": 1}))
        read.update(srcs)
    sinks = [f"t{i}" for i in range(len(spec)) if f"t{i}" not in read]
    t["y"] = Tensor("y", (1, sum(t[s].shape[1] for s in sinks)))
    nodes.append(Node("Concat", "out", sinks, ["y"], {"axis": 1}))
    return Graph("g", nodes, t, ["x"], ["y"])


def _best_peak(g):
    """The lowest peak over every topological order (brute force)."""
    prod = {n.outputs[0]: n.name for n in g.nodes}
    preds = {n.name: {prod[i] for i in n.inputs if i in prod} for n in g.nodes}
    by_name = {n.name: n for n in g.nodes}
    best = [None]

    def walk(order, done):
        if len(order) == len(g.nodes):
            h = Graph("g", [by_name[n] for n in order], g.tensors, g.inputs, g.outputs)
            p = peak_live_bytes(h)
            best[0] = p if best[0] is None else min(best[0], p)
            return
        for n in by_name:
            if n not in done and preds[n] <= done:
                walk(order + [n], done | {n})
    walk([], frozenset())
    return best[0]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 64), st.lists(st.integers(0, 50), min_size=1, max_size=2)), min_size=1, max_size=7))
def test_scheduler_is_optimal_on_random_graphs(spec):
    """The order is cut at the nodes every schedule passes alone and each range gets its own exact
    program: the peak is still the lowest over all topological orders."""
    g = _random_dag(spec)
    s = schedule(g)
    assert s.schedule.method == "exact"
    assert peak_live_bytes(s) == s.schedule.peak_live_bytes == _best_peak(g)


def test_scheduler_cuts_a_long_chain_into_blocks():
    """A 3,000-node chain of two-branch blocks (input Transpose, then Conv, Conv, Add, Relu per block):
    each Add and each Relu is a cut, so the exact program runs on ranges of at most 3 nodes and the
    whole order is exact."""
    from edgec.compiler.importers.onnx import OnnxImporter
    from edgec.passes.schedule import predecessors, segments
    from testkit.synthetic import chain_model
    g = OnnxImporter(chain_model(3_000), "chain.onnx").run().toposorted()
    ranges = segments(g, predecessors(g))
    assert len(ranges) == 2 + 2 * 750 and max(b - a + 1 for a, b in ranges) == 3, ranges[:4]
    assert [n.op for n in g.nodes[ranges[1][0]:ranges[1][1] + 1]] == ["Conv2D", "Conv2D", "Add"]
    s = schedule(g)
    assert s.schedule.method == "exact" and peak_live_bytes(s) <= peak_live_bytes(g)
