"""Loss functions: ``forward(pred, target) -> float`` and ``backward() -> dLoss/dpred``.

On a GPU (CuPy arrays) ``forward`` returns the loss as a 0-d device array instead of a
float, as PyTorch returns a tensor: a float would make every step wait for the GPU.
``float(loss)`` gives the number when it is wanted.

A loss class writes only its maths: ``_forward`` returns the loss and keeps
dLoss/dpred in ``self.grad``. ``Loss.forward``, the entry point, checks the
arguments first (each loss names its checker in ``check_inputs``), calls
``_forward`` and gives the gradient back in ``pred``'s dtype.
"""
import numpy as np

from . import functional as F
from ._checks import check_array, check_on_device
from .devices import array_module, device_of, is_array, readable_now


class Loss:
    """Base class. ``forward(pred, target)`` is the checked entry point: it checks the
    arguments with the loss's ``check_inputs``, then calls ``self._forward(pred, target)``,
    the maths, and gives the gradient back in ``pred``'s dtype. ``__call__`` is ``forward``;
    ``backward`` needs a ``forward`` first.

    A loss of one's own writes ``_forward(self, pred, target)`` (returning the loss and
    keeping dLoss/dpred in ``self.grad``) and sets ``check_inputs``. A class written the
    older way, with its maths in ``forward`` itself, has it moved to ``_forward``.
    """

    check_inputs = None            # (pred, target) -> checked (pred, target); set by each loss
    # (target, pred_shape) -> None: the target's values, on the host, where a loss on a GPU
    # cannot look without waiting for it (fit calls it before moving a batch); None: nothing to check
    check_target = None

    def __init__(self):
        self.grad = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__ and "_forward" not in cls.__dict__ and cls._forward is Loss._forward:
            cls._forward = cls.__dict__["forward"]
            del cls.forward

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def forward(self, pred, target):
        """The loss, a float (a 0-d array on a GPU): the arguments checked, then ``self._forward``. The last
        gradient is forgotten first, so a failed forward leaves none behind."""
        self.grad = None
        pred, target = self.check_inputs(pred, target)
        pred, target = F.contiguous(pred), F.contiguous(target)     # a view sums in another order than its copy
        try:
            with np.errstate(over="ignore", invalid="ignore"):      # inf/NaN are results here
                loss = self._forward(pred, target)
                loss = float(loss) if readable_now(pred) else loss     # a GPU's stays there: no wait
                self.grad = self.grad.astype(pred.dtype, copy=False)
        except BaseException:
            self.grad = None
            raise
        return loss

    def _forward(self, pred, target):
        raise NotImplementedError(f"{type(self).__name__} defines no _forward (its maths)")

    def backward(self):
        """dLoss/dpred for the last ``forward``, in ``pred``'s dtype."""
        if getattr(self, "grad", None) is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a preceding forward(pred, target)")
        return self.grad

    def __repr__(self):
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------------------
# What forward(pred, target) takes (each loss names its checker in check_inputs)
# ---------------------------------------------------------------------------
def check_logits_and_target(logits, target):
    """CrossEntropy's arguments: finite logits (N, C), N and C >= 1, and integer labels (N,)
    in [0, C) or non-negative finite probabilities (N, C)."""
    check_array(logits, "logits", ndim=2)
    n, c = logits.shape
    if n == 0 or c == 0:
        raise ValueError(f"logits must hold at least one sample and one class, got shape {logits.shape}")
    # the values are checked where that costs nothing: on a GPU each check would wait for it
    # (fit checks the labels of each batch on the host instead, see check_target_values)
    on_host = readable_now(logits)
    if on_host and not np.all(np.isfinite(logits)):
        raise ValueError("logits contain NaN or inf (a diverging model? try a smaller lr)")
    if not is_array(target):
        raise TypeError(f"target must be a numpy.ndarray, got {type(target).__name__}")
    check_on_device(target, "target", device_of(logits), "the logits")
    check_target_values(target, logits.shape, on_host)
    return logits, target


def check_target_values(target, logits_shape, values=True):
    """CrossEntropy's ``target`` for logits of ``logits_shape`` (N, C): labels (N,) in [0, C)
    or non-negative finite probabilities (N, C); the values only with ``values`` (``fit``
    calls this on the host batch of a model on the GPU, before moving it)."""
    n, c = logits_shape
    if target.ndim == 1:
        if target.dtype.kind not in "iu":
            raise TypeError(f"target labels of shape (N,) must be integers, got dtype {target.dtype}")
        if target.shape[0] != n:
            raise ValueError(f"target has {target.shape[0]} labels but logits has {n} rows")
        if values and (target.min() < 0 or target.max() >= c):
            raise ValueError(f"target labels must be in [0, {c}) for {c} classes, "
                             f"got values in [{target.min()}, {target.max()}]")
    elif target.ndim == 2:
        if target.dtype.kind != "f":
            raise TypeError(f"target of shape {target.shape} has dtype {target.dtype}: integer class labels "
                            f"must have shape (N,) (try target.ravel()), and probabilities (N, C) must be floats")
        if target.shape != (n, c):
            raise ValueError(f"target probabilities must have the logits' shape {(n, c)}, got {target.shape}")
        if values and (not np.all(np.isfinite(target)) or np.any(target < 0)):
            raise ValueError("target probabilities must be finite and non-negative")
    else:
        raise ValueError(f"target must be labels (N,) or probabilities (N, C), got shape {target.shape}")


