"""Files users keep: written atomically, read without pickle."""
import contextlib
import lzma
import math
import os
import re
import struct
import tempfile
import zipfile
import zlib

import numpy as np

try:
    import fcntl
except ImportError:          # Windows: no locks, so leftover temporaries are not cleaned up
    fcntl = None


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success, rename it onto ``path``.

    The rename is atomic, so ``path`` holds either the old complete file or the
    new complete file, never half of one, whatever happens mid-write. On an
    exception the temporary file is removed and ``path`` is untouched.

    A writer killed outright (SIGKILL, power cut) cannot remove its temporary
    file; the next ``atomic_write`` to the same ``path`` does: it removes every
    ``.<name>.*.tmp`` beside ``path`` that no live writer holds locked (each
    writer keeps an ``flock`` on its temporary file until the rename, and the
    system drops the lock when a process dies), so leftovers never pile up and
    concurrent writers never lose their files.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}."
    _remove_stale_temporaries(folder, prefix)
    fd, tmp = _locked_temporary(folder, prefix)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())      # mkstemp makes 0600; give the usual permissions
            if fcntl is not None:
                os.replace(tmp, path)             # while still locked, so no one takes it for stale
        if fcntl is None:
            os.replace(tmp, path)                 # Windows cannot rename an open file
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _locked_temporary(folder, prefix):
    """``mkstemp`` beside the target, locked (exclusive ``flock``) against stale-file cleanup."""
    while True:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:                    # no locks on this file system: no cleanup either
            return fd, tmp
        if os.fstat(fd).st_nlink:          # not removed as stale between mkstemp and flock
            return fd, tmp
        os.close(fd)


def _remove_stale_temporaries(folder, prefix):
    """Remove the temporary files of writers to the same target that died mid-write."""
    if fcntl is None:
        return
    pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]+\.tmp")
    try:
        names = [e.name for e in os.scandir(folder) if pattern.fullmatch(e.name)]
    except OSError:
        return
    for name in names:
        stale = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            fd = os.open(stale, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)     # fails while its writer lives
                if os.path.samestat(os.fstat(fd), os.stat(stale, follow_symlinks=False)):
                    os.remove(stale)
            finally:
                os.close(fd)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path, arrays):
    """Write ``{name: array}`` to an .npz file at exactly ``path``, atomically."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _check_declared_sizes(archive, file_size):
    """Refuse a member whose .npy header declares more data than the member holds,
    before numpy allocates it (a damaged or crafted shape could ask for terabytes)."""
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            continue
        # deflate expands at most ~1032 times: sizes beyond that are lies of the zip directory
        if info.compress_size > file_size or info.file_size > 1100 * max(info.compress_size, 1) or (
                info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size):
            raise ValueError(f"member {info.filename[:-4]!r} has impossible sizes in the zip directory")
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                continue                         # (3, 0) only for non-latin-1 field names; numpy checks
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(member)
            declared = dtype.itemsize * math.prod(shape)
            held = info.file_size - member.tell()
        if declared > held:
            raise ValueError(f"member {info.filename[:-4]!r} declares shape {shape} of {dtype} "
                             f"({declared} bytes) but holds {held} bytes")


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
        # Our own handle, closed whatever happens: np.load(path) leaks its own when
        # the file looks like a zip but is not a valid one.
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an .npz archive")
            with data:
                _check_declared_sizes(data.zip, os.fstat(f.fileno()).st_size)
                arrays = {key: data[key] for key in data.files}
        for key, value in arrays.items():
            if not isinstance(value, np.ndarray):     # NpzFile gives other members as bytes
                raise ValueError(f"member {key!r} is not a .npy array")
        return arrays
    # zipfile raises RuntimeError/NotImplementedError for flags a corrupt header may set
    # (encrypted, unknown method or version), zlib/lzma errors for corrupt compressed members
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError, RuntimeError,
            zlib.error, lzma.LZMAError, struct.error) as exc:
        raise ValueError(f"cannot load {path}: {exc}") from exc
