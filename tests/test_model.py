"""Sequential, optimisers, schedules, save/load, dtypes, and learning itself."""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import layers as L


def small_cnn(dtype=np.float32):
    return mc.Sequential([
        L.Conv2D(1, 4, 3, padding=1, dtype=dtype), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(4, 8, 3, padding="same", dtype=dtype), L.BatchNorm(8, dtype=dtype), L.ReLU(),
        L.AvgPool2D(2), L.Flatten(), L.Dropout(0.1), L.Dense(8 * 2 * 2, 16, dtype=dtype), L.Tanh(),
        L.Dense(16, 5, dtype=dtype),
    ])


def test_flipped_kernel_conv_equals_true_convolution_on_the_worked_example():
    image = np.arange(1, 50, dtype=np.float64).reshape(1, 1, 7, 7)
    kernel = np.array([[-1, 1, -1], [-2, 3, 1], [2, -4, 0]], dtype=np.float64)
    layer = L.Conv2D(1, 1, 3, padding="same", bias=False, dtype=np.float64)
    layer.params["W"].data[0, 0] = np.rot90(kernel, 2)   # cross-correlation with the flipped kernel
    out = layer.forward(image)[0, 0]
    np.testing.assert_array_equal(out[0], [-2, -8, -7, -6, -5, -4, 28])
    np.testing.assert_array_equal(out[-1], [-29, 13, 13, 13, 13, 13, 27])


@pytest.mark.parametrize("k", [2, 4, (2, 3)])
def test_same_padding_with_even_kernels_pads_bottom_right_like_pytorch(k):
    layer = L.Conv2D(1, 1, k, padding="same", bias=False, dtype=np.float64)
    layer.params["W"].data[:] = 0
    kh, kw = (k, k) if isinstance(k, int) else k
    layer.params["W"].data[0, 0, 0, 0] = 1      # picks x[y - top, x - left]
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 7))
    y = layer.forward(x)
    top, left = (kh - 1) // 2, (kw - 1) // 2
    assert y.shape == x.shape
    np.testing.assert_array_equal(y[0, 0, top:, left:], x[0, 0, :6 - top, :7 - left])
    np.testing.assert_array_equal(y[0, 0, :top], 0)


def test_summary_lists_shapes_and_params_without_running_data():
    model = mc.Sequential([L.Conv2D(1, 32, 3, padding=1), L.ReLU(), L.MaxPool2D(2), L.Flatten(),
                           L.Dense(32 * 14 * 14, 10)])
    text = model.summary((1, 28, 28))
    assert "(32, 28, 28)" in text and "(32, 14, 14)" in text and "(6272,)" in text and "(10,)" in text
    assert "320" in text and "62,730" in text
    assert f"Total params: {32 * 9 + 32 + 6272 * 10 + 10:,}" in text


def test_parameters_in_layer_order_and_named():
    model = small_cnn()
    names = list(model.named_parameters())
    assert names[:4] == ["0.W", "0.b", "3.W", "3.b"]
    assert [p.shape for p in model.parameters()][:2] == [(4, 1, 3, 3), (4,)]
    assert model.num_params() == sum(p.size for p in model.parameters())


def test_return_activations_gives_every_layer_output():
    model = small_cnn()
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    out, acts = model.forward(x, return_activations=True)
    assert len(acts) == len(model) and acts[-1] is out
    assert acts[0].shape == (2, 4, 8, 8) and acts[2].shape == (2, 4, 4, 4)


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    mc.manual_seed(1)
    model = small_cnn()
    x = np.random.default_rng(0).standard_normal((6, 1, 8, 8)).astype(np.float32)
    loss, opt = mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):     # move the weights and BatchNorm's running statistics off their start
        loss.forward(model.forward(x, training=True), np.arange(6) % 5)
        opt.zero_grad()
        model.backward(loss.backward())
        opt.step()
    path = tmp_path / "cnn.npz"
    model.save(path)
    same = mc.Sequential.load(path)
    assert repr(same) == repr(model)
    np.testing.assert_array_equal(same.forward(x), model.forward(x))
    np.testing.assert_array_equal(same[4].running_var, model[4].running_var)
    assert not list(tmp_path.glob("*.tmp"))       # no temp file left beside it
    with np.load(path, allow_pickle=False) as data:
        arch = json.loads(str(data["__architecture__"]))
    assert arch[0] == {"class": "Conv2D", "config": model[0].config()}


