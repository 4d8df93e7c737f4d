"""Data: IDX files, the MNIST and Fashion-MNIST datasets, and mini-batches.

    from minicnn import data

    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    x_train = x_train[:, None].astype(np.float32) / 255        # (N, 1, 28, 28)
    for xb, yb in data.DataLoader(x_train, y_train, batch_size=64, seed=0):
        ...

Three parts, each readable on its own:

1. :func:`read_idx` parses the IDX format in which MNIST is distributed: a
   4-byte magic number, the dimensions, then the values, all big-endian.
2. :func:`load_mnist` / :func:`load_fashion_mnist` find the four standard
   files on disk (or download them once into the user cache), check every file
   against a known SHA-256 and return NumPy arrays.
3. :class:`DataLoader` cuts a dataset into shuffled mini-batches.
4. :class:`ImageFolder` reads a folder of class subfolders of image files
   (PNG, JPEG, ...) with Pillow, a batch at a time; :func:`load_image` one file
   (both in :mod:`minicnn.image_folder`, re-exported here).

Where the datasets are looked for, in order (a folder counts only if it holds
all four files, each either gzipped ``<file>.gz`` or uncompressed ``<file>``):

1. ``root``, the folder passed by the caller (or ``root/<name>``);
2. ``$MINICNN_DATA/<name>``;
3. the user cache, ``$XDG_CACHE_HOME/minicnn/<name>`` (``~/.cache/minicnn/<name>``);
4. ``/usr/share/datasets/<name>`` (the folders of :data:`SYSTEM_DIRS`);

with ``<name>`` = ``mnist`` or ``fashion-mnist``. Found nowhere, the files are
downloaded into the user cache from the mirrors of :data:`MIRRORS`.
"""
import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
import zlib
from http.client import HTTPException

import numpy as np
from tqdm import tqdm

from . import _rng
from ._checks import check_array, check_int, check_path
from .devices import array_module
from .image_folder import IMAGE_EXTENSIONS, NORMALIZATIONS, ImageFolder, load_image  # re-exported
from .io import atomic_write

__all__ = ["read_idx", "load_mnist", "load_fashion_mnist", "DataLoader", "ImageFolder", "load_image",
           "FASHION_MNIST_CLASSES", "IMAGE_EXTENSIONS", "NORMALIZATIONS", "DatasetNotFoundError", "MIRRORS",
           "SHA256", "SYSTEM_DIRS"]


# ---------------------------------------------------------------------------
# 1. The IDX format
# ---------------------------------------------------------------------------
# Type code (third byte of the magic number) -> dtype of the stored values.
# Multi-byte values are big-endian ('>'), as the format prescribes.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    """The content of the file at ``path``, decompressed if it is gzipped.

    gzip is recognised by its magic bytes ``1f 8b``, not by the file name.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def _parse_idx(buf, path):
    """Turn the bytes of an IDX file into an array; ``path`` only names it in errors.

    Layout::

        byte 0-1   0x00 0x00          magic, part 1
        byte 2     type code          0x08 uint8 ... 0x0E float64 (IDX_DTYPES)
        byte 3     ndim
        then       ndim x uint32      the dimensions, big-endian
        then       prod(dims) values  big-endian, C order
    """
    if len(buf) < 4:
        raise ValueError(f"{path}: truncated IDX file: {len(buf)} bytes, "
                         f"the header alone needs at least 4")
    if buf[0] != 0 or buf[1] != 0:
        raise ValueError(f"{path}: not an IDX file: bad magic number 0x{buf[:4].hex()} "
                         f"(it must start with two zero bytes)")
    code, ndim = buf[2], buf[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    dtype = IDX_DTYPES[code]
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions need "
                         f"{header} bytes, the file has {len(buf)}")
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=object)) if shape else 1   # Python ints: no overflow
    expected = header + count * dtype.itemsize
    if len(buf) < expected:
        raise ValueError(f"{path}: truncated IDX data: the header says shape {shape} of "
                         f"{dtype.name} ({expected} bytes in all), the file has {len(buf)} bytes")
    if len(buf) > expected:
        raise ValueError(f"{path}: {len(buf) - expected} trailing bytes after the IDX data "
                         f"(the header says shape {shape} of {dtype.name}, {expected} bytes in all)")
    values = np.frombuffer(buf, dtype=dtype, count=count, offset=header)
    # astype copies: the result is writable and in the machine's byte order.
    return values.astype(dtype.newbyteorder("=")).reshape(shape)


