"""Per-layer report from a planned integer graph: JSON first, then a table for people."""
from __future__ import annotations


from ..compiler.ir import Graph
from ..compiler.ops.costs import macs, weight_bytes, wide_extra_bytes  # noqa: F401  (the report's names before the registry)
from ..passes.plan_memory import scratch_key


def layer_table(graph: Graph) -> dict:
    plan = graph.plan
    layers = []
    for i, node in enumerate(graph.nodes):
        buf = plan.buffers[node.outputs[0]]
        layers.append({"index": i, "name": node.name, "op": node.op if node.op != "Lut" else f"Lut/{node.attrs['function']}",
                       "output_shape": list(graph.tensors[node.outputs[0]].shape), "macs": macs(graph, node),
                       "weight_bytes": weight_bytes(graph, node), "buffer": buf["where"],
                       "arena_offset": buf["offset"] if buf["where"] == "arena" else None,
                       "arena_size": buf["size"] if buf["where"] == "arena" else None,
                       "band": bool(buf.get("band"))})
    io = sum(graph.tensors[t].nbytes for t in list(graph.inputs) + list(graph.outputs))     # the caller's buffers
    if graph.meta.get("edges", {}).get("input", {}).get("file_dtype") == "uint8":
        io += graph.tensors[graph.inputs[0]].nbytes       # run()'s int8 copy of a uint8 input (codegen/c.py)
    totals = {"macs": sum(l["macs"] for l in layers), "weight_bytes": sum(l["weight_bytes"] for l in layers),
              "arena_bytes": plan.arena_size, "io_bytes": io, "layers": len(layers),
              "plan_strategy": plan.strategy}
    if graph.state:                               # a streaming model's resource variables: static RAM beside the arena
        totals["state_bytes"] = plan.state_size
    if graph.wide:                                # flash traded for speed (passes/plan_wide.py), inside weight_bytes
        totals["wide_layers"] = len(graph.wide.layers)
        totals["wide_flash_bytes"] = int(graph.wide.flash_bytes)
    out = {"layers": layers, "totals": totals, "memory": memory_section(graph)}
    if graph.tiling:                              # what each patch-based stage costs and saves (passes/tile.py)
        out["tiling"] = tiling_section(graph)
    if graph.state:
        out["state"] = [{"variable": s.variable, "tensor": s.tensor, "assigned_from": s.next,
                         "offset": plan.buffers[s.tensor]["offset"], "bytes": plan.buffers[s.tensor]["size"]}
                        for s in graph.state]
    return out


def tiling_section(graph: Graph) -> list:
    """Per tiled stage: its layers, bands and direction, the bytes its output sits below (positive) or
    above (negative) its input when it overwrites it, the estimated extra Cortex-M4 instructions per
    inference, the recomputed MACs, and the arena bytes it saves (the arena without it minus with all)."""
    index = {n.name: i for i, n in enumerate(graph.nodes)}
    bufs = graph.plan.buffers

    def over(st):                                 # the shift, where the plan put the output over the input
        first, last = graph.nodes[index[st["nodes"][0]]], graph.nodes[index[st["nodes"][-1]]]
        return st.get("shift") if bufs[first.inputs[0]]["root"] == bufs[last.outputs[0]]["root"] else None
    return [{"layers": [index[n] for n in st["nodes"]], "bands": st["tiles"], "bottom_up": bool(st.get("reverse")),
             "output_over_input_shift": over(st), "extra_instructions_estimated": st.get("instructions"),
             "extra_macs": st["extra_macs"], "saves_arena_bytes": st.get("saves_bytes")}
            for st in graph.tiling]


def memory_section(graph: Graph) -> dict:
    """The schedule, every arena buffer's place and lifetime, the arena bytes live at each step and
    the step where they peak (with the nodes and tensors that make the peak)."""
    plan = graph.plan
    roots = {}
    for t, b in plan.buffers.items():
        if b["where"] == "arena":
            roots.setdefault(b["root"], {"tensors": [], "offset": b.get("group_offset", b["offset"]),
                                         "size": b.get("group_size", b["size"]),
                                         "first": b["first"], "last": b["last"]})["tensors"].append(t)
    for node, b in plan.scratch.items():           # a conv's columns scratch, live while it runs
        roots[scratch_key(node)] = {"tensors": [f"{node} (columns scratch)"], "offset": b["offset"], "size": b["size"],
                                  "first": b["step"], "last": b["step"]}
    n = len(graph.nodes)
    timeline = [sum(r["size"] for r in roots.values() if r["first"] <= s <= r["last"]) for s in range(n)]
    peak_step = max(range(n), key=lambda s: (timeline[s], -s)) if n else 0
    at_peak = sorted((r for r in roots.values() if n and r["first"] <= peak_step <= r["last"]), key=lambda r: -r["size"])
    return {"schedule": [node.name for node in graph.nodes],
            "buffers": [{"tensors": sorted(r["tensors"]), **{k: r[k] for k in ("offset", "size", "first", "last")}}
                        for _, r in sorted(roots.items())],
            "timeline": timeline, "peak_live_bytes": max(timeline, default=0), "peak_step": peak_step,
            "peak_node": graph.nodes[peak_step].name if n else None,
            "peak_tensors": [{"tensor": r["tensors"][0], "size": r["size"]} for r in at_peak],
            "schedule_method": graph.schedule.method if graph.schedule is not None else None}


