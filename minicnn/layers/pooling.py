"""Pooling: the convolution's windows, reduced by max or mean (2-D, 1-D, global, adaptive)."""
import math

from .. import functional as F
from .._checks import (check_bool, check_int, check_not_far_larger, check_output_size, check_pool_padding,
                       check_window_not_far_larger, pair)
from ..devices import array_module
from .base import Layer, Window2D, fastest


class _Pool2D(Window2D):
    """Shared set-up of the 2-D pooling layers.

    ``kernel_size`` and ``stride`` (default: ``kernel_size``) are ints or pairs.
    ``padding``: an int or a pair of at most ``kernel_size // 2`` (PyTorch's rule,
    so that no window lies entirely in the padding), or ``"same"``: output size
    ceil(H / stride), by TensorFlow's rule (see :func:`minicnn.functional.same_padding`).
    ``ceil_mode``: PyTorch's, OH = ceil((H + pad - kh) / stride) + 1 instead of floor, so the
    last window may hang over the end of the padded input (but it starts inside the input or
    its left/top padding); see :func:`minicnn.functional.window_output_shape`. With "same"
    it changes nothing: "same" padding already gives ceil(H / stride) windows, all inside.
    ``pads_for((H, W))`` and ``pads``: the padding per side (:class:`~minicnn.layers.base.Window2D`).
    """
    input_ndim = 4

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", 1)
        self.padding = check_pool_padding(padding, self.kernel_size)
        self.ceil_mode = check_bool(ceil_mode, "ceil_mode")

    def _output_shape(self, input_shape):
        pads, who = self.pads_for(input_shape[1:]), type(self).__name__
        check_window_not_far_larger(input_shape[1:], self.kernel_size, pads, (1, 1), who)
        oh, ow = F.window_output_shape(input_shape[1:], self.kernel_size, self.stride, pads, who=who,
                                       ceil_mode=self.ceil_mode)
        return (input_shape[0], oh, ow)

    def config(self):
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride), padding=padding,
                    ceil_mode=self.ceil_mode)


class MaxPool2D(_Pool2D):
    """Max pooling. x: (N, C, H, W) -> (N, C, OH, OW), y = max over each window.

    Padding counts as -inf. The gradient of a window goes to its maximum; on a
    tie, to the first maximum in row-major order; a NaN counts as the maximum
    (the window's last NaN gets the gradient). All three are PyTorch's rules.
    """

    def _forward(self, x, training):
        pads = self.pads_for(x.shape[2:])
        if not training:                      # inference needs no argmax
            return F.max_pool2d_forward(x, self.kernel_size, self.stride, pads, ceil_mode=self.ceil_mode)
        out, argmax = F.max_pool2d_forward(x, self.kernel_size, self.stride, pads, argmax=True,
                                           ceil_mode=self.ceil_mode)
        self.cache = (argmax, x.shape, pads)  # which tap of each window won, and where to route to
        return out

    def _backward(self, grad_out, input_grad):
        argmax, x_shape, pads = self.cache
        max_pool2d_backward = fastest(F.max_pool2d_backward, grad_out)     # the reference, or its fast twin
        return max_pool2d_backward(grad_out, argmax, x_shape, self.kernel_size, self.stride, pads, self.ceil_mode)


