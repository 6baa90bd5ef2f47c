"""Weights a model uses more than once are stored once (issue 18, item 6): codegen/c.py shares identical
constant arrays in weights.c, the report's flash total and the --flash check count them once, and
passes/tie_ranges.py gives the corresponding activations of the repeated nodes one calibrated range, so
that their multipliers, folded biases and tables are identical too and shared as well.

Three models of the class: Keras 3's ONNX export of an LSTM keyword model, which unrolls the 49 steps
(each step's MatMul reads the one recurrent kernel initializer; it was built with 2,028,384 B of
weights against the .keras file's 27,936 B), and a PyTorch CNN that applies one conv block twice and a
deep copy of it (the same weights under another initializer name) a third time: TorchScript's exporter
writes the reused module's weight once, read by two Conv nodes, and the copy as an initializer of its
own with the same values; and a PyTorch Elman RNN written as a loop, which TorchScript unrolls.  The
recurrent exports also project every step's input at once and slice the steps' rows out inside the loop:
passes/slice_fc_rows.py projects each row where it is read, so the projection of all steps is not live in
the arena through the loop."""
import copy
import os
import re

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from edgec.compiler.calibrate import calibrate  # noqa: E402
from edgec.compiler.errors import TargetError  # noqa: E402
from edgec.driver.build import build, import_model  # noqa: E402
from edgec.passes.pipeline import canonicalize  # noqa: E402
from edgec.passes.tie_ranges import tie_classes, tie_ranges  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402
from conftest import canonical_before, check_float_pass, data, extra  # noqa: E402

SIZES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "int64_t": 8}


def weights_arrays(out) -> list:
    """(C type, name, elements text) of every array in weights.c."""
    text = (out / "weights.c").read_text()
    return re.findall(r"const (?:EDGEC_ROM )?(\w+) (\w+)\[\d+\] = \{(.*?)\};", text, re.S)


def assert_each_array_once(out):
    arrays = weights_arrays(out)
    contents = [(c, re.sub(r"\s+", "", v)) for c, _, v in arrays]
    assert len(set(contents)) == len(contents), "weights.c holds two arrays of the same type and values"


def test_keras_lstm_onnx_export_stores_its_kernels_once(tmp_path):
    """Built for cortex-m7 with --ram 512K --flash 2M like the zoo (bench/zoo_table.py lstm_kws): the
    export's weights, which were 72x the .keras build's, are now within 1.3x of them apart from the
    wide (int16) copies plan_wide adds for speed; the C is bit-exact on the host."""
    import keras
    keras.utils.set_random_seed(7)
    i = keras.Input((49, 10), batch_size=1)
    model = keras.Model(i, keras.layers.Dense(12)(keras.layers.LSTM(64)(i)))
    x = (np.concatenate([data("kws_input_float_dequant.npy"), extra("kws_shift")]).reshape(-1, 49, 10) / 32).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    model(x[:1])                                             # the export needs a called model
    model.save(tmp_path / "m.keras")
    model.export(str(tmp_path / "m.onnx"), format="onnx", verbose=False)
    reps = {fmt: build(str(tmp_path / f"m.{fmt}"), "cortex-m7", str(tmp_path / fmt), str(tmp_path / "x.npy"),
                       ram="512K", flash="2M")["totals"] for fmt in ("keras", "onnx")}
    onnx_t, keras_t = reps["onnx"], reps["keras"]
    assert onnx_t["layers"] > 400                            # the unrolled loop, not an LSTM op
    assert onnx_t["shared_weight_bytes"] > 1_900_000
    assert onnx_t["weight_bytes"] - onnx_t.get("wide_flash_bytes", 0) <= 1.3 * keras_t["weight_bytes"]
    assert onnx_t["weight_bytes"] <= 2.5 * keras_t["weight_bytes"]
    # each step projects its own input row (passes/slice_fc_rows.py): the [49, 256] projection of all
    # steps is not live through the loop (it was 12,544 of the 13,248 arena bytes)
    assert onnx_t["arena_bytes"] <= 2.5 * keras_t["arena_bytes"]
    assert_each_array_once(tmp_path / "onnx")
    host = verify(str(tmp_path / "onnx"), "host", str(tmp_path / "x.npy"))
    assert host["bit_exact"]
    assert host["float_agreement"]["top1_agreement"] >= 0.95


