"""minicnn.metrics against hand-computed cases and a few properties."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn import metrics as M

# The example of scikit-learn's classification_report documentation.
Y_TRUE = np.array([0, 1, 2, 2, 2])
Y_PRED = np.array([0, 0, 2, 2, 1])


def one_hot_scores(labels, num_classes):
    scores = np.full((len(labels), num_classes), 0.1)
    scores[np.arange(len(labels)), labels] = 0.9
    return scores


# ---------------------------------------------------------------------------
# accuracy and top-k accuracy
# ---------------------------------------------------------------------------
def test_accuracy_from_labels_and_scores():
    assert M.accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.6)
    assert M.accuracy(Y_TRUE, one_hot_scores(Y_PRED, 3)) == pytest.approx(0.6)
    assert M.accuracy([1, 1], [1, 1]) == 1.0
    assert M.accuracy(np.array([0, 1]), np.array([1, 0], dtype=np.uint8)) == 0.0
    assert isinstance(M.accuracy(Y_TRUE, Y_PRED), float)


def test_accuracy_with_logits_takes_argmax():
    logits = np.array([[2.0, -1.0, 0.5], [-3.0, -2.0, -2.5], [0.0, 0.0, 1.0], [5.0, 5.0, 1.0]])
    # argmax: 0, 1, 2, 0 (a tie goes to the lower index)
    assert M.accuracy(np.array([0, 1, 1, 1]), logits) == pytest.approx(0.5)


def test_top_k_accuracy_by_hand():
    scores = np.array([[0.5, 0.3, 0.2],      # true 1: rank 1
                       [0.1, 0.2, 0.7],      # true 0: rank 2
                       [0.3, 0.4, 0.3],      # true 1: rank 0
                       [0.6, 0.1, 0.3]])     # true 2: rank 1
    y = np.array([1, 0, 1, 2])
    assert M.top_k_accuracy(y, scores, k=1) == pytest.approx(0.25)
    assert M.top_k_accuracy(y, scores, k=2) == pytest.approx(0.75)
    assert M.top_k_accuracy(y, scores, k=3) == 1.0


def test_top_k_ties_rank_like_argmax():
    scores = np.array([[1.0, 1.0, 1.0, 0.0]] * 3)
    y = np.array([0, 1, 2])
    assert M.top_k_accuracy(y, scores, k=1) == pytest.approx(1 / 3)     # argmax is 0
    assert M.top_k_accuracy(y, scores, k=2) == pytest.approx(2 / 3)
    assert M.top_k_accuracy(y, scores, k=3) == 1.0


@given(st.integers(1, 30), st.integers(1, 8), st.integers(0, 2**32 - 1), st.booleans())
def test_top_k_properties(n, c, seed, coarse):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n, c))
    if coarse:                                   # many ties
        scores = np.round(scores)
    y = rng.integers(0, c, n)
    values = [M.top_k_accuracy(y, scores, k=k) for k in range(1, c + 1)]
    assert values[0] == pytest.approx(M.accuracy(y, scores))
    assert all(a <= b for a, b in zip(values, values[1:]))          # non-decreasing in k
    assert values[-1] == 1.0


# ---------------------------------------------------------------------------
# confusion matrix, precision, recall, F1
# ---------------------------------------------------------------------------
def test_confusion_matrix_by_hand():
    expected = np.array([[1, 0, 0],
                         [1, 0, 0],
                         [0, 1, 2]])
    np.testing.assert_array_equal(M.confusion_matrix(Y_TRUE, Y_PRED), expected)
    np.testing.assert_array_equal(M.confusion_matrix(Y_TRUE, one_hot_scores(Y_PRED, 3)), expected)
    padded = M.confusion_matrix(Y_TRUE, Y_PRED, num_classes=5)
    assert padded.shape == (5, 5)
    np.testing.assert_array_equal(padded[:3, :3], expected)
    assert padded[3:].sum() == 0 and padded[:, 3:].sum() == 0


def test_confusion_matrix_rows_are_true_classes():
    cm = M.confusion_matrix(np.array([0, 0, 0]), np.array([1, 1, 2]))
    np.testing.assert_array_equal(cm, [[0, 2, 1], [0, 0, 0], [0, 0, 0]])
    assert cm.dtype == np.int64


def test_confusion_matrix_size_follows_score_columns():
    cm = M.confusion_matrix(np.array([0, 1]), one_hot_scores(np.array([0, 1]), 4))
    assert cm.shape == (4, 4)


def test_precision_recall_f1_by_hand():
    precision, recall, f1, support = M.precision_recall_f1(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(precision, [0.5, 0.0, 1.0])
    np.testing.assert_allclose(recall, [1.0, 0.0, 2 / 3])
    np.testing.assert_allclose(f1, [2 / 3, 0.0, 0.8])
    np.testing.assert_array_equal(support, [1, 1, 3])


def test_undefined_scores_are_zero_without_warnings():
    # class 1: never true and never predicted; class 2: true but never predicted;
    # class 3: predicted but never true. (Warnings are errors in this suite.)
    precision, recall, f1, support = M.precision_recall_f1(
        np.array([0, 0, 2]), np.array([0, 3, 0]), num_classes=4)
    np.testing.assert_allclose(precision, [0.5, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(recall, [0.5, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(f1, [0.5, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(support, [2, 0, 1, 0])


labels = st.integers(1, 6).flatmap(lambda c: st.tuples(
    st.just(c),
    st.lists(st.tuples(st.integers(0, c - 1), st.integers(0, c - 1)), min_size=1, max_size=40)))


@given(labels)
def test_confusion_matrix_properties(case):
    c, pairs = case
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    cm = M.confusion_matrix(y_true, y_pred, num_classes=c)
    assert cm.shape == (c, c)
    assert cm.sum() == len(pairs)
    assert np.trace(cm) / len(pairs) == pytest.approx(M.accuracy(y_true, y_pred))
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y_true, minlength=c))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(y_pred, minlength=c))
    for t, p in set(pairs):
        assert cm[t, p] == pairs.count((t, p))


@given(labels)
def test_precision_recall_f1_properties(case):
    c, pairs = case
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    precision, recall, f1, support = M.precision_recall_f1(y_true, y_pred, num_classes=c)
    for arr in (precision, recall, f1):
        assert arr.shape == (c,) and np.all((arr >= 0) & (arr <= 1))
    assert np.all(f1 <= np.maximum(precision, recall) + 1e-12)
    assert np.all(f1 >= np.minimum(precision, recall) - 1e-12)
    # support-weighted recall is the accuracy
    assert support @ recall / support.sum() == pytest.approx(M.accuracy(y_true, y_pred))


# ---------------------------------------------------------------------------
# classification_report
# ---------------------------------------------------------------------------
SKLEARN_DOC_REPORT = """\
              precision    recall  f1-score   support

     class 0       0.50      1.00      0.67         1
     class 1       0.00      0.00      0.00         1
     class 2       1.00      0.67      0.80         3

    accuracy                           0.60         5
   macro avg       0.50      0.56      0.49         5
