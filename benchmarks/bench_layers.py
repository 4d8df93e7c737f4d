"""Per-layer speed: forward(training=True) + backward of each minicnn layer, against PyTorch.

    python benchmarks/bench_layers.py                         # every case, float32, 30 runs each
    python benchmarks/bench_layers.py --compare-torch         # time PyTorch too, in this process
    python benchmarks/bench_layers.py --case conv1 --case dense --repeats 100 --threads 1
    python benchmarks/bench_layers.py --dtype float64 --json /tmp/layers64.json

Every case times one forward pass in training mode followed by the backward
pass *including the input gradient* (the layer is taken to sit in the middle
of a network). Layers that can skip the input gradient (Conv2D, Dense,
BatchNorm: ``backward(g, input_grad=False)``, what the first layer of a
network does) get a second column timed that way.

Each time is the median of ``--repeats`` runs after ``--warmup`` untimed ones.
With ``--compare-torch`` the same layer is timed in PyTorch (its input requiring
grad, so that it computes the input gradient too), alternating with minicnn run
by run, so that a change of machine load hits both alike. The ratio is
minicnn / PyTorch; the target is a ratio of at most 2. Without a live PyTorch
run the ratio is taken against reference figures measured on the development
machine (float32, default threads), marked "ref".

Writes every number, with versions and thread settings, to ``--json``
(default benchmarks/results/bench_layers.json).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing as T  # noqa: E402  (imports no NumPy: --threads must come first)

TARGET_RATIO = 2.0
SAME = (64, 32, 28, 28)      # input of the pooling, BatchNorm and ReLU cases

# name: (description, input shape, layer kind, layer arguments (same names in minicnn and
# PyTorch), PyTorch forward+backward median in ms on the development machine (low, high))
CASES = {
    "conv1": ("conv 1->32, 28x28, k3 p1", (64, 1, 28, 28), "conv",
              dict(in_channels=1, out_channels=32, kernel_size=3, padding=1), (3.2, 3.6)),
    "conv2": ("conv 32->64, 14x14, k3 p1", (64, 32, 14, 14), "conv",
              dict(in_channels=32, out_channels=64, kernel_size=3, padding=1), (5.6, 5.7)),
    "conv_s2": ("conv 3->16, 32x32, k5 s2 p2", (64, 3, 32, 32), "conv",
                dict(in_channels=3, out_channels=16, kernel_size=5, stride=2, padding=2), (2.2, 2.4)),
    "conv_dil": ("conv 16->16, 32x32, k3 p2 d2", (64, 16, 32, 32), "conv",
                 dict(in_channels=16, out_channels=16, kernel_size=3, padding=2, dilation=2), (7.0, 9.6)),
    "maxpool": ("maxpool 2x2, 32x28x28", SAME, "maxpool", dict(kernel_size=2), (5.8, 7.0)),
    "avgpool": ("avgpool 2x2, 32x28x28", SAME, "avgpool", dict(kernel_size=2), (3.7, 4.2)),
    "maxpool_k3s2": ("maxpool k3 s2, 32x28x28", SAME, "maxpool", dict(kernel_size=3, stride=2), (7.3, 7.7)),
    "batchnorm": ("batchnorm train, 32x28x28", SAME, "batchnorm", dict(num_features=32), (2.8, 3.5)),
    "relu": ("relu, 32x28x28", SAME, "relu", {}, (1.3, 1.3)),
    "dense": ("dense 3136->128", (64, 3136), "dense", dict(in_features=3136, out_features=128), (0.8, 0.9)),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=list(CASES), metavar="NAME",
                        help="run only this case (repeatable); one of " + ", ".join(CASES))
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per case (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    T.add_common_arguments(parser, "bench_layers.json")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be at least 1 and --warmup at least 0")
    return args


if __name__ == "__main__":          # the thread variables must be set before NumPy is imported
    ARGS = parse_args()
    T.set_thread_env(ARGS.threads, ARGS.compare_torch)

import numpy as np  # noqa: E402

from minicnn import layers as L  # noqa: E402

MINICNN_LAYERS = {"conv": L.Conv2D, "maxpool": L.MaxPool2D, "avgpool": L.AvgPool2D,
                  "batchnorm": L.BatchNorm, "relu": L.ReLU, "dense": L.Dense}


def minicnn_runs(kind, kwargs, x, dtype):
    """``(full, no_input_grad)``: callables running forward + backward of a fresh minicnn
    layer on ``x``; ``no_input_grad`` is None for layers that cannot skip dx."""
    cls = MINICNN_LAYERS[kind]
    layer = cls(**kwargs, dtype=dtype) if kind in ("conv", "batchnorm", "dense") else cls(**kwargs)
    g = np.random.default_rng(1).standard_normal(layer.forward(x).shape).astype(dtype)

    def full():
        layer.forward(x, training=True)
        layer.backward(g)

    def no_input_grad():
        layer.forward(x, training=True)
        layer.backward(g, input_grad=False)

    return full, (no_input_grad if layer.params else None)


def torch_runs(torch, kind, kwargs, x):
    """The same as :func:`minicnn_runs` in PyTorch. The gradients are computed with
    ``torch.autograd.grad`` (returned, not accumulated into ``.grad``)."""
    nn = torch.nn
    modules = {"conv": nn.Conv2d, "maxpool": nn.MaxPool2d, "avgpool": nn.AvgPool2d,
               "batchnorm": nn.BatchNorm2d, "relu": nn.ReLU, "dense": nn.Linear}
    dtype = torch.float64 if x.dtype == np.float64 else torch.float32
    module = modules[kind](**kwargs).to(dtype).train()
    params = list(module.parameters())
    x_grad = torch.from_numpy(x.copy()).requires_grad_()     # the input gradient is wanted
    x_plain = torch.from_numpy(x.copy())                       # ... or not
    with torch.no_grad():
        g = torch.randn(module(x_plain).shape, dtype=dtype)

    def full():
        torch.autograd.grad(module(x_grad), [x_grad, *params], g)

    def no_input_grad():
        torch.autograd.grad(module(x_plain), params, g)

    return full, (no_input_grad if params else None)


def run_case(name, args, torch):
    description, shape, kind, kwargs, reference = CASES[name]
    dtype = np.dtype(args.dtype)
    x = np.random.default_rng(args.seed).standard_normal(shape).astype(dtype)
    fns = {}
    fns["minicnn"], fns["minicnn_no_input_grad"] = minicnn_runs(kind, kwargs, x, dtype)
    if torch is not None:
        fns["torch"], fns["torch_no_input_grad"] = torch_runs(torch, kind, kwargs, x)
    times = T.time_alternating(fns, args.repeats, args.warmup)
    result = {"description": description, "input_shape": list(shape), "torch_reference_ms": list(reference)}
    for key in ("minicnn", "minicnn_no_input_grad", "torch", "torch_no_input_grad"):
        result[key] = T.summary(times.get(key))

    ours = result["minicnn"]["median_ms"]
    if result["torch"] is not None:
        theirs, basis = result["torch"]["median_ms"], "live"
    elif args.dtype == "float32":
        theirs, basis = sum(reference) / 2, "reference"
    else:
        theirs, basis = None, None      # the reference figures are float32 ones
    result.update(torch_ms=theirs, ratio_basis=basis, ratio=T.ratio(ours, theirs))
    result["within_target"] = None if result["ratio"] is None else result["ratio"] <= TARGET_RATIO
    result["ratio_no_input_grad"] = T.ratio(*(
        (result[k] or {}).get("median_ms") for k in ("minicnn_no_input_grad", "torch_no_input_grad")))
    return result


def table(results):
    ms = lambda s: None if s is None else s["median_ms"]      # noqa: E731
    rows = []
    for name, r in results.items():
        torch_cell = T.fmt(r["torch_ms"]) + (" ref" if r["ratio_basis"] == "reference" else "")
        status = {True: "ok", False: "SLOW", None: "-"}[r["within_target"]]
        target = None if r["torch_ms"] is None else TARGET_RATIO * r["torch_ms"]
        rows.append([name, r["description"], ms(r["minicnn"]), torch_cell, T.fmt(r["ratio"]),
                     T.fmt(target), status, ms(r["minicnn_no_input_grad"]), ms(r["torch_no_input_grad"]),
                     T.fmt(r["ratio_no_input_grad"])])
    return T.format_table(["case", "what", "minicnn ms", "torch ms", "ratio", "target ms", "",
                           "no-dx minicnn", "no-dx torch", "no-dx ratio"], rows, left=2)


def main(args):
    torch = T.import_torch(args.threads) if args.compare_torch else None
    names = args.case or list(CASES)
    print(T.describe_blas())
    print(f"forward(training=True) + backward, {args.dtype}, median of {args.repeats} runs "
          f"(after {args.warmup} warm-up), threads: {args.threads or 'library default'}"
          + (", alternating with PyTorch" if torch is not None else ""))
    results = {}
    for name in names:
        results[name] = run_case(name, args, torch)
        r = results[name]
        print(f"  {name:<13} minicnn {r['minicnn']['median_ms']:8.2f} ms"
              + (f"   torch {r['torch']['median_ms']:8.2f} ms" if r["torch"] else ""), flush=True)

    print()
    print(table(results))
    compared = [r for r in results.values() if r["within_target"] is not None]
    within = sum(r["within_target"] for r in compared)
    basis = {r["ratio_basis"] for r in compared}
    print(f"\ncases within target (minicnn <= {TARGET_RATIO:g}x torch): "
          + (f"{within}/{len(compared)}" if compared else "n/a")
          + (" (against the reference figures, not a live PyTorch run)" if basis == {"reference"} else ""))
    if len(compared) < len(results):
        print(f"({len(results) - len(compared)} cases without a PyTorch figure: the reference figures "
              "are float32 ones; use --compare-torch)")
    if basis == {"reference"} and args.threads not in (None, os.cpu_count()):
        print(f"note: the reference figures used all {os.cpu_count()} cores, this run --threads {args.threads}")
    print("no-dx: backward(g, input_grad=False), the first layer of a network; ms are medians")

    T.write_json(args.json, {
        "benchmark": "bench_layers",
        "settings": {"dtype": args.dtype, "repeats": args.repeats, "warmup": args.warmup,
                     "threads": args.threads, "seed": args.seed, "compare_torch": torch is not None,
                     "target_ratio": TARGET_RATIO},
        "environment": T.environment(torch),
        "cases": results,
        "cases_within_target": within, "cases_compared": len(compared),
    })
    return results


if __name__ == "__main__":
    main(ARGS)
