# %% [markdown]
# # Step 12: dense first, then why convolution
#
# Fashion-MNIST: 70,000 grayscale 28x28 pictures of clothes in 10 classes (T-shirt,
# trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot). The classic
# first network flattens each picture into 784 numbers and feeds them to a dense
# layer of 20 units:
#
#     Keras:   Flatten, Dense(20, relu), Dense(10, softmax);  Adam;  sparse categorical cross-entropy
#     minicnn: Flatten, Dense(784, 20), ReLU, Dense(20, 10);   Adam;  CrossEntropy
#
# One difference: minicnn's last layer has no softmax. `CrossEntropy` takes the raw
# scores ("logits") and applies the softmax inside the loss, which is the same function
# computed without overflow. `predict` therefore returns logits; their argmax is the
# class, and `functional.softmax` turns them into probabilities when you want those.
#
# The dense net reaches about 86%. It sees 784 unrelated numbers: shift a sweater by
# one pixel and every input changes. A CNN looks at small neighbourhoods with the same
# kernels everywhere, and does better with fewer weights per layer.
#
# Needs Fashion-MNIST (`minicnn.data.load_fashion_mnist()`; `$MINICNN_DATA/fashion-mnist`
# or the user cache, downloaded once when missing).
#
#     python examples/tutorial/12_dense_first.py [--out DIR] [--quick]

# %%
import numpy as np
from matplotlib.ticker import MaxNLocator

import minicnn as mc
from minicnn import functional as F
from minicnn import layers as L
from minicnn import viz

from _common import Step

step = Step("12_dense_first", "Fashion-MNIST: the classic Dense 20 + Adam network, then a CNN")

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
(x_train, y_train), (x_test, y_test) = mc.data.load_fashion_mnist()
if step.quick:
    x_train, y_train, x_test, y_test = x_train[:4000], y_train[:4000], x_test[:1000], y_test[:1000]
x = (x_train.astype(np.float32) / 255)[:, None]                  # (N, 1, 28, 28) in [0, 1]
xt = (x_test.astype(np.float32) / 255)[:, None]
n_val = len(x) // 10                                             # the last 10% for validation
x_fit, y_fit, x_val, y_val = x[:-n_val], y_train[:-n_val], x[-n_val:], y_train[-n_val:]
print(f"training on {len(x_fit)}, validating on {n_val}, testing on {len(xt)} images")

fig = viz.show_images(x_train[:24], labels=y_train[:24], class_names=CLASSES, ncols=8)
fig.suptitle("Fashion-MNIST: the first 24 training images and their classes", fontsize=11)
step.save(fig, "samples.png")

# %% [markdown]
# ## The dense network

# %%
mc.manual_seed(0)
dense = mc.Sequential([L.Flatten(), L.Dense(784, 20), L.ReLU(), L.Dense(20, 10)])
print(dense.summary((1, 28, 28)))
step.check(dense.num_params() == 784 * 20 + 20 + 20 * 10 + 10,
           f"parameters: 784*20 + 20 + 20*10 + 10 = {dense.num_params():,}")

# %% [markdown]
# The forward pass by hand: `relu(x @ W1 + b1) @ W2 + b2`. And the loss by hand:
# softmax, then the mean of -log(probability of the true class).

