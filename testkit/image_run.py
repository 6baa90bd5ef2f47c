"""A build's model image (codegen/image.py) run by the firmware interpreter (runtime_c/edgec_image.c) on a
target, against the integer reference of the same build: what a test of a new image kernel asserts."""
from __future__ import annotations

import numpy as np

from edgec.codegen.image import read_header
from edgec.verification.image_exec import execute_image
from edgec.verification.verify import Built


def image_equals_reference(out_dir: str, xs: np.ndarray, target: str = "host") -> bool:
    """The image in out_dir (it must hold one), run on `target` for the float samples xs, gives the
    integer reference's outputs bit for bit."""
    b = Built(str(out_dir))
    assert "refused" not in b.report["image"], b.report["image"]
    with open(f"{out_dir}/model.edgecimg", "rb") as f:
        img = f.read()
    q = b.quantize_input(xs)
    h = read_header(img)
    raw, _ = execute_image(target, img, np.ascontiguousarray(q, np.int8).tobytes(), h["input_bytes"], h["output_bytes"],
                           h["arena_bytes"])
    got = np.frombuffer(raw, np.int8).reshape(len(q), -1)
    return bool(np.array_equal(got, b.expected(q).reshape(len(q), -1)))
