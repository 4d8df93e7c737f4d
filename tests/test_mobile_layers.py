"""The layers of the mobile and modern networks: SiLU, Hardswish, Hardsigmoid, LogSoftmax and
NLLLoss, Normalize, ChannelShuffle, ChannelSlice and the SE gate's other activations. PyTorch's
values on worked examples (computed by torch 2.13, float64), its derivatives at the kinks, and
what each layer is in terms of the others.

Gradients: tests/test_gradients.py; any input and bad arguments: tests/test_fuzz_core.py; files
and ONNX: tests/test_roundtrip.py and tests/test_onnx.py; against PyTorch itself on random
shapes: benchmarks/parity_torch.py.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import layers as L

X = np.array([-4.0, -3.0, -1.5, 0.0, 0.5, 3.0, 5.0])

#: torch.nn.functional.<name>(X) and the gradient of its sum, by torch 2.13 in float64.
TORCH = {
    "SiLU": ([-0.07194483984836623, -0.14227761953270035, -0.2736382857095345, 0.0, 0.3112296656009273,
              2.8577223804672998, 4.966535745378576],
             [-0.05266461489107291, -0.08810410601516962, -0.041294154299142946, 0.5, 0.7399611873026519,
              1.0881041060151693, 1.0265474324296655]),
    "Hardswish": ([0.0, 0.0, -0.375, 0.0, 0.2916666666666667, 3.0, 5.0],
                  [0.0, 0.0, 0.0, 0.5, 0.6666666666666666, 1.0, 1.0]),
    # PyTorch's CPU kernel multiplies the gradient by 1/6 rounded to float32 (0.1666666716337204), even
    # in float64: minicnn's 1/6 is the dtype's, so the slope agrees to 3e-8
    "Hardsigmoid": ([0.0, 0.0, 0.25, 0.5, 0.5833333333333334, 1.0, 1.0],
                    [0.0, 0.0, 1 / 6, 1 / 6, 1 / 6, 0.0, 0.0]),
}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_activations_give_pytorchs_values_and_derivatives_at_the_kinks(name):
    """At -3 and 3 (the kinks of the hard functions) the derivative is PyTorch's: Hardswish 0 at -3
    (its right-hand slope is -1/2) and 1 at 3 (its left-hand one 3/2); Hardsigmoid 0 at both."""
    layer = getattr(L, name)()
    y = layer.forward(X[None], training=True)
    dx = layer.backward(np.ones_like(y))
    values, slopes = TORCH[name]
    np.testing.assert_allclose(y[0], values, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(dx[0], slopes, rtol=1e-15, atol=1e-16)


def test_the_hard_functions_are_relu6_shifted_and_scaled():
    x = np.random.default_rng(0).uniform(-6, 6, (3, 50))
    relu6 = L.ReLU6().forward(x + 3)
    np.testing.assert_allclose(L.Hardsigmoid().forward(x), relu6 / 6, rtol=1e-15)
    np.testing.assert_allclose(L.Hardswish().forward(x), x * relu6 / 6, rtol=1e-15)
    np.testing.assert_allclose(L.SiLU().forward(x), x * L.Sigmoid().forward(x), rtol=1e-15)
    for name in ("SiLU", "Hardswish", "Hardsigmoid"):      # float32 in, float32 out
        assert getattr(L, name)().forward(x.astype(np.float32)).dtype == np.float32


def test_log_softmax_and_nll_loss_give_pytorchs_numbers():
    """Huge logits stay exact (no log(0)); the backward is g - softmax * sum(g); NLLLoss is -mean of
    the log-probabilities of the labels."""
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    layer = L.LogSoftmax(axis=1)
    y = layer.forward(z, training=True)
    np.testing.assert_allclose(y, [[-2.4076059644443806, -1.4076059644443804, -0.4076059644443804],
                                   [0.0, -1000.0, -2000.0]], rtol=1e-15)
    dx = layer.backward(np.array([[1.0, 0.0, -2.0], [0.5, 0.5, 0.5]]))
    np.testing.assert_allclose(dx, [[1.0900305731703805, 0.24472847105479764, -1.3347590442251782],
                                    [-1.0, 0.5, 0.5]], rtol=1e-14)
    log_probs = L.LogSoftmax().forward(np.array([[0.2, -1.0, 3.0], [1.0, 1.0, 1.0]]))
    loss = mc.losses.NLLLoss()
    assert loss.forward(log_probs, np.array([2, 0])) == pytest.approx(0.5873817331590432, rel=1e-15)
    np.testing.assert_array_equal(loss.backward(), [[0.0, 0.0, -0.5], [-0.5, 0.0, 0.0]])


@pytest.mark.parametrize("target, error, fragment", [
    (np.array([0.5, 0.5]), TypeError, "integers"),
    (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), ValueError, "integer labels"),
    (np.array([0, 3]), ValueError, r"\[0, 3\)"),
    ([0, 1], TypeError, "numpy.ndarray"),
])
def test_nll_loss_refuses_what_is_not_labels(target, error, fragment):
    with pytest.raises(error, match=fragment):
        mc.losses.NLLLoss().forward(np.zeros((2, 3)), target)
    with pytest.raises(ValueError, match="log_probs contain NaN"):
        mc.losses.NLLLoss().forward(np.array([[np.nan, 0.0]]), np.array([0]))


def test_pytorchs_mnist_example_trains_with_log_softmax_and_nll_loss():
    """fit reports accuracy from the log-probabilities (their argmax is the logits')."""
    mc.manual_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    x = (rng.normal(size=(60, 1, 6, 6)) + y[:, None, None, None]).astype(np.float32)
    model = mc.Sequential([L.Normalize(1.0, 1.2), L.Conv2D(1, 4, 3), L.ReLU(), L.Flatten(), L.Dense(64, 3),
                           L.LogSoftmax(axis=1)])
    history = model.fit(x, y, mc.losses.NLLLoss(), mc.optim.Adam(model.parameters(), lr=0.02), epochs=8,
                        batch_size=20, progress=False)
    assert history.history["accuracy"][-1] > 0.9 > history.history["accuracy"][0]


def test_normalize_is_torchvisions_formula_per_channel():
    x = np.random.default_rng(1).random((2, 3, 4, 5)).astype(np.float32)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    y = L.Normalize(mean, std).forward(x)
    expected = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_array_equal(y, expected)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(L.Normalize(0.5, 2.0).forward(x), (x - np.float32(0.5)) / np.float32(2.0))


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(mean=(0.1, 0.2), std=(1.0, 2.0, 3.0)), ValueError, "mean has 2 values and std 3"),
    (dict(mean=0.0, std=(1.0, 0.0)), ValueError, "std must not hold 0"),
    (dict(mean=[], std=1.0), ValueError, "mean must hold one number per channel"),
    (dict(mean="0.5", std=1.0), TypeError, "mean must be a number or a list"),
    (dict(mean=(0.1, float("nan")), std=1.0), ValueError, r"mean\[1\] must be finite"),
])
def test_normalize_checks_its_constants(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        L.Normalize(**kwargs)


def test_normalize_takes_its_channels_and_saves_its_constants(tmp_path):
    layer = L.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    with pytest.raises(ValueError, match="x has 1 channels but Normalize has a mean and std for 3"):
        layer.forward(np.zeros((1, 1, 2, 2), np.float32))
    model = mc.Sequential([layer, L.Conv2D(3, 2, 1)])
    model.save(tmp_path / "m.npz")
    back = mc.Sequential.load(tmp_path / "m.npz")
    assert back[0].config() == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert L.Normalize(0.1307, 0.3081).num_channels is None      # one value: any number of channels


def test_channel_shuffle_is_pytorchs_and_its_inverse_has_the_other_groups():
    x = np.arange(6.0).reshape(1, 6, 1, 1)
    np.testing.assert_array_equal(L.ChannelShuffle(3).forward(x).ravel(), [0, 2, 4, 1, 3, 5])   # torch's
    x = np.random.default_rng(2).normal(size=(2, 12, 3))
    np.testing.assert_array_equal(L.ChannelShuffle(4).forward(L.ChannelShuffle(3).forward(x)), x)   # 12 = 3 * 4
    with pytest.raises(ValueError, match="channels divisible by 5"):
        L.ChannelShuffle(5).output_shape((12, 3))


def test_channel_slices_of_every_channel_concatenated_are_x():
    """ShuffleNetV2's split: x.chunk(2, 1) as two ChannelSlices; their Concat gives x back, and the
    gradient of each slice reaches its channels only."""
    x = np.random.default_rng(3).normal(size=(2, 6, 3, 3))
    halves = L.Concat([L.ChannelSlice(0, 3), L.ChannelSlice(3, 6)])
    np.testing.assert_array_equal(halves.forward(x), x)
    layer = L.ChannelSlice(1, 4)
    np.testing.assert_array_equal(layer.forward(x, training=True), x[:, 1:4])
    dx = layer.backward(np.ones((2, 3, 3, 3)))
    assert dx[:, 1:4].min() == 1 and dx[:, [0, 4, 5]].max() == 0
    with pytest.raises(ValueError, match=r"ChannelSlice\(1, 4\) needs at least 4 channels, got 3"):
        layer.output_shape((3, 2, 2))
    with pytest.raises(ValueError, match="stop"):
        L.ChannelSlice(2, 2)


def test_an_older_squeeze_excitation_config_builds_senets_gate():
    """A config as minicnn wrote it before the gate's options (no activation, scale_activation,
    batch_norm keys) builds SENet's gate, its parameters named as before."""
    old = {"input_channels": 8, "squeeze_channels": 2, "dtype": "float32"}
    layer = L.SqueezeExcitation.from_config(old)
    assert [type(one).__name__ for one in layer.gate.layers] == ["GlobalAvgPool2D", "Dense", "ReLU", "Dense", "Sigmoid"]
    assert sorted(layer.params) == ["gate.1.W", "gate.1.b", "gate.3.W", "gate.3.b"]
    assert layer.config() == dict(old, activation="ReLU", scale_activation="Sigmoid", batch_norm=False)
    assert isinstance(L.build_layer({"class": "SqueezeExcitation", "config": old}), L.SqueezeExcitation)


def test_squeeze_excitation_gates_of_mobilenet_v3_and_efficientnet():
    layer = L.SqueezeExcitation(8, 2, activation=L.SiLU, scale_activation="Hardsigmoid", batch_norm=True,
                                eps=1e-3, momentum=0.01)
    assert [type(one).__name__ for one in layer.gate.layers] == ["GlobalAvgPool2D", "Dense", "BatchNorm", "SiLU",
                                                                 "Dense", "Hardsigmoid"]
    assert sorted(layer.params) == ["gate.1.W", "gate.2.beta", "gate.2.gamma", "gate.4.W", "gate.4.b"]
    assert layer.config()["eps"] == 1e-3 and layer.gate.layers[2].momentum == 0.01
    rebuilt = L.SqueezeExcitation.from_config(layer.config())
    assert rebuilt.config() == layer.config()
    x = np.random.default_rng(4).normal(size=(3, 8, 4, 4)).astype(np.float32)
    gate = layer.gate.forward(x)
    np.testing.assert_array_equal(layer.forward(x), x * gate[:, :, None, None])
    assert gate.min() >= 0 and gate.max() <= 1
    with pytest.raises(ValueError, match="activation must be one of ReLU, ReLU6, SiLU"):
        L.SqueezeExcitation(8, 2, activation="GELU")
    with pytest.raises(ValueError, match="scale_activation must be one of"):
        L.SqueezeExcitation(8, 2, scale_activation=L.LeakyReLU)
