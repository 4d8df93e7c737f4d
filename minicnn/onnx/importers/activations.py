"""Importers of normalisation and activations: BatchNormalization, LRN, Relu, Clip, LeakyRelu,
Sigmoid, Tanh, Softmax, Dropout; and the LocalResponseNorm that minicnn writes as several nodes
where ONNX's LRN cannot compute it (:func:`start_lrn`).
"""
import dataclasses
import math

import numpy as np

from ... import layers as L
from .._common import short_float
from .graph import FLOAT_DTYPES, Data, Partial, batched, set_param


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
    set_param(layer.params["gamma"], scale)
    set_param(layer.params["beta"], bias)
    layer.running_mean[...] = mean
    layer.running_var[...] = var
    return node.apply(x, layer)


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
    the same for an odd size; an even size (one channel apart) is refused: minicnn writes
    those as several nodes, read back by :func:`start_lrn`.
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


#: The nodes minicnn writes for a LocalResponseNorm that ONNX's LRN cannot compute (an even
#: size, alpha or beta 0, an input that is not 4-D: see ``exporters.local_response_norm``):
#: x * x, Reshape to (N, 1, C, rest), AveragePool over (n, 1), Reshape back, Mul alpha, Add k,
#: Pow -beta, Mul x.
LRN_NODES = ("Mul", "Reshape", "AveragePool", "Reshape", "Mul", "Add", "Pow", "Mul")


def start_lrn(node, x):
    """x * x: the first of :data:`LRN_NODES`, a Data that only the next of them may read."""
    if len(x.shape) < 2:
        raise node.refuse(f"squares the data {batched(x.shape)} (x * x): minicnn has no layer for that")
    return Data(x.layers, x.shape, x.dtype, partial=Partial("LocalResponseNorm", LRN_NODES, 1, x, {}, node.label))


def continue_lrn(node, partial):
    """The next of :data:`LRN_NODES` after ``partial``, checked against what minicnn writes
    there: the next Partial, or after the last node the LocalResponseNorm applied to x.

        d = k + alpha * (the mean of x^2 over the window)      (AveragePool counts the padding: s_c / n)
        y = x * d^(-beta)

    which is the layer's y_c = x_c * (k + alpha / n * s_c)^(-beta), n the pool's height.
    A node of another kind, or of other arguments, reading a step is refused.
    """
    x, step, found = partial.of, partial.step, dict(partial.found)
    op, c, rest = LRN_NODES[step], x.shape[0], math.prod(x.shape[1:])
    here = [i for i in range(len(node.proto.input)) if node.partial(i) is partial]
    other = [i for i in range(len(node.proto.input)) if i not in here]
    first = op in ("Reshape", "AveragePool", "Pow")          # the step is input 0 there, not either
    if node.op != op or len(here) != 1 or len(other) != (op != "AveragePool") or (first and here != [0]):
        raise _not_lrn(node, partial)
    shape = x.shape
    if op == "Reshape":                     # to (N, 1, C, rest) first, then back to x's shape
        target = [0, 1, c, -1] if step == 1 else [0, *x.shape]
        if node.attr("allowzero", 0) != 0 or _ints(node.const(1)) != target:
            raise _not_lrn(node, partial)
        shape = (1, c, rest) if step == 1 else x.shape
    elif op == "AveragePool":               # the window's mean, s_c / n, over (n, 1)
        n = (node.attr("kernel_shape") or [0])[0]
        if type(n) is not int or n < 1 or [node.attr(a, d) for a, d in _LRN_POOL] != [
                [n, 1], [1, 1], [n // 2, 0, (n - 1) // 2, 0], 1, 0, "NOTSET", [1, 1]]:
            raise _not_lrn(node, partial)
        found["size"], shape = n, (1, c, rest)
    elif step < len(LRN_NODES) - 1:         # Mul alpha, Add k, Pow -beta: float scalars
        value = node.const(other[0])
        if value.dtype not in FLOAT_DTYPES or value.size != 1 or value.ndim > 1:
            raise _not_lrn(node, partial)
        number = float(value.reshape(()))
        number = number if value.dtype == np.float64 else short_float(number)
        found[{"Mul": "alpha", "Add": "k", "Pow": "beta"}[op]] = -number if op == "Pow" else number
    elif node.value(other[0]) is x:         # the last Mul: x * d^(-beta)
        return node.apply(x, node.make(L.LocalResponseNorm, **found))
    else:
        raise _not_lrn(node, partial)
    return Data(x.layers, shape, x.dtype, partial=dataclasses.replace(partial, step=step + 1, found=found))


def _not_lrn(node, partial):
    return node.refuse(f"it reads {partial}, but it is not the {LRN_NODES[partial.step]} minicnn writes next: "
                       "minicnn reads those nodes only as that whole layer")


#: The attributes of the AveragePool of :data:`LRN_NODES`, with ONNX's defaults.
_LRN_POOL = (("kernel_shape", None), ("strides", None), ("pads", None), ("count_include_pad", 0),
             ("ceil_mode", 0), ("auto_pad", "NOTSET"), ("dilations", [1, 1]))


def _ints(array):
    """A constant 1-D int array as a list (None for anything else)."""
    return array.tolist() if array.ndim == 1 and array.dtype.kind in "iu" else None


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

