"""Regression tests for the defects a line-by-line review of the source found.

Each test is named after what it proves and failed on the code before its fix. The
numbers in the comments number the defects: tests with the same number cover one defect.
"""
import doctest
import inspect
import json
import os
import pickle
import re
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn import image
from minicnn import layers as L
from minicnn import optim, training, viz
from minicnn.gradcheck import check_layer, numerical_gradient, relative_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAN = np.nan


# ---------------------------------------------------------------------------
# Wrong results
# ---------------------------------------------------------------------------
def test_cross_entropy_with_unnormalised_probability_targets():          # 1
    """PyTorch's rule for any non-negative targets: loss = -mean_n sum_c t log softmax(z);
    its gradient is (softmax(z) * sum_c t - t) / N, not (softmax(z) - t) / N."""
    rng = np.random.default_rng(0)
    z, t = rng.standard_normal((3, 4)), rng.random((3, 4)) * 2
    ce = mc.losses.CrossEntropy()
    loss = ce.forward(z, t)
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert loss == pytest.approx(-(t * logp).sum(1).mean(), rel=1e-12)
    numeric = numerical_gradient(lambda zz: mc.losses.CrossEntropy().forward(zz, t), z.copy())
    assert relative_error(ce.backward(), numeric) < 1e-8
    # normalised rows and integer labels keep their results
    p = t / t.sum(1, keepdims=True)
    ce.forward(z, p)
    np.testing.assert_allclose(ce.backward(), (np.exp(logp) - p) / 3, rtol=1e-12)


def test_max_pool_routes_the_gradient_to_a_nan_like_pytorch():             # 2
    """PyTorch counts a NaN as the window's maximum; with several, the last one in
    row-major order gets the gradient (values from torch 2.13 max_pool2d)."""
    pool = L.MaxPool2D(2)
    cases = [([[1, NAN], [3, 2]], [[0, 1], [0, 0]]),
             ([[NAN, 1], [3, 2]], [[1, 0], [0, 0]]),
             ([[1, NAN], [3, NAN]], [[0, 0], [0, 1]])]
    for window, grad in cases:
        x = np.array(window, np.float64)[None, None]
        y = pool.forward(x, training=True)
        assert np.isnan(y).all()
        np.testing.assert_array_equal(pool.backward(np.ones_like(y))[0, 0], grad)
        assert np.isnan(image.pool2d(x[0, 0], 2, "max")).all()
    # overlapping windows with padding: torch gives [0, 3, 0, 0, 2]
    pool = L.MaxPool2D((1, 3), stride=1, padding=(0, 1))
    x = np.array([[[[1, NAN, 3, 2, NAN]]]])
    y = pool.forward(x, training=True)
    np.testing.assert_array_equal(pool.backward(np.ones_like(y)), [[[[0, 3, 0, 0, 2]]]])


def _layer_state(layer):
    return ({k: (p.data.copy(), p.grad.copy()) for k, p in layer.params.items()},
            {k: np.array(v, copy=True) for k, v in layer.buffers().items()},
            layer.cache)


def _assert_same_state(a, b):
    (params_a, bufs_a, cache_a), (params_b, bufs_b, cache_b) = a, b
    assert params_a.keys() == params_b.keys() and bufs_a.keys() == bufs_b.keys()
    for k in params_a:
        np.testing.assert_array_equal(params_a[k][0], params_b[k][0])
        np.testing.assert_array_equal(params_a[k][1], params_b[k][1])
    for k in bufs_a:
        np.testing.assert_array_equal(bufs_a[k], bufs_b[k])
    assert cache_a is cache_b


@pytest.mark.parametrize("make", [lambda: L.BatchNorm(2, dtype=np.float64),
                                  lambda: L.Conv2D(2, 3, 3, padding=1, dtype=np.float64),
                                  lambda: L.Dense(2 * 3 * 3, 2, dtype=np.float64)])
def test_check_layer_leaves_the_layer_exactly_as_it_found_it(make):      # 3
    layer = make()
    rng = np.random.default_rng(1)        # not check_layer's seed 0: x must differ from its R
    x = rng.standard_normal((4, 2, 3, 3)) * 3 + 4
    if isinstance(layer, L.Dense):
        x = x.reshape(4, -1)
    layer.forward(x, training=True)                   # a cache, gradients and moved statistics
    layer.backward(np.ones_like(layer.forward(x, training=True)))
    layer.forward(x, training=True)
    before = _layer_state(layer)
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-6
    _assert_same_state(_layer_state(layer), before)


