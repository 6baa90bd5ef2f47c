"""The build driver: model file → out/ (C sources, runtime kernels, report.json, graphs).

import → canonical passes → calibrate → quantize → plan_memory → codegen.  The output directory
is replaced only if edgec made it, and swapped in only when everything succeeded (edgec.compiler.outdir), so a
failed build never leaves a half-written out/ and never destroys the previous one."""
from __future__ import annotations

import io
import json
import os
from importlib import resources

import numpy as np

from ..compiler import __version__
from ..compiler.calibrate import DEFAULT_METHOD, calibrate, check_method
from ..codegen.c import generate, c_ident
from ..codegen.header import header_facts
from ..compiler.data import edge_names, file_sha256, fit_samples, load_array, load_samples
from ..compiler.errors import ModelFormatError, InputDataError, TargetError
from ..compiler.importers.builder import parse_input_shapes
from ..compiler.ir import Graph
from ..compiler.outdir import check_output_dir, write_output_dir
from .model_image import IMAGE_FILE, for_build
from ..passes.pipeline import canonicalize, quantize, plan
from ..passes.tie_ranges import tie_ranges
from ..host.postprocess import check_labels, decode_spec, read_labels
from ..host.preprocess import parse as parse_preprocess, resolve as resolve_preprocess
from ..reports.layers import layer_table
from ..compiler.serialize import ARTIFACT, save_graphs
from ..compiler.targets import get_target, with_budget


def import_model(path: str, weights: str | None = None, input_shapes: dict | None = None, sample_shape=None) -> Graph:
    """input_shapes ({input name or None: dims}, `--input-shape`) and sample_shape (the calibration
    data's shape, or a function giving it) fix dynamic input dimensions of ONNX and Keras models."""
    ext = os.path.splitext(path)[1].lower()
    if input_shapes and ext not in (".onnx", ".h5", ".hdf5", ".keras"):
        raise InputDataError(f"--input-shape is for ONNX and Keras models; a {ext or 'extensionless'} model fixes its "
                             "input shape in the file", where=path, hint="leave --input-shape out")
    if ext == ".cfg":
        from ..compiler.importers.darknet import import_darknet
        return import_darknet(path, weights)
    if weights is not None:
        raise ModelFormatError("a second file (weights) is only taken with a Darknet .cfg", where=weights)
    if ext == ".onnx":
        from ..compiler.importers.onnx import import_onnx
        return import_onnx(path, input_shapes, sample_shape)
    if ext in (".h5", ".hdf5", ".keras"):
        from ..compiler.importers.keras import import_keras
        return import_keras(path, input_shapes, sample_shape)
    if ext == ".tflite":                   # the float model, or an int8 one's dequantized twin (build() keeps its int8)
        from ..compiler.importers.tflite import import_tflite
        return import_tflite(path)
    if not os.path.exists(path):
        raise ModelFormatError("no such file", where=path)
    raise ModelFormatError(f"unsupported model format '{ext or '(none)'}'", where=path,
                           hint="edgec reads .onnx, Keras .h5/.keras, Darknet .cfg (+ .weights) and .tflite models")


def tflite_graphs(path: str) -> tuple[Graph, Graph | None]:
    """(dequantized float twin, int8 graph) of a fully-integer .tflite, the int8 graph made by the quantize
    pass from the file's own quantization (meta["given_quant"], TFLite Micro's arithmetic); (float graph,
    None) of a float .tflite."""
    from ..compiler.importers.tflite import import_tflite
    g = import_tflite(path)
    return g, (quantize(g) if g.meta.get("given_quant") else None)


def model_c_name(name: str) -> str:
    return c_ident(name, 32).lower()


