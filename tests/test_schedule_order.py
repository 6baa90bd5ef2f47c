"""The plan does not depend on the order a file lists the nodes in (issue 18 item 4): the same network
from two exporters plans the same arena.  Here one exporter's file is re-listed in other valid
topological orders (the branches of each block in other orders), as another exporter would write it:
the schedule, the tiled stages and the arena are the same, and the C stays bit-exact on the host.
(When the schedule kept the file's order among equal peaks, two of these orders planned 23,040 B and
the others 20,736 B: the stem's peak tied every order of the reduction block, and which branch ran
first decided whether its expand -> depthwise pair could be tiled.)"""
import warnings

import numpy as np
import onnx
import torch
from torch import nn

from conftest import require
from edgec.driver.build import build, import_model
from edgec.passes.pipeline import canonicalize
from edgec.passes.schedule import schedule, structural_order
from edgec.verification.verify import verify

warnings.filterwarnings("ignore", module="torch")


class Reduction(nn.Module):
    """An Inception-style grid reduction (Szegedy et al. 2016, fig. 10, smaller): three stride-2
    branches -- an inverted bottleneck (1x1 expand, 3x3 depthwise, 1x1 project), a 3x3 conv, a 3x3
    max pool -- concatenated."""

    def __init__(self, c):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(c, 2 * c, 1), nn.ReLU(), nn.Conv2d(2 * c, 2 * c, 3, 2, 1, groups=2 * c),
                                    nn.ReLU(), nn.Conv2d(2 * c, c, 1))
        self.conv = nn.Sequential(nn.Conv2d(c, c, 3, 2, 1), nn.ReLU())
        self.pool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x):
        return torch.cat([self.expand(x), self.conv(x), self.pool(x)], 1)


class Residual(nn.Module):
    """A bottleneck with a projection shortcut (He et al. 2016): 1x1 -> 3x3 -> 1x1 beside a 1x1."""

    def __init__(self, c, out):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c // 2, 1), nn.ReLU(), nn.Conv2d(c // 2, c // 2, 3, 1, 1), nn.ReLU(),
                                  nn.Conv2d(c // 2, out, 1))
        self.short = nn.Conv2d(c, out, 1)

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


def _net():
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), Reduction(16), Residual(48, 32), Reduction(32),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, 10)).eval()


def _relisted(src: str, dst: str, seed: int) -> list:
    """src's nodes in another topological order (a ready node drawn at random each step), saved as dst;
    the node names in the new order."""
    m = onnx.load(src)
    nodes = list(m.graph.node)
    made = {o: i for i, n in enumerate(nodes) for o in n.output}
    preds = [{made[t] for t in n.input if t in made} for n in nodes]
    rng = np.random.default_rng(seed)
    done, order = set(), []
    while len(order) < len(nodes):
        ready = [i for i in range(len(nodes)) if i not in done and preds[i] <= done]
        i = ready[rng.integers(len(ready))]
        done.add(i)
        order.append(i)
    del m.graph.node[:]
    m.graph.node.extend([nodes[i] for i in order])
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    return [nodes[i].name for i in order]


def test_relisting_the_branches_of_a_file_plans_the_same_arena_bit_exact(tmp_path):
    require("cc")
    x = np.random.default_rng(0).uniform(0, 1, (16, 1, 3, 48, 48)).astype(np.float32)
    path = str(tmp_path / "net.onnx")
    torch.onnx.export(_net(), torch.from_numpy(x[0]), path, opset_version=13, dynamo=False)
    np.save(tmp_path / "cal.npy", x[:12])
    np.save(tmp_path / "check.npy", x[12:])
    listed = [[n.name for n in onnx.load(path).graph.node]]
    files = [path]
    for seed in range(4):
        files.append(str(tmp_path / f"relisted{seed}.onnx"))
        listed.append(_relisted(path, files[-1], seed))
    assert len({tuple(names) for names in listed}) == len(listed), "the orders are not all different"
    # the structural order is the same node for node, whichever order the file had
    orders = {tuple(n.name for n in structural_order(canonicalize(import_model(f))).nodes) for f in files}
    assert len(orders) == 1
    reports = []
    for k, f in enumerate(files):
        out = str(tmp_path / f"out{k}")
        reports.append(build(f, "cortex-m4", out, str(tmp_path / "cal.npy")))
        if k in (0, len(files) - 1):
            r = verify(out, "host", str(tmp_path / "check.npy"))
            assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == 4, r
    arenas = {rep["totals"]["arena_bytes"] for rep in reports}
    assert len(arenas) == 1, [rep["totals"]["arena_bytes"] for rep in reports]
    assert len({tuple(layer["name"] for layer in rep["layers"]) for rep in reports}) == 1
    assert all(rep.get("tiling") == reports[0].get("tiling") for rep in reports)
    assert reports[0].get("tiling"), "nothing was tiled: the order would not matter"


def test_structural_order_is_a_topological_order_and_schedule_idempotent(tmp_path):
    """Every node after the producers of its inputs; schedule twice is schedule once."""
    path = str(tmp_path / "net.onnx")
    torch.onnx.export(_net(), torch.zeros(1, 3, 48, 48), path, opset_version=13, dynamo=False)
    g = canonicalize(import_model(path))
    s = structural_order(g)
    assert sorted(n.name for n in s.nodes) == sorted(n.name for n in g.nodes)
    seen = set(s.inputs)
    for n in s.nodes:
        assert all(t in seen or s.tensors[t].is_const for t in n.inputs), n.name
        seen.update(n.outputs)
    once = schedule(g)
    assert [n.name for n in schedule(once).nodes] == [n.name for n in once.nodes]
