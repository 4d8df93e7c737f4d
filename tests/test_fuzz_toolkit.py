"""Fuzz suite for the toolkit around the network: minicnn.image,
minicnn.metrics, minicnn.viz and minicnn.data.

Covered, grouped by module below:

- image: convolve2d/correlate2d, convolve1d, median_filter, pool2d, sobel,
  gaussian_kernel, KernelRegistry and the ``kernels`` registry, to_uint8,
  to_grayscale, add_salt_and_pepper, add_gaussian_noise, sample_image,
  imsave/imread (str, bytes and pathlib paths; arbitrary file contents; bad paths);
- metrics: accuracy, confusion_matrix, precision_recall_f1, top_k_accuracy,
  classification_report;
- viz: plot_history, plot_confusion_matrix, show_images, plot_feature_maps,
  plot_filters, save_figure, pyplot;
- data: read_idx (valid, spoiled, gzipped and random files; bad paths),
  load_mnist/load_fashion_mnist (arguments, missing or corrupt data, a download
  that fails; never a real download), DatasetNotFoundError, DataLoader.

Contract, for arbitrary arrays (every dtype kind, any ndim, zero-size sides,
NaN/inf, huge values, any memory layout), arbitrary arguments and arbitrary
file contents:

- every call gives the correct result (checked against a reference written
  from the definitions: bit for bit where the values make the answer exact,
  within a rounding bound on other finite values), or raises
  ``ValueError``/``TypeError`` (``FileNotFoundError`` for a missing file or
  dataset, ``IsADirectoryError`` for a folder given as a file name) whose
  message names the argument that was wrong; never another exception, a NumPy
  message, a warning (warnings are errors in this suite), a hang or a silent
  wrong result;
- images may be bool, integer or float (each function's docstring says what it
  returns for which); NaN/inf in float images propagate as IEEE arithmetic
  has them, without warnings; complex and object arrays give a ``TypeError``;
- read-only inputs work, nothing writes into the caller's arrays, and a
  non-contiguous view (Fortran order, strided, negative strides, broadcast)
  gives bit for bit the result (or the same kind of error) of its contiguous
  copy: see :func:`on_layout`;
- plotting functions close their figure when they fail, and write the file
  when given a valid path.

Strategies and checks shared with the other fuzz suites live in
``tests/fuzzing.py``. Images stay small (sides <= 12) and plotting tests run
20 examples, so the suite takes well under a minute with the default profile.
"""
import gzip
import os
import struct
from collections import Counter

import numpy as np
import pytest
from fuzzing import (ALL_DTYPES, LAYOUTS, any_arrays, assert_same, broadcast_view, call_cleanly, check_message,
                     finite_arrays, frozen, median_reference, relayout, shapes, wrong_values)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from minicnn import data as D
from minicnn import image as I
from minicnn import layers as L
from minicnn import metrics as M
from minicnn import viz as V

