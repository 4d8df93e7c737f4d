"""Helpers shared by the example scripts (they never import one another).

    from examples._common import report, load_photo

- :func:`report`: the end of a training example: test metrics, the classification
  report, and model.npz, history.json, metrics.json, curves.png, confusion.png and
  mistakes.png in the output folder;
- :func:`load_photo` / :func:`shrink`: a photograph as float [0, 1], optionally
  shrunk by block averaging for a fast run;
- :func:`add_run_arguments`: the command-line options every training example shares;
- :func:`write_json`: JSON written atomically.
"""
import json
import os

import numpy as np

import minicnn as mc
from minicnn import image as I
from minicnn.io import atomic_write


def add_run_arguments(parser, dataset, out):
    """--data-dir, --limit, --test-limit, --seed, --out (default ``out``), --no-progress and --device."""
    parser.add_argument("--data-dir", help=f"folder holding the four {dataset} files (default: search)")
    parser.add_argument("--limit", type=int, help="use only the first N training samples")
    parser.add_argument("--test-limit", type=int, help="use only the first N test samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=out, help=f"output folder (default {out})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help='train on the CPU (default) or a CUDA GPU (needs CuPy: pip install "minicnn[gpu]")')


def checked_device(args, parser):
    """``args.device``, checked before any work: a missing GPU or CuPy is a usage error that
    says what to install."""
    try:
        return mc.devices.check_device(args.device)
    except mc.devices.DeviceError as exc:
        parser.error(str(exc))


def write_json(path, data):
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=2)


def report(model, loss, history, seconds, images, labels, x, y, out, info, class_names=None):
    """Evaluate on the test set, print the classification report, and write model.npz,
    history.json, metrics.json, curves.png, confusion.png and mistakes.png into ``out``.

    images/labels: the raw test set (uint8 images, int labels); x/y: as the model takes them.
    """
    predicted = model.predict(x).argmax(axis=1)
    test = model.evaluate(x, y, loss)
    precision, recall, f1, support = mc.metrics.precision_recall_f1(labels, predicted, num_classes=10)
    print(f"\ntest accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}, {seconds:.1f} s\n")
    print(mc.metrics.classification_report(labels, predicted, target_names=class_names))

    os.makedirs(out, exist_ok=True)
    model.save(os.path.join(out, "model.npz"))
    write_json(os.path.join(out, "history.json"), history.as_dict())      # per epoch, and "batches"
    names = class_names or [str(k) for k in range(10)]
    write_json(os.path.join(out, "metrics.json"), {
        **info, "test_accuracy": test["accuracy"], "test_loss": test["loss"], "test_samples": len(x),
        "epochs": history.epochs, "seconds": seconds, "seconds_per_epoch": history.history["seconds"],
        "per_class": {names[k]: {"precision": float(precision[k]), "recall": float(recall[k]),
                                 "f1": float(f1[k]), "support": int(support[k])} for k in range(10)},
        "confusion_matrix": mc.metrics.confusion_matrix(labels, predicted, num_classes=10).tolist(),
    })

    import matplotlib.pyplot as plt

    from minicnn import viz  # matplotlib only now, when there is something to draw
    wrong = np.flatnonzero(predicted != labels)[:32]
    for fig in (viz.plot_history(history, path=os.path.join(out, "curves.png")),
                viz.plot_confusion_matrix(labels, predicted, class_names=class_names,
                                          path=os.path.join(out, "confusion.png")),
                viz.show_images(images[wrong], labels=labels[wrong], predictions=predicted[wrong],
                                class_names=class_names, path=os.path.join(out, "mistakes.png"))):
        plt.close(fig)
    print(f"wrote model.npz, history.json, metrics.json, curves.png, confusion.png, mistakes.png to {out}")
    return test


def shrink(image, size):
    """A small version of ``image`` ((H, W) or (H, W, C)) for fast runs.

    The image is block-averaged (``pool2d`` "avg") by the largest integer factor
    that keeps its shorter side at least ``size`` pixels, then its centre is cut out,
    at most ``size`` x ``size``. ``size=None`` returns the image unchanged.
    """
    if size is None:
        return image
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    factor = max(1, min(image.shape[:2]) // size)
    if factor > 1:
        image = I.pool2d(image, factor, mode="avg")
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top:top + size, left:left + size]


def load_photo(path=None, size=None):
    """(colour, gray): the photo as float (H, W, 3) in [0, 1] and its BT.601 luma (H, W).

    ``path`` None means matplotlib's sample photo. A grayscale file gives a colour image
    with three equal channels; an alpha channel is dropped.
    """
    photo = I.sample_image() if path is None else I.imread(path)
    if photo.ndim == 2:
        photo = np.repeat(photo[:, :, None], 3, axis=2)
    colour = shrink(photo[:, :, :3].astype(np.float64), size)
    return colour, I.to_grayscale(colour)
