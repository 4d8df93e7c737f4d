# %% [markdown]
# # Step 6: edges - Sobel, and whose sign is whose
#
# An edge is where brightness changes fast. The Sobel kernels measure that change:
# `sobel_x` a difference between the column to the right and the one to the left
# (smoothed over three rows with weights 1 2 1), `sobel_y` the same downwards:
#
#     sobel_x = [[-1, 0, 1],        sobel_y = [[-1, -2, -1],
#                [-2, 0, 2],                   [ 0,  0,  0],
#                [-1, 0, 1]]                   [ 1,  2,  1]]      (= sobel_x.T)
#
# `image.sobel(x)` correlates with both (mode 'same', mirrored border) and returns
# `gx`, `gy` and the magnitude `sqrt(gx^2 + gy^2)`, which does not care about direction.
#
# **Signs.** In minicnn `gx > 0` where the image gets brighter to the right (growing
# column index) and `gy > 0` where it gets brighter *downwards* (growing row index, the
# way image rows are numbered). Tutorials differ, in two ways that each flip a sign:
#
# 1. The textbook writes `Gy = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]` (and
#    `Gx = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]`) for a true *convolution*. Convolution
#    turns the kernel by 180 degrees, which gives back minicnn's kernels: the results agree.
# 2. But a tutorial that applies those textbook kernels with a *correlation* (as
#    `Conv2D`, `cv2.filter2D` or `scipy.ndimage.correlate` do) gets `-gy` and `-gx`.
#    Likewise one that writes Gy "positive upwards", for a y axis pointing up.
#
# The magnitude is the same in every convention.
#
#     python examples/tutorial/06_edges.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import image as I
from minicnn import layers as L

from _common import Step, draw_image, draw_matrix

step = Step("06_edges", "Sobel x and y, the gradient magnitude, and sign conventions")

sobel_x, sobel_y = I.kernels.get("sobel_x"), I.kernels.get("sobel_y")
step.check(np.array_equal(sobel_y, sobel_x.T), "sobel_y is sobel_x transposed")

# %% [markdown]
# ## On a drawn square: which side is positive
#
# A bright square on a dark background. Going right, brightness rises at the
# square's left side (gx > 0, red) and falls at its right side (gx < 0, blue). Going
# down, it rises at the top side (gy > 0) and falls at the bottom side.

# %%
square = np.zeros((40, 40))
square[12:28, 10:30] = 1.0
gx, gy, magnitude = I.sobel(square)
step.check(gx[20, 10] > 0 and gx[20, 29] < 0, "gx is positive on the square's left side, negative on its right")
step.check(gy[12, 20] > 0 and gy[27, 20] < 0, "gy is positive on the square's top side, negative on its bottom")
step.check_close(gx, I.correlate2d(square, sobel_x, mode="same", boundary="symm"),
                 "image.sobel's gx = correlate2d(x, sobel_x, 'same', 'symm')")
step.check_close(magnitude, np.sqrt(gx ** 2 + gy ** 2), "magnitude = sqrt(gx^2 + gy^2)")

# %% [markdown]
# On the ramps `x[r, c] = c` and `x[r, c] = r` (brightness growing by 1 per pixel),
# Sobel gives 8 everywhere: the difference over two pixels (2) times the weights
# 1 + 2 + 1 = 4. (Divide by 8 for the derivative itself.) The double loop agrees.

# %%
rows, cols = np.mgrid[0:12, 0:12].astype(np.float64)
step.check(np.all(I.correlate2d(cols, sobel_x, "valid") == 8) and np.all(I.correlate2d(rows, sobel_y, "valid") == 8),
           "on a ramp growing by 1 per pixel, Sobel gives 8 (= 2 pixels x weights 1+2+1)")
photo = I.to_grayscale(I.sample_image()).astype(np.float64)
if step.quick:
    photo = I.pool2d(photo, 2, mode="avg")
crop = photo[150:190, 200:240]
loop = np.array([[np.sum(sobel_y * crop[r:r + 3, c:c + 3]) for c in range(38)] for r in range(38)])
step.check_close(loop, I.sobel(crop)[1][1:-1, 1:-1], "the double loop with sobel_y = image.sobel's gy inside the image")

# %% [markdown]
# ## The conventions, checked

# %%
textbook_gx = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
textbook_gy = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)
gx, gy, magnitude = I.sobel(photo)
conv_gy = I.convolve2d(photo, textbook_gy, mode="same", boundary="symm")
corr_gy = I.correlate2d(photo, textbook_gy, mode="same", boundary="symm")
step.check_close(conv_gy, gy, "convolve2d with the textbook Gy = minicnn's gy (the 180° turn undoes the sign)")
step.check_close(corr_gy, -gy, "correlate2d (or Conv2D) with the textbook Gy = -gy")
conv = L.Conv2D(1, 1, 3, bias=False, dtype=np.float64)       # no padding: the 'valid' part
conv.params["W"].data[0, 0] = textbook_gy
step.check_close(conv.forward(photo[None, None])[0, 0], -gy[1:-1, 1:-1], "Conv2D with W = textbook Gy gives -gy too")
step.check_close(I.correlate2d(photo, textbook_gx, "same", "symm"), -gx, "correlate2d with the textbook Gx = -gx")
step.check_close(np.hypot(I.correlate2d(photo, textbook_gx, "same", "symm"), corr_gy), magnitude,
                 "the magnitude is the same either way")

