"""BatchNorm: normalise each channel over the batch (and the spatial axes)."""
import numpy as np

from .._checks import check_batch_statistics, check_dtype, check_float, check_int
from ..devices import array_module
from .base import Layer


def channel_sum(a, b=None):
    """Per-channel sum over every axis but 1: sum(a) or sum(a * b), as (C,).

    ``np.einsum`` does the product and the sum in one pass without a
    temporary array, about twice as fast as ``(a * b).sum(axis=(0, 2, 3))``.
    float16 sums in float32: 50k squares of N(0, 1) values already pass 65504.
    """
    axes = list(range(a.ndim))
    xp = array_module(a)
    dtype = np.result_type(a.dtype, np.float32) if b is None else np.result_type(a.dtype, b.dtype, np.float32)
    if b is None:
        return xp.einsum(a, axes, [1], dtype=dtype)
    return xp.einsum(a, axes, b, axes, [1], dtype=dtype)


class BatchNorm(Layer):
    """Batch normalisation over every axis but axis 1 (the channel/feature axis).

    One class serves x: (N, C) (like ``BatchNorm1d``) and (N, C, H, W) (like
    ``BatchNorm2d``). With m values per channel:

        training:  mu = mean(x), var = mean((x - mu)^2)   (per channel, biased)
        eval:      mu = running_mean, var = running_var
        y = gamma * (x - mu) / sqrt(var + eps) + beta

    Running update (training): running = (1 - momentum) * running + momentum * batch,
    with the *unbiased* batch variance var * m / (m - 1), as PyTorch does.
    ``params["gamma"]`` starts at 1, ``params["beta"]`` at 0; the buffers
    ``running_mean`` and ``running_var`` start at 0 and 1 and are saved with the model.

    Frozen (``layer.trainable = False``, or a frozen model or Residual around it: none of
    gamma and beta learning) it normalises by the running statistics in training too and
    leaves them as they are: Keras's rule since TF 2.0, what PyTorch users get by calling
    ``.eval()`` on the layer. A pretrained body's statistics then stay those it learnt,
    whatever the new data's batches hold. Its backward is that of a fixed per-channel affine
    map then: dx = dy * gamma / sqrt(running_var + eps). One flag decides, the parameters'
    ``requires_grad`` (see :attr:`~minicnn.layers.Layer.trainable`): gamma or beta made
    trainable again is batch statistics again, in whatever order the two were set.
    """

    min_ndim = 2
    channel_check = (1, "num_features", "channels")

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float32):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", 1)
        self.momentum = check_float(momentum, "momentum", minimum=0.0, maximum=1.0)
        self.eps = check_float(eps, "eps", minimum=0.0, min_open=True)
        self.dtype = check_dtype(dtype)
        c = self.num_features
        self._add_param("gamma", (c,), "ones", 0, 0, self.dtype)
        self._add_param("beta", (c,), "zeros", 0, 0, self.dtype)
        self._add_buffer("running_mean", (c,), 0.0, self.dtype)
        self._add_buffer("running_var", (c,), 1.0, self.dtype)

    def _uses_batch_statistics(self, training):
        """Training, and not frozen (Keras's inference mode): ``trainable``, the one flag."""
        return training and self.trainable

    def _check_input(self, x, training):
        if self._uses_batch_statistics(training):
            check_batch_statistics(x, self.num_features)

    def _forward(self, x, training):
        xp = array_module(x)
        per_channel = self._per_channel(x.ndim)          # reshapes (C,) to broadcast along axis 1
        gamma, beta = (per_channel(self.params[k].data.astype(x.dtype, copy=False)) for k in ("gamma", "beta"))
        if not self._uses_batch_statistics(training):    # the running statistics normalise
            mean, var = (per_channel(a.astype(x.dtype, copy=False)) for a in (self.running_mean, self.running_var))
            return (x - mean) * (gamma / xp.sqrt(var + x.dtype.type(self.eps))) + beta    # cache None: frozen
        m = x.size // self.num_features                  # values per channel
        mean = channel_sum(x) / m
        x_hat = x - per_channel(mean.astype(x.dtype, copy=False))
        var = channel_sum(x_hat, x_hat) / m              # biased: what normalises the batch
        inv_std = 1 / xp.sqrt(var + var.dtype.type(self.eps))
        x_hat *= per_channel(inv_std.astype(x.dtype, copy=False))
        self._update_running_statistics(mean, var, m)
        self.cache = (x_hat, inv_std)
        return x_hat * gamma + beta

    def _update_running_statistics(self, mean, var, m):
        """PyTorch's rule: running = (1 - momentum) running + momentum batch, with the
        unbiased batch variance var * m / (m - 1)."""
        mom = self.momentum
        self.running_mean = ((1 - mom) * self.running_mean + mom * mean).astype(self.dtype)
        self.running_var = ((1 - mom) * self.running_var + mom * var * (m / (m - 1))).astype(self.dtype)

    def _backward(self, grad_out, input_grad):
        # y = gamma * x_hat + beta with x_hat = (x - mu) * inv_std, inv_std = 1 / sqrt(var + eps),
        # mu and var the means of x and (x - mu)^2 over the m values of each channel.
        if self.cache is None:                            # frozen: mu and var fixed, gamma and beta too
            return self._frozen_backward(grad_out, input_grad)
        xp = array_module(grad_out)
        x_hat, inv_std = self.cache
        per_channel = self._per_channel(x_hat.ndim)
        dgamma = channel_sum(grad_out, x_hat)             # dgamma = sum(dy * x_hat)
        dbeta = channel_sum(grad_out)                     # dbeta  = sum(dy)
        self.params["gamma"].accumulate(dgamma)
        self.params["beta"].accumulate(dbeta)
        if not input_grad:
            return None
        # The chain rule, step by step (the classic derivation):
        #   dx_hat = dy * gamma
        #   dvar   = sum(dx_hat * (x - mu)) * -1/2 * (var + eps)^(-3/2)
        #   dmu    = sum(dx_hat) * -inv_std          (+ dvar * mean(-2 (x - mu)), which is 0)
        #   dx     = dx_hat * inv_std + dvar * 2 (x - mu) / m + dmu / m
        # Writing x - mu = x_hat / inv_std and collecting terms gives the closed form used here:
        #   dx = gamma * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat))
        # whose two means are dbeta / m and dgamma / m: the sums just computed serve twice.
        m = x_hat.size // self.num_features
        dx = x_hat * per_channel((dgamma / m).astype(x_hat.dtype))
        dx += per_channel((dbeta / m).astype(x_hat.dtype))
        xp.subtract(grad_out, dx, out=dx)
        dx *= per_channel((self.params["gamma"].data * inv_std).astype(x_hat.dtype))
        return dx

    def _frozen_backward(self, grad_out, input_grad):
        """Backward through the running statistics: y = gamma * (x - running_mean) / sqrt(running_var + eps)
        + beta is a fixed affine map of x, so dx = dy * gamma / sqrt(running_var + eps) (and gamma
        and beta, frozen, get no gradient)."""
        if not input_grad:
            return None
        xp = array_module(grad_out)
        per_channel = self._per_channel(grad_out.ndim)
        eps = self.running_var.dtype.type(self.eps)
        scale = self.params["gamma"].data / xp.sqrt(self.running_var + eps)
        return grad_out * per_channel(scale.astype(grad_out.dtype, copy=False))

    def _per_channel(self, ndim):
        """A function reshaping a (C,) array to (1, C, 1, ...): it broadcasts along axis 1."""
        shape = (1, self.num_features) + (1,) * (ndim - 2)
        return lambda a: a.reshape(shape)

    def config(self):
        return dict(num_features=self.num_features, momentum=self.momentum, eps=self.eps,
                    dtype=self.dtype.name)
