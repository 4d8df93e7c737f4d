# %% [markdown]
# # Step 8: colour - channels, layouts and clipping back to uint8
#
# A colour image has three channels. An image filter treats them one at a time:
# the same 2-D kernel slides over red, green and blue separately. A convolution
# *layer* is more general: each output channel sums over *all* input channels,
# with its own kernel per input channel, so its weight has shape
# (out channels, in channels, kh, kw) - "OIHW".
#
# Layouts. matplotlib, `image.imread` and Keras keep the channels last: an image is
# (H, W, C), a batch (N, H, W, C) ("NHWC"), and a Keras kernel is (kh, kw, in, out)
# ("HWIO"). minicnn (like PyTorch) puts them first: (N, C, H, W) and (O, I, kh, kw).
# Two transposes translate:
#
#     x_nchw = x_nhwc.transpose(0, 3, 1, 2)
#     W_oihw = W_hwio.transpose(3, 2, 0, 1)
#
#     python examples/tutorial/08_colour.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import image as I
from minicnn import layers as L

from _common import Step, draw_image

step = Step("08_colour", "Convolution per channel, (H, W, 3) vs NCHW, clipping back to uint8")

photo = I.sample_image().astype(np.float64)                    # (600, 512, 3) in [0, 1]
if step.quick:
    photo = I.pool2d(photo, 2, mode="avg")
print("photo", photo.shape, "(H, W, C)")
sharpen = I.kernels.get("sharpen")

# %% [markdown]
# ## One kernel, three channels
#
# `correlate2d` on an (H, W, 3) image filters each channel with the same kernel.

# %%
sharp = I.correlate2d(photo, sharpen, mode="same", boundary="symm")
per_channel = np.stack([I.correlate2d(photo[:, :, c], sharpen, mode="same", boundary="symm") for c in range(3)],
                       axis=-1)
step.check(sharp.shape == photo.shape, "colour in, colour out: (H, W, 3)")
step.check(np.array_equal(sharp, per_channel), "correlate2d on (H, W, 3) = correlate2d on each channel, stacked")

# %% [markdown]
# ## The same with a Conv2D layer
#
# Move the channels first and add the batch axis: (1, 3, H, W). A `Conv2D(3, 3, 3)`
# whose weight holds `sharpen` where output channel = input channel, and zeros
# elsewhere, filters each channel by itself ("depthwise"). A `Conv2D(3, 1, 3)` with
# `sharpen` for every input channel adds the three results: that is what a layer
# normally does. And the grayscale conversion is a 1x1 convolution with weights
# 0.299, 0.587, 0.114.

# %%
x = photo.transpose(2, 0, 1)[None]                              # (1, 3, H, W)
depthwise = L.Conv2D(3, 3, 3, padding=1, bias=False, dtype=np.float64)
depthwise.params["W"].data[...] = 0
for c in range(3):
    depthwise.params["W"].data[c, c] = sharpen
zero_pad = I.correlate2d(photo, sharpen, mode="same")          # Conv2D pads with zeros: boundary 'fill'
step.check_close(depthwise.forward(x)[0].transpose(1, 2, 0), zero_pad,
                 "Conv2D(3, 3) with W[c, c] = sharpen, 0 elsewhere = correlate2d per channel (zero border)")
summing = L.Conv2D(3, 1, 3, padding=1, bias=False, dtype=np.float64)
summing.params["W"].data[0] = sharpen
step.check_close(summing.forward(x)[0, 0], zero_pad.sum(axis=-1),
                 "Conv2D(3, 1) with W[0, c] = sharpen adds the three filtered channels")
to_gray = L.Conv2D(3, 1, 1, bias=False, dtype=np.float64)
to_gray.params["W"].data[0, :, 0, 0] = [0.299, 0.587, 0.114]
step.check_close(to_gray.forward(x)[0, 0], I.to_grayscale(photo), "to_grayscale = a 1x1 Conv2D(3, 1)")

# %% [markdown]
# ## Coming from Keras: NHWC and HWIO
#
# A Keras `Conv2D` computes `y[n, r, c, o] = sum_{i, j, ch} x[n, r + i, c + j, ch] * K[i, j, ch, o]`
# on (N, H, W, C) images with an (kh, kw, in, out) kernel (no flip: also a correlation).
# Written out with `np.einsum` over the taps, and compared with minicnn after the two
# transposes:

