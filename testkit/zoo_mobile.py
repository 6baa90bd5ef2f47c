"""The mobile CNNs people deploy on microcontrollers, written here in PyTorch from their public
architecture definitions (the papers' layer tables; torchvision's documented configurations), at
microcontroller sizes, with seeded random weights -- and the two ways PyTorch writes them to ONNX.

- MobileNetV2 width 0.35 (Sandler et al. 2018, table 2), 96x96.
- MobileNetV3-Small (Howard et al. 2019, table 2): hard-swish, squeeze-excite with hard-sigmoid gates, 96x96.
- MnasNet-A1 0.5 as torchvision's `mnasnet0_5` lays it out (Tan et al. 2019: the searched B1 stack),
  whose head is `x.mean([2, 3])` (a ReduceMean over H, W), 96x96.
- An EfficientNet-lite-like network: MBConv blocks with ReLU6 and no squeeze-excite (what
  EfficientNet-lite changed for integer accelerators), 96x96.
- ResNet-8 as MLPerf Tiny's image-classification model (three basic-block stacks, 16/32/64), 32x32.

Weights are random but not trivial: after seeding, every BatchNorm's running mean and variance are
taken from real photos passed through the network in training mode (so folding them into the
convolutions matters and the activations keep realistic ranges), and its affine scale and shift are
then drawn at random.  The calibration and test images are crops of tests/data's photos (testkit/heldout.py).

`make(name, teach=True)` then trains the network briefly, as users' networks are trained (`distill`):
a random deep network with BatchNorm is chaotic -- each layer centres and rescales its inputs'
differences, so two nearby inputs drift apart layer after layer and int8 rounding anywhere is
amplified to 13-17 dB at the output -- which no trained network is, and which no int8 pipeline can
keep (measured in tests/test_zoo_mobile.py's docstring).  Forty Adam steps of distillation from a
trained teacher on real photos are enough to make the function smooth: 8-11 s of one core per model
(measured on this project's shared 2-core machine)."""
from __future__ import annotations

import numpy as np

from testkit.heldout import photo_crops

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def images(size: int, n: int, seed: int = 7) -> np.ndarray:
    """[n, 3, size, size] float32: photo crops, scaled to 0..1 and normalised with the ImageNet mean and std."""
    x = (photo_crops(size, n, seed) / np.float32(255) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32)


def divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """The channel rounding every MobileNet uses: to the nearest multiple of `divisor`, never more than
    10% below `v`."""
    min_value = min_value or divisor
    new = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _nn():
    import torch
    from torch import nn
    return torch, nn


def conv_bn(cin, cout, k, s=1, groups=1, act=None):
    torch, nn = _nn()
    layers = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def mobilenet_v2(width: float = 0.35, classes: int = 1000):
    torch, nn = _nn()

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, s, t):
            super().__init__()
            hidden = int(round(cin * t))
            layers = [] if t == 1 else [conv_bn(cin, hidden, 1, act=nn.ReLU6)]
            layers += [conv_bn(hidden, hidden, 3, s, groups=hidden, act=nn.ReLU6), conv_bn(hidden, cout, 1)]
            self.body = nn.Sequential(*layers)
            self.residual = s == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    # t (expansion), c (channels), n (repeats), s (first stride): the paper's table 2
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    cin = divisible(32 * width)
    last = divisible(1280 * max(1.0, width))
    layers = [conv_bn(3, cin, 3, 2, act=nn.ReLU6)]
    for t, c, n, s in cfg:
        cout = divisible(c * width)
        for i in range(n):
            layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
            cin = cout
    layers.append(conv_bn(cin, last, 1, act=nn.ReLU6))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(last, classes))


