"""Side-by-side parity with PyTorch (optional: needs torch importable; not part of the test suite).

Compares forward outputs and gradients of Conv2D, MaxPool2D/AvgPool2D (with ties),
BatchNorm (and its running statistics), SGD (Nesterov, weight decay), Adam and
CrossEntropy with PyTorch in float64 on random configurations; prints the worst
absolute difference of each.

    python benchmarks/parity_torch.py
"""
import sys

try:
    import torch
except ImportError:
    print("PyTorch is not importable here; nothing to compare (pip install torch==2.13.0 in a separate venv)")
    sys.exit(0)

import numpy as np

import minicnn as mc
from minicnn import layers as L

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(0)
worst = 0
for trial in range(300):
    kh, kw = rng.integers(1, 5, 2); pad = rng.choice(["same", "valid", 0, 1, 2])
    stride = 1 if pad == "same" else int(rng.integers(1, 4)); dil = int(rng.integers(1, 3))
    padding = pad if pad in ("same", "valid") else int(pad)
    H = int(rng.integers(dil*(kh-1)+1, 12)); W_ = int(rng.integers(dil*(kw-1)+1, 12))
    cin, cout = rng.integers(1, 4, 2)
    layer = L.Conv2D(int(cin), int(cout), (int(kh), int(kw)), stride=stride, padding=padding, dilation=dil, dtype=np.float64)
    conv = torch.nn.Conv2d(int(cin), int(cout), (int(kh), int(kw)), stride=stride, padding=padding, dilation=dil)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.params["W"].data)); conv.bias.copy_(torch.from_numpy(layer.params["b"].data))
    x = rng.standard_normal((2, int(cin), H, W_))
    xt = torch.from_numpy(x).requires_grad_()
    yt = conv(xt); y = layer.forward(x, training=True)
    g = rng.standard_normal(y.shape); yt.backward(torch.from_numpy(g)); dx = layer.backward(g)
    e = max(np.abs(y - yt.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max(), np.abs(layer.params["W"].grad - conv.weight.grad.numpy()).max())
    worst = max(worst, e)
print("conv worst abs diff", worst)
worst = 0
for trial in range(300):
    k = int(rng.integers(1, 5)); s = int(rng.integers(1, 4)); p = int(rng.integers(0, k//2+1))
    H = int(rng.integers(max(1, k-2*p), 12))
    x = rng.integers(0, 4, (2, 2, H, H)).astype(np.float64)   # many ties
    for ours, theirs in ((L.MaxPool2D(k, s, p), torch.nn.MaxPool2d(k, s, p)), (L.AvgPool2D(k, s, p), torch.nn.AvgPool2d(k, s, p))):
        xt = torch.from_numpy(x).requires_grad_(); yt = theirs(xt); y = ours.forward(x, training=True)
        g = rng.standard_normal(y.shape); yt.backward(torch.from_numpy(g)); dx = ours.backward(g)
        worst = max(worst, np.abs(y - yt.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max())
print("pool worst abs diff (with ties)", worst)
# BatchNorm
bn = L.BatchNorm(3, dtype=np.float64); tb = torch.nn.BatchNorm2d(3)
for _ in range(3):
    x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    y = bn.forward(x, training=True); yt = tb(torch.from_numpy(x))
print("bn", np.abs(y - yt.detach().numpy()).max(), np.abs(bn.running_var - tb.running_var.numpy()).max(), np.abs(bn.running_mean - tb.running_mean.numpy()).max())
tb.eval(); print("bn eval", np.abs(bn.forward(x) - tb(torch.from_numpy(x)).detach().numpy()).max())
# optimisers
for name, mk, tk in [("sgd nesterov wd", lambda p: mc.optim.SGD(p, 0.1, momentum=0.9, nesterov=True, weight_decay=0.01), lambda p: torch.optim.SGD(p, 0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                     ("adam wd", lambda p: mc.optim.Adam(p, 0.01, weight_decay=0.01), lambda p: torch.optim.Adam(p, 0.01, weight_decay=0.01))]:
    p0 = rng.standard_normal(5); a = mc.Parameter(p0.copy()); b = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    oa, ob = mk([a]), tk([b])
    for _ in range(10):
        g = rng.standard_normal(5); a.grad[:] = g; b.grad = torch.from_numpy(g.copy()); oa.step(); ob.step()
    print(name, np.abs(a.data - b.detach().numpy()).max())
# cross entropy
z = rng.standard_normal((5, 4)) * 5; yl = rng.integers(0, 4, 5)
ce = mc.losses.CrossEntropy(); l = ce.forward(z, yl); zt = torch.from_numpy(z).requires_grad_(); lt = torch.nn.functional.cross_entropy(zt, torch.from_numpy(yl)); lt.backward()
print("ce", abs(l - lt.item()), np.abs(ce.backward() - zt.grad.numpy()).max())
# cross entropy with probability targets whose rows do not sum to 1 (PyTorch accepts any t >= 0)
t = rng.random((5, 4)) * 2
l = ce.forward(z, t); zt = torch.from_numpy(z).requires_grad_(); lt = torch.nn.functional.cross_entropy(zt, torch.from_numpy(t)); lt.backward()
print("ce soft targets", abs(l - lt.item()), np.abs(ce.backward() - zt.grad.numpy()).max())
# max pooling with NaN in the windows: the output is NaN and the gradient goes to the window's last NaN
x = rng.standard_normal((2, 3, 6, 6)); x[rng.random(x.shape) < 0.2] = np.nan
for k, s_, p in ((2, 2, 0), (3, 1, 1), (3, 2, 1)):
    ours = L.MaxPool2D(k, s_, p); xt = torch.from_numpy(x).requires_grad_(); yt = torch.nn.functional.max_pool2d(xt, k, s_, p)
    y = ours.forward(x, training=True); g = rng.standard_normal(y.shape); yt.backward(torch.from_numpy(g))
    same_nan = np.array_equal(np.isnan(y), np.isnan(yt.detach().numpy()))
    print(f"maxpool with NaN k{k} s{s_} p{p}: NaN outputs agree {same_nan}, worst dx diff", np.abs(ours.backward(g) - xt.grad.numpy()).max())
