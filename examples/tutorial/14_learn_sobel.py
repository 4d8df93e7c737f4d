# %% [markdown]
# # Step 14: a single filter learns Sobel
#
# A convolutional layer *learns* its kernels instead of being given them. The
# smallest experiment that shows it: one photo x, its Sobel-x response as the target,
#
#     target = image.correlate2d(x, sobel_x, mode="valid"),
#
# and one `Conv2D(1, 1, 3, bias=False)` starting from random weights. Train it to
# reproduce the target (mean squared error, SGD with momentum). The layer computes the
# same correlation, so the loss is a quadratic in the 9 weights whose only minimum is
# `sobel_x` itself: gradient descent must find it, to the last digits.
#
# The second run makes the target with `convolve2d` instead. The layer correlates, so
# it learns the kernel turned by 180 degrees, which for Sobel x is `-sobel_x`.
#
#     python examples/tutorial/14_learn_sobel.py [--out DIR] [--quick]

# %%
import numpy as np

import minicnn as mc
from minicnn import image as I
from minicnn import layers as L

from _common import Step, draw_image, draw_matrix

step = Step("14_learn_sobel", "One 3x3 Conv2D filter learns the Sobel kernel from one image")

# %% [markdown]
# The photo, shrunk to 64x64 by averaging 8x8 blocks (a faster and better-conditioned
# problem), and stretched to [0, 1].

# %%
gray = I.to_grayscale(I.sample_image()).astype(np.float64)
small = I.pool2d(gray, 8, mode="avg")[5:69]                    # 75x64 -> the middle 64x64
x = (small - small.min()) / (small.max() - small.min())
sobel_x = I.kernels.get("sobel_x")
steps = 1000 if step.quick else 2000
print("image", x.shape, "steps", steps)

# %% [markdown]
# ## The training loop, written out
#
# The four lines of every training step: forward, loss, backward, update.
# At step 0 we also check the gradient against the formula of step 13:
# for `L = mean((y - t)^2)`, `dL/dy = 2 (y - t) / N` and `dL/dW = correlate2d(x, dL/dy, 'valid')`.

# %%
def train(target, seed=0):
    mc.manual_seed(seed)
    conv = L.Conv2D(1, 1, 3, bias=False, dtype=np.float64)          # He-initialised: random
    initial = conv.params["W"].data[0, 0].copy()
    loss_fn = mc.losses.MSE()
    opt = mc.optim.SGD(conv.params.values(), lr=0.3, momentum=0.9)
    xb, tb = x[None, None], target[None, None]
    losses = []
    for t in range(steps + 1):
        y = conv.forward(xb, training=True)
        losses.append(loss_fn.forward(y, tb))
        if t == steps:
            break
        opt.zero_grad()
        conv.backward(loss_fn.backward(), input_grad=False)
        if t == 0:
            by_hand = I.correlate2d(x, 2 * (y[0, 0] - target) / target.size, mode="valid")
            step.check_close(conv.params["W"].grad[0, 0], by_hand,
                             "step 0: W.grad = correlate2d(x, 2 (y - t) / N) (step 13's formula)")
        opt.step()
    return initial, conv.params["W"].data[0, 0].copy(), np.array(losses)


target = I.correlate2d(x, sobel_x, mode="valid")
initial, learned, losses = train(target)
error = np.abs(learned - sobel_x).max()
print(np.round(learned, 6) + 0.0)                 # + 0.0 turns -0.0 into 0.0
step.check(error < 1e-6, f"after {steps} steps the learned kernel is sobel_x, max |error| {error:.1e}")
step.check(losses[-1] < 1e-10 * losses[0], f"the loss fell from {losses[0]:.3g} to {losses[-1]:.1e}")

# %% [markdown]
# ## A target made by convolution
#
# `convolve2d(x, sobel_x)` is the correlation with `sobel_x[::-1, ::-1]`, which is
# `-sobel_x` (turning Sobel x by 180° flips its sign). The filter learns that.

# %%
target_conv = I.convolve2d(x, sobel_x, mode="valid")
_, learned_conv, losses_conv = train(target_conv, seed=1)
error_conv = np.abs(learned_conv - sobel_x[::-1, ::-1]).max()
step.check(np.array_equal(sobel_x[::-1, ::-1], -sobel_x) and error_conv < 1e-6,
           f"from a convolve2d target the filter learns sobel_x[::-1, ::-1] = -sobel_x, max |error| {error_conv:.1e}")

# %%
fig = step.plt.figure(figsize=(16, 8.4), layout="constrained")
axes = fig.subplot_mosaic([["curve", "curve", "initial", "learned", "conv"],
                           ["curve", "curve", "input", "target", "output"]])
floor = np.finfo(np.float64).tiny
axes["curve"].semilogy(np.maximum(losses, floor), label="target = correlate2d(x, sobel_x)")
axes["curve"].semilogy(np.maximum(losses_conv, floor), "--", label="target = convolve2d(x, sobel_x)")
axes["curve"].set_xlabel("training step (SGD, lr 0.3, momentum 0.9)")
axes["curve"].set_ylabel("MSE loss (log scale)")
axes["curve"].set_title("The loss falls by a constant factor per step, down to rounding", fontsize=10)
axes["curve"].grid(True, alpha=0.3)
axes["curve"].legend(fontsize=8)
draw_matrix(axes["initial"], np.round(initial, 2), "initial W (random)", signed=True, vmax=2)
draw_matrix(axes["learned"], np.round(learned, 3) + 0.0, f"learned W after {steps} steps\n= sobel_x", signed=True,
            vmax=2, fmt=".3f")
draw_matrix(axes["conv"], np.round(learned_conv, 3) + 0.0, "learned from the convolve2d\ntarget: -sobel_x",
            signed=True, vmax=2, fmt=".3f")
draw_image(axes["input"], x, f"input x ({x.shape[0]}x{x.shape[1]})")
draw_image(axes["target"], target, "target: correlate2d(x, sobel_x, 'valid')", signed=True)
output = I.correlate2d(x, learned, mode="valid")
draw_image(axes["output"], output, f"the trained filter's output\n(max |output - target| "
           f"{np.abs(output - target).max():.0e})", signed=True)
fig.suptitle("One 3x3 Conv2D filter, trained on one image, finds the Sobel kernel (kernels and maps: "
             "red +, blue -)")
step.save(fig, "learn_sobel.png")

# %%
step.done(max_error=float(error), max_error_convolve_target=float(error_conv))
