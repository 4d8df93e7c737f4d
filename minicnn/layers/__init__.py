"""Layers with hand-written forward and backward passes (layout NCHW).

| layer | input -> output | parameters |
|---|---|---|
| Conv2D | (N, C, H, W) -> (N, O, OH, OW) | W (O, C/groups, kh, kw), b (O,) |
| Conv1D | (N, C, L) -> (N, O, OL) | W (O, C/groups, k), b (O,) |
| MaxPool2D, AvgPool2D (``ceil_mode``) | (N, C, H, W) -> (N, C, OH, OW) | - |
| MaxPool1D, AvgPool1D (``ceil_mode``) | (N, C, L) -> (N, C, OL) | - |
| AdaptiveAvgPool2D | (N, C, H, W) -> (N, C, OH, OW), OH, OW given | - |
| GlobalAvgPool2D | (N, C, H, W) -> (N, C) | - |
| GlobalAvgPool1D | (N, C, L) -> (N, C) | - |
| Dense | (N, in) -> (N, out) | W (in, out), b (out,) |
| Flatten, Reshape | (N, ...) -> (N, ...) | - |
| ChannelShuffle | (N, C, *), same shape: the channels of its groups interleaved | - |
| ChannelSlice | (N, C, *) -> (N, stop - start, *): x[:, start:stop] | - |
| ReLU, ReLU6, LeakyReLU, Sigmoid, Tanh, SiLU, Hardsigmoid, Hardswish | same shape | - |
| Softmax, LogSoftmax | same shape | - |
| Dropout | same shape | - |
| BatchNorm | (N, C) or (N, C, H, W), same shape | gamma (C,), beta (C,) |
| LocalResponseNorm | (N, C, *), same shape | - |
| Normalize | (N, C, *), same shape: (x - mean) / std per channel | - |
| Residual | block(x) + shortcut(x) | those of its layers |
| Concat | branches' outputs on x, concatenated along axis 1 | those of its layers |
| SqueezeExcitation | (N, C, H, W), same shape: x * gate(x) per channel | gate.1.W (C, S), gate.1.b, gate.3.W (S, C), gate.3.b (with BatchNorm: gate.2, gate.4) |

Containers (:mod:`minicnn.layers.container`): ``Chain``, layers run in order (what
``minicnn.Sequential`` builds on, and a Residual's branches are), and ``BranchedLayer``,
the base of layers made of branches. Each library layer class enters ``REGISTRY``
when it is defined (:mod:`minicnn.layers.base`).
"""
from .activation import Hardsigmoid, Hardswish, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Tanh
# isort: off  (the families in reading order; each class enters REGISTRY in this order)
from .base import REGISTRY, Layer, build_layer
from .batchnorm import BatchNorm
from .branches import Concat, SqueezeExcitation
from .container import BranchedLayer, Chain
from .conv import Conv1D, Conv2D
from .dropout import Dropout
from .linear import ChannelShuffle, ChannelSlice, Dense, Flatten, Reshape
from .normalization import LocalResponseNorm, Normalize
from .pooling import AdaptiveAvgPool2D, AvgPool1D, AvgPool2D, GlobalAvgPool1D, GlobalAvgPool2D, MaxPool1D, MaxPool2D
from .residual import Residual

# isort: on

# REGISTRY, every layer class by name, is full now: each class entered it when it was defined
# (tests/test_containers.py checks that __all__ names the protocol and every registered class)
__all__ = ["Layer", "Chain", "BranchedLayer", "build_layer", "REGISTRY",
           "Conv2D", "Conv1D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "AdaptiveAvgPool2D", "GlobalAvgPool1D",
           "MaxPool1D", "AvgPool1D", "Dense", "Reshape", "Flatten", "ChannelShuffle", "ChannelSlice",
           "ReLU", "ReLU6", "LeakyReLU", "SiLU", "Hardsigmoid", "Hardswish", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
           "Dropout", "BatchNorm", "LocalResponseNorm", "Normalize", "Residual", "Concat", "SqueezeExcitation"]
