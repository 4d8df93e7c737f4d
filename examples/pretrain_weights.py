"""Train the weights that ship with minicnn (minicnn/weights/), each by its recipe.

    python examples/pretrain_weights.py --list                  # the shipped sets and their recipes
    python examples/pretrain_weights.py transfer_cnn digits0-4 --epochs 1 --batch-size 32 --lr 0.05 --seed 0

A run trains one set of weights from its seed: the ``minicnn.models`` function, SGD with
momentum 0.9, the learning rate falling linearly to 0 over the run (PolynomialDecay).
It then measures the accuracy on the data set's whole test split, saves the model
(``Sequential.save``: minicnn's .npz, no pickle) into --out (default minicnn/weights)
and writes its record into --out/weights.json (``minicnn.models.list_weights()`` reads
it): data set, test accuracy, input, file, SHA-256, and the recipe, which is the command
of the run with every setting written out. Rerun on the same machine (same NumPy, same
number of threads) a recipe writes the same file, byte for byte (same SHA-256); elsewhere
the last bits of the weights may differ, the accuracy to a few hundredths of a point.

The three sets (their recipes are in weights.json, and printed by --list):

- ``lenet5`` ``mnist``: LeNet-5 on MNIST, each 28 x 28 digit padded by 2 to 32 x 32;
- ``mnist_cnn`` ``mnist``: examples/train_mnist.py's CNN with that example's settings
  (``python examples/train_mnist.py --seed 0`` trains the same weights);
- ``transfer_cnn`` ``digits0-4``: the transfer-learning CNN on the digits 0 to 4 only
  (5 classes), whose body examples/transfer_learning.py and tutorial step 20 reuse.

Data: MNIST from --data-dir, $MINICNN_DATA, the user cache or /usr/share/datasets.
"""
import argparse
import hashlib
import json
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minicnn as mc  # noqa: E402
from minicnn.io import atomic_write  # noqa: E402

#: Every shipped set: its digits (the classes, relabelled 0..k-1), the padding of the
#: 28 x 28 digits, and the recipe's settings.
SETS = {
    ("lenet5", "mnist"): dict(digits=tuple(range(10)), pad=2, epochs=8, batch_size=32, lr=0.05),
    ("mnist_cnn", "mnist"): dict(digits=tuple(range(10)), pad=0, epochs=2, batch_size=32, lr=0.03),
    ("transfer_cnn", "digits0-4"): dict(digits=tuple(range(5)), pad=0, epochs=1, batch_size=32, lr=0.05),
}
HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS_DIR = os.path.join(HERE, "..", "minicnn", "weights")


def as_input(images, pad):
    """uint8 (N, 28, 28) -> float32 (N, 1, 28 + 2 pad, 28 + 2 pad) in [0, 1]."""
    x = images[:, None].astype(np.float32) / 255
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x


def dataset(model, name, data_dir=None):
    """``(x_train, y_train), (x_test, y_test)`` of a set, as its network takes them: the
    MNIST images of its digits, relabelled 0..k-1 in order, padded as its input wants."""
    spec = SETS[model, name]
    splits = mc.data.load_mnist(root=data_dir)
    out = []
    for images, labels in splits:
        keep = np.isin(labels, spec["digits"])
        relabel = np.searchsorted(spec["digits"], labels[keep])
        out.append((as_input(images[keep], spec["pad"]), relabel.astype(np.int64)))
    return tuple(out)


def describe(model, name, n_test):
    """The record's words: data set, test split, input."""
    spec = SETS[model, name]
    digits = spec["digits"]
    which = "MNIST" if len(digits) == 10 else f"MNIST, digits {digits[0]}-{digits[-1]} only"
    side = 28 + 2 * spec["pad"]
    padded = f": a 28 x 28 MNIST digit padded by {spec['pad']} black pixels on each side" if spec["pad"] else \
        ": an MNIST digit, x[:, None] / 255 of the uint8 images"
    return {"dataset": which, "split": f"MNIST's test split{'' if len(digits) == 10 else ', those digits'}: "
                                       f"{n_test:,} images",
            "input": f"(N, 1, {side}, {side}) float32 in [0, 1]{padded}", "input_shape": [1, side, side],
            "classes": [str(d) for d in digits]}


