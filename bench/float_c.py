"""The soft-float baseline: the same model rendered as plain float C, to measure what integer-only
code buys on cores without an FPU (built with the target's flags, so `float` arithmetic becomes
libgcc's soft-float calls).  For benchmarking only: edgec never ships float code.

`render(built)` turns a build's float graph (the canonical graph, before quantization) into a
directory of C; `run(target, built, xs)` compiles it with the verification harness, runs it in the
target's emulator and returns (outputs, cost) like `edgec verify`."""
from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from edgec.compiler.targets import Target
from edgec.verification.toolchain import execute

HERE = Path(__file__).resolve().parent
BIG = 3.4e38


def _f(v) -> str:
    v = float(np.clip(v, -BIG, BIG))
    text = f"{v:.9g}"
    return text + ("f" if any(ch in text for ch in ".e") else ".0f")


def _act(node):
    lo, hi = node.attrs.get("act") or (-np.inf, np.inf)
    return _f(lo), _f(hi)


def _liveness_offsets(g) -> tuple[dict, int]:
    """Float offsets of every activation tensor in one arena: first fit over the node order,
    Reshape outputs aliasing their input (row-major data is unchanged)."""
    root = {}
    for n in g.nodes:
        if n.op == "Reshape":
            root[n.outputs[0]] = root.get(n.inputs[0], n.inputs[0])
    last = {}
    for i, n in enumerate(g.nodes):
        for t in n.inputs:
            last[root.get(t, t)] = i
    for t in g.outputs:
        last[root.get(t, t)] = len(g.nodes)
    live, offsets, top = [], {}, 0
    for t in [g.inputs[0]] + [n.outputs[0] for n in g.nodes]:
        if t in root:
            continue
        i = next((k for k, n in enumerate(g.nodes) if t in n.outputs), -1)
        live = [(o, s, e) for o, s, e in live if e >= i]             # free what died before this node
        size = g.tensors[t].size
        off = 0
        for o, s, _ in sorted(live):
            if off + size <= o:
                break
            off = max(off, o + s)
        live.append((off, size, last.get(t, i)))
        offsets[t] = off
        top = max(top, off + size)
    for t, r in root.items():
        offsets[t] = offsets[r]
    return offsets, top


def render(built, out_dir: Path) -> tuple[int, int]:
    """Write model.c/model.h and the float kernels to out_dir; returns (input floats, output floats)."""
    g = built.float_graph
    offsets, arena = _liveness_offsets(g)
    arrays, params, calls = [], [], []

    def const(t):
        name = f"w{len(arrays)}"
        vals = ", ".join(_f(v) for v in g.tensors[t].data.reshape(-1))
        arrays.append(f"static const EDGEC_ROM float {name}[{g.tensors[t].size}] = {{{vals}}};")
        return name

    def buf(t):
        return f"arena + {offsets[t]}"

    for i, n in enumerate(g.nodes):
        x, y = n.inputs[0], n.outputs[0]
        ish, osh = g.tensors[x].shape, g.tensors[y].shape
        if n.op == "Reshape":
            continue
        if n.op == "Conv2D":
            a, wsh = n.attrs, g.tensors[n.inputs[1]].shape
            lo, hi = _act(n)
            params.append(f"static const EDGEC_ROM f32_conv_params p{i} = {{{ish[1]}, {ish[2]}, {ish[3]}, {osh[1]}, {osh[2]}, {osh[3]}, "
                          f"{wsh[1]}, {wsh[2]}, {a['strides'][0]}, {a['strides'][1]}, {a['dilations'][0]}, {a['dilations'][1]}, "
                          f"{a['pads'][0]}, {a['pads'][1]}, {a['groups']}, {lo}, {hi}}};")
            calls.append(f"f32_conv2d(&p{i}, {buf(x)}, {const(n.inputs[1])}, {const(n.inputs[2])}, {buf(y)});")
        elif n.op == "FullyConnected":
            lo, hi = _act(n)
            calls.append(f"f32_fully_connected({ish[1]}, {osh[1]}, {buf(x)}, {const(n.inputs[1])}, {const(n.inputs[2])}, "
                         f"{lo}, {hi}, {buf(y)});")
        elif n.op in ("MaxPool2D", "AvgPool2D"):
            a = n.attrs
            lo, hi = _act(n)
            params.append(f"static const EDGEC_ROM f32_pool_params p{i} = {{{ish[1]}, {ish[2]}, {ish[3]}, {osh[1]}, {osh[2]}, "
                          f"{a['kernel'][0]}, {a['kernel'][1]}, {a['strides'][0]}, {a['strides'][1]}, {a['pads'][0]}, "
                          f"{a['pads'][1]}, {int(n.op == 'MaxPool2D')}, {lo}, {hi}}};")
            calls.append(f"f32_pool(&p{i}, {buf(x)}, {buf(y)});")
        elif n.op == "Add" and g.tensors[n.inputs[1]].shape == ish:
            lo, hi = _act(n)
            calls.append(f"f32_add({g.tensors[y].size}, {buf(x)}, {buf(n.inputs[1])}, {lo}, {hi}, {buf(y)});")
        elif n.op == "Softmax":
            calls.append(f"f32_softmax({g.tensors[y].size // osh[-1]}, {osh[-1]}, {buf(x)}, {buf(y)});")
        else:
            raise NotImplementedError(f"soft-float baseline: no float kernel for {n.op} (node {n.name})")
    n_in, n_out = g.tensors[g.inputs[0]].size, g.tensors[g.outputs[0]].size
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.h").write_text('#include <stdint.h>\nint float_model_run(const int8_t *in, int8_t *out);\n')
    body = "\n    ".join(calls)
    (out_dir / "model.c").write_text(f"""/* soft-float baseline of {built.report['model']} (bench only) */
#include <stdint.h>
#include "model.h"
#include "float_kernels.h"

{chr(10).join(arrays)}
{chr(10).join(params)}
static float arena[{arena}];

int float_model_run(const int8_t *input, int8_t *output)
{{
    __builtin_memcpy(arena + {offsets[g.inputs[0]]}, input, {4 * n_in});
    {body}
    __builtin_memcpy(output, arena + {offsets[g.outputs[0]]}, {4 * n_out});
    return 0;
}}
""")
    for f in ("float_kernels.c", "float_kernels.h"):
        shutil.copy(HERE / f, out_dir / f)
    (out_dir / "edgec_target.h").write_bytes(resources.files("edgec.runtime_c").joinpath("edgec_target.h").read_bytes())
    return n_in, n_out


def run(target: Target, built, xs: np.ndarray):
    """(float outputs, Execution) of the soft-float rendering on `target`."""
    with tempfile.TemporaryDirectory(prefix="edgec-float-") as tmp:
        src = Path(tmp) / "src"
        n_in, n_out = render(built, src)
        work = Path(tmp) / "work"
        work.mkdir()
        ex = execute(target, src, "float_model", 4 * n_in, 4 * n_out, xs.astype("<f4").tobytes(), work)
    return np.frombuffer(ex.outputs, "<f4").reshape(len(xs), n_out), ex
