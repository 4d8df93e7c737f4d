"""The classic architectures, LeNet-5 to SENet, as minicnn Sequentials.

Each function returns a freshly initialised ``Sequential`` with the reference
implementation's architecture and exactly its parameter count (``tests/test_models.py``
pins every count and derives it from the widths; ``benchmarks/zoo_torch.py`` defines the
same networks in PyTorch, and ``benchmarks/bench_models.py`` proves them the same
function by copying the weights across and comparing the outputs).

| function | input (native) | smallest input | parameters | source |
|---|---|---|---|---|
| ``lenet5()`` | 1 x 32 x 32 | 32 (to 35) | 61,706 | LeCun et al. 1998 (C3 fully connected) |
| ``mnist_cnn()`` | 1 x 28 x 28 | 28 (to 31) | 421,642 | ``examples/train_mnist.py``'s CNN |
| ``transfer_cnn()`` | 1 x 28 x 28 | 28 (to 31) | 206,970 | ``examples/transfer_learning.py``'s CNN |
| ``alexnet()`` | 3 x 224 x 224 | 63 | 61,100,840 | torchvision ``alexnet`` |
| ``vgg11()`` | 3 x 224 x 224 | 32 | 132,863,336 | torchvision ``vgg11`` |
| ``vgg16()`` | 3 x 224 x 224 | 32 | 138,357,544 | torchvision ``vgg16`` |
| ``googlenet()`` | 3 x 224 x 224 | 15 | 6,624,904 | torchvision ``googlenet(aux_logits=False)`` |
| ``inception_v4()`` | 3 x 299 x 299 | 75 | 42,679,816 | timm ``inception_v4`` |
| ``resnet18()`` | 3 x 224 x 224 | 1 | 11,689,512 | torchvision ``resnet18`` |
| ``resnet34()`` | 3 x 224 x 224 | 1 | 21,797,672 | torchvision ``resnet34`` |
| ``resnet50()`` | 3 x 224 x 224 | 1 | 25,557,032 | torchvision ``resnet50`` (v1.5) |
| ``se_resnet50()`` | 3 x 224 x 224 | 1 | 28,088,024 | timm ``seresnet50`` |
| ``mobilenet_v2()`` | 3 x 224 x 224 | 1 | 3,504,872 | torchvision ``mobilenet_v2`` |
| ``densenet121()`` | 3 x 224 x 224 | 29 | 7,978,856 | torchvision ``densenet121`` |

(the counts at the defaults: ``num_classes=1000, in_channels=3``; for the three MNIST
networks 10 and 1.)

**Pretrained weights** ship with minicnn for the three MNIST networks, in torchvision's
style: ``lenet5(weights="mnist")``, ``mnist_cnn(weights="mnist")``,
``transfer_cnn(weights="digits0-4")``; ``weights=None`` (the default) gives random
weights. :func:`list_weights` returns one record per shipped set: the model, its name,
the data set, its accuracy on that data set's test split, the input it takes, the file
(minicnn's own .npz, in ``minicnn/weights/``), the file's SHA-256 (checked before every
load: a damaged or edited file is refused) and the recipe, the command that trained it
(``examples/pretrain_weights.py``; rerun, it writes the same file).

Every function takes ``num_classes`` and ``in_channels`` (and ``dtype``). The heads end
in ``AdaptiveAvgPool2D`` (AlexNet, VGG) or ``GlobalAvgPool2D`` (the rest), so every model
but LeNet-5 takes any input from its smallest size up, a CIFAR-sized 32 x 32 included for
VGG, GoogLeNet and the ResNets (a smaller image only makes the last feature maps smaller;
AlexNet's and VGG's heads then repeat pixels, as PyTorch's do). No separate small-input
variant is needed. LeNet-5 takes 32 x 32 (MNIST's 28 x 28 padded by 2) up to 35 x 35:
its C5 map must be 1 x 1 for the Dense layer after it.

What the names mean, once: a *stem* is the first layers, which shrink the image fast;
``conv_bn(...)`` below is a convolution without bias, BatchNorm and ReLU (torchvision's
``BasicConv2d``, timm's ``ConvNormAct``); an Inception block is a ``Concat`` of branches,
a residual block a ``Residual`` followed by a ReLU, an SE block a ``SqueezeExcitation``
at the end of a residual branch. Initialisation is minicnn's default (He normal for
convolutions and Dense layers, BatchNorm at gamma 1, beta 0): close to torchvision's
(He normal by fan-out for ResNet's and VGG's convolutions); these models are for study
and for fine-tuning from imported weights, not for reproducing the papers' training.

The mobile and dense networks (the last section): MobileNetV2's inverted residual blocks
(a 1x1 expansion, a depthwise 3x3 convolution, a linear 1x1 projection, ReLU6) and DenseNet's
dense blocks, where every layer adds its feature maps to all before it:
``Concat([[], [BatchNorm, ReLU, Conv2D 1x1, BatchNorm, ReLU, Conv2D 3x3]])``, x kept and its new
maps beside it (the empty branch is x itself).
"""
import hashlib
import json
import os

