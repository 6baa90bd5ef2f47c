"""Mutators: byte-level (any format) and structure-aware (ONNX, Keras, Darknet, TFLite), and the seeded
case they make: every choice comes from an `rng` with random.Random's methods (see the package docstring)."""
from __future__ import annotations

import copy
import io
import json
import random
import zipfile

import numpy as np

from .seeds import Case, seeds, set_net_size


# --------------------------------------------------------------------------------------------------
# interesting values
# --------------------------------------------------------------------------------------------------
INTS = [0, 1, -1, 2, 3, 7, 255, 256, -128, 65535, 2**31 - 1, -2**31, 2**31, 2**32 + 1, 2**40, 2**62, -2**63, 2**63 - 1]
FLOATS = [0.0, -0.0, 1.0, -1.0, 1e-45, 1e-7, 0.5, 1e30, -1e30, 3.4e38, 1e308, float("inf"), float("-inf"), float("nan")]
WORDS = ["", "same", "valid", "causal", "full", "channels_first", "relu", "linear", "leaky", "bogus", "SAME_UPPER",
         "SAME_LOWER", "VALID", "NOTSET", "reflect", "edge", "constant", "hard_sigmoid", "softmax", "a" * 300,
         "line1\nline2", "\x1b[31mred\x1b[0m", "sep\u2028arator", "..", "../../etc/passwd", "/etc/passwd", "\x00"]
NAMES = ["x", "", "a\nb", "c\rd", "\x1b]0;title\x07", "e\u2028f", "g\x85h", "n" * 5000, "../up", "/abs", "名前"]


def pick_int(rng):
    v = rng.choice(INTS)
    return v if rng.random() < 0.8 else v + rng.randint(-3, 3)


def pick_float(rng):
    return rng.choice(FLOATS) if rng.random() < 0.8 else (rng.random() - 0.5) * 10 ** rng.randint(-10, 40)


