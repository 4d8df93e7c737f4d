"""Argument checks shared by every public function.

Each helper raises a ``ValueError`` or ``TypeError`` whose message names the
argument and says what was expected, so that a user never has to decode a
NumPy broadcasting traceback.
"""
import numbers
from collections.abc import Mapping

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


def check_path(path, name="path", text_only=True, folder_must_exist=False, refuse_folder=True):
    """``path`` as ``os.fspath`` gives it: a usable file name, not a folder.

    str and os.PathLike (also bytes unless ``text_only``); not empty, no NUL
    character; with ``folder_must_exist``, the folder it names must exist (a
    file about to be written)."""
    import os
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



# ---------------------------------------------------------------------------
# Per-call checks of the layers (run by the Layer base class around forward/backward)
# ---------------------------------------------------------------------------
def check_layers(layers, name="layers"):
    """A list or tuple of minicnn layers (a Chain's), as a list."""
    from .layers.base import Layer
    if isinstance(layers, Layer) or not isinstance(layers, (list, tuple)):
        raise TypeError(f"{name} must be a list of minicnn layers, got {type(layers).__name__}")
    return [check_layer(layer, f"{name}[{i}]") for i, layer in enumerate(layers)]


def check_layer(layer, name="layer"):
    """One minicnn layer."""
    from .layers.base import Layer
    if not isinstance(layer, Layer):
        raise TypeError(f"{name} must be a minicnn Layer, got {type(layer).__name__} {layer!r:.80}")
    return layer


def check_distinct_layers(branches):
    """No layer in two branches (Chains): a layer keeps one cache, so it can run in one place."""
    seen = {}
    for k, branch in enumerate(branches):
        for layer in branch.layers:
            if seen.setdefault(id(layer), k) != k:
                raise ValueError(f"branches[{seen[id(layer)]}] and branches[{k}] hold the same layer "
                                 f"{layer!r:.60}; give each branch its own layers")


def check_forward_input(layer, x):
    """``x`` fits ``layer``: a float ndarray with the dimensions the layer declares,
    whose per-sample shape ``layer.output_shape`` accepts (channels, window size)."""
    check_array(x, "x", ndim=layer.input_ndim)
    check_on_device(x, "x", layer.device, f"{type(layer).__name__}'s parameters")
    if x.ndim < layer.min_ndim:
        raise ValueError(f"x must have at least {layer.min_ndim} dimensions (N, ...), got shape {x.shape}")
    layer.output_shape(x.shape[1:])


def check_on_device(x, name, device, whose):
    """The array ``x`` lives on ``device`` ("cpu" or "cuda"), where ``whose`` (the layer's
    parameters, the model) are: mixing the two is a TypeError that says how to move which."""
    if device_of(x) != device:
        where = {"cpu": "the CPU (a NumPy array)", "cuda": "the GPU (a CuPy array)"}
        raise TypeError(f"{name} is on {where[device_of(x)]} but {whose} are on {where[device]}: "
                        f"move {name} with minicnn.devices.to_device({name}, {device!r}), or the model "
                        f"with model.to({device_of(x)!r}) (fit, evaluate and predict move NumPy batches "
                        "themselves)")


def check_grad(grad_out, expected_shape, device="cpu"):
    """``grad_out`` is a float array of the shape the forward pass produced, on ``device``."""
    check_array(grad_out, "grad_out")
    check_on_device(grad_out, "grad_out", device, "the layer's parameters")
    if grad_out.shape != tuple(expected_shape):
        raise ValueError(f"grad_out must have the forward output's shape {tuple(expected_shape)}, "
                         f"got {grad_out.shape}")
    return grad_out


_LAYOUTS = {4: "(C, H, W)", 3: "(C, L)"}      # per-sample layouts, for error messages


