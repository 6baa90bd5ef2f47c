"""The model image: a planned integer graph as data a firmware interpreter runs (runtime_c/edgec_image.c).

No second emitter: codegen/c.py records every call as it emits it (codegen/calls.py: kernel, argument
expressions, band loops), and its emitter keeps a symbol for every name and pointer expression it puts in
them (arrays, parameter structs, activation places with their extents, scratches, band expressions).
The image's schedule is that record read through that table, so the C and the image cannot disagree on
a kernel, an argument or an offset; the C stays byte-identical.

Format (all little-endian; every section 8-aligned; the image must sit 8-aligned in memory):

  header, 256 bytes
     0  "EDGECIMG"                      magic
     8  u32 format version (FORMAT)
    12  u32 total length in bytes
    16  sha256 of bytes [48, total)     "the body": everything after the hash, rest of the header included
    48  u32 0x01020304                  byte-order mark (read natively: a big-endian core refuses the image)
    52  u32 kernel ABI (EDGEC_IMAGE_KERNEL_ABI in edgec_image.h)
    56  model name, 32 bytes NUL-padded; 88  model version, 16 bytes
   104  u32 arena bytes the caller gives run(): the plan's arena, then the state, then (uint8 input) its copy
   108  u32 state offset in the arena; 112 u32 state bytes; 116 u32 uint8-input copy offset in the arena
   120  u32 input bytes; 124 u32 output bytes; 128 u32 flags (1: input uint8, 2: output uint8)
   132  i32 input zero point, scale as Q31 multiplier, shift (real = m * 2^(shift - 31) * (q - zp)); 144 output's
   156  u32 number of kernels needed; 160 u32 offset of their ids (u32 each)
   164  u32 number of calls; 168 u32 schedule offset; 172 u32 schedule bytes
   176  u32 data offset; 180 u32 data bytes; 184 u32 offset of the state's initial bytes (in the data)
   188  u32 golden inputs; 192 u32 self-test offset; the rest zero
  kernels: the ids the schedule uses, ascending
  schedule: per call, u32 words: kernel id | number of arguments << 8 | the record's bytes << 16; one
            word per argument, as the kernel takes it (an integer: the int32 itself; a pointer: its kind
            << 29 | its byte offset, kinds edgec_image.h EDGEC_IMAGE_ARG_*: arena, input, output, state,
            image); then, in a loop's body only, one band word per argument (k | m << 8: the argument
            plus r[k] * m, r being the band's row entries; 0: not banded); last, one extent word per
            argument (the bytes a pointer covers; 0 for integers and banded pointers), which only
            edgec_image_check() reads.  run() decodes a pointer as base[kind] + offset and an integer as
            its word, nothing more: check() has proven every word first.  A patch-based stage
            (passes/tile.py) is a LOOP record (id 0xFF; arguments tiles, its row table in the data,
            entries per band), its body's calls (id | 0x80), run once per band, and an END record (id
            0xFE, no arguments); a banded pointer covers r[k + 1] rows of m bytes
            (codegen.c._stage_loop's in_row0/out_row0/out_rows)
  data: each weight array, table and parameter struct (int32 fields in edgec.h's order), 8-aligned
  self-test: N golden inputs (as run() takes them), then N sha256 of the outputs the integer reference
            gives for them, run as one stream from the initial state

Only data travels: no code, and the interpreter checks every kind, offset and extent before it runs.
"""
from __future__ import annotations

import hashlib
import re
import struct
from importlib import resources

import numpy as np

from ..compiler.errors import EdgecError
from ..compiler.fixedpoint import quantize_multiplier
from ..compiler.ir import Graph
from .c import CONV_ENTRIES
from .calls import Call, Loop

FORMAT = 2                     # 2: one word per argument (1: kind, value, extent words)
MAGIC = b"EDGECIMG"
HEADER = 256
BODY_FROM = 48
ARG_ARENA, ARG_INPUT, ARG_OUTPUT, ARG_STATE, ARG_DATA = range(1, 6)
KIND_SHIFT, OFFSET_MASK = 29, (1 << 29) - 1     # a pointer argument's word: kind << 29 | offset
LOOP, END, IN_LOOP = 0xFF, 0xFE, 0x80   # a stage: LOOP, its body's calls (id | IN_LOOP) once per band, END
WHERE_KIND = {"arena": ARG_ARENA, "input": ARG_INPUT, "output": ARG_OUTPUT, "state": ARG_STATE}
DTYPES = {"int8_t": "<i1", "uint8_t": "<u1", "int16_t": "<i2", "uint16_t": "<u2", "int32_t": "<i4", "int64_t": "<i8"}
IMAGE_FILE = "model.edgecimg"
GOLDEN = 4                     # golden inputs a build puts in the self-test ...
GOLDEN_BYTES = 32768           # ... fewer (at least one) where they would take more than this


