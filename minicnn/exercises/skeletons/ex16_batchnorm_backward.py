"""Exercise 16 of 16: batch normalisation's backward pass (training mode).

Check it:  python -m minicnn.exercises check ex16_batchnorm_backward.py
Read:      examples/tutorial/18_batch_norm.py; minicnn/layers/batchnorm.py derives it step by step
"""
import numpy as np


def batchnorm_backward(dout, x, gamma, eps):
    """Gradients of out = batchnorm_forward(x, gamma, beta, eps) (exercise 15).

    dout: (N, C, H, W) = dLoss/dout; x: (N, C, H, W); gamma: (C,); eps: a float
    returns (dx, dgamma, dbeta), in x's dtype: dx (N, C, H, W), dgamma and dbeta (C,):

        dbeta  = sum of dout over n, h, w              dgamma = sum of dout * x_hat over n, h, w
        dx     = gamma / sqrt(var + eps) * (dout - mean(dout) - x_hat * mean(dout * x_hat))

    (means per channel, over its m = N*H*W values).

    Hints:
    - mu and var are functions of every x of the channel: the chain rule goes through them
      too. Dropping the path through mu loses the "- mean(dout)", dropping the path through var
      the "- x_hat * mean(dout * x_hat)";
    - derive it on paper with the computational graph x -> mu -> var -> x_hat -> out, or
      trust the closed form above and check it: the checker compares with the numerical
      gradient of your batchnorm_forward (exercise 15).
    """
    raise NotImplementedError
