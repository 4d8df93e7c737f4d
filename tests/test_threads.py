"""minicnn's threads: set and read them, and the results do not depend on how many there are."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import layers as L
from minicnn import threads


@pytest.fixture
def restore_threads():
    before = mc.get_num_threads()
    yield
    mc.set_num_threads(before)


def run_network(seed=0):
    """Outputs, input gradient, parameter gradients and running statistics of a small CNN step."""
    mc.manual_seed(seed)
    model = mc.Sequential([
        L.Conv2D(3, 8, 3, padding=1), L.BatchNorm(8), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(8, 16, 3, padding=1), L.ReLU(), L.MaxPool2D(3, 2, padding=1),
        L.Conv2D(16, 8, 3, stride=2, padding="same"), L.AvgPool2D(2, padding="same"), L.Flatten(), L.Dense(32, 10)])
    x = np.random.default_rng(seed).random((37, 3, 20, 20)).astype(np.float32)   # 37: chunks of unequal size
    out = model.forward(x, training=True)
    loss = mc.losses.CrossEntropy()
    loss.forward(out, np.arange(37) % 10)
    dx = model.backward(loss.backward())
    return [out, dx, *(p.grad for p in model.parameters()), *model.named_buffers().values()]


def test_the_same_threads_give_the_same_bits(restore_threads):
    mc.set_num_threads(2)
    np.testing.assert_array_equal(np.concatenate([a.ravel() for a in run_network()]),
                                  np.concatenate([a.ravel() for a in run_network()]))


def test_blas_threads_change_results_by_rounding_only(restore_threads):
    """OpenBLAS orders some sums of a product by its thread count: float32 rounding, no more."""
    if threads.blas_threads() is None:
        pytest.skip("NumPy's BLAS threads cannot be set here")
    mc.set_num_threads(1)
    one = run_network()
    mc.set_num_threads(2)
    two = run_network()
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(a).max())))


def test_set_and_get(restore_threads):
    before = mc.get_num_threads()
    assert mc.set_num_threads(3) == before and mc.get_num_threads() == 3
    if threads.blas_threads() is not None:
        assert threads.blas_threads() == 3
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (None, TypeError),
                       (True, TypeError)):
        with pytest.raises(error, match="n must"):
            mc.set_num_threads(bad)
    assert mc.get_num_threads() == 3


@pytest.mark.parametrize("value, ok", [("2", True), ("1", True), ("0", False), ("many", False)])
def test_the_environment_variable(value, ok):
    code = "import minicnn; from minicnn import threads; print(minicnn.get_num_threads(), threads.blas_threads())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, MINICNN_NUM_THREADS=value))
    if ok:
        got, blas = run.stdout.split()
        assert run.returncode == 0 and got == value and blas in (value, "None"), run.stderr
    else:
        assert run.returncode != 0 and "MINICNN_NUM_THREADS" in run.stderr
