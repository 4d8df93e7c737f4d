"""Write the PyTorch-exported ONNX files that tests/test_onnx.py reads (needs torch; CI does not run it).

    python tests/data/make_torch_onnx.py        # torch, onnx, onnxruntime, onnxscript (for dynamo=True)

Three small networks in eval mode, with non-trivial BatchNorm statistics, each written
by both of PyTorch's exporters:

- ``torch_cnn``: Conv-BN-ReLU-MaxPool, Conv(no bias)-BN-ReLU-AvgPool(padding 1),
  flatten by ``x.view(x.size(0), -1)``, Linear-BN1d-ReLU-Dropout, Linear.
- ``torch_resnet``: a stem, a residual block with an identity shortcut and one with a
  1x1 stride-2 convolution (and BatchNorm) as shortcut, global average pooling
  (``AdaptiveAvgPool2d(1)``, as torchvision's ResNets), flatten, Linear.
- ``torch_signal``: 1-D, on (N, 2, 50): a dilated Conv1d-BN-ReLU-MaxPool1d, a residual
  block written ``x + body(x)`` (the identity first) around Conv1d(padding='same')-BN-ReLU,
  Conv1d(stride 2)-ReLU-AvgPool1d(count_include_pad=False), flatten, Linear.

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
  outputs ``cnn``, ``resnet`` (on x) and ``signal`` (on x1d), eval mode, float32.

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
                                ("signal", SmallSignalNet(), x1d)):
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
            print(f"{os.path.basename(path)}: onnxruntime vs PyTorch {diff:.1e}")
    np.savez(os.path.join(HERE, "torch_expected.npz"), **expected)
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
