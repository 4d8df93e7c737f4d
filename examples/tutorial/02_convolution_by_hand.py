# %% [markdown]
# # Step 2: convolution by hand
#
# A kernel is a small matrix of weights. Slide it over the image; at every position,
# multiply the kernel with the pixels under it and add the products up. That sum is
# one output pixel. There are two ways to lay the kernel on the image:
#
#     correlation:  y[r, c] = sum_ij k[i, j] * x[r + i, c + j]      (the kernel as written)
#     convolution:  y[r, c] = sum_ij k[i, j] * x[r - i, c - j]      (the kernel turned 180 degrees)
#
# Mathematics and `scipy.signal.convolve2d` use convolution. Deep-learning layers,
# minicnn's `Conv2D` included (and PyTorch's, and Keras's), compute a *correlation*
# and still call it convolution. This step computes both by hand and checks minicnn.
#
#     python examples/tutorial/02_convolution_by_hand.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import image as I
from minicnn import layers as L

from _common import Step, draw_matrix

step = Step("02_convolution_by_hand", "The double loop, the 180-degree flip and the 7x7 worked example")

# %% [markdown]
# ## The double loop
#
# For every output position (r, c): take the window of the image under the kernel,
# multiply element by element, sum. Without padding the kernel must stay inside the
# image, so a 7x7 image and a 3x3 kernel give 5x5 outputs ("valid").

# %%
def correlate_loop(x, k):
    """'valid' cross-correlation: out[r, c] = sum_ij k[i, j] * x[r + i, c + j]."""
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            window = x[r:r + kh, c:c + kw]
            out[r, c] = np.sum(k * window)
    return out


def convolve_loop(x, k):
    """'valid' convolution: the same loop with the kernel turned by 180 degrees."""
    return correlate_loop(x, k[::-1, ::-1])


# %% [markdown]
# ## Correlation vs convolution: a single bright pixel
#
# Put one 1 in a field of zeros (an "impulse"). Convolution copies the kernel onto
# it as written; correlation copies it turned by 180 degrees. That is the whole
# difference, and for symmetric kernels (blur, Laplacian) it disappears.

# %%
k = np.array([[-1, 1, -1],
              [-2, 3, 1],
              [2, -4, 0]], dtype=np.float64)
impulse = np.zeros((5, 5))
impulse[2, 2] = 1
conv_impulse = I.convolve2d(impulse, k, mode="same")
corr_impulse = I.correlate2d(impulse, k, mode="same")
print("convolve2d(impulse, k):\n", conv_impulse[1:4, 1:4])
print("correlate2d(impulse, k):\n", corr_impulse[1:4, 1:4])
step.check(np.array_equal(conv_impulse[1:4, 1:4], k), "convolving an impulse copies the kernel as written")
step.check(np.array_equal(corr_impulse[1:4, 1:4], k[::-1, ::-1]),
           "correlating an impulse copies the kernel turned by 180 degrees")

fig = step.plt.figure(figsize=(12, 4.0), layout="constrained")
axes = fig.subplots(1, 4)
draw_matrix(axes[0], impulse, "x: one bright pixel", signed=False)
draw_matrix(axes[1], k, "kernel k")
draw_matrix(axes[2], conv_impulse, "convolve2d(x, k, 'same')\n= k as written")
draw_matrix(axes[3], corr_impulse, "correlate2d(x, k, 'same')\n= k turned 180°")
fig.suptitle("The impulse response: convolution copies the kernel, correlation copies it rotated by 180°")
step.save(fig, "impulse.png")

# %% [markdown]
# ## The 7x7 worked example, four ways
#
# A classic tutorial prints the result of `scipy.signal.convolve2d(x, k, mode="same")`
# (zero padding, output as large as the input) for a 7x7 matrix; it starts and ends with
# the rows below (scipy's numbers, kept here as data). The 7x7 matrix of the numbers
# 1..49 with the kernel `k` above reproduces them exactly; for that matrix, `k` is the
# only kernel with integer weights below 100 that does (the two rows are 14 linear
# equations in the 9 weights).

