# %% [markdown]
# # Step 19: the architectures - LeNet-5 to MobileNetV2, counted and drawn
#
# Twenty years of image classifiers, as `minicnn.models` builds them. Three numbers
# describe each one:
#
# - **depth**: the convolutions and dense layers on the longest path from the picture to
#   the scores (the number in "VGG-16" and "ResNet-50");
# - **parameters**: every weight and bias (`model.num_params()`);
# - **multiply-adds** (MACs) for one picture: a convolution's output value is a dot
#   product of C_in/groups x kh x kw weights with as many inputs, so the layer costs
#   OH x OW x (the size of its W) multiply-adds; a `Dense(n, m)` costs n x m. (Often
#   quoted as "FLOPs", though a multiply-add is two floating-point operations.)
#
# The count walks the model with `output_shape`, layer by layer, without running it, and
# goes into the branches of an Inception block (`Concat`), a residual block (`Residual`)
# and a squeeze-and-excitation gate (`SqueezeExcitation`) with `branches()`.
# The models are built under `minicnn.layers.base.skip_init()`, which gives every
# parameter its shape but no memory and no random draws: VGG-16's 138 million weights
# would otherwise take half a gigabyte and seconds to draw, for nothing.
#
# Then the three ideas that changed the design, drawn: Inception's parallel branches
# merged by concatenation, the residual shortcut y = F(x) + x, and the SE gate.
#
#     python examples/tutorial/19_architectures.py [--out DIR] [--quick]

# %%
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

import minicnn as mc
from minicnn import layers as L
from minicnn.layers.base import skip_init

from _common import Step

step = Step("19_architectures", "LeNet-5 to MobileNetV2: depth, parameters and multiply-adds; the blocks drawn")

# %% [markdown]
# ## Counting multiply-adds from the shapes
#
# `cost(layers, shape)` returns (multiply-adds, depth, weight layers, output shape) for a
# list of layers and a per-sample input shape. A branched layer sends the same input into
# each branch: their costs add up, and its depth is that of its longest branch. The SE
# gate is a side branch that only scales the channels, so it adds its (small) cost but not
# its two Dense layers to the depth: SE-ResNet-50 stays 50 deep, as its name says.

# %%
def cost(layers, shape):
    """(multiply-adds, depth, number of Conv2D/Dense layers, output shape) of ``layers`` on ``shape``."""
    macs = depth = count = 0
    for layer in layers:
        out = layer.output_shape(shape)
        if isinstance(layer, L.Conv2D):                         # OH * OW outputs per channel, W.size weights
            macs += out[1] * out[2] * layer.params["W"].size    # = O * OH * OW * (C/groups * kh * kw)
            depth, count = depth + 1, count + 1
        elif isinstance(layer, L.Dense):
            macs += layer.params["W"].size                      # in * out
            depth, count = depth + 1, count + 1
        elif isinstance(layer, L.BranchedLayer):
            depths = [0]                                        # an identity shortcut: depth 0
            for _, branch in layer.branches():
                if branch is None:
                    continue
                m, d, c, _ = cost(branch.layers, shape)
                macs, count = macs + m, count + c
                if not isinstance(layer, L.SqueezeExcitation):  # the gate is beside the path, not on it
                    depths.append(d)
            depth += max(depths)
        shape = out
    return macs, depth, count, shape


MODELS = [("LeNet-5", "lenet5", (1, 32, 32), 1998), ("AlexNet", "alexnet", (3, 224, 224), 2012),
          ("VGG-16", "vgg16", (3, 224, 224), 2014), ("GoogLeNet", "googlenet", (3, 224, 224), 2014),
          ("ResNet-18", "resnet18", (3, 224, 224), 2015), ("ResNet-50", "resnet50", (3, 224, 224), 2015),
          ("Inception-v4", "inception_v4", (3, 299, 299), 2016), ("SE-ResNet-50", "se_resnet50", (3, 224, 224), 2017),
          ("DenseNet-121", "densenet121", (3, 224, 224), 2017), ("MobileNetV2", "mobilenet_v2", (3, 224, 224), 2018)]

#: Published figures: parameters (torchvision's and timm's) and multiply-adds in G at the
#: native size (torchvision's "GFLOPS" column, which counts multiply-adds; timm's "GMACs").
REFERENCE = {"lenet5": (61_706, None), "alexnet": (61_100_840, 0.71), "vgg16": (138_357_544, 15.47),
             "googlenet": (6_624_904, 1.50), "resnet18": (11_689_512, 1.81), "resnet50": (25_557_032, 4.09),
             "inception_v4": (42_679_816, 12.3), "se_resnet50": (28_088_024, None),
             "densenet121": (7_978_856, 2.83), "mobilenet_v2": (3_504_872, 0.30)}

