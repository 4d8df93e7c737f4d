"""Which path computes: the names code imports from ``minicnn.paths``.

The switch and the choice live beside the Layer, in :mod:`minicnn.layers.base`: the
table ``FAST_TWINS`` pairs each reference of :mod:`minicnn.functional` with its
faster equal twin of :mod:`minicnn.fast`, and ``fastest(reference, x)`` picks (the
layers call through it). ``with minicnn.reference_paths():`` runs the references,
in one thread; a layer's backward runs on the paths its forward ran on.

This module keeps ``minicnn.paths.reference_paths``, ``fast_paths``,
``fast_paths_enabled`` and the three choices below working for code that calls them.
"""
from . import functional as F
from .layers.base import fast_paths, fast_paths_enabled, fastest, reference_paths

__all__ = ["conv2d_forward", "conv2d_backward", "max_pool2d_backward", "fast_paths", "fast_paths_enabled",
           "reference_paths"]


def conv2d_forward(x, weight, bias, stride, pads, dilation, keep_cols=True, groups=1):
    """:func:`minicnn.fast.conv2d_forward` or the reference :func:`minicnn.functional.conv2d_forward`."""
    return fastest(F.conv2d_forward, x)(x, weight, bias, stride, pads, dilation, keep_cols=keep_cols,
                                        groups=groups)


def conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad=True, groups=1):
    """:func:`minicnn.fast.conv2d_backward` or the reference :func:`minicnn.functional.conv2d_backward`,
    for the ``cols`` the same path's forward gave."""
    return fastest(F.conv2d_backward, grad_out)(grad_out, cols, weight, x_shape, stride, pads, dilation,
                                                input_grad, groups=groups)


def max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride, pads, ceil_mode=False):
    """:func:`minicnn.fast.max_pool2d_backward` (on either device) or the reference
    :func:`minicnn.functional.max_pool2d_backward`."""
    return fastest(F.max_pool2d_backward, grad_out)(grad_out, argmax, x_shape, kernel_size, stride, pads,
                                                    ceil_mode)
