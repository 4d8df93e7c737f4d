"""Check hand-written backward passes against finite differences.

A student who writes a layer can check it in two lines::

    layer = MyLayer(..., dtype=np.float64)
    print(check_layer(layer, np.random.randn(2, 3, 5, 5)))   # every value should be < 1e-6

Use float64 layers and inputs: float32 has too few digits for finite differences.
"""
import copy

import numpy as np

from ._checks import check_array, check_float


def numerical_gradient(f, x, eps=1e-6):
    """Central differences: df/dx[i] ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).

    ``f(x)`` returns a scalar. ``x`` is perturbed in place, one element at a
    time, and restored. The error of the estimate is O(eps^2).
    """
    check_array(x, "x")
    eps = check_float(eps, "eps", minimum=0.0, min_open=True)
    if not callable(f):
        raise TypeError(f"f must be a callable f(x) -> scalar, got {type(f).__name__}")
    if not x.flags.writeable:        # perturb a copy: f gets it as its argument
        x = x.copy()
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):      # one element at a time: this is a test tool, not a hot path
        old = x[idx]
        try:                             # x is restored even when f raises
            x[idx] = old + eps
            if np.isfinite(old) and x[idx] == old:
                raise ValueError(f"eps={eps:g} is below the resolution of x ({x.dtype}) at {old}: "
                                 "use float64 and a larger eps")
            plus = _scalar(f, x)
            x[idx] = old - eps
            minus = _scalar(f, x)
        finally:
            x[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def _scalar(f, x):
    try:
        return float(f(x))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"f must take x and return a scalar: {exc}") from exc


def relative_error(analytic, numeric, floor=1e-4):
    """max |a - n| / max(max |a|, max |n|, floor).

    Measured against the largest entry (not entry by entry), so that entries
    that are zero up to rounding do not blow it up, while a wrong gradient
    still shows as an error of order 1. ``floor`` keeps a gradient that is
    truly zero (a conv bias followed by BatchNorm) from being compared with the
    ~1e-10 rounding noise of finite differences.
    """
    analytic, numeric = _real(analytic, "analytic"), _real(numeric, "numeric")
    floor = check_float(floor, "floor", minimum=0.0, min_open=True)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shapes differ: analytic {analytic.shape}, numeric {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), floor)
    with np.errstate(invalid="ignore"):      # inf against inf: NaN, which fails any tolerance
        return float(np.abs(analytic - numeric).max() / scale)


def _real(a, name):
    a = np.asarray(a) if isinstance(a, (np.ndarray, float, int)) else a
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real-valued array, got {getattr(a, 'dtype', type(a).__name__)}")
    return a.astype(np.float64)


def check_layer(layer, x, eps=1e-6, seed=0):
    """Compare ``layer.backward`` with finite differences; return the relative errors.

    The scalar checked is ``L = sum(R * layer(x))`` with a fixed random ``R``
    (not a plain sum, which would hide errors in layers whose outputs sum to a
    constant, like BatchNorm and Softmax). Returns ``{"input": err, "<param>":
    err, ...}`` (see :func:`relative_error`). The forward runs in training
    mode; a layer with randomness (Dropout) must have it held fixed.

    The check runs on a copy of ``layer``: the layer itself keeps its
    parameters, their gradients, its buffers (BatchNorm's running statistics,
    which every training-mode forward moves) and its cache.
    """
    from .layers.base import Layer
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a minicnn Layer, got {type(layer).__name__}")
    check_array(x, "x")
    x = x.copy()
    layer = copy.deepcopy(layer)
    out = layer.forward(x, training=True)
    r = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    loss = lambda _: float(np.sum(r * layer.forward(x, training=True)))

    for p in layer.params.values():
        p.zero_grad()
    layer.forward(x, training=True)
    errors = {"input": relative_error(layer.backward(r), numerical_gradient(loss, x, eps))}
    analytic = {name: p.grad.copy() for name, p in layer.params.items()}
    for name, p in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, p.data, eps))
    return errors
