"""The ONNX sweep: the networks a PyTorch user brings after ResNet, exported by both of PyTorch's
exporters at two opsets each, read by ``minicnn.onnx.load``.

    PYTHONPATH=. /path/to/torch-venv/bin/python benchmarks/onnx_sweep.py --python .venv/bin/python
    ... --net densenet121 --net mobilenet_v3_small --size 64

The networks, written here in ``torch.nn`` by hand at random weights (torchvision's PyPI wheel does
not load with the CPU torch; each has torchvision's parameter count, checked): DenseNet-121 and
MobileNetV2 (``zoo_torch.py``, minicnn.models' twins), MobileNetV3-Small, EfficientNet-B0,
ShuffleNetV2 x0.5, SqueezeNet 1.1, PyTorch's MNIST example (``log_softmax``) and a small CNN with
ImageNet's input normalisation inside (``(x - mean) / std``). Every BatchNorm gets random running
statistics, so that eval mode is not the identity.

Each is exported in eval mode by ``torch.onnx.export(dynamo=False)`` at opsets 13 and 17 and by
``dynamo=True`` at opsets 18 and 23, with a dynamic batch axis. Then, in a subprocess of
minicnn's interpreter (``--python``; one at a time), each file is loaded and either

- matches onnxruntime on a batch of 2 (the largest |minicnn - onnxruntime| over the largest
  |onnxruntime| at most 1e-5), and takes one fine-tuning step (``fit`` for one batch of 2 with
  SGD, lr 1e-3: the loss and every gradient finite, weights moved; the table's detail counts the
  parameters with a non-zero gradient and those that moved), or
- is refused with minicnn's ValueError, which names the node and what to do.

The ImageNet networks run at ``--size`` x ``--size`` (64 by default: the full 224 is heavy for a
shared 2-core machine, and every architecture here takes 64; DenseNet-121 needs 29 at least), the
MNIST example at 28 x 28. Prints a table (the one in docs/onnx.md) and writes the rows to
``benchmarks/results/onnx_sweep.json``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

#: (exporter, opset): the legacy TorchScript exporter and the dynamo one, two opsets each.
EXPORTS = (("legacy", 13), ("legacy", 17), ("dynamo", 18), ("dynamo", 23))


# ---------------------------------------------------------------------------
# The networks (torch), built only in the exporting process
# ---------------------------------------------------------------------------
def networks():
    """{name: (title, build, input (C, H, W) or None for --size, torchvision's parameter count or None)}."""
    import torch
    import zoo_torch
    from torch import nn

    def make_divisible(v, divisor=8):
        new = max(divisor, int(v + divisor / 2) // divisor * divisor)
        return new + divisor if new < 0.9 * v else new

    class SqueezeExcitation(nn.Module):
        """torchvision.ops.SqueezeExcitation: 1x1 convolutions on the mean, ``scale * input``."""

        def __init__(self, c, s, activation=nn.ReLU, scale_activation=nn.Sigmoid):
            super().__init__()
            self.fc1, self.fc2 = nn.Conv2d(c, s, 1), nn.Conv2d(s, c, 1)
            self.activation, self.scale_activation = activation(), scale_activation()

        def forward(self, x):
            scale = self.scale_activation(self.fc2(self.activation(self.fc1(nn.functional.adaptive_avg_pool2d(x, 1)))))
            return scale * x

    def conv_bn_act(cin, cout, k, stride=1, groups=1, act=nn.ReLU, norm=nn.BatchNorm2d):
        layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), norm(cout)]
        return layers + ([act()] if act is not None else [])

    class Block(nn.Module):
        """MobileNetV3's and EfficientNet's inverted residual: [expand], depthwise, [SE], project; x added."""

        def __init__(self, cin, k, expanded, cout, se, act, stride, norm, squeeze, se_act, scale_act):
            super().__init__()
            self.use_res = stride == 1 and cin == cout
            layers = conv_bn_act(cin, expanded, 1, act=act, norm=norm) if expanded != cin else []
            layers += conv_bn_act(expanded, expanded, k, stride, expanded, act=act, norm=norm)
            if se:
                layers.append(SqueezeExcitation(expanded, squeeze, se_act, scale_act))
            layers += conv_bn_act(expanded, cout, 1, act=None, norm=norm)
            self.block = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.block(x) if self.use_res else self.block(x)

    class MobileNetV3Small(nn.Module):
        """torchvision.models.mobilenet_v3_small: 2,542,856 parameters."""

        def __init__(self, num_classes=1000):
            super().__init__()
            norm = lambda c: nn.BatchNorm2d(c, eps=0.001, momentum=0.01)       # noqa: E731
            hs, re = nn.Hardswish, nn.ReLU
            config = [(16, 3, 16, 16, True, re, 2), (16, 3, 72, 24, False, re, 2), (24, 3, 88, 24, False, re, 1),
                      (24, 5, 96, 40, True, hs, 2), (40, 5, 240, 40, True, hs, 1), (40, 5, 240, 40, True, hs, 1),
                      (40, 5, 120, 48, True, hs, 1), (48, 5, 144, 48, True, hs, 1), (48, 5, 288, 96, True, hs, 2),
                      (96, 5, 576, 96, True, hs, 1), (96, 5, 576, 96, True, hs, 1)]
            layers = conv_bn_act(3, 16, 3, 2, act=hs, norm=norm)
            for cin, k, expanded, cout, se, act, stride in config:
                layers.append(Block(cin, k, expanded, cout, se, act, stride, norm, make_divisible(expanded // 4),
                                    nn.ReLU, nn.Hardsigmoid))
            self.features = nn.Sequential(*layers, *conv_bn_act(96, 576, 1, act=hs, norm=norm))
            self.classifier = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2),
                                            nn.Linear(1024, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))

    class EfficientNetB0(nn.Module):
        """torchvision.models.efficientnet_b0: 5,288,548 parameters (stochastic depth: the identity in eval)."""

        def __init__(self, num_classes=1000):
            super().__init__()
            layers = conv_bn_act(3, 32, 3, 2, act=nn.SiLU)
            for ratio, k, stride, cin, cout, n in ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                                                   (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3),
                                                   (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)):
                for i in range(n):
                    c = cin if i == 0 else cout
                    layers.append(Block(c, k, c * ratio, cout, True, nn.SiLU, stride if i == 0 else 1,
                                        nn.BatchNorm2d, max(1, c // 4), nn.SiLU, nn.Sigmoid))
            self.features = nn.Sequential(*layers, *conv_bn_act(320, 1280, 1, act=nn.SiLU))
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))

    def channel_shuffle(x, groups):
        b, c, h, w = x.size()
        x = torch.transpose(x.view(b, groups, c // groups, h, w), 1, 2).contiguous()
        return x.view(b, -1, h, w)

    class ShuffleUnit(nn.Module):
        """torchvision's ShuffleNetV2 InvertedResidual: split (stride 1) or two branches (stride 2), cat, shuffle."""

        def __init__(self, cin, cout, stride):
            super().__init__()
            self.stride, half = stride, cout // 2
            self.branch1 = nn.Sequential(*conv_bn_act(cin, cin, 3, stride, cin, act=None),
                                         *conv_bn_act(cin, half, 1)) if stride > 1 else nn.Sequential()
            self.branch2 = nn.Sequential(*conv_bn_act(cin if stride > 1 else half, half, 1),
                                         *conv_bn_act(half, half, 3, stride, half, act=None), *conv_bn_act(half, half, 1))

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    class ShuffleNetV2(nn.Module):
        """torchvision.models.shufflenet_v2_x0_5: 1,366,792 parameters."""

        def __init__(self, num_classes=1000):
            super().__init__()
            layers, cin = conv_bn_act(3, 24, 3, 2) + [nn.MaxPool2d(3, 2, 1)], 24
            for repeats, cout in zip((4, 8, 4), (48, 96, 192)):
                layers += [ShuffleUnit(cin, cout, 2)] + [ShuffleUnit(cout, cout, 1) for _ in range(repeats - 1)]
                cin = cout
            self.features = nn.Sequential(*layers, *conv_bn_act(192, 1024, 1))
            self.fc = nn.Linear(1024, num_classes)

        def forward(self, x):
            return self.fc(self.features(x).mean([2, 3]))

    class Fire(nn.Module):
        def __init__(self, cin, squeeze, e1, e3):
            super().__init__()
            self.squeeze, self.expand1x1, self.expand3x3 = nn.Conv2d(cin, squeeze, 1), nn.Conv2d(squeeze, e1, 1), \
                nn.Conv2d(squeeze, e3, 3, padding=1)

        def forward(self, x):
            x = torch.relu(self.squeeze(x))
            return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)

    class SqueezeNet11(nn.Module):
        """torchvision.models.squeezenet1_1: 1,235,496 parameters."""

        def __init__(self, num_classes=1000):
            super().__init__()
            pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)               # noqa: E731
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2), nn.ReLU(), pool(), Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(), Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256))
            self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(),
                                            nn.AdaptiveAvgPool2d((1, 1)))

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    class MnistExample(nn.Module):
        """pytorch/examples' mnist/main.py Net: two convolutions, max pool, dropout, two Linear, log_softmax."""

        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
            self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
            self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = nn.functional.max_pool2d(torch.relu(self.conv2(torch.relu(self.conv1(x)))), 2)
            x = torch.relu(self.fc1(torch.flatten(self.dropout1(x), 1)))
            return nn.functional.log_softmax(self.fc2(self.dropout2(x)), dim=1)

    class NormalizedCNN(nn.Module):
        """ImageNet's normalisation inside the model, ``(x - self.mean) / self.std``, then a small CNN."""

        def __init__(self, num_classes=10):
            super().__init__()
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
            self.body = nn.Sequential(*conv_bn_act(3, 16, 3, 2), *conv_bn_act(16, 32, 3, 2), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten(), nn.Linear(32, num_classes))

        def forward(self, x):
            return self.body((x - self.mean) / self.std)

    return {
        "densenet121": ("DenseNet-121", zoo_torch.densenet121, None, 7_978_856),
        "mobilenet_v2": ("MobileNetV2", zoo_torch.mobilenet_v2, None, 3_504_872),
        "mobilenet_v3_small": ("MobileNetV3-Small", MobileNetV3Small, None, 2_542_856),
        "efficientnet_b0": ("EfficientNet-B0", EfficientNetB0, None, 5_288_548),
        "shufflenet_v2_x0_5": ("ShuffleNetV2 x0.5", ShuffleNetV2, None, 1_366_792),
        "squeezenet1_1": ("SqueezeNet 1.1", SqueezeNet11, None, 1_235_496),
        "mnist_example": ("PyTorch's MNIST example", MnistExample, (1, 28, 28), 1_199_882),
        "normalized_cnn": ("ImageNet normalisation inside", NormalizedCNN, None, None),
    }


