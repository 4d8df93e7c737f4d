"""Conv2D and Conv1D: cross-correlation by im2col and one matrix product.

The maths is :func:`minicnn.functional.conv2d_forward` and ``conv2d_backward``; each
call goes through :func:`~minicnn.layers.base.fastest`, which gives their faster equal
twin of :mod:`minicnn.fast` while the fast paths are on (the table ``FAST_TWINS``).
"""
import numpy as np

from .. import functional as F
from .._checks import (check_bool, check_conv_groups, check_conv_padding, check_dtype, check_int,
                       check_window_not_far_larger, pair)
from .base import Layer, Window2D, fastest, init_name


class _Conv(Layer):
    """Shared set-up of Conv2D (``dims = 2``: sizes are pairs) and Conv1D (``dims = 1``: ints):
    every argument checked once, then W (C_out, C_in/groups, *kernel) and b (C_out,)."""
    dims = None
    channel_check = (1, "in_channels", "channels")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, dtype=np.float32, init="he_normal", groups=1):
        super().__init__()
        size = pair if self.dims == 2 else check_int
        self.in_channels = check_int(in_channels, "in_channels", 1)
        self.out_channels = check_int(out_channels, "out_channels", 1)
        self.kernel_size = size(kernel_size, "kernel_size", 1)
        self.stride = size(stride, "stride", 1)
        self.dilation = size(dilation, "dilation", 1)
        self.padding = check_conv_padding(padding, self.dims)
        self.groups = check_conv_groups(groups, self.in_channels, self.out_channels)
        self.bias = check_bool(bias, "bias")
        self.dtype = check_dtype(dtype)
        self.init = init
        kernel = self.kernel_size if self.dims == 2 else (self.kernel_size,)
        # each output sees C/groups input channels: fan_in (C/groups)*kh*kw, fan_out O*kh*kw (PyTorch's)
        c, o, taps = self.in_channels // self.groups, self.out_channels, int(np.prod(kernel))
        self._add_param("W", (o, c, *kernel), init, fan_in=c * taps, fan_out=o * taps, dtype=self.dtype)
        if self.bias:
            self._add_param("b", (o,), "zeros", 0, 0, self.dtype)

    def config(self):
        as_json = lambda v: list(v) if isinstance(v, tuple) else v
        cfg = dict(in_channels=self.in_channels, out_channels=self.out_channels,
                   kernel_size=as_json(self.kernel_size), stride=as_json(self.stride),
                   padding=as_json(self.padding), dilation=as_json(self.dilation), groups=self.groups,
                   bias=self.bias, dtype=self.dtype.name)
        if init_name(self.init):
            cfg["init"] = self.init
        return cfg


class Conv2D(_Conv, Window2D):
    """2-D convolution (cross-correlation, as PyTorch's ``nn.Conv2d``).

    x: (N, C_in, H, W) -> y: (N, C_out, OH, OW). With the padding split into
    pad_top + pad_bottom rows and pad_left + pad_right columns (equal halves
    for an int padding p: 2p in all),

        OH = (H + pad_top + pad_bottom - dilation_h * (kh - 1) - 1) // stride_h + 1
        OW = (W + pad_left + pad_right - dilation_w * (kw - 1) - 1) // stride_w + 1

        y[n, o, r, c] = b[o] + sum_k sum_{i,j} W[o, k, i, j] * x_pad[n, k, r*stride_h + i*dilation_h,
                                                                      c*stride_w + j*dilation_w]

    for output row r and column c, k running over the input channels.

    ``groups=G`` (PyTorch's grouped convolution): the channels split into G groups, and
    the O/G outputs of group g see only the C/G inputs of group g, so k runs over
    those: x_pad[n, g*C/G + k, ...] with g = o // (O/G). ``W``: (C_out, C_in/G, kh, kw),
    G times fewer weights and multiplications. G = C_in is the depthwise convolution
    (one kernel per input channel, MobileNet's); AlexNet split its layers in G = 2.
    C_in and C_out must be divisible by G.

    >>> Conv2D(32, 64, kernel_size=3, groups=32).params["W"].shape    # depthwise, 2 outputs a channel
    (64, 1, 3, 3)

    >>> Conv2D(1, 8, kernel_size=3, padding=1).output_shape((1, 28, 28))     # 28 + 2 - 2 - 1 + 1
    (8, 28, 28)
    >>> Conv2D(1, 8, kernel_size=5, stride=2).output_shape((1, 28, 28))      # (28 - 4 - 1) // 2 + 1
    (8, 12, 12)

    ``kernel_size``, ``stride``, ``padding``, ``dilation``: an int or a pair
    ``(h, w)``. ``padding`` may also be ``"valid"`` (none) or ``"same"``: output
    size ceil(H / stride), the input size at stride 1 (PyTorch's "same"); at
    stride > 1 the padding depends on the input size, by TensorFlow's rule
    (:func:`minicnn.functional.same_padding`). An odd total pad puts the extra
    row and column at the bottom/right, as both libraries do.

    >>> Conv2D(1, 8, kernel_size=3, stride=2, padding="same").output_shape((1, 28, 28))   # 28 / 2
    (8, 14, 14)

    ``params["W"]``: (C_out, C_in/groups, kh, kw), He-initialised by default (fan_in =
    C_in/groups*kh*kw, as PyTorch); ``params["b"]``: (C_out,), zeros. ``pads_for((H, W))``
    and ``pads``: the padding per side (:class:`~minicnn.layers.base.Window2D`).
    """
    dims = 2
    input_ndim = 4

    def _output_shape(self, input_shape):
        pads = self.pads_for(input_shape[1:])
        check_window_not_far_larger(input_shape[1:], self.kernel_size, pads, self.dilation, "Conv2D")
        oh, ow = F.window_output_shape(input_shape[1:], self.kernel_size, self.stride, pads, self.dilation, "Conv2D")
        return (self.out_channels, oh, ow)

    def _forward(self, x, training):
        b = self.params["b"].data if self.bias else None
        pads = self.pads_for(x.shape[2:])
        conv2d = fastest(F.conv2d_forward, x)           # the reference, or its fast twin
        out, cols = conv2d(x, self.params["W"].data, b, self.stride, pads, self.dilation,
                           keep_cols=training, groups=self.groups)
        if training:
            self.cache = (cols, x.shape, pads)
        return out

    def _backward(self, grad_out, input_grad):
        cols, x_shape, pads = self.cache
        conv2d_backward = fastest(F.conv2d_backward, grad_out)    # the twin of the forward's
        dx, dw, db = conv2d_backward(grad_out, cols, self.params["W"].data, x_shape,
                                     self.stride, pads, self.dilation, input_grad, groups=self.groups)
        self.params["W"].accumulate(dw)
        if self.bias:
            self.params["b"].accumulate(db)
        return dx


