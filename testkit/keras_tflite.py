"""A float .tflite written from a Keras 3 model the way the TensorFlow Lite converter lays one out, for
tests of float TFLite files built from public architectures (the converter itself needs TensorFlow,
which is not a dependency).

What the converter does and this writer repeats (its documented output for these layers):
- NHWC activations; CONV_2D filters [out, kh, kw, in], DEPTHWISE_CONV_2D filters [1, kh, kw, c * mult],
  FULLY_CONNECTED weights [out, in]; a bias tensor on every conv and dense (zeros when the layer has none);
- BatchNormalization after a conv or dense folded into its weights and bias; ReLU / ReLU6 after a conv,
  dense, add or pool fused as the op's activation, otherwise a RELU / RELU6 / LOGISTIC / TANH /
  HARD_SWISH op of its own;
- SeparableConv2D as DEPTHWISE_CONV_2D then CONV_2D; Conv2DTranspose as TRANSPOSE_CONV (output shape,
  filter [out, kh, kw, in], input, bias; the activation fused); GlobalAveragePooling2D as MEAN over axes 1, 2;
  ZeroPadding2D as PAD; Flatten / Reshape as RESHAPE (with a dynamic batch: the batch taken by SHAPE,
  STRIDED_SLICE and PACK into RESHAPE's new shape); UpSampling2D as RESIZE_NEAREST_NEIGHBOR;
  Dropout and InputLayer vanish.
Layers outside that list raise ValueError naming them: the writer is for tests, not a converter.
"""
from __future__ import annotations

import numpy as np

from .tflite_writer import Model

F = np.float32
PADDING = {"same": 0, "valid": 1}
ACT = {None: 0, "linear": 0, "relu": 1, "relu6": 3}
OWN_ACT = {"sigmoid": "LOGISTIC", "tanh": "TANH", "hard_swish": "HARD_SWISH", "hard_silu": "HARD_SWISH",
           "relu": "RELU", "relu6": "RELU6", "softmax": "SOFTMAX"}


