"""ONNX export and import, checked by onnxruntime and by ONNX's own conformance cases.

- Export: for every layer, over Hypothesis-drawn configurations (kernel sizes, strides,
  paddings including 'same' at stride 2 and 3 and 'valid', dilations, pair arguments,
  count_include_pad, residual blocks with projection shortcuts and nested residuals),
  onnxruntime's output on the exported file equals minicnn's ``predict`` to 1e-5 in
  float32; so does the README's MNIST CNN, its BatchNorm variant and a small ResNet.
- Round trip: export -> ``minicnn.onnx.load`` gives the same architecture, the same
  weights and bit-identical predictions.
- Import: ONNX's conformance cases (``onnx.backend.test.case.node``) of the ops minicnn
  maps, with their weights moved into initializers: each reproduces the expected output
  to 1e-4 or is refused with a ValueError naming the node, the op and the reason; the
  counts per op are pinned below. Hand-made graphs cover PyTorch's forms and every refusal.
- PyTorch: the files in tests/data (made by tests/data/make_torch_onnx.py, both of
  torch's exporters: a CNN, a ResNet, a 1-D network) load and predict what PyTorch predicted.
- Bad arguments and bad files: TypeError/ValueError/FileNotFoundError naming the
  argument or the file; never a raw KeyError/IndexError/protobuf/onnx error.

Skipped as a whole when onnx or onnxruntime is missing (the dev extra installs both).
"""
import collections
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import minicnn as mc  # noqa: E402
import minicnn.functional as F  # noqa: E402
import minicnn.onnx as monnx  # noqa: E402
from minicnn import layers as L  # noqa: E402
from minicnn.onnx._common import short_float  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The largest |onnxruntime - minicnn| per layer class (over the one-layer models drawn
#: below) and per whole model, over every check of this file.
LARGEST_DIFFERENCE = collections.defaultdict(float)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One folder for the files of the whole module (Hypothesis tests cannot take tmp_path)."""
    return tmp_path_factory.mktemp("onnx")


_counter = iter(range(10 ** 9))


def open_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def fresh(folder, name="model"):
    return str(folder / f"{name}-{next(_counter)}.onnx")


def run_onnxruntime(path, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1            # the machine has 2 cores; tests run beside other work
    options.inter_op_num_threads = 1
    options.log_severity_level = 3              # errors only: they come back as exceptions anyway
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def check_against_onnxruntime(model, path, x, tolerance=1e-5, label=None):
    """onnxruntime on ``path`` equals ``model.predict(x)`` to ``tolerance``; returns the difference.

    The difference is recorded under ``label``, or under the layer's class for a model of
    one layer (and a Flatten).
    """
    expected = model.predict(x)
    got = run_onnxruntime(path, x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    diff = float(np.max(np.abs(got.astype(np.float64) - expected))) if got.size else 0.0
    if label is None and len([layer for layer in model if type(layer) is not L.Flatten]) <= 1:
        label = type(model[0]).__name__
    if label is not None:
        LARGEST_DIFFERENCE[label] = max(LARGEST_DIFFERENCE[label], diff)
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)
    return diff


def check_round_trip(model, path, x):
    """load(export(model)) has the same architecture, weights and bit-identical predictions."""
    back = monnx.load(path)
    assert back.architecture() == model.architecture()
    state, original = back.state_dict(), model.state_dict()
    assert state.keys() == original.keys()
    for key in state:
        assert state[key].dtype == original[key].dtype and np.array_equal(state[key], original[key]), key
    assert np.array_equal(back.predict(x), model.predict(x))


def every_layer(layers):
    """The layers and those inside Residuals, at any depth."""
    for layer in layers:
        yield layer
        yield from every_layer(layer.sublayers())


def randomise(model, rng):
    """Non-zero biases and trained-looking BatchNorm statistics, so that every weight matters
    (the weight matrices keep their He initialisation, which keeps activations of order 1)."""
    for layer in every_layer(model.layers):
        if isinstance(layer, L.Residual):
            continue                            # its params are its layers': randomised there
        for p in layer.params.values():
            if p.data.ndim == 1:
                p.data[...] = rng.normal(size=p.data.shape) * 0.5
        if isinstance(layer, L.BatchNorm):
            layer.params["gamma"].data[...] = rng.uniform(0.5, 1.5, layer.num_features)
            layer.running_mean[...] = rng.normal(size=layer.num_features)
            layer.running_var[...] = rng.uniform(0.5, 2.0, layer.num_features)
    return model


def calibrate_batchnorm(model, x):
    """Running statistics that are those of the data at each BatchNorm, as after training
    (random ones, as ``randomise`` draws, let the activations of a deep network grow to ~100,
    where float32's rounding alone exceeds 1e-5): one training forward with momentum 1."""
    norms = [layer for layer in every_layer(model.layers) if isinstance(layer, L.BatchNorm)]
    kept = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 1.0
    model.forward(x, training=True)
    for layer, momentum in zip(norms, kept):
        layer.momentum = momentum


def export_check(model, input_shape, folder, seed=0, batch=3, calibrate=False):
    """Export; onnxruntime == predict (1e-5); round trip exact. Returns the difference.

    ``calibrate``: BatchNorm's running statistics from the data (see :func:`calibrate_batchnorm`).
    """
    rng = np.random.default_rng(seed)
    randomise(model, rng)
    x = rng.normal(size=(batch, *input_shape)).astype(np.float32)
    if calibrate:
        calibrate_batchnorm(model, x)
    path = fresh(folder)
    assert monnx.export(model, path, input_shape=input_shape) == path
    onnx.checker.check_model(path, full_check=True)
    diff = check_against_onnxruntime(model, path, x)
    check_round_trip(model, path, x)
    return diff


# ---------------------------------------------------------------------------
# Export, layer by layer, over drawn configurations
# ---------------------------------------------------------------------------
def pairs(low, high):
    """An int or a pair (h, w), as the layers take them."""
    return st.one_of(st.integers(low, high), st.tuples(st.integers(low, high), st.integers(low, high)))


def as_pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def same_or_int(draw, low, high):
    """A padding: an int (or pair), 'valid' or 'same'."""
    return draw(st.one_of(pairs(low, high), st.just("valid"), st.just("same")))


@st.composite
def conv_cases(draw):
    """Conv2D: every padding at every stride ('same' at stride 2 and 3 pads by the input size),
    grouped and depthwise too."""
    kernel, dilation = draw(pairs(1, 4)), draw(pairs(1, 3))
    padding = same_or_int(draw, 0, 2)
    stride = draw(st.one_of(st.just(1), pairs(1, 3)))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    layer = L.Conv2D(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation,
                     bias=draw(st.booleans()), groups=groups)
    extent = [d * (k - 1) + 1 for k, d in zip(as_pair(kernel), as_pair(dilation))]
    h, w = (draw(st.integers(e, e + 6)) for e in extent)
    return [layer], (c_in, h, w)


@st.composite
def conv1d_cases(draw):
    kernel, dilation, stride = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.one_of(st.integers(0, 3), st.just("valid"), st.just("same")))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    layer = L.Conv1D(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation,
                     bias=draw(st.booleans()), groups=groups)
    extent = dilation * (kernel - 1) + 1
    return [layer], (c_in, draw(st.integers(extent, extent + 9)))


@st.composite
def pool_cases(draw):
    """MaxPool2D and AvgPool2D (count_include_pad both ways, ceil_mode both ways): ints up to
    kernel // 2, or 'same'."""
    cls = draw(st.sampled_from([L.MaxPool2D, L.AvgPool2D]))
    kernel = draw(pairs(1, 4))
    kh, kw = as_pair(kernel)
    padding = draw(st.one_of(st.integers(0, min(kh, kw) // 2),
                             st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2)), st.just("same")))
    stride = draw(st.one_of(st.none(), pairs(1, 3)))
    extra = {"count_include_pad": draw(st.booleans())} if cls is L.AvgPool2D else {}
    layer = cls(kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()), **extra)
    h, w = draw(st.integers(kh, kh + 6)), draw(st.integers(kw, kw + 6))
    return [layer], (draw(st.integers(1, 3)), h, w)


@st.composite
def pool1d_cases(draw):
    cls = draw(st.sampled_from([L.MaxPool1D, L.AvgPool1D]))
    kernel = draw(st.integers(1, 5))
    padding = draw(st.one_of(st.integers(0, kernel // 2), st.just("same")))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    extra = {"count_include_pad": draw(st.booleans())} if cls is L.AvgPool1D else {}
    layer = cls(kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()), **extra)
    return [layer], (draw(st.integers(1, 3)), draw(st.integers(kernel, kernel + 9)))


@st.composite
def global_pool_cases(draw):
    """GlobalAvgPool2D, GlobalAvgPool1D, and AdaptiveAvgPool2D in each of its exported forms: the
    identity, (1, 1), uniform bins, and bins that overlap or differ (smaller or larger than the input)."""
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["2d", "1d", "adaptive"]))
    if kind == "1d":
        return [L.GlobalAvgPool1D()], (c, h)
    if kind == "2d":
        return [L.GlobalAvgPool2D()], (c, h, w)
    size = draw(st.sampled_from([1, (h, w), (1, None), (None, 1)]) | st.tuples(st.integers(1, 8), st.integers(1, 8))
                | st.sampled_from([d for d in (1, 2, 3) if h % d == 0 and w % d == 0]))
    return [L.AdaptiveAvgPool2D(size)], (c, h, w)


@st.composite
def lrn_cases(draw):
    """LocalResponseNorm of odd size, alpha, beta > 0 on (N, C, H, W): ONNX's LRN (the other cases are
    a decomposition that minicnn does not read back: test_lrn_that_onnxruntime_lacks_...)."""
    size = draw(st.sampled_from([1, 3, 5, 7]))
    layer = L.LocalResponseNorm(size, alpha=draw(st.floats(0.01, 2).map(short_float)),
                                beta=draw(st.floats(0.01, 1.5).map(short_float)),
                                k=draw(st.floats(0.5, 3).map(short_float)))
    return [layer], (draw(st.integers(1, 8)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))


@st.composite
def branch_layers(draw, c, depth=0):
    """A Concat or a SqueezeExcitation on (c, H, W): 2 or 3 branches of a 'same' convolution, a
    3x3 stride-1 pool, a ReLU6 or a Concat (nested up to 2 deep)."""
    if draw(st.booleans()) and depth == 0:
        return L.SqueezeExcitation(c, draw(st.integers(1, 4)))
    branches = []
    for _ in range(draw(st.integers(2, 3))):    # one branch comes back as that branch (the same maths)
        kind = draw(st.sampled_from(["conv", "pool", "relu6"] + (["concat"] if depth < 2 else [])))
        if kind == "conv":
            branches.append([L.Conv2D(c, draw(st.integers(1, 3)), draw(st.sampled_from([1, 3])), padding="same")])
        elif kind == "pool":
            branches.append([L.MaxPool2D(3, 1, 1, ceil_mode=True), L.Conv2D(c, 2, 1)])
        elif kind == "relu6":
            branches.append(L.ReLU6())
        else:
            branches.append([L.Conv2D(c, 2, 1), draw(branch_layers(2, depth + 1))])
    return L.Concat(branches)


@st.composite
def branch_cases(draw):
    c = draw(st.integers(1, 4))
    return [draw(branch_layers(c))], (c, draw(st.integers(1, 6)), draw(st.integers(1, 6)))


@st.composite
def residual_layers(draw, c, keep_shape=False, depth=0):
    """A Residual on (c, H, W). The block: a 'same' convolution (at stride 2, or to c + 1
    channels, unless ``keep_shape``), then up to 2 layers that keep its shape, among them a
    Residual (nested up to 2 deep). The shortcut: the identity or, when the block changes
    the shape (or as drawn), a 1x1 convolution of the block's stride, maybe with BatchNorm."""
    stride = 1 if keep_shape else draw(st.sampled_from([1, 2]))
    c_out = c if keep_shape else draw(st.sampled_from([c, c + 1]))
    block = [L.Conv2D(c, c_out, draw(st.sampled_from([1, 3])), stride=stride, padding="same",
                      bias=draw(st.booleans()))]
    choices = ["BatchNorm", "ReLU", "Conv2D", "Dropout", "Tanh"] + (["Residual"] if depth < 2 else [])
    for name in draw(st.lists(st.sampled_from(choices), max_size=2)):
        if name == "Residual":
            block.append(draw(residual_layers(c_out, keep_shape=True, depth=depth + 1)))
        elif name == "Conv2D":
            block.append(L.Conv2D(c_out, c_out, 3, padding=1))
        else:
            block.append(L.BatchNorm(c_out) if name == "BatchNorm" else getattr(L, name)())
    shortcut = None
    if stride != 1 or c_out != c or draw(st.booleans()):
        shortcut = [L.Conv2D(c, c_out, 1, stride=stride, bias=False)]
        shortcut += [L.BatchNorm(c_out)] if draw(st.booleans()) else []
    return L.Residual(block, shortcut)


@st.composite
def residual_cases(draw):
    c = draw(st.integers(1, 3))
    return [draw(residual_layers(c))], (c, draw(st.integers(3, 9)), draw(st.integers(3, 9)))


@st.composite
def dense_cases(draw):
    n_in, n_out = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    lead = draw(st.sampled_from([(), (3,), (2, 2)]))            # (N, in) is Gemm, (N, ..., in) MatMul + Add
    return [L.Dense(n_in, n_out, bias=draw(st.booleans()))], (*lead, n_in)


@st.composite
def batchnorm_cases(draw):
    c = draw(st.integers(1, 5))
    shape = draw(st.sampled_from([(c,), (c, 4), (c, 3, 5)]))
    eps = draw(st.floats(1e-8, 0.5).map(short_float))            # float attributes are float32 in ONNX
    momentum = draw(st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0]))
    return [L.BatchNorm(c, momentum=momentum, eps=eps)], shape


@st.composite
def shape_cases(draw):
    a, b, c = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    target = draw(st.sampled_from([(a * b * c,), (-1,), (a * b, c), (c, -1), (c, 1, a * b), (-1, a, 1)]))
    layer = draw(st.sampled_from([L.Flatten(), L.Reshape(target)]))
    return [layer], (a, b, c)


@st.composite
def activation_cases(draw):
    shape = draw(st.sampled_from([(5,), (3, 4), (2, 3, 4)]))
    rank = len(shape) + 1
    layer = draw(st.sampled_from(["ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Dropout"]))
    if layer == "LeakyReLU":
        made = L.LeakyReLU(draw(st.floats(0, 3).map(short_float)))
    elif layer == "Softmax":
        made = L.Softmax(draw(st.sampled_from([a for a in range(-rank + 1, rank) if a % rank])))
    elif layer == "Dropout":
        made = L.Dropout(draw(st.floats(0, 0.95).map(short_float)))
    else:
        made = getattr(L, layer)()
    return [made], shape


FAMILIES = {"conv": conv_cases, "conv1d": conv1d_cases, "pool": pool_cases, "pool1d": pool1d_cases,
            "global pool": global_pool_cases, "residual": residual_cases, "dense": dense_cases,
            "batchnorm": batchnorm_cases, "shape": shape_cases, "activation": activation_cases,
            "lrn": lrn_cases, "branches": branch_cases}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_layer_matches_onnxruntime_and_round_trips(folder, family):
    @given(case=FAMILIES[family](), seed=st.integers(0, 2 ** 16))
    def check(case, seed):
        layers, shape = case
        model = mc.Sequential(layers + [L.Flatten()] if family.startswith("conv") and seed % 2 else layers)
        export_check(model, shape, folder, seed=seed, calibrate=family == "residual")

    check()


def test_extreme_values_match_onnxruntime(folder):
    """Large inputs (Sigmoid/Tanh/Softmax saturate) and exact zeros (ReLU's kink)."""
    for layer in (L.Sigmoid(), L.Tanh(), L.Softmax(), L.ReLU(), L.LeakyReLU(0.1)):
        model = mc.Sequential([layer])
        path = fresh(folder)
        monnx.export(model, path, input_shape=(6,))
        x = np.array([[-1e4, -50.0, -0.0, 0.0, 50.0, 1e4], [0, 0, 0, 0, 0, 0]], dtype=np.float32)
        check_against_onnxruntime(model, path, x)


def mnist_cnn(batchnorm=False):
    """The README's MNIST CNN (and the variant with BatchNorm after each convolution)."""
    bn = (lambda c: [L.BatchNorm(c)]) if batchnorm else (lambda c: [])
    return mc.Sequential([
        L.Conv2D(1, 32, 3, padding=1), *bn(32), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(32, 64, 3, padding=1), *bn(64), L.ReLU(), L.MaxPool2D(2),
        L.Flatten(), L.Dense(64 * 7 * 7, 128), L.ReLU(), L.Dense(128, 10)])


