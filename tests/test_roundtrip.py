"""Round trips over random models (tests/random_models.py: every registered layer class,
containers nested, small shapes down to the smallest inputs):

- save -> load gives the same architecture, the same arrays bit for bit, and bit-identical
  outputs, in evaluation and in a training forward (same seed: the same Dropout masks);
- ONNX export -> import: onnxruntime on the file and the imported model give the outputs
  within float32 rounding (1e-5 of the output's scale), or export refuses with a ValueError
  naming the layer by its place ("layer 2.branch1.0 (MaxPool2D): ...") and the reason;
  whatever export writes, import reads.

Then both on the zoo (minicnn.models) at its smallest documented inputs. The failures these
properties found have their own tests, in tests/test_onnx.py and tests/test_branches.py.
"""
import itertools
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_models import models, randomise, unmade_layers

import minicnn as mc
import minicnn.onnx as monnx  # imports without onnx; export and load need it
from minicnn import layers as L

#: The registered layer classes, read when the tests are collected: each property runs once per
#: class, on models whose first layer is of that class (the rest drawn from every class).
CLASSES = sorted(L.REGISTRY)
#: A few hundred models per property: 25 per class with the default profile (100 examples),
#: 250 with "thorough" (``pytest --hypothesis-profile=thorough``); about 20 s each on 2 busy cores.
ROUND_TRIPS = settings(max_examples=max(1, settings().max_examples // 4), deadline=None,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                              HealthCheck.filter_too_much])

_counter = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One folder for the module's files (Hypothesis tests cannot take tmp_path)."""
    return tmp_path_factory.mktemp("roundtrip")


def inputs(model, shape, seed):
    """A batch of 1 to 3 samples in the model's dtype (normal values; a few exact zeros, the
    kinks of ReLU and of max pooling's ties)."""
    rng = np.random.default_rng(seed)
    dtype = next((p.data.dtype for p in model.parameters()), np.dtype(np.float32))
    x = rng.normal(size=(1 + seed % 3, *shape))
    x[rng.random(x.shape) < 0.1] = 0.0
    return x.astype(dtype)


def assert_same_arrays(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert np.array_equal(a[key], b[key], equal_nan=True), key


def training_forward(model, x):
    """The output of a training forward with the generator seeded (Dropout's masks repeat),
    or the error it raises (BatchNorm refuses batch statistics of one value)."""
    mc.manual_seed(99)
    try:
        return model.forward(x, training=True)
    except ValueError as exc:
        return str(exc)


def test_every_registered_layer_is_drawn():
    """A layer added to minicnn.layers.REGISTRY with constructor arguments needs a maker in
    tests/random_models.py; one without arguments is drawn as it is."""
    assert unmade_layers() == []


@pytest.mark.parametrize("first", CLASSES)
@ROUND_TRIPS
@given(data=st.data())
def test_save_then_load_gives_the_same_model(folder, first, data):
    model, shape = data.draw(models(first=first), label="model, input_shape")
    randomise(model, np.random.default_rng(0))
    path = folder / f"model-{next(_counter)}.npz"
    model.save(path)
    back = mc.Sequential.load(path)
    assert back.architecture() == model.architecture()
    assert_same_arrays(back.state_dict(), model.state_dict())
    x = inputs(model, shape, seed=len(model.architecture()))
    expected = model.forward(x)
    got = back.forward(x)
    assert got.dtype == expected.dtype and np.array_equal(got, expected, equal_nan=True)
    ours, theirs = training_forward(model, x), training_forward(back, x)
    assert type(ours) is type(theirs)
    assert ours == theirs if isinstance(ours, str) else np.array_equal(ours, theirs, equal_nan=True)
    assert_same_arrays(back.state_dict(), model.state_dict())        # BatchNorm's statistics moved alike


#: What an export refusal must say first: the layer by its place and class.
NAMED_LAYER = re.compile(r"(input_shape: )?layer [0-9]+(\.[a-z]+[0-9]*\.[0-9]+)* \([A-Za-z0-9_]+\)")


def assert_close(got, expected, what):
    """Equal within float32 rounding: 1e-5 of the output's scale (its largest magnitude)."""
    assert got.shape == expected.shape and got.dtype == expected.dtype, what
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale + 1e-30, err_msg=what)


@pytest.mark.parametrize("first", CLASSES)
@ROUND_TRIPS
@given(data=st.data())
def test_onnx_export_then_import_gives_the_same_outputs(folder, first, data):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, shape = data.draw(models(dtypes=(np.float32,), first=first), label="model, input_shape")
    randomise(model, np.random.default_rng(1))
    path = str(folder / f"model-{next(_counter)}.onnx")
    try:
        monnx.export(model, path, input_shape=shape)
    except ValueError as exc:
        assert NAMED_LAYER.match(str(exc)), f"an export refusal that names no layer: {exc}"
        return
    onnx.checker.check_model(path, full_check=True)
    x = inputs(model, shape, seed=len(model.architecture()))
    expected = model.predict(x)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    assert_close(session.run(None, {"input": x})[0], expected, "onnxruntime")
    back = monnx.load(path)
    assert_close(back.predict(x), expected, "minicnn.onnx.load")


#: The zoo at its smallest documented input (minicnn.models' table), small enough to save here.
SMALLEST = [("lenet5", 1, 32), ("googlenet", 3, 15), ("resnet18", 3, 1), ("se_resnet50", 3, 1), ("mobilenet_v2", 3, 1),
            ("densenet121", 3, 29)]


@pytest.mark.parametrize("name, channels, size", SMALLEST, ids=[name for name, _, _ in SMALLEST])
def test_the_zoo_at_its_smallest_input_round_trips(folder, name, channels, size):
    """Both properties on the models of minicnn.models at their smallest documented input (3 classes)."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    mc.manual_seed(0)
    model = getattr(mc.models, name)(num_classes=3)
    x = np.random.default_rng(3).normal(size=(2, channels, size, size)).astype(np.float32)
    path = folder / f"{name}-{next(_counter)}.npz"
    model.save(path)
    back = mc.Sequential.load(path)
    assert back.architecture() == model.architecture() and np.array_equal(back.predict(x), model.predict(x))
    onnx_path = str(folder / f"{name}-{next(_counter)}.onnx")
    monnx.export(model, onnx_path, input_shape=(channels, size, size))
    expected = model.predict(x)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    assert_close(session.run(None, {"input": x})[0], expected, "onnxruntime")
    assert_close(monnx.load(onnx_path).predict(x), expected, "minicnn.onnx.load")
