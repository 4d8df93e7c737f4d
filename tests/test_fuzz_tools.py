"""Fuzz suite (issue #6) for minicnn.image, minicnn.metrics, minicnn.viz and minicnn.data.

Every public function, called with arbitrary arrays (every dtype kind, any
ndim, zero-size sides, NaN/inf, any memory layout) and arbitrary arguments,
gives the correct result (checked against scipy / a reference written from
the definition) or raises ValueError/TypeError (FileNotFoundError where
honest) naming the wrong argument; never another exception, a NumPy message,
a warning, or a write into the caller's arrays; a non-contiguous view gives
exactly the result of its contiguous copy. Plotting functions leave no figure
open, also when they fail.
"""
import gzip
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from minicnn import data as D
from minicnn import image as I
from minicnn import metrics as M
from minicnn import viz as V

from fuzzing import (ALL_DTYPES, LAYOUTS, WRONG_VALUES, any_arrays, assert_same, broadcast_view,
                     call_cleanly, check_message, finite_arrays, frozen, relayout, shapes, wrong_values)

ALL_LAYOUTS = LAYOUTS + ("broadcast",)
LAYOUT = st.sampled_from(ALL_LAYOUTS)
HUGE = st.sampled_from([10 ** 400, -10 ** 400, 2 ** 1024])      # ints too large for a float
FIXTURES = [HealthCheck.function_scoped_fixture]
PLOT = settings(max_examples=15, suppress_health_check=FIXTURES)
REAL_DTYPES = (np.bool_, np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64)


def view_and_copy(x, layout):
    if layout == "broadcast":
        return broadcast_view(x)
    return relayout(x, layout), relayout(x, "contiguous")


def call_file(fn, *args, names=(), **kwargs):
    """call_cleanly, also allowing IsADirectoryError (a folder given as a file name)."""
    try:
        return call_cleanly(fn, *args, names=names, **kwargs)
    except IsADirectoryError as exc:
        check_message(exc, names)
        return None, exc


def mostly(good, bad=None, weight=4):
    """``good`` most of the time, otherwise a wrong value."""
    bad = wrong_values() if bad is None else bad
    return st.one_of(*([good] * weight), bad)


@st.composite
def images(draw, ndims=(2, 3), max_side=8, dtypes=ALL_DTYPES, min_side=0, channels=(1, 2, 3, 4)):
    """Mostly images of ``ndims`` (sides <= max_side), sometimes any array."""
    if draw(st.integers(0, 9)) == 0:
        return draw(any_arrays(shape=draw(shapes(max_dims=4, max_side=4)), dtypes=dtypes))
    nd = draw(st.sampled_from(ndims))
    shape = tuple(draw(st.integers(min_side, max_side)) for _ in range(min(nd, 2)))
    if nd == 3:
        shape += (draw(st.sampled_from(channels)),)
    if nd == 1:
        shape = shape[:1]
    dt = np.dtype(draw(st.sampled_from(dtypes)))
    if dt.kind == "f" and draw(st.booleans()):
        return draw(finite_arrays(shape, dt, bound=10))
    return draw(any_arrays(shape=shape, dtypes=(dt,)))


def is_real(a):
    return isinstance(a, np.ndarray) and a.dtype.kind in "biuf"


def run_layouts(fn, arrays, layout, names):
    """Call ``fn(*arrays)`` on read-only copies, and on ``layout`` views (same result or same
    error as on their contiguous copies); the caller's arrays are never written."""
    base = [frozen(a) if isinstance(a, np.ndarray) else a for a in arrays]
    out, err = call_cleanly(fn, *base, names=names)
    pairs = [view_and_copy(a, layout) if isinstance(a, np.ndarray) else (a, a) for a in arrays]
    out2, err2 = call_cleanly(fn, *[v for v, _ in pairs], names=names)
    if layout == "broadcast":       # other values: compare with the contiguous copy of the view
        out, err = call_cleanly(fn, *[c for _, c in pairs], names=names)
    assert type(err) is type(err2), (err, err2)
    if err is None:
        assert_same(out, out2)
    for a, b in zip(arrays, base):
        if isinstance(a, np.ndarray):
            assert_same(a, b)          # the caller's values are untouched
    if layout == "broadcast":
        out, err = call_cleanly(fn, *base, names=names)
    return out, err


@st.composite
def anyarr(draw, shape_strategy, dtypes=ALL_DTYPES):
    return draw(any_arrays(shape=draw(shape_strategy), dtypes=dtypes))


# ---------------------------------------------------------------------------
# image: convolve2d / correlate2d
# ---------------------------------------------------------------------------
MODES = mostly(st.sampled_from(["full", "same", "valid"]), st.sampled_from(["FULL", "", None, 1]))
BOUNDARIES = mostly(st.sampled_from(["fill", "wrap", "symm", "pad", "circular", "symmetric"]),
                    st.sampled_from(["reflect", None, 0]))
