"""Tests of minicnn.viz: every function draws the expected axes and images,
writes a readable PNG atomically when given a path, and rejects bad arguments
with a ValueError or TypeError that names them.

matplotlib runs on the Agg backend here (no windows); every figure a test
opens must be closed again, which the autouse fixture checks.
"""
import json
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

import minicnn as mc
from minicnn import layers as L
from minicnn import metrics, viz
from minicnn.training import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("no_figure_left_open")   # see conftest.py


def assert_png(path):
    """``path`` is a complete PNG that matplotlib reads back, with nothing else beside it."""
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert pixels.shape[0] >= 100 and pixels.shape[1] >= 100
    assert pixels.std() > 0                                  # not a blank canvas
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]   # no temp file left


def images_of(fig):
    """Every image drawn in the figure (colorbars are not images)."""
    return [im for ax in fig.axes for im in ax.get_images()]


def tiny_cnn(in_channels=1):
    """(C, 8, 8) -> 3 scores; conv and pool layers at indices 0, 2, 3, 5."""
    mc.manual_seed(0)
    return mc.Sequential([
        L.Conv2D(in_channels, 4, 3, padding=1), L.ReLU(), L.MaxPool2D(2),      # (4, 4, 4)
        L.Conv2D(4, 6, 3, padding=1), L.ReLU(), L.AvgPool2D(2),               # (6, 2, 2)
        L.Dropout(0.5), L.Flatten(), L.Dense(6 * 2 * 2, 3),
    ])


# ---------------------------------------------------------------------------
# Importing and the backend
# ---------------------------------------------------------------------------
def test_import_does_not_load_matplotlib_and_agg_is_chosen_without_display():
    code = ("import sys, minicnn, minicnn.viz\n"
            "assert 'matplotlib' not in sys.modules, 'importing minicnn imported matplotlib'\n"
            "minicnn.viz.pyplot()\n"
            "import matplotlib\n"
            "assert matplotlib.get_backend().lower() == 'agg', matplotlib.get_backend()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_backend_named_in_mplbackend_is_kept():
    code = ("import minicnn.viz, matplotlib\n"
            "minicnn.viz.pyplot()\n"
            "assert matplotlib.get_backend().lower() == 'svg', matplotlib.get_backend()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(env, MPLBACKEND="svg"))


# ---------------------------------------------------------------------------
# plot_history
# ---------------------------------------------------------------------------
FULL_HISTORY = {"loss": [2.3, 1.4, 1.0], "accuracy": [0.2, 0.5, 0.7], "lr": [0.1] * 3,
                "seconds": [1.0] * 3, "val_loss": [2.0, 1.5, 1.3], "val_accuracy": [0.3, 0.5, 0.6]}


def test_history_has_loss_and_accuracy_panels_with_validation_curves():
    fig = viz.plot_history(History(FULL_HISTORY))
    assert isinstance(fig, plt.Figure)
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_title(), acc_ax.get_title()) == ("Loss", "Accuracy")
    for ax, key in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        assert ax.get_xlabel() == "Epoch" and ax.get_ylabel() == key
        train, val = ax.get_lines()
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(train.get_ydata(), FULL_HISTORY[key])
        np.testing.assert_allclose(val.get_ydata(), FULL_HISTORY["val_" + key])
        assert train.get_marker() != "None" and val.get_marker() != "None"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]
    plt.close(fig)


def test_history_from_dict_without_validation_or_accuracy():
    fig = viz.plot_history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]})
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1]
    plt.close(fig)
    fig = viz.plot_history({"loss": np.array([1.0, 0.5, 0.4])})
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "Loss"
    plt.close(fig)


def test_history_of_a_real_fit(tmp_path):
    mc.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4)).astype(np.float32), rng.integers(0, 2, 16)
    model = mc.Sequential([L.Dense(4, 2)])
    history = model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.1),
                        epochs=3, batch_size=8, validation_data=(x, y), progress=False)
    path = tmp_path / "history.png"
    fig = viz.plot_history(history, path=path)
    assert [len(ax.get_lines()[0].get_xdata()) for ax in fig.axes] == [6, 6]   # per batch: 2 of 8 samples
    plt.close(fig)
    assert_png(str(path))


