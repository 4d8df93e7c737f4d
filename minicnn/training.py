"""The training loop, Keras-style: ``fit``, ``evaluate``, ``predict``, callbacks, checkpoints.

``Sequential.fit/evaluate/predict`` call the functions here. :func:`fit` is the
loop every framework has, for every epoch and every batch::

    out = model.forward(xb, training=True)      # forward, keeping caches
    value = loss.forward(out, yb)               # the loss
    optimizer.zero_grad()
    model.backward(loss.backward())             # gradients of every parameter
    optimizer.step()                            # update the weights

Everything else is book-keeping, each in a named helper or a callback: the
epoch means and the :class:`History`, the :class:`ProgressBar`, the checks that
turn NaN or inf into :class:`TrainingDiverged`, and the checkpoint written after
every epoch, from which an interrupted run resumes to exactly the same weights.

On a GPU (``model.to("cuda")``) the data set is moved there once, when it takes at
most a quarter of the GPU's free memory (the batches are then taken on the device),
else each batch before its step; the step itself never waits for the GPU. The numbers of a batch
(loss, accuracy) then stay on the device as 0-d arrays, in the callbacks' ``logs`` too,
and are fetched in one transfer at the epoch's end (and every 10 batches for a visible
progress bar); a NaN or inf loss is found there, not at its batch (the error names the
batch). ``evaluate`` returns floats and ``predict`` a NumPy array, on either device.
"""
import json
import math
import os
import sys
import time
from collections.abc import Mapping

import numpy as np
from tqdm.auto import tqdm

from . import _rng
from ._checks import check_array, check_bool, check_choice, check_float, check_int, check_path
from .devices import array_module, gpu_free_bytes, gpu_module, scalar, to_device, to_floats, to_numpy
from .data import DataLoader, ImageFolder
from .io import load_npz, save_npz
from .losses import Loss
from .optim import LRScheduler, Optimizer

