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
                  device; backward runs on the paths (fast or reference) its
                  forward ran on

A layer a user wrote the older way, with its maths in ``forward``/``backward``,
gets the same checks: see :meth:`Layer.__init_subclass__`.

Also here, because every layer shares them:

- the layer registry, :data:`REGISTRY` and :func:`build_layer` (``Sequential.load``
  rebuilds layers from it); each library class enters it when it is defined;
- the choice of the faster equal twin: the layers' maths call the references of
  :mod:`minicnn.functional`, through :func:`fastest`, which gives the fast twin that
  :data:`FAST_TWINS` names (in :mod:`minicnn.fast`) while the fast paths are on;
  ``with minicnn.reference_paths():`` switches them off, in one thread;
- :func:`skip_init`, building layers without initial values (per thread too);
- :class:`Window2D`, the padding of a window sliding over (H, W): Conv2D's and the pools';
- the checks that ``forward`` and ``backward`` run (the layer's state machine,
  ``_ready``/``_used``, is all in this file).
"""
import contextlib
import functools
import inspect
import threading

import numpy as np

from .. import fast
from .. import functional as F
from .. import init as initializers
from .._checks import check_array, check_bool, check_on_device, check_shape
from .._rng import get_rng
from ..devices import array_module, check_device, to_device
from ..parameter import Parameter

#: Every layer class of the library by name (``minicnn.layers.REGISTRY``): :func:`build_layer`
#: and ``Sequential.load`` rebuild layers from it. Filled by :meth:`Layer.__init_subclass__`.
REGISTRY = {}

_per_thread = threading.local()      # the two switches below, each thread its own (see fast_paths, skip_init)


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
        ``backward(self, grad_out)`` without ``input_grad`` is called without it.
        A layer class of the library also enters :data:`REGISTRY` here (see :func:`_register`)."""
        super().__init_subclass__(**kwargs)
        for public, maths in (("forward", "_forward"), ("backward", "_backward")):
            if public in cls.__dict__ and maths not in cls.__dict__ and getattr(cls, maths) is getattr(Layer, maths):
                method = cls.__dict__[public]
                if maths == "_backward" and "input_grad" not in inspect.signature(method).parameters:
                    method = _ignoring_input_grad(method)
                setattr(cls, maths, method)
                delattr(cls, public)
        _register(cls)

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
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), fast_paths(self._fast):
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
        """Keras's name: False freezes the layer, True unfreezes it.

        The rule: for a layer with parameters (a Residual's or a Concat's are those of its
        branches), ``trainable`` *is* its parameters' ``requires_grad`` (PyTorch's name), not
        a second state. Reading it says whether any parameter learns; setting it sets every
        parameter's ``requires_grad``, and the sublayers' ``trainable``. So whatever the order
        in which ``trainable`` and ``requires_grad`` were set, the parameters' last
        ``requires_grad`` decide: ``bn.trainable = False`` then ``requires_grad = True`` on
        each parameter is a trainable layer again. A layer without parameters reads what was
        last set (True at first).

        A frozen BatchNorm (none of its parameters learning) normalises by its running
        statistics in training too and leaves them as they are: Keras's rule, what PyTorch's
        users get with ``.eval()``. (In PyTorch, ``requires_grad = False`` on gamma and beta
        alone would keep batch statistics; here freezing both freezes the statistics too.)

        Not saved with the model: set it again after ``Sequential.load``, as with PyTorch's
        ``requires_grad``."""
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
        xp = array_module(*(p.data for p in self.params.values()))
        for p in self.params.values():
            p.data = p.data.astype(dtype)
            p.grad = xp.zeros_like(p.data)
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
        if _skipping_init():
            self.params[name] = Parameter.placeholder(shape, dtype)
        else:
            self.params[name] = Parameter(initializers.draw(init, shape, fan_in, fan_out, get_rng(), dtype))

    def _add_buffer(self, name, shape, fill, dtype):
        """``self.<name>``: an array of ``shape`` filled with ``fill``, saved with the model."""
        if _skipping_init():
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
            self._ready, self._grad_shape, self._fast = True, out.shape, fast_paths_enabled()
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


# ---------------------------------------------------------------------------
# The registry of layer classes
# ---------------------------------------------------------------------------
def _register(cls):
    """Enter a layer class of the library in :data:`REGISTRY`: a public class of the package
    :mod:`minicnn.layers` that has its maths (not a base such as :class:`Window2D`). A class
    of one's own is not entered, so that it can never shadow a library layer of its name:
    ``Sequential.load`` rebuilds the library's layers only."""
    library = cls.__module__.startswith(__name__.rsplit(".", 1)[0] + ".")
    if not library or cls.__name__.startswith("_") or cls._forward is Layer._forward:
        return
    known = REGISTRY.get(cls.__name__)
    if known is not None and known.__module__ != cls.__module__:
        raise TypeError(f"two layer classes are named {cls.__name__}: {known.__module__} and {cls.__module__}")
    REGISTRY[cls.__name__] = cls


