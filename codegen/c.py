"""Plan → C sources.  The only code that knows C.

Every node becomes one kernel call named after the node, with its shapes in a comment; its integer
parameters become a `static const` struct; weights, biases, multipliers and tables become `const`
arrays in weights.c (flash).  Output is deterministic: the same graph gives byte-identical files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import jinja2
import numpy as np

from .calls import Call, Loop, Step
from .layouts import dw_quad_layout, pair_layout, quad_layout, wide_layout, wide_quad_layout, wide_quad_requant, wide_requant
from ..passes.plan_wide import channels as wide_channels
from ..compiler.errors import EdgecError
from ..compiler.fixedpoint import wrap32
from ..compiler.ir import Graph
from ..compiler.ops import REGISTRY, CallSite, table as ops_table
from ..compiler.ops.binary import add_tables  # noqa: F401  (codegen's name for it before the registry)
from ..compiler.ops.costs import weight_bytes

from .recurrent import gru_call, lstm_call

RUNTIME_COMMON = ["edgec.h", "edgec_target.h", "edgec_fixedpoint.h", "edgec_dot.h", "edgec_wide_c.h", "edgec_dot_common.h"]
#: op -> runtime_c/ file of its int8 kernel (OpDef.kernel_file, compiler/ops/).
KERNEL_FILE = ops_table("kernel_file")
#: One-group convs and fully-connected layers over wide weights (passes/plan_wide.py).
WIDE_FILES = {"Conv2D": "edgec_conv2d_wide_s8.c", "FullyConnected": "edgec_fully_connected_wide_s8.c"}
#: An int8 Conv2D's file by its loop nest (kernel_file): depthwise, the columns nest over a scratch, or
#: the other one-group and grouped nests (KERNEL_FILE's).
CONV_FILES = {"depthwise": "edgec_depthwise_conv2d_s8.c", "cols": "edgec_conv2d_cols_s8.c", "conv": "edgec_conv2d_s8.c"}
#: The runtime files a kernel file needs besides itself and RUNTIME_COMMON (copied with it).
KERNEL_SHARED = {f: ("edgec_conv_common.h", "edgec_conv_common.c") for f in CONV_FILES.values()}
#: Each conv loop nest's entry point (conv_entry) and the generic kernel that picks the same nest at run
#: time: a model image (codegen/image.py) calls the generic one, which its interpreter carries.
CONV_ENTRIES = {"edgec_conv2d_pointwise_s8": "edgec_conv2d_s8", "edgec_conv2d_rows_s8": "edgec_conv2d_s8",
                "edgec_conv2d_patch_s8": "edgec_conv2d_s8", "edgec_conv2d_taps_s8": "edgec_conv2d_s8",
                "edgec_depthwise_conv2d_lines_s8": "edgec_depthwise_conv2d_s8",
                "edgec_depthwise_conv2d_quads_s8": "edgec_depthwise_conv2d_s8",
                "edgec_depthwise_conv2d_planes_s8": "edgec_depthwise_conv2d_s8"}
CONV_ENTRIES.update({e: "edgec_conv2d_wide_s8" for e in ("edgec_conv2d_wide_pw_s8", "edgec_conv2d_wide4_s8", "edgec_conv2d_wide1_s8",
                                                               "edgec_conv2d_wide3x9_s8")})
EDGEC_PATCH_MAX = 64        # runtime_c/edgec_conv2d_s8.c: bytes of a gathered window
EDGEC_DW_ROWS, EDGEC_DW_RUN_MIN = 160, 12       # runtime_c/edgec_depthwise_conv2d_s8.c: the 3x3 lines
#: int16-activation nodes (output dtype int16; TFLite's 16x8 mode) and Requantize (int8 <-> int16).
KERNEL_FILE_S16 = ops_table("kernel_file16")
C_TYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t"}
C_SIZES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4, "int64_t": 8}
CALL = re.compile(r"\b(edgec_\w+_s8|edgec_\w+_s16|memcpy)\(")


def kernel_file(graph: Graph, node) -> str | None:
    """The runtime_c/ file of a node's kernel (None: no kernel, e.g. a Reshape), by op and precision, and
    for an int8 Conv2D by its loop nest (_conv_path)."""
    if node.op == "Requantize" or graph.tensors[node.outputs[0]].dtype == "int16":
        return KERNEL_FILE_S16.get(node.op)
    if node.name in graph.wide:                          # pre-sign-extended weights (passes/plan_wide.py)
        return WIDE_FILES[node.op]
    if node.op == "Conv2D":
        return CONV_FILES[_conv_path(graph, node)]
    return KERNEL_FILE.get(node.op)


def conv_entry(node, ish, osh, wsh, rows) -> str:
    """The entry point of the loop nest edgec_conv2d_s8 / edgec_depthwise_conv2d_s8 would pick at run
    time for a non-columns int8 Conv2D, picked here from the shapes by the same rule, so the firmware
    links only the nests its model calls.  `rows`: out_rows of each of the node's calls (one per band of
    a patch-based stage); a depthwise conv whose bands would pick different nests calls the dispatcher."""
    a = node.attrs
    k_h, k_w, in_c = wsh[1], wsh[2], ish[3]
    if a["groups"] == ish[3] == osh[3]:
        if (k_h == k_w == 3 and tuple(a["dilations"]) == (1, 1) and tuple(a["strides"]) in ((1, 1), (2, 2))
                and in_c % 4 == 0):            # the channel planes (Armv7E-M; the quads elsewhere)
            return "edgec_depthwise_conv2d_planes_s8"
        lines = [k_h == k_w == 3 and tuple(a["dilations"]) == (1, 1) and tuple(a["strides"]) == (1, 1)
                 and max(r, osh[2]) >= EDGEC_DW_RUN_MIN and 3 * (max(r, osh[2]) + 3) <= EDGEC_DW_ROWS for r in rows]
        return ("edgec_depthwise_conv2d_lines_s8" if all(lines) else
                "edgec_depthwise_conv2d_quads_s8" if not any(lines) else "edgec_depthwise_conv2d_s8")
    if a["groups"] != 1:
        return "edgec_conv2d_taps_s8"
    if ((k_h, k_w) == (1, 1) and tuple(a["strides"]) == (1, 1) and a["pads"][0] == a["pads"][1] == 0
            and tuple(osh[1:3]) == tuple(ish[1:3])):
        return "edgec_conv2d_pointwise_s8"
    if in_c % 4 == 0:
        return "edgec_conv2d_rows_s8"
    return "edgec_conv2d_patch_s8" if (k_h * k_w * in_c + 3) // 4 * 4 <= EDGEC_PATCH_MAX else "edgec_conv2d_taps_s8"


def _conv_path(graph: Graph, node) -> str:
    """An int8 Conv2D's loop nest: "depthwise" (one input and one output channel per group), "cols" (a
    one-group conv the memory plan gave a columns scratch) or "conv"."""
    ish, osh = graph.tensors[node.inputs[0]].shape, graph.tensors[node.outputs[0]].shape
    if node.attrs["groups"] == ish[3] == osh[3]:
        return "depthwise"
    return "cols" if graph.plan.scratch.get(node.name) else "conv"


def c_ident(text: str, limit: int = 48) -> str:
    s = re.sub(r"[^0-9A-Za-z_]", "_", text).strip("_") or "x"
    s = re.sub(r"_+", "_", s)
    if s[0].isdigit():
        s = "m_" + s
    return s[-limit:].lstrip("_") or "x"


def _array_literal(a: np.ndarray, per_line: int = 16) -> str:
    vals = [str(int(v)) for v in np.asarray(a).reshape(-1)]
    if np.asarray(a).dtype == np.int32:
        vals = [v if int(v) != -(1 << 31) else "INT32_MIN" for v in vals]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    return "\n    " + ",\n    ".join(lines) + "\n"


@dataclass
class _Emitter:
    graph: Graph
    prefix: str
    arrays: list = field(default_factory=list)       # (c type, name, values, comment, rom)
    params: list = field(default_factory=list)       # (struct type, name, initializer, comment)
    calls: list = field(default_factory=list)        # (comment, code)
    names: set = field(default_factory=set)
    arena16: bool = False                            # an int16 tensor lives in the arena
    #: every C name / pointer expression the calls use -> what it is, so codegen/image.py reads each call
    #: back as typed arguments: ("array", index in arrays), ("param", struct, fields), or ("act", where,
    #: byte offset, bytes it may touch)
    symbols: dict = field(default_factory=dict)
    #: a parameter struct's (type, initializer) -> its name: layers of the same shapes and constants (KWS's
    #: four depthwise and four pointwise convs) point at one struct in flash
    param_names: dict = field(default_factory=dict)
    #: (c type, rom, element values) -> index in arrays: identical constant arrays are stored once
    contents: dict = field(default_factory=dict)
    shared: dict = field(default_factory=dict)       # index in arrays -> how many more uses share it
    owner: int | None = None                         # the index of the node whose call is being emitted
    uses: dict = field(default_factory=dict)         # node index -> [(array bytes, shared with an earlier one)]
    #: a model of several inputs / outputs: storage root of each -> its run() argument (header io_facts)
    edge_ptrs: dict = field(default_factory=dict)
    #: the Calls made since the last take (codegen/calls.py): what the model image is built from
    recorded: list = field(default_factory=list)

    def call(self, fn: str, *args) -> str:
        """One kernel call `fn(args...);`, recorded as emitted (codegen/image.py builds the image from the
        record, not from the C).  `args`: C expressions (integers, names, pointers from ptr / scratch / band)."""
        c = Call(fn, tuple(str(a) for a in args))
        self.recorded.append(c)
        return c.text

    def take(self) -> tuple:
        """The Calls recorded since the last take."""
        out, self.recorded = tuple(self.recorded), []
        return out

    def scratch(self, node: str, cast: str) -> str:
        """A pointer to node's scratch in the arena (the memory plan's), cast for its kernel."""
        off = self.graph.plan.scratch[node]["offset"]
        text = f"{cast}(arena + {off})"
        self.symbols[text] = ("scratch", off)
        return text

    def band(self, base: str | None, k: int, m: int | None = None) -> str:
        """A patch-based stage's band expression: `r[k]`, `r[k] * m`, or `base + r[k] * m` (r: the band's row
        entries), registered with its parts for the model image."""
        text = f"r[{k}]" if m is None else f"r[{k}] * {m}" if base is None else f"{base} + r[{k}] * {m}"
        self.symbols[text] = ("band", base, k, 1 if m is None else m)
        return text

    def size_t(self, expr: str) -> str:
        """`(size_t)(expr)` for a memcpy's length (-Wsign-conversion), the same value to the model image."""
        text = f"(size_t)({expr})"
        self.symbols[text] = self.symbols[expr]
        return text

    def scaled(self, rows: str, m: int) -> str:
        """`rows * m` for a band's row count `rows` (a band() expression `r[k]`)."""
        kind, base, k, one = self.symbols[rows]
        assert kind == "band" and base is None and one == 1, rows
        return self.band(None, k, m)

    def name(self, base):
        n = c_ident(base)
        while n in self.names:
            n += "_"
        self.names.add(n)
        return n

    def array(self, tensor_or_values, base, ctype=None, comment="", rom=True, share=True):
        """A constant array in weights.c.  `rom` ones are read only through EDGEC_ROM pointers (flash on
        Harvard targets); constant operands of activation kernels (e.g. Add's) stay ordinary const data.
        An array whose C type, placement and elements equal an earlier one's is that one (its name is
        returned): a model that applies the same weights many times (an exporter's unrolled loop, a
        Siamese branch) holds them once in flash; `share=False` for one that must keep its own name."""
        if isinstance(tensor_or_values, str):
            t = self.graph.tensors[tensor_or_values]
            values, ctype, comment = t.data, C_TYPES[t.dtype], comment or t.name
        else:
            values = np.asarray(tensor_or_values)
        key = (ctype, rom, np.asarray(values).astype(np.int64).reshape(-1).tobytes())
        if self.owner is not None:
            self.uses.setdefault(self.owner, []).append((np.asarray(values).size * C_SIZES[ctype], share and key in self.contents))
        if share and key in self.contents:
            k = self.contents[key]
            self.shared[k] = self.shared.get(k, 0) + 1
            return self.arrays[k][1]
        if share:
            self.contents[key] = len(self.arrays)
        name = f"{self.prefix}_{self.name(base)}"
        self.arrays.append((ctype, name, values, comment, rom))
        self.symbols[name] = ("array", len(self.arrays) - 1)
        return name

    def param(self, struct, base, fields: dict, comment=""):
        def fmt(v):
            if isinstance(v, (list, tuple, np.ndarray)):
                return "{" + ", ".join(fmt(x) for x in v) + "}"
            if isinstance(v, dict):
                return "{" + ", ".join(f".{k} = {fmt(x)}" for k, x in v.items()) + "}"
            return str(int(v))
        key = (struct, fmt(fields))
        if key in self.param_names:
            return self.param_names[key]
        name = f"p_{self.name(base)}"
        self.params.append((struct, name, key[1], comment))
        self.symbols[name] = ("param", struct, fields)
        self.param_names[key] = name
        return name

    def ptr(self, tensor):
        text = self._ptr_text(tensor)
        t = self.graph.tensors[tensor]
        if not t.is_const:                                    # its place and extent, for the model image
            bufs = self.graph.plan.buffers
            b = bufs[tensor]
            sub = b["slice"][0] if b.get("slice") else 0
            off = (b["offset"] if b["where"] in ("arena", "state") else 0) + sub * t.nbytes // max(1, t.size)
            root = bufs[b["root"]]
            size = b["size"] if b.get("band") else t.nbytes   # a patch-based stage's band buffer: its rows only
            extent = max(size, b["offset"] + root["size"] - off if sub else 0)   # strided into a Concat's slice
            old = self.symbols.get(text)
            self.symbols[text] = ("act", b["where"], off, max(extent, old[3] if old else 0))
        return text

    def _ptr_text(self, tensor):
        t = self.graph.tensors[tensor]
        if t.is_const:
            return self.array(tensor, f"c_{tensor}", rom=False)
        b = self.graph.plan.buffers[tensor]
        sub = b["slice"][0] if b.get("slice") else 0          # a slice inside a Concat's output
        if t.dtype == "int16" and b["where"] == "state":       # SVDF's int16 state: bytes, read with memcpy
            return f"{self.prefix}_state + {b['offset']}"
        if t.dtype == "int16":                                # int16 tensors live in the arena, 4-aligned
            assert b["where"] == "arena" and not sub, tensor
            self.arena16 = True
            return f"arena16 + {b['offset'] // 2}"
        if b["where"] in ("input", "output"):
            arg = self.edge_ptrs.get(b["root"], b["where"])
            return arg if not sub else f"{arg} + {sub}"
        if b["where"] == "state":                             # a resource variable's persistent buffer
            return f"{self.prefix}_state + {b['offset']}"
        return f"arena + {b['offset'] + sub}"


