"""The architectures of ``minicnn.models``, written in plain PyTorch (``torch.nn`` only).

They are the reference implementations' architectures, written again so that neither
torchvision nor timm is needed: torchvision's ``alexnet``, ``vgg11``, ``vgg16``, ``googlenet``
(``aux_logits=False``, ``transform_input=False``), ``resnet18/34/50``, ``mobilenet_v2`` and
``densenet121`` (its ``torch.cat`` of every feature map before, as torchvision writes it); timm's ``inception_v4``
and ``seresnet50``; and LeNet-5 (1998: 6-16-120-84-10, tanh, average pooling, 32x32 input,
C3 fully connected). The parameter counts equal the references' (checked when this file runs).

Every module is registered in the order its forward runs it (a branch's layers before the
next branch's, a residual block before its shortcut, the SE gate inside the block), which is
also the order of ``minicnn.models``' layers: :func:`load_from_minicnn` copies a minicnn
model's weights into the torch model by walking both in that order, so that the two can be
compared on the same weights (``benchmarks/bench_models.py``).

    PYTHONPATH=. /work/torchvenv/bin/python benchmarks/zoo_torch.py     # prints the counts
"""
import torch
from torch import nn


# -- LeNet-5, AlexNet, VGG ------------------------------------------------------------------
def lenet5(num_classes=10, in_channels=1):
    """32x32 -> C1 conv5 6 -> S2 avgpool 2 -> C3 conv5 16 -> S4 avgpool 2 -> C5 conv5 120 -> F6 84 -> 10."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes))


def alexnet(num_classes=1000, in_channels=3):
    """torchvision's AlexNet (the one-GPU form of "One weird trick", no LRN, no groups)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, num_classes))


VGG_WIDTHS = {"vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
              "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]}


def _vgg(widths, num_classes, in_channels):
    layers, c = [], in_channels
    for w in widths:
        if w == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU()]
            c = w
    return nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, num_classes))


def vgg11(num_classes=1000, in_channels=3):
    return _vgg(VGG_WIDTHS["vgg11"], num_classes, in_channels)


def vgg16(num_classes=1000, in_channels=3):
    return _vgg(VGG_WIDTHS["vgg16"], num_classes, in_channels)


# -- branches ---------------------------------------------------------------------------------
class Cat(nn.Module):
    """torch.cat of the branches' outputs on the same input, along the channels."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class Add(nn.Module):
    """block(x) + shortcut(x) (identity when shortcut is None), then ReLU: a ResNet block."""

    def __init__(self, block, shortcut=None):
        super().__init__()
        self.block, self.shortcut = block, shortcut

    def forward(self, x):
        return torch.relu(self.block(x) + (x if self.shortcut is None else self.shortcut(x)))


class SE(nn.Module):
    """Squeeze-and-excitation: x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2), per channel."""

    def __init__(self, channels, squeeze_channels):
        super().__init__()
        self.fc1 = nn.Linear(channels, squeeze_channels)
        self.fc2 = nn.Linear(squeeze_channels, channels)

    def forward(self, x):
        g = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * g[:, :, None, None]


# -- GoogLeNet (torchvision) ------------------------------------------------------------------
def basic_conv(cin, cout, kernel_size, stride=1, padding=0):
    """Conv (no bias) + BatchNorm(eps=0.001) + ReLU: torchvision's BasicConv2d and timm's ConvNormAct."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm2d(cout, eps=0.001), nn.ReLU())


def inception(cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    """GoogLeNet's block. As in torchvision, the "5x5" branch is a 3x3 convolution (a known
    slip kept for its pretrained weights)."""
    return Cat(basic_conv(cin, ch1x1, 1),
               nn.Sequential(basic_conv(cin, ch3x3red, 1), basic_conv(ch3x3red, ch3x3, 3, padding=1)),
               nn.Sequential(basic_conv(cin, ch5x5red, 1), basic_conv(ch5x5red, ch5x5, 3, padding=1)),
               nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic_conv(cin, pool_proj, 1)))


