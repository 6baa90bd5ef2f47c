"""README's table of supported ops per importer, read from the importers' own tables (so it cannot
drift from what they accept): ONNX's HANDLERS and QOPERATORS, Keras's LAYERS (and the Keras 3 ops a
config.json may hold as layers), TFLite's SUPPORTED (int8 models) and FLOAT_SUPPORTED (float models,
quantized from calibration), Darknet's SUPPORTED sections.

usage: python bench/ops_table.py        (prints the markdown table)"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgec.compiler.importers import darknet, keras, onnx, tflite  # noqa: E402


def rows():
    ops = {"ONNX (tested from PyTorch's TorchScript exporter at opsets 13 and 17, its dynamo exporter at 18, Keras 3's export at 20, tf2onnx)":
           sorted(set(onnx.HANDLERS) | set(getattr(onnx, "QOPERATORS", {}))),
           "Keras 3 / tf.keras (`.keras`, `.h5`)": sorted(keras.LAYERS),
           "TFLite, int8 (`.tflite`)": sorted(set(tflite.SUPPORTED)),
           "TFLite, float (`.tflite`, quantized from calibration)": sorted(set(tflite.FLOAT_SUPPORTED) - set(tflite.SUPPORTED)),
           "Darknet (`.cfg` + `.weights`)": sorted(set(darknet.SUPPORTED))}
    return [(k, v) for k, v in ops.items()]


def main():
    print("| importer | ops / layers / sections it compiles |")
    print("|---|---|")
    for name, ops in rows():
        extra = " (and the int8 ones)" if "float" in name else ""
        print(f"| {name} | {len(ops)}{extra}: {', '.join(ops)} |")


if __name__ == "__main__":
    main()
