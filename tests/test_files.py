"""Files users keep: saved models, training checkpoints, downloaded data sets.

The contract, PyTorch/Keras-like:

1. **Crash-safe saving.** ``Sequential.save``, ``ModelCheckpoint`` and the
   training checkpoint of ``fit(checkpoint=...)`` write through
   ``minicnn.io.atomic_write``: the target path always holds a complete file,
   the old version or the new one, never a torn one, even when the writer is
   killed with SIGKILL at any moment (the tests below do exactly that, many
   times, at random moments).
   *Temporary files:* a killed writer cannot clean up, so it leaves its one
   ``.<name>.<random>.tmp`` beside the target (that is what a PyTorch or NumPy
   user would get too, at best). We chose not to let them pile up: the next
   save to the same path removes every such leftover that no live writer holds
   locked (writers keep an ``flock`` on their temporary file until the rename;
   the system drops it when a process dies), so at any time at most one
   temporary file per target exists beside it, the one being written, and
   concurrent writers never lose theirs.
2. **Loading bad files.** A truncated, corrupt or renamed (another format)
   file, or one saved from another model, passed to ``Sequential.load``,
   ``minicnn.io.load_npz`` or resumed with ``fit(checkpoint=..., resume=True)``,
   raises ``ValueError`` naming the file; for another architecture or other
   shapes the message names the first mismatching key and both shapes, and
   ``load_state_dict`` lists missing and unexpected keys. A corruption that
   zip ignores (a timestamp, a local header field) may load, but then gives
   exactly the saved content. A missing file raises ``FileNotFoundError``
   naming it (``resume=True`` then starts from scratch, as documented).
3. **No unpickling, ever.** Object arrays (also hidden in ``__architecture__``
   or ``__meta__``, or in a structured dtype) and pickle files are refused
   with ``ValueError`` before anything is unpickled: a real payload that would
   create a marker file when unpickled never runs.
4. **Downloads never stay unless their checksum matched.** tests/test_data.py
   covers corrupt, cut (short of Content-Length) and wrong-checksum
   downloads; here: a body cut short *without* a Content-Length, and a
   download process killed at random moments (only complete, verified files
   ever appear under their final names).
"""
import gzip
import hashlib
import json
import os
import pathlib
import pickle
import random
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import types
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
# Reused from tests/test_data.py: the search-location fixture (and its autouse
# offline guard), the tiny synthetic dataset and its checks.
from test_data import GOOD_BLOBS, assert_is_good, cache_listing, checksums, offline, places  # noqa: F401

import minicnn as mc
from minicnn import data, io
from minicnn import layers as L

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

TEMP = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]+\.tmp")


def kill_count(default):
    """``default`` kills in the default profile, three times as many in "thorough"."""
    return default if settings().max_examples <= 100 else 3 * default


def temporaries(folder):
    """``{target name: number of temporary files of it}`` beside it in ``folder``."""
    counts = {}
    for name in os.listdir(folder):
        m = TEMP.fullmatch(name)
        if m:
            counts[m["target"]] = counts.get(m["target"], 0) + 1
    return counts


