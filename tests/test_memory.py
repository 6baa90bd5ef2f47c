"""Scheduling and memory planning: optimal order on hand-checked graphs, never worse than
topological order on real models, valid plans on random lifetimes, aliasing and in-place execution."""
import numpy as np
from hypothesis import given, settings, strategies as st

from edgec.ir import Graph, Node, Tensor
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
    assert peak_live_bytes(s) == 1000 + 12 == s.meta["schedule"]["peak_live_bytes"]
    assert s.meta["schedule"]["method"] == "exact"
    assert [n.name for n in schedule(s).nodes] == [n.name for n in s.nodes]      # idempotent


def test_scheduler_never_worse_than_topological_on_real_models():
    from edgec.build import import_model
    from edgec.pipeline import canonicalize
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
    for strategy in STRATEGIES.values():
        offsets, arena = strategy(names, sizes, life)
        assert arena >= lower
        for i, a in enumerate(names):
            assert offsets[a] % 4 == 0 and offsets[a] + sizes[a] <= arena
            for b in names[i + 1:]:
                overlap_time = not (life[a][1] < life[b][0] or life[b][1] < life[a][0])
                apart = offsets[a] + sizes[a] <= offsets[b] or offsets[b] + sizes[b] <= offsets[a]
                assert not overlap_time or apart


def test_aliases_and_in_place_in_real_plans(built):
    _, _, report = built("resnet")
    from edgec.verify import Built
    out, _, _ = built("resnet")
    q = Built(str(out)).int_graph
    validate_plan(q)
    bufs = q.meta["plan"]["buffers"]
    adds = [n for n in q.nodes if n.op == "Add"]
    assert adds and all(bufs[n.outputs[0]]["root"] in {bufs[i]["root"] for i in n.inputs} for n in adds)
    reshapes = [n for n in q.nodes if n.op == "Reshape"]
    assert all(bufs[n.outputs[0]]["root"] == bufs[n.inputs[0]]["root"] or bufs[n.outputs[0]]["where"] == "output"
               for n in reshapes)