_CHECKPOINT_FORMAT = "minicnn.checkpoint/1"
_CHECKPOINT_WHAT = "a minicnn checkpoint (an .npz archive written by fit(checkpoint=...))"


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
    - for a model on a GPU, ``x`` and ``y`` stay NumPy arrays: see this module's docstring;
    - ``x`` may be a :class:`minicnn.data.ImageFolder` (and ``y=None``: the folder's labels),
      read one batch at a time; so may ``validation_data``'s, as ``(folder, None)``.
    """
    x, y = _with_labels(x, y)
    epochs, user_callbacks, checkpoint = _check_fit_arguments(
        model, x, y, loss, optimizer, epochs, validation_data, callbacks, progress, checkpoint, resume)
    x, y = _on_model_device(model, loss, x, y)
    loader = DataLoader(x, y, batch_size, shuffle=check_bool(shuffle, "shuffle"))
    history, means, guard = History(), _EpochMeans(), _DivergenceGuard(optimizer)
    saver = [_Checkpointer(checkpoint, optimizer, loader, user_callbacks, history)] if checkpoint else []
    callbacks = CallbackList([history, means, ProgressBar(len(loader), epochs, means, progress),
                              *user_callbacks, *saver], model, {"epochs": epochs, "steps": len(loader)})
    start = _restore(checkpoint, model, optimizer, loader, user_callbacks, history) \
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
    (no accuracy for outputs that are not class scores, see :func:`correct`). ``x`` may be
    an ImageFolder, with ``y=None`` for its labels."""
    x, y = _with_labels(x, y)
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
    A NumPy array on either device (on a GPU, fetched in one transfer at the end). ``x``
    may be an ImageFolder, decoded one batch at a time."""
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
    if model.device == "cpu" or isinstance(x, ImageFolder) \
            or x.nbytes + (0 if y is None else y.nbytes) > gpu_free_bytes() / 4:
        return x, y                      # (a folder is read, and moved, one batch at a time)
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
        _check_xy(*_with_labels(*validation_data), "validation_data[0]", "validation_data[1]")
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback objects, got {type(callbacks).__name__}")
    callbacks = [LearningRateScheduler(c) if isinstance(c, LRScheduler) else c for c in callbacks]
    for i, c in enumerate(callbacks):
        if not isinstance(c, Callback):
            raise TypeError(f"callbacks[{i}] must be a Callback or a learning-rate schedule, got {type(c).__name__}")
    return epochs, callbacks, checkpoint


def _with_labels(x, y):
    """``(x, y)``, with an ImageFolder's labels for ``y=None`` (``fit(folder, None, ...)``)."""
    return (x, x.labels) if isinstance(x, ImageFolder) and y is None else (x, y)


def _check_samples(x, name):
    if isinstance(x, ImageFolder):          # images decoded as their batches are taken
        return
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


# ---------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------
class Callback:
    """Hooks into ``fit``. Subclass and override what you need.

    ``self.model`` is set before training starts, and ``self.params`` (Keras's
    name) to ``{"epochs": E, "steps": batches per epoch}``. Setting
    ``self.stop_training = True`` ends training after the current epoch (so does
    Keras's ``self.model.stop_training = True``). ``logs`` is a dict: per batch
    ``loss``, ``accuracy`` (for class scores only), ``lr`` and ``size`` (the
    batch's sample count); per epoch the History keys. For a model on a GPU the
    per-batch ``loss`` and ``accuracy`` are 0-d device arrays: ``float(logs["loss"])``
    gives the number, and waits for the GPU (minicnn's own callbacks fetch them together,
    at the epoch's end). A callback with ``state_dict``/``load_state_dict`` has its state
    saved in checkpoints.
    """

    model = None
    params = {}
    stop_training = False

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs):
        pass

    def on_epoch_begin(self, epoch, logs):
        pass

    def on_batch_end(self, batch, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_train_end(self, logs):
        pass


class CallbackList:
    """Several callbacks called as one, in order; ``stop_training`` once any of them asks."""

    def __init__(self, callbacks, model, params=None):
        self.callbacks = list(callbacks)
        model.__dict__.pop("stop_training", None)        # Keras's flag, from a run before
        self.model = model
        for c in self.callbacks:
            c.set_model(model)
            c.set_params(dict(params or {}))
            c.stop_training = False

    @property
    def stop_training(self):
        return any(c.stop_training for c in self.callbacks) or getattr(self.model, "stop_training", False)

    def on_train_begin(self, logs):
        for c in self.callbacks:
            c.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs):
        for c in self.callbacks:
            c.on_epoch_begin(epoch, logs)

    def on_batch_end(self, batch, logs):
        for c in self.callbacks:
            c.on_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs):
        for c in self.callbacks:
            c.on_epoch_end(epoch, logs)

    def on_train_end(self, logs):
        for c in self.callbacks:
            c.on_train_end(logs)
        self.model.__dict__.pop("stop_training", None)


