"""The graph model of the importer: the values of tensors (:class:`Data`, constants), the
file's :class:`Context` and the :class:`Node` every importer gets.

A tensor computed from the graph input is a :class:`Data`: the chain of minicnn layers that
computes it from the graph input, its per-sample shape and dtype. A constant (an
initializer, a ``Constant`` node, shape arithmetic) is a NumPy array; ``Shape`` of a Data
holds the symbol :data:`BATCH` for the batch size, unknown until the model runs.

Two chains that meet (at an Add, a Concat, a Mul) share their layers, the very same
objects, up to the tensor where the graph forks: :func:`common_prefix` finds that fork and
:func:`shared_layer` proves that the branches after it share nothing else.
"""
import dataclasses
import re

import numpy as np

from ...init import INITIALIZERS

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
    ``partial``: it is one step of a layer that the graph writes as several nodes (a
    :class:`Partial`); ``layers`` are then those of the layer's input, and only the next
    step of that layer may read it (see :meth:`Node.value`).
    """
    layers: tuple
    shape: tuple
    dtype: np.dtype
    after_matmul: bool = False
    after_global_pool: bool = False
    partial: object = None


class Partial:
    """A tensor that is a step of a layer the graph writes as several nodes (PyTorch's
    LocalResponseNorm as x*x, a window mean and four more ops; its AdaptiveAvgPool2d of unequal
    bins as Gathers and Adds): not yet a value any minicnn layer computes. A Data holding one
    (``Data.partial``) goes only to the partial's own :meth:`advance`, which reads the next
    node as the next step (the loader routes every node that reads a partial there);
    :meth:`result` is asked for when a partial would be the graph's output.

    A subclass (:mod:`.decompositions`) writes ``advance``, ``result`` and ``__str__`` (what
    the partial is, for the messages)."""

    def advance(self, node):
        raise NotImplementedError

    def result(self, context, what):
        """The Data the partial stands for when it ends the graph, or a refusal naming ``what``."""
        raise context.refuse(f"{what} is {self}: minicnn reads those nodes only as that whole layer")


class Context:
    """What all nodes of one file share: the file's name, its opset, the batch size
    declared by the graph input (an int, or None when it is dynamic), how many times each
    tensor is read (by nodes and as a graph output: ``uses``) and minicnn's metadata."""

    def __init__(self, onnx, path, opset, uses, architecture):
        self.onnx = onnx
        self.path = path
        self.opset = opset
        self.batch = None
        self.uses = uses                    # tensor name -> how many times it is read
        self.architecture = architecture
        self.input_shapes = {}              # id(layer) -> the per-sample shape it was applied to
        self.concats = {}                   # ids of a Concat's inputs -> (those inputs, its output)
        self.producers = {}                 # tensor name -> "node <label> (<op>)" that computed it

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
        """The value of input ``i``: a :class:`Data` or a NumPy array.

        A step of a layer written as several nodes (a Data with a :class:`Partial`) is no
        value minicnn can compute on its own: only the layer's next step reads it
        (:meth:`partial`), any other use is refused here."""
        value = self.lookup(i)
        if isinstance(value, Data) and value.partial is not None:
            raise self.refuse(f"input {i} ({self.proto.input[i]!r}) is {value.partial}: minicnn reads those "
                              "nodes only as that whole layer")
        return value

    def partial(self, i):
        """The :class:`Partial` that input ``i`` is a step of, or None."""
        value = self.lookup(i) if self.has_input(i) else None
        return value.partial if isinstance(value, Data) else None

    def lookup(self, i):
        """The value of input ``i``, a step of a layer written as several nodes too (see :meth:`value`)."""
        if not self.has_input(i):
            raise self.refuse(f"input {i} is missing")
        name = self.proto.input[i]
        if name not in self._values:
            raise self.refuse(f"input {name!r} is neither the graph input, an initializer nor the "
                              "output of an earlier node")
        return self._values[name]

    def inputs(self):
        """The values of every input (none missing), for the ops that take any number."""
        return [self.value(i) for i in range(len(self.proto.input))]

    def data(self, i=0):
        """Input ``i``, which must be computed from the graph input."""
        value = self.value(i)
        if not isinstance(value, Data):
            raise self.refuse(f"input {i} ({self.proto.input[i]!r}) is a constant; minicnn's layers compute "
                              "on the data that comes from the graph input")
        return value

    def const(self, i, default=None, what=None):
        """Input ``i``, which must be a constant (``default`` when it is left out). ``what``
        says what the input is for the message when it is computed from the data instead
        (by default: the op's argument, e.g. a weight or a shape)."""
        if not self.has_input(i) and default is not None:
            return default
        value = self.value(i)
        if isinstance(value, Data):
            role = what or f"input {i} of {self.op} (a weight, a shape or an option)"
            raise self.refuse(f"input {i} ({self.proto.input[i]!r}) is computed from the graph input {batched(value.shape)}, "
                              f"but minicnn reads {role} only as a constant (an initializer, a Constant node or "
                              "arithmetic on those)")
        return value

    def weight(self, i, what, ndim, optional=False):
        """Input ``i`` as a float weight of ``ndim`` dimensions (None if optional and absent)."""
        if optional and not self.has_input(i):
            return None
        w = self.const(i, what=f"{what} of a {self.op}")
        if w.dtype not in FLOAT_DTYPES:
            raise self.refuse(f"{what} has dtype {w.dtype}; minicnn's weights are float16, float32 or float64")
        if ndim is not None and w.ndim != ndim:
            raise self.refuse(f"{what} has shape {w.shape}; expected {ndim} dimensions")
        return w

    def hint(self, cls):
        """minicnn's own config of the layer this node computes, when it is a ``cls``
        (:meth:`Context.hint`); else {}."""
        return self.context.hint(self, cls)

    # -- results -------------------------------------------------------------
    def fold(self, fn, *args):
        """Compute an op on constants with NumPy; a failure is the file's fault, not a crash."""
        try:
            return np.asarray(fn(*args))
        except (ValueError, TypeError, IndexError, OverflowError) as exc:   # numpy's AxisError is a ValueError
            raise self.refuse(f"cannot compute it on its constant inputs: {exc}") from exc

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

    def finish(self, several_outputs=False):
        """After the importer: refuse unread attributes and used extra outputs (unless the importer
        gave each output its value: ``several_outputs``)."""
        unread = sorted(set(self._attributes) - self._read)
        if unread:
            raise self.refuse(f"attribute {unread[0]!r} is not supported")
        for k, name in enumerate(self.proto.output[1:] if not several_outputs else (), 1):
            if name and self.context.uses[name]:
                raise self.refuse(f"its output {k} ({name!r}) is used; a minicnn layer has one output")


