"""Transfer learning: freezing (requires_grad, trainable), a frozen BatchNorm, backward that
stops at the first trainable layer, new heads, and the optimisers' parameter groups."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import layers as L
from minicnn import optim
from minicnn.gradcheck import check_layer


def blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.standard_normal((n, 1, 6, 6)) + y[:, None, None, None]).astype(np.float32)
    return x, y


def small_cnn(seed=0, dtype=np.float32):
    mc.manual_seed(seed)
    return mc.Sequential([
        L.Conv2D(1, 4, 3, padding=1, dtype=dtype), L.BatchNorm(4, dtype=dtype), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(4, 6, 3, padding=1, dtype=dtype), L.ReLU(), L.Flatten(),
        L.Dense(6 * 3 * 3, 8, dtype=dtype), L.ReLU(), L.Dense(8, 3, dtype=dtype)])


def snapshot(params):
    return [p.data.copy() for p in params]


# ---------------------------------------------------------------------------
# Freezing
# ---------------------------------------------------------------------------
def test_frozen_body_is_unchanged_by_fit_and_the_head_learns():
    x, y = blobs()
    model = small_cnn()
    for layer in model[:-1]:                      # a slice shares the layers: this freezes them
        layer.trainable = False
    body, head = snapshot(model[:-1].parameters()), snapshot(model[-1].parameters())
    running = model[1].running_mean.copy(), model[1].running_var.copy()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=2, batch_size=16, progress=False)
    for before, p in zip(body, model[:-1].parameters()):
        np.testing.assert_array_equal(p.data, before)        # bit for bit
        assert not p.grad.any()                               # no gradient reached them
    assert all(not np.array_equal(b, p.data) for b, p in zip(head, model[-1].parameters()))
    np.testing.assert_array_equal(model[1].running_mean, running[0])   # a frozen BatchNorm keeps them
    np.testing.assert_array_equal(model[1].running_var, running[1])


def test_trainable_on_layers_containers_and_models():
    model = small_cnn()
    assert model.trainable and all(layer.trainable for layer in model)
    model.trainable = False
    assert not model.trainable and not any(p.requires_grad for p in model.parameters())
    assert not model[2].trainable                      # a layer without parameters says what was set
    model[-1].trainable = True
    assert model.trainable and [p.requires_grad for p in model.parameters()][-2:] == [True, True]
    model.trainable = True
    assert all(p.requires_grad for p in model.parameters())
    # a Residual's branches (and the BatchNorm inside) follow it
    res = L.Residual([L.Conv2D(2, 2, 3, padding=1), L.BatchNorm(2)], [L.Conv2D(2, 2, 1)])
    res.trainable = False
    assert not res.trainable and not any(p.requires_grad for p in res.parameters())
    assert not res.block[1].trainable and not res.shortcut[0].trainable
    # per parameter, PyTorch's way: trainable reads "any parameter trainable"
    dense = L.Dense(2, 2)
    dense.params["W"].requires_grad = False
    assert dense.trainable
    dense.params["b"].requires_grad = False
    assert not dense.trainable
    assert "requires_grad=False" in repr(dense.params["W"])


@pytest.mark.parametrize("value", [0, 1, "no", None, np.array([True])])
def test_trainable_and_requires_grad_must_be_bools(value):
    with pytest.raises(TypeError, match="trainable must be True or False"):
        L.Dense(2, 2).trainable = value
    with pytest.raises(TypeError, match="trainable must be True or False"):
        small_cnn().trainable = value
    with pytest.raises(TypeError, match="requires_grad must be True or False"):
        mc.Parameter(np.zeros(2, np.float32)).requires_grad = value


def test_trainable_is_not_saved_with_the_model(tmp_path):
    model = small_cnn()
    model[:-1].trainable = False
    model.save(tmp_path / "m.npz")
    again = mc.Sequential.load(tmp_path / "m.npz")
    assert all(p.requires_grad for p in again.parameters())     # as PyTorch's state_dict: set it again
    assert again.architecture() == model.architecture()


def test_a_frozen_parameter_gets_no_gradient():
    p = mc.Parameter(np.ones(3, np.float32))
    p.requires_grad = False
    p.accumulate(np.ones(3))
    assert not p.grad.any()
    with pytest.raises(ValueError, match="shape"):           # still checked
        p.accumulate(np.ones(4))


# ---------------------------------------------------------------------------
# A frozen BatchNorm: Keras's inference mode
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5, 5)])
def test_frozen_batchnorm_uses_and_keeps_its_running_statistics(shape):
    rng = np.random.default_rng(0)
    bn = L.BatchNorm(3)
    bn.running_mean = rng.standard_normal(3).astype(np.float32)
    bn.running_var = rng.uniform(0.5, 2, 3).astype(np.float32)
    bn.params["gamma"].data[...] = rng.uniform(0.5, 2, 3)
    before = bn.running_mean.copy(), bn.running_var.copy()
    x = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    bn.trainable = False
    out = bn.forward(x, training=True)
    np.testing.assert_array_equal(out, bn.forward(x, training=False))   # the eval-mode output, bit for bit
    np.testing.assert_array_equal(bn.running_mean, before[0])
    np.testing.assert_array_equal(bn.running_var, before[1])
    bn.forward(x[:1], training=True)             # batch statistics of one sample are not needed now
    bn.forward(x, training=True)
    g = rng.standard_normal(out.shape).astype(np.float32)
    dx = bn.backward(g)
    scale = bn.params["gamma"].data / np.sqrt(bn.running_var + np.float32(1e-5))
    np.testing.assert_allclose(dx, g * scale.reshape((1, 3) + (1,) * (len(shape) - 2)), rtol=1e-6)
    assert not bn.params["gamma"].grad.any() and not bn.params["beta"].grad.any()
    bn.trainable = True                          # unfrozen: batch statistics again, and they move
    bn.forward(x, training=True)
    assert not np.array_equal(bn.running_mean, before[0])


def test_frozen_batchnorm_gradients_match_central_differences():
    """Frozen, the input gradient is that of the fixed affine map; gamma and beta get none.
    (Made trainable again, gamma or beta, it is batch statistics again: see the next test.)"""
    rng = np.random.default_rng(1)
    bn = L.BatchNorm(3, dtype=np.float64)
    bn.running_mean = rng.standard_normal(3)
    bn.running_var = rng.uniform(0.5, 2, 3)
    bn.params["gamma"].data[...] = rng.uniform(0.5, 2, 3)
    bn.trainable = False
    errors = check_layer(bn, rng.standard_normal((4, 3, 3, 3)))
    assert errors["input"] < 1e-7, errors
    x = rng.standard_normal((4, 3, 3, 3))
    bn.forward(x, training=True)
    bn.backward(np.ones((4, 3, 3, 3)))
    assert not bn.params["gamma"].grad.any() and not bn.params["beta"].grad.any()


SETTINGS = {
    "trainable=False": lambda bn: setattr(bn, "trainable", False),
    "trainable=True": lambda bn: setattr(bn, "trainable", True),
    "gamma off": lambda bn: setattr(bn.params["gamma"], "requires_grad", False),
    "gamma on": lambda bn: setattr(bn.params["gamma"], "requires_grad", True),
    "beta off": lambda bn: setattr(bn.params["beta"], "requires_grad", False),
    "beta on": lambda bn: setattr(bn.params["beta"], "requires_grad", True),
}


def test_trainable_and_batchnorm_statistics_follow_one_flag_in_every_order():
    """One flag: ``trainable`` reads the parameters' requires_grad, and a BatchNorm normalises
    by its running statistics in training exactly when it reads False (none of gamma and beta
    learning), whatever the order of setting ``trainable`` and ``requires_grad``: every
    sequence of up to three settings."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 2, 3, 3)).astype(np.float32) * 2 + 1
    orders = [()] + [seq for n in (1, 2, 3) for seq in itertools.product(SETTINGS, repeat=n)]
    for order in orders:
        bn = L.BatchNorm(2)
        model = mc.Sequential([bn])
        for name in order:
            SETTINGS[name](bn)
        learning = bn.params["gamma"].requires_grad or bn.params["beta"].requires_grad
        assert bn.trainable == model.trainable == learning, order
        before = bn.running_mean.copy()
        out = bn.forward(x, training=True)
        on_running = np.array_equal(out, bn.forward(x, training=False))
        moved = not np.array_equal(bn.running_mean, before)
        assert on_running == (not learning) and moved == learning, (order, bn.trainable, on_running, moved)