import numpy as np

from ._checks import check_dtype, check_int
from .io import load_npz
from .layers import (AdaptiveAvgPool2D, AvgPool2D, BatchNorm, Concat, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D,
                     MaxPool2D, ReLU, ReLU6, Residual, SqueezeExcitation, Tanh)
from .model import Sequential


def _arguments(num_classes, in_channels, dtype, model=None, weights=None):
    """The three arguments checked; ``weights`` must be None where none ship for ``model``."""
    _weights_record(model, weights)
    return (check_int(num_classes, "num_classes", 1), check_int(in_channels, "in_channels", 1),
            check_dtype(dtype))


# -- Pretrained weights --------------------------------------------------------------------
#: The folder of the shipped weights: ``weights.json`` (the records) and one .npz per set.
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


def list_weights(model=None):
    """The weights that ship with minicnn: one dict per set (of ``model``'s only, if given).

    Keys: ``model`` (the function's name), ``name`` (what ``weights=`` takes), ``dataset``,
    ``split`` and ``accuracy`` (measured on that test split, a fraction), ``classes`` (the
    output's class names, in order), ``input`` (what the network takes, in words) and
    ``input_shape`` (one sample's), ``file`` (the path of the .npz), ``sha256`` (of the
    file), ``recipe`` (the command that trained it, seed included), ``params``, ``seconds``
    (the training time on the machine that made it).
    """
    with open(os.path.join(WEIGHTS_DIR, "weights.json"), encoding="utf-8") as f:
        records = json.load(f)
    return [dict(r, file=os.path.join(WEIGHTS_DIR, r["file"])) for r in records
            if model is None or r["model"] == model]


def _weights_record(model, weights):
    """The record of ``model``'s shipped weights called ``weights``; None for ``weights=None``."""
    if weights is None:
        return None
    if not isinstance(weights, str):
        raise TypeError(f"weights must be None (random weights) or the name of a shipped set such as "
                        f"'mnist', got {type(weights).__name__}")
    shipped = list_weights()
    for record in shipped:
        if record["model"] == model and record["name"] == weights:
            return record
    own = [repr(r["name"]) for r in shipped if r["model"] == model]
    every = ", ".join(f"{r['model']}(weights={r['name']!r})" for r in shipped)
    raise ValueError(f"{model} has no shipped weights {weights!r}; "
                     + (f"its weights: {', '.join(own)}" if own else "none ship for it")
                     + f". Shipped: {every} (see minicnn.models.list_weights()). Other weights, such as "
                     "torchvision's ImageNet ones, load from ONNX files: minicnn.onnx.load (docs/transfer.md)")


def _weighted(model, num_classes, in_channels, weights, defaults=(10, 1)):
    """``(record, num_classes, in_channels)``: with weights, the sizes are the weights' (asking
    for others is an error: load them, then replace the head); without, the defaults."""
    record = _weights_record(model, weights)
    if record is None:
        return None, (defaults[0] if num_classes is None else num_classes), \
            (defaults[1] if in_channels is None else in_channels)
    wanted = {"num_classes": (num_classes, len(record["classes"])), "in_channels": (in_channels, record["input_shape"][0])}
    for name, (asked, has) in wanted.items():
        if asked is not None and asked != has:
            raise ValueError(f"{name}={asked!r}, but {model}(weights={weights!r}) has {name}={has}: leave it out, "
                             "and replace the head for other classes (model[:-1].append(Dense(...)))")
    return record, wanted["num_classes"][1], wanted["in_channels"][1]