def build(model_path: str, target_name: str, out_dir: str, calibration: str | None = None,
          name: str | None = None, log=lambda msg: None, weights: str | None = None,
          ram=None, flash=None, optimize: str = "ram", calibration_method: str | None = None,
          bias_correction: bool | None = None, max_accuracy_drop=None, min_sqnr: float | None = None,
          preprocess: str | None = None, labels: str | None = None, input_shapes=None, state=None) -> dict:
    """`max_accuracy_drop` (a fraction, or a string such as "1%") or `min_sqnr` (dB) turn on mixed
    precision (edgec.verification.precision): the calibration file's samples, and its labels `y` when it is an .npz
    that has them, decide which activations become int16.  `preprocess` (the --preprocess text,
    edgec.host.preprocess) and `labels` (a file of class names, one per line) are recorded in the report
    for the host side: how images become the input, what the classes are called.  `input_shapes`:
    `--input-shape` values ("1,3,48,192" or "x=1,3,48,192") for inputs of dynamic shape; else the
    calibration data fixes them where it can.  `state`: `--state IN=OUT` values, a streaming step's state
    as an input and an output (a GRU's h and h'): both get one quantization, so the caller copies OUT
    into IN between steps (state_pairs)."""
    check_output_dir(out_dir)        # before the work: a refused -o is known at once
    target = with_budget(get_target(target_name), ram, flash)
    given_shapes = parse_input_shapes(input_shapes)
    loaded = {}

    def calibration_array():
        if "x" not in loaded:
            loaded["x"] = load_array(calibration, "calibration")
        return loaded["x"]
    goal = mixed_precision_goal(max_accuracy_drop, min_sqnr, calibration)
    if preprocess is not None:
        parse_preprocess(preprocess)                      # a typo fails now, not after the import
    label_names = read_labels(labels) if labels is not None else None
    if calibration_method is not None:
        check_method(calibration_method)
    if optimize not in OPTIMIZE:
        raise InputDataError(f"unknown --optimize '{optimize}'", hint=f"choose one of: {', '.join(OPTIMIZE)}")
    log(f"importing {model_path}")
    imported = None
    if os.path.splitext(model_path)[1].lower() == ".tflite" and weights is None and not given_shapes:
        from ..compiler.importers.tflite import import_tflite
        imported = import_tflite(model_path)
        if imported.meta.get("given_quant") and state:
            raise InputDataError("--state ties the quantization edgec calibrates; this .tflite is already quantized",
                                 where=model_path, hint="leave --state out")
        if imported.meta.get("given_quant"):
            # already quantized: compiled with the file's own scales and zero points, nothing to calibrate
            if calibration is not None or calibration_method is not None:
                log("the .tflite model is already quantized: --calibration/--calibration-method are not used")
            io = image_io(imported, preprocess, label_names, labels, model_path)
            shape = tuple(imported.tensors[imported.inputs[0]].shape)
            return compile_graph(imported, np.zeros((0,) + shape, np.float32), target, out_dir, name or imported.name,
                                 model_path, log, optimize, io_keys=io)
    graph = canonicalize(imported if imported is not None else
                         import_model(model_path, weights, given_shapes,
                                      (lambda: calibration_array().shape) if calibration is not None else None))
    io = image_io(graph, preprocess, label_names, labels, model_path)
    if calibration is None and graph.meta.get("given_quant"):
        # a QDQ / QOperator ONNX model: its own scales and zero points; quantize names any tensor it leaves float
        log("the model is pre-quantized (QuantizeLinear/DequantizeLinear): using its scales and zero points")
        several_io_refusals(graph, goal)
        if state:
            raise InputDataError("--state ties the quantization edgec calibrates; this model is pre-quantized",
                                 where=model_path, hint="leave --state out")
        return compile_graph(graph, np.zeros((0,) + tuple(graph.tensors[graph.inputs[0]].shape), np.float32), target,
                             out_dir, name or graph.name, model_path, log, optimize, io_keys=io)
    if calibration is None:
        raise InputDataError("the model is float and no calibration data was given",
                             where=model_path, hint="pass --calibration samples.npy (N samples in the model's input layout)")
    tied = state_pairs(graph, state, model_path)
    if len(graph.inputs) > 1 or len(graph.outputs) > 1:
        several_io_refusals(graph, goal)
        samples = load_samples(calibration, graph)        # an .npz with one array per input, by name
    else:
        samples = fit_samples(calibration_array(), graph.tensors[graph.inputs[0]].shape, calibration)
    if goal is not None:
        goal.labels = load_labels(calibration, len(samples))
    return compile_graph(graph, samples, target, out_dir, name or graph.name, model_path, log, optimize,
                         calibration_method=calibration_method, bias_correction=bias_correction, mixed=goal, io_keys=io,
                         tied=tied)


