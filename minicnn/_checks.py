"""Generic value checks: numbers, dtypes, arrays, labels, file names, devices, and the
layers' constructor arguments (paddings, groups, sizes).

Each helper raises a ``ValueError`` or ``TypeError`` whose message names the
argument and says what was expected, so that a user never has to decode a
NumPy broadcasting traceback. The checks that belong to one part of minicnn live
beside it: the layer protocol's (forward, backward, layers as arguments) in
:mod:`minicnn.layers.base`, the losses' in :mod:`minicnn.losses`, the optimisers'
in :mod:`minicnn.optim`. This module imports nothing of minicnn's but
:mod:`minicnn.devices`, so that any module may import it.
"""
import numbers
import os

import numpy as np

from .devices import device_of, is_array, to_numpy

_SCALE_HINT = "scale images with x.astype(np.float32) / 255"


def check_int(value, name, minimum=None):
    """Return ``value`` as a Python int; reject bools, floats and anything below ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_float(value, name, minimum=None, maximum=None, min_open=False, max_open=False):
    """Return ``value`` as a finite Python float within the given (closed or open) bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:            # an int beyond float64, such as 10**400
        raise ValueError(f"{name} must be finite, got an int too large for a float "
                         f"({len(str(abs(int(value))))} digits)") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low_bad = minimum is not None and (value <= minimum if min_open else value < minimum)
    high_bad = maximum is not None and (value >= maximum if max_open else value > maximum)
    if low_bad or high_bad:
        lo = "-inf" if minimum is None else f"{minimum:g}"
        hi = "inf" if maximum is None else f"{maximum:g}"
        interval = ("(" if min_open or minimum is None else "[") + f"{lo}, {hi}" + (")" if max_open or maximum is None else "]")
        raise ValueError(f"{name} must be in {interval}, got {value:g}")
    return value


def check_per_channel(values, name, nonzero=False):
    """One real number per channel: a number, or a non-empty list, tuple or 1-D array of them
    (Normalize's mean and std), as a tuple of finite floats; with ``nonzero`` none may be 0."""
    if isinstance(values, np.ndarray) and values.ndim <= 1:
        values = values.tolist()
    if isinstance(values, (list, tuple)):
        if not values:
            raise ValueError(f"{name} must hold one number per channel, got an empty {type(values).__name__}")
        numbers_ = tuple(check_float(v, f"{name}[{i}]") for i, v in enumerate(values))
    elif isinstance(values, numbers.Real) and not isinstance(values, (bool, np.bool_)):
        numbers_ = (check_float(values, name),)
    else:
        raise TypeError(f"{name} must be a number or a list of numbers (one per channel), "
                        f"got {type(values).__name__} {values!r:.60}")
    if nonzero and 0.0 in numbers_:
        raise ValueError(f"{name} must not hold 0 (it divides), got {list(numbers_)}")
    return numbers_


def check_bool(value, name):
    """Accept only True/False (``bias="no"`` must not silently mean True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def pair(value, name, minimum=1):
    """Turn an int or a 2-sequence of ints into a checked ``(h, w)`` tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        return tuple(check_int(v, name, minimum) for v in value)
    v = check_int(value, name, minimum)
    return (v, v)


def check_dtype(dtype, name="dtype"):
    """Return a floating ``np.dtype``; minicnn parameters are float16/32/64."""
    # np.dtype(None) would silently mean float64, np.dtype(np.float32(2.0)) float32, and
    # np.dtype((None, None)) float64 (a tuple is a structured or sub-array spec: never a float)
    if dtype is None or isinstance(dtype, (np.generic, np.ndarray, tuple, list)):
        raise TypeError(f"{name} must be a NumPy floating dtype such as np.float32, got {dtype!r}")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a NumPy floating dtype, got {dtype!r}") from exc
    if dt.kind != "f":
        raise TypeError(f"{name} must be a floating dtype such as np.float32, got {dt}")
    return dt


def check_array(x, name="x", ndim=None, floating=True):
    """Check that ``x`` is an ndarray (of a floating dtype unless ``floating=False``).

    ``ndim`` is an int or a tuple of allowed ints. Integer images get a hint on
    how to scale them, because that is the usual reason they arrive here.
    """
    if not is_array(x):
        raise TypeError(f"{name} must be a numpy.ndarray (or a CuPy array on a GPU), got {type(x).__name__}")
    if floating and x.dtype.kind != "f":
        hint = f"; {_SCALE_HINT}" if x.dtype.kind in "biu" and name in ("x", "image", "images") else ""
        raise TypeError(f"{name} must have a floating dtype (float16/32/64), got {x.dtype}{hint}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {x.shape}")
    return x


def check_shape(shape, name="input_shape"):
    """Return ``shape`` as a tuple of non-negative ints (a tuple or list of them)."""
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__} {shape!r}")
    return tuple(check_int(s, f"{name}[{i}]", 0) for i, s in enumerate(shape))


