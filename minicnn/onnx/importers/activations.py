"""Importers of normalisation and activations: BatchNormalization, LRN, Relu, Clip, LeakyRelu,
Sigmoid, Tanh, HardSigmoid, HardSwish, Softmax, LogSoftmax, Dropout. (The LocalResponseNorm
written as several nodes is in :mod:`.decompositions`; SiLU, written x * sigmoid(x), and Hardswish
of opset 13, x * hardsigmoid(x), come from a Mul: :func:`.branches.mul`.)
"""
import numpy as np

from ... import layers as L
from .._common import short_float
from .graph import FLOAT_DTYPES, batched, set_param


def batch_normalization(node):
    """BatchNormalization -> BatchNorm on (N, C, ...):

        y = scale * (x - mean) / sqrt(var + epsilon) + B

    with scale, B, mean, var (C,) -> gamma, beta, running_mean, running_var. A graph exported in
    training mode (``training_mode=1``, or the running-statistics outputs of old opsets: PyTorch's
    ``training=TrainingMode.TRAINING``, which keeps BatchNorm and Dropout to fine-tune) is read
    as the same BatchNorm: minicnn's layer normalises by the batch's statistics in ``fit`` and by
    the running ones (the file's mean and var) in ``predict``, as PyTorch's ``train()`` and
    ``eval()``. Its statistics outputs may not be read by another node. ONNX's momentum m
    weighs the old running value; minicnn's weighs the new batch: 1 - m.
    """
    x = node.data(0)
    node.attr("training_mode")
    if node.attr("spatial", 1) != 1:
        raise node.refuse("spatial=0 (statistics per channel and position)")
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


def hard_sigmoid(node):
    """HardSigmoid(alpha, beta) -> Hardsigmoid when alpha is 1/6 and beta 1/2 (PyTorch's, as both
    exporters write it): y = max(0, min(1, x / 6 + 1/2)). Other slopes (ONNX's default alpha 0.2,
    Keras's hard_sigmoid) have no minicnn layer: refused."""
    alpha, beta = short_float(node.attr("alpha", 0.2)), short_float(node.attr("beta", 0.5))
    if (alpha, beta) != (short_float(1 / 6), 0.5):
        raise node.refuse(f"HardSigmoid with alpha={alpha}, beta={beta}: minicnn's Hardsigmoid is PyTorch's, "
                          "alpha 1/6 and beta 1/2 (relu6(x + 3) / 6)")
    return node.apply(node.data(0), L.Hardsigmoid())


def hard_swish(node):
    """HardSwish -> Hardswish: y = x * max(0, min(1, x / 6 + 1/2)) (PyTorch's, opset 14 on)."""
    return node.apply(node.data(0), L.Hardswish())


def softmax(node):
    """Softmax -> Softmax(axis), LogSoftmax -> LogSoftmax(axis): exp(x) / sum(exp(x)) along one
    axis (not the batch axis), and its logarithm.

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
    return node.apply(x, node.make(L.LogSoftmax if node.op == "LogSoftmax" else L.Softmax, axis=axis))


def dropout(node):
    """Dropout -> Dropout(p=ratio): the identity in ``predict``, random drops in ``fit``.

    In training mode (``training_mode`` True, PyTorch's ``training=TrainingMode.TRAINING``) ONNX
    drops values too; minicnn reads the same layer, which drops only in ``fit``. The mask output
    is refused when used (it is a second output).
    """
    x = node.data(0)
    if node.opset >= 12:                    # ratio and training_mode became inputs in opset 12
        ratio = node.const(1, default=np.array(0.5, dtype=np.float32), what="Dropout's ratio")
        training = node.const(2, default=np.array(False), what="Dropout's training_mode")
        if ratio.shape != () or ratio.dtype not in FLOAT_DTYPES or training.shape != () or training.dtype.kind != "b":
            raise node.refuse("ratio must be a float scalar and training_mode a bool scalar")
        node.attr("seed")                   # drawing masks only: minicnn draws its own
        ratio = float(ratio)
    else:
        ratio = node.attr("ratio", 0.5)
    return node.apply(x, node.make(L.Dropout, p=short_float(ratio)))