def state_pairs(graph: Graph, specs, where: str | None = None) -> list:
    """`--state IN=OUT` values -> [(input tensor, output tensor)]: an input and an output of the model of
    one size, each named once.  Anything else is refused in one line naming it."""
    ins, outs = dict(zip(edge_names(graph, "input"), graph.inputs)), dict(zip(edge_names(graph, "output"), graph.outputs))
    pairs, seen = [], set()
    for spec in specs or ():
        i, _, o = str(spec).partition("=")
        i, o = i.strip(), o.strip()
        if i not in ins or o not in outs:
            raise InputDataError(f"--state {spec!r} does not name an input and an output of the model (inputs: "
                                 f"{', '.join(ins)}; outputs: {', '.join(outs)})", where=where,
                                 hint="write --state INPUT=OUTPUT, e.g. --state h=h_next")
        if i in seen or o in seen:
            raise InputDataError(f"--state names {i if i in seen else o} twice", where=where)
        seen.update((i, o))
        if graph.tensors[ins[i]].size != graph.tensors[outs[o]].size:
            raise InputDataError(f"--state {i}={o}: the input has {graph.tensors[ins[i]].size} values and the output "
                                 f"{graph.tensors[outs[o]].size}", where=where, hint="a state is fed back whole")
        pairs.append((ins[i], outs[o]))
    return pairs


def tie_state(cal: Graph, pairs: list) -> Graph:
    """Each state input and output pair calibrated to one range (the union of both), so that quantize gives
    them one scale and zero point: the caller copies the output's bytes into the input for the next step."""
    if not pairs:
        return cal
    g = cal.copy()
    ranges = dict(g.meta["ranges"])
    for i, o in pairs:
        ranges[i] = ranges[o] = (min(ranges[i][0], ranges[o][0]), max(ranges[i][1], ranges[o][1]))
    g.meta["ranges"] = ranges
    return g


def check_state(q: Graph, pairs: list) -> None:
    for i, o in pairs:
        a, b = q.tensors[i].quant, q.tensors[o].quant
        if (a.scalar_scale, a.scalar_zp) != (b.scalar_scale, b.scalar_zp):
            raise InputDataError(f"--state: output {o} cannot take input {i}'s quantization (its op fixes scale "
                                 f"{b.scalar_scale:.6g}, zero point {b.scalar_zp}; the input's: {a.scalar_scale:.6g}, "
                                 f"{a.scalar_zp})", hint="leave --state out and requantize the state between steps")


def several_io_refusals(graph: Graph, goal) -> None:
    """What a model of several inputs or outputs cannot have yet, refused in one line naming the limit."""
    if len(graph.inputs) == 1 and len(graph.outputs) == 1:
        return
    if goal is not None:
        raise InputDataError(f"mixed precision (--min-sqnr, --max-accuracy-drop) takes models of one input and one "
                             f"output; this one has {len(graph.inputs)} input{'s' * (len(graph.inputs) != 1)} "
                             f"and {len(graph.outputs)} output{'s' * (len(graph.outputs) != 1)}",
                             hint="build it all int8 (leave the option out)")


