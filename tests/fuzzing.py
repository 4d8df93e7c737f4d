"""Shared Hypothesis strategies and checks for the fuzz suites (tests/test_fuzz_*.py).

The contract every public function must keep (the README's "Tests" section states it too):

- it returns the right answer, or raises ``ValueError``/``TypeError`` (or
  ``FileNotFoundError``/``RuntimeError`` where that is the honest kind) whose
  message names the argument that was wrong;
- never ``IndexError``, ``AttributeError``, ``ZeroDivisionError``, a NumPy
  broadcasting message, a warning (the suite turns warnings into errors), a
  hang, or a silent wrong result;
- it never writes into the caller's arrays (read-only inputs work), and a
  non-contiguous view gives exactly the result of its contiguous copy.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: The error kinds the contract allows.
CLEAN_ERRORS = (ValueError, TypeError, FileNotFoundError, RuntimeError)

#: Fragments of NumPy's own messages: seeing one means an argument went unchecked.
NUMPY_LEAKS = ("operands could not be broadcast", "could not broadcast", "shapes not aligned",
               "mismatch in its core dimension", "index out of bounds", "is out of bounds",
               "cannot reshape array", "object arrays cannot be loaded", "ufunc")

#: One dtype of every kind a user may hold.
ALL_DTYPES = (np.bool_, np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64,
              np.complex128, np.object_)
FLOAT_DTYPES = (np.float16, np.float32, np.float64)

#: Memory layouts with the same values: see :func:`relayout`.
LAYOUTS = ("contiguous", "fortran", "strided", "reversed", "readonly")


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=5):
    """Array shapes, including zero-size sides unless ``min_side >= 1``."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def float_arrays(shape, dtype=np.float64, special=True):
    """Float arrays of ``shape``; with ``special`` they may hold NaN, +-inf and huge values."""
    dtype = np.dtype(dtype)
    if special:
        elements = st.floats(width=8 * dtype.itemsize, allow_nan=True, allow_infinity=True)
    else:
        elements = st.floats(-10, 10, width=8 * dtype.itemsize)
    return hnp.arrays(dtype, shape, elements=elements)


def finite_arrays(shape, dtype=np.float64, bound=10.0):
    """Float arrays of ``shape`` with finite values in ``[-bound, bound]``."""
    dtype = np.dtype(dtype)
    return hnp.arrays(dtype, shape, elements=st.floats(-bound, bound, width=8 * dtype.itemsize))


def _any_array(dtype, shape):
    dtype = np.dtype(dtype)
    if dtype.kind == "O":
        return st.just(np.full(shape, None, dtype=object))
    if dtype.kind == "c":
        return hnp.arrays(dtype, shape, elements=st.complex_numbers(max_magnitude=1e3, allow_nan=False))
    return hnp.arrays(dtype, shape)      # all values the dtype can hold, NaN/inf included for floats


@st.composite
def any_arrays(draw, shape=None, dtypes=ALL_DTYPES):
    """An array of any dtype kind (bool/int/uint8/float16-64/complex/object) and any shape."""
    if shape is None:
        shape = draw(shapes())
    return draw(_any_array(draw(st.sampled_from(dtypes)), shape))


