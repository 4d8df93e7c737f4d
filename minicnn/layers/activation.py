"""Element-wise activations and Softmax.

Each caches only what its derivative needs: ReLU the sign mask, LeakyReLU its
slope, Sigmoid/Tanh/Softmax their output (their derivatives are functions of
the output).
"""
import numpy as np

from .. import functional as F
from .._checks import check_float, check_int, check_softmax_axis
from ..devices import array_module
from .base import Layer


class ReLU(Layer):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0."""

    def _forward(self, x, training):
        if training:
            self.cache = x > 0                  # 1 byte per value is all backward needs
        xp = array_module(x)
        return xp.maximum(x, 0)

    def _backward(self, grad_out, input_grad):
        return grad_out * self.cache


class ReLU6(Layer):
    """y = min(max(x, 0), 6);  dy/dx = 1 where 0 < x < 6, else 0 (PyTorch's ``nn.ReLU6``,
    MobileNet's activation: the cap keeps activations small enough for low precision).
    ONNX writes it as ``Clip(x, 0, 6)``."""

    def _forward(self, x, training):
        if training:
            self.cache = (x > 0) & (x < 6)      # 1 byte per value, as ReLU's
        xp = array_module(x)
        return xp.minimum(xp.maximum(x, 0), x.dtype.type(6))

    def _backward(self, grad_out, input_grad):
        return grad_out * self.cache


class LeakyReLU(Layer):
    """y = x if x > 0 else negative_slope * x;  dy/dx = 1 or negative_slope."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = check_float(negative_slope, "negative_slope", minimum=0.0)

    def _forward(self, x, training):
        slope = (x > 0).astype(x.dtype)                             # 1 where x > 0 ...
        slope += (1 - slope) * x.dtype.type(self.negative_slope)    # ... negative_slope elsewhere
        if training:
            self.cache = slope
        return x * slope

    def _backward(self, grad_out, input_grad):
        return grad_out * self.cache.astype(grad_out.dtype, copy=False)

    def config(self):
        return dict(negative_slope=self.negative_slope)


class _OutputCached(Layer):
    """The base of Sigmoid, Tanh and Softmax, whose derivative is a function of their output y:
    ``_forward`` keeps y for ``_backward``. The class writes ``_activation(x)`` and ``_backward``."""

    def _forward(self, x, training):
        y = self._activation(x)
        if training:
            self.cache = y
        return y


class Sigmoid(_OutputCached):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y). Stable for inputs of any size."""

    def _activation(self, x):
        return F._sigmoid(x)

    def _backward(self, grad_out, input_grad):
        y = self.cache
        return grad_out * y * (1 - y)


class Tanh(_OutputCached):
    """y = tanh(x);  dy/dx = 1 - y^2."""

    def _activation(self, x):
        xp = array_module(x)
        return xp.tanh(x)

    def _backward(self, grad_out, input_grad):
        y = self.cache
        return grad_out * (1 - y * y)


class Softmax(_OutputCached):
    """y = exp(x) / sum(exp(x)) along ``axis`` (shifted by the max: stable for any input).

    Backward is the exact Jacobian-vector product: dx = y * (g - sum(g * y)).
    """

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = check_int(axis, "axis")

    def _output_shape(self, input_shape):
        check_softmax_axis(self.axis, len(input_shape) + 1)
        return tuple(input_shape)

    def _activation(self, x):
        return F._softmax(x, self.axis)

    def _backward(self, grad_out, input_grad):
        y = self.cache
        return y * (grad_out - (grad_out * y).sum(axis=self.axis, keepdims=True))

    def config(self):
        return dict(axis=self.axis)