def image_io(graph: Graph, preprocess: str | None = None, labels: list | None = None, labels_path: str | None = None,
             where: str | None = None) -> dict:
    """What the host side needs to feed the model images and read its answers, as report keys:
    "preprocess" (edgec.host.preprocess.resolve), "decode" (edgec.host.postprocess.decode_spec) and "labels";
    only those that apply."""
    if len(graph.inputs) > 1 or len(graph.outputs) > 1:
        if preprocess is not None or labels is not None:
            raise InputDataError(f"--preprocess and --labels are for models of one input and one output; this one has "
                                 f"{len(graph.inputs)} input{'s' * (len(graph.inputs) != 1)} and {len(graph.outputs)} "
                                 f"output{'s' * (len(graph.outputs) != 1)}", where=where,
                                 hint="feed it arrays (an .npz keyed by input name) and read each output")
        return {}
    tin, tout = graph.tensors[graph.inputs[0]].shape, graph.tensors[graph.outputs[0]].shape
    out = {"preprocess": resolve_preprocess(tin, graph.meta, preprocess, where),
           "decode": decode_spec(graph.meta, tin, tout, labels)}
    if labels is not None:
        check_labels(labels, out["decode"], tout, labels_path)
        out["labels"] = labels
    return {k: v for k, v in out.items() if v is not None}


def mixed_precision_goal(max_accuracy_drop, min_sqnr, calibration):
    """The mixed-precision Goal the options ask for, or None (all int8)."""
    if max_accuracy_drop is None and min_sqnr is None:
        return None
    if max_accuracy_drop is not None and min_sqnr is not None:
        raise InputDataError("--max-accuracy-drop and --min-sqnr are two goals; give one")
    if calibration is None:
        raise InputDataError("mixed precision needs --calibration data (an .npz with x and labels y, or samples)",
                             hint="e.g. --calibration data.npz --max-accuracy-drop 1%")
    from ..verification.precision import Goal
    if min_sqnr is not None:
        if not np.isfinite(float(min_sqnr)):
            raise InputDataError(f"--min-sqnr {min_sqnr} is not a number of dB")
        return Goal(min_sqnr_db=float(min_sqnr))
    return Goal(max_drop=parse_fraction(max_accuracy_drop))


def parse_fraction(text) -> float:
    """"1%" -> 0.01, "0.01" -> 0.01; anything else (or outside [0, 1)) is refused."""
    s = str(text).strip()
    try:
        v = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        v = float("nan")
    if not 0 <= v < 1:
        raise InputDataError(f"--max-accuracy-drop {text!r} is not a fraction", hint="write it as 1% or 0.01")
    return v


def load_labels(path: str, n: int):
    """The labels `y` of an .npz calibration file (one integer class per sample), or None."""
    if not path.endswith(".npz"):
        return None
    with np.load(path, allow_pickle=False) as z:
        if "y" not in z:
            return None
        y = np.asarray(z["y"]).reshape(-1)
    if y.dtype.kind not in "iu" or len(y) != n:
        raise InputDataError(f"y holds {len(y)} {y.dtype} values for {n} samples", where=path,
                             hint="y must hold one integer class label per sample of x")
    return y


def _mixed_precision(cal: Graph, samples, goal, target, optimize, log):
    """Search the int16 set (edgec.verification.precision) and refuse a goal that even all-int16 misses."""
    from ..verification.precision import search

    def plan_cost(precision):
        g = cal.copy()
        g.meta["precision"] = precision
        q = quantize(g)
        q.meta["optimize"] = optimize
        t = layer_table(plan(q))["totals"]
        return t["arena_bytes"] + t["io_bytes"], t["weight_bytes"]
    res = search(cal, samples, goal, plan_cost, log)
    if not res.chosen.ok:
        ref = "" if res.float_metric is None else f" (float {res.float_metric:.4g})"
        raise InputDataError(f"mixed precision cannot reach {res.goal}: the best assignment tried gives "
                             f"{res.chosen.metric:.4g}{ref}",
                             hint="loosen the goal, calibrate with more representative data, or keep the model int8")
    log(f"mixed precision: {len(res.precision)} of the activations int16, {res.goal}: {res.chosen.metric:.4g}")
    return res


#: What planning minimizes once the model fits: "ram" runs the memory-heaviest stretch in row bands
#: (patch-based, recomputing halo rows); "speed" computes every layer once, whole.
OPTIMIZE = ("ram", "speed")


