"""Exercise 14 of 16: one step of SGD with momentum.

Check it:  python -m minicnn.exercises check ex14_sgd_momentum_step.py
Read:      examples/tutorial/14_learn_sobel.py (SGD with momentum at work),
           15_mnist.py (one optimiser step by hand)
"""
import numpy as np


def sgd_momentum_step(w, dw, v, lr, momentum):
    """PyTorch's (and minicnn's) SGD with momentum, one step:

        v = momentum * v + dw
        w = w - lr * v

    w: a parameter array; dw: its gradient; v: its velocity (w's shape, zeros at the first
    step); lr, momentum: floats
    returns (w, v): the new parameter and velocity, in w's dtype (new arrays, or w and v updated
    in place and returned).

    Hints: update v first, then w with the new v. (CS231n writes v = momentum * v - lr * dw,
    w = w + v: the same steps with v scaled by -lr; here v is PyTorch's.)
    """
    raise NotImplementedError