def mobilenet_v3_small(classes: int = 100):
    torch, nn = _nn()

    class SqueezeExcite(nn.Module):
        """GlobalAveragePool -> 1x1 conv -> ReLU -> 1x1 conv -> HardSigmoid -> Mul over the channels."""
        def __init__(self, c):
            super().__init__()
            squeeze = divisible(c // 4)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)

        def forward(self, x):
            s = self.fc2(torch.relu(self.fc1(self.pool(x))))
            return x * nn.functional.hardsigmoid(s)

    class Block(nn.Module):
        def __init__(self, cin, k, exp, cout, se, act, s):
            super().__init__()
            layers = [] if exp == cin else [conv_bn(cin, exp, 1, act=act)]
            layers.append(conv_bn(exp, exp, k, s, groups=exp, act=act))
            if se:
                layers.append(SqueezeExcite(exp))
            layers.append(conv_bn(exp, cout, 1))
            self.body = nn.Sequential(*layers)
            self.residual = s == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    RE, HS = nn.ReLU, nn.Hardswish
    # kernel, expansion size, out, squeeze-excite, nonlinearity, stride: the paper's table 2
    cfg = [(3, 16, 16, True, RE, 2), (3, 72, 24, False, RE, 2), (3, 88, 24, False, RE, 1),
           (5, 96, 40, True, HS, 2), (5, 240, 40, True, HS, 1), (5, 240, 40, True, HS, 1),
           (5, 120, 48, True, HS, 1), (5, 144, 48, True, HS, 1), (5, 288, 96, True, HS, 2),
           (5, 576, 96, True, HS, 1), (5, 576, 96, True, HS, 1)]
    layers, cin = [conv_bn(3, 16, 3, 2, act=HS)], 16
    for k, exp, cout, se, act, s in cfg:
        layers.append(Block(cin, k, exp, cout, se, act, s))
        cin = cout
    layers += [conv_bn(cin, 576, 1, act=HS), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, classes)]
    return nn.Sequential(*layers)


def mnasnet(alpha: float = 0.5, classes: int = 100):
    torch, nn = _nn()

    class Block(nn.Module):
        def __init__(self, cin, cout, k, s, t):
            super().__init__()
            mid = cin * t
            self.body = nn.Sequential(conv_bn(cin, mid, 1, act=nn.ReLU), conv_bn(mid, mid, k, s, groups=mid, act=nn.ReLU),
                                      conv_bn(mid, cout, 1))
            self.residual = s == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            depths = [divisible(d * alpha, 8, 8) for d in (32, 16, 24, 40, 80, 96, 192, 320)]
            # (kernel, stride, expansion, repeats) of each searched stack
            stacks = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)]
            layers = [conv_bn(3, depths[0], 3, 2, act=nn.ReLU),
                      conv_bn(depths[0], depths[0], 3, 1, groups=depths[0], act=nn.ReLU),
                      conv_bn(depths[0], depths[1], 1)]
            for (k, s, t, n), cin, cout in zip(stacks, depths[1:-1], depths[2:]):
                for i in range(n):
                    layers.append(Block(cin if i == 0 else cout, cout, k, s if i == 0 else 1, t))
            layers.append(conv_bn(depths[-1], 1280, 1, act=nn.ReLU))
            self.layers = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

        def forward(self, x):
            return self.classifier(self.layers(x).mean([2, 3]))
    return Net()


def efficientnet_lite(classes: int = 100):
    """EfficientNet-lite0's first stages at half width: MBConv (expand 1x1, depthwise kxk, project
    1x1, identity skip) with ReLU6 and no squeeze-excite; a 1x1 head, global average pool, a classifier."""
    torch, nn = _nn()

    class MBConv(nn.Module):
        def __init__(self, cin, cout, k, s, t):
            super().__init__()
            mid = cin * t
            layers = [] if t == 1 else [conv_bn(cin, mid, 1, act=nn.ReLU6)]
            layers += [conv_bn(mid, mid, k, s, groups=mid, act=nn.ReLU6), conv_bn(mid, cout, 1)]
            self.body = nn.Sequential(*layers)
            self.residual = s == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    # expansion, out channels, repeats, stride, kernel (EfficientNet-B0's stages 2-6, halved)
    cfg = [(1, 8, 1, 1, 3), (6, 16, 2, 2, 3), (6, 24, 2, 2, 5), (6, 40, 3, 2, 3), (6, 56, 3, 1, 5)]
    layers, cin = [conv_bn(3, 16, 3, 2, act=nn.ReLU6)], 16
    for t, c, n, s, k in cfg:
        for i in range(n):
            layers.append(MBConv(cin, c, k, s if i == 0 else 1, t))
            cin = c
    layers += [conv_bn(cin, 320, 1, act=nn.ReLU6), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(320, classes)]
    return nn.Sequential(*layers)


