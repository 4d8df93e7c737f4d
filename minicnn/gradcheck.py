"""Check hand-written backward passes against finite differences.

On a GPU too: a layer moved with ``layer.to("cuda")`` and a CuPy ``x`` are checked on
the device (each of the many small evaluations waits for it: a test tool, not a hot path);
the errors are computed on the host.
"""
import copy

import numpy as np

from ._checks import check_array, check_float
from .devices import array_module, device_of, is_array, is_writeable, to_device, to_numpy
from .layers.base import Layer


def central_differences(f, x, eps=1e-6):
    """df/dx[i] ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), for every element i of x.

    The error of the estimate is O(eps^2). x is perturbed in place and restored.
    """
    xp = array_module(x)
    grad = xp.zeros_like(x)
    for i in np.ndindex(x.shape):         # one element at a time: a test tool, not a hot path
        old = x[i].copy()                # (on CuPy x[i] is a view: it would follow the writes)
        x[i] = old + eps
        plus = f(x)
        x[i] = old - eps
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def check_layer(layer, x, eps=1e-6, seed=0):
    """Compare ``layer.backward`` with central differences; return the relative errors.

    A student who writes a layer checks it in two lines (use float64: float32 has
    too few digits for finite differences)::

        layer = MyLayer(..., dtype=np.float64)
        print(check_layer(layer, np.random.randn(2, 3, 5, 5)))   # every value should be < 1e-6

    The scalar checked is ``L = sum(R * layer(x))`` with a fixed random ``R``
    (not a plain sum, which would hide errors in layers whose outputs sum to a
    constant, like BatchNorm and Softmax). Returns ``{"input": err, "<param>":
    err, ...}`` (see :func:`relative_error`). The forward runs in training
    mode; a layer with randomness (Dropout) must have it held fixed.

    The check runs on a copy of ``layer``: the layer itself keeps its
    parameters, their gradients, its buffers (BatchNorm's running statistics,
    which every training-mode forward moves) and its cache.
    """
    layer, x, eps = _check_layer_args(layer, x, eps)
    out = layer.forward(x, training=True)
    r = to_device(np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype), device_of(out))
    loss = lambda _: float((r * layer.forward(x, training=True)).sum())

    for p in layer.params.values():
        p.zero_grad()
    layer.forward(x, training=True)
    errors = {"input": relative_error(layer.backward(r), numerical_gradient(loss, x, eps))}
    analytic = {name: p.grad.copy() for name, p in layer.params.items()}
    for name, p in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, p.data, eps))
    return errors


def relative_error(analytic, numeric, floor=1e-4):
    """max |a - n| / max(max |a|, max |n|, floor).

    Measured against the largest entry (not entry by entry), so that entries
    that are zero up to rounding do not blow it up, while a wrong gradient
    still shows as an error of order 1. ``floor`` keeps a gradient that is
    truly zero (a conv bias followed by BatchNorm) from being compared with the
    ~1e-10 rounding noise of finite differences.
    """
    analytic, numeric, floor = _check_error_args(analytic, numeric, floor)
    if analytic.size == 0:
        return 0.0
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), floor)
    with np.errstate(invalid="ignore"):      # inf against inf: NaN, which fails any tolerance
        return float(np.abs(analytic - numeric).max() / scale)


def numerical_gradient(f, x, eps=1e-6):
    """:func:`central_differences` with its arguments checked: ``f(x)`` must return a scalar,
    ``x`` is a float array (perturbed in place, or a copy of it when it is read-only) and
    restored even when ``f`` raises, and ``eps`` must be above the resolution of x's dtype."""
    check_array(x, "x")
    eps = check_float(eps, "eps", minimum=0.0, min_open=True)
    if not callable(f):
        raise TypeError(f"f must be a callable f(x) -> scalar, got {type(f).__name__}")
    if not is_writeable(x):                          # perturb a copy: f gets it
        x = x.copy()
    values = to_numpy(x)
    too_fine = np.isfinite(values) & (values + x.dtype.type(eps) == values)
    if too_fine.any():
        raise ValueError(f"eps={eps:g} is below the resolution of x ({x.dtype}) at {values[too_fine][0]}: "
                         "use float64 and a larger eps")
    saved = x.copy()
    try:
        return central_differences(lambda v: _scalar(f, v), x, eps)
    finally:
        x[...] = saved


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------
def _scalar(f, x):
    try:
        return float(f(x))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"f must take x and return a scalar: {exc}") from exc


def _check_layer_args(layer, x, eps):
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a minicnn Layer, got {type(layer).__name__}")
    check_array(x, "x")
    return copy.deepcopy(layer), x.copy(), check_float(eps, "eps", minimum=0.0, min_open=True)


def _check_error_args(analytic, numeric, floor):
    analytic, numeric = _real(analytic, "analytic"), _real(numeric, "numeric")
    floor = check_float(floor, "floor", minimum=0.0, min_open=True)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shapes differ: analytic {analytic.shape}, numeric {numeric.shape}")
    return analytic, numeric, floor


def _real(a, name):
    a = to_numpy(a) if is_array(a) else np.asarray(a) if isinstance(a, (float, int)) else a
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real-valued array, got {getattr(a, 'dtype', type(a).__name__)}")
    return a.astype(np.float64)