def pick_json(rng, depth=0):
    r = rng.randrange(8 if depth < 2 else 5)
    if r == 0:
        return None
    if r == 1:
        return pick_int(rng)
    if r == 2:
        return pick_float(rng)
    if r == 3:
        return rng.choice(WORDS)
    if r == 4:
        return rng.choice([True, False])
    if r == 5:
        return [pick_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if r == 6:
        return {rng.choice(["name", "config", "class_name", "x", ""]): pick_json(rng, depth + 1) for _ in range(rng.randrange(3))}
    return [pick_int(rng) for _ in range(rng.randrange(1, 5))]


# --------------------------------------------------------------------------------------------------
# byte-level mutators (any format)
# --------------------------------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng, other: bytes | None = None) -> tuple[bytes, str]:
    b = bytearray(data)
    n = len(b)
    kind = rng.randrange(7) if n else 5
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), "bitflip"
    if kind == 1:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(n)
            v = rng.choice([0, 0xFF, 0x7F, 0x80, 0x01, 0xFE])
            w = rng.choice([1, 2, 4, 8])
            b[i:i + w] = bytes([v]) * min(w, n - i)
        return bytes(b), "interesting-bytes"
    if kind == 2:
        return bytes(b[:rng.randrange(n)]), "truncate"
    if kind == 3:
        i = rng.randrange(n)
        j = min(n, i + rng.randint(1, max(1, n // rng.choice([2, 16, 256]))))
        return bytes(b[:i] + b[j:]), "delete-chunk"
    if kind == 4:
        i = rng.randrange(n)
        j = min(n, i + rng.randint(1, 64))
        k = rng.randrange(n + 1)
        return bytes(b[:k] + b[i:j] * rng.randint(1, 4) + b[k:]), "duplicate-chunk"
    if kind == 5:
        k = rng.randrange(n + 1)
        return bytes(b[:k] + rng.randbytes(rng.randint(1, 32)) + b[k:]), "insert-random"
    if other:
        i, j = rng.randrange(n), rng.randrange(len(other))
        return bytes(b[:i] + other[j:]), "splice"
    return bytes(b[:n // 2]), "truncate-half"


# --------------------------------------------------------------------------------------------------
# ONNX: protobuf fields through the onnx API
# --------------------------------------------------------------------------------------------------
ONNX_OPS = ["Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "MaxPool",
            "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Reshape", "Flatten", "Squeeze",
            "Unsqueeze", "Transpose", "Pad", "Concat", "Softmax", "Identity", "Dropout", "Constant", "Erf", ""]
ONNX_ATTRS = ["kernel_shape", "strides", "pads", "dilations", "group", "axis", "axes", "perm", "alpha", "beta", "transA",
              "transB", "auto_pad", "ceil_mode", "count_include_pad", "epsilon", "mode", "min", "max", "value", "allowzero"]
EXTERNAL_LOCATIONS = ["../outside.bin", "../../../../../../etc/passwd", "/etc/passwd", "sub/../../outside.bin",
                      "ext.bin", "missing.bin", "", ".", "..", "C:\\windows\\x.bin", "..\\x.bin", "ext.bin\x00.txt",
                      "./ext.bin", "sub/ext.bin"]


def _onnx_values(model) -> list:
    g = model.graph
    names = [i.name for i in g.input] + [i.name for i in g.initializer]
    for n in g.node:
        names += list(n.output)
    return names or ["x"]


def _mutate_tensor(t, rng) -> str:
    from onnx import TensorProto as T
    k = rng.randrange(7)
    if k == 0:
        dims = list(t.dims)
        r = rng.randrange(5)
        if r == 0:
            dims = [rng.choice([2**40, 2**31, 2**20, 0, -1, 3])] * rng.randint(1, 4)
        elif r == 1 and dims:
            dims[rng.randrange(len(dims))] = pick_int(rng)
        elif r == 2:
            dims.insert(rng.randrange(len(dims) + 1), rng.choice([1, 2, 0]))
        elif r == 3 and dims:
            dims.pop(rng.randrange(len(dims)))
        else:
            dims = [2**20, 2**20]
        del t.dims[:]
        t.dims.extend(max(-2**63, min(2**63 - 1, d)) for d in dims)
        return "tensor-dims"
    if k == 1:
        t.data_type = rng.choice([0, T.FLOAT, T.UINT8, T.INT8, T.INT32, T.INT64, T.STRING, T.BOOL, T.FLOAT16,
                                  T.DOUBLE, T.UINT64, T.COMPLEX64, T.BFLOAT16, 17, 21, 22, 99, 1000])
        return "tensor-dtype"
    if k == 2:
        if t.raw_data:
            t.raw_data = t.raw_data[:rng.randrange(len(t.raw_data) + 1)]
        else:
            t.raw_data = rng.randbytes(rng.randint(0, 64))
        return "tensor-raw-data"
    if k == 3:
        t.ClearField("raw_data")
        t.float_data.extend([pick_float(rng) for _ in range(rng.randint(0, 6))])
        return "tensor-float-data"
    if k == 4:
        t.data_location = T.EXTERNAL
        del t.external_data[:]
        for key, val in (("location", rng.choice(EXTERNAL_LOCATIONS)),
                         ("offset", rng.choice(["0", "4", "-8", "abc", str(2**40), ""])),
                         ("length", rng.choice(["48", "12", "0", "-1", str(2**62), "x"]))):
            if rng.random() < 0.9:
                e = t.external_data.add()
                e.key, e.value = key, val
        return "tensor-external"
    if k == 5:
        if t.raw_data:
            raw = bytearray(t.raw_data)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(raw) // 4) * 4 if len(raw) >= 4 else 0
                raw[i:i + 4] = np.array([rng.choice([np.nan, np.inf, -np.inf, 3.4e38])], "<f4").tobytes()[:len(raw) - i]
            t.raw_data = bytes(raw)
        return "tensor-nan"
    t.data_location = rng.choice([0, 1, 2, 5])
    return "tensor-data-location"


def _mutate_attribute(node, rng) -> str:
    from onnx import AttributeProto as A, helper as h
    if not node.attribute or rng.random() < 0.25:
        name = rng.choice(ONNX_ATTRS)
        r = rng.randrange(4)
        val = ([pick_int(rng) for _ in range(rng.randrange(6))] if r == 0 else pick_int(rng) if r == 1
               else pick_float(rng) if r == 2 else rng.choice(WORDS).encode("utf-8", "replace"))
        if isinstance(val, list) and not val:
            a = node.attribute.add()
            a.name, a.type = name, A.INTS
        else:
            node.attribute.append(h.make_attribute(name, val))
        return f"attr-add:{name}"
    a = node.attribute[rng.randrange(len(node.attribute))]
    r = rng.randrange(6)
    if r == 0:
        node.attribute.remove(a)
        return f"attr-drop:{a.name}"
    if r == 1:
        a.type = rng.choice([A.INT, A.INTS, A.FLOAT, A.FLOATS, A.STRING, A.TENSOR, A.GRAPH, 0, 99])
        return f"attr-type:{a.name}"
    if a.type == A.INT or r == 2:
        a.i = max(-2**63, min(2**63 - 1, pick_int(rng)))
    elif a.type == A.INTS or r == 3:
        del a.ints[:]
        a.ints.extend(max(-2**63, min(2**63 - 1, pick_int(rng))) for _ in range(rng.randrange(9)))
    elif a.type == A.FLOAT:
        a.f = pick_float(rng)
    elif a.type == A.STRING:
        a.s = rng.choice(WORDS).encode("utf-8", "replace")
    elif a.type == A.TENSOR:
        return "attr-" + _mutate_tensor(a.t, rng)
    else:
        a.f = pick_float(rng)
    return f"attr-value:{a.name}"


def mutate_onnx_model(data: bytes, rng) -> tuple[bytes, str]:
    import onnx
    m = onnx.ModelProto()
    m.ParseFromString(data)
    g = m.graph
    k = rng.randrange(12)
    if k == 0 and g.initializer:
        return _finish(m, "init-" + _mutate_tensor(g.initializer[rng.randrange(len(g.initializer))], rng))
    if k == 1 and g.node:
        return _finish(m, _mutate_attribute(g.node[rng.randrange(len(g.node))], rng))
    if k == 2 and g.node:
        n = g.node[rng.randrange(len(g.node))]
        n.op_type = rng.choice(ONNX_OPS)
        return _finish(m, f"op-type:{n.op_type}")
    if k == 3 and g.node:
        n = g.node[rng.randrange(len(g.node))]
        r = rng.randrange(5)
        vals = _onnx_values(m)
        if r == 0 and n.input:
            del n.input[rng.randrange(len(n.input))]
        elif r == 1:
            n.input.append(rng.choice(vals + ["", "nowhere"]))
        elif r == 2 and n.input:
            n.input[rng.randrange(len(n.input))] = rng.choice(vals + ["", "nowhere"] + list(n.output))
        elif r == 3 and n.output:
            n.output[rng.randrange(len(n.output))] = rng.choice(vals + ["", "dup"])
        else:
            del n.output[:]
        return _finish(m, "node-io")
    if k == 4 and g.node:
        nodes = list(g.node)
        r = rng.randrange(4)
        if r == 0:
            nodes.pop(rng.randrange(len(nodes)))
        elif r == 1:
            i = rng.randrange(len(nodes))
            nodes.insert(rng.randrange(len(nodes) + 1), copy.deepcopy(nodes[i]))
        elif r == 2:
            i, j = rng.randrange(len(nodes)), rng.randrange(len(nodes))
            nodes[i], nodes[j] = nodes[j], nodes[i]
        else:
            nodes = nodes[::-1]
        del g.node[:]
        g.node.extend(nodes)
        return _finish(m, "node-order")
    if k == 5:
        vals = _onnx_values(m)
        n = onnx.helper.make_node(rng.choice(ONNX_OPS[:-2]), [rng.choice(vals) for _ in range(rng.randint(0, 3))],
                                  [f"fuzz_{rng.randrange(100)}"], name=f"fuzz_node_{rng.randrange(100)}")
        for _ in range(rng.randrange(3)):
            _mutate_attribute(n, rng)
        g.node.insert(rng.randrange(len(g.node) + 1), n)
        if rng.random() < 0.5 and g.output:
            g.output[0].name = n.output[0]
        return _finish(m, f"node-insert:{n.op_type}")
    if k == 6 and g.input:
        vi = g.input[rng.randrange(len(g.input))]
        tt = vi.type.tensor_type
        r = rng.randrange(5)
        if r == 0 and tt.shape.dim:
            d = tt.shape.dim[rng.randrange(len(tt.shape.dim))]
            d.dim_value = max(-2**63, min(2**63 - 1, pick_int(rng)))
        elif r == 1:
            tt.elem_type = rng.choice([0, 2, 3, 6, 7, 10, 11, 99])
        elif r == 2:
            tt.shape.dim.add().dim_value = rng.choice([1, 2**20, 2**40, 0])
        elif r == 3 and tt.shape.dim:
            del tt.shape.dim[rng.randrange(len(tt.shape.dim))]
        else:
            vi.ClearField("type")
        return _finish(m, "graph-input")
    if k == 7:
        r = rng.randrange(4)
        vals = _onnx_values(m)
        if r == 0 and g.output:
            g.output[rng.randrange(len(g.output))].name = rng.choice(vals + ["nowhere"])
        elif r == 1:
            del g.output[:]
        elif r == 2 and g.input:
            del g.input[rng.randrange(len(g.input))]
        else:
            g.input.add().CopyFrom(g.input[0] if g.input else onnx.ValueInfoProto(name="extra"))
            g.input[-1].name = rng.choice(vals + ["extra"])
        return _finish(m, "graph-io")
    if k == 8:
        del m.opset_import[:]
        if rng.random() < 0.8:
            m.opset_import.add(domain=rng.choice(["", "ai.onnx", "com.microsoft"]),
                               version=rng.choice([1, 6, 7, 9, 10, 11, 12, 13, 17, 21, 99, 0, -1, 2**40]))
        return _finish(m, "opset")
    if k == 9:
        what = rng.randrange(3)
        nm = rng.choice(NAMES)
        if what == 0 and g.node:
            g.node[rng.randrange(len(g.node))].name = nm
        elif what == 1 and g.initializer:
            t = g.initializer[rng.randrange(len(g.initializer))]
            for n in g.node:
                for i, x in enumerate(n.input):
                    if x == t.name:
                        n.input[i] = nm
            t.name = nm
        else:
            m.graph.name = nm
        return _finish(m, "names")
    if k == 10 and g.node:
        n = g.node[rng.randrange(len(g.node))]
        for _ in range(rng.randint(1, 3)):
            _mutate_attribute(n, rng)
        return _finish(m, "attrs-many")
    if k == 11:
        # many nodes: an Identity chain far past any real model (resource limits)
        src = g.input[0].name if g.input else "x"
        count = rng.choice([10_001, 20_000])
        prev = src
        nodes = []
        for i in range(count):
            nodes.append(onnx.helper.make_node("Identity", [prev], [f"chain{i}"]))
            prev = f"chain{i}"
        g.node.extend(nodes)
        return _finish(m, f"many-nodes:{count}")
    return _finish(m, "noop")


def _finish(m, op):
    return m.SerializeToString(), op


def mutate_onnx(case: Case, rng) -> Case:
    r = rng.random()
    entry = case.files[case.entry]
    if r < 0.25:
        other = rng.choice(seeds()["onnx"]).files
        data, op = mutate_bytes(entry, rng, next(iter(other.values())))
        return case.mutated("bytes:" + op, **{case.entry: data})
    if r < 0.3 and len(case.files) > 1:
        side = next(k for k in case.files if k != case.entry)
        data, op = mutate_bytes(case.files[side], rng)
        return case.mutated(f"{side}:{op}", **{side: data})
    try:
        data, op = mutate_onnx_model(entry, rng)
    except Exception as e:          # the bytes are already not a parseable model: mutate them as bytes
        data, op = mutate_bytes(entry, rng)
        op = f"bytes({type(e).__name__}):{op}"
    return case.mutated(op, **{case.entry: data})


# --------------------------------------------------------------------------------------------------
# Keras: config JSON, HDF5 datasets/attributes (h5py), .keras zip members
# --------------------------------------------------------------------------------------------------
def _json_slots(obj, out, depth=0):
    if depth > 12:
        return
    if isinstance(obj, dict):
        for k in list(obj):
            out.append((obj, k))
            _json_slots(obj[k], out, depth + 1)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            out.append((obj, i))
            _json_slots(obj[i], out, depth + 1)


def _layers(cfg):
    c = cfg.get("config") if isinstance(cfg, dict) else None
    if isinstance(c, list):
        return c
    if isinstance(c, dict) and isinstance(c.get("layers"), list):
        return c["layers"]
    return None


KERAS_CLASSES = ["InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv1D", "Dense", "BatchNormalization",
                 "Activation", "ReLU", "LeakyReLU", "Add", "Subtract", "Multiply", "Concatenate", "MaxPooling2D",
                 "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Reshape", "Dropout",
                 "ZeroPadding2D", "Rescaling", "Normalization", "Softmax", "LSTM", "Lambda"]
KERAS_KEYS = ["filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation",
              "use_bias", "axis", "pool_size", "target_shape", "max_value", "negative_slope", "threshold", "alpha",
              "scale", "offset", "mean", "variance", "invert", "keepdims", "center", "epsilon", "batch_shape",
              "batch_input_shape", "depth_multiplier", "name"]


def mutate_config(cfg, rng) -> str:
    layers = _layers(cfg)
    k = rng.randrange(9)
    if k < 3 or not layers:
        slots = []
        _json_slots(cfg, slots)
        if not slots:
            return "config-empty"
        obj, key = rng.choice(slots)
        r = rng.randrange(4)
        if r == 0 and isinstance(obj, dict):
            del obj[key]
            return f"json-delete:{key}"
        if r == 1 and isinstance(obj, list) and len(obj) < 10_000:
            obj.insert(key, copy.deepcopy(obj[key]))
            return "json-duplicate"
        obj[key] = pick_json(rng)
        return f"json-set:{key}"
    layer = rng.choice(layers)
    lc = layer.get("config") if isinstance(layer, dict) else None
    if k == 3 and isinstance(layer, dict):
        layer["class_name"] = rng.choice(KERAS_CLASSES)
        return f"layer-class:{layer['class_name']}"
    if k == 4 and isinstance(lc, dict):
        key = rng.choice(KERAS_KEYS)
        lc[key] = pick_json(rng) if rng.random() < 0.6 else [pick_int(rng) for _ in range(rng.randint(1, 4))]
        return f"layer-key:{key}"
    if k == 5:
        i, j = rng.randrange(len(layers)), rng.randrange(len(layers))
        layers[i], layers[j] = layers[j], layers[i]
        return "layer-swap"
    if k == 6 and isinstance(layer, dict):
        nodes = layer.get("inbound_nodes")
        names = [l.get("name") or (l.get("config") or {}).get("name") for l in layers if isinstance(l, dict)]
        r = rng.randrange(4)
        if r == 0:
            layer["inbound_nodes"] = [] if rng.random() < 0.5 else [nodes, nodes] if nodes else [[["nowhere", 0, 0, {}]]]
        elif r == 1:
            layer["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__",
                                                 "config": {"keras_history": [rng.choice(names + ["nowhere"]), 0, 0]}}],
                                       "kwargs": {}}]
        elif r == 2:
            layer["inbound_nodes"] = [[[rng.choice(names + ["nowhere"]), 0, 0, {}]]]
        else:
            layer["inbound_nodes"] = pick_json(rng)
        return "layer-inbound"
    if k == 7:
        c = cfg.get("config")
        if isinstance(c, dict):
            c[rng.choice(["output_layers", "input_layers"])] = rng.choice(
                [[], ["nowhere", 0, 0], [["nowhere", 0, 0]], pick_json(rng), [[layers[0].get("name"), 0, 0]]
                 if isinstance(layers[0], dict) else None])
        return "io-layers"
    # resource limits: a layer list far past any microcontroller model
    count = rng.choice([10_001, 20_000])
    layers.extend(layers[-1] for _ in range(count))          # the same object: json.dumps writes it `count` times
    return f"many-layers:{count}"


def deep_json(depth=100_000) -> str:
    return "[" * depth + "]" * depth


def _h5_datasets(f):
    out = []
    f.visititems(lambda name, obj: out.append(name) if hasattr(obj, "dtype") else None)
    return out


def mutate_h5(data: bytes, rng, keras3: bool) -> tuple[bytes, str]:
    import h5py
    bio = io.BytesIO(data)
    with h5py.File(bio, "r+") as f:
        dsets = _h5_datasets(f)
        k = rng.randrange(7)
        if k <= 2 and dsets:
            name = rng.choice(dsets)
            old = f[name]
            shape = old.shape
            del f[name]
            r = rng.randrange(8)
            if r == 0:        # declared, never written: HDF5 stores no data for it
                f.create_dataset(name, shape=tuple(rng.choice([2**20, 2**15, 2**31]) for _ in range(rng.randint(1, 4))),
                                 dtype="f4", chunks=True, fillvalue=0)
            elif r == 1:
                new = tuple(max(1, d + rng.choice([-1, 1, 5])) for d in shape) if shape else (3,)
                f.create_dataset(name, data=np.zeros(new, "f4"))
            elif r == 2:
                f.create_dataset(name, data=np.array([b"text", b"x"], dtype=h5py.string_dtype()))
            elif r == 3:
                f.create_dataset(name, data=np.full(shape or (), np.nan, "f4"))
            elif r == 4:
                f.create_dataset(name, data=np.zeros((0,) + tuple(shape[1:]), "f4"))
            elif r == 5:
                f.create_dataset(name, data=np.float32(1.5))
            elif r == 6:
                f.create_dataset(name, data=np.zeros(shape or (2,), [("a", "i4"), ("b", "f8")]))
            else:
                f.create_group(name)
            return bio.getvalue(), f"h5-dataset:{r}"
        if k == 3 and dsets:
            del f[rng.choice(dsets)]
            return bio.getvalue(), "h5-delete"
        groups = []
        f.visititems(lambda n, o: groups.append(n) if not hasattr(o, "dtype") else None)
        if k == 4 and not keras3:
            grp = f[rng.choice([g for g in groups if g.count("/") == 1] or ["/"])]
            names = list(grp.attrs.get("weight_names", []))
            r = rng.randrange(5)
            val = ([b"nowhere:0"] if r == 0 else names[::-1] if r == 1 else np.array([1, 2, 3]) if r == 2
                   else names * 2 if r == 3 else np.array([rng.choice(NAMES).encode("utf-8")]))
            grp.attrs["weight_names"] = val
            return bio.getvalue(), f"h5-weight-names:{r}"
        if k == 4 and keras3 and groups:
            g = f[rng.choice(groups)]
            g.attrs["name"] = rng.choice([np.int64(3), b"\xff\xfe", "other", np.array([1.0, 2.0])])
            return bio.getvalue(), "h5-vars-name"
        if k == 5 and not keras3:
            key = rng.choice(["model_config", "keras_version", "backend"])
            r = rng.randrange(5)
            f.attrs[key] = (np.int64(7) if r == 0 else b"\xff\xfe\x00" if r == 1 else np.array([1, 2])
                            if r == 2 else json.dumps(pick_json(rng)) if r == 3 else deep_json(rng.choice([1000, 100_000])))
            return bio.getvalue(), f"h5-attr:{key}:{r}"
        if k == 6 and not keras3:
            raw = f.attrs["model_config"]
            cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            op = mutate_config(cfg, rng)
            f.attrs["model_config"] = json.dumps(cfg)
            return bio.getvalue(), op
    return bio.getvalue(), "h5-noop"


def _zip(members: list, compress=zipfile.ZIP_STORED) -> bytes:
    import warnings
    bio = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(bio, "w", compress) as z:
        warnings.simplefilter("ignore")                    # duplicate member names are one of the mutations
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name), data)
    return bio.getvalue()


