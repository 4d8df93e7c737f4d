"""The training loop, Keras-style: ``fit``, ``evaluate``, ``predict``.

``Sequential.fit/evaluate/predict`` call the functions here. :func:`fit` is the
loop every framework has, for every epoch and every batch::

    out = model.forward(xb, training=True)      # forward, keeping caches
    value = loss.forward(out, yb)               # the loss
    optimizer.zero_grad()
    model.backward(loss.backward())             # gradients of every parameter
    optimizer.step()                            # update the weights

Everything else is book-keeping, each in a named helper or a callback: the checks of
fit's arguments, the checks that turn NaN or inf into :class:`TrainingDiverged`, and,
in their own modules, the callbacks (:mod:`minicnn.callbacks`: the epoch means, the
:class:`History`, the :class:`ProgressBar`, early stopping, ...) and the checkpoint
written after every epoch, from which an interrupted run resumes to exactly the same
weights (:mod:`minicnn.checkpoints`). The callbacks can be imported from here too
(``from minicnn.training import History, EarlyStopping``), where they were first.

On a GPU (``model.to("cuda")``) the data set is moved there once, when it takes at
most a quarter of the GPU's free memory (the batches are then taken on the device),
else each batch before its step; the step itself never waits for the GPU. The numbers of a batch
(loss, accuracy) then stay on the device as 0-d arrays, in the callbacks' ``logs`` too,
and are fetched in one transfer at the epoch's end (and every 10 batches for a visible
progress bar); a NaN or inf loss is found there, not at its batch (the error names the
batch). ``evaluate`` returns floats and ``predict`` a NumPy array, on either device.
"""
import math
import os
import sys
import time
import warnings

import numpy as np

from . import _rng
from ._checks import check_array, check_bool, check_int, check_path
from .callbacks import (BatchLossHistory, Callback, CallbackList, EarlyStopping, EpochMeans, History, LambdaCallback,
                        LearningRateScheduler, ModelCheckpoint, ProgressBar)
from .checkpoints import Checkpointer, restore_checkpoint
from .data import DataLoader
from .devices import array_module, gpu_free_bytes, gpu_module, scalar, to_device, to_floats, to_numpy
from .losses import Loss
from .optim import LRScheduler, Optimizer


# ---------------------------------------------------------------------------
# fit / evaluate / predict
# ---------------------------------------------------------------------------
def fit(model, x, y, loss, optimizer, epochs=1, batch_size=32, validation_data=None, shuffle=True,
        callbacks=(), progress=True, checkpoint=None, resume=False):
    """Train ``model`` on ``(x, y)``; returns a :class:`History`.

    - a tqdm bar per epoch with the running loss and accuracy (shown when
      ``progress`` is true and stderr is a terminal); one summary line per
      epoch is printed unless ``progress=False`` (:class:`ProgressBar`);
    - ``validation_data=(x_val, y_val)`` is evaluated after every epoch;
    - ``callbacks``: :class:`Callback` objects, or schedules from
      :mod:`minicnn.optim`: PolynomialDecay and InverseTimeDecay are stepped after
      every batch, StepLR and ExponentialLR after every epoch;
    - ``checkpoint=path`` saves model, optimiser, schedules, history, epoch and
      random state atomically after every epoch; ``resume=True`` continues
      from it (from scratch when it does not exist yet), ending with exactly
      the weights an uninterrupted run would have;
    - a non-finite loss or gradient raises :class:`TrainingDiverged` naming
      the epoch and batch; the last checkpoint is left as it was;
    - for a model on a GPU, ``x`` and ``y`` stay NumPy arrays: see this module's docstring.
    """
    epochs, user_callbacks, checkpoint = _check_fit_arguments(
        model, x, y, loss, optimizer, epochs, validation_data, callbacks, progress, checkpoint, resume)
    x, y = _on_model_device(model, loss, x, y)
    loader = DataLoader(x, y, batch_size, shuffle=check_bool(shuffle, "shuffle"))
    history, means, guard = History(), EpochMeans(), _DivergenceGuard(optimizer)
    saver = [Checkpointer(checkpoint, optimizer, loader, user_callbacks, history)] if checkpoint else []
    callbacks = CallbackList([history, means, ProgressBar(len(loader), epochs, means, progress),
                              *user_callbacks, *saver], model, {"epochs": epochs, "steps": len(loader)})
    start = restore_checkpoint(checkpoint, model, optimizer, loader, user_callbacks, history) \
        if resume and os.path.exists(checkpoint) else 0
    callbacks.on_train_begin({})
    for epoch in range(start, epochs):
        if model.device != "cpu":                # the GPU's dropout masks, as a resumed run draws them
            _rng.reseed_device(gpu_module())
        callbacks.on_epoch_begin(epoch, {})
        started = time.perf_counter()
        for batch, (xb, yb) in enumerate(loader):
            guard.now_at(epoch, batch)
            xb, yb = _to_model(model, loss, xb, yb)
            out = guard.finite_output(model.forward(xb, training=True))
            value = guard.finite_loss(loss.forward(out, yb))
            optimizer.zero_grad()
            model.backward(loss.backward(), input_grad=False)
            guard.step(optimizer)                   # finite gradients, an update that does not overflow
            callbacks.on_batch_end(batch, _batch_logs(value, out, yb, optimizer.lr))
        guard.settle()
        logs = means.epoch_logs(optimizer.lr)
        if validation_data is not None:
            logs.update(_validate(model, validation_data, loss))
        logs["seconds"] = time.perf_counter() - started
        callbacks.on_epoch_end(epoch, logs)
        if callbacks.stop_training:
            break
    callbacks.on_train_end({})
    return history


