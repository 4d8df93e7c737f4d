"""A trainable array and its gradient."""
import numpy as np


class Parameter:
    """A tensor the optimiser updates.

    ``data``: the values (an ndarray that keeps the dtype it was given).
    ``grad``: same shape and dtype, zeros at start. Backward passes *add* into
    it, so gradients of several backward calls accumulate until the
    optimiser's ``zero_grad()`` resets them (PyTorch's convention).
    """

    def __init__(self, data):
        if not isinstance(data, np.ndarray):
            raise TypeError(f"data must be a numpy.ndarray, got {type(data).__name__}")
        if data.dtype.kind != "f":
            raise TypeError(f"data must have a floating dtype, got {data.dtype}")
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def zero_grad(self):
        self.grad[...] = 0

    def accumulate(self, grad):
        """Add ``grad`` (any float dtype) into ``.grad``, keeping ``.grad``'s dtype."""
        grad = np.asarray(grad)
        if grad.shape != self.data.shape:
            raise ValueError(f"grad must have the parameter's shape {self.data.shape}, got {grad.shape}")
        self.grad += grad.astype(self.grad.dtype, copy=False)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