# ---------------------------------------------------------------------------
# Backward stops at the first trainable layer
# ---------------------------------------------------------------------------
def test_backward_stops_at_the_first_trainable_layer_with_the_same_head_gradients(monkeypatch):
    x, _ = blobs(8)
    model = small_cnn()
    model[:7].trainable = False
    g = np.random.default_rng(2).standard_normal((8, 3)).astype(np.float32)
    model.forward(x, training=True)
    model.backward(g)                                            # every layer, down to dLoss/dx
    full = [p.grad.copy() for p in model[7:].parameters()]
    for p in model.parameters():
        p.zero_grad()
    calls = []
    for i, layer in enumerate(model):
        original = layer._backward
        monkeypatch.setattr(layer, "_backward", lambda g_, ig, i=i, f=original: calls.append((i, ig)) or f(g_, ig))
    model.forward(x, training=True)
    assert model.backward(g, input_grad=False) is None
    assert calls == [(9, True), (8, True), (7, False)]          # the frozen body was not run
    assert all(layer.cache is None for layer in model)           # ... and its caches are freed
    for a, p in zip(full, model[7:].parameters()):
        np.testing.assert_array_equal(p.grad, a)
    with pytest.raises(RuntimeError, match="backward"):
        model[0].backward(np.zeros((8, 4, 6, 6), np.float32))  # freed as a backward would
    # a frozen layer after a trainable one passes the gradient on, and gets none itself
    model.trainable = True
    model[7].trainable = False
    calls.clear()
    for p in model.parameters():
        p.zero_grad()
    model.forward(x, training=True)
    model.backward(g, input_grad=False)
    assert [i for i, _ in calls] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] or \
        [i for i, _ in calls] == [9, 8, 7, 6, 5, 4, 2, 3, 1, 0]       # (ReLU and MaxPool may swap)
    assert not any(p.grad.any() for p in model[7].parameters()) and model[0].params["W"].grad.any()