def test_backward_without_input_grad_on_a_model_without_parameters():    # 4
    model = mc.Sequential([L.ReLU(), L.Flatten()])
    g = np.ones((2, 6))
    with pytest.raises(RuntimeError, match="forward"):
        model.backward(g, input_grad=False)
    model.forward(np.ones((2, 2, 3)), training=True)
    assert model.backward(g, input_grad=False) is None


def test_loading_a_model_consumes_no_randomness(tmp_path):               # 5
    mc.manual_seed(3)
    mc.Sequential([L.Conv2D(1, 4, 3), L.Flatten(), L.Dense(4, 2)]).save(tmp_path / "m.npz")
    drop = L.Dropout(0.5)
    x = np.ones((4, 8))
    mc.manual_seed(0)
    without = drop.forward(x, training=True)
    mc.manual_seed(0)
    mc.Sequential.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(drop.forward(x, training=True), without)


def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.eye(3, 4, dtype=np.float32)[y] * 2 + 0.3 * rng.standard_normal((n, 4)).astype(np.float32)
    return x, y


def test_early_stopping_restores_the_best_weights_after_a_resume(tmp_path):   # 6
    x, y = _blobs()

    def run(epochs, ckpt, resume=False):
        mc.manual_seed(0)
        model = mc.Sequential([L.Dense(4, 8), L.ReLU(), L.Dense(8, 3)])
        opt = mc.optim.SGD(model.parameters(), lr=0.1)
        # lr falls every epoch, so "lr" (mode max) is best at epoch 0 and never improves:
        # training stops after epoch 2 (patience 1) and must restore epoch 0's weights
        stopper = training.EarlyStopping(monitor="lr", mode="max", patience=1, restore_best_weights=True)
        hist = model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=epochs, batch_size=16, progress=False,
                         checkpoint=ckpt, resume=resume,
                         callbacks=[stopper, mc.optim.ExponentialLR(opt, gamma=0.5)])
        return model, hist, stopper

    full, full_hist, full_stop = run(6, tmp_path / "a.ckpt")
    assert full_stop.stopped_epoch == 2 and full_hist.epochs == 3
    run(1, tmp_path / "b.ckpt")                                  # "interrupted" after epoch 0
    resumed, resumed_hist, _ = run(6, tmp_path / "b.ckpt", resume=True)
    assert resumed_hist.epochs == 3
    for a, b in zip(full.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda p: optim.Adam(p, lr=0.01)])
def test_astype_converts_the_optimiser_state(make):                       # 7
    """After model.astype(float64) the optimiser's buffers are float64 too, and the next
    step equals one taken by a float64 optimiser holding the same (converted) state."""
    rng = np.random.default_rng(0)
    mc.manual_seed(0)
    model = mc.Sequential([L.Dense(3, 2)])
    opt = make(model.parameters())
    x, t = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 2)).astype(np.float32)

    def step(m, o, xx, tt):
        loss = mc.losses.MSE()
        loss.forward(m.forward(xx, training=True), tt)
        o.zero_grad()
        m.backward(loss.backward())
        o.step()

    step(model, opt, x, t)
    model.astype(np.float64)
    # the reference: a float64 model with the same weights and a float64 optimiser whose
    # state is the float32 state converted
    ref = mc.Sequential([L.Dense(3, 2, dtype=np.float64)])
    ref.load_state_dict(model.state_dict())
    ref_opt = make(ref.parameters())
    ref_opt.load_state_dict(opt.state_dict())
    step(model, opt, x.astype(np.float64), t.astype(np.float64))
    step(ref, ref_opt, x.astype(np.float64), t.astype(np.float64))
    for a, b in zip(model.parameters(), ref.parameters()):
        assert a.data.dtype == np.float64
        np.testing.assert_array_equal(a.data, b.data)
    for key, value in opt.state_dict().items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float64, key


