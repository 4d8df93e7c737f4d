# %% [markdown]
# # Step 3: output size, padding modes and boundaries
#
# How large is the output of a convolution? That depends on how far the kernel may
# hang over the image's edge (the *mode*), and what it finds there (the *boundary*).
#
# scipy's three modes, for an H x W image and a kh x kw kernel:
#
# | mode | the kernel ... | output |
# |---|---|---|
# | `full` | touches the image with at least one tap | (H + kh - 1) x (W + kw - 1) |
# | `same` | is centred on each pixel | H x W |
# | `valid` | lies wholly inside the image | (H - kh + 1) x (W - kw + 1) |
#
# A layer states the same thing with a padding p, a stride s and a dilation d:
#
#     OH = (H + 2p - d (kh - 1) - 1) // s + 1
#
#     python examples/tutorial/03_output_size.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import functional as F
from minicnn import image as I
from minicnn import layers as L

from _common import Step, draw_image, draw_matrix

step = Step("03_output_size", "full, same and valid; odd and even kernels; fill, symm and wrap")

# %% [markdown]
# ## full, same and valid, for an odd and an even kernel

# %%
x = np.arange(1, 37, dtype=np.float64).reshape(6, 6)
kernels = {"3x3": np.arange(1, 10, dtype=np.float64).reshape(3, 3),
           "2x2": np.array([[1.0, 2.0], [3.0, 4.0]])}
H = x.shape[0]
print(f"image {H}x{H}")
for name, k in kernels.items():
    kh = k.shape[0]
    shapes = {mode: I.convolve2d(x, k, mode=mode).shape for mode in ("full", "same", "valid")}
    print(f"  kernel {name}: " + ", ".join(f"{m} {s[0]}x{s[1]}" for m, s in shapes.items()))
    step.check(shapes == {"full": (H + kh - 1,) * 2, "same": (H,) * 2, "valid": (H - kh + 1,) * 2},
               f"kernel {name}: full is H + k - 1, same is H, valid is H - k + 1")

# %% [markdown]
# ## Where 'same' puts the extra row
#
# 'same' pads the image so that the output keeps its size: k - 1 rows of padding in
# total. For an odd kernel that is (k - 1) / 2 on each side. For an even kernel k - 1 is
# odd, and one side gets the extra row. scipy (and minicnn's `image` functions) centre
# the output on the kernel's tap (kh-1)//2, as the kernel was *given*; so
#
# - `correlate2d(..., 'same')` pads the extra row at the **bottom** (and the extra
#   column at the right). So do `Conv2D(padding="same")`, PyTorch, and TensorFlow's
#   'SAME' at stride 1: total padding d (k - 1), top = total // 2, the rest at the bottom.
# - `convolve2d(..., 'same')` flips the kernel first, which moves that tap: it pads the
#   extra row at the **top** (and the extra column at the left).
#
# So for an even kernel `convolve2d(x, k, 'same')` is *not*
# `correlate2d(x, k[::-1, ::-1], 'same')`: the two are one pixel apart.

# %%
k2 = kernels["2x2"]
corr_same = I.correlate2d(x, k2, mode="same")
conv_same = I.convolve2d(x, k2, mode="same")
corr_full = I.correlate2d(x, k2, mode="full")
print("padding of Conv2D 'same' for k=2:", F.same_padding(2), "(top, bottom)")
step.check(np.array_equal(corr_same, corr_full[1:, 1:]),
           "correlate2d 'same', k=2: 'full' without its first row and column")
step.check(np.array_equal(corr_same, I.correlate2d(np.pad(x, ((0, 1), (0, 1))), k2, mode="valid")),
           "correlate2d 'same', k=2 = zero padding at the bottom and right, then 'valid'")
step.check(np.array_equal(conv_same, I.correlate2d(np.pad(x, ((1, 0), (1, 0))), k2[::-1, ::-1], mode="valid")),
           "convolve2d 'same', k=2 = zero padding at the top and left, then correlation with the flipped kernel")
step.check(not np.array_equal(conv_same, I.correlate2d(x, k2[::-1, ::-1], mode="same")),
           "for an even kernel, convolve2d 'same' differs from correlate2d 'same' with the flipped kernel")

conv_layer = L.Conv2D(1, 1, 2, padding="same", bias=False, dtype=np.float64)
conv_layer.params["W"].data[...] = k2
step.check(F.same_padding(2) == (0, 1) and np.array_equal(conv_layer.forward(x[None, None])[0, 0], corr_same),
           "Conv2D(padding='same') with a 2x2 kernel pads (0, 1) and equals correlate2d(x, k, 'same')")

# %%
fig = step.plt.figure(figsize=(16, 5.4), layout="constrained")
axes = fig.subplots(1, 4, width_ratios=[6, 7, 6, 6])
draw_matrix(axes[0], x, "x (6x6)", signed=False)
draw_matrix(axes[1], corr_full, "correlate2d(x, k, 'full'): 7x7\n(k = [[1, 2], [3, 4]])", signed=False)
draw_matrix(axes[2], corr_same, "correlate2d 'same' = Conv2D 'same': pads (0, 1),\na zero row below: row 5 sums fewer pixels",
            signed=False)
draw_matrix(axes[3], conv_same, "convolve2d(x, k, 'same'): pads (1, 0),\na zero row above: row 0 sums fewer pixels", signed=False)
for ax in axes[1:]:
    ax.tick_params(labelsize=7)
