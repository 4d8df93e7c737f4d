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
        # shares the caller's array (as torch.nn.Parameter does), unless the optimiser
        # could not update it in place: a read-only or non-contiguous view is copied
        self.data = data if data.flags.writeable and data.flags.c_contiguous else data.copy()
        self.grad = np.zeros_like(self.data)

    @classmethod
    def placeholder(cls, shape, dtype):
        """A parameter with a shape and a dtype but no values yet: ``data`` and ``grad``
        are read-only zero views that take no memory, whatever the shape (what layers
        hold while ``Sequential.load`` checks a file before it allocates anything)."""
        p = cls.__new__(cls)
        p.data = p.grad = np.broadcast_to(np.zeros((), dtype), tuple(shape))
        return p

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
        if grad.dtype.kind not in "biuf":     # complex would lose its imaginary part, None become NaN
            raise TypeError(f"grad must be a real-valued array, got dtype {grad.dtype}")
        if grad.shape != self.data.shape:
            raise ValueError(f"grad must have the parameter's shape {self.data.shape}, got {grad.shape}")
        with np.errstate(over="ignore"):      # beyond the dtype's range is inf, as IEEE casts give
            self.grad += grad.astype(self.grad.dtype, copy=False)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