def test_fit_logs_no_accuracy_for_outputs_that_are_not_class_scores(capsys):   # 8
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True)
    mc.manual_seed(0)
    model = mc.Sequential([L.Dense(3, 1)])
    hist = model.fit(x, y, mc.losses.MSE(), mc.optim.SGD(model.parameters(), lr=0.05), epochs=2,
                     batch_size=8, validation_data=(x, y))
    assert set(hist.history) == {"loss", "lr", "seconds", "val_loss"}
    assert "accuracy" not in capsys.readouterr().out
    assert set(model.evaluate(x, y, mc.losses.MSE())) == {"loss"}
    # class scores keep their accuracy: labels, and one-hot targets with MSE
    cls = mc.Sequential([L.Dense(3, 2)])
    labels = (x[:, 0] > 0).astype(np.int64)
    assert "accuracy" in cls.evaluate(x, labels, mc.losses.CrossEntropy())
    assert "accuracy" in cls.evaluate(x, np.eye(2, dtype=np.float32)[labels], mc.losses.MSE())


# ---------------------------------------------------------------------------
# Errors that are not clear
# ---------------------------------------------------------------------------
HUGE = 10 ** 400
OPT_PARAMS = [mc.Parameter(np.zeros(2))]


@pytest.mark.parametrize("make, name", [
    (lambda: optim.SGD(OPT_PARAMS, lr=HUGE), "lr"),
    (lambda: optim.SGD(OPT_PARAMS, lr=0.1, momentum=HUGE), "momentum"),
    (lambda: optim.Adam(OPT_PARAMS, eps=HUGE), "eps"),
    (lambda: optim.Adam(OPT_PARAMS, betas=(HUGE, 0.9)), "betas[0]"),
    (lambda: L.Dropout(p=HUGE), "p"),
    (lambda: L.LeakyReLU(HUGE), "negative_slope"),
    (lambda: L.BatchNorm(3, momentum=HUGE), "momentum"),
    (lambda: training.EarlyStopping(min_delta=HUGE), "min_delta"),
    (lambda: optim.StepLR(optim.SGD(OPT_PARAMS, lr=0.1), 1, gamma=HUGE), "gamma"),
    (lambda: image.gaussian_kernel(3, HUGE), "sigma"),
    (lambda: image.add_gaussian_noise(np.zeros((2, 2)), HUGE), "sigma"),
])
def test_huge_numbers_are_value_errors_naming_the_argument(make, name):    # 9
    with pytest.raises(ValueError, match=re.escape(name)):
        make()


def test_image_has_no_private_copy_of_the_float_check():                   # 9
    assert not hasattr(image, "_check_float")


def _foreign_file(kind, path):
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(300))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"0.W": np.zeros((2, 2))}))
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros((3, 4)))
    elif kind == "npy of objects":
        with open(path, "wb") as f:
            np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "zip of text":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("weights.txt", "hello")
    elif kind == "plain npz":
        np.savez(path, W=np.ones((3, 4)))


NUMPY_WORDS = ("allow_pickle", "pickled data", "Failed to interpret", "File is not a zip file",
               "Object arrays cannot", "magic string")


@pytest.mark.parametrize("kind", ["random bytes", "pickle", "npy", "npy of objects", "zip of text",
                                  "plain npz"])
@pytest.mark.parametrize("what", ["model", "checkpoint"])
def test_a_foreign_file_is_refused_in_minicnns_own_words(tmp_path, kind, what):   # 10
    path = tmp_path / "file.npz"
    _foreign_file(kind, path)
    with pytest.raises(ValueError) as info:
        if what == "model":
            mc.Sequential.load(path)
        else:
            model = mc.Sequential([L.Dense(4, 3)])
            model.fit(*_blobs(), mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.1),
                      progress=False, checkpoint=path, resume=True)
    message = str(info.value)
    assert str(path) in message and f"minicnn {what}" in message, message
    for words in NUMPY_WORDS:
        assert words not in message, message
    # nothing of NumPy's text in the chain a traceback would print either
    cause = info.value.__cause__
    while cause is not None:
        assert "allow_pickle" not in str(cause), str(cause)
        cause = cause.__cause__