def batch_history(epochs=2, steps=50, seed=0):
    """A History as fit leaves it: per-epoch numbers and ``steps`` batches per epoch."""
    rng = np.random.default_rng(seed)
    n = epochs * steps
    loss = 2.3 * np.exp(-np.arange(n) / 3) + 0.05 + 0.02 * rng.random(n)      # settles within 20 batches
    batches = {"epoch": list(np.arange(1, n + 1) / steps), "loss": list(loss),
               "accuracy": list(1 - loss / 2.5)}
    per_epoch = {"loss": [float(loss[e * steps:(e + 1) * steps].mean()) for e in range(epochs)],
                 "accuracy": [0.9] * epochs, "val_loss": list(np.linspace(0.2, 0.1, epochs)),
                 "val_accuracy": list(np.linspace(0.95, 0.98, epochs))}
    return History(per_epoch, batches)


def test_history_of_a_few_epochs_is_drawn_per_batch_with_validation_points_on_top():
    hist = batch_history(epochs=2, steps=50)
    fig = viz.plot_history(hist)
    loss_ax, acc_ax = fig.axes
    for ax, key in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        assert ax.get_xlabel() == "Epoch" and ax.get_ylabel() == key
        if key == "loss":
            raw, smoothed, val = ax.get_lines()
            np.testing.assert_allclose(raw.get_ydata(), hist.batches[key])
            assert np.std(np.diff(smoothed.get_ydata())) < np.std(np.diff(raw.get_ydata()))    # smoother
        else:       # zoomed on where it settles: no raw batches
            smoothed, val = ax.get_lines()
            low, high = ax.get_ylim()
            assert 0.5 < low < min(hist.history["val_accuracy"]) and high < 1.01    # from 0.08 at the start
        np.testing.assert_allclose(smoothed.get_xdata(), np.arange(1, 101) / 50)      # fractional epochs
        assert smoothed.get_ydata()[0] == pytest.approx(hist.batches[key][0])               # no bias to 0
        np.testing.assert_array_equal(val.get_xdata(), [1, 2])                 # ends of epochs 1 and 2
        np.testing.assert_allclose(val.get_ydata(), hist.history["val_" + key])
        assert val.get_marker() == "s" and val.get_zorder() > smoothed.get_zorder()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[-2].startswith("training, moving average") and labels[-1] == "validation (end of epoch)"
        assert (labels[0] == "training, per batch") == (key == "loss")
        assert ax.get_xlim()[0] == 0 and 2 < ax.get_xlim()[1] < 2.1          # the last square inside
    assert loss_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"     # loss from 2.3 to 0.05
    plt.close(fig)


def test_history_as_dict_from_json_is_drawn_as_the_history_itself():
    hist = batch_history()
    fig = viz.plot_history(json.loads(json.dumps(hist.as_dict())))
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 2]
    plt.close(fig)


def test_a_long_run_is_drawn_per_epoch_unless_asked():
    epochs = viz.PER_BATCH_MAX_EPOCHS + 1
    hist = batch_history(epochs=epochs, steps=5)
    fig = viz.plot_history(hist)
    train, val = fig.axes[0].get_lines()
    np.testing.assert_array_equal(train.get_xdata(), np.arange(1, epochs + 1))
    np.testing.assert_allclose(train.get_ydata(), hist.history["loss"])
    plt.close(fig)
    fig = viz.plot_history(hist, per_batch=True)
    assert len(fig.axes[0].get_lines()) == 3 and len(fig.axes[0].get_lines()[0].get_xdata()) == 5 * epochs
    plt.close(fig)
    fig = viz.plot_history(batch_history(epochs=viz.PER_BATCH_MAX_EPOCHS, steps=5))   # at the limit: per batch
    assert len(fig.axes[0].get_lines()) == 3
    plt.close(fig)
    fig = viz.plot_history(batch_history(epochs=2), per_batch=False)
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    plt.close(fig)