def evaluate(model, x, y, loss, batch_size=64):
    """Mean loss and accuracy over ``(x, y)``, batch by batch: ``{"loss": ..., "accuracy": ...}``
    (no accuracy for outputs that are not class scores, see :func:`correct`)."""
    _check_xy(x, y)
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a minicnn loss such as CrossEntropy(), got {type(loss).__name__}")
    batch_size = check_int(batch_size, "batch_size", 1)
    x, y = _on_model_device(model, loss, x, y)
    total_loss, hits = 0.0, 0                              # (0-d arrays on a GPU: fetched once, at the end)
    for start in range(0, len(x), batch_size):
        xb, yb = _to_model(model, loss, x[start:start + batch_size], y[start:start + batch_size])
        out = model.forward(xb)
        total_loss += loss.forward(out, yb) * len(xb)      # losses are batch means
        right = correct(out, yb)
        hits = None if right is None or hits is None else hits + right
    result = {"loss": float(total_loss) / len(x)}
    if hits is not None:
        result["accuracy"] = float(hits) / len(x)
    return result


def predict(model, x, batch_size=64):
    """Outputs of ``model`` for every sample of ``x``, in order, computed
    ``batch_size`` samples at a time (memory stays flat in N beyond the output).
    A NumPy array on either device (on a GPU, fetched in one transfer at the end)."""
    _check_samples(x, "x")
    batch_size = check_int(batch_size, "batch_size", 1)
    if len(x) == 0:
        raise ValueError("x holds no samples")
    out = None
    x, _ = _on_model_device(model, None, x)
    for start in range(0, len(x), batch_size):
        y = model.forward(to_device(x[start:start + batch_size], model.device))
        if out is None:     # allocate once, when the output shape is known
            out = array_module(y).empty((len(x), *y.shape[1:]), dtype=y.dtype)
        out[start:start + len(y)] = y
    return to_numpy(out)


def correct(out, y):
    """Number of right answers in a batch, or None where accuracy has no meaning.

    Accuracy is for class scores: ``out`` (N, C) with C >= 2, against integer labels
    (N,) or targets of ``out``'s shape (one-hot or probabilities), compared by argmax.
    A regression output such as (N, 1) gets no accuracy (Keras logs it only when asked).
    An int; on a GPU a 0-d device array (see :func:`minicnn.devices.scalar`).
    """
    if out.ndim != 2 or out.shape[1] < 2:
        return None
    if y.ndim == 1 and y.dtype.kind in "iu":
        labels = y
    elif y.shape == out.shape:
        labels = y.argmax(axis=1)
    else:
        return None
    return scalar((out.argmax(axis=1) == labels).sum())