table = {}
for title, function, input_shape, year in MODELS:
    with skip_init():                                    # shapes only: no memory, no random numbers
        model = getattr(mc.models, function)()
    macs, depth, count, out = cost(model.layers, input_shape)
    table[function] = dict(title=title, year=year, input=input_shape, depth=depth, weight_layers=count,
                           params=model.num_params(), macs=macs, output=out)

print(f"{'model':<14}{'year':>5}{'input':>15}{'depth':>7}{'conv+dense':>12}{'parameters':>14}"
      f"{'multiply-adds':>16}{'published':>11}")
for function, row in table.items():
    published = REFERENCE[function][1]
    print(f"{row['title']:<14}{row['year']:>5}{' x '.join(map(str, row['input'])):>15}{row['depth']:>7}"
          f"{row['weight_layers']:>12}{row['params']:>14,}{row['macs'] / 1e9:>14.3f} G"
          f"{'' if published is None else f'{published:>9.2f} G':>11}")

# %% [markdown]
# ## The counts, checked
#
# LeNet-5 by hand, from its widths (a layer has (inputs per output + 1 bias) x outputs
# parameters; a convolution's multiply-adds are its output pixels x its kernel size):
#
#     C1  conv 5x5, 1 -> 6      (25 + 1) x 6      =    156     28 x 28 x 6 x 25      = 117,600
#     C3  conv 5x5, 6 -> 16     (150 + 1) x 16    =  2,416     10 x 10 x 16 x 150    = 240,000
#     C5  conv 5x5, 16 -> 120   (400 + 1) x 120   = 48,120      1 x 1 x 120 x 400    =  48,000
#     F6  dense 120 -> 84       (120 + 1) x 84    = 10,164                              10,080
#     out dense 84 -> 10        (84 + 1) x 10     =    850                                 840
#                                                   61,706                             416,520