def compile_graph(graph: Graph, samples: np.ndarray, target, out_dir: str, name: str,
                  source: str, log=lambda msg: None, optimize: str = "ram", quantized: Graph | None = None,
                  calibration_method: str | None = None, bias_correction: bool | None = None, mixed=None,
                  io_keys: dict | None = None, tied: list | None = None) -> dict:
    """Canonical float graph + calibration samples → out_dir.  Returns the report.
    `target`: a Target (with its budget) or a target name.  `quantized`: the integer graph of a
    pre-quantized model (.tflite), used as it is (no calibration; `graph` is its float twin).
    `calibration_method`, `bias_correction`: see edgec.compiler.calibrate (None: the defaults there).
    `io_keys`: the report keys of `image_io()` (None: the model's own defaults)."""
    target = get_target(target) if isinstance(target, str) else target
    if quantized is None and not len(samples) and graph.meta.get("given_quant"):
        q = quantize(graph)
    elif quantized is None:
        log(f"calibrating on {len(samples)} samples ({calibration_method or DEFAULT_METHOD})")
        cal = calibrate(graph, samples, method=calibration_method, bias_correction=bias_correction)
        cal = tie_ranges(cal)        # repeated weights: one range at corresponding places (shared arrays)
        cal = tie_state(cal, tied)   # a state input and output: one quantization (--state)
        if mixed is not None:
            mixed_result = _mixed_precision(cal, samples, mixed, target, optimize, log)
            cal.meta["precision"] = mixed_result.precision
        q = quantize(cal)
    else:
        q = quantized.copy()
    check_state(q, tied or [])
    if tied:
        q.meta["state_edges"] = [list(p) for p in tied]
    q.meta["optimize"] = optimize
    if target.ram is not None and target.ram != get_target(target.name).ram:
        q.meta["ram_budget"] = target.ram          # an explicit --ram: tile only as far as it needs (passes/tile.py)
    if target.wide_weights and target.flash is not None:    # flash for speed (passes/plan_wide.py)
        q.meta["flash_budget"] = target.flash
    q = plan(q)
    if q.wide:
        log(f"wide weights (int16, for speed): {len(q.wide.layers)} layers, {q.wide.flash_bytes:,} B more flash")
    cname = model_c_name(name)
    c_std = next((f[5:] for f in target.cflags if f.startswith("-std=")), "c99")   # gnu99 where EDGEC_ROM is __flash
    gen = generate(q, cname, dict(header_facts(q, source), c_std=c_std))
    report = layer_table(q)
    if gen["shared_bytes"]:      # arrays several nodes use are in flash once (codegen/c.py): the budget counts them once
        report["totals"]["weight_bytes"] -= gen["shared_bytes"]
        report["totals"]["shared_weight_bytes"] = gen["shared_bytes"]
    report.update({"model": cname, "source": os.path.basename(source),
                   "source_sha256": file_sha256(source) if os.path.isfile(source) else None,
                   "target": target.name, "budget": {"ram_bytes": target.ram, "flash_bytes": target.flash},
                   "optimize": optimize,
                   "edgec_version": __version__, "calibration_samples": int(len(samples)),
                   "quantization": q.meta.get("quantization", "calibrated by edgec"),
                   "calibration": q.meta.get("calibration"),
                   "runtime_files": gen["runtime"], "call_sites": gen["calls"],
                   "input": _io_info(q, q.inputs[0], graph.meta.get("input_names", [None])[0], "input"),
                   "output": _io_info(q, q.outputs[0], graph.meta.get("output_names", [None])[0], "output")})
    if len(q.inputs) > 1 or len(q.outputs) > 1:     # every edge, in the C API's order (input/output: the first)
        report["inputs"] = [_io_info(q, t, n, "") for t, n in zip(q.inputs, edge_names(graph, "input"))]
        report["outputs"] = [_io_info(q, t, n, "") for t, n in zip(q.outputs, edge_names(graph, "output"))]
    if tied:                                        # --state: copy each output into its input between steps
        names = {**dict(zip(q.inputs, edge_names(graph, "input"))), **dict(zip(q.outputs, edge_names(graph, "output")))}
        report["state"] = [{"input": names[i], "output": names[o]} for i, o in tied]
    report.update(image_io(graph) if io_keys is None else io_keys)
    if mixed is not None and quantized is None:
        report["mixed_precision"] = mixed_result.as_dict()
    _check_budget(report, target)
    gen["image"], report["image"] = for_build(q, gen, cname, samples, log)     # the model as data (issue 20)
    report["kernel_variants"] = {f: target.runtime_source(f) for f in gen["runtime"] if target.runtime_source(f) != f}
    _write_out(out_dir, gen, report, {"float": graph, "int8": q}, target)
    return report