FILLS = mostly(st.sampled_from([0, 0.5, -2, 1e300, np.float32(3), np.array(2.0), np.int64(7)]),
               st.sampled_from([None, "0", [1], 1j, np.array([1.0, 2.0])]))


def _source(i, n, kind):
    """Index into an axis of length n of position i of the extended axis, or None (fill)."""
    if 0 <= i < n:
        return i
    if kind == "fill":
        return None
    if kind == "wrap":
        return i % n
    if kind == "nearest":
        return min(max(i, 0), n - 1)
    i %= 2 * n                      # symm: d c b a | a b c d | d c b a
    return i if i < n else 2 * n - 1 - i


def ref_filter2d(image, kernel, mode, boundary, fillvalue, convolve):
    """scipy.signal.convolve2d / correlate2d written out from the definition, in float64."""
    x = image.astype(np.float64)
    if x.ndim == 2:
        x = x[..., None]
    k = kernel.astype(np.float64)
    if convolve:
        k = k[::-1, ::-1]
    kind = {"pad": "fill", "symmetric": "symm", "circular": "wrap"}.get(boundary, boundary)
    h, w = x.shape[:2]
    kh, kw = k.shape

    def px(r, c):
        rr, cc = _source(r, h, kind), _source(c, w, kind)
        return np.full(x.shape[2], fillvalue) if rr is None or cc is None else x[rr, cc]

    def corr(r0, c0, oh, ow):        # out[r, c] = sum k[i, j] x_ext[r + r0 + i, c + c0 + j]
        out = np.zeros((oh, ow, x.shape[2]))
        for r in range(oh):
            for c in range(ow):
                for i in range(kh):
                    for j in range(kw):
                        out[r, c] += k[i, j] * px(r + r0 + i, c + c0 + j)
        return out

    if mode == "full":
        out = corr(-(kh - 1), -(kw - 1), h + kh - 1, w + kw - 1)
    elif mode == "same":
        # anchored on tap ((kh-1)//2, (kw-1)//2) of the kernel as given
        ah, aw = (kh - 1) // 2, (kw - 1) // 2
        if convolve:
            ah, aw = kh - 1 - ah, kw - 1 - aw
        out = corr(-ah, -aw, h, w)
    else:
        kind = "fill"                              # no extension is ever used
        full = ref_filter2d(image, kernel, "full", "fill", 0.0, convolve)
        if full.ndim == 2:
            full = full[..., None]
        sh, sw = min(h, kh) - 1, min(w, kw) - 1
        out = full[sh:sh + abs(h - kh) + 1, sw:sw + abs(w - kw) + 1]
    return out if image.ndim == 3 else out[..., 0]


@given(image=images(), kernel=images(ndims=(2,), max_side=5), mode=MODES, boundary=BOUNDARIES,
       fillvalue=FILLS, convolve=st.booleans(), layout=LAYOUT)
def test_convolve2d_correlate2d(image, kernel, mode, boundary, fillvalue, convolve, layout):
    fn = I.convolve2d if convolve else I.correlate2d
    out, err = run_layouts(lambda im, k: fn(im, k, mode=mode, boundary=boundary, fillvalue=fillvalue),
                           [image, kernel], layout, names=("image", "kernel", "mode", "boundary", "fillvalue"))
    if err is not None:
        return
    assert image.ndim in (2, 3) and kernel.ndim == 2 and image.size and kernel.size
    assert out.dtype == (image.dtype if image.dtype.kind == "f" else np.float64)
    # scipy as the reference, where values are finite and modest
    fv = float(np.asarray(fillvalue))
    img64, k64 = image.astype(np.float64), kernel.astype(np.float64)
    if np.all(np.abs(img64) < 1e3) and np.all(np.abs(k64) < 1e3) and abs(fv) < 1e3:
        if mode == "valid" and (image.shape[0] - kernel.shape[0]) * (image.shape[1] - kernel.shape[1]) < 0:
            return
        ref = ref_filter2d(image, kernel, mode, boundary, fv, convolve)
        assert out.shape == ref.shape, (out.shape, ref.shape)
        tol = {2: 2e-2, 4: 1e-4, 8: 1e-9}[out.dtype.itemsize]
        np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol * 100)


@given(signal=images(ndims=(1,), max_side=10), kernel=images(ndims=(1,), max_side=6), mode=MODES, layout=LAYOUT)
def test_convolve1d(signal, kernel, mode, layout):
    out, err = run_layouts(lambda s, k: I.convolve1d(s, k, mode=mode), [signal, kernel], layout,
                           names=("signal", "kernel", "mode"))
    if err is not None:
        return
    assert signal.ndim == kernel.ndim == 1 and signal.size and kernel.size
    assert out.dtype == (signal.dtype if signal.dtype.kind == "f" else np.float64)
    s, k = signal.astype(np.float64), kernel.astype(np.float64)
    if np.all(np.abs(s) < 1e3) and np.all(np.abs(k) < 1e3):
        ref = np.convolve(s, k, mode=mode)
        assert out.shape == ref.shape
        tol = {2: 2e-2, 4: 1e-4, 8: 1e-9}[out.dtype.itemsize]
        np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol * 100)