def test_load_refuses_an_object_array(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __format__=np.array("minicnn.Sequential/1"),
             __architecture__=np.array("[]"), payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="evil.npz"):
        mc.Sequential.load(path)


def test_state_dict_round_trip_and_astype():
    model = small_cnn()
    other = small_cnn()
    other.load_state_dict(model.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(other.forward(x), model.forward(x))
    model.astype(np.float64)
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model[4].running_mean.dtype == np.float64
    np.testing.assert_allclose(model.forward(x.astype(np.float64)), other.forward(x), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# dtypes: computation keeps the input's floating dtype
# ---------------------------------------------------------------------------
LAYERS = [
    lambda d: L.Conv2D(2, 3, 3, padding=1, dtype=d), lambda d: L.MaxPool2D(2), lambda d: L.AvgPool2D(2),
    lambda d: L.BatchNorm(2, dtype=d), lambda d: L.ReLU(), lambda d: L.LeakyReLU(), lambda d: L.Sigmoid(),
    lambda d: L.Tanh(), lambda d: L.Softmax(axis=1), lambda d: L.Dropout(0.5), lambda d: L.Flatten(),
    lambda d: L.Reshape((-1, 4)),
]


@pytest.mark.parametrize("make", LAYERS)
@given(x_dtype=st.sampled_from([np.float32, np.float64]), p_dtype=st.sampled_from([np.float32, np.float64]))
def test_output_and_gradient_keep_the_input_dtype(make, x_dtype, p_dtype):
    layer = make(p_dtype)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(x_dtype)
    y = layer.forward(x, training=True)
    assert y.dtype == x_dtype
    assert layer.backward(np.ones_like(y)).dtype == x_dtype
    assert all(p.grad.dtype == p_dtype for p in layer.params.values())


def test_dense_keeps_the_input_dtype():
    layer = L.Dense(4, 3, dtype=np.float64)
    y = layer.forward(np.ones((2, 4), np.float32), training=True)
    assert y.dtype == np.float32 and layer.backward(y).dtype == np.float32
    assert layer.params["W"].grad.dtype == np.float64


def test_eval_forward_keeps_no_cache_and_backward_says_so():
    layer = L.Conv2D(1, 2, 3)
    layer.forward(np.ones((1, 1, 5, 5), np.float32), training=True)
    layer.forward(np.ones((1, 1, 5, 5), np.float32))
    with pytest.raises(RuntimeError, match="training=True"):
        layer.backward(np.ones((1, 2, 3, 3), np.float32))


@pytest.mark.parametrize("out_channels, dilation", [(4, 1), (3, 2), (2, 1)])    # both dx paths
def test_conv_steps_equal_a_fresh_layers_and_a_second_backward_refuses(out_channels, dilation):
    """Every step of a Conv2D used for many steps equals a fresh layer's (nothing of one
    step leaks into the next), and a second backward after one forward refuses."""
    rng = np.random.default_rng(0)
    layer = L.Conv2D(3, out_channels, 3, padding=dilation, dilation=dilation, dtype=np.float64)
    for step in range(3):
        x = rng.standard_normal((2, 3, 6, 6))
        g = rng.standard_normal((2, out_channels, 6, 6))
        fresh = L.Conv2D(3, out_channels, 3, padding=dilation, dilation=dilation, dtype=np.float64)
        for name, p in layer.params.items():
            fresh.params[name].data[...] = p.data
        for lay in (layer, fresh):
            for p in lay.params.values():
                p.zero_grad()
            lay.forward(x, training=True)
            if step == 1:
                lay.forward(x + 1, training=True)            # only the last forward counts
        dx, dx_fresh = layer.backward(g), fresh.backward(g)
        np.testing.assert_array_equal(dx, dx_fresh)
        np.testing.assert_array_equal(layer.params["W"].grad, fresh.params["W"].grad)
        with pytest.raises(RuntimeError, match="training=True"):
            layer.backward(g)


# ---------------------------------------------------------------------------
# Optimisers, checked against their update rules written out by hand
# ---------------------------------------------------------------------------
def run_steps(opt_factory, grads, p0):
    p = mc.Parameter(p0.copy())
    opt = opt_factory([p])
    for g in grads:
        opt.zero_grad()
        p.grad += g
        opt.step()
    return p.data


GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.2]), np.array([-1.0, 0.0, 0.7])]
P0 = np.array([1.0, -2.0, 0.5])


