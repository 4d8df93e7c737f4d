# %% [markdown]
# # Step 10: 1-D convolution - a moving average
#
# Everything so far works in one dimension too. A moving average replaces each value
# of a signal by the mean of its neighbourhood: it is a convolution with the kernel
# `np.ones(n) / n`. NumPy has it as `np.convolve`; minicnn's `image.convolve1d` has
# the same three modes:
#
# | mode | length | |
# |---|---|---|
# | `full` | N + M - 1 | every overlap, the kernel hanging over both ends |
# | `same` | max(N, M) | centred on the full result |
# | `valid` | max(N, M) - min(N, M) + 1 | only where the kernel lies inside the signal |
#
# `np.convolve` is a true convolution (it flips the kernel): `[1, -1]` gives
# `x[n] - x[n-1]`, the difference with the previous sample, as `np.diff`.
#
#     python examples/tutorial/10_convolution_1d.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import image as I

from _common import Step

step = Step("10_convolution_1d", "A moving average: np.convolve vs image.convolve1d")

# %%
rng = np.random.default_rng(0)
n = 120 if step.quick else 300
t = np.linspace(0, 3, n)
clean = 0.6 * np.sin(2 * np.pi * t / 1.5) + 2.0 * (t > 1.5)   # a slow wave, and a step up halfway
signal = clean + rng.normal(0, 0.3, n)

averages = {}
for width in (5, 15, 31):
    kernel = np.ones(width) / width
    for mode in ("full", "same", "valid"):
        ours, numpys = I.convolve1d(signal, kernel, mode=mode), np.convolve(signal, kernel, mode=mode)
        step.check(ours.shape == numpys.shape and np.allclose(ours, numpys, rtol=0, atol=1e-12),
                   f"width {width}, mode {mode}: convolve1d = np.convolve ({len(ours)} values)")
    averages[width] = I.convolve1d(signal, kernel, mode="same")

# %% [markdown]
# By hand: the 'valid' moving average is the mean of `signal[i:i + width]` for each
# start i. And a 1-D convolution is a 2-D one on an image one row high.

# %%
loop = np.array([signal[i:i + 15].mean() for i in range(n - 15 + 1)])
step.check_close(loop, I.convolve1d(signal, np.ones(15) / 15, mode="valid"), "the loop of means = convolve1d 'valid'")
step.check_close(I.convolve1d(signal, np.ones(15) / 15, mode="full"),
                 I.convolve2d(signal[None, :], np.ones((1, 15)) / 15, mode="full")[0],
                 "convolve1d = convolve2d on a (1, N) image")
step.check_close(I.convolve1d(signal, np.array([1.0, -1.0]), mode="valid"), np.diff(signal),
                 "convolve1d(x, [1, -1], 'valid') = np.diff(x): the kernel is flipped")
noise = signal - clean                   # averaging is linear: average(signal) = average(clean) + average(noise)
noise_after = I.convolve1d(noise, np.ones(15) / 15, mode="valid")
step.check(np.std(noise_after) < np.std(noise) / 2,
           f"a 15-point average cuts the noise's std from {np.std(noise):.3f} to {np.std(noise_after):.3f} "
           f"(about 1/sqrt(15))")

# %% [markdown]
# Smoothing first, then the difference `[1, -1]`: a 1-D edge detector (the idea of
# Sobel, step 6, in one dimension). The largest change per sample marks the step.

# %%
diff = I.convolve1d(averages[15], np.array([1.0, -1.0]), mode="valid")     # diff[i] = a[i + 1] - a[i]
found = t[1:][np.argmax(diff)]
step.check(abs(found - 1.5) < 0.05, f"the largest change of the smoothed signal is at t = {found:.3f}, the step (1.5)")

# %%
fig = step.plt.figure(figsize=(14, 7.5), layout="constrained")
axes = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
axes[0].plot(t, signal, ".", color="0.6", markersize=3, label="noisy signal")
axes[0].plot(t, clean, "k--", linewidth=1, label="clean signal")
for width, values in averages.items():
    axes[0].plot(t, values, linewidth=1.8, label=f"moving average of {width} (mode 'same')")
axes[0].set_ylabel("value")
axes[0].set_title("convolve1d(signal, np.ones(w) / w, 'same'): wider windows smooth more, but blur the step "
                  "and shrink towards 0 at the ends (zero padding)", fontsize=10)
axes[0].legend(fontsize=8, ncol=2)
axes[0].grid(True, alpha=0.3)
axes[1].plot(t[1:], diff, color="tab:purple")
axes[1].axhline(0, color="0.5", linewidth=0.8)
axes[1].set_xlabel("time t")
axes[1].set_ylabel("x[n] - x[n-1]")
axes[1].axvline(found, color="tab:red", linestyle=":", label=f"largest change, t = {found:.2f}")
axes[1].legend(fontsize=8)
axes[1].set_title("convolve1d(15-point average, [1, -1], 'valid'): the change per sample, a 1-D edge detector",
                  fontsize=10)
axes[1].grid(True, alpha=0.3)
step.save(fig, "moving_average.png")

# %%
step.done()