def mutate_keras_zip(data: bytes, rng) -> tuple[bytes, str]:
    z = zipfile.ZipFile(io.BytesIO(data))
    members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    k = rng.randrange(7)
    names = [n for n, _ in members]
    if k <= 2 and "config.json" in names:
        i = names.index("config.json")
        cfg = json.loads(members[i][1])
        op = mutate_config(cfg, rng) if rng.random() < 0.9 else "config-deep"
        members[i] = ("config.json", (json.dumps(cfg) if op != "config-deep" else deep_json()).encode())
        return _zip(members), op
    if k == 3 and "model.weights.h5" in names:
        i = names.index("model.weights.h5")
        h5, op = mutate_h5(members[i][1], rng, keras3=True)
        members[i] = ("model.weights.h5", h5)
        return _zip(members), op
    if k == 4:
        bad = rng.choice(["../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "..\\evil.txt", "C:/evil.txt",
                          "sub/../config.json", "./config.json"])
        members.insert(rng.randrange(len(members) + 1), (bad, b"x"))
        return _zip(members), f"zip-member:{bad}"
    if k == 5:
        r = rng.randrange(4)
        if r == 0 and "metadata.json" in names:
            members[names.index("metadata.json")] = ("metadata.json", json.dumps(pick_json(rng)).encode())
        elif r == 1:
            members = [(n, d) for n, d in members if n != rng.choice(names)]
        elif r == 2:
            members.append((rng.choice(names), rng.randbytes(rng.randint(0, 100))))
        else:
            members = [(rng.choice(names) if j == 0 else n, d) for j, (n, d) in enumerate(members)]
        return _zip(members), f"zip-members:{r}"
    # header fields: compression method, flags, sizes of the central directory entries
    raw = bytearray(data)
    cd = raw.rfind(b"PK\x01\x02")
    if cd < 0:
        return bytes(raw), "zip-noop"
    field_, width, value = rng.choice([(10, 2, rng.choice([99, 14, 12, 1])), (8, 2, 1), (24, 4, 0xFFFFFFFF),
                                       (24, 4, 1 << 30), (20, 4, 0xFFFFFFFF), (42, 4, 0xFFFFFFF0)])
    raw[cd + field_:cd + field_ + width] = value.to_bytes(width, "little")
    return bytes(raw), f"zip-header:{field_}"


