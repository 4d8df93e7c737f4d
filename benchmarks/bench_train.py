"""Whole-network speed and memory: the MNIST CNNs of examples/train_mnist.py, training and inference.

    python benchmarks/bench_train.py                       # cnn and cnn-bn, 50 steps at batch 64
    python benchmarks/bench_train.py --compare-torch       # the same nets in PyTorch, alternating
    python benchmarks/bench_train.py --net cnn --epoch     # also one full epoch with model.fit
    python benchmarks/bench_train.py --memory              # predict/evaluate peak memory, 10k vs 60k
    python benchmarks/bench_train.py --threads 1 --steps 200 --batch-size 32

Networks (built by ``examples.train_mnist.build``): "cnn" is conv32-pool-conv64-pool-
dense128-dense10, "cnn-bn" the same with BatchNorm (and Dropout). Optimiser: SGD with
momentum 0.9, ``--lr`` 0.01. Measured, per network:

- the training step, exactly what ``fit`` does per batch: forward(training=True),
  CrossEntropy forward/backward, zero_grad, ``model.backward(g, input_grad=False)``,
  step; median ms per step over ``--steps`` steps (after ``--warmup`` untimed ones)
  and samples/s over all of them;
- inference (``model.predict`` of a batch of 64 and of 1000, eval mode): median ms
  and samples/s over ``--infer-repeats`` runs;
- with ``--epoch``: one epoch of ``model.fit(progress=False)`` on the whole training set
  (``--epoch-samples N``: on its first N samples);
- the process's peak resident memory (ru_maxrss) after each phase;
- the matrix-product floor: the FLOPs of the network's products per step (forward, dW,
  and dx but for the first layer) at the float32 GEMM rate NumPy reaches in the same run
  on the network's largest product, per step and per epoch (and the epoch against it).

The training step is the one the README's tour writes, ``model.backward(loss_fn.backward(),
input_grad=False)`` included.

With ``--compare-torch`` the same layers (weights copied) are run in PyTorch with
``torch.optim.SGD(lr, momentum=0.9)`` and ``cross_entropy``, alternating with minicnn
step by step (and epoch after epoch), so that load changes hit both alike; the ratio
is minicnn time / PyTorch time. The peak memory then includes PyTorch's.

``--memory`` is a mode of its own: it runs ``model.predict`` and ``model.evaluate``
(batch 256) on 10,000 and on 60,000 random samples, each in a fresh process, and
reports each one's resident memory before and at the peak of the call: the growth
should differ by about the size of the output array only (both work batch by batch;
evaluate returns two numbers). Written to
benchmarks/results/bench_train_memory.json unless ``--json`` says otherwise.

Data: MNIST as ``minicnn.data.load_mnist(download=False)`` finds it ($MINICNN_DATA/mnist,
the user cache, /usr/share/datasets); random data of the same shape when it is absent
(the output says which). Results go to ``--json`` (default benchmarks/results/bench_train.json).
"""
import argparse
import itertools
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing as T  # noqa: E402  (imports no NumPy: --threads must come first)

NETS = ("cnn", "cnn-bn")
INFER_BATCHES = (64, 1000)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", action="append", choices=NETS,
                        help="network to time (repeatable; default: both)")
    parser.add_argument("--steps", type=int, default=50, help="timed training steps (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps/runs first (default 3)")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch size (default 64)")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01)")
    parser.add_argument("--infer-repeats", type=int, default=10,
                        help="timed inference runs per batch size (default 10)")
    parser.add_argument("--epoch", action="store_true", help="also time one epoch of model.fit")
    parser.add_argument("--epoch-samples", type=int, metavar="N",
                        help="the epoch uses the first N training samples (default: all)")
    parser.add_argument("--memory", action="store_true",
                        help="only measure predict's and evaluate's peak memory on 10k vs 60k samples "
                             "(fresh processes)")
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[10_000, 60_000], metavar="N",
                        help="sample counts for --memory (default 10000 60000)")
    parser.add_argument("--predict-batch-size", type=int, default=256, help="for --memory (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-child", type=int, metavar="N", help=argparse.SUPPRESS)  # internal
    parser.add_argument("--memory-op", choices=["predict", "evaluate"], default="predict",
                        help=argparse.SUPPRESS)                                            # internal
    T.add_common_arguments(parser, "bench_train.json")
    args = parser.parse_args(argv)
    if min(args.steps, args.batch_size, args.infer_repeats, *args.memory_sizes) < 1 or args.warmup < 0:
        parser.error("--steps, --batch-size, --infer-repeats and --memory-sizes must be at least 1, "
                     "--warmup at least 0")
    if args.memory and args.json == parser.get_default("json"):
        args.json = os.path.join(T.RESULTS, "bench_train_memory.json")
    args.net = args.net or list(NETS)
    return args