def _runtime_text(name: str) -> str:
    return resources.files("edgec.runtime_c").joinpath(name).read_text()


def kernel_table() -> tuple[int, dict]:
    """(kernel ABI, {name: (id, argument kinds)}) from edgec_image.h's X-macro table: declared once, in C."""
    text = _runtime_text("edgec_image.h")
    abi = int(re.search(r"#define EDGEC_IMAGE_KERNEL_ABI (\d+)u", text).group(1))
    return abi, {m.group(2): (int(m.group(1)), m.group(3))
                 for m in re.finditer(r'X\((\d+), (\w+), "(\w+)", \w+\)', text)}


def struct_fields() -> dict:
    """{struct: [(field, element count or a struct name)]} of edgec.h's parameter structs, in C order."""
    text = re.sub(r"/\*.*?\*/", "", _runtime_text("edgec.h"), flags=re.S)
    out = {}
    for body, name in re.findall(r"typedef struct \{(.*?)\} (\w+);", text, re.S):
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            ctype, names = decl.split(None, 1)
            for n in names.split(","):
                m = re.match(r"\s*(\w+)(?:\[(\d+)\])?", n)
                fields.append((m.group(1), ctype if ctype != "int32_t" else int(m.group(2) or 0)))
        out[name] = fields
    return out


def _flatten(structs: dict, name: str, values: dict) -> list:
    if name not in structs:
        raise EdgecError(f"the model image has no layout for parameter struct {name} (not in runtime_c/edgec.h)")
    words = []
    for field, kind in structs[name]:
        v = values.get(field, {} if isinstance(kind, str) else 0)
        if isinstance(kind, str):
            words += _flatten(structs, kind, v)
        elif kind:
            seq = [int(x) for x in np.asarray(v).reshape(-1)]
            words += seq + [0] * (kind - len(seq))
        else:
            words.append(int(v))
    return words


def _arg(e, text: str, node_scratch: dict, comment: str, in_loop: bool):
    """One argument expression of a recorded Call (codegen/calls.py) -> ("int", v) | ("act", where, offset,
    extent) | ("array", index) | ("param", struct, fields) | ("band", typed base, k, m), through the symbols
    the emitter registered when it made the expression; None: not one it knows."""
    t = text[1:] if text.startswith("&") else text
    try:
        return ("int", int(t))
    except ValueError:
        pass
    sym = e.symbols.get(t)
    if sym is None:
        return None
    if sym[0] == "scratch":                       # a kernel's scratch, from the plan; a tensor may share its offset
        act = e.symbols.get(f"arena + {sym[1]}")   # (an LSTM's state where the softmax after it writes): the larger
        extent = node_scratch[sym[1]]             # extent, both inside the arena
        return ("act", "arena", sym[1], max(extent, act[3]) if act and act[0] == "act" else extent)
    if sym[0] == "act" and sym[1] == "arena" and t == f"arena + {sym[2]}" and sym[2] in node_scratch:
        return ("act", "arena", sym[2], max(node_scratch[sym[2]], sym[3]))     # at a scratch's offset, as above
    if sym[0] == "band":                          # `base + r[k] * m`, `r[k] * m` or `r[k]`: in a stage's loop only
        if not in_loop:
            return None
        _, base_text, k, mul = sym
        base = ("int", 0) if base_text is None else _arg(e, base_text, node_scratch, comment, False)
        if base is None or base[0] not in ("int", "act") or k >= 127 or not 0 < mul < 1 << 24:
            raise EdgecError(f"cannot put step '{comment}' in a model image: band argument '{t}' "
                             "(row index below 127, row bytes 1 to 2^24 - 1)")
        return ("band", base, k, mul)
    return sym