def test_show_images_takes_an_explicit_channel_layout():                  # 11
    rgb = np.zeros((3, 3, 3))                      # the tutorials' 3x3 RGB matrix: (H, W, 3)
    rgb[1, 1] = [1, 1, 0]                           # a yellow pixel
    with pytest.raises(ValueError, match="channels"):
        viz.show_images(rgb[None])                  # (1, 3, 3, 3): either layout fits
    for images, channels in ((rgb[None], "last"), (np.moveaxis(rgb, -1, 0)[None], "first")):
        fig = viz.show_images(images, channels=channels)
        drawn = fig.axes[0].get_images()[0].get_array()
        np.testing.assert_array_equal(drawn, rgb)
        viz.pyplot().close(fig)
    fig = viz.show_images(np.zeros((2, 3, 5, 6)))   # unambiguous: inferred
    assert fig.axes[0].get_images()[0].get_array().shape == (5, 6, 3)
    viz.pyplot().close(fig)
    with pytest.raises(ValueError, match="channels"):
        viz.show_images(np.zeros((2, 5, 6, 3)), channels="sideways")


@pytest.mark.parametrize("declared, stored, key", [
    ({"class": "Dense", "config": dict(in_features=8000, out_features=8000, dtype="float32")},
     lambda: L.Dense(4, 3), "0.W"),
    ({"class": "BatchNorm", "config": dict(num_features=10 ** 8, dtype="float32")},
     lambda: L.BatchNorm(3), "0.gamma"),
])
def test_load_compares_declared_shapes_before_allocating(tmp_path, declared, stored, key):   # 12
    """A small file whose architecture claims huge layers is refused before anything of
    the claimed size is allocated (the declared layers alone would take GBs)."""
    path = tmp_path / "crafted.npz"
    arrays = {"__format__": np.array("minicnn.Sequential/1"),
              "__architecture__": np.array(json.dumps([declared]))}
    arrays.update(mc.Sequential([stored()]).state_dict())
    np.savez(path, **arrays)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            mc.Sequential.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and key in str(info.value), str(info.value)
    assert peak < 20 * 2 ** 20, f"load allocated {peak / 2 ** 20:.0f} MiB before refusing"


# ---------------------------------------------------------------------------
# API traps
# ---------------------------------------------------------------------------
class Scale(L.Layer):
    """A user's layer with a parameter whose backward knows nothing of input_grad."""

    def __init__(self):
        super().__init__()
        self.params["s"] = mc.Parameter(np.array([2.0]))

    def forward(self, x, training=False):
        self.cache = x
        return x * self.params["s"].data

    def backward(self, grad_out):
        x = self.cache
        self.params["s"].accumulate(np.array([np.sum(grad_out * x)]))
        return grad_out * self.params["s"].data


def test_a_custom_layer_with_parameters_works_in_sequential_backward():   # 13
    assert "input_grad" in inspect.signature(L.Layer.backward).parameters
    assert "input_grad" in L.Layer.__doc__
    model = mc.Sequential([Scale()])
    x = np.arange(3.0)[None]
    model.forward(x, training=True)
    assert model.backward(np.ones((1, 3)), input_grad=False) is None
    assert model[0].params["s"].grad == pytest.approx([3.0])


def _fitting_input(name):
    return {"Conv2D": (1, 2, 5, 5), "MaxPool2D": (1, 2, 4, 4), "AvgPool2D": (1, 2, 4, 4),
            "Dense": (2, 3), "BatchNorm": (4, 3), "Conv1D": (1, 2, 6), "MaxPool1D": (1, 2, 6),
            "AvgPool1D": (1, 2, 6), "GlobalAvgPool2D": (1, 2, 3, 3), "Residual": (2, 2, 4, 4),
            "AdaptiveAvgPool2D": (1, 2, 5, 5), "GlobalAvgPool1D": (1, 2, 6), "Concat": (2, 2, 4, 4),
            "SqueezeExcitation": (2, 2, 4, 4), "LocalResponseNorm": (2, 3, 4), "ChannelShuffle": (2, 4, 3),
            "ChannelSlice": (2, 3, 2)}.get(name, (2, 3))


