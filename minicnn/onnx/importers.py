"""ONNX -> minicnn: one importer function per ONNX op, listed in :data:`IMPORTERS`.

How a graph becomes a Sequential
--------------------------------
An ONNX graph is a general dataflow graph; a ``minicnn.Sequential`` is a chain of
layers applied to a batch. The importer walks the nodes in their stored order (ONNX
keeps them topologically sorted) and gives every tensor a value, one of:

- :class:`Data`: a tensor computed from the graph input. It carries the minicnn
  layers that compute it from the graph input, its per-sample shape and its dtype.
  An op such as ``Relu`` returns its input's Data one layer longer.
- a NumPy array: a constant (an initializer, a ``Constant`` node, or shape
  arithmetic on them). The batch size is not known when the file is read, so
  ``Shape`` of a Data gives ``[BATCH, C, H, W]`` with the symbol :data:`BATCH`:
  then PyTorch's ``x.view(x.size(0), -1)`` (Shape, Gather, Unsqueeze, Concat,
  Reshape) is seen to keep the batch axis, and becomes minicnn's ``Reshape``.

The model is the layer chain of the graph output's Data. Because every Data carries
its own chain, a graph that branches needs no special walk: two chains that meet
at an ``Add`` share the layers up to the fork, and the rest of each is one branch:
a residual block, which becomes a ``Residual`` (see :func:`add_of_branches`). Chains that
meet at a ``Concat`` are an Inception block, a ``Concat`` layer (:func:`concat_of_branches`),
and x times a chain that starts at x is squeeze-and-excitation, a ``SqueezeExcitation``
(:func:`squeeze_excitation`).

Two ONNX ops that are one minicnn layer are joined through a mark on the Data:
``MatMul`` + ``Add`` of a constant is a Dense (``after_matmul``), and
``GlobalAveragePool`` + ``Flatten`` is a GlobalAvgPool2D (``after_global_pool``).

Every importer gets a :class:`Node` and returns the value of the node's first
output. What minicnn cannot compute exactly is refused with a ``ValueError`` that
names the file, the node, the op and the reason. Attributes an importer does not
read are refused too, so an attribute it does not know can never be ignored into a
wrong answer.
"""
import dataclasses
import json
import math
import os
import re

import numpy as np

from .. import functional as F
from .. import layers as L
from .._checks import check_path
from ..init import INITIALIZERS
from ._common import ARCHITECTURE_KEY, MAX_OPSET, MIN_OPSET, require_onnx, short_float

#: Float dtypes minicnn computes in.
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


class _Batch:
    """The batch size N, unknown until the model runs (an entry of a shape array)."""

    def __repr__(self):
        return "N"


#: The symbolic batch size in shape arrays computed by ``Shape``.
BATCH = _Batch()


@dataclasses.dataclass(frozen=True)
class Data:
    """A tensor computed from the graph input: (N, *shape).

    ``layers``: the minicnn layers that compute it from the graph input, in order.
    ``after_matmul``: it is the output of a ``MatMul`` (a Dense without bias), so that
    an ``Add`` of a constant right after it can become that Dense's bias.
    ``after_global_pool``: it is a GlobalAvgPool2D's (N, C) reshaped to ONNX's (N, C, 1, 1),
    so that a Flatten right after it can drop that Reshape again.
    """
    layers: tuple
    shape: tuple
    dtype: np.dtype
    after_matmul: bool = False
    after_global_pool: bool = False


class Context:
    """What all nodes of one file share: the file's name, its opset, the batch size
    declared by the graph input (an int, or None when it is dynamic), the names
    that are read later (node inputs and graph outputs) and minicnn's metadata."""

    def __init__(self, onnx, path, opset, used_names, architecture):
        self.onnx = onnx
        self.path = path
        self.opset = opset
        self.batch = None
        self.used_names = used_names
        self.architecture = architecture
        self.input_shapes = {}              # id(layer) -> the per-sample shape it was applied to

    def refuse(self, reason):
        return ValueError(f"{self.path}: {reason}")

    def hint(self, node, cls):
        """minicnn's own config of the layer that ``node`` computes (from the metadata that
        ``export`` writes), when that layer is a ``cls``; else {}.

        minicnn names a layer's nodes by the layer's place in the model: ``"3.Conv2D"``,
        ``"3.Dense.MatMul"``, ``"3.block.0.Conv2D"`` (layer 0 of the block of the Residual
        at 3). The graph holds the numbers; the metadata also says how they were spelled:
        a Conv2D's 'same' or 'valid' padding, a layer's initialiser. Importers take only
        spellings that leave the computation as the graph has it.
        """
        name = node.proto.name               # protobuf hands over a damaged (not UTF-8) name as bytes
        match = _MINICNN_NODE_NAME.fullmatch(name) if isinstance(name, str) else None
        if match is None or match.group("cls") != cls.__name__:
            return {}
        steps = match.group("place").split(".")          # "3.block.0" -> 3, then branch "block", layer 0
        item, entries = None, self.architecture
        for branch, index in zip([None] + steps[1::2], steps[0::2]):
            if branch is not None and branch.startswith("branch"):     # a Concat's: {"branches": [...]}
                listed = item["config"].get("branches")
                k = int(branch[len("branch"):])
                entries = listed[k] if isinstance(listed, list) and k < len(listed) else None
            elif branch is not None:
                entries = item["config"].get(branch)
            if not isinstance(entries, list) or int(index) >= len(entries):
                return {}
            item = entries[int(index)]
            if not isinstance(item, dict) or not isinstance(item.get("config"), dict):
                return {}
        return item["config"] if item.get("class") == cls.__name__ else {}


#: The names minicnn gives its nodes: the layer's place, its class, maybe a step ("3.Dense.MatMul").
_MINICNN_NODE_NAME = re.compile(r"(?P<place>[0-9]{1,9}(?:\.(?:block|shortcut|gate|branch[0-9]{1,9})\.[0-9]{1,9})*)"
                                r"\.(?P<cls>[A-Za-z0-9]+)(?:\..*)?", re.DOTALL)


