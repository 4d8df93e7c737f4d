"""Backprop proven right: every layer and loss against central differences, float64.

Strategies draw shapes, kernels (square and not), strides, paddings (int, pair,
"same", "valid"), dilations and bias on/off; ``test_strategies_reach_*`` prove
that they really reach strides > 1, dilation > 1 and "same" padding.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import assume, event, find, given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import functional as F
from minicnn import layers as L
from minicnn.gradcheck import check_layer, numerical_gradient, relative_error

TOL = 1e-6
F64 = np.float64
seeds = st.integers(0, 2**32 - 1)


def assert_grads_ok(layer, x, seed=0):
    errors = check_layer(layer, x, seed=seed)
    assert set(errors) == {"input", *layer.params}
    worst = max(errors.values())
    assert worst <= TOL, errors
    return worst


def pairs(lo, hi):
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


def _hw(v):
    return (v, v) if isinstance(v, int) else v


# ---------------------------------------------------------------------------
# Conv2D
# ---------------------------------------------------------------------------
@st.composite
def conv_cases(draw):
    kh = draw(st.integers(1, 4))
    kw = draw(st.one_of(st.just(kh), st.integers(1, 4)))
    padding = draw(st.one_of(pairs(0, 2), st.sampled_from(["same", "valid"])))
    stride = draw(pairs(1, 3))          # "same" at stride > 1: TensorFlow's rule
    dilation = draw(pairs(1, 3))
    (dh, dw) = _hw(dilation)
    if padding == "same":
        pads = (dh * (kh - 1), dw * (kw - 1))       # at least enough for the window to fit
    elif padding == "valid":
        pads = (0, 0)
    else:
        pads = tuple(2 * p for p in _hw(padding))
    # smallest input the (dilated) window fits in, then a little more
    min_h = max(1, dh * (kh - 1) + 1 - pads[0])
    min_w = max(1, dw * (kw - 1) + 1 - pads[1])
    c_in, c_out, groups = draw(channels_and_groups())
    return dict(
        n=draw(st.integers(1, 2)), c_in=c_in, c_out=c_out,
        h=draw(st.integers(min_h, min_h + 5)), w=draw(st.integers(min_w, min_w + 5)),
        kernel_size=(kh, kw), stride=stride, padding=padding, dilation=dilation,
        bias=draw(st.booleans()), groups=groups)


@st.composite
def channels_and_groups(draw):
    """``(C_in, C_out, groups)``: half the cases groups = 1 with 1-3 channels each, half
    groups among the divisors of both (2 or 3 groups of 1-2 channels; depthwise included)."""
    if draw(st.booleans()):
        return draw(st.integers(1, 3)), draw(st.integers(1, 3)), 1
    groups = draw(st.sampled_from([2, 3]))
    return groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)), groups


def make_conv(case, dtype=F64):
    return L.Conv2D(case["c_in"], case["c_out"], case["kernel_size"], stride=case["stride"],
                    padding=case["padding"], dilation=case["dilation"], bias=case["bias"], dtype=dtype,
                    groups=case.get("groups", 1))


def describe(case):
    event(f"stride>1: {max(_hw(case['stride'])) > 1}")
    event(f"dilation>1: {max(_hw(case['dilation'])) > 1}")
    event(f"padding: {case['padding'] if isinstance(case['padding'], str) else type(case['padding']).__name__}")
    event(f"groups: {'1' if case['groups'] == 1 else 'depthwise' if case['groups'] == case['c_in'] else '> 1'}")


@given(conv_cases(), seeds)
def test_conv2d_gradients(case, seed):
    describe(case)
    mc.manual_seed(seed % 1000)
    layer = make_conv(case)
    x = np.random.default_rng(seed).standard_normal((case["n"], case["c_in"], case["h"], case["w"]))
    assert_grads_ok(layer, x, seed)


@given(conv_cases())
def test_conv2d_output_shape_formula(case):
    layer = make_conv(case, np.float32)
    x = np.zeros((case["n"], case["c_in"], case["h"], case["w"]), np.float32)
    y = layer.forward(x)
    (kh, kw), (sh, sw), (dh, dw) = case["kernel_size"], _hw(case["stride"]), _hw(case["dilation"])
    if case["padding"] == "same":              # ceil(H / stride): the input size at stride 1
        expected = (-(-case["h"] // sh), -(-case["w"] // sw))
    else:
        ph, pw = (0, 0) if case["padding"] == "valid" else _hw(case["padding"])
        expected = ((case["h"] + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                    (case["w"] + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
    assert y.shape == (case["n"], case["c_out"], *expected)
    assert layer.output_shape(x.shape[1:]) == y.shape[1:]


@pytest.mark.parametrize("what, predicate", [
    ("stride > 1 in both axes", lambda c: min(_hw(c["stride"])) > 1),
    ("dilation > 1 in both axes", lambda c: min(_hw(c["dilation"])) > 1),
    ("'same' padding with an even kernel", lambda c: c["padding"] == "same" and c["kernel_size"][0] % 2 == 0),
    ("'valid' padding", lambda c: c["padding"] == "valid"),
    ("padding given as a pair", lambda c: isinstance(c["padding"], tuple) and c["padding"][0] != c["padding"][1]),
    ("non-square kernel", lambda c: c["kernel_size"][0] != c["kernel_size"][1]),
    ("no bias", lambda c: not c["bias"]),
    ("groups > 1, not depthwise", lambda c: 1 < c["groups"] < c["c_in"]),
    ("depthwise with a channel multiplier", lambda c: c["groups"] == c["c_in"] > 1 and c["c_out"] > c["c_in"]),
    ("groups > 1 at stride > 1", lambda c: c["groups"] > 1 and min(_hw(c["stride"])) > 1),
    ("stride, dilation and padding all > 1",
     lambda c: min(_hw(c["stride"])) > 1 and min(_hw(c["dilation"])) > 1
     and isinstance(c["padding"], int) and c["padding"] > 1),
])
def test_strategies_reach(what, predicate):
    # find() raises NoSuchExample if the strategy can never produce such a case.
    case = find(conv_cases(), predicate)
    assert predicate(case), what


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------
@st.composite
def pool_cases(draw):
    kh = draw(st.integers(1, 4))
    kw = draw(st.one_of(st.just(kh), st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), pairs(1, 3)))
    padding = draw(st.one_of(st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2)), st.just("same")))
    pads = (kh - 1, kw - 1) if padding == "same" else (2 * padding[0], 2 * padding[1])
    min_h, min_w = max(1, kh - pads[0]), max(1, kw - pads[1])
    return dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, 3)),
                h=draw(st.integers(min_h, min_h + 6)), w=draw(st.integers(min_w, min_w + 6)),
                kernel_size=(kh, kw), stride=stride, padding=padding,
                count_include_pad=draw(st.booleans()), ceil_mode=draw(st.booleans()))


def hangs_over(case):
    """Whether a ceil-mode case has a last window hanging over the end of the padded input."""
    pool = L.MaxPool2D(case["kernel_size"], case["stride"], case["padding"], ceil_mode=case["ceil_mode"])
    pads = pool.pads_for((case["h"], case["w"]))
    return case["ceil_mode"] and F.ceil_pads((case["h"], case["w"]), pool.kernel_size, pool.stride, pads) != pads


def distinct_input(shape, seed):
    """Values 0.1 apart in random order: no ties, and no eps-step can reorder them."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) * 0.1 - size * 0.05