def resnet8(classes: int = 10):
    """MLPerf Tiny's image-classification ResNet (CIFAR-10, 32x32): a 3x3 stem of 16, then three stacks
    of one basic block each (16, 32 and 64 filters; the last two stride 2 with a 1x1 projection)."""
    torch, nn = _nn()

    class Basic(nn.Module):
        def __init__(self, cin, cout, s):
            super().__init__()
            self.body = nn.Sequential(conv_bn(cin, cout, 3, s, act=nn.ReLU), conv_bn(cout, cout, 3))
            self.skip = nn.Identity() if s == 1 and cin == cout else nn.Conv2d(cin, cout, 1, s)

        def forward(self, x):
            return torch.relu(self.body(x) + self.skip(x))

    return nn.Sequential(conv_bn(3, 16, 3, act=nn.ReLU), Basic(16, 16, 1), Basic(16, 32, 2), Basic(32, 64, 2),
                         nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, classes))


#: name -> (constructor, input size)
ZOO = {"mobilenet_v2_035": (mobilenet_v2, 96), "mobilenet_v3_small": (mobilenet_v3_small, 96),
       "mnasnet_05": (mnasnet, 96), "efficientnet_lite": (efficientnet_lite, 96), "resnet8": (resnet8, 32)}


def settle(model, x: np.ndarray, seed: int = 0):
    """Non-trivial BatchNorm statistics: the running mean and variance of real images through the
    network (training mode, a cumulative average), after a random affine scale and shift per channel
    are drawn (drawn after, they would shift every later layer's inputs away from its statistics)."""
    torch, nn = _nn()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1):
                # spatial filters drawn around a box filter with a random gain per (output, input) pair
                # (+-1 for a depthwise one): trained filters mostly pass low frequencies, zero-mean random
                # ones amplify pixel noise from layer to layer, a chaos no real model has
                k = m.kernel_size[0] * m.kernel_size[1]
                gain = (torch.randn(m.weight.shape[:2] + (1, 1), generator=g) if m.groups == 1 else 1.0)
                m.weight.copy_(gain * (1 + 0.5 * torch.randn(m.weight.shape, generator=g)) / k)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.reset_running_stats()
                m.momentum = None
        for m in model.modules():
            if getattr(m, "residual", False) is True:
                # residual branches start small (the "zero-init residual" practice of ResNet and
                # EfficientNet training), so the skip path carries the signal as in a trained network
                m.body[-1][-1].weight.mul_(0.25)
        model.train()
        model(torch.from_numpy(x))
    return model.eval()


#: MLPerf Tiny's trained ResNet-8 (CIFAR-10; tests/data, Apache-2.0): the teacher of `distill`
TEACHER = "pretrainedResnet_tf2onnx.onnx"
#: the teacher's classes: a distilled zoo model has a head of this many
TEACHER_CLASSES = 10


