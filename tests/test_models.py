"""minicnn.models: the parameter counts of the reference implementations, derived from the
papers' widths; a forward at a small input; the arguments. (That the architectures compute the
same function as PyTorch's is shown by benchmarks/bench_models.py on copied weights.)"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import layers as L
from minicnn.layers.base import skip_init
from minicnn.models import MODELS


def conv(cin, cout, k, bias=True, groups=1):
    """Parameters of a convolution: cout * cin / groups * kh * kw weights, cout biases."""
    kh, kw = (k, k) if isinstance(k, int) else k
    return cout * cin // groups * kh * kw + (cout if bias else 0)


def dense(fin, fout):
    return fin * fout + fout


def cbn(cin, cout, k):
    """conv (no bias) + BatchNorm (gamma, beta)."""
    return conv(cin, cout, k, bias=False) + 2 * cout


def se(c):
    """SqueezeExcitation(c, c / 16): two Dense layers with biases."""
    return dense(c, c // 16) + dense(c // 16, c)


# LeNet-5: C1, C3, C5 convolutions 5x5, F6, output.
LENET5 = conv(1, 6, 5) + conv(6, 16, 5) + conv(16, 120, 5) + dense(120, 84) + dense(84, 10)
# AlexNet (torchvision): five convolutions, then 256*6*6 -> 4096 -> 4096 -> 1000.
ALEXNET = (conv(3, 64, 11) + conv(64, 192, 5) + conv(192, 384, 3) + conv(384, 256, 3) + conv(256, 256, 3)
           + dense(256 * 6 * 6, 4096) + dense(4096, 4096) + dense(4096, 1000))


def vgg(widths):
    """3x3 convolutions of the configuration, then 512*7*7 = 25088 -> 4096 -> 4096 -> 1000."""
    total, c = 0, 3
    for w in widths:
        total, c = total + conv(c, w, 3), w
    return total + dense(25088, 4096) + dense(4096, 4096) + dense(4096, 1000)


VGG11 = vgg([64, 128, 256, 256, 512, 512, 512, 512])
VGG16 = vgg([64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512])


def inception(cin, c1, c3r, c3, c5r, c5, pool):
    """GoogLeNet's block, every convolution conv-BN; the "5x5" branch is 3x3 in torchvision."""
    return (cbn(cin, c1, 1) + cbn(cin, c3r, 1) + cbn(c3r, c3, 3) + cbn(cin, c5r, 1) + cbn(c5r, c5, 3)
            + cbn(cin, pool, 1))


GOOGLENET = (cbn(3, 64, 7) + cbn(64, 64, 1) + cbn(64, 192, 3)
             + inception(192, 64, 96, 128, 16, 32, 32) + inception(256, 128, 128, 192, 32, 96, 64)
             + inception(480, 192, 96, 208, 16, 48, 64) + inception(512, 160, 112, 224, 24, 64, 64)
             + inception(512, 128, 128, 256, 24, 64, 64) + inception(512, 112, 144, 288, 32, 64, 64)
             + inception(528, 256, 160, 320, 32, 128, 128) + inception(832, 256, 160, 320, 32, 128, 128)
             + inception(832, 384, 192, 384, 48, 128, 128) + dense(1024, 1000))

# Inception-v4 (Szegedy et al. 2016, figures 3-8; timm's widths), every convolution conv-BN.
STEM = (cbn(3, 32, 3) + cbn(32, 32, 3) + cbn(32, 64, 3)
        + cbn(64, 96, 3)                                                                    # mixed 3a
        + cbn(160, 64, 1) + cbn(64, 96, 3)                                                  # mixed 4a
        + cbn(160, 64, 1) + cbn(64, 64, (1, 7)) + cbn(64, 64, (7, 1)) + cbn(64, 96, 3)
        + cbn(192, 192, 3))                                                                 # mixed 5a
