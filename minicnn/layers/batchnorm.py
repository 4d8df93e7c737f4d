"""BatchNorm: normalise each channel over the batch (and the spatial axes)."""
import numpy as np

from .._checks import check_dtype, check_float, check_int
from .base import Layer, check_features, check_grad


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
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float32):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", 1)
        self.momentum = check_float(momentum, "momentum", minimum=0.0, maximum=1.0)
        self.eps = check_float(eps, "eps", minimum=0.0, min_open=True)
        self.dtype = check_dtype(dtype)
        c = self.num_features
        self._add_param("gamma", (c,), "ones", 0, 0, self.dtype)
        self._add_param("beta", (c,), "zeros", 0, 0, self.dtype)
        self.running_mean = np.zeros(c, dtype=self.dtype)
        self.running_var = np.ones(c, dtype=self.dtype)

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError("BatchNorm takes per-sample input (C,) or (C, H, W), got a scalar")
        check_features(input_shape[0], self.num_features, "channels", tuple(input_shape))
        return tuple(input_shape)

    def forward(self, x, training=False):
        self._input(x, min_ndim=2)
        self.output_shape(x.shape[1:])
        axes = (0,) + tuple(range(2, x.ndim))
        shape = [1] * x.ndim
        shape[1] = self.num_features        # broadcast (C,) against axis 1
        gamma = self.params["gamma"].data.astype(x.dtype, copy=False).reshape(shape)
        beta = self.params["beta"].data.astype(x.dtype, copy=False).reshape(shape)
        if not training:
            mean = self.running_mean.astype(x.dtype, copy=False).reshape(shape)
            var = self.running_var.astype(x.dtype, copy=False).reshape(shape)
            self._save(False)
            return (x - mean) * (gamma / np.sqrt(var + x.dtype.type(self.eps))) + beta
        m = x.size // self.num_features
        if m < 2:
            raise ValueError(f"BatchNorm in training needs more than one value per channel, got input "
                             f"shape {x.shape}; use a batch of 2 or more")
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(var + x.dtype.type(self.eps))
        x_hat = centred * inv_std
        mom = self.momentum
        self.running_mean = ((1 - mom) * self.running_mean + mom * mean.ravel()).astype(self.dtype)
        self.running_var = ((1 - mom) * self.running_var + mom * var.ravel() * (m / (m - 1))).astype(self.dtype)
        self._save(True, x_hat, inv_std, gamma, axes)
        return gamma * x_hat + beta

    def backward(self, grad_out, input_grad=True):
        x_hat, inv_std, gamma, axes = self._cached()
        check_grad(grad_out, x_hat.shape)
        self._accumulate("gamma", (grad_out * x_hat).sum(axis=axes))
        self._accumulate("beta", grad_out.sum(axis=axes))
        if not input_grad:
            return None
        # dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)),  g = dy * gamma
        g = grad_out * gamma
        return inv_std * (g - g.mean(axis=axes, keepdims=True)
                          - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))

    def config(self):
        return dict(num_features=self.num_features, momentum=self.momentum, eps=self.eps,
                    dtype=self.dtype.name)
