"""Random minicnn models for property tests: every layer class of ``minicnn.layers.REGISTRY``,
containers nested (Residual, Concat, SqueezeExcitation; branches as lists, single layers,
Sequentials, empty ones), small shapes down to the smallest each layer takes (1 x 1 maps,
one channel, windows larger than the input in ceil mode).

    from random_models import models, randomise
    @given(case=models())
    def test_something(case):
        model, input_shape = case         # input_shape: one sample's, e.g. (2, 5, 5)

The classes are read from the registry when a model is drawn: a layer added to minicnn is
drawn as soon as it has a maker in :data:`MAKERS`, or at once when its constructor takes no
required argument (it is built as ``cls()``); ``unmade_layers()`` lists the registered classes
that have neither, and tests/test_roundtrip.py fails naming them.

A maker is a Hypothesis strategy ``maker(shape, dtype, depth, keep)`` that draws a layer taking
one sample of ``shape`` (or None when the class takes no such input). ``keep`` asks for a
layer that keeps the sample's rank and every axis but the first (``"spatial"``: the branches
of a Concat, the block of a Residual that a 1x1 projection can follow) or its whole shape
(``"shape"``); makers lean towards such layers then (stride 1, 'same'), and what does not fit
is drawn again. ``depth`` bounds the nesting of containers.
"""
import inspect

import numpy as np
from hypothesis import strategies as st

import minicnn as mc
from minicnn import layers as L

#: The float dtypes a model may be built in (ONNX's property uses float32 alone: onnxruntime's
#: CPU convolutions and average pools exist for float32 only).
DTYPES = (np.float32, np.float64, np.float16)
#: Initialisers a layer with weights may name (what its config keeps).
INITS = ("he_normal", "he_uniform", "xavier_normal", "xavier_uniform")

MAKERS = {}


def maker(*classes):
    """Register a composite strategy ``fn(draw, cls, shape, dtype, depth, keep)`` as the maker of
    ``classes``: ``MAKERS[name](shape, dtype, depth, keep)`` draws a ``cls``."""
    def register(fn):
        strategy = st.composite(fn)
        for cls in classes:
            MAKERS[cls.__name__] = lambda *args, cls=cls: strategy(cls, *args)
        return strategy
    return register


def unmade_layers():
    """The registered classes that no maker draws and that need arguments to be built."""
    return sorted(name for name, cls in L.REGISTRY.items() if name not in MAKERS and _needs_arguments(cls))


def _needs_arguments(cls):
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)


def _sizes(draw, two, low, high, keep_one=False):
    """A size argument: an int or, for a 2-D layer, maybe an (h, w) pair, in [low, high]
    (1 when ``keep_one``)."""
    if keep_one:
        return draw(st.sampled_from([1, (1, 1)] if two else [1]))
    one = st.integers(low, high)
    return draw(st.one_of(one, st.tuples(one, one)) if two else one)


# ---------------------------------------------------------------------------
# One maker per layer class that needs arguments
# ---------------------------------------------------------------------------
@maker(L.Conv2D, L.Conv1D)
def conv(draw, cls, shape, dtype, depth, keep):
    two = cls is L.Conv2D
    if len(shape) != (3 if two else 2):
        return None
    c = shape[0]
    groups = draw(st.sampled_from([g for g in (1, 2, 3, 4) if c % g == 0]))
    out = c if keep == "shape" else groups * draw(st.integers(1, 3))
    padding = "same" if keep else draw(st.sampled_from(["same", "valid", "ints"]))
    if padding == "ints":
        padding = _sizes(draw, two, 0, 2)
    return cls(c, out, _sizes(draw, two, 1, 3), stride=_sizes(draw, two, 1, 2, keep_one=bool(keep)), padding=padding,
               dilation=_sizes(draw, two, 1, 2), bias=draw(st.booleans()), dtype=dtype,
               init=draw(st.sampled_from(INITS)), groups=groups)


