"""This tree's minicnn against another checkout's, in one process, alternating run by run.

    git worktree add /tmp/before <commit>
    python benchmarks/bench_ab.py /tmp/before            # the MNIST CNN: step, inference, fit

Timing two checkouts in separate processes mixes the change with the machine's drift
(on the development machine a process lands in a fast or a slow state, 28 or 45 ms a
step, at random); here both run in one process, on the same input, alternating (A B,
B A, ...), and the figure is the median of the paired ratios new / old. The other
checkout's package is copied into a temporary folder as ``minicnn_before``, which works
because minicnn imports itself only relatively.
"""
import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np  # noqa: E402

import minicnn as mc  # noqa: E402

import _timing as T


def load_before(root):
    folder = tempfile.mkdtemp(prefix="bench_ab_")
    shutil.copytree(os.path.join(root, "minicnn"), os.path.join(folder, "minicnn_before"))
    sys.path.insert(0, folder)
    import minicnn_before
    return minicnn_before


def mnist_cnn(lib):
    """The cnn of examples/train_mnist.py in ``lib`` (either package), seed 0, and its training step."""
    L = lib.layers
    lib.manual_seed(0)
    model = lib.Sequential([L.Conv2D(1, 32, 3, padding=1), L.ReLU(), L.MaxPool2D(2),
                            L.Conv2D(32, 64, 3, padding=1), L.ReLU(), L.MaxPool2D(2),
                            L.Flatten(), L.Dense(64 * 7 * 7, 128), L.ReLU(), L.Dense(128, 10)])
    loss, opt = lib.losses.CrossEntropy(), lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        loss.forward(model.forward(x, training=True), y)
        opt.zero_grad()
        model.backward(loss.backward(), input_grad=False)
        opt.step()
    return model, step


def paired(before, after, rounds):
    """Median times and the median of the paired ratios after / before, alternating."""
    for _ in range(3):
        before(), after()
    t_before, t_after, ratios = [], [], []
    gc.disable()
    try:
        for i in range(rounds):
            times = {}
            for name, fn in ((("b", before), ("a", after)) if i % 2 == 0 else (("a", after), ("b", before))):
                t0 = time.perf_counter()
                fn()
                times[name] = time.perf_counter() - t0
            t_before.append(times["b"])
            t_after.append(times["a"])
            ratios.append(times["a"] / times["b"])
    finally:
        gc.enable()
    q = statistics.quantiles(ratios, n=4)
    return {"before_ms": 1e3 * statistics.median(t_before), "after_ms": 1e3 * statistics.median(t_after),
            "ratio": statistics.median(ratios), "ratio_quartiles": [q[0], q[2]], "rounds": rounds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", help="the root of the other checkout (it holds minicnn/)")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--json", default=os.path.join(T.RESULTS, "bench_ab.json"))
    args = parser.parse_args(argv)
    old = load_before(args.before)
    r = np.random.default_rng(0)
    x, y = r.random((64, 1, 28, 28)).astype(np.float32), r.integers(0, 10, 64)
    x1000 = r.random((1000, 1, 28, 28)).astype(np.float32)
    x_fit, y_fit = r.random((1920, 1, 28, 28)).astype(np.float32), r.integers(0, 10, 1920)
    (m_old, step_old), (m_new, step_new) = mnist_cnn(old), mnist_cnn(mc)

    def fit(lib, model):          # the whole loop: batches, logs, checks, callbacks
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        return lambda: model.fit(x_fit, y_fit, lib.losses.CrossEntropy(), opt, batch_size=64, progress=False)
    cases = {"training step, batch 64": (lambda: step_old(x, y), lambda: step_new(x, y), args.rounds),
             "inference, batch 64": (lambda: m_old.forward(x), lambda: m_new.forward(x), args.rounds),
             "inference, batch 1000": (lambda: m_old.predict(x1000, batch_size=1000),
                                       lambda: m_new.predict(x1000, batch_size=1000), max(10, args.rounds // 5)),
             "fit, 1,920 samples at batch 64": (fit(old, m_old), fit(mc, m_new), max(10, args.rounds // 10))}
    results = {name: paired(*case) for name, case in cases.items()}
    T.write_json(args.json, {"before": os.path.abspath(args.before), "environment": T.environment(),
                             "results": results})
    rows = [(name, v["before_ms"], v["after_ms"], f"{v['ratio']:.3f}",
             f"{v['ratio_quartiles'][0]:.3f}-{v['ratio_quartiles'][1]:.3f}") for name, v in results.items()]
    print(T.format_table(("case", "before ms", "this tree ms", "after/before", "quartiles"), rows))


if __name__ == "__main__":
    main()
