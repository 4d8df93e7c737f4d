"""Transfer learning, the guidelines measured: how much of a pretrained network to keep, by
how much labelled data the new task has and how close it is to the network's old task.

    python examples/transfer_learning.py            # the whole table: 96 runs, half an hour
    python examples/transfer_learning.py --quick    # 10 and 100 labels a class, one seed: a minute or two

The source: the CNN that ships pretrained on the MNIST digits 0 to 4,
``minicnn.models.transfer_cnn(weights="digits0-4")`` (99.6% on those digits; no
pretraining here). Its body, two convolutional blocks and a Flatten (1,568 features),
is reused; its head (Dense 1568-128-5) is replaced by a new one, Dense 1568-128-classes.

Two targets: **digits 5-9** (similar: the same strokes on the same black background, new
classes) and **Fashion-MNIST** (different: clothes, 10 classes). For each, 10, 100 and 1000
labelled training images a class, and the whole training set (--labels), drawn with the
seed, learned four ways:

    scratch      body and head from random weights, all at lr 0.05;
    frozen       the pretrained body frozen, only the new head trained (lr 0.05). A frozen
                 body is a fixed function (its BatchNorm uses its running statistics), so
                 its features are computed once and the head trains on them: Keras's
                 "feature extraction", the same numbers as a frozen body run every step;
    first block  the first block (conv, BatchNorm) frozen; the second block, from its
                 pretrained weights, and the head trained at lr 0.05: the guideline for a
                 different domain, keep only the early, generic features;
    fine-tune    everything trained, the body at lr 0.005 and the head at 0.05 (the
                 optimiser's parameter groups).

Each: SGD with momentum 0.9 at a constant rate, batches of 32, min(30, 30000 / N) epochs but
at least 3 for N training images, then the accuracy on the target's whole test split
(4,861 digits 5-9, 10,000 Fashion-MNIST images), for --seeds seeds; the table gives mean
+- standard deviation over the seeds (ddof=1). The settings are those of the PyTorch
measurement quoted in docs/transfer.md (PYTORCH below), so the two tables compare.

Writes into --out (default runs/transfer-learning): transfer_learning.json (every cell: target,
labels, way, seed, accuracy, seconds; the settings; the total time and the machine's load)
and transfer_learning.png (accuracy against labels per class, one panel per target, a line
per way, error bars one standard deviation).

Measured with the defaults (28.4 minutes on 2 cores shared with other jobs, BLAS on one
thread), test accuracy (%), mean ± standard deviation of 3 seeds:

    target        labels  scratch      frozen       first block  fine-tune
    digits 5-9       10   82.8 ± 6.0   87.7 ± 1.2   86.7 ± 1.3   87.6 ± 1.4
    digits 5-9      100   95.7 ± 0.2   96.2 ± 0.2   96.3 ± 0.1   96.3 ± 0.2
    digits 5-9     1000   98.3 ± 0.3   98.3 ± 0.1   98.1 ± 1.1   98.5 ± 0.1
    digits 5-9      all   98.9 ± 0.3   99.1 ± 0.2   99.2 ± 0.0   99.0 ± 0.2
    Fashion-MNIST    10   66.6 ± 4.4   70.1 ± 1.8   68.8 ± 1.8   67.5 ± 5.6
    Fashion-MNIST   100   80.8 ± 2.6   80.5 ± 0.4   82.0 ± 0.8   81.8 ± 0.6
    Fashion-MNIST  1000   84.6 ± 1.6   83.8 ± 0.2   85.3 ± 0.5   85.1 ± 0.9
    Fashion-MNIST   all   88.3 ± 1.3   86.9 ± 0.6   88.7 ± 0.1   89.8 ± 0.1

From similar digits the pretrained body is worth 5 points with 10 labels a class, half a
point with 100 and nothing from 1,000 on; for clothes a frozen digit body helps only with
10 labels and then falls behind, while the first block frozen or fine-tuning end ahead.
docs/transfer.md compares the table with PyTorch's and explains where they differ.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minicnn as mc  # noqa: E402
from minicnn import layers as L  # noqa: E402

from examples._common import add_run_arguments, checked_device, write_json  # noqa: E402

WAYS = ("scratch", "frozen", "first block", "fine-tune")
TARGETS = {"digits5-9": "digits 5-9 (similar)", "fashion": "Fashion-MNIST (different)"}
ALL = 0                                             # --labels 0: the whole training set

#: A PyTorch measurement of the same cells (same body, head and settings, the body pretrained in
#: PyTorch; 3 seeds; no "first block"): {(target, labels a class): (scratch, frozen, fine-tune)}
#: as (mean, std) in %. docs/transfer.md says where minicnn's table differs, and why.
PYTORCH = {("digits5-9", 10): ((83.2, 1.0), (90.8, 1.4), (91.0, 1.2)),
           ("digits5-9", 100): ((96.5, 0.1), (96.6, 0.5), (96.6, 0.6)),
           ("digits5-9", 1000): ((98.6, 0.2), (98.6, 0.1), (98.6, 0.3)),
           ("fashion", 10): ((68.4, 3.8), (72.3, 0.5), (71.4, 1.5)),
           ("fashion", 100): ((82.1, 0.7), (80.4, 1.4), (83.0, 0.1)),
           ("fashion", 1000): ((85.4, 0.8), (82.2, 1.3), (85.5, 0.8))}


def new_head(classes):
    """A new classifier on the body's 1,568 features."""
    return [L.Dense(32 * 7 * 7, 128), L.ReLU(), L.Dense(128, classes)]