def batched(shape):
    """A per-sample shape as the whole tensor's, for messages: (3, 4) -> '(N, 3, 4)'."""
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def set_param(param, value):
    """Copy ``value`` into a Parameter's array (in the parameter's dtype)."""
    param.data[...] = value


def init_argument(hint):
    """``{"init": name}`` when minicnn's metadata names one of its initialisers, else {}:
    which initialiser made the weights does not change them, it is kept for ``config()``."""
    init = hint.get("init")
    return {"init": init} if isinstance(init, str) and init in INITIALIZERS else {}


def to_array(context, tensor, where):
    """A TensorProto's values as a NumPy array; tensors in external files are refused."""
    if tensor.data_location == context.onnx.TensorProto.EXTERNAL:
        raise context.refuse(f"{where}: tensor {tensor.name!r} is stored in an external file, "
                             "which minicnn does not read")
    try:
        return context.onnx.numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        raise context.refuse(f"{where}: cannot read tensor {tensor.name!r}: {exc}") from exc


# ---------------------------------------------------------------------------
# Where chains fork
# ---------------------------------------------------------------------------
def common_prefix(chains):
    """The number of first layers that all ``chains`` (tuples of layers) share, the very
    same objects: the chains fork at the tensor those layers compute."""
    k = 0
    while all(k < len(chain) and chain[k] is chains[0][k] for chain in chains):
        k += 1
    return k


def every_layer(layers):
    """The layers and, inside a branched layer, the layers of its branches (at any depth)."""
    for layer in layers:
        yield layer
        yield from every_layer(layer.sublayers())


def shared_layer(branches):
    """The class name of a layer that two of ``branches`` (layer lists, after their fork) both
    hold, at any depth; None when they share none. A shared layer means the graph does not
    fork at one tensor: a tensor inside one branch is also used by another."""
    seen = {}
    for k, branch in enumerate(branches):
        for layer in every_layer(branch):
            if seen.setdefault(id(layer), k) != k:
                return type(layer).__name__
    return None

