"""Importers of the shape ops: Flatten, Reshape, Identity, Unsqueeze, Squeeze, Transpose on the
data (minicnn's Flatten, Reshape and ChannelShuffle, or nothing), and shape arithmetic on
constants, computed here (Constant, ConstantOfShape, Shape, Gather, Slice, Cast, Pow, Equal,
Where, Transpose): what exporters write to compute a Reshape's shape, such as PyTorch's
``x.view(x.size(0), -1)``, or a Pad's pads.
"""
import math

import numpy as np

from ... import layers as L
from .conv_pool import as_adaptive, drop_keepdims, reshape_kept
from .decompositions import start_spatial_map
from .graph import BATCH, Data, batched, to_array
from .layout import reshape_entries, reshaped, squeezed, unsqueeze_axes, unsqueezed


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
    """Reshape of constants, computed here (the legacy exporter computes a Pad's pads so); of the
    data, keeping the batch axis -> Reshape(per-sample shape) (see :func:`~.layout.reshape_entries`
    for how ONNX's shape is read; one entry may stay -1).

    Right after a GlobalAveragePool, a Reshape to (N, C) only undoes ONNX's (N, C, 1, 1): no layer.
    A Reshape back to the shape before the Reshape that made its input drops both (the end of
    ShuffleNet's channel shuffle, see :func:`transpose`).
    """
    x = node.value(0)
    if not isinstance(x, Data):
        target = node.const(1, what="the shape of a Reshape")
        if target.ndim != 1 or target.dtype.kind not in "iu" or node.attr("allowzero", 0):
            raise node.refuse(f"shape {target!r}: expected a 1-D list of ints")
        dims = [x.shape[i] if d == 0 and i < x.ndim else d for i, d in enumerate(target.tolist())]
        return node.fold(np.reshape, x, dims)
    rest = list(reshape_entries(node, x.shape))
    if x.after_global_pool and rest in ([x.shape[0]], [-1]):    # (N, C, 1, 1) -> (N, C): GlobalAvgPool2D's own
        return drop_keepdims(x)
    if -1 not in rest:
        kept = reshape_kept(node, x, rest)
        if kept is not None:
            return kept
    last = x.layers[-1] if x.layers else None
    if type(last) is L.Reshape and node.context.input_shapes.get(id(last)) == reshaped(node, x.shape):
        return Data(x.layers[:-1], node.context.input_shapes[id(last)], x.dtype)
    reshaped_x = node.apply(x, node.make(L.Reshape, shape=tuple(int(d) for d in rest)))
    if len(x.layers) >= 2 and id(x.layers[-2]) in node.context.input_shapes:
        # maybe the end of minicnn's AdaptiveAvgPool2D as Reshape-MatMul-Reshape: x before the first Reshape
        before = Data(x.layers[:-2], node.context.input_shapes[id(x.layers[-2])], x.dtype)
        return as_adaptive(node, before, reshaped_x)
    return reshaped_x


def transpose(node):
    """Transpose: of constants, computed here; of the data, ShuffleNet's channel shuffle or the
    first step of a map of each channel's pixels.

    - x (N, C, *rest) reshaped to (N, g, C/g, *rest) (the Reshape before this node), its axes 1
      and 2 swapped: ``ChannelShuffle(g)``, then a Reshape to (N, C/g, g, *rest), which the
      Reshape back to (N, C, *rest) that follows cancels (PyTorch's ``channel_shuffle``, as
      torchvision's ShuffleNetV2 writes it: view, transpose, view);
    - x (N, C, H, W) or (N, C, L) with its axes moved: the start of a
      :class:`~.decompositions.SpatialMap` (PyTorch's dynamo exporter moves the pixels first to
      gather the bins of an adaptive average pooling).
    """
    value = node.value(0)
    perm = node.attr("perm")
    if not isinstance(value, Data):
        return node.fold(np.transpose, value, perm)
    rank = len(value.shape) + 1
    perm = list(range(rank))[::-1] if perm is None else perm
    if not isinstance(perm, list) or sorted(perm) != list(range(rank)):
        raise node.refuse(f"perm={perm!r} is not a permutation of the {rank} axes of {batched(value.shape)}")
    shuffled = _channel_shuffle(node, value, perm)
    if shuffled is not None:
        return shuffled
    started = start_spatial_map(node, value)
    if started is None:
        raise node.refuse(f"transposes the data {batched(value.shape)} by perm={perm}: minicnn reads a Transpose of "
                          "the data only as ShuffleNet's channel shuffle (Reshape to (N, g, C/g, ...), axes 1 and 2 "
                          "swapped, Reshape back) or as a step of adaptive average pooling of (N, C, H, W)")
    return started.advance(node, mine=[0])


