"""The GPU check in one script: parity, MNIST, determinism, speed against PyTorch.

    python benchmarks/bench_gpu.py                 # on a machine with a CUDA GPU, CuPy and PyTorch
    python benchmarks/bench_gpu.py --resnet        # also examples/resnet_fashion_mnist.py --device cuda
    python benchmarks/bench_gpu.py --standin --quick   # the script itself, on the CPU (no GPU numbers)

1. Parity: one training step (forward, backward, SGD with momentum, twice) of every layer
   case of ``tests/layer_cases.py`` on the GPU against the CPU: float64 within 1e-10 and
   float32 within 1e-5, relative to each array's largest value.
2. MNIST: ``examples/train_mnist.py --device cuda`` with its default recipe (the cnn, 2 epochs
   at batch 32): test accuracy and training seconds (target: 99.2% in 10 s).
3. Determinism: the MNIST CNN trained twice from one seed for ``--determinism-steps`` steps
   (shuffled batches, Dropout included): the weights should be bit-identical. minicnn adds
   nothing with atomics (col2im and the pooling backward go tap by tap), so any difference
   would come from CuPy's or cuBLAS's kernels.
4. Speed: the MNIST CNN against the same net in PyTorch eager (cuDNN), weights copied, in this
   process, alternating: one epoch of ``fit`` (data moved once, as fit does on a GPU) against a
   PyTorch loop over a GPU tensor (no ``.item()`` per step) at batch 64 and 256; a training step
   at batch 64; inference of a batch of 1000. Synchronised timers, medians.

It needs minicnn's own dependencies (numpy, matplotlib, tqdm) besides CuPy and PyTorch, and
no pytest. On a GPU machine without a package index, bring them as wheels:
``pip download -d .wheels tqdm matplotlib`` here, ``pip install --no-index --find-links
.wheels tqdm matplotlib`` there (with MNIST in $MINICNN_DATA, or the data beside the repo).

The results go to benchmarks/results/bench_gpu.json (and $OUT/bench_gpu.json when $OUT is
set, as on the device machine); the table comes last. ``--standin`` runs everything on the
CuPy stand-in of ``tests/strict_array.py`` against PyTorch on the CPU: a check of this
script, whose numbers mean nothing for a GPU.
"""
import argparse
import copy
import importlib
import os
import sys
import tempfile
import time

import numpy as np  # noqa: E402

import minicnn as mc  # noqa: E402
from minicnn import devices  # noqa: E402

import _timing as T

sys.path.insert(0, os.path.join(T.ROOT, "tests"))          # the layer cases and the stand-in


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--standin", action="store_true", help="run on the CPU stand-in of CuPy (checks the script)")
    p.add_argument("--quick", action="store_true", help="small sizes everywhere (with --standin)")
    p.add_argument("--resnet", action="store_true", help="also train examples/resnet_fashion_mnist.py on the GPU")
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each epoch (default 5)")
    p.add_argument("--determinism-steps", type=int, default=300)
    p.add_argument("--json", default=os.path.join(T.RESULTS, "bench_gpu.json"))
    return p.parse_args(argv)


# ---------------------------------------------------------------------------
# The device
# ---------------------------------------------------------------------------
def gpu_setup(standin):
    """``(xp, synchronize, torch, torch_device)``: the GPU's module, a call that waits for it,
    and PyTorch (None where it is missing) with the device it runs on."""
    if standin:
        from strict_array import strict
        devices._gpu = strict
        xp, sync, torch_device = strict, (lambda: None), "cpu"
    else:
        xp = devices.gpu_module()
        sync, torch_device = xp.cuda.Device().synchronize, "cuda"
    try:
        import torch
        if torch_device == "cuda" and not torch.cuda.is_available():
            print("note: PyTorch sees no GPU; the torch columns stay empty")
            torch = None
    except ImportError:
        print("note: PyTorch is not importable; the torch columns stay empty")
        torch = None
    return xp, sync, torch, torch_device


def describe(xp, torch, standin):
    env = T.environment(torch)
    if standin:
        env["gpu"] = "none: the CuPy stand-in on the CPU (numbers mean nothing for a GPU)"
        return env
    props = xp.cuda.runtime.getDeviceProperties(0)
    env.update(gpu=props["name"].decode(), cupy=xp.__version__, cuda_runtime=xp.cuda.runtime.runtimeGetVersion(),
               gpu_memory_gib=props["totalGlobalMem"] / 2 ** 30)
    if torch is not None:
        env["torch_cudnn"] = torch.backends.cudnn.version()
    return env


