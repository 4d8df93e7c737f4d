"""Fuzz suite for the core API: layers, losses, optimisers, schedules,
Sequential, functional, init, Parameter, gradcheck, manual_seed and the
argument checks of the training loop.

Contract, for arbitrary arrays (every dtype kind, any ndim, zero-size sides,
NaN/inf, huge values, any memory layout) and arbitrary constructor and keyword
arguments:

- every call gives the correct result, or raises ``ValueError``/``TypeError``
  (``RuntimeError`` for backward without forward) whose message names the
  argument that was wrong; never another exception, a NumPy message, a
  warning (warnings are errors in this suite), a hang or a silent wrong result;
- float input is required by the layers; NaN/inf in it propagate to the output
  silently (no exception, no warning), as in PyTorch; float16 is accepted and
  the output keeps the input's dtype; gradients come back in the input's dtype;
- nothing writes into the caller's arrays (read-only inputs work), and a
  non-contiguous view (Fortran order, strided, negative strides, broadcast)
  gives bit for bit the result of its contiguous copy.

Strategies and checks shared with the other fuzz suites live in
``tests/fuzzing.py``. Arrays stay small (sides <= 6, batch <= 4) so the suite
runs in about a minute with the default Hypothesis profile.
"""
import contextlib
import copy
import math
import os
import tempfile
import tracemalloc

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

try:
    import resource  # not on Windows: the allocation cap is tracemalloc's only
except ImportError:
    resource = None

from fuzzing import (ALL_DTYPES, FLOAT_DTYPES, LAYOUTS, WRONG_VALUES, any_arrays, assert_same, broadcast_view,
                     call_cleanly, check_message, finite_arrays, float_arrays, frozen, layer_argument_values, relayout,
                     shapes, wrong_values)

import minicnn as mc
from minicnn import functional as F
from minicnn import gradcheck, init
from minicnn import layers as L
from minicnn import losses, optim, paths, training

LAYER_NAMES = sorted(L.REGISTRY)
ALL_LAYOUTS = LAYOUTS + ("broadcast",)
FLOATS = st.sampled_from(FLOAT_DTYPES)

#: Examples per test in the active profile (100 by default, 1000 with --hypothesis-profile=thorough).
PROFILE_EXAMPLES = settings().max_examples


def share(fraction):
    """Settings giving a test ``fraction`` of the profile's examples: the families that are
    parametrized many times over (layer x layout) share the time budget."""
    return settings(max_examples=max(10, int(PROFILE_EXAMPLES * fraction)))


def view_and_copy(x, layout):
    """``(view, contiguous copy)`` of ``x`` in ``layout`` (``"broadcast"``: repeated rows)."""
    if layout == "broadcast":
        return broadcast_view(x)
    return relayout(x, layout), relayout(x, "contiguous")


# ---------------------------------------------------------------------------
# Valid layers and inputs that fit them
# ---------------------------------------------------------------------------
def _side(draw, lo=1, hi=6):
    return draw(st.integers(lo, hi))


