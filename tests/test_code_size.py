"""Code size: a firmware carries only the conv loop nests its model calls.

codegen picks each int8 conv's loop nest from its shapes (codegen/c.py, conv_entry: the rule the
run-time dispatchers edgec_conv2d_s8 / edgec_depthwise_conv2d_s8 apply) and calls the nest's own entry
point, so the Cortex-M4 image linked with --gc-sections keeps those nests and drops the others and the
dispatchers (which the model image interpreter still carries: test_image)."""
from __future__ import annotations

import os
import re
import subprocess

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np

from edgec.driver.build import build
from edgec.passes.plan_wide import CODE_RESERVE
from edgec.compiler.targets import get_target
from edgec.verification.toolchain import compile_objects, harness_file, link, sources_for
from edgec.verification.verify import verify
from conftest import require

#: the loop nest (its symbol in the linked image) each entry point runs, on a variant with the 3x3 lines
#: (Armv7E-M) and on one without them
NEST = {"edgec_conv2d_pointwise_s8": "edgec_conv_pointwise", "edgec_conv2d_rows_s8": "edgec_conv_rows",
        "edgec_conv2d_patch_s8": "edgec_conv_patch", "edgec_conv2d_taps_s8": "edgec_conv_taps",
        "edgec_conv2d_cols_s8": "edgec_conv2d_cols_s8", "edgec_depthwise_conv2d_quads_s8": "edgec_dw_quads"}
LINES = {True: "edgec_dw_rows3", False: "edgec_dw_quads"}
#: the same for the depthwise channel planes' entry (edgec_dw_planes on Armv7E-M)
PLANES = {True: "edgec_dw_planes", False: "edgec_dw_quads"}
DISPATCHERS = {"edgec_conv2d_s8", "edgec_depthwise_conv2d_s8"}


def _ds_cnn(path):
    """A small DS-CNN of another shape than MLPerf's KWS: a 5x3 stride-2 first conv over one channel, a
    3x3 depthwise over a 14-wide plane of 6 channels (the 3x3 lines on Armv7E-M), a pointwise conv, a 3x3
    depthwise over 12 channels (the channel planes on Armv7E-M), a 3x3 stride-2 conv over 12 channels,
    average pool, dense."""
    import keras
    m = keras.Sequential([
        keras.Input((30, 28, 1)),
        keras.layers.Conv2D(6, (5, 3), strides=2, padding="same", activation="relu"),
        keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        keras.layers.Conv2D(12, 1, activation="relu"),
        keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        keras.layers.AveragePooling2D((8, 7)),
        keras.layers.Flatten(),
        keras.layers.Dense(5),
    ])
    rng = np.random.default_rng(3)
    m.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in m.get_weights()])
    m.save(str(path))
    return rng.normal(0, 1, (24, 30, 28, 1)).astype(np.float32)


def _linked_symbols(target, out, work):
    """The defined symbols of `out`'s model linked for `target` with its harness (--gc-sections), each
    kernel variant swapped for the target's as verify does."""
    work.mkdir(parents=True, exist_ok=True)
    src = sources_for(target, out, work)                    # each kernel variant swapped as verify swaps them
    run = next(l.split("(")[0].split()[-1] for l in (out / "model.h").read_text().splitlines() if l.startswith("int ") and "_run(" in l)
    defines = (f"EDGEC_RUN={run}", "EDGEC_IN_BYTES=1", "EDGEC_OUT_BYTES=1")
    hd = harness_file("semihost.h").parent
    objs = compile_objects(target, sorted(src.glob("*.c")), work, defines, [src, hd])
    objs += compile_objects(target, [harness_file(target.harness_main), harness_file(target.startup)], work, defines, [src, hd])
    nm = subprocess.run([target.nm, "--defined-only", str(link(target, objs, work))], capture_output=True, text=True, check=True)
    return {p[2] for p in (l.split() for l in nm.stdout.splitlines()) if len(p) == 3}


