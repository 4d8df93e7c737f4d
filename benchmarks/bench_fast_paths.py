"""What each fast path of minicnn.fast buys: the fast path against its plain reference,
timed in the same process, alternating, medians (ms). The docstrings of minicnn/fast.py
quote these numbers.

    python benchmarks/bench_fast_paths.py                  # float32, the machine's threads
    python benchmarks/bench_fast_paths.py --threads 1 --repeats 50

Cases (batch 64, float32, the MNIST CNN's layers unless named otherwise):

- ``wide grid``: im2col and col2im of conv2 (32 -> 64 at 14x14, k3 p1) on the wide grid
  against the narrow (OH x OW) grid;
- ``dW operand order``: the weight gradient as (cols @ dY^T)^T against dY @ cols^T, for
  conv2 (cols 288 rows, dY 64) and conv1 (1 -> 32 at 28x28: cols 9 rows, dY 32);
- ``dx by convolution``: the input gradient as a convolution of dY against col2im of W^T dY,
  for the dilated case (16 -> 16 at 32x32, k3 p2 d2) and for conv2;
- ``max-pool write``: the 2x2 max-pool backward on (64, 32, 28, 28) writing against adding;
- ``blocks``: conv2's inference at batch 1000, in blocks against one block;
- ``ReLU after MaxPool2D``: a ReLU and a 2x2 max pool, swapped (as Sequential runs them)
  against in order, forward and backward on (64, 32, 28, 28);
- ``whole layer``: forward + backward of each convolution, fast against reference.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing as T  # noqa: E402  (imports no NumPy: --threads must come first)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per case (default 30)")
    parser.add_argument("--batch", type=int, default=64)
    T.add_common_arguments(parser, "bench_fast_paths.json")
    return parser.parse_args(argv)


if __name__ == "__main__":
    ARGS = parse_args()
    T.set_thread_env(ARGS.threads)

import numpy as np  # noqa: E402

import minicnn as mc  # noqa: E402
from minicnn import fast  # noqa: E402
from minicnn import functional as F  # noqa: E402
from minicnn import layers as L  # noqa: E402

CONVS = {"conv1": (1, 32, 28, 3, 1, 1), "conv2": (32, 64, 14, 3, 1, 1), "conv_dil": (16, 16, 32, 3, 2, 2)}


def conv_case(name, n, rng):
    c, o, side, k, pad, dil = CONVS[name]
    layer = L.Conv2D(c, o, k, padding=pad, dilation=dil)
    x = rng.standard_normal((n, c, side, side)).astype(np.float32)
    g = rng.standard_normal((n, *layer.output_shape(x.shape[1:]))).astype(np.float32)
    return layer, x, g


def cases(n, rng):
    """``{case: {variant: callable}}``, the fast variant first."""
    out = {}
    layer, x, g = conv_case("conv2", n, rng)
    k, pads, dil = layer.kernel_size, layer.pads, layer.dilation
    (oh, ow), grid, grid_pads = fast.wide_grid(x.shape, k, pads, dil)
    x_wide, x_narrow = F.pad2d(x, grid_pads), F.pad2d(x, pads)
    out["wide grid: conv2 im2col"] = {
        "fast": lambda: F.im2col(x_wide, k, (1, 1), dil, grid),
        "reference": lambda: F.im2col(x_narrow, k, (1, 1), dil)}
    cols_wide, cols_narrow = F.im2col(x_wide, k, (1, 1), dil, grid), F.im2col(x_narrow, k, (1, 1), dil)
    wide_shape, narrow_shape = x_wide.shape, x_narrow.shape
    out["wide grid: conv2 col2im"] = {
        "fast": lambda: F.col2im(cols_wide, wide_shape, k, (1, 1), dil, grid),
        "reference": lambda: F.col2im(cols_narrow, narrow_shape, k, (1, 1), dil)}
    for name in ("conv2", "conv1"):
        lay, xx, gg = conv_case(name, n, rng)
        _, grid_n, grid_pads_n = fast.wide_grid(xx.shape, lay.kernel_size, lay.pads, lay.dilation)
        cols = F.im2col(F.pad2d(xx, grid_pads_n), lay.kernel_size, (1, 1), lay.dilation, grid_n)
        o = lay.out_channels
        dy = rng.standard_normal((o, cols.shape[1])).astype(np.float32)
        taller_first = cols.shape[0] >= o
        out[f"dW operand order: {name}"] = {
            "fast": lambda c=cols, d=dy, s=lay.params["W"].shape: fast.weight_grad(c, d, s),
            "other order": (lambda c=cols, d=dy: (d @ c.T)) if taller_first else (lambda c=cols, d=dy: (c @ d.T).T)}
    for name in ("conv_dil", "conv2"):
        lay, xx, gg = conv_case(name, n, rng)
        w = lay.params["W"].data
        _, cols = fast.conv2d_forward(xx, w, None, (1, 1), lay.pads, lay.dilation)
        (oh, ow), grid, grid_pads = fast.wide_grid(xx.shape, lay.kernel_size, lay.pads, lay.dilation)

        def by_col2im(lay=lay, xx=xx, gg=gg, w=w, grid=grid, grid_pads=grid_pads, oh=oh, ow=ow):
            o = lay.out_channels
            dy = np.zeros((o, len(xx), *grid), np.float32)
            dy[:, :, :oh, :ow] = gg.transpose(1, 0, 2, 3)
            dcols = w.reshape(o, -1).T @ dy.reshape(o, -1)
            (t, b), (l_, r) = grid_pads
            return F.col2im(dcols, (len(xx), lay.in_channels, xx.shape[2] + t + b, xx.shape[3] + l_ + r),
                            lay.kernel_size, (1, 1), lay.dilation, grid)
        out[f"dx by convolution: {name}"] = {
            "fast": lambda lay=lay, gg=gg, w=w: fast.input_grad_by_convolution(gg, w, lay.pads, lay.dilation),
            "col2im": by_col2im}
    xp = rng.standard_normal((n, 32, 28, 28)).astype(np.float32)
    mp, argmax = F.max_pool2d_forward(xp, (2, 2), (2, 2), ((0, 0), (0, 0)), argmax=True)
    gp = rng.standard_normal(mp.shape).astype(np.float32)
    out["max-pool write: 2x2 backward"] = {
        "fast": lambda: fast.max_pool2d_backward(gp, argmax, xp.shape, (2, 2), (2, 2), ((0, 0), (0, 0))),
        "reference": lambda: _reference(F.max_pool2d_backward, gp, argmax, xp.shape, (2, 2), (2, 2), ((0, 0), (0, 0)))}
    big = rng.standard_normal((1000, 32, 14, 14)).astype(np.float32)
    conv2 = conv_case("conv2", n, rng)[0]
    w2 = conv2.params["W"].data

    def conv2_inference(block_bytes):
        saved, fast.BLOCK_BYTES = fast.BLOCK_BYTES, block_bytes
        try:
            return fast.conv2d_forward(big, w2, None, (1, 1), conv2.pads, conv2.dilation, keep_cols=False)
        finally:
            fast.BLOCK_BYTES = saved
    out["blocks: conv2 inference, batch 1000"] = {
        "fast": lambda: conv2_inference(fast.BLOCK_BYTES), "one block": lambda: conv2_inference(1 << 40)}
    relu, maxpool = L.ReLU(), L.MaxPool2D(2)
    xr = rng.standard_normal((n, 32, 28, 28)).astype(np.float32)

    def relu_pool(swapped):
        first, second = (maxpool, relu) if swapped else (relu, maxpool)
        y = second.forward(first.forward(xr, training=True), training=True)
        first.backward(second.backward(np.ones_like(y)))
    out["ReLU after MaxPool2D: (64, 32, 28, 28), fwd+bwd"] = {
        "fast": lambda: relu_pool(True), "in order": lambda: relu_pool(False)}
    for name in CONVS:
        lay, xx, gg = conv_case(name, n, rng)

        def step(lay=lay, xx=xx, gg=gg):
            lay.forward(xx, training=True)
            return lay.backward(gg)
        out[f"whole layer: {name} fwd+bwd"] = {"fast": step, "reference": lambda step=step: _reference(step)}
    return out


def _reference(fn, *args):
    with mc.reference_paths():
        return fn(*args)


def main(argv=None):
    args = ARGS if argv is None and "ARGS" in globals() else parse_args(argv)
    rng = np.random.default_rng(0)
    print(T.describe_blas())
    rows, results = [], {}
    for case, variants in cases(args.batch, rng).items():
        times = T.time_alternating(variants, args.repeats, warmup=2)
        stats = {name: T.summary(t) for name, t in times.items()}
        names = list(variants)
        fast_ms, other_ms = stats[names[0]]["median_ms"], stats[names[1]]["median_ms"]
        rows.append([case, names[1], T.fmt(fast_ms), T.fmt(other_ms), T.fmt(T.ratio(other_ms, fast_ms))])
        results[case] = stats
    print(T.format_table(["case", "against", "fast ms", "other ms", "speed-up"], rows))
    T.write_json(args.json, {"environment": T.environment(), "results": results})
    return results


if __name__ == "__main__":
    main()
