"""Rungs 2–5 on the seven real models: build for cortex-m4 with real calibration data, then the C on
the host and in QEMU (mps2-an386) equals the integer reference bit for bit, references no soft-float
helper, and keeps the float model's accuracy."""
import numpy as np
import pytest

from edgec.verification.verify import verify, run
from conftest import CASES, data, require


@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_exact_on_host_and_cortex_m4(built, name):
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    out, inputs, report = built(name)
    assert len(np.load(inputs)) >= 21
    for target in ("host", "cortex-m4"):
        r = verify(str(out), target, str(inputs))
        assert r["bit_exact"], r
        assert r["mismatches"] == 0 and r["samples"] == len(np.load(inputs))
    assert r["float_helpers"] == []
    assert r["instructions_per_inference"] > report["totals"]["macs"] // 2   # every MAC executes (SMLAD: two an instruction)
    assert report["totals"]["arena_bytes"] <= 256 * 1024


def test_digits_cnn_int8_accuracy(built):
    out, _, _ = built("digits_cnn")
    x = data("digits_X_test_float_0to1_x64.npy")
    y = data("digits_y_test.npy")
    np.save(out.parent / "test.npy", x)
    logits, _ = run(str(out), "host", str(out.parent / "test.npy"))
    acc = float((logits.reshape(len(x), -1).argmax(1) == y).mean())
    assert acc >= 0.98, acc


@pytest.mark.parametrize("name", ["kws", "resnet", "vww"])
def test_mlperf_top1_agrees_with_float_on_shared_inputs(built, name):
    out, inputs, _ = built(name)
    real = {"kws": 1, "resnet": 4, "vww": 4}[name]
    np.save(out.parent / "real.npy", np.load(inputs)[:real])
    r = verify(str(out), "host", str(out.parent / "real.npy"))
    assert r["float_agreement"]["top1_agreement"] == 1.0, r


def test_ad01_reconstruction_mse_within_10_percent_of_float(built):
    from edgec.compiler import reference
    from edgec.verification.verify import Built
    out, _, _ = built("ad01")
    x = data("ad_inputs_float_x640.npy")
    np.save(out.parent / "frames.npy", x)
    recon, _ = run(str(out), "host", str(out.parent / "frames.npy"))
    float_recon = reference.run_batch(Built(str(out)).float_graph, x[:, None]).reshape(x.shape)
    mse_int = float(((recon.reshape(x.shape) - x) ** 2).mean())
    mse_float = float(((float_recon - x) ** 2).mean())
    assert mse_int <= 1.10 * mse_float, (mse_int, mse_float)


@pytest.mark.parametrize("target,models", [("cortex-m0", ["digits_cnn", "mnist"]), ("cortex-m3", ["digits_cnn", "kws"]),
                                           ("cortex-m7", ["digits_cnn", "vww"]), ("rv32imc", ["digits_cnn", "mnist"])])
def test_every_emulated_target_is_bit_exact_on_two_real_models(built, target, models):
    from edgec.compiler.targets import get_target
    t = get_target(target)
    require(t.cc, t.emulator[0])
    for name in models:
        out, inputs, _ = built(name)
        r = verify(str(out), target, str(inputs))
        assert r["bit_exact"] and r["float_helpers"] == [], r
        assert r["instructions_per_inference"] > 0
        # the stack the emulator saw (painted and scanned) never exceeds the call-graph bound
        assert 0 < r["stack_bytes_measured"] <= r["stack_bytes_bound"], r


def test_model_too_big_for_target_is_refused_with_sizes(built):
    from edgec.compiler.errors import TargetError
    out, inputs, _ = built("vww")
    with pytest.raises(TargetError, match="does not fit cortex-m0"):
        verify(str(out), "cortex-m0", str(inputs))


def test_per_layer_profile_adds_up_and_is_deterministic(built):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    out, inputs, report = built("kws")
    first = verify(str(out), "cortex-m4", str(inputs))
    again = verify(str(out), "cortex-m4", str(inputs))
    layers = first["layers"]
    assert [l["index"] for l in layers] == [l["index"] for l in report["layers"]]
    total = sum(l["instructions"] for l in layers)
    assert 0.99 * first["instructions_per_inference"] <= total <= first["instructions_per_inference"]
    assert all(l["instructions"] > 0 for l in layers if l["op"] == "Conv2D")
    assert first["instructions_per_inference"] == again["instructions_per_inference"] and layers == again["layers"]
    # the cycle estimate (TRM cost tables over the same profile): at least one cycle per instruction,
    # layers that add up to the total, identical on a second run
    assert first["cycles_kind"] == "estimated" and first["cycles_per_inference"] >= first["instructions_per_inference"]
    assert 0.99 * first["cycles_per_inference"] <= sum(l["cycles"] for l in layers) <= first["cycles_per_inference"]
    assert all(l["cycles"] >= l["instructions"] for l in layers)
    assert first["cycles_per_inference"] == again["cycles_per_inference"]


