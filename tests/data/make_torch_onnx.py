"""Write the PyTorch-exported ONNX files that tests/test_onnx.py reads (needs torch; CI does not run it).

    python tests/data/make_torch_onnx.py        # torch, onnx, onnxruntime, onnxscript (for dynamo=True)

Six small networks in eval mode, with non-trivial BatchNorm statistics, each written
by both of PyTorch's exporters:

- ``torch_cnn``: Conv-BN-ReLU-MaxPool, Conv(no bias)-BN-ReLU-AvgPool(padding 1),
  flatten by ``x.view(x.size(0), -1)``, Linear-BN1d-ReLU-Dropout, Linear.
- ``torch_resnet``: a stem, a residual block with an identity shortcut and one with a
  1x1 stride-2 convolution (and BatchNorm) as shortcut, global average pooling
  (``AdaptiveAvgPool2d(1)``, as torchvision's ResNets), flatten, Linear.
- ``torch_signal``: 1-D, on (N, 2, 50): a dilated Conv1d-BN-ReLU-MaxPool1d, a residual
  block written ``x + body(x)`` (the identity first) around Conv1d(padding='same')-BN-ReLU,
  Conv1d(stride 2)-ReLU-AvgPool1d(count_include_pad=False), flatten, Linear.
- ``torch_inception``: a stem with ``MaxPool2d(3, 2, ceil_mode=True)``, an Inception block
  (``torch.cat`` of four branches: a 1x1 conv; a 1x1 conv then a 1x3 and a 3x1 conv whose
  two outputs go into the one cat, Inception-v4's InceptionC form; a 1x1 then a 5x5 conv;
  ``MaxPool2d(3, 1, 1, ceil_mode=True)`` then a 1x1 conv), ``AvgPool2d(3, 2, 1, ceil_mode=True)``
  (a last window hanging over the padding), ``AdaptiveAvgPool2d((4, 4))``, flatten, Linear.
- ``torch_senet``: torchvision's ``SqueezeExcitation`` (AdaptiveAvgPool2d(1), 1x1 Conv2d,
  ReLU, 1x1 Conv2d, Sigmoid, ``scale * input``), then an SE gate written with Linear layers
  on ``x.mean((2, 3))`` and ``x * gate[:, :, None, None]``, global pooling, Linear.
- ``torch_grouped``: depthwise and grouped Conv2d with ReLU6 (MobileNet's), then a 1-D part
  on ``x.flatten(2)``: grouped Conv1d, ReLU6, ``MaxPool1d(3, 2, ceil_mode=True)``,
  ``x.mean(-1)`` (1-D global average pooling), Linear.

Files, in this folder:

- ``<net>_legacy.onnx``: ``torch.onnx.export(..., dynamo=False)``, the TorchScript
  exporter: BatchNorm folded into Conv, BatchNorm1d after a Linear kept as
  BatchNormalization, Linear as Gemm(transB=1), the view as Shape/Gather/Unsqueeze/
  Concat/Reshape, the global pooling as GlobalAveragePool + Flatten, padding='same'
  as auto_pad=SAME_UPPER.
- ``<net>_dynamo.onnx`` + ``<net>_dynamo.onnx.data``: the default exporter
  (``dynamo=True``, ``torch.export``), which writes the weights to the .data file
  beside the model and folds every BatchNorm (also BatchNorm1d into the Linear);
  the view is Reshape to [-1, features], the global pooling ReduceMean(keepdims=1)
  + Reshape.
- ``torch_expected.npz``: ``x`` (8, 1, 28, 28), ``x1d`` (8, 2, 50) and PyTorch's
  outputs ``cnn``, ``resnet``, ``inception``, ``senet``, ``grouped`` (on x) and ``signal``
  (on x1d), eval mode, float32.

The script checks that onnxruntime reproduces PyTorch on every file before it
writes the arrays.
"""
import os
import warnings

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AvgPool2d(2, padding=1))                         # count_include_pad=True: minicnn's
        self.head = nn.Sequential(nn.Linear(16 * 8 * 8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.25),
                                  nn.Linear(32, 10))

    def forward(self, x):
        x = self.features(x)
        return self.head(x.view(x.size(0), -1))


class Block(nn.Module):
    """y = relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out
                         else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


class SmallSignalNet(nn.Module):
    """1-D, (N, 2, 50) -> (N, 5)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(2, 8, 5, padding=4, dilation=2), nn.BatchNorm1d(8), nn.ReLU(),
                                  nn.MaxPool1d(2))                                          # 50 -> 25
        self.body = nn.Sequential(nn.Conv1d(8, 8, 3, padding="same", bias=False), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Sequential(nn.Conv1d(8, 4, 3, stride=2, padding=1), nn.ReLU(),       # 25 -> 13
                                  nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False),   # -> 7
                                  nn.Flatten(), nn.Linear(4 * 7, 5))

    def forward(self, x):
        x = self.stem(x)
        return self.head(x + self.body(x))


