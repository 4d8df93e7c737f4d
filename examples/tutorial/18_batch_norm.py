# %% [markdown]
# # Step 18: batch normalisation - what it does to the activations and to the learning rate
#
# A convolution's outputs drift as the weights learn: their mean and spread differ from
# channel to channel and change from one step to the next, and the next layer has to
# follow. **Batch normalisation** (Ioffe and Szegedy, 2015) re-centres and re-scales every
# channel over the batch, then lets the network choose the scale it wants:
#
#     training:    mu = mean(x), var = mean((x - mu)^2)      per channel, over N, H and W
#     evaluation:  mu = running_mean, var = running_var      (averages kept during training)
#     y = gamma * (x - mu) / sqrt(var + eps) + beta          gamma, beta: learnt, one per channel
#
# The running averages follow PyTorch's rule, `running = (1 - momentum) running +
# momentum batch` with momentum 0.1 and the unbiased batch variance; in evaluation mode
# one picture gives the same output whatever else is in its batch.
#
# Three things, measured: the formula by hand against `BatchNorm`; the range of learning
# rates at which a plain CNN and the same CNN with BatchNorm after every convolution
# learn, in the same short run of SGD with momentum; and the activations of a convolution
# before and after its BatchNorm (after: mean 0 and standard deviation 1 in every
# channel, in training mode). The classic claim is that BatchNorm lets a network train at
# higher learning rates, and often faster at low ones too; the numbers this run measured
# are printed and drawn below.
#
# Needs MNIST (`minicnn.data.load_mnist()`, as in step 11).
#
#     python examples/tutorial/18_batch_norm.py [--out DIR] [--quick]

# %%
import numpy as np

import minicnn as mc
from minicnn import layers as L

from _common import Step

step = Step("18_batch_norm", "BatchNorm: the formula by hand, the activations, the learning-rate range")

# %% [markdown]
# ## The forward pass by hand
#
# A batch of 16 feature maps with 4 channels, far from mean 0 and variance 1, in float64.

# %%
rng = np.random.default_rng(0)
x = rng.normal(loc=[3.0, -1.0, 0.5, 10.0], scale=[2.0, 0.1, 1.0, 5.0], size=(16, 5, 5, 4)).transpose(0, 3, 1, 2)
bn = L.BatchNorm(4, dtype=np.float64)
gamma, beta = rng.uniform(0.5, 2, 4), rng.normal(0, 1, 4)
bn.params["gamma"].data[...] = gamma
bn.params["beta"].data[...] = beta
per_channel = lambda a: a.reshape(1, 4, 1, 1)                          # (4,) broadcast along axis 1

y = bn.forward(x, training=True)
m = x.size // 4                                                        # values per channel: 16 * 5 * 5
mu = x.mean(axis=(0, 2, 3))
var = ((x - per_channel(mu)) ** 2).mean(axis=(0, 2, 3))                # biased: divided by m
by_hand = per_channel(gamma) * (x - per_channel(mu)) / np.sqrt(per_channel(var) + 1e-5) + per_channel(beta)
step.check_close(y, by_hand, "training: gamma (x - mean) / sqrt(var + eps) + beta, per channel", atol=1e-12)
normalised = (y - per_channel(beta)) / per_channel(gamma)
step.check_close(normalised.mean(axis=(0, 2, 3)), np.zeros(4), "before gamma and beta: mean 0 in every channel")
step.check_close(normalised.std(axis=(0, 2, 3)), np.sqrt(var / (var + 1e-5)),
                 "... and standard deviation sqrt(var / (var + eps)), 1 up to eps", atol=1e-12)
step.check_close(bn.running_mean, 0.9 * 0 + 0.1 * mu, "running_mean = 0.9 * 0 + 0.1 * mean", atol=1e-12)
step.check_close(bn.running_var, 0.9 * 1 + 0.1 * var * m / (m - 1),
                 "running_var = 0.9 * 1 + 0.1 * var * m / (m - 1): the unbiased variance", atol=1e-12)
y_eval = bn.forward(x[:1])
by_hand_eval = (per_channel(gamma) * (x[:1] - per_channel(bn.running_mean)) / np.sqrt(per_channel(bn.running_var)
                + 1e-5) + per_channel(beta))
step.check_close(y_eval, by_hand_eval, "evaluation: the same formula with the running statistics", atol=1e-12)
step.check_close(bn.forward(x)[:1], y_eval, "evaluation: a picture's output does not depend on its batch",
                 atol=1e-12)

