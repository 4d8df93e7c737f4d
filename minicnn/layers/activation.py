"""Element-wise activations, Softmax and LogSoftmax.

Each caches only what its derivative needs: ReLU the sign mask, LeakyReLU its
slope, Sigmoid/Tanh/Softmax/LogSoftmax their output (their derivatives are functions
of the output), SiLU its input and sigmoid, Hardswish its input, Hardsigmoid the mask
of its slope. The hard functions of MobileNetV3 (Hardsigmoid, Hardswish) have kinks
at -3 and 3; their derivative there is PyTorch's (see each class).
"""

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


class SiLU(Layer):
    """y = x * sigmoid(x) (swish; PyTorch's ``nn.SiLU``, EfficientNet's activation);

        dy/dx = s + x s (1 - s) = s (1 + x (1 - s)),    s = sigmoid(x)

    ONNX has no SiLU op: it is written, as PyTorch writes it, ``Mul(x, Sigmoid(x))``."""

    def _forward(self, x, training):
        s = F._sigmoid(x)
        if training:
            self.cache = (x, s)
        return x * s

    def _backward(self, grad_out, input_grad):
        x, s = self.cache
        return grad_out * s * (1 + x * (1 - s))


class Hardsigmoid(Layer):
    """y = relu6(x + 3) / 6: 0 for x <= -3, x / 6 + 1/2 between, 1 for x >= 3 (PyTorch's
    ``nn.Hardsigmoid``, MobileNetV3's gate; ONNX's ``HardSigmoid`` with alpha 1/6, beta 1/2).

    dy/dx = 1/6 for -3 < x < 3, else 0: at the kinks -3 and 3 it is 0, as PyTorch gives it.
    (PyTorch's CPU kernel multiplies by 1/6 rounded to float32 even in float64; minicnn's
    1/6 is the dtype's.)"""

    def _forward(self, x, training):
        if training:
            self.cache = (x > -3) & (x < 3)      # where the slope is 1/6, as ReLU6's mask
        xp = array_module(x)
        return xp.minimum(xp.maximum(x + x.dtype.type(3), 0), x.dtype.type(6)) / x.dtype.type(6)

    def _backward(self, grad_out, input_grad):
        return grad_out * self.cache / grad_out.dtype.type(6)


class Hardswish(Layer):
    """y = x * relu6(x + 3) / 6 (PyTorch's ``nn.Hardswish``, MobileNetV3's activation; ONNX's
    ``HardSwish``): 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between.

    dy/dx = 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 for x >= 3: at the kinks PyTorch's
    values, 0 at -3 (where the right-hand slope is -1/2) and 1 at 3 (where the left-hand one is 3/2)."""

    def _forward(self, x, training):
        if training:
            self.cache = x
        xp = array_module(x)
        return x * xp.minimum(xp.maximum(x + x.dtype.type(3), 0), x.dtype.type(6)) / x.dtype.type(6)

    def _backward(self, grad_out, input_grad):
        x = self.cache
        xp = array_module(x)
        one = x.dtype.type(1)
        slope = xp.where(x <= -3, 0, xp.where(x < 3, x / x.dtype.type(3) + one / 2, one)).astype(x.dtype, copy=False)
        return grad_out * slope


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


class _AlongAxis(_OutputCached):
    """The base of Softmax and LogSoftmax: a normalisation along one ``axis`` (not the batch axis)."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = check_int(axis, "axis")

    def _output_shape(self, input_shape):
        check_softmax_axis(self.axis, len(input_shape) + 1)
        return tuple(input_shape)

    def config(self):
        return dict(axis=self.axis)


class Softmax(_AlongAxis):
    """y = exp(x) / sum(exp(x)) along ``axis`` (shifted by the max: stable for any input).

    Backward is the exact Jacobian-vector product: dx = y * (g - sum(g * y)).
    """

    def _activation(self, x):
        return F._softmax(x, self.axis)

    def _backward(self, grad_out, input_grad):
        y = self.cache
        return y * (grad_out - (grad_out * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(_AlongAxis):
    """y = log(softmax(x)) = x - max - log(sum(exp(x - max))) along ``axis``: exact for any
    input, never log(0) (PyTorch's ``nn.LogSoftmax``; the last layer of PyTorch's MNIST example).

    Backward is the exact Jacobian-vector product: with p = softmax(x) = exp(y),

        dx = g - p * sum(g)          (the sums along ``axis``)

    Train it with ``minicnn.losses.NLLLoss`` (PyTorch's pair), or with ``CrossEntropy``, which
    gives the same loss and gradients on log-probabilities (log_softmax of log-probabilities
    is themselves).
    """

    def _activation(self, x):
        return F._log_softmax(x, self.axis)

    def _backward(self, grad_out, input_grad):
        xp = array_module(grad_out)
        return grad_out - xp.exp(self.cache) * grad_out.sum(axis=self.axis, keepdims=True)
