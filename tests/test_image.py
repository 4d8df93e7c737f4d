"""Tests of minicnn.image: known answers worked out by hand, a direct
pixel-by-pixel reference written from the textbook definitions, and
hypothesis properties (linearity, commutativity, separability, shifts).

No SciPy here: the semantics were checked against scipy.signal / scipy.ndimage
when the module was written, and the hand cases below pin them down.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from fuzzing import median_reference
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicnn import image as I

X3 = np.arange(1, 10).reshape(3, 3)          # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
# Picks the upper-left neighbour (units) and 10 x the lower-right one (tens) in correlation.
K_DIAG = np.array([[1, 0, 0], [0, 0, 0], [0, 0, 10]])


# ---------------------------------------------------------------------------
# Strategies and the pixel-by-pixel reference
# ---------------------------------------------------------------------------
def int_arrays(max_side=6, min_side=1):
    """Small float64 arrays holding small integers: every sum is exact in float64."""
    shape = st.tuples(st.integers(min_side, max_side), st.integers(min_side, max_side))
    return hnp.arrays(np.int64, shape, elements=st.integers(-5, 5)).map(lambda a: a.astype(np.float64))


modes = st.sampled_from(["full", "same", "valid"])
boundaries = st.sampled_from(["fill", "symm", "wrap"])
NP_PAD = {"fill": "constant", "symm": "symmetric", "wrap": "wrap"}


def reference(x, k, mode, boundary, fillvalue=0.0, convolve=True):
    """Straight from the definitions, one output pixel at a time (tiny inputs only).

    The image is extended over all of Z^2 by ``boundary`` (np.pad does that), and
    with the anchor a = (0, kh-1, (kh-1)//2) for convolution in (full, valid, same),
    (kh-1, 0, (kh-1)//2) for correlation:
        convolution:  y[r, c] = sum_ij k[i, j] ext[r + a_h - i, c + a_w - j]
        correlation:  y[r, c] = sum_ij k[i, j] ext[r - a_h + i, c - a_w + j]
    """
    h, w = x.shape
    kh, kw = k.shape
    count = {"full": (h + kh - 1, w + kw - 1), "same": (h, w), "valid": (h - kh + 1, w - kw + 1)}[mode]
    if convolve:
        anchor = {"full": (0, 0), "same": ((kh - 1) // 2, (kw - 1) // 2), "valid": (kh - 1, kw - 1)}[mode]
    else:
        anchor = {"full": (kh - 1, kw - 1), "same": ((kh - 1) // 2, (kw - 1) // 2), "valid": (0, 0)}[mode]
    extra = {"constant_values": fillvalue} if boundary == "fill" else {}
    ext = np.pad(x, ((kh, kh), (kw, kw)), mode=NP_PAD[boundary], **extra)    # ext[kh + r, kw + c] = x[r, c]
    out = np.zeros(count)
    for r in range(count[0]):
        for c in range(count[1]):
            for i in range(kh):
                for j in range(kw):
                    if convolve:
                        rr, cc = r + anchor[0] - i, c + anchor[1] - j
                    else:
                        rr, cc = r - anchor[0] + i, c - anchor[1] + j
                    out[r, c] += k[i, j] * ext[kh + rr, kw + cc]
    return out


# ---------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------
def test_known_answer_7x7():
    img = np.arange(1, 50).reshape(7, 7)
    k = np.array([[-1, 1, -1], [-2, 3, 1], [2, -4, 0]])
    conv = I.convolve2d(img, k, mode="same")
    np.testing.assert_array_equal(conv[0], [-2, -8, -7, -6, -5, -4, 28])
    np.testing.assert_array_equal(conv[-1], [-29, 13, 13, 13, 13, 13, 27])
    # The same numbers are the correlation with the kernel rotated by 180 degrees...
    np.testing.assert_array_equal(I.correlate2d(img, np.rot90(k, 2), mode="same"), conv)
    # ...and not the correlation with k itself.
    np.testing.assert_array_equal(I.correlate2d(img, k, mode="same")[0], [-27, -13, -13, -13, -13, -13, -21])


# Padded 5x5 pictures of X3, rows/columns -1..3, written out for the "same" hand cases:
#   symm            wrap
#   1 1 2 3 3       9 7 8 9 7
#   1 1 2 3 3       3 1 2 3 1
#   4 4 5 6 6       6 4 5 6 4
#   7 7 8 9 9       9 7 8 9 7
#   7 7 8 9 9       3 1 2 3 1
# correlate2d(X3, K_DIAG)[r, c] = P[r-1, c-1] + 10 * P[r+1, c+1]   (units: up-left, tens: down-right)
# convolve2d(X3, K_DIAG)[r, c]  = 10 * P[r-1, c-1] + P[r+1, c+1]   (the kernel is turned round)
@pytest.mark.parametrize("boundary, fillvalue, corr, conv", [
    ("symm", 0, [[51, 61, 62], [81, 91, 92], [84, 94, 95]], [[15, 16, 26], [18, 19, 29], [48, 49, 59]]),
    ("wrap", 0, [[59, 67, 48], [83, 91, 72], [26, 34, 15]], [[95, 76, 84], [38, 19, 27], [62, 43, 51]]),
    ("fill", 0, [[50, 60, 0], [80, 91, 2], [0, 4, 5]], [[5, 6, 0], [8, 19, 20], [0, 40, 50]]),
    ("fill", 7, [[57, 67, 77], [87, 91, 72], [77, 74, 75]], None),
])
def test_same_by_hand(boundary, fillvalue, corr, conv):
    got = I.correlate2d(X3, K_DIAG, mode="same", boundary=boundary, fillvalue=fillvalue)
    np.testing.assert_array_equal(got, corr)
    if conv is not None:
        np.testing.assert_array_equal(I.convolve2d(X3, K_DIAG, mode="same", boundary=boundary), conv)


def test_boundary_aliases():
    for alias, name in [("pad", "fill"), ("symmetric", "symm"), ("circular", "wrap")]:
        np.testing.assert_array_equal(I.convolve2d(X3, K_DIAG, "same", alias), I.convolve2d(X3, K_DIAG, "same", name))


def test_full_and_valid_by_hand():
    k = np.array([[1, 2]])
    # full convolution of [[1, 2, 3]] with [1, 2]: [1, 2+2, 3+4, 6]
    np.testing.assert_array_equal(I.convolve2d(np.array([[1, 2, 3]]), k), [[1, 4, 7, 6]])
    np.testing.assert_array_equal(I.correlate2d(np.array([[1, 2, 3]]), k), [[2, 5, 8, 3]])
    np.testing.assert_array_equal(I.convolve2d(np.array([[1, 2, 3]]), k, "valid"), [[4, 7]])
    np.testing.assert_array_equal(I.correlate2d(np.array([[1, 2, 3]]), k, "valid"), [[5, 8]])
    # "full" with symm: the row is extended as 1 | 1 2 3 | 3
    np.testing.assert_array_equal(I.convolve2d(np.array([[1, 2, 3]]), k, boundary="symm"), [[3, 4, 7, 9]])


def test_even_kernel_same_anchor():
    # The output pixel sits under tap (0, 0) of a 2x2 kernel, for both functions.
    e = np.array([[0, 0], [0, 1]])
    np.testing.assert_array_equal(I.correlate2d(X3, e, "same"), [[5, 6, 0], [8, 9, 0], [0, 0, 0]])
    np.testing.assert_array_equal(I.convolve2d(X3, e, "same"), [[0, 0, 0], [0, 1, 2], [0, 4, 5]])
    # So for even kernels correlate2d("same") is not convolve2d("same") of the flipped kernel.
    assert not np.array_equal(I.correlate2d(X3, e, "same"), I.convolve2d(X3, e[::-1, ::-1], "same"))


def test_valid_with_kernel_larger_than_image():
    x = np.array([[1, 2]])
    k = np.array([[1, 2, 3], [4, 5, 6]])
    # Convolution commutes: slide the flipped image [2, 1] over the kernel.
    np.testing.assert_array_equal(I.convolve2d(x, k, "valid"), [[4, 7], [13, 16]])
    np.testing.assert_array_equal(I.convolve2d(x, k, "valid"), I.convolve2d(k, x, "valid"))
    # Correlation: the block of the full result where x lies inside k.
    np.testing.assert_array_equal(I.correlate2d(x, k, "valid"), [[17, 14], [8, 5]])
    np.testing.assert_array_equal(I.correlate2d(x, k, "valid"), I.correlate2d(x, k, "full")[0:2, 1:3])


def test_valid_needs_one_array_to_dominate():
    with pytest.raises(ValueError, match="valid"):
        I.convolve2d(np.ones((3, 4)), np.ones((4, 3)), mode="valid")
    with pytest.raises(ValueError, match="valid"):
        I.correlate2d(np.ones((3, 4)), np.ones((4, 3)), mode="valid")


# ---------------------------------------------------------------------------
# Against the definitions
# ---------------------------------------------------------------------------
@given(x=int_arrays(5), k=int_arrays(7), mode=modes, boundary=boundaries,
       fill=st.integers(-3, 3), convolve=st.booleans())
def test_matches_pixel_by_pixel_definition(x, k, mode, boundary, fill, convolve):
    # Kernels up to 7 on images down to 1 pixel: mirroring and wrapping go round several times.
    assume(mode != "valid" or (x.shape[0] >= k.shape[0] and x.shape[1] >= k.shape[1]))
    f = I.convolve2d if convolve else I.correlate2d
    got = f(x, k, mode=mode, boundary=boundary, fillvalue=fill)
    np.testing.assert_array_equal(got, reference(x, k, mode, boundary, fill, convolve))


@given(x=int_arrays(4), k=int_arrays(7), convolve=st.booleans())
def test_valid_is_central_block_of_full(x, k, convolve):
    # "valid" = the positions where one array lies wholly inside the other, whichever is larger.
    (h, w), (kh, kw) = x.shape, k.shape
    assume((h >= kh and w >= kw) or (h <= kh and w <= kw))
    f = I.convolve2d if convolve else I.correlate2d
    full = f(x, k, "full")
    expected = full[min(h, kh) - 1:max(h, kh), min(w, kw) - 1:max(w, kw)]
    np.testing.assert_array_equal(f(x, k, "valid"), expected)


@given(x=int_arrays(6), k=int_arrays(5), convolve=st.booleans())
def test_same_is_crop_of_full(x, k, convolve):
    # scipy's rule: convolution crops "full" from ((kh-1)//2, (kw-1)//2), correlation from (kh//2, kw//2).
    (h, w), (kh, kw) = x.shape, k.shape
    f = I.convolve2d if convolve else I.correlate2d
    top, left = ((kh - 1) // 2, (kw - 1) // 2) if convolve else (kh // 2, kw // 2)
    np.testing.assert_array_equal(f(x, k, "same"), f(x, k, "full")[top:top + h, left:left + w])


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------
@given(x=int_arrays(6), k1=int_arrays(4), data=st.data(), mode=modes, boundary=boundaries)
def test_linear_in_kernel(x, k1, data, mode, boundary):
    assume(mode != "valid" or (x.shape[0] >= k1.shape[0] and x.shape[1] >= k1.shape[1]))
    k2 = data.draw(hnp.arrays(np.float64, k1.shape, elements=st.integers(-5, 5)))
    a, b = data.draw(st.integers(-3, 3)), data.draw(st.integers(-3, 3))
    lhs = I.convolve2d(x, a * k1 + b * k2, mode, boundary)
    rhs = a * I.convolve2d(x, k1, mode, boundary) + b * I.convolve2d(x, k2, mode, boundary)
    np.testing.assert_array_equal(lhs, rhs)


@given(x=int_arrays(6), k=int_arrays(6))
def test_full_convolution_commutes(x, k):
    np.testing.assert_array_equal(I.convolve2d(x, k), I.convolve2d(k, x))


@given(x=int_arrays(6), boundary=boundaries)
def test_identity_kernel(x, boundary):
    ident = I.kernels.get("identity")
    np.testing.assert_array_equal(I.convolve2d(x, ident, "same", boundary), x)
    np.testing.assert_array_equal(I.correlate2d(x, ident, "same", boundary), x)
    np.testing.assert_array_equal(I.convolve2d(x, np.ones((1, 1)), "full"), x)


@given(x=int_arrays(6), col=hnp.arrays(np.float64, st.integers(1, 4), elements=st.integers(-3, 3)),
       row=hnp.arrays(np.float64, st.integers(1, 4), elements=st.integers(-3, 3)))
def test_separable_blur_is_associative(x, col, row):
    # (x * col) * row = x * (col row^T): a separable 2-D blur is two 1-D passes.
    two_passes = I.convolve2d(I.convolve2d(x, col[:, None]), row[None, :])
    np.testing.assert_array_equal(two_passes, I.convolve2d(x, np.outer(col, row)))


@given(x=int_arrays(9, min_side=5), k=int_arrays(3), dy=st.integers(0, 2), dx=st.integers(0, 2))
def test_shift_equivariance_in_interior(x, k, dy, dx):
    # Shifting the input shifts the output: compare where no border is involved ("valid").
    shifted = I.convolve2d(x[dy:, dx:], k, "valid")
    np.testing.assert_array_equal(shifted, I.convolve2d(x, k, "valid")[dy:, dx:])


@given(x=int_arrays(6), k=int_arrays(5), dy=st.integers(-3, 3), dx=st.integers(-3, 3))
def test_wrap_boundary_commutes_with_roll(x, k, dy, dx):
    # With periodic extension the image has no border at all: rolls commute exactly.
    rolled = I.convolve2d(np.roll(x, (dy, dx), axis=(0, 1)), k, "same", "wrap")
    np.testing.assert_array_equal(rolled, np.roll(I.convolve2d(x, k, "same", "wrap"), (dy, dx), axis=(0, 1)))


@given(x=int_arrays(6), k=int_arrays(5), mode=modes, boundary=boundaries)
def test_correlate_is_convolve_with_flipped_kernel(x, k, mode, boundary):
    assume(mode != "valid" or (x.shape[0] >= k.shape[0] and x.shape[1] >= k.shape[1]))
    # True for full and valid always; for "same" only with odd kernels (the anchor moves otherwise).
    assume(mode != "same" or (k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1))
    np.testing.assert_array_equal(I.correlate2d(x, k, mode, boundary),
                                  I.convolve2d(x, k[::-1, ::-1], mode, boundary))


@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4)),
                    elements=st.integers(-5, 5)),
       k=int_arrays(4), mode=modes, boundary=boundaries, convolve=st.booleans())
def test_colour_is_per_channel(x, k, mode, boundary, convolve):
    h, w = x.shape[:2]
    assume(mode != "valid" or (h >= k.shape[0] and w >= k.shape[1]) or (h <= k.shape[0] and w <= k.shape[1]))
    f = I.convolve2d if convolve else I.correlate2d
    got = f(x, k, mode, boundary, 1)
    expected = np.stack([f(x[..., c], k, mode, boundary, 1) for c in range(x.shape[2])], axis=-1)
    np.testing.assert_array_equal(got, expected)
    assert got.flags.c_contiguous


# ---------------------------------------------------------------------------
# convolve1d
# ---------------------------------------------------------------------------
@given(a=hnp.arrays(np.float64, st.integers(1, 12), elements=st.integers(-9, 9)),
       v=hnp.arrays(np.float64, st.integers(1, 12), elements=st.integers(-9, 9)), mode=modes)
def test_convolve1d_matches_np_convolve(a, v, mode):
    np.testing.assert_array_equal(I.convolve1d(a, v, mode), np.convolve(a, v, mode))


def test_convolve1d_moving_average():
    prices = np.array([1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(I.convolve1d(prices, np.ones(3) / 3, "valid"), [2, 3, 4, 5])
    assert I.convolve1d(prices, np.ones(3), "same").dtype == np.float64
    assert I.convolve1d(prices.astype(np.float32), np.ones(3), "same").dtype == np.float32
    with pytest.raises(ValueError, match="signal"):
        I.convolve1d(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="kernel"):
        I.convolve1d(np.ones(3), np.ones(0))


# ---------------------------------------------------------------------------
# Median filter
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode, expected", [
    ("reflect", [5, 3, 5, 8, 5]),     # 9 1 | 1 9 5 3 8 | 8 3
    ("nearest", [1, 3, 5, 8, 8]),     # 1 1 | 1 9 5 3 8 | 8 8
    ("constant", [1, 3, 5, 5, 3]),    # 0 0 | 1 9 5 3 8 | 0 0
])
def test_median_modes_by_hand(mode, expected):
    s = np.array([[1, 9, 5, 3, 8]])
    np.testing.assert_array_equal(I.median_filter(s, (1, 5), mode), [expected])
    np.testing.assert_array_equal(I.median_filter(s.T, (5, 1), mode), np.array([expected]).T)


def test_median_2d_by_hand():
    spike = np.ones((3, 3))
    spike[1, 1] = 100
    np.testing.assert_array_equal(I.median_filter(spike, 3, "reflect"), np.ones((3, 3)))
    np.testing.assert_array_equal(I.median_filter(spike, 3, "nearest"), np.ones((3, 3)))
    # Zeros outside: a corner window holds five of them, an edge window three.
    np.testing.assert_array_equal(I.median_filter(spike, 3, "constant"), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])


def test_median_even_size_is_upper_median_of_window_reaching_left():
    # size 2 covers columns c-1 and c; of two values the larger (rank 1 of 0..1) is taken.
    s = np.array([[1, 9, 5, 3, 8]])     # reflect: 1 | 1 9 5 3 8
    np.testing.assert_array_equal(I.median_filter(s, (1, 2)), [[1, 9, 9, 5, 8]])


@given(x=hnp.arrays(np.int64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=st.integers(0, 9)),
       size=st.tuples(st.integers(1, 7), st.integers(1, 7)),
       mode=st.sampled_from(["reflect", "nearest", "constant"]))
def test_median_matches_sorted_window_definition(x, size, mode):
    got = I.median_filter(x, size, mode)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, median_reference(x, size, mode))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_median_removes_salt_and_pepper(seed):
    flat = np.full((64, 64), 0.5)
    noisy = I.add_salt_and_pepper(flat, 0.05, rng=seed)
    assert (noisy != 0.5).sum() == round(0.05 * 64 * 64)
    np.testing.assert_array_equal(I.median_filter(noisy, 3), flat)


def test_median_colour_per_channel_and_int_size():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (8, 7, 3)).astype(np.uint8)
    got = I.median_filter(x, 3)
    assert got.dtype == np.uint8 and got.shape == x.shape
    for c in range(3):
        np.testing.assert_array_equal(got[..., c], I.median_filter(x[..., c], (3, 3)))


# ---------------------------------------------------------------------------
# pool2d
# ---------------------------------------------------------------------------
def test_pool2d_by_hand():
    x = np.arange(20).reshape(4, 5)      # last column dropped by 2x2 blocks
    np.testing.assert_array_equal(I.pool2d(x, 2), [[6, 8], [16, 18]])
    np.testing.assert_array_equal(I.pool2d(x, 2, "avg"), [[3, 5], [13, 15]])
    assert I.pool2d(x, 2).dtype == x.dtype and I.pool2d(x, 2, "avg").dtype == np.float64
    # Overlapping windows: x increases right and down, so each max is the lower-right corner.
    np.testing.assert_array_equal(I.pool2d(x, 2, stride=1), x[1:, 1:])
    np.testing.assert_array_equal(I.pool2d(x, (1, 5), "max"), [[4], [9], [14], [19]])
    colour = np.stack([x, -x], axis=-1)
    np.testing.assert_array_equal(I.pool2d(colour, 2)[..., 1], [[0, -2], [-10, -12]])
    with pytest.raises(ValueError, match="size"):
        I.pool2d(x, 5)
    with pytest.raises(ValueError, match="mode"):
        I.pool2d(x, 2, "min")


# ---------------------------------------------------------------------------
# Sobel, Gaussian, kernel registry
# ---------------------------------------------------------------------------
def test_sobel_on_a_ramp():
    ramp = np.tile(np.arange(6.0), (5, 1))          # brightness grows to the right
    gx, gy, mag = I.sobel(ramp)
    # Inside: (1 + 2 + 1) * (x[c+1] - x[c-1]) = 8. At the mirrored edges one step is 0: 4.
    np.testing.assert_array_equal(gx, np.tile([4, 8, 8, 8, 8, 4], (5, 1)))
    np.testing.assert_array_equal(gy, np.zeros((5, 6)))
    np.testing.assert_array_equal(mag, np.abs(gx))
    gx_t, gy_t, _ = I.sobel(ramp.T)                 # brightness grows downwards
    np.testing.assert_array_equal(gy_t, gx.T)
    np.testing.assert_array_equal(gx_t, 0)
    flat = I.sobel(np.full((4, 4, 3), 7.0))
    for g in flat:
        assert g.shape == (4, 4, 3)
        np.testing.assert_array_equal(g, 0)


def test_gaussian_kernel():
    g = I.gaussian_kernel(5, 1.0)
    assert g.shape == (5, 5) and g.dtype == np.float64
    assert g.sum() == pytest.approx(1.0)
    assert g.argmax() == 12
    np.testing.assert_allclose(g, g.T)
    np.testing.assert_allclose(g, g[::-1, ::-1])
    assert np.linalg.matrix_rank(g) == 1              # separable
    assert I.gaussian_kernel((3, 4), 2.0).shape == (3, 4)
    with pytest.raises(ValueError, match="sigma"):
        I.gaussian_kernel(3, 0.0)
    with pytest.raises(ValueError, match="size"):
        I.gaussian_kernel(0, 1.0)


def test_kernel_registry():
    names = {"identity", "diagonal_edges", "laplacian4", "laplacian8", "sharpen", "unsharp5", "box_blur",
             "gaussian_blur3", "sobel_x", "sobel_y", "emboss"}
    assert set(I.kernels.names()) == names == set(I.kernels)
    assert len(I.kernels) == len(names) and "sharpen" in I.kernels
    np.testing.assert_array_equal(I.kernels.get("diagonal_edges"), [[1, 0, -1], [0, 0, 0], [-1, 0, 1]])
    np.testing.assert_array_equal(I.kernels.get("laplacian4"), [[0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    np.testing.assert_array_equal(I.kernels.get("laplacian8"), [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    # the old names stay as aliases of the descriptive ones
    assert I.kernels.aliases() == {"edge1": "diagonal_edges", "edge2": "laplacian4", "edge3": "laplacian8"}
    for alias, name in I.kernels.aliases().items():
        assert alias in I.kernels
        np.testing.assert_array_equal(I.kernels.get(alias), I.kernels.get(name))
    np.testing.assert_array_equal(I.kernels.get("sharpen"), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    u = I.kernels.get("unsharp5")
    assert u.shape == (5, 5) and u[2, 2] == pytest.approx(476 / 256) and u[0, 0] == pytest.approx(-1 / 256)
    # Blurs and sharpeners keep the mean brightness (sum 1), edge detectors give 0 on flat areas.
    for name in ["identity", "sharpen", "unsharp5", "box_blur", "gaussian_blur3", "emboss"]:
        assert I.kernels.get(name).sum() == pytest.approx(1.0), name
    for name in ["diagonal_edges", "laplacian4", "laplacian8", "sobel_x", "sobel_y"]:
        assert I.kernels.get(name).sum() == 0, name
    k = I.kernels.get("box_blur")
    assert k.dtype == np.float64
    k[:] = 0                                          # a fresh copy: the registry is untouched
    assert I.kernels.get("box_blur").sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sharpen"):  # the message lists the valid names
        I.kernels.get("sharpn")


# ---------------------------------------------------------------------------
# dtypes, inputs left alone, bad input
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, expected", [
    (np.uint8, np.float64), (np.int32, np.float64), (bool, np.float64),
    (np.float16, np.float16), (np.float32, np.float32), (np.float64, np.float64)])
def test_dtype_rules(dtype, expected):
    x = (np.arange(12).reshape(3, 4) % 2).astype(dtype)
    for f in (I.convolve2d, I.correlate2d):
        assert f(x, np.ones((2, 2))).dtype == expected
        assert f(x, np.ones((2, 2), dtype=np.int64), "same", "symm").dtype == expected
    assert I.sobel(x)[2].dtype == expected
    assert I.median_filter(x, 3).dtype == x.dtype
    assert I.add_gaussian_noise(x, 0.1, rng=0).dtype == expected
    assert I.add_salt_and_pepper(x, 0.5, rng=0).dtype == x.dtype


def test_uint8_image_does_not_overflow():
    x = np.full((3, 3), 200, dtype=np.uint8)
    np.testing.assert_array_equal(I.convolve2d(x, np.ones((3, 3)), "valid"), [[1800.0]])


def test_inputs_untouched_and_read_only_ok():
    rng = np.random.default_rng(1)
    x = rng.random((6, 5, 3))
    k = rng.random((3, 2))
    x0, k0 = x.copy(), k.copy()
    x.flags.writeable = False
    k.flags.writeable = False
    for mode in ["full", "same", "valid"]:
        for boundary in ["fill", "symm", "wrap"]:
            I.convolve2d(x, k, mode, boundary)
            I.correlate2d(x, k, mode, boundary)
    I.convolve2d(x[..., 0], np.ones((1, 1)), "valid")          # zero padding: works on the input itself
    for mode in ["reflect", "nearest", "constant"]:
        I.median_filter(x, 3, mode)
        I.median_filter(x, 1, mode)
    I.pool2d(x, 2)
    I.pool2d(x, 2, "avg")
    I.sobel(x)
    I.add_salt_and_pepper(x, 0.5, rng=0)
    I.add_gaussian_noise(x, 0.1, rng=0)
    I.to_grayscale(x)
    I.to_uint8(x)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(k, k0)


def test_non_contiguous_inputs():
    x = np.arange(35.0).reshape(5, 7)
    np.testing.assert_array_equal(I.convolve2d(x[::-1, ::2], K_DIAG, "same", "symm"),
                                  I.convolve2d(x[::-1, ::2].copy(), K_DIAG, "same", "symm"))
    np.testing.assert_array_equal(I.median_filter(x.T, 3), I.median_filter(x.T.copy(), 3))


@pytest.mark.parametrize("call, error, name", [
    (lambda: I.convolve2d([[1, 2]], np.ones((1, 1))), TypeError, "image"),
    (lambda: I.convolve2d(np.ones((2, 2)), [[1]]), TypeError, "kernel"),
    (lambda: I.convolve2d(np.ones((2, 2), dtype=complex), np.ones((1, 1))), TypeError, "image"),
    (lambda: I.convolve2d(np.array([["a"]]), np.ones((1, 1))), TypeError, "image"),
    (lambda: I.convolve2d(np.ones((2, 2)), np.ones((1, 1), dtype=object)), TypeError, "kernel"),
    (lambda: I.convolve2d(np.ones(4), np.ones((1, 1))), ValueError, "image"),
    (lambda: I.convolve2d(np.ones((2, 2, 2, 2)), np.ones((1, 1))), ValueError, "image"),
    (lambda: I.convolve2d(np.ones((0, 3)), np.ones((1, 1))), ValueError, "image"),
    (lambda: I.convolve2d(np.ones((3, 3)), np.ones(3)), ValueError, "kernel"),
    (lambda: I.convolve2d(np.ones((3, 3)), np.ones((1, 1, 1))), ValueError, "kernel"),
    (lambda: I.convolve2d(np.ones((3, 3)), np.ones((2, 0))), ValueError, "kernel"),
    (lambda: I.convolve2d(np.ones((3, 3)), np.ones((1, 1)), mode="middle"), ValueError, "'full', 'same', 'valid'"),
    (lambda: I.correlate2d(np.ones((3, 3)), np.ones((1, 1)), boundary="mirror"), ValueError, "'fill'.*'symm'.*'wrap'"),
    (lambda: I.convolve2d(np.ones((3, 3)), np.ones((1, 1)), fillvalue="0"), TypeError, "fillvalue"),
    (lambda: I.median_filter(np.ones((3, 3)), 0), ValueError, "size"),
    (lambda: I.median_filter(np.ones((3, 3)), (3, 0)), ValueError, "size"),
    (lambda: I.median_filter(np.ones((3, 3)), 2.5), TypeError, "size"),
    (lambda: I.median_filter(np.ones((3, 3)), 3, "mirror"), ValueError, "'reflect', 'nearest', 'constant'"),
    (lambda: I.median_filter(np.ones(3), 3), ValueError, "image"),
    (lambda: I.pool2d(np.ones((4, 4)), 0), ValueError, "size"),
    (lambda: I.pool2d(np.ones((4, 4)), 2, stride=0), ValueError, "stride"),
    (lambda: I.to_grayscale(np.ones((3, 3))), ValueError, "rgb"),
    (lambda: I.to_grayscale(np.ones((3, 3, 2))), ValueError, "rgb"),
    (lambda: I.to_uint8(np.array([np.nan])), ValueError, "NaN"),
    (lambda: I.to_uint8([1, 2]), TypeError, "x"),
    (lambda: I.add_salt_and_pepper(np.ones((3, 3)), 1.5), ValueError, "amount"),
    (lambda: I.add_salt_and_pepper(np.ones((3, 3)), 0.1, rng="seed"), TypeError, "rng"),
    (lambda: I.add_gaussian_noise(np.ones((3, 3)), -1.0), ValueError, "sigma"),
    (lambda: I.kernels.get("nope"), ValueError, "identity"),
])
def test_bad_input(call, error, name):
    with pytest.raises(error, match=name):
        call()


# ---------------------------------------------------------------------------
# Pixel values, colour, noise
# ---------------------------------------------------------------------------
def test_to_uint8():
    got = I.to_uint8(np.array([-3.0, 0.4, 2.6, 254.5, 300.0, np.inf, -np.inf]))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, [0, 0, 3, 254, 255, 255, 0])   # rint: 254.5 -> 254 (to even)
    np.testing.assert_array_equal(I.to_uint8(np.array([-5, 7, 999], dtype=np.int16)), [0, 7, 255])
    np.testing.assert_array_equal(I.to_uint8(np.array([-100, 100], dtype=np.int8)), [0, 100])
    np.testing.assert_array_equal(I.to_uint8(np.array([True, False])), [1, 0])


def test_to_grayscale():
    rgb = np.zeros((1, 3, 3))
    rgb[0, 0, 0], rgb[0, 1, 1], rgb[0, 2, 2] = 1, 1, 1
    np.testing.assert_allclose(I.to_grayscale(rgb), [[0.299, 0.587, 0.114]])
    rgba = np.concatenate([rgb, np.full((1, 3, 1), 0.5)], axis=-1)
    np.testing.assert_array_equal(I.to_grayscale(rgba), I.to_grayscale(rgb))
    white = np.full((2, 2, 3), 255, dtype=np.uint8)
    g = I.to_grayscale(white)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 255.0)
    assert I.to_grayscale(rgb.astype(np.float32)).dtype == np.float32


def test_salt_and_pepper():
    x = np.full((10, 20, 3), 0.5, dtype=np.float32)
    noisy = I.add_salt_and_pepper(x, 0.1, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(x, 0.5)                                     # input left alone
    changed = (noisy != 0.5).any(axis=-1)
    assert changed.sum() == 20
    assert (noisy[changed] == 0).all(axis=-1).sum() == 10                     # half pepper...
    assert (noisy[changed] == 1).all(axis=-1).sum() == 10                     # ...half salt, all channels
    np.testing.assert_array_equal(noisy, I.add_salt_and_pepper(x, 0.1, rng=np.random.default_rng(3)))
    np.testing.assert_array_equal(I.add_salt_and_pepper(x, 0.1, rng=7), I.add_salt_and_pepper(x, 0.1, rng=7))
    u8 = I.add_salt_and_pepper(np.full((4, 4), 100, dtype=np.uint8), 1.0, rng=0)
    assert sorted(np.unique(u8)) == [0, 255]
    custom = I.add_salt_and_pepper(np.zeros((4, 4)), 1.0, rng=0, salt=5, pepper=-5)
    assert sorted(np.unique(custom)) == [-5, 5]
    np.testing.assert_array_equal(I.add_salt_and_pepper(x, 0.0, rng=0), x)


def test_gaussian_noise():
    x = np.zeros((200, 200))
    noisy = I.add_gaussian_noise(x, 2.0, rng=0)
    assert abs(noisy.mean()) < 0.05 and abs(noisy.std() - 2.0) < 0.05
    np.testing.assert_array_equal(x, 0)
    np.testing.assert_array_equal(noisy, I.add_gaussian_noise(x, 2.0, rng=0))
    np.testing.assert_array_equal(I.add_gaussian_noise(x, 0.0, rng=0), x)


def test_global_rng_when_none():
    import minicnn
    x = np.zeros((8, 8))
    minicnn.manual_seed(5)
    a = I.add_gaussian_noise(x, 1.0)
    minicnn.manual_seed(5)
    np.testing.assert_array_equal(a, I.add_gaussian_noise(x, 1.0))


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------
def test_import_does_not_load_matplotlib():
    code = "import sys, minicnn.image; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_imsave_imread_gray_roundtrip(tmp_path):
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / "gray.png"
    I.imsave(path, levels)
    back = I.imread(path)
    assert back.dtype == np.float32 and back.shape == (16, 16, 4)
    np.testing.assert_array_equal(np.rint(back[..., 0] * 255), levels)       # exact gray levels
    np.testing.assert_array_equal(back[..., 0], back[..., 2])
    np.testing.assert_allclose(I.to_grayscale(back), levels / 255, atol=1e-6)
    assert os.listdir(tmp_path) == ["gray.png"]                                 # no temporary left


def test_imsave_imread_colour_and_float(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.random((5, 6, 3))
    I.imsave(tmp_path / "c.png", rgb)
    back = I.imread(str(tmp_path / "c.png"))
    np.testing.assert_allclose(back[..., :3], rgb, atol=0.5 / 255 + 1e-6)      # 8-bit rounding
    I.imsave(tmp_path / "over.png", np.array([[-1.0, 2.0]]))                   # clipped to [0, 1]
    np.testing.assert_array_equal(I.imread(tmp_path / "over.png")[..., 0], [[0.0, 1.0]])
    I.imsave(tmp_path / "c.jpg", rgb)                                          # via Pillow
    jpg = I.imread(tmp_path / "c.jpg")
    assert jpg.shape == (5, 6, 3) and jpg.dtype == np.float32
    assert 0.0 <= jpg.min() and jpg.max() <= 1.0


def test_imsave_errors(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        I.imsave(tmp_path / "noext", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="array"):
        I.imsave(tmp_path / "x.png", np.zeros((2, 2, 2)))
    for ext in ("bmp", "jpg"):                    # formats without alpha refuse RGBA, never drop it
        with pytest.raises(ValueError, match=r"alpha channel .*\.png"):
            I.imsave(tmp_path / f"x.{ext}", np.zeros((2, 2, 4)))
    with pytest.raises(FileNotFoundError):
        I.imread(tmp_path / "missing.png")
    assert os.listdir(tmp_path) == []


def test_sample_image():
    img = I.sample_image()
    assert img.shape == (600, 512, 3) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0 and img.std() > 0.1
    edges = I.convolve2d(I.to_grayscale(img), I.kernels.get("laplacian8"), "same", "symm")
    assert edges.shape == (600, 512) and edges.dtype == np.float32
