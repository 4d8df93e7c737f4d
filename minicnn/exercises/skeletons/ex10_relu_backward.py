"""Exercise 10 of 16: ReLU's backward pass.

Check it:  python -m minicnn.exercises check ex10_relu_backward.py
Read:      examples/tutorial/13_backprop_by_hand.py
"""
import numpy as np


def relu_backward(dout, x):
    """dx = dout where x > 0, else 0.

    dout: dLoss/dout, the shape of x; x: the forward's input
    returns dx: x's shape and dtype.

    Hints:
    - the mask comes from the input x (not from dout, not from the output's values);
    - at exactly x == 0 the gradient is 0 (x > 0, not x >= 0), as minicnn's and PyTorch's ReLU.
    """
    raise NotImplementedError