if __name__ == "__main__":          # the thread variables must be set before NumPy is imported
    ARGS = parse_args()
    T.set_thread_env(ARGS.threads, ARGS.compare_torch and not ARGS.memory)

import numpy as np  # noqa: E402

import minicnn as mc  # noqa: E402

from examples.train_mnist import build  # noqa: E402


# ---------------------------------------------------------------------------
# Data and networks
# ---------------------------------------------------------------------------
def load_training_data(seed):
    """``(x, y, source)``: MNIST's training set as float32 (N, 1, 28, 28) in [0, 1] and
    int64 labels, or random data of the same shape when MNIST is not on disk."""
    try:
        (images, labels), _ = mc.data.load_mnist(download=False)
        source = "real MNIST"
    except FileNotFoundError:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, (60_000, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, 60_000)
        source = "synthetic random data (MNIST not found: set MINICNN_DATA)"
    x = images[:, None].astype(np.float32)
    x /= 255
    return x, labels, source


def minicnn_net(net, lr, seed):
    """Model and one training step ``step(xb, yb) -> loss`` (what fit does per batch)."""
    mc.manual_seed(seed)
    model, loss, opt, _ = build(net, total_steps=1, lr=lr)     # SGD(lr, momentum=0.9); no schedule
    assert isinstance(opt, mc.optim.SGD) and opt.momentum == 0.9

    def step(xb, yb):
        value = loss.forward(model.forward(xb, training=True), yb)
        opt.zero_grad()
        model.backward(loss.backward(), input_grad=False)
        opt.step()
        return value
    return model, loss, opt, step


def torch_net(torch, model, input_shape, lr):
    """The layers of ``model`` as a torch ``nn.Sequential`` with the same weights, and
    its training step ``step(xb, yb) -> loss`` (SGD momentum 0.9, cross-entropy)."""
    nn = torch.nn
    modules, shape = [], tuple(input_shape)
    for layer in model.layers:
        kind, cfg, p = type(layer).__name__, layer.config(), layer.params
        tup = lambda v: v if isinstance(v, str) else tuple(v)      # noqa: E731
        if kind == "Conv2D":
            m = nn.Conv2d(cfg["in_channels"], cfg["out_channels"], tup(cfg["kernel_size"]),
                          stride=tup(cfg["stride"]), padding=tup(cfg["padding"]),
                          dilation=tup(cfg["dilation"]), bias=cfg["bias"])
            weights = {"weight": p["W"].data, "bias": p["b"].data if cfg["bias"] else None}
        elif kind == "Dense":
            m = nn.Linear(cfg["in_features"], cfg["out_features"], bias=cfg["bias"])
            weights = {"weight": p["W"].data.T, "bias": p["b"].data if cfg["bias"] else None}
        elif kind == "BatchNorm":
            bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            m = bn(cfg["num_features"], eps=cfg["eps"], momentum=cfg["momentum"])
            weights = {"weight": p["gamma"].data, "bias": p["beta"].data}
        elif kind in ("MaxPool2D", "AvgPool2D"):
            pool = nn.MaxPool2d if kind == "MaxPool2D" else nn.AvgPool2d
            m = pool(tup(cfg["kernel_size"]), tup(cfg["stride"]), tup(cfg["padding"]))
            weights = {}
        elif kind in ("ReLU", "Flatten", "Dropout"):
            m = {"ReLU": nn.ReLU, "Flatten": nn.Flatten, "Dropout": nn.Dropout}[kind](**cfg)
            weights = {}
        else:
            raise ValueError(f"no PyTorch equivalent written for {kind}")
        with torch.no_grad():
            for name, value in weights.items():
                if value is not None:
                    getattr(m, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        modules.append(m)
        shape = layer.output_shape(shape)
    net = nn.Sequential(*modules).train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)

    def step(xb, yb):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()
    return net, step


