"""Importers of arithmetic by a constant: Sub and Div, and the Add and Mul of the data and a
constant that are no Dense's bias: minicnn's Normalize, y = (x - mean) / std per channel.

PyTorch writes an input normalisation inside the model, ``(x - self.mean) / self.std``, as a Sub
and a Div by per-channel constants (both exporters, the constants in either order that PyTorch
writes: ``x - mean`` or ``mean - x``); ``x * scale + shift`` as a Mul and an Add. Each of these
ops of the data and a constant of one number, or one per channel, is a Normalize, and one right
after a Normalize is folded into it, so that Sub then Div (or Mul then Add) is one layer:

    Normalize(m, s) then  - c:  (x - (m + c s)) / s        c - :  (x - (m + c s)) / (-s)
                          + c:  (x - (m - c s)) / s        * c:   (x - m) / (s / c)
                          / c:  (x - m) / (s c)

(x itself is Normalize(0, 1)). Sub and Div of constants are shape arithmetic, computed here.
"""
import numpy as np

from ... import layers as L
from .._common import short_float
from .graph import FLOAT_DTYPES, Data, batched

#: What each op does to the data, for the messages.
VERBS = {"Sub": "subtracts", "Add": "adds", "Mul": "multiplies", "Div": "divides"}


def sub(node):
    """Sub: of constants, computed here; of the data and a constant, a Normalize (see the module)."""
    a, b = node.value(0), node.value(1)
    if not isinstance(a, Data) and not isinstance(b, Data):
        return node.fold(np.subtract, a, b)
    if isinstance(a, Data) and isinstance(b, Data):
        raise node.refuse(f"subtracts two tensors computed from the data ({batched(a.shape)} - {batched(b.shape)}): "
                          "minicnn has no layer for that; it reads a Sub of the data only with a constant "
                          "(Normalize's x - mean)")
    return normalized(node, a if isinstance(a, Data) else b, b if isinstance(a, Data) else a, data_first=isinstance(a, Data))


def div(node):
    """Div: of constants, computed here (ints truncated toward 0, as ONNX divides them); of the
    data by a constant, a Normalize (see the module). (Div of x by a LocalResponseNorm's
    denominator is that layer's last step: :class:`~.decompositions.LrnSteps`.)"""
    a, b = node.value(0), node.value(1)
    if not isinstance(a, Data) and not isinstance(b, Data):
        return node.fold(_divide, a, b)
    if isinstance(b, Data):
        raise node.refuse(f"divides {'the data' if isinstance(a, Data) else 'a constant'} by the data "
                          f"{batched(b.shape)}: minicnn has no layer for that; it reads a Div of the data only "
                          "by a constant (Normalize's (x - mean) / std), and x divided by the last step of a "
                          "LocalResponseNorm")
    return normalized(node, a, b)


def _divide(a, b):
    """ONNX's Div: true division of floats, of ints truncated toward 0 (shape arithmetic, where a
    shape computed from the data is an object array of ints, and N, which no Div may take)."""
    if not {a.dtype.kind, b.dtype.kind} <= set("iuO"):
        return np.true_divide(a, b)
    a, b = np.broadcast_arrays(a, b)
    quotients = []
    for p, q in zip(a.ravel().tolist(), b.ravel().tolist()):
        if type(p) is not int or type(q) is not int or q == 0:
            raise ValueError(f"{p!r} / {q!r} is no division of ints that a shape holds")
        quotients.append(abs(p) // abs(q) * (1 if (p < 0) == (q < 0) else -1))
    return np.array(quotients, dtype=np.int64).reshape(a.shape)


def per_channel(node, x, c):
    """The constant ``c`` of an op with the data x, as one float or one float per channel: it must
    broadcast over (N, C, *) as one number, or as (C, 1, ...) / (1, C, 1, ...); else refused."""
    rank = len(x.shape) + 1
    shape = (1,) * (rank - c.ndim) + c.shape if c.ndim <= rank else None
    channels = x.shape[0] if x.shape else 1
    if (c.dtype not in FLOAT_DTYPES or shape is None or shape[0] != 1
            or (rank > 1 and shape[1] not in (1, channels)) or any(d != 1 for d in shape[2:])):
        raise node.refuse(f"{VERBS[node.op]} the data {batched(x.shape)} and a constant of dtype {c.dtype} and shape {c.shape}: "
                          "minicnn reads that only as Normalize, (x - mean) / std per channel, with a float constant "
                          "of one number or one per channel ((C, 1, ...) or (1, C, 1, ...))")
    values = c.reshape(-1)
    return np.array([float(v) if c.dtype == np.float64 else short_float(v) for v in values])


def normalized(node, x, c, data_first=True):
    """The Normalize that the node (Sub, Add, Mul, Div of x and the constant c) computes, folded
    into the Normalize right before it when there is one. ``data_first``: x is the first input
    (for Sub: x - c; else c - x)."""
    values = per_channel(node, x, c)
    last = x.layers[-1] if x.layers else None
    if type(last) is L.Normalize:
        base, mean, std = Data(x.layers[:-1], x.shape, x.dtype), np.array(last.mean), np.array(last.std)
    else:
        base, mean, std = x, np.zeros(1), np.ones(1)
    if node.op in ("Mul", "Div") and np.any(values == 0):
        raise node.refuse(f"{VERBS[node.op]} the data by 0: Normalize's std would be {'infinite' if node.op == 'Mul' else '0'}")
    if node.op == "Sub":
        mean, std = mean + values * std, std if data_first else -std
    elif node.op == "Add":
        mean = mean - values * std
    elif node.op == "Mul":
        std = std / values
    else:
        std = std * values
    mean, std = np.broadcast_arrays(mean, std)
    return node.apply(base, node.make(L.Normalize, mean=[float(v) for v in mean], std=[float(v) for v in std]))