# %% [markdown]
# Two more kernels whose signs differ between tutorials:
#
# - `diagonal_edges = [[1, 0, -1], [0, 0, 0], [-1, 0, 1]]` is the outer product of the
#   difference `[1, 0, -1]` with itself, i.e. 4 x the mixed derivative d²/(dr dc): it
#   lights up where the picture changes along the diagonals, as at corners. Some
#   tutorials print it mirrored, `[[-1, 0, 1], [0, 0, 0], [1, 0, -1]]`, which is
#   `-diagonal_edges`. (Turning it by 180° changes nothing, so convolution and
#   correlation agree for it: only the sign differs.)
# - `laplacian4 = [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]` is the centre minus its 4
#   neighbours: the *negative* of the mathematical Laplacian
#   `[[0, 1, 0], [1, -4, 1], [0, 1, 0]]` that other tutorials use. On `r² + c²`, whose
#   Laplacian is 4, it gives -4.

# %%
diag = I.kernels.get("diagonal_edges")
mirrored = diag[:, ::-1]
step.check(np.array_equal(diag, np.outer([1, 0, -1], [1, 0, -1])), "diagonal_edges = outer([1, 0, -1], [1, 0, -1])")
step.check(np.all(I.correlate2d(rows * cols, diag, "valid") == 4),
           "on x = r * c (mixed derivative 1) diagonal_edges gives 4 everywhere")
step.check(np.array_equal(mirrored, -diag) and np.array_equal(diag[::-1, ::-1], diag),
           "the mirrored tutorial kernel is -diagonal_edges; a 180° turn leaves it unchanged")
lap4 = I.kernels.get("laplacian4")
math_laplacian = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
step.check(np.array_equal(lap4, -math_laplacian) and np.all(I.correlate2d(rows ** 2 + cols ** 2, lap4, "valid") == -4),
           "laplacian4 = -[[0, 1, 0], [1, -4, 1], [0, 1, 0]]; on r² + c² (Laplacian 4) it gives -4")

# %%
fig = step.plt.figure(figsize=(16, 8.4), layout="constrained")
axes = fig.subplots(2, 4)
sq_gx, sq_gy, sq_mag = I.sobel(square)
draw_image(axes[0, 0], square, "a bright square (40x40)")
draw_image(axes[0, 1], sq_gx, "gx: + where brighter to the right", signed=True, fig=fig, percentile=100)
draw_image(axes[0, 2], sq_gy, "gy: + where brighter downwards", signed=True, fig=fig, percentile=100)
shown = axes[0, 3].imshow(sq_mag, cmap="magma", vmin=0, interpolation="nearest")
fig.colorbar(shown, ax=axes[0, 3], shrink=0.8, pad=0.02)
axes[0, 3].set_title("magnitude sqrt(gx² + gy²)", fontsize=9)
h, w = photo.shape
face = (slice(h // 5, h // 5 + h * 2 // 5), slice(w // 4, w // 4 + h * 2 // 5))
draw_image(axes[1, 0], photo[face], "photo (the face)")
draw_image(axes[1, 1], gx[face], "gx", signed=True, fig=fig)
draw_image(axes[1, 2], gy[face], "gy", signed=True, fig=fig)
top = float(np.percentile(magnitude[face], 99.5))
shown = axes[1, 3].imshow(magnitude[face], cmap="magma", vmin=0, vmax=top, interpolation="nearest")
fig.colorbar(shown, ax=axes[1, 3], shrink=0.8, pad=0.02)
axes[1, 3].set_title("magnitude", fontsize=9)
for ax in axes[:, 3]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("image.sobel: gx and gy are signed (red +, blue -, centred on 0), the magnitude is not "
             "(black 0 .. bright large)")
step.save(fig, "sobel.png")

# %%
fig = step.plt.figure(figsize=(16, 7.8), layout="constrained")
grid = fig.subfigures(2, 1, height_ratios=[1, 1.35])
axes = grid[0].subplots(1, 6)
for ax, (k, title) in zip(axes, ((sobel_y, "minicnn sobel_y\n(positive downwards)"),
                                 (textbook_gy, "textbook Gy\n(for convolution)"),
                                 (diag, "minicnn diagonal_edges"), (mirrored, "mirrored, in some tutorials\n= -diagonal_edges"),
                                 (lap4, "minicnn laplacian4\n(centre minus neighbours)"),
                                 (math_laplacian, "mathematical Laplacian\n= -laplacian4"))):
    draw_matrix(ax, k, title)
axes = grid[1].subplots(1, 3)
draw_image(axes[0], gy[face], "correlate2d(x, sobel_y) = image.sobel's gy", signed=True, fig=fig)
draw_image(axes[1], conv_gy[face], "convolve2d(x, textbook Gy): the same", signed=True, fig=fig)
draw_image(axes[2], corr_gy[face], "correlate2d / Conv2D with textbook Gy: -gy", signed=True, fig=fig)
fig.suptitle("Sign conventions: the same edges, with opposite colours when a kernel is correlated "
             "that was written for convolution")
step.save(fig, "conventions.png")

# %%
step.done()
