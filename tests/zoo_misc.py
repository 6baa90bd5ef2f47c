"""Small definitions, written from the papers' public architecture descriptions, of four networks
people deploy on microcontrollers (issue 18, part 6): ShuffleNetV2 0.5x, SqueezeNet 1.1, a 1-D audio
CNN over MFCC frames and a small segmentation decoder with Resize and ConvTranspose.  They exist to
exercise the exporters' idioms for channel split/shuffle, fire modules, ceil_mode pooling, 1-D
convolution and resampling; weights are seeded random (the tests calibrate on real photos and audio
features).  Each `make_*` returns a torch model in eval mode and its input shape (NCHW / NCT)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _seeded(seed):
    torch.manual_seed(seed)


def _random_bn(model, seed):
    """Non-trivial BatchNorm statistics, so folding them is exercised like a trained model's."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=g)
            m.bias.data = 0.2 * torch.randn(n, generator=g)
            m.running_mean.data = 0.1 * torch.randn(n, generator=g)
            m.running_var.data = 0.5 + torch.rand(n, generator=g)
    return model.eval()


# -- ShuffleNetV2 (Ma et al. 2018, table 5: 0.5x = stages of 48, 96, 192 channels, 1024 last conv) --
def channel_shuffle(x, groups):
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def _conv_bn(cin, cout, k, s, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class ShuffleUnit(nn.Module):
    """Stride 1: split the channels in half, transform one half.  Stride 2: both branches downsample."""
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        mid = cout // 2
        if stride > 1:
            self.left = nn.Sequential(_conv_bn(cin, cin, 3, stride, groups=cin, relu=False), _conv_bn(cin, mid, 1, 1))
        right_in = cin if stride > 1 else mid
        self.right = nn.Sequential(_conv_bn(right_in, mid, 1, 1), _conv_bn(mid, mid, 3, stride, groups=mid, relu=False),
                                   _conv_bn(mid, mid, 1, 1))

    def forward(self, x):
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            out = torch.cat((a, self.right(b)), 1)
        else:
            out = torch.cat((self.left(x), self.right(x)), 1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, stages=(48, 96, 192), repeats=(4, 8, 4), last=1024, classes=1000):
        super().__init__()
        self.stem = _conv_bn(3, 24, 3, 2)
        self.pool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], 24
        for cout, n in zip(stages, repeats):
            blocks += [ShuffleUnit(cin, cout, 2)] + [ShuffleUnit(cout, cout, 1) for _ in range(n - 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.last = _conv_bn(cin, last, 1, 1)
        self.fc = nn.Linear(last, classes)

    def forward(self, x):
        x = self.last(self.blocks(self.pool(self.stem(x))))
        # global average pooling as a pool of the whole map (ONNX AveragePool from both exporters;
        # x.mean / AdaptiveAvgPool2d export as ReduceMean with the dynamo exporter)
        return self.fc(F.avg_pool2d(x, tuple(x.shape[-2:])).flatten(1))


def make_shufflenet_v2_05(size=96, classes=1000, seed=0):
    _seeded(seed)
    return _random_bn(ShuffleNetV2(classes=classes), seed), (1, 3, size, size)


# -- SqueezeNet 1.1 (Iandola et al. 2016; the 1.1 variant: 3x3/64 stem, pools after fire 2 and 4) --
class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.e1 = nn.Conv2d(squeeze, expand, 1)
        self.e3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        s = F.relu(self.squeeze(x))
        return torch.cat((F.relu(self.e1(s)), F.relu(self.e3(s))), 1)


class SqueezeNet11(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), pool(),
            Fire(64, 16, 64), Fire(128, 16, 64), pool(),
            Fire(128, 32, 128), Fire(256, 32, 128), pool(),
            Fire(256, 48, 192), Fire(384, 48, 192), Fire(384, 64, 256), Fire(512, 64, 256))
        self.classifier = nn.Sequential(nn.Conv2d(512, classes, 1), nn.ReLU(inplace=True))

    def forward(self, x):
        x = self.classifier(self.features(x))
        return torch.flatten(F.avg_pool2d(x, tuple(x.shape[-2:])), 1)


def make_squeezenet_11(size=96, classes=1000, seed=0):
    _seeded(seed)
    m = SqueezeNet11(classes).eval()
    with torch.no_grad():        # the paper's init keeps the final conv small; a random one saturates ReLUs
        m.classifier[0].weight.mul_(0.2)
    return m, (1, 3, size, size)


# -- 1-D audio CNN over MFCC frames [N, coefficients, frames] (a keyword-spotting front end) --
class AudioCNN(nn.Module):
    def __init__(self, coeffs=10, classes=12):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(coeffs, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(),
            nn.MaxPool1d(2, ceil_mode=True),
            nn.Conv1d(32, 32, 3, padding=1, groups=32), nn.Conv1d(32, 48, 1), nn.BatchNorm1d(48), nn.ReLU(),
            nn.AvgPool1d(2),
            nn.Conv1d(48, 64, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.body(x)
        return self.fc(F.avg_pool1d(x, x.shape[-1]).flatten(1))


def make_audio_cnn(frames=49, coeffs=10, classes=12, seed=0):
    _seeded(seed)
    return _random_bn(AudioCNN(coeffs, classes), seed), (1, coeffs, frames)


# -- a small encoder-decoder segmenter: ConvTranspose and every Resize mode people export --
class TinySeg(nn.Module):
    def __init__(self, classes=4):
        super().__init__()
        self.enc1 = _conv_bn(3, 16, 3, 2)                 # 1/2
        self.enc2 = _conv_bn(16, 32, 3, 2)                # 1/4
        self.enc3 = _conv_bn(32, 32, 3, 2)                # 1/8
        self.up3 = nn.ConvTranspose2d(32, 24, 3, stride=2, padding=1, output_padding=1)     # -> 1/4
        self.mix = _conv_bn(24 + 32, 24, 3, 1)
        self.up1 = nn.ConvTranspose2d(24, 16, 2, stride=2)                                    # -> 1/2
        self.head = nn.Conv2d(16 + 16, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d = F.relu(self.up3(e3))
        near = F.interpolate(e3, scale_factor=2, mode="nearest")                  # asymmetric, floor
        d = self.mix(torch.cat((d + near[:, :24], e2), 1))
        d = F.relu(self.up1(d))
        side = F.interpolate(e2[:, :16], scale_factor=2, mode="bilinear", align_corners=True)
        d = self.head(torch.cat((d, side), 1))
        return F.interpolate(d, scale_factor=2, mode="bilinear", align_corners=False)


def make_tiny_seg(size=64, classes=4, seed=0):
    _seeded(seed)
    return _random_bn(TinySeg(classes), seed), (1, 3, size, size)


MODELS = {"shufflenet_v2_05": make_shufflenet_v2_05, "squeezenet_11": make_squeezenet_11,
          "audio_cnn": make_audio_cnn, "tiny_seg": make_tiny_seg}


def export(model, shape, path, exporter="torchscript", opset=13):
    """ONNX from either PyTorch exporter: "torchscript" (dynamo=False, at `opset`) or "dynamo"."""
    x = torch.zeros(shape)
    if exporter == "dynamo":
        torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=max(opset, 18), verbose=False)
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset, input_names=["x"],
                          output_names=["y"])
    return str(path)


def audio():
    """The KWS test inputs (49 frames x 10 MFCC coefficients) as [N, coefficients, frames]."""
    import numpy as np
    from testkit.cases import data, extra
    x = np.concatenate([data("kws_input_float_dequant.npy"), extra("kws_shift")])
    return np.ascontiguousarray(x[..., 0].transpose(0, 2, 1)).astype(np.float32)


# -- the same families written with Keras 3 layers (saved as .keras; issue 18 part 6) --
def keras_models():
    """{name: (build function, input shape without batch)}; keras is imported by the caller's backend."""
    import keras
    L = keras.layers

    def fire(x, squeeze, expand):
        s = L.Conv2D(squeeze, 1, activation="relu")(x)
        return L.Concatenate()([L.Conv2D(expand, 1, activation="relu")(s),
                                L.Conv2D(expand, 3, padding="same", activation="relu")(s)])

    def squeezenet(size=96, classes=1000):
        i = keras.Input((size, size, 3))
        x = L.Conv2D(64, 3, strides=2, activation="relu")(i)
        x = L.MaxPooling2D(3, 2)(x)
        x = fire(fire(x, 16, 64), 16, 64)
        x = L.MaxPooling2D(3, 2)(x)
        x = fire(fire(x, 32, 128), 32, 128)
        x = L.MaxPooling2D(3, 2)(x)
        for sq, ex in ((48, 192), (48, 192), (64, 256), (64, 256)):
            x = fire(x, sq, ex)
        x = L.Conv2D(classes, 1, activation="relu", kernel_initializer=keras.initializers.RandomNormal(0, 0.01))(x)
        return keras.Model(i, L.GlobalAveragePooling2D()(x))

    def audio(frames=49, coeffs=10, classes=12):
        i = keras.Input((frames, coeffs))
        x = L.Conv1D(32, 5, padding="same", activation="relu")(i)
        x = L.MaxPooling1D(2)(x)
        x = L.DepthwiseConv1D(3, padding="same", activation="relu")(x)
        x = L.SeparableConv1D(48, 3, padding="same", activation="relu")(x)
        x = L.AveragePooling1D(2)(x)
        x = L.Conv1D(64, 3, strides=2, padding="same", activation="relu")(x)
        return keras.Model(i, L.Dense(classes)(L.GlobalAveragePooling1D()(x)))

    def seg(size=64, classes=4):
        i = keras.Input((size, size, 3))
        e1 = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(i)
        e2 = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(e1)
        e3 = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(e2)
        d = L.Conv2DTranspose(24, 3, strides=2, padding="same", activation="relu")(e3)
        near = L.Conv2D(24, 1)(L.UpSampling2D(2)(e3))
        d = L.Conv2D(24, 3, padding="same", activation="relu")(L.Concatenate()([L.Add()([d, near]), e2]))
        d = L.Conv2DTranspose(16, 2, strides=2, activation="relu")(d)
        side = L.UpSampling2D(2, interpolation="bilinear")(L.Conv2D(16, 1)(e2))
        d = L.Conv2D(classes, 1)(L.Concatenate()([d, side]))
        d = L.Cropping2D(((0, 2), (2, 0)))(L.ZeroPadding2D(((0, 2), (2, 0)))(d))
        return keras.Model(i, L.UpSampling2D(2, interpolation="bilinear")(d))

    def conv_bn(x, filters, k=1, strides=1, relu=True, depthwise=False):
        conv = L.DepthwiseConv2D(k, strides, padding="same", use_bias=False) if depthwise else \
            L.Conv2D(filters, k, strides, padding="same", use_bias=False)
        x = L.BatchNormalization()(conv(x))
        return L.ReLU()(x) if relu else x

    def shuffle(x, groups=2):
        """Channel shuffle as Keras users write it: Reshape to (H, W, groups, C/groups), swap the last
        two axes with Permute, Reshape back."""
        h, w, c = x.shape[1:]
        x = L.Reshape((h, w, groups, c // groups))(x)
        return L.Reshape((h, w, c))(L.Permute((1, 2, 4, 3))(x))

    def shuffle_unit(x, cout, stride):
        mid = cout // 2
        if stride == 1:                       # channel split: x[..., :c/2] passes, x[..., c/2:] is transformed
            c = x.shape[-1]
            left, right = x[..., :c // 2], x[..., c // 2:]
        else:
            left = conv_bn(conv_bn(x, None, 3, stride, relu=False, depthwise=True), mid)
            right = x
        right = conv_bn(conv_bn(conv_bn(right, mid), None, 3, stride, relu=False, depthwise=True), mid)
        return shuffle(L.Concatenate()([left, right]))

    def shufflenet(size=96, classes=1000, stages=(48, 96, 192), repeats=(4, 8, 4), last=1024):
        """ShuffleNetV2 0.5x (Ma et al. 2018, table 5), as the torch one in this file."""
        i = keras.Input((size, size, 3))
        x = L.MaxPooling2D(3, 2, padding="same")(conv_bn(i, 24, 3, 2))
        for cout, n in zip(stages, repeats):
            for k in range(n):
                x = shuffle_unit(x, cout, 2 if k == 0 else 1)
        x = L.GlobalAveragePooling2D()(conv_bn(x, last))
        return keras.Model(i, L.Dense(classes)(x))

    return {"squeezenet_11": (squeezenet, (96, 96, 3)), "audio_cnn": (audio, (49, 10)), "tiny_seg": (seg, (64, 64, 3)),
            "shufflenet_v2_05": (shufflenet, (96, 96, 3))}