def test_a_fully_frozen_model_runs_no_backward():
    x, _ = blobs(4)
    model = small_cnn()
    model.trainable = False
    out = model.forward(x, training=True)
    assert model.backward(np.ones_like(out), input_grad=False) is None
    assert not any(p.grad.any() for p in model.parameters())
    model.forward(x, training=True)
    dx = model.backward(np.ones_like(out))                       # an input gradient still flows
    assert dx.shape == x.shape and dx.any()


# ---------------------------------------------------------------------------
# A new head
# ---------------------------------------------------------------------------
def test_replacing_the_head_shares_the_body():
    model = small_cnn()
    new = model[:-1].append(L.Dense(8, 5))
    assert isinstance(new, mc.Sequential) and len(new) == len(model)
    assert all(a is b for a, b in zip(new.layers[:-1], model.layers[:-1]))
    other = mc.Sequential([*model[:-1], L.Dense(8, 5)])
    assert other[0] is model[0]
    x, _ = blobs(3)
    assert new.forward(x).shape == (3, 5) == other.forward(x).shape
    with pytest.raises(TypeError, match="layer must be a minicnn Layer"):
        new.append(lambda x: x)


# ---------------------------------------------------------------------------
# The optimisers: skipping frozen parameters, parameter groups
# ---------------------------------------------------------------------------
def params_with_grads(seed=0, n=4):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p = mc.Parameter(rng.standard_normal((3, 2)).astype(np.float32))
        p.grad[...] = rng.standard_normal((3, 2))
        out.append(p)
    return out


