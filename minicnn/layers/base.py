"""The Layer base class: what every layer has in common.

``Layer.forward`` checks x, then calls ``self._forward``, the layer's maths;
``Layer.backward`` checks grad_out, then calls ``self._backward``. A layer file
(conv.py, pooling.py, ...) writes only ``_forward`` and ``_backward``: its maths
and its cache. Everything a call must check is done here, once for all layers:

    forward(x):   x is a float array on the layer's device (NumPy on "cpu", CuPy on
                  "cuda") with the declared number of dimensions,
                  output_shape(x.shape[1:]) accepts it (channel count, window size),
                  the old cache is forgotten first; overflow is not a warning
    backward(g):  a training forward came first and no backward since,
                  g is a float array of the forward output's shape, on the layer's
                  device; backward runs
                  on the paths (fast or reference) its forward ran on

A layer a user wrote the older way, with its maths in ``forward``/``backward``,
gets the same checks: see :meth:`Layer.__init_subclass__`.
"""
import contextlib
import functools
import inspect

import numpy as np

from .._checks import check_backward_ready, check_bool, check_forward_input, check_grad, check_input_shape
from .. import functional as F, paths
from .. import init as initializers
from .._rng import get_rng
from ..devices import array_module, check_device, to_device
from ..parameter import Parameter