weighted avg       0.70      0.60      0.61         5
"""


def test_report_matches_scikit_learn_layout():
    report = M.classification_report(Y_TRUE, Y_PRED, target_names=["class 0", "class 1", "class 2"],
                                     digits=2)
    assert report == SKLEARN_DOC_REPORT


def test_report_default_four_digits():
    lines = M.classification_report(Y_TRUE, Y_PRED).splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["0", "0.5000", "1.0000", "0.6667", "1"]
    assert lines[4].split() == ["2", "1.0000", "0.6667", "0.8000", "3"]
    assert lines[6].split() == ["accuracy", "0.6000", "5"]
    assert lines[7].split() == ["macro", "avg", "0.5000", "0.5556", "0.4889", "5"]
    assert lines[8].split() == ["weighted", "avg", "0.7000", "0.6000", "0.6133", "5"]
    # the accuracy sits under the f1-score column
    assert lines[6].index("0.6000") == lines[2].index("0.6667")


def test_report_long_names_widen_the_first_column():
    names = ["T-shirt/top and more", "Trouser", "Pullover"]
    lines = M.classification_report(Y_TRUE, one_hot_scores(Y_PRED, 3), target_names=names).splitlines()
    assert lines[2].startswith("T-shirt/top and more ")
    assert lines[3].startswith(" " * (len(names[0]) - len("Trouser")) + "Trouser ")
    assert len({len(line) for line in lines if line}) == 1         # every row equally long


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, match", [
    (lambda: M.accuracy(Y_TRUE, Y_PRED[:4]), ValueError, "same length"),
    (lambda: M.accuracy(Y_TRUE[:, None], Y_PRED), ValueError, "y_true must be a 1-D"),
    (lambda: M.accuracy(Y_TRUE, np.zeros((5, 3, 1))), ValueError, "y_pred must be labels"),
    (lambda: M.accuracy(Y_TRUE, np.zeros((4, 3))), ValueError, "same length"),
    (lambda: M.accuracy(np.array([0, -1]), np.array([0, 1])), ValueError, "y_true must hold labels >= 0"),
    (lambda: M.accuracy(np.array([0, 1]), np.array([0, -2])), ValueError, "y_pred must hold labels >= 0"),
    (lambda: M.accuracy(np.array([0.0, 1.0]), np.array([0, 1])), TypeError, "y_true must hold integer"),
    (lambda: M.accuracy(np.array([], dtype=int), np.array([], dtype=int)), ValueError, "y_true is empty"),
    (lambda: M.accuracy("012", Y_PRED), TypeError, "y_true must be a numpy.ndarray"),
    (lambda: M.accuracy(np.array([0, 3]), np.zeros((2, 3))), ValueError, "only 3 classes"),
    (lambda: M.accuracy(np.array([0, 1]), np.array([[0.0, np.nan], [1.0, 0.0]])), ValueError, "NaN"),
    (lambda: M.top_k_accuracy(Y_TRUE, np.zeros((5, 3)), k=0), ValueError, "k must be >= 1"),
    (lambda: M.top_k_accuracy(Y_TRUE, np.zeros((5, 3)), k=4), ValueError, r"k must be in \[1, 3\]"),
    (lambda: M.top_k_accuracy(Y_TRUE, np.zeros((5, 3)), k=1.0), TypeError, "k must be an int"),
    (lambda: M.top_k_accuracy(Y_TRUE, Y_PRED, k=1), ValueError, "scores must be a 2-D"),
    (lambda: M.top_k_accuracy(Y_TRUE, np.zeros((5, 2)), k=1), ValueError, "only 2 classes"),
    (lambda: M.confusion_matrix(Y_TRUE, Y_PRED, num_classes=2), ValueError, "num_classes is 2"),
    (lambda: M.confusion_matrix(Y_TRUE, Y_PRED, num_classes=0), ValueError, "num_classes must be >= 1"),
    (lambda: M.confusion_matrix(Y_TRUE, np.zeros((5, 3)), num_classes=4), ValueError, "num_classes is 4"),
    (lambda: M.precision_recall_f1(Y_TRUE, Y_PRED[1:]), ValueError, "same length"),
    (lambda: M.classification_report(Y_TRUE, Y_PRED, target_names=["a", "b"]), ValueError,
     "target_names has 2 names"),
    (lambda: M.classification_report(Y_TRUE, Y_PRED, target_names="abc"), TypeError, "target_names"),
    (lambda: M.classification_report(Y_TRUE, Y_PRED, digits=-1), ValueError, "digits"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