def teacher_logits(x: np.ndarray) -> np.ndarray:
    """[N, 10] float32: the teacher's logits (its Gemm's output, before the Softmax) for photos `x`
    ([N, 3, S, S] as `images` makes them), each averaged down to the 32x32 the teacher takes, in its
    own input form (0..255, NHWC); centred per image (the log-probabilities up to the constant the
    softmax removes: the raw ones sit around -7.5, an offset the student would spend its steps on)."""
    import onnx
    import onnxruntime as ort
    from testkit.cases import DATA
    m = onnx.load(str(DATA / TEACHER))
    softmax = next(n for n in m.graph.node if n.op_type == "Softmax")
    del m.graph.output[:]
    m.graph.output.append(onnx.helper.make_tensor_value_info(softmax.input[0], onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    raw = (x.transpose(0, 2, 3, 1) * STD + MEAN) * 255
    n, s = len(raw), raw.shape[1] // 32
    small = raw.reshape(n, 32, s, 32, s, 3).mean((2, 4)).astype(np.float32)
    name = sess.get_inputs()[0].name
    logits = np.concatenate([sess.run(None, {name: v[None]})[0] for v in small])
    return (logits - logits.mean(1, keepdims=True)).astype(np.float32)


def distill(model, x: np.ndarray, steps: int = 40, lr: float = 3e-3, batch: int = 16, seed: int = 0):
    """Trains `model` (a head of TEACHER_CLASSES) to give the teacher's logits on the photos `x`
    (squared error on the logits, Ba & Caruana 2014; Adam; BatchNorm in training mode), then takes its
    BatchNorm statistics afresh from `x` with the final weights, as after any training.

    Why distillation and not a data-dependent initialization: layer-sequential unit-variance scaling
    (LSUV, Mishkin & Matas 2016) left MobileNetV2's features at 22 dB and MobileNetV3-Small's at 7 dB
    (int8 against float, centred), and a classifier fitted by least squares to the teacher's logits on
    the random features made the output worse (13.4 / 7.0 / 10.9 dB on MobileNetV2 / V3-Small /
    MnasNet): the loss is in the random body, and training is what removes it.  Forty steps do not
    teach the student the teacher's accuracy (they agree on a third of held-out crops); they make it
    a trained network, whose int8 output agrees with its float one as trained networks' do.  One
    thread, so the result does not depend on the machine's thread count."""
    import torch
    from torch import nn
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        target, xt = torch.from_numpy(teacher_logits(x)), torch.from_numpy(x)
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:
            m.momentum = 0.1
        model.train()
        for _ in range(steps):
            i = torch.randint(0, len(x), (batch,), generator=g)
            loss = ((model(xt[i]) - target[i]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            for m in bns:
                m.reset_running_stats()
                m.momentum = None
            for k in range(0, len(x), 32):
                model(xt[k:k + 32])
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def make(name: str, seed: int = 0, teach: bool = False, **kwargs):
    """(the eval-mode module, its input size); `kwargs` go to the constructor (e.g. classes=1000).
    `teach`: with the teacher's 10 classes, distilled from it on 128 photo crops (`distill`)."""
    import torch
    build, size = ZOO[name]
    torch.manual_seed(seed)
    if teach:
        kwargs["classes"] = TEACHER_CLASSES
    model = settle(build(**kwargs), images(size, 16, seed=101), seed)
    if teach:
        model = distill(model, images(size, 128, seed=101), seed=seed)
    return model, size


#: The exporters a zoo model is written by: (TorchScript-based, opset 13), (TorchScript, 17), dynamo (18).
EXPORTERS = {"ts13": (False, 13), "ts17": (False, 17), "dynamo": (True, 18)}


def export(model, size: int, path, exporter: str):
    """Writes `model` to `path` with one of EXPORTERS; input "x" [1, 3, size, size], output "y"."""
    import contextlib
    import io
    import torch
    dynamo, opset = EXPORTERS[exporter]
    sample = torch.from_numpy(images(size, 1, seed=3))
    with contextlib.redirect_stdout(io.StringIO()):          # the dynamo exporter prints its progress
        torch.onnx.export(model, (sample,), str(path), dynamo=dynamo, opset_version=opset,
                          input_names=["x"], output_names=["y"], external_data=False)
    return path


def ort_run(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {sess.get_inputs()[0].name: s[None]})[0] for s in x])


# -- the same two searched / scaled families written with Keras 3 layers (issue 18 part 6: every member
#    from Keras 3 too; MobileNetV2 and V3-Small come from keras.applications, tests/test_zoo_keras_apps.py) --
def keras_models():
    """{name: (build function, input size)}: MnasNet 0.5 and the EfficientNet-lite-like network of this
    file in the Keras 3 functional API, channels last, as a Keras user writes them: Conv2D /
    DepthwiseConv2D with padding="same" (Keras's asymmetric padding of strided convs: the ONNX export
    writes it as explicit Pad nodes), BatchNormalization, ReLU / ReLU(6), Add skips,
    GlobalAveragePooling2D, Dense.  keras is imported by the caller's backend."""
    import keras
    L = keras.layers

    def conv_bn(x, filters, k=1, strides=1, act=None, depthwise=False, gamma="ones"):
        # depthwise filters drawn around a box filter (as `settle` draws them: trained filters mostly
        # pass low frequencies; zero-mean ones amplify pixel noise layer after layer)
        conv = L.DepthwiseConv2D(k, strides, padding="same", use_bias=False, depthwise_initializer=
                                 keras.initializers.RandomNormal(1.0 / k ** 2, 0.5 / k ** 2)) if depthwise else \
            L.Conv2D(filters, k, strides, padding="same", use_bias=False)
        x = L.BatchNormalization(gamma_initializer=gamma)(conv(x))
        return L.ReLU(act)(x) if act is not None else x

    def inverted(x, cout, k, s, t, act):
        """Expand 1x1 (skipped at t=1), depthwise kxk, project 1x1; an identity skip when shapes allow,
        whose branch starts small (its last BatchNormalization's scale 0.25: the zero-init residual
        practice, as `settle` does)."""
        cin = x.shape[-1]
        residual = s == 1 and cin == cout
        y = x if t == 1 else conv_bn(x, cin * t, act=act)
        y = conv_bn(conv_bn(y, None, k, s, act=act, depthwise=True), cout,
                    gamma=keras.initializers.Constant(0.25) if residual else "ones")
        return L.Add()([x, y]) if residual else y

    def mnasnet_keras(alpha=0.5, classes=TEACHER_CLASSES, size=96):
        """MnasNet-B1 as torchvision's mnasnet0_5 lays it out (see `mnasnet`), ReLU (None = no max)."""
        depths = [divisible(d * alpha, 8, 8) for d in (32, 16, 24, 40, 80, 96, 192, 320)]
        stacks = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)]
        i = keras.Input((size, size, 3))
        x = conv_bn(i, depths[0], 3, 2, act=1e9)
        x = conv_bn(conv_bn(x, None, 3, 1, act=1e9, depthwise=True), depths[1])
        for (k, s, t, n), cout in zip(stacks, depths[2:]):
            for j in range(n):
                x = inverted(x, cout, k, s if j == 0 else 1, t, 1e9)
        x = L.GlobalAveragePooling2D()(conv_bn(x, 1280, act=1e9))
        return keras.Model(i, L.Dense(classes)(L.Dropout(0.2)(x)), name="mnasnet_05")

    def efficientnet_lite_keras(classes=TEACHER_CLASSES, size=96):
        """The EfficientNet-lite-like network of `efficientnet_lite`: MBConv with ReLU6, no squeeze-excite."""
        cfg = [(1, 8, 1, 1, 3), (6, 16, 2, 2, 3), (6, 24, 2, 2, 5), (6, 40, 3, 2, 3), (6, 56, 3, 1, 5)]
        i = keras.Input((size, size, 3))
        x = conv_bn(i, 16, 3, 2, act=6.0)
        for t, c, n, s, k in cfg:
            for j in range(n):
                x = inverted(x, c, k, s if j == 0 else 1, t, 6.0)
        x = L.GlobalAveragePooling2D()(conv_bn(x, 320, act=6.0))
        return keras.Model(i, L.Dense(classes)(x), name="efficientnet_lite")

    return {"mnasnet_05": (mnasnet_keras, 96), "efficientnet_lite": (efficientnet_lite_keras, 96)}