@pytest.mark.parametrize("batchnorm", [False, True], ids=["cnn", "cnn-bn"])
def test_readme_mnist_cnn(folder, batchnorm):
    mc.manual_seed(0)
    model = mnist_cnn(batchnorm)
    rng = np.random.default_rng(1)
    if batchnorm:
        randomise(model, rng)
    path = fresh(folder)
    monnx.export(model, path)                               # input_shape defaults to (1, 28, 28)
    x = rng.random((70, 1, 28, 28), dtype=np.float32)       # more than predict's batch of 64
    check_against_onnxruntime(model, path, x, label="MNIST " + ("CNN-BN" if batchnorm else "CNN"))
    check_round_trip(model, path, x)
    proto = onnx.load(path)
    first = ["Conv", "BatchNormalization", "Relu", "MaxPool"] if batchnorm else ["Conv", "Relu", "MaxPool"]
    assert [n.op_type for n in proto.graph.node][:len(first)] == first
    assert proto.opset_import[0].version == 17 and proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert {t.name for t in proto.graph.initializer} >= {"0.W", "0.b"}


def test_a_model_of_every_layer_round_trips(folder):
    mc.manual_seed(3)
    model = mc.Sequential([
        L.Conv2D(2, 4, (3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1)), L.BatchNorm(4, momentum=0.2),
        L.LeakyReLU(0.05), L.MaxPool2D(2, padding=1), L.Conv2D(4, 4, 2, padding="same"), L.Tanh(),
        L.AvgPool2D((2, 1), stride=1, padding=(1, 0)), L.Dropout(0.1), L.Reshape((4, -1)), L.Dense(15, 5),
        L.Sigmoid(), L.Flatten(), L.Dense(20, 7, bias=False), L.BatchNorm(7, eps=1e-3), L.ReLU(), L.Softmax(axis=1)])
    diff = export_check(model, (2, 9, 11), folder, seed=4, batch=5)
    LARGEST_DIFFERENCE["every-layer model"] = max(LARGEST_DIFFERENCE["every-layer model"], diff)


def test_the_paper_network_round_trips(folder):
    """examples/train_mnist.py --net paper: Reshape first, 'same' convolutions without bias,
    AvgPool, Dense with xavier_uniform init (kept, like 'same', in minicnn's metadata)."""
    mc.manual_seed(5)
    model = mc.Sequential([
        L.Reshape((1, 28, 28)), L.Conv2D(1, 8, 3, padding="same", bias=False, init="he_uniform"), L.AvgPool2D(2),
        L.Conv2D(8, 8, 3, padding="same", bias=False), L.AvgPool2D(2), L.Flatten(),
        L.Dense(8 * 7 * 7, 30, init="xavier_uniform"), L.Sigmoid(), L.Dense(30, 10, init="xavier_uniform")])
    export_check(model, (784,), folder, seed=6)


def small_resnet():
    """A small ResNet: Conv-BN-ReLU, a residual block with the identity shortcut, one that
    halves the size with a 1x1 stride-2 projection shortcut (with BatchNorm), one with a
    residual block nested inside it, global average pooling, Dense."""
    def block(c_in, c_out, stride):
        body = [L.Conv2D(c_in, c_out, 3, stride=stride, padding="same", bias=False), L.BatchNorm(c_out), L.ReLU(),
                L.Conv2D(c_out, c_out, 3, padding=1, bias=False), L.BatchNorm(c_out)]
        projection = None if stride == 1 and c_in == c_out else [L.Conv2D(c_in, c_out, 1, stride=stride, bias=False),
                                                                  L.BatchNorm(c_out)]
        return L.Residual(body, projection)
    return mc.Sequential([
        L.Conv2D(1, 8, 3, padding=1, bias=False), L.BatchNorm(8), L.ReLU(),
        block(8, 8, 1), L.ReLU(),
        block(8, 16, 2), L.ReLU(),
        L.Residual([block(16, 16, 1), L.ReLU()]), L.ReLU(),
        L.GlobalAvgPool2D(), L.Dense(16, 10)])


def test_a_small_resnet(folder):
    """Checked by onnxruntime (1e-5) and round-tripped exactly; its graph is the Conv/BN/Add
    graph that Netron shows, weights named as in state_dict()."""
    mc.manual_seed(8)
    model = randomise(small_resnet(), np.random.default_rng(8))
    calibrate_batchnorm(model, np.random.default_rng(7).random((64, 1, 28, 28), dtype=np.float32))
    path = fresh(folder)
    monnx.export(model, path)                               # input_shape defaults to (1, 28, 28)
    x = np.random.default_rng(9).random((70, 1, 28, 28), dtype=np.float32)
    diff = check_against_onnxruntime(model, path, x, label="small ResNet")
    check_round_trip(model, path, x)
    assert diff > 0                                         # the check compared numbers
    ops = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
    assert ops == {"Conv": 8, "BatchNormalization": 8, "Relu": 8, "Add": 4, "GlobalAveragePool": 1,
                   "Flatten": 1, "Gemm": 1}
    names = {t.name for t in onnx.load(path).graph.initializer}
    assert names >= {"5.block.0.W", "5.shortcut.0.W", "5.shortcut.1.running_var", "7.block.0.block.3.W"}
    assert names == set(model.state_dict())


def test_a_model_of_every_new_layer_round_trips(folder):
    """Conv1D, both 1-D pools, 'same' at stride 2 and 3, count_include_pad both ways, a
    Residual with a projection shortcut, global average pooling."""
    mc.manual_seed(10)
    model = mc.Sequential([
        L.Conv1D(2, 4, 3, stride=2, padding="same", dilation=2), L.ReLU(),        # (2, 30) -> (4, 15)
        L.MaxPool1D(3, stride=2, padding="same"),                                  # -> (4, 8)
        L.AvgPool1D(3, stride=1, padding=1, count_include_pad=False),              # -> (4, 8)
        L.Conv1D(4, 6, 2, padding="same", bias=False), L.AvgPool1D(2, padding="same"),   # -> (6, 4)
        L.Reshape((6, 2, 2)),
        L.Residual([L.Conv2D(6, 4, 3, stride=3, padding="same"), L.BatchNorm(4)],
                   [L.AvgPool2D(2, stride=3, padding="same", count_include_pad=False), L.Conv2D(6, 4, 1)]),
        L.MaxPool2D(2, stride=1, padding="same"), L.AvgPool2D(3, stride=2, padding=1),
        L.GlobalAvgPool2D(), L.Dense(4, 3), L.Softmax()])
    diff = export_check(model, (2, 30), folder, seed=11, batch=5)
    LARGEST_DIFFERENCE["every-new-layer model"] = max(LARGEST_DIFFERENCE["every-new-layer model"], diff)


SAME_AT_STRIDES = [
    lambda s: L.Conv2D(2, 3, (3, 2), stride=(s, s - 1), padding="same", dilation=(1, 2)),
    lambda s: L.Conv2D(2, 3, 4, stride=s, padding="same"),
    lambda s: L.Conv1D(2, 3, 4, stride=s, padding="same", dilation=2),
    lambda s: L.MaxPool2D((3, 2), stride=s, padding="same"),
    lambda s: L.AvgPool2D(3, stride=(s, 1), padding="same"),
    lambda s: L.AvgPool2D((2, 3), stride=s, padding="same", count_include_pad=False),
    lambda s: L.MaxPool1D(4, stride=s, padding="same"),
    lambda s: L.AvgPool1D(3, stride=s, padding="same", count_include_pad=False),
]


@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("make", range(len(SAME_AT_STRIDES)))
def test_same_padding_at_stride_2_and_3(folder, make, stride):
    """'same' at stride > 1 pads by the input size (explicit pads in the file): every size from
    7 to 12, so that the total padding is odd and even, onnxruntime equal to predict, the
    round trip exact (the metadata says 'same')."""
    for n in range(7, 13):
        layer = SAME_AT_STRIDES[make](stride)
        shape = (2, n) if isinstance(layer, (L.Conv1D, L.MaxPool1D, L.AvgPool1D)) else (2, n, n + 1)
        export_check(mc.Sequential([layer]), shape, folder, seed=n)


def test_export_in_float64(folder):
    """The file takes the model's dtype (or dtype=); onnxruntime has float64 Gemm, not Conv."""
    model = mc.Sequential([L.Dense(4, 3, dtype=np.float64), L.Tanh(), L.Softmax()])
    path = fresh(folder)
    monnx.export(model, path, input_shape=(4,))
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_allclose(run_onnxruntime(path, x), model.predict(x), rtol=1e-12, atol=1e-12)
    as32 = fresh(folder)
    monnx.export(model, as32, input_shape=(4,), dtype=np.float32)
    assert monnx.load(as32)[0].params["W"].data.dtype == np.float32


def test_a_float64_model_whose_file_onnxruntime_cannot_run_is_refused_saying_how_to_export_it(folder):
    """Before, a float64 model with a convolution exported a file that onnxruntime refuses ("Could not
    find an implementation for Conv(11)"), without a word. Now the export refuses, naming the ops and
    both ways out; dtype=np.float32 writes a file onnxruntime runs, dtype=np.float64 one of float64."""
    mc.manual_seed(0)
    model = mc.Sequential([L.Conv2D(1, 2, 3, dtype=np.float64), L.Hardswish(), L.GlobalAvgPool2D()])
    with pytest.raises(ValueError, match=r"the model is float64, and onnxruntime runs Conv, GlobalAveragePool, "
                                         r"HardSwish \(first: node 0.Conv2D\) in float32 only.*dtype=np.float32"):
        monnx.export(model, fresh(folder), input_shape=(1, 5, 5))
    x = np.random.default_rng(0).normal(size=(2, 1, 5, 5))
    as32 = fresh(folder)
    monnx.export(model, as32, input_shape=(1, 5, 5), dtype=np.float32)
    np.testing.assert_allclose(run_onnxruntime(as32, x.astype(np.float32)), model.predict(x), rtol=1e-5, atol=1e-6)
    as64 = fresh(folder)
    monnx.export(model, as64, input_shape=(1, 5, 5), dtype=np.float64)
    assert monnx.load(as64)[0].params["W"].data.dtype == np.float64


def test_the_ops_said_to_lack_float64_in_onnxruntime_do_and_the_others_run(folder):
    """FLOAT64_MISSING_IN_ONNXRUNTIME is onnxruntime's truth: each of its ops fails in float64, and
    every other op minicnn writes runs in float64 (a float64 model of the layers writing them)."""
    ort = pytest.importorskip("onnxruntime")
    from minicnn.onnx.exporters import FLOAT64_MISSING_IN_ONNXRUNTIME
    attributes = {"AveragePool": dict(kernel_shape=[2, 2]), "LRN": dict(size=3), "HardSigmoid": {}, "HardSwish": {},
                  "GlobalAveragePool": {}, "Conv": {}}
    for op in FLOAT64_MISSING_IN_ONNXRUNTIME:
        inputs = ["x", "w"] if op == "Conv" else ["x"]
        path = graph_file(folder, [helper.make_node(op, inputs, ["y"], **attributes[op])], [1, 2, 4, 4],
                          {"w": np.ones((2, 2, 1, 1))} if op == "Conv" else {}, elem=TensorProto.DOUBLE)
        with pytest.raises(Exception, match="NOT_IMPLEMENTED|Could not find an implementation"):
            ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    model = mc.Sequential([L.Normalize(0.5, 2.0), L.MaxPool2D(2), L.Flatten(), L.Dense(8, 4, dtype=np.float64),
                           L.BatchNorm(4, dtype=np.float64), L.SiLU(), L.LogSoftmax(), L.Reshape((2, 2)),
                           L.ChannelShuffle(2), L.ChannelSlice(0, 1), L.Flatten(), L.Dropout(0.5)])
    path = fresh(folder)
    monnx.export(model, path, input_shape=(2, 4, 4))           # no dtype: float64, nothing it lacks
    x = np.random.default_rng(1).normal(size=(3, 2, 4, 4))
    np.testing.assert_allclose(run_onnxruntime(path, x), model.predict(x), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Import: hand-made graphs of the forms other exporters write, and every refusal
# ---------------------------------------------------------------------------
def graph_file(folder, nodes, input_shape, initializers=(), output_shape=None, opset=17, inputs=None,
               outputs=None, elem=TensorProto.FLOAT, domains=()):
    """Write a one-input, one-output graph (input 'x', output 'y') and return its path."""
    inits = [numpy_helper.from_array(np.asarray(v), name) for name, v in dict(initializers).items()]
    graph = helper.make_graph(
        nodes, "test",
        inputs or [helper.make_tensor_value_info("x", elem, list(input_shape))],
        outputs or [helper.make_tensor_value_info("y", elem, output_shape)],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]
                              + [helper.make_opsetid(d, 1) for d in domains])
    model.ir_version = min(model.ir_version, 8)
    if not any(o.type.tensor_type.HasField("shape") for o in graph.output):
        # ONNX's checker wants the output's shape: let ONNX's shape inference write it
        model = onnx.shape_inference.infer_shapes(model)
    path = fresh(folder, "graph")
    onnx.save(model, path)
    return path


def check_import(path, x):
    """load(path) predicts what onnxruntime computes on the file (1e-5)."""
    model = monnx.load(path)
    check_against_onnxruntime(model, path, x)
    return model


def assert_refused(path, *fragments):
    with pytest.raises(ValueError) as info:
        monnx.load(path)
    message = str(info.value)
    assert message.startswith(str(path)) or str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


W = np.random.default_rng(5).normal(size=(4, 2, 3, 3)).astype(np.float32)
B = np.random.default_rng(6).normal(size=4).astype(np.float32)
X = np.random.default_rng(7).normal(size=(3, 2, 6, 6)).astype(np.float32)


def conv_node(**attrs):
    return helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv", **attrs)


def test_import_linear_as_torch_writes_it(folder):
    """PyTorch's Linear: Gemm with transB=1 and alpha/beta; on more axes MatMul + Add (bias first)."""
    w = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    b = np.arange(3, dtype=np.float32)
    gemm = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1, alpha=0.5, beta=2.0)
    model = check_import(graph_file(folder, [gemm], ["N", 5], {"w": w, "b": b}), X[:, 0, 0, :5].copy())
    assert model.architecture()[0]["config"]["in_features"] == 5
    nodes = [helper.make_node("MatMul", ["x", "wt"], ["h"]), helper.make_node("Add", ["b", "h"], ["y"])]
    model = check_import(graph_file(folder, nodes, ["N", 4, 5], {"wt": w.T.copy(), "b": b}), X[:, 0, :4, :5].copy())
    assert [type(layer) for layer in model] == [L.Dense] and model[0].bias


def test_import_flatten_as_torch_writes_it(folder):
    """x.view(x.size(0), -1) by the legacy exporter: Shape, Gather, Unsqueeze, Concat, Reshape;
    by the dynamo exporter: Reshape to [-1, features] with allowzero=1."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Constant", [], ["minus1"], value_ints=[-1]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    model = check_import(graph_file(folder, nodes, ["batch", 2, 6, 6], {"axes": np.array([0])}), X)
    assert model.architecture() == [{"class": "Reshape", "config": {"shape": [-1]}}]
    dynamo = [helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1)]
    model = check_import(graph_file(folder, dynamo, ["batch", 2, 6, 6], {"shape": np.array([-1, 72])}), X)
    assert model.architecture() == [{"class": "Reshape", "config": {"shape": [72]}}]


def test_import_shape_arithmetic_slice_squeeze_cast(folder):
    """Shape -> Slice -> Squeeze/Unsqueeze -> Cast -> Concat computes [N, 72] from the data."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "start", "end"], ["n1"]),
             helper.make_node("Squeeze", ["n1", "axes"], ["n"]),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n2"]),
             helper.make_node("Cast", ["n2"], ["n3"], to=TensorProto.INT64),
             helper.make_node("Concat", ["n3", "rest"], ["shape"], axis=0),
             helper.make_node("Identity", ["x"], ["x2"]),
             helper.make_node("Reshape", ["x2", "shape"], ["y"])]
    consts = {"start": np.array([0]), "end": np.array([1]), "axes": np.array([0]), "rest": np.array([72])}
    model = check_import(graph_file(folder, nodes, ["batch", 2, 6, 6], consts), X)
    assert model.architecture() == [{"class": "Reshape", "config": {"shape": [72]}}]