def twice_model():
    """A small CNN whose middle block is applied twice (one module) and then as a deep copy."""
    import torch
    torch.manual_seed(3)

    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.block = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.copy = copy.deepcopy(self.block)
            self.fc = torch.nn.Linear(8, 5)

        def forward(self, x):
            y = torch.relu(self.stem(x))
            y = torch.relu(self.block(y))
            y = torch.relu(self.block(y))
            y = torch.relu(self.copy(y))
            return self.fc(y.mean(dim=(2, 3)))
    return Twice().eval()


def export_twice(tmp_path):
    import onnx
    import torch
    path = str(tmp_path / "twice.onnx")
    torch.onnx.export(twice_model(), torch.zeros(1, 3, 12, 12), path, opset_version=13, dynamo=False)
    m = onnx.load(path)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    # the exporter's idiom: the reused module's weight is one initializer read twice, the copy its own
    assert len(convs) == 4 and convs[1].input[1] == convs[2].input[1] != convs[3].input[1]
    return path


def test_weights_used_twice_count_once_in_flash_and_stay_bit_exact(tmp_path):
    import torch
    path = export_twice(tmp_path)
    x = np.random.default_rng(0).uniform(-1, 1, (24, 3, 12, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rep = build(path, "cortex-m4", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    t = rep["totals"]
    per_layer = sum(layer["weight_bytes"] for layer in rep["layers"])
    # the block's three uses: its int8 weights (576 B) and, with the ranges tied, its requantization
    # arrays are stored once; the stem and fc are not shared
    assert t["shared_weight_bytes"] >= 2 * 576
    assert t["weight_bytes"] == per_layer - t["shared_weight_bytes"]
    assert_each_array_once(tmp_path / "out")
    arrays = weights_arrays(tmp_path / "out")
    block = [name for _, name, _ in arrays if re.fullmatch(r"edgec_twice_(w|b|m|s|rq)\d+_(block|block_1|copy)_Conv", name)]
    assert block and len({re.sub(r"\d+_.*", "", name) for name in block}) == len(block), block  # each kind once
    host = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert host["bit_exact"]
    with torch.no_grad():
        want = twice_model()(torch.from_numpy(x)).numpy()
    assert host["float_agreement"]["sqnr_db"] > 25, (host["float_agreement"], want.std())


def unrolled_rnn():
    """An Elman RNN written as a loop in PyTorch (what an exporter unrolls): the input projection of all 12
    steps at once, then h = tanh(p[:, t] + rec(h)) step by step, and a linear head."""
    import torch
    torch.manual_seed(5)

    class Unrolled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj, self.rec, self.head = torch.nn.Linear(8, 16), torch.nn.Linear(16, 16, bias=False), torch.nn.Linear(16, 4)

        def forward(self, x):
            p = self.proj(x)
            h = torch.tanh(p[:, 0])
            for t in range(1, 12):
                h = torch.tanh(p[:, t] + self.rec(h))
            return self.head(h)
    return Unrolled().eval()


def export_rnn(tmp_path):
    import onnx
    import torch
    path = str(tmp_path / "rnn.onnx")
    torch.onnx.export(unrolled_rnn(), torch.zeros(1, 12, 8), path, opset_version=13, dynamo=False)
    assert sum(n.op_type == "MatMul" for n in onnx.load(path).graph.node) == 12     # unrolled: 11 steps + the projection
    return path


def test_unrolled_torch_rnn_stores_its_recurrent_weights_once_and_projects_row_by_row(tmp_path):
    path = export_rnn(tmp_path)
    x = np.random.default_rng(0).normal(0, 1, (32, 12, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rep = build(path, "cortex-m4", str(tmp_path / "out"), str(tmp_path / "x.npy"))
    t = rep["totals"]
    per_layer = sum(layer["weight_bytes"] for layer in rep["layers"])
    assert t["weight_bytes"] == per_layer - t["shared_weight_bytes"]
    assert t["weight_bytes"] * 4 < per_layer                # 12 projections and 11 recurrent steps, stored once each
    assert t["arena_bytes"] < 12 * 16                       # not the [12, 16] projection of every step
    # the --flash check counts the shared arrays once: a part that holds them fits, a smaller one does not
    fits = build(path, "cortex-m4", str(tmp_path / "fits"), str(tmp_path / "x.npy"), flash=str(per_layer // 2))
    assert fits["totals"]["weight_bytes"] <= per_layer // 2
    with pytest.raises(TargetError) as refused:
        build(path, "cortex-m4", str(tmp_path / "small"), str(tmp_path / "x.npy"), flash=str(fits["totals"]["weight_bytes"] - 1))
    assert refused.value.facts["flash_needed"] == fits["totals"]["weight_bytes"]
    assert_each_array_once(tmp_path / "out")
    host = verify(str(tmp_path / "out"), "host", str(tmp_path / "x.npy"))
    assert host["bit_exact"]
    assert host["float_agreement"]["sqnr_db"] > 25


def test_slice_fc_rows_before_after(tmp_path):
    """Every row slice of the projection becomes a projection of that input row: the float reference
    gives the same answer; a FullyConnected read whole (the head) is left as it is."""
    from edgec.passes.slice_fc_rows import slice_fc_rows
    g = canonical_before(import_model(export_rnn(tmp_path)), slice_fc_rows)
    xs = list(np.random.default_rng(2).normal(0, 1, (4, 12, 8)).astype(np.float32))
    after = check_float_pass(slice_fc_rows, g, xs)
    fcs = [n for n in after.nodes if n.op == "FullyConnected"]
    assert len(fcs) == len([n for n in g.nodes if n.op == "FullyConnected"]) - 1 + 12
    assert all(after.tensors[n.outputs[0]].shape[0] == 1 for n in fcs)
    assert slice_fc_rows(after) is after


def test_tie_ranges_before_after(tmp_path):
    """The pass changes ranges only: the float reference is the same on both graphs; the tied tensors
    (the block's two inputs and outputs at each use) get one range holding each one's own; a graph
    without repeated weights is returned as it is."""
    g = canonicalize(import_model(export_twice(tmp_path)))
    x = np.random.default_rng(1).uniform(-1, 1, (8, 1, 3, 12, 12)).astype(np.float32)
    cal = calibrate(g, x[:, 0])
    after = check_float_pass(tie_ranges, cal, list(x))
    classes = tie_classes(cal)
    assert classes and all(len(ts) >= 2 for ts in classes)
    for ts in classes:
        lo, hi = after.meta["ranges"][ts[0]]
        for t in ts:
            assert after.meta["ranges"][t] == (lo, hi)
            assert lo <= cal.meta["ranges"][t][0] and cal.meta["ranges"][t][1] <= hi
    assert any(cal.meta["ranges"][t] != after.meta["ranges"][t] for ts in classes for t in ts)
    assert cal.meta["ranges"] != after.meta["ranges"]
    plain = calibrate(canonicalize(import_model(export_plain(tmp_path))), x[:, 0])
    assert tie_ranges(plain) is plain


def export_plain(tmp_path):
    """The same network with three different blocks: nothing to tie."""
    import torch
    m = twice_model()
    torch.manual_seed(4)
    for mod in (m.block, m.copy):
        torch.nn.init.normal_(mod.weight, 0, 0.2)
    m.block2 = torch.nn.Conv2d(8, 8, 3, padding=1)

    class Plain(torch.nn.Module):
        def __init__(self, t):
            super().__init__()
            self.t = t

        def forward(self, x):
            t = self.t
            y = torch.relu(t.stem(x))
            y = torch.relu(t.block(y))
            y = torch.relu(t.block2(y))
            y = torch.relu(t.copy(y))
            return t.fc(y.mean(dim=(2, 3)))
    path = str(tmp_path / "plain.onnx")
    torch.onnx.export(Plain(m).eval(), torch.zeros(1, 3, 12, 12), path, opset_version=13, dynamo=False)
    return path