def batch_stream(x, y, batch_size, convert=None):
    """A callable giving consecutive training batches (cycling through the data)."""
    per_epoch, i = len(x) // batch_size, 0

    def next_batch():
        nonlocal i
        start = (i % per_epoch) * batch_size
        i += 1
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        return (convert(xb), convert(yb)) if convert else (xb, yb)
    return next_batch


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------
def time_training(args, x, y, mine, theirs, torch):
    """Per-step times of both training steps, alternating, on the same batches."""
    losses = {"minicnn": [], "torch": []}

    def runner(name, step, batches):
        return lambda: losses[name].append(step(*batches()))
    fns = {"minicnn": runner("minicnn", mine, batch_stream(x, y, args.batch_size))}
    if theirs is not None:
        fns["torch"] = runner("torch", theirs, batch_stream(x, y, args.batch_size, torch.from_numpy))
    times = T.time_alternating(fns, args.steps, args.warmup)
    out = {}
    for name, seconds in times.items():
        out[name] = dict(T.summary(seconds), samples_per_s=args.batch_size * len(seconds) / sum(seconds),
                         first_loss=losses[name][0], last_loss=losses[name][-1])
    return out


def time_inference(args, x, model, net, torch):
    """``model.predict`` (and the torch net in eval mode) on one batch of each size in INFER_BATCHES."""
    out = {}
    if net is not None:
        net.eval()
    for b in INFER_BATCHES:
        xb = x[:b]
        fns = {"minicnn": lambda: model.predict(xb, batch_size=b)}
        if net is not None:
            xt = torch.from_numpy(xb)

            def torch_predict():
                with torch.inference_mode():
                    net(xt)
            fns["torch"] = torch_predict
        times = T.time_alternating(fns, args.infer_repeats, args.warmup)
        out[str(b)] = {name: dict(T.summary(s), samples_per_s=b / (T.summary(s)["median_ms"] / 1e3))
                       for name, s in times.items()}
    if net is not None:
        net.train()
    return out


def time_epoch(args, x, y, model, loss, opt, net_step, torch):
    """One epoch of ``model.fit(progress=False)``, then one of the torch net (same batch size,
    shuffled batches gathered the same way); seconds each."""
    n = args.epoch_samples or len(x)
    x, y = x[:n], y[:n]
    out = {}
    t0 = time.perf_counter()
    model.fit(x, y, loss, opt, epochs=1, batch_size=args.batch_size, progress=False)
    out["minicnn"] = {"seconds": time.perf_counter() - t0}
    if net_step is not None:
        order = np.random.default_rng(args.seed).permutation(n)
        t0 = time.perf_counter()
        for start in range(0, n, args.batch_size):
            idx = order[start:start + args.batch_size]
            net_step(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))
        out["torch"] = {"seconds": time.perf_counter() - t0}
    for r in out.values():
        r["samples_per_s"] = n / r["seconds"]
    out["samples"] = n
    return out


def bench_net(args, net, x, y, torch):
    print(f"\n{net}: {args.steps} training steps at batch {args.batch_size}"
          + (", alternating with PyTorch" if torch is not None else ""), flush=True)
    model, loss, opt, step = minicnn_net(net, args.lr, args.seed)
    tnet, tstep = torch_net(torch, model, x.shape[1:], args.lr) if torch is not None else (None, None)
    result = {"train_step": time_training(args, x, y, step, tstep, torch)}
    rss = {"after_training_steps": T.peak_rss_mib()}
    print(f"{net}: inference at batch {' and '.join(map(str, INFER_BATCHES))}", flush=True)
    result["inference"] = time_inference(args, x, model, tnet, torch)
    rss["after_inference"] = T.peak_rss_mib()
    if args.epoch:
        print(f"{net}: one epoch of fit on {args.epoch_samples or len(x)} samples", flush=True)
        result["epoch"] = time_epoch(args, x, y, model, loss, opt, tstep, torch)
        rss["after_epoch"] = T.peak_rss_mib()
    result["peak_rss_mib"] = rss
    result["_model"] = model
    return result