def mutate_keras(case: Case, rng) -> Case:
    data = case.files[case.entry]
    r = rng.random()
    try:
        if r < 0.2:
            data, op = mutate_bytes(data, rng)
            op = "bytes:" + op
        elif case.entry.endswith(".keras"):
            data, op = mutate_keras_zip(data, rng)
        else:
            data, op = mutate_h5(data, rng, keras3=False)
    except Exception as e:        # already unparseable by the mutator: fall back to bytes
        data, op = mutate_bytes(data, rng)
        op = f"bytes({type(e).__name__}):{op}"
    return case.mutated(op, **{case.entry: data})


# --------------------------------------------------------------------------------------------------
# Darknet: cfg lines and weights
# --------------------------------------------------------------------------------------------------
CFG_VALUES = ["0", "1", "-1", "2", "-2", "3", "100", "-2147483648", "2147483648", "99999999", "1e30", "1e400", "nan",
              "inf", "-inf", "", "1,", ",", "1,,2", "0x10", "1.5", "abc", "9" * 400, "-9" * 200, "1,2,3,4,5,6,7,8,9",
              "leaky", "linear", "logistic", "bogus", "0,0,0", "-1,-2", "-100", "5,-30"]
CFG_SECTIONS = ["convolutional", "maxpool", "avgpool", "route", "shortcut", "upsample", "dropout", "connected",
                "softmax", "yolo", "net", "region", "local", "crnn"]