def test_import_auto_pad_that_minicnn_has(folder):
    """auto_pad VALID is 'valid'; SAME_UPPER is 'same' at any stride (TensorFlow's rule: the
    graph's input size fixes the pads), and so is SAME_LOWER when every total is even."""
    for auto_pad, padding in (("VALID", "valid"), ("SAME_UPPER", "same")):
        node = helper.make_node("Conv", ["x", "W"], ["y"], auto_pad=auto_pad)
        model = check_import(graph_file(folder, [node], ["N", 2, 6, 6], {"W": W[:, :, :2]}), X)
        assert model[0].padding == padding
    x = np.random.default_rng(8).normal(size=(2, 2, 9, 10)).astype(np.float32)
    for strides in ([2, 2], [3, 2], [2, 3], [3, 3]):
        for op in ("Conv", "MaxPool", "AveragePool"):
            for auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                attrs = {} if op == "Conv" else {"kernel_shape": [3, 2]}
                node = helper.make_node(op, ["x", "W"] if op == "Conv" else ["x"], ["y"], name="n",
                                        auto_pad=auto_pad, strides=strides, **attrs)
                path = graph_file(folder, [node], ["N", 2, 9, 10], {"W": W[..., :2]} if op == "Conv" else {})
                pads = [F.same_padding(k, 1, s, n) for k, s, n in zip((3, 2), strides, (9, 10))]
                if auto_pad == "SAME_LOWER" and any((before + after) % 2 for before, after in pads):
                    assert_refused(path, "node 'n'", "the extra of an odd total at the beginning")
                    continue
                model = check_import(path, x)
                assert model[0].padding == "same" and model[0].stride == tuple(strides)
    node = helper.make_node("MaxPool", ["x"], ["y"], auto_pad="VALID", kernel_shape=[2, 3], strides=[2, 1])
    assert check_import(graph_file(folder, [node], ["N", 2, 6, 6]), X)[0].padding == (0, 0)


def test_import_explicit_pads_that_are_same(folder):
    """Explicit pads with the extra at the bottom/right are 'same' when they are exactly what
    'same' gives for the graph's input size (at any stride); symmetric pads stay ints."""
    x = np.random.default_rng(9).normal(size=(2, 2, 9, 10)).astype(np.float32)
    for pads, strides, padding in (([0, 0, 1, 1], [1, 1], "same"), ([0, 0, 1, 0], [2, 2], "same"),
                                   ([1, 1, 1, 1], [2, 2], (1, 1)), ([0, 0, 0, 1], [3, 3], "same")):
        node = helper.make_node("Conv", ["x", "W"], ["y"], pads=pads, strides=strides)
        model = check_import(graph_file(folder, [node], ["N", 2, 9, 10], {"W": W[:, :, :2, :2]}), x)
        assert model[0].padding == padding, (pads, strides)
    node = helper.make_node("Conv", ["x", "W"], ["y"], pads=[0, 0, 1, 1], strides=[2, 2], name="c")
    assert_refused(graph_file(folder, [node], ["N", 2, 9, 10], {"W": W[:, :, :2, :2]}),
                   "node 'c' (Conv): asymmetric pads=[0, 0, 1, 1]")


def test_import_1d_convolution_and_pooling(folder):
    """Rank-1 Conv, MaxPool and AveragePool on (N, C, L) are Conv1D, MaxPool1D and AvgPool1D."""
    x = np.random.default_rng(10).normal(size=(3, 2, 17)).astype(np.float32)
    w = np.random.default_rng(11).normal(size=(4, 2, 3)).astype(np.float32)
    cases = [
        (helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[2, 2], dilations=[2], strides=[2]),
         L.Conv1D, dict(stride=2, padding=2, dilation=2, kernel_size=3)),
        (helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[3]),
         L.Conv1D, dict(stride=3, padding="same", bias=False)),
        (helper.make_node("Conv", ["x", "w2"], ["y"], pads=[1, 2], dilations=[3]), L.Conv1D,
         dict(padding="same", kernel_size=2)),
        (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3], strides=[2], pads=[1, 1]),
         L.MaxPool1D, dict(kernel_size=3, stride=2, padding=1)),
        (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[4], auto_pad="SAME_UPPER", strides=[3]),
         L.MaxPool1D, dict(padding="same", stride=3)),
        (helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3], pads=[1, 1], count_include_pad=1),
         L.AvgPool1D, dict(padding=1, stride=1, count_include_pad=True)),
        (helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3], strides=[2], pads=[1, 1]),
         L.AvgPool1D, dict(padding=1, count_include_pad=False)),
        (helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2], strides=[2], pads=[0, 1]),
         L.AvgPool1D, dict(padding="same", count_include_pad=False)),
    ]
    for node, cls, config in cases:
        inits = {"w": w, "w2": w[..., :2], "b": B}
        model = check_import(graph_file(folder, [node], ["N", 2, 17], {k: inits[k] for k in node.input[1:]}), x)
        assert [type(layer) for layer in model] == [cls]
        assert {k: model[0].config()[k] for k in config} == config, (node, model[0].config())


def test_import_count_include_pad(folder):
    """AveragePool's count_include_pad is AvgPool2D's: 0 (ONNX's default) divides by the input
    pixels of each window only, 1 by the whole window."""
    for value in (None, 0, 1):
        attrs = {} if value is None else {"count_include_pad": value}
        node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], **attrs)
        model = check_import(graph_file(folder, [node], ["N", 2, 6, 6]), X)
        assert model[0].count_include_pad is bool(value)


def global_mean_graphs():
    """The forms of a global average pooling: GlobalAveragePool (+ Flatten, as minicnn and the
    legacy exporter write it), ReduceMean with axes as an input (opset 18) or an attribute,
    keepdims 1 (+ Reshape to [-1, C], as the dynamo exporter writes it) or 0."""
    reduce18 = lambda keepdims, axes: helper.make_node("ReduceMean", ["x", axes], ["m"], keepdims=keepdims)
    reduce17 = lambda keepdims, axes: helper.make_node("ReduceMean", ["x"], ["m"], keepdims=keepdims, axes=axes)
    flatten = helper.make_node("Flatten", ["m"], ["y"])
    reshape = helper.make_node("Reshape", ["m", "shape"], ["y"], allowzero=1)
    identity = helper.make_node("Identity", ["m"], ["y"])
    gap = helper.make_node("GlobalAveragePool", ["x"], ["m"])
    return [  # (nodes, opset, the layers minicnn makes)
        ([gap, identity], 17, ["GlobalAvgPool2D", "Reshape"]),
        ([gap, flatten], 17, ["GlobalAvgPool2D"]),
        ([reduce18(1, "hw"), reshape], 18, ["GlobalAvgPool2D"]),
        ([reduce18(1, "wh"), flatten], 18, ["GlobalAvgPool2D"]),
        ([reduce18(0, "hw"), identity], 18, ["GlobalAvgPool2D"]),
        ([reduce17(1, [-1, -2]), reshape], 17, ["GlobalAvgPool2D"]),
        ([reduce17(1, [2, 3]), identity], 17, ["GlobalAvgPool2D", "Reshape"]),
        ([reduce17(0, [3, 2]), identity], 13, ["GlobalAvgPool2D"]),
    ]


@pytest.mark.parametrize("case", range(len(global_mean_graphs())))
def test_import_global_average_pooling(folder, case):
    nodes, opset, classes = global_mean_graphs()[case]
    consts = {"hw": np.array([2, 3]), "wh": np.array([-1, -2]), "shape": np.array([-1, 2])}
    used = {i for n in nodes for i in n.input}
    model = check_import(graph_file(folder, nodes, ["N", 2, 6, 6], {k: v for k, v in consts.items() if k in used},
                                    opset=opset), X)
    assert [type(layer).__name__ for layer in model] == classes


@pytest.mark.parametrize("nodes, opset", [
    ([helper.make_node("GlobalAveragePool", ["x"], ["m"]), helper.make_node("Flatten", ["m"], ["y"])], 17),
    ([helper.make_node("ReduceMean", ["x"], ["y"], axes=[-1], keepdims=0)], 17),
    ([helper.make_node("ReduceMean", ["x", "a"], ["m"]), helper.make_node("Squeeze", ["m", "a"], ["y"])], 18),
    ([helper.make_node("ReduceMean", ["x"], ["m"], axes=[2]), helper.make_node("Squeeze", ["m"], ["y"], axes=[2])], 11),
    ([helper.make_node("Unsqueeze", ["x", "b"], ["u"]), helper.make_node("ReduceMean", ["u", "hw"], ["m"]),
      helper.make_node("Squeeze", ["m", "b"], ["s"]), helper.make_node("Reshape", ["s", "shape"], ["y"])], 18),
], ids=["GlobalAveragePool + Flatten", "ReduceMean", "ReduceMean + Squeeze", "ReduceMean + Squeeze, opset 11",
        "dynamo's AdaptiveAvgPool1d(1) + flatten"])
def test_import_1d_global_average_pooling(folder, nodes, opset):
    """The mean over L of (N, C, L): GlobalAveragePool + Flatten (minicnn's, torch's legacy
    ``AdaptiveAvgPool1d(1)`` + flatten), ReduceMean over the last axis (``x.mean(-1)``, both
    exporters), ReduceMean keeping the axis + Squeeze, and what the dynamo exporter writes for
    ``AdaptiveAvgPool1d(1)`` + flatten (Unsqueeze to (N, C, 1, L), ReduceMean over the last two
    axes, Squeeze, Reshape) -> the one GlobalAvgPool1D."""
    used = {i for n in nodes for i in n.input}
    consts = {"a": np.array([-1]), "b": np.array([-2]), "hw": np.array([-1, -2]), "shape": np.array([-1, 2])}
    model = check_import(graph_file(folder, nodes, ["N", 2, 6], {k: v for k, v in consts.items() if k in used},
                                    opset=opset), X[:, :, 0])
    assert [type(layer).__name__ for layer in model] == ["GlobalAvgPool1D"]


@pytest.mark.parametrize("shortcut", [False, True], ids=["identity", "projection"])
def test_import_residual_add(folder, shortcut):
    """relu(conv(x)) + x and relu(conv(x)) + conv1x1(x): a Residual, input 0 the block."""
    inits = {"W": W[:2], "B": B[:2], "P": np.random.default_rng(3).normal(size=(2, 2, 1, 1)).astype(np.float32)}
    used = {i for n in residual_nodes(shortcut) for i in n.input}
    model = check_import(graph_file(folder, residual_nodes(shortcut), ["N", 2, 6, 6],
                                    {k: v for k, v in inits.items() if k in used}), X)
    assert [type(layer) for layer in model] == [L.Residual]
    assert [type(layer) for layer in model[0].block] == [L.Conv2D, L.ReLU]
    assert (model[0].shortcut is None) is not shortcut


def test_import_the_identity_first_and_nested_residuals(folder):
    """x + f(x): the empty branch is the shortcut, whichever input it is. ((f(t) + t) + g(x)):
    a Residual inside the block of another, forked at the graph input."""
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["t"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["t"], ["r"]),
             helper.make_node("Conv", ["r", "W2"], ["f"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["r", "f"], ["s"]),
             helper.make_node("Conv", ["x", "P"], ["g"]),
             helper.make_node("Add", ["s", "g"], ["y"])]
    rng = np.random.default_rng(4)
    inits = {"W": W[:2], "B": B[:2], "W2": rng.normal(size=(2, 2, 3, 3)).astype(np.float32),
             "P": rng.normal(size=(2, 2, 1, 1)).astype(np.float32)}
    model = check_import(graph_file(folder, nodes, ["N", 2, 6, 6], inits), X)
    outer, = model.layers
    assert [type(layer) for layer in outer.block] == [L.Conv2D, L.ReLU, L.Residual]
    assert [type(layer) for layer in outer.shortcut] == [L.Conv2D]
    inner = outer.block[2]
    assert [type(layer) for layer in inner.block] == [L.Conv2D] and inner.shortcut is None


def test_nested_residuals_round_trip(folder):
    mc.manual_seed(12)
    inner = L.Residual([L.Conv2D(3, 3, 3, padding="same"), L.BatchNorm(3)], [L.Conv2D(3, 3, 1, init="xavier_uniform")])
    model = mc.Sequential([L.Residual([L.ReLU(), inner, L.Residual([L.Conv2D(3, 3, 1)])]),
                           L.Residual([L.Tanh()], [L.Residual([L.Sigmoid()])]), L.Flatten()])
    export_check(model, (3, 5, 4), folder, seed=13)


@pytest.mark.parametrize("nodes, constants, mean, std", [
    # PyTorch's (x - mean) / std, both exporters
    ([("Sub", "x", "m"), ("Div", "s0", "s")], {"m": [0.1, 0.2], "s": [0.5, 2.0]}, [0.1, 0.2], [0.5, 2.0]),
    # x * scale + shift, the constants first: one Normalize, (x - (-shift / scale)) / (1 / scale)
    ([("Mul", "k", "x"), ("Add", "b", "s0")], {"k": [2.0, 4.0], "b": [1.0, -2.0]}, [-0.5, 0.5], [0.5, 0.25]),
    # mean - x: (x - mean) / (-1); then / 2 for every channel
    ([("Sub", "m", "x"), ("Div", "s0", "s")], {"m": [0.3, 0.3], "s": [2.0]}, [0.3, 0.3], [-2.0, -2.0]),
    # one number for every channel
    ([("Sub", "x", "m")], {"m": [1.5]}, [1.5], [1.0]),
])
def test_import_the_input_normalisation_as_one_normalize(folder, nodes, constants, mean, std):
    """Sub, Div, Mul and Add of the data and a per-channel constant (shaped (C, 1, 1)) or a number,
    in either order: one Normalize, the consecutive ones folded; the same outputs as onnxruntime."""
    graph = [helper.make_node(op, [a, b], [f"s{i}" if i < len(nodes) - 1 else "y"])
             for i, (op, a, b) in enumerate(nodes)]
    inits = {name: np.array(v, np.float32).reshape(-1, 1, 1) if len(v) > 1 else np.array(v[0], np.float32)
             for name, v in constants.items()}
    path = graph_file(folder, graph, ["N", 2, 3, 3], inits, output_shape=["N", 2, 3, 3])
    model = check_import(path, np.random.default_rng(0).normal(size=(3, 2, 3, 3)).astype(np.float32))
    assert len(model.layers) == 1 and type(model[0]) is L.Normalize
    np.testing.assert_allclose(model[0].mean, mean, rtol=1e-6)
    np.testing.assert_allclose(model[0].std, std, rtol=1e-6)


def test_normalize_round_trips_with_the_constants_as_written(folder):
    """Exported as Sub and Div, read back as the same Normalize: its constants the short decimals of
    the file's float32s (0.485, not 0.48500001430511475), its outputs bit for bit."""
    model = mc.Sequential([L.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), L.Conv2D(3, 2, 1)])
    path = fresh(folder)
    monnx.export(model, path, input_shape=(3, 4, 4))
    back = monnx.load(path)
    assert back[0].config() == model[0].config()
    x = np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def test_import_old_opsets(folder):
    """Opset 11: Softmax on the last axis (its 2-D coercion is then the same), Dropout's ratio
    attribute, Unsqueeze's axes attribute, BatchNormalization; opset 7: BatchNormalization's spatial."""
    nodes = [helper.make_node("Dropout", ["x"], ["d"], ratio=0.2),
             helper.make_node("Softmax", ["d"], ["y"], axis=3)]
    model = check_import(graph_file(folder, nodes, ["N", 2, 6, 6], opset=11), X)
    assert [layer.config() for layer in model] == [{"p": 0.2}, {"axis": 3}]
    stats = {n: np.random.default_rng(1).uniform(0.5, 1.5, 2).astype(np.float32) for n in "sbmv"}
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], spatial=1, epsilon=1e-3)
    model = check_import(graph_file(folder, [node], ["N", 2, 6, 6], stats, opset=7), X)
    assert model[0].eps == 1e-3 and model[0].momentum == 0.1
    node = helper.make_node("Softmax", ["x"], ["y"], axis=1)
    assert_refused(graph_file(folder, [node], ["N", 2, 6, 6], opset=11), "normalises over all axes from 1 on")
    assert_refused(graph_file(folder, [node], ["N", 2, 6, 6], opset=6), "opset 6 is older than 7")


def test_metadata_never_changes_the_computation(folder):
    """The padding spelling kept in minicnn's metadata is used only when it gives the graph's pads."""
    model = mc.Sequential([L.Conv2D(2, 4, 3, padding=0), L.Conv2D(4, 4, 3, padding="same")])
    path = fresh(folder)
    monnx.export(model, path, input_shape=(2, 6, 6))
    proto = onnx.load(path)
    spec = model.architecture()
    spec[0]["config"]["padding"], spec[1]["config"]["padding"] = "same", "valid"     # a lie about both
    proto.metadata_props[0].value = json.dumps(spec)
    onnx.save(proto, path)
    back = check_import(path, X)
    assert back[0].padding == (0, 0) and back[1].padding == (1, 1)
    for junk in ("{not json", "[" * 100000 + "]" * 100000, json.dumps([{"class": "Conv2D", "config": []}])):
        proto.metadata_props[0].value = junk
        onnx.save(proto, path)
        assert check_import(path, X)[1].padding == (1, 1)


def residual_nodes(shortcut):
    """relu(conv(x)) + x, or + conv1x1(x) with a projection shortcut."""
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], name="body"),
             helper.make_node("Relu", ["c"], ["r"])]
    if shortcut:
        nodes.append(helper.make_node("Conv", ["x", "P"], ["s"], name="projection"))
    nodes.append(helper.make_node("Add", ["r", "s" if shortcut else "x"], ["y"], name="residual"))
    return nodes