# %%
x = np.arange(1, 50, dtype=np.float64).reshape(7, 7)
SCIPY_FIRST_ROW = [-2, -8, -7, -6, -5, -4, 28]       # scipy.signal.convolve2d(x, k, mode="same")[0]
SCIPY_LAST_ROW = [-29, 13, 13, 13, 13, 13, 27]       # ...[-1]
print(x.astype(int))

# %% [markdown]
# **1. The loop.** 'same' for a 3x3 kernel means one ring of zeros around the image
# (padding 1), then the valid loop with the turned kernel.

# %%
by_loop = convolve_loop(np.pad(x, 1), k)

# %% [markdown]
# **2. `image.convolve2d`**, minicnn's copy of `scipy.signal.convolve2d` (same modes, same boundaries).

# %%
by_convolve2d = I.convolve2d(x, k, mode="same")

# %% [markdown]
# **3. `image.correlate2d` with the flipped kernel**: convolution is correlation with
# `k[::-1, ::-1]` (for odd kernels also in 'same' mode; step 3 shows why even ones differ).

# %%
by_correlate2d = I.correlate2d(x, k[::-1, ::-1], mode="same")

# %% [markdown]
# **4. A `Conv2D` layer whose weight is the flipped kernel.** The layer works on
# batches (N, C, H, W), so the 7x7 matrix becomes shape (1, 1, 7, 7); its weight has
# shape (out channels, in channels, kh, kw) = (1, 1, 3, 3). `padding=1` is the ring of
# zeros (so is `padding="same"`). float64 keeps the integers exact.

# %%
conv = L.Conv2D(1, 1, kernel_size=3, padding=1, bias=False, dtype=np.float64)
conv.params["W"].data[...] = k[::-1, ::-1][None, None]
by_conv2d = conv.forward(x[None, None])[0, 0]

print(by_convolve2d.astype(int))
step.check(np.array_equal(by_convolve2d[0], SCIPY_FIRST_ROW) and np.array_equal(by_convolve2d[-1], SCIPY_LAST_ROW),
           f"image.convolve2d(x, k, 'same') has scipy's first row {SCIPY_FIRST_ROW} and last row {SCIPY_LAST_ROW}")
step.check(np.array_equal(by_loop, by_convolve2d), "the double loop gives exactly image.convolve2d")
step.check(np.array_equal(by_correlate2d, by_convolve2d), "image.correlate2d with k[::-1, ::-1] gives the same")
step.check(np.array_equal(by_conv2d, by_convolve2d), "Conv2D with W = k[::-1, ::-1] gives the same")

# %% [markdown]
# The trap: copy a scipy kernel into `Conv2D` *without* flipping it and you get a
# correlation with `k`, which is other numbers.

# %%
unflipped = I.correlate2d(x, k, mode="same")
print("correlate2d(x, k, 'same') first row:", unflipped[0].astype(int), "- not scipy's")
step.check(not np.array_equal(unflipped, by_convolve2d), "without the flip the numbers differ")

# %%
fig = step.plt.figure(figsize=(16, 5.0), layout="constrained")
axes = fig.subplots(1, 5, width_ratios=[7, 3, 3, 7, 7])
draw_matrix(axes[0], x, "x = 1..49 (7x7)", signed=False, fontsize=7)
draw_matrix(axes[1], k, "kernel k")
draw_matrix(axes[2], k[::-1, ::-1], "k[::-1, ::-1]\n(the Conv2D weight)")
draw_matrix(axes[3], by_convolve2d, "convolve2d(x, k, 'same')\n= loop = correlate2d(flipped) = Conv2D", fontsize=7)
draw_matrix(axes[4], unflipped, "correlate2d(x, k, 'same')\nno flip: other numbers", fontsize=7)
fig.suptitle("The 7x7 worked example: first row -2 -8 -7 -6 -5 -4 28, last row -29 13 13 13 13 13 27 "
             "(red positive, blue negative)")
step.save(fig, "worked_example.png")

# %%
step.done()