@pytest.mark.parametrize("cls", [L.MaxPool2D, L.AvgPool2D])
@given(case=pool_cases(), seed=seeds)
def test_pool_gradients(cls, case, seed):
    stride = case["stride"] or case["kernel_size"]
    event(f"overlapping windows: {any(s < k for s, k in zip(_hw(stride), case['kernel_size']))}")
    event(f"padded: {case['padding'] == 'same' or max(case['padding']) > 0}")
    event(f"ceil mode, a window hanging over: {hangs_over(case)}")
    layer = cls(case["kernel_size"], case["stride"], case["padding"], ceil_mode=case["ceil_mode"])
    if cls is L.AvgPool2D:
        layer = cls(case["kernel_size"], case["stride"], case["padding"], case["count_include_pad"],
                    ceil_mode=case["ceil_mode"])
    x = distinct_input((case["n"], case["c"], case["h"], case["w"]), seed)
    assert_grads_ok(layer, x, seed)


def test_pool_strategy_reaches_overlapping_padded_windows():
    case = find(pool_cases(), lambda c: c["stride"] is not None and min(_hw(c["stride"])) > 1
                and min(_hw(c["stride"])) < min(c["kernel_size"]) and c["padding"] != "same"
                and min(c["padding"]) > 0)
    assert case["padding"][0] > 0
    assert find(pool_cases(), lambda c: c["padding"] == "same" and c["stride"] is not None
                and min(_hw(c["stride"])) > 1)
    # ceil mode with a padded window hanging over the end, overlapping or not
    for overlapping in (True, False):
        find(pool_cases(), lambda c: hangs_over(c) and max(c["padding"]) > 0 and c["stride"] is not None
             and (min(_hw(c["stride"])) < min(c["kernel_size"])) == overlapping)


# ---------------------------------------------------------------------------
# 1-D convolution and pooling, global pooling, residual blocks
# ---------------------------------------------------------------------------
@st.composite
def conv1d_cases(draw):
    k, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    padding = draw(st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"])))
    pad = d * (k - 1) if padding == "same" else 0 if padding == "valid" else 2 * padding
    length = draw(st.integers(max(1, d * (k - 1) + 1 - pad), d * (k - 1) + 8))
    c, o, groups = draw(channels_and_groups())
    return dict(n=draw(st.integers(1, 2)), c=c, o=o, length=length, kernel_size=k, stride=draw(st.integers(1, 3)),
                padding=padding, dilation=d, bias=draw(st.booleans()), groups=groups)


@given(conv1d_cases(), seeds)
def test_conv1d_gradients(case, seed):
    mc.manual_seed(seed % 1000)
    layer = L.Conv1D(case["c"], case["o"], case["kernel_size"], case["stride"], case["padding"], case["dilation"],
                     case["bias"], dtype=F64, groups=case["groups"])
    x = np.random.default_rng(seed).standard_normal((case["n"], case["c"], case["length"]))
    assert_grads_ok(layer, x, seed)


@pytest.mark.parametrize("cls", [L.MaxPool1D, L.AvgPool1D])
@given(k=st.integers(1, 4), stride=st.one_of(st.none(), st.integers(1, 3)), same=st.booleans(),
       extra=st.integers(0, 6), include=st.booleans(), ceil=st.booleans(), seed=seeds)
def test_pool1d_gradients(cls, k, stride, same, extra, include, ceil, seed):
    padding = "same" if same else seed % (k // 2 + 1)
    layer = cls(k, stride, padding, ceil_mode=ceil) if cls is L.MaxPool1D else \
        cls(k, stride, padding, include, ceil_mode=ceil)
    length = max(1, k - (k - 1 if same else 2 * padding)) + extra
    assert_grads_ok(layer, distinct_input((2, 2, length), seed), seed)


@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 5), w=st.integers(1, 5), seed=seeds)
def test_global_avg_pool_gradients(n, c, h, w, seed):
    assert_grads_ok(L.GlobalAvgPool2D(), np.random.default_rng(seed).standard_normal((n, c, h, w)), seed)