def _load_weights(model, record):
    """``model`` with the record's weights, after checking the file's SHA-256."""
    if record is None:
        return model
    path = record["file"]
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != record["sha256"]:
        raise ValueError(f"{path}: SHA-256 {digest}, but minicnn's record of {record['model']}(weights="
                         f"{record['name']!r}) says {record['sha256']}: the file is damaged or was edited. "
                         f"Reinstall minicnn, or remake it with: {record['recipe']}")
    what = "a minicnn model file (an .npz archive written by Sequential.save)"
    state = {k: v for k, v in load_npz(path, what).items() if not k.startswith("__")}
    model.load_state_dict(state, source=path)
    return model


# -- LeNet-5, AlexNet, VGG: plain stacks --------------------------------------------------
def lenet5(num_classes=None, in_channels=None, dtype=np.float32, weights=None):
    """LeNet-5 (LeCun et al., 1998) in its common modern form, on a 32 x 32 image:

        C1 conv 5x5 -> 6 x 28 x 28, tanh; S2 average pool 2 -> 6 x 14 x 14
        C3 conv 5x5 -> 16 x 10 x 10, tanh; S4 average pool 2 -> 16 x 5 x 5
        C5 conv 5x5 -> 120 x 1 x 1, tanh; F6 dense 84, tanh; output dense 10

    C3 connects every S2 map (the paper's sparse table is not kept), and the paper's
    trainable pooling coefficients and RBF output are plain pooling and a Dense layer.
    61,706 parameters for 1 channel and 10 classes (the defaults).

    ``weights="mnist"``: trained on MNIST (99% on its test split, see :func:`list_weights`),
    for (N, 1, 32, 32) float32 images in [0, 1]: a 28 x 28 MNIST digit padded by 2 black
    pixels on each side (``np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))``).
    """
    record, num_classes, in_channels = _weighted("lenet5", num_classes, in_channels, weights)
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype)
    return _load_weights(Sequential([
        Conv2D(in_channels, 6, 5, dtype=dtype), Tanh(), AvgPool2D(2),
        Conv2D(6, 16, 5, dtype=dtype), Tanh(), AvgPool2D(2),
        Conv2D(16, 120, 5, dtype=dtype), Tanh(), Flatten(),
        Dense(120, 84, dtype=dtype), Tanh(), Dense(84, num_classes, dtype=dtype)]), record)


def mnist_cnn(num_classes=None, in_channels=None, dtype=np.float32, weights=None):
    """The CNN of ``examples/train_mnist.py`` (``--net cnn``), on a 28 x 28 image:

        conv 3x3 (padding 1) -> 32 x 28 x 28, ReLU, max pool 2 -> 32 x 14 x 14
        conv 3x3 (padding 1) -> 64 x 14 x 14, ReLU, max pool 2 -> 64 x 7 x 7
        flatten 3136, dense 128, ReLU, dense 10

    421,642 parameters for 1 channel and 10 classes (the defaults). ``weights="mnist"``:
    trained on MNIST (99.2%, see :func:`list_weights`), for (N, 1, 28, 28) float32
    images in [0, 1] (``x[:, None] / 255`` of the uint8 digits).
    """
    record, num_classes, in_channels = _weighted("mnist_cnn", num_classes, in_channels, weights)
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype)
    return _load_weights(Sequential([
        Conv2D(in_channels, 32, 3, padding=1, dtype=dtype), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, dtype=dtype), ReLU(), MaxPool2D(2),
        Flatten(), Dense(64 * 7 * 7, 128, dtype=dtype), ReLU(), Dense(128, num_classes, dtype=dtype)]), record)


#: The layers of :func:`transfer_cnn`'s body, ``model[:TRANSFER_BODY]``: the two convolutional
#: blocks and the Flatten, 1,568 features.
TRANSFER_BODY = 9


