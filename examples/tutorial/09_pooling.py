# %% [markdown]
# # Step 9: pooling
#
# Pooling shrinks a feature map by summarising each block of it: **max** pooling keeps
# the largest value of every 2x2 (or 4x4) block, **average** pooling their mean. It
# has no weights. In a CNN it follows the convolutions, so here we pool a *filtered*
# image: the Sobel edge magnitude of step 6.
#
# What does it buy? Two measured facts, below:
#
# - convolution is **translation equivariant**: shift the input, and the output shifts
#   by the same amount, exactly;
# - pooling makes the result **nearly invariant** to small shifts: an edge that moves
#   by one pixel mostly stays in the same 4x4 block, and the block's maximum barely
#   changes.
#
#     python examples/tutorial/09_pooling.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import functional as F
from minicnn import image as I
from minicnn import layers as L

from _common import Step, draw_matrix

step = Step("09_pooling", "Max and average pooling of a filtered image; shifts; TF-style 'SAME' pooling")

gray = I.to_grayscale(I.sample_image()).astype(np.float64)
if step.quick:
    gray = I.pool2d(gray, 2, mode="avg")
edges = I.sobel(gray)[2]                                    # the filtered image: edge magnitude
print("edge map", edges.shape)

# %% [markdown]
# ## Max and average pooling, three ways
#
# `image.pool2d(img, size, mode)` on an (H, W) image; `MaxPool2D` / `AvgPool2D` on an
# NCHW batch (the same code); and by hand: cut the map into blocks with a reshape, and
# take the max or mean of each block.