def test_per_batch_needs_a_batch_record():
    with pytest.raises(ValueError, match="per-batch record"):
        viz.plot_history(FULL_HISTORY, per_batch=True)
    with pytest.raises(TypeError, match="per_batch"):
        viz.plot_history(batch_history(), per_batch="yes")
    bad = batch_history().as_dict()
    bad["batches"]["loss"] = bad["batches"]["loss"][:-1]
    with pytest.raises(ValueError, match="history.batches"):
        viz.plot_history(bad)


@pytest.mark.parametrize("history, error", [
    ([1.0, 0.5], TypeError),                      # not a History nor a dict
    ({}, ValueError),                             # nothing recorded
    ({"lr": [0.1]}, ValueError),                  # no loss or accuracy
    ({"loss": []}, ValueError),
    ({"loss": [[1.0, 0.5]]}, ValueError),         # 2-D
    ({"loss": "1.0"}, TypeError),
    ({"loss": ["a", "b"]}, TypeError),
])
def test_history_rejects_bad_input(history, error):
    with pytest.raises(error, match="history"):
        viz.plot_history(history)


# ---------------------------------------------------------------------------
# plot_confusion_matrix
# ---------------------------------------------------------------------------
CM = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])


def test_confusion_matrix_from_a_matrix():
    fig = viz.plot_confusion_matrix(CM, class_names=["cat", "dog", "bird"])
    ax, colorbar_ax = fig.axes
    (image,) = images_of(fig)
    np.testing.assert_array_equal(image.get_array(), CM)
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in CM.ravel())
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    assert colorbar_ax.get_ylabel() == "count"
    plt.close(fig)


def test_confusion_matrix_from_labels_and_scores(tmp_path):
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    scores = np.eye(4)[y_pred] + 0.01 * rng.random((50, 4))
    path = tmp_path / "cm.png"
    for fig in (viz.plot_confusion_matrix(y_true, y_pred),
                viz.plot_confusion_matrix(y_true, scores, path=path)):
        (image,) = images_of(fig)
        np.testing.assert_array_equal(image.get_array(), metrics.confusion_matrix(y_true, y_pred))
        assert len(fig.axes[0].texts) == 16
        plt.close(fig)
    assert_png(str(path))


def test_confusion_matrix_class_names_fix_the_size():
    fig = viz.plot_confusion_matrix([0, 1, 1], [0, 1, 0], class_names=["a", "b", "c", "d"])
    assert images_of(fig)[0].get_array().shape == (4, 4)
    plt.close(fig)


def test_confusion_matrix_normalized_rows():
    cm = np.array([[3, 1, 0], [0, 0, 0], [1, 1, 2]])            # an empty row stays 0
    fig = viz.plot_confusion_matrix(cm, normalize=True)
    shares = np.asarray(images_of(fig)[0].get_array())
    np.testing.assert_allclose(shares, [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])
    assert "0.75" in [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((np.ones((2, 3), int),), {}, ValueError, "square"),
    ((np.array([[1, -1], [0, 2]]),), {}, ValueError, ">= 0"),
    ((np.array([[1.0, np.nan], [0, 2]]),), {}, ValueError, "NaN"),
    ((np.array([[1, 0], [0, 1]]).astype(str),), {}, TypeError, "numbers"),
    ((np.array([0, 1, 1]),), {}, ValueError, "y_pred"),          # labels need y_pred
    (("confusion",), {}, TypeError, "cm_or_y_true"),
    ((CM,), {"class_names": ["a", "b"]}, ValueError, "class_names"),
    ((CM,), {"class_names": "abc"}, TypeError, "class_names"),
    ((CM,), {"normalize": "yes"}, TypeError, "normalize"),
    ((CM,), {"path": 3}, TypeError, "path"),
    ((np.array([0, 1]), np.array([0, 1, 1])), {}, ValueError, "length"),
    ((np.array([0, 2]), np.array([0, 1])), {"class_names": ["a", "b"]}, ValueError, "num_classes"),
])
def test_confusion_matrix_rejects_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.plot_confusion_matrix(*args, **kwargs)


