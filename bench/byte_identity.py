"""Build every real model of the suite, and two small models that reach the ops the real ones do not,
into one directory, so that a refactor that must not change behaviour (issue 17: the op registry) can
be checked byte for byte:

    python bench/byte_identity.py /tmp/before        # on the unchanged code
    python bench/byte_identity.py /tmp/after         # after each step
    diff -r /tmp/before /tmp/after                   # nothing: model.c, model.h, weights.c, report.json ...

Each model is built for cortex-m4 with its real calibration data (the first CALIB samples, to keep the run
short: the same samples before and after is all the comparison needs); the ONNX/Keras cases of
testkit/cases.py, the .tflite and QDQ files of tests/data, yolo-fastest, an int16 (mixed-precision)
build, an --optimize speed build (wide weights), and `ops_cnn` / `ops_rnn` (seeded, written here):
grouped and depthwise Conv, PRelu, Resize (nearest and linear), pools, Pad, Concat, Slice, Transpose,
ReduceMean, Softmax, LogSoftmax, HardSwish, LSTM and GRU.  Paths that name the output directory are
written relative to it, so two runs in different directories compare equal."""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.cases import CASES, DATA, KERAS_CASES, extra  # noqa: E402

CALIB = 64
KEEP = ("model.c", "model.h", "weights.c", "report.json", "CMakeLists.txt", "edgec.mk")