# %%
h, w = edges.shape
pooled = {}
for size in (2, 4):
    crop = edges[:h - h % size, :w - w % size]            # whole blocks only, as the layers do
    blocks = crop.reshape(crop.shape[0] // size, size, crop.shape[1] // size, size)
    for mode, by_hand, layer in (("max", blocks.max(axis=(1, 3)), L.MaxPool2D(size)),
                                 ("avg", blocks.mean(axis=(1, 3)), L.AvgPool2D(size))):
        ours = I.pool2d(edges, size, mode=mode)
        from_layer = layer.forward(edges[None, None])[0, 0]
        step.check(np.allclose(ours, by_hand, rtol=0, atol=1e-12) and np.array_equal(ours, from_layer),
                   f"{mode} pooling {size}x{size}: image.pool2d = {type(layer).__name__} = reshape and "
                   f"{mode} by hand, {ours.shape[0]}x{ours.shape[1]}")
        pooled[mode, size] = ours

# %%
face = (slice(h // 5, h // 5 + h * 2 // 5), slice(w // 4, w // 4 + h * 2 // 5))
fig = step.plt.figure(figsize=(17, 4.6), layout="constrained")
axes = fig.subplots(1, 5)
top = float(np.percentile(edges[face], 99.5))


def show_map(ax, img, title):
    ax.imshow(img, cmap="magma", vmin=0, vmax=top, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


show_map(axes[0], edges[face], f"edge magnitude (the face), {edges[face].shape[0]}x{edges[face].shape[1]}")
for ax, (mode, size) in zip(axes[1:], (("max", 2), ("avg", 2), ("max", 4), ("avg", 4))):
    sub = pooled[mode, size][face[0].start // size:face[0].stop // size, face[1].start // size:face[1].stop // size]
    show_map(ax, sub, f"{'max' if mode == 'max' else 'average'} pool {size}x{size}: {sub.shape[0]}x{sub.shape[1]}")
fig.suptitle("Pooling the Sobel magnitude (one colour scale: black 0 .. bright strong edge): max keeps the "
             "strongest edge of each block, average dilutes it")
step.save(fig, "pooling.png")

# %% [markdown]
# ## Convolution is translation equivariant
#
# Shifting the image by s pixels and then filtering gives the filtered image shifted
# by s pixels: the same kernel is applied everywhere. With the `wrap` boundary and a
# circular shift (`np.roll`) this holds to the last bit; for a `Conv2D` without
# padding it holds wherever the windows stay inside the image.

# %%
k = I.kernels.get("sobel_x")
for s in (1, 3):
    shifted_then_filtered = I.correlate2d(np.roll(gray, s, axis=1), k, mode="same", boundary="wrap")
    filtered_then_shifted = np.roll(I.correlate2d(gray, k, mode="same", boundary="wrap"), s, axis=1)
    step.check(np.array_equal(shifted_then_filtered, filtered_then_shifted),
               f"filter(shift(x, {s})) = shift(filter(x), {s}) exactly")
conv = L.Conv2D(1, 1, 3, bias=False, dtype=np.float64)
conv.params["W"].data[0, 0] = k
full = conv.forward(gray[None, None])[0, 0]
step.check(np.array_equal(conv.forward(gray[None, None, :, 2:])[0, 0], full[:, 2:]),
           "Conv2D on the image without its first 2 columns = Conv2D's output without its first 2 columns")

# %% [markdown]
# ## Pooling is nearly invariant to small shifts
#
# Shift the photo right by s = 0..8 pixels, compute the edge map, and measure how much
# it changed *at the same positions*: mean |new - old| / mean |old|. Then the same for
# the pooled maps. A 1-pixel shift changes about half of the raw edge map, and much less
# of its 4x4 max-pooled version.

# %%
def relative_change(new, old, margin):
    inner = (slice(margin, -margin), slice(margin, -margin))        # away from the wrapped border
    return float(np.abs(new - old)[inner].mean() / np.abs(old)[inner].mean())


def pool(img, mode, size):
    return img if mode is None else I.pool2d(img, size, mode=mode)


shifts = np.arange(9)
kinds = (("edge map itself", None, 1), ("max pool 2x2", "max", 2), ("average pool 4x4", "avg", 4),
         ("max pool 4x4", "max", 4), ("max pool 8x8", "max", 8))
change = {name: [] for name, _, _ in kinds}
for s in shifts:
    moved = I.sobel(np.roll(gray, s, axis=1))[2]          # edge map of the shifted photo
    for name, mode, size in kinds:
        change[name].append(relative_change(pool(moved, mode, size), pool(edges, mode, size), max(1, 16 // size)))
for name, values in change.items():
    print(f"  {name:18s}" + " ".join(f"{v:5.2f}" for v in values))
step.check(change["max pool 4x4"][1] < 0.5 * change["edge map itself"][1],
           f"a 1-pixel shift changes the edge map by {change['edge map itself'][1]:.0%}, its 4x4 max pool by "
           f"{change['max pool 4x4'][1]:.0%}")

# %%
fig = step.plt.figure(figsize=(16, 5.2), layout="constrained")
axes = fig.subplots(1, 4, width_ratios=[2.2, 1, 1, 1])
for name, values in change.items():
    axes[0].plot(shifts, values, "o-", label=name)
axes[0].set_xlabel("shift of the input (pixels to the right)")
axes[0].set_ylabel("mean |change| / mean |map|")
axes[0].set_title("How much a shifted input changes each map", fontsize=10)
axes[0].grid(True, alpha=0.3)
axes[0].legend(fontsize=8)
moved = I.sobel(np.roll(gray, 1, axis=1))[2]
side = 4 * (h // 72)                                        # a patch on the glasses, 32x32 (16x16 if --quick)
r0, c0 = 4 * (h * 27 // 400), 4 * (w * 9 // 100)
rows, cols = slice(r0, r0 + side), slice(c0, c0 + side)
show_map(axes[1], edges[rows, cols], f"edge map, a {side}x{side} patch (glasses)")
show_map(axes[2], moved[rows, cols], "the same patch, input moved 1 pixel right")
diff_raw = moved[rows, cols] - edges[rows, cols]
diff_pool = (I.pool2d(moved, 4) - pooled["max", 4])[rows.start // 4:rows.stop // 4, cols.start // 4:cols.stop // 4]
both = float(np.abs(diff_raw).max())
axes[3].imshow(np.concatenate([diff_raw, np.kron(diff_pool, np.ones((4, 4)))], axis=1), cmap="RdBu_r",
               vmin=-both, vmax=both, interpolation="nearest")
axes[3].set_title("change: edge map | its 4x4 max pool\n(red more, blue less, white unchanged)", fontsize=9)
axes[3].set_xticks([])
axes[3].set_yticks([])
fig.suptitle("Convolution moves with the input; pooling forgets small moves (the 4x4 max pool changes "
             f"{change['max pool 4x4'][1]:.0%} where the map changes {change['edge map itself'][1]:.0%})")
step.save(fig, "shift.png")

# %% [markdown]
# ## Pooling with TensorFlow's 'SAME' padding
#
# `MaxPool2D(2)` on a 7x7 map drops the last row and column: (7 - 2) // 2 + 1 = 3.
# TensorFlow's `padding='SAME'` keeps them: output ceil(7 / 2) = 4, padding the extra
# row at the bottom and the extra column at the right (the rule of step 7). The padded
# cells never win a max (they count as -inf). For the average, TensorFlow divides by
# the number of *real* pixels in the window (PyTorch's `count_include_pad=False`);
# PyTorch's default `count_include_pad=True` counts the padding zeros too.
#
# minicnn's pooling layers take both: symmetric integer padding (at most k // 2,
# PyTorch's rule) or `padding="same"` (TensorFlow's), and `AvgPool2D(...,
# count_include_pad=False)` for TensorFlow's average. By hand first: pad with
# `functional.pad2d`, pool, and for TF's average divide by the pooled mask of real
# pixels; then the layers must give the same numbers.

# %%
m = np.arange(1, 50, dtype=np.float64).reshape(7, 7)
pads = ((0, 1), (0, 1))                                   # TF 'SAME' for 7, k = 2, s = 2: total 1, at the end
x4 = m[None, None]
tf_max = L.MaxPool2D(2).forward(F.pad2d(x4, pads, value=-np.inf))[0, 0]
sums = L.AvgPool2D(2).forward(F.pad2d(x4, pads))[0, 0] * 4
counts = L.AvgPool2D(2).forward(F.pad2d(np.ones_like(x4), pads))[0, 0] * 4
tf_avg = sums / counts                                     # count_include_pad=False
torch_avg = sums / 4                                       # count_include_pad=True
valid_max = L.MaxPool2D(2).forward(x4)[0, 0]
step.check(valid_max.shape == (3, 3) and tf_max.shape == (4, 4), "7x7 pooled 2x2: 3x3 without padding, 4x4 with 'SAME'")
step.check(tf_max[-1, -1] == m[-1, -1] and tf_avg[-1, -1] == m[-1, -1] and torch_avg[-1, -1] == m[-1, -1] / 4,
           "the corner window holds one real pixel: max and TF average give it, count_include_pad=True gives it / 4")
step.check(np.array_equal(tf_max[:3, :3], valid_max), "where no padding is involved, 'SAME' = no padding")
for name, make, expected in (("MaxPool2D(2, padding='same')", lambda: L.MaxPool2D(2, padding="same"), tf_max),
                             ("AvgPool2D(2, padding='same', count_include_pad=False)",
                              lambda: L.AvgPool2D(2, padding="same", count_include_pad=False), tf_avg),
                             ("AvgPool2D(2, padding='same', count_include_pad=True)",
                              lambda: L.AvgPool2D(2, padding="same", count_include_pad=True), torch_avg)):
    step.check_close(make().forward(x4)[0, 0], expected, f"{name} = the hand computation")

# %%
fig = step.plt.figure(figsize=(16, 4.4), layout="constrained")
axes = fig.subplots(1, 5, width_ratios=[7, 3, 4, 4, 4])
draw_matrix(axes[0], m, "7x7 map", signed=False)
draw_matrix(axes[1], valid_max, "MaxPool2D(2):\n3x3, row/col 6 dropped", signed=False, vmax=49)
draw_matrix(axes[2], tf_max, "max, TF 'SAME': 4x4\n(pad -inf at bottom/right)", signed=False, vmax=49)
draw_matrix(axes[3], tf_avg, "average, TF 'SAME'\n(count_include_pad=False)", signed=False, vmax=49, fmt=".1f")
draw_matrix(axes[4], torch_avg, "average, padding zeros counted\n(count_include_pad=True)", signed=False, vmax=49,
            fmt=".2f")
fig.suptitle("2x2 pooling with stride 2 of a 7x7 map: 'SAME' keeps the last row and column; "
             "the two averages differ only where a window holds padding")
step.save(fig, "same_pooling.png")

# %%
step.done(shift_change={k: [round(v, 4) for v in vals] for k, vals in change.items()})
