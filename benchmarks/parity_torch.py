"""Side-by-side parity with PyTorch (optional: needs torch importable; not part of the test suite).

Compares forward outputs and gradients with PyTorch in float64 on random
configurations, and prints the worst absolute difference of each: Conv2D,
MaxPool2D/AvgPool2D (with ties, and max pooling with NaN in the windows), BatchNorm
(training, eval and its running statistics), SGD (Nesterov, weight decay), Adam,
CrossEntropy (integer labels and unnormalised probability targets), Conv1D, the 1-D
pools, average pooling without the padding in the count, 'same' padding at stride > 1
(TensorFlow's rule, against PyTorch on the padded input) for Conv2D and MaxPool2D,
GlobalAvgPool2D, a ResNet block with BatchNorm in training mode, the max and average
pools in ceil mode (2-D and 1-D, fast paths and references), AdaptiveAvgPool2D,
GlobalAvgPool1D, grouped and depthwise convolution, LocalResponseNorm, and Concat of
branches (an Inception block, nested) against torch.cat and the squeeze-and-excitation
block; the layers of #27: SiLU, Hardswish, Hardsigmoid (on their kinks too), LogSoftmax, NLLLoss,
Normalize, ChannelShuffle, ChannelSlice, the SE gates of MobileNetV3 and EfficientNet and one with
BatchNorm, DenseNet's layer, MobileNetV2's block. All agree to about 1e-13 (Hardsigmoid's gradient,
and the SE gates' through it, to about 1e-7: PyTorch's CPU kernel multiplies by 1/6 rounded to
float32, even in float64). A few minutes on 2 cores.

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
# ---------------------------------------------------------------------------
# Conv1D, the 1-D pools, count_include_pad=False, and TensorFlow's 'same' padding at stride > 1
# ---------------------------------------------------------------------------
import torch.nn.functional as TF  # noqa: E402


def grads_of(layer, x, g):
    """(y, dx, dW or None) of a minicnn layer, training mode."""
    y = layer.forward(x, training=True)
    dx = layer.backward(g)
    return y, dx, (layer.params["W"].grad if "W" in layer.params else None)


def torch_grads(fn, x, g, weight=None):
    xt = torch.from_numpy(x).requires_grad_()
    wt = None if weight is None else torch.from_numpy(weight.copy()).requires_grad_()
    yt = fn(xt, wt)
    yt.backward(torch.from_numpy(g))
    return yt.detach().numpy(), xt.grad.numpy(), None if wt is None else wt.grad.numpy()


def diff(ours, theirs):
    return max(np.abs(a - b).max() for a, b in zip(ours, theirs) if a is not None)


def tf_same_pads(size, k, s, d):
    """TensorFlow's 'same' padding of one axis, (before, after), computed here independently."""
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


