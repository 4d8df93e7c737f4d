# %% [markdown]
# # Step 20: transfer learning - when a pretrained network helps, and how much of it to keep
#
# A CNN's first layers learn edges, strokes and blobs, which many picture tasks share; its
# last layers, the *head*, give the old task's classes. A new task with few labelled
# pictures can start from a network trained on a large data set: keep its *body*, put a
# new head on it. How much of it to keep is the classic guideline, by two questions,
# how many labels the new task has and how close it is to the old one:
#
# | | few labels | many labels |
# |---|---|---|
# | **similar data** | freeze the body, train a new head | fine-tune (it gains little over scratch) |
# | **different data** | keep only the early layers, or freeze the body | fine-tune, or train from scratch |
#
# Three ways to learn a new task, compared below:
#
# - **scratch**: the whole network from random weights, on the new labels only;
# - **frozen body + a new head**: the pretrained body kept as it is (`trainable = False`,
#   Keras's name; each of its parameters gets `requires_grad = False`, PyTorch's): few
#   weights to fit, so little to overfit;
# - **fine-tuning**: body and head trained together, the body at a learning rate ten
#   times smaller so that it adapts without forgetting (the optimiser's *parameter
#   groups*: `SGD([{"params": body.parameters(), "lr": small}, {"params": head...}], lr=...)`).
#
# The pretrained network ships with minicnn: `minicnn.models.transfer_cnn(weights=
# "digits0-4")`, trained on the MNIST digits 0 to 4 only. The similar task is the digits 5
# to 9 (the same strokes, classes the body never saw), the different one Fashion-MNIST
# (clothes). `examples/transfer_learning.py` runs the whole table (and a fourth way,
# only the first block frozen); this step runs a part of it, with the same settings.
#
# Needs MNIST and Fashion-MNIST (`minicnn.data.load_mnist()`, `load_fashion_mnist()`).
#
#     python examples/tutorial/20_transfer_learning.py [--out DIR] [--quick]
#
# The full run (10, 30 and 100 labels a class for both targets, 3 seeds, the whole test
# splits) takes about 6 minutes on 2 busy cores; `--quick` (what the tests run: 10 and 30
# labels for the digits, 10 for the clothes, 1,000 test pictures) about half a minute.

# %%
import numpy as np

import minicnn as mc
from minicnn import layers as L

from _common import Step

step = Step("20_transfer_learning", "Transfer learning: the guidelines measured on digits and clothes")

# %% [markdown]
# ## 1. The pretrained network
#
# `list_weights()` says what ships: the data set, the test accuracy, the input it takes,
# the file and its SHA-256 (checked at every load: a damaged file is refused), and the
# recipe, the command that trained it. Its body is `model[:TRANSFER_BODY]`: two
# convolutional blocks (conv, BatchNorm, ReLU, max pool) and a Flatten, 1,568 features.

# %%
record = mc.models.list_weights("transfer_cnn")[0]
print(f"{record['model']}(weights={record['name']!r}): {record['dataset']}, {record['accuracy']:.2%} on "
      f"{record['split']}\n  input: {record['input']}\n  recipe: {record['recipe']}")
pretrained = mc.models.transfer_cnn(weights="digits0-4")
print(pretrained.summary((1, 28, 28)))

seeds = (0, 1, 2)
# labelled pictures a class, per target; the quick run tests on 1,000 pictures, the full one on all
labels = {"digits 5-9": (10, 30), "Fashion-MNIST": (10,)} if step.quick else \
    {"digits 5-9": (10, 30, 100), "Fashion-MNIST": (10, 30, 100)}
n_test = 1000 if step.quick else None
(xm, ym), (xm_test, ym_test) = mc.data.load_mnist()
as_input = lambda images: (images.astype(np.float32) / 255)[:, None]
seen = ym_test < 5
accuracy = pretrained.evaluate(as_input(xm_test[seen][:n_test]), ym_test[seen][:n_test],
                               mc.losses.CrossEntropy())["accuracy"]
step.check(abs(accuracy - record["accuracy"]) < 0.01 if n_test is None else accuracy > 0.98,
           f"the shipped network reads the digits 0-4: {accuracy:.2%} on {seen.sum() if n_test is None else n_test:,} "
           f"of their test pictures (recorded: {record['accuracy']:.2%} on all)")

# %% [markdown]
# ## 2. Learning a new task three ways
#
# `learn` trains one way on a set of labelled pictures and returns the test accuracy. All
# three start from the same new head (Dense 1568-128-classes) and see the same batches:
# SGD with momentum 0.9 at 0.05 (the fine-tuned body at 0.005), batches of 32.
#
# A frozen body is a fixed function: in training it runs exactly as in evaluation (its
# BatchNorm normalises by its running statistics and keeps them, Keras's rule). So its
# output for each picture can be computed once, and the head trained on these stored
# *features*: Keras's "feature extraction", the same numbers as running the frozen body
# at every step (checked below), for the cost of training the head alone.