def build_layer(item):
    """The layer an architecture entry ``{"class": name, "config": {...}}`` describes."""
    if not isinstance(item, dict) or not isinstance(item.get("config"), dict):
        raise ValueError(f"a layer must be {{\"class\": name, \"config\": {{...}}}}, got {item!r:.80}")
    name = item.get("class")
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"unknown layer class {name!r}")
    return REGISTRY[name].from_config(item["config"])


# ---------------------------------------------------------------------------
# Reference or fast: which function computes
# ---------------------------------------------------------------------------
#: Each reference of :mod:`minicnn.functional` that has a faster equal twin in :mod:`minicnn.fast`:
#: ``reference: (twin, runs on a GPU too)``. The convolution's twins are CPU cache tricks (blocks,
#: the wide grid): on a GPU the reference, one large matrix product, is what it wants. The max-pool
#: backward's writes instead of adding, as well on either device. ``tests/test_fast_paths.py``
#: proves every pair equal.
FAST_TWINS = {
    F.conv2d_forward: (fast.conv2d_forward, False),
    F.conv2d_backward: (fast.conv2d_backward, False),
    F.max_pool2d_backward: (fast.max_pool2d_backward, True),
}


def fastest(reference, x):
    """The function that computes ``reference`` (of :mod:`minicnn.functional`) on the array
    ``x``: its twin of :data:`FAST_TWINS` while the fast paths are on and the twin runs on x's
    device, else the reference itself. A layer's maths calls it so::

        out, cols = fastest(F.conv2d_forward, x)(x, weight, bias, ...)
    """
    twin = FAST_TWINS.get(reference)
    if twin is None or not fast_paths_enabled() or not (twin[1] or isinstance(x, np.ndarray)):
        return reference
    return twin[0]


def fast_paths_enabled():
    """Whether the fast twins of :data:`FAST_TWINS` may run, in this thread (True unless switched off)."""
    return getattr(_per_thread, "fast", True)


@contextlib.contextmanager
def fast_paths(enabled):
    """Run the code inside (in this thread) with the fast paths on (``True``) or off (``False``).
    A layer records the setting at a training forward, and its backward runs under it."""
    before, _per_thread.fast = fast_paths_enabled(), bool(enabled)
    try:
        yield
    finally:
        _per_thread.fast = before


def reference_paths():
    """``with minicnn.reference_paths():`` runs every layer on the plain references of
    :mod:`minicnn.functional` (the code to read and step through), never on a fast twin.
    Same results, to rounding. Per thread: another thread keeps its fast paths."""
    return fast_paths(False)


# ---------------------------------------------------------------------------
# Building without initial values
# ---------------------------------------------------------------------------
def _skipping_init():
    return getattr(_per_thread, "skip_init", False)


@contextlib.contextmanager
def skip_init():
    """Build layers without initial values: inside, every parameter and buffer is a
    read-only placeholder of the right shape and dtype that takes no memory and
    draws no random numbers (``Sequential.load`` builds its layers so, checks the
    declared shapes against the file, and only then allocates them). Per thread, as
    the fast paths' switch: a layer another thread builds meanwhile gets its values."""
    before, _per_thread.skip_init = _skipping_init(), True
    try:
        yield
    finally:
        _per_thread.skip_init = before


def init_name(init):
    """The JSON-able name of an initialiser (None for a user's callable)."""
    return init if isinstance(init, str) else None


# ---------------------------------------------------------------------------
# A window sliding over (H, W): Conv2D and the 2-D pooling layers
# ---------------------------------------------------------------------------
class Window2D(Layer):
    """The base of a layer whose window of ``kernel_size`` (dilated by ``dilation``) slides
    by ``stride`` over an input padded by ``padding``: Conv2D and the 2-D pools. The layer
    sets those attributes: pairs, and the padding a pair, ``"same"`` or ``"valid"``."""
    dilation = (1, 1)          # a pool's window is not dilated; Conv2D sets its own

    def pads_for(self, input_hw):
        """((top, bottom), (left, right)) for an input of ``input_hw = (H, W)``."""
        return F.pads_for(self.padding, self.kernel_size, self.stride, self.dilation, input_hw)

    @property
    def pads(self):
        """((top, bottom), (left, right)), when it does not depend on the input size (it does
        for "same" at stride > 1: use :meth:`pads_for`)."""
        if self.padding == "same" and self.stride != (1, 1):
            raise ValueError(f"{type(self).__name__}(padding='same') at stride > 1 pads by the input size: "
                             "use pads_for((H, W))")
        return self.pads_for((None, None))


# ---------------------------------------------------------------------------
# The checks forward and backward run (Layer._begin_forward, _begin_backward)
# ---------------------------------------------------------------------------
def check_forward_input(layer, x):
    """``x`` fits ``layer``: a float ndarray with the dimensions the layer declares,
    whose per-sample shape ``layer.output_shape`` accepts (channels, window size)."""
    check_array(x, "x", ndim=layer.input_ndim)
    check_on_device(x, "x", layer.device, f"{type(layer).__name__}'s parameters")
    if x.ndim < layer.min_ndim:
        raise ValueError(f"x must have at least {layer.min_ndim} dimensions (N, ...), got shape {x.shape}")
    layer.output_shape(x.shape[1:])