# ---------------------------------------------------------------------------
# show_images
# ---------------------------------------------------------------------------
RNG = np.random.default_rng(2)
GRAY = RNG.random((5, 6, 7)).astype(np.float32)               # (N, H, W)
RGB = RNG.random((5, 6, 7, 3))                                # (N, H, W, 3)


@pytest.mark.parametrize("images, expected", [
    (GRAY, GRAY),
    (GRAY[:, None], GRAY),                                    # (N, 1, H, W)
    (GRAY[..., None], GRAY),                                  # (N, H, W, 1)
    (RGB, RGB),
    (np.ascontiguousarray(RGB.transpose(0, 3, 1, 2)), RGB),   # (N, 3, H, W)
    ((GRAY * 255).astype(np.uint8), (GRAY * 255).astype(np.uint8) / 255),
])
def test_show_images_layouts(images, expected):
    fig = viz.show_images(images, ncols=2)
    assert len(fig.axes) == 5                                 # 3 rows of 2, the empty cell removed
    shown = images_of(fig)
    assert len(shown) == 5
    for im, want in zip(shown, expected):
        np.testing.assert_allclose(im.get_array(), want, rtol=1e-6)
    assert all(ax.get_title() == "" for ax in fig.axes)
    plt.close(fig)


def test_show_images_titles_and_highlighted_mistakes(tmp_path):
    labels = np.array([0, 1, 2, 1])
    predictions = np.array([0, 2, 2, 0])
    path = tmp_path / "grid.png"
    fig = viz.show_images(GRAY[:4], labels, predictions, class_names=["cat", "dog", "bird"], path=path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["cat / cat", "dog / bird", "bird / bird", "dog / cat"]
    red = matplotlib.colors.to_rgba("tab:red")
    for ax, mistake in zip(fig.axes, labels != predictions):
        title_color = matplotlib.colors.to_rgba(ax.title.get_color())
        frames = [s for s in ax.spines.values() if s.get_visible()]
        if mistake:
            assert title_color == red
            assert len(frames) == 4 and all(s.get_edgecolor() == red for s in frames)
        else:
            assert title_color != red and frames == []
    assert "2 of 4 wrong" in fig._suptitle.get_text()
    plt.close(fig)
    assert_png(str(path))


def test_show_images_with_labels_only_scores_and_truncation():
    fig = viz.show_images(GRAY, labels=[3, 1, 4, 1, 5], max_images=3)
    assert [ax.get_title() for ax in fig.axes] == ["3", "1", "4"]
    assert "first 3 of 5" in fig._suptitle.get_text()
    plt.close(fig)
    scores = np.eye(3)[[0, 1, 2, 0, 1]]
    fig = viz.show_images(GRAY, labels=[0, 1, 2, 1, 1], predictions=scores)
    assert [ax.get_title() for ax in fig.axes] == ["0 / 0", "1 / 1", "2 / 2", "1 / 0", "1 / 1"]
    plt.close(fig)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(images=GRAY.tolist()), TypeError, "images"),
    (dict(images=GRAY[0]), ValueError, "images"),              # one image, not a batch
    (dict(images=RNG.random((2, 2, 5, 5))), ValueError, "channels"),
    (dict(images=GRAY[:0]), ValueError, "images"),
    (dict(images=(GRAY * 255).astype(np.int64)), TypeError, "uint8"),
    (dict(images=GRAY * 255), ValueError, r"\[0, 1\]"),
    (dict(images=np.full((2, 3, 3), np.nan)), ValueError, "NaN"),
    (dict(images=GRAY, labels=[0, 1]), ValueError, "labels"),
    (dict(images=GRAY, labels=np.zeros(5)), TypeError, "labels"),
    (dict(images=GRAY, labels=[0, 1, 2, 3, -1]), ValueError, "labels"),
    (dict(images=GRAY, predictions=np.zeros((4, 3))), ValueError, "predictions"),
    (dict(images=GRAY, labels=[0, 1, 2, 3, 4], class_names=["a", "b"]), ValueError, "class_names"),
    (dict(images=GRAY, ncols=0), ValueError, "ncols"),
    (dict(images=GRAY, ncols=2.5), TypeError, "ncols"),
    (dict(images=GRAY, max_images=0), ValueError, "max_images"),
    (dict(images=GRAY, path=b"x.png"), TypeError, "path"),
])
def test_show_images_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.show_images(**kwargs)


