"""Normalisation by constants: LocalResponseNorm, each value divided by the energy of its
neighbours across channels, and Normalize, the input normalisation (x - mean) / std."""

from .._checks import check_float, check_int, check_not_far_larger, check_per_channel
from ..devices import array_module
from .base import Layer


def channel_window_sum(a, before, after):
    """s[:, c] = sum of a[:, c'] for c' in c - before .. c + after (channels outside 0..C-1 count 0).

    a: (N, C, *) -> (N, C, *). One vectorised add per offset of the window (a loop of at
    most before + after + 1 steps, over channels, never over samples or pixels); offsets
    that reach past every channel are skipped, so a window wider than C costs 2C - 1 adds.
    A cumulative sum would take two passes whatever the size, but subtracting two large
    running totals loses the small ones' digits in float32; the offsets add only neighbours.
    """
    xp = array_module(a)
    c = a.shape[1]
    out = xp.zeros_like(a)
    for d in range(-min(before, c - 1), min(after, c - 1) + 1):
        if d >= 0:                                     # out[:, i] += a[:, i + d]
            out[:, :c - d] += a[:, d:]
        else:
            out[:, -d:] += a[:, :c + d]
    return out


class LocalResponseNorm(Layer):
    """Local response normalisation across channels (AlexNet's, GoogLeNet's; PyTorch's
    ``nn.LocalResponseNorm``, ONNX's ``LRN``).

    x: (N, C, *) -> y of the same shape, any number (at least one) of trailing axes, as
    PyTorch (which also asks for 3-D or more). For each channel c, with n = ``size``:

        s_c = sum of x_{c'}^2 for c' in c - n//2 .. c + (n-1)//2   (missing channels count 0)
        d_c = k + alpha / n * s_c
        y_c = x_c * d_c^(-beta)

    so a value is scaled down by the energy of its n nearest channels, itself included
    (the channels play the role of AlexNet's "adjacent kernel maps"). No parameters.

    >>> LocalResponseNorm(5).output_shape((96, 55, 55))
    (96, 55, 55)

    ``size``: an int >= 1; ``alpha``, ``beta`` >= 0; ``k`` > 0 (PyTorch checks none of
    them; k > 0 and alpha >= 0 keep d_c >= k > 0, so d_c^(-beta) is always finite).
    """

    min_ndim = 3

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = check_int(size, "size", 1)
        self.alpha = check_float(alpha, "alpha", minimum=0.0)
        self.beta = check_float(beta, "beta", minimum=0.0)
        self.k = check_float(k, "k", minimum=0.0, min_open=True)

    def _output_shape(self, input_shape):
        check_not_far_larger((self.size,), input_shape[:1], f"size {self.size}", "LocalResponseNorm",
                             f"the input's {input_shape[0]} channels")
        return input_shape

    def config(self):
        return dict(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k)

    def _forward(self, x, training):
        n = self.size
        d = self.k + self.alpha / n * channel_window_sum(x * x, n // 2, (n - 1) // 2)
        scale = d ** -self.beta                    # d^(-beta), (N, C, *)
        if training:
            self.cache = (x, d, scale)
        return x * scale

    def _backward(self, grad_out, input_grad):
        """dL/dx, step by step. y_c = x_c * d_c^(-beta) depends on x_j through x_c (j = c)
        and through d_c, for every c whose window holds j:

            dy_c/dx_j = [c = j] d_c^(-beta)
                        + x_c * (-beta) d_c^(-beta-1) * (alpha/n) * 2 x_j * [j in window(c)]

        Summed against g = dL/dy over c:

            dL/dx_j = g_j d_j^(-beta) - (2 alpha beta / n) x_j * sum_{c: j in window(c)} t_c,
            t_c = g_c x_c d_c^(-beta-1) = g_c y_c / d_c

        j is in window(c) = c - n//2 .. c + (n-1)//2 exactly when c runs over
        j - (n-1)//2 .. j + n//2: the same window mirrored, so the sum is
        channel_window_sum with the two reaches swapped.
        """
        x, d, scale = self.cache
        n = self.size
        t = grad_out * x * scale / d
        mirrored = channel_window_sum(t, (n - 1) // 2, n // 2)
        return grad_out * scale - (2 * self.alpha * self.beta / n) * x * mirrored


class Normalize(Layer):
    """The input normalisation as a layer: per channel c, by constants,

        y[:, c] = (x[:, c] - mean[c]) / std[c]

    x: (N, C, *) -> the same shape. PyTorch's ``torchvision.transforms.Normalize(mean, std)``
    (which normalises each image when it is loaded) held inside the network, as PyTorch users
    write ``(x - self.mean) / self.std`` in ``forward``: the model then takes raw pixels, and
    its ONNX file keeps the normalisation (``Sub`` and ``Div`` by per-channel constants).
    ImageNet's: ``Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))`` on pixels in [0, 1];
    MNIST's: ``Normalize(0.1307, 0.3081)``.

    ``mean``, ``std``: one number per channel (a list, tuple or 1-D array), or one number for
    every channel; std must not hold 0 (a negative std is allowed: it flips the sign, as
    ONNX's ``c - x`` needs). No parameters: the constants are the layer's config, saved with
    the model, and never trained.

    Backward: dx = dy / std.
    """
    min_ndim = 2

    def __init__(self, mean, std):
        super().__init__()
        self.mean = check_per_channel(mean, "mean")
        self.std = check_per_channel(std, "std", nonzero=True)
        lengths = {len(self.mean), len(self.std)} - {1}
        if len(lengths) > 1:
            raise ValueError(f"mean has {len(self.mean)} values and std {len(self.std)}: give one per channel "
                             "to each (or one number for every channel)")
        #: the channels the layer takes, or None: one mean and std for any number of channels
        self.num_channels = lengths.pop() if lengths else None

    def _output_shape(self, input_shape):
        if self.num_channels is not None and input_shape[0] != self.num_channels:
            raise ValueError(f"x has {input_shape[0]} channels but Normalize has a mean and std for "
                             f"{self.num_channels} (input shape {tuple(input_shape)})")
        return tuple(input_shape)

    def constants(self, x):
        """mean and std as arrays of x's dtype and device, shaped (C, 1, ...) to broadcast over x."""
        xp = array_module(x)
        shape = (-1,) + (1,) * (x.ndim - 2)
        return (xp.asarray(self.mean, dtype=x.dtype).reshape(shape), xp.asarray(self.std, dtype=x.dtype).reshape(shape))

    def _forward(self, x, training):
        mean, std = self.constants(x)
        if training:
            self.cache = std
        return (x - mean) / std

    def _backward(self, grad_out, input_grad):
        return grad_out / self.cache

    def config(self):
        return dict(mean=list(self.mean), std=list(self.std))


__all__ = ["LocalResponseNorm", "Normalize", "channel_window_sum"]
