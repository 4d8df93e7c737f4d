"""A trainable array and its gradient."""
import numpy as np

from ._checks import check_bool
from .devices import array_module, is_array, is_writeable, to_device


class Parameter:
    """A tensor the optimiser updates.

    ``data``: the values (an ndarray that keeps the dtype it was given).
    ``grad``: same shape and dtype, zeros at start. Backward passes *add* into
    it, so gradients of several backward calls accumulate until the
    optimiser's ``zero_grad()`` resets them (PyTorch's convention).

    ``requires_grad`` (PyTorch's name; True by default): False freezes the
    parameter. Backward passes add nothing into its ``grad`` (the layers skip
    computing it where they can), and the optimisers leave it alone: no update,
    no weight decay, no change to its momentum or Adam moments. ``layer.trainable
    = False`` (Keras's name) sets it for every parameter of a layer.
    """

    def __init__(self, data):
        if not is_array(data):
            raise TypeError(f"data must be a numpy.ndarray (or a CuPy array), got {type(data).__name__}")
        if data.dtype.kind != "f":
            raise TypeError(f"data must have a floating dtype, got {data.dtype}")
        xp = array_module(data)
        # shares the caller's array (as torch.nn.Parameter does), unless the optimiser
        # could not update it in place: a read-only or non-contiguous view is copied
        self.data = data if is_writeable(data) and data.flags.c_contiguous else data.copy()
        self.grad = xp.zeros_like(self.data)
        self._requires_grad = True

    def to(self, device):
        """Move ``data`` and ``grad`` to ``device`` ("cpu" or "cuda", checked by the caller)."""
        self.data, self.grad = to_device(self.data, device), to_device(self.grad, device)
        return self

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self._requires_grad = check_bool(value, "requires_grad")

    @classmethod
    def placeholder(cls, shape, dtype):
        """A parameter with a shape and a dtype but no values yet: ``data`` and ``grad``
        are read-only zero views that take no memory, whatever the shape (what layers
        hold while ``Sequential.load`` checks a file before it allocates anything)."""
        p = cls.__new__(cls)
        p.data = p.grad = np.broadcast_to(np.zeros((), dtype), tuple(shape))
        p._requires_grad = True
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
        """Add ``grad`` (any float dtype) into ``.grad``, keeping ``.grad``'s dtype; nothing
        for a frozen parameter (``requires_grad=False``), whose ``grad`` stays as it is."""
        grad = grad if is_array(grad) else np.asarray(grad)
        if grad.dtype.kind not in "biuf":     # complex would lose its imaginary part, None become NaN
            raise TypeError(f"grad must be a real-valued array, got dtype {grad.dtype}")
        if grad.shape != self.data.shape:
            raise ValueError(f"grad must have the parameter's shape {self.data.shape}, got {grad.shape}")
        if not self._requires_grad:
            return
        with np.errstate(over="ignore"):      # beyond the dtype's range is inf, as IEEE casts give
            self.grad += grad.astype(self.grad.dtype, copy=False)

    def __repr__(self):
        frozen = "" if self._requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{frozen})"