class History(Callback):
    """The numbers of a ``fit`` run, per epoch and per batch.

    ``history.history``: one number per epoch, Keras's dict:
    ``history.history["val_accuracy"][-1]``. Keys: ``loss``, ``accuracy``, ``lr``,
    ``seconds`` and, with validation data, ``val_loss`` and ``val_accuracy``. The
    accuracies are left out for outputs that are not class scores (a regression's
    (N, 1), say).

    ``history.batches``: one number per training batch, in order, for curves finer
    than an epoch (``viz.plot_history`` draws them): ``"epoch"`` where the batch
    ends on the epoch axis (batch ``b`` of ``n`` in epoch ``e``, counted from 0,
    ends at ``e + (b + 1) / n``; the first epoch's last batch at 1.0, where its
    validation is computed), ``"loss"`` and ``"accuracy"`` (class scores only), the
    batch's mean before its update. Three floats a batch; checkpoints keep them.

    ``history.as_dict()`` is both in one JSON-able dict (what the examples write
    to history.json); ``History(that_dict)`` reads it back.
    """

    def __init__(self, history=None, batches=None):
        if history is not None and not isinstance(history, Mapping):
            raise TypeError(f"history must be a dict of lists such as History().history, "
                            f"got {type(history).__name__}")
        if batches is not None and not isinstance(batches, Mapping):
            raise TypeError(f"batches must be a dict of lists such as History().batches, "
                            f"got {type(batches).__name__}")
        history = dict(history or {})
        if isinstance(history.get("batches"), Mapping):        # as_dict()'s form
            record = history.pop("batches")
            batches = record if batches is None else batches
        self.history = {k: list(v) for k, v in history.items()}
        self.batches = {k: list(v) for k, v in (batches or {}).items()}
        self._epoch = 0

    @property
    def epochs(self):
        return len(self.history.get("loss", []))

    def append(self, logs):
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def on_epoch_begin(self, epoch, logs):
        self._epoch = epoch

    def on_batch_end(self, batch, logs):
        steps = self.params.get("steps") or batch + 1      # fit always says; a caller of its own may not
        self.batches.setdefault("epoch", []).append(self._epoch + (batch + 1) / steps)
        for key in ("loss", "accuracy"):
            if key in logs:      # a GPU's 0-d arrays wait, to be fetched together (settle)
                self.batches.setdefault(key, []).append(logs[key] if hasattr(logs[key], "shape") else float(logs[key]))

    def on_epoch_end(self, epoch, logs):
        self.settle()
        self.append(logs)

    def settle(self):
        """Every per-batch number still on a GPU, as floats (one transfer per key)."""
        for values in self.batches.values():
            waiting = [i for i, v in enumerate(values) if not isinstance(v, float)]
            for i, v in zip(waiting, to_floats([values[i] for i in waiting])):
                values[i] = v

    def as_dict(self):
        """``{**history.history, "batches": history.batches}``: the run in one JSON-able dict."""
        return {**self.history, "batches": self.batches}

    def __repr__(self):
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History({self.epochs} epochs, last={last})"