# ---------------------------------------------------------------------------
# 1. Parity with the CPU
# ---------------------------------------------------------------------------
def parity(dtype):
    """Worst relative difference GPU vs CPU over every layer case: outputs, input gradients,
    parameter gradients and values after two SGD steps, buffers."""
    from layer_cases import LAYERS
    worst, rows = 0.0, []
    for make, shape in LAYERS:
        r = np.random.default_rng(0)
        layer = make().astype(dtype)
        x = r.standard_normal(shape).astype(dtype)
        g = r.standard_normal((shape[0], *layer.output_shape(shape[1:]))).astype(dtype)
        gpu = copy.deepcopy(layer).to("cuda")
        arrays = []
        for model, xb, gb in ((layer, x, g), (gpu, devices.to_device(x, "cuda"), devices.to_device(g, "cuda"))):
            opt = mc.optim.SGD(model.parameters() or [mc.Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
            got = []
            for _ in range(2):
                got.append(model.forward(xb, training=True))
                opt.zero_grad()
                got.append(model.backward(gb))
                opt.step()
            got += [p.grad for p in model.parameters()] + [p.data for p in model.parameters()]
            got += list(model.buffers().values())
            arrays.append([devices.to_numpy(a).astype(np.float64) for a in got])
        diff = max((np.abs(a - b).max() / max(np.abs(b).max(), 1e-30) for a, b in zip(*arrays) if b.size),
                   default=0.0)
        rows.append((type(layer).__name__, diff))
        worst = max(worst, diff)
    return worst, rows


# ---------------------------------------------------------------------------
# 2. MNIST with the default recipe, 3. determinism
# ---------------------------------------------------------------------------
def train_example(module, argv):
    """Run an example's main on the GPU; returns its metrics.json."""
    import json
    out = tempfile.mkdtemp(prefix="bench_gpu_")
    module.main([*argv, "--device", "cuda", "--no-progress", "--out", out])
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


def determinism(x, y, steps, batch):
    """Two runs of the cnn-bn (Dropout, BatchNorm) from one seed: the largest weight difference."""
    from examples.train_mnist import build
    states = []
    n = steps * batch
    for _ in range(2):
        mc.manual_seed(0)
        model, loss, opt, _ = build("cnn-bn", total_steps=steps)
        model.to("cuda").fit(x[:n], y[:n], loss, opt, epochs=1, batch_size=batch, progress=False)
        states.append(model.state_dict())
    return max(float(np.abs(states[0][k] - states[1][k]).max()) for k in states[0])


# ---------------------------------------------------------------------------
# 4. Speed against PyTorch
# ---------------------------------------------------------------------------
def torch_cnn(torch, model, device):
    """The MNIST cnn of examples/train_mnist.py in PyTorch, with ``model``'s weights."""
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    ours = [layer for layer in model.layers if layer.params]
    theirs = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for layer, m in zip(ours, theirs):
            w = devices.to_numpy(layer.params["W"].data)
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))
            m.bias.copy_(torch.from_numpy(devices.to_numpy(layer.params["b"].data)))
    return net.to(device)


def speed(x, y, torch, torch_device, sync, repeats, quick):
    from examples.train_mnist import build
    mc.manual_seed(0)
    model, loss, _, _ = build("cnn", total_steps=1)
    net = torch_cnn(torch, model, torch_device) if torch is not None else None
    model.to("cuda")
    results = {}

    def synced(fn):
        def run():
            fn()
            sync()
            if torch is not None and torch_device == "cuda":
                torch.cuda.synchronize()
        return run

    for batch in ((64, 256) if not quick else (64,)):
        opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        fns = {"minicnn": synced(lambda: model.fit(x, y, loss, opt, epochs=1, batch_size=batch, progress=False))}
        if net is not None:
            topt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

            def torch_epoch():
                xt = torch.from_numpy(x).to(torch_device)        # moved once, as fit does
                yt = torch.from_numpy(y).to(torch_device)
                order = torch.randperm(len(x), device=torch_device)
                for start in range(0, len(x), batch):
                    idx = order[start:start + batch]
                    topt.zero_grad()
                    torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                    topt.step()
            fns["torch"] = synced(torch_epoch)
        results[f"epoch, batch {batch}"] = T.time_alternating(fns, repeats)

    xb, yb = devices.to_device(x[:64], "cuda"), devices.to_device(y[:64], "cuda")
    opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss.forward(model.forward(xb, training=True), yb)
        opt.zero_grad()
        model.backward(loss.backward(), input_grad=False)
        opt.step()
    fns = {"minicnn": synced(step)}
    if net is not None:
        xtb, ytb = torch.from_numpy(x[:64]).to(torch_device), torch.from_numpy(y[:64]).to(torch_device)
        topt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def torch_step():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(net(xtb), ytb).backward()
            topt.step()
        fns["torch"] = synced(torch_step)
    results["training step, batch 64"] = T.time_alternating(fns, 20 if quick else 200, warmup=5)

    x1000 = devices.to_device(x[:1000], "cuda")
    fns = {"minicnn": synced(lambda: model.forward(x1000))}
    if net is not None:
        xt1000 = torch.from_numpy(x[:1000]).to(torch_device)
        net.eval()

        def torch_infer():
            with torch.inference_mode():
                net(xt1000)
        fns["torch"] = synced(torch_infer)
    results["inference, batch 1000"] = T.time_alternating(fns, 10 if quick else 100, warmup=5)
    return {what: {name: T.summary(t) for name, t in times.items()} for what, times in results.items()}