CFG_KEYS = ["filters", "size", "stride", "pad", "padding", "groups", "group_id", "batch_normalize", "activation",
            "layers", "from", "output", "mask", "anchors", "classes", "num", "width", "height", "channels",
            "scale_x_y"]


def mutate_cfg(text: str, rng) -> tuple[str, str]:
    lines = text.splitlines()
    idx = [i for i, l in enumerate(lines) if "=" in l and not l.lstrip().startswith(("#", ";"))]
    heads = [i for i, l in enumerate(lines) if l.strip().startswith("[")]
    k = rng.randrange(10)
    if k <= 3 and idx:
        i = rng.choice(idx)
        key = lines[i].split("=", 1)[0].strip()
        lines[i] = f"{key}={rng.choice(CFG_VALUES)}"
        return "\n".join(lines) + "\n", f"cfg-value:{key}"
    if k == 4 and heads:
        i = rng.choice(heads)
        lines.insert(i + 1, f"{rng.choice(CFG_KEYS)}={rng.choice(CFG_VALUES)}")
        return "\n".join(lines) + "\n", "cfg-add-key"
    if k == 5 and heads:
        i = rng.choice(heads)
        lines[i] = f"[{rng.choice(CFG_SECTIONS)}]"
        return "\n".join(lines) + "\n", "cfg-section-type"
    if k == 6 and len(heads) > 2:
        a = rng.choice(heads[1:])
        nxt = [h for h in heads if h > a]
        b = nxt[0] if nxt else len(lines)
        block = lines[a:b]
        r = rng.randrange(3)
        if r == 0:
            del lines[a:b]
        elif r == 1:
            j = rng.choice(heads[1:])
            lines[j:j] = block
        else:
            lines[b:b] = block * rng.choice([2, 50])
        return "\n".join(lines) + "\n", f"cfg-section:{r}"
    if k == 7 and lines:
        i = rng.randrange(len(lines))
        r = rng.randrange(3)
        if r == 0:
            del lines[i]
        elif r == 1:
            lines.insert(i, rng.choice(["[", "[]", "key", "=", "=1", "[ ]", "[net", "x==1", "\x00", "\ufeff[net]", "\t"]))
        else:
            lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]
        return "\n".join(lines) + "\n", f"cfg-line:{r}"
    if k == 8:
        # resource limits: a section count or an input far past any real model
        r = rng.randrange(3)
        if r == 0:
            return text + "\n[dropout]\n" * rng.choice([20_000, 1_000_000]), "cfg-many-sections"
        if r == 1:
            return text + "\n[maxpool]\nsize=1\nstride=1\n" * 12_000, "cfg-many-layers"
        size = rng.choice([100_000, 2**31, 2**40])
        return set_net_size(text, size), f"cfg-huge-input:{size}"
    return text.replace("\n", rng.choice(["\r\n", "\r", "\n\n"])), "cfg-newlines"


