"""Dropout (inverted): zero each input with probability p when training."""

from .._checks import check_float
from .._rng import get_rng
from .base import Layer, check_grad


class Dropout(Layer):
    """Inverted dropout.

    Training: y = x * mask / (1 - p), mask ~ Bernoulli(1 - p), so the expected
    output equals x and evaluation needs no rescaling. Evaluation: y = x.
    Masks come from minicnn's generator (``manual_seed`` makes them repeat).
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = check_float(p, "p", minimum=0.0, maximum=1.0, max_open=True)

    def _draw_mask(self, shape, dtype):
        keep = get_rng().random(shape) >= self.p
        return keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.p))

    def forward(self, x, training=False):
        self._input(x)
        if not training:
            self._save(False)
            return x
        mask = self._draw_mask(x.shape, x.dtype)
        self._save(True, mask)
        return x * mask

    def backward(self, grad_out):
        (mask,) = self._cached()
        check_grad(grad_out, mask.shape)
        return grad_out * mask

    def config(self):
        return dict(p=self.p)
