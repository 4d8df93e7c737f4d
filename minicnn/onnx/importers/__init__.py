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
a residual block, which becomes a ``Residual`` (see :func:`.branches.add_of_branches`). Chains that
meet at a ``Concat`` are an Inception block, a ``Concat`` layer (:func:`.branches.concat_of_branches`),
and x times a chain that starts at x is SiLU, Hardswish or squeeze-and-excitation
(:func:`.branches.product_of_data`).

Two ONNX ops that are one minicnn layer are joined through a mark on the Data:
``MatMul`` + ``Add`` of a constant is a Dense (``after_matmul``), and
``GlobalAveragePool`` + ``Flatten`` is a GlobalAvgPool2D (``after_global_pool``).

Every importer gets a :class:`Node` and returns the value of the node's first
output. What minicnn cannot compute exactly is refused with a ``ValueError`` that
names the file, the node, the op and the reason. Attributes an importer does not
read are refused too, so an attribute it does not know can never be ignored into a
wrong answer.

A layer that a graph writes as several nodes (PyTorch's LocalResponseNorm, as minicnn's where
ONNX's LRN cannot compute it; the dynamo exporter's adaptive average pooling of unequal bins)
comes back through a third mark, ``partial``: a :class:`Partial` that each of its nodes
advances, and that nothing else may read (:mod:`.decompositions`).

The modules, in reading order:

- :mod:`.graph`: the graph model, :class:`Data`, :class:`Partial`, :class:`Context`,
  :class:`Node`, and where chains fork (:func:`~.graph.common_prefix`, :func:`~.graph.shared_layer`);
  :mod:`.layout`: the shapes that Reshape, Squeeze and Unsqueeze give;
- the op families: :mod:`.conv_pool` (Conv, the pools), :mod:`.dense` (Gemm, MatMul, Add),
  :mod:`.activations` (BatchNormalization, LRN, the activations), :mod:`.normalize` (Sub, Div,
  and the Add and Mul of a constant: Normalize), :mod:`.shapes` (Flatten, Reshape, Transpose,
  Slice, Split and shape arithmetic on constants);
- :mod:`.decompositions`: the layers written as several nodes, step by step;
- :mod:`.branches`: the branch motifs, residual Add, Inception's and DenseNet's Concat, the
  products x * f(x) (SiLU, Hardswish, squeeze-and-excitation);
- :mod:`.loader`: :data:`IMPORTERS` and :func:`load`, the whole file (an If on a constant too).
"""
from .graph import BATCH, FLOAT_DTYPES, Context, Data, Node, Partial
from .loader import IMPORTERS, load

__all__ = ["IMPORTERS", "load", "BATCH", "FLOAT_DTYPES", "Context", "Data", "Node", "Partial"]