def _conv_channels(draw):
    """in_channels, out_channels and groups: 1-3 channels and groups=1, or 2-3 groups of 1-2."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    if groups == 1:
        return dict(in_channels=draw(st.integers(1, 3)), out_channels=draw(st.integers(1, 3)), groups=1)
    return dict(in_channels=groups * draw(st.integers(1, 2)), out_channels=groups * draw(st.integers(1, 2)),
                groups=groups)


@st.composite
def layer_cases(draw, name):
    """``(make, x_shape)``: ``make()`` builds the same layer every time (fixed seed);
    ``x_shape`` is an input the layer takes (N in 1..4, sides <= 6)."""
    cls = L.REGISTRY[name]
    n = draw(st.integers(1, 4))
    kwargs = {}
    if name == "Conv2D":
        stride = draw(st.sampled_from([1, 2, (1, 2)]))
        padding = draw(st.sampled_from([0, 1, (2, 0), "valid", "same"]))
        kwargs = dict(**_conv_channels(draw),
                      kernel_size=draw(st.sampled_from([1, 2, 3, (1, 3), (2, 1)])), stride=stride,
                      padding=padding, dilation=draw(st.sampled_from([1, 2, (2, 1)])),
                      bias=draw(st.booleans()), dtype=draw(FLOATS))
        shape = (n, kwargs["in_channels"], _side(draw), _side(draw))
    elif name in ("MaxPool2D", "AvgPool2D"):
        k = draw(st.sampled_from([1, 2, 3, (2, 3), (3, 1)]))
        kh, kw = (k, k) if isinstance(k, int) else k
        kwargs = dict(kernel_size=k, stride=draw(st.sampled_from([None, 1, 2, (1, 3)])),
                      padding=draw(st.one_of(st.just("same"), st.tuples(st.integers(0, kh // 2),
                                                                        st.integers(0, kw // 2)))))
        if name == "AvgPool2D":
            kwargs["count_include_pad"] = draw(st.booleans())
        kwargs["ceil_mode"] = draw(st.booleans())
        shape = (n, draw(st.integers(1, 3)), _side(draw), _side(draw))
    elif name == "Conv1D":
        kwargs = dict(**_conv_channels(draw),
                      kernel_size=draw(st.integers(1, 3)), stride=draw(st.integers(1, 3)),
                      padding=draw(st.sampled_from([0, 1, 2, "valid", "same"])), dilation=draw(st.integers(1, 2)),
                      bias=draw(st.booleans()), dtype=draw(FLOATS))
        shape = (n, kwargs["in_channels"], _side(draw))
    elif name in ("MaxPool1D", "AvgPool1D"):
        k = draw(st.integers(1, 3))
        kwargs = dict(kernel_size=k, stride=draw(st.sampled_from([None, 1, 2])),
                      padding=draw(st.sampled_from([0, k // 2, "same"])))
        if name == "AvgPool1D":
            kwargs["count_include_pad"] = draw(st.booleans())
        kwargs["ceil_mode"] = draw(st.booleans())
        shape = (n, draw(st.integers(1, 3)), _side(draw))
    elif name == "GlobalAvgPool2D":
        shape = (n, draw(st.integers(1, 3)), _side(draw), _side(draw))
    elif name == "AdaptiveAvgPool2D":
        side = st.one_of(st.none(), st.integers(1, 7))
        kwargs = dict(output_size=draw(st.one_of(st.integers(1, 7), st.tuples(side, side))))
        shape = (n, draw(st.integers(1, 3)), _side(draw), _side(draw))
    elif name == "GlobalAvgPool1D":
        shape = (n, draw(st.integers(1, 3)), _side(draw))
    elif name == "Residual":
        c, dtype, projection = draw(st.integers(1, 3)), draw(FLOATS), draw(st.booleans())
        shape = (max(n, 2), c, _side(draw, 2), _side(draw, 2))

        def make():           # fresh inner layers every time: two Residuals never share a layer
            mc.manual_seed(1234)
            if projection:
                return cls([L.Conv2D(c, 2 * c, 3, stride=2, padding=1, bias=False, dtype=dtype),
                            L.BatchNorm(2 * c, dtype=dtype)], [L.Conv2D(c, 2 * c, 1, stride=2, dtype=dtype)])
            return cls([L.Conv2D(c, c, 3, padding=1, bias=False, dtype=dtype), L.BatchNorm(c, dtype=dtype),
                        L.ReLU()])
        return make, shape
    elif name == "Concat":
        c, dtype, nested = draw(st.integers(1, 3)), draw(FLOATS), draw(st.booleans())
        widths = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
        shape = (n, c, _side(draw, 2), _side(draw, 2))

        def make():           # a 1x1 conv per branch, a pooling branch, maybe a nested Concat
            mc.manual_seed(1234)
            branches = [[L.Conv2D(c, w, 1, dtype=dtype)] for w in widths] + [L.MaxPool2D(3, 1, 1)]
            if nested:
                branches.append([L.Conv2D(c, 2, 3, padding=1, dtype=dtype),
                                 L.Concat([L.Conv2D(2, 1, (1, 3), padding=(0, 1), dtype=dtype),
                                           [L.Conv2D(2, 1, (3, 1), padding=(1, 0), dtype=dtype)]])])
            return cls(branches)
        return make, shape
    elif name == "SqueezeExcitation":
        # with the BatchNorm: smooth activations (its outputs of a few samples are symmetric about 0, where
        # ReLU's kink would make finite differences meaningless), and two channels at least (of one, BatchNorm
        # normalises away W1's one weight, whose gradient is then 0 up to rounding)
        norm = draw(st.booleans())
        activations = ["SiLU", "Sigmoid", "Tanh"] if norm else sorted(L.branches.GATE_ACTIVATIONS)
        kwargs = dict(input_channels=draw(st.integers(1 + norm, 4)), squeeze_channels=draw(st.integers(1, 3)),
                      activation=draw(st.sampled_from(activations)),
                      scale_activation=draw(st.sampled_from(["Sigmoid", "Hardsigmoid", *activations])),
                      batch_norm=norm, dtype=draw(FLOATS))
        # the gate's BatchNorm trains on batch statistics of the (N, S) means: two samples at least, three
        # so that its gradients are not nearly 0 (two values normalise to -1 and 1 whatever they were)
        shape = (max(n, 3) if kwargs["batch_norm"] else n, kwargs["input_channels"], _side(draw), _side(draw))
    elif name == "Normalize":
        c = draw(st.integers(1, 3))
        count = draw(st.sampled_from([1, c]))
        kwargs = dict(mean=draw(st.lists(st.floats(-2, 2), min_size=count, max_size=count)),
                      std=draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, -1.5]), min_size=count, max_size=count)))
        shape = (n, c, *draw(st.lists(st.integers(1, 4), max_size=2)))
    elif name == "ChannelShuffle":
        groups, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        kwargs = dict(groups=groups)
        shape = (n, groups * k, *draw(st.lists(st.integers(1, 4), max_size=2)))
    elif name == "ChannelSlice":
        c = draw(st.integers(1, 4))
        start = draw(st.integers(0, c - 1))
        kwargs = dict(start=start, stop=draw(st.integers(start + 1, c)))
        shape = (n, c, *draw(st.lists(st.integers(1, 4), max_size=2)))
    elif name == "Dense":
        kwargs = dict(in_features=draw(st.integers(1, 4)), out_features=draw(st.integers(1, 4)),
                      bias=draw(st.booleans()), dtype=draw(FLOATS))
        lead = draw(st.lists(st.integers(1, 3), max_size=1))
        shape = (n, *lead, kwargs["in_features"])
    elif name == "BatchNorm":
        c = draw(st.integers(1, 3))
        kwargs = dict(num_features=c, momentum=draw(st.floats(0, 1)), eps=draw(st.sampled_from([1e-5, 1e-3, 0.5])),
                      dtype=draw(FLOATS))
        shape = (max(n, 2), c) if draw(st.booleans()) else (max(n, 2), c, _side(draw), _side(draw))
    elif name == "LocalResponseNorm":
        kwargs = dict(size=draw(st.integers(1, 6)), alpha=draw(st.sampled_from([1e-4, 0.5, 2.0])),
                      beta=draw(st.sampled_from([0.0, 0.75, 1.5])), k=draw(st.sampled_from([0.5, 1.0, 2.0])))
        shape = (n, draw(st.integers(1, 5)), *draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    elif name in ("Flatten", "Reshape"):
        shape = (n, *draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        if name == "Reshape":
            size = math.prod(shape[1:])
            a = draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
            target = draw(st.sampled_from([(a, size // a), (-1, a), (size // a, -1), (size,), (a, 1, -1)]))
            kwargs = dict(shape=target)
    elif name in ("Softmax", "LogSoftmax"):
        shape = (n, *draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        kwargs = dict(axis=draw(st.sampled_from([a for a in range(-len(shape) + 1, len(shape)) if a % len(shape)])))
    else:       # element-wise layers take any shape with a batch axis
        shape = (n, *draw(st.lists(st.integers(1, 4), max_size=3)))
        if name == "LeakyReLU":
            kwargs = dict(negative_slope=draw(st.floats(0, 2)))
        elif name == "Dropout":
            kwargs = dict(p=draw(st.sampled_from([0.0, 0.25, 0.5, 0.9])))

    def make():
        mc.manual_seed(1234)
        return cls(**kwargs)

    layer = make()
    try:
        layer.output_shape(shape[1:])
    except ValueError:
        assume(False)           # a window larger than the input: try another draw
    return make, shape


def out_shape(layer, x_shape):
    return (x_shape[0], *layer.output_shape(x_shape[1:]))


# ---------------------------------------------------------------------------
# Layers: constructors with wrong values
# ---------------------------------------------------------------------------
def _is_int(v, minimum):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= minimum


def _is_pair(v, minimum):
    if isinstance(v, (tuple, list)):
        return len(v) == 2 and all(_is_int(u, minimum) for u in v)
    return _is_int(v, minimum)


def _is_float(v, lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return False
    v = float(v)
    return math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)


def _is_bool(v):
    return isinstance(v, (bool, np.bool_))


#: class name -> (valid keyword arguments, {argument: is this value valid?}).
CONSTRUCTORS = {
    "Conv2D": (dict(in_channels=2, out_channels=4, kernel_size=3), {
        "in_channels": lambda v: _is_int(v, 1), "out_channels": lambda v: _is_int(v, 1),
        "kernel_size": lambda v: _is_pair(v, 1), "stride": lambda v: _is_pair(v, 1),
        "padding": lambda v: _is_pair(v, 0) or (isinstance(v, str) and v in ("same", "valid")),
        "dilation": lambda v: _is_pair(v, 1), "bias": _is_bool,
        "groups": lambda v: _is_int(v, 1) and 2 % v == 0 and 4 % v == 0,
        "dtype": lambda v: False, "init": lambda v: False}),
    "MaxPool2D": (dict(kernel_size=4), {
        "kernel_size": lambda v: _is_pair(v, 1), "stride": lambda v: v is None or _is_pair(v, 1),
        "padding": lambda v: _is_pair(v, 0) and max(v if isinstance(v, (tuple, list)) else (v,)) <= 2}),
    "Dense": (dict(in_features=2, out_features=3), {
        "in_features": lambda v: _is_int(v, 1), "out_features": lambda v: _is_int(v, 1),
        "bias": _is_bool, "dtype": lambda v: False, "init": lambda v: False}),
    "Reshape": (dict(shape=(2, 2)), {
        "shape": lambda v: (_is_int(v, -1) and v != 0 or (isinstance(v, (tuple, list)) and v and all(
            _is_int(u, 1) or (_is_int(u, -1) and u == -1) for u in v) and list(v).count(-1) <= 1))}),
    "LeakyReLU": (dict(), {"negative_slope": lambda v: _is_float(v, 0)}),
    "Softmax": (dict(), {"axis": lambda v: _is_int(v, -math.inf)}),
    "Dropout": (dict(), {"p": lambda v: _is_float(v, 0, 1, hi_open=True)}),
    "BatchNorm": (dict(num_features=3), {
        "num_features": lambda v: _is_int(v, 1), "momentum": lambda v: _is_float(v, 0, 1),
        "eps": lambda v: _is_float(v, 0, lo_open=True), "dtype": lambda v: False}),
    "LocalResponseNorm": (dict(size=3), {
        "size": lambda v: _is_int(v, 1), "alpha": lambda v: _is_float(v, 0), "beta": lambda v: _is_float(v, 0),
        "k": lambda v: _is_float(v, 0, lo_open=True)}),
}
CONSTRUCTORS["MaxPool2D"][1]["padding"] = lambda v: (isinstance(v, str) and v == "same") or (
    _is_pair(v, 0) and max(v if isinstance(v, (tuple, list)) else (v,)) <= 2)
CONSTRUCTORS["MaxPool2D"][1]["ceil_mode"] = _is_bool
CONSTRUCTORS["AvgPool2D"] = (CONSTRUCTORS["MaxPool2D"][0], dict(CONSTRUCTORS["MaxPool2D"][1], count_include_pad=_is_bool))
CONSTRUCTORS["Conv1D"] = (dict(in_channels=2, out_channels=4, kernel_size=3), {
    "in_channels": lambda v: _is_int(v, 1), "out_channels": lambda v: _is_int(v, 1),
    "groups": CONSTRUCTORS["Conv2D"][1]["groups"],
    "kernel_size": lambda v: _is_int(v, 1), "stride": lambda v: _is_int(v, 1),
    "padding": lambda v: _is_int(v, 0) or (isinstance(v, str) and v in ("same", "valid")),
    "dilation": lambda v: _is_int(v, 1), "bias": _is_bool, "dtype": lambda v: False, "init": lambda v: False})
CONSTRUCTORS["MaxPool1D"] = (dict(kernel_size=4), {
    "kernel_size": lambda v: _is_int(v, 1), "stride": lambda v: v is None or _is_int(v, 1),
    "padding": lambda v: (isinstance(v, str) and v == "same") or (_is_int(v, 0) and v <= 2),
    "ceil_mode": _is_bool})
CONSTRUCTORS["AdaptiveAvgPool2D"] = (dict(output_size=3), {
    "output_size": lambda v: v is None or _is_int(v, 1) or (
        isinstance(v, (tuple, list)) and len(v) == 2 and all(u is None or _is_int(u, 1) for u in v))})
CONSTRUCTORS["AvgPool1D"] = (CONSTRUCTORS["MaxPool1D"][0], dict(CONSTRUCTORS["MaxPool1D"][1], count_include_pad=_is_bool))
CONSTRUCTORS["Residual"] = (dict(block=[L.ReLU()]), {"block": lambda v: False, "shortcut": lambda v: v is None})
CONSTRUCTORS["Concat"] = (dict(branches=[[L.ReLU()]]), {"branches": lambda v: False})
CONSTRUCTORS["SqueezeExcitation"] = (dict(input_channels=4, squeeze_channels=2), {
    "input_channels": lambda v: _is_int(v, 1), "squeeze_channels": lambda v: _is_int(v, 1),
    "dtype": lambda v: False})
CONSTRUCTORS["SqueezeExcitation"][1].update(
    activation=lambda v: False, scale_activation=lambda v: False, batch_norm=_is_bool,
    eps=lambda v: _is_float(v, 0, lo_open=True), momentum=lambda v: _is_float(v, 0, 1))
CONSTRUCTORS["LogSoftmax"] = CONSTRUCTORS["Softmax"]


def _is_per_channel(v, nonzero=False):
    """Normalize's mean or std: a number, or a non-empty list, tuple or 1-D array of numbers."""
    values = list(v) if isinstance(v, (tuple, list)) or (isinstance(v, np.ndarray) and v.ndim == 1) else [v]
    return (len(values) > 0 and (not isinstance(v, np.ndarray) or v.ndim <= 1)
            and all(_is_float(u) and (not nonzero or u != 0) for u in values))