SIZES = mostly(st.integers(1, 4) | st.tuples(st.integers(1, 4), st.integers(1, 4)))


@given(image=images(), size=SIZES, mode=mostly(st.sampled_from(["reflect", "nearest", "constant"])), layout=LAYOUT)
def test_median_filter(image, size, mode, layout):
    out, err = run_layouts(lambda im: I.median_filter(im, size=size, mode=mode), [image], layout,
                           names=("image", "size", "mode"))
    if err is not None:
        return
    assert out.shape == image.shape and out.dtype == image.dtype
    if image.dtype.kind == "f" and np.isnan(image).any():
        return
    assert_same(out, ref_median(image, size, mode))


def ref_median(image, size, mode):
    """scipy.ndimage.median_filter (origin 0, the element of rank n//2) from the definition."""
    sh, sw = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    kind = {"reflect": "symm", "nearest": "nearest", "constant": "fill"}[mode]
    x = image if image.ndim == 3 else image[..., None]
    h, w = x.shape[:2]
    out = np.empty_like(x)
    for r in range(h):
        for c in range(w):
            for ch in range(x.shape[2]):
                vals = []
                for i in range(r - sh // 2, r + (sh - 1) // 2 + 1):
                    for j in range(c - sw // 2, c + (sw - 1) // 2 + 1):
                        rr, cc = _source(i, h, kind), _source(j, w, kind)
                        vals.append(x[rr, cc, ch] if rr is not None and cc is not None else 0)
                out[r, c, ch] = sorted(vals)[len(vals) // 2]
    return out if image.ndim == 3 else out[..., 0]


@given(image=images(), size=SIZES, stride=st.none() | SIZES | st.sampled_from([10 ** 30, (1, 2 ** 63)]), mode=mostly(st.sampled_from(["max", "avg"])),
       layout=LAYOUT)
def test_pool2d(image, size, stride, mode, layout):
    out, err = run_layouts(lambda im: I.pool2d(im, size, mode=mode, stride=stride), [image], layout,
                           names=("image", "size", "stride", "mode"))
    if err is not None:
        return
    sh, sw = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    th, tw = (sh, sw) if stride is None else (tuple(stride) if isinstance(stride, (tuple, list)) else (stride, stride))
    h, w = image.shape[:2]
    oh, ow = (h - sh) // th + 1, (w - sw) // tw + 1
    assert out.shape[:2] == (oh, ow) and out.shape[2:] == image.shape[2:]
    work = image.astype(np.float64)
    for r in range(oh):
        for c in range(ow):
            block = work[r * th:r * th + sh, c * tw:c * tw + sw]
            if mode == "max":
                want = block.max(axis=(0, 1))
                if image.dtype.kind == "f":
                    np.testing.assert_array_equal(out[r, c].astype(np.float64), want)
            elif np.all(np.isfinite(block)) and np.abs(block).max() < 1e3:
                np.testing.assert_allclose(out[r, c].astype(np.float64), block.mean(axis=(0, 1)),
                                           rtol=1e-2 if out.dtype == np.float16 else 1e-6, atol=1e-2)
    if mode == "max":
        assert out.dtype == image.dtype
    else:
        assert out.dtype == (image.dtype if image.dtype.kind == "f" else np.float64)


@given(image=images(), layout=LAYOUT)
def test_sobel(image, layout):
    out, err = run_layouts(I.sobel, [image], layout, names=("image",))
    if err is not None:
        return
    gx, gy, mag = out
    assert gx.shape == gy.shape == mag.shape == image.shape
    x = image.astype(np.float64)
    if np.all(np.isfinite(x)) and np.abs(x).max() < 1e3:
        tol = 2e-2 if gx.dtype == np.float16 else 1e-4
        ref_x = ref_filter2d(image, I.kernels.get("sobel_x"), "same", "symm", 0.0, False)
        ref_y = ref_filter2d(image, I.kernels.get("sobel_y"), "same", "symm", 0.0, False)
        np.testing.assert_allclose(gx.astype(np.float64), ref_x, rtol=tol, atol=tol * 100)
        np.testing.assert_allclose(gy.astype(np.float64), ref_y, rtol=tol, atol=tol * 100)
        np.testing.assert_allclose(mag.astype(np.float64), np.hypot(ref_x, ref_y), rtol=tol, atol=tol * 100)


@given(size=mostly(st.integers(1, 9) | st.tuples(st.integers(1, 9), st.integers(1, 9))),
       sigma=mostly(st.floats(1e-300, 1e300) | st.integers(1, 5), wrong_values() | HUGE))
def test_gaussian_kernel(size, sigma):
    g, err = call_cleanly(I.gaussian_kernel, size, sigma, names=("size", "sigma"))
    if err is not None:
        return
    kh, kw = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    assert g.shape == (kh, kw) and g.dtype == np.float64
    assert np.all(np.isfinite(g)) and np.all(g >= 0)
    assert abs(g.sum() - 1) < 1e-12
    np.testing.assert_allclose(g, g[::-1, ::-1], rtol=1e-12, atol=1e-15)
    if isinstance(sigma, int) or 0.1 < sigma < 100:
        yy, xx = np.mgrid[:kh, :kw]
        ref = np.exp(-((yy - (kh - 1) / 2) ** 2 + (xx - (kw - 1) / 2) ** 2) / (2 * float(sigma) ** 2))
        np.testing.assert_allclose(g, ref / ref.sum(), rtol=1e-10, atol=1e-15)


TABLE_VALUES = st.one_of(images(ndims=(2,), max_side=3), st.sampled_from(
    [[[1, 2], [3]], [[1, 2]], [], "ab", None, [[np.nan]], [[1j]], [[True]]]))


@given(table=mostly(st.dictionaries(mostly(st.text(max_size=2), st.integers(0, 2)), TABLE_VALUES, max_size=3),
                    st.sampled_from([[1, 2], "abc", None, 3])),
       name=mostly(st.sampled_from(["identity", "sobel_x", "box_blur"]) | st.text(max_size=3)))
def test_kernel_registry(table, name):
    reg, err = call_cleanly(I.KernelRegistry, table, names=("table",))
    if err is None:
        assert len(reg) == len(table) and set(reg.names()) == set(table) and list(reg) == list(reg.names())
        for key in table:
            k = reg.get(key)
            np.testing.assert_array_equal(k, np.asarray(table[key], dtype=np.float64))
            k[...] = 99                                     # a copy: the registry keeps its own
            assert not np.any(reg.get(key) == 99) or np.all(np.asarray(table[key]) == 99)
        repr(reg)
    # the shared registry
    assert (name in I.kernels) == (isinstance(name, str) and name in I.kernels.names())
    k, err = call_cleanly(I.kernels.get, name, names=("name",))
    if err is None:
        assert k.dtype == np.float64 and k.ndim == 2 and k.flags.writeable
        k[...] = 0
        assert np.any(I.kernels.get(name) != 0)


@given(x=images(ndims=(0, 1, 2, 3)), layout=LAYOUT)
def test_to_uint8(x, layout):
    out, err = run_layouts(I.to_uint8, [x], layout, names=("x",))
    if err is not None:
        return
    assert out.dtype == np.uint8 and out.shape == x.shape
    ref = np.rint(np.clip(x.astype(np.float64), 0, 255)).astype(np.uint8)
    assert_same(out, ref)


@given(rgb=images(ndims=(3,), channels=(1, 3, 4, 5)), layout=LAYOUT)
def test_to_grayscale(rgb, layout):
    out, err = run_layouts(I.to_grayscale, [rgb], layout, names=("rgb",))
    if err is not None:
        return
    assert out.shape == rgb.shape[:2] and out.dtype == (rgb.dtype if rgb.dtype.kind == "f" else np.float64)
    x = rgb.astype(np.float64)
    if np.all(np.isfinite(x)) and np.abs(x).max() < 1e3:
        ref = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
        tol = 1e-2 if out.dtype == np.float16 else 1e-5
        np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)


RNGS = mostly(st.none() | st.integers(0, 2 ** 64) | st.just(np.random.default_rng(0)),
              st.sampled_from([-1, 1.5, "0", np.random.RandomState(0), True]))
PIXELS = st.none() | mostly(st.sampled_from([0, 1, 255, 0.5, -3, 300, 1e10, np.nan, np.inf, np.uint8(7), True,
                                             10 ** 400, -10 ** 30, 2 ** 64]))


@given(image=images(), amount=mostly(st.floats(0, 1), wrong_values() | HUGE), seed=st.integers(0, 10), rng_kind=RNGS,
       salt=PIXELS, pepper=PIXELS, layout=LAYOUT)
def test_add_salt_and_pepper(image, amount, seed, rng_kind, salt, pepper, layout):
    def run(im):
        rng = np.random.default_rng(seed) if isinstance(rng_kind, np.random.Generator) else rng_kind
        if rng is None:
            mc.manual_seed(seed)
        return I.add_salt_and_pepper(im, amount, rng=rng, salt=salt, pepper=pepper)
    out, err = run_layouts(run, [image], layout, names=("image", "amount", "rng", "salt", "pepper"))
    if err is not None:
        return
    assert out.shape == image.shape and out.dtype == image.dtype
    h, w = image.shape[:2]
    changed_pixels = np.ones((h, w), bool) if image.ndim == 2 else np.ones((h, w), bool)
    diff = ~((out == image) | ((out != out) & (image != image)))
    if image.ndim == 3:
        diff = diff.any(axis=-1)
    assert diff.sum() <= round(amount * h * w)
    del changed_pixels


@given(image=images(), sigma=mostly(st.floats(0, 1e3) | st.just(1e300), wrong_values() | HUGE), seed=st.integers(0, 10), layout=LAYOUT)
def test_add_gaussian_noise(image, sigma, seed, layout):
    out, err = run_layouts(lambda im: I.add_gaussian_noise(im, sigma, rng=seed), [image], layout,
                           names=("image", "sigma", "rng"))
    if err is not None:
        return
    dt = image.dtype if image.dtype.kind == "f" else np.float64
    assert out.shape == image.shape and out.dtype == dt
    if sigma == 0:
        assert_same(out, image.astype(dt))


def test_sample_image():
    img = I.sample_image()
    assert img.shape == (600, 512, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1


EXTS = mostly(st.sampled_from([".png", ".jpg", ".tif", ".bmp"]), st.sampled_from(["", ".xyz", ".txt", "."]))


@settings(suppress_health_check=FIXTURES, max_examples=40)
@given(array=images(max_side=5, min_side=1), ext=EXTS, layout=LAYOUT, kind=st.sampled_from([str, bytes, "pathlib"]))
def test_imsave_imread_roundtrip(tmp_path, array, ext, layout, kind):
    path = tmp_path / f"img{ext}"
    if path.exists():
        path.unlink()
    view, _ = view_and_copy(array, layout)
    arg = os.fsencode(path) if kind is bytes else path if kind == "pathlib" else str(path)
    _, err = call_cleanly(I.imsave, arg, view, names=("array", "path"))
    if err is not None:
        assert not path.exists()
        return
    back = I.imread(arg)
    assert back.dtype == np.float32 and back.shape[:2] == array.shape[:2]
    if ext == ".png":
        if array.dtype.kind == "b":
            want = array.astype(np.float64)
        elif array.dtype.kind == "f":
            want = np.rint(255 * np.clip(array.astype(np.float64), 0, 1)) / 255
        else:
            want = np.rint(np.clip(array.astype(np.float64), 0, 255)) / 255
        got = back[..., :3] if array.ndim == 2 else back[..., :array.shape[-1]]
        if array.ndim == 2:
            want = np.repeat(want[..., None], 3, axis=-1)
        np.testing.assert_allclose(got, want, atol=1e-6)


BAD_PATHS = st.sampled_from([None, 3, b"", "", "a\0b.png", "nofolder/x.png", ".", [b"x"], 1.5])


@settings(suppress_health_check=FIXTURES)
@given(content=st.binary(max_size=40) | st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0\x00"]),
       ext=st.sampled_from([".png", ".jpg", ".bin", ""]), path=st.none() | BAD_PATHS)
def test_imread_garbage_and_bad_paths(tmp_path, content, ext, path):
    if path is None:
        p = tmp_path / f"g{ext}"
        p.write_bytes(content)
        out, err = call_cleanly(I.imread, p, names=("path", str(p)))
        if err is None:
            assert out.dtype == np.float32 and out.ndim in (2, 3)
        return
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        _, err = call_file(I.imread, path, names=("path", "file"))
        assert err is not None
        _, err = call_file(I.imsave, path, np.zeros((2, 2)), names=("path",))
        assert err is not None
    finally:
        os.chdir(cwd)


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
LABEL_VALUES = st.one_of(
    hnp.arrays(st.sampled_from([np.int8, np.int64, np.uint8]), st.integers(0, 8), elements=st.integers(0, 4)),
    anyarr(shapes(max_dims=2, max_side=6)),
    st.lists(st.integers(-1, 5), max_size=6),
    st.lists(st.sampled_from(["a", "b"]), max_size=4),
    st.lists(st.floats(0, 4), max_size=4),
    hnp.arrays(np.uint64, st.integers(1, 4), elements=st.integers(0, 3) | st.just(2 ** 64 - 1)),
    st.sampled_from([None, 3, "abc", [[1], [2, 3]], np.array([1e9, 0]).astype(np.int64),
                     np.array([2 ** 63 + 5, 1], np.uint64)]))


def _ref_cm(t, p, k):
    cm = np.zeros((k, k), np.int64)
    for a, b in zip(t, p):
        cm[a, b] += 1
    return cm


@st.composite
def label_pairs(draw):
    """Mostly a valid (y_true, y_pred) pair (labels or scores), sometimes anything."""
    if draw(st.integers(0, 3)) == 0:
        return draw(LABEL_VALUES), draw(LABEL_VALUES | hnp.arrays(np.float64, (3, 2)))
    n = draw(st.integers(1, 8))
    c = draw(st.integers(1, 5))
    t = draw(hnp.arrays(st.sampled_from([np.int64, np.uint8, np.int8]), n, elements=st.integers(0, c - 1)))
    if draw(st.booleans()):
        p = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    else:
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int64, np.bool_])))
        p = draw(hnp.arrays(np.float64, (n, c), elements=st.integers(-3, 3).map(float))).astype(dt)
    return t, p