def read_idx(path):
    """Read an IDX file (gzipped or not) into a NumPy array.

    Returns an array of the shape stored in the header, e.g. ``(60000, 28, 28)``
    uint8 for MNIST's training images and ``(60000,)`` uint8 for its labels, in
    the machine's native byte order.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming
    the file for anything malformed: a corrupt gzip stream, a wrong magic
    number, an unknown type code, or a size that disagrees with the header
    (truncated data or trailing bytes).
    """
    path = check_path(path, text_only=False)
    return _parse_idx(_read_bytes(path), path)


# ---------------------------------------------------------------------------
# 2. MNIST and Fashion-MNIST
# ---------------------------------------------------------------------------
class DatasetNotFoundError(FileNotFoundError):
    """A dataset is in none of the places searched and could not be downloaded.

    The message lists every place tried and how to fix it.
    """


# The four files of each dataset (without the .gz suffix).
FILES = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "t10k-images": "t10k-images-idx3-ubyte",
    "t10k-labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of each file's *decompressed* bytes, so any gzip of the same data passes.
SHA256 = {
    "mnist": {
        "train-images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

#: The ten classes of Fashion-MNIST, by label.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# Public mirrors, tried in order; each URL is a folder holding the four .gz files.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
}

# Shared system-wide folders searched last (each holds <name>/ subfolders).
SYSTEM_DIRS = ["/usr/share/datasets"]

# Seconds a network call may wait (to connect, or for the next block of data).
TIMEOUT = 30

_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_CHUNK = 1 << 16


def _cache_dir(name):
    """``$XDG_CACHE_HOME/minicnn/<name>``, or ``~/.cache/minicnn/<name>``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):          # unset, empty or relative: the XDG default
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minicnn", name)


def _candidates(name, root):
    """Folders to search, in order, as ``(folder or None, description)`` pairs."""
    places = []
    if root is not None:
        root = os.fspath(root)
        places += [(root, "root="), (os.path.join(root, name), f"root=, its {name}/ subfolder")]
    env = os.environ.get("MINICNN_DATA", "")
    if env:
        places.append((os.path.join(env, name), "$MINICNN_DATA"))
    else:
        places.append((None, "$MINICNN_DATA is not set"))
    places.append((_cache_dir(name), "user cache"))
    places += [(os.path.join(d, name), "system") for d in SYSTEM_DIRS]
    return places


def _files_in(folder):
    """``{key: path}`` for the files of ``FILES`` present in ``folder`` (.gz preferred)."""
    found = {}
    for key, base in FILES.items():
        for fname in (base + ".gz", base):
            path = os.path.join(folder, fname)
            if os.path.isfile(path):
                found[key] = path
                break
    return found


def _load_verified(path, sha256):
    """Read an IDX file, check the SHA-256 of its decompressed bytes, parse it."""
    buf = _read_bytes(path)
    digest = hashlib.sha256(buf).hexdigest()
    if digest != sha256:
        raise ValueError(f"{path}: checksum mismatch (SHA-256 of the decompressed data is "
                         f"{digest}, expected {sha256}); the file is corrupt or not the "
                         f"right dataset: delete it and load again")
    return _parse_idx(buf, path)


def _load_split(name, files, split):
    """Load and check one split: images (N, 28, 28) uint8, labels (N,) int64."""
    images = _load_verified(files[f"{split}-images"], SHA256[name][f"{split}-images"])
    labels = _load_verified(files[f"{split}-labels"], SHA256[name][f"{split}-labels"])
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{files[f'{split}-images']}: expected uint8 images of shape "
                         f"(N, 28, 28), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{files[f'{split}-labels']}: expected {len(images)} uint8 labels, "
                         f"got {labels.dtype} {labels.shape}")
    return images, labels.astype(np.int64)


class _BadData(Exception):
    """A mirror answered, but with data that is not the expected file."""


def _fetch(url, desc):
    """GET ``url`` with a progress bar; return the body, complete, as bytes.

    Raises ``OSError`` (``urllib.error.URLError``, timeouts, connection resets,
    and ``ConnectionError`` for a body shorter than its announced
    Content-Length) or ``http.client.HTTPException``.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "minicnn"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        chunks, received = [], 0
        with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                  disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise ConnectionError(f"connection closed after {received} of {total} bytes")
    return b"".join(chunks)


def _download_file(name, key, folder):
    """Download one file into ``folder``, trying each mirror in turn.

    The body is checked (SHA-256 of its decompressed bytes) before anything is
    written; it is then written to a temporary file renamed into place, so the
    cache never holds a partial or wrong file. Returns the list of
    ``(url, error)`` failures if no mirror worked, else ``[]``.
    """
    fname = FILES[key] + ".gz"
    failures = []
    for base in MIRRORS[name]:
        url = base.rstrip("/") + "/" + fname
        try:
            body = _fetch(url, fname)
            try:
                buf = gzip.decompress(body) if body[:2] == _GZIP_MAGIC else body
            except (OSError, EOFError, zlib.error) as exc:
                raise _BadData(f"corrupt gzip data ({exc})") from exc
            digest = hashlib.sha256(buf).hexdigest()
            if digest != SHA256[name][key]:
                raise _BadData(f"checksum mismatch: SHA-256 of the decompressed data is "
                               f"{digest}, expected {SHA256[name][key]}")
        except urllib.error.HTTPError as exc:
            exc.close()
            failures.append((url, exc))
        except (OSError, HTTPException, _BadData) as exc:
            failures.append((url, exc))
        else:
            target = fname if body[:2] == _GZIP_MAGIC else FILES[key]
            with atomic_write(os.path.join(folder, target)) as f:
                f.write(body)
            return []
    return failures


def _not_found_message(name, places, fix, failures=()):
    title = _TITLES.get(name, name)
    wanted = ", ".join(f"{base}[.gz]" for base in FILES.values())
    lines = [f"{title} not found: no folder holds all four files ({wanted}). Places tried:"]
    for folder, what in places:
        lines.append(f"  - {folder}  ({what})" if folder else f"  - {what}")
    if failures:
        lines.append("Download failed:")
        lines += [f"  - {url}: {err}" for url, err in failures]
    lines.append(fix)
    return "\n".join(lines)


def _load(name, root, download):
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike) or None, got {type(root).__name__}")
    if not isinstance(download, (bool, np.bool_)):
        raise TypeError(f"download must be True or False, got {download!r}")
    download = bool(download)
    fn = f"load_{name.replace('-', '_')}"
    fix = (f"To fix: put the four files in a folder and pass {fn}(root='that/folder'), "
           f"or set MINICNN_DATA to a folder holding a '{name}/' subfolder with them"
           + (" (a download needs access to the mirrors in minicnn.data.MIRRORS)." if download
              else f", or call {fn}(download=True) to download them."))
    places = _candidates(name, root)
    for folder, _ in places:
        if folder is not None:
            files = _files_in(folder)
            if len(files) == len(FILES):
                return _load_split(name, files, "train"), _load_split(name, files, "t10k")
    if not download:
        raise DatasetNotFoundError(_not_found_message(name, places, fix))

    folder = _cache_dir(name)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise DatasetNotFoundError(_not_found_message(
            name, places, fix, [(folder, f"cannot create the download folder: {exc}")])) from exc
    have = _files_in(folder)
    for key in FILES:
        if key in have:          # left by an earlier, interrupted run (complete and renamed)
            continue
        failures = _download_file(name, key, folder)
        if any(isinstance(err, _BadData) for _, err in failures):
            listing = "\n".join(f"  - {url}: {err}" for url, err in failures)
            raise ValueError(f"{FILES[key]}.gz: no mirror served a valid copy; nothing was "
                             f"saved in {folder}:\n{listing}")
        if failures:
            raise DatasetNotFoundError(_not_found_message(name, places, fix, failures))
    files = _files_in(folder)
    return _load_split(name, files, "train"), _load_split(name, files, "t10k")