def check_input_shape(layer, input_shape):
    """A per-sample shape the layer's declaration accepts (``input_ndim``/``min_ndim`` and
    ``channel_check``, see :class:`minicnn.layers.Layer`), as a tuple."""
    shape = check_shape(input_shape, "input_shape")
    ndim = len(shape) + 1                                      # with the batch axis
    if (layer.input_ndim is not None and ndim != layer.input_ndim) or ndim < layer.min_ndim:
        want = _LAYOUTS.get(layer.input_ndim, f"{(layer.input_ndim or 0) - 1} dimensions") \
            if layer.input_ndim is not None else f"at least {layer.min_ndim - 1} dimensions"
        raise ValueError(f"{type(layer).__name__} takes per-sample input {want}, got input_shape {shape}")
    if layer.channel_check is not None:
        axis, attribute, word = layer.channel_check
        got, expected = shape[axis - 1 if axis > 0 else axis], getattr(layer, attribute)
        if got != expected:
            raise ValueError(f"x has {got} {word} but the layer expects {expected} (input shape {shape})")
    return shape


def check_backward_ready(layer):
    """A training forward ran since the layer's last backward: one backward per forward."""
    if getattr(layer, "_ready", False):
        return
    name = type(layer).__name__
    if getattr(layer, "_used", False):
        raise RuntimeError(
            f"{name}.backward() was already called once after the last forward(x, training=True): "
            "one backward per forward, as in PyTorch (it frees the cache it used); run forward again")
    raise RuntimeError(f"{name}.backward() needs a preceding forward(x, training=True); "
                       "forward in eval mode (training=False) keeps nothing to differentiate")


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


def check_softmax_axis(axis, ndim):
    """Softmax's axis fits an input of ``ndim`` dimensions and is not the batch axis."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for input with {ndim} dimensions")
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


# ---------------------------------------------------------------------------
# Losses: what forward(pred, target) takes
# ---------------------------------------------------------------------------
def check_logits_and_target(logits, target):
    """CrossEntropy's arguments: finite logits (N, C), N and C >= 1, and integer labels (N,)
    in [0, C) or non-negative finite probabilities (N, C)."""
    check_array(logits, "logits", ndim=2)
    n, c = logits.shape
    if n == 0 or c == 0:
        raise ValueError(f"logits must hold at least one sample and one class, got shape {logits.shape}")
    # the values are checked on the CPU only: on a GPU each check would wait for it (fit
    # checks the labels of each batch on the host instead, see check_target_values)
    on_host = device_of(logits) == "cpu"
    if on_host and not np.all(np.isfinite(logits)):
        raise ValueError("logits contain NaN or inf (a diverging model? try a smaller lr)")
    if not is_array(target):
        raise TypeError(f"target must be a numpy.ndarray, got {type(target).__name__}")
    check_on_device(target, "target", device_of(logits), "the logits")
    check_target_values(target, logits.shape, on_host)
    return logits, target


def check_target_values(target, logits_shape, values=True):
    """CrossEntropy's ``target`` for logits of ``logits_shape`` (N, C): labels (N,) in [0, C)
    or non-negative finite probabilities (N, C); the values only with ``values`` (``fit``
    calls this on the host batch of a model on the GPU, before moving it)."""
    n, c = logits_shape
    if target.ndim == 1:
        if target.dtype.kind not in "iu":
            raise TypeError(f"target labels of shape (N,) must be integers, got dtype {target.dtype}")
        if target.shape[0] != n:
            raise ValueError(f"target has {target.shape[0]} labels but logits has {n} rows")
        if values and (target.min() < 0 or target.max() >= c):
            raise ValueError(f"target labels must be in [0, {c}) for {c} classes, "
                             f"got values in [{target.min()}, {target.max()}]")
    elif target.ndim == 2:
        if target.dtype.kind != "f":
            raise TypeError(f"target of shape {target.shape} has dtype {target.dtype}: integer class labels "
                            f"must have shape (N,) (try target.ravel()), and probabilities (N, C) must be floats")
        if target.shape != (n, c):
            raise ValueError(f"target probabilities must have the logits' shape {(n, c)}, got {target.shape}")
        if values and (not np.all(np.isfinite(target)) or np.any(target < 0)):
            raise ValueError("target probabilities must be finite and non-negative")
    else:
        raise ValueError(f"target must be labels (N,) or probabilities (N, C), got shape {target.shape}")


def check_pred_and_target(pred, target):
    """MSE's arguments: a non-empty float ``pred`` and a numeric ``target`` of its shape."""
    check_array(pred, "pred")
    if not is_array(target):
        raise TypeError(f"target must be a numpy.ndarray, got {type(target).__name__}")
    check_on_device(target, "target", device_of(pred), "the predictions")
    if target.dtype.kind not in "biuf":
        raise TypeError(f"target must be numeric, got dtype {target.dtype}")
    if target.shape != pred.shape:
        raise ValueError(f"target must have pred's shape {pred.shape}, got {target.shape}")
    if pred.size == 0:
        raise ValueError("pred must not be empty")
    return pred, target