def load_target(target, args):
    """``(x_train, y_train), (x_test, y_test), classes`` of a target, float32 (N, 1, 28, 28) in [0, 1]."""
    as_input = lambda images: images[:, None].astype(np.float32) / 255
    if target == "fashion":
        (x, y), (xt, yt) = mc.data.load_fashion_mnist(root=args.data_dir)
        return (as_input(x), y), (as_input(xt), yt), 10
    (x, y), (xt, yt) = mc.data.load_mnist(root=args.mnist_dir)
    keep, keep_t = y >= 5, yt >= 5                       # the digits the body never saw, relabelled 0..4
    return (as_input(x[keep]), y[keep] - 5), (as_input(xt[keep_t]), yt[keep_t] - 5), 5


def balanced_subset(labels, per_class, rng):
    """Indices of ``per_class`` images of each class, drawn without replacement, shuffled
    (``per_class=0``: every image, shuffled)."""
    if per_class == ALL:
        return rng.permutation(len(labels))
    picked = [rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in np.unique(labels)]
    return rng.permutation(np.concatenate(picked))


def epochs_for(n, budget=30000):
    """min(30, budget / n) epochs, at least 3: about the same number of steps for every size."""
    return max(3, min(30, budget // n))


def pretrained_body():
    """A fresh copy of the shipped body (the file's SHA-256 is checked at every load)."""
    return mc.models.transfer_cnn(weights="digits0-4")[:mc.models.TRANSFER_BODY]


def learn(way, x, y, test, classes, seed, args):
    """One cell: train ``way`` on ``(x, y)``; returns its test accuracy and seconds."""
    mc.manual_seed(seed)
    head = new_head(classes)                            # the same new head for the four ways
    epochs = epochs_for(len(x), args.budget)
    start = time.perf_counter()
    if way == "frozen":                                 # feature extraction: the body runs once per image
        body = pretrained_body()
        body.trainable = False
        features, test_features = body.predict(x, batch_size=500), body.predict(test[0], batch_size=500)
        model = mc.Sequential(head)
        x, test = features, (test_features, test[1])
    else:
        body = pretrained_body() if way != "scratch" else mc.models.transfer_cnn()[:mc.models.TRANSFER_BODY]
        model = mc.Sequential([*body, *head])
        if way == "first block":
            body[:4].trainable = False                  # conv, BatchNorm, ReLU, pool
    if way == "fine-tune":
        opt = mc.optim.SGD([{"params": body.parameters(), "lr": args.body_lr},
                            {"params": model[len(body):].parameters()}], lr=args.lr, momentum=0.9)
    else:
        opt = mc.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)   # frozen parameters are skipped
    model.to(args.device)
    mc.manual_seed(seed)                                # the same batches for the four ways
    model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=epochs, batch_size=args.batch_size, progress=False)
    accuracy = model.evaluate(*test, mc.losses.CrossEntropy(), batch_size=500)["accuracy"]
    return accuracy, time.perf_counter() - start, epochs