@pytest.mark.parametrize("momentum, nesterov, wd", [(0.0, False, 0.0), (0.9, False, 0.0),
                                                    (0.9, True, 0.0), (0.5, True, 0.01), (0.0, False, 0.1)])
def test_sgd_matches_pytorchs_rule(momentum, nesterov, wd):
    lr = 0.1
    p, buf = P0.copy(), None
    for g in GRADS:
        d = g + wd * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    got = run_steps(lambda ps: mc.optim.SGD(ps, lr, momentum=momentum, nesterov=nesterov, weight_decay=wd),
                    GRADS, P0)
    np.testing.assert_allclose(got, p, rtol=1e-12)


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_matches_pytorchs_rule(wd):
    lr, (b1, b2), eps = 0.01, (0.9, 0.999), 1e-8
    p, m, v = P0.copy(), 0.0, 0.0
    for t, g in enumerate(GRADS, start=1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    got = run_steps(lambda ps: mc.optim.Adam(ps, lr, weight_decay=wd), GRADS, P0)
    np.testing.assert_allclose(got, p, rtol=1e-10)


def test_optimiser_state_dict_round_trip():
    a = mc.Parameter(P0.copy())
    opt = mc.optim.Adam([a], lr=0.01)
    for g in GRADS[:2]:
        a.grad[:] = g
        opt.step()
    state = opt.state_dict()
    b = mc.Parameter(a.data.copy())
    opt2 = mc.optim.Adam([b], lr=0.5, betas=(0.5, 0.5))
    opt2.load_state_dict(state)
    assert opt2.lr == 0.01 and opt2.betas == (0.9, 0.999) and opt2.step_count == 2
    a.grad[:] = b.grad[:] = GRADS[2]
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_optimiser_state_stays_in_the_parameter_dtype():
    p = mc.Parameter(np.ones(3, np.float32))
    for opt in (mc.optim.SGD([p], 0.1, momentum=0.9, weight_decay=1e-4), mc.optim.Adam([p])):
        p.grad[:] = np.float32(0.5)
        opt.step()
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for k, v in opt.state_dict().items() if isinstance(v, np.ndarray))


def test_optimiser_repr_shows_the_hyper_parameters_in_use():
    """After a schedule step, and with parameter groups (each shown, as PyTorch prints them),
    not the constructor's defaults."""
    ps = [mc.Parameter(np.zeros(2)) for _ in range(3)]
    opt = mc.optim.SGD(ps, lr=0.1, momentum=0.9)
    assert repr(opt) == "SGD(3 parameters, lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)"
    mc.optim.StepLR(opt, step_size=1, gamma=0.5).step()
    assert repr(opt) == "SGD(3 parameters, lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0)"
    one = mc.optim.SGD([{"params": ps[:2], "lr": 1e-3, "momentum": 0.5}], lr=0.1)
    assert repr(one) == "SGD(2 parameters, lr=0.001, momentum=0.5, nesterov=False, weight_decay=0.0)"
    two = mc.optim.Adam([{"params": ps[:2], "lr": 1e-4}, {"params": ps[2:], "betas": (0.5, 0.9)}], lr=1e-2)
    two.param_groups[1]["lr"] = 0.02
    assert repr(two) == ("Adam([{2 parameters, lr=0.0001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0}, "
                         "{1 parameter, lr=0.02, betas=(0.5, 0.9), eps=1e-08, weight_decay=0.0}])")