def randomise(model, generator):
    """Random BatchNorm statistics and affine parameters, so that eval mode is not the identity."""
    import torch
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)


def export_all(names, size, folder):
    """Export every network of ``names`` four ways into ``folder``; returns
    [(name, title, exporter, opset, path or None, note)] and saves each net's input as <name>.npy."""
    import numpy as np
    import torch
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    nets = networks()
    done = []
    for name in names:
        title, build, shape, expected = nets[name]
        model = build()
        count = sum(p.numel() for p in model.parameters())
        if expected is not None and count != expected:
            raise SystemExit(f"{name}: {count:,} parameters, torchvision has {expected:,}")
        randomise(model, generator)
        model.eval()
        x = torch.rand(2, *(shape or (3, size, size)), generator=generator)
        np.save(os.path.join(folder, f"{name}.npy"), x.numpy())
        for exporter, opset in EXPORTS:
            path = os.path.join(folder, f"{name}_{exporter}{opset}.onnx")
            kwargs = dict(input_names=["x"], output_names=["y"], dynamo=exporter == "dynamo", opset_version=opset)
            if exporter == "dynamo":
                kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
            else:
                kwargs["dynamic_axes"] = {"x": {0: "batch"}, "y": {0: "batch"}}
            t = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(model, (x,), path, **kwargs)
                note = f"exported in {time.perf_counter() - t:.1f} s"
            except Exception as exc:                      # PyTorch's own refusal: reported, not minicnn's
                path, note = None, f"PyTorch cannot export it: {str(exc).strip().splitlines()[0][:200]}"
            done.append((name, title, exporter, opset, path, note, count))
            print(f"  {name} {exporter} {opset}: {note}", flush=True)
    return done


