"""Dropout (inverted): zero each input with probability p when training."""

import numpy as np

from .._checks import check_float
from .._rng import get_rng
from ..devices import array_module
from .base import Layer


class Dropout(Layer):
    """Inverted dropout.

    Training: y = x * mask / (1 - p), mask ~ Bernoulli(1 - p), so the expected
    output equals x and evaluation needs no rescaling. Evaluation: y = x.
    Masks come from minicnn's generator (``manual_seed`` makes them repeat).
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = check_float(p, "p", minimum=0.0, maximum=1.0, max_open=True)

    def _forward(self, x, training):
        if not training:
            return x
        xp = array_module(x)
        self.cache = self._draw_mask(x.shape, x.dtype, xp)
        return x * self.cache

    def _backward(self, grad_out, input_grad):
        return grad_out * self.cache

    def _draw_mask(self, shape, dtype, xp=np):
        """mask / (1 - p): 0 with probability p, else 1 / (1 - p), drawn on the device of ``xp``."""
        keep = get_rng(xp).random(shape) >= self.p
        return keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.p))

    def config(self):
        return dict(p=self.p)