def _pred_labels(p):
    return p.argmax(axis=1) if p.ndim == 2 else p.astype(np.int64)


@given(pair=label_pairs(), num_classes=st.none() | mostly(st.integers(1, 7)), layout=LAYOUT)
def test_accuracy_confusion_precision(pair, num_classes, layout):
    t, p = pair
    views = lambda fn: run_layouts(fn, [t, p], layout, names=("y_true", "y_pred", "num_classes")) \
        if isinstance(t, np.ndarray) and isinstance(p, np.ndarray) else \
        call_cleanly(fn, t, p, names=("y_true", "y_pred", "num_classes"))
    acc, err = views(M.accuracy)
    cm, err2 = views(lambda a, b: M.confusion_matrix(a, b, num_classes))
    prf, err3 = views(lambda a, b: M.precision_recall_f1(a, b, num_classes))
    assert type(err2) is type(err3)
    if err is None:
        t_arr, p_arr = np.asarray(t), np.asarray(p)
        pl = _pred_labels(p_arr)
        assert acc == np.mean(t_arr.astype(np.int64) == pl)
    if err2 is None:
        t_arr, pl = np.asarray(t).astype(np.int64), _pred_labels(np.asarray(p))
        k = len(cm)
        assert_same(cm, _ref_cm(t_arr, pl, k))
        assert k >= max(t_arr.max(), pl.max()) + 1
        precision, recall, f1, support = prf
        for c in range(k):
            tp = cm[c, c]
            pc, rc = cm[:, c].sum(), cm[c].sum()
            pr = tp / pc if pc else 0.0
            re = tp / rc if rc else 0.0
            assert precision[c] == pytest.approx(pr) and recall[c] == pytest.approx(re)
            assert f1[c] == pytest.approx(2 * pr * re / (pr + re) if pr + re else 0.0)
            assert support[c] == rc