class _EpochMeans(Callback):
    """Sample-weighted means of the batch losses (and accuracies) of the epoch so far."""

    def on_epoch_begin(self, epoch, logs):
        self.seen, self.loss_sum, self.hits = 0, 0.0, 0

    def on_batch_end(self, batch, logs):
        n = logs["size"]               # (the sums stay on a GPU until epoch_logs asks)
        self.seen, self.loss_sum = self.seen + n, self.loss_sum + logs["loss"] * n
        # None once a batch has no accuracy
        self.hits = None if "accuracy" not in logs or self.hits is None else self.hits + logs["accuracy"] * n

    def epoch_logs(self, lr):
        logs = {"loss": float(self.loss_sum) / self.seen}
        if self.hits is not None:       # each hits / n * n is within rounding of a whole count
            logs["accuracy"] = round(float(self.hits)) / self.seen
        logs["lr"] = lr
        return logs


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss and accuracy (when ``show`` and stderr is
    a terminal), and one summary line per epoch (when ``show``)."""

    def __init__(self, batches, epochs, means, show=True):
        self.batches, self.epochs, self.means, self.show = batches, epochs, means, show

    def on_epoch_begin(self, epoch, logs):
        self.bar = tqdm(total=self.batches, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="batch",
                        disable=not (self.show and sys.stderr.isatty()), leave=False, file=sys.stderr)

    def on_batch_end(self, batch, logs):
        self.bar.update(1)
        if not self.bar.disable and (batch % 10 == 0 or batch == self.batches - 1):
            running = self.means.epoch_logs(None)
            postfix = {"loss": f"{running['loss']:.4f}"}
            if "accuracy" in running:
                postfix["acc"] = f"{running['accuracy']:.4f}"
            self.bar.set_postfix(postfix, refresh=False)

    def on_epoch_end(self, epoch, logs):
        self.bar.close()
        if self.show:
            print(f"Epoch {epoch + 1}/{self.epochs} - " + " - ".join(
                f"{k}: {v:.4g}" if k in ("lr", "seconds") else f"{k}: {v:.4f}" for k, v in logs.items()))


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_batch_end=lambda b, logs: ...)``."""

    def __init__(self, on_epoch_end=None, on_batch_end=None):
        for name, fn in (("on_epoch_end", on_epoch_end), ("on_batch_end", on_batch_end)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a callable (index, logs) or None, got {type(fn).__name__}")
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end
        if on_batch_end is not None:
            self.on_batch_end = on_batch_end


class BatchLossHistory(Callback):
    """Keeps the loss (and accuracy) of every batch: ``cb.losses``, ``cb.accuracies``."""

    def __init__(self):
        self.losses, self.accuracies = [], []

    def on_batch_end(self, batch, logs):
        self.losses.append(logs["loss"])
        if "accuracy" in logs:                  # not for outputs that are not class scores
            self.accuracies.append(logs["accuracy"])

    def state_dict(self):
        return {"losses": to_floats(self.losses), "accuracies": to_floats(self.accuracies)}

    def load_state_dict(self, state):
        self.losses, self.accuracies = list(state["losses"]), list(state["accuracies"])


def _improved(mode, value, best, min_delta=0.0):
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _mode(monitor, mode):
    check_choice(mode, "mode", ("auto", "min", "max"))
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


def _check_monitor(monitor):
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor must be the name of a logged value such as 'val_loss', got {monitor!r}")
    return monitor


def _monitored(logs, monitor, who):
    if monitor not in logs:
        raise ValueError(f"{who}: monitor {monitor!r} is not among the logged values {sorted(logs)} "
                         "(val_* needs validation_data)")
    return logs[monitor]


class ModelCheckpoint(Callback):
    """Save the model to ``path`` after an epoch (only when ``monitor`` improved, by default)."""

    def __init__(self, path, monitor="val_loss", save_best_only=True, mode="auto"):
        self.path = check_path(path, "path")
        self.monitor = _check_monitor(monitor)
        self.save_best_only = check_bool(save_best_only, "save_best_only")
        self.mode = _mode(monitor, mode)
        self.best = None

    def on_epoch_end(self, epoch, logs):
        value = _monitored(logs, self.monitor, "ModelCheckpoint")
        if not self.save_best_only or _improved(self.mode, value, self.best):
            self.best = value
            self.model.save(self.path)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state["best"]


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved (by more than ``min_delta``) for ``patience`` epochs.

    With ``restore_best_weights=True`` the model gets the weights of its best epoch back.
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        self.monitor = _check_monitor(monitor)
        self.patience = check_int(patience, "patience", 0)
        self.min_delta = abs(check_float(min_delta, "min_delta"))
        self.mode = _mode(monitor, mode)
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.best, self.wait, self.best_weights, self.stopped_epoch = None, 0, None, None

    def on_epoch_end(self, epoch, logs):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if _improved(self.mode, value, self.best, self.min_delta):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.load_state_dict(self.best_weights)

    def state_dict(self):
        # the best weights too: a resumed run must restore them just as an uninterrupted one
        return {"best": self.best, "wait": self.wait, "best_weights": self.best_weights,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state):
        self.best, self.wait = state["best"], state["wait"]
        self.best_weights, self.stopped_epoch = state.get("best_weights"), state.get("stopped_epoch")


class LearningRateScheduler(Callback):
    """Step a schedule from :mod:`minicnn.optim` during ``fit``: after every batch
    when ``schedule.per_batch`` (PolynomialDecay, InverseTimeDecay), else after every
    epoch (StepLR, ExponentialLR).

    Passing the schedule itself in ``callbacks`` wraps it in this class.
    """

    def __init__(self, schedule):
        if not isinstance(schedule, LRScheduler):
            raise TypeError(f"schedule must be a minicnn.optim learning-rate schedule, got {type(schedule).__name__}")
        self.schedule = schedule

    def on_batch_end(self, batch, logs):
        if self.schedule.per_batch:
            self.schedule.step()

    def on_epoch_end(self, epoch, logs):
        if not self.schedule.per_batch:
            self.schedule.step()

    def state_dict(self):
        return self.schedule.state_dict()

    def load_state_dict(self, state):
        self.schedule.load_state_dict(state)


class _Checkpointer(Callback):
    """fit's ``checkpoint=path``: everything a resume needs, saved after every epoch."""

    def __init__(self, path, optimizer, loader, callbacks, history):
        self.path, self.optimizer, self.loader, self.callbacks, self.history = \
            path, optimizer, loader, callbacks, history

    def on_epoch_end(self, epoch, logs):
        _save_checkpoint(self.path, epoch, self.model, self.optimizer, self.loader, self.callbacks, self.history)


# ---------------------------------------------------------------------------
# Checkpoints: one .npz holding arrays, plus a JSON document for the rest
# ---------------------------------------------------------------------------
def _save_checkpoint(path, epoch, model, optimizer, loader, callbacks, history):
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_scalars = {}
    for k, v in optimizer.state_dict().items():
        if isinstance(v, np.ndarray):
            arrays[f"optimizer/{k}"] = v
        else:
            opt_scalars[k] = v
    meta = {
        "format": _CHECKPOINT_FORMAT, "epoch": epoch, "architecture": model.architecture(),
        "optimizer": {"class": type(optimizer).__name__, "scalars": opt_scalars},
        "callbacks": {str(i): _arrays_apart(c.state_dict(), f"callbacks/{i}", arrays)
                      for i, c in enumerate(callbacks) if hasattr(c, "state_dict")},
        "history": history.history,
        # per batch: arrays in the archive (a long run's batches would bloat the JSON)
        "history_batches": _arrays_apart({k: np.asarray(v, dtype=np.float64) for k, v in history.batches.items()},
                                         "history/batches", arrays),
        "loader_rng": loader.rng.bit_generator.state,
        "global_rng": _rng.get_rng().bit_generator.state,
    }
    arrays["__meta__"] = np.array(json.dumps(meta))
    save_npz(path, arrays)


def _arrays_apart(value, key, arrays):
    """``value`` (a callback's state) made JSON-able: every ndarray in it, however deep in
    dicts and lists, moves into ``arrays`` under ``key/...`` and leaves ``{"__array__": key}``."""
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, Mapping):
        return {k: _arrays_apart(v, f"{key}/{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_arrays_apart(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    return value


def _arrays_back(value, arrays):
    """Inverse of :func:`_arrays_apart` (a KeyError for a reference to a missing array)."""
    if isinstance(value, Mapping):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _arrays_back(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_arrays_back(v, arrays) for v in value]
    return value


_CHECKPOINT_KEYS = ("epoch", "architecture", "optimizer", "callbacks", "history", "loader_rng", "global_rng")


def _first_difference(saved, model, arrays):
    """Where a checkpoint's layers and weights first differ from ``model``'s, for error messages."""
    ours = model.architecture()
    saved = saved if isinstance(saved, list) else [saved]
    i = next((i for i, (a, b) in enumerate(zip(saved, ours)) if a != b), min(len(saved), len(ours)))

    def layer(arch):
        if i >= len(arch):
            return "absent"
        item = arch[i]
        if isinstance(item, dict) and isinstance(item.get("config"), dict):
            return f"{item.get('class')}({', '.join(f'{k}={v!r}' for k, v in item['config'].items())})"
        return repr(item)

    text = f"layer {i} is {layer(saved)} in the checkpoint, {layer(ours)} in the model"
    stored = {k[6:]: v.shape for k, v in arrays.items() if k.startswith("model/")}
    expected = {k: v.shape for k, v in model.state_dict().items()}
    shape = lambda s: "absent" if s is None else f"shape {s}"
    order = {k: n for n, k in enumerate([*stored, *(k for k in expected if k not in stored)])}
    by_layer = lambda k: (int(k.split(".")[0]) if k.split(".")[0].isdigit() else -1, order[k])
    for key in sorted(order, key=by_layer):
        if stored.get(key) != expected.get(key):
            return (f"{text}; first mismatching key {key!r}: {shape(stored.get(key))} in the checkpoint, "
                    f"{shape(expected.get(key))} in the model")
    return f"{text} (every weight has the same shape)"


def _restore(path, model, optimizer, loader, callbacks, history):
    """Load a checkpoint into the objects of this run; returns the epoch to start at."""
    arrays = load_npz(path, what=_CHECKPOINT_WHAT)
    try:
        if "__meta__" not in arrays:
            raise ValueError(f"it has no {_CHECKPOINT_FORMAT} metadata")
        meta = json.loads(str(arrays.pop("__meta__")))
        if not isinstance(meta, dict) or meta.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"its metadata is not {_CHECKPOINT_FORMAT}")
        lacking = [k for k in _CHECKPOINT_KEYS if k not in meta]
        if lacking:
            raise ValueError(f"its metadata lacks {lacking}")
        _check_meta_types(meta)
        batches = _batch_record(meta.get("history_batches", {}), arrays)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path} is not a minicnn checkpoint: {exc}") from exc
    if meta["architecture"] != model.architecture():
        raise ValueError(f"{path} holds a checkpoint of another architecture than this model: "
                         f"{_first_difference(meta['architecture'], model, arrays)}")
    if meta["optimizer"]["class"] != type(optimizer).__name__:
        raise ValueError(f"{path} holds {meta['optimizer']['class']} state, but the optimiser is "
                         f"{type(optimizer).__name__}")
    stateful = [c for c in callbacks if hasattr(c, "state_dict") and hasattr(c, "load_state_dict")]
    before = (model.state_dict(), optimizer.state_dict(), [c.state_dict() for c in stateful],
              loader.rng.bit_generator.state, _rng.get_rng().bit_generator.state)
    try:
        model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model/")},
                              source=str(path))
        opt_state = dict(meta["optimizer"]["scalars"])
        opt_state.update({k[10:]: v for k, v in arrays.items() if k.startswith("optimizer/")})
        optimizer.load_state_dict(opt_state)
        for i, c in enumerate(callbacks):
            if hasattr(c, "load_state_dict") and str(i) in meta["callbacks"]:
                c.load_state_dict(_arrays_back(meta["callbacks"][str(i)], arrays))
        loader.rng.bit_generator.state = meta["loader_rng"]
        _rng.get_rng().bit_generator.state = meta["global_rng"]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # all or nothing: put back what was loaded before the failure
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        for c, state in zip(stateful, before[2]):
            c.load_state_dict(state)
        loader.rng.bit_generator.state, _rng.get_rng().bit_generator.state = before[3:]
        if isinstance(exc, ValueError) and str(path) in str(exc):
            raise
        raise ValueError(f"{path}: cannot resume from this checkpoint: {exc}") from exc
    history.history = {k: list(v) for k, v in meta["history"].items()}
    history.batches = batches
    return meta["epoch"] + 1