def conv_bn_relu(c_in, c_out, kernel_size, padding=0):
    """torchvision's BasicConv2d: Conv2d without bias, BatchNorm2d, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, padding=padding, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU())


class Inception(nn.Module):
    """Four branches on x, concatenated; the second forks again (Inception-v4's InceptionC)."""

    def __init__(self, c_in):
        super().__init__()
        self.branch1 = conv_bn_relu(c_in, 4, 1)
        self.branch2 = conv_bn_relu(c_in, 4, 1)
        self.branch2a = conv_bn_relu(4, 3, (1, 3), padding=(0, 1))
        self.branch2b = conv_bn_relu(4, 3, (3, 1), padding=(1, 0))
        self.branch3 = nn.Sequential(conv_bn_relu(c_in, 2, 1), conv_bn_relu(2, 4, 5, padding=2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv_bn_relu(c_in, 4, 1))

    def forward(self, x):
        t = self.branch2(x)
        return torch.cat([self.branch1(x), self.branch2a(t), self.branch2b(t), self.branch3(x), self.branch4(x)], 1)


class SmallInception(nn.Module):
    """(N, 1, 28, 28) -> (N, 10)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(1, 8, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True))   # -> 14
        self.block = Inception(8)                                                                          # 18 channels
        self.head = nn.Sequential(nn.AvgPool2d(3, 2, padding=1, ceil_mode=True),                          # -> 8
                                  nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(), nn.Linear(18 * 16, 10))

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation, as it is written there."""

    def __init__(self, input_channels, squeeze_channels):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, input):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(input)))))
        return scale * input


class LinearSE(nn.Module):
    """The same gate with Linear layers on the (N, C) mean, broadcast by indexing."""

    def __init__(self, channels, squeeze):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(channels, squeeze), nn.Linear(squeeze, channels)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


class SmallSENet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(1, 16, 3, padding=1), SqueezeExcitation(16, 4), nn.MaxPool2d(2),
                                  conv_bn_relu(16, 16, 3, padding=1), LinearSE(16, 4))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.body(x))


class SmallGroupedNet(nn.Module):
    """Depthwise and grouped convolutions (MobileNet's ReLU6), then 1-D on the flattened map."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),   # -> 14
            nn.Conv2d(8, 16, 1, groups=2, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.signal = nn.Sequential(nn.Conv1d(16, 16, 5, stride=4, groups=4), nn.ReLU6(),                 # 196 -> 48
                                    nn.MaxPool1d(3, 2, ceil_mode=True))                                    # -> 24
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.signal(self.body(x).flatten(2)).mean(-1))


def randomise_batchnorm(model, generator):
    """Trained-looking statistics, so that BatchNorm is not (nearly) the identity."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)


def export(model, x, path, dynamo):
    kwargs = dict(input_names=["x"], output_names=["logits"], dynamo=dynamo)
    if dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
    else:
        kwargs["dynamic_axes"] = {"x": {0: "batch"}, "logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the legacy exporter's deprecation notice
        torch.onnx.export(model, (x,), path, **kwargs)


def main():
    torch.manual_seed(15)
    generator = torch.Generator().manual_seed(15)
    x = torch.rand(8, 1, 28, 28, generator=generator)
    x1d = torch.rand(8, 2, 50, generator=torch.Generator().manual_seed(16))
    expected = {"x": x.numpy(), "x1d": x1d.numpy()}
    for name, model, inputs in (("cnn", SmallCNN(), x), ("resnet", SmallResNet(), x),
                                ("signal", SmallSignalNet(), x1d), ("inception", SmallInception(), x),
                                ("senet", SmallSENet(), x), ("grouped", SmallGroupedNet(), x)):
        randomise_batchnorm(model, generator)
        model.eval()
        with torch.no_grad():
            y = model(inputs).numpy()
        expected[name] = y
        for exporter in ("legacy", "dynamo"):
            path = os.path.join(HERE, f"torch_{name}_{exporter}.onnx")
            export(model, inputs, path, dynamo=exporter == "dynamo")
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            got = session.run(None, {"x": inputs.numpy()})[0]
            diff = float(np.abs(got - y).max())
            assert diff < 1e-5, (path, diff)
            size = sum(os.path.getsize(p) for p in (path, path + ".data") if os.path.exists(p))
            print(f"{os.path.basename(path)}: onnxruntime vs PyTorch {diff:.1e}, {size / 1024:.0f} KB")
    np.savez(os.path.join(HERE, "torch_expected.npz"), **expected)
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
