"""ONNX export and import: minicnn models in onnxruntime, Netron and PyTorch, and back.

    import minicnn.onnx
    minicnn.onnx.export(model, "model.onnx", input_shape=(1, 28, 28))   # any batch size
    same = minicnn.onnx.load("model.onnx")                              # a minicnn.Sequential

Needs the optional ``onnx`` package: ``pip install minicnn[onnx]`` (``import
minicnn.onnx`` works without it; calling ``export`` or ``load`` says what to install).

How the layers map (opset 17; the importer reads opsets 7 and later):

| minicnn layer | ONNX op | notes |
|---|---|---|
| Conv2D, Conv1D | Conv | W (O, C, kh, kw) or (O, C, k) as is; pads [top, left, bottom, right] or [left, right] |
| MaxPool2D, MaxPool1D | MaxPool | strides always written (ONNX's default is 1) |
| AvgPool2D, AvgPool1D | AveragePool | count_include_pad as the layer's: 1 counts the zero padding in the mean |
| GlobalAvgPool2D | GlobalAveragePool + Flatten | ONNX's (N, C, 1, 1) flattened to minicnn's (N, C) |
| Dense | Gemm, or MatMul + Add | W (in, out) is Gemm's B with transB=0; MatMul for (N, ..., in) |
| BatchNorm | BatchNormalization | running statistics; ONNX momentum = 1 - minicnn momentum |
| Flatten, Reshape | Flatten (axis 1), Reshape to [0, *shape] | the batch axis stays dynamic |
| ReLU, LeakyReLU, Sigmoid, Tanh | Relu, LeakyRelu (alpha), Sigmoid, Tanh | |
| Softmax | Softmax (axis) | |
| Dropout | Dropout (ratio, inference) | the identity |
| Residual | the block's nodes, the shortcut's, Add | both branches read the same tensor |

``padding="same"`` is written as the explicit pads it gives for ``input_shape`` (at
stride > 1 they depend on the input size; onnxruntime refuses auto_pad with dilation).

The importer also reads PyTorch's forms: Gemm with transB=1 (Linear), BatchNorm folded
into Conv, flatten as Flatten, as ``Reshape`` to [-1, features] or as
Shape/Gather/Unsqueeze/Concat/Reshape, ``auto_pad=SAME_UPPER``, global average pooling
as ReduceMean over H and W, residual adds. What minicnn cannot compute exactly is
refused with a ValueError naming the node, the op and the reason.

One exporter per layer class is in :data:`minicnn.onnx.exporters.EXPORTERS`, one
importer per op in :data:`minicnn.onnx.importers.IMPORTERS`.
"""
from ._common import OPSET
from .exporters import export
from .importers import load

__all__ = ["export", "load", "OPSET"]