@maker(L.MaxPool2D, L.AvgPool2D, L.MaxPool1D, L.AvgPool1D)
def pool(draw, cls, shape, dtype, depth, keep):
    two = cls in (L.MaxPool2D, L.AvgPool2D)
    if len(shape) != (3 if two else 2):
        return None
    kernel = _sizes(draw, two, 1, 4)
    if keep:
        stride, padding = 1, "same"
    else:
        stride = draw(st.one_of(st.none(), st.integers(1, 3)))
        padding = draw(st.one_of(st.just("same"), st.integers(0, min(np.atleast_1d(kernel)) // 2)))
    extra = {"count_include_pad": draw(st.booleans())} if cls in (L.AvgPool2D, L.AvgPool1D) else {}
    return cls(kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()), **extra)


@maker(L.AdaptiveAvgPool2D)
def adaptive_pool(draw, cls, shape, dtype, depth, keep):
    if len(shape) != 3:
        return None
    if keep:
        return L.AdaptiveAvgPool2D(draw(st.sampled_from([None, (None, None), tuple(shape[1:])])))
    side = st.one_of(st.none(), st.integers(1, 4))
    return L.AdaptiveAvgPool2D(draw(st.one_of(st.integers(1, 4), st.tuples(side, side))))


@maker(L.Dense)
def dense(draw, cls, shape, dtype, depth, keep):
    features = shape[-1]
    out = features if keep == "shape" or (keep and len(shape) > 1) else draw(st.integers(1, 5))
    return L.Dense(features, out, bias=draw(st.booleans()), dtype=dtype, init=draw(st.sampled_from(INITS)))


@maker(L.Reshape)
def reshape(draw, cls, shape, dtype, depth, keep):
    if keep:
        return L.Reshape(shape) if keep == "shape" or len(shape) == 1 else None
    size, target = int(np.prod(shape)), []
    for _ in range(draw(st.integers(0, 2))):          # up to two leading factors, then the rest
        factor = draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
        target.append(factor)
        size //= factor
    target.append(size)
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return L.Reshape(tuple(target))


@maker(L.Softmax)
def softmax(draw, cls, shape, dtype, depth, keep):
    rank = len(shape) + 1
    return L.Softmax(draw(st.one_of(st.integers(1, rank - 1), st.integers(-rank + 1, -1))))


@maker(L.LeakyReLU)
def leaky_relu(draw, cls, shape, dtype, depth, keep):
    return L.LeakyReLU(draw(st.one_of(st.sampled_from([0.0, 0.01]), st.floats(0.0, 2.0))))


@maker(L.Dropout)
def dropout(draw, cls, shape, dtype, depth, keep):
    return L.Dropout(draw(st.one_of(st.sampled_from([0.0, 0.5]), st.floats(0.0, 0.95))))


@maker(L.BatchNorm)
def batch_norm(draw, cls, shape, dtype, depth, keep):
    return L.BatchNorm(shape[0], momentum=draw(st.one_of(st.sampled_from([0.1, 0.0, 1.0]), st.floats(0.0, 1.0))),
                       eps=draw(st.one_of(st.sampled_from([1e-5, 1e-3]), st.floats(1e-8, 1.0))), dtype=dtype)


@maker(L.LocalResponseNorm)
def local_response_norm(draw, cls, shape, dtype, depth, keep):
    if len(shape) < 2:
        return None
    return L.LocalResponseNorm(draw(st.integers(1, 6)), alpha=draw(st.one_of(st.sampled_from([0.0, 1e-4]),
                                                                              st.floats(0.0, 2.0))),
                               beta=draw(st.one_of(st.sampled_from([0.0, 0.75]), st.floats(0.0, 2.0))),
                               k=draw(st.one_of(st.just(1.0), st.floats(0.01, 3.0))))


@maker(L.SqueezeExcitation)
def squeeze_excitation(draw, cls, shape, dtype, depth, keep):
    """SENet's gate, or its other activations (EfficientNet's SiLU, MobileNetV3's Hardsigmoid) and
    a BatchNorm in the squeeze."""
    if len(shape) != 3:
        return None
    names = sorted(L.branches.GATE_ACTIVATIONS)
    return L.SqueezeExcitation(shape[0], draw(st.integers(1, 4)), activation=draw(st.sampled_from(names)),
                               scale_activation=draw(st.sampled_from(["Sigmoid", "Hardsigmoid", *names])),
                               batch_norm=draw(st.booleans()), dtype=dtype)


@maker(L.Normalize)
def normalize(draw, cls, shape, dtype, depth, keep):
    """One mean and std for every channel, or one per channel; std of either sign, never 0."""
    if len(shape) < 2:
        return None
    count = draw(st.sampled_from([1, shape[0]]))
    value = st.floats(-3, 3).map(lambda v: round(v, 3))
    std = st.one_of(st.floats(0.1, 3), st.floats(-3, -0.1)).map(lambda v: round(v, 3))
    return L.Normalize(draw(st.lists(value, min_size=count, max_size=count)),
                       draw(st.lists(std, min_size=count, max_size=count)))


@maker(L.ChannelShuffle)
def channel_shuffle(draw, cls, shape, dtype, depth, keep):
    if len(shape) < 2:
        return None
    return L.ChannelShuffle(draw(st.sampled_from([g for g in range(1, shape[0] + 1) if shape[0] % g == 0])))


@maker(L.ChannelSlice)
def channel_slice(draw, cls, shape, dtype, depth, keep):
    if len(shape) < 2:
        return None
    if keep == "shape":
        return L.ChannelSlice(0, shape[0])
    start = draw(st.integers(0, shape[0] - 1))
    return L.ChannelSlice(start, draw(st.integers(start + 1, shape[0])))


@maker(L.Residual)
def residual(draw, cls, shape, dtype, depth, keep):
    """block(x) + shortcut(x): a block that keeps the shape, with no shortcut, an empty one or
    one that keeps the shape too; or a block that changes the channels, and a 1x1 projection."""
    if depth < 1:
        return None
    projected = len(shape) <= 3 and keep != "shape" and draw(st.booleans())
    block, out = draw(chains(shape, dtype, depth - 1, keep="spatial" if projected else "shape"))
    if out == shape:
        shortcut = draw(st.one_of(st.none(), st.just([]), chains(shape, dtype, depth - 1, keep="shape",
                                                                  min_size=1).map(lambda c: c[0])))
    else:
        shortcut = [_projection(shape, out, dtype)]
    return L.Residual(draw(_as_branch(block)), shortcut if shortcut is None else draw(_as_branch(shortcut)))


@maker(L.Concat)
def concat(draw, cls, shape, dtype, depth, keep):
    """1 to 3 branches that keep every axis but the channels (an empty one is x itself)."""
    if depth < 1 or keep == "shape":
        return None
    branches = []
    for _ in range(draw(st.integers(1, 3))):
        layers, _ = draw(chains(shape, dtype, depth - 1, keep="spatial"))
        branch = draw(_as_branch(layers))
        branches.append(branch[0] if isinstance(branch, list) and len(branch) == 1 and draw(st.booleans())
                        else branch)
    return L.Concat(branches)


def _projection(shape, out, dtype):
    """The 1x1 layer that maps ``shape`` to ``out`` (the same but the channels)."""
    if len(shape) == 1:
        return L.Dense(shape[0], out[0], dtype=dtype)
    cls = L.Conv2D if len(shape) == 3 else L.Conv1D
    return cls(shape[0], out[0], 1, dtype=dtype)


def _as_branch(layers):
    """A branch as a list of layers or a Sequential of them."""
    return st.sampled_from([list(layers), mc.Sequential(list(layers))])


# ---------------------------------------------------------------------------
# Chains and models
# ---------------------------------------------------------------------------
def _keeps(keep, shape, out):
    if keep == "shape":
        return out == shape
    if keep == "spatial":
        return len(out) == len(shape) and out[1:] == shape[1:]
    return True


@st.composite
def layers_for(draw, shape, dtype, depth, keep=None, names=None, tries=8):
    """One layer of a registered class (of ``names``, by default any) that takes a sample of
    ``shape`` and keeps what ``keep`` asks; None when the classes tried give none."""
    names = sorted(L.REGISTRY) if names is None else names
    for _ in range(tries):
        name = draw(st.sampled_from(names))
        try:
            if name in MAKERS:
                layer = draw(MAKERS[name](shape, dtype, depth, keep))
            else:                                   # a class without arguments: cls(), or none
                layer = None if _needs_arguments(L.REGISTRY[name]) else L.REGISTRY[name]()
            out = None if layer is None else layer.output_shape(shape)
        except (ValueError, TypeError):             # refused when built, or the input does not fit
            continue
        if layer is None:
            continue
        if _keeps(keep, shape, out) and len(out) <= 3 and int(np.prod(out)) <= 4096:
            return layer
    return None


@st.composite
def chains(draw, shape, dtype, depth, keep=None, min_size=0, max_size=3):
    """``(layers, output shape)``: layers applied in turn to a sample of ``shape``."""
    layers = []
    for _ in range(draw(st.integers(min_size, max_size))):
        layer = draw(layers_for(shape, dtype, depth, keep))
        if layer is None:
            break
        layers.append(layer)
        shape = layer.output_shape(shape)
    return layers, shape


@st.composite
def input_shapes(draw):
    """One sample's shape: (F,), (C, L) or (C, H, W), sides from 1 (the smallest) to 7."""
    rank = draw(st.sampled_from([3, 2, 1]))
    if rank == 1:
        return (draw(st.integers(1, 6)),)
    return (draw(st.integers(1, 4)), *(draw(st.integers(1, 7)) for _ in range(rank - 1)))


@st.composite
def models(draw, dtypes=DTYPES, depth=2, max_layers=4, first=None):
    """``(model, input_shape)``: a Sequential of 1 to ``max_layers`` layers (containers nested
    up to ``depth``) that takes one sample of ``input_shape``, built in one of ``dtypes``
    (sometimes converted to another by ``model.astype``). ``first``: the class name of the
    first layer (an input shape it takes is drawn), so that a test can go through the registry
    class by class; the layers after it are any."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    for _ in range(10 if first else 1):
        shape = draw(input_shapes())
        layer = draw(layers_for(shape, dtype, depth, names=[first], tries=3)) if first else None
        if layer is not None or not first:
            break
    head = [] if layer is None else [layer]
    layers, _ = draw(chains(shape if layer is None else layer.output_shape(shape), dtype, depth,
                            min_size=1 - len(head), max_size=max_layers - len(head)))
    model = mc.Sequential(head + layers or [L.ReLU()])
    if len(dtypes) > 1 and draw(st.integers(0, 3)) == 0:         # converted after it was built
        model.astype(draw(st.sampled_from(dtypes)))
    return model, shape


def randomise(model, rng):
    """Every parameter and buffer drawn at random (biases not zero, BatchNorm's running
    statistics of a trained model), so that every weight matters to the outputs."""
    for name, array in model._state_arrays().items():
        values = rng.normal(size=array.shape) * (0.5 if name.endswith(("W", "gamma")) else 0.3)
        if name.endswith("running_var"):
            values = rng.uniform(0.5, 1.5, size=array.shape)
        elif name.endswith("gamma"):
            values = 1 + values
        array[...] = values.astype(array.dtype)
    return model