def googlenet(num_classes=1000, in_channels=3):
    return nn.Sequential(
        basic_conv(in_channels, 64, 7, stride=2, padding=3), nn.MaxPool2d(3, 2, ceil_mode=True),
        basic_conv(64, 64, 1), basic_conv(64, 192, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True),
        inception(192, 64, 96, 128, 16, 32, 32), inception(256, 128, 128, 192, 32, 96, 64),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        inception(480, 192, 96, 208, 16, 48, 64), inception(512, 160, 112, 224, 24, 64, 64),
        inception(512, 128, 128, 256, 24, 64, 64), inception(512, 112, 144, 288, 32, 64, 64),
        inception(528, 256, 160, 320, 32, 128, 128), nn.MaxPool2d(2, 2, ceil_mode=True),
        inception(832, 256, 160, 320, 32, 128, 128), inception(832, 384, 192, 384, 48, 128, 128),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1024, num_classes))


# -- Inception-v4 (timm) ----------------------------------------------------------------------
def _seq(*layers):
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def _avg_branch(cin, cout):
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), basic_conv(cin, cout, 1))


def inception_a():
    return Cat(basic_conv(384, 96, 1),
               _seq(basic_conv(384, 64, 1), basic_conv(64, 96, 3, padding=1)),
               _seq(basic_conv(384, 64, 1), basic_conv(64, 96, 3, padding=1), basic_conv(96, 96, 3, padding=1)),
               _avg_branch(384, 96))


def reduction_a():
    return Cat(basic_conv(384, 384, 3, stride=2),
               _seq(basic_conv(384, 192, 1), basic_conv(192, 224, 3, padding=1), basic_conv(224, 256, 3, stride=2)),
               nn.MaxPool2d(3, 2))


def inception_b():
    return Cat(basic_conv(1024, 384, 1),
               _seq(basic_conv(1024, 192, 1), basic_conv(192, 224, (1, 7), padding=(0, 3)),
                    basic_conv(224, 256, (7, 1), padding=(3, 0))),
               _seq(basic_conv(1024, 192, 1), basic_conv(192, 192, (7, 1), padding=(3, 0)),
                    basic_conv(192, 224, (1, 7), padding=(0, 3)), basic_conv(224, 224, (7, 1), padding=(3, 0)),
                    basic_conv(224, 256, (1, 7), padding=(0, 3))),
               _avg_branch(1024, 128))


def reduction_b():
    return Cat(_seq(basic_conv(1024, 192, 1), basic_conv(192, 192, 3, stride=2)),
               _seq(basic_conv(1024, 256, 1), basic_conv(256, 256, (1, 7), padding=(0, 3)),
                    basic_conv(256, 320, (7, 1), padding=(3, 0)), basic_conv(320, 320, 3, stride=2)),
               nn.MaxPool2d(3, 2))


def _split_of(cin, cout):
    """InceptionC's fork: a 1x3 and a 3x1 convolution of the same map, concatenated."""
    return Cat(basic_conv(cin, cout, (1, 3), padding=(0, 1)), basic_conv(cin, cout, (3, 1), padding=(1, 0)))


def _split(cin):
    return _split_of(cin, 256)


def inception_c():
    return Cat(basic_conv(1536, 256, 1),
               _seq(basic_conv(1536, 384, 1), _split(384)),
               _seq(basic_conv(1536, 384, 1), basic_conv(384, 448, (3, 1), padding=(1, 0)),
                    basic_conv(448, 512, (1, 3), padding=(0, 1)), _split(512)),
               _avg_branch(1536, 256))


def inception_v4(num_classes=1000, in_channels=3):
    return nn.Sequential(
        basic_conv(in_channels, 32, 3, stride=2), basic_conv(32, 32, 3), basic_conv(32, 64, 3, padding=1),
        Cat(nn.MaxPool2d(3, 2), basic_conv(64, 96, 3, stride=2)),                               # Mixed3a
        Cat(_seq(basic_conv(160, 64, 1), basic_conv(64, 96, 3)),                                 # Mixed4a
            _seq(basic_conv(160, 64, 1), basic_conv(64, 64, (1, 7), padding=(0, 3)),
                 basic_conv(64, 64, (7, 1), padding=(3, 0)), basic_conv(64, 96, 3))),
        Cat(basic_conv(192, 192, 3, stride=2), nn.MaxPool2d(3, 2)),                              # Mixed5a
        *[inception_a() for _ in range(4)], reduction_a(),
        *[inception_b() for _ in range(7)], reduction_b(),
        *[inception_c() for _ in range(3)],
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(1536, num_classes))