def _graph(model) -> list:
    """(layer, names of the layers it reads) in model order, for Sequential and functional models."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if type(model).__name__ == "Sequential":
        return [(layer, [layers[i - 1].name] if i else ["input"]) for i, layer in enumerate(layers)]
    conf = {c["name"]: c for c in model.get_config()["layers"]}
    inputs = {layer.name for layer in model.layers if type(layer).__name__ == "InputLayer"}
    out = []
    for layer in layers:
        args = conf[layer.name]["inbound_nodes"][0]["args"]
        flat = args[0] if isinstance(args[0], list) else args
        reads = [a["config"]["keras_history"][0] for a in flat]
        out.append((layer, ["input" if r in inputs else r for r in reads]))
    return out


def _act_name(layer) -> str | None:
    kind = type(layer).__name__
    if kind == "ReLU":
        c = layer.get_config()
        return "relu6" if c.get("max_value") == 6 else "relu" if not c.get("max_value") and not c.get("negative_slope") else "other"
    if kind == "Activation":
        a = layer.get_config()["activation"]
        return a if isinstance(a, str) else "other"
    return None


def float_tflite(model, dynamic_batch: bool = False) -> bytes:
    """The float .tflite of a Keras model; `dynamic_batch`: Flatten / Reshape read the batch at run time,
    as the converter writes them for a model whose batch is unknown (shape_signature -1)."""
    m = Model()
    shape = (1,) + tuple(model.input_shape[1:])
    x = m.tensor("input", shape, F)
    m.inputs = [x]
    tensor = {"input": x}
    shapes = {"input": shape}
    fusible = {}                  # layer name -> index of the op whose fused activation it may set
    graph = _graph(model)
    readers = {}
    for layer, reads in graph:
        for r in reads:
            readers[r] = readers.get(r, 0) + 1
    alias = {}                    # a layer that vanished -> the layer whose output it is

    def src(name):
        while name in alias:
            name = alias[name]
        return name

    def only_read_once(name):
        """name and every vanished layer between it and the op that computes it have one reader each."""
        while True:
            if readers.get(name) != 1:
                return False
            if name not in alias:
                return True
            name = alias[name]

    def const(name, data):
        return m.tensor(name, None, F, data=np.ascontiguousarray(data, F))

    def out_tensor(name, shp):
        shapes[name] = tuple(shp)
        tensor[name] = m.tensor(name, tuple(shp), F)
        return tensor[name]

    def weights_and_bias(layer):
        w = layer.get_weights()
        return w[0], (w[1] if len(w) > 1 and layer.get_config().get("use_bias", True) else None)

    folded_bn = {}                # conv/dense layer name -> (scale, shift) of the BatchNormalization after it
    for layer, reads in graph:
        if type(layer).__name__ == "BatchNormalization":
            prev = src(reads[0])
            producer = next((lay for lay, _ in graph if lay.name == prev), None)
            if producer is not None and type(producer).__name__ in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D",
                                                                    "Dense") and readers.get(prev) == 1:
                c = layer.get_config()
                gamma, beta, mean, var = (layer.get_weights() if c["scale"] and c["center"] else None) or [None] * 4
                k = gamma / np.sqrt(var + c["epsilon"])
                folded_bn[prev] = (k, beta - mean * k)

    for layer, reads in graph:
        kind, name, c = type(layer).__name__, layer.name, layer.get_config()
        ins = [src(r) for r in reads]
        ish = shapes[ins[0]]
        act = c.get("activation", None)
        act = act if act is None or isinstance(act, str) else "other"
        fused = ACT[act] if act in ACT else 0 if act in OWN_ACT else None   # else: an op of its own after
        if kind in ("Dropout", "SpatialDropout2D") or (kind == "BatchNormalization" and ins[0] in folded_bn):
            alias[name] = ins[0]
            continue
        if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
            stride, dil = c["strides"], c["dilation_rate"]
            opt = dict(padding=PADDING[c["padding"]], stride_h=stride[0], stride_w=stride[1],
                       dilation_h=dil[0], dilation_w=dil[1], act=0 if fused is None else fused)
            if fused is None:
                raise ValueError(f"{name}: activation {act!r}")
            w = layer.get_weights()
            bn = folded_bn.get(name)
            if kind == "Conv2D":
                if c.get("groups", 1) != 1:
                    raise ValueError(f"{name}: grouped Conv2D")
                kernel, bias = weights_and_bias(layer)
                filt = kernel.transpose(3, 0, 1, 2)                      # HWIO -> OHWI
                out_c = filt.shape[0]
            else:
                dw = w[0]                                                # H, W, C, mult
                mult = dw.shape[3]
                dfilt = dw.reshape(dw.shape[0], dw.shape[1], -1)[None]    # 1, H, W, C*mult
                if kind == "DepthwiseConv2D":
                    filt, bias, out_c = dfilt, (w[1] if c.get("use_bias", True) else None), dfilt.shape[3]
                else:                                                    # depthwise, then the pointwise conv
                    mid_c = dfilt.shape[3]
                    hh, ww = _out_hw(ish, c["kernel_size"], stride, dil, c["padding"])
                    t = out_tensor(f"{name}_depthwise", (1, hh, ww, mid_c))
                    m.op("DEPTHWISE_CONV_2D", [tensor[ins[0]], const(f"{name}_dw", dfilt),
                                               const(f"{name}_dw_bias", np.zeros(mid_c))], [t],
                         depth_multiplier=mult, **dict(opt, act=0))
                    ish, filt = (1, hh, ww, mid_c), w[1].transpose(3, 0, 1, 2)
                    bias, out_c = (w[2] if c.get("use_bias", True) else None), filt.shape[0]
                    opt = dict(padding=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=opt["act"])
                    ins = [f"{name}_depthwise"]
            bias = np.zeros(out_c, F) if bias is None else bias
            if bn is not None:
                axis_scale = bn[0].reshape((-1,) + (1,) * (filt.ndim - 1)) if kind != "DepthwiseConv2D" else bn[0]
                filt, bias = filt * axis_scale, bias * bn[0] + bn[1]
            if kind == "DepthwiseConv2D":
                hh, ww = _out_hw(ish, c["kernel_size"], stride, dil, c["padding"])
                extra = {"depth_multiplier": mult}
                op = "DEPTHWISE_CONV_2D"
            else:
                k = filt.shape[1:3]
                hh, ww = _out_hw(ish, k, (opt["stride_h"], opt["stride_w"]), (opt["dilation_h"], opt["dilation_w"]),
                                 "same" if opt["padding"] == 0 else "valid")
                extra, op = {}, "CONV_2D"
            y = out_tensor(name, (1, hh, ww, out_c))
            m.op(op, [tensor[ins[0]], const(f"{name}_filter", filt), const(f"{name}_bias", bias)], [y], **opt, **extra)
            fusible[name] = len(m.ops) - 1
        elif kind == "Conv2DTranspose":
            if c.get("output_padding") is not None or tuple(c["dilation_rate"]) != (1, 1) or fused is None:
                raise ValueError(f"{name}: output_padding, dilation or activation {act!r}")
            kernel, bias = weights_and_bias(layer)                       # [kh, kw, out, in]
            stride = c["strides"]
            out_c = kernel.shape[2]
            shp = (1,) + tuple(int(d) for d in layer.output.shape[1:])
            y = out_tensor(name, shp)
            filt = kernel.transpose(2, 0, 1, 3)                          # -> [out, kh, kw, in]
            m.op("TRANSPOSE_CONV", [m.tensor(f"{name}_shape", None, np.int32, data=np.array(shp, np.int32)),
                                    const(f"{name}_filter", filt), tensor[ins[0]],
                                    const(f"{name}_bias", np.zeros(out_c, F) if bias is None else bias)], [y],
                 padding=PADDING[c["padding"]], stride_h=stride[0], stride_w=stride[1], act=fused)
            fusible[name] = len(m.ops) - 1
        elif kind == "Dense":
            kernel, bias = weights_and_bias(layer)
            bias = np.zeros(kernel.shape[1], F) if bias is None else bias
            wt = kernel.T
            if name in folded_bn:
                wt, bias = wt * folded_bn[name][0][:, None], bias * folded_bn[name][0] + folded_bn[name][1]
            if fused is None:
                raise ValueError(f"{name}: activation {act!r}")
            y = out_tensor(name, ish[:-1] + (kernel.shape[1],) if len(ish) > 2 else (1, kernel.shape[1]))
            m.op("FULLY_CONNECTED", [tensor[ins[0]], const(f"{name}_w", wt), const(f"{name}_b", bias)], [y], act=fused,
                 keep_num_dims=len(ish) > 2)
            fusible[name] = len(m.ops) - 1
        elif kind in ("ReLU", "Activation"):
            a = _act_name(layer)
            prev = ins[0]
            if a in ACT and prev in fusible and only_read_once(reads[0]) and m.ops[fusible[prev]][3].get("act") == 0:
                m.ops[fusible[prev]][3]["act"] = ACT[a]
                alias[name] = prev
                continue
            if a not in OWN_ACT:
                raise ValueError(f"{name}: activation {a!r}")
            y = out_tensor(name, ish)
            m.op(OWN_ACT[a], [tensor[prev]], [y], **({"beta": 1.0} if a == "softmax" else {}))
        elif kind == "Softmax":
            y = out_tensor(name, ish)
            m.op("SOFTMAX", [tensor[ins[0]]], [y], beta=1.0)
        elif kind in ("Add", "Multiply"):
            y = out_tensor(name, ish)
            m.op("ADD" if kind == "Add" else "MUL", [tensor[i] for i in ins], [y], act=0)
            fusible[name] = len(m.ops) - 1
        elif kind == "Concatenate":
            axis = c["axis"] % len(ish)
            shp = list(ish)
            shp[axis] = sum(shapes[i][axis] for i in ins)
            y = out_tensor(name, shp)
            m.op("CONCATENATION", [tensor[i] for i in ins], [y], axis=axis, act=0)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            pool, stride = c["pool_size"], c["strides"] or c["pool_size"]
            hh, ww = _out_hw(ish, pool, stride, (1, 1), c["padding"])
            y = out_tensor(name, (1, hh, ww, ish[3]))
            m.op("MAX_POOL_2D" if kind == "MaxPooling2D" else "AVERAGE_POOL_2D", [tensor[ins[0]]], [y],
                 padding=PADDING[c["padding"]], stride_h=stride[0], stride_w=stride[1], filter_h=pool[0],
                 filter_w=pool[1], act=0)
            fusible[name] = len(m.ops) - 1
        elif kind == "GlobalAveragePooling2D":
            keep = c.get("keepdims", False)
            y = out_tensor(name, (1, 1, 1, ish[3]) if keep else (1, ish[3]))
            m.op("MEAN", [tensor[ins[0]], m.tensor(f"{name}_axes", None, np.int32, data=np.array([1, 2], np.int32))],
                 [y], keep_dims=keep)
        elif kind in ("Flatten", "Reshape"):
            shp = (1, int(np.prod(ish[1:]))) if kind == "Flatten" else (1,) + tuple(c["target_shape"])
            y = out_tensor(name, shp)
            if dynamic_batch:             # the batch read at run time: SHAPE, STRIDED_SLICE, PACK([batch, ...])
                whole = m.tensor(f"{name}_in_shape", (len(ish),), np.int32)
                m.op("SHAPE", [tensor[ins[0]]], [whole], out_type=2)
                batch = m.tensor(f"{name}_batch", (), np.int32)
                ints = [m.tensor(f"{name}_{k}", None, np.int32, data=np.array([v], np.int32))
                        for k, v in (("begin", 0), ("end", 1), ("strides", 1))]
                m.op("STRIDED_SLICE", [whole] + ints, [batch], begin_mask=0, end_mask=0, shrink_axis_mask=1)
                rest = [m.tensor(f"{name}_d{k}", None, np.int32, data=np.array(d, np.int32))
                        for k, d in enumerate((-1,) if kind == "Flatten" else shp[1:])]
                new_shape = m.tensor(f"{name}_new_shape", (len(rest) + 1,), np.int32)
                m.op("PACK", [batch] + rest, [new_shape], values_count=len(rest) + 1, axis=0)
                m.op("RESHAPE", [tensor[ins[0]], new_shape], [y])
            else:
                m.op("RESHAPE", [tensor[ins[0]], m.tensor(f"{name}_shape", None, np.int32, data=np.array(shp, np.int32))],
                     [y], new_shape=list(shp))
        elif kind == "ZeroPadding2D":
            (t, b), (lft, r) = c["padding"]
            y = out_tensor(name, (1, ish[1] + t + b, ish[2] + lft + r, ish[3]))
            m.op("PAD", [tensor[ins[0]], m.tensor(f"{name}_pads", None, np.int32,
                                                  data=np.array([[0, 0], [t, b], [lft, r], [0, 0]], np.int32))], [y])
        elif kind == "UpSampling2D":
            sh, sw = c["size"]
            if c.get("interpolation", "nearest") != "nearest":
                raise ValueError(f"{name}: {c['interpolation']} upsampling")
            y = out_tensor(name, (1, ish[1] * sh, ish[2] * sw, ish[3]))
            m.op("RESIZE_NEAREST_NEIGHBOR", [tensor[ins[0]], m.tensor(f"{name}_size", None, np.int32,
                                                                      data=np.array([ish[1] * sh, ish[2] * sw], np.int32))],
                 [y], align_corners=False, half_pixel_centers=False)
        else:
            raise ValueError(f"{name}: no TFLite form written for {kind}")
        if kind not in ("ReLU", "Activation", "Softmax") and act in OWN_ACT and act not in ACT:
            pre = f"{name}_pre"                   # conv / dense with a non-fusible activation: an op after it
            tensor[pre], shapes[pre] = tensor[name], shapes[name]
            y = out_tensor(name, shapes[pre])
            m.op(OWN_ACT[act], [tensor[pre]], [y], **({"beta": 1.0} if act == "softmax" else {}))
    last = src(graph[-1][0].name)
    m.outputs = [tensor[last]]
    return m.bytes()


def _out_hw(ish, k, stride, dil, padding):
    if padding == "same":
        return -(-ish[1] // stride[0]), -(-ish[2] // stride[1])
    eff = [(k[i] - 1) * dil[i] + 1 for i in range(2)]
    return (ish[1] - eff[0]) // stride[0] + 1, (ish[2] - eff[1]) // stride[1] + 1
