# %% [markdown]
# # Step 7: padding, stride and dilation
#
# Three knobs of every convolution layer, `Conv2D(in, out, k, stride, padding, dilation)`:
#
# - **padding p**: rings of zeros around the input, so that the kernel may be centred on
#   border pixels too;
# - **stride s**: the step between two windows: s = 2 computes every second window,
#   halving the output;
# - **dilation d**: the gap between two taps of the kernel: a 3x3 kernel at d = 2
#   covers 5x5 pixels with 9 weights.
#
# One output pixel is
#
#     y[r, c] = sum_ij W[i, j] * x_pad[r*s + i*d, c*s + j*d]
#
# and the size follows (step 3): `OH = (H + 2p - d (k - 1) - 1) // s + 1`.
#
#     python examples/tutorial/07_padding_stride_dilation.py [--out DIR] [--quick]

# %%
import math

import numpy as np

from minicnn import functional as F
from minicnn import image as I
from minicnn import layers as L

from _common import Step

step = Step("07_padding_stride_dilation", "One 3x3 kernel at strides 1-3 and dilations 1-3, by loop and Conv2D")

# %% [markdown]
# ## The loop, with all three knobs

# %%
def conv_loop(x, k, stride=1, padding=0, dilation=1):
    """Cross-correlation as Conv2D computes it, written out. padding: int or ((top, bottom), (left, right))."""
    xp = np.pad(x, padding)
    kh, kw = k.shape
    reach_h, reach_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1     # what a dilated kernel covers
    oh = (xp.shape[0] - reach_h) // stride + 1
    ow = (xp.shape[1] - reach_w) // stride + 1
    out = np.zeros((oh, ow))
    for r in range(oh):
        for c in range(ow):
            for i in range(kh):
                for j in range(kw):
                    out[r, c] += k[i, j] * xp[r * stride + i * dilation, c * stride + j * dilation]
    return out


def conv_layer(k, **kwargs):
    """A 1-channel Conv2D without bias whose weight is k (float64: exact comparisons)."""
    layer = L.Conv2D(1, 1, k.shape, bias=False, dtype=np.float64, **kwargs)
    layer.params["W"].data[0, 0] = k
    return layer


# %%
def ring(size):
    """A bright ring on a dark background, size x size, values in [0, 1]."""
    r, c = np.mgrid[0:size, 0:size] - (size - 1) / 2
    d = np.hypot(r, c)
    return np.clip(1.5 - np.abs(d - size / 3.2), 0, 1)


x = ring(11)
H = x.shape[0]
k = I.kernels.get("laplacian8")
configs = [dict(stride=s, padding=1, dilation=1) for s in (1, 2, 3)] + \
          [dict(stride=1, padding=d, dilation=d) for d in (1, 2, 3)]
results = []
for cfg in configs:
    s, p, d = cfg["stride"], cfg["padding"], cfg["dilation"]
    formula = (H + 2 * p - d * (3 - 1) - 1) // s + 1
    loop = conv_loop(x, k, s, p, d)
    layer_out = conv_layer(k, **cfg).forward(x[None, None])[0, 0]
    step.check(loop.shape == (formula, formula) and np.allclose(loop, layer_out, rtol=0, atol=1e-12),
               f"stride {s}, padding {p}, dilation {d}: loop = Conv2D, output {formula}x{formula} as the formula says")
    results.append((cfg, loop))

# %% [markdown]
# A dilated kernel is an ordinary larger kernel with zeros between the taps: at
# dilation 2, the 3x3 kernel becomes a 5x5 one.

# %%
k_dilated = np.zeros((5, 5))
k_dilated[::2, ::2] = k
step.check_close(conv_layer(k, dilation=2).forward(x[None, None])[0, 0], I.correlate2d(x, k_dilated, mode="valid"),
                 "Conv2D(dilation=2) = correlate2d with the 5x5 kernel that has zeros between the taps")

# %% [markdown]
# ## 'same' at stride > 1
#
# At stride 1 'same' keeps the size. At stride s, TensorFlow's 'SAME' means: output
# size `ceil(H / s)`, and just enough zero padding for that,
#
#     total = max((ceil(H/s) - 1) * s + d (k - 1) + 1 - H, 0),   top = total // 2,
#
# the extra row (when the total is odd) at the bottom, the extra column at the right.
# It depends on H, not only on k: for k = 3 and s = 2, an 11-pixel input gets one row
# on each side, a 12-pixel input gets a single row at the bottom.
#
# minicnn's `Conv2D(padding="same")` follows this rule at every stride (PyTorch refuses
# 'same' with a stride; at stride 1 the two agree). Below, the rule by hand: compute the
# padding, pad with `functional.pad2d` (any four sides), convolve with `padding=0`, and
# check that `padding="same"` gives the same numbers.

