"""Exercise 6 of 16: ReLU's forward pass.

Check it:  python -m minicnn.exercises check ex06_relu_forward.py
Read:      examples/tutorial/11_feature_maps.py (maps after the ReLU), 12_dense_first.py
"""
import numpy as np


def relu_forward(x):
    """y = max(x, 0), element by element.

    x: an array of any shape; returns out: the same shape and dtype.

    Hint: np.maximum(x, 0) keeps x's dtype.
    """
    raise NotImplementedError
