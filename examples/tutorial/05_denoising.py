# %% [markdown]
# # Step 5: denoising - median vs mean
#
# Two kinds of noise, two kinds of filter:
#
# - **salt-and-pepper** noise sets a few pixels to pure black or white; a
#   **median** filter (the middle value of each 3x3 window, once sorted) ignores such
#   outliers, while a **mean** filter smears each one over its 3x3 neighbours;
# - **Gaussian** noise adds a small random number to every pixel; here averaging
#   is what helps, and a Gaussian blur weights the near neighbours most.
#
# The score is the PSNR, the peak signal-to-noise ratio in decibels (higher is better):
# `10 log10(peak^2 / MSE)`, with peak 1 on minicnn's [0, 1] scale (255 on 0..255,
# which gives the same number).
#
# A median is not a convolution (no weights, no sum), but it slides over the same
# windows: `image.median_filter` uses the same window view as `Conv2D`.
#
#     python examples/tutorial/05_denoising.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import image as I

from _common import Step, draw_image, draw_matrix

step = Step("05_denoising", "Salt-and-pepper vs Gaussian noise; median vs mean; PSNR; borders")

# %%
clean = I.to_grayscale(I.sample_image()).astype(np.float64)
if step.quick:
    clean = I.pool2d(clean, 2, mode="avg")
print("photo", clean.shape)


def psnr(reference, image, peak=1.0):
    """Peak signal-to-noise ratio in dB: 10 log10(peak^2 / mean squared error)."""
    mse = np.mean((image - reference) ** 2)
    return 10 * np.log10(peak ** 2 / mse)


salty = I.add_salt_and_pepper(clean, 0.1, rng=0)          # 10% of the pixels black or white
noisy = I.add_gaussian_noise(clean, 0.1, rng=1)            # + N(0, 0.1^2) on every pixel
step.check(abs(psnr(255 * clean, 255 * salty, peak=255) - psnr(clean, salty)) < 1e-9,
           "PSNR is the same on 0..255 (peak 255) and on [0, 1] (peak 1)")

# %% [markdown]
# ## Median, mean and Gaussian filters on both noises

# %%
def median3(x):
    return I.median_filter(x, 3)                                          # mode="reflect"


def mean3(x):
    return I.correlate2d(x, I.kernels.get("box_blur"), mode="same", boundary="symm")


def gauss5(x):
    return I.correlate2d(x, I.gaussian_kernel(5, 1.0), mode="same", boundary="symm")


FILTERS = (("median 3x3", median3), ("mean 3x3", mean3), ("Gaussian 5x5, sigma 1", gauss5))
scores = {}
print(f"{'PSNR (dB)':22s} {'noisy':>7s}" + "".join(f"{name:>24s}" for name, _ in FILTERS))
for noise_name, image in (("salt and pepper 10%", salty), ("Gaussian sigma 0.1", noisy)):
    scores[noise_name] = {"noisy": psnr(clean, image)}
    for name, f in FILTERS:
        scores[noise_name][name] = psnr(clean, f(image))
    print(f"{noise_name:22s}" + "".join(f"{v:{7 if k == 'noisy' else 24}.2f}" for k, v in scores[noise_name].items()))
sp = scores["salt and pepper 10%"]
step.check(sp["median 3x3"] > sp["mean 3x3"] + 5,
           f"on salt and pepper the median wins: {sp['median 3x3']:.1f} dB against the mean's {sp['mean 3x3']:.1f} dB")
ga = scores["Gaussian sigma 0.1"]
step.check(ga["Gaussian 5x5, sigma 1"] > ga["noisy"] + 3,
           f"on Gaussian noise a Gaussian blur helps: {ga['noisy']:.1f} -> {ga['Gaussian 5x5, sigma 1']:.1f} dB")

# %% [markdown]
# The median by hand: sort the 9 values of each window and take the 5th. In the
# interior of the image (where the window fits) the loop and `image.median_filter`
# agree exactly, whatever the border mode.

# %%
crop = salty[200:240, 150:190]
loop = np.zeros((38, 38))
for r in range(38):
    for c in range(38):
        loop[r, c] = np.sort(crop[r:r + 3, c:c + 3].ravel())[4]
for mode in ("reflect", "nearest", "constant"):
    step.check(np.array_equal(loop, I.median_filter(crop, 3, mode=mode)[1:-1, 1:-1]),
               f"the sorting loop = median_filter(mode='{mode}') inside the image")