_LAYOUTS = {4: "(C, H, W)", 3: "(C, L)"}      # per-sample layouts, for error messages


def check_input_shape(layer, input_shape):
    """A per-sample shape the layer's declaration accepts (``input_ndim``/``min_ndim`` and
    ``channel_check``, see :class:`Layer`), as a tuple."""
    shape = check_shape(input_shape, "input_shape")
    ndim = len(shape) + 1                                      # with the batch axis
    if (layer.input_ndim is not None and ndim != layer.input_ndim) or ndim < layer.min_ndim:
        want = _LAYOUTS.get(layer.input_ndim, f"{(layer.input_ndim or 0) - 1} dimensions") \
            if layer.input_ndim is not None else f"at least {layer.min_ndim - 1} dimensions"
        raise ValueError(f"{type(layer).__name__} takes per-sample input {want}, got input_shape {shape}")
    if 0 in shape:             # a mean of nothing is NaN, a window over nothing has no position
        raise ValueError(f"{type(layer).__name__} takes no empty axis: x must hold at least one value along "
                         f"every axis of a sample, got input_shape {shape}")
    if layer.channel_check is not None:
        axis, attribute, word = layer.channel_check
        got, expected = shape[axis - 1 if axis > 0 else axis], getattr(layer, attribute)
        if got != expected:
            raise ValueError(f"x has {got} {word} but the layer expects {expected} (input shape {shape})")
    return shape


def check_backward_ready(layer):
    """A training forward ran since the layer's last backward: one backward per forward."""
    if getattr(layer, "_ready", False):
        return
    name = type(layer).__name__
    if getattr(layer, "_used", False):
        raise RuntimeError(
            f"{name}.backward() was already called once after the last forward(x, training=True): "
            "one backward per forward, as in PyTorch (it frees the cache it used); run forward again")
    raise RuntimeError(f"{name}.backward() needs a preceding forward(x, training=True); "
                       "forward in eval mode (training=False) keeps nothing to differentiate")


def check_grad(grad_out, expected_shape, device="cpu"):
    """``grad_out`` is a float array of the shape the forward pass produced, on ``device``."""
    check_array(grad_out, "grad_out")
    check_on_device(grad_out, "grad_out", device, "the layer's parameters")
    if grad_out.shape != tuple(expected_shape):
        raise ValueError(f"grad_out must have the forward output's shape {tuple(expected_shape)}, "
                         f"got {grad_out.shape}")
    return grad_out


# ---------------------------------------------------------------------------
# Checks of layers given as arguments (containers, branches)
# ---------------------------------------------------------------------------
def check_layers(layers, name="layers"):
    """A list or tuple of minicnn layers (a Chain's), each in one place only, as a list."""
    if isinstance(layers, Layer) or not isinstance(layers, (list, tuple)):
        raise TypeError(f"{name} must be a list of minicnn layers, got {type(layers).__name__}")
    layers = [check_is_layer(layer, f"{name}[{i}]") for i, layer in enumerate(layers)]
    check_distinct_layers([(f"{name}[{i}]", layer) for i, layer in enumerate(layers)])
    return layers


def check_is_layer(layer, name="layer"):
    """One minicnn layer (not to be confused with :func:`minicnn.gradcheck.check_layer`,
    which checks a layer's gradients)."""
    if not isinstance(layer, Layer):
        raise TypeError(f"{name} must be a minicnn Layer, got {type(layer).__name__} {layer!r:.80}")
    return layer


def check_distinct_layers(places, root=None):
    """No layer object in two places of a model, however deep. ``places``: ``[(path, layer), ...]``,
    e.g. ``[("layers[0]", dense), ...]``; the branches of every layer found (a Residual's, a
    Concat's) are walked too, and ``root``, a Chain being appended to, must not turn up among
    them. A layer keeps one cache, so it can run in one place only."""
    seen = {}
    todo = places[::-1]                          # depth first, in order: the first place is named first
    while todo:
        path, layer = todo.pop()
        if id(layer) in seen:
            raise ValueError(
                f"{seen[id(layer)]} and {path} are the same {type(layer).__name__} object: a "
                "layer keeps one cache (what its forward keeps for its backward), so it can run in one place "
                "of a model only, a layer without parameters such as ReLU too; give each place its own layer")
        seen[id(layer)] = path
        for name, branch in getattr(layer, "branches", list)():
            if root is not None and branch is root:
                raise ValueError(f"{path}.{name} is the model itself: a model cannot hold itself")
            if branch is not None:
                todo += [(f"{path}.{name}[{i}]", sub) for i, sub in enumerate(branch.layers)][::-1]


__all__ = ["Layer", "Window2D", "REGISTRY", "FAST_TWINS", "build_layer", "fastest", "fast_paths",
           "fast_paths_enabled", "reference_paths", "init_name", "skip_init"]
