"""Devices: ``model.to("cuda")`` and every layer, loss, optimiser and the training loop on it.

Most of this runs without a GPU, on the CuPy stand-in of ``tests/strict_array.py``: the
device "cuda" is then that stand-in, which refuses implicit conversion to NumPy and
host arrays in device arithmetic as CuPy does, and counts every wait for the device. The
tests parametrised by ``device`` run again on a real GPU through CuPy when one is present
and are skipped, saying why, when not.

The list of CuPy's names in tests/data/cupy_names.txt was written with CuPy 14.2.0 by:
``names = dir(cupy) + ["lib.stride_tricks." + n for n in dir(cupy.lib.stride_tricks)] +
["random." + n ...] + ["random.Generator." + n ...] + ["ndarray." + n for n in dir(cupy.ndarray)]``
(names starting with "_" left out).
"""
import copy
import pathlib
import re
import sys
import types

import numpy as np
import pytest
from layer_cases import LAYERS
from strict_array import COUNTS, CUPY_NAMES, HostLeak, StrictArray, copy_of, reset_counts, strict

import minicnn as mc
from minicnn import _rng, devices
from minicnn import layers as L
from minicnn import losses, optim

ROOT = pathlib.Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------
# The devices: the stand-in always, a real GPU when there is one
# ---------------------------------------------------------------------------
def _real_gpu():
    try:
        import cupy
        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:                  # not installed, no driver, no device
        return None


@pytest.fixture
def standin(monkeypatch):
    """The device "cuda" is the CuPy stand-in for the test."""
    monkeypatch.setattr(devices, "_gpu", strict)
    monkeypatch.setattr(_rng, "_device_rngs", {})
    reset_counts()
    return strict


@pytest.fixture(params=["standin", "cuda"])
def gpu(request, monkeypatch):
    """The stand-in, then a real GPU (skipped with the reason when there is none)."""
    if request.param == "standin":
        return request.getfixturevalue("standin")
    cupy = _real_gpu()
    if cupy is None:
        pytest.skip("no CUDA GPU here (CuPy missing or no device): the real-GPU run of this test is skipped; "
                    "benchmarks/bench_gpu.py checks a GPU machine")
    monkeypatch.setattr(devices, "_gpu", cupy)
    monkeypatch.setattr(_rng, "_device_rngs", {})
    return cupy


def host(a):
    """A host copy of an array from either device, without counting it."""
    if isinstance(a, StrictArray):
        return copy_of(a)
    return a if isinstance(a, np.ndarray) else a.get()