def load_mnist(root=None, download=True):
    """The MNIST handwritten digits: ``(x_train, y_train), (x_test, y_test)``.

    - ``x_train``: (60000, 28, 28) uint8, pixel values 0..255
    - ``y_train``: (60000,) int64, digits 0..9
    - ``x_test``, ``y_test``: the same for the 10000 test images

    ``root`` is a folder holding ``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` (or the same names without ``.gz``). Without
    it, or when the files are not there, they are looked for in
    ``$MINICNN_DATA/mnist``, the user cache and ``/usr/share/datasets/mnist``,
    then (``download=True``) downloaded once into the user cache.

    Every file is checked against its SHA-256 (``ValueError`` on a mismatch).
    Raises :class:`DatasetNotFoundError` (a ``FileNotFoundError``) listing the
    places tried when the data is nowhere and cannot be downloaded.
    """
    return _load("mnist", root, download)


def load_fashion_mnist(root=None, download=True):
    """Fashion-MNIST (Zalando's clothing images): ``(x_train, y_train), (x_test, y_test)``.

    Same shapes, dtypes, file names and search as :func:`load_mnist`, with the
    ``fashion-mnist`` subfolders. Labels 0..9 stand for T-shirt/top, Trouser,
    Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
    """
    return _load("fashion-mnist", root, download)


