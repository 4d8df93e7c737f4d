# %% [markdown]
# # Step 16: weight sharing - a convolution is a dense layer with tied, mostly-zero weights
#
# A convolution is linear: every output pixel is a weighted sum of input pixels, plus a
# bias. So a `Dense` layer can do exactly what a `Conv2D` does, if it gets the right
# weight matrix. This step builds that matrix and counts what it costs.
#
# `Conv2D(1, 8, 3, padding=1)` on a 28x28 picture: 8 kernels of 3x3 and 8 biases,
# **80 parameters**. Its output has 8 x 28 x 28 = 6,272 numbers. A dense layer from the
# 784 input pixels to those 6,272 outputs has 784 x 6,272 weights and 6,272 biases:
# **4,923,520 parameters**, 61,544 times as many. Yet with the right values it computes
# the same function, because the convolution's matrix is
#
# - **sparse**: an output pixel depends on its 3x3 neighbourhood only, so each row of the
#   matrix has at most 9 non-zero entries out of 784 (local connectivity);
# - **repeated**: every row of one output channel holds the same 9 kernel values, shifted
#   along (weight sharing). Arranged by image rows, it is a *doubly block Toeplitz*
#   matrix: blocks that repeat along the diagonals, each block itself constant along its
#   diagonals.
#
# Two ways to build it, checked against each other: push the 784 *unit images* (one
# pixel at 1, the rest 0) through the convolution, which gives one row of the dense
# weights each; and index arithmetic (output pixel (r, c) sees input pixel
# (r + i - 1, c + j - 1) with weight W[i, j]). Weight sharing is also why a convolution is
# translation equivariant (step 9): the same weights at every position.
#
#     python examples/tutorial/16_weight_sharing.py [--out DIR] [--quick]

# %%
import numpy as np

import minicnn as mc
from minicnn import image as I
from minicnn import layers as L

from _common import Step, draw_image, draw_matrix

step = Step("16_weight_sharing", "A Conv2D as a Dense layer: the doubly block Toeplitz matrix, parameter counts")


def n_params(layer):
    """The number of trainable values of one layer."""
    return sum(p.data.size for p in layer.params.values())


def dense_from_conv(conv, input_shape):
    """(weights (C*H*W, C_out*OH*OW), bias (C_out*OH*OW,)) of the Dense layer equal to ``conv``.

    Row i of Dense's W is what the input pixel i contributes to every output: the
    convolution's response (without bias) to the unit image that is 1 at pixel i, 0 elsewhere.
    """
    n = int(np.prod(input_shape))
    unit_images = np.eye(n).reshape(n, *input_shape)
    no_bias = L.Conv2D(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding, bias=False,
                       dtype=np.float64)
    no_bias.params["W"].data[...] = conv.params["W"].data
    responses = no_bias.forward(unit_images)                          # (n, C_out, OH, OW)
    bias = np.repeat(conv.params["b"].data, responses[0, 0].size)     # one bias per output channel, repeated
    return responses.reshape(n, -1), bias


def dense_by_index(kernel, h, w):
    """The same matrix by index arithmetic, for one input channel, 'same' padding (p = k // 2):
    M[o*h*w + r*w + c, (r + i - p)*w + (c + j - p)] = kernel[o, 0, i, j] where inside."""
    out_channels, _, k, _ = kernel.shape
    p = k // 2
    m = np.zeros((h * w, out_channels * h * w))
    o, r, c = np.meshgrid(np.arange(out_channels), np.arange(h), np.arange(w), indexing="ij")
    for i in range(k):                                                 # one kernel tap at a time
        for j in range(k):
            rr, cc = r + i - p, c + j - p
            inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            m[(rr * w + cc)[inside], (o * h * w + r * w + c)[inside]] = kernel[o[inside], 0, i, j]
    return m