LAYERS = {"Conv2D": lambda: L.Conv2D(2, 2, 3), "MaxPool2D": lambda: L.MaxPool2D(2),
          "AvgPool2D": lambda: L.AvgPool2D(2), "Dense": lambda: L.Dense(3, 2),
          "BatchNorm": lambda: L.BatchNorm(3), "Reshape": lambda: L.Reshape((3, 1)),
          "LeakyReLU": lambda: L.LeakyReLU(0.1), "Softmax": lambda: L.Softmax(),
          "Dropout": lambda: L.Dropout(0.5), "Conv1D": lambda: L.Conv1D(2, 2, 3),
          "MaxPool1D": lambda: L.MaxPool1D(2), "AvgPool1D": lambda: L.AvgPool1D(2),
          "Residual": lambda: L.Residual([L.Conv2D(2, 2, 3, padding=1), L.BatchNorm(2)]),
          "AdaptiveAvgPool2D": lambda: L.AdaptiveAvgPool2D(3),
          "Concat": lambda: L.Concat([[L.Conv2D(2, 2, 3, padding=1), L.BatchNorm(2)], [L.MaxPool2D(3, 1, 1)]]),
          "SqueezeExcitation": lambda: L.SqueezeExcitation(2, 1),
          "LocalResponseNorm": lambda: L.LocalResponseNorm(2), "Normalize": lambda: L.Normalize(0.5, 2.0),
          "ChannelShuffle": lambda: L.ChannelShuffle(2), "ChannelSlice": lambda: L.ChannelSlice(1, 3)}


@pytest.mark.parametrize("name", sorted(L.REGISTRY))
def test_every_layer_allows_one_backward_per_forward(name):               # 14
    layer = LAYERS.get(name, L.REGISTRY[name])()
    x = np.random.default_rng(0).standard_normal(_fitting_input(name))
    y = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="once"):
        layer.backward(np.ones_like(y))
    layer.forward(x, training=True)                       # a new forward: a new backward
    layer.backward(np.ones_like(y))
    assert "one backward" in L.Layer.__doc__


def _example(script, *args):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def _have(name):
    try:
        getattr(mc.data, f"load_{name}")(download=False)
        return True
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not _have("fashion_mnist"), reason="Fashion-MNIST is not on disk")
def test_fashion_mnist_example_keeps_a_training_set_for_a_tiny_limit(tmp_path):   # 15
    run = _example("fashion_mnist.py", "--limit", "5", "--test-limit", "20", "--epochs", "1",
                   "--no-progress", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert re.search(r"on [1-9]\d* samples", run.stdout), run.stdout


@pytest.mark.skipif(not (_have("mnist") and _have("fashion_mnist")), reason="MNIST is not on disk")
@pytest.mark.parametrize("script", ["train_mnist.py", "fashion_mnist.py"])
def test_an_lr_of_zero_is_taken_as_given(tmp_path, script):                # 15
    run = _example(script, "--lr", "0", "--limit", "64", "--test-limit", "20", "--epochs", "1",
                   "--no-progress", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "lr 0.0" in run.stdout or "lr 0)" in run.stdout, run.stdout


# ---------------------------------------------------------------------------
# Wrong docs
# ---------------------------------------------------------------------------
def _run_doctests(obj):
    finder, runner = doctest.DocTestFinder(recurse=False), doctest.DocTestRunner(verbose=False)
    tests = finder.find(obj, globs=dict(vars(sys.modules[obj.__module__])))
    assert sum(len(t.examples) for t in tests) > 0, f"{obj.__name__} has no example"
    for t in tests:
        runner.run(t, out=lambda s: None)
    assert runner.failures == 0, f"{runner.failures} failing examples in {obj.__name__}"


def test_conv2d_docstring_gives_both_sides_padding_and_a_worked_example():   # 16
    doc = L.Conv2D.__doc__
    assert "pad_h" not in doc and "pad_top + pad_bottom" in doc and "y[n, o, r, c]" in doc
    _run_doctests(L.Conv2D)


def test_im2col_docstring_counts_the_grid_columns():                       # 17
    doc = F.im2col.__doc__
    assert "N*GH*GW" in doc and "N*OH*OW" not in doc.split("\n\n")[1]
    _run_doctests(F.im2col)


def test_functional_docstring_says_which_functions_check_their_arguments():  # 18
    doc = F.__doc__
    assert "trust their arguments" not in doc or "except" in doc
    for name in ("sigmoid", "softmax", "log_softmax", "conv_output_size", "same_padding"):
        assert name in doc, name
        with pytest.raises(TypeError):
            getattr(F, name)("not an array")


def test_training_docs_name_every_per_batch_schedule():                   # 19
    per_batch = [c.__name__ for c in (optim.StepLR, optim.ExponentialLR, optim.PolynomialDecay,
                                      optim.InverseTimeDecay) if c.per_batch]
    assert per_batch == ["PolynomialDecay", "InverseTimeDecay"]
    for doc in (training.LearningRateScheduler.__doc__, training.fit.__doc__):
        for name in per_batch:
            assert name in doc, (name, doc)