# ---------------------------------------------------------------------------
# 3. Mini-batches
# ---------------------------------------------------------------------------
class DataLoader:
    """Iterate over ``(x, y)`` in mini-batches: ``for xb, yb in loader: ...``.

    - ``x``: (N, ...) array of samples, e.g. (N, 1, 28, 28) images, or an :class:`ImageFolder`
    - ``y``: (N, ...) array of targets, e.g. (N,) labels
    - each batch: ``xb`` (B, ...) and ``yb`` (B, ...), with B = ``batch_size``
      except for a smaller last batch (dropped when ``drop_last=True``)

    ``x`` and ``y`` may be on a GPU (CuPy arrays, see :mod:`minicnn.devices`): the batches
    are then taken there, the order drawn on the host as on the CPU.

    Every epoch (every ``for`` loop over the loader) visits each sample exactly
    once; with ``shuffle=True`` in a new random order each epoch. The order
    comes from a generator seeded by ``seed``; with ``seed=None`` the seed is
    drawn from minicnn's global generator, so ``minicnn.manual_seed`` makes
    the batches repeat. ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, x, y, batch_size, shuffle=True, drop_last=False, seed=None):
        if not isinstance(x, ImageFolder):               # a folder: its batches are decoded as they are taken
            check_array(x, "x", floating=False)
        check_array(y, "y", floating=False)
        for name, a in (("x", x), ("y", y)):
            if a.ndim == 0:
                raise ValueError(f"{name} must have a first (sample) axis, got a 0-d array")
        if len(x) != len(y):
            raise ValueError(f"x and y must hold the same number of samples, "
                             f"got len(x) = {len(x)} and len(y) = {len(y)}")
        if len(x) == 0:
            raise ValueError("x and y hold no samples")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        self.x, self.y = x, y
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        if seed is None:
            seed = int(_rng.get_rng().integers(2**63))
        self.seed = check_int(seed, "seed", minimum=0)
        self.rng = np.random.default_rng(self.seed)   # its state is saved in checkpoints

    def __len__(self):
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)     # ceil(n / b)

    def __iter__(self):
        n = len(self.x)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        xp = array_module(self.x)
        if xp is not np:              # data on a GPU: the order goes there once an epoch, not per batch
            order = xp.asarray(order)
        stop = len(self) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.x[idx], self.y[idx]

    def __repr__(self):
        return (f"DataLoader({len(self.x)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})")
