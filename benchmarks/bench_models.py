"""The zoo at its native input size: forward time and peak memory of each model of
``minicnn.models`` at batch 1, and the worst difference from the same network in PyTorch.

    python benchmarks/bench_models.py                        # every model, minicnn only
    PYTHONPATH=. /path/to/torch-venv/bin/python benchmarks/bench_models.py --python .venv/bin/python
                                                             # + the PyTorch check, minicnn timed in its venv
    python benchmarks/bench_models.py --model resnet50 --repeats 5

Each model runs in a fresh subprocess (one at a time: the machine may be shared), which
builds it (``mc.manual_seed(0)``, BatchNorm running statistics set to random values so
that they matter), times ``model.predict(x)`` on one image at the native size (LeNet-5
32 x 32 x 1, Inception-v4 299, the rest 224; the median of ``--repeats`` runs after one
untimed), and reports its peak resident memory (VmHWM, see :func:`peak_rss_mb`: weights,
initialisation and forward together; the subprocess never imports torch). When PyTorch is importable
here, the subprocess also saves the model, the input and the output, and this process
loads the weights into the same network written in ``torch.nn`` (``benchmarks/
zoo_torch.py``) and reports the worst absolute difference of the outputs, and that
difference over the largest output (float32 both), and PyTorch's own forward time for
the same input (its threads as it sets them), as a yardstick for the load of the machine.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from _timing import write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NATIVE = {"lenet5": (1, 32), "inception_v4": (3, 299)}         # (channels, side); the rest (3, 224)
ORDER = ["lenet5", "alexnet", "vgg11", "vgg16", "googlenet", "inception_v4",
         "resnet18", "resnet34", "resnet50", "se_resnet50", "mobilenet_v2", "densenet121"]


def peak_rss_mb():
    """This process's peak resident memory in MB: VmHWM, the high-water mark of its own
    address space (Linux). Not ``ru_maxrss``: Linux carries that across fork and exec, so a
    subprocess would report its parent's peak when the parent is the larger."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # KiB on Linux, bytes on macOS


def zoo_model(name, rng):
    """``minicnn.models.MODELS[name]()`` (seed 0) with BatchNorm running statistics drawn
    from ``rng``, so that eval mode is not the identity (what the comparisons run)."""
    import minicnn as mc
    from minicnn import layers as L

    def leaves(layers):
        for layer in layers:
            yield layer
            yield from leaves(layer.sublayers())

    mc.manual_seed(0)
    model = mc.models.MODELS[name]()
    for layer in leaves(model.layers):
        if isinstance(layer, L.BatchNorm):
            layer.running_mean[...] = rng.normal(size=layer.num_features) * 0.1
            layer.running_var[...] = rng.uniform(0.5, 1.5, layer.num_features)
    return model


def run_one(name, repeats, out_dir):
    """In the subprocess: build, time, measure; print one JSON line."""
    import numpy as np

    import minicnn as mc

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    model = zoo_model(name, rng)
    build_s = time.perf_counter() - t0
    rss_built = peak_rss_mb()
    c, side = NATIVE.get(name, (3, 224))
    x = rng.standard_normal((1, c, side, side)).astype(np.float32)
    y = model.predict(x)                                  # untimed: first-touch of every buffer
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        y = model.predict(x)
        times.append(time.perf_counter() - t)
    rss = peak_rss_mb()
    if out_dir:
        model.save(os.path.join(out_dir, "model.npz"))
        np.save(os.path.join(out_dir, "x.npy"), x)
        np.save(os.path.join(out_dir, "y.npy"), y)
    print(json.dumps(dict(model=name, input=[c, side, side], params=model.num_params(), build_s=build_s,
                          forward_ms=1000 * sorted(times)[len(times) // 2], runs=repeats,
                          peak_rss_mb_built=rss_built, peak_rss_mb=rss, threads=mc.get_num_threads())))


def torch_difference(name, out_dir, repeats):
    """(max |minicnn - torch|, that over max |torch|, torch's forward in ms) on the saved
    weights and input."""
    import numpy as np
    import torch
    import zoo_torch

    import minicnn as mc
    torch.set_grad_enabled(False)
    model = mc.Sequential.load(os.path.join(out_dir, "model.npz"))
    net = zoo_torch.load_from_minicnn(zoo_torch.MODELS[name]().eval(), model)
    del model
    x, y = np.load(os.path.join(out_dir, "x.npy")), np.load(os.path.join(out_dir, "y.npy"))
    yt = net(torch.from_numpy(x)).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        net(torch.from_numpy(x))
        times.append(time.perf_counter() - t)
    worst = float(np.abs(y - yt).max())
    return worst, worst / float(np.abs(yt).max()), 1000 * sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=ORDER, help="a model (repeatable; default all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "bench_models.json"),
                        help="write the rows here (default benchmarks/results/bench_models.json)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter that runs minicnn in the subprocesses (default: this one); "
                             "e.g. minicnn's venv while this process runs in a venv with torch")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return run_one(args.one, args.repeats, args.out_dir)

    sys.path.insert(0, HERE)
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    rows = []
    header = (f"{'model':14s} {'input':>11s} {'parameters':>13s} {'forward (ms)':>12s} "
              f"{'peak RSS (MB)':>13s} {'vs torch: max abs':>17s} {'relative':>9s} {'torch (ms)':>10s}")
    print(header)
    print("-" * len(header))
    for name in args.model or ORDER:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [args.python, os.path.abspath(__file__), "--one", name, "--repeats", str(args.repeats)]
            if have_torch:
                cmd += ["--out-dir", tmp]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"{name}: failed\n{done.stderr[-2000:]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            if have_torch:
                row["torch_max_abs"], row["torch_relative"], row["torch_forward_ms"] = \
                    torch_difference(name, tmp, args.repeats)
        rows.append(row)
        diff = (f"{row['torch_max_abs']:17.2e} {row['torch_relative']:9.1e} {row['torch_forward_ms']:10.1f}"
                if "torch_max_abs" in row else f"{'-':>17s} {'-':>9s} {'-':>10s}")
        print(f"{name:14s} {'x'.join(map(str, row['input'])):>11s} {row['params']:>13,d} "
              f"{row['forward_ms']:12.1f} {row['peak_rss_mb']:13.0f} {diff}", flush=True)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
