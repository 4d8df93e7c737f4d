"""minicnn.data: the IDX parser, dataset search and download, and DataLoader.

Nothing here touches the internet: downloads go to an http.server on
127.0.0.1 started by the test, and an autouse fixture points the mirror
lists at a closed local port so that a test that forgets cannot leave the
machine either.
"""
import gzip
import hashlib
import os
import socket

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import data

# Captured before any fixture can change it: the real-data tests use it.
REAL_DATA = os.environ.get("MINICNN_DATA", "")

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array, code=None):
    """Encode ``array`` as IDX bytes (big-endian), independently of minicnn."""
    array = np.asarray(array)
    if code is None:
        code = IDX_CODES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, payload, compress=False):
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Never reach a real mirror, and keep network waits short."""
    url = closed_port_url()
    monkeypatch.setattr(data, "MIRRORS", {"mnist": [url], "fashion-mnist": [url]})
    monkeypatch.setattr(data, "TIMEOUT", 5)


# ---------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", list(IDX_CODES), ids=lambda t: t.__name__)
def test_read_idx_each_dtype(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        expected = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    else:
        expected = (rng.standard_normal((3, 4, 5)) * 1e3).astype(dtype)
    path = write(tmp_path / "a.idx", idx_bytes(expected), compress)
    got = data.read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, expected)
    got[0, 0, 0] = 1                      # a writable array of its own


@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=4),
       dtype=st.sampled_from(list(IDX_CODES)), compress=st.booleans())
def test_read_idx_any_shape_round_trips(tmp_path_factory, shape, dtype, compress):
    expected = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    path = write(tmp_path_factory.mktemp("idx") / "x", idx_bytes(expected), compress)
    got = data.read_idx(str(path))
    assert got.shape == tuple(shape) and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, expected)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    expected = np.arange(12, dtype=np.uint8).reshape(3, 4)
    raw_named_gz = write(tmp_path / "raw.gz", idx_bytes(expected))
    gz_named_raw = write(tmp_path / "data-ubyte", idx_bytes(expected), compress=True)
    np.testing.assert_array_equal(data.read_idx(raw_named_gz), expected)
    np.testing.assert_array_equal(data.read_idx(gz_named_raw), expected)


GOOD = idx_bytes(np.arange(24, dtype=np.int16).reshape(2, 3, 4))


@pytest.mark.parametrize("payload, message", [
    (b"", "truncated"),
    (b"\x00\x00\x08", "truncated"),
    (GOOD[:9], "truncated IDX header"),                      # 3 dims need 16 header bytes
    (GOOD[:-1], "truncated IDX data"),
    (GOOD[:16], "truncated IDX data"),
    (GOOD + b"\x00", "1 trailing bytes"),
    (GOOD + b"\x00" * 7, "7 trailing bytes"),
    (b"\x01" + GOOD[1:], "magic"),
    (b"PK\x03\x04" + GOOD[4:], "magic"),
    (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown IDX type code 0x0A"),
    # the dims say (2, 3, 5): 30 int16 values, the file holds 24
    (GOOD[:12] + np.array([5], ">u4").tobytes() + GOOD[16:], "truncated IDX data"),
    # the dims say (2, 3, 2): 12 values, the file holds 24
    (GOOD[:12] + np.array([2], ">u4").tobytes() + GOOD[16:], "trailing bytes"),
], ids=["empty", "3-bytes", "short-dims", "short-data", "no-data", "1-extra", "7-extra",
        "magic-byte", "zip-magic", "type-code", "dims-too-big", "dims-too-small"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_read_idx_rejects_malformed_files(tmp_path, payload, message, compress):
    path = write(tmp_path / "bad-file-ubyte", payload, compress)
    with pytest.raises(ValueError, match=message) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_corrupt_gzip(tmp_path):
    packed = gzip.compress(GOOD)
    for name, payload in [("cut.gz", packed[:len(packed) // 2]),
                          ("crc.gz", packed[:-8] + bytes([packed[-8] ^ 0xFF]) + packed[-7:])]:
        path = write(tmp_path / name, payload)
        with pytest.raises(ValueError, match="gzip") as info:
            data.read_idx(path)
        assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "nope")


# ---------------------------------------------------------------------------
# Small synthetic datasets
# ---------------------------------------------------------------------------
def make_dataset(n_train=5, n_test=3, seed=0):
    """``{key: decompressed IDX bytes}`` of a tiny MNIST-shaped dataset, plus the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return {k: idx_bytes(a) for k, a in arrays.items()}, arrays