REFUSALS = {
    # name: (nodes, initializers (None: W and B), expected message fragments[, input shape[, opset]])
    "auto_pad SAME_LOWER, odd total": ([conv_node(auto_pad="SAME_LOWER", kernel_shape=[3, 2])],
                                       {"W": W[..., :2], "B": B}, ["node 'conv' (Conv)", "auto_pad=SAME_LOWER",
                                                                   "pads [1, 1, 1, 0] (top, left, bottom, right)"]),
    "auto_pad SAME_LOWER at stride 2, odd total": ([conv_node(auto_pad="SAME_LOWER", strides=[2, 2])], None,
                                                   ["auto_pad=SAME_LOWER pads [1, 1, 0, 0]"]),
    "asymmetric pads": ([conv_node(pads=[0, 1, 1, 1])], None, ["asymmetric pads=[0, 1, 1, 1]"]),
    "group that does not divide the outputs": ([conv_node(group=3)], {"W": W[:, :1], "B": B},
                                               ["group=3: expected an int >= 1 that divides the 4 output channels"]),
    "group unlike the input's channels": ([conv_node(group=2)], {"W": W, "B": B},
                                          ["the input has 2 channels; W (4, 2, 3, 3) with group=2 takes 4"]),
    "kernel_shape unlike W": ([conv_node(kernel_shape=[2, 2])], None, ["kernel_shape=[2, 2] does not match"]),
    "3-D Conv": ([helper.make_node("Conv", ["x", "W3"], ["y"])], {"W3": W[..., None]},
                 ["5-D input (N, 2, 6, 6, 6): minicnn's Conv1D takes (N, C, L) and its Conv2D (N, C, H, W)"],
                 ["N", 2, 6, 6, 6]),
    "1-D Conv, asymmetric pads": ([helper.make_node("Conv", ["x", "W1"], ["y"], pads=[2, 0])], {"W1": W[..., 0]},
                                  ["asymmetric pads=[2, 0] (left, right)", "Conv1D"], ["N", 2, 6]),
    "1-D MaxPool, pads beyond kernel // 2": ([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2],
                                                               pads=[2, 2])], {},
                                             ["padding [2] is more than half the kernel [2]"], ["N", 2, 6]),
    "ceil_mode 2": ([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], ceil_mode=2)], None,
                    ["ceil_mode=2: expected 0 or 1"]),
    "pooling dilations": ([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])],
                          None, ["no dilation"]),
    "storage_order": ([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], storage_order=1)], None,
                      ["storage_order=1"]),
    "MaxPool Indices": ([helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2]),
                         helper.make_node("Add", ["y", "i"], ["z"])], None, ["output 1 ('i') is used"]),
    "pooling pads beyond kernel // 2": ([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2],
                                                          pads=[2, 2, 2, 2], count_include_pad=1)],
                                        None, ["at most kernel_size // 2"]),
    "count_include_pad 2": ([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                              count_include_pad=2)], None, ["count_include_pad=2"]),
    "GlobalAveragePool of (N, C, D, H, W)": ([helper.make_node("GlobalAveragePool", ["x"], ["y"])], None,
                                             ["5-D input (N, 2, 3, 3, 3): minicnn's GlobalAvgPool1D takes (N, C, L)"],
                                             ["N", 2, 3, 3, 3]),
    "ReduceMean over the channels": ([helper.make_node("ReduceMean", ["x", "a"], ["y"])], {"a": np.array([1, 2, 3])},
                                     ["the mean over axes [1, 2, 3]", "only over H and W"], ["N", 2, 6, 6], 18),
    "ReduceMean over all axes": ([helper.make_node("ReduceMean", ["x"], ["y"])], {},
                                 ["no axes: the mean over every axis, the batch axis too"], ["N", 2, 6, 6], 18),
    "ReduceMean over C of (N, C, L)": ([helper.make_node("ReduceMean", ["x"], ["y"], axes=[1])], {},
                                       ["the mean over axes [1] of (N, 2, 6)"], ["N", 2, 6], 13),
    "LRN of even size": ([helper.make_node("LRN", ["x"], ["y"], size=2)], None,
                         ["(LRN): size=2 is even", "one channel later"]),
    "Clip to other bounds": ([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                             {"lo": np.array(-1, np.float32), "hi": np.array(1, np.float32)},
                             ["Clip to [-1.0, 1.0]", "[0, 6] (ReLU6)"]),
    "Clip of opset 6 to other bounds": ([helper.make_node("Clip", ["x"], ["y"], min=0.0, max=5.0)], {},
                                        ["Clip to [0.0, 5.0]"], ["N", 2, 6, 6], 7),
    "Mul by a constant": ([helper.make_node("Mul", ["x", "c"], ["y"])], {"c": np.ones(6, np.float32)},
                          ["multiplies the data (N, 2, 6, 6) and a constant of dtype float32 and shape (6,)",
                           "only as Normalize", "one number or one per channel"]),
    "Mul by 0": ([helper.make_node("Mul", ["x", "c"], ["y"])], {"c": np.zeros((2, 1, 1), np.float32)},
                 ["multiplies the data by 0"]),
    "Div of a constant by the data": ([helper.make_node("Div", ["c", "x"], ["y"])], {"c": np.ones(1, np.float32)},
                                      ["divides a constant by the data (N, 2, 6, 6)", "only by a constant"]),
    "Sub of two computed tensors": ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sub", ["x", "r"], ["y"])],
                                    {}, ["subtracts two tensors computed from the data"]),
    "Sub of an int constant": ([helper.make_node("Sub", ["x", "c"], ["y"])], {"c": np.ones(1, np.int64)},
                               ["subtracts the data (N, 2, 6, 6) and a constant of dtype int64 and shape (1,)"]),
    "Mul of the data by itself": ([helper.make_node("Mul", ["x", "x"], ["y"], name="sq")], {},
                                  ["the graph output 'y' (node 'sq' (Mul)) is a step of a LocalResponseNorm written as several nodes "
                                   "(x * x, from node 'sq')", "only as that whole layer"]),
    "x * x read by another op": ([helper.make_node("Mul", ["x", "x"], ["s"], name="sq"),
                                  helper.make_node("Relu", ["s"], ["y"], name="r")], {},
                                 ["node 'r' (Relu): it reads a step of a LocalResponseNorm written as several nodes "
                                  "(x * x, from node 'sq'), but it is not a Pad or an AveragePool of the channels"]),
    "x * x then another Reshape": ([helper.make_node("Mul", ["x", "x"], ["s"], name="sq"),
                                    helper.make_node("Reshape", ["s", "shape"], ["y"], name="r")],
                                   {"shape": np.array([0, 72])},
                                   ["node 'r' (Reshape): it reads a step of a LocalResponseNorm",
                                    "but it is not a Reshape that keeps the channels one axis (it gives (N, 72))"]),
    "x * x, then a window of the wrong place": (
        [helper.make_node("Mul", ["x", "x"], ["s"], name="sq"),
         helper.make_node("Reshape", ["s", "shape"], ["c"]),
         helper.make_node("AveragePool", ["c"], ["y"], kernel_shape=[3, 1], pads=[0, 0, 2, 0], count_include_pad=1,
                          name="p")],
        {"shape": np.array([0, 1, 2, -1])},
        ["node 'p' (AveragePool): it reads a step of a LocalResponseNorm", "the window of 3 channels c - 1 .. c + 1 "
         "(it pads 0 before and 2 after)"]),
    "Pow of the data": ([helper.make_node("Pow", ["x", "e"], ["y"])], {"e": np.array(2.0, np.float32)},
                        ["raises the data to a power"]),
    "Mul of two branches": ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["x"], ["s"]),
                             helper.make_node("Mul", ["r", "s"], ["y"])], {},
                            ["multiplies two tensors computed from the data, (N, 2, 6, 6) and (N, 2, 6, 6), of which "
                             "neither is computed from the other", "only as x * f(x): SiLU (f = Sigmoid), Hardswish"]),
    "Mul by a gate that is not squeeze-and-excitation": (
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Sigmoid", ["p"], ["s"]),
         helper.make_node("Mul", ["x", "s"], ["y"])], {},
        ["the gate is not squeeze-and-excitation's", "after the pool it computes Sigmoid"]),
    "Mul by a gate of every pixel": (
        [helper.make_node("Tanh", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])], {},
        ["multiplies x (N, 2, 6, 6) by a function of it (N, 2, 6, 6)", "one value per channel",
         "only as x * f(x): SiLU (f = Sigmoid)"]),
    "Mul by a gate of 1x1 Convs with padding": (
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
         helper.make_node("Conv", ["p", "A"], ["a"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["a"], ["r"]),
         helper.make_node("Conv", ["r", "A"], ["b"], pads=[1, 1, 1, 1]), helper.make_node("Sigmoid", ["b"], ["s"]),
         helper.make_node("Mul", ["x", "s"], ["y"])], {"A": np.ones((2, 2, 1, 1), np.float32)},
        ["multiplies x (N, 2, 6, 6) by a function of it (N, 2, 5, 5)", "one value per channel"]),
    "Mul by a gate of one 1x1 Conv": (
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Conv", ["p", "A"], ["a"]),
         helper.make_node("Sigmoid", ["a"], ["s"]), helper.make_node("Mul", ["s", "x"], ["y"])],
        {"A": np.ones((2, 2, 1, 1), np.float32)},
        ["not squeeze-and-excitation's: after the pool it computes Conv2D, Sigmoid"]),
    "Concat along H": ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["x"], ["s"]),
                        helper.make_node("Concat", ["r", "s"], ["y"], axis=2)], {},
                       ["concatenates (N, 2, 6, 6), (N, 2, 6, 6) along axis 2: minicnn's Concat joins its "
                        "branches along axis 1 (the channels)"]),
    "Concat of shapes that differ on another axis": (
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2],
                                                                  strides=[2, 2]),
         helper.make_node("Concat", ["r", "p"], ["y"], axis=1)], {},
        ["concatenates (N, 2, 6, 6), (N, 2, 3, 3) along axis 1: they differ on another axis too"]),
    "Concat of data and a constant": ([helper.make_node("Concat", ["x", "c"], ["y"], axis=1)],
                                      {"c": np.ones((1, 2, 6, 6), np.float32)},
                                      ["concatenates the data (input 0, (N, 2, 6, 6)) with a constant: minicnn has no "
                                       "layer for that", "not the two mixed"]),
    "Gather of the data along the channels": ([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)],
                                              {"i": np.array([0, 1])},
                                              ["gathers from the data (N, 2, 6, 6) along axis 1", "only along H or W"]),
    "Transpose of the batch axis": ([helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0, 2, 3]),
                                     helper.make_node("Relu", ["y"], ["z"], name="r")], {},
                                    ["input 0 ('y') of node 'r' (Relu)", "laid out as [2, N, 6, 6] (N at 1, C at 0)"]),
    "Transpose of a (N, C) matrix": ([helper.make_node("Flatten", ["x"], ["f"]),
                                      helper.make_node("Transpose", ["f"], ["y"], perm=[1, 0])], {},
                                     ["transposes the data (N, 72) by perm=[1, 0]", "channel shuffle"]),
    "Pad by reflection": ([helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")],
                          {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1])},
                          ["pads the data (N, 2, 6, 6) by reflection (PyTorch's padding_mode='reflect'",
                           "export the network with padding_mode='zeros'"]),
    "Pad by reflection, its pads computed as the legacy exporter writes them": (
        [helper.make_node("ConstantOfShape", ["four"], ["zeros"], value=numpy_helper.from_array(np.array([0]))),
         helper.make_node("Concat", ["ones", "zeros"], ["pairs"], axis=0),
         helper.make_node("Reshape", ["pairs", "rows"], ["table"]),
         helper.make_node("Slice", ["table", "minus1", "far", "zero", "minus1"], ["reversed"]),
         helper.make_node("Transpose", ["reversed"], ["by_side"], perm=[1, 0]),
         helper.make_node("Reshape", ["by_side", "minus1"], ["flat"]),
         helper.make_node("Cast", ["flat"], ["pads"], to=TensorProto.INT64),
         helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect", name="/Pad")],
        {"four": np.array([4]), "ones": np.array([1, 1, 1, 1]), "rows": np.array([-1, 2]), "minus1": np.array([-1]),
         "far": np.array([-2 ** 63 + 1]), "zero": np.array([0])},
        ["node '/Pad' (Pad): pads the data (N, 2, 6, 6) by reflection (PyTorch's padding_mode='reflect'",
         "export the network with padding_mode='zeros'"]),
    "Pad by zeros": ([helper.make_node("Pad", ["x", "p"], ["y"])], {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1])},
                     ["pads the data (N, 2, 6, 6) with a constant", "give the padding to the Conv2D"]),
    "If on the data": ([helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
                        helper.make_node("Cast", ["m"], ["b"], to=TensorProto.BOOL),
                        helper.make_node("If", ["b"], ["y"],
                                         then_branch=helper.make_graph([helper.make_node("Identity", ["x"], ["t"])],
                                                                       "then", [], [helper.make_tensor_value_info(
                                                                           "t", TensorProto.FLOAT, None)]),
                                         else_branch=helper.make_graph([helper.make_node("Relu", ["x"], ["e"])],
                                                                       "else", [], [helper.make_tensor_value_info(
                                                                           "e", TensorProto.FLOAT, None)]))],
                       {}, ["the mean over axes [1, 2, 3]"], ["N", 2, 6, 6], 13),
    "HardSigmoid of another slope": ([helper.make_node("HardSigmoid", ["x"], ["y"])], {},
                                     ["HardSigmoid with alpha=0.2, beta=0.5", "alpha 1/6 and beta 1/2"]),
    "Split of the data along H": ([helper.make_node("Split", ["x", "s"], ["y", "z"], axis=2)],
                                  {"s": np.array([3, 3])}, ["splits the data (N, 2, 6, 6) along axis 2"]),
    "Slice of the data along W": ([helper.make_node("Slice", ["x", "a", "b", "c"], ["y"])],
                                  {"a": np.array([1]), "b": np.array([4]), "c": np.array([3])},
                                  ["slices the data (N, 2, 6, 6) along axis 3 (step 1)", "only along the channels"]),
    "Squeeze of the data without axes": ([helper.make_node("GlobalAveragePool", ["x"], ["m"]),
                                          helper.make_node("Squeeze", ["m"], ["y"])], {},
                                         ["no axes: it would drop every axis of size 1, the batch axis too"]),
    "Squeeze of an axis longer than 1": ([helper.make_node("Squeeze", ["x", "a"], ["y"])], {"a": np.array([2])},
                                         ["only axes of size 1 other than the batch axis"]),
    "Unsqueeze of a constant at an axis beyond C's ints (found by the bit-flip fuzz: an OverflowError)": (
        [helper.make_node("Unsqueeze", ["c", "a"], ["u"]), helper.make_node("Reshape", ["x", "u"], ["y"])],
        {"c": np.array([0, 72]), "a": np.array([2 ** 40])}, ["cannot compute it on its constant inputs"]),
    "Unsqueeze before the batch axis": ([helper.make_node("Unsqueeze", ["x", "a"], ["y"])], {"a": np.array([0])},
                                        ["a new axis 0 would move the batch axis"]),
    "BatchNormalization statistics outputs read": (
        [helper.make_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["b", "m", "v"], training_mode=1),
         helper.make_node("Relu", ["m"], ["y"])],
        {"s": np.ones(2, np.float32)}, ["its output 1 ('m') is used; a minicnn layer has one output"]),
    "BatchNormalization of other size": (
        [helper.make_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["y"])],
        {"s": np.ones(3, np.float32)}, ["scale has shape (3,); expected (2,)"]),
    "Add of a constant": ([helper.make_node("Add", ["x", "c"], ["y"])], {"c": np.ones(6, np.float32)},
                          ["adds the data (N, 2, 6, 6) and a constant of dtype float32 and shape (6,)", "only as Normalize"]),
    "Add that broadcasts": ([helper.make_node("Conv", ["x", "P"], ["c"], strides=[2, 2]),
                             helper.make_node("Add", ["x", "c"], ["y"], name="sum")],
                            {"P": np.ones((2, 2, 1, 1), np.float32)},
                            ["node 'sum' (Add): adds tensors of shapes (N, 2, 6, 6) and (N, 2, 3, 3)"]),
    "Add of branches that do not meet at one fork": (
        [helper.make_node("Conv", ["x", "W", "B"], ["t"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["t"], ["u"]),
         helper.make_node("Add", ["u", "t"], ["s"], name="inner"),
         helper.make_node("Add", ["s", "u"], ["y"], name="outer")],
        {"W": W[:2], "B": B[:2]}, ["node 'outer' (Add): the two branches share a ReLU",
                                   "does not fork at one tensor"]),
    "an op minicnn lacks": ([helper.make_node("Exp", ["x"], ["y"], name="e")], None,
                            ["node 'e' (Exp): op Exp is not supported"]),
    "an attribute ONNX lacks (the checker)": ([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.1, beta=2.0)],
                                              None, ["not a valid ONNX model", "Unrecognized attribute: beta"]),
    "LeakyRelu with a negative slope": ([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=-0.5)], None,
                                        ["minicnn's LeakyReLU cannot take it"]),
    "Gemm transA": ([helper.make_node("Flatten", ["x"], ["f"]),
                     helper.make_node("Gemm", ["f", "g"], ["y"], transA=1)], {"g": np.ones((3, 4), np.float32)},
                    ["transA=1"]),
    "Gemm of another width": ([helper.make_node("Flatten", ["x"], ["f"]),
                               helper.make_node("Gemm", ["f", "g"], ["y"])], {"g": np.ones((5, 4), np.float32)},
                              ["Dense(in_features=5", "cannot take its input (N, 72)"]),
    "MatMul with the data second": ([helper.make_node("MatMul", ["g", "x"], ["y"])],
                                    {"g": np.ones((6, 6), np.float32)}, ["a constant times the data"]),
    "Flatten axis 2": ([helper.make_node("Flatten", ["x"], ["y"], axis=2)], None, ["axis=2"]),
    "Reshape of the batch axis": ([helper.make_node("Reshape", ["x", "s"], ["y"])], {"s": np.array([-1, 6])},
                                  ["does not keep the batch axis first"]),
    "Softmax over the batch": ([helper.make_node("Softmax", ["x"], ["y"], axis=0)], None, ["axis 0"]),
    "an input that nothing computes (the checker)": ([helper.make_node("Relu", ["nowhere"], ["y"])], None,
                                                     ["not a valid ONNX model", "'nowhere'"]),
    "weights computed from the data": ([helper.make_node("Conv", ["x", "x"], ["y"])], None,
                                       ["input 1 ('x') is computed from the graph input (N, 2, 6, 6), but minicnn "
                                        "reads the weight W of a Conv only as a constant"]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_what_minicnn_cannot_compute_is_refused(folder, case):
    nodes, initializers, fragments, *shape_and_opset = REFUSALS[case]
    shape, opset = (list(shape_and_opset) + [["N", 2, 6, 6], 17][len(shape_and_opset):])[:2]
    inits = {"W": W, "B": B} if initializers is None else initializers
    used = {i for n in nodes for i in n.input}
    path = graph_file(folder, nodes, shape, {k: v for k, v in inits.items() if k in used}, opset=opset,
                      outputs=[helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, ["N"])])
    assert_refused(path, *fragments)


