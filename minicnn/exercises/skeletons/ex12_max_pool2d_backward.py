"""Exercise 12 of 16: max pooling's backward pass (gradient routing).

Check it:  python -m minicnn.exercises check ex12_max_pool2d_backward.py
Read:      examples/tutorial/09_pooling.py (the forward), 13_backprop_by_hand.py (the chain rule)
"""
import numpy as np


def max_pool2d_backward(dout, x, k, stride):
    """Route each window's gradient to the pixel that held its maximum.

    dout: (N, C, OH, OW) = dLoss/dout; x: (N, C, H, W) the forward's input; k, stride: ints
    returns dx: x's shape and dtype, with, for each window (n, c, r, s),

        dx[n, c, r*stride + i*, s*stride + j*] += dout[n, c, r, s]

    where (i*, j*) is the window's maximum: on a tie, the FIRST maximum in row-major order
    (PyTorch's rule, and minicnn's): only one pixel of a window gets its gradient.

    Hints:
    - loop over the k*k offsets: keep the running maximum and which offset holds it, moving to a
      later offset only when it is strictly greater (>, not >=);
    - windows overlap when stride < k: add into dx (+=), never assign;
    - the checker compares with the numerical gradient of your max_pool2d_forward (exercise 4),
      on values without ties (where the gradient is defined).
    """
    raise NotImplementedError
