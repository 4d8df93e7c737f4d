"""Image processing with the same window machinery as the network layers.

The classic image kernels (blur, sharpen, edge detection, emboss) are the
hand-designed ancestors of the filters a convolutional layer learns. This
module applies them to ordinary pictures, with the semantics of the SciPy
functions people already know, but built on :func:`minicnn.functional.sliding_windows`
(the strided view that also serves ``Conv2D`` and the pooling layers) and
:func:`minicnn.functional.pad2d`::

    from minicnn import image

    img = image.to_grayscale(image.sample_image())          # (600, 512) float32 in [0, 1]
    edges = image.convolve2d(img, image.kernels.get("laplacian8"), mode="same", boundary="symm")
    image.imsave("edges.png", np.clip(edges, 0, 1))

Conventions
-----------
* An image is ``(H, W)`` (grayscale) or ``(H, W, C)`` (colour). A colour image
  is filtered channel by channel with the same 2-D kernel; the channels ride
  along as a leading axis of the window view, so there is no loop over them.
* Filtering never modifies its inputs, and works on read-only arrays.
* dtype: integer and bool images give float64 results; float images keep
  their dtype (the kernel is cast to it, as ``Conv2D`` casts its weights).
  ``median_filter`` and the ``"max"`` mode of ``pool2d`` return one of the
  input values, so they keep the input's dtype whatever it is.
* matplotlib (used only to read and write files) is imported inside the
  functions that need it, so ``import minicnn.image`` stays light.

Convolution and correlation
---------------------------
For an image ``x`` and a kernel ``k`` of shape ``(kh, kw)``::

    correlation:  y[r, c] = sum_{i,j} k[i, j] * x[r + i, c + j]
    convolution:  y[r, c] = sum_{i,j} k[i, j] * x[r - i, c - j]
                          = correlation with k rotated by 180 degrees

Both are computed the same way: extend the image at its borders as ``mode``
and ``boundary`` ask, take the window view ``w = sliding_windows(x_ext, (kh, kw))``
(``w[..., i, j, :, :]`` is the whole output-sized image seen through tap
``(i, j)``), and add up ``k[i, j] * w[..., i, j, :, :]`` over the ``kh * kw``
taps: one vectorised multiply-add per tap, no loop over pixels.
"""
import math
import numbers
import os
from collections.abc import Mapping

import numpy as np

from . import functional as F
from ._checks import check_choice, check_float, check_int, check_path, check_real_array, check_real_number, pair
from ._rng import get_rng
from .io import atomic_write

__all__ = [
    "convolve2d", "correlate2d", "convolve1d", "median_filter", "pool2d", "sobel",
    "gaussian_kernel", "kernels", "KernelRegistry", "to_uint8", "to_grayscale",
    "imread", "imsave", "add_salt_and_pepper", "add_gaussian_noise", "sample_image", "psnr",
]

MODES = ("full", "same", "valid")
# SciPy's boundary names, with the aliases scipy.signal also accepts.
BOUNDARIES = {"fill": "fill", "pad": "fill", "symm": "symm", "symmetric": "symm",
              "wrap": "wrap", "circular": "wrap"}
MEDIAN_MODES = {"reflect": "symm", "nearest": "nearest", "constant": "fill"}
POOL_MODES = ("max", "avg")


# ---------------------------------------------------------------------------
# Argument checks and small helpers
# ---------------------------------------------------------------------------
def _check_image(image, name="image"):
    return check_real_array(image, name, ndim=(2, 3))


def _out_dtype(dtype):
    """Result dtype: floats keep theirs, integers and bools become float64."""
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _work_dtype(dtype):
    """dtype to compute in: float16 sums are done in float32 and rounded once at the end."""
    return np.promote_types(_out_dtype(dtype), np.float32)


def _channels_first(image):
    """(H, W) stays; (H, W, C) becomes a (C, H, W) *view*, so that the spatial axes come last
    as :func:`~minicnn.functional.sliding_windows` wants them."""
    return np.moveaxis(image, -1, 0) if image.ndim == 3 else image


def _channels_last(out, colour):
    return np.ascontiguousarray(np.moveaxis(out, 0, -1)) if colour else out


def _as_rng(rng):
    """A ``np.random.Generator`` from a Generator, an int seed, or None (minicnn's global one)."""
    if rng is None:
        return get_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(check_int(rng, "rng", minimum=0))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, "
                    f"got {type(rng).__name__}")