# %% [markdown]
# ## The learning-rate range
#
# A plain CNN, three convolutions with ReLU and max pooling and a Dense head, and the
# same CNN with a `BatchNorm` after every convolution (Conv-BN-ReLU):
#
#     Conv2D(1, 4, 3) [BatchNorm(4)]  ReLU MaxPool2D(2)     4 x 14 x 14
#     Conv2D(4, 8, 3) [BatchNorm(8)]  ReLU MaxPool2D(2)     8 x 7 x 7
#     Conv2D(8, 16, 3) [BatchNorm(16)] ReLU MaxPool2D(2)    16 x 3 x 3
#     Flatten  Dense(144, 10)
#
# Both start from the same weights (`BatchNorm` draws none: gamma 1, beta 0) and see the
# same batches of 32 digits, in the same order, for the same number of steps of SGD with
# momentum 0.9, at learning rates from 0.003 to 1 spaced evenly on a log scale. A run
# whose loss becomes NaN or infinite stops with `TrainingDiverged` and is drawn at chance
# level (10%), marked "diverged"; a run can also fail without NaN, stuck at chance, when
# its ReLUs have all died.

# %%
(x_train, y_train), (x_test, y_test) = mc.data.load_mnist()
steps, n_test = (80, 500) if step.quick else (300, 10000)
LEARNING_RATES = (0.003, 0.03, 0.3) if step.quick else (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
xs = (x_train[:32 * steps].astype(np.float32) / 255)[:, None]         # one epoch of `steps` batches
ys = y_train[:32 * steps]
xt = (x_test[:n_test].astype(np.float32) / 255)[:, None]
yt = y_test[:n_test]
print(f"{steps} steps of 32 digits ({len(xs):,} images, one epoch), tested on {n_test:,}")


def cnn(batch_norm):
    """Conv-[BN]-ReLU-MaxPool three times, then Dense(144, 10); the same weights with or without BN."""
    mc.manual_seed(0)
    layers, c = [], 1
    for width in (4, 8, 16):
        layers += [L.Conv2D(c, width, 3, padding=1), *([L.BatchNorm(width)] if batch_norm else []),
                   L.ReLU(), L.MaxPool2D(2)]
        c = width
    return mc.Sequential(layers + [L.Flatten(), L.Dense(16 * 3 * 3, 10)])


accuracy, models = {}, {}
for batch_norm in (False, True):
    for lr in LEARNING_RATES:
        model = cnn(batch_norm)
        try:
            model.fit(xs, ys, mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=lr, momentum=0.9),
                      epochs=1, batch_size=32, shuffle=False, progress=False)
            accuracy[batch_norm, lr] = model.evaluate(xt, yt, mc.losses.CrossEntropy())["accuracy"]
        except mc.training.TrainingDiverged as error:
            print(f"  lr {lr}, {'with' if batch_norm else 'without'} BatchNorm: {error}")
            accuracy[batch_norm, lr] = float("nan")
        models[batch_norm, lr] = model
print(f"test accuracy after {steps} steps (nan: diverged)")
print(f"{'learning rate':>14}" + "".join(f"{lr:>9}" for lr in LEARNING_RATES))
for batch_norm in (False, True):
    print(f"{'BatchNorm' if batch_norm else 'plain':>14}" +
          "".join(f"{accuracy[batch_norm, lr]:>9.3f}" for lr in LEARNING_RATES))

plain = np.array([accuracy[False, lr] for lr in LEARNING_RATES])
with_bn = np.array([accuracy[True, lr] for lr in LEARNING_RATES])
failed = lambda a: np.isnan(a) | (a < 0.2)                     # diverged, or stuck near chance (10%)
fresh_plain, fresh_bn = cnn(False), cnn(True)
step.check(all(np.array_equal(fresh_plain[i].params["W"].data, fresh_bn[j].params["W"].data)
               for i, j in ((0, 0), (3, 4), (6, 8), (10, 13))),
           "both networks start from the same convolution and Dense weights")
step.check(fresh_bn.num_params() == fresh_plain.num_params() + 2 * (4 + 8 + 16),
           "BatchNorm adds 2 parameters per channel (gamma, beta): 56 here")
step.check(with_bn[0] > plain[0], f"at the smallest rate, {LEARNING_RATES[0]}, BatchNorm learns faster: "
           f"{with_bn[0]:.1%} against {plain[0]:.1%}")