CONSTRUCTORS["Normalize"] = (dict(mean=0.0, std=1.0), {
    "mean": _is_per_channel, "std": lambda v: _is_per_channel(v, nonzero=True)})
CONSTRUCTORS["ChannelShuffle"] = (dict(groups=2), {"groups": lambda v: _is_int(v, 1)})
CONSTRUCTORS["ChannelSlice"] = (dict(start=0, stop=2), {
    "start": lambda v: _is_int(v, 0) and v < 2, "stop": lambda v: _is_int(v, 1)})
CONSTRUCTOR_ARGS = [(name, arg) for name, (_, args) in sorted(CONSTRUCTORS.items()) for arg in args]


def check_constructor(make, arg, value, valid):
    """``make(value)`` must succeed when ``valid`` says so, else raise naming ``arg``."""
    obj, err = call_cleanly(make, value, names=(arg,))
    if valid:
        assert err is None, f"{arg}={value!r} is valid but was refused: {err}"
    else:
        assert err is not None, f"{arg}={value!r} was accepted"
    return obj


@pytest.mark.parametrize("name, arg", CONSTRUCTOR_ARGS)
@share(0.5)
@given(value=layer_argument_values())
def test_layer_constructor_wrong_values(name, arg, value):
    base, args = CONSTRUCTORS[name]
    layer = check_constructor(lambda v: L.REGISTRY[name](**{**base, arg: v}), arg, value, args[arg](value))
    if layer is not None:       # accepted: the layer rebuilds from its config, and works
        rebuilt = type(layer).from_config(layer.config())
        assert rebuilt.config() == layer.config()


@pytest.mark.parametrize("name", ["Conv2D", "Dense"])
@given(init_fn=st.sampled_from([
    lambda shape, fan_in, fan_out, rng, dtype: np.zeros(3, dtype),             # wrong shape
    lambda shape, fan_in, fan_out, rng, dtype: np.full(shape, "a", object),     # not numbers
    lambda shape, fan_in, fan_out, rng, dtype: 0.5,                             # a scalar
    lambda: None,                                                                # wrong signature
    lambda shape, fan_in, fan_out, rng, dtype: np.ones(shape, np.int64),        # ints: fine, cast
]))
def test_layer_with_a_callable_init(name, init_fn):
    base = CONSTRUCTORS[name][0]
    layer, err = call_cleanly(L.REGISTRY[name], **base, init=init_fn, names=("init",))
    if layer is not None:
        w = layer.params["W"]
        assert w.data.dtype == np.float32 and np.all(w.data == 1)


# ---------------------------------------------------------------------------
# Layers: forward with any array
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", LAYER_NAMES)
@share(0.5)
@given(data=st.data())
def test_layer_forward_any_array(name, data):
    make, good_shape = data.draw(layer_cases(name))
    shape = data.draw(st.one_of(st.just(good_shape), shapes(max_dims=5, max_side=4),
                                st.just(good_shape[:1] + (0,) + good_shape[2:]),
                                st.just((0,) + good_shape[1:])))
    x = data.draw(any_arrays(shape))
    training = data.draw(st.booleans())
    layer = make()
    before = x.copy()
    out, err = call_cleanly(layer.forward, x, training=training, names=("x", "input"))
    assert_same(x, before)                                  # the input is left alone
    if err is None:
        assert x.dtype.kind == "f", f"forward accepted dtype {x.dtype}"
        assert isinstance(out, np.ndarray) and out.dtype == x.dtype
        assert out.shape == out_shape(layer, x.shape)
        if np.all(np.isfinite(x)) and name != "BatchNorm":   # BatchNorm: a constant channel may be NaN-free
            assert np.all(np.isfinite(out)) or np.abs(x).max() > 1e3  # only huge inputs overflow
    else:
        # a failed forward leaves nothing for backward to use
        with pytest.raises(RuntimeError, match="forward"):
            layer.backward(np.zeros((1,), np.float32))


