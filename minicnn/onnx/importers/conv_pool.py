"""Importers of convolution and pooling: Conv, MaxPool, AveragePool, GlobalAveragePool, ReduceMean.

2-D on (N, C, H, W), 1-D on (N, C, L). ONNX's padding becomes minicnn's ``padding``
(:func:`padding_argument`); a global pool that keeps ONNX's (N, C, 1, 1) is marked so that a
Flatten after it gives the one minicnn layer back (:func:`global_mean`); minicnn's own
AdaptiveAvgPool2D comes back from its metadata, checked against the graph (:func:`as_adaptive`).
"""
import dataclasses

import numpy as np

from ... import functional as F
from ... import layers as L
from .._common import pool_window
from .graph import Data, batched, init_argument, set_param

#: minicnn's layer for each number of spatial axes of the input: 1 for (N, C, L), 2 for (N, C, H, W).
CONV_LAYERS = {1: L.Conv1D, 2: L.Conv2D}


MAX_POOL_LAYERS = {1: L.MaxPool1D, 2: L.MaxPool2D}


AVG_POOL_LAYERS = {1: L.AvgPool1D, 2: L.AvgPool2D}


def _spatial_rank(node, x, layers):
    """The number of spatial axes of ``x``: 1 or 2 (``layers`` has one layer for each); else refused."""
    rank = len(x.shape) - 1
    if rank not in layers:
        raise node.refuse(f"{rank + 2}-D input {batched(x.shape)}: minicnn's {layers[1].__name__} takes "
                          f"(N, C, L) and its {layers[2].__name__} (N, C, H, W)")
    return rank


def _per_layer(values):
    """A 2-D layer takes a pair (h, w), a 1-D layer one int: (3, 3) stays (3, 3), (5,) becomes 5."""
    return values if len(values) == 2 else values[0]


def _onnx_padding(node, size, kernel, stride, dilation):
    """ONNX's ``pads`` or ``auto_pad`` as (before, after) per spatial axis of an input of ``size``.

    ``pads`` lists all the beginnings, then all the ends: [top, left, bottom, right] in
    2-D, [left, right] in 1-D. ``auto_pad``: VALID is no padding; SAME_UPPER and
    SAME_LOWER pad an axis of size n for ceil(n / stride) outputs, in all

        total = max((ceil(n / stride) - 1) * stride + dilation * (kernel - 1) + 1 - n, 0)

    (TensorFlow's rule, :func:`minicnn.functional.same_padding`), the extra one of an odd
    total at the end (UPPER) or at the beginning (LOWER). The graph input's per-sample
    size is fixed, so these are numbers here, whatever the stride.
    Returns ``(pads, auto_pad)``.
    """
    rank = len(kernel)
    auto_pad = node.attr("auto_pad", "NOTSET")
    pads = node.attr("pads", None)
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise node.refuse(f"auto_pad={auto_pad!r} is not an ONNX value")
    if auto_pad != "NOTSET":
        if pads is not None and any(pads):
            raise node.refuse(f"auto_pad={auto_pad} together with pads={pads}")
        if auto_pad == "VALID":
            return ((0, 0),) * rank, auto_pad
        upper = tuple(F.same_padding(k, d, s, n) for k, d, s, n in zip(kernel, dilation, stride, size))
        return (upper if auto_pad == "SAME_UPPER" else tuple((after, before) for before, after in upper)), auto_pad
    if pads is None:
        pads = [0] * (2 * rank)
    if len(pads) != 2 * rank or not all(isinstance(p, int) and p >= 0 for p in pads):
        names = "top, left, bottom, right" if rank == 2 else "left, right"
        raise node.refuse(f"pads={pads}: expected {2 * rank} ints >= 0 ({names})")
    return tuple(zip(pads[:rank], pads[rank:])), auto_pad