@given(n=st.integers(1, 3), c=st.integers(1, 3), length=st.integers(1, 7), seed=seeds)
def test_global_avg_pool1d_gradients(n, c, length, seed):
    assert_grads_ok(L.GlobalAvgPool1D(), np.random.default_rng(seed).standard_normal((n, c, length)), seed)


@given(h=st.integers(1, 9), w=st.integers(1, 9),
       size=st.one_of(st.integers(1, 10), st.tuples(st.one_of(st.none(), st.integers(1, 10)),
                                                   st.one_of(st.none(), st.integers(1, 10)))),
       seed=seeds)
def test_adaptive_avg_pool_gradients(h, w, size, seed):
    """Any input and output size: bins that overlap (out does not divide in), bins of one pixel
    repeated (out > in), plain windows (out divides in) and None (the side kept)."""
    event(f"overlapping bins: {any(o is not None and n % o != 0 for o, n in zip(_hw(size), (h, w)))}")
    layer = L.AdaptiveAvgPool2D(size)
    assert_grads_ok(layer, np.random.default_rng(seed).standard_normal((2, 2, h, w)), seed)


@given(c=st.integers(1, 3), side=st.integers(2, 6), projection=st.booleans(), seed=seeds)
def test_residual_gradients_with_batchnorm_in_training(c, side, projection, seed):
    """A ResNet block, BatchNorm in training mode inside; an identity or a projection shortcut."""
    mc.manual_seed(seed % 1000)
    if projection:        # the block halves the size and doubles the channels: so does the shortcut
        layer = L.Residual([L.Conv2D(c, 2 * c, 3, stride=2, padding=1, bias=False, dtype=F64),
                            L.BatchNorm(2 * c, dtype=F64), L.ReLU(),
                            L.Conv2D(2 * c, 2 * c, 3, padding=1, bias=False, dtype=F64), L.BatchNorm(2 * c, dtype=F64)],
                           # (no BatchNorm after the 1x1 conv: with one input channel it would make
                           # the loss blind to the conv's weights, whose gradient is then 0 + noise)
                           [L.Conv2D(c, 2 * c, 1, stride=2, dtype=F64)])
    else:
        layer = L.Residual([L.Conv2D(c, c, 3, padding=1, bias=False, dtype=F64), L.BatchNorm(c, dtype=F64),
                            L.Tanh(), L.Conv2D(c, c, 3, padding=1, dtype=F64)])
    side = max(side, 4) if projection else side    # BatchNorm needs a few values per channel after stride 2
    x = np.random.default_rng(seed).standard_normal((3, c, side, side))
    assert_grads_ok(layer, x, seed)


def assert_network_gradients_ok(model):
    """Sequential backward reaches every parameter of ``model`` (on (4, 2, 5, 5), 3 classes)
    with the finite-difference gradients, and with input_grad=False gives the same ones."""
    x = np.random.default_rng(0).standard_normal((4, 2, 5, 5))
    y = np.array([0, 1, 2, 0])
    loss = mc.losses.CrossEntropy()

    def f(_):
        return loss.forward(model.forward(x, training=True), y)

    f(None)
    dx = model.backward(loss.backward())
    analytic = [p.grad.copy() for p in model.parameters()]
    assert relative_error(dx, numerical_gradient(f, x)) <= TOL
    for p, a in zip(model.parameters(), analytic):
        assert relative_error(a, numerical_gradient(f, p.data)) <= TOL
    for p in model.parameters():
        p.zero_grad()
    f(None)
    assert model.backward(loss.backward(), input_grad=False) is None
    for p, a in zip(model.parameters(), analytic):
        np.testing.assert_allclose(p.grad, a, rtol=1e-12, atol=1e-15)


def test_residual_in_a_network_trains_every_branch():
    """Sequential backward through nested residuals reaches every parameter, with input_grad
    True or False; the identity shortcut adds the gradient itself."""
    mc.manual_seed(0)
    inner = L.Residual([L.Conv2D(2, 2, 3, padding=1, dtype=F64), L.ReLU()])
    model = mc.Sequential([L.Residual([inner, L.Conv2D(2, 2, 1, dtype=F64)]), L.GlobalAvgPool2D(), L.Dense(2, 3, dtype=F64)])
    assert_network_gradients_ok(model)


@st.composite
def concat_layers(draw, c):
    """A Concat on c channels: 1x1 and 3x3 "same" convolutions, BatchNorm, a pooling
    branch, and maybe a branch forking again into a nested Concat (Inception-v4's InceptionC)."""
    kinds = draw(st.lists(st.sampled_from(["1x1", "3x3", "bn", "pool", "nested", "one layer"]),
                          min_size=1, max_size=4))
    branches = []
    for kind in kinds:
        w = draw(st.integers(1, 3))
        if kind == "1x1":
            branches.append([L.Conv2D(c, w, 1, dtype=F64)])
        elif kind == "3x3":
            branches.append([L.Conv2D(c, w, 3, padding=1, dtype=F64), L.Tanh()])
        elif kind == "bn":
            # (a 3x3 conv: after a 1x1 conv of one channel, BatchNorm would make the loss blind to W)
            branches.append([L.Conv2D(c, w, 3, padding=1, bias=False, dtype=F64), L.BatchNorm(w, dtype=F64),
                             L.Tanh()])
        elif kind == "pool":
            branches.append([L.AvgPool2D(3, 1, 1, count_include_pad=False), L.Conv2D(c, w, 1, dtype=F64)])
        elif kind == "nested":
            branches.append([L.Conv2D(c, 2, 1, dtype=F64),
                             L.Concat([L.Conv2D(2, w, (1, 3), padding=(0, 1), dtype=F64),
                                       [L.Conv2D(2, 1, (3, 1), padding=(1, 0), dtype=F64)]])])
        else:
            branches.append(L.Conv2D(c, w, 3, padding=1, dtype=F64))
    event(f"branches: {len(kinds)}; nested: {'nested' in kinds}")
    return L.Concat(branches)


