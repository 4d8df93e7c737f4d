"""Bad input must fail early with a clear ValueError/TypeError (or RuntimeError for
misuse of forward/backward) whose message names the argument and what was
expected - never a NumPy broadcasting or indexing traceback.

Every check uses :func:`msg`, which requires *all* the given fragments to
appear in the message (in any order), so a raw NumPy error of the same class
cannot pass by accident. Happy paths sit next to the checks they border.
"""
import contextlib
import re
import warnings

import numpy as np
import pytest
from layer_cases import LAYERS

import minicnn as mc
from minicnn import layers as L
from minicnn import losses, optim
from minicnn.io import load_npz

SCALE_HINT = "x.astype(np.float32) / 255"


def msg(*fragments):
    """A ``match`` regex that requires every fragment (literally) somewhere in the message."""
    return "(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments)


def data(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.fixture(autouse=True)
def _seed():
    mc.manual_seed(0)


# ---------------------------------------------------------------------------
# Constructor arguments
# ---------------------------------------------------------------------------
BAD_CONSTRUCTORS = [
    # non-positive kernel / stride / dilation, negative padding
    (lambda: L.Conv2D(1, 2, 0), ValueError, ["kernel_size must be >= 1", "got 0"]),
    (lambda: L.Conv2D(1, 2, -1), ValueError, ["kernel_size must be >= 1", "got -1"]),
    (lambda: L.Conv2D(1, 2, (3, 0)), ValueError, ["kernel_size must be >= 1", "got 0"]),
    (lambda: L.Conv2D(1, 2, 3, stride=0), ValueError, ["stride must be >= 1", "got 0"]),
    (lambda: L.Conv2D(1, 2, 3, stride=-1), ValueError, ["stride must be >= 1", "got -1"]),
    (lambda: L.Conv2D(1, 2, 3, dilation=0), ValueError, ["dilation must be >= 1"]),
    (lambda: L.Conv2D(1, 2, 3, padding=-1), ValueError, ["padding must be >= 0", "got -1"]),
    (lambda: L.Conv2D(1, 2, 3, padding=(1, -2)), ValueError, ["padding must be >= 0", "got -2"]),
    (lambda: L.Conv2D(0, 2, 3), ValueError, ["in_channels must be >= 1"]),
    (lambda: L.Conv2D(1, 0, 3), ValueError, ["out_channels must be >= 1"]),
    # unknown padding strings
    (lambda: L.Conv2D(1, 2, 3, padding="full"), ValueError, ["padding must be", "'same'", "'valid'", "'full'"]),
    (lambda: L.Conv2D(1, 2, 3, padding="SAME"), ValueError, ["padding must be", "'SAME'"]),
    # tuples of the wrong length
    (lambda: L.Conv2D(1, 2, (3, 3, 3)), ValueError, ["kernel_size must be an int or a pair (h, w)", "(3, 3, 3)"]),
    (lambda: L.Conv2D(1, 2, (3,)), ValueError, ["kernel_size must be an int or a pair (h, w)"]),
    (lambda: L.Conv2D(1, 2, 3, stride=(1, 1, 1)), ValueError, ["stride must be an int or a pair (h, w)"]),
    # floats and bools where ints belong
    (lambda: L.Conv2D(3.0, 2, 3), TypeError, ["in_channels must be an int", "float"]),
    (lambda: L.Conv2D(True, 2, 3), TypeError, ["in_channels must be an int", "bool"]),
    (lambda: L.Conv2D(1, 2, 3.0), TypeError, ["kernel_size must be an int", "float"]),
    (lambda: L.Conv2D(1, 2, True), TypeError, ["kernel_size must be an int", "bool"]),
    (lambda: L.Conv2D(1, 2, (3, 2.5)), TypeError, ["kernel_size must be an int", "float"]),
    (lambda: L.Conv2D(1, 2, 3, stride=1.5), TypeError, ["stride must be an int", "float"]),
    (lambda: L.Conv2D(1, 2, 3, padding=1.0), TypeError, ["padding must be an int", "float"]),
    (lambda: L.Conv2D(1, 2, 3, padding=False), TypeError, ["padding must be an int", "bool"]),
    (lambda: L.Conv2D(1, 2, 3, dtype=np.int32), TypeError, ["dtype must be a floating dtype", "int32"]),
    (lambda: L.Conv2D(1, 2, 3, init="lecun"), ValueError, ["init must be", "he_normal", "'lecun'"]),
    # pooling
    (lambda: L.MaxPool2D(0), ValueError, ["kernel_size must be >= 1", "got 0"]),
    (lambda: L.AvgPool2D(-1), ValueError, ["kernel_size must be >= 1", "got -1"]),
    (lambda: L.MaxPool2D(2, stride=0), ValueError, ["stride must be >= 1", "got 0"]),
    (lambda: L.AvgPool2D(2, stride=-1), ValueError, ["stride must be >= 1", "got -1"]),
    (lambda: L.MaxPool2D(3, padding=-1), ValueError, ["padding must be >= 0", "got -1"]),
    (lambda: L.MaxPool2D(2, padding=2), ValueError, ["padding must be at most kernel_size // 2 = 1", "(2, 2)"]),
    (lambda: L.AvgPool2D(3, padding=2), ValueError, ["padding must be at most kernel_size // 2 = 1"]),
    (lambda: L.MaxPool2D(1, padding=1), ValueError, ["padding must be at most kernel_size // 2 = 0"]),
    (lambda: L.MaxPool2D((4, 2), padding=(2, 2)), ValueError, ["padding must be at most kernel_size // 2 = 1"]),
    (lambda: L.MaxPool2D((2, 2, 2)), ValueError, ["kernel_size must be an int or a pair (h, w)"]),
    (lambda: L.AvgPool2D(2.0), TypeError, ["kernel_size must be an int", "float"]),
    (lambda: L.MaxPool2D(True), TypeError, ["kernel_size must be an int", "bool"]),
    (lambda: L.MaxPool2D(2, stride=2.0), TypeError, ["stride must be an int", "float"]),
    (lambda: L.MaxPool2D(3, padding="full"), ValueError, ["padding must be an int", "'same'", "'full'"]),
    # Dense, BatchNorm, Dropout, Reshape, activations
    (lambda: L.Dense(0, 3), ValueError, ["in_features must be >= 1", "got 0"]),
    (lambda: L.Dense(4, -1), ValueError, ["out_features must be >= 1", "got -1"]),
    (lambda: L.Dense(4.0, 3), TypeError, ["in_features must be an int", "float"]),
    (lambda: L.Dense(4, True), TypeError, ["out_features must be an int", "bool"]),
    (lambda: L.BatchNorm(0), ValueError, ["num_features must be >= 1"]),
    (lambda: L.BatchNorm(3.0), TypeError, ["num_features must be an int"]),
    (lambda: L.BatchNorm(3, momentum=1.5), ValueError, ["momentum must be in [0, 1]", "1.5"]),
    (lambda: L.BatchNorm(3, eps=0), ValueError, ["eps must be in (0, inf)"]),
    (lambda: L.Dropout(1), ValueError, ["p must be in [0, 1)", "got 1"]),
    (lambda: L.Dropout(1.0), ValueError, ["p must be in [0, 1)", "got 1"]),
    (lambda: L.Dropout(-0.1), ValueError, ["p must be in [0, 1)", "got -0.1"]),
    (lambda: L.Dropout(1.5), ValueError, ["p must be in [0, 1)", "got 1.5"]),
    (lambda: L.Dropout(float("nan")), ValueError, ["p must be finite"]),
    (lambda: L.Dropout("0.5"), TypeError, ["p must be a real number", "str"]),
    (lambda: L.Dropout(True), TypeError, ["p must be a real number", "bool"]),
    (lambda: L.Reshape((0, 4)), ValueError, ["shape entries must be positive"]),
    (lambda: L.Reshape((-1, -1)), ValueError, ["at most one -1"]),
    (lambda: L.Reshape((2.5,)), TypeError, ["shape must be an int", "float"]),
    (lambda: L.Reshape(()), TypeError, ["shape must be a non-empty tuple of ints"]),
    (lambda: L.Softmax(axis=1.0), TypeError, ["axis must be an int"]),
    (lambda: L.LeakyReLU(negative_slope="0.1"), TypeError, ["negative_slope must be a real number"]),
]


@pytest.mark.parametrize("make, exc, fragments", BAD_CONSTRUCTORS)
def test_bad_constructor_arguments(make, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        make()


@pytest.mark.parametrize("make", [
    lambda: L.Conv2D(1, 2, 3, padding="same"),
    lambda: L.Conv2D(1, 2, 3, stride=(1, 1), padding="valid"),
    lambda: L.Conv2D(1, 2, (3, 1), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
    lambda: L.Conv2D(np.int64(1), 2, np.int32(3)),          # NumPy ints are ints
    lambda: L.MaxPool2D(3, padding=1),                         # padding == kernel_size // 2 is allowed
    lambda: L.AvgPool2D((4, 2), padding=(2, 1)),
    lambda: L.Dropout(0.0),
    lambda: L.Dropout(np.float32(0.999)),
    lambda: L.BatchNorm(3, momentum=1.0),
])
def test_good_constructor_arguments(make):
    assert isinstance(make(), L.Layer)


# ---------------------------------------------------------------------------
# Layer inputs: array type, ndim, channels/features, window size, dtype
# ---------------------------------------------------------------------------
# One valid (layer, input shape) per layer class and variant (tests/layer_cases.py, which
# test_devices.py and benchmarks/bench_gpu.py share); REGISTRY coverage is asserted below.
LAYER_CASES = LAYERS
LAYER_IDS = [f"{i}-{type(make()).__name__}-{len(shape)}d" for i, (make, shape) in enumerate(LAYER_CASES)]


def test_layer_cases_cover_every_registered_layer():
    assert {type(make()).__name__ for make, _ in LAYER_CASES} == set(L.REGISTRY)


@pytest.mark.parametrize("make, shape", LAYER_CASES, ids=LAYER_IDS)
@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.bool_])
def test_integer_images_get_the_scaling_hint(make, shape, dtype):
    x = np.ones(shape, dtype=dtype)
    with pytest.raises(TypeError, match=msg("x must have a floating dtype", str(np.dtype(dtype)), SCALE_HINT)):
        make()(x)


@pytest.mark.parametrize("make, shape", LAYER_CASES, ids=LAYER_IDS)
def test_non_array_input(make, shape):
    with pytest.raises(TypeError, match=msg("x must be a numpy.ndarray", "list")):
        make()(data(*shape).tolist())


@pytest.mark.parametrize("layer, shape, fragments", [
    (L.Conv2D(3, 2, 3), (3, 8, 8), ["x must have 4 dimensions", "(3, 8, 8)"]),
    (L.Conv2D(3, 2, 3), (1, 1, 3, 8, 8), ["x must have 4 dimensions", "(1, 1, 3, 8, 8)"]),
    (L.MaxPool2D(2), (3, 8, 8), ["x must have 4 dimensions", "(3, 8, 8)"]),
    (L.AvgPool2D(2), (8, 8), ["x must have 4 dimensions", "(8, 8)"]),
    (L.Dense(4, 3), (4,), ["x must have at least 2 dimensions", "(4,)"]),
    (L.BatchNorm(4), (4,), ["x must have at least 2 dimensions", "(4,)"]),
    (L.Conv1D(3, 2, 3), (2, 3, 4, 4), ["x must have 3 dimensions", "(2, 3, 4, 4)"]),
    (L.MaxPool1D(2), (2, 8), ["x must have 3 dimensions", "(2, 8)"]),
    (L.GlobalAvgPool2D(), (2, 3, 8), ["x must have 4 dimensions", "(2, 3, 8)"]),
    (L.LocalResponseNorm(5), (2, 8), ["x must have at least 3 dimensions", "(2, 8)"]),
])
def test_wrong_ndim(layer, shape, fragments):
    with pytest.raises(ValueError, match=msg(*fragments)):
        layer(data(*shape))


@pytest.mark.parametrize("layer, shape, expects, has", [
    (L.Conv2D(3, 2, 3), (2, 4, 8, 8), 3, 4),
    (L.Conv2D(1, 2, 3), (2, 3, 8, 8), 1, 3),
    (L.Dense(10, 3), (2, 12), 10, 12),
    (L.Dense(10, 3), (2, 5, 9), 10, 9),
    (L.BatchNorm(3), (2, 4), 3, 4),
    (L.BatchNorm(3), (2, 4, 5, 5), 3, 4),
    (L.Conv1D(3, 2, 3), (2, 4, 8), 3, 4),
    (L.Conv2D(6, 6, 3, groups=3), (2, 3, 8, 8), 6, 3),
    (L.Residual([L.Conv2D(3, 3, 1)]), (2, 4, 5, 5), 3, 4),
    (L.Concat([[L.Conv2D(3, 3, 1)], [L.ReLU()]]), (2, 4, 5, 5), 3, 4),
    (L.SqueezeExcitation(3, 2), (2, 4, 5, 5), 3, 4),
])
def test_channel_or_feature_mismatch(layer, shape, expects, has):
    with pytest.raises(ValueError, match=msg(f"expects {expects}", f"has {has}")):
        layer(data(*shape))


@pytest.mark.parametrize("layer, shape, fragments", [
    (L.Conv2D(1, 2, 5), (1, 1, 4, 4), ["Conv2D", "window 5x5", "larger than the padded input 4x4"]),
    (L.Conv2D(1, 2, 5, padding=(1, 0)), (1, 1, 2, 8), ["window 5x5", "padded input 4x8", "input 2x8"]),
    (L.Conv2D(1, 2, 3, dilation=3), (1, 1, 6, 6), ["window 7x7", "dilation 3x3", "padded input 6x6"]),
    (L.Conv2D(1, 2, (1, 4)), (1, 1, 4, 3), ["window 1x4", "padded input 4x3"]),
    (L.MaxPool2D(3), (1, 1, 2, 2), ["MaxPool2D", "window 3x3", "larger than the padded input 2x2"]),
    (L.AvgPool2D(4, padding=1), (1, 1, 1, 1), ["AvgPool2D", "window 4x4", "padded input 3x3"]),
])
def test_window_larger_than_padded_input(layer, shape, fragments):
    with pytest.raises(ValueError, match=msg(*fragments)):
        layer(data(*shape))


@pytest.mark.parametrize("layer, shape, fragments", [
    (L.GlobalAvgPool1D(), (2, 3, 0), ["GlobalAvgPool1D", "empty axis", "input_shape (3, 0)"]),
    (L.GlobalAvgPool2D(), (1, 2, 4, 0), ["GlobalAvgPool2D", "empty axis", "input_shape (2, 4, 0)"]),
    (L.SqueezeExcitation(2, 1), (1, 2, 0, 3), ["SqueezeExcitation", "empty axis", "(2, 0, 3)"]),
    (L.BatchNorm(2), (3, 2, 0, 3), ["BatchNorm", "empty axis"]),
    (L.ReLU(), (3, 0), ["ReLU", "empty axis"]),
])
@pytest.mark.parametrize("training", [False, True])
def test_an_empty_axis_is_refused_not_averaged_into_nan(layer, shape, fragments, training):
    """A mean of nothing would be NaN and NumPy's warning (inside fit: "training diverged")."""
    with pytest.raises(ValueError, match=msg(*fragments)):
        layer.forward(np.zeros(shape, np.float32), training=training)
    with pytest.raises(ValueError, match=msg(*fragments[:2])):
        layer.output_shape(shape[1:])


@pytest.mark.parametrize("layer, shape, fragments", [
    (L.MaxPool2D(10**6, ceil_mode=True), (1, 1, 4, 4), ["MaxPool2D", "kernel_size 1000000x1000000", "far larger"]),
    (L.AvgPool2D(10**6, padding="same"), (1, 1, 4, 4), ["AvgPool2D", "kernel_size 1000000x1000000", "far larger"]),
    (L.MaxPool1D(10**9, ceil_mode=True), (1, 1, 4), ["MaxPool1D", "kernel_size", "far larger", "input 1x4"]),
    (L.Conv2D(1, 1, 1, padding=10**5), (1, 1, 4, 4), ["Conv2D", "padding 100000x100000", "far larger"]),
    (L.Conv2D(1, 1, 3, dilation=10**5, padding="same"), (1, 1, 4, 4), ["Conv2D", "dilation 100000x100000",
                                                                      "window 200001x200001", "far larger"]),
    (L.Conv1D(1, 1, 10**6, padding=10**6), (1, 1, 4), ["Conv1D", "far larger"]),
    (L.AdaptiveAvgPool2D(100000), (1, 1, 4, 4), ["AdaptiveAvgPool2D", "output_size 100000x100000", "far larger",
                                                 "input 4x4"]),
    (L.AdaptiveAvgPool2D((None, 10**9)), (1, 1, 4, 4), ["output_size 4x1000000000", "far larger"]),
    (L.LocalResponseNorm(10**9), (1, 3, 4, 4), ["LocalResponseNorm", "size 1000000000", "far larger",
                                                 "3 channels"]),
])
def test_a_window_or_output_far_larger_than_the_input_is_refused_before_it_is_allocated(layer, shape, fragments):
    """MaxPool2D(10**6, ceil_mode=True) on 4x4 once asked for 3.6 TiB, AdaptiveAvgPool2D(100000)
    for 37 GiB: "far larger" is more than 64 times the input along an axis."""
    for training in (False, True):
        with pytest.raises(ValueError, match=msg(*fragments, "64 times")):
            layer.forward(np.zeros(shape, np.float32), training=training)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("make, shape", [
    (lambda: L.Conv2D(1, 2, 100, dtype=np.float64), (1, 1, 100, 100)),        # a Dense written as a convolution
    (lambda: L.Conv2D(8, 2, (70, 1), dtype=np.float64), (2, 8, 70, 3)),        # the wide grid's path
    (lambda: L.Conv1D(2, 1, 200, padding=10, dtype=np.float64), (1, 2, 190)),
    (lambda: L.AvgPool2D(100, ceil_mode=True), (1, 1, 100, 100)),
])
def test_a_kernel_as_large_as_the_input_trains(make, shape, reference):
    """Only what the user asks of a layer is held against its input: the convolution that
    computes dx (the output's gradient, 1x1 here, padded by 99) is not "far larger"."""
    layer = make()
    with mc.reference_paths() if reference else contextlib.nullcontext():
        y = layer.forward(np.ones(shape), training=True)
        assert layer.backward(np.ones_like(y)).shape == shape


@pytest.mark.parametrize("make, shape, out_shape", [
    (lambda: L.MaxPool2D(3, 2, ceil_mode=True), (1, 2, 2, 2), (1, 2, 1, 1)),      # GoogLeNet's, on 2x2
    (lambda: L.AvgPool2D(3, 2, ceil_mode=True), (1, 2, 2, 2), (1, 2, 1, 1)),
    (lambda: L.AdaptiveAvgPool2D((6, 6)), (1, 2, 1, 1), (1, 2, 6, 6)),            # AlexNet's, upsampling
    (lambda: L.AdaptiveAvgPool2D(64), (1, 2, 1, 1), (1, 2, 64, 64)),              # 64 times: not "far"
    (lambda: L.Conv2D(1, 1, 127, padding=63), (1, 1, 2, 2), (1, 1, 2, 2)),
    (lambda: L.LocalResponseNorm(5), (1, 1, 3, 3), (1, 1, 3, 3)),
    (lambda: L.ReLU(), (0, 3), (0, 3)),                                            # an empty batch is fine
    (lambda: L.GlobalAvgPool2D(), (0, 2, 3, 3), (0, 2)),
])
def test_windows_and_outputs_up_to_64_times_the_input_and_empty_batches_still_work(make, shape, out_shape):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert make().forward(np.ones(shape, np.float32)).shape == out_shape


@pytest.mark.parametrize("layer, shape, out_hw", [
    (L.Conv2D(1, 2, 5, padding=1), (1, 1, 3, 3), (1, 1)),       # padding makes it fit exactly
    (L.MaxPool2D(3, padding=1), (1, 1, 1, 1), (1, 1)),
    (L.AvgPool2D(2), (1, 1, 2, 3), (1, 1)),
])
def test_window_that_just_fits(layer, shape, out_hw):
    assert layer(data(*shape)).shape[2:] == out_hw


@pytest.mark.parametrize("kernel, dilation", [(2, 1), (4, 1), (3, 1), (1, 1), (2, 3), ((2, 5), (1, 2))])
def test_same_padding_keeps_the_size(kernel, dilation):
    conv = L.Conv2D(2, 3, kernel, padding="same", dilation=dilation)
    x = data(2, 2, 7, 6)
    assert conv(x).shape == (2, 3, 7, 6)
    assert conv.output_shape((2, 7, 6)) == (3, 7, 6)


def test_same_padding_with_even_kernel_pads_bottom_right():
    # PyTorch's rule: the odd extra row/column of "same" padding goes to the end.
    conv = L.Conv2D(1, 1, 2, padding="same", bias=False)
    conv.params["W"].data[...] = 1
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    out = conv(x)[0, 0]
    assert out[0, 0] == 0 + 1 + 3 + 4
    assert out[2, 2] == 8                     # only the corner itself; the rest is padding


def test_conv_output_size_takes_one_padding():
    """total_padding or its old name padding, never both (which was the old name's value)."""
    F = mc.functional
    assert F.conv_output_size(28, 3, total_padding=2) == F.conv_output_size(28, 3, padding=2) == 28
    assert F.conv_output_size(28, 3, 1, 2) == 28 and F.conv_output_size(28, 3) == 26
    for both in (dict(total_padding=2, padding=0), dict(total_padding=0, padding=2), dict(total_padding=2, padding=2)):
        with pytest.raises(TypeError, match="total_padding and its old name padding"):
            F.conv_output_size(28, 3, **both)
    with pytest.raises(TypeError, match="total_padding and its old name padding"):
        F.conv_output_size(28, 3, 1, 0, padding=2)


def test_softmax_axis_out_of_range():
    with pytest.raises(ValueError, match=msg("axis 2 is out of range", "2 dimensions")):
        L.Softmax(axis=2)(data(2, 5))


# ---------------------------------------------------------------------------
# BatchNorm: one value per channel in training
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batchnorm_training_needs_more_than_one_value_per_channel(shape):
    bn = L.BatchNorm(3)
    with pytest.raises(ValueError, match=msg("more than one value per channel", str(shape), "batch of 2")):
        bn(data(*shape), training=True)
    # The failed call must not have touched the running statistics.
    np.testing.assert_array_equal(bn.running_mean, np.zeros(3))
    np.testing.assert_array_equal(bn.running_var, np.ones(3))


def test_batchnorm_batch_of_one_with_spatial_axes_trains():
    bn = L.BatchNorm(3)
    y = bn(data(1, 3, 2, 2), training=True)            # 4 values per channel
    assert y.shape == (1, 3, 2, 2)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert bn.backward(np.ones_like(y)).shape == (1, 3, 2, 2)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batchnorm_batch_of_one_in_eval_mode(shape):
    bn = L.BatchNorm(3)
    x = data(*shape)
    y = bn(x, training=False)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5), rtol=1e-6)


