"""minicnn -> ONNX: one exporter function per layer class, listed in :data:`EXPORTERS`.

An exporter gets ``(layer, graph, x, shape)``: the layer, the :class:`Graph` being
written, the name of its input tensor ``x`` (N, *shape) and the per-sample input
``shape``. It adds the layer's nodes and weights to ``graph`` and returns the name of
its output tensor. Weights are named like minicnn's parameters (``"3.W"``), nodes like
the layer (``"3.Conv2D"``), so that Netron shows the model as ``model.summary()`` does.

Adding a layer means writing one function here and one line in ``EXPORTERS`` (and
its importer in ``importers/``). A layer made of layers (``Residual``, ``Concat``,
``SqueezeExcitation``) exports its inner chains with :func:`export_layers`.
"""
import json
import os

import numpy as np

from .. import __version__
from .. import functional as F
from .. import layers as L
from .._checks import check_dtype, check_int, check_path
from ..devices import to_numpy
from ..io import atomic_write
from ..model import Sequential
from ._common import ARCHITECTURE_KEY, IR_VERSION, OPSET, pool_window, require_onnx


class Graph:
    """The nodes and initializers (weights) of the ONNX graph being written.

    ``prefix`` is the index of the layer being exported; it names that layer's
    weights (``"3.W"``) and nodes (``"3.Conv2D"``, ``"3.Dense.MatMul"``).
    """

    def __init__(self, onnx, dtype):
        self.onnx = onnx
        self.dtype = dtype                   # float dtype of the graph's tensors and weights
        self.nodes = []
        self.initializers = []
        self.prefix = ""
        self.layer_name = ""

    def weight(self, name, array):
        """Add a weight in the graph's dtype; returns its name."""
        return self.tensor(name, to_numpy(array).astype(self.dtype))     # from either device

    def ints(self, name, values):
        """Add an int64 tensor (a shape); returns its name."""
        return self.tensor(name, np.asarray(values, dtype=np.int64))

    def tensor(self, name, array):
        """Add ``array`` as it is, named ``"<layer index>.<name>"``; returns the full name."""
        full = f"{self.prefix}.{name}"
        self.initializers.append(self.onnx.numpy_helper.from_array(array, full))
        return full

    def node(self, op_type, inputs, step=None, **attributes):
        """Add one node; returns the name of its (single) output.

        ``step`` names a node that is one of several of the layer (``"3.Dense.MatMul"``).
        """
        name = self.layer_name if step is None else f"{self.layer_name}.{step}"
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [name], name=name, **attributes))
        return name


# ---------------------------------------------------------------------------
# One exporter per layer
# ---------------------------------------------------------------------------
def _onnx_pads(pads):
    """minicnn's (before, after) per spatial axis -> ONNX's pads: all the beginnings, then all
    the ends. 2-D ((top, bottom), (left, right)) -> [top, left, bottom, right]; 1-D
    ((left, right),) -> [left, right]."""
    return [before for before, _ in pads] + [after for _, after in pads]


def conv(layer, graph, x, shape):
    """Conv2D, Conv1D -> ``Conv``: the same cross-correlation, x (N, C, H, W) -> (N, O, OH, OW)
    or (N, C, L) -> (N, O, OL).

    W (O, C/groups, kh, kw) or (O, C/groups, k) and b (O,) go in as they are; ``groups`` is
    ONNX's ``group`` (the same split of the channels: output channel o sees input group
    o // (O/groups)). ``padding='same'`` becomes its explicit pads for this input size
    (TensorFlow's rule: with an odd total, the extra row/column at the bottom/right; at stride
    > 1 they depend on the input size, which ``input_shape`` fixes). Explicit pads rather than
    ``auto_pad='SAME_UPPER'``: onnxruntime refuses ``auto_pad`` together with dilation.
    """
    inputs = [x, graph.weight("W", layer.params["W"].data)]
    if layer.bias:
        inputs.append(graph.weight("b", layer.params["b"].data))
    if isinstance(layer, L.Conv1D):                         # its pads_for: ((0, 0), (left, right)), one row high
        sizes, pads = (lambda v: [v]), layer.pads_for(shape[1])[1:]
    else:
        sizes, pads = list, layer.pads_for(shape[1:])
    return graph.node("Conv", inputs, kernel_shape=sizes(layer.kernel_size), strides=sizes(layer.stride),
                      pads=_onnx_pads(pads), dilations=sizes(layer.dilation), group=layer.groups)