# ---------------------------------------------------------------------------
# Layers: forward values against slow, obviously right references (float64)
# ---------------------------------------------------------------------------
def _taps(x_pad, kh, kw, sh, sw, dh, dw, oh, ow):
    """x_pad[..., i*dh + sh*y, j*dw + sw*x] for every tap (i, j): list of (i, j, patch)."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, x_pad[..., i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]


def _reference_chain(layers, x, training):
    for inner in layers:
        x = reference_forward(inner, x, training)
    return x


def reference_forward(layer, x, training):
    name = type(layer).__name__
    x = x.astype(np.float64)
    if name in ("Conv2D", "Conv1D"):
        one_d = name == "Conv1D"
        x2 = x[:, :, None, :] if one_d else x
        w = layer.params["W"].data.astype(np.float64)
        w = w[:, :, None, :] if one_d else w
        pads = layer.pads_for(x.shape[2]) if one_d else layer.pads_for(x.shape[2:])
        kernel, stride, dilation = ((1, layer.kernel_size), (1, layer.stride), (1, layer.dilation)) if one_d \
            else (layer.kernel_size, layer.stride, layer.dilation)
        xp = np.pad(x2, ((0, 0), (0, 0), *pads))
        oh, ow = F.window_output_shape(x2.shape[2:], kernel, stride, pads, dilation)
        g = layer.groups             # output channel o sees the input channels of its group only
        ci, co = x.shape[1] // g, len(w) // g
        out = np.concatenate([sum(np.einsum("nchw,oc->nohw", p[:, k * ci:(k + 1) * ci], w[k * co:(k + 1) * co, :, i, j])
                                  for i, j, p in _taps(xp, *kernel, *stride, *dilation, oh, ow))
                              for k in range(g)], axis=1)
        if layer.bias:
            out = out + layer.params["b"].data.astype(np.float64)[:, None, None]
        return out[:, :, 0, :] if one_d else out
    if name in ("MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D"):
        one_d = name.endswith("1D")
        x2 = x[:, :, None, :] if one_d else x
        kernel, stride, pads = layer._geometry(x.shape[2]) if one_d else \
            (layer.kernel_size, layer.stride, layer.pads_for(x.shape[2:]))
        # the output size by PyTorch's formulas, written out here; in ceil mode the last
        # windows may hang over the padded input by ``over`` rows/columns
        grid, over = [], []
        for size, k, s, (before, after) in zip(x2.shape[2:], kernel, stride, pads):
            room = size + before + after - k
            o = (-(-room // s) if layer.ceil_mode else room // s) + 1
            if layer.ceil_mode and (o - 1) * s >= size + before:
                o -= 1
            grid.append(o)
            over.append((0, max(0, (o - 1) * s + k - (size + before + after))))
        oh, ow = grid
        fill = -np.inf if name.startswith("Max") else 0.0
        xp = np.pad(np.pad(x2, ((0, 0), (0, 0), *pads), constant_values=fill), ((0, 0), (0, 0), *over),
                    constant_values=fill)
        if name.startswith("Avg") and layer.count_include_pad:      # the padding counts, the overhang not
            counted = np.pad(np.ones(xp.shape[:2] + tuple(n - a for n, (_, a) in zip(xp.shape[2:], over))),
                             ((0, 0), (0, 0), *over))
        else:
            counted = np.pad(np.ones_like(x2), ((0, 0), (0, 0), *[(b, a + e) for (b, a), (_, e) in zip(pads, over)]))
        patches = np.stack([p for _, _, p in _taps(xp, *kernel, *stride, 1, 1, oh, ow)])
        if name.startswith("Max"):
            out = patches.max(axis=0)
        else:
            out = patches.sum(axis=0) / np.stack([p for _, _, p in _taps(counted, *kernel, *stride, 1, 1, oh, ow)]).sum(0)
        return out[:, :, 0, :] if one_d else out
    if name == "GlobalAvgPool2D":
        return x.mean(axis=(2, 3))
    if name == "GlobalAvgPool1D":
        return x.mean(axis=2)
    if name == "AdaptiveAvgPool2D":           # one bin at a time: [floor(i*H/OH), ceil((i+1)*H/OH))
        (h, w), (oh, ow) = x.shape[2:], layer.output_shape(x.shape[1:])[1:]
        out = np.empty(x.shape[:2] + (oh, ow))
        for i in range(oh):
            for j in range(ow):
                rows = slice(math.floor(i * h / oh), math.ceil((i + 1) * h / oh))
                cols = slice(math.floor(j * w / ow), math.ceil((j + 1) * w / ow))
                out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
        return out
    if name == "LocalResponseNorm":     # PyTorch's formula, channel by channel
        out, c, n = np.empty_like(x), x.shape[1], layer.size
        for ch in range(c):
            s = (x[:, max(0, ch - n // 2):ch + (n - 1) // 2 + 1] ** 2).sum(axis=1)
            out[:, ch] = x[:, ch] * (layer.k + layer.alpha / n * s) ** -layer.beta
        return out
    if name == "Residual":
        h = x
        for inner in layer.block.layers:
            h = reference_forward(inner, h, training)
        skip = x
        for inner in (layer.shortcut.layers if layer.shortcut is not None else []):
            skip = reference_forward(inner, skip, training)
        return h + skip
    if name == "Concat":
        return np.concatenate([_reference_chain(branch.layers, x, training) for _, branch in layer.branches()], 1)
    if name == "SqueezeExcitation":      # mean, Dense, [BatchNorm], act, Dense, scale_act: the gate's layers
        g = x.mean(axis=(2, 3))
        for inner in layer.gate.layers[1:]:
            g = reference_forward(inner, g, training)
        return x * g[:, :, None, None]
    if name == "SiLU":
        return x / (1 + np.exp(-x))
    if name == "Hardsigmoid":
        return np.clip(x / 6 + 0.5, 0.0, 1.0)
    if name == "Hardswish":
        return x * np.clip(x / 6 + 0.5, 0.0, 1.0)
    if name == "LogSoftmax":
        shifted = x - x.max(axis=layer.axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=layer.axis, keepdims=True))
    if name == "Normalize":           # channel by channel
        mean, std = np.broadcast_arrays(np.array(layer.mean), np.array(layer.std))
        out = np.empty_like(x)
        for c in range(x.shape[1]):
            out[:, c] = (x[:, c] - mean[c % len(mean)]) / std[c % len(std)]
        return out
    if name == "ChannelShuffle":      # output channel i * groups + g is input channel g * k + i
        g, k = layer.groups, x.shape[1] // layer.groups
        return x[:, [g_ * k + i for i in range(k) for g_ in range(g)]]
    if name == "ChannelSlice":
        return x[:, layer.start:layer.stop]
    if name == "Dense":
        out = x @ layer.params["W"].data.astype(np.float64)
        return out + layer.params["b"].data.astype(np.float64) if layer.bias else out
    if name in ("Flatten", "Reshape"):
        return x.reshape(x.shape[0], *layer.output_shape(x.shape[1:]))
    if name == "ReLU":
        return np.where(x > 0, x, 0.0)
    if name == "ReLU6":
        return np.clip(x, 0.0, 6.0)
    if name == "LeakyReLU":
        return np.where(x > 0, x, layer.negative_slope * x)
    if name == "Sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "Tanh":
        return np.tanh(x)
    if name == "Softmax":
        e = np.exp(x - x.max(axis=layer.axis, keepdims=True))
        return e / e.sum(axis=layer.axis, keepdims=True)
    if name == "Dropout":
        return x                  # training mode is checked separately
    if name == "BatchNorm":
        axes = tuple(a for a in range(x.ndim) if a != 1)
        shape = [1] * x.ndim
        shape[1] = -1
        if training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
        else:
            mean, var = layer.running_mean.astype(np.float64), layer.running_var.astype(np.float64)
        g, b = (layer.params[k].data.astype(np.float64).reshape(shape) for k in ("gamma", "beta"))
        return g * (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + layer.eps) + b
    raise AssertionError(name)


@pytest.mark.parametrize("name", LAYER_NAMES)
@share(0.4)
@given(data=st.data())
def test_layer_forward_is_correct(name, data):
    make, shape = data.draw(layer_cases(name))
    x = data.draw(finite_arrays(shape, np.float64, bound=5.0))
    training = data.draw(st.booleans())
    layer = make()
    for p in layer.params.values():         # float64 weights, so the comparison can be tight
        p.data = p.data.astype(np.float64)
        p.grad = np.zeros_like(p.data)
    out = layer.forward(x, training=training)
    if name == "Dropout" and training:
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] / (1 - layer.p), rtol=1e-12)
        return
    np.testing.assert_allclose(out, reference_forward(layer, x, training), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(set(LAYER_NAMES) - {"Dropout"}))
@share(0.25)
@given(data=st.data())
def test_layer_backward_matches_finite_differences(name, data):
    """Arbitrary geometry (stride, dilation, padding, odd sizes): the hand-written
    backward agrees with central differences (inputs spaced apart: no ties, no kinks)."""
    make, shape = data.draw(layer_cases(name))
    size = math.prod(shape)
    assume(size <= 150)
    order = data.draw(st.permutations(range(size)))
    x = ((np.array(order, dtype=np.float64) - size / 2 + 0.3) * 0.1).reshape(shape)
    layer = make()
    for p in layer.params.values():
        p.data = p.data.astype(np.float64)
        p.grad = np.zeros_like(p.data)
    errors = gradcheck.check_layer(layer, x)
    assert max(errors.values()) < 1e-5, errors


# ---------------------------------------------------------------------------
# Layers: backward with any grad_out, and without forward
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", LAYER_NAMES)
@share(0.4)
@given(data=st.data())
def test_layer_backward_any_grad(name, data):
    make, shape = data.draw(layer_cases(name))
    x = data.draw(finite_arrays(shape, data.draw(FLOATS)))
    layer = make()
    out = layer.forward(x, training=True)
    g_shape = data.draw(st.one_of(st.just(out.shape), shapes(max_dims=5, max_side=4)))
    grad = data.draw(any_arrays(g_shape))
    before = grad.copy()
    dx, err = call_cleanly(layer.backward, grad, names=("grad_out",))
    assert_same(grad, before)
    if err is None:
        assert grad.dtype.kind == "f" and grad.shape == out.shape
        # dx comes in a float dtype (that of x, or of grad_out when the two differ)
        assert isinstance(dx, np.ndarray) and dx.shape == x.shape and dx.dtype.kind == "f"
        for p in layer.params.values():
            assert p.grad.dtype == p.data.dtype and p.grad.shape == p.data.shape


@pytest.mark.parametrize("name", LAYER_NAMES)
@share(0.2)
@given(data=st.data())
def test_layer_backward_without_forward(name, data):
    make, shape = data.draw(layer_cases(name))
    grad = data.draw(any_arrays())
    layer = make()
    for step in ("fresh", "eval"):
        if step == "eval":
            layer.forward(np.zeros(shape, np.float32), training=False)
        with pytest.raises(RuntimeError) as info:
            layer.backward(grad)
        check_message(info.value, ("forward",))


# ---------------------------------------------------------------------------
# Layers: output_shape agrees with forward, for any shape
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", LAYER_NAMES)
@share(0.4)
@given(data=st.data())
def test_layer_output_shape_any_shape(name, data):
    make, shape = data.draw(layer_cases(name))
    layer = make()
    sample = data.draw(st.one_of(
        st.just(shape[1:]), st.lists(st.integers(0, 6), max_size=4).map(tuple),
        st.lists(st.integers(-2, 6), max_size=4).map(tuple),
        st.sampled_from([None, "abc", 3, (1.5, 2), (True, 2), [2, None]])))
    result, err = call_cleanly(layer.output_shape, sample, names=("input_shape", "input", "x"))
    if not (isinstance(sample, tuple) and all(_is_int(s, 0) for s in sample)):
        assert err is not None, f"output_shape accepted {sample!r}"
        return
    x = np.zeros((2, *sample), np.float32)
    out, ferr = call_cleanly(make().forward, x, names=("x", "input"))
    if err is None and ferr is None:
        assert out.shape == (2, *result) and all(_is_int(s, 0) for s in result)
    else:
        # output_shape refuses exactly what forward refuses (a scalar sample aside, which
        # element-wise layers take)
        assert (err is None) == (ferr is None) or (len(sample) == 0 and ferr is not None)


# ---------------------------------------------------------------------------
# Layers: an empty axis, or a window, padding or output size far larger than the input
# ---------------------------------------------------------------------------
@contextlib.contextmanager
def allocation_capped(limit=256 << 20, traced=16 << 20):
    """Inside, the process may grow by at most ``limit`` bytes (Linux's RLIMIT_AS: an allocation
    proportional to a huge request is a MemoryError at once, not minutes of swapping), and
    what Python and NumPy allocate peaks below ``traced`` bytes (tracemalloc)."""
    capped = resource is not None and os.path.exists("/proc/self/statm")
    if capped:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (size + limit if hard == resource.RLIM_INFINITY
                                                else min(size + limit, hard), hard))
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        if capped:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert peak < traced, f"{peak:,} bytes allocated for an input of a few hundred values"


#: Far larger than any input here (sides <= 6): more than 64 times every side.
HUGE = st.one_of(st.integers(400, 10**12), st.sampled_from([10**6, 10**9, 2**40]))


@st.composite
def far_larger_cases(draw, name):
    """``(make, x_shape, names)``: a layer of type ``name`` whose window, padding or output size
    is far larger than x (a convolution's kernel only up to 2,000: its weights are allocated
    by the constructor, as the user asked), and the arguments its error may name."""
    n, c, sides = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.lists(st.integers(1, 6), min_size=2,
                                                                                      max_size=2))
    huge = draw(HUGE)
    one_d = name.endswith("1D")
    shape = (n, c, sides[0]) if one_d else (n, c, *sides)
    if name in ("Conv2D", "Conv1D"):
        which = draw(st.sampled_from(["kernel_size", "padding", "dilation"]))
        kwargs = dict(in_channels=c, out_channels=1, kernel_size=draw(st.integers(1, 3)))
        if which == "kernel_size":
            kwargs.update(kernel_size=draw(st.integers(400, 2000)), padding=draw(st.sampled_from(["same", 0, 1000])))
        elif which == "padding":
            kwargs.update(padding=huge)
        else:
            kwargs.update(kernel_size=3, dilation=huge, padding=draw(st.sampled_from(["same", 0, huge])))
        names = ("kernel_size", "padding")
    elif name in ("MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D"):
        kwargs = dict(kernel_size=huge, stride=draw(st.sampled_from([None, 1, 2, huge])),
                      padding=draw(st.sampled_from([0, "same", huge // 2])), ceil_mode=draw(st.booleans()))
        if not one_d and draw(st.booleans()):
            kwargs.update(kernel_size=(huge, 2), padding=(0, 0) if kwargs["padding"] != "same" else "same")
        names = ("kernel_size", "padding")
    elif name == "AdaptiveAvgPool2D":
        kwargs = dict(output_size=draw(st.sampled_from([huge, (huge, None), (None, huge), (1, huge)])))
        names = ("output_size",)
    elif name == "LocalResponseNorm":
        kwargs = dict(size=huge)
        names = ("size",)
    elif name in ("Residual", "Concat"):                 # the layer inside refuses, and names itself
        inner = draw(st.sampled_from([lambda: L.MaxPool2D(huge, ceil_mode=True),
                                      lambda: L.AdaptiveAvgPool2D(huge)]))
        return ((lambda: L.Residual([inner()])) if name == "Residual" else
                (lambda: L.Concat([[inner()], [L.ReLU()]]))), shape, ("kernel_size", "output_size")
    else:
        raise AssertionError(f"{name}: say how it can be far larger than its input, or add it to NO_WINDOW")
    return (lambda: L.REGISTRY[name](**kwargs)), shape, names


#: The layer types without a window, padding or output size of their own.
NO_WINDOW = {"Dense", "Flatten", "Reshape", "ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Dropout",
             "BatchNorm", "GlobalAvgPool1D", "GlobalAvgPool2D", "SqueezeExcitation", "SiLU", "Hardswish",
             "Hardsigmoid", "LogSoftmax", "Normalize", "ChannelShuffle", "ChannelSlice"}


@pytest.mark.parametrize("name", LAYER_NAMES)
@share(0.15)
@given(data=st.data())
def test_layer_refuses_an_empty_axis_or_a_far_larger_window_before_allocating(name, data):
    """Every layer type of the registry: a sample with an empty axis, or a window, padding or
    output size far larger than the input, is a ValueError naming the argument, raised before
    anything of the requested size is allocated (a 4x4 input once asked for 3.6 TiB); an
    empty batch gives an empty output (or a ValueError where the maths needs samples)."""
    make, shape = data.draw(layer_cases(name))
    training = data.draw(st.booleans())
    if len(shape) > 1:
        empty = list(shape)
        empty[data.draw(st.integers(1, len(shape) - 1))] = 0
        layer = make()
        with allocation_capped():
            out, err = call_cleanly(layer.forward, np.zeros(empty, np.float32), training=training, names=("x",))
        assert isinstance(err, ValueError), (empty, out)
        _, err = call_cleanly(layer.output_shape, tuple(empty[1:]), names=("input_shape",))
        assert isinstance(err, ValueError)
    layer = make()
    with allocation_capped():
        out, err = call_cleanly(layer.forward, np.zeros((0, *shape[1:]), np.float32), training=training,
                                names=("x", "input", "batch"))
    assert err is None and out.shape == (0, *layer.output_shape(shape[1:])) or isinstance(err, ValueError)
    if name in NO_WINDOW:
        return
    make, shape, names = data.draw(far_larger_cases(name))
    layer = make()                                            # the constructor knows no input yet
    with allocation_capped():
        out, err = call_cleanly(layer.forward, np.ones(shape, np.float32), training=training, names=names)
    assert isinstance(err, ValueError) and "far larger" in str(err), (shape, layer, out)
    _, err = call_cleanly(layer.output_shape, shape[1:], names=names)
    assert isinstance(err, ValueError)


# ---------------------------------------------------------------------------
# Layers: memory layout and read-only inputs
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ALL_LAYOUTS)
@pytest.mark.parametrize("name", LAYER_NAMES)
@share(0.15)
@given(data=st.data())
def test_layer_layout_invariance(name, layout, data):
    """Forward and backward of a view equal those of its contiguous copy bit for bit,
    parameter gradients and running statistics included; inputs are never written."""
    make, shape = data.draw(layer_cases(name))
    dtype = data.draw(FLOATS)
    x = data.draw(float_arrays(shape, dtype, special=False))    # NaN/inf: see forward_any_array
    training = data.draw(st.booleans())
    x_view, x_copy = view_and_copy(x, layout)
    before = np.array(x_view)
    results = []
    for xi in (x_view, x_copy):
        layer = make()
        out = layer.forward(xi, training=training)
        results.append([out.copy()])
        if training:
            if xi is x_view:                                # one gradient, given to both layouts
                g = data.draw(float_arrays(out.shape, dtype, special=False))
            g_view, g_copy = view_and_copy(g, layout)
            dx = layer.backward(g_view if xi is x_view else g_copy)
            results[-1] += [dx, {k: p.grad for k, p in layer.params.items()}]
        results[-1].append({k: np.asarray(v) for k, v in layer.buffers().items()})
    assert_same(results[0], results[1])
    assert_same(np.array(x_view), before)


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------
@st.composite
def loss_inputs(draw):
    n, c = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    logits_shape = draw(st.one_of(st.just((n, c)), shapes(max_dims=3, max_side=4)))
    logits = draw(any_arrays(logits_shape))
    kind = draw(st.sampled_from(["labels", "probs", "any"]))
    if kind == "labels":
        target = draw(st.lists(st.integers(-2, c + 1), min_size=n, max_size=n)).copy()
        target = np.array(target, dtype=draw(st.sampled_from([np.int64, np.uint8, np.int8, np.float64, np.bool_]))
                          ) if all(t >= 0 for t in target) else np.array(target, dtype=np.int64)
    elif kind == "probs":
        target = draw(any_arrays((n, c), dtypes=FLOAT_DTYPES + (np.int64, np.bool_)))
    else:
        target = draw(st.one_of(any_arrays(), st.sampled_from(WRONG_VALUES)))
    return logits, target


def reference_cross_entropy(z, t):
    z = z.astype(np.float64)
    logp = z - z.max(axis=1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
    if t.ndim == 1:
        return -logp[np.arange(len(z)), t].mean()
    return -(t.astype(np.float64) * logp).sum(axis=1).mean()


@given(inputs=loss_inputs())
def test_cross_entropy_any_input(inputs):
    logits, target = inputs
    before = (logits.copy(), copy.copy(target))
    ce = losses.CrossEntropy()
    value, err = call_cleanly(ce.forward, logits, target, names=("logits", "target"))
    assert_same(logits, before[0])
    if err is not None:
        with pytest.raises(RuntimeError):
            ce.backward()
        return
    assert logits.dtype.kind == "f" and logits.ndim == 2 and np.all(np.isfinite(logits))
    assert isinstance(value, float)
    assert value == pytest.approx(reference_cross_entropy(logits, target), rel=1e-3, abs=1e-3)
    grad = ce.backward()
    assert grad.shape == logits.shape and grad.dtype == logits.dtype


@given(data=st.data())
def test_mse_any_input(data):
    pred = data.draw(any_arrays(data.draw(shapes(max_dims=3, max_side=4))))
    target = data.draw(st.one_of(any_arrays(pred.shape), any_arrays(), st.sampled_from(WRONG_VALUES)))
    mse = losses.MSE()
    value, err = call_cleanly(mse.forward, pred, target, names=("pred", "target"))
    if err is not None:
        return
    assert pred.dtype.kind == "f" and target.shape == pred.shape
    with np.errstate(all="ignore"):
        diff = pred.astype(np.float64) - np.asarray(target).astype(np.float64)
        expected = float(np.mean(diff * diff))
    if math.isfinite(expected) and expected < 1e30:
        assert value == pytest.approx(expected, rel=1e-2, abs=1e-3)
    elif math.isnan(expected):
        assert math.isnan(value)
    grad = mse.backward()
    assert grad.shape == pred.shape and grad.dtype == pred.dtype


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
@share(0.3)
@given(data=st.data())
def test_losses_layout_invariance(layout, data):
    n, c = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    dtype = data.draw(FLOATS)
    z = data.draw(finite_arrays((n, c), dtype, bound=50))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    probs = data.draw(finite_arrays((n, c), np.float64, bound=1).map(np.abs))
    results = []
    for pick in (0, 1):
        out = []
        for loss, pred, target in ((losses.CrossEntropy(), z, labels), (losses.CrossEntropy(), z, probs),
                                   (losses.MSE(), z, probs)):
            pv, tv = view_and_copy(pred, layout)[pick], view_and_copy(target, layout)[pick]
            out += [loss.forward(pv, tv), loss.backward().copy()]
        results.append(out)
    assert_same(results[0], results[1])


# ---------------------------------------------------------------------------
# Optimisers and schedules
# ---------------------------------------------------------------------------
def _params(dtypes=(np.float32,)):
    rng = np.random.default_rng(0)
    out = []
    for i, dt in enumerate(dtypes):
        p = mc.Parameter(rng.standard_normal((2, 3)).astype(dt))
        p.grad[...] = rng.standard_normal((2, 3))
        out.append(p)
    return out


OPTIMIZERS = {
    "SGD": (optim.SGD, dict(lr=0.1), {
        "params": lambda v: False, "lr": lambda v: _is_float(v, 0),
        "momentum": lambda v: _is_float(v, 0), "nesterov": lambda v: isinstance(v, (bool, np.bool_)) and not v,
        "weight_decay": lambda v: _is_float(v, 0)}),
    "Adam": (optim.Adam, dict(), {
        "params": lambda v: False, "lr": lambda v: _is_float(v, 0),
        "betas": lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and all(_is_float(b, 0, 1, hi_open=True) for b in v),
        "eps": lambda v: _is_float(v, 0), "weight_decay": lambda v: _is_float(v, 0)}),
}


@pytest.mark.parametrize("name, arg", [(n, a) for n, (_, _, args) in OPTIMIZERS.items() for a in args])
@share(0.5)
@given(value=st.one_of(wrong_values(), st.sampled_from([[np.zeros(3)], [None], (), "abc"])))
def test_optimizer_constructor_wrong_values(name, arg, value):
    cls, base, args = OPTIMIZERS[name]
    kwargs = {"params": _params(), **base}
    opt = check_constructor(lambda v: cls(**{**kwargs, arg: v}), arg, value, args[arg](value))
    if opt is not None:
        opt.step()
        assert all(np.all(np.isfinite(p.data)) for p in opt.params)


@pytest.mark.parametrize("name, arg", [(n, a) for n, (_, _, args) in OPTIMIZERS.items() for a in args if a != "params"])
@share(0.3)
@given(value=wrong_values())
def test_optimizer_parameter_group_wrong_values(name, arg, value):
    """A hyper-parameter given in a parameter group is checked as the constructor's, and
    a refusal names the group's entry (params[1]['lr'])."""
    cls, base, args = OPTIMIZERS[name]
    params = _params((np.float32, np.float32))
    make = lambda v: cls([{"params": params[:1]}, {"params": params[1:], arg: v}], **base)
    opt, err = call_cleanly(make, value, names=(f"params[1][{arg!r}]",))
    assert (err is None) == bool(args[arg](value)), f"{arg}={value!r}: {err}"
    if opt is not None:
        opt.step()
        assert all(np.all(np.isfinite(p.data)) for p in opt.params)