def test_cycle_estimates_differ_by_core_as_their_tables_do(built, tmp_path):
    """The same portable C on M3 and M4: M4's single-cycle long multiplies make it cheaper per
    instruction; the M0 (no pipelined loads, fewer registers) needs more cycles than either."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    from edgec.driver.build import build
    from edgec.passes.plan_wide import CODE_RESERVE
    _, inputs, _ = built("digits_mlp")
    out = tmp_path / "out"           # no flash for wide weights: the M4 runs the same loops as the M3
    build(CASES["digits_mlp"].path, "cortex-m4", str(out), str(inputs), flash=CODE_RESERVE)
    r = {t: verify(str(out), t, str(inputs)) for t in ("cortex-m0", "cortex-m3", "cortex-m4")}
    cpi = {t: v["cycles_per_inference"] / v["instructions_per_inference"] for t, v in r.items()}
    assert all(v["bit_exact"] and v["cycles_kind"] == "estimated" for v in r.values())
    assert cpi["cortex-m4"] < cpi["cortex-m3"], cpi
    assert r["cortex-m0"]["cycles_per_inference"] > r["cortex-m3"]["cycles_per_inference"], r


@pytest.fixture(scope="module")
def built_avr(tmp_path_factory):
    """The ATmega328P models of the issue, built for atmega328p (2 KB RAM / 32 KB flash budget)."""
    from edgec.driver.build import build
    made = {}

    def get(name):
        if name not in made:
            case = CASES[name]
            d = tmp_path_factory.mktemp(f"avr_{name}")
            np.save(d / "calib.npy", case.calibration())
            np.save(d / "inputs.npy", case.inputs()[:12])       # ~0.2-4 M cycles each in simavr
            made[name] = (d / "out", d / "inputs.npy", build(case.path, "atmega328p", str(d / "out"), str(d / "calib.npy")))
        return made[name]
    return get


@pytest.mark.parametrize("name", ["mnist", "digits_mlp", "digits_cnn"])
def test_atmega328p_models_fit_and_are_bit_exact_in_simavr_with_exact_cycles(built_avr, name):
    require("avr-gcc")
    out, inputs, report = built_avr(name)
    assert report["totals"]["arena_bytes"] < 2048
    first = verify(str(out), "atmega328p", str(inputs))
    again = verify(str(out), "atmega328p", str(inputs))
    assert first["bit_exact"] and first["samples"] == 12, first
    assert first["code_and_weights_bytes"] < 32 * 1024
    assert first["cycles_kind"] == "exact" and first["cycles_per_inference"] > first["instructions_per_inference"]
    assert 0 < first["stack_bytes_measured"] <= first["stack_bytes_bound"], first   # simavr tracks SP exactly
    layers = first["layers"]
    assert 0.99 * first["cycles_per_inference"] <= sum(l["cycles"] for l in layers) <= first["cycles_per_inference"]
    assert all(l["cycles"] > 0 for l in layers if l["macs"])
    assert (first["cycles_per_inference"], layers) == (again["cycles_per_inference"], again["layers"])   # deterministic
    # the measured costs are kept in report.json and shown by `edgec report` (table and HTML)
    import json
    from edgec.reports.layers import format_table
    from edgec.reports.html import write_html
    rep = json.loads((out / "report.json").read_text())
    assert rep["profiles"]["atmega328p"]["cycles_per_inference"] == first["cycles_per_inference"]
    table = format_table(rep)
    assert "atmega328p cycles" in table and f"{layers[0]['cycles']:,}" in table
    write_html(rep, str(out.parent / "report.html"))
    assert f"{layers[0]['cycles']:,}" in (out.parent / "report.html").read_text()


def test_atmega328p_refuses_a_model_whose_ram_does_not_fit(built):
    from edgec.compiler.errors import TargetError
    out, inputs, _ = built("kws")
    with pytest.raises(TargetError, match="does not fit atmega328p"):
        verify(str(out), "atmega328p", str(inputs))


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_c_runs_clean_under_ubsan_and_asan(built, name):
    """Signed overflow, out-of-bounds or misaligned access, shifts past the width: any of them stops
    the sanitized host run (and would break bit-exactness between compilers)."""
    require("cc")
    out, inputs, _ = built(name)
    r = verify(str(out), "host", str(inputs), sanitize=True)
    assert r["bit_exact"] and r["sanitized"], r


def test_sanitizers_catch_an_out_of_bounds_write(built, tmp_path):
    """The sanitized run is not a formality: shrink the arena of a real build and ASan stops it."""
    import re
    import shutil
    from edgec.compiler.errors import ToolchainError
    out, inputs, _ = built("digits_mlp")
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    model_c = (broken / "model.c").read_text()
    (broken / "model.c").write_text(re.sub(r"(static int32_t \w+_arena)\[[^;]*\];", r"\1[1];", model_c))
    with pytest.raises(ToolchainError, match="AddressSanitizer"):
        verify(str(broken), "host", str(inputs), sanitize=True)
