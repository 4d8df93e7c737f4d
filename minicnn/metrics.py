"""Classification metrics: accuracy, top-k accuracy, confusion matrix, precision/recall/F1.

Labels are integer class indices ``0 .. C-1``. Wherever a prediction is
expected, either predicted labels ``(N,)`` or a model's scores ``(N, C)``
(logits or probabilities) may be passed; scores are turned into labels by
``argmax`` over the classes.

    from minicnn import metrics

    scores = model(x_test)                         # (N, 10)
    metrics.accuracy(y_test, scores)               # 0.98...
    print(metrics.classification_report(y_test, scores))

Labels and scores may be on a GPU (CuPy arrays, say ``model.forward`` of a model there):
they are fetched to the host once, and the answers are Python numbers and NumPy arrays.

The definitions follow scikit-learn's. For class ``c``, counting over samples:

    precision_c = TP_c / (TP_c + FP_c)     of those predicted c, the share truly c
    recall_c    = TP_c / (TP_c + FN_c)     of those truly c, the share predicted c
    F1_c        = 2 precision_c recall_c / (precision_c + recall_c)

and each is 0 where its denominator is 0 (a class never predicted, or absent).
"""
import numpy as np

from ._checks import as_array, check_class_names, check_int, check_labels

__all__ = ["accuracy", "top_k_accuracy", "confusion_matrix", "precision_recall_f1",
           "classification_report"]

#: Largest K of a K x K confusion matrix (2**28 int64 counts = 2 GiB). Labels are class
#: indices 0 .. K-1, so a label of a million is a mistake (ids instead of indices?),
#: and must be reported as one rather than attempting to allocate terabytes.
MAX_CLASSES = 2 ** 14

#: Most digits classification_report prints (float64 holds 17 significant ones).
MAX_DIGITS = 17


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------
def _as_any(values, name):
    return as_array(values, name, numeric=False)      # labels or scores: checked by what follows


def _check_scores(s, name):
    """``s`` as a finite numeric array of shape (N, C), C >= 1."""
    s = _as_any(s, name)
    if s.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of scores (N, C), got shape {s.shape}")
    if s.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {s.dtype}")
    if s.shape[1] == 0:
        raise ValueError(f"{name} must have at least one class column, got shape {s.shape}")
    if s.dtype.kind == "f" and not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains NaN or inf")
    return s


def _same_length(y_true, other, name):
    if len(other) != len(y_true):
        raise ValueError(f"y_true and {name} must have the same length, "
                         f"got {len(y_true)} and {len(other)}")


