"""Train a CNN on MNIST and look at what it learned.

    python examples/train_mnist.py                      # the default CNN, 2 epochs
    python examples/train_mnist.py --net paper          # the published reference network
    python examples/train_mnist.py --net cnn --limit 5000 --epochs 1   # a quick look
    python examples/train_mnist.py --device cuda        # on a GPU (pip install "minicnn[gpu]")

Data: MNIST from --data-dir, $MINICNN_DATA, the user cache or /usr/share/datasets
(downloaded into the cache when missing). Writes into --out (default runs/mnist):
model.npz, history.json, metrics.json, curves.png, confusion.png, mistakes.png
(and model.onnx with --onnx), and prints the classification report.
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

NETS = ("cnn", "cnn-bn", "mlp", "paper")
# Per-network defaults: epochs, batch size, learning rate.
# cnn: 2 epochs at batch 32 reach 99.2% in 1 to 1.7 minutes here (batch 32 trains about as many samples
# a second as 64 or 128, and takes twice the steps of 64 per epoch); --epochs 3 gives 99.3%.
DEFAULTS = {"cnn": (2, 32, 0.03), "cnn-bn": (3, 32, 0.05), "mlp": (10, 64, 0.05), "paper": (10, 32, 0.01)}


def build(net, total_steps, lr=None):
    """Model, loss, optimiser and callbacks of one of the networks.

    ``total_steps`` (epochs * batches per epoch) sets the length of the
    learning-rate decay of the SGD networks.

    - cnn:    conv 32 - pool - conv 64 - pool - dense 128 - dense 10 (``minicnn.models.mnist_cnn``,
              whose shipped weights, ``mnist_cnn(weights="mnist")``, are this run's at --seed 0);
              SGD with momentum 0.9, the learning rate falling linearly to 0 over the run
              (PolynomialDecay).
    - cnn-bn: the same with BatchNorm after every conv/dense layer and Dropout before the last.
    - mlp:    784 - 512 - 512 - 10 with ReLU and Dropout, a dense baseline for contrast.
    - paper:  the reference network the classic convolution tutorials publish with their MNIST
              example (a Keras model, reproduced layer for layer with its published settings): two blocks of
              [3x3 "same" conv without bias, 2x2 average pooling], dense 1000 sigmoid, dense 1000
              sigmoid, dense 10 linear, MSE on one-hot targets, SGD lr 0.01 momentum 0.9 Nesterov,
              decay 1e-6, batch 32. Note what its first half is: convolution and average pooling
              are both linear, and with no bias and no nonlinearity between them the two stages
              compose into one linear map of the image (a fixed 784 -> 3136 matrix); all the
              network's nonlinearity is in the sigmoid dense layers. It reaches about 96-97%,
              against 99% for the cnn with its ReLUs and max pooling.
    """
    lr = DEFAULTS[net][2] if lr is None else lr
    if net == "cnn":
        layers = mc.models.mnist_cnn().layers
    elif net == "cnn-bn":
        layers = [L.Conv2D(1, 32, 3, padding=1, bias=False), L.BatchNorm(32), L.ReLU(), L.MaxPool2D(2),
                  L.Conv2D(32, 64, 3, padding=1, bias=False), L.BatchNorm(64), L.ReLU(), L.MaxPool2D(2),
                  L.Flatten(), L.Dense(64 * 7 * 7, 128, bias=False), L.BatchNorm(128), L.ReLU(),
                  L.Dropout(0.3), L.Dense(128, 10)]
    elif net == "mlp":
        layers = [L.Flatten(), L.Dense(784, 512), L.ReLU(), L.Dropout(0.2),
                  L.Dense(512, 512), L.ReLU(), L.Dropout(0.2), L.Dense(512, 10)]
    elif net == "paper":
        layers = [L.Reshape((1, 28, 28)),
                  L.Conv2D(1, 32, 3, padding="same", bias=False), L.AvgPool2D(2),
                  L.Conv2D(32, 64, 3, padding="same", bias=False), L.AvgPool2D(2),
                  L.Flatten(), L.Dense(64 * 7 * 7, 1000, init="xavier_uniform"), L.Sigmoid(),
                  L.Dense(1000, 1000, init="xavier_uniform"), L.Sigmoid(),
                  L.Dense(1000, 10, init="xavier_uniform")]
    else:
        raise ValueError(f"net must be one of {', '.join(NETS)}, got {net!r}")
    model = mc.Sequential(layers)
    if net == "paper":
        opt = mc.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
        return model, mc.losses.MSE(), opt, [mc.optim.InverseTimeDecay(opt, decay=1e-6)]
    opt = mc.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return model, mc.losses.CrossEntropy(), opt, [mc.optim.PolynomialDecay(opt, total_steps)]


def prepare(images, labels, net):
    """uint8 (N, 28, 28) -> float32 in [0, 1]: (N, 1, 28, 28) for the CNNs, (N, 784) for
    the paper's network (it starts with a Reshape); one-hot targets for its MSE loss."""
    x = images.astype(np.float32) / 255
    x = x.reshape(len(x), -1) if net == "paper" else x[:, None]
    y = np.eye(10, dtype=np.float32)[labels] if net == "paper" else labels
    return x, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", choices=NETS, default="cnn")
    parser.add_argument("--epochs", type=int, help="default: 2 (cnn), 3 (cnn-bn), 10 (mlp, paper)")
    parser.add_argument("--batch-size", type=int, help="default: 32 cnn, 32 cnn-bn, 64 mlp, 32 paper")
    parser.add_argument("--lr", type=float, help="default: 0.03 cnn, 0.05 cnn-bn, 0.05 mlp, 0.01 paper")
    add_run_arguments(parser, "MNIST", os.path.join("runs", "mnist"))
    parser.add_argument("--onnx", action="store_true",
                        help="also write model.onnx (needs the onnx extra: pip install minicnn[onnx])")
    args = parser.parse_args(argv)
    device = checked_device(args, parser)
    epochs, batch_size, _ = DEFAULTS[args.net]
    epochs = epochs if args.epochs is None else args.epochs          # 0 is a value, not "unset"
    batch_size = batch_size if args.batch_size is None else args.batch_size

    (x_train, y_train), (x_test, y_test) = mc.data.load_mnist(root=args.data_dir)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    x, y = prepare(x_train, y_train, args.net)
    xt, yt = prepare(x_test, y_test, args.net)

    mc.manual_seed(args.seed)
    model, loss, opt, callbacks = build(args.net, epochs * -(-len(x) // batch_size), args.lr)
    model.to(device)
    print(model.summary(x.shape[1:]))
    print(f"\nTraining {args.net} on {len(x)} samples for {epochs} epochs (batch {batch_size}, lr {opt.lr}, "
          f"on {args.device})")
    start = time.perf_counter()
    history = model.fit(x, y, loss, opt, epochs=epochs, batch_size=batch_size, validation_data=(xt, yt),
                        callbacks=callbacks, progress=not args.no_progress)
    seconds = time.perf_counter() - start

    test = report(model, loss, history, seconds, x_test, y_test, xt, yt, args.out,
                  {"net": args.net, "train_samples": len(x), "batch_size": batch_size, "device": args.device})
    if args.onnx:
        import minicnn.onnx
        minicnn.onnx.export(model, os.path.join(args.out, "model.onnx"), input_shape=x.shape[1:])
        print(f"wrote model.onnx to {args.out} (run it with onnxruntime, look at it in Netron)")
    return test


if __name__ == "__main__":
    main()