# ---------------------------------------------------------------------------
# The book-keeping of fit
# ---------------------------------------------------------------------------
def _batch_logs(value, out, yb, lr):
    """What callbacks get after a batch: ``loss``, ``accuracy`` (class scores only), ``lr``, ``size``."""
    hits = correct(out, yb)
    logs = {"loss": value, "lr": lr} if hits is None else {"loss": value, "accuracy": hits / len(yb), "lr": lr}
    logs["size"] = len(yb)
    return logs


def _on_model_device(model, loss, x, y=None):
    """On a GPU, ``(x, y)`` moved there once, when together they take at most a quarter of its
    free memory: the batches are then slices on the device, and no step waits for a copy from
    the host (which, from pageable memory, waits for the GPU to finish its work). Else, or
    on the CPU, ``(x, y)`` as given: :func:`_to_model` then moves each batch."""
    if model.device == "cpu" or x.nbytes + (0 if y is None else y.nbytes) > gpu_free_bytes() / 4:
        return x, y
    if y is not None:
        _check_target_values(model, loss, x, y)         # on the host, once
    return to_device(x, model.device), None if y is None else to_device(y, model.device)


def _check_target_values(model, loss, x, y):
    if loss.check_target is not None:
        loss.check_target(y, (len(y), *model.output_shape(x.shape[1:])))


def _to_model(model, loss, xb, yb):
    """A host batch on the model's device. For a GPU the target's values are checked
    here, on the host, where the loss cannot check them without waiting for the GPU."""
    if model.device == "cpu" or not isinstance(xb, np.ndarray):     # on the CPU, or moved already
        return xb, yb
    _check_target_values(model, loss, xb, yb)
    return to_device(xb, model.device), to_device(yb, model.device)


def _validate(model, validation_data, loss):
    """``val_loss`` (and ``val_accuracy``) of the epoch."""
    try:
        val = evaluate(model, *validation_data, loss)
    except ValueError as exc:        # e.g. samples of another shape than x's
        raise ValueError(f"validation_data: {exc}") from exc
    return {f"val_{key}": value for key, value in val.items()}


class _DivergenceGuard:
    """The checks of a training step: NaN or inf in the output, the loss or a gradient, or
    an update that overflows the weights' dtype, is a :class:`TrainingDiverged` naming the
    epoch and batch, raised before the weights change."""

    def __init__(self, optimizer):
        self.optimizer, self.where, self.pending = optimizer, "", []

    def now_at(self, epoch, batch):
        self.where = f"at epoch {epoch + 1}, batch {batch + 1}"

    def finite_output(self, out):
        if array_module(out) is np and not np.all(np.isfinite(out)):     # on a GPU: see settle
            raise TrainingDiverged(f"the model's output became NaN or infinite {self.where}; "
                                   "the learning rate is probably too high")
        return out

    def finite_loss(self, value):
        if not isinstance(value, float):          # a GPU's 0-d loss: checked at the epoch's end
            self.pending.append((self.where, value))
        elif not math.isfinite(value):
            raise TrainingDiverged(f"the loss became {value} {self.where}; the learning rate is probably too high")
        return value

    def settle(self):
        """On a GPU, at the epoch's end: the epoch's losses, fetched in one transfer, checked.
        A NaN or inf output gives a NaN or inf loss; the weights were updated after it."""
        values, self.pending = self.pending, []
        for (where, _), value in zip(values, to_floats([v for _, v in values])):
            if not math.isfinite(value):
                raise TrainingDiverged(f"the loss became {value} {where} (a GPU's losses are checked at "
                                       "the epoch's end); the learning rate is probably too high")

    def step(self, optimizer):
        for i, p in enumerate(optimizer.params):
            if array_module(p.grad) is np and not np.isfinite(p.grad).all():
                raise TrainingDiverged(f"the gradient of parameter {i} (shape {p.shape}) became NaN or "
                                       f"infinite {self.where}")
        try:
            optimizer.step()
        except RuntimeError as exc:       # the update overflowed the weights' dtype
            raise TrainingDiverged(f"{exc} ({self.where})") from None