INCEPTION_A = (cbn(384, 96, 1) + cbn(384, 64, 1) + cbn(64, 96, 3) + cbn(384, 64, 1) + cbn(64, 96, 3)
               + cbn(96, 96, 3) + cbn(384, 96, 1))
REDUCTION_A = cbn(384, 384, 3) + cbn(384, 192, 1) + cbn(192, 224, 3) + cbn(224, 256, 3)
INCEPTION_B = (cbn(1024, 384, 1) + cbn(1024, 192, 1) + cbn(192, 224, (1, 7)) + cbn(224, 256, (7, 1))
               + cbn(1024, 192, 1) + cbn(192, 192, (7, 1)) + cbn(192, 224, (1, 7)) + cbn(224, 224, (7, 1))
               + cbn(224, 256, (1, 7)) + cbn(1024, 128, 1))
REDUCTION_B = (cbn(1024, 192, 1) + cbn(192, 192, 3) + cbn(1024, 256, 1) + cbn(256, 256, (1, 7))
               + cbn(256, 320, (7, 1)) + cbn(320, 320, 3))
INCEPTION_C = (cbn(1536, 256, 1) + cbn(1536, 384, 1) + cbn(384, 256, (1, 3)) + cbn(384, 256, (3, 1))
               + cbn(1536, 384, 1) + cbn(384, 448, (3, 1)) + cbn(448, 512, (1, 3)) + cbn(512, 256, (1, 3))
               + cbn(512, 256, (3, 1)) + cbn(1536, 256, 1))
INCEPTION_V4 = (STEM + 4 * INCEPTION_A + REDUCTION_A + 7 * INCEPTION_B + REDUCTION_B + 3 * INCEPTION_C
                + dense(1536, 1000))


def resnet(depths, bottleneck, with_se=False):
    """Stem 7x7 conv-BN; per block its convolutions with BatchNorm, a 1x1 conv-BN shortcut where
    the shape changes (the first block of a stage), SE on the block's output; Dense to 1000."""
    total, cin = cbn(3, 64, 7), 64
    for stage, (w, depth) in enumerate(zip((64, 128, 256, 512), depths)):
        for i in range(depth):
            out = 4 * w if bottleneck else w
            if bottleneck:
                total += cbn(cin, w, 1) + cbn(w, w, 3) + cbn(w, out, 1) + (se(out) if with_se else 0)
            else:
                total += cbn(cin, w, 3) + cbn(w, w, 3)
            if cin != out or (stage > 0 and i == 0):
                total += cbn(cin, out, 1)
            cin = out
    return total + dense(cin, 1000)


MNIST_CNN = conv(1, 32, 3) + conv(32, 64, 3) + dense(64 * 7 * 7, 128) + dense(128, 10)
TRANSFER_CNN = cbn(1, 16, 3) + cbn(16, 32, 3) + dense(32 * 7 * 7, 128) + dense(128, 10)

def mobilenet_v2_count():
    """Stem 3x3 conv-BN; per inverted residual block a 1x1 expansion conv-BN (not for t = 1), a
    depthwise 3x3 conv-BN, a 1x1 projection conv-BN; a 1x1 conv-BN to 1280; Dense to 1000."""
    total, cin = cbn(3, 32, 3), 32
    for t, c, n, _ in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)):
        for _ in range(n):
            hidden = cin * t
            total += (cbn(cin, hidden, 1) if t != 1 else 0) + conv(hidden, hidden, 3, False, hidden) + 2 * hidden
            total += cbn(hidden, c, 1)
            cin = c
    return total + cbn(cin, 1280, 1) + dense(1280, 1000)