def product_flops(model, batch, input_shape):
    """FLOPs of the matrix products of one training step (forward, dW, and dx for every
    layer but the first with weights, which needs none): 2 * N * O * C * kh * kw * OH * OW
    a convolution product, 2 * N * in * out a dense one."""
    total, shape, first = 0, tuple(input_shape), True
    for layer in model.layers:
        out = layer.output_shape(shape)
        if isinstance(layer, mc.layers.Conv2D):
            o, c, kh, kw = layer.params["W"].shape
            one = 2 * batch * o * c * kh * kw * out[1] * out[2]
        elif isinstance(layer, mc.layers.Dense):
            one = 2 * batch * layer.in_features * layer.out_features
        else:
            one = 0
        if one:
            total += one * (2 if first else 3)
            first = False
        shape = out
    return total


def gemm_rate(repeats=20):
    """GFLOPS of NumPy's float32 matrix product on the CNN's largest product shape
    ((64 x 288) @ (288 x 14336), the second convolution's forward at batch 64), median."""
    a = np.random.default_rng(0).random((64, 288), dtype=np.float32)
    b = np.random.default_rng(1).random((288, 64 * 14 * 16), dtype=np.float32)
    times = T.time_alternating({"gemm": lambda: a @ b}, repeats, warmup=3)["gemm"]
    return 2 * 64 * 288 * b.shape[1] / float(np.median(times)) / 1e9


def print_floor(net, r, model, batch, input_shape):
    flops = product_flops(model, batch, input_shape)
    rate = gemm_rate()
    floor_step = flops / (rate * 1e9)
    r["floor"] = {"product_gflop_per_step": flops / 1e9, "gemm_gflops": rate, "floor_step_ms": 1e3 * floor_step,
                  "floor_epoch_s": floor_step * 60000 / batch}
    line = (f"{net}: matrix-product floor: {flops / 1e9:.3f} GFLOP per step at {rate:.0f} GFLOPS (measured now) "
            f"= {1e3 * floor_step:.1f} ms per step, {floor_step * 60000 / batch:.1f} s per epoch of 60,000")
    if "epoch" in r:
        line += f"; the epoch took {r['epoch']['minicnn']['seconds'] / (floor_step * r['epoch']['samples'] / batch):.2f}x it"
    print(line)


def rows_of(net, r):
    """Table rows of one network: (net, what, minicnn, torch, ratio, minicnn samples/s, torch samples/s)."""
    rows = []

    def add(what, entry, key, scale=1.0):
        mine, theirs = entry.get("minicnn"), entry.get("torch")
        a = mine[key] * scale
        b = theirs[key] * scale if theirs else None
        rows.append([net, what, a, b, T.fmt(T.ratio(a, b)), mine["samples_per_s"],
                     theirs["samples_per_s"] if theirs else None])
    add("train step, median ms", r["train_step"], "median_ms")
    for b in INFER_BATCHES:
        add(f"inference batch {b}, median ms", r["inference"][str(b)], "median_ms")
    if "epoch" in r:
        add(f"epoch ({r['epoch']['samples']} samples), s", r["epoch"], "seconds")
    return rows


