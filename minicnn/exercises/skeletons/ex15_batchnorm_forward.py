"""Exercise 15 of 16: batch normalisation's forward pass (training mode).

Check it:  python -m minicnn.exercises check ex15_batchnorm_forward.py
Read:      examples/tutorial/18_batch_norm.py (BN's forward by hand)
"""
import numpy as np


def batchnorm_forward(x, gamma, beta, eps):
    """Normalise each channel over the batch and the pixels, then scale and shift.

    x: (N, C, H, W); gamma, beta: (C,); eps: a small float
    returns out: x's shape and dtype, with per channel c, over its m = N*H*W values,

        mu[c]  = mean of x[:, c]                     var[c] = mean of (x[:, c] - mu[c])**2   (biased: / m)
        x_hat  = (x - mu) / sqrt(var + eps)          out = gamma * x_hat + beta

    Hints:
    - x.mean(axis=(0, 2, 3), keepdims=True) is (1, C, 1, 1) and broadcasts against x;
    - gamma.reshape(1, -1, 1, 1) broadcasts likewise;
    - training mode only: no running statistics here (minicnn's BatchNorm keeps those too).
    """
    raise NotImplementedError