@given(data=st.data(), c=st.integers(1, 3), side=st.integers(2, 5), seed=seeds)
def test_concat_gradients(data, c, side, seed):
    """dy split by the branches' channels, each branch's input gradient added: the gradients
    of x and of every parameter of every branch (nested ones too) match central differences."""
    mc.manual_seed(seed % 1000)
    layer = data.draw(concat_layers(c))
    x = np.random.default_rng(seed).standard_normal((3, c, side, side))
    assert_grads_ok(layer, x, seed)


@given(c=st.integers(1, 5), s=st.integers(1, 4), n=st.integers(1, 3), h=st.integers(1, 4),
       w=st.integers(1, 4), seed=seeds)
def test_squeeze_excitation_gradients(c, s, n, h, w, seed):
    """dx = dy * g + the gate's input gradient of sum_hw(dy * x): x reaches y twice."""
    mc.manual_seed(seed % 1000)
    layer = L.SqueezeExcitation(c, s, dtype=F64)
    for p in layer.params.values():         # biases away from 0: the gate's ReLU is not all on or off
        if p.data.ndim == 1:
            p.data[...] = np.random.default_rng(seed + 1).normal(size=p.data.shape) * 0.5
    assert_grads_ok(layer, np.random.default_rng(seed).standard_normal((n, c, h, w)), seed)


def test_inception_and_se_in_a_network_train_every_branch():
    """Sequential backward through a Concat and an SE block reaches every parameter; with
    input_grad=False the parameters get the same gradients."""
    mc.manual_seed(0)
    model = mc.Sequential([L.Concat([[L.Conv2D(2, 2, 1, dtype=F64)],
                                     [L.Conv2D(2, 1, 3, padding=1, dtype=F64), L.ReLU()],
                                     [L.MaxPool2D(3, 1, 1, ceil_mode=True)]]),
                           L.SqueezeExcitation(5, 2, dtype=F64), L.GlobalAvgPool2D(), L.Dense(5, 3, dtype=F64)])
    assert_network_gradients_ok(model)


def test_maxpool_tie_goes_to_first_in_row_major_order():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [2.0, 3.0, 1.0]]]])
    layer = L.MaxPool2D(3, stride=1)
    y = layer.forward(x, training=True)
    assert y.item() == 3.0
    dx = layer.backward(np.ones_like(y))
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = 1.0      # the first 3 in row-major order
    np.testing.assert_array_equal(dx, expected)


def test_maxpool_overlapping_ties_each_window_picks_its_first():
    # k2 s1 on a constant row: every window ties; each sends its gradient to its own first pixel.
    x = np.ones((1, 1, 1, 4))
    layer = L.MaxPool2D((1, 2), stride=1)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.array([[[[1.0, 10.0, 100.0]]]]))
    np.testing.assert_array_equal(y, np.ones((1, 1, 1, 3)))
    np.testing.assert_array_equal(dx, [[[[1.0, 10.0, 100.0, 0.0]]]])


@pytest.mark.parametrize("reference", [False, True])
def test_maxpool_ties_route_as_pytorch_does(reference):
    """A second test of ties, against PyTorch 2.13's gradients (torch.nn.functional.max_pool2d
    and max_pool1d): disjoint windows (the fast backward's case), overlapping windows of a
    constant map, and a 1-D ceil-mode pool with padding, on both paths."""
    cases = [
        (L.MaxPool2D(2), [[5, 5, 1, 5], [5, 5, 5, 5], [0, 2, 2, 0], [2, 2, 0, 2]], [[1, 10], [100, 1000]],
         [[1, 0, 0, 10], [0, 0, 0, 0], [0, 100, 1000, 0], [0, 0, 0, 0]]),
        (L.MaxPool2D(2, 1), np.full((3, 3), 3.0), [[1, 10], [100, 1000]], [[1, 10, 0], [100, 1000, 0], [0, 0, 0]]),
        (L.MaxPool1D(3, 2, padding=1, ceil_mode=True), [-2, -2, 7, 7, 7], [1, 10, 100], [1, 0, 10, 100, 0]),
    ]
    for layer, x, g, expected in cases:
        x, g = np.asarray(x, F64)[None, None], np.asarray(g, F64)[None, None]
        with mc.reference_paths() if reference else contextlib.nullcontext():
            layer.forward(x, training=True)
            np.testing.assert_array_equal(layer.backward(g), np.asarray(expected, F64)[None, None])


def test_avgpool_counts_zero_padding():
    x = np.ones((1, 1, 2, 2))
    y = L.AvgPool2D(2, stride=2, padding=1).forward(x)
    np.testing.assert_allclose(y, np.full((1, 1, 2, 2), 0.25))


def test_maxpool_pads_with_minus_infinity():
    x = -np.ones((1, 1, 2, 2))
    y = L.MaxPool2D(2, stride=2, padding=1).forward(x)
    np.testing.assert_array_equal(y, -np.ones((1, 1, 2, 2)))


# ---------------------------------------------------------------------------
# Dense, shapes, activations
# ---------------------------------------------------------------------------
@given(n=st.integers(1, 4), fin=st.integers(1, 6), fout=st.integers(1, 6), bias=st.booleans(), seed=seeds)
def test_dense_gradients(n, fin, fout, bias, seed):
    mc.manual_seed(seed % 1000)
    layer = L.Dense(fin, fout, bias=bias, dtype=F64)
    assert_grads_ok(layer, np.random.default_rng(seed).standard_normal((n, fin)), seed)