def test_ops_of_other_domains_and_unread_attributes_are_refused(folder):
    """An op of another domain, and an attribute of a known op that its importer does not read
    (here Cast's ``saturate``, opset 19): refused, never ignored."""
    other = [helper.make_node("Relu", ["x"], ["y"], domain="com.example")]
    assert_refused(graph_file(folder, other, ["N", 3], output_shape=["N", 3], domains=["com.example"]),
                   "op com.example.Relu is not supported")
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Cast", ["s"], ["c"], to=7, saturate=1),
             helper.make_node("Reshape", ["x", "c"], ["y"])]
    assert_refused(graph_file(folder, nodes, ["N", 3], output_shape=["N", 3], opset=19),
                   "(Cast): attribute 'saturate' is not supported")


def test_graphs_that_are_not_one_chain_are_refused(folder):
    relu = helper.make_node("Relu", ["x"], ["y"])
    two_in = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3]) for n in ("x", "x2")]
    assert_refused(graph_file(folder, [relu], None, inputs=two_in), "2 inputs ['x', 'x2']")
    add = helper.make_node("Add", ["x", "x2"], ["y"])             # not a residual: two inputs
    assert_refused(graph_file(folder, [add], None, inputs=two_in), "2 inputs ['x', 'x2']; a minicnn model has one")
    two_out = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3]) for n in ("y", "x")]
    assert_refused(graph_file(folder, [relu], ["N", 3], outputs=two_out), "2 outputs")
    assert_refused(graph_file(folder, [relu], ["N", "C", 3]), "dimension 1 of the graph input 'x' is 'C'")
    assert_refused(graph_file(folder, [relu], ["N", 3], elem=TensorProto.INT32), "element type INT32")
    assert_refused(graph_file(folder, [relu], ["N", 3], output_shape=["N", 4]), "declared (N, 4)")
    const = [helper.make_node("Constant", [], ["y"], value_floats=[1.0])]
    assert_refused(graph_file(folder, const, ["N", 3]), "does not depend on the graph input")


# ---------------------------------------------------------------------------
# Drawn single-node graphs: minicnn's answer is onnxruntime's, or a refusal
# ---------------------------------------------------------------------------
def ints(count, low, high):
    return st.lists(st.integers(low, high), min_size=count, max_size=count)


@st.composite
def window_attributes(draw, kernel, conv):
    """strides, dilations and padding (pads or auto_pad) of Conv/MaxPool/AveragePool, each maybe
    absent, for a kernel of 1, 2 or 3 spatial axes."""
    rank = len(kernel)
    attrs = {"kernel_shape": list(kernel)} if not conv or draw(st.booleans()) else {}
    if draw(st.booleans()):
        attrs["strides"] = draw(ints(rank, 1, 3))
    if draw(st.booleans()):
        attrs["dilations"] = draw(ints(rank, 1, 2))
    auto_pad = draw(st.sampled_from(["absent", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    if auto_pad != "absent":
        attrs["auto_pad"] = auto_pad
    if auto_pad in ("absent", "NOTSET") and draw(st.booleans()):
        attrs["pads"] = draw(ints(2 * rank, 0, 2))
    return attrs


def drawn_weights(shape):
    return np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)


# One function per kind of op: draw(op, n, opset) -> (input shape, attributes, initializers),
# the initializers in the order of the node's inputs after x.
def draw_window_op(draw, op, n, opset):
    """Conv, MaxPool, AveragePool on 1, 2 (mostly) or 3 (refused) spatial axes."""
    rank = draw(st.sampled_from([1, 2, 2, 3]))
    c, kernel = draw(st.integers(1, 4)), tuple(draw(ints(rank, 1, 3)))
    shape = [n, c, *draw(ints(rank, 1, 7))]
    attrs, inits = draw(window_attributes(kernel, conv=op == "Conv")), {}
    if op == "Conv":
        group = draw(st.sampled_from([1, 2])) if c % 2 == 0 else 1
        out = draw(st.integers(1, 3)) * group
        if group != 1 or draw(st.booleans()):
            attrs["group"] = group
        inits["W"] = drawn_weights((out, c // group, *kernel))
        if draw(st.booleans()):
            inits["B"] = drawn_weights((out,))
        return shape, attrs, inits
    if draw(st.booleans()):
        attrs["ceil_mode"] = draw(st.integers(0, 1))
    if op == "AveragePool" and draw(st.booleans()):
        attrs["count_include_pad"] = draw(st.integers(0, 1))
    return shape, attrs, inits


def draw_matrix_op(draw, op, n, opset):
    """Gemm (transA, transB, alpha, beta, C of any broadcastable shape) and MatMul."""
    k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape = [n, k] if op == "Gemm" else [n, *draw(st.sampled_from([(), (3,)])), k]
    b_shape, attrs, c_shape = (k, m), {}, None
    if op == "Gemm":
        for name in ("transA", "transB"):
            if draw(st.booleans()):
                attrs[name] = draw(st.integers(0, 1))
        if attrs.get("transA"):
            shape = [k, n]
        if attrs.get("transB"):
            b_shape = (m, k)
        for name in ("alpha", "beta"):
            if draw(st.booleans()):
                attrs[name] = draw(st.sampled_from([0.0, 0.5, 1.0, -2.0]))
        c_shape = draw(st.sampled_from([None, (), (1,), (m,), (1, m), (n, m), (n, 1)]))
    elif draw(st.booleans()):
        b_shape = (2, k, m)
    inits = {"B": drawn_weights(b_shape)}
    if c_shape is not None:
        inits["C"] = drawn_weights(c_shape)
    return shape, attrs, inits


def draw_global_mean(draw, op, n, opset):
    """GlobalAveragePool and ReduceMean (axes an attribute before opset 18, an input since),
    mostly on (N, C, H, W) and mostly over H and W."""
    rank = draw(st.sampled_from([2, 3, 4, 4, 4]))
    shape, attrs, inits = [n, *draw(ints(rank - 1, 1, 4))], {}, {}
    if op == "GlobalAveragePool":
        return shape, attrs, inits
    hw = st.sampled_from([[2, 3], [-1, -2], [3, 2], [2, -1]])
    axes = draw(st.one_of(hw, hw, st.none(), st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=3,
                                                      unique=True)))
    if axes is not None and opset >= 18:
        inits["axes"] = np.array(axes, np.int64)
    elif axes is not None:
        attrs["axes"] = axes
    for name in ("keepdims", "noop_with_empty_axes"):
        if (opset >= 18 or name == "keepdims") and draw(st.booleans()):
            attrs[name] = draw(st.integers(0, 1))
    return shape, attrs, inits


def draw_elementwise_op(draw, op, n, opset):
    """Softmax and LogSoftmax, Flatten (axis), LeakyRelu (alpha), Dropout (ratio), Add, Mul, Sub and
    Div (x + x, or a constant: of one number, one per channel, or of the data's trailing axes, either
    input first), Clip (bounds 0, 6, -1 or absent), LRN (size, alpha, beta, bias), HardSigmoid
    (PyTorch's alpha 1/6 or others), HardSwish, Transpose (any perm)."""
    shape = [n, *draw(st.lists(st.integers(1, 4), min_size=2 if op == "LRN" else 0, max_size=3))]
    rank, attrs, inits = len(shape), {}, {}
    if op in ("Softmax", "LogSoftmax") and draw(st.booleans()):
        attrs["axis"] = draw(st.integers(-rank, rank - 1))
    if op == "HardSigmoid":
        attrs.update(alpha=draw(st.sampled_from([1 / 6, 0.2])), beta=draw(st.sampled_from([0.5, 0.6])))
    if op == "Transpose" and draw(st.booleans()):
        attrs["perm"] = draw(st.permutations(range(rank)))
    if op == "Flatten" and draw(st.booleans()):
        attrs["axis"] = draw(st.integers(-rank, rank))
    if op == "LeakyRelu" and draw(st.booleans()):
        attrs["alpha"] = draw(st.sampled_from([0.0, 0.01, 0.3, -0.5, 2.0]))
    if op == "Dropout" and opset >= 13 and draw(st.booleans()):
        inits["ratio"] = np.array(draw(st.sampled_from([0.0, 0.5, 0.9])), np.float32)
    if op in ("Add", "Mul", "Sub", "Div") and draw(st.booleans()):
        inits["x"] = None                                   # x + x, x * x: refused
    elif op in ("Add", "Mul", "Sub", "Div"):
        kind = draw(st.sampled_from(["trailing", "per channel", "one"]))
        if kind == "trailing":                              # refused unless it is one number per channel
            constant = drawn_weights(tuple(shape[draw(st.integers(1, rank)):]))
        else:
            constant = drawn_weights((shape[1] if kind == "per channel" and rank > 1 else 1,) + (1,) * max(rank - 2, 0))
        if op == "Div":                                      # away from 0
            constant = np.sign(constant) * (np.abs(constant) + 0.5).astype(np.float32)
        inits["c"] = constant.astype(np.float32)
        if draw(st.booleans()):                              # the constant first: c - x, c / x (refused)
            attrs["constant first"] = True
    if op == "Clip":
        low, high = (draw(st.sampled_from([None, 0.0, 6.0, -1.0])) for _ in range(2))
        if low is not None:
            inits["min"] = np.array(low, np.float32)
        elif high is not None:
            inits[""] = None                                # min absent, max given: the input's name is ""
        if high is not None:
            inits["max"] = np.array(high, np.float32)
    if op == "LRN":
        attrs["size"] = draw(st.integers(1, 5))
        for name, values in (("alpha", [1e-4, 0.5, 2.0]), ("beta", [0.75, 0.3, 1.5]), ("bias", [1.0, 2.0, 0.5])):
            if draw(st.booleans()):
                attrs[name] = draw(st.sampled_from(values))
    return shape, attrs, inits


def draw_reshape(draw, op, n, opset):
    a, b = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    target = draw(st.sampled_from([[0, -1], [-1, a * b], [n, b, a], [0, 0, b], [0, b, 0], [a * b * n], [-1],
                                   [0, -1, 1], [2 * n, -1], [n, a * b], [-1, 2]]))
    attrs = {"allowzero": draw(st.integers(0, 1))} if draw(st.booleans()) else {}
    return [n, a, b], attrs, {"shape": np.array(target, np.int64)}


def draw_batch_normalization(draw, op, n, opset):
    c = draw(st.integers(1, 3))
    shape = [n, c, *draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))]
    rng = np.random.default_rng(c)
    inits = {name: rng.uniform(0.5, 1.5, c).astype(np.float32) for name in ("scale", "bias", "mean", "var")}
    attrs = {"epsilon": draw(st.sampled_from([1e-5, 1e-3, 0.5]))} if draw(st.booleans()) else {}
    return shape, attrs, inits


#: op -> the function that draws its graph (ReduceMean twice: most of its cases are refusals).
GRAPH_DRAWERS = [("Conv", draw_window_op), ("MaxPool", draw_window_op), ("AveragePool", draw_window_op),
                 ("Gemm", draw_matrix_op), ("MatMul", draw_matrix_op), ("Softmax", draw_elementwise_op),
                 ("Flatten", draw_elementwise_op), ("Reshape", draw_reshape),
                 ("BatchNormalization", draw_batch_normalization), ("LeakyRelu", draw_elementwise_op),
                 ("Dropout", draw_elementwise_op), ("Add", draw_elementwise_op),
                 ("GlobalAveragePool", draw_global_mean), ("ReduceMean", draw_global_mean),
                 ("ReduceMean", draw_global_mean), ("Mul", draw_elementwise_op), ("Clip", draw_elementwise_op),
                 ("LRN", draw_elementwise_op), ("Sub", draw_elementwise_op), ("Div", draw_elementwise_op),
                 ("HardSigmoid", draw_elementwise_op), ("HardSwish", draw_elementwise_op),
                 ("LogSoftmax", draw_elementwise_op), ("Transpose", draw_elementwise_op)]


@st.composite
def single_node_graphs(draw):
    """(node, initializers, input shape, opset) of one op minicnn reads, with drawn attributes."""
    op, drawer = draw(st.sampled_from(GRAPH_DRAWERS))
    opset = draw(st.sampled_from([11, 13, 17, 18]))
    shape, attrs, inits = drawer(draw, op, 2, opset)
    inputs = ["x", *inits]
    if attrs.pop("constant first", False):
        inputs = inputs[::-1]
    inits = {name: value for name, value in inits.items() if value is not None}
    return helper.make_node(op, inputs, ["y"], name="drawn", **attrs), inits, shape, opset


@settings(max_examples=400)
@given(case=single_node_graphs(), symbolic_batch=st.booleans())
def test_drawn_graphs_give_onnxruntime_answer_or_a_refusal(folder, case, symbolic_batch):
    """Whatever the attributes: load() refuses naming the node and op, or predicts what
    onnxruntime computes on the same file. (Graphs that ONNX's checker, its shape
    inference or onnxruntime itself reject prove nothing and are skipped.)"""
    node, inits, shape, opset = case
    input_shape = ["N", *shape[1:]] if symbolic_batch else shape
    try:
        path = graph_file(folder, [node], input_shape, inits, opset=opset)
        onnx.checker.check_model(path, full_check=True)
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        expected = run_onnxruntime(path, x)
    except Exception:       # noqa: BLE001 - onnx's and onnxruntime's own refusals come in many types
        return
    try:
        model = monnx.load(path)
    except ValueError as exc:
        assert "node 'drawn' (" + node.op_type + ")" in str(exc) or "graph" in str(exc), str(exc)
        return
    got = model.predict(x)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# ONNX's own conformance cases
# ---------------------------------------------------------------------------
CONFORMANCE_OPS = ["Conv", "MaxPool", "AveragePool", "Gemm", "MatMul", "Add", "BatchNormalization", "Flatten",
                   "Reshape", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "Dropout", "GlobalAveragePool",
                   "ReduceMean", "Clip", "LRN", "Mul", "Concat", "Sub", "Div", "HardSigmoid", "HardSwish", "LogSoftmax",
                   "Transpose", "Slice", "Pad", "GatherND", "ReduceSum", "Where"]

#: (passed, refused) per op with onnx 1.23; a change in either is a change in what minicnn reads.
CONFORMANCE_COUNTS = {
    "Conv": (6, 0), "MaxPool": (9, 10), "AveragePool": (10, 10), "Gemm": (8, 3), "MatMul": (1, 6),
    "Add": (0, 8), "BatchNormalization": (2, 2), "Flatten": (3, 6), "Reshape": (6, 4), "Relu": (1, 0),
    "LeakyRelu": (3, 0), "Sigmoid": (2, 0), "Tanh": (2, 0), "Softmax": (6, 1), "Dropout": (7, 5),
    "GlobalAveragePool": (2, 0), "ReduceMean": (0, 8), "Clip": (1, 11), "LRN": (2, 0), "Mul": (0, 9),
    "Concat": (0, 12), "Sub": (0, 9), "Div": (0, 10), "HardSigmoid": (0, 3), "HardSwish": (1, 0),
    "LogSoftmax": (6, 1), "Transpose": (1, 6), "Slice": (2, 6), "Pad": (0, 6), "GatherND": (0, 3),
    "ReduceSum": (0, 12), "Where": (0, 2)}


def conformance_cases():
    """ONNX's single-node test cases of the ops above: (op, name, model, inputs, outputs)."""
    from onnx.backend.test.case import node as cases_module

    # Generating the cases runs every op's case code at import, including Cast's, which
    # overflows float16 on purpose (RuntimeWarning): ONNX's data generation, not minicnn's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cases = cases_module.collect_testcases()
    found = []
    for case in cases:
        nodes = case.model.graph.node
        if len(nodes) == 1 and nodes[0].op_type in CONFORMANCE_OPS:        # not the _expanded functions
            (inputs, outputs), = case.data_sets
            found.append((nodes[0].op_type, case.name, case.model, inputs, outputs))
    return found


def with_weights_as_initializers(model, inputs):
    """The case feeds every input at run time; minicnn takes the first as data, the rest as weights."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    for vi, value in zip(list(graph.input[1:]), inputs[1:]):
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), vi.name))
    del graph.input[1:]
    return model


@pytest.fixture(scope="module")
def conformance(tmp_path_factory):
    """Every conformance case, run once: {op: [(name, "passed" or "refused", detail)]}."""
    folder = tmp_path_factory.mktemp("conformance")
    results = collections.defaultdict(list)
    for op, name, model, inputs, outputs in conformance_cases():
        path = str(folder / f"{name}.onnx")
        onnx.save(with_weights_as_initializers(model, inputs), path)
        try:
            loaded = monnx.load(path)
        except ValueError as exc:
            message = str(exc)
            assert message.startswith(path + ": "), message
            assert f"({op})" in message or "graph input" in message, message      # names node and op
            results[op].append((name, "refused", message[len(path) + 2:]))
            continue
        assert len(outputs) == 1, name                       # more outputs than one must be refused
        if in_training_mode(model.graph.node[0], inputs):
            results[op].append((name, "passed", check_training_mode(loaded, op, inputs, outputs)))
            continue
        got = loaded.predict(inputs[0])
        np.testing.assert_allclose(got, outputs[0], rtol=1e-4, atol=1e-4, err_msg=name)
        results[op].append((name, "passed", float(np.max(np.abs(got - outputs[0])))))
    return results


def in_training_mode(node, inputs):
    """A BatchNormalization or Dropout node in training mode (minicnn reads it as its layer, which
    trains in ``fit`` and infers in ``predict``)."""
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "BatchNormalization":
        return attributes.get("training_mode", 0) == 1
    return node.op_type == "Dropout" and len(inputs) > 2 and bool(inputs[2])


def check_training_mode(loaded, op, inputs, outputs):
    """A training-mode case: minicnn's training forward gives ONNX's output, BatchNorm's exactly
    (the batch's statistics), Dropout's up to its random mask (each value dropped or scaled by
    1 / (1 - ratio)). Returns the largest difference."""
    x = inputs[0]
    got = loaded.forward(x, training=True)
    if op == "BatchNormalization":
        np.testing.assert_allclose(got, outputs[0], rtol=1e-4, atol=1e-4)
        return float(np.max(np.abs(got - outputs[0])))
    ratio = float(inputs[1]) if len(inputs) > 1 else 0.5
    kept = got != 0
    np.testing.assert_allclose(got[kept], (x / (1 - ratio))[kept], rtol=1e-5)
    return 0.0


@pytest.mark.parametrize("op", CONFORMANCE_OPS)
def test_conformance_cases_pass_or_are_refused(conformance, op):
    """Every case of ``op`` reproduces ONNX's expected output or is refused clearly (in the fixture)."""
    outcomes = collections.Counter(outcome for _, outcome, _ in conformance[op])
    for name, outcome, detail in conformance[op]:
        print(f"\n{op:18s} {outcome:8s} {name}: {detail}", end="")
    print(f"\nconformance {op}: {outcomes['passed']} passed, {outcomes['refused']} refused", end="")
    assert (outcomes["passed"], outcomes["refused"]) == CONFORMANCE_COUNTS[op]


# ---------------------------------------------------------------------------
# Files made by PyTorch (tests/data/make_torch_onnx.py)
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch_expected():
    with np.load(os.path.join(DATA, "torch_expected.npz")) as arrays:
        return dict(arrays)


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_a_pytorch_cnn_predicts_what_pytorch_predicts(torch_expected, exporter):
    """Conv-BN-ReLU-MaxPool, Conv-BN-ReLU-AvgPool, view, Linear-BN1d-ReLU-Dropout, Linear."""
    path = os.path.join(DATA, f"torch_cnn_{exporter}.onnx")
    model = monnx.load(path)
    x, expected = torch_expected["x"], torch_expected["cnn"]
    got = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    classes = [type(layer).__name__ for layer in model]
    # legacy: BatchNorm2d folded into Conv, BatchNorm1d kept; dynamo folds both
    assert classes == ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "AvgPool2D", "Reshape", "Dense"] \
        + (["BatchNorm"] if exporter == "legacy" else []) + ["ReLU", "Dense"]
    check_against_onnxruntime(model, path, x, label=f"torch CNN ({exporter}), imported")
    LARGEST_DIFFERENCE[f"torch CNN ({exporter}) vs PyTorch"] = float(np.max(np.abs(got - expected)))


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_a_pytorch_resnet_predicts_what_pytorch_predicts(torch_expected, exporter):
    """Two residual blocks (the identity; a 1x1 stride-2 projection), BatchNorm folded into
    the convolutions, AdaptiveAvgPool2d(1) + flatten (legacy: GlobalAveragePool + Flatten;
    dynamo: ReduceMean + Reshape), Linear: the one GlobalAvgPool2D either way."""
    path = os.path.join(DATA, f"torch_resnet_{exporter}.onnx")
    model = monnx.load(path)
    x, expected = torch_expected["x"], torch_expected["resnet"]
    got = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in model] == ["Conv2D", "ReLU", "Residual", "ReLU", "Residual", "ReLU",
                                                         "GlobalAvgPool2D", "Dense"]
    identity, projection = model[2], model[4]
    assert [type(layer) for layer in identity.block] == [L.Conv2D, L.ReLU, L.Conv2D] and identity.shortcut is None
    assert [(type(layer), layer.stride) for layer in projection.shortcut] == [(L.Conv2D, (2, 2))]
    check_against_onnxruntime(model, path, x, label=f"torch ResNet ({exporter}), imported")
    LARGEST_DIFFERENCE[f"torch ResNet ({exporter}) vs PyTorch"] = float(np.max(np.abs(got - expected)))


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_a_pytorch_1d_network_predicts_what_pytorch_predicts(torch_expected, exporter):
    """Conv1d (dilated; padding='same', which the legacy exporter writes as auto_pad SAME_UPPER),
    MaxPool1d, x + body(x) (the identity is the Add's first input), AvgPool1d with
    count_include_pad=False, flatten, Linear."""
    path = os.path.join(DATA, f"torch_signal_{exporter}.onnx")
    model = monnx.load(path)
    x, expected = torch_expected["x1d"], torch_expected["signal"]
    got = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    flatten = "Flatten" if exporter == "legacy" else "Reshape"
    assert [type(layer).__name__ for layer in model] == ["Conv1D", "ReLU", "MaxPool1D", "Residual", "Conv1D", "ReLU",
                                                         "AvgPool1D", flatten, "Dense"]
    assert model[3].shortcut is None and model[3].block[0].padding == ("same" if exporter == "legacy" else 1)
    assert model[6].count_include_pad is False
    check_against_onnxruntime(model, path, x, label=f"torch 1-D net ({exporter}), imported")
    LARGEST_DIFFERENCE[f"torch 1-D net ({exporter}) vs PyTorch"] = float(np.max(np.abs(got - expected)))


