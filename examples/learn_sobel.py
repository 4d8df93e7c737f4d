"""Learn the Sobel kernel from a single picture: one 3x3 Conv2D filter trained by gradient descent.

    python examples/learn_sobel.py                    # sample photo, 64x64, 2000 steps (well under a second)
    python examples/learn_sobel.py --image me.jpg --size 96 --steps 4000
    python examples/learn_sobel.py --kernel laplacian4         # any kernel of minicnn.image.kernels

The experiment: take one grayscale photo x (shrunk to about --size pixels a side, scaled
to [0, 1]) and its Sobel-x response

    target = minicnn.image.correlate2d(x, sobel_x, mode="valid")

A ``Conv2D(1, 1, 3, bias=False)`` computes exactly that cross-correlation (no padding:
"valid"), so the weights W = sobel_x reproduce the target and the mean squared error
between the layer's output and the target is a quadratic in the 9 weights whose only
minimum is sobel_x (as long as the photo's 3x3 patches span all 9 directions, which any
real photo does). Plain gradient descent with momentum (SGD, lr 0.3, momentum 0.9) from a
random He-initialised kernel therefore converges to it, linearly: the loss falls by a
constant factor per step until it reaches rounding level.

How fast depends on the photo: smooth, low-contrast images make neighbouring pixels
nearly equal, the quadratic becomes a long narrow valley, and more --steps are needed. If
the loss blows up, lower --lr (the largest stable rate shrinks as the image gets brighter).

Writes into --out (default runs/learn_sobel):
  result.json      - learned_kernel, true_kernel, initial_kernel, max_abs_error, final_loss,
                     loss_curve (loss after 0, 1, ..., steps steps), steps and the settings
  learn_sobel.png  - loss and kernel error per step (log scale), the initial, learned and true
                     kernels with their values, the input and the two responses
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minicnn as mc  # noqa: E402
from minicnn import image as I  # noqa: E402
from minicnn import layers as L  # noqa: E402
from minicnn.io import atomic_write  # noqa: E402

from examples._common import load_photo  # noqa: E402

#: A run counts as diverged when the loss grows this many times above its starting value.
DIVERGED = 1e6


def prepare(image_path, size):
    """The grayscale photo shrunk to about ``size`` pixels a side, min-max scaled to [0, 1], float64."""
    gray = load_photo(image_path, size)[1].astype(np.float64)
    low, high = gray.min(), gray.max()
    if high == low:
        raise ValueError("the image is flat (one grey level): it has no edges to learn from")
    return (gray - low) / (high - low)


def train(x, target, kernel_shape, steps, lr, momentum, seed):
    """Fit a bias-free Conv2D(1, 1, kernel_shape) to ``target`` from ``x`` by MSE and SGD.

    x: (H, W), target: (OH, OW). Returns (conv layer, initial kernel, loss curve, kernel curve)
    where loss_curve[t] is the loss after t steps (t = 0..steps) and kernels[t] the weights then.
    """
    mc.manual_seed(seed)
    conv = L.Conv2D(1, 1, kernel_shape, bias=False, dtype=np.float64)
    model = mc.Sequential([conv])
    loss = mc.losses.MSE()
    opt = mc.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    xb, yb = x[None, None], target[None, None]              # one sample, one channel: (1, 1, H, W)
    weights = conv.params["W"].data
    kernels, curve = [weights[0, 0].copy()], []
    for step in range(steps + 1):
        value = loss.forward(model.forward(xb, training=True), yb)
        curve.append(value)
        if not np.isfinite(value) or value > DIVERGED * max(curve[0], 1e-300):
            raise RuntimeError(f"training diverged at step {step} (loss {value:.3g}, started at "
                               f"{curve[0]:.3g}); try a smaller --lr than {lr}")
        if step == steps:
            break                                           # the loss after the last step
        opt.zero_grad()
        model.backward(loss.backward(), input_grad=False)   # no gradient for the input image
        opt.step()
        kernels.append(weights[0, 0].copy())
    return conv, kernels[0], np.array(curve), np.array(kernels)


def _kernel_panel(ax, kernel, title, vmax):
    """A kernel as coloured cells (red positive, blue negative) with its values written in."""
    ax.imshow(kernel, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    for (i, j), v in np.ndenumerate(kernel):
        v = v if abs(v) >= 5e-4 else 0.0                    # no "-0.000"
        ax.text(j, i, f"{v:+.3f}", ha="center", va="center", fontsize=8,
                color="white" if abs(v) > 0.6 * vmax else "black")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _map_panel(ax, img, title, vmax=None):
    if vmax is None:
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(img, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def figure(plt, x, target, output, initial, learned, true, curve, kernels, name):
    """learn_sobel.png: curves on the left, kernels top right, images bottom right."""
    fig = plt.figure(figsize=(15, 6.5), layout="constrained")
    axes = fig.subplot_mosaic([["curve", "curve", "initial", "learned", "true"],
                               ["curve", "curve", "input", "target", "output"]])
    ax = axes["curve"]
    steps = np.arange(len(curve))
    errors = np.abs(kernels - true).max(axis=(1, 2))
    # On a log scale exact zeros cannot be drawn; show them at the smallest positive value.
    floor = np.finfo(np.float64).tiny
    ax.semilogy(steps, np.maximum(curve, floor), label="MSE loss")
    ax.semilogy(steps, np.maximum(errors, floor), label=f"max |W - {name}|")
    ax.axhline(1e-3, color="gray", linestyle=":", linewidth=1, label="1e-3")
    ax.set_xlabel("step")
    ax.set_title(f"SGD with momentum: final loss {curve[-1]:.2e}, max |error| {errors[-1]:.2e}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()

    vmax = float(np.abs(true).max()) or 1.0
    _kernel_panel(axes["initial"], initial, "initial W (random)", vmax)
    _kernel_panel(axes["learned"], learned, f"learned W after {len(curve) - 1} steps", vmax)
    _kernel_panel(axes["true"], true, f"true {name}", vmax)

    top = float(np.percentile(np.abs(target), 99.5)) or 1.0
    _map_panel(axes["input"], x, f"input x {x.shape[0]}x{x.shape[1]}")
    _map_panel(axes["target"], target, f"target: correlate2d(x, {name}, 'valid')", top)
    diff = float(np.abs(output - target).max())
    _map_panel(axes["output"], output, f"Conv2D output (max |diff| {diff:.1e})", top)
    kh, kw = true.shape
    fig.suptitle(f"One {kh}x{kw} Conv2D filter learns {name} from a single image", fontsize=12)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", help="picture to learn from (default: matplotlib's sample photo)")
    parser.add_argument("--out", default=os.path.join("runs", "learn_sobel"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--size", type=int, default=64, help="shrink the photo to about N x N pixels")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial kernel")
    parser.add_argument("--kernel", default="sobel_x", choices=I.kernels.names(),
                        help="the kernel to learn (default sobel_x)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.size < 8:
        parser.error(f"--size must be at least 8, got {args.size}")

    true = I.kernels.get(args.kernel)
    x = prepare(args.image, args.size)
    target = I.correlate2d(x, true, mode="valid")
    start = time.perf_counter()
    conv, initial, curve, kernels = train(x, target, true.shape, args.steps, args.lr, args.momentum, args.seed)
    seconds = time.perf_counter() - start
    learned = conv.params["W"].data[0, 0].copy()
    output = conv.forward(x[None, None])[0, 0]
    error = float(np.abs(learned - true).max())
    print(f"{args.kernel} learned from a {x.shape[0]}x{x.shape[1]} image in {args.steps} steps "
          f"({seconds:.2f} s): max |error| {error:.3e}, final loss {curve[-1]:.3e}")
    print(np.array2string(learned, precision=6, suppress_small=True))

    os.makedirs(args.out, exist_ok=True)
    result = {
        "kernel": args.kernel, "learned_kernel": learned.tolist(), "true_kernel": true.tolist(),
        "initial_kernel": initial.tolist(), "max_abs_error": error, "final_loss": float(curve[-1]),
        "loss_curve": curve.tolist(), "steps": args.steps, "lr": args.lr, "momentum": args.momentum,
        "optimizer": "SGD", "seed": args.seed, "image_shape": list(x.shape), "seconds": seconds,
    }
    with atomic_write(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=2)

    from minicnn.viz import pyplot, save_figure  # matplotlib only now; Agg when there is no display
    plt = pyplot()
    fig = figure(plt, x, target, output, initial, learned, true, curve, kernels, args.kernel)
    try:
        save_figure(fig, os.path.join(args.out, "learn_sobel.png"))
    finally:
        plt.close(fig)
    print(f"wrote result.json, learn_sobel.png to {args.out}")
    return result


if __name__ == "__main__":
    main()