# %%
def tf_same_padding(size, k, s, d=1):
    """TensorFlow's 'SAME': (output size, (before, after)) along one axis."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return out, (total // 2, total - total // 2)


same_results = []
for size in (11, 12):
    img = ring(size)
    out_size, pads = tf_same_padding(size, 3, 2)
    padded = F.pad2d(img[None, None], (pads, pads))
    manual = conv_layer(k, stride=2).forward(padded)[0, 0]
    print(f"H = {size}, k = 3, s = 2: pads {pads}, output {manual.shape}")
    step.check(manual.shape == (out_size, out_size) == (math.ceil(size / 2),) * 2,
               f"H={size}: TF 'SAME' at stride 2 gives ceil({size}/2) = {out_size}, pads {pads}")
    step.check_close(manual, conv_loop(img, k, stride=2, padding=(pads, pads)),
                     f"H={size}: pad2d + Conv2D(stride=2) = the loop with padding {pads}")
    native = conv_layer(k, stride=2, padding="same").forward(img[None, None])[0, 0]
    step.check_close(native, manual, f"H={size}: Conv2D(padding='same', stride=2) = the hand padding")
    same_results.append((img, pads, manual))

# %%
def draw_taps(ax, image, pads, cfg, out_shape, title):
    """The padded input (padding: pale cells marked 0) and the taps read by outputs (0, 0) and (0, 1)."""
    (top, bottom), (left, right) = pads
    s, d = cfg["stride"], cfg["dilation"]
    padded = np.pad(image, pads, constant_values=np.nan)
    ax.imshow(np.ma.masked_invalid(padded), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.imshow(np.where(np.isnan(padded), 0.8, np.nan), cmap="YlOrBr", vmin=0, vmax=4, interpolation="nearest")
    hp, wp = padded.shape
    for r, c in zip(*np.nonzero(np.isnan(padded))):
        ax.text(c, r, "0", ha="center", va="center", fontsize=6, color="0.4")
    ax.set_xticks(np.arange(-0.5, wp, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, hp, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.5)
    for (oc, marker, colour) in ((0, "o", "tab:red"), (1, "x", "tab:cyan")):
        if oc >= out_shape[1]:
            continue
        ii, jj = np.mgrid[0:3, 0:3]
        ax.plot((oc * s + jj * d).ravel(), (ii * d).ravel(), marker, color=colour, markersize=6,
                markeredgewidth=2, fillstyle="none" if marker == "o" else "full",
                label=f"taps of output (0, {oc})")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_output(ax, out, title):
    """An output map on a diverging colour map centred on 0 (red +, blue -)."""
    top = float(np.abs(out).max()) or 1.0
    ax.imshow(out, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


fig = step.plt.figure(figsize=(16, 15), layout="constrained")
rows = fig.subfigures(3, 1, height_ratios=[1, 1, 1])
for row, (subfig, chunk, caption) in enumerate((
        (rows[0], results[:3], "stride 1, 2, 3 (padding 1): the windows step by s, the output shrinks by s"),
        (rows[1], results[3:], "dilation 1, 2, 3 (stride 1, padding d): the taps spread by d, the window "
                               "covers 2d + 1 pixels; padding d keeps the size"))):
    axes = subfig.subplots(1, 6, width_ratios=[3, 2] * 3)
    for n, (cfg, out) in enumerate(chunk):
        s, p, d = cfg["stride"], cfg["padding"], cfg["dilation"]
        draw_taps(axes[2 * n], x, ((p, p), (p, p)), cfg, out.shape,
                  f"stride {s}, padding {p}, dilation {d}\n({H} + 2*{p} - {d}*2 - 1) // {s} + 1 = {out.shape[0]}")
        draw_output(axes[2 * n + 1], out, f"output {out.shape[0]}x{out.shape[1]}")
    axes[0].legend(fontsize=7, loc="lower left")
    subfig.suptitle(caption, fontsize=11)
axes = rows[2].subplots(1, 6, width_ratios=[3, 2, 3, 2, 1, 1])
for n, (img, pads, out) in enumerate(same_results):
    draw_taps(axes[2 * n], img, (pads, pads), dict(stride=2, dilation=1), out.shape,
              f"H = {img.shape[0]}, k = 3, stride 2, TF 'SAME':\npads (top, bottom) = {pads}")
    draw_output(axes[2 * n + 1], out, f"output ceil({img.shape[0]}/2) = {out.shape[0]}")
axes[4].axis("off")
axes[5].axis("off")
rows[2].suptitle("'same' at stride 2 (TensorFlow's rule): output ceil(H/s), the odd padding row at the "
                 "bottom/right", fontsize=11)
fig.suptitle("One 3x3 kernel (laplacian8) on an 11x11 ring: the pale cells marked 0 are the zero padding; "
             "outputs on a diverging map (red +, blue -)", fontsize=12)
step.save(fig, "stride_dilation.png")

# %%
step.done()