# %%
lenet_params = (25 + 1) * 6 + (150 + 1) * 16 + (400 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
lenet_macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 1 * 1 * 120 * 400 + 120 * 84 + 84 * 10
step.check(table["lenet5"]["params"] == lenet_params == 61_706,
           f"LeNet-5: {lenet_params:,} parameters by hand = num_params()")
step.check(table["lenet5"]["macs"] == lenet_macs, f"LeNet-5: {lenet_macs:,} multiply-adds by hand = the walk's count")
step.check(all(table[f]["params"] == params for f, (params, _) in REFERENCE.items()),
           "every parameter count equals torchvision's or timm's (VGG-16: "
           f"{table['vgg16']['params']:,}, ResNet-50: {table['resnet50']['params']:,})")
worst = max(abs(table[f]["macs"] / 1e9 / g - 1) for f, (_, g) in REFERENCE.items() if g is not None)
for function, (_, g) in REFERENCE.items():
    if g is not None:
        print(f"  {table[function]['title']:<13} {table[function]['macs'] / 1e9:7.3f} G counted, {g:6.2f} G published")
step.check(worst < 0.02, f"the multiply-adds agree with the published figures within {worst:.1%} "
           f"(ResNet-50 {table['resnet50']['macs'] / 1e9:.2f} G, VGG-16 {table['vgg16']['macs'] / 1e9:.2f} G)")
names_say = {"lenet5": 5, "alexnet": 8, "vgg16": 16, "googlenet": 22, "resnet18": 18, "resnet50": 50,
             "se_resnet50": 50, "densenet121": 121, "mobilenet_v2": 53}
step.check(all(table[f]["depth"] == d for f, d in names_say.items()),
           "the depths are the ones in the names and papers: LeNet-5 5, AlexNet 8, VGG-16 16, GoogLeNet 22, "
           "ResNet-18 18, ResNet-50 and SE-ResNet-50 50, DenseNet-121 121, MobileNetV2 53")
step.check(all(row["output"] == ((10,) if f == "lenet5" else (1000,)) for f, row in table.items()),
           "every model ends in its class scores: 10 for LeNet-5, 1000 for the ImageNet models")
with skip_init():
    vgg = mc.models.vgg16()
dense = [layer for layer in vgg.layers if isinstance(layer, L.Dense)]
dense_params = sum(p.size for layer in dense for p in layer.params.values())
dense_macs = sum(layer.params["W"].size for layer in dense)
print(f"VGG-16: its three Dense layers hold {dense_params:,} of its {table['vgg16']['params']:,} parameters "
      f"({dense_params / table['vgg16']['params']:.0%}) but do {dense_macs / table['vgg16']['macs']:.1%} of its "
      "multiply-adds; the convolutions, 10% of the weights, do the rest")

# %% [markdown]
# What the table says (these counts are exact, the same on every run). VGG-16 is the
# heavy end: 138 M parameters, 89% of them in its three Dense layers, and 15.5 G
# multiply-adds, nearly all in its convolutions. GoogLeNet, the same year, is deeper (22)
# with 21 times fewer parameters (6.6 M) and a tenth of the work (1.5 G): the 1x1
# convolutions shrink the channels before the 3x3 and 5x5 ones, and global average
# pooling replaces the big Dense layers. ResNet-50 goes to 50 layers with 25.6 M
# parameters and 4.1 G. The SE gates add 2,530,992 parameters to ResNet-50 (10%) but
# only 2.5 M multiply-adds (0.06%): they work on pooled vectors, not on maps.
# Inception-v4 counts 76 layers on its longest path (150 convolutions and dense layers
# in all) and 12.3 G multiply-adds at 299 x 299. DenseNet-121 is 121 deep with 8.0 M
# parameters and 2.83 G: each layer adds 32 maps to all before it (a Concat of an empty
# branch, x itself, and the layer's convolutions), so its layers stay narrow. MobileNetV2
# (53 deep) does its job with 3.5 M parameters and 0.30 G, a fifth of GoogLeNet's work: its
# 3x3 convolutions are depthwise (``groups`` = channels: one 3x3 filter per channel), and
# the 1x1 convolutions around them do the mixing.

# %% [markdown]
# ## LeNet-5 forward, shape by shape
#
# A real forward pass (with weights this time) of two 32 x 32 pictures, compared at
# every layer with what `output_shape` predicted.

# %%
mc.manual_seed(0)
lenet = mc.models.lenet5()
x = np.random.default_rng(0).random((2, 1, 32, 32), dtype=np.float32)
shape, a = (1, 32, 32), x
for i, layer in enumerate(lenet.layers):
    a = layer.forward(a)
    shape = layer.output_shape(shape)
    print(f"  {i:>2} {type(layer).__name__:<10} -> {tuple(a.shape)}")
    assert a.shape[1:] == shape, (i, a.shape, shape)
step.check(a.shape == (2, 10) and np.array_equal(a, lenet.predict(x)),
           "LeNet-5 on 2 x 1 x 32 x 32: every layer's shape as output_shape says, scores (2, 10) = predict")

# %%
order = list(table)
fig = step.plt.figure(figsize=(14, 4.8), layout="constrained")
axes = fig.subplots(1, 3)
labels = [f"{table[f]['title']}\n{table[f]['year']}" for f in order]
colours = ["tab:gray", "tab:brown", "tab:red", "tab:green", "tab:blue", "tab:blue", "tab:green", "tab:purple",
           "tab:orange", "tab:olive"]
panels = (("depth", "depth (conv + dense layers on the longest path)", False, lambda v: f"{v}"),
          ("params", "parameters (log scale)", True, lambda v: f"{v / 1e6:.3g} M" if v >= 1e6 else f"{v / 1e3:.1f} k"),
          ("macs", "multiply-adds per picture at native size (log scale)", True,
           lambda v: f"{v / 1e9:.3g} G" if v >= 1e9 else f"{v / 1e6:.3g} M"))
for ax, (key, title, log, fmt) in zip(axes, panels):
    values = [table[f][key] for f in order]
    bars = ax.barh(range(len(order)), values, color=colours)
    ax.set_yticks(range(len(order)), labels, fontsize=8)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
        ax.set_xlim(min(values) / 3, max(values) * 12)
    else:
        ax.set_xlim(0, max(values) * 1.2)
    for bar, v in zip(bars, values):
        ax.text(bar.get_width() * (1.15 if log else 1) + (0 if log else 1), bar.get_y() + bar.get_height() / 2,
                fmt(v), va="center", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
fig.suptitle("From LeNet-5 to MobileNetV2 (minicnn.models): plain stacks (gray, brown, red), Inception (green), "
             "residual (blue), residual + SE (purple), dense (orange), mobile (olive)")
step.save(fig, "architectures.png")

# %% [markdown]
# ## The blocks, drawn
#
# The widths are read from the models: GoogLeNet's first Inception block (3a), ResNet-18's
# first residual block and SE-ResNet-50's first SE gate.
#
# - **Inception** (GoogLeNet, 2014): four branches on the same input, a 1x1 convolution,
#   a 1x1 then a 3x3, a 1x1 then a "5x5" (a 3x3 in torchvision's version, which minicnn
#   follows), and a 3x3 max pool then a 1x1; their outputs, the same size, are stacked
#   along the channels. The 1x1 convolutions first cut the channels, so the larger kernels
#   cost less.
# - **Residual** (ResNet, 2015): y = relu(F(x) + x). The block learns only the difference
#   F from the identity, and in backprop dy reaches x directly along the shortcut, which
#   is what lets 50 or 152 layers train.
# - **Squeeze-and-excitation** (SENet, 2017): average each channel to one number, pass
#   the C numbers through a small bottleneck (C -> C/16 -> C, ReLU then sigmoid), and
#   multiply each channel by its gate in (0, 1): the block re-weights its own channels
#   from what the whole picture contains.

# %%
def first(model, kind):
    return next(layer for layer in model.layers if isinstance(layer, kind))


with skip_init():
    inception = first(mc.models.googlenet(), L.Concat)
    residual = first(mc.models.resnet18(), L.Residual)
    se = next(layer for block in mc.models.se_resnet50().layers if isinstance(block, L.Residual)
              for layer in block.block.layers if isinstance(layer, L.SqueezeExcitation))
inception_in = (192, 28, 28)                                  # what block 3a receives at 224 x 224
widths = [branch.output_shape(inception_in)[0] for _, branch in inception.branches()]
reduce = [branch.layers[0].out_channels for _, branch in inception.branches()[1:3]]
step.check(inception.output_shape(inception_in) == (sum(widths), 28, 28),
           f"Inception 3a: branches of {' + '.join(map(str, widths))} channels concatenated = {sum(widths)}")
step.check(residual.output_shape((64, 56, 56)) == (64, 56, 56) and residual.shortcut is None,
           "ResNet-18's first block: identity shortcut, 64 x 56 x 56 in and out")
step.check((se.input_channels, se.squeeze_channels) == (256, 16),
           "SE-ResNet-50's first gate: 256 channels squeezed to 16 (256 / 16)")


def box(ax, x, y, text, colour, w=1.9, h=0.52):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=colour, ec="black", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=8)


def arrow(ax, start, end, **kw):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, lw=1.1, color="black",
                                 shrinkA=0, shrinkB=0, **kw))