class Node:
    """One ONNX node as an importer sees it: its inputs, attributes and a way to refuse."""

    def __init__(self, proto, index, values, context):
        self.proto = proto
        self.op = proto.op_type
        # A node without a name is told by its number and its output's name.
        first = proto.output[0] if proto.output else ""
        self.label = repr(proto.name) if proto.name else f"#{index} (output {first!r})"
        self.context = context
        self._values = values
        self._attributes = {a.name: a for a in proto.attribute}
        self._read = set()

    @property
    def opset(self):
        return self.context.opset

    def refuse(self, reason):
        """The ValueError to raise: file, node, op and what is unsupported."""
        return self.context.refuse(f"node {self.label} ({self.op}): {reason}")

    # -- attributes ----------------------------------------------------------
    def attr(self, name, default=None):
        """The attribute's value (ints, floats, lists, str), or ``default`` when absent."""
        self._read.add(name)
        if name not in self._attributes:
            return default
        try:
            value = self.context.onnx.helper.get_attribute_value(self._attributes[name])
        except (ValueError, TypeError) as exc:        # an attribute of no ONNX type
            raise self.refuse(f"attribute {name!r} cannot be read: {exc}") from exc
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    def ints(self, name, length, default, minimum):
        """An attribute that is a list of ``length`` ints, each >= ``minimum``."""
        value = self.attr(name, default)
        if (not isinstance(value, (list, tuple)) or len(value) != length
                or not all(isinstance(v, int) and v >= minimum for v in value)):
            raise self.refuse(f"{name}={value!r}: expected {length} ints >= {minimum}")
        return tuple(value)

    # -- inputs --------------------------------------------------------------
    def has_input(self, i):
        return i < len(self.proto.input) and self.proto.input[i] != ""

    def value(self, i):
        """The value of input ``i``: a :class:`Data` or a NumPy array."""
        if not self.has_input(i):
            raise self.refuse(f"input {i} is missing")
        name = self.proto.input[i]
        if name not in self._values:
            raise self.refuse(f"input {name!r} is neither the graph input, an initializer nor the "
                              "output of an earlier node")
        return self._values[name]

    def data(self, i=0):
        """Input ``i``, which must be computed from the graph input."""
        value = self.value(i)
        if not isinstance(value, Data):
            raise self.refuse(f"input {i} ({self.proto.input[i]!r}) is a constant; minicnn's layers compute "
                              "on the data that comes from the graph input")
        return value

    def const(self, i, default=None):
        """Input ``i``, which must be a constant (``default`` when it is left out)."""
        if not self.has_input(i) and default is not None:
            return default
        value = self.value(i)
        if isinstance(value, Data):
            raise self.refuse(f"input {i} ({self.proto.input[i]!r}) must be a constant (an initializer), "
                              "but it is computed from the graph input")
        return value

    def weight(self, i, what, ndim, optional=False):
        """Input ``i`` as a float weight of ``ndim`` dimensions (None if optional and absent)."""
        if optional and not self.has_input(i):
            return None
        w = self.const(i)
        if w.dtype not in FLOAT_DTYPES:
            raise self.refuse(f"{what} has dtype {w.dtype}; minicnn's weights are float16, float32 or float64")
        if ndim is not None and w.ndim != ndim:
            raise self.refuse(f"{what} has shape {w.shape}; expected {ndim} dimensions")
        return w

    # -- results -------------------------------------------------------------
    def make(self, cls, **kwargs):
        """``cls(**kwargs)``, or a refusal saying why minicnn's layer cannot take them."""
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise self.refuse(f"minicnn's {cls.__name__} cannot take it: {exc}") from exc

    def apply(self, x, layer):
        """The Data ``layer(x)``: ``x``'s chain one layer longer, with the layer's output shape."""
        try:
            shape = layer.output_shape(x.shape)
        except ValueError as exc:
            raise self.refuse(f"{layer!r} cannot take its input {batched(x.shape)}: {exc}") from exc
        self.context.input_shapes[id(layer)] = x.shape
        return Data(x.layers + (layer,), shape, x.dtype)

    def finish(self):
        """After the importer: refuse unread attributes and used extra outputs."""
        unread = sorted(set(self._attributes) - self._read)
        if unread:
            raise self.refuse(f"attribute {unread[0]!r} is not supported")
        for k, name in enumerate(self.proto.output[1:], 1):
            if name and name in self.context.used_names:
                raise self.refuse(f"its output {k} ({name!r}) is used; a minicnn layer has one output")


def batched(shape):
    """A per-sample shape as the whole tensor's, for messages: (3, 4) -> '(N, 3, 4)'."""
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def _set(param, value):
    """Copy ``value`` into a Parameter's array (in the parameter's dtype)."""
    param.data[...] = value


# ---------------------------------------------------------------------------
# Convolution and pooling, 2-D on (N, C, H, W) and 1-D on (N, C, L)
# ---------------------------------------------------------------------------
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


def _padding(node, x, cls, kernel, stride, dilation):
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
    spelled = node.context.hint(node, cls).get("padding")
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
    Padding: see :func:`_padding`.
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
    padding = _padding(node, x, cls, kernel, stride, dilation)
    if b is not None and b.shape != (w.shape[0],):
        raise node.refuse(f"the bias B has shape {b.shape}; expected ({w.shape[0]},)")
    layer = node.make(cls, in_channels=w.shape[1] * group, out_channels=w.shape[0], kernel_size=_per_layer(kernel),
                      stride=_per_layer(stride), padding=padding, dilation=_per_layer(dilation),
                      bias=b is not None, dtype=w.dtype, groups=group, **_init(node.context.hint(node, cls)))
    _set(layer.params["W"], w)
    if b is not None:
        _set(layer.params["b"], b)
    return node.apply(x, layer)