def test_cortex_m4_links_only_the_conv_nests_its_model_calls(tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    xs = _ds_cnn(tmp_path / "ds.keras")
    np.save(tmp_path / "calib.npy", xs[:16])
    np.save(tmp_path / "x.npy", xs[16:])
    out = tmp_path / "out"
    # int8 weights only (no flash beyond the code reserve for plan_wide's int16 copies): the int8 nests
    build(str(tmp_path / "ds.keras"), "cortex-m4", str(out), str(tmp_path / "calib.npy"), flash=CODE_RESERVE)
    model_c = (out / "model.c").read_text()
    called = set(re.findall(r"\b(edgec_(?:conv2d|depthwise_conv2d)(?:_\w+)?_s8)\(", model_c))
    assert {"edgec_depthwise_conv2d_lines_s8", "edgec_depthwise_conv2d_planes_s8", "edgec_conv2d_pointwise_s8"} <= called, called
    assert not called & DISPATCHERS, called
    everything = set(NEST.values()) | set(LINES.values()) | set(PLANES.values()) | DISPATCHERS
    for target, lines in (("cortex-m4", True), ("cortex-m0", False)):     # the M0 variant has no 3x3 lines
        r = verify(str(out), target, str(tmp_path / "x.npy"))
        assert r["bit_exact"], target
        want = {NEST.get(e) or (PLANES if e.endswith("planes_s8") else LINES)[lines] for e in called}
        assert len(want) >= 3, want
        linked = _linked_symbols(get_target(target), out, tmp_path / target) & everything
        assert linked == want, (target, linked, want)


def test_cortex_m4_links_only_the_wide_gathers_its_model_calls(tmp_path):
    """A model whose wide convs are a first layer's 3x3 over 3 channels and a pointwise conv calls their own
    entry points (codegen/c.py, wide_entry), not the run-time dispatcher, and its firmware carries the
    3x9-run windows' entry with its byte-staging gather for the padded windows, but neither the plain wide1
    entry nor the four-at-a-time gather (edgec_conv2d_wide_s8.c); bit-exact in QEMU."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    import keras
    m = keras.Sequential([keras.Input((13, 11, 3)),
                          keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
                          keras.layers.Conv2D(12, 1, activation="relu"),
                          keras.layers.Flatten(), keras.layers.Dense(4)])
    rng = np.random.default_rng(5)
    m.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in m.get_weights()])
    m.save(str(tmp_path / "fl.keras"))
    xs = rng.normal(0, 1, (20, 13, 11, 3)).astype(np.float32)
    np.save(tmp_path / "calib.npy", xs[:16])
    np.save(tmp_path / "x.npy", xs[16:])
    out = tmp_path / "out"
    build(str(tmp_path / "fl.keras"), "cortex-m4", str(out), str(tmp_path / "calib.npy"), optimize="speed")     # every layer widened
    called = set(re.findall(r"\b(edgec_conv2d_wide\w*_s8)\(", (out / "model.c").read_text()))
    assert called == {"edgec_conv2d_wide3x9_s8", "edgec_conv2d_wide_pw_s8"}, called
    r = verify(str(out), "cortex-m4", str(tmp_path / "x.npy"))
    assert r["bit_exact"]
    linked = _linked_symbols(get_target("cortex-m4"), out, tmp_path / "m4")
    assert {"edgec_wide_gather1", "edgec_conv2d_wide3x9_s8", "edgec_conv2d_wide_pw_s8"} <= linked, linked
    assert not linked & {"edgec_wide_gather4", "edgec_conv2d_wide4_s8", "edgec_conv2d_wide1_s8", "edgec_conv2d_wide_s8"}, linked


def test_alike_stages_and_layers_share_row_tables_and_parameter_structs(tmp_path):
    """A DS-CNN of three depthwise+pointwise blocks over a 15x8 plane of 24 channels runs each pair as a
    patch-based stage (passes/tile.py), every other one bottom up: the stages whose bands are the same
    read one row table in flash (codegen/c.py, _stage_loop), the three depthwise convs (same shapes,
    zero points, activation) one parameter struct and the three pointwise convs another (_Emitter.param),
    and the build stays bit-exact on the host and in QEMU (KWS's model image runs its shared tables and
    structs: test_image)."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    import keras
    from edgec.verification.verify import Built
    L = keras.layers
    x = keras.Input((30, 8, 1))
    h = L.Conv2D(24, (5, 3), strides=(2, 1), padding="same", activation="relu")(x)
    for _ in range(3):
        h = L.DepthwiseConv2D(3, padding="same", activation="relu")(h)
        h = L.Conv2D(24, 1, activation="relu")(h)
    m = keras.Model(x, L.Dense(6)(L.GlobalAveragePooling2D()(h)))
    rng = np.random.default_rng(1)
    m.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in m.get_weights()])
    m.save(str(tmp_path / "ds.keras"))
    xs = rng.normal(0, 1, (20, 30, 8, 1)).astype(np.float32)
    np.save(tmp_path / "calib.npy", xs[:16])
    np.save(tmp_path / "x.npy", xs[16:])
    out = tmp_path / "out"
    build(str(tmp_path / "ds.keras"), "cortex-m4", str(out), str(tmp_path / "calib.npy"))
    stages = Built(str(out)).int_graph.tiling
    distinct = {repr(st["bands"][::-1] if st.get("reverse") else st["bands"]) for st in stages}
    assert len(stages) == 3 and len(distinct) == 2, stages
    tables = re.findall(r"int32_t (\w+_rows)\[", (out / "weights.c").read_text())
    used = re.findall(r"\*r = (\w+_rows) \+", (out / "model.c").read_text())
    assert len(tables) == 2 and len(used) == 3 and set(used) == set(tables), (tables, used)
    model_c = (out / "model.c").read_text()
    structs = re.findall(r"edgec_conv2d_params (p_\w+) = ", model_c)
    calls = re.findall(r"edgec_(?:depthwise_)?conv2d\w*_s8\(&(p_\w+),", model_c)
    assert len(structs) == 3 and len(calls) == 7 and set(calls) == set(structs), (structs, calls)   # first conv, dw, pw
    for target in ("host", "cortex-m4"):
        assert verify(str(out), target, str(tmp_path / "x.npy"))["bit_exact"], target
