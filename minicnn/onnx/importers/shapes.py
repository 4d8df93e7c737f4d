"""Importers of the shape ops: Flatten, Reshape, Identity, Unsqueeze, Squeeze on the data
(minicnn's Flatten and Reshape, or nothing), and shape arithmetic on constants, computed
here (Constant, Shape, Gather, Slice, Cast, Pow): what exporters write to compute a
Reshape's shape, such as PyTorch's ``x.view(x.size(0), -1)``.
"""
import math

import numpy as np

from ... import layers as L
from .conv_pool import as_adaptive, drop_keepdims, reshape_kept
from .graph import BATCH, Data, batched, to_array


def flatten(node):
    """Flatten with axis=1 -> Flatten: (N, d1, d2, ...) -> (N, d1*d2*...).

    Another axis would merge the batch axis with others (axis 0: (1, N*...)): refused.
    Right after a GlobalAveragePool it only undoes ONNX's (N, C, 1, 1): no layer.
    """
    x = node.data(0)
    rank = len(x.shape) + 1
    axis = node.attr("axis", 1)
    if not -rank <= axis <= rank:
        raise node.refuse(f"axis={axis} is out of range for a {rank}-D input")
    if (axis + rank if axis < 0 else axis) != 1:
        raise node.refuse(f"axis={axis}: the result's first axis would not be the batch axis; minicnn's "
                          "Flatten keeps it (axis=1)")
    if not x.shape:
        raise node.refuse("input (N,) has nothing to flatten")
    if x.after_global_pool:                     # GlobalAveragePool + Flatten = GlobalAvgPool2D
        return drop_keepdims(x)
    return node.apply(x, L.Flatten())


def reshape(node):
    """Reshape that keeps the batch axis -> Reshape(per-sample shape).

    ONNX's shape is the whole shape, batch included: its first entry must be the
    batch size, as ``0`` (copy the input's), the symbol N (from ``Shape``), ``-1``
    when the rest holds exactly one sample, or the graph input's fixed batch size.
    A 0 elsewhere copies the input's dimension (``allowzero=0``). Right after a
    GlobalAveragePool, a Reshape to (N, C) only undoes ONNX's (N, C, 1, 1): no layer.
    """
    x = node.data(0)
    target = node.const(1)
    allowzero = node.attr("allowzero", 0)
    entries = target.tolist() if target.ndim == 1 and target.dtype.kind in "iuO" else None
    if not entries or not all(t is BATCH or type(t) is int for t in entries):
        raise node.refuse(f"shape {target!r} is not a list of ints")
    in_dims = (BATCH, *x.shape)
    out = []
    for i, t in enumerate(entries):
        if t is BATCH or t > 0 or t == -1:
            out.append(t)
        elif t == 0 and not allowzero and i < len(in_dims):
            out.append(in_dims[i])                  # 0: copy the input's dimension
        else:
            raise node.refuse(f"shape entry {t} at {i} of {entries} is not supported")
    if out.count(-1) > 1 or any(t is BATCH for t in out[1:]):
        raise node.refuse(f"shape {out}: at most one -1, and the batch size only first")
    size, rest = math.prod(x.shape), out[1:]
    keeps_batch = (out[0] is BATCH or (out[0] == -1 and math.prod(rest) == size)
                   or (out[0] != -1 and out[0] == node.context.batch))
    if not keeps_batch:
        raise node.refuse(f"shape {out} of input {batched(x.shape)} does not keep the batch axis first; "
                          "minicnn's Reshape reshapes each sample")
    if not rest:
        raise node.refuse("reshapes each sample into a scalar")
    if x.after_global_pool and rest in ([x.shape[0]], [-1]):    # (N, C, 1, 1) -> (N, C): GlobalAvgPool2D's own
        return drop_keepdims(x)
    if -1 not in rest:
        kept = reshape_kept(node, x, rest)
        if kept is not None:
            return kept
    reshaped = node.apply(x, node.make(L.Reshape, shape=tuple(int(d) for d in rest)))
    if len(x.layers) >= 2 and id(x.layers[-2]) in node.context.input_shapes:
        # maybe the end of minicnn's AdaptiveAvgPool2D as Reshape-MatMul-Reshape: x before the first Reshape
        before = Data(x.layers[:-2], node.context.input_shapes[id(x.layers[-2])], x.dtype)
        return as_adaptive(node, before, reshaped)
    return reshaped


def identity(node):
    """Identity: the same value (no layer); or minicnn's AdaptiveAvgPool2D whose output size is
    its input's, as its metadata says (see :func:`as_adaptive`)."""
    value = node.value(0)
    return as_adaptive(node, value, value) if isinstance(value, Data) else value


# ---------------------------------------------------------------------------
# Constants and shape arithmetic (what exporters write to compute a Reshape's shape)
# ---------------------------------------------------------------------------
def _shape_array(values):
    """A 1-D shape array: int64, or object when it holds the symbol BATCH."""
    values = list(values)
    if any(v is BATCH for v in values):
        return np.array(values, dtype=object)
    return np.array(values, dtype=np.int64)


def constant(node):
    """Constant: the tensor in ``value`` (or ``value_float(s)``/``value_int(s)``)."""
    for name in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        value = node.attr(name)
        if value is None:
            continue
        if name == "value":
            return to_array(node.context, value, f"node {node.label}")
        return np.asarray(value, dtype=np.float32 if "float" in name else np.int64)
    raise node.refuse("no value minicnn can read (sparse and string constants are not supported)")


