"""Write small .tflite flatbuffers for tests, with the `tflite` package's generated builders (no TensorFlow).

`Model` collects tensors (with float32, float16 or integer data, and int8 quantization) and operators;
`bytes()` gives the flatbuffer.  TFLite Micro runs what this writes, so single-op models check the
importer's branches that the four MLPerf Tiny models do not reach, against TFLM itself.  `subgraph()` adds
a subgraph (the init subgraph CALL_ONCE runs, in stateful streaming models); dtype "resource" is the
type of VAR_HANDLE's output."""
from __future__ import annotations

import flatbuffers
import numpy as np
import tflite

TYPES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.int32): 2, np.dtype(np.uint8): 3,
         np.dtype(np.int8): 9, np.dtype(np.int16): 7, "resource": 13}
OPTIONS = {"CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
           "FULLY_CONNECTED": "FullyConnectedOptions", "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
           "ADD": "AddOptions", "SOFTMAX": "SoftmaxOptions", "RESHAPE": "ReshapeOptions", "MEAN": "ReducerOptions",
           "LOGISTIC": None, "QUANTIZE": None, "DEQUANTIZE": None, "TANH": None, "SUB": "SubOptions",
           "MUL": "MulOptions", "CONCATENATION": "ConcatenationOptions", "LEAKY_RELU": "LeakyReluOptions",
           "GELU": "GeluOptions", "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
           "RESIZE_BILINEAR": "ResizeBilinearOptions",
           "VAR_HANDLE": "VarHandleOptions", "CALL_ONCE": "CallOnceOptions", "READ_VARIABLE": None,
           "ASSIGN_VARIABLE": None, "STRIDED_SLICE": "StridedSliceOptions", "SPLIT": "SplitOptions",
           "SPLIT_V": "SplitVOptions", "SLICE": None, "PAD": None, "PADV2": None, "TRANSPOSE": None,
           "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions", "SVDF": "SVDFOptions",
           "DIV": "DivOptions", "L2_NORMALIZATION": "L2NormOptions",
           "ARG_MAX": "ArgMaxOptions", "ARG_MIN": "ArgMinOptions", "TRANSPOSE_CONV": "TransposeConvOptions",
           "DEPTH_TO_SPACE": "DepthToSpaceOptions", "PACK": "PackOptions", "UNPACK": "UnpackOptions",
           "SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions",
           "BATCH_MATMUL": "BatchMatMulOptions", "SHAPE": "ShapeOptions", "GATHER": "GatherOptions"}