def _folded_bias(g: Graph, node) -> np.ndarray:
    """bias - in_zp * sum(w) per output channel, so the kernels' inner loops are plain dot products."""
    w = g.tensors[node.inputs[1]].data.astype(np.int64)
    folded = g.tensors[node.inputs[2]].data.astype(np.int64) - node.attrs["in_zp"] * w.reshape(w.shape[0], -1).sum(axis=1)
    return wrap32(folded).astype(np.int32)          # the kernels add it modulo 2^32, as the reference wraps




def _pixel_stride(g: Graph, node) -> int:
    """Bytes between output pixels: the channel count, or the Concat's when writing into its slice."""
    sl = g.plan.buffers[node.outputs[0]].get("slice")
    return sl[1] if sl and sl[1] else g.tensors[node.outputs[0]].shape[-1]


def wide_entry(node, ish, osh, wsh) -> str:
    """The entry point of edgec_conv2d_wide_s8's loop nest with the window gather it would pick at run
    time (the same rule), so that the firmware links only the gathers its model uses."""
    a = node.attrs
    if ish[3] % 4:
        if wsh[1] == 3 and wsh[2] * ish[3] == 9 and tuple(a["dilations"]) == (1, 1):
            return "edgec_conv2d_wide3x9_s8"
        return "edgec_conv2d_wide1_s8"
    if ((wsh[1], wsh[2]) == (1, 1) and tuple(a["strides"]) == (1, 1) and a["pads"][0] == a["pads"][1] == 0
            and tuple(osh[1:3]) == tuple(ish[1:3])):
        return "edgec_conv2d_wide_pw_s8"
    return "edgec_conv2d_wide4_s8"


