"""Held-out real images for accuracy comparisons: square crops of darknet's two sample photos
(tests/data/dog.jpg, person.jpg), at random positions and sizes (20-100% of the short side), half of
them mirrored, resized with Pillow's bilinear filter.  Seeded, so every run scores the same images;
none of them is in the calibration sets of testkit/cases.py (those came from extra_inputs.npz)."""
from __future__ import annotations

import numpy as np

from .cases import DATA

PHOTOS = ("dog.jpg", "person.jpg")


def photo_crops(size: int, n: int, seed: int = 7) -> np.ndarray:
    """[n, size, size, 3] float32 in 0..255 (HWC, as the MLPerf image models take them)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    imgs = [Image.open(DATA / p).convert("RGB") for p in PHOTOS]
    out = []
    while len(out) < n:
        img = imgs[len(out) % len(imgs)]
        w, h = img.size
        side = int(min(w, h) * rng.uniform(0.2, 1.0))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop = img.crop((x, y, x + side, y + side)).resize((size, size), Image.BILINEAR)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        out.append(np.asarray(crop))
    return np.stack(out).astype(np.float32)
