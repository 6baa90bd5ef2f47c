"""How extra_inputs.npz was made (run once; needs Pillow).

Real data beyond the shared reference inputs, so calibration and bit-exact checks see more than
four samples per model:
  ic_crops   24 crops of darknet's dog.jpg / person.jpg photos, resized to 32x32, uint8 0..255
  vww_crops  24 crops of the same photos resized to 96x96, uint8 (divide by 255 for the model)
  kws_shift  24 variants of the real KWS MFCC input: circular time shifts (-12..+12 frames)
  mnist14    300 sklearn digits (the bundled 8x8 set) resized to 14x14 for onnx2c's MNIST model
  yolo_crops 8 crops of the photos resized to 320x320 (HWC uint8), calibration for yolo-fastest
usage: python make_extra_inputs.py DOG.jpg PERSON.jpg
"""
import sys

import numpy as np
from PIL import Image


def crops(paths, size, n):
    out, rng = [], np.random.default_rng(0)
    imgs = [Image.open(p).convert("RGB") for p in paths]
    while len(out) < n:
        img = imgs[len(out) % len(imgs)]
        w, h = img.size
        side = int(min(w, h) * rng.uniform(0.4, 1.0))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        out.append(np.asarray(img.crop((x, y, x + side, y + side)).resize((size, size), Image.BILINEAR)))
    return np.stack(out).astype(np.uint8)


def main():
    photos = sys.argv[1:3]
    kws = np.load("kws_input_float_dequant.npy")[0]
    shifts = [s for s in range(-12, 13) if s != 0][:24]
    digits = np.load("digits_X_train_float_0to1_x64.npy")[:300].reshape(-1, 8, 8)
    mnist = np.stack([np.asarray(Image.fromarray((d * 255).astype(np.uint8)).resize((14, 14), Image.BILINEAR))
                      for d in digits]).astype(np.float32) / 255.0
    np.savez_compressed("extra_inputs.npz", ic_crops=crops(photos, 32, 24), vww_crops=crops(photos, 96, 24),
                        kws_shift=np.stack([np.roll(kws, s, axis=0) for s in shifts]).astype(np.float32),
                        mnist14=mnist[:, None], yolo_crops=crops(photos, 320, 8))


if __name__ == "__main__":
    main()
