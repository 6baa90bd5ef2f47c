"""Save / load IR graphs as one deterministic zip (JSON structure + .npy arrays, fixed timestamps).

`out/edgec_model.npz` carries the float and the integer graph so that `verify` and `run` can
compute the references without the source model.  No pickle: loading never executes code."""
from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np

from .errors import EdgecError
from .ir import Graph, Node, Quant, Tensor
from .plan import MemoryPlan, ScheduleFacts, StateVar, WideLayers

#: the file in a build directory that holds the float and the integer graph
ARTIFACT = "edgec_model.npz"

_EPOCH = (1980, 1, 1, 0, 0, 0)


class _Writer:
    def __init__(self):
        self.arrays = {}

    def enc(self, v):
        if isinstance(v, np.ndarray) or isinstance(v, np.generic):
            key = f"a{len(self.arrays)}"
            self.arrays[key] = np.asarray(v)
            return {"__array__": key}
        if isinstance(v, dict):
            return {"__dict__": [[k, self.enc(x)] for k, x in v.items()]}
        if isinstance(v, (list, tuple)):
            return {"__tuple__" if isinstance(v, tuple) else "__list__": [self.enc(x) for x in v]}
        if isinstance(v, float) and not math.isfinite(v):
            return {"__float__": repr(v)}
        return v


def _dec(v, arrays):
    if isinstance(v, dict):
        if "__array__" in v:
            a = arrays[v["__array__"]]
            return a[()] if a.ndim == 0 else a
        if "__dict__" in v:
            return {k: _dec(x, arrays) for k, x in v["__dict__"]}
        if "__tuple__" in v:
            return tuple(_dec(x, arrays) for x in v["__tuple__"])
        if "__list__" in v:
            return [_dec(x, arrays) for x in v["__list__"]]
        if "__float__" in v:
            return float(v["__float__"])
    return v


def _meta(g: Graph) -> dict:
    """meta with the typed plan (compiler/plan.py) under the keys and in the form it had as meta entries,
    so artifacts stay readable both ways."""
    m = dict(g.meta)
    if g.state:
        m["state"] = [s.as_dict() for s in g.state]
    if g.wide.layers or g.wide.flash_bytes:
        m.update(wide=g.wide.layers, wide_flash_bytes=g.wide.flash_bytes)
    if g.scratch:
        m["scratch"] = g.scratch
    if g.tiling:
        m["tiling"] = g.tiling
    if g.schedule is not None:
        m["schedule"] = g.schedule.as_dict()
    if g.plan is not None:
        m["plan"] = g.plan.as_dict()
    return m


def _typed(meta: dict) -> dict:
    """The typed plan attributes of a Graph from a saved meta (the inverse of _meta); removes their keys."""
    out = {}
    if "state" in meta:
        out["state"] = [StateVar.from_dict(s) for s in meta.pop("state")]
    if "wide" in meta or "wide_flash_bytes" in meta:
        out["wide"] = WideLayers(meta.pop("wide", {}), int(meta.pop("wide_flash_bytes", 0)))
    for k in ("scratch", "tiling"):
        if k in meta:
            out[k] = meta.pop(k)
    if "schedule" in meta:
        out["schedule"] = ScheduleFacts(**meta.pop("schedule"))
    if "plan" in meta:
        out["plan"] = MemoryPlan.from_dict(meta.pop("plan"))
    return out


def _graph_doc(g: Graph, w: _Writer):
    return {"name": g.name, "inputs": g.inputs, "outputs": g.outputs, "meta": w.enc(_meta(g)),
            "tensors": [[t.name, list(t.shape), t.dtype, w.enc(t.data) if t.data is not None else None,
                         None if t.quant is None else [w.enc(t.quant.scale), w.enc(t.quant.zero_point), t.quant.axis]]
                        for t in g.tensors.values()],
            "nodes": [[n.op, n.name, n.inputs, n.outputs, w.enc(n.attrs)] for n in g.nodes]}


def _graph(doc, arrays) -> Graph:
    tensors = {}
    for name, shape, dtype, data, quant in doc["tensors"]:
        q = None if quant is None else Quant(_dec(quant[0], arrays), _dec(quant[1], arrays), quant[2])
        tensors[name] = Tensor(name, tuple(shape), dtype, None if data is None else _dec(data, arrays), q)
    nodes = [Node(op, name, list(i), list(o), _dec(a, arrays)) for op, name, i, o, a in doc["nodes"]]
    meta = _dec(doc["meta"], arrays)
    return Graph(doc["name"], nodes, tensors, list(doc["inputs"]), list(doc["outputs"]), meta, **_typed(meta))


def save_graphs(path, graphs: dict) -> None:
    w = _Writer()
    doc = {k: _graph_doc(g, w) for k, g in graphs.items()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("graphs.json", _EPOCH), json.dumps(doc, sort_keys=True))
        for key, arr in w.arrays.items():
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())


def load_graphs(path) -> dict:
    try:
        with zipfile.ZipFile(path) as z:
            doc = json.loads(z.read("graphs.json"))
            arrays = {n[:-4]: np.load(io.BytesIO(z.read(n)), allow_pickle=False) for n in z.namelist() if n.endswith(".npy")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise EdgecError(f"cannot read {path}: {e}", hint="rebuild with `edgec build`") from None
    return {k: _graph(d, arrays) for k, d in doc.items()}