# ---------------------------------------------------------------------------
# Optimisers
# ---------------------------------------------------------------------------
def check_params(params):
    """A non-empty list of distinct minicnn Parameters (one Parameter is taken as a list)."""
    from .parameter import Parameter
    if isinstance(params, Parameter):
        params = [params]
    else:
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params must be an iterable of minicnn Parameters (pass model.parameters()), "
                            f"got {type(params).__name__}") from None
    if not params:
        raise ValueError("params is empty: the optimiser needs at least one Parameter "
                         "(pass model.parameters())")
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"params[{i}] must be a minicnn Parameter, got {type(p).__name__} "
                            "(pass model.parameters())")
        if any(p is q for q in params[:i]):
            raise ValueError(f"params[{i}] appears twice in params: it would be updated twice per step")
    return params


def check_param_groups(params, hyper_names):
    """An optimiser's ``params``: an iterable of Parameters (one group) or a non-empty list
    of parameter groups, PyTorch's form, dicts with ``"params"`` and any of ``hyper_names``.
    Returns ``[(list of Parameters, {hyper-parameter: value}), ...]``, one pair per group;
    a parameter may be in one group only. The values are the optimiser's to check."""
    from .parameter import Parameter
    if isinstance(params, Mapping):
        raise TypeError("params must be a list of parameter groups such as [{'params': ...}], "
                        "or an iterable of Parameters; got a dict: put it in a list")
    if not isinstance(params, Parameter):
        try:
            params = list(params)               # a generator is read once
        except TypeError:
            pass                                # check_params says what params must be
    if isinstance(params, Parameter) or not isinstance(params, list) or \
            not any(isinstance(g, Mapping) for g in params):
        return [(check_params(params), {})]
    groups, seen = [], {}
    for g, group in enumerate(params):
        if not isinstance(group, Mapping):
            raise TypeError(f"params[{g}] must be a parameter group, a dict such as {{'params': ...}}, like "
                            f"the other entries of params, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"params[{g}] has no 'params' entry: a parameter group is a dict such as "
                             "{'params': layer.parameters(), 'lr': 1e-3}")
        unknown = sorted((str(k) for k in group if k != "params" and k not in hyper_names))
        if unknown:
            raise ValueError(f"params[{g}] has unknown keys {unknown}: a parameter group takes 'params' "
                             f"and {list(hyper_names)}")
        try:
            group_params = check_params(group["params"])
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"params[{g}]['params']: {exc}") from None
        for i, p in enumerate(group_params):
            if id(p) in seen:
                raise ValueError(f"params[{g}]['params'][{i}] is also in params[{seen[id(p)]}]: a parameter "
                                 "may be in one parameter group only")
            seen[id(p)] = g
        groups.append((group_params, {k: v for k, v in group.items() if k != "params"}))
    return groups


