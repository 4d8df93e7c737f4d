"""The one random number generator behind initial weights and dropout masks.

``manual_seed(s)`` replaces it, so that the same seed gives the same weights and
the same masks, in the spirit of ``torch.manual_seed``.

Weights are drawn on the host, whatever the device. A GPU draws its dropout masks
with its own generator (``cupy.random``), seeded from the host's: once when first
asked for, and again by ``fit`` at every epoch's start (:func:`reseed_device`), so
that a run resumed from a checkpoint (which keeps the host's state) draws the masks
an uninterrupted run would. CPU and GPU masks differ for the same seed, as in PyTorch.
"""
import numpy as np

from ._checks import check_int

_rng = np.random.default_rng()
_device_rngs = {}                   # array module -> its generator (cupy's, on a GPU)


def manual_seed(seed):
    """Seed minicnn's global generator: same seed, same initial weights and dropout masks."""
    global _rng
    _rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    _device_rngs.clear()
    return _rng


def get_rng(xp=np):
    """The current global ``np.random.Generator``, or for ``xp`` = a GPU's array module
    the generator of that device (seeded from the global one when first asked for)."""
    if xp is np:
        return _rng
    if xp not in _device_rngs:
        reseed_device(xp)
    return _device_rngs[xp]


def reseed_device(xp):
    """Seed the generator of the device whose array module is ``xp`` from the global one."""
    _device_rngs[xp] = xp.random.default_rng(int(_rng.integers(2 ** 63)))
