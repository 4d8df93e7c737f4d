"""Importers of the Dense forms: Gemm, MatMul, and Add (a MatMul's bias; two branches meeting).

Gemm is PyTorch's Linear on (N, in); MatMul with a constant (in, out) is a Dense without
bias, and an Add of a constant right after it that Dense's bias (``Data.after_matmul``):
how PyTorch writes a Linear on (N, ..., in).
"""
import dataclasses

import numpy as np

from ... import layers as L
from .branches import add_of_branches
from .graph import FLOAT_DTYPES, Data, init_argument, set_param
from .normalize import normalized


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
                      dtype=w.dtype, **init_argument(node.hint(L.Dense)))
    set_param(layer.params["W"], w)
    if bias is not None:
        set_param(layer.params["b"], bias)
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
                      **init_argument(node.hint(L.Dense)))
    set_param(layer.params["W"], w)
    return dataclasses.replace(node.apply(x, layer), after_matmul=True)


def add(node):
    """Add: the bias after a MatMul, or two branches meeting (a residual connection).

    - Data + constant right after ``MatMul``: the constant becomes the bias of that
      Dense (MatMul + Add = Dense, y = x @ W + b).
    - Data + Data: a residual connection, see :func:`add_of_branches`.
    - constant + constant: shape arithmetic, computed here.
    - Data + constant elsewhere: a Normalize (one number, or one per channel: ``x * scale + shift``;
      see :mod:`.normalize`), else refused.
    """
    a, b = node.value(0), node.value(1)
    if isinstance(a, Data) and isinstance(b, Data):
        return add_of_branches(node, a, b)
    if not isinstance(a, Data) and not isinstance(b, Data):
        return node.fold(np.add, a, b)
    x, c = (a, b) if isinstance(a, Data) else (b, a)
    if not x.after_matmul:
        return normalized(node, x, c)
    if c.dtype not in FLOAT_DTYPES:
        raise node.refuse(f"the added constant has dtype {c.dtype}")
    dense = x.layers[-1]
    bias = _bias_vector(node, c, dense.out_features, len(x.shape) + 1, "the added constant")
    layer = node.make(L.Dense, in_features=dense.in_features, out_features=dense.out_features, bias=True,
                      dtype=dense.dtype, init=dense.init)
    set_param(layer.params["W"], dense.params["W"].data)
    set_param(layer.params["b"], bias)
    return Data(x.layers[:-1] + (layer,), x.shape, x.dtype)

