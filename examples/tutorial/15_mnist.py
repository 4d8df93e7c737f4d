# %% [markdown]
# # Step 15: MNIST - a CNN to 99%, and the classic MSE + Nesterov network
#
# Everything comes together: 60,000 handwritten digits to learn from, 10,000 to test on.
#
# 1. **The CNN** (`examples/train_mnist.py --net cnn`): two blocks of [3x3 convolution,
#    ReLU, 2x2 max pooling] with 32 and 64 filters, a dense layer of 128, and 10 logits;
#    cross-entropy, SGD with momentum 0.9, the learning rate falling linearly to 0.
#    Three epochs reach 99% or more on the test set.
# 2. **The classic "paper" network** (`--net paper`): two [3x3 'same' convolution
#    without bias, 2x2 *average* pooling] blocks, two dense layers of 1000 *sigmoid*
#    units, 10 linear outputs, trained with the **mean squared error** against one-hot
#    targets and **Nesterov** SGD (lr 0.01, momentum 0.9, Keras's old `decay=1e-6`).
#    The older recipe: it learns more slowly, and ends near 97% after 10 epochs.
#
# Then the curves, the confusion matrix and the mistakes. In `--quick` mode both train
# on 2,500 images for two epochs (far from those accuracies; the checks still run).
#
# Needs MNIST (`minicnn.data.load_mnist()`, as in step 11).
#
#     python examples/tutorial/15_mnist.py [--out DIR] [--quick]

# %%
import numpy as np

import minicnn as mc
from minicnn import layers as L
from minicnn import viz

from _common import Step

step = Step("15_mnist", "MNIST: the CNN to 99%, the MSE + Nesterov network, curves, confusion, mistakes")

(x_train, y_train), (x_test, y_test) = mc.data.load_mnist()
if step.quick:
    x_train, y_train, x_test, y_test = x_train[:2500], y_train[:2500], x_test[:2000], y_test[:2000]
x = (x_train.astype(np.float32) / 255)[:, None]                 # (N, 1, 28, 28) in [0, 1]
xt = (x_test.astype(np.float32) / 255)[:, None]
print(f"{len(x)} training and {len(xt)} test digits, {x.shape[1:]} each")


def report(prefix, name, model, loss, history, inputs, targets):
    """Test accuracy three ways, and the figures <prefix>_curves/_confusion/_mistakes.png."""
    scores = model.predict(inputs)
    predicted = scores.argmax(axis=1)
    test = model.evaluate(inputs, targets, loss)
    cm = mc.metrics.confusion_matrix(y_test, predicted, num_classes=10)
    step.check(test["accuracy"] == mc.metrics.accuracy(y_test, predicted) == np.trace(cm) / len(y_test),
               f"{name}: evaluate = metrics.accuracy = trace(confusion) / N = {test['accuracy']:.4f}")
    step.check(np.array_equal(cm.sum(axis=1), np.bincount(y_test, minlength=10)),
               f"{name}: each row of the confusion matrix sums to the number of test digits of that class")
    print(mc.metrics.classification_report(y_test, predicted))

    fig = viz.plot_history(history)
    fig.suptitle(f"{name}: learning curves (test set as validation); final test accuracy {test['accuracy']:.2%}",
                 fontsize=11)
    step.save(fig, f"{prefix}_curves.png")
    fig = viz.plot_confusion_matrix(y_test, predicted)
    fig.axes[0].set_title(f"{name} on {len(y_test):,} test digits: accuracy {test['accuracy']:.4f}\n"
                          "row = true digit, column = predicted digit")
    step.save(fig, f"{prefix}_confusion.png")
    wrong = np.flatnonzero(predicted != y_test)[:32]
    fig = viz.show_images(x_test[wrong], labels=y_test[wrong], predictions=predicted[wrong])
    fig.suptitle(f"{name}: the first {len(wrong)} of its {len(np.flatnonzero(predicted != y_test))} mistakes "
                 "(title: label / prediction)", fontsize=11)
    step.save(fig, f"{prefix}_mistakes.png")
    return test["accuracy"]


# %% [markdown]
# ## 1. The CNN