def test_schedules_set_the_learning_rate():
    p = [mc.Parameter(np.zeros(1))]
    opt = mc.optim.SGD(p, lr=1.0)
    step = mc.optim.StepLR(opt, step_size=2, gamma=0.5)
    assert [step.step() for _ in range(5)] == [1.0, 0.5, 0.5, 0.25, 0.25]
    opt = mc.optim.SGD(p, lr=1.0)
    exp = mc.optim.ExponentialLR(opt, gamma=0.9)
    assert [exp.step() for _ in range(2)] == pytest.approx([0.9, 0.81])
    opt = mc.optim.SGD(p, lr=0.01)
    inv = mc.optim.InverseTimeDecay(opt, decay=1e-2)
    assert inv.per_batch and not step.per_batch
    assert [inv.step() for _ in range(2)] == pytest.approx([0.01 / 1.01, 0.01 / 1.02])
    state = inv.state_dict()
    inv2 = mc.optim.InverseTimeDecay(mc.optim.SGD(p, lr=0.5), decay=1e-2)
    inv2.load_state_dict(state)
    assert inv2.optimizer.lr == pytest.approx(0.01 / 1.02)


# ---------------------------------------------------------------------------
# Learning works, and is reproducible
# ---------------------------------------------------------------------------
def train_random_labels(seed, steps):
    mc.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    model = mc.Sequential([L.Conv2D(1, 16, 3, padding=1), L.ReLU(), L.MaxPool2D(2), L.Flatten(),
                           L.Dense(16 * 4 * 4, 64), L.ReLU(), L.Dense(64, 10)])
    loss_fn = mc.losses.CrossEntropy()
    opt = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        logits = model.forward(x, training=True)
        losses.append(loss_fn.forward(logits, y))
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    accuracy = np.mean(model.forward(x).argmax(axis=1) == y)
    return losses, accuracy


def test_a_small_cnn_memorises_random_labels():
    losses, accuracy = train_random_labels(seed=0, steps=300)
    assert accuracy == 1.0
    assert losses[-1] < 0.05 * losses[0]


def test_same_seed_same_loss_curve():
    a, _ = train_random_labels(seed=5, steps=20)
    b, _ = train_random_labels(seed=5, steps=20)
    c, _ = train_random_labels(seed=6, steps=20)
    assert a == b
    assert a != c


def test_a_failed_forward_leaves_no_stale_cache():
    bn = L.BatchNorm(3)
    bn.forward(np.ones((4, 3), np.float32) * np.arange(4)[:, None], training=True)
    with pytest.raises(ValueError):
        bn.forward(np.ones((1, 3), np.float32), training=True)     # one value per channel
    with pytest.raises(RuntimeError, match="training=True"):
        bn.backward(np.ones((4, 3), np.float32))
    loss = mc.losses.CrossEntropy()
    loss.forward(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError):
        loss.forward(np.zeros((2, 3)), np.array([0, 5]))
    with pytest.raises(RuntimeError):
        loss.backward()


def test_astype_keeps_the_parameter_objects_an_optimiser_holds():
    model = small_cnn()
    before = model.parameters()
    opt = mc.optim.SGD(model.parameters(), lr=0.1)
    model.astype(np.float64)
    assert all(a is b for a, b in zip(before, model.parameters()))
    assert opt.params[0].dtype == np.float64


@pytest.mark.parametrize("bad", [lambda: L.Conv2D(1, 1, 3, bias="no"), lambda: L.Dense(2, 2, bias=1),
                                 lambda: L.Flatten().forward(np.ones(3)),
                                 lambda: L.Softmax(axis=0).forward(np.ones((2, 3)))])
def test_more_bad_arguments_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        bad()


