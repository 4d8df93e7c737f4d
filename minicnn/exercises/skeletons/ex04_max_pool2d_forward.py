"""Exercise 4 of 16: max pooling's forward pass.

Check it:  python -m minicnn.exercises check ex04_max_pool2d_forward.py
Read:      examples/tutorial/09_pooling.py
"""
import numpy as np


def max_pool2d_forward(x, k, stride):
    """The maximum of every k x k window, no padding.

    x: (N, C, H, W); k: the window's size; stride: the step between windows (often = k)
    returns out: (N, C, OH, OW), in x's dtype, with
        OH = (H - k) // stride + 1,  OW = (W - k) // stride + 1
        out[n, c, r, s] = max over i, j < k of x[n, c, r*stride + i, s*stride + j]

    Hints:
    - each channel is pooled on its own: no sum over channels as in a convolution;
    - vectorised: start from the offset (0, 0) and take np.maximum with each of the k*k
      strided slices x[:, :, i : i + stride*OH : stride, j : j + stride*OW : stride];
    - windows may overlap (stride < k): the checker tries k = 3, stride = 2.
    """
    raise NotImplementedError
