"""Argument checks shared by every public function.

Each helper raises a ``ValueError`` or ``TypeError`` whose message names the
argument and says what was expected, so that a user never has to decode a
NumPy broadcasting traceback.
"""
import numbers

import numpy as np

_SCALE_HINT = "scale images with x.astype(np.float32) / 255"


def check_int(value, name, minimum=None):
    """Return ``value`` as a Python int; reject bools, floats and anything below ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_float(value, name, minimum=None, maximum=None, min_open=False, max_open=False):
    """Return ``value`` as a finite Python float within the given (closed or open) bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:            # an int beyond float64, such as 10**400
        raise ValueError(f"{name} must be finite, got an int too large for a float "
                         f"({len(str(abs(int(value))))} digits)") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low_bad = minimum is not None and (value <= minimum if min_open else value < minimum)
    high_bad = maximum is not None and (value >= maximum if max_open else value > maximum)
    if low_bad or high_bad:
        lo = "-inf" if minimum is None else f"{minimum:g}"
        hi = "inf" if maximum is None else f"{maximum:g}"
        interval = ("(" if min_open or minimum is None else "[") + f"{lo}, {hi}" + (")" if max_open or maximum is None else "]")
        raise ValueError(f"{name} must be in {interval}, got {value:g}")
    return value


def check_bool(value, name):
    """Accept only True/False (``bias="no"`` must not silently mean True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def pair(value, name, minimum=1):
    """Turn an int or a 2-sequence of ints into a checked ``(h, w)`` tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        return tuple(check_int(v, name, minimum) for v in value)
    v = check_int(value, name, minimum)
    return (v, v)


def check_dtype(dtype, name="dtype"):
    """Return a floating ``np.dtype``; minicnn parameters are float16/32/64."""
    # np.dtype(None) would silently mean float64, np.dtype(np.float32(2.0)) float32
    if dtype is None or isinstance(dtype, (np.generic, np.ndarray)):
        raise TypeError(f"{name} must be a NumPy floating dtype such as np.float32, got {dtype!r}")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a NumPy floating dtype, got {dtype!r}") from exc
    if dt.kind != "f":
        raise TypeError(f"{name} must be a floating dtype such as np.float32, got {dt}")
    return dt


def check_array(x, name="x", ndim=None, floating=True):
    """Check that ``x`` is an ndarray (of a floating dtype unless ``floating=False``).

    ``ndim`` is an int or a tuple of allowed ints. Integer images get a hint on
    how to scale them, because that is the usual reason they arrive here.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if floating and x.dtype.kind != "f":
        hint = f"; {_SCALE_HINT}" if x.dtype.kind in "biu" and name in ("x", "image", "images") else ""
        raise TypeError(f"{name} must have a floating dtype (float16/32/64), got {x.dtype}{hint}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {x.shape}")
    return x


def check_shape(shape, name="input_shape"):
    """Return ``shape`` as a tuple of non-negative ints (a tuple or list of them)."""
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__} {shape!r}")
    return tuple(check_int(s, f"{name}[{i}]", 0) for i, s in enumerate(shape))


def check_path(path, name="path"):
    """Return ``path`` as a str; accept str and os.PathLike only."""
    import os
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__} {path!r}")
    return os.fspath(path)


def check_choice(value, name, choices):
    """Check that ``value`` is one of ``choices``, listing them when it is not."""
    if not isinstance(value, str) or value not in choices:
        listing = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listing}, got {value!r}")
    return value



# ---------------------------------------------------------------------------
# Per-call checks of the layers (run by the Layer base class around forward/backward)
# ---------------------------------------------------------------------------
def check_forward_input(layer, x):
    """``x`` fits ``layer``: a float ndarray with the dimensions the layer declares,
    whose per-sample shape ``layer.output_shape`` accepts (channels, window size)."""
    check_array(x, "x", ndim=layer.input_ndim)
    if x.ndim < layer.min_ndim:
        raise ValueError(f"x must have at least {layer.min_ndim} dimensions (N, ...), got shape {x.shape}")
    layer.output_shape(x.shape[1:])


def check_grad(grad_out, expected_shape):
    """``grad_out`` is a float ndarray of the shape the forward pass produced."""
    check_array(grad_out, "grad_out")
    if grad_out.shape != tuple(expected_shape):
        raise ValueError(f"grad_out must have the forward output's shape {tuple(expected_shape)}, "
                         f"got {grad_out.shape}")
    return grad_out


def check_channels(got, expected, word, shape):
    """A channel (or feature) count: 'x has ... but the layer expects ...'."""
    if got != expected:
        raise ValueError(f"x has {got} {word} but the layer expects {expected} (input shape {tuple(shape)})")