# %% [markdown]
# ## A small case you can read: 4x4 input, one 3x3 kernel
#
# With the kernel 1..9 every entry of the matrix says which kernel tap it is. Drawn with
# one row per output pixel and one column per input pixel (that is `M = W.T`: minicnn's
# `Dense` computes `x @ W`, with W of shape (inputs, outputs)), the 3x3 kernel appears in
# 4x4 blocks, and the blocks repeat down the diagonals.

# %%
small = L.Conv2D(1, 1, 3, padding=1, dtype=np.float64)
small.params["W"].data[...] = np.arange(1, 10).reshape(1, 1, 3, 3)
w_small, _ = dense_from_conv(small, (1, 4, 4))
step.check(np.array_equal(w_small, dense_by_index(small.params["W"].data, 4, 4)),
           "4x4 input: unit images through Conv2D = index arithmetic, entry for entry")
step.check(np.array_equal(np.count_nonzero(w_small, axis=0), [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4]),
           "each output pixel sees 9 input pixels inside, 6 on an edge, 4 in a corner (padding)")
# Toeplitz: blocks of 4 rows x 4 columns, the block (R, R') depending on R' - R only.
blocks = w_small.T.reshape(4, 4, 4, 4).transpose(0, 2, 1, 3)          # blocks[R, R'] = rows 4R.., columns 4R'..
step.check(all(np.array_equal(blocks[a, b], blocks[a + 1, b + 1]) for a in range(3) for b in range(3)),
           "doubly block Toeplitz: block (R, R') of M depends only on R' - R")

fig = step.plt.figure(figsize=(13, 6.4), layout="constrained")
ax_k, ax_m = fig.subplots(1, 2, width_ratios=[1, 3.6])
draw_matrix(ax_k, small.params["W"].data[0, 0], "the kernel W[0, 0]\n(taps numbered 1..9)", fontsize=11)
draw_matrix(ax_m, w_small.T, "M = Dense's W.T: row = output pixel r*4 + c, column = input pixel r*4 + c", fontsize=8)
for edge in (3.5, 7.5, 11.5):
    ax_m.axhline(edge, color="tab:orange", lw=1)
    ax_m.axvline(edge, color="tab:orange", lw=1)
ax_m.set_xlabel("input pixel (one 4x4 block per input row)")
ax_m.set_ylabel("output pixel (one 4x4 block per output row)")
fig.suptitle("Conv2D(1, 1, 3, padding=1) on a 4x4 input as a 16x16 matrix (entry = kernel tap, 0 = no connection):\n"
             "at most 9 non-zeros a row, the same 9 values in every row, blocks repeating along the diagonals")
step.save(fig, "toeplitz_small.png")

# %% [markdown]
# ## The real size: Conv2D(1, 8, 3, padding=1) on 28x28
#
# The picture: a 224x224 crop of the photo of steps 1-9, averaged down to 28x28.

# %%
gray = I.to_grayscale(I.sample_image()).astype(np.float64)
picture = I.pool2d(gray[120:344, 140:364], 8, mode="avg")             # (28, 28)
rng = np.random.default_rng(0)
batch = np.concatenate([picture[None, None], rng.random((3 if step.quick else 31, 1, 28, 28))])

mc.manual_seed(0)
conv = L.Conv2D(1, 8, 3, padding=1, dtype=np.float64)
conv.params["b"].data[...] = rng.normal(0, 0.1, 8)                    # non-zero biases, to check them too
weights, bias = dense_from_conv(conv, (1, 28, 28))
dense = L.Dense(784, 8 * 28 * 28, dtype=np.float64)
dense.params["W"].data[...] = weights
dense.params["b"].data[...] = bias
print(f"Conv2D(1, 8, 3, padding=1): {n_params(conv):,} parameters; Dense(784, 6272): {n_params(dense):,}")
step.check(n_params(conv) == 8 * 3 * 3 + 8 == 80, "Conv2D(1, 8, 3, padding=1): 8 * 3*3 + 8 = 80 parameters")
step.check(n_params(dense) == 784 * 6272 + 6272 == 4_923_520,
           "the Dense layer doing its job: 784 * 6272 + 6272 = 4,923,520 parameters")