def _init(hint):
    """``{"init": name}`` when minicnn's metadata names one of its initialisers, else {}:
    which initialiser made the weights does not change them, it is kept for ``config()``."""
    init = hint.get("init")
    return {"init": init} if isinstance(init, str) and init in INITIALIZERS else {}


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
    padding = _padding(node, x, cls, kernel, stride, (1,) * rank)
    per_axis = (padding,) if isinstance(padding, int) else padding
    if padding != "same" and any(p > k // 2 for p, k in zip(per_axis, kernel)):
        raise node.refuse(f"padding {list(per_axis)} is more than half the kernel {list(kernel)}: "
                          "minicnn's pooling layers (like PyTorch's) take at most kernel_size // 2")
    arguments = dict(kernel_size=_per_layer(kernel), stride=_per_layer(stride), padding=padding)
    if not ceil_mode and node.context.hint(node, cls).get("ceil_mode") is True:
        # minicnn writes ceil mode as 0 where it adds no window: keep the spelling if so here
        floor, ceil = (node.make(cls, **arguments, ceil_mode=c).output_shape(x.shape) for c in (False, True))
        ceil_mode = int(floor == ceil)
    return x, cls, dict(arguments, ceil_mode=bool(ceil_mode))


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
    return _as_adaptive(node, x, pooled)


def _as_adaptive(node, x, pooled):
    """``pooled`` (x's chain and one or more layers) as the AdaptiveAvgPool2D that minicnn's
    metadata says it is, when that layer computes the same on x: then the round trip gives
    the layer back. The graph decides: a hint that does not fit is left unused.

    AdaptiveAvgPool2D(output_size) is exported (see ``exporters.adaptive_avg_pool2d``) as
    Identity, GlobalAveragePool, an AveragePool of uniform bins, or Reshape-MatMul-Reshape;
    :func:`_adaptive_computes` checks each form against the layer.
    """
    output_size = node.context.hint(node, L.AdaptiveAvgPool2D).get("output_size")
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
    See :func:`_global_mean` for how the two meet.
    """
    x = node.data(0)
    if len(x.shape) not in (2, 3):
        raise node.refuse(f"{len(x.shape) + 1}-D input {batched(x.shape)}: minicnn's GlobalAvgPool1D "
                          "takes (N, C, L) and its GlobalAvgPool2D (N, C, H, W)")
    return _as_adaptive(node, x, _global_mean(node, x, keepdims=True))


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
    return _global_mean(node, x, keepdims=bool(keepdims))


def _global_mean(node, x, keepdims):
    """GlobalAvgPool2D (or, on (N, C, L), GlobalAvgPool1D) of ``x``, and with ``keepdims``
    ONNX's (N, C, 1, 1) (or (N, C, 1)) as a ``Reshape((C, 1, 1))`` (or ``Reshape((C, 1))``).

    That Reshape is marked (``after_global_pool``): a Flatten or a Reshape to (N, C) right
    after it drops it again (:func:`_drop_keepdims`), so that GlobalAveragePool + Flatten,
    as minicnn and PyTorch write it, comes back as the one GlobalAvgPool2D.

    (N, C, 1, L) that is an unsqueezed (N, C, L) is pooled as the (N, C, L): PyTorch's dynamo
    exporter writes ``AdaptiveAvgPool1d(1)`` as Unsqueeze, ReduceMean over the last two axes,
    Squeeze: one GlobalAvgPool1D.
    """
    last = x.layers[-1] if x.layers else None
    if (len(x.shape) == 3 and x.shape[1] == 1 and type(last) is L.Reshape
            and node.context.input_shapes.get(id(last)) == (x.shape[0], x.shape[2])):
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


def _drop_keepdims(x):
    """(N, C, 1, 1) marked by :func:`_global_mean` -> the GlobalAvgPool2D's own (N, C)."""
    return Data(x.layers[:-1], x.shape[:1], x.dtype)


def _reshape_kept(node, x, shape):
    """A Reshape/Squeeze/Unsqueeze of a pool's marked (N, C, 1, ...) to ``shape``: (C,) is the
    pool's own output, (C, 1, ...) its one Reshape, still marked; None for other shapes."""
    if not x.after_global_pool or not shape or shape[0] != x.shape[0] or any(d != 1 for d in shape[1:]):
        return None
    pooled = _drop_keepdims(x)
    if len(shape) == 1:
        return pooled
    return dataclasses.replace(node.apply(pooled, L.Reshape(tuple(shape))), after_global_pool=True)


# ---------------------------------------------------------------------------
# Dense: Gemm, MatMul (+ Add)
# ---------------------------------------------------------------------------
def _bias_vector(node, c, out, rank, what):
    """A constant added to (N, ..., out) as minicnn's bias (out,): it must be the same for
    every sample and every position, i.e. of shape (), (1,) or (out,), with leading 1s."""
    shape = c.shape
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    if c.ndim > rank or shape not in ((), (1,), (out,)):
        raise node.refuse(f"{what} has shape {c.shape}: minicnn's Dense adds one bias (out,) = ({out},) "
                          "to every sample")
    return np.broadcast_to(c.reshape(shape), (out,))


def gemm(node):
    """Gemm -> Dense: Y = alpha * A @ B' + beta * C, A the data (N, in).

    B' is B, or B.T with ``transB=1`` (PyTorch's Linear: weight (out, in)); minicnn's
    W (in, out) = alpha * B'. C is the bias: beta * C, one value per output
    feature. ``transA=1`` would transpose the batch axis into the features: refused.
    """
    x = node.data(0)
    if len(x.shape) != 1:
        raise node.refuse(f"Gemm of a {len(x.shape) + 1}-D input: ONNX's Gemm takes (N, in)")
    if node.attr("transA", 0) != 0:
        raise node.refuse("transA=1 (the data transposed): the batch axis would become the features")
    b = node.weight(1, "B", ndim=2)
    w = b.T if node.attr("transB", 0) else b
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if alpha != 1.0:
        w = w * w.dtype.type(alpha)
    c = node.weight(2, "C", ndim=None, optional=True)
    bias = None if c is None else _bias_vector(node, c, w.shape[1], 2, "C")
    if bias is not None and beta != 1.0:
        bias = bias * bias.dtype.type(beta)
    layer = node.make(L.Dense, in_features=w.shape[0], out_features=w.shape[1], bias=bias is not None,
                      dtype=w.dtype, **_init(node.context.hint(node, L.Dense)))
    _set(layer.params["W"], w)
    if bias is not None:
        _set(layer.params["b"], bias)
    return node.apply(x, layer)


def matmul(node):
    """MatMul with a constant B (in, out) -> Dense without bias: (N, ..., in) -> (N, ..., out).

    An ``Add`` of a constant right after it becomes the Dense's bias (see :func:`add`):
    that is how PyTorch writes a Linear on more than two axes.
    """
    if not isinstance(node.value(0), Data):
        raise node.refuse("a constant times the data (A @ x): minicnn's Dense computes x @ W")
    x = node.data(0)
    w = node.weight(1, "B", ndim=None)
    if w.ndim != 2:
        raise node.refuse(f"B has shape {w.shape}: minicnn's Dense multiplies by one matrix (in, out)")
    if len(x.shape) < 1:
        raise node.refuse("MatMul of a 1-D input (N,): no features to multiply")
    layer = node.make(L.Dense, in_features=w.shape[0], out_features=w.shape[1], bias=False, dtype=w.dtype,
                      **_init(node.context.hint(node, L.Dense)))
    _set(layer.params["W"], w)
    return dataclasses.replace(node.apply(x, layer), after_matmul=True)


def add(node):
    """Add: the bias after a MatMul, or two branches meeting (a residual connection).

    - Data + constant right after ``MatMul``: the constant becomes the bias of that
      Dense (MatMul + Add = Dense, y = x @ W + b).
    - Data + Data: a residual connection, see :func:`add_of_branches`.
    - constant + constant: shape arithmetic, computed here.
    - anything else (adding a constant elsewhere) has no minicnn layer: refused.
    """
    a, b = node.value(0), node.value(1)
    if isinstance(a, Data) and isinstance(b, Data):
        return add_of_branches(node, a, b)
    if not isinstance(a, Data) and not isinstance(b, Data):
        return _fold(node, np.add, a, b)
    x, c = (a, b) if isinstance(a, Data) else (b, a)
    if not x.after_matmul:
        raise node.refuse("adds a constant to the data: minicnn has no layer for that; it reads an Add "
                          "of a constant only as the bias right after a MatMul (MatMul + Add = Dense)")
    if c.dtype not in FLOAT_DTYPES:
        raise node.refuse(f"the added constant has dtype {c.dtype}")
    dense = x.layers[-1]
    bias = _bias_vector(node, c, dense.out_features, len(x.shape) + 1, "the added constant")
    layer = node.make(L.Dense, in_features=dense.in_features, out_features=dense.out_features, bias=True,
                      dtype=dense.dtype, init=dense.init)
    _set(layer.params["W"], dense.params["W"].data)
    _set(layer.params["b"], bias)
    return Data(x.layers[:-1] + (layer,), x.shape, x.dtype)


def add_of_branches(node, a, b):
    """Add of two tensors that both come from the graph input -> Residual: y = block(x) + shortcut(x).

    Each Data carries its chain of layers from the graph input, so the two chains share
    their layers (the very same objects) up to the tensor x where the graph forks, and
    the rest of each chain is one branch:

        k = the length of the common start of a.layers and b.layers   (x: what those k layers compute)
        block, shortcut = a.layers[k:], b.layers[k:]    (input 0 is the block: minicnn and PyTorch
                                                         both write block(x) + shortcut(x))
        an empty branch is the identity, the shortcut:  y = block(x) + x
        y = Data(a.layers[:k] + (Residual(block, shortcut),), ...)

    (Addition is commutative, also in floating point, so which branch is the block
    changes no result.) Refused: x + x (no branch), tensors of different shapes (ONNX
    would broadcast), and branches that share a layer: then the graph does not fork at
    one tensor, e.g. (u + t) + u, where u is used inside the first sum and again outside it.
    """
    k = 0
    while k < min(len(a.layers), len(b.layers)) and a.layers[k] is b.layers[k]:
        k += 1
    block, shortcut = a.layers[k:], b.layers[k:]
    if not block:
        block, shortcut = shortcut, block
    if a.shape != b.shape:
        raise node.refuse(f"adds tensors of shapes {batched(a.shape)} and {batched(b.shape)} (broadcasting); "
                          "minicnn's Residual adds two branches of the same shape")
    if not block:
        raise node.refuse("adds a tensor to itself (2 * x): minicnn has no layer for that")
    shared = {id(layer) for layer in _every_layer(block)} & {id(layer) for layer in _every_layer(shortcut)}
    if shared:
        cls = next(type(layer).__name__ for layer in _every_layer(block) if id(layer) in shared)
        raise node.refuse(f"the two branches share a {cls} (a tensor inside one sum is also used outside it): "
                          "the graph does not fork at one tensor, as minicnn's Residual does")
    residual = node.make(L.Residual, block=list(block), shortcut=list(shortcut) or None)
    return Data(a.layers[:k] + (residual,), a.shape, a.dtype)


def _every_layer(layers):
    """The layers and, inside a Residual, the layers of its branches (at any depth)."""
    for layer in layers:
        yield layer
        yield from _every_layer(layer.sublayers())


# ---------------------------------------------------------------------------
# Normalisation, shapes, activations
# ---------------------------------------------------------------------------
def batch_normalization(node):
    """BatchNormalization (inference) -> BatchNorm on (N, C, ...):

        y = scale * (x - mean) / sqrt(var + epsilon) + B

    with scale, B, mean, var (C,) -> gamma, beta, running_mean, running_var. Training
    mode (``training_mode=1``, or the running-statistics outputs of old opsets) uses the
    batch's own statistics: refused. ONNX's momentum m weighs the old running value;
    minicnn's weighs the new batch: 1 - m.
    """
    x = node.data(0)
    if node.attr("training_mode", 0) != 0:
        raise node.refuse("training_mode=1: normalises with the batch's own statistics; minicnn imports "
                          "inference graphs (running statistics)")
    if node.attr("spatial", 1) != 1:
        raise node.refuse("spatial=0 (statistics per channel and position)")
    if any(node.proto.output[1:]):
        raise node.refuse("it also outputs running statistics, which only training mode computes")
    if len(x.shape) < 1:
        raise node.refuse("input (N,) has no channel axis")
    c = x.shape[0]
    arrays = [node.weight(i, what, ndim=None) for i, what in
              enumerate(("scale", "B", "input_mean", "input_var"), 1)]
    for array, what in zip(arrays, ("scale", "B", "input_mean", "input_var")):
        if array.shape != (c,):
            raise node.refuse(f"{what} has shape {array.shape}; expected ({c},), one per channel")
    eps = short_float(node.attr("epsilon", 1e-5))
    momentum = short_float(1 - short_float(node.attr("momentum", 0.9)))
    layer = node.make(L.BatchNorm, num_features=c, momentum=momentum, eps=eps, dtype=arrays[0].dtype)
    scale, bias, mean, var = arrays
    _set(layer.params["gamma"], scale)
    _set(layer.params["beta"], bias)
    layer.running_mean[...] = mean
    layer.running_var[...] = var
    return node.apply(x, layer)


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
        return _drop_keepdims(x)
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
        return _drop_keepdims(x)
    if -1 not in rest:
        kept = _reshape_kept(node, x, rest)
        if kept is not None:
            return kept
    reshaped = node.apply(x, node.make(L.Reshape, shape=tuple(int(d) for d in rest)))
    if len(x.layers) >= 2 and id(x.layers[-2]) in node.context.input_shapes:
        # maybe the end of minicnn's AdaptiveAvgPool2D as Reshape-MatMul-Reshape: x before the first Reshape
        before = Data(x.layers[:-2], node.context.input_shapes[id(x.layers[-2])], x.dtype)
        return _as_adaptive(node, before, reshaped)
    return reshaped


def relu(node):
    """Relu -> ReLU: y = max(x, 0)."""
    return node.apply(node.data(0), L.ReLU())


def clip(node):
    """Clip -> ReLU6 when it is min(max(x, 0), 6) (PyTorch's ``nn.ReLU6``), ReLU when it is
    max(x, 0) (no max, or +inf). min and max are attributes before opset 11, optional scalar
    inputs since. Other bounds have no minicnn layer: refused."""
    x = node.data(0)
    if node.opset < 11:
        low, high = node.attr("min", -np.inf), node.attr("max", np.inf)
    else:
        bounds = [node.const(i) if node.has_input(i) else None for i in (1, 2)]
        for bound, what in zip(bounds, ("min", "max")):
            if bound is not None and (bound.size != 1 or bound.dtype not in FLOAT_DTYPES):
                raise node.refuse(f"{what} must be a float scalar, got shape {bound.shape} dtype {bound.dtype}")
        low, high = (default if b is None else float(b.reshape(())) for b, default in zip(bounds, (-np.inf, np.inf)))
    if low == 0 and high == 6:
        return node.apply(x, L.ReLU6())
    if low == 0 and high == np.inf:
        return node.apply(x, L.ReLU())
    raise node.refuse(f"Clip to [{low}, {high}]: minicnn reads Clip to [0, 6] (ReLU6) and to [0, inf) (ReLU)")


def lrn(node):
    """LRN -> LocalResponseNorm(size, alpha, beta, k=bias) on (N, C, ...):

        y_c = x_c / (bias + alpha / size * sum of x_c'^2 over the window)^beta

    PyTorch's formula, alpha divided by the size in both. The window is c - floor((size-1)/2)
    .. c + ceil((size-1)/2) in ONNX, c - size//2 .. c + (size-1)//2 in minicnn and PyTorch:
    the same for an odd size; an even size (one channel apart) is refused.
    """
    x = node.data(0)
    size = node.attr("size")
    if type(size) is not int or size < 1:
        raise node.refuse(f"size={size!r}: expected an int >= 1")
    if size % 2 == 0:
        raise node.refuse(f"size={size} is even: ONNX's window is then one channel later than "
                          "minicnn's LocalResponseNorm (PyTorch's)")
    if len(x.shape) < 2:
        raise node.refuse(f"input {batched(x.shape)}: LRN needs (N, C, D1, ...)")
    alpha, beta, bias = (short_float(node.attr(a, d)) for a, d in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)))
    return node.apply(x, node.make(L.LocalResponseNorm, size=size, alpha=alpha, beta=beta, k=bias))