def _channel_shuffle(node, value, perm):
    """ChannelShuffle(g) and the Reshape to (N, C/g, g, *rest) that the Transpose of x reshaped to
    (N, g, C/g, *rest) by perm [0, 2, 1, 3, ...] gives; None when it is not that."""
    last = value.layers[-1] if value.layers else None
    before = node.context.input_shapes.get(id(last)) if type(last) is L.Reshape else None
    if before is None or perm != [0, 2, 1, *range(3, len(value.shape) + 1)] or len(value.shape) < 2:
        return None
    g, k, *rest = value.shape
    if tuple(before) != (g * k, *rest):
        return None
    x = Data(value.layers[:-1], tuple(before), value.dtype)
    return node.apply(node.apply(x, node.make(L.ChannelShuffle, groups=g)), L.Reshape((k, g, *rest)))


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
    """Gather on constants: ``np.take(data, indices, axis)``; of the data along a pixel axis, the
    start of a :class:`~.decompositions.SpatialMap` (a step of adaptive average pooling)."""
    value = node.value(0)
    if isinstance(value, Data):
        axis = node.attr("axis", 0)
        started = start_spatial_map(node, value) if type(axis) is int and axis % (len(value.shape) + 1) >= 2 else None
        if started is None:
            raise node.refuse(f"gathers from the data {batched(value.shape)} along axis {axis!r}: minicnn reads a "
                              "Gather of the data only along H or W of (N, C, H, W), as a step of adaptive average "
                              "pooling, and a Gather of constants as shape arithmetic")
        return started.advance(node, mine=[0])
    indices = node.const(1, what="Gather's indices")
    if indices.dtype.kind not in "iu":
        raise node.refuse(f"indices have dtype {indices.dtype}")
    return node.fold(np.take, value, indices, node.attr("axis", 0))


def gather_nd(node):
    """GatherND of constants (batch_dims 0). (Of the data it is a step of adaptive average
    pooling, after a Transpose: :class:`~.decompositions.SpatialMap`.)"""
    value = node.value(0)
    if isinstance(value, Data):
        raise node.refuse(f"gathers from the data {batched(value.shape)}: minicnn reads a GatherND of the data only "
                          "after a Transpose of it, as a step of adaptive average pooling")
    index = node.const(1, what="GatherND's indices")
    if node.attr("batch_dims", 0) != 0 or index.dtype.kind not in "iu" or index.ndim < 1 or index.shape[-1] > value.ndim:
        raise node.refuse("expected batch_dims 0 and int indices (..., k), k at most the data's axes")
    return node.fold(lambda: value[tuple(index[..., j] for j in range(index.shape[-1]))])


def reduce_sum(node):
    """ReduceSum of constants. (Of the data it is a step of adaptive average pooling:
    :class:`~.decompositions.SpatialMap`.)"""
    value = node.value(0)
    if isinstance(value, Data):
        raise node.refuse(f"sums the data {batched(value.shape)}: minicnn has no layer for that; it reads a ReduceSum "
                          "of the data only as a step of adaptive average pooling, and a mean over H and W "
                          "(ReduceMean) as global average pooling")
    axes = node.attr("axes") if node.opset < 13 else (
        node.const(1, what="the axes of a ReduceSum").tolist() if node.has_input(1) else None)
    keepdims = bool(node.attr("keepdims", 1))
    if node.attr("noop_with_empty_axes", 0) and not axes:
        return value
    return node.fold(np.sum, value, None if not axes else tuple(np.atleast_1d(axes).tolist()), None, None, keepdims)


def constant_of_shape(node):
    """ConstantOfShape: a constant of the shape its input gives, filled with ``value`` (0.0 float32
    by default). (The legacy exporter computes a Pad's pads so.)"""
    dims = node.const(0, what="ConstantOfShape's shape")
    value = node.attr("value")
    fill = np.zeros(1, np.float32) if value is None else to_array(node.context, value, f"node {node.label}")
    if dims.dtype.kind not in "iu" or dims.ndim != 1 or np.any(dims < 0) or math.prod(dims.tolist()) > 2 ** 20:
        raise node.refuse(f"shape {dims!r}: expected a 1-D list of ints >= 0, at most {2 ** 20} values")
    if fill.size != 1:
        raise node.refuse(f"value has {fill.size} numbers; expected one")
    return np.full(dims.tolist(), fill.reshape(()), dtype=fill.dtype)


