"""The image toolkit and the network layers compute the same things.

* ``Conv2D`` is cross-correlation: with padding 0 it is ``correlate2d(..., "valid")``, with
  ``padding="same"`` it is ``correlate2d(..., "same")`` for every kernel size, and stride
  and dilation are sub-sampling the output and spreading the kernel out.
* Convolution flips the kernel: for odd kernels ``Conv2D`` "same" is ``convolve2d`` with the
  kernel rotated by 180 degrees. For even kernels the two "same" conventions part ways:

      Conv2D, padding="same" (PyTorch): pad (kh-1)//2 rows on top, kh//2 at the bottom, so
          out[r] = sum_i k[i] x[r + i - (kh-1)//2]  = full[r + kh//2]
      convolve2d(x, rot180(k), "same") (SciPy): the output is anchored on tap (kh-1)//2 of
          the kernel *as given*, i.e. of the rotated one:
          out[r] = sum_i k[i] x[r + i - kh//2]      = full[r + (kh-1)//2]

  where ``full = correlate2d(x, k, "full")``. Both are H-row windows of the same full
  correlation, one row apart when kh is even: the extra padding row sits at the bottom for
  Conv2D and at the top for convolve2d, so Conv2D's row r is convolve2d's row r + 1 (and
  likewise for the columns when kw is even).
* Convolution and stride-1 pooling commute with translations (equivariance): shifting the
  input shifts the output by the same amount, exactly for circular shifts with circular
  padding, and away from the borders for zero padding. Pooling with stride s commutes
  with shifts by multiples of s, and is blind to small shifts inside its windows.
* ``MaxPool2D`` / ``AvgPool2D`` are ``image.pool2d`` on (N, C, H, W) instead of (H, W, C).
"""
import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicnn import image as I
from minicnn import layers as L


# ---------------------------------------------------------------------------
# Helpers and strategies
# ---------------------------------------------------------------------------
def conv_layer(weight, bias=None, **kwargs):
    """A float64 Conv2D holding ``weight`` (O, C, kh, kw) and ``bias`` (O,) or no bias."""
    o, c, kh, kw = weight.shape
    layer = L.Conv2D(c, o, (kh, kw), bias=bias is not None, dtype=np.float64, **kwargs)
    layer.params["W"].data[...] = weight
    if bias is not None:
        layer.params["b"].data[...] = bias
    return layer


def conv(x, k, **kwargs):
    """One (H, W) image through a one-filter Conv2D with kernel ``k`` (kh, kw) and no bias."""
    return conv_layer(k[None, None], **kwargs)(x[None, None])[0, 0]


def real_arrays(shape):
    return hnp.arrays(np.float64, shape, elements=st.floats(-1, 1, allow_subnormal=False))


def int_arrays(shape):
    """float64 arrays of small integers: every sum of products is exact, so results compare
    with ==, whatever order the terms are added in."""
    return hnp.arrays(np.int64, shape, elements=st.integers(-9, 9)).map(lambda a: a.astype(np.float64))


def sides(low=1, high=6):
    return st.tuples(st.integers(low, high), st.integers(low, high))


@st.composite
def image_and_kernel(draw, arrays=int_arrays, max_kernel=6, min_image=1, max_image=9):
    """(image (H, W), kernel (kh, kw)): kernels of every size, odd and even, square or not."""
    kh, kw = draw(sides(1, max_kernel))
    x = draw(arrays(sides(min_image, max_image)))
    return x, draw(arrays((kh, kw)))