@given(pair=label_pairs(), k=mostly(st.integers(1, 6)), layout=LAYOUT)
def test_top_k_accuracy(pair, k, layout):
    t, s = pair
    if isinstance(t, np.ndarray) and isinstance(s, np.ndarray):
        out, err = run_layouts(lambda a, b: M.top_k_accuracy(a, b, k=k), [t, s], layout,
                               names=("y_true", "scores", "k"))
    else:
        out, err = call_cleanly(M.top_k_accuracy, t, s, k=k, names=("y_true", "scores", "k"))
    if err is not None:
        return
    s = np.asarray(s)
    t = np.asarray(t).astype(np.int64)
    hits = 0
    for i in range(len(t)):
        order = sorted(range(s.shape[1]), key=lambda c: (-float(s[i, c]), c))
        hits += t[i] in order[:k]
    assert out == hits / len(t)
    if k == 1:
        assert out == M.accuracy(t, s)


@given(pair=label_pairs(), names=st.none() | mostly(st.lists(st.text(max_size=4), max_size=6),
                                                    st.sampled_from(["abc", 3, np.array([["a"]])])),
       digits=mostly(st.integers(0, 17)))
def test_classification_report(pair, names, digits):
    t, p = pair
    text, err = call_cleanly(M.classification_report, t, p, target_names=names, digits=digits,
                             names=("y_true", "y_pred", "target_names", "digits"))
    if err is not None:
        return
    assert isinstance(text, str)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    k = len(M.confusion_matrix(t, p, None if names is None else len(names)))
    assert len(lines) == 1 + k + 3
    assert lines[-1].split()[-1] == str(len(np.asarray(t)))