def assert_close(got, want, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(host(got), host(want), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# The stand-in itself must be as strict as CuPy (else the tests below prove nothing)
# ---------------------------------------------------------------------------
def test_the_standin_refuses_what_cupy_refuses(standin):
    a = standin.zeros((2, 3))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(HostLeak):
        a + np.ones((2, 3))
    with pytest.raises(HostLeak):
        np.ones((2, 3)) * a
    with pytest.raises(TypeError):
        np.maximum(a, 0)                    # a NumPy ufunc: the library must write xp.maximum
    with pytest.raises(TypeError):
        np.sum(a)
    with pytest.raises(AttributeError, match="cupy has no 'errstate'"):
        standin.errstate                    # NumPy has it, CuPy has not
    float(a.sum())
    assert COUNTS["syncs"] == 1
    assert isinstance(a + 1, StrictArray) and isinstance(a.sum(), StrictArray)


# ---------------------------------------------------------------------------
# Every layer: one training step on the device, no wait for it, the CPU's numbers
# ---------------------------------------------------------------------------
F64 = np.float64
LAYER_IDS = [f"{i}-{type(make()).__name__}" for i, (make, _) in enumerate(LAYERS)]


def test_the_layer_cases_cover_every_registered_layer():
    assert {type(make()).__name__ for make, _ in LAYERS} == set(L.REGISTRY)


def _step(layer, x, g, optimizer):
    out = layer.forward(x, training=True)
    optimizer.zero_grad()
    dx = layer.backward(g)
    optimizer.step()
    return out, dx


@pytest.mark.parametrize("make, shape", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_one_training_step_of_every_layer_stays_on_the_device(make, shape, opt, gpu):
    """Forward, backward and an optimiser step on the device: the CPU's numbers (float64,
    1e-10), and not one wait for the device (no sync, no copy to the host)."""
    r = np.random.default_rng(0)
    x, layer = r.standard_normal(shape), make()
    out_shape = (shape[0], *layer.output_shape(shape[1:]))
    g = r.standard_normal(out_shape)
    on_gpu = copy.deepcopy(layer).to("cuda")
    make_opt = {"sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
                "adam": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3)}[opt]
    cpu_opt, gpu_opt = make_opt(layer.parameters() or [mc.Parameter(np.zeros(1))]), \
        make_opt(on_gpu.parameters() or [mc.Parameter(np.zeros(1))])
    want = [_step(layer, x, g, cpu_opt), _step(layer, x, g, cpu_opt)]   # two: the second uses the state
    xd, gd = devices.to_device(x, "cuda"), devices.to_device(g, "cuda")
    reset_counts()
    got = [_step(on_gpu, xd, gd, gpu_opt), _step(on_gpu, xd, gd, gpu_opt)]
    if gpu is strict:
        assert COUNTS["syncs"] == 0 and COUNTS["to_host"] == 0, COUNTS
    assert on_gpu.device == "cuda" and all(isinstance(a, gpu.ndarray) for step in got for a in step)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        assert_close(a, b)
    for (name, p), q in zip(on_gpu.params.items(), layer.params.values()):
        assert isinstance(p.data, gpu.ndarray) and isinstance(p.grad, gpu.ndarray), name
        assert_close(p.grad, q.grad)
        assert_close(p.data, q.data)
    for (name, buf), want_buf in zip(on_gpu.buffers().items(), layer.buffers().values()):
        assert isinstance(buf, gpu.ndarray), name
        assert_close(buf, want_buf)
    back = on_gpu.to("cpu")
    assert all(isinstance(p.data, np.ndarray) for p in back.params.values())


def test_dropout_draws_its_mask_on_the_device(standin):
    layer = L.Dropout(0.5).to("cuda")
    x = devices.to_device(np.ones((64, 32)), "cuda")
    mc.manual_seed(3)
    reset_counts()
    out = layer.forward(x, training=True)
    dx = layer.backward(devices.to_device(np.ones((64, 32)), "cuda"))
    assert COUNTS["syncs"] == 0 and COUNTS["to_host"] == 0
    values = host(out)
    assert set(np.unique(values)) == {0.0, 2.0} and 0.4 < (values == 0).mean() < 0.6
    np.testing.assert_array_equal(host(dx), values)               # backward uses the same mask
    mc.manual_seed(3)
    np.testing.assert_array_equal(host(layer.forward(x, training=True)), values)   # the seed repeats it


@pytest.mark.parametrize("loss, target", [
    (losses.CrossEntropy(), lambda r: r.integers(0, 5, 6)),
    (losses.CrossEntropy(), lambda r: r.dirichlet(np.ones(5), 6)),
    (losses.MSE(), lambda r: r.standard_normal((6, 5))),
])
def test_the_losses_stay_on_the_device(loss, target, gpu):
    r = np.random.default_rng(1)
    z, t = r.standard_normal((6, 5)), target(r)
    want, want_grad = loss.forward(z, t), loss.backward()
    reset_counts()
    got = loss.forward(devices.to_device(z, "cuda"), devices.to_device(t, "cuda"))
    grad = loss.backward()
    if gpu is strict:
        assert COUNTS["syncs"] == 0 and COUNTS["to_host"] == 0
    assert isinstance(got, gpu.ndarray) and got.ndim == 0          # PyTorch's 0-d tensor, not a float
    assert float(got) == pytest.approx(want, rel=1e-12)
    assert_close(grad, want_grad)


def test_gradient_checks_run_on_the_device(gpu):
    layer = L.Conv2D(2, 3, 3, padding=1, stride=2, dtype=F64).to("cuda")
    x = devices.to_device(np.random.default_rng(2).standard_normal((2, 2, 5, 5)), "cuda")
    errors = mc.gradcheck.check_layer(layer, x)
    assert max(errors.values()) < 1e-6, errors


# ---------------------------------------------------------------------------
# The training loop: host data in, batches moved, host numbers out
# ---------------------------------------------------------------------------
def _net(dropout=0.0):
    mc.manual_seed(0)
    return mc.Sequential([L.Conv2D(1, 4, 3, padding=1, dtype=F64), L.BatchNorm(4, dtype=F64), L.ReLU(),
                          L.MaxPool2D(2), L.Dropout(dropout), L.Flatten(), L.Dense(4 * 4 * 4, 3, dtype=F64)])


def _data(n=48):
    r = np.random.default_rng(5)
    x = r.standard_normal((n, 1, 8, 8))
    y = (x[:, 0, :4].sum(axis=(1, 2)) > 0).astype(np.int64) + (x[:, 0, 4:].sum(axis=(1, 2)) > 2)
    return x, y


class _SyncsPerBatch(mc.training.Callback):
    """The stand-in's count of waits after every batch."""

    def __init__(self):
        self.counts = []

    def on_batch_end(self, batch, logs):
        self.counts.append(COUNTS["syncs"] + COUNTS["to_host"])


@pytest.mark.parametrize("whole_set", [True, False], ids=["set-moved-once", "batch-by-batch"])
def test_fit_evaluate_predict_on_the_device_give_the_cpus_results(standin, whole_set, monkeypatch):
    if not whole_set:             # a data set larger than a quarter of the GPU's free memory
        monkeypatch.setattr(devices, "gpu_free_bytes", lambda: 1000)
        monkeypatch.setattr(mc.training, "gpu_free_bytes", lambda: 1000)
    x, y = _data()
    cpu, dev = _net(), _net().to("cuda")
    loss = losses.CrossEntropy()
    kw = dict(epochs=2, batch_size=16, validation_data=(x[:16], y[:16]), progress=False)
    mc.manual_seed(7)
    want = cpu.fit(x, y, loss, optim.SGD(cpu.parameters(), lr=0.1, momentum=0.9), **kw)
    mc.manual_seed(7)
    reset_counts()
    waits = _SyncsPerBatch()
    got = dev.fit(x, y, loss, optim.SGD(dev.parameters(), lr=0.1, momentum=0.9), callbacks=[waits], **kw)
    # no wait inside an epoch's steps: the numbers are fetched at the epoch's end
    assert waits.counts[:3] == [0, 0, 0] and waits.counts[3:] == [waits.counts[3]] * 3, waits.counts
    # the data moved once (plus the order once an epoch), or batch by batch
    assert COUNTS["to_device"] < 20 if whole_set else COUNTS["to_device"] > 2 * 3 * 2, COUNTS
    for key in want.history:
        if key != "seconds":
            np.testing.assert_allclose(got.history[key], want.history[key], rtol=1e-9)
    for key in want.batches:
        assert all(isinstance(v, float) for v in got.batches[key])
        np.testing.assert_allclose(got.batches[key], want.batches[key], rtol=1e-9)
    result = dev.evaluate(x, y, loss)
    assert all(type(v) is float for v in result.values())
    assert result == pytest.approx(cpu.evaluate(x, y, loss), rel=1e-9)
    pred = dev.predict(x, batch_size=20)
    assert isinstance(pred, np.ndarray)
    np.testing.assert_allclose(pred, cpu.predict(x), rtol=1e-9, atol=1e-12)


def test_a_diverging_run_on_the_device_names_its_batch(standin):
    x, y = _data()
    model = _net().to("cuda")
    x[20, 0, 3, 3] = np.nan                  # in the second batch of 16
    with pytest.raises(mc.training.TrainingDiverged, match=r"loss became nan at epoch 1, batch 2 .*epoch's end"):
        model.fit(x, y, losses.CrossEntropy(), optim.SGD(model.parameters(), lr=0.1), batch_size=16,
                  shuffle=False, progress=False)


def test_labels_out_of_range_are_refused_before_the_batch_moves(standin):
    x, y = _data()
    model = _net().to("cuda")
    with pytest.raises(ValueError, match=r"target labels must be in \[0, 3\)"):
        model.fit(x, y + 5, losses.CrossEntropy(), optim.SGD(model.parameters(), lr=0.1), progress=False)


def test_an_optimiser_made_before_the_move_moves_its_state(standin):
    x, y = _data()
    model = _net()
    opt = optim.Adam(model.parameters(), lr=0.01)
    model.fit(x, y, losses.CrossEntropy(), opt, batch_size=16, progress=False)
    model.to("cuda")
    model.fit(x, y, losses.CrossEntropy(), opt, batch_size=16, progress=False)
    assert all(isinstance(a, StrictArray) for a in opt.m + opt.v)
    state = opt.state_dict()
    assert all(isinstance(v, np.ndarray) for k, v in state.items() if k.startswith(("m.", "v.")))
    opt.load_state_dict(state)
    assert all(isinstance(a, StrictArray) for a in opt.m + opt.v)


# ---------------------------------------------------------------------------
# Files from a model on the device: save, load, checkpoints and resume, ONNX
# ---------------------------------------------------------------------------
def test_save_and_load_from_the_device(gpu, tmp_path):
    x, y = _data()
    model = _net().to("cuda")
    model.fit(x, y, losses.CrossEntropy(), optim.SGD(model.parameters(), lr=0.1), progress=False)
    state = model.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    model.save(tmp_path / "m.npz")
    loaded = mc.Sequential.load(tmp_path / "m.npz")
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    loaded.to("cuda").load_state_dict(state)
    assert all(isinstance(a, gpu.ndarray) for a in loaded._state_arrays().values())
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_resume_on_the_device_ends_with_the_uninterrupted_weights(gpu, tmp_path):
    """Dropout included: the device's generator is reseeded from the host's every epoch."""
    x, y = _data()

    def run(epochs, path, resume=False, model=None):
        model = model or _net(dropout=0.3).to("cuda")
        opt = optim.Adam(model.parameters(), lr=0.01)
        model.fit(x, y, losses.CrossEntropy(), opt, epochs=epochs, batch_size=16, checkpoint=str(path),
                  resume=resume, progress=False)
        return model
    mc.manual_seed(11)
    whole = run(3, tmp_path / "a.npz")
    mc.manual_seed(11)
    run(1, tmp_path / "b.npz")
    mc.manual_seed(99)                      # the checkpoint, not this, decides what follows
    _rng._device_rngs.clear()
    resumed = run(3, tmp_path / "b.npz", resume=True)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a, b)


def test_onnx_export_from_the_device(standin, tmp_path):
    pytest.importorskip("onnx")
    import minicnn.onnx
    x, _ = _data(4)
    model = _net().to("cuda")
    # a float64 model: its file is float64 when asked for (onnxruntime's Conv would want float32)
    minicnn.onnx.export(model, str(tmp_path / "m.onnx"), input_shape=(1, 8, 8), dtype=np.float64)
    back = minicnn.onnx.load(str(tmp_path / "m.onnx"))
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# Asking for a GPU that is not there, and mixing devices
# ---------------------------------------------------------------------------
def test_without_cupy_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(devices, "_gpu", None)
    monkeypatch.setitem(sys.modules, "cupy", None)             # import cupy -> ImportError
    with pytest.raises(devices.DeviceError, match=r'minicnn\[gpu\].*cupy-cuda13x'):
        _net().to("cuda")


def test_without_a_gpu_the_error_says_so(monkeypatch):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setattr(devices, "_gpu", None)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(devices.DeviceError, match="found no usable CUDA GPU.*cudaErrorNoDevice"):
        mc.Sequential([L.ReLU()]).to("cuda")
    fake.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(devices.DeviceError, match="has no CUDA GPU"):
        L.Dense(2, 2).to("cuda")


@pytest.mark.parametrize("device, error", [("gpu", ValueError), ("cuda:1", ValueError), (0, TypeError),
                                           (None, TypeError), ("CPU", ValueError)])
def test_a_device_name_is_checked(device, error):
    with pytest.raises(error, match="device"):
        _net().to(device)


def test_arrays_on_the_wrong_device_are_named(standin):
    model = _net().to("cuda")
    with pytest.raises(TypeError, match=r"x is on the CPU .* Conv2D's parameters are on the GPU.*to_device"):
        model.forward(np.zeros((2, 1, 8, 8)))
    out = model.forward(devices.to_device(np.zeros((2, 1, 8, 8)), "cuda"), training=True)
    with pytest.raises(TypeError, match="grad_out is on the CPU"):
        model.backward(np.zeros(out.shape))
    with pytest.raises(TypeError, match="target is on the CPU"):
        losses.CrossEntropy().forward(out, np.zeros(2, np.int64))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray .*move each batch"):
        model.fit(devices.to_device(np.zeros((2, 1, 8, 8)), "cuda"), np.zeros(2, np.int64),
                  losses.CrossEntropy(), optim.SGD(model.parameters(), lr=0.1))


def test_a_new_head_joins_the_model_on_its_device(standin):
    model = _net().to("cuda")
    model[:-1].append(L.Dense(64, 5, dtype=F64))
    assert model.device == "cuda" and isinstance(model.layers[-1].params["W"].data, StrictArray)


# ---------------------------------------------------------------------------
# The source: every xp.name is CuPy's; one place chooses the paths
# ---------------------------------------------------------------------------
def _sources():
    return sorted((ROOT / "minicnn").rglob("*.py"))


def test_every_array_module_name_the_library_uses_exists_in_cupy():
    """``xp.name`` / ``array_module(...).name`` / ``xp.lib.stride_tricks.name``: CuPy has each
    (the stand-in enforces it where the tests reach; this covers every line)."""
    used = set()
    for path in _sources():
        text = path.read_text()
        used |= {(path.name, m) for m in re.findall(r"\bxp\.([A-Za-z_][\w.]*)", text)}
        used |= {(path.name, m) for m in re.findall(r"array_module\([^()]*\)\.([A-Za-z_]\w*)", text)}
    assert len(used) > 30
    missing = sorted((f, name) for f, name in used if name not in CUPY_NAMES)
    assert not missing, missing


def test_the_core_imports_no_cupy():
    import subprocess
    code = "import sys, minicnn, minicnn.models, minicnn.training; print(sorted(m for m in sys.modules if 'cupy' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_max_pool_routes_nan_windows_as_the_cpu_does(standin):
    """The GPU always runs the NaN routing (asking whether a NaN is there would wait for it)."""
    r = np.random.default_rng(4)
    x = r.standard_normal((2, 3, 6, 6))
    x[r.random(x.shape) < 0.2] = np.nan
    for layer in (L.MaxPool2D(2), L.MaxPool2D(3, 1, padding=1)):
        on_gpu = copy.deepcopy(layer).to("cuda")
        want = layer.forward(x, training=True)
        want_dx = layer.backward(np.ones(want.shape))
        out = on_gpu.forward(devices.to_device(x, "cuda"), training=True)
        dx = on_gpu.backward(devices.to_device(np.ones(out.shape), "cuda"))
        np.testing.assert_array_equal(host(out), want)
        np.testing.assert_array_equal(host(dx), want_dx)
        assert np.isnan(want).any() and (want_dx[np.isnan(x)] > 0).any()     # NaN windows route to a NaN


def test_metrics_take_device_arrays_and_answer_on_the_host(standin):
    r = np.random.default_rng(6)
    scores, labels = r.standard_normal((40, 4)), r.integers(0, 4, 40)
    on_gpu = [devices.to_device(a, "cuda") for a in (labels, scores)]
    assert mc.metrics.accuracy(*on_gpu) == mc.metrics.accuracy(labels, scores)
    assert mc.metrics.top_k_accuracy(*on_gpu, k=2) == mc.metrics.top_k_accuracy(labels, scores, k=2)
    np.testing.assert_array_equal(mc.metrics.confusion_matrix(*on_gpu), mc.metrics.confusion_matrix(labels, scores))
    assert mc.metrics.classification_report(*on_gpu) == mc.metrics.classification_report(labels, scores)


def test_a_parameter_can_be_made_from_a_device_array(standin):
    p = mc.Parameter(devices.to_device(np.ones((2, 3)), "cuda"))
    assert isinstance(p.data, StrictArray) and isinstance(p.grad, StrictArray)
    p.accumulate(devices.to_device(np.full((2, 3), 2.0), "cuda"))
    np.testing.assert_array_equal(host(p.grad), np.full((2, 3), 2.0))


@pytest.mark.parametrize("device", ["gpu", "cuda:1", 1, None, b"cuda"])
def test_to_device_checks_the_device(device, standin):
    with pytest.raises((TypeError, ValueError), match="device"):
        devices.to_device(np.zeros(2), device)


def test_feature_maps_and_filters_of_a_model_on_the_device(standin):
    import matplotlib.pyplot as plt
    model = _net().to("cuda")
    x = np.random.default_rng(0).random((1, 8, 8))
    for fig in (mc.viz.plot_feature_maps(model, x), mc.viz.plot_feature_maps(model, devices.to_device(x, "cuda")),
                mc.viz.plot_filters(model[0])):
        assert fig.axes
        plt.close(fig)


# ---------------------------------------------------------------------------
# Every geometry: the GPU's path (the references) against the CPU's (the fast paths)
# ---------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from test_gradients import conv_cases, make_conv, pool_cases, seeds  # noqa: E402

_ANY_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _device_matches_cpu(layer, x, seed):
    """One training forward and backward on the device: the CPU's numbers (1e-10), no wait."""
    g = np.random.default_rng(seed).standard_normal((len(x), *layer.output_shape(x.shape[1:])))
    on_gpu = copy.deepcopy(layer).to("cuda")
    want = (layer.forward(x, training=True), layer.backward(g))
    xd, gd = devices.to_device(x, "cuda"), devices.to_device(g, "cuda")
    reset_counts()
    got = (on_gpu.forward(xd, training=True), on_gpu.backward(gd))
    assert COUNTS["syncs"] == 0 and COUNTS["to_host"] == 0, COUNTS
    for a, b in zip(got, want):
        assert_close(a, b)
    for p, q in zip(on_gpu.params.values(), layer.params.values()):
        assert_close(p.grad, q.grad)


@_ANY_FIXTURE
@given(case=conv_cases(), seed=seeds)
def test_every_convolution_geometry_on_the_device(standin, case, seed):
    x = np.random.default_rng(seed).standard_normal((case["n"], case["c_in"], case["h"], case["w"]))
    _device_matches_cpu(make_conv(case), x, seed)


@_ANY_FIXTURE
@given(case=pool_cases(), seed=seeds)
def test_every_pooling_geometry_on_the_device(standin, case, seed):
    x = np.random.default_rng(seed).standard_normal((case["n"], case["c"], case["h"], case["w"]))
    for layer in (L.MaxPool2D(case["kernel_size"], case["stride"], case["padding"], ceil_mode=case["ceil_mode"]),
                  L.AvgPool2D(case["kernel_size"], case["stride"], case["padding"], case["count_include_pad"],
                              ceil_mode=case["ceil_mode"])):
        _device_matches_cpu(layer, x, seed)