@given(groups=st.one_of(wrong_values(), st.lists(st.one_of(wrong_values(), st.fixed_dictionaries(
    {}, optional={"params": st.one_of(wrong_values(), st.just("P")), "lr": st.just(0.1), "x": st.just(1)})),
    min_size=1, max_size=3)))
def test_optimizer_parameter_groups_any(groups):
    """Any list of would-be groups: accepted only when each is a dict with a 'params' entry of
    Parameters and known keys, no parameter in two groups; else a clean error naming params."""
    p = _params()[0]
    if isinstance(groups, list):
        groups = [{**g, "params": [p] if g["params"] == "P" else g["params"]}
                  if isinstance(g, dict) and isinstance(g.get("params"), str) else g for g in groups]
    opt, err = call_cleanly(optim.SGD, groups, lr=0.1, names=("params",))
    if err is None:
        assert sum(len(g["params"]) for g in opt.param_groups) == len(opt.params) >= 1


def test_optimizer_refuses_a_parameter_listed_twice():
    p = _params()[0]
    for cls in (optim.SGD, optim.Adam):
        with pytest.raises(ValueError, match="params"):
            cls([p, p], lr=0.1)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@share(0.5)
@given(data=st.data())
def test_optimizer_step_is_finite_and_correct(name, data):
    """Finite weights and gradients of any float dtype (zeros included) stay finite,
    keep their dtype, and follow the update rule (float64 reference)."""
    cls = OPTIMIZERS[name][0]
    dtypes = data.draw(st.lists(FLOATS, min_size=1, max_size=3))
    params = []
    for dt in dtypes:
        p = mc.Parameter(data.draw(finite_arrays((2, 2), dt, bound=3)))
        p.grad[...] = data.draw(finite_arrays((2, 2), dt, bound=3).map(
            lambda g: g * (np.abs(g) > 0.5)))         # exact zeros: a dead unit
        params.append(p)
    kwargs = dict(lr=data.draw(st.sampled_from([0.0, 1e-3, 0.1])),
                  weight_decay=data.draw(st.sampled_from([0.0, 1e-2])))
    if name == "SGD":
        kwargs["momentum"] = data.draw(st.sampled_from([0.0, 0.9]))
        kwargs["nesterov"] = kwargs["momentum"] > 0 and data.draw(st.booleans())
    opt = cls(params, **kwargs)
    start = [p.data.astype(np.float64) for p in params]
    grads = [p.grad.astype(np.float64) for p in params]
    opt.step()
    for p, d, g, dt in zip(params, start, grads, dtypes):
        assert p.data.dtype == dt and np.all(np.isfinite(p.data))
        g = g + kwargs["weight_decay"] * d
        if name == "SGD":
            step = g + kwargs["momentum"] * g if kwargs["nesterov"] else g
            expected = d - kwargs["lr"] * step
        else:           # first Adam step: lr * g / (|g| + eps), bias correction cancels
            expected = d - kwargs["lr"] * g / (np.abs(g) + 1e-8)
        tol = {np.float16: 1e-2, np.float32: 1e-5, np.float64: 1e-9}[dt]
        np.testing.assert_allclose(p.data, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@given(data=st.data())
def test_optimizer_load_state_dict_bad_state(name, data):
    cls = OPTIMIZERS[name][0]
    opt = cls(_params(), lr=0.1)
    opt.step()
    good = opt.state_dict()
    state = dict(good)
    change = data.draw(st.sampled_from(["value", "drop", "add", "not a dict"]))
    if change == "value":
        key = data.draw(st.sampled_from(sorted(state)))
        state[key] = data.draw(st.one_of(wrong_values(), any_arrays(np.shape(good[key])), any_arrays()))
    elif change == "drop":
        del state[data.draw(st.sampled_from(sorted(state)))]
    elif change == "add":
        state[data.draw(st.sampled_from([1, "extra", None, ("a",)]))] = 0
    else:
        state = data.draw(wrong_values())
    _, err = call_cleanly(opt.load_state_dict, state, names=("state", *good))
    if err is not None:
        assert_same(opt.state_dict(), good)           # a refused state changes nothing
    else:
        new = opt.state_dict()
        assert new.keys() == good.keys()
        for k, v in good.items():
            assert type(new[k]) is type(v) and np.shape(new[k]) == np.shape(v)
            if isinstance(v, np.ndarray):
                assert new[k].dtype == v.dtype
        # huge (valid) hyper-parameters may make the update overflow: an honest RuntimeError
        call_cleanly(opt.step, names=("params",))


SCHEDULES = {
    "StepLR": (optim.StepLR, dict(step_size=2), {"step_size": lambda v: _is_int(v, 1), "gamma": lambda v: _is_float(v, 0, 1)}),
    "ExponentialLR": (optim.ExponentialLR, dict(gamma=0.5), {"gamma": lambda v: _is_float(v, 0, 1)}),
    "PolynomialDecay": (optim.PolynomialDecay, dict(total_steps=5), {
        "total_steps": lambda v: _is_int(v, 1),
        # a float, or one per parameter group (one group here)
        "end_lr": lambda v: _is_float(v, 0) or (isinstance(v, (list, tuple)) and len(v) == 1 and _is_float(v[0], 0)),
        "power": lambda v: _is_float(v, 0, lo_open=True)}),
    "InverseTimeDecay": (optim.InverseTimeDecay, dict(decay=0.1), {"decay": lambda v: _is_float(v, 0)}),
}


@pytest.mark.parametrize("name, arg", [(n, a) for n, (_, _, args) in SCHEDULES.items() for a in ["optimizer", *args]])
@share(0.3)
@given(value=st.one_of(wrong_values(), st.floats(1.0001, 1e6)))
def test_schedule_constructor_wrong_values(name, arg, value):
    cls, base, args = SCHEDULES[name]
    valid = False if arg == "optimizer" else args[arg](value)
    sched = check_constructor(lambda v: cls(**{"optimizer": optim.SGD(_params(), lr=0.1), **base, arg: v}),
                              arg, value, valid)
    if sched is not None:
        for _ in range(200):
            lr = sched.step()
            end = (value[0] if isinstance(value, (list, tuple)) else value) if arg == "end_lr" else 0.1
            top = max(0.1, end)                                  # end_lr may lie above the start
            assert isinstance(lr, float) and 0 <= lr <= top + 1e-12 and math.isfinite(lr)


# ---------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------
def small_model(dtype=np.float32):
    mc.manual_seed(0)
    return mc.Sequential([L.Conv2D(1, 2, 3, padding=1, dtype=dtype), L.BatchNorm(2, dtype=dtype), L.ReLU(),
                          L.MaxPool2D(2), L.Flatten(), L.Dense(2 * 2 * 2, 3, dtype=dtype)])


@given(layers=st.one_of(wrong_values(), st.lists(st.one_of(wrong_values(), st.just(L.ReLU())), min_size=1, max_size=3),
                        st.just(L.ReLU())))
def test_sequential_constructor_any(layers):
    model, err = call_cleanly(mc.Sequential, layers, names=("layers",))
    ok = isinstance(layers, (list, tuple)) and all(isinstance(v, L.Layer) for v in layers) and \
        len({id(v) for v in layers}) == len(layers)          # one layer object in one place only
    assert (err is None) == ok
    if ok:
        assert model.layers == list(layers)


@given(data=st.data())
def test_sequential_forward_backward_any(data):
    model = small_model()
    x = data.draw(st.one_of(any_arrays(), any_arrays((2, 1, 4, 4))))
    out, err = call_cleanly(model.forward, x, training=True, names=("x", "input"))
    if err is None:
        assert out.shape == (len(x), 3) and out.dtype == x.dtype
        g = data.draw(st.one_of(any_arrays(out.shape), any_arrays()))
        dx, gerr = call_cleanly(model.backward, g, names=("grad_out",))
        if gerr is None:
            assert dx.shape == x.shape and dx.dtype == x.dtype


@given(data=st.data())
def test_sequential_load_state_dict_any(data):
    model = small_model()
    good = model.state_dict()
    state = dict(good)
    change = data.draw(st.sampled_from(["value", "array", "drop", "add", "not a dict"]))
    key = data.draw(st.sampled_from(sorted(state)))
    if change == "value":
        state[key] = data.draw(wrong_values())
    elif change == "array":
        state[key] = data.draw(st.one_of(any_arrays(good[key].shape), any_arrays(),
                                         float_arrays(good[key].shape, np.float64)))
    elif change == "drop":
        del state[key]
    elif change == "add":
        state[data.draw(st.sampled_from([0, "9.W", None, (1, 2)]))] = np.zeros(1)
    else:
        state = data.draw(st.one_of(wrong_values(), st.just([("0.W", good["0.W"])])))
    _, err = call_cleanly(model.load_state_dict, state, names=("state", key))
    if err is not None:
        assert_same(model.state_dict(), good)        # refused: nothing changed
        return
    for k, v in model.state_dict().items():
        assert v.dtype == good[k].dtype and v.shape == good[k].shape
        np.testing.assert_array_equal(v, np.asarray(state[k]).astype(v.dtype))


@given(dtype=st.one_of(wrong_values(), st.sampled_from(ALL_DTYPES + ("float16", "f8", "int32", "complex64"))))
def test_sequential_astype_any(dtype):
    model = small_model()
    good = model.state_dict()
    result, err = call_cleanly(model.astype, dtype, names=("dtype",))
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = None
    valid = (dtype is not None and not isinstance(dtype, (np.generic, np.ndarray))
             and isinstance(dtype, (type, str)) and kind == "f")
    assert (err is None) == valid, (dtype, err)
    if err is None:
        assert result is model
        assert all(v.dtype == np.dtype(dtype) for v in model.state_dict().values())
        assert model.forward(np.zeros((2, 1, 4, 4), dtype)).dtype == np.dtype(dtype)
    else:
        assert_same(model.state_dict(), good)


@given(input_shape=st.one_of(wrong_values(), st.lists(st.integers(-1, 6), max_size=4).map(tuple),
                             st.lists(wrong_values(), min_size=1, max_size=3).map(tuple)))
def test_sequential_summary_any(input_shape):
    model = small_model()
    text, err = call_cleanly(model.summary, input_shape, names=("input_shape",))
    if err is None:
        assert "Total params" in text
        model.forward(np.zeros((2, *input_shape), np.float32))      # summary's shape works in forward


@given(index=st.one_of(wrong_values(), st.integers(-10, 10), st.slices(8)))
def test_sequential_getitem_any(index):
    model = small_model()
    n = len(model)
    try:
        item = model[index]
    except IndexError as exc:     # Python's sequence protocol: out of range is an IndexError
        assert _is_int(index, -math.inf) and not -n <= index < n
        check_message(exc, ("index",))
        return
    except (TypeError, ValueError) as exc:
        check_message(exc, ("index",))
        assert not (_is_int(index, -math.inf) or isinstance(index, slice))
        return
    if isinstance(index, slice):
        assert isinstance(item, mc.Sequential) and item.layers == model.layers[index]
    else:
        assert _is_int(index, -math.inf) and item is model.layers[int(index)]


# ---------------------------------------------------------------------------
# fit / predict / evaluate and the callbacks
# ---------------------------------------------------------------------------
def _data(n=4, dtype=np.float32):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 1, 4, 4)).astype(dtype), rng.integers(0, 3, n)