step.check(np.array_equal(weights, dense_by_index(conv.params["W"].data, 28, 28)),
           "28x28: unit images through Conv2D = index arithmetic, all 784 x 6272 entries")

conv_out = conv.forward(batch)                                         # (N, 8, 28, 28)
dense_out = dense.forward(batch.reshape(len(batch), 784))              # (N, 6272)
step.check_close(dense_out, conv_out.reshape(len(batch), -1),
                 f"Dense(784, 6272) with those weights = Conv2D's output, on {len(batch)} images (float64, "
                 "to rounding: the sums run in another order)", atol=1e-13)

nonzero = np.count_nonzero(weights)
distinct = np.unique(weights[weights != 0]).size
step.check(nonzero == 8 * (3 * 28 - 2) ** 2 == 53_792,
           f"non-zero weights: 8 channels * 82^2 = {nonzero:,}, {nonzero / weights.size:.2%} of the matrix "
           "(82 = 3*28 - 2 row taps inside the image per axis)")
step.check(distinct == 72, "they take only 72 distinct values: the 8 kernels' 3*3 weights, shared")

# A bigger layer: the second convolution of step 15's CNN, Conv2D(32, 64, 3, padding=1) on 32 maps of 14x14.
second = L.Conv2D(32, 64, 3, padding=1)
dense_second = 32 * 14 * 14 * 64 * 14 * 14 + 64 * 14 * 14
step.check(n_params(second) == 64 * 32 * 9 + 64 == 18_496,
           f"Conv2D(32, 64, 3) on 14x14: 18,496 parameters; the dense equivalent "
           f"6272 * 12544 + 12544 = {dense_second:,} ({dense_second / 18_496:,.0f} times as many)")
print(f"{'layer':<40}{'conv':>10}{'dense equivalent':>20}{'ratio':>10}")
for name, a, b in (("Conv2D(1, 8, 3) on 1x28x28", 80, n_params(dense)),
                   ("Conv2D(32, 64, 3) on 32x14x14", 18_496, dense_second)):
    print(f"{name:<40}{a:>10,}{b:>20,}{b / a:>10,.0f}")

# %%
fig = step.plt.figure(figsize=(15, 9), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.15])
ax = top.subplots()
mask = (weights != 0).reshape(196, 4, 1568, 4).any(axis=(1, 3))        # 4x4 cells: does it hold a non-zero?
ax.imshow(mask, cmap="gray_r", aspect="auto", interpolation="nearest", extent=(0, 6272, 784, 0))
for c in range(1, 8):
    ax.axvline(c * 784, color="tab:orange", lw=1)
ax.set_xticks(np.arange(8) * 784 + 392, [f"output channel {c}" for c in range(8)], fontsize=8)
ax.set_ylabel("input pixel r*28 + c (784)")
ax.set_title(f"Dense's W (784 x 6272), black where a weight is non-zero (each dot: a 4x4 cell): "
             f"{nonzero:,} of {weights.size:,} ({nonzero / weights.size:.1%}), 72 distinct values", fontsize=10)