# %%
def new_head(classes):
    return [L.Dense(32 * 7 * 7, 128), L.ReLU(), L.Dense(128, classes)]


def body(pretrained_weights):
    """The shipped body (a fresh copy), or the same layers with random weights."""
    model = mc.models.transfer_cnn(weights="digits0-4" if pretrained_weights else None)
    return model[:mc.models.TRANSFER_BODY]


def learn(way, x, y, test, classes, seed, features=True):
    """Train ``way`` on (x, y); returns (test accuracy, the model or head that was trained)."""
    mc.manual_seed(seed)
    head = new_head(classes)                                 # the same initial head for the three ways
    trunk = body(way != "scratch")
    if way == "frozen" and features:                         # the body runs once per picture
        trunk.trainable = False
        x, test = trunk.predict(x, batch_size=500), (trunk.predict(test[0], batch_size=500), test[1])
        model = mc.Sequential(head)
    else:
        model = mc.Sequential([*trunk, *head])
        trunk.trainable = way != "frozen"
    if way == "fine-tune":
        opt = mc.optim.SGD([{"params": trunk.parameters(), "lr": 0.005},
                            {"params": model[len(trunk):].parameters()}], lr=0.05, momentum=0.9)
    else:
        opt = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)     # frozen parameters are skipped
    mc.manual_seed(seed)                                     # the same batches for the three ways
    model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=max(3, min(30, 30000 // len(x))), batch_size=32,
              progress=False)
    return model.evaluate(*test, mc.losses.CrossEntropy(), batch_size=500)["accuracy"], model


def labelled(y, per_class, seed):
    """Indices of ``per_class`` pictures of each class, drawn with ``(seed, per_class)``."""
    rng = np.random.default_rng([seed, per_class])
    return rng.permutation(np.concatenate([rng.choice(np.flatnonzero(y == k), per_class, replace=False)
                                           for k in np.unique(y)]))


WAYS = ("scratch", "frozen", "fine-tune")
targets = {}
new = ym >= 5                                                # digits 5-9, relabelled 0-4
targets["digits 5-9"] = ((as_input(xm[new]), ym[new] - 5),
                         (as_input(xm_test[~seen][:n_test]), ym_test[~seen][:n_test] - 5))
(xf, yf), (xf_test, yf_test) = mc.data.load_fashion_mnist()
targets["Fashion-MNIST"] = (as_input(xf), yf), (as_input(xf_test[:n_test]), yf_test[:n_test])

# The frozen body, run at every step or once: the same head (to float32 rounding).
(x, y), test = targets["digits 5-9"]
chosen = labelled(y, 10, 0)
_, stored = learn("frozen", x[chosen], y[chosen], test, 5, 0)
_, looped = learn("frozen", x[chosen], y[chosen], test, 5, 0, features=False)
step.check_close(stored[0].params["W"].data, looped[mc.models.TRANSFER_BODY].params["W"].data,
                 "a head trained on stored features = the head of a frozen body run every step", atol=1e-5)
frozen_body = looped[:mc.models.TRANSFER_BODY]
step.check(all(np.array_equal(p.data, q.data) for p, q in zip(frozen_body.parameters(), body(True).parameters()))
           and np.array_equal(frozen_body[1].running_mean, body(True)[1].running_mean),
           "after training, the frozen body's weights and BatchNorm statistics are the shipped ones, bit for bit")

# %% [markdown]
# ## 3. Similar data: digits 5-9
#
# First 10 labelled pictures a class (50 in all), then more. Each cell is the mean over
# the seeds (each seed draws other pictures and another head) ± their standard deviation,
# on the digits 5-9 of the test split. Watch the spread as well as the mean: from 50
# pictures, training from random weights is a gamble (one seed does well, another badly),
# the pretrained body is not.

# %%
results = {}                                                 # (target, labels a class, way) -> accuracies


def run(target, per_class):
    (x, y), test = targets[target]
    for seed in seeds:
        chosen = labelled(y, per_class, seed)
        for way in WAYS:
            accuracy, _ = learn(way, x[chosen], y[chosen], test, len(np.unique(y)), seed)
            results.setdefault((target, per_class, way), []).append(accuracy)
    cells = [np.array(results[target, per_class, w]) * 100 for w in WAYS]
    print(f"{target}, {per_class} labels a class: " + ", ".join(
        f"{w} {c.mean():.1f} ± {c.std(ddof=1):.1f}" for w, c in zip(WAYS, cells)))


for per_class in labels["digits 5-9"]:
    run("digits 5-9", per_class)
gain = lambda target, n: np.mean(np.maximum(results[target, n, "frozen"], results[target, n, "fine-tune"])) \
    - np.mean(results[target, n, "scratch"])
step.check(gain("digits 5-9", 10) > 0.02,
           "digits 5-9 from 10 labels a class: the pretrained body (frozen or fine-tuned) beats scratch by "
           f"{100 * gain('digits 5-9', 10):.1f} points, averaged over the seeds (more than 2)")
most = labels["digits 5-9"][-1]
step.check(gain("digits 5-9", most) < gain("digits 5-9", 10),
           f"the advantage shrinks with more labels: {100 * gain('digits 5-9', 10):.1f} points at 10 a class, "
           f"{100 * gain('digits 5-9', most):.1f} at {most}")

# %% [markdown]
# ## 4. Different data: Fashion-MNIST
#
# The same body on clothes. Digit strokes are not a garment's textures and outlines: the
# frozen body's features fit clothes less well, and with more labels the task needs the
# body to change. `examples/transfer_learning.py` measured the whole table (3 seeds, the
# whole test splits, test accuracy in %, mean ± standard deviation; its fourth way, only
# the first block frozen, left out here; the full run of this step computes the same cells
# at 10 and 100 labels, the same way):
#
# | target | labels a class | scratch | frozen | fine-tune |
# |---|---|---|---|---|
# | digits 5-9 | 10 | 82.8 ± 6.0 | 87.7 ± 1.2 | 87.6 ± 1.4 |
# | digits 5-9 | 100 | 95.7 ± 0.2 | 96.2 ± 0.2 | 96.3 ± 0.2 |
# | digits 5-9 | 1000 | 98.3 ± 0.3 | 98.3 ± 0.1 | 98.5 ± 0.1 |
# | Fashion-MNIST | 10 | 66.6 ± 4.4 | 70.1 ± 1.8 | 67.5 ± 5.6 |
# | Fashion-MNIST | 100 | 80.8 ± 2.6 | 80.5 ± 0.4 | 81.8 ± 0.6 |
# | Fashion-MNIST | 1000 | 84.6 ± 1.6 | 83.8 ± 0.2 | 85.1 ± 0.9 |
#
# So: with similar data transfer wins clearly when labels are few (5 points at 10 a
# class, and a steady result where scratch ranges from 77% to 89% over three seeds) and
# the gain fades as they grow (half a point at 100, none at 1,000). With different data a
# frozen body helps only with the fewest labels and then falls behind scratch, while
# fine-tuning stays level or ahead. The guideline, measured. (The quick run: 10 and 30
# labels a class for the digits, 10 for the clothes, 1,000 test pictures; its numbers are
# noisier.)

# %%
for per_class in labels["Fashion-MNIST"]:
    run("Fashion-MNIST", per_class)
step.check(all(np.mean(results["Fashion-MNIST", n, w]) > 0.5 for n in labels["Fashion-MNIST"] for w in WAYS),
           "Fashion-MNIST: every way learns, far above chance (10%)")

# %% [markdown]
# ## 5. The guideline, drawn
#
# Accuracy against labels per class, a panel per target, a line per way; the error bars
# are one standard deviation over the seeds.

# %%
fig, axes = step.plt.subplots(1, 2, figsize=(11, 4.3), layout="constrained")
colours = {"scratch": "tab:gray", "frozen": "tab:blue", "fine-tune": "tab:orange"}
for ax, target in zip(axes, targets):
    for k, way in enumerate(WAYS):
        cells = [100 * np.array(results[target, n, way]) for n in labels[target]]
        ax.errorbar(np.array(labels[target]) * (1 + 0.04 * (k - 1)), [c.mean() for c in cells],
                    yerr=[c.std(ddof=1) for c in cells], marker="o", ms=4, capsize=3, color=colours[way], label=way)
    ax.set_xscale("log")
    ax.set_xlim(min(labels[target]) / 1.6, max(labels[target]) * 1.6)
    ax.set_xticks(labels[target], [str(n) for n in labels[target]])
    ax.minorticks_off()
    ax.set_xlabel("labelled training pictures per class")
    ax.set_ylabel(f"test accuracy (%) on {len(targets[target][1][1]):,} pictures")
    ax.set_title(f"{target}{' (similar)' if target.startswith('digits') else ' (different)'}, "
                 "from the digits 0-4 body", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
fig.suptitle(f"Transfer learning: mean of {len(seeds)} seeds, error bars one standard deviation", fontsize=10)
step.save(fig, "transfer.png")

# %%
step.done(seeds=len(seeds), labels_per_class=labels, test_samples=n_test,
          **{f"{t.replace(' ', '_').replace('-', '_')}_{n}_{w.replace('-', '_')}": float(np.mean(a))
             for (t, n, w), a in results.items()})