FIT_ARGS = {
    "x": lambda v: False, "y": lambda v: False, "loss": lambda v: False, "optimizer": lambda v: False,
    "epochs": lambda v: _is_int(v, 1), "batch_size": lambda v: _is_int(v, 1),
    "validation_data": lambda v: v is None, "shuffle": _is_bool, "callbacks": lambda v: isinstance(v, (list, tuple)) and len(v) == 0,
    "progress": _is_bool, "checkpoint": lambda v: v is None, "resume": lambda v: isinstance(v, (bool, np.bool_)) and not v,
}


@pytest.mark.parametrize("arg", sorted(FIT_ARGS))
@share(0.2)
@given(value=st.one_of(wrong_values(), any_arrays(), st.sampled_from([[], (), [None], [np.zeros(2)] * 2])))
def test_fit_argument_any(arg, value):
    model = small_model()
    x, y = _data()
    kwargs = dict(x=x, y=y, loss=losses.CrossEntropy(), optimizer=optim.SGD(model.parameters(), lr=0.01),
                  progress=False)
    kwargs[arg] = value
    names = (arg, "target", "input", "grad_out") if arg in ("x", "y") else (arg,)
    with tempfile.TemporaryDirectory() as tmp:      # checkpoint="3" writes a file named 3
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            hist, err = call_cleanly(model.fit, names=names, **kwargs)
        finally:
            os.chdir(cwd)
    valid = FIT_ARGS[arg](value)
    if valid:
        assert err is None, err
    if err is None:
        assert isinstance(hist, training.History) and hist.epochs >= 1