def test_dense_keeps_leading_axes():
    layer = L.Dense(4, 3, dtype=F64)
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    assert layer.forward(x).shape == (2, 5, 3)
    assert_grads_ok(layer, x)


shapes = st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple)


@pytest.mark.parametrize("make", [L.Flatten, lambda: L.Reshape((-1, 1))])
@given(shape=shapes, seed=seeds)
def test_reshape_gradients(make, shape, seed):
    assert_grads_ok(make(), np.random.default_rng(seed).standard_normal(shape), seed)


def away_from_zero(shape, seed):
    """|x| >= 0.1, so the kink of ReLU is never inside a finite-difference step."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * (0.1 + np.abs(rng.standard_normal(shape)))


@pytest.mark.parametrize("make", [L.ReLU, L.ReLU6, L.LeakyReLU, lambda: L.LeakyReLU(0.3), L.Sigmoid, L.Tanh,
                                  L.Softmax, lambda: L.Softmax(axis=1)])
@given(shape=shapes, seed=seeds)
def test_activation_gradients(make, shape, seed):
    assert_grads_ok(make(), away_from_zero(shape, seed), seed)


def away_from_kinks(shape, seed, kinks=(-3.0, 0.0, 3.0)):
    """Values in [-5, 5] at least 0.05 from each kink (Hardswish's, Hardsigmoid's -3 and 3, ReLU6's 0)."""
    x = np.random.default_rng(seed).uniform(-5, 5, shape)
    for kink in kinks:
        near = np.abs(x - kink) < 0.05
        x[near] = kink + np.where(x[near] >= kink, 0.05, -0.05)
    return x


@pytest.mark.parametrize("make", [L.SiLU, L.Hardsigmoid, L.Hardswish, L.LogSoftmax, lambda: L.LogSoftmax(axis=1)])
@given(shape=shapes, seed=seeds)
def test_mobile_activation_gradients(make, shape, seed):
    """SiLU, the hard functions of MobileNetV3 (between their kinks), LogSoftmax along either axis."""
    assert_grads_ok(make(), away_from_kinks(shape, seed), seed)


@given(c=st.integers(1, 4), rest=st.lists(st.integers(1, 3), max_size=2), per_channel=st.booleans(), seed=seeds)
def test_normalize_gradients(c, rest, per_channel, seed):
    rng = np.random.default_rng(seed)
    count = c if per_channel else 1
    layer = L.Normalize(rng.normal(size=count), rng.choice([-1, 1], count) * rng.uniform(0.2, 3, count))
    assert_grads_ok(layer, rng.standard_normal((2, c, *rest)), seed)


@given(groups=st.integers(1, 3), k=st.integers(1, 3), rest=st.lists(st.integers(1, 3), max_size=2), seed=seeds)
def test_channel_shuffle_gradients(groups, k, rest, seed):
    """The backward is the inverse permutation (a shuffle of k groups)."""
    assert_grads_ok(L.ChannelShuffle(groups), np.random.default_rng(seed).standard_normal((2, groups * k, *rest)), seed)


@given(data=st.data(), c=st.integers(1, 5), seed=seeds)
def test_channel_slice_gradients(data, c, seed):
    start = data.draw(st.integers(0, c - 1))
    layer = L.ChannelSlice(start, data.draw(st.integers(start + 1, c)))
    assert_grads_ok(layer, np.random.default_rng(seed).standard_normal((2, c, 3)), seed)


@given(activation=st.sampled_from(["ReLU", "SiLU", "Hardswish", "ReLU6"]),
       scale_activation=st.sampled_from(["Sigmoid", "Hardsigmoid"]), batch_norm=st.booleans(),
       c=st.integers(2, 5), s=st.integers(1, 3), seed=seeds)
def test_squeeze_excitation_gate_gradients(activation, scale_activation, batch_norm, c, s, seed):
    """The gates of SENet, MobileNetV3 (Hardsigmoid), EfficientNet (SiLU), and with a BatchNorm in the
    squeeze (in training: the batch's statistics): x and every parameter against central differences.
    Random weights of moderate size keep the gate's values off the kinks of its activations."""
    mc.manual_seed(seed % 1000)
    layer = L.SqueezeExcitation(c, s, activation, scale_activation, batch_norm=batch_norm, dtype=F64)
    rng = np.random.default_rng(seed + 1)
    for name, p in layer.params.items():
        p.data[...] = rng.normal(size=p.shape) * 0.7 + (1.0 if name.endswith("gamma") else 0.0)
    assert_grads_ok(layer, np.random.default_rng(seed).standard_normal((4, c, 3, 2)), seed)


@given(n=st.integers(1, 5), c=st.integers(1, 6), seed=seeds)
def test_nll_loss_gradient(n, c, seed):
    """NLLLoss on log-probabilities: -onehot / N; after LogSoftmax it is CrossEntropy's gradient."""
    rng = np.random.default_rng(seed)
    z, y = rng.standard_normal((n, c)), rng.integers(0, c, n)
    log_probs = L.LogSoftmax().forward(z)
    loss = mc.losses.NLLLoss()
    loss.forward(log_probs, y)
    assert relative_error(loss.backward(), numerical_gradient(lambda _: mc.losses.NLLLoss().forward(log_probs, y),
                                                              log_probs)) <= TOL
    layer = L.LogSoftmax()
    nll = mc.losses.NLLLoss()
    nll.forward(layer.forward(z, training=True), y)
    ce = mc.losses.CrossEntropy()
    ce.forward(z, y)
    np.testing.assert_allclose(layer.backward(nll.backward()), ce.backward(), rtol=1e-12, atol=1e-15)


#: Every kink of the activations with the gradient there, PyTorch 2.13's (torch.nn.ReLU, ReLU6,
#: LeakyReLU): 0 at ReLU's 0 and at both ends of ReLU6, negative_slope at LeakyReLU's 0, for +0
#: and -0 alike; beside each kink (2**-14 away, in float16 too) the slope of its side.
#: Exact zeros are common (zero padding, an earlier ReLU's output, clipped images), and the
#: finite-difference tests above keep away from them.
TINY, BELOW_SIX = 2.0 ** -14, 6.0 - 2.0 ** -8
KINKS = [
    (L.ReLU, [-1.0, -TINY, -0.0, 0.0, TINY, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]),
    (L.ReLU6, [-TINY, -0.0, 0.0, TINY, BELOW_SIX, 6.0, 6.0 + 2.0 ** -8, 7.0], [0, 0, 0, 1, 1, 0, 0, 0]),
    (lambda: L.LeakyReLU(0.25), [-1.0, -TINY, -0.0, 0.0, TINY, 1.0], [0.25, 0.25, 0.25, 0.25, 1.0, 1.0]),
    (L.LeakyReLU, [-0.0, 0.0], [0.01, 0.01]),
    (lambda: L.LeakyReLU(0.0), [-1.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
    (lambda: L.LeakyReLU(2.0), [-1.0, 0.0, 1.0], [2.0, 2.0, 1.0]),
    # MobileNetV3's (PyTorch's values at -3 and 3: Hardswish 0 and 1, Hardsigmoid 0 at both)
    (L.Hardswish, [-4.0, -3.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]),
    (L.Hardsigmoid, [-4.0, -3.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]),
]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("make, x, slope", KINKS)
def test_activation_gradients_at_their_kinks(make, x, slope, dtype):
    layer = make()
    x = np.array([x], dtype)
    layer.forward(x, training=True)
    grad = np.full_like(x, 3.0)
    np.testing.assert_array_equal(layer.backward(grad), grad * np.array([slope], dtype))


def test_relu_kink_in_a_network_where_the_relu_runs_after_the_pool():
    """A ReLU before a MaxPool2D runs after it on the fast paths (Chain._running_order): a window
    whose maximum is exactly 0 still sends no gradient, on both paths."""
    x = np.array([[[[0.0, -1.0, 2.0, 0.0], [-3.0, 0.0, 0.0, -0.0],
                    [0.0, 0.0, -1.0, -2.0], [0.0, 0.0, -5.0, 0.0]]]])
    grads = []
    for reference in (False, True):
        model = mc.Sequential([L.ReLU(), L.MaxPool2D(2)])
        with mc.reference_paths() if reference else contextlib.nullcontext():
            model.forward(x, training=True)
            grads.append(model.backward(np.ones((1, 1, 2, 2))))
    expected = np.zeros_like(x)
    expected[0, 0, 0, 2] = 1.0                  # the one window whose maximum (2) is above the kink
    np.testing.assert_array_equal(grads[0], expected)
    np.testing.assert_array_equal(grads[1], expected)


def test_softmax_is_stable_for_huge_inputs():
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0]])
    y = L.Softmax().forward(x)
    np.testing.assert_allclose(y, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


def test_sigmoid_is_stable_for_huge_inputs():
    y = L.Sigmoid().forward(np.array([-1e4, 0.0, 1e4]))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


# ---------------------------------------------------------------------------
# Dropout and BatchNorm
# ---------------------------------------------------------------------------
@given(shape=shapes, p=st.sampled_from([0.0, 0.2, 0.5, 0.9]), seed=seeds)
def test_dropout_gradients_with_mask_held_fixed(shape, p, seed):
    layer = L.Dropout(p)
    mask = layer._draw_mask(shape, np.dtype(F64))
    layer._draw_mask = lambda *_: mask          # hold the mask fixed for finite differences
    assert_grads_ok(layer, np.random.default_rng(seed).standard_normal(shape), seed)


def test_dropout_scales_kept_units_and_is_identity_in_eval():
    mc.manual_seed(3)
    x = np.ones((200, 50))
    y = L.Dropout(0.4).forward(x, training=True)
    assert set(np.unique(y)) <= {0.0, 1 / 0.6}
    assert abs((y == 0).mean() - 0.4) < 0.02
    assert L.Dropout(0.4).forward(x) is x


@pytest.mark.parametrize("p", [0.25, 0.75])
def test_dropout_scales_by_one_over_the_keep_probability_forward_and_backward(p):
    """A second test of the scaling: every kept value is x / (1 - p) exactly, the gradient is
    the same mask (dy / (1 - p) where kept, 0 elsewhere), to rounding, and the mean over many draws is x."""
    mc.manual_seed(5)
    x = np.tile(np.arange(1.0, 9.0), (4000, 1))
    layer = L.Dropout(p)
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-15)
    dy = np.full_like(x, 2.0)
    np.testing.assert_allclose(layer.backward(dy), np.where(kept, 2.0 / (1 - p), 0.0), rtol=1e-15)
    np.testing.assert_allclose(y.mean(axis=0), x[0], rtol=0.05)       # inverted dropout keeps E[y] = x


