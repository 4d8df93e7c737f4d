"""The example scripts run end to end on small inputs and write what they promise.

Each example is imported and its ``main([...])`` called in-process with fast options and
``tmp_path`` as ``--out``. The MNIST runs need the data in ``$MINICNN_DATA/mnist`` and are
skipped without it (no download from the tests); the feature-map example also runs without
data, on a small random model and a drawn digit.
"""
import importlib
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import numpy as np
import pytest

import minicnn as mc
from minicnn import image as I
from minicnn import layers as L

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def example(name):
    """The module examples/<name>.py (the repository root goes on sys.path, as the scripts do)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    return importlib.import_module(f"examples.{name}")


def mnist_dir():
    """``$MINICNN_DATA/mnist`` if it holds the four MNIST files, else None."""
    root = os.environ.get("MINICNN_DATA")
    if not root:
        return None
    folder = os.path.join(root, "mnist")
    for base in mc.data.FILES.values():
        if not any(os.path.isfile(os.path.join(folder, base + ext)) for ext in (".gz", "")):
            return None
    return folder


needs_mnist = pytest.mark.skipif(mnist_dir() is None, reason="MNIST is not in $MINICNN_DATA/mnist")


pytestmark = pytest.mark.usefixtures("no_figure_left_open")   # see conftest.py


def assert_png(path, min_side=200):
    """A complete PNG that matplotlib reads back, not blank."""
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert min(pixels.shape[:2]) >= min_side
    assert pixels[..., :3].std() > 0.05                      # a drawing, not a blank canvas
    return pixels


def assert_outputs(folder, expected):
    """``folder`` holds exactly the ``expected`` files: no temporary file left behind."""
    assert sorted(os.listdir(folder)) == sorted(expected)


# ---------------------------------------------------------------------------
# image_filters
# ---------------------------------------------------------------------------
def test_image_filters_writes_its_four_figures(tmp_path, capsys):
    written = example("image_filters").main(["--size", "48", "--out", str(tmp_path)])
    names = ["filters.png", "denoise.png", "pooling.png", "color.png"]
    assert sorted(written) == sorted(names)
    assert_outputs(tmp_path, names)
    shapes = {name: assert_png(os.path.join(tmp_path, name)).shape[:2] for name in names}
    # figsize x 120 dpi: filters is a 3 x 4 grid (13 x 11 in), pooling a 2 x 5 grid (16 x 7 in).
    assert shapes["filters.png"] == (1320, 1560)
    assert shapes["pooling.png"] == (840, 1920)
    assert "photo 48x48" in capsys.readouterr().out


def test_image_filters_on_a_picture_file(tmp_path):
    # A colour picture: a red-to-blue ramp with a bright square (real edges to find).
    h, w = 60, 80
    ramp = np.linspace(0, 1, w)[None, :].repeat(h, axis=0)
    picture = np.stack([ramp, np.full((h, w), 0.3), 1 - ramp], axis=-1)
    picture[20:40, 30:50] = 1.0
    path = tmp_path / "ramp.png"
    I.imsave(path, picture)
    out = tmp_path / "out"
    example("image_filters").main(["--image", str(path), "--out", str(out)])
    assert_outputs(out, ["filters.png", "denoise.png", "pooling.png", "color.png"])
    for name in os.listdir(out):
        assert_png(os.path.join(out, name))


def test_shrink_block_averages_then_cuts_the_centre():
    shrink = example("_common").shrink
    photo = np.arange(600 * 512, dtype=np.float64).reshape(600, 512)
    small = shrink(photo, 64)                     # factor 512 // 64 = 8: 75 x 64, then the centre 64 x 64
    assert small.shape == (64, 64)
    expected = I.pool2d(photo, 8, mode="avg")[5:69]
    np.testing.assert_array_equal(small, expected)
    colour = np.zeros((100, 90, 3))
    assert shrink(colour, 40).shape == (40, 40, 3)            # factor 2: 50 x 45, centre 40 x 40
    assert shrink(colour, 200).shape == (100, 90, 3)          # never enlarged
    assert shrink(photo, None) is photo


def test_psnr_of_a_known_error():
    clean = np.zeros((4, 4))
    assert I.psnr(clean, clean + 0.1) == pytest.approx(20.0)    # MSE 0.01 -> 10 log10(100) dB
    assert I.psnr(clean, clean) == float("inf")
    assert I.psnr(clean, clean + 25.5, peak=255) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="noisy"):
        I.psnr(clean, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="peak"):
        I.psnr(clean, clean, peak=0)


# ---------------------------------------------------------------------------
# learn_sobel
# ---------------------------------------------------------------------------
def test_learn_sobel_recovers_the_kernel_with_the_defaults(tmp_path):
    result = example("learn_sobel").main(["--out", str(tmp_path)])
    assert_outputs(tmp_path, ["learn_sobel.png", "result.json"])
    with open(tmp_path / "result.json") as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(result))           # what main returned is what it wrote
    for key in ("learned_kernel", "true_kernel", "max_abs_error", "loss_curve", "steps"):
        assert key in saved
    sobel_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert saved["true_kernel"] == sobel_x
    learned = np.array(saved["learned_kernel"])
    assert saved["max_abs_error"] <= 1e-3
    assert saved["max_abs_error"] == pytest.approx(np.abs(learned - sobel_x).max())
    curve = np.array(saved["loss_curve"])
    assert len(curve) == saved["steps"] + 1                  # the loss after 0, 1, ..., steps steps
    assert np.all(np.isfinite(curve)) and curve[-1] < 1e-8 * curve[0]
    assert saved["final_loss"] == curve[-1]
    assert_png(tmp_path / "learn_sobel.png")


def test_learn_sobel_can_learn_another_kernel_and_reports_divergence(tmp_path):
    learn_sobel = example("learn_sobel")
    result = learn_sobel.main(["--kernel", "sharpen", "--size", "32", "--steps", "800",
                               "--out", str(tmp_path / "sharpen")])
    assert result["true_kernel"] == I.kernels.get("sharpen").tolist()
    assert result["max_abs_error"] < 1e-3
    with pytest.raises(RuntimeError, match="diverged.*smaller --lr"):
        learn_sobel.main(["--lr", "50", "--size", "32", "--out", str(tmp_path / "diverged")])
    assert not os.path.exists(tmp_path / "diverged" / "result.json")


# ---------------------------------------------------------------------------
# feature_maps
# ---------------------------------------------------------------------------
def tiny_model():
    mc.manual_seed(0)
    return mc.Sequential([
        L.Conv2D(1, 4, 3, padding=1), L.ReLU(), L.MaxPool2D(2),           # (4, 14, 14)
        L.Conv2D(4, 6, 3, padding=1), L.ReLU(), L.AvgPool2D(2),           # (6, 7, 7)
        L.Flatten(), L.Dense(6 * 7 * 7, 10),
    ])


def test_feature_maps_of_a_saved_model_on_a_drawn_digit(tmp_path, capsys):
    """Runs without MNIST: a saved random model and a picture of a "1"."""
    model_path = tmp_path / "tiny.npz"
    tiny_model().save(model_path)
    digit = np.ones((56, 56))                                 # dark ink on white paper, 2x MNIST size
    digit[8:48, 25:31] = 0.0
    digit_path = tmp_path / "one.png"
    I.imsave(digit_path, digit)
    out = tmp_path / "out"
    result = example("feature_maps").main(["--model", str(model_path), "--image", str(digit_path),
                                           "--invert", "--out", str(out)])
    assert result["written"] == ["feature_maps.png", "filters.png"]       # no model.npz: none trained
    assert result["label"] is None and 0 <= result["predicted"] <= 9
    assert_outputs(out, ["feature_maps.png", "filters.png"])
    assert_png(out / "feature_maps.png")
    assert_png(out / "filters.png", min_side=100)
    assert "one.png: predicted" in capsys.readouterr().out


def test_feature_maps_reads_a_picture_as_one_mnist_sample(tmp_path):
    picture = np.zeros((84, 90))
    picture[30:54, 40:50] = 1.0
    path = tmp_path / "p.png"
    I.imsave(path, picture)
    fm = example("feature_maps")
    x = fm.read_digit(str(path), invert=False)
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    # factor 3 (84 // 28) gives 28 x 30 pixels, cut to the centre 28 columns.
    np.testing.assert_allclose(x[0], I.pool2d(picture, 3, mode="avg")[:, 1:29], atol=1 / 255)
    np.testing.assert_allclose(fm.read_digit(str(path), invert=True), 1 - x, atol=1e-6)
    I.imsave(tmp_path / "small.png", np.zeros((20, 20)))
    with pytest.raises(ValueError, match="at least 28x28"):
        fm.read_digit(str(tmp_path / "small.png"), invert=False)


@needs_mnist
def test_feature_maps_trains_a_small_cnn_on_mnist(tmp_path):
    result = example("feature_maps").main(["--limit", "500", "--index", "3", "--data-dir", mnist_dir(),
                                           "--out", str(tmp_path), "--no-progress"])
    assert_outputs(tmp_path, ["feature_maps.png", "filters.png", "model.npz"])
    _, (_, y_test) = mc.data.load_mnist(root=mnist_dir(), download=False)
    assert result["label"] == int(y_test[3])
    model = mc.Sequential.load(tmp_path / "model.npz")
    assert isinstance(model[0], L.Conv2D) and model[0].params["W"].shape == (8, 1, 3, 3)
    assert_png(tmp_path / "feature_maps.png")
    assert_png(tmp_path / "filters.png", min_side=100)


# ---------------------------------------------------------------------------
# train_mnist
# ---------------------------------------------------------------------------
@needs_mnist
def test_train_mnist_writes_model_metrics_and_figures(tmp_path):
    test = example("train_mnist").main(["--limit", "600", "--test-limit", "300", "--epochs", "1",
                                        "--out", str(tmp_path), "--no-progress"])
    assert_outputs(tmp_path, ["confusion.png", "curves.png", "history.json", "metrics.json",
                              "mistakes.png", "model.npz"])
    with open(tmp_path / "metrics.json") as f:
        metrics = json.load(f)
    for key in ("test_accuracy", "test_loss", "train_samples", "epochs", "seconds", "per_class",
                "confusion_matrix"):
        assert key in metrics
    assert metrics["train_samples"] == 600 and metrics["epochs"] == 1
    assert metrics["test_accuracy"] == pytest.approx(test["accuracy"])
    assert metrics["test_accuracy"] > 0.5                     # 600 images are enough to beat chance
    assert sorted(metrics["per_class"]) == [str(k) for k in range(10)]
    cm = np.array(metrics["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 300
    assert np.trace(cm) / 300 == pytest.approx(metrics["test_accuracy"])
    with open(tmp_path / "history.json") as f:
        history = json.load(f)
    assert len(history["loss"]) == 1 and len(history["val_accuracy"]) == 1
    model = mc.Sequential.load(tmp_path / "model.npz")
    assert model.predict(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)
    for name in ("curves.png", "confusion.png", "mistakes.png"):
        assert_png(tmp_path / name, min_side=100)


@needs_mnist
def test_train_mnist_on_the_device(tmp_path, monkeypatch):
    """``--device cuda`` end to end, on the CuPy stand-in here (tests/strict_array.py): the
    same files, and the run's numbers those of the CPU's run to rounding."""
    from strict_array import strict

    from minicnn import _rng, devices
    argv = ["--limit", "300", "--test-limit", "200", "--epochs", "1", "--no-progress"]
    on_cpu = example("train_mnist").main([*argv, "--out", str(tmp_path / "cpu")])
    monkeypatch.setattr(devices, "_gpu", strict)
    monkeypatch.setattr(_rng, "_device_rngs", {})
    on_gpu = example("train_mnist").main([*argv, "--device", "cuda", "--out", str(tmp_path / "gpu")])
    assert_outputs(tmp_path / "gpu", ["confusion.png", "curves.png", "history.json", "metrics.json",
                                      "mistakes.png", "model.npz"])
    with open(tmp_path / "gpu" / "metrics.json") as f:
        assert json.load(f)["device"] == "cuda"
    assert on_gpu["accuracy"] == pytest.approx(on_cpu["accuracy"], abs=0.01)
    assert on_gpu["loss"] == pytest.approx(on_cpu["loss"], rel=1e-3)


def test_asking_for_a_missing_gpu_is_a_usage_error(monkeypatch, capsys):
    from minicnn import devices
    monkeypatch.setattr(devices, "_gpu", None)
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(SystemExit) as exit_:
        example("train_mnist").main(["--device", "cuda"])
    assert exit_.value.code == 2 and 'pip install "minicnn[gpu]"' in capsys.readouterr().err


@needs_mnist
def test_train_mnist_writes_an_onnx_file_that_onnxruntime_runs(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    example("train_mnist").main(["--limit", "200", "--test-limit", "50", "--epochs", "1", "--onnx",
                                 "--out", str(tmp_path), "--no-progress"])
    model = mc.Sequential.load(tmp_path / "model.npz")
    x = np.random.default_rng(0).random((5, 1, 28, 28)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict(x), rtol=1e-5, atol=1e-5)


@needs_mnist
@pytest.mark.parametrize("net", ["cnn-bn", "mlp", "paper"])
def test_train_mnist_other_networks_run(tmp_path, net):
    test = example("train_mnist").main(["--net", net, "--limit", "320", "--test-limit", "100", "--epochs", "1",
                                        "--out", str(tmp_path), "--no-progress"])
    assert 0.0 <= test["accuracy"] <= 1.0 and np.isfinite(test["loss"])
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "model.npz").exists()


# ---------------------------------------------------------------------------
# fashion_mnist
# ---------------------------------------------------------------------------
def fashion_dir():
    root = os.environ.get("MINICNN_DATA")
    folder = os.path.join(root, "fashion-mnist") if root else None
    return folder if folder and os.path.isdir(folder) else None


@pytest.mark.skipif(fashion_dir() is None, reason="Fashion-MNIST is not in $MINICNN_DATA/fashion-mnist")
@pytest.mark.parametrize("net", ["dense", "cnn"])
def test_fashion_mnist_example_runs(tmp_path, net):
    test = example("fashion_mnist").main(["--net", net, "--limit", "600", "--test-limit", "200", "--epochs", "2",
                                          "--out", str(tmp_path), "--no-progress"])
    with open(tmp_path / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["train_samples"] == 540                   # 10% of the 600 held out for validation
    assert metrics["test_accuracy"] == pytest.approx(test["accuracy"]) and test["accuracy"] > 0.3
    assert "Ankle boot" in metrics["per_class"]
    with open(tmp_path / "history.json") as f:
        assert len(json.load(f)["val_accuracy"]) == 2


@pytest.mark.skipif(fashion_dir() is None, reason="Fashion-MNIST is not in $MINICNN_DATA/fashion-mnist")
def test_resnet_fashion_mnist_example_runs(tmp_path):
    test = example("resnet_fashion_mnist").main(["--limit", "400", "--test-limit", "100", "--epochs", "1",
                                                 "--width", "4", "--out", str(tmp_path), "--no-progress"])
    assert_outputs(tmp_path, ["confusion.png", "curves.png", "history.json", "metrics.json",
                              "mistakes.png", "model.npz"])
    model = mc.Sequential.load(tmp_path / "model.npz")
    assert sum(isinstance(layer, L.Residual) for layer in model) == 3
    assert isinstance(model[-2], L.GlobalAvgPool2D) and 0.0 <= test["accuracy"] <= 1.0


# ---------------------------------------------------------------------------
# transfer_learning, pretrain_weights
# ---------------------------------------------------------------------------
@needs_mnist
@pytest.mark.skipif(fashion_dir() is None, reason="Fashion-MNIST is not in $MINICNN_DATA/fashion-mnist")
def test_transfer_learning_runs_every_way_from_the_shipped_body(tmp_path):
    summary = example("transfer_learning").main([
        "--labels", "2,3", "--seeds", "2", "--budget", "30", "--test-limit", "200", "--out", str(tmp_path),
        "--no-progress"])
    ways = ["scratch", "frozen", "first block", "fine-tune"]
    assert sorted(summary) == sorted((t, n, w) for t in ("digits5-9", "fashion") for n in (2, 3) for w in ways)
    assert all(0 <= m <= 100 and s >= 0 and k == 2 for m, s, k in summary.values())
    assert_outputs(tmp_path, ["transfer_learning.json", "transfer_learning.png"])
    with open(tmp_path / "transfer_learning.json") as f:
        results = json.load(f)
    cells = results["cells"]
    assert len(cells) == 2 * 2 * 4 * 2 and {c["train_images"] for c in cells} == {10, 15, 20, 30}
    assert {c["epochs"] for c in cells} == {3}                    # min(30, 30 / N), at least 3
    assert results["settings"]["lr"] == 0.05 and results["settings"]["body_lr"] == 0.005
    assert "| digits 5-9 (similar) | 2 |" in results["table"] and "transfer_cnn digits0-4" in results["pretrained"]
    assert_png(tmp_path / "transfer_learning.png")


def test_transfer_learning_picks_a_balanced_seeded_subset():
    tl = example("transfer_learning")
    labels = np.repeat(np.arange(10), 30)
    a = tl.balanced_subset(labels, 7, np.random.default_rng(0))
    assert np.bincount(labels[a], minlength=10).tolist() == [7] * 10 and len(set(a)) == 70
    np.testing.assert_array_equal(a, tl.balanced_subset(labels, 7, np.random.default_rng(0)))
    assert sorted(tl.balanced_subset(labels, tl.ALL, np.random.default_rng(0))) == list(range(300))
    assert [tl.epochs_for(n) for n in (50, 1000, 5000, 10000, 29404, 60000)] == [30, 30, 6, 3, 3, 3]


def test_the_pretrain_script_lists_the_recipes(capsys):
    assert example("pretrain_weights").main(["--list"]) is None
    out = capsys.readouterr().out
    for record in mc.models.list_weights():
        assert record["recipe"] in out


# ---------------------------------------------------------------------------
# finetune_folder
# ---------------------------------------------------------------------------
TORCH_NET = os.path.join(ROOT, "tests", "data", "torch_shapes_net.onnx")


def test_the_pytorch_network_imports_with_its_batchnorm_layers():
    """tests/data/torch_shapes_net.onnx, exported as docs/transfer.md exports torchvision's networks
    (do_constant_folding=False): every BatchNorm kept, and PyTorch's outputs to float32 rounding."""
    pytest.importorskip("onnx")
    import minicnn.onnx
    model = minicnn.onnx.load(TORCH_NET)
    expected = np.load(os.path.join(ROOT, "tests", "data", "torch_shapes_expected.npz"))
    np.testing.assert_allclose(model.predict(expected["x"]), expected["logits"], rtol=1e-4, atol=1e-5)
    leaves = lambda layers: [x for layer in layers for x in [layer, *leaves(layer.sublayers())]]
    assert sum(isinstance(layer, L.BatchNorm) for layer in leaves(model)) == 7        # 1 + 3 + 3
    assert model.num_params() == 72_915