def run_until_killed(args, delay, env=None):
    """Run ``python -c ...args``; once it prints its first line, wait ``delay`` s, SIGKILL it.

    Returns the lines it printed. A child that ended by itself before the kill
    must have ended cleanly.
    """
    with subprocess.Popen([sys.executable, "-c", *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as proc:
        first = proc.stdout.readline()
        if first:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
    assert first, f"the child died before its first report:\n{err}"
    assert proc.returncode in (-signal.SIGKILL, 0), err
    return (first + out).split()


def version(arrays, what):
    """The single value every array of ``arrays`` holds (a torn file would mix two)."""
    values = {float(v) for a in arrays for v in np.unique(a)}
    assert len(values) == 1, f"{what} mixes versions {sorted(values)}"
    return values.pop()


# ---------------------------------------------------------------------------
# 1. Crash-safe saving
# ---------------------------------------------------------------------------
SAVE_LOOP = """
import sys
import minicnn as mc
from minicnn import layers as L
path, k = sys.argv[1], int(sys.argv[2])
model = mc.Sequential([L.Flatten(), L.Dense(4, 512), L.ReLU(), L.Dense(512, 512), L.Dense(512, 3)])
while True:
    for p in model.parameters():
        p.data[...] = k
    model.save(path)
    print(k, flush=True)
    k += 1
"""


def test_sequential_save_survives_sigkill_at_random_moments(tmp_path):
    """A process saving versions 0, 1, 2, ... (a 1 MB model, every weight = k) is
    killed 20 times (60 in "thorough") at random moments; each time the file
    loads, holds one version, the last reported or the one after, and at most
    one temporary file is left."""
    path, rng, start = tmp_path / "model.npz", random.Random(0), 0
    for _ in range(kill_count(20)):
        reported = [int(k) for k in run_until_killed([SAVE_LOOP, path, start], rng.uniform(0, 0.03))]
        model = mc.Sequential.load(path)
        k = version(model.state_dict().values(), str(path))
        assert k in (reported[-1], reported[-1] + 1)
        assert [type(layer).__name__ for layer in model] == ["Flatten", "Dense", "ReLU", "Dense", "Dense"]
        assert temporaries(tmp_path).get("model.npz", 0) <= 1
        start = int(k) + 1
    model.save(path)                                 # the next save removes the leftover
    assert os.listdir(tmp_path) == ["model.npz"]


CHECKPOINT_LOOP = """
import sys
import numpy as np
import minicnn as mc
from minicnn import layers as L
from minicnn.training import Callback, ModelCheckpoint

class Fill(Callback):
    # during epoch e every weight is e / 1024 (lr=0 keeps it); report each checkpoint on disk
    first = None
    def on_epoch_begin(self, epoch, logs):
        if self.first is None:
            self.first = epoch
        else:
            print(epoch - 1, flush=True)
        for p in self.model.parameters():
            p.data[...] = epoch / 1024

ckpt, best = sys.argv[1], sys.argv[2]
model = mc.Sequential([L.Flatten(), L.Dense(4, 256), L.ReLU(), L.Dense(256, 256), L.Dense(256, 3)])
x, y = np.zeros((2, 1, 2, 2), np.float32), np.array([0, 1])
model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.0), epochs=10**9,
          batch_size=2, progress=False, checkpoint=ckpt, resume=True,
          callbacks=[Fill(), ModelCheckpoint(best, monitor="loss", save_best_only=False)])
"""


def checkpoint_model():
    return mc.Sequential([L.Flatten(), L.Dense(4, 256), L.ReLU(), L.Dense(256, 256), L.Dense(256, 3)])


def resume(model, path, epochs, optimizer=None):
    """``fit(resume=True)`` on dummy data: with ``epochs`` = the checkpoint's epoch + 1 it only loads."""
    x, y = np.zeros((2, 1, 2, 2), np.float32), np.array([0, 1])
    optimizer = optimizer or mc.optim.SGD(model.parameters(), lr=0.0)
    return model.fit(x, y, mc.losses.CrossEntropy(), optimizer, epochs=epochs, batch_size=2,
                     progress=False, checkpoint=path, resume=True)


def test_training_checkpoint_survives_sigkill_at_random_moments(tmp_path):
    """``fit(checkpoint=..., resume=True)`` with a ModelCheckpoint, killed 20 times
    (60 in "thorough") at random moments and resumed by the next process: each
    time the checkpoint holds one epoch k (weights k/1024, k+1 history rows),
    the last reported or the one after, and resumes to exactly those weights;
    the ModelCheckpoint file holds epoch k or k+1; at most one temporary file."""
    ckpt, best, rng = tmp_path / "run.ckpt", tmp_path / "best.npz", random.Random(1)
    resumed_from = []
    for _ in range(kill_count(20)):
        reported = [int(k) for k in run_until_killed([CHECKPOINT_LOOP, ckpt, best], rng.uniform(0, 0.03))]
        arrays = io.load_npz(ckpt)
        meta = json.loads(str(arrays["__meta__"]))
        k = meta["epoch"]
        assert k in (reported[-1], reported[-1] + 1)
        assert version([a for key, a in arrays.items() if key.startswith("model/")], str(ckpt)) == k / 1024
        assert len(meta["history"]["loss"]) == k + 1
        assert version(mc.Sequential.load(best).state_dict().values(), str(best)) * 1024 in (k, k + 1)

        model = checkpoint_model()
        history = resume(model, ckpt, epochs=k + 1)      # loads, trains nothing, saves nothing
        assert history.epochs == k + 1
        assert version(model.state_dict().values(), "the resumed model") == k / 1024
        assert sum(temporaries(tmp_path).values()) <= 1
        resumed_from.append(reported[0])
    assert resumed_from == sorted(resumed_from) and resumed_from[-1] > resumed_from[0]   # each run went on
    resume(checkpoint_model(), ckpt, epochs=k + 2)        # one more epoch: one more save, leftovers gone
    mc.Sequential.load(best).save(best)
    assert sorted(os.listdir(tmp_path)) == ["best.npz", "run.ckpt"]


def test_leftover_temporaries_of_dead_writers_are_removed_but_live_ones_kept(tmp_path):
    """The cleanup touches only unlocked ``.<target>.*.tmp`` of the same target."""
    import fcntl
    path = tmp_path / "m.npz"
    dead = tmp_path / ".m.npz.dead1234.tmp"
    live = tmp_path / ".m.npz.live1234.tmp"
    others = [tmp_path / ".m.npz.x.dead1234.tmp", tmp_path / ".other.npz.dead1234.tmp",
              tmp_path / "m.npz.dead1234.tmp", tmp_path / ".m.npz.dead1234.tmp.keep"]
    for p in [dead, live, *others]:
        p.write_bytes(b"half a file")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)             # as a writer does until its rename
        io.save_npz(path, {"a": np.arange(3)})
        assert not dead.exists()
        assert live.exists() and all(p.exists() for p in others)
    np.testing.assert_array_equal(io.load_npz(path)["a"], np.arange(3))
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_concurrent_writers_to_one_path_never_lose_their_file(tmp_path):
    """Four threads saving to the same path: every save succeeds (no writer's
    temporary file is taken for a leftover), the file ends complete, no temporary
    is left."""
    path, errors = tmp_path / "shared.npz", []

    def writer(k):
        try:
            for _ in range(15):
                io.save_npz(path, {"a": np.full(20000, k), "b": np.full(3, k)})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert version(io.load_npz(path).values(), str(path)) in range(4)
    assert os.listdir(tmp_path) == ["shared.npz"]


# ---------------------------------------------------------------------------
# 2. Loading bad files
# ---------------------------------------------------------------------------
def small_model(seed=0, width=2):
    mc.manual_seed(seed)
    return mc.Sequential([L.Conv2D(1, width, 2), L.BatchNorm(width), L.ReLU(), L.Flatten(),
                          L.Dense(width * 4, 3)])


X, Y = np.random.default_rng(0).standard_normal((6, 1, 3, 3)).astype(np.float32), np.arange(6) % 3


def fit_small(model, path, epochs, resume=False):
    optimizer = mc.optim.Adam(model.parameters(), lr=0.01)
    history = model.fit(X, Y, mc.losses.CrossEntropy(), optimizer, epochs=epochs, batch_size=3,
                        progress=False, checkpoint=path, resume=resume)
    return history


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Bytes of a good model file and a good checkpoint (after 1 epoch), and what they hold."""
    folder = tmp_path_factory.mktemp("good")
    model = small_model()
    model.save(folder / "model.npz")
    trained = small_model()
    history = fit_small(trained, folder / "run.ckpt", epochs=1)
    return {"model": (folder / "model.npz").read_bytes(), "model_state": model.state_dict(),
            "ckpt": (folder / "run.ckpt").read_bytes(), "ckpt_state": trained.state_dict(),
            "ckpt_history": history.history, "npz": io.load_npz(folder / "model.npz")}


def load_model(path):
    return mc.Sequential.load(path)


def resume_small(path):
    """Resume a 1-epoch run from ``path`` (so nothing is trained); ``(model, history)``."""
    model = small_model(seed=7)
    history = fit_small(model, path, epochs=1, resume=True)
    return model, history


LOADERS = {"Sequential.load": load_model, "io.load_npz": io.load_npz, "resume": resume_small}


def assert_refused(loader, path, *fragments):
    """``loader(path)`` raises ValueError naming ``path`` (and ``fragments``)."""
    with pytest.raises(ValueError) as info:
        LOADERS[loader](path)
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def assert_same_state(got, expected):
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype and got[key].shape == expected[key].shape, key
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def load_or_refuse(loader, path, saved):
    """Either ValueError naming the file, or exactly the saved content."""
    try:
        result = LOADERS[loader](path)
    except ValueError as exc:
        assert str(path) in str(exc), str(exc)
        return "refused"
    if loader == "Sequential.load":
        assert_same_state(result.state_dict(), saved["model_state"])
    elif loader == "io.load_npz":
        assert_same_state(result, saved["npz"])
    else:
        model, history = result
        assert_same_state(model.state_dict(), saved["ckpt_state"])
        assert history.history == saved["ckpt_history"]
    return "loaded"


def io_arrays(blob, path):
    """The arrays of a good file ``blob`` (written beside ``path``)."""
    good = pathlib.Path(str(path) + ".good")
    good.write_bytes(blob)
    return io.load_npz(good)


SOURCES = {"Sequential.load": "model", "io.load_npz": "model", "resume": "ckpt"}


@pytest.mark.parametrize("loader", LOADERS)
def test_a_file_cut_anywhere_is_refused(tmp_path, saved, loader):
    """A truncated file is a ValueError naming the file: the model file cut at
    every offset (Sequential.load, io.load_npz: 0..3.4 KB); the 10.7 KB
    checkpoint, resumed through fit(), at every 7th offset and every one of the
    last 600 bytes (the zip directory)."""
    blob = saved[SOURCES[loader]]
    if loader == "resume":
        cuts = sorted(set(range(0, len(blob), 7)) | set(range(len(blob) - 600, len(blob))))
    else:
        cuts = range(len(blob))
    path = tmp_path / "cut.npz"
    for cut in cuts:
        path.write_bytes(blob[:cut])
        assert_refused(loader, path)
    assert len(cuts) > 2000


@given(draw=st.data())
def test_a_corrupt_file_is_refused_or_loads_exactly(tmp_path_factory, saved, draw):
    """1 to 4 bytes changed anywhere (Hypothesis picks positions and values),
    loaded by each of the three loaders: ValueError naming the file, or exactly
    the saved content (zip ignores some header fields)."""
    folder = tmp_path_factory.mktemp("corrupt")
    for loader, source in SOURCES.items():
        blob = bytearray(saved[source])
        changes = draw.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(1, 255)),
                                     min_size=1, max_size=4), label=f"{loader}: (offset, xor)")
        for offset, xor in changes:
            blob[offset] ^= xor
        path = folder / f"corrupt-{source}.npz"
        path.write_bytes(bytes(blob))
        assert load_or_refuse(loader, path, saved) in ("refused", "loaded")


def test_corrupt_compressed_members_are_refused(tmp_path):
    """An .npz written by np.savez_compressed with its deflate data damaged (zlib
    errors, not only CRC ones) is a ValueError naming the file: every 2nd byte
    changed, one at a time."""
    model = small_model()
    arrays = {"__format__": np.array("minicnn.Sequential/1"),
              "__architecture__": np.array(json.dumps(model.architecture())), **model.state_dict()}
    good = tmp_path / "good.npz"
    np.savez_compressed(good, **arrays)
    assert_same_state(mc.Sequential.load(good).state_dict(), model.state_dict())    # a valid file
    blob, path, causes = good.read_bytes(), tmp_path / "bad.npz", set()
    for offset in range(0, len(blob), 2):
        damaged = bytearray(blob)
        damaged[offset] ^= 0x5A
        path.write_bytes(bytes(damaged))
        try:
            loaded = mc.Sequential.load(path)
        except ValueError as exc:
            assert str(path) in str(exc)
            causes.add(type(exc.__cause__))
        else:
            assert_same_state(loaded.state_dict(), model.state_dict())
    assert zlib.error in causes and zipfile.BadZipFile in causes


def png_bytes():
    """A valid 1x1 grey PNG."""
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


def other_format(kind, path, saved):
    """Write a file of another format at ``path``; returns whether it is a valid .npz of arrays."""
    if kind == "directory":
        path.mkdir()
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.arange(12.0).reshape(3, 4))
    elif kind == "plain npz":
        np.savez(path, W=np.ones((3, 4)))
        return True                                  # a valid .npz, just not a minicnn one
    elif kind == "zip of text":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("weights.txt", "0.W = [1, 2, 3]")
    else:
        path.write_bytes({
            "empty": b"",
            "png": png_bytes(),
            "text": b"0.W: 1 2 3\n0.b: 0\n",
            "json": json.dumps(small_model().architecture()).encode(),
            "gzip of a model file": gzip.compress(saved["model"]),
            "pickle": pickle.dumps({"0.W": np.zeros((2, 1, 2, 2))}),
            "model file": saved["model"],
            "checkpoint": saved["ckpt"],
        }[kind])
    return kind in ("model file", "checkpoint")


OTHER_FORMATS = ["empty", "directory", "npy", "png", "text", "json", "gzip of a model file", "pickle",
                 "zip of text", "plain npz", "model file", "checkpoint"]


@pytest.mark.parametrize("kind", OTHER_FORMATS)
def test_a_file_of_another_format_is_refused(tmp_path, saved, kind):
    """Renamed files (an .npy, a PNG, text, JSON, a gzip, a pickle, an empty file,
    a directory, a zip, a plain .npz, a model file given as a checkpoint and the
    reverse): ValueError naming the file from each loader it is not meant for."""
    path = tmp_path / "weights.npz"
    valid_npz = other_format(kind, path, saved)
    meant_for = {"model file": "Sequential.load", "checkpoint": "resume"}.get(kind)
    refused = 0
    for loader in LOADERS:
        if loader == meant_for or (loader == "io.load_npz" and valid_npz):
            continue
        assert_refused(loader, path)
        refused += 1
    assert refused >= 1


@pytest.mark.parametrize("loader", ["Sequential.load", "io.load_npz"])
def test_a_missing_file_is_file_not_found_naming_it(tmp_path, loader):
    path = tmp_path / "nowhere" / "model.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        LOADERS[loader](path)


def test_resume_from_a_missing_checkpoint_starts_from_scratch(tmp_path):
    path = tmp_path / "new.ckpt"
    history = fit_small(small_model(), path, epochs=1, resume=True)
    assert history.epochs == 1 and path.exists()


def test_load_state_dict_from_a_file_of_another_model_lists_keys_and_shapes(tmp_path):
    """A weights file of another architecture lists missing and unexpected keys;
    one of other sizes names the first mismatching key and both shapes."""
    model = small_model()
    other = tmp_path / "other.npz"
    io.save_npz(other, mc.Sequential([L.Flatten(), L.Dense(9, 3)]).state_dict())
    with pytest.raises(ValueError) as info:
        model.load_state_dict(io.load_npz(other), source=str(other))
    message = str(info.value)
    missing = sorted(set(model.state_dict()) - {"1.W", "1.b"})
    assert message == (f"{other} does not match the model: missing keys {missing}, "
                       "unexpected keys ['1.W', '1.b']")

    wider = tmp_path / "wider.npz"
    io.save_npz(wider, small_model(seed=1, width=3).state_dict())
    before = model.state_dict()
    with pytest.raises(ValueError) as info:
        model.load_state_dict(io.load_npz(wider), source=str(wider))
    assert str(info.value) == f"{wider}: 0.W has shape (3, 1, 2, 2), the model expects (2, 1, 2, 2)"
    assert_same_state(model.state_dict(), before)           # nothing half-loaded


def spliced(path, architecture_of, weights):
    """A Sequential file whose header describes one model and whose weights are ``weights``."""
    io.save_npz(path, {"__format__": np.array("minicnn.Sequential/1"),
                       "__architecture__": np.array(json.dumps(architecture_of.architecture())),
                       **weights})
    return path


def test_sequential_load_of_weights_that_do_not_fit_the_header(tmp_path):
    """Header of one model, weights of another: the file, the first key and the shapes;
    or the missing and unexpected keys; or the non-numeric key."""
    model, wider = small_model(), small_model(width=3)
    message = assert_refused("Sequential.load", spliced(tmp_path / "a.npz", model, wider.state_dict()))
    assert "0.W has shape (3, 1, 2, 2), the model expects (2, 1, 2, 2)" in message

    weights = dict(model.state_dict())
    weights["9.W"] = weights.pop("4.W")
    message = assert_refused("Sequential.load", spliced(tmp_path / "b.npz", model, weights))
    assert "missing keys ['4.W']" in message and "unexpected keys ['9.W']" in message

    weights = dict(model.state_dict(), **{"4.b": np.array(["a", "b", "c"])})
    message = assert_refused("Sequential.load", spliced(tmp_path / "c.npz", model, weights))
    assert "4.b has non-numeric dtype <U1" in message


@pytest.mark.parametrize("header", ["[1, 2", "{}", "[{\"class\": \"Nope\", \"config\": {}}]",
                                    "[{\"class\": \"Dense\", \"config\": {\"in_features\": -1}}]",
                                    "[[\"Dense\"]]", "3"])
def test_sequential_load_of_a_broken_header(tmp_path, header):
    path = tmp_path / "m.npz"
    io.save_npz(path, {"__format__": np.array("minicnn.Sequential/1"), "__architecture__": np.array(header)})
    assert_refused("Sequential.load", path)


@pytest.mark.parametrize("other, first", [
    ([L.Conv2D(1, 3, 2), L.BatchNorm(3), L.ReLU(), L.Flatten(), L.Dense(12, 3)],
     "first mismatching key '0.W': shape (2, 1, 2, 2) in the checkpoint, shape (3, 1, 2, 2) in the model"),
    ([L.Flatten(), L.Dense(9, 3)],
     "first mismatching key '0.W': shape (2, 1, 2, 2) in the checkpoint, absent in the model"),
    ([L.Conv2D(1, 2, 2), L.BatchNorm(2), L.Tanh(), L.Flatten(), L.Dense(8, 3)],
     "layer 2 is ReLU() in the checkpoint, Tanh() in the model (every weight has the same shape)"),
])
def test_resume_into_another_model_names_the_first_difference(tmp_path, saved, other, first):
    path = tmp_path / "run.ckpt"
    path.write_bytes(saved["ckpt"])
    model = mc.Sequential(other)
    with pytest.raises(ValueError) as info:
        model.fit(X, Y, mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.1), epochs=2,
                  batch_size=3, progress=False, checkpoint=path, resume=True)
    message = str(info.value)
    assert message.startswith(f"{path} holds a checkpoint of another architecture") and first in message
    assert path.read_bytes() == saved["ckpt"]                # the checkpoint is left alone


def test_resume_with_another_optimiser_or_a_broken_meta_is_refused(tmp_path, saved):
    path = tmp_path / "run.ckpt"
    path.write_bytes(saved["ckpt"])
    model = small_model()
    with pytest.raises(ValueError, match=re.escape(f"{path} holds Adam state, but the optimiser is SGD")):
        resume(model, path, epochs=2, optimizer=mc.optim.SGD(model.parameters(), lr=0.1))

    arrays = io.load_npz(path)
    for meta in ["3", "[1]", json.dumps({"format": "minicnn.checkpoint/1", "epoch": 0}), "{"]:
        io.save_npz(path, dict(arrays, __meta__=np.array(meta)))
        assert_refused("resume", path, "is not a minicnn checkpoint")


# ---------------------------------------------------------------------------
# 3. No unpickling, ever
# ---------------------------------------------------------------------------
class Payload:
    """Unpickling this creates ``marker``: proof that pickled code ran."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture
def marker(tmp_path):
    marker = tmp_path / "PWNED"
    pickle.loads(pickle.dumps(Payload(marker)))           # the payload is real ...
    assert marker.exists()
    marker.unlink()                                        # ... and armed again
    yield marker
    assert not marker.exists(), "a load unpickled the payload"


def object_array(marker):
    array = np.empty(1, dtype=object)
    array[0] = Payload(marker)
    return array


def payload_file(kind, path, marker, saved):
    """Write a file hiding the payload; returns the loaders that must refuse it."""
    model_arrays, ckpt_arrays = io_arrays(saved["model"], path), io_arrays(saved["ckpt"], path)
    obj = object_array(marker)
    everyone = list(LOADERS)
    if kind == "extra member":
        np.savez(path, **model_arrays, payload=obj, allow_pickle=True)
    elif kind == "weight":
        np.savez(path, **dict(model_arrays, **{"0.W": obj}), allow_pickle=True)
    elif kind == "__architecture__":
        np.savez(path, **dict(model_arrays, __architecture__=obj), allow_pickle=True)
    elif kind == "__meta__":
        np.savez(path, **dict(ckpt_arrays, __meta__=obj), allow_pickle=True)
    elif kind == "checkpoint weight":
        np.savez(path, **dict(ckpt_arrays, **{"model/0.W": obj}), allow_pickle=True)
    elif kind == "structured dtype field":
        record = np.zeros(1, dtype=[("w", np.float32), ("code", object)])
        record["code"][0] = Payload(marker)
        np.savez(path, **dict(model_arrays, **{"4.b": record}), allow_pickle=True)
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, obj, allow_pickle=True)
    elif kind == "pickle file":
        path.write_bytes(pickle.dumps({"0.W": Payload(marker)}))
    elif kind == "pickle bytes in __architecture__":
        np.savez(path, **dict(model_arrays, __architecture__=np.array(pickle.dumps(Payload(marker)))))
        everyone.remove("io.load_npz")                     # plain bytes: a valid .npz, nothing runs
    elif kind == "pickle bytes in __meta__":
        np.savez(path, **dict(ckpt_arrays, __meta__=np.array(pickle.dumps(Payload(marker)))))
        everyone.remove("io.load_npz")
    return everyone