MAKERS = {
    "SGD": lambda params, **kw: optim.SGD(params, **{"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                                     "weight_decay": 1e-2, **kw}),
    "Adam": lambda params, **kw: optim.Adam(params, **{"lr": 0.01, "weight_decay": 1e-2, **kw}),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_optimisers_skip_frozen_parameters(name):
    params = params_with_grads()
    params[1].requires_grad = False
    params[1].grad[...] = 5.0                  # a gradient left there by hand is ignored too
    frozen = params[1].data.copy()
    opt = MAKERS[name](params)
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(params[1].data, frozen)      # no update, no weight decay
    state = opt.state_dict()
    for key in [k for k in state if k.endswith(".1")]:
        assert not state[key].any(), key                        # its state never moved
    assert not np.array_equal(params[0].data, params_with_grads()[0].data)


@pytest.mark.parametrize("name", list(MAKERS))
def test_a_flat_list_equals_one_group_bit_for_bit(name):
    a, b = params_with_grads(), params_with_grads()
    opt_a, opt_b = MAKERS[name](a), MAKERS[name]([{"params": b}])
    for _ in range(3):
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt_a.state_dict().keys() == opt_b.state_dict().keys()


@pytest.mark.parametrize("name", list(MAKERS))
def test_groups_with_their_own_hyperparameters_equal_two_optimisers(name):
    grouped, body, head = params_with_grads(), params_with_grads()[:2], params_with_grads()[2:]
    override = {"lr": 1e-3, "weight_decay": 0.0}
    opt = MAKERS[name]([{"params": grouped[:2], **override}, {"params": grouped[2:]}])
    separate = [MAKERS[name](body, **override), MAKERS[name](head)]
    assert [g["lr"] for g in opt.param_groups] == [1e-3, MAKERS[name](head).lr]
    assert opt.lr == 1e-3 and opt.defaults["lr"] == separate[1].lr
    for _ in range(3):
        opt.step()
        for o in separate:
            o.step()
    for p, q in zip(grouped, body + head):
        np.testing.assert_array_equal(p.data, q.data)


def test_schedules_scale_each_groups_own_lr():
    params = params_with_grads()
    opt = optim.SGD([{"params": params[:2], "lr": 1e-3}, {"params": params[2:]}], lr=1e-2)
    step = optim.StepLR(opt, step_size=2, gamma=0.1)
    for _ in range(2):
        step.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-4, 1e-3])
    assert step.get_last_lr() == pytest.approx([1e-4, 1e-3]) and step.base_lrs == [1e-3, 1e-2]
    opt = optim.SGD([{"params": params[:2], "lr": 1e-3}, {"params": params[2:]}], lr=1e-2)
    for sched, want in [(optim.ExponentialLR(opt, 0.5), [5e-4, 5e-3]),
                        (optim.InverseTimeDecay(opt, 1.0), [5e-4, 5e-3]),
                        (optim.PolynomialDecay(opt, total_steps=2), [5e-4, 5e-3]),
                        (optim.PolynomialDecay(opt, total_steps=2, end_lr=[0.0, 2e-3]), [5e-4, 6e-3])]:
        for g, lr in zip(opt.param_groups, (1e-3, 1e-2)):
            g["lr"] = lr
        sched.base_lrs = [1e-3, 1e-2]
        assert sched.step() == pytest.approx(want[0])          # step() returns the first group's
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(want), type(sched).__name__
    with pytest.raises(ValueError, match="end_lr must be a float or a list of 2"):
        optim.PolynomialDecay(opt, 2, end_lr=[0.0])
    state = sched.state_dict()
    assert state == {"base_lr": [1e-3, 1e-2], "count": 1}
    sched.load_state_dict({"base_lr": [2e-3, 2e-2], "count": 2})
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.0, 2e-3])
    with pytest.raises(ValueError, match="one base_lr per parameter group"):
        sched.load_state_dict({"base_lr": 1e-3, "count": 2})


def test_setting_opt_lr_with_several_groups_names_param_groups():
    params = params_with_grads()
    opt = optim.SGD([{"params": params[:2], "lr": 1e-3}, {"params": params[2:]}], lr=1e-2)
    with pytest.raises(ValueError, match=r"param_groups\[i\]\['lr'\]"):
        opt.lr = 0.5
    flat = optim.SGD(params_with_grads(), lr=1e-2)
    flat.lr = 0.5
    assert flat.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize("name", list(MAKERS))
def test_state_dict_round_trip_with_groups(name):
    params = params_with_grads()
    opt = MAKERS[name]([{"params": params[:1], "lr": 1e-3}, {"params": params[1:], "weight_decay": 0.0}])
    opt.step()
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0], [1, 2, 3]]
    other = MAKERS[name]([{"params": params_with_grads()[:1]}, {"params": params_with_grads()[1:]}])
    other.load_state_dict(state)
    assert other.param_groups[0]["lr"] == 1e-3 and other.param_groups[1]["weight_decay"] == 0.0
    assert other.step_count == 1
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(other.state_dict()[key], value)
    regrouped = MAKERS[name]([{"params": params_with_grads()[:2]}, {"params": params_with_grads()[2:]}])
    before = regrouped.state_dict()
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['params'\].*groups them otherwise"):
        regrouped.load_state_dict(state)
    bad = dict(state, param_groups=[dict(state["param_groups"][0], lr=-1.0), state["param_groups"][1]])
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\] must be in \[0, inf\)"):
        other.load_state_dict(bad)
    assert regrouped.state_dict()["param_groups"] == before["param_groups"]
    with pytest.raises(ValueError, match="missing keys"):
        MAKERS[name](params_with_grads()).load_state_dict(state)     # one group against several