def _check_fit_arguments(model, x, y, loss, optimizer, epochs, validation_data, callbacks, progress,
                         checkpoint, resume):
    """``(epochs, callbacks, checkpoint)`` checked; schedules wrapped in LearningRateScheduler."""
    _check_xy(x, y)
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a minicnn loss such as CrossEntropy(), got {type(loss).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a minicnn optimiser such as SGD(...), got {type(optimizer).__name__}")
    _check_optimizer_holds_model(optimizer, model)
    epochs = check_int(epochs, "epochs", 1)
    check_bool(progress, "progress")
    if checkpoint is not None:
        checkpoint = check_path(checkpoint, "checkpoint", refuse_folder=False)
        if os.path.isdir(checkpoint):
            raise ValueError(f"checkpoint {checkpoint} is a folder, not a minicnn checkpoint file")
    if check_bool(resume, "resume") and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=path")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (x_val, y_val)")
        _check_xy(*validation_data, "validation_data[0]", "validation_data[1]")
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback objects, got {type(callbacks).__name__}")
    callbacks = [LearningRateScheduler(c) if isinstance(c, LRScheduler) else c for c in callbacks]
    for i, c in enumerate(callbacks):
        if not isinstance(c, Callback):
            raise TypeError(f"callbacks[{i}] must be a Callback or a learning-rate schedule, got {type(c).__name__}")
    return epochs, callbacks, checkpoint


def _check_optimizer_holds_model(optimizer, model):
    """The optimiser updates the model's trainable parameters. Holding none of them, it
    would train nothing: a ValueError (Keras refuses an optimiser built for other
    variables; PyTorch trains nothing and says nothing). Missing some, it leaves them as
    they are: a warning, since training only a head with an optimiser of its own is
    PyTorch's idiom; freezing the rest says so and skips their gradients. Frozen
    parameters (``requires_grad=False``) need no optimiser."""
    trainable = {name: p for name, p in model.named_parameters().items() if p.requires_grad}
    held = {id(p) for p in optimizer.params}
    missing = [name for name, p in trainable.items() if id(p) not in held]
    if not missing:
        return
    values = lambda names: f"{sum(trainable[name].size for name in names):,}"
    if len(missing) == len(trainable):
        raise ValueError(
            f"optimizer holds none of the model's {values(missing)} trainable parameters ({len(missing)} "
            f"tensors: {_some(missing)}), so fit would train nothing: it was made for other parameters, another "
            "model's, or this model's before layers were added or replaced. Make it once the model is complete: "
            f"{type(optimizer).__name__}(model.parameters(), ...)")
    _warn_the_caller(
        f"optimizer misses {values(missing)} of the model's {values(trainable)} trainable parameters "
        f"({len(missing)} of {len(trainable)} tensors: {_some(missing)}): fit leaves them as they are. Make "
        "the optimiser from model.parameters() once the model is complete, or freeze what should not "
        "train (layer.trainable = False)")


def _some(names, shown=4):
    """The first few of ``names``, for a message."""
    return ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more)" if len(names) > shown else "")


def _warn_the_caller(message):
    """A UserWarning at the first line outside minicnn (the call of fit or model.fit)."""
    frame, level = sys._getframe(), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("minicnn."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _check_samples(x, name):
    if not isinstance(x, np.ndarray):       # a GPU's batches are moved there one at a time
        raise TypeError(f"{name} must be a numpy.ndarray (fit, evaluate and predict move each batch to the "
                        f"model's device themselves), got {type(x).__name__}")
    check_array(x, name, floating=False)
    if x.ndim == 0:
        raise ValueError(f"{name} must have a samples axis first, got a scalar array")


def _check_xy(x, y, name_x="x", name_y="y"):
    _check_samples(x, name_x)
    _check_samples(y, name_y)
    if len(x) != len(y):
        raise ValueError(f"{name_x} and {name_y} must hold the same number of samples, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError(f"{name_x} holds no samples")


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN or infinite during ``fit``."""


__all__ = ["fit", "evaluate", "predict", "correct", "TrainingDiverged",
           # the callbacks, where they were before minicnn.callbacks held them
           "Callback", "CallbackList", "History", "ProgressBar", "LambdaCallback", "BatchLossHistory",
           "ModelCheckpoint", "EarlyStopping", "LearningRateScheduler"]
