# %% [markdown]
# # Step 13: backpropagation through a convolution, by hand
#
# Training needs the gradient of the loss L with respect to every weight. For a
# convolution layer `y = correlate(x, W) + b`, with `y[r, c] = b + sum_ij W[i, j] x[r + i, c + j]`,
# the chain rule gives, with `G = dL/dy` arriving from the layer above:
#
#     dL/dW[i, j] = sum_rc G[r, c] * x[r + i, c + j]    = correlate2d(x, G, 'valid')
#     dL/db       = sum_rc G[r, c]
#     dL/dx[u, v] = sum_rc G[r, c] * W[u - r, v - c]    = convolve2d(G, W, 'full')
#
# In words: the weight gradient correlates the input with the output gradient; the
# input gradient slides the kernel, turned by 180 degrees, over the zero-padded output
# gradient (a "full" convolution, also called a transposed convolution). At stride s,
# the output gradient first gets s - 1 zeros between its values.
#
# We derive them on a 4x4 input and a 2x2 kernel, then check them against
# `Conv2D.backward` and against finite differences (`minicnn.gradcheck`).
#
#     python examples/tutorial/13_backprop_by_hand.py [--out DIR] [--quick]

# %%
import numpy as np

from minicnn import gradcheck
from minicnn import image as I
from minicnn import layers as L

from _common import Step, draw_matrix

step = Step("13_backprop_by_hand", "dW and dx of a convolution, derived and checked")

# %% [markdown]
# ## A tiny case
#
# x is 4x4, W is 2x2, so y is 3x3. L = sum(G * y) for a fixed G: then dL/dy = G
# exactly, as if G came from the layers above. Small integers keep every number exact.

# %%
x = np.array([[1, 2, 0, 1],
              [3, 1, 2, 2],
              [0, 2, 1, 3],
              [1, 0, 3, 1]], dtype=np.float64)
W = np.array([[1, -1],
              [2, 0]], dtype=np.float64)
b = 0.5
G = np.array([[1, 0, -1],
              [2, 1, 0],
              [0, -1, 1]], dtype=np.float64)

# %% [markdown]
# The loops: every output y[r, c] used x[r + i, c + j] with weight W[i, j], so each
# product sends `G[r, c] * x[r + i, c + j]` to dW[i, j] and `G[r, c] * W[i, j]` to dx[r + i, c + j].

# %%
y = np.zeros((3, 3))
dW_loop, db_loop, dx_loop = np.zeros_like(W), 0.0, np.zeros_like(x)
for r in range(3):
    for c in range(3):
        y[r, c] = b + np.sum(W * x[r:r + 2, c:c + 2])
        db_loop += G[r, c]
        for i in range(2):
            for j in range(2):
                dW_loop[i, j] += G[r, c] * x[r + i, c + j]
                dx_loop[r + i, c + j] += G[r, c] * W[i, j]
print("dW =\n", dW_loop, "\ndb =", db_loop, "\ndx =\n", dx_loop)

step.check(np.array_equal(dW_loop, I.correlate2d(x, G, mode="valid")), "dW = correlate2d(x, G, 'valid')")
step.check(np.array_equal(dx_loop, I.convolve2d(G, W, mode="full")), "dx = convolve2d(G, W, 'full')")
step.check(np.array_equal(dx_loop, I.correlate2d(np.pad(G, 1), W[::-1, ::-1], mode="valid")),
           "dx = the flipped kernel slid over G padded with k - 1 = 1 ring of zeros")

# %% [markdown]
# ## minicnn's Conv2D.backward
#
# `forward(x, training=True)` keeps what the backward pass needs; `backward(G)`
# returns dL/dx and adds dL/dW, dL/db into the parameters' `.grad`.

# %%
conv = L.Conv2D(1, 1, 2, dtype=np.float64)
conv.params["W"].data[0, 0] = W
conv.params["b"].data[0] = b
out = conv.forward(x[None, None], training=True)
dx_layer = conv.backward(G[None, None])
step.check(np.array_equal(out[0, 0], y), "Conv2D.forward = the loop")
step.check(np.array_equal(conv.params["W"].grad[0, 0], dW_loop) and conv.params["b"].grad[0] == db_loop,
           "Conv2D.backward: W.grad and b.grad = the loop")
step.check(np.array_equal(dx_layer[0, 0], dx_loop), "Conv2D.backward returns dx = the loop")

# %% [markdown]
# ## Finite differences
#
# The definition of a derivative, numerically: nudge one number by ±eps and watch the
# loss, `(L(w + eps) - L(w - eps)) / (2 eps)`. `gradcheck.numerical_gradient` does that
# for every element.