def test_dropout_masks_repeat_under_manual_seed():
    x = np.ones((4, 10), np.float32)
    mc.manual_seed(11)
    a = L.Dropout(0.5).forward(x, training=True)
    mc.manual_seed(11)
    b = L.Dropout(0.5).forward(x, training=True)
    np.testing.assert_array_equal(a, b)


def test_batchnorm_momentum_over_two_steps_as_pytorch():
    """A second test of the running statistics, against PyTorch 2.13's BatchNorm1d(2, momentum)
    over two batches: running = (1 - momentum) running + momentum batch, with the unbiased
    batch variance; momentum 0 keeps the start, 1 keeps only the last batch."""
    x1 = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 4.0], [4.0, 4.0]])
    x2 = np.array([[0.0, 5.0], [0.0, -1.0], [4.0, 2.0], [4.0, 2.0]])
    expected = {0.25: [([0.625, 0.5], [1.1666666666666667, 2.083333333333333]),
                       ([0.96875, 0.875], [2.208333333333333, 3.0625])],
                0.0: [([0.0, 0.0], [1.0, 1.0])] * 2,
                1.0: [([2.5, 2.0], [1.6666666666666667, 5.333333333333333]), ([2.0, 2.0], [5.333333333333333, 6.0])]}
    for momentum, steps in expected.items():
        layer = L.BatchNorm(2, momentum=momentum, dtype=F64)
        for x, (mean, var) in zip((x1, x2), steps):
            layer.forward(x, training=True)
            np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-15)
            np.testing.assert_allclose(layer.running_var, var, rtol=1e-15)
        layer.forward(x1)                                  # eval: no update
        np.testing.assert_allclose(layer.running_mean, steps[-1][0], rtol=1e-15)


