"""minicnn.data.ImageFolder and load_image: a folder of class subfolders of image files,
read with Pillow a batch at a time; bad folders refused naming the path."""
import io
import os

import numpy as np
import pytest
from image_folders import SHAPES, write_shapes_folder
from PIL import Image

import minicnn as mc
from minicnn import data

RNG = np.random.default_rng(0)


def save(path, array, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    image.save(path, **kwargs)


def noise(h, w, c=None, dtype=np.uint8, top=255):
    shape = (h, w) if c is None else (h, w, c)
    return RNG.integers(0, top + 1, shape).astype(dtype)


@pytest.fixture
def modes(tmp_path):
    """Two classes of 6 x 8 files in every mode; the pixels each should give as RGB in [0, 1]."""
    rgb, grey, rgba = noise(6, 8, 3), noise(6, 8), noise(6, 8, 4)
    grey16 = noise(6, 8, dtype=np.uint16, top=65535)
    save(tmp_path / "b" / "grey.png", grey)
    save(tmp_path / "b" / "rgb.png", rgb)
    save(tmp_path / "a" / "rgba.png", rgba)
    save(tmp_path / "a" / "deeper" / "grey16.png", grey16)
    palette = Image.fromarray(rgb).quantize(8)
    save(tmp_path / "b" / "palette.gif", palette, transparency=0)
    save(tmp_path / "b" / "photo.JPG", rgb, quality=95)
    expected = {"rgba.png": rgba[..., :3], "grey16.png": np.repeat((grey16 // 257)[..., None], 3, 2),
                "grey.png": np.repeat(grey[..., None], 3, 2), "rgb.png": rgb,
                "palette.gif": np.asarray(palette.convert("RGB"))}
    return tmp_path, expected


def test_classes_labels_and_every_mode_as_rgb(modes):
    root, expected = modes
    folder = data.ImageFolder(root)
    assert folder.classes == ["a", "b"] and folder.class_to_idx == {"a": 0, "b": 1}
    names = [os.path.basename(p) for p, _ in folder.samples]
    assert names == ["rgba.png", "grey16.png", "grey.png", "palette.gif", "photo.JPG", "rgb.png"]
    assert folder.labels.tolist() == [0, 0, 1, 1, 1, 1] and folder.targets is folder.labels
    assert len(folder) == 6 and folder.shape == (6, 3, 6, 8) and folder.dtype == np.float32
    x = folder[:]
    assert x.shape == (6, 3, 6, 8) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    for i, name in enumerate(names):
        if name in expected:                             # exact for the lossless files
            np.testing.assert_array_equal(x[i], expected[name].transpose(2, 0, 1) / np.float32(255), err_msg=name)
    with Image.open(root / "b" / "photo.JPG") as jpeg:                  # decoded as Pillow decodes it
        np.testing.assert_array_equal(x[4], np.asarray(jpeg).transpose(2, 0, 1) / np.float32(255))


def test_grey_and_rgba_channels(modes):
    root, expected = modes
    grey = data.ImageFolder(root, channels=1)[:]
    assert grey.shape == (6, 1, 6, 8)
    rgb = expected["rgb.png"].astype(np.float64)
    luma = np.asarray(Image.fromarray(expected["rgb.png"]).convert("L")) / 255   # Pillow's BT.601
    np.testing.assert_array_equal(grey[5, 0], luma.astype(np.float32))
    assert np.abs(luma - (rgb @ [0.299, 0.587, 0.114]) / 255).max() < 1 / 255 + 1e-9
    rgba = data.ImageFolder(root, channels=4)[0]
    assert rgba.shape == (4, 6, 8)


def test_size_stretches_and_crop_cuts_the_centre(tmp_path):
    image = noise(256, 320, 3)
    save(tmp_path / "c" / "x.png", image)
    stretched = data.ImageFolder(tmp_path, size=(32, 48))[0]
    want = np.asarray(Image.fromarray(image).resize((48, 32), Image.BILINEAR)) / np.float32(255)
    np.testing.assert_array_equal(stretched, want.transpose(2, 0, 1))
    # torchvision's Resize(256) + CenterCrop(224): the centre 224 x 224 of the 256-pixel side
    cropped = data.ImageFolder(tmp_path, size=(224, 224), crop=0.875)[0]
    np.testing.assert_array_equal(cropped, image[16:240, 48:272].transpose(2, 0, 1) / np.float32(255))
    square = data.load_image(tmp_path / "c" / "x.png", size=(256, 256), crop=1.0)      # Keras's crop_to_aspect_ratio
    np.testing.assert_array_equal(square, image[:, 32:288].transpose(2, 0, 1) / np.float32(255))


def test_normalisation_by_name_or_pair(modes):
    root, _ = modes
    plain = data.ImageFolder(root)[:]
    mean, std = data.NORMALIZATIONS["imagenet"]
    net = data.ImageFolder(root, normalize="imagenet")[:]
    np.testing.assert_allclose(net, (plain - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1)), atol=1e-6)
    assert net.dtype == np.float32
    half = data.ImageFolder(root, normalize=(0.5, 0.5))[:]
    np.testing.assert_allclose(half, 2 * plain - 1, atol=1e-6)
    assert "normalize='imagenet'" in repr(data.ImageFolder(root, normalize="imagenet"))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(normalize="cifar"), ValueError, "normalize must be None, 'imagenet', 'inception'"),
    (dict(normalize=(0.5,)), TypeError, "normalize must be"),
    (dict(normalize=((0.5, 0.5), 1)), ValueError, "mean must be a number or 3 numbers"),
    (dict(normalize=(0.5, 0)), ValueError, "std must be > 0"),
    (dict(normalize=(0.5, float("nan"))), ValueError, "std must be a number or 3"),
    (dict(size=0), ValueError, "size"),
    (dict(size=(3, 4, 5)), ValueError, "size"),
    (dict(channels=2), ValueError, "channels must be 1 .grey., 3 .RGB. or 4"),
    (dict(channels=3.0), TypeError, "channels"),
    (dict(crop=0.0, size=4), ValueError, "crop"),
    (dict(crop=1.5, size=4), ValueError, "crop"),
    (dict(crop=0.5), ValueError, "crop needs size"),
    (dict(verify="yes"), TypeError, "verify must be True or False"),
    (dict(root=3), TypeError, "root must be a folder's name"),
    (dict(root=""), ValueError, "root must be a file name"),
])
def test_bad_arguments_name_themselves(modes, kwargs, error, match):
    with pytest.raises(error, match=match):
        data.ImageFolder(**{"root": modes[0], **kwargs})