# ---------------------------------------------------------------------------
# The check (minicnn's interpreter)
# ---------------------------------------------------------------------------
def check_one(path, x_path):
    """In the subprocess: load, compare with onnxruntime, fine-tune one step; print one JSON line."""
    import numpy as np
    import onnxruntime as ort

    import minicnn as mc
    import minicnn.onnx as monnx
    x = np.load(x_path)
    row = {}
    t = time.perf_counter()
    try:
        model = monnx.load(path)
    except ValueError as exc:
        row.update(outcome="refused", message=str(exc)[len(path) + 2:])
        print(json.dumps(row))
        return
    row["load_s"] = time.perf_counter() - t
    row["layers"] = len(model.layers)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = model.predict(x)
    row["relative"] = float(np.abs(got.astype(np.float64) - expected).max() / np.abs(expected).max())
    # one fine-tuning step: log-probabilities take NLLLoss, scores CrossEntropy
    log_probs = isinstance(model.layers[-1], mc.layers.LogSoftmax)
    loss = mc.losses.NLLLoss() if log_probs else mc.losses.CrossEntropy()
    labels = np.arange(len(x)) % got.shape[1]
    before = [p.data.copy() for p in model.parameters()]
    mc.manual_seed(0)
    history = model.fit(x, labels, loss, mc.optim.SGD(model.parameters(), lr=1e-3), epochs=1, batch_size=len(x),
                        progress=False)
    moved = sum(not np.array_equal(p.data, b) for p, b in zip(model.parameters(), before))
    # at random weights with BatchNorm folded away, the first layers' gradients are ~1e-12 in the deep
    # networks: non-zero, but lr * grad is below float32's resolution of the weight, which does not move
    reached = sum(bool(np.any(p.grad != 0)) for p in model.parameters())
    row.update(loss=float(history.history["loss"][0]), moved=f"{moved}/{len(before)}",
               gradients=f"{reached}/{len(before)}",
               finite=bool(all(np.all(np.isfinite(p.grad)) for p in model.parameters())))
    row["outcome"] = "matches" if row["relative"] <= 1e-5 and row["finite"] and moved else "DIFFERS"
    print(json.dumps(row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", action="append", help="a network (repeatable; default all)")
    parser.add_argument("--size", type=int, default=64, help="the ImageNet networks' input side (default 64)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs minicnn (its venv)")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "onnx_sweep.json"))
    parser.add_argument("--check", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        return check_one(*args.check)
    names = args.net or list(networks())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        print("exporting", flush=True)
        exported = export_all(names, args.size, folder)
        for name, title, exporter, opset, path, note, count in exported:
            row = dict(net=name, title=title, exporter=exporter, opset=opset, params=count)
            if path is None:
                row.update(outcome="not exported", message=note)
            else:
                done = subprocess.run([args.python, os.path.abspath(__file__), "--check", path,
                                       os.path.join(folder, f"{name}.npy")], capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    row.update(outcome="CRASHED", message=done.stderr.strip().splitlines()[-1][:300])
                else:
                    row.update(json.loads(done.stdout.strip().splitlines()[-1]))
            rows.append(row)
            detail = (f"{row['relative']:.1e}, fine-tuned: {row['gradients']} parameters with a gradient, "
                      f"{row['moved']} moved" if "relative" in row else row.get("message", ""))
            print(f"{title:32s} {exporter:6s} {opset:3d}  {row['outcome']:9s} {detail}", flush=True)
    print()
    print(markdown(rows))
    if args.json:                            # plain json: this process need not import minicnn
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
        print(f"wrote {os.path.relpath(args.json)}")


def markdown(rows):
    """The sweep as docs/onnx.md's table: one row per network, one column per export."""
    lines = ["| network (parameters) | " + " | ".join(f"{e} {o}" for e, o in EXPORTS) + " |",
             "|---|" + "---|" * len(EXPORTS)]
    for name in dict.fromkeys(r["net"] for r in rows):
        mine = {(r["exporter"], r["opset"]): r for r in rows if r["net"] == name}
        first = next(iter(mine.values()))
        cells = []
        for key in EXPORTS:
            r = mine.get(key)
            cells.append("-" if r is None else f"{r['relative']:.0e}" if r.get("outcome") == "matches"
                         else r["outcome"])
        lines.append(f"| {first['title']} ({first['params']:,}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