# %%
def loss_of_W(w):
    return float(np.sum(G * I.correlate2d(x, w, mode="valid")) + b * G.sum())


def loss_of_x(v):
    return float(np.sum(G * I.correlate2d(v, W, mode="valid")) + b * G.sum())


step.check_close(gradcheck.numerical_gradient(loss_of_W, W.copy()), dW_loop, "finite differences agree on dW",
                 atol=1e-6)
step.check_close(gradcheck.numerical_gradient(loss_of_x, x.copy()), dx_loop, "finite differences agree on dx",
                 atol=1e-6)

# %% [markdown]
# ## Stride 2
#
# At stride 2 only every second window is computed. Each output still sends
# `G[r, c] * W` to the pixels its window covered, now at rows 2r .. 2r + k - 1: the same
# full convolution, of G with zeros inserted between its entries.

# %%
x5 = np.arange(25, dtype=np.float64).reshape(5, 5) % 7
W3 = np.array([[0, 1, 0], [1, -2, 1], [0, 1, 2]], dtype=np.float64)
G2 = np.array([[1, -1], [2, 3]], dtype=np.float64)
strided = L.Conv2D(1, 1, 3, stride=2, bias=False, dtype=np.float64)
strided.params["W"].data[0, 0] = W3
strided.forward(x5[None, None], training=True)
dx_strided = strided.backward(G2[None, None])[0, 0]
G2_dilated = np.zeros((3, 3))
G2_dilated[::2, ::2] = G2                              # s - 1 = 1 zero between the values
step.check(np.array_equal(dx_strided, I.convolve2d(G2_dilated, W3, mode="full")),
           "stride 2: dx = convolve2d(G with zeros inserted, W, 'full')")
step.check(np.array_equal(strided.params["W"].grad[0, 0], I.correlate2d(x5, G2_dilated, mode="valid")),
           "stride 2: dW = correlate2d(x, G with zeros inserted, 'valid')")

# %% [markdown]
# ## gradcheck.check_layer, on real layers
#
# `check_layer(layer, x)` compares every gradient of a layer with finite differences
# and returns the relative errors; in float64 they should be around 1e-9 or smaller.
# Strides, paddings, dilations and several channels at once:

# %%
rng = np.random.default_rng(0)
cases = [dict(kernel_size=3), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, dilation=2, padding=1),
         dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))]
if not step.quick:
    cases.append(dict(kernel_size=5, stride=3, padding=2, dilation=1))
for kwargs in cases:
    layer = L.Conv2D(2, 3, dtype=np.float64, **kwargs)
    errors = gradcheck.check_layer(layer, rng.standard_normal((2, 2, 7, 6)))
    step.check(max(errors.values()) < 1e-7,
               f"check_layer(Conv2D(2, 3, {', '.join(f'{k}={v}' for k, v in kwargs.items())})): "
               + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))

# %%
fig = step.plt.figure(figsize=(16, 7.6), layout="constrained")
top, bottom = fig.subfigures(2, 1)
axes = top.subplots(1, 5, width_ratios=[4, 2, 3, 3, 4.5])
draw_matrix(axes[0], x, "x (4x4)", signed=False)
draw_matrix(axes[1], W, "W (2x2), b = 0.5")
draw_matrix(axes[2], y, "y = correlate2d(x, W) + b", fmt=".1f")
draw_matrix(axes[3], G, "G = dL/dy (from above)")
axes[4].axis("off")
axes[4].text(0, 0.5, "forward:\n  y[r, c] = b + Σ W[i, j] x[r+i, c+j]\n\nbackward:\n"
             "  dW = correlate2d(x, G, 'valid')\n  db = Σ G\n  dx = convolve2d(G, W, 'full')",
             va="center", fontsize=9, family="monospace")
top.suptitle("Forward pass", fontsize=11)
axes = bottom.subplots(1, 4, width_ratios=[2, 4, 5, 2])
draw_matrix(axes[0], dW_loop, "dL/dW\n= correlate2d(x, G)")
draw_matrix(axes[1], dx_loop, "dL/dx\n= convolve2d(G, W, 'full')")
draw_matrix(axes[2], np.pad(G, 1), "G padded with zeros ...")
draw_matrix(axes[3], W[::-1, ::-1], "... under the kernel turned 180°\n(dx = their correlation)")
bottom.suptitle(f"Backward pass: db = ΣG = {db_loop:g}; every number equals Conv2D.backward and finite differences",
                fontsize=11)
step.save(fig, "backprop.png")

# %%
step.done()
