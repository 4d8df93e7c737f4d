"""Exercise 8 of 16: the softmax cross-entropy loss and its gradient.

Check it:  python -m minicnn.exercises check ex08_softmax_cross_entropy.py
Read:      examples/tutorial/12_dense_first.py (the loss by hand: softmax in the loss)
"""
import numpy as np


def softmax_cross_entropy(logits, labels):
    """The mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    logits: (N, K) raw scores (no softmax applied); labels: (N,) ints in [0, K)
    returns (loss, dlogits):
        p       = softmax(logits) along axis 1: p[n, c] = exp(z[n, c]) / sum_c' exp(z[n, c'])
        loss    = -mean over n of log p[n, labels[n]]                       a float
        dlogits = (p - onehot(labels)) / N                                  (N, K), logits' dtype

    Hints:
    - subtract each row's maximum before exp: the softmax does not change, and logits of
      1000 no longer overflow (exp(1000) is inf in float64);
    - log p = z - max - log(sum(exp(z - max))) directly: log(p) of a tiny p is -inf;
    - the 1/N: the loss is a mean over the batch, so its gradient carries the 1/N;
    - the checker also differentiates your loss numerically and compares with your dlogits.
    """
    raise NotImplementedError
