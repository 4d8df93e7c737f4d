"""The learning track, examples/tutorial/NN_*.py: every step runs with --quick and checks itself.

Each step is run as a script in a fresh Python process (``python -W error``: a warning
fails it), as a reader runs it, with ``--out`` in ``tmp_path`` and the Agg backend. A
step records the checks it passed (its asserts of minicnn against the hand computation)
and the figures it wrote in ``checks.json``; the test reads that file, so a step whose
asserts silently stopped running fails here. The steps in DATA need MNIST or
Fashion-MNIST in ``$MINICNN_DATA`` and are skipped without it (no download from the tests).
"""
import ast
import glob
import json
import os
import subprocess
import sys

import matplotlib.image as mpimg
import pytest

import minicnn as mc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL = os.path.join(ROOT, "examples", "tutorial")
STEPS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(TUTORIAL, "[0-9][0-9]_*.py")))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: The figures each step writes, in --quick mode as in the full run.
FIGURES = {
    "01_images_are_matrices": ["matrices.png", "photo.png"],
    "02_convolution_by_hand": ["impulse.png", "worked_example.png"],
    "03_output_size": ["same_even_kernel.png", "boundaries.png"],
    "04_kernel_zoo": ["kernels.png", "zoo_clipped.png", "zoo_signed.png", "gaussian.png"],
    "05_denoising": ["denoise.png", "borders.png"],
    "06_edges": ["sobel.png", "conventions.png"],
    "07_padding_stride_dilation": ["stride_dilation.png"],
    "08_colour": ["colour.png"],
    "09_pooling": ["pooling.png", "shift.png", "same_pooling.png"],
    "10_convolution_1d": ["moving_average.png"],
    "11_feature_maps": ["untrained_filters.png", "untrained_maps.png", "trained_filters.png", "trained_maps.png",
                        "one_filter.png"],
    "12_dense_first": ["samples.png", "dense_weights.png", "curves.png", "cnn_confusion.png"],
    "13_backprop_by_hand": ["backprop.png"],
    "14_learn_sobel": ["learn_sobel.png"],
    "15_mnist": ["cnn_curves.png", "cnn_confusion.png", "cnn_mistakes.png",
                 "paper_curves.png", "paper_confusion.png", "paper_mistakes.png"],
    "16_weight_sharing": ["toeplitz_small.png", "toeplitz_28x28.png", "equivariance.png"],
    "17_dropout": ["gap.png"],
    "18_batch_norm": ["learning_rates.png", "activations.png"],
    "19_architectures": ["architectures.png", "blocks.png"],
    "20_transfer_learning": ["transfer.png"],
}

#: Steps that need a data set, by its folder name under $MINICNN_DATA (a tuple: all of them).
DATA = {"11_feature_maps": "mnist", "12_dense_first": "fashion-mnist", "15_mnist": "mnist",
        "17_dropout": "fashion-mnist", "18_batch_norm": "mnist", "20_transfer_learning": ("mnist", "fashion-mnist")}

#: Modules the steps may import: the track uses only minicnn, numpy and matplotlib.
ALLOWED_IMPORTS = {"minicnn", "numpy", "matplotlib", "_common", "argparse", "json", "math", "os", "sys", "time"}



def data_present(name):
    """Whether ``$MINICNN_DATA/<name>`` holds the four IDX files."""
    root = os.environ.get("MINICNN_DATA")
    if not root:
        return False
    folder = os.path.join(root, name)
    return all(any(os.path.isfile(os.path.join(folder, base + ext)) for ext in (".gz", ""))
               for base in mc.data.FILES.values())


def test_the_track_has_its_steps_in_order():
    assert STEPS == sorted(FIGURES)
    assert [int(name[:2]) for name in STEPS] == list(range(1, len(STEPS) + 1))
    assert len(STEPS) >= 16


@pytest.mark.parametrize("name", STEPS)
def test_step_is_a_percent_notebook_using_only_minicnn_numpy_matplotlib(name):
    with open(os.path.join(TUTORIAL, name + ".py"), encoding="utf-8") as f:
        source = f.read()
    assert source.startswith("# %% [markdown]\n# # Step "), "the first cell is the step's title, in markdown"
    assert source.count("\n# %%\n") >= 3 and source.count("# %% [markdown]") >= 2
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED_IMPORTS, f"{name} imports {sorted(imported - ALLOWED_IMPORTS)}"
    assert "from _common import" in source and "step.done(" in source


