"""Dense (fully connected) and the shape-only layers Flatten, Reshape, ChannelShuffle and ChannelSlice."""
import numpy as np

from .. import functional as F
from .._checks import check_bool, check_dtype, check_int, check_reshape, check_reshape_target
from ..devices import array_module
from .base import Layer, init_name


class Dense(Layer):
    """Fully connected layer: y = x @ W + b.

    x: (N, in_features) -> y: (N, out_features); more leading axes are kept,
    as with PyTorch's ``nn.Linear`` (x: (N, ..., in) -> (N, ..., out)).
    ``params["W"]``: (in_features, out_features), He-initialised by default;
    ``params["b"]``: (out_features,), zeros.

    Backward: dW = x^T dy (summed over the batch), db = sum of dy, dx = dy W^T.
    """
    min_ndim = 2
    channel_check = (-1, "in_features", "features")

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, init="he_normal"):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 1)
        self.out_features = check_int(out_features, "out_features", 1)
        self.bias = check_bool(bias, "bias")
        self.dtype = check_dtype(dtype)
        self.init = init
        self._add_param("W", (self.in_features, self.out_features), init,
                        fan_in=self.in_features, fan_out=self.out_features, dtype=self.dtype)
        if self.bias:
            self._add_param("b", (self.out_features,), "zeros", 0, 0, self.dtype)

    def _output_shape(self, input_shape):
        return (*input_shape[:-1], self.out_features)

    def _forward(self, x, training):
        out = x @ self.params["W"].data.astype(x.dtype, copy=False)
        if self.bias:
            out += self.params["b"].data.astype(x.dtype, copy=False)
        if training:
            self.cache = x
        return out

    def _backward(self, grad_out, input_grad):
        x = self.cache.reshape(-1, self.in_features)            # every leading axis is a sample
        dy = grad_out.reshape(-1, self.out_features)
        if self.params["W"].requires_grad:                      # (none for a frozen W)
            self.params["W"].accumulate(x.T @ dy)               # dW = x^T dy
        if self.bias and self.params["b"].requires_grad:
            self.params["b"].accumulate(dy.sum(axis=0))         # db = sum of dy over the batch
        if not input_grad:
            return None
        return grad_out @ self.params["W"].data.T.astype(grad_out.dtype, copy=False)   # dx = dy W^T

    def config(self):
        cfg = dict(in_features=self.in_features, out_features=self.out_features, bias=self.bias,
                   dtype=self.dtype.name)
        if init_name(self.init):
            cfg["init"] = self.init
        return cfg


class Reshape(Layer):
    """Reshape each sample: x: (N, *in_shape) -> (N, *shape); one entry may be -1."""
    min_ndim = 2

    def __init__(self, shape):
        super().__init__()
        self.shape = check_reshape_target(shape)

    def _output_shape(self, input_shape):
        size = check_reshape(input_shape, self.shape)                # values per sample
        known = int(np.prod([s for s in self.shape if s != -1]))
        return tuple(size // known if s == -1 else s for s in self.shape)

    def _forward(self, x, training):
        if training:
            self.cache = x.shape
        return x.reshape(len(x), *self._output_shape(x.shape[1:]))

    def _backward(self, grad_out, input_grad):
        return grad_out.reshape(self.cache)

    def config(self):
        return dict(shape=list(self.shape))


class Flatten(Reshape):
    """Flatten each sample: x: (N, d1, d2, ...) -> (N, d1*d2*...)."""

    def __init__(self):
        super().__init__((-1,))

    def config(self):
        return {}


class ChannelShuffle(Layer):
    """ShuffleNet's channel shuffle (PyTorch's ``nn.ChannelShuffle``): the channels of ``groups``
    groups interleaved, so that the next grouped convolution sees every group.

    x: (N, C, *) -> the same shape, C = groups * k:

        y[:, i * groups + g] = x[:, g * k + i]       (g < groups, i < k)

    PyTorch writes it (and ONNX holds it) as a reshape to (N, groups, k, *), a swap of those
    two axes and a reshape back: :func:`minicnn.functional.channel_shuffle`. No parameters.

    Backward: the inverse permutation, a shuffle with k groups: dx = shuffle(dy, k).
    """
    min_ndim = 2

    def __init__(self, groups):
        super().__init__()
        self.groups = check_int(groups, "groups", 1)

    def _output_shape(self, input_shape):
        if input_shape[0] % self.groups:
            raise ValueError(f"ChannelShuffle({self.groups}) needs channels divisible by {self.groups}, "
                             f"got {input_shape[0]} (input shape {tuple(input_shape)})")
        return tuple(input_shape)

    def _forward(self, x, training):
        return F.channel_shuffle(x, self.groups)

    def _backward(self, grad_out, input_grad):
        return F.channel_shuffle(grad_out, grad_out.shape[1] // self.groups)

    def config(self):
        return dict(groups=self.groups)


class ChannelSlice(Layer):
    """The channels ``start`` to ``stop`` (excluded) of x: PyTorch's ``x[:, start:stop]``,
    ``x.narrow(1, start, stop - start)``, one part of ``x.chunk(k, 1)`` or ``x.split(sizes, 1)``.

    x: (N, C, *) with C >= stop -> y: (N, stop - start, *). ShuffleNetV2 splits its map so: half
    the channels go through a branch, half around it, ``torch.cat((x1, branch(x2)), 1)``, which
    minicnn writes ``Concat([[ChannelSlice(0, C // 2)], [ChannelSlice(C // 2, C), *branch]])``.
    No parameters.

    Backward: dy goes back to the sliced channels, the others get 0.
    """
    min_ndim = 2

    def __init__(self, start, stop):
        super().__init__()
        self.start = check_int(start, "start", 0)
        self.stop = check_int(stop, "stop", self.start + 1)

    def _output_shape(self, input_shape):
        if input_shape[0] < self.stop:
            raise ValueError(f"ChannelSlice({self.start}, {self.stop}) needs at least {self.stop} channels, got "
                             f"{input_shape[0]} (input shape {tuple(input_shape)})")
        return (self.stop - self.start, *input_shape[1:])

    def _forward(self, x, training):
        if training:
            self.cache = x.shape
        return F.contiguous(x[:, self.start:self.stop])

    def _backward(self, grad_out, input_grad):
        xp = array_module(grad_out)
        dx = xp.zeros(self.cache, dtype=grad_out.dtype)
        dx[:, self.start:self.stop] = grad_out
        return dx

    def config(self):
        return dict(start=self.start, stop=self.stop)