# ---------------------------------------------------------------------------
# backward: before forward, after an eval-mode forward, wrong grad_out
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("make, shape", LAYER_CASES, ids=LAYER_IDS)
def test_backward_before_forward(make, shape):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(RuntimeError, match=msg(f"{name}.backward() needs a preceding forward(x, training=True)")):
        layer.backward(data(*shape))


@pytest.mark.parametrize("make, shape", LAYER_CASES, ids=LAYER_IDS)
def test_backward_after_eval_forward(make, shape):
    layer = make()
    x = data(*shape)
    layer(x, training=True)
    out = layer(x, training=False)          # an eval forward drops the training cache
    with pytest.raises(RuntimeError, match=msg("training=True", "eval mode")):
        layer.backward(np.ones_like(out))


@pytest.mark.parametrize("make, shape", LAYER_CASES, ids=LAYER_IDS)
def test_grad_out_of_the_wrong_shape(make, shape):
    layer = make()
    out = layer(data(*shape), training=True)
    for bad in [np.ones(out.shape + (1,), out.dtype), np.ones((out.shape[0] + 1,) + out.shape[1:], out.dtype)]:
        with pytest.raises(ValueError, match=msg("grad_out must have the forward output's shape",
                                                 str(out.shape), str(bad.shape))):
            layer.backward(bad)
    with pytest.raises(TypeError, match=msg("grad_out must have a floating dtype", "int64")):
        layer.backward(np.ones(out.shape, np.int64))
    assert layer.backward(np.ones_like(out)).shape == shape        # the right shape still works


