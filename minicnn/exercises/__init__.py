"""Exercises: write the layers yourself, have them checked, then train MNIST with them.

    python -m minicnn.exercises new my_cnn           # the skeletons, in learning order
    python -m minicnn.exercises check my_cnn/ex01_conv2d_forward.py [--only NAME]
    python -m minicnn.exercises train my_cnn [--quick]

Sixteen exercises, from ``conv2d_forward`` (loops allowed) through im2col, pooling, ReLU,
Dense and the softmax cross-entropy, to their backward passes, SGD with momentum and
BatchNorm (:data:`EXERCISES`, in learning order; each skeleton's docstring points at the
track's step that explains it). The checker (:mod:`.checker`) runs fixed cases, a
Hypothesis property test against minicnn's own answers (:mod:`.reference`: minicnn's
layers, no separate solutions), a numerical gradient check of each backward against the
learner's own forward, and names the common mistake a wrong answer matches
(:mod:`.mistakes`). ``train`` (:mod:`.glue`) puts the learner's functions into the MNIST
CNN in place of minicnn's.

The checker needs Hypothesis (``pip install "minicnn[exercises]"``).
"""
from .catalog import EXERCISES, signature
from .checker import check_file, check_function
from .glue import train, write_skeletons

__all__ = ["EXERCISES", "signature", "check_file", "check_function", "train", "write_skeletons"]