# ---------------------------------------------------------------------------
# plot_feature_maps
# ---------------------------------------------------------------------------
X = np.random.default_rng(3).random((1, 8, 8)).astype(np.float32)


def block_titles(fig):
    return [sub._suptitle.get_text() for sub in fig.subfigs]


def test_feature_maps_of_every_conv_and_pool_layer(tmp_path):
    model = tiny_cnn()
    path = tmp_path / "maps.png"
    fig = viz.plot_feature_maps(model, X, path=path)
    # input (1 map) + Conv2D (4) + MaxPool2D (4) + Conv2D (6) + AvgPool2D (6)
    assert len(fig.axes) == len(images_of(fig)) == 1 + 4 + 4 + 6 + 6
    titles = block_titles(fig)
    assert titles[0] == "input (1, 8, 8)"
    for title, expected in zip(titles[1:], ["0: Conv2D", "2: MaxPool2D", "3: Conv2D", "5: AvgPool2D"]):
        assert title.startswith(expected)
    assert "(4, 4, 4)" in titles[2] and "(6, 2, 2)" in titles[4]
    _, activations = model.forward(X[None], return_activations=True)
    conv_block = fig.subfigs[3]                                # layer 3's maps
    for c in (0, 5):
        np.testing.assert_allclose(conv_block.axes[c].get_images()[0].get_array(), activations[3][0, c])
    plt.close(fig)
    assert_png(str(path))


def test_feature_maps_use_one_colour_key_per_block():
    model = tiny_cnn()
    fig = viz.plot_feature_maps(model, X)
    _, activations = model.forward(X[None], return_activations=True)
    for sub, i in zip(fig.subfigs[1:], [0, 2, 3, 5]):
        signed = bool((activations[i][0] < 0).any())
        cmaps = {ax.get_images()[0].get_cmap().name for ax in sub.axes}
        assert cmaps == ({"RdBu_r"} if signed else {"viridis"})        # every map of a block alike
        assert sub._suptitle.get_text().endswith(
            "(red > 0, blue < 0)" if signed else "(dark = small, bright = large)")
    # The pools follow ReLUs: >= 0. The convolutions' raw outputs have both signs.
    assert [sub.axes[0].get_images()[0].get_cmap().name for sub in fig.subfigs[1:]] == [
        "RdBu_r", "viridis", "RdBu_r", "viridis"]
    plt.close(fig)


def test_feature_maps_of_chosen_layers_in_eval_mode():
    model = tiny_cnn()
    x4 = X[None]                                                # (1, C, H, W) works too
    fig = viz.plot_feature_maps(model, x4, layers=[5, -3], max_maps=2)   # -3 is the Dropout
    assert len(images_of(fig)) == 1 + 2 + 2
    titles = block_titles(fig)
    assert titles[1].startswith("5: AvgPool2D") and "first 2 of 6 maps" in titles[1]
    assert titles[2].startswith("6: Dropout")
    # Dropout in eval mode is the identity: its maps are the AvgPool2D maps.
    for a, b in zip(fig.subfigs[1].axes, fig.subfigs[2].axes):
        np.testing.assert_array_equal(a.get_images()[0].get_array(), b.get_images()[0].get_array())
    plt.close(fig)


def test_feature_maps_show_an_rgb_input_as_one_image():
    fig = viz.plot_feature_maps(tiny_cnn(in_channels=3), np.random.default_rng(4).random((3, 8, 8)), layers=0)
    rgb = fig.subfigs[0].axes[0].get_images()[0].get_array()
    assert rgb.shape == (8, 8, 3)
    assert len(images_of(fig)) == 1 + 4
    plt.close(fig)


def dense_only():
    return mc.Sequential([L.Flatten(), L.Dense(64, 2)])