def schedule(graph: Graph, gen: dict) -> list:
    """[(step comment, kernel name, [typed args])] of generate()'s run(), in order, from the calls codegen
    recorded as it emitted them (gen["record"], codegen/calls.py); a patch-based stage's loop is ("loop",
    tiles, row table array index, entries per band, [its calls])."""
    e = gen["emitter"]
    scratch = {}                       # offset -> the largest scratch there (convs at different steps share offsets)
    for s in graph.plan.scratch.values():
        scratch[s["offset"]] = max(scratch.get(s["offset"], 0), s["size"])
    calls = []

    def call(comment, c: Call, in_loop):
        typed = [_arg(e, a, scratch, comment, in_loop) for a in c.args]
        if any(t is None for t in typed):
            bad = next(a for a, t in zip(c.args, typed) if t is None)
            raise EdgecError(f"cannot put step '{comment}' in a model image: argument '{bad}' of {c.fn}")
        fn = CONV_ENTRIES.get(c.fn, c.fn)              # a conv nest's own entry: its generic kernel
        return (comment, fn[len("edgec_"):] if fn.startswith("edgec_") else fn, typed)

    for step in gen["record"]:
        if step.sites is None:
            raise EdgecError(f"cannot put step '{step.comment}' in a model image: its C was not recorded "
                             "(an op's emit must make each call with e.call)")
        for site in step.sites:
            if isinstance(site, Loop):                    # a patch-based stage (codegen.c._stage_loop)
                table = e.symbols.get(site.table)
                if table is None or table[0] != "array":
                    raise EdgecError(f"cannot put step '{step.comment}' in a model image: an unknown loop")
                calls.append(("loop", site.tiles, table[1], site.width, [call(step.comment, c, True) for c in site.body]))
            else:
                calls.append(call(step.comment, site, False))
    return calls


def _align(n: int, a: int = 8) -> int:
    return (n + a - 1) // a * a


def _quant(graph: Graph, tensor: str) -> tuple:
    q = graph.tensors[tensor].quant
    m, s = quantize_multiplier(q.scalar_scale)
    return int(q.scalar_zp), int(m), int(s)


