"""minicnn's threads: set and read them, and the results do not depend on how many there are."""
import os
import subprocess
import sys
import threading

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


# ---------------------------------------------------------------------------
# The per-thread switches: skip_init (Sequential.load) and the fast paths
# ---------------------------------------------------------------------------
def _sound(layer):
    """A layer built with its values: writeable weights that are not all zero."""
    w = layer.params["W"]
    return w.data.flags.writeable and w.grad.flags.writeable and w.data.any()


def test_skip_init_in_one_thread_leaves_another_threads_layers_alone():
    """While one thread builds without initial values (as Sequential.load does), a layer
    another thread builds gets its values and trains."""
    from minicnn.layers.base import skip_init
    inside, done, errors = threading.Event(), threading.Event(), []

    def loader():
        with skip_init():
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=loader)
    thread.start()
    try:
        assert inside.wait(10)
        layer = L.Conv2D(3, 4, 3)
        out = layer.forward(np.ones((2, 3, 5, 5), np.float32), training=True)
        layer.backward(np.ones_like(out))
    except Exception as exc:          # the other thread must be let go first
        errors.append(exc)
    finally:
        done.set()
        thread.join()
    assert not errors, errors
    assert _sound(layer) and layer.params["W"].grad.any()


def test_reference_paths_in_one_thread_leave_another_threads_fast_paths_on():
    seen, inside, done = [], threading.Event(), threading.Event()

    def reference():
        with mc.reference_paths():
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=reference)
    thread.start()
    assert inside.wait(10)
    seen.append(mc.paths.fast_paths_enabled())
    done.set()
    thread.join()
    assert seen == [True]


def test_models_loaded_in_several_threads_while_another_builds_layers(tmp_path):
    """Issue 29's concurrent load: threads loading models at once while another builds
    layers, many times; every layer built anywhere has its values, during and after.
    (Python switches threads every 5 ms; switching every 10 us makes the loads overlap:
    with a process-wide switch, most trials then built layers with no values.)"""
    mc.manual_seed(0)
    model = mc.Sequential([L.Conv2D(1, 2, 3), L.BatchNorm(2), *(L.ReLU() for _ in range(20)), L.Flatten(),
                           L.Dense(2 * 4 * 4, 3)])
    path = tmp_path / "m.npz"
    model.save(path)
    want = model.state_dict()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        _load_while_building(path, want)
    finally:
        sys.setswitchinterval(interval)


def _load_while_building(path, want):
    for trial in range(20):
        start, stop, errors, built = threading.Barrier(4), threading.Event(), [], []

        def load():
            try:
                start.wait(10)
                for _ in range(5):
                    got = mc.Sequential.load(path).state_dict()
                    assert all(np.array_equal(got[k], want[k]) for k in want)
            except Exception as exc:
                errors.append(exc)

        def build():
            start.wait(10)
            while not stop.is_set():
                built.append(L.Conv2D(1, 2, 3))

        loaders = [threading.Thread(target=load) for _ in range(3)]
        builder = threading.Thread(target=build)
        for t in (*loaders, builder):
            t.start()
        for t in loaders:
            t.join()
        stop.set()
        builder.join()
        assert not errors, (trial, errors)
        broken = [layer for layer in built if not _sound(layer)]
        assert not broken, f"trial {trial}: {len(broken)} of {len(built)} layers built with no values"
        assert _sound(L.Conv2D(1, 2, 3)), f"trial {trial}: the switch was left on"


def test_npy_headers_are_parsed_under_the_lock(tmp_path, monkeypatch):
    """CPython 3.11's ast is not thread-safe (a load among threads failed with "AST constructor
    recursion depth mismatch"): every ast.literal_eval of a load, minicnn's header check and
    NumPy's reader alike, runs while minicnn.io holds its lock."""
    import ast

    from minicnn import io
    model = mc.Sequential([L.Conv2D(1, 2, 3), L.BatchNorm(2), L.Flatten(), L.Dense(2 * 4 * 4, 3)])
    model.save(tmp_path / "m.npz")
    parsed, literal_eval = [], ast.literal_eval

    def spy(text):
        parsed.append(io._AST_LOCK.locked())
        return literal_eval(text)
    monkeypatch.setattr(ast, "literal_eval", spy)
    mc.Sequential.load(tmp_path / "m.npz")
    assert len(parsed) >= 10 and all(parsed)