def test_indexing_like_an_array(modes):
    folder = data.ImageFolder(modes[0])
    every = folder[:]
    np.testing.assert_array_equal(folder[-1], every[5])
    np.testing.assert_array_equal(folder[np.int64(2)], every[2])
    np.testing.assert_array_equal(folder[[4, 0]], every[[4, 0]])
    np.testing.assert_array_equal(folder[np.array([True, False] * 3)], every[::2])
    np.testing.assert_array_equal(folder[1:5:2], every[1:5:2])
    assert folder[3:3].shape == (0, 3, 6, 8)
    with pytest.raises(IndexError, match="index 6 is out of range for an ImageFolder of 6"):
        folder[6]
    with pytest.raises(IndexError, match="index 9 is out of range for an ImageFolder of 6 images"):
        folder[[0, 9]]
    with pytest.raises(IndexError, match="a boolean index must have one value per image .6., got 2"):
        folder[np.array([True, False])]
    with pytest.raises(TypeError, match="index must be ints or a boolean mask"):
        folder[np.array([0.5])]
    with pytest.raises(IndexError, match="indices -7 is out of range"):
        folder.subset([-7])
    with pytest.raises(TypeError, match="indexed by an int, a slice or an array"):
        folder.subset(3)
    with pytest.raises(TypeError, match="indexed by an int, a slice or an array"):
        folder["a"]
    with pytest.raises(TypeError, match="read a batch at a time"):
        np.asarray(folder)
    with pytest.raises(ValueError):
        folder.labels[0] = 3                            # read-only: the labels are the folder's


