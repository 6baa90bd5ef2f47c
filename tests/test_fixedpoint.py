"""The one rounding rule: Python (compiler/fixedpoint.py) and C (runtime_c/edgec_fixedpoint.h) agree
on an edge-case table, and both give the documented values."""
import itertools
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from edgec.compiler import fixedpoint as fp
from conftest import require

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1

# (x, exponent) -> x / 2^exponent rounded half away from zero
RDBP_TABLE = [((5, 1), 3), ((-5, 1), -3), ((3, 1), 2), ((-3, 1), -2), ((1, 1), 1), ((-1, 1), -1),
              ((2, 2), 1), ((-2, 2), -1), ((1, 2), 0), ((-1, 2), 0), ((0, 5), 0), ((7, 0), 7),
              ((I32_MAX, 31), 1), ((I32_MIN, 31), -1), ((I32_MIN, 1), -(1 << 30))]
SRDHM_TABLE = [((I32_MIN, I32_MIN), I32_MAX), ((1 << 30, 1 << 30), 1 << 29), ((I32_MAX, I32_MAX), I32_MAX - 1),
               ((-(1 << 30), 1 << 30), -(1 << 29)), ((1, 1 << 30), 1), ((-1, 1 << 30), 0), ((-3, 1 << 30), -1), ((0, I32_MAX), 0)]
QM_TABLE = [(0.5, (1 << 30, 0)), (1.0, (1 << 30, 1)), (0.25, (1 << 30, -1)), (0.0, (0, 0)), (1e-12, (0, 0))]


@pytest.mark.parametrize("args,want", RDBP_TABLE)
def test_rounding_divide_by_pot_table(args, want):
    assert int(fp.rounding_divide_by_pot(*args)) == want


@pytest.mark.parametrize("args,want", SRDHM_TABLE)
def test_srdhm_table(args, want):
    assert int(fp.saturating_rounding_doubling_high_mul(*args)) == want


@pytest.mark.parametrize("real,want", QM_TABLE)
def test_quantize_multiplier_table(real, want):
    assert fp.quantize_multiplier(real) == want


def test_quantize_multiplier_reconstructs_real():
    for real in np.geomspace(1e-6, 1e3, 200):
        m, s = fp.quantize_multiplier(float(real))
        assert abs(m * 2.0 ** (s - 31) - real) <= real * 2 ** -30


C_DRIVER = r"""
#include <stdio.h>
#include <stdint.h>
#include "edgec_fixedpoint.h"
int main(void) {
    long long a, b, c;
    char op;
    while (scanf(" %c %lld %lld %lld", &op, &a, &b, &c) == 4) {
        if (op == 'r') printf("%ld\n", (long)edgec_rdbp((int32_t)a, (int32_t)b));
        else if (op == 'h') printf("%ld\n", (long)edgec_srdhm((int32_t)a, (int32_t)b));
        else printf("%ld\n", (long)edgec_mbqm((int32_t)a, (int32_t)b, (int32_t)c));
    }
    return 0;
}
"""


def test_c_equals_python_on_edge_grid(tmp_path):
    require("cc")
    runtime = Path(str(resources.files("edgec.runtime_c")))
    (tmp_path / "t.c").write_text(C_DRIVER)
    subprocess.run(["cc", "-std=c99", "-O2", "-I", str(runtime), str(tmp_path / "t.c"), "-o", str(tmp_path / "t")], check=True)
    xs = [I32_MIN, I32_MIN + 1, -(1 << 30), -65536, -129, -3, -2, -1, 0, 1, 2, 3, 127, 65535, 1 << 30, I32_MAX]
    mults = [I32_MIN, -(1 << 30), 0, 1, 1 << 30, 1518500250, I32_MAX]
    lines, want = [], []
    for x, e in itertools.product(xs, range(32)):
        lines.append(f"r {x} {e} 0")
        want.append(int(fp.rounding_divide_by_pot(x, e)))
    for x, m in itertools.product(xs, mults):
        lines.append(f"h {x} {m} 0")
        want.append(int(fp.saturating_rounding_doubling_high_mul(x, m)))
        for s in (-31, -20, -1, 0, 1, 7, 20):
            lines.append(f"m {x} {m} {s}")
            want.append(int(fp.multiply_by_quantized_multiplier(x, m, s)))
    got = subprocess.run([str(tmp_path / "t")], input="\n".join(lines), capture_output=True, text=True, check=True)
    assert [int(v) for v in got.stdout.split()] == want


INT32_MIN, INT32_MAX = fp.INT32_MIN, fp.INT32_MAX


