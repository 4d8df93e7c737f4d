"""What a CNN sees: the feature maps of every convolution and pooling layer for one digit,
and the filters of the first convolution.

    python examples/feature_maps.py                             # train a small CNN first (1 epoch)
    python examples/feature_maps.py --model runs/mnist/model.npz --index 7
    python examples/feature_maps.py --model runs/mnist/model.npz --image my_digit.png --invert

Without --model a small CNN (conv 8 - pool - conv 16 - pool - dense 10) is trained for one
epoch on the first --limit (default 10,000) MNIST training images (about 10 s of CPU; it
reaches about 96% on the 10,000 test images) and saved as model.npz. The digit shown is test image --index,
or a picture of your own (--image: read as grayscale, shrunk and cut to 28x28; --invert for
dark ink on light paper, since MNIST digits are light on dark).

Data: MNIST from --data-dir, $MINICNN_DATA, the user cache or /usr/share/datasets
(downloaded into the cache when missing). Writes into --out (default runs/feature_maps):
feature_maps.png, filters.png, and model.npz when it trained the model.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minicnn as mc  # noqa: E402
from minicnn import image as I  # noqa: E402
from minicnn import layers as L  # noqa: E402

from examples._common import shrink  # noqa: E402

SIDE = 28                                               # MNIST images are 28 x 28


def build():
    """A small CNN for 28x28 digits: few maps per layer, so that each can be looked at."""
    return mc.Sequential([
        L.Conv2D(1, 8, 3, padding=1), L.ReLU(), L.MaxPool2D(2),        # (8, 14, 14)
        L.Conv2D(8, 16, 3, padding=1), L.ReLU(), L.MaxPool2D(2),       # (16, 7, 7)
        L.Flatten(), L.Dense(16 * 7 * 7, 10),
    ])


def scale(images):
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return (images.astype(np.float32) / 255)[:, None]


def train(data, limit, epochs, batch_size, lr, seed, progress):
    """Train :func:`build` on the first ``limit`` training images; prints the test accuracy."""
    (x_train, y_train), (x_test, y_test) = data
    x, y = scale(x_train[:limit]), y_train[:limit]
    mc.manual_seed(seed)
    model = build()
    loss = mc.losses.CrossEntropy()
    opt = mc.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    print(model.summary(x.shape[1:]))
    print(f"\nTraining on {len(x)} samples for {epochs} epoch(s)")
    model.fit(x, y, loss, opt, epochs=epochs, batch_size=batch_size, progress=progress)
    test = model.evaluate(scale(x_test), y_test, loss)
    print(f"test accuracy {test['accuracy']:.4f} on {len(x_test)} images")
    return model


def read_digit(path, invert):
    """A picture as one float32 sample (1, 28, 28) in [0, 1]: grayscale, shrunk, centre cut."""
    picture = I.imread(path)
    gray = I.to_grayscale(picture) if picture.ndim == 3 else picture
    gray = shrink(gray, SIDE)
    if gray.shape != (SIDE, SIDE):
        raise ValueError(f"{path}: the image is {gray.shape[0]}x{gray.shape[1]} after shrinking; "
                         f"it must be at least {SIDE}x{SIDE} pixels")
    gray = 1 - gray if invert else gray
    return gray.astype(np.float32)[None]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a Sequential saved with model.save (default: train one)")
    parser.add_argument("--data-dir", help="folder holding the four MNIST files (default: search)")
    parser.add_argument("--limit", type=int, default=10000, help="training images (default 10000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--index", type=int, default=0, help="which test digit to show (default 0)")
    parser.add_argument("--image", help="show this picture instead of a test digit")
    parser.add_argument("--invert", action="store_true", help="invert --image (dark ink on light paper)")
    parser.add_argument("--max-maps", type=int, default=16, help="feature maps shown per layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("runs", "feature_maps"))
    parser.add_argument("--no-progress", action="store_true", help="no progress bar while training")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")

    # MNIST is needed to train, and for the test digit unless a picture is given.
    data = None
    if args.model is None or args.image is None:
        data = mc.data.load_mnist(root=args.data_dir)
    if args.image is not None:
        x, label, what = read_digit(args.image, args.invert), None, os.path.basename(args.image)
    else:
        x_test, y_test = data[1]
        if not -len(x_test) <= args.index < len(x_test):
            parser.error(f"--index must be in [0, {len(x_test) - 1}], got {args.index}")
        x, label, what = scale(x_test[args.index:args.index + 1])[0], int(y_test[args.index]), \
            f"test digit #{args.index % len(x_test)}"

    os.makedirs(args.out, exist_ok=True)
    written = []
    if args.model is not None:
        model = mc.Sequential.load(args.model)
        print(f"loaded {args.model}")
    else:
        model = train(data, args.limit, args.epochs, args.batch_size, args.lr, args.seed, not args.no_progress)
        model.save(os.path.join(args.out, "model.npz"))
        written.append("model.npz")

    scores = model.predict(x[None])[0]
    predicted = int(scores.argmax())
    convs = [layer for layer in model if isinstance(layer, L.Conv2D)]
    if not convs:
        raise SystemExit("the model has no Conv2D layer: there are no feature maps or filters to show")

    from minicnn import viz  # matplotlib only now, when there is something to draw
    from minicnn.viz import pyplot, save_figure
    plt = pyplot()
    fig = viz.plot_feature_maps(model, x, max_maps=args.max_maps)
    try:
        truth = "" if label is None else f", label {label}"
        fig.suptitle(f"Feature maps of {what}{truth}: predicted {predicted}", fontsize=12)
        save_figure(fig, os.path.join(args.out, "feature_maps.png"))
    finally:
        plt.close(fig)
    fig = viz.plot_filters(convs[0])
    try:
        save_figure(fig, os.path.join(args.out, "filters.png"))
    finally:
        plt.close(fig)
    written += ["feature_maps.png", "filters.png"]
    print(f"{what}{' (label %d)' % label if label is not None else ''}: predicted {predicted}")
    print(f"wrote {', '.join(written)} to {args.out}")
    return {"predicted": predicted, "label": label, "written": written}


if __name__ == "__main__":
    main()