@pytest.mark.parametrize("fn", ["predict", "evaluate"])
@pytest.mark.parametrize("arg", ["x", "y", "loss", "batch_size"])
@share(0.3)
@given(value=st.one_of(wrong_values(), any_arrays()))
def test_predict_evaluate_argument_any(fn, arg, value):
    if fn == "predict" and arg in ("y", "loss"):
        return
    model = small_model()
    x, y = _data()
    kwargs = dict(x=x, y=y, loss=losses.CrossEntropy(), batch_size=3)
    if fn == "predict":
        del kwargs["y"], kwargs["loss"]
    kwargs[arg] = value
    names = (arg, "target", "input") if arg in ("x", "y") else (arg,)
    result, err = call_cleanly(getattr(model, fn), names=names, **kwargs)
    if arg == "batch_size":
        assert (err is None) == _is_int(value, 1)
    if err is None and fn == "predict":
        np.testing.assert_array_equal(result, model.forward(kwargs["x"]))


CALLBACKS = {
    "History": (training.History, {}, {"history": lambda v: v is None}),
    "LambdaCallback": (training.LambdaCallback, {}, {"on_epoch_end": lambda v: v is None or callable(v),
                                                     "on_batch_end": lambda v: v is None or callable(v)}),
    "ModelCheckpoint": (training.ModelCheckpoint, {"path": "model.npz"}, {
        "path": lambda v: isinstance(v, str) and v != "", "monitor": lambda v: isinstance(v, str) and v != "",
        "save_best_only": _is_bool, "mode": lambda v: False}),
    "EarlyStopping": (training.EarlyStopping, {}, {
        "monitor": lambda v: isinstance(v, str) and v != "", "patience": lambda v: _is_int(v, 0),
        "min_delta": lambda v: _is_float(v), "mode": lambda v: False, "restore_best_weights": _is_bool}),
    "LearningRateScheduler": (training.LearningRateScheduler, {}, {"schedule": lambda v: False}),
}


@pytest.mark.parametrize("name, arg", [(n, a) for n, (_, _, args) in CALLBACKS.items() for a in args])
@share(0.5)
@given(value=wrong_values())
def test_callback_constructor_wrong_values(name, arg, value):
    cls, base, args = CALLBACKS[name]
    valid = args[arg](value)
    cb = check_constructor(lambda v: cls(**{**base, arg: v}), arg, value, valid)
    assert (cb is None) != valid


# ---------------------------------------------------------------------------
# functional
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["sigmoid", "softmax", "log_softmax"])
@share(0.5)
@given(data=st.data())
def test_activation_functions_any(fn, data):
    x = data.draw(any_arrays(data.draw(shapes(max_dims=3, max_side=4))))
    kwargs = {} if fn == "sigmoid" else {"axis": data.draw(st.one_of(st.integers(-4, 3), wrong_values()))}
    before = x.copy()
    out, err = call_cleanly(getattr(F, fn), x, names=("x", "z", "axis"), **kwargs)
    assert_same(x, before)
    if err is None:
        assert x.dtype.kind == "f" and isinstance(out, np.ndarray)
        assert out.shape == x.shape and out.dtype == x.dtype
        finite = np.isfinite(x).all()
        if fn == "sigmoid":
            with np.errstate(all="ignore"):
                ref = 1 / (1 + np.exp(-x.astype(np.float64)))
            np.testing.assert_allclose(out.astype(np.float64), ref, rtol=1e-2, atol=1e-3)
        elif finite and x.size:
            axis = kwargs["axis"]
            z = x.astype(np.float64)
            z = z - z.max(axis=axis, keepdims=True)
            ref = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
            ref = np.exp(ref) if fn == "softmax" else ref
            np.testing.assert_allclose(out.astype(np.float64), ref, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
@pytest.mark.parametrize("fn", ["sigmoid", "softmax", "log_softmax"])
@share(0.2)
@given(data=st.data())
def test_activation_functions_layout_invariance(fn, layout, data):
    x = data.draw(float_arrays(data.draw(shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)), data.draw(FLOATS)))
    view, contiguous = view_and_copy(x, layout)
    assert_same(getattr(F, fn)(view), getattr(F, fn)(contiguous))