def branch_names(layer):
    """A layer's class, and for a Concat the classes in each branch (nested as lists)."""
    if isinstance(layer, L.Concat):
        return ["Concat", [[branch_names(inner) for inner in branch] for _, branch in layer.branches()]]
    return type(layer).__name__


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_a_pytorch_inception_block_predicts_what_pytorch_predicts(torch_expected, exporter):
    """torch.cat of four branches -> Concat; the branch whose 1x1 conv feeds a 1x3 and a 3x1 conv
    in the same cat (Inception-v4's form) -> a nested Concat; MaxPool2d(ceil_mode=True) in the
    stem and in a branch; AvgPool2d(ceil_mode=True) with a window over the edge;
    AdaptiveAvgPool2d((4, 4)) of 8 x 8, which both exporters write as AveragePool(2, 2)."""
    path = os.path.join(DATA, f"torch_inception_{exporter}.onnx")
    model = monnx.load(path)
    x, expected = torch_expected["x"], torch_expected["inception"]
    got = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    flatten = "Flatten" if exporter == "legacy" else "Reshape"
    assert [branch_names(layer) for layer in model] == [
        "Conv2D", "ReLU", "MaxPool2D",
        ["Concat", [["Conv2D", "ReLU"], ["Conv2D", "ReLU", ["Concat", [["Conv2D", "ReLU"], ["Conv2D", "ReLU"]]]],
                    ["Conv2D", "ReLU", "Conv2D", "ReLU"], ["MaxPool2D", "Conv2D", "ReLU"]]],
        "AvgPool2D", "AvgPool2D", flatten, "Dense"]
    assert model[2].ceil_mode and model[4].ceil_mode and model[3].branches()[3][1][0].ceil_mode
    check_against_onnxruntime(model, path, x, label=f"torch Inception ({exporter}), imported")
    LARGEST_DIFFERENCE[f"torch Inception ({exporter}) vs PyTorch"] = float(np.max(np.abs(got - expected)))


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_a_pytorch_se_net_predicts_what_pytorch_predicts(torch_expected, exporter):
    """torchvision's SqueezeExcitation (1x1 Conv2d gate, ``scale * input``) and an SE gate of
    Linear layers broadcast by ``gate[:, :, None, None]`` -> SqueezeExcitation both times."""
    path = os.path.join(DATA, f"torch_senet_{exporter}.onnx")
    model = monnx.load(path)
    x, expected = torch_expected["x"], torch_expected["senet"]
    got = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in model] == ["Conv2D", "ReLU", "SqueezeExcitation", "MaxPool2D", "Conv2D",
                                                         "ReLU", "SqueezeExcitation", "GlobalAvgPool2D", "Dense"]
    assert (model[2].input_channels, model[2].squeeze_channels) == (16, 4)
    check_against_onnxruntime(model, path, x, label=f"torch SE net ({exporter}), imported")
    LARGEST_DIFFERENCE[f"torch SE net ({exporter}) vs PyTorch"] = float(np.max(np.abs(got - expected)))


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_a_pytorch_grouped_network_predicts_what_pytorch_predicts(torch_expected, exporter):
    """Depthwise and grouped Conv2d, ReLU6 (Clip 0..6), x.flatten(2), grouped Conv1d,
    MaxPool1d(ceil_mode=True), x.mean(-1) (ReduceMean over the last axis) -> GlobalAvgPool1D."""
    path = os.path.join(DATA, f"torch_grouped_{exporter}.onnx")
    model = monnx.load(path)
    x, expected = torch_expected["x"], torch_expected["grouped"]
    got = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in model] == ["Conv2D", "ReLU6", "Conv2D", "ReLU6", "Conv2D", "ReLU6",
                                                         "Reshape", "Conv1D", "ReLU6", "MaxPool1D", "GlobalAvgPool1D",
                                                         "Dense"]
    assert [model[i].groups for i in (0, 2, 4, 7)] == [1, 8, 2, 4] and model[9].ceil_mode
    check_against_onnxruntime(model, path, x, label=f"torch grouped net ({exporter}), imported")
    LARGEST_DIFFERENCE[f"torch grouped net ({exporter}) vs PyTorch"] = float(np.max(np.abs(got - expected)))


def test_a_pytorch_resnet_fine_tuned_with_a_new_head():
    """Transfer learning from a network trained elsewhere: PyTorch's ResNet file, its body frozen
    (``trainable = False``), its last Dense replaced by one for 3 classes, fine-tuned on synthetic
    data: the loss falls, the head learns, the body's weights do not move."""
    model = monnx.load(os.path.join(DATA, "torch_resnet_legacy.onnx"))
    assert type(model[-1]) is L.Dense and model[-1].out_features == 10
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 96)                  # three classes of noise images: dim, medium, bright
    x = (rng.random((96, 1, 28, 28)) * np.array([0.3, 1.0, 2.0])[y, None, None, None]).astype(np.float32)
    mc.manual_seed(3)
    tuned = model[:-1].append(L.Dense(model[-1].in_features, 3))      # a new Sequential sharing the body
    body = tuned[:-1]
    body.trainable = False
    frozen = {name: array.copy() for name, array in body.state_dict().items()}
    head = tuned[-1].params["W"].data.copy()
    history = tuned.fit(x, y, mc.losses.CrossEntropy(), mc.optim.Adam(tuned.parameters(), lr=0.05), epochs=8,
                        batch_size=32, progress=False)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0] and history.history["accuracy"][-1] > 0.8, history.history
    assert all(np.array_equal(array, frozen[name]) for name, array in body.state_dict().items())
    assert not np.array_equal(tuned[-1].params["W"].data, head)


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_a_pytorch_network_of_the_mobile_blocks_predicts_what_pytorch_predicts(torch_expected, exporter):
    """MNIST's (x - mean) / std inside -> Normalize; Hardswish (legacy at opset 17: HardSwish);
    torchvision's SE with Hardsigmoid and with SiLU (Sigmoid + Mul) -> SqueezeExcitation's other gates;
    x.chunk(2, 1) (legacy: Slices of computed bounds; dynamo: Split) -> ChannelSlices in a Concat;
    view-transpose-view -> ChannelShuffle; DenseNet's cat of every feature before -> Concats of an
    empty branch; nn.LocalResponseNorm(4) as PyTorch decomposes it (legacy: behind an If) ->
    LocalResponseNorm; log_softmax -> LogSoftmax."""
    path = os.path.join(DATA, f"torch_mobile_{exporter}.onnx")
    model = monnx.load(path)
    x, expected = torch_expected["x"], torch_expected["mobile"]
    got = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert [branch_names(layer) for layer in model] == [
        "Normalize", "Conv2D", "Hardswish", "SqueezeExcitation", "Conv2D", "SiLU", "SqueezeExcitation",
        ["Concat", [["ChannelSlice"], ["ChannelSlice", "Conv2D", "Conv2D", "ReLU"]]], "ChannelShuffle",
        ["Concat", [[], ["BatchNorm", "ReLU", "Conv2D"]]], ["Concat", [[], ["BatchNorm", "ReLU", "Conv2D"]]],
        "LocalResponseNorm", "GlobalAvgPool2D", "Dense", "LogSoftmax"]
    normalize, se, se2, lrn = model[0], model[3], model[6], model[11]
    assert (normalize.mean, normalize.std) == ((0.1307,), (0.3081,))
    assert (se.activation, se.scale_activation, se2.activation, se2.scale_activation) == (
        "ReLU", "Hardsigmoid", "SiLU", "Sigmoid")
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (4, 1e-4, 0.75, 1.0) and model[8].groups == 2
    check_against_onnxruntime(model, path, x, label=f"torch mobile blocks ({exporter}), imported")
    LARGEST_DIFFERENCE[f"torch mobile blocks ({exporter}) vs PyTorch"] = float(np.max(np.abs(got - expected)))


def test_pytorchs_adaptive_pooling_of_unequal_bins_is_read_from_its_gathers(torch_expected):
    """The dynamo exporter writes AdaptiveAvgPool2d((5, 5)) of 7 x 7 (bins of 2 and 3 pixels) as
    Transpose, GatherND, Where, Gather, Add and Div, and ((3, 2)) of 5 x 5 likewise: each comes back
    as minicnn's AdaptiveAvgPool2D (the legacy exporter refuses both)."""
    path = os.path.join(DATA, "torch_adaptive_dynamo.onnx")
    model = monnx.load(path)
    x, expected = torch_expected["x"], torch_expected["adaptive"]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in model] == ["Conv2D", "ReLU", "AdaptiveAvgPool2D", "AdaptiveAvgPool2D",
                                                         "Reshape", "Dense"]
    assert (model[2].output_size, model[3].output_size) == ((5, 5), (3, 2))