def equal(node):
    """Equal of constants (the legacy exporter asks whether an axis has size 1 so, before an If)."""
    return node.fold(np.equal, node.const(0, what="an Equal's input"), node.const(1, what="an Equal's input"))


def where(node):
    """Where of constants: ``np.where(condition, a, b)``."""
    condition = node.const(0, what="Where's condition")
    if condition.dtype != bool:
        raise node.refuse(f"the condition has dtype {condition.dtype}; expected bool")
    return node.fold(np.where, condition, node.const(1, what="a Where's value"), node.const(2, what="a Where's value"))


def unsqueeze(node):
    """Unsqueeze (axes: an attribute before opset 13, an input since): on constants computed
    here; on data that keeps the batch axis first, a Reshape (SqueezeExcitation's gate
    (N, C) -> (N, C, 1, 1), as minicnn writes it)."""
    value = node.value(0)
    if not isinstance(value, Data):
        return node.fold(np.expand_dims, value, unsqueeze_axes(node))
    shape = unsqueezed(node, value.shape)
    kept = reshape_kept(node, value, shape)
    return kept if kept is not None else node.apply(value, node.make(L.Reshape, shape=shape))


def squeeze(node):
    """Squeeze (axes: an attribute before opset 13, an optional input since): on constants
    computed here; on data, the named axes of size 1 dropped, as a Reshape, or nothing after a
    global pool that kept them (PyTorch's dynamo exporter writes ``AdaptiveAvgPool1d(1)`` and
    a flatten as ReduceMean(keepdims=1) + Squeeze: one GlobalAvgPool1D). Without axes every
    axis of size 1 would go, the batch axis too when N is 1: refused for data."""
    value = node.value(0)
    if not isinstance(value, Data):
        if node.opset < 13:
            axes = node.attr("axes")
        else:
            axes = node.const(1).tolist() if node.has_input(1) else None
        return node.fold(np.squeeze, value, None if axes is None else tuple(np.atleast_1d(axes).tolist()))
    shape = squeezed(node, value.shape)
    kept = reshape_kept(node, value, shape)
    if kept is not None:
        return kept
    if not shape:
        raise node.refuse("it squeezes each sample into a scalar")
    return node.apply(value, node.make(L.Reshape, shape=shape))


def slice_(node):
    """Slice (starts, ends, axes, steps: inputs since opset 10, attributes before): of a constant,
    computed here; of the data, the channels ``x[:, start:stop]`` as a ChannelSlice (PyTorch's
    legacy exporter writes ``x.chunk(2, 1)`` so); the other axes must be kept whole."""
    value = node.value(0)
    if node.opset >= 10:
        starts, ends = (np.atleast_1d(node.const(i, what="a Slice's starts and ends")).tolist() for i in (1, 2))
        axes = (np.atleast_1d(node.const(3, what="a Slice's axes")).tolist() if node.has_input(3)
                else list(range(len(starts))))
        steps = (np.atleast_1d(node.const(4, what="a Slice's steps")).tolist() if node.has_input(4)
                 else [1] * len(starts))
    else:
        starts, ends = node.attr("starts", []), node.attr("ends", [])
        axes = node.attr("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise node.refuse("starts, ends, axes and steps differ in length")
    if not all(type(v) is int for v in [*starts, *ends, *axes, *steps]):
        raise node.refuse("starts, ends, axes and steps must be ints")
    if isinstance(value, Data):
        return _channel_slice(node, value, starts, ends, axes, steps)

    def take(array):
        index = [slice(None)] * array.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps):
            index[axis] = slice(start, end, step)   # Python clamps out-of-range ends as ONNX does
        return array[tuple(index)]
    return node.fold(take, value)


def _channel_slice(node, x, starts, ends, axes, steps):
    """A Slice of the data: ChannelSlice(start, stop) of axis 1, every other axis whole (or x itself)."""
    dims = (None, *x.shape)
    rank = len(dims)
    kept = None
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if not -rank <= axis < rank or step == 0:
            raise node.refuse(f"axis {axis} or step {step} does not fit {batched(x.shape)}")
        axis %= rank
        whole = step == 1 and start in (0, -2 ** 63) and (end >= 2 ** 31 - 1 or (axis and end >= dims[axis]))
        if whole:
            continue
        if axis != 1 or step != 1:
            raise node.refuse(f"slices the data {batched(x.shape)} along axis {axis} (step {step}): minicnn slices the "
                              "data only along the channels, step 1 (ChannelSlice, x[:, start:stop])")
        c = dims[1]
        first, last = (max(0, min(c, v + c if v < 0 else v)) for v in (start, end))
        kept = (first, last)
    if kept is None:
        return x
    if kept[0] >= kept[1]:
        raise node.refuse(f"slices channels {kept[0]} to {kept[1]} of {batched(x.shape)}: no channel")
    if kept == (0, x.shape[0]):
        return x
    return node.apply(x, node.make(L.ChannelSlice, start=kept[0], stop=kept[1]))


