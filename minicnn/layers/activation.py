"""Element-wise activations and Softmax.

Each caches only what its derivative needs: ReLU the sign mask, Sigmoid/Tanh/
Softmax their output (their derivatives are functions of the output).
"""
import numpy as np

from .. import functional as F
from .._checks import check_float, check_int
from .base import Layer, check_grad


class ReLU(Layer):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0."""

    def forward(self, x, training=False):
        self._input(x)
        self._save(training, x > 0)          # 1 byte per value is all backward needs
        return np.maximum(x, 0)

    def backward(self, grad_out):
        (mask,) = self._cached()
        check_grad(grad_out, mask.shape)
        return grad_out * mask


class LeakyReLU(Layer):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = check_float(negative_slope, "negative_slope", minimum=0.0)

    def forward(self, x, training=False):
        self._input(x)
        slope = (x > 0).astype(x.dtype)                     # 1 where x > 0 ...
        slope += (1 - slope) * x.dtype.type(self.negative_slope)   # ... negative_slope elsewhere
        self._save(training, slope)
        return x * slope

    def backward(self, grad_out):
        (slope,) = self._cached()
        check_grad(grad_out, slope.shape)
        return grad_out * slope.astype(grad_out.dtype, copy=False)

    def config(self):
        return dict(negative_slope=self.negative_slope)


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y). Stable for inputs of any size."""

    def forward(self, x, training=False):
        self._input(x)
        y = F.sigmoid(x)
        self._save(training, y)
        return y

    def backward(self, grad_out):
        (y,) = self._cached()
        check_grad(grad_out, y.shape)
        return grad_out * y * (1 - y)


class Tanh(Layer):
    """y = tanh(x);  dy/dx = 1 - y^2."""

    def forward(self, x, training=False):
        self._input(x)
        y = np.tanh(x)
        self._save(training, y)
        return y

    def backward(self, grad_out):
        (y,) = self._cached()
        check_grad(grad_out, y.shape)
        return grad_out * (1 - y * y)


class Softmax(Layer):
    """y = exp(x) / sum(exp(x)) along ``axis`` (shifted by the max: stable for any input).

    Backward is the exact Jacobian-vector product: dx = y * (g - sum(g * y)).
    """

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = check_int(axis, "axis")

    def _check_axis(self, ndim):
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"axis {self.axis} is out of range for input with {ndim} dimensions")
        if self.axis % ndim == 0:
            raise ValueError("Softmax over axis 0 would mix the samples of a batch; use axis >= 1")

    def _output_shape(self, input_shape):
        self._check_axis(len(input_shape) + 1)
        return tuple(input_shape)

    def forward(self, x, training=False):
        self._input(x)
        self._check_axis(x.ndim)
        y = F.softmax(x, axis=self.axis)
        self._save(training, y)
        return y

    def backward(self, grad_out):
        (y,) = self._cached()
        check_grad(grad_out, y.shape)
        return y * (grad_out - (grad_out * y).sum(axis=self.axis, keepdims=True))

    def config(self):
        return dict(axis=self.axis)