def leaky_relu(node):
    """LeakyRelu -> LeakyReLU(negative_slope=alpha): y = x if x > 0 else alpha * x (alpha >= 0)."""
    alpha = short_float(node.attr("alpha", 0.01))
    return node.apply(node.data(0), node.make(L.LeakyReLU, negative_slope=alpha))


def sigmoid(node):
    """Sigmoid -> Sigmoid: y = 1 / (1 + exp(-x))."""
    return node.apply(node.data(0), L.Sigmoid())


def tanh(node):
    """Tanh -> Tanh."""
    return node.apply(node.data(0), L.Tanh())


def softmax(node):
    """Softmax -> Softmax(axis): exp(x) / sum(exp(x)) along one axis (not the batch axis).

    Before opset 13, ONNX's Softmax flattened the axes from ``axis`` on into one
    (default axis 1): the same as minicnn's only when ``axis`` is the last axis.
    """
    x = node.data(0)
    rank = len(x.shape) + 1
    axis = node.attr("axis", -1 if node.opset >= 13 else 1)
    if not -rank <= axis < rank:
        raise node.refuse(f"axis={axis} is out of range for a {rank}-D input")
    if axis % rank == 0:
        raise node.refuse("softmax along axis 0, the batch axis, would mix the samples")
    if node.opset < 13 and axis % rank != rank - 1:
        raise node.refuse(f"opset {node.opset} Softmax normalises over all axes from {axis} on; "
                          "minicnn's Softmax takes one axis")
    return node.apply(x, node.make(L.Softmax, axis=axis))


