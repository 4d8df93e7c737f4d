"""The reward: the MNIST CNN trained with the learner's own functions.

:func:`train` reads every ``*.py`` of the learner's folder, checks each function the CNN
uses (and refuses, with the checker's message, when one does not pass yet), puts the
passing ones into the network in place of minicnn's, and trains. The CNN is the one of
``examples/train_mnist.py``: [conv 3x3, ReLU, max pool 2] twice, Dense, ReLU, Dense, the
softmax cross-entropy and SGD with momentum 0.9 (``quick``: 8 and 16 filters, Dense 64,
5,000 training images for one epoch; else 32 and 64 filters, Dense 128, all 60,000 for two).

Each learner's function goes into a subclass of minicnn's layer (or loss, or optimiser)
whose ``_forward``/``_backward`` (``_forward``, ``update``) call it, so that everything
else (parameters, initial weights, checks, ``fit``) is minicnn's own: with a correct set,
the network learns what minicnn's own layers learn, to rounding.
"""
import os
import shutil
import time

import numpy as np

from .. import data
from .. import layers as L
from .. import losses, optim
from .._rng import manual_seed
from ..io import atomic_write
from ..model import Sequential
from . import reference
from .cases import GRADIENT
from .catalog import BY_NAME, EXERCISES
from .checker import FAIL, NOT_DONE, PASS, LearnerError, check_function, defined_exercises, load_file

SKELETONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "skeletons")

#: the exercises the CNN uses (the convolution's forward: either one, the im2col one first)
USED = ("conv2d_forward_im2col", "conv2d_forward", "conv2d_backward", "relu_forward", "relu_backward",
        "max_pool2d_forward", "max_pool2d_backward", "dense_forward", "dense_backward",
        "softmax_cross_entropy", "sgd_momentum_step")