def test_finetune_folder_on_a_folder_of_shapes_with_a_pytorch_network(tmp_path):
    """The path of torchvision's networks: an ONNX file exported with its BatchNorm kept (a small
    ResNet trained in PyTorch on other shapes), ImageNet's normalisation, features extracted
    once, a new head, one epoch of fine-tuning the top block; measured: 95% (57 of 60)."""
    pytest.importorskip("onnx")
    from image_folders import SHAPES, write_shapes_folder
    write_shapes_folder(tmp_path / "shapes", n=300, size=32, seed=1)
    result = example("finetune_folder").main([
        str(tmp_path / "shapes"), "--onnx", TORCH_NET, "--size", "32", "32", "--fine-tune-epochs", "1",
        "--out", str(tmp_path / "out"), "--no-progress"])
    assert result["classes"] == list(SHAPES) and (result["train_images"], result["val_images"]) == (240, 60)
    assert result["features"] == 64 and result["head_accuracy"] >= 0.9 and result["fine_tuned_accuracy"] >= 0.9
    assert_outputs(tmp_path / "out", ["classes.json", "model.npz", "result.json"])
    with open(tmp_path / "out" / "classes.json") as f:
        reading = json.load(f)
    assert reading == {"classes": list(SHAPES), "size": [32, 32], "channels": 3, "crop": None,
                       "normalize": "imagenet"}
    model = mc.Sequential.load(tmp_path / "out" / "model.npz")
    assert sum(isinstance(layer, L.BatchNorm) for layer in model) == 1 and model.output_shape((3, 32, 32)) == (3,)
    (name, p), *others = result["prediction"]
    assert name == "circle" and p > 0.5 and [n for n, _ in others] and sum(q for _, q in others) < p