fig = step.plt.figure(figsize=(16, 6.2), layout="constrained")
ax_inc, ax_res, ax_se = fig.subplots(1, 3, width_ratios=[1.9, 1, 1])
for ax in (ax_inc, ax_res, ax_se):
    ax.set_aspect("equal")
    ax.axis("off")

# Inception: input at the top, four columns, concatenation at the bottom.
ax_inc.set_xlim(-0.3, 9.3)
ax_inc.set_ylim(-0.6, 6.3)
box(ax_inc, 4.5, 5.8, f"input  {inception_in[0]} x 28 x 28", "lightgray", w=3.0)
columns = [[f"1x1 conv, {widths[0]}"],
           [f"1x1 conv, {reduce[0]}", f"3x3 conv, {widths[1]}"],
           [f"1x1 conv, {reduce[1]}", f"3x3 conv, {widths[2]}\n(the paper: 5x5)"],
           ["3x3 max pool\nstride 1", f"1x1 conv, {widths[3]}"]]
xs = [1.1, 3.4, 5.7, 8.0]
for x, column in zip(xs, columns):
    arrow(ax_inc, (4.5, 5.54), (x, 4.5 + (0.3 if "\n" in column[0] else 0.26)))
    ys = [4.5, 3.0] if len(column) == 2 else [4.5]
    for y, text in zip(ys, column):
        box(ax_inc, x, y, text, "#fde0b6" if "pool" in text else "#cfe2f3", h=0.6 if "\n" in text else 0.52)
    if len(column) == 2:
        arrow(ax_inc, (x, 4.2), (x, 3.3))
    if len(column) == 1:                                # down the side, into the concatenation's left end
        ax_inc.plot([x, x], [ys[-1] - 0.26, 1.3], color="black", lw=1.1)
        arrow(ax_inc, (x, 1.3), (2.3, 1.3))
    else:
        arrow(ax_inc, (x, ys[-1] - 0.3), (x * 0.55 + 2.1, 1.6))
