"""Conv2D: 2-D cross-correlation by im2col and one matrix product."""
import numpy as np

from .. import functional as F
from .._checks import check_bool, check_conv_padding, check_dtype, check_int, pair
from .base import Layer, init_name


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as PyTorch's ``nn.Conv2d``).

    x: (N, C_in, H, W) -> y: (N, C_out, OH, OW). With the padding split into
    pad_top + pad_bottom rows and pad_left + pad_right columns (equal halves
    for an int padding p: 2p in all),

        OH = (H + pad_top + pad_bottom - dilation_h * (kh - 1) - 1) // stride_h + 1
        OW = (W + pad_left + pad_right - dilation_w * (kw - 1) - 1) // stride_w + 1

        y[n, o, r, c] = b[o] + sum_k sum_{i,j} W[o, k, i, j] * x_pad[n, k, r*stride_h + i*dilation_h,
                                                                      c*stride_w + j*dilation_w]

    for output row r and column c, k running over the input channels.

    >>> Conv2D(1, 8, kernel_size=3, padding=1).output_shape((1, 28, 28))     # 28 + 2 - 2 - 1 + 1
    (8, 28, 28)
    >>> Conv2D(1, 8, kernel_size=5, stride=2).output_shape((1, 28, 28))      # (28 - 4 - 1) // 2 + 1
    (8, 12, 12)

    ``kernel_size``, ``stride``, ``padding``, ``dilation``: an int or a pair
    ``(h, w)``. ``padding`` may also be ``"valid"`` (none) or ``"same"`` (output
    size = input size, stride 1 only; an odd total pad puts the extra row and
    column at the bottom/right, as PyTorch does).

    ``params["W"]``: (C_out, C_in, kh, kw), He-initialised by default;
    ``params["b"]``: (C_out,), zeros.
    """
    input_ndim = 4
    channel_check = (1, "in_channels", "channels")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, dtype=np.float32, init="he_normal"):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", 1)
        self.out_channels = check_int(out_channels, "out_channels", 1)
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.dilation = pair(dilation, "dilation", 1)
        self.padding = check_conv_padding(padding, self.stride)
        self.bias = check_bool(bias, "bias")
        self.dtype = check_dtype(dtype)
        self.init = init
        kh, kw = self.kernel_size
        self._add_param("W", (self.out_channels, self.in_channels, kh, kw), init,
                        fan_in=self.in_channels * kh * kw, fan_out=self.out_channels * kh * kw,
                        dtype=self.dtype)
        if self.bias:
            self._add_param("b", (self.out_channels,), "zeros", 0, 0, self.dtype)

    @property
    def pads(self):
        """((top, bottom), (left, right))."""
        if self.padding == "same":
            return tuple(F.same_padding(k, d) for k, d in zip(self.kernel_size, self.dilation))
        if self.padding == "valid":
            return ((0, 0), (0, 0))
        ph, pw = self.padding
        return ((ph, ph), (pw, pw))

    def _output_shape(self, input_shape):
        oh, ow = F.window_output_shape(input_shape[1:], self.kernel_size, self.stride, self.pads,
                                       self.dilation, "Conv2D")
        return (self.out_channels, oh, ow)

    def forward(self, x, training=False):
        b = self.params["b"].data if self.bias else None
        out, cols = F.conv2d_forward(x, self.params["W"].data, b, self.stride, self.pads, self.dilation)
        if training:
            self.cache = (cols, x.shape)
        return out

    def backward(self, grad_out, input_grad=True):
        cols, x_shape = self.cache
        # overwrite_cols: the backward pass reuses the memory of cols for the matrix dx is
        # made from (one buffer, not two); the cache is freed after one backward anyway
        dx, dw, db = F.conv2d_backward(grad_out, cols, self.params["W"].data, x_shape,
                                       self.stride, self.pads, self.dilation, input_grad,
                                       overwrite_cols=True)
        self.params["W"].accumulate(dw)
        if self.bias:
            self.params["b"].accumulate(db)
        return dx

    def config(self):
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        cfg = dict(in_channels=self.in_channels, out_channels=self.out_channels,
                   kernel_size=list(self.kernel_size), stride=list(self.stride), padding=padding,
                   dilation=list(self.dilation), bias=self.bias, dtype=self.dtype.name)
        if init_name(self.init):
            cfg["init"] = self.init
        return cfg