# ---------------------------------------------------------------------------
# viz
# ---------------------------------------------------------------------------
PLOT_PATHS = st.none() | st.sampled_from(["fig.png", "missing/fig.png", "", 3, b"x.png", "."])


def _in_tmp(tmp_path, path):
    return str(tmp_path / path) if isinstance(path, str) and path not in ("", ".") else path


def _check_fig(fig, path, tmp_path):
    from matplotlib.figure import Figure
    assert isinstance(fig, Figure)
    V.pyplot().close(fig)


@PLOT
@given(history=st.one_of(
    st.dictionaries(st.sampled_from(["loss", "val_loss", "accuracy", "val_accuracy", "lr"]),
                    st.lists(st.floats(allow_nan=True), max_size=4) | anyarr(shapes(max_dims=2, max_side=3)) |
                    st.sampled_from([[[1.0], [2.0, 3.0]], [1e308, -1e308], ["a"], [True, False]]),
                    max_size=4),
    st.sampled_from([None, [1, 2], "loss", 3])), path=PLOT_PATHS)
def test_plot_history(tmp_path, no_figure_left_open, history, path):
    fig, err = call_file(V.plot_history, history, path=_in_tmp(tmp_path, path), names=("history", "path"))
    if err is None:
        _check_fig(fig, path, tmp_path)


