"""PyTorch reference for examples/transfer_learning.py: some of its cells computed with torch.nn.

    PYTHONPATH=.:.venv/lib/python3.11/site-packages /path/to/torch-venv/bin/python benchmarks/transfer_torch.py

(torch from its own environment; minicnn, which reads the data and the shipped body, and its
dependencies from the repository and its .venv; both with the same NumPy.)

The same body (two conv/BatchNorm/ReLU/max-pool blocks, 1,568 features), the same new head
(Dense 1568-128-classes), the same images (the example's subsets: ``default_rng([seed, n])``),
SGD with momentum 0.9 at 0.05 (the fine-tuned body at 0.005), batches of 32, min(30, 30000 / N)
epochs but at least 3, a frozen body in evaluation mode, the whole test split. What can change:

- ``--body minicnn``: the body is minicnn's shipped ``transfer_cnn(weights="digits0-4")``,
  copied into torch (the default); ``--body torch``: a body pretrained here in PyTorch on the
  digits 0-4, 1 epoch at a constant lr 0.05 (as the PyTorch table of docs/transfer.md, whose body
  reached 99.5%), with PyTorch's default initialisation;
- ``--init torch``: the new layers (and a scratch body) with PyTorch's default initialisation
  (uniform, +-1/sqrt(fan_in), biases too); ``--init he``: minicnn's (He normal, zero biases).

So that a disagreement between minicnn's table and that PyTorch table can be traced to
the framework, the initialisation or the pretrained body. Needs torch (not a minicnn dependency)
and MNIST / Fashion-MNIST where minicnn.data finds them.
"""
import argparse
import time

import numpy as np
import torch
from torch import nn

import minicnn as mc

TRANSFER_BODY = 9


def body():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten())


def head(classes):
    return nn.Sequential(nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, classes))


def he_init(module):
    """minicnn's initialisation: He normal by fan-in, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def minicnn_body():
    """The shipped minicnn body, copied into a torch body."""
    ours = mc.models.transfer_cnn(weights="digits0-4")[:TRANSFER_BODY]
    theirs = body()
    with torch.no_grad():
        for i in (0, 4):
            theirs[i].weight.copy_(torch.from_numpy(ours[i].params["W"].data))
        for i in (1, 5):
            bn = theirs[i]
            bn.weight.copy_(torch.from_numpy(ours[i].params["gamma"].data))
            bn.bias.copy_(torch.from_numpy(ours[i].params["beta"].data))
            bn.running_mean.copy_(torch.from_numpy(ours[i].running_mean))
            bn.running_var.copy_(torch.from_numpy(ours[i].running_var))
    return theirs


def as_input(images):
    return torch.from_numpy(images[:, None].astype(np.float32) / 255)


def fit(model, params, x, y, epochs, seed, frozen=None):
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        if frozen is not None:
            frozen.eval()                           # a frozen body's BatchNorm in evaluation mode
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 32):
            idx = order[start:start + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)]).argmax(1) == y)
                     .float().mean())


def pretrain_torch_body(seed):
    (x, y), (xt, yt) = mc.data.load_mnist()
    keep, keep_t = y < 5, yt < 5
    torch.manual_seed(seed)
    model = nn.Sequential(*body(), *head(5))
    fit(model, model.parameters(), as_input(x[keep]), torch.from_numpy(y[keep]), 1, seed)
    print(f"torch body: {accuracy(model, as_input(xt[keep_t]), torch.from_numpy(yt[keep_t])):.2%} on digits 0-4")
    return model[:TRANSFER_BODY]


def learn(way, pretrained, x, y, test, classes, seed, init):
    torch.manual_seed(seed)
    new = head(classes)
    trunk = body()
    if way != "scratch":
        trunk.load_state_dict(pretrained.state_dict())
    if init == "he":
        he_init(new)
        if way == "scratch":
            he_init(trunk)
    model = nn.Sequential(*trunk, *new)
    if way == "frozen":
        for p in trunk.parameters():
            p.requires_grad = False
        params = new.parameters()
    elif way == "fine-tune":
        params = [{"params": trunk.parameters(), "lr": 0.005}, {"params": new.parameters()}]
    else:
        params = model.parameters()
    fit(model, params, x, y, max(3, min(30, 30000 // len(x))), seed, frozen=trunk if way == "frozen" else None)
    return accuracy(model, *test)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="digits5-9,fashion")
    parser.add_argument("--labels", default="10")
    parser.add_argument("--ways", default="scratch,frozen,fine-tune")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--body", choices=("minicnn", "torch"), default="minicnn")
    parser.add_argument("--init", choices=("torch", "he"), default="torch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pretrained = minicnn_body() if args.body == "minicnn" else pretrain_torch_body(0)
    for target in args.targets.split(","):
        if target == "fashion":
            (x, y), (xt, yt) = mc.data.load_fashion_mnist()
        else:
            (x, y), (xt, yt) = mc.data.load_mnist()
            x, y, xt, yt = x[y >= 5], y[y >= 5] - 5, xt[yt >= 5], yt[yt >= 5] - 5
        classes = len(np.unique(y))
        test = (as_input(xt), torch.from_numpy(yt))
        for n in map(int, args.labels.split(",")):
            for way in args.ways.split(","):
                accs, start = [], time.perf_counter()
                for seed in range(args.seeds):
                    rng = np.random.default_rng([seed, n])
                    chosen = rng.permutation(np.concatenate(
                        [rng.choice(np.flatnonzero(y == k), n, replace=False) for k in range(classes)]))
                    accs.append(100 * learn(way, pretrained, as_input(x[chosen]), torch.from_numpy(y[chosen]), test,
                                            classes, seed, args.init))
                print(f"{target} {n} {way:<10} body {args.body}, init {args.init}: {np.mean(accs):.1f} ± "
                      f"{np.std(accs, ddof=1):.1f}  {np.round(accs, 1).tolist()}  ({time.perf_counter() - start:.0f} s)",
                      flush=True)


if __name__ == "__main__":
    main()