def mutate_weights(data: bytes, rng) -> tuple[bytes, str]:
    k = rng.randrange(4)
    if k == 0 and len(data) >= 16:
        b = bytearray(data)
        i = rng.choice([0, 4, 8, 12])
        b[i:i + 4] = np.array([rng.choice([0, 1, 2, 1000, -1, 2**31 - 1, -2**31])], "<i4").tobytes()
        return bytes(b), "weights-header"
    if k == 1 and len(data) >= 24:
        f = np.frombuffer(data, "<f4", offset=20, count=(len(data) - 20) // 4).copy()
        for _ in range(rng.randint(1, 8)):
            f[rng.randrange(len(f))] = rng.choice([np.nan, np.inf, -np.inf, -1.0, 0.0, 3.4e38])
        return data[:20] + f.tobytes() + data[20 + 4 * len(f):], "weights-floats"
    if k == 2:
        return data + rng.randbytes(rng.choice([1, 3, 4, 400])), "weights-extend"
    return data[:rng.randrange(len(data) + 1)], "weights-truncate"


def mutate_darknet(case: Case, rng) -> Case:
    cfg = case.entry
    weights = cfg[:-4] + ".weights"
    r = rng.random()
    if r < 0.6:
        text = case.files[cfg].decode("utf-8", "replace")
        text, op = mutate_cfg(text, rng)
        return case.mutated(op, **{cfg: text.encode("utf-8", "surrogatepass")})
    if r < 0.75:
        data, op = mutate_bytes(case.files[cfg], rng)
        return case.mutated("cfg-bytes:" + op, **{cfg: data})
    data, op = mutate_weights(case.files[weights], rng)
    return case.mutated(op, **{weights: data})


def mutate_tflite(case: Case, rng) -> Case:
    """Byte-level mutations of the flatbuffer (offsets, vtables, buffers), splicing the other seed."""
    other = next(iter(rng.choice(seeds()["tflite"]).files.values()))
    data, op = mutate_bytes(case.files[case.entry], rng, other)
    return case.mutated(op, **{case.entry: data})


MUTATORS = {"onnx": mutate_onnx, "keras": mutate_keras, "darknet": mutate_darknet, "tflite": mutate_tflite}


def make_case(fmt: str, rng) -> Case:
    case = rng.choice(seeds()[fmt])
    for _ in range(1 if rng.random() < 0.6 else rng.randint(2, 3)):
        case = MUTATORS[fmt](case, rng)
    return case


def seeded_case(fmt: str, seed: int, index: int) -> Case:
    """Case `index` of a seeded run: the same (fmt, seed, index) always gives the same files."""
    return make_case(fmt, random.Random(f"{fmt}:{seed}:{index}"))