def test_sequential_backward_before_forward():
    model = mc.Sequential([L.Dense(4, 3), L.ReLU(), L.Dense(3, 2)])
    with pytest.raises(RuntimeError, match=msg("Dense.backward() needs a preceding forward")):
        model.backward(data(2, 2))
    model(data(2, 4), training=False)
    with pytest.raises(RuntimeError, match=msg("eval mode")):
        model.backward(data(2, 2))
    model(data(2, 4), training=True)
    assert model.backward(data(2, 2)).shape == (2, 4)


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------
LOGITS = data(4, 3)


@pytest.mark.parametrize("target, exc, fragments", [
    (np.array([0, 1, 2, 3]), ValueError, ["target labels must be in [0, 3)", "3 classes", "[0, 3]"]),
    (np.array([0, -1, 2, 1]), ValueError, ["target labels must be in [0, 3)", "[-1, 2]"]),
    (np.array([0, 1, 2]), ValueError, ["target has 3 labels", "logits has 4 rows"]),
    (np.array([0, 1, 2, 1, 0]), ValueError, ["target has 5 labels", "logits has 4 rows"]),
    (np.array([[0], [1], [2], [1]]), TypeError, ["target of shape (4, 1)", "shape (N,)", "target.ravel()"]),
    (np.zeros((4, 3, 1), np.int64), ValueError, ["target must be labels (N,) or probabilities (N, C)", "(4, 3, 1)"]),
    (np.array([0.0, 1.0, 2.0, 1.0]), TypeError, ["target labels of shape (N,) must be integers", "float64"]),
    (np.array([True, False, True, True]), TypeError, ["target labels of shape (N,) must be integers", "bool"]),
    ([0, 1, 2, 1], TypeError, ["target must be a numpy.ndarray", "list"]),
    (np.full((4, 2), 0.5), ValueError, ["target probabilities must have the logits' shape (4, 3)", "(4, 2)"]),
    (np.full((4, 3), -0.1), ValueError, ["target probabilities must be finite and non-negative"]),
    (np.full((4, 3), np.nan), ValueError, ["target probabilities must be finite and non-negative"]),
])
def test_cross_entropy_bad_target(target, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        losses.CrossEntropy()(LOGITS, target)


@pytest.mark.parametrize("target", [
    np.array([0, 1, 2, 1], np.int32), np.array([0, 1, 2, 1], np.uint8), np.full((4, 3), 1 / 3),
])
def test_cross_entropy_good_target(target):
    ce = losses.CrossEntropy()
    assert np.isfinite(ce(LOGITS, target))
    assert ce.backward().shape == (4, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_cross_entropy_non_finite_logits(bad):
    logits = LOGITS.copy()
    logits[1, 2] = bad
    with pytest.raises(ValueError, match=msg("logits contain NaN or inf")):
        losses.CrossEntropy()(logits, np.array([0, 1, 2, 1]))


@pytest.mark.parametrize("logits, exc, fragments", [
    (data(3), ValueError, ["logits must have 2 dimensions", "(3,)"]),
    (data(2, 3, 4), ValueError, ["logits must have 2 dimensions", "(2, 3, 4)"]),
    (np.ones((4, 3), np.int64), TypeError, ["logits must have a floating dtype", "int64"]),
    (np.zeros((0, 3), np.float32), ValueError, ["logits must hold at least one sample", "(0, 3)"]),
    (np.zeros((4, 0), np.float32), ValueError, ["one class", "(4, 0)"]),
])
def test_cross_entropy_bad_logits(logits, exc, fragments):
    target = np.zeros(logits.shape[0] if logits.ndim else 1, np.int64)
    with pytest.raises(exc, match=msg(*fragments)):
        losses.CrossEntropy()(logits, target)


def test_cross_entropy_bad_probabilities_when_there_are_no_classes():
    with pytest.raises(ValueError, match=msg("one class", "(2, 0)")):
        losses.CrossEntropy()(np.zeros((2, 0), np.float32), np.zeros((2, 0), np.float32))


@pytest.mark.parametrize("pred, target, exc, fragments", [
    (data(4, 3), data(4, 1), ValueError, ["target must have pred's shape (4, 3)", "(4, 1)"]),
    (data(4, 3), data(3, 4), ValueError, ["target must have pred's shape (4, 3)", "(3, 4)"]),
    (data(4), data(4, 1), ValueError, ["target must have pred's shape (4,)", "(4, 1)"]),
    (data(4, 3), data(4, 3).tolist(), TypeError, ["target must be a numpy.ndarray", "list"]),
    (data(2), np.array(["a", "b"]), TypeError, ["target must be numeric"]),
    (np.ones((2, 2), np.uint8), data(2, 2), TypeError, ["pred must have a floating dtype"]),
    (np.zeros((0, 3), np.float32), np.zeros((0, 3)), ValueError, ["pred must not be empty"]),
])
def test_mse_bad_input(pred, target, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        losses.MSE()(pred, target)


def test_mse_integer_target_is_fine():
    mse = losses.MSE()
    assert mse(np.zeros((2, 2), np.float32), np.ones((2, 2), np.int64)) == 1.0
    assert mse.backward().dtype == np.float32


@pytest.mark.parametrize("loss", [losses.CrossEntropy(), losses.MSE()], ids=["CrossEntropy", "MSE"])
def test_loss_backward_before_forward(loss):
    name = type(loss).__name__
    with pytest.raises(RuntimeError, match=msg(f"{name}.backward() needs a preceding forward(pred, target)")):
        type(loss)().backward()


# ---------------------------------------------------------------------------
# Optimisers and schedulers
# ---------------------------------------------------------------------------
def _params():
    return mc.Sequential([L.Dense(3, 2)]).parameters()


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
@pytest.mark.parametrize("params, exc, fragments", [
    ([], ValueError, ["params is empty", "model.parameters()"]),
    (iter([]), ValueError, ["params is empty"]),
    (None, TypeError, ["params must be an iterable of minicnn Parameters", "NoneType"]),
    (3, TypeError, ["params must be an iterable of minicnn Parameters", "int"]),
    ([np.zeros(3, np.float32)], TypeError, ["params[0] must be a minicnn Parameter", "ndarray"]),
    (mc.Sequential([L.Dense(3, 2)]), TypeError, ["params[0] must be a minicnn Parameter", "Dense",
                                                  "model.parameters()"]),
])
def test_optimizer_bad_params(cls, params, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        cls(params, lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
@pytest.mark.parametrize("lr, exc, fragments", [
    (-0.1, ValueError, ["lr must be in [0, inf)", "-0.1"]),
    (-1, ValueError, ["lr must be in [0, inf)", "-1"]),
    (float("nan"), ValueError, ["lr must be finite"]),
    (float("inf"), ValueError, ["lr must be finite"]),
    ("0.1", TypeError, ["lr must be a real number", "str"]),
    (True, TypeError, ["lr must be a real number", "bool"]),
])
def test_optimizer_bad_lr(cls, lr, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        cls(_params(), lr=lr)


@pytest.mark.parametrize("kwargs, exc, fragments", [
    (dict(momentum=0.0, nesterov=True), ValueError, ["nesterov=True needs momentum > 0"]),
    (dict(nesterov=True), ValueError, ["nesterov=True needs momentum > 0"]),
    (dict(momentum=-0.9), ValueError, ["momentum must be in [0, inf)"]),
    (dict(weight_decay=-1e-4), ValueError, ["weight_decay must be in [0, inf)"]),
])
def test_sgd_bad_hyperparameters(kwargs, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        optim.SGD(_params(), lr=0.1, **kwargs)


def test_sgd_nesterov_with_momentum_is_fine():
    opt = optim.SGD(_params(), lr=0.1, momentum=0.9, nesterov=True)
    opt.step()
    assert opt.step_count == 1


@pytest.mark.parametrize("kwargs, exc, fragments", [
    (dict(betas=(1.0, 0.999)), ValueError, ["betas[0] must be in [0, 1)", "got 1"]),
    (dict(betas=(0.9, 1.0)), ValueError, ["betas[1] must be in [0, 1)", "got 1"]),
    (dict(betas=(-0.1, 0.999)), ValueError, ["betas[0] must be in [0, 1)", "got -0.1"]),
    (dict(betas=(0.9, 1.5)), ValueError, ["betas[1] must be in [0, 1)", "got 1.5"]),
    (dict(betas=(0.9,)), ValueError, ["betas must be a pair (beta1, beta2)", "(0.9,)"]),
    (dict(betas=(0.9, 0.99, 0.999)), ValueError, ["betas must be a pair (beta1, beta2)"]),
    (dict(betas=0.9), ValueError, ["betas must be a pair (beta1, beta2)", "0.9"]),
    (dict(betas=("0.9", 0.999)), TypeError, ["betas[0] must be a real number"]),
    (dict(eps=-1e-8), ValueError, ["eps must be in [0, inf)"]),
    (dict(weight_decay=-0.1), ValueError, ["weight_decay must be in [0, inf)"]),
])
def test_adam_bad_hyperparameters(kwargs, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        optim.Adam(_params(), lr=1e-3, **kwargs)


def test_adam_edge_betas_are_fine():
    assert optim.Adam(_params(), betas=[0.0, 0.0]).betas == (0.0, 0.0)
    assert optim.Adam(_params(), betas=(0.9, 0.9999)).betas == (0.9, 0.9999)


@pytest.mark.parametrize("cls, args", [
    (optim.StepLR, (10,)), (optim.ExponentialLR, (0.9,)), (optim.InverseTimeDecay, (1e-3,)),
])
@pytest.mark.parametrize("not_an_optimizer", [None, 0.1, "sgd", [1, 2]])
def test_scheduler_of_a_non_optimizer(cls, args, not_an_optimizer):
    with pytest.raises(TypeError, match=msg("optimizer must be a minicnn Optimizer",
                                            type(not_an_optimizer).__name__)):
        cls(not_an_optimizer, *args)


@pytest.mark.parametrize("make, exc, fragments", [
    (lambda o: optim.StepLR(o, 0), ValueError, ["step_size must be >= 1"]),
    (lambda o: optim.StepLR(o, 2.0), TypeError, ["step_size must be an int", "float"]),
    (lambda o: optim.StepLR(o, 2, gamma=-0.5), ValueError, ["gamma must be in [0, 1]"]),
    (lambda o: optim.ExponentialLR(o, -1.0), ValueError, ["gamma must be in [0, 1]"]),
    (lambda o: optim.InverseTimeDecay(o, -1e-3), ValueError, ["decay must be in [0, inf)"]),
])
def test_scheduler_bad_arguments(make, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        make(optim.SGD(_params(), lr=0.1))


def test_optimizer_load_state_dict_mismatch():
    opt = optim.SGD(_params(), lr=0.1, momentum=0.9)
    state = opt.state_dict()
    del state["velocity.0"]
    state["extra"] = 1
    with pytest.raises(ValueError, match=msg("missing keys ['velocity.0']", "unexpected keys ['extra']")):
        opt.load_state_dict(state)
    state = opt.state_dict()
    state["velocity.1"] = np.zeros(5)
    with pytest.raises(ValueError, match=msg("velocity.1 has shape (5,)", "expected (2,)")):
        opt.load_state_dict(state)


# ---------------------------------------------------------------------------
# Sequential and summary()
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("layers, fragments", [
    ([L.Dense(3, 2), L.ReLU], ["layers[1] must be a minicnn Layer", "type"]),
    ([L.Dense(3, 2), np.tanh], ["layers[1] must be a minicnn Layer", "ufunc"]),
    ([None], ["layers[0] must be a minicnn Layer", "NoneType"]),
    ([L.ReLU(), L.ReLU(), "relu"], ["layers[2] must be a minicnn Layer", "str", "'relu'"]),
    ([mc.Sequential([L.ReLU()])], ["layers[0] must be a minicnn Layer", "Sequential"]),
    (L.ReLU(), ["layers must be a list of minicnn layers", "ReLU"]),
    ((layer for layer in [L.ReLU()]), ["layers must be a list of minicnn layers", "generator"]),
])
def test_sequential_of_non_layers(layers, fragments):
    with pytest.raises(TypeError, match=msg(*fragments)):
        mc.Sequential(layers)


def test_sequential_accepts_a_tuple():
    assert len(mc.Sequential((L.Dense(3, 2), L.ReLU()))) == 2


def _cnn():
    return mc.Sequential([L.Conv2D(1, 4, 3, padding=1), L.ReLU(), L.MaxPool2D(2),
                          L.Flatten(), L.Dense(4 * 14 * 14, 10)])


@pytest.mark.parametrize("model, input_shape, fragments", [
    (_cnn(), (28, 28), ["layer 0", "Conv2D", "input shape (28, 28)", "(C, H, W)"]),
    (_cnn(), (3, 28, 28), ["layer 0", "expects 1", "has 3"]),
    (_cnn(), (1, 28, 28, 1), ["layer 0", "(C, H, W)"]),
    (_cnn(), (1, 28, 30), ["layer 4", "Dense", "input shape (840,)", "expects 784", "has 840"]),
    (mc.Sequential([L.Flatten(), L.Dense(100, 10)]), (1, 28, 28), ["layer 1", "expects 100", "has 784"]),
    (mc.Sequential([L.MaxPool2D(2), L.Conv2D(1, 2, 3)]), (1, 4, 4),
     ["layer 1", "Conv2D", "(1, 2, 2)", "window 3x3", "larger than the padded input 2x2"]),
    (mc.Sequential([L.Conv2D(1, 2, 3), L.MaxPool2D(4)]), (1, 5, 5), ["layer 1", "MaxPool2D", "window 4x4"]),
    (mc.Sequential([L.Dense(8, 4), L.BatchNorm(3)]), (8,), ["layer 1", "BatchNorm", "expects 3", "has 4"]),
    (mc.Sequential([L.Reshape((5, -1))]), (12,), ["layer 0", "cannot reshape", "(12,)", "(5, -1)"]),
])
def test_summary_with_a_shape_a_layer_cannot_take(model, input_shape, fragments):
    with pytest.raises(ValueError, match=msg(*fragments)):
        model.summary(input_shape)


@pytest.mark.parametrize("input_shape, exc, fragments", [
    (784, TypeError, ["input_shape must be a tuple of ints", "784"]),
    ((), TypeError, ["input_shape must be a tuple of ints"]),
    ((1, 0, 28), ValueError, ["input_shape must be >= 1", "got 0"]),
    ((1.0, 28, 28), TypeError, ["input_shape must be an int", "float"]),
])
def test_summary_bad_input_shape(input_shape, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        _cnn().summary(input_shape)


def test_summary_happy_path():
    text = _cnn().summary((1, 28, 28))
    assert "(4, 14, 14)" in text and "(784,)" in text and "(10,)" in text
    assert f"Total params: {4 * 9 + 4 + 784 * 10 + 10:,}" in text


# ---------------------------------------------------------------------------
# Parameter
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value, fragments", [
    ([1.0, 2.0], ["data must be a numpy.ndarray", "list"]),
    (1.0, ["data must be a numpy.ndarray", "float"]),
    (None, ["data must be a numpy.ndarray", "NoneType"]),
    (np.ones(3, np.int64), ["data must have a floating dtype", "int64"]),
    (np.ones(3, bool), ["data must have a floating dtype", "bool"]),
])
def test_parameter_of_a_non_float_array(value, fragments):
    with pytest.raises(TypeError, match=msg(*fragments)):
        mc.Parameter(value)


def test_parameter_accumulate_checks_the_shape():
    p = mc.Parameter(np.zeros((2, 3), np.float32))
    for bad in [np.ones(3), np.ones((1, 3)), np.ones((3, 2))]:
        with pytest.raises(ValueError, match=msg("grad must have the parameter's shape (2, 3)", str(bad.shape))):
            p.accumulate(bad)
    np.testing.assert_array_equal(p.grad, 0)               # nothing was broadcast in
    p.accumulate(np.ones((2, 3), np.float64))
    assert p.grad.dtype == np.float32 and p.grad.sum() == 6


# ---------------------------------------------------------------------------
# Files and state dicts
# ---------------------------------------------------------------------------
def _small():
    return mc.Sequential([L.Dense(3, 4), L.BatchNorm(4), L.ReLU(), L.Dense(4, 2)])


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=msg(str(path))):
        mc.Sequential.load(path)
    with pytest.raises(FileNotFoundError, match=msg(str(path))):
        load_npz(path)


def test_load_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    arrays = {k: v for k, v in _small().state_dict().items()}
    arrays["0.W"] = np.array([{"a": 1}, None], dtype=object)
    np.savez(path, allow_pickle=True, **arrays)
    for load in (mc.Sequential.load, load_npz):
        with pytest.raises(ValueError, match=msg(f"{path} is not", "'0.W' holds Python objects")) as info:
            load(path)
        assert "allow_pickle" not in str(info.value)       # a switch users don't have


@pytest.mark.parametrize("write, fragments", [
    (lambda p: p.write_bytes(b"not a numpy file at all"), ["is not a minicnn model file", "not an .npz"]),
    (lambda p: np.save(p.with_suffix(".npy"), np.ones(3)) or p.with_suffix(".npy").rename(p),
     ["is not a minicnn model file", "single NumPy array"]),
    (lambda p: np.savez(p, w=np.ones(3)), ["is not a minicnn model file", "no minicnn.Sequential/1 header"]),
])
def test_load_a_file_that_is_not_a_model(tmp_path, write, fragments):
    path = tmp_path / "bad.npz"
    write(path)
    with pytest.raises(ValueError, match=msg(str(path), *fragments)):
        mc.Sequential.load(path)


def test_save_load_round_trip(tmp_path):
    model = _small()
    model(data(5, 3), training=True)                  # move the BatchNorm running statistics
    model.save(tmp_path / "m.npz")
    loaded = mc.Sequential.load(tmp_path / "m.npz")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)


def test_load_state_dict_missing_and_unexpected_keys():
    model = _small()
    state = model.state_dict()
    del state["0.W"], state["1.running_var"]
    state["7.W"] = np.zeros(3)
    with pytest.raises(ValueError, match=msg("missing keys ['0.W', '1.running_var']", "unexpected keys ['7.W']")):
        model.load_state_dict(state)


def test_load_state_dict_wrong_shape_changes_nothing():
    model = _small()
    before = model.state_dict()
    state = {k: np.ones_like(v) for k, v in before.items()}
    state["3.W"] = np.ones((2, 4), np.float32)              # transposed
    with pytest.raises(ValueError, match=msg("3.W has shape (2, 4)", "the model expects (4, 2)")):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():           # checked before anything was copied
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_bad_values():
    model = _small()
    state = model.state_dict()
    state["0.b"] = np.array(["a"] * 4)
    with pytest.raises(ValueError, match=msg("0.b has non-numeric dtype")):
        model.load_state_dict(state)
    with pytest.raises(TypeError, match=msg("state must be a dict of arrays", "list")):
        model.load_state_dict(list(state.values()))


def test_load_state_dict_names_its_source(tmp_path):
    model = _small()
    model.save(tmp_path / "m.npz")
    other = mc.Sequential([L.Dense(3, 4), L.ReLU(), L.Dense(4, 2)])
    with pytest.raises(ValueError, match=msg(str(tmp_path / "m.npz"), "does not match the model")):
        other.load_state_dict(load_npz(tmp_path / "m.npz"), source=str(tmp_path / "m.npz"))


# ---------------------------------------------------------------------------
# manual_seed
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed, exc, fragments", [
    (-1, ValueError, ["seed must be >= 0", "got -1"]),
    (1.5, TypeError, ["seed must be an int", "float"]),
    (1.0, TypeError, ["seed must be an int", "float"]),
    ("3", TypeError, ["seed must be an int", "str"]),
    (True, TypeError, ["seed must be an int", "bool"]),
    (None, TypeError, ["seed must be an int", "NoneType"]),
])
def test_manual_seed_bad_seed(seed, exc, fragments):
    with pytest.raises(exc, match=msg(*fragments)):
        mc.manual_seed(seed)


def test_manual_seed_good_seeds_repeat():
    mc.manual_seed(np.int64(3))
    a = L.Dense(3, 2).params["W"].data
    mc.manual_seed(3)
    b = L.Dense(3, 2).params["W"].data
    np.testing.assert_array_equal(a, b)
    mc.manual_seed(0)
