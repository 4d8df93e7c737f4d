"""Check hand-written backward passes against finite differences.

A student who writes a layer can check it in two lines::

    layer = MyLayer(..., dtype=np.float64)
    print(check_layer(layer, np.random.randn(2, 3, 5, 5)))   # every value should be < 1e-6

Use float64 layers and inputs: float32 has too few digits for finite differences.
"""
import numpy as np

from ._checks import check_array, check_float


def numerical_gradient(f, x, eps=1e-6):
    """Central differences: df/dx[i] ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).

    ``f(x)`` returns a scalar. ``x`` is perturbed in place, one element at a
    time, and restored. The error of the estimate is O(eps^2).
    """
    check_array(x, "x")
    eps = check_float(eps, "eps", minimum=0.0, min_open=True)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):      # one element at a time: this is a test tool, not a hot path
        old = x[idx]
        x[idx] = old + eps
        plus = float(f(x))
        x[idx] = old - eps
        minus = float(f(x))
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric, floor=1e-4):
    """max |a - n| / max(max |a|, max |n|, floor).

    Measured against the largest entry (not entry by entry), so that entries
    that are zero up to rounding do not blow it up, while a wrong gradient
    still shows as an error of order 1. ``floor`` keeps a gradient that is
    truly zero (a conv bias followed by BatchNorm) from being compared with the
    ~1e-10 rounding noise of finite differences.
    """
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shapes differ: analytic {analytic.shape}, numeric {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), floor)
    return float(np.abs(analytic - numeric).max() / scale)


def check_layer(layer, x, eps=1e-6, seed=0):
    """Compare ``layer.backward`` with finite differences; return the relative errors.

    The scalar checked is ``L = sum(R * layer(x))`` with a fixed random ``R``
    (not a plain sum, which would hide errors in layers whose outputs sum to a
    constant, like BatchNorm and Softmax). Returns ``{"input": err, "<param>":
    err, ...}`` (see :func:`relative_error`). The forward runs in training
    mode; a layer with randomness (Dropout) must have it held fixed.
    """
    check_array(x, "x")
    x = x.copy()
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