# %%
epochs, batch_size = (2, 16) if step.quick else (3, 16)
mc.manual_seed(0)
cnn = mc.Sequential([
    L.Conv2D(1, 32, 3, padding=1), L.ReLU(), L.MaxPool2D(2),         # (32, 14, 14)
    L.Conv2D(32, 64, 3, padding=1), L.ReLU(), L.MaxPool2D(2),        # (64, 7, 7)
    L.Flatten(), L.Dense(64 * 7 * 7, 128), L.ReLU(), L.Dense(128, 10),
])
print(cnn.summary((1, 28, 28)))
cross_entropy = mc.losses.CrossEntropy()
sgd = mc.optim.SGD(cnn.parameters(), lr=0.03, momentum=0.9)
total_steps = epochs * -(-len(x) // batch_size)                          # batches in the whole run
history = cnn.fit(x, y_train, cross_entropy, sgd, epochs=epochs, batch_size=batch_size,
                  validation_data=(xt, y_test), callbacks=[mc.optim.PolynomialDecay(sgd, total_steps)])
step.check(sgd.lr == 0.0, "PolynomialDecay took the learning rate linearly from 0.03 to 0 over the run")
cnn_accuracy = report("cnn", "The CNN", cnn, cross_entropy, history, xt, y_test)
if not step.quick:
    step.check(cnn_accuracy >= 0.99, f"the CNN reaches {cnn_accuracy:.2%} on the 10,000 test digits (>= 99%)")

# %% [markdown]
# ## 2. The classic network: MSE and Nesterov momentum
#
# It takes flat (N, 784) rows, as the classic Keras code does, and reshapes them itself.
# The targets are one-hot rows: the digit 3 is `[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]`.
#
# Before training, one step by hand, to see both rules at work:
#
#     MSE:       L = mean((out - target)^2)         dL/dout = 2 (out - target) / out.size
#     Nesterov:  v = momentum * v + g;   p = p - lr * (g + momentum * v)      (PyTorch's form)

# %%
mc.manual_seed(0)
paper = mc.Sequential([
    L.Reshape((1, 28, 28)),
    L.Conv2D(1, 32, 3, padding="same", bias=False), L.AvgPool2D(2),
    L.Conv2D(32, 64, 3, padding="same", bias=False), L.AvgPool2D(2),
    L.Flatten(), L.Dense(64 * 7 * 7, 1000, init="xavier_uniform"), L.Sigmoid(),
    L.Dense(1000, 1000, init="xavier_uniform"), L.Sigmoid(),
    L.Dense(1000, 10, init="xavier_uniform"),
])
flat, flat_test = x.reshape(len(x), 784), xt.reshape(len(xt), 784)
one_hot, one_hot_test = np.eye(10, dtype=np.float32)[y_train], np.eye(10, dtype=np.float32)[y_test]
print(paper.summary((784,)))
mse = mc.losses.MSE()
nesterov = mc.optim.SGD(paper.parameters(), lr=0.01, momentum=0.9, nesterov=True)

out = paper.forward(flat[:32], training=True)
value = mse.forward(out, one_hot[:32])
step.check(abs(value - np.mean((out.astype(np.float64) - one_hot[:32]) ** 2)) < 1e-7,
           f"MSE = mean((out - one_hot)^2) = {value:.4f}")
nesterov.zero_grad()
paper.backward(mse.backward())
last = paper[-1].params["W"]
before, grad = last.data.copy(), last.grad.copy()
nesterov.step()
v = 0.9 * 0 + grad                                                        # the velocity starts at 0
step.check_close(last.data, before - 0.01 * (grad + 0.9 * v), "one Nesterov step = p - lr (g + momentum v)",
                 atol=1e-7)

epochs_paper = 2 if step.quick else 10
history = paper.fit(flat, one_hot, mse, nesterov, epochs=epochs_paper, batch_size=32,
                    validation_data=(flat_test, one_hot_test), callbacks=[mc.optim.InverseTimeDecay(nesterov, 1e-6)])
paper_accuracy = report("paper", "The MSE + Nesterov net", paper, mse, history, flat_test, one_hot_test)
if not step.quick:
    step.check(paper_accuracy >= 0.95, f"the MSE + Nesterov network reaches {paper_accuracy:.2%} (>= 95%)")

# %%
step.done(cnn_test_accuracy=cnn_accuracy, paper_test_accuracy=paper_accuracy, train_samples=len(x))
