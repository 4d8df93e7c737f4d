"""Loss functions: ``forward(pred, target) -> float`` and ``backward() -> dLoss/dpred``."""
import numpy as np

from . import functional as F
from ._checks import check_array


class Loss:
    """Base class: ``__call__`` is ``forward``; ``backward`` needs a ``forward`` first."""

    def __init__(self):
        self._grad = None

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def backward(self):
        """dLoss/dpred for the last ``forward``, in ``pred``'s dtype."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a preceding forward(pred, target)")
        return self._grad

    def __repr__(self):
        return f"{type(self).__name__}()"


def _compute_dtype(dtype):
    """float16 is computed in float32 (its range is too small for the exponentials)."""
    return np.promote_types(dtype, np.float32)


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits, averaged over the batch.

    logits: (N, C). target: int labels (N,) in [0, C), or probabilities (N, C).

        loss = -mean_n sum_c t[n, c] * log_softmax(z)[n, c]
        dloss/dz = (softmax(z) * sum_c t[n, c] - t) / N

    Probability targets may be any non-negative numbers, as in PyTorch's
    ``cross_entropy``; for rows that sum to 1 (one-hot, label smoothing) the
    gradient is the familiar (softmax(z) - t) / N, and labels are one-hot rows.

    The log-softmax is fused (z - max - log sum exp(z - max)), so logits of
    1e4 give exact results with no overflow.
    """

    def forward(self, logits, target):
        self._grad = None            # a failed forward must not leave an old gradient behind
        check_array(logits, "logits", ndim=2)
        logits = F.contiguous(logits)
        n, c = logits.shape
        if n == 0 or c == 0:
            raise ValueError(f"logits must hold at least one sample and one class, got shape {logits.shape}")
        if not np.all(np.isfinite(logits)):
            raise ValueError("logits contain NaN or inf (a diverging model? try a smaller lr)")
        target = _check_target(target, n, c)
        logp = F.log_softmax(logits.astype(_compute_dtype(logits.dtype), copy=False), axis=1)
        if target.ndim == 1:
            loss = -logp[np.arange(n), target].mean()
            grad = np.exp(logp)
            grad[np.arange(n), target] -= 1
        else:
            t = target.astype(logp.dtype, copy=False)
            loss = -(t * logp).sum(axis=1).mean()
            grad = np.exp(logp) * t.sum(axis=1, keepdims=True) - t
        self._grad = (grad / n).astype(logits.dtype, copy=False)
        return float(loss)


def _check_target(target, n, c):
    if not isinstance(target, np.ndarray):
        raise TypeError(f"target must be a numpy.ndarray, got {type(target).__name__}")
    if target.ndim == 1:
        if target.dtype.kind not in "iu":
            raise TypeError(f"target labels of shape (N,) must be integers, got dtype {target.dtype}")
        if target.shape[0] != n:
            raise ValueError(f"target has {target.shape[0]} labels but logits has {n} rows")
        if target.size and (target.min() < 0 or target.max() >= c):
            raise ValueError(f"target labels must be in [0, {c}) for {c} classes, "
                             f"got values in [{target.min()}, {target.max()}]")
        return target
    if target.ndim == 2:
        target = F.contiguous(target)
        if target.dtype.kind != "f":
            raise TypeError(f"target of shape {target.shape} has dtype {target.dtype}: integer class labels "
                            f"must have shape (N,) (try target.ravel()), and probabilities (N, C) must be floats")
        if target.shape != (n, c):
            raise ValueError(f"target probabilities must have the logits' shape {(n, c)}, got {target.shape}")
        if not np.all(np.isfinite(target)) or np.any(target < 0):
            raise ValueError("target probabilities must be finite and non-negative")
        return target
    raise ValueError(f"target must be labels (N,) or probabilities (N, C), got shape {target.shape}")


class MSE(Loss):
    """Mean squared error over all elements: loss = mean((pred - target)^2).

    dloss/dpred = 2 (pred - target) / pred.size.
    """

    def forward(self, pred, target):
        self._grad = None
        check_array(pred, "pred")
        if not isinstance(target, np.ndarray):
            raise TypeError(f"target must be a numpy.ndarray, got {type(target).__name__}")
        if target.dtype.kind not in "biuf":
            raise TypeError(f"target must be numeric, got dtype {target.dtype}")
        if target.shape != pred.shape:
            raise ValueError(f"target must have pred's shape {pred.shape}, got {target.shape}")
        if pred.size == 0:
            raise ValueError("pred must not be empty")
        pred, target = F.contiguous(pred), F.contiguous(target)
        # float64 whatever pred's dtype (the arrays are small: one row per sample), so that
        # errors of 1e20 in float32 square without overflow. A loss or gradient beyond
        # the range of its dtype is reported as inf, as IEEE arithmetic would.
        # inf - inf is NaN, quietly: NaN/inf propagate as they do through the layers
        with np.errstate(over="ignore", invalid="ignore"):
            diff = pred.astype(np.float64) - target.astype(np.float64)
            self._grad = (diff * (2.0 / diff.size)).astype(pred.dtype, copy=False)
            return float(np.mean(np.square(diff)))
