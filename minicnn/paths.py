"""Which path computes: the one place that chooses between a reference and a fast path.

:mod:`minicnn.functional` holds the references (the definitions, the code to read),
:mod:`minicnn.fast` the named tricks that give the same numbers faster; neither
imports the other's choice. The layers call the three functions below, which pick:

- fast paths off (``with minicnn.reference_paths():``): the reference, always;
- on (the default): the convolution's fast path for NumPy arrays, the reference on a
  GPU (the fast convolution's blocks and wide grid are CPU cache tricks: a GPU wants
  one large matrix product); the max-pool backward's fast path on either device
  (it writes instead of adding, elementwise work a GPU does as well).

The switch is per thread, and a layer's backward runs on the paths its forward ran on
(:class:`minicnn.layers.Layer` records the switch at forward).
"""
import contextlib
import threading

import numpy as np

from . import fast
from . import functional as F

__all__ = ["conv2d_forward", "conv2d_backward", "max_pool2d_backward", "fast_paths", "fast_paths_enabled",
           "reference_paths"]

_switch = threading.local()          # per thread: a switch in one thread leaves the others alone


def fast_paths_enabled():
    """Whether the fast paths of :mod:`minicnn.fast` may run (True unless switched off)."""
    return getattr(_switch, "fast", True)


@contextlib.contextmanager
def fast_paths(enabled):
    """Run the code inside (in this thread) with the fast paths on (``True``) or off (``False``)."""
    before, _switch.fast = fast_paths_enabled(), bool(enabled)
    try:
        yield
    finally:
        _switch.fast = before


def reference_paths():
    """``with minicnn.reference_paths():`` runs every layer on the plain references of
    :mod:`minicnn.functional` (the code to read and step through), never on a fast path.
    Same results, to rounding."""
    return fast_paths(False)


def _fast_paths_for(x):
    """The convolution's fast paths: on, and ``x`` a NumPy array (they are CPU tricks)."""
    return fast_paths_enabled() and isinstance(x, np.ndarray)


def conv2d_forward(x, weight, bias, stride, pads, dilation, keep_cols=True, groups=1):
    """:func:`minicnn.fast.conv2d_forward` or the reference :func:`minicnn.functional.conv2d_forward`."""
    if _fast_paths_for(x):
        return fast.conv2d_forward(x, weight, bias, stride, pads, dilation, keep_cols=keep_cols, groups=groups)
    return F.conv2d_forward(x, weight, bias, stride, pads, dilation, keep_cols=keep_cols, groups=groups)


def conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad=True, groups=1):
    """:func:`minicnn.fast.conv2d_backward` or the reference :func:`minicnn.functional.conv2d_backward`,
    for the ``cols`` the same path's forward gave."""
    if _fast_paths_for(grad_out):
        return fast.conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad, groups=groups)
    return F.conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad, groups=groups)


def max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride, pads, ceil_mode=False):
    """:func:`minicnn.fast.max_pool2d_backward` (on either device) or the reference
    :func:`minicnn.functional.max_pool2d_backward`."""
    if fast_paths_enabled():
        return fast.max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride, pads, ceil_mode)
    return F.max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride, pads, ceil_mode)
