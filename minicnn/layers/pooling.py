"""MaxPool2D and AvgPool2D: the convolution's windows, reduced by max or mean."""
from .. import functional as F
from .._checks import check_pool_padding, pair
from .base import Layer


class _Pool2D(Layer):
    """Shared set-up of the pooling layers.

    ``kernel_size``, ``stride`` (default: ``kernel_size``) and ``padding`` are
    ints or pairs; padding may be at most ``kernel_size // 2`` (PyTorch's rule),
    so that no window lies entirely in the padding.
    """

    input_ndim = 4

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", 1)
        self.padding = check_pool_padding(padding, self.kernel_size)

    @property
    def pads(self):
        ph, pw = self.padding
        return ((ph, ph), (pw, pw))

    def _output_shape(self, input_shape):
        oh, ow = F.window_output_shape(input_shape[1:], self.kernel_size, self.stride, self.pads,
                                       who=type(self).__name__)
        return (input_shape[0], oh, ow)

    def config(self):
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride), padding=list(self.padding))


class MaxPool2D(_Pool2D):
    """Max pooling. x: (N, C, H, W) -> (N, C, OH, OW), y = max over each window.

    Padding counts as -inf. The gradient of a window goes to its maximum; on a
    tie, to the first maximum in row-major order; a NaN counts as the maximum
    (the window's last NaN gets the gradient). All three are PyTorch's rules.
    """

    def forward(self, x, training=False):
        if not training:                      # inference needs no argmax
            return F.max_pool2d_forward(x, self.kernel_size, self.stride, self.pads)
        out, argmax = F.max_pool2d_forward(x, self.kernel_size, self.stride, self.pads, argmax=True)
        self.cache = (argmax, x.shape)        # which tap of each window won, and where to route to
        return out

    def backward(self, grad_out):
        argmax, x_shape = self.cache
        return F.max_pool2d_backward(grad_out, argmax, x_shape, self.kernel_size, self.stride, self.pads)


class AvgPool2D(_Pool2D):
    """Average pooling. x: (N, C, H, W) -> (N, C, OH, OW), y = mean over each window.

    Zero padding is counted in the mean (PyTorch's ``count_include_pad=True``).
    """

    def forward(self, x, training=False):
        self.cache = x.shape
        return F.avg_pool2d_forward(x, self.kernel_size, self.stride, self.pads)

    def backward(self, grad_out):
        return F.avg_pool2d_backward(grad_out, self.cache, self.kernel_size, self.stride, self.pads)