def _pool_window(layer, shape):
    """kernel_shape, strides, pads and ceil_mode of a 2-D or 1-D pooling layer for its input
    (C, *spatial).

    ``strides`` is always written: ONNX's default is 1, minicnn's the kernel size. In ceil
    mode, ``ceil_mode`` and ``pads`` are what :func:`minicnn.onnx._common.pool_window` says
    gives minicnn's windows in ONNX's rule of opset 17, which keeps a last window that PyTorch's
    rule drops (onnxruntime applies PyTorch's rule at every opset, ONNX's shape inference does
    not): so ``ceil_mode=1`` only where it adds a window, and pads that say the rest.
    """
    one_d = len(shape) == 2                                  # (C, L): as one row high, one int each
    hw, kernel, stride = ((1, shape[1]), (1, layer.kernel_size), (1, layer.stride)) if one_d else \
        (shape[1:], layer.kernel_size, layer.stride)
    pads = layer.pads_for(hw) if not one_d else \
        ((0, 0), F.axis_padding(layer.padding, layer.kernel_size, layer.stride, 1, shape[1]))
    window = dict(kernel_shape=list(kernel[one_d:]), strides=list(stride[one_d:]))
    if not layer.ceil_mode:
        return dict(window, pads=_onnx_pads(pads[one_d:]))
    pads, ceil_mode = pool_window(hw, kernel, stride, pads, getattr(layer, "count_include_pad", False))
    return dict(window, pads=_onnx_pads(pads[one_d:]), ceil_mode=ceil_mode)


def max_pool(layer, graph, x, shape):
    """MaxPool2D, MaxPool1D -> ``MaxPool``: x (N, C, H, W) or (N, C, L), the max over each window.

    ONNX's MaxPool never picks a padded position, which is minicnn's -inf padding.
    """
    return graph.node("MaxPool", [x], **_pool_window(layer, shape))


def avg_pool(layer, graph, x, shape):
    """AvgPool2D, AvgPool1D -> ``AveragePool`` with minicnn's ``count_include_pad``:

    - 1: the zero padding counts, every window's sum is divided by kh * kw (PyTorch's default);
    - 0 (ONNX's default): divided by the number of the window's input pixels (TensorFlow's).

    In ceil mode a window hanging over the end of the padded input divides by its part inside
    the padded input (with 1) or inside the input (with 0): PyTorch's rule, and onnxruntime's
    (checked for kernels 2 and 3, strides 1 to 3, every padding and sizes 3 to 9 in tests/test_onnx.py).
    """
    return graph.node("AveragePool", [x], **_pool_window(layer, shape),
                      count_include_pad=int(layer.count_include_pad))


def global_avg_pool(layer, graph, x, shape):
    """GlobalAvgPool2D, GlobalAvgPool1D -> ``GlobalAveragePool`` + ``Flatten``: (N, C, H, W) ->
    (N, C, 1, 1) -> (N, C), or (N, C, L) -> (N, C, 1) -> (N, C).

    ONNX's op keeps the pooled axes (of size 1); the Flatten drops them, as PyTorch
    writes ``torch.flatten(nn.AdaptiveAvgPool2d(1)(x), 1)``.
    """
    pooled = graph.node("GlobalAveragePool", [x], step="GlobalAveragePool")
    return graph.node("Flatten", [pooled], axis=1)


