# %% [markdown]
# # Step 11: feature maps - what the filters of a CNN see
#
# A `Conv2D(1, 16, 3)` layer is 16 kernels side by side. Each one slides over the
# input and produces one **feature map**: the input as that kernel sees it. Stacked,
# the 16 maps are the layer's output, (16, H, W) per image.
#
# 1. Untrained: 16 random (He-initialised) 3x3 filters on a photo. Random kernels are
#    already a mix of blurs and edge detectors, just not useful ones.
# 2. Trained: a small CNN learns its filters on MNIST. `viz.plot_filters` shows the
#    kernels, `viz.plot_feature_maps` the maps after every ReLU and pooling layer.
#    The step prints how far training moved the first layer's kernels from their
#    random start.
# 3. One filter across several images: the same kernel responds to the same kind of
#    stroke wherever, and in whichever digit, it occurs.
#
# Needs MNIST (`minicnn.data.load_mnist()` looks in `$MINICNN_DATA/mnist` and the
# user cache, and downloads it once when it is missing).
#
#     python examples/tutorial/11_feature_maps.py [--out DIR] [--quick]

# %%
import numpy as np

import minicnn as mc
from minicnn import image as I
from minicnn import layers as L
from minicnn import viz

from _common import Step, draw_image

step = Step("11_feature_maps", "Untrained and trained filters, their feature maps, one filter on many digits")

# %% [markdown]
# ## 16 untrained filters on a photo

# %%
photo = I.to_grayscale(I.sample_image())                       # float32 (600, 512)
photo = I.pool2d(photo, 4, mode="avg")                          # (150, 128): 4x4 block means
mc.manual_seed(0)
conv = L.Conv2D(1, 16, 3, padding=1)                            # 16 random 3x3 kernels, zero bias
untrained = mc.Sequential([conv])
maps = untrained.forward(photo[None, None])[0]                  # (16, 150, 128)
W, b = conv.params["W"].data, conv.params["b"].data
by_hand = np.stack([I.correlate2d(photo, W[k, 0], mode="same") + b[k] for k in range(16)])
step.check(maps.shape == (16, *photo.shape), f"Conv2D(1, 16, 3, padding=1) on a {photo.shape} photo: 16 maps")
step.check_close(maps, by_hand, "each map = correlate2d(photo, W[k, 0], 'same') + b[k]", atol=1e-5)

fig = viz.plot_filters(conv)
fig.suptitle("16 untrained Conv2D filters (He-initialised): W (16, 1, 3, 3); red +, blue -", fontsize=10)
step.save(fig, "untrained_filters.png")
# The maps are signed (a filter's response can be negative): drawn on a diverging map centred on 0.
balance = W.sum(axis=(1, 2, 3)) / np.abs(W).sum(axis=(1, 2, 3))      # +-1: all weights one sign; 0: balanced
fig = step.plt.figure(figsize=(16, 5.6), layout="constrained")
axes = fig.subplots(2, 9)
draw_image(axes[0, 0], photo, f"input {photo.shape}")
axes[1, 0].axis("off")
for k, ax in enumerate(axes[:, 1:].ravel()):
    draw_image(ax, maps[k], f"map #{k}\nΣW / Σ|W| = {balance[k]:+.2f}", signed=True)
fig.suptitle("The photo through the 16 untrained filters (each map signed: red +, blue -, white 0; own scale).\n"
             "Filters whose weights mostly share a sign (ΣW / Σ|W| near ±1) copy the brightness or its negative; "
             "those whose weights sum to about 0 find edges", fontsize=11)
step.save(fig, "untrained_maps.png")

# %% [markdown]
# ## A trained MNIST CNN
#
# Two blocks of [3x3 convolution, ReLU, 2x2 max pooling] with 8 and 16 filters, then a
# dense layer to the 10 digits: small enough that every map can be looked at.

# %%
(x_train, y_train), (x_test, y_test) = mc.data.load_mnist()
limit = 3000 if step.quick else len(x_train)
x = (x_train[:limit].astype(np.float32) / 255)[:, None]          # (N, 1, 28, 28) in [0, 1]
xt = (x_test[:2000].astype(np.float32) / 255)[:, None]
mc.manual_seed(1)
model = mc.Sequential([
    L.Conv2D(1, 8, 3, padding=1), L.ReLU(), L.MaxPool2D(2),        # (8, 14, 14)
    L.Conv2D(8, 16, 3, padding=1), L.ReLU(), L.MaxPool2D(2),       # (16, 7, 7)
    L.Flatten(), L.Dense(16 * 7 * 7, 10),
])
print(model.summary(x.shape[1:]))
W1_initial = model[0].params["W"].data.copy()
loss = mc.losses.CrossEntropy()
model.fit(x, y_train[:limit], loss, mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
          epochs=1, batch_size=64)