# ---------------------------------------------------------------------------
# Extending an image beyond its borders
# ---------------------------------------------------------------------------
def _boundary_index(n, before, after, kind):
    """Source index, in ``0..n-1``, of each position ``-before .. n+after-1`` of an extended axis.

    symm:    half-sample symmetric, the image and its mirror alternate with period 2n:
             ... d c b a | a b c d | d c b a ...  (scipy's "symm", ndimage's "reflect")
    wrap:    periodic, period n:  ... a b c d | a b c d | a b c d ...
    nearest: the edge pixel repeats:  a a a a | a b c d | d d d d

    Working with indices rather than copying slices makes any extension length
    right, even one many times longer than the image.
    """
    i = np.arange(-before, n + after)
    if kind == "symm":
        i = np.mod(i, 2 * n)
        return np.where(i < n, i, 2 * n - 1 - i)
    if kind == "wrap":
        return np.mod(i, n)
    return np.clip(i, 0, n - 1)                          # nearest


def _extend(x, pads, kind, value=0):
    """Extend the last two axes of ``x`` by ``pads = ((top, bottom), (left, right))``.

    ``kind`` "fill" pads with ``value`` (that is :func:`~minicnn.functional.pad2d`);
    "symm", "wrap" and "nearest" gather rows and columns by :func:`_boundary_index`.
    """
    if kind == "fill":
        return F.pad2d(x, pads, value)
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    h, w = x.shape[-2:]
    rows = _boundary_index(h, top, bottom, kind)
    cols = _boundary_index(w, left, right, kind)
    return x[..., rows[:, None], cols[None, :]]


# ---------------------------------------------------------------------------
# Convolution and correlation
# ---------------------------------------------------------------------------
def _correlate_valid(big, small):
    """Valid correlation over the last two axes: ``out[..., r, c] = sum_ij small[..., i, j] * big[..., r+i, c+j]``.

    big: (..., H, W), small: (..., kh, kw) with kh <= H, kw <= W; the leading
    axes broadcast (channels of an image, or of the image playing the kernel).
    The loop runs over the kh*kw taps; each step is one multiply-add of whole
    (..., OH, OW) arrays taken from the window view.
    """
    kh, kw = small.shape[-2:]
    win = F.sliding_windows(big, (kh, kw))                        # (..., kh, kw, OH, OW)
    lead = np.broadcast_shapes(big.shape[:-2], small.shape[:-2])
    out = np.zeros(lead + win.shape[-2:], dtype=np.result_type(big, small))
    tmp = np.empty_like(out)                                      # reused: no allocation per tap
    for i in range(kh):
        for j in range(kw):
            np.multiply(win[..., i, j, :, :], small[..., i, j, None, None], out=tmp)
            out += tmp
    return out


def _filter2d(x, k, mode, boundary, fillvalue, convolve):
    """Core of convolve2d/correlate2d. x: (..., H, W), k: (kh, kw), both already in the working dtype."""
    if convolve:
        k = k[::-1, ::-1]                  # convolution = correlation with the kernel rotated 180 degrees
    h, w = x.shape[-2:]
    kh, kw = k.shape
    if mode == "valid":
        if h >= kh and w >= kw:
            return _correlate_valid(x, k)
        if h <= kh and w <= kw:
            # The kernel is the larger one: "valid" is the block of the "full" output
            # where the image lies wholly inside the kernel. Sliding the image over the
            # kernel gives that block back to front, since correlating two arrays that
            # are both rotated by 180 degrees rotates the result by 180 degrees. This
            # is exactly what scipy's input swap does, for convolve2d and correlate2d.
            return _correlate_valid(k, x)[..., ::-1, ::-1]
        raise ValueError(f"for mode 'valid' one of image and kernel must be at least as large as "
                         f"the other in every dimension, got image {h}x{w} and kernel {kh}x{kw}")
    if mode == "full":
        pads = ((kh - 1, kh - 1), (kw - 1, kw - 1))
    else:
        # "same": output pixel (r, c) lies under tap ((kh-1)//2, (kw-1)//2) of the
        # kernel *as the caller gave it* (the centre when the size is odd, the upper
        # left of the middle ones when it is even) - scipy's rule for both functions.
        # After the 180-degree flip of convolution that tap sits at (kh//2, kw//2).
        # So for even kernels correlate2d(x, k, "same") is NOT convolve2d(x, flipped k, "same").
        top = kh // 2 if convolve else (kh - 1) // 2
        left = kw // 2 if convolve else (kw - 1) // 2
        pads = ((top, kh - 1 - top), (left, kw - 1 - left))
    return _correlate_valid(_extend(x, pads, BOUNDARIES[boundary], fillvalue), k)


