# %% [markdown]
# # Step 4: the kernel zoo
#
# Before networks learned their kernels, people designed them by hand. Each classic
# kernel is a small recipe: the identity copies, a blur averages, the Laplacians
# subtract the neighbours, sharpen adds those differences back. `minicnn.image.kernels`
# holds them by name; `kernels.get(name)` returns a float64 copy.
#
# Their results are *signed*: an edge detector gives negative numbers as well as
# positive ones, and a sharpened pixel can be brighter than white. There are two ways
# to show them, and this step shows both:
#
# - the classic tutorials' way: work in 0..255 and **clip** to 0..255 (negative
#   responses become black, too bright ones white);
# - minicnn's figures: keep the signs, and draw on a **diverging colour map** centred
#   on 0 (red positive, white 0, blue negative).
#
#     python examples/tutorial/04_kernel_zoo.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import image as I

from _common import Step, draw_image, draw_matrix

step = Step("04_kernel_zoo", "Classic image kernels on a photo: clipped 0..255 and signed")

# %%
gray = I.to_grayscale(I.sample_image()).astype(np.float64)     # (600, 512) in [0, 1]
if step.quick:
    gray = I.pool2d(gray, 2, mode="avg")                          # 300 x 256 (2x2 block means)
print("photo", gray.shape)

ZOO = ("identity", "diagonal_edges", "laplacian4", "laplacian8", "sharpen", "unsharp5", "box_blur",
       "gaussian_blur3")
for name in ZOO:
    print(f"{name}:\n{np.round(I.kernels.get(name), 4)}")

# %% [markdown]
# ## Applying them
#
# `correlate2d(gray, k, mode="same", boundary="symm")`: the output keeps the photo's
# size, and the mirrored border adds no false edge at the frame. All eight kernels are
# unchanged by a 180-degree turn, so here `convolve2d` gives the same numbers
# (step 6 shows kernels for which it does not).

# %%
out = {name: I.correlate2d(gray, I.kernels.get(name), mode="same", boundary="symm") for name in ZOO}
for name in ZOO:
    k = I.kernels.get(name)
    step.check(np.array_equal(k, k[::-1, ::-1]) and np.allclose(
        I.convolve2d(gray, k, mode="same", boundary="symm"), out[name], rtol=0, atol=1e-12),
        f"{name} is symmetric under a 180° turn, so convolve2d = correlate2d")
step.check(np.array_equal(out["identity"], gray), "identity gives the photo back exactly")

# %% [markdown]
# Kernels add: the response to `a + b` is the response to `a` plus the response to `b`.
# `sharpen` is `identity + laplacian4`, so the sharpened photo is the photo plus its
# Laplacian. `unsharp5` is `2 * identity - (5x5 binomial blur)`: the photo plus the
# detail a blur removes (the "unsharp mask").

# %%
step.check_close(out["sharpen"], gray + out["laplacian4"], "sharpen(x) = x + laplacian4(x)")
binomial = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256
identity5 = np.zeros((5, 5))
identity5[2, 2] = 1
step.check_close(I.kernels.get("unsharp5"), 2 * identity5 - binomial, "unsharp5 = 2 * identity - binomial 5x5 / 256")
blur5 = I.correlate2d(gray, binomial, mode="same", boundary="symm")
step.check_close(out["unsharp5"], gray + (gray - blur5), "unsharp5(x) = x + (x - blur(x))")

# %% [markdown]
# And by hand, for one kernel, the double loop of step 2 on a corner of the photo:

# %%
crop = gray[100:130, 200:230]
k8 = I.kernels.get("laplacian8")
loop = np.zeros((28, 28))
for r in range(28):
    for c in range(28):
        loop[r, c] = np.sum(k8 * crop[r:r + 3, c:c + 3])
step.check_close(loop, I.correlate2d(crop, k8, mode="valid"), "laplacian8: the double loop = correlate2d 'valid'")

# %% [markdown]
# ## 0..255 and clipping, or [0, 1] and signs
#
# The tutorials read the photo as 0..255, filter it, and clip. minicnn reads it in
# [0, 1]; multiplying by 255 afterwards and `image.to_uint8` (clip, round, uint8) gives
# the same picture, because filtering is linear.

# %%
clipped = {}
for name in ZOO:
    tutorial_way = I.to_uint8(I.correlate2d(255 * gray, I.kernels.get(name), mode="same", boundary="symm"))
    clipped[name] = I.to_uint8(255 * out[name])
    differ = int(np.count_nonzero(tutorial_way != clipped[name]))
    step.check(np.abs(tutorial_way.astype(int) - clipped[name]).max() <= 1,
               f"{name}: filtering 0..255 then clipping = filtering [0, 1], x 255, clipping "
               f"({differ} pixels differ by one level, from rounding)")
    lost = np.mean((out[name] < 0) | (out[name] > 1))
    print(f"  {name:15s} range {out[name].min():+.3f} .. {out[name].max():+.3f}; clipping changes {lost:.1%} of the pixels")

# %%
LABELS = {"identity": "identity", "diagonal_edges": "diagonal_edges", "laplacian4": "laplacian4",
          "laplacian8": "laplacian8", "sharpen": "sharpen", "unsharp5": "unsharp5 (unsharp mask)",
          "box_blur": "box_blur (3x3 mean)", "gaussian_blur3": "gaussian_blur3 (binomial)"}

