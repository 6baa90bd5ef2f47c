"""Measure the zoo's Keras 3 builds for README's zoo table: MnasNet 0.5 and the EfficientNet-lite-like
network written with Keras 3 layers (testkit/zoo_mobile.py keras_models, distilled as the tests do), each
saved as .keras and exported by Keras 3 to ONNX; built for cortex-m7 with --ram 512K --flash 2M on 32
photo crops (seed 11); float agreement on 32 held-out crops (seed 12) on the host; instructions per
inference and code + weights in QEMU's Cortex-M7 on 2 of them (bit-exact there too).

Also the other Keras 3 members, built as their tests build them: keras.applications' MobileNetV2 0.35
and MobileNetV3Small 0.75 (10-class logits, distilled as tests/test_zoo_keras_apps.py does) and an
LSTM keyword model (LSTM(64) over 49 MFCC frames, Dense(12); tests/test_recurrent.py's features: the
KWS test input and its 24 time shifts, scaled by 1/32).

And the PyTorch rows of zoo_mobile (`--only torch:mobilenet_v3_small`, any testkit.zoo_mobile.ZOO name):
the network distilled as tests/test_zoo_mobile.py does, exported by the TorchScript exporter at opset
13 (the table's PyTorch numbers), calibrated and measured on the same crops.

usage: python bench/zoo_table.py [--json] [--only mnasnet_05,efficientnet_lite,mobilenet_v2_035,...]
(from the repo root; minutes)"""
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))                     # testkit: the zoo's definitions
from testkit.zoo_mobile import images, keras_make, keras_models  # noqa: E402

from edgec.driver.build import build  # noqa: E402
from edgec.verification.verify import verify  # noqa: E402

TITLES = {"mnasnet_05": "MnasNet 0.5, 10 classes (distilled)",
          "efficientnet_lite": "EfficientNet-lite-like, 10 classes (distilled)",
          "mobilenet_v2_035": "MobileNetV2 0.35 (keras.applications), 10 classes",
          "mobilenet_v3_small_075": "MobileNetV3Small 0.75 (keras.applications), 10 classes",
          "lstm_kws": "LSTM keyword model (64 units), 12 classes"}


def distilled(name):
    """(model, calibration, test inputs, input label): the zoo's Keras networks, trained as the tests do."""
    model, size = keras_make(name)
    return (model, images(size, 32, seed=11).transpose(0, 2, 3, 1), images(size, 32, seed=12).transpose(0, 2, 3, 1),
            f"3x{size}x{size}")


def application(name):
    """keras.applications' network distilled as tests/test_zoo_keras_apps.py does it."""
    import keras
    from testkit.zoo_mobile import KERAS_APPS, KERAS_APPS_SETTLED, keras_app_input, keras_distill, keras_settle
    keras.utils.set_random_seed(1)
    model = KERAS_APPS[name](keras.applications)
    if name in KERAS_APPS_SETTLED:
        keras_settle(model)
    photos = images(96, 128, seed=101).transpose(0, 2, 3, 1)
    keras_distill(model, photos, model_x=keras_app_input(name, photos))
    return (model, keras_app_input(name, images(96, 32, seed=11).transpose(0, 2, 3, 1)),
            keras_app_input(name, images(96, 32, seed=12).transpose(0, 2, 3, 1)), "3x96x96")


def lstm_kws(name):
    import keras
    from testkit.cases import data, extra
    keras.utils.set_random_seed(7)
    i = keras.Input((49, 10), batch_size=1)
    model = keras.Model(i, keras.layers.Dense(12)(keras.layers.LSTM(64)(i)))
    x = (np.concatenate([data("kws_input_float_dequant.npy"), extra("kws_shift")]).reshape(-1, 49, 10) / 32)
    return model, x.astype(np.float32), x.astype(np.float32), "49x10 MFCC"


def torch_zoo(name):
    """(model, calibration, test inputs, input label, exporter, size): a zoo_mobile PyTorch member, distilled."""
    from testkit.zoo_mobile import export, make
    model, size = make(name.split(":", 1)[1], teach=True)
    return model, images(size, 32, seed=11), images(size, 32, seed=12), f"3x{size}x{size}", export, size


MAKERS = {"mnasnet_05": distilled, "efficientnet_lite": distilled, "mobilenet_v2_035": application,
          "mobilenet_v3_small_075": application, "lstm_kws": lstm_kws}


def main():
    names = sorted(keras_models())          # the default: the rows the hand-written Keras zoo adds
    if "--only" in sys.argv:
        names = sys.argv[sys.argv.index("--only") + 1].split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            d = Path(tmp) / name.replace(":", "_")
            d.mkdir()
            if name.startswith("torch:"):
                model, cal, test, shape, export, size = torch_zoo(name)
                export(model, size, d / "m.onnx", "ts13")
                formats = ("onnx",)
            else:
                model, cal, test, shape = MAKERS[name](name)
                model(test[:1])
                model.save(d / "m.keras")
                model.export(str(d / "m.onnx"), format="onnx", verbose=False)
                formats = ("keras", "onnx")
            np.save(d / "cal.npy", cal)
            np.save(d / "test.npy", test)
            np.save(d / "two.npy", test[:2])
            for fmt in formats:
                rep = build(str(d / f"m.{fmt}"), "cortex-m7", str(d / fmt), str(d / "cal.npy"), ram="512K", flash="2M")
                host = verify(str(d / fmt), "host", str(d / "test.npy"))
                m7 = verify(str(d / fmt), "cortex-m7", str(d / "two.npy"))
                t = rep["totals"]
                rows.append({"model": name, "file": fmt, "input": shape, "macs": t["macs"],
                             "arena": t["arena_bytes"], "weights": t["weight_bytes"],
                             "code_and_weights": m7["code_and_weights_bytes"],
                             "instructions": m7["instructions_per_inference"],
                             "bit_exact_host": host["bit_exact"], "bit_exact_m7": m7["bit_exact"],
                             "top1": host["float_agreement"].get("top1_agreement"),
                             "sqnr_db": float(host["float_agreement"]["sqnr_db"])})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        src = ("Keras 3 `.keras`" if r["file"] == "keras" else "PyTorch TorchScript ONNX export (opset 13)"
               if r["model"].startswith("torch:") else "Keras 3 ONNX export")
        print(f"| {TITLES.get(r['model'], r['model'])}, {src} | {r['input'].replace('x', '×')} | {r['macs']:,} | {r['arena']:,} B | "
              f"{r['weights']:,} B | {r['code_and_weights']:,} B | {r['instructions']:,} | "
              f"top-1 {r['top1']:.2g}, {r['sqnr_db']:.1f} dB |")   # noqa: E501


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):     # a bench takes minutes: asking never starts it
        sys.exit(print(__doc__))
    main()
