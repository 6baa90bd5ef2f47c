"""verify / run: execute a built model's C on a target and hold it against the references.

The integer reference (reference.run on the int8 graph) is the contract: the C must equal it bit
for bit.  The float reference tells how much quantization cost: top-1 agreement for classifiers,
max abs error and SQNR for every model."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..compiler import reference
from ..compiler.data import InputSamples, edge_names, fit_samples, load_array, load_samples
from ..host.preprocess import load_inputs
from ..compiler.errors import EdgecError, InputDataError
from ..compiler.fixedpoint import quantize_float_input
from ..compiler.serialize import ARTIFACT, load_graphs
from ..compiler.targets import get_target, with_budget, with_sanitizers
from .toolchain import execute


class Built:
    """A build output directory, read back."""

    def __init__(self, out_dir: str):
        self.dir = Path(out_dir)
        rpath = self.dir / "report.json"
        if not rpath.is_file() or not (self.dir / ARTIFACT).is_file():
            raise EdgecError("not an edgec build directory (no report.json / model data)", where=str(out_dir),
                             hint="run `edgec build MODEL -o DIR` first")
        try:
            self.report = json.loads(rpath.read_text())
        except ValueError:
            raise EdgecError("report.json is not valid JSON", where=str(rpath), hint="rebuild") from None
        graphs = load_graphs(self.dir / ARTIFACT)
        self.float_graph, self.int_graph = graphs["float"], graphs["int8"]
        self.inq = self.int_graph.tensors[self.int_graph.inputs[0]].quant
        self.outq = self.int_graph.tensors[self.int_graph.outputs[0]].quant

    @property
    def input_shape(self):
        return self.int_graph.tensors[self.int_graph.inputs[0]].shape

    @property
    def output_shape(self):
        return self.int_graph.tensors[self.int_graph.outputs[0]].shape

    def samples(self, path: str) -> np.ndarray:
        if len(self.int_graph.inputs) > 1:
            return load_samples(path, self.int_graph, "input")
        return fit_samples(load_array(path, "input"), self.input_shape, path)

    @property
    def several(self) -> bool:
        """Several inputs or outputs: samples are InputSamples (several inputs), outputs {output: [N, ...]}."""
        return len(self.int_graph.inputs) > 1 or len(self.int_graph.outputs) > 1

    @property
    def preprocess(self) -> dict | None:
        """How an image becomes the input (edgec.host.preprocess), None if the build records none."""
        return self.report.get("preprocess")

    @property
    def decode(self) -> dict | None:
        """How the outputs are read (edgec.host.postprocess.decode_spec), None for other models."""
        return self.report.get("decode")

    @property
    def labels(self) -> list | None:
        return self.report.get("labels")

    def inputs(self, paths):
        """(xs, images) from one .npy/.npz file or image files (edgec.host.preprocess.load_inputs); a model
        of several inputs takes one .npz with an array per input, keyed by its name (data.load_samples)."""
        if len(self.int_graph.inputs) > 1:
            paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
            if len(paths) != 1:
                raise InputDataError(f"the model has {len(self.int_graph.inputs)} inputs: give one .npz with an array "
                                     f"per input ({', '.join(edge_names(self.int_graph))}), not {len(paths)} files")
            return load_samples(str(paths[0]), self.int_graph, "input"), None
        return load_inputs(paths, self.input_shape, self.preprocess, f"model '{self.report['model']}'")

    def quantize_input(self, xs: np.ndarray) -> np.ndarray:
        """A .tflite's own QUANTIZE edge divides in float32 (meta["input_quantize"]), other models by the
        compiler's float64 rule: fixedpoint.quantize_float_input, the agent's function too.  Several
        inputs (InputSamples): each with its own scale and zero point."""
        if isinstance(xs, InputSamples):
            return xs.map(lambda t, v: quantize_float_input(v, self.int_graph.tensors[t].quant.scalar_scale,
                                                            self.int_graph.tensors[t].quant.scalar_zp, "float64"))
        return quantize_float_input(xs, self.inq.scalar_scale, self.inq.scalar_zp,
                                    self.int_graph.meta.get("input_quantize", "float64"))

    def dequantize_output(self, q: np.ndarray) -> np.ndarray:
        return ((q.astype(np.float64) - self.outq.scalar_zp) * self.outq.scalar_scale).astype(np.float32)

    @property
    def stateful(self) -> bool:
        """A streaming model (resource variables): its samples are one stream, state carried between them."""
        return bool(self.int_graph.state)

    def uint8_api(self, edge: str) -> bool:
        """The C API takes / gives uint8 at `edge` (the model file's type there): int8 v is uint8 v ^ 0x80."""
        return self.int_graph.meta.get("edges", {}).get(edge, {}).get("file_dtype") == "uint8"

    def expected(self, q_in: np.ndarray, reset_each: bool = False) -> np.ndarray:
        """The integer reference's outputs: one stream (state carried, in order) unless reset_each; for a
        model of several inputs or outputs, {output: [N, ...]}."""
        if self.several:
            return reference.run_batch_outputs(self.int_graph, q_in, stream=not reset_each)
        return reference.run_batch(self.int_graph, q_in, stream=not reset_each)

    def execute(self, target_name: str, q_in: np.ndarray, sanitize: bool = False, reset_each: bool = False):
        """(int8 outputs [N, ...], Execution) of the C on a target.  The samples run in order as one stream
        (a stateful model carries its state from each to the next); `reset_each` resets it before each."""
        target = get_target(target_name)
        if target_name == self.report["target"] and "budget" in self.report:    # the budget the build was made for
            target = with_budget(target, self.report["budget"]["ram_bytes"], self.report["budget"]["flash_bytes"])
        if sanitize:
            target = with_sanitizers(target)
        if self.several:
            return self._execute_several(target, q_in, reset_each)
        in_bytes = int(np.prod(self.input_shape))
        out_bytes = int(np.prod(self.output_shape))
        data = np.ascontiguousarray(q_in, dtype=np.int8)
        if self.uint8_api("input"):                       # the C takes the file's uint8: v = q + 128
            data = data ^ np.int8(-128)
        with tempfile.TemporaryDirectory(prefix="edgec-") as work:
            ex = execute(target, self.dir, f"edgec_{self.report['model']}", in_bytes, out_bytes,
                         data.tobytes(), Path(work), reset_each=reset_each and self.stateful)
        n = len(q_in)
        got = np.frombuffer(ex.outputs, dtype=np.int8)
        if self.uint8_api("output"):
            got = got ^ np.int8(-128)
        if got.size != n * out_bytes:
            raise EdgecError(f"the {target.name} build returned {got.size} output bytes for {n} samples, "
                             f"expected {n * out_bytes}")
        return got.reshape((n,) + tuple(self.output_shape)), ex


    def _execute_several(self, target, q_in, reset_each: bool):
        """execute() for several inputs / outputs: each sample's inputs concatenated in the model's order,
        run() handed a pointer into them per input (and into the outputs per output) by the harness's
        EDGEC_RUN macro; returns ({output: int8 [N, ...]}, Execution)."""
        g, n = self.int_graph, len(q_in)
        arrays = q_in.arrays if isinstance(q_in, InputSamples) else {g.inputs[0]: q_in}
        data = np.concatenate([np.ascontiguousarray(arrays[t], dtype=np.int8).reshape(n, -1) for t in g.inputs], axis=1)
        sizes = [g.tensors[t].size for t in g.outputs]
        model = f"edgec_{self.report['model']}"
        args, off = [], 0
        for t in g.inputs:
            args.append(f"(const int8_t *)(i) + {off}")
            off += g.tensors[t].size
        in_bytes, off = off, 0
        for size in sizes:
            args.append(f"(int8_t *)(o) + {off}")
            off += size
        with tempfile.TemporaryDirectory(prefix="edgec-") as work:
            ex = execute(target, self.dir, model, in_bytes, off, np.ascontiguousarray(data).tobytes(), Path(work),
                         reset_each=reset_each and self.stateful, run_macro=f"EDGEC_RUN(i,o)={model}_run({', '.join(args)})")
        got = np.frombuffer(ex.outputs, dtype=np.int8)
        if got.size != n * off:
            raise EdgecError(f"the {target.name} build returned {got.size} output bytes for {n} samples, expected {n * off}")
        got, out, at = got.reshape(n, off), {}, 0
        for t, size in zip(g.outputs, sizes):
            out[t] = got[:, at:at + size].reshape((n,) + tuple(g.tensors[t].shape))
            at += size
        return out, ex


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    if noise == 0:
        return float("inf")
    return 10 * np.log10(signal / noise) if signal > 0 else float("-inf")


def is_classifier(built: Built) -> bool:
    shape = built.output_shape
    return len(shape) == 2 and 1 < shape[1] <= 1000 and int(np.prod(shape)) != int(np.prod(built.input_shape))


def float_agreement(built: Built, xs: np.ndarray, q_out: np.ndarray, reset_each: bool = False) -> dict:
    ref = reference.run_batch(built.float_graph, xs, stream=not reset_each).reshape(q_out.shape)
    deq = built.dequantize_output(q_out)
    out = {"max_abs_error": float(np.abs(ref - deq).max()), "sqnr_db": round(sqnr_db(ref, deq), 2)}
    if is_classifier(built):
        n = len(xs)
        out["top1_agreement"] = float((ref.reshape(n, -1).argmax(1) == deq.reshape(n, -1).argmax(1)).mean())
    last = built.int_graph.producer().get(built.int_graph.outputs[0])
    if last is not None and last.op in ("ArgMax", "ArgMin", "TopKIndices"):
        # an index output: the share of indices equal to the float graph's (they differ only where two
        # values that differ in float tie as int8, and the tie rule picks the other)
        out["index_agreement"] = float((ref == deq).mean())
    return out


def several_outputs(built: Built, xs, got: dict, expected: dict, reset_each: bool = False) -> dict:
    """verify()'s comparison for a model of several outputs: each output bit for bit against the integer
    reference, and its float agreement (max abs error, SQNR, top-1 for a classifier's scores) against
    the float reference's same output.  The model's float_agreement is the worst of them."""
    ig, fg, n = built.int_graph, built.float_graph, len(xs)
    ref = reference.run_batch_outputs(fg, xs, stream=not reset_each)
    rows = []
    for name, o, fo in zip(edge_names(ig, "output"), ig.outputs, fg.outputs):
        q = ig.tensors[o].quant
        deq = ((got[o].astype(np.float64) - q.scalar_zp) * q.scalar_scale).astype(np.float32)
        f = ref[fo].reshape(deq.shape)
        fa = {"max_abs_error": float(np.abs(f - deq).max()), "sqnr_db": round(sqnr_db(f, deq), 2)}
        shape = ig.tensors[o].shape
        if len(shape) == 2 and 1 < shape[1] <= 1000:
            fa["top1_agreement"] = float((f.reshape(n, -1).argmax(1) == deq.reshape(n, -1).argmax(1)).mean())
        d = got[o] != expected[o]
        rows.append({"name": name, "shape": list(shape), "bit_exact": bool(not d.any()),
                     "mismatched_values": int(d.sum()), "float_agreement": fa})
    worst = {"max_abs_error": max(r["float_agreement"]["max_abs_error"] for r in rows),
             "sqnr_db": min(r["float_agreement"]["sqnr_db"] for r in rows)}
    return {"samples": int(n), "bit_exact": all(r["bit_exact"] for r in rows), "float_agreement": worst, "outputs": rows}


def per_layer(built: Built, ex, samples: int) -> list | None:
    """Instructions (and cycles, where known) per inference of each layer, from the per-call-site
    counts of the emulator run."""
    sites = built.report.get("call_sites")
    if not ex.call_site_instructions or not sites or len(sites) != len(ex.call_site_instructions):
        return None
    per, cyc = {}, {}
    for k, (node, n) in enumerate(zip(sites, ex.call_site_instructions)):
        per[node] = per.get(node, 0) + n
        if ex.call_site_cycles:
            cyc[node] = cyc.get(node, 0) + ex.call_site_cycles[k]
    rows = []
    for l in built.report["layers"]:
        row = {"index": l["index"], "name": l["name"], "op": l["op"], "macs": l["macs"],
               "instructions": per.get(l["index"], 0) // max(1, samples)}
        if ex.call_site_cycles:
            row["cycles"] = cyc.get(l["index"], 0) // max(1, samples)
        rows.append(row)
    return rows


def cost(built: Built, ex, samples: int) -> dict:
    """What one inference costs on the target that ran it: instructions, cycles (exact on AVR, from
    the documented cost model on Cortex-M), per function and per layer, flash and stack."""
    n = max(1, samples)
    out = {}
    if ex.instructions is not None:
        out["instructions_per_inference"] = ex.instructions // n
        out["instructions_by_function"] = {k: v // n for k, v in list(ex.per_function.items())[:12]}
    if ex.cycles is not None:
        out["cycles_per_inference"] = ex.cycles // n
        out["cycles_kind"] = ex.cycles_kind
        top = sorted(ex.per_function_cycles.items(), key=lambda kv: -kv[1])[:12]
        out["cycles_by_function"] = {k: v // n for k, v in top}
    if ex.text_bytes is not None:
        out["code_and_weights_bytes"] = ex.text_bytes
    layers = per_layer(built, ex, samples)
    if layers:
        out["layers"] = layers
    if ex.float_helpers is not None:
        out["float_helpers"] = ex.float_helpers
    if ex.stack_bytes is not None:
        out["stack_bytes_bound"] = ex.stack_bytes
    if ex.stack_measured is not None:
        out["stack_bytes_measured"] = ex.stack_measured
    return out


def record_profile(out_dir: str, target_name: str, costs: dict) -> None:
    """Keep a bit-exact run's measured costs in the build's report.json under profiles[target], so
    `edgec report` (table and HTML) shows them next to the build's own numbers.  Atomic rewrite."""
    path = Path(out_dir) / "report.json"
    rep = json.loads(path.read_text())
    keep = ("instructions_per_inference", "cycles_per_inference", "cycles_kind", "code_and_weights_bytes",
            "stack_bytes_bound", "stack_bytes_measured")
    entry = {k: costs[k] for k in keep if k in costs}
    entry["layers"] = {str(l["index"]): {k: l[k] for k in ("instructions", "cycles") if k in l} for l in costs.get("layers", [])}
    rep.setdefault("profiles", {})[target_name] = entry
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rep, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def layer_sqnr(built: Built, xs: np.ndarray) -> list:
    """Where accuracy is lost: for each layer (the int8 graph's nodes, numbered as report.json's layers)
    the SQNR in dB of its int8 output, dequantized with the tensor's scale and zero point, against
    the float reference's same tensor over all samples (`sqnr_db`), the same for its first input
    (`input_sqnr_db`; for the model's input that is what quantizing the input costs), so that
    `sqnr_db - input_sqnr_db` is what the layer itself loses; and its largest absolute error.  Both
    references keep every tensor (reference.run keep_all): no C is involved."""
    fg, ig = built.float_graph, built.int_graph
    sig, noise, maxerr = {}, {}, {}
    fstate, istate = reference.initial_state(fg), reference.initial_state(ig)    # a stateful model: one stream
    for x, q in zip(xs, built.quantize_input(xs)):
        fenv = reference.run(fg, x, keep_all=True, state=fstate)
        ienv = reference.run(ig, q, keep_all=True, state=istate)
        for t, v in ienv.items():
            quant = ig.tensors[t].quant
            if t not in fenv or quant is None or fenv[t].size != v.size or ig.tensors[t].is_const:
                continue
            f = fenv[t].astype(np.float64).reshape(-1)
            e = f - (v.astype(np.float64).reshape(-1) - quant.scalar_zp) * quant.scalar_scale
            sig[t] = sig.get(t, 0.0) + float(f @ f)
            noise[t] = noise.get(t, 0.0) + float(e @ e)
            maxerr[t] = max(maxerr.get(t, 0.0), float(np.abs(e).max()))

    def db(t):
        if t not in sig:
            return None
        return round(float(sqnr_from_energies(sig[t], noise[t])), 2)
    rows = []
    for i, node in enumerate(ig.nodes):
        t = node.outputs[0]
        if t not in sig:
            continue
        op = node.op if node.op != "Lut" else f"Lut/{node.attrs['function']}"
        rows.append({"index": i, "name": node.name, "op": op, "tensor": t, "sqnr_db": db(t),
                     "input_sqnr_db": db(node.inputs[0]), "max_abs_error": maxerr[t],
                     "scale": ig.tensors[t].quant.scalar_scale})
    return rows


def sqnr_from_energies(signal: float, noise: float) -> float:
    if noise == 0:
        return float("inf")
    return 10 * np.log10(signal / noise) if signal > 0 else float("-inf")


def record_layer_sqnr(out_dir: str, rows: list, samples: int, input_path: str) -> None:
    """Keep the per-layer SQNR in report.json under "layer_sqnr" (atomic rewrite), beside "profiles";
    an infinite SQNR (exact layer) is stored as the string "inf"."""
    path = Path(out_dir) / "report.json"
    rep = json.loads(path.read_text())
    keep = ("index", "name", "op", "sqnr_db", "input_sqnr_db", "max_abs_error")
    rep["layer_sqnr"] = {"samples": int(samples), "input": os.path.basename(input_path),
                         "layers": [{k: (str(r[k]) if isinstance(r[k], float) and not np.isfinite(r[k]) else r[k])
                                     for k in keep} for r in rows]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rep, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def stream_note(built: Built, n: int, reset_each: bool) -> str | None:
    """How a stateful model's samples were run (None for a stateless one)."""
    if not built.stateful:
        return None
    if reset_each:
        return f"stateful model: each of the {n} samples run from the initial state (--reset-each)"
    return f"stateful model: the {n} samples run as one stream, in order, state carried from each to the next"


def verify(out_dir: str, target_name: str, input_path, sanitize: bool = False, layers: bool = False,
           reset_each: bool = False) -> dict:
    """`input_path`: a .npy/.npz file or image files (a list).  `layers`: also the per-layer SQNR of
    the int8 model against the float one (layer_sqnr), in the result and in report.json.  A stateful
    model takes the samples as one stream unless `reset_each`."""
    built = Built(out_dir)
    xs, _ = built.inputs(input_path)
    q_in = built.quantize_input(xs)
    expected = built.expected(q_in, reset_each)
    got, ex = built.execute(target_name, q_in, sanitize, reset_each)
    if built.several:
        result = several_outputs(built, xs, got, expected, reset_each)
        diff = np.concatenate([(got[o] != expected[o]).reshape(len(xs), -1) for o in built.int_graph.outputs], axis=1)
        result.update({"target": target_name, "sanitized": sanitize, "model": built.report["model"],
                       "mismatches": int(diff.any(axis=1).sum()), "mismatched_values": int(diff.sum()),
                       "arena_bytes": built.report["totals"]["arena_bytes"]})
    else:
        diff = (got != expected).reshape(len(xs), -1)
    result = result if built.several else {"target": target_name, "samples": int(len(xs)), "bit_exact": bool(not diff.any()), "sanitized": sanitize,
              "mismatches": int(diff.any(axis=1).sum()), "mismatched_values": int(diff.sum()),
              "float_agreement": float_agreement(built, xs, got, reset_each), "model": built.report["model"],
              "arena_bytes": built.report["totals"]["arena_bytes"]}
    note = stream_note(built, len(xs), reset_each)
    if note:
        result["stream"] = {"note": note, "reset_each": bool(reset_each),
                            "state_bytes": built.report["totals"].get("state_bytes", 0)}
    if diff.any() and not built.several:
        first = int(np.argmax(diff.any(axis=1)))
        result["first_mismatch"] = {"sample": first, "max_lsb": int(np.abs(got[first].astype(int) - expected[first]).max())}
    result.update(cost(built, ex, len(xs)))
    if result["bit_exact"] and "instructions_per_inference" in result:
        record_profile(out_dir, target_name, result)
    if layers:
        result["layer_sqnr"] = layer_sqnr(built, xs)
        names = [input_path] if isinstance(input_path, (str, os.PathLike)) else list(input_path)
        record_layer_sqnr(out_dir, result["layer_sqnr"], len(xs), ", ".join(os.path.basename(str(p)) for p in names))
    return result


def run(out_dir: str, target_name: str, input_path, raw: bool = False, reset_each: bool = False):
    """(outputs, costs) of the C on a target for a .npy/.npz file or image files (a list)."""
    built = Built(out_dir)
    xs, _ = built.inputs(input_path)
    return run_samples(built, target_name, xs, raw, reset_each)


def run_samples(built: Built, target_name: str, xs: np.ndarray, raw: bool = False, reset_each: bool = False):
    """(outputs [N, ...], costs): float32 dequantized, or the int8 outputs with `raw`.  A stateful model
    takes xs as one stream (costs["stream"] says so) unless `reset_each`."""
    got, ex = built.execute(target_name, built.quantize_input(xs), reset_each=reset_each)
    if built.several:                             # {output name: (N, ...)}, each with its own scale and zero point
        g, out = built.int_graph, {}
        for name, o in zip(edge_names(g, "output"), g.outputs):
            q = g.tensors[o].quant
            v = got[o] if raw else ((got[o].astype(np.float64) - q.scalar_zp) * q.scalar_scale).astype(np.float32)
            out[name] = v.reshape((len(xs),) + tuple(g.tensors[o].shape[1:])) if g.tensors[o].shape[0] == 1 else v
    else:
        out = got if raw else built.dequantize_output(got)
    if not built.several and built.output_shape[0] == 1:                # (N, 1, ...) -> (N, ...): one row per sample
        out = out.reshape((len(xs),) + tuple(built.output_shape[1:]))
    costs = cost(built, ex, len(xs))
    note = stream_note(built, len(xs), reset_each)
    if note:
        costs["stream"] = note
    return out, costs