worst = {"conv1d": 0, "conv2d same stride>1": 0, "pool1d": 0, "avgpool exclude pad": 0, "pool same": 0}
for trial in range(200):
    k, s, d = (int(v) for v in rng.integers(1, 4, 3))
    c, o, length = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(d * (k - 1) + 1, 14))
    pad = str(rng.choice(["same", "valid", "0", "1"]))
    padding = int(pad) if pad.isdigit() else pad
    layer = L.Conv1D(c, o, k, stride=s, padding=padding, dilation=d, dtype=np.float64)
    x = rng.standard_normal((2, c, length))
    g = rng.standard_normal((2, *layer.output_shape(x.shape[1:])))
    lp = tf_same_pads(length, k, s, d) if padding == "same" else (0, 0) if padding == "valid" else (padding, padding)
    ours = grads_of(layer, x, g)
    theirs = torch_grads(lambda xt, wt: TF.conv1d(TF.pad(xt, lp), wt, torch.from_numpy(layer.params["b"].data),
                                                  stride=s, dilation=d), x, g, layer.params["W"].data)
    worst["conv1d"] = max(worst["conv1d"], diff(ours, theirs))
    # Conv2D with 'same' at stride > 1 against PyTorch on the TensorFlow-padded input
    h, w_ = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(2, 4, 2))
    layer = L.Conv2D(c, o, (kh, kw), stride=(sh, sw), padding="same", dilation=d, dtype=np.float64)
    x = rng.standard_normal((2, c, h, w_))
    g = rng.standard_normal((2, *layer.output_shape(x.shape[1:])))
    (t, b), (l_, r) = tf_same_pads(h, kh, sh, d), tf_same_pads(w_, kw, sw, d)
    ours = grads_of(layer, x, g)
    theirs = torch_grads(lambda xt, wt: TF.conv2d(TF.pad(xt, (l_, r, t, b)), wt, torch.from_numpy(layer.params["b"].data),
                                                  stride=(sh, sw), dilation=d), x, g, layer.params["W"].data)
    worst["conv2d same stride>1"] = max(worst["conv2d same stride>1"], diff(ours, theirs))
    # 1-D pools, average pooling without the padding in the count, and 'same' pools
    p = int(rng.integers(0, k // 2 + 1))
    x = rng.integers(0, 4, (2, 2, max(k, length))).astype(np.float64)        # ties
    for ours_layer, fn in ((L.MaxPool1D(k, s, p), lambda xt, _: TF.max_pool1d(xt, k, s, p)),
                           (L.AvgPool1D(k, s, p), lambda xt, _: TF.avg_pool1d(xt, k, s, p)),
                           (L.AvgPool1D(k, s, p, count_include_pad=False),
                            lambda xt, _: TF.avg_pool1d(xt, k, s, p, count_include_pad=False))):
        g = rng.standard_normal((2, *ours_layer.output_shape(x.shape[1:])))
        worst["pool1d"] = max(worst["pool1d"], diff(grads_of(ours_layer, x, g), torch_grads(fn, x, g)))
    x2 = rng.standard_normal((2, 2, h + k, w_ + k))
    pool = L.AvgPool2D(k, s, p, count_include_pad=False)
    g = rng.standard_normal((2, *pool.output_shape(x2.shape[1:])))
    worst["avgpool exclude pad"] = max(worst["avgpool exclude pad"], diff(
        grads_of(pool, x2, g), torch_grads(lambda xt, _: TF.avg_pool2d(xt, k, s, p, count_include_pad=False), x2, g)))
    pool = L.MaxPool2D(k, s, padding="same")
    (t, b), (l_, r) = tf_same_pads(x2.shape[2], k, s, 1), tf_same_pads(x2.shape[3], k, s, 1)
    g = rng.standard_normal((2, *pool.output_shape(x2.shape[1:])))
    worst["pool same"] = max(worst["pool same"], diff(grads_of(pool, x2, g), torch_grads(
        lambda xt, _: TF.max_pool2d(TF.pad(xt, (l_, r, t, b), value=-np.inf), k, s), x2, g)))
for name, value in worst.items():
    print(f"{name} worst abs diff", value)

# global average pooling and a ResNet block with BatchNorm in training mode
x = rng.standard_normal((3, 4, 5, 6)); g = rng.standard_normal((3, 4))
print("global avg pool", diff(grads_of(L.GlobalAvgPool2D(), x, g),
                             torch_grads(lambda xt, _: TF.adaptive_avg_pool2d(xt, 1).flatten(1), x, g)))
mc.manual_seed(0)
block = L.Residual([L.Conv2D(4, 8, 3, stride=2, padding=1, bias=False, dtype=np.float64), L.BatchNorm(8, dtype=np.float64),
                    L.ReLU(), L.Conv2D(8, 8, 3, padding=1, bias=False, dtype=np.float64), L.BatchNorm(8, dtype=np.float64)],
                   [L.Conv2D(4, 8, 1, stride=2, bias=False, dtype=np.float64), L.BatchNorm(8, dtype=np.float64)])


class TorchBlock(torch.nn.Module):
    def __init__(self, ours):
        super().__init__()
        self.c1, self.b1 = torch.nn.Conv2d(4, 8, 3, 2, 1, bias=False), torch.nn.BatchNorm2d(8)
        self.c2, self.b2 = torch.nn.Conv2d(8, 8, 3, 1, 1, bias=False), torch.nn.BatchNorm2d(8)
        self.sc, self.sb = torch.nn.Conv2d(4, 8, 1, 2, bias=False), torch.nn.BatchNorm2d(8)
        with torch.no_grad():
            for mine, theirs in ((ours.block[0], self.c1), (ours.block[3], self.c2), (ours.shortcut[0], self.sc)):
                theirs.weight.copy_(torch.from_numpy(mine.params["W"].data))

    def forward(self, x):
        return self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.sb(self.sc(x))


tb = TorchBlock(block)
x = rng.standard_normal((4, 4, 6, 6)); g = rng.standard_normal((4, 8, 3, 3))
xt = torch.from_numpy(x).requires_grad_(); yt = tb(xt); yt.backward(torch.from_numpy(g))
y = block.forward(x, training=True); dx = block.backward(g)
print("residual block (BatchNorm training)", max(np.abs(y - yt.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max(),
      np.abs(block.params["block.0.W"].grad - tb.c1.weight.grad.numpy()).max(),
      np.abs(block.params["shortcut.0.W"].grad - tb.sc.weight.grad.numpy()).max(),
      np.abs(block.buffers()["block.1.running_mean"] - tb.b1.running_mean.numpy()).max()))

# ---------------------------------------------------------------------------
# ceil_mode pools (2-D and 1-D, fast paths and references), adaptive average
# pooling, 1-D global average pooling
# ---------------------------------------------------------------------------
worst = {"ceil max_pool2d": 0, "ceil avg_pool2d": 0, "ceil avg_pool2d exclude pad": 0, "ceil max_pool1d": 0,
         "ceil avg_pool1d": 0, "ceil avg_pool1d exclude pad": 0, "adaptive_avg_pool2d": 0}
hanging = 0                                   # cases whose last window hangs over the padded input
for trial in range(400):
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 5, 2))
    ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
    h, w_ = (int(v) for v in rng.integers(1, 11, 2))
    x = rng.integers(0, 4, (2, 2, h, w_)).astype(np.float64) if trial % 2 else rng.standard_normal((2, 2, h, w_))
    cases = [("ceil max_pool2d", L.MaxPool2D((kh, kw), (sh, sw), (ph, pw), ceil_mode=True),
              lambda xt, _: TF.max_pool2d(xt, (kh, kw), (sh, sw), (ph, pw), ceil_mode=True)),
             ("ceil avg_pool2d", L.AvgPool2D((kh, kw), (sh, sw), (ph, pw), ceil_mode=True),
              lambda xt, _: TF.avg_pool2d(xt, (kh, kw), (sh, sw), (ph, pw), ceil_mode=True)),
             ("ceil avg_pool2d exclude pad", L.AvgPool2D((kh, kw), (sh, sw), (ph, pw), False, ceil_mode=True),
              lambda xt, _: TF.avg_pool2d(xt, (kh, kw), (sh, sw), (ph, pw), ceil_mode=True, count_include_pad=False))]
    x1 = x.reshape(2, 2, h * w_)
    cases1 = [("ceil max_pool1d", L.MaxPool1D(kw, sw, pw, ceil_mode=True),
               lambda xt, _: TF.max_pool1d(xt, kw, sw, pw, ceil_mode=True)),
              ("ceil avg_pool1d", L.AvgPool1D(kw, sw, pw, ceil_mode=True),
               lambda xt, _: TF.avg_pool1d(xt, kw, sw, pw, ceil_mode=True)),
              ("ceil avg_pool1d exclude pad", L.AvgPool1D(kw, sw, pw, False, ceil_mode=True),
               lambda xt, _: TF.avg_pool1d(xt, kw, sw, pw, ceil_mode=True, count_include_pad=False))]
    for (name, ours_layer, fn), xi in [(case, x) for case in cases] + [(case, x1) for case in cases1]:
        try:
            yt = fn(torch.from_numpy(xi), None)
        except RuntimeError:                  # torch refuses (no window position): so must minicnn
            try:
                ours_layer.output_shape(xi.shape[1:])
            except ValueError:
                continue
            raise AssertionError(f"{name}: torch refuses {xi.shape}, minicnn accepts")
        g = rng.standard_normal(tuple(yt.shape))
        for fast_paths in (True, False):      # the fast max-pool backward and the reference
            with mc.paths.fast_paths(fast_paths):
                worst[name] = max(worst[name], diff(grads_of(ours_layer, xi, g), torch_grads(fn, xi, g)))
    try:
        pads = ((ph, ph), (pw, pw))
        hanging += mc.functional.ceil_pads((h, w_), (kh, kw), (sh, sw), pads) != pads
    except ValueError:                        # no window position at all
        pass
    # adaptive average pooling: any input and output size, None keeping a side
    oh, ow = int(rng.integers(1, 12)), (None if trial % 5 == 0 else int(rng.integers(1, 12)))
    x = rng.standard_normal((2, 3, h, w_))
    layer = L.AdaptiveAvgPool2D((oh, ow))
    g = rng.standard_normal((2, *layer.output_shape(x.shape[1:])))
    worst["adaptive_avg_pool2d"] = max(worst["adaptive_avg_pool2d"], diff(
        grads_of(layer, x, g), torch_grads(lambda xt, _: TF.adaptive_avg_pool2d(xt, (oh, ow)), x, g)))
for name, value in worst.items():
    print(f"{name} worst abs diff", value)
print(f"  ({hanging} of 400 2-D cases with a last window hanging over the padded input)")
x = rng.standard_normal((3, 4, 11)); g = rng.standard_normal((3, 4))
print("global avg pool 1d", diff(grads_of(L.GlobalAvgPool1D(), x, g), torch_grads(lambda xt, _: xt.mean(-1), x, g)))
# Grouped and depthwise convolution, LocalResponseNorm
# ---------------------------------------------------------------------------
worst = {"conv2d groups>1": 0, "conv2d depthwise": 0, "conv1d groups>1": 0, "local response norm": 0}
for trial in range(200):
    groups = int(rng.integers(2, 5))
    depthwise = trial % 2 == 0
    cin = groups * (1 if depthwise else int(rng.integers(1, 4)))
    cout = groups * int(rng.integers(1, 4))
    k, s, d, p = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h, w_ = int(rng.integers(d * (k - 1) + 1, 12)), int(rng.integers(d * (k - 1) + 1, 12))
    layer = L.Conv2D(cin, cout, k, stride=s, padding=p, dilation=d, groups=groups, dtype=np.float64)
    layer.params["b"].data[:] = rng.standard_normal(cout)
    x = rng.standard_normal((3, cin, h, w_))
    g = rng.standard_normal((3, *layer.output_shape(x.shape[1:])))
    b = torch.from_numpy(layer.params["b"].data)
    theirs = torch_grads(lambda xt, wt: TF.conv2d(xt, wt, b, stride=s, padding=p, dilation=d, groups=groups),
                         x, g, layer.params["W"].data)
    key = "conv2d depthwise" if depthwise else "conv2d groups>1"
    worst[key] = max(worst[key], diff(grads_of(layer, x, g), theirs))
    layer = L.Conv1D(cin, cout, k, stride=s, padding=p, dilation=d, groups=groups, dtype=np.float64)
    x = rng.standard_normal((3, cin, h + 3))
    g = rng.standard_normal((3, *layer.output_shape(x.shape[1:])))
    b = torch.from_numpy(layer.params["b"].data)
    theirs = torch_grads(lambda xt, wt: TF.conv1d(xt, wt, b, stride=s, padding=p, dilation=d, groups=groups),
                         x, g, layer.params["W"].data)
    worst["conv1d groups>1"] = max(worst["conv1d groups>1"], diff(grads_of(layer, x, g), theirs))
    # LocalResponseNorm on (N, C, L), (N, C, H, W) and (N, C, D, H, W), sizes below and above C
    size, c = int(rng.integers(1, 9)), int(rng.integers(1, 8))
    alpha, beta, kk = float(rng.choice([1e-4, 0.1, 1.0])), float(rng.choice([0.5, 0.75, 1.5])), float(rng.choice([1.0, 2.0]))
    x = rng.standard_normal((2, c, *rng.integers(1, 5, int(rng.integers(1, 4))))) * 3
    ours = L.LocalResponseNorm(size, alpha, beta, kk)
    g = rng.standard_normal(x.shape)
    theirs = torch_grads(lambda xt, _: TF.local_response_norm(xt, size, alpha, beta, kk), x, g)
    worst["local response norm"] = max(worst["local response norm"], diff(grads_of(ours, x, g), theirs))
for name, value in worst.items():
    print(f"{name} worst abs diff (forward, dx, dW; float64)", value)

# ---------------------------------------------------------------------------
# Issue #18: Concat of branches (an Inception block, nested as Inception-v4's InceptionC,
# BatchNorm in training mode) against torch.cat; a squeeze-and-excitation block; the
# weights copied by zoo_torch.load_from_minicnn; output, dx and every weight's gradient
# ---------------------------------------------------------------------------
import zoo_torch  # noqa: E402  (benchmarks/ is on the path when this file runs)


def leaf_pairs(ours, theirs):
    """(minicnn Conv2D/BatchNorm/Dense, torch module) in forward order, for the gradients."""
    return list(zip(zoo_torch._minicnn_leaves([ours]), zoo_torch._torch_leaves(theirs)))


def weight_grad_diff(pairs):
    worst = 0.0
    for a, b in pairs:
        w = a.params["gamma" if isinstance(b, torch.nn.BatchNorm2d) else "W"].grad
        w = w.T if isinstance(b, torch.nn.Linear) else w
        worst = max(worst, np.abs(w - b.weight.grad.numpy()).max())
    return worst


def branch_case(c, widths, side, nested):
    F64 = np.float64
    conv_bn = lambda ci, co, k, p: [L.Conv2D(ci, co, k, padding=p, bias=False, dtype=F64), L.BatchNorm(co, eps=1e-3, dtype=F64), L.ReLU()]
    ours = [conv_bn(c, widths[0], 1, 0), conv_bn(c, widths[1], 1, 0) + conv_bn(widths[1], widths[2], 3, 1),
            [L.MaxPool2D(3, 1, 1, ceil_mode=True)] + conv_bn(c, widths[3], 1, 0)]
    theirs = [zoo_torch.basic_conv(c, widths[0], 1), torch.nn.Sequential(zoo_torch.basic_conv(c, widths[1], 1), zoo_torch.basic_conv(widths[1], widths[2], 3, padding=1)),
              torch.nn.Sequential(torch.nn.MaxPool2d(3, 1, 1, ceil_mode=True), zoo_torch.basic_conv(c, widths[3], 1))]
    if nested:
        ours.append(conv_bn(c, 3, 1, 0) + [L.Concat([conv_bn(3, 2, (1, 3), (0, 1)), conv_bn(3, 2, (3, 1), (1, 0))])])
        theirs.append(torch.nn.Sequential(zoo_torch.basic_conv(c, 3, 1), zoo_torch._split_of(3, 2)))
    return L.Concat(ours), zoo_torch.Cat(*theirs).double()


def compare(ours, theirs, x):
    zoo_torch.load_from_minicnn(theirs, mc.Sequential([ours]))
    xt = torch.from_numpy(x).requires_grad_(); yt = theirs(xt)
    g = rng.standard_normal(tuple(yt.shape)); yt.backward(torch.from_numpy(g))
    y = ours.forward(x, training=True); dx = ours.backward(g)
    return max(np.abs(y - yt.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max(),
               weight_grad_diff(leaf_pairs(ours, theirs)))


mc.manual_seed(0)
worst = {"concat (Inception block, BatchNorm training)": 0.0, "squeeze-excitation": 0.0}
for trial in range(40):
    c, side = int(rng.integers(1, 6)), int(rng.integers(1, 8))
    ours, theirs = branch_case(c, [int(v) for v in rng.integers(1, 5, 4)], side, nested=trial % 2 == 0)
    x = rng.standard_normal((3, c, side, int(rng.integers(1, 8))))
    worst["concat (Inception block, BatchNorm training)"] = max(worst["concat (Inception block, BatchNorm training)"],
                                                                compare(ours, theirs, x))
    s = int(rng.integers(1, 5))
    se = L.SqueezeExcitation(c, s, dtype=np.float64)
    for p in se.params.values():
        p.data[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((2, c, side, int(rng.integers(1, 8))))
    worst["squeeze-excitation"] = max(worst["squeeze-excitation"], compare(se, zoo_torch.SE(c, s).double(), x))
for name, value in worst.items():
    print(f"{name} worst abs diff (output, dx, every weight's gradient)", value)

# ---------------------------------------------------------------------------
# Issue #27: the layers of the mobile and modern networks. SiLU, Hardswish and Hardsigmoid (inputs on
# their kinks -3, 0 and 3 too: the derivative there is PyTorch's), LogSoftmax and NLLLoss, Normalize
# (torchvision's formula), ChannelShuffle (nn.ChannelShuffle), ChannelSlice (x[:, a:b]), the SE gates of
# MobileNetV3 and EfficientNet and one with BatchNorm (training mode), DenseNet's layer (torch.cat([x,
# f(x)], 1)), MobileNetV2's inverted residual block; output, dx and every weight's gradient, float64
# ---------------------------------------------------------------------------
def grads_with_params(ours, theirs, x, g, pairs):
    """max |difference| of output, dx and the gradients of ``pairs`` ((minicnn Parameter, torch tensor, transposed?))."""
    xt = torch.from_numpy(x).requires_grad_()
    yt = theirs(xt)
    yt.backward(torch.from_numpy(g))
    y = ours.forward(x, training=True)
    dx = ours.backward(g)
    worst = max(np.abs(y - yt.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max())
    for p, t, transposed in pairs:
        worst = max(worst, np.abs(p.grad - (t.grad.numpy().T if transposed else t.grad.numpy())).max())
    return worst


worst = {"silu": 0.0, "hardswish": 0.0, "hardsigmoid (PyTorch's slope is 1/6 in float32)": 0.0, "log_softmax": 0.0,
         "nll_loss": 0.0, "normalize": 0.0, "channel_shuffle": 0.0, "channel_slice": 0.0}
for trial in range(200):
    shape = tuple(int(v) for v in rng.integers(1, 5, int(rng.integers(2, 5))))
    x = rng.uniform(-5, 5, shape)
    x.flat[rng.integers(0, x.size, 3)] = rng.choice([-3.0, 0.0, 3.0], 3)          # the kinks, exactly
    g = rng.standard_normal(shape)
    for key, ours, theirs in (("silu", L.SiLU(), TF.silu), ("hardswish", L.Hardswish(), TF.hardswish),
                              ("hardsigmoid (PyTorch's slope is 1/6 in float32)", L.Hardsigmoid(), TF.hardsigmoid)):
        worst[key] = max(worst[key], diff(grads_of(ours, x, g), torch_grads(lambda xt, _: theirs(xt), x, g)))
    axis = int(rng.integers(1, len(shape))) * int(rng.choice([1, -1])) if rng.random() < 0.5 else -1
    axis = axis if -len(shape) <= axis < len(shape) and axis % len(shape) else -1
    worst["log_softmax"] = max(worst["log_softmax"], diff(grads_of(L.LogSoftmax(axis), x * 30, g), torch_grads(
        lambda xt, _: TF.log_softmax(xt, axis), x * 30, g)))
    if len(shape) >= 2:
        c = shape[1]
        mean, std = rng.normal(size=c), rng.choice([-1, 1], c) * rng.uniform(0.1, 3, c)
        view = (1, c) + (1,) * (len(shape) - 2)
        worst["normalize"] = max(worst["normalize"], diff(grads_of(L.Normalize(mean, std), x, g), torch_grads(
            lambda xt, _: (xt - torch.from_numpy(mean).view(view)) / torch.from_numpy(std).view(view), x, g)))
        a = int(rng.integers(0, c))
        b = int(rng.integers(a + 1, c + 1))
        gs = rng.standard_normal((shape[0], b - a, *shape[2:]))
        worst["channel_slice"] = max(worst["channel_slice"], diff(grads_of(L.ChannelSlice(a, b), x, gs),
                                                                  torch_grads(lambda xt, _: xt[:, a:b], x, gs)))
    groups, k = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    xs = rng.standard_normal((2, groups * k, 3, 2))
    gs = rng.standard_normal(xs.shape)
    worst["channel_shuffle"] = max(worst["channel_shuffle"], diff(grads_of(L.ChannelShuffle(groups), xs, gs), torch_grads(
        lambda xt, _: torch.nn.ChannelShuffle(groups)(xt), xs, gs)))
    n, c = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    log_probs, labels = TF.log_softmax(torch.from_numpy(rng.standard_normal((n, c))), 1), rng.integers(0, c, n)
    lpt = log_probs.clone().requires_grad_()
    lt = TF.nll_loss(lpt, torch.from_numpy(labels))
    lt.backward()
    nll = mc.losses.NLLLoss()
    worst["nll_loss"] = max(worst["nll_loss"], abs(nll.forward(log_probs.numpy(), labels) - lt.item()),
                            np.abs(nll.backward() - lpt.grad.numpy()).max())
for name, value in worst.items():
    print(f"{name} worst abs diff (forward, dx; float64)", value)


class TorchGate(torch.nn.Module):
    """torchvision's SqueezeExcitation with Linear layers on the mean (and a BatchNorm1d in the squeeze)."""

    def __init__(self, c, s, act, scale, batch_norm):
        super().__init__()
        self.fc1 = torch.nn.Linear(c, s, bias=not batch_norm)
        self.norm = torch.nn.BatchNorm1d(s) if batch_norm else torch.nn.Identity()
        self.fc2 = torch.nn.Linear(s, c)
        self.act, self.scale = act(), scale()

    def forward(self, x):
        return x * self.scale(self.fc2(self.act(self.norm(self.fc1(x.mean((2, 3)))))))[:, :, None, None]


worst = {"squeeze-excitation gates (SiLU, Hardswish, Hardsigmoid: its float32 1/6, BatchNorm in training)": 0.0,
         "DenseNet layer: Concat of x and f(x) (BatchNorm in training)": 0.0,
         "MobileNetV2's inverted residual block (BatchNorm in training)": 0.0}
activations = {"ReLU": torch.nn.ReLU, "SiLU": torch.nn.SiLU, "Hardswish": torch.nn.Hardswish,
               "Sigmoid": torch.nn.Sigmoid, "Hardsigmoid": torch.nn.Hardsigmoid}
for trial in range(40):
    c, s = int(rng.integers(2, 7)), int(rng.integers(1, 4))
    act, scale = str(rng.choice(["ReLU", "SiLU", "Hardswish"])), str(rng.choice(["Sigmoid", "Hardsigmoid"]))
    batch_norm = bool(trial % 2)
    ours = L.SqueezeExcitation(c, s, act, scale, batch_norm=batch_norm, dtype=np.float64)
    for p in ours.params.values():
        p.data[...] = rng.standard_normal(p.shape) * 0.8
    theirs = TorchGate(c, s, activations[act], activations[scale], batch_norm).double()
    second = 4 if batch_norm else 3
    with torch.no_grad():
        theirs.fc1.weight.copy_(torch.from_numpy(ours.params["gate.1.W"].data.T))
        theirs.fc2.weight.copy_(torch.from_numpy(ours.params[f"gate.{second}.W"].data.T))
        theirs.fc2.bias.copy_(torch.from_numpy(ours.params[f"gate.{second}.b"].data))
        if batch_norm:
            theirs.norm.weight.copy_(torch.from_numpy(ours.params["gate.2.gamma"].data))
            theirs.norm.bias.copy_(torch.from_numpy(ours.params["gate.2.beta"].data))
        else:
            theirs.fc1.bias.copy_(torch.from_numpy(ours.params["gate.1.b"].data))
    x = rng.standard_normal((4, c, 3, 3))
    g = rng.standard_normal(x.shape)
    pairs = [(ours.params["gate.1.W"], theirs.fc1.weight, True), (ours.params[f"gate.{second}.W"], theirs.fc2.weight, True)]
    key = "squeeze-excitation gates (SiLU, Hardswish, Hardsigmoid: its float32 1/6, BatchNorm in training)"
    worst[key] = max(worst[key], grads_with_params(ours, theirs, x, g, pairs))
    # DenseNet's layer and MobileNetV2's block, their weights copied by zoo_torch.load_from_minicnn
    ours = mc.models.dense_layer(c, growth_rate=3, bn_size=2, dtype=np.float64)
    torch_layer = zoo_torch.DenseLayer(c, growth_rate=3, bn_size=2).double()
    zoo_torch.load_from_minicnn(torch_layer, mc.Sequential([ours]))
    key = "DenseNet layer: Concat of x and f(x) (BatchNorm in training)"
    pairs = [(a.params["W"], b.weight, False) for a, b in leaf_pairs(ours, torch_layer) if isinstance(a, L.Conv2D)]
    worst[key] = max(worst[key], grads_with_params(ours, lambda xt: torch.cat([xt, torch_layer([xt])], 1), x,
                                                   rng.standard_normal((4, c + 3, 3, 3)), pairs))
    stride = int(rng.integers(1, 3))
    block = mc.Sequential(mc.models.inverted_residual(c, c if stride == 1 else c + 1, stride, 3, dtype=np.float64))
    torch_block = zoo_torch.InvertedResidual(c, c if stride == 1 else c + 1, stride, 3).double()
    zoo_torch.load_from_minicnn(torch_block, block)
    xb = rng.standard_normal((4, c, 5, 5))
    gb = rng.standard_normal((4, *block.output_shape(xb.shape[1:])))
    key = "MobileNetV2's inverted residual block (BatchNorm in training)"
    pairs = [(a.params["W"], b.weight, False) for a, b in zip(zoo_torch._minicnn_leaves(block.layers),
                                                               zoo_torch._torch_leaves(torch_block))
             if isinstance(a, L.Conv2D)]
    worst[key] = max(worst[key], grads_with_params(block, torch_block, xb, gb, pairs))
for name, value in worst.items():
    print(f"{name} worst abs diff (output, dx, every weight's gradient)", value)