def _true_and_pred(y_true, y_pred):
    """Checked ``(y_true, y_pred_labels, n_score_columns or None)``.

    ``y_pred`` may be labels (N,) or scores (N, C) (then argmax over axis 1,
    and every true label must be < C).
    """
    y_true = check_labels(y_true, "y_true")
    y_pred = _as_any(y_pred, "y_pred")
    if y_pred.ndim == 2:
        scores = _check_scores(y_pred, "y_pred")
        _same_length(y_true, scores, "y_pred")
        c = scores.shape[1]
        if y_true.max() >= c:
            raise ValueError(f"y_true holds label {y_true.max()} but y_pred has scores "
                             f"for only {c} classes")
        return y_true, scores.argmax(axis=1), c
    if y_pred.ndim != 1:
        raise ValueError(f"y_pred must be labels (N,) or scores (N, C), got shape {y_pred.shape}")
    y_pred = check_labels(y_pred, "y_pred")
    _same_length(y_true, y_pred, "y_pred")
    return y_true, y_pred, None


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """Share of samples whose predicted label equals the true one, in [0, 1].

    ``y_true``: (N,) int labels. ``y_pred``: (N,) labels or (N, C) scores.
    """
    y_true, y_pred, _ = _true_and_pred(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def top_k_accuracy(y_true, scores, k=5):
    """Share of samples whose true class is among the ``k`` highest scores.

    ``y_true``: (N,) int labels in [0, C). ``scores``: (N, C). ``k`` in [1, C].
    Tied scores are ranked like ``argmax`` ranks them (lower class index
    first), so ``top_k_accuracy(y, s, k=1) == accuracy(y, s)``.
    """
    y_true = check_labels(y_true, "y_true")
    scores = _check_scores(scores, "scores")
    _same_length(y_true, scores, "scores")
    n, c = scores.shape
    k = check_int(k, "k", minimum=1)
    if k > c:
        raise ValueError(f"k must be in [1, {c}] for scores with {c} classes, got {k}")
    if y_true.max() >= c:
        raise ValueError(f"y_true holds label {y_true.max()} but scores has only {c} classes")
    true_score = scores[np.arange(n), y_true][:, None]                      # (N, 1)
    # Rank of the true class: classes scored higher, plus ties at a lower index.
    above = scores > true_score
    tied_before = (scores == true_score) & (np.arange(c) < y_true[:, None])
    rank = (above | tied_before).sum(axis=1)                                # (N,)
    return float(np.mean(rank < k))


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts (K, K) int64: entry ``[i, j]`` = samples of true class i predicted as j.

    Rows are true classes, columns predicted ones (scikit-learn's layout), so
    row sums are the class supports and the diagonal counts correct answers.
    ``y_pred``: (N,) labels or (N, C) scores. ``K`` is ``num_classes``, else C
    for scores, else the largest label + 1; at most :data:`MAX_CLASSES`.
    """
    y_true, y_pred, c = _true_and_pred(y_true, y_pred)
    largest = int(max(y_true.max(), y_pred.max()))
    if num_classes is None:
        k = c if c is not None else largest + 1
        if k > MAX_CLASSES:
            raise ValueError(f"the labels in y_true and y_pred go up to {largest}: a confusion matrix "
                             f"of {k} classes is too large (at most {MAX_CLASSES}); labels must be "
                             f"class indices 0 .. C-1")
    else:
        k = check_int(num_classes, "num_classes", minimum=1)
        if k > MAX_CLASSES:
            raise ValueError(f"num_classes must be at most {MAX_CLASSES}, got {k}")
        if c is not None and c != k:
            raise ValueError(f"num_classes is {k} but y_pred has scores for {c} classes")
        if largest >= k:
            raise ValueError(f"num_classes is {k} but the labels go up to {largest}")
    # Pair (i, j) -> one number i*K + j, counted in one pass.
    counts = np.bincount(y_true * k + y_pred, minlength=k * k)
    return counts.reshape(k, k)


def _safe_divide(a, b):
    """a / b elementwise, 0 where b == 0 (and no warning)."""
    a = np.asarray(a, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=(b != 0))


def _scores_from_matrix(cm):
    """Per-class (precision, recall, f1, support) from a confusion matrix."""
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)          # TP + FP
    support = cm.sum(axis=1)            # TP + FN
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return precision, recall, f1, support


def precision_recall_f1(y_true, y_pred, num_classes=None):
    """Per-class ``(precision, recall, f1, support)``, each an array of shape (K,).

    precision, recall, f1 are float64, 0 where undefined (no sample predicted
    as, or belonging to, the class); support is the int64 count of true
    samples per class. ``K`` as in :func:`confusion_matrix`.
    """
    return _scores_from_matrix(confusion_matrix(y_true, y_pred, num_classes))


def classification_report(y_true, y_pred, target_names=None, digits=4):
    """A text table of precision, recall, F1 and support per class, as scikit-learn prints it.

    One row per class ``0 .. K-1`` (named by ``target_names`` if given, whose
    length is then K; else K as in :func:`confusion_matrix`), then
    ``accuracy``, ``macro avg`` (plain mean over the K classes) and
    ``weighted avg`` (mean weighted by support). ``digits``: decimals printed,
    0 .. :data:`MAX_DIGITS`::

                      precision    recall  f1-score   support

                 cat     0.5000    1.0000    0.6667         1
                 ...
            accuracy                         0.6000         5
           macro avg     0.5000    0.5556    0.4889         5
        weighted avg     0.7000    0.6000    0.6133         5
    """
    digits = check_int(digits, "digits", minimum=0)
    if digits > MAX_DIGITS:
        raise ValueError(f"digits must be in [0, {MAX_DIGITS}], got {digits}")
    y_true, y_pred_labels, c = _true_and_pred(y_true, y_pred)
    num_classes = c
    if target_names is not None:
        target_names = check_class_names(target_names, "target_names")
        largest = int(max(y_true.max(), y_pred_labels.max()))
        if len(target_names) <= largest:
            raise ValueError(f"target_names has {len(target_names)} names but the labels "
                             f"go up to {largest}")
        if c is not None and len(target_names) != c:
            raise ValueError(f"target_names has {len(target_names)} names but y_pred has "
                             f"scores for {c} classes")
        num_classes = len(target_names)
    cm = confusion_matrix(y_true, y_pred_labels, num_classes)
    precision, recall, f1, support = _scores_from_matrix(cm)
    names = target_names if target_names is not None else [str(i) for i in range(len(cm))]

    total = int(support.sum())
    weights = support / total
    acc = float(np.trace(cm)) / total
    averages = [
        ("macro avg", precision.mean(), recall.mean(), f1.mean()),
        ("weighted avg", weights @ precision, weights @ recall, weights @ f1),
    ]

    width = max(max(len(name) for name in names), len("weighted avg"), digits)
    row = "{:>{w}s} " + " {:>9.{d}f}" * 3 + " {:>9}\n"
    headers = ("precision", "recall", "f1-score", "support")
    text = " " * (width + 1) + "".join(f" {h:>9}" for h in headers) + "\n\n"
    for name, p, r, f, s in zip(names, precision, recall, f1, support):
        text += row.format(name, p, r, f, int(s), w=width, d=digits)
    text += "\n"
    text += f"{'accuracy':>{width}s} " + " " * 20 + f" {acc:>9.{digits}f} {total:>9}\n"
    for name, p, r, f in averages:
        text += row.format(name, p, r, f, total, w=width, d=digits)
    return text