# -- ResNet (torchvision), SE-ResNet (timm) ---------------------------------------------------
def _conv_bn(cin, cout, k, stride=1, padding=0):
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False), nn.BatchNorm2d(cout)]


def _shortcut(cin, cout, stride):
    return None if stride == 1 and cin == cout else nn.Sequential(*_conv_bn(cin, cout, 1, stride))


def basic_block(cin, width, stride):
    return Add(nn.Sequential(*_conv_bn(cin, width, 3, stride, 1), nn.ReLU(), *_conv_bn(width, width, 3, 1, 1)),
               _shortcut(cin, width, stride))


def se_channels(channels):
    """timm's SEModule width: make_divisible(channels / 16, 8)."""
    v = channels / 16
    new = max(8, int(v + 4) // 8 * 8)
    return new + 8 if new < 0.9 * v else new


def bottleneck(cin, width, stride, se=False):
    """ResNet v1.5 (torchvision, timm): the stride on the 3x3 convolution; expansion 4."""
    out = 4 * width
    layers = [*_conv_bn(cin, width, 1), nn.ReLU(), *_conv_bn(width, width, 3, stride, 1), nn.ReLU(),
              *_conv_bn(width, out, 1)]
    if se:
        layers.append(SE(out, se_channels(out)))
    return Add(nn.Sequential(*layers), _shortcut(cin, out, stride))


def _resnet(block, depths, num_classes, in_channels, **kw):
    layers = [*_conv_bn(in_channels, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin, expansion = 64, 4 if block is bottleneck else 1
    for stage, (width, depth) in enumerate(zip((64, 128, 256, 512), depths)):
        for i in range(depth):
            layers.append(block(cin, width, 2 if stage > 0 and i == 0 else 1, **kw))
            cin = width * expansion
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(cin, num_classes))


def resnet18(num_classes=1000, in_channels=3):
    return _resnet(basic_block, (2, 2, 2, 2), num_classes, in_channels)


def resnet34(num_classes=1000, in_channels=3):
    return _resnet(basic_block, (3, 4, 6, 3), num_classes, in_channels)


def resnet50(num_classes=1000, in_channels=3):
    return _resnet(bottleneck, (3, 4, 6, 3), num_classes, in_channels)


def se_resnet50(num_classes=1000, in_channels=3):
    return _resnet(bottleneck, (3, 4, 6, 3), num_classes, in_channels, se=True)


# -- MobileNetV2, DenseNet-121 (torchvision, written by hand: its wheel does not load with the CPU torch) --
def conv_bn_relu6(cin, cout, kernel_size, stride=1, groups=1):
    """torchvision's Conv2dNormActivation in MobileNetV2: Conv (no bias), BatchNorm2d, ReLU6."""
    return [nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU6()]


class InvertedResidual(nn.Module):
    """torchvision's MobileNetV2 block: expand 1x1 (t != 1), depthwise 3x3, project 1x1; x added
    where stride 1 keeps the shape."""

    def __init__(self, cin, cout, stride, expand_ratio):
        super().__init__()
        hidden = round(cin * expand_ratio)
        self.use_res_connect = stride == 1 and cin == cout
        layers = conv_bn_relu6(cin, hidden, 1) if expand_ratio != 1 else []
        layers += conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.mobilenet_v2 (width 1.0): 3,504,872 parameters."""

    def __init__(self, num_classes=1000, in_channels=3):
        super().__init__()
        layers, cin = conv_bn_relu6(in_channels, 32, 3, 2), 32
        for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                           (6, 160, 3, 2), (6, 320, 1, 1)):
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.features = nn.Sequential(*layers, *conv_bn_relu6(cin, 1280, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1)), 1))


class DenseLayer(nn.Module):
    """torchvision's _DenseLayer: BN, ReLU, 1x1 conv to bn_size * growth, BN, ReLU, 3x3 conv to growth,
    on the concatenation of every feature map before it."""

    def __init__(self, cin, growth_rate=32, bn_size=4):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU()
        self.conv1 = nn.Conv2d(cin, bn_size * growth_rate, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth_rate), nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, features):
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.ModuleList):
    """torchvision's _DenseBlock: each layer reads every map before it; the block gives them all."""

    def forward(self, x):
        features = [x]
        for layer in self:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet121(nn.Module):
    """torchvision.models.densenet121: 7,978,856 parameters."""

    def __init__(self, num_classes=1000, in_channels=3):
        super().__init__()
        layers, c = [nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                     nn.MaxPool2d(3, 2, 1)], 64
        for block, depth in enumerate((6, 12, 24, 16)):
            layers.append(DenseBlock([DenseLayer(c + 32 * i) for i in range(depth)]))
            c += 32 * depth
            if block < 3:
                layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2, 2)]
                c //= 2
        self.features = nn.Sequential(*layers, nn.BatchNorm2d(c))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(torch.relu(self.features(x)), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(num_classes=1000, in_channels=3):
    return MobileNetV2(num_classes, in_channels)


def densenet121(num_classes=1000, in_channels=3):
    return DenseNet121(num_classes, in_channels)


MODELS = {f.__name__: f for f in (lenet5, alexnet, vgg11, vgg16, googlenet, inception_v4,
                                  resnet18, resnet34, resnet50, se_resnet50, mobilenet_v2, densenet121)}

#: The reference implementations' parameter counts (torchvision; timm for inception_v4, seresnet50).
EXPECTED = {"lenet5": 61_706, "alexnet": 61_100_840, "vgg11": 132_863_336, "vgg16": 138_357_544,
            "googlenet": 6_624_904, "inception_v4": 42_679_816, "resnet18": 11_689_512,
            "resnet34": 21_797_672, "resnet50": 25_557_032, "se_resnet50": 28_088_024,
            "mobilenet_v2": 3_504_872, "densenet121": 7_978_856}


# -- weights from minicnn ---------------------------------------------------------------------
def _torch_leaves(module):
    """The Conv2d, BatchNorm2d and Linear modules in registration (= forward) order."""
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]


