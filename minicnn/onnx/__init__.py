"""ONNX export and import: minicnn models in onnxruntime, Netron and PyTorch, and back.

    import minicnn.onnx
    minicnn.onnx.export(model, "model.onnx", input_shape=(1, 28, 28))   # any batch size
    same = minicnn.onnx.load("model.onnx")                              # a minicnn.Sequential

Needs the optional ``onnx`` package: ``pip install minicnn[onnx]`` (``import
minicnn.onnx`` works without it; calling ``export`` or ``load`` says what to install).

How the layers map (opset 17; the importer reads opsets 7 and later):

| minicnn layer | ONNX op | notes |
|---|---|---|
| Conv2D | Conv | W (O, C, kh, kw) as is; pads [top, left, bottom, right]; group 1 |
| MaxPool2D | MaxPool | strides always written (ONNX's default is 1) |
| AvgPool2D | AveragePool | count_include_pad=1: the zero padding counts in the mean |
| Dense | Gemm, or MatMul + Add | W (in, out) is Gemm's B with transB=0; MatMul for (N, ..., in) |
| BatchNorm | BatchNormalization | running statistics; ONNX momentum = 1 - minicnn momentum |
| Flatten, Reshape | Flatten (axis 1), Reshape to [0, *shape] | the batch axis stays dynamic |
| ReLU, LeakyReLU, Sigmoid, Tanh | Relu, LeakyRelu (alpha), Sigmoid, Tanh | |
| Softmax | Softmax (axis) | |
| Dropout | Dropout (ratio, inference) | the identity |

The importer also reads PyTorch's forms: Gemm with transB=1 (Linear), BatchNorm folded
into Conv, flatten as Flatten, as ``Reshape`` to [-1, features] or as
Shape/Gather/Unsqueeze/Concat/Reshape. What minicnn cannot compute exactly is
refused with a ValueError naming the node, the op and the reason.

One exporter per layer class is in :data:`minicnn.onnx.exporters.EXPORTERS`, one
importer per op in :data:`minicnn.onnx.importers.IMPORTERS`.
"""
from ._common import OPSET
from .exporters import export
from .importers import load

__all__ = ["export", "load", "OPSET"]