def write_skeletons(folder, write=print):
    """Copy the skeletons (and their README) into ``folder``, never over a file already there.
    Returns False (having said why) when ``folder`` is a file."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        write(f"{folder} is a file: give a folder to write the skeletons into")
        return False
    os.makedirs(folder, exist_ok=True)
    for name in sorted(os.listdir(SKELETONS)):
        if not name.endswith((".py", ".md")):
            continue
        target = os.path.join(folder, name)
        if os.path.exists(target):
            write(f"kept {target}: it is already there (yours is never overwritten)")
            continue
        with open(os.path.join(SKELETONS, name), "rb") as src, atomic_write(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        write(f"wrote {target}")
    first = os.path.join(folder, EXERCISES[0].file)
    write(f"start with {first}, then: python -m minicnn.exercises check {first}")
    return True


# ---------------------------------------------------------------------------
# The learner's functions
# ---------------------------------------------------------------------------
def learner_functions(folder):
    """``{name: (function, file)}`` of the exercises the ``*.py`` files of ``folder`` define
    (the first file in name order wins). A file that does not import is a LearnerError."""
    found = {}
    for base in sorted(os.listdir(folder)):
        path = os.path.join(folder, base)
        if base.endswith(".py") and os.path.isfile(path):
            module = load_file(path)
            for exercise, fn in defined_exercises(module, path)[0]:
                found.setdefault(exercise.name, (fn, base))
    return found


def passing_functions(folder, write=print):
    """``{name: function}`` of the learner's functions the CNN uses that pass their checks;
    None (after printing the checker's message) when one fails."""
    found = learner_functions(folder)
    chosen = {}
    for name in USED:
        key = "conv_forward" if name.startswith("conv2d_forward") else name
        if name not in found or key in chosen:       # (conv2d_forward when the im2col one is in use)
            continue
        fn, base = found[name]
        forward = GRADIENT[name].forward if name in GRADIENT else None
        if forward == "conv2d_forward" and forward not in found:
            forward = "conv2d_forward_im2col"
        result = check_function(BY_NAME[name], fn, *found.get(forward, (None, None)))
        if result.status == FAIL:
            write(f"{name} ({base}):\n{result.text}")
            write(f"train refuses: your {name} does not pass its checks yet (above). "
                  f"Check it with: python -m minicnn.exercises check {os.path.join(folder, base)} --only {name}")
            return None
        if result.status == PASS:
            chosen[key] = fn
            write(f"  yours:     {name} ({base}) passes its checks")
        else:
            write(f"  minicnn's: {name} (yours is {NOT_DONE})")
    return chosen


# ---------------------------------------------------------------------------
# minicnn's layers, with the learner's maths
# ---------------------------------------------------------------------------
class YourConv2D(L.Conv2D):
    """Conv2D whose maths are ``forward(x, W, b, stride, padding)`` and
    ``backward(dout, x, W, stride, padding) -> (dx, dW, db)``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, forward, backward):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.geometry, self.maths = (stride, padding), (forward, backward)

    def _forward(self, x, training):
        if training:
            self.cache = x
        return self.maths[0](x, self.params["W"].data, self.params["b"].data, *self.geometry)

    def _backward(self, grad_out, input_grad):
        dx, dw, db = self.maths[1](grad_out, self.cache, self.params["W"].data, *self.geometry)
        self.params["W"].accumulate(dw)
        self.params["b"].accumulate(db)
        return dx


class YourMaxPool2D(L.MaxPool2D):
    """MaxPool2D whose maths are ``forward(x, k, stride)`` and ``backward(dout, x, k, stride)``."""

    def __init__(self, k, forward, backward):
        super().__init__(k)
        self.k, self.maths = k, (forward, backward)

    def _forward(self, x, training):
        if training:
            self.cache = x
        return self.maths[0](x, self.k, self.k)

    def _backward(self, grad_out, input_grad):
        return self.maths[1](grad_out, self.cache, self.k, self.k)


class YourReLU(L.ReLU):
    """ReLU whose maths are ``forward(x)`` and ``backward(dout, x)``."""

    def __init__(self, forward, backward):
        super().__init__()
        self.maths = (forward, backward)

    def _forward(self, x, training):
        if training:
            self.cache = x
        return self.maths[0](x)

    def _backward(self, grad_out, input_grad):
        return self.maths[1](grad_out, self.cache)


class YourDense(L.Dense):
    """Dense whose maths are ``forward(x, W, b)`` and ``backward(dout, x, W) -> (dx, dW, db)``."""

    def __init__(self, in_features, out_features, forward, backward):
        super().__init__(in_features, out_features)
        self.maths = (forward, backward)

    def _forward(self, x, training):
        if training:
            self.cache = x
        return self.maths[0](x, self.params["W"].data, self.params["b"].data)

    def _backward(self, grad_out, input_grad):
        dx, dw, db = self.maths[1](grad_out, self.cache, self.params["W"].data)
        self.params["W"].accumulate(dw)
        self.params["b"].accumulate(db)
        return dx


class YourCrossEntropy(losses.CrossEntropy):
    """CrossEntropy on integer labels whose maths are ``softmax_cross_entropy(logits, labels)``."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def _forward(self, logits, labels):
        loss, self.grad = self.fn(logits, labels)
        return loss


class YourSGD(optim.SGD):
    """SGD with momentum whose step is ``sgd_momentum_step(w, dw, v, lr, momentum) -> (w, v)``."""

    def __init__(self, params, lr, momentum, fn):
        super().__init__(params, lr=lr, momentum=momentum)
        self.fn = fn

    def update(self, i, p, group):
        w, v = self.fn(p.data, p.grad, self.velocity[i], group["lr"], group["momentum"])
        p.data[...] = w
        self.velocity[i][...] = v


def build(fns, quick):
    """The CNN, its loss and its optimiser, with the learner's functions ``fns`` where given
    (a layer with only one of its two functions takes minicnn's other one)."""
    def yours(forward, backward, mine, theirs):
        if forward not in fns and backward not in fns:
            return mine()
        return theirs(fns.get(forward, getattr(reference, forward)), fns.get(backward, getattr(reference, backward)))

    def conv(c, o):
        if "conv_forward" not in fns and "conv2d_backward" not in fns:
            return L.Conv2D(c, o, 3, padding=1)
        return YourConv2D(c, o, 3, 1, 1, fns.get("conv_forward", reference.conv2d_forward),
                          fns.get("conv2d_backward", reference.conv2d_backward))
    relu = lambda: yours("relu_forward", "relu_backward", L.ReLU, YourReLU)
    pool = lambda: yours("max_pool2d_forward", "max_pool2d_backward", lambda: L.MaxPool2D(2),
                         lambda f, b: YourMaxPool2D(2, f, b))
    dense = lambda i, o: yours("dense_forward", "dense_backward", lambda: L.Dense(i, o),
                               lambda f, b: YourDense(i, o, f, b))
    c1, c2, hidden = (8, 16, 64) if quick else (32, 64, 128)
    model = Sequential([conv(1, c1), relu(), pool(), conv(c1, c2), relu(), pool(),
                        L.Flatten(), dense(c2 * 7 * 7, hidden), relu(), dense(hidden, 10)])
    loss = YourCrossEntropy(fns["softmax_cross_entropy"]) if "softmax_cross_entropy" in fns else losses.CrossEntropy()
    lr = 0.05 if quick else 0.03
    if "sgd_momentum_step" in fns:
        opt = YourSGD(model.parameters(), lr, 0.9, fns["sgd_momentum_step"])
    else:
        opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return model, loss, opt


def train(folder, quick=False, data_dir=None, seed=0, write=print):
    """Train the MNIST CNN with the learner's passing functions from ``folder``; returns the
    test accuracy, or None when a function fails its checks (or a file does not import)."""
    if not os.path.isdir(folder):
        write(f"{folder} is not a folder: train takes the folder of your files "
              f"(python -m minicnn.exercises new {folder} writes the skeletons into a new one)")
        return None
    write(f"checking your functions in {folder}:")
    try:
        fns = passing_functions(folder, write)
    except LearnerError as exc:
        write(f"{exc}\ntrain refuses: fix the file first")
        return None
    if fns is None:
        return None
    (x_train, y_train), (x_test, y_test) = data.load_mnist(root=data_dir)
    limit, epochs, batch = (5000, 1, 32) if quick else (len(x_train), 2, 32)
    x = (x_train[:limit].astype(np.float32) / 255)[:, None]
    xt = (x_test.astype(np.float32) / 255)[:, None]
    manual_seed(seed)
    model, loss, opt = build(fns, quick)
    total_steps = epochs * -(-len(x) // batch)
    whose = f"{len(fns)} of your functions" if fns else "minicnn's own functions (none of yours is done yet)"
    write(f"training the {'quick ' if quick else ''}MNIST CNN on {len(x)} images for {epochs} "
          f"epoch{'s' if epochs > 1 else ''} with {whose}")
    start = time.perf_counter()
    model.fit(x, y_train[:limit], loss, opt, epochs=epochs, batch_size=batch,
              callbacks=[optim.PolynomialDecay(opt, total_steps)])
    accuracy = model.evaluate(xt, y_test, losses.CrossEntropy())["accuracy"]
    write(f"test accuracy {accuracy:.4f} on MNIST's {len(xt)} test images "
          f"({time.perf_counter() - start:.0f} s)")
    return accuracy