def test_new_layers_save_load_and_summary(tmp_path):
    """Conv1D and the 1-D pools; a ResNet with residual blocks (BatchNorm inside, a projection
    shortcut, a nested block) and global average pooling: saved, loaded without pickle,
    identical predictions and statistics, and the blocks' layers indented in the summary."""
    mc.manual_seed(0)
    signal = mc.Sequential([L.Conv1D(2, 4, 5, padding="same"), L.ReLU(), L.MaxPool1D(2), L.Conv1D(4, 4, 3, stride=2),
                            L.AvgPool1D(2, padding="same", count_include_pad=False), L.Flatten(), L.Dense(20, 3)])
    resnet = mc.Sequential([
        L.Conv2D(1, 4, 3, padding=1, bias=False), L.BatchNorm(4), L.ReLU(),
        L.Residual([L.Conv2D(4, 4, 3, padding=1, bias=False), L.BatchNorm(4), L.ReLU(),
                    L.Residual([L.Conv2D(4, 4, 3, padding=1)])]),
        L.Residual([L.Conv2D(4, 8, 3, stride=2, padding=1, bias=False), L.BatchNorm(8)],
                   [L.Conv2D(4, 8, 1, stride=2, bias=False), L.BatchNorm(8)]),
        L.GlobalAvgPool2D(), L.Dense(8, 10)])
    rng = np.random.default_rng(0)
    for model, x in ((signal, rng.standard_normal((3, 2, 40)).astype(np.float32)),
                     (resnet, rng.standard_normal((3, 1, 8, 8)).astype(np.float32))):
        model.forward(x, training=True)                       # move the running statistics
        model.save(tmp_path / "m.npz")
        again = mc.Sequential.load(tmp_path / "m.npz")
        assert again.architecture() == model.architecture()
        np.testing.assert_array_equal(again.predict(x), model.predict(x))
        for key, value in model.state_dict().items():
            np.testing.assert_array_equal(again.state_dict()[key], value, err_msg=key)
    assert "4.shortcut.0.W" in resnet.state_dict() and "3.block.3.block.0.b" in resnet.state_dict()
    summary = resnet.summary((1, 8, 8))
    assert "      3: Residual" in summary and "shortcut: identity" in summary and "(8, 4, 4)" in summary
    assert summary.splitlines()[-1] == f"Total params: {resnet.num_params():,}"


def test_grouped_conv_and_local_response_norm_save_load_and_summary(tmp_path):
    """An AlexNet-like stack (a conv in two groups, a depthwise one, LocalResponseNorm): saved,
    loaded without pickle, identical predictions; summary counts the grouped weights."""
    mc.manual_seed(0)
    model = mc.Sequential([L.Conv2D(3, 8, 3, padding=1), L.ReLU(), L.LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=2.0),
                           L.Conv2D(8, 8, 3, padding=1, groups=2), L.Conv2D(8, 16, 3, groups=8),
                           L.Flatten(), L.Dense(16 * 4 * 4, 3)])
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    model.save(tmp_path / "m.npz")
    again = mc.Sequential.load(tmp_path / "m.npz")
    assert again.architecture() == model.architecture()
    assert [item["config"].get("groups") for item in again.architecture()][3:5] == [2, 8]
    assert again.architecture()[2]["config"] == dict(size=5, alpha=1e-3, beta=0.75, k=2.0)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    summary = model.summary((3, 6, 6))
    assert f"{8 * 4 * 9 + 8:,}" in summary and f"{16 * 1 * 9 + 16:,}" in summary     # W (8, 4, 3, 3), (16, 1, 3, 3)
    assert model.layers[4].output_shape((8, 6, 6)) == (16, 4, 4)

    signal = mc.Sequential([L.Conv1D(4, 8, 3, groups=4), L.LocalResponseNorm(3), L.Flatten()])
    s = np.random.default_rng(1).standard_normal((2, 4, 10)).astype(np.float32)
    signal.save(tmp_path / "s.npz")
    np.testing.assert_array_equal(mc.Sequential.load(tmp_path / "s.npz").predict(s), signal.predict(s))


def test_a_file_saved_before_groups_existed_loads_with_groups_1(tmp_path):
    """Files written before Conv2D/Conv1D had ``groups`` have no such key in their config."""
    mc.manual_seed(0)
    model = mc.Sequential([L.Conv2D(1, 2, 3), L.Flatten(), L.ReLU()])
    model.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as npz:
        arrays = dict(npz)
    spec = json.loads(str(arrays["__architecture__"]))
    del spec[0]["config"]["groups"]
    arrays["__architecture__"] = np.array(json.dumps(spec))
    np.savez(tmp_path / "old.npz", **arrays)
    old = mc.Sequential.load(tmp_path / "old.npz")
    assert old.layers[0].groups == 1 and old.architecture() == model.architecture()
    x = np.ones((1, 1, 4, 4), np.float32)
    np.testing.assert_array_equal(old.predict(x), model.predict(x))