class Layer:
    """A differentiable step of a network.

    ``forward(x, training=False)`` and ``backward(grad_out, input_grad=True)``,
    defined here, are the entry points: each runs the shared checks and calls
    the layer's maths, ``_forward`` / ``_backward`` (as Chainer's ``apply`` calls
    ``forward``).

    What a layer class writes:

    - ``_forward(self, x, training)`` returns the output, for an x already checked
      (and made C-contiguous). With ``training=True`` it keeps in ``self.cache``
      what ``_backward`` will need; with ``training=False`` it keeps nothing.
    - ``_backward(self, grad_out, input_grad)`` takes dLoss/dOutput (checked) and
      returns dLoss/dInput, adding dLoss/dParameter into each ``Parameter.grad``.
      With ``input_grad=False`` a layer with parameters may skip dLoss/dInput and
      return None (the first layer of a network needs none; ``Sequential.backward``
      asks for that); a layer without parameters may ignore it: the result is
      dropped then.
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

    A layer written the older way, defining ``forward(self, x, training=False)``
    and ``backward(self, grad_out)`` (or ``backward(self, grad_out, input_grad=True)``)
    itself, keeps working with the same checks: a subclass that defines ``forward`` but
    no ``_forward``, and inherits no ``_forward`` but Layer's, has it moved to
    ``_forward``, and likewise ``backward`` to ``_backward`` (see :meth:`__init_subclass__`;
    the library's own layers never rely on it). A subclass of a
    layer that already has its maths (``class MyReLU(ReLU)``) that overrides
    ``forward``/``backward`` overrides the checked entry point itself, as in any Python
    class: call ``super().backward(grad_out)`` inside, or override ``_backward``.

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
        """The older way of writing a layer: a class whose own ``forward``/``backward`` hold
        its maths (and that inherits no maths but ``Layer``'s) has them moved to
        ``_forward``/``_backward``, so that the checked entry points below run them. A
        ``backward(self, grad_out)`` without ``input_grad`` is called without it."""
        super().__init_subclass__(**kwargs)
        for public, maths in (("forward", "_forward"), ("backward", "_backward")):
            if public in cls.__dict__ and maths not in cls.__dict__ and getattr(cls, maths) is getattr(Layer, maths):
                method = cls.__dict__[public]
                if maths == "_backward" and "input_grad" not in inspect.signature(method).parameters:
                    method = _ignoring_input_grad(method)
                setattr(cls, maths, method)
                delattr(cls, public)

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    # -- the checked entry points: the checks, then the layer's maths --------------
    def forward(self, x, training=False):
        """x -> the layer's output: ``x`` checked (see the module docstring), then ``self._forward``."""
        x = self._begin_forward(x, training)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # inf/NaN flow on, as in PyTorch
            out = self._forward(x, training)
        self._end_forward(out, training)
        return out

    def backward(self, grad_out, input_grad=True):
        """dLoss/dOutput -> dLoss/dInput (None with ``input_grad=False``): ``grad_out``
        checked, then ``self._backward`` on the paths the forward ran on; frees the cache."""
        input_grad = check_bool(input_grad, "input_grad")
        grad_out = self._begin_backward(grad_out)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), paths.fast_paths(self._fast):
                grad_in = self._backward(grad_out, input_grad)
            return grad_in if input_grad else None
        finally:
            self._end_backward()

    # -- the maths, written by each layer ------------------------------------------
    def _forward(self, x, training):
        raise NotImplementedError(f"{type(self).__name__} defines no _forward (its maths)")

    def _backward(self, grad_out, input_grad):
        raise NotImplementedError(f"{type(self).__name__} defines no _backward (its maths)")

    def config(self):
        return {}

    # -- the device (see minicnn.devices) ------------------------------------------
    @property
    def device(self):
        """``"cpu"`` or ``"cuda"``: where the parameters and buffers live, and where x must be."""
        return getattr(self, "_device", "cpu")

    def to(self, device):
        """Move the parameters (values and gradients), the buffers and the sublayers to
        ``device``, ``"cpu"`` or ``"cuda"`` (PyTorch's ``module.to``). Returns self; the
        Parameter objects stay the same, so an optimiser made before keeps working (it moves
        its own state at its next step)."""
        device = check_device(device)
        for p in self.params.values():
            p.to(device)
        for name in getattr(self, "_buffer_names", ()):
            setattr(self, name, to_device(getattr(self, name), device))
        for layer in self.sublayers():
            layer.to(device)
        self._device = device
        return self

    # -- freezing (transfer learning) ---------------------------------------------
    @property
    def trainable(self):
        """Keras's name: False freezes the layer. Setting it sets ``requires_grad`` of every
        parameter, those of the sublayers included (a Residual's branches), and the sublayers'
        own ``trainable``; a frozen BatchNorm also runs on its running statistics in training
        (Keras's rule). Reading it: whether any parameter is trainable, or for a layer without
        parameters, what was last set (True at first). Not saved with the model: set it again
        after ``Sequential.load``, as with PyTorch's ``requires_grad``."""
        if self.params:
            return any(p.requires_grad for p in self.params.values())
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value):
        value = check_bool(value, "trainable")
        self._trainable = value
        for p in self.params.values():
            p.requires_grad = value
        for layer in self.sublayers():
            layer.trainable = value

    def parameters(self):
        """Every Parameter of the layer (its sublayers' included), as ``Sequential.parameters()``."""
        return list(self.params.values())

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
            p.grad = array_module(p.data).zeros_like(p.data)
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

    # -- the checks that forward and backward run around the maths ------------------
    def _begin_forward(self, x, training):
        self.cache, self._ready, self._used = None, False, False   # a failed forward leaves no stale cache
        check_forward_input(self, x)
        self._check_input(x, training)
        return F.contiguous(x)        # a view would sum in another order than its copy

    def _end_forward(self, out, training):
        if training:      # backward will run on the same paths as this forward (reference or fast)
            self._ready, self._grad_shape, self._fast = True, out.shape, paths.fast_paths_enabled()
        else:
            self.cache = None

    def _begin_backward(self, grad_out):
        check_backward_ready(self)
        check_grad(grad_out, self._grad_shape, self.device)
        return F.contiguous(grad_out)

    def _end_backward(self):
        self.cache, self._ready, self._used = None, False, True

    def _skip_backward(self):
        """What ``backward`` checks and frees, without computing anything: for the layers
        before the first one with parameters when no input gradient is wanted."""
        check_backward_ready(self)
        self._end_backward()


def _ignoring_input_grad(backward):
    """An older user layer's ``backward(self, grad_out)`` as a ``_backward(self, grad_out, input_grad)``."""
    @functools.wraps(backward)
    def _backward(self, grad_out, input_grad):
        return backward(self, grad_out)
    return _backward


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