def _wide_call(e: _Emitter, i: int, node, x: str, out: str, r_in: str, r0: str, rn: str, base: str) -> str:
    """A one-group conv (its columns scratch in the arena) or a FullyConnected over wide weights and
    prepared requantization records (passes/plan_wide.py, codegen/layouts.py)."""
    g, a = e.graph, node.attrs
    ish, osh, wt = g.tensors[node.inputs[0]].shape, g.tensors[node.outputs[0]].shape, g.tensors[node.inputs[1]].data
    fc = node.op == "FullyConnected"       # its loop takes channel pairs; a conv's, channel quads
    layout, requant = (wide_layout, wide_requant) if fc else (wide_quad_layout, wide_quad_requant)
    w = e.array(layout(wt.reshape(wt.shape[0], -1)), f"w{i}_{node.name}", "int32_t",
                f"{node.inputs[1]}, in the wide {'' if fc else 'quad '}layout (int16 pairs)")
    rq = e.array(requant(_folded_bias(g, node), wide_channels(g, node), a["out_zp"]), f"rq{i}_{node.name}", "int32_t",
                 "mode, then per channel pair: folded biases b0 b1 b0 b1, then m, R, c, sh of each channel" if fc else
                 "mode, then per channel quad: folded biases b0 b1 b0 b1 b2 b3 b2 b3, then m, R, c, sh of each channel")
    common = dict(in_zp=a["in_zp"], out_zp=a["out_zp"], act_min=a["act_min"], act_max=a["act_max"])
    if fc:
        p = e.param("edgec_fully_connected_params", base, dict(batch=ish[0], in_features=ish[1], out_features=osh[1], **common))
        return e.call("edgec_fully_connected_wide_s8", f"&{p}", x, w, rq, out)
    wsh = g.tensors[node.inputs[1]].shape
    p = e.param("edgec_conv2d_params", base, dict(
        batch=ish[0], in_h=ish[1], in_w=ish[2], in_c=ish[3], out_h=osh[1], out_w=osh[2], out_c=osh[3],
        k_h=wsh[1], k_w=wsh[2], stride_h=a["strides"][0], stride_w=a["strides"][1],
        dil_h=a["dilations"][0], dil_w=a["dilations"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
        groups=1, out_stride=_pixel_stride(g, node), **common))
    return e.call(wide_entry(node, ish, osh, wsh), f"&{p}", x, r_in, w, rq, out, r0, rn,
                  e.scratch(node.name, "(int16_t *)(void *)"))


def _owned_call(e: _Emitter, i: int, node, band: dict | None = None) -> str | None:
    """_node_call, with the arrays it makes recorded as node i's (e.uses: what sharing saves per node)."""
    e.owner = i
    try:
        return _node_call(e, i, node, band)
    finally:
        e.owner = None


def _node_call(e: _Emitter, i: int, node, band: dict | None = None) -> str | None:
    """One kernel call.  `band` (patch-based stages) gives C expressions for the input and output
    pointers and the row arguments (in_row0, out_row0, out_rows) instead of the whole tensor's."""
    g, a = e.graph, node.attrs
    ins = [e.ptr(t) for t in node.inputs] if node.op not in ("Conv2D", "FullyConnected") else None
    out = e.ptr(node.outputs[0]) if band is None else band["out"]
    if band is not None and ins is not None:
        ins[0] = band["in"]
    out_shape = g.tensors[node.outputs[0]].shape
    r_in, r0, rn = (("0", "0", str(out_shape[1] if len(out_shape) == 4 else 0)) if band is None
                    else (band["in_row0"], band["out_row0"], band["out_rows"]))
    base = f"{i}_{node.name}"
    ish = g.tensors[node.inputs[0]].shape
    osh = g.tensors[node.outputs[0]].shape
    d = REGISTRY.get(node.op)
    if d is not None and d.emit is not None:              # the op's own emitter (compiler/ops/)
        return d.emit(e, CallSite(g, node, i, ins, out, r_in, r0, rn, band, base))
    if node.op in ("Conv2D", "FullyConnected") and g.tensors[node.outputs[0]].dtype == "int16":
        return _weighted_s16_call(e, i, node, band, base, r_in, r0, rn, out)
    if node.op in ("Conv2D", "FullyConnected"):
        x = e.ptr(node.inputs[0]) if band is None else band["in"]
        depthwise = node.op == "Conv2D" and a["groups"] == ish[3] == osh[3]
        wt = g.tensors[node.inputs[1]].data
        if node.name in g.wide:
            return _wide_call(e, i, node, x, out, r_in, r0, rn, base)
        if depthwise:       # [C, kh, kw, 1] -> [C/4][kh][kw][4]: four channels of a tap in one word
            w = e.array(dw_quad_layout(wt), f"w{i}_{node.name}", "int8_t", f"{node.inputs[1]}, as [C/4][kh][kw][4]")
        elif node.op == "Conv2D" and a["groups"] == 1:      # channel pairs interleaved by fours
            w = e.array(pair_layout(wt), f"w{i}_{node.name}", "int8_t", f"{node.inputs[1]}, in the pair layout")
        elif node.op == "FullyConnected":                  # channel quads interleaved by fours
            w = e.array(quad_layout(wt), f"w{i}_{node.name}", "int8_t", f"{node.inputs[1]}, in the quad layout")
        else:
            w = e.array(node.inputs[1], f"w{i}_{node.name}")
        b = e.array(_folded_bias(g, node), f"b{i}_{node.name}", "int32_t",
                    f"{node.inputs[2]} - in_zp * sum(weights): zero point folded in")
        m = e.array(np.asarray(a["multiplier"], np.int32), f"m{i}_{node.name}", "int32_t", "Q31 multipliers")
        s = e.array(np.asarray(a["shift"], np.int32), f"s{i}_{node.name}", "int32_t", "shifts")
        common = dict(in_zp=a["in_zp"], out_zp=a["out_zp"], act_min=a["act_min"], act_max=a["act_max"])
        if node.op == "Conv2D":
            wsh = g.tensors[node.inputs[1]].shape
            p = e.param("edgec_conv2d_params", base, dict(
                batch=ish[0], in_h=ish[1], in_w=ish[2], in_c=ish[3], out_h=osh[1], out_w=osh[2], out_c=osh[3],
                k_h=wsh[1], k_w=wsh[2], stride_h=a["strides"][0], stride_w=a["strides"][1],
                dil_h=a["dilations"][0], dil_w=a["dilations"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
                groups=a["groups"], out_stride=_pixel_stride(g, node), **common))
            path = _conv_path(g, node)
            entry = conv_entry(node, ish, osh, wsh, [osh[1]] if band is None else band["rows"])
            if path == "cols":                                 # the columns loop nest over its arena scratch
                return e.call("edgec_conv2d_cols_s8", f"&{p}", x, r_in, w, b, m, s, out, r0, rn,
                              e.scratch(node.name, "(int16_t *)(void *)"))
            return e.call(entry, f"&{p}", x, r_in, w, b, m, s, out, r0, rn)
        p = e.param("edgec_fully_connected_params", base, dict(
            batch=ish[0], in_features=ish[1], out_features=osh[1], **common))
        return e.call("edgec_fully_connected_s8", f"&{p}", x, w, b, m, s, out)
    if node.op == "LSTM":
        return lstm_call(e, i, node)
    if node.op == "GRU":
        return gru_call(e, i, node)
    raise EdgecError(f"no C kernel for op {node.op}", where=f"node {node.name}")


def _weighted_s16_call(e: _Emitter, i: int, node, band, base, r_in, r0, rn, out) -> str:
    """Conv2D (any groups, OHWI weights) / FullyConnected with int16 activations: int64 bias, no zero points."""
    g, a = e.graph, node.attrs
    ish, osh = g.tensors[node.inputs[0]].shape, g.tensors[node.outputs[0]].shape
    x = e.ptr(node.inputs[0]) if band is None else band["in"]
    w = e.array(node.inputs[1], f"w{i}_{node.name}")
    b = e.array(node.inputs[2], f"b{i}_{node.name}", comment=f"{node.inputs[2]} (int64)")
    m = e.array(np.asarray(a["multiplier"], np.int32), f"m{i}_{node.name}", "int32_t", "Q31 multipliers")
    s = e.array(np.asarray(a["shift"], np.int32), f"s{i}_{node.name}", "int32_t", "shifts")
    common = dict(in_zp=0, out_zp=0, act_min=a["act_min"], act_max=a["act_max"])
    if node.op == "FullyConnected":
        p = e.param("edgec_fully_connected_params", base, dict(batch=ish[0], in_features=ish[1], out_features=osh[1], **common))
        return e.call("edgec_fully_connected_s16", f"&{p}", x, w, b, m, s, out)
    wsh = g.tensors[node.inputs[1]].shape
    p = e.param("edgec_conv2d_params", base, dict(
        batch=ish[0], in_h=ish[1], in_w=ish[2], in_c=ish[3], out_h=osh[1], out_w=osh[2], out_c=osh[3],
        k_h=wsh[1], k_w=wsh[2], stride_h=a["strides"][0], stride_w=a["strides"][1],
        dil_h=a["dilations"][0], dil_w=a["dilations"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
        groups=a["groups"], out_stride=osh[3], **common))
    return e.call("edgec_conv2d_s16", f"&{p}", x, r_in, w, b, m, s, out, r0, rn)


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("edgec.codegen", "templates"), keep_trailing_newline=True,
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _comment(graph: Graph, i: int, node) -> str:
    shapes = " ".join(str(list(graph.tensors[t].shape)) for t in node.inputs if not graph.tensors[t].is_const)
    fn = "/" + node.attrs["function"] if node.op == "Lut" else ""
    return f"{i}: {node.name} ({node.op}{fn}) {shapes} -> {list(graph.tensors[node.outputs[0]].shape)}".replace("*/", "* /")


def _stage_loop(e: _Emitter, k: int, stage: dict, first: int) -> tuple:
    """A patch-based stage: a loop over row bands, each running every node of the stage on its band.
    Returns its C and its Loop record (codegen/calls.py)."""
    g = e.graph
    nodes = g.nodes[first:first + len(stage["nodes"])]
    order = stage["bands"][::-1] if stage.get("reverse") else stage["bands"]   # bottom up: output above its input
    carry = stage.get("carry")        # line buffers (passes/tile.py carry_rows), per band in run order
    moves = max((len(c[3]) for cb in carry for c in cb), default=0) if carry else 0
    if carry:       # per node: in_row0, out_row0, out_off, out_rows, then per move dst, rows, src, rows (a pointer's rows follow it)
        rows = np.asarray([[v for b, c in zip(band, cb)
                            for v in [b[0], c[0], c[1], c[2]] + [x for mv in c[3] + [[0, 0, 0]] * (moves - len(c[3]))
                                                                 for x in (mv[0], mv[2], mv[1], mv[2])]]
                           for band, cb in zip(order, carry)], np.int32)
        what = f"(in_row0, out_row0, out_off, out_rows, {moves} x (dst, rows, src, rows)): line buffers"
    else:
        rows = np.asarray([[v for b in band for v in b] for band in order], np.int32)
        what = "(in_row0, out_row0, out_rows)"
    # stages with the same bands (KWS's four DS-CNN blocks, alternating up and down) share one table: array()
    # stores equal arrays once
    table = e.array(rows, f"stage{k}_rows", "int32_t", f"stage {k}: per band, per node {what}")
    per = 4 + 4 * moves if carry else 3
    width = per * len(nodes)
    body = []
    lines = [f"for (band = 0; band < {stage['tiles']}; band++) {{",
             f"    const EDGEC_ROM int32_t *r = {table} + band * {width};"]
    for j, node in enumerate(nodes):
        _, _, w_out, c_out = g.tensors[node.outputs[0]].shape
        src = [t for t in node.inputs if not g.tensors[t].is_const][0]
        _, _, w_in, c_in = g.tensors[src].shape
        in_ptr = e.ptr(src)
        if j == 0 and node.op == "Lut":                      # whole input, same rows as its output
            in_ptr = e.band(in_ptr, per * j + 1, w_in * c_in)
        out_ptr = e.ptr(node.outputs[0])
        lines.append(f"    /* {_comment(g, first + j, node)} */")
        moved = []
        if carry:                      # int8 rows (carry_rows)
            off, n = per * j + 2, per * j + 3
            for m in range(moves if j < len(nodes) - 1 else 0):   # the rows this band keeps, moved first
                a = per * j + 4 + 4 * m
                moved.append(e.call("memcpy", e.band(out_ptr, a, w_out * c_out), e.band(out_ptr, a + 2, w_out * c_out),
                                    e.size_t(e.band(None, a + 1, w_out * c_out))))
            out_ptr = e.band(out_ptr, off, w_out * c_out)
        elif j == len(nodes) - 1:                            # whole output: write at the band's first row
            off, n = per * j + 1, per * j + 2
            out_ptr = e.band(out_ptr, off, w_out * c_out)
        else:
            n = per * j + 2
        band = {"in": in_ptr, "out": out_ptr, "in_row0": e.band(None, per * j), "out_row0": e.band(None, per * j + 1),
                "out_rows": e.band(None, n), "rows": [b[j][2] for b in carry] if carry else [b[j][2] for b in stage["bands"]]}
        code = _owned_call(e, first + j, node, band)
        lines.extend("    " + c for c in moved + ([code] if code else []))
        body.append(_recorded(e, "\n    ".join(moved + ([code] if code else [])) if moved else code))
    lines.append("}")
    whole = None if any(b is None for b in body) else tuple(c for b in body for c in b)
    return "\n    ".join(lines), None if whole is None else Loop(int(stage["tiles"]), table, width, whole)


def _recorded(e: _Emitter, code: str | None) -> tuple | None:
    """The Calls recorded for `code` (an emitter's C), None when they are not exactly its C (an emitter
    that wrote C without e.call: the model image refuses the step rather than guess)."""
    got = e.take()
    return got if "\n    ".join(c.text for c in got) == (code or "") else None


def _state_steps(e: _Emitter, graph: Graph, steps: list, calls: list, record: list) -> dict | None:
    """A stateful graph (Graph.state): after the last node, copy each variable's new value into its
    state buffer (steps, counted as calls of the node that made the value); returns the template's
    state facts (size, initial bytes in weights.c), None for a stateless graph."""
    entries = graph.state
    if not entries:
        return None
    buffers = graph.plan.buffers
    prod = {o: i for i, n in enumerate(graph.nodes) for o in n.outputs}
    init = np.zeros(graph.plan.state_size, np.int8)
    # a variable assigned another's old value copies it before that one is overwritten (the reference
    # assigns them all at once)
    for s in sorted(entries, key=lambda s: s.next is None or buffers.get(s.next, {}).get("where") != "state"):
        b = buffers[s.tensor]
        init[b["offset"]:b["offset"] + b["size"]] = \
            np.asarray(s.init).astype("<i2" if graph.tensors[s.tensor].dtype == "int16" else np.int8).view(np.int8).reshape(-1)
        nxt = s.next
        if nxt is None or (not graph.tensors[nxt].is_const and buffers[nxt]["root"] == b["root"]):
            continue                                  # never reassigned, or assigned its own bytes
        steps.append((f"state {s.variable}: {s.tensor} <- {nxt}",
                      e.call("memcpy", e.ptr(s.tensor), e.ptr(nxt), b['size'])))
        record.append(Step(steps[-1][0], e.take()))
        calls.append(prod.get(nxt, len(graph.nodes) - 1))
    rom = e.array(init, "state_init", "int8_t", "initial values of the state (the init subgraph's)", rom=False,
                  share=False)     # codegen/image.py finds it by name
    return {"size": int(len(init)), "init": rom, "values": _array_literal(init),
            "variables": [(s.variable, buffers[s.tensor]["offset"], buffers[s.tensor]["size"]) for s in entries]}


def _uint8_edges(graph: Graph) -> dict:
    """{"input": bool, "output": bool}: the model file's edge is uint8, and so is the C API there
    (uint8 v is edgec's int8 v - 128: the run() converts with ^ 0x80)."""
    edges = graph.meta.get("edges", {})
    return {k: edges.get(k, {}).get("file_dtype") == "uint8" for k in ("input", "output")}


def generate(graph: Graph, model_name: str, header: dict) -> dict:
    """{filename: text} for model.h, model.c, weights.c, plus the list of runtime files they need."""
    prefix = f"edgec_{model_name}"
    e = _Emitter(graph, prefix)
    if header.get("io"):            # several inputs / outputs: each its own argument of run()
        bufs = graph.plan.buffers
        e.edge_ptrs = {bufs[r["tensor"]]["root"]: r["param"] for r in header["io"]["inputs"] + header["io"]["outputs"]}
    steps = []
    record = []                  # steps' Steps (codegen/calls.py), in code order: the model image's source
    stages = {st["nodes"][0]: (k, st) for k, st in enumerate(graph.tiling)}
    calls = []                   # the node of every call in run(), in code order (for per-layer profiles)
    skip = 0
    for i, node in enumerate(graph.nodes):
        if skip:
            skip -= 1
            continue
        if node.name in stages:
            k, st = stages[node.name]
            code, loop = _stage_loop(e, k, st, i)
            steps.append((f"{i}-{i + len(st['nodes']) - 1}: patch-based stage {k}, {st['tiles']} row bands "
                          f"(intermediates kept as bands)", code))
            record.append(Step(steps[-1][0], None if loop is None else (loop,)))
            for j in range(len(st["nodes"])):
                calls.extend([i + j] * len(CALL.findall(code.split(f"/* {i + j}: ")[1].split("/*")[0])))
            skip = len(st["nodes"]) - 1
            continue
        steps.append((_comment(graph, i, node), _owned_call(e, i, node)))
        record.append(Step(steps[-1][0], _recorded(e, steps[-1][1])))
        calls.extend([i] * len(CALL.findall(steps[-1][1] or "")))
    state = _state_steps(e, graph, steps, calls, record)
    u8 = _uint8_edges(graph)
    api = {"in_ctype": "uint8_t" if u8["input"] else "int8_t", "out_ctype": "uint8_t" if u8["output"] else "int8_t",
           "input_zp_api": header["input_zp"] + (128 if u8["input"] else 0),
           "output_zp_api": header["output_zp"] + (128 if u8["output"] else 0)}
    for k, more in sorted(e.shared.items()):     # weights.c says which arrays several nodes use
        c, n, v, m, rom = e.arrays[k]
        e.arrays[k] = (c, n, v, f"{m} (and {more} more use{'s' if more > 1 else ''} of the same values)", rom)
    # the flash sharing saves, on the report's per-node scale (compiler/ops/costs.weight_bytes): a node all
    # of whose arrays are earlier ones' costs nothing; one that shares some saves those arrays' bytes
    shared_bytes = sum(weight_bytes(graph, graph.nodes[i]) if all(s for _, s in u) else sum(b for b, s in u if s)
                       for i, u in e.uses.items() if any(s for _, s in u))
    ctx = dict(prefix=prefix, state=state, edge_u8=u8, **api, upper=prefix.upper(), model=model_name, arrays=[(c, n, _array_literal(v), len(np.asarray(v).reshape(-1)), m.replace("*/", "* /"), "EDGEC_ROM " if rom else "")
                                                            for c, n, v, m, rom in e.arrays],
               params=e.params, steps=steps, tiled=bool(stages), arena16=e.arena16, needs_string_h=bool(state) or any(c and 'memcpy(' in c for _, c in steps), arena=graph.plan.arena_size, **header)
    files = {"model.h": _ENV.get_template("model.h.j2").render(ctx),
             "model.c": _ENV.get_template("model.c.j2").render(ctx),
             "weights.c": _ENV.get_template("weights.c.j2").render(ctx)}
    kernels = {f for f in (kernel_file(graph, n) for n in graph.nodes) if f}
    runtime = sorted(set(RUNTIME_COMMON) | kernels | {h for f in kernels for h in KERNEL_SHARED.get(f, ())})
    build_ctx = dict(ctx, sources=["model.c", "weights.c"] + [f for f in runtime if f.endswith(".c")],
                     upper_model=model_name.upper())
    files["CMakeLists.txt"] = _ENV.get_template("CMakeLists.txt.j2").render(build_ctx)
    files["edgec.mk"] = _ENV.get_template("edgec.mk.j2").render(build_ctx)
    return {"files": files, "runtime": runtime, "calls": calls, "steps": steps, "record": record, "emitter": e,
            "shared_bytes": int(shared_bytes)}