def dropout(node):
    """Dropout (inference) -> Dropout(p=ratio), which is the identity in inference.

    Training mode (``training_mode`` True) would drop random values: refused. The
    mask output is refused when used (it is a second output).
    """
    x = node.data(0)
    if node.opset >= 12:                    # ratio and training_mode became inputs in opset 12
        ratio = node.const(1, default=np.array(0.5, dtype=np.float32))
        training = node.const(2, default=np.array(False))
        if ratio.shape != () or ratio.dtype not in FLOAT_DTYPES or training.shape != () or training.dtype.kind != "b":
            raise node.refuse("ratio must be a float scalar and training_mode a bool scalar")
        node.attr("seed")                   # drawing masks only: no meaning in inference
        if bool(training):
            raise node.refuse("training_mode=True drops random values; minicnn imports inference graphs")
        ratio = float(ratio)
    else:
        ratio = node.attr("ratio", 0.5)
    return node.apply(x, node.make(L.Dropout, p=short_float(ratio)))


def identity(node):
    """Identity: the same value (no layer); or minicnn's AdaptiveAvgPool2D whose output size is
    its input's, as its metadata says (see :func:`_as_adaptive`)."""
    value = node.value(0)
    return _as_adaptive(node, value, value) if isinstance(value, Data) else value


# ---------------------------------------------------------------------------
# Constants and shape arithmetic (what exporters write to compute a Reshape's shape)
# ---------------------------------------------------------------------------
def _shape_array(values):
    """A 1-D shape array: int64, or object when it holds the symbol BATCH."""
    values = list(values)
    if any(v is BATCH for v in values):
        return np.array(values, dtype=object)
    return np.array(values, dtype=np.int64)


def _fold(node, fn, *args):
    """Compute an op on constants with NumPy; a failure is the file's fault, not a crash."""
    try:
        return np.asarray(fn(*args))
    except (ValueError, TypeError, IndexError) as exc:      # numpy's AxisError is a ValueError
        raise node.refuse(f"cannot compute it on its constant inputs: {exc}") from exc


def constant(node):
    """Constant: the tensor in ``value`` (or ``value_float(s)``/``value_int(s)``)."""
    for name in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        value = node.attr(name)
        if value is None:
            continue
        if name == "value":
            return _to_array(node.context, value, f"node {node.label}")
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
    return _fold(node, np.take, data, indices, node.attr("axis", 0))


