"""Exercise 5 of 16: average pooling's forward pass.

Check it:  python -m minicnn.exercises check ex05_avg_pool2d_forward.py
Read:      examples/tutorial/09_pooling.py
"""
import numpy as np


def avg_pool2d_forward(x, k, stride):
    """The mean of every k x k window, no padding.

    x: (N, C, H, W); k, stride: ints
    returns out: (N, C, OH, OW), in x's dtype, with OH = (H - k) // stride + 1 (and OW so) and
        out[n, c, r, s] = (1 / k**2) * sum over i, j < k of x[n, c, r*stride + i, s*stride + j]

    Hints: as max pooling (exercise 4) with a sum of the k*k strided slices, divided by k*k.
    """
    raise NotImplementedError