def transfer_cnn(num_classes=None, in_channels=None, dtype=np.float32, weights=None):
    """The CNN of ``examples/transfer_learning.py``: a body of two convolutional blocks
    with BatchNorm and a head of two Dense layers, on a 28 x 28 image:

        body  conv 3x3 (padding 1, no bias) -> 16 x 28 x 28, BatchNorm, ReLU, max pool 2
              conv 3x3 (padding 1, no bias) -> 32 x 14 x 14, BatchNorm, ReLU, max pool 2
              flatten: 32 x 7 x 7 = 1,568 features        (``model[:TRANSFER_BODY]``)
        head  dense 128, ReLU, dense ``num_classes``

    206,970 parameters for 1 channel and 10 classes (the defaults).
    ``weights="digits0-4"``: trained on the MNIST digits 0 to 4 only (5 classes, 99.6%,
    see :func:`list_weights`), the body that ``examples/transfer_learning.py`` and the
    tutorial's step 20 reuse for the digits 5 to 9 and for Fashion-MNIST; for (N, 1, 28,
    28) float32 images in [0, 1].
    """
    record, num_classes, in_channels = _weighted("transfer_cnn", num_classes, in_channels, weights)
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype)
    return _load_weights(Sequential([
        Conv2D(in_channels, 16, 3, padding=1, bias=False, dtype=dtype), BatchNorm(16, dtype=dtype), ReLU(),
        MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1, bias=False, dtype=dtype), BatchNorm(32, dtype=dtype), ReLU(), MaxPool2D(2),
        Flatten(), Dense(32 * 7 * 7, 128, dtype=dtype), ReLU(), Dense(128, num_classes, dtype=dtype)]), record)


def alexnet(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """AlexNet as torchvision builds it (Krizhevsky 2014, "One weird trick": one tower,
    64-192-384-256-256 convolutions, no LocalResponseNorm, no grouped convolutions), then
    ``AdaptiveAvgPool2D((6, 6))`` and three Dense layers with dropout 0.5 before the first two."""
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype, "alexnet", weights)
    return Sequential([
        Conv2D(in_channels, 64, 11, stride=4, padding=2, dtype=dtype), ReLU(), MaxPool2D(3, 2),
        Conv2D(64, 192, 5, padding=2, dtype=dtype), ReLU(), MaxPool2D(3, 2),
        Conv2D(192, 384, 3, padding=1, dtype=dtype), ReLU(),
        Conv2D(384, 256, 3, padding=1, dtype=dtype), ReLU(),
        Conv2D(256, 256, 3, padding=1, dtype=dtype), ReLU(), MaxPool2D(3, 2),
        AdaptiveAvgPool2D((6, 6)), Flatten(),
        Dropout(0.5), Dense(256 * 6 * 6, 4096, dtype=dtype), ReLU(),
        Dropout(0.5), Dense(4096, 4096, dtype=dtype), ReLU(),
        Dense(4096, num_classes, dtype=dtype)])


#: VGG's configurations (Simonyan and Zisserman 2014): a width is a 3x3 convolution, "M" a 2x2 max pool.
VGG_WIDTHS = {"vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
              "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")}


def _vgg(name, num_classes, in_channels, dtype, weights):
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype, name, weights)
    layers, c = [], in_channels
    for w in VGG_WIDTHS[name]:
        if w == "M":
            layers.append(MaxPool2D(2))
        else:
            layers += [Conv2D(c, w, 3, padding=1, dtype=dtype), ReLU()]
            c = w
    return Sequential(layers + [
        AdaptiveAvgPool2D((7, 7)), Flatten(),
        Dense(512 * 7 * 7, 4096, dtype=dtype), ReLU(), Dropout(0.5),
        Dense(4096, 4096, dtype=dtype), ReLU(), Dropout(0.5),
        Dense(4096, num_classes, dtype=dtype)])