def densenet121_count():
    """Stem 7x7 conv-BN; per dense layer BN, 1x1 conv to 128, BN, 3x3 conv to 32 (the growth); per
    transition BN and a 1x1 conv halving the channels; the last BN; Dense from 1024 to 1000."""
    total, c = cbn(3, 64, 7), 64
    for block, depth in enumerate((6, 12, 24, 16)):
        for _ in range(depth):
            total += 2 * c + conv(c, 128, 1, False) + 2 * 128 + conv(128, 32, 3, False)
            c += 32
        if block < 3:
            total += 2 * c + conv(c, c // 2, 1, False)
            c //= 2
    return total + 2 * c + dense(c, 1000)


EXPECTED = {
    "lenet5": (LENET5, 61_706),
    "mnist_cnn": (MNIST_CNN, 421_642),
    "transfer_cnn": (TRANSFER_CNN, 206_970),
    "alexnet": (ALEXNET, 61_100_840),
    "vgg11": (VGG11, 132_863_336),
    "vgg16": (VGG16, 138_357_544),
    "googlenet": (GOOGLENET, 6_624_904),
    "inception_v4": (INCEPTION_V4, 42_679_816),
    "resnet18": (resnet((2, 2, 2, 2), False), 11_689_512),
    "resnet34": (resnet((3, 4, 6, 3), False), 21_797_672),
    "resnet50": (resnet((3, 4, 6, 3), True), 25_557_032),
    "se_resnet50": (resnet((3, 4, 6, 3), True, with_se=True), 28_088_024),   # resnet50 + 2,530,992
    "mobilenet_v2": (mobilenet_v2_count(), 3_504_872),
    "densenet121": (densenet121_count(), 7_978_856),
}

#: The smallest square input each model takes (the module docstring's table), and its channels.
SMALLEST = {"lenet5": 32, "mnist_cnn": 28, "transfer_cnn": 28, "alexnet": 63, "vgg11": 32, "vgg16": 32, "googlenet": 15,
            "inception_v4": 75, "resnet18": 1, "resnet34": 1, "resnet50": 1, "se_resnet50": 1, "mobilenet_v2": 1,
            "densenet121": 29}
NATIVE = {"lenet5": 32, "mnist_cnn": 28, "transfer_cnn": 28, "inception_v4": 299}
#: The networks for MNIST: one channel, ten classes, and a largest input (their Dense layer
#: after a Flatten takes one size of feature map).
MNIST_NETS = {"lenet5": 35, "mnist_cnn": 31, "transfer_cnn": 31}


def placeholder(name, **kwargs):
    """The model with placeholder weights: shapes and counts without allocating."""
    with skip_init():
        return MODELS[name](**kwargs)


def channels(name):
    return 1 if name in MNIST_NETS else 3


def classes(name):
    return 10 if name in MNIST_NETS else 1000


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_counts_equal_the_references(name):
    derived, reference = EXPECTED[name]
    assert derived == reference                         # the widths above give the reference's count
    assert placeholder(name).num_params() == reference


def test_se_resnet50_is_resnet50_plus_its_gates():
    assert EXPECTED["se_resnet50"][1] - EXPECTED["resnet50"][1] == 2_530_992 == \
        3 * se(256) + 4 * se(512) + 6 * se(1024) + 3 * se(2048)
    assert [mc.models.se_channels(c) for c in (256, 512, 1024, 2048, 64, 8)] == [16, 32, 64, 128, 8, 8]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_documented_input_sizes(name):
    """The native size gives (num_classes,); the smallest size in the docstring's table works,
    one pixel less does not (LeNet-5 takes 32 to 35: its C5 map must be 1 x 1; the other two
    MNIST networks 28 to 31)."""
    model, c = placeholder(name), channels(name)
    native = NATIVE.get(name, 224)
    assert model.output_shape((c, native, native)) == (classes(name),)
    assert f"| ``{name}()`` | {c} x {native} x {native} | {SMALLEST[name]}" in mc.models.__doc__
    assert model.output_shape((c, SMALLEST[name], SMALLEST[name])) == (classes(name),)
    if SMALLEST[name] > 1:
        with pytest.raises(ValueError):
            model.output_shape((c, SMALLEST[name] - 1, SMALLEST[name] - 1))
    if name in MNIST_NETS:
        largest = MNIST_NETS[name]
        assert f"{SMALLEST[name]} (to {largest})" in mc.models.__doc__
        assert model.output_shape((1, largest, largest)) == (10,)
        with pytest.raises(ValueError):
            model.output_shape((1, largest + 1, largest + 1))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_in_channels_and_num_classes(name):
    model = placeholder(name, num_classes=7, in_channels=2)
    first = next(layer for layer in _leaves(model.layers) if isinstance(layer, L.Conv2D))
    last = model.layers[-1]
    assert first.params["W"].shape[1] == 2 and isinstance(last, L.Dense) and last.params["W"].shape[1] == 7
    size = NATIVE[name] if name in MNIST_NETS else max(SMALLEST[name], 32)
    assert model.output_shape((2, size, size)) == (7,)


def _leaves(layers):
    for layer in layers:
        yield layer
        yield from _leaves(layer.sublayers())


# The models small enough to build with real weights in a test; the others (AlexNet, VGG: 61 M
# to 138 M parameters, most of them in the head) run on zero weights, for the shapes.
REAL_WEIGHTS = ["lenet5", "mnist_cnn", "transfer_cnn", "googlenet", "inception_v4", "resnet18", "resnet34", "resnet50",
                "se_resnet50", "mobilenet_v2", "densenet121"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_at_a_small_input(name):
    mc.manual_seed(0)
    if name in REAL_WEIGHTS:
        model = MODELS[name](num_classes=5)
    else:
        model = placeholder(name, num_classes=5)
        for layer in model.layers:
            layer._allocate()
    size = NATIVE[name] if name in MNIST_NETS else max(SMALLEST[name], 32 if name != "inception_v4" else 75)
    x = np.random.default_rng(0).standard_normal((2, channels(name), size, size)).astype(np.float32)
    y = model.predict(x)
    assert y.shape == (2, 5) and y.dtype == np.float32 and np.all(np.isfinite(y))
    if name in REAL_WEIGHTS:
        assert not np.allclose(y[0], y[1])          # the two images give different outputs


@pytest.mark.parametrize("name", ["googlenet", "se_resnet50", "mobilenet_v2", "densenet121"])
def test_a_training_step_reaches_every_parameter(name):
    """Forward in training mode (BatchNorm on batch statistics), backward through every Concat,
    Residual and SE gate: every parameter gets a finite gradient, nearly all non-zero."""
    mc.manual_seed(0)
    model = MODELS[name](num_classes=4)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    loss = mc.losses.CrossEntropy()
    loss.forward(model.forward(x, training=True), np.array([0, 3]))
    assert model.backward(loss.backward(), input_grad=False) is None
    grads = [p.grad for p in model.parameters()]
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert sum(np.any(g != 0) for g in grads) >= 0.9 * len(grads)


def test_summary_prints_the_models():
    text = placeholder("googlenet").summary((3, 224, 224))
    assert "Total params: 6,624,904" in text and "Concat" in text and "branch3:" in text
    assert text.splitlines()[-2].startswith("-") and "(1000,)" in text
    text = placeholder("se_resnet50").summary((3, 224, 224))
    assert "Total params: 28,088,024" in text and "SqueezeExcitation" in text and "(2048, 7, 7)" in text
    assert "Total params: 61,706" in placeholder("lenet5").summary((1, 32, 32))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(num_classes=0), ValueError, "num_classes"),
    (dict(num_classes=2.5), TypeError, "num_classes"),
    (dict(in_channels=-1), ValueError, "in_channels"),
    (dict(in_channels="3"), TypeError, "in_channels"),
    (dict(dtype=np.int32), (TypeError, ValueError), "dtype"),
])
def test_bad_arguments(name, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        MODELS[name](**kwargs)


def test_save_and_load_a_zoo_model(tmp_path):
    mc.manual_seed(0)
    model = mc.models.googlenet(num_classes=3)
    path = tmp_path / "googlenet.npz"
    model.save(path)
    back = mc.Sequential.load(path)
    x = np.random.default_rng(0).standard_normal((1, 3, 40, 40)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
