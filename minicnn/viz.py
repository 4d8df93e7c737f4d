"""Pictures of a network and of its training, drawn with matplotlib.

    from minicnn import viz

    history = model.fit(x, y, loss, opt, epochs=10, validation_data=(x_val, y_val))
    viz.plot_history(history, path="curves.png")                 # learning curves
    viz.plot_confusion_matrix(y_test, model.predict(x_test))     # where it goes wrong
    viz.show_images(x_test[:32], y_test[:32], model.predict(x_test[:32]))
    viz.plot_feature_maps(model, x_test[0])                      # what each layer sees
    viz.plot_filters(model[0])                                   # what the first layer learned

Every function returns the matplotlib ``Figure``: it appears by itself in a
notebook, ``plt.show()`` opens it in a window, and ``plt.close(fig)`` frees it
(the caller closes it). With ``path=...`` the figure is also written there as a
PNG, atomically: it is rendered into a temporary file beside ``path`` and then
renamed onto it, so ``path`` never holds half a picture.

matplotlib is imported inside the functions only, so ``import minicnn`` stays
light. On a machine without a display (a server, CI) the non-interactive Agg
backend is chosen, which draws into files just as well.

Shapes follow the rest of minicnn: images and feature maps are NCHW, and a
Conv2D layer's weights ``W`` are (O, C, kh, kw).
"""
import contextlib
import math
import os
import sys
import warnings
from collections.abc import Mapping

import numpy as np

from ._checks import (as_array, check_array, check_bool, check_choice, check_class_names, check_int, check_labels,
                      check_path)
from .devices import to_device, to_numpy
from .io import atomic_write
from .layers import AvgPool2D, Conv2D, MaxPool2D
from .metrics import confusion_matrix
from .model import Sequential
from .training import History

__all__ = ["plot_history", "plot_confusion_matrix", "show_images", "plot_feature_maps", "plot_filters"]

#: Resolution of saved PNG files (dots per inch).
SAVE_DPI = 120

#: The layers whose outputs ``plot_feature_maps`` shows by default.
FEATURE_MAP_LAYERS = (Conv2D, MaxPool2D, AvgPool2D)

_MISTAKE_COLOR = "tab:red"