@needs_mnist
def test_finetune_folder_on_mnist_pngs_with_the_shipped_digits_body(tmp_path):
    """200 PNGs of the digits 5-9 (40 a class, MNIST's test split) on the body pretrained on the
    digits 0-4: 100% of the 40 validation images (measured), then fine-tuned."""
    from image_folders import write_digits_folder
    _, (x, y) = mc.data.load_mnist(root=mnist_dir())
    rng = np.random.default_rng(0)
    chosen = np.concatenate([rng.choice(np.flatnonzero(y == k), 40, replace=False) for k in range(5, 10)])
    write_digits_folder(tmp_path / "digits", x[chosen], y[chosen])
    picture = tmp_path / "mine.png"
    I.imsave(picture, x[y == 7][0].astype(np.float32) / 255)
    result = example("finetune_folder").main([
        str(tmp_path / "digits"), "--model", "transfer_cnn:digits0-4", "--fine-tune-epochs", "2",
        "--predict", str(picture), "--out", str(tmp_path / "out"), "--no-progress"])
    assert result["classes"] == ["5", "6", "7", "8", "9"] and result["features"] == 1568
    assert result["head_accuracy"] >= 0.95 and result["fine_tuned_accuracy"] >= 0.9
    assert result["prediction"][0][0] == "7"


def test_finetune_folder_refuses_what_it_cannot_use(tmp_path, capsys):
    with pytest.raises(SystemExit):
        example("finetune_folder").main([str(tmp_path), "--model", "vgg16:imagenet"])
    assert "no such shipped weights; the shipped: lenet5:mnist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        example("finetune_folder").main([str(tmp_path)])                   # --model or --onnx