ALL_LAYOUTS = LAYOUTS + ("broadcast",)
#: Tests that use a function-scoped fixture (tmp_path, monkeypatch, no_figure_left_open)
#: across examples: every example cleans up after itself.
FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
#: Figures and files cost time: a fraction of the profile's examples (20 and 60 by default).
EXAMPLES = settings.default.max_examples
PLOTS = settings(max_examples=max(EXAMPLES // 5, 10), suppress_health_check=FIXTURE_OK)
FILES = settings(max_examples=max(3 * EXAMPLES // 5, 10), suppress_health_check=FIXTURE_OK)


@pytest.fixture(autouse=True)
def _in_a_temporary_folder(tmp_path, monkeypatch):
    """Relative paths the fuzzer makes up (such as "3", a valid file name) land in tmp_path."""
    monkeypatch.chdir(tmp_path)


def view_and_copy(x, layout):
    """``(view, contiguous copy)`` of ``x`` in ``layout`` (``"broadcast"``: repeated rows)."""
    if layout == "broadcast":
        return broadcast_view(x)
    return relayout(x, layout), relayout(x, "contiguous")


def call(fn, *args, names=(), **kwargs):
    """:func:`call_cleanly`, recording for ``--hypothesis-show-statistics`` whether the
    call returned or which error it raised (so a test that never gets past the
    argument checks shows up)."""
    result, err = call_cleanly(fn, *args, names=names, **kwargs)
    event("returned" if err is None else f"raised {type(err).__name__}")
    return result, err


def call_path(fn, *args, names=(), **kwargs):
    """:func:`call` that also accepts ``IsADirectoryError`` (a folder given as a file name)."""
    try:
        return call(fn, *args, names=names, **kwargs)
    except IsADirectoryError as exc:
        check_message(exc, names)
        event("raised IsADirectoryError")
        return None, exc


def on_layout(fn, arrays, layout, names):
    """Call ``fn(*arrays)`` with every array among ``arrays`` as a ``layout`` view, then
    again with read-only contiguous copies of those views.

    Both calls must give exactly the same result, or errors of the same kind, and
    the views must keep their values (nothing is written into the caller's arrays).
    Returns ``(result, error, copies)``: ``copies`` holds the values ``fn`` saw, for
    the test's reference to work on.
    """
    pairs = [view_and_copy(a, layout) if isinstance(a, np.ndarray) else (a, a) for a in arrays]
    copies = [frozen(c) if isinstance(c, np.ndarray) else c for _, c in pairs]
    got, err = call(fn, *(v for v, _ in pairs), names=names)
    again, err_again = call_cleanly(fn, *copies, names=names)
    assert type(err) is type(err_again), (err, err_again)
    if err is None:
        assert_same(got, again)                                     # layout changes nothing
    for (view, _), copy in zip(pairs, copies):
        if isinstance(view, np.ndarray):
            assert_same(view, copy)                                 # the input is untouched
    return got, err, copies


def fresh_rng(rng):
    """``rng`` again for a second call that must draw the same numbers: a new Generator
    with a fixed seed, or None after reseeding minicnn's global generator."""
    if rng is None:
        mc.manual_seed(0)
    elif isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(5)
    return rng


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------
def mostly(valid, invalid, odds=4):
    """``valid`` ``odds`` times out of ``odds + 1``, else ``invalid``: with several arguments
    per call, even odds would leave few calls that get past the argument checks."""
    # 1, not 0: Hypothesis favours the ends of a range, so 0 would come up far more often.
    return st.integers(0, odds).flatmap(lambda i: invalid if i == 1 else valid)


REAL_DTYPES = tuple(d for d in ALL_DTYPES if np.dtype(d).kind in "biuf")
#: Python ints too large for any float.
HUGE = st.sampled_from([10 ** 400, -10 ** 400, 2 ** 1024])


@st.composite
def image_like(draw, ndims=(2, 3), min_side=0, max_side=12, dtypes=ALL_DTYPES, channels=(1, 2, 3, 4)):
    """``(array, exact)``: mostly (H, W) or (H, W, C) arrays of any dtype, sometimes of
    another ndim. ``exact``: the values are small integers, so every sum the image
    functions form is exact in float16/32/64 and a reference must agree bit for bit.
    Otherwise float arrays hold modest finite values (|x| <= 10) or anything at all."""
    ndim = draw(st.sampled_from(ndims) if draw(st.integers(0, 9)) else st.integers(0, 4))
    side = st.integers(min_side, max_side)
    shape = tuple(draw(side) for _ in range(min(ndim, 2)))
    if ndim >= 3:
        shape += (draw(st.sampled_from(channels)),) + tuple(draw(st.integers(0, 3)) for _ in range(ndim - 3))
    dtype = np.dtype(draw(mostly(st.sampled_from([d for d in dtypes if d in REAL_DTYPES] or dtypes),
                                 st.sampled_from(dtypes))))
    exact = dtype.kind in "biuf" and draw(st.booleans())
    if exact:
        lo = 0 if dtype.kind in "bu" else -4
        hi = 1 if dtype.kind == "b" else 4
        x = draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi))).astype(dtype)
    elif dtype.kind == "f" and draw(st.booleans()):
        x = draw(finite_arrays(shape, dtype, bound=10.0))
    else:
        x = draw(any_arrays(shape=shape, dtypes=(dtype,)))
    return x, exact


def kernels_like(max_side=7):
    return image_like(ndims=(2,), min_side=0, max_side=max_side)


LAYOUT = st.sampled_from(ALL_LAYOUTS)
MODES = mostly(st.sampled_from(["full", "same", "valid"]), wrong_values() | st.sampled_from(["middle", "FULL", ""]))
BOUNDARIES = mostly(st.sampled_from(["fill", "pad", "symm", "symmetric", "wrap", "circular"]),
                    wrong_values() | st.just("reflect"))
SIZES = mostly(st.integers(1, 5) | st.tuples(st.integers(1, 5), st.integers(1, 5)) | st.just([2, 3]),
               wrong_values() | st.just((0, 2)))
FILLS = mostly(st.integers(-3, 3) | st.floats(allow_nan=True, allow_infinity=True) | st.just(10 ** 400)
               | st.sampled_from([0.5, np.float16(2), np.float32(3), np.int64(7), np.array(1.5)]),
               wrong_values() | st.sampled_from(["0", [1], 1j, np.array([1.0, 2.0])]))
RNGS = mostly(st.integers(0, 2 ** 32) | st.none() | st.just(np.random.default_rng(5)),
              wrong_values() | st.just(2 ** 64) | st.just(np.random.RandomState(0)))


def _real_image(x):
    return isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and x.ndim in (2, 3) and x.size > 0


def _out_dtype(dtype):
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _modest(*values):
    """All values finite and |value| < 1e3: a float64 reference is then accurate enough
    for a tolerance check of any result dtype."""
    try:
        return all(np.all(np.abs(np.asarray(a, dtype=np.float64)) < 1e3) for a in values)
    except OverflowError:                                           # a Python int beyond float64
        return False


#: Relative error allowed against a float64 reference, by result itemsize (float16
#: results are summed in float32 and rounded once).
RTOL = {2: 1e-3, 4: 1e-5, 8: 1e-13}


# ---------------------------------------------------------------------------
# References, straight from the definitions (small integer values: exact)
# ---------------------------------------------------------------------------
NP_PAD = {"fill": "constant", "pad": "constant", "symm": "symmetric", "symmetric": "symmetric",
          "wrap": "wrap", "circular": "wrap"}


def ref_filter2d(x, k, mode, boundary, fill, convolve):
    """scipy.signal's convolve2d/correlate2d on one (H, W) channel, in float64.

    "full" correlates the extended image with the (for convolution: rotated)
    kernel; "same" and "valid" are blocks of it. "valid" never uses the
    extension, whichever of image and kernel is larger.
    """
    (h, w), (kh, kw) = x.shape, k.shape
    kc = k[::-1, ::-1] if convolve else k
    if mode == "valid":
        boundary, fill = "fill", 0.0
    extra = {"constant_values": fill} if NP_PAD[boundary] == "constant" else {}
    ext = np.pad(x.astype(np.float64), ((kh - 1, kh - 1), (kw - 1, kw - 1)), mode=NP_PAD[boundary], **extra)
    full = np.zeros((h + kh - 1, w + kw - 1))
    for i in range(kh):
        for j in range(kw):
            full += kc[i, j] * ext[i:i + h + kh - 1, j:j + w + kw - 1]
    if mode == "full":
        return full
    if mode == "same":
        top, left = ((kh - 1) // 2, (kw - 1) // 2) if convolve else (kh // 2, kw // 2)
        return full[top:top + h, left:left + w]
    return full[min(h, kh) - 1:max(h, kh), min(w, kw) - 1:max(w, kw)]


def per_channel(fn, x, *args):
    """``fn`` applied to each channel of an (H, W, C) image, or to an (H, W) one."""
    if x.ndim == 2:
        return fn(x, *args)
    return np.stack([fn(x[..., c], *args) for c in range(x.shape[-1])], axis=-1)


def ref_pool(x, size, stride, mode):
    """Max or mean of each block, block by block (the mean summed in float32 at least)."""
    (sh, sw), (th, tw) = size, stride
    oh, ow = (x.shape[0] - sh) // th + 1, (x.shape[1] - sw) // tw + 1
    work = np.promote_types(_out_dtype(x.dtype), np.float32)
    out = np.empty((oh, ow), dtype=x.dtype if mode == "max" else _out_dtype(x.dtype))
    for r in range(oh):
        for c in range(ow):
            block = x[r * th:r * th + sh, c * tw:c * tw + sw]
            if mode == "max":
                out[r, c] = np.max(block)
            else:
                out[r, c] = block.astype(work).sum() * work.type(1.0 / (sh * sw))
    return out


def pair(size):
    """``size`` as ``(height, width)``: an int stands for both."""
    return (size, size) if np.ndim(size) == 0 else tuple(size)


# ---------------------------------------------------------------------------
# minicnn.image: filters
# ---------------------------------------------------------------------------
@given(image=image_like(), kernel=kernels_like(), mode=MODES, boundary=BOUNDARIES, fillvalue=FILLS,
       convolve=st.booleans(), layout=LAYOUT)
def test_convolve2d_and_correlate2d(image, kernel, mode, boundary, fillvalue, convolve, layout):
    (x, x_exact), (k, k_exact) = image, kernel
    f = I.convolve2d if convolve else I.correlate2d
    got, err, (x, k) = on_layout(lambda a, b: f(a, b, mode, boundary, fillvalue), [x, k], layout,
                                 names=("image", "kernel", "mode", "boundary", "fillvalue"))
    if err is not None:
        return
    assert _real_image(x) and _real_image(k) and k.ndim == 2
    assert got.dtype == _out_dtype(x.dtype)
    fill = np.asarray(fillvalue).item()
    if x_exact and k_exact and isinstance(fill, (int, float)) and abs(fill) < 10 and float(fill).is_integer():
        expected = per_channel(ref_filter2d, x, k.astype(np.float64), mode, boundary, fill, convolve)
        assert_same(got, expected.astype(got.dtype))
    elif _modest(x, k, fill):
        # Any other finite values: within rounding of the float64 reference, relative to
        # the sum of the terms' sizes (terms of opposite signs cancel).
        x64, k64 = x.astype(np.float64), k.astype(np.float64)
        expected = per_channel(ref_filter2d, x64, k64, mode, boundary, float(fill), convolve)
        scale = per_channel(ref_filter2d, np.abs(x64), np.abs(k64), mode, boundary, abs(float(fill)), convolve)
        info = np.finfo(got.dtype)
        fits = scale < float(info.max) / 4                         # no overflow to +-inf on the way
        error = np.abs(got.astype(np.float64) - expected)
        assert np.all(error[fits] <= RTOL[info.bits // 8] * scale[fits] + float(info.smallest_subnormal))


@given(signal=image_like(ndims=(1,)), kernel=image_like(ndims=(1,)), mode=MODES, layout=LAYOUT)
def test_convolve1d(signal, kernel, mode, layout):
    (a, a_exact), (v, v_exact) = signal, kernel
    got, err, (a, v) = on_layout(lambda s, k: I.convolve1d(s, k, mode), [a, v], layout,
                                 names=("signal", "kernel", "mode"))
    if err is not None:
        return
    assert got.dtype == _out_dtype(a.dtype)
    expected = np.convolve(a.astype(np.float64), v.astype(np.float64), mode)
    if a_exact and v_exact:
        assert_same(got, expected.astype(got.dtype))
    elif _modest(a, v):
        scale = np.convolve(np.abs(a.astype(np.float64)), np.abs(v.astype(np.float64)), mode)
        info = np.finfo(got.dtype)
        fits = scale < float(info.max) / 4
        error = np.abs(got.astype(np.float64) - expected)
        assert np.all(error[fits] <= RTOL[info.bits // 8] * scale[fits] + float(info.smallest_subnormal))


@given(image=image_like(), size=SIZES, mode=st.sampled_from(["reflect", "nearest", "constant"]) | wrong_values(),
       layout=LAYOUT)
def test_median_filter(image, size, mode, layout):
    got, err, (x,) = on_layout(lambda a: I.median_filter(a, size, mode), [image[0]], layout,
                               names=("image", "size", "mode"))
    if err is not None:
        return
    assert got.dtype == x.dtype and got.shape == x.shape             # a median is an input value
    assert_same(got, per_channel(median_reference, x, pair(size), mode))   # exact for every dtype, NaN too


@given(image=image_like(), size=SIZES,
       stride=st.none() | SIZES | st.sampled_from([10 ** 30, (1, 2 ** 63)]),
       mode=st.sampled_from(["max", "avg"]) | wrong_values(), layout=LAYOUT)
def test_pool2d(image, size, stride, mode, layout):
    got, err, (x,) = on_layout(lambda a: I.pool2d(a, size, mode, stride), [image[0]], layout,
                               names=("image", "size", "stride", "mode"))
    if err is not None:
        return
    assert got.dtype == (x.dtype if mode == "max" else _out_dtype(x.dtype))
    size = pair(size)
    stride = size if stride is None else pair(stride)
    if mode == "max" or image[1]:
        assert_same(got, per_channel(ref_pool, x, size, stride, mode))
    elif _modest(x):
        expected = per_channel(ref_pool, x.astype(np.float64), size, stride, mode)
        tol = RTOL[got.dtype.itemsize]
        np.testing.assert_allclose(got.astype(np.float64), expected, rtol=tol, atol=10 * tol)


@given(image=image_like(), layout=LAYOUT)
def test_sobel(image, layout):
    got, err, (x,) = on_layout(I.sobel, [image[0]], layout, names=("image",))
    if err is not None:
        return
    gx, gy, mag = got
    assert_same(gx, I.correlate2d(x, I.kernels.get("sobel_x"), "same", "symm"))
    assert_same(gy, I.correlate2d(x, I.kernels.get("sobel_y"), "same", "symm"))
    with np.errstate(over="ignore"):
        assert_same(mag, np.hypot(gx, gy))


@given(size=SIZES | st.integers(6, 30),
       sigma=(st.floats(min_value=1e-300, max_value=1e300) | st.integers(1, 5)
              | st.sampled_from([5e-324, 1e-3, 1.7e308]) | wrong_values() | HUGE))
def test_gaussian_kernel(size, sigma):
    g, err = call(I.gaussian_kernel, size, sigma, names=("size", "sigma"))
    if err is not None:
        return
    kh, kw = pair(size)
    assert g.shape == (kh, kw) and g.dtype == np.float64
    assert np.all(np.isfinite(g)) and np.all(g >= 0)
    assert abs(g.sum() - 1) < 1e-12
    assert_same(g, g[::-1, ::-1])                                   # symmetric about the centre
    assert g[(kh - 1) // 2, (kw - 1) // 2] == g.max()
    if 0.3 < sigma < 1e3:                                           # away from the limits: the formula
        d = lambda n: (np.arange(n) - (n - 1) / 2) ** 2             # noqa: E731
        expected = np.exp(-(d(kh)[:, None] + d(kw)[None, :]) / (2 * float(sigma) ** 2))
        np.testing.assert_allclose(g, expected / expected.sum(), rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------------------
# minicnn.image: the kernel registry
# ---------------------------------------------------------------------------
KEYS = mostly(st.sampled_from(I.kernels.names()), wrong_values() | st.just([1]) | st.just({}) | st.text(max_size=3), 3)


@given(name=KEYS)
def test_kernel_registry_lookup(name):
    assert I.kernels.names() == tuple(I.kernels) and len(I.kernels) == len(I.kernels.names())
    known = name in I.kernels                                       # never "unhashable type"
    assert known == (isinstance(name, str) and name in I.kernels.names())
    k, err = call(I.kernels.get, name, names=("name",))
    assert (err is None) == known
    if known:
        assert k.dtype == np.float64 and k.ndim == 2 and np.all(np.isfinite(k))
        k[...] = 7                                                  # a copy: the registry is untouched
        assert not np.any(I.kernels.get(name) == 7)


TABLE_VALUES = mostly(st.builds(lambda a: a[0], image_like(ndims=(2,), min_side=1, max_side=3, dtypes=REAL_DTYPES))
                      | st.sampled_from([[[1, 2]], [[True]]]),
                      st.sampled_from([[[1, 2], [3]], [[1.0, float("nan")]], "abc", [], [[1j]]]) | wrong_values(), 6)


@given(table=mostly(st.dictionaries(mostly(st.text(max_size=2), st.integers(0, 2), 9), TABLE_VALUES, max_size=3),
                    wrong_values() | st.just([("a", [[1]])]) | st.just("abc")))
def test_kernel_registry_constructor(table):
    reg, err = call(I.KernelRegistry, table, names=("table",))
    if err is not None:
        return
    assert reg.names() == tuple(table) == tuple(reg) and len(reg) == len(table)
    for name, k in table.items():
        got = reg.get(name)
        assert_same(got, np.asarray(k).astype(np.float64))
        assert name in reg and repr(reg).startswith("KernelRegistry(")
        got[...] = 99                                               # a copy: the registry keeps its own
        assert_same(reg.get(name), np.asarray(k).astype(np.float64))


# ---------------------------------------------------------------------------
# minicnn.image: pixel values, colour, noise
# ---------------------------------------------------------------------------
def ref_to_uint8(x):
    """Clip to [0, 255] and round half to even, one Python number at a time."""
    flat = [0 if v != v else round(min(max(float(v), 0.0), 255.0)) for v in np.asarray(x, dtype=object).ravel()]
    return np.array(flat, dtype=np.uint8).reshape(np.shape(x))


@given(x=any_arrays(), layout=LAYOUT)
def test_to_uint8(x, layout):
    got, err, (x,) = on_layout(I.to_uint8, [x], layout, names=("x",))
    if err is not None:
        assert x.dtype.kind not in "biu"                            # any shape of bools/ints works
        return
    assert x.dtype.kind in "biuf"
    assert_same(got, ref_to_uint8(x))


@given(rgb=image_like(ndims=(3,), channels=(1, 3, 4, 5)), layout=LAYOUT)
def test_to_grayscale(rgb, layout):
    got, err, (x,) = on_layout(I.to_grayscale, [rgb[0]], layout, names=("rgb",))
    if err is not None:
        return
    assert got.dtype == _out_dtype(x.dtype) and got.shape == x.shape[:2]
    if np.all(np.isfinite(x[..., :3].astype(np.float64))):
        r, g, b = (x[..., c].astype(np.float64) for c in range(3))
        with np.errstate(over="ignore"):
            expected = (0.299 * r + 0.587 * g + 0.114 * b).astype(got.dtype)
        # Relative to the size of the terms: R and G of opposite signs cancel.
        scale = 0.299 * np.abs(r) + 0.587 * np.abs(g) + 0.114 * np.abs(b)
        rtol = {2: 2e-3, 4: 1e-6, 8: 1e-12}[got.dtype.itemsize]
        finite = np.isfinite(expected)
        assert np.all(np.abs(got.astype(np.float64) - expected.astype(np.float64))[finite] <= rtol * scale[finite])


PIXEL_VALUES = (st.none() | st.integers(-300, 300) | st.floats(allow_nan=True) | wrong_values()
                | st.sampled_from([np.uint8(7), 1e10, 10 ** 400, -10 ** 30, 2 ** 64]))


@given(image=image_like(), amount=st.floats(0, 1) | wrong_values() | HUGE, rng=RNGS, salt=PIXEL_VALUES,
       pepper=PIXEL_VALUES, layout=LAYOUT)
def test_add_salt_and_pepper(image, amount, rng, salt, pepper, layout):
    got, err, (x,) = on_layout(lambda a: I.add_salt_and_pepper(a, amount, fresh_rng(rng), salt, pepper),
                               [image[0]], layout, names=("image", "amount", "rng", "salt", "pepper"))
    if err is not None:
        return
    assert got.dtype == x.dtype and got.shape == x.shape
    h, w = x.shape[:2]
    pix = lambda a: a.reshape(h, w, -1)                             # noqa: E731
    changed = ~np.all((pix(got) == pix(x)) | ((pix(got) != pix(got)) & (pix(x) != pix(x))), axis=-1)
    s = salt if salt is not None else {"f": 1.0, "b": True}.get(x.dtype.kind) or min(255, np.iinfo(x.dtype).max)
    p = 0 if pepper is None else pepper
    values = np.array([s, p], dtype=x.dtype)
    # Every changed pixel now holds salt or pepper in all its channels.
    is_value = np.zeros((h, w), dtype=bool)
    for v in values:
        is_value |= np.all((pix(got) == v) | ((pix(got) != pix(got)) & (v != v)), axis=-1)
    assert np.all(is_value[changed])
    assert changed.sum() <= round(float(amount) * h * w) <= is_value.sum()


@given(image=image_like(), sigma=st.floats(0, 1e300) | wrong_values() | st.just(0.0) | HUGE, rng=RNGS,
       layout=LAYOUT)
def test_add_gaussian_noise(image, sigma, rng, layout):
    got, err, (x,) = on_layout(lambda a: I.add_gaussian_noise(a, sigma, fresh_rng(rng)), [image[0]], layout,
                               names=("image", "sigma", "rng"))
    if err is not None:
        return
    assert got.dtype == _out_dtype(x.dtype) and got.shape == x.shape
    if sigma == 0:
        assert_same(got, x.astype(got.dtype) + np.zeros((), got.dtype))


@given(image=image_like(), other=image_like(), peak=mostly(st.floats(1e-3, 1e3), wrong_values() | HUGE),
       same_shape=st.booleans(), layout=LAYOUT)
def test_psnr(image, other, peak, same_shape, layout):
    clean = image[0]
    noisy = other[0] if not same_shape or not isinstance(clean, np.ndarray) else \
        np.resize(other[0], clean.shape) if isinstance(other[0], np.ndarray) and other[0].dtype.kind in "biuf" \
        else other[0]
    got, err, (c, n) = on_layout(lambda a, b: I.psnr(a, b, peak), [clean, noisy], layout,
                                 names=("clean", "noisy", "peak"))
    if err is not None:
        return
    assert isinstance(got, float) and not np.isnan(got) or np.isnan(c).any() or np.isnan(n).any()


def test_sample_image():
    img = I.sample_image()
    assert img.shape == (600, 512, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1


# ---------------------------------------------------------------------------
# minicnn.image: files
# ---------------------------------------------------------------------------
EXTENSIONS = st.sampled_from(["png", "PNG", "jpg", "jpeg", "bmp", "tif", "tiff", "gif", "xyz", "txt", ""])
BAD_PATHS = wrong_values() | st.sampled_from(["", "a\0b.png", "missing-folder/x.png", ".", b"\0", b"", [b"x"]])


@FILES
@given(array=image_like(max_side=6), ext=EXTENSIONS | st.just("."), layout=LAYOUT,
       kind=st.sampled_from([str, bytes, "pathlib"]))
def test_imsave_and_imread(tmp_path, array, ext, layout, kind):
    path = tmp_path / f"img.{ext}" if ext else tmp_path / "img"
    if path.exists():
        path.unlink()
    arg = os.fsencode(path) if kind is bytes else str(path) if kind is str else path
    _, err, (x,) = on_layout(lambda a: I.imsave(arg, a), [array[0]], layout, names=("path", "array"))
    if x.ndim == 3 and x.shape[-1] == 4 and ext.lower() not in ("png", "tif", "tiff"):
        assert err is not None                                      # alpha is never silently dropped
    if err is not None:
        assert not path.exists() and not any(f.startswith(".") for f in os.listdir(tmp_path))  # no temp file left
        return
    back = I.imread(arg)
    assert back.dtype == np.float32 and back.shape[:2] == x.shape[:2]
    if ext.lower() in ("png", "bmp", "tif", "tiff"):                # lossless: the 8-bit values come back
        if x.dtype.kind == "f":
            u8 = I.to_uint8(255.0 * np.clip(x.astype(np.float64), 0, 1))
        else:
            u8 = I.to_uint8(x) * (np.uint8(255) if x.dtype.kind == "b" else np.uint8(1))
        if u8.ndim == 2:
            u8 = np.repeat(u8[..., None], 3, axis=2)
        assert_same(back[..., :u8.shape[-1]], u8.astype(np.float32) / np.float32(255))
    path.unlink()


@settings(suppress_health_check=FIXTURE_OK)
@given(content=st.binary(max_size=64) | st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"GIF89a"]),
       tail=st.binary(max_size=32), ext=EXTENSIONS)
def test_imread_arbitrary_bytes(tmp_path, content, tail, ext):
    path = tmp_path / f"img.{ext}"
    path.write_bytes(content + tail)
    got, err = call(I.imread, path, names=(str(path),))
    if err is None:
        assert got.dtype == np.float32 and got.ndim in (2, 3)
        assert np.all((got >= 0) & (got <= 1))


@settings(suppress_health_check=FIXTURE_OK)
@given(path=BAD_PATHS)
def test_imread_imsave_bad_paths(tmp_path, path):
    for fn in (lambda: I.imread(path), lambda: I.imsave(path, np.zeros((2, 2)))):
        _, err = call_path(fn, names=("path", "no such file"))
        assert err is not None
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# minicnn.metrics
# ---------------------------------------------------------------------------
LABEL_DTYPES = st.sampled_from([np.int64, np.int8, np.uint8, np.uint64])


@st.composite
def labels(draw, n, classes=4):
    """Labels (n,): mostly valid ints in 0..classes-1, sometimes anything a user may pass."""
    kind = draw(st.integers(0, 9))
    if kind < 6:
        return draw(hnp.arrays(LABEL_DTYPES, n, elements=st.integers(0, classes - 1)))
    if kind == 6:                                                   # out of range, or beyond int64
        return draw(hnp.arrays(np.int64, n, elements=st.integers(-3, 2 ** 40) | st.just(2 ** 62))
                    | hnp.arrays(np.uint64, n, elements=st.integers(0, 3) | st.sampled_from([2 ** 63 + 5, 2 ** 64 - 1])))
    if kind == 7:                                                   # Python lists, of ints or floats
        return draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)
                    | st.lists(st.floats(0, classes - 1), min_size=n, max_size=n))
    if kind == 8:
        shape = draw(st.sampled_from([(n,), (n, 1), (), (n + 1,), (0,)]))
        return draw(any_arrays(shape=shape) | hnp.arrays(np.str_, shape))
    return draw(wrong_values() | st.just([0, [1, 2]]) | st.just(["a", "b"]))


@st.composite
def predictions(draw, n, classes=4):
    """Predicted labels (n,) or scores (n, C) (sometimes of the wrong shape, or NaN)."""
    if draw(st.booleans()):
        return draw(labels(n, classes))
    c = draw(st.sampled_from([classes, classes, 1, 0, classes + 2]))
    rows = draw(st.sampled_from([n, n, n + 1]))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128]))
    if draw(st.booleans()):
        return draw(hnp.arrays(np.int64, (rows, c), elements=st.integers(-2, 2))).astype(dtype)
    return draw(any_arrays(shape=(rows, c), dtypes=(dtype,)))


def pred_labels(y_pred):
    """Predicted labels: argmax of scores (first maximum), or the labels themselves."""
    p = np.asarray(y_pred)
    if p.ndim == 2:
        return [max(range(p.shape[1]), key=lambda j: (p[i, j], -j)) for i in range(len(p))]
    return [int(v) for v in p]


def ref_confusion(t, p, k):
    counts = Counter(zip(t, p))
    return np.array([[counts[(i, j)] for j in range(k)] for i in range(k)], dtype=np.int64)


def ref_prf(cm):
    """Per class precision, recall, F1 in plain Python, 0 where a denominator is 0."""
    k = len(cm)
    out = []
    for c in range(k):
        tp, pred, sup = int(cm[c, c]), int(cm[:, c].sum()), int(cm[c].sum())
        p = tp / pred if pred else 0.0
        r = tp / sup if sup else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out.append((p, r, f))
    return np.array(out).T


METRIC_NAMES = ("y_true", "y_pred", "num_classes", "scores", "k", "digits", "target_names")


def call_metric(fn, y_true, y_pred, layout, *args):
    """``fn(y_true, y_pred, *args)``; when both are arrays, through :func:`on_layout`.
    Returns ``(result, error, (y_true, y_pred))``, the last the values ``fn`` saw."""
    if isinstance(y_true, np.ndarray) and isinstance(y_pred, np.ndarray):
        got, err, seen = on_layout(lambda t, p: fn(t, p, *args), [y_true, y_pred], layout, METRIC_NAMES)
        return got, err, tuple(seen)
    got, err = call(fn, y_true, y_pred, *args, names=METRIC_NAMES)
    return got, err, (y_true, y_pred)


@given(data=st.data(), n=st.integers(1, 8), layout=LAYOUT)
def test_accuracy_confusion_matrix_and_scores(data, n, layout):
    y_true = data.draw(labels(n), "y_true")
    y_pred = data.draw(predictions(n), "y_pred")
    num_classes = data.draw(st.none() | st.integers(1, 6) | wrong_values() | st.just(10 ** 9), "num_classes")
    acc, err, (y_true, y_pred) = call_metric(M.accuracy, y_true, y_pred, layout)
    cm, cm_err, _ = call_metric(M.confusion_matrix, y_true, y_pred, layout, num_classes)
    prf, prf_err, _ = call_metric(M.precision_recall_f1, y_true, y_pred, layout, num_classes)
    assert (cm_err is None) == (prf_err is None)
    if err is None:
        t, p = [int(v) for v in np.asarray(y_true)], pred_labels(y_pred)
        assert acc == np.mean([a == b for a, b in zip(t, p)])
    if cm_err is None:
        assert err is None
        k = len(cm)
        assert cm.dtype == np.int64 and cm.shape == (k, k)
        assert cm.sum() == n                                        # every label fits in K classes
        assert_same(cm, ref_confusion(t, p, k))
        precision, recall, f1, support = prf
        assert_same(support, cm.sum(axis=1))
        np.testing.assert_allclose(np.array([precision, recall, f1]), ref_prf(cm), rtol=1e-12)


@given(data=st.data(), n=st.integers(1, 8), layout=LAYOUT)
def test_top_k_accuracy(data, n, layout):
    y_true = data.draw(labels(n), "y_true")
    scores = data.draw(predictions(n), "scores")
    k = data.draw(st.integers(1, 5) | wrong_values(), "k")
    got, err, (y_true, scores) = call_metric(M.top_k_accuracy, y_true, scores, layout, k)
    if err is not None:
        return
    s = np.asarray(scores)
    hits = []
    for i, t in enumerate(int(v) for v in np.asarray(y_true)):
        # rank: classes scored higher, then ties at a lower index (argmax's order)
        order = sorted(range(s.shape[1]), key=lambda j: (-s[i, j].item(), j))
        hits.append(order.index(t) < k)
    assert got == np.mean(hits)
    if k == 1:
        assert got == M.accuracy(y_true, scores)


@given(data=st.data(), n=st.integers(1, 8))
def test_classification_report(data, n):
    y_true = data.draw(labels(n), "y_true")
    y_pred = data.draw(predictions(n), "y_pred")
    names = data.draw(st.none() | st.lists(st.text(max_size=4) | st.integers(), max_size=6)
                      | st.sampled_from([np.array("ab"), np.array([["a"], ["b"]]), "abc"]) | wrong_values(),
                      "target_names")
    digits = data.draw(st.integers(0, 17) | wrong_values() | st.just(10 ** 6), "digits")
    text, err = call(M.classification_report, y_true, y_pred, names, digits, names=METRIC_NAMES)
    if err is not None:
        return
    t, p = [int(v) for v in np.asarray(y_true)], pred_labels(y_pred)
    k = len(names) if names is not None else len(M.confusion_matrix(y_true, y_pred))
    lines = text.split("\n")[:-1]
    assert len(lines) == k + 6                                      # header, blank, K rows, blank, 3 totals
    acc = f"{np.mean([a == b for a, b in zip(t, p)]):.{digits}f}"
    assert lines[k + 3].split()[-2:] == [acc, str(n)]


# ---------------------------------------------------------------------------
# minicnn.viz
# ---------------------------------------------------------------------------
def close(fig, path=None):
    """Close ``fig``; given the ``path`` it was saved to, check that a PNG is there and remove it."""
    V.pyplot().close(fig)
    if path is not None:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        os.remove(path)


PLOT_PATHS = mostly(st.none() | st.sampled_from(["fig.png", b"x.png"]),
                    wrong_values() | st.sampled_from(["", "a\0.png", "missing/x.png", "."]), 6)
CURVES = mostly(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5)
                | st.just([1e308, -1e308]) | st.just([True, False]),
                st.sampled_from([(0,), (3,), (2, 2), ()]).flatmap(lambda s: any_arrays(shape=s)) | wrong_values()
                | st.sampled_from([[[1.0], [2.0, 3.0]], ["a"]]))


@PLOTS
@given(history=mostly(st.dictionaries(mostly(st.sampled_from(["loss", "val_loss", "accuracy", "val_accuracy", "lr"]),
                                             st.integers(0, 2)), CURVES, max_size=4),
                      wrong_values() | st.just("loss")),
       path=PLOT_PATHS)
def test_plot_history(no_figure_left_open, history, path):
    fig, err = call_path(V.plot_history, history, path=path, names=("history", "path"))
    if err is not None:
        return
    keys = [k for k in ("loss", "val_loss", "accuracy", "val_accuracy") if k in history]
    panels = {k.replace("val_", "") for k in keys}
    assert len(fig.axes) == len(panels)
    assert sum(len(ax.lines) for ax in fig.axes) == len(keys)
    close(fig, path)


def test_saving_a_curve_near_the_float64_maximum_does_not_warn(no_figure_left_open):
    """Regression: a curve from -1e308 to 1e308 made savefig warn "overflow encountered
    in scalar subtract" (matplotlib's axis limits)."""
    fig = V.plot_history({"loss": [1e308, -1e308]}, path="fig.png")
    close(fig, "fig.png")


CM_LIKE = mostly(hnp.arrays(st.sampled_from([np.int64, np.float64, np.uint8]), st.sampled_from([(2, 2), (3, 3)]),
                            elements=st.integers(0, 9)) | st.just([[1, 2], [3, 4]]),
                 st.sampled_from([(2, 2), (3, 3), (2, 3), (0, 0), (1, 1), (3,)]).flatmap(lambda s: any_arrays(shape=s))
                 | st.sampled_from([np.full((2, 2), 2 ** 62), np.full((2, 2), 1e308), [[1], [2, 3]], [[0.5, -1], [0, 1]],
                                    np.array([[2 ** 64 - 1, 0], [0, 1]], np.uint64), np.array([[5e-324, 0], [0, 1]])])
                 | wrong_values(), 2)
CLASS_NAMES = mostly(st.none() | st.lists(st.text(max_size=5), min_size=2, max_size=3),
                     st.just(np.array("ab")) | st.just(np.array([["a", "b"]])) | wrong_values() | st.just([]))


@PLOTS
@given(data=st.data(), normalize=mostly(st.booleans(), wrong_values()), class_names=CLASS_NAMES, path=PLOT_PATHS)
def test_plot_confusion_matrix(no_figure_left_open, data, normalize, class_names, path):
    if data.draw(st.booleans(), "from labels"):
        args = (data.draw(labels(5, 3)), data.draw(predictions(5, 3)))
    else:
        args = (data.draw(CM_LIKE),)
    fig, err = call_path(V.plot_confusion_matrix, *args, class_names=class_names,
                         normalize=normalize, path=path,
                         names=("cm_or_y_true", "y_true", "y_pred", "class_names", "normalize", "path"))
    if err is not None:
        return
    shown = np.asarray(fig.axes[0].images[0].get_array(), dtype=np.float64)
    cm = (np.asarray(args[0]) if len(args) == 1
          else M.confusion_matrix(*args, num_classes=None if class_names is None else len(class_names)))
    assert shown.shape == cm.shape
    if normalize:
        sums = shown.sum(axis=1)
        assert np.all((np.abs(sums - 1) < 1e-9) | (cm.sum(axis=1, dtype=object) == 0))
    else:
        assert_same(shown, cm.astype(np.float64))
    close(fig, path)


def test_saving_text_the_font_lacks_does_not_warn(no_figure_left_open):
    """Regression: a class name with a control character made savefig warn "Glyph 31
    missing from font(s)" (an error under this suite's warning filter)."""
    fig = V.plot_confusion_matrix(np.eye(2, dtype=np.int64), class_names=["a", "\x1f"], path="fig.png")
    close(fig, "fig.png")


IMAGES = mostly(hnp.arrays(np.float32, st.sampled_from([(3, 4, 5), (2, 3, 2, 2)]), elements=st.floats(0, 1, width=32))
                | hnp.arrays(np.uint8, st.sampled_from([(3, 1, 4, 4), (2, 3, 3, 3), (2, 4, 4, 3)])),
                st.sampled_from([(3, 4, 5), (2, 1, 3, 3), (2, 3, 2, 2), (2, 4, 4, 3), (2, 3, 3, 2), (0, 2, 2), (2, 0, 3), (4,)])
                .flatmap(lambda shape: any_arrays(shape=shape))
                | shapes(min_dims=2, max_dims=5, max_side=4).flatmap(lambda shape: any_arrays(shape=shape))
                | wrong_values(), 2)


@PLOTS
@given(data=st.data(), images=IMAGES, class_names=CLASS_NAMES,
       ncols=mostly(st.integers(1, 4), wrong_values()), max_images=mostly(st.integers(1, 4), wrong_values()),
       path=PLOT_PATHS, channels=mostly(st.none() | st.sampled_from(["first", "last"]), wrong_values()))
def test_show_images(no_figure_left_open, data, images, class_names, ncols, max_images, path, channels):
    n = len(images) if isinstance(images, np.ndarray) and images.ndim else 2
    lab = data.draw(mostly(st.none(), labels(n, 3), 1), "labels")
    pred = data.draw(mostly(st.none(), predictions(n, 3), 1), "predictions")
    fig, err = call_path(V.show_images, images, lab, pred, class_names, ncols, max_images, path, channels,
                         names=("images", "labels", "predictions", "class_names", "ncols", "max_images", "path",
                                "channels"))
    if err is not None:
        return
    assert len(fig.axes) == min(n, max_images)
    assert all(len(ax.images) == 1 for ax in fig.axes)
    close(fig, path)


data_not_a_model = [L.Conv2D(3, 2, 3)]      # a list of layers, not a Sequential


def small_model():
    mc.manual_seed(0)
    return mc.Sequential([L.Conv2D(3, 2, 3, padding=1), L.ReLU(), L.MaxPool2D(2), L.Flatten()])


FEATURE_X = mostly(hnp.arrays(st.sampled_from([np.float32, np.float64, np.float16]),
                              st.sampled_from([(3, 4, 4), (1, 3, 4, 4), (3, 5, 3)]),
                              elements=st.floats(-1e3, 1e3, width=16) | st.sampled_from([np.nan])),
                   st.sampled_from([(3, 4, 4), (2, 3, 4, 4), (2, 4, 4), (4, 4), (3, 0, 4)]).flatmap(lambda s: any_arrays(shape=s))
                   | wrong_values(), 3)


@PLOTS
@given(x=FEATURE_X, layers=mostly(st.none() | st.sampled_from([0, -1, -2, [0, 2], (1,), range(2)]),
                                  st.sampled_from([[3], [9], []]) | wrong_values()),
       max_maps=mostly(st.integers(1, 3), wrong_values()), path=PLOT_PATHS, model_ok=st.integers(0, 9))
def test_plot_feature_maps(no_figure_left_open, x, layers, max_maps, path, model_ok):
    model = small_model() if model_ok else data_not_a_model
    fig, err = call_path(V.plot_feature_maps, model, frozen(x) if isinstance(x, np.ndarray) else x,
                         layers, max_maps, path,
                         names=("model", "x", "layers", "max_maps", "path"))
    if err is not None:
        return
    chosen = [0, 2] if layers is None else [layers] if isinstance(layers, int) else list(layers)
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert len(fig.axes) >= 1 + len(chosen)                           # the input and >= 1 map per layer
    close(fig, path)


@PLOTS
@given(weights=any_arrays(shape=st.just((3, 2, 2, 2)), dtypes=(np.float32, np.float64, np.float16)),
       channel=mostly(st.none() | st.integers(-1, 2), wrong_values()), layer_ok=st.integers(0, 9), path=PLOT_PATHS)
def test_plot_filters(no_figure_left_open, weights, channel, layer_ok, path):
    layer = L.Conv2D(2, 3, 2)
    with np.errstate(over="ignore"):
        layer.params["W"].data[...] = weights.astype(np.float32)      # diverged weights: NaN, inf
    fig, err = call_path(V.plot_filters, layer if layer_ok else L.ReLU(), path, channel,
                         names=("layer", "channel", "path"))
    if err is not None:
        return
    assert sum(len(ax.images) for ax in fig.axes) == 3
    close(fig, path)


@PLOTS
@given(fig_ok=st.booleans(), path=PLOT_PATHS | st.sampled_from(["f.png", "sub"]), other=wrong_values())
def test_save_figure_and_pyplot(no_figure_left_open, fig_ok, path, other):
    os.makedirs("sub", exist_ok=True)
    plt = V.pyplot()
    assert callable(plt.figure) and callable(plt.close)
    fig = plt.figure()
    try:
        _, err = call_path(V.save_figure, fig if fig_ok else other, path, names=("fig", "path"))
    finally:
        plt.close(fig)
    if err is None:
        with open(path, "rb") if path is not None else open(os.devnull, "rb") as f:
            assert path is None or f.read(8) == b"\x89PNG\r\n\x1a\n"
    if isinstance(path, (str, bytes)) and os.path.isfile(path):     # "f.png", or "3" from WRONG_VALUES
        os.remove(path)
    assert sorted(os.listdir()) == ["sub"]


# ---------------------------------------------------------------------------
# minicnn.data: IDX files
# ---------------------------------------------------------------------------
IDX_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@st.composite
def idx_bytes(draw):
    """``(content, expected array or None)``: a valid IDX file, one spoiled on purpose, or noise."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=40)), None
    code = draw(st.sampled_from(sorted(IDX_CODES)))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    dt = np.dtype(IDX_CODES[code])
    arr = draw(hnp.arrays(dt, shape))
    buf = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + arr.tobytes()
    if kind == 1:
        return buf, arr.astype(dt.newbyteorder("="))
    if kind == 2:                                                   # truncated, or bytes after the data
        cut = draw(st.integers(0, len(buf) + 3))
        extra = cut - len(buf)
        spoiled = buf[:cut] if extra <= 0 else buf + draw(st.binary(min_size=extra, max_size=extra))
        return spoiled, (arr.astype(dt.newbyteorder("=")) if spoiled == buf else None)
    if kind == 3:                                                   # one byte of the header changed
        i = draw(st.integers(0, min(len(buf), 8) - 1))
        b = draw(st.integers(0, 255))
        spoiled = buf[:i] + bytes([b]) + buf[i + 1:]
        return spoiled, (arr.astype(dt.newbyteorder("=")) if spoiled == buf else "either")
    return b"\x1f\x8b" + draw(st.binary(max_size=30)), None        # gzip magic, garbage after


@settings(suppress_health_check=FIXTURE_OK)
@given(case=idx_bytes(), compress=st.booleans(), cut_gzip=st.booleans(), as_bytes=st.booleans())
def test_read_idx(tmp_path, case, compress, cut_gzip, as_bytes):
    content, expected = case
    if compress:
        content = gzip.compress(content)
        if cut_gzip:
            content, expected = content[:-5], None                 # the gzip trailer is missing
    path = tmp_path / "file-idx"
    path.write_bytes(content)
    got, err = call(D.read_idx, os.fsencode(path) if as_bytes else path, names=(str(path),))
    if err is not None:
        assert isinstance(err, ValueError) and not isinstance(expected, np.ndarray)
        return
    assert expected is not None
    if isinstance(expected, np.ndarray):
        assert_same(got, expected)
    assert got.flags.writeable and got.dtype.isnative


@settings(suppress_health_check=FIXTURE_OK)
@given(path=BAD_PATHS | st.sampled_from(["missing.idx", "sub"]))
def test_read_idx_bad_paths(path):
    os.makedirs("sub", exist_ok=True)
    _, err = call_path(D.read_idx, path, names=("path", "No such file", "not found"))
    assert err is not None


# ---------------------------------------------------------------------------
# minicnn.data: loading datasets (never from the network)
# ---------------------------------------------------------------------------
@pytest.fixture
def no_datasets_anywhere(tmp_path, monkeypatch):
    """No MINICNN_DATA, an empty user cache, no system folders, and a network that fails."""
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "SYSTEM_DIRS", [])

    def offline(*args, **kwargs):
        raise OSError("offline in tests")

    monkeypatch.setattr(D, "_fetch", offline)
    return tmp_path


@FILES
@given(loader=st.sampled_from([D.load_mnist, D.load_fashion_mnist]),
       root=st.none() | wrong_values() | st.sampled_from(["garbage", "missing", "empty", b"garbage", "\0", ["a"]]),
       download=st.booleans() | st.just(np.False_) | wrong_values(),
       files=st.lists(st.binary(max_size=20), min_size=4, max_size=4), env_missing=st.booleans())
def test_load_datasets_arguments(no_datasets_anywhere, monkeypatch, loader, root, download, files, env_missing):
    folder = no_datasets_anywhere / "garbage"
    folder.mkdir(exist_ok=True)
    (no_datasets_anywhere / "empty").mkdir(exist_ok=True)
    for base, content in zip(D.FILES.values(), files):              # four files that are not MNIST
        (folder / base).write_bytes(content)
    if isinstance(root, str) and root in ("garbage", "missing", "empty"):
        root = no_datasets_anywhere / root
    with monkeypatch.context() as env:
        if env_missing:                                             # MINICNN_DATA names no folder
            env.setenv("MINICNN_DATA", str(no_datasets_anywhere / "none"))
        _, err = call(loader, root, download, names=("root", "download", "not found", str(folder)))
    assert err is not None
    if isinstance(root, os.PathLike) and root.name == "garbage" and isinstance(download, (bool, np.bool_)):
        assert isinstance(err, ValueError) and "checksum" in str(err)
    elif isinstance(err, FileNotFoundError):
        assert isinstance(err, D.DatasetNotFoundError)
        assert ("Download failed" if download else "download=True") in str(err)


def test_dataset_not_found_error_is_a_file_not_found_error():
    assert issubclass(D.DatasetNotFoundError, FileNotFoundError)
    assert str(D.DatasetNotFoundError("x")) == "x"


# ---------------------------------------------------------------------------
# minicnn.data: DataLoader
# ---------------------------------------------------------------------------
@given(x=any_arrays(), y_len=mostly(st.just(0), st.sampled_from([-1, 1])), y_tail=st.sampled_from([(), (2,), (0,)]),
       y_kind=mostly(st.just("array"), st.sampled_from(["list", "none"]), 2),
       batch_size=mostly(st.integers(1, 7) | st.just(10 ** 12), wrong_values()),
       shuffle=mostly(st.booleans() | st.just(np.True_), wrong_values()),
       drop_last=mostly(st.booleans(), wrong_values()),
       seed=mostly(st.none() | st.integers(0, 2 ** 63 - 1), wrong_values() | st.just(2 ** 64)),
       layout=LAYOUT)
def test_dataloader(x, y_len, y_tail, y_kind, batch_size, shuffle, drop_last, seed, layout):
    n = len(x) if x.ndim else 1
    y = frozen(np.arange(max(n + y_len, 0) * int(np.prod(y_tail))).reshape((max(n + y_len, 0),) + y_tail))
    xv, x = view_and_copy(x, layout)
    x = frozen(x)
    y_arg = {"array": y, "list": y.tolist(), "none": None}[y_kind]
    loader, err = call(D.DataLoader, xv, y_arg, batch_size, shuffle, drop_last, seed,
                       names=("x", "y", "batch_size", "shuffle", "drop_last", "seed"))
    if err is not None:
        return
    assert x.ndim >= 1 and len(x) == len(y) >= 1 and y_kind != "none"
    y = frozen(np.asarray(y_arg))                                   # what a list of labels stands for
    # The same arguments over the sample indices reveal the order of each epoch.
    index = D.DataLoader(np.arange(n), np.arange(n), batch_size, shuffle, drop_last, loader.seed)
    copy = D.DataLoader(x, y, batch_size, shuffle, drop_last, loader.seed)
    for _ in range(2):                                              # two epochs
        batches, ibatches, cbatches = list(loader), list(index), list(copy)
        order = [i for _, ib in ibatches for i in ib]
        assert len(batches) == len(loader) == len(ibatches)
        assert len(order) == len(set(order)) == (n // batch_size * batch_size if drop_last else n)
        assert shuffle or order == sorted(order)
        for (xb, yb), (ib, _), (cb, _) in zip(batches, ibatches, cbatches):
            assert len(xb) <= batch_size and (not drop_last or len(xb) == batch_size)
            assert_same(xb, x[ib])
            assert_same(yb, y[ib])
            assert_same(cb, xb)                                     # layout changes nothing
    assert_same(xv, x)                                              # the input is untouched
    assert repr(loader).startswith("DataLoader(")
