"""The branch motifs: where chains that forked meet again.

Each Data carries its chain of layers from the graph input, so two chains that meet share
their first layers (the very same objects) up to the tensor x where the graph forked, and
the rest of each chain is one branch (:func:`~.graph.common_prefix`):

- ``Add`` of two chains: a residual block, ``Residual(block, shortcut)`` (:func:`add_of_branches`);
- ``Concat`` of chains along the channels: an Inception block, ``Concat(branches)``
  (:func:`concat_of_branches`);
- ``Mul`` of x by a chain that starts at x: SiLU, Hardswish or squeeze-and-excitation's
  ``SqueezeExcitation`` (:func:`product_of_data`); x * x is the first step of a
  LocalResponseNorm written as several nodes (:func:`~.decompositions.start_lrn`).

The branches after the fork must share no layer (:func:`~.graph.shared_layer`): else the graph
does not fork at one tensor, and no minicnn layer computes it.
"""
import numpy as np

from ... import layers as L
from ...layers.branches import GATE_ACTIVATIONS
from .decompositions import start_lrn
from .graph import Data, batched, common_prefix, set_param, shared_layer
from .normalize import normalized


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
    changes no result.) x + x is a Residual of an empty block (an empty Sequential is the
    identity, as PyTorch's ``nn.Sequential()``): y = x + x. Refused: tensors of different
    shapes (ONNX would broadcast), and branches that share a layer: then the graph does not
    fork at one tensor, e.g. (u + t) + u, where u is used inside the first sum and again
    outside it.
    """
    k = common_prefix([a.layers, b.layers])
    block, shortcut = a.layers[k:], b.layers[k:]
    if not block:
        block, shortcut = shortcut, block
    if a.shape != b.shape:
        raise node.refuse(f"adds tensors of shapes {batched(a.shape)} and {batched(b.shape)} (broadcasting); "
                          "minicnn's Residual adds two branches of the same shape")
    shared = shared_layer([block, shortcut])
    if shared:
        raise node.refuse(f"the two branches share a {shared} (a tensor inside one sum is also used outside it): "
                          "the graph does not fork at one tensor, as minicnn's Residual does")
    residual = node.make(L.Residual, block=list(block), shortcut=list(shortcut) or None)
    return Data(a.layers[:k] + (residual,), a.shape, a.dtype)


def concat(node):
    """Concat of constants along ``axis`` (shape arithmetic); of tensors that all come from the
    graph input, along the channels: Inception's branches, see :func:`concat_of_branches`."""
    values = node.inputs()
    if values and all(isinstance(v, Data) for v in values):
        return concat_of_branches(node, values)
    data = [i for i, v in enumerate(values) if isinstance(v, Data)]
    if data:
        raise node.refuse(f"concatenates the data (input {data[0]}, {batched(values[data[0]].shape)}) with a constant: "
                          "minicnn has no layer for that; it reads a Concat of tensors computed from the data (branches, "
                          "along the channels) and a Concat of constants (shape arithmetic), not the two mixed")
    return node.fold(np.concatenate, values, node.attr("axis"))


def concat_of_branches(node, values):
    """Concat along axis 1 of tensors computed from the graph input -> minicnn's Concat.

    As for a residual Add (:func:`add_of_branches`), each input's chain shares its first
    layers (the same objects) with the others up to the tensor x where the graph forks; the
    rest of each chain is one branch: y = concatenate([branch0(x), branch1(x), ...], axis=1).
    An input that is x itself is an empty branch (the identity): DenseNet's torch.cat([x, f(x)], 1);
    its dense blocks' cat of every feature map before, each computed from the cat of those before
    it, is read so too (:func:`_grown`). Inputs whose branches start with the same layer fork again later: PyTorch's ``torch.cat([a(t), b(t), c], 1)`` with
    t = stem(x) (Inception-v4's InceptionC) is the branch ``[stem, Concat([[a], [b]])]`` beside
    ``[c]`` (see :func:`_nest`). The branches may give (N, C) as well as (N, C, H, W).
    Refused: other axes than 1, inputs that differ on another axis, and branches that share
    a layer elsewhere (the graph does not fork at one tensor).
    """
    axis = node.attr("axis")
    rank = len(values[0].shape) + 1
    if len(values) == 1:
        return values[0]
    shapes = ", ".join(batched(v.shape) for v in values)
    if type(axis) is not int or not -rank <= axis < rank or axis % rank != 1:
        raise node.refuse(f"concatenates {shapes} along axis {axis!r}: minicnn's Concat joins its branches "
                          "along axis 1 (the channels)")
    if any(len(v.shape) != len(values[0].shape) or v.shape[1:] != values[0].shape[1:] for v in values):
        raise node.refuse(f"concatenates {shapes} along axis 1: they differ on another axis too")
    given, values = values, _grown(node, values)
    k = common_prefix([v.layers for v in values])
    branches = _nest(node, [v.layers[k:] for v in values])
    if shared_layer(branches):
        raise node.refuse("two of its inputs share a layer that is not on one fork: the graph does not "
                          "fork at one tensor, as minicnn's Concat does")
    layer = node.make(L.Concat, branches=branches)
    shape = (sum(v.shape[0] for v in values), *values[0].shape[1:])
    out = Data(values[0].layers[:k] + (layer,), shape, values[0].dtype)
    node.context.concats[tuple(map(id, given))] = (given, out)     # the inputs kept: their ids stay theirs
    return out


def _grown(node, values):
    """DenseNet's form: torch.cat([x0, x1, ..., xk], 1) where x_k is computed from the cat of the
    inputs before it, which an earlier Concat node made (``torch.cat(features, 1)`` of a dense block,
    as torchvision writes it). Concatenating is associative, so the inputs whose Concat is already a
    tensor T become T, and the rest are computed from T: cat(T, f(T)), a Concat of an empty branch
    (T itself) and f. Returns the inputs, the longest such start replaced by T."""
    for m in range(len(values) - 1, 1, -1):
        known = node.context.concats.get(tuple(map(id, values[:m])))
        if known is not None:
            return [known[1], *values[m:]]
    return values


def _nest(node, branches):
    """The branches of one Concat, next ones that start with the same layer joined into
    ``[their common layers, Concat(their rests)]``, at any depth. Returns a list of layer lists
    (an empty one for an input that is the fork itself)."""
    out, i = [], 0
    while i < len(branches):
        j = i + 1
        while j < len(branches) and branches[i] and branches[j] and branches[j][0] is branches[i][0]:
            j += 1
        group = branches[i:j]
        if len(group) == 1:
            out.append(list(group[0]))
        else:
            k = common_prefix(group)
            out.append(list(group[0][:k]) + [node.make(L.Concat, branches=_nest(node, [b[k:] for b in group]))])
        i = j
    return out


def mul(node):
    """Mul: of constants (shape arithmetic); of the data and a constant, a Normalize
    (:func:`.normalize.normalized`); of two tensors computed from the data, x times a function of
    x (:func:`product_of_data`), or x * x (the start of a LocalResponseNorm,
    :func:`~.decompositions.start_lrn`)."""
    a, b = node.value(0), node.value(1)
    if not isinstance(a, Data) and not isinstance(b, Data):
        return node.fold(np.multiply, a, b)
    if not (isinstance(a, Data) and isinstance(b, Data)):
        return normalized(node, a if isinstance(a, Data) else b, b if isinstance(a, Data) else a)
    if a is b:                              # x * x: the first step of a LocalResponseNorm
        return start_lrn(node, a)
    return product_of_data(node, a, b)


#: What minicnn reads a product of two tensors computed from the data as, for the refusals.
PRODUCTS = ("minicnn reads a product of two computed tensors only as x * f(x): SiLU (f = Sigmoid), Hardswish "
            "(f = HardSigmoid), squeeze-and-excitation (f = a gate of the channels' means), and x * x as the first "
            "step of a LocalResponseNorm")


def product_of_data(node, a, b):
    """x * f(x), x the input that the other's chain starts from (either may come first):

    - f = Sigmoid: SiLU, y = x * sigmoid(x) (how PyTorch writes ``nn.SiLU``);
    - f = Hardsigmoid: Hardswish (how PyTorch's legacy exporter writes ``nn.Hardswish`` before opset 14);
    - f = a gate of the channels' means, (N, C, 1, 1): squeeze-and-excitation (:func:`squeeze_excitation`).

    Any other product of two computed tensors has no minicnn layer: refused, saying what minicnn reads.
    """
    for x, gate in ((a, b), (b, a)):
        if len(gate.layers) > len(x.layers) == common_prefix([x.layers, gate.layers]):
            break
    else:
        raise node.refuse(f"multiplies two tensors computed from the data, {batched(a.shape)} and {batched(b.shape)}, "
                          f"of which neither is computed from the other: {PRODUCTS}")
    rest = gate.layers[len(x.layers):]
    if len(rest) == 1 and type(rest[0]) in (L.Sigmoid, L.Hardsigmoid) and gate.shape == x.shape:
        return node.apply(x, L.SiLU() if type(rest[0]) is L.Sigmoid else L.Hardswish())
    return squeeze_excitation(node, x, gate)


def squeeze_excitation(node, x, gate):
    """x * gate(x) -> SqueezeExcitation, when the gate is, from x (PyTorch's forms, minicnn's):

        global average pool -> [flatten] -> Gemm or 1x1 Conv -> [BatchNormalization] -> act
        -> Gemm or 1x1 Conv -> scale_act -> [Unsqueeze/Reshape to (N, C, 1, 1)]

    with act and scale_act activations minicnn's SqueezeExcitation takes (ReLU and Sigmoid for
    SENet's, torchvision's and timm's; SiLU for EfficientNet's; Hardsigmoid for MobileNetV3's).
    (torchvision's SqueezeExcitation uses 1x1 Conv2d on the (N, C, 1, 1) mean; ONNX broadcasts the
    (N, C, 1, 1) gate over H and W.) A 1x1 convolution W (S, C, 1, 1) is the Dense W[:, :, 0, 0].T;
    a missing bias is 0.
    """
    if len(x.shape) == 3 and gate.shape != (x.shape[0], 1, 1):
        raise node.refuse(f"multiplies x {batched(x.shape)} by a function of it {batched(gate.shape)}: "
                          f"squeeze-and-excitation multiplies by one value per channel, (N, {x.shape[0]}, 1, 1); "
                          f"{PRODUCTS}")
    found = _se_gate(x, list(gate.layers[len(x.layers):]))
    if isinstance(found, str):
        raise node.refuse(f"x * gate(x), but the gate is not squeeze-and-excitation's: {found}")
    arguments, arrays = found
    layer = node.make(L.SqueezeExcitation, **arguments)
    for key, value in arrays.items():
        place, name = key.rsplit(".", 1)
        inner = layer.gate.layers[int(place.split(".")[1])]
        if name in inner.params:
            set_param(inner.params[name], value)
        else:
            getattr(inner, name)[...] = value
    return node.apply(x, layer)


def _se_gate(x, gate):
    """(SqueezeExcitation's arguments, {"gate.<i>.<name>": array}) of a squeeze-and-excitation gate
    (a list of layers on x), or the reason why it is not one."""
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
    norm = len(rest) == 5 and kinds[1] is L.BatchNorm
    squeeze, act, expand, scale_act = (rest[0], rest[2], rest[3], rest[4]) if norm else (rest + [None] * 4)[:4]
    if (len(rest) != 4 + norm or type(squeeze) not in (L.Dense, L.Conv2D) or type(expand) is not type(squeeze)
            or type(act).__name__ not in GATE_ACTIVATIONS
            or type(scale_act).__name__ not in GATE_ACTIVATIONS):
        names = ", ".join(k.__name__ for k in kinds)
        return (f"after the pool it computes {names or 'nothing'}; expected Dense/1x1 Conv, [BatchNorm], an "
                f"activation, Dense/1x1 Conv, an activation (of {', '.join(GATE_ACTIVATIONS)})")
    pairs = []
    for layer in (squeeze, expand):
        if isinstance(layer, L.Conv2D):
            if layer.kernel_size != (1, 1) or layer.groups != 1 or layer.pads_for((1, 1)) != ((0, 0), (0, 0)):
                return f"{layer!r} is not a 1x1 convolution without padding"
            w = layer.params["W"].data[:, :, 0, 0].T
            out = layer.out_channels
        else:
            w, out = layer.params["W"].data, layer.out_features
        b = layer.params["b"].data if layer.bias else np.zeros(out, dtype=w.dtype)
        pairs.append((w, b))
    (w1, b1), (w2, b2) = pairs
    if w1.shape[0] != c or w2.shape != (w1.shape[1], c):
        return f"its weights {w1.shape} and {w2.shape} do not map {c} channels to {c}"
    arguments = dict(input_channels=c, squeeze_channels=w1.shape[1], activation=type(act).__name__,
                     scale_activation=type(scale_act).__name__, dtype=w1.dtype)
    second = 3 + norm
    arrays = {"gate.1.W": w1, "gate.1.b": b1, f"gate.{second}.W": w2, f"gate.{second}.b": b2}
    if norm:        # the squeeze's bias goes into the running mean: BatchNorm(Wx + b) uses x W - (mean - b)
        bn = rest[1]
        arguments.update(batch_norm=True, eps=bn.eps, momentum=bn.momentum)
        del arrays["gate.1.b"]
        arrays.update({"gate.2.gamma": bn.params["gamma"].data, "gate.2.beta": bn.params["beta"].data,
                       "gate.2.running_mean": bn.running_mean - b1, "gate.2.running_var": bn.running_var})
    return arguments, arrays