class Conv1D(_Conv):
    """1-D convolution (cross-correlation, as PyTorch's ``nn.Conv1d``) over signals or text.

    x: (N, C_in, L) -> y: (N, C_out, OL), OL = (L + pad_left + pad_right - dilation*(k-1) - 1) // stride + 1,

        y[n, o, t] = b[o] + sum_c sum_j W[o, c, j] * x_pad[n, c, t*stride + j*dilation]

    It is Conv2D's maths on the signal seen as an image one row high: x[:, :, None, :]
    and a kernel (C_out, C_in, 1, k), on the same window machinery.

    >>> Conv1D(1, 4, kernel_size=5, padding="same").output_shape((1, 100))
    (4, 100)

    ``kernel_size``, ``stride``, ``dilation``: ints; ``padding``: an int, ``"valid"`` or
    ``"same"`` (as Conv2D's); ``groups``: as Conv2D's. ``params["W"]``: (C_out, C_in/groups, k);
    ``params["b"]``: (C_out,).
    """
    dims = 1
    input_ndim = 3

    def pads_for(self, length):
        """((0, 0), (left, right)): the padding of the one-row image for a signal of ``length``."""
        return ((0, 0), F.axis_padding(self.padding, self.kernel_size, self.stride, self.dilation, length))

    def _output_shape(self, input_shape):
        pads, one_row = self.pads_for(input_shape[1]), (1, input_shape[1])
        check_window_not_far_larger(one_row, (1, self.kernel_size), pads, (1, self.dilation), "Conv1D")
        _, ol = F.window_output_shape(one_row, (1, self.kernel_size), (1, self.stride), pads, (1, self.dilation),
                                      "Conv1D")
        return (self.out_channels, ol)

    def _forward(self, x, training):
        b = self.params["b"].data if self.bias else None
        pads = self.pads_for(x.shape[2])
        conv2d = fastest(F.conv2d_forward, x)
        out, cols = conv2d(x[:, :, None, :], self.params["W"].data[:, :, None, :], b,
                           (1, self.stride), pads, (1, self.dilation), keep_cols=training, groups=self.groups)
        if training:
            self.cache = (cols, x.shape, pads)
        return out[:, :, 0, :]

    def _backward(self, grad_out, input_grad):
        cols, (n, c, length), pads = self.cache
        conv2d_backward = fastest(F.conv2d_backward, grad_out)
        dx, dw, db = conv2d_backward(grad_out[:, :, None, :], cols, self.params["W"].data[:, :, None, :],
                                     (n, c, 1, length), (1, self.stride), pads, (1, self.dilation),
                                     input_grad, groups=self.groups)
        self.params["W"].accumulate(dw[:, :, 0, :])
        if self.bias:
            self.params["b"].accumulate(db)
        return None if dx is None else dx[:, :, 0, :]
