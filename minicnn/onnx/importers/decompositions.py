"""Layers that a graph writes as several nodes, read back as minicnn's one layer, step by step.

Each is a :class:`~.graph.Partial`: the value of every step (a Data holding the partial) goes
only to the partial's :meth:`advance`, which checks that the node is a next step the layer can
take and returns the next partial, or, after the last step, the layer applied to its input.

- :class:`LrnSteps`: a LocalResponseNorm, from x * x (:func:`start_lrn`). PyTorch writes it
  (both exporters) as x * x, a Reshape to (N, 1, C, ...), a zero Pad of the channels, an
  AveragePool over them, a Squeeze back (the legacy exporter's behind an ``If`` on a constant),
  then Mul alpha, Add k, Pow beta and Div of x by that; minicnn writes the same window mean
  without the Pad, then Pow -beta and Mul by x. Any reshape that keeps the channels one axis
  may come between the steps.
- :class:`SpatialMap`: a linear map of each channel's pixels, from a Transpose or a Gather of the
  data (:func:`start_spatial_map`): PyTorch's dynamo exporter writes adaptive average pooling of
  unequal bins so (Transpose, GatherND, Where, Gather, Add, Div, ReduceMean). The steps compose
  the map's matrix; when the graph goes on (or ends) it is the AdaptiveAvgPool2D it equals, or
  else the exact Reshape-Dense-Reshape.
"""
import dataclasses
import math

import numpy as np

from ... import functional as F
from ... import layers as L
from .._common import short_float
from .graph import BATCH, FLOAT_DTYPES, Data, Partial, batched
from .layout import reshaped, squeezed, unsqueezed


def scalar(node, i, what):
    """Input ``i``, a float constant of one value, as a float (the float32's shortest decimal)."""
    value = node.const(i, what=what)
    if value.dtype not in FLOAT_DTYPES or value.size != 1:
        return None
    number = float(value.reshape(()))
    return number if value.dtype == np.float64 else short_float(number)


def _shape_value(node, dims):
    """What ``Shape`` gives for a tensor of ``dims`` (the batch as BATCH): ``start``/``end`` slice it."""
    dims = list(dims)[node.attr("start", 0):node.attr("end", None)]
    return np.array(dims, dtype=object if any(d is BATCH for d in dims) else np.int64)


# ---------------------------------------------------------------------------
# LocalResponseNorm as several nodes
# ---------------------------------------------------------------------------
#: The stages of :class:`LrnSteps`, and what each has read: the square, its window mean, then
#: Mul alpha, Add k and Pow.
LRN_STAGES = {"square": "x * x", "window": "the window mean of x * x", "alpha": "times alpha",
              "k": "plus k", "power": "raised to a power"}
#: The ops that only rearrange a step (its channels stay one axis): allowed between the steps.
LAYOUT_OPS = ("Reshape", "Squeeze", "Unsqueeze", "Identity")


