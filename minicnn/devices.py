"""Where arrays live: the CPU (NumPy arrays) or a CUDA GPU (CuPy arrays).

    model.to("cuda")            # parameters, buffers (and, at its next step, the optimiser's state)
    model.fit(x, y, ...)        # x, y stay NumPy arrays: each batch is moved to the model's device
    model.to("cpu")

The layers read as NumPy maths on either device, the way Chainer does it: a function
that makes new arrays or calls a NumPy function starts with one line,

    xp = array_module(x)        # numpy for a NumPy array, cupy for a CuPy array

and writes ``xp.zeros(...)``, ``xp.matmul(...)`` where it would write ``np.``. Array
methods and operators (``x.sum()``, ``a @ b``, ``x * mask``) need nothing: both kinds
of array have them. Why this rather than NumPy's own dispatch (``__array_function__``,
``np.empty(..., like=x)``): every call then names the module that computes it, a
reader sees in one line that the function runs on either device, and nothing depends
on which NumPy functions CuPy happens to intercept (``as_strided`` is not one).

CuPy is optional (``pip install "minicnn[gpu]"``) and imported only by :func:`gpu_module`,
the first time something asks for the GPU; without it, or without a GPU, that call
raises a :class:`DeviceError` that says what to install or that no GPU was found.

What differs between the two modules beyond their names has a named helper here, so that
the maths never asks which device it runs on: :func:`strided_view` (CuPy's ``as_strided``
has no ``writeable``), :func:`is_writeable` (a CuPy array has no such flag) and
:func:`readable_now` (reading a GPU's value waits for the GPU).

What stays on the host: data sets and :class:`minicnn.data.DataLoader` batches (``fit``
moves each batch), ``predict``'s and ``evaluate``'s results, ``state_dict()``, files and
checkpoints, and every figure. See the README's "On a GPU" for what each returns.
"""
import numpy as np

__all__ = ["DeviceError", "array_module", "check_device", "device_of", "gpu_free_bytes", "gpu_module", "is_array",
           "is_writeable", "readable_now", "scalar", "strided_view", "to_device", "to_floats", "to_numpy"]


class DeviceError(RuntimeError):
    """The GPU was asked for and cannot be used: CuPy is missing or no CUDA GPU was found."""


_gpu = None          # the GPU's array module once loaded: cupy (the tests put a stand-in here)

_INSTALL = ('pip install "minicnn[gpu]" (CuPy for CUDA 12; for CUDA 13 pip install cupy-cuda13x '
            'instead: the driver\'s CUDA version is in nvidia-smi\'s header)')


def gpu_module():
    """The array module of the GPU, CuPy, imported on first use; a :class:`DeviceError` when
    CuPy is not installed or finds no CUDA GPU."""
    global _gpu
    if _gpu is None:
        try:
            import cupy
        except ImportError as exc:
            raise DeviceError(f"the device 'cuda' needs CuPy, which is not installed ({exc}): {_INSTALL}") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:        # CUDARuntimeError: no driver, or one too old for this CuPy
            raise DeviceError(f"CuPy is installed but found no usable CUDA GPU ({exc}); check nvidia-smi, "
                              f"or install the CuPy that matches the driver's CUDA: {_INSTALL}") from None
        if count == 0:
            raise DeviceError("CuPy is installed but this machine has no CUDA GPU; use the device 'cpu'")
        _gpu = cupy
    return _gpu


def check_device(device, name="device"):
    """``"cpu"`` or ``"cuda"`` (``"cuda:0"`` is the same GPU), as PyTorch spells them; the GPU
    is loaded (and checked) here, so that a missing CuPy is an error where it is asked for."""
    if not isinstance(device, str):
        raise TypeError(f"{name} must be 'cpu' or 'cuda', got {type(device).__name__} {device!r}")
    if device == "cpu":
        return "cpu"
    if device in ("cuda", "cuda:0"):
        gpu_module()
        return "cuda"
    if device.startswith("cuda:"):
        raise ValueError(f"{name} {device!r}: minicnn uses one GPU, 'cuda' (the current CuPy device); "
                         "choose another with CUDA_VISIBLE_DEVICES")
    raise ValueError(f"{name} must be 'cpu' or 'cuda', got {device!r}")


def array_module(*arrays):
    """``numpy``, or the GPU's module (``cupy``) when any of ``arrays`` lives on the GPU."""
    if _gpu is not None:
        for a in arrays:
            if isinstance(a, _gpu.ndarray):
                return _gpu
    return np


def is_array(x):
    """An array minicnn computes on: a NumPy array, or a CuPy array once the GPU is in use."""
    return isinstance(x, np.ndarray) or (_gpu is not None and isinstance(x, _gpu.ndarray))


def device_of(x):
    """``"cpu"`` or ``"cuda"``: where the array ``x`` lives."""
    return "cuda" if array_module(x) is not np else "cpu"


def strided_view(x, shape, strides, writeable=False):
    """A view of ``x`` (no copy) with ``shape`` and ``strides`` (in bytes): ``as_strided``.
    A NumPy view is read-only unless ``writeable``; a CuPy view has no such flag and is
    always writeable."""
    xp = array_module(x)
    if xp is np:
        return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides, writeable=writeable)
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def is_writeable(x):
    """Whether the array ``x`` may be written: NumPy's flag (False for a read-only view);
    a CuPy array has no such flag and always may."""
    return getattr(x.flags, "writeable", True)


def readable_now(x):
    """Whether reading a value of the array ``x`` (``bool(x.any())``) costs nothing now: True on
    the CPU; False on a GPU, where it waits until the GPU has computed everything queued so
    far. Code that looks at a value only to skip rare work (a NaN to route) does the work
    instead where the value is not readable now."""
    return isinstance(x, np.ndarray)


def to_device(x, device):
    """``x`` on ``device`` (``"cpu"`` or ``"cuda"``): itself when it is there already, else a copy."""
    if check_device(device) == "cpu":
        return to_numpy(x)
    xp = gpu_module()
    return x if isinstance(x, xp.ndarray) else xp.asarray(x)


def to_numpy(x):
    """``x`` as a NumPy array: itself on the CPU, a copy from the GPU (which waits for it)."""
    if isinstance(x, np.ndarray):
        return x
    return x.get() if is_array(x) else np.asarray(x)


def gpu_free_bytes():
    """The GPU's free memory in bytes (what CuPy's ``cudaMemGetInfo`` says), or infinity where
    it cannot be read."""
    try:
        return _gpu.cuda.runtime.memGetInfo()[0]
    except Exception:            # no GPU module, or one without CUDA's runtime (the tests' stand-in)
        return float("inf")


def to_floats(values):
    """Python floats of ``values``, numbers or 0-d arrays: a GPU's fetched in one transfer."""
    values = list(values)
    xp = array_module(*values)
    if xp is np:
        return [float(v) for v in values]
    return to_numpy(xp.stack([xp.asarray(v) for v in values])).astype(float).tolist()


def scalar(x):
    """A 0-d result as the CPU gives it, a Python number, or on the GPU the 0-d device array
    itself: turning that into a number would wait for the GPU, which a training step never
    does (``float(value)`` does it when the number is wanted)."""
    return x.item() if isinstance(x, (np.ndarray, np.generic)) else x