def test_gemmlowp_nudge_equals_the_single_shift_form_of_the_c():
    """The C computes the high multiply as (a*b + 2^30) >> 31 (arithmetic); gemmlowp's sign-dependent
    nudge with truncating division gives the same integer for every product (bar the one saturating
    pair, handled before it in both)."""
    rng = np.random.default_rng(7)
    edges = np.array([INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -(1 << 30) + 1, -2, -1, 0, 1, 2,
                      (1 << 30) - 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX], dtype=np.int64)
    a = np.concatenate([np.repeat(edges, len(edges)), rng.integers(INT32_MIN, INT32_MAX, 200_000, endpoint=True)])
    b = np.concatenate([np.tile(edges, len(edges)), rng.integers(INT32_MIN, INT32_MAX, 200_000, endpoint=True)])
    keep = ~((a == INT32_MIN) & (b == INT32_MIN))
    a, b = a[keep], b[keep]
    single_shift = (a * b + (1 << 30)) >> 31          # python ints in int64: a*b fits (|ab| <= 2^62)
    assert np.array_equal(fp.saturating_rounding_doubling_high_mul(a, b), single_shift)


# (x, Q31 multiplier, shift) -> TFLite's int16x8 MultiplyByQuantizedMultiplier(int64_t x, m, shift):
# a 15-bit multiplier (m + 2^15) >> 16 (0x7FFF from m >= 0x7FFF0000), ties toward +infinity
MBQM64_TABLE = [((1, 1 << 30, 0), 1), ((-1, 1 << 30, 0), 0), ((3, 1 << 30, 0), 2), ((-3, 1 << 30, 0), -1),
                ((100, 1 << 30, 1), 100), ((12345, 0, 0), 0), ((1 << 20, I32_MAX, -31), 0),
                ((1 << 46, I32_MAX, -31), 32767),          # exactly 32767.99998: the 15-bit multiplier loses it
                ((-(1 << 47), 1 << 30, -31), -32768), ((7, 0x7FFF0000, 7), 896),
                ((32768, 0x7FFE7FFF, 0), 32766), ((32768, 0x7FFE8000, 0), 32767), ((32768, I32_MAX, 0), 32767),
                ((-5, 0x40000000, 7), -320), ((1 << 16, 0x60000000, -20), 0), ((1 << 24, 0x60000000, -8), 49152)]


@pytest.mark.parametrize("args,want", MBQM64_TABLE)
def test_multiply_by_quantized_multiplier_int64_table(args, want):
    assert int(fp.multiply_by_quantized_multiplier_int64(*args)) == want


C_DRIVER64 = r"""
#include <stdio.h>
#include <stdint.h>
#include "edgec_fixedpoint.h"
int main(void) {
    long long x, m, s;
    while (scanf(" %lld %lld %lld", &x, &m, &s) == 3)
        printf("%ld\n", (long)edgec_mbqm64((int64_t)x, (int32_t)m, (int32_t)s));
    return 0;
}
"""


def test_c_mbqm64_equals_python_on_edge_grid(tmp_path):
    """edgec_mbqm64 and its twin on every (x, m, shift) of an edge grid over the valid domain
    (|x| < 2^47, 0 <= m, -31 <= shift <= 7), results that overflow int32 included (both wrap), and
    the table above."""
    require("cc")
    runtime = Path(str(resources.files("edgec.runtime_c")))
    (tmp_path / "t.c").write_text(C_DRIVER64)
    subprocess.run(["cc", "-std=c99", "-O2", "-I", str(runtime), str(tmp_path / "t.c"), "-o", str(tmp_path / "t")], check=True)
    xs = [-(1 << 47), -(1 << 47) + 1, -(1 << 40) - 3, -(1 << 31), -32769, -32768, -16385, -3, -2, -1, 0, 1, 2, 3,
          16384, 32767, 1 << 31, (1 << 40) + 5, (1 << 47) - 1]
    mults = [0, 1, 32767, 32768, 1 << 30, 1518500250, 0x7FFE7FFF, 0x7FFE8000, 0x7FFF0000, I32_MAX]
    cases = [(x, m, s) for x, m, s in itertools.product(xs, mults, range(-31, 8))] + [a for a, _ in MBQM64_TABLE]
    got = subprocess.run([str(tmp_path / "t")], input="\n".join(f"{x} {m} {s}" for x, m, s in cases),
                         capture_output=True, text=True, check=True)
    want = [int(fp.multiply_by_quantized_multiplier_int64(x, m, s)) for x, m, s in cases]
    assert [int(v) for v in got.stdout.split()] == want
    assert [int(v) for v in got.stdout.split()][-len(MBQM64_TABLE):] == [w for _, w in MBQM64_TABLE]