@dataclasses.dataclass(frozen=True)
class LrnSteps(Partial):
    """Some of the nodes of a LocalResponseNorm(size, alpha, beta, k) of x (N, C, *rest):

        d = k + alpha * (the mean of x^2 over the channels c - size//2 .. c + (size-1)//2)
        y = x / d^beta    (or x * d^(-beta))

    ``of`` is x; ``start`` the label of x * x's node; ``stage`` a key of :data:`LRN_STAGES`;
    ``shape`` the step's per-sample shape (x's, or x's rearranged, its channels one axis,
    maybe padded); ``pads`` the zeros a Pad put before and after the channels; ``found`` the
    layer's arguments read so far."""
    of: Data
    start: str
    stage: str = "square"
    shape: tuple = ()
    pads: tuple = (0, 0)
    found: dict = dataclasses.field(default_factory=dict)

    def __str__(self):
        return (f"a step of a LocalResponseNorm written as several nodes ({LRN_STAGES[self.stage]}, from node "
                f"{self.start})")

    def _next(self, **changes):
        partial = dataclasses.replace(self, **changes)
        return Data(self.of.layers, partial.shape, self.of.dtype, partial=partial)

    def _channels(self):
        """The channels along the channel axis now: C, and the Pad's zeros before the window mean."""
        return self.of.shape[0] + (sum(self.pads) if self.stage == "square" else 0)

    def _channel_axes(self, shape):
        """The per-sample axes of ``shape`` that can be the channels: of the channels' length, with
        nothing but axes of size 1 before and x's other values (``rest``) after it."""
        rest = math.prod(self.of.shape[1:])
        return [j for j, d in enumerate(shape) if d == self._channels()
                and math.prod(shape[:j]) == 1 and math.prod(shape[j + 1:]) == rest]

    def _refuse(self, node, expected):
        return node.refuse(f"it reads {self}, but it is not {expected}: minicnn reads those nodes only as that "
                           "whole layer (x * x, its mean over a window of channels, times alpha, plus k, to a "
                           "power, then x divided by it, as PyTorch and minicnn write it)")

    def advance(self, node):
        mine = [i for i in range(len(node.proto.input)) if node.partial(i) is self]
        if node.op == "Shape":
            return _shape_value(node, (BATCH, *self.shape))
        if node.op in LAYOUT_OPS and mine == [0] and self.stage != "power":
            shape = {"Reshape": reshaped, "Squeeze": squeezed, "Unsqueeze": unsqueezed}.get(
                node.op, lambda _, s: s)(node, self.shape)
            if not self._channel_axes(shape):
                raise self._refuse(node, f"a {node.op} that keeps the channels one axis (it gives {batched(shape)})")
            return self._next(shape=tuple(shape))
        step = {("square", "Pad"): self._pad, ("square", "AveragePool"): self._window_mean,
                ("window", "Mul"): self._times("alpha", "alpha"), ("alpha", "Add"): self._times("k", "k"),
                ("k", "Pow"): self._power}.get((self.stage, node.op))
        if step is not None and len(mine) == 1:
            return step(node, mine[0])
        if self.stage == "power" and node.op in ("Div", "Mul") and len(mine) == 1:
            return self._finish(node, mine[0])
        expected = {"square": "a Pad or an AveragePool of the channels", "window": "a Mul by alpha",
                    "alpha": "an Add of k", "k": "a Pow", "power": "x divided (or multiplied) by it"}[self.stage]
        raise self._refuse(node, expected)

    def _pad(self, node, i):
        """A zero Pad of the channels (before the window mean): PyTorch's padding of the channel window."""
        if i != 0 or node.attr("mode", "constant") != "constant":
            raise self._refuse(node, "a zero Pad of the channels")
        if node.opset < 11:
            pads, value = node.attr("pads", []), node.attr("value", 0.0)
        else:
            pads = node.const(1, what="a Pad's pads").tolist()
            value = scalar(node, 2, "a Pad's value") if node.has_input(2) else 0.0
            if node.has_input(3):
                raise self._refuse(node, "a Pad of every axis (without axes)")
        rank = len(self.shape) + 1
        if not isinstance(pads, list) or len(pads) != 2 * rank or value != 0 or not all(
                type(p) is int and p >= 0 for p in pads):
            raise self._refuse(node, f"a Pad of zeros ({2 * rank} pads >= 0, value 0)")
        padded = [j for j in range(1, rank) if pads[j] or pads[rank + j]]
        if pads[0] or pads[rank] or len(padded) > 1 or (padded and padded[0] - 1 not in self._channel_axes(self.shape)):
            raise self._refuse(node, "a Pad of the channels alone")
        if not padded:
            return self._next()
        j = padded[0]
        shape = list(self.shape)
        shape[j - 1] += pads[j] + pads[rank + j]
        return self._next(shape=tuple(shape), pads=(self.pads[0] + pads[j], self.pads[1] + pads[rank + j]))

    def _window_mean(self, node, i):
        """AveragePool over n channels, 1 elsewhere, stride 1: with the Pad's zeros and its own
        padding counted, the mean of x^2 over c - n//2 .. c + (n-1)//2, which is s_c / n."""
        rank = len(self.shape) - 1                      # the pool's spatial axes: per-sample axes 1..
        kernel = node.attr("kernel_shape")
        if not isinstance(kernel, list) or len(kernel) != rank or not all(type(k) is int and k >= 1 for k in kernel):
            raise self._refuse(node, "an AveragePool over the channels")
        axes = [j for j in self._channel_axes(self.shape) if j >= 1]
        wide = [j for j, k in enumerate(kernel, 1) if k != 1]
        j = wide[0] if len(wide) == 1 else (axes[0] if not wide and axes else None)
        pads = node.attr("pads", [0] * 2 * rank)
        if (j not in axes or node.attr("strides", [1] * rank) != [1] * rank or node.attr("ceil_mode", 0) not in (0, 1)
                or node.attr("dilations", [1] * rank) != [1] * rank or node.attr("auto_pad", "NOTSET") != "NOTSET"
                or not isinstance(pads, list) or len(pads) != 2 * rank
                or any(p for k, p in enumerate(pads) if k % rank != j - 1)):
            raise self._refuse(node, "an AveragePool over the channels alone, stride 1, no dilation")
        n, before, after = kernel[j - 1], pads[j - 1], pads[rank + j - 1]
        if node.attr("count_include_pad", 0) != 1 and (before or after):
            raise self._refuse(node, "an AveragePool that counts its padding (count_include_pad=1: the sum over "
                                     "the window divided by its size)")
        total = (self.pads[0] + before, self.pads[1] + after)
        if total != (n // 2, (n - 1) // 2):
            raise self._refuse(node, f"the window of {n} channels c - {n // 2} .. c + {(n - 1) // 2} (it pads "
                                     f"{total[0]} before and {total[1]} after)")
        shape = list(self.shape)
        shape[j] = self.of.shape[0]
        return self._next(stage="window", shape=tuple(shape), pads=(0, 0), found=dict(self.found, size=n))

    def _times(self, name, stage):
        """Mul by alpha (window -> alpha), Add k (alpha -> k): a float constant of one value."""
        def step(node, i):
            number = scalar(node, 1 - i, f"LocalResponseNorm's {name}")
            if number is None:
                raise self._refuse(node, f"an {node.op} of a float constant of one value ({name})")
            return self._next(stage=stage, found=dict(self.found, **{name: number}))
        return step

    def _power(self, node, i):
        exponent = scalar(node, 1, "LocalResponseNorm's beta") if i == 0 else None
        if exponent is None:
            raise self._refuse(node, "a Pow of it by a float constant of one value (beta)")
        return self._next(stage="power", found=dict(self.found, exponent=exponent))

    def _finish(self, node, i):
        """x / d^beta (PyTorch) or x * d^(-beta) (minicnn): the LocalResponseNorm of x."""
        x = self.of
        if (node.op == "Div" and i != 1) or node.lookup(1 - i) is not x or self.shape != x.shape:
            raise self._refuse(node, "x divided by it (Div) or times it (Mul), x of its shape")
        found = dict(self.found)
        exponent = found.pop("exponent")
        beta = exponent if node.op == "Div" else -exponent
        return node.apply(x, node.make(L.LocalResponseNorm, beta=beta, **found))


def start_lrn(node, x):
    """x * x: the first step of a LocalResponseNorm (:class:`LrnSteps`), which only its next step may read."""
    if len(x.shape) < 2:
        raise node.refuse(f"squares the data {batched(x.shape)} (x * x): minicnn reads x * x only as the first "
                          "step of a LocalResponseNorm, of (N, C, ...)")
    return Data(x.layers, x.shape, x.dtype, partial=LrnSteps(x, node.label, shape=x.shape))


# ---------------------------------------------------------------------------
# A linear map of each channel's pixels: adaptive average pooling as Gathers
# ---------------------------------------------------------------------------
#: The most numbers a :class:`SpatialMap`'s matrix may hold (64 MB of float64): a map of a larger
#: image is refused rather than allocated.
MAP_LIMIT = 2 ** 23


@dataclasses.dataclass(frozen=True, eq=False)
class SpatialMap(Partial):
    """A tensor T that is a linear map of each channel's pixels of x (N, C, *spatial):

        T[..n.., ..c.., o...] = sum over p of M[o..., p] * x[n, c, p]      (p: the pixels, flat)

    ``dims``: T's dims (the batch as BATCH); ``n_axis``, ``c_axis``: where N and C are in them;
    ``matrix`` M: (the other dims of T in their order, the pixels), float64, or None while T is
    x itself, its axes maybe moved but its pixel axes in their order (M the identity).
    ``start``: the label of the first node."""
    of: Data
    start: str
    dims: tuple
    n_axis: int
    c_axis: int
    matrix: object = None

    def __str__(self):
        return f"a linear map of the pixels of {batched(self.of.shape)} (from node {self.start})"

    def _next(self, node, dims, n_axis, c_axis, matrix):
        """The next map; or, once it is (N, C, OH, OW) and an AdaptiveAvgPool2D of x, that layer at once
        (so that a second pooling after it starts a map of its own, and each comes back as its layer)."""
        if matrix.size > MAP_LIMIT:
            raise node.refuse(f"it reads {self}, and its matrix would hold {matrix.size} numbers: more than minicnn "
                              f"reads ({MAP_LIMIT})")
        partial = SpatialMap(self.of, self.start, tuple(dims), n_axis, c_axis, matrix)
        pool = partial._adaptive_pool()
        if pool is not None:
            return _applied(node.context, self.of, [pool])
        return Data(self.of.layers, self.of.shape, self.of.dtype, partial=partial)

    def _adaptive_pool(self):
        """The AdaptiveAvgPool2D that this map is, when it is (N, C, OH, OW) and that layer's matrix
        (the bins' means, :func:`minicnn.functional.adaptive_pool_matrix` along H and W); else None."""
        x, out = self.of, tuple(self.dims[2:])
        if ((self.n_axis, self.c_axis) != (0, 1) or self.matrix is None or len(out) != 2 or len(x.shape) != 3
                or out == x.shape[1:]):
            return None
        pool = L.AdaptiveAvgPool2D(out)
        expected = np.kron(F.adaptive_pool_matrix(x.shape[1], out[0]), F.adaptive_pool_matrix(x.shape[2], out[1]))
        if self.matrix.size != expected.size or not np.allclose(self.matrix.reshape(expected.shape), expected,
                                                                rtol=1e-9, atol=1e-12):
            return None
        return pool

    def _others(self):
        """The axes of T other than N and C, in order (those of the matrix's rows)."""
        return [a for a in range(len(self.dims)) if a not in (self.n_axis, self.c_axis)]

    def _matrix(self, node):
        """M, the identity made explicit when T is still x."""
        if self.matrix is not None:
            return self.matrix
        size = math.prod(self.of.shape[1:])
        if size * size > MAP_LIMIT:
            raise node.refuse(f"it reads {self}, which minicnn reads only for images of at most "
                              f"{int(math.sqrt(MAP_LIMIT))} pixels")
        return np.eye(size).reshape(*self.of.shape[1:], size)

    def _selected(self, node, index):
        """The rows of the identity that GatherND's ``index`` (..., pixel axes) picks: one-hot rows,
        made without the identity itself."""
        spatial = self.of.shape[1:]
        rows, size = math.prod(index.shape[:-1]), math.prod(spatial)
        if rows * size > MAP_LIMIT:
            raise node.refuse(f"it reads {self}, and its matrix would hold {rows * size} numbers: more than minicnn "
                              f"reads ({MAP_LIMIT})")
        flat = np.ravel_multi_index(tuple((index[..., j] % spatial[j]).ravel() for j in range(len(spatial))), spatial)
        m = np.zeros((rows, size))
        m[np.arange(rows), flat] = 1.0
        return m.reshape(*index.shape[:-1], size)

    def _refuse(self, node, why):
        return node.refuse(f"it reads {self}, but {why}: minicnn reads such a map through Transpose, Gather, "
                           "GatherND, Where by 0, Add of two maps, Mul or Div by a constant, ReduceMean and "
                           "ReduceSum, ending in (N, C, OH, OW)")

    def _other_axis(self, node, axis):
        rank = len(self.dims)
        if type(axis) is not int or not -rank <= axis < rank or axis % rank in (self.n_axis, self.c_axis):
            raise self._refuse(node, f"axis {axis!r} is not a pixel axis (N is {self.n_axis}, C {self.c_axis})")
        return self._others().index(axis % rank)

    def _shifted(self, removed_before, added):
        """n_axis, c_axis after axes were removed before them and ``added`` put in their place."""
        return tuple(a - removed_before + added for a in (self.n_axis, self.c_axis))

    def advance(self, node, mine=None):
        """The next map, or None when the node is no step of one (then the map must be a layer by now:
        the loader asks :meth:`result`). ``mine``: the inputs that are this map (by default, those
        that hold it; the first step gives [0], its input being x itself)."""
        mine = [i for i in range(len(node.proto.input)) if node.partial(i) is self] if mine is None else mine
        if node.op == "Shape":
            return _shape_value(node, self.dims)
        step = getattr(self, "_" + node.op.lower(), None) if node.op in SPATIAL_STEPS else None
        if step is None:
            return None                       # not a step: the map must be a layer by now (see the loader)
        return step(node, mine)

    def _transpose(self, node, mine):
        rank = len(self.dims)
        perm = node.attr("perm", list(range(rank))[::-1])
        if sorted(perm) != list(range(rank)):
            raise self._refuse(node, f"perm={perm} is not a permutation of {rank} axes")
        others = self._others()
        order = [others.index(a) for a in perm if a in others]
        dims, n_axis, c_axis = [self.dims[a] for a in perm], perm.index(self.n_axis), perm.index(self.c_axis)
        if self.matrix is None and order == sorted(order):          # x's pixel axes still in order: still x
            return Data(self.of.layers, self.of.shape, self.of.dtype,
                        partial=SpatialMap(self.of, self.start, tuple(dims), n_axis, c_axis))
        m = self._matrix(node)
        m = m.transpose(*order, *range(len(others), m.ndim))
        return self._next(node, dims, n_axis, c_axis, m)

    def _gathernd(self, node, mine):
        index = node.const(1, what="GatherND's indices")
        k = index.shape[-1] if index.ndim else 0
        if mine != [0] or node.attr("batch_dims", 0) != 0 or index.dtype.kind not in "iu" or not 1 <= k < index.ndim + 1:
            raise self._refuse(node, "a GatherND of it (batch_dims 0) by int indices is expected")
        if min(self.n_axis, self.c_axis) < k:
            raise self._refuse(node, f"GatherND indexes its first {k} axes, N or C among them")
        sizes = [self.dims[a] for a in self._others()][:k]
        if np.any(index >= np.array(sizes)) or np.any(index < -np.array(sizes)):
            raise self._refuse(node, f"GatherND's indices reach beyond the axes {list(sizes)}")
        if self.matrix is None and k == len(self._others()):
            gathered = self._selected(node, index)
        else:
            gathered = self._matrix(node)[tuple(index[..., j] for j in range(k))]
        n_axis, c_axis = self._shifted(k, index.ndim - 1)
        return self._next(node, [*index.shape[:-1], *self.dims[k:]], n_axis, c_axis, gathered)

    def _gather(self, node, mine):
        index = node.const(1, what="Gather's indices")
        if mine != [0] or index.dtype.kind not in "iu":
            raise self._refuse(node, "a Gather of it by int indices is expected")
        axis = node.attr("axis", 0)
        j = self._other_axis(node, axis)
        m = self._matrix(node)
        if np.any(index >= m.shape[j]) or np.any(index < -m.shape[j]):
            raise self._refuse(node, f"Gather's indices reach beyond the axis of {m.shape[j]}")
        axis %= len(self.dims)
        dims = [*self.dims[:axis], *index.shape, *self.dims[axis + 1:]]
        n_axis, c_axis = (a if a < axis else a - 1 + index.ndim for a in (self.n_axis, self.c_axis))
        return self._next(node, dims, n_axis, c_axis, np.take(m, index, axis=j))

    def _per_axis(self, node, value, what):
        """A constant that broadcasts over T without growing it, one value for every N and C: as an
        array of the matrix's row dims (its N and C axes dropped), ready to multiply the matrix."""
        rank = len(self.dims)
        if value.ndim > rank:
            raise self._refuse(node, f"{what} has more axes than the map")
        shape = (1,) * (rank - value.ndim) + value.shape
        if any(shape[a] != 1 for a in (self.n_axis, self.c_axis)) or any(
                s not in (1, d) for a, (s, d) in enumerate(zip(shape, self.dims)) if a not in (self.n_axis, self.c_axis)):
            raise self._refuse(node, f"{what} of shape {value.shape} would broadcast over N or C, or grow the map")
        rows = value.reshape(shape).reshape([shape[a] for a in self._others()])
        return rows.reshape(*rows.shape, *([1] * (self._matrix(node).ndim - rows.ndim)))

    def _where(self, node, mine):
        if len(mine) != 1 or mine[0] == 0:
            raise self._refuse(node, "a Where of it by a constant condition is expected")
        other = node.const(3 - mine[0], what="Where's other value")
        if other.size != 1 or float(other.reshape(())) != 0:
            raise self._refuse(node, "Where's other value is not 0")
        condition = node.const(0, what="Where's condition")
        if condition.dtype != bool:
            raise self._refuse(node, "Where's condition is not a bool")
        keep = self._per_axis(node, condition if mine[0] == 1 else ~condition, "Where's condition")
        return self._next(node, self.dims, self.n_axis, self.c_axis, np.where(keep, self._matrix(node), 0.0))

    def _add(self, node, mine):
        other = [node.lookup(i) for i in range(2) if i not in mine]
        theirs = other[0].partial if other and isinstance(other[0], Data) else self if mine == [0, 1] else None
        if (not isinstance(theirs, SpatialMap) or theirs.of is not self.of or theirs.dims != self.dims
                or (theirs.n_axis, theirs.c_axis) != (self.n_axis, self.c_axis)):
            raise self._refuse(node, "an Add of two maps of the same tensor and shape is expected")
        return self._next(node, self.dims, self.n_axis, self.c_axis, self._matrix(node) + theirs._matrix(node))

    def _scale(self, node, mine, divide):
        if len(mine) != 1 or (divide and mine != [0]):
            raise self._refuse(node, f"a {node.op} of it by a constant is expected")
        value = node.const(1 - mine[0], what=f"the {node.op}'s constant")
        if value.dtype not in FLOAT_DTYPES and value.dtype.kind not in "iu":
            raise self._refuse(node, f"the {node.op}'s constant has dtype {value.dtype}")
        factor = self._per_axis(node, value.astype(np.float64), f"the {node.op}'s constant")
        if divide and np.any(factor == 0):
            raise self._refuse(node, "it divides by 0")
        m = self._matrix(node)
        return self._next(node, self.dims, self.n_axis, self.c_axis, m / factor if divide else m * factor)

    def _mul(self, node, mine):
        return self._scale(node, mine, divide=False)

    def _div(self, node, mine):
        return self._scale(node, mine, divide=True)

    def _reduce(self, node, mine, mean):
        if mine != [0]:
            raise self._refuse(node, f"a {node.op} of it is expected")
        if node.opset < (18 if mean else 13):
            axes = node.attr("axes")
        else:
            axes = np.atleast_1d(node.const(1, what=f"the axes of a {node.op}")).tolist() if node.has_input(1) else None
        keepdims = node.attr("keepdims", 1)
        node.attr("noop_with_empty_axes")
        if not axes or keepdims not in (0, 1):
            raise self._refuse(node, f"a {node.op} over pixel axes is expected (axes={axes!r}, keepdims={keepdims!r})")
        rank = len(self.dims)
        rows = sorted({self._other_axis(node, a) for a in axes})
        reduced = {a % rank for a in axes}
        m = self._matrix(node)
        m = m.mean(axis=tuple(rows), keepdims=bool(keepdims)) if mean else m.sum(axis=tuple(rows), keepdims=bool(keepdims))
        if keepdims:
            dims = [1 if a in reduced else d for a, d in enumerate(self.dims)]
            return self._next(node, dims, self.n_axis, self.c_axis, m)
        dims = [d for a, d in enumerate(self.dims) if a not in reduced]
        n_axis, c_axis = (a - sum(r < a for r in reduced) for a in (self.n_axis, self.c_axis))
        return self._next(node, dims, n_axis, c_axis, m)

    def _reducemean(self, node, mine):
        return self._reduce(node, mine, mean=True)

    def _reducesum(self, node, mine):
        return self._reduce(node, mine, mean=False)

    def result(self, context, what):
        """The map as minicnn's layers on x, when T is (N, C, *out) with as many pixel axes as x:
        x itself (the identity; an AdaptiveAvgPool2D became its layer as soon as it was one, see
        :meth:`_next`), else Reshape to (C, pixels), Dense by M^T without bias, Reshape to (C, *out):
        exact whatever the map."""
        x = self.of
        out = tuple(self.dims[2:])
        if (self.n_axis, self.c_axis) != (0, 1) or len(out) != len(x.shape) - 1:
            raise context.refuse(f"{what} is {self}, laid out as {list(self.dims)} (N at {self.n_axis}, C at "
                                 f"{self.c_axis}): minicnn reads such a map (PyTorch's dynamo exporter writes adaptive "
                                 "average pooling of unequal bins so) as a layer only once it is (N, C, OH, OW)")
        if self.matrix is None and out == x.shape[1:]:
            return x
        m = self._matrix(context)
        c = x.shape[0]
        pixels, outputs = math.prod(x.shape[1:]), math.prod(out)
        dense = L.Dense(pixels, outputs, bias=False, dtype=x.dtype)
        dense.params["W"].data[...] = m.reshape(outputs, pixels).T
        return _applied(context, x, [L.Reshape((c, pixels)), dense, L.Reshape((c, *out))])


#: The ops that are steps of a :class:`SpatialMap` (its methods ``_<op in lower case>``).
SPATIAL_STEPS = ("Transpose", "GatherND", "Gather", "Where", "Add", "Mul", "Div", "ReduceMean", "ReduceSum")


def _applied(context, x, layers):
    """x's chain with ``layers`` after it (their input shapes recorded, as ``Node.apply`` does)."""
    shape = x.shape
    for layer in layers:
        context.input_shapes[id(layer)] = shape
        shape = layer.output_shape(shape)
    return Data(x.layers + tuple(layers), shape, x.dtype)


def start_spatial_map(node, x):
    """The identity map of x (N, C, *spatial), 1 or 2 pixel axes, for its first step (a Transpose
    or a Gather of the data), or None when x is not an image or a signal."""
    if len(x.shape) not in (2, 3):
        return None
    return SpatialMap(x, node.label, (BATCH, *x.shape), 0, 1)