def split(node):
    """Split: of a constant, computed here; of the data along the channels, one ChannelSlice per
    output (PyTorch's dynamo exporter writes ``x.chunk(2, 1)`` so: ShuffleNetV2's split). The
    sizes: the ``split`` input (an attribute before opset 13), or equal parts (``num_outputs``
    since opset 18: the last part smaller when they do not divide). Returns one value per output."""
    value = node.value(0)
    shape = (None, *value.shape) if isinstance(value, Data) else value.shape
    rank, outputs = len(shape), len(node.proto.output)
    axis = node.attr("axis", 0)
    if type(axis) is not int or not -rank <= axis < rank or (isinstance(value, Data) and axis % rank == 0):
        raise node.refuse(f"axis={axis!r} does not fit a {rank}-D input (minicnn splits the data along the channels)")
    axis %= rank
    if node.opset < 13:
        sizes = node.attr("split")
    else:
        sizes = node.const(1, what="a Split's sizes").tolist() if node.has_input(1) else None
    parts = node.attr("num_outputs", outputs) if node.opset >= 18 else outputs
    if sizes is None:
        chunk = -(-shape[axis] // parts) if node.opset >= 18 else (shape[axis] // parts if shape[axis] % parts == 0 else 0)
        sizes = [chunk] * (parts - 1) + [shape[axis] - chunk * (parts - 1)] if chunk else None
    sizes = list(np.atleast_1d(sizes)) if sizes is not None else None
    if (sizes is None or len(sizes) != outputs or sum(sizes) != shape[axis]
            or not all(int(v) == v and v >= 0 for v in sizes)):
        raise node.refuse(f"sizes {sizes} do not split axis {axis} of {shape[axis]} into {outputs} outputs")
    bounds = np.cumsum([0, *sizes]).tolist()
    if not isinstance(value, Data):
        return tuple(node.fold(np.take, value, np.arange(a, b), axis) for a, b in zip(bounds, bounds[1:]))
    if axis != 1:
        raise node.refuse(f"splits the data {batched(value.shape)} along axis {axis}: minicnn splits the data only "
                          "along the channels (ChannelSlice)")
    return tuple(_channel_slice(node, value, [a], [b], [1], [1]) for a, b in zip(bounds, bounds[1:]))


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
    """Pow of constants. Of the data only as a step of a LocalResponseNorm (see
    :class:`~.decompositions.LrnSteps`): any other power has no minicnn layer."""
    base, exponent = node.value(0), node.value(1)
    if isinstance(base, Data) or isinstance(exponent, Data):
        raise node.refuse("raises the data to a power: minicnn has no layer for that; it reads a Pow of the "
                          "data only as a step of LocalResponseNorm (x * x, its window mean, times alpha, plus k)")
    return node.fold(np.power, base, exponent)


#: What a Pad's modes pad with, and the PyTorch that writes each, for the refusals.
PAD_MODES = {"reflect": "by reflection (PyTorch's padding_mode='reflect', nn.ReflectionPad2d)",
             "edge": "by repeating the edge (PyTorch's padding_mode='replicate', nn.ReplicationPad2d)",
             "wrap": "circularly (PyTorch's padding_mode='circular')",
             "constant": "with a constant (PyTorch's nn.ZeroPad2d, nn.ConstantPad2d or F.pad)"}


def pad(node):
    """Pad of the data: refused, naming its mode and the fix (a zero Pad of a LocalResponseNorm's
    channels is that layer's step: :class:`~.decompositions.LrnSteps`). minicnn pads only inside its
    convolutions and pools, with zeros (-inf for max pooling)."""
    mode = node.attr("mode", "constant")
    value = node.value(0)
    what = PAD_MODES.get(mode, f"in mode {mode!r}")
    where = f"the data {batched(value.shape)}" if isinstance(value, Data) else "a constant"
    fix = ("export the network with padding_mode='zeros' (the default), which ONNX writes inside the Conv"
           if mode != "constant" else "give the padding to the Conv2D or pool that follows (its padding argument)")
    raise node.refuse(f"pads {where} {what} (mode={mode!r}): minicnn pads only inside its Conv2D, Conv1D and "
                      f"pooling layers, with zeros; {fix}")
