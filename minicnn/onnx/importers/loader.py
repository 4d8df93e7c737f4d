"""The loader: an ONNX file read, checked, and walked node by node into a ``minicnn.Sequential``.

:data:`IMPORTERS` gives each op its importer; :func:`load` reads the file (its weights
stored beside it too), checks it, and gives every tensor its value in the nodes' order.
"""
import collections
import json
import math
import os

import numpy as np

from ..._checks import check_path
from ...model import Sequential
from .._common import ARCHITECTURE_KEY, MAX_OPSET, MIN_OPSET, require_onnx
from .activations import (batch_normalization, clip, dropout, hard_sigmoid, hard_swish, leaky_relu, lrn, relu, sigmoid,
                          softmax, tanh)
from .branches import concat, mul
from .conv_pool import average_pool, conv, global_average_pool, max_pool, reduce_mean
from .dense import add, gemm, matmul
from .graph import FLOAT_DTYPES, Context, Data, Node, batched, to_array
from .normalize import div, sub
from .shapes import (cast, constant, constant_of_shape, equal, flatten, gather, gather_nd, identity, pad, pow_,
                     reduce_sum, reshape, shape, slice_, split, squeeze, transpose, unsqueeze, where)

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
    "Sub": sub,
    "Mul": mul,
    "Div": div,
    "BatchNormalization": batch_normalization,
    "Flatten": flatten,
    "Reshape": reshape,
    "Transpose": transpose,
    "Relu": relu,
    "Clip": clip,
    "LRN": lrn,
    "LeakyRelu": leaky_relu,
    "Sigmoid": sigmoid,
    "HardSigmoid": hard_sigmoid,
    "HardSwish": hard_swish,
    "Tanh": tanh,
    "Softmax": softmax,
    "LogSoftmax": softmax,
    "Dropout": dropout,
    "Identity": identity,
    # shape arithmetic on constants (and steps of the layers written as several nodes)
    "Constant": constant,
    "ConstantOfShape": constant_of_shape,
    "Shape": shape,
    "Gather": gather,
    "GatherND": gather_nd,
    "ReduceSum": reduce_sum,
    "Unsqueeze": unsqueeze,
    "Squeeze": squeeze,
    "Concat": concat,
    "Slice": slice_,
    "Split": split,
    "Pow": pow_,
    "Cast": cast,
    "Equal": equal,
    "Where": where,
    "Pad": pad,
}
#: The ops that compute only on constants (shape arithmetic) or that are steps of a layer written as
#: several nodes (a Pad of LocalResponseNorm's channels, ReduceSum and GatherND of adaptive pooling):
#: an unsupported op's message lists the others, minicnn's layers.
ARITHMETIC_OPS = ("Constant", "ConstantOfShape", "Shape", "Gather", "GatherND", "Slice", "Cast", "Equal", "Where",
                  "Pad", "Pow", "ReduceSum", "If")


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


def _run(context, nodes, values, where=""):
    """Give the output of each node its value, in the nodes' order (``where`` numbers the nodes of
    an If's branch after the If's: "12.0")."""
    for index, node_proto in enumerate(nodes):
        node = Node(node_proto, f"{where}{index}", values, context)
        importer = _importer(node_proto)
        if importer is None:
            raise node.refuse(_unsupported(node_proto))
        if not node_proto.output or not node_proto.output[0]:
            raise node.refuse("it has no output")
        # a step of a layer written as several nodes goes on to that layer's next step
        partial = next(filter(None, map(node.partial, range(len(node_proto.input)))), None)
        value = importer(node) if partial is None else partial.advance(node)
        if value is None:                   # no step of it: the partial must stand as a layer by now
            for i, name in enumerate(node_proto.input):
                if node.partial(i) is partial:
                    values[name] = partial.result(context, f"input {i} ({name!r}) of node {node.label} ({node.op})")
            value = importer(node)
        several = isinstance(value, tuple)              # one value per output (Split)
        node.finish(several_outputs=several)
        for name, one in zip(node_proto.output, value if several else (value,)):
            if name:
                values[name] = one
                context.producers[name] = f"node {node.label} ({node.op})"