step.check(failed(plain[-1]), f"the plain network fails at the highest rate, {LEARNING_RATES[-1]}: "
           f"{'diverged' if np.isnan(plain[-1]) else f'{plain[-1]:.1%}'}")
rescued = [lr for lr, p, b in zip(LEARNING_RATES, plain, with_bn) if failed(p) and not failed(b)]
step.check(len(rescued) >= 1, f"BatchNorm learns where the plain network fails: at lr {', '.join(map(str, rescued))}")
best_plain, best_bn = np.nanmax(plain), np.nanmax(with_bn)
print(f"best: plain {best_plain:.1%} at lr {LEARNING_RATES[int(np.nanargmax(plain))]}, with BatchNorm "
      f"{best_bn:.1%} at lr {LEARNING_RATES[int(np.nanargmax(with_bn))]}")
print(f"BatchNorm ahead by more than a point at lr "
      f"{[lr for lr, p, b in zip(LEARNING_RATES, plain, with_bn) if np.nan_to_num(b) > np.nan_to_num(p) + 0.01]}, "
      f"behind by more than a point at lr "
      f"{[lr for lr, p, b in zip(LEARNING_RATES, plain, with_bn) if np.nan_to_num(b) < np.nan_to_num(p) - 0.01]}; "
      f"both fail at lr {[lr for lr, p, b in zip(LEARNING_RATES, plain, with_bn) if failed(p) and failed(b)]}")

# %%
fig = step.plt.figure(figsize=(9, 5), layout="constrained")
ax = fig.subplots()
for batch_norm, colour in ((False, "tab:red"), (True, "tab:blue")):
    values = with_bn if batch_norm else plain
    name = "Conv-BN-ReLU (with BatchNorm)" if batch_norm else "Conv-ReLU (plain)"
    ax.plot(LEARNING_RATES, np.nan_to_num(values, nan=0.1), "o-", color=colour, label=name)
    for lr, v in zip(LEARNING_RATES, values):
        ax.annotate("diverged" if np.isnan(v) else f"{v:.1%}", (lr, 0.1 if np.isnan(v) else v),
                    textcoords="offset points", xytext=(0, 8 if batch_norm else -14), ha="center", fontsize=8,
                    color=colour)
ax.axhline(0.1, color="gray", lw=0.8, ls=":", label="chance (10%)")
ax.set_xscale("log")
ax.set_xticks(LEARNING_RATES, [str(lr) for lr in LEARNING_RATES])
ax.minorticks_off()
ax.set_ylim(0, 1.05)
ax.set_xlabel("learning rate (SGD, momentum 0.9; log scale)")
ax.set_ylabel(f"test accuracy after {steps} steps")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8, loc="lower left")
ax.set_title(f"The same 3-convolution MNIST CNN with and without BatchNorm: {steps} steps of 32 digits, "
             f"tested on {n_test:,}", fontsize=10)
step.save(fig, "learning_rates.png")

# %% [markdown]
# What the runs measured while this step was written (seed 0; the table above is this
# run's). The full run, 300 steps tested on 10,000 digits, at rates 0.003, 0.01, 0.03,
# 0.1, 0.3 and 1: the plain network 88.9%, 92.3%, 91.3%, 9.6%, 10.3%, 10.3%; with
# BatchNorm 90.6%, 93.2%, 92.3%, 92.9%, 55.0%, 10.3%. So the plain network is stuck at
# chance from 0.1 up (its loss stays finite: no `TrainingDiverged`, it just stops
# learning), while the one with BatchNorm still learns at 0.1, half-learns at 0.3, and
# fails only at 1 (with momentum 0.9 the step is about ten times the rate). The quick
# run, 80 steps tested on 500 digits at 0.003, 0.03 and 0.3: plain 38.0%, 75.4%, 11.0%;
# with BatchNorm 72.2%, 78.4%, 49.6%. In runs this short BatchNorm widens the range of
# rates that work by about a decade and learns faster at the smallest rate; the best
# accuracies are close (93.2% against 92.3% in the full run).

# %% [markdown]
# ## The activations before and after BatchNorm
#
# The first convolution's 4 channels of the CNN trained with BatchNorm at lr 0.03, on 256
# test digits: before BatchNorm each channel has its own mean and spread; after it, in
# training mode, every channel has mean 0 and standard deviation 1 (then gamma and beta
# move them where the network learnt to want them). In evaluation mode the running
# statistics do the same job, approximately, without looking at the batch. Most of an
# MNIST picture is blank, and a convolution gives the same value (its bias) on every
# blank 3x3 patch: that value is the tall spike in each channel's histogram, drawn on a
# log scale so that the rest shows.

