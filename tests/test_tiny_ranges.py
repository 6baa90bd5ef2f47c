"""Activations whose calibrated range is float noise (a deep randomly initialised network's last layers
decay to 1e-27: Keras 3's MobileNetV3Small with weights=None does) still quantize: the activation scale
has a floor (passes/quantize.MIN_ACTIVATION_SCALE) so every requantization multiplier stays
representable, and such a tensor is zero in int8 as it is in float to within 2.6e-7."""
import numpy as np

from edgec.compiler import reference
from edgec.compiler.calibrate import calibrate
from edgec.compiler.ir import Graph, Node, Tensor
from edgec.passes.quantize import MIN_ACTIVATION_SCALE, activation_quant, quantize
from edgec.passes.pipeline import canonicalize


def test_activation_scale_has_a_floor():
    assert activation_quant(-3e-27, 2e-27)[0] == MIN_ACTIVATION_SCALE
    assert activation_quant(-1.0, 1.0)[0] == 2.0 / 255.0
    assert activation_quant(0.0, 0.0) == (1.0 / 255.0, -128)


def test_an_add_whose_output_is_float_noise_quantizes():
    """The calibrated ranges Keras 3's MobileNetV3Small (weights=None) gives: an Add whose inputs span
    about 1e-6 and whose output spans 1e-29.  Without the floor its multiplier, 2 max(s_a, s_b) /
    (2^20 s_out), is about 1e17 and quantize refuses the model (end to end: test_zoo_keras_apps.py)."""
    rng = np.random.default_rng(0)
    t = {n: Tensor(n, None) for n in ("a", "b", "s")}
    t["x"] = Tensor("x", (1, 16))
    for k in ("wa", "wb"):
        t[k] = Tensor(k, (16, 16), data=rng.normal(0, 1e-6, (16, 16)).astype(np.float32))
        t["b" + k] = Tensor("b" + k, (16,), data=np.zeros(16, np.float32))
    g = Graph("noise", [Node("FullyConnected", "fa", ["x", "wa", "bwa"], ["a"], {"act": None}),
                        Node("FullyConnected", "fb", ["x", "wb", "bwb"], ["b"], {"act": None}),
                        Node("Add", "sum", ["a", "b"], ["s"], {"act": None})], t, ["x"], ["s"])
    g = calibrate(canonicalize(g), rng.normal(0, 1, (16, 1, 16)).astype(np.float32))
    g.meta["ranges"]["s"] = (-1e-29, 1e-29)
    q = quantize(g)
    assert float(q.tensors["s"].quant.scale) == MIN_ACTIVATION_SCALE
    x = rng.integers(-128, 128, (1, 16)).astype(np.int8)
    out = reference.run(q, x)["s"]
    assert out.dtype == np.int8