def _importer(node_proto):
    return IMPORTERS.get(node_proto.op_type) if node_proto.domain in ("", "ai.onnx") else None


def _unsupported(node_proto):
    """Why a node's op is refused: minicnn has no layer for it; the ops it reads listed by role."""
    op = node_proto.op_type if node_proto.domain in ("", "ai.onnx") else f"{node_proto.domain}.{node_proto.op_type}"
    layers = [name for name in IMPORTERS if name not in ARITHMETIC_OPS]
    return (f"op {op} is not supported: minicnn has no layer for it (it reads {', '.join(layers)} as its layers, "
            f"and {', '.join(ARITHMETIC_OPS)} on constants, to compute shapes, or as steps of a layer)")


def if_(node):
    """If on a constant condition: the branch it takes, its nodes read as the graph's (PyTorch's legacy
    exporter asks so whether an axis has size 1 before squeezing it, in LocalResponseNorm). A condition
    computed from the data has no minicnn layer: refused."""
    condition = node.const(0, what="an If's condition")
    if condition.dtype != bool or condition.size != 1:
        raise node.refuse(f"the condition has dtype {condition.dtype} and {condition.size} values; expected one bool")
    taken, other = ("then_branch", "else_branch") if bool(condition.reshape(())) else ("else_branch", "then_branch")
    branch = node.attr(taken)
    node.attr(other)
    if branch is None or len(branch.output) != len(node.proto.output):
        raise node.refuse(f"its {taken} has {0 if branch is None else len(branch.output)} outputs, the If "
                          f"{len(node.proto.output)}")
    if len(branch.initializer) or len(branch.sparse_initializer):
        raise node.refuse(f"its {taken} has initializers of its own, which minicnn does not read")
    _run(node.context, branch.node, node._values, where=f"{node.label.lstrip('#').split(' ')[0]}.")
    name = branch.output[0].name
    if name not in node._values:
        raise node.refuse(f"no node of its {taken} computes its output {name!r}")
    return node._values[name]


IMPORTERS["If"] = if_                       # it reads its branch's nodes as the graph's: defined here, with them


def _check_output(context, vi, value):
    """The graph output must be computed from the input, with the shape it declares (a step of a
    layer written as several nodes, its layer: see ``Partial.result``)."""
    if not isinstance(value, Data):
        raise context.refuse(f"the graph output {vi.name!r} does not depend on the graph input")
    if value.partial is not None:
        value = value.partial.result(context, f"the graph output {vi.name!r} ({context.producers.get(vi.name)})")
    dims = vi.type.tensor_type.shape.dim if vi.type.WhichOneof("value") == "tensor_type" else []
    declared = [d.dim_value if d.HasField("dim_value") else None for d in dims[1:]]
    if dims and (len(declared) != len(value.shape)
                 or any(d is not None and d != s for d, s in zip(declared, value.shape))):
        raise context.refuse(f"the graph output {vi.name!r} is declared {batched(declared)} but the "
                             f"layers compute {batched(value.shape)}")
    return value


def _every_node(nodes):
    """The nodes and, inside an If's branches, theirs (at any depth)."""
    for node in nodes:
        yield node
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _every_node(attribute.g.node)


def _build(onnx, proto, path):
    graph = proto.graph
    used = collections.Counter([name for node in _every_node(graph.node) for name in node.input]
                               + [o.name for o in graph.output])
    context = Context(onnx, path, _opset(proto, path), used, _architecture(proto))
    if len(graph.sparse_initializer):
        raise context.refuse("sparse initializers are not supported")
    values = {t.name: to_array(context, t, "initializer") for t in graph.initializer}
    name, sample_shape, dtype = _graph_input(context, graph)
    values[name] = Data((), sample_shape, dtype)
    _run(context, graph.node, values)
    if len(graph.output) != 1:
        raise context.refuse(f"the graph has {len(graph.output)} outputs "
                             f"{[o.name for o in graph.output]}; a minicnn model has one")
    out = graph.output[0]
    value = values.get(out.name)
    if value is None:
        raise context.refuse(f"no node computes the graph output {out.name!r}")
    return Sequential(list(_check_output(context, out, value).layers))