def check_betas(betas, name="betas"):
    """Adam's (beta1, beta2), each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name} must be a pair (beta1, beta2), got {betas!r}")
    return tuple(check_float(b, f"{name}[{i}]", minimum=0.0, maximum=1.0, max_open=True)
                 for i, b in enumerate(betas))


def check_state_shape(state, p, i, buffer):
    if state.shape != p.data.shape:
        raise ValueError(f"params[{i}] has shape {p.data.shape} now, but its optimiser state "
                         f"{buffer} has {state.shape}: make a new optimiser")


def fits_dtype(value, dtype):
    """Element-wise: does ``value`` convert to ``dtype`` without becoming inf (1e300 in float32)?
    Non-finite values fit (they stay what they are)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isfinite(value.astype(dtype)) | ~np.isfinite(value)


def check_optimizer_state(optimizer, state):
    """What ``optimizer.load_state_dict(state)`` may take: ``(hypers, step_count, buffers)``,
    ``hypers`` a dict per parameter group, all checked (the hyper-parameters by the
    optimiser's own checks). A state of several groups must group the parameters as
    the optimiser does."""
    from collections.abc import Mapping
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict such as optimizer.state_dict(), got {type(state).__name__}")
    expected = optimizer.state_dict()             # (which also matches the state to the params' dtype)
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    if missing or unexpected:
        raise ValueError(f"optimiser state does not match: missing keys {sorted(missing, key=str)}, "
                         f"unexpected keys {sorted(unexpected, key=str)}")
    if "param_groups" in expected:
        groups = state["param_groups"]
        want = expected["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != len(want):
            raise ValueError(f"optimiser state param_groups must be a list of {len(want)} groups, "
                             f"got {groups!r:.80}")
        hypers = []
        for g, (group, ours) in enumerate(zip(groups, want)):
            if not isinstance(group, Mapping) or set(group) != set(ours):
                raise ValueError(f"optimiser state param_groups[{g}] must be a dict with keys "
                                 f"{sorted(ours)}, got {group!r:.80}")
            indices = group["params"]
            if isinstance(indices, np.ndarray):
                indices = indices.tolist()
            if not isinstance(indices, (list, tuple)) or list(indices) != ours["params"]:
                raise ValueError(f"optimiser state param_groups[{g}]['params'] is {indices!r:.80}, but this "
                                 f"optimiser's group {g} holds parameters {ours['params']}: it groups them otherwise")
            hypers.append(_checked_hyper(optimizer, group, f"param_groups[{g}]"))
    else:
        hypers = [_checked_hyper(optimizer, state, "")]
    step_count = state["step_count"]
    if isinstance(step_count, np.ndarray) and step_count.ndim == 0:
        step_count = step_count.item()
    step_count = check_int(step_count, "step_count", 0)
    buffers = {}
    for buf in optimizer._buffers:
        for i, arr in enumerate(getattr(optimizer, buf)):
            key = f"{buf}.{i}"
            value = state[key]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                raise TypeError(f"optimiser state {key} must be a numeric array, got {type(value).__name__}")
            if value.shape != arr.shape:
                raise ValueError(f"optimiser state {key} has shape {value.shape}, expected {arr.shape}")
            if not np.all(fits_dtype(value, arr.dtype) & np.isfinite(value)) or (buf == "v" and np.any(value < 0)):
                raise ValueError(f"optimiser state {key} holds NaN, inf, values beyond the range of "
                                 f"{arr.dtype} or (for v) negative values")
            buffers[key] = value
    return hypers, step_count, buffers


def _checked_hyper(optimizer, source, prefix):
    """The hyper-parameters of ``source`` (a state dict or one of its groups), checked by
    the optimiser's constructor checks; a value from an .npz file may be a 0-d or 1-d array."""
    hyper = {}
    for name in optimizer._hyper:
        value = source[name]
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            value = tuple(value.tolist()) if value.ndim else value.item()
        hyper[name] = value
    return optimizer._check_hyper(hyper, lambda name: f"{prefix}[{name!r}]" if prefix else name)