def keras_distill(model, x: np.ndarray, steps: int = 40, lr: float = 3e-3, batch: int = 16, seed: int = 0,
                  model_x: np.ndarray | None = None):
    """`distill` for a Keras model (channels-last photos `x`, [N, S, S, 3] as `images` makes them,
    transposed; `model_x`: the same photos in the model's own input form when it differs, e.g. the raw
    pixels keras.applications' MobileNetV3 rescales itself): `steps` Adam steps of squared error on the teacher's logits with model.fit, then every
    BatchNormalization's moving statistics taken afresh from all of `x` with the final weights (one call
    in training mode with momentum 0: each layer's moving mean and variance become the batch's, and the
    layers after it see exactly the inputs inference will give them).  One torch thread, as `distill`."""
    import keras
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        keras.utils.set_random_seed(seed)
        target = teacher_logits(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        x = x if model_x is None else model_x
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(x), (steps, batch))
        for i in idx:
            model.train_on_batch(x[i], target[i])
        bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
        for layer in bns:
            layer.momentum = 0.0
        model(x, training=True)
        for layer in bns:
            layer.momentum = 0.99
    finally:
        torch.set_num_threads(threads)
    return model


def keras_make(name: str, seed: int = 0):
    """(the Keras model distilled from the teacher on 128 photo crops (seed 101), its input size)."""
    import keras
    build, size = keras_models()[name]
    keras.utils.set_random_seed(seed)
    model = build()
    return keras_distill(model, images(size, 128, seed=101).transpose(0, 2, 3, 1), seed=seed), size