def check_one_io(graph: Graph) -> None:
    """The image's header holds one input and one output (their shapes and quantization); a model of
    several is refused in one line, its C (model.c) being the way to run it."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise EdgecError(f"the model image holds models of one input and one output; this one has "
                         f"{len(graph.inputs)} input{'s' * (len(graph.inputs) != 1)} and {len(graph.outputs)} output"
                         f"{'s' * (len(graph.outputs) != 1)}", hint="link the generated C (model.c) instead")


def write_image(graph: Graph, gen: dict, name: str, golden: np.ndarray, version: str = "1") -> bytes:
    """The image of a planned integer graph and its generate() result.  `golden`: int8 inputs
    [N, ...input shape] as edgec's reference takes them (int8 inside); their outputs come from the
    integer reference.  Raises EdgecError (one line) for what the format cannot hold."""
    from ..compiler import reference
    check_one_io(graph)
    abi, kernels = kernel_table()
    structs = struct_fields()
    calls = schedule(graph, gen)
    e = gen["emitter"]
    plan = graph.plan
    tin, tout = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    if tin.dtype != "int8" or tout.dtype != "int8":
        raise EdgecError(f"the model image takes int8 input and output; this model's are {tin.dtype} / {tout.dtype}")
    edges = graph.meta.get("edges", {})
    u8_in = edges.get("input", {}).get("file_dtype") == "uint8"
    u8_out = edges.get("output", {}).get("file_dtype") == "uint8"
    state_off = _align(plan.arena_size, 4)
    state_bytes = int(plan.state_size or 0) if graph.state else 0
    incopy = _align(state_off + state_bytes, 4)
    arena = incopy + (tin.size if u8_in else 0)

    # data: every array and parameter struct a call uses, 8-aligned, in first-use order
    data, place = bytearray(), {}

    def put(key, blob):
        if key not in place:
            data.extend(b"\0" * (_align(len(data)) - len(data)))
            place[key] = (len(data), len(blob))
            data.extend(blob)
        return place[key]

    def array_blob(index):
        ctype, name_, values, _, _ = e.arrays[index]
        if ctype not in DTYPES:
            raise EdgecError(f"the model image cannot hold {name_}: element type {ctype}")
        return np.asarray(values).astype(DTYPES[ctype]).tobytes()

    records, used = [], set()

    def encode(t):
        """(word, band word, extent, whether it points into the data) of one argument; a data
        pointer's offset is in the data until the sections are placed (_records_bytes adds theirs)."""
        if t[0] == "int":
            if not -1 << 31 <= t[1] < 1 << 31:
                raise EdgecError(f"the model image cannot hold the integer argument {t[1]} (int32)")
            return (t[1] & 0xFFFFFFFF, 0, 0, False)
        if t[0] == "band":                                # word + r[k] * m: the band word carries k and m
            word, _, _, in_data = encode(t[1])
            return (word, t[2] | t[3] << 8, 0, in_data)
        if t[0] == "act":
            kind, value, extent = WHERE_KIND[t[1]], t[2], t[3]
        elif t[0] == "array":
            kind, (value, extent) = ARG_DATA, put(("a", t[1]), array_blob(t[1]))
        else:
            words = _flatten(structs, t[1], t[2])
            kind, (value, extent) = ARG_DATA, put(("p", id(t[2])), np.asarray(words, np.int64).astype("<i4").tobytes())
        return (kind << KIND_SHIFT | value, 0, extent, kind == ARG_DATA)

    def kernel_record(comment, fn, typed, in_loop=False):
        if fn not in kernels:
            raise EdgecError(f"cannot put step '{comment}' in a model image: no image kernel for {fn}")
        kid, sig = kernels[fn]
        if len(typed) != len(sig):
            raise EdgecError(f"step '{comment}': {fn} takes {len(sig)} arguments in edgec_image.h, the C passes {len(typed)}")
        used.add(kid)
        return (kid | (IN_LOOP if in_loop else 0), [encode(t) for t in typed], in_loop)

    for c in calls:
        if c[0] == "loop":
            _, tiles, table, width, body = c
            records.append((LOOP, [encode(("int", tiles)), encode(("array", table)), encode(("int", width))], False))
            records.extend(kernel_record(*b, in_loop=True) for b in body)
            records.append((END, [], False))
        else:
            records.append(kernel_record(*c))
    state_init = 0
    if state_bytes:
        idx = next(k for k, a in enumerate(e.arrays) if a[1] == f"{e.prefix}_state_init")
        state_init = put(("a", idx), array_blob(idx))[0]

    # golden inputs and their outputs' hashes, in run()'s own representation
    golden = np.ascontiguousarray(golden, np.int8).reshape((-1,) + tuple(tin.shape))
    outs = reference.run_batch(graph, golden, stream=True).astype(np.int8) if len(golden) else np.zeros((0,), np.int8)
    gin = golden ^ np.int8(-128) if u8_in else golden
    gout = outs ^ np.int8(-128) if u8_out else outs
    tests = gin.tobytes() + b"".join(hashlib.sha256(o.tobytes()).digest() for o in gout)

    kern = b"".join(struct.pack("<I", k) for k in sorted(used))
    sched = _records_bytes(records, 0)
    off_k = HEADER
    off_s = _align(off_k + len(kern))
    off_d = _align(off_s + len(sched))
    off_t = _align(off_d + len(data))
    total = _align(off_t + len(tests))
    if off_d + len(data) > OFFSET_MASK or arena > OFFSET_MASK:
        raise EdgecError("the model image's data and arena must each stay below 512 MB (29-bit offsets)")
    sched = _records_bytes(records, off_d)                 # data offsets -> image offsets
    head = bytearray(HEADER)
    head[0:8] = MAGIC
    struct.pack_into("<II", head, 8, FORMAT, total)
    struct.pack_into("<II", head, 48, 0x01020304, abi)
    head[56:88] = name.encode()[:31].ljust(32, b"\0")
    head[88:104] = str(version).encode()[:15].ljust(16, b"\0")
    struct.pack_into("<9I", head, 104, arena, state_off, state_bytes, incopy, tin.size, tout.size,
                     u8_in | u8_out << 1, 0, 0)
    struct.pack_into("<3i3i", head, 132, *_quant(graph, graph.inputs[0]), *_quant(graph, graph.outputs[0]))
    struct.pack_into("<10I", head, 156, len(used), off_k, len(records), off_s, len(sched), off_d, len(data),
                     state_init + off_d if state_bytes else 0, len(golden), off_t if len(golden) else 0)
    img = bytearray(total)
    img[:HEADER] = head
    img[off_k:off_k + len(kern)] = kern
    img[off_s:off_s + len(sched)] = sched
    img[off_d:off_d + len(data)] = data
    img[off_t:off_t + len(tests)] = tests
    img[16:48] = hashlib.sha256(bytes(img[BODY_FROM:])).digest()
    return bytes(img)