box(ax_inc, 4.5, 1.3, f"concatenate along the channels:\n{' + '.join(map(str, widths))} = {sum(widths)} channels",
    "#d9ead3", w=4.4, h=0.6)
arrow(ax_inc, (4.5, 1.0), (4.5, 0.25))
ax_inc.text(4.5, 0.05, f"output  {sum(widths)} x 28 x 28", ha="center", va="top", fontsize=9)
ax_inc.set_title("Inception block (GoogLeNet 3a): four branches, one input, outputs stacked", fontsize=10)

# Residual: the main path down the middle, the shortcut around it on the right.
ax_res.set_xlim(-0.5, 4.5)
ax_res.set_ylim(-0.6, 6.3)
box(ax_res, 1.6, 5.8, "x  (64 x 56 x 56)", "lightgray", w=2.4)
path = ["3x3 conv 64, BN", "ReLU", "3x3 conv 64, BN"]
for y, text in zip((4.6, 3.6, 2.6), path):
    box(ax_res, 1.6, y, text, "#cfe2f3" if "conv" in text else "#eeeeee", w=2.4)
for top, bottom in ((5.54, 4.86), (4.34, 3.86), (3.34, 2.86), (2.34, 1.72)):
    arrow(ax_res, (1.6, top), (1.6, bottom))
ax_res.add_patch(step.plt.Circle((1.6, 1.45), 0.27, fc="#d9ead3", ec="black"))
ax_res.text(1.6, 1.45, "+", ha="center", va="center", fontsize=14)
arrow(ax_res, (2.8, 5.8), (3.6, 5.8), connectionstyle="arc3")
ax_res.plot([3.6, 3.6], [5.8, 1.45], color="black", lw=1.1)
arrow(ax_res, (3.6, 1.45), (1.87, 1.45))
ax_res.text(3.75, 3.6, "shortcut: x itself\n(identity)", rotation=90, ha="left", va="center", fontsize=8)
ax_res.text(-0.05, 3.6, "F(x)", ha="center", va="center", fontsize=11, style="italic")
box(ax_res, 1.6, 0.55, "ReLU", "#eeeeee", w=2.4)
arrow(ax_res, (1.6, 1.18), (1.6, 0.81))
ax_res.text(1.6, 0.05, "y = relu(F(x) + x)", ha="center", va="top", fontsize=9)
ax_res.set_title("Residual block (ResNet-18): y = F(x) + x", fontsize=10)

# SE gate: the gate branch on the left, the scaling on the right.
c, s = se.input_channels, se.squeeze_channels
ax_se.set_xlim(-0.5, 4.5)
ax_se.set_ylim(-0.6, 6.3)
box(ax_se, 2.0, 5.8, f"x  ({c} x 56 x 56)", "lightgray", w=2.4)
gate = [f"global average pool -> {c}", f"Dense {c} -> {s}", "ReLU", f"Dense {s} -> {c}", "sigmoid: gates in (0, 1)"]
gy = [4.9, 4.15, 3.4, 2.65, 1.9]
for y, text in zip(gy, gate):
    box(ax_se, 1.2, y, text, "#cfe2f3" if "Dense" in text else "#eeeeee", w=2.5, h=0.46)
arrow(ax_se, (1.8, 5.54), (1.2, 5.13))
for top, bottom in zip(gy[:-1], gy[1:]):
    arrow(ax_se, (1.2, top - 0.23), (1.2, bottom + 0.23))
ax_se.add_patch(step.plt.Circle((3.3, 1.1), 0.27, fc="#d9ead3", ec="black"))
ax_se.text(3.3, 1.1, "x", ha="center", va="center", fontsize=12)
arrow(ax_se, (2.6, 5.54), (3.3, 1.37))
arrow(ax_se, (1.2, 1.67), (3.03, 1.1))
ax_se.text(3.55, 3.4, "x, unchanged", rotation=-80, ha="left", va="center", fontsize=8)
arrow(ax_se, (3.3, 0.83), (3.3, 0.3))
ax_se.text(3.3, 0.15, "y[c] = x[c] * gate[c]", ha="center", va="top", fontsize=9)
ax_se.text(0.0, 0.6, "squeeze: C numbers\nexcite: C gates", ha="left", va="center", fontsize=8, style="italic")
ax_se.set_title(f"SE gate (SE-ResNet-50): C = {c}, C/16 = {s}", fontsize=10)
step.save(fig, "blocks.png")

# %%
step.done(**{f: {k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()} for f, row in table.items()})