def test_fit_with_groups_and_a_frozen_body_resumes_as_an_uninterrupted_run(tmp_path):
    x, y = blobs()

    def run(epochs, ckpt, resume=False, seed=0):
        model = small_cnn(seed)
        model[:4].trainable = False                      # the first conv block, its BatchNorm included
        opt = optim.SGD([{"params": model[:7].parameters(), "lr": 1e-3},
                         {"params": model[7:].parameters()}], lr=0.05, momentum=0.9)
        sched = optim.ExponentialLR(opt, 0.8)
        hist = model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=epochs, batch_size=16, progress=False,
                         checkpoint=ckpt, resume=resume, callbacks=[sched])
        return model, opt, hist

    full, full_opt, full_hist = run(4, tmp_path / "a.ckpt")
    run(2, tmp_path / "b.ckpt")                               # "interrupted" after 2 epochs
    mc.manual_seed(1234)
    resumed, resumed_opt, resumed_hist = run(4, tmp_path / "b.ckpt", resume=True, seed=99)
    for a, b in zip(full.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert resumed_hist.history["loss"] == full_hist.history["loss"]
    assert [g["lr"] for g in resumed_opt.param_groups] == [g["lr"] for g in full_opt.param_groups]
    assert full_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.8 ** 4)
    np.testing.assert_array_equal(full[0].params["W"].data, small_cnn(0)[0].params["W"].data)


# ---------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("make, exc, match", [
    (lambda p: [{"lr": 1e-3}], ValueError, r"params\[0\] has no 'params' entry"),
    (lambda p: [{"params": p}, {"params": p[:1]}], ValueError, r"params\[1\]\['params'\]\[0\] is also in params\[0\]"),
    (lambda p: [{"params": p, "mom": 0.9}], ValueError, r"params\[0\] has unknown keys \['mom'\]"),
    (lambda p: [{"params": p, "lr": -1}], ValueError, r"params\[0\]\['lr'\] must be in \[0, inf\)"),
    (lambda p: [{"params": p, "lr": "big"}], TypeError, r"params\[0\]\['lr'\] must be a real number"),
    (lambda p: [{"params": p, "nesterov": True}], ValueError, r"params\[0\]\['nesterov'\]=True needs momentum > 0"),
    (lambda p: [{"params": p}, p[0]], TypeError, r"params\[1\] must be a parameter group"),
    (lambda p: {"params": p}, TypeError, "put it in a list"),
    (lambda p: [{"params": []}], ValueError, r"params\[0\]\['params'\]: params is empty"),
    (lambda p: [{"params": [np.zeros(2)]}], TypeError, r"params\[0\]\['params'\]: params\[0\] must be a minicnn Parameter"),
])
def test_bad_parameter_groups_are_refused_naming_the_argument(make, exc, match):
    with pytest.raises(exc, match=match):
        optim.SGD(make(params_with_grads()), lr=0.1)


def test_adam_groups_check_betas_by_name():
    with pytest.raises(ValueError, match=r"params\[0\]\['betas'\]\[1\] must be in \[0, 1\)"):
        optim.Adam([{"params": params_with_grads(), "betas": (0.9, 1.0)}])


@settings(max_examples=40, deadline=None)
@given(lrs=st.lists(st.sampled_from([0.0, 1e-3, 0.1]), min_size=1, max_size=3), frozen=st.integers(0, 7))
def test_any_grouping_and_freezing_equals_one_optimiser_per_trainable_parameter(lrs, frozen):
    """Each parameter moves as a one-parameter SGD of its group's lr would move it, or not at all."""
    params = params_with_grads(n=len(lrs) * 2)
    alone = params_with_grads(n=len(lrs) * 2)
    for i, (p, q) in enumerate(zip(params, alone)):
        p.requires_grad = q.requires_grad = not (frozen >> (i % 3)) & 1
    opt = optim.SGD([{"params": params[2 * g:2 * g + 2], "lr": lr} for g, lr in enumerate(lrs)], lr=1.0, momentum=0.5)
    ones = [optim.SGD([q], lr=lrs[i // 2], momentum=0.5) for i, q in enumerate(alone)]
    for _ in range(2):
        opt.step()
        for o in ones:
            o.step()
    for p, q in zip(params, alone):
        np.testing.assert_array_equal(p.data, q.data)