# %%
rng = np.random.default_rng(0)
x_nhwc = rng.random((2, 9, 10, 3))                             # 2 images, 9x10, 3 channels
k_hwio = rng.standard_normal((3, 3, 3, 4))                     # 3x3, 3 in, 4 out
keras_like = np.zeros((2, 7, 8, 4))
for i in range(3):
    for j in range(3):
        keras_like += np.einsum("nrcx,xo->nrco", x_nhwc[:, i:i + 7, j:j + 8, :], k_hwio[i, j])
layer = L.Conv2D(3, 4, 3, bias=False, dtype=np.float64)
layer.params["W"].data[...] = k_hwio.transpose(3, 2, 0, 1)    # HWIO -> OIHW
ours = layer.forward(x_nhwc.transpose(0, 3, 1, 2))             # NHWC -> NCHW
step.check_close(ours.transpose(0, 2, 3, 1), keras_like, "Keras-style NHWC/HWIO = minicnn after the two transposes",
                 atol=1e-12)

# %% [markdown]
# ## Back to uint8: clip, don't wrap
#
# Sharpening overshoots: some values fall below 0 or above 1 (below 0 or above 255 on
# the 8-bit scale). `image.to_uint8(255 * y)` clips them to 0..255 and rounds. Storing
# them in uint8 *without* clipping wraps around instead: uint8 arithmetic counts
# modulo 256, so 256 becomes 0 (a bright pixel turns black) and -1 becomes 255.
# NumPy does that silently for arrays.

# %%
outside = np.mean((sharp < 0) | (sharp > 1))
print(f"sharpened: values {sharp.min():.3f} .. {sharp.max():.3f}; {outside:.1%} outside [0, 1]")
clipped = I.to_uint8(255 * sharp)
wrapped = np.mod(np.rint(255 * sharp).astype(np.int64), 256).astype(np.uint8)   # what uint8 arithmetic does
step.check(np.array_equal(clipped, np.clip(np.rint(255 * sharp), 0, 255).astype(np.uint8)),
           "to_uint8(255 * y) = clip to 0..255, round, uint8")
u8 = np.array([200, 100, 5], dtype=np.uint8)
step.check(np.array_equal(u8 + u8, [144, 200, 10]), "uint8 arrays wrap silently: 200 + 200 = 144 (400 - 256)")
minmax = (sharp - sharp.min()) / (sharp.max() - sharp.min())

# %%
h, w = photo.shape[:2]
face = (slice(h // 5, h // 5 + h * 2 // 5), slice(w // 4, w // 4 + h * 2 // 5))
fig = step.plt.figure(figsize=(16, 9), layout="constrained")
axes = fig.subplots(2, 4)
draw_image(axes[0, 0], photo[face], f"photo (H, W, 3) = {photo.shape}, the face")
for c, name in enumerate(("red", "green", "blue")):
    draw_image(axes[0, 1 + c], (sharp - photo)[face][:, :, c],
               f"what sharpen adds to the {name} channel\n(sharpen(x) - x, signed)", signed=True, fig=fig)
axes[1, 0].imshow(clipped)
axes[1, 0].set_title("to_uint8(255 * y): clipped (the right way)", fontsize=9)
axes[1, 1].imshow(wrapped)
axes[1, 1].set_title("stored as uint8 without clipping: wraps\n(bright overshoots turn dark, dark ones bright)",
                     fontsize=9)
axes[1, 2].imshow(minmax)
axes[1, 2].set_title("min-max rescaled to [0, 1]:\nno clipping, but the whole picture grayer", fontsize=9)
zoom = (slice(h // 5, h // 5 + h // 6), slice(w // 3, w // 3 + h // 6))
axes[1, 3].imshow(np.concatenate([clipped[zoom], wrapped[zoom]], axis=1), interpolation="nearest")
axes[1, 3].set_title("zoom on the glasses: clipped | wrapped", fontsize=9)
for ax in axes[1]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Colour: the sharpen kernel works on each channel separately (top: the detail it adds per "
             "channel; red +, blue -);\nthree ways back to a displayable uint8 picture (bottom)")
step.save(fig, "colour.png")

# %%
step.done(outside_fraction=float(outside))