#: "Far larger" than the input: a window, a padding or an output size of more than this many
#: times the input's size along its axis. A layer refuses it before allocating anything of
#: that size (PyTorch would try: MaxPool2d(10**6, ceil_mode=True) on 4x4 pads to 10**6 x 10**6).
#: Real networks stay far below: GoogLeNet's 3x3 ceil-mode pool on 2x2, AlexNet's adaptive
#: 6x6 on 1x1, a ResNet's 7x7 convolution on 1x1.
FAR_LARGER = 64


def check_not_far_larger(values, sizes, what, who, inputs=None):
    """Each of ``values`` (a window, padding or output size per axis) at most ``FAR_LARGER``
    times the input's size along the same axis, ``sizes``. ``what`` names the argument and its
    value in the message, ``who`` the layer, ``inputs`` the input (default "the input HxW")."""
    if any(v > FAR_LARGER * max(n, 1) for v, n in zip(values, sizes)):
        inputs = inputs or "the input " + "x".join(map(str, sizes))
        raise ValueError(f"{who}: {what} is far larger than {inputs} (more than {FAR_LARGER} times its size "
                         "along an axis): refused before anything of that size is allocated")


def check_window_not_far_larger(input_hw, kernel_size, pads, dilation, who):
    """A layer's window (its dilation included) and padding, each at most ``FAR_LARGER`` times
    its input ``(H, W)`` along every axis (a 1-D layer's are one row high). Checked where the
    layer takes its input, not inside the maths: the convolution that computes dx may pad the
    output's gradient far beyond its size (a 100x100 kernel on 100x100 has a 1x1 output)."""
    (h, w), (kh, kw), (dh, dw) = input_hw, kernel_size, dilation
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    dilated = f" with dilation {dh}x{dw} (a window {eh}x{ew})" if (dh, dw) != (1, 1) else ""
    check_not_far_larger((eh, ew), (h, w), f"kernel_size {kh}x{kw}{dilated}", who)
    check_not_far_larger((max(pads[0]), max(pads[1])), (h, w), f"padding {max(pads[0])}x{max(pads[1])}", who)


def check_path(path, name="path", text_only=True, folder_must_exist=False, refuse_folder=True):
    """``path`` as ``os.fspath`` gives it: a usable file name, not a folder.

    str and os.PathLike (also bytes unless ``text_only``); not empty, no NUL
    character; with ``folder_must_exist``, the folder it names must exist (a
    file about to be written)."""
    kinds = (str, os.PathLike) if text_only else (str, bytes, os.PathLike)
    if not isinstance(path, kinds):
        raise TypeError(f"{name} must be a file name (str or os.PathLike), got {type(path).__name__} {path!r}")
    path = os.fspath(path)
    if text_only and not isinstance(path, str):
        raise TypeError(f"{name} must be a text file name, got {type(path).__name__} {path!r}")
    if len(path) == 0 or (b"\0" if isinstance(path, bytes) else "\0") in path:
        raise ValueError(f"{name} must be a file name such as 'out.png', got {path!r}")
    if refuse_folder and os.path.isdir(path):
        raise IsADirectoryError(f"{name} {os.fsdecode(path)!r} is a folder, not a file")
    folder = os.path.dirname(os.path.abspath(path))
    if folder_must_exist and not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {name} {os.fsdecode(path)!r}: folder {os.fsdecode(folder)!r} "
                                "does not exist")
    return path


def as_array(values, name, ndim=None, numeric=True):
    """``values`` (an ndarray, a list or a tuple) as an ndarray: rectangular, real-valued
    unless ``numeric=False``, with ``ndim`` dimensions when given. A GPU's array is fetched
    to the host: what takes it (metrics, figures) answers with numbers and host arrays."""
    if is_array(values):
        values = to_numpy(values)
    if not isinstance(values, (np.ndarray, list, tuple)):
        raise TypeError(f"{name} must be a numpy.ndarray or a list, got {type(values).__name__}")
    try:
        arr = np.asarray(values)
    except ValueError as exc:                        # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array, got a ragged list ({exc})") from None
    if numeric and arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension{'s' if ndim > 1 else ''}, got shape {arr.shape}")
    return arr


def check_labels(labels, name, n=None):
    """Class labels: a non-empty 1-D array of integers >= 0 (``n`` of them when given), as int64."""
    y = as_array(labels, name)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels (N,), got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty: there must be at least one label")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n is not None and len(y) != n:
        raise ValueError(f"{name} must hold one label per sample: {n}, got {len(y)}")
    if y.min() < 0:
        raise ValueError(f"{name} must hold labels >= 0, got {y.min()}")
    if y.max() > np.iinfo(np.int64).max:          # uint64: would wrap around to negative int64
        raise ValueError(f"{name} holds label {y.max()}, too large for a class index")
    return y.astype(np.int64, copy=False)


def check_class_names(names, name="class_names", count=None):
    """A flat, non-empty list of names (each made a str), or None; ``count`` of them when given."""
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a list of names, got {type(names).__name__}")
    if isinstance(names, np.ndarray) and names.ndim != 1:
        raise ValueError(f"{name} must be a flat list of names, got shape {names.shape}")
    if len(names) == 0:
        raise ValueError(f"{name} is empty")
    return [str(n) for n in names]