def test_a_linear_map_of_the_pixels_that_is_no_pool_becomes_reshape_dense_reshape(folder):
    """A map of each channel's pixels that is no AdaptiveAvgPool2D (here the transposed image, W and H
    swapped, then each row's sum) comes back exactly as Reshape, Dense (the map's matrix), Reshape."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]),
             helper.make_node("ReduceSum", ["t", "a"], ["y"], keepdims=1)]
    path = graph_file(folder, nodes, ["N", 2, 3, 4], {"a": np.array([3])}, output_shape=["N", 2, 4, 1])
    model = monnx.load(path)
    assert [type(layer).__name__ for layer in model] == ["Reshape", "Dense", "Reshape"]
    x = np.random.default_rng(0).normal(size=(2, 2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), x.transpose(0, 1, 3, 2).sum(axis=3, keepdims=True), rtol=1e-6)


def test_a_pytorch_network_exported_in_training_mode_keeps_batchnorm_and_dropout_to_fine_tune(torch_expected):
    """docs/onnx.md's advice: ``torch.onnx.export(model.train(), ..., training=TrainingMode.TRAINING,
    do_constant_folding=False)`` keeps BatchNorm (training_mode=1) and Dropout in the file, so the
    imported network is the one PyTorch trained, not its folded inference form. predict gives
    PyTorch's eval output (running statistics, no dropout); fit trains the BatchNorms on the
    batches' statistics (their running statistics move), drops values, and the loss falls. The SE
    gate's squeeze (conv-BN-ReLU) comes back as SqueezeExcitation(batch_norm=True)."""
    model = monnx.load(os.path.join(DATA, "torch_finetune_training.onnx"))
    assert [type(layer).__name__ for layer in model] == ["Normalize", "Conv2D", "BatchNorm", "ReLU", "MaxPool2D",
                                                         "SqueezeExcitation", "MaxPool2D", "Dropout", "Flatten",
                                                         "Dense", "LogSoftmax"]
    assert model[5].batch_norm and model[7].p == 0.25
    x, expected = torch_expected["x"], torch_expected["finetune"]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 64)
    images = (rng.random((64, 1, 28, 28)) * np.array([0.3, 1.0])[y, None, None, None]).astype(np.float32)
    mc.manual_seed(5)
    statistics = model[2].running_mean.copy()
    history = model.fit(images, y, mc.losses.NLLLoss(), mc.optim.Adam(model.parameters(), lr=0.01), epochs=4,
                        batch_size=16, progress=False)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0], history.history
    assert not np.array_equal(model[2].running_mean, statistics)


def test_concat_of_2d_branches_round_trips(folder):
    """Concat of branches that give (N, F): exported along axis 1 (onnxruntime runs it), and read
    back (it was refused with "concatenates (N, 2), (N, 3) along axis 1: ... along the channels
    (axis 1)", a message that contradicted itself)."""
    mc.manual_seed(3)
    export_check(mc.Sequential([L.Concat([L.Dense(4, 2), L.Dense(4, 3)])]), (4,), folder)
    export_check(mc.Sequential([L.Flatten(), L.Concat([[L.Dense(12, 2), L.ReLU()], [L.Tanh()]]), L.Dense(14, 3)]),
                 (3, 2, 2), folder)


def test_empty_branches_export_and_import(folder):
    """An empty branch is the identity (PyTorch's nn.Sequential()): Concat of x itself and
    Residual(Sequential([])), y = x + x, export and come back (import refused both before:
    "an empty branch", "adds a tensor to itself")."""
    mc.manual_seed(4)
    for model, shape in [(mc.Sequential([L.Concat([mc.Sequential([]), L.Conv2D(3, 2, 1)])]), (3, 4, 4)),
                         (mc.Sequential([L.Residual(mc.Sequential([]))]), (3, 4, 4)),
                         (mc.Sequential([L.Conv2D(2, 3, 1), L.Concat([[], [L.ReLU()], []])]), (2, 3, 3)),
                         (mc.Sequential([L.Dense(3, 3), L.Residual([], [L.Tanh()])]), (3,))]:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(2, *shape)).astype(np.float32)
        path = fresh(folder)
        monnx.export(model, path, input_shape=shape)
        check_against_onnxruntime(model, path, x, label="empty branches")
        back = monnx.load(path)
        assert np.array_equal(back.predict(x), model.predict(x))
    # hand-made: x + x, relu(x) + relu(x), and a Concat of x with relu(x)
    for nodes, kinds in [([helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Add", ["x", "i"], ["y"])],
                          [L.Residual]),
                         ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "r"], ["y"])],
                          [L.ReLU, L.Residual]),
                         ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Concat", ["x", "r"], ["y"], axis=1)],
                          [L.Concat])]:
        model = check_import(graph_file(folder, nodes, ["N", 2, 6, 6]), X)
        assert [type(layer) for layer in model] == kinds
    assert len(model[0].branches()[0][1]) == 0 and [type(la) for la in model[0].branches()[1][1]] == [L.ReLU]


def test_squeeze_excitation_of_a_map_one_row_high(folder):
    """Found by tests/test_roundtrip.py: SE of (N, C, 1, L), a Reshape of (N, C, L): the importer
    pooled the gate's (N, C, 1, L) as the (N, C, L) before the Reshape (PyTorch's dynamo form of
    AdaptiveAvgPool1d), so the gate no longer started at x, and import refused the Mul ("neither
    is computed from the other"). That reading is kept for a tensor no other node reads."""
    mc.manual_seed(5)
    export_check(mc.Sequential([L.Reshape((1, 1, 2)), L.SqueezeExcitation(1, 1)]), (1, 2), folder)
    export_check(mc.Sequential([L.Conv1D(2, 3, 1), L.Reshape((3, 1, 5)), L.SqueezeExcitation(3, 2), L.Flatten()]),
                 (2, 5), folder)


def test_lrn_of_values_that_float32_rounds_to_zero(folder):
    """Found by tests/test_roundtrip.py: alpha = 1e-181 is > 0, but 0 as ONNX's float32 attribute,
    which onnxruntime refused ("alpha_ > 0.0f was false"): such an LRN is written as its
    decomposition; a k that float32 rounds to 0 is refused, naming the layer."""
    x = np.random.default_rng(0).normal(size=(2, 4, 2, 2)).astype(np.float32)
    for layer in (L.LocalResponseNorm(3, alpha=1e-181), L.LocalResponseNorm(3, beta=1e-200)):
        model, path = mc.Sequential([layer]), fresh(folder)
        monnx.export(model, path, input_shape=(4, 2, 2))
        check_against_onnxruntime(model, path, x, label="LocalResponseNorm (decomposed)")
        assert np.array_equal(monnx.load(path).predict(x), model.predict(x))     # float32 computes so too
    with pytest.raises(ValueError, match=r"^layer 1 \(LocalResponseNorm\): k=1e-50 rounds to 0"):
        monnx.export(mc.Sequential([L.ReLU(), L.LocalResponseNorm(3, k=1e-50)]), fresh(folder), input_shape=(4, 2, 2))


def test_lrn_that_onnxruntime_lacks_is_exported_as_a_decomposition_and_read_back(folder):
    """An even size (ONNX's window would be one channel off), alpha = 0, beta = 0 or a 3-D input:
    onnxruntime refuses such an LRN, so they are written as PyTorch writes LRN (x*x, AveragePool
    over channels, Mul, Add, Pow, Mul), equal to minicnn's; minicnn reads those nodes back as the
    one layer (they were refused before, "squares the data (x * x)")."""
    for layer, shape in [(L.LocalResponseNorm(4, 0.3, 0.75, 2.0), (7, 3, 3)), (L.LocalResponseNorm(2), (5, 4)),
                         (L.LocalResponseNorm(3, alpha=0.0), (4, 2, 2)), (L.LocalResponseNorm(3, beta=0.0), (4, 2, 2)),
                         (L.LocalResponseNorm(5, 0.5, 0.6, 1.5), (6, 7))]:
        model = mc.Sequential([layer])
        x = (np.random.default_rng(1).normal(size=(3, *shape)) * 3).astype(np.float32)
        path = fresh(folder)
        monnx.export(model, path, input_shape=shape)
        assert "LRN" not in {n.op_type for n in onnx.load(path).graph.node}
        check_against_onnxruntime(model, path, x, label="LocalResponseNorm (decomposed)")
        check_round_trip(model, path, x)


@pytest.mark.parametrize("size", range(1, 10))
def test_ceil_mode_pools_equal_onnxruntime_at_every_edge(folder, size):
    """Max pooling and average pooling (count_include_pad both ways) in ceil mode, every kernel 2
    and 3, stride 1 to 3 and padding up to kernel // 2 on inputs 1..9: each last window that
    hangs over the padding, each that PyTorch's rule drops, and windows larger than the input
    (kernel 3 on 2 x 2: the export failed there, "window 3x3 ... larger than the padded input"),
    as onnxruntime computes them."""
    for k in (2, 3):
        for stride in (1, 2, 3):
            for pad in range(k // 2 + 1):
                model = mc.Sequential([L.Concat([
                    L.MaxPool2D(k, stride, pad, ceil_mode=True),
                    L.AvgPool2D(k, stride, pad, ceil_mode=True),
                    L.AvgPool2D(k, stride, pad, ceil_mode=True, count_include_pad=False)])])
                try:
                    model.output_shape((1, size, size))
                except ValueError:
                    continue                    # no window at all, even in ceil mode: the layer refuses it too
                x = np.random.default_rng(size).normal(size=(2, 1, size, size)).astype(np.float32)
                path = fresh(folder)
                monnx.export(model, path, input_shape=(1, size, size))
                check_against_onnxruntime(model, path, x, label="ceil-mode pools")
                check_round_trip(model, path, x)


def test_ceil_mode_pools_of_windows_larger_than_the_input_in_1d(folder):
    """MaxPool1D(5, 2) and AvgPool1D(4, 3, padding=1) in ceil mode on signals shorter than the window."""
    for layer, length in [(L.MaxPool1D(3, 2, ceil_mode=True), 2), (L.AvgPool1D(4, 3, 1, ceil_mode=True), 1),
                          (L.AvgPool1D(5, 2, 2, ceil_mode=True, count_include_pad=False), 3)]:
        export_check(mc.Sequential([layer]), (2, length), folder)


def test_ceil_mode_pools_whose_axes_disagree(folder):
    """Found by tests/test_roundtrip.py: ceil mode adds a window along one axis and PyTorch's rule
    drops one along the other, and ONNX (opset 17) has one ceil_mode for both: the file said
    ceil_mode=1 and ONNX's shape inference refused it ("Inferred shape and existing shape differ").
    Now a max, or a mean without the padding, is written in floor mode with ceil mode's extra end
    pads; a mean that counts the padding in ceil mode with the end pad cut where the last window
    ends. Each equals onnxruntime, passes ONNX's checker and comes back as the layer; a mean whose
    windows no cut gives is refused, naming the layer."""
    for layer, shape in [(L.MaxPool2D((2, 3), (3, 2), 1, ceil_mode=True), (2, 5, 4)),
                         (L.AvgPool2D((2, 4), (2, 4), 1, ceil_mode=True, count_include_pad=False), (1, 1, 1)),
                         (L.MaxPool2D((4, 2), (4, 2), 1, ceil_mode=True), (2, 1, 1)),
                         (L.AvgPool2D(3, 3, 1, ceil_mode=True), (2, 3, 5)),
                         (L.AvgPool2D(3, 3, 1, ceil_mode=True), (2, 5, 3)),
                         (L.AvgPool2D((2, 3), 2, 1, ceil_mode=True), (1, 3, 4))]:
        export_check(mc.Sequential([L.ReLU(), layer]), shape, folder)
    with pytest.raises(ValueError, match=r"^layer 1 \(AvgPool2D\): ceil mode gives \(2, 2\) windows, and ONNX's"):
        monnx.export(mc.Sequential([L.ReLU(), L.AvgPool2D((2, 3), 3, 1, ceil_mode=True)]), fresh(folder),
                     input_shape=(1, 5, 3))


def test_googlenet_exports_at_every_size_from_its_smallest(folder):
    """googlenet(num_classes=3, in_channels=1) runs from 15 x 15 (its documented smallest input);
    its MaxPool2D(3, 2, ceil_mode=True) then sees 2 x 2 maps. It failed to export at every size
    from 15 to 30 ("the layer: window 3x3 ... is larger than the padded input 2x2"); now each
    size equals onnxruntime, and the smallest and largest come back from the file."""
    mc.manual_seed(0)
    model = mc.models.googlenet(num_classes=3, in_channels=1)
    for size in range(15, 31):
        x = np.random.default_rng(size).normal(size=(2, 1, size, size)).astype(np.float32)
        path = fresh(folder, "googlenet")
        monnx.export(model, path, input_shape=(1, size, size))
        check_against_onnxruntime(model, path, x, label="googlenet, 15 to 30")
        if size in (15, 30):
            assert np.array_equal(monnx.load(path).predict(x), model.predict(x))


def test_export_errors_name_the_layer_by_its_place(folder, monkeypatch):
    """An error names the layer as ``model.state_dict()`` names its weights, never "the layer"."""
    model = mc.Sequential([L.Conv2D(2, 2, 1), L.Concat([[L.ReLU(), L.MaxPool2D(3)], [L.ReLU()]])])
    with pytest.raises(ValueError) as info:
        monnx.export(model, fresh(folder), input_shape=(2, 2, 2))
    assert str(info.value).startswith("input_shape: layer 1.branch0.1 (MaxPool2D) cannot take input shape (2, 2, 2)")
    from minicnn.onnx import exporters

    def failing(layer, graph, x, shape):
        raise ValueError("no ONNX form for this")
    monkeypatch.setitem(exporters.EXPORTERS, L.Tanh, failing)
    model = mc.Sequential([L.ReLU(), L.Residual([L.ReLU(), L.Residual([L.Tanh()])])])
    with pytest.raises(ValueError, match=r"^layer 1\.block\.1\.block\.0 \(Tanh\): no ONNX form for this$"):
        monnx.export(model, fresh(folder), input_shape=(3,))


ZOO = [("lenet5", (1, 32, 32)), ("resnet18", (3, 32, 32)), ("googlenet", (3, 32, 32)), ("se_resnet50", (3, 32, 32))]


@pytest.mark.parametrize("name, shape", ZOO, ids=[name for name, _ in ZOO])
def test_the_zoo_exports_equal_onnxruntime_and_round_trip(folder, name, shape):
    """minicnn.models at 32 x 32 with 10 classes (the full zoo at native size:
    benchmarks/onnx_zoo.py): onnxruntime equals predict to 1e-4 (relative to the outputs' size:
    a fresh ResNet-50's BatchNorms are the identity, and its logits grow to ~50, where float32
    rounding alone is ~1e-5), and the round trip is exact."""
    from minicnn import models
    mc.manual_seed(4)
    model = getattr(models, name)(num_classes=10) if name != "lenet5" else models.lenet5()
    x = np.random.default_rng(4).normal(size=(2, *shape)).astype(np.float32)
    path = fresh(folder, name)
    monnx.export(model, path, input_shape=shape)
    expected, got = model.predict(x), run_onnxruntime(path, x)
    diff = float(np.max(np.abs(got - expected)) / max(1.0, np.max(np.abs(expected))))
    LARGEST_DIFFERENCE[f"{name} (zoo, 32 x 32), relative"] = diff
    assert diff <= 1e-4
    check_round_trip(model, path, x)


# ---------------------------------------------------------------------------
# Bad arguments and bad files
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(folder):
    """A small model and its exported file."""
    model = mc.Sequential([L.Conv2D(1, 2, 3), L.ReLU(), L.Flatten(), L.Dense(8, 3)])
    path = fresh(folder, "small")
    monnx.export(model, path, input_shape=(1, 4, 4))
    return model, path


@pytest.fixture(scope="module")
def small_residual(folder):
    """A small model with a Residual nested in a Residual, 'same' at stride 2, GlobalAvgPool2D, and its file."""
    mc.manual_seed(14)
    model = mc.Sequential([L.Residual([L.Conv2D(1, 2, 3, stride=2, padding="same"),
                                       L.Residual([L.BatchNorm(2), L.ReLU()])], [L.Conv2D(1, 2, 1, stride=2)]),
                           L.GlobalAvgPool2D(), L.Dense(2, 3)])
    path = fresh(folder, "small-residual")
    monnx.export(model, path, input_shape=(1, 5, 5))
    return model, path


@pytest.mark.parametrize("model, error, fragment", [
    (L.ReLU(), TypeError, "model must be a minicnn.Sequential, got ReLU"),
    ([L.ReLU()], TypeError, "got list"),
    (None, TypeError, "got NoneType"),
    (mc.Sequential([]), ValueError, "no layers"),
    (mc.Sequential([type("MyReLU", (L.ReLU,), {})()]), ValueError, "layer 0 (MyReLU) has no ONNX exporter"),
    (mc.Sequential([L.Residual([L.ReLU()], [type("MyReLU", (L.ReLU,), {})()])]), ValueError,
     "layer 0.shortcut.0 (MyReLU) has no ONNX exporter"),
    (mc.Sequential([L.Dense(3, 2), L.Dense(2, 2, dtype=np.float64)]), ValueError, "mixes the dtypes"),
])
def test_export_refuses_what_is_not_a_model(folder, model, error, fragment):
    with pytest.raises(error) as info:
        monnx.export(model, fresh(folder), input_shape=(3,))
    assert fragment in str(info.value)


@pytest.mark.parametrize("input_shape, error, fragment", [
    ("1, 28, 28", TypeError, "input_shape"), (28, TypeError, "input_shape"), ((), TypeError, "input_shape"),
    ((1, 28.0, 28), TypeError, "input_shape"), ((1, True, 28), TypeError, "input_shape"),
    ((1, 0, 28), ValueError, "input_shape"), ((1, -28, 28), ValueError, "input_shape"),
    ((3, 28, 28), ValueError, "input_shape: layer 0"), ((1, 2, 2), ValueError, "input_shape: layer 0"),
])
def test_export_checks_input_shape(folder, small, input_shape, error, fragment):
    with pytest.raises(error) as info:
        monnx.export(small[0], fresh(folder), input_shape=input_shape)
    assert fragment in str(info.value)


def test_export_checks_path_and_dtype(folder, small):
    model = small[0]
    for path in (None, 3, b"model.onnx", ["model.onnx"]):
        with pytest.raises(TypeError, match="path must be a file name"):
            monnx.export(model, path, input_shape=(1, 4, 4))
    missing = folder / "nowhere" / "model.onnx"
    with pytest.raises(FileNotFoundError, match=str(folder / "nowhere")):
        monnx.export(model, missing, input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="is a directory"):
        monnx.export(model, folder, input_shape=(1, 4, 4))
    for dtype in ("int", np.int32, None.__class__):
        with pytest.raises(TypeError, match="dtype"):
            monnx.export(model, fresh(folder), input_shape=(1, 4, 4), dtype=dtype)
    target = folder / "pathlike.onnx"
    assert monnx.export(model, target, input_shape=(1, 4, 4)) == str(target)


def test_a_failed_export_leaves_the_old_file(folder, small, monkeypatch):
    """Written through minicnn.io.atomic_write: a failure in the middle of writing keeps the
    old file whole and leaves no temporary file."""
    import contextlib

    from minicnn.onnx import exporters
    model, path = small
    target = folder / "keep.onnx"
    target.write_bytes(open_bytes(path))
    before = target.read_bytes()

    real = exporters.atomic_write

    @contextlib.contextmanager
    def failing_midway(path, mode="wb"):
        with real(path, mode) as f:
            f.write(b"half a file")
            raise OSError("disk full")
        yield                                   # never reached: it makes this a generator
    monkeypatch.setattr(exporters, "atomic_write", failing_midway)
    with pytest.raises(OSError, match="disk full"):
        monnx.export(model, target, input_shape=(1, 4, 4))
    assert target.read_bytes() == before
    assert not [n for n in os.listdir(folder) if n.startswith(".keep.onnx.")]


def test_load_checks_its_argument(folder):
    for path in (None, 3, b"model.onnx"):
        with pytest.raises(TypeError, match="path must be a file name"):
            monnx.load(path)
    missing = folder / "nowhere" / "model.onnx"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        monnx.load(missing)
    with pytest.raises(ValueError, match=f"cannot load {folder}: it is a directory"):
        monnx.load(folder)


def other_files(folder, small):
    model, path = small
    blob = open_bytes(path)
    npz_model, plain_npz = str(folder / "model.npz"), str(folder / "plain.npz")
    model.save(npz_model)
    np.savez(plain_npz, W=np.ones(3))
    return {"empty": b"", "text": b"Conv2D(1, 2, 3)\n", "json": json.dumps(model.architecture()).encode(),
            "minicnn .npz": open_bytes(npz_model), "plain .npz": open_bytes(plain_npz),
            "half a model": blob[:len(blob) // 2], "a model without its last byte": blob[:-1],
            "zeros": bytes(100), "ONNX tensor": numpy_helper.from_array(np.ones(3, np.float32)).SerializeToString()}


def test_a_file_that_is_not_onnx_is_refused_naming_it(folder, small):
    for kind, blob in other_files(folder, small).items():
        path = folder / f"other-{kind.replace(' ', '_')}.onnx"
        path.write_bytes(blob)
        with pytest.raises(ValueError, match=f"cannot load {path}"):
            monnx.load(path)


def expect_model_or_value_error(path, reference=None):
    """A damaged file loads (when the damage still makes a valid graph) or is refused naming
    the file; never another exception."""
    try:
        model = monnx.load(path)
    except ValueError as exc:
        assert str(path) in str(exc), repr(exc)
        return None
    assert isinstance(model, mc.Sequential)
    return model


def test_every_truncation_is_refused(folder, small):
    blob = open_bytes(small[1])
    path = folder / "truncated.onnx"
    for end in range(0, len(blob), 7):
        path.write_bytes(blob[:end])
        expect_model_or_value_error(path)


@settings(max_examples=100)
@given(data=st.binary(max_size=300))
def test_random_bytes_are_refused(folder, data):
    path = folder / "random.onnx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=f"cannot load {path}"):
        monnx.load(path)


@pytest.mark.parametrize("source", ["minicnn", "minicnn residual", "torch dynamo"])
@settings(max_examples=100)
@given(data=st.data())
def test_damaged_bytes_give_a_refusal_or_onnxruntime_answer(folder, small, small_residual, torch_expected, source,
                                                            data):
    """Up to 4 bytes overwritten anywhere: in a minicnn file (a plain one, and one with nested
    Residuals, whose node names say where each layer is), or in PyTorch's dynamo file,
    whose weights are in its .data file, so that every byte is graph structure (node
    names, op types, attributes, shapes, the external data's location and offsets).
    A damaged file is refused naming it, or it still is a valid graph: then minicnn
    computes what onnxruntime computes on it."""
    if source == "minicnn":
        blob, x = bytearray(open_bytes(small[1])), np.random.default_rng(0).random((3, 1, 4, 4), np.float32)
    elif source == "minicnn residual":
        blob, x = bytearray(open_bytes(small_residual[1])), np.random.default_rng(0).random((3, 1, 5, 5), np.float32)
    else:
        blob, x = bytearray(open_bytes(os.path.join(DATA, "torch_cnn_dynamo.onnx"))), torch_expected["x"][:3]
        weights = folder / "torch_cnn_dynamo.onnx.data"
        if not weights.exists():
            weights.write_bytes(open_bytes(os.path.join(DATA, "torch_cnn_dynamo.onnx.data")))
    # bytes that protobuf treats specially (0, varint continuation 0x80, 0x7F, 0xFF) or any
    byte = st.one_of(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]), st.integers(0, 255))
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(byte)
    path = folder / "damaged.onnx"
    path.write_bytes(bytes(blob))
    model = expect_model_or_value_error(path)
    if model is None:
        return
    try:
        expected = run_onnxruntime(str(path), x)
    except Exception:       # noqa: BLE001 - a graph onnxruntime cannot run proves nothing
        return
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-5, equal_nan=True)