def median_reference(x, size, mode):
    """scipy.ndimage.median_filter on one (H, W) channel, from the definition: the element of
    rank sh*sw//2 of the sorted window, rows r - sh//2 .. r + (sh-1)//2 (likewise columns).
    Exact for every dtype; NaN sorts last, as np.sort has it. Shared with test_image.py."""
    sh, sw = size
    pad_mode = {"reflect": "symmetric", "nearest": "edge", "constant": "constant"}[mode]
    ext = np.pad(x, ((sh, sh), (sw, sw)), mode=pad_mode)
    out = np.empty_like(x)
    for r in range(x.shape[0]):
        for c in range(x.shape[1]):
            top, left = sh + r - sh // 2, sw + c - sw // 2
            out[r, c] = np.sort(ext[top:top + sh, left:left + sw], axis=None)[(sh * sw) // 2]
    return out


def relayout(x, layout):
    """A view holding exactly ``x``'s values in another memory layout.

    ``contiguous``: a C-ordered copy; ``fortran``: column-major (transposed
    strides); ``strided``: every other element of a larger buffer;
    ``reversed``: negative strides; ``readonly``: a copy that cannot be written.
    """
    x = np.asarray(x)
    if layout == "contiguous":
        return np.array(x, order="C", copy=True)
    if layout == "fortran":
        return np.array(x, order="F", copy=True)
    if layout == "strided":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype) if x.ndim else x.copy()
        if x.ndim == 0:
            return big
        big[..., ::2] = x
        return big[..., ::2]
    if layout == "reversed":
        if x.ndim == 0:
            return x.copy()
        flipped = np.array(np.flip(x, -1), order="C", copy=True)
        return np.flip(flipped, -1)
    if layout == "readonly":
        y = x.copy()
        y.flags.writeable = False
        return y
    raise ValueError(f"unknown layout {layout!r}")


def broadcast_view(x):
    """A read-only broadcast view (zero strides) with ``x``'s shape, its values repeated
    along axis 0, and the contiguous array it equals."""
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] == 0:
        return relayout(x, "readonly"), relayout(x, "contiguous")
    view = np.broadcast_to(x[:1], x.shape)
    return view, relayout(view, "contiguous")


def call_cleanly(fn, *args, names=(), **kwargs):
    """Call ``fn``; return ``(result, None)`` or ``(None, error)`` for an allowed error.

    Fails the test for any other exception, for an allowed error that leaks a
    NumPy message, and (when ``names`` is given) for one whose message names
    none of ``names`` (the arguments the caller could have got wrong).
    """
    try:
        return fn(*args, **kwargs), None
    except CLEAN_ERRORS as exc:
        check_message(exc, names)
        return None, exc


def check_message(exc, names=()):
    """Assert that an allowed error explains itself: no NumPy internals, names an argument."""
    text = str(exc)
    assert text, f"{type(exc).__name__} without a message"
    leaked = [frag for frag in NUMPY_LEAKS if frag in text]
    assert not leaked, f"NumPy's own message leaked through: {type(exc).__name__}: {text}"
    if names:
        assert any(n in text for n in names), (
            f"{type(exc).__name__} message names none of {names}: {text}")


def assert_same(a, b):
    """Exactly equal arrays (NaN == NaN), same dtype and shape; or nested tuples/dicts of them."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same(u, v)
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b or (a != a and b != b), (a, b)


def frozen(*arrays):
    """Read-only copies of ``arrays``: a function that writes into them raises at once."""
    out = []
    for a in arrays:
        a = np.array(a, copy=True)
        a.flags.writeable = False
        out.append(a)
    return out if len(out) != 1 else out[0]


#: Values that do not belong where an int, float, bool, shape or string is wanted.
WRONG_VALUES = (None, -1, 0, -0.5, 0.0, 1.5, float("nan"), float("inf"), True, "3", (1,), (1, 2, 3),
                [2, 2], np.float32(2.0), np.int64(-3), np.array([1, 2]), object())


def wrong_values():
    """Any of :data:`WRONG_VALUES` (for constructor and keyword arguments)."""
    return st.sampled_from(WRONG_VALUES)


#: Pairs where an int, a pair of ints or ``None`` entries are wanted (the layers' ``kernel_size``,
#: ``stride``, ``padding``, an adaptive pool's ``output_size`` with None for "keep this side").
PAIR_VALUES = ((3, None), (None, None), [None, 0], (0, 2), (2, 1.5), (True, 2))


def layer_argument_values():
    """:func:`wrong_values` and :data:`PAIR_VALUES`, for the layers' constructor arguments."""
    return st.one_of(wrong_values(), st.sampled_from(PAIR_VALUES))