def checksums(blobs):
    return {k: hashlib.sha256(b).hexdigest() for k, b in blobs.items()}


def put(folder, blobs, compress=True, skip=()):
    """Write the files of ``blobs`` into ``folder`` under the standard names."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, payload in blobs.items():
        if key not in skip:
            name = data.FILES[key] + (".gz" if compress else "")
            write(folder / name, payload, compress)
    return folder


GOOD_BLOBS, GOOD_ARRAYS = make_dataset(seed=0)
OTHER_BLOBS, _ = make_dataset(seed=1)          # same shapes, different bytes


def assert_is_good(result):
    (x_train, y_train), (x_test, y_test) = result
    assert x_train.dtype == np.uint8 and x_train.shape == (5, 28, 28)
    assert y_train.dtype == np.int64 and y_train.shape == (5,)
    assert x_test.shape == (3, 28, 28) and y_test.shape == (3,) and y_test.dtype == np.int64
    np.testing.assert_array_equal(x_train, GOOD_ARRAYS["train-images"])
    np.testing.assert_array_equal(y_train, GOOD_ARRAYS["train-labels"])
    np.testing.assert_array_equal(x_test, GOOD_ARRAYS["t10k-images"])
    np.testing.assert_array_equal(y_test, GOOD_ARRAYS["t10k-labels"])


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Every search location moved under tmp_path, and the checksums of GOOD_BLOBS."""
    p = {"root": tmp_path / "root", "env": tmp_path / "env", "xdg": tmp_path / "xdg",
         "system": tmp_path / "system"}
    monkeypatch.setenv("MINICNN_DATA", str(p["env"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(p["xdg"]))
    monkeypatch.setattr(data, "SYSTEM_DIRS", [str(p["system"])])
    monkeypatch.setitem(data.SHA256, "mnist", checksums(GOOD_BLOBS))
    monkeypatch.setitem(data.SHA256, "fashion-mnist", checksums(GOOD_BLOBS))
    p["env/mnist"] = p["env"] / "mnist"
    p["cache/mnist"] = p["xdg"] / "minicnn" / "mnist"
    p["system/mnist"] = p["system"] / "mnist"
    return p


# ---------------------------------------------------------------------------
# Search order and checksums
# ---------------------------------------------------------------------------
ORDER = ["root", "env/mnist", "cache/mnist", "system/mnist"]


@pytest.mark.parametrize("winner", range(len(ORDER)), ids=ORDER)
def test_search_order(places, winner):
    """The first complete folder is used: good data there passes even though every
    later folder holds data with the wrong checksum, and bad data there fails
    even though every later folder holds good data."""
    for i, place in enumerate(ORDER[winner:]):
        put(places[place], GOOD_BLOBS if i == 0 else OTHER_BLOBS)
    root = places["root"] if winner == 0 else None
    assert_is_good(data.load_mnist(root=root, download=False))

    for i, place in enumerate(ORDER[winner:]):
        put(places[place], OTHER_BLOBS if i == 0 else GOOD_BLOBS)
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        data.load_mnist(root=root, download=False)
    assert str(places[ORDER[winner]]) in str(info.value)


def test_root_may_be_the_parent_of_the_dataset_folder(places, tmp_path):
    put(tmp_path / "parent" / "mnist", GOOD_BLOBS)
    put(places["env/mnist"], OTHER_BLOBS)
    assert_is_good(data.load_mnist(root=tmp_path / "parent", download=False))


def test_incomplete_folder_is_skipped(places):
    put(places["root"], OTHER_BLOBS, skip={"t10k-labels"})     # 3 of 4: does not count
    put(places["env/mnist"], GOOD_BLOBS)
    assert_is_good(data.load_mnist(root=str(places["root"]), download=False))


def test_uncompressed_files_work(places):
    put(places["env/mnist"], GOOD_BLOBS, compress=False)
    assert_is_good(data.load_mnist(download=False))


def test_any_gzip_of_the_right_bytes_passes(places):
    """The checksum is of the decompressed data: another compression level passes."""
    folder = places["env/mnist"]
    folder.mkdir(parents=True)
    for key, payload in GOOD_BLOBS.items():
        (folder / (data.FILES[key] + ".gz")).write_bytes(gzip.compress(payload, compresslevel=1, mtime=123))
    assert_is_good(data.load_mnist(download=False))


def test_cache_defaults_to_home_dot_cache(places, monkeypatch, tmp_path):
    monkeypatch.delenv("MINICNN_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    put(tmp_path / "home" / ".cache" / "minicnn" / "mnist", GOOD_BLOBS)
    assert_is_good(data.load_mnist(download=False))


@pytest.mark.parametrize("key", list(data.FILES))
def test_checksum_mismatch_names_the_file_and_keeps_it(places, key):
    blobs = dict(GOOD_BLOBS, **{key: OTHER_BLOBS[key]})
    folder = put(places["env/mnist"], blobs)
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        data.load_mnist(download=False)
    assert data.FILES[key] in str(info.value)
    assert (folder / (data.FILES[key] + ".gz")).exists()          # the user's file stays


def test_fashion_mnist_uses_its_own_folder_and_table(places, monkeypatch):
    put(places["env"] / "fashion-mnist", GOOD_BLOBS)
    put(places["env/mnist"], OTHER_BLOBS)
    assert_is_good(data.load_fashion_mnist(download=False))
    monkeypatch.setitem(data.SHA256, "fashion-mnist", checksums(OTHER_BLOBS))
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.load_fashion_mnist(download=False)


def test_wrong_image_shape_is_rejected(places, monkeypatch):
    blobs = dict(GOOD_BLOBS, **{"train-images": idx_bytes(np.zeros((5, 28, 27), np.uint8))})
    monkeypatch.setitem(data.SHA256, "mnist", checksums(blobs))
    put(places["env/mnist"], blobs)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        data.load_mnist(download=False)


def test_not_found_lists_every_place_tried(places):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_mnist(root=places["root"], download=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for place in ORDER:
        assert str(places[place]) in message, place
    assert "MINICNN_DATA" in message and "root=" in message
    assert "download=True" in message
    for base in data.FILES.values():
        assert base in message


def test_not_found_says_when_minicnn_data_is_unset(places, monkeypatch):
    monkeypatch.delenv("MINICNN_DATA")
    with pytest.raises(data.DatasetNotFoundError, match=r"\$MINICNN_DATA is not set"):
        data.load_mnist(download=False)


def test_load_argument_checks():
    with pytest.raises(TypeError, match="root"):
        data.load_mnist(root=3, download=False)
    with pytest.raises(TypeError, match="download"):
        data.load_mnist(download="yes")


# ---------------------------------------------------------------------------
# Downloads from a local http.server
# ---------------------------------------------------------------------------
class MirrorServer:
    """Serves ``routes[path] = (mode, body)`` on 127.0.0.1; records every request.

    mode "ok" sends the body, "404" a Not Found, "cut" announces the full
    Content-Length, sends half the body and closes the connection.
    """

    def __init__(self, start):
        self.routes, self.requests = {}, []
        self.url = start(self.do_get)

    def do_get(self, handler):
        self.requests.append(handler.path)
        mode, body = self.routes.get(handler.path, ("404", b""))
        if mode == "404":
            handler.send_error(404)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body if mode == "ok" else body[:len(body) // 2])
        handler.wfile.flush()
        handler.close_connection = True

    def serve(self, mirror, blobs, mode="ok", compress=True):
        for key, payload in blobs.items():
            body = gzip.compress(payload) if compress else payload
            self.routes[f"/{mirror}/{data.FILES[key]}.gz"] = (mode, body)
        return f"{self.url}/{mirror}/"


@pytest.fixture
def server(local_http_server):
    return MirrorServer(local_http_server)


def cache_listing(places):
    folder = places["cache/mnist"]
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_download_into_the_cache(places, server, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", [server.serve("a", GOOD_BLOBS)])
    assert_is_good(data.load_mnist())
    assert cache_listing(places) == sorted(f + ".gz" for f in data.FILES.values())
    assert len(server.requests) == 4
    assert_is_good(data.load_mnist())               # second time: from the cache
    assert len(server.requests) == 4


def test_download_serves_fashion_mnist_from_its_mirrors(places, server, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "fashion-mnist", [server.serve("f", GOOD_BLOBS)])
    assert_is_good(data.load_fashion_mnist())
    assert (places["xdg"] / "minicnn" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    assert not places["cache/mnist"].exists()


def test_download_completes_an_interrupted_cache(places, server, monkeypatch):
    put(places["cache/mnist"], GOOD_BLOBS, skip={"train-images", "t10k-labels"})
    monkeypatch.setitem(data.MIRRORS, "mnist", [server.serve("a", GOOD_BLOBS)])
    assert_is_good(data.load_mnist())
    assert sorted(server.requests) == ["/a/t10k-labels-idx1-ubyte.gz",
                                       "/a/train-images-idx3-ubyte.gz"]


def test_mirror_fallback_after_404(places, server, monkeypatch):
    first = server.serve("a", {}, "404")
    second = server.serve("b", GOOD_BLOBS)
    monkeypatch.setitem(data.MIRRORS, "mnist", [first, second])
    assert_is_good(data.load_mnist())
    assert sum(r.startswith("/a/") for r in server.requests) == 4
    assert sum(r.startswith("/b/") for r in server.requests) == 4


def test_mirror_fallback_after_refused_connection(places, server, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", [closed_port_url(), server.serve("b", GOOD_BLOBS)])
    assert_is_good(data.load_mnist())


def test_download_cut_half_way_tries_next_mirror(places, server, monkeypatch):
    cut = server.serve("cut", GOOD_BLOBS, "cut")
    good = server.serve("good", GOOD_BLOBS)
    monkeypatch.setitem(data.MIRRORS, "mnist", [cut, good])
    assert_is_good(data.load_mnist())
    assert sum(r.startswith("/cut/") for r in server.requests) == 4


def test_download_cut_half_way_everywhere_leaves_nothing(places, server, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", [server.serve("cut", GOOD_BLOBS, "cut")])
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_mnist()
    message = str(info.value)
    assert "connection closed after" in message and f"{server.url}/cut/" in message
    assert str(places["cache/mnist"]) in message
    assert cache_listing(places) == []


def test_corrupt_download_is_an_error_and_leaves_nothing(places, server, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", [server.serve("bad", OTHER_BLOBS)])
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        data.load_mnist()
    assert "train-images-idx3-ubyte" in str(info.value)
    assert cache_listing(places) == []                # no file, no temporary either


def test_corrupt_first_mirror_falls_back_to_a_good_one(places, server, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", [server.serve("bad", OTHER_BLOBS),
                                                server.serve("good", GOOD_BLOBS)])
    assert_is_good(data.load_mnist())
    assert cache_listing(places) == sorted(f + ".gz" for f in data.FILES.values())


def test_uncompressed_download_is_saved_without_gz_suffix(places, server, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", [server.serve("raw", GOOD_BLOBS, compress=False)])
    assert_is_good(data.load_mnist())
    assert cache_listing(places) == sorted(data.FILES.values())


def test_nothing_downloadable_lists_places_and_urls(places, server, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", [server.serve("a", {}, "404")])
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_mnist(root=places["root"])
    message = str(info.value)
    for place in ORDER:
        assert str(places[place]) in message, place
    assert f"{server.url}/a/train-images-idx3-ubyte.gz" in message and "404" in message
    assert "MINICNN_DATA" in message and "root=" in message
    assert cache_listing(places) == []


# ---------------------------------------------------------------------------
# Real data (MINICNN_DATA, as CI sets it)
# ---------------------------------------------------------------------------
def has_real(name):
    folder = os.path.join(REAL_DATA, name)
    return bool(REAL_DATA) and all(
        os.path.isfile(os.path.join(folder, f + ".gz")) or os.path.isfile(os.path.join(folder, f))
        for f in data.FILES.values())


@pytest.mark.parametrize("name, loader", [("mnist", data.load_mnist),
                                          ("fashion-mnist", data.load_fashion_mnist)])
def test_real_dataset(monkeypatch, name, loader):
    if not has_real(name):
        pytest.skip(f"MINICNN_DATA does not hold {name}")
    monkeypatch.setenv("MINICNN_DATA", REAL_DATA)
    (x_train, y_train), (x_test, y_test) = loader(download=False)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.int64
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.int64
    for y in (y_train, y_test):
        assert y.min() == 0 and y.max() == 9
        assert np.all(np.bincount(y, minlength=10) > 0)
    assert x_train.max() == 255 and x_train.min() == 0


# ---------------------------------------------------------------------------
# DataLoader
# ---------------------------------------------------------------------------
def dataset(n):
    """x[i] = (10 i, 10 i + 1), y[i] = i: a batch shows which samples it holds."""
    x = np.stack([10 * np.arange(n), 10 * np.arange(n) + 1], axis=1)
    return x, np.arange(n)


@given(n=st.integers(1, 60), batch_size=st.integers(1, 70), shuffle=st.booleans(),
       seed=st.integers(0, 2**32))
def test_each_sample_once_per_epoch(n, batch_size, shuffle, seed):
    x, y = dataset(n)
    loader = data.DataLoader(x, y, batch_size, shuffle=shuffle, seed=seed)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader) == -(-n // batch_size)
        assert all(len(xb) == batch_size for xb, _ in batches[:-1])
        assert 1 <= len(batches[-1][0]) <= batch_size
        seen = np.concatenate([yb for _, yb in batches])
        np.testing.assert_array_equal(np.sort(seen), y)
        for xb, yb in batches:
            np.testing.assert_array_equal(xb[:, 0], 10 * yb)    # x and y stay paired
            np.testing.assert_array_equal(xb[:, 1], 10 * yb + 1)
        if not shuffle:
            np.testing.assert_array_equal(seen, y)


@given(n=st.integers(1, 60), batch_size=st.integers(1, 70), seed=st.integers(0, 100))
def test_drop_last(n, batch_size, seed):
    x, y = dataset(n)
    loader = data.DataLoader(x, y, batch_size, drop_last=True, seed=seed)
    batches = list(loader)
    assert len(batches) == len(loader) == n // batch_size
    assert all(len(xb) == batch_size and len(yb) == batch_size for xb, yb in batches)
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
    assert len(np.unique(seen)) == len(seen) == (n // batch_size) * batch_size
    assert np.isin(seen, y).all()


def test_reshuffles_every_epoch():
    x, y = dataset(100)
    loader = data.DataLoader(x, y, batch_size=100, seed=0)
    orders = [next(iter(loader))[1] for _ in range(3)]
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], y)


def epochs(loader, count=3):
    return [np.concatenate([yb for _, yb in loader]) for _ in range(count)]


def test_same_seed_same_batches():
    x, y = dataset(50)
    a = epochs(data.DataLoader(x, y, 7, seed=42))
    b = epochs(data.DataLoader(x, y, 7, seed=42))
    c = epochs(data.DataLoader(x, y, 7, seed=43))
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], c[0])


def test_manual_seed_makes_unseeded_loaders_repeat():
    x, y = dataset(50)
    mc.manual_seed(3)
    a = epochs(data.DataLoader(x, y, 7))
    b = epochs(data.DataLoader(x, y, 7))            # the global generator moved on
    mc.manual_seed(3)
    c = epochs(data.DataLoader(x, y, 7))
    for ea, ec in zip(a, c):
        np.testing.assert_array_equal(ea, ec)
    assert not np.array_equal(a[0], b[0])


def test_batches_of_images():
    x = np.random.default_rng(0).random((10, 1, 28, 28)).astype(np.float32)
    y = np.arange(10)
    xb, yb = next(iter(data.DataLoader(x, y, 4, seed=0)))
    assert xb.shape == (4, 1, 28, 28) and xb.dtype == np.float32 and yb.shape == (4,)
    np.testing.assert_array_equal(xb, x[yb])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=-3), ValueError, "batch_size"),
    (dict(batch_size=2.0), TypeError, "batch_size"),
    (dict(batch_size=True), TypeError, "batch_size"),
    (dict(batch_size="8"), TypeError, "batch_size"),
    (dict(batch_size=2, seed=-1), ValueError, "seed"),
    (dict(batch_size=2, seed=1.5), TypeError, "seed"),
    (dict(batch_size=2, shuffle="no"), TypeError, "shuffle"),
    (dict(batch_size=2, drop_last=None), TypeError, "drop_last"),
])
def test_dataloader_rejects_bad_arguments(kwargs, error, match):
    x, y = dataset(5)
    with pytest.raises(error, match=match):
        data.DataLoader(x, y, **kwargs)


def test_dataloader_rejects_bad_arrays():
    x, y = dataset(5)
    with pytest.raises(ValueError, match=r"len\(x\) = 5 and len\(y\) = 4"):
        data.DataLoader(x, y[:4], 2)
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        data.DataLoader(x.tolist(), y, 2)
    with pytest.raises(TypeError, match="y must be a numpy.ndarray"):
        data.DataLoader(x, None, 2)
    with pytest.raises(ValueError, match="x must have a first"):
        data.DataLoader(np.array(1.0), y, 2)
    with pytest.raises(ValueError, match="no samples"):
        data.DataLoader(x[:0], y[:0], 2)
