"""The facts the generated model.h states (codegen/c.py's template fills them in): the edgec version,
the source file, each edge's scale (as a Q31 multiplier and shift, plus the float as text for people),
zero point, shape and size, and notes on the model file's own edges the C API replaces."""
from __future__ import annotations

import os

from ..compiler import __version__
from ..compiler.data import edge_names
from ..compiler.fixedpoint import quantize_multiplier
from ..compiler.ir import Graph


def header_facts(q: Graph, source: str) -> dict:
    """What model.h says of a build: version, source, edge scales as Q31 multipliers, shapes, edge notes."""
    tin, tout = q.tensors[q.inputs[0]], q.tensors[q.outputs[0]]

    def scale_fields(prefix, t):
        m, s = quantize_multiplier(t.quant.scalar_scale)
        return {f"{prefix}_scale_q31": m, f"{prefix}_scale_shift": s, f"{prefix}_zp": t.quant.scalar_zp,
                f"{prefix}_scale_text": f"{t.quant.scalar_scale:.9g}", f"{prefix}_shape": list(tin.shape if prefix == 'input' else tout.shape),
                f"{prefix}_size": t.size}
    return {"version": __version__, "source": os.path.basename(source),
            "input_layout": q.meta.get("input_layout", "as the model declares it"),
            **scale_fields("input", tin), **scale_fields("output", tout), "edge_notes": edge_notes(q),
            **({"io": io_facts(q)} if len(q.inputs) > 1 or len(q.outputs) > 1 else {})}


def io_facts(q: Graph) -> dict:
    """A model of several inputs or outputs: {"inputs": [...], "outputs": [...]} in the C API's order, each
    {"name" (the model file's), "tensor", "param" (run()'s argument: in_<name> / out_<name>), "macro"
    (<MODEL>_INPUT_<NAME>_...), "shape", "size", "zp", "scale_q31", "scale_shift", "scale_text"}."""
    from .c import c_ident
    taken, out = set(), {}
    for kind, tensors in (("input", q.inputs), ("output", q.outputs)):
        rows = []
        for t, name in zip(tensors, edge_names(q, kind)):
            ident = c_ident(name, 24).lower()
            while ident in taken:                   # unique even where names differ only in case or punctuation
                ident += "_"
            taken.add(ident)
            tq = q.tensors[t].quant
            m, sh = quantize_multiplier(tq.scalar_scale)
            rows.append({"name": name, "comment": "".join(c if c.isprintable() else "?" for c in name).replace("*/", "* /"),
                         "tensor": t, "param": f"{kind[:-3] if kind == 'output' else 'in'}_{ident}",
                         "macro": f"{kind.upper()}_{ident.upper()}", "shape": list(q.tensors[t].shape),
                         "size": q.tensors[t].size, "zp": tq.scalar_zp, "scale_q31": m, "scale_shift": sh,
                         "scale_text": f"{tq.scalar_scale:.9g}"})
        out[f"{kind}s"] = rows
    return out


def edge_notes(q: Graph) -> list:
    """model.h lines on the model file's own edges that the C API replaces (a .tflite's float or uint8 I/O)."""
    notes = []
    if q.meta.get("state_edges"):                   # --state: an output fed back as an input, one quantization
        names = {**dict(zip(q.inputs, edge_names(q, "input"))), **dict(zip(q.outputs, edge_names(q, "output")))}
        notes += [f"State: after each run, copy output {names[o]} into input {names[i]} for the next step (one scale "
                  "and zero point: no requantization)." for i, o in q.meta["state_edges"]]
    for kind, e in sorted(q.meta.get("edges", {}).items()):
        t = q.tensors[q.inputs[0] if kind == "input" else q.outputs[0]]
        if e["file_dtype"] == "uint8":
            notes.append(f"The model file's {kind} is uint8 (zero point {e['file_zero_point']}), and so is the C API's; "
                         f"inside, its value v is int8 (v - 128) (v ^ 0x80), zero point {t.quant.scalar_zp}.")
        elif kind == "input":
            notes.append(f"The model file's input is {e['file_dtype']}: quantize as its QUANTIZE does, "
                         "q = round(x / scale) + zero point (the division in float32), clamped to int8.")
        else:
            notes.append(f"The model file's output is {e['file_dtype']}: its DEQUANTIZE gives real as above.")
    return notes