def profile_columns(report: dict) -> list:
    """(heading, {layer index: text}) per measured target in report["profiles"] (written by a
    bit-exact `edgec verify` on an emulated target): cycles where known, else instructions."""
    cols = []
    for target, prof in sorted((report.get("profiles") or {}).items()):
        kind = "cycles" if prof.get("cycles_per_inference") is not None else "instructions"
        mark = {"estimated": " (est.)", "exact": ""}.get(prof.get("cycles_kind"), "") if kind == "cycles" else ""
        cols.append((f"{target} {kind}{mark}", {int(i): f"{v.get(kind, 0):,}" for i, v in prof.get("layers", {}).items()}))
    return cols


def format_table(report: dict) -> str:
    cols = profile_columns(report)
    rows = [("#", "layer", "op", "output", "MACs", "weights B", "arena off", "arena B") + tuple(h for h, _ in cols)]
    for l in report["layers"]:
        rows.append((str(l["index"]), l["name"][-28:], l["op"], "x".join(map(str, l["output_shape"])), f"{l['macs']:,}",
                     f"{l['weight_bytes']:,}", "-" if l["arena_offset"] is None else str(l["arena_offset"]),
                     l["buffer"] if l["arena_size"] is None else f"{l['arena_size']:,}" + ("*" if l.get("band") else ""))
                    + tuple(v.get(l["index"], "-") for _, v in cols))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if c < 4 else v.rjust(w) for c, (v, w) in enumerate(zip(r, widths))) for r in rows]
    t = report["totals"]
    if any(l.get("band") for l in report["layers"]):
        lines.append("* a row band: this layer runs in a patch-based stage, only a band of its output is ever live")
    for st in report.get("tiling", []):
        lines.append(f"tiled layers {st['layers'][0]}-{st['layers'][-1]} in {st['bands']} row bands"
                     + (" (bottom up)" if st["bottom_up"] else "")
                     + (", output over its input" if st["output_over_input_shift"] is not None else "")
                     + f": saves {st['saves_arena_bytes'] or 0:,} B of arena for ~{st['extra_instructions_estimated'] or 0:,} "
                     f"more instructions (est.), {st['extra_macs']:,} recomputed MACs")
    lines.append("")
    lines.append(f"peak RAM (arena): {t['arena_bytes']:,} B   + input/output buffers {t['io_bytes']:,} B   "
                 + (f"+ state {t['state_bytes']:,} B   " if t.get("state_bytes") else "") +
                 f"flash (weights): {t['weight_bytes']:,} B   MACs: {t['macs']:,}")
    if t.get("wide_layers"):
        lines.append(f"wide weights (int16, for speed): {t['wide_layers']} layers, {t['wide_flash_bytes']:,} B of the flash above")
    b = report.get("budget") or {}
    if b.get("ram_bytes"):
        used = t["arena_bytes"] + t["io_bytes"] + t.get("state_bytes", 0)
        lines.append(f"fits {report['target']}: RAM {used:,} of {b['ram_bytes']:,} B ({b['ram_bytes'] - used:,} B headroom), "
                     f"flash weights {t['weight_bytes']:,} of {b['flash_bytes']:,} B ({b['flash_bytes'] - t['weight_bytes']:,} B headroom)")
    for target, prof in sorted((report.get("profiles") or {}).items()):
        cyc = (f", {prof['cycles_per_inference']:,} cycles ({prof['cycles_kind']})"
               if prof.get("cycles_per_inference") is not None else "")
        lines.append(f"measured on {target}: {prof['instructions_per_inference']:,} instructions{cyc} per inference"
                     + (f", code+weights {prof['code_and_weights_bytes']:,} B" if "code_and_weights_bytes" in prof else "")
                     + (f", stack {prof['stack_bytes_measured']:,} B measured (bound {prof['stack_bytes_bound']:,} B)"
                        if "stack_bytes_measured" in prof else ""))
    return "\n".join(lines)