def summarise(cells):
    """``{(target, labels, way): (mean %, std %, n)}`` over the seeds."""
    groups = {}
    for c in cells:
        groups.setdefault((c["target"], c["labels_per_class"], c["way"]), []).append(100 * c["accuracy"])
    return {key: (float(np.mean(a)), float(np.std(a, ddof=1)) if len(a) > 1 else 0.0, len(a))
            for key, a in groups.items()}


def table(summary, targets, labels, ways):
    """The measured table in Markdown, with PyTorch's numbers where it measured the cell."""
    lines = ["| target | labels per class | " + " | ".join(ways) + " | PyTorch (scratch / frozen / fine-tune) |",
             "|---" * (len(ways) + 3) + "|"]
    for target in targets:
        for n in labels:
            cells = [summary.get((target, n, w)) for w in ways]
            shown = ["" if c is None else f"{c[0]:.1f} ± {c[1]:.1f}" for c in cells]
            ref = PYTORCH.get((target, n))
            ref = " / ".join(f"{m:.1f} ± {s:.1f}" for m, s in ref) if ref else ""
            lines.append(f"| {TARGETS[target]} | {n or 'all'} | " + " | ".join(shown) + f" | {ref} |")
    return "\n".join(lines)


def plot(summary, targets, labels, ways, sizes, path):
    """Accuracy against labels per class: a panel per target, a line per way, error bars."""
    from minicnn.viz import pyplot, save_figure
    plt = pyplot()
    colours = {"scratch": "tab:gray", "frozen": "tab:blue", "first block": "tab:green", "fine-tune": "tab:orange"}
    fig, axes = plt.subplots(1, len(targets), figsize=(5.6 * len(targets), 4.4), squeeze=False)
    for ax, target in zip(axes[0], targets):
        xs = [n or sizes[target] for n in labels]       # "all": at the mean images a class
        for k, way in enumerate(ways):
            points = [(x, *summary[target, n, way][:2]) for x, n in zip(xs, labels) if (target, n, way) in summary]
            if points:
                px, mean, std = map(np.array, zip(*points))
                ax.errorbar(px * (1 + 0.04 * (k - 1.5)), mean, yerr=std, marker="o", ms=4, capsize=3,
                            color=colours[way], label=way)   # (nudged sideways so that the bars do not hide)
        ax.set_xscale("log")
        ax.set_xticks(xs, [str(n) if n else f"all\n({sizes[target]:,})" for n in labels])
        ax.minorticks_off()
        ax.set_xlabel("labelled training images per class")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{TARGETS[target]}, from the digits 0-4 body", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    seeds = max(v[2] for v in summary.values())
    fig.suptitle(f"Transfer learning: mean of {seeds} seeds, error bars one standard deviation" if seeds > 1 else
                 "Transfer learning: one seed (no error bars)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def parse_labels(text):
    try:
        values = [ALL if v.strip() == "all" else int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--labels takes numbers and 'all' separated by commas, got {text!r}")
    if not values or any(v < 0 for v in values) or any(0 < v < 2 for v in values):
        raise argparse.ArgumentTypeError(f"--labels: each count must be at least 2 (or 'all'), got {text!r}")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="digits5-9,fashion", help="digits5-9, fashion or both (default)")
    parser.add_argument("--labels", type=parse_labels, default="10,100,1000,all",
                        help="labelled images per class, 'all' for the whole set (default 10,100,1000,all)")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"some of {', '.join(WAYS)} (default all four)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell, from --seed on (default 3)")
    parser.add_argument("--budget", type=int, default=30000,
                        help="epochs = min(30, budget / N), at least 3, for N images (default 30000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate of a new network or head (0.05)")
    parser.add_argument("--body-lr", type=float, default=0.005, help="fine-tuning's body learning rate (0.005)")
    parser.add_argument("--mnist-dir", help="folder holding the four MNIST files (default: search)")
    parser.add_argument("--quick", action="store_true",
                        help="10 and 100 labels a class, one seed, epochs for a 3,000-image budget, "
                             "1,000 test images")
    add_run_arguments(parser, "Fashion-MNIST", os.path.join("runs", "transfer-learning"))
    args = parser.parse_args(argv)
    checked_device(args, parser)
    if args.quick:
        args.labels, args.seeds, args.budget = [10, 100], 1, 3000
        args.test_limit = args.test_limit or 1000
    targets = [t.strip() for t in args.targets.split(",")]
    ways = [w.strip() for w in args.ways.split(",")]
    for name, chosen, allowed in (("--targets", targets, TARGETS), ("--ways", ways, WAYS)):
        if not chosen or any(c not in allowed for c in chosen):
            parser.error(f"{name} takes some of {', '.join(allowed)}, got {','.join(chosen)}")
    if args.seeds < 1 or args.budget < 1:
        parser.error("--seeds and --budget must be at least 1")

    load = os.getloadavg()[0]
    print(f"Pretrained body: {mc.models.list_weights('transfer_cnn')[0]['recipe']}")
    start, cells, sizes, tested = time.perf_counter(), [], {}, {}
    for target in targets:
        (x_train, y_train), (x_test, y_test), classes = load_target(target, args)
        test = (x_test[:args.test_limit], y_test[:args.test_limit])
        sizes[target], tested[target] = len(y_train) // classes, len(test[1])
        for n in args.labels:
            for seed in range(args.seed, args.seed + args.seeds):
                chosen = balanced_subset(y_train, n, np.random.default_rng([seed, n]))
                x, y = x_train[chosen], y_train[chosen]
                for way in ways:
                    accuracy, seconds, epochs = learn(way, x, y, test, classes, seed, args)
                    cells.append({"target": target, "labels_per_class": n, "train_images": len(y), "way": way,
                                  "seed": seed, "epochs": epochs, "accuracy": accuracy, "seconds": seconds})
                    if not args.no_progress:
                        print(f"{target:<10} {n or 'all':>5} a class  seed {seed}  {way:<12} {100 * accuracy:6.2f}%  "
                              f"({epochs} epochs, {seconds:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    summary = summarise(cells)
    text = table(summary, targets, args.labels, ways)
    print(f"\n{text}\n\n{len(cells)} runs in {seconds / 60:.1f} min, tested on "
          + ", ".join(f"{n:,} images ({t})" for t, n in tested.items())
          + f" (load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores)")
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "transfer_learning.json"), {
        "settings": {"targets": targets, "labels_per_class": args.labels, "ways": ways, "seeds": args.seeds,
                     "first_seed": args.seed, "budget": args.budget, "batch_size": args.batch_size, "lr": args.lr,
                     "body_lr": args.body_lr, "test_limit": args.test_limit, "device": args.device},
        "pretrained": mc.models.list_weights("transfer_cnn")[0]["recipe"],
        "test_images": tested, "seconds": seconds, "load_average": [load, os.getloadavg()[0]], "cores": os.cpu_count(),
        "summary": [{"target": t, "labels_per_class": n, "way": w, "mean": m, "std": s, "seeds": k}
                    for (t, n, w), (m, s, k) in summary.items()],
        "table": text, "cells": cells})
    plot(summary, targets, args.labels, ways, sizes, os.path.join(args.out, "transfer_learning.png"))
    print(f"wrote transfer_learning.json and transfer_learning.png to {args.out}")
    return summary


if __name__ == "__main__":
    main()