def keras_settle(model, seed: int = 0):
    """For a Keras network built by someone else's code (keras.applications), what `keras_models` and
    `settle` do at construction: depthwise filters drawn around a box filter, and each residual branch
    starting small (the scale of the BatchNormalization that ends the branch added by an Add, 0.25),
    so that distillation (`keras_distill`) starts from a smooth function as it does for the zoo."""
    import keras
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            k = layer.kernel
            n = int(np.prod(k.shape[:2]))
            k.assign((1 + 0.5 * rng.standard_normal(k.shape)).astype(np.float32) / n)
        if isinstance(layer, keras.layers.Add):
            for t in layer.input:
                src = t._keras_history.operation
                if isinstance(src, keras.layers.BatchNormalization):
                    src.gamma.assign(np.full(src.gamma.shape, 0.25, np.float32))
    return model


#: keras.applications' own architecture definitions as members of the zoo (weights=None, 10-class logits
#: for the teacher's classes, at KERAS_APP_SIZE): tests/test_zoo_keras_apps.py and bench/zoo_table.py
#: build them from here so that the README's table measures what the test checks.
KERAS_APP_SIZE = 96
KERAS_APPS = {"mobilenet_v2_035": lambda A: A.MobileNetV2(input_shape=(KERAS_APP_SIZE, KERAS_APP_SIZE, 3), alpha=0.35,
                                                          weights=None, classes=10, classifier_activation=None),
              "mobilenet_v3_small_075": lambda A: A.MobileNetV3Small(input_shape=(KERAS_APP_SIZE, KERAS_APP_SIZE, 3),
                                                                     alpha=0.75, weights=None, classes=10,
                                                                     classifier_activation=None)}
#: the networks distilled from a smooth start (keras_settle); the others from Keras's initializers
KERAS_APPS_SETTLED = {"mobilenet_v2_035"}


def keras_app_input(name: str, x: np.ndarray) -> np.ndarray:
    """Normalised channels-last photos (`images`, transposed) in the network's own input form:
    MobileNetV3 rescales raw pixels itself, MobileNetV2 takes [-1, 1]."""
    photos = x * STD + MEAN
    return np.ascontiguousarray(photos * 255.0 if "v3" in name else photos * 2.0 - 1.0).astype(np.float32)


def assert_zoo_member(out, inputs, report, xs, want):
    """The zoo's bar for a member built into `out`: within 512K of RAM and 2M of flash, a real network
    (more than 10 M MACs at 96x96, 32x32 for ResNet-8), the imported float graph equal to what the
    exporter's own runtime computes (`want`), the C bit-exact on the host, and float agreement (top-1
    >= 0.9 or SQNR >= 25 dB) on outputs that take more than one class."""
    from edgec.compiler import reference
    from edgec.verification.verify import Built, verify
    t = report["totals"]
    assert t["arena_bytes"] + t["io_bytes"] <= 512 * 1024 and t["weight_bytes"] <= 2 * 1024 * 1024, t
    assert t["macs"] > 10_000_000, t
    got = reference.run_batch(Built(str(out)).float_graph, xs[:, None]).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * float(np.abs(want).max()))
    r = verify(str(out), "host", str(inputs))
    assert r["bit_exact"] and r["mismatches"] == 0 and r["samples"] == len(xs), r
    assert len(np.unique(want.argmax(1))) > 1, want.argmax(1)
    agree = r["float_agreement"]
    assert agree["top1_agreement"] >= 0.9 or agree["sqnr_db"] >= 25, agree