accuracy = model.evaluate(xt, y_test[:2000], loss)["accuracy"]
print(f"test accuracy {accuracy:.4f} on 2000 test digits after 1 epoch on {limit} images")
step.check(accuracy > (0.8 if step.quick else 0.95), f"the small CNN learned: {accuracy:.1%} on 2000 test digits")
moved = np.linalg.norm(model[0].params["W"].data - W1_initial) / np.linalg.norm(W1_initial)
print(f"the first layer's kernels moved {moved:.0%} (relative to their norm) from their random start")

# %% [markdown]
# The first layer's maps are the digit correlated with each learned kernel (zero
# padding: 'same' with boundary 'fill'), plus the bias; the pooling layer takes the
# maximum of each 2x2 block after the ReLU.

# %%
digit = xt[0]                                                    # (1, 28, 28)
_, activations = model.forward(digit[None], return_activations=True)
W1, b1 = model[0].params["W"].data, model[0].params["b"].data
first = np.stack([I.correlate2d(digit[0], W1[k, 0], mode="same") + b1[k] for k in range(8)])
step.check_close(activations[0][0], first, "trained layer 0: map k = correlate2d(digit, W[k, 0], 'same') + b[k]",
                 atol=1e-5)
relu = np.maximum(first, 0)
pooled = relu.reshape(8, 14, 2, 14, 2).max(axis=(2, 4))
step.check_close(activations[2][0], pooled, "layer 2 (MaxPool2D) = the 2x2 block maxima of the ReLU'd maps",
                 atol=1e-5)

fig = viz.plot_filters(model[0])
fig.suptitle(f"First-layer filters after training\n({accuracy:.1%} test accuracy; {moved:.0%} away from "
             "their random start)", fontsize=10)
step.save(fig, "trained_filters.png")
# After the ReLUs the maps are >= 0, so plot_feature_maps' colour scale (viridis, dark = 0 or least)
# reads right; the signed Conv2D outputs themselves are drawn on a diverging map in the next figure.
fig = viz.plot_feature_maps(model, digit, layers=[1, 2, 4, 5])
predicted = int(model.predict(digit[None]).argmax())
fig.suptitle(f"Feature maps of test digit 0 (label {y_test[0]}, predicted {predicted}) after each ReLU and "
             "each pooling (all >= 0; each map on its own scale, bright = large)", fontsize=11)
step.save(fig, "trained_maps.png")

# %% [markdown]
# ## One filter across several digits
#
# The first-layer filter that is most like an edge detector (its weights sum to
# nearly 0, so flat regions give nearly 0), applied to 8 test digits. All responses
# share one colour scale, so they can be compared: red where the digit matches the
# filter's pattern, blue where it matches the opposite - on opposite sides of a stroke.

# %%
k = int(np.argmin(np.abs(W1.sum(axis=(1, 2, 3))) / np.linalg.norm(W1.reshape(8, -1), axis=1)))
responses = model.forward(xt[:8], return_activations=True)[1][0][:, k]     # (8, 28, 28)
by_hand = np.stack([I.correlate2d(xt[i, 0], W1[k, 0], mode="same") + b1[k] for i in range(8)])
step.check_close(responses, by_hand, f"filter #{k} on 8 digits: Conv2D's map = correlate2d per digit", atol=1e-5)

fig = step.plt.figure(figsize=(16, 4.8), layout="constrained")
axes = fig.subplots(2, 9)
top = float(np.abs(W1[k, 0]).max())
axes[0, 0].imshow(W1[k, 0], cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
axes[0, 0].set_title(f"filter #{k}\n(3x3 weights)", fontsize=9)
axes[1, 0].axis("off")
scale = float(np.abs(responses).max())
for i in range(8):
    draw_image(axes[0, i + 1], xt[i, 0], f"digit {y_test[i]}")
    shown = axes[1, i + 1].imshow(responses[i], cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    axes[1, i + 1].set_xticks([])
    axes[1, i + 1].set_yticks([])
axes[0, 0].set_xticks([])
axes[0, 0].set_yticks([])
fig.colorbar(shown, ax=axes[1, 1:].tolist(), shrink=0.9, label="response (before ReLU)")
fig.suptitle(f"One learned filter (#{k} of layer 0, the most edge-like) on 8 test digits, one colour scale for "
             "all: the same kind of stroke edge lights up in every digit")
step.save(fig, "one_filter.png")

# %%
step.done(test_accuracy=accuracy, train_samples=limit)