@PLOT
@given(pair=label_pairs(), cm=anyarr(shapes(max_dims=3, max_side=4)) | st.sampled_from([
           [[1, 2], [3, 4]], [[1], [2, 3]], np.array([[1e308, 1e308], [0, 1e308]]), [[0.5, -1], [0, 1]],
           np.array([[2 ** 64 - 1, 0], [0, 1]], np.uint64), np.array([[5e-324, 0], [0, 1]])]),
       use_cm=st.booleans(), names=st.none() | mostly(st.lists(st.text(max_size=3), max_size=5)),
       normalize=mostly(st.booleans()), path=PLOT_PATHS)
def test_plot_confusion_matrix(tmp_path, no_figure_left_open, pair, cm, use_cm, names, normalize, path):
    args = (cm,) if use_cm else pair
    fig, err = call_file(V.plot_confusion_matrix, *args, class_names=names, normalize=normalize,
                            path=_in_tmp(tmp_path, path),
                            names=("cm_or_y_true", "y_pred", "class_names", "normalize", "path", "y_true"))
    if err is None:
        _check_fig(fig, path, tmp_path)


@PLOT
@given(imgs=anyarr(shapes(min_dims=2, max_dims=5, max_side=4)) |
       hnp.arrays(np.uint8, st.sampled_from([(3, 4, 4), (2, 1, 3, 3), (2, 3, 3, 3), (2, 4, 4, 3)])),
       labels=st.none() | LABEL_VALUES, preds=st.none() | LABEL_VALUES,
       names=st.none() | mostly(st.lists(st.text(max_size=3), max_size=5)),
       ncols=mostly(st.integers(1, 4)), max_images=mostly(st.integers(1, 4)), path=PLOT_PATHS)
def test_show_images(tmp_path, no_figure_left_open, imgs, labels, preds, names, ncols, max_images, path):
    fig, err = call_file(V.show_images, imgs, labels, preds, class_names=names, ncols=ncols,
                            max_images=max_images, path=_in_tmp(tmp_path, path),
                            names=("images", "labels", "predictions", "class_names", "ncols", "max_images", "path"))
    if err is None:
        _check_fig(fig, path, tmp_path)


def _model():
    mc.manual_seed(0)
    from minicnn import layers as L
    return mc.Sequential([L.Conv2D(1, 2, 3, padding=1), L.ReLU(), L.MaxPool2D(2), L.Flatten(), L.Dense(8, 2)])


MODEL = _model()


@PLOT
@given(x=anyarr(st.sampled_from([(1, 4, 4), (1, 1, 4, 4), (2, 1, 4, 4), (3, 4, 4), (4, 4), (1, 0, 4)]),
                    dtypes=(np.float32, np.float64, np.int64, np.complex128)),
       layers=st.none() | mostly(st.sampled_from([0, -1, [0, 2], (1,), range(3), [9], [3]])),
       max_maps=mostly(st.integers(1, 3)), model=mostly(st.just(MODEL)), path=PLOT_PATHS)
def test_plot_feature_maps(tmp_path, no_figure_left_open, x, layers, max_maps, model, path):
    fig, err = call_file(V.plot_feature_maps, model, x, layers=layers, max_maps=max_maps,
                            path=_in_tmp(tmp_path, path), names=("model", "x", "layers", "max_maps", "path", "layer"))
    if err is None:
        _check_fig(fig, path, tmp_path)


@PLOT
@given(layer=mostly(st.just(MODEL[0])), channel=st.none() | mostly(st.integers(-1, 2)), path=PLOT_PATHS)
def test_plot_filters(tmp_path, no_figure_left_open, layer, channel, path):
    fig, err = call_file(V.plot_filters, layer, path=_in_tmp(tmp_path, path), channel=channel,
                            names=("layer", "channel", "path"))
    if err is None:
        _check_fig(fig, path, tmp_path)


