"""Layers with hand-written forward and backward passes (layout NCHW).

| layer | input -> output | parameters |
|---|---|---|
| Conv2D | (N, C, H, W) -> (N, O, OH, OW) | W (O, C, kh, kw), b (O,) |
| MaxPool2D, AvgPool2D | (N, C, H, W) -> (N, C, OH, OW) | - |
| Dense | (N, in) -> (N, out) | W (in, out), b (out,) |
| Flatten, Reshape | (N, ...) -> (N, ...) | - |
| ReLU, LeakyReLU, Sigmoid, Tanh, Softmax | same shape | - |
| Dropout | same shape | - |
| BatchNorm | (N, C) or (N, C, H, W), same shape | gamma (C,), beta (C,) |
"""
from .base import Layer
from .conv import Conv2D
from .pooling import MaxPool2D, AvgPool2D
from .linear import Dense, Flatten, Reshape
from .activation import ReLU, LeakyReLU, Sigmoid, Tanh, Softmax
from .dropout import Dropout
from .batchnorm import BatchNorm

#: Every layer class by name; ``Sequential.load`` rebuilds layers from it.
REGISTRY = {cls.__name__: cls for cls in (
    Conv2D, MaxPool2D, AvgPool2D, Dense, Flatten, Reshape,
    ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Dropout, BatchNorm)}

__all__ = ["Layer", *REGISTRY]
