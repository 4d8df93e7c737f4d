"""ONNX export and import: minicnn models in onnxruntime, Netron and PyTorch, and back.

    import minicnn.onnx
    minicnn.onnx.export(model, "model.onnx", input_shape=(1, 28, 28))   # any batch size
    same = minicnn.onnx.load("model.onnx")                              # a minicnn.Sequential

Needs the optional ``onnx`` package: ``pip install minicnn[onnx]`` (``import
minicnn.onnx`` works without it; calling ``export`` or ``load`` says what to install).

How the layers map (opset 17; the importer reads opsets 7 and later):

| minicnn layer | ONNX op | notes |
|---|---|---|
| Conv2D, Conv1D | Conv | W (O, C/groups, k...) as is; group = groups; pads [top, left, bottom, right], [left, right] |
| MaxPool2D, MaxPool1D | MaxPool | strides always written (ONNX's default is 1); ceil_mode=1 where it adds a window |
| AvgPool2D, AvgPool1D | AveragePool | count_include_pad as the layer's: 1 counts the zero padding in the mean |
| GlobalAvgPool2D, GlobalAvgPool1D | GlobalAveragePool + Flatten | ONNX's (N, C, 1, 1) or (N, C, 1) flattened to (N, C) |
| AdaptiveAvgPool2D | Identity, GlobalAveragePool, AveragePool, Reshape + MatMul + Reshape | exact for ``input_shape`` |
| LocalResponseNorm | LRN | odd size, 4-D, alpha, beta > 0 (what onnxruntime runs); else PyTorch's decomposition |
| Concat | the branches' nodes + Concat (axis 1) | nested Concats nest; an empty branch is x itself |
| SqueezeExcitation | the gate's nodes, Unsqueeze, Mul | the gate (N, C) as (N, C, 1, 1), broadcast over H, W |
| Dense | Gemm, or MatMul + Add | W (in, out) is Gemm's B with transB=0; MatMul for (N, ..., in) |
| BatchNorm | BatchNormalization | running statistics; ONNX momentum = 1 - minicnn momentum |
| Flatten, Reshape | Flatten (axis 1), Reshape to [0, *shape] | the batch axis stays dynamic |
| ReLU, LeakyReLU, Sigmoid, Tanh | Relu, LeakyRelu (alpha), Sigmoid, Tanh | |
| ReLU6 | Clip (min 0, max 6) | |
| SiLU | Sigmoid + Mul | x * sigmoid(x): ONNX has no SiLU |
| Hardswish, Hardsigmoid | HardSwish, HardSigmoid (alpha 1/6, beta 1/2) | |
| Softmax, LogSoftmax | Softmax (axis), LogSoftmax (axis) | |
| Normalize | Sub mean, Div std | the constants (C, 1, ...) per channel, or scalars |
| ChannelShuffle | Reshape (N, g, C/g, ...), Transpose, Reshape | PyTorch's channel_shuffle |
| ChannelSlice | Slice of axis 1 | x[:, start:stop] |
| Dropout | Dropout (ratio, inference) | the identity |
| Residual | the block's nodes, the shortcut's, Add | both branches read the same tensor; x + x for an empty block |

``padding="same"`` is written as the explicit pads it gives for ``input_shape`` (at
stride > 1 they depend on the input size; onnxruntime refuses auto_pad with dilation).

The importer also reads PyTorch's forms: Gemm with transB=1 (Linear), BatchNorm folded
into Conv, flatten as Flatten, as ``Reshape`` to [-1, features] or as
Shape/Gather/Unsqueeze/Concat/Reshape, ``auto_pad=SAME_UPPER``, global average pooling
as ReduceMean over H and W (over L: GlobalAvgPool1D), residual adds, ``torch.cat`` of
branches (Inception; a cat of two outputs of one fork becomes a nested Concat), x * gate(x)
with a squeeze-and-excitation gate of 1x1 Convs or Gemms (torchvision's and timm's SE),
grouped Conv, ceil_mode pools, Clip(0, 6) as ReLU6, LRN of odd size (and of any size as
minicnn and PyTorch write its decomposition, the legacy exporter's with an If on a constant),
Concat of (N, F) branches, empty branches (x itself), DenseNet's cat of every map before,
x * sigmoid(x) as SiLU, x * hardsigmoid(x) as Hardswish, SE gates of other activations and with
a BatchNorm, the input normalisation (x - mean) / std (or x * scale + shift) as Normalize,
ShuffleNet's channel shuffle and split (x.chunk: Slice or Split of the channels),
BatchNormalization and Dropout exported in training mode (the same layers, to fine-tune), the
dynamo exporter's adaptive average pooling of unequal bins (Gathers: a linear map of the
pixels). AdaptiveAvgPool2D comes back from minicnn's own files through the metadata (its forms
checked against the layer). What minicnn cannot compute exactly is refused with a ValueError
naming the node, the op, what the graph does there and what minicnn reads in that role.

One exporter per layer class is in :data:`minicnn.onnx.exporters.EXPORTERS`, one
importer per op in :data:`minicnn.onnx.importers.IMPORTERS`.
"""
from ._common import OPSET
from .exporters import export
from .importers import load

__all__ = ["export", "load", "OPSET"]
