"""Concat (Inception's branches) and SqueezeExcitation (SENet's gate): names, shapes, errors,
config and files. Their gradients are checked in test_gradients.py, their fuzzing in
test_fuzz_core.py (both run over every registered layer)."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import layers as L

F64 = np.float64


def inception_like():
    mc.manual_seed(0)
    return L.Concat([L.Conv2D(3, 2, 1),                                                # a single layer
                     [L.Conv2D(3, 2, 1), L.ReLU(), L.Conv2D(2, 3, 3, padding=1)],     # a list
                     mc.Sequential([L.MaxPool2D(3, 1, 1, ceil_mode=True), L.Conv2D(3, 1, 1)]),
                     [L.Conv2D(3, 2, 1), L.Concat([L.Conv2D(2, 1, (1, 3), padding=(0, 1)),
                                                   L.Conv2D(2, 1, (3, 1), padding=(1, 0))])]])


def test_concat_is_the_branches_side_by_side():
    layer = inception_like()
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
    parts = [branch.forward(x) for _, branch in layer.branches()]
    assert [p.shape[1] for p in parts] == [2, 3, 1, 2]
    np.testing.assert_array_equal(layer.forward(x), np.concatenate(parts, axis=1))
    assert layer.output_shape((3, 6, 5)) == (8, 6, 5)


def test_concat_parameter_names_nest():
    layer = inception_like()
    assert list(layer.params) == ["branch0.0.W", "branch0.0.b", "branch1.0.W", "branch1.0.b", "branch1.2.W",
                                  "branch1.2.b", "branch2.1.W", "branch2.1.b", "branch3.0.W", "branch3.0.b",
                                  "branch3.1.branch0.0.W", "branch3.1.branch0.0.b",
                                  "branch3.1.branch1.0.W", "branch3.1.branch1.0.b"]
    model = mc.Sequential([L.ReLU(), layer])
    assert "1.branch3.1.branch1.0.W" in model.named_parameters()


def test_concat_takes_vectors_too():
    """Any (N, C, ...) input: here features (N, F), joined on axis 1."""
    layer = L.Concat([L.Dense(4, 2), [L.Dense(4, 3), L.Tanh()]])
    assert layer.forward(np.ones((5, 4), np.float32)).shape == (5, 5)


def test_concat_refuses_branches_that_do_not_line_up():
    layer = L.Concat([[L.Conv2D(2, 3, 1)], [L.Conv2D(2, 4, 3)], [L.MaxPool2D(2)]])
    message = r"branch0 \(3, 6, 6\), branch1 \(4, 4, 4\), branch2 \(2, 3, 3\)"
    with pytest.raises(ValueError, match=message):
        layer.output_shape((2, 6, 6))
    with pytest.raises(ValueError, match=message):
        layer.forward(np.zeros((1, 2, 6, 6), np.float32))
    with pytest.raises(ValueError, match="every axis but the channels"):
        L.Concat([L.Flatten(), L.ReLU()]).output_shape((2, 3))


@pytest.mark.parametrize("branches, error, fragment", [
    ([], TypeError, "non-empty list"),
    (L.ReLU(), TypeError, "non-empty list"),
    ("abc", TypeError, "non-empty list"),
    ([["relu"]], TypeError, r"branches\[0\]"),
    ([[L.ReLU()], [3]], TypeError, r"branches\[1\]"),
    ([[L.ReLU()], 3], TypeError, r"branches\[1\]"),
])
def test_concat_bad_branches(branches, error, fragment):
    with pytest.raises(error, match=fragment):
        L.Concat(branches)


def test_concat_refuses_a_layer_in_two_branches():
    shared = L.Conv2D(2, 2, 1)
    with pytest.raises(ValueError, match=r"branch0\[0\] and branch1\[1\] are the same Conv2D object"):
        L.Concat([[shared], [L.ReLU(), shared]])


def test_squeeze_excitation_is_the_gate_times_x():
    mc.manual_seed(0)
    layer = L.SqueezeExcitation(4, 2, dtype=F64)
    assert list(layer.params) == ["gate.1.W", "gate.1.b", "gate.3.W", "gate.3.b"]
    assert [p.shape for p in layer.params.values()] == [(4, 2), (2,), (2, 4), (4,)]
    for p in layer.params.values():
        p.data[...] = np.random.default_rng(1).normal(size=p.shape)
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 2))
    s = x.mean(axis=(2, 3))
    p = {k: v.data for k, v in layer.params.items()}
    g = 1 / (1 + np.exp(-(np.maximum(s @ p["gate.1.W"] + p["gate.1.b"], 0) @ p["gate.3.W"] + p["gate.3.b"])))
    np.testing.assert_allclose(layer.forward(x), x * g[:, :, None, None], rtol=1e-13)
    assert sum(v.size for v in layer.params.values()) == 2 * 4 * 2 + 2 + 4


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(input_channels=0, squeeze_channels=2), "input_channels"),
    (dict(input_channels=4, squeeze_channels=2.5), "squeeze_channels"),
    (dict(input_channels=4, squeeze_channels=2, dtype=np.int32), "dtype"),
])
def test_squeeze_excitation_bad_arguments(kwargs, fragment):
    with pytest.raises((ValueError, TypeError), match=fragment):
        L.SqueezeExcitation(**kwargs)


def test_squeeze_excitation_checks_its_input():
    with pytest.raises(ValueError, match="expects 4"):
        L.SqueezeExcitation(4, 2)(np.zeros((1, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match="4 dimensions"):
        L.SqueezeExcitation(4, 2)(np.zeros((1, 4, 2), np.float32))


def test_config_round_trip_and_astype():
    for layer in (inception_like(), L.SqueezeExcitation(6, 3)):
        again = type(layer).from_config(layer.config())
        assert again.config() == layer.config() and list(again.params) == list(layer.params)
        layer.astype(F64)
        assert all(p.data.dtype == F64 for p in layer.params.values())
    assert L.SqueezeExcitation(6, 3).astype(F64).config()["dtype"] == "float64"
    with pytest.raises(ValueError, match="branches"):
        L.Concat.from_config({"branch0": []})


def test_save_and_load_round_trip(tmp_path):
    mc.manual_seed(0)
    model = mc.Sequential([inception_like(), L.BatchNorm(8), L.SqueezeExcitation(8, 2),
                           L.Concat([[L.Conv2D(8, 2, 1, bias=False), L.BatchNorm(2)], L.AvgPool2D(3, 1, 1)]),
                           L.GlobalAvgPool2D(), L.Dense(10, 3)])
    x = np.random.default_rng(0).standard_normal((4, 3, 6, 6)).astype(np.float32)
    model.forward(x, training=True)           # moves the BatchNorm statistics inside the branches
    path = tmp_path / "m.npz"
    model.save(path)
    back = mc.Sequential.load(path)
    assert back.architecture() == model.architecture()
    assert back.state_dict().keys() == model.state_dict().keys()
    assert "3.branch0.1.running_var" in back.state_dict()
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def test_summary_lists_the_branches():
    model = mc.Sequential([inception_like(), L.SqueezeExcitation(8, 2), L.GlobalAvgPool2D()])
    text = model.summary((3, 6, 6))
    assert "0: Concat" in text and "    branch3:" in text and "          branch1:" in text
    assert "1: SqueezeExcitation" in text and "    gate:" in text and "1: Dense" in text
    assert f"Total params: {model.num_params():,}" in text


@pytest.mark.parametrize("make", [
    lambda: L.Concat([mc.Sequential([]), L.Conv2D(3, 2, 1)]),
    lambda: L.Concat([[], L.Conv2D(3, 2, 1)]),
    lambda: L.Residual(mc.Sequential([])),
    lambda: L.Residual([L.Conv2D(3, 3, 1)], mc.Sequential([])),
])
def test_an_empty_branch_is_the_identity_and_saves_and_loads(tmp_path, make):
    """An empty branch is the identity (PyTorch's nn.Sequential()): it builds, runs, trains, saves
    and loads back (the load refused it before: "branches[0] must be a non-empty list of layers")."""
    mc.manual_seed(0)
    model = mc.Sequential([make()])
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
    out = model.forward(x, training=True)
    dx = model.backward(np.ones_like(out))              # trains: both branches' gradients reach x
    assert dx.shape == x.shape
    model.save(tmp_path / "m.npz")
    back = mc.Sequential.load(tmp_path / "m.npz")
    assert back.architecture() == model.architecture()
    assert np.array_equal(back.predict(x), model.predict(x))
