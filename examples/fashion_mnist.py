"""Fashion-MNIST: the classic dense model, and a CNN for contrast.

    python examples/fashion_mnist.py                 # Flatten - Dense 20 ReLU - Dense 10, Adam, 20 epochs
    python examples/fashion_mnist.py --net cnn       # conv 32 - pool - conv 64 - pool - dense 128 - dense 10,
                                                     # Dropout 0.25 before each dense layer, Adam, 6 epochs

The dense model is the one of the classic tutorials (Keras: Dense(20, relu),
Dense(10, softmax), Adam, sparse categorical cross-entropy). Here the last layer
gives logits and ``CrossEntropy`` applies the softmax inside the loss, which is
the same function, computed stably. The last 10% of the training set is held out
for validation after every epoch; the test set is used once, at the end.
Writes into --out (default runs/fashion-mnist) what train_mnist.py writes: model.npz,
history.json, metrics.json, curves.png, confusion.png, mistakes.png.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minicnn as mc  # noqa: E402
from minicnn import layers as L  # noqa: E402

from examples._common import add_run_arguments, checked_device, report  # noqa: E402

CLASSES = list(mc.data.FASHION_MNIST_CLASSES)
DEFAULTS = {"dense": (20, 32, 1e-3), "cnn": (6, 64, 1e-3)}      # epochs, batch size, Adam lr


def build(net):
    if net == "dense":
        return mc.Sequential([L.Flatten(), L.Dense(784, 20), L.ReLU(), L.Dense(20, 10)])
    return mc.Sequential([
        L.Conv2D(1, 32, 3, padding=1), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(32, 64, 3, padding=1), L.ReLU(), L.MaxPool2D(2),
        L.Flatten(), L.Dropout(0.25), L.Dense(64 * 7 * 7, 128), L.ReLU(), L.Dropout(0.25), L.Dense(128, 10)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", choices=sorted(DEFAULTS), default="dense")
    parser.add_argument("--epochs", type=int, help="default: 20 (dense), 6 (cnn)")
    parser.add_argument("--batch-size", type=int, help="default: 32 (dense), 64 (cnn)")
    parser.add_argument("--lr", type=float, help="Adam's learning rate, default 1e-3")
    add_run_arguments(parser, "Fashion-MNIST", os.path.join("runs", "fashion-mnist"))
    args = parser.parse_args(argv)
    epochs, batch_size, lr = (default if given is None else given          # 0 is a value, not "unset"
                              for given, default in zip((args.epochs, args.batch_size, args.lr),
                                                        DEFAULTS[args.net]))

    (x_train, y_train), (x_test, y_test) = mc.data.load_fashion_mnist(root=args.data_dir)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    x = x_train[:, None].astype(np.float32) / 255
    xt = x_test[:, None].astype(np.float32) / 255
    if len(x) < 2:
        parser.error(f"--limit {args.limit} leaves {len(x)} training samples; at least 2 are needed "
                     "(one to train on, one to validate)")
    n_val = max(1, len(x) // 10)             # the last 10%, and at least one sample
    x_fit, y_fit, x_val, y_val = x[:-n_val], y_train[:-n_val], x[-n_val:], y_train[-n_val:]

    mc.manual_seed(args.seed)
    model = build(args.net).to(checked_device(args, parser))
    loss = mc.losses.CrossEntropy()
    opt = mc.optim.Adam(model.parameters(), lr=lr)
    print(model.summary(x.shape[1:]))
    print(f"\nTraining {args.net} on {len(x_fit)} samples ({n_val} held out) for {epochs} epochs "
          f"(batch {batch_size}, lr {opt.lr})")
    start = time.perf_counter()
    history = model.fit(x_fit, y_fit, loss, opt, epochs=epochs, batch_size=batch_size,
                        validation_data=(x_val, y_val), progress=not args.no_progress)
    return report(model, loss, history, time.perf_counter() - start, x_test, y_test, xt, y_test, args.out,
                  {"net": args.net, "train_samples": len(x_fit), "batch_size": batch_size}, CLASSES)


if __name__ == "__main__":
    main()