def _batch_record(entry, arrays):
    """The checkpoint's per-batch record as ``History.batches`` (checkpoints written
    before there was one have none: ``{}``)."""
    if not isinstance(entry, dict) or not all(isinstance(v, dict) for v in entry.values()):
        raise ValueError("its history_batches entry is not a dict of array references")
    record = _arrays_back(entry, arrays)
    lengths = {len(v) if isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == np.float64 else -1
               for v in record.values()}
    if -1 in lengths or len(lengths) > 1:
        raise ValueError("its per-batch history is not float64 vectors of one length")
    return {k: v.tolist() for k, v in record.items()}


def _check_meta_types(meta):
    """Types of the metadata entries ``_restore`` uses, before anything is changed."""
    epoch = meta["epoch"]
    if type(epoch) is not int or epoch < 0:
        raise ValueError(f"its epoch is {epoch!r}, not an int >= 0")
    optimizer = meta["optimizer"]
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("class"), str)
            and isinstance(optimizer.get("scalars"), dict)):
        raise ValueError("its optimizer entry is not {\"class\": str, \"scalars\": {...}}")
    for key in ("callbacks", "history", "loader_rng", "global_rng"):
        if not isinstance(meta[key], dict):
            raise ValueError(f"its {key} entry is a {type(meta[key]).__name__}, not a dict")
    if not all(isinstance(v, list) for v in meta["history"].values()):
        raise ValueError("its history entry is not a dict of lists")