@given(n=st.integers(2, 4), c=st.integers(1, 3), spatial=st.sampled_from([(), (1, 1), (2, 3), (3, 3)]),
       seed=seeds)
def test_batchnorm_training_gradients(n, c, spatial, seed):
    # With 2 values per channel the normalised output is +-1 whatever x is, so the input
    # gradient is ~0 and finite differences measure only their own rounding: skip m = 2.
    assume(n * int(np.prod(spatial)) >= 3)
    event(f"input ndim {2 + len(spatial)}")
    layer = L.BatchNorm(c, dtype=F64)
    rng = np.random.default_rng(seed)
    layer.params["gamma"].data[:] = rng.uniform(0.5, 2.0, c)   # not 1, so dgamma matters
    layer.params["beta"].data[:] = rng.standard_normal(c)
    x = rng.standard_normal((n, c, *spatial)) * 2 + 1
    assert_grads_ok(layer, x, seed)


# ---------------------------------------------------------------------------
# Grouped convolution and local response normalisation
# ---------------------------------------------------------------------------
@given(conv_cases(), seeds)
def test_grouped_conv_is_one_conv_per_group_concatenated(case, seed):
    """The definition: groups=G equals G independent convolutions (group g's C/G inputs to
    its O/G outputs with its block of W), outputs concatenated along channels; and every
    gradient is the matching block of theirs."""
    assume(case["groups"] > 1)
    mc.manual_seed(seed % 1000)
    layer = make_conv(case)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["c_in"], case["h"], case["w"]))
    y = layer.forward(x, training=True)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    G, ci, co = case["groups"], case["c_in"] // case["groups"], case["c_out"] // case["groups"]
    for k in range(G):
        part = make_conv(dict(case, c_in=ci, c_out=co, groups=1))
        part.params["W"].data[...] = layer.params["W"].data[k * co:(k + 1) * co]
        if case["bias"]:
            part.params["b"].data[...] = layer.params["b"].data[k * co:(k + 1) * co]
        with mc.reference_paths():
            y_k = part.forward(x[:, k * ci:(k + 1) * ci], training=True)
            dx_k = part.backward(g[:, k * co:(k + 1) * co])
        np.testing.assert_allclose(y[:, k * co:(k + 1) * co], y_k, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx[:, k * ci:(k + 1) * ci], dx_k, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.params["W"].grad[k * co:(k + 1) * co], part.params["W"].grad,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [L.Conv2D, L.Conv1D])
def test_groups_must_divide_both_channel_counts(cls):
    with pytest.raises(ValueError, match="in_channels .* divisible by groups"):
        cls(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="out_channels .* divisible by groups"):
        cls(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="groups must be >= 1"):
        cls(4, 6, 3, groups=0)
    with pytest.raises(TypeError, match="groups must be an int"):
        cls(4, 6, 3, groups=2.0)
    layer = cls(6, 12, 3, groups=6)                          # depthwise, 2 outputs per channel
    assert layer.params["W"].shape[:2] == (12, 1) and layer.config()["groups"] == 6


def test_grouped_conv_he_init_uses_the_fan_in_of_a_group():
    """PyTorch's fan_in, (C/groups)*kh*kw: a depthwise 3x3 kernel has std sqrt(2/9)."""
    mc.manual_seed(0)
    w = L.Conv2D(512, 512, 3, groups=512).params["W"].data
    np.testing.assert_allclose(w.std(), np.sqrt(2 / 9), rtol=0.03)


def lrn_reference(x, size, alpha, beta, k):
    """PyTorch's formula, channel by channel."""
    c = x.shape[1]
    out = np.empty_like(x)
    for ch in range(c):
        window = x[:, max(0, ch - size // 2):min(c, ch + (size - 1) // 2 + 1)]
        out[:, ch] = x[:, ch] * (k + alpha / size * (window ** 2).sum(axis=1)) ** -beta
    return out


@st.composite
def lrn_cases(draw):
    spatial = draw(st.sampled_from([(3,), (2, 3), (2, 1, 2)]))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 7)), *spatial), size=draw(st.integers(1, 9)),
                alpha=draw(st.sampled_from([1e-4, 0.1, 1.0, 2.0])), beta=draw(st.sampled_from([0.0, 0.5, 0.75, 2.0])),
                k=draw(st.sampled_from([0.5, 1.0, 2.0])))


@given(lrn_cases(), seeds)
def test_local_response_norm_forward_is_pytorchs_formula(case, seed):
    x = np.random.default_rng(seed).standard_normal(case["shape"]) * 2
    layer = L.LocalResponseNorm(case["size"], case["alpha"], case["beta"], case["k"])
    np.testing.assert_allclose(layer.forward(x), lrn_reference(x, case["size"], case["alpha"], case["beta"], case["k"]),
                               rtol=1e-13, atol=1e-15)


