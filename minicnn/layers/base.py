"""The Layer base class: what every layer has in common."""
import functools

import numpy as np

from .._checks import check_array, check_shape
from .. import init as initializers
from .._rng import get_rng
from ..parameter import Parameter


class Layer:
    """A differentiable step of a network.

    - ``forward(x, training=False)`` computes the output; with ``training=True``
      it also keeps (caches) what ``backward`` will need.
    - ``backward(grad_out) -> grad_in`` takes dLoss/dOutput and returns
      dLoss/dInput, adding dLoss/dParameter into each ``Parameter.grad``.
      Layers with parameters also take ``input_grad=False``: then they skip
      dLoss/dInput and return None (the first layer of a network needs none).
    - ``params``: ``{name: Parameter}``; empty for layers without weights.
    - ``buffers()``: ``{name: ndarray}`` of non-trained state saved with the
      model (BatchNorm's running statistics).
    - ``config()``: the constructor arguments as a JSON-able dict, so that
      ``type(layer)(**layer.config())`` rebuilds it.
    - ``output_shape(input_shape)``: per-sample output shape, computed without
      data (``Sequential.summary`` uses it); raises ``ValueError`` for an input
      shape the layer cannot take.
    """

    def __init__(self):
        self.params = {}
        self._cache = None

    def __init_subclass__(cls, **kwargs):
        # Overflow inside a layer is not a warning: inf/NaN flow on to the output, as
        # in PyTorch, and fit() checks every batch's loss and gradients for them.
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                setattr(cls, name, _quiet(cls.__dict__[name]))

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def config(self):
        return {}

    def buffers(self):
        return {}

    def output_shape(self, input_shape):
        """Per-sample output shape for per-sample ``input_shape`` (no data needed)."""
        return self._output_shape(check_shape(input_shape, "input_shape"))

    def _output_shape(self, input_shape):
        return input_shape

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    # -- helpers for subclasses -------------------------------------------
    def _input(self, x, ndim=None, min_ndim=1):
        """Start of every forward: forget the last cache, then validate ``x``.

        Forgetting first means a forward that fails half-way can never leave a
        stale cache for ``backward`` to use.
        """
        self._cache = None
        check_array(x, "x", ndim=ndim)
        if min_ndim is not None and x.ndim < min_ndim:
            raise ValueError(f"x must have at least {min_ndim} dimensions (N, ...), got shape {x.shape}")
        return x

    def _save(self, training, *values):
        """Keep what backward needs when training; keep nothing in eval mode."""
        self._cache = values if training else None

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() needs a preceding forward(x, training=True); "
                "forward in eval mode (training=False) keeps nothing to differentiate")
        return self._cache

    def _add_param(self, name, shape, init, fan_in, fan_out, dtype):
        fn = initializers.get(init)
        try:
            data = fn(shape, fan_in, fan_out, get_rng(), dtype)
        except TypeError as exc:
            if not isinstance(init, str):
                raise TypeError(f"init must be a callable (shape, fan_in, fan_out, rng, dtype) -> array; "
                                f"calling it failed: {exc}") from exc
            raise
        data = np.asarray(data)
        if data.shape != tuple(shape) or data.dtype.kind not in "biuf":
            raise ValueError(f"init must return a numeric array of shape {tuple(shape)}, "
                             f"got {data.dtype} {data.shape}")
        self.params[name] = Parameter(data.astype(dtype))

    def _accumulate(self, name, grad):
        """Add a gradient into ``params[name].grad`` (in the parameter's dtype)."""
        self.params[name].accumulate(grad)


def _quiet(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return method(*args, **kwargs)
    return wrapper


def check_grad(grad_out, expected_shape):
    """Validate ``grad_out`` against the shape the forward pass produced."""
    check_array(grad_out, "grad_out")
    if grad_out.shape != tuple(expected_shape):
        raise ValueError(f"grad_out must have the forward output's shape {tuple(expected_shape)}, "
                         f"got {grad_out.shape}")
    return grad_out


def check_features(got, expected, what, shape):
    """Channel/feature count check with 'expected ... got ...' in the message."""
    if got != expected:
        raise ValueError(f"x has {got} {what} but the layer expects {expected} (input shape {shape})")


def init_name(init):
    """The JSON-able name of an initialiser (None for a user's callable)."""
    return init if isinstance(init, str) else None


__all__ = ["Layer", "check_grad", "check_features", "init_name"]
