"""The pretrained weights that ship with minicnn (minicnn/weights/, minicnn.models.list_weights()):
each set loads offline, matches its SHA-256 and its recorded test accuracy; a damaged or edited
file is refused naming it; unknown names list the shipped ones; a recipe reruns to the same file."""
import configparser
import json
import os
import shutil
import socket
import sys
import time

import numpy as np
import pytest

import minicnn as mc
from minicnn import models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = models.list_weights()
IDS = [f"{r['model']}-{r['name']}" for r in RECORDS]
KEYS = {"model", "name", "dataset", "split", "accuracy", "test_samples", "classes", "input", "input_shape", "file",
        "sha256", "recipe", "params", "seconds"}


def mnist_present():
    folder = os.path.join(os.environ.get("MINICNN_DATA", ""), "mnist")
    return all(any(os.path.isfile(os.path.join(folder, base + ext)) for ext in (".gz", ""))
               for base in mc.data.FILES.values())


needs_mnist = pytest.mark.skipif(not mnist_present(), reason="MNIST is not in $MINICNN_DATA/mnist (CI has it there)")


def pretrain_weights():
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from examples import pretrain_weights
    return pretrain_weights


@pytest.fixture
def offline(monkeypatch):
    """No network: any socket is an error."""
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_three_sets_ship_with_their_records():
    assert [(r["model"], r["name"]) for r in RECORDS] == [("lenet5", "mnist"), ("mnist_cnn", "mnist"),
                                                          ("transfer_cnn", "digits0-4")]
    total = 0
    for r in RECORDS:
        assert set(r) == KEYS, r["model"]
        assert r["model"] in models.MODELS and 0.98 < r["accuracy"] <= 1
        assert os.path.dirname(r["file"]) == models.WEIGHTS_DIR and r["file"].endswith(".npz")
        assert r["recipe"].startswith(f"python examples/pretrain_weights.py {r['model']} {r['name']} --epochs ")
        assert " --seed 0" in r["recipe"] and "--limit" not in r["recipe"]
        assert "float32 in [0, 1]" in r["input"] and r["input"].startswith(f"(N, {r['input_shape'][0]}, ")
        total += os.path.getsize(r["file"])
    assert total < 5 * 2**20, f"the shipped weights take {total / 2**20:.1f} MB"
    assert "padded by 2" in RECORDS[0]["input"] and RECORDS[0]["input_shape"] == [1, 32, 32]
    assert RECORDS[2]["classes"] == ["0", "1", "2", "3", "4"] and RECORDS[2]["test_samples"] == 5139
    assert models.list_weights("lenet5") == RECORDS[:1] and models.list_weights("vgg16") == []


