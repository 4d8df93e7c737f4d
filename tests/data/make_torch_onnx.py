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
- ``torch_mobile``: the blocks of the networks after ResNet: MNIST's normalisation inside the
  model (``(x - mean) / std``), Hardswish, MobileNetV3's SE gate (Hardsigmoid), SiLU and
  EfficientNet's SE gate (SiLU), ShuffleNetV2's unit (``x.chunk(2, 1)``, a branch, ``torch.cat``,
  channel shuffle), two layers of a DenseNet block (``torch.cat`` of every feature map before),
  ``nn.LocalResponseNorm(4)`` (PyTorch's decomposition), global pooling, Linear, ``log_softmax``.
- ``torch_adaptive`` (dynamo only: the legacy exporter refuses it): ``AdaptiveAvgPool2d`` of
  unequal bins, 7 x 7 -> 5 x 5 -> 3 x 2, which the dynamo exporter writes as Gathers.
- ``torch_finetune_training.onnx`` (legacy only): a small CNN with MNIST's normalisation, Conv-BN-ReLU,
  an SE gate whose squeeze is conv-BN-ReLU, Dropout and log_softmax, exported in training mode
  (``training=TrainingMode.TRAINING, do_constant_folding=False``): BatchNorm and Dropout stay in
  the file, to be fine-tuned (docs/onnx.md).

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
  outputs ``cnn``, ``resnet``, ``inception``, ``senet``, ``grouped``, ``mobile``, ``adaptive``,
  ``finetune`` (on x) and ``signal`` (on x1d), eval mode, float32.

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

    def __init__(self, input_channels, squeeze_channels, activation=nn.ReLU, scale_activation=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

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


def channel_shuffle(x, groups):
    """torchvision's ShuffleNetV2 channel shuffle: view, transpose, view."""
    batchsize, num_channels, height, width = x.size()
    x = x.view(batchsize, groups, num_channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, -1, height, width)


class SmallMobileNet(nn.Module):
    """(N, 1, 28, 28) -> (N, 10) log-probabilities: the blocks of the networks after ResNet."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.1307]).view(1, 1, 1, 1))     # MNIST's, as its example
        self.register_buffer("std", torch.tensor([0.3081]).view(1, 1, 1, 1))
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())   # -> 14
        self.se = SqueezeExcitation(8, 4, nn.ReLU, nn.Hardsigmoid)                  # MobileNetV3's gate
        self.expand = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.se2 = SqueezeExcitation(16, 4, nn.SiLU, nn.Sigmoid)                     # EfficientNet's gate
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8),
                                    nn.Conv2d(8, 8, 1), nn.ReLU())
        self.dense1 = nn.Sequential(nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 4, 3, padding=1, bias=False))
        self.dense2 = nn.Sequential(nn.BatchNorm2d(20), nn.ReLU(), nn.Conv2d(20, 4, 3, padding=1, bias=False))
        self.lrn = nn.LocalResponseNorm(4)
        self.head = nn.Linear(24, 10)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = self.se2(self.expand(self.se(self.stem(x))))
        a, b = x.chunk(2, dim=1)                                                      # ShuffleNetV2's unit
        x = channel_shuffle(torch.cat((a, self.branch(b)), 1), 2)
        features = [x]                                                                # DenseNet's block
        features.append(self.dense1(torch.cat(features, 1)))
        features.append(self.dense2(torch.cat(features, 1)))
        x = self.lrn(torch.cat(features, 1))
        return torch.log_softmax(self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)), dim=1)


class SmallAdaptiveNet(nn.Module):
    """(N, 1, 28, 28) -> (N, 10): adaptive average pooling of unequal bins, 7 x 7 -> 5 x 5 -> 3 x 2,
    which the dynamo exporter alone writes (as Gathers)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d((5, 5)),
                                  nn.AdaptiveAvgPool2d((3, 2)))
        self.head = nn.Linear(24, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


class SmallFineTuneNet(nn.Module):
    """(N, 1, 28, 28) -> (N, 10) log-probabilities, exported in training mode: its BatchNorms (one in an
    SE gate's squeeze) and its Dropout stay in the file, to be fine-tuned."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.1307]).view(1, 1, 1, 1))
        self.register_buffer("std", torch.tensor([0.3081]).view(1, 1, 1, 1))
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.squeeze = nn.Sequential(nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.excite = nn.Conv2d(4, 8, 1)
        self.tail = nn.Sequential(nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(8 * 7 * 7, 10))

    def forward(self, x):
        x = self.body((x - self.mean) / self.std)
        gate = torch.sigmoid(self.excite(self.squeeze(nn.functional.adaptive_avg_pool2d(x, 1))))
        return torch.log_softmax(self.tail(x * gate), dim=1)


def randomise_batchnorm(model, generator):
    """Trained-looking statistics, so that BatchNorm is not (nearly) the identity."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)


def export(model, x, path, dynamo, **options):
    kwargs = dict(input_names=["x"], output_names=["logits"], dynamo=dynamo, **options)
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
    for name, model, inputs, exporters in (
            ("cnn", SmallCNN(), x, BOTH), ("resnet", SmallResNet(), x, BOTH), ("signal", SmallSignalNet(), x1d, BOTH),
            ("inception", SmallInception(), x, BOTH), ("senet", SmallSENet(), x, BOTH),
            ("grouped", SmallGroupedNet(), x, BOTH), ("mobile", SmallMobileNet(), x, BOTH),
            ("adaptive", SmallAdaptiveNet(), x, ("dynamo",))):
        randomise_batchnorm(model, generator)
        model.eval()
        with torch.no_grad():
            y = model(inputs).numpy()
        expected[name] = y
        for exporter in exporters:
            path = os.path.join(HERE, f"torch_{name}_{exporter}.onnx")
            export(model, inputs, path, dynamo=exporter == "dynamo")
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            got = session.run(None, {"x": inputs.numpy()})[0]
            diff = float(np.abs(got - y).max())
            assert diff < 1e-5, (path, diff)
            size = sum(os.path.getsize(p) for p in (path, path + ".data") if os.path.exists(p))
            print(f"{os.path.basename(path)}: onnxruntime vs PyTorch {diff:.1e}, {size / 1024:.0f} KB")
    expected["finetune"] = export_for_fine_tuning(generator, x)
    np.savez(os.path.join(HERE, "torch_expected.npz"), **expected)
    print("torch", torch.__version__)


#: Both of PyTorch's exporters.
BOTH = ("legacy", "dynamo")


def export_for_fine_tuning(generator, x):
    """``torch_finetune_training.onnx``: SmallFineTuneNet exported in training mode with
    ``do_constant_folding=False`` (the legacy exporter), which keeps BatchNorm (training_mode=1) and
    Dropout in the file. Returns the eval-mode output after the export (what minicnn's predict must
    give): the export's trace runs a training forward, which moves the BatchNorms' running statistics,
    and the file holds them as they are after it."""
    model = SmallFineTuneNet()
    randomise_batchnorm(model, generator)
    path = os.path.join(HERE, "torch_finetune_training.onnx")
    model.train()
    export(model, x, path, dynamo=False, training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    model.eval()
    with torch.no_grad():
        y = model(x).numpy()
    print(f"{os.path.basename(path)}: {os.path.getsize(path) / 1024:.0f} KB (training mode: onnxruntime computes "
          "batch statistics and drops values, so it is not compared)")
    return y


if __name__ == "__main__":
    main()
