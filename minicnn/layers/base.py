"""The Layer base class: what every layer has in common.

A layer's own ``forward`` and ``backward`` hold only its maths and its cache.
Everything a call must check is done here, once for all layers, by wrapping
each subclass's ``forward`` and ``backward`` (see :meth:`Layer.__init_subclass__`):

    forward(x):   x is a float ndarray with the declared number of dimensions,
                  output_shape(x.shape[1:]) accepts it (channel count, window size),
                  the old cache is forgotten first
    backward(g):  a training forward came first and no backward since,
                  g is a float ndarray of the forward output's shape

The original, unchecked maths stays reachable as ``Conv2D.forward.__wrapped__``.
"""
import contextlib
import functools
import inspect

import numpy as np

from .._checks import check_backward_ready, check_bool, check_forward_input, check_grad, check_input_shape
from .. import functional as F
from .. import init as initializers
from .._rng import get_rng
from ..parameter import Parameter


class Layer:
    """A differentiable step of a network.

    What a layer class writes:

    - ``forward(self, x, training=False)`` returns the output. With
      ``training=True`` it keeps in ``self.cache`` what ``backward`` will need.
    - ``backward(self, grad_out)`` takes dLoss/dOutput and returns dLoss/dInput,
      adding dLoss/dParameter into each ``Parameter.grad``. A layer with
      parameters also takes ``input_grad=True``: with ``input_grad=False`` it
      skips dLoss/dInput and returns None (the first layer of a network needs
      none; ``Sequential.backward`` asks for that). A layer whose ``backward``
      has no ``input_grad`` argument gets called without it, and its result is
      dropped when ``input_grad=False``.
    - parameters with ``self._add_param(...)``, non-trained state saved with the
      model (BatchNorm's running statistics) with ``self._add_buffer(...)``;
    - ``config()``: the constructor arguments as a JSON-able dict, so that
      ``type(layer).from_config(layer.config())`` rebuilds it (for most layers
      that is ``type(layer)(**layer.config())``);
    - ``_output_shape(input_shape)``: the per-sample output shape;
    - the declaration the checks read: ``input_ndim`` (x must have exactly this
      many dimensions, batch axis included) or ``min_ndim`` (at least this
      many), and ``channel_check = (axis, attribute, word)``: x.shape[axis] must
      equal ``getattr(self, attribute)`` (``word`` names it in the message).

    The rules every layer follows (checked here, not in the layers):

    - a forward in eval mode (``training=False``, the default) keeps nothing;
      ``backward`` needs a preceding ``forward(x, training=True)``;
    - one backward per forward, as in PyTorch: backward frees the cache it
      used, and a second ``backward`` raises ``RuntimeError`` until the next
      training forward;
    - the output and the gradients keep the input's dtype; a non-contiguous
      view of an array gives bit for bit the result of its contiguous copy;
    - floating-point overflow inside a layer is not a warning: inf/NaN flow on
      to the output, as in PyTorch, and ``fit`` checks every batch for them.

    ``params``: ``{name: Parameter}``; ``buffers()``: ``{name: ndarray}``;
    ``output_shape(input_shape)``: per-sample output shape, computed without
    data (``Sequential.summary`` uses it), a ``ValueError`` for an input shape
    the layer cannot take.
    """

    input_ndim = None          # exact number of dimensions of x, e.g. 4 for (N, C, H, W)
    min_ndim = 1               # otherwise at least this many (the batch axis)
    channel_check = None       # (axis of x, attribute, word), e.g. (1, "in_channels", "channels")

    def __init__(self):
        self.params = {}
        self._buffer_names = []
        self.cache = None
        self._ready = False        # a training forward ran, and no backward since
        self._used = False         # ... and then a backward ran

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _checked_forward(cls.__dict__["forward"])
        if "backward" in cls.__dict__:
            cls.backward = _checked_backward(cls.__dict__["backward"])

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, grad_out, input_grad=True):
        raise NotImplementedError

    def config(self):
        return {}

    def buffers(self):
        return {name: getattr(self, name) for name in getattr(self, "_buffer_names", ())}

    def sublayers(self):
        """The layers inside this one (a Residual's branches); none for most layers."""
        return []

    def astype(self, dtype):
        """Convert the parameters and buffers to ``dtype`` (gradients are reset). Returns self.

        The Parameter objects stay the same, so an optimiser made before keeps working
        (it converts its own state at its next step)."""
        for p in self.params.values():
            p.data = p.data.astype(dtype)
            p.grad = np.zeros_like(p.data)
        for name in getattr(self, "_buffer_names", ()):
            setattr(self, name, getattr(self, name).astype(dtype))
        if hasattr(self, "dtype"):
            self.dtype = np.dtype(dtype)
        return self

    @classmethod
    def from_config(cls, config):
        """The layer that ``config()`` describes (``Sequential.load`` builds layers so)."""
        if "dtype" in config:
            config = dict(config, dtype=np.dtype(config["dtype"]))
        return cls(**config)

    def output_shape(self, input_shape):
        """Per-sample output shape for per-sample ``input_shape`` (no data needed)."""
        return self._output_shape(check_input_shape(self, input_shape))

    def _output_shape(self, input_shape):
        return input_shape

    def _check_input(self, x, training):
        """A layer's own per-call condition beyond the declaration (BatchNorm's batch size)."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    # -- parameters and buffers ---------------------------------------------
    def _add_param(self, name, shape, init, fan_in, fan_out, dtype):
        """``params[name]``: a Parameter of ``shape`` drawn by the initialiser ``init``."""
        if _skipping_init:
            self.params[name] = Parameter.placeholder(shape, dtype)
        else:
            self.params[name] = Parameter(initializers.draw(init, shape, fan_in, fan_out, get_rng(), dtype))

    def _add_buffer(self, name, shape, fill, dtype):
        """``self.<name>``: an array of ``shape`` filled with ``fill``, saved with the model."""
        if _skipping_init:
            value = np.broadcast_to(np.array(fill, dtype), shape)     # no memory: see skip_init
        else:
            value = np.full(shape, fill, dtype)
        setattr(self, name, value)
        self._buffer_names.append(name)

    def _allocate(self):
        """Replace the placeholders :func:`skip_init` left by zero arrays."""
        for p in self.params.values():
            if not p.data.flags.writeable:
                p.data = np.zeros(p.shape, p.dtype)
                p.grad = np.zeros_like(p.data)
        for name in getattr(self, "_buffer_names", ()):
            value = getattr(self, name)
            if not value.flags.writeable:
                setattr(self, name, np.zeros(value.shape, value.dtype))
        for layer in self.sublayers():
            layer._allocate()

    # -- the checks around forward and backward ----------------------------------
    def _begin_forward(self, x, training):
        self.cache, self._ready, self._used = None, False, False   # a failed forward leaves no stale cache
        check_forward_input(self, x)
        self._check_input(x, training)
        return F.contiguous(x)        # a view would sum in another order than its copy

    def _end_forward(self, out, training):
        if training:      # backward will run on the same paths as this forward (reference or fast)
            self._ready, self._grad_shape, self._fast = True, out.shape, F.fast_paths_enabled()
        else:
            self.cache = None

    def _begin_backward(self, grad_out):
        check_backward_ready(self)
        check_grad(grad_out, self._grad_shape)
        return F.contiguous(grad_out)

    def _end_backward(self):
        self.cache, self._ready, self._used = None, False, True

    def _skip_backward(self):
        """What ``backward`` checks and frees, without computing anything: for the layers
        before the first one with parameters when no input gradient is wanted."""
        check_backward_ready(self)
        self._end_backward()


def _checked_forward(maths):
    """Wrap a layer's ``forward`` maths in the shared checks (see the module docstring)."""
    @functools.wraps(maths)
    def forward(self, x, training=False):
        x = self._begin_forward(x, training)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = maths(self, x, training=training)
        self._end_forward(out, training)
        return out
    return forward


def _checked_backward(maths):
    """Wrap a layer's ``backward`` maths in the shared checks (see the module docstring)."""
    takes_input_grad = "input_grad" in inspect.signature(maths).parameters

    @functools.wraps(maths)
    def backward(self, grad_out, input_grad=True):
        input_grad = check_bool(input_grad, "input_grad")
        grad_out = self._begin_backward(grad_out)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), F.fast_paths(self._fast):
                if takes_input_grad:
                    return maths(self, grad_out, input_grad=input_grad)
                grad_in = maths(self, grad_out)
                return grad_in if input_grad else None
        finally:
            self._end_backward()
    return backward


_skipping_init = False


@contextlib.contextmanager
def skip_init():
    """Build layers without initial values: inside, every parameter and buffer is a
    read-only placeholder of the right shape and dtype that takes no memory and
    draws no random numbers (``Sequential.load`` builds its layers so, checks the
    declared shapes against the file, and only then allocates them)."""
    global _skipping_init
    before, _skipping_init = _skipping_init, True
    try:
        yield
    finally:
        _skipping_init = before


def init_name(init):
    """The JSON-able name of an initialiser (None for a user's callable)."""
    return init if isinstance(init, str) else None


__all__ = ["Layer", "init_name", "skip_init"]