# ---------------------------------------------------------------------------
# --memory: predict in fresh processes
# ---------------------------------------------------------------------------
def current_rss_mib():
    """Resident memory now (Linux /proc), in MiB; None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def memory_child(args):
    """In a fresh process: build the net, make N random samples (allocated once, no
    temporary copy), run predict or evaluate, print the memory figures as one JSON line."""
    mc.manual_seed(args.seed)
    model = build(args.net[0], total_steps=1)[0]
    model.predict(np.zeros((2, 1, 28, 28), np.float32))       # first-call allocations out of the way
    x = np.empty((args.memory_child, 1, 28, 28), np.float32)
    np.random.default_rng(args.seed).random(dtype=np.float32, out=x)
    y = np.random.default_rng(args.seed).integers(0, 10, len(x))
    before, peak_before = current_rss_mib(), T.peak_rss_mib()
    t0 = time.perf_counter()
    if args.memory_op == "predict":
        out_mib = model.predict(x, batch_size=args.predict_batch_size).nbytes / 2**20
    else:
        model.evaluate(x, y, mc.losses.CrossEntropy(), batch_size=args.predict_batch_size)
        out_mib = 0.0
    seconds = time.perf_counter() - t0
    print(json.dumps({"op": args.memory_op, "samples": len(x), "input_mib": x.nbytes / 2**20,
                      "output_mib": out_mib,
                      "rss_before_mib": before, "peak_rss_before_mib": peak_before,
                      "peak_rss_mib": T.peak_rss_mib(), "seconds": seconds}))


def memory_mode(args):
    results = {}
    for net, op in itertools.product(args.net, ["predict", "evaluate"]):
        rows = []
        for n in args.memory_sizes:
            cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", str(n), "--net", net,
                   "--memory-op", op,
                   "--seed", str(args.seed), "--predict-batch-size", str(args.predict_batch_size)]
            if args.threads is not None:
                cmd += ["--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"the --memory child for N={n} failed:\n{proc.stderr}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            base = r["rss_before_mib"] if r["rss_before_mib"] is not None else r["peak_rss_before_mib"]
            r["growth_mib"] = r["peak_rss_mib"] - base
            rows.append(r)
        first, last = rows[0], rows[-1]
        verdict = {"growth_difference_mib": last["growth_mib"] - first["growth_mib"],
                   "output_difference_mib": last["output_mib"] - first["output_mib"]}
        results[f"{net} {op}"] = {"runs": rows, **verdict}
        print(f"\n{op} memory, {net}, batch_size {args.predict_batch_size}, random input, "
              "a fresh process per N (MiB):")
        print(T.format_table(["N", "input", "output", f"RSS before {op}", "peak RSS", "growth",
                              f"{op} s"],
                             [[f"{r['samples']:,}", r["input_mib"], r["output_mib"], r["rss_before_mib"],
                               r["peak_rss_mib"], r["growth_mib"], r["seconds"]] for r in rows]))
        print(f"growth difference {last['samples']:,} vs {first['samples']:,}: "
              f"{verdict['growth_difference_mib']:.1f} MiB; the outputs differ by "
              f"{verdict['output_difference_mib']:.1f} MiB (flat in N if these are close)")
    return results


# ---------------------------------------------------------------------------
def main(args):
    if args.memory_child is not None:
        return memory_child(args)
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "memory_child")}
    if args.memory:
        if args.compare_torch:
            print("note: --compare-torch does not apply to --memory (minicnn's predict only)")
        results = memory_mode(args)
        T.write_json(args.json, {"benchmark": "bench_train --memory", "settings": settings,
                                 "environment": T.environment(), "nets": results})
        return results

    torch = T.import_torch(args.threads) if args.compare_torch else None
    x, y, source = load_training_data(args.seed)
    print(f"data: {source}, {len(x)} training samples; threads: {args.threads or 'library default'}; "
          f"minicnn.get_num_threads() = {mc.get_num_threads()} (default: the cores available, "
          f"{mc.threads._cores()})")
    print(T.describe_blas())
    rss_data = T.peak_rss_mib()
    results = {net: bench_net(args, net, x, y, torch) for net in args.net}

    rows = [row for net, r in results.items() for row in rows_of(net, r)]
    print()
    print(T.format_table(["net", "what", "minicnn", "torch", "ratio", "minicnn samples/s", "torch samples/s"],
                         rows, left=2))
    print("ratio: minicnn time / PyTorch time (above 1: minicnn is slower)")
    for net, r in results.items():
        losses = ", ".join(f"{k} {v['first_loss']:.3f} -> {v['last_loss']:.3f}"
                           for k, v in r["train_step"].items())
        print(f"{net}: training loss, first (warm-up) -> last step: {losses}")
        print_floor(net, r, r.pop("_model"), args.batch_size, x.shape[1:])
    peak = T.peak_rss_mib()
    print(f"peak RSS of this process: {peak:.0f} MiB (after loading the data: {rss_data:.0f} MiB"
          + ("; includes PyTorch" if torch is not None else "") + ")")
    T.write_json(args.json, {"benchmark": "bench_train", "settings": settings,
                             "environment": T.environment(torch), "data": source,
                             "peak_rss_mib": peak, "peak_rss_after_data_mib": rss_data, "nets": results})
    return results


if __name__ == "__main__":
    main(ARGS)