def _filter2d_checked(image, kernel, mode, boundary, fillvalue, convolve):
    _check_image(image)
    check_real_array(kernel, "kernel", ndim=2)
    check_choice(mode, "mode", MODES)
    check_choice(boundary, "boundary", tuple(BOUNDARIES))
    fillvalue = check_real_number(fillvalue, "fillvalue")
    work = _work_dtype(image.dtype)
    # Values beyond the working dtype become +-inf, and sums of them NaN, as IEEE
    # arithmetic (and scipy) has it: these are results, not reasons to warn.
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            fill = work.type(fillvalue)            # a Python int may be too large even for float64
        except OverflowError:
            fill = work.type(np.inf if fillvalue > 0 else -np.inf)
        x = _channels_first(image).astype(work, copy=False)   # cast first: a fill of 0.5 must not become 0
        k = kernel.astype(work, copy=False)
        out = _filter2d(x, k, mode, boundary, fill, convolve)
        return _channels_last(out, image.ndim == 3).astype(_out_dtype(image.dtype), copy=False)


def convolve2d(image, kernel, mode="full", boundary="fill", fillvalue=0):
    """2-D convolution of an image with a kernel, as ``scipy.signal.convolve2d``.

    ``y[r, c] = sum_{i,j} kernel[i, j] * image_ext[r - i, c - j]`` where
    ``image_ext`` is the image extended beyond its borders by ``boundary``.

    image: (H, W) or (H, W, C) (each channel filtered with the same kernel).
    kernel: (kh, kw), any size; odd and even sizes both work.
    mode:
        "full"  - every position where the two overlap: (H + kh - 1, W + kw - 1).
        "same"  - the (H, W) block of "full" that starts at ((kh-1)//2, (kw-1)//2),
                  i.e. centred on tap ((kh-1)//2, (kw-1)//2) of the kernel.
        "valid" - only positions needing no extension: (H - kh + 1, W - kw + 1).
                  If the kernel is at least as large as the image in every
                  dimension, the roles swap (convolution commutes) and the
                  result is (kh - H + 1, kw - W + 1); if neither array is at
                  least as large as the other in every dimension: ValueError.
    boundary: how the image is extended: "fill" (with ``fillvalue``), "symm"
        (mirrored, edge pixel repeated: d c b a | a b c d | d c b a) or "wrap"
        (periodic); scipy's aliases "pad", "symmetric", "circular" work too.
        Extensions longer than the image keep mirroring / wrapping.

    Returns float64 for integer or bool images, the image's dtype for float
    images; colour in, colour out (..., C).
    """
    return _filter2d_checked(image, kernel, mode, boundary, fillvalue, convolve=True)


def correlate2d(image, kernel, mode="full", boundary="fill", fillvalue=0):
    """2-D cross-correlation, as ``scipy.signal.correlate2d`` (what ``Conv2D`` computes).

    ``y[r, c] = sum_{i,j} kernel[i, j] * image_ext[r + i + oh, c + j + ow]`` with the
    offsets (oh, ow) fixed by ``mode``: ``-(kh-1)`` for "full", ``-((kh-1)//2)``
    for "same" (the output pixel lies under kernel tap ((kh-1)//2, (kw-1)//2)),
    0 for "valid" - and likewise for the columns.

    Shapes, modes, boundaries and dtypes are those of :func:`convolve2d`. For
    "full" and "valid", and for "same" with odd kernels, this equals
    ``convolve2d(image, kernel[::-1, ::-1], ...)``. For "same" with an even
    kernel it does not: both functions anchor the output on the *given*
    kernel's tap ((kh-1)//2, (kw-1)//2), and flipping moves that tap. When the
    kernel is larger than the image in every dimension, "valid" is the block of
    the "full" output where the image lies wholly inside the kernel (what scipy
    returns, by swapping the inputs and reversing the result).
    """
    return _filter2d_checked(image, kernel, mode, boundary, fillvalue, convolve=False)