def vgg11(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """VGG-11 (configuration A), as torchvision: 8 convolutions 3x3 in five stages halved by
    max pooling, ``AdaptiveAvgPool2D((7, 7))``, Dense 25088 -> 4096 -> 4096 -> classes."""
    return _vgg("vgg11", num_classes, in_channels, dtype, weights)


def vgg16(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """VGG-16 (configuration D), as torchvision: 13 convolutions 3x3, the head of :func:`vgg11`."""
    return _vgg("vgg16", num_classes, in_channels, dtype, weights)


# -- GoogLeNet and Inception-v4: Concat of branches ----------------------------------------
def conv_bn(cin, cout, kernel_size, stride=1, padding=0, eps=1e-3, dtype=np.float32):
    """[Conv2D without bias, BatchNorm(eps), ReLU]: torchvision's BasicConv2d, timm's ConvNormAct."""
    return [Conv2D(cin, cout, kernel_size, stride=stride, padding=padding, bias=False, dtype=dtype),
            BatchNorm(cout, eps=eps, dtype=dtype), ReLU()]


def _inception(cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, dtype):
    """GoogLeNet's Inception block: four branches on the same map, concatenated:
    1x1 | 1x1 -> 3x3 | 1x1 -> "5x5" | 3x3 max pool -> 1x1. As in torchvision (whose
    pretrained weights have it), the "5x5" branch is a 3x3 convolution."""
    return Concat([conv_bn(cin, ch1x1, 1, dtype=dtype),
                   conv_bn(cin, ch3x3red, 1, dtype=dtype) + conv_bn(ch3x3red, ch3x3, 3, padding=1, dtype=dtype),
                   conv_bn(cin, ch5x5red, 1, dtype=dtype) + conv_bn(ch5x5red, ch5x5, 3, padding=1, dtype=dtype),
                   [MaxPool2D(3, 1, 1, ceil_mode=True)] + conv_bn(cin, pool_proj, 1, dtype=dtype)])


def googlenet(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """GoogLeNet (Szegedy et al. 2014) as torchvision builds it with ``aux_logits=False``:
    BatchNorm after every convolution (eps 0.001), max pools in ``ceil_mode``, nine
    Inception blocks (3a-3b, 4a-4e, 5a-5b), global average pooling, dropout 0.2, Dense."""
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype, "googlenet", weights)
    block = lambda *widths: _inception(*widths, dtype=dtype)
    pool = lambda k: MaxPool2D(k, 2, ceil_mode=True)
    return Sequential([
        *conv_bn(in_channels, 64, 7, stride=2, padding=3, dtype=dtype), pool(3),
        *conv_bn(64, 64, 1, dtype=dtype), *conv_bn(64, 192, 3, padding=1, dtype=dtype), pool(3),
        block(192, 64, 96, 128, 16, 32, 32), block(256, 128, 128, 192, 32, 96, 64), pool(3),
        block(480, 192, 96, 208, 16, 48, 64), block(512, 160, 112, 224, 24, 64, 64),
        block(512, 128, 128, 256, 24, 64, 64), block(512, 112, 144, 288, 32, 64, 64),
        block(528, 256, 160, 320, 32, 128, 128), pool(2),
        block(832, 256, 160, 320, 32, 128, 128), block(832, 384, 192, 384, 48, 128, 128),
        GlobalAvgPool2D(), Dropout(0.2), Dense(1024, num_classes, dtype=dtype)])


def _inception_v4_blocks(dtype):
    """Inception-v4's body after the three stem convolutions (Szegedy et al. 2016, fig. 3-8),
    as timm builds it: a list of Concats."""
    cb = lambda cin, cout, k, stride=1, padding=0: conv_bn(cin, cout, k, stride, padding, dtype=dtype)
    avg = lambda cin, cout: [AvgPool2D(3, 1, 1, count_include_pad=False)] + cb(cin, cout, 1)
    fork = lambda cin: [Concat([cb(cin, 256, (1, 3), padding=(0, 1)), cb(cin, 256, (3, 1), padding=(1, 0))])]
    inception_a = lambda: Concat([
        cb(384, 96, 1), cb(384, 64, 1) + cb(64, 96, 3, padding=1),
        cb(384, 64, 1) + cb(64, 96, 3, padding=1) + cb(96, 96, 3, padding=1), avg(384, 96)])
    inception_b = lambda: Concat([
        cb(1024, 384, 1),
        cb(1024, 192, 1) + cb(192, 224, (1, 7), padding=(0, 3)) + cb(224, 256, (7, 1), padding=(3, 0)),
        cb(1024, 192, 1) + cb(192, 192, (7, 1), padding=(3, 0)) + cb(192, 224, (1, 7), padding=(0, 3))
        + cb(224, 224, (7, 1), padding=(3, 0)) + cb(224, 256, (1, 7), padding=(0, 3)),
        avg(1024, 128)])
    inception_c = lambda: Concat([
        cb(1536, 256, 1), cb(1536, 384, 1) + fork(384),
        cb(1536, 384, 1) + cb(384, 448, (3, 1), padding=(1, 0)) + cb(448, 512, (1, 3), padding=(0, 1)) + fork(512),
        avg(1536, 256)])
    return [
        Concat([[MaxPool2D(3, 2)], cb(64, 96, 3, stride=2)]),                     # mixed 3a
        Concat([cb(160, 64, 1) + cb(64, 96, 3),
                             cb(160, 64, 1) + cb(64, 64, (1, 7), padding=(0, 3)) + cb(64, 64, (7, 1), padding=(3, 0))
                             + cb(64, 96, 3)]),                                       # mixed 4a
        Concat([cb(192, 192, 3, stride=2), [MaxPool2D(3, 2)]]),                   # mixed 5a
        *[inception_a() for _ in range(4)],
        Concat([cb(384, 384, 3, stride=2),
                                cb(384, 192, 1) + cb(192, 224, 3, padding=1) + cb(224, 256, 3, stride=2),
                                [MaxPool2D(3, 2)]]),                              # reduction A
        *[inception_b() for _ in range(7)],
        Concat([cb(1024, 192, 1) + cb(192, 192, 3, stride=2),
                                cb(1024, 256, 1) + cb(256, 256, (1, 7), padding=(0, 3))
                                + cb(256, 320, (7, 1), padding=(3, 0)) + cb(320, 320, 3, stride=2),
                                [MaxPool2D(3, 2)]]),                              # reduction B
        *[inception_c() for _ in range(3)]]


def inception_v4(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """Inception-v4 (Szegedy et al. 2016) as timm builds it: a stem of three convolutions
    and three two-branch Concats (mixed 3a, 4a, 5a: 299 -> 35 x 35 x 384), 4 Inception-A,
    Reduction-A (-> 17 x 17 x 1024), 7 Inception-B, Reduction-B (-> 8 x 8 x 1536), 3
    Inception-C (each forking two of its branches again into a 1x3 and a 3x1 convolution:
    a Concat inside a Concat), global average pooling, Dense. Every convolution is
    ``conv_bn`` (BatchNorm eps 0.001), unpadded unless the block keeps the size; the
    average-pooling branches leave the padding out of the mean (``count_include_pad=False``)."""
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype, "inception_v4", weights)
    return Sequential([
        *conv_bn(in_channels, 32, 3, stride=2, dtype=dtype), *conv_bn(32, 32, 3, dtype=dtype),
        *conv_bn(32, 64, 3, padding=1, dtype=dtype),
        *_inception_v4_blocks(dtype),
        GlobalAvgPool2D(), Dense(1536, num_classes, dtype=dtype)])


# -- ResNet and SE-ResNet: Residual blocks ----------------------------------------------------
def _conv_bn_linear(cin, cout, k, stride=1, padding=0, dtype=np.float32):
    return [Conv2D(cin, cout, k, stride=stride, padding=padding, bias=False, dtype=dtype), BatchNorm(cout, dtype=dtype)]


def _shortcut(cin, cout, stride, dtype):
    """The identity, or a 1x1 convolution (at the block's stride) and BatchNorm where the shape changes."""
    return None if stride == 1 and cin == cout else _conv_bn_linear(cin, cout, 1, stride, dtype=dtype)


def basic_block(cin, width, stride=1, dtype=np.float32):
    """ResNet-18/34's block: [Residual(3x3 conv-BN-ReLU, 3x3 conv-BN; shortcut), ReLU]."""
    block = (_conv_bn_linear(cin, width, 3, stride, 1, dtype) + [ReLU()]
             + _conv_bn_linear(width, width, 3, 1, 1, dtype))
    return [Residual(block, _shortcut(cin, width, stride, dtype)), ReLU()]


def se_channels(channels):
    """timm's SE width: ``make_divisible(channels / 16, 8)`` (a multiple of 8, at least 8,
    never below 90% of channels / 16): 16, 32, 64, 128 for ResNet-50's 256 ... 2048."""
    v = channels / 16
    rounded = max(8, int(v + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * v else rounded


def bottleneck(cin, width, stride=1, se=False, dtype=np.float32):
    """ResNet-50's block (v1.5: the stride on the 3x3 convolution, as torchvision and timm):
    1x1 to ``width``, 3x3, 1x1 to 4 * ``width``, each with BatchNorm; with ``se`` a
    SqueezeExcitation of the result before the shortcut is added (SENet's SE-ResNet module)."""
    out = 4 * width
    block = (_conv_bn_linear(cin, width, 1, dtype=dtype) + [ReLU()]
             + _conv_bn_linear(width, width, 3, stride, 1, dtype) + [ReLU()]
             + _conv_bn_linear(width, out, 1, dtype=dtype))
    if se:
        block.append(SqueezeExcitation(out, se_channels(out), dtype=dtype))
    return [Residual(block, _shortcut(cin, out, stride, dtype)), ReLU()]


def _resnet(name, depths, bottlenecks, num_classes, in_channels, dtype, weights, se=False):
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype, name, weights)
    layers = _conv_bn_linear(in_channels, 64, 7, 2, 3, dtype) + [ReLU(), MaxPool2D(3, 2, 1)]
    cin = 64
    for stage, (width, depth) in enumerate(zip((64, 128, 256, 512), depths)):
        for i in range(depth):
            stride = 2 if stage > 0 and i == 0 else 1          # each stage after the first halves the size
            if bottlenecks:
                layers += bottleneck(cin, width, stride, se=se, dtype=dtype)
                cin = 4 * width
            else:
                layers += basic_block(cin, width, stride, dtype=dtype)
                cin = width
    return Sequential(layers + [GlobalAvgPool2D(), Dense(cin, num_classes, dtype=dtype)])


def resnet18(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """ResNet-18 (He et al. 2015) as torchvision: a 7x7 stride-2 stem and a max pool, then
    2-2-2-2 basic blocks of widths 64-128-256-512, global average pooling, Dense."""
    return _resnet("resnet18", (2, 2, 2, 2), False, num_classes, in_channels, dtype, weights)


def resnet34(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """ResNet-34: :func:`resnet18` with 3-4-6-3 basic blocks."""
    return _resnet("resnet34", (3, 4, 6, 3), False, num_classes, in_channels, dtype, weights)


def resnet50(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """ResNet-50: 3-4-6-3 bottleneck blocks (outputs 256-512-1024-2048), torchvision's v1.5."""
    return _resnet("resnet50", (3, 4, 6, 3), True, num_classes, in_channels, dtype, weights)


def se_resnet50(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """SE-ResNet-50 (Hu et al. 2018) as timm's ``seresnet50``: :func:`resnet50` with a
    SqueezeExcitation (reduction 16, see :func:`se_channels`) at the end of every block's
    residual branch."""
    return _resnet("se_resnet50", (3, 4, 6, 3), True, num_classes, in_channels, dtype, weights, se=True)


# -- MobileNetV2 and DenseNet: the mobile and the dense networks --------------------------------
def _conv_bn_relu6(cin, cout, kernel_size, stride=1, groups=1, dtype=np.float32):
    """[Conv2D without bias (padding kernel_size // 2), BatchNorm, ReLU6]: torchvision's Conv2dNormActivation
    in MobileNetV2."""
    return [Conv2D(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, bias=False, groups=groups,
                   dtype=dtype), BatchNorm(cout, dtype=dtype), ReLU6()]


def inverted_residual(cin, cout, stride, expand_ratio, dtype=np.float32):
    """MobileNetV2's block (Sandler et al. 2018): a 1x1 convolution expands the channels by
    ``expand_ratio`` (not when it is 1), a depthwise 3x3 convolution at ``stride`` filters each
    channel, a 1x1 convolution projects back with no activation (the "linear bottleneck"); where
    the shape is kept (stride 1, cin == cout) x is added: a Residual."""
    hidden = round(cin * expand_ratio)
    layers = (_conv_bn_relu6(cin, hidden, 1, dtype=dtype) if expand_ratio != 1 else []) \
        + _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden, dtype=dtype) \
        + [Conv2D(hidden, cout, 1, bias=False, dtype=dtype), BatchNorm(cout, dtype=dtype)]
    return [Residual(layers)] if stride == 1 and cin == cout else layers


#: MobileNetV2's stages: (expansion t, output channels c, blocks n, stride s of the first).
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))


def mobilenet_v2(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """MobileNetV2 (Sandler et al. 2018) as torchvision builds it (width 1.0): a 3x3 stride-2
    stem of 32 channels, 17 inverted residual blocks in the stages of :data:`MOBILENET_V2_STAGES`,
    a 1x1 convolution to 1280 channels, global average pooling, dropout 0.2, Dense. BatchNorm
    (eps 1e-5) after every convolution, ReLU6 after all but the projections."""
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype, "mobilenet_v2", weights)
    layers, cin = _conv_bn_relu6(in_channels, 32, 3, 2, dtype=dtype), 32
    for t, c, n, s in MOBILENET_V2_STAGES:
        for i in range(n):
            layers += inverted_residual(cin, c, s if i == 0 else 1, t, dtype=dtype)
            cin = c
    return Sequential(layers + _conv_bn_relu6(cin, 1280, 1, dtype=dtype)
                      + [GlobalAvgPool2D(), Dropout(0.2), Dense(1280, num_classes, dtype=dtype)])


def dense_layer(cin, growth_rate=32, bn_size=4, dtype=np.float32):
    """DenseNet's layer: x and its ``growth_rate`` new maps side by side,

        Concat([[], [BatchNorm, ReLU, Conv2D 1x1 to bn_size * growth_rate, BatchNorm, ReLU, Conv2D 3x3 to growth_rate]])

    (torchvision's _DenseLayer, pre-activation, no biases). torchvision concatenates every earlier
    map once per layer, ``torch.cat(features, 1)``; each layer here keeps x whole and appends its
    maps, which is the same tensor (and what ``minicnn.onnx.load`` reads torchvision's graph as)."""
    width = bn_size * growth_rate
    return Concat([[], [BatchNorm(cin, dtype=dtype), ReLU(), Conv2D(cin, width, 1, bias=False, dtype=dtype),
                        BatchNorm(width, dtype=dtype), ReLU(),
                        Conv2D(width, growth_rate, 3, padding=1, bias=False, dtype=dtype)]])


def densenet121(num_classes=1000, in_channels=3, dtype=np.float32, weights=None):
    """DenseNet-121 (Huang et al. 2017) as torchvision builds it: a 7x7 stride-2 stem of 64 channels
    and a max pool, four dense blocks of 6, 12, 24, 16 layers (growth 32, bottleneck 4 x 32) with a
    transition between them (BatchNorm, ReLU, 1x1 convolution halving the channels, 2x2 average
    pooling), BatchNorm, ReLU, global average pooling, Dense from 1024 features."""
    num_classes, in_channels, dtype = _arguments(num_classes, in_channels, dtype, "densenet121", weights)
    layers = [Conv2D(in_channels, 64, 7, stride=2, padding=3, bias=False, dtype=dtype), BatchNorm(64, dtype=dtype),
              ReLU(), MaxPool2D(3, 2, 1)]
    c = 64
    for block, depth in enumerate((6, 12, 24, 16)):
        for _ in range(depth):
            layers.append(dense_layer(c, dtype=dtype))
            c += 32
        if block < 3:
            layers += [BatchNorm(c, dtype=dtype), ReLU(), Conv2D(c, c // 2, 1, bias=False, dtype=dtype), AvgPool2D(2)]
            c //= 2
    return Sequential(layers + [BatchNorm(c, dtype=dtype), ReLU(), GlobalAvgPool2D(), Dense(c, num_classes, dtype=dtype)])


#: Every model function by name.
MODELS = {f.__name__: f for f in (lenet5, mnist_cnn, transfer_cnn, alexnet, vgg11, vgg16, googlenet,
                                  inception_v4, resnet18, resnet34, resnet50, se_resnet50, mobilenet_v2,
                                  densenet121)}

__all__ = [*MODELS, "MODELS", "list_weights", "WEIGHTS_DIR", "TRANSFER_BODY", "conv_bn", "basic_block",
           "bottleneck", "se_channels", "VGG_WIDTHS", "inverted_residual", "dense_layer", "MOBILENET_V2_STAGES"]