# %%
h, w = clean.shape
zoom = (slice(h // 4, h // 4 + h // 4), slice(w // 4, w // 4 + w // 4))       # the face
fig = step.plt.figure(figsize=(16, 8.6), layout="constrained")
axes = fig.subplots(2, 4)
for row, (noise_name, image) in enumerate((("salt and pepper 10%", salty), ("Gaussian sigma 0.1", noisy))):
    draw_image(axes[row, 0], image[zoom], f"{noise_name}\nPSNR {scores[noise_name]['noisy']:.1f} dB")
    for col, (name, f) in enumerate(FILTERS, start=1):
        best = max(scores[noise_name], key=scores[noise_name].get) == name
        draw_image(axes[row, col], f(image)[zoom], f"{name}\nPSNR {scores[noise_name][name]:.1f} dB"
                   + ("  (best)" if best else ""))
fig.suptitle("Denoising, zoomed in on the face (PSNR against the clean photo, higher is better): the median "
             "removes salt and pepper and keeps edges;\nthe mean smears every outlier over 9 pixels; "
             "Gaussian noise calls for averaging")
step.save(fig, "denoise.png")

# %% [markdown]
# ## Borders
#
# At the image's edge the 3x3 window hangs over. `median_filter` extends the image
# as `mode` says: `reflect` (mirrored: d c b a | a b c d), `nearest` (the edge pixel
# repeated: a a a a | a b c d) or `constant` (zeros: 0 0 0 0 | a b c d). A common hand
# loop instead cuts the window off at the border, so it shrinks there: 6 pixels on an
# edge, 4 in a corner, where `np.median` averages the two middle values.
#
# With `constant`, the zeros are black pixels: a corner window holds 5 of them out of 9,
# so every corner of a positive image becomes 0. For a 3x3 window `reflect` and
# `nearest` coincide (both repeat the edge pixel once); from 5x5 on they differ.

# %%
m = np.array([[9, 8, 7, 6, 5, 4],
              [8, 7, 6, 5, 4, 3],
              [7, 6, 9, 9, 3, 2],
              [6, 5, 9, 9, 2, 1],
              [5, 4, 3, 2, 1, 1],
              [4, 3, 2, 1, 1, 9]], dtype=np.float64)
shrinking = np.zeros_like(m)
for r in range(6):
    for c in range(6):
        shrinking[r, c] = np.median(m[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2])
by_mode = {mode: I.median_filter(m, 3, mode=mode) for mode in ("reflect", "nearest", "constant")}
for mode, result in by_mode.items():
    step.check(np.array_equal(result[1:-1, 1:-1], shrinking[1:-1, 1:-1]),
               f"mode '{mode}' and the shrinking window agree inside")
step.check(np.all(by_mode["constant"][[0, 0, -1, -1], [0, -1, 0, -1]] == 0),
           "with mode 'constant' the four corners become 0 (5 of the 9 values are padding zeros)")
step.check(np.array_equal(by_mode["reflect"], by_mode["nearest"])
           and not np.array_equal(I.median_filter(m, 5, mode="reflect"), I.median_filter(m, 5, mode="nearest")),
           "reflect and nearest agree for 3x3 windows and differ for 5x5 ones")
step.check(shrinking[0, 0] == np.median([9, 8, 8, 7]),
           "the shrinking window's corner is the median of the 4 pixels it keeps")
for name, result in (("shrinking window", shrinking), *by_mode.items()):
    print(f"{name:16s} first row {result[0]}")

# %%
fig = step.plt.figure(figsize=(16, 3.9), layout="constrained")
axes = fig.subplots(1, 5)
draw_matrix(axes[0], m, "image (6x6)", signed=False, vmax=9)
draw_matrix(axes[1], shrinking, "hand loop: window cut off\nat the border (np.median)", signed=False, vmax=9,
            fmt=".1f")
for ax, (mode, result) in zip(axes[2:], by_mode.items()):
    draw_matrix(ax, result, f"median_filter(mode='{mode}')", signed=False, vmax=9)
fig.suptitle("3x3 median at the borders: the inner 4x4 is the same everywhere; the frame depends on "
             "what lies beyond the image")
step.save(fig, "borders.png")

# %%
step.done(psnr=scores)