axes[1].add_patch(step.plt.Rectangle((0.5, 0.5), 6, 6, fill=False, edgecolor="tab:red", linewidth=2.5))
fig.suptitle("'same' with an even (2x2) kernel: one padding row more on one side. Red square: the block of "
             "'full' that correlate2d 'same' and Conv2D 'same' keep")
step.save(fig, "same_even_kernel.png")

# %% [markdown]
# ## The formula
#
# `functional.conv_output_size(size, kernel, stride, padding, dilation)` computes it
# (its `padding` is the total of both sides, 2p). We check it against the shape that
# `Conv2D` actually produces, for odd and even kernels, strides and dilations.

# %%
cases = [(6, 3, 1, 0, 1), (6, 3, 1, 1, 1), (6, 2, 1, 0, 1), (7, 3, 2, 1, 1), (8, 3, 2, 0, 1),
         (9, 3, 3, 1, 1), (9, 3, 1, 2, 2), (10, 4, 2, 1, 1), (11, 3, 2, 2, 2), (28, 5, 1, 2, 1)]
print("   H  k  s  p  d   formula  Conv2D")
for h, k, s, p, d in cases:
    formula = (h + 2 * p - d * (k - 1) - 1) // s + 1
    layer = L.Conv2D(1, 1, k, stride=s, padding=p, dilation=d)
    actual = layer.forward(np.zeros((1, 1, h, h), np.float32)).shape[2]
    print(f"  {h:2d} {k:2d} {s:2d} {p:2d} {d:2d}   {formula:7d}  {actual:6d}")
    step.check(formula == actual == F.conv_output_size(h, k, s, 2 * p, d) == layer.output_shape((1, h, h))[1],
               f"H={h} k={k} s={s} p={p} d={d}: output {formula}")
step.check(all(I.correlate2d(x, np.ones((k, k)), "full").shape[0] == F.conv_output_size(H, k, 1, 2 * (k - 1))
               and I.correlate2d(x, np.ones((k, k)), "valid").shape[0] == F.conv_output_size(H, k, 1, 0)
               for k in (1, 2, 3, 4, 5)), "'full' is the formula with p = k - 1, 'valid' with p = 0")

# %% [markdown]
# ## Boundaries: fill, symm and wrap
#
# What lies beyond the image? scipy's `boundary` decides:
#
# - `fill`: a constant (`fillvalue`, 0 by default): `0 0 | a b c d | 0 0`
# - `symm`: the image mirrored, edge pixel repeated: `b a | a b c d | d c`
# - `wrap`: the image repeated, as on a torus: `c d | a b c d | a b`
#
# To *see* the extended image, correlate in 'full' mode with a (2p+1) x (2p+1) kernel
# whose only 1 is in the centre: the output is the image extended by p on every side,
# as the function itself sees it. That equals `np.pad` with modes `constant`,
# `symmetric` and `wrap`. Then a wide blur shows what each boundary does to the borders:
# `fill` darkens them (zeros are black), `symm` keeps them, `wrap` lets the other side
# of the picture bleed in.

# %%
photo = I.to_grayscale(I.sample_image()).astype(np.float64)
small = I.pool2d(photo, 8, mode="avg")[:64, :64]             # 64x64: the top of the photo, 8x8 block means
p = 16
centre = np.zeros((2 * p + 1, 2 * p + 1))
centre[p, p] = 1
blur = np.ones((9, 9)) / 81
fig = step.plt.figure(figsize=(12, 12), layout="constrained")
axes = fig.subplots(3, 3)
blurred = {}
for col, (boundary, np_mode) in enumerate((("fill", "constant"), ("symm", "symmetric"), ("wrap", "wrap"))):
    extended = I.correlate2d(small, centre, mode="full", boundary=boundary)
    step.check(np.array_equal(extended, np.pad(small, p, mode=np_mode)),
               f"boundary '{boundary}' extends the image as np.pad(mode='{np_mode}')")
    draw_image(axes[0, col], extended, f"boundary='{boundary}': the image extended by {p} pixels")
    axes[0, col].add_patch(step.plt.Rectangle((p - 0.5, p - 0.5), 64, 64, fill=False, edgecolor="tab:red"))
    blurred[boundary] = I.correlate2d(small, blur, mode="same", boundary=boundary)
    draw_image(axes[1, col], blurred[boundary], f"9x9 box blur, 'same', boundary='{boundary}'")
for col, boundary in ((0, "fill"), (2, "wrap")):
    draw_image(axes[2, col], blurred[boundary] - blurred["symm"], f"blur with '{boundary}' minus blur with 'symm'",
               signed=True, fig=fig, percentile=100)
axes[2, 1].axis("off")
axes[2, 1].text(0.5, 0.5, "Only the 4 pixels next to the border differ\n(the 9x9 window reaches 4 beyond it).\n\n"
                "fill: the zeros pull the border down (blue)\n\nwrap: the opposite edge bleeds in:\n"
                "red where it is brighter, blue where darker\n(the dark suit at the bottom darkens the top)", ha="center", va="center", fontsize=10)
fig.suptitle("Boundaries (red square: the 64x64 image itself). fill pads with 0 (black), "
             "symm mirrors, wrap repeats the opposite edge")
step.save(fig, "boundaries.png")

# %%
step.done()