ax_zoom, ax_kernel, ax_bar = bottom.subplots(1, 3, width_ratios=[1.5, 0.6, 1])
zoom = weights[:112, :112].T                                           # output rows 0-3 x input rows 0-3, channel 0
limit = float(np.abs(conv.params["W"].data[0]).max())
ax_zoom.imshow(np.where(zoom == 0, np.nan, zoom), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
for edge in (27.5, 55.5, 83.5):
    ax_zoom.axhline(edge, color="tab:orange", lw=0.8)
    ax_zoom.axvline(edge, color="tab:orange", lw=0.8)
ax_zoom.set_title("zoom, as M = W.T: channel 0, output rows 0-3 (rows)\nx input rows 0-3 (columns): "
                  "28x28 blocks, 3 diagonals each", fontsize=9)
ax_zoom.set_xlabel("input pixel")
ax_zoom.set_ylabel("output pixel")
draw_matrix(ax_kernel, conv.params["W"].data[0, 0], "kernel of channel 0\n(same colours)", fontsize=9, vmax=limit)
counts = {"Conv2D\nparameters": 80, "Dense's non-zero\nweights": nonzero, "Dense\nparameters": n_params(dense)}
bars = ax_bar.bar(list(counts), list(counts.values()), color=["tab:green", "tab:gray", "tab:red"])
ax_bar.set_yscale("log")
ax_bar.set_ylim(10, 3e7)
ax_bar.bar_label(bars, labels=[f"{v:,}" for v in counts.values()], fontsize=9)
ax_bar.set_ylabel("count (log scale)")
ax_bar.set_title("the same function, three sizes", fontsize=9)
ax_bar.tick_params(axis="x", labelsize=8)
fig.suptitle("Conv2D(1, 8, 3, padding=1) on 28x28 written out as a Dense(784, 6272) layer: sparse, and the "
             "same 9 weights repeated along the diagonals of every channel's block")
step.save(fig, "toeplitz_28x28.png")

# %% [markdown]
# ## Translation equivariance, checked
#
# Shift the picture 3 pixels down and 2 right: the convolution's output shifts by the
# same amount, exactly, except near the border, where pixels came in or fell out. A dense
# layer with *unshared* weights (random, the same size) has no such property.

# %%
dy, dx = 3, 2


def shift(a):
    """Move the last two axes down by dy, right by dx, filling with zeros."""
    out = np.zeros_like(a)
    out[..., dy:, dx:] = a[..., :a.shape[-2] - dy, :a.shape[-1] - dx]
    return out


x = picture[None, None]
inner = (slice(None), slice(None), slice(dy + 1, 27), slice(dx + 1, 27))   # the receptive field stays inside
step.check_close(conv.forward(shift(x))[inner], shift(conv.forward(x))[inner],
                 f"Conv2D(shifted picture) = shifted Conv2D(picture), away from the border (shift {dy}, {dx})")
unshared = L.Dense(784, 6272, dtype=np.float64)
unshared.params["W"].data[...] = rng.permuted(weights, axis=0)          # the same values, untied from positions
out_then_shift = shift(unshared.forward(x.reshape(1, 784)).reshape(1, 8, 28, 28))
shift_then_out = unshared.forward(shift(x).reshape(1, 784)).reshape(1, 8, 28, 28)
gap = float(np.abs(out_then_shift - shift_then_out)[inner].max() / np.abs(out_then_shift[inner]).max())
print(f"a dense layer with the same weights shuffled: shifting the input changes the output by {gap:.0%} "
      "of its size, not by a shift")
step.check(gap > 0.1, "a dense layer with unshared weights is not translation equivariant")

fig = step.plt.figure(figsize=(15, 3.6), layout="constrained")
axes = fig.subplots(1, 5)
draw_image(axes[0], picture, "the picture (28x28)")
draw_image(axes[1], shift(picture), f"shifted down {dy}, right {dx}")
draw_image(axes[2], conv.forward(x)[0, 0], "channel 0 of Conv2D(picture)", signed=True)
draw_image(axes[3], conv.forward(shift(x))[0, 0], "channel 0 of Conv2D(shifted)", signed=True)
difference = conv.forward(shift(x))[0, 0] - shift(conv.forward(x))[0, 0]
draw_image(axes[4], difference, "Conv2D(shifted) - shifted Conv2D(picture)\n(zero but for the border)",
           signed=True, fig=fig, percentile=100)
fig.suptitle("Translation equivariance: the same weights everywhere, so a shifted input gives a shifted output")
step.save(fig, "equivariance.png")

# %%
step.done(conv_params=int(n_params(conv)), dense_params=int(n_params(dense)), dense_nonzero=int(nonzero),
          dense_distinct_values=int(distinct))
