"""Time to 99.2% on MNIST: the README's default run, and the same recipe in PyTorch.

    python benchmarks/time_to_accuracy.py                       # minicnn, then PyTorch if importable
    python benchmarks/time_to_accuracy.py --runs 3 --framework minicnn

minicnn: ``python examples/train_mnist.py`` exactly as the README gives it, in a fresh
process, timed from start to exit (imports, data, training, the test set, the files and
pictures); its history.json gives the test accuracy and the seconds of every epoch.

PyTorch: the same recipe in a fresh process: the same network with the same initial
weights (minicnn's, copied), the same batches in the same order (minicnn's DataLoader,
same seed), SGD with momentum 0.9 and the learning rate falling linearly to 0 over the
run, per batch; the test set evaluated after every epoch (as ``fit``'s validation_data).
Timed from start to exit too (it writes no files and draws nothing).

Both report when the test accuracy first reached ``--target`` (per epoch) and the total.
The runs alternate (minicnn, PyTorch, minicnn, ...); medians over ``--runs``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_minicnn(target):
    out = os.path.join(HERE, "results", "time_to_accuracy_run")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_mnist.py"), "--no-progress",
                           "--out", out], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    with open(os.path.join(out, "history.json")) as f:              # what fit recorded, per epoch
        history = json.load(f)
    accuracies, seconds = history["val_accuracy"], history["seconds"]
    reached = next((sum(seconds[:i + 1]) for i, a in enumerate(accuracies) if a >= target), None)
    return {"wall_s": wall, "train_s": sum(seconds), "epochs": len(accuracies), "test_accuracy": accuracies[-1],
            "epoch_accuracies": accuracies, "train_s_to_target": reached}


TORCH_SCRIPT = r'''
import json, sys, time
start = time.perf_counter()
import numpy as np, torch
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
import minicnn as mc
from examples.train_mnist import DEFAULTS, build, prepare
from bench_train import torch_net
torch.set_num_threads(torch.get_num_threads())
epochs, batch_size, lr = DEFAULTS["cnn"]
(x_train, y_train), (x_test, y_test) = mc.data.load_mnist()
x, y = prepare(x_train, y_train, "cnn")
xt, yt = prepare(x_test, y_test, "cnn")
mc.manual_seed(0)
loader = mc.data.DataLoader(x, y, batch_size, shuffle=True)
steps = epochs * len(loader)
model, _, _, _ = build("cnn", steps, lr)
net, _ = torch_net(torch, model, x.shape[1:], lr)
opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, 1 - k / steps))
accuracies, seconds = [], []
xt_t, yt_t = torch.from_numpy(xt), torch.from_numpy(yt.astype(np.int64))
for epoch in range(epochs):
    t0 = time.perf_counter()
    net.train()
    for xb, yb in loader:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(xb)), torch.from_numpy(yb.astype(np.int64))).backward()
        opt.step()
        schedule.step()
    net.eval()
    with torch.inference_mode():
        right = sum(int((net(xt_t[i:i + 64]).argmax(1) == yt_t[i:i + 64]).sum()) for i in range(0, len(xt_t), 64))
    accuracies.append(right / len(xt_t))
    seconds.append(time.perf_counter() - t0)
print(json.dumps({"epoch_accuracies": accuracies, "epoch_seconds": seconds,
                  "wall_s_in_process": time.perf_counter() - start}))
'''


def run_torch(target, python):
    start = time.perf_counter()
    code = f"ROOT = {ROOT!r}; HERE = {HERE!r}\n" + TORCH_SCRIPT
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    acc, sec = result["epoch_accuracies"], result["epoch_seconds"]
    reached = next((sum(sec[:i + 1]) for i, a in enumerate(acc) if a >= target), None)
    return {"wall_s": wall, "train_s": sum(sec), "epochs": len(acc), "test_accuracy": acc[-1],
            "epoch_accuracies": acc, "train_s_to_target": reached}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--target", type=float, default=0.992)
    parser.add_argument("--framework", choices=["minicnn", "torch", "both"], default="both")
    parser.add_argument("--torch-python", default=sys.executable,
                        help="the Python that has torch (default: this one)")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "time_to_accuracy.json"))
    args = parser.parse_args(argv)
    runs = {"minicnn": [], "torch": []}
    for _ in range(args.runs):
        if args.framework in ("minicnn", "both"):
            runs["minicnn"].append(run_minicnn(args.target))
            print("minicnn", runs["minicnn"][-1], flush=True)
        if args.framework in ("torch", "both"):
            runs["torch"].append(run_torch(args.target, args.torch_python))
            print("torch  ", runs["torch"][-1], flush=True)
    for name, results in runs.items():
        if results:
            med = lambda key: statistics.median(r[key] for r in results)  # noqa: E731
            reached = [r["train_s_to_target"] for r in results if r["train_s_to_target"] is not None]
            print(f"{name}: wall {med('wall_s'):.1f} s, training+validation {med('train_s'):.1f} s, "
                  f"test accuracy {med('test_accuracy'):.4f}, reached {args.target:.1%} in "
                  f"{len(reached)} of {len(results)} runs"
                  + (f", after {statistics.median(reached):.1f} s of training (median)" if reached else ""))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    sys.path.insert(0, ROOT)
    from minicnn.io import atomic_write
    with atomic_write(args.json, "w") as f:
        json.dump(runs, f, indent=2)


if __name__ == "__main__":
    main()