fig = step.plt.figure(figsize=(16, 4.4), layout="constrained")
axes = fig.subplots(1, len(ZOO), width_ratios=[5 if n == "unsharp5" else 3 for n in ZOO])
DENOMINATOR = {"unsharp5": 256, "box_blur": 9, "gaussian_blur3": 16}     # the others are integers
for ax, name in zip(axes, ZOO):
    d = DENOMINATOR.get(name, 1)
    draw_matrix(ax, np.round(I.kernels.get(name) * d), LABELS[name] + (f"\n(times {d})" if d > 1 else ""),
                signed=True, fontsize=7)
fig.suptitle("The kernels (for correlate2d / Conv2D; red positive, blue negative). "
             "Fractional ones are shown times their denominator")
step.save(fig, "kernels.png")

fig = step.plt.figure(figsize=(13, 14.5), layout="constrained")
axes = fig.subplots(3, 3).ravel()
axes[0].imshow(I.to_uint8(255 * gray), cmap="gray", vmin=0, vmax=255)
axes[0].set_title(f"photo, 0..255 ({gray.shape[0]}x{gray.shape[1]})", fontsize=9)
for ax, name in zip(axes[1:], ZOO):
    ax.imshow(clipped[name], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_title(f"{LABELS[name]}: clipped to 0..255", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("The classic tutorials' way: filter, then clip to 0..255 (negative -> black, above 255 -> white)\n"
             "the edge detectors lose their negative half")
step.save(fig, "zoo_clipped.png")

# The face, zoomed in: at the size of a panel thin edges would vanish.
h, w = gray.shape
face = (slice(h // 5, h // 5 + h * 2 // 5), slice(w // 4, w // 4 + h * 2 // 5))
fig = step.plt.figure(figsize=(14, 13), layout="constrained")
axes = fig.subplots(3, 3).ravel()
draw_image(axes[0], gray[face], "photo in [0, 1] (the face, zoomed in)")
for ax, name in zip(axes[1:], ZOO):
    draw_image(ax, out[name][face], f"{LABELS[name]}: signed", signed=True, fig=fig, label="response")
fig.suptitle("minicnn's way: keep the signs (diverging map centred on 0: red positive, white 0, blue negative;\n"
             "each panel scaled to the 99.5th percentile of |value|). The identity and the blurs are never "
             "negative:\nthey use only the red half. The edge detectors use both: blue on one side of an edge, "
             "red on the other")
step.save(fig, "zoo_signed.png")

# %% [markdown]
# ## A Gaussian of any sigma
#
# `image.gaussian_kernel(size, sigma)` samples `exp(-d^2 / (2 sigma^2))` at every tap,
# d being the distance to the centre, and divides by the sum (so brightness is kept).
# Classic tutorials often build one by hand as `exp(-d^2 / 10)`: that is the same
# thing with `2 sigma^2 = 10`, sigma = sqrt(5) = 2.24. The kernel is *separable*: the
# outer product of two 1-D Gaussians, so blurring the rows and then the columns with
# the 1-D kernel gives the 2-D blur (at 2 x size instead of size^2 operations per pixel).

# %%
i, j = np.mgrid[0:5, 0:5]
hand = np.exp(-((i - 2) ** 2 + (j - 2) ** 2) / 10)
step.check_close(I.gaussian_kernel(5, np.sqrt(5)), hand / hand.sum(),
                 "gaussian_kernel(5, sqrt(5)) = exp(-d^2 / 10), normalised")
g2 = I.gaussian_kernel(9, 2.0)
g_col, g_row = I.gaussian_kernel((9, 1), 2.0), I.gaussian_kernel((1, 9), 2.0)
step.check_close(g2, g_col @ g_row, "gaussian_kernel(9, 2) = outer product of two 1-D Gaussians")
two_passes = I.correlate2d(I.correlate2d(gray, g_row, "same", "symm"), g_col, "same", "symm")
step.check_close(two_passes, I.correlate2d(gray, g2, "same", "symm"), "rows then columns = the 2-D blur", atol=1e-12)

sigmas = (0.5, 1.0, 2.0, 4.0)
fig = step.plt.figure(figsize=(16, 8.2), layout="constrained")
axes = fig.subplots(2, len(sigmas) + 1)
for col, sigma in enumerate(sigmas):
    size = 2 * int(np.ceil(3 * sigma)) + 1                      # +-3 sigma holds 99.7% of the weight
    g = I.gaussian_kernel(size, sigma)
    axes[0, col].imshow(g, cmap="magma", vmin=0, interpolation="nearest")
    axes[0, col].set_title(f"gaussian_kernel({size}, {sigma:g})\ncentre weight {g.max():.3f}", fontsize=9)
    axes[0, col].set_xticks([])
    axes[0, col].set_yticks([])
    draw_image(axes[1, col], I.correlate2d(gray, g, "same", "symm"), f"blurred, sigma {sigma:g}")
draw_matrix(axes[0, -1], np.round(hand / hand.sum() * 1000), "exp(-d²/10) / sum, x 1000\n= gaussian_kernel(5, √5)",
            signed=False)
distance = np.linspace(0, 6, 200)
axes[1, -1].plot(distance, np.exp(-distance ** 2 / 10), label="exp(-d²/10)")
axes[1, -1].plot(distance, np.exp(-distance ** 2 / (2 * 5)), "--", label="exp(-d²/(2σ²)), σ=√5")
axes[1, -1].set_xlabel("distance d from the centre (pixels)")
axes[1, -1].set_ylabel("weight before normalising")
axes[1, -1].legend(fontsize=8)
fig.suptitle("Gaussian blurs: a wider sigma averages over more pixels (kernel size 2*ceil(3σ)+1; "
             "each kernel drawn from black = 0 to its own largest weight)")
step.save(fig, "gaussian.png")

# %%
step.done()