# ---------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    xp, sync, torch, torch_device = gpu_setup(args.standin)
    result = {"environment": describe(xp, torch, args.standin), "standin": args.standin}
    rows = []

    for dtype, limit in ((np.float64, 1e-10), (np.float32, 1e-5)):
        started = time.perf_counter()
        worst, per_layer = parity(dtype)
        result[f"parity_{np.dtype(dtype).name}"] = {"worst_relative": worst, "limit": limit,
                                                    "per_layer": per_layer}
        rows.append((f"parity {np.dtype(dtype).name}, {len(per_layer)} layer cases", f"{worst:.1e}",
                     f"<= {limit:.0e}", "ok" if worst <= limit else "FAILED"))
        print(f"parity {np.dtype(dtype).name}: worst {worst:.2e} ({time.perf_counter() - started:.1f} s)",
              flush=True)

    quick = ["--limit", "2000", "--test-limit", "500", "--epochs", "1"] if args.quick else []
    runs = [("mnist", "MNIST cnn, default recipe", "train_mnist", 0.992, 10)]
    if args.resnet:
        runs.append(("resnet_fashion_mnist", "ResNet Fashion-MNIST", "resnet_fashion_mnist", 0.92, 60))
    for key, title, script, accuracy, seconds in runs:
        metrics = result[key] = train_example(importlib.import_module(f"examples.{script}"), quick)
        rows.append((f"{title}: test accuracy", f"{metrics['test_accuracy']:.4f}", f">= {accuracy}",
                     "ok" if metrics["test_accuracy"] >= accuracy else "below"))
        rows.append((f"{title}: training seconds", f"{metrics['seconds']:.1f}", f"<= {seconds}",
                     "ok" if metrics["seconds"] <= seconds else "above"))

    (images, labels), _ = mc.data.load_mnist(download=False)
    x, y = (images[:, None].astype(np.float32) / 255), labels.astype(np.int64)
    if args.quick:
        x, y = x[:3000], y[:3000]
    steps = 30 if args.quick else args.determinism_steps
    diff = determinism(x, y, steps, 64)
    result["determinism"] = {"steps": steps, "largest_weight_difference": diff}
    rows.append((f"same seed twice, {steps} steps: largest weight difference", f"{diff:.1e}", "0",
                 "ok" if diff == 0 else "differs"))

    timing = speed(x, y, torch, torch_device, sync, 2 if args.quick else args.repeats, args.quick)
    result["speed"] = timing
    for what, by in timing.items():
        ours, theirs = by["minicnn"]["median_ms"], (by.get("torch") or {}).get("median_ms")
        r = T.ratio(ours, theirs)
        rows.append((f"{what}: minicnn / torch (ms)", f"{ours:.2f} / " + ("-" if theirs is None else f"{theirs:.2f}"),
                     "<= 1.00x", "-" if r is None else f"{r:.2f}x"))

    T.write_json(args.json, result)
    if os.environ.get("OUT"):
        T.write_json(os.path.join(os.environ["OUT"], "bench_gpu.json"), result)
    print("\n" + result["environment"].get("gpu", "") + "\n")
    print(T.format_table(("check", "measured", "target", "verdict"), rows))
    return result


if __name__ == "__main__":
    main()
