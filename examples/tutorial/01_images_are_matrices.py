# %% [markdown]
# # Step 1: images are matrices
#
# A grayscale image is a 2-D array of numbers, one per pixel; a colour image is three
# such arrays stacked (red, green, blue). Everything a convolutional network does to
# a picture is arithmetic on these arrays, so we start by looking at them.
#
#     python examples/tutorial/01_images_are_matrices.py [--out DIR] [--quick]
#
# Writes `face.png`, `matrices.png` and `photo.png` into `--out` (default `runs/tutorial/01_images_are_matrices`).

# %%
import numpy as np

from minicnn import image as I

from _common import Step, draw_matrix  # also puts the repository root on sys.path

step = Step("01_images_are_matrices", "Images are matrices: uint8 pixels, RGB, [0, 1] floats")

# %% [markdown]
# ## A 10x10 uint8 matrix
#
# The classic picture format stores each pixel as an unsigned 8-bit integer,
# `uint8`: 0 is black, 255 is white. Here is a face drawn by hand, number by number.

# %%
face = np.full((10, 10), 30, dtype=np.uint8)       # dark background
face[1:9, 2:8] = 140                               # the head
face[2:8, 1:9] = 140
face[3, 3] = face[3, 6] = 255                      # the eyes
face[6, 3:7] = 60                                  # the mouth
face[5, 2] = face[5, 7] = 60
print(face)
print("shape", face.shape, "dtype", face.dtype, "values", face.min(), "..", face.max())

# %% [markdown]
# Written to a PNG file and read back, the same numbers come out, but `image.imread`
# returns them as floats in [0, 1] (divided by 255), the scale minicnn works in.
# `image.to_uint8(255 * x)` goes back to 0..255.

# %%
path = f"{step.out}/face.png"
I.imsave(path, face)                               # uint8 is taken as 0..255
back = I.imread(path)                              # a gray PNG reads back as RGBA, R = G = B
print("read back:", back.shape, back.dtype, f"values {back.min():.3f} .. {back.max():.3f}")
gray_back = I.to_grayscale(back)
step.check(np.array_equal(I.to_uint8(255 * gray_back), face),
           "imsave -> imread -> to_uint8(255 * x) gives the 10x10 uint8 matrix back exactly")

# %% [markdown]
# ## A 3x3x3 colour matrix
#
# A colour image has shape (H, W, 3): for each pixel a red, a green and a blue value.
# `image.to_grayscale` mixes them as the eye does (ITU-R BT.601 luma),
# `0.299 R + 0.587 G + 0.114 B`: green looks brightest, blue darkest.

# %%
rgb = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1]],          # red, green, blue
                [[1, 1, 0], [0, 1, 1], [1, 0, 1]],          # yellow, cyan, magenta
                [[0, 0, 0], [0.5, 0.5, 0.5], [1, 1, 1]]])   # black, gray, white
print("rgb shape", rgb.shape, "(H, W, channels)")
luma = I.to_grayscale(rgb)
by_hand = 0.299 * rgb[:, :, 0] + 0.587 * rgb[:, :, 1] + 0.114 * rgb[:, :, 2]
print(np.round(luma, 3))
step.check_close(luma, by_hand, "to_grayscale = 0.299 R + 0.587 G + 0.114 B")

# %% [markdown]
# minicnn's layers want the channels *first*, and a batch axis in front: (N, C, H, W),
# "NCHW", as PyTorch. Keras and matplotlib keep the channels last, (H, W, C).
# `np.transpose` moves the axis; no pixel changes.

# %%
nchw = rgb.transpose(2, 0, 1)[None]                # (1, 3, 3, 3): sample, channel, row, column
print("NCHW shape", nchw.shape)
step.check(all(nchw[0, c, r, col] == rgb[r, col, c] for r in range(3) for col in range(3) for c in range(3)),
           "nchw[0, c, row, col] == rgb[row, col, c] for every pixel and channel")

# %%
fig = step.plt.figure(figsize=(15, 4.6), layout="constrained")
axes = fig.subplots(1, 5, width_ratios=[2.2, 1.2, 1, 1, 1])
draw_matrix(axes[0], face, "10x10 uint8 matrix (0 black .. 255 white)", signed=False, vmax=255, fontsize=7)
axes[1].imshow(rgb, interpolation="nearest")
axes[1].set_title("3x3x3 RGB matrix, drawn", fontsize=9)
axes[1].set_xticks([])
axes[1].set_yticks([])
for c, name in enumerate(("red", "green", "blue")):
    draw_matrix(axes[2 + c], rgb[:, :, c], f"rgb[:, :, {c}]  ({name})", signed=False, vmax=1, fmt=".1f")
fig.suptitle("Images are matrices: each pixel is a number (gray) or three numbers (colour)")
step.save(fig, "matrices.png")

# %% [markdown]
# ## A photograph
#
# `image.sample_image()` is the photo of Grace Hopper that ships with matplotlib:
# 600 x 512 pixels, 3 channels, float32 in [0, 1]. The classic tutorials read the
# same file as uint8 0..255; the numbers differ by the factor 255 and nothing else.

# %%
photo = I.sample_image()
print(f"photo: shape {photo.shape}, dtype {photo.dtype}, values {photo.min():.3f} .. {photo.max():.3f}")
photo255 = I.to_uint8(255 * photo)
print(f"as 0..255: dtype {photo255.dtype}, values {photo255.min()} .. {photo255.max()}")
step.check(photo.shape == (600, 512, 3) and photo.dtype == np.float32, "the photo is (600, 512, 3) float32")
step.check(0 <= photo.min() and photo.max() <= 1, "its values lie in [0, 1]")
step.check_close(photo255 / 255, photo, "to_uint8(255 * photo) / 255 gives the photo back (JPEG is 8 bits)",
                 atol=1e-6)

# %%
gray = I.to_grayscale(photo)
fig = step.plt.figure(figsize=(15, 6.4), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[3, 1.5])
axes = top.subplots(1, 5)
axes[0].imshow(photo)
axes[0].set_title(f"photo {photo.shape}", fontsize=9)
for c, name in enumerate(("red", "green", "blue")):
    only = np.zeros_like(photo)
    only[:, :, c] = photo[:, :, c]                 # one channel kept, the other two set to 0
    axes[1 + c].imshow(only)
    axes[1 + c].set_title(f"photo[:, :, {c}] ({name} only)", fontsize=9)
axes[4].imshow(gray, cmap="gray", vmin=0, vmax=1)
axes[4].set_title("to_grayscale(photo) (H, W)", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
ax = bottom.subplots()
for c, colour in enumerate(("tab:red", "tab:green", "tab:blue")):
    ax.hist(photo[:, :, c].ravel(), bins=64, range=(0, 1), histtype="step", color=colour,
            label=("red", "green", "blue")[c])
ax.set_xlabel("pixel value in [0, 1], as image.imread and sample_image return it")
ax.set_ylabel("pixels")
ax.set_xlim(0, 1)
top255 = ax.secondary_xaxis("top", functions=(lambda v: 255 * v, lambda v: v / 255))
top255.set_xlabel("the same value as uint8, 0..255 (x 255)", fontsize=8)
ax.legend(fontsize=8)
fig.suptitle("A photo is three matrices: red, green and blue, each 600 x 512 values in [0, 1]")
step.save(fig, "photo.png")

# %%
step.done()
