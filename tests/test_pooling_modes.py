"""Ceil-mode pooling, adaptive average pooling and 1-D global pooling: PyTorch's
rules on worked examples, their relations to the other pools, config and files.

Gradients: tests/test_gradients.py; bad arguments and any input: tests/test_fuzz_core.py;
fast path against reference: tests/test_fast_paths.py; against PyTorch itself on random
shapes: benchmarks/parity_torch.py.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import functional as F
from minicnn import layers as L


def row(*values):
    """A one-row image (1, 1, 1, W)."""
    return np.array(values, dtype=np.float64)[None, None, None, :]


# ---------------------------------------------------------------------------
# ceil_mode: PyTorch's rule, worked examples (values computed by torch 2.13)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("size, kernel, stride, pad, floor, ceil", [
    (5, 2, 2, 0, 2, 3),      # ceil(3/2) + 1 = 3: the last window holds the last pixel and hangs over by one
    (6, 2, 2, 0, 3, 3),      # exact fit: no difference
    (5, 2, 2, 1, 3, 3),      # ceil(5/2) + 1 = 4, but window 4 would start at 6 >= 5 + 1 (the right padding)
    (7, 3, 2, 1, 4, 4),
    (8, 3, 2, 1, 4, 5),      # GoogLeNet's 3x3 stride-2 pool on an even side (torchvision: ceil_mode=True)
    (112, 3, 2, 0, 55, 56),  # torchvision GoogLeNet's maxpool1: 112 -> 56
    (2, 3, 2, 0, None, 1),   # a window larger than the input: refused in floor mode, one window in ceil
])
def test_ceil_mode_output_size(size, kernel, stride, pad, floor, ceil):
    for ceil_mode, expected in ((False, floor), (True, ceil)):
        layer = L.MaxPool2D((1, kernel), (1, stride), (0, pad), ceil_mode=ceil_mode)
        if expected is None:
            with pytest.raises(ValueError, match="larger than the padded input"):
                layer.output_shape((1, 1, size))
            continue
        assert layer.output_shape((1, 1, size)) == (1, 1, expected)
        assert L.AvgPool1D(kernel, stride, pad, ceil_mode=ceil_mode).output_shape((2, size)) == (2, expected)


def test_ceil_mode_values_follow_pytorch():
    x = row(1, 2, 3, 4, 5)
    # the last window [5, pad] of a 2-wide, stride-2 pool: its max is 5, its mean 5 / 1
    # (the overhang is not padding: never counted, whatever count_include_pad says)
    assert L.MaxPool2D((1, 2), ceil_mode=True).forward(x).ravel().tolist() == [2, 4, 5]
    for include in (True, False):
        assert L.AvgPool2D((1, 2), count_include_pad=include, ceil_mode=True).forward(x).ravel().tolist() == \
            [1.5, 3.5, 5]
    # with padding 1 and kernel 3: windows [0, 1, 2], [2, 3, 4], [4, 5, 0] and the hanging [0, -]:
    # torch counts the padding (divisor 3, and 2 for the last, clipped at the padded end) ...
    x = row(1, 2, 3, 4, 5, 6)
    got = L.AvgPool2D((1, 3), (1, 2), (0, 1), ceil_mode=True).forward(x).ravel()
    np.testing.assert_allclose(got, [1, 3, 5, 3], rtol=1e-15)               # [0+1+2, 2+3+4, 4+5+6, 6+0] / (3, 3, 3, 2)
    # ... or only the input's pixels (1 for the last window)
    got = L.AvgPool2D((1, 3), (1, 2), (0, 1), count_include_pad=False, ceil_mode=True).forward(x).ravel()
    np.testing.assert_allclose(got, [1.5, 3, 5, 6], rtol=1e-15)
    assert L.MaxPool2D((1, 3), (1, 2), (0, 1), ceil_mode=True).forward(x).ravel().tolist() == [2, 4, 6, 6]
    # a window larger than the whole input (torch: max 1, mean 0.5)
    assert L.MaxPool1D(3, 2, ceil_mode=True).forward(np.array([[[0.0, 1.0]]])).tolist() == [[[1.0]]]
    assert L.AvgPool1D(3, 2, ceil_mode=True).forward(np.array([[[0.0, 1.0]]])).tolist() == [[[0.5]]]


def test_ceil_mode_gradient_of_the_hanging_window():
    """The last window's gradient goes to its pixels only (max: to its maximum; mean: split over
    the pixels its divisor counts)."""
    x = row(1, 2, 3, 4, 5)
    for layer, expected in ((L.MaxPool2D((1, 2), ceil_mode=True), [0, 1, 0, 1, 1]),
                            (L.AvgPool2D((1, 2), ceil_mode=True), [0.5, 0.5, 0.5, 0.5, 1])):
        layer.forward(x, training=True)
        assert layer.backward(np.ones((1, 1, 1, 3))).ravel().tolist() == expected


@given(size=st.integers(1, 20), kernel=st.integers(1, 5), stride=st.integers(1, 5))
def test_same_padding_with_ceil_mode_changes_nothing(size, kernel, stride):
    """Allowed, and a no-op: 'same' padding already gives ceil(size / stride) windows, the last
    one inside the padded input."""
    x = np.random.default_rng(size).standard_normal((1, 2, 3, size))
    for cls in (L.MaxPool2D, L.AvgPool2D):
        floor, ceil = cls((1, kernel), (1, stride), "same"), cls((1, kernel), (1, stride), "same", ceil_mode=True)
        assert ceil.output_shape(x.shape[1:]) == floor.output_shape(x.shape[1:]) == (2, 3, -(-size // stride))
        np.testing.assert_array_equal(ceil.forward(x), floor.forward(x))
        pads = floor.pads_for(x.shape[2:])
        assert F.ceil_pads(x.shape[2:], floor.kernel_size, floor.stride, pads) == pads


def test_ceil_mode_config_and_old_files(tmp_path):
    """config() holds ceil_mode; a config written before it existed loads as floor mode."""
    for cls in (L.MaxPool2D, L.AvgPool2D, L.MaxPool1D, L.AvgPool1D):
        layer = cls(3, 2, 1, ceil_mode=True)
        assert layer.config()["ceil_mode"] is True
        assert cls.from_config(layer.config()).config() == layer.config()
        old = {k: v for k, v in cls(3, 2, 1).config().items() if k != "ceil_mode"}
        assert L.build_layer({"class": cls.__name__, "config": old}).ceil_mode is False
    with pytest.raises(TypeError, match="ceil_mode"):
        L.MaxPool2D(2, ceil_mode="yes")


# ---------------------------------------------------------------------------
# AdaptiveAvgPool2D and GlobalAvgPool1D
# ---------------------------------------------------------------------------
def test_adaptive_bins_follow_pytorch():
    # 5 -> 3: bins [0, 2), [1, 4), [3, 5): they overlap and differ in size
    x = np.arange(5.0)[None, None, None, :]
    np.testing.assert_allclose(L.AdaptiveAvgPool2D((1, 3)).forward(x).ravel(), [0.5, 2, 3.5], rtol=1e-15)
    # 2 -> 4: each pixel repeated
    x = np.array([[[[1.0, 3.0]]]])
    assert L.AdaptiveAvgPool2D((1, 4)).forward(x).ravel().tolist() == [1, 1, 3, 3]


@given(n=st.integers(1, 2), c=st.integers(1, 3), oh=st.integers(1, 4), ow=st.integers(1, 4),
       fh=st.integers(1, 3), fw=st.integers(1, 3))
def test_adaptive_pool_is_avg_pool_when_the_size_divides(n, c, oh, ow, fh, fw):
    x = np.random.default_rng(oh * 7 + ow).standard_normal((n, c, oh * fh, ow * fw))
    adaptive, plain = L.AdaptiveAvgPool2D((oh, ow)), L.AvgPool2D((fh, fw))
    np.testing.assert_allclose(adaptive.forward(x, training=True), plain.forward(x, training=True), rtol=1e-13)
    g = np.random.default_rng(1).standard_normal((n, c, oh, ow))
    np.testing.assert_allclose(adaptive.backward(g), plain.backward(g), rtol=1e-13)


def test_adaptive_pool_sizes_and_global_pools():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 5))
    np.testing.assert_allclose(L.AdaptiveAvgPool2D(1).forward(x)[:, :, 0, 0], L.GlobalAvgPool2D().forward(x),
                               rtol=1e-13)
    assert L.AdaptiveAvgPool2D((None, 2)).forward(x).shape == (2, 3, 7, 2)
    assert L.AdaptiveAvgPool2D((4, None)).output_shape((3, 7, 5)) == (3, 4, 5)
    assert L.AdaptiveAvgPool2D(6).output_shape((3, 7, 5)) == (3, 6, 6)
    assert L.AdaptiveAvgPool2D([2, None]).config() == {"output_size": [2, None]}
    with pytest.raises(ValueError, match="AdaptiveAvgPool2D takes no empty axis"):
        L.AdaptiveAvgPool2D(2).forward(np.zeros((1, 3, 0, 4)))
    signal = x.reshape(2, 3, 35)
    np.testing.assert_allclose(L.GlobalAvgPool1D().forward(signal), L.AvgPool1D(35).forward(signal)[:, :, 0],
                               rtol=1e-13)


def test_adaptive_pool_inf_and_nan_reach_only_their_bins():
    """As a sum over each bin would (PyTorch): no 0 * inf = NaN leaking into other bins."""
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 7))
    x[0, 0, 1, 2], x[0, 0, 4, 6], x[0, 0, 4, 5] = np.inf, -np.inf, np.inf
    x[0, 1, 3, 3], x[0, 1, 0, 0] = np.nan, -np.inf
    layer = L.AdaptiveAvgPool2D((3, 4))
    got = layer.forward(x)
    want = np.empty_like(got)
    for i in range(3):
        for j in range(4):
            bin_ = x[:, :, math.floor(i * 5 / 3):math.ceil((i + 1) * 5 / 3), math.floor(j * 7 / 4):math.ceil((j + 1) * 7 / 4)]
            with np.errstate(invalid="ignore"):
                want[:, :, i, j] = bin_.mean(axis=(2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert np.isfinite(got).sum() == np.isfinite(want).sum() > 12


def test_new_pools_save_and_load(tmp_path):
    mc.manual_seed(0)
    model = mc.Sequential([
        L.Conv2D(1, 4, 3, padding=1), L.ReLU(), L.MaxPool2D(3, 2, ceil_mode=True),
        L.AvgPool2D(2, padding=1, count_include_pad=False, ceil_mode=True), L.AdaptiveAvgPool2D((3, None)),
        L.Reshape((4, -1)), L.MaxPool1D(2, ceil_mode=True), L.AvgPool1D(2, ceil_mode=True), L.GlobalAvgPool1D(),
        L.Dense(4, 2)])
    x = np.random.default_rng(0).standard_normal((2, 1, 9, 10)).astype(np.float32)
    path = tmp_path / "pools.npz"
    model.save(path)
    again = mc.Sequential.load(path)
    assert again.architecture() == model.architecture()
    assert [getattr(layer, "ceil_mode", None) for layer in again.layers[2:4]] == [True, True]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert "AdaptiveAvgPool2D" in model.summary((1, 9, 10))
