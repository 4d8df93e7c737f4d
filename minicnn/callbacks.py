"""Callbacks: hooks into :func:`minicnn.training.fit` (Keras's ``keras.callbacks``).

``fit`` calls every callback, in the order given, at five moments::

    on_train_begin(logs)
    for each epoch:   on_epoch_begin(epoch, logs)
                      on_batch_end(batch, logs)       after every training step
                      on_epoch_end(epoch, logs)       after the validation
    on_train_end(logs)

Its own are :class:`History` (the numbers of the run, returned by ``fit``),
:class:`EpochMeans` and :class:`ProgressBar`; a user adds :class:`LambdaCallback`,
:class:`BatchLossHistory`, :class:`ModelCheckpoint`, :class:`EarlyStopping` and
:class:`LearningRateScheduler` (a schedule passed to ``fit`` is wrapped in one), or a
subclass of :class:`Callback`. A callback with ``state_dict``/``load_state_dict`` has its
state kept in ``fit``'s checkpoints (:mod:`minicnn.checkpoints`).
"""
import sys
from collections.abc import Mapping

from tqdm.auto import tqdm

from ._checks import check_bool, check_choice, check_float, check_int, check_path
from .devices import to_floats
from .optim import LRScheduler


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


class EpochMeans(Callback):
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


__all__ = ["Callback", "CallbackList", "History", "EpochMeans", "ProgressBar", "LambdaCallback",
           "BatchLossHistory", "ModelCheckpoint", "EarlyStopping", "LearningRateScheduler"]