def padding_argument(node, x, cls, kernel, stride, dilation):
    """ONNX's padding of ``x`` -> the ``padding`` argument of minicnn's ``cls``: the word
    'same' (convolutions also 'valid'), or per axis the one int padded before and after.

    The spelling, in this order, the first that gives exactly the graph's pads:

    1. the one minicnn's own metadata keeps (minicnn writes 'same' as explicit pads);
    2. 'same' for auto_pad SAME_UPPER/SAME_LOWER, 'valid' for VALID;
    3. the ints, when every axis pads as much at its beginning as at its end;
    4. 'same': TensorFlow's rule, the extra row/column of an odd total at the bottom/right
       (ONNX's SAME_UPPER), at any stride for this input size.

    Any other padding (more at the beginning, or uneven otherwise) is refused.
    """
    size = x.shape[1:]
    pads, auto_pad = _onnx_padding(node, size, kernel, stride, dilation)
    words = ("same", "valid") if cls in CONV_LAYERS.values() else ("same",)
    spelled = node.hint(cls).get("padding")
    auto_word = {"VALID": "valid", "SAME_UPPER": "same", "SAME_LOWER": "same"}.get(auto_pad)
    for word in (spelled, auto_word):
        if word in words and F.pads_for(word, kernel, stride, dilation, size) == pads:
            return word
    if all(before == after for before, after in pads):
        return _per_layer(tuple(before for before, _ in pads))
    if F.pads_for("same", kernel, stride, dilation, size) == pads:
        return "same"
    onnx_pads = [before for before, _ in pads] + [after for _, after in pads]
    names = "top, left, bottom, right" if len(kernel) == 2 else "left, right"
    if auto_pad == "SAME_LOWER":
        raise node.refuse(f"auto_pad=SAME_LOWER pads {onnx_pads} ({names}) here, the extra of an odd total at "
                          f"the beginning; minicnn's {cls.__name__} 'same' puts it at the end (SAME_UPPER)")
    raise node.refuse(f"asymmetric pads={onnx_pads} ({names}): minicnn's {cls.__name__} pads as much at "
                      "the beginning of an axis as at its end, or 'same' (the extra at the bottom/right)")


def conv(node):
    """Conv -> Conv2D on (N, C, H, W), Conv1D on (N, C, L): the same cross-correlation,

        2-D: y[n, o, r, c] = B[o] + sum_{k,i,j} W[o, k, i, j] * x_pad[n, k, s_h*r + d_h*i, s_w*c + d_w*j]
        1-D: y[n, o, t] = B[o] + sum_{k,j} W[o, k, j] * x_pad[n, k, s*t + d*j]

    W (O, C/group, kh, kw) or (O, C/group, k) and B (O,) are copied as they are; ``group``
    is minicnn's ``groups`` (grouped and depthwise convolution: C = group * W.shape[1]).
    Padding: see :func:`padding_argument`.
    """
    x = node.data(0)
    rank = _spatial_rank(node, x, CONV_LAYERS)
    cls = CONV_LAYERS[rank]
    w = node.weight(1, "the weight W", ndim=rank + 2)
    b = node.weight(2, "the bias B", ndim=1, optional=True)
    group = node.attr("group", 1)
    if type(group) is not int or group < 1 or w.shape[0] % group:
        raise node.refuse(f"group={group!r}: expected an int >= 1 that divides the {w.shape[0]} output channels")
    if x.shape[0] != group * w.shape[1]:
        raise node.refuse(f"the input has {x.shape[0]} channels; W {w.shape} with group={group} takes "
                          f"{group * w.shape[1]}")
    kernel = node.ints("kernel_shape", rank, list(w.shape[2:]), 1)
    if kernel != w.shape[2:]:
        raise node.refuse(f"kernel_shape={list(kernel)} does not match the weight's shape {w.shape}")
    stride = node.ints("strides", rank, [1] * rank, 1)
    dilation = node.ints("dilations", rank, [1] * rank, 1)
    padding = padding_argument(node, x, cls, kernel, stride, dilation)
    if b is not None and b.shape != (w.shape[0],):
        raise node.refuse(f"the bias B has shape {b.shape}; expected ({w.shape[0]},)")
    layer = node.make(cls, in_channels=w.shape[1] * group, out_channels=w.shape[0], kernel_size=_per_layer(kernel),
                      stride=_per_layer(stride), padding=padding, dilation=_per_layer(dilation),
                      bias=b is not None, dtype=w.dtype, groups=group, **init_argument(node.hint(cls)))
    set_param(layer.params["W"], w)
    if b is not None:
        set_param(layer.params["b"], b)
    return node.apply(x, layer)