def _minicnn_leaves(layers):
    from minicnn import layers as L
    out = []
    for layer in layers:
        if isinstance(layer, (L.Conv2D, L.BatchNorm, L.Dense)):
            out.append(layer)
        else:
            out += _minicnn_leaves(layer.sublayers())
    return out


def load_from_minicnn(torch_model, mc_model):
    """Copy a minicnn model's parameters and BatchNorm statistics into the torch model of the
    same architecture (Dense's W (in, out) is Linear's weight transposed). Returns torch_model."""
    import numpy as np
    ours, theirs = _minicnn_leaves(mc_model.layers), _torch_leaves(torch_model)
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} minicnn layers with weights against {len(theirs)} torch modules")
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            p = {k: torch.from_numpy(np.ascontiguousarray(v.data)) for k, v in a.params.items()}
            if isinstance(b, nn.BatchNorm2d):
                pairs = [(b.weight, p["gamma"]), (b.bias, p["beta"]),
                         (b.running_mean, torch.from_numpy(a.running_mean)),
                         (b.running_var, torch.from_numpy(a.running_var))]
                if b.eps != a.eps:
                    raise ValueError(f"BatchNorm eps {a.eps} against torch's {b.eps}")
            elif isinstance(b, nn.Linear):
                pairs = [(b.weight, p["W"].T), (b.bias, p["b"])]
            else:
                pairs = [(b.weight, p["W"])] + ([(b.bias, p["b"])] if b.bias is not None else [])
            for dst, src in pairs:
                if tuple(dst.shape) != tuple(src.shape):
                    raise ValueError(f"{type(a).__name__} {tuple(src.shape)} against {b} {tuple(dst.shape)}")
                dst.copy_(src.to(dst.dtype))
    return torch_model


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    ok = True
    for name, build in MODELS.items():
        n = sum(p.numel() for p in build().parameters())
        ok &= n == EXPECTED[name]
        print(f"{name:14s} {n:>13,d}  reference {EXPECTED[name]:>13,d}  {'ok' if n == EXPECTED[name] else 'DIFFERS'}")
    x = torch.randn(1, 3, 224, 224)
    for name in ("googlenet", "resnet50", "se_resnet50", "alexnet"):
        print(name, tuple(MODELS[name]().eval()(x).shape))
    print("inception_v4", tuple(inception_v4().eval()(torch.randn(1, 3, 299, 299)).shape))
    print("lenet5", tuple(lenet5().eval()(torch.randn(1, 1, 32, 32)).shape))
    raise SystemExit(0 if ok else 1)