class Model:
    def __init__(self):
        self.tensors = []          # (name, shape, dtype, data, scale, zp, axis)
        self.ops = []              # (opname, inputs, outputs, options)
        self.inputs, self.outputs = [], []
        self.subgraphs = []        # further subgraphs (Model objects), numbered from 1
        self.variables = set()     # tensors TFLite keeps across invocations (an LSTM's states)

    def subgraph(self) -> "Model":
        sub = Model()
        self.subgraphs.append(sub)
        return sub

    def tensor(self, name, shape, dtype=np.int8, data=None, scale=None, zp=None, axis=0, variable=False):
        if dtype == "resource":
            self.tensors.append((name, tuple(shape), "resource", None, None, None, axis))
            return len(self.tensors) - 1
        if data is not None:
            data = np.asarray(data, dtype=dtype)
            shape = data.shape
        if scale is not None:
            scale = np.atleast_1d(np.asarray(scale, np.float32))
            zp = np.atleast_1d(np.asarray(0 if zp is None else zp, np.int64))
            if zp.size == 1 and scale.size > 1:
                zp = np.zeros(scale.size, np.int64)
        self.tensors.append((name, tuple(shape), np.dtype(dtype), data, scale, zp, axis))
        if variable:
            self.variables.add(len(self.tensors) - 1)
        return len(self.tensors) - 1

    def op(self, name, inputs, outputs, **options):
        self.ops.append((name, list(inputs), list(outputs), options))

    # -- serialization -------------------------------------------------------------------------
    def bytes(self) -> bytes:
        b = flatbuffers.Builder(1024)
        graphs = [self] + self.subgraphs
        codes = sorted({name for g in graphs for name, *_ in g.ops})
        code_of = {n: i for i, n in enumerate(codes)}

        def ivec(values, dtype=np.int32):
            return b.CreateNumpyVector(np.asarray(values, dtype))

        buffers = [None]                 # buffer 0: the empty one
        for g in graphs:
            for t in g.tensors:
                buffers.append(t[3])
        buf_offsets = []
        for data in buffers:
            vec = b.CreateNumpyVector(np.frombuffer(data.tobytes(), np.uint8)) if data is not None else None
            tflite.BufferStart(b)
            if vec is not None:
                tflite.BufferAddData(b, vec)
            buf_offsets.append(tflite.BufferEnd(b))

        def table_vec(offsets):
            b.StartVector(4, len(offsets), 4)
            for o in reversed(offsets):
                b.PrependUOffsetTRelative(o)
            return b.EndVector()
        sg_offsets, first_buffer = [], 1
        for gi, g in enumerate(graphs):
            sg_offsets.append(g._subgraph(b, ivec, table_vec, code_of, first_buffer, "main" if gi == 0 else f"sub{gi}"))
            first_buffer += len(g.tensors)
        code_offsets = []
        for n in codes:
            code = getattr(tflite.BuiltinOperator, n)
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, 1)
            code_offsets.append(tflite.OperatorCodeEnd(b))
        codes_vec, sg_vec, bufs_vec = table_vec(code_offsets), table_vec(sg_offsets), table_vec(buf_offsets)
        desc = b.CreateString("edgec test model")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, codes_vec)
        tflite.ModelAddSubgraphs(b, sg_vec)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, bufs_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def _subgraph(self, b, ivec, table_vec, code_of, first_buffer, name):
        tensor_offsets = []
        for k, (tname, shape, dtype, data, scale, zp, axis) in enumerate(self.tensors):
            name_off = b.CreateString(tname)
            shape_off = ivec(shape)
            q_off = None
            if scale is not None:
                s_off, z_off = b.CreateNumpyVector(scale), b.CreateNumpyVector(zp.astype(np.int64))
                tflite.QuantizationParametersStart(b)
                tflite.QuantizationParametersAddScale(b, s_off)
                tflite.QuantizationParametersAddZeroPoint(b, z_off)
                tflite.QuantizationParametersAddQuantizedDimension(b, axis)
                q_off = tflite.QuantizationParametersEnd(b)
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, shape_off)
            tflite.TensorAddType(b, TYPES[dtype])
            tflite.TensorAddBuffer(b, first_buffer + k)
            tflite.TensorAddName(b, name_off)
            if q_off is not None:
                tflite.TensorAddQuantization(b, q_off)
            if k in self.variables:
                tflite.TensorAddIsVariable(b, True)
            tensor_offsets.append(tflite.TensorEnd(b))
        op_offsets = []
        for opname, ins, outs, opt in self.ops:
            opt_off, opt_type = self._options(b, opname, opt)
            in_off, out_off = ivec(ins), ivec(outs)
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, code_of[opname])
            tflite.OperatorAddInputs(b, in_off)
            tflite.OperatorAddOutputs(b, out_off)
            if opt_off is not None:
                tflite.OperatorAddBuiltinOptionsType(b, opt_type)
                tflite.OperatorAddBuiltinOptions(b, opt_off)
            op_offsets.append(tflite.OperatorEnd(b))
        t_vec, o_vec = table_vec(tensor_offsets), table_vec(op_offsets)
        in_vec, out_vec = ivec(self.inputs), ivec(self.outputs)
        sg_name = b.CreateString(name)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, t_vec)
        tflite.SubGraphAddInputs(b, in_vec)
        tflite.SubGraphAddOutputs(b, out_vec)
        tflite.SubGraphAddOperators(b, o_vec)
        tflite.SubGraphAddName(b, sg_name)
        return tflite.SubGraphEnd(b)

    @staticmethod
    def _options(b, name, opt):
        kind = OPTIONS.get(name)
        if kind is None:
            return None, 0
        if name == "RESHAPE":
            shape_off = b.CreateNumpyVector(np.asarray(opt.get("new_shape", []), np.int32))
            tflite.ReshapeOptionsStart(b)
            tflite.ReshapeOptionsAddNewShape(b, shape_off)
            return tflite.ReshapeOptionsEnd(b), tflite.BuiltinOptions.ReshapeOptions
        if name == "VAR_HANDLE":
            container, shared = b.CreateString(opt.get("container", "")), b.CreateString(opt["shared_name"])
            tflite.VarHandleOptionsStart(b)
            tflite.VarHandleOptionsAddContainer(b, container)
            tflite.VarHandleOptionsAddSharedName(b, shared)
            return tflite.VarHandleOptionsEnd(b), tflite.BuiltinOptions.VarHandleOptions
        start, end = getattr(tflite, kind + "Start"), getattr(tflite, kind + "End")
        start(b)
        fields = {"padding": "Padding", "stride_h": "StrideH", "stride_w": "StrideW", "dilation_h": "DilationHFactor",
                  "dilation_w": "DilationWFactor", "act": "FusedActivationFunction", "filter_h": "FilterHeight",
                  "filter_w": "FilterWidth", "depth_multiplier": "DepthMultiplier", "beta": "Beta",
                  "keep_num_dims": "KeepNumDims", "keep_dims": "KeepDims", "axis": "Axis", "alpha": "Alpha",
                  "approximate": "Approximate", "align_corners": "AlignCorners",
                  "half_pixel_centers": "HalfPixelCenters", "init_subgraph_index": "InitSubgraphIndex",
                  "begin_mask": "BeginMask", "end_mask": "EndMask", "ellipsis_mask": "EllipsisMask",
                  "new_axis_mask": "NewAxisMask", "shrink_axis_mask": "ShrinkAxisMask", "offset": "Offset",
                  "num_splits": "NumSplits", "cell_clip": "CellClip", "proj_clip": "ProjClip",
                  "time_major": "TimeMajor", "rank": "Rank", "output_type": "OutputType", "block_size": "BlockSize",
                  "values_count": "ValuesCount", "num": "Num", "adj_x": "AdjX", "adj_y": "AdjY",
                  "out_type": "OutType", "batch_dims": "BatchDims"}
        for key, value in opt.items():
            if key in fields:
                getattr(tflite, f"{kind}Add{fields[key]}")(b, value)
        return end(b), getattr(tflite.BuiltinOptions, kind)