def _io_info(q: Graph, tensor: str, onnx_name, edge: str) -> dict:
    """The C API's `edge` ("input" or "output"); where the importer dropped the model file's own edge
    there (a .tflite's QUANTIZE / DEQUANTIZE), model_edge says what it was."""
    t = q.tensors[tensor]
    info = {"name": onnx_name or tensor, "shape": list(t.shape), "dtype": "int8", "scale": t.quant.scalar_scale,
            "zero_point": t.quant.scalar_zp, "bytes": t.size}
    if edge == "input" and q.meta.get("input_quantize") == "float32":   # the file's QUANTIZE: x / scale in float32
        info["quantize"] = "float32"
    if edge in q.meta.get("edges", {}):
        info["model_edge"] = q.meta["edges"][edge]
        if info["model_edge"].get("file_dtype") == "uint8":       # the C API keeps the file's uint8 there
            info["c_api"] = {"dtype": "uint8", "scale": t.quant.scalar_scale, "zero_point": t.quant.scalar_zp + 128}
    return info


def _check_budget(report: dict, target) -> None:
    """Every budget the model breaks, in one message (flash first, then RAM) with what sets the peak;
    the same facts ride on the error for --json."""
    t, mem = report["totals"], report["memory"]
    ram = t["arena_bytes"] + t["io_bytes"] + t.get("state_bytes", 0)
    over, facts = [], {"target": target.name, "ram_needed": ram, "ram_budget": target.ram,
                       "flash_needed": t["weight_bytes"], "flash_budget": target.flash,
                       "peak_node": mem["peak_node"], "peak_tensors": mem["peak_tensors"]}
    if target.flash is not None and t["weight_bytes"] > target.flash:
        over.append(f"{t['weight_bytes']:,} bytes of flash for its weights ({target.name} has {target.flash:,}, "
                    f"over by {t['weight_bytes'] - target.flash:,})")
    if target.ram is not None and ram > target.ram:
        top = ", ".join(f"{p['tensor']} {p['size']:,} B" for p in mem["peak_tensors"][:3])
        over.append(f"{ram:,} bytes of RAM: arena {t['arena_bytes']:,} + input/output {t['io_bytes']:,} "
                    f"({target.name} has {target.ram:,}, over by {ram - target.ram:,}); the peak is at "
                    f"{mem['peak_node']} with {top} live")
    if over:
        untiled = report.get("optimize") == "speed" and target.ram is not None and ram > target.ram
        raise TargetError("the model needs " + " and ".join(over),
                          hint=("build with --optimize ram (row bands need less RAM), or " if untiled else "")
                          + "raise the budget with --ram/--flash for a bigger part, or choose a larger target",
                          facts=facts)


def _write_out(out_dir: str, gen: dict, report: dict, graphs: dict, target) -> None:
    runtime = resources.files("edgec.runtime_c")
    files = {fname: text.encode() for fname, text in gen["files"].items()}
    for fname in gen["runtime"]:
        files[fname] = runtime.joinpath(target.runtime_source(fname)).read_bytes()
    if gen.get("image"):
        files[IMAGE_FILE] = gen["image"]
    files["report.json"] = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
    artifact = io.BytesIO()
    save_graphs(artifact, graphs)
    files[ARTIFACT] = artifact.getvalue()
    write_output_dir(out_dir, files)