class AvgPool2D(_Pool2D):
    """Average pooling. x: (N, C, H, W) -> (N, C, OH, OW), y = mean over each window.

    ``count_include_pad=True`` (PyTorch's default): zero padding counts in the mean,
    every window divides by kh*kw. ``False``: only the window's input pixels count,
    as in TensorFlow's pooling (``padding="same", count_include_pad=False`` is Keras's
    ``AveragePooling2D(padding="same")``). In ceil mode a window hanging over the end of
    the padded input divides by its part inside it (PyTorch's rule).
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = check_bool(count_include_pad, "count_include_pad")

    def _forward(self, x, training):
        pads = self.pads_for(x.shape[2:])
        if training:
            self.cache = (x.shape, pads)
        return F.avg_pool2d_forward(x, self.kernel_size, self.stride, pads, self.count_include_pad,
                                    self.ceil_mode)

    def _backward(self, grad_out, input_grad):
        x_shape, pads = self.cache
        return F.avg_pool2d_backward(grad_out, x_shape, self.kernel_size, self.stride, pads,
                                     self.count_include_pad, self.ceil_mode)

    def config(self):
        return dict(super().config(), count_include_pad=self.count_include_pad)


class _GlobalAvgPool(Layer):
    """The mean over every axis after the channels: x: (N, C, *spatial) -> (N, C).

    Backward spreads each gradient evenly: dx[n, c, ...] = dy[n, c] / (the spatial size).
    """

    def _output_shape(self, input_shape):
        return (input_shape[0],)

    def _forward(self, x, training):
        if training:
            self.cache = x.shape
        return x.mean(axis=tuple(range(2, x.ndim)))

    def _backward(self, grad_out, input_grad):
        shape = self.cache
        xp = array_module(grad_out)
        share = grad_out * grad_out.dtype.type(1.0 / math.prod(shape[2:]))
        return F.contiguous(xp.broadcast_to(share.reshape(shape[:2] + (1,) * (len(shape) - 2)), shape))


class GlobalAvgPool2D(_GlobalAvgPool):
    """The mean of each feature map: x: (N, C, H, W) -> (N, C), y[n, c] = mean of x[n, c].

    Backward spreads each gradient evenly: dx[n, c, i, j] = dy[n, c] / (H * W).
    """
    input_ndim = 4


class AdaptiveAvgPool2D(Layer):
    """Average pooling to a fixed output size, whatever the input's:
    x: (N, C, H, W) -> (N, C, OH, OW) (PyTorch's ``nn.AdaptiveAvgPool2d``).

    ``output_size``: an int (OH = OW), or a pair; a None entry keeps that side's size.
    Output row i averages the input rows [floor(i*H/OH), ceil((i+1)*H/OH)) (bins may
    overlap and differ in size), and so for the columns:

        y = A_h x A_w^T,    dx = A_h^T dy A_w

    with A_h (OH, H) and A_w (OW, W) the averaging matrices of
    :func:`minicnn.functional.adaptive_pool_matrix`. ``output_size=1`` is
    :class:`GlobalAvgPool2D` keeping the two axes of size 1.
    """
    input_ndim = 4

    def __init__(self, output_size):
        super().__init__()
        self.output_size = check_output_size(output_size)

    def _output_hw(self, hw):
        return tuple(n if o is None else o for o, n in zip(self.output_size, hw))

    def _output_shape(self, input_shape):
        c, h, w = input_shape
        oh, ow = self._output_hw((h, w))
        check_not_far_larger((oh, ow), (h, w), f"output_size {oh}x{ow}", "AdaptiveAvgPool2D")
        return (c, oh, ow)

    def _forward(self, x, training):
        if training:
            self.cache = x.shape
        return F.adaptive_avg_pool2d_forward(x, self._output_hw(x.shape[2:]))

    def _backward(self, grad_out, input_grad):
        return F.adaptive_avg_pool2d_backward(grad_out, self.cache)

    def config(self):
        return dict(output_size=list(self.output_size))


class GlobalAvgPool1D(_GlobalAvgPool):
    """The mean of each signal: x: (N, C, L) -> (N, C), y[n, c] = mean of x[n, c]
    (PyTorch: ``x.mean(-1)``, or ``nn.AdaptiveAvgPool1d(1)`` then a flatten).

    Backward spreads each gradient evenly: dx[n, c, t] = dy[n, c] / L.
    """
    input_ndim = 3


class _Pool1D(Layer):
    """Shared set-up of the 1-D pooling layers: 2-D pooling of the signal seen as an image
    one row high, (N, C, L) -> (N, C, 1, L).

    ``kernel_size``, ``stride`` (default: ``kernel_size``): ints; ``padding``: an int of
    at most ``kernel_size // 2``, or ``"same"``; ``ceil_mode``: as in the 2-D layers.
    """
    input_ndim = 3

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = check_int(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else check_int(stride, "stride", 1)
        one_row = padding if isinstance(padding, str) else (0, check_int(padding, "padding", 0))
        self.padding = check_pool_padding(one_row, (1, self.kernel_size))
        self.padding = self.padding if isinstance(self.padding, str) else self.padding[1]
        self.ceil_mode = check_bool(ceil_mode, "ceil_mode")

    def pads_for(self, length):
        """((0, 0), (left, right)): the padding of the one-row image for a signal of ``length``."""
        return ((0, 0), F.axis_padding(self.padding, self.kernel_size, self.stride, 1, length))

    def _geometry(self, length):
        """kernel, stride and pads of the one-row image."""
        return (1, self.kernel_size), (1, self.stride), self.pads_for(length)

    def _output_shape(self, input_shape):
        (kernel, stride, pads), who = self._geometry(input_shape[1]), type(self).__name__
        check_window_not_far_larger((1, input_shape[1]), kernel, pads, (1, 1), who)
        _, ol = F.window_output_shape((1, input_shape[1]), kernel, stride, pads, who=who, ceil_mode=self.ceil_mode)
        return (input_shape[0], ol)

    def config(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode)


class MaxPool1D(_Pool1D):
    """Max pooling over signals: x: (N, C, L) -> (N, C, OL); the rules of MaxPool2D."""

    def _forward(self, x, training):
        kernel, stride, pads = self._geometry(x.shape[2])
        if not training:
            return F.max_pool2d_forward(x[:, :, None, :], kernel, stride, pads, ceil_mode=self.ceil_mode)[:, :, 0, :]
        out, argmax = F.max_pool2d_forward(x[:, :, None, :], kernel, stride, pads, argmax=True,
                                           ceil_mode=self.ceil_mode)
        self.cache = (argmax, x.shape)
        return out[:, :, 0, :]

    def _backward(self, grad_out, input_grad):
        argmax, (n, c, length) = self.cache
        kernel, stride, pads = self._geometry(length)
        max_pool2d_backward = fastest(F.max_pool2d_backward, grad_out)
        dx = max_pool2d_backward(grad_out[:, :, None, :], argmax, (n, c, 1, length), kernel, stride, pads,
                                 self.ceil_mode)
        return F.contiguous(dx[:, :, 0, :])


class AvgPool1D(_Pool1D):
    """Average pooling over signals: x: (N, C, L) -> (N, C, OL); the rules of AvgPool2D."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = check_bool(count_include_pad, "count_include_pad")

    def _forward(self, x, training):
        kernel, stride, pads = self._geometry(x.shape[2])
        if training:
            self.cache = x.shape
        return F.avg_pool2d_forward(x[:, :, None, :], kernel, stride, pads, self.count_include_pad,
                                    self.ceil_mode)[:, :, 0, :]

    def _backward(self, grad_out, input_grad):
        n, c, length = self.cache
        kernel, stride, pads = self._geometry(length)
        dx = F.avg_pool2d_backward(grad_out[:, :, None, :], (n, c, 1, length), kernel, stride, pads,
                                   self.count_include_pad, self.ceil_mode)
        return F.contiguous(dx[:, :, 0, :])

    def config(self):
        return dict(super().config(), count_include_pad=self.count_include_pad)