def check_real_array(x, name, ndim, allow_empty=False):
    """An ndarray of bools, integers or floats with ``ndim`` dimensions and (unless
    ``allow_empty``) at least one element."""
    check_array(x, name, floating=False)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (bool, integer or float), got dtype {x.dtype}")
    check_array(x, name, ndim=ndim, floating=False)
    if x.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {x.shape}")
    return x


def check_real_number(value, name):
    """``value`` as a Python float or int (0-d arrays and NumPy scalars unwrapped); may be NaN/inf."""
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        value = value.item()
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return value


def check_choice(value, name, choices):
    """Check that ``value`` is one of ``choices``, listing them when it is not."""
    if not isinstance(value, str) or value not in choices:
        listing = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listing}, got {value!r}")
    return value



def check_on_device(x, name, device, whose):
    """The array ``x`` lives on ``device`` ("cpu" or "cuda"), where ``whose`` (the layer's
    parameters, the model) are: mixing the two is a TypeError that says how to move which."""
    if device_of(x) != device:
        where = {"cpu": "the CPU (a NumPy array)", "cuda": "the GPU (a CuPy array)"}
        raise TypeError(f"{name} is on {where[device_of(x)]} but {whose} are on {where[device]}: "
                        f"move {name} with minicnn.devices.to_device({name}, {device!r}), or the model "
                        f"with model.to({device_of(x)!r}) (fit, evaluate and predict move NumPy batches "
                        "themselves)")



# ---------------------------------------------------------------------------
# The layers' constructor arguments
# ---------------------------------------------------------------------------
def check_conv_padding(padding, dims=2):
    """A convolution's ``padding``: "valid", "same", or an int (or, in 2-D, a pair) >= 0."""
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be an int{', a pair' if dims == 2 else ''}, 'same' or 'valid', "
                             f"got {padding!r}")
        return padding
    return pair(padding, "padding", 0) if dims == 2 else check_int(padding, "padding", 0)


def check_conv_groups(groups, in_channels, out_channels):
    """A convolution's ``groups``: an int >= 1 that divides both channel counts (PyTorch's rule)."""
    groups = check_int(groups, "groups", 1)
    for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
        if channels % groups:
            raise ValueError(f"{name} ({channels}) must be divisible by groups ({groups})")
    return groups


def check_pool_padding(padding, kernel_size):
    """A pooling ``padding``: "same" (TensorFlow's), or a pair of at most ``kernel_size // 2``
    (PyTorch's rule): no window may lie entirely in the padding."""
    if isinstance(padding, str):
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair or 'same', got {padding!r}")
        return padding
    padding = pair(padding, "padding", 0)
    for p, k in zip(padding, kernel_size):
        if p > k // 2:
            raise ValueError(f"padding must be at most kernel_size // 2 = {k // 2}, got {padding}")
    return padding


def check_output_size(value, name="output_size"):
    """An adaptive pool's ``output_size``: an int >= 1, None (keep the input's size), or a
    pair of those, as a ``(oh, ow)`` tuple."""
    def one(v):
        return None if v is None else check_int(v, name, 1)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int, None or a pair (h, w) of them, got {value!r}")
        return tuple(one(v) for v in value)
    return (one(value), one(value))


def check_reshape(input_shape, shape):
    """A sample of ``input_shape`` can be reshaped into ``shape``; returns its size."""
    size = int(np.prod(input_shape))
    known = int(np.prod([s for s in shape if s != -1]))
    if (-1 in shape and size % known) or (-1 not in shape and size != known):
        raise ValueError(f"cannot reshape a sample of input_shape {tuple(input_shape)} ({size} values) "
                         f"into {shape}")
    return size


def check_axis(axis, ndim, name="axis"):
    """``axis`` an int that indexes one of ``ndim`` dimensions (negative ones count from the
    end), returned as an int."""
    axis = check_int(axis, name)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name} {axis} is out of range for an array of {ndim} dimensions")
    return axis


def check_softmax_axis(axis, ndim):
    """Softmax's axis fits an input of ``ndim`` dimensions and is not the batch axis."""
    check_axis(axis, ndim)
    if axis % ndim == 0:
        raise ValueError("Softmax over axis 0 would mix the samples of a batch; use axis >= 1")


def check_batch_statistics(x, channels):
    """BatchNorm in training needs two or more values per channel to have a variance."""
    if x.size <= channels:
        raise ValueError(f"BatchNorm in training needs more than one value per channel, got input "
                         f"shape {x.shape}; use a batch of 2 or more")


def check_reshape_target(shape):
    """Reshape's per-sample ``shape``: positive ints, at most one -1 (an int is a 1-tuple)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not shape:
        raise TypeError(f"shape must be a non-empty tuple of ints, got {shape!r}")
    shape = tuple(check_int(s, "shape", -1) for s in shape)
    if 0 in shape or shape.count(-1) > 1:
        raise ValueError(f"shape entries must be positive, with at most one -1; got {shape}")
    return shape


def fits_dtype(value, dtype):
    """Element-wise: does ``value`` convert to ``dtype`` without becoming inf (1e300 in float32)?
    Non-finite values fit (they stay what they are)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isfinite(value.astype(dtype)) | ~np.isfinite(value)
