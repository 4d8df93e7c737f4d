"""Files users keep, two cases tests/test_files.py does not cover (crash-safe saving,
truncated/corrupt/foreign files, pickled payloads and downloads live there):

- an .npy member whose header declares more data than the file holds (2**40
  float64s) is a ValueError naming the file, not an 8 TiB MemoryError, from
  ``Sequential.load``, ``minicnn.io.load_npz`` and checkpoint resume;
- checkpoint metadata that is valid JSON of the wrong types is a ValueError
  naming the file, and the model is left as it was (nothing half-restored).
"""
import json
import zipfile
from io import BytesIO

import numpy as np
import pytest

import minicnn as mc
from minicnn import io
from minicnn import layers as L


def small_model(seed=0, width=2):
    mc.manual_seed(seed)
    return mc.Sequential([L.Conv2D(1, width, 2), L.BatchNorm(width), L.ReLU(), L.Flatten(),
                          L.Dense(width * 4, 3)])


X, Y = np.random.default_rng(0).standard_normal((6, 1, 3, 3)).astype(np.float32), np.arange(6) % 3


def fit_small(model, path, epochs=1, resume=False):
    return model.fit(X, Y, mc.losses.CrossEntropy(), mc.optim.Adam(model.parameters(), lr=0.01),
                     epochs=epochs, batch_size=3, progress=False, checkpoint=path, resume=resume)


def resume_small(path):
    """Resume a 1-epoch run (so nothing trains): ``(model, history)``."""
    model = small_model(seed=9)
    return model, fit_small(model, path, epochs=1, resume=True)


LOADERS = {"Sequential.load": mc.Sequential.load, "io.load_npz": io.load_npz, "resume": resume_small}
SOURCE = {"Sequential.load": "model", "io.load_npz": "model", "resume": "ckpt"}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """Bytes of a saved model and of a 1-epoch checkpoint, and what each holds."""
    folder = tmp_path_factory.mktemp("good")
    model, trained = small_model(), small_model()
    model.save(folder / "model.npz")
    history = fit_small(trained, folder / "run.ckpt")
    return {"model": (folder / "model.npz").read_bytes(), "ckpt": (folder / "run.ckpt").read_bytes(),
            "model_state": model.state_dict(), "npz": io.load_npz(folder / "model.npz"),
            "ckpt_state": trained.state_dict(), "history": history.history}


def assert_refused(loader, path):
    """``loader(path)`` raises ValueError naming ``path``; returns the message."""
    with pytest.raises(ValueError) as info:
        LOADERS[loader](path)
    assert str(path) in str(info.value), str(info.value)
    return str(info.value)


def assert_equal_states(got, expected):
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)



def test_an_npy_header_declaring_more_data_than_the_file_holds_is_refused(tmp_path, good):
    """A member claiming shape (2**40,) float64 (8 TiB): ValueError naming the file,
    not a MemoryError from allocating it; also inside a model file and a checkpoint."""
    buffer = BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (2 ** 40,)})
    member = buffer.getvalue() + bytes(64)
    for loader, source in SOURCE.items():
        path = tmp_path / f"huge-{source}.npz"
        path.write_bytes(good[source])
        with zipfile.ZipFile(path, "a") as z:
            z.writestr("huge.npy", member)
        assert "huge" in assert_refused(loader, path)




META_DAMAGE = {
    "epoch is a string": ("epoch", "0"), "epoch is negative": ("epoch", -5),
    "epoch is a float": ("epoch", 1.5), "epoch is a bool": ("epoch", True),
    "optimizer is a list": ("optimizer", []), "optimizer lacks scalars": ("optimizer", {"class": "Adam"}),
    "optimizer scalars are a list": ("optimizer", {"class": "Adam", "scalars": [1]}),
    "callbacks is a number": ("callbacks", 5), "history is a list": ("history", []),
    "history holds a number": ("history", {"loss": 3}), "loader_rng is empty": ("loader_rng", {}),
    "global_rng is a string": ("global_rng", "x"),
}


@pytest.mark.parametrize("damage", META_DAMAGE)
def test_checkpoint_metadata_of_the_wrong_types_is_refused_and_changes_nothing(tmp_path, good, damage):
    """Valid JSON with a value of the wrong type or range: ValueError naming the file,
    and the model is left as it was (nothing half-restored)."""
    key, value = META_DAMAGE[damage]
    path = tmp_path / "run.ckpt"
    path.write_bytes(good["ckpt"])
    arrays = io.load_npz(path)
    meta = dict(json.loads(str(arrays["__meta__"])), **{key: value})
    io.save_npz(path, dict(arrays, __meta__=np.array(json.dumps(meta))))
    damaged = path.read_bytes()
    model = small_model(seed=9)
    before = model.state_dict()
    with pytest.raises(ValueError) as info:
        fit_small(model, path, epochs=3, resume=True)
    assert str(path) in str(info.value)
    assert_equal_states(model.state_dict(), before)
    assert path.read_bytes() == damaged                    # the checkpoint is left alone


# ---------------------------------------------------------------------------
# 3. Nothing is ever unpickled
# ---------------------------------------------------------------------------