def adaptive_avg_pool2d(layer, graph, x, shape):
    """AdaptiveAvgPool2D -> the exact ONNX form for this input size (H, W) -> (OH, OW):

    - (OH, OW) = (H, W): ``Identity`` (VGG's and AlexNet's heads at 224 x 224);
    - (1, 1): ``GlobalAveragePool``, which keeps the axes of size 1, as minicnn's layer does;
    - bins of one size (OH divides H, OW divides W): ``AveragePool`` with kernel and stride
      (H / OH, W / OW), as PyTorch writes it;
    - otherwise (bins that overlap or differ in size): y = A_h x A_w^T per channel, written as
      ``Reshape`` to (N, C, H*W), ``MatMul`` by the constant K = (A_h kron A_w)^T (H*W, OH*OW),
      ``Reshape`` to (N, C, OH, OW), with A the averaging matrices of
      :func:`minicnn.functional.adaptive_pool_matrix`. (PyTorch's legacy exporter refuses this
      case; its dynamo exporter writes some 200 Gather/Add nodes.)
    """
    c, h, w = shape
    oh, ow = layer.output_shape(shape)[1:]
    if (oh, ow) == (h, w):
        return graph.node("Identity", [x])
    if (oh, ow) == (1, 1):
        return graph.node("GlobalAveragePool", [x])
    if h % oh == 0 and w % ow == 0:
        kernel = [h // oh, w // ow]
        return graph.node("AveragePool", [x], kernel_shape=kernel, strides=kernel, pads=[0, 0, 0, 0])
    flat = graph.node("Reshape", [x, graph.ints("flat_shape", [0, c, h * w])], step="Reshape")
    k = np.kron(F.adaptive_pool_matrix(h, oh), F.adaptive_pool_matrix(w, ow)).T
    pooled = graph.node("MatMul", [flat, graph.weight("K", k)], step="MatMul")
    return graph.node("Reshape", [pooled, graph.ints("shape", [0, c, oh, ow])])


def local_response_norm(layer, graph, x, shape):
    """LocalResponseNorm -> ``LRN`` (odd size, (N, C, H, W), alpha, beta > 0), or its decomposition.

    ONNX's LRN is PyTorch's formula, y_c = x_c / (k + alpha / n * s_c)^beta with s_c the sum
    of squares over the window, alpha divided by the size n in both (onnxruntime agrees to
    1e-7). The window is c - floor((n-1)/2) .. c + ceil((n-1)/2) in ONNX, c - n//2 ..
    c + (n-1)//2 in PyTorch and minicnn: the same for odd n, one channel apart for even n.
    onnxruntime (1.32) refuses an even size, alpha = 0, beta = 0 and inputs that are not
    4-D; those are written as PyTorch writes every LRN (``importers.activations.continue_lrn``
    reads these nodes back as the layer): x*x reshaped to (N, 1, C, rest), ``AveragePool``
    over (n, 1) with pads n//2 before and (n-1)//2 after (count_include_pad=1: the window's
    mean, s_c / n), reshaped back, then ``Mul`` alpha, ``Add`` k, ``Pow`` -beta, ``Mul`` x.
    """
    n = layer.size
    if graph.dtype.type(layer.k) == 0 or np.float32(layer.k) == 0:
        raise ValueError(f"k={layer.k} rounds to 0 in the file's floats; minicnn's LocalResponseNorm takes k > 0")
    if n % 2 and np.float32(layer.alpha) > 0 and np.float32(layer.beta) > 0 and len(shape) == 3:  # as ONNX keeps them
        return graph.node("LRN", [x], size=n, alpha=layer.alpha, beta=layer.beta, bias=layer.k)
    square = graph.node("Mul", [x, x], step="Square")
    column = graph.node("Reshape", [square, graph.ints("column_shape", [0, 1, shape[0], -1])], step="Column")
    mean = graph.node("AveragePool", [column], step="WindowMean", kernel_shape=[n, 1], strides=[1, 1],
                      pads=[n // 2, 0, (n - 1) // 2, 0], count_include_pad=1)
    back = graph.node("Reshape", [mean, graph.ints("shape", [0, *shape])], step="Back")
    scaled = graph.node("Mul", [back, graph.weight("alpha", np.array(layer.alpha))], step="Alpha")
    d = graph.node("Add", [scaled, graph.weight("k", np.array(layer.k))], step="K")
    power = graph.node("Pow", [d, graph.weight("minus_beta", np.array(-layer.beta))], step="Pow")
    return graph.node("Mul", [x, power])


def concat(layer, graph, x, shape):
    """Concat -> each branch's nodes on x, then ``Concat`` along axis 1 (the channels).

    The branches' layers are named by their place: ``"3.branch0.0"``, ``"3.branch2.1"``
    (weights ``"3.branch0.0.W"``, as in ``model.state_dict()``); a Concat inside a branch
    (Inception-v4) is one more level: ``"3.branch1.1.branch0.0"``.
    """
    place = graph.prefix
    outputs = [export_layers(branch.layers, graph, x, shape, prefix=f"{place}.{name}.")[0]
               for name, branch in layer.branches()]
    return graph.node("Concat", outputs, axis=1)


def squeeze_excitation(layer, graph, x, shape):
    """SqueezeExcitation -> the gate's nodes (GlobalAveragePool, Flatten, Gemm, Relu, Gemm,
    Sigmoid: (N, C)), ``Unsqueeze`` to (N, C, 1, 1) and ``Mul`` by x, which ONNX broadcasts
    over H and W: y = x * g[:, :, None, None]. The gate's layers are ``"3.gate.1"`` ... as in
    ``model.state_dict()`` (``"3.gate.1.W"``)."""
    place = graph.prefix
    gate, _ = export_layers(layer.gate.layers, graph, x, shape, prefix=f"{place}.gate.")
    scale = graph.node("Unsqueeze", [gate, graph.ints("axes", [2, 3])], step="Unsqueeze")
    return graph.node("Mul", [x, scale])


def residual(layer, graph, x, shape):
    """Residual -> the block's nodes, the shortcut's nodes and an ``Add``: y = block(x) + shortcut(x).

    Both branches read x; the identity shortcut has no nodes (the ``Add`` reads x itself).
    The layers inside are named by their place: ``"3.block.0"``, ``"3.shortcut.0"``
    (weights ``"3.block.0.W"``, as in ``model.state_dict()``).
    """
    place = graph.prefix
    block, _ = export_layers(layer.block.layers, graph, x, shape, prefix=f"{place}.block.")
    skip = x
    if layer.shortcut is not None:
        skip, _ = export_layers(layer.shortcut.layers, graph, x, shape, prefix=f"{place}.shortcut.")
    return graph.node("Add", [block, skip])


def dense(layer, graph, x, shape):
    """Dense -> ``Gemm`` for x (N, in), or ``MatMul`` + ``Add`` for x (N, ..., in).

    y = x @ W + b in both. W is (in, out), which is what ONNX's B is without
    transposition (``transB=0``; PyTorch's Linear stores (out, in) and writes ``transB=1``).
    Gemm takes only 2-D inputs, so more leading axes need MatMul, which broadcasts them.
    """
    inputs = [x, graph.weight("W", layer.params["W"].data)]
    if len(shape) == 1:
        if layer.bias:
            inputs.append(graph.weight("b", layer.params["b"].data))
        return graph.node("Gemm", inputs)
    if not layer.bias:
        return graph.node("MatMul", inputs)
    product = graph.node("MatMul", inputs, step="MatMul")
    return graph.node("Add", [product, graph.weight("b", layer.params["b"].data)])


def batch_norm(layer, graph, x, shape):
    """BatchNorm -> ``BatchNormalization`` (inference form) on x (N, C, ...):

        y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta

    ONNX's momentum weighs the *old* running value (running = momentum * running +
    (1 - momentum) * batch): minicnn's momentum m is written as 1 - m. It matters
    only for training; it is written so that the model comes back as it was."""
    inputs = [x, graph.weight("gamma", layer.params["gamma"].data), graph.weight("beta", layer.params["beta"].data),
              graph.weight("running_mean", layer.running_mean), graph.weight("running_var", layer.running_var)]
    return graph.node("BatchNormalization", inputs, epsilon=layer.eps, momentum=1.0 - layer.momentum)


def normalize(layer, graph, x, shape):
    """Normalize -> ``Sub`` mean, ``Div`` std, as PyTorch writes ``(x - mean) / std``: y = (x - mean) / std,
    the constants shaped (C, 1, ...) to broadcast over (N, C, *) (scalars for one value for every channel)."""
    per_channel = (-1,) + (1,) * (len(shape) - 1)

    def constant(values):
        return np.array(values[0]) if len(values) == 1 else np.array(values).reshape(per_channel)
    centred = graph.node("Sub", [x, graph.weight("mean", constant(layer.mean))], step="Sub")
    return graph.node("Div", [centred, graph.weight("std", constant(layer.std))])


def channel_shuffle(layer, graph, x, shape):
    """ChannelShuffle(groups) -> ``Reshape`` to (N, groups, C / groups, *), ``Transpose`` of those two
    axes, ``Reshape`` back to (N, C, *): PyTorch's channel shuffle as both its exporters write it."""
    c, g, rest = shape[0], layer.groups, list(shape[1:])
    split = graph.node("Reshape", [x, graph.ints("split_shape", [0, g, c // g, *rest])], step="Split")
    perm = [0, 2, 1, *range(3, len(shape) + 2)]
    swapped = graph.node("Transpose", [split], step="Transpose", perm=perm)
    return graph.node("Reshape", [swapped, graph.ints("shape", [0, *shape])])


def channel_slice(layer, graph, x, shape):
    """ChannelSlice(start, stop) -> ``Slice`` of axis 1 from start to stop: y = x[:, start:stop]."""
    return graph.node("Slice", [x, graph.ints("starts", [layer.start]), graph.ints("ends", [layer.stop]),
                                graph.ints("axes", [1])])


def flatten(layer, graph, x, shape):
    """Flatten -> ``Flatten`` with axis=1: (N, d1, d2, ...) -> (N, d1*d2*...)."""
    return graph.node("Flatten", [x], axis=1)


def reshape(layer, graph, x, shape):
    """Reshape(shape) -> ``Reshape`` to [0, *shape]: in ONNX a 0 copies the input's
    dimension, so the batch axis stays whatever N is (one entry may be -1, as in minicnn)."""
    return graph.node("Reshape", [x, graph.ints("shape", [0, *layer.shape])])


def relu(layer, graph, x, shape):
    """ReLU -> ``Relu``: y = max(x, 0)."""
    return graph.node("Relu", [x])


def relu6(layer, graph, x, shape):
    """ReLU6 -> ``Clip`` with min 0 and max 6 (inputs since opset 11), as PyTorch writes it."""
    return graph.node("Clip", [x, graph.weight("min", np.array(0.0)), graph.weight("max", np.array(6.0))])


def leaky_relu(layer, graph, x, shape):
    """LeakyReLU -> ``LeakyRelu``: y = x if x > 0 else alpha * x, alpha = negative_slope."""
    return graph.node("LeakyRelu", [x], alpha=layer.negative_slope)


def sigmoid(layer, graph, x, shape):
    """Sigmoid -> ``Sigmoid``: y = 1 / (1 + exp(-x))."""
    return graph.node("Sigmoid", [x])


def tanh(layer, graph, x, shape):
    """Tanh -> ``Tanh``."""
    return graph.node("Tanh", [x])


def silu(layer, graph, x, shape):
    """SiLU -> ``Sigmoid`` and ``Mul`` by x (ONNX has no SiLU op; PyTorch writes it so): y = x * sigmoid(x)."""
    gate = graph.node("Sigmoid", [x], step="Sigmoid")
    return graph.node("Mul", [x, gate])


def hardsigmoid(layer, graph, x, shape):
    """Hardsigmoid -> ``HardSigmoid`` with alpha 1/6, beta 1/2: y = max(0, min(1, x / 6 + 1/2))."""
    return graph.node("HardSigmoid", [x], alpha=1 / 6, beta=0.5)


def hardswish(layer, graph, x, shape):
    """Hardswish -> ``HardSwish`` (opset 14): y = x * max(0, min(1, x / 6 + 1/2))."""
    return graph.node("HardSwish", [x])


def softmax(layer, graph, x, shape):
    """Softmax(axis), LogSoftmax(axis) -> ``Softmax``, ``LogSoftmax`` (opset >= 13: along the one
    axis, as minicnn)."""
    return graph.node(type(layer).__name__, [x], axis=layer.axis)


def dropout(layer, graph, x, shape):
    """Dropout(p) -> ``Dropout`` with ratio p and no ``training_mode`` input, which
    means inference: y = x. Written (rather than left out) so that p comes back."""
    ratio = graph.tensor("ratio", np.array(layer.p, dtype=np.float32))
    return graph.node("Dropout", [x, ratio])


#: Layer class -> exporter. Looked up by the exact class: a subclass of a layer
#: (a user's own layer) may compute something else and must get its own entry.
EXPORTERS = {
    L.Conv2D: conv,
    L.Conv1D: conv,
    L.MaxPool2D: max_pool,
    L.MaxPool1D: max_pool,
    L.AvgPool2D: avg_pool,
    L.AvgPool1D: avg_pool,
    L.GlobalAvgPool2D: global_avg_pool,
    L.AdaptiveAvgPool2D: adaptive_avg_pool2d,
    L.GlobalAvgPool1D: global_avg_pool,
    L.LocalResponseNorm: local_response_norm,
    L.Residual: residual,
    L.Concat: concat,
    L.SqueezeExcitation: squeeze_excitation,
    L.Dense: dense,
    L.BatchNorm: batch_norm,
    L.Flatten: flatten,
    L.Reshape: reshape,
    L.ReLU: relu,
    L.ReLU6: relu6,
    L.LeakyReLU: leaky_relu,
    L.Sigmoid: sigmoid,
    L.Tanh: tanh,
    L.SiLU: silu,
    L.Hardsigmoid: hardsigmoid,
    L.Hardswish: hardswish,
    L.Softmax: softmax,
    L.LogSoftmax: softmax,
    L.Dropout: dropout,
    L.Normalize: normalize,
    L.ChannelShuffle: channel_shuffle,
    L.ChannelSlice: channel_slice,
}


# ---------------------------------------------------------------------------
# The whole model
# ---------------------------------------------------------------------------
#: The ops minicnn writes that onnxruntime's CPU provider runs in float32 (and float16) but not in
#: float64 (onnxruntime 1.32; tests/test_onnx.py checks it where onnxruntime is installed).
FLOAT64_MISSING_IN_ONNXRUNTIME = ("AveragePool", "Conv", "GlobalAveragePool", "HardSigmoid", "HardSwish", "LRN")


def export(model, path, input_shape=(1, 28, 28), dtype=None):
    """Write ``model`` as an ONNX file (opset 17) that onnxruntime, Netron and PyTorch read.

    - ``model``: a ``minicnn.Sequential`` of the layers in :data:`EXPORTERS` (inside a
      Residual, a Concat or a SqueezeExcitation too).
    - ``path``: the file to write; written atomically (the old file stays whole
      until the new one is complete).
    - ``input_shape``: one sample's shape, e.g. ``(1, 28, 28)`` for (C, H, W). The
      batch axis is dynamic (named ``N``): the file runs on any batch size.
    - ``dtype``: the float type of the file; by default the model's own
      (float32 unless built with another). onnxruntime's CPU provider runs the ops of
      :data:`FLOAT64_MISSING_IN_ONNXRUNTIME` (Conv, the average pools, ...) in float32 and
      float16 only: a float64 model whose file would hold one is refused unless ``dtype``
      says which file to write, ``np.float32`` (what PyTorch exports; the weights rounded)
      or ``np.float64`` (for a runtime that has those kernels).

    The graph reads ``"input"`` (N, *input_shape) and writes ``"output"``; weights
    are initializers named like ``model.state_dict()``. The file also keeps
    ``model.architecture()`` as metadata (``minicnn.architecture``), so that
    ``minicnn.onnx.load`` gives the convolutions and pools back their ``'same'``/``'valid'``
    spelling (the graph has the pads it gives for ``input_shape``) and the initialisers' names.
    Returns ``path``.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a minicnn.Sequential, got {type(model).__name__}")
    path = check_path(path, "path", refuse_folder=False)     # a folder: refused below, in its own words
    shape = _check_input_shape(input_shape)
    chosen = dtype is not None
    dtype = check_dtype(dtype) if chosen else _model_dtype(model)
    _check_target(path)
    if not model.layers:
        raise ValueError("model has no layers: there is nothing to export")
    onnx = require_onnx()
    helper = onnx.helper

    graph = Graph(onnx, dtype)
    in_shape = shape
    _, shape = export_layers(model.layers, graph, "input", shape)
    graph.nodes[-1].output[0] = "output"      # the last node is the last layer's output
    if not chosen:
        _check_runnable(graph)

    elem = helper.np_dtype_to_tensor_dtype(dtype)
    onnx_graph = helper.make_graph(
        graph.nodes, "minicnn.Sequential",
        inputs=[helper.make_tensor_value_info("input", elem, ["N", *in_shape])],
        outputs=[helper.make_tensor_value_info("output", elem, ["N", *shape])],
        initializer=graph.initializers, doc_string=model.summary(in_shape))
    proto = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="minicnn", producer_version=__version__)
    helper.set_model_props(proto, {ARCHITECTURE_KEY: json.dumps(model.architecture())})
    # full_check also runs ONNX's shape inference: it proves the graph's shapes are the ones
    # minicnn computed (every op's output checked against its input).
    onnx.checker.check_model(proto, full_check=True)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    return path


def _check_runnable(graph):
    """A float64 file that onnxruntime could not run is written only when asked for (``dtype=``):
    the model's own float64 is refused, naming the ops and both ways out."""
    missing = [op for op in FLOAT64_MISSING_IN_ONNXRUNTIME if any(n.op_type == op for n in graph.nodes)]
    if graph.dtype == np.float64 and missing:
        first = next(n.name for n in graph.nodes if n.op_type in missing)
        raise ValueError(f"the model is float64, and onnxruntime runs {', '.join(missing)} (first: node {first}) in "
                         "float32 only: a float64 file fails there ('Could not find an implementation'). Pass "
                         "dtype=np.float32 to write a float32 file (what PyTorch exports; the weights rounded to "
                         "float32), or dtype=np.float64 to write float64 anyway (for a runtime with float64 kernels)")


def export_layers(layers, graph, x, shape, prefix=""):
    """Export a chain of layers applied to tensor ``x`` (N, *shape): returns the name of
    its output tensor and the output's per-sample shape.

    Layer i is named ``f"{prefix}{i}"``: ``"3"``, or ``"3.block.0"`` for the first layer of
    the block of the Residual at 3 (:func:`residual`, :func:`concat` and
    :func:`squeeze_excitation` export their branches through this). An error names the
    layer so: ``"layer 3.block.0 (Conv2D): ..."``, its place as ``model.state_dict()`` names
    its weights. A layer of branches exports them first, so that an error inside a branch
    names the layer there.
    """
    for i, layer in enumerate(layers):
        name = f"{prefix}{i}"
        where = f"layer {name} ({type(layer).__name__})"
        _check_exportable(layer, name)
        branched = isinstance(layer, L.BranchedLayer)
        out_shape = None if branched else _output_shape(layer, shape, where)
        saved = graph.prefix, graph.layer_name
        graph.prefix, graph.layer_name = name, f"{name}.{type(layer).__name__}"
        try:
            x = EXPORTERS[type(layer)](layer, graph, x, shape)
        except LayerError:
            raise
        except ValueError as exc:
            raise LayerError(f"{where}: {exc}") from exc
        graph.prefix, graph.layer_name = saved
        shape = _output_shape(layer, shape, where) if branched else out_shape
    return x, shape


class LayerError(ValueError):
    """An export error that already names its layer (``"layer 3.branch1.0 (MaxPool2D): ..."``)."""


def _output_shape(layer, shape, where):
    try:
        return layer.output_shape(shape)
    except ValueError as exc:
        raise LayerError(f"input_shape: {where} cannot take input shape {shape}: {exc}") from exc


def _check_exportable(layer, name):
    if type(layer) not in EXPORTERS:
        known = ", ".join(cls.__name__ for cls in EXPORTERS)
        raise LayerError(f"layer {name} ({type(layer).__name__}) has no ONNX exporter: a {type(layer).__name__} "
                         f"may compute something else than its base class (minicnn.onnx exports {known})")


def _check_input_shape(input_shape):
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise TypeError(f"input_shape must be one sample's shape, a tuple of ints such as (1, 28, 28), "
                        f"got {input_shape!r}")
    return tuple(check_int(s, "input_shape", 1) for s in input_shape)


def _model_dtype(model):
    """The one float dtype of the model's parameters and buffers (float32 if it has none)."""
    dtypes = {p.data.dtype for p in model.parameters()}
    dtypes |= {buf.dtype for layer in model.layers for buf in layer.buffers().values()}
    if len(dtypes) > 1:
        raise ValueError(f"model mixes the dtypes {sorted(d.name for d in dtypes)}; pass dtype= "
                         "(e.g. np.float32) to choose the file's")
    return dtypes.pop() if dtypes else np.dtype(np.float32)


def _check_target(path):
    """The file's folder must exist and the path must not be a folder: clear errors
    before any work, rather than an OSError about a temporary file."""
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a directory; give a file name such as model.onnx")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"path {path!r}: the folder {folder!r} does not exist")
