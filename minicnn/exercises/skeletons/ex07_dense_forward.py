"""Exercise 7 of 16: a dense (fully connected) layer's forward pass.

Check it:  python -m minicnn.exercises check ex07_dense_forward.py
Read:      examples/tutorial/12_dense_first.py (the forward pass by hand)
"""
import numpy as np


def dense_forward(x, W, b):
    """out = x @ W + b.

    x: (N, in_features); W: (in_features, out_features), minicnn's and Keras's layout
    (PyTorch's Linear keeps the transpose); b: (out_features,)
    returns out: (N, out_features), in x's dtype.

    Hint: one line; b broadcasts over the rows.
    """
    raise NotImplementedError
