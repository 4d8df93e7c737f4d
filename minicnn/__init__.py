"""minicnn: a small convolutional-network framework on NumPy, written to be read.

    import minicnn as mc
    from minicnn import layers as L

    model = mc.Sequential([L.Conv2D(1, 8, 3, padding=1), L.ReLU(), L.MaxPool2D(2),
                           L.Flatten(), L.Dense(8 * 14 * 14, 10)])
    model.to("cuda")        # optional: a CUDA GPU through CuPy (see minicnn.devices)
"""
from . import (callbacks, checkpoints, data, devices, fast, functional, gradcheck, image, init, layers, losses, metrics,
               models, optim, paths, threads, training, viz)
from ._rng import manual_seed
from .model import Sequential
from .parameter import Parameter
from .paths import reference_paths
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = ["Sequential", "Parameter", "manual_seed", "reference_paths", "get_num_threads", "set_num_threads",
           "data", "devices", "fast", "functional", "paths", "threads", "gradcheck", "init",
           "image", "layers", "losses", "metrics", "models", "optim", "training", "callbacks", "checkpoints", "viz",
           "__version__"]
