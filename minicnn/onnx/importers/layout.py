"""The shapes that Reshape, Squeeze and Unsqueeze give a tensor (N, *shape) that keeps its batch
axis first: the rules shared by the importers of the data's shape ops (:mod:`.shapes`) and of the
layers that the graph writes as several nodes (:mod:`.decompositions`), whose steps reshape too.
Each function takes the node and the per-sample ``shape`` and returns the per-sample result, or
refuses naming the node.
"""
import math

import numpy as np

from .graph import BATCH, batched


def reshape_entries(node, shape):
    """ONNX Reshape's shape input for a tensor (N, *shape) -> the per-sample target, one entry
    maybe -1 (as minicnn's Reshape takes it).

    ONNX's shape is the whole shape, batch included: its first entry must be the batch size,
    as ``0`` (copy the input's), the symbol N (from ``Shape``), ``-1`` when the rest holds
    exactly one sample, or the graph input's fixed batch size. A 0 elsewhere copies the input's
    dimension (``allowzero=0``).
    """
    target = node.const(1, what="the shape of a Reshape")
    allowzero = node.attr("allowzero", 0)
    entries = target.tolist() if target.ndim == 1 and target.dtype.kind in "iuO" else None
    if not entries or not all(t is BATCH or type(t) is int for t in entries):
        raise node.refuse(f"shape {target!r} is not a list of ints")
    in_dims = (BATCH, *shape)
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
    size, rest = math.prod(shape), out[1:]
    keeps_batch = (out[0] is BATCH or (out[0] == -1 and math.prod(rest) == size)
                   or (out[0] != -1 and out[0] == node.context.batch))
    if not keeps_batch:
        raise node.refuse(f"shape {out} of input {batched(shape)} does not keep the batch axis first; "
                          "minicnn's Reshape reshapes each sample")
    if not rest:
        raise node.refuse("reshapes each sample into a scalar")
    known = math.prod(d for d in rest if d != -1)
    if (-1 in rest and (known == 0 or size % known)) or (-1 not in rest and known != size):
        raise node.refuse(f"cannot reshape {batched(shape)} ({size} values a sample) into {batched(rest)}")
    return tuple(rest)


def reshaped(node, shape):
    """The per-sample shape that a Reshape node gives (N, *shape), its -1 worked out."""
    rest = reshape_entries(node, shape)
    known = math.prod(d for d in rest if d != -1)
    return tuple(math.prod(shape) // known if d == -1 else d for d in rest)


def squeezed(node, shape):
    """The per-sample shape that a Squeeze node gives (N, *shape): the named axes of size 1
    dropped (axes: an attribute before opset 13, an optional input since). Without axes every
    axis of size 1 would go, the batch axis too when N is 1: refused."""
    axes = node.attr("axes") if node.opset < 13 else (
        node.const(1, what="the axes of a Squeeze").tolist() if node.has_input(1) else None)
    rank = len(shape) + 1
    if not axes:
        raise node.refuse("no axes: it would drop every axis of size 1, the batch axis too when N is 1")
    axes = tuple(np.atleast_1d(axes).tolist())
    if not all(type(a) is int and -rank <= a < rank for a in axes):
        raise node.refuse(f"axes={list(axes)} for a {rank}-D input")
    dropped = {a % rank for a in axes}
    if 0 in dropped or any(shape[a - 1] != 1 for a in dropped):
        raise node.refuse(f"axes={list(axes)} of {batched(shape)}: only axes of size 1 other than the "
                          "batch axis can be squeezed")
    return tuple(d for i, d in enumerate(shape, 1) if i not in dropped)


def unsqueeze_axes(node):
    """The axes of an Unsqueeze node (an attribute before opset 13, an input since), a tuple."""
    axes = node.attr("axes") if node.opset < 13 else node.const(1, what="the axes of an Unsqueeze").tolist()
    return tuple(np.atleast_1d(axes).tolist())


def unsqueezed(node, shape):
    """The per-sample shape that an Unsqueeze node gives (N, *shape): axes of size 1 inserted;
    a new axis 0 would move the batch axis: refused."""
    axes = unsqueeze_axes(node)
    rank = len(shape) + 1 + len(axes)
    if not all(type(a) is int and -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
        raise node.refuse(f"axes={list(axes)} for a {rank}-D output")
    if 0 in {a % rank for a in axes}:
        raise node.refuse("a new axis 0 would move the batch axis; minicnn's Reshape keeps it first")
    return np.expand_dims(np.empty((1, *shape), dtype=np.int8), axes).shape[1:]