def test_subset_split_and_a_data_loader(tmp_path):
    write_shapes_folder(tmp_path, n=60, size=12)
    folder = data.ImageFolder(tmp_path)
    assert folder.classes == list(SHAPES) and np.bincount(folder.labels).tolist() == [20, 20, 20]
    train, val = folder.split(0.25, seed=3)
    assert np.bincount(val.labels).tolist() == [5, 5, 5] and len(train) == 45
    assert not {p for p, _ in train.samples} & {p for p, _ in val.samples}
    again = folder.split(0.25, seed=3)[1]
    assert [p for p, _ in again.samples] == [p for p, _ in val.samples]
    part = folder.subset([2, 0])
    np.testing.assert_array_equal(part[:], folder[[2, 0]])
    assert part.labels.tolist() == folder.labels[[2, 0]].tolist() and part.classes == folder.classes
    seen = []
    for xb, yb in data.DataLoader(train, train.labels, batch_size=16, seed=0):
        assert xb.shape[1:] == (3, 12, 12) and xb.dtype == np.float32 and len(xb) == len(yb)
        seen.append(yb)
    assert sorted(np.concatenate(seen).tolist()) == sorted(train.labels.tolist())
    with pytest.raises(ValueError, match="validation must be"):
        folder.split(1.0)


# ---------------------------------------------------------------------------
# Skipped and refused
# ---------------------------------------------------------------------------
def test_hidden_and_non_image_files_are_skipped(tmp_path):
    save(tmp_path / "cat" / "a.png", noise(4, 4))
    save(tmp_path / "cat" / ".hidden.png", noise(4, 4))
    save(tmp_path / ".thumbnails" / "b.png", noise(4, 4))             # a hidden class folder
    save(tmp_path / "cat" / ".ipynb_checkpoints" / "c.png", noise(4, 4))
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "cat" / "notes.txt").write_text("my cats")
    (tmp_path / "loose.png").write_bytes(b"a file at the root")
    folder = data.ImageFolder(tmp_path)
    assert folder.classes == ["cat"] and [os.path.basename(p) for p, _ in folder.samples] == ["a.png"]
    assert folder.skipped == [(str(tmp_path / "cat" / "notes.txt"), "not an image file name")]