# %%
trained = models[True, 0.03]
conv, norm = trained[0], trained[1]
digits = xt[:256]
before = conv.forward(digits)                                          # (256, 4, 28, 28)
saved = norm.running_mean.copy(), norm.running_var.copy()
after_training = norm.forward(before, training=True)                  # batch statistics
norm.running_mean, norm.running_var = saved                            # that forward moved them: put back
after_eval = norm.forward(before)                                      # running statistics
g, b = (norm.params[k].data.reshape(1, -1, 1, 1) for k in ("gamma", "beta"))
standardised = (after_training - b) / g                                # undo the learnt scale and shift
print("channel   mean before   std before   mean after   std after (gamma, beta removed; training mode)")
for c in range(norm.num_features):
    print(f"{c:>7}{before[:, c].mean():>14.3f}{before[:, c].std():>13.3f}{standardised[:, c].mean():>13.3f}"
          f"{standardised[:, c].std():>12.3f}")
step.check(np.abs(standardised.mean(axis=(0, 2, 3))).max() < 1e-4
           and np.abs(standardised.std(axis=(0, 2, 3)) - 1).max() < 1e-3,
           "after BatchNorm in training mode (gamma, beta removed): every channel has mean 0 and std 1")
running = (after_eval - b) / g
step.check_close(running, (before - norm.running_mean.reshape(1, -1, 1, 1))
                 / np.sqrt(norm.running_var.reshape(1, -1, 1, 1) + norm.eps),
                 "evaluation mode: (x - running_mean) / sqrt(running_var + eps) before gamma and beta", atol=1e-4)
print(f"evaluation mode on these digits: channel means within {np.abs(running.mean(axis=(0, 2, 3))).max():.2f} "
      f"of 0, standard deviations {running.std(axis=(0, 2, 3)).min():.2f} .. {running.std(axis=(0, 2, 3)).max():.2f}")

# %%
fig = step.plt.figure(figsize=(16, 4.8), layout="constrained")
axes = fig.subplots(1, 4, width_ratios=[1, 1, 1, 0.9])
colours = step.plt.get_cmap("tab10")
panels = ((before, "Conv2D output (before BatchNorm)"),
          (standardised, "after BatchNorm, training mode\n(batch statistics; gamma, beta removed)"),
          (running, "after BatchNorm, evaluation mode\n(running statistics; gamma, beta removed)"))
for ax, (values, title) in zip(axes, panels):
    low, high = np.percentile(values, [0.5, 99.5])
    bins = np.linspace(low, high, 60)
    for c in range(norm.num_features):
        ax.hist(values[:, c].ravel(), bins=bins, histtype="step", color=colours(c), density=True,
                label=f"channel {c}")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("activation")
    ax.set_ylabel("density (log scale)")
    ax.grid(True, alpha=0.3)
axes[0].legend(fontsize=7, ncol=2)
ax = axes[3]
summaries = ((before, "before"), (standardised, "after, training"), (running, "after, evaluation"))
for k, (values, name) in enumerate(summaries):
    means, stds = values.mean(axis=(0, 2, 3)), values.std(axis=(0, 2, 3))
    ax.errorbar(np.arange(norm.num_features) + 0.22 * (k - 1), means, yerr=stds, fmt="os^"[k], capsize=3,
                markersize=4, color=("tab:gray", "tab:blue", "tab:orange")[k], label=name)
ax.axhline(0, color="black", lw=0.6)
for level in (-1, 1):
    ax.axhline(level, color="gray", lw=0.6, ls=":")
ax.set_xticks(range(norm.num_features))
ax.set_xlabel("channel")
ax.set_ylabel("mean +- standard deviation")
ax.set_title("each channel's mean and spread", fontsize=9)
ax.legend(fontsize=7, loc="lower right")
ax.grid(True, alpha=0.3)
fig.suptitle("The first convolution's channels on 256 test digits (the CNN trained with BatchNorm at lr 0.03): "
             "each its own centre and spread before, mean 0 and std 1 after\n(the spikes: the blank background, "
             "where every 3x3 patch gives the same value)", fontsize=11)
step.save(fig, "activations.png")

# %%
step.done(steps=steps, train_samples=len(xs), test_samples=n_test, learning_rates=list(LEARNING_RATES),
          accuracy_plain=[None if np.isnan(a) else a for a in plain],
          accuracy_batchnorm=[None if np.isnan(a) else a for a in with_bn])