# ---------------------------------------------------------------------------
# matplotlib, figures and files
# ---------------------------------------------------------------------------
def _has_display():
    """Whether windows can be opened: on Linux and the other X11/Wayland
    systems that needs ``DISPLAY`` or ``WAYLAND_DISPLAY``; macOS and Windows
    always have one."""
    if sys.platform in ("darwin", "win32", "cygwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def pyplot():
    """Import and return ``matplotlib.pyplot``, choosing the Agg backend when
    there is no display (so scripts run on servers and in CI).

    A backend the user chose is left alone: one named in the ``MPLBACKEND``
    environment variable (Jupyter sets it), or the one pyplot already runs
    with (switching it would close the user's open figures).
    """
    import matplotlib
    user_chose = bool(os.environ.get("MPLBACKEND")) or "matplotlib.pyplot" in sys.modules
    if not user_chose and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure_path(path):
    """``path`` to save a figure to (its folder must exist), or None for no file."""
    return None if path is None else check_path(path, "path", folder_must_exist=True)


@contextlib.contextmanager
def _new_figure(**kwargs):
    """A new pyplot figure that is closed again if drawing or saving it fails,
    so that a failed call leaves no figure behind."""
    plt = pyplot()
    fig = plt.figure(**kwargs)
    try:
        yield fig
    except BaseException:
        plt.close(fig)
        raise


def save_figure(fig, path):
    """Write ``fig`` as a PNG to ``path`` (if not None), atomically."""
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    path = _figure_path(path)
    if path is not None:
        # Drawing happens here. Text (class names, titles) with characters the font lacks,
        # such as control characters, is drawn with a placeholder box, and values near
        # the float64 maximum overflow inside matplotlib's axis-limit arithmetic: the
        # picture is still right, so no warning for either.
        with atomic_write(path) as f, warnings.catch_warnings(), \
                np.errstate(over="ignore", invalid="ignore"):
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
            fig.savefig(f, format="png", dpi=SAVE_DPI)


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------
def _as_numeric(values, name, ndim):
    """``values`` (an ndarray, list or tuple) as a non-empty real array with ``ndim`` dimensions."""
    arr = as_array(values, name, ndim)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _ndim(values):
    """``np.ndim(values)``, or None for a ragged nested list (which np.ndim cannot take)."""
    try:
        return np.ndim(values)
    except ValueError:
        return None


def _check_predictions(predictions, n):
    """Predicted labels from labels (n,) or from scores (n, C) (argmax over the classes)."""
    if isinstance(predictions, (np.ndarray, list, tuple)) and _ndim(predictions) == 2:
        scores = _as_numeric(predictions, "predictions", ndim=2)
        if len(scores) != n:
            raise ValueError(f"predictions must hold one row of scores per image: {n}, got {len(scores)}")
        if not np.all(np.isfinite(scores)):               # argmax would pick a NaN as the winner
            raise ValueError("predictions (scores) contain NaN or inf")
        return scores.argmax(axis=1)
    return check_labels(predictions, "predictions (labels (N,) or scores (N, C))", n)


def _check_names_cover(class_names, labels, name):
    """Every label must have a name."""
    if class_names is not None and labels is not None and labels.max() >= len(class_names):
        raise ValueError(f"{name} holds label {labels.max()} but class_names has only "
                         f"{len(class_names)} names")


# ---------------------------------------------------------------------------
# Learning curves
# ---------------------------------------------------------------------------
#: (panel title, y-axis label, training key, validation key)
_PANELS = (("Loss", "loss", "loss", "val_loss"),
           ("Accuracy", "accuracy", "accuracy", "val_accuracy"))


#: plot_history's automatic choice: per-batch curves up to this many epochs, per-epoch points beyond.
PER_BATCH_MAX_EPOCHS = 10


def _history_data(history):
    """``(per-epoch dict, per-batch dict or None)`` of a History or of its ``as_dict()``/``.history`` dict."""
    if isinstance(history, History):
        return history.history, history.batches or None
    if isinstance(history, Mapping):
        batches = history.get("batches")
        if isinstance(batches, Mapping):
            return {k: v for k, v in history.items() if k != "batches"}, batches or None
        return history, None
    raise TypeError(f"history must be the History returned by fit() or its .history dict, "
                    f"got {type(history).__name__}")


def _history_panels(data):
    """``[(title, ylabel, [(key, values), ...]), ...]`` for the panels that have data."""
    panels = []
    for title, ylabel, *keys in _PANELS:
        curves = [(key, _as_numeric(data[key], f"history[{key!r}]", ndim=1)) for key in keys if key in data]
        if curves:
            panels.append((title, ylabel, curves))
    if not panels:
        raise ValueError(f"history has none of the keys 'loss', 'val_loss', 'accuracy', 'val_accuracy' "
                         f"(got {sorted(map(repr, data))}); was the model trained?")
    return panels


def _per_batch_curves(batches):
    """The per-batch record checked: ``(positions, {"loss": values, "accuracy": values})``."""
    if "epoch" not in batches or "loss" not in batches:
        raise ValueError(f"history's per-batch record needs 'epoch' and 'loss', got {sorted(map(repr, batches))}")
    where = _as_numeric(batches["epoch"], "history.batches['epoch']", ndim=1).astype(np.float64)
    if not np.all(np.isfinite(where)) or np.any(np.diff(where) <= 0):
        raise ValueError("history.batches['epoch'] must be finite and increasing")
    curves = {}
    for key in ("loss", "accuracy"):
        if key in batches:
            curves[key] = _as_numeric(batches[key], f"history.batches[{key!r}]", ndim=1)
            if len(curves[key]) != len(where):
                raise ValueError(f"history.batches[{key!r}] has {len(curves[key])} entries for "
                                 f"{len(where)} batches")
    return where, curves


def _smooth(values, span):
    """Exponential moving average of ``values`` over about ``span`` steps, bias-corrected
    (as TensorBoard's smoothing and Adam's moments): ``m_t = b m_(t-1) + (1 - b) v_t``
    with ``b = 1 - 2 / (span + 1)``, divided by ``1 - b**t`` so that the first
    steps are not pulled towards 0. NaN and inf pass through where they are."""
    values = np.asarray(values, dtype=np.float64)
    beta = 1.0 - 2.0 / (max(span, 1) + 1)
    out, mean, weight = np.empty_like(values), 0.0, 0.0
    for t, v in enumerate(values):          # a running state: one pass, once per figure
        if np.isfinite(v):
            mean, weight = beta * mean + (1 - beta) * v, beta * weight + (1 - beta)
            out[t] = mean / weight
        else:
            out[t] = v
    return out


def _drawable(values):
    """matplotlib cannot place ticks on a range wider than the float64 maximum ("arange:
    cannot compute length"): finite values beyond +-1e300 (a diverged loss) are drawn at +-1e300."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), np.clip(values, -1e300, 1e300), values)


def plot_history(history, path=None, per_batch=None):
    """Learning curves: loss and accuracy, for training and validation data.

    history: the :class:`~minicnn.training.History` returned by ``fit``, its
        ``history.as_dict()`` (as the examples write it to history.json), or its
        ``history.history`` dict ``{"loss": [...], "accuracy": [...],
        "val_loss": [...], "val_accuracy": [...]}`` holding one number per
        epoch (lists of length E). The ``val_*`` curves are drawn when present;
        a panel with neither of its keys is left out.
    per_batch: ``True`` draws the training curves batch by batch (the history
        needs its per-batch record, ``History.batches``), ``False`` one point per
        epoch; ``None`` (the default) chooses per-batch when the record is there
        and the run has at most ``PER_BATCH_MAX_EPOCHS`` (10) epochs: a few epochs
        give a few points, which show nothing of how training went, while a long
        run's epoch points are already a curve.

    Per batch: the x axis is the epoch, fractional within it (1.0 is the end of
    the first epoch). Each batch's training loss and accuracy are drawn thin and
    faint (they are noisy: one batch of 32 images), and over them their
    exponential moving average, as TensorBoard smooths its curves (bias-corrected,
    over a fiftieth of the run's batches, at least 10); the validation points, computed
    at the end of every epoch, are squares at 1, 2, ..., E. The moving average at
    an epoch's end is the training loss of the weights of that moment, comparable
    to the validation point there (the per-epoch mean in ``history.history`` also
    counts the epoch's early, worse batches). The loss axis is logarithmic when
    the loss spans more than a factor of 20, as it does in most classification runs;
    the accuracy axis starts just below the validation points and the moving
    average after the run's first tenth, so that 98% and 99% are told apart (the
    first climb enters from below; the loss panel shows it whole), and then draws
    no per-batch accuracies: multiples of 1/32 for a batch of 32, they would fill it.

    Per epoch: epochs 1..E on the x axis, training curves solid with dots,
    validation curves dashed with squares.

    Returns the Figure: one Axes per panel (two for a ``fit`` history); per
    batch, each holds the raw training line (not on a zoomed accuracy axis), the
    smoothed one and the validation line, in that order. A validation loss that rises while the training loss
    keeps falling is the classic picture of overfitting.
    """
    data, batches = _history_data(history)
    panels = _history_panels(data)
    if per_batch is not None:
        check_bool(per_batch, "per_batch")
    epochs = max(len(values) for _, _, curves in panels for _, values in curves)
    if per_batch is None:
        per_batch = batches is not None and epochs <= PER_BATCH_MAX_EPOCHS
    elif per_batch and batches is None:
        raise ValueError("per_batch=True needs the history's per-batch record (History.batches, or the "
                         "'batches' entry of History.as_dict()); this history holds per-epoch numbers only")
    record = _per_batch_curves(batches) if per_batch else None
    path = _figure_path(path)
    from matplotlib.ticker import MaxNLocator

    with _new_figure(figsize=(5.2 * len(panels), 3.8), layout="constrained") as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (title, ylabel, curves) in zip(axes, panels):
            if record is not None:
                _draw_per_batch(ax, curves, *record)
            else:
                for key, values in curves:
                    style, label = ("s--", "validation") if key.startswith("val_") else ("o-", "training")
                    ax.plot(np.arange(1, len(values) + 1), _drawable(values), style, markersize=4, label=label)
            ax.set_title(title)
            ax.set_xlabel("Epoch")
            ax.set_ylabel(ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))    # no epoch 1.5
            ax.grid(True, alpha=0.3)
            ax.legend()
        save_figure(fig, path)
    return fig


def _draw_per_batch(ax, curves, where, batch_curves):
    """One panel of the per-batch view: the batches faint, their moving average, the validation points."""
    span = max(10, round(len(where) / 50))
    validation = [np.asarray(v, dtype=np.float64) for k, v in curves if k.startswith("val_")]
    for key, values in curves:
        if key.startswith("val_"):
            continue
        if key not in batch_curves:          # e.g. accuracy per epoch but not per batch: as recorded
            ax.plot(np.arange(1, len(values) + 1), _drawable(values), "o-", markersize=4, label="training")
            continue
        raw = np.asarray(batch_curves[key], dtype=np.float64)
        smoothed = _smooth(raw, span)
        zoom = _settled_range(raw, smoothed, validation) if key == "accuracy" else None
        if zoom is None:         # zoomed in, a batch's accuracy (a multiple of 1/32) would fill the panel
            ax.plot(where, _drawable(raw), "-", color="tab:blue", linewidth=0.5, alpha=0.3,
                    label="training, per batch")
        ax.plot(where, _drawable(smoothed), "-", color="tab:blue", linewidth=1.8,
                label=f"training, moving average ({span} batches)")
        if zoom is not None:
            ax.set_ylim(*zoom)
        elif key == "loss":
            finite = np.concatenate([smoothed, *validation])
            finite = finite[np.isfinite(finite)]
            if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
                ax.set_yscale("log")
    for values in validation:
        ax.plot(np.arange(1, len(values) + 1), _drawable(values), "s--", color="tab:orange", markersize=6,
                zorder=3, label="validation (end of epoch)")
    end = max(where[-1], max((len(v) for v in validation), default=0))
    ax.set_xlim(0, end * 1.02)                  # room for the last validation square


def _settled_range(raw, smoothed, validation):
    """``(bottom, top)`` for the accuracy axis from just below where the curves settle (the
    validation points, the moving average after the run's first tenth), or None when that
    would not spread them out. On a 0..1 scale a run that climbs to 98% in its first hundred
    batches leaves 98% and 99% a pixel apart; zoomed, the first climb enters from below
    (the loss panel shows it whole)."""
    settled = np.concatenate([smoothed[len(smoothed) // 10:], *validation])
    settled, everything = settled[np.isfinite(settled)], np.concatenate([raw, smoothed, *validation])
    everything = everything[np.isfinite(everything)]
    if settled.size == 0:
        return None
    low, high = float(settled.min()), float(settled.max())
    pad = max(0.15 * (high - low), 0.002)
    full = float(everything.max() - everything.min())
    if (high - low + 2 * pad) > 0.5 * full:
        return None
    return low - pad, min(high + pad, 1.0 + pad / 3)        # accuracies end at 1


# ---------------------------------------------------------------------------
# Confusion matrix
# ---------------------------------------------------------------------------
def _check_matrix(cm):
    """A (K, K) matrix of finite, non-negative numbers."""
    if isinstance(cm, (np.ndarray, list, tuple)) and _ndim(cm) == 1:
        raise ValueError("cm_or_y_true is 1-D: to plot from labels, pass y_pred as well; "
                         "otherwise pass a (K, K) confusion matrix")
    cm = _as_numeric(cm, "cm_or_y_true (a confusion matrix)", ndim=2)
    if cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm_or_y_true: a confusion matrix must be square (K, K), got shape {cm.shape}")
    if not np.all(np.isfinite(cm)):
        raise ValueError("cm_or_y_true: the confusion matrix contains NaN or inf")
    if cm.min() < 0:
        raise ValueError(f"cm_or_y_true: a confusion matrix holds counts >= 0, got {cm.min()}")
    return cm


def _matrix_to_plot(cm_or_y_true, y_pred, class_names):
    """The (K, K) matrix plot_confusion_matrix draws: given, or computed from labels."""
    if y_pred is None:
        cm = _check_matrix(cm_or_y_true)
    else:
        try:
            cm = confusion_matrix(cm_or_y_true, y_pred,
                                  num_classes=None if class_names is None else len(class_names))
        except ValueError as exc:
            if class_names is None or "num_classes" not in str(exc):
                raise
            # The caller gave no num_classes: say which of their arguments sets it.
            raise ValueError(f"class_names has {len(class_names)} names, which does not fit "
                             f"the labels ({exc})") from None
    k = len(cm)
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"class_names has {len(class_names)} names but the confusion matrix is {k} x {k}")
    return cm


def _cell_values(cm, normalize):
    """``(values, number format, colour-scale maximum, colorbar label)`` of the cells."""
    if normalize:
        # Scaled by the row maximum first, so that a row of huge values cannot sum to inf.
        row_max = cm.max(axis=1, keepdims=True).astype(np.float64)
        scaled = np.divide(cm, row_max, out=np.zeros(cm.shape), where=row_max != 0)
        row_sums = scaled.sum(axis=1, keepdims=True)
        values = np.divide(scaled, row_sums, out=np.zeros(cm.shape), where=row_sums != 0)
        return values, ".2f", 1.0, "share of the true class"
    integer_counts = cm.dtype.kind in "iu"
    fmt = "d" if integer_counts else ".2f"
    if float(cm.max()) >= 1e6:          # 1e308 in ".2f" is 309 digits: it would not fit a cell
        fmt = ".2e"
    return cm, fmt, max(float(cm.max()), 1e-12), "count" if integer_counts else "value"


def plot_confusion_matrix(cm_or_y_true, y_pred=None, class_names=None, normalize=False, path=None):
    """A confusion matrix as a heat map, with the number written in every cell.

    Give either
      - a matrix ``cm`` (K, K): entry ``[i, j]`` counts samples of true class
        ``i`` predicted as ``j`` (what :func:`minicnn.metrics.confusion_matrix`
        returns), or
      - labels: ``y_true`` (N,) ints and ``y_pred`` (N,) predicted labels or
        (N, K) scores; the matrix is then computed, with K = len(class_names)
        when names are given.

    class_names: K names for the ticks (default ``0 .. K-1``).
    normalize: if True, every row is divided by its sum, so cell ``[i, j]`` is
        the share of class-``i`` samples predicted as ``j`` and the diagonal
        holds the per-class recall; a row without samples stays 0.

    Returns the Figure: the matrix Axes (x: "Predicted label", y: "True label")
    and its colorbar Axes. Cells are annotated when K <= 40.
    """
    class_names = check_class_names(class_names)
    normalize = check_bool(normalize, "normalize")
    path = _figure_path(path)
    cm = _matrix_to_plot(cm_or_y_true, y_pred, class_names)
    k = len(cm)
    names = class_names if class_names is not None else [str(i) for i in range(k)]
    values, fmt, vmax, bar_label = _cell_values(cm, normalize)
    integer_counts = cm.dtype.kind in "iu"

    title = "Confusion matrix" + (" (each row normalized)" if normalize else "")
    # Python ints: int64 counts near 2**63 would wrap around in NumPy's sum.
    total = int(cm.sum(dtype=object)) if integer_counts else 0
    if total > 0:
        title += f"\naccuracy {int(np.trace(cm, dtype=object)) / total:.3f} on {total:,} samples"
    side = min(max(4.5, 0.55 * k + 2.5), 16.0)
    cell_inches = (side - 2.5) / k
    fontsize = max(5.0, min(10.0, 0.3 * 72 * cell_inches))      # a third of a cell, in points

    # Counts near the float64 maximum overflow inside matplotlib's colorbar arithmetic
    # (the picture is still right): no warning for that.
    with np.errstate(over="ignore", invalid="ignore"), \
            _new_figure(figsize=(side + 1.2, side), layout="constrained") as fig:
        ax = fig.add_subplot()
        image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
        fig.colorbar(image, ax=ax, label=bar_label, shrink=0.85)
        if k <= 40:
            for i in range(k):
                for j in range(k):
                    dark = values[i, j] > vmax / 2          # white text on dark cells
                    ax.text(j, i, format(values[i, j], fmt), ha="center", va="center",
                            fontsize=fontsize, color="white" if dark else "black")
        long_names = max(len(n) for n in names) > 3
        ax.set_xticks(np.arange(k))
        ax.set_xticklabels(names, rotation=45 if long_names else 0,
                           ha="right" if long_names else "center", rotation_mode="anchor")
        ax.set_yticks(np.arange(k))
        ax.set_yticklabels(names)
        ax.set_xlabel("Predicted label")
        ax.set_ylabel("True label")
        ax.set_title(title)
        save_figure(fig, path)
    return fig


# ---------------------------------------------------------------------------
# Image grids
# ---------------------------------------------------------------------------
def _display_images(images, count, channels=None):
    """The first ``count`` images as floats in [0, 1]: (n, H, W) gray or (n, H, W, 3) RGB.

    Accepted: (N, H, W) gray, and (N, C, H, W) with ``channels="first"`` or
    (N, H, W, C) with ``channels="last"``, C being 1 or 3. Without ``channels``
    the layout is inferred when only one of axes 1 and 3 has 1 or 3 entries;
    when both have (a batch of 3x3 RGB matrices, (N, 3, 3, 3)) it must be given.
    uint8 images are divided by 255; float images must already lie in [0, 1].
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy.ndarray, got {type(images).__name__}")
    if channels is not None:
        check_choice(channels, "channels", ("first", "last"))
    if images.ndim == 4:
        first, last = images.shape[1] in (1, 3), images.shape[3] in (1, 3)
        if channels is None:
            if first and last:
                raise ValueError(f"images of shape {images.shape} could be (N, C, H, W) or (N, H, W, C): "
                                 "say which with channels='first' or channels='last'")
            channels = "first" if first else "last" if last else None
        if channels is None or not (first if channels == "first" else last):
            raise ValueError(f"images must have 1 or 3 channels, (N, C, H, W) with channels='first' or "
                             f"(N, H, W, C) with channels='last', got shape {images.shape}")
        if channels == "first":
            images = np.moveaxis(images, 1, -1)              # NCHW -> NHWC
        if images.shape[3] == 1:
            images = images[..., 0]
    elif images.ndim != 3:
        raise ValueError(f"images must be (N, H, W), (N, C, H, W) or (N, H, W, C), got shape {images.shape}")
    elif channels is not None:
        raise ValueError(f"channels={channels!r} needs 4-D images; (N, H, W) images are gray, "
                         f"got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError("images holds no images")
    if min(images.shape[1:3]) == 0:
        raise ValueError(f"images have no pixels, shape {images.shape}")

    shown = images[:count]
    if shown.dtype == np.uint8:
        return shown.astype(np.float32) / 255
    if shown.dtype.kind != "f":
        raise TypeError(f"images must be floats in [0, 1] or uint8, got dtype {shown.dtype}; "
                        "for other integer images use x.astype(np.float32) / x.max()")
    if not np.all(np.isfinite(shown)):
        raise ValueError("images contain NaN or inf")
    low, high = float(shown.min()), float(shown.max())
    if low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(f"float images must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]; "
                         "rescale them, e.g. (x - x.min()) / (x.max() - x.min())")
    return np.clip(shown, 0.0, 1.0)


def _frame(ax, color=None):
    """No ticks; a thick frame in ``color``, or no frame at all."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(color is not None)
        if color is not None:
            spine.set_edgecolor(color)
            spine.set_linewidth(3)


def show_images(images, labels=None, predictions=None, class_names=None, ncols=8, max_images=64, path=None,
                channels=None):
    """A grid of images, titled with their labels and predictions.

    images: (N, H, W) or (N, 1, H, W) grayscale, (N, 3, H, W) or (N, H, W, 3)
        colour; floats in [0, 1] or uint8 in [0, 255].
    channels: ``"first"`` for (N, C, H, W), ``"last"`` for (N, H, W, C). May be
        left out when the shape says it; when both fit, as for a batch of 3x3
        RGB matrices (N, 3, 3, 3), a ValueError asks for it.
    labels: (N,) true class indices, optional.
    predictions: (N,) predicted class indices or (N, C) scores, optional.
    class_names: names to print instead of the class indices.
    ncols: images per row. max_images: only the first ``max_images`` are shown.

    Titles read ``"label"``, or ``"label / prediction"`` when both are given;
    mistakes (label != prediction) get a red title and a red frame.

    Returns the Figure, with one Axes (holding one image) per image shown.
    """
    ncols = check_int(ncols, "ncols", 1)
    max_images = check_int(max_images, "max_images", 1)
    shown = _display_images(images, max_images, channels)           # checks images
    n, n_total = len(shown), len(images)
    class_names = check_class_names(class_names)
    if labels is not None:
        labels = check_labels(labels, "labels", n_total)
        _check_names_cover(class_names, labels, "labels")
    if predictions is not None:
        predictions = _check_predictions(predictions, n_total)
        _check_names_cover(class_names, predictions, "predictions")
    path = _figure_path(path)

    def name(k):
        return class_names[k] if class_names is not None else str(k)

    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    height, width = shown.shape[1:3]
    cell_w = 1.5
    cell_h = cell_w * height / width + (0.3 if labels is not None or predictions is not None else 0.0)
    with _new_figure(figsize=(ncols * cell_w, nrows * cell_h + 0.5), layout="constrained") as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for i, ax in enumerate(axes):
            if i >= n:
                ax.remove()                                  # empty cells of the last row
                continue
            gray = shown.ndim == 3
            ax.imshow(shown[i], cmap="gray" if gray else None, vmin=0.0, vmax=1.0, interpolation="nearest")
            mistake = labels is not None and predictions is not None and labels[i] != predictions[i]
            title = [name(given[i]) for given in (labels, predictions) if given is not None]
            if title:                                        # "label / prediction", or the one given
                ax.set_title(" / ".join(title), fontsize=9, color=_MISTAKE_COLOR if mistake else "black")
            _frame(ax, _MISTAKE_COLOR if mistake else None)

        caption = []
        if labels is not None and predictions is not None:
            wrong = int(np.count_nonzero(labels[:n] != predictions[:n]))
            caption.append(f"label / prediction: {wrong} of {n} wrong (red)")
        if n < n_total:
            caption.append(f"first {n} of {n_total} images")
        if caption:
            fig.suptitle(", ".join(caption), fontsize=10)
        save_figure(fig, path)
    return fig


# ---------------------------------------------------------------------------
# Feature maps
# ---------------------------------------------------------------------------
def _check_layer_indices(layers, model):
    """Layer indices (negative ones count from the end) as a list of ints in range."""
    if layers is None:
        chosen = [i for i, layer in enumerate(model.layers) if isinstance(layer, FEATURE_MAP_LAYERS)]
        if not chosen:
            raise ValueError("the model has no Conv2D, MaxPool2D or AvgPool2D layer; "
                             "choose layers to show with layers=[...]")
        return chosen
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, (bool, np.bool_)):
        layers = [layers]
    if not isinstance(layers, (list, tuple, range, np.ndarray)):
        raise TypeError(f"layers must be a list of layer indices or None, got {type(layers).__name__}")
    if len(layers) == 0:
        raise ValueError("layers is empty; pass None to show every convolution and pooling layer")
    chosen = []
    for index in layers:
        index = check_int(index, "layers[...]")
        if not -len(model) <= index < len(model):
            raise ValueError(f"layers: index {index} is out of range for a model of {len(model)} layers")
        chosen.append(index % len(model))
    return chosen


def _shape_text(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _input_display(sample, max_maps):
    """The input sample (C, H, W) for display: one RGB image (1, H, W, 3) in
    [0, 1] for 3 channels (rescaled if outside [0, 1]), else its first
    ``max_maps`` channels (k, H, W), each drawn in gray."""
    if sample.shape[0] != 3:
        return sample[:max_maps]
    rgb = np.moveaxis(sample, 0, -1).astype(np.float64)
    finite = rgb[np.isfinite(rgb)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if low < 0 or high > 1:
        with np.errstate(invalid="ignore"):          # +-inf - +-inf: NaN, shown black below
            # Halves: high - low itself may overflow (1e308 - -1e308).
            rgb = (rgb / 2 - low / 2) / (high / 2 - low / 2) if high > low else np.zeros_like(rgb)
    # Non-finite pixels: +inf white, -inf and NaN black (imshow wants RGB in [0, 1]).
    return np.nan_to_num(np.clip(rgb, 0.0, 1.0), nan=0.0)[None]


def _draw_map(ax, values, signed):
    """One feature map: RdBu_r centred on 0 if its block is signed, else viridis."""
    finite = values[np.isfinite(values)]
    if signed:
        top = float(np.abs(finite).max()) if finite.size else 1.0
        ax.imshow(values, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
    else:
        ax.imshow(values, cmap="viridis", interpolation="nearest")


def plot_feature_maps(model, x, layers=None, max_maps=16, path=None):
    """What the network computes from one sample: the feature maps of its layers.

    model: a :class:`~minicnn.model.Sequential`.
    x: one sample, (C, H, W) or (1, C, H, W), float.
    layers: indices of the layers to show (negative ones count from the end);
        each must output feature maps (N, C', H', W'). Default: every Conv2D,
        MaxPool2D and AvgPool2D layer.
    max_maps: at most this many maps (the first channels) per layer.

    The model runs once in eval mode (``training=False``: dropout off,
    batch norm on its running statistics), keeping every layer's output.
    The figure has one block per layer, the input first, titled
    ``"<index>: <layer class>   output (C', H', W')"`` and its colour key; maps
    are drawn up to 8 to a row, each on its own colour scale: viridis (bright =
    large) in a block of values >= 0 (after a ReLU or a pool of them), a diverging
    map centred on 0 in a block with negative values (red positive, blue
    negative, white 0), as plot_filters draws weights.
    A 3-channel input is shown as one colour image.

    Returns the Figure: one Axes (holding one image) per map shown.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a minicnn Sequential, got {type(model).__name__}")
    check_array(x, "x", ndim=(3, 4))
    if x.ndim == 4 and x.shape[0] != 1:
        raise ValueError(f"x must be one sample (C, H, W) or (1, C, H, W), got shape {x.shape}; "
                         "pick one with x[i]")
    indices = _check_layer_indices(layers, model)
    max_maps = check_int(max_maps, "max_maps", 1)
    path = _figure_path(path)

    batch = to_numpy(x if x.ndim == 4 else x[None])          # (1, C, H, W), on the host for drawing
    _, activations = model.forward(to_device(batch, model.device), training=False, return_activations=True)
    activations = [to_numpy(a) for a in activations]          # (a model on a GPU: drawn from the host)
    # One block per row group: (title, maps to draw (k, h, w) or one RGB image (1, h, w, 3), kind),
    # kind "input", or the block's colour key: "signed" or "positive".
    blocks = [(f"input {_shape_text(batch.shape[1:])}", _input_display(batch[0], max_maps), "input")]
    for i in indices:
        out, name = activations[i], type(model[i]).__name__
        if out.ndim != 4:
            raise ValueError(f"layer {i} ({name}) outputs shape {out.shape[1:]} per sample, "
                             "not feature maps (C, H, W); choose convolution or pooling layers")
        title = f"{i}: {name}   output {_shape_text(out.shape[1:])}"
        if out.shape[1] > max_maps:
            title += f", first {max_maps} of {out.shape[1]} maps"
        shown = out[0, :max_maps]
        # One colour key per block, so that its maps read alike: a block with any negative
        # value diverges around 0, the others (after a ReLU, or pools of one) run dark to bright.
        kind = "signed" if np.any(shown < 0) else "positive"
        title += "   (red > 0, blue < 0)" if kind == "signed" else "   (dark = small, bright = large)"
        blocks.append((title, shown, kind))

    ncols = min(8, max(len(maps) for _, maps, _ in blocks))
    rows = [math.ceil(len(maps) / ncols) for _, maps, _ in blocks]
    cell = 1.3                                               # inches per map, across
    heights = []                                             # inches per block
    for (_, maps, _), nrows in zip(blocks, rows):
        aspect = np.clip(maps.shape[1] / maps.shape[2], 0.25, 4.0)      # H / W of the maps
        heights.append(nrows * (cell * aspect + 0.2) + 0.4)             # + map titles, block title
    with _new_figure(figsize=(max(ncols * cell, 4.5), sum(heights)), layout="constrained") as fig:
        subfigs = fig.subfigures(len(blocks), 1, height_ratios=heights, squeeze=False)[:, 0]
        for sub, (title, maps, kind), nrows in zip(subfigs, blocks, rows):
            sub.suptitle(title, x=0.02, ha="left", fontsize=10, fontweight="bold")
            axes = sub.subplots(nrows, ncols, squeeze=False).ravel()
            for c, ax in enumerate(axes):
                if c >= len(maps):
                    ax.remove()                              # empty cells of the block's last row
                    continue
                if maps[c].ndim == 3:                        # an RGB input image (h, w, 3)
                    ax.imshow(maps[c], interpolation="nearest")
                elif kind == "input":
                    ax.imshow(maps[c], cmap="gray", interpolation="nearest")
                else:
                    _draw_map(ax, maps[c], signed=kind == "signed")
                    ax.set_title(f"#{c}", fontsize=7, pad=2)
                _frame(ax)
        save_figure(fig, path)
    return fig


# ---------------------------------------------------------------------------
# Convolution filters
# ---------------------------------------------------------------------------
def plot_filters(layer, path=None, channel=None):
    """A Conv2D layer's kernels as a grid of small images, one per output filter.

    layer: a :class:`~minicnn.layers.Conv2D` with weights ``W`` (O, C, kh, kw).
    channel: for C > 1, the input channel to show (0 .. C-1); by default the
        mean of each filter over its C input channels.

    All cells share one diverging colour scale centred on 0 (red positive,
    blue negative, white 0), with a colorbar, so that the filters can be
    compared: a first layer trained on images typically shows edge and blob
    detectors. Returns the Figure: O Axes holding one (kh, kw) image each,
    plus the colorbar Axes.
    """
    if not isinstance(layer, Conv2D):
        raise TypeError(f"layer must be a minicnn Conv2D layer, got {type(layer).__name__}")
    path = _figure_path(path)
    weights = to_numpy(layer.params["W"].data).astype(np.float64)        # (O, C, kh, kw), from either device
    o, c = weights.shape[:2]
    if channel is not None:
        channel = check_int(channel, "channel")
        if not 0 <= channel < c:
            raise ValueError(f"channel must be in [0, {c - 1}] for a layer with {c} input channels, got {channel}")
        kernels, which = weights[:, channel], f"input channel {channel}"
    elif c == 1:
        kernels, which = weights[:, 0], "1 input channel"
    else:
        with np.errstate(over="ignore", invalid="ignore"):    # diverged weights: inf - inf gives NaN
            kernels, which = weights.mean(axis=1), f"mean over the {c} input channels"
    # The scale comes from the finite weights, so one inf does not wash out every other cell.
    finite = np.abs(kernels[np.isfinite(kernels)])
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0   # all-zero: any scale

    ncols = math.ceil(math.sqrt(o))
    nrows = math.ceil(o / ncols)
    cell = 1.0
    with _new_figure(figsize=(max(ncols * cell + 1.2, 4.5), nrows * cell + 0.9), layout="constrained") as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for f, ax in enumerate(axes):
            if f >= o:
                ax.remove()
                continue
            image = ax.imshow(kernels[f], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            ax.set_title(f"#{f}", fontsize=8, pad=2)
            _frame(ax)
        bar_label = "mean weight" if channel is None and c > 1 else "weight"
        fig.colorbar(image, ax=axes[:o].tolist(), label=bar_label, shrink=0.9)
        fig.suptitle(f"Conv2D filters W {tuple(weights.shape)}: {which}", fontsize=10)
        save_figure(fig, path)
    return fig
