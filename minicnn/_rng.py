"""The one random number generator behind initial weights and dropout masks.

``manual_seed(s)`` replaces it, so that the same seed gives the same weights and
the same masks, in the spirit of ``torch.manual_seed``.
"""
import numpy as np

from ._checks import check_int

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed minicnn's global generator: same seed, same initial weights and dropout masks."""
    global _rng
    _rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    return _rng


def get_rng():
    """The current global ``np.random.Generator``."""
    return _rng