def shape(node):
    """Shape: the input's shape, [N, *shape] for data (N the symbol BATCH); ``start``/``end`` slice it."""
    value = node.value(0)
    dims = (BATCH, *value.shape) if isinstance(value, Data) else value.shape
    start, end = node.attr("start", 0), node.attr("end", None)
    return _shape_array(dims[start:end])


def gather(node):
    """Gather on constants: ``np.take(data, indices, axis)``."""
    data, indices = node.const(0), node.const(1)
    if indices.dtype.kind not in "iu":
        raise node.refuse(f"indices have dtype {indices.dtype}")
    return node.fold(np.take, data, indices, node.attr("axis", 0))


def unsqueeze(node):
    """Unsqueeze (axes: an attribute before opset 13, an input since): on constants computed
    here; on data that keeps the batch axis first, a Reshape (SqueezeExcitation's gate
    (N, C) -> (N, C, 1, 1), as minicnn writes it)."""
    value = node.value(0)
    axes = node.attr("axes") if node.opset < 13 else node.const(1).tolist()
    axes = tuple(np.atleast_1d(axes).tolist())
    if not isinstance(value, Data):
        return node.fold(np.expand_dims, value, axes)
    rank = len(value.shape) + 1 + len(axes)
    if not all(type(a) is int and -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
        raise node.refuse(f"axes={list(axes)} for a {rank}-D output")
    if 0 in {a % rank for a in axes}:
        raise node.refuse("a new axis 0 would move the batch axis; minicnn's Reshape keeps it first")
    shape = np.expand_dims(np.empty((1, *value.shape), dtype=np.int8), axes).shape[1:]
    kept = reshape_kept(node, value, shape)
    return kept if kept is not None else node.apply(value, node.make(L.Reshape, shape=shape))


def squeeze(node):
    """Squeeze (axes: an attribute before opset 13, an optional input since): on constants
    computed here; on data, the named axes of size 1 dropped, as a Reshape, or nothing after a
    global pool that kept them (PyTorch's dynamo exporter writes ``AdaptiveAvgPool1d(1)`` and
    a flatten as ReduceMean(keepdims=1) + Squeeze: one GlobalAvgPool1D). Without axes every
    axis of size 1 would go, the batch axis too when N is 1: refused for data."""
    value = node.value(0)
    if node.opset < 13:
        axes = node.attr("axes")
    else:
        axes = node.const(1).tolist() if node.has_input(1) else None
    axes = None if axes is None else tuple(np.atleast_1d(axes).tolist())
    if not isinstance(value, Data):
        return node.fold(np.squeeze, value, axes)
    rank = len(value.shape) + 1
    if not axes:
        raise node.refuse("no axes: it would drop every axis of size 1, the batch axis too when N is 1")
    if not all(type(a) is int and -rank <= a < rank for a in axes):
        raise node.refuse(f"axes={list(axes)} for a {rank}-D input")
    dropped = {a % rank for a in axes}
    if 0 in dropped or any(value.shape[a - 1] != 1 for a in dropped):
        raise node.refuse(f"axes={list(axes)} of {batched(value.shape)}: only axes of size 1 other than the "
                          "batch axis can be squeezed")
    shape = tuple(d for i, d in enumerate(value.shape, 1) if i not in dropped)
    kept = reshape_kept(node, value, shape)
    if kept is not None:
        return kept
    if not shape:
        raise node.refuse("it squeezes each sample into a scalar")
    return node.apply(value, node.make(L.Reshape, shape=shape))


def slice_(node):
    """Slice of a constant: starts, ends, axes, steps (inputs since opset 10, attributes before)."""
    data = node.const(0)
    if node.opset >= 10:
        starts, ends = (np.atleast_1d(node.const(i)).tolist() for i in (1, 2))
        axes = np.atleast_1d(node.const(3)).tolist() if node.has_input(3) else list(range(len(starts)))
        steps = np.atleast_1d(node.const(4)).tolist() if node.has_input(4) else [1] * len(starts)
    else:
        starts, ends = node.attr("starts", []), node.attr("ends", [])
        axes = node.attr("axes", list(range(len(starts))))
        steps = [1] * len(starts)

    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise node.refuse("starts, ends, axes and steps differ in length")

    def take(array):
        index = [slice(None)] * array.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps):
            index[axis] = slice(start, end, step)   # Python clamps out-of-range ends as ONNX does
        return array[tuple(index)]
    return node.fold(take, data)


def cast(node):
    """Cast of a constant to the type ``to`` (a shape holding N stays one)."""
    value = node.value(0)
    to = node.attr("to")
    try:
        dtype = np.dtype(node.context.onnx.helper.tensor_dtype_to_np_dtype(to))
    except (KeyError, TypeError, ValueError) as exc:
        raise node.refuse(f"to={to} is not a type minicnn reads") from exc
    if isinstance(value, Data):
        if dtype != value.dtype:
            raise node.refuse(f"casts the data from {value.dtype} to {dtype}")
        return value
    if value.dtype == object and dtype.kind in "iu":
        return value
    return node.fold(value.astype, dtype)


def pow_(node):
    """Pow of constants. Of the data only as a step of minicnn's LocalResponseNorm (see
    :func:`~.activations.continue_lrn`): any other power has no minicnn layer."""
    base, exponent = node.value(0), node.value(1)
    if isinstance(base, Data) or isinstance(exponent, Data):
        raise node.refuse("raises the data to a power: minicnn has no layer for that")
    return node.fold(np.power, base, exponent)
