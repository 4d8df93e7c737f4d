"""Exercise 9 of 16: a dense layer's backward pass.

Check it:  python -m minicnn.exercises check ex09_dense_backward.py
Read:      examples/tutorial/13_backprop_by_hand.py (the chain rule on a layer)
"""
import numpy as np


def dense_backward(dout, x, W):
    """Gradients of out = x @ W + b, given dout = dLoss/dout.

    dout: (N, out_features); x: (N, in_features); W: (in_features, out_features)
    returns (dx, dW, db), in x's dtype:
        dx = dout @ W.T            (N, in_features)
        dW = x.T @ dout            (in_features, out_features): summed over the batch
        db = dout summed over n    (out_features,)

    Hints:
    - every gradient has the shape of what it is the gradient of: dW is W's shape;
    - sum over the batch, do not average: dout already carries the loss's 1/N;
    - the checker compares with the numerical gradient of your dense_forward (exercise 7).
    """
    raise NotImplementedError