def recipe(args):
    """The exact command of this run, every setting written out."""
    words = ["python examples/pretrain_weights.py", args.model, args.name, "--epochs", str(args.epochs),
             "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--seed", str(args.seed)]
    for option in ("limit", "test_limit"):
        if getattr(args, option):
            words += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    return " ".join(words)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def train(args):
    """Train, measure and save one set; returns its record."""
    (x, y), (xt, yt) = dataset(args.model, args.name, args.data_dir)
    x, y, xt, yt = x[:args.limit], y[:args.limit], xt[:args.test_limit], yt[:args.test_limit]
    info = describe(args.model, args.name, len(xt))
    mc.manual_seed(args.seed)
    model = mc.models.MODELS[args.model](num_classes=len(info["classes"]))
    opt = mc.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    steps = args.epochs * -(-len(x) // args.batch_size)
    print(f"{args.model} on {len(x):,} images of {info['dataset']}, {args.epochs} epoch(s), batch {args.batch_size}, "
          f"lr {args.lr} decaying to 0, seed {args.seed}")
    start = time.perf_counter()
    model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=args.epochs, batch_size=args.batch_size,
              callbacks=[mc.optim.PolynomialDecay(opt, steps)], progress=not args.no_progress)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(xt, yt, mc.losses.CrossEntropy(), batch_size=500)["accuracy"]
    os.makedirs(args.out, exist_ok=True)
    file = f"{args.model}_{args.name}.npz"
    model.save(os.path.join(args.out, file))
    record = {"model": args.model, "name": args.name, **info, "accuracy": accuracy, "test_samples": len(xt),
              "file": file, "sha256": sha256(os.path.join(args.out, file)), "recipe": recipe(args),
              "params": model.num_params(), "seconds": round(seconds, 1)}
    print(f"test accuracy {accuracy:.4f} on {len(xt):,} images ({seconds:.0f} s); wrote {file} to {args.out}")
    return record


def update_records(folder, record):
    """Write ``record`` into folder/weights.json, replacing the set's old one; in SETS' order."""
    path = os.path.join(folder, "weights.json")
    records = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
    records = [r for r in records if (r["model"], r["name"]) != (record["model"], record["name"])] + [record]
    order = list(SETS)
    records.sort(key=lambda r: order.index((r["model"], r["name"])))
    text = re.sub(r"\[\n[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group())), json.dumps(records, indent=2))
    with atomic_write(path, "w") as f:                   # (the short lists on one line each)
        f.write(text + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", choices=sorted({m for m, _ in SETS}), help="the minicnn.models function")
    parser.add_argument("name", nargs="?", help="the weights' name: " + ", ".join(f"{m} {n}" for m, n in SETS))
    parser.add_argument("--list", action="store_true", help="print the shipped sets and their recipes")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="train on the first N images only (a quick try, not a recipe)")
    parser.add_argument("--test-limit", type=int, help="test on the first N test images only (a quick try)")
    parser.add_argument("--data-dir", help="folder holding the four MNIST files (default: search)")
    parser.add_argument("--out", default=os.path.normpath(WEIGHTS_DIR), help="folder of the weights and weights.json "
                                                                             "(default minicnn/weights)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for r in mc.models.list_weights():
            print(f"{r['model']}(weights={r['name']!r}): {r['accuracy']:.2%} on {r['split']}\n    {r['recipe']}")
        return None
    if (args.model, args.name) not in SETS:
        parser.error(f"no set {args.model} {args.name}; the sets: " + ", ".join(f"{m} {n}" for m, n in SETS))
    for key, value in SETS[args.model, args.name].items():
        if getattr(args, key, 0) is None:                 # the recipe's settings, unless given
            setattr(args, key, value)
    record = train(args)
    update_records(args.out, record)
    return record


if __name__ == "__main__":
    main()
