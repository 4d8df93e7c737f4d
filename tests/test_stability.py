"""Numerical stability: extreme inputs give exact answers, never a warning or a NaN.

The suite runs with warnings as errors (setup.cfg: ``filterwarnings = error``),
so an overflow in ``exp``, a division by zero or an invalid value in any of
these calls fails the test even where the numbers come out right.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from minicnn import functional as F
from minicnn import layers as L
from minicnn import losses

FLOATS = [np.float16, np.float32, np.float64]


def test_the_suite_turns_warnings_into_errors(pytestconfig):
    assert "error" in pytestconfig.getini("filterwarnings")


def reference_log_softmax(z):
    """log softmax in float64 with logaddexp: the slow, obviously right way (shifted by
    the max first, or float64 itself loses the digits of logits near 1e11)."""
    z = z.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


# ---------------------------------------------------------------------------
# Softmax and cross-entropy
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy_is_exact_for_logits_of_1e4(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype)
    ce = losses.CrossEntropy()
    assert ce(logits, np.array([0, 1])) == pytest.approx((0.0 + np.log(2)) / 2, rel=1e-6)
    grad = ce.backward()
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, np.array([[0, 0, 0], [0, -0.25, 0.25]]), atol=1e-7)
    # the wrong class costs exactly the logit gap
    assert ce(logits, np.array([1, 0])) == pytest.approx((2e4 + 2e4 + np.log(2)) / 2, rel=1e-6)
    assert np.isfinite(ce.backward()).all()


@given(dtype=st.sampled_from(FLOATS), data=st.data())
def test_cross_entropy_matches_a_float64_reference_at_any_scale(dtype, data):
    n, c = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 6))
    bound = float(np.finfo(dtype).max) / 4 if dtype != np.float16 else 1e4
    logits = data.draw(hnp.arrays(dtype, (n, c), elements=st.floats(-bound, bound, width=np.finfo(dtype).bits)))
    labels = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    ce = losses.CrossEntropy()
    value = ce(logits, labels)
    logp = reference_log_softmax(logits)
    expected = -logp[np.arange(n), labels].mean()
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-5, abs=1e-6)
    grad = ce.backward()
    onehot = np.eye(c)[labels]
    np.testing.assert_allclose(grad, (np.exp(logp) - onehot) / n, atol=2 * float(np.finfo(dtype).eps))


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_is_exact_for_logits_of_1e4(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    for y in (F.softmax(z, axis=1), L.Softmax()(z)):
        assert y.dtype == dtype
        np.testing.assert_array_equal(y[0], [1, 0, 0])
        np.testing.assert_allclose(y[1], [1 / 3] * 3, rtol=1e-3)
    logp = F.log_softmax(z, axis=1)
    np.testing.assert_array_equal(logp[0], np.array([0, -2e4, -1e4], dtype=dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_layer_backward_stays_finite_when_saturated(dtype):
    layer = L.Softmax()
    y = layer.forward(np.array([[1e4, -1e4, 0.0]], dtype=dtype), training=True)
    g = layer.backward(np.array([[1.0, 2.0, 3.0]], dtype=dtype))
    assert g.dtype == dtype and np.isfinite(g).all()
    np.testing.assert_array_equal(y, [[1, 0, 0]])


# ---------------------------------------------------------------------------
# Sigmoid and tanh
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_of_plus_minus_1e4_is_exactly_0_and_1(dtype):
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype)
    layer = L.Sigmoid()
    for y in (F.sigmoid(x), layer.forward(x, training=True)):
        assert y.dtype == dtype
        assert y[0] == 0 and y[-1] == 1 and y[2] == 0.5
        assert np.all(np.diff(y) >= 0)
    g = layer.backward(np.ones_like(x))
    assert g.dtype == dtype and np.isfinite(g).all() and g[0] == 0 and g[-1] == 0


@given(x=hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e300, 1e300)))
def test_sigmoid_matches_its_definition_wherever_exp_does_not_overflow(x):
    y = F.sigmoid(x)
    assert np.all((y >= 0) & (y <= 1))
    safe = np.abs(x) < 700
    np.testing.assert_allclose(y[safe], 1 / (1 + np.exp(-x[safe])), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", FLOATS)
def test_tanh_of_plus_minus_1e4(dtype):
    layer = L.Tanh()
    y = layer.forward(np.array([-1e4, 1e4], dtype=dtype), training=True)
    np.testing.assert_array_equal(y, [-1, 1])
    np.testing.assert_array_equal(layer.backward(np.ones(2, dtype)), [0, 0])


# ---------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 1, 1), (8, 3, 4, 4)])
def test_batchnorm_on_a_constant_channel_outputs_beta_and_a_zero_gradient(dtype, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    x[:, 1] = 7.25                                      # zero variance in channel 1
    bn = L.BatchNorm(3, dtype=dtype)
    bn.params["beta"].data[:] = [0.5, -2.0, 3.0]
    y = bn.forward(x, training=True)
    assert y.dtype == dtype and np.isfinite(y).all()
    np.testing.assert_allclose(y[:, 1], -2.0, atol=1e-3)
    dy = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    dx = bn.backward(dy)
    assert dx.dtype == dtype and np.isfinite(dx).all()
    # with var = 0, y = (x - mean) / sqrt(eps): dx = (dy - mean(dy)) / sqrt(eps), as in PyTorch
    dy1 = dy[:, 1].astype(np.float64)
    np.testing.assert_allclose(dx[:, 1].astype(np.float64), (dy1 - dy1.mean()) / np.sqrt(1e-5),
                               rtol=2e-2, atol=2e-2 * np.abs(dy1).max() / np.sqrt(1e-5))
    assert np.all(bn.running_var >= 0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_batchnorm_with_a_batch_of_two(dtype):
    x = np.array([[1.0, -3.0], [5.0, -3.5]], dtype=dtype)
    bn = L.BatchNorm(2, dtype=dtype)
    y = bn.forward(x, training=True)
    # two values per channel normalise to -1 and +1 (up to eps)
    np.testing.assert_allclose(y, [[-1, 1], [1, -1]], rtol=1e-2)
    dx = bn.backward(np.ones_like(x))
    np.testing.assert_allclose(dx, 0, atol=1e-3)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * np.array([8.0, 0.125]), rtol=1e-3)


def test_batchnorm_float16_statistics_do_not_overflow():
    # 64 * 28 * 28 = 50176 values per channel: their sum of squares passes float16's 65504
    x = (np.random.default_rng(0).standard_normal((64, 2, 28, 28)) * 30 + 100).astype(np.float16)
    bn = L.BatchNorm(2, dtype=np.float16)
    y = bn.forward(x, training=True)
    assert y.dtype == np.float16 and np.isfinite(y).all()
    assert abs(float(y.astype(np.float64).mean())) < 1e-2
    assert float(y.astype(np.float64).std()) == pytest.approx(1.0, rel=1e-2)
    assert np.isfinite(bn.backward(np.ones_like(y))).all()


# ---------------------------------------------------------------------------
# Optimisers: zero and huge gradients
# ---------------------------------------------------------------------------
def run(opt_cls, dtype, grad, steps=3, **kw):
    p = mc.Parameter(np.ones(4, dtype))
    opt = opt_cls([p], **kw)
    for _ in range(steps):
        p.grad[...] = grad
        opt.step()
    return p.data


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("opt_cls, kw", [
    (mc.optim.SGD, dict(lr=0.1)), (mc.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (mc.optim.Adam, dict(lr=0.1)), (mc.optim.Adam, dict(lr=0.1, weight_decay=0.0))])
def test_zero_gradients_leave_the_parameters_alone(opt_cls, kw, dtype):
    out = run(opt_cls, dtype, 0.0, **kw)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, 1.0)          # float16 Adam used to give 0/0 = NaN here


@pytest.mark.parametrize("dtype, huge", [(np.float16, 1e4), (np.float32, 1e18), (np.float64, 1e150)])
def test_adam_steps_about_lr_whatever_the_gradient_scale(dtype, huge):
    # Adam is scale invariant: a constant gradient g moves each weight by lr per step
    for g in (huge, -huge, 1e-3 * huge):
        out = run(mc.optim.Adam, dtype, g, steps=3, lr=0.1)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, 1 - 0.3 * np.sign(g), rtol=2e-3)


@pytest.mark.parametrize("dtype, huge", [(np.float16, 1e3), (np.float32, 1e30), (np.float64, 1e300)])
def test_sgd_with_huge_gradients_is_exact(dtype, huge):
    out = run(mc.optim.SGD, dtype, huge, steps=2, lr=0.1, momentum=0.5)
    # v1 = g, v2 = 1.5 g: p = 1 - 0.1 (g + 1.5 g)
    np.testing.assert_allclose(out, 1 - 0.25 * dtype(huge), rtol=1e-3)


@pytest.mark.parametrize("opt_cls", [mc.optim.SGD, mc.optim.Adam])
@pytest.mark.parametrize("dtype", FLOATS)
def test_an_update_that_overflows_is_a_clear_error_not_inf_weights(opt_cls, dtype):
    if opt_cls is mc.optim.Adam and dtype == np.float16:
        pytest.skip("float16 Adam keeps its moments in float32, where 65504^2 fits")
    huge = float(np.finfo(dtype).max)
    p = mc.Parameter(np.ones(3, dtype))
    opt = opt_cls([p], lr=10.0, **({"momentum": 0.9} if opt_cls is mc.optim.SGD else {}))
    p.grad[...] = huge
    with pytest.raises(RuntimeError, match=r"params\[0\].*overflows.*lower the learning rate"):
        for _ in range(3):
            opt.step()


def test_fit_reports_an_overflowing_update_as_divergence_at_its_batch():
    mc.manual_seed(0)
    model = mc.Sequential([L.Dense(2, 2)])
    x = np.full((8, 2), 1e30, np.float32)          # finite logits and gradients, ~1e29
    y = np.argmin(model.predict(x), axis=1)          # the wrong class: a large loss
    opt = mc.optim.SGD(model.parameters(), lr=1e10)  # but lr * grad > 3.4e38
    with pytest.raises(mc.training.TrainingDiverged, match=r"overflows.*batch 1\)"):
        model.fit(x, y, losses.CrossEntropy(), opt, epochs=1, batch_size=4, progress=False)


# ---------------------------------------------------------------------------
# MSE
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, err", [(np.float16, 6e4), (np.float32, 1e20), (np.float32, 3e38),
                                        (np.float64, 1e150)])
def test_mse_with_large_errors(dtype, err):
    pred = np.full((2, 3), err, dtype)
    target = np.full((2, 3), -err, dtype) if dtype != np.float16 else np.zeros((2, 3), dtype)
    gap = float(pred[0, 0]) - float(target[0, 0])
    mse = losses.MSE()
    assert mse(pred, target) == pytest.approx(gap ** 2, rel=1e-6)
    grad = mse.backward()
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad.astype(np.float64), 2 * gap / 6, rtol=1e-3)