@pytest.mark.parametrize("fn, args", [
    (F.conv_output_size, dict(size=5, kernel=3, stride=1, total_padding=0, dilation=1)),
    (F.conv_output_size, dict(size=5, kernel=3, stride=1, padding=0, dilation=1)),     # the old name
    (F.same_padding, dict(kernel=3, dilation=1)),
])
@given(data=st.data())
def test_geometry_functions_wrong_values(fn, args, data):
    arg = data.draw(st.sampled_from(sorted(args)))
    value = data.draw(wrong_values())
    minimum = 0 if arg in ("padding", "total_padding", "size") else 1
    result, err = call_cleanly(fn, **{**args, arg: value}, names=(arg,))
    assert (err is None) == _is_int(value, minimum), (arg, value, err)


@st.composite
def conv_geometry(draw):
    make, shape = draw(layer_cases("Conv2D"))
    return make(), shape


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
@share(0.3)
@given(data=st.data())
def test_functional_conv_pool_layout_invariance(layout, data):
    """conv2d/max_pool2d/avg_pool2d forward and backward (pools in ceil mode too): views give the contiguous
    copy's result bit for bit, and the caller's arrays are never written."""
    conv, shape = data.draw(conv_geometry())
    dtype = data.draw(FLOATS)
    x = data.draw(float_arrays(shape, dtype, special=False))    # NaN/inf: see the layer tests
    w = conv.params["W"].data
    b = conv.params["b"].data if conv.bias else None
    results = []
    for pick in (0, 1):
        xv = view_and_copy(x, layout)[pick]
        wv = view_and_copy(w, layout)[pick]
        pads = conv.pads_for(x.shape[2:])
        out, cols = paths.conv2d_forward(xv, wv, b, conv.stride, pads, conv.dilation, groups=conv.groups)
        g = np.ones_like(out)
        gv = view_and_copy(g, layout)[pick]
        grads = paths.conv2d_backward(gv, cols, wv, x.shape, conv.stride, pads, conv.dilation, groups=conv.groups)
        pools = []
        k = (min(2, shape[2]), min(2, shape[3]))
        mp, arg = F.max_pool2d_forward(xv, k, k, ((0, 0), (0, 0)), argmax=True)
        pools += [mp, paths.max_pool2d_backward(view_and_copy(np.ones_like(mp), layout)[pick], arg, x.shape, k, k,
                                            ((0, 0), (0, 0)))]
        ap = F.avg_pool2d_forward(xv, k, k, ((0, 0), (0, 0)))
        pools += [ap, F.avg_pool2d_backward(view_and_copy(np.ones_like(ap), layout)[pick], x.shape, k, k,
                                            ((0, 0), (0, 0)))]
        for include in (True, False):           # ceil mode: 3x3 stride-2 windows hanging over the end
            cp = F.avg_pool2d_forward(xv, (3, 3), (2, 2), ((1, 1), (1, 1)), include, ceil_mode=True)
            pools += [cp, F.avg_pool2d_backward(view_and_copy(np.ones_like(cp), layout)[pick], x.shape, (3, 3),
                                                (2, 2), ((1, 1), (1, 1)), include, ceil_mode=True)]
        cm, arg = F.max_pool2d_forward(xv, (3, 3), (2, 2), ((1, 1), (1, 1)), argmax=True, ceil_mode=True)
        pools += [cm, paths.max_pool2d_backward(view_and_copy(np.ones_like(cm), layout)[pick], arg, x.shape, (3, 3),
                                            (2, 2), ((1, 1), (1, 1)), ceil_mode=True)]
        results.append([out, *grads[:2], *pools])
    assert_same(results[0], results[1])


# ---------------------------------------------------------------------------
# init, Parameter, gradcheck, manual_seed
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(init.INITIALIZERS))
@share(0.3)
@given(data=st.data())
def test_initializers_any_arguments(name, data):
    fn = init.get(name)
    args = dict(shape=(3, 2), fan_in=4, fan_out=5, rng=np.random.default_rng(0), dtype=np.float32)
    arg = data.draw(st.sampled_from(sorted(args)))
    value = data.draw(st.one_of(wrong_values(), st.sampled_from([(0, 2), (2, -1), [2, 3], 4, np.int64(2)])))
    args[arg] = value
    out, err = call_cleanly(fn, **args, names=(arg,))
    if err is None:
        assert isinstance(out, np.ndarray) and out.dtype == np.dtype(args["dtype"])
        assert out.shape == (tuple(args["shape"]) if isinstance(args["shape"], (tuple, list)) else (args["shape"],))
        assert np.all(np.isfinite(out))


@given(value=st.one_of(wrong_values(), st.sampled_from(["he", "HE_NORMAL", "", len])))
def test_init_get_any(value):
    fn, err = call_cleanly(init.get, value, names=("init",))
    assert (err is None) == (callable(value) or (isinstance(value, str) and value in init.INITIALIZERS))


@given(data=st.data())
def test_parameter_any_array(data):
    value = data.draw(st.one_of(any_arrays(), wrong_values()))
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and data.draw(st.booleans()):
        # gradients of a kind that casting would corrupt (complex, None objects)
        grad = data.draw(any_arrays(value.shape, dtypes=(np.complex128, np.object_)))
        _, err = call_cleanly(mc.Parameter(value).accumulate, grad, names=("grad",))
        assert err is not None, f"accumulate accepted dtype {grad.dtype}"
    if isinstance(value, np.ndarray) and data.draw(st.booleans()):
        value = relayout(value, data.draw(st.sampled_from(LAYOUTS)))
    p, err = call_cleanly(mc.Parameter, value, names=("data",))
    if err is not None:
        return
    assert value.dtype.kind == "f" and p.shape == value.shape and p.dtype == value.dtype
    grad = data.draw(st.one_of(any_arrays(p.shape), any_arrays()))
    before = p.grad.copy()
    _, err = call_cleanly(p.accumulate, grad, names=("grad",))
    if err is None:
        assert grad.shape == p.shape and grad.dtype.kind in "biuf"
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(p.grad, (before + grad.astype(p.dtype)).astype(p.dtype))
    else:
        assert_same(p.grad, before)
    p.zero_grad()
    assert not p.grad.any()


@given(data=st.data())
def test_parameter_does_not_share_a_read_only_array(data):
    x = frozen(data.draw(finite_arrays((2, 3), data.draw(FLOATS))))
    p = mc.Parameter(x)
    opt = optim.SGD([p], lr=0.1)
    p.grad[...] = 1
    opt.step()                         # writes p.data: never the caller's (read-only) array
    assert_same(x, frozen(x))


@given(data=st.data())
def test_numerical_gradient_any(data):
    x = data.draw(st.one_of(any_arrays(data.draw(shapes(max_dims=2, max_side=3))), wrong_values()))
    if isinstance(x, np.ndarray) and data.draw(st.booleans()):
        x = relayout(x, data.draw(st.sampled_from(LAYOUTS)))
    eps = data.draw(st.one_of(st.just(1e-6), wrong_values()))

    def square(v):
        with np.errstate(over="ignore", invalid="ignore"):
            return np.sum(v * v)

    f = data.draw(st.sampled_from([square, lambda v: v, lambda v: "a", lambda: 0.0, None]))
    before = np.array(x, copy=True) if isinstance(x, np.ndarray) else None
    grad, err = call_cleanly(gradcheck.numerical_gradient, f, x, eps, names=("x", "eps", "f"))
    if isinstance(x, np.ndarray):
        assert_same(x, before)                       # restored (or never touched)
    if err is None:
        assert x.dtype.kind == "f" and grad.shape == x.shape
        with np.errstate(all="ignore"):
            finite = np.isfinite(x).all() and np.abs(x).max(initial=0) < 1e3
        if finite and f is square:
            np.testing.assert_allclose(grad, 2 * x, rtol=1e-2, atol=1e-2)


@given(a=st.one_of(any_arrays(), wrong_values()), b=st.one_of(any_arrays(), wrong_values()),
       floor=st.one_of(st.just(1e-4), wrong_values()))
def test_relative_error_any(a, b, floor):
    err_value, err = call_cleanly(gradcheck.relative_error, a, b, floor, names=("analytic", "numeric", "floor"))
    if err is None:
        assert isinstance(err_value, float) and (err_value >= 0 or math.isnan(err_value))


@given(layer=st.one_of(wrong_values(), st.just(L.ReLU())), x=st.one_of(any_arrays(), wrong_values()),
       seed=st.one_of(st.just(0), wrong_values()))
def test_check_layer_any(layer, x, seed):
    errors, err = call_cleanly(gradcheck.check_layer, layer, x, seed=seed, names=("layer", "x", "seed", "input"))
    if err is None:
        assert isinstance(errors, dict) and "input" in errors


@given(seed=st.one_of(wrong_values(), st.integers(0, 2**64 - 1)))
def test_manual_seed_any(seed):
    rng, err = call_cleanly(mc.manual_seed, seed, names=("seed",))
    assert (err is None) == _is_int(seed, 0)
    if err is None:
        a = L.Dense(2, 2).params["W"].data
        mc.manual_seed(seed)
        assert_same(L.Dense(2, 2).params["W"].data, a)
