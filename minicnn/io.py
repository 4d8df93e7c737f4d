"""Files users keep: written atomically, read without pickle."""
import contextlib
import os
import tempfile
import zipfile

import numpy as np


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success, rename it onto ``path``.

    The rename is atomic, so ``path`` holds either the old complete file or the
    new complete file, never half of one, whatever happens mid-write. On an
    exception the temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())      # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path, arrays):
    """Write ``{name: array}`` to an .npz file at exactly ``path``, atomically."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_npz(path):
    """Read every array of an .npz file into a dict, never unpickling anything.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming
    the file for anything that is not a valid .npz of plain arrays (truncated,
    corrupt, another format, object arrays).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with data:
            return {key: data[key] for key in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ValueError(f"cannot load {path}: {exc}") from exc
