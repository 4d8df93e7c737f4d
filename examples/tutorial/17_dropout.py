# %% [markdown]
# # Step 17: dropout - regularisation by switching units off
#
# A network with far more weights than training images can learn those images by heart:
# its training accuracy climbs to 100% while its test accuracy stalls. The difference,
# the **generalisation gap**, is what regularisation shrinks.
#
# **Dropout** (Srivastava, Hinton et al., 2014) zeroes each unit of a layer at random,
# with probability p, at every training step, so that no unit can rely on a particular
# other one being there. minicnn's `Dropout(p)` is *inverted* dropout, as PyTorch's and
# Keras's:
#
#     training:    y = x * mask / (1 - p),   mask ~ Bernoulli(1 - p)      (0 with probability p)
#     evaluation:  y = x
#
# The division by 1 - p keeps the expected output equal to x, so nothing needs rescaling
# at test time (the original paper multiplied the weights by 1 - p at test time instead).
#
# Then the experiment: the same over-parameterised network, Dense 784-512-512-10 with
# about 670,000 weights, trained on a few thousand Fashion-MNIST images with and
# without dropout (p = 0.5 after each hidden layer). Expect the network without dropout
# to reach nearly 100% on its training images with a gap of 15-20 points to the test
# set, and the one with dropout a clearly smaller gap. Its test accuracy moves much
# less, by a point or two either way in a run this short: dropout keeps the network
# from memorising, it does not add information. The numbers this run measured are
# printed and drawn below.
#
# Needs Fashion-MNIST (`minicnn.data.load_fashion_mnist()`, as in step 12).
#
#     python examples/tutorial/17_dropout.py [--out DIR] [--quick]

# %%
import numpy as np
from matplotlib.ticker import MaxNLocator

import minicnn as mc
from minicnn import layers as L

from _common import Step

step = Step("17_dropout", "Dropout: inverted scaling checked, the train/test gap with and without, measured")

# %% [markdown]
# ## Inverted dropout, checked numerically
#
# On a million ones: in training a fraction p of the outputs is 0 and the rest is
# 1 / (1 - p), so the mean stays 1; in evaluation the layer is the identity. The backward
# pass lets the gradient through the same mask, with the same scale.

# %%
mc.manual_seed(0)
ones = np.ones(1_000_000)
for p in (0.5, 0.2):
    drop = L.Dropout(p)
    y = drop.forward(ones, training=True)
    zeroed = np.mean(y == 0)
    step.check(set(np.unique(y).tolist()) == {0.0, 1 / (1 - p)},
               f"Dropout({p}) in training: every output is 0 or 1/(1-p) = {1 / (1 - p):g}")
    step.check(abs(zeroed - p) < 0.005 and abs(y.mean() - 1) < 0.005,
               f"Dropout({p}): {zeroed:.4f} of the outputs zeroed (p = {p}), their mean {y.mean():.4f} (1 kept)")
    step.check(np.array_equal(drop.backward(ones), y), f"Dropout({p}).backward: the gradient goes through the "
               "same mask, scaled by 1/(1-p)")
    step.check(np.array_equal(drop.forward(ones, training=False), ones), f"Dropout({p}) in evaluation: the identity")

rng = np.random.default_rng(0)
activations = np.abs(rng.standard_normal((500, 256)))                # a ReLU layer's outputs, say
drop = L.Dropout(0.5)
mean_of_draws = np.mean([drop.forward(activations, training=True) for _ in range(100)], axis=0)
relative = float(np.abs(mean_of_draws.mean(axis=0) - activations.mean(axis=0)).max() / activations.mean())
step.check(relative < 0.03, f"averaged over 100 masks, each unit's mean output is its eval output "
           f"(largest relative difference {relative:.1%})")
without_scaling = np.mean([activations * (rng.random(activations.shape) >= 0.5) for _ in range(5)])
print(f"without the 1/(1-p): the training mean would be {without_scaling / activations.mean():.3f} x the eval "
      "mean - the next layer would see inputs twice as large at test time")

# %% [markdown]
# ## The experiment: the same network with and without dropout
#
# Adam at lr 0.001, batches of 32. A small callback measures the accuracy on the
# training images after every epoch in *evaluation* mode (the running accuracy that `fit`
# reports is taken with dropout on, which understates it).

# %%
(x_train, y_train), (x_test, y_test) = mc.data.load_fashion_mnist()
n_train, n_test, epochs = (600, 500, 8) if step.quick else (3000, 5000, 20)
x = (x_train[:n_train].astype(np.float32) / 255)[:, None]
y = y_train[:n_train]
xt = (x_test[:n_test].astype(np.float32) / 255)[:, None]
yt = y_test[:n_test]
print(f"training on {len(x)} images, testing on {len(xt)}, {epochs} epochs")


