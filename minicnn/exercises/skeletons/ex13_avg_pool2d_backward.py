"""Exercise 13 of 16: average pooling's backward pass.

Check it:  python -m minicnn.exercises check ex13_avg_pool2d_backward.py
Read:      examples/tutorial/09_pooling.py, 13_backprop_by_hand.py
"""
import numpy as np


def avg_pool2d_backward(dout, x_shape, k, stride):
    """Spread each window's gradient evenly over its k*k pixels.

    dout: (N, C, OH, OW) = dLoss/dout; x_shape: the forward input's shape (N, C, H, W) (average
    pooling's gradient does not depend on x's values, only on where the windows are); k, stride: ints
    returns dx: (N, C, H, W) in dout's dtype, with, for each window (n, c, r, s) and i, j < k,

        dx[n, c, r*stride + i, s*stride + j] += dout[n, c, r, s] / k**2

    Hints: loop over the k*k offsets; add (+=), overlapping windows share pixels.
    """
    raise NotImplementedError