@PLOT
@given(fig_ok=st.booleans(), path=PLOT_PATHS | wrong_values())
def test_save_figure(tmp_path, no_figure_left_open, fig_ok, path):
    plt = V.pyplot()
    fig = plt.figure() if fig_ok else object()
    try:
        p = _in_tmp(tmp_path, path)
        _, err = call_file(V.save_figure, fig, p, names=("fig", "path"))
        if err is None and p is not None:
            assert os.path.getsize(p) > 0
    finally:
        if fig_ok:
            plt.close(fig)


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
IDX_CODES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@st.composite
def idx_files(draw):
    """(bytes, expected array or None)."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=40)), None
    code = draw(st.sampled_from(sorted(IDX_CODES)))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    arr = draw(hnp.arrays(np.dtype(IDX_CODES[code]), shape))
    buf = bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + arr.tobytes()
    damage = draw(st.sampled_from(["none", "none", "cut", "extra", "magic", "code", "ndim"]))
    if damage == "cut":
        if len(buf) == 0:
            return buf, None
        buf = buf[:draw(st.integers(0, len(buf) - 1))]
        return buf, None
    if damage == "extra":
        return buf + draw(st.binary(min_size=1, max_size=4)), None
    if damage == "magic":
        return bytes([draw(st.integers(1, 255))]) + buf[1:], None
    if damage == "code":
        return buf[:2] + bytes([draw(st.sampled_from([0, 1, 0x0A, 0x0F, 0xFF]))]) + buf[3:], None
    if damage == "ndim":
        return buf[:3] + bytes([draw(st.integers(0, 255))]) + buf[4:], "maybe"
    return buf, arr.astype(arr.dtype.newbyteorder("="))


@settings(suppress_health_check=FIXTURES)
@given(case=idx_files(), compress=st.sampled_from(["no", "gzip", "cut-gzip"]), as_bytes=st.booleans())
def test_read_idx(tmp_path, case, compress, as_bytes):
    buf, want = case
    if compress == "gzip":
        buf = gzip.compress(buf)
    elif compress == "cut-gzip":
        buf = gzip.compress(buf)[:-5]
        want = None
    p = tmp_path / "f.idx"
    p.write_bytes(buf)
    path = os.fsencode(p) if as_bytes else p
    out, err = call_cleanly(D.read_idx, path, names=(str(p), "path"))
    if isinstance(want, np.ndarray):
        assert err is None
        assert_same(out, want)
        assert out.flags.writeable and out.dtype.isnative
    elif want is None:
        assert err is not None and isinstance(err, ValueError)


@given(path=BAD_PATHS | st.just("missing.idx"))
def test_read_idx_bad_paths(path):
    _, err = call_file(D.read_idx, path, names=("path", str(path)))
    assert err is not None


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "SYSTEM_DIRS", [str(tmp_path / "sys")])
    monkeypatch.setattr(D, "_fetch", lambda *a, **k: (_ for _ in ()).throw(OSError("offline in tests")))
    return tmp_path


@settings(suppress_health_check=FIXTURES, max_examples=30)
@given(loader=st.sampled_from([D.load_mnist, D.load_fashion_mnist]),
       root=st.none() | st.sampled_from(["empty", 3, b"x", ["a"]]), download=mostly(st.booleans()))
def test_load_datasets_arguments(no_data, loader, root, download):
    r = str(no_data / root) if root == "empty" else root
    if root == "empty":
        os.makedirs(r, exist_ok=True)
    _, err = call_cleanly(loader, root=r, download=download,
                          names=("root", "download", "not found", "MNIST"))
    assert err is not None
    if isinstance(err, FileNotFoundError):
        assert isinstance(err, D.DatasetNotFoundError)
        assert "MNIST" in str(err)
    assert issubclass(D.DatasetNotFoundError, FileNotFoundError)


@given(x=images(ndims=(0, 1, 2, 3)), y_len=st.sampled_from([0, 0, 0, -1, 1]),
       batch_size=mostly(st.integers(1, 5)), shuffle=mostly(st.booleans()), drop_last=mostly(st.booleans()),
       seed=st.none() | mostly(st.integers(0, 2 ** 64)), layout=LAYOUT, y_kind=st.sampled_from(["arr", "list", "none"]))
def test_dataloader(x, y_len, batch_size, shuffle, drop_last, seed, layout, y_kind):
    n = len(x) if isinstance(x, np.ndarray) and x.ndim else 0
    y = np.arange(max(n + y_len, 0))
    if y_kind == "list":
        y = list(y)
    elif y_kind == "none":
        y = None
    names = ("x", "y", "batch_size", "shuffle", "drop_last", "seed")
    xs = frozen(x)
    loader, err = call_cleanly(D.DataLoader, xs, y, batch_size, shuffle=shuffle, drop_last=drop_last,
                               seed=seed, names=names)
    if err is not None:
        return
    assert n > 0 and len(y) == n
    xv, _ = view_and_copy(x, layout)
    loader2 = D.DataLoader(xv, y, batch_size, shuffle=shuffle, drop_last=drop_last, seed=loader.seed)
    for epoch in range(2):
        batches = list(loader)
        batches2 = list(loader2)
        assert len(batches) == len(loader)
        seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
        if drop_last:
            assert len(seen) == (n // batch_size) * batch_size
        else:
            assert sorted(seen) == list(range(n))
        assert len(set(seen.tolist())) == len(seen)
        for (xb, yb), (xb2, yb2) in zip(batches, batches2):
            assert len(xb) == len(yb) <= batch_size
            assert_same(xb, x[yb])
            assert_same(xb2, xb)
            assert_same(yb2, yb)
        if not shuffle:
            assert seen.tolist() == sorted(seen.tolist())
    assert_same(xs, x)
    repr(loader)