class TrainAccuracy(mc.training.Callback):
    """After every epoch: the accuracy on the training images, in evaluation mode."""

    def __init__(self, x, y):
        self.x, self.y, self.values = x, y, []

    def on_epoch_end(self, epoch, logs):
        self.values.append(self.model.evaluate(self.x, self.y, mc.losses.CrossEntropy())["accuracy"])


def network(p):
    """Dense 784-512-512-10, with Dropout(p) after each hidden layer when p > 0."""
    mc.manual_seed(0)                                   # the same initial weights for both
    drop = (lambda: [L.Dropout(p)]) if p else (lambda: [])
    return mc.Sequential([L.Flatten(), L.Dense(784, 512), L.ReLU(), *drop(),
                          L.Dense(512, 512), L.ReLU(), *drop(), L.Dense(512, 10)])


runs = {}
for p in (0.0, 0.5):
    model = network(p)
    train_accuracy = TrainAccuracy(x, y)
    history = model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.Adam(model.parameters(), lr=1e-3),
                        epochs=epochs, batch_size=32, validation_data=(xt, yt), callbacks=[train_accuracy])
    train, test = train_accuracy.values[-1], history.history["val_accuracy"][-1]
    runs[p] = dict(model=model, train=train_accuracy.values, test=history.history["val_accuracy"])
    print(f"dropout p = {p}: {model.num_params():,} parameters, training accuracy {train:.2%}, "
          f"test accuracy {test:.2%}, gap {100 * (train - test):.1f} points")

plain, dropped = runs[0.0], runs[0.5]
step.check(plain["model"].num_params() == dropped["model"].num_params() == 784 * 512 + 512 + 512 * 512 + 512 + 5130,
           f"the same network: {plain['model'].num_params():,} parameters in both (Dropout has none)")
step.check(plain["train"][-1] == plain["model"].evaluate(x, y, mc.losses.CrossEntropy())["accuracy"],
           "the callback's last training accuracy = evaluate on the training images")
gap_plain = plain["train"][-1] - plain["test"][-1]
gap_dropout = dropped["train"][-1] - dropped["test"][-1]
step.check(plain["train"][-1] > (0.85 if step.quick else 0.95), f"without dropout the network nearly memorises its {len(x)} images: "
           f"{plain['train'][-1]:.2%}")
step.check(gap_dropout < gap_plain, f"the train/test gap: {100 * gap_plain:.1f} points without dropout, "
           f"{100 * gap_dropout:.1f} with")
scores = dropped["model"].predict(xt[:100])
step.check(np.array_equal(scores, dropped["model"].predict(xt[:100])),
           "predict runs in evaluation mode: dropout off, the same scores every time")

# %%
fig = step.plt.figure(figsize=(13, 4.8), layout="constrained")
ax_curves, ax_gap = fig.subplots(1, 2, width_ratios=[1.6, 1])
axis = np.arange(1, epochs + 1)
for p, colour in ((0.0, "tab:red"), (0.5, "tab:blue")):
    name = "no dropout" if p == 0 else f"Dropout({p})"
    ax_curves.plot(axis, runs[p]["train"], "o--", color=colour, alpha=0.6, markersize=4, label=f"{name}, training")
    ax_curves.plot(axis, runs[p]["test"], "s-", color=colour, markersize=4, label=f"{name}, test")
    gaps = np.subtract(runs[p]["train"], runs[p]["test"])
    ax_gap.plot(axis, 100 * gaps, "o-", color=colour, markersize=4, label=name)
ax_curves.set_ylabel("accuracy (training images in evaluation mode)")
ax_curves.set_title(f"Dense 784-512-512-10 on {len(x):,} Fashion-MNIST images, tested on {len(xt):,}", fontsize=10)
ax_gap.set_ylabel("training accuracy - test accuracy (points)")
ax_gap.set_title("the generalisation gap", fontsize=10)
ax_gap.set_ylim(bottom=0)
for ax in (ax_curves, ax_gap):
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
fig.suptitle(f"Dropout as regularisation: final gap {100 * gap_plain:.1f} points without, {100 * gap_dropout:.1f} with; "
             f"test accuracy {plain['test'][-1]:.1%} without, {dropped['test'][-1]:.1%} with")
step.save(fig, "gap.png")

# %%
step.done(train_samples=len(x), test_samples=len(xt), epochs=epochs,
          train_accuracy_plain=plain["train"][-1], test_accuracy_plain=plain["test"][-1],
          train_accuracy_dropout=dropped["train"][-1], test_accuracy_dropout=dropped["test"][-1],
          gap_plain=gap_plain, gap_dropout=gap_dropout)