@pytest.mark.parametrize("make_model, x, kwargs, error, match", [
    (lambda: tiny_cnn()[0], X, {}, TypeError, "model"),       # a layer, not a Sequential
    (tiny_cnn, X.astype(np.int64), {}, TypeError, "x"),
    (tiny_cnn, X[0], {}, ValueError, "x"),
    (tiny_cnn, np.stack([X, X]), {}, ValueError, "one sample"),
    (tiny_cnn, X, {"layers": [9]}, ValueError, "out of range"),
    (tiny_cnn, X, {"layers": [8]}, ValueError, "not feature maps"),     # Dense
    (tiny_cnn, X, {"layers": "0"}, TypeError, "layers"),
    (tiny_cnn, X, {"layers": []}, ValueError, "layers"),
    (tiny_cnn, X, {"layers": [0.0]}, TypeError, "layers"),
    (tiny_cnn, X, {"max_maps": 0}, ValueError, "max_maps"),
    (tiny_cnn, X, {"path": 1}, TypeError, "path"),
    (dense_only, X, {}, ValueError, "Conv2D"),
])
def test_feature_maps_reject_bad_input(make_model, x, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.plot_feature_maps(make_model(), x, **kwargs)


# ---------------------------------------------------------------------------
# plot_filters
# ---------------------------------------------------------------------------
def test_filters_grid_on_a_diverging_scale_centred_on_zero(tmp_path):
    mc.manual_seed(0)
    conv = L.Conv2D(1, 6, 3)
    path = tmp_path / "filters.png"
    fig = viz.plot_filters(conv, path=path)
    images = images_of(fig)
    assert len(images) == 6 and len(fig.axes) == 6 + 1          # six filters and a colorbar
    weights = conv.params["W"].data
    for o, im in enumerate(images):
        np.testing.assert_allclose(im.get_array(), weights[o, 0])
        low, high = im.get_clim()
        assert low == -high and high == pytest.approx(np.abs(weights).max())
        assert im.get_cmap().name == "RdBu_r"
    plt.close(fig)
    assert_png(str(path))


def test_filters_of_several_channels_show_the_mean_or_one_channel():
    mc.manual_seed(0)
    conv = L.Conv2D(3, 5, (2, 3))
    weights = conv.params["W"].data
    for channel, expected in ((None, weights.mean(axis=1)), (2, weights[:, 2])):
        fig = viz.plot_filters(conv, channel=channel)
        for o, im in enumerate(images_of(fig)):
            np.testing.assert_allclose(im.get_array(), expected[o], rtol=1e-6)
        plt.close(fig)


# Layers are built inside the test (factories), so that collecting the tests
# draws nothing from minicnn's random generator.
@pytest.mark.parametrize("make_layer, kwargs, error, match", [
    (lambda: L.Dense(3, 2), {}, TypeError, "Conv2D"),
    (tiny_cnn, {}, TypeError, "Conv2D"),                      # the model, not its layer
    (lambda: L.Conv2D(3, 2, 3), {"channel": 3}, ValueError, "channel"),
    (lambda: L.Conv2D(3, 2, 3), {"channel": -1}, ValueError, "channel"),
    (lambda: L.Conv2D(3, 2, 3), {"channel": 1.0}, TypeError, "channel"),
])
def test_filters_reject_bad_input(make_layer, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.plot_filters(make_layer(), **kwargs)


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------
def test_saving_replaces_an_old_file_and_failures_leave_nothing(tmp_path):
    path = tmp_path / "cm.png"
    path.write_bytes(b"old")
    plt.close(viz.plot_confusion_matrix(CM, path=str(path)))
    assert_png(str(path))
    with pytest.raises(FileNotFoundError, match="folder"):
        viz.plot_confusion_matrix(CM, path=tmp_path / "missing" / "cm.png")
    with pytest.raises(IsADirectoryError):
        viz.plot_confusion_matrix(CM, path=tmp_path)
    assert os.listdir(tmp_path) == ["cm.png"]


def test_a_failed_save_closes_the_figure(tmp_path, monkeypatch):
    def broken_write(path):
        raise OSError("disk full")

    monkeypatch.setattr(viz, "atomic_write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        viz.plot_history(FULL_HISTORY, path=tmp_path / "h.png")
    # the autouse fixture checks that no figure was left open