def convolve1d(signal, kernel, mode="full"):
    """1-D convolution with the modes of ``np.convolve`` (e.g. a moving average).

    ``y[n] = sum_m kernel[m] * signal[n - m]``.  signal: (N,), kernel: (M,).
    "full": N + M - 1 values; "same": max(N, M) values centred on the full
    result (starting at (min(N, M) - 1) // 2); "valid": max(N, M) - min(N, M) + 1.
    As in NumPy the longer input plays the signal (convolution commutes).
    dtype: float64 for integer or bool signals, otherwise the signal's dtype.

        convolve1d(prices, np.ones(5) / 5, mode="valid")   # 5-point moving average
    """
    check_real_array(signal, "signal", ndim=1)
    check_real_array(kernel, "kernel", ndim=1)
    check_choice(mode, "mode", MODES)
    work = _work_dtype(signal.dtype)
    with np.errstate(over="ignore", invalid="ignore"):      # inf and NaN are results, as in np.convolve
        a, v = signal.astype(work, copy=False), kernel.astype(work, copy=False)
        if v.size > a.size:
            a, v = v, a
        out = _filter2d(a[None, :], v[None, :], mode, "fill", 0, convolve=True)[0]
        return out.astype(_out_dtype(signal.dtype), copy=False)


# ---------------------------------------------------------------------------
# Median filter and pooling: the same windows, reduced differently
# ---------------------------------------------------------------------------
def median_filter(image, size=3, mode="reflect"):
    """Median over each ``size`` window, as ``scipy.ndimage.median_filter``.

    image: (H, W) or (H, W, C) -> same shape and dtype (a median is always one
    of the input values). ``size``: int or (sh, sw), applied to the two spatial
    axes only (a colour image is filtered per channel).

    Output pixel (r, c) is the median of rows ``r - sh//2 .. r + (sh-1)//2`` and
    columns ``c - sw//2 .. c + (sw-1)//2`` (for an even size the window reaches
    one further up/left than down/right: scipy's origin 0). When the window
    holds an even number n of pixels, the result is the upper median, the
    element of rank n//2 in sorted order, as in scipy (not the mean of the two
    middle ones that ``np.median`` would give); for odd n both agree.

    mode: how the image is extended at its borders:
        "reflect"  - d c b a | a b c d | d c b a (half-sample symmetric)
        "nearest"  - a a a a | a b c d | d d d d
        "constant" - 0 0 0 0 | a b c d | 0 0 0 0

    A median removes salt-and-pepper noise without blurring edges: an
    isolated outlier never reaches the middle of the sorted window.
    """
    _check_image(image)
    sh, sw = pair(size, "size")
    check_choice(mode, "mode", tuple(MEDIAN_MODES))
    x = _channels_first(image)
    pads = ((sh // 2, (sh - 1) // 2), (sw // 2, (sw - 1) // 2))
    win = F.sliding_windows(_extend(x, pads, MEDIAN_MODES[mode], 0), (sh, sw))   # (..., sh, sw, H, W)
    # Copy the windows once into a buffer of our own laid out (..., H, W, sh*sw), so the
    # selection runs in place along contiguous memory and can never touch the input.
    flat = np.empty(win.shape[:-4] + win.shape[-2:] + (sh, sw), dtype=image.dtype)
    np.copyto(flat, np.moveaxis(win, (-4, -3), (-2, -1)))
    flat = flat.reshape(flat.shape[:-2] + (sh * sw,))
    rank = (sh * sw) // 2
    flat.partition(rank, axis=-1)          # O(n) selection, no full sort
    return _channels_last(flat[..., rank].copy(), image.ndim == 3)


def pool2d(image, size, mode="max", stride=None):
    """Downsample a whole image by the maximum or mean of each block.

    image: (H, W) or (H, W, C) -> (OH, OW) or (OH, OW, C) with
    ``OH = (H - sh) // stride_h + 1`` (rows and columns left over at the
    bottom/right are dropped), likewise OW. ``size`` and ``stride`` are an int
    or a pair; ``stride`` defaults to ``size`` (non-overlapping blocks).
    "max" keeps the dtype; "avg" gives float64 for integer or bool images
    (float16 means are summed in float32, so they do not overflow on the way).
    This is the same code as ``MaxPool2D`` / ``AvgPool2D`` (without padding).
    """
    _check_image(image)
    sh, sw = pair(size, "size")
    stride = (sh, sw) if stride is None else pair(stride, "stride")
    check_choice(mode, "mode", POOL_MODES)
    h, w = image.shape[:2]
    if sh > h or sw > w:
        raise ValueError(f"size {sh}x{sw} is larger than the image ({h}x{w})")
    # A stride beyond the image leaves one window either way; capped, it fits a C long.
    stride = (min(stride[0], h), min(stride[1], w))
    x = _channels_first(image)
    x4 = x[None] if image.ndim == 3 else x[None, None]             # (1, C, H, W)
    no_pad = ((0, 0), (0, 0))
    if mode == "max":
        out = F.max_pool2d_forward(x4, (sh, sw), stride, no_pad)
    else:
        with np.errstate(over="ignore", invalid="ignore"):   # inf and NaN pixels give inf and NaN means
            out = F.avg_pool2d_forward(x4.astype(_work_dtype(image.dtype), copy=False),
                                       (sh, sw), stride, no_pad).astype(_out_dtype(image.dtype), copy=False)
    out = out[0] if image.ndim == 3 else out[0, 0]
    return _channels_last(out, image.ndim == 3)


# ---------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------
class KernelRegistry:
    """The classic image kernels by name.

    ``kernels.get(name)`` returns a fresh float64 copy (change it freely);
    ``kernels.names()`` lists the names, and so does iterating. ``aliases`` maps
    other names (the short ones of older minicnn versions, ``edge1`` .. ``edge3``)
    to them: ``get`` and ``in`` take both. The kernels are
    written for :func:`correlate2d` (the orientation ``Conv2D`` uses): the
    symmetric ones give the same result with :func:`convolve2d`, while sobel_x,
    sobel_y and emboss change sign or direction when convolved.
    """

    def __init__(self, table, aliases=None):
        """table: ``{name: kernel}``, each kernel a non-empty 2-D array (or nested list) of
        finite real numbers; it is stored as a read-only float64 copy.
        aliases: ``{other name: name in table}``, or None."""
        if not isinstance(table, Mapping):
            raise TypeError(f"table must be a dict {{name: kernel}}, got {type(table).__name__}")
        aliases = {} if aliases is None else aliases
        if not isinstance(aliases, Mapping):
            raise TypeError(f"aliases must be a dict {{alias: name}}, got {type(aliases).__name__}")
        self._table = {}
        for name, k in table.items():
            if not isinstance(name, str):
                raise TypeError(f"table: kernel names must be str, got {type(name).__name__} {name!r}")
            try:
                k = np.array(k)
            except ValueError as exc:                      # ragged nested lists
                raise ValueError(f"table[{name!r}] is not a rectangular array: {exc}") from None
            check_real_array(k, f"table[{name!r}]", ndim=2)
            k = k.astype(np.float64)
            if not np.all(np.isfinite(k)):
                raise ValueError(f"table[{name!r}] contains NaN or inf")
            k.flags.writeable = False
            self._table[name] = k
        for alias, name in aliases.items():
            if not isinstance(alias, str) or alias in self._table or name not in self._table:
                raise ValueError(f"aliases: {alias!r} -> {name!r} must map a new str name to a kernel "
                                 f"of the table")
        self._aliases = dict(aliases)

    def get(self, name):
        """A float64 copy of the kernel ``name`` (or alias); ValueError listing the names if unknown."""
        check_choice(name, "name", self.names() + tuple(self._aliases))
        return self._table[self._aliases.get(name, name)].copy()

    def names(self):
        """The kernel names, as a tuple (without the aliases)."""
        return tuple(self._table)

    def aliases(self):
        """``{alias: name}``: the other names ``get`` accepts."""
        return dict(self._aliases)

    def __iter__(self):
        return iter(self._table)

    def __contains__(self, name):
        return isinstance(name, str) and (name in self._table or name in self._aliases)  # never "unhashable type"

    def __len__(self):
        return len(self._table)

    def __repr__(self):
        return f"KernelRegistry({', '.join(self._table)})"


kernels = KernelRegistry({
    # The output is the input: the 1 sits at the centre.
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    # Diagonal differences: responds to edges along the diagonals (the old "edge1").
    "diagonal_edges": [[1, 0, -1], [0, 0, 0], [-1, 0, 1]],
    # 4-neighbour Laplacian: centre minus its 4 neighbours; zero on flat and linear areas ("edge2").
    "laplacian4": [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
    # 8-neighbour Laplacian: centre minus all 8 neighbours ("edge3").
    "laplacian8": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    # identity + laplacian4: adds the edges back onto the picture.
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    # 2 * identity - gaussian 5x5 (binomial weights / 256): an unsharp mask.
    "unsharp5": (-1.0 / 256) * np.array([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4],
                                         [6, 24, -476, 24, 6], [4, 16, 24, 16, 4],
                                         [1, 4, 6, 4, 1]]),
    # Mean of the 3x3 neighbourhood.
    "box_blur": np.ones((3, 3)) / 9,
    # Binomial approximation of a Gaussian: outer product of [1, 2, 1] / 4 with itself.
    "gaussian_blur3": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    # Horizontal gradient (positive where brightness grows to the right) with smoothing
    # along the columns, and its transpose for the vertical one (positive downwards).
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    # Differences along the diagonal, plus the pixel itself: a relief lit from the top left.
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}, aliases={"edge1": "diagonal_edges", "edge2": "laplacian4", "edge3": "laplacian8"})


def gaussian_kernel(size, sigma):
    """Normalised 2-D Gaussian: ``g[i, j] ~ exp(-((i - ci)^2 + (j - cj)^2) / (2 sigma^2))``, sum 1.

    size: int or (kh, kw) >= 1; the centre is ``((kh-1)/2, (kw-1)/2)`` (between
    two pixels for an even size). sigma > 0. Returns float64 (kh, kw). The
    kernel is separable: the outer product of two 1-D Gaussians.
    """
    kh, kw = pair(size, "size")
    sigma = check_float(sigma, "sigma", minimum=0.0, min_open=True)
    g = np.outer(_gaussian_1d(kh, sigma), _gaussian_1d(kw, sigma))
    return g / g.sum()


def _gaussian_1d(n, sigma):
    """Unnormalised 1-D Gaussian over taps ``0 .. n-1`` centred on ``(n-1)/2``, largest weight 1.

    The exponent is taken relative to the tap(s) nearest the centre, so those get
    exactly 1 and the sum can never underflow to 0 (a tiny sigma on an even size
    would otherwise give 0/0). A tiny sigma overflows the other exponents to inf,
    a huge one leaves them 0: weights 0 and 1, the right limits, without warnings.
    """
    d2 = (np.arange(n) - (n - 1) / 2) ** 2
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(-((d2 - d2.min()) / np.float64(sigma) / np.float64(sigma) / 2))


def sobel(image):
    """Sobel gradients: ``(gx, gy, magnitude)``, each of the image's shape.

    gx = correlate2d(image, sobel_x, "same", "symm") with sobel_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    gy = correlate2d(image, sobel_y, "same", "symm") with sobel_y = sobel_x.T
    magnitude = sqrt(gx^2 + gy^2)

    gx is positive where brightness increases to the right (with the column
    index), gy where it increases downwards (with the row index). The border
    is mirrored ("symm": d c b a | a b c d), so a flat image has zero gradient
    everywhere, its edges included. (These equal ``scipy.ndimage.sobel(image,
    axis=1)`` and ``axis=0`` with ndimage's default "reflect" mode.) Colour
    images give per-channel gradients; dtype as for :func:`correlate2d`.
    """
    gx = correlate2d(image, kernels.get("sobel_x"), mode="same", boundary="symm")
    gy = correlate2d(image, kernels.get("sobel_y"), mode="same", boundary="symm")
    with np.errstate(over="ignore"):       # float16 gradients near 65504 have an infinite magnitude
        return gx, gy, np.hypot(gx, gy)


# ---------------------------------------------------------------------------
# Pixel values and colour
# ---------------------------------------------------------------------------
def to_uint8(x):
    """Clip to [0, 255], round to the nearest integer, store as uint8 (the "squash" step).

    Filters such as sharpen or laplacian8 produce values outside the displayable
    range; this brings them back. The input is taken as 0..255 as it stands: scale
    a [0, 1] image first (``to_uint8(255 * x)``). Any shape (empty too); NaN -> ValueError.
    """
    check_real_array(x, "x", ndim=None, allow_empty=True)
    if x.dtype.kind == "b":
        return x.astype(np.uint8)
    if x.dtype.kind == "f" and np.isnan(x).any():
        raise ValueError("x contains NaN, which has no uint8 value")
    # Through float64: exact for every 8-bit value, and immune to int8/uint64 range quirks.
    return np.rint(np.clip(x.astype(np.float64, copy=False), 0, 255)).astype(np.uint8)


def to_grayscale(rgb):
    """Luma of an RGB(A) image by ITU-R BT.601: ``0.299 R + 0.587 G + 0.114 B``.

    rgb: (H, W, 3) or (H, W, 4) (alpha ignored) -> (H, W). The weights follow
    the eye's sensitivity (green counts most). float64 for integer input (a
    uint8 picture gives values in 0..255), the input's dtype for floats.
    """
    check_real_array(rgb, "rgb", ndim=3)
    if rgb.shape[-1] not in (3, 4):
        raise ValueError(f"rgb must have 3 or 4 channels (RGB or RGBA), got shape {rgb.shape}")
    dt, work = _out_dtype(rgb.dtype), _work_dtype(rgb.dtype)
    r, g, b = (rgb[..., c].astype(work) for c in range(3))
    # Element-wise rather than a matmul: BLAS sums in an order that depends on the
    # memory layout, and a Fortran-ordered image must give exactly the same result.
    with np.errstate(over="ignore", invalid="ignore"):       # inf and NaN pixels stay inf and NaN
        return (work.type(0.299) * r + work.type(0.587) * g + work.type(0.114) * b).astype(dt, copy=False)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------
def imread(path):
    """Read an image file as float32 values in [0, 1].

    PNG is read by matplotlib itself, JPEG and the other formats through
    Pillow (which matplotlib depends on). Returns (H, W) for grayscale files,
    (H, W, 3) for RGB and (H, W, 4) for RGBA; 8-bit files are divided by 255
    and 16-bit ones by 65535, so every format comes back on the same scale.
    """
    import matplotlib.image as mpimg

    path = os.fsdecode(check_path(path, text_only=False))   # matplotlib guesses the format from a str name only
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        arr = mpimg.imread(path)
    except PermissionError:
        raise
    except Exception as exc:    # the decoders raise anything (OSError, SyntaxError, ...) on bad bytes
        raise ValueError(f"cannot read {path!r} as an image: {type(exc).__name__}: {exc}") from exc
    if arr.dtype.kind in "ui":
        return (arr / np.float32(np.iinfo(arr.dtype).max)).astype(np.float32)
    return arr.astype(np.float32, copy=False)


ALPHA_FORMATS = ("png", "tiff")          # the formats imsave writes with an alpha channel


def imsave(path, array):
    """Write an image file, atomically (a crash never leaves half a file at ``path``).

    array: (H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA (RGBA to .png or .tiff
    only: the other formats cannot keep the alpha channel). Values:
    float arrays are taken in [0, 1] (clipped; the scale :func:`imread` returns),
    integer arrays in 0..255 (clipped), bool arrays as black/white. They are
    rounded to 8 bits. The format follows the extension (.png, .jpg, ...).
    Grayscale is written through an exact gray colormap (R = G = B = level; a
    PNG reads back as (H, W, 4) with alpha 1, so use :func:`to_grayscale`).
    """
    import matplotlib.image as mpimg

    path = os.fsdecode(check_path(path, text_only=False))   # bytes too: atomic_write works on str
    check_real_array(array, "array", ndim=(2, 3))
    if array.ndim == 3 and array.shape[-1] not in (3, 4):
        raise ValueError(f"array must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    ext = os.fsdecode(os.path.splitext(path)[1]).lower().lstrip(".")
    if not ext:
        raise ValueError(f"path needs an extension that names the format (.png, .jpg, ...), got {path!r}")
    ext = {"tif": "tiff"}.get(ext, ext)             # Pillow knows TIFF only by its long name
    if array.ndim == 3 and array.shape[-1] == 4 and ext not in ALPHA_FORMATS:
        # Pillow would drop the alpha channel without a word (BMP) or refuse (JPEG)
        raise ValueError(f"array has an alpha channel (H, W, 4), which .{ext} cannot store: "
                         f"save as .png or .tiff, or pass array[..., :3]")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write path {path!r}: folder {folder!r} does not exist")
    if array.dtype.kind == "b":
        u8 = array.astype(np.uint8) * np.uint8(255)
    elif array.dtype.kind == "f":
        if np.isnan(array).any():
            raise ValueError("array contains NaN, which has no pixel value")
        u8 = to_uint8(255.0 * np.clip(array.astype(np.float64), 0.0, 1.0))
    else:
        u8 = to_uint8(array)
    if u8.ndim == 2:
        # matplotlib's own "gray" colormap moves half of the 256 levels by one;
        # repeating the level in R, G and B is the exact gray map.
        u8 = np.repeat(u8[:, :, None], 3, axis=2)
    try:
        with atomic_write(path) as f:
            mpimg.imsave(f, u8, format=ext)
    except (KeyError, ValueError) as exc:      # Pillow: KeyError for a format it cannot write
        raise ValueError(f"cannot write path {path!r}: no image format for the extension "
                         f".{ext} ({type(exc).__name__}: {exc})") from exc


def sample_image():
    """The photograph of Grace Hopper that ships with matplotlib: (600, 512, 3) float32 in [0, 1].

    It is part of matplotlib's own data, so every demo runs offline.
    """
    import matplotlib.cbook as cbook

    return imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


# ---------------------------------------------------------------------------
# Noise
# ---------------------------------------------------------------------------
def add_salt_and_pepper(image, amount, rng=None, salt=None, pepper=None):
    """A copy of ``image`` with a fraction ``amount`` of its pixels set to black or white.

    ``round(amount * H * W)`` distinct pixels are drawn; half of them (rounded
    down) become ``pepper`` and the rest ``salt`` (in a colour image all
    channels of a pixel change together). Defaults: pepper 0; salt 1.0 for
    float images (the [0, 1] scale of :func:`imread`), 255 for integer ones
    (capped at the dtype's maximum), True for bool. The dtype is kept.
    rng: a ``np.random.Generator``, an int seed, or None (minicnn's global
    generator, see :func:`minicnn.manual_seed`).
    """
    _check_image(image)
    amount = check_float(amount, "amount", minimum=0.0, maximum=1.0)
    gen = _as_rng(rng)
    if salt is None:
        kind = image.dtype.kind
        salt = 1.0 if kind == "f" else True if kind == "b" else min(255, np.iinfo(image.dtype).max)
    if pepper is None:
        pepper = 0
    salt = _check_pixel_value(salt, "salt", image.dtype)
    pepper = _check_pixel_value(pepper, "pepper", image.dtype)
    h, w = image.shape[:2]
    n = int(round(amount * h * w))
    chosen = gen.choice(h * w, size=n, replace=False)
    rows, cols = np.unravel_index(chosen, (h, w))
    out = image.copy()
    half = n // 2
    out[rows[:half], cols[:half]] = pepper
    out[rows[half:], cols[half:]] = salt
    return out


def _check_pixel_value(value, name, dtype):
    """``value`` as a scalar of ``dtype`` that holds it exactly: 0/1 (or False/True) for
    bool images, an integer in the dtype's range for integer ones, any real number
    that does not overflow for float ones (NaN and +-inf included)."""
    value = check_real_number(value, name)
    if dtype.kind == "b":
        if value not in (0, 1):
            raise ValueError(f"{name} must be 0/1 or False/True for a bool image, got {value!r}")
        return np.bool_(value)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not ((isinstance(value, numbers.Integral) or math.isfinite(value))
                and value == int(value) and info.min <= value <= info.max):
            raise ValueError(f"{name} must be an integer in [{info.min}, {info.max}] for a "
                             f"{dtype} image, got {value!r}")
        return dtype.type(int(value))
    largest = float(np.finfo(dtype).max)     # a Python float: comparing with a float16 would cast
    # A Python int may be too large for np.isfinite (or float()); it is finite all the same.
    finite = isinstance(value, numbers.Integral) or math.isfinite(value)
    if finite and abs(value) > largest:
        raise ValueError(f"{name} {value!r} is too large for a {dtype} image (largest {largest:g})")
    return dtype.type(value)


def add_gaussian_noise(image, sigma, rng=None):
    """``image + N(0, sigma^2)`` noise, drawn independently for every value (no clipping).

    float images keep their dtype; integer and bool ones give float64 (the
    noise would not survive rounding). ``sigma`` >= 0 is in the image's units.
    rng: as for :func:`add_salt_and_pepper`.
    """
    _check_image(image)
    sigma = check_float(sigma, "sigma", minimum=0.0)
    gen = _as_rng(rng)
    dt = _out_dtype(image.dtype)
    noise = gen.normal(0.0, sigma, size=image.shape)
    with np.errstate(over="ignore", invalid="ignore"):   # float16 or huge values: +-inf, as IEEE has it
        return image.astype(dt) + noise.astype(dt)


def psnr(clean, noisy, peak=1.0):
    """Peak signal-to-noise ratio in dB: ``10 log10(peak^2 / mean((noisy - clean)^2))``.

    Higher is better; identical images give inf. ``peak`` is the largest pixel
    value: 1.0 for the [0, 1] scale of :func:`imread`, 255 for uint8 pictures.
    clean, noisy: arrays of the same shape, (H, W) or (H, W, C).
    """
    _check_image(clean, "clean")
    _check_image(noisy, "noisy")
    if noisy.shape != clean.shape:
        raise ValueError(f"noisy must have clean's shape {clean.shape}, got {noisy.shape}")
    peak = check_float(peak, "peak", minimum=0.0, min_open=True)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        mse = float(np.mean(np.square(noisy.astype(np.float64) - clean.astype(np.float64))))
        return float("inf") if mse == 0 else float(10 * np.log10(peak * peak / mse))