def test_the_package_installs_them():
    """setup.cfg puts minicnn/weights' files into the package (checked by hand with
    ``pip install .`` into a fresh venv: see docs/transfer.md)."""
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    patterns = [p.strip() for p in config["options.package_data"]["minicnn"].split(",")]
    import fnmatch
    for r in RECORDS:
        name = os.path.relpath(r["file"], os.path.join(ROOT, "minicnn"))
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
    assert "weights/weights.json" in patterns


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_each_set_loads_offline_and_matches_its_sha256(record, offline):
    model = models.MODELS[record["model"]](weights=record["name"])
    assert model.num_params() == record["params"]
    assert model.output_shape(tuple(record["input_shape"])) == (len(record["classes"]),)
    saved = mc.Sequential.load(record["file"])                  # the file is a plain minicnn model file
    for a, b in zip(model.parameters(), saved.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert saved.architecture() == model.architecture()
    as64 = models.MODELS[record["model"]](weights=record["name"], dtype=np.float64)
    assert as64.parameters()[0].data.dtype == np.float64


@needs_mnist
@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_each_set_has_its_recorded_accuracy_on_its_test_split(record):
    _, (x_test, y_test) = pretrain_weights().dataset(record["model"], record["name"])
    assert len(y_test) == record["test_samples"]
    model = models.MODELS[record["model"]](weights=record["name"])
    accuracy = model.evaluate(x_test, y_test, mc.losses.CrossEntropy(), batch_size=500)["accuracy"]
    assert abs(accuracy - record["accuracy"]) <= 0.001, (accuracy, record["accuracy"])


@pytest.mark.parametrize("damage", ["a flipped byte", "an edited weight", "cut short"])
def test_a_damaged_or_edited_file_is_refused_naming_it(tmp_path, monkeypatch, damage):
    copy = tmp_path / "weights"
    shutil.copytree(models.WEIGHTS_DIR, copy)
    monkeypatch.setattr(models, "WEIGHTS_DIR", str(copy))
    path = copy / "lenet5_mnist.npz"
    if damage == "a flipped byte":
        blob = bytearray(path.read_bytes())
        blob[len(blob) // 2] ^= 1                            # one bit of one weight: a valid file, other values
        path.write_bytes(bytes(blob))
    elif damage == "an edited weight":
        model = mc.Sequential.load(path)
        model[0].params["b"].data[0] += 0.5
        model.save(path)
    else:
        path.write_bytes(path.read_bytes()[:1000])
    assert models.lenet5(weights=None).num_params() == 61_706     # random weights never read the file
    with pytest.raises(ValueError, match="SHA-256") as info:
        models.lenet5(weights="mnist")
    assert str(path) in str(info.value) and "damaged or was edited" in str(info.value)
    assert "python examples/pretrain_weights.py lenet5 mnist" in str(info.value)
    assert models.mnist_cnn(weights="mnist").num_params() == 421_642      # the other files are fine


def test_unknown_weights_list_the_shipped_ones():
    with pytest.raises(ValueError, match=r"lenet5 has no shipped weights 'imagenet'; its weights: 'mnist'\. "
                                         r"Shipped: lenet5\(weights='mnist'\), mnist_cnn\(weights='mnist'\), "
                                         r"transfer_cnn\(weights='digits0-4'\)"):
        models.lenet5(weights="imagenet")
    with pytest.raises(ValueError, match=r"vgg16 has no shipped weights 'imagenet'; none ship for it.*minicnn\.onnx"):
        models.vgg16(weights="imagenet")
    for name in models.MODELS:
        with pytest.raises(ValueError, match=f"{name} has no shipped weights 'x'"):
            models.MODELS[name](weights="x")
    with pytest.raises(TypeError, match="weights must be None .random weights. or the name"):
        models.mnist_cnn(weights=True)


def test_the_weights_set_the_classes_and_channels():
    model = models.transfer_cnn(weights="digits0-4")
    assert model.output_shape((1, 28, 28)) == (5,) and models.transfer_cnn().output_shape((1, 28, 28)) == (10,)
    assert models.transfer_cnn(weights="digits0-4", num_classes=5, in_channels=1).num_params() == model.num_params()
    with pytest.raises(ValueError, match=r"num_classes=10, but transfer_cnn\(weights='digits0-4'\) has "
                                         r"num_classes=5: leave it out, and replace the head"):
        models.transfer_cnn(weights="digits0-4", num_classes=10)
    with pytest.raises(ValueError, match="in_channels=3, but lenet5"):
        models.lenet5(weights="mnist", in_channels=3)


def test_model_files_have_the_same_bytes_for_the_same_weights(tmp_path, monkeypatch):
    """A file's bytes depend on the model only, not on when it was written: so the SHA-256 of a
    recipe's file names its weights."""
    model = models.lenet5()
    monkeypatch.setattr(time, "time", lambda: 1.0e9)
    model.save(tmp_path / "a.npz")
    monkeypatch.setattr(time, "time", lambda: 1.7e9)
    model.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["0.W"], model[0].params["W"].data)


@needs_mnist
def test_a_recipe_reruns_to_the_same_file(tmp_path):
    script = pretrain_weights()
    argv = ["lenet5", "mnist", "--limit", "640", "--test-limit", "500", "--epochs", "1", "--no-progress"]
    first = script.main([*argv, "--out", str(tmp_path / "one")])
    second = script.main([*argv, "--out", str(tmp_path / "two")])
    assert first["sha256"] == second["sha256"] and first["accuracy"] == second["accuracy"]
    assert first["recipe"] == ("python examples/pretrain_weights.py lenet5 mnist --epochs 1 --batch-size 32 "
                               "--lr 0.05 --seed 0 --limit 640 --test-limit 500")
    assert first["test_samples"] == 500 and first["accuracy"] > 0.5
    with open(tmp_path / "one" / "weights.json") as f:
        assert json.load(f) == [first]