def test_the_tutorial_readme_lists_every_step():
    with open(os.path.join(TUTORIAL, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for name in STEPS:
        assert f"{name}.py" in readme
    assert "Coming from Keras, TensorFlow or SciPy" in readme


def assert_png(path):
    """A complete PNG that matplotlib reads back, large enough, and not blank."""
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC, path
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 200, (path, pixels.shape)
    assert pixels[..., :3].std() > 0.05, f"{path} looks blank"


@pytest.mark.parametrize("name", STEPS)
def test_step_runs_quick_writes_its_figures_and_its_checks_pass(name, tmp_path):
    needed = DATA.get(name, ())
    for data in (needed,) if isinstance(needed, str) else needed:
        if not data_present(data):
            pytest.skip(f"{data} is not in $MINICNN_DATA/{data}")
    out = tmp_path / "out"
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-W", "error", os.path.join(TUTORIAL, name + ".py"), "--quick",
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    with open(out / "checks.json") as f:
        record = json.load(f)
    assert record["step"] == name and record["quick"] is True
    assert record["checks"] > 0 and record["checks"] == len(record["passed"])
    assert proc.stdout.count(" - OK\n") == record["checks"]          # each check printed as it passed
    assert record["figures"] == FIGURES[name]
    for figure in record["figures"]:
        assert_png(out / figure)
    # record["seconds"] is the step's time; a step's --quick budget is 30 s, but no time is
    # asserted here: on a shared machine a timing says more about the neighbours than the step


# ---------------------------------------------------------------------------
# The "Coming from Keras, TensorFlow or SciPy" page (examples/tutorial/README.md):
# the claims about this version of minicnn that the page makes, checked.
# ---------------------------------------------------------------------------
def test_coming_from_keras_layouts_and_the_flatten_trap():
    import numpy as np

    from minicnn import layers as L

    rng = np.random.default_rng(0)
    n, h, w, c, out = 2, 3, 4, 5, 7
    x_nhwc = rng.standard_normal((n, h, w, c))
    w_keras = rng.standard_normal((h * w * c, out))
    keras = x_nhwc.reshape(n, -1) @ w_keras                       # Keras: Flatten of (H, W, C), then Dense
    dense = L.Dense(h * w * c, out, bias=False, dtype=np.float64)
    assert dense.params["W"].shape == (h * w * c, out)           # (in, out), as Keras
    dense.params["W"].data[...] = w_keras.reshape(h, w, c, out).transpose(2, 0, 1, 3).reshape(c * h * w, out)
    ours = dense.forward(L.Flatten().forward(x_nhwc.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(ours, keras, rtol=0, atol=1e-12)
    conv = L.Conv2D(c, out, 3)
    assert conv.params["W"].shape == (out, c, 3, 3)               # OIHW


def test_coming_from_keras_softmax_pixels_pooling_initialisers_batchnorm():
    import numpy as np

    import minicnn as mc
    from minicnn import image as I
    from minicnn import layers as L

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 5)
    loss = mc.losses.CrossEntropy()
    assert loss.forward(logits, labels) == pytest.approx(loss.forward(logits, np.eye(10, dtype=np.float32)[labels]))
    assert mc.functional.softmax(logits, axis=1).sum(axis=1) == pytest.approx(np.ones(5))

    with pytest.raises(TypeError, match="/ 255"):
        L.Conv2D(1, 1, 3).forward(np.zeros((1, 1, 5, 5), np.uint8))
    photo = I.sample_image()
    assert photo.dtype == np.float32 and 0 <= photo.min() and photo.max() <= 1
    assert I.to_uint8(np.array([-3.0, 127.6, 300.0])).tolist() == [0, 128, 255]

    seven = np.arange(49, dtype=np.float32).reshape(1, 1, 7, 7)
    assert L.MaxPool2D(2).stride == (2, 2) and L.MaxPool2D(2).forward(seven).shape == (1, 1, 3, 3)
    with pytest.raises(ValueError, match="kernel_size // 2"):
        L.MaxPool2D(2, padding=2)
    ones = np.ones((1, 1, 4, 4), np.float32)
    assert L.AvgPool2D(2, padding=1).forward(ones)[0, 0, 0, 0] == pytest.approx(0.25)   # zeros counted
    assert L.MaxPool2D(2, padding=1).forward(-ones)[0, 0, 0, 0] == -1                   # -inf padding

    for name in ("he_normal", "kaiming_normal", "he_uniform", "kaiming_uniform", "xavier_normal", "glorot_normal",
                 "xavier_uniform", "glorot_uniform", "zeros", "ones"):
        assert L.Dense(4, 3, init=name).params["b"].data.tolist() == [0, 0, 0]
    mc.manual_seed(0)
    weights = L.Conv2D(100, 100, 3).params["W"].data               # he_normal, std sqrt(2 / 900)
    assert np.abs(weights).max() > 3 * np.sqrt(2 / 900)           # a plain normal: not truncated at 2 std
    bound = np.sqrt(6 / (900 + 900))
    glorot = L.Conv2D(100, 100, 3, init="glorot_uniform").params["W"].data
    assert np.abs(glorot).max() <= bound and np.abs(glorot).max() > 0.99 * bound

    bn = L.BatchNorm(3)
    assert bn.momentum == 0.1 and bn.eps == 1e-5
    batch = rng.standard_normal((8, 3)).astype(np.float32) + 5
    bn.forward(batch, training=True)
    np.testing.assert_allclose(bn.running_mean, 0.1 * batch.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * batch.var(axis=0, ddof=1), rtol=1e-5)

    assert [I.kernels.aliases()[a] for a in ("edge1", "edge2", "edge3")] == ["diagonal_edges", "laplacian4",
                                                                             "laplacian8"]