def external_model(folder, location, nbytes=None, name="ext", offset=0, length=None):
    """A Relu graph with a Conv weight stored in an external file at ``location``
    (``nbytes`` of its 32 bytes, at ``offset``, with that ``length`` declared: all by default)."""
    sub = folder / name
    sub.mkdir(exist_ok=True)
    tensor = numpy_helper.from_array(W[:, :, :1, :1].copy(), "W")
    raw = tensor.raw_data
    (sub / "weights.bin").write_bytes(bytes(offset) + (raw if nbytes is None else raw[:nbytes]))
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    declared = str(len(raw) if length is None else length)
    for key, value in (("location", location), ("offset", str(offset)), ("length", declared)):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 6, 6])],
                              initializer=[tensor])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = sub / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_external_data_is_read_from_the_model_folder_only(folder):
    path = external_model(folder, "weights.bin")
    assert np.array_equal(monnx.load(path)[0].params["W"].data, W[:, :, :1, :1])
    (folder / "secret.bin").write_bytes(bytes(32))
    for i, location in enumerate(("../secret.bin", str(folder / "secret.bin"), "", "sub/../../secret.bin")):
        path = external_model(folder, location, name=f"ext{i}")
        with pytest.raises(ValueError, match="not a file in the model's folder"):
            monnx.load(path)
    with pytest.raises(ValueError, match="a location that is not a file name"):
        monnx.load(external_model(folder, "weights\0.bin", name="ext-nul"))      # found by the damage fuzzer
    with pytest.raises(ValueError, match="No such file"):
        monnx.load(external_model(folder, "missing.bin", name="ext-missing"))
    with pytest.raises(ValueError, match="holds 16 bytes there, the tensor needs 32"):
        monnx.load(external_model(folder, "weights.bin", nbytes=16, name="ext-short"))


def test_external_data_sizes_are_checked_before_a_byte_is_read(folder):
    """An external tensor's ``length`` and ``offset`` are compared with the file's size
    and with the tensor's dims x itemsize (4 x 2 x 1 x 1 float32: 32 bytes) before
    reading: a length of 10**15 beside a 64-byte file is a ValueError naming the file
    (it was a MemoryError from a 10**15-byte read buffer), and nothing near that size is
    allocated."""
    import tracemalloc
    tracemalloc.start()
    try:
        path = external_model(folder, "weights.bin", name="ext-huge", offset=32, length=10 ** 15)
        assert (path.parent / "weights.bin").stat().st_size == 64
        assert_refused(path, "declares 1000000000000000 bytes there, the tensor needs 32")
        assert tracemalloc.get_traced_memory()[1] < 2 ** 24
    finally:
        tracemalloc.stop()
    refusals = [  # (external_model's arguments, external_data entries rewritten (None: removed), words)
        (dict(offset=32, length=64), {}, "declares 64 bytes there, the tensor needs 32"),
        (dict(length=16), {}, "declares 16 bytes there, the tensor needs 32"),
        (dict(nbytes=0), {"offset": str(10 ** 15)}, "offset 1000000000000000 is beyond the file's end (0 bytes)"),
        (dict(), {"offset": "-8"}, "offset -8 and length 32 must not be negative"),
        (dict(), {"length": "thirty-two"}, "its offset or length is not a number"),
        (dict(offset=32, nbytes=0), {}, "holds 0 bytes there, the tensor needs 32"),
        (dict(nbytes=16), {"length": None}, "holds 16 bytes there, the tensor needs 32")]   # no length: to the end
    for i, (arguments, entries, words) in enumerate(refusals):
        path = external_model(folder, "weights.bin", name=f"ext-size{i}", **arguments)
        proto = onnx.load(path, load_external_data=False)
        external = proto.graph.initializer[0].external_data
        kept = [(e.key, entries.get(e.key, e.value)) for e in external]
        del external[:]
        for key, value in kept:
            if value is not None:
                entry = external.add()
                entry.key, entry.value = key, value
        path.write_bytes(proto.SerializeToString())
        assert_refused(path, words)
    path = external_model(folder, "weights.bin", name="ext-offset", offset=24)   # 24 zero bytes first
    assert np.array_equal(monnx.load(path)[0].params["W"].data, W[:, :, :1, :1])


def test_opsets_newer_than_minicnn_reads_are_refused_naming_both(folder):
    """Opset 99 (or MAX_OPSET + 1) is refused naming it and the newest minicnn reads
    (an op may mean something else there; it used to load silently); every opset from
    MIN_OPSET to MAX_OPSET loads."""
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    assert_refused(graph_file(folder, nodes, ["N", 2, 6, 6], opset=99),
                   "opset 99 is newer than 25, the newest minicnn reads", "opset from 7 to 25")
    from minicnn.onnx._common import MAX_OPSET, MIN_OPSET
    assert MAX_OPSET == 25
    for opset in (MAX_OPSET + 1, MAX_OPSET + 2):
        assert_refused(graph_file(folder, nodes, ["N", 2, 6, 6], opset=opset),
                       f"opset {opset} is newer than {MAX_OPSET}, the newest minicnn reads")
    for opset in range(MIN_OPSET, MAX_OPSET + 1):
        model = monnx.load(graph_file(folder, nodes, ["N", 2, 6, 6], opset=opset))
        assert [type(layer) for layer in model] == [L.ReLU], opset


#: For each op minicnn imports, the versions of its definition from opset 17 to MAX_OPSET,
#: each read for what it changed (see MAX_OPSET in minicnn/onnx/_common.py).
OP_VERSIONS_READ = {
    "Conv": [11, 22], "MaxPool": [12, 22], "AveragePool": [11, 19, 22], "GlobalAveragePool": [1, 22],
    "ReduceMean": [13, 18], "Gemm": [13], "MatMul": [13], "Add": [14], "BatchNormalization": [15],
    "Flatten": [13, 21, 23, 24, 25], "Reshape": [14, 19, 21, 23, 24, 25], "Relu": [14], "LeakyRelu": [16],
    "Sigmoid": [13], "Tanh": [13], "Softmax": [13], "Dropout": [13, 22], "Identity": [16, 19, 21, 23, 24, 25],
    "Sub": [14], "Div": [14], "Transpose": [13, 21, 23, 24, 25], "HardSigmoid": [6, 22], "HardSwish": [14, 22],
    "LogSoftmax": [13], "ConstantOfShape": [9, 20, 21, 23, 24, 25], "GatherND": [13], "ReduceSum": [13],
    "Split": [13, 18], "Equal": [13, 19], "Where": [16], "Pad": [13, 18, 19, 21, 23, 24, 25],
    "If": [16, 19, 21, 23, 24, 25],
    "Constant": [13, 19, 21, 23, 24, 25], "Shape": [15, 19, 21, 23, 24, 25], "Gather": [13],
    "Unsqueeze": [13, 21, 23, 24, 25], "Squeeze": [13, 21, 23, 24, 25], "Concat": [13], "Slice": [13],
    "Cast": [13, 19, 21, 23, 24, 25], "Clip": [13], "LRN": [13], "Mul": [14], "Pow": [15],
}


def test_every_op_version_up_to_max_opset_was_read():
    """Raising MAX_OPSET without reading what the new opsets changed in an op fails here,
    naming the op and the version (as ONNX's own schemas know them)."""
    from minicnn.onnx._common import MAX_OPSET
    from minicnn.onnx.importers import IMPORTERS
    if onnx.defs.onnx_opset_version() < MAX_OPSET:
        pytest.skip(f"onnx {onnx.__version__} knows opsets up to {onnx.defs.onnx_opset_version()} only")
    assert sorted(OP_VERSIONS_READ) == sorted(IMPORTERS)
    for op, read in OP_VERSIONS_READ.items():
        versions = sorted({onnx.defs.get_schema(op, opset, "").since_version for opset in range(17, MAX_OPSET + 1)})
        assert versions == read, f"{op}: definitions of opsets {versions} (read: {read})"


def test_minicnn_and_minicnn_onnx_import_without_onnx():
    """onnx is optional: without it ``import minicnn`` and ``import minicnn.onnx`` work, and
    export/load raise an ImportError that says what to install."""
    code = "\n".join([
        "import sys",
        "sys.modules['onnx'] = None            # makes 'import onnx' fail, as when it is not installed",
        "import minicnn, minicnn.onnx",
        "from minicnn import layers as L",
        "assert 'onnx' not in [m for m in sys.modules if sys.modules[m] is not None]",
        "for call in (lambda: minicnn.onnx.export(minicnn.Sequential([L.ReLU()]), 'm.onnx', (3,)),",
        "             lambda: minicnn.onnx.load(sys.argv[1])):",
        "    try:",
        "        call()",
        "    except ImportError as exc:",
        "        assert 'pip install minicnn[onnx]' in str(exc), exc",
        "    else:",
        "        raise AssertionError('no ImportError')",
        "print('ok')"])
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-c", code, os.path.join(DATA, "torch_cnn_legacy.onnx")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_import_minicnn_does_not_import_its_onnx_module():
    code = "import sys, minicnn; assert 'minicnn.onnx' not in sys.modules and 'onnx' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_largest_differences_per_layer():
    """Last in the file: prints the largest |onnxruntime - minicnn| per layer and per model
    that the tests above saw (``pytest tests/test_onnx.py -s``)."""
    for name, diff in sorted(LARGEST_DIFFERENCE.items()):
        print(f"\nlargest difference  {name:40s} {diff:.2e}", end="")
        assert diff <= (1e-4 if "(zoo" in name else 1e-5)       # the zoo: relative to the outputs' size