PAYLOADS = ["extra member", "weight", "__architecture__", "__meta__", "checkpoint weight",
            "structured dtype field", "npy", "pickle file", "pickle bytes in __architecture__",
            "pickle bytes in __meta__"]


@pytest.mark.parametrize("kind", PAYLOADS)
def test_a_pickled_payload_is_refused_without_running(tmp_path, saved, marker, kind):
    path = tmp_path / "evil.npz"
    loaders = payload_file(kind, path, marker, saved)
    for loader in loaders:
        message = assert_refused(loader, path)
        assert not marker.exists(), f"{loader} unpickled the payload ({message})"
    if "io.load_npz" not in loaders:                       # pickle bytes as a plain bytes array
        assert any(a.dtype.kind == "S" for a in io.load_npz(path).values())
    assert len(loaders) >= 2


# ---------------------------------------------------------------------------
# 4. Downloads never stay unless their checksum matched
# ---------------------------------------------------------------------------
def slow_mirror_get(bodies, handler):
    """Serves the gzipped GOOD_BLOBS under /<mode>/<file>.gz.

    mode "slow" sends the announced body in 256-byte pieces 3 ms apart;
    "nolength" sends half the body, without a Content-Length, and closes.
    """
    mode, _, name = handler.path.strip("/").partition("/")
    body = bodies.get(name)
    if body is None:
        handler.send_error(404)
        return
    handler.send_response(200)
    if mode != "nolength":
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    try:
        if mode == "nolength":
            handler.wfile.write(body[:len(body) // 2])
        else:
            for i in range(0, len(body), 256):
                handler.wfile.write(body[i:i + 256])
                handler.wfile.flush()
                time.sleep(0.003)
    except OSError:                                         # the client was killed
        pass
    handler.close_connection = True


@pytest.fixture
def mirror(local_http_server):
    """A local mirror (see :func:`slow_mirror_get`); ``mirror.url`` is its base URL."""
    bodies = {f"{data.FILES[key]}.gz": gzip.compress(blob) for key, blob in GOOD_BLOBS.items()}
    return types.SimpleNamespace(url=local_http_server(lambda handler: slow_mirror_get(bodies, handler)))


def test_a_body_cut_short_without_content_length_is_not_kept(places, mirror, monkeypatch):  # noqa: F811 (a fixture)
    """No Content-Length, so only the checksum can tell: ValueError, nothing in the cache."""
    monkeypatch.setitem(data.MIRRORS, "mnist", [f"{mirror.url}/nolength/"])
    with pytest.raises(ValueError, match="no mirror served a valid copy") as info:
        data.load_mnist()
    assert "train-images-idx3-ubyte" in str(info.value)
    assert cache_listing(places) == []                     # no file, no temporary either


DOWNLOAD = """
import json, sys
from minicnn import data
data.MIRRORS["mnist"] = [sys.argv[1]]
data.SHA256["mnist"] = json.loads(sys.argv[2])
data.SYSTEM_DIRS = []
print("started", flush=True)
data.load_mnist()
print("done", flush=True)
"""


def test_a_download_killed_at_random_moments_leaves_only_verified_files(places, mirror, monkeypatch):  # noqa: F811 (a fixture)
    """Ten downloads (30 in "thorough") killed at random moments, each into a cache
    emptied of complete files: every file under a final name has the right
    checksum, at most one temporary per file; then a full load cleans up."""
    sums = checksums(GOOD_BLOBS)
    cache = places["cache/mnist"]
    env = dict(os.environ, XDG_CACHE_HOME=str(places["xdg"]), MINICNN_DATA="")
    rng, seen = random.Random(2), set()
    for _ in range(kill_count(10)):
        for name in os.listdir(cache) if cache.exists() else []:
            if not name.startswith("."):
                os.remove(cache / name)                     # download everything again
        run_until_killed([DOWNLOAD, f"{mirror.url}/slow/", json.dumps(sums)], rng.uniform(0, 0.15), env)
        finals = [n for n in os.listdir(cache) if not n.startswith(".")] if cache.exists() else []
        for name in finals:
            key = next(k for k, base in data.FILES.items() if name == base + ".gz")
            digest = hashlib.sha256(gzip.decompress((cache / name).read_bytes())).hexdigest()
            assert digest == sums[key], f"{name} is in the cache with a wrong checksum"
        if cache.exists():
            assert all(n <= 1 for n in temporaries(cache).values())
        seen.add(len(finals))
    assert len(seen) >= 2                                   # killed at different stages
    monkeypatch.setitem(data.MIRRORS, "mnist", [f"{mirror.url}/slow/"])
    assert_is_good(data.load_mnist())
    assert cache_listing(places) == sorted(f + ".gz" for f in data.FILES.values())