# %%
batch, labels = x_fit[:64], y_fit[:64]
W1, b1 = dense[1].params["W"].data, dense[1].params["b"].data
W2, b2 = dense[3].params["W"].data, dense[3].params["b"].data
logits_by_hand = np.maximum(batch.reshape(64, -1) @ W1 + b1, 0) @ W2 + b2
logits = dense.forward(batch)
step.check_close(logits, logits_by_hand, "Sequential.forward = relu(x @ W1 + b1) @ W2 + b2", atol=1e-5)
p = np.exp(logits - logits.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
loss_fn = mc.losses.CrossEntropy()
step.check(abs(loss_fn.forward(logits, labels) - np.mean(-np.log(p[np.arange(64), labels]))) < 1e-5,
           "CrossEntropy(logits, labels) = mean(-log softmax(logits)[true class]): the softmax is in the loss")
step.check_close(F.softmax(logits, axis=1), p, "functional.softmax gives the probabilities", atol=1e-6)

# %%
epochs = (10, 2) if step.quick else (20, 6)           # (dense, CNN)
history_dense = dense.fit(x_fit, y_fit, loss_fn, mc.optim.Adam(dense.parameters(), lr=1e-3), epochs=epochs[0],
                          batch_size=32, validation_data=(x_val, y_val))
test_dense = dense.evaluate(xt, y_test, loss_fn)
predicted = dense.predict(xt).argmax(axis=1)
step.check(test_dense["accuracy"] == np.mean(predicted == y_test),
           f"evaluate's accuracy = mean(argmax of predict == label) = {test_dense['accuracy']:.4f}")
step.check(test_dense["accuracy"] > (0.7 if step.quick else 0.84),
           f"the dense net: {test_dense['accuracy']:.1%} on the test set")

# %% [markdown]
# Each of the 20 hidden units has 784 weights, one per pixel: drawn as a 28x28 picture
# they are templates the unit compares the whole image with (red: this pixel bright
# raises the unit's output, blue: lowers it).

# %%
fig = step.plt.figure(figsize=(14, 3.9), layout="constrained")
axes = fig.subplots(2, 10)
top = float(np.percentile(np.abs(W1), 99))        # a few rarely-lit border pixels get much larger weights
for u, ax in enumerate(axes.ravel()):
    shown = ax.imshow(W1[:, u].reshape(28, 28), cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
    ax.set_title(f"unit {u}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label="weight")
fig.suptitle(f"The dense layer's 20 templates: W1[:, unit] as 28x28 (one colour scale centred on 0, clipped at "
             f"the 99th percentile of |w|); test accuracy {test_dense['accuracy']:.1%}")
step.save(fig, "dense_weights.png")

# %% [markdown]
# ## Why convolution: the same data through a CNN
#
# Two convolution blocks (32 and 64 filters of 3x3), dropout, a dense layer. Its
# first layer has 320 weights against the dense net's 15,700: each 3x3 kernel is
# reused at every position of the image.

# %%
mc.manual_seed(0)
cnn = mc.Sequential([
    L.Conv2D(1, 32, 3, padding=1), L.ReLU(), L.MaxPool2D(2),
    L.Conv2D(32, 64, 3, padding=1), L.ReLU(), L.MaxPool2D(2),
    L.Flatten(), L.Dropout(0.25), L.Dense(64 * 7 * 7, 128), L.ReLU(), L.Dropout(0.25), L.Dense(128, 10)])
print(cnn.summary((1, 28, 28)))
step.check(cnn[0].params["W"].data.size + cnn[0].params["b"].data.size == 32 * 9 + 32,
           "the CNN's first layer has 32 * 3*3 + 32 = 320 parameters")
history_cnn = cnn.fit(x_fit, y_fit, loss_fn, mc.optim.Adam(cnn.parameters(), lr=1e-3), epochs=epochs[1],
                      batch_size=64, validation_data=(x_val, y_val))
test_cnn = cnn.evaluate(xt, y_test, loss_fn)
print(f"test accuracy: dense {test_dense['accuracy']:.4f}, CNN {test_cnn['accuracy']:.4f}")
step.check_close(cnn.predict(xt[:8]), cnn.forward(xt[:8]), "predict = forward in eval mode (dropout off)", atol=1e-5)
if not step.quick:          # on a few thousand images and 2 epochs the two are about even
    step.check(test_cnn["accuracy"] > test_dense["accuracy"] + 0.02,
               f"the CNN beats the dense net: {test_cnn['accuracy']:.1%} against {test_dense['accuracy']:.1%}")

# %%
fig = step.plt.figure(figsize=(12, 4.6), layout="constrained")
axes = fig.subplots(1, 2)
for name, h, colour in (("dense 20", history_dense.history, "tab:blue"), ("CNN", history_cnn.history, "tab:red")):
    epochs_axis = np.arange(1, len(h["loss"]) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs_axis, h[f"val_{key}"], "s-", color=colour, label=f"{name}, validation")
        ax.plot(epochs_axis, h[key], "o--", color=colour, alpha=0.5, label=f"{name}, training")
for ax, what in zip(axes, ("cross-entropy loss", "accuracy")):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))                 # no epoch 2.5
    ax.set_xlabel("epoch")
    ax.set_ylabel(what)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
fig.suptitle(f"Fashion-MNIST, {len(x_fit)} training images: test accuracy dense {test_dense['accuracy']:.1%}, "
             f"CNN {test_cnn['accuracy']:.1%}")
step.save(fig, "curves.png")

cnn_predicted = cnn.predict(xt).argmax(axis=1)
recall = mc.metrics.precision_recall_f1(y_test, cnn_predicted, num_classes=10)[1]
hardest = [CLASSES[c] for c in np.argsort(recall)[:3]]
print("hardest classes for the CNN (lowest recall):", ", ".join(hardest))
fig = viz.plot_confusion_matrix(y_test, cnn_predicted, class_names=CLASSES, normalize=True)
fig.axes[0].set_title(f"CNN on the Fashion-MNIST test set, each row normalised (accuracy "
                      f"{test_cnn['accuracy']:.3f})\nhardest: {', '.join(hardest)}")
step.save(fig, "cnn_confusion.png")

# %%
step.done(dense_test_accuracy=test_dense["accuracy"], cnn_test_accuracy=test_cnn["accuracy"],
          train_samples=len(x_fit))