def jpeg_bytes(h=64, w=64):
    """A JPEG of noise: its compressed data, which damage hits, is most of the file."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def bad_folder(tmp_path, kind):
    """A folder with one defect; returns the path the error must name."""
    save(tmp_path / "good" / "a.png", noise(8, 8, 3))
    bad = tmp_path / "bad"
    if kind == "missing":
        return tmp_path / "nowhere"
    if kind == "file":
        return tmp_path / "good" / "a.png"
    if kind == "no classes":
        empty = tmp_path / "empty"
        empty.mkdir()
        (empty / ".git").mkdir()
        (empty / "readme.txt").write_text("x")
        return empty
    bad.mkdir()
    if kind == "empty class":
        return bad
    if kind == "class of text files":
        (bad / "notes.txt").write_text("x")
        return bad
    path = bad / "x.jpg"
    if kind == "not an image":
        path.write_text("this is not a JPEG")
    elif kind == "empty file":
        path.write_bytes(b"")
    elif kind == "damaged header":
        blob = bytearray(jpeg_bytes())
        blob[2:40] = bytes(38)
        path.write_bytes(bytes(blob))
    return path


@pytest.mark.parametrize("kind, error, match", [
    ("missing", FileNotFoundError, "no such folder"),
    ("file", ValueError, "is a file, not a folder of class subfolders"),
    ("no classes", ValueError, "no class subfolders"),
    ("empty class", ValueError, "the class 'bad' has no image file"),
    ("class of text files", ValueError, "the class 'bad' has no image file"),
    ("not an image", ValueError, "not an image Pillow can read"),
    ("empty file", ValueError, "not an image Pillow can read"),
    ("damaged header", ValueError, "not an image Pillow can read"),
])
def test_bad_folders_are_refused_naming_the_path(tmp_path, kind, error, match):
    path = bad_folder(tmp_path, kind)
    root = path if kind in ("missing", "file", "no classes") else tmp_path
    with pytest.raises(error, match=match) as info:
        data.ImageFolder(root)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_truncated_or_corrupt_jpeg_is_refused_when_read_or_verified(tmp_path, damage):
    blob = jpeg_bytes()
    if damage == "truncated":
        blob = blob[:len(blob) // 2]
    else:
        blob = bytearray(blob)
        blob[len(blob) // 2:len(blob) // 2 + 200] = b"\xff" * 200
        blob = bytes(blob)
    save(tmp_path / "a" / "fine.png", noise(64, 64, 3))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "photo.jpg").write_bytes(blob)
    folder = data.ImageFolder(tmp_path)                  # a sound header: found when decoded
    assert len(folder) == 2
    folder[0]
    with pytest.raises(ValueError, match=r"photo\.jpg: cannot read this image \(OSError"):
        folder[1]
    with pytest.raises(ValueError, match=r"photo\.jpg: cannot read this image"):
        data.ImageFolder(tmp_path, verify=True)          # ... or all at once, before training
    # skipping the unreadable leaves class 'b' with none: refused, naming the class
    with pytest.raises(ValueError, match=r"the class 'b' has no readable image \(1 image files"):
        data.ImageFolder(tmp_path, verify=True, skip_unreadable=True)
    (tmp_path / "b" / "other.png").write_bytes(b"")
    save(tmp_path / "b" / "good.png", noise(64, 64, 3))
    folder = data.ImageFolder(tmp_path, verify=True, skip_unreadable=True)
    assert [os.path.basename(p) for p, _ in folder.samples] == ["fine.png", "good.png"]
    assert sorted(os.path.basename(p) for p, _ in folder.skipped) == ["other.png", "photo.jpg"]


def test_images_of_different_sizes_need_size(tmp_path):
    save(tmp_path / "a" / "one.png", noise(8, 8))
    save(tmp_path / "b" / "two.png", noise(9, 8))
    with pytest.raises(ValueError, match=r"two\.png is 9 x 8 but .*one\.png is 8 x 8: give size"):
        data.ImageFolder(tmp_path)
    assert data.ImageFolder(tmp_path, size=8)[:].shape == (2, 3, 8, 8)


def test_load_image_reads_one_file_as_the_folder_does(modes):
    root, _ = modes
    folder = data.ImageFolder(root, size=(5, 5), normalize="imagenet")
    path = folder.samples[3][0]
    np.testing.assert_array_equal(data.load_image(path, size=(5, 5), normalize="imagenet"), folder[3])
    np.testing.assert_array_equal(folder.load(path), folder[3])
    with pytest.raises(FileNotFoundError, match="no such image file"):
        data.load_image(root / "nope.png")
    (root / "a" / "text.png").write_text("not a picture")
    with pytest.raises(ValueError, match=r"text\.png: cannot read this image"):
        data.load_image(root / "a" / "text.png")


# ---------------------------------------------------------------------------
# fit, evaluate and predict read a folder one batch at a time
# ---------------------------------------------------------------------------
def tiny_cnn(seed=0):
    from minicnn import layers as L
    mc.manual_seed(seed)
    return mc.Sequential([L.Conv2D(3, 4, 3, padding=1), L.ReLU(), L.MaxPool2D(2), L.Flatten(), L.Dense(4 * 6 * 6, 3)])


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    write_shapes_folder(root, n=60, size=12)
    return root


def test_fit_evaluate_predict_take_a_folder_as_they_take_its_arrays(shapes_root):
    folder = data.ImageFolder(shapes_root)
    train, val = folder.split(0.2, seed=0)
    runs = []
    for x, y, v in ((train, None, (val, None)), (train[:], train.labels, (val[:], val.labels))):
        model = tiny_cnn()
        opt = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        mc.manual_seed(1)
        history = model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=2, batch_size=8, validation_data=v,
                            progress=False)
        runs.append((model, history.history))
    (a, ha), (b, hb) = runs
    assert ha == {k: v for k, v in hb.items() if k != "seconds"} | {"seconds": ha["seconds"]}
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert a.evaluate(val, None, mc.losses.CrossEntropy()) == b.evaluate(val[:], val.labels, mc.losses.CrossEntropy())
    np.testing.assert_array_equal(a.predict(folder, batch_size=7), b.predict(folder[:], batch_size=7))
    with pytest.raises(ValueError, match="x and y must hold the same number of samples"):
        a.evaluate(folder, folder.labels[:5], mc.losses.CrossEntropy())


def test_on_a_gpu_the_folder_goes_there_a_batch_at_a_time(shapes_root, monkeypatch):
    """On the CuPy stand-in: no transfer larger than a batch, the numbers those of the CPU."""
    from strict_array import strict

    from minicnn import _rng, devices
    folder = data.ImageFolder(shapes_root)
    on_cpu = tiny_cnn()
    mc.manual_seed(1)
    on_cpu.fit(folder, None, mc.losses.CrossEntropy(), mc.optim.SGD(on_cpu.parameters(), lr=0.05), epochs=1,
               batch_size=16, progress=False)
    monkeypatch.setattr(devices, "_gpu", strict)
    monkeypatch.setattr(_rng, "_device_rngs", {})
    moved = []
    to_device = devices.to_device
    monkeypatch.setattr(mc.training, "to_device", lambda a, d: moved.append(len(a)) or to_device(a, d))
    model = tiny_cnn().to("cuda")
    mc.manual_seed(1)
    model.fit(folder, None, mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.05), epochs=1,
              batch_size=16, progress=False)
    out = model.predict(folder, batch_size=16)
    assert moved and max(moved) <= 16
    np.testing.assert_allclose(out, on_cpu.predict(folder), rtol=1e-4, atol=1e-5)


def test_a_folder_larger_than_the_memory_allowed_trains_and_predicts(tmp_path):
    """In a process whose address space is capped (RLIMIT_AS, what ``ulimit -v`` sets) 100 MB
    above what it uses, a folder that decodes to 236 MB trains for an epoch and is predicted;
    ``folder[:]``, the whole folder at once, is a MemoryError there."""
    import subprocess
    import sys
    write_shapes_folder(tmp_path / "big", n=300, size=16)      # small files, 256 x 256 x 3 once decoded
    script = f'''
import resource, sys
import numpy as np
import minicnn as mc
from minicnn import layers as L
folder = mc.data.ImageFolder({str(tmp_path / "big")!r}, size=(256, 256))
mc.manual_seed(0)
model = mc.Sequential([L.AvgPool2D(16), L.Conv2D(3, 4, 3, padding=1), L.ReLU(), L.MaxPool2D(4), L.Flatten(),
                       L.Dense(64, 3)])
model.predict(folder[:8], batch_size=4)                         # every code path loaded before the cap
with open("/proc/self/status") as f:
    used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
cap = used + 100 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
decoded = len(folder) * 3 * 256 * 256 * 4
assert decoded > 2 * (cap - used), decoded
try:
    folder[:]
except MemoryError:
    print("folder[:] is a MemoryError")
opt = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
history = model.fit(folder, None, mc.losses.CrossEntropy(), opt, epochs=1, batch_size=16, progress=False)
out = model.predict(folder, batch_size=16)
print("trained", len(folder), "images, accuracy", history.history["accuracy"][-1], "predicted", out.shape)
'''
    proc = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, MINICNN_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "folder[:] is a MemoryError" in proc.stdout
    assert "trained 300 images" in proc.stdout and "predicted (300, 3)" in proc.stdout


def test_split_leaves_every_class_an_image_on_each_side(modes):
    folder = data.ImageFolder(modes[0])                  # class a: 2 images, class b: 4
    train, val = folder.split(0.9, seed=0)
    assert train.labels.tolist() == [0, 1] and val.labels.tolist() == [0, 1, 1, 1]
    train, val = folder.split(0.01, seed=0)
    assert val.labels.tolist() == [0, 1]
    single = folder.subset([0, 2, 3])
    with pytest.raises(ValueError, match="the class 'a' has 1 image, too few to put one aside"):
        single.split(0.5)