def unsqueeze(node):
    """Unsqueeze (axes: an attribute before opset 13, an input since): on constants computed
    here; on data that keeps the batch axis first, a Reshape (SqueezeExcitation's gate
    (N, C) -> (N, C, 1, 1), as minicnn writes it)."""
    value = node.value(0)
    axes = node.attr("axes") if node.opset < 13 else node.const(1).tolist()
    axes = tuple(np.atleast_1d(axes).tolist())
    if not isinstance(value, Data):
        return _fold(node, np.expand_dims, value, axes)
    rank = len(value.shape) + 1 + len(axes)
    if not all(type(a) is int and -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
        raise node.refuse(f"axes={list(axes)} for a {rank}-D output")
    if 0 in {a % rank for a in axes}:
        raise node.refuse("a new axis 0 would move the batch axis; minicnn's Reshape keeps it first")
    shape = np.expand_dims(np.empty((1, *value.shape), dtype=np.int8), axes).shape[1:]
    kept = _reshape_kept(node, value, shape)
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
        return _fold(node, np.squeeze, value, axes)
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
    kept = _reshape_kept(node, value, shape)
    if kept is not None:
        return kept
    if not shape:
        raise node.refuse("it squeezes each sample into a scalar")
    return node.apply(value, node.make(L.Reshape, shape=shape))


def concat(node):
    """Concat of constants along ``axis`` (shape arithmetic); of tensors that all come from the
    graph input, along the channels: Inception's branches, see :func:`concat_of_branches`."""
    values = [node.value(i) for i in range(len(node.proto.input))]
    if values and all(isinstance(v, Data) for v in values):
        return concat_of_branches(node, values)
    parts = [node.const(i) for i in range(len(node.proto.input))]
    return _fold(node, np.concatenate, parts, node.attr("axis"))


def concat_of_branches(node, values):
    """Concat along axis 1 of tensors computed from the graph input -> minicnn's Concat.

    As for a residual Add (:func:`add_of_branches`), each input's chain shares its first
    layers (the same objects) with the others up to the tensor x where the graph forks; the
    rest of each chain is one branch: y = concatenate([branch0(x), branch1(x), ...], axis=1).
    Inputs whose branches start with the same layer fork again later: PyTorch's
    ``torch.cat([a(t), b(t), c], 1)`` with t = stem(x) (Inception-v4's InceptionC) is the
    branch ``[stem, Concat([[a], [b]])]`` beside ``[c]`` (see :func:`_nest`). Refused: an input
    that is x itself (an empty branch), axes other than the channels, and branches that share
    a layer elsewhere (the graph does not fork at one tensor).
    """
    axis = node.attr("axis")
    rank = len(values[0].shape) + 1
    if len(values) == 1:
        return values[0]
    if any(len(v.shape) != len(values[0].shape) or v.shape[1:] != values[0].shape[1:] for v in values) \
            or type(axis) is not int or axis % rank != 1 or rank < 3:
        shapes = ", ".join(batched(v.shape) for v in values)
        raise node.refuse(f"concatenates {shapes} along axis {axis}: minicnn's Concat joins branches of "
                          "(N, C, ...) along the channels (axis 1), equal on every other axis")
    k = 0
    while all(k < len(v.layers) and v.layers[k] is values[0].layers[k] for v in values):
        k += 1
    branches = _nest(node, [v.layers[k:] for v in values])
    flat = [list(_every_layer(branch)) for branch in branches]
    for i, one in enumerate(flat):
        for other in flat[i + 1:]:
            if {id(layer) for layer in one} & {id(layer) for layer in other}:
                raise node.refuse("two of its inputs share a layer that is not on one fork: the graph does not "
                                  "fork at one tensor, as minicnn's Concat does")
    layer = node.make(L.Concat, branches=[list(branch) for branch in branches])
    shape = (sum(v.shape[0] for v in values), *values[0].shape[1:])
    return Data(values[0].layers[:k] + (layer,), shape, values[0].dtype)


def _nest(node, branches):
    """The branches of one Concat, next ones that start with the same layer joined into
    ``[their common layers, Concat(their rests)]``, at any depth. Returns a list of layer lists."""
    out, i = [], 0
    while i < len(branches):
        if not branches[i]:
            raise node.refuse("one of its inputs is the tensor the others branch from (an empty branch): "
                              "minicnn's Concat branches hold at least one layer")
        j = i + 1
        while j < len(branches) and branches[j] and branches[j][0] is branches[i][0]:
            j += 1
        group = branches[i:j]
        if len(group) == 1:
            out.append(list(group[0]))
        else:
            k = 0
            while all(k < len(b) and b[k] is group[0][k] for b in group):
                k += 1
            out.append(list(group[0][:k]) + [node.make(L.Concat, branches=_nest(node, [b[k:] for b in group]))])
        i = j
    return out


def mul(node):
    """Mul: of constants (shape arithmetic), or x times a gate computed from x: a
    squeeze-and-excitation block (:func:`squeeze_excitation`). Any other product has no
    minicnn layer: refused."""
    a, b = node.value(0), node.value(1)
    if not isinstance(a, Data) and not isinstance(b, Data):
        return _fold(node, np.multiply, a, b)
    if not (isinstance(a, Data) and isinstance(b, Data)):
        raise node.refuse("multiplies the data by a constant: minicnn has no layer for that")
    if a is b:
        raise node.refuse("squares the data (x * x): minicnn has no layer for that (PyTorch writes LRN so, and "
                          "minicnn an even-size LocalResponseNorm; minicnn reads LRN as the one op)")
    return squeeze_excitation(node, a, b)


def squeeze_excitation(node, a, b):
    """x * gate(x) -> SqueezeExcitation, when the gate is, from x (PyTorch's forms, minicnn's):

        global average pool -> [flatten] -> Gemm or 1x1 Conv -> Relu -> Gemm or 1x1 Conv
        -> Sigmoid -> [Unsqueeze/Reshape to (N, C, 1, 1)]

    (torchvision's and timm's SqueezeExcitation use 1x1 Conv2d on the (N, C, 1, 1) mean; ONNX
    broadcasts the (N, C, 1, 1) gate over H and W.) x is the input that the other's chain
    starts from; either may come first (torchvision writes ``scale * input``). A 1x1
    convolution W (S, C, 1, 1) is the Dense W[:, :, 0, 0].T; a missing bias is 0.
    """
    for x, gate in ((a, b), (b, a)):
        if len(gate.layers) > len(x.layers) and gate.layers[:len(x.layers)] == x.layers \
                and all(g is l for g, l in zip(gate.layers, x.layers)):
            break
    else:
        raise node.refuse("multiplies two tensors of which neither is computed from the other: minicnn reads a "
                          "product of tensors only as squeeze-and-excitation, x * gate(x)")
    if len(x.shape) == 3 and gate.shape != (x.shape[0], 1, 1):
        raise node.refuse(f"multiplies x {batched(x.shape)} by a gate {batched(gate.shape)}: squeeze-and-excitation "
                          f"multiplies by one value per channel, (N, {x.shape[0]}, 1, 1)")
    why = _se_weights(x, list(gate.layers[len(x.layers):]))
    if isinstance(why, str):
        raise node.refuse(f"x * gate(x), but the gate is not squeeze-and-excitation's: {why}")
    (w1, b1), (w2, b2) = why
    c, s = w1.shape
    layer = node.make(L.SqueezeExcitation, input_channels=c, squeeze_channels=s, dtype=w1.dtype)
    for key, value in (("gate.1.W", w1), ("gate.1.b", b1), ("gate.3.W", w2), ("gate.3.b", b2)):
        _set(layer.params[key], value)
    return node.apply(x, layer)


def _se_weights(x, gate):
    """((W1, b1), (W2, b2)) of a squeeze-and-excitation gate (a list of layers on x), or the
    reason why it is not one."""
    if len(x.shape) != 3:
        return f"x is {batched(x.shape)}; minicnn's SqueezeExcitation takes (N, C, H, W)"
    c = x.shape[0]
    if not gate or type(gate[0]) is not L.GlobalAvgPool2D:
        return "it does not start with a global average pool of x"
    rest = gate[1:]
    while rest and type(rest[-1]) is L.Reshape and tuple(rest[-1].shape) in ((c, 1), (c, 1, 1)):
        rest = rest[:-1]                                   # the gate (N, C) made (N, C, 1, 1), in one step or two
    if rest and type(rest[0]) is L.Reshape and tuple(rest[0].shape) == (c, 1, 1):
        rest = rest[1:]                                    # GlobalAveragePool's kept axes
    kinds = [type(layer) for layer in rest]
    if len(rest) != 4 or kinds[1:] != [L.ReLU, kinds[0], L.Sigmoid] or kinds[0] not in (L.Dense, L.Conv2D):
        names = ", ".join(k.__name__ for k in kinds)
        return (f"after the pool it computes {names or 'nothing'}; expected Dense/1x1 Conv, ReLU, "
                "Dense/1x1 Conv, Sigmoid")
    pairs = []
    for layer in (rest[0], rest[2]):
        if isinstance(layer, L.Conv2D):
            if layer.kernel_size != (1, 1) or layer.groups != 1 or layer.pads_for((1, 1)) != ((0, 0), (0, 0)):
                return f"{layer!r} is not a 1x1 convolution without padding"
            w = layer.params["W"].data[:, :, 0, 0].T
            out = layer.out_channels
        else:
            w, out = layer.params["W"].data, layer.out_features
        b = layer.params["b"].data if layer.bias else np.zeros(out, dtype=w.dtype)
        pairs.append((w, b))
    (w1, _), (w2, _) = pairs
    if w1.shape[0] != c or w2.shape != (w1.shape[1], c):
        return f"its weights {w1.shape} and {w2.shape} do not map {c} channels to {c}"
    return pairs


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
    return _fold(node, take, data)


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
    return _fold(node, value.astype, dtype)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------
#: ONNX op type (default domain) -> importer.
IMPORTERS = {
    "Conv": conv,
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "GlobalAveragePool": global_average_pool,
    "ReduceMean": reduce_mean,
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": add,
    "BatchNormalization": batch_normalization,
    "Flatten": flatten,
    "Reshape": reshape,
    "Relu": relu,
    "Clip": clip,
    "LRN": lrn,
    "Mul": mul,
    "LeakyRelu": leaky_relu,
    "Sigmoid": sigmoid,
    "Tanh": tanh,
    "Softmax": softmax,
    "Dropout": dropout,
    "Identity": identity,
    # shape arithmetic on constants
    "Constant": constant,
    "Shape": shape,
    "Gather": gather,
    "Unsqueeze": unsqueeze,
    "Squeeze": squeeze,
    "Concat": concat,
    "Slice": slice_,
    "Cast": cast,
}


# ---------------------------------------------------------------------------
# The whole file
# ---------------------------------------------------------------------------
def load(path):
    """Read an ONNX file into a ``minicnn.Sequential``.

    The graph must be made of the ops in :data:`IMPORTERS` on one float input
    (N, *sample) with fixed per-sample dimensions (N may be anything): a chain, and
    residual blocks (two branches from one tensor, added), such as
    ``minicnn.onnx.export`` writes, or ``torch.onnx.export`` writes for
    Conv/BatchNorm/ReLU/pooling/Linear stacks, ResNets, Inception blocks (Concat), SE blocks,
    grouped and depthwise convolutions (either exporter).

    Raises ``FileNotFoundError`` for a missing file; ``ValueError`` naming the file
    for one that is not ONNX, and naming the node, its op and the reason for anything
    minicnn cannot compute exactly; ``ImportError`` when onnx is not installed.
    """
    path = check_path(path, "path", refuse_folder=False)     # a folder: refused below, in its own words
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"cannot load {path}: it is a directory, not an ONNX file")
    onnx = require_onnx()
    proto = _read(onnx, path)
    return _build(onnx, proto, path)