def check_log_probs_and_labels(log_probs, target):
    """NLLLoss's arguments: log-probabilities (N, C), N and C >= 1, not NaN and not +inf (a
    log-probability is at most 0; -inf is log 0), and integer labels (N,) in [0, C)."""
    check_array(log_probs, "log_probs", ndim=2)
    n, c = log_probs.shape
    if n == 0 or c == 0:
        raise ValueError(f"log_probs must hold at least one sample and one class, got shape {log_probs.shape}")
    if readable_now(log_probs) and (np.any(np.isnan(log_probs)) or np.any(log_probs == np.inf)):
        raise ValueError("log_probs contain NaN or +inf (a diverging model? try a smaller lr)")
    if not is_array(target):
        raise TypeError(f"target must be a numpy.ndarray, got {type(target).__name__}")
    check_on_device(target, "target", device_of(log_probs), "the log-probabilities")
    check_labels_of(target, log_probs.shape, readable_now(log_probs))
    return log_probs, target


def check_labels_of(target, scores_shape, values=True):
    """NLLLoss's ``target`` for scores of ``scores_shape`` (N, C): integer labels (N,) in [0, C)
    (the values only with ``values``, as :func:`check_target_values`)."""
    if target.ndim != 1:
        raise ValueError(f"target must be integer labels (N,), got shape {target.shape} (NLLLoss takes labels, "
                         "as PyTorch's; CrossEntropy also takes probabilities)")
    check_target_values(target, scores_shape, values)


def check_pred_and_target(pred, target):
    """MSE's arguments: a non-empty float ``pred`` and a numeric ``target`` of its shape."""
    check_array(pred, "pred")
    if not is_array(target):
        raise TypeError(f"target must be a numpy.ndarray, got {type(target).__name__}")
    check_on_device(target, "target", device_of(pred), "the predictions")
    if target.dtype.kind not in "biuf":
        raise TypeError(f"target must be numeric, got dtype {target.dtype}")
    if target.shape != pred.shape:
        raise ValueError(f"target must have pred's shape {pred.shape}, got {target.shape}")
    if pred.size == 0:
        raise ValueError("pred must not be empty")
    return pred, target



# ---------------------------------------------------------------------------
# The losses
# ---------------------------------------------------------------------------
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

    def _forward(self, logits, target):
        xp = array_module(logits)
        n = len(logits)
        z = logits.astype(np.promote_types(logits.dtype, np.float32), copy=False)   # float16: exp needs range
        logp = F._log_softmax(z, 1)           # z checked and contiguous (the base class)
        if target.ndim == 1:                               # labels: t is one-hot
            rows = xp.arange(n)
            self.grad = xp.exp(logp)
            self.grad[rows, target] -= 1
            self.grad /= n
            return -logp[rows, target].mean()
        t = target.astype(logp.dtype, copy=False)
        self.grad = (xp.exp(logp) * t.sum(axis=1, keepdims=True) - t) / n
        return -(t * logp).sum(axis=1).mean()

    check_inputs = staticmethod(check_logits_and_target)
    check_target = staticmethod(check_target_values)


class NLLLoss(Loss):
    """Negative log-likelihood of log-probabilities (PyTorch's ``nn.NLLLoss``), averaged over
    the batch: the loss to put after a ``LogSoftmax`` layer (PyTorch's MNIST example ends so).

    log_probs: (N, C), e.g. ``LogSoftmax(axis=1)``'s output. target: int labels (N,) in [0, C).

        loss = -mean_n log_probs[n, target[n]]
        dloss/dlog_probs = -onehot(target) / N

    LogSoftmax then NLLLoss is CrossEntropy on the logits, loss and gradients alike.
    """

    def _forward(self, log_probs, target):
        xp = array_module(log_probs)
        n = len(log_probs)
        rows = xp.arange(n)
        self.grad = xp.zeros_like(log_probs)
        self.grad[rows, target] = -1.0 / n
        return -log_probs[rows, target].astype(np.promote_types(log_probs.dtype, np.float32)).mean()

    check_inputs = staticmethod(check_log_probs_and_labels)
    check_target = staticmethod(check_labels_of)


class MSE(Loss):
    """Mean squared error over all elements: loss = mean((pred - target)^2).

    dloss/dpred = 2 (pred - target) / pred.size.
    """

    def _forward(self, pred, target):
        # float64 whatever pred's dtype (one row per sample: small), so that errors of 1e20
        # in float32 square without overflow; beyond float64 the loss is inf, as IEEE has it
        diff = pred.astype(np.float64) - target.astype(np.float64)
        self.grad = diff * (2.0 / diff.size)
        return (diff * diff).mean()

    check_inputs = staticmethod(check_pred_and_target)