def _pool(node, layers):
    """What MaxPool and AveragePool share: the layer class for the input's rank, and its
    kernel_size, stride (ONNX's default is 1, not the kernel size), padding (ints up to
    kernel_size // 2, or 'same') and ceil_mode; no dilations. Returns ``(x, cls, arguments)``.

    ``ceil_mode=1`` is minicnn's (PyTorch's) ceil mode: the output size rounded up, but no
    window that would start in the right padding, the rule ONNX states since opset 19 and
    onnxruntime applies at every opset."""
    x = node.data(0)
    rank = _spatial_rank(node, x, layers)
    cls = layers[rank]
    if node.attr("kernel_shape") is None:
        raise node.refuse("kernel_shape is missing")
    kernel = node.ints("kernel_shape", rank, None, 1)
    stride = node.ints("strides", rank, [1] * rank, 1)
    if node.ints("dilations", rank, [1] * rank, 1) != (1,) * rank:
        raise node.refuse(f"dilations={node.attr('dilations')}: minicnn's pooling layers have no dilation")
    ceil_mode = node.attr("ceil_mode", 0)
    if ceil_mode not in (0, 1):
        raise node.refuse(f"ceil_mode={ceil_mode!r}: expected 0 or 1")
    padding, ceil_mode = _pool_padding(node, x, cls, kernel, stride, ceil_mode)
    per_axis = (padding,) if isinstance(padding, int) else padding
    if padding != "same" and any(p > k // 2 for p, k in zip(per_axis, kernel)):
        raise node.refuse(f"padding {list(per_axis)} is more than half the kernel {list(kernel)}: "
                          "minicnn's pooling layers (like PyTorch's) take at most kernel_size // 2")
    arguments = dict(kernel_size=_per_layer(kernel), stride=_per_layer(stride), padding=padding)
    if not ceil_mode and node.hint(cls).get("ceil_mode") is True:
        # minicnn writes ceil mode as 0 where it adds no window: keep the spelling if so here
        floor, ceil = (node.make(cls, **arguments, ceil_mode=c).output_shape(x.shape) for c in (False, True))
        ceil_mode = int(floor == ceil)
    return x, cls, dict(arguments, ceil_mode=bool(ceil_mode))


def _pool_padding(node, x, cls, kernel, stride, ceil_mode):
    """``(padding, ceil_mode)`` of a pool: :func:`padding_argument`, or a padding in ceil mode that
    minicnn writes with other pads (:func:`_ceil_padding`): first when minicnn's metadata says so."""
    hint = node.hint(cls)
    if hint.get("ceil_mode") is True and hint.get("padding") != "same":
        padding = _ceil_padding(node, x, kernel, stride, ceil_mode)
        if padding is not None:
            return padding, 1
    try:
        return padding_argument(node, x, cls, kernel, stride, (1,) * len(kernel)), ceil_mode
    except ValueError:
        padding = _ceil_padding(node, x, kernel, stride, ceil_mode)
        if padding is None:
            raise
        return padding, 1


def _ceil_padding(node, x, kernel, stride, ceil_mode):
    """minicnn's padding of a pool in ceil mode that minicnn writes with other ``pads`` (and maybe
    ``ceil_mode``) than its own, so that ONNX's rule gives its windows: the padding whose
    :func:`minicnn.onnx._common.pool_window` is the node's (the beginnings, the same at the end);
    None when the node is not such a pool."""
    pads, auto_pad = _onnx_padding(node, x.shape[1:], kernel, stride, (1,) * len(kernel))
    if auto_pad != "NOTSET" or all(before == after for before, after in pads):
        return None
    even = _as_2d(((before, before) for before, _ in pads), (0, 0))
    try:
        written = pool_window(_as_2d(x.shape[1:], 1), _as_2d(kernel, 1), _as_2d(stride, 1), even,
                              node.attr("count_include_pad", 0) == 1)
    except ValueError:                      # no window even in ceil mode, or not one ONNX can say
        return None
    return _per_layer(tuple(b for b, _ in pads)) if written == (_as_2d(pads, (0, 0)), ceil_mode) else None


def _as_2d(values, fill):
    """A 1-D pool's sizes as a 2-D pool's one row high: (5,) -> (1, 5); 2-D ones as they are."""
    return ((fill,) + tuple(values))[-2:]


def max_pool(node):
    """MaxPool -> MaxPool2D on (N, C, H, W), MaxPool1D on (N, C, L): the max of each window.

    ONNX never picks a padded position: minicnn's -inf padding. The optional
    second output (Indices) and ``storage_order`` (its layout) are refused."""
    if node.attr("storage_order", 0) != 0:
        raise node.refuse("storage_order=1 (column-major Indices)")
    x, cls, arguments = _pool(node, MAX_POOL_LAYERS)
    return node.apply(x, node.make(cls, **arguments))


def average_pool(node):
    """AveragePool -> AvgPool2D on (N, C, H, W), AvgPool1D on (N, C, L): the mean of each window.

    ``count_include_pad`` is minicnn's argument of the same name: 1 divides every window
    by kh * kw (the zero padding counts), 0 (ONNX's default) by the number of the
    window's input pixels. Without padding the two are the same.
    """
    x, cls, arguments = _pool(node, AVG_POOL_LAYERS)
    count_include_pad = node.attr("count_include_pad", 0)
    if count_include_pad not in (0, 1):
        raise node.refuse(f"count_include_pad={count_include_pad!r}: expected 0 or 1")
    pooled = node.apply(x, node.make(cls, **arguments, count_include_pad=bool(count_include_pad)))
    return as_adaptive(node, x, pooled)


def as_adaptive(node, x, pooled):
    """``pooled`` (x's chain and one or more layers) as the AdaptiveAvgPool2D that minicnn's
    metadata says it is, when that layer computes the same on x: then the round trip gives
    the layer back. The graph decides: a hint that does not fit is left unused.

    AdaptiveAvgPool2D(output_size) is exported (see ``exporters.adaptive_avg_pool2d``) as
    Identity, GlobalAveragePool, an AveragePool of uniform bins, or Reshape-MatMul-Reshape;
    :func:`_adaptive_computes` checks each form against the layer.
    """
    output_size = node.hint(L.AdaptiveAvgPool2D).get("output_size")
    if len(x.shape) != 3 or not isinstance(output_size, list):
        return pooled
    try:
        layer = L.AdaptiveAvgPool2D(output_size)
        shape = layer.output_shape(x.shape)
    except (ValueError, TypeError):
        return pooled
    if shape != pooled.shape or not _adaptive_computes(layer, x, pooled.layers[len(x.layers):]):
        return pooled
    return Data(x.layers + (layer,), shape, x.dtype)


def _adaptive_computes(layer, x, layers):
    """Whether ``layers`` on x compute ``layer`` (an AdaptiveAvgPool2D) exactly, as its export writes it."""
    (c, h, w), (oh, ow) = x.shape, layer.output_shape(x.shape)[1:]
    kinds = [type(one) for one in layers]
    if (oh, ow) == (h, w):
        return not layers
    if (oh, ow) == (1, 1):
        return kinds == [L.GlobalAvgPool2D, L.Reshape]
    if kinds == [L.AvgPool2D]:
        pool = layers[0]
        return (h % oh == 0 and w % ow == 0 and pool.kernel_size == pool.stride == (h // oh, w // ow)
                and pool.padding == (0, 0) and not pool.ceil_mode)
    if (kinds != [L.Reshape, L.Dense, L.Reshape] or layers[1].bias or tuple(layers[0].shape) != (c, h * w)
            or layers[1].params["W"].shape != (h * w, oh * ow)):
        return False                        # (the shapes first: the matrix below is as large as W)
    k = np.kron(F.adaptive_pool_matrix(h, oh), F.adaptive_pool_matrix(w, ow)).T.astype(layers[1].dtype)
    return np.array_equal(layers[1].params["W"].data, k)


def global_average_pool(node):
    """GlobalAveragePool -> GlobalAvgPool2D on (N, C, H, W), GlobalAvgPool1D on (N, C, L):
    the mean of each feature map or signal.

    ONNX keeps the pooled axes, (N, C, H, W) -> (N, C, 1, 1); minicnn's layers give (N, C).
    See :func:`global_mean` for how the two meet.
    """
    x = node.data(0)
    if len(x.shape) not in (2, 3):
        raise node.refuse(f"{len(x.shape) + 1}-D input {batched(x.shape)}: minicnn's GlobalAvgPool1D "
                          "takes (N, C, L) and its GlobalAvgPool2D (N, C, H, W)")
    return as_adaptive(node, x, global_mean(node, x, keepdims=True))


def reduce_mean(node):
    """ReduceMean over H and W of (N, C, H, W) -> GlobalAvgPool2D, as PyTorch's dynamo
    exporter writes ``AdaptiveAvgPool2d(1)`` and ``x.mean((2, 3))``; over L of (N, C, L) ->
    GlobalAvgPool1D, as both exporters write ``x.mean(-1)``.

    ``axes`` (an attribute before opset 18, an input since) must be {2, 3} (or {-2, -1})
    on a 4-D input, {2} (or {-1}) on a 3-D one;
    ``keepdims=1`` (the default) keeps (N, C, 1, 1), ``keepdims=0`` gives (N, C). A mean
    over other axes has no minicnn layer: refused. ``noop_with_empty_axes=1`` without axes
    is the identity.
    """
    x = node.data(0)
    rank = len(x.shape) + 1
    if node.opset < 18:
        axes = node.attr("axes")
    else:
        axes = np.atleast_1d(node.const(1)).tolist() if node.has_input(1) else None
    keepdims, noop = node.attr("keepdims", 1), node.attr("noop_with_empty_axes", 0)
    if not axes:
        if noop:
            return x
        raise node.refuse("no axes: the mean over every axis, the batch axis too, would mix the samples")
    if keepdims not in (0, 1) or not isinstance(axes, list) or not all(type(a) is int for a in axes):
        raise node.refuse(f"axes={axes!r}, keepdims={keepdims!r}: expected a list of ints and 0 or 1")
    if sorted(a % rank if -rank <= a < rank else a for a in axes) != {4: [2, 3], 3: [2]}.get(rank):
        raise node.refuse(f"the mean over axes {axes} of {batched(x.shape)}: minicnn computes a mean only "
                          "over H and W of (N, C, H, W) (GlobalAvgPool2D) or over L of (N, C, L) "
                          "(GlobalAvgPool1D)")
    return global_mean(node, x, keepdims=bool(keepdims))


def global_mean(node, x, keepdims):
    """GlobalAvgPool2D (or, on (N, C, L), GlobalAvgPool1D) of ``x``, and with ``keepdims``
    ONNX's (N, C, 1, 1) (or (N, C, 1)) as a ``Reshape((C, 1, 1))`` (or ``Reshape((C, 1))``).

    That Reshape is marked (``after_global_pool``): a Flatten or a Reshape to (N, C) right
    after it drops it again (:func:`drop_keepdims`), so that GlobalAveragePool + Flatten,
    as minicnn and PyTorch write it, comes back as the one GlobalAvgPool2D.

    (N, C, 1, L) that is an unsqueezed (N, C, L) read by this node alone is pooled as the
    (N, C, L): PyTorch's dynamo exporter writes ``AdaptiveAvgPool1d(1)`` as Unsqueeze,
    ReduceMean over the last two axes, Squeeze: one GlobalAvgPool1D. (Read by another node
    too, the unsqueezed tensor stays in the chain, which a branch motif compares.)
    """
    last = x.layers[-1] if x.layers else None
    if (len(x.shape) == 3 and x.shape[1] == 1 and type(last) is L.Reshape
            and node.context.input_shapes.get(id(last)) == (x.shape[0], x.shape[2])
            and node.context.uses[node.proto.input[0]] == 1):
        x = Data(x.layers[:-1], (x.shape[0], x.shape[2]), x.dtype)
        pooled = node.apply(x, L.GlobalAvgPool1D())
        return dataclasses.replace(node.apply(pooled, L.Reshape((x.shape[0], 1, 1))), after_global_pool=True) \
            if keepdims else pooled
    one_d = len(x.shape) == 2
    pooled = node.apply(x, L.GlobalAvgPool1D() if one_d else L.GlobalAvgPool2D())
    if not keepdims:
        return pooled
    kept = (x.shape[0], 1) if one_d else (x.shape[0], 1, 1)
    return dataclasses.replace(node.apply(pooled, L.Reshape(kept)), after_global_pool=True)


def drop_keepdims(x):
    """(N, C, 1, 1) marked by :func:`global_mean` -> the GlobalAvgPool2D's own (N, C)."""
    return Data(x.layers[:-1], x.shape[:1], x.dtype)


def reshape_kept(node, x, shape):
    """A Reshape/Squeeze/Unsqueeze of a pool's marked (N, C, 1, ...) to ``shape``: (C,) is the
    pool's own output, (C, 1, ...) its one Reshape, still marked; None for other shapes."""
    if not x.after_global_pool or not shape or shape[0] != x.shape[0] or any(d != 1 for d in shape[1:]):
        return None
    pooled = drop_keepdims(x)
    if len(shape) == 1:
        return pooled
    return dataclasses.replace(node.apply(pooled, L.Reshape(tuple(shape))), after_global_pool=True)