def ops_cnn(path: Path):
    """A seeded ONNX model over the op families the real models leave out."""
    from onnx import TensorProto, helper, numpy_helper, save
    rng = np.random.default_rng(1)
    inits, nodes = [], []

    def const(name, a):
        inits.append(numpy_helper.from_array(np.asarray(a, np.float32) if np.asarray(a).dtype.kind == "f"
                                             else np.asarray(a), name))
        return name

    def w(name, *shape):
        return const(name, rng.normal(0, 0.3, shape).astype(np.float32))

    nodes += [helper.make_node("Conv", ["x", w("w1", 8, 3, 3, 3), w("b1", 8)], ["c1"], pads=[1, 1, 1, 1]),
              helper.make_node("PRelu", ["c1", const("slope", rng.uniform(0, 0.3, (8, 1, 1)).astype(np.float32))], ["p1"]),
              helper.make_node("Conv", ["p1", w("w2", 8, 2, 3, 3), w("b2", 8)], ["c2"], pads=[1, 1, 1, 1], group=4),
              helper.make_node("Conv", ["c2", w("w3", 8, 1, 3, 3), w("b3", 8)], ["c3"], pads=[1, 1, 1, 1], group=8),
              helper.make_node("HardSwish", ["c3"], ["h3"]),
              helper.make_node("Resize", ["h3", "", const("sc", np.array([1, 1, 2, 2], np.float32))], ["r1"], mode="nearest"),
              helper.make_node("MaxPool", ["r1"], ["m1"], kernel_shape=[2, 2], strides=[2, 2]),
              helper.make_node("Resize", ["m1", "", const("sc2", np.array([1, 1, 2, 2], np.float32))], ["r2"],
                               mode="linear"),
              helper.make_node("AveragePool", ["r2"], ["a1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
              helper.make_node("Pad", ["a1", const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], ["pd"]),
              helper.make_node("Slice", ["pd", const("st", np.array([1, 1], np.int64)), const("en", np.array([9, 9], np.int64)),
                                         const("ax", np.array([2, 3], np.int64))], ["sl"]),
              helper.make_node("Sigmoid", ["sl"], ["sg"]),
              helper.make_node("Concat", ["sl", "sg"], ["cc"], axis=1),
              helper.make_node("Mul", ["cc", const("k", rng.uniform(0.5, 1.5, (16, 1, 1)).astype(np.float32))], ["mu"]),
              helper.make_node("Transpose", ["mu"], ["tr"], perm=[0, 2, 3, 1]),
              helper.make_node("ReduceMean", ["tr"], ["rm"], axes=[1, 2], keepdims=0),
              helper.make_node("Gemm", ["rm", w("wf", 10, 16), w("bf", 10)], ["fc"], transB=1),
              helper.make_node("Sub", ["fc", const("off", rng.normal(0, 0.1, (10,)).astype(np.float32))], ["sb"]),
              helper.make_node("LogSoftmax", ["sb"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "ops_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return rng.uniform(0, 1, (CALIB, 1, 3, 16, 16)).astype(np.float32).reshape(CALIB, 1, 3, 16, 16)[:, 0]


def ops_rnn(path: Path):
    """A seeded ONNX model with an LSTM and a GRU (batch 1, 6 steps of 4 features)."""
    from onnx import TensorProto, helper, numpy_helper, save
    rng = np.random.default_rng(2)
    h, inits = 8, []

    def const(name, a):
        inits.append(numpy_helper.from_array(np.asarray(a, np.float32), name))
        return name

    nodes = [helper.make_node("LSTM", ["x", const("W", rng.normal(0, 0.4, (1, 4 * h, 4))),
                                       const("R", rng.normal(0, 0.4, (1, 4 * h, h))),
                                       const("B", rng.normal(0, 0.1, (1, 8 * h)))], ["ly"], hidden_size=h),
             helper.make_node("Squeeze", ["ly", "ax1"], ["ls"]),
             helper.make_node("GRU", ["ls", const("Wg", rng.normal(0, 0.4, (1, 3 * h, h))),
                                      const("Rg", rng.normal(0, 0.4, (1, 3 * h, h))),
                                      const("Bg", rng.normal(0, 0.1, (1, 6 * h)))], ["gy", "gh"], hidden_size=h,
                              linear_before_reset=1),
             helper.make_node("Reshape", ["gh", "shp"], ["gf"]),
             helper.make_node("Gemm", ["gf", const("wf", rng.normal(0, 0.4, (5, h))), const("bf", rng.normal(0, 0.1, (5,)))],
                              ["fc"], transB=1),
             helper.make_node("Softmax", ["fc"], ["y"], axis=-1)]
    inits += [numpy_helper.from_array(np.array([1], np.int64), "ax1"),
              numpy_helper.from_array(np.array([1, h], np.int64), "shp")]
    g = helper.make_graph(nodes, "ops_rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return rng.normal(0, 1, (CALIB, 6, 1, 4)).astype(np.float32)


def jobs(work: Path):
    """(name, model path, weights or None, calibration array or None, build kwargs)."""
    for name, case in {**CASES, **KERAS_CASES}.items():
        yield name, case.path, None, case.calibration()[:CALIB], {}
    for f in ("ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite", "vww_96_int8.tflite"):
        yield f.replace(".", "_"), str(DATA / f), None, None, {}
    yield "kws_qdq", str(DATA / "kws_ref_model_qdq.onnx"), None, CASES["kws"].calibration()[:CALIB], {}
    yield "resnet_qdq", str(DATA / "pretrainedResnet_quant_qdq.onnx"), None, CASES["resnet"].calibration()[:CALIB], {}
    yield "vww_qdq", str(DATA / "vww_96_int8_qdq.onnx"), None, CASES["vww"].calibration()[:CALIB], {}
    yield "kws_speed", CASES["kws"].path, None, CASES["kws"].calibration()[:CALIB], {"optimize": "speed"}
    yield "vww_speed", CASES["vww"].path, None, CASES["vww"].calibration()[:CALIB], {"optimize": "speed"}
    yield "digits_cnn_int16", CASES["digits_cnn"].path, None, CASES["digits_cnn"].calibration()[:CALIB], {"min_sqnr": 30.0}
    for name in ("digits_cnn", "resnet"):          # every tensor that can be int16 made int16 (16x8 kernels)
        yield f"{name}_all16", CASES[name].path, None, CASES[name].calibration()[:CALIB], {"all16": True}
    yolo = np.load(DATA / "yolo-fastest-1.1_dog320_input_NCHW.npy").transpose(0, 2, 3, 1)
    yolo = np.concatenate([yolo, extra("yolo_crops")[:7] / np.float32(255)]).astype(np.float32)
    yield "yolo_fastest", str(DATA / "yolo-fastest-1.1.cfg"), str(DATA / "yolo-fastest-1.1.weights"), yolo, \
        {"ram": "1M", "flash": "2M"}
    for name, make in (("ops_cnn", ops_cnn), ("ops_rnn", ops_rnn)):
        path = work / f"{name}.onnx"
        yield name, str(path), None, make(path), {}


def all16(model, calib, out, name):
    from edgec.driver.build import compile_graph, import_model
    from edgec.passes.quantize import int16_candidates
    from edgec.passes.pipeline import canonicalize
    g = canonicalize(import_model(model))
    g.meta["precision"] = {t: "int16" for t, why in int16_candidates(g).items() if why is None}
    compile_graph(g, calib, "cortex-m4", out, name, model)


def main(out: str, only: list) -> int:
    from edgec.driver.build import build
    out = Path(out).resolve()
    work = out / "_work"
    work.mkdir(parents=True, exist_ok=True)
    failed = []
    for name, model, weights, calib, kwargs in jobs(work):
        if only and name not in only:
            continue
        t0 = time.time()
        dest = out / name
        shutil.rmtree(dest, ignore_errors=True)
        cal = None
        if calib is not None:
            cal = str(work / f"{name}_calib.npy")
            np.save(cal, calib)
        try:
            if kwargs.pop("all16", False):
                all16(model, calib, str(work / f"{name}_out"), name)
            else:
                build(model, "cortex-m4", str(work / f"{name}_out"), cal, weights=weights, **kwargs)
        except Exception as e:                              # noqa: BLE001 - reported, the run goes on
            failed.append(name)
            print(f"{name}: FAILED {type(e).__name__}: {e}", flush=True)
            continue
        dest.mkdir()
        built = work / f"{name}_out"
        for f in KEEP:
            text = (built / f).read_text()
            (dest / f).write_text(text.replace(str(built), "<out>").replace(str(work), "<work>"))
        (dest / "runtime.txt").write_text("\n".join(sorted(p.name for p in (built / "runtime").iterdir()))
                                          if (built / "runtime").is_dir() else
                                          "\n".join(sorted(p.name for p in built.iterdir())))
        shutil.rmtree(built)
        print(f"{name}: {time.time() - t0:.1f} s", flush=True)
    shutil.rmtree(work / "_unused", ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):     # a bench takes minutes: asking never starts it
        sys.exit(print(__doc__))
    sys.exit(main(sys.argv[1], sys.argv[2:]))
