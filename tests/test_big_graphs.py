"""Any size: a 3,000-node ONNX graph (testkit/synthetic.py) imports, builds and runs bit-exact on the
host.  Timing is measured by bench/big_graph.py, not asserted here."""
import numpy as np
import onnx

from edgec.driver.build import build
from edgec.passes.plan_memory import validate_plan
from edgec.verification.verify import Built, verify
from testkit.synthetic import chain_model
from conftest import require


def test_a_3000_node_graph_builds_and_is_bit_exact_on_the_host(tmp_path):
    require("cc")
    model = chain_model(3_000)
    assert len(model.graph.node) == 3_000
    onnx.save(model, tmp_path / "chain.onnx")
    x = np.random.default_rng(0).uniform(0, 1, (6, 1, 8, 8, 8)).astype(np.float32)
    np.save(tmp_path / "calib.npy", x[:4])
    np.save(tmp_path / "inputs.npy", x[4:])
    report = build(str(tmp_path / "chain.onnx"), "cortex-m4", str(tmp_path / "out"), str(tmp_path / "calib.npy"),
                   flash="8M")
    convs = [l for l in report["layers"] if l["op"] == "Conv2D"]
    assert len(convs) == 1_500 and len(report["layers"]) >= 2_250
    built = Built(str(tmp_path / "out"))
    validate_plan(built.int_graph)
    assert built.int_graph.schedule.method == "exact"
    # 1,500 convs are past plan_scratch's re-planning work: their scratch went into the plan's gaps
    assert 0 < len(built.int_graph.plan.scratch) < 1_500
    r = verify(str(tmp_path / "out"), "host", str(tmp_path / "inputs.npy"))
    assert r["bit_exact"] and r["samples"] == 2, r
    assert r["float_agreement"]["sqnr_db"] > 20, r["float_agreement"]


def test_tiling_a_long_plain_chain_plans_within_its_budget(monkeypatch):
    """On 2,400 conv+ReLU nodes (1,200 convs with ReLU fused) the candidate stages around the peak outnumber the plans a round may
    make (tile.PLAN_WORK / nodes, at least MIN_PLANNED): only the budget is planned, the pass still
    ends with a valid plan, and a stage is kept only when it lowers the arena."""
    from edgec.compiler.calibrate import calibrate
    from edgec.compiler.importers.onnx import OnnxImporter
    from edgec.passes import tile as tile_pass
    from edgec.passes.plan_memory import plan_memory
    from edgec.passes.schedule import schedule
    from edgec.passes.pipeline import canonicalize, quantize
    g = canonicalize(OnnxImporter(chain_model(2_400, size=16, branches=1), "plain.onnx").run())
    x = np.random.default_rng(0).uniform(0, 1, (2, 1, 8, 16, 16)).astype(np.float32)
    q = schedule(quantize(calibrate(g, x)))
    rounds = []                                     # candidate plans per round (a round starts at its peak)
    real_peak, real_plan = tile_pass._peak, tile_pass._candidate_plan
    monkeypatch.setattr(tile_pass, "_peak", lambda gr, st: rounds.append(0) or real_peak(gr, st))
    monkeypatch.setattr(tile_pass, "_candidate_plan",
                        lambda gr, st: rounds.__setitem__(-1, rounds[-1] + 1) or real_plan(gr, st))
    t = tile_pass.tile(q)
    budget = max(tile_pass.MIN_PLANNED, tile_pass.PLAN_WORK // len(q.nodes))
    assert len(q.nodes) >= 1_000 and budget < 20
    assert rounds and rounds[0] > 0 and all(n <= budget for n in rounds), (rounds, budget)
    p = plan_memory(t)
    validate_plan(p)
    if t.tiling:
        assert p.plan.arena_size < plan_memory(q).plan.arena_size