def _records_bytes(records: list, data_at: int) -> bytes:
    """The schedule section: per record its word 0, argument words, band words (in a loop's body) and
    extents; a data pointer's offset moved by `data_at`."""
    out = []
    for kid, args, in_loop in records:
        words = [w + data_at if in_data else w for w, _, _, in_data in args]
        words += [b for _, b, _, _ in args] if in_loop else []
        words += [n for _, _, n, _ in args]
        out.append(struct.pack(f"<{len(words) + 1}I", kid | len(args) << 8 | 4 * (len(words) + 1) << 16, *words))
    return b"".join(out)


def read_header(img: bytes) -> dict:
    """The header's fields (for the CLI and tests); EdgecError if it is not an image."""
    if len(img) < HEADER or img[:8] != MAGIC:
        raise EdgecError("not an edgec model image (bad magic or too short)")
    f = struct.unpack_from("<II", img, 8) + struct.unpack_from("<II", img, 48)
    u = struct.unpack_from("<9I", img, 104)
    q = struct.unpack_from("<6i", img, 132)
    s = struct.unpack_from("<10I", img, 156)
    h = {"format": f[0], "bytes": f[1], "sha256": img[16:48].hex(), "kernel_abi": f[3],
         "name": img[56:88].split(b"\0")[0].decode(), "version": img[88:104].split(b"\0")[0].decode(),
         "arena_bytes": u[0], "state_offset": u[1], "state_bytes": u[2], "input_copy_offset": u[3],
         "input_bytes": u[4], "output_bytes": u[5], "flags": u[6],
         "input_quant": {"zero_point": q[0], "scale_q31": q[1], "scale_shift": q[2]},
         "output_quant": {"zero_point": q[3], "scale_q31": q[4], "scale_shift": q[5]},
         "kernel_ids": list(struct.unpack_from(f"<{s[0]}I", img, s[1])), "calls": s[2], "schedule": [s[3], s[4]],
         "data": [s[5], s[6]], "state_init": s[7], "selftests": s[8], "selftest_offset": s[9]}
    names = {k: n for n, (k, _) in kernel_table()[1].items()}
    h["kernels"] = [names.get(k, "?") for k in h["kernel_ids"]]
    return h


def golden_inputs(img: bytes) -> np.ndarray:
    """An image's golden inputs as int8 (edgec's inside representation), [N, input bytes]."""
    h = read_header(img)
    n, size = h["selftests"], h["input_bytes"]
    raw = np.frombuffer(img, np.int8, n * size, h["selftest_offset"]).reshape(n, size) if n else np.zeros((0, size), np.int8)
    return raw ^ np.int8(-128) if h["flags"] & 1 else raw.copy()


def records(img: bytes) -> list:
    """The schedule's records: {"id" (IN_LOOP cleared), "at" (byte offset of word 0), "args": [(word,
    band word, extent, byte offset of the word)], "in_loop"}; for tools and tests (check() is the C's)."""
    h = read_header(img)
    p, end, out = h["schedule"][0], h["schedule"][0] + h["schedule"][1], []
    while p < end:
        word = struct.unpack_from("<I", img, p)[0]
        n, in_loop, size = word >> 8 & 0xFF, word & 0xFF < LOOP - 1 and bool(word & IN_LOOP), word >> 16
        w = struct.unpack_from(f"<{size // 4 - 1}I", img, p + 4)
        bands = w[n:2 * n] if in_loop else (0,) * n
        args = [(w[k], bands[k], w[len(w) - n + k], p + 4 + 4 * k) for k in range(n)]
        out.append({"id": word & 0xFF if word & 0xFF >= END else word & 0x7F, "at": p, "args": args, "in_loop": in_loop})
        p += max(4, size)
    return out


def calls_per_run(img: bytes) -> int:
    """Kernel calls one run() makes: a loop's body counts once per band."""
    n, tiles = 0, 0
    for r in records(img):
        if r["id"] == LOOP:
            tiles = r["args"][0][0]
        elif r["id"] != END:
            n += tiles if r["in_loop"] else 1
    return n