def _read(onnx, path):
    """Parse and check the file: a ValueError naming it for anything that is not a valid ONNX model."""
    from google.protobuf.message import DecodeError
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as exc:
        raise ValueError(f"cannot load {path}: {exc}") from exc
    try:
        proto = onnx.ModelProto.FromString(blob)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"cannot load {path}: it is not an ONNX file ({exc})") from exc
    if not proto.HasField("graph"):
        raise ValueError(f"cannot load {path}: it is not an ONNX model (it has no graph)")
    _read_external_data(onnx, proto, path)
    try:
        onnx.checker.check_model(proto)
    # a damaged name that is not UTF-8 makes the checker's own message undecodable
    except (onnx.checker.ValidationError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load {path}: it is not a valid ONNX model ({reason})") from exc
    return proto


def _read_external_data(onnx, proto, path):
    """Read the tensors stored beside the model into it.

    PyTorch's default exporter writes the weights to ``model.onnx.data`` beside
    ``model.onnx`` (``external_data=True``). Each such tensor names its file
    (``location``, relative to the model's folder), an ``offset`` and a ``length``.
    Only files inside the model's folder are read: a file must not make minicnn
    read ``/etc/passwd`` or ``../../secret``.
    """
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    tensors = list(proto.graph.initializer)
    for node in proto.graph.node:
        for attribute in node.attribute:
            tensors += [attribute.t] if attribute.HasField("t") else []
            tensors += list(attribute.tensors)
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        where = f"cannot load {path}: tensor {tensor.name!r} is stored in {info.get('location', '')!r}"
        location = info.get("location", "")
        # protobuf hands over a damaged (not UTF-8) string as bytes; the OS takes no NUL in a path
        if not isinstance(location, str) or "\0" in location:
            raise ValueError(f"{where}, a location that is not a file name")
        target = os.path.realpath(os.path.join(folder, location))
        if not location or os.path.isabs(location) or os.path.commonpath([folder, target]) != folder:
            raise ValueError(f"{where}, which is not a file in the model's folder")
        try:
            itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: unknown data type {tensor.data_type}") from exc
        if any(n < 0 for n in tensor.dims):
            raise ValueError(f"{where}: its dims {list(tensor.dims)} are not sizes")
        needed = itemsize * math.prod(tensor.dims)
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
        except ValueError as exc:
            raise ValueError(f"{where}: its offset or length is not a number") from exc
        if offset < 0 or length < -1:
            raise ValueError(f"{where}: offset {offset} and length {length} must not be negative")
        # every size is checked before a byte is read: a damaged or crafted length
        # (10**15) must not become a read buffer of that size
        if length >= 0 and length != needed:
            raise ValueError(f"{where}: it declares {length} bytes there, the tensor needs {needed} "
                             f"(dims {list(tensor.dims)}, {itemsize} bytes each)")
        try:
            with open(target, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if offset > size:
                    raise ValueError(f"{where}: offset {offset} is beyond the file's end ({size} bytes)")
                held = size - offset if length < 0 else min(length, size - offset)
                if held != needed:
                    raise ValueError(f"{where}: it holds {held} bytes there, the tensor needs {needed}")
                f.seek(offset)
                data = f.read(needed)
        except OSError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        if len(data) != needed:             # the file shrank while we read it
            raise ValueError(f"{where}: it holds {len(data)} bytes there, the tensor needs {needed}")
        tensor.raw_data = data
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]


def _to_array(context, tensor, where):
    """A TensorProto's values as a NumPy array; tensors in external files are refused."""
    if tensor.data_location == context.onnx.TensorProto.EXTERNAL:
        raise context.refuse(f"{where}: tensor {tensor.name!r} is stored in an external file, "
                             "which minicnn does not read")
    try:
        return context.onnx.numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        raise context.refuse(f"{where}: cannot read tensor {tensor.name!r}: {exc}") from exc


def _opset(proto, path):
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ValueError(f"{path}: it imports no ONNX opset")
    if versions[0] < MIN_OPSET:
        raise ValueError(f"{path}: opset {versions[0]} is older than {MIN_OPSET}, the oldest minicnn reads")
    if versions[0] > MAX_OPSET:             # an op may mean something else there (onnxruntime refuses too)
        raise ValueError(f"{path}: opset {versions[0]} is newer than {MAX_OPSET}, the newest minicnn reads; "
                         f"export it with an opset from {MIN_OPSET} to {MAX_OPSET} "
                         "(torch.onnx.export's opset_version)")
    return versions[0]


def _architecture(proto):
    """minicnn's architecture from the file's metadata, or None (absent or not JSON)."""
    for prop in proto.metadata_props:
        if prop.key == ARCHITECTURE_KEY:
            try:
                return json.loads(prop.value)
            except (ValueError, TypeError, RecursionError):    # not minicnn's: the graph alone decides
                return None
    return None


def _graph_input(context, graph):
    """The one graph input that is not an initializer: (name, per-sample shape, dtype)."""
    initialized = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialized]
    if len(inputs) != 1:
        raise context.refuse(f"the graph has {len(inputs)} inputs {[i.name for i in inputs]}; a minicnn "
                             "model has one")
    vi = inputs[0]
    if vi.type.WhichOneof("value") != "tensor_type":
        raise context.refuse(f"the graph input {vi.name!r} is not a tensor")
    tensor_type = vi.type.tensor_type
    try:
        dtype = np.dtype(context.onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype not in FLOAT_DTYPES:
        name = context.onnx.TensorProto.DataType.Name(tensor_type.elem_type) \
            if tensor_type.elem_type in context.onnx.TensorProto.DataType.values() else tensor_type.elem_type
        raise context.refuse(f"the graph input {vi.name!r} has element type {name}; minicnn computes "
                             "in float16, float32 or float64")
    if not tensor_type.HasField("shape") or not tensor_type.shape.dim:
        raise context.refuse(f"the graph input {vi.name!r} has no shape (minicnn needs (N, *sample))")
    dims = tensor_type.shape.dim
    for k, d in enumerate(dims[1:], 1):
        if not d.HasField("dim_value") or d.dim_value < 1:
            raise context.refuse(f"dimension {k} of the graph input {vi.name!r} is "
                                 f"{d.dim_param or d.dim_value or 'unknown'!r}: only the batch axis (0) may vary")
    if dims[0].HasField("dim_value"):
        if dims[0].dim_value < 1:
            raise context.refuse(f"the graph input {vi.name!r} has batch size {dims[0].dim_value}")
        context.batch = dims[0].dim_value
    return vi.name, tuple(d.dim_value for d in dims[1:]), dtype


def _check_output(context, vi, value):
    """The graph output must be computed from the input, with the shape it declares."""
    if not isinstance(value, Data):
        raise context.refuse(f"the graph output {vi.name!r} does not depend on the graph input")
    dims = vi.type.tensor_type.shape.dim if vi.type.WhichOneof("value") == "tensor_type" else []
    declared = [d.dim_value if d.HasField("dim_value") else None for d in dims[1:]]
    if dims and (len(declared) != len(value.shape)
                 or any(d is not None and d != s for d, s in zip(declared, value.shape))):
        raise context.refuse(f"the graph output {vi.name!r} is declared {batched(declared)} but the "
                             f"layers compute {batched(value.shape)}")


def _build(onnx, proto, path):
    from ..model import Sequential
    graph = proto.graph
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    context = Context(onnx, path, _opset(proto, path), used, _architecture(proto))
    if len(graph.sparse_initializer):
        raise context.refuse("sparse initializers are not supported")
    values = {t.name: _to_array(context, t, "initializer") for t in graph.initializer}
    name, sample_shape, dtype = _graph_input(context, graph)
    values[name] = Data((), sample_shape, dtype)
    for index, node_proto in enumerate(graph.node):
        node = Node(node_proto, index, values, context)
        importer = IMPORTERS.get(node.op) if node_proto.domain in ("", "ai.onnx") else None
        if importer is None:
            op = node.op if node_proto.domain in ("", "ai.onnx") else f"{node_proto.domain}.{node.op}"
            raise node.refuse(f"op {op} is not supported; minicnn reads {', '.join(IMPORTERS)}")
        if not node_proto.output or not node_proto.output[0]:
            raise node.refuse("it has no output")
        value = importer(node)
        node.finish()
        values[node_proto.output[0]] = value
    if len(graph.output) != 1:
        raise context.refuse(f"the graph has {len(graph.output)} outputs "
                             f"{[o.name for o in graph.output]}; a minicnn model has one")
    out = graph.output[0]
    value = values.get(out.name)
    if value is None:
        raise context.refuse(f"no node computes the graph output {out.name!r}")
    _check_output(context, out, value)
    return Sequential(list(value.layers))