def shift_zero(x, dy, dx):
    """``x`` moved down by dy and right by dx (negative: up / left); pixels moved in are 0."""
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    if abs(dy) < h and abs(dx) < w:                       # otherwise everything moved out
        out[..., max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \
            x[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


# ---------------------------------------------------------------------------
# Conv2D is correlate2d
# ---------------------------------------------------------------------------
@given(image_and_kernel(arrays=real_arrays))
def test_conv2d_same_is_correlate2d_same_for_every_kernel_size(case):
    x, k = case
    out = conv(x, k, padding="same")
    assert out.shape == x.shape
    np.testing.assert_allclose(out, I.correlate2d(x, k, mode="same"), rtol=1e-12, atol=1e-12)


@given(image_and_kernel())
def test_conv2d_same_and_convolve2d_same_with_the_rotated_kernel(case):
    x, k = case
    (h, w), (kh, kw) = x.shape, k.shape
    full = I.correlate2d(x, k, mode="full")
    ours = conv(x, k, padding="same")
    scipy_style = I.convolve2d(x, k[::-1, ::-1], mode="same")
    # Both are windows of the full correlation: Conv2D's starts at kh//2, convolve2d's at (kh-1)//2.
    np.testing.assert_array_equal(ours, full[kh // 2:kh // 2 + h, kw // 2:kw // 2 + w])
    np.testing.assert_array_equal(scipy_style, full[(kh - 1) // 2:(kh - 1) // 2 + h,
                                                    (kw - 1) // 2:(kw - 1) // 2 + w])
    dy, dx = kh % 2 == 0, kw % 2 == 0          # 1 along an even side, 0 along an odd one
    np.testing.assert_array_equal(ours[:h - dy, :w - dx], scipy_style[dy:, dx:])
    if kh % 2 and kw % 2:
        np.testing.assert_array_equal(ours, scipy_style)


def test_even_kernel_same_padding_by_hand():
    """A 2x2 kernel that picks its top-left tap: Conv2D pads at the bottom/right and returns
    the image itself; convolve2d with the rotated kernel pads at the top/left and returns the
    image moved one pixel down and right."""
    x = np.arange(1.0, 10.0).reshape(3, 3)
    k = np.array([[1.0, 0.0], [0.0, 0.0]])
    layer = conv_layer(k[None, None], padding="same")
    assert layer.pads == ((0, 1), (0, 1))
    np.testing.assert_array_equal(layer(x[None, None])[0, 0], x)
    np.testing.assert_array_equal(I.correlate2d(x, k, mode="same"), x)
    np.testing.assert_array_equal(I.convolve2d(x, k[::-1, ::-1], mode="same"),
                                  [[0, 0, 0], [0, 1, 2], [0, 4, 5]])


@given(image_and_kernel(max_kernel=4, min_image=4), st.integers(1, 3), st.integers(1, 3))
def test_conv2d_valid_stride_and_dilation_are_subsampled_correlate2d(case, stride, dilation):
    x, k = case
    kh, kw = k.shape
    assume(dilation * (kh - 1) < x.shape[0] and dilation * (kw - 1) < x.shape[1])
    spread = np.zeros((dilation * (kh - 1) + 1, dilation * (kw - 1) + 1))
    spread[::dilation, ::dilation] = k                     # the dilated kernel: zeros between taps
    expected = I.correlate2d(x, spread, mode="valid")[::stride, ::stride]
    np.testing.assert_array_equal(conv(x, k, stride=stride, dilation=dilation), expected)


@given(image_and_kernel())
def test_conv2d_padded_by_kernel_minus_one_is_correlate2d_full(case):
    x, k = case
    kh, kw = k.shape
    np.testing.assert_array_equal(conv(x, k, padding=(kh - 1, kw - 1)), I.correlate2d(x, k, mode="full"))


@given(st.integers(1, 3), st.integers(1, 3), sides(1, 3), sides(3, 7), st.data())
def test_conv2d_adds_the_per_channel_correlations_and_the_bias(c, o, ksize, size, data):
    x = data.draw(int_arrays((c, *size)))
    w = data.draw(int_arrays((o, c, *ksize)))
    b = data.draw(int_arrays((o,)))
    assume(ksize[0] <= size[0] and ksize[1] <= size[1])
    out = conv_layer(w, b)(x[None])[0]
    for j in range(o):
        expected = sum(I.correlate2d(x[i], w[j, i], mode="valid") for i in range(c)) + b[j]
        np.testing.assert_array_equal(out[j], expected)


def test_conv2d_with_the_sobel_weights_is_image_sobel_inside_the_border():
    rng = np.random.default_rng(0)
    x = rng.random((12, 10))
    gx, gy, _ = I.sobel(x)                                   # mirrored border; the interior needs none
    weights = np.stack([I.kernels.get("sobel_x"), I.kernels.get("sobel_y")])[:, None]
    out = conv_layer(weights, padding="same")(x[None, None])[0]
    np.testing.assert_allclose(out[0, 1:-1, 1:-1], gx[1:-1, 1:-1], atol=1e-12)
    np.testing.assert_allclose(out[1, 1:-1, 1:-1], gy[1:-1, 1:-1], atol=1e-12)


# ---------------------------------------------------------------------------
# Translation equivariance
# ---------------------------------------------------------------------------
def circular_conv(x, k):
    """Conv2D "same" with circular padding: the image wraps around (a torus), so nothing is
    lost at the borders. The layer pads with zeros, so the wrap-around padding is added
    first (np.pad "wrap") with the sizes the layer itself would use, and the layer gets 0."""
    pads = conv_layer(k[None, None], padding="same").pads
    return conv(np.pad(x, pads, mode="wrap"), k)


@given(image_and_kernel(max_kernel=4, min_image=2, max_image=8), st.integers(-9, 9), st.integers(-9, 9))
def test_circular_convolution_commutes_with_circular_shifts_everywhere(case, dy, dx):
    x, k = case
    shifted_in = circular_conv(np.roll(x, (dy, dx), axis=(0, 1)), k)
    np.testing.assert_array_equal(shifted_in, np.roll(circular_conv(x, k), (dy, dx), axis=(0, 1)))


def overlap(n, d):
    """For a length-n output shifted by d: the positions r (first slice) whose partner r - d
    (second slice) exists too. Both are empty when |d| >= n."""
    lo, hi = max(0, d), max(max(0, d), n + min(0, d))
    return slice(lo, hi), slice(lo - d, hi - d)


@given(image_and_kernel(max_kernel=4, min_image=4), st.integers(-5, 5), st.integers(-5, 5))
def test_valid_convolution_of_a_shifted_image_is_the_shifted_output(case, dy, dx):
    """np.roll moves pixels across the border, but a "valid" output pixel r of the rolled
    image only looks at pixels r - d + i of the original that lie inside it, so wherever
    both outputs exist they agree exactly."""
    x, k = case
    assume(k.shape[0] <= x.shape[0] and k.shape[1] <= x.shape[1])
    out = conv(x, k)
    moved = conv(np.roll(x, (dy, dx), axis=(0, 1)), k)
    (r1, r0), (c1, c0) = overlap(out.shape[0], dy), overlap(out.shape[1], dx)
    np.testing.assert_array_equal(moved[r1, c1], out[r0, c0])


@given(image_and_kernel(max_kernel=4, min_image=2), st.integers(-4, 4), st.integers(-4, 4))
def test_same_convolution_of_a_zero_shifted_image_matches_away_from_the_borders(case, dy, dx):
    """Zero padding and a zero-filled shift: out_shifted[r] = out[r - d] for every r whose
    window (rows r - (kh-1)//2 .. r + kh//2) lies inside the image and whose r - d exists."""
    x, k = case
    (h, w), (kh, kw) = x.shape, k.shape
    out = conv(x, k, padding="same")
    moved = conv(shift_zero(x, dy, dx), k, padding="same")
    rows = [r for r in range(h) if r - (kh - 1) // 2 >= 0 and r + kh // 2 < h and 0 <= r - dy < h]
    cols = [c for c in range(w) if c - (kw - 1) // 2 >= 0 and c + kw // 2 < w and 0 <= c - dx < w]
    inner = np.ix_(rows, cols)
    np.testing.assert_array_equal(moved[inner], out[np.ix_([r - dy for r in rows], [c - dx for c in cols])])
    if dy == dx == 0:
        np.testing.assert_array_equal(moved, out)


@given(int_arrays(sides(3, 9)), sides(1, 3), st.sampled_from([L.MaxPool2D, L.AvgPool2D]),
       st.integers(-4, 4), st.integers(-4, 4))
def test_stride_one_pooling_commutes_with_shifts_away_from_the_borders(x, size, pool, dy, dx):
    assume(size[0] <= x.shape[0] and size[1] <= x.shape[1])
    layer = pool(size, stride=1)
    out = layer(x[None, None])[0, 0]
    moved = layer(np.roll(x, (dy, dx), axis=(0, 1))[None, None])[0, 0]
    (r1, r0), (c1, c0) = overlap(out.shape[0], dy), overlap(out.shape[1], dx)
    np.testing.assert_array_equal(moved[r1, c1], out[r0, c0])


@given(int_arrays(sides(4, 12)), st.integers(2, 3), st.sampled_from(["max", "avg"]),
       st.integers(-2, 2), st.integers(-2, 2))
def test_strided_pooling_commutes_with_shifts_by_multiples_of_the_stride(x, s, mode, my, mx):
    """Shifting by (s*my, s*mx) pixels shifts the pooled output by (my, mx) blocks."""
    assume(s <= x.shape[0] and s <= x.shape[1])
    out = I.pool2d(x, s, mode=mode)
    moved = I.pool2d(np.roll(x, (s * my, s * mx), axis=(0, 1)), s, mode=mode)
    (r1, r0), (c1, c0) = overlap(out.shape[0], my), overlap(out.shape[1], mx)
    np.testing.assert_array_equal(moved[r1, c1], out[r0, c0])


def test_max_pooling_ignores_a_shift_inside_its_window():
    """The local invariance pooling adds on top of the convolution's equivariance: a bright
    pixel anywhere inside a 2x2 block gives the same pooled map."""
    pool = L.MaxPool2D(2)
    maps = []
    for r, c in [(2, 4), (2, 5), (3, 4), (3, 5)]:
        x = np.zeros((1, 1, 8, 8))
        x[0, 0, r, c] = 1.0
        maps.append(pool(x)[0, 0])
    expected = np.zeros((4, 4))
    expected[1, 2] = 1.0
    for m in maps:
        np.testing.assert_array_equal(m, expected)
    x = np.zeros((1, 1, 8, 8))
    x[0, 0, 4, 4] = 1.0                                      # one more pixel down: the next block
    assert pool(x)[0, 0, 2, 2] == 1.0 and pool(x)[0, 0, 1, 2] == 0.0


# ---------------------------------------------------------------------------
# Pooling layers are pool2d
# ---------------------------------------------------------------------------
@given(st.data(), sides(1, 4), st.one_of(st.none(), sides(1, 3)), st.sampled_from(["max", "avg"]),
       st.sampled_from([None, 1, 3]))
def test_pooling_layers_equal_pool2d(data, size, stride, mode, channels):
    """(H, W) images go in as (1, 1, H, W), (H, W, C) ones as (1, C, H, W)."""
    shape = sides(max(size), 9) if channels is None else sides(max(size), 9).map(lambda s: (*s, channels))
    x = data.draw(real_arrays(shape))
    layer = (L.MaxPool2D if mode == "max" else L.AvgPool2D)(size, stride=stride)
    nchw = x[None, None] if x.ndim == 2 else np.moveaxis(x, -1, 0)[None]
    out = layer(nchw)[0]
    out = out[0] if x.ndim == 2 else np.moveaxis(out, 0, -1)
    np.testing.assert_array_equal(out, I.pool2d(x, size, mode=mode, stride=stride))


@given(int_arrays(sides(2, 9)), sides(1, 4), st.one_of(st.none(), sides(1, 3)))
def test_average_pooling_is_a_strided_box_filter(x, size, stride):
    assume(size[0] <= x.shape[0] and size[1] <= x.shape[1])
    step = size if stride is None else stride
    box = np.full(size, 1.0 / (size[0] * size[1]))
    expected = I.correlate2d(x, box, mode="valid")[::step[0], ::step[1]]
    np.testing.assert_allclose(L.AvgPool2D(size, stride=stride)(x[None, None])[0, 0], expected,
                               rtol=1e-12, atol=1e-12)


@given(int_arrays(sides(2, 8)), sides(1, 3), st.integers(1, 2))
def test_max_pooling_is_the_maximum_over_each_window(x, size, stride):
    assume(size[0] <= x.shape[0] and size[1] <= x.shape[1])
    windows = np.lib.stride_tricks.sliding_window_view(x, size)[::stride, ::stride]
    np.testing.assert_array_equal(L.MaxPool2D(size, stride=stride)(x[None, None])[0, 0],
                                  windows.max(axis=(-2, -1)))


@given(int_arrays(sides(2, 8)), st.integers(2, 4), st.integers(1, 2))
def test_padded_pooling_layers_are_pool2d_of_the_padded_image(x, size, pad):
    """MaxPool2D pads with -inf (padding never wins), AvgPool2D with zeros that count in
    the mean (PyTorch's count_include_pad=True)."""
    assume(pad <= size // 2)
    xb = x[None, None]
    np.testing.assert_array_equal(L.MaxPool2D(size, padding=pad)(xb)[0, 0],
                                  I.pool2d(np.pad(x, pad, constant_values=-np.inf), size, mode="max"))
    np.testing.assert_array_equal(L.AvgPool2D(size, padding=pad)(xb)[0, 0],
                                  I.pool2d(np.pad(x, pad), size, mode="avg"))