@given(lrn_cases(), seeds)
def test_local_response_norm_gradients(case, seed):
    event(f"size {'<' if case['size'] < case['shape'][1] else '>='} C")
    x = np.random.default_rng(seed).standard_normal(case["shape"]) * 2
    assert_grads_ok(L.LocalResponseNorm(case["size"], case["alpha"], case["beta"], case["k"]), x, seed)


def test_local_response_norm_keeps_float32_and_refuses_2d_input():
    x = np.random.default_rng(0).standard_normal((2, 8, 5)).astype(np.float32)
    layer = L.LocalResponseNorm(5, alpha=1.0)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    np.testing.assert_allclose(y, lrn_reference(x.astype(np.float64), 5, 1.0, 0.75, 1.0), rtol=1e-6)
    with pytest.raises(ValueError, match="x"):
        layer.forward(np.ones((2, 8), np.float32))


def test_batchnorm_running_statistics_follow_pytorch():
    x = np.random.default_rng(0).standard_normal((8, 3, 4, 4)).astype(np.float32) * 3 + 2
    layer = L.BatchNorm(3, momentum=0.1)
    y = layer.forward(x, training=True)
    mean, var_unbiased = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.running_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * var_unbiased, rtol=1e-5)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    # eval mode uses the running statistics
    y_eval = layer.forward(x)
    expected = (x - layer.running_mean[:, None, None]) / np.sqrt(layer.running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(y_eval, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------
@given(n=st.integers(1, 5), c=st.integers(2, 6), soft=st.booleans(), seed=seeds)
def test_cross_entropy_gradient(n, c, soft, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, c)) * 3
    target = rng.dirichlet(np.ones(c), size=n) if soft else rng.integers(0, c, n)
    loss = mc.losses.CrossEntropy()
    loss.forward(logits, target)
    analytic = loss.backward().copy()
    numeric = numerical_gradient(lambda z: loss.forward(z, target), logits)
    assert relative_error(analytic, numeric) <= TOL


@given(shape=shapes, seed=seeds)
def test_mse_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    loss = mc.losses.MSE()
    value = loss.forward(pred, target)
    assert value == pytest.approx(np.mean((pred - target) ** 2))
    analytic = loss.backward().copy()
    numeric = numerical_gradient(lambda p: loss.forward(p, target), pred)
    assert relative_error(analytic, numeric) <= TOL


def test_cross_entropy_exact_for_huge_logits():
    loss = mc.losses.CrossEntropy()
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]])
    assert loss.forward(logits, np.array([0, 0])) == pytest.approx(1e4 / 2)
    np.testing.assert_allclose(loss.backward(), [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-12)


def test_cross_entropy_labels_equal_one_hot_probabilities():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    a, b = mc.losses.CrossEntropy(), mc.losses.CrossEntropy()
    assert a.forward(logits, labels) == pytest.approx(b.forward(logits, np.eye(3, dtype=np.float32)[labels]))
    np.testing.assert_allclose(a.backward(), b.backward(), rtol=1e-6)
    assert a.backward().dtype == np.float32


# ---------------------------------------------------------------------------
# A whole network, end to end
# ---------------------------------------------------------------------------
def test_sequential_gradients_through_every_kind_of_layer():
    mc.manual_seed(0)
    model = mc.Sequential([
        L.Conv2D(2, 3, 3, padding="same", bias=False, dtype=F64), L.BatchNorm(3, dtype=F64), L.Tanh(),
        L.MaxPool2D(2), L.Conv2D(3, 4, (2, 3), stride=(1, 2), dilation=(2, 1), dtype=F64), L.Sigmoid(),
        L.AvgPool2D(2, stride=1, padding=1), L.Flatten(), L.Dense(4 * 3 * 2, 5, dtype=F64),
    ])
    x = np.random.default_rng(0).standard_normal((3, 2, 8, 8))
    y = np.array([0, 3, 4])
    loss = mc.losses.CrossEntropy()

    def f(_):
        return loss.forward(model.forward(x, training=True), y)

    f(None)
    for p in model.parameters():
        p.zero_grad()
    dx = model.backward(loss.backward())
    analytic = [p.grad.copy() for p in model.parameters()]
    assert relative_error(dx, numerical_gradient(f, x)) <= TOL
    for p, a in zip(model.parameters(), analytic):
        assert relative_error(a, numerical_gradient(f, p.data)) <= TOL


def test_gradients_accumulate_until_zero_grad():
    layer = L.Dense(3, 2, dtype=F64)
    x = np.ones((2, 3))
    for _ in range(2):
        layer.forward(x, training=True)
        layer.backward(np.ones((2, 2)))
    np.testing.assert_allclose(layer.params["b"].grad, [4.0, 4.0])
    mc.optim.SGD(layer.params.values(), lr=0.1).zero_grad()
    np.testing.assert_array_equal(layer.params["b"].grad, 0)


def test_gradcheck_catches_a_wrong_gradient():
    class WrongReLU(L.ReLU):
        def backward(self, grad_out):
            return super().backward(grad_out) * 1.001     # 0.1% off

    x = away_from_zero((2, 5), 0)
    assert check_layer(WrongReLU(), x)["input"] > 1e-4
    assert check_layer(L.ReLU(), x)["input"] <= TOL


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 3.0])
    g = numerical_gradient(lambda v: np.sum(v ** 3), x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])        # restored


def test_functional_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> == <x, col2im(c)> for any x and c: the defining property of the backward pass.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = F.im2col(x, (3, 2), (2, 1), (1, 2))
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * F.col2im(c, x.shape, (3, 2), (2, 1), (1, 2)))
    assert lhs == pytest.approx(rhs, rel=1e-12)
